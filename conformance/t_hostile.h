/* t_hostile.h — shared by the "never kills the process" tests: which fds an
 * object opened, and whether anything was printed meanwhile. */
#ifndef EVL_T_HOSTILE_H
#define EVL_T_HOSTILE_H

#include "harness.h"

enum { HOSTILE_MAX_FDS = 16 };

/* The open fd numbers below 1024 as a bitmap: taken before and after an
 * object is created, the difference is what it opened. */
typedef struct hostile_fds {
  unsigned char open[1024 / 8];
} hostile_fds;
void hostile_fds_snap(hostile_fds *s);
/* Numbers open in `after` but not in `before`, at most cap of them. */
int hostile_fds_new(const hostile_fds *before, const hostile_fds *after,
                    int *out, int cap);
int hostile_fds_same(const hostile_fds *a, const hostile_fds *b);

/* 1 if fd is an epoll or io_uring instance. */
int hostile_fd_is_instance(int fd);

/* Sends stderr to a temporary file until hostile_quiet_end, which returns
 * how many bytes were written to it (the library must print nothing). */
int hostile_quiet_begin(evl_tctx *t);
long hostile_quiet_end(int saved);

#endif
