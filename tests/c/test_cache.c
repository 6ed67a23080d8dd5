/* test_cache.c — cache/cache.c: key builders; L1 hit/miss, LRU eviction
 * order, expiry on the injected clock, no allocation on a hit or on a set
 * that fits; L2 through the real redis-server at $MTS_TEST_REDIS_URL (fails
 * if unset): values and TTLs checked through a second raw hiredis
 * connection, L1 filled from L2 with the remaining TTL, a batch is one round
 * trip (a stand-in server that answers nothing until it has received the
 * whole batch), Redis killed and restarted on the same port (L1 keeps
 * serving, status says down, then reconnects), bad URLs, the URL lookup
 * order. Every test uses keys of its own (prefix with the pid). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mts.h"
#include "cache/cache.h"

static const char *redis_url(void) {
    const char *u = getenv("MTS_TEST_REDIS_URL");
    if (!u || !*u) fail_msg("MTS_TEST_REDIS_URL is not set: run through make test or tests/redis_env.sh");
    return u;
}

static redisContext *raw_connect(const char *url) {
    char host[256];
    int port;
    assert_int_equal(sscanf(url, "redis://%255[^:]:%d", host, &port), 2);
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    assert_non_null(c);
    if (c->err) {
        redisFree(c);
        return NULL;
    }
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

/* GET through the raw connection into buf ("" + return -1 when nil). */
static int raw_get(redisContext *c, const char *key, char *buf, size_t n) {
    redisReply *r = redisCommand(c, "GET %s", key);
    assert_non_null(r);
    int rc = -1;
    buf[0] = '\0';
    if (r->type == REDIS_REPLY_STRING) {
        snprintf(buf, n, "%s", r->str);
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

static void raw_cmd(redisContext *c, const char *fmt, const char *a, const char *b) {
    redisReply *r = redisCommand(c, fmt, a, b);
    assert_non_null(r);
    assert_true(r->type != REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

static void key(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "mts:test:cache:%d:%s", (int)getpid(), name);
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

static mts_cache_t *open_l1(int cap) {
    mts_cache_config_t cfg = {.l1_capacity = cap};
    mts_cache_t *c = NULL;
    assert_int_equal(mts_cache_open(&cfg, &c), 0);
    return c;
}

static mts_cache_t *open_l2(const char *url, int cap) {
    mts_cache_config_t cfg = {.redis_url = url, .l1_capacity = cap, .timeout_ms = 300};
    mts_cache_t *c = NULL;
    assert_int_equal(mts_cache_open(&cfg, &c), 0);
    return c;
}

static void expect_get(mts_cache_t *c, const char *k, const char *want) {
    const char *v = NULL;
    size_t len = 99;
    assert_int_equal(mts_cache_get(c, k, &v, &len), 0);
    assert_int_equal(len, strlen(want));
    assert_string_equal(v, want);    /* also checks the NUL */
}

static void expect_miss(mts_cache_t *c, const char *k) {
    const char *v = (const char *)1;
    size_t len = 99;
    assert_int_equal(mts_cache_get(c, k, &v, &len), MTS_ENOTFOUND);
    assert_null(v);
    assert_int_equal(len, 0);
}

/* ---- keys ---- */

static void test_keys(void **st) {
    (void)st;
    char b[128];
    assert_int_equal(mts_cache_key_orderbook(b, sizeof b, "binance", "BTCUSDT", 1700000000123LL),
                     (int)strlen("orderbook:binance:BTCUSDT:1700000000123"));
    assert_string_equal(b, "orderbook:binance:BTCUSDT:1700000000123");
    assert_int_equal(mts_cache_key_funding(b, sizeof b, "bybit", "ETHUSDT", 1700000000000LL),
                     (int)strlen("funding:bybit:ETHUSDT:1700000000000"));
    assert_string_equal(b, "funding:bybit:ETHUSDT:1700000000000");
    mts_cache_key_signal(b, sizeof b, "mean_reversion", "bitcoin", 1700000000LL);
    assert_string_equal(b, "signal:mean_reversion:bitcoin:1700000000");
    mts_cache_key_market(b, sizeof b, "BTCUSDT", "1m", -60);
    assert_string_equal(b, "market:BTCUSDT:1m:-60");
    /* exactly fitting, one byte short, missing parts */
    const char *full = "market:BTCUSDT:1m:60";
    assert_int_equal(mts_cache_key_market(b, strlen(full) + 1, "BTCUSDT", "1m", 60), (int)strlen(full));
    assert_int_equal(mts_cache_key_market(b, strlen(full), "BTCUSDT", "1m", 60), -1);
    assert_string_equal(b, "");
    assert_int_equal(mts_cache_key_signal(b, sizeof b, NULL, "bitcoin", 1), -1);
    assert_int_equal(mts_cache_key_signal(b, sizeof b, "s", "", 1), -1);
    assert_int_equal(MTS_TTL_ORDERBOOK, 3600);
    assert_int_equal(MTS_TTL_FUNDING, 24 * 3600);
    assert_int_equal(MTS_TTL_SIGNAL, 24 * 3600);
    assert_int_equal(MTS_TTL_MARKET, 30 * 60);
}

/* ---- L1 ---- */

static void test_l1_hit_miss(void **st) {
    (void)st;
    mts_cache_t *c = open_l1(8);
    char v[16] = "hello";
    assert_int_equal(mts_cache_set(c, "a", v, 5, 60), 0);
    v[0] = 'J';                                     /* the cache has its own copy */
    expect_get(c, "a", "hello");
    expect_miss(c, "b");
    /* overwrite with a longer and then a shorter value */
    const char *longer = "a considerably longer value than the first one, over 32 bytes";
    assert_int_equal(mts_cache_set(c, "a", longer, strlen(longer), 60), 0);
    expect_get(c, "a", longer);
    assert_int_equal(mts_cache_set(c, "a", "x", 1, 60), 0);
    expect_get(c, "a", "x");
    /* binary-safe length, empty value */
    assert_int_equal(mts_cache_set(c, "e", "", 0, 0), 0);
    expect_get(c, "e", "");
    assert_int_equal(mts_cache_del(c, "a"), 0);
    expect_miss(c, "a");
    mts_cache_stats_t s;
    mts_cache_stats(c, &s);
    assert_int_equal(s.l1_hits, 4);
    assert_int_equal(s.l1_misses, 2);
    assert_int_equal(s.sets, 4);
    assert_int_equal(s.l2_hits + s.l2_misses + s.l2_errors, 0);
    int conf = 9, up = 9;
    assert_int_equal(mts_cache_status(c, &conf, &up, NULL), 0);
    assert_int_equal(conf, 0);
    assert_int_equal(up, 0);
    assert_int_equal(mts_cache_set(c, "", "x", 1, 1), MTS_EINVAL);
    assert_int_equal(mts_cache_set(c, "k", "x", 1, -1), MTS_EINVAL);
    assert_non_null(strstr(mts_cache_errmsg(c), "negative TTL"));
    assert_int_equal(mts_cache_commit(c), MTS_EINVAL);
    mts_cache_close(c);
    mts_cache_close(NULL);
}

static void test_l1_lru_order(void **st) {
    (void)st;
    mts_cache_t *c = open_l1(3);
    mts_cache_set(c, "a", "1", 1, 0);
    mts_cache_set(c, "b", "2", 1, 0);
    mts_cache_set(c, "c", "3", 1, 0);
    expect_get(c, "a", "1");                       /* order now (new->old): a c b */
    mts_cache_set(c, "d", "4", 1, 0);              /* evicts b */
    expect_miss(c, "b");
    expect_get(c, "c", "3");                       /* c d a */
    mts_cache_set(c, "c", "33", 2, 0);             /* update: no eviction; c d a */
    mts_cache_set(c, "e", "5", 1, 0);              /* evicts a */
    expect_miss(c, "a");
    expect_get(c, "d", "4");
    expect_get(c, "e", "5");
    expect_get(c, "c", "33");
    mts_cache_stats_t s;
    mts_cache_stats(c, &s);
    assert_int_equal(s.evictions, 2);
    /* many keys through a small table: the last 3 are there, nothing else */
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        mts_cache_set(c, k, k, strlen(k), 0);
    }
    expect_get(c, "k999", "k999");
    expect_get(c, "k998", "k998");
    expect_get(c, "k997", "k997");
    expect_miss(c, "k996");
    expect_miss(c, "c");
    mts_cache_close(c);
}

static void test_l1_expiry(void **st) {
    (void)st;
    mts_cache_t *c = open_l1(8);
    mts_cache_set(c, "t10", "v", 1, 10);
    mts_cache_set(c, "t0", "forever", 7, 0);
    /* the cache clock is the real monotonic clock plus the test's advance: leave the real
     * time between the calls a margin (1 ms was too little under ASan on a loaded machine) */
    mts_cache_test_advance_ms(9000);
    expect_get(c, "t10", "v");
    mts_cache_test_advance_ms(1001);
    expect_miss(c, "t10");
    mts_cache_test_advance_ms(365LL * 86400 * 1000);
    expect_get(c, "t0", "forever");
    /* a set renews the expiry */
    mts_cache_set(c, "t10", "v2", 2, 10);
    mts_cache_test_advance_ms(5000);
    mts_cache_set(c, "t10", "v3", 2, 10);
    mts_cache_test_advance_ms(9000);
    expect_get(c, "t10", "v3");
    mts_cache_close(c);
}

/* A hit and a set that fits the entry's buffers do not allocate: the next
 * allocation is made to fail and both still succeed. */
static void test_l1_no_alloc(void **st) {
    (void)st;
    mts_cache_t *c = open_l1(4);
    const char *v = "{\"bids\":[[1,2]],\"asks\":[[3,4]]}";
    assert_int_equal(mts_cache_set(c, "book", v, strlen(v), 60), 0);
    mts_alloc_fail_after(0);
    for (int i = 0; i < 100; i++) expect_get(c, "book", v);
    assert_int_equal(mts_cache_set(c, "book", "{\"bids\":[[5,6]],\"asks\":[[7,8]]}", strlen(v), 60), 0);
    expect_get(c, "book", "{\"bids\":[[5,6]],\"asks\":[[7,8]]}");
    /* a value that does not fit needs memory: refused cleanly, entry dropped */
    char big[200];
    memset(big, 'x', sizeof big);
    assert_int_equal(mts_cache_set(c, "book", big, sizeof big, 60), MTS_ENOMEM);
    mts_alloc_fail_after(-1);
    expect_miss(c, "book");
    assert_int_equal(mts_cache_set(c, "book", big, sizeof big, 60), 0);
    mts_cache_close(c);
}

/* ---- L2 ---- */

static void test_l2_set_get_ttl(void **st) {
    (void)st;
    redisContext *raw = raw_connect(redis_url());
    assert_non_null(raw);
    mts_cache_t *c = open_l2(redis_url(), 16);
    int conf = 0, up = 0;
    double ms = -1;
    assert_int_equal(mts_cache_status(c, &conf, &up, &ms), 0);
    assert_int_equal(conf, 1);
    assert_int_equal(up, 1);
    assert_true(ms >= 0 && ms < 1000);
    char k[128], got[256];
    key(k, sizeof k, "ob");
    const char *v = "{\"bids\":[[100.5,1]],\"asks\":[[100.6,2]]}";
    assert_int_equal(mts_cache_set(c, k, v, strlen(v), MTS_TTL_ORDERBOOK), 0);
    assert_int_equal(raw_get(raw, k, got, sizeof got), 0);
    assert_string_equal(got, v);
    long long ttl = raw_int(raw, "TTL %s", k);
    assert_true(ttl >= 3599 && ttl <= 3600);
    /* no TTL */
    key(k, sizeof k, "forever");
    mts_cache_set(c, k, "1", 1, 0);
    assert_int_equal(raw_int(raw, "TTL %s", k), -1);
    /* del reaches L2 */
    mts_cache_del(c, k);
    assert_int_equal(raw_int(raw, "EXISTS %s", k), 0);
    /* a miss in both */
    key(k, sizeof k, "absent");
    expect_miss(c, k);
    mts_cache_stats_t s;
    mts_cache_stats(c, &s);
    assert_int_equal(s.l2_misses, 1);
    assert_int_equal(s.l2_errors, 0);
    mts_cache_close(c);
    key(k, sizeof k, "ob");
    raw_cmd(raw, "DEL %s", k, NULL);
    redisFree(raw);
}

/* Written by someone else (raw SET EX 100): the first get is an L2 hit that
 * fills L1 with the remaining TTL; L1 serves it until then and not after. */
static void test_l2_fills_l1_with_ttl(void **st) {
    (void)st;
    redisContext *raw = raw_connect(redis_url());
    char k[128];
    key(k, sizeof k, "fill");
    raw_cmd(raw, "SET %s %s EX 100", k, "from-elsewhere");
    mts_cache_t *c = open_l2(redis_url(), 16);
    expect_get(c, k, "from-elsewhere");
    mts_cache_stats_t s;
    mts_cache_stats(c, &s);
    assert_int_equal(s.l2_hits, 1);
    assert_int_equal(s.l1_misses, 1);
    /* Redis changes behind L1's back: L1 still answers within the TTL */
    raw_cmd(raw, "SET %s %s EX 100", k, "changed");
    mts_cache_test_advance_ms(98 * 1000);
    expect_get(c, k, "from-elsewhere");
    mts_cache_stats(c, &s);
    assert_int_equal(s.l1_hits, 1);
    assert_int_equal(s.l2_hits, 1);
    /* past the TTL Redis gave: L1 has dropped it and L2 is asked again (the
     * real server has not aged, so it still holds the changed value) */
    mts_cache_test_advance_ms(3 * 1000);
    expect_get(c, k, "changed");
    mts_cache_stats(c, &s);
    assert_int_equal(s.l2_hits, 2);
    raw_cmd(raw, "DEL %s", k, NULL);
    mts_cache_close(c);
    redisFree(raw);
}

/* l2_keep_ms bounds how long a Redis value is served from L1 (readers of
 * `...:latest` keys other processes rewrite); < 0 keeps none; the tier says
 * where each answer came from; forget drops L1 only. */
static void test_l2_keep_ms_tier_forget(void **st) {
    (void)st;
    redisContext *raw = raw_connect(redis_url());
    char k[128];
    key(k, sizeof k, "keep");
    raw_cmd(raw, "SET %s %s EX 3600", k, "v1");
    mts_cache_config_t cfg = {.redis_url = redis_url(), .l1_capacity = 16, .l2_keep_ms = 1000};
    mts_cache_t *c = NULL;
    assert_int_equal(mts_cache_open(&cfg, &c), 0);
    const char *v, *tier;
    size_t n;
    assert_int_equal(mts_cache_get_tier(c, k, &v, &n, &tier), 0);
    assert_string_equal(v, "v1");
    assert_string_equal(tier, "redis");
    raw_cmd(raw, "SET %s %s EX 3600", k, "v2");
    mts_cache_test_advance_ms(900);          /* inside the bound: L1 still answers */
    assert_int_equal(mts_cache_get_tier(c, k, &v, &n, &tier), 0);
    assert_string_equal(v, "v1");
    assert_string_equal(tier, "l1");
    mts_cache_test_advance_ms(200);          /* past 1000 ms (not the hour Redis gave) */
    assert_int_equal(mts_cache_get_tier(c, k, &v, &n, &tier), 0);
    assert_string_equal(v, "v2");
    assert_string_equal(tier, "redis");
    /* forget: L1 only; Redis still has the key */
    mts_cache_forget(c, k);
    assert_int_equal(mts_cache_get_tier(c, k, &v, &n, &tier), 0);
    assert_string_equal(tier, "redis");
    assert_int_equal(raw_int(raw, "EXISTS %s", k), 1);
    mts_cache_close(c);

    /* < 0: nothing read from Redis is kept, every get asks it */
    cfg.l2_keep_ms = -1;
    assert_int_equal(mts_cache_open(&cfg, &c), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mts_cache_get_tier(c, k, &v, &n, &tier), 0);
        assert_string_equal(tier, "redis");
    }
    mts_cache_stats_t s;
    mts_cache_stats(c, &s);
    assert_int_equal(s.l2_hits, 3);
    assert_int_equal(s.l1_hits, 0);
    /* a missing key: not found, no tier */
    char k2[128];
    key(k2, sizeof k2, "keep-missing");
    assert_int_equal(mts_cache_get_tier(c, k2, &v, &n, &tier), MTS_ENOTFOUND);
    assert_null(tier);
    mts_cache_close(c);
    raw_cmd(raw, "DEL %s", k, NULL);
    redisFree(raw);
}

static void test_l2_batch_values(void **st) {
    (void)st;
    redisContext *raw = raw_connect(redis_url());
    mts_cache_t *c = open_l2(redis_url(), 256);
    char k[128], v[64], got[64];
    assert_int_equal(mts_cache_begin(c), 0);
    assert_int_equal(mts_cache_begin(c), MTS_EINVAL);
    for (int i = 0; i < 200; i++) {
        char name[32];
        snprintf(name, sizeof name, "batch%d", i);
        key(k, sizeof k, name);
        int n = snprintf(v, sizeof v, "value-%d", i * 7);
        assert_int_equal(mts_cache_set(c, k, v, (size_t)n, i % 2 ? MTS_TTL_MARKET : MTS_TTL_SIGNAL), 0);
    }
    /* not sent before commit */
    key(k, sizeof k, "batch0");
    assert_int_equal(raw_int(raw, "EXISTS %s", k), 0);
    /* inside the batch a get answers from L1 */
    expect_get(c, k, "value-0");
    assert_int_equal(mts_cache_commit(c), 0);
    for (int i = 0; i < 200; i++) {
        char name[32];
        snprintf(name, sizeof name, "batch%d", i);
        key(k, sizeof k, name);
        snprintf(v, sizeof v, "value-%d", i * 7);
        assert_int_equal(raw_get(raw, k, got, sizeof got), 0);
        assert_string_equal(got, v);
        long long ttl = raw_int(raw, "TTL %s", k);
        long long want = i % 2 ? 1800 : 86400;
        assert_true(ttl <= want && ttl >= want - 2);
        raw_cmd(raw, "DEL %s", k, NULL);
    }
    mts_cache_stats_t s;
    mts_cache_stats(c, &s);
    assert_int_equal(s.l2_errors, 0);
    mts_cache_close(c);
    redisFree(raw);
}

/* ---- one round trip per batch: a stand-in server that sends nothing until
 * it has received every command of the batch. A client that waited for each
 * reply would stall it (and the test would fail on its timeout). ---- */

typedef struct {
    int lfd, expect, got_cmds, reads, ok, ponged;
} fake_t;

static void *fake_server(void *arg) {
    fake_t *f = arg;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    static char buf[1 << 16];
    size_t have = 0;
    while (f->got_cmds < f->expect) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 2000) <= 0) break;         /* the client waits for us: not pipelined */
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0) break;
        f->reads++;
        have += (size_t)n;
        buf[have] = '\0';
        if (!f->ponged && strstr(buf, "$4\r\nPING\r\n")) {   /* the connect handshake (rconn.h) */
            f->ponged = 1;
            if (write(fd, "+PONG\r\n", 7) != 7) break;
        }
        int cnt = 0;
        for (const char *q = buf; (q = strstr(q, "$3\r\nSET\r\n")); q += 9) cnt++;
        f->got_cmds = cnt;
    }
    if (f->got_cmds == f->expect) {
        f->ok = 1;
        for (int i = 0; i < f->expect; i++)
            if (write(fd, "+OK\r\n", 5) != 5) f->ok = 0;
    }
    /* stay until the client closes */
    char tmp[64];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, 2000) > 0 && read(fd, tmp, sizeof tmp) > 0) {}
    close(fd);
    return NULL;
}

