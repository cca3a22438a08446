/* list_k_extra.h — K-tests that span several backends. */
#ifndef EVL_LIST_K_EXTRA_H
#define EVL_LIST_K_EXTRA_H
#define EVL_TESTS_K_EXTRA(X)                                                   \
  X(k10_wrappers_coexist, "K10", BACKEND, EVL_BF_WRAPPER, 0, 10,               \
    "the libevent and libev wrappers both work loaded in one process")
#endif
