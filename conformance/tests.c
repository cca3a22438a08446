/* tests.c — the test table, generated from the X-macro lists in tests.h. */
#include "harness.h"
#include "tests.h"

#define EVL__T_DECL(name, rule, kind, bf, iff, to, sum)                        \
  void test_##name(evl_tctx *t);
EVL_ALL_TESTS(EVL__T_DECL)

#define EVL__T_ENTRY(name, rule, kind, bf, iff, to, sum)                       \
  {#name, rule, EVL_T_##kind, (bf), (iff), (to), sum, test_##name},
const evl_test evl_tests[] = {EVL_ALL_TESTS(EVL__T_ENTRY){0}};
const int evl_ntests = (int)(sizeof evl_tests / sizeof evl_tests[0]) - 1;
