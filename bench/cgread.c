/* cgread.c — reads a run's callgrind/ folder: per implementation one
 * <name>.events ("<case> <count> <backend>" per line) and one callgrind dump
 * per case (<name>.out.<k>, named by the case in its "desc: Trigger" line).
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

/* The case name and total instructions of one dump; 0 when unreadable. */
static int cgread_dump(const char *path, char *kase, size_t len, double *ir) {
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  char line[1024];
  int have = 0;
  kase[0] = 0;
  *ir = -1;
  while (fgets(line, sizeof line, f)) {
    const char *t = "desc: Trigger: Client Request: ";
    if (!strncmp(line, t, strlen(t))) {
      const char *src = line + strlen(t);
      size_t k = strcspn(src, "\r\n");
      if (k >= len)
        k = len - 1;
      memcpy(kase, src, k);
      kase[k] = 0;
    } else if (!strncmp(line, "summary:", 8) || !strncmp(line, "totals:", 7)) {
      *ir = strtod(strchr(line, ':') + 1, NULL);
      have = 1;
    }
  }
  fclose(f);
  return have && kase[0];
}

/* A case's line in <safe>.events: how many operations its count is
 * divided by (0: none recorded), and the backend it ran on. */
static double cgread_events(const char *dir, const char *safe, const char *kase,
                            char *backend, size_t blen) {
  char path[4096], line[512];
  snprintf(path, sizeof path, "%s/callgrind/%s.events", dir, safe);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  double count = 0;
  while (fgets(line, sizeof line, f)) {
    char c[64], b[64] = "";
    double n;
    if (sscanf(line, "%63s %lf %63s", c, &n, b) >= 2 && !strcmp(c, kase)) {
      count = n;
      if (backend)
        snprintf(backend, blen, "%s", b);
    }
  }
  fclose(f);
  return count;
}

double bench_cg_ops(const char *dir, const char *safe, const char *kase) {
  return cgread_events(dir, safe, kase, NULL, 0);
}

double bench_cg_per_op(const char *dir, const char *safe, const char *kase,
                       char *backend, size_t blen) {
  double count = cgread_events(dir, safe, kase, backend, blen);
  if (count <= 0)
    return 0;
  char path[4096];
  /* Dumps are numbered in the order the cases ran; a missing number ends
   * the scan (a case that failed leaves no dump). */
  for (int k = 1; k < 64; k++) {
    char name[64];
    double ir;
    snprintf(path, sizeof path, "%s/callgrind/%s.out.%d", dir, safe, k);
    if (!cgread_dump(path, name, sizeof name, &ir)) {
      FILE *probe = fopen(path, "r");
      if (!probe)
        break;
      fclose(probe);
      continue;
    }
    if (!strcmp(name, kase))
      return ir > 0 ? ir / count : 0;
  }
  return 0;
}
