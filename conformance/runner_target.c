/* runner_target.c — evl-conform's targets: which backends and loops to
 * test, each resolved and probed in a child process so that a plugin whose
 * constructor, lookup or probe crashes or hangs cannot take the runner down,
 * and the cells decided without running anything. */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner.h"

int runner_resolve(const runner_target *t, const evl_backend_ops **be,
                   const evl_impl_ops **impl, char *err, size_t len) {
  *be = NULL;
  *impl = NULL;
  err[0] = '\0';
  switch (t->how) {
  case TGT_BACKEND:
    return evl_backend_lookup(t->spec, be, err, len);
  case TGT_IMPL:
    return evl_impl_lookup(t->spec, impl, err, len);
  case TGT_REF:
    return evl_impl_ref(t->spec, impl, err, len);
  }
  return -EINVAL;
}

/* The probe child: resolve, validate, probe, describe; never returns. A
 * child, so that a plugin whose constructor, lookup or probe crashes or
 * hangs cannot take the runner down. */
static void runner_probe_child(void *arg, int wfd) {
  const runner_target *t = arg;
  const evl_backend_ops *be;
  const evl_impl_ops *impl;
  char err[320], buf[400];
  int rc = runner_resolve(t, &be, &impl, err, sizeof err);
  if (rc == 0 && !be && !impl) {
    rc = EVL_EPLUGIN;
    snprintf(err, sizeof err, "lookup returned no table");
  }
  snprintf(buf, sizeof buf, "%d", rc);
  child_put_line(wfd, "load", buf);
  if (rc != 0) {
    child_put_line(wfd, "err", err[0] ? err : evl_strerror(rc));
    _exit(0);
  }
  char why[320] = "";
  int prc = be ? evl_backend_probe(be, why, sizeof why)
               : evl_impl_probe(impl, why, sizeof why);
  snprintf(buf, sizeof buf, "%d", prc);
  child_put_line(wfd, "probe", buf);
  child_put_line(wfd, "why", why[0] ? why : (prc ? evl_strerror(prc) : ""));
  if (be) {
    child_put_line(wfd, "name", be->name);
    child_put_line(wfd, "desc", be->description);
    snprintf(buf, sizeof buf, "%u", (unsigned)be->features);
    child_put_line(wfd, "features", buf);
    snprintf(buf, sizeof buf, "%d", be->fd_limit);
    child_put_line(wfd, "fdlimit", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)be->resolution_ns);
    child_put_line(wfd, "res", buf);
    snprintf(buf, sizeof buf, "%zu", be->state_size);
    child_put_line(wfd, "state", buf);
  } else {
    child_put_line(wfd, "name", impl->name);
    child_put_line(wfd, "desc", impl->description);
    snprintf(buf, sizeof buf, "%u", (unsigned)impl->features);
    child_put_line(wfd, "features", buf);
    for (int i = 0; i < evl_ntests; i++) {
      if (evl_tests[i].kind != EVL_T_IMPL)
        continue;
      const char *r = evl_impl_deviation(impl, evl_tests[i].name);
      if (r) {
        snprintf(buf, sizeof buf, "%d %s", i, r);
        child_put_line(wfd, "dev", buf);
      }
      const evl_check_deviation *d = evl_impl_check_deviations(impl);
      for (; d && d->test; d++)
        if (d->check && fnmatch(d->test, evl_tests[i].name, 0) == 0) {
          snprintf(buf, sizeof buf, "%d check %s: %s", i, d->check,
                   d->reason ? d->reason : "declared deviation");
          child_put_line(wfd, "cdev", buf);
        }
    }
  }
  child_put_line(wfd, "end", "");
  _exit(0);
}

/* Everything the probe child wrote, NUL-terminated (the caller frees it):
 * read until the pipe ends or, since a grandchild may hold it open, the
 * child itself is gone and the pipe is empty. */
static char *runner_probe_read(child_proc *c) {
  size_t cap = 4096, len = 0;
  char *text = runner_xalloc(cap);
  while (!c->eof) {
    if (len + 1024 > cap) {
      char *nt = realloc(text, cap * 2);
      if (!nt)
        break;
      text = nt;
      cap *= 2;
    }
    long r = child_read(c, text + len, cap - len - 1);
    if (r < 0)
      break;
    if (r > 0) {
      len += (size_t)r;
      continue;
    }
    if (c->eof || child_done(c))
      break;
    child_wait(&c, 1, 200);
  }
  text[len] = '\0';
  return text;
}

/* Fills t from the child's "key value" lines (runner_probe_child); returns
 * whether the child got as far as "end". */
