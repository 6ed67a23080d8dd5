"""End-to-end: `mts walkforward` against a walk-forward computed here by hand
on a small synthetic series, with the sma_cross reference of test_backtest.py
(written from the strategy's spec, sharing no code with the engine): the
window boundaries, the parameters chosen per window, the out-of-sample runs
and the stitched curve's continuity, metrics and overfitting measure."""
import json
import math
import os
import time

from mtslib import MtsTestCase, equity_curve
from test_backtest import metrics_reference, sma_cross_reference
from test_progress import run_with_pty_stderr

DAY = 86400
T0 = 1577836800          # 2020-01-01T00:00:00Z
N_BARS = 430             # 2020-01-01 .. 2021-03-05
TRAIN, TEST = 120, 60    # days
GRID = [(2, 8), (2, 20), (4, 8), (4, 20)]   # fast, slow in the grid's order (last axis fastest)
UNITS = 50    # 50 x ~100 = 5 % of the capital: within the risk caps (issue 12: units are capped too)
CAPITAL = 100000.0


def synthetic_bars():
    """Two regimes: a slow 80-day wave with a 5.3-day ripple (the first 240
    days), then a 13.7-day wave: the slower pair (4, 8) fits the first, the
    faster (2, 8) the second. Positive prices, one bar a day; phases chosen so
    that no fast - slow difference comes near 0 (a cross is never a rounding
    question: checked in no_near_crosses)."""
    bars = []
    for i in range(N_BARS):
        if i < 240:
            c = 100 + 25 * math.sin(2 * math.pi * i / 80 + 0.3) + 4 * math.sin(2 * math.pi * i / 5.3 + 0.1)
        else:
            c = 100 + 12 * math.sin(2 * math.pi * i / 13.7 + 0.4) + 0.01 * i
        o = c - 0.3 * math.cos(i)
        bars.append((T0 + DAY * i, o, max(o, c) + 1, min(o, c) - 1, c, 10.0))
    return bars


def no_near_crosses(bars):
    closes = [b[4] for b in bars]
    return min(abs(sum(closes[i - f + 1:i + 1]) / f - sum(closes[i - s + 1:i + 1]) / s)
               for f, s in GRID for i in range(s - 1, len(closes))) > 1e-3


def hand_walkforward(bars, anchored):
    """Windows, choices and the stitched curve, computed here: window k's
    train is bars [k*TEST (0 if anchored), k*TEST + TRAIN), its test the TEST
    bars after it, while they exist; the best grid point by total return on
    the train bars (ties: the first in grid order); its test run starts with
    the previous test run's final value."""
    out, capital, k = [], CAPITAL, 0
    while (k + 1) * TEST + TRAIN <= len(bars):
        lo = 0 if anchored else k * TEST
        train = bars[lo:k * TEST + TRAIN]
        test = bars[k * TEST + TRAIN:(k + 1) * TEST + TRAIN]
        rets = []
        for f, s in GRID:
            _, _, fin = sma_cross_reference(train, f, s, CAPITAL, 0, 0, units=UNITS)
            rets.append(fin / CAPITAL - 1)
        order = sorted(range(len(GRID)), key=lambda i: (-rets[i], i))
        best = order[0]
        assert rets[best] - rets[order[1]] > 1e-6, "the design must not leave near-ties"
        _, eq, fin = sma_cross_reference(test, GRID[best][0], GRID[best][1], capital, 0, 0, units=UNITS)
        out.append({"train_from": train[0][0], "train_to": train[-1][0] + DAY - 1,
                    "test_from": test[0][0], "test_to": test[-1][0] + DAY - 1,
                    "fast": GRID[best][0], "slow": GRID[best][1], "is": rets[best],
                    "capital": capital, "final": fin, "oos": fin / capital - 1, "equity": eq})
        capital = fin
        k += 1
    return out


