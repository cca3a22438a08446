/* python_rt.c — the embedded CPython under impls/python.c: starting the
 * interpreter, reports from Python, errors, the probe (the C callable
 * asyncio calls back is python_cb.c's). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/sanitizer.h"
#include "python.h"

/*
 * The Python half is a string compiled into the module rather than a .py
 * file installed beside it: one artifact, nothing to find on a search path,
 * nothing that can drift from the C half it matches.
 *
 * run_once: asyncio's BaseEventLoop has exactly the contract's iteration in
 * _run_once (timeout 0 if anything is ready or a stop was asked, select,
 * queue ready handles then due timers behind them, run exactly the handles
 * queued when the batch began). It is run between the same enter and leave
 * steps run_forever takes. Loops without it (uvloop keeps its iteration,
 * uv_run, in C) run the only one-iteration form they expose: stop() then
 * run_forever().
 *
 * Log records: asyncio and uvloop report slow callbacks in debug mode with
 * logger.warning('Executing %s took %.3f seconds'); they reach the error
 * handler as EVL_ESLOW with the duration, and any other warning of theirs
 * reaches it too, instead of stderr. So do "Exception ignored" reports and
 * Python warnings (a library never prints): to the error handler of the
 * loop this thread runs, dropped when none runs (a half-built loop's
 * __del__, say: loop_new collects it at once, so its fds go with it).
 */
static const char pyrt_glue_src[] =
    "import asyncio, importlib, logging, sys, threading, warnings\n"
    "from asyncio import events\n"
    "def make_loop(kind, module, name):\n"
    "    if kind == 0:\n"
    "        if not name:\n"
    "            return asyncio.SelectorEventLoop()\n"
    "        import selectors\n"
    "        return asyncio.SelectorEventLoop(getattr(selectors, name)())\n"
    "    if kind == 1:\n"
    "        import uvloop\n"
    "        return uvloop.new_event_loop()\n"
    "    loop = getattr(importlib.import_module(module), name)()\n"
    "    if not isinstance(loop, asyncio.AbstractEventLoop):\n"
    "        raise TypeError('%s:%s() returned %s, not an event loop'\n"
    "                        % (module, name, type(loop).__name__))\n"
    "    return loop\n"
    "def family(loop):\n"
    "    try:\n"
    "        import uvloop\n"
    "        if isinstance(loop, uvloop.Loop):\n"
    "            return 2\n"
    "    except ImportError:\n"
    "        pass\n"
    "    if not isinstance(loop, asyncio.BaseEventLoop):\n"
    "        return 0\n"
    "    import selectors\n"
    "    sel = getattr(loop, '_selector', None)\n"
    "    if isinstance(sel, selectors.PollSelector):\n"
    "        return 3\n"
    "    return 4 if isinstance(sel, selectors.SelectSelector) else 1\n"
    "def run_once(loop):\n"
    "    if not isinstance(loop, asyncio.BaseEventLoop):\n"
    "        loop.stop()\n"
    "        loop.run_forever()\n"
    "        return\n"
    "    loop._check_closed()\n"
    "    loop._check_running()\n"
    "    loop._thread_id = threading.get_ident()\n"
    "    events._set_running_loop(loop)\n"
    "    try:\n"
    "        loop._run_once()\n"
    "    finally:\n"
    "        loop._stopping = False\n"
    "        loop._thread_id = None\n"
    "        events._set_running_loop(None)\n"
    "class _Report(logging.Handler):\n"
    "    def emit(self, rec):\n"
    "        if rec.msg == 'Executing %s took %.3f seconds':\n"
    "            _evl_log(rec.args[1], None)\n"
    "        else:\n"
    "            _evl_log(-1.0, rec.getMessage())\n"
    "logging.getLogger('asyncio').addHandler(_Report(logging.WARNING))\n"
    "def _unraisable(u):\n"
    "    _evl_log(-1.0, '%s: %r' % (u.err_msg or 'Exception ignored', "
    "u.exc_value))\n"
    "sys.unraisablehook = _unraisable\n"
    "def _warning(message, category, filename, lineno, file=None, line=None):\n"
    "    _evl_log(-1.0, warnings.formatwarning(message, category, filename,\n"
    "                                          lineno, line).strip())\n"
    "warnings.showwarning = _warning\n"
    "def count_waits(loop):\n"
    "    sel = getattr(loop, '_selector', None)\n"
    "    if sel is None:\n"
    "        return None\n"
    "    box, select = [0], sel.select\n"
    "    def counted(timeout=None):\n"
    "        box[0] += 1\n"
    "        return select(timeout)\n"
    "    sel.select = counted\n"
    "    return box\n"
    "def framed(m, *a):\n"
    "    return m(*a)\n"
    "def after_fork(loop):\n"
    "    # The child's copies of the parent's selector (an epoll fd shares\n"
    "    # the parent's kernel set) and self-pipe (a write would wake the\n"
    "    # parent): closed, never unregistered, and made anew.\n"
    "    old, ssock = loop._selector, loop._ssock\n"
    "    new = type(old)()\n"
    "    for key in list(old.get_map().values()):\n"
    "        if key.fd != ssock.fileno():\n"
    "            new.register(key.fileobj, key.events, key.data)\n"
    "    old.close()\n"
    "    loop._selector = new\n"
    "    ssock.close()\n"
    "    loop._csock.close()\n"
    "    loop._internal_fds -= 1\n"
    "    loop._make_self_pipe()\n"
    "    if loop._signal_handlers:\n"
    "        import signal\n"
    "        signal.set_wakeup_fd(loop._csock.fileno())\n"
    "    return count_waits(loop)\n"
    "def configure(loop, debug, slow):\n"
    "    loop.set_debug(bool(debug))\n"
    "    loop.slow_callback_duration = slow\n";

