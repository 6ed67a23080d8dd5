/* test_ta.c — indicator primitives: hand-computed small cases (arithmetic in
 * the comments), a naive O(n*w) reimplementation on long pseudo-random series,
 * NaN propagation, RSI Wilder seeding, align_asof with gaps, argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "indicators/ta.h"

#define N_ELEMS(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

/* Expects out[i] == want[i] within tol, NaN matching NaN. */
static void expect_series(const double *out, const double *want, int64_t n, double tol) {
    for (int64_t i = 0; i < n; i++) {
        if (isnan(want[i])) {
            if (!isnan(out[i])) fail_msg("index %lld: want NaN, got %.17g", (long long)i, out[i]);
        } else {
            if (isnan(out[i]) || fabs(out[i] - want[i]) > tol)
                fail_msg("index %lld: want %.17g, got %.17g", (long long)i, want[i], out[i]);
        }
    }
}

/* ---- hand-computed cases ------------------------------------------------- */

static void test_sma_small(void **state) {
    (void)state;
    /* w=3: (1+2+3)/3=2, (2+3+4)/3=3, (3+4+5)/3=4 */
    double x[] = {1, 2, 3, 4, 5}, out[5];
    double want[] = {NAN, NAN, 2, 3, 4};
    assert_int_equal(mts_ta_sma(x, 5, 3, out), 0);
    expect_series(out, want, 5, 1e-15);
    /* w=1 is the series itself */
    assert_int_equal(mts_ta_sma(x, 5, 1, out), 0);
    expect_series(out, x, 5, 0);
    /* window longer than the series: all NaN */
    double nan5[] = {NAN, NAN, NAN, NAN, NAN};
    assert_int_equal(mts_ta_sma(x, 5, 6, out), 0);
    expect_series(out, nan5, 5, 0);
}

static void test_sma_nan(void **state) {
    (void)state;
    /* w=2: windows containing index 1 (i=1,2) are NaN; then (3+4)/2, (4+5)/2, (5+6)/2 */
    double x[] = {1, NAN, 3, 4, 5, 6}, out[6];
    double want[] = {NAN, NAN, NAN, 3.5, 4.5, 5.5};
    assert_int_equal(mts_ta_sma(x, 6, 2, out), 0);
    expect_series(out, want, 6, 1e-15);
}

static void test_std_small(void **state) {
    (void)state;
    /* w=3 on {1,2,3,4,6}:
     *   [1,2,3] mean 2, squared deviations 1+0+1 = 2, /(3-1) = 1 -> 1
     *   [2,3,4] same shape -> 1
     *   [3,4,6] mean 13/3, deviations -4/3,-1/3,5/3, squares (16+1+25)/9 = 42/9,
     *           /2 = 7/3 -> sqrt(7/3) = 1.5275252316519468 */
    double x[] = {1, 2, 3, 4, 6}, out[5];
    double want[] = {NAN, NAN, 1, 1, 1.5275252316519468};
    assert_int_equal(mts_ta_rolling_std(x, 5, 3, out), 0);
    expect_series(out, want, 5, 1e-14);
    /* w=8 on {2,4,4,4,5,5,7,9}: mean 5, squares 9+1+1+1+0+0+4+16 = 32,
     * 32/7 -> sqrt(32/7) = 2.1380899352993950 */
    double y[] = {2, 4, 4, 4, 5, 5, 7, 9}, o8[8];
    assert_int_equal(mts_ta_rolling_std(y, 8, 8, o8), 0);
    assert_true(fabs(o8[7] - 2.1380899352993950) < 1e-14);
    /* a constant window is exactly 0, even after non-constant windows */
    double z[] = {0.1, 0.7, 0.3, 0.3, 0.3}, oz[5];
    assert_int_equal(mts_ta_rolling_std(z, 5, 3, oz), 0);
    assert_true(oz[4] == 0.0);
    /* w=1: sample std undefined -> NaN */
    assert_int_equal(mts_ta_rolling_std(z, 5, 1, oz), 0);
    for (int i = 0; i < 5; i++) assert_true(isnan(oz[i]));
}

static void test_corr_small(void **state) {
    (void)state;
    double x[] = {1, 2, 3, 4, 5}, y[] = {2, 4, 6, 8, 10}, ny[] = {5, 3, 1, -1, -3}, out[5];
    /* y = 2x: r = 1 on every full window */
    assert_int_equal(mts_ta_rolling_corr(x, y, 5, 3, out), 0);
    double one[] = {NAN, NAN, 1, 1, 1};
    expect_series(out, one, 5, 1e-14);
    /* ny = 7 - 2x: r = -1 */
    assert_int_equal(mts_ta_rolling_corr(x, ny, 5, 3, out), 0);
    double mone[] = {NAN, NAN, -1, -1, -1};
    expect_series(out, mone, 5, 1e-14);
    /* x={1,2,3}, y={1,3,2}: means 2,2; dx={-1,0,1}, dy={-1,1,0};
     * sxy = 1+0+0 = 1, sxx = 2, syy = 2 -> r = 1/sqrt(4) = 0.5 */
    double a[] = {1, 2, 3}, b[] = {1, 3, 2}, o3[3];
    assert_int_equal(mts_ta_rolling_corr(a, b, 3, 3, o3), 0);
    assert_true(fabs(o3[2] - 0.5) < 1e-15);
    /* zero variance on one side -> NaN */
    double c[] = {4, 4, 4}, oc[3];
    assert_int_equal(mts_ta_rolling_corr(a, c, 3, 3, oc), 0);
    assert_true(isnan(oc[2]));
}

