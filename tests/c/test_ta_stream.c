/* test_ta_stream.c — the streaming indicators (mts_rollstd_t, mts_rollcorr_t,
 * mts_rsi_t, mts_drawdown_t, mts_pctrank_t, mts_change_t, mts_asof_t) give bit
 * for bit what the batch functions give, on real data: the bundled daily
 * closes of BTC/ETH/BNB (data/crypto), the CBOE VIX history (data/macro), the
 * hourly fixture of the live tests, each also with NaN gaps and flat stretches
 * injected, and a series with a huge spike (the cancellation/rebuild path).
 * The batch values themselves are checked against naive re-computations in
 * test_ta.c; here the two implementations are compared bit for bit (NaN
 * matches NaN; -0.0 does not match 0.0). The strategies' own pipelines are
 * replayed both ways too: vix_correlation's r / as-of VIX / dVIX / rolling
 * correlations, mean_reversion's drawdown / RSI / VIX percentile rank. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "indicators/ta.h"

#define MAXN 20000

typedef struct {
    int64_t ts[MAXN];
    double close[MAXN];
    double high[MAXN], low[MAXN], volume[MAXN];   /* crypto and fixture only */
    int64_t n;
} csv_t;

static csv_t btc, eth, bnb, vix, hourly;

static const char *root(void) {
    const char *r = getenv("MTS_ROOT");
    return r && *r ? r : ".";
}

static int64_t utc(int y, int mo, int d, int h) {
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    return (int64_t)timegm(&tm);
}

/* kind 0: "YYYY-MM-DD HH:MM:SS...,open,high,low,close,..." (crypto, fixture)
 * kind 1: "MM/DD/YYYY,OPEN,HIGH,LOW,CLOSE" (CBOE VIX) */
static void load(csv_t *c, const char *rel, int kind) {
    char path[1024], line[512];
    snprintf(path, sizeof path, "%s/%s", root(), rel);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s (run from the repository root or set MTS_ROOT)", path);
    c->n = 0;
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        if (first) { first = 0; continue; }
        int y, mo, d, h = 0;
        double o, hi, lo, cl, vol = NAN;
        if (kind == 0) {
            if (sscanf(line, "%d-%d-%d %d:%*d:%*[^,],%lf,%lf,%lf,%lf,%lf", &y, &mo, &d, &h, &o, &hi, &lo, &cl, &vol) != 9)
                fail_msg("%s: bad line %s", rel, line);
        } else {
            if (sscanf(line, "%d/%d/%d,%lf,%lf,%lf,%lf", &mo, &d, &y, &o, &hi, &lo, &cl) != 7)
                fail_msg("%s: bad line %s", rel, line);
        }
        assert_true(c->n < MAXN);
        c->ts[c->n] = utc(y, mo, d, h);
        c->close[c->n] = cl;
        c->high[c->n] = hi;
        c->low[c->n] = lo;
        c->volume[c->n] = vol;
        c->n++;
    }
    fclose(f);
    assert_true(c->n > 300);
}

static int setup(void **state) {
    (void)state;
    load(&btc, "data/crypto/BTCUSDT_1d_binance_spot.csv", 0);
    load(&eth, "data/crypto/ETHUSDT_1d_binance_spot.csv", 0);
    load(&bnb, "data/crypto/BNBUSDT_1d_binance_spot.csv", 0);
    load(&vix, "data/macro/VIX_History_cboe.csv", 1);
    load(&hourly, "tests/fixtures/live/BTCUSDT_1h_2021-01.csv", 0);
    return 0;
}

/* ---- comparison ----------------------------------------------------------- */

static void expect_same(const char *what, int w, int64_t i, double stream, double batch) {
    if (isnan(batch) && isnan(stream)) return;
    if (memcmp(&stream, &batch, sizeof stream) != 0)
        fail_msg("%s (w=%d) index %lld: batch %.17g, streaming %.17g", what, w, (long long)i, batch, stream);
}

