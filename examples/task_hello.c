/* task_hello.c — asyncio.run(main()) with `await asyncio.sleep(1)`: a task
 * prints "Hello", sleeps one second on a loop timer (the loop keeps
 * running), prints "World". EVL_IMPL picks the loop implementation at run
 * time: EVL_IMPL=native-libuv build/examples/task_hello */
#include <stdio.h>

#include <evl/task.h>

static int hello(void *arg, void **result) {
  (void)arg;
  (void)result;
  printf("Hello\n");
  fflush(stdout);
  int rc = evl_sleep(1000000000); /* ns; suspends this task only */
  if (rc < 0)
    return rc;
  printf("World\n");
  return 0;
}

int main(void) {
  int rc = evl_run(hello, NULL, NULL);
  if (rc < 0) {
    fprintf(stderr, "task_hello: %s\n", evl_strerror(rc));
    return 1;
  }
  return 0;
}
