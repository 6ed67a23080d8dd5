"""End-to-end: `mts backtest` on the bundled data, checked against an
independent re-computation in Python that shares no code with the engine."""
import csv
import json
import math
import os
import sqlite3
import statistics
import subprocess
import sys

from mtslib import (BUNDLED, SHARED, MtsTestCase, day, equity_curve, ohlcv_rows, parse_time, put_bars, read_bars,
                    run, run_signals)


def sma_cross_reference(bars, fast, slow, capital, comm_bps, slip_bps, units=None,
                        max_position_size=0.10):
    """The sma_cross rules of issue #2, written from the spec:
    up-cross on bar i: nzd[i-1] < 0 and fast[i] > slow[i]; down-cross: nzd[i-1] > 0
    and fast[i] < slow[i]; decided at bar i's close, filled at bar i+1's open;
    long only, no pyramiding; commission = qty * rate * fill price."""
    rate, slip = comm_bps / 1e4, slip_bps / 1e4
    closes = [b[4] for b in bars]
    sums = [0.0]
    for c in closes:
        sums.append(sums[-1] + c)

    def sma(w, i):
        return (sums[i + 1] - sums[i + 1 - w]) / w if i >= w - 1 else None

    cash, pos, avg, entry_ts, entry_fee = capital, 0.0, 0.0, None, 0.0
    nzd, pending, trades, equity = None, None, [], []
    for i, (ts, o, h, l, c, v) in enumerate(bars):
        if pending:
            side, qty = pending
            pending = None
            if side == "buy":
                price = o * (1 + slip)
                fee = qty * price * rate
                cash -= qty * price + fee
                pos, avg, entry_ts, entry_fee = qty, price, ts, fee
            else:
                price = o * (1 - slip)
                fee = qty * price * rate
                cash += qty * price - fee
                trades.append({"qty": qty, "entry_time": entry_ts, "entry_price": avg,
                               "exit_time": ts, "exit_price": price,
                               "pnl": (price - avg) * qty - entry_fee - fee,
                               "fees": entry_fee + fee})
                pos = 0.0
        f, s = sma(fast, i), sma(slow, i)
        eq = cash + pos * c
        if f is not None and s is not None:
            if nzd is not None:
                if nzd < 0 and f > s and pos == 0:
                    pending = ("buy", units if units else max_position_size * eq / c)
                elif nzd > 0 and f < s and pos > 0:
                    pending = ("sell", pos)
            if f - s != 0:
                nzd = f - s
        equity.append((ts, eq))
    return trades, equity, cash + pos * closes[-1]