/* A copy of x with NaN gaps (single and a run longer than most windows) and
 * flat stretches (equal values: std exactly 0, corr NaN) at fixed places. */
static void damage(const double *x, int64_t n, double *out) {
    memcpy(out, x, (size_t)n * sizeof *x);
    out[n / 7] = NAN;
    for (int64_t j = n / 3; j < n / 3 + 40 && j < n; j++) out[j] = NAN;
    for (int64_t j = n / 2; j < n / 2 + 35 && j < n; j++) out[j] = out[n / 2 - 1];
    out[n - 5] = NAN;
}

/* Runs every single-series indicator both ways over x. */
static void check_all(const double *x, int64_t n) {
    double *b = malloc((size_t)n * sizeof *b);
    assert_non_null(b);
    const int32_t wins[] = {1, 2, 3, 7, 14, 21, 30, 100, 252};
    for (size_t k = 0; k < sizeof wins / sizeof wins[0]; k++) {
        int32_t w = wins[k];
        assert_int_equal(mts_ta_rolling_std(x, n, w, b), 0);
        mts_rollstd_t *s = mts_rollstd_new(w);
        assert_non_null(s);
        for (int64_t i = 0; i < n; i++) expect_same("rolling_std", w, i, mts_rollstd_push(s, x[i]), b[i]);
        mts_rollstd_free(s);

        assert_int_equal(mts_ta_rsi(x, n, w, b), 0);
        mts_rsi_t *r = mts_rsi_new(w);
        assert_non_null(r);
        for (int64_t i = 0; i < n; i++) expect_same("rsi", w, i, mts_rsi_push(r, x[i]), b[i]);
        mts_rsi_free(r);

        assert_int_equal(mts_ta_pct_rank(x, n, w, b), 0);
        mts_pctrank_t *p = mts_pctrank_new(w);
        assert_non_null(p);
        for (int64_t i = 0; i < n; i++) expect_same("pct_rank", w, i, mts_pctrank_push(p, x[i]), b[i]);
        mts_pctrank_free(p);
    }
    assert_int_equal(mts_ta_drawdown(x, n, b), 0);
    mts_drawdown_t *d = mts_drawdown_new();
    assert_non_null(d);
    for (int64_t i = 0; i < n; i++) expect_same("drawdown", 0, i, mts_drawdown_push(d, x[i]), b[i]);
    mts_drawdown_free(d);

    assert_int_equal(mts_ta_pct_change(x, n, b), 0);
    mts_change_t *c = mts_change_new(1);
    assert_non_null(c);
    for (int64_t i = 0; i < n; i++) expect_same("pct_change", 0, i, mts_change_push(c, x[i]), b[i]);
    mts_change_free(c);

    assert_int_equal(mts_ta_diff(x, n, b), 0);
    c = mts_change_new(0);
    assert_non_null(c);
    for (int64_t i = 0; i < n; i++) expect_same("diff", 0, i, mts_change_push(c, x[i]), b[i]);
    mts_change_free(c);
    free(b);
}

static void check_corr(const double *x, const double *y, int64_t n) {
    double *b = malloc((size_t)n * sizeof *b);
    assert_non_null(b);
    const int32_t wins[] = {1, 2, 3, 7, 14, 21, 30, 100, 252};
    for (size_t k = 0; k < sizeof wins / sizeof wins[0]; k++) {
        int32_t w = wins[k];
        assert_int_equal(mts_ta_rolling_corr(x, y, n, w, b), 0);
        mts_rollcorr_t *s = mts_rollcorr_new(w);
        assert_non_null(s);
        for (int64_t i = 0; i < n; i++) expect_same("rolling_corr", w, i, mts_rollcorr_push(s, x[i], y[i]), b[i]);
        mts_rollcorr_free(s);
    }
    free(b);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_single_series_real_data(void **state) {
    (void)state;
    const csv_t *sets[] = {&btc, &eth, &bnb, &vix, &hourly};
    static double dam[MAXN];
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        check_all(sets[k]->close, sets[k]->n);
        damage(sets[k]->close, sets[k]->n, dam);
        check_all(dam, sets[k]->n);
    }
}

