#!/usr/bin/env python3
"""bench_research.py — `make bench`: `mts optimize --jobs N` (issue 13).

A 200-run grid (sma_cross fast 2..21 x slow 30..120 step 10) over N one-minute
bars (default 100 000; the same deterministic random walk as bench_e2e.py,
imported with `mts import csv`), --store none, timed as whole processes:

  optimize_grid200_1m_jobs1_s   wall seconds with --jobs 1 (one run after
                                another: the baseline), median of 3
  optimize_grid200_1m_jobs2_s   wall seconds with --jobs 2, median of 3
  optimize_grid200_1m_jobs2_speedup   jobs1 / jobs2 (target >= 1.8 on 2 cores)
  optimize_grid200_1m_jobs1_cpu_s / _jobs2_cpu_s   CPU seconds (user + sys), median

The runs alternate (1, 2, 1, 2, ...) so that noise from other processes hits
both alike; a warm-up run first (the first run imports the bundled VIX).
The outputs of --jobs 1 and --jobs 2 are compared (must be identical).
Environment: MTS_BIN (default bin/mts), MTS_BENCH_RESEARCH_BARS, CC, TMPDIR.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_e2e import GEN_C, bench, generate, run  # noqa: E402


def main():
    mts = os.path.abspath(os.environ.get("MTS_BIN", "bin/mts"))
    n = int(os.environ.get("MTS_BENCH_RESEARCH_BARS", "100000"))
    tmp = tempfile.mkdtemp(prefix="mts-bench-research-")
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tmp
    cache = tempfile.mkdtemp(prefix="mts-bench-cache-", dir=shm)
    os.chmod(cache, 0o700)
    os.environ["MTS_CACHE_DIR"] = cache
    os.environ["MTS_NO_PROGRESS"] = "1"
    try:
        gen = os.path.join(tmp, "gen")
        with open(gen + ".c", "w") as f:
            f.write(GEN_C)
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-o", gen, gen + ".c", "-lm"], check=True)
        csv = os.path.join(tmp, "bars.csv")
        generate(gen, n, csv)
        db = os.path.join(tmp, "bench.db")
        run([mts, "import", "csv", csv, "--asset", "benchcoin", "--interval", "1m", "--db", db])
        argv = [mts, "optimize", "--strategy", "sma_cross", "--asset", "benchcoin", "--interval", "1m",
                "--param", "fast=2:21:1", "--param", "slow=30:120:10", "--store", "none", "--top", "0",
                "--json", "--db", db]
        run(argv + ["--jobs", "1"])   # warm-up
        wall = {1: [], 2: []}
        cpu = {1: [], 2: []}
        outs = {}
        for _ in range(3):
            for j in (1, 2):
                out = os.path.join(tmp, "out%d.json" % j)
                with open(out, "w") as f:
                    w, c, _ = run(argv + ["--jobs", str(j)], stdout=f)
                wall[j].append(w)
                cpu[j].append(c)
                with open(out) as f:
                    outs[j] = f.read()
        if outs[1] != outs[2]:
            print("bench_research: --jobs 2 output differs from --jobs 1", file=sys.stderr)
            return 1
        w1, w2 = statistics.median(wall[1]), statistics.median(wall[2])
        bench("optimize_grid200_1m_jobs1_s", w1, "s")
        bench("optimize_grid200_1m_jobs2_s", w2, "s")
        bench("optimize_grid200_1m_jobs2_speedup", w1 / w2, "x")
        bench("optimize_grid200_1m_jobs1_cpu_s", statistics.median(cpu[1]), "s")
        bench("optimize_grid200_1m_jobs2_cpu_s", statistics.median(cpu[2]), "s")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
