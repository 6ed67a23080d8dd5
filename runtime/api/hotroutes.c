/* hotroutes.c — GET /orderbook/{exchange}/{symbol}, /funding/{exchange}/{symbol}
 * and /market/{symbol}/{interval}: the newest value from the cache's
 * `...:latest` key (server L1, then Redis: cache/cache.h), else from the database
 * (api/queries.h). Every answer says where it came from ("source": "cache" or
 * "database"; "cache": "l1" or "redis") and how old it is ("age_ms"). A cache
 * value that does not parse as what mts writes is logged, dropped from L1 and
 * answered from the database. docs/api.md documents the wire. */
#include "api/internal.h"
#include "api/queries.h"
#include "feeds/event.h"
#include "feeds/ws.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define SEG_MAX 32

static int64_t unix_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* "2023-11-14T22:13:20.123Z" */
static void iso_ms(FILE *f, int64_t ms) {
    char iso[32];
    int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    mts_time_format_iso(s, iso);
    size_t n = strlen(iso);
    if (n && iso[n - 1] == 'Z') iso[n - 1] = 0;
    fprintf(f, "\"%s.%03dZ\"", iso, (int)(ms - s * 1000));
}

static void knum(FILE *f, const char *k, double v) {
    fprintf(f, ",\"%s\":", k);
    mts_json_number(f, v);
}

/* The two {segments} of req->path into a and b (0), or -1 with a 400 naming
 * what is wrong. upper: case of the part that is a symbol (1: a, 2: b). */
static int segments(const api_request_t *req, const char *what_a, const char *what_b, char a[SEG_MAX],
                    char b[SEG_MAX], api_reply_t *r) {
    const char *p = strchr(req->path + 1, '/') + 1;   /* route_of matched /x/{a}/{b} */
    const char *slash = strchr(p, '/');
    const char *parts[2] = {p, slash + 1};
    size_t lens[2] = {(size_t)(slash - p), strlen(slash + 1)};
    const char *names[2] = {what_a, what_b};
    char *outs[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        int ok = lens[i] > 0 && lens[i] < SEG_MAX;
        for (size_t j = 0; ok && j < lens[i]; j++) {
            unsigned char ch = (unsigned char)parts[i][j];
            ok = isalnum(ch) || ch == '_' || ch == '-' || ch == '.';
        }
        if (!ok) {
            api_error(r, 400, "bad_request", "the %s in the path must be 1..%d letters, digits, '_', '-' or '.', got '%.*s'",
                      names[i], SEG_MAX - 1, (int)(lens[i] > 64 ? 64 : lens[i]), parts[i]);
            return -1;
        }
        memcpy(outs[i], parts[i], lens[i]);
        outs[i][lens[i]] = 0;
    }
    return 0;
}

static void lower(char *s) { for (; *s; s++) *s = (char)tolower((unsigned char)*s); }
static void upper(char *s) { for (; *s; s++) *s = (char)toupper((unsigned char)*s); }

/* 0 when ex (lower case) is an exchange mts streams; else -1 with a 404. */
static int known_exchange(const char *ex, api_reply_t *r) {
    if (!strcmp(ex, mts_exchange_name(MTS_EXCH_BINANCE)) || !strcmp(ex, mts_exchange_name(MTS_EXCH_BYBIT))) return 0;
    api_error(r, 404, "not_found", "unknown exchange '%s' (mts streams binance and bybit)", ex);
    return -1;
}

static void hot_key(char *key, size_t n, const char *kind, const char *a, const char *b) {
    snprintf(key, n, "%s:%s:%s:latest", kind, a, b);
}

static void bad_value(api_server_t *s, const char *key, const char *why) {
    mts_log(MTS_LOG_WARN, "serve.cache_bad_value", "\"key\":\"%s\",\"detail\":\"%s\"", key, why);
    mts_cache_forget(s->hot, key);
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

static void head(FILE *f, const char *source, const char *tier) {
    fprintf(f, "\"source\":\"%s\",\"cache\":", source);
    if (tier) fprintf(f, "\"%s\"", tier);
    else fputs("null", f);
}

/* ---- /orderbook ---- */

static int levels_of(const cJSON *arr, int depth, double (*lv)[2], int *n) {
    *n = 0;
    if (!cJSON_IsArray(arr)) return -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2) return -1;
        const cJSON *p = cJSON_GetArrayItem(e, 0), *q = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsNumber(p) || !cJSON_IsNumber(q)) return -1;
        if (*n < depth) {
            lv[*n][0] = p->valuedouble;
            lv[*n][1] = q->valuedouble;
            (*n)++;
        }
    }
    return 0;
}

