/* module.c — finds and opens evlab's modules and third-party plugins. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evl/evl.h>

#include "module.h"

#ifndef EVL_MODULE_DIR_DEFAULT
#define EVL_MODULE_DIR_DEFAULT "/usr/local/lib/evl"
#endif

int evl__is_path(const char *name) {
  size_t n = strlen(name);
  return strchr(name, '/') != NULL || (n > 3 && !strcmp(name + n - 3, ".so"));
}

/* RTLD_LOCAL keeps each wrapped library's symbols out of the global scope:
 * Debian's libev exports libevent's names, and with RTLD_GLOBAL
 * whichever loaded first would serve both wrappers. */
void *evl__plugin_open(const char *path, const char *symbol, char *err,
                       size_t len) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(err, len, "cannot load: %s", e ? e : "dlopen failed");
    return NULL;
  }
  dlerror();
  void *sym = dlsym(h, symbol);
  if (!sym) {
    snprintf(err, len, "missing symbol %s (not an evlab %s plugin)", symbol,
             strstr(symbol, "impl") ? "loop" : "backend");
    dlclose(h);
    return NULL;
  }
  /* The handle stays open for the life of the process: ops tables and the
   * code behind them may be in use by any loop. */
  return sym;
}

static int module_try(const char *dir, const char *file, char *out,
                      size_t len) {
  if (!dir || !*dir)
    return -ENOENT;
  if ((size_t)snprintf(out, len, "%s/%s", dir, file) >= len)
    return -ENAMETOOLONG;
  return access(out, R_OK) == 0 ? 0 : -ENOENT;
}

int evl__module_path(const char *module, char *out, size_t len) {
  char file[128];
  if ((size_t)snprintf(file, sizeof file, "evl-%s.so", module) >= sizeof file)
    return -ENAMETOOLONG;
  if (module_try(getenv("EVL_MODULE_DIR"), file, out, len) == 0)
    return 0;
  /* Beside the executable: build/evl-conform finds build/modules/. */
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      char dir[PATH_MAX + 16];
      *slash = 0;
      snprintf(dir, sizeof dir, "%s/modules", exe);
      if (module_try(dir, file, out, len) == 0)
        return 0;
    }
  }
  /* Beside libevl.so when the library is installed. */
  Dl_info info;
  if (dladdr((void *)evl__module_path, &info) && info.dli_fname) {
    char lib[PATH_MAX];
    snprintf(lib, sizeof lib, "%s", info.dli_fname);
    char *slash = strrchr(lib, '/');
    if (slash) {
      char dir[PATH_MAX + 16];
      *slash = 0;
      snprintf(dir, sizeof dir, "%s/evl", lib);
      if (module_try(dir, file, out, len) == 0)
        return 0;
    }
  }
  return module_try(EVL_MODULE_DIR_DEFAULT, file, out, len);
}

void evl__err_line(char **err, size_t *len) {
  /* The reason is discarded: only its writing needs somewhere to go. */
  static _Thread_local char scratch[8];
  if (!*err || !*len) {
    *err = scratch;
    *len = sizeof scratch;
  }
}

int evl__lookup_begin(const char *name, int have_out, const char *kind,
                      char **err, size_t *len) {
  evl__err_line(err, len);
  (*err)[0] = 0;
  if (!have_out)
    return -EINVAL;
  if (!name || !*name) {
    snprintf(*err, *len, "empty %s name", kind);
    return EVL_ENOBACKEND;
  }
  return 0;
}

int evl__module_find(const char *module, const char *kind, const char *name,
                     char *path, size_t plen, char *err, size_t len) {
  if (evl__module_path(module, path, plen) == 0)
    return 0;
  snprintf(err, len,
           "%s%s%s is not built (its library was missing at build time; run "
           "make deps && make)",
           kind, *kind ? " " : "", name);
  return EVL_ENOBACKEND;
}

