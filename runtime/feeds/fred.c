/* fred.c — FRED series/observations client and parser (see fred.h). */
#include "feeds/fred.h"
#include "util/config.h"
#include "store/store.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct mts_fred {
    mts_http_t *http;
    char *base, *key;
    char err[512];
};

int mts_fred_new(const char *base_url, const char *api_key, const mts_http_config_t *cfg, mts_fred_t **out) {
    if (!out) return MTS_EINVAL;
    *out = NULL;
    if (!api_key || !*api_key) return MTS_ECONFIG;
    mts_fred_t *f = mts_calloc(1, sizeof *f);
    if (!f) return MTS_ENOMEM;
    f->base = mts_strdup(base_url && *base_url ? base_url : MTS_FRED_DEFAULT_BASE);
    f->key = mts_strdup(api_key);
    if (!f->base || !f->key) { mts_fred_free(f); return MTS_ENOMEM; }
    size_t bl = strlen(f->base);
    while (bl > 0 && f->base[bl - 1] == '/') f->base[--bl] = 0;
    mts_http_config_t hc;
    if (cfg) hc = *cfg;
    else {
        mts_http_config_defaults(&hc);
        hc.rate_per_min = MTS_FRED_RATE_PER_MIN;
    }
    hc.vendor = "fred";
    int rc = mts_http_new(&hc, &f->http);
    if (rc) { mts_fred_free(f); return rc; }
    *out = f;
    return 0;
}

void mts_fred_free(mts_fred_t *f) {
    if (!f) return;
    mts_http_free(f->http);
    mts_free(f->base);
    mts_free(f->key);
    mts_free(f);
}

mts_http_t *mts_fred_http(mts_fred_t *f) { return f ? f->http : NULL; }
const char *mts_fred_errmsg(const mts_fred_t *f) { return f ? f->err : ""; }

int mts_fred_valid_series(const char *id) {
    if (!id || !*id || strlen(id) > 64) return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

static void reject(FILE *err, const char *series, int64_t row, mts_fred_report_t *rep, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void reject(FILE *err, const char *series, int64_t row, mts_fred_report_t *rep, const char *fmt, ...) {
    if (rep) rep->rejected++;
    if (!err) return;
    fprintf(err, "fred:%s:%lld: ", series, (long long)row);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputc('\n', err);
}

typedef struct { int64_t ts; double v; int64_t row; } obs_t;
static int cmp_obs(const void *a, const void *b) {
    const obs_t *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

int mts_fred_parse_observations(const char *json, size_t len, const char *series, mts_series_t *out,
                                FILE *err, mts_fred_report_t *rep) {
    if (!json || !out || !series) return MTS_EINVAL;
    mts_fred_report_t local = {0};
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    out->n = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *obs = cJSON_GetObjectItemCaseSensitive(root, "observations");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(obs)) { cJSON_Delete(root); return MTS_EPARSE; }
    int n = cJSON_GetArraySize(obs);
    obs_t *rows = mts_malloc((size_t)(n ? n : 1) * sizeof *rows);
    if (!rows) { cJSON_Delete(root); return MTS_ENOMEM; }
    int k = 0, i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, obs) {
        int64_t row = ++i;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "date");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
        if (!cJSON_IsString(d) || !cJSON_IsString(v)) {
            reject(err, series, row, rep, "expected string \"date\" and \"value\"");
            continue;
        }
        int64_t ts;
        size_t dl = strlen(d->valuestring);
        if (dl != 10 || mts_time_parse(d->valuestring, dl, &ts) != 0) {
            reject(err, series, row, rep, "bad date '%s'", d->valuestring);
            continue;
        }
        const char *s = v->valuestring;
        if (strcmp(s, ".") == 0) { rep->missing++; continue; }   /* FRED's "no value" */
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        if (!*s || *end || errno == ERANGE || !isfinite(x)) {
            reject(err, series, row, rep, "value '%s' is not a number", s);
            continue;
        }
        rows[k++] = (obs_t){mts_time_day(ts), x, row};
    }
    cJSON_Delete(root);
    qsort(rows, (size_t)k, sizeof *rows, cmp_obs);
    int rc = mts_series_reserve(out, k);
    if (rc) { mts_free(rows); return rc; }
    int64_t m = 0;
    for (int j = 0; j < k; j++) {
        if (m > 0 && out->ts[m - 1] == rows[j].ts) {
            char day[16];
            mts_time_format_date(rows[j].ts, day);
            reject(err, series, rows[j].row, rep, "duplicate date %s", day);
            continue;
        }
        out->ts[m] = rows[j].ts;
        out->v[m] = rows[j].v;
        m++;
    }
    out->n = m;
    rep->rows = m;
    mts_free(rows);
    return 0;
}

