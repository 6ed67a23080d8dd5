/* bench_strategies.c — `make bench`: the macro-aware strategies through the
 * full event path (engine + Lua runner), bar by bar.
 *
 * Generates (never stores) MTS_BENCH_STRATEGY_BARS (default 2,000,000) hourly
 * bars of a geometric random walk named "bitcoin" (the asset the strategies'
 * configs list) and a daily VIX series (a mean-reverting walk around 20 with
 * spikes above 25) covering them, both from fixed seeds, then runs
 * scripts/strategies/mean_reversion.lua and vix_correlation.lua with their
 * configs, three times each (median), trusted (MTS_TRUSTED_STRATEGIES=1) and
 * sandboxed (the default of `mts backtest`). Prints
 *     bench backtest_<strategy>_bars VALUE bars/s           (trusted, wall)
 *     bench backtest_<strategy>_sandboxed_bars VALUE bars/s
 *     bench backtest_<strategy>_trades VALUE trades         (the same before/after a change)
 *     bench backtest_<strategy>_final_equity VALUE USD
 * sma_cross runs too (its config's defaults), as backtest_sma_cross_hourly_*:
 * the same event path over these bars (bench_backtest has its 1-minute figures).
 * MTS_ROOT (default ".") selects the scripts, so two versions of a strategy
 * can be compared with one binary. For profilers: MTS_BENCH_STRATEGY=NAME runs
 * only that strategy, MTS_BENCH_MODE=trusted|sandboxed only that mode, once
 * (with MTS_JIT_V=FILE, FILE then holds that run's traces). */
#include "engine/engine.h"
#include "lua/bridge.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double median3(const double v[3]) {
    double a = v[0], b = v[1], c = v[2];
    if (a > b) { double t = a; a = b; b = t; }
    if (b > c) b = c;
    return a > b ? a : b;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double uniform(void) {      /* xorshift64* */
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

#define T0 1577836800   /* 2020-01-01 */

static void generate(mts_bars_t *b, int64_t n, mts_series_t *vix) {
    if (mts_bars_reserve(b, n) != 0) { fprintf(stderr, "bench: out of memory\n"); exit(1); }
    double px = 30000.0;
    for (int64_t i = 0; i < n; i++) {
        double o = px;
        double c = o * (1.0 + (uniform() - 0.5) * 0.02);     /* +-1% per hour */
        b->ts[i] = T0 + 3600 * i;
        b->open[i] = o; b->close[i] = c;
        b->high[i] = fmax(o, c) * (1.0 + uniform() * 0.002);
        b->low[i] = fmin(o, c) * (1.0 - uniform() * 0.002);
        b->volume[i] = 1.0 + uniform();
        px = c;
    }
    b->n = n;
    int64_t days = n / 24 + 2;
    if (mts_series_reserve(vix, days) != 0) { fprintf(stderr, "bench: out of memory\n"); exit(1); }
    double v = 20.0;
    for (int64_t d = 0; d < days; d++) {
        v += 0.1 * (20.0 - v) + (uniform() - 0.5) * 3.0;
        if (uniform() < 0.02) v += 10.0;                     /* a spike now and then */
        if (v < 9.0) v = 9.0;
        vix->ts[d] = T0 + 86400 * d;
        vix->v[d] = v;
    }
    vix->n = days;
}

static int run(const char *root, const char *strategy, const mts_bars_t *bars, const mts_series_t *vix,
               double *wall, int64_t *trades, double *equity) {
    mts_engine_config_t cfg = {100000, 10, 5, 0};
    mts_engine_t *e = NULL;
    int32_t id;
    if (mts_engine_create(&cfg, &e) || mts_engine_add_asset(e, "bitcoin", bars, &id) ||
        mts_engine_add_macro(e, "VIX", vix)) {
        fprintf(stderr, "bench: engine setup failed\n");
        mts_engine_free(e);
        return 1;
    }
    const char *strategies[] = {strategy};
    mts_run_spec_t spec = {.engine = e, .root = root, .strategies = strategies, .n_strategies = 1};
    mts_run_result_t rr;
    memset(&rr, 0, sizeof rr);
    char err[512] = "";
    double t = now_s();
    int rc = mts_lua_backtest(&spec, &rr, err, sizeof err);
    *wall = now_s() - t;
    if (rc != 0) fprintf(stderr, "bench: %s: %s\n", strategy, err);
    else if (rr.n_disabled) { fprintf(stderr, "bench: %s disabled: %s\n", strategy, rr.disabled); rc = 1; }
    *trades = mts_engine_portfolio(e)->n_trades;
    *equity = mts_engine_equity(e);
    mts_run_result_free(&rr);
    mts_engine_free(e);
    return rc != 0;
}

int main(void) {
    const char *root = getenv("MTS_ROOT") ? getenv("MTS_ROOT") : ".";
    int64_t n = getenv("MTS_BENCH_STRATEGY_BARS") ? atoll(getenv("MTS_BENCH_STRATEGY_BARS")) : 2000000;
    if (n < 1000) n = 1000;
    mts_bars_t bars;
    mts_series_t vix;
    memset(&bars, 0, sizeof bars);
    memset(&vix, 0, sizeof vix);
    generate(&bars, n, &vix);

    const char *names[] = {"mean_reversion", "vix_correlation", "sma_cross"};
    const char *labels[] = {"mean_reversion", "vix_correlation", "sma_cross_hourly"};
    const char *only = getenv("MTS_BENCH_STRATEGY"), *only_mode = getenv("MTS_BENCH_MODE");
    int one_mode = only_mode && strcmp(only_mode, "trusted") == 0 ? 0
                 : only_mode && strcmp(only_mode, "sandboxed") == 0 ? 1 : -1;
    int rc = 0;
    for (int s = 0; s < 3 && !rc; s++) {
        if (only && strcmp(only, names[s]) != 0) continue;
        double med[2] = {0, 0};
        int64_t tr0 = -1;
        double eq0 = 0;
        for (int mode = 0; mode < 2 && !rc; mode++) {
            if (one_mode >= 0 && mode != one_mode) continue;
            setenv("MTS_TRUSTED_STRATEGIES", mode == 0 ? "1" : "0", 1);
            double wall[3];
            for (int r = 0; r < 3 && !rc; r++) {
                if (one_mode >= 0 && r > 0) { wall[r] = wall[0]; continue; }
                int64_t tr = 0;
                double eq = 0;
                rc = run(root, names[s], &bars, &vix, &wall[r], &tr, &eq);
                if (tr0 < 0) { tr0 = tr; eq0 = eq; }
                else if (!rc && (tr != tr0 || eq != eq0)) {
                    fprintf(stderr, "bench: %s: runs disagree\n", names[s]);
                    rc = 1;
                }
            }
            med[mode] = median3(wall);
        }
        if (rc) break;
        if (med[0] > 0) printf("bench backtest_%s_bars %.0f bars/s\n", labels[s], (double)n / med[0]);
        if (med[1] > 0) printf("bench backtest_%s_sandboxed_bars %.0f bars/s\n", labels[s], (double)n / med[1]);
        printf("bench backtest_%s_trades %lld trades\n", labels[s], (long long)tr0);
        printf("bench backtest_%s_final_equity %.6f USD\n", labels[s], eq0);
    }
    unsetenv("MTS_TRUSTED_STRATEGIES");
    mts_bars_free(&bars);
    mts_series_free(&vix);
    return rc;
}
