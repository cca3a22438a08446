/* diff.h — differential traces: seeded scenarios run on several loop
 * implementations, whose callback traces must agree (evl-conform
 * --differential). */
#ifndef EVL_CONFORMANCE_DIFF_H
#define EVL_CONFORMANCE_DIFF_H

#include <stdint.h>
#include <stdio.h>

#include <evl/impl.h>

enum { DIFF_MAX_OPS = 32, DIFF_SLOTS = 2, DIFF_SETTLE = 4 };

/* X(name, text): one step of a scenario, run by the loop's first callback
 * of batch `phase`. `a` is the step's number: ms past a base ten seconds
 * ago (at-past), bytes (write), bytes per read (add-reader), calls before
 * it removes itself (add-writer), the step whose handle to cancel (cancel),
 * pipe 0 / socketpair 1 (reopen). WRITE to CLOSE_PEER are the fd steps, in
 * one run (DIFF_NO_IO leaves them out). */
#define DIFF_OPS(X)                                                            \
  X(SOON, "call_soon")                                                         \
  X(LATER_NEG, "call_later(-1 ms)")                                            \
  X(AT_PAST, "call_at(base + a ms), in the past")                              \
  X(AT_FAR, "call_at(base + 1 h + a ms), never due")                           \
  X(CANCEL, "cancel the handle of step a")                                     \
  X(WRITE, "write a bytes into the slot")                                      \
  X(ADD_R, "add_reader, reading a bytes per call")                             \
  X(ADD_W, "add_writer, removed after a calls")                                \
  X(RM_R, "remove_reader")                                                     \
  X(RM_W, "remove_writer")                                                     \
  X(REOPEN, "remove both, close both ends, open again (same numbers)")         \
  X(CLOSE_PEER, "remove the writer, close the write end")                      \
  X(STOP, "stop")                                                              \
  X(REARM, "rearm_at the handle of step a to base + b ms (b 3: 1 h)")

enum {
#define DIFF_OP_ENUM(name, text) DIFF_##name,
  DIFF_OPS(DIFF_OP_ENUM)
#undef DIFF_OP_ENUM
      DIFF_NKINDS
};

/* What the generator leaves out, so that an implementation's declared
 * deviations (CONTRACT.md differences it documents) are not re-found. */
enum {
  DIFF_NO_EQUAL = 1u << 0,      /* equal deadlines in one batch */
  DIFF_NO_PEER_CLOSE = 1u << 1, /* hang-ups */
  DIFF_NO_REARM = 1u << 2,      /* no EVL_IF_REARM */
  DIFF_NO_IO = 1u << 3, /* readers and writers (the run cycle's order) */
};

typedef struct diff_op {
  uint8_t kind, phase, slot, a, b;
} diff_op;

typedef struct diff_scen {
  int n, nphases;
  diff_op op[DIFF_MAX_OPS];
} diff_scen;

void diff_generate(diff_scen *sc, uint64_t seed, unsigned flags);
/* Runs sc on a fresh loop of impl; the normalized trace goes to buf. 0, or
 * loop_new's error. */
int diff_execute(const evl_impl_ops *impl, const diff_scen *sc, char *buf,
                 size_t len);
void diff_print(FILE *f, const diff_scen *sc);
uint64_t diff_hash(const char *s);
/* The flags an implementation's declared deviations call for. */
unsigned diff_flags_for(const evl_impl_ops *impl);

/* The --differential run; returns the exit status. */
int diff_main(char **impls, int nimpls, char **backends, int nbackends,
              long count, uint64_t seed, double scale);

#endif