static int runner_probe_parse(runner_target *t, char *text) {
  int ended = 0;
  for (char *line = text, *nl; *line; line = nl + 1) {
    nl = strchr(line, '\n');
    if (!nl)
      break;
    *nl = '\0';
    char *val = strchr(line, ' ');
    val = val ? val + 1 : line + strlen(line);
    if (strncmp(line, "load ", 5) == 0) {
      t->load_rc = atoi(val);
      t->loaded = t->load_rc == 0;
    } else if (strncmp(line, "err ", 4) == 0)
      snprintf(t->load_err, sizeof t->load_err, "%s", val);
    else if (strncmp(line, "probe ", 6) == 0)
      t->probe_rc = atoi(val);
    else if (strncmp(line, "why ", 4) == 0)
      snprintf(t->why, sizeof t->why, "%s", val);
    else if (strncmp(line, "name ", 5) == 0)
      snprintf(t->name, sizeof t->name, "%s", val);
    else if (strncmp(line, "desc ", 5) == 0)
      snprintf(t->desc, sizeof t->desc, "%s", val);
    else if (strncmp(line, "features ", 9) == 0)
      t->features = (uint32_t)strtoul(val, NULL, 10);
    else if (strncmp(line, "fdlimit ", 8) == 0)
      t->fd_limit = atoi(val);
    else if (strncmp(line, "res ", 4) == 0)
      t->res_ns = strtoull(val, NULL, 10);
    else if (strncmp(line, "state ", 6) == 0)
      t->state_size = (size_t)strtoull(val, NULL, 10);
    else if (strncmp(line, "dev ", 4) == 0) {
      char *end;
      long i = strtol(val, &end, 10);
      if (i >= 0 && i < evl_ntests && *end == ' ')
        t->dev[i] = runner_strdup(end + 1);
    } else if (strncmp(line, "cdev ", 5) == 0) {
      char *end;
      long i = strtol(val, &end, 10);
      if (i >= 0 && i < evl_ntests && *end == ' ' && !t->cdev[i])
        t->cdev[i] = runner_strdup(end + 1);
    } else if (strncmp(line, "end", 3) == 0)
      ended = 1;
  }
  return ended;
}