static PyObject *pyrt_ns; /* the glue's globals */
static int pyrt_up;       /* set once the interpreter is started */
static pthread_mutex_t pyrt_lock = PTHREAD_MUTEX_INITIALIZER;
static int pyrt_state; /* 0 not yet, 1 up, -1 failed */
static char pyrt_why[256];

/* ---- reports from Python ------------------------------------------------ */
void pyl_report(evl_loop *loop, int code, const char *ctx, const char *msg,
                uint64_t dur_ns) {
  /* The handler is the user's C: it runs without the GIL, like callbacks. */
  PyThreadState *ts = PyEval_SaveThread();
  evl__adapter_report(&loop->b, code, ctx, msg, -1, dur_ns);
  PyEval_RestoreThread(ts);
}

/* _evl_log(seconds, None): a slow callback; (-1, text): another record. */
static PyObject *pyrt_log(PyObject *self, PyObject *const *args, Py_ssize_t n) {
  (void)self;
  evl_loop *loop = evl__adapter_get_running_loop();
  if (n != 2 || !loop)
    Py_RETURN_NONE;
  double s = PyFloat_AsDouble(args[0]);
  if (s == -1.0 && PyErr_Occurred())
    return NULL;
  if (s >= 0) {
    uint64_t ns = (uint64_t)(s * 1e9);
    pyl_report(loop, EVL_ESLOW, "slow callback", NULL, ns ? ns : 1);
  } else {
    const char *msg = PyUnicode_AsUTF8(args[1]);
    if (!msg)
      return NULL;
    pyl_report(loop, -EIO, "asyncio log", msg, 0);
  }
  Py_RETURN_NONE;
}

/* exc_handler(pyloop, context): asyncio's exception handler slot, set on
 * every loop; the context's evl_loop capsule names the C loop. */
static PyObject *pyrt_exc(PyObject *self, PyObject *const *args, Py_ssize_t n) {
  (void)self;
  if (n != 2 || !PyDict_Check(args[1]))
    Py_RETURN_NONE;
  PyObject *ctx = args[1];
  PyObject *cap = PyDict_GetItemString(ctx, "evl_loop");
  evl_loop *loop = cap ? PyCapsule_GetPointer(cap, "evl_loop") : NULL;
  if (!loop) {
    PyErr_Clear();
    loop = evl__adapter_get_running_loop();
  }
  if (!loop)
    Py_RETURN_NONE;
  PyObject *code_o = PyDict_GetItemString(ctx, "evl_code");
  PyObject *msg_o = PyDict_GetItemString(ctx, "message");
  PyObject *exc = PyDict_GetItemString(ctx, "exception");
  int code = code_o ? (int)PyLong_AsLong(code_o) : -EIO;
  if (!code_o && exc &&
      PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_OSError)) {
    PyObject *e = PyObject_GetAttrString(exc, "errno");
    if (e && PyLong_Check(e))
      code = -(int)PyLong_AsLong(e);
    Py_XDECREF(e);
  }
  PyErr_Clear();
  PyObject *text =
      exc ? PyUnicode_FromFormat("%S: %R", msg_o ? msg_o : Py_None, exc)
          : (msg_o ? PyObject_Str(msg_o) : NULL);
  const char *msg = text ? PyUnicode_AsUTF8(text) : NULL;
  PyErr_Clear();
  pyl_report(loop, code, code_o ? "callback" : "asyncio exception handler", msg,
             0);
  Py_XDECREF(text);
  Py_RETURN_NONE;
}

