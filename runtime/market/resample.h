/* resample.h — bars of a fine interval into bars of a coarser one (1h -> 4h,
 * 1h -> 1d, 1d -> 1w, 1m -> 1h ...), in one pass (batch) or one fine bar at a
 * time (streaming, for live sessions). Both forms follow one rule and give the
 * same bars (tests/c/test_resample.c checks it, and checks the batch form
 * against Binance's own 4h and daily bars).
 *
 * The rule. fine and coarse are lengths of named intervals (seconds) with
 * fine < coarse and mts_interval_divides(fine, coarse) (market/interval.h).
 * A fine bar opening at ts belongs to the coarse bucket opening at
 * mts_interval_floor(ts, coarse)
 * (1w buckets open on Mondays 00:00 UTC). A coarse bar is
 *   ts = the bucket's open time (bars are labelled by their open time),
 *   open = the first fine open, high = the max high, low = the min low,
 *   close = the last fine close, volume = the sum of the fine volumes
 * over the fine bars present in the bucket, in time order.
 *
 * When a coarse bar is closed. A bucket closes when
 *   - the fine bar that ends it arrives (ts + fine == bucket end), or
 *   - a fine bar of a later bucket arrives (the bucket's last fine bars are
 *     missing: a gap), or
 *   - the clock passes its end (streaming: mts_resampler_tick; batch: now).
 * The bucket still forming — the last one, when neither happened — is never
 * emitted as closed: the batch form leaves it out (info->forming = 1), the
 * streaming form keeps it (mts_resampler_forming shows it, marked forming).
 *
 * Gaps (decided): a closed bucket with fine bars missing is still emitted — an
 * exchange emits its 4h or daily bar over the trades that happened, and an
 * hour without trades (an outage) has no 1h bar — but it is counted
 * (info->partial; per bar mts_coarse_bar_t.fine < .expected). Callers that
 * want only complete buckets pass MTS_RESAMPLE_COMPLETE_ONLY (info->skipped
 * counts what was left out). A bucket with no fine bar at all is no bar.
 *
 * Input: fine bars strictly ascending and on the fine grid; anything else is
 * MTS_EINVAL (info->bad_index names the bar). Values are not checked here
 * (market/bar_check.h is the rule for values; the store holds checked bars).
 *
 * Memory: the batch form makes at most one allocation per call (growing out
 * once to its bound); the streaming form none. out may be the fine series
 * itself (resampling in place). No global state: safe from any thread, one
 * resampler per thread. */
#ifndef MTS_MARKET_RESAMPLE_H
#define MTS_MARKET_RESAMPLE_H

#include <stdint.h>
#include "lua/mts_ffi.h"

/* `now` when there is no clock: only the data closes buckets. */
#define MTS_RESAMPLE_NO_CLOCK INT64_MIN

/* flags of mts_resample_bars */
#define MTS_RESAMPLE_COMPLETE_ONLY 1u     /* leave out buckets with fine bars missing */

typedef struct mts_resample_info {
    int64_t bars;        /* coarse bars written to out */
    int64_t partial;     /* of them, buckets with fine bars missing */
    int64_t skipped;     /* partial buckets left out (MTS_RESAMPLE_COMPLETE_ONLY) */
    int64_t forming;     /* 1 when the last bucket was still forming (left out), else 0 */
    int64_t fine_used;   /* fine bars inside the bars written */
    int64_t bad_index;   /* MTS_EINVAL: index of the fine bar out of order or off the grid; else -1 */
} mts_resample_info_t;

/* Upper bound of the coarse bars fine can give (to size a caller's buffer). */
int64_t mts_resample_bound(const mts_bars_t *fine, int64_t fine_s, int64_t coarse_s);

/* Resample fine (interval fine_s) into out (interval coarse_s). now: unix s,
 * or MTS_RESAMPLE_NO_CLOCK. With a clock, fine bars that have not closed by
 * now (ts + fine_s > now) are not used, and the last bucket closes when its
 * end <= now; without one, it closes only when its last fine bar is there.
 * out's contents are replaced (arrays grown with mts_bars_reserve, once);
 * out == fine resamples in place. info may be NULL.
 * 0; MTS_EINVAL (intervals that do not divide, fine out of order or off its
 * grid: out->n is 0); MTS_ENOMEM. */
int mts_resample_bars(const mts_bars_t *fine, int64_t fine_s, int64_t coarse_s, int64_t now, unsigned flags,
                      mts_bars_t *out, mts_resample_info_t *info);

/* ---- streaming ---- */

/* mts_coarse_bar_t and mts_resampler_t (a plain value, fields private, no
 * resources) are in lua/mts_ffi.h, for the runner's coarse views. */

/* 0, or MTS_EINVAL unless both are the lengths of named intervals
 * (MTS_INTERVALS) and mts_interval_divides(fine_s, coarse_s), fine_s < coarse_s. */
int mts_resampler_init(mts_resampler_t *r, int64_t fine_s, int64_t coarse_s);

/* One closed fine bar. Writes the coarse bars it closes to out[0..] (0, 1 or
 * 2: a gap can close the previous bucket and the bar itself can end its own)
 * and returns their number, or MTS_EINVAL when ts is not after the last bar
 * pushed or not on the fine grid, or MTS_ERANGE for a late bar of a bucket the
 * clock already closed (mts_resampler_tick: that coarse bar is out and is not
 * emitted twice). On error the resampler is unchanged. */
int mts_resampler_push(mts_resampler_t *r, int64_t ts, double open, double high, double low, double close,
                       double volume, mts_coarse_bar_t out[2]);

/* The clock: closes the forming bucket when its end <= now. 1 (written to
 * *out) or 0. */
int mts_resampler_tick(mts_resampler_t *r, int64_t now, mts_coarse_bar_t *out);

/* The run's own bars into a coarse view (scripts/lib/runner.lua: ctx:bars of
 * a traded asset at a coarser interval than the run's). Pushes the closed fine
 * bars fine->[from, to) and appends the coarse bars they close to out (out->n
 * grows; out's arrays are the caller's, reserved once with room for out->cap
 * bars: nothing is allocated). 0; MTS_EINVAL (from/to out of fine's range, or
 * the fine bar *bad out of order or off the grid: the bars before it were
 * pushed); MTS_ERANGE (at fine bar *bad, out had fewer than 2 free places,
 * what one push can close: reserve the bound + 2). bad may be NULL. */
int mts_resampler_feed(mts_resampler_t *r, const mts_bars_t *fine, int64_t from, int64_t to, mts_bars_t *out,
                       int64_t *bad);

/* The bucket still forming, for display (never a closed bar): 1 and *out, or
 * 0 when there is none. */
int mts_resampler_forming(const mts_resampler_t *r, mts_coarse_bar_t *out);

#endif
