"""Hostile shadow strategies (issue 14, docs/live.md "Shadow strategies"): a
shadow written by an attacker or a bad quant never changes the live account
and never stops the session.

Every case is a `mts run` against the stand-in exchange
(exchange_server.KlineServer, 200 real hourly BTCUSDT bars) with the live
strategy `sma_cross fast=5 slow=20` and one or more hostile shadows. The
oracles are separate sessions on the same feed that had no shadow at all:

* LIVE: sma_cross fast=5 slow=20 alone. In every case the live book's fills,
  the account's equity curve and its final equity are LIVE's, bit for bit.
* CAND: sma_cross fast=3 slow=12 alone (10000, the capital a shadow of
  another strategy gets: --capital). A "trap" shadow is sma_cross with a
  trap sprung on its K-th bar; it has CAND's parameters, so until the trap
  it trades as CAND: its fills are CAND's up to that bar and none after
  (the book keeps what it had: its final equity is computed here from those
  fills and the last close, not read from the code under test).

Cases: (1) a shadow raising in on_bar after 120 bars; (2) absurd sizes (20 BTC
long and short on spot, position_size 50: trimmed or refused in its own book;
1e12 units: a bad signal, disabled); (3) an endless loop, one inside its own
pcall, an unbounded allocation (the time budget and the memory cap); (4)
reaching for the account: ctx rewritten, a lying ctx.position, book/strategy
fields in its signals, rawset, writes to ctx.series, mts and protected
metatables, mts functions strategies do not have (sessions, backtest), the
FFI, an error whose __tostring spins, an error in init; (5) a shadow that
withdraws and replaces its resting orders on every bar beside a live
strategy whose LIMIT orders rest for bars.

A disabled shadow ends the session as a disabled live strategy does: status
stopped, exit 3, "disabled" naming it by its label. Small limits keep the
traps bounded: MTS_STRATEGY_TIME_MS=200, MTS_STRATEGY_MEMORY_MB=64."""
import datetime as dt
import re
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange_server as xs  # noqa: E402
from mtslib import ROOT, make_root, run  # noqa: E402

BARS = xs.read_kline_csv(os.path.join(ROOT, "tests", "fixtures", "live", "BTCUSDT_1h_2021-01.csv"))
N = 200
CAPITAL = 10000.0
LIVE = ("--strategy", "sma_cross", "--param", "fast=5", "--param", "slow=20")
CAND = ("--strategy", "sma_cross", "--param", "fast=3", "--param", "slow=12")
LIMITS = {"MTS_STRATEGY_TIME_MS": "200", "MTS_STRATEGY_MEMORY_MB": "64"}

FILL = "SELECT ts, side, qty, price, fee FROM paper_fills WHERE session_id = ? %s ORDER BY id"
EQ = "SELECT ts, equity FROM paper_equity WHERE session_id = ? ORDER BY ts"

# The trap goes at the top of sma_cross's on_bar: ctx.k counts the shadow's bars
# (1 = the feed's first bar, BARS[0]), so the trap springs on BARS[K - 1].
TRAP = "    ctx.k = (ctx.k or 0) + 1\n    if ctx.k == %d then\n%s\n    end\n"
BIG = 'local s = "x" for j = 1, 27 do s = s .. s end ctx.big = s'     # 128 MB: twice the cap

# A shadow that never raises but tries every quiet way at the account: its ctx
# (its own table) rewritten, position() lying, fields naming the live strategy,
# book 0 and the account in the signal, sizes far beyond its book (20 BTC is
# ~60 x its 10000, under the 100 x bound of a bad signal), spot shorts,
# position_size 50 (5000 %).
RAIDER = """local M = {}
function M.get_parameters() return {} end
function M.init(ctx)
    ctx.position = function() return 1e9 end
    ctx.strategy, ctx.asset_id, ctx.book, ctx.shadow = "sma_cross", 0, 0, false
end
function M.on_bar(ctx, asset, i)
    ctx.position = function() return -1e9 end
    ctx.close, ctx.i, ctx.time, ctx.n = 1e-9, 0, 0, 1
    ctx.strategy, ctx.book, ctx.params = "sma_cross", 0, { fast = 5, slow = 20 }
    ctx.k = (ctx.k or 0) + 1
    local k = ctx.k % 10
    if k == 2 then return { signal_type = "LONG", units = 20, book = 0, strategy = 0, shadow = false } end
    if k == 4 then return { signal_type = "SHORT", units = 20, book = 0 } end
    if k == 6 then return { signal_type = "LONG", position_size = 50 } end
    if k == 8 then return { signal_type = "CLOSE", book = 0, strategy = 0 } end
    if k == 9 then return { signal_type = "SHORT", position_size = 50 } end
end
return M
"""

