/* report_headline.c — "which loop should I use": the loops ranked by their
 * key figures against the leader, each with a 95 % interval, and the plot.
 * Separate from the targets (report_targets.c): it answers a user's
 * question rather than the project's goals, from its own key figures; both
 * share report_verdict.c's intervals. */
#include "bench.h"
#include "json.h"
#include "report_int.h"

#include <math.h>
#include <string.h>

/* The figures "which loop should I use" is answered from: one per kind of
 * work, each weighed equally. */
static const struct {
  const char *bench, *metric, *where;
} headline_keys[] = {
    {"chain", "per_event", "n=1000 active=100 timeouts=0 run=warm"},
    {"chain", "per_event", "n=1000 active=100 timeouts=1 run=warm"},
    {"pingpong", "round_trips", ""},
    {"echo", "rps", "mode=closed conc=100 kib=10"},
    {"timers", "fire", ""},
    {"callbacks", "rate", "shape=chain"},
};
#define HEADLINE_NKEYS BENCH_COUNT(headline_keys)

/* The same six kinds of work counted by callgrind (bench.h's cases), for a
 * ranking that is the same in every run: wall time separates loops a few
 * per cent apart only now and then, instructions always. Echo's is one
 * connection served by callbacks (task_echo's callback server: one
 * request's user-space work; the 100-connection case batches with load). */
static const char *const headline_cg_cases[] = {
    "chain",       "chain_timeouts",  "pingpong", "task_echo_callbacks_c1",
    "timers_fire", "callbacks_chain",
};
_Static_assert(BENCH_COUNT(headline_cg_cases) == HEADLINE_NKEYS,
               "one callgrind case per key figure");

/* Is impl the reference core over some backend (results.json's
 * "refcore")? */
static int headline_refcore(const report *r, const char *impl) {
  const json *impls = json_get(r->root, "implementations");
  for (int i = 0; impls && i < impls->n; i++) {
    const json *im = impls->kids[i];
    const json *rc = json_get(im, "refcore");
    if (!strcmp(json_str(im, "name", ""), impl))
      return rc && rc->type == JSON_TRUE;
  }
  return 0;
}

/* impl's key figure k; for a reference-core row that did not run that
 * benchmark (the quick profile measures backend-neutral ones such as timers
 * on one reference-core row only), that row's figure, its name in *from. */
static const report_rec *headline_key(const report *r, int k, const char *impl,
                                      const char **from) {
  *from = NULL;
  const report_rec *x =
      report_find(r, "measurement", headline_keys[k].bench,
                  headline_keys[k].metric, headline_keys[k].where, impl);
  if (x || !headline_refcore(r, impl))
    return x;
  /* Only for a benchmark the row did not run at all: one it ran and could
   * not hold (select's fd limit) stays missing. */
  for (int i = 0; i < r->nrecs; i++)
    if (!strcmp(r->recs[i].impl, impl) &&
        !strcmp(r->recs[i].bench, headline_keys[k].bench))
      return NULL;
  for (int i = 0; i < r->nimpls; i++) {
    if (!strcmp(r->impls[i], impl) || !headline_refcore(r, r->impls[i]))
      continue;
    x = report_find(r, "measurement", headline_keys[k].bench,
                    headline_keys[k].metric, headline_keys[k].where,
                    r->impls[i]);
    if (x) {
      *from = r->impls[i];
      return x;
    }
  }
  return NULL;
}

/* Has impl any measurement in this run (a row that never loaded has only
 * its skip)? */
static int headline_measured(const report *r, const char *impl) {
  for (int i = 0; i < r->nrecs; i++)
    if (!strcmp(r->recs[i].impl, impl) &&
        !strcmp(r->recs[i].type, "measurement"))
      return 1;
  return 0;
}

/* Pairs of impl against other on every key figure both have; -1 when impl
 * lacks one (it is then not ranked). */
