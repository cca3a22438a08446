/* task_echo.h — the turns task_echo's server thread and its client thread
 * take (bench/task_echo.c serves, bench/task_echo_client.c drives): the
 * client names whose turn it is in te_sl.phase and wakes that server's
 * loop with a byte on its control pipe. */
#ifndef BENCH_TASK_ECHO_H
#define BENCH_TASK_ECHO_H

#include <stdatomic.h>
#include <stdint.h>

#include "bench.h"

#define TE_MSG 1024 /* bytes a request, and its reply */
#define TE_PAIRS 64 /* at most, kept pairs per count and round */
#define TE_MAXC 100

/* te_sl.phase: the turn's number times 4 plus whose turn it is. */
enum { TE_CB, TE_TASKS, TE_END = 2, TE_SETUP = 3 };
#define TE_PHASE(turn, who) ((turn)*4 + (who))
#define TE_WHO(phase) ((phase) % 4)
#define TE_TURN(phase) ((phase) / 4)

typedef struct te_sl {
  bench_ctx *c;
  int conc, npairs, first, rc;
  uint64_t slice;
  int port[2], ctl[2][2]; /* per server: listening port, control pipe */
  atomic_int phase;       /* TE_PHASE(turn, TE_CB, TE_TASKS or TE_END) */
  atomic_int ready;       /* the server accepted every connection */
  long reqs[2][TE_PAIRS + 1];
} te_sl;

/* Sets the next phase, then wakes the server from who's loop. */
void te_kick(te_sl *t, int who, int next);
/* The client thread (pthread body, arg a te_sl): conc connections to each
 * server, 2 * (npairs + 1) turns; its -errno in t->rc. */
void *te_client(void *arg);

#endif
