/* runner_run.c — evl-conform's process control: every cell of the matrix
 * runs in its own child process (tools/child.h) with a timeout, up to
 * --jobs at once, and its one result line becomes the cell. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner.h"

static int runner_timeout_ms(const runner *R, const evl_test *te) {
  int s = te->timeout_s > 0 ? te->timeout_s : 10;
  return (int)(s * 1000 * R->opt.scale);
}

typedef struct runner_launch_arg {
  const runner *R;
  const evl_test *te;
  const runner_target *t;
} runner_launch_arg;

/* The test process: resolve the target again (the probe ran in another
 * child), then run the test; never returns. */
static void runner_test_child(void *arg, int wfd) {
  const runner_launch_arg *a = arg;
  const evl_backend_ops *be;
  const evl_impl_ops *impl;
  char err[320];
  int rc = runner_resolve(a->t, &be, &impl, err, sizeof err);
  if (rc != 0 || (!be && !impl)) {
    char line[400];
    snprintf(line, sizeof line, "could not load %s: %s", a->t->spec,
             err[0] ? err : evl_strerror(rc));
    child_put_line(wfd, "FAIL", line);
    _exit(1);
  }
  /* The reference core's backend, from what was asked for: --backend X
   * (ref over X) or the registry's "ref-X" names. */
  const evl_backend_ops *loop_be = NULL;
  const char *spec = a->t->spec;
  if (a->t->how == TGT_IMPL && !runner_is_path(spec) &&
      strncmp(spec, "ref-", 4) == 0)
    spec += 4;
  else if (a->t->how != TGT_REF)
    spec = NULL;
  if (spec && evl_backend_lookup(spec, &loop_be, err, sizeof err) != 0)
    loop_be = NULL;
  evl_tctx ctx = {.name = a->te->name,
                  .rule = a->te->rule,
                  .be = be,
                  .impl = impl,
                  .loop_be = loop_be,
                  .timeout_scale = a->R->opt.scale};
  evl_t_run_child(a->te, &ctx, wfd);
}

static int runner_launch(runner *R, runner_job *j) {
  runner_launch_arg a = {
      .R = R, .te = &evl_tests[R->sel[j->si]], .t = &R->tg[j->ti]};
  j->blen = 0;
  j->buf[0] = '\0';
  return child_start(&j->proc, CHILD_CAPTURE | CHILD_CLOSE_FDS,
                     runner_timeout_ms(R, a.te), runner_test_child, &a);
}

/* Collects the result line; whatever follows it is ignored. */
static void runner_drain(runner_job *j) {
  while (j->blen < sizeof j->buf - 1) {
    long n =
        child_read(&j->proc, j->buf + j->blen, sizeof j->buf - 1 - j->blen);
    if (n <= 0)
      break;
    j->blen += (size_t)n;
  }
  j->buf[j->blen] = '\0';
}

/* The first line of a sanitizer's report, which says what went wrong, for
 * a test process that died without a result. */
static const char *runner_sanitizer_line(const char *out) {
  /* LeakSanitizer's own failures ("Tracer caught signal 11", then "has
   * encountered a fatal error") end the test with status 1 and no ERROR
   * line: named here, they are not mistaken for the test's exit. */
  static const char *const marks[] = {
      "runtime error:",
      "ERROR: AddressSanitizer",
      "ERROR: LeakSanitizer",
      "WARNING: ThreadSanitizer",
      "stack overflow in task",
      "Tracer caught signal",
      "LeakSanitizer has encountered a fatal error"};
  const char *best = NULL;
  for (size_t i = 0; out && i < sizeof marks / sizeof marks[0]; i++) {
    const char *m = strstr(out, marks[i]);
    if (m && (!best || m < best))
      best = m;
  }
  if (!best)
    return NULL;
  while (best > out && best[-1] != '\n')
    best--;
  return best;
}

/* The words a result line starts with (harness.c's harness_finish): each
 * is its status's name. XFAIL means a declared check failed and every
 * other one passed. PASS carries no reason; the others say why after one
 * space, or get "(no reason)". Returns 0 if the line starts with none. */
static int runner_parse_result(const char *line, runner_result *r) {
  static const runner_status said[] = {RS_PASS, RS_FAIL, RS_SKIP, RS_XFAIL,
                                       RS_XPASS};
  for (size_t i = 0; i < sizeof said / sizeof said[0]; i++) {
    const char *word = runner_stname[said[i]];
    size_t n = strlen(word);
    if (strncmp(line, word, n) != 0)
      continue;
    r->st = said[i];
    if (r->st != RS_PASS)
      r->reason = runner_strdup(line[n] ? line + n + 1 : "(no reason)");
    return 1;
  }
  return 0;
}

/* Turns the child's line (or its death) into the cell's status. */
static void runner_classify(runner *R, runner_job *j, runner_result *r) {
  const evl_test *te = &evl_tests[R->sel[j->si]];
  child_proc *c = &j->proc;
  runner_drain(j);
  r->output = child_output(c, 64 * 1024); /* the tail explains a failure */
  char *nl = strchr(j->buf, '\n');
  if (nl)
    *nl = '\0';
  if (c->timed_out) {
    r->st = RS_TIMEOUT;
    r->reason = runner_fmt("[%s] timed out after %d ms (killed)", te->rule,
                           runner_timeout_ms(R, te));
  } else if (nl && runner_parse_result(j->buf, r)) {
    /* the test's own verdict */
  } else if (WIFSIGNALED(c->status)) {
    char how[160];
    r->st = RS_CRASH;
    r->died = 1;
    r->reason =
        runner_fmt("[%s] %s", te->rule, child_describe(c, how, sizeof how));
  } else {
    r->died = 1;
    /* A sanitizer that stopped the process (-fno-sanitize-recover exits
     * instead of letting a bad store fault) is a crash all the same. */
    r->st = runner_sanitizer_line(r->output) ? RS_CRASH : RS_FAIL;
    r->reason = runner_fmt(
        "[%s] test process %s with status %d without a result", te->rule,
        r->st == RS_CRASH ? "stopped by a sanitizer, exiting" : "exited",
        WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1);
  }
  const char *why = r->died ? runner_sanitizer_line(r->output) : NULL;
  if (why) {
    char *old = r->reason;
    r->reason = runner_fmt("%s: %.*s", old, (int)strcspn(why, "\n"), why);
    free(old);
  }
}