static void test_corr_real_data(void **state) {
    (void)state;
    static double rb[MAXN], re[MAXN], dam[MAXN];
    int64_t n = btc.n < eth.n ? btc.n : eth.n;
    /* BTC vs ETH closes (strongly correlated levels), their returns, BTC vs its own copy with gaps */
    check_corr(btc.close, eth.close, n);
    assert_int_equal(mts_ta_pct_change(btc.close, n, rb), 0);
    assert_int_equal(mts_ta_pct_change(eth.close, n, re), 0);
    check_corr(rb, re, n);
    damage(eth.close, n, dam);
    check_corr(btc.close, dam, n);
    check_corr(dam, btc.close, n);
}

/* A level shift: a spike of 1e6 times the level entering and leaving the
 * window, so the running sums lose digits and are rebuilt. */
static void test_spike_rebuild(void **state) {
    (void)state;
    static double x[MAXN], y[MAXN];
    int64_t n = btc.n;
    memcpy(x, btc.close, (size_t)n * sizeof *x);
    memcpy(y, eth.close, (size_t)n * sizeof *y);
    x[500] = x[499] * 1e6;
    y[900] = y[899] * 1e7;
    x[1200] = -x[1200];
    check_all(x, n);
    check_corr(x, y, n);
}

/* vix_correlation's pipeline, as init computed it (batch) and as on_bar
 * computes it (streaming), on each bundled asset's daily bars and on the
 * hourly fixture. */
static void pipeline_vixcorr(const csv_t *a) {
    int64_t n = a->n;
    double *ret = malloc((size_t)n * 8), *al = malloc((size_t)n * 8), *dv = malloc((size_t)n * 8),
           *corr = malloc((size_t)n * 8), *pr = malloc((size_t)n * 8);
    assert_true(ret && al && dv && corr && pr);
    assert_int_equal(mts_ta_pct_change(a->close, n, ret), 0);
    assert_int_equal(mts_ta_align_asof(vix.ts, vix.close, vix.n, a->ts, n, al), 0);
    assert_int_equal(mts_ta_diff(al, n, dv), 0);
    const int32_t wins[] = {7, 14, 21, 30};
    for (size_t k = 0; k < 4; k++) {
        int32_t w = wins[k];
        assert_int_equal(mts_ta_rolling_corr(ret, dv, n, w, corr), 0);
        assert_int_equal(mts_ta_pct_rank(al, n, 252, pr), 0);
        mts_asof_t *as = NULL;
        assert_int_equal(mts_asof_new(vix.ts, vix.close, vix.n, &as), 0);
        mts_change_t *pc = mts_change_new(1), *df = mts_change_new(0);
        mts_rollcorr_t *rc = mts_rollcorr_new(w);
        mts_pctrank_t *pk = mts_pctrank_new(252);
        assert_true(pc && df && rc && pk);
        int64_t defined = 0;
        for (int64_t i = 0; i < n; i++) {
            double r = mts_change_push(pc, a->close[i]);
            double v = mts_asof_at(as, a->ts[i]);
            double d = mts_change_push(df, v);
            expect_same("as-of VIX", w, i, v, al[i]);
            double c = mts_rollcorr_push(rc, r, d);
            expect_same("corr(r, dVIX)", w, i, c, corr[i]);
            expect_same("pct_rank(VIX)", 252, i, mts_pctrank_push(pk, v), pr[i]);
            defined += !isnan(c);
        }
        assert_true(defined > 0);
        mts_asof_free(as);
        mts_change_free(pc);
        mts_change_free(df);
        mts_rollcorr_free(rc);
        mts_pctrank_free(pk);
    }
    free(ret); free(al); free(dv); free(corr); free(pr);
}

