"""mts repl driven through a pseudo-terminal (Python's pty module): tab
completion, history across two sessions, multi-line input, an error that does
not end the session, Ctrl-C stopping `while true do end` and a numeric for
loop, Ctrl-D leaving; plus -e and script mode without a terminal."""
import os
import pty
import re
import select
import shutil
import signal
import tempfile
import time
import unittest

from mtslib import MTS, ROOT, add_slow_bar_strategy, make_root, run

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


class Session:
    def __init__(self, tmp, extra_env=None):
        env = dict(os.environ)
        env.pop("DATABASE_PATH", None)
        env.update({"MTS_HISTORY": os.path.join(tmp, "history"), "TERM": "dumb",
                    "MTS_ROOT": ROOT, "HOME": tmp})
        if extra_env:
            env.update(extra_env)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(ROOT)
            os.execve(MTS, [MTS, "repl", "--db", os.path.join(tmp, "t.db")], env)
        self.buf = ""

    def read_until(self, pattern, timeout=20):
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while True:
            clean = ANSI.sub("", self.buf)
            m = rx.search(clean)
            if m:
                self.buf = ""
                return clean
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("timed out waiting for %r; got %r" % (pattern, clean[-800:]))
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 4096).decode("utf-8", "replace")
                except OSError:
                    data = ""
                if not data:
                    raise AssertionError("session ended waiting for %r; got %r" % (pattern, clean[-800:]))
                self.buf += data

    def send(self, s):
        os.write(self.fd, s.encode())

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except OSError:
            pass
        os.close(self.fd)

    def wait_exit(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
                if r:
                    os.read(self.fd, 4096)
            except OSError:
                time.sleep(0.05)
        raise AssertionError("repl did not exit")


class ReplPty(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mts-repl-")
        self.s = Session(self.tmp)
        self.s.read_until(r"mts> $")

    def tearDown(self):
        self.s.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_expression_multiline_and_error(self):
        s = self.s
        s.send("1 + 2\n")
        out = s.read_until(r"mts> $")
        self.assertIn("\n3\n", out)
        # an unfinished chunk continues on the next line
        s.send("function sq(x)\n")
        s.read_until(r"\.\.\.> $")
        s.send("return x * x\n")
        s.read_until(r"\.\.\.> $")
        s.send("end\n")
        s.read_until(r"mts> $")
        s.send("=sq(12)\n")
        self.assertIn("144", s.read_until(r"mts> $"))
        # an error prints one line with the location; the session goes on
        s.send("local t = nil; return t.x\n")
        out = s.read_until(r"mts> $")
        self.assertRegex(out, r"error: stdin:1: attempt to index local 't' \(a nil value\)")
        s.send("sq(3)\n")
        self.assertIn("\n9\n", s.read_until(r"mts> $"))

    def test_completion(self):
        s = self.s
        s.send("mts.backt\t")
        s.read_until(r"mts\.backtest$")
        s.send("\x15")   # Ctrl-U: clear the line
        s.send("\n")
        s.read_until(r"mts> $")
        s.send("btc = mts.bars('bitcoin', '2024-01-01', '2024-01-31')\n")
        s.read_until(r"mts> $")
        s.send("=btc.clo\t")
        s.read_until(r"btc\.close$")
        s.send(":las\t")
        s.read_until(r":last$")     # readline redraws only what changed
        s.send("()\n")
        # the 2024-01-31 close in data/crypto/BTCUSDT_1d_binance_spot.csv is 42580.0
        out = s.read_until(r"mts> $")
        self.assertIn("\n42580\n", out)

    def test_completion_of_a_backtest_result(self):
        s = self.s
        s.send("r = mts.backtest{strategy = 'sma_cross', asset = 'bitcoin', from = '2024-01-01'}\n")
        s.read_until(r"mts> $", timeout=60)
        s.send("=r.boo\t")
        s.read_until(r"r\.books$")
        s.send("[1].strategy\n")
        self.assertIn('"sma_cross"', s.read_until(r"mts> $"))
        s.send("=r.sortino\t")
        s.read_until(r"r\.sortino_ratio$")
        s.send(" == r.sortino_ratio\n")
        self.assertIn("true", s.read_until(r"mts> $"))
        s.send("=#r:open_t\t")              # a method behind the result's __index
        s.read_until(r"r:open_trades$")
        s.send("()\n")
        self.assertRegex(s.read_until(r"mts> $"), r"\n[01]\n")

    def test_ctrl_c_stops_loops(self):
        s = self.s
        for loop in ("while true do end", "local x = 0 for i = 1, 1e12 do x = x + i end"):
            s.send(loop + "\n")
            time.sleep(0.5)
            s.send("\x03")
            out = s.read_until(r"mts> $", timeout=10)
            self.assertIn("interrupted", out)
            s.send("=40 + 2\n")
            self.assertIn("42", s.read_until(r"mts> $"))

    def test_ctrl_c_cancels_a_running_backtest(self):
        # a strategy that spends about 2 ms a bar: the 2920 bitcoin bars take
        # seconds, and Ctrl-C stops the run inside the engine (checked every
        # 1024 bars) instead of waiting for mts.backtest to return
        root = make_root(self.tmp)
        add_slow_bar_strategy(root)
        self.s.close()
        self.s = Session(self.tmp, {"MTS_ROOT": root})
        s = self.s
        s.read_until(r"mts> $")
        s.send("r = mts.backtest{strategy = 'slow_bar', asset = 'bitcoin', store = true}\n")
        time.sleep(0.3)
        s.send("\x03")
        out = s.read_until(r"mts> $", timeout=60)
        self.assertIn("cancelled after 1024 of 2920 bars; nothing stored", out)
        s.send("=r == nil\n")
        self.assertIn("true", s.read_until(r"mts> $"))
        s.send("=40 + 2\n")
        self.assertIn("42", s.read_until(r"mts> $"))

    def test_ctrl_c_at_the_prompt_drops_the_input(self):
        s = self.s
        s.send("for i = 1, 3 do\n")          # an unfinished chunk...
        s.read_until(r"\.\.\.> $")
        s.send("print('never')")             # ...and a half-typed line
        time.sleep(0.2)
        s.send("\x03")
        out = s.read_until(r"mts> $")
        self.assertIn("^C", out)
        s.send("=6 * 7\n")                    # a fresh chunk, not a continuation
        out = s.read_until(r"mts> $")
        self.assertIn("42", out)
        self.assertNotIn("never", out)

    def test_history_across_sessions_and_ctrl_d(self):
        s = self.s
        s.send("hist_marker = 1234\n")
        s.read_until(r"mts> $")
        s.send("\x04")   # Ctrl-D
        self.assertEqual(s.wait_exit(), 0)
        s.close()
        self.s = Session(self.tmp)
        self.s.read_until(r"mts> $")
        self.s.send("\x1b[A")   # up arrow: the previous session's line
        self.s.read_until(r"hist_marker = 1234$")
        self.s.send("\n")
        self.s.read_until(r"mts> $")
        self.s.send("=hist_marker\n")
        self.assertIn("1234", self.s.read_until(r"mts> $"))

    def test_dot_commands(self):
        s = self.s
        s.send(".strategies\n")
        self.assertIn("sma_cross", s.read_until(r"mts> $"))
        s.send(".db\n")
        self.assertIn(os.path.join(self.tmp, "t.db"), s.read_until(r"mts> $"))
        s.send(".reload sma_cross\n")
        self.assertIn("reloaded strategy sma_cross", s.read_until(r"mts> $"))
        s.send(".help\n")
        self.assertIn(".reload NAME", s.read_until(r"mts> $"))


class ReplBatch(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mts-repl-")
        self.db = os.path.join(self.tmp, "t.db")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_one_shot(self):
        r = run(["repl", "--db", self.db, "-e",
                 'print(mts.backtest{strategy="sma_cross", asset="ethereum"}.total_return)'], timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertRegex(r.stdout.strip(), r"^-?\d+\.\d+$")
        # the same number as mts backtest --json
        b = run(["backtest", "--db", self.db, "--strategy", "sma_cross", "--asset", "ethereum", "--json"])
        import json
        line = [l for l in b.stdout.splitlines() if l.startswith('{"id"')][0]
        self.assertAlmostEqual(float(r.stdout), json.loads(line)["total_return"], places=9)

    def test_one_shot_error_status(self):
        r = run(["repl", "--db", self.db, "-e", "error('nope')"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("error: stdin:1: nope", r.stdout)

    def test_script(self):
        path = os.path.join(self.tmp, "research.lua")
        with open(path, "w") as f:
            f.write('local b = mts.bars("bitcoin", "2024-01-01", "2024-01-03")\n'
                    'print(#b, arg[1])\n')
        r = run(["repl", "--db", self.db, path, "hello"])
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertEqual(r.stdout.strip(), "3\thello")


class DocExamples(unittest.TestCase):
    """Every ```lua block of docs/lua-api.md runs as a script without error
    (their asserts hold numbers read from the bundled CSVs)."""

    def test_examples_run(self):
        with open(os.path.join(ROOT, "docs", "lua-api.md")) as f:
            blocks = re.findall(r"```lua\n(.*?)```", f.read(), re.S)
        self.assertGreaterEqual(len(blocks), 4)
        tmp = tempfile.mkdtemp(prefix="mts-docs-")
        try:
            for k, code in enumerate(blocks):
                with self.subTest(block=k):
                    path = os.path.join(tmp, "ex%d.lua" % k)
                    with open(path, "w") as f:
                        f.write(code)
                    r = run(["repl", "--db", os.path.join(tmp, "t.db"), path], timeout=120)
                    self.assertEqual(r.returncode, 0, code + "\n" + r.stdout[-2000:] + r.stderr[-2000:])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()


class ReplIntervals(unittest.TestCase):
    """mts.bars(asset, {interval=...}) and mts.backtest{interval=...} read the
    stored bars of that interval (real Binance hours written with sqlite3)."""

    def setUp(self):
        from test_backtest import read_hourly, store_bars
        self.tmp = tempfile.mkdtemp(prefix="mts-repl-iv-")
        self.db = os.path.join(self.tmp, "test.db")
        r = run(["backtest", "--db", self.db, "--strategy", "sma_cross", "--asset", "bitcoin", "--quiet"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.hours = read_hourly(24 * 10)
        store_bars(self.db, "bitcoin", "1h", self.hours)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def repl(self, code):
        r = run(["repl", "--db", self.db, "-e", code], timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        return r.stdout.strip()

    def test_bars_of_an_interval(self):
        out = self.repl('local b = mts.bars("bitcoin", {interval = "1h", from = "2021-01-02T05:00:00Z", '
                        'to = "2021-01-02T09:00:00Z"}) print(#b, b.interval, b[1].date, b[1].close, b:last().close)')
        want = [h for h in self.hours if 1609563600 <= h[0] <= 1609563600 + 4 * 3600]
        n, iv, d, c0, c1 = out.split("\t")
        self.assertEqual((int(n), iv, d), (5, "1h", "2021-01-02T05:00:00Z"))
        self.assertEqual((float(c0), float(c1)), (want[0][4], want[-1][4]))
        # the daily bars are still the default
        out = self.repl('local b = mts.bars("bitcoin", "2021-01-02", "2021-01-04") print(#b, b.interval)')
        self.assertEqual(out, "3\t1d")
        # 4h is not stored: built from the stored hours (first open, max high,
        # min low, last close, summed volume), checked here by aggregating the hours
        out = self.repl('local b = mts.bars("bitcoin", {interval = "4h", from = "2021-01-02T04:00:00Z", '
                        'to = "2021-01-02T04:00:00Z"}) print(#b, b.interval, b[1].date, b[1].open, b[1].high, '
                        'b[1].low, b[1].close, b[1].volume)')
        w = [h for h in self.hours if 1609560000 <= h[0] < 1609560000 + 4 * 3600]
        self.assertEqual(len(w), 4)
        f = out.split("\t")
        self.assertEqual((int(f[0]), f[1], f[2]), (1, "4h", "2021-01-02T04:00:00Z"))
        self.assertEqual([float(x) for x in f[3:7]], [w[0][1], max(h[2] for h in w), min(h[3] for h in w), w[-1][4]])
        self.assertAlmostEqual(float(f[7]), sum(h[5] for h in w), delta=1e-9 * sum(h[5] for h in w))
        r = run(["repl", "--db", self.db, "-e", 'mts.bars("bitcoin", {interval = "7m"})'], timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown interval '7m'", r.stdout + r.stderr)

    def test_backtest_of_an_interval(self):
        out = self.repl('local r = mts.backtest{strategy = "sma_cross", asset = "bitcoin", interval = "1h", '
                        'params = {fast = 5, slow = 20}} print(r.bars, r.interval, r.final_value)')
        bars, iv, final = out.split("\t")
        self.assertEqual((int(bars), iv), (len(self.hours), "1h"))
        import json
        b = run(["backtest", "--db", self.db, "--strategy", "sma_cross", "--asset", "bitcoin", "--interval", "1h",
                 "--param", "fast=5", "--param", "slow=20", "--json"])
        self.assertEqual(b.returncode, 0, b.stderr)
        self.assertAlmostEqual(float(final), json.loads(b.stdout)["final_value"], delta=1e-6)
        r = run(["repl", "--db", self.db, "-e", 'mts.backtest{strategy = "sma_cross", asset = "bitcoin", '
                 'interval = "5h"}'], timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown interval '5h'", r.stdout + r.stderr)


class ReplBusy(unittest.TestCase):
    """mts.backtest{store = true} while another connection holds the database's
    write lock longer than MTS_DB_BUSY_TIMEOUT_MS: the result comes back with
    stored = false and the reason (and a warning line), its numbers those of
    the same backtest run while the database is free."""

    CODE = ('local r = mts.backtest{strategy = "sma_cross", asset = "bitcoin", from = "2021-01-01", '
            'to = "2022-12-31", store = true} '
            'print("RESULT", r.id, tostring(r.stored), r.store_error or "-", ("%.17g"):format(r.final_value), '
            'r.trade_count, #r.warnings)')

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mts-repl-busy-")
        self.db = os.path.join(self.tmp, "t.db")
        self.env = {"MTS_DB_BUSY_TIMEOUT_MS": "1500"}

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def result(self, r):
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        line = [l for l in r.stdout.splitlines() if l.startswith("RESULT\t")]
        self.assertEqual(len(line), 1, r.stdout)
        return line[0].split("\t")[1:]

    def test_unstored_result_says_why(self):
        import subprocess
        import sys
        from test_backtest import LOCKER
        free = self.result(run(["repl", "--db", self.db, "-e", self.CODE], env=self.env, timeout=120))
        self.assertGreater(int(free[0]), 0)
        self.assertEqual(free[1], "true")
        self.assertEqual(free[2], "-")
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, self.db, "60"], stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(locker.stdout.readline().strip(), "locked")
            r = run(["repl", "--db", self.db, "-e", self.CODE], env=self.env, timeout=60)
        finally:
            locker.kill()
            locker.wait()
            locker.stdout.close()
        got = self.result(r)
        self.assertEqual(got[0], "0")
        self.assertEqual(got[1], "false")
        self.assertIn("database is locked", got[2])
        self.assertEqual(got[3:], free[3:])   # final value (all digits), trade count, warnings
        warn = [l for l in (r.stdout + r.stderr).splitlines() if "NOT stored" in l]
        self.assertEqual(len(warn), 1, r.stdout + r.stderr)
        self.assertIn("database is locked", warn[0])


class ReplWarnings(unittest.TestCase):
    """A backtest in the REPL on a series whose import did not finish says so, as
    mts backtest does: a `warnings` field, and a warning line when it runs."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mts-repl-warn-")
        self.db = os.path.join(self.tmp, "t.db")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_unfinished_import_warning(self):
        import json
        from test_backtest import unfinished_import
        src = unfinished_import(self.db, self.tmp)
        r = run(["repl", "--db", self.db, "-e", 'local r = mts.backtest{strategy = "sma_cross", asset = "synth"} '
                 'print("N", #r.warnings) for _, w in ipairs(r.warnings) do print("W", w) end'], timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertIn("N\t1", r.stdout)
        w = [l[2:] for l in r.stdout.splitlines() if l.startswith("W\t")]
        b = run(["backtest", "--db", self.db, "--strategy", "sma_cross", "--asset", "synth", "--json"])
        self.assertEqual(w, json.loads(b.stdout)["warnings"])
        self.assertIn(src, w[0])
        self.assertIn("warning: " + w[0], r.stdout + r.stderr)
        # a clean series has none
        r = run(["repl", "--db", self.db, "-e", 'print("N", #mts.backtest{strategy = "sma_cross", '
                 'asset = "bitcoin", from = "2024-01-01"}.warnings)'], timeout=120)
        self.assertIn("N\t0", r.stdout, r.stderr)


class ReplBooks(unittest.TestCase):
    """Issue 12 in the REPL: mts.backtest{...} takes the options of mts backtest's
    --mode/--allocate/--max-position/--max-portfolio-risk/--market/--leverage/
    --maker-bps/--taker-bps, and its result carries the books, the new metrics, the
    benchmark, the risk counts and the trades' story. The reference is the CLI
    (`mts backtest --json`, `--trades`) with the same options, and for funding a
    sum computed here from the bundled funding file and daily closes."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mts-repl-books-")
        self.db = os.path.join(self.tmp, "t.db")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def repl(self, code, env=None):
        r = run(["repl", "--db", self.db, "-e", code], env=env, timeout=180)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        return r.stdout

    def cli(self, *args, env=None):
        r = run(["backtest", "--db", self.db, "--json"] + list(args), env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        import json
        return json.loads(r.stdout)

    @staticmethod
    def tagged(out, tag):
        return [l.split("\t")[1:] for l in out.splitlines() if l.startswith(tag + "\t")]

    def test_two_independent_books_equal_the_cli(self):
        import csv
        cli_args = ["--strategy", "sma_cross,mean_reversion", "--asset", "bitcoin,ethereum",
                    "--from", "2019-01-01", "--to", "2023-12-31"]
        opts = ["--mode", "independent", "--allocate", "sma_cross=0.6,mean_reversion=0.4",
                "--max-position", "0.5", "--max-portfolio-risk", "0.9", "--maker-bps", "4", "--taker-bps", "7"]
        tr = os.path.join(self.tmp, "trades.csv")
        want = self.cli(*cli_args, *opts, "--trades", tr)
        with open(tr, newline="") as f:
            want_trades = list(csv.DictReader(f))
        # the options matter: without them the run is another one (so the equality below
        # could not hold if the REPL dropped them)
        plain = self.cli(*cli_args)
        self.assertNotEqual(plain["final_value"], want["final_value"])
        self.assertNotEqual(plain["fees"], want["fees"])
        out = self.repl(
            'local r = mts.backtest{strategy = "sma_cross,mean_reversion", asset = {"bitcoin", "ethereum"}, '
            'from = "2019-01-01", to = "2023-12-31", mode = "independent", '
            'allocate = {sma_cross = 0.6, mean_reversion = 0.4}, max_position = 0.5, max_portfolio_risk = 0.9, '
            'maker_bps = 4, taker_bps = 7} '
            'local g = function(v) return ("%.17g"):format(v) end '
            'print("RUN", r.mode, r.market, g(r.leverage), g(r.final_value), g(r.fees), g(r.funding), r.trade_count, '
            'g(r.sortino_ratio), g(r.exposure_time), g(r.avg_trade), g(r.expectancy), r.longest_losing_streak, '
            'g(r.alpha), g(r.beta), g(r.benchmark.total_return), g(r.benchmark.sharpe_ratio), '
            'r.risk.trimmed, r.risk.refused, r.risk.bp_cut, r.risk.short_refused, #r.books) '
            'for _, b in ipairs(r.books) do print("BOOK", b.strategy, g(b.allocation), g(b.initial), g(b.final), '
            'g(b.pnl), g(b.fees), g(b.funding), b.trades, b.risk_trimmed, b.risk_refused, g(b.equity[-1])) end '
            'for _, t in ipairs(r:trades():rows()) do print("TRADE", t.asset, t.side, g(t.qty), g(t.pnl), g(t.fees), '
            't.strategy, t.entry_reason, t.exit_reason, g(t.funding), g(t.mae), g(t.mfe)) end')
        run_ = self.tagged(out, "RUN")[0]
        self.assertEqual(run_[:2], ["independent", "spot"])
        self.assertEqual(float(run_[2]), want["leverage"])
        for i, k in enumerate(["final_value", "fees", "funding"]):
            self.assertEqual(float(run_[3 + i]), want[k], k)
        self.assertEqual(int(run_[6]), want["trade_count"])
        for i, k in enumerate(["sortino_ratio", "exposure_time", "avg_trade", "expectancy"]):
            self.assertEqual(float(run_[7 + i]), want[k], k)
        self.assertEqual(int(run_[11]), want["longest_losing_streak"])
        self.assertEqual((float(run_[12]), float(run_[13])), (want["alpha"], want["beta"]))
        self.assertEqual(float(run_[14]), want["benchmark"]["total_return"])
        self.assertEqual(float(run_[15]), want["benchmark"]["sharpe_ratio"])
        self.assertEqual([int(x) for x in run_[16:20]],
                         [want["risk"][k] for k in ("trimmed", "refused", "bp_cut", "short_refused")])
        books = self.tagged(out, "BOOK")
        self.assertEqual(int(run_[20]), 2)
        self.assertEqual([b[0] for b in books], ["sma_cross", "mean_reversion"])
        for b, w in zip(books, want["books"]):
            self.assertEqual(b[0], w["strategy"])
            for i, k in enumerate(["allocation", "initial", "final", "pnl", "fees", "funding"]):
                self.assertEqual(float(b[1 + i]), w[k], (b[0], k))
            self.assertEqual([int(x) for x in b[7:10]], [w["trades"], w["risk_trimmed"], w["risk_refused"]])
            self.assertEqual(float(b[10]), w["final"])           # the book's curve ends at its final value
        # independently: the shares of the capital, and the books sum to the account
        self.assertEqual([float(b[2]) for b in books], [100000 * 0.6, 100000 * 0.4])
        self.assertAlmostEqual(sum(float(b[4]) for b in books), float(run_[3]) - 100000, delta=1e-6)
        # the trades, with their story, are --trades' rows
        trades = self.tagged(out, "TRADE")
        self.assertEqual(len(trades), len(want_trades))
        self.assertGreater(len(trades), 10)
        for t, w in zip(trades, want_trades):
            self.assertEqual(t[:2] + t[5:8], [w["asset"], w["side"], w["strategy"], w["entry_reason"],
                                              w["exit_reason"]])
            for i, k in ((2, "qty"), (3, "pnl"), (4, "fees"), (8, "funding"), (9, "mae"), (10, "mfe")):
                self.assertEqual(float(t[i]), float(w[k]), k)
        for b in books:
            self.assertEqual(sum(1 for t in trades if t[5] == b[0]), int(b[7]))

    def test_a_bad_option_names_itself(self):
        cases = [
            ('{levrage = 2}', "unknown option 'levrage'"),
            ('{leverage = 0.5}', "leverage must be a number >= 1, got 0.5"),
            ('{leverage = "3"}', "leverage must be a number >= 1, got a string"),
            ('{market = "futures"}', "market is \"spot\" or \"perp\", got 'futures'"),
            ('{mode = "solo"}', "mode is \"independent\" or \"vote\", got 'solo'"),
            ('{max_position = 0}', "max_position must be a number > 0, got 0"),
            ('{max_portfolio_risk = -1}', "max_portfolio_risk must be a number > 0, got -1"),
            ('{maker_bps = -2}', "maker_bps must be a number >= 0, got -2"),
            ('{taker_bps = 1/0}', "taker_bps must be a number >= 0, got inf"),
            ('{allocate = {sma_cross = "half"}}', "allocate.sma_cross must be a fraction of the capital"),
            ('{allocate = 0.5}', "allocate must be a table"),
            ('{allocate = {nope = 0.5}}', "allocate: 'nope' is not a strategy of this run (sma_cross,mean_reversion)"),
            ('{allocate = {sma_cross = 0.7, mean_reversion = 0.7}}', "allocate"),
            ('{allocate = {sma_cross = 0.6}, mode = "vote"}', 'it needs mode = "independent"'),
            ('{market = "perp", leverage = 200}', "max_leverage"),
        ]
        code = ['local function try(fn, extra) '
                'local o = {strategy = "sma_cross,mean_reversion", asset = "bitcoin", from = "2024-01-01"} '
                'for k, v in pairs(extra) do o[k] = v end '
                'local ok, e = pcall(fn, o) print("ERR", ok and "ok" or e) end']
        for extra, _ in cases:
            code.append("try(mts.backtest, %s)" % extra)
        code.append('try(mts.optimize, {params = {fast = "5,10"}, allocate = {sma_cross = 1}})')
        code.append('try(mts.optimize, {params = {fast = "5,10"}, levrage = 2})')
        code.append('try(mts.optimize, {params = {fast = "5,10"}, market = "perp", leverage = 0})')
        errs = [e[0] for e in self.tagged(self.repl(" ".join(code)), "ERR")]
        self.assertEqual(len(errs), len(cases) + 3)
        for (extra, want), got in zip(cases, errs):
            self.assertIn("mts.backtest: ", got, extra)
            self.assertIn(want, got, extra)
            self.assertNotIn("--", got, extra)   # the REPL's keys, not the CLI's flags
        self.assertIn("mts.optimize: allocate: every point runs one strategy", errs[-3])
        self.assertIn("mts.optimize: unknown option 'levrage'", errs[-2])
        self.assertIn("mts.optimize: leverage must be a number >= 1, got 0", errs[-1])
        # typed at the prompt: one line at the user's location, and the session's status 1
        r = run(["repl", "--db", self.db, "-e", 'mts.backtest{strategy = "sma_cross", asset = "bitcoin", '
                 'market = "perp", leverage = 200}'], timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("error: stdin:1: mts.backtest: leverage 200 exceeds bitcoin's max_leverage 125", r.stdout)

    def test_optimize_takes_the_options_as_the_cli(self):
        import json
        args = ["--strategy", "sma_cross", "--asset", "bitcoin", "--param", "fast=5,10", "--interval", "4h",
                "--from", "2025-12-13"]
        opts = ["--market", "perp", "--leverage", "2", "--taker-bps", "7", "--max-position", "0.5"]
        def cli(*extra):
            r = run(["optimize", "--db", self.db, "--json", "--store", "none"] + args + list(extra))
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout)["results"]
        want, plain = cli(*opts), cli()
        self.assertNotEqual([w["final_value"] for w in want], [p["final_value"] for p in plain])
        out = self.repl('local t = mts.optimize{strategy = "sma_cross", asset = "bitcoin", params = {fast = {5, 10}}, '
                        'interval = "4h", from = "2025-12-13", market = "perp", leverage = 2, taker_bps = 7, '
                        'max_position = 0.5} '
                        'for i = 1, #t do print("ROW", t[i].rank, t[i].fast, ("%.17g"):format(t[i].final_value), '
                        '("%.17g"):format(t[i].sharpe_ratio), t[i].trade_count) end')
        rows = self.tagged(out, "ROW")
        self.assertEqual(len(rows), 2)
        for row, w in zip(rows, want):
            self.assertEqual((int(row[0]), int(row[1])), (w["rank"], w["params"]["fast"]))
            self.assertEqual((float(row[2]), float(row[3]), int(row[4])),
                             (w["final_value"], w["sharpe_ratio"], w["trade_count"]))

    def test_a_perp_short_with_leverage_pays_funding(self):
        # A strategy that shorts 1 BTC on its first bar and holds it: on the perp (leverage 2)
        # it receives, for every settlement while it is open, 1 x mark x rate, the mark being
        # the last daily close before the settlement (SPEC12, rule 0). The sum is computed
        # here from data/crypto/funding/BTCUSDT_funding_binance_usdm.csv and the daily CSV.
        import csv
        from mtslib import BUNDLED, day, read_bars
        root = make_root(self.tmp)
        with open(os.path.join(root, "scripts/strategies/short_one.lua"), "w") as f:
            f.write('local M = {}\nfunction M.get_parameters() return {} end\n'
                    'function M.on_bar(ctx, asset, i)\n'
                    '    if i == 0 then return { signal_type = "SHORT", units = 1 } end\nend\nreturn M\n')
        env = {"MTS_ROOT": root}
        out = self.repl(
            'local r = mts.backtest{strategy = "short_one", asset = "bitcoin", from = "2025-12-13", '
            'market = "perp", leverage = 2, max_position = 1, max_portfolio_risk = 1} '
            'local g = function(v) return ("%.17g"):format(v) end '
            'local o = r:open_trades() '
            'print("RUN", r.market, g(r.leverage), g(r.funding), g(r.books[1].funding), #r:trades(), #o, '
            'g(r.final_value)) '
            'for _, t in ipairs(o:rows()) do print("OPEN", t.side, g(t.qty), t.entry_time, g(t.funding), '
            't.exit_reason, t.strategy) end', env=env)
        run_ = self.tagged(out, "RUN")[0]
        self.assertEqual(run_[0], "perp")
        self.assertEqual(float(run_[1]), 2)
        funding = float(run_[2])
        self.assertEqual(float(run_[3]), funding)
        self.assertEqual(run_[4:6], ["0", "1"])             # never closed: one end_of_data record
        side, qty, entry, t_funding, reason, strategy = self.tagged(out, "OPEN")[0]
        self.assertEqual((side, float(qty), reason, strategy), ("short", 1.0, "end_of_data", "short_one"))
        self.assertEqual(float(t_funding), funding)
        bars = read_bars(BUNDLED["bitcoin"], day("2025-12-13"))
        entry = int(entry)
        self.assertEqual(entry, bars[1][0])                 # signalled on bar 0, filled at bar 1's open
        want, n = 0.0, 0
        with open(os.path.join(ROOT, "data/crypto/funding/BTCUSDT_funding_binance_usdm.csv")) as f:
            for row in csv.DictReader(f):
                ts = int(row["ts"]) // 1000
                if entry < ts <= bars[-1][0]:
                    mark = [b[4] for b in bars if b[0] < ts][-1]
                    want += 1.0 * mark * float(row["rate"])    # -q * mark * rate, q = -1
                    n += 1
        self.assertGreater(n, 200)                          # 3 a day over three months
        self.assertAlmostEqual(funding, want, delta=1e-6 * max(1.0, abs(want)))
        self.assertNotEqual(funding, 0)
        # the same number as mts backtest --json with the same options
        cli = self.cli("--strategy", "short_one", "--asset", "bitcoin", "--from", "2025-12-13", "--market", "perp",
                       "--leverage", "2", "--max-position", "1", "--max-portfolio-risk", "1", env=env)
        self.assertEqual(cli["funding"], funding)
        self.assertEqual(cli["final_value"], float(run_[6]))
