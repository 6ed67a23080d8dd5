/* alerts.c — alert rules, state per (kind, subject), delivery to the log, the
 * bus and a webhook (one background thread per mts_alerts_t). See alerts.h. */
#include "alerts/alerts.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mts.h"
#include "util/config.h"
#include "util/log.h"

static const char *const kind_names[MTS_ALERT_KINDS] = {
    "drawdown", "feed_silent", "strategy_disabled", "session_crashed", "collector_failing"};

const char *mts_alert_kind_name(mts_alert_kind_t k) {
    return (unsigned)k < MTS_ALERT_KINDS ? kind_names[k] : "unknown";
}

typedef struct subj {
    int kind;
    char name[96];
    int active;
    double peak;      /* drawdown: the subject's peak equity */
} subj_t;

struct mts_alerts {
    char source[32];
    mts_bus_t *bus;
    int has[MTS_ALERT_KINDS];
    double limit;          /* drawdown */
    int intervals;         /* feed_silent */
    int64_t interval_ms;   /* feed_silent: the rule's own unit (0: the feed's interval) */
    int failures;          /* collector_failing */
    subj_t subj[MTS_ALERTS_SUBJECTS];
    int n_subj;
    /* webhook */
    char *url;
    long timeout_ms;
    int retries;
    pthread_t thread;
    int thread_on;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *queue[MTS_ALERTS_QUEUE];
    int q_head, q_len, stopping;
    mts_alerts_stats_t st;
};

/* ---- opening ---- */

static int cfg_err(char *err, size_t n, const char *fmt, ...) {
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return MTS_ECONFIG;
}

static int kind_of(const char *s) {
    for (int k = 0; k < MTS_ALERT_KINDS; k++)
        if (s && strcmp(s, kind_names[k]) == 0) return k;
    return -1;
}

static int parse(mts_alerts_t *a, const cJSON *sec, const char *url_arg, char *err, size_t errlen) {
    const cJSON *rules = sec ? cJSON_GetObjectItemCaseSensitive(sec, "rules") : NULL;
    if (sec && !cJSON_IsObject(sec)) return cfg_err(err, errlen, "config/mts.json alerts: must be an object");
    if (rules && !cJSON_IsArray(rules))
        return cfg_err(err, errlen, "config/mts.json alerts.rules: must be an array of {\"kind\": ...}");
    int i = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, rules) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(r, "kind");
        int kind = kind_of(cJSON_IsString(k) ? k->valuestring : NULL);
        if (kind < 0)
            return cfg_err(err, errlen, "config/mts.json alerts.rules[%d]: kind must be one of drawdown, "
                           "feed_silent, strategy_disabled, session_crashed, collector_failing", i);
        a->has[kind] = 1;
        if (kind == MTS_ALERT_DRAWDOWN) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "limit");
            if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble < 1))
                return cfg_err(err, errlen, "config/mts.json alerts.rules[%d] (drawdown): limit must be a "
                               "fraction in (0, 1), e.g. 0.1 for 10%%", i);
            a->limit = v->valuedouble;
        } else if (kind == MTS_ALERT_FEED_SILENT || kind == MTS_ALERT_COLLECTOR_FAILING) {
            const char *key = kind == MTS_ALERT_FEED_SILENT ? "intervals" : "failures";
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, key);
            double d = cJSON_IsNumber(v) ? v->valuedouble : (v ? -1 : 3);
            if (!(d >= 1 && d <= 1e6 && d == floor(d)))
                return cfg_err(err, errlen, "config/mts.json alerts.rules[%d] (%s): %s must be an integer >= 1",
                               i, kind_names[kind], key);
            if (kind == MTS_ALERT_FEED_SILENT) a->intervals = (int)d;
            else a->failures = (int)d;
            const cJSON *iv = cJSON_GetObjectItemCaseSensitive(r, "interval_ms");
            if (kind == MTS_ALERT_FEED_SILENT && iv) {
                if (!cJSON_IsNumber(iv) || !(iv->valuedouble >= 1 && iv->valuedouble <= 1e10))
                    return cfg_err(err, errlen, "config/mts.json alerts.rules[%d] (feed_silent): interval_ms must "
                                   "be a number of milliseconds >= 1 (omit it: the feed's interval)", i);
                a->interval_ms = (int64_t)iv->valuedouble;
            }
        }
        i++;
    }
    const cJSON *wh = sec ? cJSON_GetObjectItemCaseSensitive(sec, "webhook") : NULL;
    const char *url = url_arg ? url_arg : getenv("MTS_ALERT_WEBHOOK");
    if (!url && wh) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(wh, "url");
        if (cJSON_IsString(u)) url = u->valuestring;
    }
    a->timeout_ms = 2000;
    a->retries = 3;
    if (wh) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(wh, "timeout_ms");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(wh, "retries");
        if (t && !(cJSON_IsNumber(t) && t->valuedouble >= 1 && t->valuedouble <= 600000))
            return cfg_err(err, errlen, "config/mts.json alerts.webhook.timeout_ms: must be 1..600000");
        if (n && !(cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble <= 20))
            return cfg_err(err, errlen, "config/mts.json alerts.webhook.retries: must be 0..20");
        if (t) a->timeout_ms = (long)t->valuedouble;
        if (n) a->retries = (int)n->valuedouble;
    }
    if (url && *url) {
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
            return cfg_err(err, errlen, "alert webhook URL '%s' (MTS_ALERT_WEBHOOK or alerts.webhook.url): "
                           "must start with http:// or https://", url);
        if (!(a->url = mts_strdup(url))) return MTS_ENOMEM;
    }
    return 0;
}

