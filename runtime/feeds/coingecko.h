/* coingecko.h — CoinGecko REST (public/demo API v3): OHLC candles from
 * /coins/{id}/ohlc, spot prices from /simple/price.
 *
 * Candle length (CoinGecko docs, "Coin OHLC Chart by ID"): automatic by
 * `days` — 1-2 days: 30 minutes, 3-30 days: 4 hours, 31 days and beyond:
 * 4 days — and each candle's timestamp is its CLOSE time. So candles are
 * stored under that interval (30m, 4h) and labelled by their OPEN time
 * (close - interval), like every other bar series here. The answer must
 * agree with the documented length: every spacing a whole multiple of it
 * (gaps are fine) and most spacings equal to it; otherwise (CoinGecko changed
 * its granularity, or another plan's candles) nothing is stored and the
 * error says why. 4-day candles have no interval (1m..1w) and are refused.
 * A candle whose close time is after `now` is still forming and is skipped
 * (counted in rep->forming).
 * Volume: /ohlc has none, and market_chart's total_volumes is a rolling 24 h
 * sum, not a 30 min or 4 h candle's volume, so candles get volume 0 (counted
 * in no_volume, logged "coingecko.no_volume"). mts_coingecko_parse_volumes /
 * _merge_volumes stay for daily data (exact-time merge).
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

/* The interval (seconds) of parsed candles (close times, ascending) asked
 * with `days`: the documented length, when the candles agree with it (every
 * spacing a whole multiple, at least half of them equal). -1 with *why
 * (static, may be NULL) for 4-day candles (days > 30) or candles that do not
 * agree. */
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

/* Fetches OHLC for the last `days` days (one /ohlc call), validated, its
 * interval checked (rep->interval_s) and labelled by open time (see above).
 * Errors: MTS_EAPI / MTS_ERATELIMIT (http), MTS_EPARSE, MTS_EVALID (candles
 * that do not agree with the documented length: the message says why). */
int mts_coingecko_fetch_ohlcv(mts_coingecko_t *c, const char *id, int days, mts_bars_t *out,
                              FILE *err, mts_cg_report_t *rep);
/* One /simple/price?ids=A,B,..&vs_currencies=usd call; prices[i] is NaN for
 * an id the answer does not have. */
int mts_coingecko_fetch_prices(mts_coingecko_t *c, const char *const *ids, int n, double *prices);

#endif