static void test_strategy_pipelines(void **state) {
    (void)state;
    pipeline_vixcorr(&btc);
    pipeline_vixcorr(&eth);
    pipeline_vixcorr(&bnb);
    pipeline_vixcorr(&hourly);
}

/* as-of by hand: src times 10, 20 (NaN), 30; t = 5 -> NaN, 10 -> 1, 25 -> 1
 * (20 is NaN and skipped), 30 -> 3, 99 -> 3; then t back to 12 -> rescan -> 1.
 * The batch function with the same destination times agrees. */
static void test_asof_small(void **state) {
    (void)state;
    int64_t sts[] = {10, 20, 30}, dts[] = {5, 10, 25, 30, 99, 12};
    double sv[] = {1, NAN, 3}, want[] = {NAN, 1, 1, 3, 3, 1}, b[6];
    mts_asof_t *a = NULL;
    assert_int_equal(mts_asof_new(sts, sv, 3, &a), 0);
    assert_int_equal(mts_ta_align_asof(sts, sv, 3, dts, 6, b), 0);
    for (int k = 0; k < 6; k++) {
        double v = mts_asof_at(a, dts[k]);
        expect_same("asof by hand", 0, k, v, want[k]);
        expect_same("asof vs batch", 0, k, v, b[k]);
    }
    mts_asof_free(a);
    /* an empty source: always NaN */
    assert_int_equal(mts_asof_new(NULL, NULL, 0, &a), 0);
    assert_true(isnan(mts_asof_at(a, 1)));
    mts_asof_free(a);
}

static void test_invalid(void **state) {
    (void)state;
    assert_null(mts_rollstd_new(0));
    assert_null(mts_rollcorr_new(-1));
    assert_null(mts_rsi_new(0));
    assert_null(mts_pctrank_new(0));
    mts_asof_t *a = (mts_asof_t *)(uintptr_t)1;
    int64_t desc[] = {20, 10};
    double v[] = {1, 2};
    assert_int_equal(mts_asof_new(desc, v, 2, &a), MTS_EINVAL);
    assert_null(a);
    assert_int_equal(mts_asof_new(NULL, v, 2, &a), MTS_EINVAL);
    assert_int_equal(mts_asof_new(desc, v, -1, &a), MTS_EINVAL);
    assert_int_equal(mts_asof_new(desc, v, 1, NULL), MTS_EINVAL);
    mts_rollstd_free(NULL);
    mts_rollcorr_free(NULL);
    mts_rsi_free(NULL);
    mts_drawdown_free(NULL);
    mts_pctrank_free(NULL);
    mts_change_free(NULL);
    mts_asof_free(NULL);
}

/* RSI and drawdown by hand, so the streaming forms are also pinned to the
 * definition directly. close 100 110 120 110 100 95 90, RSI(3):
 *   i=3 seed: gain 20/3, loss 10/3, RS 2 -> 100 - 100/3 = 66.666...
 *   i=4: gain (20/3*2 + 0)/3 = 40/9, loss (10/3*2 + 10)/3 = 50/9 -> RS 0.8 -> 44.444...
 * drawdown at i=6: (120 - 90)/120 = 0.25 */
