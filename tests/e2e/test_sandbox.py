"""Sandbox escapes tried through `mts backtest`: each hostile strategy runs
next to sma_cross in a temporary root (scripts/lib, config and data linked
from the repository). Each must be disabled with a clear message, quickly,
while sma_cross trades exactly as it does alone, and nothing outside is
touched."""
import json
import os
import shutil
import tempfile
import time
import unittest

from mtslib import ROOT, run

EVIL = {
    "spin": ("while true do end", r"spin\.lua:\d+: time budget of 300 ms exceeded"),
    "forloop": ("local x = 0 for k = 1, 1e12 do x = x + k end", r"time budget of 300 ms exceeded"),
    "pcallspin": ("while true do pcall(function() while true do end end) end",
                  r"time budget of 300 ms exceeded"),
    "osexec": ('os.execute("touch MARKER")', r"unknown global 'os'"),
    "ioopen": ('io.open("MARKER", "w")', r"unknown global 'io'"),
    "reqos": ('require("os").execute("touch MARKER")', r"module 'os' is not available to strategies"),
    "reqio": ('require("io")', r"module 'io' is not available to strategies"),
    "loadbc": ('loadstring(string.dump(function() end))', r"unknown global 'loadstring'"),
    "loadfn": ('load("return 1")', r"unknown global 'load'"),
    "repbomb": ('local s = string.rep("x", 2^30)', r"exceeds the memory cap of 64 MB"),
    "repbomb2": ('local s = ("x"):rep(2^30)', r"memory cap of 64 MB exceeded"),
    "tablebomb": ("local t = {} for k = 1, 1e9 do t[k] = k end", r"memory cap of 64 MB exceeded"),
    "concatbomb": ('local s = "x" while true do s = s .. s end', r"memory cap of 64 MB exceeded"),
    "recursion": ("local function f(n) return 1 + f(n + 1) end return f(1)", r"stack overflow"),
    "ffireq": ('return require("ffi").C', r"module 'ffi' is not available to strategies"),
    "ffiglobal": ("return ffi.C", r"unknown global 'ffi'"),
    "ffimeta": ('local mt = getmetatable(ctx.fast) return mt.__index.C', r"attempt to index local 'mt' \(a nil value\)"),
    "jitoff": ("jit.on()", r"unknown global 'jit'"),
    "debuglib": ("debug.sethook()", r"unknown global 'debug'"),
    "setglobal": ("leak = 1", r"assignment to undeclared global 'leak'"),
    # raw memory: every array a strategy gets is a bounds-checked view
    "oobread": ("return ctx.series.close[ctx.n + 1000000]", r"series index \d+ out of range 0 \.\. \d+"),
    "oobneg": ("local x = ctx.series.ts[-1]", r"series index -1 out of range"),
    "oobwrite": ("local s = mts.series(3) s[10000000] = 1", r"series index 10000000 out of range 0 \.\. 2"),
    "barwrite": ("ctx.series.close[0] = 0", r"this series is read-only"),
    "rawptr": ("return ctx.series.close.p[1000000000]", r"a series is indexed by number"),
    "pushnull": ("ctx.fast.push(nil, 1)", r"push: call it as r:push\(x\)"),
    "gotoloop": ("::top:: goto top", r"time budget of 300 ms exceeded"),
    "macrowrite": ('local m = ctx.macro("VIX") m.v = nil', r"is read-only \(assignment to v\)"),
}

TEMPLATE = """local M = {}
function M.get_parameters() return {} end
function M.init(ctx) ctx.fast = mts.rolling_mean(2) end
function M.on_bar(ctx, asset, i)
%s
end
return M
"""


def make_root(tmp):
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "scripts", "strategies"))
    for d in ("config", "data", "runtime"):
        os.symlink(os.path.join(ROOT, d), os.path.join(root, d))
    os.symlink(os.path.join(ROOT, "scripts", "lib"), os.path.join(root, "scripts", "lib"))
    shutil.copy(os.path.join(ROOT, "scripts", "strategies", "sma_cross.lua"),
                os.path.join(root, "scripts", "strategies"))
    for name, (body, _) in EVIL.items():
        with open(os.path.join(root, "scripts", "strategies", name + ".lua"), "w") as f:
            f.write(TEMPLATE % body)
    return root


def backtest(root, db, strategies, env=None):
    e = {"MTS_ROOT": root, "MTS_STRATEGY_TIME_MS": "300", "MTS_STRATEGY_MEMORY_MB": "64"}
    e.update(env or {})
    r = run(["backtest", "--db", db, "--strategy", strategies, "--asset", "bitcoin", "--json"],
            env=e, timeout=120, cwd=root)
    lines = [l for l in r.stdout.splitlines() if l.startswith('{"id"')]
    return r, (json.loads(lines[0]) if lines else None)


class SandboxEscapes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mts-sandbox-")
        cls.root = make_root(cls.tmp)
        cls.db = os.path.join(cls.tmp, "t.db")
        r, cls.alone = backtest(cls.root, cls.db, "sma_cross")
        assert cls.alone, r.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_each_escape_is_stopped_and_the_other_strategy_carries_on(self):
        for name, (_, pattern) in EVIL.items():
            with self.subTest(name):
                t0 = time.time()
                r, res = backtest(self.root, self.db, name + ",sma_cross")
                elapsed = time.time() - t0
                self.assertEqual(r.returncode, 3, r.stderr)          # completed, a strategy disabled
                self.assertIsNotNone(res, r.stderr)
                self.assertEqual(len(res["disabled"]), 1, res["disabled"])
                self.assertRegex(res["disabled"][0], "^" + name + ": .*" + pattern)
                self.assertIn("(in on_bar, bitcoin bar 2018-03-17T00:00:00Z)", res["disabled"][0])
                self.assertEqual(res["trade_count"], self.alone["trade_count"])
                self.assertAlmostEqual(res["final_value"], self.alone["final_value"], places=6)
                self.assertLess(elapsed, 20, name)
                self.assertFalse(os.path.exists(os.path.join(self.root, "MARKER")))

    def test_trusted_mode_is_opt_in(self):
        # with MTS_TRUSTED_STRATEGIES=1 the limits are off: a string of 100 MB passes
        with open(os.path.join(self.root, "scripts", "strategies", "big.lua"), "w") as f:
            f.write(TEMPLATE % 'local s = string.rep("x", 100 * 2^20)')
        r, res = backtest(self.root, self.db, "big,sma_cross")
        self.assertEqual(len(res["disabled"]), 1)
        r, res = backtest(self.root, self.db, "big,sma_cross", {"MTS_TRUSTED_STRATEGIES": "1"})
        self.assertEqual(res["disabled"], [], r.stderr)

    def test_bytecode_file_is_refused(self):
        import subprocess
        path = os.path.join(self.root, "scripts", "strategies", "bc.lua")
        subprocess.run(["luajit", "-b", "-e", "return {}", path], check=True)
        r, res = backtest(self.root, self.db, "bc")
        self.assertEqual(r.returncode, 1)
        self.assertIn("bytecode is not accepted, only Lua source", r.stderr)


if __name__ == "__main__":
    unittest.main()
