/* config_unit.c — evl_loop_new's config handling and error reporting, and
 * the loader's table checks, through the public API of libevl.a.
 *
 * Usage: config_unit <build dir> (for the broken plugins in fixtures/).
 * Checks that the loader's one-line reason reaches the caller through
 * evl_last_error(), that evl_loop_config is read only up to its size and
 * unknown flags are refused, and that a table shorter than its header is
 * refused without reading its name (the table ends at a PROT_NONE page, so
 * reading past its size would crash). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, unsetenv */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <evl/backend.h>
#include <evl/evl.h>
#include <evl/impl.h>

#include "unit_check.h"
#define CHECK_RC(what, expected, actual)                                       \
  do {                                                                         \
    int e_ = (expected), a_ = (actual);                                        \
    CHECK(e_ == a_, "%s: expected %d (%s), actual %d (%s)", what, e_,          \
          evl_strerror(e_), a_, evl_strerror(a_));                             \
  } while (0)
#define CHECK_HAS(what, text, needle)                                          \
  CHECK(strstr((text), (needle)) != NULL,                                      \
        "%s: expected text containing \"%s\", actual \"%s\"", what, needle,    \
        text)

static const char *build_dir = "build";

/* evl_loop_new with cfg.backend = name; returns its code, frees a loop. */
static int new_with_backend(const char *name) {
  evl_loop_config cfg;
  evl_loop_config_init(&cfg);
  cfg.backend = name;
  evl_loop *loop = NULL;
  int rc = evl_loop_new(&loop, &cfg);
  if (loop)
    evl_loop_free(loop);
  return rc;
}

/* The loader's reason, not the generic "plugin rejected" text. */
static void t_last_error_plugin(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s/fixtures/bad_IMPL.so", build_dir);
  CHECK(access(path, R_OK) == 0, "fixture %s: %s", path, strerror(errno));
  CHECK_RC("evl_loop_new with a loop plugin as backend", EVL_EPLUGIN,
           new_with_backend(path));
  CHECK_HAS("evl_last_error() after a plugin without evl_backend_plugin",
            evl_last_error(), "missing symbol evl_backend_plugin");
  snprintf(path, sizeof path, "%s/fixtures/bad_WRONG_ABI.so", build_dir);
  CHECK_RC("evl_loop_new with a wrong-ABI plugin", EVL_EPLUGIN,
           new_with_backend(path));
  CHECK_HAS("evl_last_error() after a wrong-ABI plugin", evl_last_error(),
            "ABI version");
  CHECK_RC("evl_loop_new with an unknown name", EVL_ENOBACKEND,
           new_with_backend("no-such-backend"));
  CHECK_HAS("evl_last_error() after an unknown name", evl_last_error(),
            "no-such-backend");
  CHECK_RC("evl_loop_new with poll", 0, new_with_backend("poll"));
  CHECK(evl_last_error()[0] == 0,
        "evl_last_error() after a success: expected \"\", actual \"%s\"",
        evl_last_error());
}

static void *fail_in_thread(void *arg) {
  (void)arg;
  new_with_backend("no-such-backend-in-a-thread");
  return NULL;
}

/* Like errno: another thread's failure leaves this thread's text alone. */
static void t_last_error_thread_local(void) {
  new_with_backend("no-such-backend-here");
  pthread_t th;
  CHECK(pthread_create(&th, NULL, fail_in_thread, NULL) == 0,
        "pthread_create failed");
  pthread_join(th, NULL);
  CHECK_HAS("this thread's evl_last_error() after another thread failed",
            evl_last_error(), "no-such-backend-here");
}

/* An older caller's config: only the bytes up to size are its own; the
 * 0xff bytes after it would be a wild pointer or unknown flags. */
