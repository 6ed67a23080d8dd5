"""End-to-end: per-strategy books, risk that cannot be bypassed, spot and perp
instruments (issue 12, SPEC12 section 3), through `mts backtest`.

References are independent of the code under test: solo runs of the same
strategy with the book's capital (the equality the books promise), numbers
printed by the binary before issue 12 (main at b03ffc3, built from that
commit), sizes computed here from the bundled CSV closes."""
import csv
import json
import math
import os

from mtslib import BUNDLED, MtsTestCase, day, read_bars

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def iso(ts):
    import datetime as dt
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# A strategy that signals on given bars of its run: {bar index: signal table text}.
def scripted(at):
    rows = "\n".join("  [%d] = %s," % (i, s) for i, s in sorted(at.items()))
    return ("local M = {}\nfunction M.get_parameters() return {} end\nlocal AT = {\n" + rows + "\n}\n"
            "function M.on_bar(ctx, asset, i) return AT[i] end\nreturn M\n")


class Books(MtsTestCase):
    def strategy(self, root, name, src):
        write(os.path.join(root, "scripts/strategies", name + ".lua"), src)

    def trades(self, *args, env=None, expect=0):
        path = os.path.join(self.tmp, "t%d.csv" % len(os.listdir(self.tmp)))
        res, r = self.backtest_json(*args, "--trades", path, env=env, expect=expect)
        return res, read_csv(path), r

    # ---- independent books = solo runs ------------------------------------------------------

    def test_independent_books_equal_solo_runs_and_sum_to_the_account(self):
        common = ("--asset", "bitcoin,ethereum", "--from", "2019-01-01", "--to", "2023-12-31")
        eq = os.path.join(self.tmp, "eq.csv")
        tr = os.path.join(self.tmp, "tr.csv")
        both, _ = self.backtest_json("--strategy", "sma_cross,mean_reversion", *common,
                                     "--allocate", "sma_cross=0.6,mean_reversion=0.4",
                                     "--trades", tr, "--equity", eq)
        self.assertEqual(both["mode"], "independent")
        self.assertEqual([b["strategy"] for b in both["books"]], ["sma_cross", "mean_reversion"])
        self.assertEqual([b["allocation"] for b in both["books"]], [0.6, 0.4])
        curve = read_csv(eq)
        self.assertEqual(list(curve[0].keys()), ["timestamp", "equity", "sma_cross", "mean_reversion"])
        trades = read_csv(tr)
        for name, cap, k in (("sma_cross", 60000, 0), ("mean_reversion", 40000, 1)):
            seq = os.path.join(self.tmp, name + "_eq.csv")
            stt = os.path.join(self.tmp, name + "_tr.csv")
            solo, _ = self.backtest_json("--strategy", name, *common, "--capital", str(cap),
                                         "--trades", stt, "--equity", seq)
            book = both["books"][k]
            self.assertGreater(solo["trade_count"], 0, name)
            # trades: every field, as text (the shortest round-trip digits)
            mine = [t for t in trades if t["strategy"] == name]
            self.assertEqual(mine, read_csv(stt), name)
            # equity curve point by point
            sc = read_csv(seq)
            self.assertEqual(len(sc), len(curve))
            self.assertEqual([r["timestamp"] for r in sc], [r["timestamp"] for r in curve])
            self.assertEqual([r["equity"] for r in sc], [r[name] for r in curve], name)
            # the book's numbers
            self.assertEqual(book["initial"], cap)
            self.assertEqual(book["final"], solo["final_value"])
            self.assertEqual(book["trades"], solo["trade_count"])
            self.assertEqual(book["sharpe"], solo["sharpe_ratio"])
            self.assertEqual(book["max_drawdown"], solo["max_drawdown"])
            self.assertEqual(book["fees"], solo["fees"])
        # the account is the sum of the books, to the cent, at every point
        self.assertAlmostEqual(both["final_value"], sum(b["final"] for b in both["books"]), delta=0.005)
        self.assertAlmostEqual(both["fees"], sum(b["fees"] for b in both["books"]), delta=0.005)
        for r in curve:
            self.assertAlmostEqual(float(r["equity"]), float(r["sma_cross"]) + float(r["mean_reversion"]),
                                   delta=0.005)
        self.assertEqual(both["trade_count"], len(trades))

    def test_equal_split_by_default_and_allocate_errors(self):
        res, _ = self.backtest_json("--strategy", "sma_cross,mean_reversion", "--asset", "bitcoin",
                                    "--from", "2021-01-01", "--to", "2021-12-31")
        self.assertEqual([b["allocation"] for b in res["books"]], [0.5, 0.5])
        self.assertEqual([b["initial"] for b in res["books"]], [50000, 50000])
        # a named share, the rest to the others
        res, _ = self.backtest_json("--strategy", "sma_cross,mean_reversion", "--asset", "bitcoin",
                                    "--from", "2021-01-01", "--to", "2021-12-31", "--allocate", "sma_cross=0.3")
        self.assertEqual([b["allocation"] for b in res["books"]], [0.3, 0.7])
        r = self.mts("backtest", "--strategy", "sma_cross,mean_reversion", "--asset", "bitcoin",
                     "--allocate", "sma_crosss=0.5", expect=1)
        self.assertIn("'sma_crosss' is not a strategy of this run (sma_cross,mean_reversion)", r.stderr)
        r = self.mts("backtest", "--strategy", "sma_cross,mean_reversion", "--asset", "bitcoin",
                     "--allocate", "sma_cross=0.7,mean_reversion=0.5", expect=1)
        self.assertIn("add up to 1.2", r.stderr)
        r = self.mts("backtest", "--strategy", "sma_cross,mean_reversion", "--asset", "bitcoin",
                     "--allocate", "sma_cross=0.5", "--mode", "vote", expect=1)
        self.assertIn("needs --mode independent", r.stderr)
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin", "--mode", "both", expect=2)
        self.assertIn("--mode is independent or vote", r.stderr)
        # config/mts.json books: allocate (names not in the run ignored) and mode
        root = self.make_root()
        cfg_path = os.path.join(root, "config/mts.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["books"] = {"mode": "independent", "allocate": {"sma_cross": 0.2, "vix_correlation": 0.5}}
        write(cfg_path, json.dumps(cfg))
        env = {"MTS_ROOT": root}
        args = ("--strategy", "sma_cross,mean_reversion", "--asset", "bitcoin", "--from", "2021-01-01",
                "--to", "2021-12-31")
        res, _ = self.backtest_json(*args, env=env)
        self.assertEqual([b["allocation"] for b in res["books"]], [0.2, 0.8])
        res, _ = self.backtest_json(*args, "--allocate", "mean_reversion=0.1", env=env)   # the flag wins
        self.assertEqual([b["allocation"] for b in res["books"]], [0.9, 0.1])
        cfg["books"]["mode"] = "vote"
        write(cfg_path, json.dumps(cfg))
        res, _ = self.backtest_json(*args, env=env)
        self.assertEqual(res["mode"], "vote")
        self.assertEqual(len(res["books"]), 1)
        self.assertEqual(res["books"][0]["strategy"], "sma_cross,mean_reversion")

    # ---- vote mode with one strategy = before issue 12 -------------------------------------

    def test_one_strategy_in_vote_and_independent_mode_equals_the_results_before_books(self):
        # printed by bin/mts built from main at b03ffc3 (before issue 12) on the same bundled data
        before = {
            ("sma_cross", "bitcoin"): {"final_value": 148168.2510414463, "trade_count": 57,
                                       "fees": 1550.4606989992164, "sharpe_ratio": 0.8707020124207364,
                                       "max_drawdown": 0.10719410331147347, "fills": 115, "signals": 115},
            ("mean_reversion", "bitcoin,ethereum"): {"final_value": 99984.87320448001, "trade_count": 15,
                                                     "fees": 203.97437123128935,
                                                     "sharpe_ratio": 0.005762496084877252,
                                                     "max_drawdown": 0.04406995717696831, "fills": 30,
                                                     "signals": 30},
        }
        for (strategy, assets), want in before.items():
            for mode in ("vote", "independent"):
                res, _ = self.backtest_json("--strategy", strategy, "--asset", assets, "--mode", mode)
                self.assertEqual({k: res[k] for k in want}, want, (strategy, mode))
                self.assertEqual(res["mode"], mode)
                self.assertEqual(res["market"], "spot")
                self.assertEqual(len(res["books"]), 1)

    # ---- ctx.position() is the strategy's own --------------------------------------------------

    def test_one_strategys_position_is_not_moved_by_anothers_trade(self):
        root = self.make_root()
        # holder: long on bar 5, closes on bar 20. closer: closes whatever ctx.position()
        # shows — before books it saw holder's position and sold it on bar 6.
        self.strategy(root, "holder", scripted({5: '{ signal_type = "LONG", position_size = 0.05 }',
                                                20: '{ signal_type = "CLOSE" }'}))
        self.strategy(root, "closer", "local M = {}\nfunction M.get_parameters() return {} end\n"
                      "function M.on_bar(ctx, asset, i)\n"
                      "  if ctx.position() ~= 0 then print(i, ctx.position()) return { signal_type = 'CLOSE' } end\n"
                      "end\nreturn M\n")
        bars = read_bars(BUNDLED["bitcoin"], day("2020-01-01"))
        env = {"MTS_ROOT": root}
        args = ("--strategy", "holder,closer", "--asset", "bitcoin", "--from", "2020-01-01", "--to", "2020-03-31")
        res, trades, r = self.trades(*args, env=env)
        self.assertEqual(len(trades), 1, trades)
        t = trades[0]
        self.assertEqual(t["strategy"], "holder")
        self.assertEqual(t["entry_time"], iso(bars[6][0]))       # decided on bar 5, filled at bar 6's open
        self.assertEqual(t["exit_time"], iso(bars[21][0]))       # its own CLOSE of bar 20
        self.assertEqual(t["exit_reason"], "signal")
        self.assertNotIn("closer:", r.stderr)                    # closer never saw a position
        # the shared book of vote mode shows the old behaviour: closer sells holder's trade
        res, trades, r = self.trades(*args, "--mode", "vote", env=env)
        self.assertEqual(len(trades), 1, trades)
        self.assertEqual(trades[0]["exit_time"], iso(bars[7][0]))
        self.assertIn("closer: 6\t", r.stderr)

    # ---- risk limits apply to every order ------------------------------------------------------

    def test_units_above_max_position_are_trimmed_and_counted(self):
        root = self.make_root()
        self.strategy(root, "big", scripted({5: '{ signal_type = "LONG", units = 10 }',
                                             10: '{ signal_type = "CLOSE" }'}))
        bars = read_bars(BUNDLED["bitcoin"], day("2020-01-01"))
        close5 = bars[5][4]
        args = ("--strategy", "big", "--asset", "bitcoin", "--from", "2020-01-01", "--to", "2020-02-29")
        # 10 BTC at ~7,400 is ~74 % of 100,000; the cap 0.2 leaves 0.2 * 100000 / close[5]
        res, trades, _ = self.trades(*args, "--max-position", "0.2", env={"MTS_ROOT": root})
        self.assertEqual(len(trades), 1)
        self.assertAlmostEqual(float(trades[0]["qty"]), 0.2 * 100000 / close5, delta=1e-9)
        self.assertEqual(res["risk"]["trimmed"], 1)
        self.assertEqual(res["risk"]["refused"], 0)
        self.assertEqual(res["books"][0]["risk_trimmed"], 1)
        # the environment when there is no flag; the flag over the environment
        res, trades, _ = self.trades(*args, env={"MTS_ROOT": root, "MAX_POSITION_SIZE": "0.15"})
        self.assertAlmostEqual(float(trades[0]["qty"]), 0.15 * 100000 / close5, delta=1e-9)
        res, trades, _ = self.trades(*args, "--max-position", "0.2",
                                     env={"MTS_ROOT": root, "MAX_POSITION_SIZE": "0.15"})
        self.assertAlmostEqual(float(trades[0]["qty"]), 0.2 * 100000 / close5, delta=1e-9)
        # config/mts.json risk when neither: 0.12
        cfg_path = os.path.join(root, "config/mts.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["risk"] = {"max_position": 0.12, "max_portfolio_risk": 0.25}
        write(cfg_path, json.dumps(cfg))
        res, trades, _ = self.trades(*args, env={"MTS_ROOT": root})
        self.assertAlmostEqual(float(trades[0]["qty"]), 0.12 * 100000 / close5, delta=1e-9)
        # the table says so (and says nothing when nothing was limited)
        r = self.mts("backtest", *args, "--max-position", "0.2", env={"MTS_ROOT": root})
        self.assertIn("risk: 1 orders trimmed, 0 refused by limits", r.stdout)
        r = self.mts("backtest", *args, "--max-position", "0.9", "--max-portfolio-risk", "1",
                     env={"MTS_ROOT": root})
        self.assertNotIn("risk:", r.stdout)

    def test_a_short_on_spot_is_refused_and_counted(self):
        root = self.make_root()
        self.strategy(root, "shorty", scripted({3: '{ signal_type = "SHORT", position_size = 0.05 }',
                                                5: '{ signal_type = "LONG", position_size = 0.05 }',
                                                9: '{ signal_type = "SHORT", position_size = 0.05 }'}))
        bars = read_bars(BUNDLED["bitcoin"], day("2020-01-01"))
        args = ("--strategy", "shorty", "--asset", "bitcoin", "--from", "2020-01-01", "--to", "2020-02-29")
        res, trades, _ = self.trades(*args, env={"MTS_ROOT": root})
        # bar 3: flat, refused; bar 5: long; bar 9: the long closed, no short opened
        self.assertEqual(len(trades), 1)
        self.assertEqual(trades[0]["side"], "long")
        self.assertEqual(trades[0]["exit_time"], iso(bars[10][0]))
        self.assertEqual(res["risk"]["short_refused"], 2)
        self.assertEqual(res["books"][0]["short_refused"], 2)
        r = self.mts("backtest", *args, env={"MTS_ROOT": root})
        self.assertIn("risk: 2 spot shorts refused", r.stdout)
        # the same strategy on a perp (leverage 1) shorts
        res, trades, _ = self.trades(*args, "--market", "perp", env={"MTS_ROOT": root})
        self.assertEqual([t["side"] for t in trades], ["short", "long"])
        self.assertEqual(res["risk"]["short_refused"], 0)

    # ---- perps -------------------------------------------------------------------------------

    def test_a_constant_1_btc_short_earns_the_funding_of_the_real_history(self):
        # Issue 12 "must show": a 1-BTC short held on the perp over Binance's 4h bars receives,
        # at every settlement while it is open, 1 x mark x rate (payment = -q x mark x rate,
        # q = -1), the mark being the close of the 4h bar that ends at the settlement. The sum
        # is computed here from ../shared/data (the file data/ bundles, byte for byte) and the
        # 4h closes, not by mts.
        from mtslib import SHARED
        root = self.make_root()
        self.strategy(root, "short_one", scripted({0: '{ signal_type = "SHORT", units = 1 }'}))
        env = {"MTS_ROOT": root}
        res, trades, _ = self.trades("--strategy", "short_one", "--asset", "bitcoin", "--interval", "4h",
                                     "--from", "2025-12-13", "--to", "2026-03-13", "--market", "perp",
                                     "--leverage", "2", "--max-position", "1", "--max-portfolio-risk", "1",
                                     env=env)
        self.assertEqual(trades, [])                          # never closed
        bars = []
        with open(os.path.join(SHARED, "data/crypto/intraday/BTCUSDT_4h_binance_spot.csv"), newline="") as f:
            for row in csv.DictReader(f):
                import datetime as dt
                t = int(dt.datetime.fromisoformat(row["open_time"]).timestamp())
                if day("2025-12-13") <= t <= day("2026-03-13") + 20 * 3600:
                    bars.append((t, float(row["close"])))
        entry, last = bars[1][0], bars[-1][0]                 # signalled on bar 0, filled at bar 1's open
        close_at = {t + 4 * 3600: c for t, c in bars}        # the close known at the end of each bar
        want, n = 0.0, 0
        with open(os.path.join(SHARED, "data/crypto/funding/BTCUSDT_funding_binance_usdm.csv"), newline="") as f:
            for row in csv.DictReader(f):
                ts = int(row["ts"]) // 1000                   # 16:00:00.002 settles at 16:00:00
                if entry < ts <= last:
                    want += 1.0 * close_at[ts] * float(row["rate"])
                    n += 1
        self.assertEqual(n, 272)                              # 3 a day from Dec 13 04:00 to Mar 13 20:00
        self.assertAlmostEqual(res["funding"], want, delta=1e-6)
        self.assertGreater(res["funding"], 0)                 # positive rates dominated: shorts received
        # the identity on the account: final = initial + realised - fees + funding + unrealised,
        # nothing realised, one taker fee (5 bps) at the entry
        import sqlite3
        con = sqlite3.connect(self.db)
        (entry_price, open_funding, strategy, reason), = con.execute(
            "SELECT entry_price, funding, strategy, exit_reason FROM backtest_trades WHERE backtest_id = ? AND open = 1",
            (res["id"],)).fetchall()
        con.close()
        self.assertEqual((strategy, reason), ("short_one", "end_of_data"))
        self.assertAlmostEqual(open_funding, want, delta=1e-6)
        unrealised = -1.0 * (bars[-1][1] - entry_price)
        fee = entry_price * 5e-4
        self.assertAlmostEqual(res["final_value"], 100000 - fee + want + unrealised, delta=1e-6)

    def test_perp_with_leverage_3_on_the_4h_bars_shows_funding(self):
        # the bundled funding history (Binance USD-M, data/README.md) starts 2025-12-12
        args = ("--strategy", "sma_cross", "--asset", "bitcoin", "--interval", "4h", "--from", "2025-12-13")
        spot, _ = self.backtest_json(*args)
        self.assertEqual(spot["market"], "spot")
        self.assertEqual(spot["funding"], 0)
        res, trades, r = self.trades(*args, "--market", "perp", "--leverage", "3")
        self.assertEqual(res["market"], "perp")
        self.assertEqual(res["leverage"], 3)
        self.assertNotIn("no funding rates", r.stderr)
        self.assertTrue(math.isfinite(res["funding"]) and res["funding"] != 0, res["funding"])
        self.assertEqual(res["books"][0]["funding"], res["funding"])
        self.assertGreater(len(trades), 0)
        # the closed trades carry their funding shares, the stored END_OF_DATA record of the
        # position still open (if any) the rest: together the book's funding
        import sqlite3
        con = sqlite3.connect(self.db)
        rows = con.execute("SELECT funding, open FROM backtest_trades WHERE backtest_id = ?", (res["id"],)).fetchall()
        con.close()
        self.assertEqual(sum(1 for _, o in rows if not o), len(trades))
        self.assertAlmostEqual(sum(f for f, _ in rows), res["funding"], delta=1e-6)
        self.assertAlmostEqual(sum(f for f, o in rows if not o), sum(float(t["funding"]) for t in trades), delta=1e-9)
        # margin sizing: 0.10 of equity is the margin, x3 the notional, qty rounded down to
        # the lot (0.001): the first trade, decided on a bar's close, equity 100000 then
        bars = read_bars(os.path.join(ROOT, "data/crypto/BTCUSDT_4h_binance_spot.csv"), day("2025-12-13"))
        entry = [b[0] for b in bars].index(
            next(b[0] for b in bars if iso(b[0]) == trades[0]["entry_time"]))
        decided_close = bars[entry - 1][4]
        want = math.floor(0.10 * 100000 * 3 / decided_close / 0.001 + 1e-9) * 0.001
        self.assertAlmostEqual(float(trades[0]["qty"]), want, delta=1e-9)
        # the taker fee of config/mts.json (5 bps) on market fills, not --commission-bps' 10
        t = trades[0]
        fee = float(t["qty"]) * (float(t["entry_price"]) + float(t["exit_price"])) * 5e-4
        self.assertAlmostEqual(float(t["fees"]), fee, delta=1e-6)
        # bars the funding history does not cover: said
        res, r = self.backtest_json("--strategy", "sma_cross", "--asset", "bitcoin", "--interval", "4h",
                                    "--from", "2022-01-01", "--to", "2022-12-31", "--market", "perp")
        self.assertEqual(res["funding"], 0)
        self.assertIn("the funding rates of BTCUSDT on binance cover 2025-12-12 .. ", res["warnings"][0])
        self.assertIn("warning: the funding rates of BTCUSDT", r.stderr)
        # above the instrument's max_leverage (125): refused, naming it
        r = self.mts("backtest", *args, "--market", "perp", "--leverage", "200", expect=1)
        self.assertIn("max_leverage", r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
