"""mts import funding end to end (issue 12): the real BTCUSDT funding histories
(Binance USD-M, Bybit linear, bundled under data/crypto/funding with their
provenance) into funding_rates — the row count and the sum of the rates read
by python's csv module and math.fsum straight from the file (never from mts)
equal a SELECT on the database; the summary line; a second import keeps the
stored rows; another symbol and exchange are untouched; bad lines refused
with their line numbers; Binance REST column names; usage errors. Every call
has a time limit."""
import csv
import datetime as dt
import json
import math
import os
import sqlite3

from mtslib import ROOT, MtsTestCase

LIMIT = 120
BINANCE = os.path.join(ROOT, "data", "crypto", "funding", "BTCUSDT_funding_binance_usdm.csv")
BYBIT = os.path.join(ROOT, "data", "crypto", "funding", "BTCUSDT_funding_bybit_linear.csv")


def write(path, text):
    with open(path, "w", newline="") as f:
        f.write(text)
    return path


def from_file(path):
    """(rows, fsum of rates, first ms, last ms) of a funding CSV, by python."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    ts = [int(r["ts"]) for r in rows]
    return len(rows), math.fsum(float(r["rate"]) for r in rows), min(ts), max(ts)


def utc(ms):
    d = dt.datetime.fromtimestamp(ms // 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return d + (".%03d" % (ms % 1000) if ms % 1000 else "")


class ImportFunding(MtsTestCase):
    def imp(self, path, symbol, exchange, *extra, expect=0):
        return self.mts("import", "funding", path, "--symbol", symbol, "--exchange", exchange, *extra,
                        expect=expect, timeout=LIMIT)

    def q(self, sql, *args):
        with sqlite3.connect(self.db) as c:
            return c.execute(sql, args).fetchone()

    def test_real_files_count_and_sum(self):
        for path, ex in ((BINANCE, "binance"), (BYBIT, "bybit")):
            n, total, first, last = from_file(path)
            self.assertEqual(n, 540)                    # data/README.md
            r = self.imp(path, "BTCUSDT", ex)
            self.assertIn("imported %d funding rows of BTCUSDT from %s (%d new, 0 already stored; 0 rejected)"
                          % (n, ex, n), r.stdout)
            self.assertIn("%s .. %s UTC" % (utc(first), utc(last)), r.stdout)
            self.assertIn("times in unix ms", r.stdout)
            cnt, s, lo, hi = self.q("SELECT COUNT(*), SUM(rate), MIN(ts_ms), MAX(ts_ms) FROM funding_rates"
                                    " WHERE symbol = 'BTCUSDT' AND exchange = ?", ex)
            self.assertEqual(cnt, n)
            self.assertAlmostEqual(s, total, places=15)
            self.assertEqual((lo, hi), (first, last))
            self.assertEqual(self.q("SELECT COUNT(*) FROM funding_rates WHERE exchange = ? AND next_funding_ms"
                                    " IS NOT NULL", ex)[0], 0)
            run = self.q("SELECT kind, target, status, rows FROM import_runs ORDER BY id DESC LIMIT 1")
            self.assertEqual(run, ("funding", "BTCUSDT@" + ex, "complete", n))
        # the two exchanges side by side, each its own
        self.assertEqual(self.q("SELECT COUNT(*) FROM funding_rates")[0], 1080)

    def test_again_keeps_rows_and_other_series(self):
        n, total, _, _ = from_file(BINANCE)
        self.imp(BINANCE, "BTCUSDT", "binance")
        # the same file as ETHUSDT on okx: another series, the BTCUSDT rows untouched
        self.imp(BINANCE, "ETHUSDT", "okx")
        r = self.imp(BINANCE, "BTCUSDT", "binance", "--json")
        j = json.loads(r.stdout)
        self.assertEqual((j["stored"], j["already_stored"], j["differing_kept"], j["rows_rejected"]), (0, n, 0, 0))
        # one rate changed in a copy: the stored rate is kept, listed with its line, exit 3
        with open(BINANCE) as f:
            lines = f.read().splitlines()
        ts, rate = lines[5].split(",")
        lines[5] = "%s,0.000999" % ts
        p = write(os.path.join(self.tmp, "changed.csv"), "\n".join(lines) + "\n")
        r = self.imp(p, "BTCUSDT", "binance", expect=3)
        self.assertIn("changed.csv:6: time %s is already stored for BTCUSDT from binance with rate %s; kept"
                      % (ts, rate), r.stderr)
        self.assertIn("1 of them with another rate: kept", r.stdout)
        self.assertEqual(self.q("SELECT rate FROM funding_rates WHERE exchange = 'binance' AND ts_ms = ?",
                                int(ts))[0], float(rate))
        for sym, ex in (("BTCUSDT", "binance"), ("ETHUSDT", "okx")):
            cnt, s = self.q("SELECT COUNT(*), SUM(rate) FROM funding_rates WHERE symbol = ? AND exchange = ?", sym, ex)
            self.assertEqual(cnt, n)
            self.assertAlmostEqual(s, total, places=15)

    def test_bad_lines_refused_with_line_numbers(self):
        p = write(os.path.join(self.tmp, "bad.csv"),
                  "ts,rate\n"
                  "1765555200002,0.0001\n"      # 2 ok
                  "1765584000001,x\n"           # 3 not a number
                  "1765612800006,-1.01\n"       # 4 |rate| > 1
                  "1765641600000,0.0002\n"      # 5 and 6: same time, other rate
                  "1765641600000,0.0003\n"
                  "1765670400000,0.0004\n")     # 7 ok
        r = self.imp(p, "BTCUSDT", "binance", expect=3)
        for line, why in ((3, "rate is not a number"), (4, "rate -1.01 is beyond -1..1"),
                          (5, "time 1765641600000 is also on line 6"), (6, "time 1765641600000 is also on line 5")):
            self.assertIn("bad.csv:%d: %s" % (line, why), r.stderr)
        self.assertIn("2 new, 0 already stored; 4 rejected", r.stdout)
        self.assertEqual(self.q("SELECT COUNT(*), SUM(rate) FROM funding_rates"), (2, 0.0001 + 0.0004))
        # a time in 2200: the whole file refused, nothing more stored
        p = write(os.path.join(self.tmp, "far.csv"), "ts,rate\n1765555200,0.0001\n7258118400,0.0001\n")
        r = self.imp(p, "BTCUSDT", "bybit", expect=1)
        self.assertIn("far.csv:3: time 7258118400", r.stderr)
        self.assertEqual(self.q("SELECT COUNT(*) FROM funding_rates WHERE exchange = 'bybit'")[0], 0)

    def test_binance_rest_columns_seconds(self):
        p = write(os.path.join(self.tmp, "rest.csv"),
                  "symbol,fundingTime,fundingRate,markPrice\n"
                  "BTCUSDT,1765555200,0.00003383,90123.4\n"
                  "BTCUSDT,1765584000,0.00000121,\n")
        r = self.imp(p, "BTCUSDT", "binance")
        self.assertIn("times in unix s", r.stdout)
        rows = sqlite3.connect(self.db).execute(
            "SELECT ts_ms, rate, mark_price FROM funding_rates ORDER BY ts_ms").fetchall()
        self.assertEqual(rows, [(1765555200000, 0.00003383, 90123.4), (1765584000000, 0.00000121, None)])

    def test_usage(self):
        r = self.mts("import", "funding", BINANCE, "--symbol", "BTCUSDT", expect=2)
        self.assertIn("--exchange NAME is required", r.stderr)
        r = self.mts("import", "funding", BINANCE, "--exchange", "binance", expect=2)
        self.assertIn("--symbol SYMBOL is required", r.stderr)
        r = self.mts("import", "csv", BINANCE, "--asset", "x", "--symbol", "BTCUSDT", expect=2)
        self.assertIn("--symbol is for mts import funding", r.stderr)
        r = self.mts("import", "--help")
        self.assertIn("mts import funding data/crypto/funding/BTCUSDT_funding_binance_usdm.csv --symbol BTCUSDT "
                      "--exchange binance", r.stdout)
