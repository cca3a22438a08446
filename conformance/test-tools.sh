#!/usr/bin/env bash
# test-tools.sh — evl-conform refuses every bad input with exactly one line
# on stderr ("evl-conform: ..."), nothing on stdout and a non-zero exit.
# Run by `make check`; each case is instant (nothing is tested).
#
# usage: bash conformance/test-tools.sh BUILDDIR
set -u
b=${1:?usage: test-tools.sh BUILDDIR}
conform=$b/evl-conform
tmp=$(mktemp -d "${TMPDIR:-/tmp}/evl-tools.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
nfail=0
npass=0

# check "what" env-assignment-or-empty args...
check() {
  local what=$1 envv=$2
  shift 2
  if [[ -n $envv ]]; then
    env "$envv" "$conform" "$@" >"$tmp/out" 2>"$tmp/err"
  else
    env -u EVL_TEST_TIMEOUT_SCALE "$conform" "$@" >"$tmp/out" 2>"$tmp/err"
  fi
  local rc=$? lines
  lines=$(wc -l <"$tmp/err")
  if [[ $rc -ne 0 && $rc -lt 128 && $lines -eq 1 && ! -s $tmp/out ]] &&
    grep -q '^evl-conform: ' "$tmp/err"; then
    npass=$((npass + 1))
  else
    nfail=$((nfail + 1))
    echo "tools: FAILED: $what: exit $rc, $lines stderr lines, $(wc -l <"$tmp/out") stdout lines"
    head -n 3 "$tmp/err" | sed 's/^/  | /'
  fi
}

check "unknown long option" "" --bogus
check "unknown short option" "" -x
check "option missing its value" "" --filter
check "short option missing its value" "" -j
check "value given to a flag" "" --list=3
check "unexpected argument" "" extra
check "--jobs 0" "" --jobs 0
check "--jobs -1" "" --jobs -1
check "--jobs abc" "" --jobs abc
check "--jobs 3x" "" --jobs 3x
check "--jobs 100000" "" --jobs 100000
check "--jobs ''" "" --jobs ''
check "--tap with --json" "" --tap --json
check "a filter matching nothing" "" --filter 'no-such-test-*'
check "unknown backend" "" --backend no-such-backend
check "unknown implementation" "" --impl no-such-impl
check "plugin path that does not exist" "" --backend /nonexistent/plugin.so
check "--junit into a missing directory" "" --junit /nonexistent/dir/x.xml --filter s1_fifo_order
for s in inf -inf nan NaN -1 0 abc 1e400 1001 '4x' ' '; do
  check "EVL_TEST_TIMEOUT_SCALE='$s'" "EVL_TEST_TIMEOUT_SCALE=$s" --list
done

echo "tools: evl-conform refused $npass of $((npass + nfail)) bad inputs with one line and a non-zero exit"
[[ $nfail -eq 0 ]]
