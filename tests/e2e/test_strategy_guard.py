"""Issue 9 (items 1, 3, 4): a strategy cannot reach shared data, run code
outside its guarded call, or push absurd signals.

Backtests: each hostile strategy runs first, next to `victim` (a strategy that
reads the shared bars, ctx.series.close, and trades on them) in a temporary
root (scripts/lib, config and data linked from the repository). Each must be
disabled with a clear message naming it (exit 3: completed, a strategy
disabled), while the victim's results are those it has alone.

Live: `mts run` against the stand-in exchange (exchange_server.KlineServer on
a port the OS picks on 127.0.0.1) with a strategy that stores a number in
ctx.series — that used to be written through as an address (SIGSEGV) — next
to sma_cross: the session completes, the attacker is disabled, sma_cross
fills as it does alone.

Small limits keep every run bounded: MTS_STRATEGY_TIME_MS=300,
MTS_STRATEGY_MEMORY_MB=64; every process has a time limit."""
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange_server as xs  # noqa: E402
from mtslib import ROOT, run  # noqa: E402

LIMITS = {"MTS_STRATEGY_TIME_MS": "300", "MTS_STRATEGY_MEMORY_MB": "64"}

# Trades on the shared bars: SMAs of ctx.series.close computed once in init,
# LONG when the 5-bar mean crosses above the 20-bar one, CLOSE below.
VICTIM = """local M = {}
function M.get_parameters() return {} end
-- computed bar by bar (issue 10: in init the views hold no bars yet)
function M.init(ctx)
    ctx.fast, ctx.slow = mts.rolling_mean(5), mts.rolling_mean(20)
end
function M.on_bar(ctx, asset, i)
    local f, s = ctx.fast:push(ctx.close), ctx.slow:push(ctx.close)
    local pf, ps = ctx.pf, ctx.ps
    ctx.pf, ctx.ps = f, s
    if i < 21 then return nil end
    if pf <= ps and f > s then return { signal_type = "LONG", position_size = 0.1 } end
    if pf >= ps and f < s then return { signal_type = "CLOSE" } end
end
return M
"""

TEMPLATE = """local M = {}
function M.get_parameters() return {} end
function M.init(ctx)
%s
end
function M.on_bar(ctx, asset, i)
%s
end
return M
"""

BIG = 'local s = "x" for k = 1, 27 do s = s .. s end'     # a 128 MB string: twice the cap

