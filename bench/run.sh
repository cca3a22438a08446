#!/usr/bin/env bash
# run.sh — `make bench`: runs evl-bench, the conformance matrix, hyperfine and
# callgrind, then writes reports/<date>-<host>-<commit>/ and reports/latest.
#
# usage: bash bench/run.sh <builddir> [quick|full] [impl,impl,...]
set -u -o pipefail

O=${1:-build}
PROFILE=${2:-quick}
IMPL=${3:-}
[ -n "$PROFILE" ] || PROFILE=quick
case $PROFILE in quick | full) ;; *)
  echo "bench: PROFILE must be quick or full, not '$PROFILE'" >&2
  exit 2
  ;;
esac

BIN=$O/evl-bench
CONFORM=$O/evl-conform
if [ ! -x "$BIN" ]; then
  echo "bench: $BIN is missing; run make first" >&2
  exit 2
fi

START=$(date +%s)
STEPS=5
step() { # step N "what"
  printf '[bench %d/%d %4ds] %s\n' "$1" "$STEPS" $(($(date +%s) - START)) "$2"
}
# Each phase's wall time, for the report and for anyone trimming the
# profile: "<phase> <seconds>" lines in durations.txt.
PHASE_T=$START
phase_done() { # phase_done NAME
  local now
  now=$(date +%s)
  printf '%s %d\n' "$1" $((now - PHASE_T)) >>"$DIR/durations.txt"
  PHASE_T=$now
}

