#!/usr/bin/env bash
# Runs the busted specs under LuaJIT (the specs reach the C primitives through
# the FFI in lib/libmts.so, or $MTS_LIB). Prints "lua: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
. tests/redis_env.sh; mts_redis_start || exit 1
export MTS_LIB=${MTS_LIB:-lib/libmts.so}
# A sanitizer build of the library (make asan) needs the ASan runtime loaded
# first into the luajit process; leaks are not checked there (the interpreter
# and busted keep their memory until exit).
if ldd "$MTS_LIB" 2>/dev/null | grep -q libasan; then
  export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
fi
out=$(timeout 600 busted --lua=luajit -o utfTerminal tests/lua 2>&1); rc=$?
printf '%s\n' "$out"
line=$(printf '%s\n' "$out" | grep -E '[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors?' | tail -1 | sed 's/\x1b\[[0-9;]*m//g')
s=$(echo "$line" | sed -n 's/^\([0-9]*\) success.*/\1/p'); s=${s:-0}
f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failure.*/\1/p'); f=${f:-0}
e=$(echo "$line" | sed -n 's/.* \([0-9]*\) error.*/\1/p'); e=${e:-0}
fail=$((f + e)); if [ $rc -ne 0 ] && [ $fail -eq 0 ]; then fail=1; fi
echo "lua: $s passed, $fail failed"
[ $fail -eq 0 ]