static void test_rsi_wilder(void **state) {
    (void)state;
    /* period 3, x = 10, 11, 10.5, 11.5, 12, 11; changes +1, -0.5, +1, +0.5, -1.
     * Seed (i=3): avg gain = (1+0+1)/3 = 2/3, avg loss = (0+0.5+0)/3 = 1/6,
     *   RS = 4 -> RSI = 100 - 100/5 = 80.
     * i=4 (+0.5): gain = (2/3*2 + 0.5)/3 = 11/18, loss = (1/6*2 + 0)/3 = 1/9,
     *   RS = 5.5 -> 100 - 100/6.5 = 84.615384615384613.
     * i=5 (-1): gain = (11/18*2)/3 = 11/27, loss = (1/9*2 + 1)/3 = 11/27,
     *   RS = 1 -> 50. */
    double x[] = {10, 11, 10.5, 11.5, 12, 11}, out[6];
    double want[] = {NAN, NAN, NAN, 80, 84.615384615384613, 50};
    assert_int_equal(mts_ta_rsi(x, 6, 3, out), 0);
    expect_series(out, want, 6, 1e-12);
    /* only gains: avg loss 0 -> 100 */
    double up[] = {1, 2, 3, 4}, o4[4];
    assert_int_equal(mts_ta_rsi(up, 4, 2, o4), 0);
    assert_true(isnan(o4[1]) && o4[2] == 100.0 && o4[3] == 100.0);
}

static void test_rsi_nan_restarts(void **state) {
    (void)state;
    /* period 2. NaN at index 2 -> out[2] NaN; seeding restarts at x[3]:
     * changes after it: x4-x3 = +2, x5-x4 = -1 -> seed at i=5: gain 2/2 = 1,
     * loss 1/2 = 0.5, RS = 2 -> 100 - 100/3 = 66.666666666666671.
     * i=6 (+1): gain (1*1 + 1)/2 = 1, loss (0.5*1 + 0)/2 = 0.25, RS 4 -> 80. */
    double x[] = {1, 2, NAN, 5, 7, 6, 7}, out[7];
    double want[] = {NAN, NAN, NAN, NAN, NAN, 66.666666666666671, 80};
    assert_int_equal(mts_ta_rsi(x, 7, 2, out), 0);
    expect_series(out, want, 7, 1e-12);
}

static void test_drawdown(void **state) {
    (void)state;
    /* peaks 100,120,120,130,130: 0, 0, (120-90)/120 = 0.25, 0, (130-65)/130 = 0.5;
     * NaN at index 5 -> NaN, peak kept: (130-117)/130 = 0.1 */
    double x[] = {100, 120, 90, 130, 65, NAN, 117}, out[7];
    double want[] = {0, 0, 0.25, 0, 0.5, NAN, 0.1};
    assert_int_equal(mts_ta_drawdown(x, 7, out), 0);
    expect_series(out, want, 7, 1e-15);
}

static void test_pct_rank(void **state) {
    (void)state;
    /* w=3 on {3,1,2,2,0}:
     *   i=2 {3,1,2}: values <= 2 are 1,2 -> 2/3
     *   i=3 {1,2,2}: all <= 2 -> 1
     *   i=4 {2,2,0}: only 0 <= 0 -> 1/3 */
    double x[] = {3, 1, 2, 2, 0}, out[5];
    double want[] = {NAN, NAN, 2.0 / 3, 1, 1.0 / 3};
    assert_int_equal(mts_ta_pct_rank(x, 5, 3, out), 0);
    expect_series(out, want, 5, 1e-15);
    /* expanding (w=0): 1/1, {3,1}<=1 -> 1/2, {3,1,2}<=2 -> 2/3, {3,1,2,2}<=2 -> 3/4, <=0 -> 1/5 */
    double want0[] = {1, 0.5, 2.0 / 3, 0.75, 0.2};
    assert_int_equal(mts_ta_pct_rank(x, 5, 0, out), 0);
    expect_series(out, want0, 5, 1e-15);
    /* expanding skips NaN: {3}, NaN, {3,1}<=1 -> 1/2 */
    double y[] = {3, NAN, 1}, o3[3];
    double wanty[] = {1, NAN, 0.5};
    assert_int_equal(mts_ta_pct_rank(y, 3, -1, o3), 0);
    expect_series(o3, wanty, 3, 1e-15);
    /* windowed: NaN poisons windows containing it */
    double z[] = {1, NAN, 2, 3, 4}, oz[5];
    double wantz[] = {NAN, NAN, NAN, NAN, 1};
    assert_int_equal(mts_ta_pct_rank(z, 5, 3, oz), 0);
    expect_series(oz, wantz, 5, 0);
}