# name: (init body, on_bar body, regex of the message after "name: ")
EVIL = {
    # item 1: shared tables are read-only
    "series_replace": ("ctx.series.close = mts.series(ctx.n, 1)", "",
                       r"evil_series_replace\.lua:4: ctx\.series is read-only \(assignment to close\) \(in init, bitcoin\)"),
    "series_meta": ("getmetatable(ctx.series).__index = function() return mts.series(ctx.n, 1) end", "",
                    r"attempt to index a boolean value \(in init, bitcoin\)"),
    "series_store": ("ctx.series.mine = mts.series(4)", "", r"ctx\.series is read-only \(assignment to mine\)"),
    "mts_patch": ("mts.sma = function() return mts.series(ctx.n, 1) end", "",
                  r"mts is read-only \(assignment to sma\)"),
    "ctx_meta": ("", "ctx.i = nil setmetatable(ctx, { __newindex = function() while true do end end })",
                 r"cannot change a protected metatable \(in on_bar, bitcoin bar 2018-03-17T00:00:00Z\)"),
    # item 3: no strategy code outside the guard
    "tostring_mem": ("", "error(setmetatable({}, { __tostring = function() %s return 'x' end }))" % BIG,
                     r"memory cap of 64 MB exceeded"),
    "tostring_spin": ("", "error(setmetatable({}, { __tostring = function() while true do end end }))",
                      r"time budget of 300 ms exceeded"),
    "tostring_err": ("", "error(setmetatable({}, { __tostring = function() error('inner') end }))",
                     r"an error object \(table\) whose __tostring failed: .*evil_tostring_err\.lua:\d+: inner"),
    "signal_spin": ("", "return setmetatable({}, { __index = function() while true do end end })",
                    r"bad signal: a signal must be a plain table \(it has a metatable\)"),
    "signal_mem": ("", "return setmetatable({}, { __index = function() %s return 'LONG' end })" % BIG,
                   r"bad signal: a signal must be a plain table \(it has a metatable\)"),
    "signal_flip": ("ctx.state.n = 0",
                    "return setmetatable({ signal_type = 'LONG' }, { __index = function(t, k)\n"
                    "  if k == 'confidence' then ctx.state.n = ctx.state.n + 1 return ctx.state.n == 1 and 0.5 or 1e300 end\n"
                    "end })",
                    r"bad signal: a signal must be a plain table \(it has a metatable\)"),
    # item 4: bounds
    "flood": ("", "if i == 5 then local t = {} for k = 1, 20000 do t[k] = { signal_type = 'LONG' } end return t end",
              r"bad signal: 20000 signals in one call \(at most 100\) \(in on_bar, bitcoin bar 2018-03-22T00:00:00Z\)"),
    "units": ("", "if i == 50 then return { signal_type = 'LONG', units = 1e308 } end",
              r"bad signal: units = 1e\+308 at [\d.]+ is a notional of inf, more than 100 x the equity \([\d.]+\)"),
    "stop": ("", "if i == 50 then return { signal_type = 'SHORT', order_type = 'STOP', limit_price = 1e300, units = 1 } end",
             r"bad signal: limit_price = 1e\+300 is more than 100 x away from the bar's close \([\d.]+\)"),
    "stoploss": ("", "if i == 50 then return { signal_type = 'LONG', stop_loss = 1e300 } end",
                 r"bad signal: stop_loss = 1e\+300 is more than 100 x away"),
    "tinyprice": ("", "if i == 50 then return { signal_type = 'LONG', price = 1e-300 } end",
                  r"bad signal: price = 1e-300 is more than 100 x away"),
    # issue 10's views (ctx:bars, ctx:macro; the weekly view of the run's own
    # asset is built by the C resampler): shared, read-only, as of the bar
    "bars_replace": ("", "local w = ctx:bars('bitcoin', '1w') w.close = w.ts",
                     r"is read-only \(assignment to close\) \(in on_bar, bitcoin bar 2018-03-17T00:00:00Z\)"),
    "bars_store": ("", "ctx:bars('bitcoin', '1w').close[0] = 1", r"read-only"),
    "bars_meta": ("", "getmetatable(ctx:bars('bitcoin', '1w')).__index = {}", r"attempt to index a boolean value"),
    "macro_setmeta": ("", "setmetatable(ctx:macro('VIX'), {})", r"cannot change a protected metatable"),
    "bars_peek": ("", "if i > 30 then local w = ctx:bars('bitcoin', '1w') return w.close[#w.close] end",
                  r"look-ahead: index \d+ is in the future"),
    "bars_tostring": ("", "ctx:bars('bitcoin', setmetatable({}, { __tostring = function() while true do end end }))",
                      r"ctx:bars: unknown interval \(a table, not a name\)"),
    "bars_hugename": ("", "ctx:bars(('x'):rep(1e6))", r"ctx:bars"),
    # issue 11: the bars a backtest runs on are mapped read-only from the bar
    # cache (docs/store.md): a store through a view is refused before it could
    # reach the mapping (a write there would kill the process)
    "cached_store": ("", "ctx.series.close[0] = 1", r"this series is read-only \(the engine's bars"),
    "cached_ts": ("", "ctx.series.ts[0] = 0", r"bar times are read-only"),
    # issue 11: between signals the engine is caught up once per run of quiet
    # bars (engine.h); an attacker failing in the middle of such a run (the
    # victim trades ~80 times in ~2900 bars) leaves the victim's run intact
    "quiet_error": ("", "if i == 1000 then error('boom') end",
                    r"boom \(in on_bar, bitcoin bar 2020-12-11T00:00:00Z\)"),
    "quiet_spin": ("", "if i == 1000 then while true do end end",
                   r"time budget of 300 ms exceeded \(in on_bar, bitcoin bar 2020-12-11T00:00:00Z\)"),
    # issues 11 and 13: the JIT switches of live sessions, the FFI (the quiet
    # path's mts_engine_skip) and the research library are not the strategies'
    "jit_opt": ("", "jit.opt.start('hotloop=1')", r"unknown global 'jit'"),
    "jit_require": ("", "require('jit').opt.start('hotloop=1')", r"module 'jit' is not available to strategies"),
    "ffi_skip": ("", "require('ffi').C.mts_engine_skip(nil, 0, 5)", r"module 'ffi' is not available to strategies"),
    "nested_optimize": ("", "mts.optimize{strategy='victim', asset='bitcoin', params={x='1'}}",
                        r"mts\.optimize does not exist"),
    "nested_backtest": ("", "mts.backtest{strategy='victim', asset='bitcoin'}", r"mts\.backtest does not exist"),
}


