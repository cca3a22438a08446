/* impl_registry.c — the loop-implementation registry: the reference core
 * once per backend ("ref-epoll", ...), the modules of impls/list.h, plugins. */
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evl/backend.h>
#include <evl/impl.h>

#include "module.h"

#include "backends/list.h"
#include "impls/list.h"

#define IMPL_MOD_NAME(file, name, dep) name,
#define IMPL_FAMILY_ROW(row, name) row,
#define IMPL_FAMILY_NAME(row, name) name,
static const char *const impl_modules[] = {EVL_IMPL_LIST(IMPL_MOD_NAME) NULL};
static const char *const impl_family_rows[] = {
    EVL_IMPL_FAMILY_LIST(IMPL_FAMILY_ROW) NULL};

/* Report order: ref-<backend>, the module rows, then the names of the
 * family rows (a family's row name itself is not an implementation). */
static const char *impl_names[] = {
#define IMPL_REF_NAME(n, kind, dep) "ref-" #n,
    EVL_BACKEND_LIST(IMPL_REF_NAME) EVL_IMPL_LIST(IMPL_MOD_NAME)
        EVL_IMPL_FAMILY_LIST(IMPL_FAMILY_NAME) NULL};
static pthread_once_t impl_names_once = PTHREAD_ONCE_INIT;

static int impl_is_family_row(const char *name) {
  for (size_t i = 0; impl_family_rows[i]; i++)
    if (!strcmp(name, impl_family_rows[i]))
      return 1;
  return 0;
}

static void impl_names_init(void) {
  size_t o = 0;
  for (size_t i = 0; impl_names[i]; i++)
    if (!impl_is_family_row(impl_names[i]))
      impl_names[o++] = impl_names[i];
  impl_names[o] = NULL;
}

/* "native-libuv, ..." for the unknown-name error. */
static const char impl_known[] =
#define IMPL_KNOWN(file, name, dep) name ", "
#define IMPL_KNOWN_FAMILY(row, name) name ", "
    "ref-<backend>, " EVL_IMPL_LIST(IMPL_KNOWN) EVL_IMPL_FAMILY_LIST(
        IMPL_KNOWN_FAMILY) "py:MODULE:FACTORY, or a path to a plugin .so";

const char *const *evl_impl_names(void) {
  pthread_once(&impl_names_once, impl_names_init);
  return impl_names;
}

typedef struct impl_entry {
  char *key;
  evl_impl_ops *ops;
  struct impl_entry *next;
} impl_entry;

static pthread_mutex_t impl_lock = PTHREAD_MUTEX_INITIALIZER;
static impl_entry *impl_loaded;

static const evl_impl_ops *impl_cached(const char *key) {
  for (impl_entry *e = impl_loaded; e; e = e->next)
    if (!strcmp(e->key, key))
      return e->ops;
  return NULL;
}

/* Takes ownership of ops (a heap copy); returns the cached table. */
static const evl_impl_ops *impl_cache(const char *key, evl_impl_ops *ops) {
  impl_entry *e = calloc(1, sizeof *e);
  char *k = strdup(key);
  if (!e || !k) {
    free(e);
    free(k);
    return NULL;
  }
  e->key = k;
  e->ops = ops;
  e->next = impl_loaded;
  impl_loaded = e;
  return ops;
}

static const char *const impl_feature_names[] = {
#define IMPL_FEAT(name, bit, text) [bit] = #name,
    EVL_IMPL_FEATURES(IMPL_FEAT)
#undef IMPL_FEAT
};

const char *evl_impl_features_str(uint32_t features, char *buf, size_t len) {
  return evl__bits_str(
      features, impl_feature_names,
      (int)(sizeof impl_feature_names / sizeof *impl_feature_names), buf, len);
}

