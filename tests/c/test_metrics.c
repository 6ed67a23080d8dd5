/* test_metrics.c — metrics on small curves whose every number is worked out
 * by hand in the comments (returns, mean, deviations, variance). Expected
 * values are written as the closed-form arithmetic of those comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "portfolio/metrics.h"

#define assert_double_equal(a, b, eps) do { double a_ = (a), b_ = (b);                  \
        if (!(a_ == b_) && !(fabs(a_ - b_) <= (eps)))                                    \
            fail_msg("%s = %.15g, expected %.15g (eps %g)", #a, a_, b_, (double)(eps)); \
    } while (0)
#define assert_nan(x) do { double x_ = (x); if (!isnan(x_)) fail_msg("%s = %.15g, expected NaN", #x, x_); } while (0)

#define D   86400
#define T0  1704067200LL      /* 2024-01-01 00:00:00 UTC = 19723 days * 86400 */
#define H   3600

static mts_series_t series(int64_t *ts, double *v, int64_t n) {
    mts_series_t s = {ts, v, n, n};
    return s;
}

/* Daily curve, initial 100, one point per day at noon, day 2 missing:
 *   day0 110, day1 99, day2 (none -> 99 carried), day3 118.8, day4 100.98
 * returns: 110/100-1 = 0.1; 99/110-1 = -0.1; 99/99-1 = 0; 118.8/99-1 = 0.2;
 *          100.98/118.8-1 = -0.15            (118.8 * 0.85 = 100.98)
 * sum 0.05, mean 0.01; deviations 0.09 -0.11 -0.01 0.19 -0.16;
 * squares 0.0081 + 0.0121 + 0.0001 + 0.0361 + 0.0256 = 0.082; var = 0.082/4 = 0.0205
 * volatility = sqrt(0.0205) * sqrt(365)
 * sharpe(rf 0)      = 0.01 / sqrt(0.0205) * sqrt(365)
 * sharpe(rf 0.0365) = (0.01 - 0.0365/365) / sqrt(0.0205) * sqrt(365) = 0.0099 / sqrt(0.0205) * sqrt(365)
 * total return 100.98/100 - 1 = 0.0098
 * years = (day4 noon - day0 noon) / 365 days = 4/365; annualized = 1.0098^(365/4) - 1
 * drawdown: peak 110 -> 99: 11/110 = 0.1; peak 118.8 -> 100.98: 17.82/118.8 = 0.15 -> 0.15
 * calmar = annualized / 0.15 */
static int64_t g_ts[4] = {T0 + 12 * H, T0 + D + 12 * H, T0 + 3 * D + 12 * H, T0 + 4 * D + 12 * H};
static double  g_v[4]  = {110, 99, 118.8, 100.98};

static void test_daily_gap_carry(void **state) {
    (void)state;
    mts_series_t eq = series(g_ts, g_v, 4), out = {0};
    assert_int_equal(mts_metrics_daily(&eq, &out), 0);
    assert_int_equal(out.n, 5);
    const double ev[5] = {110, 99, 99, 118.8, 100.98};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(out.ts[i], T0 + i * D);
        assert_double_equal(out.v[i], ev[i], 0);
    }
    /* reuse of out: a shorter input shrinks n, keeps the arrays */
    mts_series_t one = series(g_ts, g_v, 1);
    assert_int_equal(mts_metrics_daily(&one, &out), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.ts[0], T0);
    mts_series_t none = series(NULL, NULL, 0);
    assert_int_equal(mts_metrics_daily(&none, &out), 0);
    assert_int_equal(out.n, 0);
    mts_free(out.ts);
    mts_free(out.v);
}

static void test_metrics_daily_curve(void **state) {
    (void)state;
    mts_series_t eq = series(g_ts, g_v, 4);
    /* trades: +10, -5, 0, +20 -> wins 2 of 4 (0 is not a win) = 0.5;
     * profit factor (10 + 20) / 5 = 6 */
    mts_trade_t tr[4] = {{.pnl = 10}, {.pnl = -5}, {.pnl = 0}, {.pnl = 20}};
    mts_metrics_t m;
    assert_int_equal(mts_metrics_compute(&eq, 100, 0, tr, 4, &m), 0);
    assert_double_equal(m.initial_capital, 100, 0);
    assert_double_equal(m.final_value, 100.98, 0);
    assert_double_equal(m.total_return, 0.0098, 1e-12);
    assert_double_equal(m.annualized_return, pow(1.0098, 365.0 / 4) - 1, 1e-9);
    assert_double_equal(m.volatility, sqrt(0.0205) * sqrt(365.0), 1e-12);
    assert_double_equal(m.sharpe_ratio, 0.01 / sqrt(0.0205) * sqrt(365.0), 1e-12);
    assert_double_equal(m.max_drawdown, 0.15, 1e-12);
    assert_double_equal(m.calmar_ratio, (pow(1.0098, 365.0 / 4) - 1) / 0.15, 1e-8);
    assert_double_equal(m.win_rate, 0.5, 0);
    assert_double_equal(m.profit_factor, 6, 1e-12);
    assert_int_equal(m.trade_count, 4);
    assert_int_equal(m.n_periods, 5);

    /* with rf = 3.65% a year: daily rf 0.0001, mean excess 0.0099 */
    assert_int_equal(mts_metrics_compute(&eq, 100, 0.0365, tr, 4, &m), 0);
    assert_double_equal(m.sharpe_ratio, 0.0099 / sqrt(0.0205) * sqrt(365.0), 1e-12);
    assert_double_equal(m.volatility, sqrt(0.0205) * sqrt(365.0), 1e-12);   /* rf does not move vol */
}

