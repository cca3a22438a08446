/* backend_registry.c — the backend registry: built-ins, modules, plugins and
 * the default, all from backends/list.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evl/backend.h>

#include "module.h"

#include "backends/list.h"

/* Built into libevl; each backends/<name>.c defines evl__backend_<name>. */
#define REG_DECL(n, kind, dep) REG_DECL_##kind(n)
#define REG_DECL_BUILTIN(n) extern const evl_backend_ops evl__backend_##n;
#define REG_DECL_MODULE(n)
EVL_BACKEND_LIST(REG_DECL)

static const evl_backend_ops *const reg_builtin[] = {
#define REG_PTR(n, kind, dep) REG_PTR_##kind(n)
#define REG_PTR_BUILTIN(n) &evl__backend_##n,
#define REG_PTR_MODULE(n)
    EVL_BACKEND_LIST(REG_PTR)};

/* backends/fault.c: "fault:INNER[?faults]" wraps INNER and injects faults. */
int evl__backend_fault(const char *spec, const evl_backend_ops **out, char *err,
                       size_t len);
#define REG_FAULT_PREFIX "fault:"

/* Every name in list order, built-ins and modules alike. */
static const char *const reg_names[] = {
#define REG_NAME(n, kind, dep) #n,
    EVL_BACKEND_LIST(REG_NAME) NULL};

/* Library wrappers: modules, loaded on demand with RTLD_LOCAL. */
static const char *const reg_modules[] = {
#define REG_MOD(n, kind, dep) REG_MOD_##kind(n)
#define REG_MOD_BUILTIN(n)
#define REG_MOD_MODULE(n) #n,
    EVL_BACKEND_LIST(REG_MOD) NULL};

/* "epoll, poll, ..., libuv" for the unknown-name error. */
static const char reg_known[] =
#define REG_KNOWN(n, kind, dep) #n ", "
    EVL_BACKEND_LIST(
        REG_KNOWN) "or a path to a plugin .so, each also as fault:NAME";

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
  int rc = evl__check_table(ops, "backend", EVL_BACKEND_ABI,
                            EVL_BACKEND_OPS_MIN_SIZE, err, len);
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
  return ops->probe ? evl__probe_said(ops->probe(why, len), why, len) : 0;
}

/* A probe that failed for want of fds or memory says so (S8: -EMFILE);
 * any other reason is "not usable here". */
static int reg_probe_code(int rc) {
  return rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM ? rc : EVL_EPROBE;
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
  if (out)
    *out = NULL;
  int rc = evl__lookup_begin(name, out != NULL, "backend", &err, &len);
  if (rc < 0)
    return rc;
  /* Before the path test: "fault:./mine.so" names a wrapper, not a file. */
  if (!strncmp(name, REG_FAULT_PREFIX, strlen(REG_FAULT_PREFIX)))
    return evl__backend_fault(name + strlen(REG_FAULT_PREFIX), out, err, len);
  if (evl__is_path(name))
    return reg_load(name, name, out, err, len);
  for (size_t i = 0; i < sizeof reg_builtin / sizeof *reg_builtin; i++)
    if (!strcmp(reg_builtin[i]->name, name)) {
      *out = reg_builtin[i];
      return 0;
    }
  for (size_t i = 0; reg_modules[i]; i++) {
    if (strcmp(reg_modules[i], name))
      continue;
    char path[4096];
    if ((rc = evl__module_find(name, "backend", name, path, sizeof path, err,
                               len)) < 0)
      return rc;
    return reg_load(name, path, out, err, len);
  }
  snprintf(err, len, "unknown backend '%s' (known: %s)", name, reg_known);
  return EVL_ENOBACKEND;
}

int evl_backend_default(const evl_backend_ops **out, char *err, size_t len) {
  evl__err_line(&err, &len);
  const char *env = getenv("EVL_BACKEND");
  if (env && *env) {
    int rc = evl_backend_lookup(env, out, err, len);
    if (rc < 0)
      return rc;
    char why[160];
    if ((rc = evl_backend_probe(*out, why, sizeof why)) < 0) {
      snprintf(err, len, "EVL_BACKEND=%s is not usable here: %s", env, why);
      *out = NULL;
      return reg_probe_code(rc);
    }
    return 0;
  }
  const evl_backend_ops *best = NULL;
  for (size_t i = 0; i < sizeof reg_builtin / sizeof *reg_builtin; i++) {
    const evl_backend_ops *b = reg_builtin[i];
    char why[160];
    if (b->priority <= 0 || (best && b->priority <= best->priority))
      continue;
    int rc = evl_backend_probe(b, why, sizeof why);
    if (rc == 0)
      best = b;
    else if (reg_probe_code(rc) != EVL_EPROBE) {
      *out = NULL;
      return rc;
    } /* out of fds: no other backend would do better */
  }
  *out = best;
  if (!best) {
    snprintf(err, len, "no built-in backend probes OK on this system");
    return EVL_EPROBE;
  }
  return 0;
}

/* Used by evl_loop_new(): the config's table, its name, or the default;
 * err[len] gets the one-line reason on failure. */
int evl__backend_resolve(const evl_loop_config *cfg,
                         const evl_backend_ops **out, char *err, size_t len) {
  char why[160];
  int rc;
  const evl_backend_ops *ops =
      cfg ? EVL_FIELD_OR(evl_loop_config, cfg, backend_ops, NULL) : NULL;
  const char *name =
      cfg ? EVL_FIELD_OR(evl_loop_config, cfg, backend, NULL) : NULL;
  if (ops) {
    if ((rc = evl_backend_validate(ops, err, len)) < 0)
      return rc;
  } else if (name) {
    if ((rc = evl_backend_lookup(name, &ops, err, len)) < 0)
      return rc;
  } else {
    return evl_backend_default(out, err, len);
  }
  if ((rc = evl_backend_probe(ops, why, sizeof why)) < 0) {
    snprintf(err, len, "backend %s is not usable here: %s", ops->name, why);
    return reg_probe_code(rc);
  }
  *out = ops;
  return 0;
}
