# evlab — GNU make. `make test` and `make bench` do all the set-up themselves.
#
# Variants (h2o's double build, generalised): SANITIZE=address,undefined or
# SANITIZE=thread builds the same sources into build/san-<list>/ so an
# instrumented and a plain build never share objects.

.DEFAULT_GOAL := all
SHELL := /bin/bash

PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
INCDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MODDIR ?= $(LIBDIR)/evl

CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif
OPT ?= -O2
WERROR ?= -Werror
SANITIZE ?=

comma := ,
ifeq ($(SANITIZE),)
O := build
SANFLAGS :=
else
O := build/san-$(subst $(comma),-,$(SANITIZE))
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif


CPPFLAGS += -D_GNU_SOURCE -Icore/include -Icore
CFLAGS ?= $(OPT) -g
CFLAGS += -std=c11 -Wall -Wextra $(WERROR) -fPIC -pthread $(SANFLAGS) \
          -DEVL_MODULE_DIR_DEFAULT='"$(MODDIR)"'
LDFLAGS += -pthread $(SANFLAGS)
LDLIBS += -ldl -lm

# Debian packages the project needs; `make deps` installs the missing ones.
DEB_PKGS := build-essential pkg-config libevent-dev libev-dev libuv1-dev \
            liburing-dev hyperfine gnuplot-nox valgrind clang-format \
            netcat-openbsd

