/* test_bus.c — cache/bus.c on both backends: publish order, cursor resume,
 * "$" and "0" cursors, stopping early, maxlen pruning, two handles
 * (publisher and consumer; for SQLite the publisher is a forked child
 * process), stream entries without topic/payload skipped and counted, bad
 * cursors and bad URLs rejected with messages, a server that is not there.
 * Redis tests use the real redis-server at $MTS_TEST_REDIS_URL (they fail if
 * it is unset) and a stream key of their own; what was written is checked
 * through a second, raw hiredis connection (XLEN, XRANGE), not through the bus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mts.h"
#include "cache/bus.h"

/* ---- helpers ---- */

static const char *redis_url(void) {
    const char *u = getenv("MTS_TEST_REDIS_URL");
    if (!u || !*u) fail_msg("MTS_TEST_REDIS_URL is not set: run through make test or tests/redis_env.sh");
    return u;
}

static redisContext *raw_redis(void) {
    char host[256];
    int port;
    assert_int_equal(sscanf(redis_url(), "redis://%255[^:]:%d", host, &port), 2);
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    return c;
}

static long long raw_int(redisContext *c, const char *fmt, const char *arg) {
    redisReply *r = redisCommand(c, fmt, arg);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static void raw_del(redisContext *c, const char *key) {
    redisReply *r = redisCommand(c, "DEL %s", key);
    assert_non_null(r);
    freeReplyObject(r);
}

/* A unique stream key for this test run. */
static void stream_name(char *buf, size_t n, const char *test) {
    snprintf(buf, n, "mts:test:bus:%d:%s", (int)getpid(), test);
}

typedef struct {
    int n, stop_after;
    char topic[64][16];
    char payload[64][128];
    char id[64][MTS_BUS_CURSOR_MAX];
} sink_t;

static int collect(void *ud, const char *id, const char *topic, const char *payload, size_t len) {
    sink_t *s = ud;
    assert_int_equal(strlen(payload), len);
    if (s->n < 64) {
        snprintf(s->topic[s->n], sizeof s->topic[0], "%s", topic);
        snprintf(s->payload[s->n], sizeof s->payload[0], "%.*s", (int)len, payload);
        snprintf(s->id[s->n], sizeof s->id[0], "%s", id);
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static void publish_n(mts_bus_t *b, int from, int to) {
    for (int i = from; i < to; i++) {
        char p[64];
        int n = snprintf(p, sizeof p, "{\"i\":%d}", i);
        assert_int_equal(mts_bus_publish(b, i % 2 ? "fill" : "signal", p, (size_t)n), 0);
    }
}

/* Checks s holds payloads {"i":from}..{"i":to-1} in order. */
static void expect_range(const sink_t *s, int from, int to) {
    assert_int_equal(s->n, to - from);
    for (int i = from; i < to; i++) {
        char p[64];
        snprintf(p, sizeof p, "{\"i\":%d}", i);
        assert_string_equal(s->payload[i - from], p);
        assert_string_equal(s->topic[i - from], i % 2 ? "fill" : "signal");
    }
}

typedef struct { char dir[64], path[128]; } tmpdb_t;

static void tmpdb(tmpdb_t *t) {
    strcpy(t->dir, "/tmp/mts_test_bus_XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/bus.db", t->dir);
}

static void tmpdb_rm(tmpdb_t *t) {
    char p[160];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", t->path, sfx[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

static int64_t sqlite_count(const char *path) {
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM bus_events", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* ---- the same behaviour on both backends ---- */

/* Order, "0", resume with the kept cursor, max per poll, stopping early. */
static void check_order_and_resume(mts_bus_t *pub, mts_bus_t *sub) {
    publish_n(pub, 0, 10);
    char cur[MTS_BUS_CURSOR_MAX] = "0";
    sink_t s = {0};
    assert_int_equal(mts_bus_poll(sub, cur, 4, collect, &s), 4);
    expect_range(&s, 0, 4);
    /* resume: no loss, no duplicates */
    memset(&s, 0, sizeof s);
    assert_int_equal(mts_bus_poll(sub, cur, 100, collect, &s), 6);
    expect_range(&s, 4, 10);
    memset(&s, 0, sizeof s);
    assert_int_equal(mts_bus_poll(sub, cur, 100, collect, &s), 0);
    /* stop early: the cursor moves past the message that stopped it */
    publish_n(pub, 10, 15);
    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    assert_int_equal(mts_bus_poll(sub, cur, 100, collect, &s), 2);
    expect_range(&s, 10, 12);
    char stopped_at[MTS_BUS_CURSOR_MAX];
    snprintf(stopped_at, sizeof stopped_at, "%s", s.id[1]);
    assert_string_equal(cur, stopped_at);
    memset(&s, 0, sizeof s);
    assert_int_equal(mts_bus_poll(sub, cur, 100, collect, &s), 3);
    expect_range(&s, 12, 15);
}

/* "$": nothing old; what comes after the first poll. */
static void check_dollar(mts_bus_t *pub, mts_bus_t *sub) {
    publish_n(pub, 0, 3);
    char cur[MTS_BUS_CURSOR_MAX] = "$";
    sink_t s = {0};
    assert_int_equal(mts_bus_poll(sub, cur, 100, collect, &s), 0);
    assert_string_not_equal(cur, "$");                 /* resolved */
    publish_n(pub, 3, 6);
    assert_int_equal(mts_bus_poll(sub, cur, 100, collect, &s), 3);
    expect_range(&s, 3, 6);
    /* a fresh "$" on an empty bus also sees what comes after */
}

static void check_bad_cursor(mts_bus_t *b) {
    char cur[MTS_BUS_CURSOR_MAX] = "abc";
    sink_t s = {0};
    assert_int_equal(mts_bus_poll(b, cur, 10, collect, &s), MTS_EINVAL);
    assert_non_null(strstr(mts_bus_errmsg(b), "'abc'"));
    assert_int_equal(mts_bus_poll(b, cur, 0, collect, &s), MTS_EINVAL);
    assert_int_equal(mts_bus_publish(b, "", "{}", 2), MTS_EINVAL);
    assert_int_equal(s.n, 0);
}

/* ---- SQLite ---- */

static mts_bus_t *open_sqlite(const char *path, int64_t maxlen) {
    mts_bus_config_t cfg = {.db_path = path, .maxlen = maxlen};
    mts_bus_t *b = NULL;
    assert_int_equal(mts_bus_open(&cfg, &b), 0);
    assert_string_equal(mts_bus_backend(b), "sqlite");
    return b;
}

static void test_sqlite_order_resume(void **st) {
    (void)st;
    tmpdb_t t;
    tmpdb(&t);
    mts_bus_t *pub = open_sqlite(t.path, 0), *sub = open_sqlite(t.path, 0);
    check_order_and_resume(pub, sub);
    mts_bus_stats_t bs;
    mts_bus_stats(sub, &bs);
    assert_int_equal(bs.delivered, 15);
    mts_bus_stats(pub, &bs);
    assert_int_equal(bs.published, 15);
    assert_int_equal(sqlite_count(t.path), 15);
    mts_bus_close(pub);
    mts_bus_close(sub);
    tmpdb_rm(&t);
}

static void test_sqlite_dollar(void **st) {
    (void)st;
    tmpdb_t t;
    tmpdb(&t);
    mts_bus_t *b = open_sqlite(t.path, 0);
    /* "$" on an empty bus resolves to 0 and then sees everything */
    char cur[MTS_BUS_CURSOR_MAX] = "$";
    sink_t s = {0};
    assert_int_equal(mts_bus_poll(b, cur, 10, collect, &s), 0);
    assert_string_equal(cur, "0");
    check_dollar(b, b);
    check_bad_cursor(b);
    mts_bus_close(b);
    tmpdb_rm(&t);
}

static void test_sqlite_prune(void **st) {
    (void)st;
    tmpdb_t t;
    tmpdb(&t);
    mts_bus_t *b = open_sqlite(t.path, 20);   /* prunes every 20/4 = 5 publishes */
    publish_n(b, 0, 100);
    /* after publish 100 (a multiple of 5) exactly the newest 20 are left */
    assert_int_equal(sqlite_count(t.path), 20);
    publish_n(b, 100, 103);
    assert_int_equal(sqlite_count(t.path), 23);
    char cur[MTS_BUS_CURSOR_MAX] = "0";
    sink_t s = {0};
    assert_int_equal(mts_bus_poll(b, cur, 64, collect, &s), 23);
    expect_range(&s, 80, 103);
    mts_bus_stats_t bs;
    mts_bus_stats(b, &bs);
    assert_int_equal(bs.pruned, 80);
    mts_bus_close(b);
    tmpdb_rm(&t);
}

/* The publisher is a forked child (its own connection, its own process);
 * the parent consumes while the child writes, then after it exits. */
static void test_sqlite_two_processes(void **st) {
    (void)st;
    tmpdb_t t;
    tmpdb(&t);
    mts_bus_t *sub = open_sqlite(t.path, 0);   /* creates the schema first */
    char cur[MTS_BUS_CURSOR_MAX] = "$";
    sink_t s = {0};
    assert_int_equal(mts_bus_poll(sub, cur, 10, collect, &s), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20);
        mts_bus_config_t cfg = {.db_path = t.path};
        mts_bus_t *pub = NULL;
        if (mts_bus_open(&cfg, &pub)) _exit(2);
        for (int i = 0; i < 50; i++) {
            char p[64];
            int n = snprintf(p, sizeof p, "{\"i\":%d}", i);
            if (mts_bus_publish(pub, i % 2 ? "fill" : "signal", p, (size_t)n)) _exit(3);
            if (i % 10 == 0) usleep(2000);
        }
        mts_bus_close(pub);
        _exit(0);
    }
    /* read while the child writes: never out of order, never twice */
    int got = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sink_t all = {0};
    while (got < 50) {
        memset(&s, 0, sizeof s);
        int n = mts_bus_poll(sub, cur, 7, collect, &s);
        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
            char p[64];
            snprintf(p, sizeof p, "{\"i\":%d}", got + i);
            assert_string_equal(s.payload[i], p);
        }
        got += n;
        all.n += n;
        clock_gettime(CLOCK_MONOTONIC, &now);
        assert_true(now.tv_sec - t0.tv_sec < 15);
        if (!n) usleep(1000);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(mts_bus_poll(sub, cur, 10, collect, &s), 0);
    assert_int_equal(all.n, 50);
    mts_bus_close(sub);
    tmpdb_rm(&t);
}

static void test_sqlite_open_errors(void **st) {
    (void)st;
    mts_bus_t *b = (mts_bus_t *)1;
    mts_bus_config_t cfg = {.db_path = "/nonexistent/dir/x.db"};
    assert_int_equal(mts_bus_open(&cfg, &b), MTS_EDB);
    assert_null(b);
    assert_non_null(strstr(mts_bus_errmsg(NULL), "/nonexistent/dir/x.db"));
    mts_bus_config_t none = {0};
    assert_int_equal(mts_bus_open(&none, &b), MTS_EINVAL);
    assert_non_null(strstr(mts_bus_errmsg(NULL), "database path"));
    mts_bus_close(NULL);
}

/* ---- Redis ---- */

static mts_bus_t *open_redis(const char *stream, int64_t maxlen) {
    mts_bus_config_t cfg = {.redis_url = redis_url(), .stream = stream, .maxlen = maxlen};
    mts_bus_t *b = NULL;
    assert_int_equal(mts_bus_open(&cfg, &b), 0);
    assert_string_equal(mts_bus_backend(b), "redis");
    return b;
}

static void test_redis_order_resume(void **st) {
    (void)st;
    char key[128];
    stream_name(key, sizeof key, "order");
    redisContext *raw = raw_redis();
    raw_del(raw, key);
    mts_bus_t *pub = open_redis(key, 0), *sub = open_redis(key, 0);
    check_order_and_resume(pub, sub);
    /* independent check: the stream holds the 15 entries with their fields */
    assert_int_equal(raw_int(raw, "XLEN %s", key), 15);
    redisReply *r = redisCommand(raw, "XRANGE %s - + COUNT 1", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    redisReply *f = r->element[0]->element[1];
    assert_int_equal(f->elements, 4);
    assert_string_equal(f->element[0]->str, "topic");
    assert_string_equal(f->element[1]->str, "signal");
    assert_string_equal(f->element[2]->str, "payload");
    assert_string_equal(f->element[3]->str, "{\"i\":0}");
    freeReplyObject(r);
    double ms = -1;
    assert_int_equal(mts_bus_ping(sub, &ms), 0);
    assert_true(ms >= 0 && ms < 1000);
    mts_bus_close(pub);
    mts_bus_close(sub);
    raw_del(raw, key);
    redisFree(raw);
}

/* A batch is one SQLite transaction: nothing is visible to another
 * connection before commit, everything after; order is kept. */
static void test_sqlite_batch(void **st) {
    (void)st;
    tmpdb_t t;
    tmpdb(&t);
    mts_bus_t *pub = open_sqlite(t.path, 0), *sub = open_sqlite(t.path, 0);
    char cur[MTS_BUS_CURSOR_MAX] = "0";
    assert_int_equal(mts_bus_begin(pub), 0);
    assert_int_equal(mts_bus_begin(pub), MTS_EINVAL);        /* one batch at a time */
    publish_n(pub, 0, 20);
    assert_int_equal(sqlite_count(t.path), 0);                 /* not committed yet */
    assert_int_equal(mts_bus_commit(pub), 0);
    assert_int_equal(mts_bus_commit(pub), MTS_EINVAL);         /* no batch open */
    assert_int_equal(sqlite_count(t.path), 20);
    sink_t s = {0};
    assert_int_equal(mts_bus_poll(sub, cur, 64, collect, &s), 20);
    expect_range(&s, 0, 20);
    mts_bus_stats_t bs;
    mts_bus_stats(pub, &bs);
    assert_int_equal(bs.published, 20);
    mts_bus_close(pub);
    mts_bus_close(sub);
    tmpdb_rm(&t);
}

/* A batch is one Redis pipeline: the XADDs' replies are read (and counted)
 * at commit; the stream then holds them in order (checked with a raw client). */
static void test_redis_batch(void **st) {
    (void)st;
    char key[128];
    stream_name(key, sizeof key, "batch");
    redisContext *raw = raw_redis();
    raw_del(raw, key);
    mts_bus_t *pub = open_redis(key, 0), *sub = open_redis(key, 0);
    char cur[MTS_BUS_CURSOR_MAX] = "0";
    assert_int_equal(mts_bus_begin(pub), 0);
    publish_n(pub, 0, 30);
    assert_int_equal(mts_bus_poll(pub, cur, 64, collect, &(sink_t){0}), MTS_EBUSY);
    mts_bus_stats_t bs;
    mts_bus_stats(pub, &bs);
    assert_int_equal(bs.published, 0);                         /* no reply read yet */
    assert_int_equal(mts_bus_commit(pub), 0);
    mts_bus_stats(pub, &bs);
    assert_int_equal(bs.published, 30);
    assert_int_equal(raw_int(raw, "XLEN %s", key), 30);
    sink_t s = {0};
    assert_int_equal(mts_bus_poll(sub, cur, 64, collect, &s), 30);
    expect_range(&s, 0, 30);
    /* a refused entry (the key holds a string now) is reported at commit */
    raw_del(raw, key);
    redisReply *r = redisCommand(raw, "SET %s x", key);
    freeReplyObject(r);
    assert_int_equal(mts_bus_begin(pub), 0);
    publish_n(pub, 0, 3);
    assert_int_equal(mts_bus_commit(pub), MTS_ECACHE);
    assert_non_null(strstr(mts_bus_errmsg(pub), "XADD"));
    mts_bus_close(pub);
    mts_bus_close(sub);
    raw_del(raw, key);
    redisFree(raw);
}

static void test_redis_dollar(void **st) {
    (void)st;
    char key[128];
    stream_name(key, sizeof key, "dollar");
    redisContext *raw = raw_redis();
    raw_del(raw, key);
    mts_bus_t *b = open_redis(key, 0);
    /* on a stream that does not exist yet */
    char cur[MTS_BUS_CURSOR_MAX] = "$";
    sink_t s = {0};
    assert_int_equal(mts_bus_poll(b, cur, 10, collect, &s), 0);
    assert_string_equal(cur, "0-0");
    publish_n(b, 0, 2);
    assert_int_equal(mts_bus_poll(b, cur, 10, collect, &s), 2);
    expect_range(&s, 0, 2);
    /* on a stream with entries: only the new ones */
    memset(&s, 0, sizeof s);
    check_dollar(b, b);
    check_bad_cursor(b);
    mts_bus_close(b);
    raw_del(raw, key);
    redisFree(raw);
}

static void test_redis_prune(void **st) {
    (void)st;
    char key[128];
    stream_name(key, sizeof key, "prune");
    redisContext *raw = raw_redis();
    raw_del(raw, key);
    mts_bus_t *b = open_redis(key, 50);
    publish_n(b, 0, 1000);
    /* MAXLEN ~ trims whole stream nodes (stream-node-max-entries, 100 by
     * default): at least 50 are kept, far fewer than 1000 */
    long long len = raw_int(raw, "XLEN %s", key);
    assert_true(len >= 50);
    assert_true(len <= 50 + 100);
    /* the newest are kept, in order */
    char cur[MTS_BUS_CURSOR_MAX] = "0";
    sink_t s = {0};
    assert_int_equal(mts_bus_poll(b, cur, 64, collect, &s), 64);
    int first = 1000 - (int)len;
    expect_range(&s, first, first + 64);
    mts_bus_close(b);
    raw_del(raw, key);
    redisFree(raw);
}

static void test_redis_foreign_entries_skipped(void **st) {
    (void)st;
    char key[128];
    stream_name(key, sizeof key, "foreign");
    redisContext *raw = raw_redis();
    raw_del(raw, key);
    mts_bus_t *b = open_redis(key, 0);
    publish_n(b, 0, 1);
    redisReply *r = redisCommand(raw, "XADD %s * foo bar", key);
    freeReplyObject(r);
    r = redisCommand(raw, "XADD %s * topic onlytopic", key);
    freeReplyObject(r);
    r = redisCommand(raw, "XADD %s * payload {}", key);
    freeReplyObject(r);
    publish_n(b, 1, 2);
    char cur[MTS_BUS_CURSOR_MAX] = "0";
    sink_t s = {0};
    assert_int_equal(mts_bus_poll(b, cur, 10, collect, &s), 2);
    expect_range(&s, 0, 2);
    mts_bus_stats_t bs;
    mts_bus_stats(b, &bs);
    assert_int_equal(bs.skipped, 3);
    assert_int_equal(bs.delivered, 2);
    /* a key of another type: an error with the server's message, not a crash */
    raw_del(raw, key);
    r = redisCommand(raw, "SET %s x", key);
    freeReplyObject(r);
    assert_int_equal(mts_bus_publish(b, "signal", "{}", 2), MTS_ECACHE);
    assert_non_null(strstr(mts_bus_errmsg(b), "WRONGTYPE"));
    memset(&s, 0, sizeof s);
    assert_int_equal(mts_bus_poll(b, cur, 10, collect, &s), MTS_ECACHE);
    mts_bus_close(b);
    raw_del(raw, key);
    redisFree(raw);
}

static void test_redis_bad_urls(void **st) {
    (void)st;
    const char *bad[] = {"http://localhost:6379", "redis://", "redis://host:notaport",
                         "redis://host:70000", "redis://host:6379/db1", "rediss://host:6379",
                         "localhost:6379"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mts_bus_config_t cfg = {.redis_url = bad[i]};
        mts_bus_t *b = (mts_bus_t *)1;
        assert_int_equal(mts_bus_open(&cfg, &b), MTS_ECONFIG);
        assert_null(b);
        assert_non_null(strstr(mts_bus_errmsg(NULL), bad[i]));
    }
    /* the password never shows in a message */
    mts_bus_config_t cfg = {.redis_url = "redis://:s3cret@host:bad"};
    mts_bus_t *b = NULL;
    assert_int_equal(mts_bus_open(&cfg, &b), MTS_ECONFIG);
    assert_null(strstr(mts_bus_errmsg(NULL), "s3cret"));
    assert_non_null(strstr(mts_bus_errmsg(NULL), "redis://:***@host:bad"));
}

/* A port nobody listens on: open succeeds, publish/poll/ping say MTS_ECACHE
 * quickly, and nothing crashes. */
static void test_redis_down(void **st) {
    (void)st;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", ntohs(a.sin_port));
    close(fd);                                 /* now nothing listens there */
    mts_bus_config_t cfg = {.redis_url = url, .timeout_ms = 200};
    mts_bus_t *b = NULL;
    assert_int_equal(mts_bus_open(&cfg, &b), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 100; i++) assert_int_equal(mts_bus_publish(b, "signal", "{}", 2), MTS_ECACHE);
    char cur[MTS_BUS_CURSOR_MAX] = "$";
    sink_t s = {0};
    assert_int_equal(mts_bus_poll(b, cur, 10, collect, &s), MTS_ECACHE);
    assert_string_equal(cur, "$");
    double ms;
    assert_int_equal(mts_bus_ping(b, &ms), MTS_ECACHE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 3);    /* the backoff keeps it from trying every call */
    assert_non_null(strstr(mts_bus_errmsg(b), "127.0.0.1"));
    mts_bus_stats_t bs;
    mts_bus_stats(b, &bs);
    assert_true(bs.errors >= 100);
    mts_bus_close(b);
}

/* The Nth allocation fails: open refuses with a message and leaks nothing
 * (ASan); once memory is back the same database opens. */
static void test_alloc_failures(void **st) {
    (void)st;
    tmpdb_t t;
    tmpdb(&t);
    int failed = 0;
    for (int n = 0; n < 6; n++) {
        mts_bus_config_t cfg = {.db_path = t.path};
        mts_bus_t *b = (mts_bus_t *)1;
        mts_alloc_fail_after(n);
        int rc = mts_bus_open(&cfg, &b);
        mts_alloc_fail_after(-1);
        if (rc) {
            assert_null(b);
            assert_true(rc == MTS_ENOMEM || rc == MTS_EDB);
            failed++;
        } else {
            publish_n(b, 0, 1);
            mts_bus_close(b);
        }
        mts_bus_config_t rcfg = {.redis_url = redis_url(), .stream = "mts:test:bus:alloc"};
        mts_alloc_fail_after(n);
        rc = mts_bus_open(&rcfg, &b);
        mts_alloc_fail_after(-1);
        if (rc) assert_int_equal(rc, MTS_ENOMEM);
        else mts_bus_close(b);
    }
    assert_true(failed >= 1);
    tmpdb_rm(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_order_resume),
        cmocka_unit_test(test_sqlite_dollar),
        cmocka_unit_test(test_sqlite_prune),
        cmocka_unit_test(test_sqlite_two_processes),
        cmocka_unit_test(test_sqlite_open_errors),
        cmocka_unit_test(test_sqlite_batch),
        cmocka_unit_test(test_redis_batch),
        cmocka_unit_test(test_redis_order_resume),
        cmocka_unit_test(test_redis_dollar),
        cmocka_unit_test(test_redis_prune),
        cmocka_unit_test(test_redis_foreign_entries_skipped),
        cmocka_unit_test(test_redis_bad_urls),
        cmocka_unit_test(test_redis_down),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
