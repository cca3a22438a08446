/* tests.h — every conformance test, one X-macro list per area.
 *
 * X(name, rule, kind, need_bf, need_if, timeout_s, summary): `kind` is
 * BACKEND (a K-test, run on each backend) or IMPL (an S-test, run on each
 * loop implementation); the function is `void test_<name>(evl_tctx *t)`.
 * Each area's list lives beside its tests so that areas never edit one file.
 */
#ifndef EVL_CONFORMANCE_TESTS_H
#define EVL_CONFORMANCE_TESTS_H

#include "list_k.h"
#include "list_k_extra.h"
#include "list_s_core.h"
#include "list_s_io.h"
#include "list_s_ext.h"
#include "list_s_py.h"
#include "list_t.h"
#include "list_p.h"

#define EVL_ALL_TESTS(X)                                                       \
  EVL_TESTS_K(X)                                                               \
  EVL_TESTS_K_EXTRA(X)                                                         \
  EVL_TESTS_S_CORE(X)                                                          \
  EVL_TESTS_S_IO(X)                                                            \
  EVL_TESTS_S_EXT(X)                                                           \
  EVL_TESTS_S_PY(X)                                                            \
  EVL_TESTS_T(X)                                                               \
  EVL_TESTS_P(X)

#endif