int mts_fred_fetch(mts_fred_t *f, const char *series, const char *from_date, mts_series_t *out,
                   FILE *err, mts_fred_report_t *rep) {
    if (!f || !out || !mts_fred_valid_series(series)) return MTS_EINVAL;
    if (from_date && (strlen(from_date) != 10 || strspn(from_date, "0123456789-") != 10)) return MTS_EINVAL;
    size_t ul = strlen(f->base) + strlen(series) + strlen(f->key) * 3 + 160;
    char *url = mts_malloc(ul);
    if (!url) return MTS_ENOMEM;
    /* the key goes URL-escaped: it is the user's string */
    char *ek = mts_malloc(strlen(f->key) * 3 + 1), *q = ek;
    if (!ek) { mts_free(url); return MTS_ENOMEM; }
    for (const unsigned char *p = (const unsigned char *)f->key; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
            *q++ = (char)*p;
        else q += sprintf(q, "%%%02X", *p);
    }
    *q = 0;
    int n = snprintf(url, ul, "%s/series/observations?series_id=%s&api_key=%s&file_type=json", f->base, series, ek);
    if (from_date) snprintf(url + n, ul - (size_t)n, "&observation_start=%s", from_date);
    mts_free(ek);
    mts_http_response_t r;
    int rc = mts_http_get(f->http, url, &r);
    mts_free(url);
    if (rc) {
        /* FRED explains 4xx answers: {"error_code":400,"error_message":"..."} */
        cJSON *e = r.body ? cJSON_Parse(r.body) : NULL;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "error_message");
        if (cJSON_IsString(m))
            snprintf(f->err, sizeof f->err, "fred %s: HTTP %ld: %s", series, r.status, m->valuestring);
        else
            snprintf(f->err, sizeof f->err, "%s", mts_http_errmsg(f->http));
        cJSON_Delete(e);
        mts_http_response_free(&r);
        return rc;
    }
    rc = mts_fred_parse_observations(r.body, r.len, series, out, err, rep);
    if (rc == MTS_EPARSE) snprintf(f->err, sizeof f->err, "fred %s: response is not a FRED observations object", series);
    mts_http_response_free(&r);
    return rc;
}

const char *mts_fred_alias(const char *series) {
    const char *a = series ? mts_config_string("macro_aliases", series) : NULL;
    return a && *a ? a : series;
}

void mts_fred_keep_first(const mts_series_t *stored, mts_series_t *daily, uint8_t *flags, const char *series,
                         FILE *err, int64_t *n_same, int64_t *n_diff) {
    int64_t same = 0, diff = 0, j = 0, m = 0;
    for (int64_t i = 0; i < daily->n; i++) {
        int64_t t = daily->ts[i];
        double v = daily->v[i];
        if (flags[i] == 0 && stored) {
            while (j < stored->n && stored->ts[j] < t) j++;
            if (j < stored->n && stored->ts[j] == t) {
                double w = stored->v[j];
                if (fabs(v - w) <= 1e-9 * fmax(1.0, fabs(w))) same++;
                else {
                    if (err && diff < 10) {
                        char d[16];
                        mts_time_format_date(t, d);
                        fprintf(err, "fred:%s:%s: kept stored %.17g, FRED has %.17g\n", series, d, w, v);
                    }
                    diff++;
                }
                continue;
            }
        }
        daily->ts[m] = t;
        daily->v[m] = v;
        flags[m] = flags[i];
        m++;
    }
    daily->n = m;
    if (n_same) *n_same = same;
    if (n_diff) *n_diff = diff;
}
