/* python_cb.c — the C callable asyncio calls back: one object per
 * scheduled callback, watcher, post or signal of an evl_loop run by a
 * Python loop, which runs the C callback with the GIL released and keeps
 * the loop's slot and counts (S4: a cancelled or re-armed-away handle that
 * is called anyway still runs, so a loop's ignored cancel is seen). */
#include <stddef.h>

#include "python.h"

static void pyrt_invoke(evl_loop *loop, evl_cb cb, void *arg) {
  loop->b.st.callbacks++;
  /* The GIL is let go while C runs: a callback may wait for a thread that
   * posts (which needs the GIL), or join executor workers. */
  PyThreadState *ts = PyEval_SaveThread();
  cb(arg);
  PyEval_RestoreThread(ts);
}

static PyObject *pyrt_cb_call(PyObject *self, PyObject *const *args,
                              size_t nargsf, PyObject *kw) {
  (void)args;
  (void)nargsf;
  (void)kw;
  pycb *c = (pycb *)self;
  evl_loop *loop = c->loop;
  if (loop->b.closed)
    Py_RETURN_NONE;
  switch (c->kind) {
  case PYCB_SOON:
  case PYCB_TIMER: {
    evl__adapter_slot *sl = evl__adapter_slot_get(&loop->b.slots, c->h);
    /* Disowned (h 0): cancelled, re-armed away from (a new callback
     * object holds the slot), or already run. asyncio and uvloop never
     * call such a handle; a loop that does (its cancel ignored, say) is
     * not hidden: the callback runs, as it would on a C loop with that
     * bug, and the test that cancelled it sees it (S4). */
    if (!sl || sl->u.ptr != c) {
      pyrt_invoke(loop, c->cb, c->arg);
      Py_RETURN_NONE;
    }
    evl__adapter_slot_free(&loop->b.slots, c->h);
    if (c->kind == PYCB_TIMER)
      loop->b.ntimers--;
    c->h = 0;
    /* The handle runs this call: its and the slot's references go only
     * once the callback is back. */
    PyObject *handle = c->handle;
    c->handle = NULL;
    pyrt_invoke(loop, c->cb, c->arg);
    Py_XDECREF(handle);
    Py_DECREF(c);
    break;
  }
  case PYCB_POST:
  case PYCB_SIG:
    pyrt_invoke(loop, c->cb, c->arg);
    break;
  case PYCB_READ:
  case PYCB_WRITE: {
    loop->b.st.callbacks++;
    loop->b.st.events++;
    PyThreadState *ts = PyEval_SaveThread();
    c->iocb(c->fd, c->kind == PYCB_READ ? EVL_READ : EVL_WRITE, c->arg);
    PyEval_RestoreThread(ts);
    break;
  }
  }
  Py_RETURN_NONE;
}

static void pyrt_cb_dealloc(PyObject *self) {
  Py_XDECREF(((pycb *)self)->handle);
  PyObject_Free(self);
}

static PyTypeObject pyrt_cb_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "evl.callback",
    .tp_basicsize = sizeof(pycb),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(pycb, vc),
    .tp_call = PyVectorcall_Call,
    .tp_dealloc = pyrt_cb_dealloc,
};

pycb *pyrt_cb_new(evl_loop *loop, int kind) {
  pycb *c = PyObject_New(pycb, &pyrt_cb_type);
  if (!c)
    return NULL;
  c->vc = pyrt_cb_call;
  c->loop = loop;
  c->kind = kind;
  c->fd = -1;
  c->cb = NULL;
  c->iocb = NULL;
  c->arg = NULL;
  c->h = 0;
  c->handle = NULL;
  return c;
}

int pyrt_cb_ready(void) {
  return PyType_Ready(&pyrt_cb_type);
}
