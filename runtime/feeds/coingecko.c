/* coingecko.c — CoinGecko REST client and parsers (see coingecko.h). */
#include "feeds/coingecko.h"
#include "market/interval.h"
#include "store/store.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mts_coingecko {
    mts_http_t *http;
    char *base;
    char err[512];
};

static void cg_err(mts_coingecko_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cg_err(mts_coingecko_t *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

int mts_coingecko_new(const char *base_url, const char *api_key, const mts_http_config_t *cfg,
                      mts_coingecko_t **out) {
    if (!out) return MTS_EINVAL;
    *out = NULL;
    mts_coingecko_t *c = mts_calloc(1, sizeof *c);
    if (!c) return MTS_ENOMEM;
    const char *b = base_url && *base_url ? base_url : MTS_COINGECKO_DEFAULT_BASE;
    c->base = mts_strdup(b);
    if (!c->base) { mts_free(c); return MTS_ENOMEM; }
    size_t bl = strlen(c->base);
    while (bl > 0 && c->base[bl - 1] == '/') c->base[--bl] = 0;
    mts_http_config_t hc;
    if (cfg) hc = *cfg;
    else {
        mts_http_config_defaults(&hc);
        hc.rate_per_min = MTS_COINGECKO_RATE_PER_MIN;
    }
    hc.vendor = "coingecko";
    int rc = mts_http_new(&hc, &c->http);
    if (!rc && api_key && *api_key) {
        size_t n = strlen(api_key) + 32;
        char *line = mts_malloc(n);
        if (!line) rc = MTS_ENOMEM;
        else {
            snprintf(line, n, "x-cg-demo-api-key: %s", api_key);
            rc = mts_http_add_header(c->http, line);
            mts_free(line);
        }
    }
    if (!rc) rc = mts_http_add_header(c->http, "Accept: application/json");
    if (rc) { mts_coingecko_free(c); return rc; }
    *out = c;
    return 0;
}

void mts_coingecko_free(mts_coingecko_t *c) {
    if (!c) return;
    mts_http_free(c->http);
    mts_free(c->base);
    mts_free(c);
}

mts_http_t *mts_coingecko_http(mts_coingecko_t *c) { return c ? c->http : NULL; }
const char *mts_coingecko_errmsg(const mts_coingecko_t *c) { return c ? c->err : ""; }

int mts_coingecko_valid_id(const char *id) {
    if (!id || !*id || strlen(id) > 100) return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

static void reject(FILE *err, const char *id, int64_t row, mts_cg_report_t *rep, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void reject(FILE *err, const char *id, int64_t row, mts_cg_report_t *rep, const char *fmt, ...) {
    if (rep) rep->rejected++;
    if (!err) return;
    fprintf(err, "coingecko:%s:%lld: ", id, (long long)row);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputc('\n', err);
}

static int num(const cJSON *a, int i, double *v) {
    const cJSON *x = cJSON_GetArrayItem(a, i);
    if (!cJSON_IsNumber(x)) return -1;
    *v = x->valuedouble;
    return 0;
}

/* ms -> s; CoinGecko times are whole ms; the sub-second part is dropped. */
static int64_t ms_to_s(double ms) { return (int64_t)floor(ms / 1000.0); }

typedef struct { int64_t ts; double o, h, l, c; int64_t row; } ohlc_row_t;
static int cmp_row(const void *a, const void *b) {
    const ohlc_row_t *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

int mts_coingecko_parse_ohlc(const char *json, size_t len, const char *id, mts_bars_t *out,
                             FILE *err, mts_cg_report_t *rep) {
    if (!json || !out || !id) return MTS_EINVAL;
    out->n = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return MTS_EPARSE;
    }
    int n = cJSON_GetArraySize(root);
    ohlc_row_t *rows = mts_malloc((size_t)(n ? n : 1) * sizeof *rows);
    if (!rows) { cJSON_Delete(root); return MTS_ENOMEM; }
    int k = 0, i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        int64_t row = ++i;
        double ms, o, h, l, c;
        if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 5) {
            reject(err, id, row, rep, "expected [time, open, high, low, close]");
            continue;
        }
        if (num(it, 0, &ms) || num(it, 1, &o) || num(it, 2, &h) || num(it, 3, &l) || num(it, 4, &c)) {
            reject(err, id, row, rep, "a field is not a number");
            continue;
        }
        if (!isfinite(ms) || ms < 0 || ms > 4102444800000.0) {   /* 2100-01-01 */
            reject(err, id, row, rep, "time %.0f out of range", ms);
            continue;
        }
        if (!(isfinite(o) && isfinite(h) && isfinite(l) && isfinite(c)) || !(o > 0 && h > 0 && l > 0 && c > 0)) {
            reject(err, id, row, rep, "prices must be finite and > 0");
            continue;
        }
        if (h < fmax(o, c)) { reject(err, id, row, rep, "high %g < max(open, close) %g", h, fmax(o, c)); continue; }
        if (l > fmin(o, c)) { reject(err, id, row, rep, "low %g > min(open, close) %g", l, fmin(o, c)); continue; }
        rows[k++] = (ohlc_row_t){ms_to_s(ms), o, h, l, c, row};
    }
    cJSON_Delete(root);
    qsort(rows, (size_t)k, sizeof *rows, cmp_row);
    int rc = mts_bars_reserve(out, k);
    if (rc) { mts_free(rows); return rc; }
    int64_t m = 0;
    for (int j = 0; j < k; j++) {
        if (m > 0 && out->ts[m - 1] == rows[j].ts) {
            reject(err, id, rows[j].row, rep, "duplicate time %lld", (long long)rows[j].ts);
            continue;
        }
        out->ts[m] = rows[j].ts;
        out->open[m] = rows[j].o;
        out->high[m] = rows[j].h;
        out->low[m] = rows[j].l;
        out->close[m] = rows[j].c;
        out->volume[m] = 0;
        m++;
    }
    out->n = m;
    if (rep) rep->rows = m;
    mts_free(rows);
    return 0;
}

int mts_coingecko_parse_volumes(const char *json, size_t len, mts_series_t *out) {
    if (!json || !out) return MTS_EINVAL;
    out->n = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(root, "total_volumes");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(tv)) {
        cJSON_Delete(root);
        return MTS_EPARSE;
    }
    int rc = mts_series_reserve(out, cJSON_GetArraySize(tv));
    if (rc) { cJSON_Delete(root); return rc; }
    const cJSON *it;
    int64_t k = 0;
    cJSON_ArrayForEach(it, tv) {
        double ms, v;
        if (!cJSON_IsArray(it) || num(it, 0, &ms) || !isfinite(ms)) continue;
        const cJSON *vx = cJSON_GetArrayItem(it, 1);
        /* null volume = unknown; kept as NaN so the bar gets rejected, not a silent 0 */
        v = cJSON_IsNumber(vx) ? vx->valuedouble : NAN;
        int64_t ts = ms_to_s(ms);
        if (k > 0 && ts <= out->ts[k - 1]) continue;   /* keep ascending, first wins */
        out->ts[k] = ts;
        out->v[k] = v;
        k++;
    }
    out->n = k;
    cJSON_Delete(root);
    return 0;
}

void mts_coingecko_merge_volumes(mts_bars_t *bars, const mts_series_t *vols, const char *id,
                                 FILE *err, mts_cg_report_t *rep) {
    int64_t j = 0, m = 0;
    for (int64_t i = 0; i < bars->n; i++) {
        while (vols && j < vols->n && vols->ts[j] < bars->ts[i]) j++;
        double v = 0;
        if (vols && j < vols->n && vols->ts[j] == bars->ts[i]) {
            v = vols->v[j];
            if (!isfinite(v) || v < 0) {
                char iso[32];
                mts_time_format_iso(bars->ts[i], iso);
                reject(err, id, i + 1, rep, "volume %g at %s must be finite and >= 0", v, iso);
                continue;
            }
        } else if (rep) {
            rep->no_volume++;
        }
        bars->ts[m] = bars->ts[i];
        bars->open[m] = bars->open[i];
        bars->high[m] = bars->high[i];
        bars->low[m] = bars->low[i];
        bars->close[m] = bars->close[i];
        bars->volume[m] = v;
        m++;
    }
    bars->n = m;
    if (rep) rep->rows = m;
}

int mts_coingecko_parse_price(const char *json, size_t len, const char *id, double *price) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) { cJSON_Delete(root); return MTS_EPARSE; }
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, id);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "usd");
    int rc = MTS_ENOTFOUND;
    if (cJSON_IsNumber(u) && isfinite(u->valuedouble) && u->valuedouble > 0) {
        *price = u->valuedouble;
        rc = 0;
    }
    cJSON_Delete(root);
    return rc;
}

