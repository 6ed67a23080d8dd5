"""EMA, ATR, MACD, Bollinger bands, VWAP and rolling min/max as a user gets
them (bin/mts repl over the bundled BTCUSDT daily bars, imported on first
use), checked against a re-implementation here in Python (standard library
only) from the textbook definitions, on the bundled CSV read directly:
TA-Lib's SMA-seeded EMA, Wilder's ATR seeded with the mean of the first n
true ranges, MACD 12/26/9 from SMA-seeded EMAs, Bollinger bands with the
population standard deviation (two-pass per window), VWAP of the typical
price (cumulative and over 20 bars), rolling min/max by scanning the window.
The expected numbers come from this file only, never from the C code."""
import json
import math
import os
import shutil
import tempfile
import unittest

from mtslib import ROOT, make_root, read_bars, run

SCRIPT = r'''
local b = mts.bars("bitcoin")
local n = #b
local e = mts.ema(b.close, 20)
local a = mts.atr(b.high, b.low, b.close, 14)
local ml, ms, mh = mts.macd(b.close, 12, 26, 9)
local bm, bu, bl = mts.bbands(b.close, 20, 2)
local vc = mts.vwap(b.high, b.low, b.close, b.volume)
local vw = mts.vwap(b.high, b.low, b.close, b.volume, 20)
local lo = mts.rolling_min(b.low, 55)
local hi = mts.rolling_max(b.high, 55)
local t = b.ts
for i = 1, n do
    print(("ROW %d %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g"):format(
        tonumber(t[i]), e[i], a[i], ml[i], ms[i], mh[i], bm[i], bu[i], bl[i], vc[i], vw[i], lo[i], hi[i]))
end
'''
COLS = ["ema20", "atr14", "macd", "macd_signal", "macd_hist", "bb_mid", "bb_upper", "bb_lower",
        "vwap", "vwap20", "min55", "max55"]


def ema(x, n, first=0):
    out = [None] * len(x)
    if len(x) - first < n:
        return out
    e = sum(x[first:first + n]) / n
    out[first + n - 1] = e
    k = 2.0 / (n + 1)
    for i in range(first + n, len(x)):
        e = e + k * (x[i] - e)
        out[i] = e
    return out


def atr(h, l, c, n):
    tr = [None] + [max(h[i] - l[i], abs(h[i] - c[i - 1]), abs(l[i] - c[i - 1])) for i in range(1, len(c))]
    out = [None] * len(c)
    a = sum(tr[1:n + 1]) / n
    out[n] = a
    for i in range(n + 1, len(c)):
        a = (a * (n - 1) + tr[i]) / n
        out[i] = a
    return out


def expected(bars):
    o = [b[1] for b in bars]
    h = [b[2] for b in bars]
    l = [b[3] for b in bars]
    c = [b[4] for b in bars]
    v = [b[5] for b in bars]
    del o
    n = len(c)
    cols = {"ema20": ema(c, 20), "atr14": atr(h, l, c, 14)}
    f, s = ema(c, 12), ema(c, 26)
    line = [None] * n
    for i in range(25, n):
        line[i] = f[i] - s[i]
    sig = ema([0.0] * 25 + line[25:], 9, 25)
    cols["macd"], cols["macd_signal"] = line, sig
    cols["macd_hist"] = [None if sig[i] is None else line[i] - sig[i] for i in range(n)]
    mid, up, lo = [None] * n, [None] * n, [None] * n
    for i in range(19, n):
        w = c[i - 19:i + 1]
        m = math.fsum(w) / 20
        sd = math.sqrt(math.fsum((x - m) ** 2 for x in w) / 20)      # population
        mid[i], up[i], lo[i] = m, m + 2 * sd, m - 2 * sd
    cols["bb_mid"], cols["bb_upper"], cols["bb_lower"] = mid, up, lo
    tp = [(h[i] + l[i] + c[i]) / 3 for i in range(n)]
    pv = [tp[i] * v[i] for i in range(n)]
    cum, spv, sv = [None] * n, 0.0, 0.0
    for i in range(n):
        spv += pv[i]
        sv += v[i]
        cum[i] = spv / sv
    cols["vwap"] = cum
    cols["vwap20"] = [None] * 19 + [math.fsum(pv[i - 19:i + 1]) / math.fsum(v[i - 19:i + 1]) for i in range(19, n)]
    cols["min55"] = [None] * 54 + [min(l[i - 54:i + 1]) for i in range(54, n)]
    cols["max55"] = [None] * 54 + [max(h[i - 54:i + 1]) for i in range(54, n)]
    return cols


