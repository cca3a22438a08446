/* s_hostile.c — S8/S10 on every loop implementation: creating a loop with
 * one to three fds to spare and a wait whose kernel objects were closed
 * under it return codes; neither prints, exits nor aborts. */
#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>

#include "t_hostile.h"

/* Leaves exactly `spare` numbers free below a lowered RLIMIT_NOFILE, tries
 * loop_new, and puts everything back. */
static int s8_new_with_spare(evl_tctx *t, int spare, long *printed,
                             int *same_fds) {
  struct rlimit old;
  T_OK(t, "getrlimit", getrlimit(RLIMIT_NOFILE, &old) ? -errno : 0);
  hostile_fds before, after;
  int saved = hostile_quiet_begin(t);
  int fds[64], n = 0;
  while (n < 64) {
    int fd = dup(0);
    if (fd < 0)
      break;
    fds[n++] = fd;
  }
  int top = n ? fds[n - 1] + 1 : 3;
  /* The last `spare` numbers go back: they are the free ones. */
  for (int i = 0; i < spare && n > 0; i++)
    close(fds[--n]);
  hostile_fds_snap(&before);
  struct rlimit low = {.rlim_cur = (rlim_t)top, .rlim_max = old.rlim_max};
  int lim = setrlimit(RLIMIT_NOFILE, &low) ? -errno : 0;
  evl_impl_config cfg = {.size = sizeof cfg};
  evl_loop *loop = NULL;
  int rc = lim < 0 ? lim : OPS->loop_new(OPS->data, &cfg, &loop);
  if (rc == 0)
    OPS->loop_free(loop);
  hostile_fds_snap(&after);
  setrlimit(RLIMIT_NOFILE, &old);
  for (int i = 0; i < n; i++)
    close(fds[i]);
  *printed = hostile_quiet_end(saved);
  *same_fds = hostile_fds_same(&before, &after);
  T_OK(t, "setrlimit(RLIMIT_NOFILE) just above the open fds", lim);
  return rc;
}

void test_s8_new_few_fds(evl_tctx *t) {
  for (int spare = 1; spare <= 3; spare++) {
    long printed = 0;
    int same = 0;
    int rc = s8_new_with_spare(t, spare, &printed, &same);
    if (rc != 0 && rc != -EMFILE)
      T_FAIL(t,
             "loop_new with %d fd(s) to spare: expected 0 or -EMFILE, "
             "got %d (%s)",
             spare, rc, evl_strerror(rc));
    if (printed)
      T_FAIL(t, "loop_new with %d fd(s) to spare printed %ld bytes to stderr",
             spare, printed);
    if (!same)
      T_FAIL(t,
             "loop_new with %d fd(s) to spare left fds open (or closed "
             "some) after it returned %d",
             spare, rc);
  }
  evl_loop *loop = st_loop(t);
  st_free(t, loop);
}

static void s10_noop(void *arg) {
  (void)arg;
}

static void s10_quiet_handler(const evl_error_info *info, void *arg) {
  (void)info;
  ++*(int *)arg;
}

/* The loop's kernel objects are closed under it, as a stray close() in the
 * program would: its next wait fails in whatever way the kernel says, and
 * run must come back with a code. */
void test_s10_wait_fails_no_abort(evl_tctx *t) {
  hostile_fds before, after;
  hostile_fds_snap(&before);
  evl_loop *loop = st_loop(t);
  hostile_fds_snap(&after);
  int reports = 0;
  if (OPS->features & EVL_IF_ERRORS)
    T_OK(t, "set_error_handler",
         OPS->set_error_handler(loop, s10_quiet_handler, &reports));
  int own[HOSTILE_MAX_FDS];
  int n = hostile_fds_new(&before, &after, own, HOSTILE_MAX_FDS);
  if (n == 0)
    T_SKIP(t, "the loop holds no fd of its own to break");
  /* The epoll (or io_uring) instances when the loop has any: closing the
   * library's other fds too would only make it leak what it can no longer
   * release; with none (poll, select), every fd the loop opened. */
  int kernel = 0;
  for (int i = 0; i < n; i++)
    kernel += hostile_fd_is_instance(own[i]);
  for (int i = 0; i < n; i++)
    if (!kernel || hostile_fd_is_instance(own[i]))
      close(own[i]);
  T_OK(t, "call_soon", OPS->call_soon(loop, s10_noop, NULL, NULL));
  int rc1 = OPS->run_once(loop);
  T_OK(t, "call_soon", OPS->call_soon(loop, s10_noop, NULL, NULL));
  int rc2 = OPS->run_once(loop);
  T_TRUE(t, "run_once returned (0 or a code) after its fds were closed",
         rc1 <= 0 && rc2 <= 0);
  (void)reports;
  OPS->loop_free(loop); /* may close numbers already closed: harmless */
}