static void test_l2_batch_one_round_trip(void **st) {
    (void)st;
    fake_t f = {.expect = 100};
    f.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f.lfd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(f.lfd, (struct sockaddr *)&a, &al);
    assert_int_equal(listen(f.lfd, 4), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fake_server, &f), 0);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", ntohs(a.sin_port));
    mts_cache_config_t cfg = {.redis_url = url, .l1_capacity = 128, .timeout_ms = 5000};
    mts_cache_t *c = NULL;
    assert_int_equal(mts_cache_open(&cfg, &c), 0);
    assert_int_equal(mts_cache_begin(c), 0);
    for (int i = 0; i < 100; i++) {
        char k[32];
        snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(mts_cache_set(c, k, "v", 1, 60), 0);
    }
    assert_int_equal(mts_cache_commit(c), 0);
    mts_cache_stats_t s;
    mts_cache_stats(c, &s);
    assert_int_equal(s.l2_errors, 0);
    mts_cache_close(c);
    pthread_join(th, NULL);
    close(f.lfd);
    assert_int_equal(f.got_cmds, 100);
    assert_int_equal(f.ok, 1);
}

/* ---- Redis down, then up again on the same port ---- */

static pid_t start_redis(int port) {
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60);
        freopen("/dev/null", "w", stdout);
        execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", p, "--save", "",
               "--appendonly", "no", "--dir", "/tmp", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    for (int i = 0; i < 200; i++) {
        redisContext *c = raw_connect(url);
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            if (r) freeReplyObject(r);
            redisFree(c);
            if (ok) return pid;
        }
        usleep(25000);
    }
    fail_msg("redis-server did not start on port %d", port);
    return -1;
}

