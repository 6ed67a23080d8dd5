"""Bars written through each path that ends in the store's upsert — `mts import
csv` and `mts collect` (the stand-in vendor server of test_collect.py) — read back
bit for bit through the column blocks of schema v7: decoded by mtslib's own MTC1
reader (struct, not the C codec) and exported by `mts export ohlcv`. The expected
values are computed here from the source file or the vendor fixture, and every
double is compared by its 64 bits."""
import csv
import io
import json
import os
import random
import struct

import test_collect
from mtslib import ROOT, MtsTestCase, bits, ohlcv_rows, parse_time

FIX = os.path.join(ROOT, "tests", "fixtures", "vendors")
H = 3600


def awkward_bars(n, t0, step, seed):
    """n valid bars (high >= open, close >= low > 0) with values that are hard
    to keep: 0.1 + 0.2, 1e-8, many significant digits, a subnormal-free tiny
    volume, zero volume; two gaps (so some blocks are irregular)."""
    rnd = random.Random(seed)
    out, t = [], t0
    special = [0.1 + 0.2, 1e-8, 123456789.12345679, 0.29999999999999993, 1.0000000000000002, 7e-7]
    for i in range(n):
        if i in (300, 1100):
            t += 3 * step                                  # a gap of three bars
        o = special[i % len(special)] if i % 97 == 0 else rnd.uniform(1e-3, 1e5)
        c = rnd.uniform(o * 0.9, o * 1.1)
        h = max(o, c) + rnd.random() * o * 0.01
        lo = min(o, c) * (1 - rnd.random() * 0.01)
        v = 0.0 if i % 50 == 0 else (1e-8 if i % 51 == 0 else rnd.uniform(0, 1e7))
        out.append((t, o, h, lo, c, v))
        t += step
    return out


def bar_bits(rows):
    return [(r[0],) + tuple(bits(x) for x in r[1:6]) for r in rows]


