#!/usr/bin/env bash
# test-tools.sh — evl-bench refuses bad input with one line and a non-zero
# exit, and survives hostile plugins (run by `make check`).
#
# usage: bash bench/test-tools.sh <builddir>
set -u
O=${1:-build}
BIN=$O/evl-bench
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  echo "bench-tools: FAIL: $1"
  echo "  expected: $2"
  echo "  actual:   $3"
}

# expect_refusal NAME CMD...: exit 1 or 2, exactly one line on stderr and
# it is evl-bench's, nothing on stdout, no signal.
expect_refusal() {
  local name=$1
  shift
  "$@" >"$T/out" 2>"$T/err"
  local rc=$? lines
  lines=$(wc -l <"$T/err")
  if [ $rc -ne 1 ] && [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || [ -s "$T/out" ] ||
    ! grep -q '^evl-bench: ' "$T/err"; then
    bad "$name" "exit 1 or 2, one 'evl-bench:' line on stderr, nothing on stdout" \
      "exit $rc, $lines stderr lines: $(head -c 300 "$T/err" | tr '\n' '|')"
  else
    ok
  fi
}

expect_refusal "unknown option" "$BIN" --frobnicate
expect_refusal "unknown benchmark" "$BIN" nosuchbench
expect_refusal "--repeat not a number" "$BIN" --repeat abc --list-names
expect_refusal "--repeat with trailing junk" "$BIN" --repeat 5x --list-names
expect_refusal "--repeat out of range" "$BIN" --repeat 1e99 --list-names
expect_refusal "--budget negative" "$BIN" --budget -1 --list-names
expect_refusal "--budget nan" "$BIN" --budget nan --list-names
expect_refusal "--budget inf" "$BIN" --budget inf --list-names
expect_refusal "EVL_TEST_TIMEOUT_SCALE=inf" env EVL_TEST_TIMEOUT_SCALE=inf "$BIN" --list-names
expect_refusal "EVL_TEST_TIMEOUT_SCALE=abc" env EVL_TEST_TIMEOUT_SCALE=abc "$BIN" --list-names
expect_refusal "missing value" "$BIN" --impl

# Every implementation asked for fails to load: non-zero, whatever the rest.
"$BIN" callbacks --impl no-such-impl --no-raw --repeat 3 --out "$T/run" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -ne 1 ] || ! grep -q 'could be loaded' "$T/err"; then
  bad "every --impl fails" "exit 1, 'could be loaded' said" "exit $rc"
else
  ok
fi

# A truncated plugin (program headers promise bytes the file lacks: SIGBUS
# when touched) and one whose constructor blocks forever are tried in a
# child: the tool reports them and lives, within the probe's time limit.
mod=$(ls "$O"/modules/evl-native-*.so 2>/dev/null | head -1)
if [ -n "$mod" ] && command -v readelf >/dev/null; then
  # Cut inside the last loadable (writable) segment: relocating it faults.
  off=$(readelf -lW "$mod" | awk '$1 == "LOAD" { o = $2 } END { print o }')
  head -c $((off + 64)) "$mod" >"$T/truncated.so"
  start=$(date +%s)
  # Under ASan the child's fault would become AddressSanitizer's exit 1;
  # let the signal kill it as it does in a plain build.
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_sigbus=0:handle_segv=0 \
    "$BIN" callbacks --impl "$T/truncated.so" --no-raw --repeat 3 --out "$T/run" >/dev/null 2>"$T/err"
  rc=$?
  if [ $rc -ne 1 ] || ! grep -q 'skipping.*signal' "$T/err"; then
    bad "truncated plugin" "exit 1 with a 'skipping ... signal' line" \
      "exit $rc: $(head -c 300 "$T/err" | tr '\n' '|')"
  else
    ok
  fi
else
  echo "bench-tools: no native module built; the truncated-plugin case is not run"
