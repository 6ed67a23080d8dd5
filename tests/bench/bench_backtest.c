/* bench_backtest.c — `make bench`: the full event path against a plain C loop.
 *
 * Generates (never stores) a 10-million-bar 1-minute series — a geometric random
 * walk from a fixed seed — runs it through the engine and the Lua runner with
 * scripts/strategies/sma_cross.lua (fast=10, slow=30, units=1), then through a
 * plain C loop with the same logic (incremental SMAs, the nzd cross rule, fills
 * at the next open with commission). The Lua path runs twice: trusted (no
 * sandbox limits; the figures backtest_sma_cross_*) and sandboxed
 * (the default for `mts backtest`; *_sandboxed_* and sandbox_overhead_ratio).
 * Prints one line per figure:
 *     bench NAME VALUE UNIT
 * Environment: MTS_BENCH_BARS (default 10000000), MTS_ROOT (default "."),
 * MTS_BENCH_MODE=trusted|sandboxed (profiling: one mode only, one run, no
 * comparison with the plain loop; MTS_JIT_V=FILE then holds that run's traces). */
#include "engine/engine.h"
#include "lua/bridge.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double median3(const double v[3]) {
    double a = v[0], b = v[1], c = v[2];
    if (a > b) { double t = a; a = b; b = t; }
    if (b > c) b = c;
    return a > b ? a : b;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(void) {      /* xorshift64* */
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

static void generate(mts_bars_t *b, int64_t n) {
    if (mts_bars_reserve(b, n) != 0) { fprintf(stderr, "bench: out of memory\n"); exit(1); }
    double px = 30000.0;
    int64_t t0 = 1577836800;  /* 2020-01-01 */
    for (int64_t i = 0; i < n; i++) {
        double o = px;
        double r = (uniform() - 0.5) * 0.002;          /* +-0.1% per minute */
        double c = o * (1.0 + r);
        double hi = fmax(o, c) * (1.0 + uniform() * 0.0005);
        double lo = fmin(o, c) * (1.0 - uniform() * 0.0005);
        b->ts[i] = t0 + 60 * i;
        b->open[i] = o; b->high[i] = hi; b->low[i] = lo; b->close[i] = c;
        b->volume[i] = 1.0 + uniform();
        px = c;
    }
    b->n = n;
}

/* The same trading logic as sma_cross.lua, in plain C. Returns final equity. */
static double plain_loop(const mts_bars_t *b, int fast, int slow, double units, double rate,
                         int64_t *n_trades) {
    double sf = 0, ss = 0, nzd = 0, cash = 100000, pos = 0;
    int pending = 0;  /* +1 buy, -1 sell */
    *n_trades = 0;
    for (int64_t i = 0; i < b->n; i++) {
        if (pending) {
            double px = b->open[i], q = pending > 0 ? units : pos;
            double fee = q * px * rate;
            if (pending > 0) { cash -= q * px + fee; pos = q; }
            else { cash += q * px - fee; pos = 0; (*n_trades)++; }
            pending = 0;
        }
        double c = b->close[i];
        sf += c; ss += c;
        if (i >= fast) sf -= b->close[i - fast];
        if (i >= slow) ss -= b->close[i - slow];
        if (i >= slow - 1) {
            double f = sf / fast, s = ss / slow, d = f - s;
            if (nzd < 0 && f > s && pos == 0) pending = 1;
            else if (nzd > 0 && f < s && pos > 0) pending = -1;
            if (d != 0) nzd = d;
        }
    }
    return cash + pos * b->close[b->n - 1];
}

int main(void) {
    const char *env_n = getenv("MTS_BENCH_BARS");
    int64_t n = env_n ? atoll(env_n) : 10000000;
    const char *root = getenv("MTS_ROOT") ? getenv("MTS_ROOT") : ".";
    mts_bars_t bars;
    memset(&bars, 0, sizeof bars);
    double t = now_s();
    generate(&bars, n);
    printf("bench generate_bars %.0f bars/s\n", (double)n / (now_s() - t));

    const char *strategies[] = {"sma_cross"};
    const char *keys[] = {"fast", "slow", "units"}, *vals[] = {"10", "30", "1"};
    /* MTS_BENCH_FAST/SLOW change the windows (fewer crosses = less signal traffic) */
    if (getenv("MTS_BENCH_FAST")) vals[0] = getenv("MTS_BENCH_FAST");
    if (getenv("MTS_BENCH_SLOW")) vals[1] = getenv("MTS_BENCH_SLOW");

    /* The full path three times (a fresh engine each time, as a run would
     * have): the median is reported, this machine's page-fault cost varies.
     * First trusted (MTS_TRUSTED_STRATEGIES=1: no limits), then sandboxed (the
     * default: budget ticks compiled into the strategy, memory cap allocator;
     * runtime/lua/guard.h, scripts/lib/sandbox.lua). */
    double dt_engine = 0, cpu_engine = 0, dt_sandbox = 0, cpu_sandbox = 0, eq_engine = 0;
    int64_t trades_engine = 0, signals_engine = 0;
    const char *only = getenv("MTS_BENCH_MODE");
    int only_mode = only && strcmp(only, "trusted") == 0 ? 0 : only && strcmp(only, "sandboxed") == 0 ? 1 : -1;
    if (only && only_mode < 0) { fprintf(stderr, "bench: MTS_BENCH_MODE is trusted or sandboxed\n"); return 1; }
    for (int mode = 0; mode < 2; mode++) {
        if (only_mode >= 0 && mode != only_mode) continue;
        setenv("MTS_TRUSTED_STRATEGIES", mode == 0 ? "1" : "0", 1);
        enum { RUNS = 3 };
        double wall[RUNS], cpu[RUNS];
        for (int r = 0; r < RUNS; r++) {
            if (only_mode >= 0 && r > 0) { wall[r] = wall[0]; cpu[r] = cpu[0]; continue; }
            mts_engine_config_t cfg = {100000, 10, 0, 0};
            mts_engine_t *e = NULL;
            int32_t id;
            if (mts_engine_create(&cfg, &e) || mts_engine_add_asset(e, "synthetic", &bars, &id)) {
                fprintf(stderr, "bench: engine setup failed\n");
                return 1;
            }
            mts_run_spec_t spec = {.engine = e, .root = root, .strategies = strategies, .n_strategies = 1,
                                   .param_keys = keys, .param_values = vals, .n_params = 3,
                                   .interval = "1m"};   /* the views grow bar by bar (look-ahead guard) */
            mts_run_result_t rr;
            memset(&rr, 0, sizeof rr);
            char err[512] = "";
            t = now_s();
            double c0 = cpu_s();
            int rc = mts_lua_backtest(&spec, &rr, err, sizeof err);
            wall[r] = now_s() - t;
            cpu[r] = cpu_s() - c0;
            if (rc != 0) { fprintf(stderr, "bench: %s\n", err); return 1; }
            if (rr.n_disabled) { fprintf(stderr, "bench: strategy disabled: %s", rr.disabled); return 1; }
            double eq = mts_engine_equity(e);
            int64_t tr = mts_engine_portfolio(e)->n_trades;
            if (mode == 0 || only_mode >= 0) {
                mts_engine_signals(e, &signals_engine);
                eq_engine = eq;
                trades_engine = tr;
            } else if (tr != trades_engine || eq != eq_engine) {
                fprintf(stderr, "bench: sandboxed and trusted runs disagree\n");
                return 1;
            }
            mts_run_result_free(&rr);
            mts_engine_free(e);
        }
        if (mode == 0) { dt_engine = median3(wall); cpu_engine = median3(cpu); }
        else { dt_sandbox = median3(wall); cpu_sandbox = median3(cpu); }
    }
    unsetenv("MTS_TRUSTED_STRATEGIES");
    if (only_mode >= 0) {
        double dt = only_mode == 0 ? cpu_engine : cpu_sandbox;
        printf("bench backtest_sma_cross_%s_bars_cpu %.0f bars/s\n", only, (double)n / dt);
        printf("bench backtest_trades %lld trades\n", (long long)trades_engine);
        printf("bench backtest_signals %lld signals\n", (long long)signals_engine);
        printf("bench backtest_final_equity %.6f USD\n", eq_engine);
        mts_bars_free(&bars);
        return 0;
    }

    int64_t trades_plain = 0;
    t = now_s();
    double eq_plain = plain_loop(&bars, atoi(vals[0]), atoi(vals[1]), 1.0, 10 / 1e4, &trades_plain);
    double dt_plain = now_s() - t;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bench backtest_sma_cross_bars %.0f bars/s\n", (double)n / dt_engine);
    /* CPU time: steadier than wall time on a shared machine */
    printf("bench backtest_sma_cross_bars_cpu %.0f bars/s\n", (double)n / cpu_engine);
    printf("bench backtest_sma_cross_peak_rss %.1f MB\n", (double)ru.ru_maxrss / 1024.0);
    printf("bench plain_c_sma_cross_bars %.0f bars/s\n", (double)n / dt_plain);
    printf("bench engine_vs_plain_c_ratio %.3f x\n", dt_engine / dt_plain);
    printf("bench backtest_trades %lld trades\n", (long long)trades_engine);
    printf("bench backtest_sma_cross_sandboxed_bars %.0f bars/s\n", (double)n / dt_sandbox);
    printf("bench backtest_sma_cross_sandboxed_bars_cpu %.0f bars/s\n", (double)n / cpu_sandbox);
    /* > 1: how many times longer the sandboxed run takes than the trusted one */
    printf("bench sandbox_overhead_ratio %.3f x\n", dt_sandbox / dt_engine);
    printf("bench sandbox_overhead_ratio_cpu %.3f x\n", cpu_sandbox / cpu_engine);
    /* The two implementations must agree, or the comparison is meaningless. */
    if (trades_engine != trades_plain || fabs(eq_engine - eq_plain) > 1e-6 * fabs(eq_plain)) {
        fprintf(stderr, "bench: engine and plain loop disagree: %lld vs %lld trades, equity %.6f vs %.6f\n",
                (long long)trades_engine, (long long)trades_plain, eq_engine, eq_plain);
        return 1;
    }
    mts_bars_free(&bars);
    return 0;
}