class WalkForwardByHand(MtsTestCase):
    def setUp(self):
        super().setUp()
        self.bars = synthetic_bars()
        path = os.path.join(self.tmp, "synth.csv")
        with open(path, "w") as f:
            f.write("date,open,high,low,close,volume\n")
            for ts, o, h, l, c, v in self.bars:
                f.write("%s,%r,%r,%r,%r,%r\n" % (time.strftime("%Y-%m-%d", time.gmtime(ts)), o, h, l, c, v))
        self.mts("import", "csv", path, "--asset", "synth", timeout=120)

    def walkforward(self, *extra, expect=0):
        return self.mts("walkforward", "--strategy", "sma_cross", "--asset", "synth", "--param", "fast=2,4",
                        "--param", "slow=8,20", "--param", "units=%d" % UNITS, "--train", "%dd" % TRAIN,
                        "--test", "%dd" % TEST, "--metric", "total_return", "--commission-bps", "0",
                        "--slippage-bps", "0", "--capital", "%g" % CAPITAL, "--db", self.db, *extra,
                        expect=expect, timeout=300)

    def check(self, anchored):
        self.assertTrue(no_near_crosses(self.bars))
        hand = hand_walkforward(self.bars, anchored)
        self.assertEqual(len(hand), 5)   # (430 - 120) // 60: the last 10 days are not tested
        if not anchored:   # rolling windows leave the first regime behind
            self.assertEqual([(w["fast"], w["slow"]) for w in hand], [(4, 8)] * 3 + [(2, 8)] * 2)
        args = ["--json", "--jobs", "1"] + (["--anchored"] if anchored else [])
        got = json.loads(self.walkforward(*args).stdout)
        self.assertEqual(got["anchored"], anchored)
        self.assertEqual(len(got["windows"]), len(hand))
        for k, (g, h) in enumerate(zip(got["windows"], hand)):
            msg = "window %d" % (k + 1)
            for key in ("train_from", "train_to", "test_from", "test_to"):
                self.assertEqual(g[key]["ts"], h[key], msg + " " + key)
            self.assertEqual(g["params"], {"fast": str(h["fast"]), "slow": str(h["slow"]), "units": str(UNITS)}, msg)
            self.assertAlmostEqual(g["is_metric"], h["is"], delta=1e-9, msg=msg)
            self.assertAlmostEqual(g["oos_metric"], h["oos"], delta=1e-9, msg=msg)
            self.assertAlmostEqual(g["oos"]["final_value"], h["final"], delta=1e-6, msg=msg)
            # continuity: each test run starts with exactly what the previous one ended with
            self.assertEqual(g["capital"], CAPITAL if k == 0 else got["windows"][k - 1]["oos"]["final_value"], msg)
            self.assertEqual(g["equity_points"], TEST, msg)
        # the stitched curve, as stored
        curve = equity_curve(self.db, got["id"])
        ref = [p for w in hand for p in w["equity"]]
        self.assertEqual([t for t, _ in curve], [t for t, _ in ref])
        for (t, v), (_, r) in zip(curve, ref):
            self.assertAlmostEqual(v, r, delta=1e-6, msg=str(t))
        for k in range(1, len(hand)):   # no fill on a test window's first bar: its point is the capital
            self.assertEqual(curve[k * TEST][1], curve[k * TEST - 1][1])
        st, m = got["stitched"], metrics_reference(ref, CAPITAL)
        self.assertAlmostEqual(st["final_value"], ref[-1][1], delta=1e-6)
        for key in ("total_return", "max_drawdown", "sharpe_ratio", "volatility"):
            self.assertAlmostEqual(st[key], m[key], delta=1e-9 + 1e-7 * abs(m[key]), msg=key)
        # the overfitting measure: mean IS - mean OOS, and their ratio
        is_mean = sum(w["is"] for w in hand) / len(hand)
        oos_mean = sum(w["oos"] for w in hand) / len(hand)
        of = got["overfitting"]
        self.assertEqual(of["windows_counted"], len(hand))
        self.assertAlmostEqual(of["is_mean"], is_mean, delta=1e-9)
        self.assertAlmostEqual(of["oos_mean"], oos_mean, delta=1e-9)
        self.assertAlmostEqual(of["gap"], is_mean - oos_mean, delta=1e-9)
        self.assertAlmostEqual(of["efficiency"], oos_mean / is_mean, delta=1e-9)
        return got, hand

    def test_rolling_matches_hand_computation(self):
        got, hand = self.check(anchored=False)
        self.assertEqual(hand[1]["train_from"], T0 + TEST * DAY)

    def test_anchored_matches_hand_computation(self):
        got, hand = self.check(anchored=True)
        self.assertTrue(all(w["train_from"] == T0 for w in hand))

    def test_jobs_do_not_change_the_result(self):
        one = json.loads(self.walkforward("--json", "--jobs", "1", "--no-store").stdout)
        two = json.loads(self.walkforward("--json", "--jobs", "2", "--no-store").stdout)
        self.assertIsNone(one["id"])
        self.assertEqual(one, two)

    def test_stored_run_report_and_table(self):
        html = os.path.join(self.tmp, "wf.html")
        r = self.walkforward("--report", html)
        lines = r.stdout.splitlines()
        self.assertIn("5 rolling windows", lines[0])
        self.assertTrue(lines[-1].startswith("stored as run "), r.stdout)
        run_id = lines[-1].split()[3].rstrip(":")
        with open(html) as f:
            page = f.read()
        self.assertIn('<table id="windows">', page)
        table = page[page.index('<table id="windows">'):]
        self.assertEqual(table[:table.index("</table>")].count("<tr><td>"), 5)   # one row per window
        d = lambda ts: time.strftime("%Y-%m-%d", time.gmtime(ts))
        w2 = (T0 + (TRAIN + TEST) * DAY, T0 + (TRAIN + 2 * TEST - 1) * DAY)   # window 2's test: days 180..239
        self.assertEqual(d(w2[0]) + " .. " + d(w2[1]), "2020-06-29 .. 2020-08-27")
        self.assertIn("2020-06-29 .. 2020-08-27", page)
        self.assertNotIn("<script", page)
        out = os.path.join(self.tmp, "run.html")
        self.mts("report", run_id, "--html", out, "--db", self.db)
        with open(out) as f:
            stored = f.read()
        self.assertIn("walkforward", stored)
        self.assertIn("equity-chart", stored)

    def test_progress_on_a_terminal_only(self):
        """One bar over every train run and test run: 5 windows x (4 grid points + 1 test run)."""
        args = ["walkforward", "--strategy", "sma_cross", "--asset", "synth", "--param", "fast=2,4",
                "--param", "slow=8,20", "--train", "120d", "--test", "60d", "--no-store", "--db", self.db]
        rc, out, err = run_with_pty_stderr(args)
        self.assertEqual(rc, 0, err)
        self.assertIn("walkforward [", err)
        self.assertIn("100%  25/25 runs", err)
        r = self.mts(*args)
        self.assertNotIn("walkforward [", r.stderr)
        self.assertEqual(r.stdout, out.replace("\r\n", "\n"))

    def test_too_short_data_is_refused(self):
        r = self.mts("walkforward", "--strategy", "sma_cross", "--asset", "synth", "--param", "fast=2,4",
                     "--train", "400d", "--test", "60d", "--db", self.db, expect=1)
        self.assertIn("too short", r.stderr)
        self.assertIn("430d", r.stderr)

    def test_bad_durations_are_usage_errors(self):
        for bad in ("90", "0d", "1y", "-3d", "d"):
            r = self.mts("walkforward", "--strategy", "sma_cross", "--asset", "synth", "--param", "fast=2,4",
                         "--train", bad, "--test", "60d", "--db", self.db, expect=2)
            self.assertIn("--train expects", r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
