/* metrics.c — performance metrics over an equity curve and closed trades.
 * Definitions are in metrics.h. Sums use Neumaier compensation and the
 * variance is the corrected two-pass formula
 *     var = (sum d^2 - (sum d)^2 / n) / (n - 1),  d = r - mean(r),
 * which stays accurate when the returns are tiny relative to their mean. */
#include "portfolio/metrics.h"
#include "market/interval.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
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
 * initial). pass 0 adds r_k to a and, with mean = rf/N, min(r_k - mean, 0)^2
 * to b; pass 1 adds d = r_k - mean to a and d * d to b. *nd = the number of periods. equity is checked as mts_metrics_periods
 * checks it (ascending, at most MAX_PERIODS periods). */
static void add_return(int pass, double r, double mean, ksum_t *a, ksum_t *b) {
    if (pass == 0) {
        kadd(a, r);
        /* pass 0 also sums the downside of sortino into b: min(r - rf/N, 0)^2,
         * rf/N handed in as mean */
        double x = r - mean;
        if (x < 0) kadd(b, x * x);
    } else {
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
                add_return(0, v[i] / prev - 1.0, mean, a, b);
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
    ksum_t sum = {0, 0}, sd = {0, 0}, sd2 = {0, 0}, down = {0, 0};
    int regular = 0;
    const double rf_p = rf_annual / per_year;
    int rc = period_pass(equity, period_s, initial_capital, 0, rf_p, &sum, &down, &nd, &regular);
    if (rc) return rc;
    out->n_periods = nd;
    out->sharpe_ratio = NAN;
    out->volatility = NAN;
    out->sortino_ratio = NAN;
    out->exposure_time = NAN;
    out->alpha = NAN;
    out->beta = NAN;
    if (nd >= 2) {
        double dd_dev = sqrt(kval(&down) / (double)(nd - 1));
        if (dd_dev > 0)
            out->sortino_ratio = (kval(&sum) / (double)nd - rf_p) / dd_dev * sqrt(per_year);
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
    return mts_metrics_trade_stats(trades, n_trades, NULL, 0, equity, out);
}

/* ---- trade metrics ---- */

typedef struct { int64_t a, b; } span_t;        /* point indices [a, b) */

static int cmp_span(const void *x, const void *y) {
    const span_t *p = x, *q = y;
    return p->a < q->a ? -1 : p->a > q->a;
}

/* first index i with ts[i] >= t (n if none) */
static int64_t lower_bound(const int64_t *ts, int64_t n, int64_t t) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

typedef struct { int64_t exit_ts, i; } exit_key_t;

static int cmp_exit(const void *x, const void *y) {
    const exit_key_t *p = x, *q = y;
    if (p->exit_ts != q->exit_ts) return p->exit_ts < q->exit_ts ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

int mts_metrics_trade_stats(const mts_trade_t *closed, int64_t n_closed, const mts_trade_t *open,
                            int64_t n_open, const mts_series_t *curve, mts_metrics_t *m) {
    if (!m || !curve || n_closed < 0 || n_open < 0 || (n_closed > 0 && !closed) || (n_open > 0 && !open) ||
        curve->n < 0 || (curve->n > 0 && !curve->ts))
        return MTS_EINVAL;
    int64_t n = curve->n;
    for (int64_t i = 1; i < n; i++)
        if (curve->ts[i] < curve->ts[i - 1]) return MTS_EINVAL;

    /* avg_trade, expectancy */
    ksum_t all = {0, 0}, loss = {0, 0};
    int64_t losers = 0;
    for (int64_t i = 0; i < n_closed; i++) {
        kadd(&all, closed[i].pnl);
        if (closed[i].pnl < 0) { kadd(&loss, closed[i].pnl); losers++; }
    }
    double avg = n_closed > 0 ? kval(&all) / (double)n_closed : NAN;
    double avg_loss = losers > 0 ? kval(&loss) / (double)losers : NAN;

    /* longest losing streak, in exit-time order (the engine's trades already are) */
    int64_t streak = 0, best = 0;
    int sorted = 1;
    for (int64_t i = 1; i < n_closed && sorted; i++) sorted = closed[i].exit_ts >= closed[i - 1].exit_ts;
    exit_key_t *order = NULL;
    if (!sorted) {
        order = mts_malloc((size_t)n_closed * sizeof *order);
        if (!order) return MTS_ENOMEM;
        for (int64_t i = 0; i < n_closed; i++) order[i] = (exit_key_t){closed[i].exit_ts, i};
        qsort(order, (size_t)n_closed, sizeof *order, cmp_exit);
    }
    for (int64_t k = 0; k < n_closed; k++) {
        double pnl = closed[order ? order[k].i : k].pnl;
        streak = pnl < 0 ? streak + 1 : 0;
        if (streak > best) best = streak;
    }
    mts_free(order);

    /* exposure: the union of the trades' point ranges */
    double exposure = NAN;
    if (n > 0) {
        int64_t ns = 0, covered = 0;
        span_t *sp = n_closed + n_open > 0 ? mts_malloc((size_t)(n_closed + n_open) * sizeof *sp) : NULL;
        if (n_closed + n_open > 0 && !sp) return MTS_ENOMEM;
        for (int64_t i = 0; i < n_closed; i++) {
            span_t s = {lower_bound(curve->ts, n, closed[i].entry_ts), lower_bound(curve->ts, n, closed[i].exit_ts)};
            if (s.b > s.a) sp[ns++] = s;
        }
        for (int64_t i = 0; i < n_open; i++) {
            span_t s = {lower_bound(curve->ts, n, open[i].entry_ts), n};
            if (s.b > s.a) sp[ns++] = s;
        }
        if (ns > 0) {
            qsort(sp, (size_t)ns, sizeof *sp, cmp_span);
            int64_t a = sp[0].a, b = sp[0].b;
            for (int64_t k = 1; k < ns; k++) {
                if (sp[k].a > b) { covered += b - a; a = sp[k].a; b = sp[k].b; }
                else if (sp[k].b > b) b = sp[k].b;
            }
            covered += b - a;
        }
        mts_free(sp);
        exposure = (double)covered / (double)n;
    }

    m->avg_trade = avg;
    m->expectancy = losers > 0 ? avg / fabs(avg_loss) : NAN;
    m->longest_losing_streak = best;
    m->exposure_time = exposure;
    return MTS_OK;
}

/* ---- benchmark ---- */

static int usable(double c) { return isfinite(c) && c > 0; }

int mts_benchmark_buy_hold(const mts_bars_t *const *bars, int n_assets, const mts_series_t *grid,
                           double capital, mts_series_t *out) {
    if ((n_assets > 0 && !bars) || n_assets < 1 || !grid || !out || !isfinite(capital) || !(capital > 0) ||
        grid->n < 0 || (grid->n > 0 && !grid->ts))
        return MTS_EINVAL;
    int64_t n = grid->n;
    for (int64_t i = 1; i < n; i++)
        if (grid->ts[i] < grid->ts[i - 1]) return MTS_EINVAL;
    out->n = 0;
    if (n == 0) return MTS_OK;
    if (out->cap < n || !out->ts || !out->v) {
        int64_t *ts = mts_realloc(out->ts, (size_t)n * sizeof *ts);
        if (!ts) return MTS_ENOMEM;
        out->ts = ts;
        double *v = mts_realloc(out->v, (size_t)n * sizeof *v);
        if (!v) { out->cap = 0; return MTS_ENOMEM; }
        out->v = v;
        out->cap = n;
    }
    const double share = capital / (double)n_assets;
    for (int64_t i = 0; i < n; i++) {
        out->ts[i] = grid->ts[i];
        out->v[i] = 0;
    }
    /* asset by asset, added to every point (in asset order: the sum's rounding
     * does not depend on how the bars interleave) */
    for (int a = 0; a < n_assets; a++) {
        const mts_bars_t *b = bars[a];
        int64_t nb = b && b->ts && b->close && b->n > 0 ? b->n : 0;
        int64_t j = nb ? lower_bound(b->ts, nb, grid->ts[0]) : 0;
        double units = 0, last = NAN;   /* last usable close so far; units 0 = not bought */
        for (int64_t i = 0; i < n; i++) {
            for (; j < nb && b->ts[j] <= grid->ts[i]; j++) {
                double c = b->close[j];
                if (!usable(c)) continue;
                if (units == 0) units = share / c;
                last = c;
            }
            out->v[i] += units > 0 ? units * last : share;
        }
    }
    out->n = n;
    return MTS_OK;
}

/* The period returns of s (first against capital) into r (n values). */
static void period_returns(const mts_series_t *s, double capital, double *r) {
    double prev = capital;
    for (int64_t k = 0; k < s->n; k++) {
        r[k] = s->v[k] / prev - 1.0;
        prev = s->v[k];
    }
}

int mts_metrics_relative(const mts_series_t *equity, const mts_series_t *bench, int64_t period_s,
                         double capital, double rf_annual, double *alpha, double *beta) {
    if (!equity || !bench || !alpha || !beta) return MTS_EINVAL;
    *alpha = *beta = NAN;
    mts_series_t pe = {0}, pb = {0};
    double *re = NULL, *rb = NULL;
    int rc = mts_metrics_periods(equity, period_s, &pe);
    if (!rc) rc = mts_metrics_periods(bench, period_s, &pb);
    if (!rc && (pe.n != pb.n || (pe.n > 0 && (pe.ts[0] != pb.ts[0] || pe.ts[pe.n - 1] != pb.ts[pb.n - 1]))))
        rc = MTS_EINVAL;
    int64_t n = pe.n;
    if (!rc && n >= 2) {
        re = mts_malloc((size_t)n * sizeof *re);
        rb = mts_malloc((size_t)n * sizeof *rb);
        if (!re || !rb) rc = MTS_ENOMEM;
    }
    if (!rc && n >= 2) {
        const double per_year = 365.0 * DAY / (double)period_s, rf_p = rf_annual / per_year;
        period_returns(&pe, capital, re);
        period_returns(&pb, capital, rb);
        ksum_t sx = {0, 0}, sy = {0, 0};
        for (int64_t k = 0; k < n; k++) {
            kadd(&sx, rb[k] - rf_p);
            kadd(&sy, re[k] - rf_p);
        }
        double mx = kval(&sx) / (double)n, my = kval(&sy) / (double)n;
        ksum_t sxx = {0, 0}, sxy = {0, 0}, dx = {0, 0}, dy = {0, 0};
        for (int64_t k = 0; k < n; k++) {
            double x = rb[k] - rf_p - mx, y = re[k] - rf_p - my;
            kadd(&dx, x);
            kadd(&dy, y);
            kadd(&sxx, x * x);
            kadd(&sxy, x * y);
        }
        /* corrected two-pass variance, as for sharpe */
        double d1 = kval(&dx);
        double var = (kval(&sxx) - d1 * d1 / (double)n) / (double)(n - 1);
        /* zero variance allowing for rounding, as sharpe's std == 0 */
        if (var > 0 && sqrt(var) > 16 * DBL_EPSILON * (1 + fabs(mx))) {
            /* corrected the same way: sum dx dy - sum dx * sum dy / n */
            double b = (kval(&sxy) - d1 * kval(&dy) / (double)n) / (kval(&sxx) - d1 * d1 / (double)n);
            *beta = b;
            *alpha = (my - b * mx) * per_year;
        }
    }
    mts_free(re);
    mts_free(rb);
    mts_free(pe.ts);
    mts_free(pe.v);
    mts_free(pb.ts);
    mts_free(pb.v);
    return rc;
}

int mts_metrics_benchmark(const mts_bars_t *const *bars, int n_assets, const mts_series_t *equity,
                          int64_t period_s, double capital, double rf_annual, mts_series_t *bench,
                          mts_metrics_t *bench_m, mts_metrics_t *m) {
    if (!equity || !bench || !bench_m || !m) return MTS_EINVAL;
    int rc = mts_benchmark_buy_hold(bars, n_assets, equity, capital, bench);
    if (!rc) rc = mts_metrics_compute_at(bench, period_s, capital, rf_annual, NULL, 0, bench_m);
    if (!rc) rc = mts_metrics_relative(equity, bench, period_s, capital, rf_annual, &m->alpha, &m->beta);
    return rc;
}