static void *webhook_main(void *p);

int mts_alerts_open(const mts_alerts_config_t *cfg, mts_alerts_t **out, char *err, size_t errlen) {
    *out = NULL;
    mts_alerts_t *a = mts_calloc(1, sizeof *a);
    if (!a) return MTS_ENOMEM;
    snprintf(a->source, sizeof a->source, "%s", cfg && cfg->source ? cfg->source : "mts");
    a->bus = cfg ? cfg->bus : NULL;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    cJSON *site = NULL;
    const cJSON *sec = cfg ? cfg->section : NULL;
    if (!sec) {
        site = mts_config_site(mts_root());
        sec = site ? cJSON_GetObjectItemCaseSensitive(site, "alerts") : NULL;
    }
    int rc = parse(a, sec, cfg ? cfg->webhook_url : NULL, err, errlen);
    cJSON_Delete(site);
    if (rc == 0 && a->url) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) rc = cfg_err(err, errlen, "libcurl: init failed");
        else if (pthread_create(&a->thread, NULL, webhook_main, a) != 0) rc = MTS_ENOMEM;
        else a->thread_on = 1;
    }
    if (rc) { mts_alerts_close(a); return rc; }
    *out = a;
    return 0;
}

void mts_alerts_set_bus(mts_alerts_t *a, mts_bus_t *bus) { if (a) a->bus = bus; }

int mts_alerts_has(const mts_alerts_t *a, mts_alert_kind_t kind) {
    return a && (unsigned)kind < MTS_ALERT_KINDS && a->has[kind];
}

