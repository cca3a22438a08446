/* merge.c — joins the records of every round into one figure each: all the
 * repeats of a measurement with fresh statistics, curves averaged. */
#include "json.h"
#include "run.h"

#include <stdlib.h>
#include <string.h>

static void merge_json_write(bench_buf *b, const json *v) {
  switch (v->type) {
  case JSON_NULL:
    bench_buf_printf(b, "null");
    break;
  case JSON_TRUE:
    bench_buf_printf(b, "true");
    break;
  case JSON_FALSE:
    bench_buf_printf(b, "false");
    break;
  case JSON_NUM:
    if (v->num != v->num || v->num > 1e300 || v->num < -1e300)
      bench_buf_printf(b, "null");
    else
      bench_buf_printf(b, "%.6g", v->num);
    break;
  case JSON_STR:
    bench_buf_json_str(b, v->str);
    break;
  case JSON_ARR:
  case JSON_OBJ:
    bench_buf_printf(b, "%c", v->type == JSON_ARR ? '[' : '{');
    for (int i = 0; i < v->n; i++) {
      if (i)
        bench_buf_printf(b, ",");
      if (v->type == JSON_OBJ) {
        bench_buf_json_str(b, v->keys[i]);
        bench_buf_printf(b, ":");
      }
      merge_json_write(b, v->kids[i]);
    }
    bench_buf_printf(b, "%c", v->type == JSON_ARR ? ']' : '}');
    break;
  }
}

static json *merge_json_kid(json *obj, const char *key) {
  for (int i = 0; obj && obj->type == JSON_OBJ && i < obj->n; i++)
    if (!strcmp(obj->keys[i], key))
      return obj->kids[i];
  return NULL;
}

static void merge_json_set(json *obj, const char *key, double v) {
  json *k = merge_json_kid(obj, key);
  if (k) {
    k->type = JSON_NUM;
    k->num = v;
  } else {
    json *n = json_new_num(v);
    if (n && json_append(obj, key, n) < 0)
      json_free(n);
  }
}

/* What makes two records from different rounds the same figure. */
static void merge_rec_key(const json *j, char *buf, size_t len) {
  char p[512];
  json_to_text(json_get(j, "params"), p, sizeof p);
  snprintf(buf, len, "%s|%s|%s|%s|%s|%s%s", json_str(j, "type", ""),
           json_str(j, "bench", ""), p, json_str(j, "impl", ""),
           json_str(j, "metric", ""), json_str(j, "reason", ""),
           json_str(j, "text", ""));
}

/* Rounds are interleaved (every step once, then again), so a burst of load
 * from elsewhere hits one repeat of many implementations rather than every
 * repeat of one. Here each figure's repeats are joined again: measurements
 * get all their repeats and fresh statistics, curves the mean of their
 * points, and repeated skips and notes are said once. */
/* Joins a later round's record j into the first one of its figure, which
 * already holds `count` rounds: a measurement takes j's repeats, a curve
 * the running mean of its points. What j still owns stays in j. */
static void merge_join(json *first, json *j, int count) {
  const char *type = json_str(j, "type", "");
  if (!strcmp(type, "measurement")) {
    json *to = merge_json_kid(first, "repeats"),
         *from = merge_json_kid(j, "repeats");
    for (int i = 0; to && from && i < from->n; i++)
      if (json_append(to, NULL, from->kids[i]) == 0)
        from->kids[i] = NULL;
  } else if (!strcmp(type, "curve")) {
    json *to = merge_json_kid(first, "points"),
         *from = merge_json_kid(j, "points");
    for (int i = 0; to && from && i < to->n && i < from->n; i++) {
      json *a = to->kids[i], *b = from->kids[i];
      if (a->type == JSON_ARR && b->type == JSON_ARR && a->n > 1 && b->n > 1 &&
          a->kids[1]->type == JSON_NUM && b->kids[1]->type == JSON_NUM)
        a->kids[1]->num =
            (a->kids[1]->num * count + b->kids[1]->num) / (count + 1);
    }
  }
  /* Stolen kids were set to NULL: free only what is left. */
  json *rep = merge_json_kid(j, "repeats");
  if (rep) {
    int keep = 0;
    for (int i = 0; i < rep->n; i++)
      if (rep->kids[i])
        rep->kids[keep++] = rep->kids[i];
    rep->n = keep;
  }
}

