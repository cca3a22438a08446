/* diff.c — evl-conform --differential: runs seeded scenarios (diff_scen.c)
 * on every selected implementation, each batch of scenarios in its own
 * child process with a deadline, compares the traces, and shrinks the first
 * disagreement to a minimal scenario. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diff.h"
#include "tools/child.h"

enum { DIFF_CHUNK = 500, DIFF_TRACE = 16384, DIFF_MAX_TGT = 16 };

typedef struct diff_tgt {
  const char *spec;
  int ref_backend; /* spec names a backend: the reference core over it */
  char name[80];
  unsigned flags;
} diff_tgt;

typedef struct diff_job {
  const diff_tgt *t;
  uint64_t seed;
  long first, count;
  unsigned flags;
  const diff_scen *one; /* single scenario, full trace */
} diff_job;

static int diff_resolve(const diff_tgt *t, const evl_impl_ops **out, char *err,
                        size_t len) {
  return t->ref_backend ? evl_impl_ref(t->spec, out, err, len)
                        : evl_impl_lookup(t->spec, out, err, len);
}

static uint64_t diff_seed_of(uint64_t seed, long i) {
  return seed * 1000003ull + (uint64_t)i;
}

/* In the child: probe, a batch of hashes, or one full trace. */
static void diff_child(void *arg, int wfd) {
  const diff_job *j = arg;
  const evl_impl_ops *impl;
  char err[320], line[DIFF_TRACE + 64];
  signal(SIGPIPE, SIG_IGN); /* a writer on a closed pipe sees EPIPE */
  int rc = diff_resolve(j->t, &impl, err, sizeof err);
  if (rc == 0)
    rc = evl_impl_probe(impl, err, sizeof err);
  if (rc != 0) {
    child_put_line(wfd, "no", err[0] ? err : evl_strerror(rc));
    return;
  }
  if (j->count == 0) {
    snprintf(line, sizeof line, "%u %s", diff_flags_for(impl), impl->name);
    child_put_line(wfd, "ok", line);
    return;
  }
  char *trace = malloc(DIFF_TRACE);
  diff_scen sc;
  for (long i = j->first; trace && i < j->first + j->count; i++) {
    if (j->one)
      sc = *j->one;
    else
      diff_generate(&sc, diff_seed_of(j->seed, i), j->flags);
    rc = diff_execute(impl, &sc, trace, DIFF_TRACE);
    if (rc < 0)
      snprintf(line, sizeof line, "e %ld %d", i, rc);
    else if (j->one)
      snprintf(line, sizeof line, "t %s", trace);
    else
      snprintf(line, sizeof line, "h %ld %016" PRIx64, i, diff_hash(trace));
    child_put_line(wfd, line, NULL);
  }
  free(trace);
}

/* Runs jobs[0..n) at once; out[i] gets what each wrote (malloc'ed) and
 * why[i] how it ended when that was not a clean exit. */
static void diff_run(diff_job *jobs, int n, int timeout_ms, char **out,
                     char (*why)[160]) {
  child_proc c[DIFF_MAX_TGT];
  child_proc *cs[DIFF_MAX_TGT];
  size_t len[DIFF_MAX_TGT] = {0}, cap[DIFF_MAX_TGT];
  for (int i = 0; i < n; i++) {
    cap[i] = 4096;
    out[i] = calloc(1, cap[i]);
    why[i][0] = '\0';
    cs[i] = &c[i];
    if (child_start(&c[i], CHILD_CLOSE_FDS, timeout_ms, diff_child, &jobs[i]) <
        0)
      snprintf(why[i], sizeof why[i], "could not start a child process");
  }
  for (;;) {
    int left = 0;
    for (int i = 0; i < n; i++) {
      if (c[i].pid <= 0)
        continue;
      for (;;) {
        if (out[i] && len[i] + 2048 > cap[i]) {
          char *p = realloc(out[i], cap[i] * 2);
          if (p) {
            out[i] = p;
            cap[i] *= 2;
          }
        }
        long r = out[i] && len[i] + 1 < cap[i]
                     ? child_read(&c[i], out[i] + len[i], cap[i] - len[i] - 1)
                     : 0;
        if (r <= 0)
          break;
        len[i] += (size_t)r;
        out[i][len[i]] = '\0';
      }
      if (!child_done(&c[i]) || !c[i].eof)
        left += !child_done(&c[i]);
    }
    if (!left)
      break;
    child_wait(cs, n, 1000);
  }
  for (int i = 0; i < n; i++) {
    if (c[i].pid > 0 &&
        (c[i].timed_out || !WIFEXITED(c[i].status) || WEXITSTATUS(c[i].status)))
      child_describe(&c[i], why[i], sizeof why[i]);
    if (c[i].pid > 0)
      child_close(&c[i]);
  }
}

