/* rconn.h — what cache.c, bus.c and the research workers (runtime/research/
 * remote.c, worker.c) share about a Redis connection: parsing redis:// URLs, a hiredis synchronous
 * context with connect and command timeouts, AUTH and SELECT after every
 * connect (or, with neither, a PING: a server that wants a password is
 * named as such at connect), reconnects with exponential backoff (250 ms
 * doubling to 10 s; health checks may try sooner: mts_rconn_revive) and
 * rate-limited error logging (one line per 5 s per connection, with the count
 * of lines suppressed). Times come from mts_cache_now_ms() so tests can move
 * the clock (cache.h, test hook). Needs hiredis and util/log.h.
 *
 * URL: redis://[[user]:password@]host[:port][/db] — port 6379, db 0 by
 * default; password and user may be percent-encoded. Anything else (another
 * scheme, an empty host, a port or db that is not a number in range) is
 * rejected with a message naming the URL (its password replaced by "***"). */
#ifndef MTS_CACHE_RCONN_H
#define MTS_CACHE_RCONN_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

typedef struct mts_rconn {
    char host[256];
    int port, db, timeout_ms;
    char user[128], pass[256];
    char shown[512];           /* the URL with the password masked, for messages */
    const char *who;           /* "cache" or "bus": the log event prefix */
    redisContext *ctx;         /* NULL while down */
    int64_t next_try_ms;       /* no connect attempt before this */
    int64_t last_try_ms;       /* the last connect attempt */
    int backoff_ms;            /* next delay; 0 = none yet */
    int64_t last_log_ms;
    int64_t suppressed;        /* log lines not written since the last one */
    int64_t errors, reconnects;
    int ever_up;
    char err[384];             /* last error */
} mts_rconn_t;

/* Fills r from url (no connection yet). 0 or MTS_ECONFIG with r->err set. */
int  mts_rconn_init(mts_rconn_t *r, const char *url, int timeout_ms, const char *who);
/* Connected (or reconnected now, if the backoff delay has passed)? 0 or
 * MTS_ECACHE (r->err says why). force = ignore the backoff delay. */
int  mts_rconn_ensure(mts_rconn_t *r, int force);
/* A health check: connected, or a connect attempt now if the last one was at
 * least MTS_RCONN_PROBE_MS ago whatever the backoff says, so a server that is
 * back is seen within that long (an attempt costs at most timeout_ms). 0 or
 * MTS_ECACHE. */
#define MTS_RCONN_PROBE_MS 750
int  mts_rconn_revive(mts_rconn_t *r);
/* An error reply of the server into r->err, naming the cause and the fix
 * where it is known (NOAUTH: the URL needs the password; WRONGPASS). */
void mts_rconn_reply_error(mts_rconn_t *r, const char *what, const char *reply);
/* An I/O or protocol error on r->ctx (or a reply of the wrong shape): drops
 * the context, schedules the next attempt, counts and logs. Returns MTS_ECACHE. */
int  mts_rconn_fail(mts_rconn_t *r, const char *what);
void mts_rconn_close(mts_rconn_t *r);
/* One command (hiredis format). Connects first if needed; if the connection
 * breaks under an established context (a server restart, an idle close) it
 * reconnects once at once and retries. Returns the reply (caller frees it
 * with freeReplyObject; it may be an error reply) or NULL with r->err set. */
redisReply *mts_rconn_command(mts_rconn_t *r, const char *what, const char *fmt, ...);
/* Seconds of a monotonic clock with sub-ms resolution (latencies). */
double mts_rconn_seconds(void);

#endif
