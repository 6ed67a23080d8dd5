/* coingecko.h — CoinGecko REST (public/demo API v3): daily-ish OHLC from
 * /coins/{id}/ohlc, volumes from /coins/{id}/market_chart/range (OHLC has no
 * volume), spot prices from /simple/price. Responses are parsed with cJSON and
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
} mts_cg_report_t;

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

/* Fetches OHLC for the last `days` days and the volumes for the same span,
 * validated and merged. Errors: MTS_EAPI / MTS_ERATELIMIT (http), MTS_EPARSE. */
int mts_coingecko_fetch_ohlcv(mts_coingecko_t *c, const char *id, int days, mts_bars_t *out,
                              FILE *err, mts_cg_report_t *rep);
/* One /simple/price?ids=A,B,..&vs_currencies=usd call; prices[i] is NaN for
 * an id the answer does not have. */
int mts_coingecko_fetch_prices(mts_coingecko_t *c, const char *const *ids, int n, double *prices);

#endif
