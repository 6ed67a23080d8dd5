/* series.c — bars at any interval: stored, or resampled from a finer stored
 * series (contract in series.h). */
#include "market/series.h"

#include "market/interval.h"
#include "mts.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_IV 32

static int failf(mts_series_info_t *info, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(mts_series_info_t *info, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info->error, sizeof info->error, fmt, ap);
    va_end(ap);
    return rc;
}

int mts_series_load_bars(mts_store_t *s, const char *asset, const char *interval, int64_t from, int64_t to,
                         mts_bars_t *out, mts_series_info_t *info) {
    return mts_series_load_bars_ex(s, asset, interval, from, to, 0, out, info);
}

int mts_series_load_bars_ex(mts_store_t *s, const char *asset, const char *interval, int64_t from, int64_t to,
                            unsigned flags, mts_bars_t *out, mts_series_info_t *info) {
    mts_series_info_t dummy;
    if (!info) info = &dummy;
    memset(info, 0, sizeof *info);
    info->resample.bad_index = -1;
    if (!s || !asset || !out) return failf(info, MTS_EINVAL, "series: missing argument");
    out->n = 0;
    int64_t coarse = mts_interval_seconds(interval);
    if (coarse < 0)
        return failf(info, MTS_EINVAL, "unknown interval '%s' (one of %s)", interval ? interval : "(null)",
                     MTS_INTERVALS);
    snprintf(info->interval, sizeof info->interval, "%s", interval);

    char names[MAX_IV][8];
    int n = 0, rc = mts_store_ohlcv_intervals(s, asset, names, MAX_IV, &n);
    if (rc) return failf(info, rc, "%s", mts_store_errmsg(s));
    int src = -1;
    for (int i = 0; i < n && src < 0; i++)
        if (!strcmp(names[i], interval)) src = i;
    if (src >= 0) {                                             /* stored as asked */
        snprintf(info->source, sizeof info->source, "%s", interval);
        rc = mts_store_load_ohlcv(s, asset, interval, from, to, out);
        return rc ? failf(info, rc, "%s", mts_store_errmsg(s)) : 0;
    }
    for (int i = n - 1; i >= 0 && src < 0; i--) {                /* coarsest first (names: finest first) */
        int64_t fine = mts_interval_seconds(names[i]);
        if (fine < coarse && mts_interval_divides(fine, coarse)) src = i;
    }
    if (src < 0) {
        char list[MAX_IV * 8 + 8] = "";
        for (int i = 0, used = 0; i < n && used < (int)sizeof list; i++)
            used += snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
        if (n == 0)
            return failf(info, MTS_ENOTFOUND, "no bars stored for asset '%s' (import them: mts import csv FILE --asset %s)",
                         asset, asset);
        return failf(info, MTS_ENOTFOUND,
                     "no %s bars for %s: stored are %s, and none resamples into %s (only a finer interval that "
                     "divides it does); import %s bars or a finer interval",
                     interval, asset, list, interval, interval);
    }
    const char *fine_name = names[src];
    int64_t fine = mts_interval_seconds(fine_name);
    snprintf(info->source, sizeof info->source, "%s", fine_name);
    info->resampled = 1;

    /* fine bars of the buckets opening in [from, to]: from `from` to the end
     * of the bucket that holds `to` (clamped far from overflow) */
    const int64_t far = (int64_t)1 << 60;
    int64_t lo = from, hi = to;
    if (hi != INT64_MAX && hi < far && hi > -far) hi = mts_interval_floor(hi, coarse) + coarse - 1;
    rc = mts_store_load_ohlcv(s, asset, fine_name, lo, hi, out);
    if (rc) return failf(info, rc, "%s", mts_store_errmsg(s));
    rc = mts_resample_bars(out, fine, coarse, MTS_RESAMPLE_NO_CLOCK, flags, out, &info->resample);
    if (rc == MTS_EINVAL) {
        int64_t bad = info->resample.bad_index;   /* out's arrays still hold the loaded bars */
        int64_t t = bad >= 0 && bad < out->cap ? out->ts[bad] : 0;
        out->n = 0;
        return failf(info, rc, "stored %s bars of %s: the bar at unix time %lld is not on the %s grid or not after "
                     "the one before; re-import the series",
                     fine_name, asset, (long long)t, fine_name);
    }
    if (rc) return failf(info, rc, "resampling %s %s into %s: %s", asset, fine_name, interval, mts_strerror(rc));
    /* a `from` inside a bucket: that bucket opens before from and lacks its first fine bars */
    if (out->n > 0 && out->ts[0] < from) {
        info->resample.bars--;                /* it was partial: its first fine bars are before from */
        info->resample.partial--;
        int64_t m = --out->n;
        memmove(out->ts, out->ts + 1, (size_t)m * sizeof *out->ts);
        double *cols[5] = {out->open, out->high, out->low, out->close, out->volume};
        for (int k = 0; k < 5; k++) memmove(cols[k], cols[k] + 1, (size_t)m * sizeof *cols[k]);
    }
    return 0;
}

