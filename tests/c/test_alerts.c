/* test_alerts.c — alerts/alerts.h: the rules' config (errors name the rule),
 * fire-once-until-cleared per (kind, subject), drawdown against the peak
 * (numbers worked out by hand below), feed_silent and collector thresholds,
 * session_crashed once across two handles (a real SQLite file), the breakers'
 * table as GET /health reads it, and the webhook: a stand-in receiver on
 * 127.0.0.1 (a thread here) that answers 500 to the first requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alerts/alerts.h"
#include "mts.h"
#include "store/store.h"

static mts_alerts_t *open_json(const char *json, const char *url, int expect_rc, char *err, size_t n) {
    cJSON *sec = cJSON_Parse(json);
    assert_non_null(sec);
    mts_alerts_config_t c = {.source = "test", .section = sec, .webhook_url = url ? url : ""};
    mts_alerts_t *a = NULL;
    int rc = mts_alerts_open(&c, &a, err, n);
    cJSON_Delete(sec);
    assert_int_equal(rc, expect_rc);
    return a;
}

static void config_errors_name_the_rule(void **st) {
    (void)st;
    char err[256];
    assert_null(open_json("{\"rules\":[{\"kind\":\"drawdown\",\"limit\":1.5}]}", NULL, MTS_ECONFIG, err, sizeof err));
    assert_non_null(strstr(err, "rules[0] (drawdown): limit"));
    assert_null(open_json("{\"rules\":[{\"kind\":\"session_crashed\"},{\"kind\":\"nope\"}]}", NULL, MTS_ECONFIG, err,
                          sizeof err));
    assert_non_null(strstr(err, "rules[1]: kind must be one of"));
    assert_null(open_json("{\"rules\":[{\"kind\":\"feed_silent\",\"intervals\":0}]}", NULL, MTS_ECONFIG, err, sizeof err));
    assert_non_null(strstr(err, "intervals must be an integer >= 1"));
    assert_null(open_json("{\"rules\":[]}", "ftp://x", MTS_ECONFIG, err, sizeof err));
    assert_non_null(strstr(err, "ftp://x"));
    mts_alerts_t *a = open_json("{\"rules\":[]}", NULL, 0, err, sizeof err);
    assert_false(mts_alerts_has(a, MTS_ALERT_DRAWDOWN));
    assert_int_equal(mts_alerts_drawdown(a, "s", 1, 1.0), 0);   /* no rule: nothing fires */
    mts_alerts_close(a);
}

static void drawdown_fires_once_until_cleared(void **st) {
    (void)st;
    char err[256];
    mts_alerts_t *a = open_json("{\"rules\":[{\"kind\":\"drawdown\",\"limit\":0.1}]}", NULL, 0, err, sizeof err);
    /* peak 100 -> 120; 120 * 0.9 = 108: 108 is exactly the limit (not beyond), 107 is beyond */
    assert_int_equal(mts_alerts_drawdown(a, "s1", 1, 100), 0);
    assert_int_equal(mts_alerts_drawdown(a, "s1", 2, 120), 0);
    assert_int_equal(mts_alerts_drawdown(a, "s1", 3, 108), 0);
    assert_int_equal(mts_alerts_drawdown(a, "s1", 4, 107), 1);
    assert_int_equal(mts_alerts_drawdown(a, "s1", 5, 90), 0);     /* still beyond: no storm */
    assert_int_equal(mts_alerts_drawdown(a, "s2", 5, 50), 0);     /* another subject, its own peak */
    assert_int_equal(mts_alerts_drawdown(a, "s1", 6, 110), 0);    /* 110 > 108: cleared */
    assert_int_equal(mts_alerts_drawdown(a, "s1", 7, 100), 1);    /* beyond again: fires again */
    mts_alerts_stats_t s;
    mts_alerts_stats(a, &s);
    assert_int_equal(s.fired, 2);
    assert_int_equal(s.attempts, 0);   /* no webhook */
    mts_alerts_close(a);
}

