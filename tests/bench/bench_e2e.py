#!/usr/bin/env python3
"""bench_e2e.py — `make bench`: the whole `mts` command as the user runs it.

Generates N one-minute bars (a deterministic geometric random walk from a fixed
seed, written as CSV into a temp directory by a small C generator compiled here:
Python would take longer to write them than mts takes to read them), imports
them with `bin/mts import csv` into a fresh database, then times the processes:

  import_csv_1m_rows_s         rows/s of the whole `mts import csv` of 1 M rows
  backtest_e2e_1m_bars_s       `mts backtest --strategy sma_cross --interval 1m
                               --json` on the 1 M stored bars, wall seconds,
                               median of 5 (after one warm-up run: the first run
                               of a fresh database imports the bundled VIX)
  backtest_e2e_1m_bars_cpu_s   the same runs' CPU seconds (user + sys), median
  backtest_e2e_1m_bars_per_s   1 M / the wall median
  backtest_e2e_db_growth_mb    database growth per stored run (mean of the 5)
  backtest_e2e_1m_peak_rss_mb  peak RSS of those runs (max)
  backtest_e2e_1m_bars_s_nocache_baseline  the same 5 runs with the bar cache
                               off (MTS_CACHE_DIR=off: every process decodes the
                               bars into fresh memory), median
  optimize_grid20_1m_s         `mts optimize` of a 20-run grid (fast 5..9 x
                               slow 30,40,50,60) over the 1 M bars, --store none
  backtest_10m_peak_rss_mb     peak RSS of `mts backtest` over 10 M stored bars
                               (MB = 2^20 bytes, as bench_backtest), beside
  backtest_10m_bars_only_mb    what those bars take themselves (10 M x 6 x 8 bytes)
                               (skipped with MTS_BENCH_BIG=0: generating and
                               importing 10 M bars takes ~30 s and ~2 GB of disk)

Each figure is one line "bench NAME VALUE UNIT". Peak RSS is the child's
ru_maxrss (os.wait4), wall time time.perf_counter around the process.
Environment: MTS_BIN (default bin/mts), MTS_BENCH_BIG (default 1),
MTS_BENCH_E2E_BARS (default 1000000), CC (default cc), TMPDIR.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

GEN_C = r"""
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(void) {      /* xorshift64*, as tests/bench/bench_backtest.c */
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
int main(int argc, char **argv) {
    long long n = argc > 1 ? atoll(argv[1]) : 1000000;
    static char buf[1 << 20];
    setvbuf(stdout, buf, _IOFBF, sizeof buf);
    double px = 30000.0;
    long long t0 = 1577836800;  /* 2020-01-01 */
    printf("timestamp,open,high,low,close,volume\n");
    for (long long i = 0; i < n; i++) {
        double o = px, r = (uniform() - 0.5) * 0.002;
        double c = o * (1.0 + r);
        double hi = fmax(o, c) * (1.0 + uniform() * 0.0005);
        double lo = fmin(o, c) * (1.0 - uniform() * 0.0005);
        double v = 1.0 + uniform();
        /* 2 decimals as an exchange prints them; keep low <= o,c <= high after rounding */
        double ro = round(o * 100) / 100, rc = round(c * 100) / 100;
        double rh = fmax(ceil(hi * 100) / 100, fmax(ro, rc)), rl = fmin(floor(lo * 100) / 100, fmin(ro, rc));
        printf("%lld,%.2f,%.2f,%.2f,%.2f,%.4f\n", t0 + 60 * i, ro, rh, rl, rc, v);
        px = c;
    }
    return 0;
}
"""


def bench(name, value, unit):
    text = ("%.0f" if abs(value) >= 1000 else "%.4g") % value
    print("bench %s %s %s" % (name, text, unit), flush=True)


def run(argv, stdout=subprocess.DEVNULL, env=None):
    """(wall s, cpu s, maxrss MB) of one process; raises on a non-zero exit."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(argv), p.returncode, err.strip()[-400:]))
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def db_size(path):
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def generate(gen, n, path):
    with open(path, "w") as f:
        subprocess.run([gen, str(n)], stdout=f, check=True)


def backtest_argv(mts, db):
    return [mts, "backtest", "--strategy", "sma_cross", "--asset", "benchcoin", "--interval", "1m",
            "--db", db, "--json"]


def main():
    mts = os.path.abspath(os.environ.get("MTS_BIN", "bin/mts"))
    n = int(os.environ.get("MTS_BENCH_E2E_BARS", "1000000"))
    big = os.environ.get("MTS_BENCH_BIG", "1") != "0"
    tmp = tempfile.mkdtemp(prefix="mts-bench-e2e-")
    # the bar cache (docs/store.md) where it would be, on tmpfs, but the bench's own
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tmp
    cache = tempfile.mkdtemp(prefix="mts-bench-cache-", dir=shm)
    os.chmod(cache, 0o700)
    os.environ["MTS_CACHE_DIR"] = cache
    try:
        gen = os.path.join(tmp, "gen")
        with open(gen + ".c", "w") as f:
            f.write(GEN_C)
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-o", gen, gen + ".c", "-lm"], check=True)
        csv = os.path.join(tmp, "bars.csv")
        generate(gen, n, csv)
        db = os.path.join(tmp, "e2e.db")
        wall, cpu, _ = run([mts, "import", "csv", csv, "--asset", "benchcoin", "--interval", "1m", "--db", db])
        bench("import_csv_1m_rows_s", n / wall, "rows/s")
        bench("import_csv_1m_cpu_s", cpu, "s")
        os.unlink(csv)

        argv = backtest_argv(mts, db)
        run(argv)    # warm-up: the first run of a fresh database imports the bundled VIX
        size0 = db_size(db)
        walls, cpus, rss = [], [], []
        for _ in range(5):
            w, c, r = run(argv)
            walls.append(w)
            cpus.append(c)
            rss.append(r)
        size1 = db_size(db)
        wall = statistics.median(walls)
        bench("backtest_e2e_1m_bars_s", wall, "s")
        bench("backtest_e2e_1m_bars_cpu_s", statistics.median(cpus), "s")
        bench("backtest_e2e_1m_bars_per_s", n / wall, "bars/s")
        bench("backtest_e2e_db_growth_mb", (size1 - size0) / 5 / 1e6, "MB")
        bench("backtest_e2e_1m_peak_rss_mb", max(rss), "MB")
        # baseline in the same run: the bars decoded from the blocks into fresh
        # memory by every process (MTS_CACHE_DIR=off), not mapped from the cache
        off = dict(os.environ, MTS_CACHE_DIR="off")
        walls, cpus = [], []
        for _ in range(5):
            w, c, _ = run(argv, env=off)
            walls.append(w)
            cpus.append(c)
        bench("backtest_e2e_1m_bars_s_nocache_baseline", statistics.median(walls), "s")
        bench("backtest_e2e_1m_bars_cpu_s_nocache_baseline", statistics.median(cpus), "s")

        w, c, _ = run([mts, "optimize", "--strategy", "sma_cross", "--asset", "benchcoin", "--interval", "1m",
                       "--param", "fast=5:9:1", "--param", "slow=30:60:10", "--store", "none", "--json",
                       "--db", db])
        bench("optimize_grid20_1m_s", w, "s")
        bench("optimize_grid20_1m_cpu_s", c, "s")
        os.unlink(db)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.unlink(db + suffix)

        if not big:
            print("bench: MTS_BENCH_BIG=0: backtest_10m_peak_rss_mb skipped", file=sys.stderr)
            return 0
        big_n = 10 * n
        csv = os.path.join(tmp, "big.csv")
        t = time.perf_counter()
        generate(gen, big_n, csv)
        db = os.path.join(tmp, "big.db")
        run([mts, "import", "csv", csv, "--asset", "benchcoin", "--interval", "1m", "--db", db])
        os.unlink(csv)
        bench("prepare_10m_bars_s", time.perf_counter() - t, "s")
        w, c, r = run(backtest_argv(mts, db))
        bench("backtest_10m_peak_rss_mb", r, "MB")
        # what the bars alone take (ts + 5 float64 columns), in the same unit:
        # no run that holds them all can peak below it
        bench("backtest_10m_bars_only_mb", big_n * 6 * 8 / 1048576.0, "MB")
        bench("backtest_10m_s", w, "s")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
