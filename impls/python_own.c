/* python_own.c — checks of a Python loop's own futures, run_until_complete
 * and run_in_executor, for the conformance tests s13_py_* and s14_py_*
 * (conformance/s_py_own.c): the ops table runs S13 and S14 on evlab's own
 * futures and executor (see python.c), so these rules reach the Python
 * loop's API only through here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "python.h"
#include "python_own.h"

/*
 * Each check_NAME(loop) is S13's or S14's rule in asyncio's terms (see
 * CONTRACT.md, "Python loops"): it runs the idle loop with its own
 * run_until_complete or run_forever, from the calling thread, and returns
 * None, or (condition, expected, actual) at the first thing that differs.
 * Every run has a watchdog (a call_later that stops the loop after
 * GUARD_S), so a loop that never completes a future fails the check
 * instead of the test's timeout; every check leaves the loop idle, and
 * shuts the default executor down (its workers joined) once it used it.
 */
static const char pyo_src[] =
    "import asyncio, threading, time\n"
    "\n"
    "GUARD_S = 3.0\n"
    "\n"
    "def _ruc(loop, f):\n"
    "    # run_until_complete(f) under a watchdog that stops the loop after\n"
    "    # GUARD_S: ('returned', value), ('raised', exception) or\n"
    "    # ('watchdog', either).\n"
    "    fired = []\n"
    "    g = loop.call_later(GUARD_S, lambda: (fired.append(1), loop.stop()))\n"
    "    try:\n"
    "        out = ('returned', loop.run_until_complete(f))\n"
    "    except Exception as e:\n"
    "        out = ('raised', e)\n"
    "    finally:\n"
    "        g.cancel()\n"
    "    return ('watchdog', out[1]) if fired else out\n"
    "\n"
    "def _show(out):\n"
    "    kind, v = out\n"
    "    if kind == 'watchdog':\n"
    "        return ('still running after %g s (the watchdog stopped it)'\n"
    "                % GUARD_S)\n"
    "    return '%s %r' % (kind, v)\n"
    "\n"
    "def _drain(loop):\n"
    "    # Runs what is queued, so a check leaves nothing behind.\n"
    "    loop.call_soon(loop.stop)\n"
    "    loop.run_forever()\n"
    "\n"
    "def check_callbacks_deferred(loop):\n"
    "    f = loop.create_future()\n"
    "    order, running = [], []\n"
    "    def cb(tag):\n"
    "        def done(fut):\n"
    "            order.append(tag)\n"
    "            running.append(loop.is_running())\n"
    "        return done\n"
    "    f.add_done_callback(cb('A'))\n"
    "    loop.call_soon(order.append, 'soon-before')\n"
    "    f.set_result(1)\n"
    "    if order:\n"
    "        return ('done-callbacks run inside set_result', '[]', order)\n"
    "    loop.call_soon(order.append, 'soon-after')\n"
    "    f.add_done_callback(cb('B'))\n"
    "    if order:\n"
    "        return ('done-callbacks run inside add_done_callback on a '\n"
    "                'done future', '[]', order)\n"
    "    g = loop.call_later(GUARD_S, loop.stop)\n"
    "    loop.call_soon(loop.stop)\n"
    "    loop.run_forever()\n"
    "    g.cancel()\n"
    "    want = ['soon-before', 'A', 'soon-after', 'B']\n"
    "    if order != want:\n"
    "        return ('the order of call_soon callbacks and done-callbacks '\n"
    "                'A (added before set_result) and B (after): each '\n"
    "                'queued by call_soon when the future is done, or when '\n"
    "                'added to a done future', want, order)\n"
    "    if not all(running):\n"
    "        return ('loop.is_running() in the done-callbacks',\n"
    "                [True, True], running)\n"
    "    return None\n"
    "\n"
    "def check_ruc_stopped_early(loop):\n"
    "    f = loop.create_future()\n"
    "    loop.call_soon(loop.stop)\n"
    "    out = _ruc(loop, f)\n"
    "    if out[0] != 'raised' or not isinstance(out[1], RuntimeError):\n"
    "        return ('run_until_complete(future) when a callback stops '\n"
    "                'the loop before the future is done',\n"
    "                'raised RuntimeError', _show(out))\n"
    "    if f.done():\n"
    "        return ('the future after that early stop', 'pending',\n"
    "                repr(f))\n"
    "    f.cancel()\n"
    "    f = loop.create_future()\n"
    "    loop.stop()\n"
    "    out = _ruc(loop, f)\n"
    "    f.cancel()\n"
    "    if out[0] != 'raised' or not isinstance(out[1], RuntimeError):\n"
    "        return ('run_until_complete(future) when stop() was called '\n"
    "                'just before it', 'raised RuntimeError', _show(out))\n"
    "    _drain(loop)\n"
    "    return None\n"
    "\n"
    "class _Marker:\n"
    "    def __repr__(self):\n"
    "        return '<marker>'\n"
    "\n"
    "def check_ruc_result(loop):\n"
    "    m = _Marker()\n"
    "    f = loop.create_future()\n"
    "    loop.call_later(0.02, f.set_result, m)\n"
    "    out = _ruc(loop, f)\n"
    "    if out[0] != 'returned' or out[1] is not m:\n"
    "        return ('run_until_complete(future a timer completes with '\n"
    "                '<marker>)', 'returned <marker>', _show(out))\n"
    "    exc = KeyError('planted')\n"
    "    f = loop.create_future()\n"
    "    loop.call_later(0.02, f.set_exception, exc)\n"
    "    out = _ruc(loop, f)\n"
    "    if out[0] != 'raised' or out[1] is not exc:\n"
    "        return ('run_until_complete(future a timer fails with %r)'\n"
    "                % exc, 'raised %r (that object)' % exc, _show(out))\n"
    "    f = loop.create_future()\n"
    "    def complete():\n"
    "        time.sleep(0.02)\n"
    "        loop.call_soon_threadsafe(f.set_result, m)\n"
    "    th = threading.Thread(target=complete)\n"
    "    th.start()\n"
    "    out = _ruc(loop, f)\n"
    "    th.join()\n"
    "    if out[0] != 'returned' or out[1] is not m:\n"
    "        return ('run_until_complete(future another thread completes '\n"
    "                'with <marker> by call_soon_threadsafe)',\n"
    "                'returned <marker>', _show(out))\n"
    "    async def coro():\n"
    "        await asyncio.sleep(0)\n"
    "        return m\n"
    "    out = _ruc(loop, coro())\n"
    "    if out[0] != 'returned' or out[1] is not m:\n"
    "        return ('run_until_complete(coroutine returning <marker>)',\n"
    "                'returned <marker>', _show(out))\n"
    "    return None\n"
    "\n"
    "def check_foreign_future(loop):\n"
    "    other = asyncio.SelectorEventLoop()\n"
    "    try:\n"
    "        f = other.create_future()\n"
    "        f.set_result(1)\n"
    "        ran = []\n"
    "        loop.call_soon(ran.append, 1)\n"
    "        out = _ruc(loop, f)\n"
    "        ran = list(ran)\n"
    "        _drain(loop)\n"
    "        if out[0] != 'raised' or ran:\n"
    "            return ('run_until_complete(a done future of another '\n"
    "                    'loop)', 'raised before running the loop '\n"
    "                    '(asyncio: ValueError)', _show(out)\n"
    "                    + (' after running the loop' if ran else ''))\n"
    "        g = other.create_future()\n"
    "        async def waiter():\n"
    "            return await g\n"
    "        out = _ruc(loop, waiter())\n"
    "        g.cancel()\n"
    "        if out[0] != 'raised':\n"
    "            return ('a task of this loop awaiting a pending future of '\n"
    "                    'another loop', 'raised in the task (asyncio: '\n"
    "                    'RuntimeError)', _show(out))\n"
    "    finally:\n"
    "        other.close()\n"
    "    return None\n"
    "\n"
    "def _shutdown_executor(loop):\n"
    "    shut = getattr(loop, 'shutdown_default_executor', None)\n"
    "    if shut is not None:\n"
    "        _ruc(loop, shut())\n"
    "\n"
    "def check_executor_loop_thread(loop):\n"
    "    me = threading.get_ident()\n"
    "    seen = {}\n"
    "    gate, returned = threading.Event(), threading.Event()\n"
    "    def fn(x):\n"
    "        seen['fn'] = threading.get_ident()\n"
    "        if seen['fn'] != me:\n"
    "            gate.wait(GUARD_S)  # returns while the loop is in busy()\n"
    "        returned.set()\n"
    "        return x + 1\n"
    "    try:\n"
    "        fut = loop.run_in_executor(None, fn, 41)\n"
    "        if not asyncio.isfuture(fut) or fut.get_loop() is not loop:\n"
    "            return ('what run_in_executor(None, fn) returns',\n"
    "                    'a future of this loop', repr(fut))\n"
    "        fut.add_done_callback(\n"
    "            lambda f: seen.__setitem__('cb', threading.get_ident()))\n"
    "        def busy():\n"
    "            gate.set()\n"
    "            returned.wait(GUARD_S)\n"
    "            time.sleep(0.2)  # fn returned: only the loop completes fut\n"
    "            seen['busy'] = fut.done()\n"
    "        loop.call_soon(busy)\n"
    "        out = _ruc(loop, fut)\n"
    "        _drain(loop)  # callbacks queued behind run_until_complete's\n"
    "        if out[0] != 'returned' or out[1] != 42:\n"
    "            return ('run_until_complete(run_in_executor(None, fn, '\n"
    "                    '41)), fn returning 42', 'returned 42', _show(out))\n"
    "        if seen.get('fn') == me:\n"
    "            return ('the thread fn runs on', 'a worker thread',\n"
    "                    'the loop thread')\n"
    "        if seen.get('busy'):\n"
    "            return ('fut.done() while the loop thread is busy in a '\n"
    "                    'callback 200 ms after fn returned (the future '\n"
    "                    'completes on the loop thread)', 'False',\n"
    "                    'True: completed off the loop thread')\n"
    "        if seen.get('cb') != me:\n"
    "            return ('the thread fut\\'s done-callback runs on',\n"
    "                    'the loop thread',\n"
    "                    'another thread' if 'cb' in seen else 'never ran')\n"
    "    finally:\n"
    "        _shutdown_executor(loop)\n"
    "    return None\n"
    "\n"
    "def check_ruc_executor(loop):\n"
    "    m = _Marker()\n"
    "    exc = KeyError('planted')\n"
    "    def slow():\n"
    "        time.sleep(0.1)\n"
    "        return m\n"
    "    def fails():\n"
    "        time.sleep(0.1)\n"
    "        raise exc\n"
    "    try:\n"
    "        out = _ruc(loop, loop.run_in_executor(None, slow))\n"
    "        if out[0] != 'returned' or out[1] is not m:\n"
    "            return ('run_until_complete(run_in_executor(None, fn)), '\n"
    "                    'fn returning <marker> after 100 ms, nothing else '\n"
    "                    'on the loop', 'returned <marker>', _show(out))\n"
    "        out = _ruc(loop, loop.run_in_executor(None, fails))\n"
    "        if out[0] != 'raised' or out[1] is not exc:\n"
    "            return ('run_until_complete(run_in_executor(None, fn)), '\n"
    "                    'fn raising %r after 100 ms' % exc,\n"
    "                    'raised %r (that object)' % exc, _show(out))\n"
    "    finally:\n"
    "        _shutdown_executor(loop)\n"
    "    return None\n"
    "\n"
    "def run(name, loop):\n"
    "    try:\n"
    "        r = globals()['check_' + name](loop)\n"
    "    except Exception as e:\n"
    "        r = ('check_%s ran to its end' % name, 'no exception',\n"
    "             repr(e))\n"
    "    return None if r is None else tuple(str(x) for x in r)\n";

