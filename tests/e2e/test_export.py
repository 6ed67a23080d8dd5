"""mts export ohlcv --interval: stored or resampled (and says which), checked
against Binance's own bars; exports keep every digit; the date column is a full
timestamp for intraday bars; one interval's export never holds another's rows.

The expected numbers come from the Binance files themselves (../shared/data),
read here in Python, never from mts."""
import csv
import io
import os
import sqlite3
import unittest

from mtslib import MtsTestCase, SHARED, bits, delete_bars, ohlcv_rows, parse_time, put_bars

LIMIT = 120
INTRADAY = os.path.join(SHARED, "data", "crypto", "intraday")
DAILY = os.path.join(SHARED, "data", "crypto", "daily")
H1 = os.path.join(INTRADAY, "BTCUSDT_1h_binance_spot.csv")
H4 = os.path.join(INTRADAY, "BTCUSDT_4h_binance_spot.csv")
D1 = os.path.join(DAILY, "BTCUSDT_1d_binance_spot.csv")


def read(path):
    """{ts: (open, high, low, close, volume)} of a CSV with a time column first."""
    out = {}
    with open(path, newline="") as f:
        r = csv.reader(f)
        next(r)
        for row in r:
            out[parse_time(row[0])] = tuple(float(x) for x in row[1:6])
    return out


def exported(text):
    rows = list(csv.DictReader(io.StringIO(text)))
    return rows, {parse_time(r["timestamp"]): tuple(float(r[k]) for k in ("open", "high", "low", "close", "volume"))
                  for r in rows}


class ExportTestCase(MtsTestCase):
    def store_hours(self, path, asset):
        """Import an hourly file as 1h bars: with --interval once mts import has it,
        else imported (as 1d) and moved to 1h in the database."""
        r = self.mts("import", "csv", path, "--asset", asset, "--interval", "1h", expect=None, timeout=LIMIT)
        if r.returncode == 0:
            return
        self.mts("import", "csv", path, "--asset", asset, timeout=LIMIT)
        bars = [b[2:] for b in ohlcv_rows(self.db, asset, "1d")]
        delete_bars(self.db, asset, "1d", lambda t: False)
        put_bars(self.db, asset, "1h", bars)

    def export(self, *args, expect=0):
        return self.mts("export", "ohlcv", *args, expect=expect, timeout=LIMIT)