static PyMethodDef pyrt_log_def = {
    "_evl_log", (PyCFunction)(void (*)(void))pyrt_log, METH_FASTCALL, NULL};
static PyMethodDef pyrt_exc_def = {
    "exc_handler", (PyCFunction)(void (*)(void))pyrt_exc, METH_FASTCALL, NULL};

/* ---- errors ------------------------------------------------------------- */
static int pyrt_runtime_error(PyObject *v) {
  PyObject *s = v ? PyObject_Str(v) : NULL;
  const char *t = s ? PyUnicode_AsUTF8(s) : NULL;
  int rc = -EIO;
  if (t && strstr(t, "thread")) /* debug mode's foreign-thread refusal */
    rc = -EPERM;
  else if (t && strstr(t, "closed"))
    rc = EVL_ECLOSED;
  else if (t && strstr(t, "running"))
    rc = -EBUSY;
  else if (t && strstr(t, "cannot be caught"))
    rc = -EINVAL; /* SIGKILL, SIGSTOP */
  Py_XDECREF(s);
  return rc;
}

int pyrt_error(void) {
  return pyrt_error_msg(NULL, 0);
}

int pyrt_error_msg(char *msg, size_t len) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (msg && len) {
    PyObject *s = value ? PyObject_Repr(value) : NULL;
    const char *t = s ? PyUnicode_AsUTF8(s) : NULL;
    snprintf(msg, len, "%s", t ? t : "Python exception");
    Py_XDECREF(s);
    PyErr_Clear();
  }
  int rc = -EIO;
  if (!type)
    rc = -EIO;
  else if (PyErr_GivenExceptionMatches(type, PyExc_OSError)) {
    PyObject *e = PyObject_GetAttrString(value, "errno");
    rc = e && PyLong_Check(e) ? -(int)PyLong_AsLong(e) : -EIO;
    Py_XDECREF(e);
    if (rc == 0)
      rc = -EIO;
  } else if (PyErr_GivenExceptionMatches(type, PyExc_OverflowError))
    rc = -EOVERFLOW;
  else if (PyErr_GivenExceptionMatches(type, PyExc_ValueError) ||
           PyErr_GivenExceptionMatches(type, PyExc_TypeError))
    rc = -EINVAL;
  else if (PyErr_GivenExceptionMatches(type, PyExc_MemoryError))
    rc = -ENOMEM;
  else if (PyErr_GivenExceptionMatches(type, PyExc_RuntimeError))
    rc = pyrt_runtime_error(value);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  PyErr_Clear();
  return rc;
}

/* ---- the interpreter ---------------------------------------------------- */
static void pyrt_fail(const char *what) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyObject *s = value ? PyObject_Str(value) : NULL;
  const char *t = s ? PyUnicode_AsUTF8(s) : NULL;
  snprintf(pyrt_why, sizeof pyrt_why, "%s: %s", what, t ? t : "failed");
  Py_XDECREF(s);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  PyErr_Clear();
}

/* fork() with an embedded interpreter: the forking thread holds the GIL
 * across it, with CPython's own before/after steps (os.fork's), so the
 * child's interpreter is consistent and its GIL is free: a child can make
 * an inherited loop its own (S16), or make a new one. */
static _Thread_local PyGILState_STATE pyrt_fork_g;
static _Thread_local int pyrt_fork_held;

static void pyrt_fork_prepare(void) {
  if (!__atomic_load_n(&pyrt_up, __ATOMIC_ACQUIRE))
    return;
  pyrt_fork_g = PyGILState_Ensure();
  PyOS_BeforeFork();
  pyrt_fork_held = 1;
}

static void pyrt_fork_parent(void) {
  if (!pyrt_fork_held)
    return;
  pyrt_fork_held = 0;
  PyOS_AfterFork_Parent();
  PyGILState_Release(pyrt_fork_g);
}

