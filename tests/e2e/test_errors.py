"""Bad input end to end: each case gives a one-line error naming the file,
line or field, a non-zero exit, and loses nothing good."""
import json
import os
import sqlite3
import time

from mtslib import MtsTestCase, ohlcv_rows


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


class BadInput(MtsTestCase):
    def test_csv_with_broken_rows_keeps_good_rows(self):
        p = write(os.path.join(self.tmp, "broken.csv"),
                  "timestamp,open,high,low,close,volume\n"
                  "2024-01-01,100,110,90,105,1000\n"          # line 2 ok
                  "2024-01-02,105,104,95,103,900\n"           # line 3 high < open
                  "2024-01-03,abc,110,90,105,1000\n"          # line 4 open not a number
                  "yesterday,100,110,90,105,1000\n"           # line 5 bad time
                  "2024-01-04,100,110,90,105,-5\n"            # line 6 negative volume
                  "2024-01-05,100,110,90,105\n"               # line 7 missing field
                  "2024-01-01,101,111,91,106,1000\n"          # line 8 duplicate time
                  "2024-01-06,106,112,101,110,1200\n")        # line 9 ok
        r = self.mts("import", "csv", p, "--asset", "testcoin", expect=3)
        for line in (3, 4, 5, 6, 7, 8):
            self.assertIn("broken.csv:%d:" % line, r.stderr)
        for line in (2, 9):
            self.assertNotIn("broken.csv:%d:" % line, r.stderr)
        rows = [(time.strftime("%Y-%m-%d", time.gmtime(b[2])), b[6]) for b in ohlcv_rows(self.db, "testcoin")]
        self.assertEqual(rows, [("2024-01-01", 105.0), ("2024-01-06", 110.0)])

    def test_strategy_with_syntax_error(self):
        root = self.make_root()
        write(os.path.join(root, "scripts/strategies/broken.lua"),
              "local S = {}\nfunction S.get_parameters() return {} end\nfunction S.analyze(md)\n"
              "  return {x = }\nend\nreturn S\n")
        r = self.mts("backtest", "--strategy", "broken", "--asset", "bitcoin",
                     env={"MTS_ROOT": root}, expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("broken.lua:4", r.stderr)
        self.assertLessEqual(len(r.stderr.strip().splitlines()), 3, r.stderr)

    def test_strategy_that_raises_in_analyze_is_disabled_others_continue(self):
        root = self.make_root()
        write(os.path.join(root, "scripts/strategies/boom.lua"),
              "local S = {}\nfunction S.get_parameters() return {} end\n"
              "function S.analyze(md)\n  error('boom at bar ' .. md.i)\nend\n"
              "function S.generate_signals(a) return {} end\nreturn S\n")
        res, r = self.backtest_json("--strategy", "boom,sma_cross", "--asset", "bitcoin",
                                    env={"MTS_ROOT": root}, expect=3)
        self.assertIn("boom.lua:4", r.stderr)
        self.assertIn("analyze", r.stderr)
        self.assertEqual(len(res["disabled"]), 1)
        self.assertGreater(res["trade_count"], 0, "sma_cross kept trading")

    def test_config_value_of_wrong_type(self):
        root = self.make_root()
        p = os.path.join(root, "config/strategies/vix_correlation.json")
        with open(p) as f:
            cfg = json.load(f)
        cfg["lookback_days"] = "thirty"
        write(p, json.dumps(cfg))
        r = self.mts("backtest", "--strategy", "vix_correlation", "--asset", "bitcoin",
                     env={"MTS_ROOT": root}, expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("vix_correlation.json", r.stderr)
        self.assertIn("lookback_days", r.stderr)

    def test_config_invalid_json(self):
        root = self.make_root()
        write(os.path.join(root, "config/strategies/sma_cross.json"), '{"name": "x",\n "fast": }\n')
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin",
                     env={"MTS_ROOT": root}, expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("sma_cross.json", r.stderr)

    def test_unknown_asset(self):
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "dogecoin", expect=1)
        self.assertIn("unknown asset 'dogecoin'", r.stderr)
        self.assertIn("mts import csv", r.stderr)

    def test_unknown_strategy(self):
        r = self.mts("backtest", "--strategy", "nope", "--asset", "bitcoin", expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nope", r.stderr)
        self.assertIn("sma_cross", r.stderr, "lists the available strategies")

    def test_param_for_no_strategy_and_bad_type(self):
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin",
                     "--param", "nonsense=1", expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nonsense", r.stderr)
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin",
                     "--param", "fast=ten", expect=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("fast", r.stderr)

    def test_unknown_option_suggests(self):
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin", "--captial", "5",
                     expect=2)
        self.assertIn("--capital", r.stderr)
        r = self.mts("backtset", expect=2)
        self.assertIn("backtest", r.stderr)

    def test_bad_numbers_and_dates(self):
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin",
                     "--capital", "lots", expect=2)
        self.assertIn("--capital", r.stderr)
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin",
                     "--from", "2021-02-30", expect=2)
        self.assertIn("--from", r.stderr)
        r = self.mts("backtest", "--strategy", "sma_cross", "--asset", "bitcoin",
                     "--from", "2030-01-01", expect=1)
        self.assertIn("no 1d bars for bitcoin in the requested range", r.stderr)

    def test_help_everywhere(self):
        for cmd in ([], ["backtest"], ["import"], ["export"]):
            r = self.mts(*(cmd + ["--help"]))
            self.assertIn("usage", r.stdout.lower())


if __name__ == "__main__":
    import unittest
    unittest.main()
