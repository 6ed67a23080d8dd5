"""Bars written by the live paths read back bit-identically.

`mts stream --channels kline` (Binance and Bybit wire formats, the stand-in
exchange tests/e2e/exchange_server.py KlineServer) and `mts run` store every
closed kline as a bar of the series <exchange>:<SYMBOL> (binance:BTCUSDT) at
the kline's interval. The bars are read back with `mts export ohlcv` and each
value is compared by its 64 bits with the double of the decimal text the
stand-in sent — computed here from the sample file
(../shared/data/crypto/intraday/BTCUSDT_1m_bybit_linear.csv, real 1-minute
bars) with Python's float(), not by the code under test. A dropped
connection (the resent klines are duplicates) still leaves each bar once;
open (non-final) klines are never stored; the recorded series never touches
another asset's; `mts backtest --asset binance:BTCUSDT` runs on it."""
import csv
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange_server as xs  # noqa: E402
from mtslib import MTS, ROOT, MtsTestCase  # noqa: E402

SAMPLE = os.path.join(ROOT, "..", "shared", "data", "crypto", "intraday", "BTCUSDT_1m_bybit_linear.csv")
BARS = xs.read_kline_csv(SAMPLE)
ENV = {"MTS_WS_BACKOFF_MS": "100", "MTS_LOG_LEVEL": "info"}


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", float(x)))[0]


def expected(bars):
    """{open unix s: (bits of o, h, l, c, v)} from the sample's own text."""
    return {b[0] // 1000: tuple(bits(v) for v in b[1:6]) for b in bars}


class BarsPathsLiveTest(MtsTestCase):

    def serve(self, exchange, bars, **kw):
        srv = xs.KlineServer(exchange, {"BTCUSDT": bars}, interval="1m", **kw).start()
        self.addCleanup(srv.stop)
        return srv

    def read_back(self, asset="binance:BTCUSDT", interval="1m"):
        r = self.mts("export", "ohlcv", "--asset", asset, "--interval", interval, "--db", self.db)
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        out = {}
        for row in rows:
            ts = row.get("timestamp") or row.get("ts") or row.get("time")
            self.assertIsNotNone(ts, "export header: %s" % list(row))
            t = int(ts) if ts.isdigit() else int(__import__("datetime").datetime.fromisoformat(
                ts.replace("Z", "+00:00")).timestamp())
            self.assertNotIn(t, out, "bar %d stored twice" % t)
            out[t] = tuple(bits(row[k]) for k in ("open", "high", "low", "close", "volume"))
        return out

    def stream(self, srv, exchange, n):
        env = dict(os.environ, **ENV)
        env["BINANCE_WS_URL" if exchange == "binance" else "BYBIT_WS_URL"] = srv.ws_url()
        env["MTS_ROOT"] = ROOT
        p = subprocess.Popen([MTS, "stream", "--exchange", exchange, "--symbols", "BTCUSDT", "--channels", "kline",
                              "--interval", "1m", "--db", self.db, "--json", "--duration", "60s"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            end = time.time() + 50
            while srv.sent_final < n and time.time() < end and p.poll() is None:
                time.sleep(0.05)
            time.sleep(1.5)               # the stream flushes every second
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertEqual(p.returncode, 0, err[-3000:])
        self.assertEqual(srv.sent_final, n, "the stand-in sent every bar")
        return json.loads(out), err

    def check_stream(self, exchange):
        n = 90
        bars = BARS[:n]
        srv = self.serve(exchange, bars, warm=0, pace=0.01, updates=2, drop_at=50, skip=0, resend=3)
        s, err = self.stream(srv, exchange, n)
        # each closed kline written once, the 3 resent after the reconnect again (an upsert)
        self.assertGreaterEqual(s["bars_stored"], n, err[-2000:])
        self.assertLessEqual(s["bars_stored"], n + 3, err[-2000:])
        self.assertEqual(s["reconnects"], 1)
        got = self.read_back(exchange + ":BTCUSDT")
        self.assertEqual(got, expected(bars))   # every value, bit for bit; nothing else (no open kline)
        # the recorded series is its own: no other asset or interval was written
        r = self.mts("export", "ohlcv", "--asset", "bitcoin", "--interval", "1m", "--db", self.db, expect=None)
        self.assertNotIn(str(bars[0][0] // 1000), r.stdout)

    def test_stream_binance_klines_read_back_bit_identical(self):
        self.check_stream("binance")

    def test_stream_bybit_klines_read_back_bit_identical(self):
        self.check_stream("bybit")

    def test_run_bars_read_back_bit_identical_and_backtest_on_them(self):
        warm, live = 20, 100
        bars = BARS[:warm + live]
        srv = self.serve("binance", bars, warm=warm, pace=0.005, updates=1)
        r = self.mts("run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT",
                     "--interval", "1m", "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(),
                     "--warmup", str(warm), "--max-bars", str(live), "--redis", "none", "--json",
                     env=dict(ENV), timeout=120)
        s = json.loads(r.stdout.splitlines()[-1])
        self.assertEqual(s["live_bars"], live)
        self.assertGreater(s["latency_us"]["samples"], 0)
        # the session's live bars (not its warm-up, which it did not trade) in the series
        self.assertEqual(self.read_back(), expected(bars[warm:]))
        # and a backtest runs on the recorded series
        bt = self.mts("backtest", "--strategy", "sma_cross", "--asset", "binance:BTCUSDT", "--interval", "1m",
                      "--param", "fast=5", "--param", "slow=20", "--json", "--db", self.db)
        out = json.loads(bt.stdout)
        self.assertIn("binance:BTCUSDT", json.dumps(out))


if __name__ == "__main__":
    unittest.main()