def make_root(tmp):
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "scripts", "strategies"))
    for d in ("config", "data", "runtime"):
        os.symlink(os.path.join(ROOT, d), os.path.join(root, d))
    os.symlink(os.path.join(ROOT, "scripts", "lib"), os.path.join(root, "scripts", "lib"))
    shutil.copy(os.path.join(ROOT, "scripts", "strategies", "sma_cross.lua"),
                os.path.join(root, "scripts", "strategies"))
    with open(os.path.join(root, "scripts", "strategies", "victim.lua"), "w") as f:
        f.write(VICTIM)
    for name, (init, bar, _) in EVIL.items():
        with open(os.path.join(root, "scripts", "strategies", "evil_" + name + ".lua"), "w") as f:
            f.write(TEMPLATE % (init, bar))
    return root


def backtest(root, db, strategies):
    # --mode vote: one shared book, so a run whose attacker is disabled equals the other
    # strategy alone with all the capital (independent mode would keep the attacker's share)
    e = dict(LIMITS, MTS_ROOT=root)
    r = run(["backtest", "--db", db, "--strategy", strategies, "--asset", "bitcoin", "--json", "--mode", "vote"],
            env=e, timeout=120, cwd=root)
    lines = [l for l in r.stdout.splitlines() if l.startswith('{"id"')]
    return r, (json.loads(lines[0]) if lines else None)


class BacktestGuard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mts-guard-")
        cls.root = make_root(cls.tmp)
        cls.db = os.path.join(cls.tmp, "t.db")
        r, cls.alone = backtest(cls.root, cls.db, "victim")
        assert cls.alone and r.returncode == 0, r.stderr
        assert cls.alone["trade_count"] >= 5, cls.alone     # the victim trades: the comparison means something

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_each_attack_disables_only_the_attacker(self):
        for name, (_, _, pattern) in EVIL.items():
            with self.subTest(name):
                r, res = backtest(self.root, self.db, "evil_" + name + ",victim")
                self.assertEqual(r.returncode, 3, r.stderr[-2000:])   # completed, a strategy disabled
                self.assertIsNotNone(res, r.stderr[-2000:])
                self.assertEqual(len(res["disabled"]), 1, res["disabled"])
                self.assertRegex(res["disabled"][0], "^evil_" + name + ": .*" + pattern)
                self.assertLess(len(res["disabled"][0]), 2200)
                self.assertEqual(res["trade_count"], self.alone["trade_count"])
                self.assertAlmostEqual(res["final_value"], self.alone["final_value"], places=6)
                # signals: the victim's only (the attacker's were refused)
                self.assertEqual(res["signals"], self.alone["signals"])


    def test_book_raider_cannot_touch_another_book(self):
        # issue 12: independent books. The attacker replaces its ctx.position, asks for oversized
        # units long and short (limits and buying power trim them in ITS book; spot shorts are
        # refused), and a second one hides units behind a metatable (refused as a bad signal).
        # The victim's book equals the victim alone with the same capital, trade for trade.
        raider = TEMPLATE % ("", "ctx.position = function() return 1e9 end\n"
                             "if i % 7 == 0 then return { signal_type = 'SHORT', units = 20 } end\n"
                             "if i % 7 == 3 then return { signal_type = 'LONG', units = 20 } end")
        meta = TEMPLATE % ("", "if i == 30 then return setmetatable({ signal_type = 'LONG' }, "
                           "{ __index = function(t, k) error('pwned ' .. k) end }) end")
        for name, src in (("raider", raider), ("metasig", meta)):
            with open(os.path.join(self.root, "scripts", "strategies", name + ".lua"), "w") as f:
                f.write(src)
        e = dict(LIMITS, MTS_ROOT=self.root)
        def bt(strats, *extra):
            r = run(["backtest", "--db", self.db, "--strategy", strats, "--asset", "bitcoin", "--json", *extra],
                    env=e, timeout=120, cwd=self.root)
            lines = [l for l in r.stdout.splitlines() if l.startswith('{"id"')]
            return r, json.loads(lines[0])
        _, alone = bt("victim", "--capital", "50000")
        r, res = bt("raider,victim")
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        books = {b["strategy"]: b for b in res["books"]}
        v = books["victim"]
        self.assertEqual(v["trades"], alone["trade_count"])
        self.assertAlmostEqual(v["final"], alone["final_value"], places=6)
        self.assertAlmostEqual(v["fees"], alone["fees"], places=6)
        rb = books["raider"]
        self.assertGreater(rb["risk_trimmed"] + rb["short_refused"], 0, rb)
        self.assertGreaterEqual(rb["final"], 0)
        r, res = bt("metasig,victim")
        self.assertEqual(r.returncode, 3, r.stderr[-2000:])
        self.assertEqual(len(res["disabled"]), 1, res["disabled"])
        self.assertRegex(res["disabled"][0], r"^metasig: .*bad signal")
        self.assertNotIn("pwned", res["disabled"][0])
        books = {b["strategy"]: b for b in res["books"]}
        self.assertEqual(books["victim"]["trades"], alone["trade_count"])
        self.assertAlmostEqual(books["victim"]["final"], alone["final_value"], places=6)

    def test_mapped_bars_untouched(self):
        """The attacks on the views leave the mapped cache file of the bars
        (named by the database's device and inode) as it was, bit for bit."""
        import hashlib
        st = os.stat(self.db)
        path = os.path.join(os.environ["MTS_CACHE_DIR"], "%d-%d-bitcoin-1d.bars" % (st.st_dev, st.st_ino))
        self.assertTrue(os.path.exists(path), os.listdir(os.environ["MTS_CACHE_DIR"]))
        digest = lambda: hashlib.sha256(open(path, "rb").read()).hexdigest()
        before = digest()
        for name in ("cached_store", "cached_ts"):
            r, res = backtest(self.root, self.db, "evil_" + name + ",victim")
            self.assertEqual(r.returncode, 3, r.stderr[-2000:])
        self.assertEqual(digest(), before)