# ---------------------------------------------------------------- sources
CORE_SRC := $(wildcard core/*.c)
BUILTIN_BACKENDS := epoll poll select kqueue
BACKEND_SRC := $(addprefix backends/,$(addsuffix .c,$(BUILTIN_BACKENDS)))
LIB_OBJ := $(patsubst %.c,$(O)/obj/%.o,$(CORE_SRC) $(BACKEND_SRC))

CONFORM_SRC := $(wildcard conformance/*.c)
CONFORM_OBJ := $(patsubst %.c,$(O)/obj/%.o,$(CONFORM_SRC))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_OBJ := $(patsubst %.c,$(O)/obj/%.o,$(BENCH_SRC))
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLES := $(patsubst examples/%.c,$(O)/examples/%,$(EXAMPLE_SRC))
SAMPLE_SRC := $(wildcard conformance/samples/*.c)
SAMPLES := $(patsubst conformance/samples/%.c,$(O)/samples/%.so,$(SAMPLE_SRC))

# ---------------------------------------------------------------- modules
# Library-wrapping backends and native loops are separate shared objects,
# each loaded with RTLD_LOCAL: Debian's libev exports libevent's symbol
# names, so a wrapper linked into one image with the other library could
# call the wrong one (DESIGN §9). One module per library makes that
# impossible by construction.
have = $(shell pkg-config --exists $(1) 2>/dev/null && echo y)
HAVE_URING := $(call have,liburing)
HAVE_EVENT := $(call have,libevent_core)
HAVE_UV := $(call have,libuv)
HAVE_EV := $(shell test -f /usr/include/ev.h && echo y)

MODULES :=
ifeq ($(HAVE_URING),y)
MODULES += iouring
LIBS_iouring := $(shell pkg-config --libs liburing)
endif
ifeq ($(HAVE_EVENT),y)
MODULES += libevent native-libevent
LIBS_libevent := $(shell pkg-config --libs libevent_core)
LIBS_native-libevent := $(LIBS_libevent)
endif
ifeq ($(HAVE_EV),y)
MODULES += libev native-libev
LIBS_libev := -lev
LIBS_native-libev := -lev
endif
ifeq ($(HAVE_UV),y)
MODULES += libuv native-libuv
LIBS_libuv := $(shell pkg-config --libs libuv)
LIBS_native-libuv := $(LIBS_libuv)
endif
# native-X is backends/native_X.c plus the shared adapter glue, and the
# core's own error texts, futures and executor: they need only a few loop
# calls, which native_common.c provides for a native loop. -Bsymbolic keeps
# each module's copies bound to themselves, whatever else the process has.
NATIVE_SHARED := backends/native_common.c backends/native_core.c \
                 backends/native_signal.c \
                 core/error.c core/future.c core/executor.c
src_of = $(if $(filter native-%,$(1)),backends/$(subst -,_,$(1)).c $(NATIVE_SHARED),backends/$(1).c)
MODULE_SO := $(patsubst %,$(O)/modules/evl-%.so,$(MODULES))

# ---------------------------------------------------------------- targets
.PHONY: all lib modules conform bench-bin examples samples test check check-threads check-valgrind \
        check-fast deps clean install format format-check bench bench-compare \
        tsan asan

all: lib modules conform bench-bin examples samples

lib: $(O)/libevl.a $(O)/libevl.so
modules: $(MODULE_SO)
conform: $(O)/evl-conform
bench-bin: $(if $(BENCH_SRC),$(O)/evl-bench)
examples: $(EXAMPLES)
samples: $(SAMPLES)

$(O)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(O)/libevl.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(O)/libevl.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libevl.so.0 $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/evl-conform: $(CONFORM_OBJ) $(O)/libevl.a
	$(CC) $(LDFLAGS) -o $@ $(CONFORM_OBJ) $(O)/libevl.a $(LDLIBS)

$(O)/evl-bench: $(BENCH_OBJ) $(O)/libevl.a
	$(CC) $(LDFLAGS) -o $@ $(BENCH_OBJ) $(O)/libevl.a $(LDLIBS)

$(O)/examples/%: examples/%.c $(O)/libevl.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(O)/libevl.a $(LDLIBS)

# Samples see only the public headers, as a third party's plugin would.
$(O)/samples/%.so: conformance/samples/%.c core/include/evl/*.h
	@mkdir -p $(@D)
	$(CC) -shared -Icore/include $(CFLAGS) $(LDFLAGS) -o $@ $<

define module_rule
$(O)/modules/evl-$(1).so: $(call src_of,$(1)) core/include/evl/*.h core/*.h $(wildcard backends/*.h)
	@mkdir -p $$(@D)
	$$(CC) -shared -Wl,-Bsymbolic $$(CPPFLAGS) $$(CFLAGS) $$(LDFLAGS) -o $$@ $(call src_of,$(1)) $$(LIBS_$(1))
endef
$(foreach m,$(MODULES),$(eval $(call module_rule,$(m))))

-include $(shell find build -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- deps
# Installs only what is missing; as non-root it prints the exact command.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  (apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1) || \
	  (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$missing) ; \
	else echo "deps: missing packages; run: sudo apt-get install -y$$missing"; exit 1; fi

# ---------------------------------------------------------------- tests
# `make test` re-enters make after `deps` so pkg-config sees new libraries.
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check

EVL_CONFORM_ARGS ?=
check: all
	@bash conformance/contract.sh --check $(O)/evl-conform
	@bash examples/run-examples.sh $(O)
	@bash conformance/run-checks.sh $(O)

# The threaded tests only (cross-thread posts, stop, executor, futures
# completed from workers): what CI runs under SANITIZE=thread.
THREAD_TESTS := s7_*thread* s9_* s11_*foreign* s13_* s14_* k2_block*
THREAD_IMPLS := --impl ref-epoll --impl ref-poll --impl native-libuv \
                --impl native-libev --impl native-libevent --backend epoll
check-threads: all
	@$(O)/evl-conform $(THREAD_IMPLS) $(addprefix --filter ,$(THREAD_TESTS))

# The suite under valgrind (memcheck): any error or definite leak in any
# test process fails. io_uring is left out: valgrind 3.19 does not model a
# blocked io_uring_enter woken from another thread.
VALGRIND_TARGETS := --backend epoll --backend poll --backend select \
                    --backend libevent --backend libev --backend libuv \
                    --impl native-libuv --impl native-libev --impl native-libevent
check-valgrind: all
	@rm -rf $(O)/valgrind && mkdir -p $(O)/valgrind
	@set -o pipefail; EVL_TEST_TIMEOUT_SCALE=$${EVL_TEST_TIMEOUT_SCALE:-10} \
	  valgrind -q --trace-children=yes --leak-check=full \
	  --errors-for-leak-kinds=definite --log-file=$(O)/valgrind/%p.log \
	  $(O)/evl-conform $(VALGRIND_TARGETS) | tail -n 1
	@if grep -l '^==[0-9]*== ' $(O)/valgrind/*.log; then \
	  grep -h -A12 '^==[0-9]*== ' $(O)/valgrind/*.log | head -n 60; \
	  echo "valgrind: errors in the logs above"; exit 1; fi
	@echo "valgrind: no errors, no definite leaks"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

# ---------------------------------------------------------------- bench
PROFILE ?= quick
IMPL ?=
bench:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@bash bench/run.sh $(O) "$(PROFILE)" "$(IMPL)"

# `make bench-compare A=reports/x B=reports/y`
A ?=
B ?=
bench-compare: bench-bin
	@$(O)/evl-bench --compare "$(A)" "$(B)"

# ---------------------------------------------------------------- install
install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR)/evl $(DESTDIR)$(BINDIR) \
	           $(DESTDIR)$(MODDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 $(O)/libevl.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(O)/libevl.so $(DESTDIR)$(LIBDIR)/libevl.so.0
	ln -sf libevl.so.0 $(DESTDIR)$(LIBDIR)/libevl.so
	install -m 644 core/include/evl/*.h $(DESTDIR)$(INCDIR)/evl/
	install -d $(DESTDIR)$(PREFIX)/share/evl/samples
	install -m 644 conformance/samples/sample_backend.c \
	  conformance/samples/sample_loop.c $(DESTDIR)$(PREFIX)/share/evl/samples/
	install -m 644 conformance/CONTRACT.md $(DESTDIR)$(PREFIX)/share/evl/
	install -m 755 $(O)/evl-conform $(DESTDIR)$(BINDIR)/
	$(if $(wildcard $(O)/evl-bench),install -m 755 $(O)/evl-bench $(DESTDIR)$(BINDIR)/)
	$(if $(MODULE_SO),install -m 755 $(MODULE_SO) $(DESTDIR)$(MODDIR)/)
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCDIR@|$(INCDIR)|; s|@MODDIR@|$(MODDIR)|' \
	    evl.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/evl.pc

clean:
	rm -rf build
