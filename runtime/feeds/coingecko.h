/* coingecko.h — CoinGecko REST (public/demo API v3): OHLC candles from
 * /coins/{id}/ohlc, spot prices from /simple/price.
 *
 * Candle length (CoinGecko docs, "Coin OHLC Chart by ID"): automatic by
 * `days` — 1-2 days: 30 minutes, 3-30 days: 4 hours, 31 days and beyond:
 * 4 days — and each candle's timestamp is its CLOSE time. So candles are
 * stored under their true interval (30m, 4h) and labelled by their OPEN time
 * (close - interval), like every other bar series here; the interval is told
 * from the answer's spacing (market/interval.h), the `days` rule only for a
 * single candle. 4-day candles have no interval (1m..1w) and are refused, as
 * is any spacing that is not an interval. A candle whose close time is after
 * `now` is still forming and is skipped (counted in rep->forming).
 * Volume: /ohlc has none, and market_chart's total_volumes is a rolling 24 h
 * sum, not a 30 min or 4 h candle's volume: intraday candles get volume 0
 * (counted in no_volume, logged "coingecko.no_volume"); only daily candles
 * (1d spacing) take total_volumes at their close time from
 * /coins/{id}/market_chart/range. Responses are parsed with cJSON and
 * every row is checked with the import rules (prices finite and > 0,
 * high >= max(open, close), low <= min(open, close), volume finite >= 0, no
 * duplicate time); a bad row is reported to `err` as "coingecko:ID:ROW: reason"
 * (ROW is 1-based in the response array) and skipped.
 *
 * Asset ids are CoinGecko ids (bitcoin, ethereum, binancecoin). Times are
 * converted from ms to unix seconds. A bar whose time has no total_volumes
 * point gets volume 0 (counted in no_volume; the caller logs it).
 * Needs feeds/http.h, cJSON, store.h (mts_bars_t helpers). */
#ifndef MTS_COINGECKO_H
#define MTS_COINGECKO_H

#include <stdio.h>
#include "mts.h"
#include "lua/mts_ffi.h"
#include "feeds/http.h"

#define MTS_COINGECKO_DEFAULT_BASE "https://api.coingecko.com/api/v3"
/* Public/demo plan: 30 calls/minute (CoinGecko docs, "Common Errors & Rate Limit"
 * https://docs.coingecko.com/reference/common-errors-rate-limit). */
#define MTS_COINGECKO_RATE_PER_MIN 30.0

typedef struct mts_coingecko mts_coingecko_t;

typedef struct mts_cg_report {
    int64_t rows, rejected, no_volume;
    int64_t forming;       /* candles still forming (close time after now), skipped */
    int64_t interval_s;    /* the candles' interval (seconds), 0 when unknown */
} mts_cg_report_t;

/* The candle length CoinGecko's /ohlc gives for `days` (seconds):
 * 1800, 14400 or 345600 (4 days, no interval); -1 for days < 1. */
int64_t mts_coingecko_candle_seconds(int days);

/* The interval of parsed candles (close times, ascending): told from their
 * spacing (mts_interval_detect), from `days` when there is one candle. -1
 * with *why (static, may be NULL) when the spacing is not an interval's
 * length (e.g. 4-day candles) or is mixed. */
int64_t mts_coingecko_candle_interval(const mts_bars_t *bars, int days, const char **why);

/* Relabels candles from close time to open time (ts - secs). A candle whose
 * close time is after now is still forming: skipped, rep->forming++. One
 * whose open time is not on the interval's grid is rejected (reported to err
 * as "coingecko:ID:ROW: ..."). Sets rep->rows and rep->interval_s. */
void mts_coingecko_label_open(mts_bars_t *bars, int64_t secs, int64_t now, const char *id, FILE *err,
                              mts_cg_report_t *rep);

/* base_url without trailing slash (copied); api_key may be NULL (sent as
 * x-cg-demo-api-key when given); cfg NULL = defaults with the vendor's rate. */
int  mts_coingecko_new(const char *base_url, const char *api_key, const mts_http_config_t *cfg,
                       mts_coingecko_t **out);
void mts_coingecko_free(mts_coingecko_t *c);
mts_http_t *mts_coingecko_http(mts_coingecko_t *c);   /* borrowed */
const char *mts_coingecko_errmsg(const mts_coingecko_t *c);

/* 1 if id is a plausible CoinGecko id ([a-z0-9._-]+), else 0. */
int mts_coingecko_valid_id(const char *id);

/* Parsers (pure; exposed for tests). out is replaced. MTS_EPARSE when the
 * body is not the expected JSON shape (nothing in out). */
int mts_coingecko_parse_ohlc(const char *json, size_t len, const char *id, mts_bars_t *out,
                             FILE *err, mts_cg_report_t *rep);
/* total_volumes of a market_chart body as (ts seconds, volume), ascending. */
int mts_coingecko_parse_volumes(const char *json, size_t len, mts_series_t *out);
/* Sets bars' volume from vols at equal times; others get 0 (counted in
 * rep->no_volume). A matched negative or non-finite volume rejects the bar. */
void mts_coingecko_merge_volumes(mts_bars_t *bars, const mts_series_t *vols, const char *id,
                                 FILE *err, mts_cg_report_t *rep);
/* {"id": {"usd": x}} -> price of `id`; MTS_ENOTFOUND if absent. */
int mts_coingecko_parse_price(const char *json, size_t len, const char *id, double *price);

/* Fetches OHLC for the last `days` days, validated, its interval found
 * (rep->interval_s) and labelled by open time (see above); daily candles get
 * their volumes from one market_chart/range call. Errors: MTS_EAPI /
 * MTS_ERATELIMIT (http), MTS_EPARSE, MTS_EVALID (candles of no interval:
 * the message names the spacing and what to do). */
int mts_coingecko_fetch_ohlcv(mts_coingecko_t *c, const char *id, int days, mts_bars_t *out,
                              FILE *err, mts_cg_report_t *rep);
/* One /simple/price?ids=A,B,..&vs_currencies=usd call; prices[i] is NaN for
 * an id the answer does not have. */
int mts_coingecko_fetch_prices(mts_coingecko_t *c, const char *const *ids, int n, double *prices);

#endif
