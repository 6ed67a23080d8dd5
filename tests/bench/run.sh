#!/usr/bin/env bash
# make bench: runs each benchmark binary; every figure is one line "bench NAME VALUE UNIT".
set -u
cd "$(dirname "$0")/../.."
export MTS_ROOT=${MTS_ROOT:-$PWD}
rc=0
for b in "$@"; do "$b" || rc=1; done
exit $rc
