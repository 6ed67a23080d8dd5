/* ratelimit.h — a client-side token bucket: `rate` tokens a second refill a
 * bucket of at most `burst` tokens; each request takes one. The clock is an
 * argument (seconds on any monotonic scale), so the limiter is a pure state
 * machine and tests drive it with a fake clock. Needs nothing.
 *
 * Vendors' published limits (used by feeds/http.c callers as defaults):
 *   CoinGecko public/demo API: 30 calls/minute
 *     (https://docs.coingecko.com/reference/common-errors-rate-limit and the
 *      demo plan page, "Rate limit: 30 calls/min").
 *   FRED API: 120 requests/minute per API key
 *     (https://fred.stlouisfed.org/docs/api/fred/ — "rate limited ... 120 requests per minute"). */
#ifndef MTS_RATELIMIT_H
#define MTS_RATELIMIT_H

typedef struct mts_ratelimit {
    double rate;     /* tokens per second; <= 0 means unlimited */
    double burst;    /* bucket size, >= 1 */
    double tokens;   /* tokens now in the bucket */
    double last;     /* time of the last refill */
} mts_ratelimit_t;

/* per_minute requests a minute with bursts of up to `burst` (< 1 is taken as 1).
 * The bucket starts full at time now. per_minute <= 0 disables the limiter. */
void mts_ratelimit_init(mts_ratelimit_t *rl, double per_minute, double burst, double now);

/* Takes a token at time `now` and returns 0, or takes nothing and returns the
 * seconds to wait before a token will be there (> 0). A clock that steps back
 * is treated as no time passing. */
double mts_ratelimit_acquire(mts_ratelimit_t *rl, double now);

#endif
