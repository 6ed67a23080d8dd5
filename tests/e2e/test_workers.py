"""mts worker + mts optimize --redis (docs/research.md "Workers"), through a
real redis-server (tests/redis_env.sh): the same results as --jobs 1, a
worker killed with SIGKILL mid-job, a worker with an empty database, a worker
whose database has other bars, and the coordinator's --resume."""
import json
import os
import signal
import subprocess
import time
import unittest

from mtslib import MTS, ROOT, BUNDLED, MtsTestCase, Resp, redis_url, add_slow_bar_strategy, make_root

GRID = ["--strategy", "sma_cross", "--asset", "bitcoin", "--param", "fast=5,10,20", "--param", "slow=30,50"]
N_GRID = 6
WAIT = 240          # seconds: a bound on waiting, never an assertion on speed


def base_url():
    return redis_url().rstrip("/").rsplit("/", 1)[0] if redis_url().count("/") > 2 else redis_url()


def strip_ids(out):
    doc = json.loads(out)
    for r in doc["results"]:
        r.pop("id", None)
    return doc


class WorkersTest(MtsTestCase):
    DBNUM = 11

    def setUp(self):
        super().setUp()
        self.url = "%s/%d" % (base_url(), self.DBNUM)
        self.r = Resp(base_url(), self.DBNUM)
        self.r.cmd("FLUSHDB")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        self.r.cmd("FLUSHDB")
        self.r.close()
        super().tearDown()

    def env(self, root=None):
        e = dict(os.environ)
        e.pop("DATABASE_PATH", None)
        if root:
            e["MTS_ROOT"] = root
        return e

    def start_worker(self, name, db=None, claim_after="30s", root=None, work_dir=None):
        db = db or os.path.join(self.tmp, "worker-%s.db" % name)
        work_dir = work_dir or os.path.join(self.tmp, "wd-" + name)
        log = open(os.path.join(self.tmp, "worker-%s.log" % name), "w")
        p = subprocess.Popen([MTS, "worker", "--redis", self.url, "--db", db, "--name", name,
                              "--claim-after", claim_after, "--work-dir", work_dir],
                             stdout=subprocess.DEVNULL, stderr=log, env=self.env(root), cwd=ROOT)
        log.close()
        self.procs.append(p)
        return p

    def worker_log(self, name):
        with open(os.path.join(self.tmp, "worker-%s.log" % name)) as f:
            return f.read()

    def start_coordinator(self, args, db, root=None, resume=False):
        p = subprocess.Popen([MTS, "optimize", *args, "--redis", self.url, "--db", db, "--store", "none", "--json"]
                             + (["--resume"] if resume else []),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env(root), cwd=ROOT)
        self.procs.append(p)
        return p

    def finish(self, p):
        out, err = p.communicate(timeout=WAIT)
        self.assertEqual(p.returncode, 0, "optimize --redis: exit %d\n%s" % (p.returncode, err[-3000:]))
        return out

    def local(self, args, root=None):
        r = subprocess.run([MTS, "optimize", *args, "--db", os.path.join(self.tmp, "local.db"), "--store", "none",
                            "--json", "--jobs", "1"], capture_output=True, text=True, env=self.env(root), cwd=ROOT,
                           timeout=WAIT)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def grid_key(self, suffix):
        keys = self.r.cmd("KEYS", "mts:research:*:" + suffix)
        self.assertEqual(len(keys), 1, keys)
        return keys[0]

    def wait_for(self, what, cond, timeout=WAIT):
        t0 = time.monotonic()
        while not cond():
            if time.monotonic() - t0 > timeout:
                self.fail("timed out waiting for " + what)
            time.sleep(0.05)

    def check_results_once(self, n):
        """HLEN == n, each field an index 0..n-1 whose JSON names that index;
        every job acknowledged and deleted from the stream."""
        res = self.grid_key("results")
        self.assertEqual(self.r.cmd("HLEN", res), n)
        flat = self.r.cmd("HGETALL", res)
        fields = {flat[i]: json.loads(flat[i + 1]) for i in range(0, len(flat), 2)}
        self.assertEqual(sorted(int(k) for k in fields), list(range(n)))
        for k, v in fields.items():
            self.assertEqual(v["index"], int(k))
            self.assertNotIn("error", v)
        self.assertEqual(self.r.cmd("XPENDING", "mts:research:jobs", "mts:workers")[0], 0)
        self.assertEqual(self.r.cmd("XLEN", "mts:research:jobs"), 0)

    def entries_added(self):
        info = self.r.cmd("XINFO", "STREAM", "mts:research:jobs")
        return info[info.index("entries-added") + 1]

    # (a) two workers give exactly the results of --jobs 1, in the same ranks
    def test_two_workers_same_as_local(self):
        wd = os.path.join(self.tmp, "wd-shared")     # as two workers on one machine by default
        self.start_worker("a", work_dir=wd)
        self.start_worker("b", work_dir=wd)
        out = self.finish(self.start_coordinator(GRID, os.path.join(self.tmp, "coord.db")))
        # one private root, whole (built aside and renamed into place), none half-built
        roots = os.listdir(wd)
        self.assertEqual(len(roots), 1, roots)
        self.assertTrue(roots[0].startswith("src-"), roots)
        self.assertTrue(os.path.isfile(os.path.join(wd, roots[0], "scripts/strategies/sma_cross.lua")))
        self.assertTrue(os.path.isfile(os.path.join(wd, roots[0], "scripts/lib/mts_ffi.h")))
        self.assertEqual(strip_ids(out), strip_ids(self.local(GRID)))
        self.check_results_once(N_GRID)
        self.assertEqual(self.entries_added(), N_GRID)
        # both workers took jobs from the one group
        ran = [self.worker_log(n).count(" done in ") for n in ("a", "b")]
        self.assertEqual(sum(ran), N_GRID, ran)

    # (b) a worker killed mid-job: the other claims its job; every result once
    def test_killed_worker_job_is_claimed(self):
        root = make_root(self.tmp)
        add_slow_bar_strategy(root, spin=100000)
        grid = ["--strategy", "slow_bar", "--asset", "bitcoin", "--param", "fast=5,10", "--param", "slow=30,50"]
        a = self.start_worker("a", claim_after="1s")
        coord = self.start_coordinator(grid, os.path.join(self.tmp, "coord.db"), root=root)
        pend = []

        def a_has_job():
            nonlocal pend
            try:
                pend = self.r.cmd("XPENDING", "mts:research:jobs", "mts:workers", "-", "+", "10", "a")
            except RuntimeError as e:      # no group yet: nothing enqueued yet
                self.assertIn("NOGROUP", str(e))
                return False
            return len(pend) == 1
        self.wait_for("worker a to take a job", a_has_job)
        job_id = pend[0][0]
        index = int(dict(zip(*[iter(self.r.cmd("XRANGE", "mts:research:jobs", job_id, job_id)[0][1])] * 2))["index"])
        # a holds it while it runs (its heartbeat keeps it from being claimed)
        a.send_signal(signal.SIGKILL)
        a.wait()
        b = self.start_worker("b", claim_after="1s")
        out = self.finish(coord)
        self.check_results_once(4)
        self.assertEqual(self.entries_added(), 4)
        self.assertIn("point %d done" % index, self.worker_log("b"))
        self.assertEqual(strip_ids(out), strip_ids(self.local(grid, root=root)))
        b.send_signal(signal.SIGTERM)
        self.assertEqual(b.wait(timeout=WAIT), 0)

    # (c) a worker whose database is empty fetches the bars and VIX
    def test_worker_with_empty_database(self):
        wdb = os.path.join(self.tmp, "empty.db")
        self.assertFalse(os.path.exists(wdb))
        self.start_worker("e", db=wdb)
        grid = ["--strategy", "vix_correlation,sma_cross", "--asset", "ethereum,bitcoin", "--param",
                "sma_cross.fast=5,10", "--param", "sma_cross.slow=40"]
        out = self.finish(self.start_coordinator(grid, os.path.join(self.tmp, "coord.db")))
        self.assertEqual(strip_ids(out), strip_ids(self.local(grid)))
        # the worker's database now holds exactly the coordinator's bars and VIX
        for what in (["ohlcv", "--asset", "bitcoin"], ["ohlcv", "--asset", "ethereum"],
                     ["macro", "--indicator", "VIX"]):
            exp = [subprocess.run([MTS, "export", *what, "--db", d], capture_output=True,
                                  text=True, env=self.env(), cwd=ROOT).stdout
                   for d in (wdb, os.path.join(self.tmp, "coord.db"))]
            self.assertGreater(len(exp[0].splitlines()), 1000, what)
            self.assertEqual(exp[0], exp[1], what)

    # a worker whose database has other bars of the series refuses them
    def test_worker_with_other_bars_refuses(self):
        wdb = os.path.join(self.tmp, "other.db")
        with open(BUNDLED["bitcoin"]) as f:
            lines = f.read().splitlines()
        head = lines[0].split(",")
        ci = [c.lower() for c in head].index("close")
        row = lines[100].split(",")
        row[ci] = repr(float(row[ci]) * 1.01)
        lines[100] = ",".join(row)
        csv = os.path.join(self.tmp, "btc_other.csv")
        with open(csv, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([MTS, "import", "csv", csv, "--asset", "bitcoin", "--db", wdb], capture_output=True,
                           text=True, env=self.env(), cwd=ROOT)
        self.assertEqual(r.returncode, 0, r.stderr)
        before = subprocess.run([MTS, "export", "ohlcv", "--asset", "bitcoin", "--db", wdb], capture_output=True,
                                text=True, env=self.env(), cwd=ROOT).stdout
        coord = self.start_coordinator(GRID, os.path.join(self.tmp, "coord.db"))
        w = self.start_worker("x", db=wdb)
        self.assertEqual(w.wait(timeout=WAIT), 1)
        self.assertIn("differ from the coordinator's", self.worker_log("x"))
        after = subprocess.run([MTS, "export", "ohlcv", "--asset", "bitcoin", "--db", wdb], capture_output=True,
                               text=True, env=self.env(), cwd=ROOT).stdout
        self.assertEqual(before, after)
        # its job was not acknowledged: a good worker finishes the grid
        self.start_worker("y", claim_after="1s")
        out = self.finish(coord)
        self.assertEqual(strip_ids(out), strip_ids(self.local(GRID)))
        self.check_results_once(N_GRID)

    # (d) the coordinator killed and restarted with --resume: nothing enqueued twice
    def test_resume_after_coordinator_killed(self):
        root = make_root(self.tmp)
        add_slow_bar_strategy(root, spin=100000)
        grid = ["--strategy", "slow_bar", "--asset", "bitcoin", "--param", "fast=5,10,20", "--param", "slow=30,50"]
        cdb = os.path.join(self.tmp, "coord.db")
        self.start_worker("a")
        c1 = self.start_coordinator(grid, cdb, root=root)
        self.wait_for("a first result", lambda: len(self.r.cmd("KEYS", "mts:research:*:results")) == 1 and
                      self.r.cmd("HLEN", self.grid_key("results")) >= 1)
        c1.send_signal(signal.SIGKILL)
        c1.wait()
        done_before = self.r.cmd("HLEN", self.grid_key("results"))
        self.assertLess(done_before, N_GRID, "the grid finished before the coordinator was killed: make it slower")
        self.assertEqual(self.entries_added(), N_GRID)
        out = self.finish(self.start_coordinator(grid, cdb, root=root, resume=True))
        self.check_results_once(N_GRID)
        self.assertEqual(self.entries_added(), N_GRID)     # not one job enqueued again
        self.assertEqual(self.r.cmd("GET", self.grid_key("enqueued")), str(N_GRID))
        self.assertEqual(strip_ids(out), strip_ids(self.local(grid, root=root)))

    # what the coordinator published gone: the points fail with that, no hang
    def test_dataset_gone_is_an_error_not_a_hang(self):
        coord = self.start_coordinator(GRID, os.path.join(self.tmp, "coord.db"))
        self.wait_for("the jobs", lambda: len(self.r.cmd("KEYS", "mts:research:*:enqueued")) == 1 and
                      self.r.cmd("GET", self.grid_key("enqueued")) == str(N_GRID))
        for k in self.r.cmd("KEYS", "mts:dataset:*"):
            self.r.cmd("DEL", k)
        self.start_worker("a")
        out, err = coord.communicate(timeout=WAIT)
        self.assertEqual(coord.returncode, 1, err)
        self.assertIn("sma_cross fast=5 slow=30: dataset", err)
        self.assertIn("is not in Redis", err)

    def test_resume_of_unknown_grid(self):
        p = self.start_coordinator(GRID, os.path.join(self.tmp, "coord.db"), resume=True)
        out, err = p.communicate(timeout=WAIT)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("run without --resume", err)

    def test_worker_usage(self):
        r = subprocess.run([MTS, "worker"], capture_output=True, text=True, cwd=ROOT)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--redis URL is required", r.stderr)
        r = subprocess.run([MTS, "worker", "--redis", "http://x", "--work-dir", os.path.join(self.tmp, "wd")],
                           capture_output=True, text=True, cwd=ROOT, env=self.env())
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("bad Redis URL", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "wd")))   # nothing made before the URL is read


if __name__ == "__main__":
    unittest.main()
