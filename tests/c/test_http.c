/* test_http.c — feeds/http against the stand-in vendor server
 * (tests/e2e/vendor_server.py on a 127.0.0.1 port it picks; never the
 * internet). The server misbehaves on cue (500, 429 + Retry-After, slow
 * answers, dropped connections, truncated bodies) and counts what it saw; the
 * client's clock and sleep are fakes, so backoff delays are checked exactly
 * and nothing really waits (except the one real timeout case). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mts.h"
#include "feeds/http.h"

static pid_t server_pid;
static int server_port;
static char base[128];

/* ---- the stand-in server ---- */
static int start_server(void **st) {
    (void)st;
    int fd[2];
    if (pipe(fd)) return -1;
    server_pid = fork();
    if (server_pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        execlp("python3", "python3", "tests/e2e/vendor_server.py", "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    if (!f || fscanf(f, "%d", &server_port) != 1) return -1;
    fclose(f);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", server_port);
    return 0;
}

static int stop_server(void **st) {
    (void)st;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    return 0;
}

static size_t sink(char *p, size_t s, size_t n, void *ud) {
    char **out = ud;
    size_t old = *out ? strlen(*out) : 0;
    *out = realloc(*out, old + s * n + 1);
    memcpy(*out + old, p, s * n);
    (*out)[old + s * n] = 0;
    return s * n;
}

/* POST json to a control path (plain curl, not the client under test). Returns the reply (free). */
static char *control(const char *path, const char *json) {
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *c = curl_easy_init();
    char *out = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (json) curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) fail_msg("control %s: %s", path, curl_easy_strerror(rc));
    return out;
}

static void reset(const char *script) {
    free(control("/_control/reset", "{}"));
    if (script) free(control("/_control/script", script));
}

/* The server's count of vendor requests (from /_control/stats). */
static long stat_num(const char *key) {
    char *s = control("/_control/stats", NULL);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(s, pat);
    long v = p ? strtol(p + strlen(pat), NULL, 10) : -1;
    free(s);
    return v;
}

/* ---- fake clock ---- */
typedef struct fake { double t; double sleeps[16]; int n_sleeps; double rnd; } fake_t;
static double f_now(void *ud) { return ((fake_t *)ud)->t; }
static void f_sleep(void *ud, double s) {
    fake_t *f = ud;
    if (f->n_sleeps < 16) f->sleeps[f->n_sleeps++] = s;
    f->t += s;
}
static double f_rand(void *ud) { return ((fake_t *)ud)->rnd; }

static mts_http_t *client(fake_t *f, int attempts, int threshold, double btimeout, double rate) {
    mts_http_config_t c;
    mts_http_config_defaults(&c);
    c.vendor = "test";
    c.max_attempts = attempts;
    c.backoff_base_s = 0.5;
    c.backoff_max_s = 1.5;
    c.breaker_threshold = threshold;
    c.breaker_timeout_s = btimeout;
    c.rate_per_min = rate;
    c.timeout_s = 5;
    mts_http_t *h = NULL;
    assert_int_equal(mts_http_new(&c, &h), 0);
    mts_http_hooks_t hk = {f_now, f_sleep, f_rand, f};
    mts_http_set_hooks(h, &hk);
    return h;
}

static char *url(const char *path) {
    static char u[256];
    snprintf(u, sizeof u, "%s%s", base, path);
    return u;
}

#define OHLC "/api/v3/coins/bitcoin/ohlc?vs_currency=usd&days=1"

static void ok_body_and_keepalive(void **st) {
    (void)st;
    reset(NULL);
    fake_t f = {0};
    mts_http_t *h = client(&f, 3, 5, 60, 0);
    mts_http_add_header(h, "x-cg-demo-api-key: DEMO123");
    for (int i = 0; i < 3; i++) {
        mts_http_response_t r;
        assert_int_equal(mts_http_get(h, url(OHLC), &r), 0);
        assert_int_equal(r.status, 200);
        /* the fixture's first candle time, verbatim */
        assert_non_null(strstr(r.body, "1779199200000"));
        mts_http_response_free(&r);
    }
    const mts_http_stats_t *s = mts_http_stats(h);
    assert_int_equal(s->attempts, 3);
    assert_int_equal(s->retries, 0);
    assert_int_equal(s->connects, 1);                 /* one connection, reused */
    assert_int_equal(stat_num("vendor_connections"), 1);
    char *hs = control("/_control/stats", NULL);
    assert_non_null(strstr(hs, "\"x-cg-demo-api-key\": \"DEMO123\""));
    free(hs);
    mts_http_free(h);
}

static void retries_5xx_with_full_jitter(void **st) {
    (void)st;
    reset("{\"steps\": [\"500\", \"503\"]}");
    fake_t f = {.rnd = 0.5};
    mts_http_t *h = client(&f, 3, 5, 60, 0);
    mts_http_response_t r;
    assert_int_equal(mts_http_get(h, url(OHLC), &r), 0);
    mts_http_response_free(&r);
    const mts_http_stats_t *s = mts_http_stats(h);
    assert_int_equal(s->attempts, 3);
    assert_int_equal(s->retries, 2);
    assert_int_equal(s->status_5xx, 2);
    assert_int_equal(stat_num("total"), 3);
    /* windows: retry 1 = base 0.5, retry 2 = 0.5*2 = 1.0; delay = window * rnd(0.5) */
    assert_int_equal(f.n_sleeps, 2);
    assert_true(fabs(f.sleeps[0] - 0.25) < 1e-9);
    assert_true(fabs(f.sleeps[1] - 0.50) < 1e-9);
    assert_string_equal(mts_http_breaker_state(h, url(OHLC)), "closed");
    mts_http_free(h);
}

static void backoff_window_doubles_to_cap(void **st) {
    (void)st;
    /* 0.5, 1, 2, 4, 8 then capped at 5 */
    double want[] = {0.5, 1, 2, 4, 5, 5};
    for (int i = 0; i < 6; i++)
        assert_true(fabs(mts_http_backoff_window(0.5, 5, i + 1) - want[i]) < 1e-12);
}

static void gives_up_after_max_attempts(void **st) {
    (void)st;
    reset("{\"default\": \"500\"}");
    fake_t f = {.rnd = 0};
    mts_http_t *h = client(&f, 3, 10, 60, 0);
    mts_http_response_t r;
    assert_int_equal(mts_http_get(h, url(OHLC), &r), MTS_EAPI);
    assert_null(r.body);
    assert_int_equal(r.status, 500);
    assert_int_equal(stat_num("total"), 3);
    assert_non_null(strstr(mts_http_errmsg(h), "HTTP 500"));
    assert_null(strstr(mts_http_errmsg(h), "?"));     /* no query string (api keys) in messages */
    mts_http_free(h);
}

static void honours_retry_after(void **st) {
    (void)st;
    reset("{\"steps\": [{\"do\": \"429\", \"retry_after\": \"7\"}]}");
    fake_t f = {.rnd = 0.9};
    mts_http_t *h = client(&f, 3, 1, 60, 0);          /* threshold 1: a 429 must not trip it */
    mts_http_response_t r;
    assert_int_equal(mts_http_get(h, url(OHLC), &r), 0);
    mts_http_response_free(&r);
    assert_int_equal(f.n_sleeps, 1);
    assert_true(fabs(f.sleeps[0] - 7.0) < 1e-9);      /* the server's 7 s, not the jitter */
    assert_int_equal(mts_http_stats(h)->status_429, 1);
    assert_string_equal(mts_http_breaker_state(h, url(OHLC)), "closed");
    mts_http_free(h);
}

static void persistent_429_is_typed_rate_limit(void **st) {
    (void)st;
    reset("{\"default\": {\"do\": \"429\", \"retry_after\": \"1\"}}");
    fake_t f = {0};
    mts_http_t *h = client(&f, 2, 5, 60, 0);
    mts_http_response_t r;
    assert_int_equal(mts_http_get(h, url(OHLC), &r), MTS_ERATELIMIT);
    assert_int_equal(r.status, 429);
    assert_int_equal(stat_num("total"), 2);
    mts_http_free(h);
}

static void parse_retry_after_forms(void **st) {
    (void)st;
    assert_true(mts_http_parse_retry_after("120", 0) == 120);
    /* Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 (16729 days * 86400 + 7*3600 + 28*60:
     * 1970..2014 = 45*365 + 11 leap days = 16436; +273 (Jan..Sep 2015) + 20 = 16729) */
    assert_true(mts_http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 30) == 30);
    assert_true(mts_http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 + 30) == 0);
    assert_true(mts_http_parse_retry_after("soon", 0) < 0);
    assert_true(mts_http_parse_retry_after("", 0) < 0);
    assert_true(mts_http_parse_retry_after(NULL, 0) < 0);
}

