/* fred.h — FRED (St. Louis Fed) REST: series/observations as JSON. Values
 * arrive as strings; "." is a missing value (no observation: it is filled
 * later by feeds/macro_fill). Every other value must be a finite number and
 * every date a valid YYYY-MM-DD, once; a bad row is reported to `err` as
 * "fred:SERIES:ROW: reason" (ROW 1-based in "observations") and skipped.
 * FRED requires an API key (https://fred.stlouisfed.org/docs/api/api_key.html).
 * Needs feeds/http.h, cJSON, store.h (series helpers). */
#ifndef MTS_FRED_H
#define MTS_FRED_H

#include <stdio.h>
#include "mts.h"
#include "lua/mts_ffi.h"
#include "feeds/http.h"

#define MTS_FRED_DEFAULT_BASE "https://api.stlouisfed.org/fred"
/* FRED API: 120 requests per minute per key (FRED API docs / terms,
 * https://fred.stlouisfed.org/docs/api/fred/ — "rate limited ... 120 requests per minute"). */
#define MTS_FRED_RATE_PER_MIN 120.0

typedef struct mts_fred mts_fred_t;

typedef struct mts_fred_report {
    int64_t rows, missing, rejected;   /* observations kept, "." values, bad rows */
} mts_fred_report_t;

/* base_url without trailing slash (copied); api_key required (copied). */
int  mts_fred_new(const char *base_url, const char *api_key, const mts_http_config_t *cfg, mts_fred_t **out);
void mts_fred_free(mts_fred_t *f);
mts_http_t *mts_fred_http(mts_fred_t *f);
const char *mts_fred_errmsg(const mts_fred_t *f);
/* 1 if id is a plausible series id ([A-Za-z0-9_]+). */
int mts_fred_valid_series(const char *id);

/* Parser (pure; exposed for tests): originals into out (ts = UTC midnight,
 * ascending). MTS_EPARSE when the body is not a FRED observations object. */
int mts_fred_parse_observations(const char *json, size_t len, const char *series, mts_series_t *out,
                                FILE *err, mts_fred_report_t *rep);

/* GET series/observations?series_id=ID&api_key=K&file_type=json[&observation_start=D].
 * from_date "YYYY-MM-DD" or NULL. Errors: MTS_EAPI (with FRED's error_message
 * in the message), MTS_ERATELIMIT, MTS_EPARSE. */
int mts_fred_fetch(mts_fred_t *f, const char *series, const char *from_date, mts_series_t *out,
                   FILE *err, mts_fred_report_t *rep);

/* The indicator name a FRED series is stored under: config/mts.json
 * "macro_aliases".SERIES when present (e.g. "VIXCLS": "VIX", so strategies
 * reading ctx.macro("VIX") see collected values), else the series id itself.
 * Borrowed (config or the argument). */
const char *mts_fred_alias(const char *series);

/* Two sources for one day (e.g. the bundled CBOE VIX close and FRED VIXCLS,
 * which is that same close): the first source stays. Every row of daily that
 * is an original (flags[i] == 0) on a day `stored` (the indicator's stored
 * original observations, ascending) already has is dropped from daily/flags
 * (compacted in place, order kept): equal values (within 1e-9 relative) are
 * counted in *n_same, different ones in *n_diff and reported to err (may be
 * NULL) as "fred:SERIES:DATE: kept stored X, FRED has Y" (the first 10).
 * Filled rows are left for the store, which never lets one replace an original. */
void mts_fred_keep_first(const mts_series_t *stored, mts_series_t *daily, uint8_t *flags, const char *series,
                         FILE *err, int64_t *n_same, int64_t *n_diff);

#endif
