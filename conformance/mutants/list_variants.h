/* list_variants.h — loops that differ from the reference where the contract
 * leaves the choice open (variant_loop.c; REF rows variant_ref.c), one row per
 * variant: the sample loop with that difference must pass the whole suite. A
 * failure means a test asserts what CONTRACT.md does not say.
 *
 * X(name, base, what differs, the contract's words that allow it)
 *
 * base: SAMPLE, the sample loop, or REF, the reference core on epoll (for
 * the parts the sample lacks), or BACKEND, a backend plugin
 * (mutant_backend.c) that must pass the K-suite and the reference core's
 * S-suite over it. Keep `X(name, BASE,` on the row's first line: the
 * Makefile and check.sh read it with sed.
 *
 * Freedoms of CONTRACT.md with no row yet: a future's done-callbacks run from
 * one call_soon (done_reversed does, newest first); SIGUSR1 refused with
 * -ENOTSUP (the S12 tests still need SIGUSR1, and SIGUSR2, SIGWINCH or
 * SIGURG).
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
    "delays beyond 2^60 ns refused with -EINVAL, -ERANGE or -EOVERFLOW",       \
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
    "backend.h: EINTR is 0 events (or -EINTR: the core resumes the wait)")     \
  X(time_fresh, SAMPLE,                                                        \
    "time() reads the clock at every call (asyncio: loop.time() is "           \
    "time.monotonic())",                                                       \
    "S5: time(loop) is monotonic and refreshed after every wait (not only)")   \
  X(time_ms, SAMPLE,                                                           \
    "time() counts whole milliseconds, floored (libuv: uv_now())",             \
    "S5: monotonic, refreshed after every wait (no resolution); delays use "   \
    "a fresh clock read, not time()")                                          \
  X(posts_after_io, SAMPLE,                                                    \
    "posts are queued behind the ready watchers, before the due timers "       \
    "(libuv: the async handle's fd is one more ready fd)",                     \
    "S1: posts count as ready watchers, in any order among them")              \
  X(posts_chunked, SAMPLE,                                                     \
    "at most 64 posts are taken per iteration, the rest in later ones "        \
    "(libevent: max_dispatch_callbacks)",                                      \
    "S9: each post runs exactly once, per-thread FIFO (no batch size)")        \
  X(file_refused, SAMPLE,                                                      \
    "a regular file is refused with -EPERM (libuv: uv_poll_init over epoll)",  \
    "S6: an fd the backend cannot watch gets a defined error; regular files "  \
    "are expected only of backends with FILES")                                \
  X(events_whole_mask, SAMPLE,                                                 \
    "each callback of an fd gets every bit the fd reported (libuv: one "       \
    "uv_poll per fd, one mask for both directions)",                           \
    "S6: reader and writer callbacks (no exact mask beyond their direction)")  \
  X(executor_wide, REF,                                                        \
    "the executor has 32 workers whatever the config asks (asyncio: "          \
    "min(32, cpus + 4))",                                                      \
    "S14: runs fn on a worker thread (no number of workers)")                  \
  X(signal_posted, REF,                                                        \
    "a signal's callback is posted with call_soon_threadsafe and runs from "   \
    "the next batch (asyncio: _add_callback_signalsafe)",                      \
    "S12: runs cb on the loop thread after the signal arrives (no iteration)") \
  X(due_fresh_now, SAMPLE,                                                     \
    "due timers are those due by a clock read after the ready watchers were "  \
    "queued (asyncio: end_time = time() after select)",                        \
    "S2/S1: due timers run in the iteration that finds them due (no clock "    \
    "read named)")                                                             \
  X(features_minimal, SAMPLE,                                                  \
    "the required ops only: no THREADSAFE, RUNNING, ERRORS, STATS or REARM",   \
    "an implementation that lacks an optional part gets SKIP")                 \
  X(signal_usr2_reserved, REF,                                                 \
    "SIGUSR2 is refused with -ENOTSUP (the JVM's suspend signal, Boehm GC's "  \
    "on the BSDs)",                                                            \
    "S12: a valid number the loop cannot watch gets -ENOTSUP")                 \
  X(posts_by_thread, SAMPLE,                                                   \
    "a take queues posts thread by thread, the last thread to post first "     \
    "(one queue per producer)",                                                \
    "S9: every posted callback runs exactly once, in per-thread FIFO order")   \
  X(signal_each_delivery, REF,                                                 \
    "one signal callback per delivery, none merged (libuv: uv__signal_event "  \
    "calls signal_cb once per message its handler wrote)",                     \
    "S12: deliveries may coalesce but are never all lost")                     \
  X(executor_lifo, REF,                                                        \
    "jobs submitted since the loop last ran start newest first (a pool "       \
    "taking work from a LIFO stack)",                                          \
    "S14: runs fn on a worker thread (no order among jobs)")                   \
  X(error_line_libevent, SAMPLE,                                               \
    "the default error line is libevent's '[err] MESSAGE: STRERROR' "          \
    "(event_warn), no context, written in three write(2) calls",               \
    "S10: the default handler writes one line on stderr that includes the "    \
    "message")                                                                 \
  X(closed_reported_err, BACKEND,                                              \
    "a registered fd found closed at a wait is reported once, EVL_ERR with "   \
    "its directions (poll's POLLNVAL, told once)",                             \
    "K12: the closed fd may be reported once with EVL_ERR; K2: no spin")       \
  X(delete_closed_ok, BACKEND,                                                 \
    "the delete of a registered fd since closed returns 0 (libevent's epoll "  \
    "takes EBADF on EPOLL_CTL_DEL as done; ehsanmok/flare#10)",                \
    "K1: an fd closed while registered may fail its delete (or not)")          \
  X(delete_gone_enoent, BACKEND,                                               \
    "the delete of a registered number since closed (or reused by a file "     \
    "never added) returns -ENOENT, not -EBADF",                                \
    "K1: an fd closed while registered may fail its delete (any -errno)")
#endif