static void t_config_short(void) {
  static const size_t sizes[] = {offsetof(evl_loop_config, backend),
                                 offsetof(evl_loop_config, flags),
                                 offsetof(evl_loop_config, executor_threads)};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    union {
      evl_loop_config cfg;
      unsigned char bytes[sizeof(evl_loop_config) + 16];
    } u;
    memset(&u, 0xff, sizeof u);
    u.cfg.size = sizes[i];
    /* Sane values for the fields the size covers, garbage past them. */
    if (EVL_HAS_FIELD(evl_loop_config, &u.cfg, backend_ops)) {
      u.cfg.backend = "poll";
      u.cfg.backend_ops = NULL;
    }
    if (EVL_HAS_FIELD(evl_loop_config, &u.cfg, slow_callback_ns)) {
      u.cfg.flags = 0;
      u.cfg.slow_callback_ns = 0;
    }
    evl_loop *loop = NULL;
    int rc = evl_loop_new(&loop, &u.cfg);
    char what[96];
    snprintf(what, sizeof what, "evl_loop_new, config size %zu of %zu",
             sizes[i], sizeof(evl_loop_config));
    CHECK_RC(what, 0, rc);
    if (rc)
      printf("      evl_last_error(): %s\n", evl_last_error());
    if (loop)
      evl_loop_free(loop);
  }
  evl_loop_config cfg;
  evl_loop_config_init(&cfg);
  cfg.size = 0;
  evl_loop *loop = (evl_loop *)&cfg;
  CHECK_RC("evl_loop_new, config size 0", -EINVAL, evl_loop_new(&loop, &cfg));
  CHECK(loop == NULL, "evl_loop_new, config size 0: *out not reset to NULL");
  CHECK_HAS("evl_last_error() after size 0", evl_last_error(), "size");
}

static void t_config_unknown_flags(void) {
  evl_loop_config cfg;
  evl_loop_config_init(&cfg);
  cfg.flags = EVL_LOOP_DEBUG | (1u << 29);
  evl_loop *loop = (evl_loop *)&cfg;
  CHECK_RC("evl_loop_new with flags DEBUG|1<<29", -EINVAL,
           evl_loop_new(&loop, &cfg));
  CHECK(loop == NULL, "evl_loop_new with unknown flags: *out not reset");
  CHECK_HAS("evl_last_error() after unknown flags", evl_last_error(), "flags");
  cfg.flags = EVL_LOOP_DEBUG;
  CHECK_RC("evl_loop_new with flags DEBUG", 0, evl_loop_new(&loop, &cfg));
  if (loop)
    evl_loop_free(loop);
}

/* Both ABIs' tables start {abi, size, name}: one only 8 bytes long, put
 * right before an unreadable page, must be refused for its size without
 * its name being read. */
static void t_short_table_at_page_end(void) {
  long page = sysconf(_SC_PAGESIZE);
  unsigned char *m = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(m != MAP_FAILED, "mmap: %s", strerror(errno));
  if (m == MAP_FAILED)
    return;
  CHECK(mprotect(m + page, (size_t)page, PROT_NONE) == 0, "mprotect: %s",
        strerror(errno));
  uint32_t *head = (uint32_t *)(void *)(m + page - 8);
  char err[256] = "";
  head[0] = EVL_BACKEND_ABI;
  head[1] = 8;
  CHECK_RC("evl_backend_validate of an 8-byte table", EVL_EPLUGIN,
           evl_backend_validate((const evl_backend_ops *)(void *)head, err,
                                sizeof err));
  CHECK_HAS("its reason", err, "8 bytes");
  head[0] = EVL_IMPL_ABI;
  err[0] = 0;
  CHECK_RC(
      "evl_impl_validate of an 8-byte table", EVL_EPLUGIN,
      evl_impl_validate((const evl_impl_ops *)(void *)head, err, sizeof err));
  CHECK_HAS("its reason", err, "8 bytes");
  munmap(m, (size_t)page * 2);
}

#define UT_TESTS(X)                                                            \
  X(t_last_error_plugin)                                                       \
  X(t_last_error_thread_local)                                                 \
  X(t_config_short)                                                            \
  X(t_config_unknown_flags)                                                    \
  X(t_short_table_at_page_end)

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    void (*fn)(void);
  } tests[] = {
#define UT_ENTRY(fn) {#fn, fn},
      UT_TESTS(UT_ENTRY)
#undef UT_ENTRY
  };
  if (argc > 1)
    build_dir = argv[1];
  unsetenv("EVL_BACKEND");
  int passed = 0, failed = 0;
  printf("config unit tests (evl_loop_new, evl_last_error, table checks):\n");
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    int before = failed_checks;
    tests[i].fn();
    int ok = failed_checks == before;
    printf("  %s %s\n", ok ? "PASS" : "FAIL", tests[i].name);
    ok ? passed++ : failed++;
  }
  printf("config-unit: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