/* Both traces of one scenario; 1 if they differ (or a run failed). */
static int diff_pair(const diff_tgt *a, const diff_tgt *b, const diff_scen *sc,
                     int timeout_ms, char **ta, char **tb) {
  diff_job j[2] = {{.t = a, .count = 1, .one = sc},
                   {.t = b, .count = 1, .one = sc}};
  char *out[2], why[2][160];
  diff_run(j, 2, timeout_ms, out, why);
  for (int i = 0; i < 2; i++) {
    if (why[i][0] || !out[i] || strncmp(out[i], "t ", 2)) {
      char *s = malloc(400);
      if (s)
        snprintf(s, 400, "(no trace: %s%s)", why[i][0] ? why[i] : "",
                 out[i] ? out[i] : "");
      free(out[i]);
      out[i] = s;
    } else {
      memmove(out[i], out[i] + 2, strlen(out[i] + 2) + 1);
      out[i][strcspn(out[i], "\n")] = '\0';
    }
  }
  *ta = out[0];
  *tb = out[1];
  return !out[0] || !out[1] || strcmp(out[0], out[1]) != 0;
}

/* Drops step i, keeping every cancel and re-arm pointed at the same step
 * (or at nothing when that step is the one dropped). */
static void diff_drop(diff_scen *sc, int i) {
  for (int k = i; k + 1 < sc->n; k++)
    sc->op[k] = sc->op[k + 1];
  sc->n--;
  for (int k = 0; k < sc->n; k++)
    if (sc->op[k].kind == DIFF_CANCEL || sc->op[k].kind == DIFF_REARM) {
      if (sc->op[k].a == i)
        sc->op[k].a = DIFF_MAX_OPS; /* a handle never issued */
      else if (sc->op[k].a > i && sc->op[k].a < DIFF_MAX_OPS)
        sc->op[k].a--;
    }
}

static void diff_shrink(diff_scen *sc, const diff_tgt *a, const diff_tgt *b,
                        int timeout_ms) {
  for (int progress = 1; progress;) {
    progress = 0;
    for (int i = sc->n - 1; i >= 0; i--) {
      diff_scen t = *sc;
      diff_drop(&t, i);
      char *ta, *tb;
      int d = diff_pair(a, b, &t, timeout_ms, &ta, &tb);
      free(ta);
      free(tb);
      if (d) {
        *sc = t;
        progress = 1;
      }
    }
    while (sc->nphases > 1) {
      int maxp = 0;
      for (int k = 0; k < sc->n; k++)
        maxp = sc->op[k].phase > maxp ? sc->op[k].phase : maxp;
      if (maxp >= sc->nphases - 1)
        break;
      sc->nphases--; /* a trailing batch without steps */
      progress = 1;
    }
  }
}

static void diff_first_difference(const char *x, const char *y) {
  int tok = 0;
  size_t i = 0;
  while (x[i] && x[i] == y[i]) {
    tok += x[i] == ' ';
    i++;
  }
  while (i > 0 && x[i - 1] != ' ')
    i--;
  printf("first difference at token %d: '%.*s' vs '%.*s'\n", tok,
         (int)strcspn(x + i, " "), x + i, (int)strcspn(y + i, " "), y + i);
}

static int diff_report(diff_tgt *a, diff_tgt *b, long idx, uint64_t seed,
                       unsigned flags, int timeout_ms) {
  diff_scen sc;
  diff_generate(&sc, diff_seed_of(seed, idx), flags);
  int before = sc.n;
  char *ta = NULL, *tb = NULL;
  int tries = 0, d = 0;
  while (!d && tries++ < 20) { /* a timing-dependent one may need a few */
    free(ta);
    free(tb);
    d = diff_pair(a, b, &sc, timeout_ms, &ta, &tb);
  }
  if (!d) {
    printf("differential: scenario %ld disagreed in its batch but not in 20 "
           "runs alone on %s and %s (timing-dependent?); it reads:\n",
           idx, a->name, b->name);
    diff_print(stdout, &sc);
    printf("  %-16s %s\n", a->name, ta ? ta : "");
    free(ta);
    free(tb);
    return 1;
  }
  printf("differential: scenario %ld, as generated:\n  %-16s %s\n  %-16s "
         "%s\n",
         idx, a->name, ta ? ta : "", b->name, tb ? tb : "");
  free(ta);
  free(tb);
  diff_shrink(&sc, a, b, timeout_ms);
  diff_pair(a, b, &sc, timeout_ms, &ta, &tb);
  printf("differential: scenario %ld (--seed %" PRIu64 ") disagrees between "
         "%s and %s; shrunk from %d to %d steps:\n",
         idx, seed, a->name, b->name, before, sc.n);
  diff_print(stdout, &sc);
  printf("traces ('|' starts a batch, '#' is run returning; sN call_soon, tN "
         "timer, rN:bytes reader, wN writer, cN=cancel's, mN=rearm's, "
         "xN=remove's result, N the step):\n  %-16s %s\n  %-16s %s\n",
         a->name, ta ? ta : "", b->name, tb ? tb : "");
  if (ta && tb)
    diff_first_difference(ta, tb);
  free(ta);
  free(tb);
  return 1;
}

