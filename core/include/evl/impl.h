/* impl.h — the loop-implementation ABI: a whole event loop behind evl.h's API.
 */
#ifndef EVL_IMPL_H
#define EVL_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "evl.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVL_IMPL_ABI 1

/*
 * Every implementation defines its own `struct evl_loop` and
 * `struct evl_future` privately; callers only ever hold pointers, so the
 * types stay opaque and each ops table is type-safe on its own side.
 */

/* Optional parts. A test or benchmark that needs a missing bit is SKIP. */
#define EVL_IMPL_FEATURES(X)                                                   \
  X(THREADSAFE, 0, "call_soon_threadsafe and stop_threadsafe")                 \
  X(SIGNALS, 1, "add_signal_handler / remove_signal_handler")                  \
  X(EXECUTOR, 2, "run_in_executor")                                            \
  X(FUTURES, 3, "futures and run_until_complete")                              \
  X(DEBUG, 4, "debug mode: slow-callback reports, foreign-thread refusal")     \
  X(STATS, 5, "loop_stats counts iterations and waits")                        \
  X(ERRORS, 6, "error handler and report_error")                               \
  X(RUNNING, 7, "get_running_loop")                                            \
  X(REARM, 8, "rearm, rearm_at: move a pending timer, keeping its handle")     \
  X(FORK, 9, "loop_after_fork: an inherited loop is usable in a child")

enum {
#define EVL__IF_ENUM(name, bit, text) EVL_IF_##name = 1u << (bit),
  EVL_IMPL_FEATURES(EVL__IF_ENUM)
#undef EVL__IF_ENUM
};

/* A known, documented difference from the contract. The runner reports a
 * matching test that fails as XFAIL and one that passes as XPASS; neither
 * counts as a pass. `test` is a glob over test names ("s2_*"). */
typedef struct evl_deviation {
  const char *test;
  const char *reason;
} evl_deviation;

/* A known difference in one check of a test, so that the test's other
 * checks still count. `check` is the id a FAIL line names ("check ID: ...").
 * A failure of that check is recorded and the test goes on: it ends XFAIL
 * if nothing else fails, FAIL if something does, and XPASS if the declared
 * check passes. `test` is a glob over test names, as in evl_deviation; a
 * NULL `check` means the whole test, exactly like an evl_deviation. */
typedef struct evl_check_deviation {
  const char *test;
  const char *check;
  const char *reason;
} evl_check_deviation;

/* loop_new reads it only up to `size` (EVL_HAS_FIELD in evl.h) and refuses
 * a size below sizeof(size_t) or a flag outside EVL_LOOP_FLAGS with -EINVAL
 * (S8). cfg may be NULL: all defaults. */
typedef struct evl_impl_config {
  size_t size;               /* sizeof(evl_impl_config) */
  unsigned flags;            /* EVL_LOOP_DEBUG */
  uint64_t slow_callback_ns; /* 0: 100 ms */
  unsigned executor_threads; /* 0: number of cores */
} evl_impl_config;

/* Semantics of each operation: the evl_* function of the same name in evl.h.
 * Required: everything up to and including `time`. The rest may be NULL when
 * the matching feature bit is clear. */
