/* registry.c — the backend registry: built-ins, modules, plugins, default. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evl/backend.h>

#include "module.h"

/* Built into libevl; each file defines its table under this name. */
#define EVL_BUILTIN_BACKENDS(X) X(epoll) X(kqueue) X(poll) X(select)
/* Wrappers of other libraries: modules, loaded on demand (DESIGN §9). */
#define EVL_MODULE_BACKENDS(X) X(iouring) X(libevent) X(libev) X(libuv)

#define REG_DECL(n) extern const evl_backend_ops evl__backend_##n;
EVL_BUILTIN_BACKENDS(REG_DECL)
#undef REG_DECL

static const evl_backend_ops *const reg_builtin[] = {
#define REG_PTR(n) &evl__backend_##n,
    EVL_BUILTIN_BACKENDS(REG_PTR)
#undef REG_PTR
};

static const char *const reg_names[] = {"epoll",  "poll",    "select",
                                        "kqueue", "iouring", "libevent",
                                        "libev",  "libuv",   NULL};

static const char *const reg_modules[] = {
#define REG_STR(n) #n,
    EVL_MODULE_BACKENDS(REG_STR)
#undef REG_STR
};

const char *const *evl_backend_names(void) {
  return reg_names;
}

static const char *const reg_feature_names[] = {
#define REG_FEAT(name, bit, text) [bit] = #name,
    EVL_BACKEND_FEATURES(REG_FEAT)
#undef REG_FEAT
};

const char *evl_backend_features_str(uint32_t features, char *buf, size_t len) {
  return evl__bits_str(
      features, reg_feature_names,
      (int)(sizeof reg_feature_names / sizeof *reg_feature_names), buf, len);
}

int evl_backend_validate(const evl_backend_ops *ops, char *err, size_t len) {
  int rc = evl__check_table(ops, "backend", ops ? ops->abi : 0, EVL_BACKEND_ABI,
                            ops ? ops->size : 0, EVL_BACKEND_OPS_MIN_SIZE,
                            ops ? ops->name : NULL, err, len);
  if (rc < 0)
    return rc;
  const char *missing = !ops->init   ? "init"
                        : !ops->fini ? "fini"
                        : !ops->ctl  ? "ctl"
                        : !ops->wait ? "wait"
                                     : NULL;
  if (missing) {
    snprintf(err, len, "backend %s: required function %s is NULL", ops->name,
             missing);
    return EVL_EPLUGIN;
  }
  if (ops->fd_limit < 0 || ops->state_size > ((size_t)64 << 20)) {
    snprintf(err, len, "backend %s: implausible fd_limit or state_size",
             ops->name);
    return EVL_EPLUGIN;
  }
  return 0;
}

int evl_backend_probe(const evl_backend_ops *ops, char *why, size_t len) {
  if (len)
    why[0] = 0;
  if (!ops)
    return -EINVAL;
  if (!ops->probe)
    return 0;
  int rc = ops->probe(why, len);
  if (rc < 0 && len && !why[0])
    snprintf(why, len, "%s", evl_strerror(rc));
  return rc;
}

static int reg_validate(const void *table, char *err, size_t len) {
  return evl_backend_validate(table, err, len);
}

static int reg_load(const char *key, const char *path,
                    const evl_backend_ops **out, char *err, size_t len) {
  const void *t = NULL;
  int rc = evl__plugin_load(key, path, "evl_backend_plugin", reg_validate,
                            sizeof(evl_backend_ops), &t, err, len);
  *out = t;
  return rc;
}

int evl_backend_lookup(const char *name, const evl_backend_ops **out, char *err,
                       size_t len) {
  char scratch[8];
  if (!err || !len) {
    err = scratch;
    len = sizeof scratch;
  }
  err[0] = 0;
  if (!out)
    return -EINVAL;
  *out = NULL;
  if (!name || !*name) {
    snprintf(err, len, "empty backend name");
    return EVL_ENOBACKEND;
  }
  if (evl__is_path(name))
    return reg_load(name, name, out, err, len);
  for (size_t i = 0; i < sizeof reg_builtin / sizeof *reg_builtin; i++)
    if (!strcmp(reg_builtin[i]->name, name)) {
      *out = reg_builtin[i];
      return 0;
    }
  for (size_t i = 0; i < sizeof reg_modules / sizeof *reg_modules; i++) {
    if (strcmp(reg_modules[i], name))
      continue;
    char path[4096];
    if (evl__module_path(name, path, sizeof path) < 0) {
      snprintf(err, len,
               "backend %s is not built (its library was missing at build "
               "time; run make deps && make)",
               name);
      return EVL_ENOBACKEND;
    }
    return reg_load(name, path, out, err, len);
  }
  snprintf(err, len,
           "unknown backend '%s' (known: epoll, poll, select, kqueue, "
           "iouring, libevent, libev, libuv, or a path to a plugin .so)",
           name);
  return EVL_ENOBACKEND;
}

int evl_backend_default(const evl_backend_ops **out, char *err, size_t len) {
  char scratch[8];
  if (!err || !len) {
    err = scratch;
    len = sizeof scratch;
  }
  const char *env = getenv("EVL_BACKEND");
  if (env && *env) {
    int rc = evl_backend_lookup(env, out, err, len);
    if (rc < 0)
      return rc;
    char why[160];
    if (evl_backend_probe(*out, why, sizeof why) < 0) {
      snprintf(err, len, "EVL_BACKEND=%s is not usable here: %s", env, why);
      *out = NULL;
      return EVL_EPROBE;
    }
    return 0;
  }
  const evl_backend_ops *best = NULL;
  for (size_t i = 0; i < sizeof reg_builtin / sizeof *reg_builtin; i++) {
    const evl_backend_ops *b = reg_builtin[i];
    char why[160];
    if (b->priority <= 0 || (best && b->priority <= best->priority))
      continue;
    if (evl_backend_probe(b, why, sizeof why) == 0)
      best = b;
  }
  *out = best;
  if (!best) {
    snprintf(err, len, "no built-in backend probes OK on this system");
    return EVL_EPROBE;
  }
  return 0;
}

/* Used by evl_loop_new(): the config's table, its name, or the default. */
int evl__backend_resolve(const evl_loop_config *cfg,
                         const evl_backend_ops **out) {
  char err[256], why[160];
  int rc;
  const evl_backend_ops *ops = NULL;
  if (cfg && cfg->size > offsetof(evl_loop_config, backend_ops) &&
      cfg->backend_ops) {
    ops = cfg->backend_ops;
    if ((rc = evl_backend_validate(ops, err, sizeof err)) < 0)
      return rc;
  } else if (cfg && cfg->backend) {
    if ((rc = evl_backend_lookup(cfg->backend, &ops, err, sizeof err)) < 0)
      return rc;
  } else {
    return evl_backend_default(out, err, sizeof err);
  }
  if (evl_backend_probe(ops, why, sizeof why) < 0)
    return EVL_EPROBE;
  *out = ops;
  return 0;
}
