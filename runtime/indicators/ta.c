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
    int64_t valid_from;   /* first index whose window is full and NaN-free:
                             max(w - 1, last NaN + w) */
    int64_t resum_at;     /* index at which the sum is recomputed from the ring:
                             the last recomputation + w (0: at the next value) */
    double sum;
    int32_t pos;          /* i % w, kept without dividing */
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
    r->valid_from = w - 1;
    r->resum_at = 0;
    return r;
}

void mts_rolling_free(mts_rolling_t *r) {
    if (!r) return;
    mts_free(r->buf);
    mts_free(r);
}

/* Two comparisons per value on the common path (this runs once per bar and
 * window in a backtest): the NaN rule and the recomputation schedule are kept
 * as the indices where they next apply. */
double mts_rolling_mean_push(mts_rolling_t *r, double x) {
    const int64_t i = r->i++;
    const int32_t w = r->w;
    double *slot = &r->buf[r->pos];
    if (++r->pos == w) r->pos = 0;
    const double old = *slot;          /* x[i - w] once i >= w */
    *slot = x;
    if (isnan(x)) r->valid_from = i + w;
    if (i < r->valid_from) {
        r->resum_at = 0;
        return NAN;
    }
    if (i >= r->resum_at) {
        double sum = 0;
        /* oldest first, as mts_ta_sma adds them: the ring from pos onwards */
        for (int32_t k = 0, p = r->pos; k < w; k++, p = (p + 1 == w) ? 0 : p + 1)
            sum += r->buf[p];
        r->sum = sum;
        r->resum_at = i + w;
        return sum / (double)w;
    }
    r->sum += x - old;
    return r->sum / (double)w;
}

/* ---- streaming versions of the batch indicators ----------------------------
 * Each push(x[i]) returns exactly (bit for bit) what the batch function puts
 * in out[i]: the same floating-point operations in the same order, the same
 * NaN, run-length and recomputation rules. The window is a ring of the last w
 * inputs, read oldest first where the batch function loops over x[i-w+1..i].
 * One allocation at creation, none per push. tests/c/test_ta_stream.c checks
 * the identity on the bundled daily bars and VIX (data/). */

/* rolling std / corr: rolling2()'s loop body, one index at a time */
typedef struct {
    double *bx, *by;          /* rings of the last w inputs; by NULL for std */
    int64_t i, last_nan, fresh, run_x, run_y;
    double prev_x, prev_y;
    int32_t pos, w;
    mom_t m;
} rollstat_t;

struct mts_rollstd { rollstat_t s; };
struct mts_rollcorr { rollstat_t s; };

/* mom_rebuild over the ring, oldest (at `start`) first */
static void mom_rebuild_ring(mom_t *m, const double *bx, const double *by, int32_t w, int32_t start) {
    double k = (double)w, sx = 0, sy = 0;
    for (int32_t n = 0, p = start; n < w; n++, p = (p + 1 == w) ? 0 : p + 1) {
        sx += bx[p];
        if (by) sy += by[p];
    }
    memset(m, 0, sizeof *m);
    m->kx = sx / k;
    m->ky = by ? sy / k : 0.0;
    for (int32_t n = 0, p = start; n < w; n++, p = (p + 1 == w) ? 0 : p + 1)
        mom_put(m, bx[p], by ? by[p] : 0.0, by != NULL, 1.0);
}

static int rollstat_init(rollstat_t *r, int32_t w, int with_y) {
    memset(r, 0, sizeof *r);
    r->bx = mts_calloc((size_t)w, sizeof *r->bx);
    r->by = with_y ? mts_calloc((size_t)w, sizeof *r->by) : NULL;
    if (!r->bx || (with_y && !r->by)) {
        mts_free(r->bx);
        mts_free(r->by);
        return MTS_ENOMEM;
    }
    r->w = w;
    r->last_nan = -1;
    r->fresh = -1;
    return MTS_OK;
}

