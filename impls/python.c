/* python.c — evlab's loop API run by a Python event loop in an embedded
 * CPython: asyncio's SelectorEventLoop (py-asyncio*), uvloop (py-uvloop) or
 * any importable loop factory (py:MODULE:FACTORY). Here the ops that
 * schedule, watch fds, run and post, and the table; the loop's life (new,
 * fork, close) is in python_life.c. */
#include <errno.h>
#include <math.h>

#include "python.h"

/*
 * Every entry point takes the GIL with PyGILState_Ensure, from whatever
 * thread, and gives it back before returning; the loop thread gives it up
 * while it waits in the selector (asyncio and uvloop both do) and around
 * every C callback (python_rt.c), so C threads can always post.
 *
 * Futures and run_in_executor are evlab's own (core/future.c and
 * core/executor.c, as in the native adapters), driven through this loop's
 * call_soon, call_soon_threadsafe, run_forever and stop, i.e. through
 * asyncio's: an evl_future must outlive loop_close and be released from
 * any thread, which an asyncio.Future (a Python object of the loop) is not.
 */

/* ---- scheduling --------------------------------------------------------- */
/* Schedules c with method(first?, c) and keeps the asyncio handle it
 * returns in c, so cancel and rearm can find it. 0 or -errno. */
static int pyl_arm(evl_loop *loop, PyObject *method, PyObject *first, pycb *c) {
  PyObject *h = first ? pyl_call(loop, method, first, (PyObject *)c)
                      : pyl_call(loop, method, (PyObject *)c, NULL);
  if (!h)
    return pyrt_error();
  c->handle = h;
  return 0;
}

/* A callback object in a slot, so cancel can find it and knows whether it
 * already ran (S4); the slot keeps the reference pyrt_cb_new made. */
static int pyl_schedule(evl_loop *loop, PyObject *method, PyObject *first,
                        int kind, evl_cb cb, void *arg, evl_handle *out) {
  pycb *c = pyrt_cb_new(loop, kind);
  if (!c)
    return pyrt_error();
  c->cb = cb;
  c->arg = arg;
  int rc = evl__adapter_slot_alloc(&loop->b.slots,
                                   kind == PYCB_TIMER ? EVL__ADAPTER_SLOT_TIMER
                                                      : EVL__ADAPTER_SLOT_SOON,
                                   c, &c->h);
  if (rc < 0) {
    Py_DECREF(c);
    return rc;
  }
  if ((rc = pyl_arm(loop, method, first, c)) < 0) {
    evl__adapter_slot_free(&loop->b.slots, c->h);
    Py_DECREF(c);
    return rc;
  }
  if (kind == PYCB_TIMER)
    loop->b.ntimers++;
  if (out)
    *out = c->h;
  return 0;
}

/* Cancels c's asyncio handle and drops c (the slot's reference). */
static int pyl_unarm(pycb *c) {
  PyObject *handle = c->handle;
  c->handle = NULL;
  c->h = 0;
  int rc = handle ? pyl_rc(PyObject_CallMethod(handle, "cancel", NULL)) : 0;
  Py_XDECREF(handle);
  Py_DECREF(c);
  return rc;
}

static int pyl_call_soon(evl_loop *loop, evl_cb cb, void *arg,
                         evl_handle *out) {
  if (!cb)
    return loop ? (loop->b.closed ? EVL_ECLOSED : -EINVAL) : -EINVAL;
  PYL_ENTER(loop);
  int rc = pyl_schedule(loop, loop->m_soon, NULL, PYCB_SOON, cb, arg, out);
  PYL_LEAVE();
  return rc;
}

/* A deadline in the loop's clock, rounded up so it is never early. */
static double pyl_when(const evl_loop *loop, uint64_t when_ns) {
  double w = (double)when_ns / loop->time_unit + loop->clock_off;
  return nextafter(w, INFINITY);
}

static int pyl_call_later(evl_loop *loop, int64_t delay_ns, evl_cb cb,
                          void *arg, evl_handle *out) {
  if (!cb)
    return loop ? (loop->b.closed ? EVL_ECLOSED : -EINVAL) : -EINVAL;
  PYL_ENTER(loop);
  /* The contract's negative delay is "due now" (S2): asyncio's 0. */
  PyObject *d = PyFloat_FromDouble(delay_ns > 0 ? (double)delay_ns / 1e9 : 0);
  int rc = d ? pyl_schedule(loop, loop->m_later, d, PYCB_TIMER, cb, arg, out)
             : pyrt_error();
  Py_XDECREF(d);
  PYL_LEAVE();
  return rc;
}

