/* list_variants.h — loops that differ from the reference where the contract
 * leaves the choice open (variant_loop.c), one row per variant: the sample
 * loop with that difference must pass the whole suite. A failure means a
 * test asserts what CONTRACT.md does not say.
 *
 * X(name, base, what differs, the contract's words that allow it)
 *
 * base: SAMPLE, the sample loop, or REF, the reference core on epoll (for
 * the parts the sample lacks), or BACKEND, a backend plugin
 * (mutant_backend.c) that must pass the K-suite and the reference core's
 * S-suite over it. Keep `X(name, BASE,` on the row's first line: the
 * Makefile and check.sh read it with sed.
 */
#ifndef EVL_VARIANTS_LIST_H
#define EVL_VARIANTS_LIST_H
#define EVL_VARIANT_LIST(X)                                                    \
  X(coarse_timer, SAMPLE,                                                      \
    "waits rounded up to a 4 ms tick: timers run up to 4 ms late",             \
    "S2: never before their deadline (no bound on lateness)")                  \
  X(handle_scramble, SAMPLE, "handles bit-rotated and xored: other numbers",   \
    "S4: handles are generation-checked ids (no layout)")                      \
  X(wait_slices, SAMPLE,                                                       \
    "each wait polls in slices of at most 2 ms, one wait counted",             \
    "S3: a loop sleeps and does not spin (its wait may wake inside)")          \
  X(huge_refused, SAMPLE,                                                      \
    "delays beyond 2^60 ns refused with -ERANGE / -EOVERFLOW",                 \
    "S2: a huge delay is accepted or refused with -EINVAL, -ERANGE or "        \
    "-EOVERFLOW")                                                              \
  X(early_wakeup, SAMPLE,                                                      \
    "a wait of 8 ms or more wakes empty halfway, then waits again",            \
    "S3: at most 3 waits for a 10 ms timer; no spinning")                      \
  X(reuse_refused, SAMPLE,                                                     \
    "an add on a reused number whose old watcher was never "                   \
    "removed is refused with -EEXIST",                                         \
    "S6: adding for the new file works or returns an error")                   \
  X(bare_events, SAMPLE,                                                       \
    "callbacks get EVL_READ or EVL_WRITE only, never HUP/ERR",                 \
    "S6: hang-up wakes both directions (read sees EOF, write EPIPE)")          \
  X(writer_first, SAMPLE, "an fd's writer is queued before its reader",        \
    "S6: no order between the two directions of one fd")                       \
  X(io_reverse, SAMPLE, "ready fds queued in descending fd order",             \
    "S1/S6: no order among ready watchers of one iteration")                   \
  X(executor_one_worker, REF,                                                  \
    "the executor has one worker whatever the config asks",                    \
    "S14: runs fn on a worker thread (no number of workers)")                  \
  X(done_reversed, REF,                                                        \
    "a future's done-callbacks run newest first (nim-lang/Nim#7197)",          \
    "S13: scheduled with call_soon, never inside set_result (no order; "       \
    "python/cpython#75218 asks asyncio to document its own)")                  \
  X(batch_purged, BACKEND,                                                     \
    "entries taken beyond cap held for the next waits, dropped on delete",     \
    "K4: every ready fd within a bounded number of waits; K6")                 \
  X(eintr_returned, BACKEND, "an interrupted wait returns -EINTR",             \
    "backend.h: EINTR is 0 events (or -EINTR: the core resumes the wait)")
#endif