static int headline_key_pairs(const report *r, const char *impl,
                              const char *other, verdict_pairs *p) {
  p->n = 0;
  for (int k = 0; k < HEADLINE_NKEYS; k++) {
    const char *from;
    const report_rec *x = headline_key(r, k, impl, &from);
    const report_rec *y = headline_key(r, k, other, &from);
    if (!x)
      return -1;
    verdict_add(p, x, y);
  }
  return p->n;
}

/* The loops one can use (not the baselines) ranked by score, lowest cost
 * first; the ones without every key figure, each with the first missing;
 * the reference-core row whose figures others borrowed, if any. */
typedef struct headline_rank {
  const char *cand[REPORT_MAX_IMPL];
  double score[REPORT_MAX_IMPL];
  int nc;
  const char *unranked[REPORT_MAX_IMPL], *unranked_why[REPORT_MAX_IMPL];
  int nun;
  const char *borrowed_from;
} headline_rank;

/* impl's score: the geometric mean of its key figures' cost against the
 * best loop's on each. 0 when a figure is missing (*why: its benchmark). */
static int headline_score(const report *r, const char *impl, double *score,
                          const char **why, const char **borrowed_from) {
  double logsum = 0;
  int n = 0, ok = 1, k = 0;
  for (k = 0; k < HEADLINE_NKEYS && ok; k++) {
    const char *from;
    const report_rec *x = headline_key(r, k, impl, &from);
    if (from && !*borrowed_from)
      *borrowed_from = from;
    const report_rec *best = NULL;
    for (int j = 0; x && j < r->nimpls; j++) {
      if (report_is_baseline(r->impls[j]))
        continue;
      const char *from2;
      const report_rec *y = headline_key(r, k, r->impls[j], &from2);
      if (y && (!best || report_ratio(best, y) > 1))
        best = y;
    }
    ok = x && best;
    if (ok) {
      logsum += log(report_ratio(x, best));
      n++;
    }
  }
  *why = headline_keys[k - 1].bench;
  *score = ok && n ? exp(logsum / n) : 0;
  return ok && n;
}

static void headline_rank_loops(const report *r, headline_rank *h) {
  for (int i = 0; i < r->nimpls; i++) {
    /* Loops only: not the baselines, nor calibration's backend:<name>
     * rows (a backend without a loop). */
    if (report_is_baseline(r->impls[i]) ||
        !strncmp(r->impls[i], "backend:", 8) ||
        !headline_measured(r, r->impls[i]))
      continue;
    const char *why;
    double score;
    if (!headline_score(r, r->impls[i], &score, &why, &h->borrowed_from)) {
      if (h->nun < REPORT_MAX_IMPL) {
        h->unranked[h->nun] = r->impls[i];
        h->unranked_why[h->nun++] = why;
      }
      continue;
    }
    h->cand[h->nc] = r->impls[i];
    h->score[h->nc++] = score;
  }
  for (int a = 0; a < h->nc; a++)
    for (int b = a + 1; b < h->nc; b++)
      if (h->score[b] < h->score[a]) {
        double s = h->score[a];
        h->score[a] = h->score[b];
        h->score[b] = s;
        const char *c = h->cand[a];
        h->cand[a] = h->cand[b];
        h->cand[b] = c;
      }
}

/* The loops ranked by user-space instructions: each one's geometric mean
 * over headline_cg_cases of its count against the lowest loop's, lowest
 * first. A loop without every count is left out. */
typedef struct headline_cg {
  const char *name[REPORT_MAX_IMPL];
  double ratio[REPORT_MAX_IMPL];
  int n;
  /* Loops without every count, each with the first case missing. */
  const char *unranked[REPORT_MAX_IMPL], *missing[REPORT_MAX_IMPL];
  int nun;
} headline_cg;

