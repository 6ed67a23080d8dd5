/* ta.c — technical-analysis primitives (contract in ta.h / lua/mts_ffi.h).
 *
 * Numerics. The rolling statistics (sma, rolling_std, rolling_corr) slide
 * their window in O(1) per element with compensated (TwoSum) running sums, so
 * a value that enters and later leaves the window is removed exactly — a huge
 * spike leaving the window does not wipe out the digits of the small values
 * left. rolling_std/corr keep sums of deviations from a shift (the window mean
 * at the last exact recomputation), which avoids the E[x^2] - E[x]^2
 * cancellation; the sums are rebuilt exactly (two-pass, O(w)) every w steps,
 * whenever the window becomes free of NaN again, and whenever the subtraction
 * is seen to lose more than 6 digits. The total cost stays O(n) in practice.
 * A window whose values are all equal is detected exactly (run length of
 * equal values): rolling_std gives exactly 0 and rolling_corr NaN.
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

/* Compensated running sum (Knuth's TwoSum): s + c carries the exact sum up to
 * ~eps^2 relative error, so adding a value and later subtracting the same
 * value restores the previous sum, however large the value was. */
typedef struct { double s, c; } ksum_t;

static inline void kadd(ksum_t *k, double v) {
    double t = k->s + v, bp = t - k->s;
    k->c += (k->s - (t - bp)) + (v - bp);
    k->s = t;
}
static inline double kval(const ksum_t *k) { return k->s + k->c; }

/* ---- sma ---------------------------------------------------------------- */

/* A running sum, recomputed from scratch every w values: between two
 * recomputations at most 2w additions accumulate, so the error stays below
 * ~2w*eps*max|x| and never drifts over a long series. (A compensated sum was
 * measured at twice the cost per bar for no visible difference.) */
