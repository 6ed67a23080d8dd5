/* remote.c — mts_opt_run_remote (research.h): a grid's points as jobs in a
 * Redis stream for `mts worker` processes, and the protocol pieces the
 * coordinator and the workers share (worker.h; docs/research.md "Workers"). */
/* error messages are cut to their buffers on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "research/worker.h"
#include "research/research.h"
#include "cache/rconn.h"
#include "market/series.h"
#include "store/colblob.h"
#include "mts.h"
#include "util/config.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- SHA-256 ---- */

static void hex(const unsigned char *md, unsigned n, char *out) {
    static const char d[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = d[md[i] >> 4];
        out[2 * i + 1] = d[md[i] & 15];
    }
    out[2 * n] = '\0';
}

void mts_remote_sha256_hex(const void *p, size_t n, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    hex(md, len, out);
}

/* An incremental hash of (len, bytes) items: no two different sequences of
 * items give the same input. */
typedef struct { EVP_MD_CTX *c; } hasher_t;

static int hasher_init(hasher_t *h) {
    h->c = EVP_MD_CTX_new();
    return h->c && EVP_DigestInit_ex(h->c, EVP_sha256(), NULL) == 1 ? 0 : MTS_ENOMEM;
}
static void hasher_item(hasher_t *h, const void *p, size_t n) {
    uint64_t len = n;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(len >> (8 * i));
    EVP_DigestUpdate(h->c, le, 8);
    if (n) EVP_DigestUpdate(h->c, p, n);
}
static void hasher_str(hasher_t *h, const char *s) { hasher_item(h, s, strlen(s)); }
static void hasher_end(hasher_t *h, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(h->c, md, &len);
    EVP_MD_CTX_free(h->c);
    h->c = NULL;
    hex(md, len, out);
}

/* ---- spec JSON ---- */

static cJSON *str_array(const char *const *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

/* A double as text that reads back to the same bits (JSON has no NaN/Inf:
 * null and +-1e999, which strtod reads as infinities). */
static void fmt_double(char *buf, size_t n, double v) {
    if (isnan(v)) snprintf(buf, n, "null");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "1e999" : "-1e999");
    else snprintf(buf, n, "%.17g", v);
}

int mts_remote_spec_json(const mts_opt_spec_t *spec, const char *dataset_hash, const char *source_hash,
                         char **json) {
    *json = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o) return MTS_ENOMEM;
    char b[64];
    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddItemToObject(o, "strategies", str_array(spec->strategies, spec->n_strategies));
    cJSON_AddItemToObject(o, "assets", str_array(spec->assets, spec->n_assets));
    cJSON_AddStringToObject(o, "interval", spec->interval ? spec->interval : "1d");
    /* int64 and doubles as text: exact whatever cJSON prints numbers as */
    snprintf(b, sizeof b, "%lld", (long long)spec->from);
    cJSON_AddStringToObject(o, "from", b);
    snprintf(b, sizeof b, "%lld", (long long)spec->to);
    cJSON_AddStringToObject(o, "to", b);
    const char *names[] = {"capital", "commission_bps", "slippage_bps", "risk_free"};
    double vals[] = {spec->capital, spec->commission_bps, spec->slippage_bps, spec->risk_free};
    for (int i = 0; i < 4; i++) {
        fmt_double(b, sizeof b, vals[i]);
        cJSON_AddStringToObject(o, names[i], b);
    }
    cJSON_AddNumberToObject(o, "trusted", spec->trusted ? 1 : 0);
    cJSON *axes = cJSON_AddArrayToObject(o, "grid");
    for (int a = 0; spec->grid && a < spec->grid->n_axes; a++) {
        cJSON *ax = cJSON_CreateObject();
        cJSON_AddStringToObject(ax, "key", spec->grid->axes[a].key);
        cJSON_AddItemToObject(ax, "values", str_array((const char *const *)spec->grid->axes[a].values,
                                                      spec->grid->axes[a].n));
        cJSON_AddItemToArray(axes, ax);
    }
    cJSON_AddStringToObject(o, "metric", spec->metric ? spec->metric : "sharpe_ratio");
    cJSON_AddStringToObject(o, "dataset", dataset_hash ? dataset_hash : "");
    cJSON_AddStringToObject(o, "sources", source_hash ? source_hash : "");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return MTS_ENOMEM;
    *json = mts_strdup(s);
    cJSON_free(s);
    return *json ? 0 : MTS_ENOMEM;
}

void mts_remote_spec_free(mts_remote_spec_t *s) {
    if (!s) return;
    for (int i = 0; s->strategies && i < s->spec.n_strategies; i++) mts_free(s->strategies[i]);
    for (int i = 0; s->assets && i < s->spec.n_assets; i++) mts_free(s->assets[i]);
    mts_free(s->strategies);
    mts_free(s->assets);
    mts_free(s->interval);
    mts_free(s->metric);
    mts_grid_free(&s->grid);
    memset(s, 0, sizeof *s);
}

