/* list_k_extra.h — tests run per backend that are not about the backend
 * alone: wrappers side by side, and the reference core over a backend with
 * an injected fault. */
#ifndef EVL_LIST_K_EXTRA_H
#define EVL_LIST_K_EXTRA_H
#define EVL_TESTS_K_EXTRA(X)                                                   \
  X(k10_wrappers_coexist, "K10", BACKEND, EVL_BF_WRAPPER, 0, 10,               \
    "the libevent and libev wrappers both work loaded in one process")         \
  X(s10_backend_error_ends_run, "S10", BACKEND, 0, 0, 10,                      \
    "ref core: a wait error reaches the handler once and ends run with it")    \
  X(s10_backend_eintr_not_error, "S10", BACKEND, 0, 0, 10,                     \
    "ref core: EINTR from wait is no events, not an error")                    \
  X(k11_selection, "K11", BACKEND, 0, 0, 10,                                   \
    "backend_ops/EVL_BACKEND choose it and say so; unknown names refused")     \
  X(s8_new_without_fds, "S8", IMPL, 0, 0, 10,                                  \
    "loop_new with no fd to spare fails cleanly and leaves nothing")           \
  X(s8_new_fails_each_step, "S8", IMPL, 0, 0, 20,                              \
    "loop_new with 0, 1, 2... fds to spare: each failure leaves nothing")      \
  X(s10_loop_wait_fails, "S10", IMPL, 0, 0, 3,                                 \
    "a whole loop's own wait fails (seccomp EIO): run fails, one report")      \
  X(s8_config_short, "S8", IMPL, 0, 0, 10,                                     \
    "loop_new reads evl_impl_config only up to its size")                      \
  X(s8_config_unknown_flags, "S8", IMPL, 0, 0, 10,                             \
    "loop_new refuses unknown config flags with -EINVAL, leaving nothing")     \
  X(s8_new_few_fds, "S8", IMPL, 0, 0, 20,                                      \
    "loop_new with 1-3 fds to spare: 0 or -EMFILE, silent, nothing left")      \
  X(s10_wait_fails_no_abort, "S10", IMPL, 0, 0, 10,                            \
    "the loop's own fds closed under it: run returns, nothing aborts")         \
  X(k12_unwatchable_kinds, "K12", BACKEND, 0, 0, 10,                           \
    "O_PATH, /dev/null, a directory: an error or events, never a crash/print") \
  X(k12_own_fds, "K12", BACKEND, 0, 0, 10,                                     \
    "the backend's own fds added to it: an error, never a crash or a print")   \
  X(k12_closed_before_wait, "K12", BACKEND, 0, 0, 10,                          \
    "an fd closed between ctl and wait: wait still works, nothing printed")
#endif