static void transport_failures_are_retried(void **st) {
    (void)st;
    const char *cues[] = {"\"drop\"", "\"truncate\""};
    for (int i = 0; i < 2; i++) {
        char script[64];
        snprintf(script, sizeof script, "{\"steps\": [%s]}", cues[i]);
        reset(script);
        fake_t f = {0};
        mts_http_t *h = client(&f, 3, 5, 60, 0);
        mts_http_response_t r;
        assert_int_equal(mts_http_get(h, url(OHLC), &r), 0);
        assert_non_null(strstr(r.body, "76818.0"));   /* the whole body on the retry */
        mts_http_response_free(&r);
        assert_int_equal(mts_http_stats(h)->transport_errors, 1);
        assert_int_equal(mts_http_stats(h)->retries, 1);
        assert_int_equal(stat_num("total"), 2);
        mts_http_free(h);
    }
}

static void slow_answer_times_out_then_retries(void **st) {
    (void)st;
    reset("{\"steps\": [{\"do\": \"slow\", \"seconds\": 1.5}]}");
    fake_t f = {0};
    mts_http_config_t c;
    mts_http_config_defaults(&c);
    c.timeout_s = 0.4;                                /* 0.4 s < 1.5 s */
    c.max_attempts = 2;
    mts_http_t *h = NULL;
    assert_int_equal(mts_http_new(&c, &h), 0);
    mts_http_hooks_t hk = {f_now, f_sleep, f_rand, &f};
    mts_http_set_hooks(h, &hk);
    mts_http_response_t r;
    assert_int_equal(mts_http_get(h, url(OHLC), &r), 0);
    mts_http_response_free(&r);
    assert_int_equal(mts_http_stats(h)->transport_errors, 1);
    assert_int_equal(mts_http_stats(h)->attempts, 2);
    mts_http_free(h);
}

