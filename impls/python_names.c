/* python_names.c — the names impls/python.c answers to, each a table with
 * its own deviations: py-asyncio[-epoll|-poll|-select], py-uvloop and
 * py:MODULE:FACTORY. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python.h"

/* Deviations every loop on this interpreter shares: signal delivery goes
 * through signal.set_wakeup_fd, one fd per process. */
#define PYL_DEV_SIGNALS                                                        \
  {"s12_two_loops",                                                            \
   "signal.set_wakeup_fd is one fd per process: the second loop's "            \
   "add_signal_handler takes it over and the first never sees the signal"},    \
      {"s12_close_restores",                                                   \
       "close removes each handler the way remove does, which sets SIG_DFL "   \
       "(default_int_handler for SIGINT), not the disposition found before"},  \
  {                                                                            \
    "s12_invalid_signal", "remove_signal_handler(SIGKILL or SIGSTOP) returns " \
                          "False (nothing was "                                \
                          "registered) instead of refusing the number: the "   \
                          "loop's _check_signal "                              \
                          "accepts any signal.valid_signals() member"          \
  }

/* Where asyncio's SelectorEventLoop cannot honour a rule, on any
 * selector. */
#define PYL_DEV_ASYNCIO                                                        \
  {"s2_equal_deadline_order",                                                  \
   "asyncio's timer heap compares TimerHandle._when only: heapq keeps no "     \
   "scheduling order among equal deadlines"},                                  \
      {"s4_cancel_keeps_equal_order",                                          \
       "equal deadlines run in heap order, not scheduling order (see S2)"},    \
      {"s15_rearm_equal_deadline_order",                                       \
       "re-arm is cancel plus a new call_later/call_at, and equal deadlines "  \
       "run in heap order, not scheduling order (see S2)"},                    \
      {"s15_rearm_later_equal_order",                                          \
       "re-arm is cancel plus a new call_at, and equal deadlines run in heap " \
       "order, not scheduling order (see S2)"},                                \
      {"s11_foreign_thread_refused",                                           \
       "debug mode's _check_thread guards only call_soon, call_later and "     \
       "call_at: cancel, add_reader, remove_reader and stop from a foreign "   \
       "thread are accepted"},                                                 \
      {"s12_remove_restores",                                                  \
       "remove_signal_handler sets SIG_DFL (default_int_handler for SIGINT), " \
       "not the disposition found before the first add"},                      \
      {"s12_unwatchable_enotsup",                                              \
       "remove_signal_handler sets a new SIG_DFL (signal.signal, with its "    \
       "own flags), not the disposition found before"},                        \
      {"s12_signal_pipe_not_replaceable",                                      \
       "add_reader accepts the loop's own self-pipe fd and replaces the "      \
       "loop's reader on it; remove_reader then removes it, and signals are "  \
       "never read again"},                                                    \
      PYL_DEV_SIGNALS

/* selectors.DefaultSelector is EpollSelector on Linux. */
static const evl_deviation pyl_dev_asyncio[] = {
    PYL_DEV_ASYNCIO,
    {"s6_reuse_after_close_replace",
     "add_reader on a number whose file was closed without removal: the "
     "selector still holds the old key with EVENT_READ, so modify() only "
     "swaps the callback and never calls epoll_ctl; the kernel dropped the "
     "closed file, so the new one is watched for nothing"},
    {"s6_close_before_remove_dup_no_spin",
     "remove_reader of a closed fd: EpollSelector.unregister ignores the "
     "EBADF from EPOLL_CTL_DEL, the dup keeps the file in the epoll set, and "
     "every select returns at once with an event for an fd it has no key for"},
    {NULL, NULL},
};

/* PollSelector and SelectSelector only record an fd at register: a closed
 * one is accepted, and poll() or select() trip over it later. */