int evl_impl_validate(const evl_impl_ops *ops, char *err, size_t len) {
  int rc = evl__check_table(ops, "loop", EVL_IMPL_ABI, EVL_IMPL_OPS_MIN_SIZE,
                            err, len);
  if (rc < 0)
    return rc;
  struct {
    const char *name;
    const void *fn;
  } req[] = {
      {"loop_new", (const void *)ops->loop_new},
      {"loop_close", (const void *)ops->loop_close},
      {"loop_free", (const void *)ops->loop_free},
      {"call_soon", (const void *)ops->call_soon},
      {"call_later", (const void *)ops->call_later},
      {"call_at", (const void *)ops->call_at},
      {"cancel", (const void *)ops->cancel},
      {"add_reader", (const void *)ops->add_reader},
      {"remove_reader", (const void *)ops->remove_reader},
      {"add_writer", (const void *)ops->add_writer},
      {"remove_writer", (const void *)ops->remove_writer},
      {"run_forever", (const void *)ops->run_forever},
      {"run_once", (const void *)ops->run_once},
      {"stop", (const void *)ops->stop},
      {"is_running", (const void *)ops->is_running},
      {"time", (const void *)ops->time},
  };
  for (size_t i = 0; i < sizeof req / sizeof *req; i++)
    if (!req[i].fn) {
      snprintf(err, len, "%s: required function %s is NULL", ops->name,
               req[i].name);
      return EVL_EPLUGIN;
    }
    /* A declared feature must come with its functions; the table is read
     * only up to ops->size, so fields past it count as NULL. */
#define HAS(field) (EVL_FIELD_OR(evl_impl_ops, ops, field, NULL) != NULL)
  struct {
    uint32_t bit;
    int ok;
    const char *what;
  } feat[] = {
      {EVL_IF_THREADSAFE, HAS(call_soon_threadsafe) && HAS(stop_threadsafe),
       "THREADSAFE needs call_soon_threadsafe and stop_threadsafe"},
      {EVL_IF_RUNNING, HAS(get_running_loop), "RUNNING needs get_running_loop"},
      {EVL_IF_ERRORS, HAS(set_error_handler) && HAS(report_error),
       "ERRORS needs set_error_handler and report_error"},
      {EVL_IF_DEBUG, HAS(set_debug) && HAS(set_slow_callback_ns),
       "DEBUG needs set_debug and set_slow_callback_ns"},
      {EVL_IF_STATS, HAS(loop_stats), "STATS needs loop_stats"},
      {EVL_IF_SIGNALS, HAS(add_signal_handler) && HAS(remove_signal_handler),
       "SIGNALS needs add/remove_signal_handler"},
      {EVL_IF_FUTURES,
       HAS(future_new) && HAS(future_retain) && HAS(future_release) &&
           HAS(future_set_result) && HAS(future_set_error) &&
           HAS(future_cancel) && HAS(future_state) && HAS(future_result) &&
           HAS(future_add_done_callback) && HAS(run_until_complete),
       "FUTURES needs every future_* function and run_until_complete"},
      {EVL_IF_EXECUTOR, HAS(run_in_executor) && HAS(future_new),
       "EXECUTOR needs run_in_executor and futures"},
      {EVL_IF_REARM, HAS(rearm) && HAS(rearm_at),
       "REARM needs rearm and rearm_at"},
      {EVL_IF_FORK, HAS(loop_after_fork), "FORK needs loop_after_fork"},
  };
#undef HAS
  for (size_t i = 0; i < sizeof feat / sizeof *feat; i++)
    if ((ops->features & feat[i].bit) && !feat[i].ok) {
      snprintf(err, len, "%s: feature declared without its functions: %s",
               ops->name, feat[i].what);
      return EVL_EPLUGIN;
    }
  return 0;
}

int evl_impl_probe(const evl_impl_ops *ops, char *why, size_t len) {
  if (len)
    why[0] = 0;
  if (!ops)
    return -EINVAL;
  return ops->probe ? evl__probe_said(ops->probe(ops->data, why, len), why, len)
                    : 0;
}

int evl_impl_ref(const char *backend, const evl_impl_ops **out, char *err,
                 size_t len) {
  evl__err_line(&err, &len);
  if (!out || !backend)
    return -EINVAL;
  *out = NULL;
  const evl_backend_ops *be;
  int rc = evl_backend_lookup(backend, &be, err, len);
  if (rc < 0)
    return rc;
  char key[4200];
  snprintf(key, sizeof key, "ref-%s", backend);
  pthread_mutex_lock(&impl_lock);
  const evl_impl_ops *hit = impl_cached(key);
  if (!hit) {
    evl_impl_ops *ops = malloc(sizeof *ops);
    char *name = malloc(strlen(be->name) + 5);
    char *desc = malloc(strlen(be->name) + 64);
    if (ops && name && desc) {
      *ops = evl__ref_template;
      sprintf(name, "ref-%s", be->name);
      sprintf(desc, "evlab reference core on the %s backend", be->name);
      ops->name = name;
      ops->description = desc;
      ops->data = be;
      hit = impl_cache(key, ops);
    }
    if (!hit) {
      free(ops);
      free(name);
      free(desc);
    }
  }
  pthread_mutex_unlock(&impl_lock);
  if (!hit) {
    snprintf(err, len, "out of memory");
    return -ENOMEM;
  }
  *out = hit;
  return 0;
}