static void test_pct_rank_enomem(void **state) {
    (void)state;
    double x[] = {1, 2, 3}, out[3];
    mts_alloc_fail_after(0);
    assert_int_equal(mts_ta_pct_rank(x, 3, 2, out), MTS_ENOMEM);
    mts_alloc_fail_after(1);
    assert_int_equal(mts_ta_pct_rank(x, 3, 2, out), MTS_ENOMEM);
    mts_alloc_fail_after(-1);
    assert_int_equal(mts_ta_pct_rank(x, 3, 2, out), 0);
}

static void test_pct_change_diff(void **state) {
    (void)state;
    /* 110/100 - 1 = 0.1, 99/110 - 1 = -0.1; previous 0 -> NaN; NaN propagates */
    double x[] = {100, 110, 99, 0, 5, NAN, 7}, out[7];
    double wantp[] = {NAN, 0.1, -0.1, -1, NAN, NAN, NAN};
    assert_int_equal(mts_ta_pct_change(x, 7, out), 0);
    expect_series(out, wantp, 7, 1e-15);
    /* 110-100 = 10, 99-110 = -11, 0-99 = -99, 5-0 = 5 */
    double wantd[] = {NAN, 10, -11, -99, 5, NAN, NAN};
    assert_int_equal(mts_ta_diff(x, 7, out), 0);
    expect_series(out, wantd, 7, 0);
}

static void test_align_asof_gaps(void **state) {
    (void)state;
    /* src: 10->1, 20->2, 30->NaN (skipped), 40->4
     * dst 5: nothing yet -> NaN; 10 -> 1; 15 -> 1; 25 -> 2; 30 -> 2 (NaN skipped);
     * 35 -> 2; 40 -> 4; 50 -> 4 */
    int64_t sts[] = {10, 20, 30, 40};
    double  sv[]  = {1, 2, NAN, 4};
    int64_t dts[] = {5, 10, 15, 25, 30, 35, 40, 50};
    double out[8];
    double want[] = {NAN, 1, 1, 2, 2, 2, 4, 4};
    assert_int_equal(mts_ta_align_asof(sts, sv, 4, dts, 8, out), 0);
    expect_series(out, want, 8, 0);
    /* daily macro on weekdays, bars every day: the weekend repeats Friday */
    int64_t day = 86400;
    int64_t mts_[] = {0 * day, 1 * day, 4 * day};        /* Thu, Fri, Mon */
    double  mv[]   = {20, 22, 30};
    int64_t bts[]  = {0 * day, 1 * day, 2 * day, 3 * day, 4 * day};
    double  ob[5], wb[] = {20, 22, 22, 22, 30};
    assert_int_equal(mts_ta_align_asof(mts_, mv, 3, bts, 5, ob), 0);
    expect_series(ob, wb, 5, 0);
    /* unsorted src is rejected */
    int64_t bad[] = {10, 5};
    assert_int_equal(mts_ta_align_asof(bad, sv, 2, dts, 8, out), MTS_EINVAL);
    /* dst going backwards is still answered correctly */
    int64_t back[] = {40, 15};
    double ob2[2], wb2[] = {4, 1};
    assert_int_equal(mts_ta_align_asof(sts, sv, 4, back, 2, ob2), 0);
    expect_series(ob2, wb2, 2, 0);
}

static void test_invalid_args(void **state) {
    (void)state;
    double x[3] = {1, 2, 3}, out[3];
    int64_t ts[3] = {1, 2, 3};
    assert_int_equal(mts_ta_sma(NULL, 3, 2, out), MTS_EINVAL);
    assert_int_equal(mts_ta_sma(x, 3, 0, out), MTS_EINVAL);
    assert_int_equal(mts_ta_sma(x, -1, 2, out), MTS_EINVAL);
    assert_int_equal(mts_ta_sma(x, 3, 2, NULL), MTS_EINVAL);
    assert_int_equal(mts_ta_rolling_std(x, 3, 0, out), MTS_EINVAL);
    assert_int_equal(mts_ta_rolling_corr(x, NULL, 3, 2, out), MTS_EINVAL);
    assert_int_equal(mts_ta_rsi(x, 3, 0, out), MTS_EINVAL);
    assert_int_equal(mts_ta_drawdown(x, -1, out), MTS_EINVAL);
    assert_int_equal(mts_ta_pct_rank(NULL, 3, 2, out), MTS_EINVAL);
    assert_int_equal(mts_ta_pct_change(x, 3, NULL), MTS_EINVAL);
    assert_int_equal(mts_ta_diff(NULL, 3, out), MTS_EINVAL);
    assert_int_equal(mts_ta_align_asof(ts, x, 3, NULL, 3, out), MTS_EINVAL);
    /* n = 0 is fine */
    assert_int_equal(mts_ta_sma(x, 0, 2, out), 0);
    assert_int_equal(mts_ta_pct_rank(x, 0, 2, out), 0);
}