static void stop_redis(pid_t pid) {
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
}

static void test_l2_down_then_up(void **st) {
    (void)st;
    int port = free_port();
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    pid_t pid = start_redis(port);
    mts_cache_t *c = open_l2(url, 16);
    assert_int_equal(mts_cache_set(c, "k1", "v1", 2, 600), 0);
    int conf, up;
    assert_int_equal(mts_cache_status(c, &conf, &up, NULL), 0);
    assert_int_equal(up, 1);
    stop_redis(pid);
    /* L1 keeps serving; sets still work (L1); misses are quick misses */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_get(c, "k1", "v1");
    assert_int_equal(mts_cache_set(c, "k2", "v2", 2, 600), 0);
    expect_get(c, "k2", "v2");
    for (int i = 0; i < 200; i++) expect_miss(c, "nowhere");
    assert_int_equal(mts_cache_status(c, &conf, &up, NULL), 0);
    assert_int_equal(conf, 1);
    assert_int_equal(up, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 3);
    mts_cache_stats_t s;
    mts_cache_stats(c, &s);
    assert_true(s.l2_errors >= 1);
    long long rec0 = s.reconnects;
    /* the batch path while down: L1 only, commit is fine */
    assert_int_equal(mts_cache_begin(c), 0);
    assert_int_equal(mts_cache_set(c, "k3", "v3", 2, 600), 0);
    assert_int_equal(mts_cache_commit(c), 0);
    /* back on the same port; once the backoff delay (at most 10 s) has passed
     * the cache reconnects by itself */
    pid = start_redis(port);
    mts_cache_test_advance_ms(11000);
    assert_int_equal(mts_cache_status(c, &conf, &up, NULL), 0);
    assert_int_equal(up, 1);
    mts_cache_stats(c, &s);
    assert_true(s.reconnects > rec0);
    assert_int_equal(mts_cache_set(c, "k4", "v4", 2, 600), 0);
    redisContext *raw = raw_connect(url);
    char got[16];
    assert_int_equal(raw_get(raw, "k4", got, sizeof got), 0);
    assert_string_equal(got, "v4");
    redisFree(raw);
    mts_cache_close(c);
    stop_redis(pid);
}

