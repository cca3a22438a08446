/* s_select.c — K11 (selection: names, EVL_BACKEND, no silent fallback) and
 * S8 (loop creation: out of fds, short and bad configs fail cleanly). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

void test_k11_selection(evl_tctx *t) {
  /* The table under test, given directly: the loop must say it runs it. */
  evl_loop_config cfg;
  evl_loop_config_init(&cfg);
  cfg.backend_ops = t->be;
  evl_loop *loop = NULL;
  T_OK(t, "evl_loop_new with backend_ops", evl_loop_new(&loop, &cfg));
  T_TRUE(t, "evl_backend_name names the backend under test",
         evl_backend_name(loop) &&
             !strcmp(evl_backend_name(loop), t->be->name));
  T_OK(t, "loop_free", evl_loop_free(loop));

  /* Unknown names: a clear error, one line of text, no loop. */
  char err[256] = "";
  const evl_backend_ops *ops = t->be;
  T_RC(t, "lookup of an unknown name", EVL_ENOBACKEND,
       evl_backend_lookup("no-such-backend", &ops, err, sizeof err));
  T_TRUE(t, "lookup leaves *out NULL", ops == NULL);
  T_TRUE(t, "lookup explains itself in one line", err[0] && !strchr(err, '\n'));
  evl_loop_config_init(&cfg);
  cfg.backend = "no-such-backend";
  loop = (evl_loop *)&cfg; /* must be reset to NULL on failure */
  T_RC(t, "evl_loop_new with an unknown backend", EVL_ENOBACKEND,
       evl_loop_new(&loop, &cfg));
  T_TRUE(t, "evl_loop_new leaves *out NULL", loop == NULL);

  /* EVL_BACKEND picks by name, and a bad value is an error, not a silent
   * fallback to the default. Only when the name leads back to this very
   * table: a plugin that calls itself "kqueue" is not the built-in one. */
  if (evl_backend_lookup(t->be->name, &ops, err, sizeof err) == 0 &&
      ops == t->be) {
    T_OK(t, "setenv", setenv("EVL_BACKEND", t->be->name, 1));
    T_OK(t, "evl_loop_new with EVL_BACKEND set", evl_loop_new(&loop, NULL));
    T_TRUE(t, "EVL_BACKEND chose the backend under test",
           !strcmp(evl_backend_name(loop), t->be->name));
    T_OK(t, "loop_free", evl_loop_free(loop));
  }
  T_OK(t, "setenv", setenv("EVL_BACKEND", "no-such-backend", 1));
  T_RC(t, "evl_loop_new with EVL_BACKEND=no-such-backend", EVL_ENOBACKEND,
       evl_loop_new(&loop, NULL));
  unsetenv("EVL_BACKEND");
}

/* With no fd left to open, making a loop fails with a negative code and
 * leaves nothing behind; with fds back, it works again. */
void test_s8_new_without_fds(evl_tctx *t) {
  struct rlimit old;
  T_OK(t, "getrlimit", getrlimit(RLIMIT_NOFILE, &old) ? -errno : 0);
  /* Fill every free number below a small limit, then lower the limit to
   * it: the next open of any kind gets EMFILE. */
  int fds[64], n = 0;
  while (n < 64) {
    int fd = dup(2);
    if (fd < 0)
      break;
    fds[n++] = fd;
  }
  int top = n ? fds[n - 1] + 1 : 3;
  struct rlimit low = {.rlim_cur = (rlim_t)top, .rlim_max = old.rlim_max};
  T_OK(t, "setrlimit(RLIMIT_NOFILE) just above the open fds",
       setrlimit(RLIMIT_NOFILE, &low) ? -errno : 0);
  evl_impl_config cfg = {.size = sizeof cfg};
  evl_loop *loop = (evl_loop *)&cfg;
  int rc = OPS->loop_new(OPS->data, &cfg, &loop);
  T_OK(t, "setrlimit back", setrlimit(RLIMIT_NOFILE, &old) ? -errno : 0);
  for (int i = 0; i < n; i++)
    close(fds[i]);
  if (rc == 0) {
    OPS->loop_free(loop);
    T_FAIL(t, "loop_new with no fd to spare: expected a negative code (such "
              "as -EMFILE), got 0");
  }
  T_TRUE(t, "loop_new failed with a negative code", rc < 0);
  T_TRUE(t, "loop_new leaves *out NULL", loop == NULL);
  loop = st_loop(t);
  st_free(t, loop);
}

static void s8_count_cb(void *arg) {
  ++*(int *)arg;
}

/* A config from an older caller: its size covers `size` alone, and what
 * lies past it (here 0xff bytes, as a smaller struct's neighbours would be)
 * must not be read — those bytes as flags would be refused. */
void test_s8_config_short(evl_tctx *t) {
  union {
    evl_impl_config cfg;
    unsigned char bytes[sizeof(evl_impl_config) + 16];
  } u;
  memset(&u, 0xff, sizeof u);
  u.cfg.size = offsetof(evl_impl_config, flags);
  evl_loop *loop = NULL;
  int rc = OPS->loop_new(OPS->data, &u.cfg, &loop);
  if (rc != 0)
    T_FAIL(t,
           "loop_new with evl_impl_config.size = %zu (only `size`) and 0xff "
           "bytes after it: expected 0, got %d (%s): fields past size were "
           "read",
           u.cfg.size, rc, evl_strerror(rc));
  T_TRUE(t, "loop_new with a short config returned a loop", loop != NULL);
  int ran = 0;
  T_OK(t, "call_soon on the loop",
       OPS->call_soon(loop, s8_count_cb, &ran, NULL));
  T_OK(t, "run_once", OPS->run_once(loop));
  T_EQ(t, "callbacks run by run_once", 1, ran);
  st_free(t, loop);
}

/* A flag this version does not know is refused, not ignored: the caller
 * asked for something it will not get. */
void test_s8_config_unknown_flags(evl_tctx *t) {
  evl_impl_config cfg = {.size = sizeof cfg, .flags = 1u << 30};
  evl_loop *loop = (evl_loop *)&cfg; /* must be reset to NULL */
  int rc = OPS->loop_new(OPS->data, &cfg, &loop);
  if (rc == 0 && loop)
    OPS->loop_free(loop);
  T_RC(t, "loop_new with flags 1<<30 (unknown)", -EINVAL, rc);
  T_TRUE(t, "loop_new leaves *out NULL", loop == NULL);
  cfg.flags = 0;
  cfg.size = 0;
  loop = (evl_loop *)&cfg;
  rc = OPS->loop_new(OPS->data, &cfg, &loop);
  if (rc == 0 && loop)
    OPS->loop_free(loop);
  T_RC(t, "loop_new with evl_impl_config.size = 0", -EINVAL, rc);
  T_TRUE(t, "loop_new leaves *out NULL", loop == NULL);
}