static int json_strings(const cJSON *a, char ***out, int *n) {
    *n = 0;
    *out = NULL;
    if (!cJSON_IsArray(a)) return MTS_EPARSE;
    int k = cJSON_GetArraySize(a);
    if (k < 1 || k > MTS_BACKTEST_MAX_ASSETS * 4) return MTS_EPARSE;
    char **v = mts_calloc((size_t)k, sizeof *v);
    if (!v) return MTS_ENOMEM;
    *out = v;
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsString(it)) return MTS_EPARSE;
        if (!(v[*n] = mts_strdup(it->valuestring))) return MTS_ENOMEM;
        (*n)++;
    }
    return 0;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int mts_remote_spec_parse(const char *json, mts_remote_spec_t *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    cJSON *o = cJSON_Parse(json);
    if (!o) return mts_errf(err, errlen, MTS_EPARSE, "grid spec: not JSON");
    int rc = MTS_EPARSE;
    const char *what = "strategies";
    if ((rc = json_strings(cJSON_GetObjectItemCaseSensitive(o, "strategies"), &out->strategies,
                           &out->spec.n_strategies)) != 0) goto bad;
    what = "assets";
    if ((rc = json_strings(cJSON_GetObjectItemCaseSensitive(o, "assets"), &out->assets, &out->spec.n_assets)) != 0)
        goto bad;
    rc = MTS_EPARSE;
    const char *iv = jstr(o, "interval"), *metric = jstr(o, "metric"), *ds = jstr(o, "dataset"),
               *src = jstr(o, "sources"), *from = jstr(o, "from"), *to = jstr(o, "to");
    what = "interval/metric/dataset/sources/from/to";
    if (!iv || !metric || !ds || !src || !from || !to || strlen(ds) != 64 || strlen(src) != 64) goto bad;
    if (!(out->interval = mts_strdup(iv)) || !(out->metric = mts_strdup(metric))) {
        rc = MTS_ENOMEM;
        goto bad;
    }
    memcpy(out->dataset, ds, 65);
    memcpy(out->sources, src, 65);
    out->spec.from = strtoll(from, NULL, 10);
    out->spec.to = strtoll(to, NULL, 10);
    const char *names[] = {"capital", "commission_bps", "slippage_bps", "risk_free"};
    double *vals[] = {&out->spec.capital, &out->spec.commission_bps, &out->spec.slippage_bps,
                      &out->spec.risk_free};
    what = "costs";
    for (int i = 0; i < 4; i++) {
        const char *t = jstr(o, names[i]);
        if (!t) goto bad;
        *vals[i] = strcmp(t, "null") == 0 ? NAN : strtod(t, NULL);
    }
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(o, "trusted");
    out->spec.trusted = cJSON_IsNumber(tr) && tr->valuedouble != 0;
    what = "grid";
    const cJSON *axes = cJSON_GetObjectItemCaseSensitive(o, "grid"), *ax;
    if (!cJSON_IsArray(axes)) goto bad;
    cJSON_ArrayForEach(ax, axes) {
        const char *key = jstr(ax, "key");
        const cJSON *vals_j = cJSON_GetObjectItemCaseSensitive(ax, "values"), *v;
        if (!key || !cJSON_IsArray(vals_j) || out->grid.n_axes >= MTS_GRID_MAX_AXES) goto bad;
        int k = cJSON_GetArraySize(vals_j);
        if (k < 1 || k > MTS_GRID_MAX_VALUES) goto bad;
        mts_grid_axis_t *a = &out->grid.axes[out->grid.n_axes];
        if (!(a->key = mts_strdup(key)) || !(a->values = mts_calloc((size_t)k, sizeof *a->values))) {
            mts_free(a->key);
            a->key = NULL;
            rc = MTS_ENOMEM;
            goto bad;
        }
        out->grid.n_axes++;
        cJSON_ArrayForEach(v, vals_j) {
            if (!cJSON_IsString(v)) goto bad;
            if (!(a->values[a->n] = mts_strdup(v->valuestring))) {
                rc = MTS_ENOMEM;
                goto bad;
            }
            a->n++;
        }
    }
    cJSON_Delete(o);
    out->spec.strategies = (const char *const *)out->strategies;
    out->spec.assets = (const char *const *)out->assets;
    out->spec.interval = out->interval;
    out->spec.metric = out->metric;
    out->spec.grid = &out->grid;
    out->spec.store = MTS_OPT_STORE_NONE;
    return 0;
bad:
    cJSON_Delete(o);
    mts_remote_spec_free(out);
    return mts_errf(err, errlen, rc, "grid spec: bad or missing %s", what);
}

/* ---- result JSON ---- */

#define METRIC_FIELDS(X)                                                                    \
    X(initial_capital) X(final_value) X(total_return) X(annualized_return) X(sharpe_ratio) \
    X(max_drawdown) X(volatility) X(calmar_ratio) X(win_rate) X(profit_factor)             \
    X(sortino_ratio) X(exposure_time) X(avg_trade) X(expectancy) X(alpha) X(beta)

int mts_remote_result_json(const mts_opt_result_t *r, int rc, const char *error, char **json) {
    size_t cap = 1024 + (error ? 2 * strlen(error) + 16 : 0);
    char *s = mts_malloc(cap), b[64];
    if (!s) return MTS_ENOMEM;
    size_t o = 0;
    o += (size_t)snprintf(s + o, cap - o, "{\"index\":%lld,\"strategy\":%d", (long long)r->index, r->strategy);
    if (rc != 0) {
        o += (size_t)snprintf(s + o, cap - o, ",\"rc\":%d,\"error\":", rc);
        cJSON *e = cJSON_CreateString(error ? error : "");
        char *t = e ? cJSON_PrintUnformatted(e) : NULL;
        o += (size_t)snprintf(s + o, cap - o, "%s}", t ? t : "\"\"");
        if (t) cJSON_free(t);
        cJSON_Delete(e);
        *json = s;
        return 0;
    }
#define PUT(f)                                                   \
    fmt_double(b, sizeof b, r->m.f);                             \
    o += (size_t)snprintf(s + o, cap - o, ",\"" #f "\":%s", b);
    METRIC_FIELDS(PUT)
#undef PUT
    o += (size_t)snprintf(s + o, cap - o, ",\"trade_count\":%lld,\"longest_losing_streak\":%lld,\"n_periods\":%lld,\"period_s\":%lld,\"disabled\":%d}",
                          (long long)r->m.trade_count, (long long)r->m.longest_losing_streak,
                          (long long)r->m.n_periods, (long long)r->m.period_s,
                          r->disabled ? 1 : 0);
    *json = s;
    return 0;
}

static int get_double(const cJSON *o, const char *k, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNull(v)) *out = NAN;
    else if (cJSON_IsNumber(v)) *out = v->valuedouble;
    else return -1;
    return 0;
}

