"""End-to-end: `mts optimize --jobs N` (issue 13). The grid's runs on N
threads give the same output as one after another (JSON: ranks, params,
metrics; only the stored ids differ, they follow completion order), every
printed id is a stored row with the printed numbers, and an error in one
point names that point."""
import json
import sqlite3

from mtslib import MtsTestCase

GRID = ["--strategy", "sma_cross,mean_reversion", "--asset", "bitcoin",
        "--param", "sma_cross.fast=5:25:5", "--param", "sma_cross.slow=20,30,50",
        "--param", "mean_reversion.rsi_period=7,14,21", "--top", "0", "--json"]


def without_ids(doc):
    for r in doc["results"]:
        r.pop("id")
    return doc


class OptimizeJobs(MtsTestCase):
    def optimize(self, *args, expect=0):
        return self.mts("optimize", *args, "--db", self.db, expect=expect, timeout=300)

    def test_jobs_2_same_as_jobs_1(self):
        # exit 3: two runs had their strategy disabled (the same ones either way)
        one = json.loads(self.optimize(*GRID, "--jobs", "1", "--store", "none", expect=3).stdout)
        r2 = self.optimize(*GRID, "--jobs", "2", expect=3)
        two = json.loads(r2.stdout)
        ids = [r["id"] for r in two["results"]]
        self.assertEqual(one["combinations"], 5 * 3 + 3)
        self.assertEqual(len(one["results"]), 18)
        # fast=20/25 with slow=20: the strategy refuses (fast must be shorter): same in both
        self.assertTrue(any(r["disabled"] for r in one["results"]))
        self.assertEqual([r["rank"] for r in two["results"]], list(range(1, 19)))
        self.assertTrue(all(i is None for i in [r["id"] for r in one["results"]]))
        self.assertEqual(without_ids(two), without_ids(one))
        # every printed id is its own stored row, with the printed numbers
        self.assertEqual(len(set(ids)), 18)
        con = sqlite3.connect(self.db)
        try:
            for rid, r in zip(ids, two["results"]):
                name, params, tr, fv = con.execute(
                    "SELECT strategy_name, parameters, total_return, final_value FROM backtest_results "
                    "WHERE id = ?", (rid,)).fetchone()
                self.assertEqual(name, r["strategy"])
                self.assertEqual(tr, r["total_return"])
                self.assertEqual(fv, r["final_value"])
                for k, v in r["params"].items():
                    self.assertIn(str(v), params)
        finally:
            con.close()

    def test_table_same_for_any_jobs(self):
        args = ["--strategy", "sma_cross", "--asset", "bitcoin", "--param", "fast=3:15:3",
                "--param", "slow=30,60", "--store", "none"]
        outs = [self.optimize(*args, "--jobs", j).stdout for j in ("1", "2", "3")]
        self.assertEqual(outs[1], outs[0])
        self.assertEqual(outs[2], outs[0])
        self.assertIn("10 runs ranked by sharpe_ratio", outs[0])

    def test_error_in_one_point_names_it(self):
        for jobs in ("1", "2"):
            r = self.optimize("--strategy", "sma_cross", "--asset", "bitcoin", "--param", "fast=5,7,abc,9",
                              "--param", "slow=40", "--jobs", jobs, expect=1)
            self.assertIn("in the run sma_cross fast=abc slow=40;", r.stderr)
            self.assertIn("run mts optimize again", r.stderr)
            self.assertEqual(r.stdout, "")

    def test_jobs_option_checked(self):
        for bad in ("0", "-1", "two"):
            r = self.mts("optimize", "--strategy", "sma_cross", "--asset", "bitcoin", "--param", "fast=5",
                         "--jobs", bad, expect=2)
            self.assertIn("--jobs", r.stderr)
        r = self.mts("optimize", "--strategy", "sma_cross", "--asset", "bitcoin", "--param", "fast=5",
                     "--resume", expect=2)
        self.assertIn("--resume goes with --redis", r.stderr)
        h = self.mts("optimize", "--help")
        for opt in ("--jobs N", "--redis URL", "--resume"):
            self.assertIn(opt, h.stdout)


class ReplOptimize(MtsTestCase):
    def test_repl_optimize_matches_cli(self):
        """mts.optimize{...} in the REPL ranks as `mts optimize` does (same
        library), with jobs = 2, and stores nothing by default."""
        cli = json.loads(self.mts("optimize", "--strategy", "sma_cross", "--asset", "bitcoin",
                                  "--param", "fast=5:20:5", "--param", "slow=30,50,100", "--top", "0",
                                  "--json", "--store", "none", "--jobs", "1", "--db", self.db).stdout)
        code = ('local t = mts.optimize{strategy="sma_cross", asset="bitcoin", '
                'params={fast="5:20:5", slow={30, 50, 100}}, jobs=2} '
                'for i = 1, #t do local r = t[i] '
                'print(string.format("%d %s %s %.17g %.17g %d %s", r.rank, r.params.fast, r.params.slow, '
                'r.sharpe_ratio, r.final_value, r.trade_count, tostring(r.id))) end')
        r = self.mts("repl", "--db", self.db, "-e", code)
        lines = r.stdout.split("\n")[:-1]
        self.assertEqual(len(lines), 12)
        for line, c in zip(lines, cli["results"]):
            rank, fast, slow, sharpe, fv, trades, rid = line.split()
            self.assertEqual(int(rank), c["rank"])
            self.assertEqual((int(fast), int(slow)), (c["params"]["fast"], c["params"]["slow"]))
            self.assertEqual(float(sharpe), c["sharpe_ratio"])
            self.assertEqual(float(fv), c["final_value"])
            self.assertEqual(int(trades), c["trade_count"])
            self.assertEqual(rid, "nil")
        bad = self.mts("repl", "--db", self.db, "-e", 'mts.optimize{strategy="sma_cross", asset="bitcoin", '
                       'params={fast="5:1:1"}}', expect=1)
        self.assertIn("mts.optimize: a range needs step > 0 and start <= stop", bad.stdout + bad.stderr)