fi
cat >"$T/blocks.c" <<'C'
#include <unistd.h>
__attribute__((constructor)) static void blocks(void) {
  for (;;)
    pause();
}
C
if cc -shared -fPIC -o "$T/blocks.so" "$T/blocks.c" 2>"$T/cc.err"; then
  start=$(date +%s)
  timeout 60 "$BIN" callbacks --impl "$T/blocks.so" --no-raw --repeat 3 --out "$T/run" >/dev/null 2>"$T/err"
  rc=$?
  took=$(($(date +%s) - start))
  if [ $rc -ne 1 ] || ! grep -q 'hung' "$T/err"; then
    bad "plugin whose constructor blocks" "exit 1 within the probe limit, 'hung' said" \
      "exit $rc after ${took}s: $(head -c 300 "$T/err" | tr '\n' '|')"
  else
    ok
  fi
else
  bad "compile the blocking plugin" "cc succeeds" "$(head -3 "$T/cc.err")"
fi

# bench-compare on results with no usable records must not pass the gate.
printf '{"schema":"evlab-bench/1","environment":{},"implementations":[],"records":[]}\n' >"$T/empty.json"
"$BIN" --compare "$T/empty.json" "$T/empty.json" >/dev/null 2>&1
rc=$?
if [ $rc -ne 2 ]; then
  bad "compare of empty runs" "exit 2 (no figure in common)" "exit $rc"
else
  ok
fi
printf 'not json\n' >"$T/junk.json"
expect_refusal "compare of unreadable input" "$BIN" --compare "$T/junk.json" "$T/empty.json"

# The compare gate: a run against itself flags nothing, and a loop made
# slower on purpose (bench/fixtures/slow_loop.c: each call_soon busy-waits
# EVL_SLOW_LOOP_NS, ten to a hundred times the sample loop's own cost) is
# flagged worse on both callbacks figures, with exit 1. The slowdown is far
# beyond any load this machine sees; whether other figures move between
# two three-repeat runs on a busy machine is not asserted (that would be a
# timing threshold).
slow=$O/bench/slow_loop.so
if [ -f "$slow" ]; then
  cmp_run() { # cmp_run DIR SLOW_NS
    EVL_SLOW_LOOP_NS=$2 "$BIN" callbacks timers --impl ref-epoll --impl "$slow" \
      --no-raw --repeat 3 --out "$1" >/dev/null 2>"$T/err"
  }
  if cmp_run "$T/cmp_a" 0 && cmp_run "$T/cmp_b" 3000; then
    "$BIN" --compare "$T/cmp_a" "$T/cmp_a" >"$T/self.txt" 2>&1
    rc=$?
    if [ $rc -ne 0 ] || grep -qE ' (worse|better)$' "$T/self.txt"; then
      bad "compare of a run with itself" "exit 0, nothing flagged" \
        "exit $rc: $(grep -E ' (worse|better)$' "$T/self.txt" | head -3 | tr '\n' '|')"
    else
      ok
    fi
    "$BIN" --compare "$T/cmp_a" "$T/cmp_b" >"$T/slow.txt" 2>&1
    rc=$?
    nslow=$(grep -cE "^callbacks .*$slow +rate .* worse$" "$T/slow.txt")
    if [ $rc -ne 1 ] || [ "$nslow" -ne 2 ]; then
      bad "compare against a slowed loop" \
        "exit 1; both callbacks figures of the slowed loop flagged worse" \
        "exit $rc, $nslow flagged: $(grep -E '^callbacks' "$T/slow.txt" | tr -s ' ' | tr '\n' '|')"
    else
      ok
    fi
  else
    bad "compare runs" "evl-bench runs callbacks and timers on ref-epoll and the slow loop" \
      "$(head -c 300 "$T/err" | tr '\n' '|')"
  fi
else
  bad "slow-loop fixture" "$slow built (make all)" "missing"
fi

echo "bench-tools: $pass passed, $fail failed"
[ $fail -eq 0 ]
