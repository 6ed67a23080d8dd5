"""mts run with the macro-aware strategies: a paper session of mean_reversion and
of vix_correlation equals `mts backtest` over the same bars.

Both strategies compute their indicators bar by bar (streaming, scripts/lib/mts.lua
over runtime/indicators/ta.c), so a session that receives the bars one at a
time from the stand-in exchange (exchange_server.KlineServer) must make the
same decisions as a backtest that has every bar from the start: the same
signals, the same fills (time, side, quantity, price) and the same equity at
every bar. The bars are the 400 real hourly BTCUSDT bars of
tests/fixtures/live (2021-01-01 .. 2021-01-17); the VIX is the CBOE daily
close from data/macro for 2020-10-01 .. 2021-01-31, imported (`mts import
macro`) into the session's database and into the backtest's, so both see the
same series (as-of aligned to each bar's open time). Every process has a time
limit; the server listens on a port the OS picks on 127.0.0.1."""
import csv
import datetime as dt
import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange_server as xs  # noqa: E402
from mtslib import ROOT, MtsTestCase, parse_time, run_signals  # noqa: E402

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "live", "BTCUSDT_1h_2021-01.csv")
VIX_FILE = os.path.join(ROOT, "data", "macro", "VIX_History_cboe.csv")
BARS = xs.read_kline_csv(FIXTURE)
ENV = {"MTS_WS_BACKOFF_MS": "100", "MTS_LOG_LEVEL": "info"}

# vix_correlation on hourly bars: the daily VIX changes once a day, so the
# 30-bar correlation rarely reaches the default +-0.6; at +-0.3 these bars give
# LONG/SHORT/CLOSE signals and trades (checked below, so the test means something).
VIXCORR_PARAMS = ["--param", "correlation_thresholds.strong_negative=-0.3",
                  "--param", "correlation_thresholds.strong_positive=0.3"]


def vix_slice(path):
    """The bundled CBOE file cut to 2020-10-01 .. 2021-01-31 (the same format)."""
    lo, hi = dt.date(2020, 10, 1), dt.date(2021, 1, 31)
    with open(VIX_FILE, newline="") as f, open(path, "w", newline="") as g:
        r = csv.reader(f)
        w = csv.writer(g)
        w.writerow(next(r))
        n = 0
        for row in r:
            m, d, y = (int(x) for x in row[0].split("/"))
            if lo <= dt.date(y, m, d) <= hi:
                w.writerow(row)
                n += 1
    return n