int diff_main(char **impls, int nimpls, char **backends, int nbackends,
              long count, uint64_t seed, double scale) {
  static char *const dflt[] = {"ref-epoll", "ref-poll", "ref-select",
                               "ref-iouring"};
  diff_tgt tg[DIFF_MAX_TGT];
  int ntg = 0, named = nimpls + nbackends > 0;
  for (int i = 0; i < (named ? nimpls : 4) && ntg < DIFF_MAX_TGT; i++)
    tg[ntg++] = (diff_tgt){.spec = named ? impls[i] : dflt[i]};
  for (int i = 0; i < nbackends && ntg < DIFF_MAX_TGT; i++)
    tg[ntg++] = (diff_tgt){.spec = backends[i], .ref_backend = 1};
  int timeout_ms = (int)(60000 * scale);
  child_kill_on_interrupt();

  /* Probe: which run here, and what their deviations leave out. */
  diff_job pj[DIFF_MAX_TGT];
  char *out[DIFF_MAX_TGT], why[DIFF_MAX_TGT][160];
  for (int i = 0; i < ntg; i++)
    pj[i] = (diff_job){.t = &tg[i], .count = 0};
  diff_run(pj, ntg, timeout_ms, out, why);
  unsigned flags = 0;
  int k = 0;
  for (int i = 0; i < ntg; i++) {
    unsigned f = 0;
    char name[80] = "";
    if (out[i] && sscanf(out[i], "ok %u %79s", &f, name) == 2) {
      tg[k] = tg[i];
      snprintf(tg[k].name, sizeof tg[k].name, "%s", name);
      tg[k++].flags = f;
      flags |= f;
    } else if (named) {
      fprintf(stderr, "evl-conform: %s: %s\n", tg[i].spec,
              out[i] && !strncmp(out[i], "no ", 3) ? out[i] + 3 : why[i]);
      for (int j = 0; j < ntg; j++)
        free(out[j]);
      return 2;
    } else {
      printf("differential: %s not runnable here, left out\n", tg[i].spec);
    }
  }
  for (int i = 0; i < ntg; i++)
    free(out[i]);
  ntg = k;
  if (ntg < 2) {
    fprintf(stderr, "evl-conform: --differential needs two implementations "
                    "that run here\n");
    return 2;
  }
  printf("differential: %ld scenarios (--seed %" PRIu64 ") on", count, seed);
  for (int i = 0; i < ntg; i++)
    printf(" %s", tg[i].name);
  printf("%s%s%s%s\n", flags & DIFF_NO_EQUAL ? "; no equal deadlines" : "",
         flags & DIFF_NO_PEER_CLOSE ? "; no hang-ups" : "",
         flags & DIFF_NO_REARM ? "; no re-arm" : "",
         flags & DIFF_NO_IO ? "; no readers or writers" : "");
  fflush(stdout);

  for (long first = 0; first < count; first += DIFF_CHUNK) {
    long n = count - first < DIFF_CHUNK ? count - first : DIFF_CHUNK;
    diff_job j[DIFF_MAX_TGT];
    for (int i = 0; i < ntg; i++)
      j[i] = (diff_job){.t = &tg[i],
                        .seed = seed,
                        .first = first,
                        .count = n,
                        .flags = flags};
    diff_run(j, ntg, timeout_ms, out, why);
    /* hashes[t][i]; a missing line is a run that died there. */
    long bad = -1;
    int bt = 0;
    char *h0 = NULL;
    for (long i = first; i < first + n && bad < 0; i++) {
      char key[64];
      snprintf(key, sizeof key, "h %ld ", i);
      for (int t = 0; t < ntg && bad < 0; t++) {
        char *p = out[t] ? strstr(out[t], key) : NULL;
        if (!p) {
          printf("differential: %s gave no trace for scenario %ld: %s\n",
                 tg[t].name, i, why[t][0] ? why[t] : "(loop_new failed?)");
          diff_scen sc;
          diff_generate(&sc, diff_seed_of(seed, i), flags);
          diff_print(stdout, &sc);
          for (int q = 0; q < ntg; q++)
            free(out[q]);
          return 1;
        }
        if (t == 0)
          h0 = p + strlen(key);
        else if (strncmp(h0, p + strlen(key), 16)) {
          bad = i;
          bt = t;
        }
      }
    }
    for (int t = 0; t < ntg; t++)
      free(out[t]);
    if (bad >= 0)
      return diff_report(&tg[0], &tg[bt], bad, seed, flags, timeout_ms);
  }
  printf("differential: %ld scenarios, %d implementations, every trace "
         "agrees\n",
         count, ntg);
  return 0;
}