def metrics_reference(equity, capital):
    """Daily bars: the daily series is the equity itself."""
    vals = [e for _, e in equity]
    rets = [vals[0] / capital - 1] + [vals[i] / vals[i - 1] - 1 for i in range(1, len(vals))]
    peak, mdd = capital, 0.0
    for v in vals:
        peak = max(peak, v)
        mdd = max(mdd, (peak - v) / peak)
    sd = statistics.stdev(rets)
    years = (equity[-1][0] - equity[0][0]) / (365 * 86400)
    ann = (vals[-1] / capital) ** (1 / years) - 1
    return {"total_return": vals[-1] / capital - 1, "max_drawdown": mdd,
            "sharpe_ratio": statistics.mean(rets) / sd * math.sqrt(365),
            "volatility": sd * math.sqrt(365), "annualized_return": ann,
            "calmar_ratio": ann / mdd}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class BacktestEndToEnd(MtsTestCase):
    def check_against_reference(self, fast, slow, units, comm, slip, start, end):
        trades_csv = os.path.join(self.tmp, "trades.csv")
        equity_csv = os.path.join(self.tmp, "equity.csv")
        args = ["--strategy", "sma_cross", "--asset", "bitcoin", "--from", start, "--to", end,
                "--param", "fast=%d" % fast, "--param", "slow=%d" % slow,
                "--commission-bps", str(comm), "--slippage-bps", str(slip),
                "--trades", trades_csv, "--equity", equity_csv]
        if units:
            # units are capped by the risk limits like any order (issue 12), sma_cross's own
            # risk_management.max_position_size (0.10) too: room for them
            args += ["--param", "units=%s" % units, "--max-position", "1", "--max-portfolio-risk", "1",
                     "--param", "risk_management.max_position_size=1"]
        res, _ = self.backtest_json(*args, env={"MAX_POSITION_SIZE": "0.10"})
        bars = read_bars(BUNDLED["bitcoin"], day(start), day(end))
        ref_trades, ref_equity, ref_final = sma_cross_reference(
            bars, fast, slow, 100000.0, comm, slip, units=units)

        got = read_csv(trades_csv)
        self.assertGreater(len(ref_trades), 3, "the window should contain several crosses")
        self.assertEqual(len(got), len(ref_trades))
        for g, r in zip(got, ref_trades):
            self.assertEqual(g["asset"], "bitcoin")
            self.assertEqual(g["side"], "long")
            self.assertEqual(parse_time(g["entry_time"]), r["entry_time"])
            self.assertEqual(parse_time(g["exit_time"]), r["exit_time"])
            self.assertAlmostEqual(float(g["qty"]), r["qty"], delta=1e-9 * r["qty"])
            self.assertAlmostEqual(float(g["entry_price"]), r["entry_price"], delta=1e-8)
            self.assertAlmostEqual(float(g["exit_price"]), r["exit_price"], delta=1e-8)
            self.assertAlmostEqual(float(g["fees"]), r["fees"], delta=1e-5)
            self.assertAlmostEqual(float(g["pnl"]), r["pnl"], delta=1e-5)
        self.assertAlmostEqual(res["final_value"], ref_final, delta=0.005)  # to the cent
        self.assertEqual(res["trade_count"], len(ref_trades))

        eq = read_csv(equity_csv)
        self.assertEqual(len(eq), len(bars))
        for g, (ts, e) in zip(eq, ref_equity):
            self.assertEqual(parse_time(g["timestamp"]), ts)
            self.assertAlmostEqual(float(g["equity"]), e, delta=0.005)

        m = metrics_reference(ref_equity, 100000.0)
        for k, v in m.items():
            self.assertAlmostEqual(res[k], v, delta=1e-9 + 1e-7 * abs(v), msg=k)
        wins = [t for t in ref_trades if t["pnl"] > 0]
        self.assertAlmostEqual(res["win_rate"], len(wins) / len(ref_trades), delta=1e-12)
        gross_win = sum(t["pnl"] for t in wins)
        gross_loss = -sum(t["pnl"] for t in ref_trades if t["pnl"] < 0)
        if gross_loss > 0:
            self.assertAlmostEqual(res["profit_factor"], gross_win / gross_loss, delta=1e-9)
        return res

    def test_sma_cross_units_matches_reference(self):
        res = self.check_against_reference(10, 30, 1, 10, 0, "2020-01-01", "2024-12-31")
        self.assertEqual(res["strategy"], "sma_cross")
        self.assertEqual(res["assets"], ["bitcoin"])
        self.assertTrue(res["start"].startswith("2020-01-01"))
        self.assertTrue(res["end"].startswith("2024-12-31"))

    def test_sma_cross_risk_sized_with_slippage_matches_reference(self):
        self.check_against_reference(5, 20, None, 25, 5, "2021-01-01", "2023-06-30")

    def test_run_and_signals_are_stored(self):
        res, _ = self.backtest_json("--strategy", "sma_cross", "--asset", "ethereum",
                                    "--from", "2022-01-01", "--to", "2022-12-31")
        con = sqlite3.connect(self.db)
        row = con.execute("SELECT strategy_name, initial_capital, final_value, total_return, "
                          "trade_count FROM backtest_results WHERE id = ?", (res["id"],)).fetchone()
        self.assertEqual(row[0], "sma_cross")
        self.assertAlmostEqual(row[2], res["final_value"], delta=1e-6)
        self.assertEqual(row[4], res["trade_count"])
        # the signals are stored with the run (backtest_signals), not in signal_history (live sessions')
        sigs = run_signals(self.db, res["id"])
        self.assertEqual(len(sigs), res["signals"])
        self.assertGreater(len(sigs), 0)
        self.assertEqual({(g["strategy"], g["asset"]) for g in sigs}, {("sma_cross", "ethereum")})
        self.assertEqual([g["ts"] for g in sigs], sorted(g["ts"] for g in sigs))
        self.assertTrue(all(g["type"] in ("LONG", "SHORT", "CLOSE") for g in sigs))
        self.assertEqual(con.execute("SELECT count(*) FROM signal_history").fetchone()[0], 0)
        rep = json.loads(self.mts("report", str(res["id"]), "--json", "--db", self.db).stdout)
        self.assertEqual(rep["stored_signals"], res["signals"])
        # bundled data was imported on first use, all of it
        self.assertEqual(len(ohlcv_rows(self.db, "ethereum")), 2920)
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        self.assertEqual(mode, "wal")

    def test_multi_strategy_multi_asset_json(self):
        res, _ = self.backtest_json("--strategy", "vix_correlation,mean_reversion",
                                    "--asset", "bitcoin,ethereum,binancecoin")
        for k in ("strategy", "assets", "start", "end", "initial_capital", "final_value",
                  "total_return", "annualized_return", "sharpe_ratio", "max_drawdown",
                  "volatility", "calmar_ratio", "win_rate", "profit_factor", "trade_count"):
            self.assertIn(k, res)
        self.assertEqual(res["assets"], ["bitcoin", "ethereum", "binancecoin"])
        self.assertEqual(res["strategy"], "vix_correlation,mean_reversion")
        self.assertEqual(res["disabled"], [])
        self.assertGreaterEqual(res["max_drawdown"], 0)
        self.assertAlmostEqual(res["total_return"], res["final_value"] / 1e5 - 1, delta=1e-12)

    def test_trusted_and_sandboxed_runs_agree(self):
        args = ("--strategy", "sma_cross,mean_reversion", "--asset", "bitcoin,ethereum")
        sandboxed, _ = self.backtest_json(*args)
        trusted, _ = self.backtest_json(*args, "--trusted")
        for k in ("final_value", "trade_count", "fills", "signals", "sharpe_ratio"):
            self.assertEqual(sandboxed[k], trusted[k], k)

    def test_table_output_on_terminal_style(self):
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin",
                     "--from", "2020-01-01", "--to", "2024-12-31")
        self.assertIn("total return", r.stdout)
        self.assertIn("sharpe ratio", r.stdout)
        self.assertIn("max drawdown", r.stdout)

    def test_database_path_from_environment(self):
        other = os.path.join(self.tmp, "env.db")
        r = run(["backtest", "--strategy", "sma_cross", "--asset", "bitcoin", "--json"],
                env={"DATABASE_PATH": other})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(other))
        self.assertIn("final_value", json.loads(r.stdout))