static void headline_cg_rank(const report *r, const headline_rank *h,
                             headline_cg *g) {
  double best[HEADLINE_NKEYS] = {0};
  for (int k = 0; k < HEADLINE_NKEYS; k++)
    for (int i = 0; i < h->nc; i++) {
      double v = verdict_cg(r, h->cand[i], headline_cg_cases[k]);
      if (v > 0 && (!best[k] || v < best[k]))
        best[k] = v;
    }
  g->n = 0;
  for (int i = 0; i < h->nc; i++) {
    double logsum = 0;
    int k = 0;
    for (; k < HEADLINE_NKEYS; k++) {
      double v = verdict_cg(r, h->cand[i], headline_cg_cases[k]);
      if (v <= 0 || best[k] <= 0)
        break;
      logsum += log(v / best[k]);
    }
    if (k < HEADLINE_NKEYS) {
      g->unranked[g->nun] = h->cand[i];
      g->missing[g->nun++] = headline_cg_cases[k];
      continue;
    }
    int j = g->n++;
    double q = exp(logsum / HEADLINE_NKEYS);
    for (; j > 0 && g->ratio[j - 1] > q; j--) {
      g->ratio[j] = g->ratio[j - 1];
      g->name[j] = g->name[j - 1];
    }
    g->ratio[j] = q;
    g->name[j] = h->cand[i];
  }
}

/* impl's instructions ratio in g, 0 when it has none. */
static double headline_cg_of(const headline_cg *g, const char *impl) {
  for (int i = 0; i < g->n; i++)
    if (!strcmp(g->name[i], impl))
      return g->ratio[i];
  return 0;
}

/* Rows against the leader: each cost's geometric mean and its interval. */
typedef struct headline_rows {
  const char *name[REPORT_MAX_IMPL];
  double gm[REPORT_MAX_IMPL], lo[REPORT_MAX_IMPL], hi[REPORT_MAX_IMPL];
  int n;
} headline_rows;

/* Each candidate against the leader, with its interval: the leader is
 * clearly ahead of one whose whole interval is above 1. */
static void headline_against_leader(const report *r, const headline_rank *h,
                                    headline_rows *c) {
  verdict_pairs p;
  for (int i = 0; i < h->nc; i++) {
    headline_key_pairs(r, h->cand[i], h->cand[0], &p);
    verdict_gm(&p, &c->gm[i], &c->lo[i], &c->hi[i]);
    c->name[i] = h->cand[i];
  }
  c->n = h->nc;
}

/* For reference: the libraries used directly, on the same figures. */
static void headline_directs(const report *r, const char *leader,
                             headline_rows *d) {
  verdict_pairs p;
  for (int i = 0; i < r->nimpls && d->n < REPORT_MAX_IMPL; i++) {
    if (!report_is_direct(r->impls[i]) ||
        headline_key_pairs(r, r->impls[i], leader, &p) != HEADLINE_NKEYS)
      continue;
    verdict_gm(&p, &d->gm[d->n], &d->lo[d->n], &d->hi[d->n]);
    d->name[d->n++] = r->impls[i];
  }
}

static void headline_bold(report *r, const char *name) {
  bench_buf_printf(&r->html, "<b>");
  report_html_esc(&r->html, name);
  bench_buf_printf(&r->html, "</b>");
  bench_buf_printf(&r->md, "**%s**", name);
}

/* Does time tell loop i of c from the fastest: is its whole interval
 * against it above 1 once widened for the drift between runs, as a
 * target's verdict is? Unwidened, two quiet runs on one commit read "a
 * clear lead" beside [1.05–1.20] and "too close to call" beside
 * [1.00–1.15] for the same code. */
static int headline_behind(const headline_rows *c, int i) {
  return i > 0 && c->lo[i] / (1 + VERDICT_DRIFT) > 1;
}

/* "X does the key work fastest here; the runner-up, Y, costs ×q [lo–hi] of
 * it: a clear lead." */
static void headline_clear_lead(report *r, const headline_rows *c) {
  headline_bold(r, c->name[0]);
  report_both(r, " does the key work fastest here");
  if (c->n > 1) {
    report_both(r, "; the runner-up, ");
    headline_bold(r, c->name[1]);
    report_both(r,
                ", costs ×%.2f [95 %% interval %.2f–%.2f] of it: a clear "
                "lead (beyond the %.0f %% drift between runs)",
                c->gm[1], c->lo[1], c->hi[1], VERDICT_DRIFT * 100);
  }
  report_both(r, ".");
}