class IndicatorsAgainstPython(unittest.TestCase):
    def test_btc_daily(self):
        bars = read_bars(os.path.join(ROOT, "data", "crypto", "BTCUSDT_1d_binance_spot.csv"))
        self.assertGreater(len(bars), 2000)
        want = expected(bars)
        tmp = tempfile.mkdtemp(prefix="mts-ind-")
        try:
            path = os.path.join(tmp, "ind.lua")
            with open(path, "w") as f:
                f.write(SCRIPT)
            r = run(["repl", "--db", os.path.join(tmp, "t.db"), path], timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rows = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("ROW ")]
        self.assertEqual(len(rows), len(bars))
        checked = 0
        for i, row in enumerate(rows):
            self.assertEqual(int(row[1]), bars[i][0], "bar %d time" % i)
            for k, name in enumerate(COLS):
                got, w = float(row[2 + k]), want[name][i]
                if w is None:
                    self.assertTrue(math.isnan(got), "%s[%d]: want NaN (warm-up), got %r" % (name, i, got))
                    continue
                # the MACD line is a difference of two ~1e4 levels: absolute
                tol = 1e-7 if name.startswith("macd") else 1e-9 * abs(w)
                if name in ("min55", "max55"):
                    tol = 0
                self.assertLessEqual(abs(got - w), tol, "%s[%d]: want %r, got %r" % (name, i, w, got))
                checked += 1
        self.assertGreater(checked, 10 * 2000)


# A strategy built on the streaming indicators, run in the sandbox as any
# user strategy (sandboxed: the windows are charged to its memory cap): a
# Bollinger breakout with an ATR stop, MACD, VWAP and EMA filters and a
# 55-bar low exit. It must run to the end without being disabled and trade.
PROBE = r'''
local M = {}
function M.get_parameters() return {} end
function M.init(ctx)
    ctx.bb = mts.bbands_stream(20, 2)
    ctx.atr = mts.atr_stream(14)
    ctx.macd = mts.macd_stream()
    ctx.vwap = mts.vwap_stream(20)
    ctx.hi = mts.rolling_max_stream(55)
    ctx.lo = mts.rolling_min_stream(55)
    ctx.ema = mts.ema_stream(50)
end
function M.on_bar(ctx, asset, i)
    local s = ctx.series
    local h, l, c, v = s.high[i], s.low[i], ctx.close, s.volume[i]
    local mid, up = ctx.bb:push(c)
    local a = ctx.atr:push(h, l, c)
    local line, sig = ctx.macd:push(c)
    local vw = ctx.vwap:push(h, l, c, v)
    local hh, ll, e = ctx.hi:push(h), ctx.lo:push(l), ctx.ema:push(c)
    if c > up and line > sig and c > vw and c > e then
        return { asset = asset, signal_type = "LONG", confidence = 1, stop_loss = c - 2 * a }
    elseif c < mid or l <= ll or h >= hh * 1.5 then
        return { asset = asset, signal_type = "CLOSE", confidence = 1 }
    end
end
return M
'''


class StrategyUsesThem(unittest.TestCase):
    def test_backtest_with_streaming_indicators(self):
        tmp = tempfile.mkdtemp(prefix="mts-ind-")
        try:
            root = make_root(tmp)
            with open(os.path.join(root, "scripts", "strategies", "ind_probe.lua"), "w") as f:
                f.write(PROBE)
            r = run(["backtest", "--db", os.path.join(tmp, "t.db"), "--strategy", "ind_probe",
                     "--asset", "bitcoin", "--json"], env={"MTS_ROOT": root}, timeout=120, cwd=root)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            res = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith('{"id"')][0])
            self.assertEqual(res["disabled"], [], r.stderr[-2000:])
            self.assertGreater(res["trade_count"], 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
