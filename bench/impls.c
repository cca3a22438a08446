/* impls.c — which implementations a run has: the evl registry's names (or
 * --impl), then the baselines (bench.h's BENCH_BASELINE_LIST); each probed
 * in a child process, and loaded for real only in the step's child. */
#include "kernels.h"
#include "run.h"

#include <evl/backend.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct impls_baseline {
  const char *name, *module;
} impls_baseline;

static const impls_baseline impls_baselines[] = {
#define IMPLS_ROW(name, module, dep) {name, module},
    BENCH_BASELINE_LIST(IMPLS_ROW)
#undef IMPLS_ROW
};
#define IMPLS_NBASE (int)(sizeof impls_baselines / sizeof impls_baselines[0])

static void impls_init(bench_impl *im, const char *name) {
  memset(im, 0, sizeof *im);
  im->name = name;
  im->kind = BENCH_KIND_EVL;
  for (int i = 0; i < IMPLS_NBASE; i++)
    if (!strcmp(impls_baselines[i].name, name)) {
      im->module = impls_baselines[i].module;
      im->kind = im->module ? BENCH_KIND_DIRECT : BENCH_KIND_RAW;
    }
}

/* Direct modules sit in <folder of evl-bench>/bench/, or in
 * $EVL_BENCH_DIRECT_DIR. */
static void impls_module_path(const char *module, char *out, size_t len) {
  const char *dir = getenv("EVL_BENCH_DIRECT_DIR");
  if (dir && *dir) {
    snprintf(out, len, "%s/%s", dir, module);
    return;
  }
  char exe[PATH_MAX];
  ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[k > 0 ? k : 0] = 0;
  char *slash = strrchr(exe, '/');
  if (slash)
    *slash = 0;
  snprintf(out, len, "%s/bench/%s", slash ? exe : ".", module);
}

static const struct bench_direct *impls_dlopen(const char *module, char *why,
                                               size_t len) {
  char path[PATH_MAX + 64];
  impls_module_path(module, path, sizeof path);
  /* RTLD_LOCAL: libev and libevent export the same names; one module per
   * process, and none of its symbols visible to anything else. */
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(why, len, "%s", e ? e : path);
    return NULL;
  }
  const struct bench_direct *d = dlsym(h, BENCH_DIRECT_SYMBOL);
  if (!d) {
    snprintf(why, len, "%s: missing symbol %s", path, BENCH_DIRECT_SYMBOL);
    return NULL;
  }
  if (d->abi != BENCH_DIRECT_ABI) {
    snprintf(why, len, "%s: kernel ABI %d, evl-bench has %d", path, d->abi,
             BENCH_DIRECT_ABI);
    return NULL;
  }
  return d;
}

int bench_impl_open(const bench_impl *im, bench_ctx *c, char *why, size_t len) {
  c->impl_name = im->name;
  c->ops = NULL;
  c->direct = NULL;
  c->backend = "";
  why[0] = 0;
  if (im->kind == BENCH_KIND_RAW) {
    c->backend = "epoll";
    return 0;
  }
  if (im->kind == BENCH_KIND_DIRECT) {
    const struct bench_direct *d = impls_dlopen(im->module, why, len);
    if (!d)
      return -ENOENT;
    c->direct = d;
    snprintf(c->backend_buf, sizeof c->backend_buf, "%s",
             d->backend ? d->backend() : "");
    c->backend = c->backend_buf;
    return 0;
  }
  char err[200] = "";
  const evl_impl_ops *ops = NULL;
  int rc = evl_impl_lookup(im->name, &ops, err, sizeof err);
  if (rc < 0) {
    snprintf(why, len, "lookup failed: %s", err[0] ? err : bench_strerror(rc));
    return rc;
  }
  /* A usable im passed its probe already, in the child that collected it
   * (or run.sh's names, which evl-bench probed): probing again in every
   * step would start another Python interpreter per step (~0.1 s each, 140
   * steps a quick run) and, under valgrind, seconds. */
  rc = im->usable ? 0 : evl_impl_probe(ops, err, sizeof err);
  if (rc < 0) {
    snprintf(why, len, "probe failed: %s", err[0] ? err : bench_strerror(rc));
    return rc;
  }
  c->ops = ops;
  return 0;
}

/* ---- probing in a child -----------------------------------------------------
 */
/* The child writes one line:
 * "ok\t<features>\t<features text>\t<description>\t<benches>\t<refcore>"
 * or "no\t<why>". */
static int impls_probe_child(void *arg, int fd) {
  const bench_impl *im = arg;
  bench_ctx c = {0};
  char why[256];
  bench_buf b = {0};
  if (bench_impl_open(im, &c, why, sizeof why) < 0) {
    bench_buf_printf(&b, "no\t%s\n", why);
  } else if (c.ops) {
    char feat[256] = "";
    evl_impl_features_str(c.ops->features, feat, sizeof feat);
    /* The core's own entry points: a ref-* row whatever its backend; 2 when
     * that backend lends its io_uring to the completion engine
     * (EVL_BF_COMPLETION): the proactor's native case. */
    int core = c.ops->call_later == evl_call_later;
    if (core && bench_lends_ring(&c))
      core = 2;
    bench_buf_printf(&b, "ok\t%u\t%s\t%s\t\t%d\n", (unsigned)c.ops->features,
                     feat, c.ops->description ? c.ops->description : "", core);
  } else if (c.direct) {
    const struct bench_direct *d = c.direct;
    bench_buf_printf(&b, "ok\t0\t\t%s %s, written directly\t,%s%s%s%s%s%s\n",
                     d->lib, d->version ? d->version() : "",
                     d->chain ? "chain," : "", d->idle ? "idle," : "",
                     d->timers ? "timers," : "",
                     d->callbacks ? "callbacks," : "",
                     d->pingpong ? "pingpong," : "", d->echo ? "echo," : "");
  } else {
    bench_buf_printf(&b, "ok\t0\t\tepoll written by hand, no abstraction\t\n");
  }
  /* Tabs and newlines inside a description would break the line. */
  for (size_t i = 0; b.s && i + 1 < b.len; i++)
    if (b.s[i] == '\n')
      b.s[i] = ' ';
  ssize_t w = write(fd, b.s, b.len);
  bench_buf_free(&b);
  return w < 0 ? 1 : 0;
}