# A live strategy whose LIMIT buys (0.5 % under the close) rest for bars, and a
# shadow that withdraws and replaces its own resting orders on every bar (CLOSE,
# a LIMIT far below, a STOP far above: each cancels the asset's pending orders
# of ITS book). The live orders must survive every one of those steps.
DIP = """local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    ctx.k = (ctx.k or 0) + 1
    local k = ctx.k % 12
    if k == 1 then return { signal_type = "LONG", order_type = "LIMIT", limit_price = ctx.close * 0.995 } end
    if k == 9 then return { signal_type = "CLOSE" } end
end
return M
"""
CANCELLER = """local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    ctx.k = (ctx.k or 0) + 1
    local k = ctx.k % 3
    if k == 0 then return { signal_type = "CLOSE" } end
    if k == 1 then return { signal_type = "LONG", order_type = "LIMIT", limit_price = ctx.close * 0.5 } end
    return { signal_type = "LONG", order_type = "STOP", limit_price = ctx.close * 1.5 }
end
return M
"""

# name: (bar of the trap, code): the ones that raise, each in its own shadow
ATTACKS = {
    "boom": (121, "error('boom')"),
    "spin": (61, "while true do end"),
    "hog": (101, BIG),
    "rawset": (30, "rawset(ctx.series, 'close', ctx.series.open)"),
    "series": (30, "ctx.series.close = ctx.series.open"),
    "mts_patch": (30, "mts.rolling_mean = function() return nil end"),
    "series_meta": (30, "getmetatable(ctx.series).__index = {}"),
    "ctx_meta": (30, "setmetatable(ctx, {})"),
    "sessions": (30, "mts.sessions()"),
    "backtest": (30, "mts.backtest{strategy = 'sma_cross', asset = 'bitcoin'}"),
    "ffi": (30, "require('ffi').C.mts_engine_skip(nil, 0, 5)"),
    "huge": (40, "return { signal_type = 'LONG', units = 1e12 }"),
    # its own pcall cannot swallow the budget: every later tick of the call raises too
    "spin_pcall": (81, "for j = 1, 3 do pcall(function() while true do end end) end"),
    "tostring_spin": (30, "error(setmetatable({}, { __tostring = function() while true do end end }))"),
    "init": (0, ""),     # raises in init (below): never trades
}

# the message (after "LABEL: ") each one is disabled with
MESSAGES = {
    "boom": r"scripts/strategies/trap_boom\.lua:\d+: boom \(in on_bar, bitcoin bar 2021-01-06T00:00:00Z\)",
    "spin": r"time budget of 200 ms exceeded \(in on_bar, bitcoin bar 2021-01-03T12:00:00Z\)",
    "hog": r"memory cap of 64 MB exceeded.*\(in on_bar, bitcoin bar 2021-01-05T04:00:00Z\)",
    "rawset": r"unknown global 'rawset'",
    "series": r"ctx\.series is read-only \(assignment to close\)",
    "mts_patch": r"mts is read-only \(assignment to rolling_mean\)",
    "series_meta": r"attempt to index a boolean value",
    "ctx_meta": r"cannot change a protected metatable",
    "sessions": r"mts\.sessions does not exist",
    "backtest": r"mts\.backtest does not exist",
    "ffi": r"module 'ffi' is not available to strategies",
    "spin_pcall": r"time budget of 200 ms exceeded \(in on_bar, bitcoin bar 2021-01-04T08:00:00Z\)",
    "tostring_spin": r"time budget of 200 ms exceeded",
    "init": r"scripts/strategies/trap_init\.lua:\d+: init boom \(in init, bitcoin\)",
    "huge": r"bad signal: units = 1000000000000 at 31691\.29 is a notional of 3\.169129e\+16, more than 100 x "
            r"the equity \(([\d.]+)\) \(in on_bar, bitcoin bar 2021-01-02T15:00:00Z\)",
}


