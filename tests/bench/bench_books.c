/* bench_books.c — `make bench`: the event path with per-strategy books and
 * perpetual futures (issue 12), next to the spot single-book path, in one run.
 *
 * Generates (never stores) MTS_BENCH_BOOKS_BARS (default 1,000,000) hourly bars
 * of a geometric random walk named "bitcoin" and a daily VIX series, from fixed
 * seeds, then runs through the whole event path (engine + Lua runner, trusted,
 * three times each, median):
 *   spot_vote_2         sma_cross + mean_reversion, vote mode: one book (the baseline)
 *   spot_independent_2  the same two strategies, one book each (independent mode)
 *   spot_1              sma_cross alone on spot (the baseline of the next)
 *   perp_1              sma_cross alone on a linear perp, leverage 3, a funding
 *                       settlement every 8 bars (margin, funding, liquidation checks)
 *   spot_1_shadow       sma_cross with a shadow sma_cross:fast=5,slow=20 in a shadow
 *                       book of its own (issue 14; `mts run --shadow`): the account's
 *                       trades and equity must equal spot_1's (checked, else exit 1)
 * Prints
 *     bench books_<variant>_bars VALUE bars/s
 *     bench books_<variant>_trades VALUE trades       (the same before/after a change)
 *     bench books_independent_vs_vote VALUE x         (bars/s ratio, 1 = no cost)
 *     bench books_perp_vs_spot VALUE x
 *     bench books_shadow_vs_spot_1 VALUE x            (bars/s ratio: a second strategy's work
 *                                                      and book, and the quiet path declines) */
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

static uint64_t rng = 0x9E3779B97F4A7C15ull;
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
        double c = o * (1.0 + (uniform() - 0.5) * 0.02);
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
        if (v < 9.0) v = 9.0;
        vix->ts[d] = T0 + 86400 * d;
        vix->v[d] = v;
    }
    vix->n = days;
}

typedef struct variant {
    const char *label, *mode;
    const char *strategies[2];
    int n_strategies, perp;
    const char *shadow;       /* a shadow label (its own book of the same capital), or NULL */
} variant_t;

static int run(const char *root, const variant_t *v, const mts_bars_t *bars, const mts_series_t *vix,
               double *wall, int64_t *trades, double *equity) {
    mts_engine_config_t cfg = {100000, 10, 5, v->perp ? 3 : 0};
    mts_engine_t *e = NULL;
    int32_t id;
    mts_funding_events_t fe;
    memset(&fe, 0, sizeof fe);
    int rc = mts_engine_create(&cfg, &e) || mts_engine_add_asset(e, "bitcoin", bars, &id) ||
             mts_engine_add_macro(e, "VIX", vix);
    if (!rc && v->n_strategies > 1 && strcmp(v->mode, "independent") == 0) {
        double alloc[2] = {0.5, 0.5};
        rc = mts_engine_set_books(e, 2, alloc);
    }
    int32_t shadow_book = -1;
    if (!rc && v->shadow) rc = mts_engine_add_shadow_book(e, cfg.initial_capital, &shadow_book);
    if (!rc && v->perp) {
        mts_instrument_t ins = {.type = MTS_INST_PERP, .contract_size = 1, .lot_size = 0.001,
                                .maker_fee_bps = 2, .taker_fee_bps = 5, .max_leverage = 125,
                                .maintenance_margin_rate = 0.004};
        rc = mts_engine_set_instrument(e, id, &ins);
        /* a settlement every 8 bars (8 h), alternating sign */
        int64_t n = bars->n / 8 + 1;
        fe.ts = mts_malloc((size_t)n * sizeof *fe.ts);
        fe.rate = mts_malloc((size_t)n * sizeof *fe.rate);
        fe.mark = mts_malloc((size_t)n * sizeof *fe.mark);
        if (!fe.ts || !fe.rate || !fe.mark) rc = 1;
        for (int64_t k = 0; !rc && k < n; k++) {
            fe.ts[k] = T0 + 8 * 3600 * k;
            fe.rate[k] = (k % 3 == 2 ? -1 : 1) * 1e-4;
            fe.mark[k] = NAN;
        }
        fe.n = fe.cap = n;
        if (!rc) rc = mts_engine_set_funding(e, id, &fe);
    }
    if (rc) {
        fprintf(stderr, "bench: engine setup failed: %s\n", e ? mts_engine_errmsg(e) : "");
        mts_engine_free(e);
        return 1;
    }
    mts_run_spec_t spec = {.engine = e, .root = root, .strategies = v->strategies,
                           .n_strategies = v->n_strategies, .trusted = 1, .interval = "1h",
                           .mode = v->mode, .shadows = v->shadow ? &v->shadow : NULL,
                           .n_shadows = v->shadow ? 1 : 0};
    mts_run_result_t rr;
    memset(&rr, 0, sizeof rr);
    char err[512] = "";
    double t = now_s();
    rc = mts_lua_backtest(&spec, &rr, err, sizeof err);
    *wall = now_s() - t;
    if (rc != 0) fprintf(stderr, "bench: %s: %s\n", v->label, err);
    else if (rr.n_disabled) { fprintf(stderr, "bench: %s disabled: %s\n", v->label, rr.disabled); rc = 1; }
    int64_t n = 0;
    mts_engine_trades(e, &n);
    *trades = n;
    *equity = mts_engine_equity(e);
    mts_run_result_free(&rr);
    mts_engine_free(e);
    mts_free(fe.ts);
    mts_free(fe.rate);
    mts_free(fe.mark);
    return rc != 0;
}

