/* module.h — plugin and module loading shared by the two registries. */
#ifndef EVL_MODULE_H
#define EVL_MODULE_H
#include <stddef.h>
#include <stdint.h>

/* A name with a '/' or ending in ".so" is a path to a plugin. */
int evl__is_path(const char *name);
/* dlopen(RTLD_LOCAL) + dlsym; NULL with one line in err on failure. */
void *evl__plugin_open(const char *path, const char *symbol, char *err,
                       size_t len);
/* Where module `name` (build/modules/evl-<name>.so) lives; 0 or -ENOENT. */
int evl__module_path(const char *module, char *out, size_t len);
/* "NAME,NAME" for the set bits, names[i] naming bit i. */
const char *evl__bits_str(uint32_t bits, const char *const *names, int n,
                          char *buf, size_t len);
/* The checks both ABIs make first: a table at all, its ABI version, its
 * size, and only then a name (both tables start {abi, size, name}), so a
 * short table is never read past its size. 0 or EVL_EPLUGIN with one line
 * in err. */
int evl__check_table(const void *table, const char *kind, uint32_t want_abi,
                     size_t min_size, char *err, size_t len);
/* Opens `symbol` in the plugin at `path`, checks the table it returns with
 * `validate`, and caches a copy padded to `full_size` under `key`. */
typedef int (*evl__validate_fn)(const void *table, char *err, size_t len);
int evl__plugin_load(const char *key, const char *path, const char *symbol,
                     evl__validate_fn validate, size_t full_size,
                     const void **out, char *err, size_t len);
/* A caller of a lookup may pass no err (NULL or 0 bytes): *err then points
 * at a per-thread scratch line, so the code below can always write one. */
void evl__err_line(char **err, size_t *len);
/* What evl_backend_lookup and evl_impl_lookup do first: err made usable
 * and cleared, then -EINVAL without an out pointer (have_out 0), and
 * EVL_ENOBACKEND with "empty <kind> name" for a NULL or empty name. 0 to
 * go on. The caller clears *out itself (its type is the registry's). */
int evl__lookup_begin(const char *name, int have_out, const char *kind,
                      char **err, size_t *len);
/* evl__module_path for a module the registry lists, or EVL_ENOBACKEND with
 * "<kind> <name> is not built (...)" in err: its library was missing when
 * evlab was built. kind may be "" ("native-libuv is not built"). */
int evl__module_find(const char *module, const char *kind, const char *name,
                     char *path, size_t plen, char *err, size_t len);
/* `symbol` of the module already loaded that holds addr (a function of a
 * plugin's table), or NULL: what a module exports beside its table, such
 * as the py module's echo server and own-API checks. */
void *evl__module_symbol_of(const void *addr, const char *symbol);
/* A probe's result: rc, with why[len] given evl_strerror(rc) when the
 * probe failed without saying why. */
int evl__probe_said(int rc, char *why, size_t len);
/* impls/ref.c: the reference core as a loop implementation. data is the
 * backend table; NULL lets evl_loop_new choose ($EVL_BACKEND or the best).
 * The registry copies it once per backend; tasks use it as it is. */
struct evl_impl_ops;
extern const struct evl_impl_ops evl__ref_template;

#endif
