"""Issue 10: no look-ahead in backtests, and what a strategy can see.

The 6-line peek strategy (reads ctx.series.close[i+1]) made +740 % on
2020-2024 before the guard; now it is disabled at its first bar with a
message naming the strategy, file and line, and trades nothing. The same for
a peek through a higher-interval view (ctx:bars(asset, "1w")) and through
another asset's view (ctx:bars("ethereum")). The as-of rules are checked at
their boundaries against values computed here from the bundled CSV and from
rows this test inserts: a weekly bar is visible from the daily bar whose end
equals its end; a macro value dated D from the bar that ends at D's end; a
funding / book row from the first bar whose end is at or after it."""
import json
import os
import re
import shutil
import sqlite3
import tempfile
import unittest

from mtslib import ROOT, BUNDLED, run, read_bars, day, put_bars

DAY = 86400
PARTIAL = 3   # MTS_EXIT_PARTIAL: the run finished, a strategy was disabled
WEEK = 7 * DAY

PEEK = """local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    if ctx.series.close[i + 1] > ctx.close then return { signal_type = "LONG", position_size = 0.1 } end
    return { signal_type = "CLOSE" }
end
return M
"""

PEEK_WEEK = """local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    local w = ctx:bars("bitcoin", "1w")
    if w.close[#w.close] > ctx.close then return { signal_type = "LONG", position_size = 0.1 } end
end
return M
"""

PEEK_ETH = """local M = {}
function M.get_parameters() return { assets = { "bitcoin" } } end
function M.on_bar(ctx, asset, i)
    local e = ctx:bars("ethereum")
    if e.close[#e.close] > 0 then return { signal_type = "LONG", position_size = 0.1 } end
end
return M
"""

# prints what it sees at chosen bars: its week view, the macro, funding, book
SEE = """local M = {}
function M.get_parameters() return {} end
local function last(v, k) local n = #v[k] if n == 0 then return "none" end return tostring(v[k][n - 1]) end
function M.on_bar(ctx, asset, i)
    local w = ctx:bars("bitcoin", "1w")
    local m = ctx:macro("DGS10")
    local f = ctx:funding("bitcoin")
    local b = ctx:book("bitcoin")
    print(("%d %d %s %d %s %s %s %s %s"):format(ctx.time, #w.close, last(w, "ts"), m.n, last(m, "v"),
          last(f, "rate"), last(b, "mid"), last(b, "spread"), last(b, "imbalance")))
end
return M
"""


def make_root(tmp, strategies):
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "scripts", "strategies"))
    for d in ("config", "data", "runtime"):
        os.symlink(os.path.join(ROOT, d), os.path.join(root, d))
    os.symlink(os.path.join(ROOT, "scripts", "lib"), os.path.join(root, "scripts", "lib"))
    for name, src in strategies.items():
        with open(os.path.join(root, "scripts", "strategies", name + ".lua"), "w") as f:
            f.write(src)
    return root


def backtest(root, db, strategy, assets, frm, to):
    r = run(["backtest", "--db", db, "--strategy", strategy, "--asset", assets, "--from", frm, "--to", to,
             "--json", "--trusted"], env={"MTS_ROOT": root}, timeout=180, cwd=root)
    lines = [l for l in r.stdout.splitlines() if l.startswith('{"id"')]
    return r, (json.loads(lines[0]) if lines else None)


