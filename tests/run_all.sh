#!/usr/bin/env bash
# make test: C, Lua and end-to-end suites; the last line sums them.
set -u
cd "$(dirname "$0")/.."
. tests/redis_env.sh; mts_redis_start || exit 1
log=$(mktemp); rc=0
tests/run_c.sh "$@" | tee -a "$log" || rc=1
tests/run_lua.sh | tee -a "$log" || rc=1
tests/run_e2e.sh | tee -a "$log" || rc=1
p=0; f=0
while read -r kind np _ nf _; do p=$((p + np)); f=$((f + nf)); done < <(grep -E '^(c|lua|e2e): [0-9]+ passed, [0-9]+ failed$' "$log")
rm -f "$log"
echo "total: $p passed, $f failed"
[ $rc -eq 0 ] && [ $f -eq 0 ]