/* A cached order book value into b: 0, or -1 when it is not one. */
static int book_of(const char *val, size_t len, int depth, mts_apiq_book_t *b) {
    cJSON *o = cJSON_ParseWithLength(val, len);
    int rc = -1;
    if (cJSON_IsObject(o)) {
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "ts");
        if (cJSON_IsNumber(ts) &&
            levels_of(cJSON_GetObjectItemCaseSensitive(o, "bids"), depth, b->bids, &b->nb) == 0 &&
            levels_of(cJSON_GetObjectItemCaseSensitive(o, "asks"), depth, b->asks, &b->na) == 0) {
            b->ts_ms = (int64_t)ts->valuedouble;
            b->update_id = jnum(o, "update_id");
            rc = 0;
        }
    }
    cJSON_Delete(o);
    return rc;
}

static void side_json(FILE *f, const char *name, double (*lv)[2], int n) {
    fprintf(f, ",\"%s\":[", name);
    for (int i = 0; i < n; i++) {
        fputs(i ? ",[" : "[", f);
        mts_json_number(f, lv[i][0]);
        fputc(',', f);
        mts_json_number(f, lv[i][1]);
        fputc(']', f);
    }
    fputc(']', f);
}

static void orderbook(api_server_t *s, const api_request_t *req, api_reply_t *r) {
    static const char *const allowed[] = {"depth", NULL};
    char ex[SEG_MAX], sym[SEG_MAX], key[128];
    int depth;
    if (api_only_args(req, allowed, r) || api_int_arg(req, "depth", 1, MTS_APIQ_MAX_DEPTH, 20, &depth, r) ||
        segments(req, "exchange", "symbol", ex, sym, r))
        return;
    lower(ex);
    upper(sym);
    if (known_exchange(ex, r)) return;
    mts_apiq_book_t *b = s->book;
    hot_key(key, sizeof key, "orderbook", ex, sym);
    const char *val, *tier = NULL, *source = "cache";
    size_t len;
    if (mts_cache_get_tier(s->hot, key, &val, &len, &tier) == 0 && book_of(val, len, depth, b) != 0) {
        bad_value(s, key, "not an order book (ts, bids and asks of [price, qty])");
        tier = NULL;
    }
    if (!tier) {
        source = "database";
        int rc = mts_apiq_orderbook(s->store, ex, sym, depth, b);
        if (rc == MTS_ENOTFOUND) {
            api_error(r, 404, "not_found", "no order book for %s %s in the cache or the database: run "
                      "`mts stream --exchange %s --symbols %s --channels book`", ex, sym, ex, sym);
            return;
        }
        if (rc != 0) { api_error(r, 500, "database", "%s", mts_store_errmsg(s->store)); return; }
    }
    mts_prom_hot(s->prom, req->route, tier ? tier : "database");
    FILE *f = api_body(r);
    if (f) {
        fprintf(f, "{\"exchange\":\"%s\",\"symbol\":\"%s\",", ex, sym);
        head(f, source, tier);
        fprintf(f, ",\"ts\":%lld,\"time\":", (long long)b->ts_ms);
        iso_ms(f, b->ts_ms);
        fprintf(f, ",\"age_ms\":%lld", (long long)(unix_ms() - b->ts_ms));
        knum(f, "update_id", b->update_id);
        side_json(f, "bids", b->bids, b->nb);
        side_json(f, "asks", b->asks, b->na);
        fputc('}', f);
    }
    api_finish(r, f, 200);
}

/* ---- /funding ---- */