static const evl_deviation pyl_dev_asyncio_poll[] = {
    PYL_DEV_ASYNCIO,
    {"s6_invalid_fd",
     "PollSelector.register records the fd without asking the kernel: "
     "add_reader of a closed fd succeeds"},
    {"s6_closed_fd_above_limit",
     "add_reader of a closed fd succeeds (see s6_invalid_fd)"},
    {NULL, NULL},
};

static const evl_deviation pyl_dev_asyncio_select[] = {
    PYL_DEV_ASYNCIO,
    {"s6_invalid_fd",
     "SelectSelector.register records the fd without asking the kernel: "
     "add_reader of a closed fd succeeds"},
    {"s6_closed_fd_above_limit",
     "add_reader of a closed fd succeeds (see s6_invalid_fd)"},
    {"s12_signal_pipe_on_reused_number",
     "an fd closed without removal stays in SelectSelector's sets: every "
     "select() fails with EBADF, and so does run_once"},
    {"s6_hangup_wakes_both",
     "select() has no hang-up condition: a peer's hang-up with data or EOF "
     "pending shows as readable only, and a writer on a full buffer is not "
     "woken"},
    {NULL, NULL},
};

/* Where uvloop cannot honour a rule. */
static const evl_deviation pyl_dev_uvloop[] = {
    {"s1_due_timer_behind_soon",
     "uvloop runs a due timer's callback in libuv's timer phase, before the "
     "idle handler that runs the call_soon queue"},
    {"s4_cancel_self",
     "call_later rounds the delay to whole ms and schedules 0 ms with "
     "call_soon: a due-now timer runs in call_soon order, ahead of later "
     "call_soon callbacks"},
    {"s2_never_early*",
     "timers are whole ms of libuv's cached uv_now (CLOCK_MONOTONIC_COARSE, "
     "refreshed once per iteration), delays rounded to the nearest ms: a "
     "timer can run up to about 1 ms before its deadline"},
    {"s2_equal_deadline_order",
     "call_at(when) reads libuv's clock twice: time() for the delay (when "
     "minus uv_now, rounded to whole ms), then UVTimer.start's "
     "uv_update_time for the uv_now the delay is added to; each ms the "
     "clock moves between the two reads puts the timer 1 ms after when, so "
     "timers given one deadline get different ones and run out of "
     "scheduling order (impls/python_uvloop_bugs.md, 6); and the rounded "
     "delay can run a timer up to about 1 ms early (see s2_never_early)"},
    {"s2_due_together_order",
     "deadlines 1 ms apart: a call_at lands as many ms after its deadline "
     "as the clock moved inside the call (see s2_equal_deadline_order), "
     "behind a timer with a later deadline once that is 2 ms or more, as "
     "when the thread is preempted there"},
    {"s15_rearm_equal_deadline_order",
     "rearm_at is cancel plus a new call_at, and call_at's timers given "
     "one deadline can get different ones (see s2_equal_deadline_order)"},
    {"s15_rearm_later_equal_order",
     "rearm_at is cancel plus a new call_at, and call_at's timers given "
     "one deadline can get different ones (see s2_equal_deadline_order)"},
    {"s1_post_before_due_timer",
     "a due timer runs in libuv's timer phase, before the poll phase that "
     "runs the post (see s1_due_timer_behind_soon)"},
    {"s15_rearm_due_by_post",
     "a due timer runs in libuv's timer phase, before the poll phase that "
     "runs the post (see s1_due_timer_behind_soon): it has run when the "
     "post re-arms it"},
    {"s4_cancel_keeps_equal_order",
     "equal deadlines on uvloop (see s2_equal_deadline_order), and a "
     "call_at whose "
     "deadline has passed is a call_soon, which runs in another queue than "
     "the timers of the same deadline"},
    {"s2_deadline_order_shuffled",
     "a timer can run up to about 1 ms early (ms rounding of the delay from "
     "the cached uv_now, see s2_never_early)"},
    {"s15_rearm_later",
     "re-arm is cancel plus a new call_later, whose timer can run up to "
     "about 1 ms early (see s2_never_early)"},
    {"s15_rearm_earlier",
     "the re-armed timer can run up to about 1 ms early (see "
     "s2_never_early)"},
    {"s15_rearm_due_in_batch",
     "the re-armed timer can run up to about 1 ms early (see "
     "s2_never_early)"},
    {"s15_rearm_dead_handle",
     "its due-now timers are call_later(0), which uvloop makes a call_soon: "
     "they run in scheduling order, ahead of a call_soon queued after them "
     "(see s4_cancel_self)"},
    {"s3_signal_no_early",
     "a 50 ms timer can run before 50 ms have passed (see s2_never_early)"},
    {"t1_sleep_not_early",
     "evl_sleep's timer can run up to about 1 ms early (see "
     "s2_never_early)"},
    {"s13_ruc_timer",
     "the 20 ms timer that completes the future can run up to about 1 ms "
     "early (see s2_never_early)"},
    {"s3_setitimer_no_early",
     "a 50 ms timer can run before 50 ms have passed: the delay counts from "
     "the cached uv_now (see s2_never_early)"},
    {"s5_time_refreshed_after_wait",
     "a 20 ms timer can run before loop.time() has moved 20 ms: the delay "
     "counts from the cached uv_now, in whole ms (see s2_never_early)"},
    {"s10_report_error_handler",
     "a 1 ms timer set before run_forever counts from the uv_now cached "
     "when the loop last iterated, is already due at the first timer "
     "phase, and runs before the call_soon callbacks queued ahead of it"},
    {"s7_run_until_stop",
     "stop() is itself a queued callback (Loop._stop): callbacks queued "
     "before it, in the stopping batch, run in the next batch with it"},
    {"s7_stop_in_batch", "stop() is a queued callback (see s7_run_until_stop)"},
    {"s6_dup_removed_no_spin",
     "uvloop keeps its iteration (uv_run) in C and exposes no blocking "
     "single iteration: run_once is stop() then run_forever(), whose poll "
     "has a zero timeout, so run_once never waits for a timer"},
    {"s6_close_before_remove_dup_no_spin",
     "libuv cannot take a closed fd out of epoll (EPOLL_CTL_DEL gets EBADF) "
     "while a dup keeps the file open: every poll returns at once"},
    {"s6_hangup_wakes_both",
     "uv_poll passes EPOLLHUP on only when it comes alone: with EPOLLIN "
     "beside it a writer is not woken by the peer's hang-up"},
    {"s11_slow_reader_reported",
     "debug mode times only callbacks of the ready queue (Loop._on_idle); "
     "readers and writers run straight from the uv_poll callback, untimed"},
    {"s11_slow_reader_set_debug", "as s11_slow_reader_reported"},
    {"s11_foreign_thread_refused",
     "debug mode's _check_thread guards only call_soon, call_later and "
     "call_at: cancel, add_reader, remove_reader and stop are accepted"},
    {"s12_signal_once",
     "remove_signal_handler returns False and removes nothing while the loop "
     "is not running (it tests _listening_signals, set only during a run): "
     "uvloop bug"},
    {"s12_remove_restores",
     "remove_signal_handler outside a run returns False and keeps the "
     "handler (see s12_signal_once); a removal sets SIG_DFL anyway"},
    {"s1_ready_behind_soon",
     "readers run straight from the uv_poll callback in libuv's poll phase, "
     "ahead of call_soon callbacks queued before the wait"},
    {"s1_ready_before_due_timer",
     "due timers run in libuv's timer phase, before the poll phase that "
     "runs ready readers (see s1_due_timer_behind_soon)"},
    {"s2_order_after_cancels",
     "deadlines are whole ms: timers whose deadlines fall in one ms run in "
     "scheduling order, not deadline order"},
    {"s6_replaced_runs_next_iteration",
     "uv_poll callbacks look the handle up when they run: a reader replaced "
     "by an earlier callback of the same poll batch runs its replacement "
     "for the event collected before"},
    {"s6_reuse_after_close_replace",
     "add_reader on a number whose file was closed without removal reuses "
     "the old uv_poll_t; libuv sees no change of interest and never adds "
     "the new file to epoll"},
    {"s8_new_fails_each_step",
     "uvloop bug: a Loop() that fails for want of fds leaves libuv's epoll "
     "fd open (see s8_new_few_fds)"},
    {"s10_loop_wait_fails",
     "libuv aborts when epoll_wait fails with anything but EINTR "
     "(uv__io_poll calls abort()): run cannot end with the error"},
    {"s12_signal_pipe_on_reused_number",
     "the self-pipe run_forever opens for signals lands on a number closed "
     "without removal; uvloop reuses that number's stale uv_poll_t, and "
     "the pipe is never watched (see s6_reuse_after_close_replace)"},
    {"s12_signal_pipe_not_replaceable",
     "add_reader accepts the loop's own signal self-pipe fd and replaces "
     "its reader; remove_reader then removes it"},
    {"s12_unwatchable_enotsup",
     "remove_signal_handler outside a run returns False and removes "
     "nothing (uvloop bug, see s12_signal_once)"},
    {"s8_new_few_fds",
     "uvloop bug: when Loop() fails for want of fds after libuv's epoll fd "
     "was opened, its __dealloc__ finds 'an open event loop' and never "
     "closes it: the epoll fd stays open"},
    {"s10_wait_fails_no_abort",
     "uvloop bug: Loop._run sets _running before the steps that fail with "
     "EINVAL once its fds were closed, outside its try/finally: the loop "
     "stays 'running', close() refuses, and the signal socketpair it opened "
     "stays open"},
    PYL_DEV_SIGNALS,
    {NULL, NULL},
};