int mts_remote_result_parse(const char *json, mts_opt_result_t *r, int *rc, char *error, size_t errorlen) {
    memset(r, 0, sizeof *r);
    *rc = 0;
    if (error && errorlen) error[0] = '\0';
    cJSON *o = cJSON_Parse(json);
    if (!o) return MTS_EPARSE;
    int ret = MTS_EPARSE;
    double d;
    if (get_double(o, "index", &d)) goto out;
    r->index = (int64_t)d;
    if (get_double(o, "strategy", &d)) goto out;
    r->strategy = (int)d;
    if (get_double(o, "rc", &d) == 0) {
        *rc = (int)d;
        const char *e = jstr(o, "error");
        if (error && errorlen) snprintf(error, errorlen, "%s", e ? e : "failed");
        ret = 0;
        goto out;
    }
#define GET(f) \
    if (get_double(o, #f, &r->m.f)) goto out;
    METRIC_FIELDS(GET)
#undef GET
    if (get_double(o, "trade_count", &d)) goto out;
    r->m.trade_count = (int64_t)d;
    if (get_double(o, "longest_losing_streak", &d)) goto out;
    r->m.longest_losing_streak = (int64_t)d;
    if (get_double(o, "n_periods", &d)) goto out;
    r->m.n_periods = (int64_t)d;
    if (get_double(o, "period_s", &d)) goto out;
    r->m.period_s = (int64_t)d;
    if (get_double(o, "disabled", &d)) goto out;
    r->disabled = d != 0;
    ret = 0;
out:
    cJSON_Delete(o);
    return ret;
}

/* ---- dataset ---- */

void mts_remote_dataset_free(mts_remote_dataset_t *ds) {
    if (!ds) return;
    for (int a = 0; a < MTS_BACKTEST_MAX_ASSETS; a++) {
        mts_free(ds->assets[a]);
        mts_bars_free(&ds->bars[a]);
    }
    for (int a = 0; a <= MTS_BACKTEST_MAX_ASSETS; a++) mts_free(ds->blob[a]);
    mts_series_free(&ds->vix);
    mts_free(ds->interval);
    memset(ds, 0, sizeof *ds);
}

static int encode_blob(const int64_t *ts, const double *const *cols, int k, int64_t n, uint8_t **blob,
                       size_t *len) {
    size_t cap = mts_colblob_bound(n, k);
    *blob = mts_malloc(cap ? cap : 1);
    if (!*blob) return MTS_ENOMEM;
    return mts_colblob_encode(ts, cols, k, n, *blob, cap, len);
}

/* The blobs and the hash from ds's bars and VIX. */
static int dataset_seal(mts_remote_dataset_t *ds) {
    int rc;
    for (int a = 0; a < ds->n_assets; a++) {
        const mts_bars_t *b = &ds->bars[a];
        const double *cols[5] = {b->open, b->high, b->low, b->close, b->volume};
        if ((rc = encode_blob(b->ts, cols, 5, b->n, &ds->blob[a], &ds->blob_len[a])) != 0) return rc;
    }
    const double *vc[1] = {ds->vix.v};
    if ((rc = encode_blob(ds->vix.ts, vc, 1, ds->vix.n, &ds->blob[ds->n_assets], &ds->blob_len[ds->n_assets])) != 0)
        return rc;
    hasher_t h;
    if ((rc = hasher_init(&h)) != 0) return rc;
    hasher_str(&h, "mts-dataset-1");
    hasher_str(&h, ds->interval);
    for (int a = 0; a < ds->n_assets; a++) {
        hasher_str(&h, ds->assets[a]);
        hasher_item(&h, ds->blob[a], ds->blob_len[a]);
    }
    hasher_str(&h, "VIX");
    hasher_item(&h, ds->blob[ds->n_assets], ds->blob_len[ds->n_assets]);
    hasher_end(&h, ds->hash);
    return 0;
}

int mts_remote_dataset_load(mts_store_t *store, const mts_opt_spec_t *spec, mts_remote_dataset_t *ds,
                            char *err, size_t errlen) {
    memset(ds, 0, sizeof *ds);
    const char *root = spec->root ? spec->root : mts_root();
    const char *iv = spec->interval ? spec->interval : "1d";
    const char *db = spec->db_label ? spec->db_label : "the database";
    if (spec->n_assets < 1 || spec->n_assets > MTS_BACKTEST_MAX_ASSETS)
        return mts_errf(err, errlen, MTS_EINVAL, "a grid needs 1 to %d assets", MTS_BACKTEST_MAX_ASSETS);
    int rc = MTS_ENOMEM;
    if (!(ds->interval = mts_strdup(iv))) goto nomem;
    for (int a = 0; a < spec->n_assets; a++) {
        if (!(ds->assets[a] = mts_strdup(spec->assets[a]))) goto nomem;
        ds->n_assets = a + 1;
        rc = mts_series_ensure(store, root, spec->assets[a], iv);
        if (rc != 0) {
            mts_errf(err, errlen, rc, "%s: no %s bars for %s (%s)", db, iv, spec->assets[a], mts_store_errmsg(store));
            goto error;
        }
        mts_series_info_t info;
        rc = mts_series_load_bars(store, spec->assets[a], iv, spec->from, spec->to, &ds->bars[a], &info);
        if (rc != 0) {
            mts_errf(err, errlen, rc, "loading %s %s bars from %s: %s", spec->assets[a], iv, db, info.error);
            goto error;
        }
        if (ds->bars[a].n == 0) {
            rc = mts_errf(err, errlen, MTS_ENOTFOUND, "no %s bars for %s in the requested range in %s", iv,
                      spec->assets[a], db);
            goto error;
        }
    }
    /* VIX as mts_backtest_data_load loads it: all history up to the range's end */
    if (!(mts_store_ensure_macro(store, root, "VIX") == 0 &&
          mts_store_load_macro(store, "VIX", INT64_MIN, spec->to, &ds->vix) == 0))
        ds->vix.n = 0;
    if ((rc = dataset_seal(ds)) != 0) goto error;
    return 0;
nomem:
    rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
error:
    mts_remote_dataset_free(ds);
    return rc;
}

int mts_remote_dataset_publish(mts_rconn_t *r, const mts_remote_dataset_t *ds, char *err, size_t errlen) {
    char key[128];
    snprintf(key, sizeof key, "mts:dataset:%s", ds->hash);
    redisReply *rep = mts_rconn_command(r, "dataset exists", "EXISTS %s", key);
    if (!rep) return mts_errf(err, errlen, MTS_ECACHE, "Redis: %s", r->err);
    int exists = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    if (exists) return 0;
    /* under a temporary key, renamed when whole: a reader never sees half */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s:tmp:%lld", key, (long long)mts_rconn_seconds());
    cJSON *mo = cJSON_CreateObject();
    cJSON_AddStringToObject(mo, "interval", ds->interval);
    cJSON_AddItemToObject(mo, "assets", str_array((const char *const *)ds->assets, ds->n_assets));
    char *meta = cJSON_PrintUnformatted(mo);
    cJSON_Delete(mo);
    if (!meta) return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
    rep = mts_rconn_command(r, "dataset publish", "HSET %s meta %s", tmp, meta);
    cJSON_free(meta);
    for (int a = 0; rep && a <= ds->n_assets; a++) {
        if (rep->type == REDIS_REPLY_ERROR) break;
        freeReplyObject(rep);
        char field[300];
        if (a < ds->n_assets) snprintf(field, sizeof field, "bars:%s", ds->assets[a]);
        else snprintf(field, sizeof field, "vix");
        rep = mts_rconn_command(r, "dataset publish", "HSET %s %s %b", tmp, field, ds->blob[a], ds->blob_len[a]);
    }
    if (rep && rep->type != REDIS_REPLY_ERROR) {
        freeReplyObject(rep);
        rep = mts_rconn_command(r, "dataset publish", "RENAME %s %s", tmp, key);
    }
    if (!rep) return mts_errf(err, errlen, MTS_ECACHE, "Redis: publishing the dataset: %s", r->err);
    int bad = rep->type == REDIS_REPLY_ERROR;
    if (bad) mts_errf(err, errlen, MTS_ECACHE, "Redis: publishing the dataset: %s", rep->str);
    freeReplyObject(rep);
    return bad ? MTS_ECACHE : 0;
}

static int decode_bars(const uint8_t *blob, size_t len, mts_bars_t *b) {
    mts_colblob_info_t info;
    int rc = mts_colblob_info(blob, len, &info);
    if (rc != 0 || info.k != 5) return MTS_EPARSE;
    if ((rc = mts_bars_reserve(b, info.n > 0 ? info.n : 1)) != 0) return rc;
    double *const cols[5] = {b->open, b->high, b->low, b->close, b->volume};
    if ((rc = mts_colblob_decode(blob, len, 0, info.n, b->ts, cols, 5)) != 0) return rc;
    b->n = info.n;
    return 0;
}

static int decode_series(const uint8_t *blob, size_t len, mts_series_t *s) {
    mts_colblob_info_t info;
    int rc = mts_colblob_info(blob, len, &info);
    if (rc != 0 || info.k != 1) return MTS_EPARSE;
    if ((rc = mts_series_reserve(s, info.n > 0 ? info.n : 1)) != 0) return rc;
    double *const cols[1] = {s->v};
    if ((rc = mts_colblob_decode(blob, len, 0, info.n, s->ts, cols, 1)) != 0) return rc;
    s->n = info.n;
    return 0;
}

int mts_remote_dataset_fetch(mts_rconn_t *r, const char *hash, mts_remote_dataset_t *ds, char *err, size_t errlen) {
    memset(ds, 0, sizeof *ds);
    char key[128];
    snprintf(key, sizeof key, "mts:dataset:%s", hash);
    redisReply *rep = mts_rconn_command(r, "dataset fetch", "HGETALL %s", key);
    if (!rep) return mts_errf(err, errlen, MTS_ECACHE, "Redis: fetching dataset %.12s: %s", hash, r->err);
    int rc = MTS_EPARSE;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
        rc = mts_errf(err, errlen, MTS_ENOTFOUND, "dataset %.12s is not in Redis (%s): the coordinator publishes it "
                  "before it enqueues jobs", hash, key);
        goto out;
    }
    /* meta: the interval and the assets in their order */
    const redisReply *meta = NULL, *vix = NULL;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        if (strcmp(rep->element[i]->str, "meta") == 0) meta = rep->element[i + 1];
        if (strcmp(rep->element[i]->str, "vix") == 0) vix = rep->element[i + 1];
    }
    cJSON *m = meta ? cJSON_Parse(meta->str) : NULL;
    const char *iv = m ? jstr(m, "interval") : NULL;
    char **names = NULL;
    int nn = 0;
    if (!iv || !vix || json_strings(cJSON_GetObjectItemCaseSensitive(m, "assets"), &names, &nn) != 0 ||
        nn > MTS_BACKTEST_MAX_ASSETS || !(ds->interval = mts_strdup(iv))) {
        for (int i = 0; names && i < nn; i++) mts_free(names[i]);
        mts_free(names);
        cJSON_Delete(m);
        goto bad;
    }
    cJSON_Delete(m);
    for (int a = 0; a < nn; a++) ds->assets[a] = names[a];
    mts_free(names);
    ds->n_assets = nn;
    for (int a = 0; a < nn; a++) {
        const redisReply *v = NULL;
        for (size_t i = 0; i + 1 < rep->elements; i += 2)
            if (strncmp(rep->element[i]->str, "bars:", 5) == 0 && strcmp(rep->element[i]->str + 5, ds->assets[a]) == 0)
                v = rep->element[i + 1];
        if (!v || decode_bars((const uint8_t *)v->str, v->len, &ds->bars[a]) != 0) goto bad;
    }
    if (decode_series((const uint8_t *)vix->str, vix->len, &ds->vix) != 0) goto bad;
    freeReplyObject(rep);
    rep = NULL;
    if ((rc = dataset_seal(ds)) != 0) {
        mts_errf(err, errlen, rc, "out of memory");
        goto out;
    }
    if (strcmp(ds->hash, hash) != 0) {
        rc = mts_errf(err, errlen, MTS_EVALID, "dataset %.12s in Redis does not match its hash (damaged)", hash);
        goto out;
    }
    return 0;
bad:
    rc = mts_errf(err, errlen, MTS_EPARSE, "dataset %.12s in Redis is damaged", hash);
out:
    if (rep) freeReplyObject(rep);
    mts_remote_dataset_free(ds);
    return rc;
}

