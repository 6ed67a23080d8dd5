/* test_api_limits.c — api/limiter (per-client token buckets with a fake clock,
 * numbers worked out by hand), api/peers (connections per address) and api/prom (the exposition text of a small
 * registry, compared line by line with what the format requires). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/limiter.h"
#include "api/peers.h"
#include "api/prom.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void per_client_and_class(void **st) {
    (void)st;
    mts_limiter_t *l = mts_limiter_new(64);
    assert_non_null(l);
    /* 10 a minute: 10 at once, then one every 6 s */
    for (int i = 0; i < 10; i++) NEAR(mts_limiter_take(l, "alice", 1, 10, 100.0), 0);
    NEAR(mts_limiter_take(l, "alice", 1, 10, 100.0), 6.0);
    NEAR(mts_limiter_take(l, "alice", 1, 10, 103.0), 3.0);   /* half a token after 3 s */
    NEAR(mts_limiter_take(l, "alice", 1, 10, 106.0), 0);     /* one token after 6 s */
    /* another client, and another class of the same client, have their own buckets */
    NEAR(mts_limiter_take(l, "bob", 1, 10, 106.0), 0);
    NEAR(mts_limiter_take(l, "alice", 0, 300, 106.0), 0);
    /* 0 per minute = unlimited */
    for (int i = 0; i < 1000; i++) NEAR(mts_limiter_take(l, "carol", 1, 0, 106.0), 0);
    mts_limiter_free(l);
    mts_limiter_free(NULL);
}

static void full_table_recycles_least_recent(void **st) {
    (void)st;
    mts_limiter_t *l = mts_limiter_new(16);   /* 16 slots, probing 16: any key can reach all */
    char name[32];
    /* 16 clients each spend their single token (1/minute) at times 0..15 */
    for (int i = 0; i < 16; i++) {
        snprintf(name, sizeof name, "c%d", i);
        NEAR(mts_limiter_take(l, name, 0, 1, (double)i), 0);
    }
    /* a 17th client evicts c0, the least recently used */
    NEAR(mts_limiter_take(l, "new", 0, 1, 20.0), 0);
    /* c1..c15 are still limited: c15 spent at 15, waits 60 - (20 - 15) = 55 s */
    NEAR(mts_limiter_take(l, "c15", 0, 1, 20.0), 55.0);
    /* c0 lost its bucket: it starts full again */
    NEAR(mts_limiter_take(l, "c0", 0, 1, 20.0), 0);
    mts_limiter_free(l);
}

static struct sockaddr_in v4(const char *a) {
    struct sockaddr_in s = {.sin_family = AF_INET};
    inet_pton(AF_INET, a, &s.sin_addr);
    return s;
}

static struct sockaddr_in6 v6(const char *a) {
    struct sockaddr_in6 s = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, a, &s.sin6_addr);
    return s;
}

#define SA(x) ((const struct sockaddr *)&(x)), sizeof(x)

static void peers_per_address(void **st) {
    (void)st;
    mts_peers_t *p = mts_peers_new(64);
    assert_non_null(p);
    struct sockaddr_in a = v4("10.0.0.1"), b = v4("10.0.0.2");
    int conn[64];
    /* limit 3: fds 10, 11, 12 from a are counted (0, 1, 2 before each), the 4th is refused */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mts_peers_accept(p, 10 + i, SA(a), 3), i);
        mts_peers_bind(p, &conn[10 + i]);
    }
    assert_int_equal(mts_peers_accept(p, 13, SA(a), 3), 3);
    mts_peers_bind(p, &conn[13]);              /* refused: nothing to bind, nothing counted */
    assert_int_equal(mts_peers_count(p, SA(a)), 3);
    /* another address has its own count */
    assert_int_equal(mts_peers_accept(p, 13, SA(b), 3), 0);
    mts_peers_bind(p, &conn[13]);
    assert_int_equal(mts_peers_count(p, SA(b)), 1);
    /* one of a's goes away: a may connect once more */
    mts_peers_release(p, &conn[11]);
    mts_peers_release(p, &conn[11]);           /* twice: no effect */
    mts_peers_release(p, &conn[40]);           /* unknown: no effect */
    assert_int_equal(mts_peers_count(p, SA(a)), 2);
    assert_int_equal(mts_peers_accept(p, 11, SA(a), 3), 2);
    mts_peers_bind(p, &conn[11]);
    assert_int_equal(mts_peers_accept(p, 14, SA(a), 3), 3);
    /* a descriptor reused without a release (the connection vanished unseen) is not counted twice */
    assert_int_equal(mts_peers_accept(p, 13, SA(a), 0), 3);   /* fd 13 was b's */
    mts_peers_bind(p, &conn[13]);
    assert_int_equal(mts_peers_count(p, SA(b)), 0);
    assert_int_equal(mts_peers_count(p, SA(a)), 4);
    /* limit 0: counted, never refused; an fd out of range is not counted */
    assert_int_equal(mts_peers_accept(p, 64, SA(a), 1), 0);
    assert_int_equal(mts_peers_accept(p, -1, SA(a), 1), 0);
    assert_int_equal(mts_peers_count(p, SA(a)), 4);
    mts_peers_free(p);
    mts_peers_free(NULL);
    assert_null(mts_peers_new(0));
}