static void impls_probe_line(void *u, const char *line, size_t len) {
  bench_impl *im = u;
  char tmp[1200];
  snprintf(tmp, sizeof tmp, "%.*s", (int)len, line);
  char *f[5] = {0};
  int k = 0;
  for (char *p = tmp, *save = NULL; k < 5; p = NULL) {
    char *t = strtok_r(p, "\t", &save);
    if (!t)
      break;
    f[k++] = t;
  }
  if (k >= 1 && !strcmp(f[0], "no")) {
    snprintf(im->why, sizeof im->why, "%s", k > 1 ? f[1] : "refused");
    return;
  }
  if (k < 2 || strcmp(f[0], "ok"))
    return;
  im->usable = 1;
  im->features = (unsigned)strtoul(f[1], NULL, 10);
  /* strtok_r merges empty fields: re-split by hand for the rest. */
  const char *p = strchr(line, '\t');
  const char *fields[5] = {0};
  size_t flen[5] = {0};
  for (int i = 0; i < 5 && p && p < line + len; i++) {
    p++;
    const char *e = memchr(p, '\t', (size_t)(line + len - p));
    fields[i] = p;
    flen[i] = (size_t)((e ? e : line + len) - p);
    p = e;
  }
  if (fields[1])
    snprintf(im->features_s, sizeof im->features_s, "%.*s", (int)flen[1],
             fields[1]);
  if (fields[2])
    snprintf(im->description, sizeof im->description, "%.*s", (int)flen[2],
             fields[2]);
  if (fields[3])
    snprintf(im->benches, sizeof im->benches, "%.*s", (int)flen[3], fields[3]);
  im->refcore = fields[4] && flen[4] ? fields[4][0] - '0' : 0;
  if (im->refcore < 0 || im->refcore > 2)
    im->refcore = 0;
  im->lends_ring = im->refcore == 2;
  im->refcore = im->refcore != 0;
}

static void impls_probe(bench_impl *im, double limit_s) {
  bench_proc_result res;
  int rc = bench_proc_run(impls_probe_child, im, limit_s, impls_probe_line, im,
                          &res);
  if (rc < 0) {
    snprintf(im->why, sizeof im->why, "could not fork a probe: %s",
             bench_strerror(rc));
    im->usable = 0;
  } else if (res.timed_out) {
    snprintf(im->why, sizeof im->why, "loading it hung: killed after %.0f s",
             res.secs);
    im->usable = 0;
  } else if (res.sig) {
    snprintf(im->why, sizeof im->why, "loading it crashed with signal %d (%s)",
             res.sig, strsignal(res.sig));
    im->usable = 0;
  } else if (!im->usable && !im->why[0]) {
    snprintf(im->why, sizeof im->why, "its probe said nothing (exit %d)",
             res.status);
  }
}

void bench_impl_unprobed(bench_impl *im, const char *name) {
  impls_init(im, name);
  im->usable = 1;
}

int bench_impls_collect(const char *const *names, int nnames, int no_baselines,
                        double limit_s, bench_impl *out, int cap) {
  int n = 0;
  if (nnames) {
    for (int i = 0; i < nnames && n < cap; i++)
      impls_init(&out[n++], names[i]);
    /* The raw floor always runs, and a native-X brings direct-X: the rows
     * its ratios and its tax are read against. */
    for (int b = 0; !no_baselines && b < IMPLS_NBASE && n < cap; b++) {
      const char *bn = impls_baselines[b].name;
      int want = !impls_baselines[b].module, have = 0;
      for (int i = 0; i < n; i++) {
        have |= !strcmp(out[i].name, bn);
        if (!strncmp(out[i].name, "native-", 7) &&
            !strcmp(out[i].name + 7, bn + strlen(BENCH_DIRECT_PREFIX)))
          want = 1;
      }
      if (want && !have)
        impls_init(&out[n++], bn);
    }
  } else {
    const char *const *reg = evl_impl_names();
    for (int i = 0; reg && reg[i] && n < cap; i++)
      impls_init(&out[n++], reg[i]);
    for (int i = 0; !no_baselines && i < IMPLS_NBASE && n < cap; i++)
      impls_init(&out[n++], impls_baselines[i].name);
  }
  for (int i = 0; i < n; i++)
    impls_probe(&out[i], limit_s);
  return n;
}

int bench_impl_runs(const bench_impl *im, const char *bench, int has_raw,
                    int has_direct, int per_impl) {
  if (!im->usable)
    return 0;
  switch (im->kind) {
  case BENCH_KIND_RAW:
    return has_raw;
  case BENCH_KIND_DIRECT: {
    char key[64];
    snprintf(key, sizeof key, ",%s,", bench);
    return has_direct && strstr(im->benches, key) != NULL;
  }
  default:
    return per_impl;
  }
}
