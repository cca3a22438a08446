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


# The project's flags live in EVL_*; a user's CPPFLAGS, CFLAGS, LDFLAGS and
# LDLIBS (command line or environment) come after them and add to them:
# `make CFLAGS=-O1` keeps -std=c11 -fPIC -pthread -Werror and the include
# paths, and its -O1 wins over the default $(OPT) by coming last.
EVL_CPPFLAGS := -D_GNU_SOURCE -Icore/include -Icore -I. \
                -DEVL_MODULE_DIR_DEFAULT='"$(MODDIR)"'
EVL_CFLAGS := $(OPT) -g -std=c11 -Wall -Wextra $(WERROR) -fPIC -pthread \
              $(SANFLAGS)
EVL_LDFLAGS := -pthread $(SANFLAGS)
EVL_LDLIBS := -ldl -lm
# The proactor's io_uring engine (core/completion_uring.c), when liburing
# is here; without it evl_proactor_new_uring returns -ENOTSUP.
ifeq ($(shell pkg-config --exists liburing 2>/dev/null && echo y),y)
EVL_CPPFLAGS += -DEVL_HAVE_URING
EVL_LDLIBS += $(shell pkg-config --libs liburing)
endif
ALL_CPPFLAGS = $(EVL_CPPFLAGS) $(EVL_TASK_CPPFLAGS) $(CPPFLAGS)
ALL_CFLAGS = $(EVL_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(EVL_LDFLAGS) $(LDFLAGS)
ALL_LDLIBS = $(LDLIBS) $(EVL_LDLIBS)

# Debian packages the project needs; `make deps` installs the missing ones.
DEB_PKGS := build-essential pkg-config libevent-dev libev-dev libuv1-dev \
            liburing-dev hyperfine gnuplot-nox valgrind clang-format \
            netcat-openbsd clang libclang-rt-14-dev python3-dev python3-uvloop

# ---------------------------------------------------------------- sources
# The two lists, backends/list.h and impls/list.h, are the only place a
# backend or a loop is named: one `X(...)` row per line, read here with sed.
list_rows = $(shell sed -n 's/^ *X(\([^,]*\), *\([^,]*\), *"\([^"]*\)").*/\1:\2:\3/p' $(1))
BACKEND_ROWS := $(call list_rows,backends/list.h)
IMPL_ROWS := $(subst ",,$(call list_rows,impls/list.h))
row_field = $(word $(2),$(subst :, ,$(1)))
BUILTIN_BACKENDS := $(foreach r,$(BACKEND_ROWS),$(if $(filter BUILTIN,$(call row_field,$(r),2)),$(call row_field,$(r),1)))

CORE_SRC := $(wildcard core/*.c) impls/ref.c
# The task switch: assembly for x86-64 and AArch64 (each .S is empty on
# other machines), or TASK_SWITCH=ucontext for swapcontext(3) everywhere.
CORE_ASM := $(wildcard core/*.S)
TASK_SWITCH ?= asm
ifeq ($(TASK_SWITCH),ucontext)
EVL_TASK_CPPFLAGS := -DEVL_TASK_UCONTEXT
endif
# fault.c wraps any of them ("fault:epoll"); it is no list row, since it
# is never a backend on its own.
BACKEND_SRC := $(addprefix backends/,$(addsuffix .c,$(BUILTIN_BACKENDS))) \
               backends/fault.c
LIB_OBJ := $(patsubst %.c,$(O)/obj/%.o,$(CORE_SRC) $(BACKEND_SRC)) \
           $(patsubst %.S,$(O)/obj/%.o,$(CORE_ASM))

CONFORM_SRC := $(wildcard conformance/*.c) tools/child.c
# The tests' own sources, installed beside CONTRACT.md: a FAIL line names
# one of them as tests/FILE:LINE.
TEST_SOURCES := $(filter-out conformance/runner%,$(wildcard conformance/*.c conformance/*.h))
CONFORM_OBJ := $(patsubst %.c,$(O)/obj/%.o,$(CONFORM_SRC))
BENCH_SRC := $(wildcard bench/*.c) tools/child.c
BENCH_OBJ := $(patsubst %.c,$(O)/obj/%.o,$(BENCH_SRC))
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLES := $(patsubst examples/%.c,$(O)/examples/%,$(EXAMPLE_SRC))
# The templates a third party copies, one per ABI, and the fixtures broken
# on purpose (conformance/run-checks.sh proves the suite and loader catch them).
SAMPLES := $(O)/samples/sample_backend.so $(O)/samples/sample_loop.so
BAD_VARIANTS := WRONG_ABI SHORT NULLFN CRASH WAITCRASH IMPL
FIXTURES := $(O)/fixtures/broken_epoll.so $(O)/fixtures/drop_poll.so \
            $(O)/fixtures/perprocess_cold.so $(O)/fixtures/perprocess_warm.so \
            $(patsubst %,$(O)/fixtures/bad_%.so,$(BAD_VARIANTS))
# The sample loop with one bug each and with one allowed difference each,
# one .so per row of conformance/mutants/list_{mutants,variants}.h.
mutant_names = $(shell sed -n 's/^ *X.\([a-z0-9_]*\),.*/\1/p' conformance/mutants/list_$(1).h)
backend_mutant_names = $(shell sed -n 's/^ *X.\([a-z0-9_]*\), *\(BACKEND\|URING\),.*/\1/p' conformance/mutants/list_$(1).h)
MUTANTS := $(patsubst %,$(O)/mutants/mutant_%.so,$(call mutant_names,mutants)) \
           $(patsubst %,$(O)/mutants/variant_%.so,$(call mutant_names,variants))

# ---------------------------------------------------------------- modules
# Library-wrapping backends and whole-loop adapters are separate shared
# objects, each loaded with RTLD_LOCAL: Debian's libev exports libevent's
# symbol names, so a wrapper linked into one image with the other library
# could call the wrong one. One module per library makes that impossible by
# construction. A row's dep is a pkg-config name or -lNAME.
dep_ok = $(if $(filter -l%,$(1)),$(shell printf 'int main(void){return 0;}' | \
           $(CC) -x c - -o /dev/null $(1) 2>/dev/null && echo y),$(shell \
           pkg-config --exists $(1) 2>/dev/null && echo y))
dep_libs = $(if $(filter -l%,$(1)),$(1),$(shell pkg-config --libs $(1)))
dep_cflags = $(if $(filter -l%,$(1)),,$(shell pkg-config --cflags $(1)))

# Each module: name, sources, libraries — only those whose library is here.
define backend_module
ifeq ($(call dep_ok,$(3)),y)
MODULES += $(1)
SRC_$(1) := backends/$(1).c $(wildcard backends/$(1)_*.c)
LIBS_$(1) := $(call dep_libs,$(3))
endif
endef
# A whole-loop adapter is impls/<file>.c plus the shared adapter glue, and
# the core's own error texts, futures and executor: they call the loop only
# through the services table in core/loop_int.h, which impls/adapter_core.c
# provides for a native loop.
# -Bsymbolic keeps each module's copies bound to themselves.
ADAPTER_SRC := impls/adapter.c impls/adapter_core.c impls/adapter_io.c \
               impls/adapter_signal.c impls/adapter_timer.c \
               core/error.c core/future.c core/executor.c
# CPython is not built with the sanitizers. Under AddressSanitizer the py
# module runs the interpreter on malloc (PYTHONMALLOC=malloc: pymalloc's
# arenas are invisible to LeakSanitizer) and allocates every CPython block
# with LeakSanitizer disabled for the thread (impls/python_rt.c): the
# never-finalized interpreter is not reported, the adapter's own C is
# checked in full, and no LSAN_OPTIONS or suppression file is needed, so
# a sanitized evl-conform run by hand reports what `make check` does.
# Under ThreadSanitizer, which cannot follow the GIL inside an
# uninstrumented libpython, the module is not built: its implementations
# show as not built (skipped, never passed).
SAN_SKIP_IMPLS := $(if $(filter thread,$(subst $(comma), ,$(SANITIZE))),python)
# Under ASan a py test takes ~0.25 s, most of it CPython starting on ASan's
# malloc: the whole suite on py-asyncio and py-uvloop added 116-141 s to
# the ASan check (103-126 s without them, a loaded 2-core machine). There
# `make check` gives them their S-suite only (run-checks.sh 1c, +74-77 s);
# their T- and P-tests, which reach the adapter through the same calls,
# run in the unsanitized check. The -epoll/-poll/-select variants are in
# neither.
ifneq ($(filter address,$(subst $(comma), ,$(SANITIZE))),)
export EVL_CHECK_PY := S
endif
define impl_module
ifeq ($(call dep_ok,$(3))$(filter $(1),$(SAN_SKIP_IMPLS)),y)
MODULES += $(2)
SRC_$(2) := impls/$(1).c $(wildcard impls/$(1)_*.c) $(ADAPTER_SRC)
LIBS_$(2) := $(call dep_libs,$(3))
CFLAGS_$(2) := $(call dep_cflags,$(3))
endif
endef
MODULES :=
$(foreach r,$(filter-out %:BUILTIN:,$(BACKEND_ROWS)),$(eval $(call backend_module,$(call row_field,$(r),1),$(call row_field,$(r),2),$(call row_field,$(r),3))))
$(foreach r,$(IMPL_ROWS),$(eval $(call impl_module,$(call row_field,$(r),1),$(call row_field,$(r),2),$(call row_field,$(r),3))))
MODULE_SO := $(patsubst %,$(O)/modules/evl-%.so,$(MODULES))
include bench/bench.mk

# ---------------------------------------------------------------- fuzzer
# libFuzzer needs clang: the library's sources are compiled again with
# coverage, ASan and UBSan into one binary with the target (built-in
# backends only: epoll, poll, select; no modules are loaded).
FUZZ_CC ?= clang
FUZZ_TIME ?= 0
FUZZ_BIN := build/fuzz/api_fuzz
FUZZ_SRC := fuzz/api_fuzz.c $(CORE_SRC) $(BACKEND_SRC) $(CORE_ASM)
$(FUZZ_BIN): $(FUZZ_SRC) core/include/evl/*.h core/*.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(EVL_CPPFLAGS) $(EVL_TASK_CPPFLAGS) -g -O1 -std=c11 -pthread \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -o $@ $(FUZZ_SRC) $(EVL_LDLIBS) -ldl -lm

# ---------------------------------------------------------------- targets
.PHONY: all lib modules conform bench-bin examples samples fixtures unit test \
        check check-threads check-valgrind check-fault deps clean install format \
        format-check bench bench-compare help fuzz check-aarch64 mutants \
        check-mutants

# `make help` lists every target from its `## ` note, one line each.
help: ## this list
	@sed -n 's/^\([a-z-]*\):.*## \(.*\)/\1\t\2/p' $(firstword $(MAKEFILE_LIST)) | \
	  while IFS=$$'\t' read -r t d; do printf '  %-15s %s\n' "$$t" "$$d"; done

all: lib modules conform bench-bin examples samples fixtures mutants unit ## build the library, modules, runners, examples, samples, fixtures, mutants and unit tests

lib: $(O)/libevl.a $(O)/libevl.so ## build/libevl.a and build/libevl.so: the reference loop and built-in backends
modules: $(MODULE_SO) ## build/modules/evl-*.so: library wrappers and native loops, one per library
conform: $(O)/evl-conform ## build/evl-conform, the conformance runner
bench-bin: $(if $(BENCH_SRC),$(O)/evl-bench $(DIRECT_SO)) ## build/evl-bench, the benchmark runner
examples: $(EXAMPLES) ## build/examples/*
samples: $(SAMPLES) ## build/samples/*.so: the plugin templates, one per ABI
fixtures: $(FIXTURES) ## build/fixtures/*.so: plugins broken on purpose, for run-checks.sh
mutants: $(MUTANTS) ## build/mutants/*.so: the sample loop or the core with one bug or one allowed difference each

$(O)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(O)/obj/%.o: %.S
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(O)/libevl.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(O)/libevl.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libevl.so.0 $(ALL_LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

$(O)/evl-conform: $(CONFORM_OBJ) $(O)/libevl.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(CONFORM_OBJ) $(O)/libevl.a $(ALL_LDLIBS)

$(O)/evl-bench: $(BENCH_OBJ) $(O)/libevl.a bench/direct/exports.list
	$(CC) $(ALL_LDFLAGS) $(BENCH_LDFLAGS) -o $@ $(BENCH_OBJ) $(O)/libevl.a $(ALL_LDLIBS)

$(O)/examples/%: examples/%.c $(O)/libevl.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/libevl.a $(ALL_LDLIBS)

# The kqueue backend against a fake kernel, since kqueue cannot run here:
# built with and without EV_RECEIPT, as real kernels differ.
KQUEUE_UNIT := $(O)/unit/kqueue_unit $(O)/unit/kqueue_unit_noreceipt
unit: $(KQUEUE_UNIT) $(O)/unit/config_unit $(O)/unit/task_switch_unit ## build/unit/*: kqueue on a fake kernel; loop config and loader errors; the task switch
$(KQUEUE_UNIT): conformance/unit/kqueue_unit.c backends/kqueue.c \
                backends/compat/kqueue_stub.h core/include/evl/*.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) -DEVL_KQUEUE_STUB_EXTERN \
	  $(if $(filter %_noreceipt,$@),-DEVL_KQUEUE_STUB_NO_RECEIPT) \
	  $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ conformance/unit/kqueue_unit.c \
	  backends/kqueue.c $(ALL_LDLIBS)

# evl_loop_new's config and error text, through libevl's public API.
$(O)/unit/config_unit: conformance/unit/config_unit.c conformance/unit/unit_check.h $(O)/libevl.a
	@mkdir -p $(@D)
	$(CC) -Icore/include $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
	  $(O)/libevl.a $(ALL_LDLIBS)

# The task context switch below the task API (core/task_ctx.h).
$(O)/unit/task_switch_unit: conformance/unit/task_switch_unit.c conformance/unit/unit_check.h $(O)/libevl.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
	  $(O)/libevl.a $(ALL_LDLIBS)

# Samples and fixtures see only the public headers, as a third party's
# plugin would.
$(O)/samples/sample_backend.so: backends/sample/sample_backend.c core/include/evl/*.h
$(O)/samples/sample_loop.so: impls/sample/sample_loop.c core/include/evl/*.h
$(SAMPLES):
	@mkdir -p $(@D)
	$(CC) -shared -Icore/include $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<
$(O)/fixtures/drop_poll.so: conformance/fixtures/drop_poll.c core/include/evl/*.h
	@mkdir -p $(@D)
	$(CC) -shared -Icore/include $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<
$(O)/fixtures/broken_epoll.so: conformance/fixtures/broken_epoll.c core/include/evl/*.h
	@mkdir -p $(@D)
	$(CC) -shared -Icore/include $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<
# The sample loop with a per-process thread, declared (warm) or not (cold).
$(O)/fixtures/perprocess_%.so: conformance/fixtures/perprocess_loop.c impls/sample/sample_loop.c core/include/evl/*.h
	@mkdir -p $(@D)
	$(CC) -shared -Icore/include $(if $(filter warm,$*),-DPERPROCESS_WARMUP) $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<
$(O)/fixtures/bad_%.so: conformance/fixtures/bad_plugin.c core/include/evl/*.h
	@mkdir -p $(@D)
	$(CC) -shared -Icore/include -DBAD_$* $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<
# A mutant or variant carries its own copy of the reference core (rows
# based on REF wrap it), bound to itself by -Bsymbolic as the modules are.
MUTANT_SRC := conformance/mutants/mutant_loop.c conformance/mutants/mutant_ref.c \
              conformance/mutants/mutant_ref_soon.c
$(O)/mutants/mutant_%.so: $(MUTANT_SRC) conformance/mutants/mutant.h conformance/mutants/list_mutants.h impls/sample/sample_loop.c core/include/evl/*.h $(O)/libevl.a
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-Bsymbolic -Icore/include -DMUTANT=$* $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(MUTANT_SRC) $(O)/libevl.a $(ALL_LDLIBS)
# BACKEND rows: epoll wrapped by mutant_backend.c (static pattern rules, so
# they win over the loop rules below).
KMUTANT_SRC := conformance/mutants/mutant_backend.c conformance/mutants/list_mutants.h conformance/mutants/list_variants.h core/include/evl/*.h $(O)/libevl.a
$(patsubst %,$(O)/mutants/mutant_%.so,$(call backend_mutant_names,mutants)): $(O)/mutants/mutant_%.so: $(KMUTANT_SRC)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-Bsymbolic -Icore/include -DMUTANT=$* $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/libevl.a $(ALL_LDLIBS)
$(patsubst %,$(O)/mutants/variant_%.so,$(call backend_mutant_names,variants)): $(O)/mutants/variant_%.so: $(KMUTANT_SRC)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-Bsymbolic -Icore/include -DVARIANT=$* $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(O)/libevl.a $(ALL_LDLIBS)
VARIANT_SRC := conformance/mutants/variant_loop.c conformance/mutants/variant_ref.c
$(O)/mutants/variant_%.so: $(VARIANT_SRC) conformance/mutants/mutant.h conformance/mutants/list_variants.h conformance/mutants/list_mutants.h impls/sample/sample_loop.c core/include/evl/*.h $(O)/libevl.a
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-Bsymbolic -Icore/include -DVARIANT=$* $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(VARIANT_SRC) $(O)/libevl.a $(ALL_LDLIBS)

define module_rule
$(O)/modules/evl-$(1).so: $(SRC_$(1)) core/include/evl/*.h core/*.h $(wildcard backends/*.h impls/*.h)
	@mkdir -p $$(@D)
	$$(CC) -shared -Wl,-Bsymbolic $$(ALL_CPPFLAGS) $$(CFLAGS_$(1)) $$(ALL_CFLAGS) $$(ALL_LDFLAGS) -o $$@ $(SRC_$(1)) $$(LIBS_$(1)) $$(LDLIBS)
endef
$(foreach m,$(MODULES),$(eval $(call module_rule,$(m))))

-include $(shell find build -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- deps
# Installs only what is missing; as non-root it prints the exact command.
deps: ## install the missing Debian packages (as root), else print the command
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
test: ## deps, all, then check: what a fresh clone runs
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check

EVL_CONFORM_ARGS ?=
check: all ## contract check, examples, unit tests and the whole conformance suite
	@bash conformance/contract.sh --check $(O)/evl-conform
	@bash examples/run-examples.sh $(O)
	@for t in $(KQUEUE_UNIT); do $$t || exit 1; done
	@$(O)/unit/config_unit $(O)
	@$(O)/unit/task_switch_unit
	@bash bench/test-tools.sh $(O)
	@bash conformance/test-tools.sh $(O)
	@bash conformance/run-checks.sh $(O)

# Each mutant (the sample loop with one bug real loops have had) fails the
# rule its row names; each variant (a difference the contract allows)
# passes the whole suite.
check-mutants: conform mutants modules ## the suite catches every mutant and blames no variant
	@bash conformance/mutants/check.sh $(O)

# The whole S-suite (rules S*) on the reference core over each backend
# wrapped in fault injection (backends/fault.c: EINTR storms, spurious readiness, one
# event per wait, transient ctl ENOMEM): the core must tolerate them all.
FAULT_BACKENDS := epoll poll select iouring
# A run works on a copy of the corpus: new inputs land in build/, the
# checked-in fuzz/corpus is only read.
fuzz: $(FUZZ_BIN) ## build the API fuzzer; FUZZ_TIME=s runs it that long on fuzz/corpus
	@if [ "$(FUZZ_TIME)" != 0 ]; then \
	  rm -rf build/fuzz/run && mkdir -p build/fuzz/run && \
	  $(FUZZ_BIN) -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=build/fuzz/ \
	    -print_final_stats=1 build/fuzz/run fuzz/corpus; fi

check-fault: all ## the S-suite on the core over fault-injecting backends
	@set -o pipefail; $(O)/evl-conform --filter 'S*' \
	  $(addprefix --fault ,$(FAULT_BACKENDS)) | sed -n '/^Not passed:/,$$p'
	@# The P-tests on the io_uring proactor engine: sharing the ring of
	@# fault:iouring (EINTR also on its own wait, the pump) and on a ring of
	@# its own over fault:epoll.
	@set -o pipefail; EVL_PROACTOR=uring $(O)/evl-conform --filter 'p[0-9]*' \
	  --fault iouring --fault epoll | \
	  awk '/^Not passed:/{f=1} f{print} {l=$$0} END{if(!f)print l}'

# The threaded tests only (cross-thread posts, stop, executor, futures
# completed from workers): what CI runs under SANITIZE=thread.
THREAD_TESTS := s7_*thread* s9_* s11_*foreign* s13_* s14_* k2_block* t[0-9]_*
THREAD_IMPLS := --impl ref-epoll --impl ref-poll --impl native-libuv \
                --impl native-libev --impl native-libevent --backend epoll \
                --impl $(O)/samples/sample_loop.so
check-threads: all ## the threaded tests only (CI runs it with SANITIZE=thread)
	@$(O)/evl-conform $(THREAD_IMPLS) $(foreach f,$(THREAD_TESTS),--filter '$(f)')

# The suite under valgrind (memcheck): any error or definite leak in any
# test process fails. io_uring is left out: valgrind 3.19 does not model a
# blocked io_uring_enter woken from another thread.
VALGRIND_TARGETS := --backend epoll --backend poll --backend select \
                    --backend libevent --backend libev --backend libuv \
                    --impl native-libuv --impl native-libev --impl native-libevent
# Only definite leaks are shown: a test process that fails (or hits a
# declared deviation) exits without freeing its loop, which memcheck calls
# "possibly lost"; that is not a leak of the library's.
check-valgrind: all ## the suite under valgrind memcheck
	@rm -rf $(O)/valgrind && mkdir -p $(O)/valgrind
	@set -o pipefail; EVL_TEST_TIMEOUT_SCALE=$${EVL_TEST_TIMEOUT_SCALE:-10} \
	  valgrind -q --trace-children=yes --leak-check=full \
	  --show-leak-kinds=definite --errors-for-leak-kinds=definite --log-file=$(O)/valgrind/%p.log \
	  $(O)/evl-conform $(VALGRIND_TARGETS) | tail -n 1
	@if grep -l '^==[0-9]*== ' $(O)/valgrind/*.log; then \
	  grep -h -A12 '^==[0-9]*== ' $(O)/valgrind/*.log | head -n 60; \
	  echo "valgrind: errors in the logs above"; exit 1; fi
	@echo "valgrind: no errors, no definite leaks"

# AArch64's task switch (core/task_switch_aarch64.S) on this x86-64
# machine: the library, the runner and the switch's unit test cross-built
# statically into build/aarch64/ and run under qemu-user (correctness only:
# emulated timings say nothing about a real core). pkg-config looks only at
# arm64 packages, so liburing and the library modules are left out.
AARCH64_CC ?= aarch64-linux-gnu-gcc
AARCH64_QEMU ?= qemu-aarch64
check-aarch64: ## cross-build for AArch64 and run the T-tests and switch unit test under qemu-user
	@if ! command -v $(AARCH64_CC) >/dev/null || ! command -v $(AARCH64_QEMU) >/dev/null; then \
	  echo "check-aarch64: SKIPPED, needs $(AARCH64_CC) and $(AARCH64_QEMU) (apt-get install gcc-aarch64-linux-gnu qemu-user)"; exit 0; fi; \
	set -o pipefail; mkdir -p build/aarch64; \
	PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig $(MAKE) --no-print-directory \
	  O=build/aarch64 CC=$(AARCH64_CC) SANITIZE= LDFLAGS=-static \
	  build/aarch64/evl-conform build/aarch64/unit/task_switch_unit \
	  >build/aarch64/build.log 2>&1 || { tail -n 30 build/aarch64/build.log; exit 1; }; \
	$(AARCH64_QEMU) build/aarch64/unit/task_switch_unit && \
	EVL_TEST_TIMEOUT_SCALE=$${EVL_TEST_TIMEOUT_SCALE:-4} $(AARCH64_QEMU) \
	  build/aarch64/evl-conform --impl ref-epoll --impl ref-poll --filter 't*' | tail -n 1

format: ## clang-format every tracked .c and .h in place
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check: ## fail if any tracked .c or .h is not clang-formatted
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

# ---------------------------------------------------------------- bench
PROFILE ?= quick
IMPL ?=
bench: ## deps, all, then the benchmarks (PROFILE=quick|full, IMPL=...) and a report
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@bash bench/run.sh $(O) "$(PROFILE)" "$(IMPL)"

# `make bench-compare A=reports/x B=reports/y`
A ?=
B ?=
bench-compare: bench-bin ## compare two benchmark runs: A=reports/x B=reports/y
	@$(O)/evl-bench --compare "$(A)" "$(B)"

# ---------------------------------------------------------------- install
install: all ## install under PREFIX (DESTDIR honoured)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR)/evl $(DESTDIR)$(BINDIR) \
	           $(DESTDIR)$(MODDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 $(O)/libevl.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(O)/libevl.so $(DESTDIR)$(LIBDIR)/libevl.so.0
	ln -sf libevl.so.0 $(DESTDIR)$(LIBDIR)/libevl.so
	install -m 644 core/include/evl/*.h $(DESTDIR)$(INCDIR)/evl/
	install -d $(DESTDIR)$(PREFIX)/share/evl/samples
	install -m 644 backends/sample/sample_backend.c \
	  impls/sample/sample_loop.c $(DESTDIR)$(PREFIX)/share/evl/samples/
	install -m 644 conformance/CONTRACT.md $(DESTDIR)$(PREFIX)/share/evl/
	install -d $(DESTDIR)$(PREFIX)/share/evl/tests
	install -m 644 $(TEST_SOURCES) $(DESTDIR)$(PREFIX)/share/evl/tests/
	install -m 755 $(O)/evl-conform $(DESTDIR)$(BINDIR)/
	$(if $(wildcard $(O)/evl-bench),install -m 755 $(O)/evl-bench $(DESTDIR)$(BINDIR)/)
	$(if $(MODULE_SO),install -m 755 $(MODULE_SO) $(DESTDIR)$(MODDIR)/)
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCDIR@|$(INCDIR)|; s|@MODDIR@|$(MODDIR)|; s|@LIBS_PRIVATE@|$(strip $(EVL_LDLIBS)) -pthread|' \
	    evl.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/evl.pc

clean: ## remove build/
	rm -rf build
