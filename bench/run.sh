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
STEPS=6
step() { # step N "what"
  printf '[bench %d/%d %4ds] %s\n' "$1" "$STEPS" $(($(date +%s) - START)) "$2"
}

host=$(hostname -s 2>/dev/null || hostname)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo nocommit)
if [ "$commit" != nocommit ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit=$commit-dirty
fi
RUN=$(date -u +%Y%m%d-%H%M%S)-$host-$commit
DIR=reports/$RUN
mkdir -p "$DIR/callgrind" || exit 1

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

# Implementations that load here, with the raw and direct baselines, for
# the per-process views. The names come from evl-bench so skips are decided
# in one place.
names=$("$BIN" --list-names "${impl_args[@]}")
# The fixed workload (chain, n=1000) needs 2000 fds: an implementation that
# cannot run it (select: FD_SETSIZE) is left out of both views, with its
# reason in workload-skips.txt for the report.
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

step 2 "conformance matrix (evl-conform --json)"
if [ -x "$CONFORM" ]; then
  conform_args=()
  if [ -n "$IMPL" ]; then
    IFS=, read -ra want <<<"$IMPL"
    for i in "${want[@]}"; do conform_args+=(--impl "$i"); done
  fi
  # A failing test is reported in the matrix; it does not stop the bench.
  "$CONFORM" --json "${conform_args[@]}" >"$DIR/conform.json" 2>"$DIR/conform.log" || true
else
  echo "bench: $CONFORM is missing; the report will say so" >&2
fi

step 3 "hyperfine: whole-process chain workload per implementation"
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

step 4 "callgrind: user-space instructions per operation, every case"
if command -v valgrind >/dev/null; then
  IFS=, read -ra impls <<<"$list"
  for impl in "${impls[@]}"; do
    safe=${impl//[^A-Za-z0-9-]/_}
    # One process per implementation; evl-bench toggles collection around
    # each case's timed region and dumps it under the case's name, so
    # callgrind/<impl>.out.<k> holds one case each (cases in bench.h).
    valgrind --tool=callgrind --collect-atstart=no \
      --callgrind-out-file="$DIR/callgrind/$safe.out" \
      "$BIN" --callgrind --impl "$impl" \
      --out "$DIR/callgrind" >>"$DIR/callgrind/valgrind.log" 2>&1 ||
      echo "bench: callgrind on $impl failed (see $DIR/callgrind/valgrind.log)" >&2
  done
else
  echo "bench: valgrind is not installed; skipped" >&2
fi

step 5 "report: plots, index.html, summary.md"
if ! "$BIN" --report "$DIR"; then
  echo "bench: report generation failed" >&2
  exit 1
fi

step 6 "reports/latest -> $RUN"
ln -sfn "$RUN" reports/latest
nsvg=$(find "$DIR/plots" -name '*.svg' | wc -l)
echo "bench: done in $(($(date +%s) - START)) s: $DIR/index.html, summary.md, results.json, $nsvg SVG plots"
