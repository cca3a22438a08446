/* compare.c — `evl-bench --compare A B`: each figure's ratio B/A, changes
 * beyond the spread flagged, and a non-zero exit on a clear regression. */
#include "bench.h"
#include "json.h"
#include "report.h"

#include <dirent.h>
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

/* Instructions per event from a run folder's callgrind/<name>.out and
 * .events; 0 when either is missing. */
static double compare_cg(const char *dir, const char *name) {
  char path[4096], line[512];
  double ir = 0, ev = 0;
  snprintf(path, sizeof path, "%s/callgrind/%s.out", dir, name);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "summary:", 8))
      ir = strtod(line + 8, NULL);
  fclose(f);
  snprintf(path, sizeof path, "%s/callgrind/%s.events", dir, name);
  f = fopen(path, "r");
  if (!f)
    return 0;
  if (fscanf(f, "%lf", &ev) != 1)
    ev = 0;
  fclose(f);
  return ir > 0 && ev > 0 ? ir / ev : 0;
}

static int compare_callgrind(const char *a_dir, const char *b_dir, double det) {
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
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(len - 7), e->d_name);
    double a = compare_cg(a_dir, name), b = compare_cg(b_dir, name);
    if (a <= 0 || b <= 0)
      continue;
    if (!header++)
      printf("\ncallgrind, instructions per event (deterministic; "
             "REGRESSION beyond %.2fx):\n",
             det);
    int bad = b / a > det;
    regress += bad;
    printf("  %-28s %10.1f %10.1f %7.3f  %s\n", name, a, b, b / a,
           bad ? "REGRESSION" : "");
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
  printf("ratio = B/A of the medians; 'better'/'worse' = the two runs' "
         "min-max ranges do not overlap.\n\n");
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
    double amin = json_num(y, "min", am), amax = json_num(y, "max", am);
    double bmin = json_num(x, "min", bm), bmax = json_num(x, "max", bm);
    int apart = bmin > amax || bmax < amin;
    const char *flag = "";
    if (apart && cost > 1) {
      worse++;
      flag = "worse";
    } else if (apart) {
      better++;
      flag = "better";
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
  regress += compare_callgrind(a_dir, b_dir, det);
  printf("\n%d figures compared (%d only in B): %d better, %d worse beyond "
         "the spread; %d regressions.\n",
         compared, missing, better, worse, regress);
  free(groups);
  json_free(a);
  json_free(b);
  return regress ? 1 : 0;
}
