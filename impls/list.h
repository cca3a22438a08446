/* list.h — the whole-loop implementations evlab ships as modules, in report
 * order. (The reference core on each backend, "ref-<backend>", comes from
 * backends/list.h and impls/ref.c.)
 *
 * X(file, name, dep)
 *   file  impls/<file>.c (and impls/<file>_*.c when split), built with the
 *         adapter glue (impls/adapter*.c) into the module evl-<name>.so,
 *         loaded with RTLD_LOCAL on first use
 *   name  what --impl and evl_impl_lookup() take
 *   dep   what it links: a pkg-config name (its --cflags too), or -lNAME for
 *         a library without a .pc file
 *
 * The registry (core/impl_registry.c) and the Makefile read this list:
 * adding a loop is its file plus one row here. One row per line: the
 * Makefile greps them.
 */
#ifndef EVL_IMPLS_LIST_H
#define EVL_IMPLS_LIST_H
#define EVL_IMPL_LIST(X)                                                       \
  X(native_libuv, "native-libuv", "libuv")                                     \
  X(native_libev, "native-libev", "-lev")                                      \
  X(native_libevent, "native-libevent", "libevent_core")                       \
  X(python, "py", "python3-embed")

/* A row whose module exports evl_impl_plugin_named serves the names
 * "<name>-..." and "<name>:..." (impls/python_names.c lists py's). These are
 * the ones listed and run by default: X(row name, name). */
#define EVL_IMPL_FAMILY_LIST(X) X("py", "py-asyncio") X("py", "py-uvloop")
#endif
