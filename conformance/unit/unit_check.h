/* unit_check.h — the unit tests' one check: counts a failure and prints
 * where and why, then goes on (a unit test reports every failed check). */
#ifndef EVL_UNIT_CHECK_H
#define EVL_UNIT_CHECK_H

#include <stdio.h>

static int failed_checks;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      failed_checks++;                                                         \
      printf("    FAIL %s:%d: ", __FILE__, __LINE__);                          \
      printf(__VA_ARGS__);                                                     \
      printf("\n");                                                            \
    }                                                                          \
  } while (0)

#endif
