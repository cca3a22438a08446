/* executor_demo.c — "don't block the loop": a CPU-heavy job moved to the
 * executor while a timer keeps ticking.
 *
 *   executor_demo            the job runs on a worker; ticks go on
 *   executor_demo --inline   the job runs inside a callback in debug mode;
 *                            no tick while it runs, and the loop reports
 *                            the slow callback on stderr */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evl/evl.h>

#define MS 1000000LL      /* nanoseconds */
#define TICK_NS (50 * MS) /* the heartbeat that must not stall */
#define LIMIT 1500000     /* primes below this: a few hundred ms of CPU */

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "executor_demo: %s: %s\n", what, evl_strerror(rc));
    exit(1);
  }
}

typedef struct demo {
  evl_loop *loop;
  int inline_job;
  evl_future *job; /* the executor job's future, NULL inline */
  long primes;
  int ticks;
  int job_running;
  int ticks_during_job;
} demo;

/* The CPU-heavy part: plain trial division, deliberately not clever. */
static long count_primes(long limit) {
  long count = 0;
  for (long n = 2; n < limit; n++) {
    int prime = 1;
    for (long d = 2; d * d <= n; d++)
      if (n % d == 0) {
        prime = 0;
        break;
      }
    count += prime;
  }
  return count;
}

static void on_tick(void *arg) {
  demo *d = arg;
  d->ticks++;
  if (d->job_running)
    d->ticks_during_job++;
  printf("tick %d%s\n", d->ticks, d->job_running ? " (job running)" : "");
  fflush(stdout);
  check(evl_call_later(d->loop, TICK_NS, on_tick, d, NULL), "evl_call_later");
}

static void stop_loop(void *arg) {
  demo *d = arg;
  check(evl_stop(d->loop), "evl_stop");
}

static void finish(demo *d) {
  d->job_running = 0;
  printf("job done: %ld primes below %d; %d tick%s while it ran\n", d->primes,
         LIMIT, d->ticks_during_job, d->ticks_during_job == 1 ? "" : "s");
  fflush(stdout);
  /* A little longer, to show the heartbeat is still alive. */
  check(evl_call_later(d->loop, TICK_NS + TICK_NS / 2, stop_loop, d, NULL),
        "evl_call_later");
}

/* Runs on an executor thread: it must not touch the loop. */
static int job_on_worker(void *arg, void **result) {
  demo *d = arg;
  d->primes = count_primes(LIMIT);
  *result = &d->primes;
  return 0;
}

/* Runs on the loop thread once the worker is done. The future's
 * completion is what hands d->primes over from the worker safely. */
static void job_done(evl_future *f, void *arg) {
  demo *d = arg;
  void *result;
  check(evl_future_result(f, &result), "the job");
  finish(d);
}

static void start_job(void *arg) {
  demo *d = arg;
  d->job_running = 1;
  printf("job started%s\n", d->inline_job ? " inline" : " on the executor");
  fflush(stdout);
  if (d->inline_job) {
    /* The wrong way: the loop is stuck in here, no tick can run. */
    d->primes = count_primes(LIMIT);
    finish(d);
    return;
  }
  /* The right way: the worker computes, the loop keeps ticking. */
  check(evl_run_in_executor(d->loop, job_on_worker, d, &d->job),
        "evl_run_in_executor");
  check(evl_future_add_done_callback(d->job, job_done, d),
        "evl_future_add_done_callback");
}

int main(int argc, char **argv) {
  demo d = {0};
  d.inline_job = argc == 2 && strcmp(argv[1], "--inline") == 0;
  if (argc > 2 || (argc == 2 && !d.inline_job)) {
    fprintf(stderr, "usage: executor_demo [--inline]\n");
    return 2;
  }

  /* Debug mode reports every callback slower than 100 ms (asyncio's
   * default) to the error handler; the default one prints a line on
   * stderr. */
  evl_loop_config cfg;
  evl_loop_config_init(&cfg);
  if (d.inline_job)
    cfg.flags |= EVL_LOOP_DEBUG;
  check(evl_loop_new(&d.loop, &cfg), "evl_loop_new");

  check(evl_call_later(d.loop, TICK_NS, on_tick, &d, NULL), "evl_call_later");
  /* Start the job between the third and the fourth tick. */
  check(evl_call_later(d.loop, 3 * TICK_NS + TICK_NS / 2, start_job, &d, NULL),
        "evl_call_later");
  check(evl_run_forever(d.loop), "evl_run_forever");

  /* Closing drops the pending tick and joins the executor's workers. */
  evl_future_release(d.job);
  check(evl_loop_free(d.loop), "evl_loop_free");
  return 0;
}
