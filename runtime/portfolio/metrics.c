/* metrics.c — performance metrics over an equity curve and closed trades.
 * Definitions are in metrics.h. Sums use Neumaier compensation and the
 * variance is the corrected two-pass formula
 *     var = (sum d^2 - (sum d)^2 / n) / (n - 1),  d = r - mean(r),
 * which stays accurate when the returns are tiny relative to their mean. */
#include "portfolio/metrics.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define DAY 86400
#define MAX_DAYS 100000000LL   /* ~274k years: anything longer is a bad ts */

static int64_t floor_day(int64_t ts) {
    int64_t d = ts / DAY;
    if (ts % DAY < 0) d--;
    return d;
}

typedef struct { double s, c; } ksum_t;

static inline void kadd(ksum_t *k, double x) {
    double t = k->s + x;
    if (fabs(k->s) >= fabs(x)) k->c += (k->s - t) + x;
    else k->c += (x - t) + k->s;
    k->s = t;
}
static inline double kval(const ksum_t *k) { return k->s + k->c; }

int mts_metrics_daily(const mts_series_t *equity, mts_series_t *out) {
    if (!equity || !out || equity->n < 0 || (equity->n > 0 && (!equity->ts || !equity->v)))
        return MTS_EINVAL;
    out->n = 0;
    if (equity->n == 0) return MTS_OK;
    int64_t n = equity->n;
    for (int64_t i = 1; i < n; i++)
        if (equity->ts[i] < equity->ts[i - 1]) return MTS_EINVAL;
    int64_t d0 = floor_day(equity->ts[0]), d1 = floor_day(equity->ts[n - 1]);
    int64_t ndays = d1 - d0 + 1;
    if (ndays > MAX_DAYS) return MTS_ERANGE;
    if (out->cap < ndays || !out->ts || !out->v) {
        int64_t *ts = mts_realloc(out->ts, (size_t)ndays * sizeof *ts);
        if (!ts) return MTS_ENOMEM;
        out->ts = ts;
        double *v = mts_realloc(out->v, (size_t)ndays * sizeof *v);
        if (!v) { out->cap = 0; return MTS_ENOMEM; }
        out->v = v;
        out->cap = ndays;
    }
    int64_t k = 0;                 /* next day slot to write */
    for (int64_t i = 0; i < n; i++) {
        int64_t d = floor_day(equity->ts[i]) - d0;
        if (i + 1 < n && floor_day(equity->ts[i + 1]) - d0 == d) continue;  /* not the day's last */
        while (k < d) {            /* carry the previous day's value over missing days */
            out->ts[k] = (d0 + k) * DAY;
            out->v[k] = out->v[k - 1];   /* k >= 1 here: day 0 always has a point */
            k++;
        }
        out->ts[k] = (d0 + d) * DAY;
        out->v[k] = equity->v[i];
        k++;
    }
    out->n = k;
    return MTS_OK;
}

int mts_metrics_compute(const mts_series_t *equity, double initial_capital, double rf_annual,
                        const mts_trade_t *trades, int64_t n_trades, mts_metrics_t *out) {
    if (!equity || !out || n_trades < 0 || (n_trades > 0 && !trades) || equity->n < 0 ||
        (equity->n > 0 && (!equity->ts || !equity->v)))
        return MTS_EINVAL;
    memset(out, 0, sizeof *out);
    out->initial_capital = initial_capital;
    int64_t n = equity->n;
    double e_start = initial_capital;
    double e_end = n > 0 ? equity->v[n - 1] : initial_capital;
    out->final_value = e_end;
    out->total_return = e_end / e_start - 1.0;

    double years = n > 0 ? (double)(equity->ts[n - 1] - equity->ts[0]) / (365.0 * DAY) : 0.0;
    out->annualized_return = years > 0 ? pow(e_end / e_start, 1.0 / years) - 1.0 : NAN;

    /* drawdown over every point, peak starting at initial capital */
    double peak = initial_capital, mdd = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = equity->v[i];
        if (v > peak) peak = v;
        double dd = (peak - v) / peak;
        if (dd > mdd) mdd = dd;
    }
    out->max_drawdown = mdd;
    out->calmar_ratio = mdd != 0 ? out->annualized_return / mdd : NAN;

    /* daily returns */
    mts_series_t daily = {0};
    int rc = mts_metrics_daily(equity, &daily);
    if (rc) { mts_free(daily.ts); mts_free(daily.v); return rc; }
    int64_t nd = daily.n;
    out->n_days = nd;
    out->sharpe_ratio = NAN;
    out->volatility = NAN;
    if (nd >= 2) {
        ksum_t sum = {0, 0};
        double prev = initial_capital;
        for (int64_t i = 0; i < nd; i++) {
            kadd(&sum, daily.v[i] / prev - 1.0);
            prev = daily.v[i];
        }
        double mean = kval(&sum) / (double)nd;
        ksum_t sd = {0, 0}, sd2 = {0, 0};
        prev = initial_capital;
        for (int64_t i = 0; i < nd; i++) {
            double d = (daily.v[i] / prev - 1.0) - mean;
            prev = daily.v[i];
            kadd(&sd, d);
            kadd(&sd2, d * d);
        }
        double s1 = kval(&sd);
        double var = (kval(&sd2) - s1 * s1 / (double)nd) / (double)(nd - 1);
        if (var < 0) var = 0;
        double sdv = sqrt(var);
        out->volatility = sdv * sqrt(365.0);
        /* std == 0, allowing for rounding: r = E_d/E_{d-1} - 1 carries an error
         * of about DBL_EPSILON*(1+|r|), so returns that differ only by that
         * (a curve compounding exactly 1% a day) count as constant. */
        if (sdv > 16 * DBL_EPSILON * (1 + fabs(mean)))
            out->sharpe_ratio = (mean - rf_annual / 365.0) / sdv * sqrt(365.0);
    }
    mts_free(daily.ts);
    mts_free(daily.v);

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
