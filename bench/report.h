/* report.h — evl-bench's report side: plots, index.html, summary.md, compare.
 */
#ifndef EVL_BENCH_REPORT_H
#define EVL_BENCH_REPORT_H

/* Reads dir/results.json (plus hyperfine.json, callgrind/, conform.json when
 * present) and writes plots/, index.html and summary.md into dir. */
int report_generate(const char *dir);
/* Prints each figure's ratio B/A; exit status 1 on a regression. */
int report_compare(const char *a, const char *b);

#endif