static int pyl_call_at(evl_loop *loop, uint64_t when_ns, evl_cb cb, void *arg,
                       evl_handle *out) {
  if (!cb)
    return loop ? (loop->b.closed ? EVL_ECLOSED : -EINVAL) : -EINVAL;
  PYL_ENTER(loop);
  PyObject *w = PyFloat_FromDouble(pyl_when(loop, when_ns));
  int rc = w ? pyl_schedule(loop, loop->m_at, w, PYCB_TIMER, cb, arg, out)
             : pyrt_error();
  Py_XDECREF(w);
  PYL_LEAVE();
  return rc;
}

static int pyl_cancel(evl_loop *loop, evl_handle h) {
  PYL_ENTER(loop);
  int rc = EVL_EHANDLE;
  evl__adapter_slot *sl = evl__adapter_slot_get(&loop->b.slots, h);
  if (sl && sl->u.ptr) {
    pycb *c = sl->u.ptr;
    if (sl->kind == EVL__ADAPTER_SLOT_TIMER)
      loop->b.ntimers--;
    evl__adapter_slot_free(&loop->b.slots, h);
    rc = pyl_unarm(c);
  }
  PYL_LEAVE();
  return rc;
}

/* S15 on a loop that has no re-arm: a new call_later/call_at for the same
 * callback, then the old handle's cancel; the slot, and so the evl handle,
 * stays. The new one is scheduled first, so a failure changes nothing; the
 * old callback object is disowned (h 0), so it does nothing if its handle
 * was already past cancelling. */
static int pyl_rearm_m(evl_loop *loop, evl_handle h, PyObject *method,
                       PyObject *when) {
  evl__adapter_slot *sl = evl__adapter_slot_get(&loop->b.slots, h);
  if (!sl || !sl->u.ptr)
    return EVL_EHANDLE;
  if (sl->kind != EVL__ADAPTER_SLOT_TIMER)
    return -EINVAL;
  if (!when)
    return pyrt_error();
  pycb *old = sl->u.ptr, *c = pyrt_cb_new(loop, PYCB_TIMER);
  if (!c)
    return pyrt_error();
  c->cb = old->cb;
  c->arg = old->arg;
  c->h = h;
  int rc = pyl_arm(loop, method, when, c);
  if (rc < 0) {
    Py_DECREF(c);
    return rc;
  }
  sl->u.ptr = c;
  pyl_unarm(old); /* asyncio's and uvloop's cancel cannot fail */
  return 0;
}

static int pyl_rearm(evl_loop *loop, evl_handle h, int64_t delay_ns) {
  PYL_ENTER(loop);
  PyObject *d = PyFloat_FromDouble(delay_ns > 0 ? (double)delay_ns / 1e9 : 0);
  int rc = pyl_rearm_m(loop, h, loop->m_later, d);
  Py_XDECREF(d);
  PYL_LEAVE();
  return rc;
}

static int pyl_rearm_at(evl_loop *loop, evl_handle h, uint64_t when_ns) {
  PYL_ENTER(loop);
  PyObject *w = PyFloat_FromDouble(pyl_when(loop, when_ns));
  int rc = pyl_rearm_m(loop, h, loop->m_at, w);
  Py_XDECREF(w);
  PYL_LEAVE();
  return rc;
}

/* ---- I/O ---------------------------------------------------------------- */
/* Sets or clears bit in fd's record of what was added; returns whether
 * the bit was set before (or -ENOMEM when the table cannot grow). */
static int pyl_mark(evl_loop *loop, int fd, int bit, int on) {
  evl__adapter_base *b = &loop->b;
  if (fd >= b->fds_cap) {
    if (!on)
      return 0;
    int rc = evl__adapter_fds_reserve(b, fd);
    if (rc < 0)
      return rc;
  }
  uintptr_t v = (uintptr_t)b->fds[fd];
  int had = (v & (uintptr_t)bit) != 0;
  v = on ? v | (uintptr_t)bit : v & ~(uintptr_t)bit;
  b->nfds += (v != 0) - ((uintptr_t)b->fds[fd] != 0);
  b->fds[fd] = (void *)v;
  return had;
}

