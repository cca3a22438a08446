/* hello_world.c — asyncio's classic: print "Hello", wait one second on a
 * future that a timer completes, print "World". */
#include <stdio.h>
#include <stdlib.h>

#include <evl/evl.h>

/* Every call returns 0 or a negative code; evl_strerror() names it. */
static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "hello_world: %s: %s\n", what, evl_strerror(rc));
    exit(1);
  }
}

/* Runs on the loop thread one second after main scheduled it. */
static void wake_up(void *arg) {
  evl_future *f = arg;
  check(evl_future_set_result(f, "World"), "evl_future_set_result");
}

int main(void) {
  evl_loop *loop;
  /* When the loop cannot be made (EVL_BACKEND names a broken plugin, say),
   * evl_last_error() says why in one line; evl_strerror() only the kind. */
  int rc = evl_loop_new(&loop, NULL);
  if (rc < 0) {
    fprintf(stderr, "hello_world: evl_loop_new: %s\n", evl_last_error());
    return 1;
  }

  printf("Hello\n");
  fflush(stdout);

  /* The asyncio shape: a future, something that completes it later, and
   * run_until_complete to drive the loop until it is done. */
  evl_future *f;
  check(evl_future_new(loop, &f), "evl_future_new");
  check(evl_call_later(loop, 1000000000 /* ns */, wake_up, f, NULL),
        "evl_call_later");
  check(evl_run_until_complete(loop, f), "evl_run_until_complete");

  void *result;
  check(evl_future_result(f, &result), "evl_future_result");
  printf("%s\n", (const char *)result);

  /* Futures go before the loop: they point at it. */
  evl_future_release(f);
  check(evl_loop_free(loop), "evl_loop_free");
  return 0;
}
