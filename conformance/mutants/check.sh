#!/usr/bin/env bash
# check.sh — `make check-mutants`: proof that the suite catches the bugs
# real loops have had, and blames no loop for what the contract leaves open.
#
#   - each mutant (list_mutants.h: the sample loop, the reference core or,
#     base BACKEND, a backend plugin with one bug) must FAIL a test of the
#     rule its row names, run with the row's --filter;
#   - each variant (list_variants.h: the same with one difference the
#     contract allows) must pass the whole suite (a BACKEND variant: the
#     K-suite on it and the S-suite on the reference core over it);
#   - the same for asyncio loops (list_py.h: factories of py_mutants.py,
#     SelectorEventLoop subclasses, run as --impl py:py_mutants:NAME).
#
# The mutants run in the background, one test at a time each, while the
# variants run one after the other: s9_post_wakes_blocked_loop takes 10 s
# to catch a post that does not wake the loop (its safety net), the
# variants about 1.5 s each. Then the Python rows, side by side: a Python
# variant takes the whole suite in about 14 s, most of it CPython starting
# in each test's process.
# One line each; exit status 1 if a mutant survives or a variant is blamed.
# usage: bash conformance/mutants/check.sh BUILDDIR
set -u
b=${1:?usage: check.sh BUILDDIR}
dir=$(dirname "$0")
conform=$b/evl-conform
jobs=${EVL_CHECK_JOBS:-$(nproc 2>/dev/null || echo 2)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/evl-mutants.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ms() { echo $(($(date +%s%N) / 1000000)); }

# FAIL lines read: "  FAIL    TEST [IMPL]: [RULE] tests/FILE:LINE: ..."
# A BACKEND row is a backend plugin: --backend; a URING row too, run with
# the proactor's io_uring engine on its ring (EVL_PROACTOR=uring); a PY
# row (list_py.h) a factory of py_mutants.py; the others are loop plugins:
# --impl.
export PYTHONPATH=$(cd "$dir" && pwd)${PYTHONPATH:+:$PYTHONPATH}
label() { # NAME BASE: sets $key, the row's name in the output (py.NAME)
  if [[ $2 == PY ]]; then key=py.$1; else key=$1; fi
}
target() { # KIND NAME BASE: sets $tgt to evl-conform's arguments
  case $3 in
  BACKEND) tgt=(--backend "$b/mutants/$1_$2.so") ;;
  URING) tgt=(--backend "$b/mutants/$1_$2.so") ;;
  PY) tgt=(--impl "py:py_mutants:$2") ;;
  *) tgt=(--impl "$b/mutants/$1_$2.so") ;;
  esac
}

mutant() {
  local name=$1 base=$2 rule=$3 filter=$4 t0 rc caught tgt
  label "$name" "$base"
  local out=$tmp/mutant_$key.out
  target mutant "$name" "$base"
  if [[ $base == URING && $uring == 0 ]]; then
    echo "mutant $key not run: no usable io_uring backend here"
    return
  fi
  t0=$(ms)
  if [[ $base == URING ]]; then
    EVL_PROACTOR=uring "$conform" --jobs 1 "${tgt[@]}" --filter "$filter"
  else
    "$conform" --jobs 1 "${tgt[@]}" --filter "$filter"
  fi >"$out" 2>&1
  rc=$?
  caught=$(sed -n "s/^  FAIL  *\([^ ]*\) \[[^]]*\]: \[$rule\] .*/\1/p" "$out" |
    paste -sd, -)
  if [[ $rc -ne 0 && -n $caught ]]; then
    printf 'mutant  %-22s %-4s caught (%d ms%s): FAIL %s\n' "$key" "$rule" \
      $(($(ms) - t0)) "${alone:+, on a run alone}" "$caught"
  else
    printf 'mutant  %-22s %-4s SURVIVED (exit %d): %s\n' "$key" "$rule" \
      "$rc" "$(tail -n 1 "$out")"
    grep -E '^  (FAIL|TIMEOUT|CRASH) ' "$out"
  fi
}

