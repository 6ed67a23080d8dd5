/* resample.c — fine bars into coarse bars (contract in resample.h). The batch
 * form runs the streaming one over the series, so both follow one rule. */
#include "market/resample.h"

#include "market/interval.h"
#include "mts.h"
#include "store/store.h"

#include <string.h>

#define NONE INT64_MIN

int mts_resampler_init(mts_resampler_t *r, int64_t fine_s, int64_t coarse_s) {
    if (!r) return MTS_EINVAL;
    memset(r, 0, sizeof *r);
    r->open_ts = r->last_ts = r->closed_ts = NONE;
    if (!mts_interval_name(fine_s) || !mts_interval_name(coarse_s) || fine_s == coarse_s ||
        !mts_interval_divides(fine_s, coarse_s))
        return MTS_EINVAL;
    r->fine_s = fine_s;
    r->coarse_s = coarse_s;
    return 0;
}

static void start(mts_resampler_t *r, int64_t open_ts, double o, double h, double l, double c, double v) {
    r->open_ts = open_ts;
    r->cur = (mts_coarse_bar_t){open_ts, o, h, l, c, v, 1, (int32_t)(r->coarse_s / r->fine_s)};
}

int mts_resampler_push(mts_resampler_t *r, int64_t ts, double o, double h, double l, double c, double v,
                       mts_coarse_bar_t out[2]) {
    if (!r || !out || r->fine_s <= 0) return MTS_EINVAL;
    if ((r->last_ts != NONE && ts <= r->last_ts) || !mts_interval_aligned(ts, r->fine_s)) return MTS_EINVAL;
    int64_t b = mts_interval_floor(ts, r->coarse_s);
    if (r->closed_ts != NONE && b <= r->closed_ts) return MTS_ERANGE;   /* its bucket was closed by the clock */
    int k = 0;
    if (r->open_ts != NONE && b != r->open_ts) {          /* a gap closed the bucket before */
        out[k++] = r->cur;
        r->open_ts = NONE;
    }
    if (r->open_ts == NONE) {
        start(r, b, o, h, l, c, v);
    } else {
        mts_coarse_bar_t *x = &r->cur;
        if (h > x->high) x->high = h;
        if (l < x->low) x->low = l;
        x->close = c;
        x->volume += v;
        x->fine++;
    }
    r->last_ts = ts;
    if (ts + r->fine_s == b + r->coarse_s) {              /* the bucket's last fine bar */
        out[k++] = r->cur;
        r->open_ts = NONE;
    }
    return k;
}

int mts_resampler_feed(mts_resampler_t *r, const mts_bars_t *fine, int64_t from, int64_t to, mts_bars_t *out,
                       int64_t *bad) {
    int64_t dummy;
    if (!bad) bad = &dummy;
    *bad = -1;
    if (!r || !fine || !out || from < 0 || to < from || to > fine->n) return MTS_EINVAL;
    mts_coarse_bar_t c[2];
    for (int64_t i = from; i < to; i++) {
        if (out->n + 2 > out->cap) {                      /* room for what one push can close */
            *bad = i;
            return MTS_ERANGE;
        }
        int m = mts_resampler_push(r, fine->ts[i], fine->open[i], fine->high[i], fine->low[i], fine->close[i],
                                   fine->volume[i], c);
        if (m < 0) {
            *bad = i;
            return m;
        }
        for (int j = 0; j < m; j++) {
            int64_t k = out->n++;
            out->ts[k] = c[j].ts;
            out->open[k] = c[j].open;
            out->high[k] = c[j].high;
            out->low[k] = c[j].low;
            out->close[k] = c[j].close;
            out->volume[k] = c[j].volume;
        }
    }
    return 0;
}

int mts_resampler_tick(mts_resampler_t *r, int64_t now, mts_coarse_bar_t *out) {
    if (!r || !out || r->open_ts == NONE || now == MTS_RESAMPLE_NO_CLOCK) return 0;
    if (r->open_ts > now - r->coarse_s) return 0;          /* end > now: still forming */
    *out = r->cur;
    r->closed_ts = r->open_ts;
    r->open_ts = NONE;
    return 1;
}

int mts_resampler_forming(const mts_resampler_t *r, mts_coarse_bar_t *out) {
    if (!r || !out || r->open_ts == NONE) return 0;
    *out = r->cur;
    return 1;
}

int64_t mts_resample_bound(const mts_bars_t *fine, int64_t fine_s, int64_t coarse_s) {
    if (!fine || fine->n <= 0 || fine_s <= 0 || coarse_s <= 0) return 0;
    int64_t lo = mts_interval_floor(fine->ts[0], coarse_s), hi = mts_interval_floor(fine->ts[fine->n - 1], coarse_s);
    if (hi < lo) return fine->n;                           /* out of order: the call fails anyway */
    uint64_t span = (uint64_t)hi - (uint64_t)lo;
    uint64_t buckets = span / (uint64_t)coarse_s + 1;
    return buckets < (uint64_t)fine->n ? (int64_t)buckets : fine->n;
}

/* one coarse bar into out at *k (k <= the fine index being read, so in place is safe) */
static void put(mts_bars_t *out, int64_t *k, const mts_coarse_bar_t *c, unsigned flags, mts_resample_info_t *info) {
    int partial = c->fine < c->expected;
    if (partial && (flags & MTS_RESAMPLE_COMPLETE_ONLY)) {
        info->skipped++;
        return;
    }
    int64_t i = (*k)++;
    out->ts[i] = c->ts;
    out->open[i] = c->open;
    out->high[i] = c->high;
    out->low[i] = c->low;
    out->close[i] = c->close;
    out->volume[i] = c->volume;
    info->bars++;
    info->partial += partial;
    info->fine_used += c->fine;
}

int mts_resample_bars(const mts_bars_t *fine, int64_t fine_s, int64_t coarse_s, int64_t now, unsigned flags,
                      mts_bars_t *out, mts_resample_info_t *info) {
    mts_resample_info_t dummy;
    if (!info) info = &dummy;
    memset(info, 0, sizeof *info);
    info->bad_index = -1;
    if (!fine || !out) return MTS_EINVAL;
    mts_resampler_t r;
    if (mts_resampler_init(&r, fine_s, coarse_s) != 0) {
        if (out != fine) out->n = 0;
        return MTS_EINVAL;
    }
    int64_t n = fine->n;
    /* validate first: a failure leaves no half-written out (and in place, no clobbered input) */
    for (int64_t i = 0; i < n; i++)
        if ((i > 0 && fine->ts[i] <= fine->ts[i - 1]) || !mts_interval_aligned(fine->ts[i], fine_s)) {
            info->bad_index = i;
            out->n = 0;
            return MTS_EINVAL;
        }
    int64_t bound = mts_resample_bound(fine, fine_s, coarse_s);
    if (out != fine) {
        out->n = 0;
        if (mts_bars_reserve(out, bound) != 0) return MTS_ENOMEM;
    }
    int64_t k = 0;
    mts_coarse_bar_t c[2];
    for (int64_t i = 0; i < n; i++) {
        int64_t ts = fine->ts[i];
        if (now != MTS_RESAMPLE_NO_CLOCK && ts > now - fine_s) break;   /* not closed by now */
        int m = mts_resampler_push(&r, ts, fine->open[i], fine->high[i], fine->low[i], fine->close[i],
                                   fine->volume[i], c);
        for (int j = 0; j < m; j++) put(out, &k, &c[j], flags, info);
    }
    if (mts_resampler_tick(&r, now, &c[0])) put(out, &k, &c[0], flags, info);
    info->forming = r.open_ts != NONE;
    out->n = k;
    return 0;
}