static void client_errors_are_not_retried(void **st) {
    (void)st;
    reset(NULL);
    fake_t f = {0};
    mts_http_t *h = client(&f, 3, 5, 60, 0);
    mts_http_response_t r;
    assert_int_equal(mts_http_get(h, url("/api/v3/coins/nocoin/ohlc?vs_currency=usd"), &r), MTS_EAPI);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "coin not found"));   /* the vendor's explanation is kept */
    mts_http_response_free(&r);
    assert_int_equal(mts_http_stats(h)->attempts, 1);
    assert_int_equal(mts_http_get(h, "not a url", &r), MTS_EINVAL);
    mts_http_free(h);
}

static void breaker_opens_refuses_and_closes(void **st) {
    (void)st;
    reset("{\"default\": \"500\"}");
    fake_t f = {.t = 1000};
    mts_http_t *h = client(&f, 3, 2, 30, 0);          /* opens after 2 failures, 30 s */
    mts_http_response_t r;
    /* attempt 1: 500, attempt 2: 500 -> open; attempt 3 refused by the breaker */
    assert_int_equal(mts_http_get(h, url(OHLC), &r), MTS_EAPI);
    assert_string_equal(mts_http_breaker_state(h, url(OHLC)), "open");
    assert_int_equal(stat_num("total"), 2);
    assert_int_equal(mts_http_stats(h)->breaker_opens, 1);
    assert_non_null(strstr(mts_http_errmsg(h), "circuit breaker open"));
    /* refused at once, nothing reaches the server */
    assert_int_equal(mts_http_get(h, url(OHLC), &r), MTS_EAPI);
    assert_int_equal(stat_num("total"), 2);
    assert_int_equal(mts_http_stats(h)->breaker_rejects, 2);
    /* the server recovers; after the 30 s timeout one probe goes through and closes it */
    free(control("/_control/script", "{\"default\": \"ok\"}"));
    f.t += 30;
    assert_int_equal(mts_http_get(h, url(OHLC), &r), 0);
    mts_http_response_free(&r);
    assert_string_equal(mts_http_breaker_state(h, url(OHLC)), "closed");
    assert_int_equal(mts_http_stats(h)->breaker_closes, 1);
    assert_int_equal(stat_num("total"), 3);
    mts_http_free(h);
}