static void feed_silent_and_collector_thresholds(void **st) {
    (void)st;
    char err[256];
    mts_alerts_t *a = open_json("{\"rules\":[{\"kind\":\"feed_silent\",\"intervals\":3},"
                                "{\"kind\":\"collector_failing\",\"failures\":2}]}", NULL, 0, err, sizeof err);
    assert_int_equal(mts_alerts_feed_silent(a, "binance:BTCUSDT", 2999, 1000), 0);
    assert_int_equal(mts_alerts_feed_silent(a, "binance:BTCUSDT", 3000, 1000), 1);
    assert_int_equal(mts_alerts_feed_silent(a, "binance:BTCUSDT", 9000, 1000), 0);
    assert_int_equal(mts_alerts_feed_silent(a, "binance:BTCUSDT", 10, 1000), 0);     /* data again: cleared */
    assert_int_equal(mts_alerts_feed_silent(a, "binance:BTCUSDT", 3500, 1000), 1);
    assert_int_equal(mts_alerts_collector(a, "coingecko:bitcoin", 1, "500"), 0);
    assert_int_equal(mts_alerts_collector(a, "coingecko:bitcoin", 2, "500"), 1);
    assert_int_equal(mts_alerts_collector(a, "coingecko:bitcoin", 3, "500"), 0);
    assert_int_equal(mts_alerts_collector(a, "coingecko:bitcoin", 0, ""), 0);
    assert_int_equal(mts_alerts_collector(a, "coingecko:bitcoin", 2, "500"), 1);
    assert_int_equal(mts_alerts_strategy_disabled(a, "x", "boom"), 0);   /* no such rule */
    mts_alerts_close(a);
    /* the rule's own unit overrides the feed's interval */
    a = open_json("{\"rules\":[{\"kind\":\"feed_silent\",\"intervals\":2,\"interval_ms\":100}]}", NULL, 0, err, sizeof err);
    assert_int_equal(mts_alerts_feed_silent(a, "f", 199, 60000), 0);
    assert_int_equal(mts_alerts_feed_silent(a, "f", 200, 60000), 1);
    mts_alerts_close(a);
}

static char tmpdir[64];

