/* p_task.c — P1 with tasks: completion I/O awaited from a task. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <evl/completion.h>

#include "p_util.h"
#include "t_util.h"

typedef struct pk_ctx {
  evl_proactor *p;
  int fd;
  ssize_t got, sent;
  char buf[8];
} pk_ctx;

static int pk_echo_once(void *arg, void **result) {
  pk_ctx *k = arg;
  (void)result;
  k->got = evl_task_recv(k->p, k->fd, k->buf, sizeof k->buf);
  k->sent = k->got > 0 ? evl_task_send(k->p, k->fd, "xyz", 3) : -1;
  return 0;
}

static int pk_writer(void *arg, void **result) {
  int fd = *(int *)arg;
  (void)result;
  evl_yield(); /* after the echo task is waiting */
  return write(fd, "abc", 3) == 3 ? 0 : -EIO;
}

/* Waits on the task's own stack: cancelled, it must not return before the
 * operation let go of that buffer. */
static int pk_waiter(void *arg, void **result) {
  pk_ctx *k = arg;
  char stackbuf[8];
  (void)result;
  k->got = evl_task_recv(k->p, k->fd, stackbuf, sizeof stackbuf);
  return 0;
}

/* P1 from a task: evl_task_recv suspends until the bytes arrive and
 * returns them, evl_task_send returns 0 with every byte sent; a task
 * cancelled in evl_task_recv gets -ECANCELED and its recv is gone (a recv
 * submitted later gets the next bytes). */
void test_p1_task_await(evl_tctx *t) {
  tt_env e;
  tt_open(t, &e, 10000);
  evl_proactor *p = pp_proactor(t, e.loop);
  int a[2], b[2];
  t_socketpair(t, a);
  t_socketpair(t, b);
  pk_ctx echo = {.p = p, .fd = a[0]}, wait = {.p = p, .fd = b[0]};
  evl_task *te = tt_spawn(&e, pk_echo_once, &echo);
  evl_task *tw = tt_spawn(&e, pk_writer, &a[1]);
  T_OK(t, "echo task", tt_run(&e, te, NULL));
  T_OK(t, "writer task", tt_run(&e, tw, NULL));
  T_EQ(t, "evl_task_recv result (bytes)", 3, echo.got);
  T_TRUE(t, "bytes", memcmp(echo.buf, "abc", 3) == 0);
  T_EQ(t, "evl_task_send result", 0, echo.sent);
  char back[4] = {0};
  T_EQ(t, "the echo reached the peer", 3, read(a[1], back, sizeof back));
  evl_task *tc = tt_spawn(&e, pk_waiter, &wait);
  pp_env spin = {.t = t, .loop = e.loop};
  pp_spin(&spin, 3); /* the waiter is in its recv */
  T_OK(t, "evl_task_cancel", evl_task_cancel(tc));
  T_OK(t, "cancelled task", tt_run(&e, tc, NULL));
  T_RC(t, "evl_task_recv in the cancelled task", -ECANCELED, (int)wait.got);
  pk_ctx after = {.p = p, .fd = b[0]};
  T_EQ(t, "write", 4, write(b[1], "late", 4));
  evl_task *ta = tt_spawn(&e, pk_waiter, &after);
  T_OK(t, "recv after the cancel", tt_run(&e, ta, NULL));
  T_EQ(t, "a recv after the cancelled one gets the next bytes", 4, after.got);
  evl_task_release(te);
  evl_task_release(tw);
  evl_task_release(tc);
  evl_task_release(ta);
  T_OK(t, "evl_io_close", evl_io_close(p, a[0]));
  T_OK(t, "evl_io_close", evl_io_close(p, b[0]));
  T_OK(t, "evl_proactor_close", evl_proactor_close(p));
  tt_close(&e);
  t_close(a[1]);
  t_close(b[1]);
}