class LiveGuard(unittest.TestCase):
    """`mts run`: a number stored in ctx.series used to become an address the
    session wrote the bar count to after every bar."""
    N = 300

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mts-guard-live-")
        self.root = make_root(self.tmp)
        with open(os.path.join(self.root, "scripts", "strategies", "pwn.lua"), "w") as f:
            f.write(TEMPLATE % ("ctx.series.pwn = 0xdeadbeef ctx.series.mine = mts.series(4)",
                                "local x = ctx.series.mine[100]"))
        bars = xs.read_kline_csv(os.path.join(ROOT, "tests", "fixtures", "live", "BTCUSDT_1h_2021-01.csv"))
        self.bars = bars[:self.N]

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def session(self, strategies, db, extra=()):
        srv = xs.KlineServer("binance", {"BTCUSDT": self.bars}, interval="1h", warm=0, pace=0.002).start()
        try:
            r = run(["run", "--strategy", strategies, "--exchange", "binance", "--symbol", "BTCUSDT",
                     "--interval", "1h", "--db", db, "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(),
                     "--warmup", "0", "--max-bars", str(self.N), "--redis", "none", "--json", *extra],
                    env=dict(LIMITS, MTS_ROOT=self.root, MTS_WS_BACKOFF_MS="100"), timeout=120, cwd=self.root)
        finally:
            srv.stop()
        lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip().startswith("{")]
        con = sqlite3.connect(db)
        try:
            fills = con.execute("SELECT ts, side, qty, price FROM paper_fills ORDER BY id").fetchall()
        finally:
            con.close()
        return r, lines, fills

    def test_series_store_in_a_session(self):
        r0, _, alone = self.session("sma_cross", os.path.join(self.tmp, "alone.db"))
        self.assertEqual(r0.returncode, 0, r0.stderr[-2000:])
        self.assertGreaterEqual(len(alone), 2, "the bars must make sma_cross trade")
        # one shared book (vote), as alone: the attacker, disabled at init, leaves it to sma_cross
        r, lines, fills = self.session("pwn,sma_cross", os.path.join(self.tmp, "pwn.db"), ("--mode", "vote"))
        self.assertEqual(r.returncode, 3, "exit %d\n%s" % (r.returncode, r.stderr[-2000:]))   # not -11 (SIGSEGV)
        summary = lines[-1]
        self.assertEqual(summary["type"], "session")
        self.assertEqual(summary["status"], "stopped")
        self.assertEqual(summary["live_bars"], self.N)
        self.assertEqual(len(summary["disabled"]), 1, summary["disabled"])
        self.assertRegex(summary["disabled"][0],
                         r"^pwn: scripts/strategies/pwn\.lua:4: ctx\.series is read-only \(assignment to pwn\) "
                         r"\(in init, [^)]+\)$")
        self.assertEqual(fills, alone)


if __name__ == "__main__":
    unittest.main()
