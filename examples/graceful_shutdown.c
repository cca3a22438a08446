/* graceful_shutdown.c — run until SIGINT or SIGTERM, then wind everything
 * down in order and say what was done: stop the timer, let in-flight
 * executor work finish, restore the signal dispositions, close the loop. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <evl/evl.h>

#define MS 1000000LL /* nanoseconds */

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "graceful_shutdown: %s: %s\n", what, evl_strerror(rc));
    exit(1);
  }
}

typedef struct app {
  evl_loop *loop;
  evl_handle heartbeat; /* the pending timer, cancelled at shutdown */
  int beats;
  int shutting_down;
  const char *signal_name;
  /* The background job polls this: the only field a worker reads while
   * the loop runs, hence atomic. */
  atomic_int quit;
  long steps; /* written by the job, read after its future completes */
} app;

static void on_heartbeat(void *arg) {
  app *a = arg;
  a->beats++;
  check(evl_call_later(a->loop, 100 * MS, on_heartbeat, a, &a->heartbeat),
        "evl_call_later");
}

/* Long-running work on an executor thread. A worker cannot be interrupted
 * from outside, so it checks a flag between small steps (cooperative
 * cancellation) and returns what it got done. */
static int background_job(void *arg, void **result) {
  app *a = arg;
  struct timespec step = {0, 20 * MS};
  long steps = 0;
  while (!atomic_load(&a->quit) && steps < 3000) { /* at most a minute */
    nanosleep(&step, NULL);
    steps++;
  }
  a->steps = steps;
  *result = &a->steps;
  return 0;
}

/* Signal handlers run on the loop thread, like any callback, so they may
 * use the whole API (not only async-signal-safe calls). */
static void shutdown_on(app *a, const char *name) {
  if (a->shutting_down)
    return; /* a second signal while winding down changes nothing */
  a->shutting_down = 1;
  a->signal_name = name;
  check(evl_stop(a->loop), "evl_stop");
}

static void on_sigint(void *arg) {
  shutdown_on(arg, "SIGINT");
}

static void on_sigterm(void *arg) {
  shutdown_on(arg, "SIGTERM");
}

int main(void) {
  app a = {0};
  check(evl_loop_new(&a.loop, NULL), "evl_loop_new");
  check(evl_add_signal_handler(a.loop, SIGINT, on_sigint, &a),
        "evl_add_signal_handler(SIGINT)");
  check(evl_add_signal_handler(a.loop, SIGTERM, on_sigterm, &a),
        "evl_add_signal_handler(SIGTERM)");
  check(evl_call_later(a.loop, 100 * MS, on_heartbeat, &a, &a.heartbeat),
        "evl_call_later");
  evl_future *job;
  check(evl_run_in_executor(a.loop, background_job, &a, &job),
        "evl_run_in_executor");

  printf("running as pid %d; stop me with SIGINT (Ctrl-C) or SIGTERM\n",
         (int)getpid());
  fflush(stdout);
  check(evl_run_forever(a.loop), "evl_run_forever");

  /* Only a signal stops the loop; now wind down, newest work first. */
  printf("received %s after %d heartbeat%s\n", a.signal_name, a.beats,
         a.beats == 1 ? "" : "s");
  int rc = evl_cancel(a.loop, a.heartbeat);
  if (rc != EVL_EHANDLE) /* EHANDLE: it was running right now; fine */
    check(rc, "evl_cancel");
  printf("cancelled the heartbeat timer\n");

  /* In-flight work is asked to finish, then awaited: run_until_complete
   * keeps the loop alive until the worker's result arrives. */
  atomic_store(&a.quit, 1);
  printf("asked the background job to finish; waiting for it\n");
  fflush(stdout);
  check(evl_run_until_complete(a.loop, job), "the background job");
  printf("background job finished after %ld step%s\n", a.steps,
         a.steps == 1 ? "" : "s");
  evl_future_release(job);

  /* Removing puts back the dispositions found at add (close would too). */
  int removed = 0;
  check(rc = evl_remove_signal_handler(a.loop, SIGINT), "remove SIGINT");
  removed += rc;
  check(rc = evl_remove_signal_handler(a.loop, SIGTERM), "remove SIGTERM");
  removed += rc;
  printf("removed %d signal handlers; previous dispositions restored\n",
         removed);

  /* Close joins the executor's worker threads and releases every fd. */
  check(evl_loop_free(a.loop), "evl_loop_free");
  printf("closed the loop; bye\n");
  return 0;
}