static double rollstat_push(rollstat_t *r, double x, double y) {
    const int with_y = r->by != NULL;
    const int32_t w = r->w;
    const int64_t i = r->i++;
    const int32_t slot = r->pos;
    if (++r->pos == w) r->pos = 0;
    const double old_x = r->bx[slot], old_y = with_y ? r->by[slot] : 0.0;   /* x[i - w] */
    r->bx[slot] = x;
    if (with_y) r->by[slot] = y;
    if (isnan(x) || (with_y && isnan(y))) r->last_nan = i;
    r->run_x = (i > 0 && x == r->prev_x) ? r->run_x + 1 : 1;
    r->prev_x = x;
    if (with_y) {
        r->run_y = (i > 0 && y == r->prev_y) ? r->run_y + 1 : 1;
        r->prev_y = y;
    }
    if (w < 2 || i < w - 1 || r->last_nan > i - w) {
        r->fresh = -1;
        return NAN;
    }
    int flat_x = r->run_x >= w, flat_y = with_y && r->run_y >= w;
    if (!with_y && flat_x) { r->fresh = -1; return 0.0; }
    if (with_y && (flat_x || flat_y)) { r->fresh = -1; return NAN; }
    mom_t *m = &r->m;
    int rebuilt = 0;
    if (r->fresh < 0 || i - r->fresh >= w) {
        mom_rebuild_ring(m, r->bx, r->by, w, r->pos);
        r->fresh = i;
        rebuilt = 1;
    } else {
        mom_put(m, x, with_y ? y : 0.0, with_y, 1.0);
        mom_put(m, old_x, old_y, with_y, -1.0);
    }
    for (;;) {
        double sx = kval(&m->sx), sxx = kval(&m->sxx);
        double m2x = sxx - sx * sx / w;
        double sy = 0, syy = 0, m2y = 0, cxy = 0;
        if (with_y) {
            sy = kval(&m->sy); syy = kval(&m->syy);
            m2y = syy - sy * sy / w;
            cxy = kval(&m->sxy) - sx * sy / w;
        }
        if (!rebuilt && (m2x * 1e6 < sxx || (with_y && m2y * 1e6 < syy))) {
            mom_rebuild_ring(m, r->bx, r->by, w, r->pos);
            r->fresh = i;
            rebuilt = 1;
            continue;
        }
        if (!with_y) return sqrt((m2x > 0 ? m2x : 0.0) / (w - 1));
        if (m2x <= 0 || m2y <= 0) return NAN;
        double c = cxy / sqrt(m2x * m2y);
        return c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c);
    }
}

mts_rollstd_t *mts_rollstd_new(int32_t w) {
    if (w < 1) return NULL;
    mts_rollstd_t *r = mts_malloc(sizeof *r);
    if (!r) return NULL;
    if (rollstat_init(&r->s, w, 0) != MTS_OK) { mts_free(r); return NULL; }
    return r;
}

void mts_rollstd_free(mts_rollstd_t *r) {
    if (!r) return;
    mts_free(r->s.bx);
    mts_free(r);
}

double mts_rollstd_push(mts_rollstd_t *r, double x) { return rollstat_push(&r->s, x, 0.0); }

mts_rollcorr_t *mts_rollcorr_new(int32_t w) {
    if (w < 1) return NULL;
    mts_rollcorr_t *r = mts_malloc(sizeof *r);
    if (!r) return NULL;
    if (rollstat_init(&r->s, w, 1) != MTS_OK) { mts_free(r); return NULL; }
    return r;
}

void mts_rollcorr_free(mts_rollcorr_t *r) {
    if (!r) return;
    mts_free(r->s.bx);
    mts_free(r->s.by);
    mts_free(r);
}

double mts_rollcorr_push(mts_rollcorr_t *r, double x, double y) { return rollstat_push(&r->s, x, y); }

/* rsi: mts_ta_rsi's loop body; cnt = good values in the current NaN-free
 * stretch before this one (the batch's k = i - start) */
struct mts_rsi {
    int64_t cnt;
    double prev, ag, al;
    int32_t period;
};

mts_rsi_t *mts_rsi_new(int32_t period) {
    if (period < 1) return NULL;
    mts_rsi_t *r = mts_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->period = period;
    return r;
}