static void pyrt_fork_child(void) {
  if (!pyrt_fork_held)
    return;
  pyrt_fork_held = 0;
  PyOS_AfterFork_Child();
  PyGILState_Release(pyrt_fork_g);
}

#if defined(EVL__ASAN)
#define PYRT_LSAN 1
#else
#define PYRT_LSAN 0
#endif

#if PYRT_LSAN
/* Under ASan, every block CPython allocates (its three allocator domains;
 * uvloop hands libuv PyMem_RawMalloc too) is made while LeakSanitizer is
 * disabled for the thread: it is never reported, yet still scanned for
 * pointers, so what the adapter mallocs and Python objects hold stays
 * reachable. The embedded interpreter is never finalized, and what it
 * keeps for the life of the process (modules, code objects, interned
 * strings) is held, not lost. This takes no suppression by stack, which
 * would also hide an adapter block allocated under a Python frame (a leak
 * planted in pyrt_invoke is caught); what it cannot catch is a Python
 * object the adapter never releases, as CPython's blocks are not judged. */
void __lsan_disable(void);
void __lsan_enable(void);

static void *pyrt_lsan_malloc(void *ctx, size_t n) {
  (void)ctx;
  __lsan_disable();
  void *p = malloc(n ? n : 1);
  __lsan_enable();
  return p;
}

static void *pyrt_lsan_calloc(void *ctx, size_t nelem, size_t elsize) {
  (void)ctx;
  __lsan_disable();
  void *p = calloc(nelem && elsize ? nelem : 1, nelem && elsize ? elsize : 1);
  __lsan_enable();
  return p;
}

static void *pyrt_lsan_realloc(void *ctx, void *ptr, size_t n) {
  (void)ctx;
  __lsan_disable();
  void *p = realloc(ptr, n ? n : 1);
  __lsan_enable();
  return p;
}

static void pyrt_lsan_free(void *ctx, void *ptr) {
  (void)ctx;
  free(ptr);
}

static void pyrt_lsan_install(void) {
  PyMemAllocatorEx a = {NULL, pyrt_lsan_malloc, pyrt_lsan_calloc,
                        pyrt_lsan_realloc, pyrt_lsan_free};
  PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &a);
  PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &a);
  PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &a);
}
#endif

static int pyrt_start(void) {
  /* This module, and libpython with it, was loaded RTLD_LOCAL; Python's
   * own extension modules (_contextvars, uvloop's loop.so) expect the
   * interpreter's symbols in the global scope. Promoting libpython alone
   * is safe: its names all start with Py or _Py. */
  Dl_info info;
  if (dladdr((void *)Py_InitializeFromConfig, &info) && info.dli_fname &&
      !dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL)) {
    snprintf(pyrt_why, sizeof pyrt_why, "cannot make %s global: %s",
             info.dli_fname, dlerror());
    return -1;
  }
#if PYRT_LSAN
  /* LeakSanitizer scans malloc'd blocks, not pymalloc's mmap'd arenas:
   * under ASan the interpreter allocates with malloc (PYTHONMALLOC=malloc),
   * so what it holds is seen, and through pyrt_lsan_* LeakSanitizer
   * ignores it: the never-finalized interpreter is not reported, and the
   * adapter's own mallocs are checked in full, whatever is on the stack. */
  PyPreConfig pre;
  PyPreConfig_InitPythonConfig(&pre);
  pre.allocator = PYMEM_ALLOCATOR_MALLOC;
  PyStatus pst = Py_PreInitialize(&pre);
  if (PyStatus_Exception(pst)) {
    snprintf(pyrt_why, sizeof pyrt_why, "cannot start Python: %s",
             pst.err_msg ? pst.err_msg : "Py_PreInitialize failed");
    return -1;
  }
  pyrt_lsan_install();
