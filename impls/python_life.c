/* python_life.c — a py loop's life: made by its variant's factory in the
 * embedded interpreter and set up, made a forked child's own, closed and
 * freed; the probe and the warm-up. The ops that run it are in python.c. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "python.h"

/* Only alloc, fini and after-fork of the adapter base are used: the
 * Python loop has its own queues, timers, wakeup and signal handlers. */
static int pyl_after_fork(evl_loop *loop);
static const evl__adapter_hooks pyl_hooks = {.after_fork = pyl_after_fork};

/* ---- life cycle --------------------------------------------------------- */
static void pyl_drop_refs(evl_loop *loop) {
  PyObject **m[] = {&loop->m_soon,  &loop->m_later,   &loop->m_at,
                    &loop->m_ts,    &loop->m_time,    &loop->m_stop,
                    &loop->m_add_r, &loop->m_add_w,   &loop->m_rm_r,
                    &loop->m_rm_w,  &loop->m_sig_add, &loop->m_sig_rm};
  for (size_t i = 0; i < sizeof m / sizeof *m; i++)
    Py_CLEAR(*m[i]);
  for (uint32_t i = 0; i < loop->b.slots.len; i++) {
    evl__adapter_slot *sl = &loop->b.slots.v[i];
    pycb *c = sl->kind != EVL__ADAPTER_SLOT_FREE ? sl->u.ptr : NULL;
    if (c) {
      Py_CLEAR(c->handle); /* the cycle through the handle */
      Py_DECREF(c);
      sl->u.ptr = NULL;
    }
  }
  Py_CLEAR(loop->waits);
  Py_CLEAR(loop->loop);
}

/* S16, on asyncio's SelectorEventLoop: the glue's after_fork gives the
 * child a selector and self-pipe of its own. Other loops have no way to
 * (uvloop keeps libuv's epoll fd and offers no uv_loop_fork). */
static int pyl_after_fork(evl_loop *loop) {
  if (!PYF_IS_ASYNCIO(loop->family))
    return -ENOTSUP;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *w = PyObject_CallOneArg(pyrt_glue("after_fork"), loop->loop);
  int rc = w ? 0 : pyrt_error();
  if (w) {
    Py_CLEAR(loop->waits);
    if (w != Py_None)
      loop->waits = w;
    else
      Py_DECREF(w);
  }
  PyGILState_Release(g);
  return rc;
}

int pyl_loop_close(evl_loop *loop) {
  if (!loop)
    return 0;
  if (loop->b.running)
    return -EBUSY;
  if (loop->b.closed)
    return 0;
  /* An inherited loop is made the child's own first, so its close touches
   * nothing of the parent's; where that is not possible the Python loop
   * is left as it is, unclosed (its close would take the parent's
   * watchers out of the shared kernel set). */
  int orphan = 0;
  if (pyl_forked(loop) && evl__adapter_loop_after_fork(loop) < 0) {
    evl__executor_after_fork(loop); /* no worker exists in the child */
    loop->b.fork_gen = __atomic_load_n(&evl__adapter_forks, __ATOMIC_RELAXED);
    orphan = 1;
  }
  /* Executor workers post through call_soon_threadsafe: join them first,
   * without the GIL, which the posts need. */
  evl__adapter_run_closers(&loop->b);
  evl__adapter_posts_close(&loop->b);
  loop->b.closed = 1;
  if (orphan) {
    evl__adapter_base_fini(&loop->b);
    return 0;
  }
  PyGILState_STATE g = PyGILState_Ensure();
  /* close drops what is queued (runs nothing, S8), its selector, self-pipe
   * and signal handlers. */
  int rc = pyl_rc(PyObject_CallMethod(loop->loop, "close", NULL));
  if (rc < 0)
    evl__adapter_report(&loop->b, rc, "loop close", "the Python loop's close()",
                        -1, 0);
  pyl_drop_refs(loop);
  PyGILState_Release(g);
  evl__adapter_base_fini(&loop->b);
  return 0;
}

int pyl_loop_free(evl_loop *loop) {
  if (!loop)
    return 0;
  int rc = pyl_loop_close(loop);
  if (rc < 0)
    return rc;
  evl__adapter_base_destroy(&loop->b);
  free(loop);
  return 0;
}