void mts_rsi_free(mts_rsi_t *r) { mts_free(r); }

double mts_rsi_push(mts_rsi_t *r, double x) {
    const int32_t period = r->period;
    if (isnan(x)) { r->cnt = 0; r->ag = r->al = 0; return NAN; }
    const int64_t k = r->cnt++;
    const double prev = r->prev;
    r->prev = x;
    if (k == 0) return NAN;
    double ch = x - prev;
    double g = ch > 0 ? ch : 0.0, l = ch < 0 ? -ch : 0.0;
    if (k < period) { r->ag += g; r->al += l; return NAN; }
    if (k == period) { r->ag = (r->ag + g) / period; r->al = (r->al + l) / period; }
    else { r->ag = (r->ag * (period - 1) + g) / period; r->al = (r->al * (period - 1) + l) / period; }
    return r->al == 0.0 ? 100.0 : 100.0 - 100.0 / (1.0 + r->ag / r->al);
}

/* drawdown */
struct mts_drawdown { double peak; };

mts_drawdown_t *mts_drawdown_new(void) {
    mts_drawdown_t *d = mts_malloc(sizeof *d);
    if (d) d->peak = NAN;
    return d;
}

void mts_drawdown_free(mts_drawdown_t *d) { mts_free(d); }

double mts_drawdown_push(mts_drawdown_t *d, double x) {
    if (isnan(x)) return NAN;
    if (isnan(d->peak) || x > d->peak) d->peak = x;
    return d->peak > 0 ? (d->peak - x) / d->peak : NAN;
}

/* pct_rank over a window of w >= 1: the share of the window's values <= x,
 * counted directly (O(w) compares; the batch Fenwick count is the same
 * integer, and both divide it by w once the window is free of NaN) */
struct mts_pctrank {
    double *buf;
    int64_t i, last_nan;
    int32_t pos, w;
};

mts_pctrank_t *mts_pctrank_new(int32_t w) {
    if (w < 1) return NULL;
    mts_pctrank_t *r = mts_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->buf = mts_calloc((size_t)w, sizeof *r->buf);
    if (!r->buf) { mts_free(r); return NULL; }
    r->w = w;
    r->last_nan = -1;
    return r;
}

void mts_pctrank_free(mts_pctrank_t *r) {
    if (!r) return;
    mts_free(r->buf);
    mts_free(r);
}

double mts_pctrank_push(mts_pctrank_t *r, double x) {
    const int32_t w = r->w;
    const int64_t i = r->i++;
    r->buf[r->pos] = x;
    if (++r->pos == w) r->pos = 0;
    if (isnan(x)) { r->last_nan = i; return NAN; }
    if (i < w - 1 || r->last_nan > i - w) return NAN;
    int64_t c = 0;
    for (int32_t k = 0; k < w; k++) c += r->buf[k] <= x;
    return (double)c / (double)w;
}

/* pct_change / diff */
struct mts_change {
    double prev;
    int64_t n;
    int32_t pct;
};

mts_change_t *mts_change_new(int32_t pct) {
    mts_change_t *c = mts_calloc(1, sizeof *c);
    if (c) c->pct = pct != 0;
    return c;
}

void mts_change_free(mts_change_t *c) { mts_free(c); }

double mts_change_push(mts_change_t *c, double x) {
    const double prev = c->prev;
    c->prev = x;
    if (c->n++ == 0) return NAN;
    if (c->pct) return prev == 0.0 ? NAN : x / prev - 1.0;
    return x - prev;
}

/* align_asof, one destination time at a time, over a private copy */
struct mts_asof {
    int64_t *ts;
    double *v;
    int64_t n, j, prev_t;
    double last;
    int started;
};

