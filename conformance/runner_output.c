/* runner_output.c — evl-conform's output formats: the matrix and its
 * non-pass list, per-test lines (-v), TAP, JSON, JUnit XML, and the lists of
 * tests and targets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

const char *const runner_cell[] = {
#define RUNNER_ST_CELL(name, cell) cell,
    RUNNER_STATUSES(RUNNER_ST_CELL)
#undef RUNNER_ST_CELL
};
const char *const runner_stname[] = {
#define RUNNER_ST_NAME(name, cell) #name,
    RUNNER_STATUSES(RUNNER_ST_NAME)
#undef RUNNER_ST_NAME
};

void runner_progress(runner *R, int done, int total) {
  if (!R->tty_progress || done == R->progress_shown)
    return;
  R->progress_shown = done;
  if (done < 0)
    fprintf(stderr, "\r%40s\r", "");
  else
    fprintf(stderr, "\r[%d/%d]", done, total);
}

void runner_print_output_tail(FILE *f, const char *out, int lines,
                              const char *prefix) {
  if (!out || !*out)
    return;
  const char *p = out + strlen(out);
  if (p > out && p[-1] == '\n')
    p--;
  /* evl_t_fail's own last line repeats the reason shown above it. */
  const char *last = p;
  while (last > out && last[-1] != '\n')
    last--;
  size_t lastlen = (size_t)(p - last);
  if ((lastlen >= 6 && memcmp(last, "FAIL [", 6) == 0) ||
      (lastlen >= 5 && memcmp(last, "SKIP ", 5) == 0)) {
    p = last > out ? last - 1 : out;
    if (p == out)
      return;
  }
  const char *end = p;
  int n = 0;
  while (p > out) {
    p--;
    if (*p == '\n' && ++n >= lines) {
      p++;
      break;
    }
  }
  if (p > out)
    fprintf(f, "%s...\n", prefix);
  while (p < end) {
    const char *e = memchr(p, '\n', (size_t)(end - p));
    int len = e ? (int)(e - p) : (int)(end - p);
    fprintf(f, "%s%.*s\n", prefix, len, p);
    if (!e)
      break;
    p = e + 1;
  }
}

void runner_verbose_line(runner *R, int si, int ti) {
  const evl_test *te = &evl_tests[R->sel[si]];
  runner_result *r = &R->res[si * R->ntg + ti];
  printf("%-5s %s [%s] (%.0f ms)%s%s\n", runner_cell[r->st], te->name,
         R->tg[ti].label, r->ms, r->reason ? ": " : "",
         r->reason ? r->reason : "");
  if (r->st != RS_PASS && r->st != RS_SKIP && r->output)
    runner_print_output_tail(stdout, r->output, 30, "    | ");
  fflush(stdout);
}

/* TAP reads " # " as the start of a directive: escape every '#'. */
static const char *runner_tap_esc(const char *s, char *buf, size_t len) {
  size_t o = 0;
  for (; s && *s && o + 3 < len; s++) {
    if (*s == '#')
      buf[o++] = '\\';
    buf[o++] = *s == '\n' ? ' ' : *s;
  }
  buf[o] = '\0';
  return buf;
}

void runner_tap_line(runner *R, int n, int si, int ti) {
  const evl_test *te = &evl_tests[R->sel[si]];
  runner_result *r = &R->res[si * R->ntg + ti];
  char rbuf[2048], lbuf[200];
  const char *reason = runner_tap_esc(r->reason, rbuf, sizeof rbuf);
  const char *label = runner_tap_esc(R->tg[ti].label, lbuf, sizeof lbuf);
  switch (r->st) {
  case RS_PASS:
    printf("ok %d - %s [%s]\n", n, te->name, label);
    break;
  case RS_SKIP:
    printf("ok %d - %s [%s] # SKIP %s\n", n, te->name, label, reason);
    break;
  case RS_XFAIL:
    printf("not ok %d - %s [%s] # TODO %s\n", n, te->name, label, reason);
    break;
  case RS_XPASS:
    printf("ok %d - %s [%s] # TODO %s\n", n, te->name, label, reason);
    break;
  default:
    printf("not ok %d - %s [%s]\n", n, te->name, label);
    printf("  ---\n  status: %s\n  rule: %s\n  message: \"",
           runner_stname[r->st], te->rule);
    for (const char *c = reason; *c; c++)
      printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
    printf("\"\n  ...\n");
    if (R->opt.verbose && r->output)
      runner_print_output_tail(stdout, r->output, 30, "# ");
    break;
  }
  fflush(stdout);
}