static int bars_equal(const mts_bars_t *x, const mts_bars_t *y) {
    if (x->n != y->n) return 0;
    size_t n = (size_t)x->n;
    return n == 0 || (memcmp(x->ts, y->ts, n * 8) == 0 && memcmp(x->open, y->open, n * 8) == 0 &&
                      memcmp(x->high, y->high, n * 8) == 0 && memcmp(x->low, y->low, n * 8) == 0 &&
                      memcmp(x->close, y->close, n * 8) == 0 && memcmp(x->volume, y->volume, n * 8) == 0);
}

static int series_equal(const mts_series_t *x, const mts_series_t *y) {
    size_t n = (size_t)x->n;
    return x->n == y->n && (n == 0 || (memcmp(x->ts, y->ts, n * 8) == 0 && memcmp(x->v, y->v, n * 8) == 0));
}

int mts_remote_dataset_import(mts_store_t *store, const char *db_label, const mts_opt_spec_t *spec,
                              const mts_remote_dataset_t *ds, char *err, size_t errlen) {
    const char *db = db_label ? db_label : "the worker's database";
    const char *iv = ds->interval;
    int rc = 0;
    int need[MTS_BACKTEST_MAX_ASSETS] = {0};
    mts_bars_t local;
    memset(&local, 0, sizeof local);
    /* check everything before writing anything */
    for (int a = 0; a < ds->n_assets; a++) {
        mts_series_info_t info;
        int lr = mts_series_load_bars(store, ds->assets[a], iv, spec->from, spec->to, &local, &info);
        if (lr == MTS_ENOTFOUND || (lr == 0 && local.n == 0)) need[a] = 1;
        else if (lr != 0) {
            rc = mts_errf(err, errlen, lr, "%s: reading %s %s bars: %s", db, ds->assets[a], iv, info.error);
            goto out;
        } else if (!bars_equal(&local, &ds->bars[a])) {
            rc = mts_errf(err, errlen, MTS_EVALID,
                      "%s already has %s %s bars in the grid's range that differ from the coordinator's (%lld "
                      "local, %lld shipped): not overwriting them; give the worker another --db",
                      db, ds->assets[a], iv, (long long)local.n, (long long)ds->bars[a].n);
            goto out;
        }
    }
    mts_series_t lv;
    memset(&lv, 0, sizeof lv);
    int need_vix = 0;
    if (ds->vix.n == 0 && mts_store_load_macro(store, "VIX", INT64_MIN, spec->to, &lv) == 0 && lv.n > 0) {
        /* the runs would see this VIX where the coordinator's saw none */
        rc = mts_errf(err, errlen, MTS_EVALID,
                  "%s has VIX values up to the grid's end and the coordinator's database has none: "
                  "give the worker another --db", db);
        mts_series_free(&lv);
        goto out;
    }
    if (ds->vix.n > 0) {
        if (mts_store_load_macro(store, "VIX", INT64_MIN, spec->to, &lv) != 0 || lv.n == 0) need_vix = 1;
        else if (!series_equal(&lv, &ds->vix)) {
            rc = mts_errf(err, errlen, MTS_EVALID,
                      "%s already has VIX values that differ from the coordinator's (%lld local, %lld shipped): "
                      "not overwriting them; give the worker another --db",
                      db, (long long)lv.n, (long long)ds->vix.n);
            mts_series_free(&lv);
            goto out;
        }
    }
    mts_series_free(&lv);
    for (int a = 0; a < ds->n_assets; a++)
        if (need[a] && (rc = mts_store_upsert_ohlcv(store, ds->assets[a], iv, &ds->bars[a])) != 0) {
            mts_errf(err, errlen, rc, "%s: importing %s %s bars: %s", db, ds->assets[a], iv, mts_store_errmsg(store));
            goto out;
        }
    if (need_vix && (rc = mts_store_upsert_macro(store, "VIX", ds->vix.ts, ds->vix.v, NULL, ds->vix.n)) != 0) {
        mts_errf(err, errlen, rc, "%s: importing VIX: %s", db, mts_store_errmsg(store));
        goto out;
    }
    /* what the runs will read must now be exactly what was shipped */
    for (int a = 0; a < ds->n_assets; a++) {
        mts_series_info_t info;
        if (mts_series_load_bars(store, ds->assets[a], iv, spec->from, spec->to, &local, &info) != 0 ||
            !bars_equal(&local, &ds->bars[a])) {
            rc = mts_errf(err, errlen, MTS_EVALID,
                      "%s: %s %s bars read back after the import differ from the coordinator's (the database "
                      "has other bars of that asset): give the worker another --db",
                      db, ds->assets[a], iv);
            goto out;
        }
    }
out:
    mts_bars_free(&local);
    return rc;
}