LOCKER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
con.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("COMMIT")
print("released", flush=True)
"""


def unfinished_import(db, tmp, asset="synth", days=120):
    """A daily series of `days` bars imported under `asset`, then its import_runs
    row set back to what a killed import leaves ('running', no finished_at; the
    file is not locked, so it counts as killed: store/imports.h). Returns the
    CSV's real path, which the warning names."""
    import time
    path = os.path.join(tmp, "%s.csv" % asset)
    with open(path, "w") as f:
        f.write("date,open,high,low,close,volume\n")
        for i in range(days):
            c = 100 + (i % 23) * 2.0 - (i % 7)
            f.write("%s,%.1f,%.1f,%.1f,%.1f,10\n" % (time.strftime("%Y-%m-%d", time.gmtime(1577836800 + 86400 * i)),
                                                         c, c + 1, c - 1, c))
    r = run(["import", "csv", path, "--asset", asset, "--db", db], timeout=120)
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(db, timeout=30)
    with con:
        n = con.execute("UPDATE import_runs SET status = 'running', finished_at = NULL "
                        "WHERE kind = 'ohlcv' AND target = ?", (asset,)).rowcount
    con.close()
    assert n == 1, n
    return os.path.realpath(path)


class UnfinishedImportWarnings(MtsTestCase):
    def test_optimize_warns_once_per_run_set(self):
        """mts optimize says what mts backtest says about a series whose import
        did not finish: on stderr, once for the whole grid (not once per run)."""
        src = unfinished_import(self.db, self.tmp)
        r = self.mts("optimize", "--strategy", "sma_cross", "--asset", "synth", "--param", "fast=3,5,7",
                     "--param", "slow=20", "--db", self.db, timeout=120)
        lines = [l for l in r.stderr.splitlines() if l.startswith("warning: ") and "did not finish" in l]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(src, lines[0])
        self.assertIn("synth", lines[0])
        b = self.mts("backtest", "--strategy", "sma_cross", "--asset", "synth", "--json")
        self.assertEqual(lines[0], "warning: " + json.loads(b.stdout)["warnings"][0])