/* Intraday curve, initial 1000, several points a day:
 *   day0 06:00 1050, 12:00 945, 18:00 1020 (last)
 *   day1 03:00 1100, 09:00 880, 23:59:59 1071 (last)
 *   day2 12:00 963.9 (last)
 * daily 1020, 1071, 963.9 -> returns 0.02, 0.05 (1071 = 1020*1.05), -0.1 (963.9 = 1071*0.9)
 * mean -0.03/3 = -0.01; deviations 0.03 0.06 -0.09; squares 0.0009+0.0036+0.0081 = 0.0126;
 * var 0.0126/2 = 0.0063.
 * drawdown on every point: 1050->945 = 0.1; 1100->880 = 220/1100 = 0.2; 1100->963.9 = 0.1237..
 *   -> 0.2 (the daily closes alone would give only 1071->963.9 = 0.1)
 * total return 963.9/1000 - 1 = -0.0361; years = (2 days + 6 h) / 365 days = 2.25/365 */
static void test_metrics_intraday(void **state) {
    (void)state;
    int64_t ts[7] = {T0 + 6 * H, T0 + 12 * H, T0 + 18 * H, T0 + D + 3 * H, T0 + D + 9 * H,
                     T0 + 2 * D - 1, T0 + 2 * D + 12 * H};
    double v[7] = {1050, 945, 1020, 1100, 880, 1071, 963.9};
    mts_series_t eq = series(ts, v, 7), out = {0};
    assert_int_equal(mts_metrics_daily(&eq, &out), 0);
    assert_int_equal(out.n, 3);
    assert_double_equal(out.v[0], 1020, 0);
    assert_double_equal(out.v[1], 1071, 0);
    assert_double_equal(out.v[2], 963.9, 0);
    assert_int_equal(out.ts[2], T0 + 2 * D);
    mts_free(out.ts);
    mts_free(out.v);

    mts_metrics_t m;
    assert_int_equal(mts_metrics_compute(&eq, 1000, 0, NULL, 0, &m), 0);
    assert_int_equal(m.n_periods, 3);
    assert_double_equal(m.final_value, 963.9, 0);
    assert_double_equal(m.total_return, -0.0361, 1e-12);
    assert_double_equal(m.annualized_return, pow(0.9639, 365.0 / 2.25) - 1, 1e-12);
    assert_double_equal(m.max_drawdown, 0.2, 1e-12);
    assert_double_equal(m.volatility, sqrt(0.0063) * sqrt(365.0), 1e-12);
    assert_double_equal(m.sharpe_ratio, -0.01 / sqrt(0.0063) * sqrt(365.0), 1e-12);
    assert_double_equal(m.calmar_ratio, (pow(0.9639, 365.0 / 2.25) - 1) / 0.2, 1e-12);
    assert_nan(m.win_rate);               /* no trades */
    assert_nan(m.profit_factor);
    assert_int_equal(m.trade_count, 0);
}

/* Profit factor and win rate edge cases. */
static void test_trade_stats(void **state) {
    (void)state;
    int64_t ts[2] = {T0, T0 + D};
    double v[2] = {100, 100};
    mts_series_t eq = series(ts, v, 2);
    mts_metrics_t m;
    /* wins and no losses: +3 and 0 -> PF +inf, win rate 1/2 */
    mts_trade_t a[2] = {{.pnl = 3}, {.pnl = 0}};
    assert_int_equal(mts_metrics_compute(&eq, 100, 0, a, 2, &m), 0);
    assert_true(isinf(m.profit_factor) && m.profit_factor > 0);
    assert_double_equal(m.win_rate, 0.5, 0);
    /* neither wins nor losses: PF NaN, win rate 0/1 = 0 */
    mts_trade_t b[1] = {{.pnl = 0}};
    assert_int_equal(mts_metrics_compute(&eq, 100, 0, b, 1, &m), 0);
    assert_nan(m.profit_factor);
    assert_double_equal(m.win_rate, 0, 0);
    /* losses only: PF 0 / 7 = 0, win rate 0 */
    mts_trade_t c[2] = {{.pnl = -3}, {.pnl = -4}};
    assert_int_equal(mts_metrics_compute(&eq, 100, 0, c, 2, &m), 0);
    assert_double_equal(m.profit_factor, 0, 0);
    assert_double_equal(m.win_rate, 0, 0);
    assert_int_equal(m.trade_count, 2);
}

/* Flat curve: returns all 0 -> std 0 -> sharpe NaN, vol 0, mdd 0 -> calmar NaN.
 * One point: 1 return -> sharpe/vol NaN; years 0 -> annualized NaN. */