static void runner_probe(runner *R, runner_target *t) {
  t->loaded = 0;
  t->load_rc = 1;
  t->probe_rc = 0;
  int limit_ms = (int)(10000 * R->opt.scale);
  child_proc c;
  int rc = child_start(&c, CHILD_CAPTURE | CHILD_CLOSE_FDS, limit_ms,
                       runner_probe_child, t);
  if (rc < 0) {
    snprintf(t->load_err, sizeof t->load_err, "fork: %s", strerror(-rc));
    return;
  }
  char *text = runner_probe_read(&c);
  child_close(&c); /* kills whatever the plugin forked, reaps the child */
  int timed_out = c.timed_out;
  int signaled = !timed_out && WIFSIGNALED(c.status) ? WTERMSIG(c.status) : 0;
  int st = c.status;

  t->dev = runner_xalloc(sizeof(char *) * (size_t)(evl_ntests + 1));
  t->cdev = runner_xalloc(sizeof(char *) * (size_t)(evl_ntests + 1));
  int ended = runner_probe_parse(t, text);
  free(text);
  if (t->loaded && !ended) {
    /* Lookup worked but the probe or the table walk died. */
    t->loaded = 0;
    t->load_rc = 1;
  }
  if (t->load_rc == 1 || (!t->loaded && !t->load_err[0])) {
    t->load_rc = EVL_EPLUGIN;
    if (timed_out)
      snprintf(t->load_err, sizeof t->load_err,
               "hung while loading or probing (killed after %.0f s)",
               10 * R->opt.scale);
    else if (signaled) {
      char sb[32];
      snprintf(t->load_err, sizeof t->load_err,
               "crashed while loading or probing (%s)",
               child_signame(signaled, sb, sizeof sb));
    } else
      snprintf(t->load_err, sizeof t->load_err,
               "the loader exited without an answer (status %d)",
               WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  }
}

static void runner_add_target(runner *R, runner_how how, const char *spec,
                              int expl) {
  for (int i = 0; i < R->ntg; i++)
    if (R->tg[i].how == how && strcmp(R->tg[i].spec, spec) == 0)
      return;
  R->tg = runner_xrealloc(R->tg, sizeof *R->tg * (size_t)(R->ntg + 1));
  runner_target *t = &R->tg[R->ntg++];
  memset(t, 0, sizeof *t);
  t->how = how;
  t->kind = how == TGT_BACKEND ? EVL_T_BACKEND : EVL_T_IMPL;
  t->spec = runner_strdup(spec);
  t->is_explicit = expl;
}

void runner_build_targets(runner *R, int want_backends, int want_impls) {
  if (R->opt.nbackends == 0 && R->opt.nimpls == 0) {
    const char *const *b = want_backends ? evl_backend_names() : NULL;
    for (; b && *b; b++)
      runner_add_target(R, TGT_BACKEND, *b, 0);
    const char *const *im = want_impls ? evl_impl_names() : NULL;
    for (; im && *im; im++) {
      int skip = 0;
      for (int i = 0; i < R->opt.nskip_impls && !skip; i++)
        skip = fnmatch(R->opt.skip_impls[i], *im, 0) == 0;
      if (!skip)
        runner_add_target(R, TGT_IMPL, *im, 0);
    }
    return;
  }
  for (int i = 0; i < R->opt.nbackends && want_backends; i++)
    runner_add_target(R, TGT_BACKEND, R->opt.backends[i], 1);
  if (R->opt.nimpls == 0)
    for (int i = 0; i < R->opt.nbackends && want_impls; i++)
      runner_add_target(R, TGT_REF, R->opt.backends[i], 1);
  for (int i = 0; i < R->opt.nimpls && want_impls; i++)
    runner_add_target(R, TGT_IMPL, R->opt.impls[i], 1);
}

int runner_runnable(const runner_target *t) {
  return t->loaded && t->probe_rc == 0;
}

/* A name or module that is simply absent here, as opposed to broken. */
int runner_absent(const runner_target *t) {
  return t->load_rc == EVL_ENOBACKEND || t->load_rc == EVL_EPROBE ||
         t->load_rc == -ENOENT;
}

static void runner_label(runner *R, runner_target *t) {
  const char *base = t->spec;
  if (runner_is_path(t->spec)) {
    const char *s = strrchr(t->spec, '/');
    base = s ? s + 1 : t->spec;
  }
  if (t->how == TGT_REF) {
    if (t->name[0])
      snprintf(t->label, sizeof t->label, "%s", t->name);
    else
      snprintf(t->label, sizeof t->label, "ref-%s", base);
  } else if (runner_is_path(t->spec) && t->name[0])
    snprintf(t->label, sizeof t->label, "%s", t->name);
  else
    snprintf(t->label, sizeof t->label, "%s", base);
  /* Two columns must never share a heading. */
  char base_label[64];
  snprintf(base_label, sizeof base_label, "%.60s", t->label);
  for (int n = 2; n < 1000; n++) {
    int dup = 0;
    for (runner_target *o = R->tg; o < t; o++)
      if (o->kind == t->kind && strcmp(o->label, t->label) == 0)
        dup = 1;
    if (!dup)
      break;
    snprintf(t->label, sizeof t->label, "%s#%d", base_label, n);
  }
}

/* Drops "spec: " from a loader message (dlerror() names the path), so the
 * one error line names it once. */
static void runner_unname(char *err, const char *spec) {
  size_t n = strlen(spec);
  char *at = strstr(err, spec);
  if (n && at && strncmp(at + n, ": ", 2) == 0)
    memmove(at, at + n + 2, strlen(at + n + 2) + 1);
}

/* Probes every target; a broken plugin named on the command line ends the
 * run with one line. Returns 0 or the exit status. */
int runner_probe_all(runner *R) {
  int bad = 0;
  for (int i = 0; i < R->ntg; i++) {
    runner_probe(R, &R->tg[i]);
    runner_label(R, &R->tg[i]);
    runner_target *t = &R->tg[i];
    if (t->loaded || (!t->is_explicit && runner_absent(t)))
      continue;
    /* --backend X failing already said why; its ref twin fails alike. */
    int twin = 0;
    for (int j = 0; j < i && t->how == TGT_REF; j++)
      twin |= R->tg[j].how == TGT_BACKEND && !R->tg[j].loaded &&
              strcmp(R->tg[j].spec, t->spec) == 0;
    if (twin)
      continue;
    /* A default target's tests fail in the matrix; one named on the
     * command line ends the run, its error naming it once. */
    if (t->is_explicit)
      runner_unname(t->load_err, t->spec);
    fprintf(stderr, "evl-conform: %s: %s\n", t->spec, t->load_err);
    bad |= t->is_explicit;
  }
  return bad ? 2 : 0;
}

const char *runner_features_str(const runner_target *t, uint32_t f, char *buf,
                                size_t len) {
  return t->kind == EVL_T_BACKEND ? evl_backend_features_str(f, buf, len)
                                  : evl_impl_features_str(f, buf, len);
}

/* Decides a cell without forking where possible; returns 1 if decided. */
int runner_precheck(runner *R, int si, int ti, runner_result *r) {
  const evl_test *te = &evl_tests[R->sel[si]];
  runner_target *t = &R->tg[ti];
  char buf[200];
  if (!t->loaded) {
    if (runner_absent(t)) {
      r->st = RS_SKIP;
      r->reason =
          runner_fmt("%s not available here: %s", t->label, t->load_err);
    } else {
      r->st = RS_FAIL;
      r->reason =
          runner_fmt("%s could not be loaded: %s", t->label, t->load_err);
    }
    return 1;
  }
  if (t->probe_rc != 0) {
    r->st = RS_SKIP;
    r->reason = runner_fmt("not runnable here: %s", t->why);
    return 1;
  }
  uint32_t need = t->kind == EVL_T_BACKEND ? te->need_bf : te->need_if;
  uint32_t missing = need & ~t->features;
  if (missing) {
    r->st = RS_SKIP;
    r->reason =
        runner_fmt("missing %s feature %s",
                   t->kind == EVL_T_BACKEND ? "backend" : "implementation",
                   runner_features_str(t, missing, buf, sizeof buf));
    return 1;
  }
  return 0;
}

/* Tests of a target that could not run at all are one line, not N. */
int runner_target_down(const runner_target *t) {
  return !runner_runnable(t) && (t->loaded || runner_absent(t));
}
