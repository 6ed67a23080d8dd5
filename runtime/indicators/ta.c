/* ta.c — technical-analysis primitives (contract in ta.h / lua/mts_ffi.h).
 *
 * Numerics. The rolling statistics (sma, rolling_std, rolling_corr) slide
 * their window in O(1) per element but never for long: the window's sums are
 * recomputed exactly (two-pass, O(w)) every w steps and whenever the window
 * becomes free of NaN again, so rounding drift and cancellation after a large
 * value leaves the window are bounded to one window's worth of updates; the
 * total cost stays O(n). Between recomputations rolling_std and rolling_corr
 * use Welford's add/remove updates on the mean and the centred co-moments
 * (never the E[x^2] - E[x]^2 form). A window whose values are all equal is
 * detected exactly (run length of equal values), so its variance is exactly 0:
 * rolling_std gives 0 and rolling_corr gives NaN, independent of rounding.
 *
 * NaN. A NaN input makes every window that contains it NaN. rsi restarts its
 * Wilder seeding after a NaN (the next value is out[j + period] for the first
 * good x[j] after the NaN). drawdown gives NaN where x is NaN (or where the
 * running max is not positive) and keeps the running max. pct_rank with
 * w <= 0 (expanding) skips NaN values in the history. pct_change gives NaN
 * where the previous value is 0.
 *
 * pct_rank is O(n log n): values are ranked once by sorting, then a Fenwick
 * tree counts the window's values <= x[i]. It allocates two temporary arrays
 * through mts_malloc (MTS_ENOMEM on failure). The others allocate nothing. */
#include "indicators/ta.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- sma ---------------------------------------------------------------- */

int mts_ta_sma(const double *x, int64_t n, int32_t w, double *out) {
    if (!x || !out || n < 0 || w < 1) return MTS_EINVAL;
    int64_t last_nan = -1;          /* last index with a NaN input */
    int64_t fresh = -1;             /* index at which sum was last recomputed */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i])) last_nan = i;
        if (i < w - 1 || last_nan > i - w) {   /* window incomplete or dirty */
            out[i] = NAN;
            fresh = -1;
            continue;
        }
        if (fresh < 0 || i - fresh >= w) {
            sum = 0.0;
            for (int64_t j = i - w + 1; j <= i; j++) sum += x[j];
            fresh = i;
        } else {
            sum += x[i] - x[i - w];
        }
        out[i] = sum / w;
    }
    return MTS_OK;
}

/* ---- rolling_std / rolling_corr ---------------------------------------- */

/* Exact two-pass moments of x[a..b] (and y). */
static void moments(const double *x, const double *y, int64_t a, int64_t b,
                    double *mx, double *my, double *sxx, double *syy, double *sxy) {
    double k = (double)(b - a + 1), sx = 0, sy = 0;
    for (int64_t j = a; j <= b; j++) { sx += x[j]; if (y) sy += y[j]; }
    *mx = sx / k; *my = y ? sy / k : 0.0;
    double cxx = 0, cyy = 0, cxy = 0;
    for (int64_t j = a; j <= b; j++) {
        double dx = x[j] - *mx;
        cxx += dx * dx;
        if (y) { double dy = y[j] - *my; cyy += dy * dy; cxy += dx * dy; }
    }
    *sxx = cxx; *syy = cyy; *sxy = cxy;
}

/* Slides a window of constant size w from (xo, yo) out to (xn, yn) in:
 * Welford remove then add. Needs w >= 2. */
static void slide(double w, double xo, double yo, double xn, double yn, int with_y,
                  double *mx, double *my, double *sxx, double *syy, double *sxy) {
    /* remove (xo, yo): count w -> w-1 */
    double mx1 = *mx - (xo - *mx) / (w - 1);
    double my1 = with_y ? *my - (yo - *my) / (w - 1) : 0.0;
    *sxx -= (xo - mx1) * (xo - *mx);
    if (with_y) {
        *syy -= (yo - my1) * (yo - *my);
        *sxy -= (xo - mx1) * (yo - *my);
    }
    /* add (xn, yn): count w-1 -> w */
    double mx2 = mx1 + (xn - mx1) / w;
    double my2 = with_y ? my1 + (yn - my1) / w : 0.0;
    *sxx += (xn - mx1) * (xn - mx2);
    if (with_y) {
        *syy += (yn - my1) * (yn - my2);
        *sxy += (xn - mx1) * (yn - my2);
    }
    *mx = mx2; *my = my2;
}