/* Every loop time cannot tell from the fastest, then the one of them with
 * the fewest instructions: the count does not move with the machine's
 * load, so the pick is the same in every run. */
static void headline_too_close(report *r, const headline_rows *c,
                               const headline_cg *g) {
  int ntied = 0, last = 0;
  for (int i = 0; i < c->n; i++)
    if (!headline_behind(c, i)) {
      ntied++;
      last = i;
    }
  for (int i = 0; i < c->n; i++) {
    if (headline_behind(c, i))
      continue;
    report_both(r, "%s", i == 0 ? "" : i == last ? " and " : ", ");
    headline_bold(r, c->name[i]);
    if (i)
      report_both(r, " ×%.2f [%.2f–%.2f]", c->gm[i], c->lo[i], c->hi[i]);
  }
  report_both(r,
              " are too close to call on time (each one's 95 %% interval "
              "against the fastest, %s, reaches 1 once widened by %.0f %% "
              "for the drift between runs)",
              c->name[0], VERDICT_DRIFT * 100);
  const char *least = NULL;
  double qmin = 0, qmax = 0;
  for (int i = 0; i < c->n; i++) {
    double q = headline_behind(c, i) ? 0 : headline_cg_of(g, c->name[i]);
    if (q > 0 && (!least || q < qmin)) {
      least = c->name[i];
      qmin = q;
    }
    qmax = q > qmax ? q : qmax;
  }
  if (least && ntied > 1) {
    report_both(r, "; of them, ");
    headline_bold(r, least);
    report_both(r,
                " does the least user-space work by callgrind's count, which "
                "load does not move (the others up to ×%.2f of it)",
                qmax / qmin);
  }
  report_both(r, ".");
}

/* Every ranked loop in order with its interval against the fastest (the
 * Python loops included wherever they ran), then the same loops by
 * instructions against the leanest of them. */
static void headline_lines(report *r, const headline_rows *c,
                           const headline_cg *g) {
  bench_buf_printf(&r->html, "<br>");
  bench_buf_printf(&r->md, "\n\n");
  report_both(r, "Ranking: ");
  for (int i = 0; i < c->n; i++) {
    report_both(r, "%s%d. ", i ? " · " : "", i + 1);
    headline_bold(r, c->name[i]);
    if (i)
      report_both(r, " ×%.2f [%.2f–%.2f]", c->gm[i], c->lo[i], c->hi[i]);
    else
      report_both(r, " ×1.00");
  }
  report_both(r, ".");
  if (!g->n)
    return;
  bench_buf_printf(&r->html, "<br>");
  bench_buf_printf(&r->md, "\n\n");
  report_both(r, "By user-space instructions (callgrind; the kernel's share "
                 "of the work is not in it): ");
  for (int i = 0; i < g->n; i++)
    report_both(r, "%s%d. %s ×%.2f", i ? " · " : "", i + 1, g->name[i],
                g->ratio[i]);
  report_both(r, ".");
  for (int i = 0; i < g->nun; i++)
    report_both(r, "%s%s (no %s count)%s",
                i ? ", " : " Not counted: ", g->unranked[i], g->missing[i],
                i + 1 == g->nun ? "." : "");
}

/* The verdict sentence, then the rankings. */
static void headline_ranking(report *r, const headline_rows *c,
                             const headline_cg *g) {
  bench_buf_printf(&r->html, "<div class=headline>");
  if (c->n < 2 || headline_behind(c, 1))
    headline_clear_lead(r, c);
  else
    headline_too_close(r, c, g);
  headline_lines(r, c, g);
  bench_buf_printf(&r->md, "\n\n");
}

/* How to read it, the direct libraries for reference, the loops not
 * ranked (never dropped silently) and where figures were borrowed. */
