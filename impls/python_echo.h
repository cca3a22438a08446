/* python_echo.h — the table the py module exports for evl-bench's Python
 * echo server (impls/python_echo.c, driven by bench/py_echo.c). */
#ifndef EVL_IMPLS_PYTHON_ECHO_H
#define EVL_IMPLS_PYTHON_ECHO_H

#include <evl/impl.h>

/* The bench finds this symbol with dlsym in the module that holds an
 * implementation's ops: absent, the implementation is not a Python loop. */
#define EVL_PY_ECHO_SYMBOL "evl_py_echo_api"

typedef struct evl_py_echo evl_py_echo;

typedef struct evl_py_echo_table {
  /* Starts an asyncio.Protocol echo server on loop's Python loop,
   * listening on a duplicate of lfd (the caller keeps lfd). -ENOTSUP when
   * ops is not one of this module's tables; else 0 or -errno. */
  int (*open)(const evl_impl_ops *ops, evl_loop *loop, int lfd,
              evl_py_echo **out);
  /* From any thread: the loop stops (its run_forever returns) once no
   * connection is open, now or when the last one closes. 0 or -errno. */
  int (*drain)(evl_py_echo *srv);
  /* Closes the server (not the loop); NULL is a no-op. */
  void (*close)(evl_py_echo *srv);
} evl_py_echo_table;

#endif
