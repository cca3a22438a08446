/* k_coexist.c — K10: every library wrapper works while all the others are
 * loaded in the same process (Debian's libev exports libevent's names). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* One readiness round trip on a backend: the smallest proof that its calls
 * reached its own library and not a same-named symbol of another one. */
static void coexist_round_trip(evl_tctx *t, const evl_backend_ops *ops) {
  kt_backend kb = {.ops = ops};
  evl_tctx sub = *t;
  sub.be = ops;
  kt_open(&sub, &kb);
  int p[2];
  t_pipe(t, p);
  T_OK(t, "ctl add of a pipe's read end",
       ops->ctl(kb.state, p[0], 0, EVL_READ));
  evl_event out[4];
  T_EQ(t, "events before any write (wait 0)", 0, kt_wait(t, &kb, 0, out, 4));
  t_write_byte(t, p[1]);
  int n = kt_wait(t, &kb, 1000000000, out, 4);
  T_EQ(t, "events after one write", 1, n);
  T_EQ(t, "reported fd", p[0], out[0].fd);
  T_TRUE(t, "READ reported", out[0].events & EVL_READ);
  T_OK(t, "ctl delete", ops->ctl(kb.state, p[0], EVL_READ, 0));
  kt_close(&kb);
  t_close(p[0]);
  t_close(p[1]);
}

void test_k10_wrappers_coexist(evl_tctx *t) {
  /* The two whose symbol names collide. libuv is left out: it
   * keeps a process-wide signal pipe from its first loop on, which the
   * per-test fd check would rightly see as taken by this test. */
  static const char *const wrappers[] = {"libevent", "libev"};
  const evl_backend_ops *loaded[2];
  int nloaded = 0;
  /* Load every wrapper that is built, the one under test included. */
  for (size_t i = 0; i < sizeof wrappers / sizeof *wrappers; i++) {
    char err[256];
    const evl_backend_ops *ops;
    if (evl_backend_lookup(wrappers[i], &ops, err, sizeof err) == 0)
      loaded[nloaded++] = ops;
  }
  if (nloaded < 2)
    T_SKIP(t, "fewer than two wrapper modules are built");
  /* The one under test first, then every other loaded one, twice over so
   * each runs after the others have run. */
  for (int round = 0; round < 2; round++) {
    coexist_round_trip(t, t->be);
    for (int i = 0; i < nloaded; i++)
      if (loaded[i] != t->be)
        coexist_round_trip(t, loaded[i]);
  }
}
