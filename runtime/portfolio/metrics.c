/* metrics.c — performance metrics over an equity curve and closed trades.
 * Definitions are in metrics.h. Sums use Neumaier compensation and the
 * variance is the corrected two-pass formula
 *     var = (sum d^2 - (sum d)^2 / n) / (n - 1),  d = r - mean(r),
 * which stays accurate when the returns are tiny relative to their mean. */
#include "portfolio/metrics.h"
#include "market/interval.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define DAY 86400
#define MAX_PERIODS 100000000LL   /* 274k years of days, 190 of minutes: longer is a bad ts */

typedef struct { double s, c; } ksum_t;

static inline void kadd(ksum_t *k, double x) {
    double t = k->s + x;
    if (fabs(k->s) >= fabs(x)) k->c += (k->s - t) + x;
    else k->c += (x - t) + k->s;
    k->s = t;
}
static inline double kval(const ksum_t *k) { return k->s + k->c; }

int mts_metrics_periods(const mts_series_t *equity, int64_t period_s, mts_series_t *out) {
    if (!equity || !out || equity->n < 0 || (equity->n > 0 && (!equity->ts || !equity->v)) ||
        !mts_interval_name(period_s))
        return MTS_EINVAL;
    out->n = 0;
    if (equity->n == 0) return MTS_OK;
    int64_t n = equity->n, P = period_s;
    for (int64_t i = 1; i < n; i++)
        if (equity->ts[i] < equity->ts[i - 1]) return MTS_EINVAL;
    /* grid points are P apart on every grid (weekly: Mondays), so period k of
     * the run opens at p0 + k * P */
    int64_t p0 = mts_interval_floor(equity->ts[0], P);
    int64_t nper = (mts_interval_floor(equity->ts[n - 1], P) - p0) / P + 1;
    if (nper > MAX_PERIODS) return MTS_ERANGE;
    if (out->cap < nper || !out->ts || !out->v) {
        int64_t *ts = mts_realloc(out->ts, (size_t)nper * sizeof *ts);
        if (!ts) return MTS_ENOMEM;
        out->ts = ts;
        double *v = mts_realloc(out->v, (size_t)nper * sizeof *v);
        if (!v) { out->cap = 0; return MTS_ENOMEM; }
        out->v = v;
        out->cap = nper;
    }
    int64_t k = 0;                 /* next period slot to write */
    int64_t d = (mts_interval_floor(equity->ts[0], P) - p0) / P;
    for (int64_t i = 0; i < n; i++) {
        int64_t dn = i + 1 < n ? (mts_interval_floor(equity->ts[i + 1], P) - p0) / P : -1;
        if (dn == d) continue;     /* not the period's last point */
        while (k < d) {            /* carry the previous period's value over missing ones */
            out->ts[k] = p0 + k * P;
            out->v[k] = out->v[k - 1];   /* k >= 1 here: period 0 always has a point */
            k++;
        }
        out->ts[k] = p0 + d * P;
        out->v[k] = equity->v[i];
        k++;
        d = dn;
    }
    out->n = k;
    return MTS_OK;
}

/* One pass over the period series of mts_metrics_periods without building it:
 * the same values in the same order (a period's last point, carried over the
 * periods without one), as returns r_k = E_k / E_{k-1} - 1 (the first against
 * initial). pass 0 adds r_k to a; pass 1 adds d = r_k - mean to a and d * d
 * to b. *nd = the number of periods. equity is checked as mts_metrics_periods
 * checks it (ascending, at most MAX_PERIODS periods). */
static void add_return(int pass, double r, double mean, ksum_t *a, ksum_t *b) {
    if (pass == 0) kadd(a, r);
    else {
        double dv = r - mean;
        kadd(a, dv);
        kadd(b, dv * dv);
    }
}

/* *regular (pass 0 sets it, pass 1 reads it): every point is P after the one
 * before, so each is its own period's last and none is carried (a run at its
 * own interval without gaps): the periods are the points, read straight. */
static int period_pass(const mts_series_t *equity, int64_t P, double initial, int pass, double mean, ksum_t *a,
                       ksum_t *b, int64_t *nd, int *regular) {
    *nd = 0;
    int64_t n = equity->n;
    if (n == 0) return MTS_OK;
    const int64_t *ts = equity->ts;
    const double *v = equity->v;
    int64_t p0 = mts_interval_floor(ts[0], P);
    if (pass == 0) {
        int reg = 1;
        for (int64_t i = 1; i < n; i++) {
            int64_t step = ts[i] - ts[i - 1];
            if (step < 0) return MTS_EINVAL;
            reg &= step == P;
        }
        int64_t nper = (mts_interval_floor(ts[n - 1], P) - p0) / P + 1;
        if (nper > MAX_PERIODS) return MTS_ERANGE;
        *regular = reg;
    }
    if (*regular) {
        double prev = initial;
        if (pass == 0)
            for (int64_t i = 0; i < n; i++) {
                kadd(a, v[i] / prev - 1.0);
                prev = v[i];
            }
        else
            for (int64_t i = 0; i < n; i++) {
                add_return(1, v[i] / prev - 1.0, mean, a, b);
                prev = v[i];
            }
        *nd = n;
        return MTS_OK;
    }
    /* grid points are P apart on every grid (weekly: Mondays), so the period
     * of t >= p0 is (t - p0) / P; it only changes at the next boundary */
    double prev = initial, last = NAN;   /* last: the value of the latest written period */
    int64_t k = 0, d = 0, bound = p0 + P;
    for (int64_t i = 0; i < n; i++) {
        int64_t dn = -1;
        if (i + 1 < n) {
            int64_t t = ts[i + 1];
            if (t < bound) dn = d;
            else if (t < bound + P) dn = d + 1;
            else dn = (t - p0) / P;
        }
        if (dn == d) continue;                  /* not the period's last point */
        for (; k <= d; k++) {                   /* carried periods, then period d */
            double x = k < d ? last : v[i];
            add_return(pass, x / prev - 1.0, mean, a, b);
            prev = last = x;
        }
        d = dn;
        bound = p0 + (d + 1) * P;
    }
    *nd = k;
    return MTS_OK;
}

