"""`mts prune` and `mts import archive` (store/prune.h, docs/store.md "Retention").

Everything is checked independently of the C code: rows are written and read with
python's sqlite3, archives read with gzip + csv. Old rows must be in the archives
exactly (every column, numbers bit for bit), newer rows untouched, the file must
shrink (incremental vacuum), an import must restore exactly the deleted rows and
never store one twice, a damaged archive is refused with its line, a prune killed
with SIGKILL loses no row, and a writer on another connection is never held up
for longer than the busy timeout."""
import csv
import datetime as dt
import glob
import gzip
import io
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import unittest

from exchange_server import ExchangeServer
from mtslib import MTS, MtsTestCase

DAY = 86400000
NOW = int(time.time() * 1000)
OLD_DAYS = 6          # old rows span NOW - 9d .. NOW - 3d; --older-than 2d
COLS = {
    "trades": ["id", "exchange", "symbol", "trade_id", "ts_ms", "price", "qty", "side"],
    "order_book_snapshots": ["id", "exchange", "symbol", "ts_ms", "side", "level", "price", "qty", "update_id"],
    "bus_events": ["id", "ts_ms", "topic", "payload"],
    "live_bars": ["exchange", "symbol", "interval", "open_ms", "open", "high", "low", "close", "volume"],
}
TIME = {"trades": "ts_ms", "order_book_snapshots": "ts_ms", "bus_events": "ts_ms", "live_bars": "open_ms"}
KEY = {"trades": ["id"], "order_book_snapshots": ["id"], "bus_events": ["id"],
       "live_bars": ["exchange", "symbol", "interval", "open_ms"]}
# values a CSV writer can get wrong
TRICKY = [0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308, -0.0, 123456789.12345679, 1 / 3, 2.5e-7]


def day_of(ms):
    return dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc).strftime("%Y-%m-%d")


def field_value(text, stored):
    """The archive's text read back as the type of the stored value."""
    if stored is None:
        return None if text == "" else ("NOT NULL", text)
    if isinstance(stored, float):
        return float(text)
    if isinstance(stored, int):
        return int(text)
    return text


def read_archives(d, table):
    """{key: row} from every part of every day, and the list of (file, row) for duplicates."""
    rows, seen = [], []
    for path in sorted(glob.glob(os.path.join(d, table, "*.csv.gz"))):
        with gzip.open(path, "rt", newline="") as f:
            r = csv.reader(f)
            header = next(r)
            for rec in r:
                rows.append((path, dict(zip(header, rec))))
                seen.append(header)
    return rows


