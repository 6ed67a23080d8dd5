"""mts import end to end (issue 10, "Import"): unix times in s / ms / µs / ns
told by magnitude, times outside 1970..2100 refused with their line, ';' and
tab delimited files, headerless files named by --columns, Binance's 12-column
kline dumps (--format binance), the interval told from the spacing or given
(--interval), mixed and off-grid files refused, an hourly import beside daily
bars leaving them untouched, FRED's two-column download without --column, and
the bundled 1h file imported completely. Row counts and values come from
python's csv module and datetime, never from mts. Every call has a time limit."""
import csv
import datetime as dt
import os
import sqlite3

from mtslib import ROOT, SHARED, MtsTestCase, ohlcv_rows

LIMIT = 120

T2024 = int(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp())


def write(path, text):
    with open(path, "w", newline="") as f:
        f.write(text)
    return path


class Import(MtsTestCase):
    def imp(self, path, asset, *extra, expect=0):
        return self.mts("import", "csv", path, "--asset", asset, *extra, expect=expect, timeout=LIMIT)

    def rows(self, asset, interval=None):
        """[(interval, ts, open, high, low, close, volume)] straight from the database
        (the blocks decoded by mtslib, not by mts)."""
        try:
            return [b[1:] for b in ohlcv_rows(self.db, asset, interval)]
        except sqlite3.OperationalError:
            return []               # no database yet

    def hourly(self, times):
        return "timestamp,open,high,low,close,volume\n" + "".join(
            "%s,10,11,9,10.5,%d\n" % (t, i + 1) for i, t in enumerate(times))

    def test_time_units_by_magnitude(self):
        want = [T2024 + 3600 * i for i in range(3)]
        for unit, mult in (("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9)):
            p = write(os.path.join(self.tmp, unit + ".csv"), self.hourly([t * mult for t in want]))
            r = self.imp(p, "u_" + unit)
            self.assertIn("imported 3 rows into u_%s (0 rejected)" % unit, r.stdout)
            self.assertIn("interval 1h (detected from the spacing of the bars)", r.stdout)
            self.assertIn("times in unix %s" % unit, r.stdout)
            got = self.rows("u_" + unit)
            self.assertEqual([(x[0], x[1]) for x in got], [("1h", t) for t in want])

    def test_microseconds_read_as_ms_never_stored(self):
        # the first row says ms; a µs time after it would be the year 52971 as ms
        ms = [T2024 * 1000, (T2024 + 3600) * 1000, (T2024 + 7200) * 10**6]
        p = write(os.path.join(self.tmp, "mixed.csv"), self.hourly(ms))
        r = self.imp(p, "m", expect=1)
        self.assertIn("%s:4: time %d in column timestamp looks like unix microseconds, but the file's first "
                      "time (line 2) is in milliseconds" % (p, ms[2]), r.stderr)
        self.assertEqual(self.rows("m"), [])

    def test_garbage_timestamp_refused_with_line(self):
        p = write(os.path.join(self.tmp, "g.csv"),
                  self.hourly([T2024, T2024 + 3600, T2024 + 7200, 99999999999, T2024 + 10800]))
        r = self.imp(p, "g", expect=1)
        self.assertIn("%s:5: time 99999999999 in column timestamp, read as unix seconds, is outside "
                      "1970-01-01..2100-01-01" % p, r.stderr)
        self.assertEqual(self.rows("g"), [])

    def test_semicolon_and_tab(self):
        body = [("2024-01-01", 10, 11, 9, 10.5, 100), ("2024-01-02", 10.5, 12, 10, 11, 200)]
        for name, d in (("semi", ";"), ("tab", "\t")):
            p = os.path.join(self.tmp, name + ".csv")
            with open(p, "w", newline="") as f:
                w = csv.writer(f, delimiter=d)
                w.writerow(["date", "open", "high", "low", "close", "volume"])
                w.writerows(body)
            r = self.imp(p, name, "--delimiter", "\\t" if d == "\t" else d)
            self.assertIn("imported 2 rows into %s (0 rejected)" % name, r.stdout)
            self.assertIn("interval 1d", r.stdout)
            self.assertEqual(self.rows(name),
                             [("1d", T2024 + 86400 * i) + tuple(float(x) for x in body[i][1:]) for i in range(2)])
        # without --delimiter: no time column, and the message shows the header as read
        r = self.imp(os.path.join(self.tmp, "semi.csv"), "semi2", expect=1)
        self.assertIn("no time column", r.stderr)
        # a usage error for a delimiter that cannot be one
        r = self.imp(os.path.join(self.tmp, "semi.csv"), "x", "--delimiter", ";;", expect=2)
        self.assertIn("--delimiter", r.stderr)

    def test_headerless_columns(self):
        p = write(os.path.join(self.tmp, "nh.csv"),
                  "".join("%d,10,11,9,10.5,%d,zz\n" % ((T2024 + 60 * i) * 1000, i + 1) for i in range(5)))
        r = self.imp(p, "nh", "--no-header", "--columns", "ts,open,high,low,close,volume,_")
        self.assertIn("imported 5 rows into nh (0 rejected)", r.stdout)
        self.assertIn("interval 1m", r.stdout)
        self.assertEqual([x[1] for x in self.rows("nh", "1m")], [T2024 + 60 * i for i in range(5)])
        r = self.imp(p, "nh2", "--no-header", expect=2)
        self.assertIn("--no-header needs --columns", r.stderr)
        r = self.imp(p, "nh3", expect=1)   # the first row taken as a header: no time column
        self.assertEqual(self.rows("nh3"), [])

    def test_binance_preset(self):
        # the documented layout (rest_klines.json in ../shared/data/samples, 12 fields);
        # three one-minute rows with µs times, as Binance spot dumps have had since 2025
        t0 = int(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc).timestamp())
        rows = [(93576.0, 93610.93, 93537.5, 93610.93, 8.21827), (93610.93, 93652.0, 93606.0, 93631.08, 14.8135),
                (93631.08, 93644.56, 93600.0, 93600.0, 9.9)]
        lines = []
        for i, (o, h, l, c, v) in enumerate(rows):
            ot = (t0 + 60 * i) * 10**6
            lines.append("%d,%.8f,%.8f,%.8f,%.8f,%.8f,%d,1000.5,2000,4.1,500.2,0\n" % (ot, o, h, l, c, v,
                                                                                     ot + 59999999))
        p = write(os.path.join(self.tmp, "BTCUSDT-1m-2025-01-01.csv"), "".join(lines))
        r = self.imp(p, "bitcoin", "--format", "binance")
        self.assertIn("imported 3 rows into bitcoin (0 rejected)", r.stdout)
        self.assertIn("interval 1m (detected", r.stdout)
        self.assertIn("times in unix us", r.stdout)
        self.assertEqual(self.rows("bitcoin"), [("1m", t0 + 60 * i) + rows[i] for i in range(3)])
        # the real documented example row (one weekly kline, ms) with its interval given
        import json
        with open(os.path.join(SHARED, "data/samples/binance_spot/rest_klines.json")) as f:
            k = json.load(f)[0]
        p = write(os.path.join(self.tmp, "doc.csv"), ",".join(str(x) for x in k) + "\n")
        r = self.imp(p, "bnbbtc", "--format", "binance", "--interval", "1w")
        self.assertIn("imported 1 rows into bnbbtc", r.stdout)
        self.assertEqual(self.rows("bnbbtc"), [("1w", k[0] // 1000) + tuple(float(x) for x in k[1:6])])

    def test_interval_refusals(self):
        daily = write(os.path.join(self.tmp, "d.csv"), self.hourly(["2024-01-0%d" % d for d in (1, 2, 3)]))
        r = self.imp(daily, "x", "--interval", "1h", expect=1)
        self.assertIn("%s:3: the bars are 86400 s (1d) apart (e.g. lines 2 and 3) but --interval is 1h" % daily,
                      r.stderr)
        # two bars 90 minutes apart: no interval has that length
        odd = write(os.path.join(self.tmp, "odd.csv"), self.hourly([T2024, T2024 + 5400, T2024 + 10800]))
        r = self.imp(odd, "x", expect=1)
        self.assertIn("cannot tell the interval of the bars", r.stderr)
        self.assertIn("5400 s", r.stderr)
        self.assertIn("use --interval", r.stderr)
        # hourly bars with one at half past: off the grid, refused with its line
        off = write(os.path.join(self.tmp, "off.csv"),
                    self.hourly([T2024 + 3600 * i for i in range(4)] + [T2024 + 4 * 3600 + 1800] +
                                [T2024 + 3600 * i for i in range(5, 9)]))
        r = self.imp(off, "x", expect=1)
        self.assertIn("%s:6: bar time 2024-01-01T04:30:00Z is not on the 1h grid" % off, r.stderr)
        self.assertEqual(self.rows("x"), [])
        r = self.imp(daily, "x", "--interval", "2d", expect=2)
        self.assertIn("unknown interval '2d'", r.stderr)

    def test_hourly_beside_daily_untouched(self):
        d1 = os.path.join(SHARED, "data/crypto/daily/BTCUSDT_1d_binance_spot.csv")
        self.imp(d1, "bitcoin")
        con = sqlite3.connect(self.db)
        # every column of the daily blocks (the bars' blob, updated_at)
        dump = lambda: con.execute("SELECT * FROM ohlcv_blocks WHERE interval = '1d' ORDER BY id").fetchall()
        before = dump()
        r = self.imp(os.path.join(ROOT, "data/crypto/BTCUSDT_1h_binance_spot.csv"), "bitcoin")
        self.assertIn("interval 1h", r.stdout)
        after = dump()
        con.close()
        self.assertEqual(before, after)
        with open(d1, newline="") as f:
            self.assertEqual(len(self.rows("bitcoin", "1d")), sum(1 for _ in csv.DictReader(f)))

    def test_bundled_1h_imports_completely(self):
        path = os.path.join(ROOT, "data/crypto/BTCUSDT_1h_binance_spot.csv")
        with open(path, newline="") as f:
            want = [(int(dt.datetime.fromisoformat(r["timestamp"]).replace(tzinfo=dt.timezone.utc).timestamp()),
                     float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]), float(r["volume"]))
                    for r in csv.DictReader(f)]
        r = self.imp(path, "bitcoin")
        self.assertIn("imported %d rows into bitcoin (0 rejected)" % len(want), r.stdout)
        got = self.rows("bitcoin")
        self.assertEqual(len(got), len(want))
        self.assertEqual({x[0] for x in got}, {"1h"})
        self.assertEqual([x[1:] for x in got], want)
        # and the 4h file (its header is the daily one: open_time, ..., close_time, ...)
        p4 = os.path.join(ROOT, "data/crypto/BTCUSDT_4h_binance_spot.csv")
        with open(p4, newline="") as f:
            n4 = sum(1 for _ in csv.DictReader(f))
        r = self.imp(p4, "bitcoin", "--interval", "4h")
        self.assertIn("imported %d rows into bitcoin (0 rejected)" % n4, r.stdout)
        self.assertEqual(len(self.rows("bitcoin", "4h")), n4)
        self.assertEqual(len(self.rows("bitcoin", "1h")), len(want))

    def test_fred_two_columns_without_column(self):
        p = os.path.join(SHARED, "data/macro/VIXCLS_fred.csv")
        with open(p, newline="") as f:
            rows = list(csv.reader(f))
        self.assertEqual(rows[0], ["observation_date", "VIXCLS"])
        values = [r for r in rows[1:] if r[1] not in ("", ".")]
        r = self.mts("import", "macro", p, "--indicator", "VIX", timeout=LIMIT)
        self.assertIn("imported %d rows into VIX" % len(values), r.stdout)
        con = sqlite3.connect(self.db)
        got = con.execute("SELECT date, value FROM macro_indicators WHERE indicator = 'VIX' ORDER BY date").fetchall()
        con.close()
        self.assertEqual(got, [(d, float(v)) for d, v in values])


if __name__ == "__main__":
    import unittest
    unittest.main()