static PyObject *pyo_ns; /* pyo_src's globals, made once (GIL held) */

static void pyo_text(char *dst, size_t len, PyObject *o) {
  const char *s = o && PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
  snprintf(dst, len, "%s", s ? s : "?");
  PyErr_Clear();
}

static int pyo_run(const evl_impl_ops *ops, evl_loop *loop, const char *name,
                   evl_py_own_result *out) {
  if (!ops || !name || !out)
    return -EINVAL;
  memset(out, 0, sizeof *out);
  if (ops->loop_new != pyl_template.loop_new)
    return -ENOTSUP;
  PYL_ENTER(loop);
  int rc = 0;
  if (!pyo_ns) {
    PyObject *ns = PyDict_New();
    PyObject *r = NULL;
    if (ns &&
        PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()) == 0)
      r = PyRun_String(pyo_src, Py_file_input, ns, ns);
    if (r)
      pyo_ns = ns;
    else
      Py_XDECREF(ns);
    Py_XDECREF(r);
  }
  char fn[96];
  snprintf(fn, sizeof fn, "check_%s", name);
  PyObject *run = pyo_ns ? PyDict_GetItemString(pyo_ns, "run") : NULL;
  if (!run) {
    rc = PyErr_Occurred() ? pyrt_error() : -ENOMEM;
  } else if (!PyDict_GetItemString(pyo_ns, fn)) {
    rc = -ENOENT;
  } else {
    PyObject *r = PyObject_CallFunction(run, "sO", name, loop->loop);
    if (!r) {
      rc = pyrt_error();
    } else if (r != Py_None && PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 3) {
      pyo_text(out->condition, sizeof out->condition, PyTuple_GET_ITEM(r, 0));
      pyo_text(out->expected, sizeof out->expected, PyTuple_GET_ITEM(r, 1));
      pyo_text(out->actual, sizeof out->actual, PyTuple_GET_ITEM(r, 2));
      rc = 1;
    }
    Py_XDECREF(r);
  }
  PYL_LEAVE();
  return rc;
}

__attribute__((visibility("default")))
const evl_py_own_table evl_py_own_api = {pyo_run};
