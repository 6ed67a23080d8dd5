"""mts run with books, perps and funding (issue 12): a paper session trades the
same books, instruments, margin and funding as `mts backtest`.

Each test streams real hourly BTCUSDT bars (tests/fixtures/live) from the
stand-in exchange (exchange_server.KlineServer), then backtests the series the
session stored (`binance:BTCUSDT` at 1h, in the session's database) and
compares. The funding a perp session pays is also summed here, in Python, from
the funding rows the test imported and the session's own fills."""
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange_server as xs  # noqa: E402
from mtslib import MTS, ROOT, MtsTestCase, parse_time  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "live",
                       "BTCUSDT_1h_2021-01.csv")
BARS = xs.read_kline_csv(FIXTURE)
ENV = {"MTS_WS_BACKOFF_MS": "100", "MTS_LOG_LEVEL": "info"}
SERIES = "binance:BTCUSDT"      # what the session stores its bars as (live.h)


class RunBooksTest(MtsTestCase):

    def setUp(self):
        super().setUp()
        # a private root: a second strategy (sma_cross with other windows) and the
        # perp's instrument also under the backtest's asset name (the stored series)
        self.root = self.make_root()
        st = os.path.join(self.root, "scripts", "strategies")
        shutil.copy(os.path.join(st, "sma_cross.lua"), os.path.join(st, "sma_fast.lua"))
        cs = os.path.join(self.root, "config", "strategies")
        with open(os.path.join(cs, "sma_cross.json")) as f:
            c = json.load(f)
        c["fast"], c["slow"] = 4, 12
        with open(os.path.join(cs, "sma_fast.json"), "w") as f:
            json.dump(c, f)
        cfg_path = os.path.join(self.root, "config", "mts.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["instruments"][SERIES] = cfg["instruments"]["bitcoin"]
        self.perp = cfg["instruments"]["bitcoin"]["perp"]
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        self.env = dict(ENV, MTS_ROOT=self.root)

    def session(self, n, *extra, strategy="sma_cross"):
        srv = xs.KlineServer("binance", {"BTCUSDT": BARS[:n]}, interval="1h", warm=0, pace=0.002).start()
        self.addCleanup(srv.stop)
        r = self.mts("run", "--strategy", strategy, "--exchange", "binance", "--symbol", "BTCUSDT",
                     "--interval", "1h", "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(),
                     "--warmup", "0", "--max-bars", str(n), "--json", *extra, env=self.env, timeout=120)
        lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
        summary = lines[-1]
        self.assertEqual(summary["type"], "session", r.stdout[-2000:])
        self.assertEqual(summary["status"], "stopped")
        self.assertEqual(summary["live_bars"], n)
        self.assertEqual(summary["disabled"], [], r.stderr[-2000:])
        return summary, lines, r

    def backtest(self, *args):
        """mts backtest over the session's stored series: (--json, closed trades)."""
        tr = os.path.join(self.tmp, "trades.csv")
        r = self.mts("backtest", "--asset", SERIES, "--interval", "1h", "--db", self.db, "--trades", tr,
                     "--json", *args, env=self.env)
        with open(tr) as f:
            trades = list(csv.DictReader(f))
        return json.loads(r.stdout), trades

    def q(self, sql, *args):
        con = sqlite3.connect(self.db)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def expected_fills(self, trades):
        """Each closed trade of the backtest is an entry fill and an exit fill."""
        out = []
        for t in trades:
            side_in, side_out = ("buy", "sell") if t["side"] == "long" else ("sell", "buy")
            out.append((parse_time(t["entry_time"]), side_in, float(t["qty"]), float(t["entry_price"])))
            out.append((parse_time(t["exit_time"]), side_out, float(t["qty"]), float(t["exit_price"])))
        return sorted(out, key=lambda x: x[0])

    def assert_same_fills(self, got, want, what):
        self.assertGreaterEqual(len(want), 4, "%s: the slice must make it trade" % what)
        self.assertIn(len(got), (len(want), len(want) + 1), what)   # + a position still open at the end
        for g, w in zip(got, want):
            self.assertEqual(g[0], w[0], what)
            self.assertEqual(g[1], w[1], what)
            self.assertAlmostEqual(g[2], w[2], delta=1e-9 * w[2], msg=what)
            self.assertAlmostEqual(g[3], w[3], delta=1e-9 * w[3], msg=what)

    # ---- (1) two strategies, independent books -------------------------------------------

    def test_independent_books_equal_the_backtest(self):
        n = 300
        summary, lines, r = self.session(n, "--mode", "independent", "--allocate", "sma_cross=0.6,sma_fast=0.4",
                                         strategy="sma_cross,sma_fast")
        self.assertEqual(summary["mode"], "independent")
        self.assertEqual(summary["market"], "spot")
        books = summary["books"]
        self.assertEqual([(b["book"], b["strategy"], b["allocation"]) for b in books],
                         [(0, "sma_cross", 0.6), (1, "sma_fast", 0.4)])
        # the books' initial capital is their share of 100000 (the default capital)
        self.assertEqual([b["initial"] for b in books], [60000.0, 40000.0])
        # the account is the books (no unallocated cash): to the cent
        self.assertAlmostEqual(summary["final_equity"], books[0]["final"] + books[1]["final"], delta=0.005)

        bt, trades = self.backtest("--strategy", "sma_cross,sma_fast", "--mode", "independent",
                                   "--allocate", "sma_cross=0.6,sma_fast=0.4")
        self.assertEqual(bt["mode"], "independent")
        for k, name in enumerate(("sma_cross", "sma_fast")):
            got = self.q("SELECT ts, side, qty, price FROM paper_fills WHERE book = ? ORDER BY id", k)
            who = self.q("SELECT DISTINCT strategy FROM paper_fills WHERE book = ?", k)
            self.assertEqual(who, [(name,)])
            want = self.expected_fills([t for t in trades if t["strategy"] == name])
            self.assert_same_fills(got, want, name)
            # the book's equity and fees at the end: the backtest's book
            bb = [b for b in bt["books"] if b["strategy"] == name][0]
            self.assertAlmostEqual(books[k]["final"], bb["final"], delta=2e-6)
            self.assertAlmostEqual(books[k]["fees"], bb["fees"], delta=2e-9)
        self.assertAlmostEqual(summary["final_equity"], bt["final_value"], delta=2e-6)
        # the JSON fill lines say their book and strategy too
        fl = [x for x in lines if x["type"] == "fill"]
        self.assertEqual(len(fl), self.q("SELECT COUNT(*) FROM paper_fills")[0][0])
        self.assertEqual({(x["book"], x["strategy"]) for x in fl}, {(0, "sma_cross"), (1, "sma_fast")})
        # the banner (table mode) names every strategy: checked on the help-free path below
        self.assertEqual(self.q("SELECT strategies FROM paper_sessions")[0][0], "sma_cross,sma_fast")

    # ---- (2) a perp session pays the stored funding --------------------------------------

    def test_perp_funding_equals_independent_sum_and_backtest(self):
        n = 240   # 10 days of hours: 30 settlements (00:00, 08:00, 16:00 UTC)
        t0 = BARS[0][0] // 1000
        times = [b[0] // 1000 for b in BARS[:n]]
        settle = [t for t in times if t % (8 * 3600) == 0 and t > t0]
        self.assertEqual(len(settle), 29)
        # rates whose sign changes, settlement rows only (Binance's history stamps them a
        # few ms late: 2 ms here, settled at the whole second, market/funding.h)
        rates = {}
        for i, t in enumerate(settle):
            rates[t] = (0.0001 * (1 + i % 4)) * (-1 if i % 5 == 2 else 1)
        fcsv = os.path.join(self.tmp, "funding.csv")
        with open(fcsv, "w") as f:
            f.write("ts,rate\n")
            for t in settle:
                f.write("%d,%r\n" % (t * 1000 + 2, rates[t]))
        self.mts("import", "funding", fcsv, "--symbol", "BTCUSDT", "--exchange", "binance", "--db", self.db,
                 env=self.env)

        summary, lines, r = self.session(n, "--market", "perp", "--leverage", "2", "--max-position", "0.5")
        self.assertEqual((summary["market"], summary["leverage"]), ("perp", 2))
        self.assertEqual(summary["funding_events"], len(settle))

        # independently: the position held just before each settlement (the sum of the
        # fills of earlier bars; a settlement is paid at its bar before that bar's fills),
        # times the close of the bar before it, times the rate
        fills = self.q("SELECT ts, side, qty, price, book, strategy, reason FROM paper_fills ORDER BY id")
        self.assertGreaterEqual(len(fills), 4, "the slice must make sma_cross trade")
        close = {b[0] // 1000: float(b[4]) for b in BARS[:n]}
        want, paid_on = 0.0, 0
        for t in settle:
            pos = sum((q if side == "buy" else -q) for ts, side, q, *_ in fills if ts < t)
            if abs(pos) > 1e-12:
                paid_on += 1
                want += -pos * close[t - 3600] * rates[t]
        self.assertGreaterEqual(paid_on, 3, "the position must be open over some settlements")
        self.assertNotEqual(want, 0)
        self.assertAlmostEqual(summary["funding"], want, delta=1e-9 * max(1.0, abs(want)))
        self.assertAlmostEqual(summary["books"][0]["funding"], want, delta=1e-9 * max(1.0, abs(want)))
        # fees are the perp's taker fee on market fills: qty * price * taker_bps / 1e4
        fees = sum(q * p * self.perp["taker_fee_bps"] / 1e4 for _, _, q, p, *_ in fills)
        self.assertAlmostEqual(summary["fees"], fees, delta=1e-9 * fees)
        # the stored fills know their story
        self.assertEqual({(f[4], f[5], f[6]) for f in fills}, {(0, "sma_cross", "signal")})
        # the closed part's funding share is on its closing fill: all of it once flat
        stored = self.q("SELECT SUM(funding) FROM paper_fills")[0][0]
        if abs(sum((q if s == "buy" else -q) for _, s, q, *_ in fills)) < 1e-12:
            self.assertAlmostEqual(stored, want, delta=1e-9 * abs(want))

        # the backtest of the stored bars, with the same stored funding rows
        bt, trades = self.backtest("--strategy", "sma_cross", "--market", "perp", "--leverage", "2",
                                   "--max-position", "0.5")
        self.assertEqual(bt["market"], "perp")
        self.assertAlmostEqual(bt["funding"], summary["funding"], delta=1e-9 * abs(want))
        self.assertAlmostEqual(bt["final_value"], summary["final_equity"], delta=2e-6)
        self.assert_same_fills([f[:4] for f in fills], self.expected_fills(trades), "perp")
        # equity at every bar: the backtest's curve
        eq = self.q("SELECT ts, equity FROM paper_equity ORDER BY ts")
        self.assertEqual([t for t, _ in eq], times)
        eq_csv = os.path.join(self.tmp, "eq.csv")
        self.mts("backtest", "--asset", SERIES, "--interval", "1h", "--db", self.db, "--strategy", "sma_cross",
                 "--market", "perp", "--leverage", "2", "--max-position", "0.5", "--equity", eq_csv, "--quiet",
                 env=self.env)
        with open(eq_csv) as f:
            bt_eq = [(parse_time(x["timestamp"]), float(x["equity"])) for x in csv.DictReader(f)]
        self.assertEqual([t for t, _ in bt_eq], times)
        for (t, a), (_, b) in zip(eq, bt_eq):
            self.assertAlmostEqual(a, b, delta=2e-6, msg="equity at %d" % t)

    def test_rates_stored_during_the_session_are_paid(self):
        # the session starts with no funding rows; they are imported while it runs (as
        # `mts stream --channels funding` would record them) for settlements in its later
        # bars, and the refresh (MTS_MACRO_REFRESH_S) hands them to the engine in time
        n = 240
        times = [b[0] // 1000 for b in BARS[:n]]
        settle = [t for t in times[150:] if t % (8 * 3600) == 0]
        rates = {t: 0.0003 * (1 if i % 2 else -1) for i, t in enumerate(settle)}
        fcsv = os.path.join(self.tmp, "funding.csv")
        with open(fcsv, "w") as f:
            f.write("ts,rate\n")
            for t in settle:
                f.write("%d,%r\n" % (t * 1000, rates[t]))
        # one old settlement stored before: the bundled history is not imported on first use
        # (store/csv.h mts_store_ensure_funding: only when the symbol has no rows)
        old = os.path.join(self.tmp, "old.csv")
        with open(old, "w") as f:
            f.write("ts,rate\n%d,0.0001\n" % (parse_time("2020-06-01T00:00:00Z") * 1000))
        self.mts("import", "funding", old, "--symbol", "BTCUSDT", "--exchange", "binance", "--db", self.db,
                 env=self.env)
        srv = xs.KlineServer("binance", {"BTCUSDT": BARS[:n]}, interval="1h", warm=0, pace=0.04,
                             start_delay=1.0).start()
        self.addCleanup(srv.stop)
        env = dict(os.environ, **self.env, MTS_MACRO_REFRESH_S="0.1")
        env.pop("DATABASE_PATH", None)
        p = subprocess.Popen([MTS, "run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT",
                              "--interval", "1h", "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url",
                              srv.rest_url(), "--warmup", "0", "--max-bars", str(n), "--json", "--market", "perp",
                              "--leverage", "2", "--max-position", "0.5"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        deadline = time.time() + 30
        while time.time() < deadline:   # the session row exists: it has started
            if os.path.exists(self.db):
                try:
                    if self.q("SELECT COUNT(*) FROM paper_sessions")[0][0]:
                        break
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.05)
        self.mts("import", "funding", fcsv, "--symbol", "BTCUSDT", "--exchange", "binance", "--db", self.db,
                 env=self.env)
        imported_at = self.q("SELECT COALESCE(MAX(open_ms), 0) FROM live_bars")[0][0]
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err[-2000:])
        self.assertLess(imported_at, settle[0] * 1000, "the rows must be stored before their bars run")
        summary = json.loads(out.splitlines()[-1])
        self.assertEqual(summary["live_bars"], n)
        self.assertEqual(summary["funding_events"], 1 + len(settle))
        self.assertIn("live.funding_refreshed", err)
        self.assertNotIn("live.funding_late", err)
        fills = self.q("SELECT ts, side, qty FROM paper_fills ORDER BY id")
        close = {b[0] // 1000: float(b[4]) for b in BARS[:n]}
        want, paid_on = 0.0, 0
        for t in settle:
            pos = sum((q if side == "buy" else -q) for ts, side, q in fills if ts < t)
            if abs(pos) > 1e-12:
                paid_on += 1
                want += -pos * close[t - 3600] * rates[t]
        self.assertGreaterEqual(paid_on, 2, "the position must be open over some settlements")
        self.assertAlmostEqual(summary["funding"], want, delta=1e-9 * abs(want))
        bt, _ = self.backtest("--strategy", "sma_cross", "--market", "perp", "--leverage", "2", "--max-position", "0.5")
        self.assertAlmostEqual(bt["funding"], summary["funding"], delta=1e-9 * abs(want))
        self.assertAlmostEqual(bt["final_value"], summary["final_equity"], delta=2e-6)

    # ---- the table: banner and books -------------------------------------------------------

    def test_banner_and_table_name_every_strategy(self):
        n = 120
        srv = xs.KlineServer("binance", {"BTCUSDT": BARS[:n]}, interval="1h", warm=0, pace=0.002).start()
        self.addCleanup(srv.stop)
        r = self.mts("run", "--strategy", "sma_cross,sma_fast", "--exchange", "binance", "--symbol", "BTCUSDT",
                     "--interval", "1h", "--db", self.db, "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(),
                     "--warmup", "0", "--max-bars", str(n), env=self.env, timeout=120)
        first = r.stdout.splitlines()[0]
        self.assertIn("sma_cross,sma_fast on binance BTCUSDT 1h", first)
        self.assertIn("independent mode, spot", first)
        self.assertIn("books: sma_cross 50 % sma_fast 50 %", r.stdout)
        self.assertIn("book sma_cross", r.stdout)
        self.assertIn("book sma_fast", r.stdout)

    def test_allocate_needs_independent_mode(self):
        r = self.mts("run", "--strategy", "sma_cross,sma_fast", "--exchange", "binance", "--symbol", "BTCUSDT",
                     "--interval", "1h", "--db", self.db, "--mode", "vote", "--allocate", "sma_cross=0.5",
                     env=self.env, expect=2)
        self.assertIn("--allocate", r.stderr)
        r = self.mts("run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT",
                     "--interval", "1h", "--db", self.db, "--market", "futures", env=self.env, expect=2)
        self.assertIn("--market is spot or perp", r.stderr)


if __name__ == "__main__":
    unittest.main()