def weekly(bars):
    """1w bars (Monday 00:00 UTC opens) from daily ones, full weeks only."""
    weeks = {}
    for ts, o, h, l, c, v in bars:
        wk = ts - ((ts // DAY + 3) % 7) * DAY     # 1970-01-01 was a Thursday
        weeks.setdefault(wk, []).append((ts, o, h, l, c, v))
    out = []
    for wk in sorted(weeks):
        d = weeks[wk]
        if len(d) == 7:
            out.append((wk, d[0][1], max(x[2] for x in d), min(x[3] for x in d), d[-1][4], sum(x[5] for x in d)))
    return out


class Lookahead(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mts_lookahead_")
        cls.root = make_root(cls.tmp, {"peek": PEEK, "peek_week": PEEK_WEEK, "peek_eth": PEEK_ETH, "see": SEE})
        cls.db = os.path.join(cls.tmp, "t.db")
        # first use imports the bundled daily bars; then add weekly bars, a
        # macro series, funding and book rows by hand
        r, _ = backtest(cls.root, cls.db, "peek", "bitcoin,ethereum", "2024-01-01", "2024-01-10")
        assert r.returncode == PARTIAL, r.stderr
        cls.week = weekly(read_bars(BUNDLED["bitcoin"], day("2019-11-01"), day("2024-12-31")))
        put_bars(cls.db, "bitcoin", "1w", cls.week)
        con = sqlite3.connect(cls.db)
        con.executemany("INSERT INTO macro_indicators(indicator, date, value) VALUES ('DGS10', ?, ?)",
                        [("2024-01-08", 4.01), ("2024-01-09", 4.02), ("2024-01-10", 4.03)])
        t9 = day("2024-01-09") * 1000
        con.executemany("INSERT INTO funding_rates(exchange, symbol, ts_ms, rate, mark_price, next_funding_ms)"
                        " VALUES ('binance', 'BTCUSDT', ?, ?, 45000, ?)",
                        [(t9 - 8 * 3600 * 1000, 0.0001, t9), (t9, 0.0002, t9 + 8 * 3600 * 1000),
                         (t9 + 1, 0.0003, t9 + 8 * 3600 * 1000)])
        # book snapshots: at 2024-01-09 00:00:00.000 (bid 100 x 3 + 99 x 1, ask 101 x 2)
        # and at 2024-01-09 12:00 (bid 100 x 1, ask 102 x 1 + 103 x 2)
        t12 = t9 + 12 * 3600 * 1000
        con.executemany("INSERT INTO order_book_snapshots(exchange, symbol, ts_ms, side, level, price, qty)"
                        " VALUES ('binance', 'BTCUSDT', ?, ?, ?, ?, ?)",
                        [(t9, "bid", 0, 100, 3), (t9, "bid", 1, 99, 1), (t9, "ask", 0, 101, 2),
                         (t12, "bid", 0, 100, 1), (t12, "ask", 0, 102, 1), (t12, "ask", 1, 103, 2)])
        con.commit()
        con.close()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def assert_disabled_at_once(self, strategy, assets, line):
        r, res = backtest(self.root, self.db, strategy, assets, "2020-01-01", "2024-12-31")
        self.assertEqual(r.returncode, PARTIAL, r.stderr)     # a strategy was disabled
        self.assertIsNotNone(res, r.stdout)
        self.assertEqual(len(res["disabled"]), 1, res["disabled"])
        self.assertRegex(res["disabled"][0],
                         r"^%s: scripts/strategies/%s\.lua:%d: look-ahead: index \d+ is in the future "
                         r"\(this series has \d+ values? up to the current bar, 0 \.\. \d+\) "
                         r"\(in on_bar, bitcoin bar 2020-01-01T00:00:00Z\)$" % (strategy, strategy, line))
        self.assertEqual(res["trade_count"], 0)
        self.assertEqual(res["final_value"], res["initial_capital"])
        self.assertIn("strategy disabled: %s" % strategy, r.stderr)

    def test_peek_at_the_next_close_is_disabled_and_cannot_profit(self):
        self.assert_disabled_at_once("peek", "bitcoin", 4)

    def test_peek_through_a_higher_interval(self):
        # the week view at 2020-01-01 (a Wednesday) holds the weeks closed by
        # then; its last index + 1 is the week still forming
        self.assert_disabled_at_once("peek_week", "bitcoin", 5)

    def test_peek_through_another_assets_view(self):
        self.assert_disabled_at_once("peek_eth", "bitcoin,ethereum", 5)

    def seen(self, frm, to):
        r, res = backtest(self.root, self.db, "see", "bitcoin", frm, to)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(res["disabled"], [], r.stderr)
        out = {}
        for line in r.stderr.splitlines():
            m = re.match(r"^see: (\d+) (.*)$", line)
            if m:
                out[int(m.group(1))] = m.group(2).split(" ")
        return out

    def test_as_of_rules_at_their_boundaries(self):
        seen = self.seen("2024-01-07", "2024-01-16")
        weeks_before = lambda end: [w for w in self.week if w[0] + WEEK <= end]
        for t, v in seen.items():
            closed = weeks_before(t + DAY)
            self.assertEqual(int(v[0]), len(closed), (t, v))
            self.assertEqual(v[1], str(closed[-1][0]) if closed else "none")
        # the week of Monday 2024-01-08 ends 2024-01-15 00:00: visible from the
        # daily bar opening 2024-01-14 (its end equals the week's end), not before
        self.assertEqual(seen[day("2024-01-14")][1], str(day("2024-01-08")))
        self.assertEqual(seen[day("2024-01-13")][1], str(day("2024-01-01")))
        # macro: DGS10 dated D is visible from the bar opening at D (ending at D's end)
        self.assertEqual(seen[day("2024-01-07")][2:4], ["0", "none"])
        self.assertEqual(seen[day("2024-01-08")][2:4], ["1", "4.01"])
        self.assertEqual(seen[day("2024-01-09")][2:4], ["2", "4.02"])
        self.assertEqual(seen[day("2024-01-16")][2:4], ["3", "4.03"])
        # funding at 2024-01-09 00:00:00.000 is known at the end of the bar of
        # 2024-01-08; the row 1 ms later only at the end of the next bar
        self.assertEqual(seen[day("2024-01-07")][4], "none")
        self.assertEqual(seen[day("2024-01-08")][4], "0.0002")
        self.assertEqual(seen[day("2024-01-09")][4], "0.0003")
        # book: mid, spread, imbalance = (sum bid qty - sum ask qty) / (sum of both)
        self.assertEqual(seen[day("2024-01-07")][5:8], ["none", "none", "none"])
        self.assertEqual(seen[day("2024-01-08")][5:7], ["100.5", "1"])
        self.assertAlmostEqual(float(seen[day("2024-01-08")][7]), (4 - 2) / (4 + 2), places=12)
        self.assertEqual(seen[day("2024-01-09")][5:8], ["101", "2", str((1 - 3) / (1 + 3))])


if __name__ == "__main__":
    unittest.main()
