/* series.h — the bars of (asset, interval) from the store, at any interval:
 * the stored series of that interval when there is one, else resampled
 * (market/resample.h) from a finer stored series. Used by backtests (so
 * `--interval 4h` works when only 1h is stored), `mts export ohlcv`, and the
 * strategy views.
 *
 * Which series (decided):
 *   1. interval is stored for asset (any row at all): those bars, as stored;
 *   2. else the coarsest stored interval that resamples into it
 *      (mts_store_ohlcv_intervals, mts_interval_divides): resampled. Every
 *      divisor gives the same bars where both are complete (a coarse bar is the
 *      same function of its fine bars at any fine interval); the coarsest
 *      reads the fewest rows and usually covers the longest history (the
 *      bundled BTC 4h bars start 2018, the 1h bars 2021).
 *   3. else MTS_ENOTFOUND, the message naming what is stored.
 * Resampled bars are labelled by their open time; [from, to] selects bars by
 * that open time, as for stored bars, and a bar is built from all its fine
 * bars even when they reach past `to`. There is no clock: the last bucket is a
 * bar only once its last fine bar is stored (the bar still forming is never
 * returned). A bucket with fine bars missing (a gap) is returned and counted
 * in info->resample.partial (resample.h says why).
 *
 * No bundled-data import happens here (mts_store_ensure_asset does that).
 * Allocation: out is grown as mts_store_load_ohlcv grows it (the fine bars are
 * loaded into out and resampled in place). Not thread-safe beyond the store
 * handle's rule (one thread at a time). */
#ifndef MTS_MARKET_SERIES_H
#define MTS_MARKET_SERIES_H

#include <stddef.h>
#include <stdint.h>
#include "market/resample.h"
#include "store/store.h"

typedef struct mts_series_info {
    char interval[8];            /* the interval asked for */
    char source[8];              /* the stored interval the bars came from ("" on failure) */
    int resampled;               /* 0: stored as asked; 1: resampled from source */
    mts_resample_info_t resample;   /* when resampled: bars, partial (gaps), forming (left out) */
    char error[320];             /* on failure: what is wrong and what to do */
} mts_series_info_t;

/* Bars of (asset, interval) with open time in [from, to] (INT64_MIN /
 * INT64_MAX for open ends), ascending, into out (caller-owned, contents
 * replaced; free with mts_bars_free). info may be NULL.
 * 0 (out->n may be 0 when nothing falls in the range); MTS_EINVAL (unknown
 * interval name, stored bars off their grid); MTS_ENOTFOUND (nothing stored
 * that gives this interval); MTS_EDB / MTS_ENOMEM. The reason is in
 * info->error. */
int mts_series_load_bars(mts_store_t *s, const char *asset, const char *interval, int64_t from, int64_t to,
                         mts_bars_t *out, mts_series_info_t *info);

/* Makes sure the store can give (asset, interval) through
 * mts_series_load_bars, importing bundled data on first use: the file bundled
 * for that interval (mts_store_ensure_asset), or when none is, the bundled
 * files of every finer interval that resamples into it. 0 when the store has
 * (or now has) bars of the asset at any interval (mts_series_load_bars then
 * gives the one asked for, or says what is stored and why it does not give
 * it); MTS_ENOTFOUND when the asset has no bars at all and nothing bundled;
 * other errors as mts_store_ensure_asset.
 * interval NULL = "1d". Used by backtests, `mts export` and the REPL. */
int mts_series_ensure(mts_store_t *s, const char *root, const char *asset, const char *interval);

/* The same, with flags of mts_resample_bars for a resampled series
 * (MTS_RESAMPLE_COMPLETE_ONLY: leave out buckets with fine bars missing;
 * info->resample.skipped counts them). A stored series is returned as stored. */
int mts_series_load_bars_ex(mts_store_t *s, const char *asset, const char *interval, int64_t from, int64_t to,
                            unsigned flags, mts_bars_t *out, mts_series_info_t *info);

/* The same as mts_series_load_bars_ex, as a view (store.h mts_bars_view_t):
 * a stored series comes from the shared bar cache (mts_store_map_ohlcv:
 * read-only pointers into a mapping every process reading the same series
 * shares, or a decoded copy when the cache cannot be used); a resampled one
 * is computed into a copy the view owns. Either way nothing may write through
 * the view's pointers. out is zeroed first; release it with
 * mts_bars_view_release (also after a failure). Used where a backtest loads
 * its bars (backtest.c); a live session keeps arrays of its own. */
int mts_series_map_bars(mts_store_t *s, const char *asset, const char *interval, int64_t from, int64_t to,
                        unsigned flags, mts_bars_view_t *out, mts_series_info_t *info);

/* For messages: "stored 4h" or "resampled from 1h (3 bars with fine bars
 * missing)". Returns buf. */
const char *mts_series_describe(const mts_series_info_t *info, char *buf, size_t n);

#endif
