/* bus.c — the event bus (see bus.h): Redis Streams or the SQLite table
 * bus_events behind one interface.
 *
 * Redis: publish = XADD <stream> MAXLEN ~ <maxlen> * topic T payload P (one
 * round trip); poll = XREAD COUNT <max> STREAMS <stream> <cursor>, never with
 * BLOCK. A "$" cursor is resolved on the first poll to the id of the newest
 * entry (XREVRANGE <stream> + - COUNT 1; "0-0" for an empty stream), because
 * XREAD with "$" and no BLOCK returns nothing by definition.
 * SQLite: publish = one prepared INSERT (autocommit; WAL with
 * synchronous=NORMAL, so no fsync per message); every prune_every publishes
 * the rows older than the newest maxlen are deleted in one statement, so the
 * table holds between maxlen and maxlen + prune_every rows once full.
 * poll = SELECT id, topic, payload ... WHERE id > cursor ORDER BY id LIMIT max.
 * Ids come from AUTOINCREMENT and a row becomes visible with its commit,
 * which holds the write lock from INSERT to COMMIT, so readers see ids in
 * increasing order and never a smaller id later. */
/* error messages are cut to their buffers on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "cache/bus.h"
#include "cache/rconn.h"
#include "store/store_internal.h"
#include "util/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

enum { ST_INSERT, ST_SELECT, ST_LAST, ST_PRUNE, ST_PING, ST_N };
static const char *const bus_sql[ST_N] = {
    "INSERT INTO bus_events(ts_ms, topic, payload) VALUES(?1, ?2, ?3)",
    "SELECT id, topic, payload FROM bus_events WHERE id > ?1 ORDER BY id LIMIT ?2",
    "SELECT COALESCE(MAX(id), 0) FROM bus_events",
    "DELETE FROM bus_events WHERE id <= "
    "(SELECT id FROM bus_events ORDER BY id DESC LIMIT 1 OFFSET ?1)",
    "SELECT 1",
};

struct mts_bus {
    int is_redis;
    int64_t maxlen;
    mts_bus_stats_t st;
    char err[512];
    /* redis */
    mts_rconn_t rc;
    char *stream;
    /* sqlite */
    mts_store_t *store;
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_N];
    int64_t prune_every, since_prune;
    /* a batch (mts_bus_begin .. commit) */
    int batching, pending;    /* redis: XADDs appended and not yet read */
    int in_txn;               /* sqlite: BEGIN issued */
};

static int set_err(mts_bus_t *b, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_err(mts_bus_t *b, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
    return rc;
}

static int db_err(mts_bus_t *b, const char *what) {
    b->st.errors++;
    return set_err(b, MTS_EDB, "bus %s: %s", what, sqlite3_errmsg(b->db));
}

static int redis_err(mts_bus_t *b) {
    b->st.errors++;
    return set_err(b, MTS_ECACHE, "%s", b->rc.err);
}

static int64_t wall_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Where failed opens leave their message (b is freed). */
static _Thread_local char open_err[512];

const char *mts_bus_errmsg(const mts_bus_t *b) {
    if (!b) return open_err;
    return b->err[0] ? b->err : "no error";
}

const char *mts_bus_backend(const mts_bus_t *b) {
    if (!b) return "none";
    return b->is_redis ? "redis" : "sqlite";
}

int mts_bus_open(const mts_bus_config_t *cfg, mts_bus_t **out) {
    if (out) *out = NULL;
    open_err[0] = '\0';
    if (!cfg || !out) {
        snprintf(open_err, sizeof open_err, "mts_bus_open: no configuration");
        return MTS_EINVAL;
    }
    mts_bus_t *b = mts_calloc(1, sizeof *b);
    if (!b) {
        snprintf(open_err, sizeof open_err, "bus: out of memory");
        return MTS_ENOMEM;
    }
    b->maxlen = cfg->maxlen > 0 ? cfg->maxlen : 100000;
    int rc;
    if (cfg->redis_url && cfg->redis_url[0]) {
        b->is_redis = 1;
        rc = mts_rconn_init(&b->rc, cfg->redis_url, cfg->timeout_ms, "bus");
        if (rc) {
            set_err(b, rc, "%s", b->rc.err);
            goto fail;
        }
        const char *stream = cfg->stream && cfg->stream[0] ? cfg->stream : "mts:bus";
        if (!(b->stream = mts_strdup(stream))) {
            rc = set_err(b, MTS_ENOMEM, "bus: out of memory");
            goto fail;
        }
        /* a server that is down now is not an error: publish/poll report it */
        mts_rconn_ensure(&b->rc, 1);
    } else {
        if (!cfg->db_path || !cfg->db_path[0]) {
            rc = set_err(b, MTS_EINVAL, "bus: neither a Redis URL nor a database path was given");
            goto fail;
        }
        rc = mts_store_open(cfg->db_path, &b->store);
        if (rc) {
            set_err(b, rc, "bus: %s", mts_store_errmsg(NULL));
            goto fail;
        }
        b->db = mts_store_db(b->store);
        for (int i = 0; i < ST_N; i++) {
            if (sqlite3_prepare_v3(b->db, bus_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &b->stmt[i], NULL) != SQLITE_OK) {
                rc = set_err(b, MTS_EDB, "bus: %s: %s", cfg->db_path, sqlite3_errmsg(b->db));
                goto fail;
            }
        }
        b->prune_every = b->maxlen / 4;
        if (b->prune_every < 1) b->prune_every = 1;
        if (b->prune_every > 1000) b->prune_every = 1000;
    }
    *out = b;
    return 0;
fail:
    snprintf(open_err, sizeof open_err, "%s", b->err);
    mts_bus_close(b);
    return rc;
}

void mts_bus_close(mts_bus_t *b) {
    if (!b) return;
    if (b->batching) mts_bus_commit(b);
    mts_rconn_close(&b->rc);
    mts_free(b->stream);
    for (int i = 0; i < ST_N; i++) sqlite3_finalize(b->stmt[i]);
    mts_store_close(b->store);
    mts_free(b);
}

void mts_bus_stats(const mts_bus_t *b, mts_bus_stats_t *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!b) return;
    *out = b->st;
    if (b->is_redis) out->reconnects = b->rc.reconnects;
}