static void test_by_hand(void **state) {
    (void)state;
    double x[] = {100, 110, 120, 110, 100, 95, 90};
    mts_rsi_t *r = mts_rsi_new(3);
    mts_drawdown_t *d = mts_drawdown_new();
    double rsi[7], dd[7];
    for (int i = 0; i < 7; i++) { rsi[i] = mts_rsi_push(r, x[i]); dd[i] = mts_drawdown_push(d, x[i]); }
    assert_true(isnan(rsi[0]) && isnan(rsi[2]));
    assert_true(fabs(rsi[3] - 200.0 / 3.0) < 1e-12);
    assert_true(fabs(rsi[4] - (100.0 - 100.0 / 1.8)) < 1e-12);
    assert_true(fabs(dd[6] - 0.25) < 1e-15);
    assert_true(dd[2] == 0.0);
    mts_rsi_free(r);
    mts_drawdown_free(d);
    /* pct_rank w=3 on 3 1 2 2: at i=2 {3,1,2} <= 2 -> 2/3; at i=3 {1,2,2} <= 2 -> 1 */
    mts_pctrank_t *p = mts_pctrank_new(3);
    double pv[4], px[] = {3, 1, 2, 2};
    for (int i = 0; i < 4; i++) pv[i] = mts_pctrank_push(p, px[i]);
    assert_true(isnan(pv[1]));
    assert_true(pv[2] == 2.0 / 3.0 && pv[3] == 1.0);
    mts_pctrank_free(p);
}

/* ---- EMA, ATR, MACD, Bollinger bands, VWAP, rolling min/max ----------------
 * Streaming against batch, bit for bit, on the bundled daily bars of BTC/ETH/
 * BNB (data/crypto) and the hourly fixture, clean and with gaps (NaN), flat
 * stretches and a spike injected. */

static void check_new_single(const double *x, int64_t n) {
    double *b = malloc((size_t)n * sizeof *b), *b2 = malloc((size_t)n * sizeof *b),
           *b3 = malloc((size_t)n * sizeof *b);
    assert_true(b && b2 && b3);
    const int32_t wins[] = {1, 2, 3, 9, 12, 14, 20, 26, 50, 200};
    for (size_t k = 0; k < sizeof wins / sizeof wins[0]; k++) {
        int32_t w = wins[k];
        assert_int_equal(mts_ta_ema(x, n, w, b), 0);
        mts_ema_t *e = mts_ema_new(w);
        assert_non_null(e);
        for (int64_t i = 0; i < n; i++) expect_same("ema", w, i, mts_ema_push(e, x[i]), b[i]);
        mts_ema_free(e);

        for (int mx = 0; mx < 2; mx++) {
            assert_int_equal((mx ? mts_ta_rolling_max : mts_ta_rolling_min)(x, n, w, b), 0);
            mts_rollext_t *r = mts_rollext_new(w, mx);
            assert_non_null(r);
            for (int64_t i = 0; i < n; i++) expect_same(mx ? "rolling_max" : "rolling_min", w, i, mts_rollext_push(r, x[i]), b[i]);
            mts_rollext_free(r);
        }

        if (w >= 2) {
            assert_int_equal(mts_ta_bbands(x, n, w, 2.0, b, b2, b3), 0);
            mts_bbands_t *bb = mts_bbands_new(w, 2.0);
            assert_non_null(bb);
            for (int64_t i = 0; i < n; i++) {
                expect_same("bbands mid", w, i, mts_bbands_push(bb, x[i]), b[i]);
                expect_same("bbands upper", w, i, mts_bbands_upper(bb), b2[i]);
                expect_same("bbands lower", w, i, mts_bbands_lower(bb), b3[i]);
            }
            mts_bbands_free(bb);
        }
    }
    const int32_t mp[][3] = {{12, 26, 9}, {5, 35, 5}, {1, 2, 1}, {26, 12, 9}};
    for (size_t k = 0; k < sizeof mp / sizeof mp[0]; k++) {
        assert_int_equal(mts_ta_macd(x, n, mp[k][0], mp[k][1], mp[k][2], b, b2, b3), 0);
        mts_macd_t *m = mts_macd_new(mp[k][0], mp[k][1], mp[k][2]);
        assert_non_null(m);
        for (int64_t i = 0; i < n; i++) {
            expect_same("macd line", mp[k][1], i, mts_macd_push(m, x[i]), b[i]);
            expect_same("macd signal", mp[k][1], i, mts_macd_signal(m), b2[i]);
            expect_same("macd hist", mp[k][1], i, mts_macd_hist(m), b3[i]);
        }
        mts_macd_free(m);
    }
    free(b); free(b2); free(b3);
}