/* Shared loop: y == NULL -> standard deviation, else correlation. */
static int rolling2(const double *x, const double *y, int64_t n, int32_t w, double *out) {
    int64_t last_nan = -1, fresh = -1;
    int64_t run_x = 0, run_y = 0;     /* length of the run of equal values ending at i */
    double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
    for (int64_t i = 0; i < n; i++) {
        int bad = isnan(x[i]) || (y && isnan(y[i]));
        if (bad) last_nan = i;
        run_x = (i > 0 && x[i] == x[i - 1]) ? run_x + 1 : 1;
        if (y) run_y = (i > 0 && y[i] == y[i - 1]) ? run_y + 1 : 1;
        if (w < 2 || i < w - 1 || last_nan > i - w) {
            out[i] = NAN;
            fresh = -1;
            continue;
        }
        if (fresh < 0 || i - fresh >= w) {
            moments(x, y, i - w + 1, i, &mx, &my, &sxx, &syy, &sxy);
            fresh = i;
        } else {
            slide((double)w, x[i - w], y ? y[i - w] : 0.0, x[i], y ? y[i] : 0.0, y != NULL,
                  &mx, &my, &sxx, &syy, &sxy);
        }
        int flat_x = run_x >= w, flat_y = y && run_y >= w;
        if (!y) {
            out[i] = flat_x ? 0.0 : sqrt((sxx > 0 ? sxx : 0.0) / (w - 1));
        } else if (flat_x || flat_y || sxx <= 0 || syy <= 0) {
            out[i] = NAN;
        } else {
            double r = sxy / sqrt(sxx * syy);
            out[i] = r > 1.0 ? 1.0 : (r < -1.0 ? -1.0 : r);
        }
    }
    return MTS_OK;
}

int mts_ta_rolling_std(const double *x, int64_t n, int32_t w, double *out) {
    if (!x || !out || n < 0 || w < 1) return MTS_EINVAL;
    return rolling2(x, NULL, n, w, out);
}

int mts_ta_rolling_corr(const double *x, const double *y, int64_t n, int32_t w, double *out) {
    if (!x || !y || !out || n < 0 || w < 1) return MTS_EINVAL;
    return rolling2(x, y, n, w, out);
}

/* ---- rsi ----------------------------------------------------------------- */

int mts_ta_rsi(const double *x, int64_t n, int32_t period, double *out) {
    if (!x || !out || n < 0 || period < 1) return MTS_EINVAL;
    int64_t start = 0;              /* first index of the current NaN-free stretch */
    double ag = 0, al = 0;          /* Wilder averages (sums while seeding) */
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i])) { out[i] = NAN; start = i + 1; ag = al = 0; continue; }
        int64_t k = i - start;      /* number of changes available up to i */
        if (k == 0) { out[i] = NAN; continue; }
        double ch = x[i] - x[i - 1];
        double g = ch > 0 ? ch : 0.0, l = ch < 0 ? -ch : 0.0;
        if (k < period) { ag += g; al += l; out[i] = NAN; continue; }
        if (k == period) { ag = (ag + g) / period; al = (al + l) / period; }
        else { ag = (ag * (period - 1) + g) / period; al = (al * (period - 1) + l) / period; }
        out[i] = al == 0.0 ? 100.0 : 100.0 - 100.0 / (1.0 + ag / al);
    }
    return MTS_OK;
}

/* ---- drawdown ------------------------------------------------------------ */

int mts_ta_drawdown(const double *x, int64_t n, double *out) {
    if (!x || !out || n < 0) return MTS_EINVAL;
    double peak = NAN;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i])) { out[i] = NAN; continue; }
        if (isnan(peak) || x[i] > peak) peak = x[i];
        out[i] = peak > 0 ? (peak - x[i]) / peak : NAN;
    }
    return MTS_OK;
}