static int impl_validate(const void *table, char *err, size_t len) {
  return evl_impl_validate(table, err, len);
}

static int impl_load(const char *key, const char *path,
                     const evl_impl_ops **out, char *err, size_t len) {
  const void *t = NULL;
  int rc = evl__plugin_load(key, path, "evl_impl_plugin", impl_validate,
                            sizeof(evl_impl_ops), &t, err, len);
  *out = t;
  return rc;
}

/* "py-asyncio" or "py:mod:fn" for the family row "py": the module's
 * evl_impl_plugin_named builds the table, cached here under the name. */
static int impl_load_named(const char *row, const char *name,
                           const evl_impl_ops **out, char *err, size_t len) {
  char path[4096];
  int rc = evl__module_find(row, "", name, path, sizeof path, err, len);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&impl_lock);
  const evl_impl_ops *hit = impl_cached(name);
  rc = 0;
  if (!hit) {
    evl_impl_plugin_named_fn fn = (evl_impl_plugin_named_fn)evl__plugin_open(
        path, "evl_impl_plugin_named", err, len);
    const evl_impl_ops *t = fn ? fn(name, err, len) : NULL;
    if (!t)
      rc = fn ? EVL_ENOBACKEND : EVL_EPLUGIN;
    else if ((rc = evl_impl_validate(t, err, len)) == 0 &&
             !(hit = impl_cache(name, (evl_impl_ops *)t))) {
      snprintf(err, len, "out of memory");
      rc = -ENOMEM;
    }
  }
  pthread_mutex_unlock(&impl_lock);
  *out = hit;
  return rc;
}

int evl_impl_lookup(const char *name, const evl_impl_ops **out, char *err,
                    size_t len) {
  if (out)
    *out = NULL;
  int rc = evl__lookup_begin(name, out != NULL, "implementation", &err, &len);
  if (rc < 0)
    return rc;
  /* "ref-fault:./mine.so" is the core over a wrapped plugin, not a file. */
  if (!strncmp(name, "ref-fault:", 10))
    return evl_impl_ref(name + 4, out, err, len);
  if (evl__is_path(name))
    return impl_load(name, name, out, err, len);
  if (!strncmp(name, "ref-", 4))
    return evl_impl_ref(name + 4, out, err, len);
  for (size_t i = 0; impl_modules[i]; i++) {
    if (strcmp(name, impl_modules[i]))
      continue;
    char path[4096];
    if ((rc = evl__module_find(name, "", name, path, sizeof path, err, len)) <
        0)
      return rc;
    return impl_load(name, path, out, err, len);
  }
  for (size_t i = 0; impl_modules[i]; i++) {
    size_t n = strlen(impl_modules[i]);
    if (!strncmp(name, impl_modules[i], n) &&
        (name[n] == '-' || name[n] == ':') && name[n + 1])
      return impl_load_named(impl_modules[i], name, out, err, len);
  }
  snprintf(err, len, "unknown loop implementation '%s' (known: %s)", name,
           impl_known);
  return EVL_ENOBACKEND;
}

/* Fields added within ABI 1 count only when the table's size covers them. */
const evl_check_deviation *evl_impl_check_deviations(const evl_impl_ops *ops) {
  return ops ? EVL_FIELD_OR(evl_impl_ops, ops, check_deviations, NULL) : NULL;
}

evl_impl_warmup_fn evl_impl_warmup(const evl_impl_ops *ops) {
  return ops ? EVL_FIELD_OR(evl_impl_ops, ops, warmup, NULL) : NULL;
}

static const char *impl_find_check(const evl_impl_ops *ops, const char *test,
                                   const char *check) {
  const evl_check_deviation *d = evl_impl_check_deviations(ops);
  for (; d && d->test; d++) {
    if (fnmatch(d->test, test, 0) != 0)
      continue;
    if (check ? d->check && strcmp(d->check, check) == 0 : !d->check)
      return d->reason ? d->reason : "declared deviation";
  }
  return NULL;
}

const char *evl_impl_deviation(const evl_impl_ops *ops, const char *test) {
  if (!ops || !test)
    return NULL;
  for (const evl_deviation *d = ops->deviations; d && d->test; d++)
    if (fnmatch(d->test, test, 0) == 0)
      return d->reason ? d->reason : "declared deviation";
  return impl_find_check(ops, test, NULL);
}

const char *evl_impl_check_deviation(const evl_impl_ops *ops, const char *test,
                                     const char *check) {
  if (!ops || !test || !check)
    return NULL;
  return impl_find_check(ops, test, check);
}