static void check_new_bars(const double *h, const double *l, const double *c, const double *v, int64_t n) {
    double *b = malloc((size_t)n * sizeof *b);
    assert_non_null(b);
    const int32_t wins[] = {-1, 0, 1, 2, 3, 14, 24, 50, 200};
    for (size_t k = 0; k < sizeof wins / sizeof wins[0]; k++) {
        int32_t w = wins[k];
        if (w >= 1) {
            assert_int_equal(mts_ta_atr(h, l, c, n, w, b), 0);
            mts_atr_t *a = mts_atr_new(w);
            assert_non_null(a);
            for (int64_t i = 0; i < n; i++) expect_same("atr", w, i, mts_atr_push(a, h[i], l[i], c[i]), b[i]);
            mts_atr_free(a);
        }
        assert_int_equal(mts_ta_vwap(h, l, c, v, n, w, b), 0);
        mts_vwap_t *vw = mts_vwap_new(w);
        assert_non_null(vw);
        for (int64_t i = 0; i < n; i++) expect_same("vwap", w, i, mts_vwap_push(vw, h[i], l[i], c[i], v[i]), b[i]);
        mts_vwap_free(vw);
    }
    free(b);
}

static void test_new_indicators_real_data(void **state) {
    (void)state;
    const csv_t *sets[] = {&btc, &eth, &bnb, &hourly};
    static double dh[MAXN], dl[MAXN], dc[MAXN], dv[MAXN];
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        const csv_t *s = sets[k];
        check_new_single(s->close, s->n);
        check_new_bars(s->high, s->low, s->close, s->volume, s->n);
        damage(s->close, s->n, dc);
        damage(s->high, s->n, dh);
        damage(s->low, s->n, dl);
        damage(s->volume, s->n, dv);
        dh[s->n / 5] = NAN;                     /* a NaN in one field only */
        dv[s->n / 4] = 0;                       /* a bar without volume */
        dc[s->n / 6] = dc[s->n / 6 - 1] * 1e6;  /* a spike */
        check_new_single(dc, s->n);
        check_new_bars(dh, dl, dc, dv, s->n);
    }
    check_new_single(vix.close, vix.n);
}

/* The deque stays O(1) amortised and exact on a monotone series (every push
 * empties the deque / every push appends) and on a constant one (all ties). */
static void test_minmax_monotone(void **state) {
    (void)state;
    enum { N = 5000 };
    static double up[N], down[N], flat[N];
    for (int i = 0; i < N; i++) { up[i] = i; down[i] = -i; flat[i] = 7; }
    mts_rollext_t *mx = mts_rollext_new(100, 1), *mn = mts_rollext_new(100, 0);
    assert_true(mx && mn);
    for (int i = 0; i < N; i++) {
        double a = mts_rollext_push(mx, up[i]), b = mts_rollext_push(mn, up[i]);
        if (i < 99) { assert_true(isnan(a) && isnan(b)); continue; }
        assert_true(a == i && b == i - 99);
    }
    mts_rollext_free(mx); mts_rollext_free(mn);
    mx = mts_rollext_new(100, 1); mn = mts_rollext_new(100, 0);
    for (int i = 0; i < N; i++) {
        double a = mts_rollext_push(mx, down[i]), b = mts_rollext_push(mn, flat[i]);
        if (i < 99) continue;
        assert_true(a == -(i - 99) && b == 7);
    }
    mts_rollext_free(mx); mts_rollext_free(mn);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_asof_small),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_single_series_real_data),
        cmocka_unit_test(test_corr_real_data),
        cmocka_unit_test(test_spike_rebuild),
        cmocka_unit_test(test_strategy_pipelines),
        cmocka_unit_test(test_new_indicators_real_data),
        cmocka_unit_test(test_minmax_monotone),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