/* A server that closes the connection (restart, idle timeout) is noticed on
 * the next command, which reconnects at once and goes through. */
static void test_l2_server_closes(void **st) {
    (void)st;
    redisContext *raw = raw_connect(redis_url());
    mts_cache_t *c = open_l2(redis_url(), 16);
    char k[128], got[32];
    key(k, sizeof k, "closed");
    mts_cache_set(c, k, "a", 1, 60);
    /* close the cache's connection from the server side: the client whose
     * last command was our SET (not this raw connection) */
    long long me = 0;
    redisReply *r = redisCommand(raw, "CLIENT ID");
    assert_non_null(r);
    me = r->integer;
    freeReplyObject(r);
    r = redisCommand(raw, "CLIENT LIST");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    int killed = 0;
    for (char *save, *line = strtok_r(r->str, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long id;
        if (sscanf(line, "id=%lld", &id) != 1 || id == me || !strstr(line, " cmd=set ")) continue;
        char ids[32];
        snprintf(ids, sizeof ids, "%lld", id);
        raw_cmd(raw, "CLIENT KILL ID %s%s", ids, "");
        killed++;
    }
    freeReplyObject(r);
    assert_true(killed >= 1);
    assert_int_equal(mts_cache_set(c, k, "b", 1, 60), 0);
    assert_int_equal(raw_get(raw, k, got, sizeof got), 0);
    assert_string_equal(got, "b");
    raw_cmd(raw, "DEL %s", k, NULL);
    redisFree(raw);
    mts_cache_close(c);
}

/* ---- configuration ---- */

static void test_bad_urls(void **st) {
    (void)st;
    const char *bad[] = {"redis//localhost", "redis://:6379", "redis://h:0", "redis://h:99999",
                         "redis://h/x", "tcp://h:1", "rediss://h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mts_cache_config_t cfg = {.redis_url = bad[i]};
        mts_cache_t *c = (mts_cache_t *)1;
        assert_int_equal(mts_cache_open(&cfg, &c), MTS_ECONFIG);
        assert_null(c);
        assert_non_null(strstr(mts_cache_errmsg(NULL), bad[i]));
    }
    /* a good URL with auth and db to a port nobody listens on: opens (L1 only for now) */
    char url[96];
    snprintf(url, sizeof url, "redis://user:p%%40ss@127.0.0.1:%d/3", free_port());
    mts_cache_t *c = open_l2(url, 4);
    int conf, up;
    mts_cache_status(c, &conf, &up, NULL);
    assert_int_equal(conf, 1);
    assert_int_equal(up, 0);
    mts_cache_close(c);
}

/* AUTH and SELECT from the URL: a server with a password, keys in db 5. */
static void test_auth_select(void **st) {
    (void)st;
    int port = free_port();
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        freopen("/dev/null", "w", stdout);
        execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", p, "--save", "",
               "--appendonly", "no", "--dir", "/tmp", "--requirepass", "s3cr@t", (char *)NULL);
        _exit(127);
    }
    char url[96];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    redisContext *raw = NULL;
    for (int i = 0; i < 200 && !raw; i++) {
        raw = raw_connect(url);
        if (!raw) usleep(25000);
    }
    assert_non_null(raw);
    raw_cmd(raw, "AUTH %s%s", "s3cr@t", "");
    /* wrong password: stays down, says so */
    snprintf(url, sizeof url, "redis://:nope@127.0.0.1:%d/5", port);
    mts_cache_t *c = open_l2(url, 4);
    int conf, up;
    mts_cache_status(c, &conf, &up, NULL);
    assert_int_equal(up, 0);
    assert_null(strstr(mts_cache_errmsg(c), "nope"));
    assert_non_null(strstr(mts_cache_errmsg(c), "refused the user name or password"));
    mts_cache_close(c);
    /* no password at all: named NOAUTH, with the form of URL that gives one
     * (before: connected, then "PING: unexpected reply") */
    for (int db = 0; db <= 5; db += 5) {
        snprintf(url, sizeof url, "redis://127.0.0.1:%d/%d", port, db);
        c = open_l2(url, 4);
        mts_cache_status(c, &conf, &up, NULL);
        assert_int_equal(up, 0);
        char want[96];
        snprintf(want, sizeof want, "redis://:PASSWORD@127.0.0.1:%d", port);
        assert_non_null(strstr(mts_cache_errmsg(c), "NOAUTH"));
        assert_non_null(strstr(mts_cache_errmsg(c), "requires a password"));
        assert_non_null(strstr(mts_cache_errmsg(c), want));
        assert_null(strstr(mts_cache_errmsg(c), "unexpected reply"));
        mts_cache_close(c);
    }
    snprintf(url, sizeof url, "redis://:s3cr%%40t@127.0.0.1:%d/5", port);
    c = open_l2(url, 4);
    mts_cache_status(c, &conf, &up, NULL);
    assert_int_equal(up, 1);
    mts_cache_set(c, "in5", "yes", 3, 60);
    char got[16];
    assert_int_equal(raw_get(raw, "in5", got, sizeof got), -1);     /* not in db 0 */
    raw_cmd(raw, "SELECT %s%s", "5", "");
    assert_int_equal(raw_get(raw, "in5", got, sizeof got), 0);
    assert_string_equal(got, "yes");
    mts_cache_close(c);
    redisFree(raw);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_url_from(void **st) {
    (void)st;
    setenv("REDIS_URL", "redis://envhost:1", 1);
    assert_string_equal(mts_cache_url_from("redis://opt:2"), "redis://opt:2");
    assert_string_equal(mts_cache_url_from(NULL), "redis://envhost:1");
    assert_string_equal(mts_cache_url_from(""), "redis://envhost:1");
    assert_null(mts_cache_url_from("none"));
    setenv("REDIS_URL", "none", 1);
    assert_null(mts_cache_url_from(NULL));
    unsetenv("REDIS_URL");
    /* config/mts.json has "redis_url": null */
    setenv("MTS_ROOT", ".", 1);
    assert_null(mts_cache_url_from(NULL));
}

