/* http.h — the REST client every feed uses: libcurl with one easy handle per
 * host, kept for the life of the client so connections are reused
 * (keep-alive); connect and total timeouts; retries with exponential backoff
 * and full jitter on 5xx, timeouts, resets and truncated bodies; 429 honours
 * Retry-After (seconds or an HTTP-date); a circuit breaker per host
 * (feeds/breaker.h) and one token-bucket rate limiter per client
 * (feeds/ratelimit.h). Needs libcurl, mts.h, util/log.h.
 *
 * Clock, sleep and random numbers are hooks so tests run without waiting.
 * Errors are typed: MTS_ERATELIMIT (429 after the last attempt), MTS_EAPI
 * (other HTTP / transport failures, an open breaker, cancellation),
 * MTS_EINVAL / MTS_ENOMEM. mts_http_errmsg() keeps the last message; every
 * retry and failure is also logged as a JSON line ("http.retry",
 * "http.error", "http.breaker"). Query strings are never logged (they may hold
 * api keys). Redirects (301/302/303/307/308, at most 3) are followed only to
 * the same scheme, host and port; one to another origin fails the request
 * with MTS_EAPI naming the target, so no header (mts_http_add_header: api
 * keys) and no query (FRED's api_key) ever reaches another host. A client
 * belongs to one thread. */
#ifndef MTS_HTTP_H
#define MTS_HTTP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "mts.h"

typedef struct mts_http_config {
    const char *vendor;          /* name in logs, e.g. "coingecko" (copied) */
    double timeout_s;            /* whole request (default 30) */
    double connect_timeout_s;    /* default 10 */
    int max_attempts;            /* tries per request, >= 1 (default 3) */
    double backoff_base_s;       /* first retry waits U(0, base) (default 0.5) */
    double backoff_max_s;        /* cap of the doubling window (default 30) */
    double retry_after_max_s;    /* longest Retry-After honoured (default 120) */
    int breaker_threshold;       /* default 5 */
    double breaker_timeout_s;    /* default 60 */
    double rate_per_min;         /* <= 0 unlimited (default 0) */
    double rate_burst;           /* default 1 */
    size_t max_body;             /* bytes (default 64 MiB) */
    int cancel_aborts;           /* 1: a raised cancel flag also aborts the transfer in
                                    flight (libcurl checks it about once a second or
                                    sooner); 0 (default): the request in flight finishes */
} mts_http_config_t;

void mts_http_config_defaults(mts_http_config_t *c);

/* Hooks: now() is monotonic seconds, sleep() waits (it may return early when
 * the cancel flag is raised), random() is uniform in [0, 1). NULL members keep
 * the real ones. */
typedef struct mts_http_hooks {
    double (*now)(void *ud);
    void   (*sleep)(void *ud, double seconds);
    double (*random)(void *ud);
    void *ud;
} mts_http_hooks_t;

typedef struct mts_http_stats {
    int64_t requests;        /* mts_http_get calls */
    int64_t attempts;        /* requests put on the wire */
    int64_t retries;         /* attempts after the first */
    int64_t status_429;      /* 429 answers */
    int64_t status_5xx;
    int64_t transport_errors;/* timeouts, resets, truncated bodies */
    int64_t breaker_rejects; /* requests refused by an open breaker */
    int64_t breaker_opens, breaker_closes;
    int64_t rate_waits;      /* times the rate limiter made us wait */
    int64_t connects;        /* new TCP connections (keep-alive shows as 1 per host) */
    double  slept_s;         /* total time asked of sleep() */
} mts_http_stats_t;

typedef struct mts_http_response {
    long status;             /* HTTP status (0 when no answer) */
    char *body;              /* NUL-terminated, owned by the caller: mts_free */
    size_t len;
} mts_http_response_t;

typedef struct mts_http mts_http_t;

int  mts_http_new(const mts_http_config_t *cfg, mts_http_t **out);
void mts_http_free(mts_http_t *h);                   /* accepts NULL */
void mts_http_set_hooks(mts_http_t *h, const mts_http_hooks_t *hooks);
/* Raised (non-zero) = stop: sleeps end early, no new attempt starts and the
 * request fails with MTS_EAPI "cancelled". Borrowed; may be NULL. */
void mts_http_set_cancel(mts_http_t *h, volatile sig_atomic_t *flag);
/* Adds a header line "Name: value" sent with every request (copied). */
int  mts_http_add_header(mts_http_t *h, const char *line);

/* GET url. On 0, resp->status is 2xx and resp->body holds the body. On an
 * error resp->status is the last status seen (0: no answer) and resp->body is
 * NULL, except for a 4xx answer (not 429), whose body (the vendor's error
 * message) is kept; free it with mts_http_response_free either way. */
int  mts_http_get(mts_http_t *h, const char *url, mts_http_response_t *resp);
void mts_http_response_free(mts_http_response_t *r);

const char *mts_http_errmsg(const mts_http_t *h);
const mts_http_stats_t *mts_http_stats(const mts_http_t *h);
/* State of the breaker of the host of url ("closed" when never used). */
const char *mts_http_breaker_state(mts_http_t *h, const char *url);

/* Retry-After value -> seconds from `now_unix` (delta-seconds or an
 * IMF-fixdate). -1 when it cannot be read. Exposed for tests. */
double mts_http_parse_retry_after(const char *v, int64_t now_unix);
/* Backoff window before retry number `retry` (1-based): min(cap, base*2^(retry-1)). */
double mts_http_backoff_window(double base, double cap, int retry);

#endif