class BarsPaths(MtsTestCase):
    def exported(self, asset, interval):
        out = os.path.join(self.tmp, "%s_%s.csv" % (asset, interval))
        self.mts("export", "ohlcv", "--asset", asset, "--interval", interval, "--out", out, timeout=120)
        with open(out, newline="") as f:
            return [(parse_time(r["timestamp"]),) + tuple(float(r[k]) for k in ("open", "high", "low", "close",
                                                                                   "volume"))
                    for r in csv.DictReader(f)]

    def check_both_ways(self, asset, interval, want):
        stored = [b[2:] for b in ohlcv_rows(self.db, asset, interval)]
        self.assertEqual(len(stored), len(want))
        self.assertEqual(bar_bits(stored), bar_bits(want))
        self.assertEqual(bar_bits(self.exported(asset, interval)), bar_bits(want))

    def test_import_csv_reads_back_bit_identical(self):
        want = awkward_bars(2500, 1704067200, H, seed=11)    # 2500 hours: 3 or 4 blocks of 1024 h
        path = os.path.join(self.tmp, "h.csv")
        with open(path, "w") as f:
            f.write("timestamp,open,high,low,close,volume\n")
            for b in want:
                f.write("%d,%r,%r,%r,%r,%r\n" % b)         # repr: the shortest text of each double
        self.mts("import", "csv", path, "--asset", "paths", "--interval", "1h", timeout=120)
        self.check_both_ways("paths", "1h", want)
        # the blocks: each within its span of 1024 hours, irregular where the gaps are
        import sqlite3
        con = sqlite3.connect(self.db)
        blocks = con.execute("SELECT block_start, n, first_ts, last_ts, bars FROM ohlcv_blocks WHERE "
                             "cryptocurrency = 'paths' ORDER BY block_start").fetchall()
        con.close()
        span = 1024 * H
        self.assertEqual([b[0] for b in blocks], sorted({b[0] // span * span for b in want}))
        self.assertEqual(sum(b[1] for b in blocks), 2500)
        flags = [struct.unpack_from("<H", b[4], 10)[0] for b in blocks]
        self.assertIn(0, flags)                              # a block with a gap: times stored as deltas
        self.assertIn(1, flags)                              # a block without: REGULAR
        # importing the same file again rewrites nothing and changes nothing
        self.mts("import", "csv", path, "--asset", "paths", "--interval", "1h", timeout=120)
        self.check_both_ways("paths", "1h", want)

    def test_import_into_existing_blocks_replaces_only_its_bars(self):
        want = awkward_bars(1500, 1704067200, H, seed=5)
        path = os.path.join(self.tmp, "a.csv")
        with open(path, "w") as f:
            f.write("timestamp,open,high,low,close,volume\n")
            for b in want:
                f.write("%d,%r,%r,%r,%r,%r\n" % b)
        self.mts("import", "csv", path, "--asset", "mix", "--interval", "1h", timeout=120)
        # a second file: 40 of the same hours with other values, in the middle of blocks
        other = awkward_bars(1500, 1704067200, H, seed=99)
        pick = sorted(random.Random(3).sample(range(1500), 40))
        path2 = os.path.join(self.tmp, "b.csv")
        with open(path2, "w") as f:
            f.write("timestamp,open,high,low,close,volume\n")
            for i in pick:
                f.write("%d,%r,%r,%r,%r,%r\n" % ((want[i][0],) + other[i][1:]))
        self.mts("import", "csv", path2, "--asset", "mix", "--interval", "1h", timeout=120)
        for i in pick:
            want[i] = (want[i][0],) + other[i][1:]
        self.check_both_ways("mix", "1h", want)


class CollectPaths(MtsTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = test_collect.VendorServer()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        super().setUp()
        self.srv.post("/_control/reset", {})

    def collect(self, asset):
        env = {"COINGECKO_BASE_URL": self.srv.base + "/api/v3", "FRED_BASE_URL": self.srv.base + "/fred",
               "FRED_API_KEY": "dummy-key-for-stand-in", "MTS_HTTP_BACKOFF_BASE": "0.01",
               "MTS_HTTP_BACKOFF_MAX": "0.05", "COINGECKO_RATE_PER_MIN": "0", "FRED_RATE_PER_MIN": "0"}
        return self.mts("collect", "--source", "coingecko", "--asset", asset, "--days", "1", "--db", self.db,
                        env=env, timeout=60)

    def exported(self, asset, interval):
        return BarsPaths.exported(self, asset, interval)

    def test_collect_fixture_reads_back_bit_identical(self):
        # CoinGecko's 30 min candles: [close_ms, o, h, l, c]; stored at open = close - 1800 s,
        # no per-candle volume (0)
        with open(os.path.join(FIX, "coingecko", "coins_id_ohlc.json")) as f:
            want = [(int(r[0]) // 1000 - 1800, float(r[1]), float(r[2]), float(r[3]), float(r[4]), 0.0)
                    for r in json.load(f)]
        self.collect("bitcoin")
        BarsPaths.check_both_ways(self, "bitcoin", "30m", want)

    def test_collect_awkward_doubles_read_back_bit_identical(self):
        t0 = test_collect.midnight(2024, 3, 1)
        vals = [(0.1 + 0.2, 0.30000000000000004, 0.29999999999999993, 0.3),
                (1e-8, 2e-8, 1e-8, 1.5e-8),
                (123456789.12345679, 123456789.2, 123456789.1, 123456789.12345678),
                (1.0000000000000002, 1.0000000000000004, 1.0, 1.0000000000000002),
                (99999.99, 100000.01, 99999.98, 100000.0)]
        ohlc = [[(t0 + (i + 1) * 1800) * 1000, o, h, lo, c] for i, (o, h, lo, c) in enumerate(vals)]
        self.srv.post("/_control/data", {"ohlc": {"ethereum": ohlc}})
        self.collect("ethereum")
        want = [(t0 + i * 1800, o, h, lo, c, 0.0) for i, (o, h, lo, c) in enumerate(vals)]
        BarsPaths.check_both_ways(self, "ethereum", "30m", want)
        # collected again: nothing changes
        self.collect("ethereum")
        BarsPaths.check_both_ways(self, "ethereum", "30m", want)


if __name__ == "__main__":
    import unittest
    unittest.main()