/* One check of a test whose other checks still count. */
static const evl_check_deviation pyl_checks_uvloop[] = {
    {"s2_huge_delay", "never_early",
     "the 20 ms timer beside the huge ones can run up to about 1 ms early "
     "(see s2_never_early); the huge timers themselves are still checked"},
    {"s4_cancel_in_batch_timer", "scheduling_order",
     "the four call_at timers of one deadline can get different ones "
     "(call_at reads the clock twice, see s2_equal_deadline_order): the "
     "canceller then runs after its victim or in a later batch, and the "
     "in-batch cancel is not reached"},
    {NULL, NULL, NULL},
};

static const evl_check_deviation *pyl_checks(int family) {
  return family == PYF_UVLOOP ? pyl_checks_uvloop : NULL;
}

static const evl_deviation *pyl_devs(int family) {
  return family == PYF_UVLOOP           ? pyl_dev_uvloop
         : family == PYF_ASYNCIO        ? pyl_dev_asyncio
         : family == PYF_ASYNCIO_POLL   ? pyl_dev_asyncio_poll
         : family == PYF_ASYNCIO_SELECT ? pyl_dev_asyncio_select
                                        : NULL;
}

void pyl_family_found(const pyl_variant *v, int family) {
  /* A factory's loop declares the deviations of the code it runs: an
   * asyncio subclass inherits asyncio's on its selector (a PollSelector's
   * are py-asyncio-poll's), and any rule it breaks besides shows as FAIL. */
  if (v->kind != PYV_FACTORY)
    return;
  v->ops->deviations = pyl_devs(family);
  v->ops->check_deviations = pyl_checks(family);
  if (PYF_IS_ASYNCIO(family))
    v->ops->features |= EVL_IF_STATS | EVL_IF_FORK;
}