int mts_metrics_daily(const mts_series_t *equity, mts_series_t *out) {
    return mts_metrics_periods(equity, DAY, out);
}

int mts_metrics_compute(const mts_series_t *equity, double initial_capital, double rf_annual,
                        const mts_trade_t *trades, int64_t n_trades, mts_metrics_t *out) {
    return mts_metrics_compute_at(equity, DAY, initial_capital, rf_annual, trades, n_trades, out);
}

int mts_metrics_compute_at(const mts_series_t *equity, int64_t period_s, double initial_capital,
                           double rf_annual, const mts_trade_t *trades, int64_t n_trades,
                           mts_metrics_t *out) {
    if (!equity || !out || n_trades < 0 || (n_trades > 0 && !trades) || equity->n < 0 ||
        (equity->n > 0 && (!equity->ts || !equity->v)) || !mts_interval_name(period_s))
        return MTS_EINVAL;
    memset(out, 0, sizeof *out);
    out->period_s = period_s;
    const double per_year = 365.0 * DAY / (double)period_s;   /* N */
    out->initial_capital = initial_capital;
    int64_t n = equity->n;
    double e_start = initial_capital;
    double e_end = n > 0 ? equity->v[n - 1] : initial_capital;
    out->final_value = e_end;
    out->total_return = e_end / e_start - 1.0;

    double years = n > 0 ? (double)(equity->ts[n - 1] - equity->ts[0]) / (365.0 * DAY) : 0.0;
    out->annualized_return = years > 0 ? pow(e_end / e_start, 1.0 / years) - 1.0 : NAN;

    /* drawdown over every point, peak starting at initial capital. For one
     * peak, (peak - v) / peak (rounded) only grows as v falls, so the largest
     * is at the lowest point before the next peak: one division per peak, the
     * same value as one per point */
    double peak = initial_capital, low = initial_capital, mdd = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = equity->v[i];
        if (v > peak) {
            double dd = (peak - low) / peak;
            if (dd > mdd) mdd = dd;
            peak = low = v;
        } else if (v < low) low = v;
    }
    double dd_last = (peak - low) / peak;
    if (dd_last > mdd) mdd = dd_last;
    out->max_drawdown = mdd;
    out->calmar_ratio = mdd != 0 ? out->annualized_return / mdd : NAN;

    /* returns per period of the interval, streamed (period_pass): the
     * period series is never materialised (at 1m it is as long as the curve) */
    int64_t nd = 0;
    ksum_t sum = {0, 0}, sd = {0, 0}, sd2 = {0, 0};
    int regular = 0;
    int rc = period_pass(equity, period_s, initial_capital, 0, 0.0, &sum, NULL, &nd, &regular);
    if (rc) return rc;
    out->n_periods = nd;
    out->sharpe_ratio = NAN;
    out->volatility = NAN;
    if (nd >= 2) {
        double mean = kval(&sum) / (double)nd;
        period_pass(equity, period_s, initial_capital, 1, mean, &sd, &sd2, &nd, &regular);
        double s1 = kval(&sd);
        double var = (kval(&sd2) - s1 * s1 / (double)nd) / (double)(nd - 1);
        if (var < 0) var = 0;
        double sdv = sqrt(var);
        out->volatility = sdv * sqrt(per_year);
        /* std == 0, allowing for rounding: r = E_d/E_{d-1} - 1 carries an error
         * of about DBL_EPSILON*(1+|r|), so returns that differ only by that
         * (a curve compounding exactly 1% a day) count as constant. */
        if (sdv > 16 * DBL_EPSILON * (1 + fabs(mean)))
            out->sharpe_ratio = (mean - rf_annual / per_year) / sdv * sqrt(per_year);
    }

    /* trades */
    out->trade_count = n_trades;
    int64_t wins = 0;
    ksum_t gp = {0, 0}, gl = {0, 0};
    for (int64_t i = 0; i < n_trades; i++) {
        double pnl = trades[i].pnl;
        if (pnl > 0) { wins++; kadd(&gp, pnl); }
        else if (pnl < 0) kadd(&gl, -pnl);
    }
    out->win_rate = n_trades > 0 ? (double)wins / (double)n_trades : NAN;
    double g = kval(&gp), l = kval(&gl);
    if (l > 0) out->profit_factor = g / l;
    else out->profit_factor = g > 0 ? INFINITY : NAN;
    return MTS_OK;
}