/* ---- publish ---- */

static int sqlite_prune(mts_bus_t *b) {
    sqlite3_stmt *st = b->stmt[ST_PRUNE];
    sqlite3_bind_int64(st, 1, b->maxlen);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_err(b, "prune");
    b->st.pruned += sqlite3_changes(b->db);
    return 0;
}

int mts_bus_publish(mts_bus_t *b, const char *topic, const char *payload, size_t len) {
    if (!b || !topic || !topic[0] || (!payload && len)) {
        if (b) set_err(b, MTS_EINVAL, "bus publish: a topic and a payload are required");
        return MTS_EINVAL;
    }
    if (!payload) payload = "";
    if (b->is_redis && b->batching) {
        if (!b->rc.ctx && mts_rconn_ensure(&b->rc, 0)) return redis_err(b);
        if (redisAppendCommand(b->rc.ctx, "XADD %s MAXLEN ~ %lld * topic %s payload %b", b->stream,
                               (long long)b->maxlen, topic, payload, len) != REDIS_OK) {
            b->pending = 0;
            mts_rconn_fail(&b->rc, "XADD");
            return redis_err(b);
        }
        b->pending++;
        return 0;
    }
    if (b->is_redis) {
        redisReply *rep = mts_rconn_command(&b->rc, "XADD", "XADD %s MAXLEN ~ %lld * topic %s payload %b",
                                            b->stream, (long long)b->maxlen, topic, payload, len);
        if (!rep) return redis_err(b);
        int ok = rep->type == REDIS_REPLY_STRING;
        if (!ok) {
            b->st.errors++;
            set_err(b, MTS_ECACHE, "bus: XADD %s: %s", b->stream,
                    rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        }
        freeReplyObject(rep);
        if (!ok) return MTS_ECACHE;
        b->st.published++;
        return 0;
    }
    sqlite3_stmt *st = b->stmt[ST_INSERT];
    sqlite3_bind_int64(st, 1, wall_ms());
    sqlite3_bind_text(st, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, payload, (int)len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) return db_err(b, "publish");
    b->st.published++;
    if (++b->since_prune >= b->prune_every) {
        b->since_prune = 0;
        if (sqlite_prune(b)) return MTS_EDB;
    }
    return 0;
}

/* ---- batches ---- */

static int sqlite_exec(mts_bus_t *b, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(b->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        b->st.errors++;
        set_err(b, MTS_EDB, "bus %s: %s", sql, msg ? msg : sqlite3_errmsg(b->db));
        sqlite3_free(msg);
        return MTS_EDB;
    }
    return 0;
}

int mts_bus_begin(mts_bus_t *b) {
    if (!b) return MTS_EINVAL;
    if (b->batching) return set_err(b, MTS_EINVAL, "bus begin: a batch is already open");
    b->batching = 1;
    b->pending = 0;
    if (!b->is_redis) {
        if (sqlite_exec(b, "BEGIN IMMEDIATE")) { b->batching = 0; return MTS_EDB; }
        b->in_txn = 1;
    }
    return 0;
}

int mts_bus_commit(mts_bus_t *b) {
    if (!b) return MTS_EINVAL;
    if (!b->batching) return set_err(b, MTS_EINVAL, "bus commit: no batch is open");
    b->batching = 0;
    if (!b->is_redis) {
        b->in_txn = 0;
        if (sqlite_exec(b, "COMMIT")) {
            sqlite_exec(b, "ROLLBACK");
            return MTS_EDB;
        }
        return 0;
    }
    int bad = 0;
    while (b->pending > 0) {
        void *r = NULL;
        if (!b->rc.ctx || redisGetReply(b->rc.ctx, &r) != REDIS_OK || !r) {
            b->st.errors += b->pending;
            b->pending = 0;
            if (b->rc.ctx) mts_rconn_fail(&b->rc, "XADD (batch)");
            return redis_err(b);
        }
        redisReply *rep = r;
        if (rep->type == REDIS_REPLY_STRING) {
            b->st.published++;
        } else {
            bad++;
            set_err(b, MTS_ECACHE, "bus: XADD %s: %s", b->stream,
                    rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        }
        freeReplyObject(rep);
        b->pending--;
    }
    if (bad) {
        b->st.errors += bad;
        return MTS_ECACHE;
    }
    return 0;
}

/* ---- poll ---- */

/* "0", "$" or "<ms>-<seq>" / "<ms>" (digits) */
static int redis_cursor_ok(const char *c) {
    if (!strcmp(c, "$")) return 1;
    const char *p = c;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    if (*p == '-') {
        p++;
        if (*p < '0' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    return *p == '\0' && p - c < MTS_BUS_CURSOR_MAX;
}

static int redis_resolve_dollar(mts_bus_t *b, char *cursor) {
    redisReply *rep = mts_rconn_command(&b->rc, "XREVRANGE", "XREVRANGE %s + - COUNT 1", b->stream);
    if (!rep) return redis_err(b);
    int rc = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 0) {
        snprintf(cursor, MTS_BUS_CURSOR_MAX, "0-0");
    } else if (rep->type == REDIS_REPLY_ARRAY && rep->element[0]->type == REDIS_REPLY_ARRAY &&
               rep->element[0]->elements >= 1 && rep->element[0]->element[0]->type == REDIS_REPLY_STRING &&
               rep->element[0]->element[0]->len < MTS_BUS_CURSOR_MAX) {
        memcpy(cursor, rep->element[0]->element[0]->str, rep->element[0]->element[0]->len + 1);
    } else {
        b->st.errors++;
        rc = set_err(b, MTS_ECACHE, "bus: XREVRANGE %s: %s", b->stream,
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    }
    freeReplyObject(rep);
    return rc;
}

static int redis_poll(mts_bus_t *b, char *cursor, int max, mts_bus_fn fn, void *ud) {
    if (!redis_cursor_ok(cursor))
        return set_err(b, MTS_EINVAL, "bus poll: bad cursor '%.*s' for the Redis backend "
                       "(expected \"$\", \"0\" or a stream id such as 1700000000000-0)", 60, cursor);
    if (!strcmp(cursor, "$")) {
        int rc = redis_resolve_dollar(b, cursor);
        if (rc) return rc;
    }
    redisReply *rep = mts_rconn_command(&b->rc, "XREAD", "XREAD COUNT %d STREAMS %s %s", max, b->stream, cursor);
    if (!rep) return redis_err(b);
    if (rep->type == REDIS_REPLY_NIL) {
        freeReplyObject(rep);
        return 0;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 || rep->element[0]->type != REDIS_REPLY_ARRAY ||
        rep->element[0]->elements < 2 || rep->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
        b->st.errors++;
        set_err(b, MTS_ECACHE, "bus: XREAD %s: %s", b->stream,
                rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        freeReplyObject(rep);
        return MTS_ECACHE;
    }
    redisReply *entries = rep->element[0]->element[1];
    int n = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 || e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[0]->len >= MTS_BUS_CURSOR_MAX)
            continue;                            /* cannot even advance past it */
        const char *id = e->element[0]->str;
        const char *topic = NULL, *payload = NULL;
        size_t plen = 0;
        if (e->elements >= 2 && e->element[1]->type == REDIS_REPLY_ARRAY) {
            redisReply *f = e->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2) {
                redisReply *name = f->element[k], *val = f->element[k + 1];
                if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING) continue;
                if (!strcmp(name->str, "topic")) topic = val->str;
                else if (!strcmp(name->str, "payload")) { payload = val->str; plen = val->len; }
            }
        }
        memcpy(cursor, id, e->element[0]->len + 1);
        if (!topic || !payload) {
            b->st.skipped++;
            continue;
        }
        n++;
        b->st.delivered++;
        if (fn(ud, id, topic, payload, plen)) break;
    }
    freeReplyObject(rep);
    return n;
}

static int sqlite_poll(mts_bus_t *b, char *cursor, int max, mts_bus_fn fn, void *ud) {
    int64_t after = 0;
    if (!strcmp(cursor, "$")) {
        sqlite3_stmt *st = b->stmt[ST_LAST];
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) after = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW) return db_err(b, "poll");
        snprintf(cursor, MTS_BUS_CURSOR_MAX, "%" PRId64, after);
    } else {
        const char *p = cursor;
        if (!*p) p = "x";
        for (; *p; p++) {
            if (*p < '0' || *p > '9' || p - cursor > 18)
                return set_err(b, MTS_EINVAL, "bus poll: bad cursor '%.*s' for the SQLite backend "
                               "(expected \"$\", \"0\" or a row id)", 60, cursor);
            after = after * 10 + (*p - '0');
        }
    }
    sqlite3_stmt *st = b->stmt[ST_SELECT];
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, max);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *topic = (const char *)sqlite3_column_text(st, 1);
        const char *payload = (const char *)sqlite3_column_text(st, 2);
        size_t plen = (size_t)sqlite3_column_bytes(st, 2);
        char idbuf[MTS_BUS_CURSOR_MAX];
        snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
        memcpy(cursor, idbuf, strlen(idbuf) + 1);
        if (!topic || !payload) {
            b->st.skipped++;
            continue;
        }
        n++;
        b->st.delivered++;
        if (fn(ud, idbuf, topic, payload, plen)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return db_err(b, "poll");
    return n;
}