static int pyl_add(evl_loop *loop, int fd, int kind, evl_io_cb cb, void *arg) {
  if (!cb)
    return loop ? (loop->b.closed ? EVL_ECLOSED : -EINVAL) : -EINVAL;
  if (fd < 0)
    return loop ? (loop->b.closed ? EVL_ECLOSED : -EBADF) : -EINVAL;
  PYL_ENTER(loop);
  int rc;
  pycb *c = pyrt_cb_new(loop, kind);
  if (!c) {
    rc = pyrt_error();
  } else {
    c->fd = fd;
    c->iocb = cb;
    c->arg = arg;
    PyObject *m = kind == PYCB_READ ? loop->m_add_r : loop->m_add_w;
    PyObject *f = PyLong_FromLong(fd);
    rc = f ? pyl_rc(pyl_call(loop, m, f, (PyObject *)c)) : pyrt_error();
    Py_XDECREF(f);
    Py_DECREF(c);
    if (rc == 0 && (rc = pyl_mark(loop, fd, kind == PYCB_READ ? 1 : 2, 1)) > 0)
      rc = 0;
  }
  PYL_LEAVE();
  return rc;
}

static int pyl_remove_m(evl_loop *loop, int fd, int write) {
  if (fd < 0)
    return loop ? (loop->b.closed ? EVL_ECLOSED : -EBADF) : -EINVAL;
  PYL_ENTER(loop);
  PyObject *r =
      PyObject_CallFunction(write ? loop->m_rm_w : loop->m_rm_r, "i", fd);
  int had = pyl_mark(loop, fd, write ? 2 : 1, 0);
  /* uvloop 0.17's remove_reader/remove_writer drop the bool asyncio
   * returns (they return None): then what this adapter added says. */
  int rc = !r ? pyrt_error() : r == Py_None ? had : PyObject_IsTrue(r);
  Py_XDECREF(r);
  PYL_LEAVE();
  return rc;
}

static int pyl_add_reader(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return pyl_add(loop, fd, PYCB_READ, cb, arg);
}
static int pyl_add_writer(evl_loop *loop, int fd, evl_io_cb cb, void *arg) {
  return pyl_add(loop, fd, PYCB_WRITE, cb, arg);
}
static int pyl_remove_reader(evl_loop *loop, int fd) {
  return pyl_remove_m(loop, fd, 0);
}
static int pyl_remove_writer(evl_loop *loop, int fd) {
  return pyl_remove_m(loop, fd, 1);
}

/* ---- running ------------------------------------------------------------ */
static int pyl_run(evl_loop *loop, int once) {
  int rc = evl__adapter_run_begin(loop);
  if (rc)
    return rc;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *m = once ? pyrt_glue("run_once")
                     : PyObject_GetAttrString(loop->loop, "run_forever");
  PyObject *r = !m     ? NULL
                : once ? PyObject_CallOneArg(m, loop->loop)
                       : pyl_call(loop, m, NULL, NULL);
  if (!once)
    Py_XDECREF(m);
  /* An exception out of run_forever (a failing select, say) ends the run:
   * the error handler hears of it once and run returns its code (S10). */
  char msg[200];
  rc = r ? 0 : pyrt_error_msg(msg, sizeof msg);
  Py_XDECREF(r);
  if (rc < 0)
    pyl_report(loop, rc, "run", msg, 0);
  PyGILState_Release(g);
  evl__adapter_run_leave(&loop->b);
  return rc;
}

static int pyl_run_forever(evl_loop *loop) {
  return pyl_run(loop, 0);
}

static int pyl_run_once(evl_loop *loop) {
  return pyl_run(loop, 1);
}

static int pyl_stop(evl_loop *loop) {
  PYL_ENTER(loop);
  int rc = pyl_rc(pyl_call(loop, loop->m_stop, NULL, NULL));
  PYL_LEAVE();
  return rc;
}

static uint64_t pyl_time(const evl_loop *loop) {
  if (!loop || loop->b.closed)
    return pyl_mono();
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *r = PyObject_CallNoArgs(loop->m_time);
  double t = r ? PyFloat_AsDouble(r) : -1;
  Py_XDECREF(r);
  PyErr_Clear();
  PyGILState_Release(g);
  t = (t - loop->clock_off) * loop->time_unit;
  return t > 0 ? (uint64_t)t : 0;
}

