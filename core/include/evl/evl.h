/* evl.h — the public API of evlab's reference event loop (asyncio's model). */
#ifndef EVL_EVL_H
#define EVL_EVL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVL_VERSION_MAJOR 0
#define EVL_VERSION_MINOR 1

/* Event bits, shared by the loop API and the backend ABI. */
enum {
  EVL_READ = 1u << 0,
  EVL_WRITE = 1u << 1,
  EVL_ERR = 1u << 2,
  EVL_HUP = 1u << 3,
  EVL_RDHUP = 1u << 4,
  EVL_ET = 1u << 5,      /* ctl only, backends with EVL_BF_ET */
  EVL_ONESHOT = 1u << 6, /* ctl only, backends with EVL_BF_ONESHOT */
};

/*
 * Errors are negative errno values (-EBADF, -EINVAL, ...) plus the codes
 * below, which sit above the errno range so they can never collide.
 * evl_strerror() names all of them.
 */
#define EVL_ERRORS(X)                                                          \
  X(ECLOSED, 4001, "loop is closed")                                           \
  X(ENOBACKEND, 4002, "no such backend or implementation")                     \
  X(EPLUGIN, 4003, "plugin rejected (ABI version, table size or symbol)")      \
  X(EHANDLE, 4004, "handle already ran, was cancelled, or never existed")      \
  X(ESLOW, 4005, "callback ran longer than slow_callback_ns")                  \
  X(EPROBE, 4006, "backend is not usable on this system")                      \
  X(EFOREIGN, 4007, "future belongs to another loop")                          \
  X(EFORKED, 4008, "loop inherited across fork(): call evl_loop_after_fork")

enum {
#define EVL__ERR_ENUM(name, num, text) EVL_##name = -(num),
  EVL_ERRORS(EVL__ERR_ENUM)
#undef EVL__ERR_ENUM
};

/* Text for any code this library returns; never NULL. */
const char *evl_strerror(int code);

typedef struct evl_loop evl_loop;

/*
 * A handle names one scheduled callback or timer of one loop: a slot, its
 * generation and the loop's tag. Generations make a handle that already ran
 * or was cancelled harmless, tags a handle of another loop: evl_cancel()
 * then returns EVL_EHANDLE instead of touching reused memory. 0 is never a
 * valid handle.
 */
typedef uint64_t evl_handle;

/* Callbacks get only their argument; capture the loop in it if needed. */
typedef void (*evl_cb)(void *arg);
/* events: EVL_READ / EVL_WRITE plus EVL_ERR, EVL_HUP, EVL_RDHUP as seen. */
typedef void (*evl_io_cb)(int fd, unsigned events, void *arg);

enum {
  EVL_LOOP_DEBUG = 1u << 0, /* slow-callback reports, foreign-thread checks */
};
/* Every flag this version knows; any other bit is refused with -EINVAL. */
#define EVL_LOOP_FLAGS ((unsigned)EVL_LOOP_DEBUG)

/*
 * Versioned structs (evl_loop_config, evl_impl_config, evl_backend_config
 * and both ops tables) carry the size their caller was built with, so they
 * can grow: a field counts only when `size` covers it, and everything that
 * reads one asks this first. A field past the caller's size reads as its
 * default (0 or NULL), never as whatever follows the caller's struct.
 */
#define EVL_HAS_FIELD(type, p, field)                                          \
  ((size_t)(p)->size >= offsetof(type, field) + sizeof(((type *)0)->field))
/* p->field when present, else dflt. */
#define EVL_FIELD_OR(type, p, field, dflt)                                     \
  (EVL_HAS_FIELD(type, p, field) ? (p)->field : (dflt))

typedef struct evl_loop_config {
  size_t size;         /* sizeof(evl_loop_config): lets the struct grow */
  const char *backend; /* name or path.so; NULL: $EVL_BACKEND or best */
  const struct evl_backend_ops *backend_ops; /* wins over .backend if set */
  unsigned flags;                            /* EVL_LOOP_* */
  uint64_t slow_callback_ns; /* debug threshold; 0 means 100 ms (asyncio) */
  unsigned executor_threads; /* 0 means the number of online cores */
} evl_loop_config;