def label(name):
    return "trap_%s:fast=3,slow=12" % name


def iso(ms):
    return dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ShadowGuard(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mts-shadow-guard-")
        cls.root = make_root(cls.tmp)
        st = os.path.join(cls.root, "scripts", "strategies")
        with open(os.path.join(st, "sma_cross.lua")) as f:
            src = f.read()
        marker = "function M.on_bar(ctx, asset, i)\n"
        assert marker in src, "sma_cross.lua has no on_bar"
        for name, (k, code) in ATTACKS.items():
            text = src.replace(marker, marker + TRAP % (k, "        " + code))
            if name == "init":
                text = src.replace("function M.init(ctx)\n", "function M.init(ctx)\n    error('init boom')\n")
                assert text != src
            with open(os.path.join(st, "trap_%s.lua" % name), "w") as f:
                f.write(text)
        for name, text in (("raider", RAIDER), ("dip", DIP), ("canceller", CANCELLER)):
            with open(os.path.join(st, name + ".lua"), "w") as f:
                f.write(text)
        cls.live = cls.session("live.db", *LIVE)
        cls.cand = cls.session("cand.db", *CAND)
        s, db = cls.live
        assert len(cls.fills(db, s)) >= 6, "the feed must make the live strategy trade"
        s, db = cls.cand
        assert len(cls.fills(db, s)) >= 12, "the feed must make the candidate trade"

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def session(cls, dbname, *extra, expect=0):
        db = os.path.join(cls.tmp, dbname)
        srv = xs.KlineServer("binance", {"BTCUSDT": BARS[:N]}, interval="1h", warm=0, pace=0.002).start()
        try:
            r = run(["run", "--exchange", "binance", "--symbol", "BTCUSDT", "--interval", "1h", "--db", db,
                     "--ws-url", srv.ws_url(), "--rest-url", srv.rest_url(), "--warmup", "0", "--max-bars", str(N),
                     "--capital", "%g" % CAPITAL, "--redis", "none", "--json", *extra],
                    env=dict(LIMITS, MTS_ROOT=cls.root, MTS_WS_BACKOFF_MS="100"), timeout=120, cwd=cls.root)
        finally:
            srv.stop()
        assert r.returncode == expect, "exit %d (expected %d)\n%s\n%s" % (r.returncode, expect, r.stdout[-2000:],
                                                                        r.stderr[-3000:])
        summary = json.loads(r.stdout.splitlines()[-1])
        assert summary["type"] == "session" and summary["status"] == "stopped", summary
        assert summary["live_bars"] == N, summary
        return summary, db

    @staticmethod
    def q(db, sql, *args):
        con = sqlite3.connect(db)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    @classmethod
    def fills(cls, db, s, where=""):
        return cls.q(db, FILL % where, s["session"])

    def hostile(self, dbname, shadows, disabled, live_args=LIVE, oracle=None):
        """A session of live_args with `shadows`: the account is the oracle's
        (the session of live_args alone; LIVE's by default); `disabled` (names
        of ATTACKS) are disabled, named by their labels, and nothing else."""
        extra = []
        for sh in shadows:
            extra += ["--shadow", sh]
        s, db = self.session(dbname, *live_args, *extra, expect=3 if disabled else 0)
        live, ldb = oracle or self.live
        self.assertEqual(self.fills(db, s, "AND shadow = 0"), self.fills(ldb, live))
        self.assertEqual(self.q(db, EQ, s["session"]), self.q(ldb, EQ, live["session"]))
        for k in ("final_equity", "fills", "signals", "fees"):
            self.assertEqual(s[k], live[k], k)
        self.assertEqual(s["risk"], live["risk"])
        self.assertEqual([(b["book"], b["final"], b["fills"]) for b in s["books"]],
                         [(b["book"], b["final"], b["fills"]) for b in live["books"]])
        # the account's book row: LIVE's final equity and fills
        self.assertEqual(self.q(db, "SELECT strategy, equity, fills FROM paper_books WHERE session_id = ? AND book = 0",
                                s["session"]), [(live_args[1], live["final_equity"], live["fills"])])
        self.assertEqual(len(s["disabled"]), len(disabled), s["disabled"])
        got = {}
        for msg in s["disabled"]:
            lab, _, rest = msg.partition(": ")
            got[lab] = rest
        for name in disabled:
            self.assertIn(label(name), got, s["disabled"])
            self.assertRegex(got[label(name)], MESSAGES[name])
        self.assertEqual([x["label"] for x in s["shadows"]], list(shadows))
        return s, db

    def assert_trapped_book(self, s, db, name):
        """The shadow trap_NAME traded as CAND until its trap, then stopped;
        its book kept what it had, marked at the last close."""
        k = ATTACKS[name][0]
        cand, cdb = self.cand
        lab = label(name)
        mine = self.q(db, FILL % "AND shadow = 1 AND strategy = ?", s["session"], lab)
        t_trap = BARS[k - 1][0] // 1000
        before = [f for f in self.fills(cdb, cand) if f[0] <= t_trap]
        self.assertGreaterEqual(len(before), 2, "the trap must spring after the shadow traded")
        self.assertLess(len(before), len(self.fills(cdb, cand)), "CAND trades after the trap: disabling matters")
        self.assertEqual(mine, before)
        # its book: cash and position from its fills, marked at the last bar's close
        cash, qty = CAPITAL, 0.0
        for _, side, q, p, fee in mine:
            if side == "buy":
                cash, qty = cash - q * p - fee, qty + q
            else:
                cash, qty = cash + q * p - fee, qty - q
        equity = cash + qty * float(BARS[N - 1][4])
        sh = [x for x in s["shadows"] if x["label"] == lab][0]
        self.assertAlmostEqual(sh["final"], equity, places=6)
        self.assertEqual(sh["fills"], len(mine))
        row = self.q(db, "SELECT equity, cash, fills, shadow FROM paper_books WHERE session_id = ? AND strategy = ?",
                     s["session"], lab)
        self.assertEqual(len(row), 1)
        self.assertAlmostEqual(row[0][0], equity, places=6)
        self.assertAlmostEqual(row[0][1], cash, places=6)
        self.assertEqual(row[0][2:], (len(mine), 1))
        return qty

    # 1. a shadow that raises in on_bar after 120 bars
    def test_raises_in_on_bar(self):
        s, db = self.hostile("boom.db", [label("boom")], ["boom"])
        self.assertRegex(s["disabled"][0], "^" + label("boom") + ": ")
        self.assertEqual(iso(BARS[120][0]), "2021-01-06T00:00:00Z")
        qty = self.assert_trapped_book(s, db, "boom")
        self.assertGreater(qty, 0, "CAND is long at the trap (bought at bar 108): the book keeps the position")

    # 2. absurd sizes: trimmed and refused in the shadow's own book; 1e12 units: a bad signal
    def test_absurd_sizes(self):
        s, db = self.hostile("sizes.db", ["raider", label("huge")], ["huge"])
        mine = self.q(db, FILL % "AND shadow = 1 AND strategy = 'raider'", s["session"])
        self.assertGreaterEqual(len(mine), 2, "the raider must trade (in its own book)")
        # within its own book: never more than its cash bought, never short on spot
        cash, qty = CAPITAL, 0.0
        index = {b[0] // 1000: j for j, b in enumerate(BARS[:N])}
        for ts, side, q, p, fee in mine:
            if side == "buy":
                self.assertLessEqual(q * p + fee, cash * (1 + 1e-9), (ts, q, p, cash))
                # 20 BTC (~60 x its book) and position_size 50 trimmed to risk.lua's max_position_size
                # (0.10) of ITS equity, sized at the close of the bar that decided (the one before the fill)
                c = float(BARS[index[ts] - 1][4])
                self.assertLessEqual(q * c, 0.10 * (cash + qty * c) * (1 + 1e-9), (ts, q, c, cash, qty))
                cash, qty = cash - q * p - fee, qty + q
            else:
                self.assertLessEqual(q, qty * (1 + 1e-9), (ts, q, qty))
                cash, qty = cash + q * p - fee, qty - q
            self.assertGreaterEqual(cash, -1e-6)
        row = self.q(db, "SELECT initial, cash, fills FROM paper_books WHERE session_id = ? AND strategy = 'raider'",
                     s["session"])
        self.assertEqual(row[0][0], CAPITAL)
        self.assertAlmostEqual(row[0][1], cash, places=6)
        self.assertEqual(row[0][2], len(mine))
        # --json's shadows entry counts what risk.lua trimmed in its book: every buy it filled was
        # asked at 20 BTC or 5000 % (each one a trimmed order), and its fills are its book's
        ent = [x for x in s["shadows"] if x["label"] == "raider"][0]
        self.assertGreaterEqual(ent["risk_trimmed"], sum(1 for f in mine if f[1] == "buy"), ent)
        self.assertEqual(ent["fills"], len(mine), ent)
        # trap_huge: CAND's fills until its 40th bar (BARS[39], close 31691.29), then a bad signal
        # (the notional bound is against ITS book's equity: CAND's fills marked at that close)
        cand, cdb = self.cand
        before = [f for f in self.fills(cdb, cand) if f[0] <= BARS[39][0] // 1000]
        self.assertEqual(self.q(db, FILL % "AND shadow = 1 AND strategy = ?", s["session"], label("huge")), before)
        self.assertEqual([f[1] for f in before], ["buy"])
        _, _, q, p, fee = before[0]
        book_eq = CAPITAL - q * p - fee + q * float(BARS[39][4])
        msg = [m for m in s["disabled"] if m.startswith(label("huge") + ": ")][0]
        self.assertAlmostEqual(float(re.search(MESSAGES["huge"], msg).group(1)), book_eq, places=6)

    # 3. a shadow that loops forever and one that allocates without bound
    def test_time_and_memory(self):
        names = ["spin", "hog", "spin_pcall"]
        s, db = self.hostile("limits.db", [label(n) for n in names], names)
        for n in names:
            self.assert_trapped_book(s, db, n)

    # 4. reaching for the account: ctx rewritten, lying position(), shared tables, API it does not have
    def test_reaching_for_the_account(self):
        names = ["rawset", "series", "mts_patch", "series_meta", "ctx_meta", "sessions", "backtest"]
        s, db = self.hostile("raid.db", ["raider"] + [label(n) for n in names], names)
        self.assertGreaterEqual(len(self.q(db, FILL % "AND shadow = 1 AND strategy = 'raider'", s["session"])), 2)
        names = ["ffi", "tostring_spin", "init"]
        s, db = self.hostile("ffi.db", [label(n) for n in names], names)
        # disabled in init: no order, its book as it started
        sh = [x for x in s["shadows"] if x["label"] == label("init")][0]
        self.assertEqual((sh["fills"], sh["final"]), (0, CAPITAL))
        self.assertEqual(self.q(db, FILL % "AND strategy = ?", s["session"], label("init")), [])

    # 5. withdrawing orders: a shadow's CLOSE and new resting orders cancel its own book's only
    def test_cancels_only_its_own_orders(self):
        alone = self.session("dip.db", "--strategy", "dip")
        s, db = alone
        buys = [f[0] for f in self.fills(db, s) if f[1] == "buy"]
        self.assertGreaterEqual(len(buys), 6)
        # placed on bars 0, 12, 24, ... (ctx.k % 12 == 1); some filled 2 or more bars later: they rested
        # across steps where the shadow cancelled (it does on every bar)
        index = {b[0] // 1000: j for j, b in enumerate(BARS[:N])}
        self.assertTrue(any(index[t] % 12 >= 2 for t in buys), [index[t] for t in buys])
        s, db = self.hostile("canceller.db", ["canceller"], [], ("--strategy", "dip"), alone)
        self.assertEqual(s["shadows"][0]["fills"], 0)


if __name__ == "__main__":
    unittest.main()