static const char *pyl_backend_name(const evl_loop *loop) {
  return loop && loop->v ? loop->v->ops->name : "python";
}

/* ---- threads ------------------------------------------------------------ */
static int pyl_post(evl_loop *loop, evl_cb cb, void *arg, int stop) {
  if (!loop)
    return -EINVAL;
  if (!cb && !stop)
    return loop->b.closed ? EVL_ECLOSED : -EINVAL;
  /* ts_lock orders posts against close: once close has taken it, no post
   * reaches the Python loop. The GIL is taken inside it, never the other
   * way round (close takes ts_lock without the GIL). */
  pthread_mutex_lock(&loop->b.ts_lock);
  int rc = EVL_ECLOSED;
  if (!loop->b.ts_closed) {
    PyGILState_STATE g = PyGILState_Ensure();
    if (stop) {
      rc = pyl_rc(pyl_call(loop, loop->m_ts, loop->m_stop, NULL));
    } else {
      pycb *c = pyrt_cb_new(loop, PYCB_POST);
      if (c) {
        c->cb = cb;
        c->arg = arg;
        rc = pyl_rc(pyl_call(loop, loop->m_ts, (PyObject *)c, NULL));
        Py_DECREF(c);
      } else {
        rc = pyrt_error();
      }
    }
    PyGILState_Release(g);
  }
  pthread_mutex_unlock(&loop->b.ts_lock);
  return rc;
}

static int pyl_call_soon_threadsafe(evl_loop *loop, evl_cb cb, void *arg) {
  return pyl_post(loop, cb, arg, 0);
}

static int pyl_stop_threadsafe(evl_loop *loop) {
  return pyl_post(loop, NULL, NULL, 1);
}

/* Every variant's table is a copy of this one with its name, data and
 * deviations (python_names.c). */
const evl_impl_ops pyl_template = {
    .abi = EVL_IMPL_ABI,
    .size = sizeof(evl_impl_ops),
    .features = EVL_IF_THREADSAFE | EVL_IF_DEBUG | EVL_IF_ERRORS |
                EVL_IF_RUNNING | EVL_IF_FUTURES | EVL_IF_SIGNALS |
                EVL_IF_EXECUTOR | EVL_IF_REARM,
    .probe = pyl_probe,
    .loop_new = pyl_loop_new,
    .loop_close = pyl_loop_close,
    .loop_free = pyl_loop_free,
    .backend_name = pyl_backend_name,
    .call_soon = pyl_call_soon,
    .call_later = pyl_call_later,
    .call_at = pyl_call_at,
    .cancel = pyl_cancel,
    .add_reader = pyl_add_reader,
    .remove_reader = pyl_remove_reader,
    .add_writer = pyl_add_writer,
    .remove_writer = pyl_remove_writer,
    .run_forever = pyl_run_forever,
    .run_once = pyl_run_once,
    .stop = pyl_stop,
    .is_running = evl__adapter_is_running,
    .time = pyl_time,
    .call_soon_threadsafe = pyl_call_soon_threadsafe,
    .stop_threadsafe = pyl_stop_threadsafe,
    .get_running_loop = evl__adapter_get_running_loop,
    .set_error_handler = evl__adapter_set_error_handler,
    .report_error = pyl_report_error,
    .set_debug = pyl_set_debug,
    .set_slow_callback_ns = pyl_set_slow_callback_ns,
    .add_signal_handler = pyl_add_signal_handler,
    .remove_signal_handler = pyl_remove_signal_handler,
    .future_new = evl_future_new,
    .future_retain = evl_future_retain,
    .future_release = evl_future_release,
    .future_set_result = evl_future_set_result,
    .future_set_error = evl_future_set_error,
    .future_cancel = evl_future_cancel,
    .future_state = evl_future_state,
    .future_result = evl_future_result,
    .future_add_done_callback = evl_future_add_done_callback,
    .run_until_complete = evl_run_until_complete,
    .run_in_executor = evl_run_in_executor,
    .loop_stats = pyl_loop_stats,
    .warmup = pyl_warmup,
    .rearm = pyl_rearm,
    .rearm_at = pyl_rearm_at,
    .loop_after_fork = evl__adapter_loop_after_fork,
};
