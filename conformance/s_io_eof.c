/* s_io_eof.c — S6: a peer's EOF reaches the reader in the very next
 * iteration, also when the other end's watcher was removed and the fd
 * closed by a callback just before (a batched backend must not let the
 * removal's own completion end the wait with nothing). */
#include <unistd.h>

#include "harness.h"

typedef struct eof_ctx {
  const evl_impl_ops *ops;
  evl_loop *loop;
  int a, b_calls, a_calls;
  unsigned b_events;
} eof_ctx;

static void eof_b(int fd, unsigned events, void *arg) {
  eof_ctx *c = arg;
  char buf[16];
  (void)!read(fd, buf, sizeof buf);
  c->b_calls++;
  c->b_events |= events;
}

static void eof_a(int fd, unsigned events, void *arg) {
  eof_ctx *c = arg;
  (void)fd, (void)events;
  c->a_calls++;
}

static void eof_close_a(void *arg) {
  eof_ctx *c = arg;
  c->ops->remove_reader(c->loop, c->a);
  close(c->a);
}

static void eof_noop(void *arg) {
  (void)arg;
}

void test_s6_peer_eof_next_iteration(evl_tctx *t) {
  evl_loop *loop = st_loop(t);
  int sv[2];
  t_socketpair(t, sv);
  eof_ctx c = {OPS, loop, sv[0], 0, 0, 0};
  T_OK(t, "add_reader a", OPS->add_reader(loop, sv[0], eof_a, &c));
  T_OK(t, "add_reader b", OPS->add_reader(loop, sv[1], eof_b, &c));
  T_OK(t, "call_soon", OPS->call_soon(loop, eof_noop, NULL, NULL));
  T_OK(t, "run_once (both registered)", OPS->run_once(loop));
  T_OK(t, "call_soon (remove and close a)",
       OPS->call_soon(loop, eof_close_a, &c, NULL));
  T_OK(t, "run_once (a removed and closed)", OPS->run_once(loop));
  /* Something ready: the wait does not block, yet the EOF is there
   * already and must be seen, as a level-triggered poll would. */
  T_OK(t, "call_soon", OPS->call_soon(loop, eof_noop, NULL, NULL));
  T_OK(t, "run_once (b's EOF)", OPS->run_once(loop));
  /* At least once by then: EOF stays readable, so a loop that saw it in
   * the closing iteration already may call the reader again. */
  T_GE(t, "b's reader calls by the end of the iteration after a was closed", 1,
       c.b_calls);
  T_EQ(t, "a's reader calls after its removal", 0, c.a_calls);
  T_OK(t, "remove_reader b", OPS->remove_reader(loop, sv[1]) == 1 ? 0 : -1);
  t_close(sv[1]);
  /* The same between iterations, right after both were added. */
  t_socketpair(t, sv);
  c.a = sv[0];
  c.b_calls = 0;
  T_OK(t, "add_reader a", OPS->add_reader(loop, sv[0], eof_a, &c));
  T_OK(t, "add_reader b", OPS->add_reader(loop, sv[1], eof_b, &c));
  T_OK(t, "remove_reader a", OPS->remove_reader(loop, sv[0]) == 1 ? 0 : -1);
  t_close(sv[0]);
  T_OK(t, "call_soon", OPS->call_soon(loop, eof_noop, NULL, NULL));
  T_OK(t, "run_once (b's EOF, nothing run before)", OPS->run_once(loop));
  T_GE(t, "b's reader calls in the first iteration after a was closed", 1,
       c.b_calls);
  T_OK(t, "remove_reader b", OPS->remove_reader(loop, sv[1]) == 1 ? 0 : -1);
  t_close(sv[1]);
  st_free(t, loop);
}
