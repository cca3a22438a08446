/* json.h — a small JSON reader for evl-bench's own results and hyperfine's. */
#ifndef EVL_BENCH_JSON_H
#define EVL_BENCH_JSON_H

#include <stddef.h>

typedef enum {
  JSON_NULL,
  JSON_FALSE,
  JSON_TRUE,
  JSON_NUM,
  JSON_STR,
  JSON_ARR,
  JSON_OBJ
} json_type;

typedef struct json {
  json_type type;
  double num;
  char *str;          /* JSON_STR */
  char **keys;        /* JSON_OBJ: n keys */
  struct json **kids; /* JSON_ARR / JSON_OBJ: n values */
  int n;
} json;

/* NULL on a syntax error, with a message in err. */
json *json_parse(const char *text, char *err, size_t len);
json *json_load(const char *path, char *err, size_t len);
void json_free(json *v);

/* NULL when v is not an object or has no such key. */
const json *json_get(const json *v, const char *key);
/* Defaults when missing or of another type. */
const char *json_str(const json *v, const char *key, const char *def);
double json_num(const json *v, const char *key, double def);
/* Appends kid to the array or object arr (key NULL for arrays; the key is
 * copied). 0, or -1 when out of memory (kid is then not owned). */
int json_append(json *arr, const char *key, json *kid);
/* A number value, for building or patching records. */
json *json_new_num(double v);

/* Canonical text of v (keys in their order): for grouping params. */
void json_to_text(const json *v, char *buf, size_t len);

#endif
