#!/usr/bin/env bash
# run-checks.sh — what `make check` runs: the suite on everything, proof that
# it can fail, the sample plugins, broken plugins, and TAP through prove.
#
# usage: bash conformance/run-checks.sh BUILDDIR
# Environment: EVL_CONFORM_ARGS (extra arguments for the main run),
# EVL_CHECK_JOBS (default: number of cores), EVL_TEST_TIMEOUT_SCALE,
# EVL_CHECK_PY=S (the py loops get their S-suite only, in 1c: the Makefile
# sets it under ASan, where each py test starts CPython on ASan's malloc).
set -u

b=${1:?usage: run-checks.sh BUILDDIR}
conform=$b/evl-conform
jobs=${EVL_CHECK_JOBS:-$(nproc 2>/dev/null || echo 2)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/evl-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failed=()
passed=()
summary="(the main run did not finish)"

section() {
  printf '\n==== %s ====\n' "$*"
}
ok() {
  echo "check: OK: $*"
  passed+=("$*")
}
bad() {
  echo "check: FAILED: $*"
  failed+=("$*")
}
# What a runner's output did not pass, else its summary line.
not_passed() {
  if grep -q '^Not passed:' "$1"; then
    sed -n '/^Not passed:/,$p' "$1"
  else
    tail -n 1 "$1"
  fi
}

if [[ ! -x $conform ]]; then
  echo "run-checks: $conform is missing; run make first" >&2
  exit 2
fi

# ---------------------------------------------------------------- 1
section "1/6 conformance suite: every backend and every implementation"
py_skip=()
[[ ${EVL_CHECK_PY:-} = S ]] && py_skip=(--skip-impl 'py*')
# shellcheck disable=SC2086 # EVL_CONFORM_ARGS is a list of words
"$conform" --jobs "$jobs" ${py_skip[@]+"${py_skip[@]}"} ${EVL_CONFORM_ARGS:-} |
  tee "$tmp/main.out"
rc=${PIPESTATUS[0]}
summary=$(tail -n 1 "$tmp/main.out")
if [[ $rc -eq 0 ]]; then
  ok "suite passed on every backend and implementation ($summary)"
else
  bad "suite: exit status $rc ($summary)"
fi

# The P-tests again on the proactor's io_uring engine (EVL_PROACTOR=uring),
# over a readiness loop and over the io_uring one.
section "1b the P-tests on the io_uring proactor engine"
if EVL_PROACTOR=uring "$conform" --jobs "$jobs" --filter 'p[0-9]*' \
  --impl ref-epoll --impl ref-iouring >"$tmp/uring.out" 2>&1; then
  ok "io_uring proactor: $(tail -n 1 "$tmp/uring.out")"
else
  cat "$tmp/uring.out"
  bad "io_uring proactor: $(tail -n 1 "$tmp/uring.out")"
fi

# The py loops' S-suite alone (EVL_CHECK_PY=S): their T- and P-tests run
# in the unsanitized check.
if [[ ${EVL_CHECK_PY:-} = S ]]; then
  section "1c the py loops' S-suite (EVL_CHECK_PY=S: T- and P-tests left out)"
  "$conform" --jobs "$jobs" --impl py-asyncio --impl py-uvloop --filter 'S*' \
    >"$tmp/py.out" 2>&1
  rc=$?
  not_passed "$tmp/py.out"
  if [[ $rc -eq 0 ]]; then
    ok "py-asyncio, py-uvloop: S-suite ($(tail -n 1 "$tmp/py.out"))"
  elif grep -q 'is not built' "$tmp/py.out"; then
    ok "py module not built here, left out ($(head -n 1 "$tmp/py.out"))"
  else
    cat "$tmp/py.out"
    bad "py-asyncio, py-uvloop: S-suite: exit status $rc"
  fi
fi

# ---------------------------------------------------------------- 2
section "2/6 the suite can fail: fixtures/broken_epoll.so must fail K6"
broken=$b/fixtures/broken_epoll.so
if [[ ! -f $broken ]]; then
  bad "the suite cannot fail: $broken was not built"
else
  "$conform" --jobs "$jobs" --backend "$broken" --filter 'K*' \
    >"$tmp/broken.out" 2>&1
  rc=$?
  grep -E '^  (FAIL|TIMEOUT|CRASH) ' "$tmp/broken.out" || true
  tail -n 1 "$tmp/broken.out"
  if [[ $rc -eq 1 ]] &&
    grep -qE '^  (FAIL|TIMEOUT|CRASH) +[^ ]+ \[[^]]*\]: .*\[K6\]' "$tmp/broken.out"; then
    ok "broken_epoll.so fails, naming rule K6 (exit status $rc)"
  else
    cat "$tmp/broken.out"
    bad "the suite cannot fail: broken_epoll.so gave exit status $rc" \
      "without a failure naming K6"
  fi
fi

# ---------------------------------------------------------------- 3
section "3/6 sample plugins pass (the templates a user copies)"
for s in "--backend $b/samples/sample_backend.so" \
  "--impl $b/samples/sample_loop.so"; do
  so=${s#* }
  if [[ ! -f $so ]]; then
    bad "$so was not built"
    continue
  fi
  # shellcheck disable=SC2086 # $s is two words on purpose
  "$conform" --jobs "$jobs" $s >"$tmp/sample.out" 2>&1
  rc=$?
  not_passed "$tmp/sample.out"
  if [[ $rc -eq 0 ]]; then
    ok "$s passes ($(tail -n 1 "$tmp/sample.out"))"
  else
    cat "$tmp/sample.out"
    bad "$s: exit status $rc"
  fi
done

# State a loop keeps once per process is not a leak when declared through
# warmup(), and is one when not: the same plugin built both ways.
pp_filter=(--filter s6_reader_level_triggered --filter s1_fifo_order)
if [[ -f $b/fixtures/perprocess_warm.so && -f $b/fixtures/perprocess_cold.so ]]; then
  "$conform" --impl "$b/fixtures/perprocess_warm.so" "${pp_filter[@]}" \
    >"$tmp/pp.out" 2>&1
  rc_warm=$?
  "$conform" --impl "$b/fixtures/perprocess_cold.so" "${pp_filter[@]}" \
    >"$tmp/pp2.out" 2>&1
  rc_cold=$?
  if [[ $rc_warm -eq 0 && $rc_cold -eq 1 ]] &&
    grep -q 'thread still running' "$tmp/pp2.out"; then
    ok "a per-process thread declared by warmup() is no leak; undeclared it is"
  else
    cat "$tmp/pp.out" "$tmp/pp2.out"
    bad "warmup(): declared per-process thread gave exit $rc_warm (want 0)," \
      "undeclared gave exit $rc_cold (want 1, naming the thread)"
  fi
else
  bad "fixtures/perprocess_{warm,cold}.so were not built"
fi

# ---------------------------------------------------------------- 4
section "4/6 broken plugins get one clear line and a non-zero exit"
# The fixtures in conformance/fixtures/bad_plugin.c, one per way to be broken.
cases=()
for variant in WRONG_ABI SHORT NULLFN CRASH IMPL; do
  so=$b/fixtures/bad_$variant.so
  if [[ ! -f $so ]]; then
    bad "$so was not built"
  elif [[ $variant = IMPL ]]; then
    cases+=("--impl $so")
  else
    cases+=("--backend $so")
  fi
done
cases+=("--backend $b/samples/sample_loop.so" "--impl $b/samples/sample_backend.so"
  "--backend $b/libevl.so")
for c in "${cases[@]}"; do
  so=${c#* }
  [[ -f $so ]] || continue
  # shellcheck disable=SC2086 # $c is two words on purpose
  "$conform" $c >"$tmp/plug.out" 2>"$tmp/plug.err"
  rc=$?
  lines=$(wc -l <"$tmp/plug.err")
  cat "$tmp/plug.err"
  if [[ $rc -ne 0 && $rc -lt 128 && $lines -eq 1 ]] &&
    grep -q "^evl-conform: $so: ." "$tmp/plug.err" && [[ ! -s $tmp/plug.out ]]; then
    ok "$c refused with one line (exit status $rc)"
  else
    cat "$tmp/plug.out"
    bad "$c: expected one 'evl-conform: $so: ...' line and a non-zero" \
      "exit, got $lines lines and exit status $rc"
  fi
done

# A plugin that loads fine but crashes inside wait(): its tests must come
# out as CRASH, and the runner must still finish and print its summary.
wcrash=$b/fixtures/bad_WAITCRASH.so
if [[ -f $wcrash ]]; then
  "$conform" --jobs "$jobs" --backend "$wcrash" --filter 'k2_*' \
    >"$tmp/wc.out" 2>&1
  rc=$?
  last=$(tail -n 1 "$tmp/wc.out")
  if [[ $rc -eq 1 ]] && grep -q 'CRASH' "$tmp/wc.out" &&
    [[ $last =~ ^[0-9]+\ passed,\ [1-9][0-9]*\ failed ]]; then
    ok "a plugin crashing in wait() fails its tests as CRASH, the runner finishes ($last)"
  else
    tail -n 5 "$tmp/wc.out"
    bad "a plugin crashing in wait(): expected CRASH results, exit 1 and a summary, got exit $rc"
  fi
else
  bad "$wcrash was not built"
fi

# ---------------------------------------------------------------- 5
section "5/6 TAP output through prove"
if command -v prove >/dev/null 2>&1; then
  # prove hands the "test file" (here: a filter) to the --exec command.
  # -v keeps every TAP line, so a failure below can be named, not only
  # numbered.
  prove -v --exec "$conform --tap --jobs $jobs ${py_skip[*]} --filter" S1 S2 \
    >"$tmp/prove.out" 2>&1
  tail -n 4 "$tmp/prove.out"
  if grep -q '^Result: PASS' "$tmp/prove.out"; then
    ok "prove accepts the TAP output"
  else
    grep -E '^not ok|^# |^Failed' "$tmp/prove.out" | grep -v '# TODO'
    bad "prove rejected the TAP output"
  fi
else
  "$conform" --tap --jobs "$jobs" --filter 'S1' >"$tmp/tap.out"
  rc=$?
  tail -n 5 "$tmp/tap.out"
  plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$tmp/tap.out")
  count=$(grep -cE '^(not )?ok [0-9]+ ' "$tmp/tap.out")
  if [[ $rc -eq 0 && -n $plan && $plan -eq $count ]]; then
    ok "TAP plan 1..$plan matches $count results (prove not installed)"
  else
    bad "TAP output: plan '$plan', $count results, exit status $rc"
  fi
fi

# ---------------------------------------------------------------- 6
section "6/6 differential traces: the ref-* loops and the sample agree; a broken backend does not"
# 10 000 seeded scenarios on every reference loop (and the sample loop
# plugin), traces compared; then the reference core over
# fixtures/drop_poll.so (drops all but one ready fd per wait) must disagree.
"$conform" --differential 10000 >"$tmp/diff.out" 2>&1
rc=$?
tail -n 1 "$tmp/diff.out"
if [[ $rc -eq 0 ]]; then
  ok "differential: $(tail -n 1 "$tmp/diff.out" | sed 's/^differential: //')"
else
  cat "$tmp/diff.out"
  bad "differential: the ref-* loops disagree (exit status $rc)"
fi
"$conform" --differential 2000 --impl ref-epoll \
  --impl "$b/samples/sample_loop.so" >"$tmp/diff.out" 2>&1
rc=$?
if [[ $rc -eq 0 ]]; then
  ok "differential: the sample loop agrees with ref-epoll (2000 scenarios)"
else
  cat "$tmp/diff.out"
  bad "differential: the sample loop disagrees with ref-epoll (exit status $rc)"
fi
# The native loops run I/O in their own poll phase (declared deviation
# s1_ready_behind_soon), so their scenarios have no fds. libevent runs on
# its own: its declared equal-deadline deviations (s2_equal_*) take equal
# deadlines out of its scenarios, which the other two keep.
for natives in "native-libuv native-libev" "native-libevent"; do
  impls=()
  for n in $natives; do impls+=(--impl "$n"); done
  "$conform" --differential 300 --impl ref-epoll "${impls[@]}" \
    >"$tmp/diff.out" 2>&1
  rc=$?
  if [[ $rc -eq 0 ]]; then
    ok "differential: $natives agree with ref-epoll" \
      "(300 scenarios, their deviations left out)"
  elif grep -q 'not built\|not runnable' "$tmp/diff.out"; then
    ok "differential: $natives not built here, left out"
  else
    cat "$tmp/diff.out"
    bad "differential: $natives disagree with ref-epoll (exit status $rc)"
  fi
done
drop=$b/fixtures/drop_poll.so
"$conform" --differential 1000 --impl ref-epoll --backend "$drop" \
  >"$tmp/diff.out" 2>&1
rc=$?
if [[ $rc -eq 1 ]] && grep -q '^first difference at token' "$tmp/diff.out"; then
  sed -n '/shrunk from/,$p' "$tmp/diff.out"
  ok "differential: drop_poll.so disagrees, shrunk to a minimal scenario"
else
  cat "$tmp/diff.out"
  bad "differential cannot fail: drop_poll.so gave exit status $rc" \
    "without a shrunk disagreement"
fi

# ---------------------------------------------------------------- recap
section "recap"
for p in "${passed[@]}"; do echo "  ok:     $p"; done
for f in "${failed[@]}"; do echo "  FAILED: $f"; done
echo "conformance suite:"
echo "$summary"
[[ ${#failed[@]} -eq 0 ]]
