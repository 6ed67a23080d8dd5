/* limiter.h — per-client rate limits of the API server: one token bucket
 * (feeds/ratelimit.h) per (client, route class), kept in a fixed-size table.
 * A client is the JWT subject when the request is authenticated, else the
 * peer address. When the table is full the bucket used least recently is
 * recycled (its client starts again with a full bucket), so memory stays
 * bounded whatever the number of clients. The clock is an argument (seconds,
 * monotonic), so tests drive it. Needs feeds/ratelimit.h. Not thread safe. */
#ifndef MTS_API_LIMITER_H
#define MTS_API_LIMITER_H

#include <stddef.h>

typedef struct mts_limiter mts_limiter_t;

/* slots: buckets kept (rounded up to a power of two, at least 16). NULL on ENOMEM. */
mts_limiter_t *mts_limiter_new(size_t slots);
void mts_limiter_free(mts_limiter_t *l);   /* accepts NULL */
/* Takes a token from client's bucket of class cls (per_minute requests a
 * minute, bursts of up to per_minute). 0 = allowed, else the seconds until a
 * token will be there. per_minute <= 0: unlimited. */
double mts_limiter_take(mts_limiter_t *l, const char *client, int cls, double per_minute, double now);

#endif
