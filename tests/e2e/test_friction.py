"""Everyday friction (issue 14): strategies outside the install tree (--strategy
PATH, MTS_STRATEGY_PATH, a JSON config beside the file, a MTS_ROOT holding only
strategies), duplicate names refused, POST /backtest limited to names on the
path, ENABLED_STRATEGIES in run/serve/optimize, `mts stream --ws-url/--rest-url`
against a stand-in and its human summary, the `mts run` banner, and the API's
ISO-8601 created_at / started_at.

The comparisons are between two ways of running one file (equal metrics and
parameters), and against what the stand-in servers sent or SQLite holds, never
against numbers printed by the code under test alone."""
import datetime as dt
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exchange_server as xs  # noqa: E402
from exchange_server import ExchangeServer  # noqa: E402
from mtslib import MTS, ROOT, MtsTestCase, make_root  # noqa: E402
import test_run  # noqa: E402  (a module: its TestCase is not collected from here)
from test_run import PROBE_V1, PROBE_V2  # noqa: E402
from test_repl import Session  # noqa: E402
from test_serve import Server, make_token  # noqa: E402

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RANGE = ("--asset", "bitcoin", "--from", "2021-01-01", "--to", "2023-12-31")
CONFIG = {"fast": 7, "slow": 40}        # sma_cross's defaults are 10 / 30 / units 0 (get_parameters)
PARAMS = dict(CONFIG, units=0)
METRICS = ("final_value", "total_return", "sharpe_ratio", "max_drawdown", "trade_count", "win_rate")


def sma_source():
    with open(os.path.join(ROOT, "scripts/strategies/sma_cross.lua")) as f:
        return f.read()