static int pyl_setup(evl_loop *loop) {
  const pyl_variant *v = loop->v;
  loop->loop = PyObject_CallFunction(pyrt_glue("make_loop"), "iss", v->kind,
                                     v->module, v->factory);
  if (!loop->loop)
    return pyrt_error();
  struct {
    PyObject **slot;
    const char *name;
  } m[] = {
      {&loop->m_soon, "call_soon"},
      {&loop->m_later, "call_later"},
      {&loop->m_at, "call_at"},
      {&loop->m_ts, "call_soon_threadsafe"},
      {&loop->m_time, "time"},
      {&loop->m_stop, "stop"},
      {&loop->m_add_r, "add_reader"},
      {&loop->m_add_w, "add_writer"},
      {&loop->m_rm_r, "remove_reader"},
      {&loop->m_rm_w, "remove_writer"},
      {&loop->m_sig_add, "add_signal_handler"},
      {&loop->m_sig_rm, "remove_signal_handler"},
  };
  for (size_t i = 0; i < sizeof m / sizeof *m; i++)
    if (!(*m[i].slot = PyObject_GetAttrString(loop->loop, m[i].name)))
      return pyrt_error();
  loop->waits = PyObject_CallOneArg(pyrt_glue("count_waits"), loop->loop);
  if (!loop->waits)
    return pyrt_error();
  if (loop->waits == Py_None)
    Py_CLEAR(loop->waits);
  int rc = pyl_rc(PyObject_CallMethod(loop->loop, "set_exception_handler", "O",
                                      pyrt_glue("exc_handler")));
  if (rc == 0)
    rc = pyl_configure(loop);
  if (rc)
    return rc;
  PyObject *fam = PyObject_CallOneArg(pyrt_glue("family"), loop->loop);
  loop->family = fam ? (int)PyLong_AsLong(fam) : PYF_OTHER;
  Py_XDECREF(fam);
  if (PyErr_Occurred())
    return pyrt_error();
  /* asyncio reads time.monotonic() and uvloop libuv's uv_now(): both
   * CLOCK_MONOTONIC in seconds. Another loop's clock is measured once. */
  loop->time_unit = 1e9;
  PyObject *t = PyObject_CallNoArgs(loop->m_time);
  double now = t ? PyFloat_AsDouble(t) : 0;
  Py_XDECREF(t);
  if (PyErr_Occurred())
    return pyrt_error();
  double off = now - (double)pyl_mono() / 1e9;
  loop->clock_off = fabs(off) < 0.5 ? 0 : off;
  return 0;
}

int pyl_loop_new(const void *data, const evl_impl_config *cfg, evl_loop **out) {
  if (!out || !data)
    return -EINVAL;
  *out = NULL;
  const pyl_variant *v = data;
  int rc = pyrt_init(NULL, 0);
  if (rc)
    return rc;
  evl_loop *loop;
  if ((rc = evl__adapter_loop_alloc(sizeof *loop, v->ops, &pyl_hooks, cfg,
                                    &loop)) < 0)
    return rc;
  loop->v = v;
  PyGILState_STATE g = PyGILState_Ensure();
  rc = pyl_setup(loop);
  if (rc < 0) {
    if (loop->loop) {
      PyObject *r = PyObject_CallMethod(loop->loop, "close", NULL);
      Py_XDECREF(r);
      PyErr_Clear();
    }
    pyl_drop_refs(loop);
    /* The exception is gone by now, and with it the frames that held the
     * half-built loop: collect its cycles, so its fds close before this
     * returns (S8: a failed loop_new leaves nothing behind). */
    PyGC_Collect();
  }
  PyGILState_Release(g);
  if (rc < 0) {
    evl__adapter_loop_discard(loop);
    return rc;
  }
  /* A factory's table learns its family here too when no probe ran in
   * this process (a test child: the warm-up loop comes first). */
  pyl_family_found(v, loop->family);
  *out = loop;
  return 0;
}

int pyl_probe(const void *data, char *why, size_t len) {
  const pyl_variant *v = data;
  int family = PYF_OTHER;
  int rc = pyrt_probe_fork(v, &family, why, len);
  if (rc == 0)
    pyl_family_found(v, family);
  return rc;
}

/* The interpreter, with the modules it imported, is this module's
 * once-per-process state: started here, it is in the leak checks'
 * baseline, and a loop's close gives back exactly what the loop took. */
int pyl_warmup(const void *data) {
  (void)data;
  return pyrt_init(NULL, 0);
}