/* ---- against naive implementations ---------------------------------------- */

static uint64_t rng_state;
static double rnd(void) {               /* xorshift64*, uniform in [0,1) */
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

#define LONG_N 3000

/* A random walk around `level`, with a huge spike and a NaN or two in it, so
 * that windows lose a large value (cancellation) and regain cleanliness. */
static void make_series(double *x, double level, int with_nan) {
    double v = level;
    for (int i = 0; i < LONG_N; i++) {
        v += (rnd() - 0.5) * level * 0.02;
        x[i] = v;
    }
    x[700] = level * 1e6;            /* spike */
    x[1500] = x[1499];               /* short flat stretch */
    x[1501] = x[1499];
    if (with_nan) { x[1000] = NAN; x[2222] = NAN; }
}

static int window_clean(const double *x, int i, int w) {
    if (i < w - 1) return 0;
    for (int j = i - w + 1; j <= i; j++) if (isnan(x[j])) return 0;
    return 1;
}

static void naive_sma(const double *x, int w, double *o) {
    for (int i = 0; i < LONG_N; i++) {
        if (!window_clean(x, i, w)) { o[i] = NAN; continue; }
        double s = 0; for (int j = i - w + 1; j <= i; j++) s += x[j];
        o[i] = s / w;
    }
}

static void naive_std(const double *x, int w, double *o) {
    for (int i = 0; i < LONG_N; i++) {
        if (w < 2 || !window_clean(x, i, w)) { o[i] = NAN; continue; }
        double s = 0; for (int j = i - w + 1; j <= i; j++) s += x[j];
        double m = s / w, q = 0;
        for (int j = i - w + 1; j <= i; j++) q += (x[j] - m) * (x[j] - m);
        o[i] = sqrt(q / (w - 1));
    }
}

static void naive_corr(const double *x, const double *y, int w, double *o) {
    for (int i = 0; i < LONG_N; i++) {
        if (w < 2 || !window_clean(x, i, w) || !window_clean(y, i, w)) { o[i] = NAN; continue; }
        double sx = 0, sy = 0;
        for (int j = i - w + 1; j <= i; j++) { sx += x[j]; sy += y[j]; }
        double mx = sx / w, my = sy / w, cxx = 0, cyy = 0, cxy = 0;
        for (int j = i - w + 1; j <= i; j++) {
            cxx += (x[j] - mx) * (x[j] - mx); cyy += (y[j] - my) * (y[j] - my);
            cxy += (x[j] - mx) * (y[j] - my);
        }
        o[i] = (cxx == 0 || cyy == 0) ? NAN : cxy / sqrt(cxx * cyy);
    }
}

static void naive_pct_rank(const double *x, int w, double *o) {
    for (int i = 0; i < LONG_N; i++) {
        if (!window_clean(x, i, w)) { o[i] = NAN; continue; }
        int c = 0; for (int j = i - w + 1; j <= i; j++) c += x[j] <= x[i];
        o[i] = (double)c / w;
    }
}

/* Compare with a tolerance relative to the window's scale. */
static void expect_close_rel(const double *out, const double *want, double rel) {
    for (int i = 0; i < LONG_N; i++) {
        if (isnan(want[i])) {
            if (!isnan(out[i])) fail_msg("index %d: want NaN, got %.17g", i, out[i]);
            continue;
        }
        double tol = rel * (fabs(want[i]) > 1 ? fabs(want[i]) : 1);
        if (isnan(out[i]) || fabs(out[i] - want[i]) > tol)
            fail_msg("index %d: want %.17g, got %.17g", i, want[i], out[i]);
    }
}

static void test_against_naive(void **state) {
    (void)state;
    static double x[LONG_N], y[LONG_N], out[LONG_N], want[LONG_N];
    const int windows[] = {1, 2, 3, 7, 30, 252};
    const double levels[] = {1.0, 50000.0};
    rng_state = 0x9E3779B97F4A7C15ULL;
    for (int li = 0; li < 2; li++) {
        for (int with_nan = 0; with_nan <= 1; with_nan++) {
            make_series(x, levels[li], with_nan);
            make_series(y, levels[li] * 0.5, 0);
            y[1800] = NAN;
            for (size_t wi = 0; wi < sizeof windows / sizeof windows[0]; wi++) {
                int w = windows[wi];
                naive_sma(x, w, want);
                assert_int_equal(mts_ta_sma(x, LONG_N, w, out), 0);
                expect_close_rel(out, want, 1e-9);

                naive_std(x, w, want);
                assert_int_equal(mts_ta_rolling_std(x, LONG_N, w, out), 0);
                /* std is relative to the data's level, not to itself */
                for (int i = 0; i < LONG_N; i++) {
                    if (isnan(want[i])) { assert_true(isnan(out[i])); continue; }
                    assert_false(isnan(out[i]));
                    if (fabs(out[i] - want[i]) > 1e-9 * levels[li] + 1e-9 * want[i])
                        fail_msg("std w=%d i=%d want %.17g got %.17g", w, i, want[i], out[i]);
                }

                naive_corr(x, y, w, want);
                assert_int_equal(mts_ta_rolling_corr(x, y, LONG_N, w, out), 0);
                for (int i = 0; i < LONG_N; i++) {
                    if (isnan(want[i])) { assert_true(isnan(out[i])); continue; }
                    if (isnan(out[i]) || fabs(out[i] - want[i]) > 1e-7)
                        fail_msg("corr w=%d i=%d want %.17g got %.17g", w, i, want[i], out[i]);
                }

                naive_pct_rank(x, w, want);
                assert_int_equal(mts_ta_pct_rank(x, LONG_N, w, out), 0);
                expect_close_rel(out, want, 1e-15);
            }
        }
    }
}

/* A jump from level 1 to level 1e8 with noise of +-0.5 (8 digits below the
 * level): once the old level has left the window, the sums' shift is far from
 * the data; the result must still match the naive two-pass computation. */
static void test_level_shift(void **state) {
    (void)state;
    static double x[LONG_N], y[LONG_N], out[LONG_N], want[LONG_N];
    rng_state = 777;
    for (int i = 0; i < LONG_N; i++) {
        x[i] = (i < 500 ? 1.0 : 1e8) + (rnd() - 0.5);
        y[i] = (rnd() - 0.5);
    }
    const int windows[] = {2, 30, 252};
    for (int wi = 0; wi < 3; wi++) {
        int w = windows[wi];
        naive_std(x, w, want);
        assert_int_equal(mts_ta_rolling_std(x, LONG_N, w, out), 0);
        for (int i = 0; i < LONG_N; i++) {
            if (isnan(want[i])) { assert_true(isnan(out[i])); continue; }
            /* the data themselves carry 1e8 * eps = 1.5e-8 of rounding */
            if (fabs(out[i] - want[i]) > 1e-6 * want[i] + 1e-7)
                fail_msg("std w=%d i=%d want %.17g got %.17g", w, i, want[i], out[i]);
        }
        naive_corr(x, y, w, want);
        assert_int_equal(mts_ta_rolling_corr(x, y, LONG_N, w, out), 0);
        for (int i = 0; i < LONG_N; i++) {
            if (isnan(want[i])) { assert_true(isnan(out[i])); continue; }
            if (isnan(out[i]) || fabs(out[i] - want[i]) > 1e-5)
                fail_msg("corr w=%d i=%d want %.17g got %.17g", w, i, want[i], out[i]);
        }
    }
}

/* RSI against a direct transcription of Wilder's definition on a long series. */
/* The streaming mean must give exactly (bit for bit) what the batch SMA gives,
 * NaN windows included, for several windows: strategies may use either and
 * must see the same crosses. The batch values are checked against the naive
 * mean elsewhere; here the two implementations are compared with ==. */
static void test_rolling_stream_equals_batch(void **state) {
    (void)state;
    static double x[LONG_N], batch[LONG_N];
    rng_state = 0x5eed5eedULL;
    make_series(x, 30000.0, 1);
    const int32_t windows[] = {1, 2, 7, 30, 250};
    for (size_t k = 0; k < sizeof windows / sizeof windows[0]; k++) {
        int32_t w = windows[k];
        assert_int_equal(mts_ta_sma(x, LONG_N, w, batch), 0);
        mts_rolling_t *r = mts_rolling_new(w);
        assert_non_null(r);
        for (int i = 0; i < LONG_N; i++) {
            double v = mts_rolling_mean_push(r, x[i]);
            if (isnan(batch[i])) assert_true(isnan(v));
            else assert_true(v == batch[i]);
        }
        mts_rolling_free(r);
    }
    assert_null(mts_rolling_new(0));
    mts_rolling_free(NULL);
}

static void test_rsi_against_naive(void **state) {
    (void)state;
    static double x[LONG_N], out[LONG_N];
    rng_state = 12345;
    make_series(x, 100.0, 0);
    const int period = 14;
    assert_int_equal(mts_ta_rsi(x, LONG_N, period, out), 0);
    double ag = 0, al = 0;
    for (int i = 1; i <= period; i++) {
        double c = x[i] - x[i - 1];
        if (c > 0) ag += c; else al -= c;
    }
    ag /= period; al /= period;
    for (int i = 0; i < period; i++) assert_true(isnan(out[i]));
    for (int i = period; i < LONG_N; i++) {
        if (i > period) {
            double c = x[i] - x[i - 1];
            ag = (ag * (period - 1) + (c > 0 ? c : 0)) / period;
            al = (al * (period - 1) + (c < 0 ? -c : 0)) / period;
        }
        double want = al == 0 ? 100 : 100 - 100 / (1 + ag / al);
        if (fabs(out[i] - want) > 1e-9) fail_msg("rsi i=%d want %.17g got %.17g", i, want, out[i]);
    }
}

/* ---- EMA, ATR, MACD, Bollinger bands, VWAP, rolling min/max: values worked
 * by hand as exact fractions (arithmetic in the comments; re-checked with
 * python3's fractions module, not with this code) ------------------------ */

static void test_ema_by_hand(void **state) {
    (void)state;
    /* n=3, k=2/4=0.5, seeded with the mean of the first 3 (TA-Lib):
     * (1+2+3)/3=2; then e=(x-e)*0.5+e: 3, 4, 5, 5, 4.5, 3.75, 2.875 */
    double x[] = {1, 2, 3, 4, 5, 6, 5, 4, 3, 2}, out[10];
    double want[] = {NAN, NAN, 2, 3, 4, 5, 5, 4.5, 3.75, 2.875};
    assert_int_equal(mts_ta_ema(x, 10, 3, out), 0);
    expect_series(out, want, 10, 0);
    /* n=1 is the series itself */
    assert_int_equal(mts_ta_ema(x, 10, 1, out), 0);
    expect_series(out, x, 10, 0);
    /* a NaN restarts the seeding: mean(4,5,6)=5 at index 6, then (5-5)*.5+5=5 */
    double y[] = {1, 2, 3, NAN, 4, 5, 6, 5}, o2[8];
    double w2[] = {NAN, NAN, 2, NAN, NAN, NAN, 5, 5};
    assert_int_equal(mts_ta_ema(y, 8, 3, o2), 0);
    expect_series(o2, w2, 8, 0);
}

static void test_atr_by_hand(void **state) {
    (void)state;
    /* Wilder, n=3. TR needs the previous close:
     * 1: max(11-9, |11-9|, |9-9|)       = 2
     * 2: max(12-10, |12-10.5|, |10-10.5|) = 2
     * 3: max(14-12, |14-11|, |12-11|)   = 3   (gap up)  ATR = (2+2+3)/3 = 7/3
     * 4: max(13-9, |13-13|, |9-13|)     = 4   ATR = (7/3*2 + 4)/3 = 26/9
     * 5: max(10.5-10, |10.5-10|, |10-10|) = .5 ATR = (26/9*2 + .5)/3 = 113/54 */
    double h[] = {10, 11, 12, 14, 13, 10.5}, l[] = {8, 9, 10, 12, 9, 10}, c[] = {9, 10.5, 11, 13, 10, 10.2};
    double out[6], want[] = {NAN, NAN, NAN, 7.0 / 3, 26.0 / 9, 113.0 / 54};
    assert_int_equal(mts_ta_atr(h, l, c, 6, 3, out), 0);
    expect_series(out, want, 6, 1e-14);
    /* a NaN bar restarts: bar 2 has no previous close, first ATR at 2 + 3 */
    double h2[] = {10, NAN, 12, 14, 13, 10.5, 11}, l2[] = {8, 9, 10, 12, 9, 10, 10},
           c2[] = {9, 10.5, 11, 13, 10, 10.2, 10.5};
    /* TRs from bar 3: 3 (vs 11), 4, .5 -> ATR[5] = 7.5/3 = 2.5; bar 6: max(1, .8, .2) = 1 -> (2.5*2+1)/3 = 2 */
    double o2[7], w2[] = {NAN, NAN, NAN, NAN, NAN, 2.5, 2};
    assert_int_equal(mts_ta_atr(h2, l2, c2, 7, 3, o2), 0);
    expect_series(o2, w2, 7, 1e-14);
}

static void test_macd_by_hand(void **state) {
    (void)state;
    /* fast 2 (k=2/3), slow 3 (k=1/2), signal 2, each EMA seeded with its own SMA.
     * ema2: 1.5, 2.5, 3.5, 4.5, 5.5, 31/6, 79/18, 187/54, 403/162 (from index 1)
     * ema3: 2, 3, 4, 5, 5, 9/2, 15/4, 23/8 (from index 2)
     * line: 1/2, 1/2, 1/2, 1/2, 1/6, -1/9, -31/108, -251/648
     * signal (ema2 of line, seed mean(1/2,1/2) at index 3): 1/2, 1/2, 1/2, 5/18, 1/54, -5/27, -311/972
     * hist = line - signal: 0, 0, 0, -1/9, -7/54, -11/108, -131/1944 */
    double x[] = {1, 2, 3, 4, 5, 6, 5, 4, 3, 2}, line[10], sig[10], hist[10];
    double wl[] = {NAN, NAN, .5, .5, .5, .5, 1.0 / 6, -1.0 / 9, -31.0 / 108, -251.0 / 648};
    double ws[] = {NAN, NAN, NAN, .5, .5, .5, 5.0 / 18, 1.0 / 54, -5.0 / 27, -311.0 / 972};
    double wh[] = {NAN, NAN, NAN, 0, 0, 0, -1.0 / 9, -7.0 / 54, -11.0 / 108, -131.0 / 1944};
    assert_int_equal(mts_ta_macd(x, 10, 2, 3, 2, line, sig, hist), 0);
    expect_series(line, wl, 10, 1e-14);
    expect_series(sig, ws, 10, 1e-14);
    expect_series(hist, wh, 10, 1e-14);
}

static void test_bbands_by_hand(void **state) {
    (void)state;
    /* The textbook population-sd example: 2,4,4,4,5,5,7,9 has mean 5 and
     * population sd 2 (sum of squared deviations 32, /8 = 4). w=8, k=2:
     * 5, 9, 1. With w=3 at index 2 ({2,4,4}): mean 10/3, squared deviations
     * 16/9 + 4/9 + 4/9 = 24/9, /3 = 8/9, sd = sqrt(8)/3 (ddof 0); at index 3
     * ({4,4,4}) sd 0 exactly. */
    double x[] = {2, 4, 4, 4, 5, 5, 7, 9}, m[8], u[8], l[8];
    assert_int_equal(mts_ta_bbands(x, 8, 8, 2.0, m, u, l), 0);
    for (int i = 0; i < 7; i++) assert_true(isnan(m[i]) && isnan(u[i]) && isnan(l[i]));
    assert_true(fabs(m[7] - 5) < 1e-14 && fabs(u[7] - 9) < 1e-14 && fabs(l[7] - 1) < 1e-14);
    assert_int_equal(mts_ta_bbands(x, 8, 3, 1.5, m, u, l), 0);
    double sd = sqrt(8.0) / 3;
    assert_true(fabs(m[2] - 10.0 / 3) < 1e-14);
    assert_true(fabs(u[2] - (10.0 / 3 + 1.5 * sd)) < 1e-14 && fabs(l[2] - (10.0 / 3 - 1.5 * sd)) < 1e-14);
    assert_true(m[3] == 4 && u[3] == 4 && l[3] == 4);
    /* a NaN in the window */
    double y[] = {1, 2, NAN, 4, 5, 6};
    assert_int_equal(mts_ta_bbands(y, 6, 2, 2.0, m, u, l), 0);
    double wm[] = {NAN, 1.5, NAN, NAN, 4.5, 5.5}, wu[] = {NAN, 2.5, NAN, NAN, 5.5, 6.5};
    expect_series(m, wm, 6, 1e-14);
    expect_series(u, wu, 6, 1e-14);
}

static void test_vwap_by_hand(void **state) {
    (void)state;
    /* typical prices (h+l+c)/3: (3+1+2)/3=2, (6+3+3)/3=4, (9+6+6)/3=7, (12+9+9)/3=10
     * volumes 1, 3, 0, 4: tp*v = 2, 12, 0, 40
     * cumulative: 2/1, 14/4=3.5, 14/4=3.5, 54/8=6.75
     * w=2: NaN, 14/4=3.5, 12/3=4, 40/4=10;  w=1 on the 0-volume bar: NaN */
    double h[] = {3, 6, 9, 12}, l[] = {1, 3, 6, 9}, c[] = {2, 3, 6, 9}, v[] = {1, 3, 0, 4}, out[4];
    double wc[] = {2, 3.5, 3.5, 6.75}, w2[] = {NAN, 3.5, 4, 10}, w1[] = {2, 4, NAN, 10};
    assert_int_equal(mts_ta_vwap(h, l, c, v, 4, 0, out), 0);
    expect_series(out, wc, 4, 1e-14);
    assert_int_equal(mts_ta_vwap(h, l, c, v, 4, 2, out), 0);
    expect_series(out, w2, 4, 1e-14);
    assert_int_equal(mts_ta_vwap(h, l, c, v, 4, 1, out), 0);
    expect_series(out, w1, 4, 1e-14);
    /* a NaN bar: NaN there, left out of the cumulative sums (2, NaN, (2+0)/1, (2+40)/5) */
    double v2[] = {1, NAN, 0, 4}, wn[] = {2, NAN, 2, 42.0 / 5};
    assert_int_equal(mts_ta_vwap(h, l, c, v2, 4, 0, out), 0);
    expect_series(out, wn, 4, 1e-14);
}

static void test_rolling_minmax_by_hand(void **state) {
    (void)state;
    /* w=3; index 5 is NaN, so windows 5..7 are NaN */
    double x[] = {5, 1, 4, 2, 8, NAN, 3, 3, 7, 0}, out[10];
    double wmax[] = {NAN, NAN, 5, 4, 8, NAN, NAN, NAN, 7, 7};
    double wmin[] = {NAN, NAN, 1, 1, 2, NAN, NAN, NAN, 3, 0};
    assert_int_equal(mts_ta_rolling_max(x, 10, 3, out), 0);
    expect_series(out, wmax, 10, 0);
    assert_int_equal(mts_ta_rolling_min(x, 10, 3, out), 0);
    expect_series(out, wmin, 10, 0);
    /* w=1: the series itself; decreasing then increasing runs (deque empties and fills) */
    assert_int_equal(mts_ta_rolling_max(x, 10, 1, out), 0);
    expect_series(out, x, 10, 0);
    double d[] = {9, 8, 7, 6, 5, 6, 7, 8, 9, 10}, o[10];
    double dmax[] = {NAN, NAN, NAN, 9, 8, 7, 7, 8, 9, 10}, dmin[] = {NAN, NAN, NAN, 6, 5, 5, 5, 5, 6, 7};
    assert_int_equal(mts_ta_rolling_max(d, 10, 4, o), 0);
    expect_series(o, dmax, 10, 0);
    assert_int_equal(mts_ta_rolling_min(d, 10, 4, o), 0);
    expect_series(o, dmin, 10, 0);
}

/* rolling min/max against the obvious O(n*w) scan on long random series with NaN */
static void test_minmax_against_scan(void **state) {
    (void)state;
    enum { N = 3000 };
    static double x[N], omin[N], omax[N];
    uint64_t r = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        x[i] = (double)(r % 50);               /* many ties */
        if (r % 97 == 0) x[i] = NAN;
    }
    const int32_t ws[] = {1, 2, 5, 17, 100};
    for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++) {
        int32_t w = ws[k];
        assert_int_equal(mts_ta_rolling_min(x, N, w, omin), 0);
        assert_int_equal(mts_ta_rolling_max(x, N, w, omax), 0);
        for (int i = 0; i < N; i++) {
            double lo = INFINITY, hi = -INFINITY;
            int bad = i < w - 1;
            for (int j = i - w + 1; j <= i && !bad; j++) {
                if (isnan(x[j])) bad = 1;
                else { if (x[j] < lo) lo = x[j]; if (x[j] > hi) hi = x[j]; }
            }
            if (bad) { assert_true(isnan(omin[i]) && isnan(omax[i])); continue; }
            if (omin[i] != lo || omax[i] != hi) fail_msg("w=%d i=%d: min %g/%g max %g/%g", w, i, omin[i], lo, omax[i], hi);
        }
    }
}

