#!/usr/bin/env python3
"""bench_live: `mts run` kline -> order latency on loopback.

The stand-in exchange (tests/e2e/exchange_server.py KlineServer) replays real
1-minute BTCUSDT bars (../shared/data/crypto/intraday/BTCUSDT_1m_bybit_linear.csv)
as Binance kline frames (wire format of ../shared/data/samples/binance_spot/kline_1m.json),
one closed kline every PACE seconds after one in-progress update, to `mts run
--strategy sma_cross` over N live bars (default 2000, after 100 warm-up bars).

What is measured (by the process itself, docs/live.md "Kline -> order latency"):
from the websocket client handing the complete kline frame to the feed code
(before JSON decode) to the step that kline closes having run every strategy
and submitted its orders to the engine (before anything is stored, published
or printed). The session summary's "latency_us" gives p50/p99/max of every
step (a fixed histogram, 0.1 us buckets).

Baseline (the _baseline lines, a second session in the same run): the same
binary with MTS_JIT_LIVE=default, i.e. LuaJIT's own trace thresholds instead
of the session's (scripts/lib/runner.lua LIVE_JIT: side traces compiled at the
second exit, so the rare signal steps stop running in the interpreter).
Prints: bench run_kline_to_order_{p50,p99,max}_us and the number of steps,
then the same with the _baseline suffix.
BENCH_LIVE_BARS, BENCH_LIVE_PACE (s between klines), BENCH_LIVE_ARGS (extra
mts run arguments) and BENCH_LIVE_WRAP (a command prefix, e.g. perf record --)
change the session."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import exchange_server as xs  # noqa: E402

N = int(os.environ.get("BENCH_LIVE_BARS", "2000"))
WARM = 100
PACE = float(os.environ.get("BENCH_LIVE_PACE", "0.002"))
CSV = os.path.join(ROOT, "..", "shared", "data", "crypto", "intraday", "BTCUSDT_1m_bybit_linear.csv")
MTS = os.environ.get("MTS_BIN", os.path.join(ROOT, "bin", "mts"))


def session(bars, extra_env):
    srv = xs.KlineServer("binance", {"BTCUSDT": bars}, interval="1m", warm=WARM, pace=PACE, updates=1,
                         start_delay=0.3).start()
    try:
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, MTS_ROOT=ROOT, MTS_LOG_LEVEL="warn", **extra_env)
            r = subprocess.run(os.environ.get("BENCH_LIVE_WRAP", "").split() + [MTS, "run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol",
                                "BTCUSDT", "--interval", "1m", "--db", os.path.join(d, "b.db"), "--redis", "none",
                                "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(), "--warmup", str(WARM),
                                "--max-bars", str(N), "--json"] + os.environ.get("BENCH_LIVE_ARGS", "").split(), env=env, capture_output=True, text=True,
                               timeout=600)
    finally:
        srv.stop()
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    if r.returncode != 0 or not lines or lines[-1].get("type") != "session":
        sys.stderr.write("bench_live: mts run failed (%d): %s\n" % (r.returncode, r.stderr[-2000:]))
        return None
    s = lines[-1]
    if s["live_bars"] != N:
        sys.stderr.write("bench_live: %d live bars, wanted %d\n" % (s["live_bars"], N))
        return None
    return s["latency_us"]


def main():
    bars = xs.read_kline_csv(CSV)[:WARM + N]
    if len(bars) < WARM + N:
        sys.stderr.write("bench_live: %s has %d bars, need %d\n" % (CSV, len(bars), WARM + N))
        return 1
    rc = 0
    for suffix, env in (("", {}), ("_baseline", {"MTS_JIT_LIVE": "default"})):
        lat = session(bars, env)
        if lat is None:
            rc = 1
            continue
        for k in ("p50", "p99", "max"):
            print("bench run_kline_to_order_%s_us%s %.1f us" % (k, suffix, lat[k]))
        print("bench run_kline_to_order_samples%s %d steps" % (suffix, lat["samples"]))
        sys.stdout.flush()
    return rc


if __name__ == "__main__":
    sys.exit(main())
