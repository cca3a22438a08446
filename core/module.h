/* module.h — plugin and module loading shared by the two registries. */
#ifndef EVL_MODULE_H
#define EVL_MODULE_H
#include <stddef.h>

/* A name with a '/' or ending in ".so" is a path to a plugin. */
int evl__is_path(const char *name);
/* dlopen(RTLD_LOCAL) + dlsym; NULL with one line in err on failure. */
void *evl__plugin_open(const char *path, const char *symbol, char *err,
                       size_t len);
/* Where module `name` (build/modules/evl-<name>.so) lives; 0 or -ENOENT. */
int evl__module_path(const char *module, char *out, size_t len);
#endif
