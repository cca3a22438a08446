/* task_executor.c — "don't block the loop", with tasks: one task awaits a
 * blocking computation on the executor (evl_to_thread, asyncio.to_thread)
 * while another task keeps ticking every 100 ms on the loop. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <evl/task.h>

typedef struct shared {
  int done;
  int ticks;
} shared;

/* Blocking and CPU-bound: runs on a worker thread, never on the loop. */
static int count_primes(void *arg, void **result) {
  uintptr_t limit = (uintptr_t)arg, count = 0;
  for (uintptr_t n = 2; n < limit; n++) {
    int prime = 1;
    for (uintptr_t d = 2; d * d <= n && prime; d++)
      prime = n % d != 0;
    count += (uintptr_t)prime;
  }
  struct timespec ts = {0, 400 * 1000000L}; /* and some waiting, too */
  nanosleep(&ts, NULL);
  *result = (void *)count;
  return 0;
}

static int ticker(void *arg, void **result) {
  shared *s = arg;
  (void)result;
  while (!s->done) {
    printf("tick %d (job running)\n", ++s->ticks);
    fflush(stdout);
    int rc = evl_sleep(100 * 1000000ull);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int main_task(void *arg, void **result) {
  (void)arg;
  (void)result;
  shared s = {0, 0};
  evl_task *tick;
  int rc = evl_task_spawn(evl_current_tasks(), ticker, &s, &tick);
  if (rc < 0)
    return rc;
  void *primes = NULL;
  rc = evl_to_thread(count_primes, (void *)(uintptr_t)200000, &primes);
  s.done = 1;
  if (rc == 0)
    printf("job done: %lu primes below 200000, %d ticks while it ran\n",
           (unsigned long)(uintptr_t)primes, s.ticks);
  int trc = evl_await_task(tick, NULL);
  evl_task_release(tick);
  return rc < 0 ? rc : trc;
}

int main(void) {
  int rc = evl_run(main_task, NULL, NULL);
  if (rc < 0) {
    fprintf(stderr, "task_executor: %s\n", evl_strerror(rc));
    return 1;
  }
  return 0;
}