static int runner_colw(const runner *R, int ti) {
  int w = (int)strlen(R->tg[ti].label);
  return w < 5 ? 5 : w > 60 ? 60 : w;
}

/* Prints without the trailing blanks of the last padded column. */
static void runner_put_line(char *line) {
  size_t n = strlen(line);
  while (n > 0 && line[n - 1] == ' ')
    line[--n] = '\0';
  puts(line);
}

static void runner_matrix_section(runner *R, evl_tkind kind) {
  int cols = 0, rows = 0, namew = 4;
  for (int ti = 0; ti < R->ntg; ti++)
    cols += R->tg[ti].kind == kind;
  for (int si = 0; si < R->nsel; si++)
    if (evl_tests[R->sel[si]].kind == kind) {
      rows++;
      int l = (int)strlen(evl_tests[R->sel[si]].name);
      if (l > namew)
        namew = l;
    }
  if (!cols || !rows)
    return;
  printf("\n%s\n", kind == EVL_T_BACKEND
                       ? "K-tests (backend contract) on each backend:"
                       : "S-tests (loop semantics) on each implementation:");
  char line[8192];
  int len = snprintf(line, sizeof line, "%-*s %-4s", namew, "test", "rule");
  for (int ti = 0; ti < R->ntg; ti++)
    if (R->tg[ti].kind == kind)
      len += snprintf(line + len, sizeof line - (size_t)len, " %-*s",
                      runner_colw(R, ti), R->tg[ti].label);
  runner_put_line(line);
  for (int si = 0; si < R->nsel; si++) {
    const evl_test *te = &evl_tests[R->sel[si]];
    if (te->kind != kind)
      continue;
    len = snprintf(line, sizeof line, "%-*s %-4s", namew, te->name, te->rule);
    for (int ti = 0; ti < R->ntg; ti++)
      if (R->tg[ti].kind == kind) {
        runner_result *r = &R->res[si * R->ntg + ti];
        len += snprintf(line + len, sizeof line - (size_t)len, " %-*s",
                        runner_colw(R, ti), runner_cell[r->active ? r->st : 0]);
      }
    runner_put_line(line);
  }
}

void runner_print_matrix(runner *R) {
  runner_matrix_section(R, EVL_T_BACKEND);
  runner_matrix_section(R, EVL_T_IMPL);

  int any = 0;
  static const runner_status order[] = {RS_FAIL,  RS_TIMEOUT, RS_CRASH,
                                        RS_XFAIL, RS_XPASS,   RS_SKIP};
  for (size_t o = 0; o < sizeof order / sizeof order[0]; o++)
    for (int si = 0; si < R->nsel; si++)
      for (int ti = 0; ti < R->ntg; ti++) {
        runner_result *r = &R->res[si * R->ntg + ti];
        if (!r->active || r->st != order[o] || runner_target_down(&R->tg[ti]))
          continue;
        if (!any++)
          printf("\nNot passed:\n");
        printf("  %-7s %s [%s]: %s\n", runner_stname[r->st],
               evl_tests[R->sel[si]].name, R->tg[ti].label,
               r->reason ? r->reason : "");
        /* -v showed the whole output already, test by test. */
        int lines = R->opt.verbose ? 0 : (r->died ? 8 : 0);
        if (runner_is_failure(r->st) && lines)
          runner_print_output_tail(stdout, r->output, lines, "      | ");
      }
  int down = 0;
  for (int ti = 0; ti < R->ntg; ti++) {
    if (!runner_target_down(&R->tg[ti]))
      continue;
    int n = 0;
    for (int si = 0; si < R->nsel; si++)
      n += R->res[si * R->ntg + ti].active;
    if (!n)
      continue;
    if (!down++)
      printf("\nNot runnable here (their tests are counted as skipped, "
             "never as passed):\n");
    printf("  %s: %s (%d tests)\n", R->tg[ti].label,
           R->tg[ti].loaded ? R->tg[ti].why : R->tg[ti].load_err, n);
  }
  if (R->opt.verbose && !any && !down)
    printf("\nEvery test passed.\n");
}