static void test_degenerate(void **state) {
    (void)state;
    int64_t ts[3] = {T0, T0 + D, T0 + 2 * D};
    double v[3] = {500, 500, 500};
    mts_series_t eq = series(ts, v, 3);
    mts_metrics_t m;
    assert_int_equal(mts_metrics_compute(&eq, 500, 0, NULL, 0, &m), 0);
    assert_double_equal(m.total_return, 0, 0);
    assert_double_equal(m.annualized_return, 0, 0);   /* 1^(365/2) - 1 */
    assert_nan(m.sharpe_ratio);
    assert_double_equal(m.volatility, 0, 0);
    assert_double_equal(m.max_drawdown, 0, 0);
    assert_nan(m.calmar_ratio);

    mts_series_t one = series(ts, v, 1);
    assert_int_equal(mts_metrics_compute(&one, 400, 0, NULL, 0, &m), 0);
    assert_double_equal(m.total_return, 0.25, 0);     /* 500/400 - 1 */
    assert_nan(m.annualized_return);
    assert_nan(m.sharpe_ratio);
    assert_nan(m.volatility);
    assert_int_equal(m.n_periods, 1);

    /* no points at all: final value = initial */
    mts_series_t none = series(NULL, NULL, 0);
    assert_int_equal(mts_metrics_compute(&none, 400, 0, NULL, 0, &m), 0);
    assert_double_equal(m.final_value, 400, 0);
    assert_double_equal(m.total_return, 0, 0);
    assert_int_equal(m.n_periods, 0);
}

/* A curve compounding exactly 1% a day has constant returns; binary rounding
 * makes them differ in the last bits only, which must still read as std == 0. */
static void test_constant_compounding(void **state) {
    (void)state;
    int64_t ts[30];
    double v[30];
    double e = 100;
    for (int i = 0; i < 30; i++) {
        e *= 1.01;
        ts[i] = T0 + (int64_t)i * D;
        v[i] = e;
    }
    mts_series_t eq = series(ts, v, 30);
    mts_metrics_t m;
    assert_int_equal(mts_metrics_compute(&eq, 100, 0, NULL, 0, &m), 0);
    assert_nan(m.sharpe_ratio);
    assert_double_equal(m.volatility, 0, 1e-12);
    assert_double_equal(m.max_drawdown, 0, 0);
}

/* Days before 1970 floor correctly: ts -1 is 1969-12-31. */
static void test_daily_negative_ts(void **state) {
    (void)state;
    int64_t ts[2] = {-1, 1};
    double v[2] = {7, 8};
    mts_series_t eq = series(ts, v, 2), out = {0};
    assert_int_equal(mts_metrics_daily(&eq, &out), 0);
    assert_int_equal(out.n, 2);
    assert_int_equal(out.ts[0], -D);
    assert_int_equal(out.ts[1], 0);
    mts_free(out.ts);
    mts_free(out.v);
}

static void test_invalid(void **state) {
    (void)state;
    int64_t ts[2] = {T0 + D, T0};     /* descending */
    double v[2] = {1, 2};
    mts_series_t eq = series(ts, v, 2), out = {0};
    mts_metrics_t m;
    assert_int_equal(mts_metrics_daily(&eq, &out), MTS_EINVAL);
    assert_int_equal(mts_metrics_daily(NULL, &out), MTS_EINVAL);
    assert_int_equal(mts_metrics_compute(&eq, 1, 0, NULL, 0, &m), MTS_EINVAL);
    assert_int_equal(mts_metrics_compute(&eq, 1, 0, NULL, 3, &m), MTS_EINVAL);
    mts_series_t holes = series(NULL, NULL, 2);
    assert_int_equal(mts_metrics_compute(&holes, 1, 0, NULL, 0, &m), MTS_EINVAL);
    assert_int_equal(mts_metrics_daily(&holes, &out), MTS_EINVAL);
    mts_free(out.ts);
    mts_free(out.v);
}

/* A 1h run annualises by its interval: N = 365*86400/3600 = 8760 hours a year.
 * The daily example's numbers, one point an hour (hour 2 missing, carried):
 *   h0 110, h1 99, h2 (99), h3 118.8, h4 100.98; returns 0.1 -0.1 0 0.2 -0.15,
 *   mean 0.01, var 0.082/4 = 0.0205 (as above)
 * volatility = sqrt(0.0205) * sqrt(8760); sharpe = 0.01 / sqrt(0.0205) * sqrt(8760)
 * rf 8.76 %: rf/N = 0.0876/8760 = 0.00001 -> (0.01 - 0.00001) = 0.00999
 * years = 4 h / 8760 h; annualized = 1.0098^(8760/4) - 1 = 1.0098^2190 - 1
 * The same curve taken daily is one day: one return, sharpe and vol undefined. */