static void peers_ipv6_prefix_and_mapped(void **st) {
    (void)st;
    mts_peers_t *p = mts_peers_new(16);
    int c[16];
    /* two addresses of one /64 are one client; another /64 is another */
    struct sockaddr_in6 x1 = v6("2001:db8:1:2::1"), x2 = v6("2001:db8:1:2:ffff::9"), y = v6("2001:db8:1:3::1");
    assert_int_equal(mts_peers_accept(p, 1, SA(x1), 2), 0);
    mts_peers_bind(p, &c[1]);
    assert_int_equal(mts_peers_accept(p, 2, SA(x2), 2), 1);
    mts_peers_bind(p, &c[2]);
    assert_int_equal(mts_peers_accept(p, 3, SA(x1), 2), 2);   /* refused */
    assert_int_equal(mts_peers_accept(p, 3, SA(y), 2), 0);
    mts_peers_bind(p, &c[3]);
    /* ::ffff:10.0.0.1 is 10.0.0.1 */
    struct sockaddr_in a = v4("10.0.0.1");
    struct sockaddr_in6 m = v6("::ffff:10.0.0.1");
    assert_int_equal(mts_peers_accept(p, 4, SA(a), 2), 0);
    mts_peers_bind(p, &c[4]);
    assert_int_equal(mts_peers_accept(p, 5, SA(m), 2), 1);
    mts_peers_bind(p, &c[5]);
    assert_int_equal(mts_peers_count(p, SA(a)), 2);
    /* a family that is not an IP address: not counted */
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(mts_peers_accept(p, 6, &un, sizeof un, 1), 0);
    mts_peers_free(p);
}

static char *render(const mts_prom_t *p) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    mts_prom_render(p, f);
    fclose(f);
    return buf;
}

static void prom_text_format(void **st) {
    (void)st;
    static const char *const routes[] = {"/health", "/backtests/{id}"};
    mts_prom_t *p = mts_prom_new(routes, 2);
    assert_non_null(p);
    mts_prom_http(p, 0, "GET", 200, 0.003);    /* bucket 0.005 */
    mts_prom_http(p, 0, "GET", 200, 0.2);      /* bucket 0.25 */
    mts_prom_http(p, 1, "GET", 404, 12.0);     /* only +Inf */
    mts_prom_http(p, 1, "GET", 101, -1);       /* counted, not observed */
    mts_prom_signal(p, "sma\"x", "bit\\coin\n");
    mts_prom_rate_limited(p, 1);
    mts_prom_bus_message(p, "fill");
    mts_prom_bus_message(p, "fill");
    mts_prom_backtest(p);
    char *t = render(p);
    const char *want[] = {
        "# TYPE mts_http_requests_total counter\n",
        "mts_http_requests_total{route=\"/health\",method=\"GET\",code=\"200\"} 2\n",
        "mts_http_requests_total{route=\"/backtests/{id}\",method=\"GET\",code=\"404\"} 1\n",
        "mts_http_requests_total{route=\"/backtests/{id}\",method=\"GET\",code=\"101\"} 1\n",
        "# TYPE mts_http_request_duration_seconds histogram\n",
        "mts_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.005\"} 1\n",
        "mts_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.1\"} 1\n",
        "mts_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.25\"} 2\n",
        "mts_http_request_duration_seconds_bucket{route=\"/health\",le=\"+Inf\"} 2\n",
        "mts_http_request_duration_seconds_sum{route=\"/health\"} 0.20300000000000001\n",
        "mts_http_request_duration_seconds_count{route=\"/health\"} 2\n",
        "mts_http_request_duration_seconds_bucket{route=\"/backtests/{id}\",le=\"10\"} 0\n",
        "mts_http_request_duration_seconds_bucket{route=\"/backtests/{id}\",le=\"+Inf\"} 1\n",
        "mts_http_request_duration_seconds_sum{route=\"/backtests/{id}\"} 12\n",
        "mts_http_request_duration_seconds_count{route=\"/backtests/{id}\"} 1\n",
        "mts_signals_generated_total{strategy=\"sma\\\"x\",asset=\"bit\\\\coin\\n\"} 1\n",
        "mts_rate_limited_total{route=\"/backtests/{id}\"} 1\n",
        "mts_bus_messages_total{topic=\"fill\"} 2\n",
        "mts_backtests_total 1\n",
        "mts_ws_dropped_messages_total 0\n",
        "mts_http_connections_refused_total{reason=\"per_address_limit\"} 0\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(t, want[i])) fprintf(stderr, "missing: %s---\n%s", want[i], t);
        assert_non_null(strstr(t, want[i]));
    }
    /* every sample line is NAME{labels} VALUE or NAME VALUE */
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *sp = strrchr(line, ' ');
        assert_non_null(sp);
        char *end;
        strtod(sp + 1, &end);
        assert_true(*end == 0);
    }
    free(t);
    mts_prom_free(p);
}

static void prom_series_are_bounded(void **st) {
    (void)st;
    static const char *const routes[] = {"/x"};
    mts_prom_t *p = mts_prom_new(routes, 1);
    char a[32];
    for (int i = 0; i < MTS_PROM_MAX_SERIES + 10; i++) {
        snprintf(a, sizeof a, "asset%d", i);
        mts_prom_signal(p, "s", a);
    }
    char *t = render(p);
    assert_non_null(strstr(t, "mts_metrics_series_dropped_total 10\n"));
    assert_null(strstr(t, "asset512\""));
    assert_non_null(strstr(t, "asset511\""));
    free(t);
    mts_prom_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_client_and_class),
        cmocka_unit_test(full_table_recycles_least_recent),
        cmocka_unit_test(peers_per_address),
        cmocka_unit_test(peers_ipv6_prefix_and_mapped),
        cmocka_unit_test(prom_text_format),
        cmocka_unit_test(prom_series_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