class RunStrategiesTest(MtsTestCase):

    def setUp(self):
        super().setUp()
        self.vix = os.path.join(self.tmp, "vix.csv")
        self.assertGreater(vix_slice(self.vix), 80)

    def q(self, db, sql, *args):
        con = sqlite3.connect(db)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def import_vix(self, db):
        self.mts("import", "macro", self.vix, "--indicator", "VIX", "--db", db)

    def session(self, strategy, n, params, warm=0):
        """A paper session over BARS[:n] (the first `warm` as REST warm-up)."""
        self.import_vix(self.db)
        srv = xs.KlineServer("binance", {"BTCUSDT": BARS[:n]}, interval="1h", warm=warm,
                             pace=0.002).start()
        self.addCleanup(srv.stop)
        args = ["run", "--strategy", strategy, "--exchange", "binance", "--symbol", "BTCUSDT",
                "--interval", "1h", "--db", self.db, "--ws-url", srv.ws_url(),
                "--rest-url", srv.rest_url(), "--warmup", str(warm), "--max-bars", str(n - warm),
                "--json"] + params
        r = self.mts(*args, env=ENV, expect=None, timeout=180)
        lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
        self.assertTrue(lines and lines[-1]["type"] == "session", r.stdout + r.stderr[-3000:])
        summary = lines[-1]
        if any("needs the macro series VIX" in d for d in summary["disabled"]):
            self.fail("mts run did not give the strategy the stored VIX series (the live session "
                      "must load it into the engine as mts backtest does: runtime/live/live.c)\n%s"
                      % summary)
        self.assertEqual(r.returncode, 0, "session: %s\n%s" % (summary, r.stderr[-3000:]))
        self.assertEqual(summary["disabled"], [], summary)
        self.assertEqual(summary["status"], "stopped")
        self.assertEqual(summary["live_bars"], n - warm)
        return summary, lines

    def backtest(self, strategy, n, params):
        """mts backtest over the same n bars imported as the asset bitcoin."""
        sl = os.path.join(self.tmp, "slice.csv")
        with open(FIXTURE) as f, open(sl, "w") as g:
            for k, line in enumerate(f):
                if k <= n:
                    g.write(line)
        bdb = os.path.join(self.tmp, "bt.db")
        if "--interval" not in self.mts("backtest", "--help").stdout:   # hourly bars are the 1h series (issue 10)
            self.skipTest("needs mts backtest --interval (issue 10, another part)")
        self.mts("import", "csv", sl, "--asset", "bitcoin", "--interval", "1h", "--db", bdb)
        self.import_vix(bdb)
        eq_csv, tr_csv = os.path.join(self.tmp, "eq.csv"), os.path.join(self.tmp, "tr.csv")
        r = self.mts("backtest", "--strategy", strategy, "--asset", "bitcoin", "--interval", "1h", "--db", bdb,
                     "--equity", eq_csv, "--trades", tr_csv, "--json", "--quiet", *params)
        res = json.loads(r.stdout)
        with open(eq_csv) as f:
            eq = [(parse_time(x["timestamp"]), float(x["equity"])) for x in csv.DictReader(f)]
        with open(tr_csv) as f:
            trades = list(csv.DictReader(f))
        # the backtest's signals, stored with its run (backtest_signals)
        sigs = [(g["ts"], g["type"], g["price"], g["confidence"]) for g in run_signals(bdb, res["id"])
                if g["strategy"] == strategy]
        return res, eq, trades, sigs

    def same_as_backtest(self, strategy, params, min_trades):
        n = len(BARS)
        summary, _ = self.session(strategy, n, params)
        res, bt_eq, trades, bt_sigs = self.backtest(strategy, n, params)
        self.assertGreaterEqual(len(trades), min_trades, "these bars must make %s trade" % strategy)

        # equity at every bar
        paper_eq = self.q(self.db, "SELECT ts, equity FROM paper_equity ORDER BY ts")
        self.assertEqual(len(paper_eq), n)
        self.assertEqual([b[0] // 1000 for b in BARS], [t for t, _ in paper_eq])
        self.assertEqual([t for t, _ in paper_eq], [t for t, _ in bt_eq])
        for (t, a), (_, b) in zip(paper_eq, bt_eq):
            self.assertAlmostEqual(a, b, delta=2e-6, msg="equity at %d" % t)

        # fills: each closed trade of the backtest is an entry then an exit in the session
        fills = self.q(self.db, "SELECT ts, side, qty, price FROM paper_fills ORDER BY id")
        expect = []
        for t in trades:
            qty = float(t["qty"])
            side_in, side_out = ("buy", "sell") if t.get("side", "long").lower() != "short" else ("sell", "buy")
            expect.append((parse_time(t["entry_time"]), side_in, abs(qty), float(t["entry_price"])))
            expect.append((parse_time(t["exit_time"]), side_out, abs(qty), float(t["exit_price"])))
        self.assertIn(len(fills), (len(expect), len(expect) + 1))   # + a position still open
        self.assertEqual(len(fills), res["fills"])
        for got, want in zip(fills, expect):
            self.assertEqual(got[0], want[0])
            self.assertEqual(got[1], want[1])
            self.assertAlmostEqual(got[2], want[2], delta=1e-9 * want[2])
            self.assertAlmostEqual(got[3], want[3], delta=1e-9 * want[3])

        # signals: the same bars, types, prices and confidences
        live_sigs = self.q(self.db, "SELECT timestamp, signal_type, price, confidence FROM signal_history "
                                    "WHERE strategy_name = ? ORDER BY id", strategy)
        self.assertEqual(len(live_sigs), res["signals"])
        self.assertEqual(len(live_sigs), len(bt_sigs))
        for a, b in zip(live_sigs, bt_sigs):
            self.assertEqual(a[:2], b[:2])
            self.assertAlmostEqual(a[2], b[2], delta=1e-9 * abs(b[2]))
            self.assertAlmostEqual(a[3], b[3], delta=1e-12)
        self.assertAlmostEqual(summary["final_equity"], bt_eq[-1][1], delta=2e-6)
        return live_sigs, fills

    def test_mean_reversion_session_equals_backtest(self):
        # issue 10: a daily VIX close is known at the end of its day, so an hourly
        # bar sees the close of the last day that ended by the bar's end (before,
        # it saw the close of its own day from 00:00: ~21 h early). These bars'
        # VIX then stays under 25 when BTC is down 10 %; 22 makes them trade.
        sigs, fills = self.same_as_backtest("mean_reversion", ["--param", "vix_spike_threshold=22"], 1)
        # an independent look at the entry: VIX as of the signal bar above 22 (the
        # CBOE close of the last date that ended by the bar's end)
        first = sigs[0]
        self.assertEqual(first[1], "LONG")
        t = parse_time(first[0]) if isinstance(first[0], str) else int(first[0])
        vix = None
        with open(self.vix, newline="") as f:
            for row in csv.DictReader(f):
                m, d, y = (int(x) for x in row["DATE"].split("/"))
                end = dt.datetime(y, m, d, tzinfo=dt.timezone.utc).timestamp() + 86400
                if end <= t + 3600:
                    vix = float(row["CLOSE"])
        self.assertIsNotNone(vix)
        self.assertGreater(vix, 22.0)
        # the market entry fills at the open of the bar after the signal's
        times = [b[0] // 1000 for b in BARS]
        idx = times.index(fills[0][0])
        self.assertEqual(idx, times.index(t) + 1)
        self.assertEqual(fills[0][1], "buy")
        self.assertEqual(fills[0][3], float(BARS[idx][1]))

    def test_vix_correlation_session_equals_backtest(self):
        sigs, _ = self.same_as_backtest("vix_correlation", VIXCORR_PARAMS, 2)
        kinds = {s[1] for s in sigs}
        self.assertTrue(kinds & {"LONG", "SHORT"}, sigs)
        self.assertIn("CLOSE", kinds, sigs)

    def test_warm_up_state_carries_into_the_session(self):
        """With a REST warm-up the strategy's indicators are fed the history bar
        by bar before trading: the session's signals after the warm-up are the
        backtest's signals on those bars (vix_correlation's first signal comes
        after bar 100 and it holds no position before, so the runs agree)."""
        n, warm = len(BARS), 100
        _, lines = self.session("vix_correlation", n, VIXCORR_PARAMS, warm=warm)
        _, _, _, bt_sigs = self.backtest("vix_correlation", n, VIXCORR_PARAMS)
        first_ts = BARS[warm][0] // 1000
        bt_after = [s for s in bt_sigs if self.ts_of(s[0]) >= first_ts]
        self.assertEqual(len(bt_after), len(bt_sigs), "the warm-up bars must hold no backtest signal")
        live = [(x["ts"], x["signal_type"]) for x in lines if x.get("type") == "signal"]
        self.assertEqual(live, [(self.ts_of(s[0]), s[1]) for s in bt_after])
        self.assertGreater(len(live), 0)

    @staticmethod
    def ts_of(v):
        return parse_time(v) if isinstance(v, str) else int(v)


if __name__ == "__main__":
    unittest.main()
