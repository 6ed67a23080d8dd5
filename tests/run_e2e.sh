#!/usr/bin/env bash
# End-to-end tests: Python (standard library only) drives bin/mts ($MTS_BIN)
# on temporary databases. Prints "e2e: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
. tests/redis_env.sh; mts_redis_start || exit 1
export MTS_BIN=${MTS_BIN:-bin/mts}
out=$(timeout 1200 /usr/bin/python3 -m unittest discover -s tests/e2e -p 'test_*.py' -v 2>&1); rc=$?
printf '%s\n' "$out" | tail -80
ran=$(printf '%s\n' "$out" | sed -n 's/^Ran \([0-9]*\) test.*/\1/p' | tail -1); ran=${ran:-0}
f=0
for n in $(printf '%s\n' "$out" | sed -n 's/^FAILED (\(.*\))/\1/p' | tr ',' '\n' | sed -n 's/.*\(failures\|errors\)=\([0-9]*\)/\2/p'); do f=$((f + n)); done
if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
echo "e2e: $((ran - f < 0 ? 0 : ran - f)) passed, $f failed"
[ $rc -eq 0 ]
