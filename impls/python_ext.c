/* python_ext.c — impls/python.c's optional parts on the Python loop:
 * signals, the error handler, debug mode and loop statistics. */
#include <errno.h>

#include "python.h"

/* ---- signals ------------------------------------------------------------ */
int pyl_add_signal_handler(evl_loop *loop, int sig, evl_cb cb, void *arg) {
  if (!cb)
    return loop ? (loop->b.closed ? EVL_ECLOSED : -EINVAL) : -EINVAL;
  PYL_ENTER(loop);
  int rc;
  pycb *c = pyrt_cb_new(loop, PYCB_SIG);
  if (!c) {
    rc = pyrt_error();
  } else {
    c->cb = cb;
    c->arg = arg;
    PyObject *n = PyLong_FromLong(sig);
    rc = n ? pyl_rc(pyl_call(loop, loop->m_sig_add, n, (PyObject *)c))
           : pyrt_error();
    Py_XDECREF(n);
    Py_DECREF(c);
  }
  PYL_LEAVE();
  return rc;
}

int pyl_remove_signal_handler(evl_loop *loop, int sig) {
  PYL_ENTER(loop);
  PyObject *r = PyObject_CallFunction(loop->m_sig_rm, "i", sig);
  int rc = r ? PyObject_IsTrue(r) : pyrt_error();
  Py_XDECREF(r);
  PYL_LEAVE();
  return rc;
}

/* ---- errors and debug --------------------------------------------------- */
/* report_error goes through asyncio's call_exception_handler, whose
 * handler (python_rt.c) hands the context to the evlab error handler. */
int pyl_report_error(evl_loop *loop, int code, const char *message) {
  PYL_ENTER(loop);
  int rc = -ENOMEM;
  PyObject *cap = PyCapsule_New(loop, "evl_loop", NULL);
  PyObject *ctx =
      cap ? Py_BuildValue("{s:s,s:i,s:O}", "message", message ? message : "",
                          "evl_code", code, "evl_loop", cap)
          : NULL;
  if (ctx)
    rc = pyl_rc(
        PyObject_CallMethod(loop->loop, "call_exception_handler", "O", ctx));
  else
    rc = pyrt_error();
  Py_XDECREF(ctx);
  Py_XDECREF(cap);
  PYL_LEAVE();
  return rc;
}

int pyl_configure(evl_loop *loop) {
  PyObject *r =
      PyObject_CallFunction(pyrt_glue("configure"), "Oid", loop->loop,
                            loop->b.debug, (double)loop->b.slow_ns / 1e9);
  return pyl_rc(r);
}

int pyl_set_debug(evl_loop *loop, int on) {
  PYL_ENTER(loop);
  loop->b.debug = on != 0;
  int rc = pyl_configure(loop);
  PYL_LEAVE();
  return rc;
}

int pyl_set_slow_callback_ns(evl_loop *loop, uint64_t ns) {
  PYL_ENTER(loop);
  loop->b.slow_ns = ns ? ns : 100000000ull;
  int rc = pyl_configure(loop);
  PYL_LEAVE();
  return rc;
}

/* STATS, on loops with a selector (asyncio's): one select per _run_once,
 * so iterations and waits are both the selector's select calls, counted
 * by a wrapper the glue puts on the loop's selector. */
int pyl_loop_stats(const evl_loop *loop, evl_loop_stats *out) {
  if (!loop)
    return -EINVAL; /* before &loop->b, which is undefined for NULL */
  /* Stats are this adapter's, not the Python loop's: the adapter applies
   * debug mode's foreign-thread refusal to them itself (S11). */
  int rc = evl__adapter_check(&loop->b);
  if (rc)
    return rc;
  if (!out)
    return -EINVAL;
  if (!loop->waits)
    return -ENOTSUP;
  PyGILState_STATE g = PyGILState_Ensure();
  unsigned long long w =
      PyLong_AsUnsignedLongLong(PyList_GET_ITEM(loop->waits, 0));
  PyErr_Clear();
  PyGILState_Release(g);
  *out = loop->b.st;
  out->iterations = out->waits = w;
  out->timers = loop->b.ntimers;
  out->fds = loop->b.nfds;
  return 0;
}