int mts_asof_new(const int64_t *ts, const double *v, int64_t n, mts_asof_t **out) {
    if (!out) return MTS_EINVAL;
    *out = NULL;
    if (n < 0 || (n > 0 && (!ts || !v))) return MTS_EINVAL;
    for (int64_t j = 1; j < n; j++)
        if (ts[j] < ts[j - 1]) return MTS_EINVAL;
    mts_asof_t *a = mts_calloc(1, sizeof *a);
    if (!a) return MTS_ENOMEM;
    size_t m = n > 0 ? (size_t)n : 1;
    a->ts = mts_malloc(m * sizeof *a->ts);
    a->v = mts_malloc(m * sizeof *a->v);
    if (!a->ts || !a->v) { mts_asof_free(a); return MTS_ENOMEM; }
    if (n > 0) {
        memcpy(a->ts, ts, (size_t)n * sizeof *ts);
        memcpy(a->v, v, (size_t)n * sizeof *v);
    }
    a->n = n;
    a->last = NAN;
    *out = a;
    return MTS_OK;
}

void mts_asof_free(mts_asof_t *a) {
    if (!a) return;
    mts_free(a->ts);
    mts_free(a->v);
    mts_free(a);
}

double mts_asof_at(mts_asof_t *a, int64_t t) {
    if (a->started && t < a->prev_t) {   /* time went backwards: rescan */
        a->j = 0;
        a->last = NAN;
    }
    a->started = 1;
    a->prev_t = t;
    while (a->j < a->n && a->ts[a->j] <= t) {
        if (!isnan(a->v[a->j])) a->last = a->v[a->j];
        a->j++;
    }
    return a->last;
}

/* ==== EMA, ATR, MACD, Bollinger bands, VWAP, rolling min/max ================
 * Each indicator below is one state machine (a static *_step function over a
 * small struct); the batch function runs it over the arrays and the streaming
 * object runs it one push at a time, so the two are the same floating-point
 * operations in the same order — bit for bit equal by construction, and
 * tests/c/test_ta_stream.c checks it on the bundled data anyway. The values
 * are checked against independent calculations in tests/c/test_ta.c (hand
 * values for short series) and tests/lua/indicators_spec.lua (naive
 * re-implementations on the bundled BTC bars). */

/* ---- ema: TA-Lib's convention. k = 2/(n+1); the first value, at the n-th
 * good input, is the plain mean of those n inputs; then e += (x - e)*k, in
 * TA-Lib's order ((x - e)*k + e). A NaN input gives NaN and restarts the
 * seeding (like rsi). ---- */
typedef struct { double k, sum, e; int64_t cnt; int32_t n; } ema_t;

static void ema_init(ema_t *s, int32_t n) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->k = 2.0 / ((double)n + 1.0);
}

static inline double ema_step(ema_t *s, double x) {
    if (isnan(x)) { s->cnt = 0; s->sum = 0; return NAN; }
    int64_t c = ++s->cnt;
    if (c < s->n) { s->sum += x; return NAN; }
    if (c == s->n) { s->sum += x; s->e = s->sum / s->n; return s->e; }
    s->e = (x - s->e) * s->k + s->e;
    return s->e;
}

int mts_ta_ema(const double *x, int64_t n, int32_t period, double *out) {
    if (!x || !out || n < 0 || period < 1) return MTS_EINVAL;
    ema_t s;
    ema_init(&s, period);
    for (int64_t i = 0; i < n; i++) out[i] = ema_step(&s, x[i]);
    return MTS_OK;
}

struct mts_ema { ema_t s; };

mts_ema_t *mts_ema_new(int32_t period) {
    if (period < 1) return NULL;
    mts_ema_t *r = mts_malloc(sizeof *r);
    if (r) ema_init(&r->s, period);
    return r;
}
void mts_ema_free(mts_ema_t *r) { mts_free(r); }
double mts_ema_push(mts_ema_t *r, double x) { return ema_step(&r->s, x); }

/* ---- atr: Wilder. TR[i] = max(h-l, |h-c[i-1]|, |l-c[i-1]|) needs the
 * previous close, so the first bar (and the first after a NaN) has no TR;
 * the first ATR is the mean of the first n TRs (out[n] on a clean series,
 * TA-Lib's ATR), then atr = (atr*(n-1) + TR)/n. A bar with any NaN of h, l, c
 * gives NaN and restarts. ---- */
typedef struct { double prev_c, sum, a; int64_t cnt; int32_t n; } atr_t;

