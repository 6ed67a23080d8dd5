"""Shared helpers for the end-to-end tests: run bin/mts with a time limit on a
temporary database, and read the bundled CSVs independently of the C code."""
import csv
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MTS = os.path.abspath(os.path.join(ROOT, os.environ.get("MTS_BIN", "bin/mts")))
SHARED = os.path.abspath(os.environ.get("MTS_SHARED", os.path.join(ROOT, "..", "shared")))
BUNDLED = {
    "bitcoin": os.path.join(ROOT, "data/crypto/BTCUSDT_1d_binance_spot.csv"),
    "ethereum": os.path.join(ROOT, "data/crypto/ETHUSDT_1d_binance_spot.csv"),
    "binancecoin": os.path.join(ROOT, "data/crypto/BNBUSDT_1d_binance_spot.csv"),
}


def run(args, env=None, timeout=300, cwd=None):
    e = dict(os.environ)
    e.pop("DATABASE_PATH", None)
    if env:
        e.update(env)
    return subprocess.run([MTS] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=cwd or ROOT)


def parse_time(s):
    s = s.strip()
    if s.isdigit():
        v = int(s)
        return v // 1000 if v > 10**11 else v
    s = s.replace("Z", "+00:00")
    t = dt.datetime.fromisoformat(s)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp())


def read_bars(path, start=None, end=None):
    """[(ts, open, high, low, close, volume)] from a bundled daily file."""
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            ts = parse_time(row["open_time"])
            if start is not None and ts < start:
                continue
            if end is not None and ts > end:
                continue
            out.append((ts, float(row["open"]), float(row["high"]), float(row["low"]),
                        float(row["close"]), float(row["volume"])))
    return out


def day(s):
    return parse_time(s + "T00:00:00+00:00")


class Resp:
    """A minimal RESP2 client: one socket, one command at a time."""

    def __init__(self, url, db=0):
        if not url.startswith("redis://"):
            raise ValueError(url)
        host, _, port = url[8:].split("/")[0].rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.f = self.sock.makefile("rb")
        if db:
            assert self.cmd("SELECT", db) == "OK"

    def close(self):
        self.f.close()
        self.sock.close()

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self.read()

    def read(self):
        line = self.f.readline()
        if not line.endswith(b"\r\n"):
            raise IOError("connection closed")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2].decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise IOError("bad reply %r" % line)

    def keys(self, pattern):
        cur, out = "0", []
        while True:
            cur, batch = self.cmd("SCAN", cur, "MATCH", pattern, "COUNT", 1000)
            out += batch
            if cur == "0":
                return sorted(set(out))


def redis_url():
    u = os.environ.get("MTS_TEST_REDIS_URL")
    if not u:
        raise AssertionError("MTS_TEST_REDIS_URL is not set: run through tests/run_e2e.sh or tests/redis_env.sh")
    return u


def make_root(tmp):
    """tmp/root: a private copy of scripts/ and config/ (data/ linked)."""
    root = os.path.join(tmp, "root")
    os.makedirs(root)
    for d in ("scripts", "config"):
        shutil.copytree(os.path.join(ROOT, d), os.path.join(root, d))
    os.makedirs(os.path.join(root, "runtime", "lua"))
    shutil.copy(os.path.join(ROOT, "runtime/lua/mts_ffi.h"), os.path.join(root, "runtime/lua"))
    os.symlink(os.path.join(ROOT, "data"), os.path.join(root, "data"))
    return root


def add_slow_bar_strategy(root, spin=500000):
    """root/scripts/strategies/slow_bar.lua: sma_cross spending `spin` loop
    iterations (about 2 ms for 500000) in every on_bar, so a backtest over the
    2920 bundled bitcoin bars takes seconds (cancellation tests)."""
    with open(os.path.join(ROOT, "scripts/strategies/sma_cross.lua")) as f:
        src = f.read()
    marker = "function M.on_bar(ctx, asset, i)\n"
    assert marker in src, "sma_cross.lua has no on_bar"
    with open(os.path.join(root, "scripts/strategies/slow_bar.lua"), "w") as f:
        f.write(src.replace(marker, marker + "    local x = 0 for k = 1, %d do x = x + k %% 7 end ctx.sink = x\n" % spin))


class MtsTestCase(unittest.TestCase):
    """Each test gets a temporary directory and database."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mts-e2e-")
        self.db = os.path.join(self.tmp, "test.db")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def mts(self, *args, env=None, expect=0, timeout=300):
        r = run(list(args) + (["--db", self.db] if "--db" not in args and self.uses_db(args) else []),
                env=env, timeout=timeout)
        if expect is not None and r.returncode != expect:
            self.fail("mts %s: exit %d (expected %d)\nstdout:\n%s\nstderr:\n%s"
                      % (" ".join(args), r.returncode, expect, r.stdout[-3000:], r.stderr[-3000:]))
        return r

    @staticmethod
    def uses_db(args):
        return bool(args) and args[0] in ("backtest", "import", "export") and "--help" not in args

    def backtest_json(self, *args, env=None, expect=0):
        r = self.mts("backtest", *args, "--json", env=env, expect=expect)
        return json.loads(r.stdout), r

    def make_root(self):
        """A private copy of scripts/ and config/ (data/ linked), for tests that
        add broken strategies or configs; pass env={"MTS_ROOT": root}."""
        return make_root(self.tmp)


# ---- stored equity curves (backtest_curves, schema v7) ----
# An independent reader of the MTC1 blob (runtime/store/colblob.h), so tests
# check what the C store wrote without going through it.

def mtc1_decode(blob):
    """(ts list, [column lists]) of an MTC1 blob; ValueError when it is not one."""
    import struct
    blob = bytes(blob)
    if len(blob) < 32 or blob[:4] != b"MTC1":
        raise ValueError("not an MTC1 blob")
    n, k, flags, ts_bytes, first, step = struct.unpack_from("<IHHIqq", blob, 4)
    if not 1 <= k <= 16 or flags & ~1:
        raise ValueError("bad MTC1 header")
    if flags & 1:
        if ts_bytes:
            raise ValueError("REGULAR blob with a ts section")
        ts = [first + i * step for i in range(n)]
    else:
        ts, t, off, end = [first] if n else [], first, 32, 32 + ts_bytes
        while off < end:
            d = shift = 0
            while True:
                b = blob[off]
                off += 1
                d |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            t += d
            ts.append(t)
        if len(ts) != n:
            raise ValueError("ts section has %d times, header says %d" % (len(ts), n))
    col_off = (32 + ts_bytes + 7) // 8 * 8
    if len(blob) != col_off + 8 * n * k:
        raise ValueError("MTC1 size %d, expected %d" % (len(blob), col_off + 8 * n * k))
    cols = [list(struct.unpack_from("<%dd" % n, blob, col_off + 8 * n * c)) for c in range(k)]
    return ts, cols


def equity_curve(db_path, run_id):
    """[(ts, equity), ...] of a stored run, read from backtest_curves with
    sqlite3 and decoded here; [] when the run has no curve."""
    import sqlite3
    con = sqlite3.connect(db_path)
    try:
        row = con.execute("SELECT n, data FROM backtest_curves WHERE backtest_id = ?", (run_id,)).fetchone()
    finally:
        con.close()
    if row is None:
        return []
    ts, (eq,) = mtc1_decode(row[1])
    if len(ts) != row[0]:
        raise ValueError("backtest_curves.n is %d, the blob has %d points" % (row[0], len(ts)))
    return list(zip(ts, eq))