static int get(mts_coingecko_t *c, const char *url, mts_http_response_t *r) {
    int rc = mts_http_get(c->http, url, r);
    if (rc) cg_err(c, "%s", mts_http_errmsg(c->http));
    return rc;
}

int64_t mts_coingecko_candle_seconds(int days) {
    if (days < 1) return -1;
    if (days <= 2) return 1800;
    if (days <= 30) return 4 * 3600;
    return 4 * 86400;
}

int64_t mts_coingecko_candle_interval(const mts_bars_t *bars, int days, const char **why) {
    if (why) *why = NULL;
    int64_t e = mts_coingecko_candle_seconds(days);
    if (e < 0) { if (why) *why = "days must be >= 1"; return -1; }
    if (!mts_interval_name(e)) {
        if (why) *why = "CoinGecko gives 4-day candles for days over 30, and no interval holds them";
        return -1;
    }
    if (!bars || bars->n < 2) return e;
    int64_t at_e = 0;
    for (int64_t i = 1; i < bars->n; i++) {
        int64_t d = bars->ts[i] - bars->ts[i - 1];
        if (d % e != 0) {
            if (why) *why = "a spacing between candles is not a whole number of the documented candle length";
            return -1;
        }
        at_e += d == e;
    }
    if (2 * at_e < bars->n - 1) {
        if (why) *why = "most candles are further apart than the documented candle length";
        return -1;
    }
    return e;
}

