#!/usr/bin/env bash
# contract.sh — keeps CONTRACT.md's per-rule test lists in step with the
# suite. `--update` rewrites the "Tests:" line under each <!-- tests:RULE -->
# marker from `evl-conform --list`; `--check` (run by make test) fails when
# the file is stale, a rule has no test, or a test names an unknown rule.
# Written in shell because it only joins two lists; no tool does it better.
set -euo pipefail
mode=${1:---check}
conform=${2:-build/evl-conform}
here=$(cd "$(dirname "$0")" && pwd)
doc="$here/CONTRACT.md"

list=$("$conform" --list | awk 'NF >= 3 && $2 ~ /^[SKTP][0-9]+$/ {print $2, $1}')
rules=$(grep -o '<!-- tests:[SKTP][0-9]* -->' "$doc" | sed 's/<!-- tests:\(.*\) -->/\1/')

status=0
for r in $(echo "$list" | awk '{print $1}' | sort -u); do
  grep -qx "$r" <<<"$rules" || { echo "contract: tests name rule $r, which CONTRACT.md does not define"; status=1; }
done

new=$(mktemp)
trap 'rm -f "$new"' EXIT
awk -v list="$list" '
  BEGIN { n = split(list, l, "\n"); for (i = 1; i <= n; i++) { split(l[i], f, " "); t[f[1]] = t[f[1]] (t[f[1]] ? ", " : "") "`" f[2] "`" } }
  /^<!-- tests:[SKTP][0-9]+ -->$/ { print; r = $0; sub(/^<!-- tests:/, "", r); sub(/ -->$/, "", r);
    print "Tests: " (r in t ? t[r] : "NONE"); skip = 1; next }
  skip && /^Tests: / { skip = 0; next }
  { skip = 0; print }' "$doc" >"$new"

if grep -q '^Tests: NONE' "$new"; then
  echo "contract: rules without a test: $(grep -B1 '^Tests: NONE' "$new" | grep -o 'tests:[SKTP][0-9]*' | sed 's/tests://' | tr '\n' ' ')"
  status=1
fi
if [ "$mode" = --update ]; then
  cp "$new" "$doc"
  echo "contract: CONTRACT.md updated"
elif ! cmp -s "$new" "$doc"; then
  echo "contract: CONTRACT.md test lists are stale; run: bash conformance/contract.sh --update"
  diff -u "$doc" "$new" | head -20 || true
  status=1
fi
[ $status = 0 ] && echo "contract: every rule has tests, every test names a defined rule"
exit $status
