#!/usr/bin/env bash
# check.sh — `make check-mutants`: proof that the suite catches the bugs
# real loops have had, and blames no loop for what the contract leaves open.
#
#   - each mutant (list_mutants.h: the sample loop, the reference core or,
#     base BACKEND, a backend plugin with one bug) must FAIL a test of the
#     rule its row names, run with the row's --filter;
#   - each variant (list_variants.h: the same with one difference the
#     contract allows) must pass the whole suite (a BACKEND variant: the
#     K-suite on it and the S-suite on the reference core over it).
#
# The mutants run in the background, one test at a time each, while the
# variants run one after the other: s9_post_wakes_blocked_loop takes 10 s
# to catch a post that does not wake the loop (its safety net), the
# variants about 1.5 s each.
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
# A BACKEND row is a backend plugin: --backend; the others are loops: --impl.
how() { if [[ $1 == BACKEND ]]; then echo --backend; else echo --impl; fi; }

mutant() {
  local name=$1 base=$2 rule=$3 filter=$4 out=$tmp/mutant_$1.out t0 rc caught
  t0=$(ms)
  "$conform" --jobs 1 "$(how "$base")" "$b/mutants/mutant_$name.so" \
    --filter "$filter" >"$out" 2>&1
  rc=$?
  caught=$(sed -n "s/^  FAIL  *\([^ ]*\) \[[^]]*\]: \[$rule\] .*/\1/p" "$out" |
    paste -sd, -)
  if [[ $rc -ne 0 && -n $caught ]]; then
    printf 'mutant  %-22s %-4s caught (%d ms): FAIL %s\n' "$name" "$rule" \
      $(($(ms) - t0)) "$caught"
  else
    printf 'mutant  %-22s %-4s SURVIVED (exit %d): %s\n' "$name" "$rule" \
      "$rc" "$(tail -n 1 "$out")"
    grep -E '^  (FAIL|TIMEOUT|CRASH) ' "$out"
  fi
}

variant() {
  local name=$1 base=$2 out=$tmp/variant_$1.out t0 rc
  t0=$(ms)
  "$conform" --jobs "$jobs" "$(how "$base")" "$b/mutants/variant_$name.so" \
    >"$out" 2>&1
  rc=$?
  if [[ $rc -eq 0 ]] && ! grep -qE '^  (FAIL|TIMEOUT|CRASH) ' "$out"; then
    printf 'variant %-27s passed (%d ms): %s\n' "$name" $(($(ms) - t0)) \
      "$(tail -n 1 "$out")"
  else
    printf 'variant %-27s BLAMED (exit %d): %s\n' "$name" "$rc" \
      "$(tail -n 1 "$out")"
    grep -E '^  (FAIL|TIMEOUT|CRASH) ' "$out"
  fi
}

names=()
while read -r name base rule filter; do
  names+=("mutant_$name")
  mutant "$name" "$base" "$rule" "$filter" >"$tmp/mutant_$name.line" &
done < <(sed -n 's/^ *X(\([a-z0-9_]*\), *\([A-Z]*\), *"\([^"]*\)", *"\([^"]*\)",.*/\1 \2 \3 \4/p' \
  "$dir/list_mutants.h")
while read -r name base; do
  names+=("variant_$name")
  variant "$name" "$base" >"$tmp/variant_$name.line"
done < <(sed -n 's/^ *X(\([a-z0-9_]*\), *\([A-Z]*\),.*/\1 \2/p' "$dir/list_variants.h")
wait

for n in "${names[@]}"; do
  cat "$tmp/$n.line"
done
if grep -qE '^(mutant|variant) .* (SURVIVED|BLAMED) ' "$tmp"/*.line; then
  echo "check-mutants: FAILED (a mutant survived or a variant was blamed)"
  exit 1
fi
echo "check-mutants: ${#names[@]} checks: every mutant caught, every variant passed"