static void test_hourly_annualised(void **state) {
    (void)state;
    int64_t ts[4] = {T0, T0 + H, T0 + 3 * H, T0 + 4 * H};
    double v[4] = {110, 99, 118.8, 100.98};
    mts_series_t eq = series(ts, v, 4), out = {0};
    assert_int_equal(mts_metrics_periods(&eq, H, &out), 0);
    assert_int_equal(out.n, 5);
    const double ev[5] = {110, 99, 99, 118.8, 100.98};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(out.ts[i], T0 + i * H);
        assert_double_equal(out.v[i], ev[i], 0);
    }
    mts_free(out.ts);
    mts_free(out.v);
    mts_metrics_t m;
    assert_int_equal(mts_metrics_compute_at(&eq, H, 100, 0, NULL, 0, &m), 0);
    assert_int_equal(m.n_periods, 5);
    assert_int_equal(m.period_s, H);
    assert_double_equal(m.volatility, sqrt(0.0205) * sqrt(8760.0), 1e-11);
    assert_double_equal(m.sharpe_ratio, 0.01 / sqrt(0.0205) * sqrt(8760.0), 1e-11);
    assert_double_equal(m.max_drawdown, 0.15, 1e-12);
    double ann = pow(1.0098, 2190.0) - 1;
    if (!(fabs(m.annualized_return - ann) <= 1e-9 * ann)) fail_msg("annualized %.17g vs %.17g", m.annualized_return, ann);
    assert_int_equal(mts_metrics_compute_at(&eq, H, 100, 0.0876, NULL, 0, &m), 0);
    assert_double_equal(m.sharpe_ratio, 0.00999 / sqrt(0.0205) * sqrt(8760.0), 1e-11);
    /* the 1d view of it: one day, so no sharpe */
    assert_int_equal(mts_metrics_compute(&eq, 100, 0, NULL, 0, &m), 0);
    assert_int_equal(m.n_periods, 1);
    assert_nan(m.sharpe_ratio);
}

/* 4h periods: points inside a period count by their last one; 1w periods open
 * on Mondays (T0 = 2024-01-01 is a Monday).
 * 4h: 00:00 105, 02:00 110 (last of 00-04), 05:00 99 (04-08), 13:00 121 (12-16;
 *     08-12 carries 99) -> 110, 99, 99, 121; returns 0.1, -0.1, 0, 2/9 (121/99 - 1)
 *     N = 2190; mean = (0.1 - 0.1 + 0 + 2/9) / 4 = 1/18;
 *     deviations 0.1-1/18 = 2/45, -0.1-1/18 = -7/45, -1/18, 2/9-1/18 = 1/6;
 *     squares 4/2025 + 49/2025 + 1/324 + 1/36 = 53/2025 + 10/324 (=0.0261728.. + 0.0308641..)
 *     var = (53/2025 + 10/324) / 3 */
static void test_four_hour_and_weekly(void **state) {
    (void)state;
    int64_t ts[4] = {T0, T0 + 2 * H, T0 + 5 * H, T0 + 13 * H};
    double v[4] = {105, 110, 99, 121};
    mts_series_t eq = series(ts, v, 4), out = {0};
    mts_metrics_t m;
    assert_int_equal(mts_metrics_compute_at(&eq, 4 * H, 100, 0, NULL, 0, &m), 0);
    assert_int_equal(m.n_periods, 4);
    double var = (53.0 / 2025 + 10.0 / 324) / 3;
    assert_double_equal(m.volatility, sqrt(var) * sqrt(2190.0), 1e-11);
    assert_double_equal(m.sharpe_ratio, (1.0 / 18) / sqrt(var) * sqrt(2190.0), 1e-11);
    /* weekly: Wed wk0 110, Tue wk1 99, (wk2 carried), Mon wk3 118.8 */
    int64_t wts[3] = {T0 + 2 * D, T0 + 8 * D, T0 + 21 * D};
    double wv[3] = {110, 99, 118.8};
    mts_series_t w = series(wts, wv, 3);
    assert_int_equal(mts_metrics_periods(&w, 7 * D, &out), 0);
    assert_int_equal(out.n, 4);
    assert_int_equal(out.ts[0], T0);
    assert_int_equal(out.ts[1], T0 + 7 * D);
    assert_int_equal(out.ts[2], T0 + 14 * D);
    assert_double_equal(out.v[2], 99, 0);
    assert_int_equal(out.ts[3], T0 + 21 * D);
    /* a length that is no interval */
    assert_int_equal(mts_metrics_periods(&w, 5000, &out), MTS_EINVAL);
    assert_int_equal(mts_metrics_compute_at(&w, 0, 100, 0, NULL, 0, &m), MTS_EINVAL);
    mts_free(out.ts);
    mts_free(out.v);
}

/* Sharpe and volatility are computed without building the period series
 * (metrics.c streams it); here they are worked out from the series that
 * mts_metrics_periods builds, with plain long-double sums, for random curves
 * with gaps (carried periods) and without (one point a period) at several
 * intervals. */