host=$(hostname -s 2>/dev/null || hostname)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo nocommit)
if [ "$commit" != nocommit ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit=$commit-dirty
fi
RUN=$(date -u +%Y%m%d-%H%M%S)-$host-$commit
DIR=reports/$RUN
mkdir -p "$DIR/callgrind" || exit 1
: >"$DIR/durations.txt"
printf 'load_before %s\n' "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null | tr ' ' ,)" >"$DIR/load.txt"

# The exact compile line of the benchmark objects, for the environment record.
EVL_BENCH_BUILD_CMD=$(make --no-print-directory -s -nB "$O/obj/bench/main.o" 2>/dev/null | grep -m1 -- ' -c ' || true)
export EVL_BENCH_BUILD_CMD

impl_args=()
if [ -n "$IMPL" ]; then
  impl_args=(--impl "$IMPL")
fi

step 1 "evl-bench, $PROFILE profile -> $DIR/results.json"
if ! "$BIN" --profile "$PROFILE" "${impl_args[@]}" --out "$DIR"; then
  echo "bench: evl-bench failed" >&2
  exit 1
fi
phase_done evl-bench

# Implementations that load here, with the raw and direct baselines, for
# the per-process views. The names come from evl-bench so skips are decided
# in one place.
names=$("$BIN" --list-names "${impl_args[@]}")
# The fixed workload (chain, n=1000) needs 2000 fds: an implementation that
# cannot run it (select: FD_SETSIZE) is left out of hyperfine, with its
# reason in workload-skips.txt for the report; callgrind still counts its
# other cases.
list=""
: >"$DIR/workload-skips.txt"
IFS=, read -ra candidates <<<"$names"
for impl in "${candidates[@]}"; do
  if why=$("$BIN" --workload --impl "$impl" 2>&1 >/dev/null); then
    list="$list${list:+,}$impl"
  else
    why=$(printf '%s' "$why" | tail -1)
    printf '%s\t%s\n' "$impl" "${why#"evl-bench: $impl: "}" >>"$DIR/workload-skips.txt"
  fi
done

step 2 "hyperfine: whole-process chain workload per implementation"
if command -v hyperfine >/dev/null; then
  runs=5
  [ "$PROFILE" = full ] && runs=20
  hyperfine -N --style basic --warmup 1 --runs "$runs" -L impl "$list" \
    --export-json "$DIR/hyperfine.json" \
    "$BIN --workload --impl {impl}" >"$DIR/hyperfine.log" 2>&1 ||
    echo "bench: hyperfine failed (see $DIR/hyperfine.log)" >&2
else
  echo "bench: hyperfine is not installed; skipped" >&2
fi
phase_done hyperfine

# Nothing below is timed: callgrind counts instructions (the same on a busy
# machine), and the conformance matrix is pass/fail. So they share the two
# CPUs: the matrix in the background, callgrind two implementations at a
# time. A case is deterministic, so one short run per implementation is all
# it needs.
step 3 "conformance matrix (evl-conform --json) beside callgrind, every case of every implementation"
conform_pid=
if [ -x "$CONFORM" ]; then
  conform_args=()
  if [ -n "$IMPL" ]; then
    IFS=, read -ra want <<<"$IMPL"
    for i in "${want[@]}"; do conform_args+=(--impl "$i"); done
  fi
  # A failing test is reported in the matrix; it does not stop the bench.
  # Twice the time limits: it shares the CPUs with callgrind. Three tests
  # per CPU: the matrix mostly waits (timers, threads, a Python start per
  # test: 27 CPU-seconds in 84 s at one test per CPU), so it ends sooner;
  # while it runs, callgrind takes one CPU only (below), so a test that
  # is busy for a set time is not starved into a false failure.
  jobs=$(($(nproc 2>/dev/null || echo 2) * 3))
  EVL_TEST_TIMEOUT_SCALE=$(awk -v s="${EVL_TEST_TIMEOUT_SCALE:-1}" 'BEGIN { print s * 2 }') \
    "$CONFORM" --json -j "$jobs" "${conform_args[@]}" >"$DIR/conform.json" 2>"$DIR/conform.log" &
  conform_pid=$!
else
  echo "bench: $CONFORM is missing; the report will say so" >&2
fi
if command -v valgrind >/dev/null; then
  # One process per implementation; evl-bench toggles collection around
  # each case's timed region and dumps it under the case's name, so
  # callgrind/<impl>.out.<k> holds one case each (cases in bench.h). An
  # embedded interpreter takes seconds to start under valgrind: the probe's
  # time limit is scaled for it.
  cg_one() { # cg_one IMPL
    local safe=${1//[^A-Za-z0-9-]/_}
    # PYTHONHASHSEED fixed: the embedded interpreter's hashing is then the
    # same in every run, and so are its instruction counts.
    # A hard limit, so a case that hangs under valgrind costs its own
    # counts, not the run (ref-iouring's task_echo did, at 0 CPU; a Python
    # loop takes about a minute at a load of 14): the dumps of the cases
    # before it are kept.
    if ! PYTHONHASHSEED=0 EVL_TEST_TIMEOUT_SCALE=30 timeout -s KILL 600 \
      valgrind --tool=callgrind --collect-atstart=no \
      --callgrind-out-file="$DIR/callgrind/$safe.out" \
      "$BIN" --callgrind --impl "$1" --out "$DIR/callgrind" \
      >"$DIR/callgrind/$safe.log" 2>&1; then
      echo "bench: callgrind on $1 failed (see $DIR/callgrind/$safe.log)" >&2
    fi
  }
  # The embedded Python loops take the longest under valgrind: start them
  # first, beside the matrix. One at a time while the matrix runs, two
  # once it is done, in a subshell of their own so that `wait -n` sees
  # only them, not the matrix.
  IFS=, read -ra impls <<<"$names"
  ordered=()
  for impl in "${impls[@]}"; do [[ $impl == py* ]] && ordered+=("$impl"); done
  for impl in "${impls[@]}"; do [[ $impl == py* ]] || ordered+=("$impl"); done
  (
    running=0
    for impl in "${ordered[@]}"; do
      while :; do
        limit=2
        if [ -n "$conform_pid" ] && kill -0 "$conform_pid" 2>/dev/null; then
          limit=1
        fi
        [ "$running" -ge "$limit" ] || break
        wait -n
        running=$((running - 1))
      done
      cg_one "$impl" &
      running=$((running + 1))
    done
    wait
  )
else
  echo "bench: valgrind is not installed; skipped" >&2
fi
[ -n "$conform_pid" ] && wait "$conform_pid"
phase_done callgrind+conform

printf 'load_after %s\n' "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null | tr ' ' ,)" >>"$DIR/load.txt"
step 4 "report: plots, index.html, summary.md"
if ! "$BIN" --report "$DIR"; then
  echo "bench: report generation failed" >&2
  exit 1
fi

phase_done report
step 5 "reports/latest -> $RUN"
ln -sfn "$RUN" reports/latest
nsvg=$(find "$DIR/plots" -name '*.svg' | wc -l)
echo "bench: done in $(($(date +%s) - START)) s: $DIR/index.html, summary.md, results.json, $nsvg SVG plots"