static void test_new_invalid_args(void **state) {
    (void)state;
    double x[3] = {1, 2, 3}, o[3], o2[3], o3[3];
    assert_int_equal(mts_ta_ema(x, 3, 0, o), MTS_EINVAL);
    assert_int_equal(mts_ta_ema(NULL, 3, 2, o), MTS_EINVAL);
    assert_int_equal(mts_ta_atr(x, x, x, 3, 0, o), MTS_EINVAL);
    assert_int_equal(mts_ta_atr(x, NULL, x, 3, 2, o), MTS_EINVAL);
    assert_int_equal(mts_ta_macd(x, 3, 0, 3, 2, o, o2, o3), MTS_EINVAL);
    assert_int_equal(mts_ta_macd(x, 3, 2, 3, 0, o, o2, o3), MTS_EINVAL);
    assert_int_equal(mts_ta_bbands(x, 3, 1, 2.0, o, o2, o3), MTS_EINVAL);
    assert_int_equal(mts_ta_bbands(x, 3, 2, -1.0, o, o2, o3), MTS_EINVAL);
    assert_int_equal(mts_ta_bbands(x, 3, 2, NAN, o, o2, o3), MTS_EINVAL);
    assert_int_equal(mts_ta_vwap(x, x, x, NULL, 3, 0, o), MTS_EINVAL);
    assert_int_equal(mts_ta_rolling_min(x, 3, 0, o), MTS_EINVAL);
    assert_int_equal(mts_ta_rolling_max(x, -1, 2, o), MTS_EINVAL);
    assert_null(mts_ema_new(0));
    assert_null(mts_atr_new(0));
    assert_null(mts_macd_new(12, 26, 0));
    assert_null(mts_bbands_new(1, 2.0));
    assert_null(mts_rollext_new(0, 1));
    mts_ema_free(NULL); mts_atr_free(NULL); mts_macd_free(NULL);
    mts_bbands_free(NULL); mts_vwap_free(NULL); mts_rollext_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sma_small),
        cmocka_unit_test(test_sma_nan),
        cmocka_unit_test(test_std_small),
        cmocka_unit_test(test_corr_small),
        cmocka_unit_test(test_rsi_wilder),
        cmocka_unit_test(test_rsi_nan_restarts),
        cmocka_unit_test(test_drawdown),
        cmocka_unit_test(test_pct_rank),
        cmocka_unit_test(test_pct_rank_enomem),
        cmocka_unit_test(test_pct_change_diff),
        cmocka_unit_test(test_align_asof_gaps),
        cmocka_unit_test(test_invalid_args),
        cmocka_unit_test(test_against_naive),
        cmocka_unit_test(test_level_shift),
        cmocka_unit_test(test_rsi_against_naive),
        cmocka_unit_test(test_rolling_stream_equals_batch),
        cmocka_unit_test(test_ema_by_hand),
        cmocka_unit_test(test_atr_by_hand),
        cmocka_unit_test(test_macd_by_hand),
        cmocka_unit_test(test_bbands_by_hand),
        cmocka_unit_test(test_vwap_by_hand),
        cmocka_unit_test(test_rolling_minmax_by_hand),
        cmocka_unit_test(test_minmax_against_scan),
        cmocka_unit_test(test_new_invalid_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