/* The Nth allocation fails: open refuses cleanly (no leak under ASan), and
 * a later open with memory works. */
static void test_alloc_failures(void **st) {
    (void)st;
    int failed = 0;
    for (int n = 0; n < 8; n++) {
        mts_cache_config_t cfg = {.redis_url = redis_url(), .l1_capacity = 8};
        mts_cache_t *c = (mts_cache_t *)1;
        mts_alloc_fail_after(n);
        int rc = mts_cache_open(&cfg, &c);
        mts_alloc_fail_after(-1);
        if (rc) {
            assert_int_equal(rc, MTS_ENOMEM);
            assert_null(c);
            failed++;
            continue;
        }
        /* first key and value buffers are allocated on the first set */
        char k[128];
        key(k, sizeof k, "alloc");
        mts_alloc_fail_after(0);
        assert_int_equal(mts_cache_set(c, k, "v", 1, 10), MTS_ENOMEM);
        mts_alloc_fail_after(-1);
        expect_miss(c, k);
        assert_int_equal(mts_cache_set(c, k, "v", 1, 10), 0);
        expect_get(c, k, "v");
        mts_cache_del(c, k);
        mts_cache_close(c);
    }
    assert_true(failed >= 3);   /* the handle, the entries, the buckets */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_l1_hit_miss),
        cmocka_unit_test(test_l1_lru_order),
        cmocka_unit_test(test_l1_expiry),
        cmocka_unit_test(test_l1_no_alloc),
        cmocka_unit_test(test_l2_set_get_ttl),
        cmocka_unit_test(test_l2_fills_l1_with_ttl),
        cmocka_unit_test(test_l2_keep_ms_tier_forget),
        cmocka_unit_test(test_l2_batch_values),
        cmocka_unit_test(test_l2_batch_one_round_trip),
        cmocka_unit_test(test_l2_down_then_up),
        cmocka_unit_test(test_l2_server_closes),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_auth_select),
        cmocka_unit_test(test_url_from),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
