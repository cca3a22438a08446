/* list_t.h — the T conformance tests: tasks over the loop ABI (T1–T8); see
 * tests.h for the X signature. */
#ifndef EVL_LIST_T_H
#define EVL_LIST_T_H
#define EVL_TESTS_T(X)                                                         \
  X(t1_first_step_next_iteration, "T1", IMPL, 0, EVL_IF_FUTURES, 10,           \
    "a task spawned in a callback first runs in the next iteration")           \
  X(t1_fifo_ready_together, "T1", IMPL, 0, EVL_IF_FUTURES, 10,                 \
    "tasks ready together step in FIFO order, also after yields")              \
  X(t1_yield_one_iteration, "T1", IMPL, 0, EVL_IF_FUTURES, 10,                 \
    "evl_yield suspends for exactly one iteration")                            \
  X(t1_sleep_not_early, "T1", IMPL, 0, EVL_IF_FUTURES, 10,                     \
    "evl_sleep never returns early and does not block other tasks")            \
  X(t2_await_done_no_yield, "T2", IMPL, 0, EVL_IF_FUTURES, 10,                 \
    "awaiting a done future returns at once without suspending")               \
  X(t2_await_pending_future, "T2", IMPL, 0, EVL_IF_FUTURES, 10,                \
    "awaiting a pending future returns its result or error once done")         \
  X(t2_await_task, "T2", IMPL, 0, EVL_IF_FUTURES, 10,                          \
    "a task awaits another task's result or error")                            \
  X(t2_foreign_refused, "T2", IMPL, 0, EVL_IF_FUTURES, 10,                     \
    "another loop's task: EVL_EFOREIGN; self: -EDEADLK; outside: -EPERM")      \
  X(t3_cancel_at_await_once, "T3", IMPL, 0, EVL_IF_FUTURES, 10,                \
    "a cancel (requested twice) reaches the pending await exactly once")       \
  X(t3_cancel_before_first_step, "T3", IMPL, 0, EVL_IF_FUTURES, 10,            \
    "a task cancelled before its first step never runs and ends cancelled")    \
  X(t3_cancel_finished_noop, "T3", IMPL, 0, EVL_IF_FUTURES, 10,                \
    "cancelling an ended task returns -EINVAL and changes nothing")            \
  X(t3_cancel_running_next_await, "T3", IMPL, 0, EVL_IF_FUTURES, 10,           \
    "a self-cancel arrives at the next suspending await, once")                \
  X(t3_cancel_yield_step_gone, "T3", IMPL, 0, EVL_IF_FUTURES, 10,              \
    "a task cancelled in evl_yield: -ECANCELED once, its next await waits")    \
  X(t3_cancelled_task_state, "T3", IMPL, 0, EVL_IF_FUTURES, 10,                \
    "a body returning -ECANCELED ends the task cancelled")                     \
  X(t4_gather_all, "T4", IMPL, 0, EVL_IF_FUTURES, 10,                          \
    "gather waits for all, gives each status, returns the first failure")      \
  X(t4_gather_cancelled, "T4", IMPL, 0, EVL_IF_FUTURES, 10,                    \
    "a cancelled gather cancels and awaits its children")                      \
  X(t4_wait_for_in_time, "T4", IMPL, 0, EVL_IF_FUTURES, 10,                    \
    "wait_for returns the outcome of a task that ends in time")                \
  X(t4_wait_for_timeout_cancels, "T4", IMPL, 0, EVL_IF_FUTURES, 10,            \
    "wait_for's timeout cancels the task and waits for its end")               \
  X(t4_wait_for_cancelled, "T4", IMPL, 0, EVL_IF_FUTURES, 10,                  \
    "a cancelled wait_for cancels the inner task and waits for it")            \
  X(t4_wait_for_future_in_time, "T4", IMPL, 0, EVL_IF_FUTURES, 10,             \
    "wait_for returns a plain future's result or error when done in time")     \
  X(t4_wait_for_future_done, "T4", IMPL, 0, EVL_IF_FUTURES, 10,                \
    "wait_for on a done future returns its result without suspending")         \
  X(t4_wait_for_executor_future, "T4", IMPL, 0,                                \
    EVL_IF_FUTURES | EVL_IF_EXECUTOR, 20,                                      \
    "wait_for on an executor future: the job's result, on the loop thread")    \
  X(t4_wait_for_future_timeout, "T4", IMPL, 0, EVL_IF_FUTURES, 10,             \
    "wait_for's timeout cancels a plain future; its callbacks run once")       \
  X(t4_wait_for_future_cancelled, "T4", IMPL, 0, EVL_IF_FUTURES, 10,           \
    "a cancelled wait_for cancels the plain future it waits for")              \
  X(t4_wait_for_result_wins, "T4", IMPL, 0, EVL_IF_FUTURES, 10,                \
    "a task that finishes despite the timeout's cancel: its result wins")      \
  X(t4_wait_for_done_at_timeout, "T4", IMPL, 0, EVL_IF_FUTURES, 10,            \
    "a future done in the iteration its timeout expires: its result wins")     \
  X(t4_shield_outer_cancel, "T4", IMPL, 0, EVL_IF_FUTURES, 10,                 \
    "cancelling a shield's outer leaves the inner to its other awaiters")      \
  X(t4_shield_passes_outcome, "T4", IMPL, 0, EVL_IF_FUTURES, 10,               \
    "a shield's outer ends as its inner: result, error, cancelled, task")      \
  X(t5_executor_loop_thread, "T5", IMPL, 0, EVL_IF_FUTURES | EVL_IF_EXECUTOR,  \
    20, "evl_to_thread: job on a worker, result awaited on the loop thread")   \
  X(t6_unretrieved_error_reported, "T6", IMPL, 0,                              \
    EVL_IF_FUTURES | EVL_IF_ERRORS, 10,                                        \
    "an error nobody retrieved goes to the error handler, once")               \
  X(t6_close_pending_reported, "T6", IMPL, 0, EVL_IF_FUTURES | EVL_IF_ERRORS,  \
    10, "closing reports each pending task and resumes none")                  \
  X(t6_nothing_after_close, "T6", IMPL, 0, EVL_IF_FUTURES, 10,                 \
    "no first step, yield or timer of a task runs after close")                \
  X(t6_run_cancels_leftovers, "T6", IMPL, 0, EVL_IF_FUTURES, 10,               \
    "evl_run_impl returns main's outcome and cancels what is left")            \
  X(t7_sock_send_recv, "T7", IMPL, 0, EVL_IF_FUTURES, 20,                      \
    "sendall/recv of 4 MiB over a socketpair, waiting both ways")              \
  X(t7_sock_accept_connect, "T7", IMPL, 0, EVL_IF_FUTURES, 10,                 \
    "accept and connect over TCP loopback, one echo")                          \
  X(t7_sock_connect_refused, "T7", IMPL, 0, EVL_IF_FUTURES, 10,                \
    "connect to a closed port returns -ECONNREFUSED")                          \
  X(t8_stack_overflow_guard, "T8", IMPL, 0, EVL_IF_FUTURES, 20,                \
    "an overflow hits the guard page and is reported as a stack overflow")
#endif