int main(void) {
    const char *root = getenv("MTS_ROOT") ? getenv("MTS_ROOT") : ".";
    int64_t n = getenv("MTS_BENCH_BOOKS_BARS") ? atoll(getenv("MTS_BENCH_BOOKS_BARS")) : 1000000;
    if (n < 1000) n = 1000;
    mts_bars_t bars;
    mts_series_t vix;
    memset(&bars, 0, sizeof bars);
    memset(&vix, 0, sizeof vix);
    generate(&bars, n, &vix);
    setenv("MTS_TRUSTED_STRATEGIES", "1", 1);

    const variant_t vs[] = {
        {"spot_vote_2", "vote", {"sma_cross", "mean_reversion"}, 2, 0, NULL},
        {"spot_independent_2", "independent", {"sma_cross", "mean_reversion"}, 2, 0, NULL},
        {"spot_1", "vote", {"sma_cross", NULL}, 1, 0, NULL},
        {"perp_1", "vote", {"sma_cross", NULL}, 1, 1, NULL},
        {"spot_1_shadow", "vote", {"sma_cross", NULL}, 1, 0, "sma_cross:fast=5,slow=20"},
    };
    enum { NV = sizeof vs / sizeof vs[0] };
    double med[NV] = {0}, eq_of[NV] = {0};
    int64_t tr_of[NV] = {0};
    int rc = 0;
    for (int k = 0; k < NV && !rc; k++) {
        double wall[3];
        int64_t tr0 = -1;
        double eq0 = 0;
        for (int r = 0; r < 3 && !rc; r++) {
            int64_t tr = 0;
            double eq = 0;
            rc = run(root, &vs[k], &bars, &vix, &wall[r], &tr, &eq);
            if (tr0 < 0) { tr0 = tr; eq0 = eq; }
            else if (!rc && (tr != tr0 || eq != eq0)) {
                fprintf(stderr, "bench: %s: runs disagree\n", vs[k].label);
                rc = 1;
            }
        }
        if (rc) break;
        tr_of[k] = tr0;
        eq_of[k] = eq0;
        if (vs[k].shadow && (tr0 != tr_of[2] || eq0 != eq_of[2])) {   /* the account without the shadow: spot_1 */
            fprintf(stderr, "bench: %s: the shadow changed the account (%lld trades, equity %.17g; spot_1: %lld, %.17g)\n",
                    vs[k].label, (long long)tr0, eq0, (long long)tr_of[2], eq_of[2]);
            rc = 1;
            break;
        }
        med[k] = median3(wall);
        printf("bench books_%s_bars %.0f bars/s\n", vs[k].label, (double)n / med[k]);
        printf("bench books_%s_trades %lld trades\n", vs[k].label, (long long)tr0);
    }
    if (!rc) {
        printf("bench books_independent_vs_vote %.3f x\n", med[0] / med[1]);
        printf("bench books_perp_vs_spot %.3f x\n", med[2] / med[3]);
        printf("bench books_shadow_vs_spot_1 %.3f x\n", med[2] / med[4]);
    }
    unsetenv("MTS_TRUSTED_STRATEGIES");
    mts_bars_free(&bars);
    mts_series_free(&vix);
    return rc;
}