/* A declared deviation turns a failure into XFAIL and a pass into XPASS. */
static void runner_apply_deviation(const runner_target *t, int test,
                                   runner_result *r) {
  const char *dev = t->dev ? t->dev[test] : NULL;
  if (!dev)
    return;
  if (r->st == RS_PASS) {
    r->st = RS_XPASS;
    r->reason = runner_fmt("declared deviation did not show: %s", dev);
  } else if (runner_is_failure(r->st)) {
    char *old = r->reason;
    r->reason = runner_fmt("known deviation: %s (actual: %s %s)", dev,
                           runner_stname[r->st], old ? old : "");
    free(old);
    r->st = RS_XFAIL;
  }
}

static void runner_finish(runner *R, runner_job *j, runner_result *r,
                          int start_rc) {
  r->ms = (double)(child_now_ms() - j->proc.start_ms);
  if (start_rc < 0) {
    r->st = RS_FAIL;
    r->reason =
        runner_fmt("could not start the test process: %s", strerror(-start_rc));
  } else {
    runner_classify(R, j, r);
  }
  child_close(&j->proc); /* grandchildren forked by the test die too */
  runner_apply_deviation(&R->tg[j->ti], R->sel[j->si], r);
}

/* Prints finished cells in job order, as far as they are contiguous. */
static void runner_stream(runner *R) {
  while (R->emit_next < R->njobs) {
    int si = R->job_si[R->emit_next], ti = R->job_ti[R->emit_next];
    if (R->res[si * R->ntg + ti].st == RS_NONE)
      break;
    R->emit_next++;
    if (R->opt.tap)
      runner_tap_line(R, R->emit_next, si, ti);
    else if (R->opt.verbose && !R->opt.json)
      runner_verbose_line(R, si, ti);
  }
}

static void runner_plan(runner *R) {
  for (int si = 0; si < R->nsel; si++)
    for (int ti = 0; ti < R->ntg; ti++)
      if (R->tg[ti].kind == evl_tests[R->sel[si]].kind)
        R->njobs++;
  R->job_si = runner_xalloc(sizeof(int) * (size_t)(R->njobs + 1));
  R->job_ti = runner_xalloc(sizeof(int) * (size_t)(R->njobs + 1));
  int k = 0;
  for (int si = 0; si < R->nsel; si++)
    for (int ti = 0; ti < R->ntg; ti++)
      if (R->tg[ti].kind == evl_tests[R->sel[si]].kind) {
        R->job_si[k] = si;
        R->job_ti[k] = ti;
        R->res[si * R->ntg + ti].active = 1;
        k++;
      }
}

void runner_run_all(runner *R) {
  runner_plan(R);
  if (R->opt.tap) {
    printf("TAP version 13\n1..%d\n", R->njobs);
    fflush(stdout);
  }
  runner_job *run = runner_xalloc(sizeof *run * (size_t)R->opt.jobs);
  child_proc **procs = runner_xalloc(sizeof *procs * (size_t)R->opt.jobs);
  child_kill_on_interrupt();
  int nrun = 0, next = 0, done = 0;
  while (next < R->njobs || nrun > 0) {
    while (nrun < R->opt.jobs && next < R->njobs) {
      int si = R->job_si[next], ti = R->job_ti[next];
      next++;
      runner_result *r = &R->res[si * R->ntg + ti];
      if (runner_precheck(R, si, ti, r)) {
        done++;
        continue;
      }
      runner_job *j = &run[nrun++];
      memset(j, 0, sizeof *j);
      j->si = si;
      j->ti = ti;
      int rc = runner_launch(R, j);
      if (rc < 0) {
        runner_finish(R, j, r, rc);
        nrun--;
        done++;
      }
    }
    runner_stream(R);
    runner_progress(R, done, R->njobs);
    if (nrun == 0)
      continue;

    for (int i = 0; i < nrun; i++)
      procs[i] = &run[i].proc;
    int rc = child_wait(procs, nrun, 1000);
    if (rc < 0) {
      fprintf(stderr, "evl-conform: poll: %s\n", strerror(-rc));
      exit(2);
    }
    for (int i = 0; i < nrun; i++) {
      runner_job *j = &run[i];
      runner_drain(j);
      if (!child_done(&j->proc))
        continue;
      runner_finish(R, j, &R->res[j->si * R->ntg + j->ti], 0);
      done++;
      run[i] = run[--nrun];
      i--;
    }
    runner_stream(R);
  }
  runner_progress(R, -1, R->njobs);
  free(run);
  free(procs);
}

int runner_is_failure(runner_status s) {
  return s == RS_FAIL || s == RS_TIMEOUT || s == RS_CRASH;
}

void runner_count(const runner *R, int *pass, int *fail, int *skip) {
  *pass = *fail = *skip = 0;
  for (int i = 0; i < R->nsel * R->ntg; i++) {
    if (!R->res[i].active)
      continue;
    if (R->res[i].st == RS_PASS)
      ++*pass;
    else if (runner_is_failure(R->res[i].st))
      ++*fail;
    else
      ++*skip;
  }
}
