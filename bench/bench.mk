# bench.mk — evl-bench's direct-library baselines, included by the Makefile.
#
# Each direct-<lib> is bench/direct/<lib>.c built as its own module and
# loaded RTLD_LOCAL only in a step's child process: Debian's libev exports
# libevent's symbol names, so libev- and libevent-based code must never be
# linked into one image. evl-bench exports its bench_* helpers to them. The
# rows come from BENCH_BASELINE_LIST in bench/bench.h: adding a direct
# baseline is one file and that one row.
DIRECT_ROWS := $(shell sed -n 's/^ *X("direct-\([^"]*\)", *"[^"]*", *"\([^"]*\)").*/\1:\2/p' bench/bench.h)
DIRECT_LIBS :=
define direct_module
ifeq ($(call dep_ok,$(2)),y)
DIRECT_LIBS += $(1)
LIBS_direct-$(1) := $(call dep_libs,$(2))
endif
endef
$(foreach r,$(DIRECT_ROWS),$(eval $(call direct_module,$(word 1,$(subst :, ,$(r))),$(word 2,$(subst :, ,$(r))))))
DIRECT_SO := $(patsubst %,$(O)/bench/direct-%.so,$(DIRECT_LIBS))
# A fixture for bench/test-tools.sh: the sample loop slowed on purpose, so
# the compare test has a regression to find. Built with the baselines (it
# rides on DIRECT_SO so `bench-bin` and `all` build it); like the samples,
# it sees only the public headers.
DIRECT_SO += $(O)/bench/slow_loop.so
BENCH_LDFLAGS := -Wl,--dynamic-list=bench/direct/exports.list

$(O)/bench/direct-%.so: bench/direct/%.c bench/kernels.h bench/bench.h
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-Bsymbolic $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBS_direct-$*)

$(O)/bench/slow_loop.so: bench/fixtures/slow_loop.c impls/sample/sample_loop.c core/include/evl/*.h
	@mkdir -p $(@D)
	$(CC) -shared -Icore/include $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<