/* ---- sources ---- */

void mts_remote_sources_free(mts_remote_sources_t *src) {
    if (!src) return;
    for (int i = 0; i < src->n; i++) {
        mts_free(src->path[i]);
        mts_free(src->data[i]);
    }
    mts_free(src->path);
    mts_free(src->data);
    mts_free(src->len);
    memset(src, 0, sizeof *src);
}

static int src_add(mts_remote_sources_t *src, const char *path, char *data, size_t len) {
    for (int i = 0; i < src->n; i++)
        if (strcmp(src->path[i], path) == 0) {
            mts_free(data);
            return 0;
        }
    int n = src->n + 1;
    char **p = mts_realloc(src->path, (size_t)n * sizeof *p);
    if (!p) return MTS_ENOMEM;
    src->path = p;
    char **d = mts_realloc(src->data, (size_t)n * sizeof *d);
    if (!d) return MTS_ENOMEM;
    src->data = d;
    size_t *l = mts_realloc(src->len, (size_t)n * sizeof *l);
    if (!l) return MTS_ENOMEM;
    src->len = l;
    if (!(src->path[src->n] = mts_strdup(path))) return MTS_ENOMEM;
    src->data[src->n] = data;
    src->len[src->n] = len;
    src->n = n;
    return 0;
}

