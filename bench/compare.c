/* compare.c — `evl-bench --compare A B`: each figure's ratio B/A, changes
 * beyond the spread flagged, and a non-zero exit on a clear regression. */
#include "bench.h"
#include "json.h"
#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Wall-clock figures on a shared 2-core machine move by tens of percent
 * between consecutive runs, and single figures by 1.5x or more. So a
 * wall-clock regression is judged per (benchmark, implementation): the
 * geometric mean of its figures' cost ratios must pass this factor.
 * Deterministic figures (callgrind instructions per event, heap bytes) are
 * judged one by one against a tight factor. */
#define COMPARE_WALL_THRESHOLD 2.0
#define COMPARE_DET_THRESHOLD 1.10

static json *compare_load(const char *arg) {
  char path[4096], err[300];
  struct stat st;
  if (!arg || !*arg) {
    fprintf(stderr, "evl-bench: --compare needs two run folders (A=... "
                    "B=...)\n");
    return NULL;
  }
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
    snprintf(path, sizeof path, "%s/results.json", arg);
  else
    snprintf(path, sizeof path, "%s", arg);
  json *j = json_load(path, err, sizeof err);
  if (!j)
    fprintf(stderr, "evl-bench: %s\n", err);
  return j;
}

/* The 95 % bootstrap interval of median(B) / median(A) over the records'
 * repeats. */
static int compare_ci(const json *a, const json *b, double *lo, double *hi) {
  const json *ra = json_get(a, "repeats"), *rb = json_get(b, "repeats");
  double va[256], vb[256];
  int na = 0, nb = 0;
  for (int i = 0; ra && ra->type == JSON_ARR && i < ra->n && na < 256; i++)
    if (ra->kids[i]->type == JSON_NUM)
      va[na++] = ra->kids[i]->num;
  for (int i = 0; rb && rb->type == JSON_ARR && i < rb->n && nb < 256; i++)
    if (rb->kids[i]->type == JSON_NUM)
      vb[nb++] = rb->kids[i]->num;
  if (na < 2 || nb < 2)
    return -EINVAL;
  return bench_boot_ratio(vb, nb, va, na, lo, hi);
}

/* Figures that never fail a comparison: tails and rare-event counts move by
 * multiples between runs; wakeup and accuracy measure the scheduler as much
 * as the loop (bimodal on 2 shared cores); calibration is the machine. */
static int compare_gated(const char *bench, const char *metric) {
  static const char *const tails[] = {"p99", "p999", "max", "early"};
  for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++)
    if (!strcmp(metric, tails[i]))
      return 0;
  return strcmp(bench, "wakeup") && strcmp(bench, "accuracy") &&
         strcmp(bench, "calibration");
}

static const json *compare_find(const json *recs, const json *b) {
  const char *bench = json_str(b, "bench", ""), *impl = json_str(b, "impl", ""),
             *metric = json_str(b, "metric", "");
  char pb[512], pa[512];
  json_to_text(json_get(b, "params"), pb, sizeof pb);
  for (int i = 0; i < recs->n; i++) {
    const json *a = recs->kids[i];
    if (strcmp(json_str(a, "type", ""), "measurement") ||
        strcmp(json_str(a, "bench", ""), bench) ||
        strcmp(json_str(a, "impl", ""), impl) ||
        strcmp(json_str(a, "metric", ""), metric))
      continue;
    json_to_text(json_get(a, "params"), pa, sizeof pa);
    if (!strcmp(pa, pb))
      return a;
  }
  return NULL;
}

/* Per (benchmark, implementation): the sum of log cost ratios. */
typedef struct compare_group {
  char bench[32], impl[96];
  double logsum;
  int n;
} compare_group;

static double compare_env(const char *name, double def) {
  const char *v = getenv(name);
  return v && atof(v) > 1.0 ? atof(v) : def;
}

/* Every callgrind case of every implementation in B, against A's count. */
static int compare_callgrind(const char *a_dir, const char *b_dir, double det,
                             int *compared) {
  char path[4096];
  snprintf(path, sizeof path, "%s/callgrind", b_dir);
  DIR *d = opendir(path);
  if (!d)
    return 0;
  int regress = 0, header = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 8 || strcmp(e->d_name + len - 7, ".events"))
      continue;
    char name[256], line[256];
    snprintf(name, sizeof name, "%.*s", (int)(len - 7), e->d_name);
    snprintf(path, sizeof path, "%s/callgrind/%s", b_dir, e->d_name);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
      char kase[64];
      if (sscanf(line, "%63s", kase) != 1)
        continue;
      double a = bench_cg_per_op(a_dir, name, kase, NULL, 0);
      double b = bench_cg_per_op(b_dir, name, kase, NULL, 0);
      if (a <= 0 || b <= 0)
        continue;
      (*compared)++;
      if (!header++)
        printf("\ncallgrind, instructions per operation (deterministic; "
               "REGRESSION beyond %.2fx):\n",
               det);
      int bad = b / a > det;
      regress += bad;
      char label[400];
      snprintf(label, sizeof label, "%s %s", name, kase);
      printf("  %-36s %10.1f %10.1f %7.3f  %s\n", label, a, b, b / a,
             bad ? "REGRESSION" : "");
    }
    if (f)
      fclose(f);
  }
  closedir(d);
  return regress;
}