/* ---- pct_rank ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* number of sorted[0..m) <= v (upper bound) */
static int64_t upper_bound(const double *sorted, int64_t m, double v) {
    int64_t lo = 0, hi = m;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] <= v) lo = mid + 1; else hi = mid;
    }
    return lo;
}

static void fen_add(int64_t *t, int64_t m, int64_t pos, int64_t d) {
    for (; pos <= m; pos += pos & -pos) t[pos] += d;
}
static int64_t fen_sum(const int64_t *t, int64_t pos) {
    int64_t s = 0;
    for (; pos > 0; pos -= pos & -pos) s += t[pos];
    return s;
}

int mts_ta_pct_rank(const double *x, int64_t n, int32_t w, double *out) {
    if (!x || !out || n < 0) return MTS_EINVAL;
    if (n == 0) return MTS_OK;
    double  *sorted = mts_malloc((size_t)n * sizeof *sorted);
    int64_t *tree   = mts_calloc((size_t)n + 1, sizeof *tree);
    if (!sorted || !tree) { mts_free(sorted); mts_free(tree); return MTS_ENOMEM; }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) if (!isnan(x[i])) sorted[m++] = x[i];
    qsort(sorted, (size_t)m, sizeof *sorted, cmp_double);
    /* rank(v) = upper_bound(v) in 1..m: equal values share the highest rank,
     * so prefix(rank(x[i])) counts every value <= x[i]. */
    int64_t last_nan = -1, count = 0;
    for (int64_t i = 0; i < n; i++) {
        int nan_i = isnan(x[i]);
        if (nan_i) last_nan = i;
        else { fen_add(tree, m, upper_bound(sorted, m, x[i]), 1); count++; }
        if (w > 0 && i >= w) {          /* x[i-w] leaves the window */
            double old = x[i - w];
            if (!isnan(old)) { fen_add(tree, m, upper_bound(sorted, m, old), -1); count--; }
        }
        if (nan_i) { out[i] = NAN; continue; }
        if (w > 0 && (i < w - 1 || last_nan > i - w)) { out[i] = NAN; continue; }
        out[i] = (double)fen_sum(tree, upper_bound(sorted, m, x[i])) / (double)count;
    }
    mts_free(sorted);
    mts_free(tree);
    return MTS_OK;
}

/* ---- pct_change / diff ----------------------------------------------------- */

int mts_ta_pct_change(const double *x, int64_t n, double *out) {
    if (!x || !out || n < 0) return MTS_EINVAL;
    if (n > 0) out[0] = NAN;
    for (int64_t i = 1; i < n; i++)
        out[i] = x[i - 1] == 0.0 ? NAN : x[i] / x[i - 1] - 1.0;   /* NaN propagates */
    return MTS_OK;
}

int mts_ta_diff(const double *x, int64_t n, double *out) {
    if (!x || !out || n < 0) return MTS_EINVAL;
    if (n > 0) out[0] = NAN;
    for (int64_t i = 1; i < n; i++) out[i] = x[i] - x[i - 1];
    return MTS_OK;
}

/* ---- align_asof ------------------------------------------------------------ */

int mts_ta_align_asof(const int64_t *src_ts, const double *src, int64_t n_src,
                      const int64_t *dst_ts, int64_t n_dst, double *out) {
    if (!src_ts || !src || !dst_ts || !out || n_src < 0 || n_dst < 0) return MTS_EINVAL;
    for (int64_t j = 1; j < n_src; j++)
        if (src_ts[j] < src_ts[j - 1]) return MTS_EINVAL;
    /* j = number of src rows with src_ts <= current dst ts; last = last non-NaN among them */
    int64_t j = 0;
    double last = NAN;
    for (int64_t k = 0; k < n_dst; k++) {
        if (k > 0 && dst_ts[k] < dst_ts[k - 1]) {   /* dst went backwards: rescan */
            j = 0;
            last = NAN;
        }
        while (j < n_src && src_ts[j] <= dst_ts[k]) {
            if (!isnan(src[j])) last = src[j];
            j++;
        }
        out[k] = last;
    }
    return MTS_OK;
}
