/* env.c — the environment record of results.json: machine, libraries,
 * compiler, commit, profile. */
#include "run.h"

#include <gnu/libc-version.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static void env_popen_line(const char *cmd, char *buf, size_t len) {
  buf[0] = 0;
  FILE *p = popen(cmd, "r");
  if (!p)
    return;
  if (fgets(buf, (int)len, p)) {
    size_t k = strlen(buf);
    while (k && (buf[k - 1] == '\n' || buf[k - 1] == '\r'))
      buf[--k] = 0;
  }
  pclose(p);
}

static void env_cpu_model(char *buf, size_t len) {
  snprintf(buf, len, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f)
    return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "model name", 10)) {
      char *c = strchr(line, ':');
      if (c) {
        c++;
        while (*c == ' ')
          c++;
        c[strcspn(c, "\n")] = 0;
        snprintf(buf, len, "%s", c);
      }
      break;
    }
  }
  fclose(f);
}

static void env_kv(bench_buf *b, int *first, const char *k, const char *v) {
  bench_buf_printf(b, "%s", *first ? "" : ",");
  *first = 0;
  bench_buf_json_str(b, k);
  bench_buf_printf(b, ":");
  bench_buf_json_str(b, v);
}

void bench_environment(bench_buf *b, const char *profile, int repeat,
                       long nofile) {
  char s[512];
  int first = 1;
  bench_buf_printf(b, "{");
  env_cpu_model(s, sizeof s);
  env_kv(b, &first, "cpu", s);
  bench_buf_printf(b, ",\"cores\":%ld", sysconf(_SC_NPROCESSORS_ONLN));
  struct utsname u;
  if (uname(&u) == 0) {
    snprintf(s, sizeof s, "%s %s %s", u.sysname, u.release, u.machine);
    env_kv(b, &first, "kernel", s);
    env_kv(b, &first, "host", u.nodename);
  }
  env_kv(b, &first, "libc", gnu_get_libc_version());
#ifdef __VERSION__
  env_kv(b, &first, "compiler", __VERSION__);
#endif
  const char *cmd = getenv("EVL_BENCH_BUILD_CMD");
  env_kv(b, &first, "build_command", cmd ? cmd : "");
#ifdef __OPTIMIZE__
  env_kv(b, &first, "optimized", "yes");
#else
  env_kv(b, &first, "optimized", "no");
#endif
  static const struct {
    const char *key, *cmd;
  } libs[] = {
      {"libuv", "pkg-config --modversion libuv 2>/dev/null"},
      {"libevent", "pkg-config --modversion libevent 2>/dev/null"},
      {"libev", "dpkg-query -W -f='${Version}' libev-dev 2>/dev/null"},
      {"liburing", "pkg-config --modversion liburing 2>/dev/null"},
      {"hyperfine", "hyperfine --version 2>/dev/null"},
      {"gnuplot", "gnuplot --version 2>/dev/null"},
      {"valgrind", "valgrind --version 2>/dev/null"},
  };
  bench_buf_printf(b, ",\"libraries\":{");
  int lf = 1;
  for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
    env_popen_line(libs[i].cmd, s, sizeof s);
    env_kv(b, &lf, libs[i].key, s[0] ? s : "absent");
  }
  bench_buf_printf(b, "}");
  env_popen_line("git rev-parse HEAD 2>/dev/null", s, sizeof s);
  env_kv(b, &first, "commit", s[0] ? s : "none");
  env_popen_line("git status --porcelain --untracked-files=no 2>/dev/null "
                 "| wc -l",
                 s, sizeof s);
  env_kv(b, &first, "dirty", atoi(s) > 0 ? "yes" : "no");
  env_kv(b, &first, "profile", profile);
  bench_buf_printf(b, ",\"repeat\":%d,\"rlimit_nofile\":%ld", repeat, nofile);
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
  env_kv(b, &first, "date", s);
  bench_buf_printf(b, "}");
}
