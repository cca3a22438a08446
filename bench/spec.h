/* spec.h — how a benchmark's report section looks, declared next to the
 * benchmark itself (bench_section_<name> in bench/<name>.c): its title and
 * text, its plots and its tables. The report walks BENCH_LIST and draws each
 * section from this data, so a new benchmark needs no report code. */
#ifndef EVL_BENCH_SPEC_H
#define EVL_BENCH_SPEC_H

/* A "where" is "k=v k2=v2": records whose params match every pair. */

/* One row per implementation; one column per value of params[colkey], or,
 * with colkey NULL, one per metric of the space-separated `metrics` (with a
 * colkey only the first metric is shown). */
typedef struct bench_table {
  const char *title, *where, *colkey, *metrics;
} bench_table;

typedef enum {
  BENCH_PLOT_LINES,  /* x = params[xkey], one line per implementation */
  BENCH_PLOT_BARS,   /* one bar group per implementation, a bar per panel */
  BENCH_PLOT_CURVES, /* percentile curves ("curve" records) */
} bench_plot_kind;

/* A panel of a lines or curves plot, or one bar series of a bars plot
 * (title is then the series' label). */
typedef struct bench_panel {
  const char *title, *metric, *where, *xkey;
} bench_panel;

typedef struct bench_plot {
  bench_plot_kind kind;
  const char *name; /* file name under plots/ */
  const char *title, *xlabel, *ylabel, *caption;
  int logx, logy, cols;
  const bench_panel *panels;
  int npanels;
} bench_plot;

typedef struct bench_section {
  const char *title, *text;
  const bench_plot *plots;
  int nplots;
  const bench_table *tables;
  int ntables;
} bench_section;

#define BENCH_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

#endif
