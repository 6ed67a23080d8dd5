"""End-to-end: POST /optimize in `mts serve` (issue 13) — a background grid
search answered 202 with an id, its progress pushed on /ws (topic
"optimize"), its state and ranked results at GET /optimize/{id}, equal to
`mts optimize --json` (same library); write scope; errors."""
import json
import time

from mtslib import MtsTestCase, run
from test_serve import Server, WebSocket, make_token

BODY = {"strategy_name": ["sma_cross", "mean_reversion"], "assets": ["bitcoin"],
        "params": {"sma_cross.fast": "5:20:5", "sma_cross.slow": [30, 50], "mean_reversion.rsi_period": "7,14"},
        "jobs": 2, "store": "none"}


class OptimizeApi(MtsTestCase):
    def setUp(self):
        super().setUp()
        self.srv = Server(self.db, tmp=self.tmp)

    def tearDown(self):
        rc = self.srv.stop()
        log = self.srv.log_text()[-3000:]
        super().tearDown()
        self.assertEqual(rc, 0, log)

    def wait_ws_clients(self, n):
        deadline = time.time() + 10
        while self.srv.metrics().get("mts_ws_clients") != n:
            if time.time() > deadline:
                self.fail("mts_ws_clients never reached %d" % n)
            time.sleep(0.02)

    def wait_done(self, oid, token):
        deadline = time.time() + 120
        while True:
            st, _ = self.srv.json("GET", "/optimize/%d" % oid, token=token)
            if st["state"] != "running":
                return st
            if time.time() > deadline:
                self.fail("optimization %d still running: %s" % (oid, st))
            time.sleep(0.1)

    def test_optimize_job_progress_and_results(self):
        read, write = make_token(scope="read"), make_token(scope="write")
        ws = WebSocket(self.srv.port, token=read)
        self.assertEqual(ws.status, 101)
        self.wait_ws_clients(1)
        ws.send('{"op":"subscribe","topics":["optimize"]}')
        self.assertEqual(ws.recv(), {"op": "subscribed", "topics": ["optimize"]})
        time.sleep(0.2)
        err, _ = self.srv.json("POST", "/optimize", body=BODY, token=read, expect=403)
        self.assertEqual(err["error"], "forbidden")
        acc, _ = self.srv.json("POST", "/optimize", body=BODY, token=write, expect=202)
        self.assertEqual(acc["state"], "running")
        self.assertEqual(acc["total"], 4 * 2 + 2)
        self.assertEqual(acc["status_url"], "/optimize/%d" % acc["id"])
        st = self.wait_done(acc["id"], read)
        self.assertEqual(st["state"], "done", st)
        self.assertEqual((st["done"], st["total"]), (10, 10))
        # progress on /ws: this job's id, done never going back, the last one "done"
        seen = []
        while not seen or seen[-1]["state"] == "running":
            m = ws.recv(timeout=20)
            self.assertEqual(m["topic"], "optimize")
            self.assertEqual(m["data"]["id"], acc["id"])
            seen.append(m["data"])
        self.assertEqual([d["done"] for d in seen], sorted(d["done"] for d in seen))
        self.assertEqual(seen[-1]["done"], 10)
        self.assertEqual(seen[-1]["best"]["strategy"], st["result"]["results"][0]["strategy"])
        ws.close()
        # the same ranking and numbers as the command line
        cli = run(["optimize", "--strategy", "sma_cross,mean_reversion", "--asset", "bitcoin",
                   "--param", "sma_cross.fast=5:20:5", "--param", "sma_cross.slow=30,50",
                   "--param", "mean_reversion.rsi_period=7,14", "--top", "0", "--json", "--store", "none",
                   "--jobs", "1", "--db", self.db])
        self.assertEqual(cli.returncode, 0, cli.stderr)
        want = json.loads(cli.stdout)
        got = st["result"]
        self.assertEqual(got["combinations"], want["combinations"])
        self.assertEqual(got["results"], want["results"])

    def test_stored_runs_and_errors(self):
        write = make_token(scope="write")
        body = dict(BODY, store="all", strategy_name="sma_cross",
                    params={"fast": [5, 10], "slow": 40})
        acc, _ = self.srv.json("POST", "/optimize", body=body, token=write, expect=202)
        st = self.wait_done(acc["id"], write)
        self.assertEqual(st["state"], "done", st)
        for r in st["result"]["results"]:   # every run stored: GET /backtests/{id} has its numbers
            b, _ = self.srv.json("GET", "/backtests/%d" % r["id"], token=write)
            self.assertEqual(b["sharpe_ratio"], r["sharpe_ratio"])
        # a failing point: the job fails and says which
        bad = dict(body, params={"fast": "5,abc", "slow": 40})
        acc, _ = self.srv.json("POST", "/optimize", body=bad, token=write, expect=202)
        st = self.wait_done(acc["id"], write)
        self.assertEqual(st["state"], "failed")
        self.assertIn("in the run sma_cross fast=abc slow=40", st["error"])
        # request errors
        for b, words in ((dict(BODY, params={"fast": "5:1:1"}), "start <= stop"),
                         (dict(BODY, params={}), "'params' is required"),
                         (dict(BODY, metric="sharpe"), "'metric'"),
                         (dict(BODY, jobs=0), "'jobs'"),
                         (dict(BODY, store="some"), "'store'"),
                         (dict(BODY, bogus=1), "unknown field 'bogus'")):
            e, _ = self.srv.json("POST", "/optimize", body=b, token=write, expect=400)
            self.assertIn(words, e["detail"])
        e, _ = self.srv.json("GET", "/optimize/999", token=write, expect=404)
        self.assertEqual(e["error"], "not_found")
        e, h = self.srv.json("GET", "/optimize", token=write, expect=405)
        self.assertEqual(h["allow"], "POST")

    def test_run_options_and_new_metric_equal_cli(self):
        """The issue-12 run options in the body (mode, market, leverage, limits,
        fees) reach every point: the ranking by an issue-12 metric (sortino_ratio)
        equals `mts optimize --json` with the same flags, and differs from a run
        without them (the options did something)."""
        write = make_token(scope="write")
        opts = {"mode": "vote", "market": "perp", "leverage": 2, "max_position": 0.5, "max_portfolio_risk": 1,
                "maker_bps": 2, "taker_bps": 5}
        body = dict({"strategy_name": "sma_cross", "assets": ["bitcoin"], "start": "2021-01-01", "end": "2022-12-31",
                     "params": {"fast": [5, 10], "slow": [30, 50]}, "metric": "sortino_ratio", "jobs": 1,
                     "store": "none"}, **opts)
        acc, _ = self.srv.json("POST", "/optimize", body=body, token=write, expect=202)
        st = self.wait_done(acc["id"], write)
        self.assertEqual(st["state"], "done", st)
        cli = run(["optimize", "--strategy", "sma_cross", "--asset", "bitcoin", "--from", "2021-01-01", "--to",
                   "2022-12-31", "--param", "fast=5,10", "--param", "slow=30,50", "--metric", "sortino_ratio",
                   "--mode", "vote", "--market", "perp", "--leverage", "2", "--max-position", "0.5",
                   "--max-portfolio-risk", "1", "--maker-bps", "2", "--taker-bps", "5", "--top", "0", "--json",
                   "--store", "none", "--jobs", "1", "--db", self.db])
        self.assertEqual(cli.returncode, 0, cli.stderr)
        want = json.loads(cli.stdout)
        got = st["result"]
        self.assertEqual(got["metric"], "sortino_ratio")
        self.assertEqual(got["results"], want["results"])
        plain = dict(body)
        for k in opts:
            del plain[k]
        acc, _ = self.srv.json("POST", "/optimize", body=plain, token=write, expect=202)
        st = self.wait_done(acc["id"], write)
        self.assertEqual(st["state"], "done", st)
        self.assertNotEqual([r["final_value"] for r in st["result"]["results"]],
                            [r["final_value"] for r in got["results"]])