static sqlite3 *session_db(void) {
    strcpy(tmpdir, "/tmp/mts_alerts_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char path[128];
    snprintf(path, sizeof path, "%s/a.db", tmpdir);
    /* the real schema: the tables alerts use come from the migrations (store.c, 10) */
    mts_store_t *s = NULL;
    assert_int_equal(mts_store_open(path, &s), 0);
    mts_store_close(s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO paper_sessions (id, started_at, strategies, exchange, symbols, "
                                      "interval, initial_capital, commission_bps, slippage_bps, status) VALUES "
                                      "(1,0,'s','binance','BTCUSDT','1m',1,0,0,'stopped'),"
                                      "(2,0,'s','binance','BTCUSDT','1m',1,0,0,'crashed'),"
                                      "(3,0,'s','binance','BTCUSDT','1m',1,0,0,'running'),"
                                      "(4,0,'s','binance','BTCUSDT','1m',1,0,0,'crashed');", NULL, NULL, NULL),
                     SQLITE_OK);
    return db;
}

static void drop_db(sqlite3 *db) {
    sqlite3_close(db);
    char path[128];
    snprintf(path, sizeof path, "%s/a.db", tmpdir);
    unlink(path);
    char side[160];   /* WAL files the store's open left */
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    rmdir(tmpdir);
}

static void crashed_sessions_alert_once_in_all(void **st) {
    (void)st;
    char err[256];
    sqlite3 *db = session_db();
    mts_alerts_t *a = open_json("{\"rules\":[{\"kind\":\"session_crashed\"}]}", NULL, 0, err, sizeof err);
    mts_alerts_t *b = open_json("{\"rules\":[{\"kind\":\"session_crashed\"}]}", NULL, 0, err, sizeof err);
    assert_int_equal(mts_alerts_check_sessions(a, db), 2);   /* sessions 2 and 4 */
    assert_int_equal(mts_alerts_check_sessions(a, db), 0);
    assert_int_equal(mts_alerts_check_sessions(b, db), 0);   /* another process: already alerted */
    assert_int_equal(sqlite3_exec(db, "UPDATE paper_sessions SET status='crashed' WHERE id=3", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(mts_alerts_check_sessions(b, db), 1);
    assert_int_equal(mts_alerts_session_crashed(a, 9, "failed"), 1);
    assert_int_equal(mts_alerts_session_crashed(a, 9, "failed"), 0);
    mts_alerts_close(a);
    mts_alerts_close(b);
    drop_db(db);
}

static void breakers_recorded_for_health(void **st) {
    (void)st;
    sqlite3 *db = session_db();
    char path[128];
    snprintf(path, sizeof path, "%s/a.db", tmpdir);
    mts_alerts_breaker_db(path);
    mts_alerts_breaker_note("coingecko", "127.0.0.1", "open", 5, 1700000000);
    mts_alerts_breaker_db(NULL);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT vendor, state, failures, opened_at, pid FROM api_breakers", -1,
                                        &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "coingecko");
    assert_string_equal((const char *)sqlite3_column_text(q, 1), "open");
    assert_int_equal(sqlite3_column_int(q, 2), 5);
    assert_int_equal(sqlite3_column_int64(q, 3), 1700000000);
    assert_int_equal(sqlite3_column_int64(q, 4), getpid());
    sqlite3_finalize(q);
    /* a row another process wrote */
    assert_int_equal(sqlite3_exec(db, "INSERT INTO api_breakers VALUES ('fred','api.stlouisfed.org','half_open',0,"
                                      "1700000100,1700000160,4242)", NULL, NULL, NULL), SQLITE_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int n_open = -1;
    mts_alerts_breakers_json(f, db, &n_open);
    fclose(f);
    cJSON *arr = cJSON_Parse(buf);
    assert_non_null(arr);
    assert_int_equal(cJSON_GetArraySize(arr), 2);   /* ours (in the process and the table) once, fred's */
    assert_int_equal(n_open, 1);
    cJSON *fred = cJSON_GetArrayItem(arr, 1);
    assert_string_equal(cJSON_GetObjectItem(fred, "state")->valuestring, "half_open");
    assert_int_equal((int)cJSON_GetObjectItem(fred, "pid")->valuedouble, 4242);
    cJSON_Delete(arr);
    free(buf);
    drop_db(db);
}

/* ---- a stand-in webhook receiver ---- */

typedef struct {
    int fd, port, fail_first, requests, ok;
    char last_body[1024];
} recv_t;

static void *receiver(void *p) {
    recv_t *r = p;
    for (;;) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0) return NULL;
        char buf[8192];
        size_t got = 0;
        char *body = NULL;
        long clen = -1;
        while (got < sizeof buf - 1) {
            ssize_t k = read(c, buf + got, sizeof buf - 1 - got);
            if (k <= 0) break;
            got += (size_t)k;
            buf[got] = 0;
            char *h = strstr(buf, "\r\n\r\n");
            if (h && clen < 0) {
                char *cl = strcasestr(buf, "content-length:");
                clen = cl ? strtol(cl + 15, NULL, 10) : 0;
                body = h + 4;
            }
            if (body && (long)(buf + got - body) >= clen) break;
        }
        r->requests++;
        int fail = r->requests <= r->fail_first;
        if (!fail && body) { r->ok++; snprintf(r->last_body, sizeof r->last_body, "%s", body); }
        const char *resp = fail ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        if (write(c, resp, strlen(resp)) < 0) {}
        close(c);
    }
}

static void webhook_retries_past_500s(void **st) {
    (void)st;
    recv_t r = {0};
    r.fail_first = 2;
    r.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(r.fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(r.fd, (struct sockaddr *)&sa, &sl);
    listen(r.fd, 8);
    pthread_t t;
    pthread_create(&t, NULL, receiver, &r);
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", ntohs(sa.sin_port));
    mts_alerts_t *a = open_json("{\"rules\":[{\"kind\":\"strategy_disabled\"}],\"webhook\":{\"timeout_ms\":2000,"
                                "\"retries\":3}}", url, 0, err, sizeof err);
    assert_int_equal(mts_alerts_strategy_disabled(a, "boom", "kaboom"), 1);
    mts_alerts_close(a);   /* drains: 500, 500, 200 */
    mts_alerts_stats_t s = {0};
    assert_int_equal(r.requests, 3);
    assert_int_equal(r.ok, 1);
    cJSON *j = cJSON_Parse(r.last_body);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "kind")->valuestring, "strategy_disabled");
    assert_string_equal(cJSON_GetObjectItem(j, "subject")->valuestring, "boom");
    cJSON_Delete(j);
    /* 1 retry only against 2 failures: undelivered after 2 attempts */
    r.requests = r.ok = 0;
    a = open_json("{\"rules\":[{\"kind\":\"strategy_disabled\"}],\"webhook\":{\"retries\":1}}", url, 0, err, sizeof err);
    mts_alerts_strategy_disabled(a, "boom", "kaboom");
    /* the thread is still working: wait for its verdict */
    for (int i = 0; i < 100; i++) {
        mts_alerts_stats(a, &s);
        if (s.delivered + s.undelivered == 1) break;
        usleep(50000);
    }
    assert_int_equal(s.undelivered, 1);
    assert_int_equal(s.attempts, 2);
    assert_int_equal(r.ok, 0);
    mts_alerts_close(a);
    shutdown(r.fd, SHUT_RDWR);
    close(r.fd);
    pthread_join(t, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_errors_name_the_rule),
        cmocka_unit_test(drawdown_fires_once_until_cleared),
        cmocka_unit_test(feed_silent_and_collector_thresholds),
        cmocka_unit_test(crashed_sessions_alert_once_in_all),
        cmocka_unit_test(breakers_recorded_for_health),
        cmocka_unit_test(webhook_retries_past_500s),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