void evl_loop_config_init(evl_loop_config *cfg);

/* cfg may be NULL. On error *out is NULL and nothing is left allocated.
 * cfg is read only up to cfg->size (EVL_HAS_FIELD); a size too small to
 * hold `size` itself, or a flag outside EVL_LOOP_FLAGS, is -EINVAL. */
int evl_loop_new(evl_loop **out, const evl_loop_config *cfg);
/* Why the last evl_loop_new() on this thread failed, in one line: the
 * loader's reason ("./x.so: missing symbol evl_backend_plugin (not an evlab
 * backend plugin)"), the probe's, or the config error; "" after a success.
 * Thread-local, like errno: valid until this thread's next evl_loop_new(). */
const char *evl_last_error(void);
/* -EBUSY while running; a second close returns 0. Releases every fd, thread,
 * signal disposition and byte except the small shell freed by
 * evl_loop_free(); every later call on the loop returns EVL_ECLOSED. */
int evl_loop_close(evl_loop *loop);
/* Closes if needed (not while running: returns -EBUSY, frees nothing). */
int evl_loop_free(evl_loop *loop);
/* In a child after fork(): makes the inherited loop the child's own (its
 * backend's kernel set, wakeup fd, signal pipe and executor pool are
 * rebuilt; watchers, timers and queued callbacks carry over), like libev's
 * ev_loop_fork and libuv's uv_loop_fork. Until then every call that would
 * touch the kernel returns EVL_EFORKED; evl_loop_close/free are always
 * allowed and never change the parent's registrations. 0 in a process that
 * did not inherit the loop. */
int evl_loop_after_fork(evl_loop *loop);

const char *evl_backend_name(const evl_loop *loop);

/* Scheduling. out may be NULL. Callbacks queued while a batch runs wait for
 * the next iteration (S1). Delays are measured from a fresh clock read. */
int evl_call_soon(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out);
int evl_call_later(evl_loop *loop, int64_t delay_ns, evl_cb cb, void *arg,
                   evl_handle *out);
int evl_call_at(evl_loop *loop, uint64_t when_ns, evl_cb cb, void *arg,
                evl_handle *out);
/* 0 when cancelled now; EVL_EHANDLE if it ran, was cancelled or is unknown. */
int evl_cancel(evl_loop *loop, evl_handle h);
/* Moves a pending timer to a new deadline, delay_ns from a fresh clock read
 * (negative: due now), keeping its handle: uv_timer_start on a running
 * timer, libev's ev_timer_again. It counts as scheduled now, as if
 * cancelled and added again (S15). 0; EVL_EHANDLE if it ran, started
 * running, was cancelled or is unknown; -EINVAL for a call_soon handle. */
int evl_timer_rearm(evl_loop *loop, evl_handle h, int64_t delay_ns);
/* The same with an absolute deadline, as evl_call_at. */
int evl_timer_rearm_at(evl_loop *loop, evl_handle h, uint64_t when_ns);
/* The only call (with evl_stop_threadsafe) allowed from another thread. */
int evl_call_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg);

/* I/O, level-triggered. Adding again replaces the callback. Remove returns
 * 1 if a watcher was there, 0 if not. -EBADF for a closed fd, -ERANGE for an
 * fd the backend cannot number (select: >= FD_SETSIZE), and the backend's
 * own error (epoll: -EPERM for a regular file) with nothing registered. */
int evl_add_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg);
int evl_remove_reader(evl_loop *loop, int fd);
int evl_add_writer(evl_loop *loop, int fd, evl_io_cb cb, void *arg);
int evl_remove_writer(evl_loop *loop, int fd);

/* Running. Nested runs and a second running loop on one thread: -EBUSY. */
int evl_run_forever(evl_loop *loop);
int evl_run_once(evl_loop *loop); /* exactly one iteration */
int evl_stop(evl_loop *loop);
int evl_stop_threadsafe(evl_loop *loop);
int evl_is_running(const evl_loop *loop);
evl_loop *evl_get_running_loop(void);