void mts_alerts_close(mts_alerts_t *a) {
    if (!a) return;
    if (a->thread_on) {
        pthread_mutex_lock(&a->mu);
        a->stopping = 1;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    for (int i = 0; i < a->q_len; i++) mts_free(a->queue[(a->q_head + i) % MTS_ALERTS_QUEUE]);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    mts_free(a->url);
    mts_free(a);
}

void mts_alerts_stats(mts_alerts_t *a, mts_alerts_stats_t *out) {
    memset(out, 0, sizeof *out);
    if (!a) return;
    pthread_mutex_lock(&a->mu);
    *out = a->st;
    pthread_mutex_unlock(&a->mu);
}

/* ---- state and firing ---- */

static subj_t *subject(mts_alerts_t *a, int kind, const char *name) {
    for (int i = 0; i < a->n_subj; i++)
        if (a->subj[i].kind == kind && strcmp(a->subj[i].name, name) == 0) return &a->subj[i];
    if (a->n_subj == MTS_ALERTS_SUBJECTS) return NULL;
    subj_t *s = &a->subj[a->n_subj++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->peak = NAN;
    return s;
}

static void json_str(FILE *f, const char *key, const char *v) {
    fprintf(f, ",\"%s\":\"", key);
    mts_json_escape(f, v ? v : "");
    fputc('"', f);
}

/* extra: JSON members (",\"k\":v...") or "". */
static void fire(mts_alerts_t *a, int kind, const char *subj, const char *message, const char *extra) {
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if (!f) return;
    fprintf(f, "{\"kind\":\"%s\"", kind_names[kind]);
    json_str(f, "subject", subj);
    json_str(f, "source", a->source);
    fprintf(f, ",\"ts\":%lld", (long long)time(NULL));
    json_str(f, "message", message);
    fputs(extra ? extra : "", f);
    fputc('}', f);
    if (fclose(f) != 0 || !body) { free(body); return; }
    /* 1. the log: the alert's members after "event":"alert" */
    mts_log(MTS_LOG_WARN, "alert", "%.*s", (int)(len - 2), body + 1);
    /* 2. the bus */
    if (a->bus && mts_bus_publish(a->bus, "alerts", body, len) != 0)
        mts_log(MTS_LOG_WARN, "alert.bus_failed", "\"kind\":\"%s\",\"error\":\"%s\"", kind_names[kind],
                mts_bus_errmsg(a->bus));
    /* 3. the webhook queue */
    pthread_mutex_lock(&a->mu);
    a->st.fired++;
    if (a->thread_on) {
        char *copy = a->q_len < MTS_ALERTS_QUEUE ? mts_strdup(body) : NULL;
        if (copy) {
            a->queue[(a->q_head + a->q_len) % MTS_ALERTS_QUEUE] = copy;
            a->q_len++;
            pthread_cond_signal(&a->cv);
        } else {
            a->st.dropped++;
            mts_log(MTS_LOG_ERROR, "alert.undelivered", "\"kind\":\"%s\",\"reason\":\"webhook queue full\"",
                    kind_names[kind]);
        }
    }
    pthread_mutex_unlock(&a->mu);
    free(body);
}

/* The edge rule: fire on false -> true, remember, clear on false. */
static int edge(mts_alerts_t *a, int kind, const char *name, int cond, const char *msg, const char *extra) {
    subj_t *s = subject(a, kind, name);
    if (!s) return 0;
    if (!cond) { s->active = 0; return 0; }
    if (s->active) return 0;
    s->active = 1;
    fire(a, kind, name, msg, extra);
    return 1;
}

int mts_alerts_drawdown(mts_alerts_t *a, const char *subj, int64_t ts, double equity) {
    if (!a || !a->has[MTS_ALERT_DRAWDOWN] || !isfinite(equity)) return 0;
    subj_t *s = subject(a, MTS_ALERT_DRAWDOWN, subj);
    if (!s) return 0;
    if (isnan(s->peak) || equity > s->peak) s->peak = equity;
    double dd = s->peak > 0 ? (s->peak - equity) / s->peak : 0;
    char msg[160], extra[200];
    snprintf(msg, sizeof msg, "drawdown %.2f%% beyond the limit %.2f%% (%s)", dd * 100, a->limit * 100, subj);
    snprintf(extra, sizeof extra, ",\"at\":%lld,\"drawdown\":%.17g,\"limit\":%.17g,\"equity\":%.17g,\"peak\":%.17g",
             (long long)ts, dd, a->limit, equity, s->peak);
    return edge(a, MTS_ALERT_DRAWDOWN, subj, dd > a->limit, msg, extra);
}

int mts_alerts_feed_silent(mts_alerts_t *a, const char *subj, int64_t silent_ms, int64_t interval_ms) {
    if (!a || !a->has[MTS_ALERT_FEED_SILENT]) return 0;
    if (a->interval_ms > 0) interval_ms = a->interval_ms;
    if (interval_ms <= 0) return 0;
    char msg[200], extra[160];
    snprintf(msg, sizeof msg, "%s: no data for %.1f s (%d intervals of %lld ms)", subj, silent_ms / 1000.0,
             a->intervals, (long long)interval_ms);
    snprintf(extra, sizeof extra, ",\"silent_ms\":%lld,\"interval_ms\":%lld,\"intervals\":%d",
             (long long)silent_ms, (long long)interval_ms, a->intervals);
    return edge(a, MTS_ALERT_FEED_SILENT, subj, silent_ms >= (int64_t)a->intervals * interval_ms, msg, extra);
}

int mts_alerts_collector(mts_alerts_t *a, const char *subj, int n, const char *error) {
    if (!a || !a->has[MTS_ALERT_COLLECTOR_FAILING]) return 0;
    char msg[300], extra[80];
    snprintf(msg, sizeof msg, "collector %s failed %d times in a row: %s", subj, n, error ? error : "");
    snprintf(extra, sizeof extra, ",\"failures\":%d,\"limit\":%d", n, a->failures);
    return edge(a, MTS_ALERT_COLLECTOR_FAILING, subj, n >= a->failures, msg, extra);
}

int mts_alerts_strategy_disabled(mts_alerts_t *a, const char *subj, const char *message) {
    if (!a || !a->has[MTS_ALERT_STRATEGY_DISABLED]) return 0;
    char msg[400];
    snprintf(msg, sizeof msg, "strategy %s disabled: %s", subj, message ? message : "");
    subj_t *s = subject(a, MTS_ALERT_STRATEGY_DISABLED, subj);
    if (!s || s->active) return 0;   /* once per subject: it never clears */
    s->active = 1;
    fire(a, MTS_ALERT_STRATEGY_DISABLED, subj, msg, "");
    return 1;
}

int mts_alerts_session_crashed(mts_alerts_t *a, int64_t session, const char *status) {
    if (!a || !a->has[MTS_ALERT_SESSION_CRASHED]) return 0;
    char name[48], msg[160], extra[96];
    snprintf(name, sizeof name, "session %lld", (long long)session);
    subj_t *s = subject(a, MTS_ALERT_SESSION_CRASHED, name);
    if (!s || s->active) return 0;
    s->active = 1;
    snprintf(msg, sizeof msg, "paper session %lld %s", (long long)session, status);
    snprintf(extra, sizeof extra, ",\"session\":%lld,\"status\":\"%s\"", (long long)session, status);
    fire(a, MTS_ALERT_SESSION_CRASHED, name, msg, extra);
    return 1;
}

int mts_alerts_check_sessions(mts_alerts_t *a, void *dbv) {
    sqlite3 *db = dbv;
    if (!a || !a->has[MTS_ALERT_SESSION_CRASHED] || !db) return 0;
    /* alerts_fired: migration 10 (store/store.c) */
    sqlite3_stmt *q = NULL, *ins = NULL;
    int fired = 0;
    if (sqlite3_prepare_v2(db, "SELECT id FROM paper_sessions WHERE status = 'crashed' AND NOT EXISTS "
                               "(SELECT 1 FROM alerts_fired WHERE kind = 'session_crashed' AND subject = "
                               "'session ' || paper_sessions.id) ORDER BY id LIMIT 100", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO alerts_fired (kind, subject, fired_at) VALUES "
                               "('session_crashed', 'session ' || ?1, ?2)", -1, &ins, NULL) != SQLITE_OK) {
        sqlite3_finalize(q);
        sqlite3_finalize(ins);
        return MTS_EDB;
    }
    int64_t ids[100];
    int n = 0;
    while (n < 100 && sqlite3_step(q) == SQLITE_ROW) ids[n++] = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(ins, 1, ids[i]);
        sqlite3_bind_int64(ins, 2, (int64_t)time(NULL));
        int rc = sqlite3_step(ins);
        sqlite3_reset(ins);
        /* another process claimed it first: it alerts, we do not */
        if (rc == SQLITE_DONE && sqlite3_changes(db) == 1) fired += mts_alerts_session_crashed(a, ids[i], "crashed");
    }
    sqlite3_finalize(ins);
    return fired;
}

/* ---- the webhook thread ---- */

static size_t sink(char *p, size_t sz, size_t n, void *ud) { (void)p; (void)ud; return sz * n; }

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

static void deliver(mts_alerts_t *a, const char *body) {
    CURL *c = curl_easy_init();
    if (!c) return;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, a->url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, a->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, a->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mts-alerts/" MTS_VERSION);
    long status = 0;
    CURLcode cc = CURLE_OK;
    int attempt = 0, ok = 0;
    for (; attempt <= a->retries; attempt++) {
        if (attempt > 0) {
            long wait = 200L << (attempt - 1 < 5 ? attempt - 1 : 5);
            sleep_ms(wait > 5000 ? 5000 : wait);
        }
        status = 0;
        cc = curl_easy_perform(c);
        if (cc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        pthread_mutex_lock(&a->mu);
        a->st.attempts++;
        pthread_mutex_unlock(&a->mu);
        if (cc == CURLE_OK && status >= 200 && status < 300) { ok = 1; break; }
        if (cc == CURLE_OK && status < 500 && status != 429 && status != 408) break;   /* not worth a retry */
    }
    const char *kind_at = strstr(body, "\"kind\":\"");
    char kind[40] = "";
    if (kind_at) sscanf(kind_at + 8, "%39[^\"]", kind);
    pthread_mutex_lock(&a->mu);
    if (ok) a->st.delivered++;
    else a->st.undelivered++;
    pthread_mutex_unlock(&a->mu);
    if (ok)
        mts_log(MTS_LOG_INFO, "alert.delivered", "\"kind\":\"%s\",\"status\":%ld,\"attempts\":%d", kind, status,
                attempt + 1);
    else
        mts_log(MTS_LOG_ERROR, "alert.undelivered", "\"kind\":\"%s\",\"status\":%ld,\"error\":\"%s\",\"attempts\":%d,"
                "\"alert\":%s", kind, status, cc == CURLE_OK ? "HTTP status" : curl_easy_strerror(cc),
                attempt > a->retries ? a->retries + 1 : attempt + 1, body);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void *webhook_main(void *p) {
    mts_alerts_t *a = p;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->q_len == 0 && !a->stopping) pthread_cond_wait(&a->cv, &a->mu);
        if (a->q_len == 0) break;   /* stopping and drained */
        char *body = a->queue[a->q_head];
        a->q_head = (a->q_head + 1) % MTS_ALERTS_QUEUE;
        a->q_len--;
        pthread_mutex_unlock(&a->mu);
        deliver(a, body);
        mts_free(body);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- breakers ---- */

#define MAX_BREAKERS 32
typedef struct brk {
    char vendor[48], host[128], state[16];
    int failures;
    int64_t opened_at, updated_at;
} brk_t;

static pthread_mutex_t brk_mu = PTHREAD_MUTEX_INITIALIZER;
static brk_t brks[MAX_BREAKERS];
static int n_brks;
static char *brk_db;

/* api_breakers: migration 10 (store/store.c) */

void mts_alerts_breaker_db(const char *db_path) {
    pthread_mutex_lock(&brk_mu);
    free(brk_db);
    brk_db = db_path && *db_path ? strdup(db_path) : NULL;
    pthread_mutex_unlock(&brk_mu);
}

void mts_alerts_breaker_note(const char *vendor, const char *host, const char *state, int failures,
                             int64_t opened_at) {
    if (!vendor || !host || !state) return;
    int64_t now = (int64_t)time(NULL);
    pthread_mutex_lock(&brk_mu);
    brk_t *b = NULL;
    for (int i = 0; i < n_brks && !b; i++)
        if (strcmp(brks[i].vendor, vendor) == 0 && strcmp(brks[i].host, host) == 0) b = &brks[i];
    if (!b && n_brks < MAX_BREAKERS) {
        b = &brks[n_brks++];
        snprintf(b->vendor, sizeof b->vendor, "%s", vendor);
        snprintf(b->host, sizeof b->host, "%s", host);
    }
    if (b && opened_at <= 0 && strcmp(state, "half_open") == 0) opened_at = b->opened_at;   /* still the last opening */
    if (b) {
        snprintf(b->state, sizeof b->state, "%s", state);
        b->failures = failures;
        b->opened_at = opened_at;
        b->updated_at = now;
    }
    char *path = brk_db ? strdup(brk_db) : NULL;
    pthread_mutex_unlock(&brk_mu);
    if (!path) return;
    /* transitions are rare: a connection of its own, short busy wait, never the caller's transaction */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) sqlite3_busy_timeout(db, 500);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO api_breakers (vendor, host, state, failures, opened_at, updated_at, pid) "
                                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (vendor, host) DO UPDATE SET "
                                    "state = ?3, failures = ?4, opened_at = ?5, updated_at = ?6, pid = ?7",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, vendor, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, host, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, failures);
        if (opened_at > 0) sqlite3_bind_int64(st, 5, opened_at);
        else sqlite3_bind_null(st, 5);
        sqlite3_bind_int64(st, 6, now);
        sqlite3_bind_int64(st, 7, (int64_t)getpid());
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (rc != SQLITE_OK)
        mts_log(MTS_LOG_WARN, "alert.breaker_store_failed", "\"vendor\":\"%s\",\"error\":\"%s\"", vendor,
                db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
}

static void brk_json(FILE *f, int first, const char *vendor, const char *host, const char *state, int failures,
                     int64_t opened_at, int64_t updated_at, int64_t pid) {
    fprintf(f, "%s{\"vendor\":\"", first ? "" : ",");
    mts_json_escape(f, vendor);
    fputs("\",\"host\":\"", f);
    mts_json_escape(f, host);
    /* the API's names: *_ts unix seconds (docs/api.md "Names") */
    fprintf(f, "\",\"state\":\"%s\",\"failures\":%d,\"opened_ts\":", state, failures);
    if (opened_at > 0) fprintf(f, "%lld", (long long)opened_at);
    else fputs("null", f);
    fprintf(f, ",\"updated_ts\":%lld,\"pid\":%lld}", (long long)updated_at, (long long)pid);
}

void mts_alerts_breakers_json(FILE *f, void *dbv, int *n_open) {
    sqlite3 *db = dbv;
    int first = 1, open = 0;
    fputc('[', f);
    pthread_mutex_lock(&brk_mu);
    int n = n_brks;
    brk_t own[MAX_BREAKERS];
    memcpy(own, brks, sizeof(brk_t) * (size_t)n);
    pthread_mutex_unlock(&brk_mu);
    for (int i = 0; i < n; i++) {
        brk_json(f, first, own[i].vendor, own[i].host, own[i].state, own[i].failures, own[i].opened_at,
                 own[i].updated_at, (int64_t)getpid());
        first = 0;
        open += strcmp(own[i].state, "open") == 0;
    }
    sqlite3_stmt *q = NULL;
    if (db && sqlite3_prepare_v2(db, "SELECT vendor, host, state, failures, opened_at, updated_at, pid FROM "
                                     "api_breakers ORDER BY vendor, host", -1, &q, NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *v = (const char *)sqlite3_column_text(q, 0), *h = (const char *)sqlite3_column_text(q, 1);
            const char *s = (const char *)sqlite3_column_text(q, 2);
            int mine = 0;
            for (int i = 0; i < n && !mine; i++) mine = strcmp(own[i].vendor, v) == 0 && strcmp(own[i].host, h) == 0;
            if (mine) continue;
            brk_json(f, first, v, h, s, sqlite3_column_int(q, 3), sqlite3_column_int64(q, 4),
                     sqlite3_column_int64(q, 5), sqlite3_column_int64(q, 6));
            first = 0;
            open += strcmp(s, "open") == 0;
        }
    }
    sqlite3_finalize(q);   /* no table yet: nothing recorded */
    fputc(']', f);
    if (n_open) *n_open = open;
}