int mts_series_map_bars(mts_store_t *s, const char *asset, const char *interval, int64_t from, int64_t to,
                        unsigned flags, mts_bars_view_t *out, mts_series_info_t *info) {
    mts_series_info_t dummy;
    if (!info) info = &dummy;
    if (out) memset(out, 0, sizeof *out);
    if (!s || !asset || !out || !interval || mts_interval_seconds(interval) < 0) {   /* the load says why */
        mts_bars_t none = {0};
        return mts_series_load_bars_ex(s, asset, interval, from, to, flags, out ? &none : NULL, info);
    }
    char names[MAX_IV][8];
    int n = 0, rc = mts_store_ohlcv_intervals(s, asset, names, MAX_IV, &n);
    if (rc) {
        memset(info, 0, sizeof *info);
        info->resample.bad_index = -1;
        return failf(info, rc, "%s", mts_store_errmsg(s));
    }
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], interval)) {                      /* stored as asked: the cache */
            memset(info, 0, sizeof *info);
            info->resample.bad_index = -1;
            snprintf(info->interval, sizeof info->interval, "%s", interval);
            snprintf(info->source, sizeof info->source, "%s", interval);
            rc = mts_store_map_ohlcv(s, asset, interval, from, to, out);
            return rc ? failf(info, rc, "%s", mts_store_errmsg(s)) : 0;
        }
    mts_bars_t b = {0};                                         /* resampled: computed, owned */
    rc = mts_series_load_bars_ex(s, asset, interval, from, to, flags, &b, info);
    if (rc) {
        mts_bars_free(&b);
        return rc;
    }
    mts_bars_view_adopt(out, &b);
    return 0;
}

const char *mts_series_describe(const mts_series_info_t *info, char *buf, size_t n) {
    if (!buf || n == 0) return buf;
    if (!info || !info->source[0]) snprintf(buf, n, "not loaded");
    else if (!info->resampled) snprintf(buf, n, "stored %s", info->source);
    else if (info->resample.partial > 0)
        snprintf(buf, n, "resampled from %s (%lld bar%s with %s bars missing)", info->source,
                 (long long)info->resample.partial, info->resample.partial == 1 ? "" : "s", info->source);
    else snprintf(buf, n, "resampled from %s", info->source);
    return buf;
}

int mts_series_ensure(mts_store_t *s, const char *root, const char *asset, const char *interval) {
    if (!interval) interval = MTS_INTERVAL_DEFAULT;
    int64_t want = mts_interval_seconds(interval);
    if (want < 0) return MTS_EINVAL;
    int rc = mts_store_ensure_asset(s, root, asset, interval);
    if (rc != MTS_ENOTFOUND) return rc;
    /* nothing bundled at that interval: the bundled finer ones that resample into it */
    int found = 0;
    char names[] = MTS_INTERVALS;
    char *save = NULL;
    for (char *tok = strtok_r(names, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        int64_t sec = mts_interval_seconds(tok);
        if (sec >= want || !mts_interval_divides(sec, want)) continue;
        int r = mts_store_ensure_asset(s, root, asset, tok);
        if (r == 0) found = 1;
        else if (r != MTS_ENOTFOUND) return r;
    }
    if (found) return 0;
    /* nothing bundled: bars of any interval stored for the asset make it known
     * (mts_series_load_bars then gives them, or says what is stored and why it
     * does not give this interval) */
    char stored[1][8];
    int n = 0;
    if (mts_store_ohlcv_intervals(s, asset, stored, 1, &n) != 0) return MTS_EDB;
    return n > 0 ? 0 : MTS_ENOTFOUND;
}
