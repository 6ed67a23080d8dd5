#!/usr/bin/env bash
# make bench: runs each benchmark binary; every figure is one line "bench NAME VALUE UNIT".
set -u
cd "$(dirname "$0")/../.."
export MTS_ROOT=${MTS_ROOT:-$PWD}
# bench_cache needs a Redis server: a throwaway one on a free port
. tests/redis_env.sh; mts_redis_start || echo "bench: no redis-server; Redis figures skipped" >&2
rc=0
for b in "$@"; do "$b" || rc=1; done
# mts run kline -> order latency on the stand-in exchange (needs bin/mts)
python3 tests/bench/bench_live.py || rc=1
# mts optimize --redis on one vs two mts worker processes (the redis-server above)
python3 tests/bench/bench_workers.py || rc=1
# the whole commands as the user runs them (MTS_BENCH_BIG=0 skips the 10 M-bar figure)
python3 tests/bench/bench_e2e.py || rc=1
# mts optimize --jobs 1 vs 2 on a 200-run grid over 100 k minute bars (issue 13)
python3 tests/bench/bench_research.py || rc=1
exit $rc