class BusyDatabase(MtsTestCase):
    """Issue 9 item 7: another process holds the database's write lock while a
    backtest stores its result. The result is never thrown away: it is stored
    once the lock is free (the wait is much longer than the 5 s per-statement
    busy timeout), or, past MTS_DB_BUSY_TIMEOUT_MS, printed with a message
    that says why it was not stored, and exit status 4."""
    ARGS = ("--strategy", "sma_cross", "--asset", "bitcoin", "--from", "2021-01-01", "--to", "2022-12-31")

    def setUp(self):
        super().setUp()
        self.lockers = []
        # the bundled bars are imported here, so the backtests below only write their result
        self.first, _ = self.backtest_json(*self.ARGS)

    def tearDown(self):
        for p in self.lockers:
            p.kill()
            p.wait()
            p.stdout.close()
        super().tearDown()

    def hold_lock(self, seconds):
        p = subprocess.Popen([sys.executable, "-c", LOCKER, self.db, str(seconds)],
                             stdout=subprocess.PIPE, text=True)
        self.lockers.append(p)
        self.assertEqual(p.stdout.readline().strip(), "locked")
        return p

    def count_runs(self):
        con = sqlite3.connect(self.db, timeout=60)
        try:
            return con.execute("SELECT count(*) FROM backtest_results").fetchone()[0]
        finally:
            con.close()

    def test_waits_for_a_writer_longer_than_the_busy_timeout(self):
        locker = self.hold_lock(7)
        res, r = self.backtest_json(*self.ARGS)
        self.assertEqual(locker.wait(timeout=60), 0)
        self.assertEqual(locker.stdout.read().strip(), "released")
        self.assertIn("store.waiting_for_lock", r.stderr)
        self.assertNotIn("stored", res)   # only an unstored result says "stored": false
        self.assertGreater(res["id"], self.first["id"])
        self.assertEqual(res["final_value"], self.first["final_value"])
        con = sqlite3.connect(self.db)
        row = con.execute("SELECT final_value FROM backtest_results WHERE id = ?", (res["id"],)).fetchone()
        con.close()
        n_eq = len(equity_curve(self.db, res["id"]))
        n_first = len(equity_curve(self.db, self.first["id"]))
        self.assertEqual(row[0], res["final_value"])
        self.assertEqual(n_eq, n_first)
        self.assertEqual(n_eq, 730)   # 2021-01-01 .. 2022-12-31, daily

    def test_gives_up_prints_the_result_and_says_why(self):
        self.hold_lock(120)
        env = {"MTS_DB_BUSY_TIMEOUT_MS": "1500"}
        res, r = self.backtest_json(*self.ARGS, env=env, expect=4)
        self.assertFalse(res["stored"])
        self.assertIsNone(res["id"])
        self.assertEqual(res["final_value"], self.first["final_value"])
        self.assertEqual(res["trade_count"], self.first["trade_count"])
        self.assertIn("database is locked", res["store_error"])
        self.assertIn("NOT stored", r.stderr)
        self.assertIn("database is locked (another process is writing to %s" % self.db, r.stderr)
        self.assertIn("MTS_DB_BUSY_TIMEOUT_MS", r.stderr)
        # the table says it too
        r = self.mts("backtest", *self.ARGS, env=env, expect=4)
        self.assertIn("final value", r.stdout)
        self.assertIn("NOT stored", r.stdout)
        self.assertIn("database is locked", r.stderr)
        for p in self.lockers:
            p.kill()
            p.wait()
        self.assertEqual(self.count_runs(), 1)   # only setUp's run

    def test_bad_wait_value_is_refused(self):
        r = self.mts("backtest", *self.ARGS, env={"MTS_DB_BUSY_TIMEOUT_MS": "5m"}, expect=1)
        self.assertIn("MTS_DB_BUSY_TIMEOUT_MS", r.stderr)
        self.assertIn("'5m'", r.stderr)

    def test_optimize_keeps_the_grid_when_storing_gives_up(self):
        self.hold_lock(120)
        r = self.mts("optimize", "--strategy", "sma_cross", "--asset", "bitcoin", "--from", "2021-01-01",
                     "--to", "2022-12-31", "--param", "fast=5,10", "--db", self.db, "--json",
                     env={"MTS_DB_BUSY_TIMEOUT_MS": "500"}, expect=4)
        res = json.loads(r.stdout)
        self.assertEqual(len(res["results"]), 2)
        self.assertTrue(all(x["id"] is None for x in res["results"]))
        self.assertIn("2 of 2 runs were computed but NOT stored", r.stderr)
        self.assertIn("database is locked", r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()


LIMIT_STRATEGY = """
-- test strategy: a buy limit 3 % under the close of bar `at`, closed on bar `exit_at`
local S = {}
function S.get_parameters() return { at = 0, exit_at = 0 } end
function S.on_bar(ctx, asset, i)
    if i == ctx.params.at then
        return { signal_type = "LONG", units = 2, order_type = "LIMIT",
                 limit_price = ctx.close * 0.97 }
    elseif i == ctx.params.exit_at then
        return { signal_type = "CLOSE" }
    end
end
return S
"""


class LimitOrders(MtsTestCase):
    def test_limit_entry_fills_where_the_range_reaches_it(self):
        root = self.make_root()
        with open(os.path.join(root, "scripts/strategies/limit_dip.lua"), "w") as f:
            f.write(LIMIT_STRATEGY)
        with open(os.path.join(root, "config/strategies/limit_dip.json"), "w") as f:
            f.write('{"name": "limit_dip"}')
        bars = read_bars(BUNDLED["bitcoin"], day("2022-01-01"), day("2022-12-31"))
        # an independent walk: the first bar after `at` whose low reaches the limit
        at = 10
        limit = bars[at][4] * 0.97
        fill_i = next(i for i in range(at + 1, len(bars)) if bars[i][3] <= limit)
        fill_px = min(bars[fill_i][1], limit)
        exit_at = fill_i + 5
        exit_px = bars[exit_at + 1][1]
        trades_csv = os.path.join(self.tmp, "t.csv")
        res, _ = self.backtest_json("--strategy", "limit_dip", "--asset", "bitcoin",
                                    "--from", "2022-01-01", "--to", "2022-12-31",
                                    "--param", "at=%d" % at, "--param", "exit_at=%d" % exit_at,
                                    "--commission-bps", "10", "--slippage-bps", "50",
                                    # 2 BTC (~83,000) fit only raised limits (issue 12: units are capped)
                                    "--max-position", "1", "--max-portfolio-risk", "1",
                                    "--trades", trades_csv, env={"MTS_ROOT": root})
        t = read_csv(trades_csv)
        self.assertEqual(len(t), 1)
        self.assertEqual(parse_time(t[0]["entry_time"]), bars[fill_i][0])
        self.assertAlmostEqual(float(t[0]["entry_price"]), fill_px, delta=1e-8)  # limits: no slippage
        self.assertEqual(parse_time(t[0]["exit_time"]), bars[exit_at + 1][0])
        self.assertAlmostEqual(float(t[0]["exit_price"]), exit_px * (1 - 0.005), delta=1e-8)
        fees = 2 * fill_px * 0.001 + 2 * exit_px * 0.995 * 0.001
        self.assertAlmostEqual(float(t[0]["fees"]), fees, delta=1e-6)
        self.assertAlmostEqual(float(t[0]["pnl"]), 2 * (exit_px * 0.995 - fill_px) - fees, delta=1e-6)
        self.assertEqual(res["trade_count"], 1)


HOURLY = os.path.join(SHARED, "data", "crypto", "intraday", "BTCUSDT_1h_binance_spot.csv")


def read_hourly(n):
    """The first n real Binance 1h bars (../shared/data), read independently."""
    out = []
    with open(os.path.abspath(HOURLY), newline="") as f:
        for row in csv.DictReader(f):
            out.append((parse_time(row["timestamp"].replace(" ", "T") + "Z"), float(row["open"]),
                        float(row["high"]), float(row["low"]), float(row["close"]),
                        float(row["volume"])))
            if len(out) == n:
                break
    return out


def store_bars(db, asset, interval, bars):
    """Bars as the store keeps them (schema v7 blocks), written without the C code."""
    put_bars(db, asset, interval, bars)


def period_metrics_reference(equity, capital, period):
    """Returns per period of `period` seconds (the last point of each; periods
    without one carry the previous value), annualised with N = 365*86400/period."""
    first, last = equity[0][0] // period, equity[-1][0] // period
    vals, k = [], 0
    for p in range(first, last + 1):
        while k + 1 < len(equity) and equity[k + 1][0] // period <= p:
            k += 1
        vals.append(equity[k][1])
    rets = [vals[0] / capital - 1] + [vals[i] / vals[i - 1] - 1 for i in range(1, len(vals))]
    n_per_year = 365 * 86400 / period
    sd = statistics.stdev(rets)
    return {"sharpe_ratio": statistics.mean(rets) / sd * math.sqrt(n_per_year),
            "volatility": sd * math.sqrt(n_per_year), "periods": len(vals)}


class IntervalBacktest(MtsTestCase):
    """--interval: a run on stored 1h bars (real Binance hours) follows an
    independent walk of those bars and annualises by 8760 hours a year."""

    START, END = "2021-01-01T00:00Z", "2021-01-31T23:00Z"

    def setUp(self):
        super().setUp()
        self.hours = [b for b in read_hourly(800)
                      if parse_time("2021-01-01T00:00:00Z") <= b[0] <= parse_time("2021-01-31T23:00:00Z")]
        # the daily run first (imports the bundled daily bars), then the hourly rows
        self.daily, _ = self.backtest_json("--strategy", "sma_cross", "--asset", "bitcoin",
                                           "--from", "2021-01-01", "--to", "2021-01-31",
                                           "--param", "fast=5", "--param", "slow=20")
        store_bars(self.db, "bitcoin", "1h", self.hours)

    def test_hourly_run_follows_the_hours_and_annualises_by_them(self):
        trades_csv = os.path.join(self.tmp, "trades.csv")
        equity_csv = os.path.join(self.tmp, "equity.csv")
        res, _ = self.backtest_json("--strategy", "sma_cross", "--asset", "bitcoin", "--interval", "1h",
                                    "--from", self.START, "--to", self.END,
                                    "--param", "fast=5", "--param", "slow=20",
                                    "--trades", trades_csv, "--equity", equity_csv,
                                    env={"MAX_POSITION_SIZE": "0.10"})
        self.assertEqual(res["interval"], "1h")
        self.assertEqual(res["bars"], len(self.hours))
        self.assertEqual(len(self.hours), 31 * 24)   # January 2021 has every hour
        self.assertEqual(parse_time(res["start"]), self.hours[0][0])
        self.assertEqual(parse_time(res["end"]), self.hours[-1][0])
        ref_trades, ref_equity, ref_final = sma_cross_reference(self.hours, 5, 20, 100000.0, 10, 0)
        got = read_csv(trades_csv)
        self.assertGreater(len(ref_trades), 5)
        self.assertEqual(len(got), len(ref_trades))
        for g, r in zip(got, ref_trades):
            self.assertEqual(parse_time(g["entry_time"]), r["entry_time"])
            self.assertEqual(parse_time(g["exit_time"]), r["exit_time"])
            self.assertAlmostEqual(float(g["pnl"]), r["pnl"], delta=1e-6)
        # trade times carry the hour (intraday), not just the date
        self.assertTrue(any(not g["entry_time"].endswith("T00:00:00Z") for g in got))
        self.assertAlmostEqual(res["final_value"], ref_final, delta=1e-6)
        m = period_metrics_reference(ref_equity, 100000.0, 3600)
        self.assertEqual(m["periods"], len(self.hours))
        for k in ("sharpe_ratio", "volatility"):
            self.assertAlmostEqual(res[k], m[k], delta=1e-9 + 1e-7 * abs(m[k]), msg=k)
        # not the daily run: other bars, other annualisation
        self.assertEqual(self.daily["interval"], "1d")
        self.assertEqual(self.daily["bars"], 31)
        self.assertNotEqual(self.daily["sharpe_ratio"], res["sharpe_ratio"])
        # the stored run says its interval
        r = json.loads(self.mts("report", str(res["id"]), "--json", "--db", self.db).stdout)
        self.assertEqual(r["interval"], "1h")

    def test_every_digit_round_trips(self):
        check_every_digit(self, "--interval", "1h", "--from", self.START, "--to", self.END)

    def test_every_digit_round_trips_daily(self):
        check_every_digit(self, "--from", "2020-01-01", "--to", "2022-12-31")


    def test_table_shows_the_interval_and_times(self):
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin", "--interval", "1h",
                     "--from", "2021-01-03T05:00:00Z", "--to", "2021-01-04")
        head = r.stdout.splitlines()[0]
        self.assertIn("1h bars", head)
        # --to as a bare date takes the whole day: up to 23:00, (19 + 24) hours
        self.assertIn("2021-01-03T05:00:00Z .. 2021-01-04T23:00:00Z  (43 bars)", head)

    def test_unknown_interval_is_a_usage_error(self):
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin", "--interval", "2d",
                     expect=2)
        self.assertIn("'2d'", r.stderr)
        self.assertIn("1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w", r.stderr)

    def test_missing_interval_names_what_is_stored(self):
        # 30m: nothing stored or bundled is that fine (4h would be: bundled, or
        # resampled from the stored hours)
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin", "--interval", "30m",
                     "--from", self.START, "--to", self.END, expect=1)
        self.assertIn("no 30m bars for bitcoin: stored are 1h", r.stderr)

    def test_optimize_on_hourly_bars(self):
        r = run(["optimize", "--strategy", "sma_cross", "--asset", "bitcoin", "--interval", "1h",
                 "--from", self.START, "--to", self.END, "--param", "fast=5,8", "--param", "slow=20",
                 "--store", "all", "--json", "--db", self.db], timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["interval"], "1h")
        single, _ = self.backtest_json("--strategy", "sma_cross", "--asset", "bitcoin", "--interval", "1h",
                                       "--from", self.START, "--to", self.END,
                                       "--param", "fast=5", "--param", "slow=20")
        five = [x for x in out["results"] if x["params"]["fast"] == 5][0]
        self.assertEqual(five["sharpe_ratio"], single["sharpe_ratio"])
        self.assertEqual(five["final_value"], single["final_value"])
        r = run(["optimize", "--strategy", "sma_cross", "--asset", "bitcoin", "--interval", "5h",
                 "--param", "fast=5", "--db", self.db], timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("1m 3m 5m", r.stderr)


def check_every_digit(self, *args):
    """--trades and --equity read back (python float) equal the stored doubles
    and the --json final value exactly."""
    trades_csv = os.path.join(self.tmp, "trades.csv")
    equity_csv = os.path.join(self.tmp, "equity.csv")
    res, _ = self.backtest_json("--strategy", "sma_cross", "--asset", "bitcoin", *args,
                                "--param", "fast=5", "--param", "slow=20",
                                "--trades", trades_csv, "--equity", equity_csv)
    con = sqlite3.connect(self.db)
    db_trades = con.execute("SELECT qty, entry_ts, entry_price, exit_ts, exit_price, pnl, fees "
                            "FROM backtest_trades WHERE backtest_id = ? ORDER BY id",
                            (res["id"],)).fetchall()
    got = read_csv(trades_csv)
    self.assertEqual(len(got), len(db_trades))
    self.assertGreater(len(got), 0)
    for g, d in zip(got, db_trades):
        self.assertEqual((float(g["qty"]), parse_time(g["entry_time"]), float(g["entry_price"]),
                          parse_time(g["exit_time"]), float(g["exit_price"]), float(g["pnl"]),
                          float(g["fees"])), d)
    db_eq = equity_curve(self.db, res["id"])
    eq = [(parse_time(r["timestamp"]), float(r["equity"])) for r in read_csv(equity_csv)]
    self.assertEqual(eq, db_eq)
    self.assertEqual(eq[-1][1], res["final_value"])
    final = con.execute("SELECT final_value FROM backtest_results WHERE id = ?", (res["id"],)).fetchone()[0]
    self.assertEqual(final, res["final_value"])