class StrategyPaths(MtsTestCase):
    """A copy of sma_cross.lua named mycross, with a config, in three places."""

    def setUp(self):
        super().setUp()
        self.dir = os.path.join(self.tmp, "mine")
        os.makedirs(self.dir)
        self.file = os.path.join(self.dir, "mycross.lua")
        with open(self.file, "w") as f:
            f.write(sma_source())
        with open(os.path.join(self.dir, "mycross.json"), "w") as f:
            json.dump(CONFIG, f)
        # the same file and config inside a tree: scripts/strategies + config/strategies
        self.root = make_root(self.tmp)
        shutil.copy(self.file, os.path.join(self.root, "scripts/strategies/mycross.lua"))
        with open(os.path.join(self.root, "config/strategies/mycross.json"), "w") as f:
            json.dump(CONFIG, f)

    def bt(self, strategy, env=None, expect=0):
        return self.backtest_json("--strategy", strategy, *RANGE, env=env, expect=expect)

    def assert_same_run(self, a, b):
        for k in METRICS:
            self.assertEqual(a[k], b[k], k)
        self.assertEqual(a["parameters"], b["parameters"])

    def test_by_path_and_by_strategy_path_equal_the_tree(self):
        tree, _ = self.bt("mycross", env={"MTS_ROOT": self.root})
        # the config was read: the parameters are the JSON's, not the defaults
        self.assertEqual(tree["parameters"]["mycross"], PARAMS, tree["parameters"])
        self.assertEqual(tree["strategy"], "mycross")
        by_path, _ = self.bt(self.file)
        self.assert_same_run(by_path, tree)
        self.assertEqual(by_path["strategy"], "mycross")        # the basename, not the path
        rel, _ = self.bt(os.path.relpath(self.file, ROOT))      # relative to the working directory
        self.assert_same_run(rel, tree)
        on_path, _ = self.bt("mycross", env={"MTS_STRATEGY_PATH": "/nonexistent:" + self.dir})
        self.assert_same_run(on_path, tree)
        # the stored run is named mycross
        con = sqlite3.connect(self.db)
        names = {r[0] for r in con.execute("SELECT strategy_name FROM backtest_results")}
        con.close()
        self.assertEqual(names, {"mycross"})

    def test_without_a_config_the_defaults(self):
        os.remove(os.path.join(self.dir, "mycross.json"))
        by_path, _ = self.bt(self.file)
        self.assertEqual(by_path["parameters"]["mycross"], {"fast": 10, "slow": 30, "units": 0})
        ref, _ = self.bt("sma_cross")
        for k in METRICS:
            self.assertEqual(by_path[k], ref[k], k)

    def test_strategy_path_comes_before_the_tree(self):
        # a sma_cross.lua on the path with other defaults wins over scripts/strategies
        with open(os.path.join(self.dir, "sma_cross.lua"), "w") as f:
            f.write(sma_source().replace("fast = 10, slow = 30", "fast = 7, slow = 40"))
        with open(os.path.join(self.dir, "sma_cross.lua")) as f:
            self.assertIn("fast = 7", f.read())
        r, _ = self.bt("sma_cross", env={"MTS_STRATEGY_PATH": self.dir})
        self.assertEqual(r["parameters"]["sma_cross"], PARAMS)

    def test_mts_root_holding_only_strategies(self):
        # a project directory with scripts/strategies and config/strategies only: the Lua
        # libraries and the FFI header come from the install
        proj = os.path.join(self.tmp, "proj")
        os.makedirs(os.path.join(proj, "scripts/strategies"))
        os.makedirs(os.path.join(proj, "config/strategies"))
        shutil.copy(self.file, os.path.join(proj, "scripts/strategies/mycross.lua"))
        shutil.copy(os.path.join(self.dir, "mycross.json"), os.path.join(proj, "config/strategies"))
        tree, _ = self.bt("mycross", env={"MTS_ROOT": self.root})
        r, proc = self.bt("mycross", env={"MTS_ROOT": proj})
        self.assertNotIn("FFI", proc.stderr)
        self.assert_same_run(r, tree)

    def test_two_files_with_one_name_refused(self):
        other = os.path.join(self.tmp, "other")
        os.makedirs(other)
        shutil.copy(self.file, os.path.join(other, "mycross.lua"))
        r = self.mts("backtest", "--strategy", self.file + "," + os.path.join(other, "mycross.lua"), *RANGE,
                     expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("two strategies named 'mycross'", r.stderr)
        self.assertIn(os.path.realpath(self.file), r.stderr)
        self.assertIn(os.path.realpath(os.path.join(other, "mycross.lua")), r.stderr)
        # a path and a name found elsewhere (the tree's mycross)
        r = self.mts("backtest", "--strategy", "mycross," + self.file, *RANGE, env={"MTS_ROOT": self.root},
                     expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("two strategies named 'mycross'", r.stderr)
        # the same file twice is "selected twice"
        r = self.mts("backtest", "--strategy", self.file + "," + self.file, *RANGE, expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("selected twice", r.stderr)

    def test_bad_paths(self):
        r = self.mts("backtest", "--strategy", os.path.join(self.dir, "nope.lua"), *RANGE, expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nope.lua", r.stderr)
        bad = os.path.join(self.dir, "my cross.lua")
        shutil.copy(self.file, bad)
        r = self.mts("backtest", "--strategy", bad, *RANGE, expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("letters, digits", r.stderr)

    def test_optimize_by_path_and_enabled_strategies(self):
        r = self.mts("optimize", "--strategy", self.file, *RANGE, "--param", "fast=5,7", "--db", self.db,
                     "--json")
        out = json.loads(r.stdout)
        self.assertIn("mycross", r.stdout)
        self.assertTrue(out)
        r = self.mts("optimize", "--strategy", "sma_cross", *RANGE, "--param", "fast=5,7", "--db", self.db,
                     env={"ENABLED_STRATEGIES": "mean_reversion, vix_correlation"}, expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("strategy 'sma_cross' is not enabled", r.stderr)
        self.assertIn("ENABLED_STRATEGIES", r.stderr)
        # listed (with spaces around the commas): allowed
        self.mts("optimize", "--strategy", "sma_cross", *RANGE, "--param", "fast=5,7", "--db", self.db,
                 "--json", env={"ENABLED_STRATEGIES": "mean_reversion , sma_cross"})

    def test_optimize_redis_refuses_a_strategy_outside_the_tree(self):
        # the workers receive scripts/strategies only: refused before connecting (no Redis needed)
        r = self.mts("optimize", "--strategy", self.file, *RANGE, "--param", "fast=5,7", "--db", self.db,
                     "--redis", "redis://127.0.0.1:1", expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--redis ships only strategies of", r.stderr)
        self.assertIn(os.path.realpath(self.file), r.stderr)
        self.assertNotIn("cannot connect", r.stderr)

    def test_repl_by_path(self):
        code = ("r = mts.backtest{strategy = %r, asset = 'bitcoin', from = '2021-01-01', to = '2023-12-31'}; "
                "print(r.strategy, r.total_return, r.trade_count)") % self.file
        r = self.mts("repl", "--db", self.db, "-e", code)
        name, ret, n = r.stdout.split()[-3:]
        ref, _ = self.bt(self.file)
        self.assertEqual(name, "mycross")
        self.assertAlmostEqual(float(ret), ref["total_return"], places=12)
        self.assertEqual(int(n), ref["trade_count"])

    def test_repl_dot_commands_see_the_strategy_path(self):
        e = dict(os.environ, MTS_STRATEGY_PATH=self.dir)
        e.pop("DATABASE_PATH", None)
        r = subprocess.run([MTS, "repl", "--db", self.db], input=".strategies\n.reload mycross\n",
                           capture_output=True, text=True, env=e, cwd=ROOT, timeout=60)
        self.assertIn("  mycross\n", r.stdout)
        self.assertIn("  sma_cross\n", r.stdout)
        self.assertIn("reloaded strategy mycross (parameters: fast=10, slow=30, units=0)", r.stdout)


class ReplCompletion(unittest.TestCase):
    """Tab in a pseudo-terminal (test_repl.Session): after ':' only methods, never a
    field (r:trade -> r:trades, not r.trade_count); internals (_ud) never offered."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mts-friction-repl-")
        self.s = Session(self.tmp)
        self.s.read_until(r"mts> $")

    def tearDown(self):
        self.s.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_methods_and_no_internals(self):
        s = self.s
        s.send("r = mts.backtest{strategy = 'sma_cross', asset = 'bitcoin', from = '2024-01-01'}\n")
        s.read_until(r"mts> $", timeout=60)
        s.send("=#r:trade\t")
        s.read_until(r"r:trades$")           # the one method; trade_count is a field
        s.send("()\n")
        self.assertRegex(s.read_until(r"mts> $"), r"\n\d+\n")
        s.send("=r.trade_c\t")
        s.read_until(r"r\.trade_count$")     # after '.' the field is offered
        s.send(" >= 0\n")
        self.assertIn("true", s.read_until(r"mts> $"))
        # a table with an internal field: '.' completes to the one public key
        s.send("t = {_ud = 1, _private = 2, value = 3}\n")
        s.read_until(r"mts> $")
        s.send("=t.\t")
        s.read_until(r"t\.value$")
        s.send("\n")
        self.assertIn("\n3\n", s.read_until(r"mts> $"))


class ServeNames(MtsTestCase):
    def setUp(self):
        super().setUp()
        self.dir = os.path.join(self.tmp, "mine")
        os.makedirs(self.dir)
        with open(os.path.join(self.dir, "mycross.lua"), "w") as f:
            f.write(sma_source())
        self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin", "--quiet")   # imports the bars
        self.write = make_token(scope="write")
        self.read = make_token(scope="read")

    def server(self, env):
        s = Server(self.db, env=env, tmp=self.tmp)
        self.addCleanup(s.stop)
        return s

    def test_post_backtest_names_only_and_created_at_iso(self):
        s = self.server({"MTS_STRATEGY_PATH": self.dir})
        body = {"strategy_name": "mycross", "assets": ["bitcoin"], "start": "2022-01-01", "end": "2022-12-31"}
        before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        out, _ = s.json("POST", "/backtest", body, token=self.write)
        self.assertEqual(out["strategy"], "mycross")
        for bad in (os.path.join(self.dir, "mycross.lua"), "../mine/mycross", "mycross.lua",
                    os.path.join(ROOT, "scripts/strategies/sma_cross.lua")):
            err, _ = s.json("POST", "/backtest", dict(body, strategy_name=bad), token=self.write, expect=400)
            self.assertEqual(err["error"], "bad_request", bad)
        # created_at: ISO-8601 UTC, within the test's time, in the list and in one run
        runs, _ = s.json("GET", "/backtests", token=self.read)
        for run in runs["backtests"]:
            self.assertRegex(run["created_at"], ISO)
        mine = [x for x in runs["backtests"] if x["strategy"] == "mycross"][0]
        t = dt.datetime.strptime(mine["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        self.assertLessEqual(abs((t - before).total_seconds()), 120)
        one, _ = s.json("GET", "/backtests/%d" % mine["id"], token=self.read)
        self.assertEqual(one["created_at"], mine["created_at"])
        # the same instant as SQLite's CURRENT_TIMESTAMP text in the table
        con = sqlite3.connect(self.db)
        (raw,) = con.execute("SELECT created_at FROM backtest_results WHERE id=?", (mine["id"],)).fetchone()
        con.close()
        self.assertEqual(raw.replace(" ", "T") + "Z", mine["created_at"])

    def test_signals_generate_assets_and_deprecated_symbols(self):
        s = self.server({})
        a, _ = s.json("POST", "/signals/generate", {"strategy_name": "sma_cross", "assets": ["bitcoin"]},
                      token=self.write)
        b, _ = s.json("POST", "/signals/generate", {"strategy_name": "sma_cross", "symbols": ["bitcoin"]},
                      token=self.write)
        self.assertEqual(a["signals"], b["signals"])
        self.assertEqual(a["metadata"]["assets"], b["metadata"]["assets"])
        err, _ = s.json("POST", "/signals/generate", {"strategy_name": "sma_cross", "symbols": ["bitcoin"],
                                                      "assets": ["bitcoin"]}, token=self.write, expect=400)
        self.assertIn("deprecated", err["detail"])

    def test_enabled_strategies(self):
        s = self.server({"ENABLED_STRATEGIES": "mean_reversion"})
        body = {"strategy_name": "sma_cross", "assets": ["bitcoin"], "start": "2022-01-01", "end": "2022-12-31"}
        err, _ = s.json("POST", "/backtest", body, token=self.write, expect=400)
        self.assertIn("ENABLED_STRATEGIES", err["detail"])
        self.assertIn("sma_cross", err["detail"])
        s.json("POST", "/backtest", dict(body, strategy_name="mean_reversion"), token=self.write)

    def test_paper_sessions_times(self):
        self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin", "--quiet")   # the schema
        con = sqlite3.connect(self.db)
        con.execute("INSERT INTO paper_sessions(id, started_at, stopped_at, strategies, exchange, symbols, interval,"
                    " initial_capital, commission_bps, slippage_bps, status, bars)"
                    " VALUES (7, 1764000000, 1764000600, 'sma_cross', 'binance', 'BTCUSDT', '1m', 10000, 10, 0,"
                    " 'stopped', 10)")
        con.commit()
        con.close()
        s = self.server({})
        out, _ = s.json("GET", "/paper/sessions/7", token=self.read)
        # 1764000000 = 2025-11-24T16:00:00Z (independently: datetime)
        want = dt.datetime.fromtimestamp(1764000000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.assertEqual(out["started_at"], want)
        self.assertEqual(out["started_ts"], 1764000000)
        self.assertEqual(out["started"], want)
        self.assertEqual(out["stopped_at"], "2025-11-24T16:10:00Z")
        self.assertEqual(out["stopped_ts"], 1764000600)
        lst, _ = s.json("GET", "/paper/sessions", token=self.read)
        self.assertEqual(lst["sessions"][0]["started_at"], want)


class StreamFlags(MtsTestCase):
    def test_urls_from_the_command_line_and_the_summary(self):
        srv = ExchangeServer("binance").start()
        self.addCleanup(srv.stop)
        u = srv.url()
        # the environment points at nothing: only the flags can reach the stand-in
        env = {"BINANCE_WS_URL": "ws://127.0.0.1:9", "BINANCE_REST_URL": "http://127.0.0.1:9",
               "BINANCE_FUTURES_WS_URL": u, "MTS_WS_BACKOFF_MS": "100"}
        r = self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT,ETHUSDT", "--duration", "4s",
                     "--db", self.db, "--ws-url", u, "--rest-url", srv.url("http"), env=env, timeout=60)
        con = sqlite3.connect(self.db)
        rows = con.execute("SELECT symbol, trade_id FROM trades WHERE exchange='binance'").fetchall()
        per_sym = {s: n for s, n in con.execute("SELECT symbol, COUNT(*) FROM trades GROUP BY symbol")}
        snaps = {s: n for s, n in con.execute("SELECT symbol, COUNT(DISTINCT ts_ms) FROM order_book_snapshots"
                                              " GROUP BY symbol")}
        book_rows = con.execute("SELECT COUNT(*) FROM order_book_snapshots").fetchone()[0]
        funding = {s: n for s, n in con.execute("SELECT symbol, COUNT(*) FROM funding_rates GROUP BY symbol")}
        con.close()
        self.assertEqual(set(rows), set(srv.sent_trades))
        self.assertGreater(len(rows), 0)
        out = r.stdout
        self.assertRegex(out, r"^stream binance: \d+\.\d s \(stopped by duration\), \d+ messages, 0 reconnects")
        sent = len(srv.sent_trades)
        self.assertRegex(out, r"\n  trades +%d +%d +0  0 duplicates\n" % (sent, len(rows)))
        self.assertRegex(out, r"\n  book snapshots +%d +%d +0 " % (sum(snaps.values()), book_rows))
        self.assertRegex(out, r"\n  funding +%d +%d +0\n" % (len(srv.sent_funding), sum(funding.values())))
        for sym in ("BTCUSDT", "ETHUSDT"):
            self.assertRegex(out, r"\n  %s +%d +%d +%d +0\n" % (sym, per_sym[sym], snaps[sym], funding[sym]))
        self.assertIn("database " + self.db, out)

    def test_bad_urls(self):
        r = self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--ws-url", "http://x",
                     expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--ws-url expects a ws:// or wss:// URL", r.stderr)
        r = self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT", "--rest-url", "ws://x",
                     expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--rest-url expects an http:// or https:// URL", r.stderr)


FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "live")


class RunNames(MtsTestCase):
    def test_banner_and_a_strategy_by_path(self):
        bars = {s: xs.read_kline_csv(os.path.join(FIX, s + "_1d_2021.csv"))[:40] for s in ("BTCUSDT", "ETHUSDT")}
        srv = xs.KlineServer("binance", bars, interval="1d").start()
        self.addCleanup(srv.stop)
        d = os.path.join(self.tmp, "mine")
        os.makedirs(d)
        path = os.path.join(d, "mycross.lua")
        with open(path, "w") as f:
            f.write(sma_source())
        r = self.mts("run", "--strategy", "sma_cross," + path, "--exchange", "binance", "--symbol",
                     "BTCUSDT,ETHUSDT", "--interval", "1d", "--db", self.db, "--ws-url", srv.ws_url(),
                     "--rest-url", srv.rest_url(), "--warmup", "0", "--max-bars", "4",
                     env={"MTS_WS_BACKOFF_MS": "100"}, timeout=120)
        self.assertRegex(r.stdout, r"paper session \d+: sma_cross,mycross on binance BTCUSDT,ETHUSDT 1d")
        con = sqlite3.connect(self.db)
        (names,) = con.execute("SELECT strategies FROM paper_sessions").fetchone()
        con.close()
        self.assertEqual(names, "sma_cross,mycross")

    def test_enabled_strategies_refused(self):
        r = self.mts("run", "--strategy", "sma_cross", "--exchange", "binance", "--symbol", "BTCUSDT",
                     "--interval", "1d", "--db", self.db, env={"ENABLED_STRATEGIES": "mean_reversion"},
                     expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("strategy 'sma_cross' is not enabled: ENABLED_STRATEGIES=mean_reversion", r.stderr)


class RunReloadByPath(test_run.RunTest):
    """A live session of a strategy given by path reloads that file when it changes
    (the runner watches the file it loaded, not scripts/strategies/NAME.lua)."""
    # RunTest's helpers (serve, start, wait_for, q); its own tests are not run again from here
    for _k in [k for k in dir(test_run.RunTest) if k.startswith("test_")]:
        locals()[_k] = None
    del _k

    def test_hot_reload_of_a_file_by_path(self):
        d = os.path.join(self.tmp, "mine")
        os.makedirs(d)
        path = os.path.join(d, "probe.lua")
        with open(path, "w") as f:
            f.write(PROBE_V1)
        srv = self.serve(warm=20, pace=0.04)      # test_run's 1h fixture
        p = self.start(srv, "--warmup", "20", strategy=path)
        self.wait_for(lambda: os.path.exists(self.db) and self.q("SELECT COUNT(*) FROM live_bars")[0][0] >= 5)
        self.assertEqual(self.q("SELECT COUNT(*) FROM signal_history")[0][0], 0)
        with open(path, "w") as f:
            f.write(PROBE_V2)
        self.wait_for(lambda: self.q("SELECT COUNT(*) FROM signal_history")[0][0] >= 3)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err[-2000:])
        self.assertIn('"event":"strategy.reloaded"', err)
        self.assertIn(path, [json.loads(x).get("file") for x in err.splitlines() if "strategy.reloaded" in x])
        self.assertEqual({r[0] for r in self.q("SELECT strategy_name FROM signal_history")}, {"probe"})


if __name__ == "__main__":
    unittest.main()