static void headline_small_print(report *r, const headline_rank *h,
                                 const headline_rows *d) {
  bench_buf_printf(&r->html,
                   "<br><small>Geometric mean over %d key figures (chain "
                   "n=1000 a=100 with and without timeouts, pingpong, echo "
                   "100×10 KiB, timer firing, call_soon chain), each "
                   "against the leader; every loop whose interval is above "
                   "1 is slower with 95 %% confidence. The verdicts below "
                   "say how each target stands.",
                   HEADLINE_NKEYS);
  for (int i = 0; i < d->n; i++)
    report_both(r, "%s%s ×%.2f [%.2f–%.2f]",
                i ? ", "
                  : " For reference, the same work written directly against "
                    "a library: ",
                d->name[i], d->gm[i], d->lo[i], d->hi[i]);
  report_both(r, "%s", d->n ? "." : "");
  for (int i = 0; i < h->nun; i++)
    report_both(r, "%s%s (no %s figure)",
                i ? ", " : " Not ranked (a key figure missing in this run): ",
                h->unranked[i], h->unranked_why[i]);
  report_both(r, "%s", h->nun ? "." : "");
  if (h->borrowed_from)
    report_both(r,
                " The other reference-core rows use %s's figure where this "
                "profile measured a backend-neutral benchmark on it only "
                "(the same core code).",
                h->borrowed_from);
  bench_buf_printf(&r->html, "</small></div>\n");
  bench_buf_printf(&r->md, "\n\n");
}

/* The ranked loops, then the direct libraries, as bars with intervals. */
static void headline_plot(report *r, const headline_rows *c,
                          const headline_rows *d) {
  char path[4096];
  snprintf(path, sizeof path, "%s/plots/data/headline.dat", r->dir);
  FILE *f = fopen(path, "w");
  if (!f)
    return;
  for (const headline_rows *rows = c; rows; rows = rows == c ? d : NULL)
    for (int i = 0; i < rows->n; i++)
      fprintf(f, "\"%s\" %g %g %g\n", rows->name[i], rows->gm[i], rows->lo[i],
              rows->hi[i]);
  fclose(f);
  bench_buf body = {0};
  bench_buf_printf(&body,
                   "%sset title 'cost against %s over the key figures "
                   "(95%% interval; 1 = as fast, lower is better)' "
                   "noenhanced\n"
                   "set style data histograms\n"
                   "set style histogram errorbars gap 1 lw 1\n"
                   "set style fill solid 0.8 border -1\nset boxwidth 0.9\n"
                   "set xtics rotate by -35 noenhanced\nunset key\n"
                   "set yrange [0:*]\nset ylabel 'cost (×)'\n"
                   "plot 'data/headline.dat' u 2:3:4:xtic(1) lt 2, 1 lt 9 "
                   "dt 2 notitle\n",
                   REPORT_STYLE, c->name[0]);
  int width = 420 + 60 * (c->n + d->n);
  /* Short, so the verdicts below it still reach the first screen. */
  if (report_gnuplot(r, "headline", body.s, width > 1200 ? 1200 : width, 250) ==
      0)
    report_embed(r, "headline", "which loop: cost against the fastest");
  bench_buf_free(&body);
}

void report_headline(report *r) {
  /* Rank the loops one can use (not the baselines) by the geometric mean
   * of their key figures' cost against the best of them on each. */
  headline_rank h = {0};
  headline_rows c = {0}, d = {0};
  headline_rank_loops(r, &h);
  report_h2(r, "headline", "Which loop should I use, and how sure is that?",
            NULL);
  if (!h.nc) {
    report_para(r, "Not enough figures in this run to rank the loops (the "
                   "headline needs chain, pingpong, echo, timers and "
                   "callbacks).");
    return;
  }
  headline_against_leader(r, &h, &c);
  headline_cg g = {0};
  headline_cg_rank(r, &h, &g);
  headline_ranking(r, &c, &g);
  headline_directs(r, h.cand[0], &d);
  headline_small_print(r, &h, &d);
  headline_plot(r, &c, &d);
}