static void runner_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(f, "\\%c", *c);
    else if (*c == '\n')
      fputs("\\n", f);
    else if (*c == '\t')
      fputs("\\t", f);
    else if (*c < 0x20)
      fprintf(f, "\\u%04x", *c);
    else
      fputc(*c, f);
  }
  fputc('"', f);
}

void runner_print_json(runner *R) {
  char buf[200];
  int pass, fail, skip;
  runner_count(R, &pass, &fail, &skip);
  printf("{\n  \"targets\": [");
  for (int ti = 0; ti < R->ntg; ti++) {
    runner_target *t = &R->tg[ti];
    printf("%s\n    {\"label\": ", ti ? "," : "");
    runner_json_str(stdout, t->label);
    printf(", \"spec\": ");
    runner_json_str(stdout, t->spec);
    printf(", \"kind\": \"%s\", \"name\": ",
           t->kind == EVL_T_BACKEND ? "backend" : "impl");
    runner_json_str(stdout, t->name);
    printf(", \"runnable\": %s, \"why\": ",
           runner_runnable(t) ? "true" : "false");
    runner_json_str(stdout, t->loaded ? t->why : t->load_err);
    printf(", \"features\": ");
    runner_json_str(stdout,
                    runner_features_str(t, t->features, buf, sizeof buf));
    printf("}");
  }
  printf("\n  ],\n  \"results\": [");
  int first = 1;
  for (int si = 0; si < R->nsel; si++)
    for (int ti = 0; ti < R->ntg; ti++) {
      runner_result *r = &R->res[si * R->ntg + ti];
      if (!r->active)
        continue;
      const evl_test *te = &evl_tests[R->sel[si]];
      printf("%s\n    {\"test\": \"%s\", \"rule\": \"%s\", \"kind\": \"%s\", "
             "\"target\": ",
             first ? "" : ",", te->name, te->rule,
             te->kind == EVL_T_BACKEND ? "K" : "S");
      first = 0;
      runner_json_str(stdout, R->tg[ti].label);
      printf(", \"status\": \"%s\", \"ms\": %.0f, \"reason\": ",
             runner_stname[r->st], r->ms);
      runner_json_str(stdout, r->reason);
      printf("}");
    }
  printf("\n  ],\n  \"summary\": {\"passed\": %d, \"failed\": %d, "
         "\"skipped\": %d}\n}\n",
         pass, fail, skip);
}

static void runner_xml_str(FILE *f, const char *s) {
  static const char *const entity[256] = {
      ['<'] = "&lt;", ['>'] = "&gt;", ['&'] = "&amp;", ['"'] = "&quot;"};
  for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
    if (entity[*c])
      fputs(entity[*c], f);
    else if (*c < 0x20 && *c != '\n' && *c != '\t')
      fputc('?', f); /* XML 1.0 has no other control characters */
    else
      fputc(*c, f);
  }
}

