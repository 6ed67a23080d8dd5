"""mts run with several symbols: step alignment (runtime/live/live.c, docs/live.md
"Multi-symbol steps").

A backtest runs one step per timestamp with every asset's bar in it; on a live
feed BTCUSDT's bar of a day arrives before ETHUSDT's. Without alignment the
engine runs the step with BTC alone (aggregation and risk sizing against ETH's
previous mark), then again when ETH's bar comes. With alignment the bars are
held until every symbol has its bar (or a grace has passed) and the step runs
once, as in the backtest.

The bars are real: 300 daily Binance spot klines of BTCUSDT and ETHUSDT from
2021-01-01 (tests/fixtures/live, provenance in its README); the stand-in
(exchange_server.KlineServer) sends each day's ETHUSDT kline `lag` seconds after
BTCUSDT's. sma_cross sizes its buys by the risk rules (10 % of equity, gross
exposure capped at 25 %), so every fill depends on the marks of both assets
when the step's signals are sized. Every process runs with a time limit; the
server listens on a port the OS picks on 127.0.0.1."""
import csv
import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange_server as xs  # noqa: E402
from mtslib import MtsTestCase, parse_time  # noqa: E402

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "live")
FILES = {"BTCUSDT": os.path.join(FIX, "BTCUSDT_1d_2021.csv"), "ETHUSDT": os.path.join(FIX, "ETHUSDT_1d_2021.csv")}
ASSETS = {"BTCUSDT": "bitcoin", "ETHUSDT": "ethereum"}   # config/mts.json datasets
BARS = {s: xs.read_kline_csv(p) for s, p in FILES.items()}
ENV = {"MTS_WS_BACKOFF_MS": "100", "MTS_LOG_LEVEL": "info"}