static int funding_of(const char *val, size_t len, mts_apiq_funding_t *out) {
    cJSON *o = cJSON_ParseWithLength(val, len);
    int rc = -1;
    const cJSON *ts = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "ts") : NULL;
    if (cJSON_IsNumber(ts)) {
        out->ts_ms = (int64_t)ts->valuedouble;
        out->rate = jnum(o, "rate");
        out->mark_price = jnum(o, "mark_price");
        out->next_funding_ms = jnum(o, "next_funding_ms");
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

static void funding(api_server_t *s, const api_request_t *req, api_reply_t *r) {
    static const char *const allowed[] = {NULL};
    char ex[SEG_MAX], sym[SEG_MAX], key[128];
    if (api_only_args(req, allowed, r) || segments(req, "exchange", "symbol", ex, sym, r)) return;
    lower(ex);
    upper(sym);
    if (known_exchange(ex, r)) return;
    mts_apiq_funding_t fr;
    hot_key(key, sizeof key, "funding", ex, sym);
    const char *val, *tier = NULL, *source = "cache";
    size_t len;
    if (mts_cache_get_tier(s->hot, key, &val, &len, &tier) == 0 && funding_of(val, len, &fr) != 0) {
        bad_value(s, key, "not a funding update (no numeric ts)");
        tier = NULL;
    }
    if (!tier) {
        source = "database";
        int rc = mts_apiq_funding(s->store, ex, sym, &fr);
        if (rc == MTS_ENOTFOUND) {
            api_error(r, 404, "not_found", "no funding update for %s %s in the cache or the database: run "
                      "`mts stream --exchange %s --symbols %s --channels funding`", ex, sym, ex, sym);
            return;
        }
        if (rc != 0) { api_error(r, 500, "database", "%s", mts_store_errmsg(s->store)); return; }
    }
    mts_prom_hot(s->prom, req->route, tier ? tier : "database");
    FILE *f = api_body(r);
    if (f) {
        fprintf(f, "{\"exchange\":\"%s\",\"symbol\":\"%s\",", ex, sym);
        head(f, source, tier);
        fprintf(f, ",\"ts\":%lld,\"time\":", (long long)fr.ts_ms);
        iso_ms(f, fr.ts_ms);
        fprintf(f, ",\"age_ms\":%lld", (long long)(unix_ms() - fr.ts_ms));
        knum(f, "rate", fr.rate);
        knum(f, "mark_price", fr.mark_price);
        knum(f, "next_funding_ms", fr.next_funding_ms);
        fputc('}', f);
    }
    api_finish(r, f, 200);
}

/* ---- /market ---- */

/* A cached bar (the `bar` payload of `mts run`) into out: 0, or -1. */
static int bar_of(const char *val, size_t len, mts_apiq_bar_t *out) {
    cJSON *o = cJSON_ParseWithLength(val, len);
    int rc = -1;
    const cJSON *ex = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "exchange") : NULL;
    const cJSON *om = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "open_ms") : NULL;
    if (cJSON_IsString(ex) && ex->valuestring && strlen(ex->valuestring) < sizeof out->exchange &&
        cJSON_IsNumber(om)) {
        snprintf(out->exchange, sizeof out->exchange, "%s", ex->valuestring);
        out->open_ms = (int64_t)om->valuedouble;
        out->open = jnum(o, "open");
        out->high = jnum(o, "high");
        out->low = jnum(o, "low");
        out->close = jnum(o, "close");
        out->volume = jnum(o, "volume");
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

static void market(api_server_t *s, const api_request_t *req, api_reply_t *r) {
    static const char *const allowed[] = {"exchange", NULL};
    char sym[SEG_MAX], iv[SEG_MAX], ex[SEG_MAX] = "", key[128];
    if (api_only_args(req, allowed, r) || segments(req, "symbol", "interval", sym, iv, r)) return;
    upper(sym);
    int64_t iv_ms = mts_ws_kline_interval(0, iv, NULL, 0);
    if (iv_ms <= 0) {
        api_error(r, 400, "bad_request", "unknown interval '%s' (1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w)", iv);
        return;
    }
    const char *want = api_arg(req, "exchange");
    if (want) {
        snprintf(ex, sizeof ex, "%s", want);
        lower(ex);
        if (known_exchange(ex, r)) return;
    }
    mts_apiq_bar_t bar;
    hot_key(key, sizeof key, "market", sym, iv);
    const char *val, *tier = NULL, *source = "cache";
    size_t len;
    if (mts_cache_get_tier(s->hot, key, &val, &len, &tier) == 0) {
        if (bar_of(val, len, &bar) != 0) {
            bad_value(s, key, "not a bar (exchange, open_ms, open, high, low, close, volume)");
            tier = NULL;
        } else if (ex[0] && strcmp(bar.exchange, ex) != 0) {
            tier = NULL;   /* the newest bar is another exchange's: ask the database for this one */
        }
    }
    if (!tier) {
        source = "database";
        int rc = mts_apiq_latest_bar(s->store, ex[0] ? ex : NULL, sym, iv, &bar);
        if (rc == MTS_ENOTFOUND) {
            api_error(r, 404, "not_found", "no closed %s %s bar%s%s in the cache or the database: run a paper "
                      "session, e.g. `mts run --strategy sma_cross --exchange %s --symbol %s --interval %s`",
                      sym, iv, ex[0] ? " of " : "", ex, ex[0] ? ex : "binance", sym, iv);
            return;
        }
        if (rc != 0) { api_error(r, 500, "database", "%s", mts_store_errmsg(s->store)); return; }
    }
    mts_prom_hot(s->prom, req->route, tier ? tier : "database");
    int64_t close_ms = bar.open_ms + iv_ms;
    FILE *f = api_body(r);
    if (f) {
        fputs("{\"exchange\":\"", f);
        mts_json_escape(f, bar.exchange);
        fprintf(f, "\",\"symbol\":\"%s\",\"interval\":\"%s\",", sym, iv);
        head(f, source, tier);
        fprintf(f, ",\"open_ms\":%lld,\"close_ms\":%lld,\"time\":", (long long)bar.open_ms, (long long)close_ms);
        iso_ms(f, bar.open_ms);
        fprintf(f, ",\"age_ms\":%lld", (long long)(unix_ms() - close_ms));
        knum(f, "open", bar.open);
        knum(f, "high", bar.high);
        knum(f, "low", bar.low);
        knum(f, "close", bar.close);
        knum(f, "volume", bar.volume);
        fputc('}', f);
    }
    api_finish(r, f, 200);
}

void api_handle_hot(api_server_t *s, const api_request_t *req, api_reply_t *r) {
    switch (req->route) {
    case R_ORDERBOOK: orderbook(s, req, r); break;
    case R_FUNDING: funding(s, req, r); break;
    default: market(s, req, r); break;
    }
}
