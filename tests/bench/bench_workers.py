#!/usr/bin/env python3
"""bench_workers.py — `make bench`: `mts optimize --redis` on one and on two
`mts worker` processes through a real redis-server (tests/redis_env.sh gives
MTS_TEST_REDIS_URL; run.sh starts one), docs/research.md "Workers".

The grid: 16 points (fast 5,10,15,20 x slow 30,40,50,60) of slow_bar (sma_cross
spending a fixed loop in every on_bar, as tests/e2e/mtslib.py's; ~0.2 s a point
on the 2920 bundled daily bitcoin bars) from a private root, --store none.
The workers are started once per block and have the dataset after their first
grid; each timed run is the whole coordinator process (publishing, enqueueing,
waiting, gathering), wall seconds with time.perf_counter, median of 3:

  workers_grid_1w_s        one worker
  workers_grid_2w_s        two workers
  workers_grid_speedup     1w / 2w (2 on an idle 2-core machine at best)

Environment: MTS_BIN (default bin/mts), MTS_BENCH_WORKERS_SPIN (40000).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from mtslib import ROOT, Resp, add_slow_bar_strategy, make_root  # noqa: E402

MTS = os.path.abspath(os.environ.get("MTS_BIN", os.path.join(ROOT, "bin/mts")))
GRID = ["--strategy", "slow_bar", "--asset", "bitcoin", "--param", "fast=5,10,15,20",
        "--param", "slow=30,40,50,60", "--store", "none", "--json"]
DBNUM = 13


def main():
    url0 = os.environ.get("MTS_TEST_REDIS_URL")
    if not url0:
        print("bench_workers: no MTS_TEST_REDIS_URL (tests/redis_env.sh): skipped", file=sys.stderr)
        return 0
    url = "%s/%d" % (url0, DBNUM)
    tmp = tempfile.mkdtemp(prefix="mts-bench-workers-")
    procs = []
    try:
        root = make_root(tmp)
        add_slow_bar_strategy(root, spin=int(os.environ.get("MTS_BENCH_WORKERS_SPIN", "40000")))
        env = dict(os.environ, MTS_ROOT=root)
        env.pop("DATABASE_PATH", None)
        r = Resp(url0, DBNUM)
        r.cmd("FLUSHDB")
        cdb = os.path.join(tmp, "coord.db")

        def worker(name):
            p = subprocess.Popen([MTS, "worker", "--redis", url, "--db", os.path.join(tmp, name + ".db"),
                                  "--name", name, "--quiet", "--work-dir", os.path.join(tmp, "wd")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
            procs.append(p)
            return p

        def coordinate():
            t0 = time.perf_counter()
            p = subprocess.run([MTS, "optimize", *GRID, "--redis", url, "--db", cdb], capture_output=True,
                               text=True, env=env, cwd=ROOT, timeout=600)
            t = time.perf_counter() - t0
            if p.returncode != 0:
                raise SystemExit("bench_workers: optimize --redis failed: " + p.stderr[-2000:])
            return t, p.stdout

        def stop(p):
            p.terminate()
            p.wait(timeout=60)

        a = worker("a")
        _, first = coordinate()                     # warm-up: a imports the dataset
        one = [coordinate()[0] for _ in range(3)]
        b = worker("b")
        _, again = coordinate()                     # warm-up: b imports the dataset
        two = [coordinate()[0] for _ in range(3)]
        if first != again:
            raise SystemExit("bench_workers: results differ between one and two workers")
        stop(a)
        stop(b)
        m1, m2 = statistics.median(one), statistics.median(two)
        print("bench workers_grid_1w_s %.3f s" % m1)
        print("bench workers_grid_2w_s %.3f s" % m2)
        print("bench workers_grid_speedup %.2f x" % (m1 / m2))
        r.cmd("FLUSHDB")
        r.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
