/* ref.c — the reference core (core/) as a loop implementation: one table,
 * copied by core/impl_registry.c once per backend as "ref-<backend>". */
#include <errno.h>

#include <evl/backend.h>
#include <evl/impl.h>

#include "module.h"

static int ref_loop_new(const void *data, const evl_impl_config *icfg,
                        evl_loop **out) {
  evl_loop_config cfg;
  evl_loop_config_init(&cfg);
  cfg.backend_ops = data;
  if (icfg) {
    if (icfg->size < sizeof icfg->size) {
      if (out)
        *out = NULL;
      return -EINVAL;
    }
    /* Unknown flags reach evl_loop_new, which refuses them. */
    cfg.flags = EVL_FIELD_OR(evl_impl_config, icfg, flags, 0u);
    cfg.slow_callback_ns =
        EVL_FIELD_OR(evl_impl_config, icfg, slow_callback_ns, 0);
    cfg.executor_threads =
        EVL_FIELD_OR(evl_impl_config, icfg, executor_threads, 0u);
  }
  return evl_loop_new(out, &cfg);
}

static int ref_probe(const void *data, char *why, size_t len) {
  return evl_backend_probe(data, why, len);
}

/* The template every ref-* table copies; only name, description and data
 * differ. */
const evl_impl_ops evl__ref_template = {
    .abi = EVL_IMPL_ABI,
    .size = sizeof(evl_impl_ops),
    .features = EVL_IF_THREADSAFE | EVL_IF_SIGNALS | EVL_IF_EXECUTOR |
                EVL_IF_FUTURES | EVL_IF_DEBUG | EVL_IF_STATS | EVL_IF_ERRORS |
                EVL_IF_RUNNING | EVL_IF_REARM | EVL_IF_FORK,
    .deviations = NULL,
    .probe = ref_probe,
    .loop_new = ref_loop_new,
    .loop_close = evl_loop_close,
    .loop_free = evl_loop_free,
    .backend_name = evl_backend_name,
    .call_soon = evl_call_soon,
    .call_later = evl_call_later,
    .call_at = evl_call_at,
    .cancel = evl_cancel,
    .add_reader = evl_add_reader,
    .remove_reader = evl_remove_reader,
    .add_writer = evl_add_writer,
    .remove_writer = evl_remove_writer,
    .run_forever = evl_run_forever,
    .run_once = evl_run_once,
    .stop = evl_stop,
    .is_running = evl_is_running,
    .time = evl_time,
    .call_soon_threadsafe = evl_call_soon_threadsafe,
    .stop_threadsafe = evl_stop_threadsafe,
    .get_running_loop = evl_get_running_loop,
    .set_error_handler = evl_set_error_handler,
    .report_error = evl_report_error,
    .set_debug = evl_set_debug,
    .set_slow_callback_ns = evl_set_slow_callback_ns,
    .loop_stats = evl_loop_get_stats,
    .add_signal_handler = evl_add_signal_handler,
    .remove_signal_handler = evl_remove_signal_handler,
    .future_new = evl_future_new,
    .future_retain = evl_future_retain,
    .future_release = evl_future_release,
    .future_set_result = evl_future_set_result,
    .future_set_error = evl_future_set_error,
    .future_cancel = evl_future_cancel,
    .future_state = evl_future_state,
    .future_result = evl_future_result,
    .future_add_done_callback = evl_future_add_done_callback,
    .run_until_complete = evl_run_until_complete,
    .run_in_executor = evl_run_in_executor,
    .rearm = evl_timer_rearm,
    .rearm_at = evl_timer_rearm_at,
    .loop_after_fork = evl_loop_after_fork,
};
