#!/usr/bin/env bash
# Runs each cmocka binary (a process per module, each with a time limit) and
# prints "c: N passed, N failed". Exit status non-zero if any test failed.
set -u
cd "$(dirname "$0")/.."
. tests/redis_env.sh; mts_redis_start || exit 1
pass=0; fail=0; bad=()
for t in "$@"; do
  out=$(timeout 300 "$t" 2>&1); rc=$?
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  p=${p:-0}; f=${f:-0}
  if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi   # crash, timeout or sanitizer report
  pass=$((pass + p)); fail=$((fail + f))
  if [ $rc -ne 0 ]; then bad+=("$t"); printf '%s\n' "$out" | tail -40; echo "FAIL $t (exit $rc)"; else echo "ok   $t ($p)"; fi
done
echo "c: $pass passed, $fail failed"
[ $fail -eq 0 ]