static void failed_probe_reopens(void **st) {
    (void)st;
    reset("{\"default\": \"500\"}");
    fake_t f = {.t = 0};
    mts_http_t *h = client(&f, 1, 1, 10, 0);
    mts_http_response_t r;
    assert_int_equal(mts_http_get(h, url(OHLC), &r), MTS_EAPI);   /* open at 0 */
    f.t = 10;
    assert_int_equal(mts_http_get(h, url(OHLC), &r), MTS_EAPI);   /* probe fails */
    assert_string_equal(mts_http_breaker_state(h, url(OHLC)), "open");
    assert_int_equal(mts_http_stats(h)->breaker_opens, 2);
    assert_int_equal(stat_num("total"), 2);
    mts_http_free(h);
}

static void breakers_are_per_host(void **st) {
    (void)st;
    reset("{\"default\": \"500\"}");
    fake_t f = {0};
    mts_http_t *h = client(&f, 1, 1, 60, 0);
    mts_http_response_t r;
    assert_int_equal(mts_http_get(h, url(OHLC), &r), MTS_EAPI);
    free(control("/_control/script", "{\"default\": \"ok\"}"));
    /* same server under another host name: its own breaker, still closed */
    char other[256];
    snprintf(other, sizeof other, "http://localhost:%d%s", server_port, OHLC);
    assert_int_equal(mts_http_get(h, other, &r), 0);
    mts_http_response_free(&r);
    assert_string_equal(mts_http_breaker_state(h, url(OHLC)), "open");
    assert_string_equal(mts_http_breaker_state(h, other), "closed");
    mts_http_free(h);
}

static void rate_limiter_spaces_requests(void **st) {
    (void)st;
    reset(NULL);
    fake_t f = {0};
    mts_http_t *h = client(&f, 1, 5, 60, 30);         /* 30/min = one per 2 s, burst 1 */
    mts_http_response_t r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mts_http_get(h, url(OHLC), &r), 0);
        mts_http_response_free(&r);
    }
    /* first free, then 2 s each: fake time 4 s, two waits */
    assert_true(fabs(f.t - 4.0) < 1e-6);
    assert_int_equal(mts_http_stats(h)->rate_waits, 2);
    mts_http_free(h);
}

static void cancel_flag_stops_before_sending(void **st) {
    (void)st;
    reset(NULL);
    fake_t f = {0};
    volatile sig_atomic_t stop = 1;
    mts_http_t *h = client(&f, 3, 5, 60, 0);
    mts_http_set_cancel(h, &stop);
    mts_http_response_t r;
    assert_int_equal(mts_http_get(h, url(OHLC), &r), MTS_EAPI);
    assert_non_null(strstr(mts_http_errmsg(h), "cancelled"));
    assert_int_equal(stat_num("total"), 0);
    mts_http_free(h);
    mts_http_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ok_body_and_keepalive),
        cmocka_unit_test(retries_5xx_with_full_jitter),
        cmocka_unit_test(backoff_window_doubles_to_cap),
        cmocka_unit_test(gives_up_after_max_attempts),
        cmocka_unit_test(honours_retry_after),
        cmocka_unit_test(persistent_429_is_typed_rate_limit),
        cmocka_unit_test(parse_retry_after_forms),
        cmocka_unit_test(transport_failures_are_retried),
        cmocka_unit_test(slow_answer_times_out_then_retries),
        cmocka_unit_test(client_errors_are_not_retried),
        cmocka_unit_test(breaker_opens_refuses_and_closes),
        cmocka_unit_test(failed_probe_reopens),
        cmocka_unit_test(breakers_are_per_host),
        cmocka_unit_test(rate_limiter_spaces_requests),
        cmocka_unit_test(cancel_flag_stops_before_sending),
    };
    setenv("MTS_LOG_LEVEL", "error", 0);
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
