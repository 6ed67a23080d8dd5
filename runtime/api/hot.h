/* hot.h — where `mts serve` reads the hot data (order books, funding, the
 * latest closed bars): the multi-level read L1 (in-process) → L2 (Redis) → L3
 * (the mts database). Values under the `...:latest` keys that `mts stream`
 * (orderbook:/funding:) and `mts run` (market:) write are read first from the
 * server's own L1 (an L1-only mts_cache_t), then with one GET from Redis; a
 * Redis value is copied into L1 for ttl_s seconds (so a newer Redis value is
 * seen at most ttl_s seconds late; 0 = no L1, every read asks Redis). Misses,
 * a Redis that is down (reconnects with backoff: cache/rconn.h) and values
 * that do not parse fall through to the caller's database read.
 *
 * Why not mts_cache_get on a Redis-backed handle: its L1 keeps an L2 value for
 * the TTL Redis reports (an hour for order books), so a `:latest` key changed
 * by another process would be served stale for that long, and mts_cache_set
 * would write a short TTL back into Redis. Here L1 and L2 are kept apart.
 *
 * Single-threaded: the server's service thread owns the handle. Needs
 * cache/cache.h, cache/rconn.h (GET with timeouts and backoff), hiredis.
 * Errors: 0 / negative MTS_E*; err gets a message. */
#ifndef MTS_API_HOT_H
#define MTS_API_HOT_H

#include <stddef.h>
#include <stdint.h>
#include "mts.h"

typedef struct mts_api_hot mts_api_hot_t;

typedef struct mts_api_hot_stats {
    int64_t l1_hits, redis_hits, redis_misses, redis_errors;
} mts_api_hot_stats_t;

/* redis_url NULL or "" = no L2 (L1 stays empty: nothing in this process
 * writes it but an L2 read). ttl_s: L1 lifetime of a value read from Redis,
 * 0..3600. timeout_ms: Redis connect/command timeout (0 = 200). Fails for a
 * malformed URL (MTS_ECONFIG, the message names it with the password masked)
 * or no memory; an unreachable Redis is not an error. */
int  mts_api_hot_open(const char *redis_url, int ttl_s, int timeout_ms, mts_api_hot_t **out,
                      char *err, size_t errlen);
void mts_api_hot_close(mts_api_hot_t *h);   /* accepts NULL */

/* The value of key: 0 with *val (borrowed: valid until the next call on h,
 * NUL terminated), *len and *tier ("l1" or "redis"), or MTS_ENOTFOUND (not in
 * L1 or Redis, Redis not configured, down or answering an error). */
int  mts_api_hot_get(mts_api_hot_t *h, const char *key, const char **val, size_t *len, const char **tier);
/* Drops key from L1 only (a value that turned out not to parse). */
void mts_api_hot_forget(mts_api_hot_t *h, const char *key);

/* configured: a Redis URL was given; up: the last Redis command succeeded. */
void mts_api_hot_status(const mts_api_hot_t *h, int *configured, int *up);
void mts_api_hot_stats(const mts_api_hot_t *h, mts_api_hot_stats_t *out);

#endif