static inline double atr_step(atr_t *s, double h, double l, double c) {
    if (isnan(h) || isnan(l) || isnan(c)) { s->cnt = 0; s->sum = 0; return NAN; }
    int64_t k = s->cnt++;            /* TRs available before this bar */
    double pc = s->prev_c;
    s->prev_c = c;
    if (k == 0) return NAN;
    double tr = h - l, u = fabs(h - pc), d = fabs(l - pc);
    if (u > tr) tr = u;
    if (d > tr) tr = d;
    if (k < s->n) { s->sum += tr; return NAN; }
    if (k == s->n) { s->a = (s->sum + tr) / s->n; return s->a; }
    s->a = (s->a * (s->n - 1) + tr) / s->n;
    return s->a;
}

int mts_ta_atr(const double *high, const double *low, const double *close, int64_t n,
               int32_t period, double *out) {
    if (!high || !low || !close || !out || n < 0 || period < 1) return MTS_EINVAL;
    atr_t s = { .n = period };
    for (int64_t i = 0; i < n; i++) out[i] = atr_step(&s, high[i], low[i], close[i]);
    return MTS_OK;
}

struct mts_atr { atr_t s; };

mts_atr_t *mts_atr_new(int32_t period) {
    if (period < 1) return NULL;
    mts_atr_t *r = mts_calloc(1, sizeof *r);
    if (r) r->s.n = period;
    return r;
}
void mts_atr_free(mts_atr_t *r) { mts_free(r); }
double mts_atr_push(mts_atr_t *r, double h, double l, double c) { return atr_step(&r->s, h, l, c); }

/* ---- macd: line = ema(x, fast) - ema(x, slow) (each seeded with its own
 * SMA, as StockCharts and pandas-ta do); signal = ema(line, signal) seeded
 * with the mean of the first `signal` line values; hist = line - signal.
 * (TA-Lib seeds the fast EMA later, at the slow EMA's first bar; the two
 * agree to within rounding after a few dozen bars.) ---- */
typedef struct { ema_t f, s, g; double line, sig, hist; } macd_t;

static int macd_init(macd_t *m, int32_t fast, int32_t slow, int32_t signal) {
    if (fast < 1 || slow < 1 || signal < 1) return MTS_EINVAL;
    ema_init(&m->f, fast);
    ema_init(&m->s, slow);
    ema_init(&m->g, signal);
    m->line = m->sig = m->hist = NAN;
    return MTS_OK;
}

static inline void macd_step(macd_t *m, double x) {
    double a = ema_step(&m->f, x), b = ema_step(&m->s, x);
    m->line = a - b;                           /* NaN while either warms up */
    /* a NaN line from warm-up is skipped, not a restart; a NaN input restarts
     * both EMAs and the signal */
    if (isnan(x)) { m->sig = ema_step(&m->g, NAN); m->hist = NAN; return; }
    if (isnan(m->line)) { m->sig = NAN; m->hist = NAN; return; }
    m->sig = ema_step(&m->g, m->line);
    m->hist = m->line - m->sig;
}

int mts_ta_macd(const double *x, int64_t n, int32_t fast, int32_t slow, int32_t signal,
                double *line, double *sig, double *hist) {
    if (!x || !line || !sig || !hist || n < 0) return MTS_EINVAL;
    macd_t m;
    if (macd_init(&m, fast, slow, signal) != MTS_OK) return MTS_EINVAL;
    for (int64_t i = 0; i < n; i++) {
        macd_step(&m, x[i]);
        line[i] = m.line; sig[i] = m.sig; hist[i] = m.hist;
    }
    return MTS_OK;
}

struct mts_macd { macd_t m; };

mts_macd_t *mts_macd_new(int32_t fast, int32_t slow, int32_t signal) {
    mts_macd_t *r = mts_malloc(sizeof *r);
    if (!r) return NULL;
    if (macd_init(&r->m, fast, slow, signal) != MTS_OK) { mts_free(r); return NULL; }
    return r;
}
void mts_macd_free(mts_macd_t *r) { mts_free(r); }
double mts_macd_push(mts_macd_t *r, double x) { macd_step(&r->m, x); return r->m.line; }
double mts_macd_signal(const mts_macd_t *r) { return r->m.sig; }
double mts_macd_hist(const mts_macd_t *r) { return r->m.hist; }