#endif
  PyConfig cfg;
  PyConfig_InitPythonConfig(&cfg);
  /* The host owns its signal dispositions (S12: a remove must find what
   * was there): no SIGINT handler, no SIG_IGN for SIGPIPE and SIGXFSZ. */
  cfg.install_signal_handlers = 0;
  cfg.parse_argv = 0;
  PyStatus st = Py_InitializeFromConfig(&cfg);
  PyConfig_Clear(&cfg);
  if (PyStatus_Exception(st)) {
    snprintf(pyrt_why, sizeof pyrt_why, "cannot start Python: %s",
             st.err_msg ? st.err_msg : "Py_InitializeFromConfig failed");
    return -1;
  }
  int ok = 0;
  if (pyrt_cb_ready() < 0) {
    pyrt_fail("evl.callback type");
  } else if (!(pyrt_ns = PyDict_New())) {
    pyrt_fail("glue");
  } else {
    PyObject *log = PyCFunction_New(&pyrt_log_def, NULL);
    PyObject *exc = PyCFunction_New(&pyrt_exc_def, NULL);
    PyDict_SetItemString(pyrt_ns, "__builtins__", PyEval_GetBuiltins());
    if (log && exc && PyDict_SetItemString(pyrt_ns, "_evl_log", log) == 0 &&
        PyDict_SetItemString(pyrt_ns, "exc_handler", exc) == 0) {
      PyObject *r =
          PyRun_String(pyrt_glue_src, Py_file_input, pyrt_ns, pyrt_ns);
      if (r)
        ok = 1;
      else
        pyrt_fail("cannot import asyncio");
      Py_XDECREF(r);
    } else {
      pyrt_fail("glue");
    }
    Py_XDECREF(log);
    Py_XDECREF(exc);
  }
  /* From here on every entry point takes the GIL with PyGILState_Ensure,
   * from whichever thread it is called. */
  PyEval_SaveThread();
  if (ok &&
      pthread_atfork(pyrt_fork_prepare, pyrt_fork_parent, pyrt_fork_child) == 0)
    __atomic_store_n(&pyrt_up, 1, __ATOMIC_RELEASE);
  return ok ? 0 : -1;
}

int pyrt_init(char *why, size_t len) {
  pthread_mutex_lock(&pyrt_lock);
  if (pyrt_state == 0)
    pyrt_state = pyrt_start() == 0 ? 1 : -1;
  int st = pyrt_state;
  pthread_mutex_unlock(&pyrt_lock);
  if (st > 0)
    return 0;
  if (why && len)
    snprintf(why, len, "%s", pyrt_why);
  return EVL_EPROBE;
}

PyObject *pyrt_glue(const char *fn) {
  return PyDict_GetItemString(pyrt_ns, fn); /* borrowed */
}

/* ---- probe -------------------------------------------------------------- */
static void pyrt_probe_child(const pyl_variant *v, int wfd) {
  char why[256] = "";
  int family = 0;
  int rc = pyrt_init(why, sizeof why);
  if (rc == 0) {
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *loop = PyObject_CallFunction(pyrt_glue("make_loop"), "iss",
                                           v->kind, v->module, v->factory);
    if (!loop) {
      pyrt_fail(v->kind == PYV_UVLOOP ? "uvloop (install python3-uvloop)"
                                      : "cannot create the loop");
      snprintf(why, sizeof why, "%s", pyrt_why);
      rc = EVL_EPROBE;
    } else {
      PyObject *f = PyObject_CallOneArg(pyrt_glue("family"), loop);
      family = f ? (int)PyLong_AsLong(f) : 0;
      Py_XDECREF(f);
      PyObject *r = PyObject_CallMethod(loop, "close", NULL);
      Py_XDECREF(r);
      Py_DECREF(loop);
      PyErr_Clear();
    }
    PyGILState_Release(g);
  }
  char msg[300];
  int n = snprintf(msg, sizeof msg, "%d %d %s", rc, family, why);
  if (n > 0 && write(wfd, msg, (size_t)n) < 0)
    _exit(1);
  _exit(0);
}

int pyrt_probe_fork(const pyl_variant *v, int *family, char *why, size_t len) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return -errno;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    int e = -errno;
    close(p[0]);
    close(p[1]);
    return e;
  }
  if (pid == 0) {
    close(p[0]);
    pyrt_probe_child(v, p[1]);
  }
  close(p[1]);
  char buf[300];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof buf - 1 &&
         ((r = read(p[0], buf + got, sizeof buf - 1 - got)) > 0 ||
          (r < 0 && errno == EINTR)))
    if (r > 0)
      got += (size_t)r;
  buf[got] = 0;
  close(p[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  int rc = 0, fam = 0, off = 0;
  if (sscanf(buf, "%d %d %n", &rc, &fam, &off) < 2) {
    snprintf(why, len, "the Python probe died (status %d)", st);
    return EVL_EPROBE;
  }
  *family = fam;
  if (rc)
    snprintf(why, len, "%s", buf + off);
  return rc;
}
