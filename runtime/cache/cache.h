/* cache.h — the two-level cache: L1 is an in-process table (fixed capacity,
 * per-entry TTL, least-recently-used eviction, no allocation on a hit), L2 is
 * Redis through hiredis. Keys follow the reference patterns and TTLs below.
 * Without a Redis URL the cache is L1 only and everything still works on one
 * machine; with one, several processes and machines see the same entries.
 * Needs hiredis and util/log.h.
 *
 * Behaviour:
 * - set writes L1 and (if connected) L2 with SET key value EX ttl; between
 *   mts_cache_begin and mts_cache_commit the L2 writes are pipelined: one
 *   round trip per batch.
 * - get tries L1, then L2 (a hit there is copied into L1 with the TTL Redis
 *   reports, or at most l2_keep_ms), else MTS_ENOTFOUND.
 * - Redis down (at open or later): the cache keeps working on L1, the error
 *   is logged (rate-limited) and counted, and reconnects are attempted with
 *   exponential backoff (250 ms doubling to 10 s) on later calls. A trading
 *   process never stops because its cache is down. mts_cache_status says
 *   whether L2 is up (health checks).
 * Single-threaded: one handle per thread.
 * Errors: 0 / negative MTS_E*; mts_cache_errmsg() has the last message. */
#ifndef MTS_CACHE_H
#define MTS_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "mts.h"

/* Reference TTLs, seconds. */
#define MTS_TTL_ORDERBOOK 3600
#define MTS_TTL_FUNDING   86400
#define MTS_TTL_SIGNAL    86400
#define MTS_TTL_MARKET    1800

typedef struct mts_cache mts_cache_t;

typedef struct mts_cache_config {
    const char *redis_url;   /* redis://[:password@]host[:port][/db]; NULL or "" = L1 only */
    int l1_capacity;         /* entries; default 4096 */
    int timeout_ms;          /* connect and command timeout; default 500 */
    int l2_keep_ms;          /* how long a value read from Redis stays in L1:
                                0 (default) = its remaining Redis TTL; > 0 = at
                                most this long, so a newer value another process
                                wrote is seen at most this late (readers of
                                `...:latest` keys); < 0 = not kept: every get of a
                                key not set through this handle asks Redis */
} mts_cache_config_t;

typedef struct mts_cache_stats {
    int64_t l1_hits, l1_misses, l2_hits, l2_misses, sets, l2_errors, reconnects, evictions;
} mts_cache_stats_t;

/* Fails only for a malformed URL (MTS_ECONFIG, message names the URL), an
 * l1_capacity over 2^24 (MTS_ERANGE) or no memory; an unreachable server is
 * not an error (see above). On failure *out is NULL and
 * mts_cache_errmsg(NULL) says why. */
int  mts_cache_open(const mts_cache_config_t *cfg, mts_cache_t **out);
void mts_cache_close(mts_cache_t *c);            /* accepts NULL */
const char *mts_cache_errmsg(const mts_cache_t *c);

int  mts_cache_set(mts_cache_t *c, const char *key, const void *val, size_t len, int ttl_s);
/* On success *val points at the cache's copy (borrowed: valid until the next
 * call on c) and *len is its length; the value is also NUL terminated. */
int  mts_cache_get(mts_cache_t *c, const char *key, const char **val, size_t *len);
/* The same, and on success *tier says where the value came from: "l1" or "redis". */
int  mts_cache_get_tier(mts_cache_t *c, const char *key, const char **val, size_t *len,
                        const char **tier);
/* Drops key from L1 only (e.g. a value that turned out not to parse). */
void mts_cache_forget(mts_cache_t *c, const char *key);
int  mts_cache_del(mts_cache_t *c, const char *key);
int  mts_cache_begin(mts_cache_t *c);            /* start pipelining L2 writes */
int  mts_cache_commit(mts_cache_t *c);           /* send them; one round trip */

/* configured: a Redis URL was given; up: L2 answered PING (latency in ms). */
int  mts_cache_status(mts_cache_t *c, int *configured, int *up, double *latency_ms);
void mts_cache_stats(const mts_cache_t *c, mts_cache_stats_t *out);

/* Key builders: write the key into buf (NUL terminated) and return its length,
 * or -1 if it does not fit. ts is unix ms for order books and funding, unix
 * seconds for signals and market bars (what the record itself carries).
 *   orderbook:{exchange}:{symbol}:{ts}   funding:{exchange}:{symbol}:{ts}
 *   signal:{strategy}:{asset}:{ts}       market:{symbol}:{timeframe}:{ts} */
int mts_cache_key_orderbook(char *buf, size_t n, const char *exchange, const char *symbol, int64_t ts);
int mts_cache_key_funding(char *buf, size_t n, const char *exchange, const char *symbol, int64_t ts);
int mts_cache_key_signal(char *buf, size_t n, const char *strategy, const char *asset, int64_t ts);
int mts_cache_key_market(char *buf, size_t n, const char *symbol, const char *timeframe, int64_t ts);

/* The Redis URL the commands use: opt (--redis) if given, else $REDIS_URL,
 * else config/mts.json "redis_url", else NULL (L1 only). "none" means NULL. */
const char *mts_cache_url_from(const char *opt);

/* The monotonic clock (ms) the cache and the bus use for L1 expiry and
 * reconnect backoff. Test hook: mts_cache_test_advance_ms moves it forward
 * for the whole process, so expiry and backoff are tested without sleeping. */
int64_t mts_cache_now_ms(void);
void    mts_cache_test_advance_ms(int64_t ms);

#endif