/* ---- bbands: middle = sma(x, w) (mts_ta_sma's arithmetic); the band width
 * is k times the POPULATION standard deviation (divide by w, ddof = 0, as
 * TA-Lib's BBANDS and StockCharts), computed like rolling_std: compensated
 * sums of deviations from a shift, rebuilt exactly every w steps. upper =
 * mid + k*sd, lower = mid - k*sd. w >= 2. ---- */
typedef struct {
    double *buf;                 /* ring of the last w inputs */
    int64_t i, last_nan, fresh, fresh_sd, run;
    double sum, prev, mid, up, lo, k;
    int32_t pos, w;
    mom_t m;
} bb_t;

static inline void bb_step(bb_t *b, double x) {
    const int32_t w = b->w;
    const int64_t i = b->i++;
    const int32_t slot = b->pos;
    if (++b->pos == w) b->pos = 0;
    const double old = b->buf[slot];
    b->buf[slot] = x;
    if (isnan(x)) b->last_nan = i;
    b->run = (i > 0 && x == b->prev) ? b->run + 1 : 1;
    b->prev = x;
    if (i < w - 1 || b->last_nan > i - w) {
        b->fresh = b->fresh_sd = -1;
        b->mid = b->up = b->lo = NAN;
        return;
    }
    /* middle: the sma's running sum, recomputed every w values, oldest first */
    if (b->fresh < 0 || i - b->fresh >= w) {
        double s = 0;
        for (int32_t k = 0, p = b->pos; k < w; k++, p = (p + 1 == w) ? 0 : p + 1) s += b->buf[p];
        b->sum = s;
        b->fresh = i;
    } else {
        b->sum += x - old;
    }
    b->mid = b->sum / (double)w;
    double sd;
    if (b->run >= w) {               /* a flat window: exactly 0 */
        b->fresh_sd = -1;
        sd = 0.0;
    } else {
        int rebuilt = 0;
        if (b->fresh_sd < 0 || i - b->fresh_sd >= w) {
            mom_rebuild_ring(&b->m, b->buf, NULL, w, b->pos);
            b->fresh_sd = i;
            rebuilt = 1;
        } else {
            mom_put(&b->m, x, 0.0, 0, 1.0);
            mom_put(&b->m, old, 0.0, 0, -1.0);
        }
        for (;;) {
            double sx = kval(&b->m.sx), sxx = kval(&b->m.sxx);
            double m2 = sxx - sx * sx / w;
            if (!rebuilt && m2 * 1e6 < sxx) {
                mom_rebuild_ring(&b->m, b->buf, NULL, w, b->pos);
                b->fresh_sd = i;
                rebuilt = 1;
                continue;
            }
            sd = sqrt((m2 > 0 ? m2 : 0.0) / w);
            break;
        }
    }
    b->up = b->mid + b->k * sd;
    b->lo = b->mid - b->k * sd;
}

static int bb_init(bb_t *b, int32_t w, double k, double *buf) {
    memset(b, 0, sizeof *b);
    b->buf = buf;
    b->w = w;
    b->k = k;
    b->last_nan = b->fresh = b->fresh_sd = -1;
    b->mid = b->up = b->lo = NAN;
    return MTS_OK;
}

int mts_ta_bbands(const double *x, int64_t n, int32_t w, double k,
                  double *mid, double *upper, double *lower) {
    if (!x || !mid || !upper || !lower || n < 0 || w < 2 || !isfinite(k) || k < 0) return MTS_EINVAL;
    double *buf = mts_calloc((size_t)w, sizeof *buf);
    if (!buf) return MTS_ENOMEM;
    bb_t b;
    bb_init(&b, w, k, buf);
    for (int64_t i = 0; i < n; i++) {
        bb_step(&b, x[i]);
        mid[i] = b.mid; upper[i] = b.up; lower[i] = b.lo;
    }
    mts_free(buf);
    return MTS_OK;
}