/* Reads root/rel whole. 0, MTS_ENOTFOUND, MTS_EIO. */
static int read_whole(const char *root, const char *rel, char **data, size_t *len) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "rb");
    if (!f) return errno == ENOENT ? MTS_ENOTFOUND : MTS_EIO;
    size_t cap = 8192, n = 0;
    char *b = mts_malloc(cap);
    while (b) {
        if (n == cap) {
            char *nb = mts_realloc(b, cap * 2);
            if (!nb) {
                mts_free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b) return MTS_ENOMEM;
    if (bad) {
        mts_free(b);
        return MTS_EIO;
    }
    *data = b;
    *len = n;
    return 0;
}

static int add_file(mts_remote_sources_t *src, const char *root, const char *rel, int required, char *err,
                    size_t errlen) {
    char *data = NULL;
    size_t len = 0;
    int rc = read_whole(root, rel, &data, &len);
    if (rc == MTS_ENOTFOUND && !required) return 0;
    if (rc) return mts_errf(err, errlen, rc, "strategy sources: cannot read %s/%s", root, rel);
    if ((rc = src_add(src, rel, data, len)) != 0) {
        mts_free(data);
        return mts_errf(err, errlen, rc, "out of memory");
    }
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int sources_seal(mts_remote_sources_t *src) {
    /* sort by path (three arrays: sort an index) */
    for (int i = 1; i < src->n; i++)
        for (int k = i; k > 0 && strcmp(src->path[k - 1], src->path[k]) > 0; k--) {
            char *t = src->path[k]; src->path[k] = src->path[k - 1]; src->path[k - 1] = t;
            t = src->data[k]; src->data[k] = src->data[k - 1]; src->data[k - 1] = t;
            size_t l = src->len[k]; src->len[k] = src->len[k - 1]; src->len[k - 1] = l;
        }
    hasher_t h;
    int rc = hasher_init(&h);
    if (rc) return rc;
    hasher_str(&h, "mts-sources-1");
    for (int i = 0; i < src->n; i++) {
        hasher_str(&h, src->path[i]);
        hasher_item(&h, src->data[i], src->len[i]);
    }
    hasher_end(&h, src->hash);
    return 0;
}

int mts_remote_sources_load(const char *root, const char *const *strategies, int n_strategies,
                            mts_remote_sources_t *src, char *err, size_t errlen) {
    memset(src, 0, sizeof *src);
    if (!root) root = mts_root();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/scripts/lib", root);
    DIR *d = opendir(dir);
    if (!d) return mts_errf(err, errlen, MTS_ENOTFOUND, "strategy sources: no directory %s", dir);
    char *names[512];
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nn < 512) {
        size_t l = strlen(e->d_name);
        /* the .lua files; not mts_ffi.h: that is the binary's ABI, each worker
         * uses its own install's */
        if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".lua") != 0) continue;
        names[nn++] = mts_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, cmp_str);
    int rc = 0;
    char rel[1024];
    for (int i = 0; i < nn; i++) {
        if (!rc && names[i]) {
            snprintf(rel, sizeof rel, "scripts/lib/%s", names[i]);
            rc = add_file(src, root, rel, 1, err, errlen);
        } else if (!names[i] && !rc) rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
        mts_free(names[i]);
    }
    for (int s = 0; !rc && s < n_strategies; s++) {
        snprintf(rel, sizeof rel, "scripts/strategies/%s.lua", strategies[s]);
        if ((rc = add_file(src, root, rel, 1, err, errlen)) != 0) break;
        snprintf(rel, sizeof rel, "config/strategies/%s.json", strategies[s]);
        rc = add_file(src, root, rel, 0, err, errlen);
    }
    if (!rc) rc = add_file(src, root, "config/mts.json", 0, err, errlen);
    if (!rc && (rc = sources_seal(src)) != 0) mts_errf(err, errlen, rc, "out of memory");
    if (rc) mts_remote_sources_free(src);
    return rc;
}

int mts_remote_sources_publish(mts_rconn_t *r, const mts_remote_sources_t *src, char *err, size_t errlen) {
    char key[128], tmp[160];
    snprintf(key, sizeof key, "mts:source:%s", src->hash);
    redisReply *rep = mts_rconn_command(r, "sources exist", "EXISTS %s", key);
    if (!rep) return mts_errf(err, errlen, MTS_ECACHE, "Redis: %s", r->err);
    int exists = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    if (exists) return 0;
    snprintf(tmp, sizeof tmp, "%s:tmp:%lld", key, (long long)mts_rconn_seconds());
    rep = NULL;
    for (int i = 0; i < src->n; i++) {
        if (rep) freeReplyObject(rep);
        rep = mts_rconn_command(r, "sources publish", "HSET %s %s %b", tmp, src->path[i], src->data[i], src->len[i]);
        if (!rep || rep->type == REDIS_REPLY_ERROR) break;
    }
    if (rep && rep->type != REDIS_REPLY_ERROR) {
        freeReplyObject(rep);
        rep = mts_rconn_command(r, "sources publish", "RENAME %s %s", tmp, key);
    }
    if (!rep) return mts_errf(err, errlen, MTS_ECACHE, "Redis: publishing the strategy sources: %s", r->err);
    int bad = rep->type == REDIS_REPLY_ERROR;
    if (bad) mts_errf(err, errlen, MTS_ECACHE, "Redis: publishing the strategy sources: %s", rep->str);
    freeReplyObject(rep);
    return bad ? MTS_ECACHE : 0;
}

int mts_remote_sources_fetch(mts_rconn_t *r, const char *hash, mts_remote_sources_t *src, char *err,
                             size_t errlen) {
    memset(src, 0, sizeof *src);
    char key[128];
    snprintf(key, sizeof key, "mts:source:%s", hash);
    redisReply *rep = mts_rconn_command(r, "sources fetch", "HGETALL %s", key);
    if (!rep) return mts_errf(err, errlen, MTS_ECACHE, "Redis: fetching sources %.12s: %s", hash, r->err);
    int rc = 0;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
        rc = mts_errf(err, errlen, MTS_ENOTFOUND, "strategy sources %.12s are not in Redis (%s)", hash, key);
        goto out;
    }
    for (size_t i = 0; !rc && i + 1 < rep->elements; i += 2) {
        const redisReply *f = rep->element[i], *v = rep->element[i + 1];
        /* relative paths under scripts/ or config/ only: never outside the root */
        if ((strncmp(f->str, "scripts/", 8) != 0 && strncmp(f->str, "config/", 7) != 0) || strstr(f->str, "..")) {
            rc = mts_errf(err, errlen, MTS_EVALID, "strategy sources %.12s: refusing path '%s'", hash, f->str);
            break;
        }
        char *data = mts_malloc(v->len + 1);
        if (!data) {
            rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
            break;
        }
        memcpy(data, v->str, v->len);
        data[v->len] = '\0';
        if ((rc = src_add(src, f->str, data, v->len)) != 0) {
            mts_free(data);
            mts_errf(err, errlen, rc, "out of memory");
        }
    }
    if (!rc && (rc = sources_seal(src)) != 0) mts_errf(err, errlen, rc, "out of memory");
    if (!rc && strcmp(src->hash, hash) != 0)
        rc = mts_errf(err, errlen, MTS_EVALID, "strategy sources %.12s in Redis do not match their hash", hash);