void *evl__module_symbol_of(const void *addr, const char *symbol) {
  Dl_info info;
  if (!addr || !dladdr(addr, &info) || !info.dli_fname)
    return NULL;
  void *h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_LOCAL);
  if (!h)
    return NULL;
  void *sym = dlsym(h, symbol);
  dlclose(h); /* NOLOAD took a reference; the registry keeps its own */
  return sym;
}

int evl__probe_said(int rc, char *why, size_t len) {
  if (rc < 0 && len && !why[0])
    snprintf(why, len, "%s", evl_strerror(rc));
  return rc;
}

const char *evl__bits_str(uint32_t bits, const char *const *names, int n,
                          char *buf, size_t len) {
  size_t used = 0;
  if (len == 0)
    return buf;
  buf[0] = 0;
  for (int i = 0; i < n && used < len; i++)
    if (bits & (1u << i) && names[i])
      used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "",
                               names[i]);
  return buf;
}

/* What evl_backend_ops and evl_impl_ops both start with. */
typedef struct module_table_head {
  uint32_t abi;
  uint32_t size;
  const char *name;
} module_table_head;

int evl__check_table(const void *table, const char *kind, uint32_t want_abi,
                     size_t min_size, char *err, size_t len) {
  const module_table_head *h = table;
  if (!h) {
    snprintf(err, len, "plugin returned no ops table (NULL)");
    return EVL_EPLUGIN;
  }
  if (h->abi != want_abi) {
    snprintf(err, len, "%s ABI version %u, this evlab speaks %u", kind,
             (unsigned)h->abi, (unsigned)want_abi);
    return EVL_EPLUGIN;
  }
  if (h->size < min_size) {
    snprintf(err, len, "ops table is %u bytes, at least %zu required",
             (unsigned)h->size, min_size);
    return EVL_EPLUGIN;
  }
  const char *name = EVL_FIELD_OR(module_table_head, h, name, NULL);
  if (!name || !name[0]) {
    snprintf(err, len, "%s table has no name", kind);
    return EVL_EPLUGIN;
  }
  return 0;
}

/* Loaded plugin tables, kept for the life of the process, keyed by symbol
 * and name or path: looking the same plugin up twice returns one table. */
typedef struct module_entry {
  char *key;
  void *table;
  struct module_entry *next;
} module_entry;

static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;
static module_entry *module_loaded;

int evl__plugin_load(const char *key, const char *path, const char *symbol,
                     evl__validate_fn validate, size_t full_size,
                     const void **out, char *err, size_t len) {
  char k[4400];
  snprintf(k, sizeof k, "%s:%s", symbol, key);
  int rc = 0;
  pthread_mutex_lock(&module_lock);
  for (module_entry *e = module_loaded; e; e = e->next)
    if (!strcmp(e->key, k)) {
      *out = e->table;
      goto done;
    }
  const void *(*fn)(void) =
      (const void *(*)(void))evl__plugin_open(path, symbol, err, len);
  if (!fn) {
    rc = EVL_EPLUGIN;
    goto done;
  }
  const void *table = fn();
  if ((rc = validate(table, err, len)) < 0)
    goto done;
  /* Both ABIs start with {uint32_t abi; uint32_t size;}. A copy padded with
   * zeros to this build's size makes the fields an older, shorter table
   * lacks read as NULL. */
  uint32_t size;
  memcpy(&size, (const char *)table + sizeof(uint32_t), sizeof size);
  module_entry *e = calloc(1, sizeof *e);
  void *copy = calloc(1, full_size);
  char *kd = strdup(k);
  if (!e || !copy || !kd) {
    free(e);
    free(copy);
    free(kd);
    snprintf(err, len, "out of memory");
    rc = -ENOMEM;
    goto done;
  }
  memcpy(copy, table, size < full_size ? size : full_size);
  size = (uint32_t)full_size;
  memcpy((char *)copy + sizeof(uint32_t), &size, sizeof size);
  e->key = kd;
  e->table = copy;
  e->next = module_loaded;
  module_loaded = e;
  *out = copy;
done:
  pthread_mutex_unlock(&module_lock);
  return rc;
}