struct mts_bbands { bb_t b; };

mts_bbands_t *mts_bbands_new(int32_t w, double k) {
    if (w < 2 || !isfinite(k) || k < 0) return NULL;
    mts_bbands_t *r = mts_malloc(sizeof *r);
    double *buf = mts_calloc((size_t)w, sizeof *buf);
    if (!r || !buf) { mts_free(r); mts_free(buf); return NULL; }
    bb_init(&r->b, w, k, buf);
    return r;
}
void mts_bbands_free(mts_bbands_t *r) {
    if (!r) return;
    mts_free(r->b.buf);
    mts_free(r);
}
double mts_bbands_push(mts_bbands_t *r, double x) { bb_step(&r->b, x); return r->b.mid; }
double mts_bbands_upper(const mts_bbands_t *r) { return r->b.up; }
double mts_bbands_lower(const mts_bbands_t *r) { return r->b.lo; }

/* ---- vwap: typical price tp = (h + l + c)/3, vwap = sum(tp*v)/sum(v).
 * w <= 0: cumulative since the first bar; a bar with any NaN gives NaN and is
 * left out of the sums (the running VWAP continues after it). w >= 1: over
 * the last w bars, NaN until w bars and while a NaN bar is in the window;
 * running sums recomputed every w bars, oldest first (as sma). NaN while the
 * volume summed is 0. Cumulative sums are compensated (TwoSum), so years of
 * bars do not drift. ---- */
typedef struct {
    double *pv, *vv;             /* rings (w >= 1) of tp*v and v */
    ksum_t cpv, cv;              /* cumulative (w <= 0) */
    double spv, sv;
    int64_t i, last_nan, fresh;
    int32_t pos, w;
} vwap_t;

static inline double vwap_step(vwap_t *s, double h, double l, double c, double v) {
    double tp = (h + l + c) / 3.0, pv = tp * v;
    int bad = isnan(pv);
    if (s->w <= 0) {
        if (bad) return NAN;
        kadd(&s->cpv, pv);
        kadd(&s->cv, v);
        double sv = kval(&s->cv);
        return sv == 0.0 ? NAN : kval(&s->cpv) / sv;
    }
    const int32_t w = s->w;
    const int64_t i = s->i++;
    const int32_t slot = s->pos;
    if (++s->pos == w) s->pos = 0;
    const double opv = s->pv[slot], ov = s->vv[slot];
    s->pv[slot] = pv;
    s->vv[slot] = v;
    if (bad) s->last_nan = i;
    if (i < w - 1 || s->last_nan > i - w) { s->fresh = -1; return NAN; }
    if (s->fresh < 0 || i - s->fresh >= w) {
        double a = 0, b = 0;
        for (int32_t k = 0, p = s->pos; k < w; k++, p = (p + 1 == w) ? 0 : p + 1) {
            a += s->pv[p];
            b += s->vv[p];
        }
        s->spv = a;
        s->sv = b;
        s->fresh = i;
    } else {
        s->spv += pv - opv;
        s->sv += v - ov;
    }
    return s->sv == 0.0 ? NAN : s->spv / s->sv;
}

static int vwap_init(vwap_t *s, int32_t w) {
    memset(s, 0, sizeof *s);
    s->w = w > 0 ? w : 0;
    s->last_nan = s->fresh = -1;
    if (s->w > 0) {
        s->pv = mts_calloc((size_t)w, sizeof *s->pv);
        s->vv = mts_calloc((size_t)w, sizeof *s->vv);
        if (!s->pv || !s->vv) { mts_free(s->pv); mts_free(s->vv); return MTS_ENOMEM; }
    }
    return MTS_OK;
}

int mts_ta_vwap(const double *high, const double *low, const double *close, const double *volume,
                int64_t n, int32_t w, double *out) {
    if (!high || !low || !close || !volume || !out || n < 0) return MTS_EINVAL;
    vwap_t s;
    if (vwap_init(&s, w) != MTS_OK) return MTS_ENOMEM;
    for (int64_t i = 0; i < n; i++) out[i] = vwap_step(&s, high[i], low[i], close[i], volume[i]);
    mts_free(s.pv);
    mts_free(s.vv);
    return MTS_OK;
}