int mts_ta_sma(const double *x, int64_t n, int32_t w, double *out) {
    if (!x || !out || n < 0 || w < 1) return MTS_EINVAL;
    int64_t last_nan = -1;          /* last index with a NaN input */
    int64_t fresh = -1;             /* index at which sum was last recomputed */
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i])) last_nan = i;
        if (i < w - 1 || last_nan > i - w) {   /* window incomplete or dirty */
            out[i] = NAN;
            fresh = -1;
            continue;
        }
        if (fresh < 0 || i - fresh >= w) {
            sum = 0;
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

/* Running sums of the window's deviations from fixed shifts kx, ky (the
 * window means at the last recomputation): with the shift close to the data,
 * Sxx - Sx^2/w does not cancel; the sums are compensated, so a value that
 * enters and later leaves the window is removed exactly. */
typedef struct {
    double kx, ky;
    ksum_t sx, sy, sxx, syy, sxy;
} mom_t;

static void mom_put(mom_t *m, double x, double y, int with_y, double sign) {
    double dx = x - m->kx;
    kadd(&m->sx, sign * dx);
    kadd(&m->sxx, sign * (dx * dx));
    if (with_y) {
        double dy = y - m->ky;
        kadd(&m->sy, sign * dy);
        kadd(&m->syy, sign * (dy * dy));
        kadd(&m->sxy, sign * (dx * dy));
    }
}

static void mom_rebuild(mom_t *m, const double *x, const double *y, int64_t a, int64_t b) {
    double k = (double)(b - a + 1), sx = 0, sy = 0;
    for (int64_t j = a; j <= b; j++) { sx += x[j]; if (y) sy += y[j]; }
    memset(m, 0, sizeof *m);
    m->kx = sx / k;
    m->ky = y ? sy / k : 0.0;
    for (int64_t j = a; j <= b; j++) mom_put(m, x[j], y ? y[j] : 0.0, y != NULL, 1.0);
}

/* Shared loop: y == NULL -> standard deviation, else correlation. */
static int rolling2(const double *x, const double *y, int64_t n, int32_t w, double *out) {
    int64_t last_nan = -1, fresh = -1;
    int64_t run_x = 0, run_y = 0;     /* length of the run of equal values ending at i */
    int with_y = y != NULL;
    mom_t m;
    memset(&m, 0, sizeof m);
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i]) || (with_y && isnan(y[i]))) last_nan = i;
        run_x = (i > 0 && x[i] == x[i - 1]) ? run_x + 1 : 1;
        if (with_y) run_y = (i > 0 && y[i] == y[i - 1]) ? run_y + 1 : 1;
        if (w < 2 || i < w - 1 || last_nan > i - w) {
            out[i] = NAN;
            fresh = -1;
            continue;
        }
        int flat_x = run_x >= w, flat_y = with_y && run_y >= w;
        if (!with_y && flat_x) { out[i] = 0.0; fresh = -1; continue; }
        if (with_y && (flat_x || flat_y)) { out[i] = NAN; fresh = -1; continue; }
        int rebuilt = 0;
        if (fresh < 0 || i - fresh >= w) {
            mom_rebuild(&m, x, y, i - w + 1, i);
            fresh = i;
            rebuilt = 1;
        } else {
            mom_put(&m, x[i], with_y ? y[i] : 0.0, with_y, 1.0);
            mom_put(&m, x[i - w], with_y ? y[i - w] : 0.0, with_y, -1.0);
        }
        for (;;) {
            double sx = kval(&m.sx), sxx = kval(&m.sxx);
            double m2x = sxx - sx * sx / w;
            double sy = 0, syy = 0, m2y = 0, cxy = 0;
            if (with_y) {
                sy = kval(&m.sy); syy = kval(&m.syy);
                m2y = syy - sy * sy / w;
                cxy = kval(&m.sxy) - sx * sy / w;
            }
            /* The mean drifted far from the shift (or a level shift): the
             * subtraction lost more than 6 digits, so rebuild exactly once. */
            if (!rebuilt && (m2x * 1e6 < sxx || (with_y && m2y * 1e6 < syy))) {
                mom_rebuild(&m, x, y, i - w + 1, i);
                fresh = i;
                rebuilt = 1;
                continue;
            }
            if (!with_y) {
                out[i] = sqrt((m2x > 0 ? m2x : 0.0) / (w - 1));
            } else if (m2x <= 0 || m2y <= 0) {
                out[i] = NAN;
            } else {
                double r = cxy / sqrt(m2x * m2y);
                out[i] = r > 1.0 ? 1.0 : (r < -1.0 ? -1.0 : r);
            }
            break;
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

/* ---- streaming rolling mean ------------------------------------------------
 * The same arithmetic as mts_ta_sma, one value at a time, for bar-by-bar code
 * (live feeds, on_bar): push(x[i]) returns exactly what mts_ta_sma would put in
 * out[i] — same running sum, same recomputation every w values, same NaN
 * rule — so a strategy gets identical crosses either way. O(1) per push, no
 * allocation after mts_rolling_new. */
struct mts_rolling {
    double *buf;          /* the last w inputs, a ring */
    int64_t i;            /* index of the next input */
    int32_t pos;          /* i % w, kept without dividing */
    int64_t last_nan, fresh;
    double sum;
    int32_t w;
};

mts_rolling_t *mts_rolling_new(int32_t w) {
    if (w < 1) return NULL;
    mts_rolling_t *r = mts_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->buf = mts_malloc((size_t)w * sizeof *r->buf);
    if (!r->buf) {
        mts_free(r);
        return NULL;
    }
    r->w = w;
    r->last_nan = -1;
    r->fresh = -1;
    return r;
}

void mts_rolling_free(mts_rolling_t *r) {
    if (!r) return;
    mts_free(r->buf);
    mts_free(r);
}

double mts_rolling_mean_push(mts_rolling_t *r, double x) {
    const int64_t i = r->i++, w = r->w;
    double *slot = &r->buf[r->pos];
    if (++r->pos == r->w) r->pos = 0;
    const double old = *slot;          /* x[i - w] once i >= w */
    *slot = x;
    if (isnan(x)) r->last_nan = i;
    if (i < w - 1 || r->last_nan > i - w) {
        r->fresh = -1;
        return NAN;
    }
    if (r->fresh < 0 || i - r->fresh >= w) {
        double sum = 0;
        /* oldest first, as mts_ta_sma adds them: the ring from pos onwards */
        for (int32_t k = 0, p = r->pos; k < r->w; k++, p = (p + 1 == r->w) ? 0 : p + 1)
            sum += r->buf[p];
        r->sum = sum;
        r->fresh = i;
    } else {
        r->sum += x - old;
    }
    return r->sum / (double)w;
}