variant() {
  local name=$1 base=$2 j=${3:-$jobs} t0 rc tgt
  label "$name" "$base"
  local out=$tmp/variant_$key.out
  target variant "$name" "$base"
  t0=$(ms)
  "$conform" --jobs "$j" "${tgt[@]}" >"$out" 2>&1
  rc=$?
  if [[ $rc -eq 0 ]] && ! grep -qE '^  (FAIL|TIMEOUT|CRASH) ' "$out"; then
    printf 'variant %-27s passed (%d ms): %s\n' "$key" $(($(ms) - t0)) \
      "$(tail -n 1 "$out")"
  else
    printf 'variant %-27s BLAMED (exit %d): %s\n' "$key" "$rc" \
      "$(tail -n 1 "$out")"
    grep -E '^  (FAIL|TIMEOUT|CRASH) ' "$out"
  fi
}

# A mutant row (X): name base rule filter; a variant row (X or V): name base.
mutant_rows() {
  sed -n 's/^ *X(\([a-z0-9_]*\), *\([A-Z]*\), *"\([^"]*\)", *"\([^"]*\)",.*/\1 \2 \3 \4/p' "$1"
}
variant_rows() { sed -n "s/^ *$2(\([a-z0-9_]*\), *\([A-Z]*\),.*/\1 \2/p" "$1"; }
# The URING rows need the io_uring backend (kernel, seccomp).
uring=0
"$conform" --list-backends 2>/dev/null | grep -qE '^iouring .*usable$' && uring=1
names=()
while read -r name base rule filter; do
  names+=("mutant_$name")
  mutant "$name" "$base" "$rule" "$filter" >"$tmp/mutant_$name.line" &
done < <(mutant_rows "$dir/list_mutants.h")
while read -r name base; do
  names+=("variant_$name")
  variant "$name" "$base" >"$tmp/variant_$name.line"
done < <(variant_rows "$dir/list_variants.h" X)
# A C mutant that survived beside all the others runs again alone: the
# rows that compare CPU time with wall time (a spinning wait) need a CPU
# to spin on, and some 60 processes started at once can starve one. Only
# a mutant that survives alone too is reported SURVIVED.
for f in "$tmp"/mutant_*.line; do
  [[ -e $f ]] && grep -q ' SURVIVED ' "$f" || continue
  n=${f##*/mutant_}
  n=${n%.line}
  while read -r name base rule filter; do
    [[ $name == "$n" ]] && alone=1 mutant "$name" "$base" "$rule" "$filter" >"$f"
  done < <(mutant_rows "$dir/list_mutants.h")
done
# The Python rows (list_py.h) run once the others are done: their
# interpreters (some 60 ms of CPU per test, most of a Python variant's
# cost) would load the machine under the C rows that compare CPU time
# with wall time or measure a timer's lateness. The mutants and variants
# run side by side. They need the embedded interpreter's module (not
# built without libpython).
wait
py=1
[[ -e $b/modules/evl-py.so ]] || py=0
for kind in mutant variant; do
  while read -r name base rule filter; do
    names+=("${kind}_py.$name")
    if [[ $py == 0 ]]; then
      echo "$kind py.$name not run: no $b/modules/evl-py.so" \
        >"$tmp/${kind}_py.$name.line"
    elif [[ $kind == mutant ]]; then
      mutant "$name" "$base" "$rule" "$filter" >"$tmp/mutant_py.$name.line" &
    else
      variant "$name" "$base" >"$tmp/variant_py.$name.line" &
    fi
  done < <(if [[ $kind == mutant ]]; then mutant_rows "$dir/list_py.h"
  else variant_rows "$dir/list_py.h" V; fi)
done
wait

for n in "${names[@]}"; do
  cat "$tmp/$n.line"
done
if grep -qE '^(mutant|variant) .* (SURVIVED|BLAMED) ' "$tmp"/*.line; then
  echo "check-mutants: FAILED (a mutant survived or a variant was blamed)"
  exit 1
fi
echo "check-mutants: ${#names[@]} checks: every mutant caught, every variant passed"
