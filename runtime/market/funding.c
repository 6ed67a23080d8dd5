/* funding.c — settlement events from funding rows (rule in funding.h). */
#include "market/funding.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t t;        /* settlement: floor(ts_ms/1000); stream: its T (unix s) */
    int64_t ts_ms;
    int64_t idx;      /* input order, the last tie-break */
    double rate, mark;
} row_t;

static int cmp_row(const void *a, const void *b) {
    const row_t *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    if (x->ts_ms != y->ts_ms) return x->ts_ms < y->ts_ms ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int64_t floor_div(int64_t a, int64_t d) { return a >= 0 ? a / d : -((-a + d - 1) / d); }

void mts_funding_events_free(mts_funding_events_t *ev) {
    if (!ev) return;
    mts_free(ev->ts);
    mts_free(ev->rate);
    mts_free(ev->mark);
    memset(ev, 0, sizeof *ev);
}

static double clean_mark(double m) { return isfinite(m) && m > 0 ? m : NAN; }

int mts_funding_events_build_ms(const int64_t *ts_ms, const double *rate, const double *mark,
                                const int64_t *next_ms, int64_t n, mts_funding_events_t *out) {
    if (!out) return MTS_EINVAL;
    memset(out, 0, sizeof *out);
    if (n < 0 || (n > 0 && (!ts_ms || !rate))) return MTS_EINVAL;
    row_t *set = n ? mts_malloc((size_t)n * sizeof *set) : NULL;
    row_t *str = n ? mts_malloc((size_t)n * sizeof *str) : NULL;
    if (n && (!set || !str)) {
        mts_free(set);
        mts_free(str);
        return MTS_ENOMEM;
    }
    int64_t ns = 0, nq = 0, last_ms = INT64_MIN;
    for (int64_t i = 0; i < n; i++) {
        if (ts_ms[i] > last_ms) last_ms = ts_ms[i];
        if (!isfinite(rate[i])) continue;
        int64_t nx = next_ms ? next_ms[i] : 0;
        row_t r = {0, ts_ms[i], i, rate[i], clean_mark(mark ? mark[i] : NAN)};
        if (nx <= 0) {
            r.t = floor_div(ts_ms[i], 1000);
            set[ns++] = r;
        } else {
            r.t = floor_div(nx, 1000);
            if (ts_ms[i] < r.t * 1000) str[nq++] = r;   /* known before T; later rows are stale */
        }
    }
    if (ns) qsort(set, (size_t)ns, sizeof *set, cmp_row);
    if (nq) qsort(str, (size_t)nq, sizeof *str, cmp_row);
    /* settlements: the last row of each second */
    int64_t m = 0;
    for (int64_t i = 0; i < ns; i++) {
        if (m && set[m - 1].t == set[i].t) set[m - 1] = set[i];
        else set[m++] = set[i];
    }
    ns = m;
    /* stream: the last row of each T, if T passed and is not settled */
    m = 0;
    int64_t j = 0;    /* first settlement with t >= T - tolerance */
    for (int64_t i = 0; i < nq; i++) {
        if (i + 1 < nq && str[i + 1].t == str[i].t) continue;   /* not the last of its T */
        int64_t T = str[i].t;
        if (last_ms < T * 1000) continue;
        while (j < ns && set[j].t < T - MTS_FUNDING_SETTLE_TOLERANCE_S) j++;
        if (j < ns && set[j].t <= T + MTS_FUNDING_SETTLE_TOLERANCE_S) continue;
        str[m++] = str[i];
    }
    nq = m;
    int64_t total = ns + nq;
    if (total) {
        out->ts = mts_malloc((size_t)total * sizeof *out->ts);
        out->rate = mts_malloc((size_t)total * sizeof *out->rate);
        out->mark = mts_malloc((size_t)total * sizeof *out->mark);
        if (!out->ts || !out->rate || !out->mark) {
            mts_funding_events_free(out);
            mts_free(set);
            mts_free(str);
            return MTS_ENOMEM;
        }
    }
    /* merge (distinct times: a stream T within the tolerance of a settlement was dropped) */
    int64_t a = 0, b = 0, k = 0;
    while (a < ns || b < nq) {
        const row_t *r = (b >= nq || (a < ns && set[a].t <= str[b].t)) ? &set[a++] : &str[b++];
        out->ts[k] = r->t;
        out->rate[k] = r->rate;
        out->mark[k] = r->mark;
        k++;
    }
    out->n = out->cap = k;
    mts_free(set);
    mts_free(str);
    return 0;
}

int mts_funding_events_build(const mts_funding_t *rows, mts_funding_events_t *out) {
    if (!out) return MTS_EINVAL;
    memset(out, 0, sizeof *out);
    if (!rows || rows->n < 0) return MTS_EINVAL;
    int64_t n = rows->n;
    if (n == 0) return 0;
    if (!rows->ts || !rows->rate) return MTS_EINVAL;
    int64_t *ms = mts_malloc((size_t)n * sizeof *ms), *nx = mts_malloc((size_t)n * sizeof *nx);
    if (!ms || !nx) {
        mts_free(ms);
        mts_free(nx);
        return MTS_ENOMEM;
    }
    for (int64_t i = 0; i < n; i++) {
        ms[i] = rows->ts[i] * 1000;
        nx[i] = rows->next_funding && rows->next_funding[i] > 0 ? rows->next_funding[i] * 1000 : 0;
    }
    int rc = mts_funding_events_build_ms(ms, rows->rate, rows->mark_price, nx, n, out);
    mts_free(ms);
    mts_free(nx);
    return rc;
}
