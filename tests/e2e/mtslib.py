"""Shared helpers for the end-to-end tests: run bin/mts with a time limit on a
temporary database, and read the bundled CSVs independently of the C code."""
import atexit
import csv
import datetime as dt
import json
import os
import shutil
import socket
import sqlite3
import struct
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MTS = os.path.abspath(os.path.join(ROOT, os.environ.get("MTS_BIN", "bin/mts")))
SHARED = os.path.abspath(os.environ.get("MTS_SHARED", os.path.join(ROOT, "..", "shared")))
# The shared bar cache (docs/store.md "Bar cache") of every bin/mts these tests
# start goes to a private directory, removed at exit, never the machine's
# /dev/shm/mts-cache-UID: the tests are hermetic. Set MTS_CACHE_DIR to choose
# another (e.g. "off").
if not os.environ.get("MTS_CACHE_DIR"):
    os.environ["MTS_CACHE_DIR"] = tempfile.mkdtemp(prefix="mts-e2e-cache-")
    atexit.register(shutil.rmtree, os.environ["MTS_CACHE_DIR"], True)

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


# ---- bars in column blocks (schema v7; bars helper) ----------------------
# An independent reading and writing of the store's bar layout, for tests that
# look at or prepare the database without bin/mts: a block is one row of
# ohlcv_blocks per (cryptocurrency, interval, block_start), block_start a
# multiple of BLOCK_BARS interval lengths, its `bars` BLOB in the MTC1 format
# of runtime/store/colblob.h (decoded here with struct, from the format table,
# not from the C code) with the columns open, high, low, close, volume.

BLOCK_BARS = 1024
INTERVAL_SECONDS = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
                    "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200,
                    "1w": 604800}
_MTC1 = struct.Struct("<4sIHHIqq")     # magic, n, k, flags, ts_bytes, first_ts, step


def bits(x):
    """The 64 bits of a double, to compare values bit for bit."""
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def mtc1_decode(blob):
    """(times, columns) of an MTC1 blob; ValueError when it is not one."""
    blob = bytes(blob)
    if len(blob) < 32:
        raise ValueError("MTC1: shorter than its header")
    magic, n, k, flags, ts_bytes, first, step = _MTC1.unpack_from(blob, 0)
    if magic != b"MTC1" or not 1 <= k <= 16 or flags & ~1:
        raise ValueError("MTC1: bad header")
    col_off = (32 + ts_bytes + 7) // 8 * 8
    if len(blob) != col_off + 8 * n * k:
        raise ValueError("MTC1: sizes do not add up")
    if flags & 1:
        if ts_bytes:
            raise ValueError("MTC1: a regular blob with a ts section")
        ts = [first + i * step for i in range(n)]
    else:
        ts, off, t = [first], 32, first
        for _ in range(n - 1):
            d, shift = 0, 0
            while True:
                b = blob[off]
                off += 1
                d |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            if d == 0:
                raise ValueError("MTC1: times not ascending")
            t += d
            ts.append(t)
        if off != 32 + ts_bytes:
            raise ValueError("MTC1: ts section length")
        ts = ts[:n]
    cols = [list(struct.unpack_from("<%dd" % n, blob, col_off + 8 * n * c)) for c in range(k)]
    return ts, cols


def mtc1_encode(ts, cols):
    """An MTC1 blob of ts (strictly ascending) and the columns, as the format
    table says: REGULAR when there is one spacing (or n <= 1)."""
    n, k = len(ts), len(cols)
    steps = {b - a for a, b in zip(ts, ts[1:])}
    if any(b <= a for a, b in zip(ts, ts[1:])):
        raise ValueError("times must be strictly ascending")
    regular = len(steps) <= 1
    sec = bytearray()
    if not regular:
        for a, b in zip(ts, ts[1:]):
            d = b - a
            while d >= 0x80:
                sec.append((d & 0x7F) | 0x80)
                d >>= 7
            sec.append(d)
    head = _MTC1.pack(b"MTC1", n, k, 1 if regular else 0, len(sec), ts[0] if n else 0,
                      (ts[1] - ts[0]) if regular and n > 1 else 0)
    pad = b"\0" * ((-(32 + len(sec))) % 8)
    return head + bytes(sec) + pad + b"".join(struct.pack("<%dd" % n, *c) for c in cols)