out:
    freeReplyObject(rep);
    if (rc) mts_remote_sources_free(src);
    return rc;
}

static int mkdirs(char *p) {
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            int bad = mkdir(p, 0755) != 0 && errno != EEXIST;
            *s = '/';
            if (bad) return -1;
        }
    return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int mts_remote_sources_write(const mts_remote_sources_t *src, const char *dir, char *err, size_t errlen) {
    char p[4096];
    for (int i = 0; i < src->n; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, src->path[i]);
        char *slash = strrchr(p, '/');
        *slash = '\0';
        if (mkdirs(p) != 0) return mts_errf(err, errlen, MTS_EIO, "cannot create %s: %s", p, strerror(errno));
        *slash = '/';
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", p);
        FILE *f = fopen(tmp, "wb");
        if (!f) return mts_errf(err, errlen, MTS_EIO, "cannot write %s: %s", tmp, strerror(errno));
        size_t w = fwrite(src->data[i], 1, src->len[i], f);
        if (fclose(f) != 0 || w != src->len[i] || rename(tmp, p) != 0)
            return mts_errf(err, errlen, MTS_EIO, "cannot write %s: %s", p, strerror(errno));
    }
    return 0;
}

/* ---- the coordinator ---- */

/* Enqueues points lo..n-1 not yet enqueued, atomically with the marker: the
 * script reads the marker, XADDs the next batch and moves the marker, so no
 * point is enqueued twice even by two coordinators. Returns the marker. */
static const char ENQUEUE_LUA[] =
    "local lo = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "local hi = math.min(lo + tonumber(ARGV[3]), tonumber(ARGV[2]))\n"
    "for i = lo, hi - 1 do redis.call('XADD', KEYS[1], '*', 'grid', ARGV[1], 'index', tostring(i)) end\n"
    "redis.call('SET', KEYS[2], tostring(hi))\n"
    "return hi\n";

static int reply_err(mts_rconn_t *r, redisReply *rep, const char *what, char *err, size_t errlen) {
    if (!rep) return mts_errf(err, errlen, MTS_ECACHE, "Redis %s: %s", what, r->err);
    int rc = 0;
    if (rep->type == REDIS_REPLY_ERROR) rc = mts_errf(err, errlen, MTS_ECACHE, "Redis %s: %s", what, rep->str);
    freeReplyObject(rep);
    return rc;
}

static int64_t get_int(mts_rconn_t *r, const char *what, int64_t dflt, const char *fmt, const char *key, int *rc,
                       char *err, size_t errlen) {
    redisReply *rep = mts_rconn_command(r, what, fmt, key);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        *rc = reply_err(r, rep, what, err, errlen);
        return dflt;
    }
    int64_t v = dflt;
    if (rep->type == REDIS_REPLY_INTEGER) v = rep->integer;
    else if (rep->type == REDIS_REPLY_STRING) v = strtoll(rep->str, NULL, 10);
    freeReplyObject(rep);
    return v;
}

