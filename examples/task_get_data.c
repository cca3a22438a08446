/* task_get_data.c — asyncio's run_until_complete(get_data()): a task that
 * awaits something slow (a 100 ms sleep standing in for I/O) returns its
 * data, and the caller gets it back from run_until_complete. This one
 * drives the reference core's evl_loop directly (evl_tasks_new_ref). */
#include <stdio.h>
#include <stdlib.h>

#include <evl/task.h>

static void check(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "task_get_data: %s: %s\n", what, evl_strerror(rc));
    exit(1);
  }
}

static int get_data(void *arg, void **result) {
  const char *source = arg;
  int rc = evl_sleep(100 * 1000000ull); /* the "I/O" */
  if (rc < 0)
    return rc;
  *result = (void *)source;
  return 0;
}

int main(void) {
  evl_loop *loop;
  check(evl_loop_new(&loop, NULL), "evl_loop_new");
  evl_tasks *ts;
  check(evl_tasks_new_ref(loop, NULL, &ts), "evl_tasks_new_ref");

  evl_task *task;
  check(evl_task_spawn(ts, get_data, "data from the task", &task),
        "evl_task_spawn");
  void *data;
  check(evl_tasks_run_until_complete(ts, task, &data),
        "evl_tasks_run_until_complete");
  printf("got: %s\n", (const char *)data);

  evl_task_release(task);
  check(evl_tasks_close(ts), "evl_tasks_close"); /* closes the loop too */
  check(evl_loop_free(loop), "evl_loop_free");
  return 0;
}