static const struct {
  const char *name, *selector, *desc;
  int kind;
  const evl_deviation *devs;
} pyl_names[] = {
    {"py-asyncio", "",
     "asyncio.SelectorEventLoop on selectors.DefaultSelector, embedded CPython",
     PYV_SELECTOR, pyl_dev_asyncio},
    {"py-asyncio-epoll", "EpollSelector",
     "asyncio.SelectorEventLoop on selectors.EpollSelector", PYV_SELECTOR,
     pyl_dev_asyncio},
    {"py-asyncio-poll", "PollSelector",
     "asyncio.SelectorEventLoop on selectors.PollSelector", PYV_SELECTOR,
     pyl_dev_asyncio_poll},
    {"py-asyncio-select", "SelectSelector",
     "asyncio.SelectorEventLoop on selectors.SelectSelector", PYV_SELECTOR,
     pyl_dev_asyncio_select},
    {"py-uvloop", "", "uvloop.Loop (libuv under Cython), embedded CPython",
     PYV_UVLOOP, pyl_dev_uvloop},
};

static const evl_impl_ops *pyl_table(const char *name, const char *desc,
                                     int kind, const evl_deviation *devs,
                                     const char *module, const char *factory,
                                     char *err, size_t len) {
  evl_impl_ops *ops = malloc(sizeof *ops);
  pyl_variant *v = calloc(1, sizeof *v);
  char *n = strdup(name), *d = strdup(desc);
  if (!ops || !v || !n || !d) {
    free(ops);
    free(v);
    free(n);
    free(d);
    snprintf(err, len, "out of memory");
    return NULL;
  }
  *ops = pyl_template;
  ops->name = n;
  ops->description = d;
  ops->data = v;
  ops->deviations = devs;
  if (kind == PYV_UVLOOP)
    ops->check_deviations = pyl_checks(PYF_UVLOOP);
  if (kind == PYV_SELECTOR)
    ops->features |= EVL_IF_STATS | EVL_IF_FORK;
  v->kind = kind;
  v->ops = ops;
  snprintf(v->module, sizeof v->module, "%s", module);
  snprintf(v->factory, sizeof v->factory, "%s", factory);
  return ops;
}