@unittest.skipUnless(os.path.exists(H1), "Binance files not found under %s" % SHARED)
class ResampledAgainstBinance(ExportTestCase):
    def compare(self, interval, theirs_path, seconds):
        hours = read(H1)
        theirs = read(theirs_path)
        r = self.export("--asset", "btc", "--interval", interval)
        self.assertIn("btc %s: resampled from 1h" % interval, r.stderr)
        rows, ours = exported(r.stdout)
        first, last_end = min(hours), max(hours) + 3600
        compared = skipped = 0
        for t, want in sorted(theirs.items()):
            if t < first or t + seconds > last_end:
                continue
            if any(t + k * 3600 not in hours for k in range(seconds // 3600)):
                skipped += 1
                continue
            self.assertIn(t, ours, "no %s bar at %d" % (interval, t))
            got = ours[t]
            self.assertEqual(got[:4], want[:4], "%s bar at %d" % (interval, t))
            self.assertLessEqual(abs(got[4] - want[4]), 1e-9 * want[4], "%s volume at %d" % (interval, t))
            compared += 1
        print("\n  export --interval %s vs Binance: %d windows equal, %d skipped without all their hours"
              % (interval, compared, skipped))
        return compared, skipped, rows

    def test_1h_resampled_to_1d_and_4h_equals_binance(self):
        self.store_hours(H1, "btc")
        n, skipped, rows = self.compare("1d", D1, 86400)
        self.assertGreater(n, 1500)
        self.assertEqual(rows[0]["date"], "2021-01-01")                   # daily: a date
        n, skipped, rows = self.compare("4h", H4, 4 * 3600)
        self.assertGreater(n, 9000)
        self.assertEqual(rows[0]["date"], "2021-01-01T00:00:00Z")         # intraday: the full time
        # the stored interval: every row, every digit, as in the file
        r = self.export("--asset", "btc", "--interval", "1h", "--from", "2024-01-01", "--to", "2024-12-31")
        self.assertIn("btc 1h: stored 1h", r.stderr)
        rows, ours = exported(r.stdout)
        hours = {t: v for t, v in read(H1).items() if parse_time("2024-01-01") <= t <= parse_time("2024-12-31T23:59:59")}
        self.assertEqual(ours, hours)
        self.assertEqual(rows[1]["date"], "2024-01-01T01:00:00Z")

    def test_complete_only_leaves_out_days_with_hours_missing(self):
        self.store_hours(H1, "btc")
        hours = read(H1)
        days = {}
        for t in hours:
            days.setdefault(t - t % 86400, []).append(t)
        last = max(days)
        if len(days[last]) < 24:                     # still forming at the file's end: never a bar
            del days[last]
        full = {d for d, ts in days.items() if len(ts) == 24}
        partial = set(days) - full
        self.assertGreater(len(partial), 0)          # the file has outages: the option means something
        r = self.export("--asset", "btc", "--interval", "1d", "--complete-only")
        _, ours = exported(r.stdout)
        self.assertEqual(set(ours), full)
        self.assertIn("%d bars with fine bars missing left out (--complete-only)" % len(partial), r.stderr)
        _, every = exported(self.export("--asset", "btc", "--interval", "1d").stdout)
        self.assertEqual(set(every), set(days))      # without it, a day with an outage is still a bar
        self.mts("export", "macro", "--indicator", "VIX", "--complete-only", expect=2)


class Digits(ExportTestCase):
    def test_every_digit_round_trips(self):
        vals = [(0.1 + 0.2, 123456.78901234567, 0.29999999999999993, 0.3, 1e-8),
                (1.0000000000000002, 2.5, 0.9999999999999999, 1.0000000000000002, 12345678.123456789),
                (42.0, 43.0, 41.0, 42.0, 0.0)]
        src = os.path.join(self.tmp, "d.csv")
        with open(src, "w") as f:
            f.write("timestamp,open,high,low,close,volume\n")
            for i, (o, h, l, c, v) in enumerate(vals):
                f.write("%d,%r,%r,%r,%r,%r\n" % (1704067200 + 86400 * i, o, h, l, c, v))
        self.mts("import", "csv", src, "--asset", "digits", timeout=LIMIT)
        out = os.path.join(self.tmp, "e.csv")
        r = self.export("--asset", "digits", "--out", out)
        self.assertIn("digits 1d: stored 1d", r.stderr)
        with open(out) as f:
            rows, got = exported(f.read())
        self.assertEqual([got[t] for t in sorted(got)], vals)
        # and back in: the same doubles in the database
        self.mts("import", "csv", out, "--asset", "again", timeout=LIMIT)
        bit = lambda rows: [(r[1], r[2]) + tuple(bits(v) for v in r[3:]) for r in rows]
        a = bit(ohlcv_rows(self.db, "digits"))
        b = bit(ohlcv_rows(self.db, "again"))
        self.assertEqual(len(a), len(vals))
        self.assertEqual(a, b)

    def test_macro_keeps_every_digit(self):
        src = os.path.join(self.tmp, "m.csv")
        with open(src, "w") as f:
            f.write("date,value\n2024-01-02,12.345678901234567\n2024-01-03,0.30000000000000004\n")
        self.mts("import", "macro", src, "--indicator", "X", timeout=LIMIT)
        r = self.mts("export", "macro", "--indicator", "X", timeout=LIMIT)
        vals = [float(row["value"]) for row in csv.DictReader(io.StringIO(r.stdout))]
        self.assertEqual(vals, [12.345678901234567, 0.30000000000000004])


class Intervals(ExportTestCase):
    def hours_file(self, n=30):
        """n hourly bars from 2024-01-01 00:00: hour i has open 100+i, high 101+i,
        low 99+i, close 100.5+i, volume i+1."""
        p = os.path.join(self.tmp, "h.csv")
        with open(p, "w") as f:
            f.write("timestamp,open,high,low,close,volume\n")
            for i in range(n):
                f.write("2024-01-01T%02d:00:00Z,%d,%d,%d,%s,%d\n" % (i, 100 + i, 101 + i, 99 + i, 100.5 + i, i + 1)
                        if i < 24 else "2024-01-02T%02d:00:00Z,%d,%d,%d,%s,%d\n"
                        % (i - 24, 100 + i, 101 + i, 99 + i, 100.5 + i, i + 1))
        return p

    def test_one_interval_never_holds_another(self):
        # daily bars and hourly bars of one asset: each export has only its own
        self.store_hours(self.hours_file(), "mix")
        src = os.path.join(self.tmp, "d.csv")
        with open(src, "w") as f:
            f.write("timestamp,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,10\n2024-01-02,1.5,3,1,2,20\n")
        r = self.mts("import", "csv", src, "--asset", "mix", "--interval", "1d", expect=None, timeout=LIMIT)
        if r.returncode != 0:
            self.mts("import", "csv", src, "--asset", "mix", timeout=LIMIT)
        rows, got = exported(self.export("--asset", "mix").stdout)
        self.assertEqual(got, {parse_time("2024-01-01"): (1, 2, 0.5, 1.5, 10),
                               parse_time("2024-01-02"): (1.5, 3, 1, 2, 20)})
        rows, got = exported(self.export("--asset", "mix", "--interval", "1h").stdout)
        self.assertEqual(len(got), 30)
        # 4h from 1h, by hand: 00-04 open 100 high 104 low 99 close 103.5 vol 1+2+3+4=10;
        # 04:00 on 2024-01-02 (hours 28, 29) is still forming: left out, and said so
        r = self.export("--asset", "mix", "--interval", "4h")
        self.assertIn("mix 4h: resampled from 1h", r.stderr)
        self.assertIn("still forming", r.stderr)
        rows, got = exported(r.stdout)
        self.assertEqual(len(got), 7)
        self.assertEqual(got[parse_time("2024-01-01")], (100, 104, 99, 103.5, 10))
        self.assertEqual(got[parse_time("2024-01-02")], (124, 128, 123, 127.5, 25 + 26 + 27 + 28))
        self.assertEqual(rows[1]["date"], "2024-01-01T04:00:00Z")

    def test_bad_intervals(self):
        self.store_hours(self.hours_file(), "h")
        r = self.export("--asset", "h", "--interval", "2d", expect=2)
        self.assertIn("unknown --interval '2d'", r.stderr)
        self.assertIn("1m 3m 5m", r.stderr)
        r = self.export("--asset", "h", "--interval", "30m", expect=1)
        self.assertIn("no 30m bars for h: stored are 1h", r.stderr)
        r = self.mts("export", "macro", "--indicator", "VIX", "--interval", "1h", expect=2, timeout=LIMIT)
        self.assertIn("--interval is for mts export ohlcv", r.stderr)
        self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main()