int mts_opt_run_remote(const char *redis_url, const char *db_path, const mts_opt_spec_t *spec, int resume,
                       mts_opt_progress_fn progress, void *progress_ctx, const volatile sig_atomic_t *cancel,
                       mts_opt_result_t **results, int64_t *n, char *err, size_t errlen) {
    *results = NULL;
    *n = 0;
    mts_opt_point_t *points = NULL;
    int64_t np = 0;
    mts_store_t *store = NULL;
    mts_remote_dataset_t ds;
    mts_remote_sources_t src;
    memset(&ds, 0, sizeof ds);
    memset(&src, 0, sizeof src);
    char *spec_json = NULL;
    mts_opt_result_t *res = NULL;
    mts_rconn_t r;
    memset(&r, 0, sizeof r);
    int rc = mts_opt_points(spec, &points, &np, err, errlen);
    if (rc) return rc;
    if ((rc = mts_store_open(db_path, &store)) != 0) {
        mts_errf(err, errlen, rc, "%s: %s", db_path, mts_store_errmsg(NULL));
        goto out;
    }
    if ((rc = mts_remote_dataset_load(store, spec, &ds, err, errlen)) != 0) goto out;
    if ((rc = mts_remote_sources_load(spec->root, spec->strategies, spec->n_strategies, &src, err, errlen)) != 0)
        goto out;
    if ((rc = mts_remote_spec_json(spec, ds.hash, src.hash, &spec_json)) != 0) {
        mts_errf(err, errlen, rc, "out of memory");
        goto out;
    }
    char grid[65];
    mts_remote_sha256_hex(spec_json, strlen(spec_json), grid);
    if ((rc = mts_rconn_init(&r, redis_url, 10000, "research")) != 0) {
        mts_errf(err, errlen, rc, "%s", r.err);
        goto out;
    }
    if ((rc = mts_rconn_ensure(&r, 1)) != 0) {
        mts_errf(err, errlen, rc, "Redis: %s", r.err);
        goto out;
    }
    char k_spec[128], k_enq[128], k_res[128];
    snprintf(k_spec, sizeof k_spec, "mts:research:%s:spec", grid);
    snprintf(k_enq, sizeof k_enq, "mts:research:%s:enqueued", grid);
    snprintf(k_res, sizeof k_res, "mts:research:%s:results", grid);
    if (!resume) {
        /* anew: forget an earlier attempt of the same grid (a stale job of it
         * still in the stream only writes the same result again: HSETNX) */
        if ((rc = reply_err(&r, mts_rconn_command(&r, "start", "DEL %s %s", k_enq, k_res), "start", err, errlen)))
            goto out;
    } else {
        int64_t have = get_int(&r, "resume", -1, "EXISTS %s", k_spec, &rc, err, errlen);
        if (rc) goto out;
        if (have != 1) {
            rc = mts_errf(err, errlen, MTS_ENOTFOUND,
                      "--resume: no grid %.12s in Redis (this spec over these bars and sources was never "
                      "started there, or it expired); run without --resume to start it",
                      grid);
            goto out;
        }
    }
    if ((rc = mts_remote_dataset_publish(&r, &ds, err, errlen)) != 0) goto out;
    if ((rc = mts_remote_sources_publish(&r, &src, err, errlen)) != 0) goto out;
    if ((rc = reply_err(&r, mts_rconn_command(&r, "spec", "SET %s %s", k_spec, spec_json), "spec", err, errlen)))
        goto out;
    redisReply *g = mts_rconn_command(&r, "group", "XGROUP CREATE %s %s 0 MKSTREAM", MTS_RQ_STREAM, MTS_RQ_GROUP);
    if (g && g->type == REDIS_REPLY_ERROR && strncmp(g->str, "BUSYGROUP", 9) == 0) {
        freeReplyObject(g);
        g = NULL;
    } else if ((rc = reply_err(&r, g, "XGROUP CREATE", err, errlen)))
        goto out;
    char nbuf[32];
    snprintf(nbuf, sizeof nbuf, "%lld", (long long)np);
    for (;;) {
        redisReply *e = mts_rconn_command(&r, "enqueue", "EVAL %s 2 %s %s %s %s %s", ENQUEUE_LUA, MTS_RQ_STREAM,
                                          k_enq, grid, nbuf, "512");
        if (!e || e->type != REDIS_REPLY_INTEGER) {
            rc = reply_err(&r, e, "enqueue", err, errlen);
            if (!rc) rc = mts_errf(err, errlen, MTS_ECACHE, "Redis enqueue: unexpected reply");
            goto out;
        }
        int64_t done = e->integer;
        freeReplyObject(e);
        if (done >= np) break;
        if (cancel && *cancel) {
            rc = mts_errf(err, errlen, MTS_ECANCELED, "cancelled; continue with --resume");
            goto out;
        }
    }
    /* progress: the results written by all workers */
    int64_t last = -1;
    for (;;) {
        int64_t done = get_int(&r, "progress", 0, "HLEN %s", k_res, &rc, err, errlen);
        if (rc) {
            /* Redis away for a moment: keep waiting (rconn reconnects) */
            rc = 0;
            struct timespec ts = {0, 500 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (done != last) {
            if (progress) progress(progress_ctx, done, np);
            last = done;
        }
        if (done >= np) break;
        if (cancel && *cancel) {
            rc = mts_errf(err, errlen, MTS_ECANCELED, "cancelled with %lld of %lld points done; the workers go on: "
                      "continue with --resume", (long long)done, (long long)np);
            goto out;
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* gather in point order */
    if (!(res = mts_calloc((size_t)(np > 0 ? np : 1), sizeof *res))) {
        rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
        goto out;
    }
    int first_rc = 0;
    for (int64_t lo = 0; lo < np; lo += 1000) {
        int64_t hi = lo + 1000 < np ? lo + 1000 : np;
        int argc = (int)(hi - lo) + 2;
        const char **argv = mts_malloc((size_t)argc * sizeof *argv);
        size_t *argl = mts_malloc((size_t)argc * sizeof *argl);
        char *nums = mts_malloc((size_t)(hi - lo) * 24);
        if (!argv || !argl || !nums) {
            mts_free(argv); mts_free(argl); mts_free(nums);
            rc = mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
            goto out;
        }
        argv[0] = "HMGET";
        argv[1] = k_res;
        for (int64_t i = lo; i < hi; i++) {
            char *s = nums + (i - lo) * 24;
            snprintf(s, 24, "%lld", (long long)i);
            argv[i - lo + 2] = s;
        }
        for (int i = 0; i < argc; i++) argl[i] = strlen(argv[i]);
        redisReply *rep = NULL;
        if (mts_rconn_ensure(&r, 1) == 0) rep = redisCommandArgv(r.ctx, argc, argv, argl);
        mts_free(argv); mts_free(argl); mts_free(nums);
        if (!rep) {
            rc = mts_errf(err, errlen, MTS_ECACHE, "Redis: gathering results: %s", r.ctx ? r.ctx->errstr : r.err);
            goto out;
        }
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)(hi - lo)) {
            rc = reply_err(&r, rep, "HMGET", err, errlen);
            if (!rc) rc = mts_errf(err, errlen, MTS_ECACHE, "Redis: gathering results: unexpected reply");
            goto out;
        }
        for (int64_t i = lo; i < hi; i++) {
            const redisReply *e = rep->element[i - lo];
            int prc = 0;
            char perr[256];
            if (e->type != REDIS_REPLY_STRING ||
                mts_remote_result_parse(e->str, &res[i], &prc, perr, sizeof perr) != 0 || res[i].index != i) {
                freeReplyObject(rep);
                rc = mts_errf(err, errlen, MTS_EPARSE, "result %lld of grid %.12s is missing or damaged in Redis",
                          (long long)i, grid);
                goto out;
            }
            if (prc && !first_rc) {
                char pt[512];
                mts_opt_point_text(spec, &points[i], pt, sizeof pt);
                first_rc = prc;
                mts_errf(err, errlen, prc, "%s %s: %s", spec->strategies[points[i].strategy], pt, perr);
            }
            res[i].metric = mts_opt_metric_of(&res[i].m, spec->metric ? spec->metric : "sharpe_ratio");
        }
        freeReplyObject(rep);
    }
    if (first_rc) {
        rc = first_rc;
        goto out;
    }
    /* the grid's keys stay a week: a run of the same spec with --resume
     * finds the results at once */
    const char *keep[] = {k_spec, k_enq, k_res};
    for (int i = 0; i < 3; i++) {
        redisReply *x = mts_rconn_command(&r, "expire", "EXPIRE %s 604800", keep[i]);
        if (x) freeReplyObject(x);
    }
    *results = res;
    *n = np;
    res = NULL;
out:
    mts_free(res);
    mts_free(spec_json);
    mts_free(points);
    mts_remote_dataset_free(&ds);
    mts_remote_sources_free(&src);
    if (r.ctx || r.host[0]) mts_rconn_close(&r);
    mts_store_close(store);
    return rc;
}