static uint64_t rng_state = 88172645463325252ull;
static double urand(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

static void test_streamed_periods_match_the_series(void **state) {
    (void)state;
    const int64_t periods[] = {60, 300, 3600, 4 * H, D, 3 * D, 7 * D};
    enum { N = 3000 };
    static int64_t ts[N];
    static double v[N];
    for (int c = 0; c < 7; c++) {
        int64_t P = periods[c];
        for (int round = 0; round < 3; round++) {
            int64_t t = T0 + (int64_t)(urand() * 5 * D) - 2 * D;
            double e = 1000;
            for (int i = 0; i < N; i++) {
                /* mostly a period apart, sometimes a few inside one, sometimes gaps */
                double u = urand();
                if (round == 0) t += P;   /* one point a period, no gaps (metrics.c reads it straight) */
                else t += u < 0.2 ? P / 4 : u < 0.9 ? P : P * (2 + (int64_t)(urand() * 5));
                e *= 1 + (urand() - 0.5) * 0.02;
                ts[i] = t;
                v[i] = e;
            }
            mts_series_t eq = series(ts, v, N), per = {0};
            assert_int_equal(mts_metrics_periods(&eq, P, &per), 0);
            long double sum = 0, prev = 1000;
            for (int64_t k = 0; k < per.n; k++) {
                sum += (long double)per.v[k] / prev - 1;
                prev = per.v[k];
            }
            long double mean = sum / per.n, ss = 0;
            prev = 1000;
            for (int64_t k = 0; k < per.n; k++) {
                long double d = ((long double)per.v[k] / prev - 1) - mean;
                ss += d * d;
                prev = per.v[k];
            }
            double sd = (double)sqrtl(ss / (per.n - 1)), N_year = 365.0 * D / (double)P;
            mts_metrics_t m;
            assert_int_equal(mts_metrics_compute_at(&eq, P, 1000, 0.01, NULL, 0, &m), 0);
            assert_int_equal(m.n_periods, per.n);
            double peak = 1000, mdd = 0;   /* drawdown point by point, as metrics.h defines it */
            for (int i = 0; i < N; i++) {
                peak = v[i] > peak ? v[i] : peak;
                mdd = (peak - v[i]) / peak > mdd ? (peak - v[i]) / peak : mdd;
            }
            assert_true(m.max_drawdown == mdd);
            assert_double_equal(m.volatility, sd * sqrt(N_year), 1e-12 * sd * sqrt(N_year));
            double sharpe = ((double)mean - 0.01 / N_year) / sd * sqrt(N_year);
            assert_double_equal(m.sharpe_ratio, sharpe, 1e-9 * fabs(sharpe) + 1e-12);
            mts_free(per.ts);
            mts_free(per.v);
        }
    }
}

/* ---- issue 12: sortino, trade stats, exposure, benchmark, alpha/beta ----
 * The constants below marked "ref" are the output of tests/c/metrics_reference.py
 * (an independent Python calculation from the definitions); the rest are by hand. */

/* Sortino on g (returns 0.1, -0.1, 0, 0.2, -0.15, mean 0.01):
 * rf 0: downside squares 0.01 + 0.0225 = 0.0325, DD = sqrt(0.0325 / 4)
 *       sortino = 0.01 / sqrt(0.0325/4) * sqrt(365)                       (ref 2.119506473759333)
 * rf 0.0365: rf/N = 0.0001; r - 0.0001 below 0: -0.1001, -0.0001, -0.1501;
 *       squares 0.01002001 + 0.00000001 + 0.02253001 = 0.03255003
 *       sortino = 0.0099 / sqrt(0.03255003/4) * sqrt(365)                  (ref 2.0966982171244246) */
static void test_sortino(void **state) {
    (void)state;
    mts_series_t eq = series(g_ts, g_v, 4);
    mts_metrics_t m;
    assert_int_equal(mts_metrics_compute(&eq, 100, 0, NULL, 0, &m), 0);
    assert_double_equal(m.sortino_ratio, 0.01 / sqrt(0.0325 / 4) * sqrt(365.0), 1e-12);
    assert_double_equal(m.sortino_ratio, 2.119506473759333, 1e-12);
    assert_double_equal(m.sharpe_ratio, 0.01 / sqrt(0.0205) * sqrt(365.0), 1e-12);   /* unchanged */
    assert_int_equal(mts_metrics_compute(&eq, 100, 0.0365, NULL, 0, &m), 0);
    assert_double_equal(m.sortino_ratio, 0.0099 / sqrt(0.03255003 / 4) * sqrt(365.0), 1e-12);
    assert_double_equal(m.sortino_ratio, 2.0966982171244246, 1e-12);
    /* no alpha/beta without a benchmark; exposure 0 of 4 points without trades */
    assert_nan(m.alpha);
    assert_nan(m.beta);
    assert_double_equal(m.exposure_time, 0, 0);
    assert_nan(m.avg_trade);
    assert_nan(m.expectancy);
    assert_int_equal(m.longest_losing_streak, 0);

    /* never below rf: DD = 0 -> NaN (110, 121: returns 0.1, 0.1) */
    int64_t ts[2] = {T0, T0 + D};
    double up[2] = {110, 121};
    mts_series_t e2 = series(ts, up, 2);
    assert_int_equal(mts_metrics_compute(&e2, 100, 0, NULL, 0, &m), 0);
    assert_nan(m.sortino_ratio);
    /* one return: NaN */
    mts_series_t e1 = series(ts, up, 1);
    assert_int_equal(mts_metrics_compute(&e1, 100, 0, NULL, 0, &m), 0);
    assert_nan(m.sortino_ratio);
}

/* pnl in exit order 10, -5, -3, 0, -2, -4, -1, 20 (given shuffled; exit_ts orders them):
 * avg_trade 15/8 = 1.875; losers -5 -3 -2 -4 -1, avg loss -3 -> expectancy 1.875/3 = 0.625;
 * streaks: -5 -3 (2), the 0 ends it, -2 -4 -1 (3) -> 3.            (ref 1.875, 0.625, 3)
 * In the order given the streak would be 2 (-2 -4 | 20 | -5 -3 | ...), so the order matters. */
static void test_trade_extras(void **state) {
    (void)state;
    mts_trade_t tr[8] = {
        {.pnl = -2, .exit_ts = 5}, {.pnl = -4, .exit_ts = 6}, {.pnl = 20, .exit_ts = 8},
        {.pnl = -5, .exit_ts = 2}, {.pnl = -3, .exit_ts = 3}, {.pnl = 10, .exit_ts = 1},
        {.pnl = 0, .exit_ts = 4},  {.pnl = -1, .exit_ts = 7},
    };
    int64_t ts[1] = {T0};
    double v[1] = {100};
    mts_series_t eq = series(ts, v, 1);
    mts_metrics_t m;
    assert_int_equal(mts_metrics_compute(&eq, 100, 0, tr, 8, &m), 0);
    assert_double_equal(m.avg_trade, 1.875, 1e-15);
    assert_double_equal(m.expectancy, 0.625, 1e-15);
    assert_int_equal(m.longest_losing_streak, 3);
    /* the old trade metrics are as before: wins 2/8, PF 30/15 */
    assert_double_equal(m.win_rate, 0.25, 0);
    assert_double_equal(m.profit_factor, 2, 0);
    /* equal exit times keep the order given: -1, -1 then +1 at one time -> 2 */
    mts_trade_t tie[3] = {{.pnl = -1, .exit_ts = 9}, {.pnl = -1, .exit_ts = 9}, {.pnl = 1, .exit_ts = 9}};
    assert_int_equal(mts_metrics_trade_stats(tie, 3, NULL, 0, &eq, &m), 0);
    assert_int_equal(m.longest_losing_streak, 2);
    assert_double_equal(m.avg_trade, -1.0 / 3.0, 1e-15);
    assert_double_equal(m.expectancy, (-1.0 / 3.0) / 1.0, 1e-15);
    /* wins only: no losing trade -> expectancy NaN, streak 0 */
    mts_trade_t w[2] = {{.pnl = 4, .exit_ts = 1}, {.pnl = 2, .exit_ts = 2}};
    assert_int_equal(mts_metrics_trade_stats(w, 2, NULL, 0, &eq, &m), 0);
    assert_double_equal(m.avg_trade, 3, 0);
    assert_nan(m.expectancy);
    assert_int_equal(m.longest_losing_streak, 0);
    /* no trades */
    assert_int_equal(mts_metrics_trade_stats(NULL, 0, NULL, 0, &eq, &m), 0);
    assert_nan(m.avg_trade);
    assert_nan(m.expectancy);
    assert_int_equal(m.longest_losing_streak, 0);
    assert_double_equal(m.exposure_time, 0, 0);
    assert_int_equal(mts_metrics_trade_stats(NULL, 1, NULL, 0, &eq, &m), MTS_EINVAL);
    assert_int_equal(mts_metrics_trade_stats(NULL, 0, NULL, 0, NULL, &m), MTS_EINVAL);
}

/* Exposure over 10 daily points, days 0..9. Closed [entry, exit): day1..3 -> points 1, 2;
 * day2..4 -> 2, 3 (overlap counted once); day5 12:00..day6 -> none (no point in it);
 * day6..day6 -> none. Open at the end from day 8 -> points 8, 9.
 * With the open record 5/10 = 0.5; closed only 3/10 = 0.3.          (ref 0.5, 0.3) */
static void test_exposure(void **state) {
    (void)state;
    int64_t ts[10];
    double v[10];
    for (int i = 0; i < 10; i++) { ts[i] = T0 + (int64_t)i * D; v[i] = 100; }
    mts_series_t eq = series(ts, v, 10);
    mts_trade_t closed[4] = {
        {.entry_ts = T0 + 1 * D, .exit_ts = T0 + 3 * D, .pnl = 1},
        {.entry_ts = T0 + 2 * D, .exit_ts = T0 + 4 * D, .pnl = 1},
        {.entry_ts = T0 + 5 * D + 12 * H, .exit_ts = T0 + 6 * D, .pnl = 1},
        {.entry_ts = T0 + 6 * D, .exit_ts = T0 + 6 * D, .pnl = 1},
    };
    /* an open record's exit_ts (the last mark) is not read */
    mts_trade_t open[1] = {{.entry_ts = T0 + 8 * D, .exit_ts = T0 + 9 * D, .pnl = -7}};
    mts_metrics_t m;
    assert_int_equal(mts_metrics_trade_stats(closed, 4, open, 1, &eq, &m), 0);
    assert_double_equal(m.exposure_time, 0.5, 0);
    assert_double_equal(m.avg_trade, 1, 0);            /* the open record is not a trade */
    assert_int_equal(m.longest_losing_streak, 0);
    assert_int_equal(mts_metrics_compute(&eq, 100, 0, closed, 4, &m), 0);
    assert_double_equal(m.exposure_time, 0.3, 0);
    /* a trade before the curve and one after it cover nothing; one across it all covers 1 */
    mts_trade_t out[2] = {{.entry_ts = T0 - 5 * D, .exit_ts = T0 - D}, {.entry_ts = T0 + 20 * D, .exit_ts = T0 + 30 * D}};
    assert_int_equal(mts_metrics_trade_stats(out, 2, NULL, 0, &eq, &m), 0);
    assert_double_equal(m.exposure_time, 0, 0);
    mts_trade_t all[1] = {{.entry_ts = T0 - 5 * D, .exit_ts = T0 + 30 * D}};
    assert_int_equal(mts_metrics_trade_stats(all, 1, NULL, 0, &eq, &m), 0);
    assert_double_equal(m.exposure_time, 1, 0);
    /* no points: NaN */
    mts_series_t none = series(NULL, NULL, 0);
    assert_int_equal(mts_metrics_trade_stats(closed, 4, open, 1, &none, &m), 0);
    assert_nan(m.exposure_time);
}

static mts_bars_t closes(int64_t *ts, double *c, int64_t n) {
    mts_bars_t b;
    memset(&b, 0, sizeof b);
    b.ts = ts;
    b.open = b.high = b.low = b.close = c;
    b.n = b.cap = n;
    return b;
}

/* Benchmark, capital 1000 (500 an asset), grid days 0..4:
 *  A closes 100, 110, NaN, 121, 99 -> 5 units from day 0 (the NaN day keeps 110)
 *  B a bar at day -1 (before the grid: ignored) at 10, then day 2..4 50, 40, 60 -> 10 units from day 2
 *  day0 500 + 500 (B cash) = 1000; day1 550 + 500 = 1050; day2 550 + 500 = 1050;
 *  day3 605 + 400 = 1005; day4 495 + 600 = 1095                       (ref the same)
 * Its metrics (ref): total return 0.095, volatility 0.9782021386603709,
 * sharpe 7.216036159899643, max drawdown 45/1050 = 0.04285714285714286.
 * Strategy 1010, 1030, 1020, 1000, 1080 against it (ref OLS):
 *  rf 0:      beta 0.7093131235931937, alpha 0.8685758016749093
 *  rf 0.0365: beta 0.7093131235931937, alpha 0.8579657306860615 */
static void test_benchmark(void **state) {
    (void)state;
    int64_t ta[5] = {T0, T0 + D, T0 + 2 * D, T0 + 3 * D, T0 + 4 * D};
    double ca[5] = {100, 110, NAN, 121, 99};
    int64_t tb[4] = {T0 - D, T0 + 2 * D, T0 + 3 * D, T0 + 4 * D};
    double cb[4] = {10, 50, 40, 60};
    mts_bars_t a = closes(ta, ca, 5), b = closes(tb, cb, 4);
    const mts_bars_t *bars[2] = {&a, &b};
    double sv[5] = {1010, 1030, 1020, 1000, 1080};
    mts_series_t strat = series(ta, sv, 5), bench = {0};
    assert_int_equal(mts_benchmark_buy_hold(bars, 2, &strat, 1000, &bench), 0);
    assert_int_equal(bench.n, 5);
    const double ev[5] = {1000, 1050, 1050, 1005, 1095};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(bench.ts[i], ta[i]);
        assert_double_equal(bench.v[i], ev[i], 1e-9);
    }
    mts_metrics_t bm;
    assert_int_equal(mts_metrics_compute_at(&bench, 86400, 1000, 0, NULL, 0, &bm), 0);
    assert_double_equal(bm.total_return, 0.09499999999999997, 1e-12);
    assert_double_equal(bm.volatility, 0.9782021386603709, 1e-12);
    assert_double_equal(bm.sharpe_ratio, 7.216036159899643, 1e-9);
    assert_double_equal(bm.max_drawdown, 0.04285714285714286, 1e-15);

    double alpha, beta;
    assert_int_equal(mts_metrics_relative(&strat, &bench, 86400, 1000, 0, &alpha, &beta), 0);
    assert_double_equal(beta, 0.7093131235931937, 1e-12);
    assert_double_equal(alpha, 0.8685758016749093, 1e-12);
    assert_int_equal(mts_metrics_relative(&strat, &bench, 86400, 1000, 0.0365, &alpha, &beta), 0);
    assert_double_equal(beta, 0.7093131235931937, 1e-12);
    assert_double_equal(alpha, 0.8579657306860615, 1e-12);

    /* all at once: the same benchmark, its metrics, alpha/beta into m */
    mts_series_t bench2 = {0};
    mts_metrics_t m, bm2;
    assert_int_equal(mts_metrics_compute_at(&strat, 86400, 1000, 0, NULL, 0, &m), 0);
    assert_int_equal(mts_metrics_benchmark(bars, 2, &strat, 86400, 1000, 0, &bench2, &bm2, &m), 0);
    assert_int_equal(bench2.n, 5);
    assert_double_equal(bench2.v[4], 1095, 1e-9);
    assert_double_equal(bm2.volatility, 0.9782021386603709, 1e-12);
    assert_double_equal(m.beta, 0.7093131235931937, 1e-12);
    assert_double_equal(m.alpha, 0.8685758016749093, 1e-12);

    /* a point between bar times is valued as of the last bar at or before it:
     * day 0 -> 1000; day 2 12:00 -> A 110 (NaN skipped), B 50 -> 1050; day 3 + 1 s -> 1005 */
    int64_t tg[3] = {T0, T0 + 2 * D + 12 * H, T0 + 3 * D + 1};
    double vg[3] = {0, 0, 0};
    mts_series_t grid = series(tg, vg, 3);
    assert_int_equal(mts_benchmark_buy_hold(bars, 2, &grid, 1000, &bench), 0);
    assert_double_equal(bench.v[0], 1000, 1e-9);
    assert_double_equal(bench.v[1], 1050, 1e-9);
    assert_double_equal(bench.v[2], 1005, 1e-9);
    /* the grid starting at day 3: A bought at 121, B at 40; day 4: 500*99/121 + 500*60/40 */
    mts_series_t late = series(ta + 3, sv + 3, 2);
    assert_int_equal(mts_benchmark_buy_hold(bars, 2, &late, 1000, &bench), 0);
    assert_double_equal(bench.v[0], 1000, 1e-9);
    assert_double_equal(bench.v[1], 500.0 * 99 / 121 + 750, 1e-9);

    mts_free(bench.ts);
    mts_free(bench.v);
    mts_free(bench2.ts);
    mts_free(bench2.v);
}