class PruneTest(MtsTestCase):
    def setUp(self):
        super().setUp()
        self.arch = os.path.join(self.tmp, "arch")
        # the database made by mts (schema and migrations), then switched to incremental vacuum
        self.mts("prune", "--db", self.db, "--dry-run", "--older-than", "1d")
        r = self.mts("prune", "--db", self.db, "--enable-incremental-vacuum", "--json")
        self.assertEqual(json.loads(r.stdout)["auto_vacuum"], "incremental")

    def fill(self, n_trades=30000, n_new=500):
        c = sqlite3.connect(self.db)
        old0 = NOW - 9 * DAY
        step = OLD_DAYS * DAY // n_trades
        trades = []
        for i in range(n_trades):
            trades.append(("binance", "BTCUSDT" if i % 2 else "ETHUSDT", 't%d,"q"\nline2 %s' % (i, "x" * 80),
                           old0 + i * step, TRICKY[i % len(TRICKY)] * (1 + i), 1e-8 * (i + 1),
                           None if i % 7 == 0 else ("buy" if i % 2 else "")))
        for i in range(n_new):
            trades.append(("bybit", "BTCUSDT", "n%d" % i, NOW - DAY + i * 1000, 100.5 + i, 0.25, "sell"))
        c.executemany("INSERT INTO trades(exchange, symbol, trade_id, ts_ms, price, qty, side)"
                      " VALUES(?,?,?,?,?,?,?)", trades)
        books = []
        for i in range(4000):
            t = old0 + (i // 20) * (OLD_DAYS * DAY // 200)
            books.append(("binance", "BTCUSDT", t, "bid" if i % 2 else "ask", i % 20 // 2,
                          TRICKY[i % len(TRICKY)] + i, 0.001 * i, None if i % 3 else i * 1000003))
        books.append(("binance", "BTCUSDT", NOW - 1000, "bid", 0, 99.0, 1.0, 5))
        c.executemany("INSERT INTO order_book_snapshots(exchange, symbol, ts_ms, side, level, price, qty, update_id)"
                      " VALUES(?,?,?,?,?,?,?,?)", books)
        ev = [(old0 + i * (OLD_DAYS * DAY // 3000), "fills", json.dumps({"i": i, "s": 'a "q", b\nc'}))
              for i in range(3000)] + [(NOW - 5000, "fills", "{}")]
        c.executemany("INSERT INTO bus_events(ts_ms, topic, payload) VALUES(?,?,?)", ev)
        bars = [("binance", "BTCUSDT", "1m", old0 - old0 % 60000 + i * 60000 * 3, 1.5 + i, 2.0 + i, 1.0,
                 TRICKY[i % len(TRICKY)], float(i)) for i in range(2500)]
        bars.append(("binance", "BTCUSDT", "1m", NOW - NOW % 60000, 1, 1, 1, 1, 1))
        c.executemany("INSERT INTO live_bars VALUES(?,?,?,?,?,?,?,?,?)", bars)
        c.commit()
        c.close()

    def snapshot(self):
        c = sqlite3.connect(self.db)
        out = {}
        for t, cols in COLS.items():
            out[t] = {tuple(r[cols.index(k)] for k in KEY[t]): r
                      for r in c.execute("SELECT %s FROM %s" % (",".join(cols), t))}
        c.close()
        return out

    def prune(self, *extra, expect=0):
        r = self.mts("prune", "--db", self.db, "--older-than", "2d", "--archive-dir", self.arch, "--json", *extra,
                     expect=expect)
        return json.loads(r.stdout) if r.stdout.strip() else None, r

    def check_archived(self, before, cutoff):
        """Every row older than cutoff is in the archives once, exactly; the file it is in
        is named by its UTC day."""
        for t, cols in COLS.items():
            old = {k: r for k, r in before[t].items() if r[cols.index(TIME[t])] < cutoff}
            self.assertGreater(len(old), 0, t)
            got = {}
            for path, rec in read_archives(self.arch, t):
                self.assertEqual(list(rec.keys()), cols, path)
                key = tuple(rec[k] for k in KEY[t])
                self.assertNotIn(key, got, "%s: row %s archived twice" % (t, key))
                got[key] = (path, rec)
            self.assertEqual(len(got), len(old), t)
            for k, row in old.items():
                skey = tuple(str(v) for v in k)
                self.assertIn(skey, got, "%s row %s not archived" % (t, k))
                path, rec = got[skey]
                ts = row[cols.index(TIME[t])]
                self.assertTrue(os.path.basename(path).startswith(day_of(ts) + "."), (path, ts))
                for name, v in zip(cols, row):
                    fv = field_value(rec[name], v)
                    if isinstance(v, float):
                        # bit for bit (also -0.0 and the smallest subnormal)
                        self.assertEqual(repr(fv), repr(v), (t, name, rec[name]))
                    else:
                        self.assertEqual(fv, v, (t, name))

    def test_archive_delete_vacuum_import(self):
        self.fill()
        before = self.snapshot()
        size0 = os.path.getsize(self.db)
        # a dry run changes nothing
        rep, _ = self.prune("--dry-run")
        self.assertEqual(self.snapshot(), before)
        self.assertFalse(os.path.exists(self.arch))
        t0 = int(time.time() * 1000)
        rep, _ = self.prune()
        t1 = int(time.time() * 1000)
        self.assertTrue(rep["ok"])
        cut = {x["table"]: x["cutoff_ms"] for x in rep["tables"]}
        for t in COLS:
            self.assertGreaterEqual(cut[t], t0 - 2 * DAY - 1000)
            self.assertLessEqual(cut[t], t1 - 2 * DAY)
        cutoff = cut["trades"]
        self.check_archived(before, cutoff)
        after = self.snapshot()
        for t, cols in COLS.items():
            newer = {k: r for k, r in before[t].items() if r[cols.index(TIME[t])] >= cutoff}
            self.assertEqual(after[t], newer, "%s: newer rows must stay as they were" % t)
            x = [x for x in rep["tables"] if x["table"] == t][0]
            self.assertEqual(x["deleted"], len(before[t]) - len(newer))
        # space returned: the file shrank to well under half (most of it was old rows)
        c = sqlite3.connect(self.db)
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.assertEqual(c.execute("PRAGMA freelist_count").fetchone()[0], 0)
        c.close()
        size1 = os.path.getsize(self.db)
        self.assertLess(size1, size0 / 2, (size0, size1))
        self.assertGreater(rep["freed_pages"], 0)
        # import every archive: exactly the deleted rows come back
        files = sorted(glob.glob(os.path.join(self.arch, "*", "*.csv.gz")))
        r = self.mts("import", "archive", *files, "--db", self.db, "--json")
        res = json.loads(r.stdout)
        self.assertEqual(sum(x["inserted"] for x in res), sum(len(before[t]) - len(after[t]) for t in COLS))
        self.assertEqual(self.snapshot(), before)
        c = sqlite3.connect(self.db)
        for t, cols in COLS.items():   # types too (REAL stays REAL, NULL stays NULL, text stays text)
            for col in cols:
                a = c.execute("SELECT typeof(%s), COUNT(*) FROM %s GROUP BY 1 ORDER BY 1" % (col, t)).fetchall()
                self.assertTrue(all(ty in ("integer", "real", "text", "null") for ty, _ in a))
        self.assertEqual(c.execute("SELECT COUNT(*) FROM trades WHERE typeof(side) = 'null'").fetchone()[0],
                         sum(1 for r in before["trades"].values() if r[7] is None))
        self.assertEqual(c.execute("SELECT COUNT(*) FROM trades WHERE side = ''").fetchone()[0],
                         sum(1 for r in before["trades"].values() if r[7] == ""))
        c.close()
        # again: nothing stored twice
        r = self.mts("import", "archive", *files, "--db", self.db, "--json")
        self.assertEqual(sum(x["inserted"] for x in json.loads(r.stdout)), 0)
        self.assertEqual(self.snapshot(), before)
        # a second prune appends parts holding only rows not archived yet (none: every key is there)
        rep, _ = self.prune()
        self.assertEqual(sum(x["files"] for x in rep["tables"]), 0)
        self.assertEqual(sum(x["already_archived"] for x in rep["tables"]),
                         sum(len(before[t]) - len(after[t]) for t in COLS))
        self.check_archived(before, cutoff)

    def test_new_old_rows_go_to_a_second_part(self):
        self.fill(n_trades=2000, n_new=10)
        self.prune("--table", "trades")
        c = sqlite3.connect(self.db)
        late = NOW - 8 * DAY + 5
        c.execute("INSERT INTO trades(exchange, symbol, trade_id, ts_ms, price, qty, side)"
                  " VALUES('binance','BTCUSDT','late',?,1.25,2,'buy')", (late,))
        c.commit()
        c.close()
        rep, _ = self.prune("--table", "trades")
        self.assertEqual(rep["tables"][0]["files"], 1)
        part = os.path.join(self.arch, "trades", day_of(late) + ".2.csv.gz")
        with gzip.open(part, "rt", newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([r["trade_id"] for r in rows], ["late"])

    def test_damaged_archive_refused_with_line(self):
        self.fill(n_trades=3000, n_new=10)
        self.prune("--table", "live_bars")
        path = sorted(glob.glob(os.path.join(self.arch, "live_bars", "*.csv.gz")))[1]
        with gzip.open(path, "rt", newline="") as f:
            lines = f.read().split("\n")
        db = sqlite3.connect(self.db)
        n_before = db.execute("SELECT COUNT(*) FROM live_bars").fetchone()[0]
        os.makedirs(os.path.join(self.tmp, "live_bars"))
        # line 12 loses its last field: refused, naming the line; nothing stored
        bad = os.path.join(self.tmp, "live_bars", "bad.csv.gz")
        damaged = list(lines)
        damaged[11] = damaged[11].rsplit(",", 1)[0]
        with gzip.open(bad, "wt", newline="") as f:
            f.write("\n".join(damaged))
        r = self.mts("import", "archive", bad, "--db", self.db, expect=1)
        self.assertIn("%s:12:" % bad, r.stderr)
        self.assertEqual(db.execute("SELECT COUNT(*) FROM live_bars").fetchone()[0], n_before)
        # line 30: a number that is not one
        damaged = list(lines)
        damaged[29] = damaged[29].replace(",", ",1.2.3x", 1).replace('"binance"', "binance", 1)
        with gzip.open(bad, "wt", newline="") as f:
            f.write("\n".join(damaged))
        r = self.mts("import", "archive", bad, "--db", self.db, expect=1)
        self.assertIn("%s:30:" % bad, r.stderr)
        # a cut-off gzip stream
        with open(path, "rb") as f:
            raw = f.read()
        cut = os.path.join(self.tmp, "live_bars", "cut.csv.gz")
        with open(cut, "wb") as f:
            f.write(raw[: len(raw) // 2])
        r = self.mts("import", "archive", cut, "--db", self.db, expect=1)
        self.assertRegex(r.stderr, r"cut\.csv\.gz:\d+: damaged")
        self.assertEqual(db.execute("SELECT COUNT(*) FROM live_bars").fetchone()[0], n_before)
        # a header that is not the table's
        hdr = os.path.join(self.tmp, "live_bars", "hdr.csv.gz")
        with gzip.open(hdr, "wt") as f:
            f.write("exchange,symbol,nope\n")
        r = self.mts("import", "archive", hdr, "--db", self.db, expect=1)
        self.assertIn("hdr.csv.gz:1:", r.stderr)
        # the undamaged file still imports
        self.mts("import", "archive", path, "--db", self.db)
        self.assertEqual(db.execute("SELECT COUNT(*) FROM live_bars").fetchone()[0], n_before + len(lines) - 2)

    def test_killed_prune_loses_nothing(self):
        self.fill(n_trades=120000, n_new=10)
        before = self.snapshot()
        n0 = len(before["trades"])
        p = subprocess.Popen([MTS, "prune", "--db", self.db, "--table", "trades", "--older-than", "2d",
                              "--archive-dir", self.arch, "--batch", "200"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        c = sqlite3.connect(self.db, timeout=10)
        killed_at = None
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None:
            n = c.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
            if n < n0 - 1000:
                os.kill(p.pid, signal.SIGKILL)
                killed_at = n
                break
            time.sleep(0.005)
        p.wait()
        self.assertIsNotNone(killed_at, "prune finished before it could be killed")
        self.assertGreater(c.execute("SELECT COUNT(*) FROM trades").fetchone()[0], 10)   # really half-way
        c.close()
        # every row is still stored or archived
        stored = self.snapshot()["trades"]
        arch = {(int(r["id"]),) for _, r in read_archives(self.arch, "trades")}
        for k in before["trades"]:
            self.assertTrue(k in stored or k in arch, k)
        # the re-run completes; every old row archived exactly once
        rep, _ = self.prune("--table", "trades")
        self.assertEqual(rep["tables"][0]["archived"], 0)
        cutoff = rep["tables"][0]["cutoff_ms"]
        old = {k: r for k, r in before["trades"].items() if r[4] < cutoff}
        got = [r for _, r in read_archives(self.arch, "trades")]
        self.assertEqual(len(got), len(old))
        self.assertEqual({(int(r["id"]),) for r in got}, set(old))
        self.assertEqual(set(self.snapshot()["trades"]), set(before["trades"]) - set(old))
        # the killed run's temp file (if it was writing one) is gone; only whole archives remain
        self.assertEqual(glob.glob(os.path.join(self.arch, "trades", ".*.tmp")), [])

    def test_concurrent_writer_not_blocked(self):
        self.fill(n_trades=150000, n_new=10)
        stop = threading.Event()
        waits, errors = [], []

        def writer():
            w = sqlite3.connect(self.db, timeout=5.0, isolation_level=None)
            i = 0
            while not stop.is_set():
                t = time.monotonic()
                try:
                    w.execute("BEGIN IMMEDIATE")
                    w.execute("INSERT INTO trades(exchange, symbol, trade_id, ts_ms, price, qty, side)"
                              " VALUES('w','W',?,?,1,1,'buy')", ("w%d" % i, NOW - 1000))
                    w.execute("COMMIT")
                except sqlite3.OperationalError as e:
                    errors.append(str(e))
                waits.append(time.monotonic() - t)
                i += 1
                time.sleep(0.002)
            w.close()

        th = threading.Thread(target=writer)
        th.start()
        try:
            t0 = time.monotonic()
            rep, _ = self.prune("--table", "trades")
            took = time.monotonic() - t0
        finally:
            stop.set()
            th.join()
        self.assertEqual(errors, [])
        self.assertGreater(rep["tables"][0]["batches"], 10)
        n_during = len(waits)
        self.assertGreater(n_during, 20)
        # never near the busy timeout (5 s): a write waits at most about one batch
        self.assertLess(max(waits), 1.0, (max(waits), rep["tables"][0]["max_batch_ms"], took))
        c = sqlite3.connect(self.db)
        self.assertEqual(c.execute("SELECT COUNT(*) FROM trades WHERE exchange = 'w'").fetchone()[0], n_during)

    def test_stream_prunes_on_its_schedule(self):
        """mts stream with the shipped retention (trades 90d, bus_events 30d): the old
        rows go to archive/ next to the database while it records; logged."""
        c = sqlite3.connect(self.db)
        old = NOW - 100 * DAY
        c.executemany("INSERT INTO trades(exchange, symbol, trade_id, ts_ms, price, qty, side)"
                      " VALUES('binance','BTCUSDT',?,?,1.5,2,'buy')", [("old%d" % i, old + i) for i in range(50)])
        c.commit()
        c.close()
        srv = ExchangeServer("binance", steps=60).start()
        try:
            u = srv.url()
            env = {"BINANCE_WS_URL": u, "BINANCE_FUTURES_WS_URL": u, "BINANCE_REST_URL": srv.url("http"),
                   "MTS_WS_BACKOFF_MS": "100", "MTS_PRUNE_INTERVAL_S": "1", "MTS_LOG_LEVEL": "info"}
            r = self.mts("stream", "--exchange", "binance", "--symbols", "BTCUSDT,ETHUSDT", "--duration", "3s",
                         "--db", self.db, "--json", env=env, timeout=60)
        finally:
            srv.stop()
        events = [json.loads(l) for l in r.stderr.splitlines() if l.startswith("{")]
        runs = [e for e in events if e.get("event") == "prune.scheduled"]
        self.assertGreaterEqual(len(runs), 2, r.stderr[-2000:])   # every second
        self.assertTrue(any(e.get("event") == "prune.table" and e.get("table") == "trades" and e["deleted"] == 50
                            for e in events))
        c = sqlite3.connect(self.db)
        self.assertEqual(c.execute("SELECT COUNT(*) FROM trades WHERE trade_id LIKE 'old%'").fetchone()[0], 0)
        stored = [r[0] for r in c.execute("SELECT trade_id FROM trades")]
        got = [r["trade_id"] for _, r in read_archives(os.path.join(self.tmp, "archive"), "trades")]
        self.assertTrue(set("old%d" % i for i in range(50)) <= set(got))
        # the stand-in's trades are of 2023 (older than 90 days): the ones a later run saw went
        # to the archive too; none is lost and none is in both places
        self.assertEqual(len(stored) + len(got), 50 + len(srv.sent_trades))
        self.assertEqual(set(stored) & set(got), set())

    def test_usage_errors(self):
        r = self.mts("prune", "--db", self.db, "--table", "trade", expect=2)
        self.assertIn("did you mean 'trades'", r.stderr)
        r = self.mts("prune", "--db", self.db, "--older-than", "30x", expect=2)
        self.assertIn("--older-than", r.stderr)
        r = self.mts("prune", "--help")
        self.assertIn("mts import archive", r.stdout)


if __name__ == "__main__":
    unittest.main()