/* A measurement's statistics, fresh over all its repeats. */
static void merge_restat(json *j) {
  json *rep = merge_json_kid(j, "repeats");
  double v[1024];
  int m = 0;
  for (int i = 0; rep && i < rep->n && m < 1024; i++)
    if (rep->kids[i]->type == JSON_NUM)
      v[m++] = rep->kids[i]->num;
  bench_stats st;
  bench_stats_of(v, m, &st);
  merge_json_set(j, "n", m);
  merge_json_set(j, "median", st.median);
  merge_json_set(j, "min", st.min);
  merge_json_set(j, "max", st.max);
  merge_json_set(j, "p10", st.p10);
  merge_json_set(j, "p90", st.p90);
  double lo, hi;
  if (bench_boot_ratio(v, m, NULL, 0, &lo, &hi) == 0) {
    merge_json_set(j, "ci_lo", lo);
    merge_json_set(j, "ci_hi", hi);
  }
}

/* The figures so far, in first-seen order: each one's first record, key
 * and the count of rounds joined into it. */
typedef struct merge_figs {
  json **recs;
  char **keys;
  int *count;
  int n, cap;
} merge_figs;

/* A new figure; 0, or -1 when it cannot grow (j is freed then). */
static int merge_add(merge_figs *f, json *j, const char *key) {
  if (f->n == f->cap) {
    f->cap *= 2;
    json **r2 = realloc(f->recs, (size_t)f->cap * sizeof *f->recs);
    char **k2 = r2 ? realloc(f->keys, (size_t)f->cap * sizeof *f->keys) : NULL;
    int *c2 = k2 ? realloc(f->count, (size_t)f->cap * sizeof *f->count) : NULL;
    if (r2)
      f->recs = r2;
    if (k2)
      f->keys = k2;
    if (c2)
      f->count = c2;
    if (!c2) {
      json_free(j);
      return -1;
    }
  }
  f->recs[f->n] = j;
  f->keys[f->n] = strdup(key);
  f->count[f->n] = 1;
  f->n++;
  return 0;
}

int bench_merge(const char *lines, bench_buf *out) {
  merge_figs f = {.cap = 256};
  f.recs = calloc((size_t)f.cap, sizeof *f.recs);
  f.keys = calloc((size_t)f.cap, sizeof *f.keys);
  f.count = calloc((size_t)f.cap, sizeof *f.count);
  if (!f.recs || !f.keys || !f.count)
    goto done;
  for (const char *p = lines; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    char *line = strndup(p, len);
    p = nl ? nl + 1 : p + len;
    char err[128];
    json *j = line ? json_parse(line, err, sizeof err) : NULL;
    free(line);
    if (!j)
      continue;
    char key[1024];
    merge_rec_key(j, key, sizeof key);
    int k = 0;
    while (k < f.n && strcmp(f.keys[k], key))
      k++;
    if (k == f.n) {
      if (merge_add(&f, j, key) < 0)
        break;
      continue;
    }
    merge_join(f.recs[k], j, f.count[k]);
    f.count[k]++;
    json_free(j);
  }
  for (int k = 0; k < f.n; k++) {
    json *j = f.recs[k];
    if (!strcmp(json_str(j, "type", ""), "measurement"))
      merge_restat(j);
    if (k)
      bench_buf_printf(out, ",\n");
    merge_json_write(out, j);
  }
done:
  for (int k = 0; k < f.n; k++) {
    json_free(f.recs[k]);
    free(f.keys[k]);
  }
  free(f.recs);
  free(f.keys);
  free(f.count);
  return f.n;
}
