/* fuzz_api_request.c — `make fuzz`: the API's request validators
 * (api/internal.h: api_parse_job for POST /backtest and /signals/generate
 * bodies, api_parse_signal_query for GET /signals) against mutated copies of
 * valid bodies and query strings: byte flips, JSON punctuation, truncation,
 * inserted quotes, duplicated spans, huge numbers, deep nesting. No server is
 * needed: they are pure functions of the request and the configuration.
 * Built with ASan and UBSan: a crash or undefined behaviour aborts the run.
 * Oracles: a refusal is a 400 whose body is a JSON object with "error" and
 * "detail"; an accepted body names 1..32 valid assets and existing
 * strategies. Usage: fuzz_api_request ITERATIONS ROOT (ROOT has scripts/strategies) */
#include "api/internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static void die(const char *what, const char *in, size_t len) {
    fprintf(stderr, "fuzz_api_request: %s: %.*s\n", what, (int)(len > 400 ? 400 : len), in);
    abort();
}

static void check_refusal(const api_reply_t *r, const char *in, size_t len) {
    if (r->status != 400 || !r->body) die("a refusal that is not a 400 with a body", in, len);
    cJSON *j = cJSON_ParseWithLength(r->body, r->len);
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "detail")))
        die("a 400 body without error and detail", r->body, r->len);
    cJSON_Delete(j);
}

static size_t mutate(char *m, size_t len, size_t cap) {
    for (int k = 0, muts = 1 + (int)(next() % 4); k < muts && len; k++) {
        size_t pos = next() % len;
        switch (next() % 7) {
        case 0: m[pos] = (char)(next() & 0xff); break;
        case 1: m[pos] = "{}[]\",:0123456789.eE-+ntfu\\&="[next() % 30]; break;
        case 2: len = pos; break;
        case 3:
            if (len + 1 < cap) { memmove(m + pos + 1, m + pos, len - pos); m[pos] = '"'; len++; }
            break;
        case 4: {   /* duplicate a span */
            size_t n = 1 + next() % 64;
            if (pos + n > len) n = len - pos;
            if (len + n < cap) { memmove(m + pos + n, m + pos, len - pos); len += n; }
            break;
        }
        case 5: {   /* a long run */
            size_t n = next() % 5000;
            char c = "9[{a\" ,"[next() % 7];
            if (len + n < cap) { memmove(m + pos + n, m + pos, len - pos); memset(m + pos, c, n); len += n; }
            break;
        }
        default: {  /* an extreme number */
            static const char *nums[] = {"1e999", "-0", "1e-400", "123456789012345678901234567890", "NaN", "0x10"};
            const char *x = nums[next() % 6];
            size_t n = strlen(x);
            if (len + n < cap) { memmove(m + pos + n, m + pos, len - pos); memcpy(m + pos, x, n); len += n; }
            break;
        }
        }
    }
    return len;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: fuzz_api_request ITERATIONS ROOT\n");
        return 2;
    }
    long iters = atol(argv[1]), ok = 0, refused = 0;
    mts_api_config_t cfg = {.root = argv[2], .capital = 10000, .commission_bps = 10};
    static const char *bodies[][2] = {
        {"b", "{\"strategy_name\":\"sma_cross\",\"assets\":[\"bitcoin\",\"ethereum\"],\"start\":\"2022-01-01\","
              "\"end\":\"2023-12-31\",\"initial_capital\":5000,\"commission_bps\":5,\"slippage_bps\":1,"
              "\"risk_free\":0.01,\"params\":{\"fast\":5,\"slow\":20,\"flag\":true,\"name\":\"x\"}}"},
        {"b", "{\"strategy_name\":\"sma_cross,rsi\",\"assets\":\"bitcoin, ethereum\"}"},
        {"g", "{\"strategy_name\":\"sma_cross\",\"symbols\":[\"bitcoin\"],\"timeframe\":\"1d\",\"params\":{\"fast\":3}}"},
        {"g", "{\"strategy_name\":\"rsi\",\"symbols\":\"ethereum\"}"},
    };
    static const char *queries[] = {
        "strategy=sma_cross&asset=bitcoin&since=2023-01-01&limit=50",
        "since=2023-01-01T12:00:00Z&limit=1", "since=1700000000", "limit=10000&asset=a.b-c",
    };
    static char m[300000];
    for (long it = 0; it < iters; it++) {
        api_reply_t r;
        memset(&r, 0, sizeof r);
        if (next() % 4) {   /* a body */
            int b = (int)(next() % 4);
            size_t len = strlen(bodies[b][1]);
            memcpy(m, bodies[b][1], len);
            if (it % 8) len = mutate(m, len, sizeof m);
            m[len] = 0;
            api_request_t req = {.route = bodies[b][0][0] == 'b' ? R_BACKTEST : R_SIGNALS_GENERATE,
                                 .body = m, .body_len = len, .subject = "fuzz"};
            api_job_t *job = calloc(1, sizeof *job);
            if (api_parse_job(&cfg, &req, job, &r) == 0) {
                if (job->n_assets < 1 || job->n_assets > API_MAX_LIST || job->n_strategies < 1)
                    die("accepted without assets or strategies", m, len);
                for (int a = 0; a < job->n_assets; a++)
                    if (!job->assets[a] || !job->assets[a][0] || strlen(job->assets[a]) > 63)
                        die("accepted a bad asset name", m, len);
                if (job->from > job->to) die("accepted start after end", m, len);
                ok++;
            } else {
                check_refusal(&r, m, len);
                refused++;
            }
            api_job_free(job);
        } else {            /* a query string, split on & the way libwebsockets does */
            int q = (int)(next() % 4);
            size_t len = strlen(queries[q]);
            memcpy(m, queries[q], len);
            if (it % 8) len = mutate(m, len, 4096);
            m[len] = 0;
            char store[API_MAX_ARGS][API_ARG_MAX];
            api_request_t req = {.route = R_SIGNALS, .subject = "fuzz"};
            for (char *save = NULL, *t = strtok_r(m, "&", &save); t && req.n_args < API_MAX_ARGS;
                 t = strtok_r(NULL, "&", &save)) {
                snprintf(store[req.n_args], API_ARG_MAX, "%s", t);
                req.args[req.n_args] = store[req.n_args];
                req.n_args++;
            }
            mts_apiq_signal_filter_t flt;
            if (api_parse_signal_query(&req, &flt, &r) == 0) {
                if (flt.limit < 1 || flt.limit > 10000) die("accepted a limit out of range", queries[q], len);
                ok++;
            } else {
                check_refusal(&r, queries[q], len);
                refused++;
            }
        }
        free(r.body);
    }
    printf("fuzz api_request: %ld requests, %ld accepted, %ld refused with a 400, no crash\n", iters, ok, refused);
    return 0;
}