class RunMultiTest(MtsTestCase):

    def serve(self, n, **kw):
        srv = xs.KlineServer("binance", {s: BARS[s][:n] for s in ("BTCUSDT", "ETHUSDT")}, interval="1d",
                             **kw).start()
        self.addCleanup(srv.stop)
        return srv

    def run_json(self, srv, db, *extra, expect=0):
        args = ["run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT,ETHUSDT",
                "--interval", "1d", "--db", db, "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(),
                "--json"] + list(extra)
        r = self.mts(*args, env=ENV, expect=expect, timeout=180)
        lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
        self.assertEqual(lines[-1]["type"], "session", r.stdout)
        return lines[-1], r

    @staticmethod
    def q(db, sql, *args):
        con = sqlite3.connect(db)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def backtest(self, n):
        """mts backtest over the first n bars of both fixtures (another database):
        the equity curve [(ts, equity)] and the fills [(ts, asset, side, qty, price)]
        of its trades, in time order."""
        bdb = os.path.join(self.tmp, "bt.db")
        for sym, path in FILES.items():
            sl = os.path.join(self.tmp, sym + ".csv")
            with open(path) as f, open(sl, "w") as g:
                for k, line in enumerate(f):
                    if k <= n:
                        g.write(line)
            self.mts("import", "csv", sl, "--asset", ASSETS[sym], "--db", bdb)
        eq_csv, tr_csv = os.path.join(self.tmp, "eq.csv"), os.path.join(self.tmp, "tr.csv")
        self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin,ethereum", "--db", bdb,
                 "--equity", eq_csv, "--trades", tr_csv, "--quiet")
        with open(eq_csv) as f:
            eq = [(parse_time(r["timestamp"]), float(r["equity"])) for r in csv.DictReader(f)]
        fills = []
        with open(tr_csv) as f:
            for t in csv.DictReader(f):
                fills.append((parse_time(t["entry_time"]), t["asset"], "buy", float(t["qty"]),
                              float(t["entry_price"])))
                fills.append((parse_time(t["exit_time"]), t["asset"], "sell", float(t["qty"]),
                              float(t["exit_price"])))
        return eq, sorted(fills)

    def paper(self, db):
        eq = self.q(db, "SELECT ts, equity FROM paper_equity ORDER BY ts")
        fills = sorted(self.q(db, "SELECT ts, asset, side, qty, price FROM paper_fills"))
        return eq, fills

    def assert_same(self, paper_eq, paper_fills, bt_eq, bt_fills):
        self.assertEqual([t for t, _ in paper_eq], [t for t, _ in bt_eq])
        for (t, a), (_, b) in zip(paper_eq, bt_eq):
            self.assertAlmostEqual(a, b, delta=2e-6, msg="equity at %d" % t)
        # every closed trade of the backtest is a buy and a sell in the paper session
        # (+ positions still open at the end: buys the backtest's trades do not list)
        closed = [f for f in paper_fills if (f[0], f[1], f[2]) in {(b[0], b[1], b[2]) for b in bt_fills}]
        self.assertEqual(len(closed), len(bt_fills), (paper_fills, bt_fills))
        self.assertLessEqual(len(paper_fills) - len(bt_fills), 2)
        for got, want in zip(closed, bt_fills):
            self.assertEqual(got[:3], want[:3])
            self.assertAlmostEqual(got[3], want[3], delta=1e-9 * want[3], msg=str(want))
            self.assertAlmostEqual(got[4], want[4], delta=1e-9 * want[4], msg=str(want))

    # ---- the backtest equivalence, and its failure without alignment -----------------

    def test_two_symbols_same_as_backtest(self):
        n, lag = 300, 0.03
        bt_eq, bt_fills = self.backtest(n)
        self.assertEqual(len(bt_eq), n)
        self.assertGreaterEqual(len({f[1] for f in bt_fills}), 2, "both assets must trade")
        # an independent check of one backtest fill: a market buy fills at the next bar's open
        ts0, asset0, _, _, price0 = bt_fills[0]
        sym0 = [s for s, a in ASSETS.items() if a == asset0][0]
        self.assertEqual(price0, float([b for b in BARS[sym0] if b[0] // 1000 == ts0][0][1]))

        srv = self.serve(n, warm=0, pace=0.01, lag={"ETHUSDT": lag})
        s, r = self.run_json(srv, self.db, "--warmup", "0", "--max-bars", str(2 * n))
        self.assertEqual(s["status"], "stopped")
        self.assertEqual(s["live_bars"], 2 * n)
        self.assertEqual(s["align_ms"], 3000)                 # the default for 1d: min(3000, 1d / 10)
        self.assertEqual((s["steps"], s["steps_incomplete"], s["second_passes"], s["late"]), (n, 0, 0, 0))
        self.assertNotIn("live.step_incomplete", r.stderr)
        paper_eq, paper_fills = self.paper(self.db)
        self.assertEqual(len(paper_eq), n)
        self.assert_same(paper_eq, paper_fills, bt_eq, bt_fills)
        self.assertAlmostEqual(s["final_equity"], bt_eq[-1][1], delta=2e-6)
        # the step waited for ETH: its latency (first bar of the step -> committed)
        # includes the lag
        self.assertGreaterEqual(s["latency_us"]["p50"], lag * 1e6 * 0.5)

        # the same feed without alignment: each bar runs as it arrives, BTC's step
        # first, then ETH's second pass of it; the sizes differ from the backtest's
        srv2 = self.serve(n, warm=0, pace=0.01, lag={"ETHUSDT": lag})
        db2 = os.path.join(self.tmp, "off.db")
        s2, r2 = self.run_json(srv2, db2, "--warmup", "0", "--max-bars", str(2 * n), "--align-ms", "0")
        self.assertEqual((s2["live_bars"], s2["align_ms"], s2["steps"]), (2 * n, 0, 0))
        self.assertGreaterEqual(s2["second_passes"], n // 2)   # (all of them, unless the machine stalls)
        self.assertIn('"event":"live.second_pass"', r2.stderr)
        off_eq, off_fills = self.paper(db2)
        with self.assertRaises(AssertionError):
            self.assert_same(off_eq, off_fills, bt_eq, bt_fills)

    def test_reconnect_with_gap_stays_aligned(self):
        # the connection drops; 3 days close while away (backfilled from REST, for
        # each symbol, through the pending queues), 2 are resent (duplicates)
        n = 120
        bt_eq, bt_fills = self.backtest(n)
        srv = self.serve(n, warm=0, pace=0.01, lag={"ETHUSDT": 0.02}, drop_at=70, skip=3, resend=2)
        s, r = self.run_json(srv, self.db, "--warmup", "0", "--max-bars", str(2 * n))
        self.assertEqual((s["live_bars"], s["reconnects"], s["gaps"], s["backfilled"], s["duplicates"]),
                         (2 * n, 1, 2, 6, 4))
        self.assertEqual((s["steps"], s["steps_incomplete"], s["second_passes"], s["late"]), (n, 0, 0, 0))
        paper_eq, paper_fills = self.paper(self.db)
        self.assert_same(paper_eq, paper_fills, bt_eq, bt_fills)
        for sym in ("BTCUSDT", "ETHUSDT"):
            stored = [t for (t,) in self.q(self.db, "SELECT open_ms FROM live_bars WHERE symbol=? ORDER BY open_ms",
                                           sym)]
            self.assertEqual(stored, [b[0] for b in BARS[sym][:n]])

    # ---- one symbol stops sending ------------------------------------------------------

    def test_incomplete_step_released_after_grace(self):
        n, quiet_from, grace = 40, 30, 250
        srv = self.serve(n, warm=0, pace=0.05, silence={"ETHUSDT": quiet_from})
        s, r = self.run_json(srv, self.db, "--warmup", "0", "--align-ms", str(grace),
                             "--max-bars", str(2 * quiet_from + (n - quiet_from)))
        self.assertEqual(s["status"], "stopped")
        self.assertEqual(s["align_ms"], grace)
        self.assertEqual((s["steps"], s["steps_incomplete"]), (n, n - quiet_from))
        logged = [json.loads(x) for x in r.stderr.splitlines() if '"live.step_incomplete"' in x]
        self.assertEqual(len(logged), n - quiet_from)
        for k, x in enumerate(logged):
            self.assertEqual(x["missing"], ["ETHUSDT"])
            self.assertEqual(x["open_ms"], BARS["BTCUSDT"][quiet_from + k][0])
            self.assertGreaterEqual(x["waited_ms"], grace)
        # the first one waited the grace, not much more (a service round is <= 100 ms;
        # the margin is for a loaded machine)
        self.assertLess(logged[0]["waited_ms"], grace + 1000)
        # the session went on: every BTC bar traded and stored, one equity point a day
        stored = self.q(self.db, "SELECT symbol, COUNT(*) FROM live_bars GROUP BY symbol ORDER BY symbol")
        self.assertEqual(stored, [("BTCUSDT", n), ("ETHUSDT", quiet_from)])
        self.assertEqual([t for (t,) in self.q(self.db, "SELECT ts FROM paper_equity ORDER BY ts")],
                         [b[0] // 1000 for b in BARS["BTCUSDT"][:n]])

    def test_bar_after_its_step_was_released(self):
        # ETH comes 400 ms after BTC, the grace is 150 ms: each step is released with
        # BTC alone, and ETH's bar, arriving after, is a second pass of that step
        n = 8
        srv = self.serve(n, warm=0, pace=0.01, lag={"ETHUSDT": 0.4})
        s, r = self.run_json(srv, self.db, "--warmup", "0", "--align-ms", "150", "--max-bars", str(2 * n))
        self.assertEqual((s["live_bars"], s["steps"], s["steps_incomplete"], s["second_passes"], s["late"]),
                         (2 * n, n, n, n, 0))
        passes = [json.loads(x) for x in r.stderr.splitlines() if '"live.second_pass"' in x]
        self.assertEqual([(x["symbol"], x["open_ms"]) for x in passes],
                         [("ETHUSDT", b[0]) for b in BARS["ETHUSDT"][:n]])
        stored = self.q(self.db, "SELECT symbol, COUNT(*) FROM live_bars GROUP BY symbol ORDER BY symbol")
        self.assertEqual(stored, [("BTCUSDT", n), ("ETHUSDT", n)])

    def test_align_ms_from_config(self):
        # config/mts.json "live": {"align_ms": N}; --align-ms wins; a bad value is refused
        root = self.make_root()
        cfg_path = os.path.join(root, "config", "mts.json")
        with open(cfg_path) as f:
            cfg = json.load(f)

        def with_align(v):
            cfg["live"]["align_ms"] = v
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)

        def run(db, *extra, expect=0):
            srv = self.serve(12, warm=0, pace=0.01)
            args = ["run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT,ETHUSDT",
                    "--interval", "1d", "--db", db, "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(),
                    "--warmup", "0", "--max-bars", "24", "--json"] + list(extra)
            return self.mts(*args, env=dict(ENV, MTS_ROOT=root), expect=expect, timeout=120)

        with_align(1234)
        s = json.loads(run(os.path.join(self.tmp, "a.db")).stdout.splitlines()[-1])
        self.assertEqual((s["align_ms"], s["steps"], s["live_bars"]), (1234, 12, 24))
        s = json.loads(run(os.path.join(self.tmp, "b.db"), "--align-ms", "0").stdout.splitlines()[-1])
        self.assertEqual((s["align_ms"], s["steps"], s["live_bars"]), (0, 0, 24))
        with_align(-5)
        r = run(os.path.join(self.tmp, "c.db"), expect=2)
        self.assertIn("live.align_ms must be a whole number", r.stderr)

    def test_bad_align_ms(self):
        base = ["run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT,ETHUSDT",
                "--interval", "1m"]
        for v in ("-1", "soon", "3600001"):
            r = self.mts(*base, "--align-ms", v, expect=2)
            self.assertIn("--align-ms expects a whole number", r.stderr)
        self.assertIn("--align-ms", self.mts("run", "--help").stdout)


if __name__ == "__main__":
    unittest.main()
