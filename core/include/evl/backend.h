/* backend.h — the selector ABI: what a poller implements for evlab's core. */
#ifndef EVL_BACKEND_H
#define EVL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "evl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change; the loader refuses other values. */
#define EVL_BACKEND_ABI 1

/* Capability bits. Tests, selection and benchmarks ask for bits, never for
 * names. X(name, bit, description). */
#define EVL_BACKEND_FEATURES(X)                                                \
  X(ET, 0, "edge-triggered interest (EVL_ET) is honoured")                     \
  X(O1, 1, "wait cost independent of the number of registered fds")            \
  X(FDS, 2, "pipes and ttys, not only sockets")                                \
  X(RDHUP, 3, "reports EVL_RDHUP when the peer shuts down its write side")     \
  X(ONESHOT, 4, "one-shot interest (EVL_ONESHOT) is honoured")                 \
  X(FORK_REINIT, 5, "after_fork() makes the state usable in a child")          \
  X(BATCHED, 6, "changes reach the kernel inside wait()")                      \
  X(WRAPPER, 7, "wraps another event library")                                 \
  X(FILES, 8, "regular files are accepted and always ready")                   \
  X(COMPLETION, 9, "shares its io_uring with a completion engine")

enum {
#define EVL__BF_ENUM(name, bit, text) EVL_BF_##name = 1u << (bit),
  EVL_BACKEND_FEATURES(EVL__BF_ENUM)
#undef EVL__BF_ENUM
};

/* One ready fd, as wait() reports it. */
typedef struct evl_event {
  int fd;
  uint32_t events; /* EVL_READ | EVL_WRITE | EVL_ERR | EVL_HUP | EVL_RDHUP */
} evl_event;

/* A completion engine (core/completion_uring.c) attached to a backend that
 * owns an io_uring (EVL_BF_COMPLETION): the engine puts its SQEs on the
 * backend's ring, the backend's wait() enters them together with its own
 * changes and the wait in one io_uring_enter, and the engine's CQEs go to
 * on_cqe. The engine's user_data is token << 32 | EVL_COMPLETION_UD_LOW
 * (token != 0); user_data 0 is ignored by both (cancel requests). */
#define EVL_COMPLETION_UD_LOW 0xfffffffeu
typedef struct evl_backend_completion {
  size_t size; /* sizeof(evl_backend_completion) */
  /* In. Called inside wait() (or pump) for each of the engine's CQEs; it
   * must not call into the loop. NULL detaches the engine. */
  void (*on_cqe)(void *ctx, uint32_t token, int32_t res, uint32_t flags);
  void *ctx;
  /* Out. ring: the backend's struct io_uring, valid while attached;
   * ring_size: sizeof(struct io_uring) in the liburing the backend was built
   * with (an engine built with another layout must not touch the ring). fd:
   * a number the backend reports EVL_READ on, in a wait that delivered
   * engine CQEs, while it is registered for EVL_READ; it is never polled. */
  void *ring;
  size_t ring_size;
  int fd;
  /* Out. Enters what is queued, waits until at least one CQE arrived and
   * delivers the engine's; the backend keeps its own for the next wait().
   * For an engine that must wait for its operations outside the loop's
   * wait (closing). 0 or -errno. */
  int (*pump)(void *state);
} evl_backend_completion;

typedef struct evl_backend_config {
  size_t size;      /* sizeof(evl_backend_config) */
  unsigned flags;   /* reserved, 0 */
  int expected_fds; /* a sizing hint; 0 if unknown */
} evl_backend_config;

/*
 * The ops table. Every field's contract is here and nowhere else.
 *
 * The core allocates state_size zeroed bytes and passes them to every call;
 * a backend keeps no global state. All functions return 0 or -errno unless
 * said otherwise; none prints, none aborts.
 */
