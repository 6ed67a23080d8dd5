/* interval.h — what a bar interval is: a name ("1m" .. "1w") and its length,
 * the grid its bars open on, and the interval of a series told from its
 * timestamps. A series of bars is identified by (asset, interval) everywhere:
 * the store (ohlcv_blocks.interval), import, export, backtests, live sessions.
 *
 * Names (MTS_INTERVALS): 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w — the
 * kline intervals Binance and Bybit share, minus the calendar month.
 *
 * Grid: a bar of interval d opens at a multiple of d seconds since the epoch
 * (1m .. 1d: 00:00 UTC belongs to every grid; 3d: a multiple of 3 days since
 * 1970-01-01 — the venues do not document their 3d phase), except 1w, whose
 * bars open on Mondays 00:00 UTC (as Binance's and Bybit's weekly klines).
 *
 * No allocation, no state: safe from any thread. */
#ifndef MTS_MARKET_INTERVAL_H
#define MTS_MARKET_INTERVAL_H

#include <stdint.h>

#define MTS_INTERVALS "1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w"
#define MTS_INTERVAL_DEFAULT "1d"

/* Seconds of a named interval, or -1 for a name not in MTS_INTERVALS
 * (also NULL). */
int64_t mts_interval_seconds(const char *name);

/* The canonical name of an interval of `seconds`, or NULL when none has it.
 * The string is static. */
const char *mts_interval_name(int64_t seconds);

/* The open time of the bar of interval `seconds` that contains ts (unix s):
 * the largest grid point <= ts. seconds must be an interval's length. */
int64_t mts_interval_floor(int64_t ts, int64_t seconds);

/* 1 when ts lies on the grid of interval `seconds`, else 0. */
int mts_interval_aligned(int64_t ts, int64_t seconds);

/* The interval of a series told from its timestamps (ascending, unix s): the
 * most frequent spacing between consecutive bars, when it is an interval's
 * length and at least half of the spacings are that one (gaps are normal;
 * mixed series are not). Returns its seconds, or -1 with *why set to a static
 * reason ("fewer than 2 bars", "most common spacing 7200 s is not ...",
 * "spacings are mixed: ..."). why may be NULL. */
int64_t mts_interval_detect(const int64_t *ts, int64_t n, const char **why);

/* 1 when a series of interval `fine` seconds can be resampled into interval
 * `coarse`: coarse is a whole multiple of fine and every coarse bar's open is
 * on fine's grid. */
int mts_interval_divides(int64_t fine, int64_t coarse);

#endif