def ohlcv_rows(db_path, asset=None, interval=None):
    """Every stored bar as (asset, interval, ts, open, high, low, close, volume),
    ordered by asset, interval, time; checks each block against its mirror
    columns (n, first_ts, last_ts) and its span."""
    con = sqlite3.connect(db_path, timeout=10)
    try:
        q = ("SELECT cryptocurrency, interval, block_start, n, first_ts, last_ts, bars FROM ohlcv_blocks"
             " WHERE (?1 IS NULL OR cryptocurrency = ?1) AND (?2 IS NULL OR interval = ?2)"
             " ORDER BY cryptocurrency, interval, block_start")
        out = []
        for a, iv, bs, n, first, last, blob in con.execute(q, (asset, interval)):
            ts, cols = mtc1_decode(blob)
            span = BLOCK_BARS * INTERVAL_SECONDS.get(iv, 86400)
            if len(cols) != 5 or len(ts) != n or not ts or ts[0] != first or ts[-1] != last \
                    or bs % span or not bs <= first <= last < bs + span:
                raise ValueError("block %s %s %d does not match its columns" % (a, iv, bs))
            out.extend((a, iv, t) + tuple(c[i] for c in cols) for i, t in enumerate(ts))
        return out
    finally:
        con.close()


def put_bars(db_path, asset, interval, bars, con=None):
    """Stores bars [(ts, open, high, low, close, volume)] as mts would: into
    the blocks of their times, replacing stored bars of the same time."""
    own = con is None
    con = con or sqlite3.connect(db_path, timeout=10)
    try:
        span = BLOCK_BARS * INTERVAL_SECONDS[interval]
        by_block = {}
        for b in bars:
            by_block.setdefault(b[0] // span * span, {})[b[0]] = tuple(b[1:6])
        with con:
            for bs, new in sorted(by_block.items()):
                row = con.execute("SELECT bars FROM ohlcv_blocks WHERE cryptocurrency = ? AND interval = ?"
                                  " AND block_start = ?", (asset, interval, bs)).fetchone()
                merged = {}
                if row:
                    ts, cols = mtc1_decode(row[0])
                    merged = {t: tuple(c[i] for c in cols) for i, t in enumerate(ts)}
                merged.update(new)
                _write_block(con, asset, interval, bs, merged)
            _bump_series(con, asset, interval)
    finally:
        if own:
            con.close()


def _write_block(con, asset, interval, bs, merged):
    if not merged:
        con.execute("DELETE FROM ohlcv_blocks WHERE cryptocurrency = ? AND interval = ? AND block_start = ?",
                    (asset, interval, bs))
        return
    ts = sorted(merged)
    cols = [[merged[t][c] for t in ts] for c in range(5)]
    con.execute("INSERT INTO ohlcv_blocks(cryptocurrency, interval, block_start, n, first_ts, last_ts, bars,"
                " updated_at) VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(cryptocurrency, interval, block_start)"
                " DO UPDATE SET n = excluded.n, first_ts = excluded.first_ts, last_ts = excluded.last_ts,"
                " bars = excluded.bars, updated_at = excluded.updated_at",
                (asset, interval, bs, len(ts), ts[0], ts[-1], mtc1_encode(ts, cols), int(time.time())))


def _bump_series(con, asset, interval):
    """What every write of a series' blocks does (store.h): a new random
    64-bit version in ohlcv_series and n = the series' bars, in the writer's
    transaction; without it bin/mts would be served the bar cache of before."""
    n = con.execute("SELECT COALESCE(SUM(n), 0) FROM ohlcv_blocks WHERE cryptocurrency = ? AND interval = ?",
                    (asset, interval)).fetchone()[0]
    if n == 0:
        con.execute("DELETE FROM ohlcv_series WHERE cryptocurrency = ? AND interval = ?", (asset, interval))
        return
    version = struct.unpack("<q", os.urandom(8))[0]
    con.execute("INSERT INTO ohlcv_series(cryptocurrency, interval, version, n) VALUES(?, ?, ?, ?)"
                " ON CONFLICT(cryptocurrency, interval) DO UPDATE SET version = excluded.version, n = excluded.n",
                (asset, interval, version, n))


def delete_bars(db_path, asset, interval, keep):
    """Keeps only the stored bars of (asset, interval) for which keep(ts) is
    true (what a DELETE ... WHERE did on the row table)."""
    con = sqlite3.connect(db_path, timeout=10)
    try:
        with con:
            blocks = con.execute("SELECT block_start, bars FROM ohlcv_blocks WHERE cryptocurrency = ? AND"
                                 " interval = ?", (asset, interval)).fetchall()
            for bs, blob in blocks:
                ts, cols = mtc1_decode(blob)
                merged = {t: tuple(c[i] for c in cols) for i, t in enumerate(ts) if keep(t)}
                _write_block(con, asset, interval, bs, merged)
            _bump_series(con, asset, interval)
    finally:
        con.close()
# ---- end of the bars helpers ----------------------------------------------


# ---- answers of `mts serve` (issue 14) --------------------------------------
# Every answer a test receives from `mts serve` through a request helper
# (test_serve.Server.request, test_system's get) is handed to http_response,
# which calls each hook in HTTP_HOOKS with (method, path, status, headers,
# body bytes). A hook that raises fails the test. The checker of
# docs/openapi.json (openapi_check.py) is one, on unless MTS_OPENAPI_CHECK=0;
# recording() is the opt-in recorder of every answer.

HTTP_HOOKS = []


def http_response(method, path, status, headers, body):
    for hook in list(HTTP_HOOKS):
        hook(method, path, status, headers, body)


class recording:
    """with recording() as answers: ... — answers is the list of
    (method, path, status, headers, body) received meanwhile."""

    def __enter__(self):
        self.answers = []
        self._hook = lambda *a: self.answers.append(a)
        HTTP_HOOKS.append(self._hook)
        return self.answers

    def __exit__(self, *exc):
        HTTP_HOOKS.remove(self._hook)
        return False


if os.environ.get("MTS_OPENAPI_CHECK", "1") != "0":
    import openapi_check  # noqa: E402  (this directory: tests/e2e)
    HTTP_HOOKS.append(openapi_check.check_response)


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


# ---- stored equity curves (backtest_curves, schema v7), decoded by mtc1_decode above ----

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


# ---- a stored run's signals (backtest_signals, schema v7), decoded by mtc1_decode above ----

SIGNAL_TYPES = {1.0: "LONG", -1.0: "SHORT", 0.0: "CLOSE"}


def run_signals(db_path, run_id):
    """The signals of a stored run, in the order stored, as dicts with keys
    strategy, asset, type, ts, price, confidence, position_size, stop_loss,
    take_profit (NaN = not given), read from backtest_signals with sqlite3 and
    decoded here (column order: docs/store.md, "Stored runs"); None when the
    run has no row (stored before schema v7)."""
    import sqlite3
    con = sqlite3.connect(db_path)
    try:
        row = con.execute("SELECT n, names, data FROM backtest_signals WHERE backtest_id = ?",
                          (run_id,)).fetchone()
    finally:
        con.close()
    if row is None:
        return None
    n, names, blob = row
    names = json.loads(names)
    idx, cols = mtc1_decode(blob)
    if len(cols) != 9 or len(idx) != n or idx != list(range(n)):
        raise ValueError("backtest_signals of run %d: not n rows of 9 columns indexed 0..n-1" % run_id)
    out = []
    for i in range(n):
        ts, typ, a, s, price, conf, size, sl, tp = (c[i] for c in cols)
        if ts != int(ts) or typ not in SIGNAL_TYPES or a != int(a) or s != int(s):
            raise ValueError("backtest_signals of run %d: row %d is damaged" % (run_id, i))
        out.append({"strategy": names["strategies"][int(s)], "asset": names["assets"][int(a)],
                    "type": SIGNAL_TYPES[typ], "ts": int(ts), "price": price, "confidence": conf,
                    "position_size": size, "stop_loss": sl, "take_profit": tp})
    return out