int report_compare(const char *a_dir, const char *b_dir) {
  double wall = compare_env("EVL_BENCH_THRESHOLD", COMPARE_WALL_THRESHOLD);
  double det = compare_env("EVL_BENCH_DET_THRESHOLD", COMPARE_DET_THRESHOLD);
  json *a = compare_load(a_dir), *b = a ? compare_load(b_dir) : NULL;
  if (!a || !b) {
    json_free(a);
    return 2;
  }
  const json *ra = json_get(a, "records"), *rb = json_get(b, "records");
  if (!ra || !rb || ra->type != JSON_ARR || rb->type != JSON_ARR) {
    fprintf(stderr, "evl-bench: --compare: no records array\n");
    json_free(a);
    json_free(b);
    return 2;
  }
  const json *ea = json_get(a, "environment"), *eb = json_get(b, "environment");
  printf("A: %s (%s, %s profile, commit %.12s)\nB: %s (%s, %s profile, "
         "commit %.12s)\n",
         a_dir, json_str(ea, "date", "?"), json_str(ea, "profile", "?"),
         json_str(ea, "commit", "?"), b_dir, json_str(eb, "date", "?"),
         json_str(eb, "profile", "?"), json_str(eb, "commit", "?"));
  printf("ratio = B/A of the medians; 'better'/'worse' = the 95 %% "
         "interval of the cost ratio lies wholly beyond %.2fx.\n\n",
         wall);
  printf("%-11s %-44s %-16s %-14s %12s %12s %7s  %s\n", "bench", "parameters",
         "implementation", "metric", "A", "B", "B/A", "");
  compare_group *groups = calloc((size_t)rb->n + 1, sizeof *groups);
  int ngroups = 0;
  int compared = 0, better = 0, worse = 0, regress = 0, missing = 0;
  for (int i = 0; groups && i < rb->n; i++) {
    const json *x = rb->kids[i];
    if (strcmp(json_str(x, "type", ""), "measurement"))
      continue;
    const json *y = compare_find(ra, x);
    if (!y) {
      missing++;
      continue;
    }
    double am = json_num(y, "median", 0), bm = json_num(x, "median", 0);
    if (am <= 0 || bm <= 0)
      continue;
    compared++;
    const char *bench = json_str(x, "bench", ""),
               *impl = json_str(x, "impl", "");
    const char *metric = json_str(x, "metric", "");
    int lower = strcmp(json_str(x, "better", "lower"), "higher") != 0;
    double ratio = bm / am;
    double cost = lower ? ratio : 1 / ratio;
    /* A figure is flagged only when the 95 % bootstrap interval of its cost
     * ratio (both runs' repeats resampled) lies wholly beyond the
     * threshold the groups are judged by: ranges that merely fail to
     * overlap happen between two healthy runs on a shared machine. */
    const char *flag = "";
    double lo, hi;
    if (compare_gated(bench, metric) && compare_ci(y, x, &lo, &hi) == 0) {
      double clo = lower ? lo : 1 / hi, chi = lower ? hi : 1 / lo;
      if (clo > wall) {
        worse++;
        flag = "worse";
      } else if (chi < 1 / wall) {
        better++;
        flag = "better";
      }
    }
    if (!strcmp(bench, "memory")) {
      /* Heap bytes do not depend on timing: judged one by one, above the
       * allocator's granularity (chunk headers, rounding). */
      int empty =
          strstr(json_str(json_get(x, "params"), "what", ""), "empty") != NULL;
      if (cost > det && fabs(bm - am) > (empty ? 16384 : 64)) {
        regress++;
        flag = "REGRESSION";
      }
    } else if (compare_gated(bench, metric)) {
      int g = 0;
      while (g < ngroups &&
             (strcmp(groups[g].bench, bench) || strcmp(groups[g].impl, impl)))
        g++;
      if (g == ngroups) {
        snprintf(groups[g].bench, sizeof groups[g].bench, "%s", bench);
        snprintf(groups[g].impl, sizeof groups[g].impl, "%s", impl);
        ngroups++;
      }
      groups[g].logsum += log(cost);
      groups[g].n++;
    }
    char p[512];
    json_to_text(json_get(x, "params"), p, sizeof p);
    char av[32], bv[32];
    snprintf(av, sizeof av, "%.4g", am);
    snprintf(bv, sizeof bv, "%.4g", bm);
    printf("%-11s %-44.44s %-16s %-14s %12s %12s %7.3f  %s\n", bench, p, impl,
           metric, av, bv, ratio, flag);
  }
  printf("\nper benchmark and implementation, geometric mean of the cost "
         "ratios (> 1 = B slower;\nREGRESSION beyond %.2fx; tails, wakeup, "
         "accuracy and calibration are not judged):\n",
         wall);
  for (int g = 0; g < ngroups; g++) {
    double gm = exp(groups[g].logsum / groups[g].n);
    int bad = gm > wall;
    regress += bad;
    printf("  %-11s %-18s %4d figures %7.3f  %s\n", groups[g].bench,
           groups[g].impl, groups[g].n, gm, bad ? "REGRESSION" : "");
  }
  int cg = compare_callgrind(a_dir, b_dir, det, &compared);
  regress += cg;
  printf("\n%d figures compared (%d only in B): %d better, %d worse with "
         "95 %% confidence beyond %.2fx; %d regressions.\n",
         compared, missing, better, worse, wall, regress);
  free(groups);
  json_free(a);
  json_free(b);
  /* Nothing in common is no evidence of anything: an empty or failed run
   * must not pass a regression gate. */
  if (!compared) {
    fprintf(stderr, "evl-bench: --compare: no figure is in both runs\n");
    return 2;
  }
  return regress ? 1 : 0;
}
