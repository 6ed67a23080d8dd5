/* bar_check.h — the one rule for what an OHLCV bar may hold, used by CSV
 * import (store/csv.c) and by live sessions (live/live.c: stream, REST
 * warm-up and gap backfill, bars stored by earlier sessions).
 *
 * A bar is accepted when
 *   - its time is in [MTS_BAR_TS_MIN, MTS_BAR_TS_MAX): 1970-01-01 .. 2100-01-01 UTC;
 *   - open, high, low, close are finite, > 0 and <= MTS_BAR_PRICE_MAX (1e12:
 *     far above any traded price, far below the 1e308 that overflows a
 *     position's value);
 *   - volume is finite, >= 0 and <= MTS_BAR_VOLUME_MAX (1e18);
 *   - high >= max(open, close) and low <= min(open, close) (so high >= low).
 * Checks run in that order (time, then open, high, low, close, volume, then
 * the range); the first failure is reported.
 *
 * Live feeds add two rules on a closed kline's open time (mts_bar_check_open):
 * it must be aligned to the interval (a multiple of it since the epoch below
 * one day; a UTC midnight for 1d and 3d; a Monday 00:00 UTC for 1w) and the bar
 * must have closed by the session's clock: open + interval <= now + skew.
 *
 * No allocation, no state: safe on hot paths and from any thread. */
#ifndef MTS_MARKET_BAR_CHECK_H
#define MTS_MARKET_BAR_CHECK_H

#include <stddef.h>
#include <stdint.h>

#define MTS_BAR_TS_MIN 0LL                 /* 1970-01-01T00:00:00Z */
#define MTS_BAR_TS_MAX 4102444800LL        /* 2100-01-01T00:00:00Z (excluded) */
#define MTS_BAR_PRICE_MAX 1e12
#define MTS_BAR_VOLUME_MAX 1e18

typedef enum mts_bar_fault {
    MTS_BAR_OK = 0,
    MTS_BAR_TIME,          /* time outside [MTS_BAR_TS_MIN, MTS_BAR_TS_MAX) */
    MTS_BAR_NOT_FINITE,    /* field: NaN or infinite */
    MTS_BAR_NOT_POSITIVE,  /* field (a price): <= 0 */
    MTS_BAR_NEGATIVE,      /* field 4 (volume): < 0 */
    MTS_BAR_TOO_LARGE,     /* field: above MTS_BAR_PRICE_MAX (prices) or MTS_BAR_VOLUME_MAX (volume) */
    MTS_BAR_HIGH_BELOW,    /* high < max(open, close); other: 0 (open) or 3 (close) */
    MTS_BAR_LOW_ABOVE,     /* low > min(open, close); other: 0 (open) or 3 (close) */
    MTS_BAR_MISALIGNED,    /* mts_bar_check_open: open time not on the interval's grid */
    MTS_BAR_AHEAD,         /* mts_bar_check_open: the bar has not closed yet by the clock */
} mts_bar_fault_t;

/* Fields, in the order of v[] below: "open", "high", "low", "close", "volume". */
extern const char *const mts_bar_field[5];

typedef struct mts_bar_verdict {
    mts_bar_fault_t fault;
    int field, other;      /* indices into v[] (-1: none) */
} mts_bar_verdict_t;

/* ts: unix s; v: open, high, low, close, volume. Returns the fault (MTS_BAR_OK: accepted). */
mts_bar_fault_t mts_bar_check(int64_t ts, const double v[5], mts_bar_verdict_t *out);

/* A closed kline's open time (unix ms) against its interval (ms) and the
 * clock (unix ms), allowing skew_ms of clock difference. MTS_BAR_OK,
 * MTS_BAR_MISALIGNED or MTS_BAR_AHEAD. */
mts_bar_fault_t mts_bar_check_open(int64_t open_ms, int64_t interval_ms, int64_t now_ms, int64_t skew_ms);

/* One line naming what is wrong, the numbers written with %.17g, e.g.
 * "high 9.5 < max(open, close) 10.2", "close 1e+308 is above the price limit 1e+12",
 * "time 4102444800 is outside 1970-01-01..2100-01-01". Returns buf. */
const char *mts_bar_describe(const mts_bar_verdict_t *why, int64_t ts, const double v[5], char *buf, size_t n);

/* A short name of the fault for logs and counters: "time", "not_finite",
 * "not_positive", "negative", "too_large", "high", "low", "misaligned", "ahead". */
const char *mts_bar_fault_name(mts_bar_fault_t f);

#endif