typedef struct evl_impl_ops {
  uint32_t abi;     /* EVL_IMPL_ABI */
  uint32_t size;    /* sizeof(evl_impl_ops) the plugin was built with */
  const char *name; /* "ref-epoll", "native-libuv", ... */
  const char *description;
  uint32_t features;               /* EVL_IF_* */
  const evl_deviation *deviations; /* {NULL, NULL}-terminated; may be NULL */
  const void *data;                /* passed back to probe and loop_new */

  int (*probe)(const void *data, char *why, size_t len); /* optional */
  int (*loop_new)(const void *data, const evl_impl_config *cfg, evl_loop **out);
  int (*loop_close)(evl_loop *loop);
  int (*loop_free)(evl_loop *loop);
  const char *(*backend_name)(const evl_loop *loop);
  int (*call_soon)(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out);
  int (*call_later)(evl_loop *loop, int64_t delay_ns, evl_cb cb, void *arg,
                    evl_handle *out);
  int (*call_at)(evl_loop *loop, uint64_t when_ns, evl_cb cb, void *arg,
                 evl_handle *out);
  int (*cancel)(evl_loop *loop, evl_handle h);
  int (*add_reader)(evl_loop *loop, int fd, evl_io_cb cb, void *arg);
  int (*remove_reader)(evl_loop *loop, int fd);
  int (*add_writer)(evl_loop *loop, int fd, evl_io_cb cb, void *arg);
  int (*remove_writer)(evl_loop *loop, int fd);
  int (*run_forever)(evl_loop *loop);
  int (*run_once)(evl_loop *loop);
  int (*stop)(evl_loop *loop);
  int (*is_running)(const evl_loop *loop);
  /* The implementation's clock, in CLOCK_MONOTONIC nanoseconds. */
  uint64_t (*time)(const evl_loop *loop);

  /* EVL_IF_THREADSAFE */
  int (*call_soon_threadsafe)(evl_loop *loop, evl_cb cb, void *arg);
  int (*stop_threadsafe)(evl_loop *loop);
  /* EVL_IF_RUNNING */
  evl_loop *(*get_running_loop)(void);
  /* EVL_IF_ERRORS */
  int (*set_error_handler)(evl_loop *loop, evl_error_handler h, void *arg);
  int (*report_error)(evl_loop *loop, int code, const char *message);
  /* EVL_IF_DEBUG */
  int (*set_debug)(evl_loop *loop, int on);
  int (*set_slow_callback_ns)(evl_loop *loop, uint64_t ns);
  /* EVL_IF_STATS */
  int (*loop_stats)(const evl_loop *loop, evl_loop_stats *out);
  /* EVL_IF_SIGNALS */
  int (*add_signal_handler)(evl_loop *loop, int sig, evl_cb cb, void *arg);
  int (*remove_signal_handler)(evl_loop *loop, int sig);
  /* EVL_IF_FUTURES */
  int (*future_new)(evl_loop *loop, evl_future **out);
  void (*future_retain)(evl_future *f);
  void (*future_release)(evl_future *f);
  int (*future_set_result)(evl_future *f, void *result);
  int (*future_set_error)(evl_future *f, int code);
  int (*future_cancel)(evl_future *f);
  int (*future_state)(const evl_future *f);
  int (*future_result)(const evl_future *f, void **result);
  int (*future_add_done_callback)(evl_future *f, evl_future_cb cb, void *arg);
  int (*run_until_complete)(evl_loop *loop, evl_future *f);
  /* EVL_IF_EXECUTOR */
  int (*run_in_executor)(evl_loop *loop, evl_work_fn fn, void *arg,
                         evl_future **out);

  /* Added within ABI 1: read only when `size` covers them (a table built
   * with an older header has a smaller size, and they count as NULL). */

  /* Per-check deviations, {NULL, NULL, NULL}-terminated; may be NULL. */
  const evl_check_deviation *check_deviations;
  /* Creates the state the implementation keeps once per process — threads,
   * fds, a signal worker — and documents as such; optional. Called in each
   * conformance test process before the fd and thread baseline is taken, so
   * the leak checks count that state as the process's, not the test's.
   * Whatever a loop takes beyond it, its close must release. Returns 0 or a
   * negative code (the test then fails, naming it). */
  int (*warmup)(const void *data);
  /* EVL_IF_REARM: evl_timer_rearm and evl_timer_rearm_at. */
  int (*rearm)(evl_loop *loop, evl_handle h, int64_t delay_ns);
  int (*rearm_at)(evl_loop *loop, evl_handle h, uint64_t when_ns);
  /* EVL_IF_FORK: evl_loop_after_fork (S16), called in a child. */
  int (*loop_after_fork)(evl_loop *loop);
} evl_impl_ops;

#define EVL_IMPL_OPS_MIN_SIZE (offsetof(evl_impl_ops, time) + sizeof(void *))

/* What a loop plugin (.so) exports. */
typedef const evl_impl_ops *(*evl_impl_plugin_fn)(void);
const evl_impl_ops *evl_impl_plugin(void);
/* Optional: a module that serves a family of names (impls/list.h row "py":
 * "py-asyncio", "py:mod:factory", ...) exports this too; the registry
 * passes the whole name and caches the table. NULL with err set: no such
 * name. */
typedef const evl_impl_ops *(*evl_impl_plugin_named_fn)(const char *name,
                                                        char *err, size_t len);
const evl_impl_ops *evl_impl_plugin_named(const char *name, char *err,
                                          size_t len);

/* Registry. Names: "ref-<backend>" for the reference core on each backend,
 * "native-libuv", "native-libev", "native-libevent", or a path to a .so. */
int evl_impl_lookup(const char *name_or_path, const evl_impl_ops **out,
                    char *err, size_t len);
int evl_impl_validate(const evl_impl_ops *ops, char *err, size_t len);
int evl_impl_probe(const evl_impl_ops *ops, char *why, size_t len);
/* Built-in names in report order, NULL-terminated. */
const char *const *evl_impl_names(void);
/* The reference core on a given backend, as an implementation. */
int evl_impl_ref(const char *backend_name_or_path, const evl_impl_ops **out,
                 char *err, size_t len);
const char *evl_impl_features_str(uint32_t features, char *buf, size_t len);
/* Does `test` match a declared whole-test deviation (an evl_deviation, or
 * an evl_check_deviation with a NULL check)? Returns its reason or NULL. */
const char *evl_impl_deviation(const evl_impl_ops *ops, const char *test);
/* Does check `check` of `test` match a declared evl_check_deviation?
 * Returns its reason or NULL. */
const char *evl_impl_check_deviation(const evl_impl_ops *ops, const char *test,
                                     const char *check);
/* The table's optional tail, NULL where `size` does not cover it. */
const evl_check_deviation *evl_impl_check_deviations(const evl_impl_ops *ops);
typedef int (*evl_impl_warmup_fn)(const void *data);
evl_impl_warmup_fn evl_impl_warmup(const evl_impl_ops *ops);

#ifdef __cplusplus
}
#endif
#endif
