/* t_hostile.c — helpers of the "never kills the process" tests. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t_hostile.h"

void hostile_fds_snap(hostile_fds *s) {
  memset(s, 0, sizeof *s);
  for (int fd = 0; fd < 1024; fd++)
    if (fcntl(fd, F_GETFD) >= 0)
      s->open[fd / 8] |= (unsigned char)(1u << (fd % 8));
}

int hostile_fds_new(const hostile_fds *before, const hostile_fds *after,
                    int *out, int cap) {
  int n = 0;
  for (int fd = 0; fd < 1024 && n < cap; fd++) {
    unsigned bit = 1u << (fd % 8);
    if ((after->open[fd / 8] & bit) && !(before->open[fd / 8] & bit))
      out[n++] = fd;
  }
  return n;
}

int hostile_fds_same(const hostile_fds *a, const hostile_fds *b) {
  return memcmp(a, b, sizeof *a) == 0;
}

int hostile_fd_is_instance(int fd) {
  char path[64], link[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, link, sizeof link - 1);
  if (n <= 0)
    return 0;
  link[n] = 0;
  return !strcmp(link, "anon_inode:[eventpoll]") ||
         !strcmp(link, "anon_inode:[io_uring]");
}

int hostile_quiet_begin(evl_tctx *t) {
  fflush(stderr);
  char path[] = "/tmp/evl-quiet-XXXXXX";
  int tmp = mkstemp(path);
  if (tmp < 0)
    T_FAIL(t, "mkstemp: errno %d", errno);
  unlink(path);
  int saved = dup(2);
  if (saved < 0 || dup2(tmp, 2) < 0)
    T_FAIL(t, "redirecting stderr: errno %d", errno);
  close(tmp);
  return saved;
}

long hostile_quiet_end(int saved) {
  fflush(stderr);
  long n = (long)lseek(2, 0, SEEK_END);
  dup2(saved, 2);
  close(saved);
  return n;
}