/* Monotonic nanoseconds: the loop's time is refreshed after every wait. */
uint64_t evl_time(const evl_loop *loop);
uint64_t evl_now(void); /* a fresh CLOCK_MONOTONIC read */

/* Errors and debugging (S10, S11). */
typedef struct evl_error_info {
  int code;             /* negative errno or EVL_E* */
  const char *context;  /* "callback", "backend wait", "slow callback", ... */
  const char *message;  /* may be NULL */
  int fd;               /* -1 when not about an fd */
  uint64_t duration_ns; /* slow-callback reports only */
} evl_error_info;
typedef void (*evl_error_handler)(const evl_error_info *info, void *arg);

/* NULL restores the default handler: one line on stderr. */
int evl_set_error_handler(evl_loop *loop, evl_error_handler h, void *arg);
int evl_report_error(evl_loop *loop, int code, const char *message);
void evl_default_error_handler(const evl_error_info *info, void *arg);
int evl_set_debug(evl_loop *loop, int on);
int evl_set_slow_callback_ns(evl_loop *loop, uint64_t ns);

typedef struct evl_loop_stats {
  uint64_t iterations; /* run-cycle iterations */
  uint64_t waits;      /* backend wait calls */
  uint64_t callbacks;  /* callbacks run (timers, soon, I/O) */
  uint64_t events;     /* events returned by the backend */
  uint64_t timers;     /* pending timers now */
  uint64_t fds;        /* fds registered now */
} evl_loop_stats;
int evl_loop_get_stats(const evl_loop *loop, evl_loop_stats *out);

/* Signals (S12): cb runs on the loop thread. -EINVAL for invalid numbers,
 * SIGKILL and SIGSTOP; -ENOTSUP for a valid number the loop cannot watch.
 * Remove returns 1 if a handler was there, else 0, and restores the disposition
 * found when the first handler was added. */
int evl_add_signal_handler(evl_loop *loop, int sig, evl_cb cb, void *arg);
int evl_remove_signal_handler(evl_loop *loop, int sig);

/* Futures (S13). A future belongs to one loop and is reference-counted:
 * evl_future_new() returns one reference, evl_future_release() drops it. */
typedef struct evl_future evl_future;
enum evl_future_state {
  EVL_FUTURE_PENDING = 0,
  EVL_FUTURE_DONE = 1,
  EVL_FUTURE_CANCELLED = 2,
};
typedef void (*evl_future_cb)(evl_future *f, void *arg);

int evl_future_new(evl_loop *loop, evl_future **out);
void evl_future_retain(evl_future *f);
void evl_future_release(evl_future *f);
evl_loop *evl_future_loop(const evl_future *f);
/* -EINVAL if already done or cancelled. Done-callbacks are scheduled with
 * call_soon, never run inside these calls. */
int evl_future_set_result(evl_future *f, void *result);
int evl_future_set_error(evl_future *f, int code);
/* 0 if it was pending and is now cancelled, else -EINVAL. */
int evl_future_cancel(evl_future *f);
int evl_future_state(const evl_future *f);
/* 0 with *result; the error code; -ECANCELED; -EAGAIN while pending. */
int evl_future_result(const evl_future *f, void **result);
int evl_future_add_done_callback(evl_future *f, evl_future_cb cb, void *arg);
/* Runs the loop until f is done; returns evl_future_result()'s status. */
int evl_run_until_complete(evl_loop *loop, evl_future *f);

/* Executor (S14): fn runs on a worker; its status and *result complete the
 * future on the loop thread (status < 0 sets the error). */
typedef int (*evl_work_fn)(void *arg, void **result);
int evl_run_in_executor(evl_loop *loop, evl_work_fn fn, void *arg,
                        evl_future **out);
/* Before the first job only; -EBUSY once the pool started. */
int evl_set_executor_threads(evl_loop *loop, unsigned n);

#ifdef __cplusplus
}
#endif
#endif
