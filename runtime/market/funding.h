/* funding.h — funding settlement events of a perpetual from stored funding
 * rows (issue 12): what the engine pays or credits a perp position with
 * (engine.h mts_engine_set_funding). Needs lua/mts_ffi.h (mts_funding_t).
 *
 * Two kinds of rows live in funding_rates (store.c schema v2):
 * - settlement rows: what happened at a funding time. `mts import funding`
 *   stores them (next_funding_ms NULL, i.e. next_funding == 0 in
 *   mts_funding_t), from an exchange's funding history (Binance
 *   GET /fapi/v1/fundingRate, Bybit /v5/market/funding/history).
 * - stream rows: `mts stream`'s funding feed (Binance markPriceUpdate, Bybit
 *   tickers): every second or so, the PREDICTED rate of the next settlement
 *   at next_funding (> 0), with the mark price at that moment.
 *
 * Rule (one event per settlement time, ascending by time):
 * 1. A settlement row with a finite rate is an event at floor(ts_ms / 1000)
 *    (Binance stamps its settlements a few ms late: 1765555200002 is the
 *    settlement of 1765555200). Several settlement rows in one second: the
 *    one stamped last counts. mark = its mark price when > 0, else NaN.
 * 2. Stream rows with a finite rate give, for each distinct next_funding time
 *    T (unix s), the rate of the last of them stamped before T
 *    (ts_ms < T * 1000), and its mark price (NaN when not > 0), as the event
 *    at T — unless T is already settled (a settlement event within 60 s of T)
 *    or T has not been seen to pass (no row of any kind stamped at or after
 *    T * 1000: the series ends before it, so the rate was still a prediction;
 *    a live session appends it when it happens), or no row for T was stamped
 *    before T.
 * Rows with a NaN rate (a stream update that carried only a mark price) are
 * no event and predict nothing.
 * Known limit: a stream update without a next funding time (Bybit ticker
 * deltas may leave it out) is stored with next_funding_ms NULL and so reads
 * as a settlement row.
 *
 * mts_funding_events_build reads mts_funding_t, whose times are already
 * ceil(ts_ms / 1000) (provider.h): its settlements are at rows->ts (a jittered
 * Binance row lands one second late) and "before T" is rows->ts < T.
 * mts_funding_events_build_ms takes the raw milliseconds and applies the rule
 * exactly; the provider (mts_provider_funding_events) uses it.
 *
 * Out owns its arrays (cap = n); free with mts_funding_events_free. Returns
 * 0, MTS_EINVAL (NULL arguments, n < 0), MTS_ENOMEM (out is then empty).
 * Rows may come in any order. */
#ifndef MTS_MARKET_FUNDING_H
#define MTS_MARKET_FUNDING_H

#include <stdint.h>
#include "mts.h"
#include "lua/mts_ffi.h"

/* mts_funding_events_t (the settlements of a perp asset): lua/mts_ffi.h */

/* Seconds between a stream's next funding time and a settlement row that
 * settles it (rule 2). */
#define MTS_FUNDING_SETTLE_TOLERANCE_S 60

int  mts_funding_events_build(const mts_funding_t *rows, mts_funding_events_t *out);
/* n rows: ts_ms, rate (NaN: none), mark (NaN/<= 0: none; mark may be NULL),
 * next_ms (next funding time in unix ms; <= 0 settlement row; may be NULL:
 * all settlements). */
int  mts_funding_events_build_ms(const int64_t *ts_ms, const double *rate, const double *mark,
                                 const int64_t *next_ms, int64_t n, mts_funding_events_t *out);
void mts_funding_events_free(mts_funding_events_t *ev);   /* accepts NULL; leaves it empty */

#endif