int mts_bus_poll(mts_bus_t *b, char *cursor, int max, mts_bus_fn fn, void *ud) {
    if (b && b->batching && b->is_redis && b->pending)
        return set_err(b, MTS_EBUSY, "bus poll: a batch is open (commit it first)");
    if (!b) return MTS_EINVAL;
    if (!cursor || !fn || max <= 0)
        return set_err(b, MTS_EINVAL, "bus poll: a cursor, a callback and max > 0 are required");
    if (memchr(cursor, '\0', MTS_BUS_CURSOR_MAX) == NULL)
        return set_err(b, MTS_EINVAL, "bus poll: the cursor is not a string of at most %d bytes",
                       MTS_BUS_CURSOR_MAX - 1);
    return b->is_redis ? redis_poll(b, cursor, max, fn, ud) : sqlite_poll(b, cursor, max, fn, ud);
}

int mts_bus_ping(mts_bus_t *b, double *latency_ms) {
    if (latency_ms) *latency_ms = 0;
    if (!b) return MTS_EINVAL;
    double t0 = mts_rconn_seconds();
    if (b->is_redis) {
        /* a down server is tried again at most every MTS_RCONN_PROBE_MS,
         * whatever the backoff: a health check sees it back within that long,
         * and one polled often blocks on a connect timeout at most that often */
        if (mts_rconn_revive(&b->rc)) return redis_err(b);
        redisReply *rep = mts_rconn_command(&b->rc, "PING", "PING");
        if (!rep) return redis_err(b);
        int ok = rep->type == REDIS_REPLY_STATUS && !strcmp(rep->str, "PONG");
        if (!ok && rep->type == REDIS_REPLY_ERROR) mts_rconn_reply_error(&b->rc, "PING", rep->str);
        else if (!ok) snprintf(b->rc.err, sizeof b->rc.err, "bus %s:%d: PING: unexpected reply", b->rc.host, b->rc.port);
        freeReplyObject(rep);
        if (!ok) return redis_err(b);
    } else {
        sqlite3_stmt *st = b->stmt[ST_PING];
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW) return db_err(b, "ping");
    }
    if (latency_ms) *latency_ms = (mts_rconn_seconds() - t0) * 1000.0;
    return 0;
}
