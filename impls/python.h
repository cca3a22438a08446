/* python.h — what impls/python.c (the ops), python_life.c (the loop's
 * life) and python_rt.c (the embedded interpreter) share: the loop, the
 * callback object, the GIL. */
#ifndef EVL_IMPLS_PYTHON_H
#define EVL_IMPLS_PYTHON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <time.h>

#include "adapter.h"

#pragma GCC visibility push(hidden)

/* What a name asks for: asyncio over a selectors class, uvloop, or any
 * importable factory. */
enum { PYV_SELECTOR = 0, PYV_UVLOOP = 1, PYV_FACTORY = 2 };
/* Whose code the loop runs, which picks the declared deviations: asyncio's
 * SelectorEventLoop on epoll (or another selector), on selectors'
 * PollSelector or on its SelectSelector, or uvloop. */
enum {
  PYF_OTHER = 0,
  PYF_ASYNCIO = 1,
  PYF_UVLOOP = 2,
  PYF_ASYNCIO_POLL = 3,
  PYF_ASYNCIO_SELECT = 4
};
#define PYF_IS_ASYNCIO(f)                                                      \
  ((f) == PYF_ASYNCIO || (f) == PYF_ASYNCIO_POLL || (f) == PYF_ASYNCIO_SELECT)

typedef struct pyl_variant {
  int kind;
  char module[128];  /* PYV_FACTORY: module to import */
  char factory[128]; /* PYV_FACTORY: its attribute; PYV_SELECTOR: class */
  evl_impl_ops *ops; /* the table this variant's name resolved to */
} pyl_variant;

struct evl_loop {
  evl__adapter_base b; /* first: core/future.c and executor.c see the base */
  const pyl_variant *v;
  PyObject *loop; /* the Python event loop */
  /* Bound methods fetched once: the hot paths call them directly. */
  PyObject *m_soon, *m_later, *m_at, *m_ts, *m_time, *m_stop;
  PyObject *m_add_r, *m_add_w, *m_rm_r, *m_rm_w, *m_sig_add, *m_sig_rm;
  /* loop.time() minus CLOCK_MONOTONIC, in seconds: 0 for asyncio and
   * uvloop (both read CLOCK_MONOTONIC), measured for other loops. */
  double clock_off;
  double time_unit; /* nanoseconds per unit of loop.time(): 1e9 */
  PyObject *waits;  /* [select calls], or NULL: no selector to count */
  int family;
};

/* The C callable asyncio calls: one per scheduled callback, one per
 * reader/writer, signal, post. A scheduled callback's slot in b.slots owns
 * a reference to it, and it owns the asyncio handle its scheduling
 * returned (a cycle through the handle's callback until the callback runs
 * or is cancelled, when both references go). */
enum { PYCB_SOON, PYCB_TIMER, PYCB_POST, PYCB_READ, PYCB_WRITE, PYCB_SIG };
typedef struct pycb {
  PyObject_HEAD vectorcallfunc vc;
  evl_loop *loop;
  int kind, fd;
  evl_cb cb;
  evl_io_cb iocb;
  void *arg;
  evl_handle h;     /* 0 once run, cancelled or replaced by a re-arm */
  PyObject *handle; /* call_soon/call_later's handle while pending */
} pycb;

/* Starts the interpreter once per process (GIL released afterwards); 0 or
 * EVL_EPROBE with the reason in why. */
int pyrt_init(char *why, size_t len);
/* A new callback object (GIL held); NULL with a Python error set. */
pycb *pyrt_cb_new(evl_loop *loop, int kind);
/* Readies the callback objects' type (pyrt_init, once): 0 or -1. */
int pyrt_cb_ready(void);
/* The pending Python exception as -errno (clears it). */
int pyrt_error(void);
/* The same, with the exception's repr in msg. */
int pyrt_error_msg(char *msg, size_t len);
/* glue: make_loop(kind, module, name), family(loop), run_once(loop),
 * exc_handler, slow_on(loop) — see the Python text in python_rt.c. */
PyObject *pyrt_glue(const char *fn);
/* Runs the variant's probe in a forked child: the caller's process never
 * starts an interpreter for a probe. 0, or EVL_EPROBE with why. */
int pyrt_probe_fork(const pyl_variant *v, int *family, char *why, size_t len);

void pyl_report(evl_loop *loop, int code, const char *ctx, const char *msg,
                uint64_t dur_ns);

/* python_names.c: what the probe learnt of the loop's class picks the
 * deviations a py:MODULE:FACTORY table declares. */
void pyl_family_found(const pyl_variant *v, int family);
extern const evl_impl_ops pyl_template;

/* ---- what python.c, python_life.c and python_ext.c share ---- */
/* CLOCK_MONOTONIC in ns: a closed loop's time, and what a loop's own
 * clock is measured against. */
static inline uint64_t pyl_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Inherited through fork() and not yet made this process's own (S16). */
static inline int pyl_forked(const evl_loop *loop) {
  return loop->b.fork_gen !=
         __atomic_load_n(&evl__adapter_forks, __ATOMIC_RELAXED);
}

#define PYL_ENTER(loop)                                                        \
  int rc_ = pyl_check(loop);                                                   \
  if (rc_)                                                                     \
    return rc_;                                                                \
  PyGILState_STATE g_ = PyGILState_Ensure()
#define PYL_LEAVE() PyGILState_Release(g_)

static inline int pyl_check(const evl_loop *loop) {
  if (!loop)
    return -EINVAL;
  if (loop->b.closed)
    return EVL_ECLOSED;
  return pyl_forked(loop) ? EVL_EFORKED : 0; /* S16: loop_after_fork first */
}

/* A call's result: 0, or the Python error as -errno. Steals r. */
static inline int pyl_rc(PyObject *r) {
  if (!r)
    return pyrt_error();
  Py_DECREF(r);
  return 0;
}

/* Calls m(a, b), either may be NULL. uvloop 0.17 in debug mode records
 * the caller's stack with sys._getframe(), which raises when there is no
 * Python frame at all, as in a call from C (fixed upstream); a one-line
 * Python frame around the call is enough. */
static inline PyObject *pyl_call(const evl_loop *loop, PyObject *m, PyObject *a,
                                 PyObject *b) {
  if (loop->b.debug && loop->family == PYF_UVLOOP)
    return PyObject_CallFunctionObjArgs(pyrt_glue("framed"), m, a, b, NULL);
  return PyObject_CallFunctionObjArgs(m, a, b, NULL);
}

/* python_life.c: the ops table's life-cycle entries. */
int pyl_probe(const void *data, char *why, size_t len);
int pyl_loop_new(const void *data, const evl_impl_config *cfg, evl_loop **out);
int pyl_loop_close(evl_loop *loop);
int pyl_loop_free(evl_loop *loop);
int pyl_warmup(const void *data);

/* python_ext.c: signals, errors, debug and stats. */
int pyl_add_signal_handler(evl_loop *loop, int sig, evl_cb cb, void *arg);
int pyl_remove_signal_handler(evl_loop *loop, int sig);
int pyl_report_error(evl_loop *loop, int code, const char *message);
int pyl_configure(evl_loop *loop);
int pyl_set_debug(evl_loop *loop, int on);
int pyl_set_slow_callback_ns(evl_loop *loop, uint64_t ns);
int pyl_loop_stats(const evl_loop *loop, evl_loop_stats *out);

#pragma GCC visibility pop
#endif