/* An asset whose closes are all NaN stays cash; a benchmark of it alone is flat:
 * zero variance -> beta and alpha NaN. y = 2x + 0.001 by construction:
 * beta 2, alpha 0.001 * 365 = 0.365 (rf 0); rf 0.0365 (0.0001 a day):
 * y - rf = 2 (x - rf) + 0.0011 -> alpha 0.0011 * 365 = 0.4015. */
static void test_alpha_beta_edges(void **state) {
    (void)state;
    int64_t ts[5] = {T0, T0 + D, T0 + 2 * D, T0 + 3 * D, T0 + 4 * D};
    double nan5[5] = {NAN, NAN, NAN, NAN, NAN};
    mts_bars_t dead = closes(ts, nan5, 5);
    const mts_bars_t *one[1] = {&dead};
    double sv[5] = {1010, 1030, 1020, 1000, 1080};
    mts_series_t strat = series(ts, sv, 5), bench = {0};
    assert_int_equal(mts_benchmark_buy_hold(one, 1, &strat, 1000, &bench), 0);
    for (int i = 0; i < 5; i++) assert_double_equal(bench.v[i], 1000, 0);
    double alpha = 0, beta = 0;
    assert_int_equal(mts_metrics_relative(&strat, &bench, 86400, 1000, 0, &alpha, &beta), 0);
    assert_nan(beta);
    assert_nan(alpha);
    /* NULL bars for an asset: cash as well */
    const mts_bars_t *none[2] = {NULL, &dead};
    assert_int_equal(mts_benchmark_buy_hold(none, 2, &strat, 1000, &bench), 0);
    assert_double_equal(bench.v[4], 1000, 0);

    double x[5] = {0.01, -0.02, 0.03, 0.0, 0.02}, bv[5], yv[5], eb = 1000, ey = 1000;
    for (int i = 0; i < 5; i++) {
        eb *= 1 + x[i];
        ey *= 1 + 2 * x[i] + 0.001;
        bv[i] = eb;
        yv[i] = ey;
    }
    mts_series_t b = series(ts, bv, 5), y = series(ts, yv, 5);
    assert_int_equal(mts_metrics_relative(&y, &b, 86400, 1000, 0, &alpha, &beta), 0);
    assert_double_equal(beta, 2, 1e-9);
    assert_double_equal(alpha, 0.365, 1e-9);
    assert_int_equal(mts_metrics_relative(&y, &b, 86400, 1000, 0.0365, &alpha, &beta), 0);
    assert_double_equal(beta, 2, 1e-9);
    assert_double_equal(alpha, 0.4015, 1e-9);
    /* one period: NaN */
    mts_series_t b1 = series(ts, bv, 1), y1 = series(ts, yv, 1);
    assert_int_equal(mts_metrics_relative(&y1, &b1, 86400, 1000, 0, &alpha, &beta), 0);
    assert_nan(beta);
    /* different period grids: EINVAL */
    assert_int_equal(mts_metrics_relative(&y, &b1, 86400, 1000, 0, &alpha, &beta), MTS_EINVAL);
    assert_int_equal(mts_metrics_relative(&y, &b, 12345, 1000, 0, &alpha, &beta), MTS_EINVAL);
    /* bad arguments */
    assert_int_equal(mts_benchmark_buy_hold(one, 0, &strat, 1000, &bench), MTS_EINVAL);
    assert_int_equal(mts_benchmark_buy_hold(one, 1, &strat, 0, &bench), MTS_EINVAL);
    assert_int_equal(mts_benchmark_buy_hold(one, 1, &strat, NAN, &bench), MTS_EINVAL);
    assert_int_equal(mts_benchmark_buy_hold(NULL, 1, &strat, 1000, &bench), MTS_EINVAL);
    int64_t back[2] = {T0 + D, T0};
    mts_series_t bad = series(back, sv, 2);
    assert_int_equal(mts_benchmark_buy_hold(one, 1, &bad, 1000, &bench), MTS_EINVAL);
    /* an empty grid: an empty benchmark */
    mts_series_t empty = series(NULL, NULL, 0);
    assert_int_equal(mts_benchmark_buy_hold(one, 1, &empty, 1000, &bench), 0);
    assert_int_equal(bench.n, 0);
    mts_free(bench.ts);
    mts_free(bench.v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streamed_periods_match_the_series),
        cmocka_unit_test(test_daily_gap_carry),
        cmocka_unit_test(test_metrics_daily_curve),
        cmocka_unit_test(test_metrics_intraday),
        cmocka_unit_test(test_trade_stats),
        cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_constant_compounding),
        cmocka_unit_test(test_daily_negative_ts),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_hourly_annualised),
        cmocka_unit_test(test_four_hour_and_weekly),
        cmocka_unit_test(test_sortino),
        cmocka_unit_test(test_trade_extras),
        cmocka_unit_test(test_exposure),
        cmocka_unit_test(test_benchmark),
        cmocka_unit_test(test_alpha_beta_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
