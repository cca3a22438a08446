/* python_echo.c — a real Python echo server on a py loop, for evl-bench:
 * vmbench's "echoserver.py --proto" shape (an asyncio.Protocol whose
 * data_received writes the data back), served by the loop's own
 * run_forever. */
#include <errno.h>

#include "python.h"
#include "python_echo.h"

/*
 * This is the server a Python programmer writes: the loop's create_server,
 * its transports, one Python call per data_received. Set beside the bench's
 * echo server written in C against the evl ops (bench/echo.c, the same
 * loop calling C callbacks), it separates the loop's own cost from the
 * cost of Python code on it.
 *
 * The server counts its connections so that the bench can stop the loop
 * at the end of a load run: drain() (from the load generator's thread,
 * through call_soon_threadsafe) stops it once none is open, and the last
 * connection_lost does when some still were.
 */
static const char pye_src[] =
    "import asyncio, os, socket\n"
    "class EchoProtocol(asyncio.Protocol):\n"
    "    def __init__(self, srv):\n"
    "        self.srv = srv\n"
    "        self.transport = None\n"
    "    def connection_made(self, transport):\n"
    "        self.transport = transport\n"
    "        sock = transport.get_extra_info('socket')\n"
    "        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n"
    "        self.srv.open += 1\n"
    "    def connection_lost(self, exc):\n"
    "        self.transport = None\n"
    "        self.srv.open -= 1\n"
    "        self.srv.check()\n"
    "    def data_received(self, data):\n"
    "        self.transport.write(data)\n"
    "class EchoServer:\n"
    "    def __init__(self, loop, fd):\n"
    "        self.loop, self.open, self.draining = loop, 0, False\n"
    "        sock = socket.socket(fileno=os.dup(fd))\n"
    "        self.server = loop.run_until_complete(loop.create_server(\n"
    "            lambda: EchoProtocol(self), sock=sock, backlog=1024))\n"
    "    def drain(self):\n"
    "        self.loop.call_soon_threadsafe(self._drain)\n"
    "    def _drain(self):\n"
    "        self.draining = True\n"
    "        self.check()\n"
    "    def check(self):\n"
    "        if self.draining and self.open == 0:\n"
    "            self.draining = False\n"
    "            self.loop.stop()\n"
    "    def close(self):\n"
    "        self.server.close()\n"
    "        self.loop.run_until_complete(self.server.wait_closed())\n";

struct evl_py_echo {
  PyObject *srv; /* EchoServer */
};

static PyObject *pye_ns; /* pye_src's globals, made once (GIL held) */

static int pye_open(const evl_impl_ops *ops, evl_loop *loop, int lfd,
                    evl_py_echo **out) {
  if (!ops || !out)
    return -EINVAL;
  *out = NULL;
  if (ops->loop_new != pyl_template.loop_new)
    return -ENOTSUP;
  PYL_ENTER(loop);
  int rc = 0;
  if (!pye_ns) {
    PyObject *ns = PyDict_New();
    PyObject *r = NULL;
    if (ns &&
        PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()) == 0)
      r = PyRun_String(pye_src, Py_file_input, ns, ns);
    if (r)
      pye_ns = ns;
    else
      Py_XDECREF(ns);
    Py_XDECREF(r);
  }
  evl_py_echo *e = pye_ns ? PyMem_RawCalloc(1, sizeof *e) : NULL;
  PyObject *cls = pye_ns ? PyDict_GetItemString(pye_ns, "EchoServer") : NULL;
  if (e && cls)
    e->srv = PyObject_CallFunction(cls, "Oi", loop->loop, lfd);
  if (!e || !e->srv) {
    rc = PyErr_Occurred() ? pyrt_error() : -ENOMEM;
    PyMem_RawFree(e);
  } else {
    *out = e;
  }
  PYL_LEAVE();
  return rc;
}

static int pye_call(evl_py_echo *e, const char *method) {
  if (!e)
    return -EINVAL;
  PyGILState_STATE g = PyGILState_Ensure();
  int rc = pyl_rc(PyObject_CallMethod(e->srv, method, NULL));
  PyGILState_Release(g);
  return rc;
}

static int pye_drain(evl_py_echo *e) {
  return pye_call(e, "drain");
}

static void pye_close(evl_py_echo *e) {
  if (!e)
    return;
  pye_call(e, "close");
  PyGILState_STATE g = PyGILState_Ensure();
  Py_CLEAR(e->srv);
  PyGILState_Release(g);
  PyMem_RawFree(e);
}

__attribute__((visibility("default")))
const evl_py_echo_table evl_py_echo_api = {pye_open, pye_drain, pye_close};