int runner_write_junit(runner *R, const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "evl-conform: %s: %s\n", path, strerror(errno));
    return -1;
  }
  int pass, fail, skip;
  runner_count(R, &pass, &fail, &skip);
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  fprintf(f,
          "<testsuites name=\"evl-conform\" tests=\"%d\" failures=\"%d\" "
          "skipped=\"%d\">\n",
          pass + fail + skip, fail, skip);
  for (int ti = 0; ti < R->ntg; ti++) {
    int n = 0, nf = 0, ns = 0;
    double total = 0;
    for (int si = 0; si < R->nsel; si++) {
      runner_result *r = &R->res[si * R->ntg + ti];
      if (!r->active)
        continue;
      n++;
      nf += runner_is_failure(r->st);
      ns += !runner_is_failure(r->st) && r->st != RS_PASS;
      total += r->ms;
    }
    if (!n)
      continue;
    fprintf(f, "  <testsuite name=\"");
    runner_xml_str(f, R->tg[ti].label);
    fprintf(f,
            "\" tests=\"%d\" failures=\"%d\" skipped=\"%d\" "
            "time=\"%.3f\">\n",
            n, nf, ns, total / 1000);
    for (int si = 0; si < R->nsel; si++) {
      runner_result *r = &R->res[si * R->ntg + ti];
      if (!r->active)
        continue;
      const evl_test *te = &evl_tests[R->sel[si]];
      fprintf(f, "    <testcase classname=\"");
      runner_xml_str(f, R->tg[ti].label);
      fprintf(f, "\" name=\"%s\" time=\"%.3f\">", te->name, r->ms / 1000);
      if (runner_is_failure(r->st)) {
        fprintf(f, "\n      <failure type=\"%s\" message=\"",
                runner_stname[r->st]);
        runner_xml_str(f, r->reason);
        fprintf(f, "\">");
        runner_xml_str(f, r->output);
        fprintf(f, "</failure>\n    ");
      } else if (r->st != RS_PASS) {
        fprintf(f, "\n      <skipped message=\"%s: ", runner_stname[r->st]);
        runner_xml_str(f, r->reason);
        fprintf(f, "\"/>\n    ");
      }
      fprintf(f, "</testcase>\n");
    }
    fprintf(f, "  </testsuite>\n");
  }
  fprintf(f, "</testsuites>\n");
  if (fclose(f) != 0) {
    fprintf(stderr, "evl-conform: %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

void runner_list_tests(runner *R) {
  char buf[200];
  for (int si = 0; si < R->nsel; si++) {
    const evl_test *te = &evl_tests[R->sel[si]];
    buf[0] = '\0';
    if (te->kind == EVL_T_BACKEND && te->need_bf)
      evl_backend_features_str(te->need_bf, buf, sizeof buf);
    else if (te->kind == EVL_T_IMPL && te->need_if)
      evl_impl_features_str(te->need_if, buf, sizeof buf);
    printf("%-40s %-4s %s %-16s %s\n", te->name, te->rule,
           te->kind == EVL_T_BACKEND ? "K" : "S", buf[0] ? buf : "-",
           te->summary ? te->summary : "");
  }
  printf("%d tests\n", R->nsel);
}

void runner_list_targets(runner *R, evl_tkind kind) {
  char buf[200];
  for (int ti = 0; ti < R->ntg; ti++) {
    runner_target *t = &R->tg[ti];
    if (t->kind != kind)
      continue;
    if (!t->loaded) {
      printf("%-16s %s: %s\n", t->label,
             runner_absent(t) ? "not available" : "broken", t->load_err);
      continue;
    }
    char status[400];
    snprintf(status, sizeof status, "%s%s",
             t->probe_rc == 0 ? "usable" : "not runnable here: ",
             t->probe_rc == 0 ? "" : t->why);
    runner_features_str(t, t->features, buf, sizeof buf);
    if (kind == EVL_T_BACKEND) {
      char lim[32], resn[32];
      snprintf(lim, sizeof lim, "%d", t->fd_limit);
      snprintf(resn, sizeof resn, "%lluns", t->res_ns);
      printf("%-16s features=%-28s fd_limit=%-5s resolution=%-9s %s\n",
             t->label, buf[0] ? buf : "-", t->fd_limit ? lim : "none", resn,
             status);
    } else {
      int ndev = 0;
      for (int i = 0; i < evl_ntests; i++)
        ndev += (t->dev && t->dev[i]) + (t->cdev && t->cdev[i]);
      printf("%-16s features=%-44s deviations=%-3d %s\n", t->label,
             buf[0] ? buf : "-", ndev, status);
      for (int i = 0; i < evl_ntests && R->opt.verbose; i++)
        if (t->dev && t->dev[i])
          printf("    %s: %s\n", evl_tests[i].name, t->dev[i]);
      for (int i = 0; i < evl_ntests && R->opt.verbose; i++)
        if (t->cdev && t->cdev[i])
          printf("    %s, %s\n", evl_tests[i].name, t->cdev[i]);
    }
    if (R->opt.verbose && t->desc[0])
      printf("    %s\n", t->desc);
  }
}