void mts_coingecko_label_open(mts_bars_t *bars, int64_t secs, int64_t now, const char *id, FILE *err,
                              mts_cg_report_t *rep) {
    int64_t m = 0;
    for (int64_t i = 0; i < bars->n; i++) {
        int64_t close_t = bars->ts[i], open_t = close_t - secs;
        if (close_t > now) {   /* still forming: its close is not known yet */
            if (rep) rep->forming++;
            continue;
        }
        if (!mts_interval_aligned(open_t, secs)) {
            char iso[32];
            mts_time_format_iso(close_t, iso);
            reject(err, id, i + 1, rep, "candle closing at %s does not open on the %s grid", iso,
                   mts_interval_name(secs) ? mts_interval_name(secs) : "interval's");
            continue;
        }
        bars->ts[m] = open_t;
        bars->open[m] = bars->open[i];
        bars->high[m] = bars->high[i];
        bars->low[m] = bars->low[i];
        bars->close[m] = bars->close[i];
        bars->volume[m] = bars->volume[i];
        m++;
    }
    bars->n = m;
    if (rep) { rep->rows = m; rep->interval_s = secs; }
}

int mts_coingecko_fetch_ohlcv(mts_coingecko_t *c, const char *id, int days, mts_bars_t *out,
                              FILE *err, mts_cg_report_t *rep) {
    if (!c || !out || !mts_coingecko_valid_id(id) || days < 1) return MTS_EINVAL;
    mts_cg_report_t local = {0};
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    size_t ul = strlen(c->base) + strlen(id) + 128;
    char *url = mts_malloc(ul);
    if (!url) return MTS_ENOMEM;
    snprintf(url, ul, "%s/coins/%s/ohlc?vs_currency=usd&days=%d", c->base, id, days);
    mts_http_response_t r;
    int rc = get(c, url, &r);
    if (!rc) {
        rc = mts_coingecko_parse_ohlc(r.body, r.len, id, out, err, rep);
        if (rc == MTS_EPARSE) cg_err(c, "coingecko %s: /ohlc response is not a JSON array of candles", id);
    }
    mts_http_response_free(&r);
    int64_t secs = 0;
    if (!rc && out->n > 0) {
        const char *why = NULL;
        secs = mts_coingecko_candle_interval(out, days, &why);
        if (secs < 0) {
            cg_err(c, "coingecko %s: days=%d should give %s candles (CoinGecko docs: 1-2 days 30m, 3-30 days 4h), "
                      "but %s: not stored", id, days, mts_interval_name(mts_coingecko_candle_seconds(days))
                      ? mts_interval_name(mts_coingecko_candle_seconds(days)) : "4-day", why ? why : "the spacing differs");
            rc = MTS_EVALID;
        }
    }
    if (!rc && out->n > 0) mts_coingecko_label_open(out, secs, (int64_t)time(NULL), id, err, rep);
    if (!rc) rep->no_volume = out->n;   /* 30m / 4h: no per-candle volume in the API */
    if (!rc && rep->no_volume)
        mts_log(MTS_LOG_WARN, "coingecko.no_volume",
                "\"asset\":\"%s\",\"bars\":%lld,\"stored_volume\":0,\"reason\":\"%s\"",
                id, (long long)rep->no_volume,
                "CoinGecko gives no volume per 30m or 4h candle (total_volumes is a rolling 24 h sum)");
    mts_free(url);
    if (rc) out->n = 0;
    return rc;
}

int mts_coingecko_fetch_prices(mts_coingecko_t *c, const char *const *ids, int n, double *prices) {
    if (!c || !ids || !prices || n < 1) return MTS_EINVAL;
    size_t ul = strlen(c->base) + 128;
    for (int i = 0; i < n; i++) {
        if (!mts_coingecko_valid_id(ids[i])) return MTS_EINVAL;
        ul += strlen(ids[i]) + 1;
    }
    char *url = mts_malloc(ul);
    if (!url) return MTS_ENOMEM;
    size_t k = (size_t)snprintf(url, ul, "%s/simple/price?ids=", c->base);
    for (int i = 0; i < n; i++) k += (size_t)snprintf(url + k, ul - k, "%s%s", i ? "," : "", ids[i]);
    snprintf(url + k, ul - k, "&vs_currencies=usd&include_last_updated_at=true");
    mts_http_response_t r;
    int rc = get(c, url, &r);
    mts_free(url);
    for (int i = 0; i < n; i++) prices[i] = NAN;
    if (!rc) {
        for (int i = 0; i < n && !rc; i++) {
            int e = mts_coingecko_parse_price(r.body, r.len, ids[i], &prices[i]);
            if (e == MTS_EPARSE) {
                cg_err(c, "coingecko: /simple/price response is not JSON");
                rc = e;
            }
        }
    }
    mts_http_response_free(&r);
    return rc;
}
