/* bus.h — the event bus between processes: `mts run` publishes what happens
 * (signals, fills, equity, bars, session status), `mts serve` and anything
 * else consume it. One interface, two backends:
 *   - Redis Streams when a Redis URL is configured: XADD <stream> MAXLEN ~ N
 *     * topic T payload P. Several processes and machines share it.
 *   - otherwise the SQLite table bus_events of the mts database (WAL: one
 *     writer and any number of readers on one machine); rows older than the
 *     newest maxlen are pruned by the publisher now and then.
 * Messages are a topic ("signal", "fill", "equity", "bar", "session") and a
 * JSON payload (an object; see docs/api.md for each topic's fields).
 * Needs hiredis, sqlite3 (store/store_internal.h for the connection).
 *
 * Cursors are opaque strings of at most MTS_BUS_CURSOR_MAX bytes (a stream id
 * "1700000000000-0" for Redis, a row id for SQLite). "$" = only messages
 * published after the first poll; "0" = from the oldest kept.
 * Delivery: at least once per consumer, in publish order; a consumer that
 * keeps its cursor resumes without loss or duplicates (within maxlen).
 * A Redis bus whose server is down returns MTS_ECACHE from publish/poll and
 * reconnects with backoff on later calls; the publisher logs and goes on
 * (what it publishes is also in SQLite: signal_history, paper_*).
 * Single-threaded: one handle per thread. Errors: 0 / negative MTS_E*. */
#ifndef MTS_BUS_H
#define MTS_BUS_H

#include <stddef.h>
#include <stdint.h>
#include "mts.h"

#define MTS_BUS_CURSOR_MAX 48

typedef struct mts_bus mts_bus_t;

typedef struct mts_bus_config {
    const char *redis_url;   /* NULL or "" = the SQLite backend */
    const char *db_path;     /* SQLite backend: the mts database (opened by the bus) */
    const char *stream;      /* Redis stream key; default "mts:bus" */
    int64_t     maxlen;      /* messages kept; default 100000 */
    int         timeout_ms;  /* Redis connect/command timeout; default 500 */
} mts_bus_config_t;

/* Called once per message, in order. Return non-zero to stop early; the
 * cursor is advanced past every message handed to fn, including that one. */
typedef int (*mts_bus_fn)(void *ud, const char *id, const char *topic,
                          const char *payload, size_t len);

/* Errors: a malformed Redis URL (MTS_ECONFIG, the message names the URL),
 * neither a URL nor a db_path (MTS_EINVAL), a database that cannot be opened
 * (MTS_EDB). A Redis server that is down is not an error here. On failure
 * *out is NULL and mts_bus_errmsg(NULL) says why. */
int  mts_bus_open(const mts_bus_config_t *cfg, mts_bus_t **out);
void mts_bus_close(mts_bus_t *b);                 /* accepts NULL */
const char *mts_bus_errmsg(const mts_bus_t *b);
const char *mts_bus_backend(const mts_bus_t *b);  /* "redis" or "sqlite" */

int  mts_bus_publish(mts_bus_t *b, const char *topic, const char *payload, size_t len);
/* A batch: the publishes between begin and commit are one Redis pipeline
 * (one round trip, read at commit) or one SQLite transaction. Within a batch
 * publish returns before Redis answered: commit reports the batch's errors
 * (MTS_ECACHE: the connection broke or Redis refused an entry; the entries
 * not confirmed are counted in stats.errors). Do not poll inside a batch. */
int  mts_bus_begin(mts_bus_t *b);
int  mts_bus_commit(mts_bus_t *b);
/* Non-blocking: hands at most max messages after *cursor to fn and advances
 * cursor (in/out, MTS_BUS_CURSOR_MAX bytes). Returns the number delivered (>= 0)
 * or a negative MTS_E*. A cursor of the wrong form for the backend (a stream
 * id on SQLite, "abc" anywhere) is MTS_EINVAL with a message. fn gets id,
 * topic and payload NUL terminated and borrowed for the call only. */
int  mts_bus_poll(mts_bus_t *b, char *cursor, int max, mts_bus_fn fn, void *ud);
/* Reachable? (health checks) 0 / MTS_ECACHE or MTS_EDB; latency in ms. */
int  mts_bus_ping(mts_bus_t *b, double *latency_ms);

/* Counters since open. skipped: stream entries without a topic or payload
 * field (written by something else) that poll stepped over. */
typedef struct mts_bus_stats {
    int64_t published, delivered, skipped, errors, reconnects, pruned;
} mts_bus_stats_t;
void mts_bus_stats(const mts_bus_t *b, mts_bus_stats_t *out);

#endif
