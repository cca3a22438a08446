/* list.h — every selector backend evlab ships, in report order.
 *
 * X(name, kind, dep)
 *   name  the backend's name, its file backends/<name>.c and its table
 *         evl__backend_<name> (BUILTIN) or its module evl-<name>.so (MODULE)
 *   kind  BUILTIN: compiled into libevl; MODULE: a shared object of its own,
 *         loaded with RTLD_LOCAL on first use (see README, "Why modules")
 *   dep   what a MODULE links: a pkg-config name, or -lNAME for a library
 *         without a .pc file; "" for a BUILTIN
 *
 * The registry (core/backend_registry.c), the ref-<backend> list of
 * core/impl_registry.c and the Makefile all read this list: adding a backend
 * is its file plus one row here. One row per line: the Makefile greps them.
 */
#ifndef EVL_BACKENDS_LIST_H
#define EVL_BACKENDS_LIST_H
#define EVL_BACKEND_LIST(X)                                                    \
  X(epoll, BUILTIN, "")                                                        \
  X(poll, BUILTIN, "")                                                         \
  X(select, BUILTIN, "")                                                       \
  X(kqueue, BUILTIN, "")                                                       \
  X(iouring, MODULE, "liburing")                                               \
  X(libevent, MODULE, "libevent_core")                                         \
  X(libev, MODULE, "-lev")                                                     \
  X(libuv, MODULE, "libuv")
#endif