/* The registry's entry for a family of names (evl/impl.h). The table lives
 * for the life of the process, as the registry caches it. */
const evl_impl_ops *evl_impl_plugin_named(const char *name, char *err,
                                          size_t len) {
  if (!name)
    return NULL;
  for (size_t i = 0; i < sizeof pyl_names / sizeof *pyl_names; i++)
    if (!strcmp(name, pyl_names[i].name))
      return pyl_table(name, pyl_names[i].desc, pyl_names[i].kind,
                       pyl_names[i].devs, "", pyl_names[i].selector, err, len);
  /* py:MODULE:FACTORY; MODULE may be dotted (mypkg.loops). */
  const char *m = name + 3, *f = strrchr(name, ':');
  if (strncmp(name, "py:", 3) || f < m || f == m || !f[1] ||
      (size_t)(f - m) >= sizeof((pyl_variant *)0)->module ||
      strlen(f + 1) >= sizeof((pyl_variant *)0)->factory) {
    snprintf(err, len,
             "unknown Python loop '%s' (known: py-asyncio, py-asyncio-epoll, "
             "py-asyncio-poll, py-asyncio-select, py-uvloop, "
             "py:MODULE:FACTORY)",
             name);
    return NULL;
  }
  char mod[128], desc[320];
  snprintf(mod, sizeof mod, "%.*s", (int)(f - m), m);
  snprintf(desc, sizeof desc, "%s.%s() in an embedded CPython", mod, f + 1);
  return pyl_table(name, desc, PYV_FACTORY, NULL, mod, f + 1, err, len);
}

/* Loaded by path (evl-conform --impl build/modules/evl-py.so): py-asyncio. */
const evl_impl_ops *evl_impl_plugin(void) {
  char err[8];
  static const evl_impl_ops *ops;
  if (!ops)
    ops = evl_impl_plugin_named("py-asyncio", err, sizeof err);
  return ops;
}