typedef struct evl_backend_ops {
  uint32_t abi;     /* EVL_BACKEND_ABI */
  uint32_t size;    /* sizeof(evl_backend_ops) the plugin was built with */
  const char *name; /* short, unique: "epoll" */
  const char *description;
  uint32_t features;      /* EVL_BF_* */
  int fd_limit;           /* fds >= fd_limit are refused; 0 = no limit */
  uint64_t resolution_ns; /* timeout granularity: the core rounds up to it */
  size_t state_size;
  int priority; /* default choice: highest probing one > 0; 0 = only by name */

  /* Is it usable here and now (kernel, seccomp, library)? 0, or -errno with
   * a one-line reason in why[len]. Optional: NULL means always usable. */
  int (*probe)(char *why, size_t len);
  int (*init)(void *state, const evl_backend_config *cfg);
  void (*fini)(void *state); /* releases everything init and ctl took */
  /* Add (old 0), modify, or delete (new 0) interest in EVL_READ|EVL_WRITE
   * (plus EVL_ET / EVL_ONESHOT where featured). Deleting an fd that is not
   * registered returns -ENOENT. A refused add leaves nothing registered. */
  int (*ctl)(void *state, int fd, unsigned old_mask, unsigned new_mask);
  /* Fill out[0..cap) with ready fds, at most one entry per fd; return the
   * count or -errno. timeout_ns < 0 blocks until an event or wake(); 0 never
   * blocks; otherwise returns no earlier than timeout_ns when nothing is
   * ready. EINTR is 0 events, not an error (or -EINTR: the core then
   * resumes the wait for the time left within the same iteration). Reported
   * bits are within the registered interest plus EVL_ERR/EVL_HUP/EVL_RDHUP; ERR
   * and HUP come together with the registered READ/WRITE bits. */
  int (*wait)(void *state, int64_t timeout_ns, evl_event *out, int cap);

  /* Optional. The fd is about to be closed: drop any reference to it. */
  int (*forget_fd)(void *state, int fd);
  /* Optional (EVL_BF_FORK_REINIT): rebuild kernel objects in a child. */
  int (*after_fork)(void *state);
  /* Optional: make a blocked wait() return; callable from any thread. */
  int (*wake)(void *state);
  /* Optional (EVL_BF_COMPLETION; read only when `size` covers it): attach
   * the completion engine c (c->on_cqe NULL: detach), filling c's outputs.
   * One engine at a time: -EBUSY while another is attached. */
  int (*completion)(void *state, evl_backend_completion *c);
} evl_backend_ops;

/* Oldest table size the loader accepts: every field up to and including
 * wait. */
#define EVL_BACKEND_OPS_MIN_SIZE                                               \
  (offsetof(evl_backend_ops, wait) + sizeof(void *))

/* What a backend plugin (.so) exports. */
typedef const evl_backend_ops *(*evl_backend_plugin_fn)(void);
const evl_backend_ops *evl_backend_plugin(void);

/* Registry: built-in backends and module or plugin paths. */
typedef struct evl_backend_info {
  const char *name;
  const evl_backend_ops *ops; /* NULL when not built or not loadable */
  int status;                 /* 0 usable; EVL_EPROBE, EVL_ENOBACKEND, ... */
  char why[160];              /* reason when status != 0 */
} evl_backend_info;

/* Resolve a name ("epoll") or a path ("./mine.so"). Validates the table
 * (ABI, size, required functions); err[len] gets one line on failure. */
int evl_backend_lookup(const char *name_or_path, const evl_backend_ops **out,
                       char *err, size_t len);
/* Run the backend's probe. */
int evl_backend_probe(const evl_backend_ops *ops, char *why, size_t len);
/* The built-in and module names in preference order, NULL-terminated. */
const char *const *evl_backend_names(void);
/* The default: $EVL_BACKEND if set, else the highest-priority that probes. */
int evl_backend_default(const evl_backend_ops **out, char *err, size_t len);
/* Check a table as the loader does. */
int evl_backend_validate(const evl_backend_ops *ops, char *err, size_t len);
/* "ET,O1,FDS" into buf. */
const char *evl_backend_features_str(uint32_t features, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