struct mts_vwap { vwap_t s; };

mts_vwap_t *mts_vwap_new(int32_t w) {
    mts_vwap_t *r = mts_malloc(sizeof *r);
    if (!r) return NULL;
    if (vwap_init(&r->s, w) != MTS_OK) { mts_free(r); return NULL; }
    return r;
}
void mts_vwap_free(mts_vwap_t *r) {
    if (!r) return;
    mts_free(r->s.pv);
    mts_free(r->s.vv);
    mts_free(r);
}
double mts_vwap_push(mts_vwap_t *r, double h, double l, double c, double v) {
    return vwap_step(&r->s, h, l, c, v);
}

/* ---- rolling min / max: a monotonic deque of (index, value) in a ring of w
 * slots — each value enters and leaves once, O(1) amortised per push, no
 * allocation after creation. NaN while the window is incomplete or holds a
 * NaN (as sma); a NaN empties the deque. Ties keep the newest. ---- */
typedef struct {
    int64_t *di;
    double *dv;
    int64_t i, last_nan;
    int32_t head, len, w, want_max;
} mm_t;

static inline double mm_step(mm_t *s, double x) {
    const int32_t w = s->w;
    const int64_t i = s->i++;
    if (isnan(x)) { s->last_nan = i; s->len = 0; s->head = 0; return NAN; }
    /* drop the front if it left the window */
    if (s->len > 0 && s->di[s->head] <= i - w) {
        if (++s->head == w) s->head = 0;
        s->len--;
    }
    /* drop from the back every value x dominates */
    while (s->len > 0) {
        int32_t b = s->head + s->len - 1;
        if (b >= w) b -= w;
        double bv = s->dv[b];
        if (s->want_max ? bv <= x : bv >= x) s->len--; else break;
    }
    int32_t t = s->head + s->len;
    if (t >= w) t -= w;
    s->di[t] = i;
    s->dv[t] = x;
    s->len++;
    if (i < w - 1 || s->last_nan > i - w) return NAN;
    return s->dv[s->head];
}

static int mm_init(mm_t *s, int32_t w, int32_t want_max) {
    memset(s, 0, sizeof *s);
    s->di = mts_malloc((size_t)w * sizeof *s->di);
    s->dv = mts_malloc((size_t)w * sizeof *s->dv);
    if (!s->di || !s->dv) { mts_free(s->di); mts_free(s->dv); return MTS_ENOMEM; }
    s->w = w;
    s->want_max = want_max != 0;
    s->last_nan = -1;
    return MTS_OK;
}

static int rolling_ext(const double *x, int64_t n, int32_t w, double *out, int32_t want_max) {
    if (!x || !out || n < 0 || w < 1) return MTS_EINVAL;
    mm_t s;
    if (mm_init(&s, w, want_max) != MTS_OK) return MTS_ENOMEM;
    for (int64_t i = 0; i < n; i++) out[i] = mm_step(&s, x[i]);
    mts_free(s.di);
    mts_free(s.dv);
    return MTS_OK;
}

int mts_ta_rolling_min(const double *x, int64_t n, int32_t w, double *out) { return rolling_ext(x, n, w, out, 0); }
int mts_ta_rolling_max(const double *x, int64_t n, int32_t w, double *out) { return rolling_ext(x, n, w, out, 1); }

struct mts_rollext { mm_t s; };

mts_rollext_t *mts_rollext_new(int32_t w, int32_t want_max) {
    if (w < 1) return NULL;
    mts_rollext_t *r = mts_malloc(sizeof *r);
    if (!r) return NULL;
    if (mm_init(&r->s, w, want_max) != MTS_OK) { mts_free(r); return NULL; }
    return r;
}
void mts_rollext_free(mts_rollext_t *r) {
    if (!r) return;
    mts_free(r->s.di);
    mts_free(r->s.dv);
    mts_free(r);
}
double mts_rollext_push(mts_rollext_t *r, double x) { return mm_step(&r->s, x); }
