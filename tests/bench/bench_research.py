#!/usr/bin/env python3
"""bench_research.py — `make bench`: `mts optimize --jobs N` (issue 13).

A 200-run grid (sma_cross fast 2..21 x slow 30..120 step 10) over N one-minute
bars (default 100 000; the same deterministic random walk as bench_e2e.py,
imported with `mts import csv`), --store none, timed as whole processes:

  optimize_grid200_1m_jobs1_s   wall seconds with --jobs 1 (one run after
                                another: the baseline), median of 3
  optimize_grid200_1m_jobs2_s   wall seconds with --jobs 2 (the default
                                executor: worker processes), median of 3
  optimize_grid200_1m_jobs2_speedup   jobs1 / jobs2 (target >= 1.8 on 2 cores)
  optimize_grid200_1m_jobs2_threads_s / _threads_speedup   the same with
                                MTS_OPT_EXECUTOR=threads (the executor of the
                                API server), for comparison
  optimize_grid200_1m_jobs1_cpu_s / _jobs2_cpu_s / _jobs2_threads_cpu_s
                                CPU seconds (user + sys of the process and its
                                reaped children), median

The runs alternate (1, 2, 2 threads, 1, ...) so that noise from other
processes hits all alike; a warm-up run first (the first run imports the
bundled VIX). The outputs of every mode are compared (must be identical).
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
        env_threads = dict(os.environ, MTS_OPT_EXECUTOR="threads")
        modes = (("jobs1", "1", None), ("jobs2", "2", None), ("jobs2_threads", "2", env_threads))
        wall = {m: [] for m, _, _ in modes}
        cpu = {m: [] for m, _, _ in modes}
        outs = {}
        for _ in range(int(os.environ.get("MTS_BENCH_RESEARCH_ROUNDS", "3"))):
            for m, j, env in modes:
                out = os.path.join(tmp, "out_%s.json" % m)
                with open(out, "w") as f:
                    w, c, _ = run(argv + ["--jobs", j], stdout=f, env=env)
                wall[m].append(w)
                cpu[m].append(c)
                with open(out) as f:
                    outs[m] = f.read()
        for m in ("jobs2", "jobs2_threads"):
            if outs[m] != outs["jobs1"]:
                print("bench_research: %s output differs from --jobs 1" % m, file=sys.stderr)
                return 1
        w = {m: statistics.median(wall[m]) for m in wall}
        bench("optimize_grid200_1m_jobs1_s", w["jobs1"], "s")
        bench("optimize_grid200_1m_jobs2_s", w["jobs2"], "s")
        bench("optimize_grid200_1m_jobs2_speedup", w["jobs1"] / w["jobs2"], "x")
        bench("optimize_grid200_1m_jobs2_threads_s", w["jobs2_threads"], "s")
        bench("optimize_grid200_1m_jobs2_threads_speedup", w["jobs1"] / w["jobs2_threads"], "x")
        bench("optimize_grid200_1m_jobs1_cpu_s", statistics.median(cpu["jobs1"]), "s")
        bench("optimize_grid200_1m_jobs2_cpu_s", statistics.median(cpu["jobs2"]), "s")
        bench("optimize_grid200_1m_jobs2_threads_cpu_s", statistics.median(cpu["jobs2_threads"]), "s")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
