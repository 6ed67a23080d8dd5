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
