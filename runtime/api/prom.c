/* prom.c — Prometheus counters and histograms of the API server (see prom.h). */
#include "api/prom.h"
#include "mts.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Buckets of the Prometheus client libraries' default histogram, in seconds. */
static const double BUCKETS[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS ((int)(sizeof BUCKETS / sizeof BUCKETS[0]))

typedef struct series {
    char   *labels;   /* rendered: k="v",k="v" */
    double  value;
} series_t;

typedef struct family {
    series_t *s;
    int n, cap;
    long dropped;
} family_t;

typedef struct hist {
    uint64_t bucket[N_BUCKETS];   /* non-cumulative; summed when rendered */
    uint64_t count;
    double   sum;
} hist_t;

enum { F_HTTP, F_SIGNALS, F_RATE_LIMITED, F_BUS, F_HOT, F_COUNT };

struct mts_prom {
    const char *const *routes;
    int n_routes;
    hist_t *hist;
    family_t fam[F_COUNT];
    double backtests, ws_dropped, conn_refused;
};

mts_prom_t *mts_prom_new(const char *const *routes, int n_routes) {
    mts_prom_t *p = mts_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->hist = mts_calloc((size_t)(n_routes > 0 ? n_routes : 1), sizeof *p->hist);
    if (!p->hist) { mts_free(p); return NULL; }
    p->routes = routes;
    p->n_routes = n_routes;
    return p;
}

void mts_prom_free(mts_prom_t *p) {
    if (!p) return;
    for (int f = 0; f < F_COUNT; f++) {
        for (int i = 0; i < p->fam[f].n; i++) mts_free(p->fam[f].s[i].labels);
        mts_free(p->fam[f].s);
    }
    mts_free(p->hist);
    mts_free(p);
}

void mts_prom_escape(const char *v, char *out, size_t cap) {
    size_t o = 0;
    if (!cap) return;
    for (const char *c = v ? v : ""; *c && o + 3 < cap; c++) {
        if (*c == '\\' || *c == '"') { out[o++] = '\\'; out[o++] = *c; }
        else if (*c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else out[o++] = *c;
    }
    out[o] = 0;
}

static void add(mts_prom_t *p, int f, const char *labels, double v) {
    family_t *fam = &p->fam[f];
    for (int i = 0; i < fam->n; i++)
        if (strcmp(fam->s[i].labels, labels) == 0) { fam->s[i].value += v; return; }
    if (fam->n >= MTS_PROM_MAX_SERIES) { fam->dropped++; return; }
    if (fam->n == fam->cap) {
        int cap = fam->cap ? fam->cap * 2 : 16;
        series_t *s = mts_realloc(fam->s, (size_t)cap * sizeof *s);
        if (!s) { fam->dropped++; return; }
        fam->s = s;
        fam->cap = cap;
    }
    char *l = mts_strdup(labels);
    if (!l) { fam->dropped++; return; }
    fam->s[fam->n].labels = l;
    fam->s[fam->n].value = v;
    fam->n++;
}

static const char *route_name(const mts_prom_t *p, int route) {
    return route >= 0 && route < p->n_routes ? p->routes[route] : "unmatched";
}

void mts_prom_http(mts_prom_t *p, int route, const char *method, int code, double seconds) {
    if (!p) return;
    char r[256], m[32], labels[400];
    mts_prom_escape(route_name(p, route), r, sizeof r);
    mts_prom_escape(method, m, sizeof m);
    snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",code=\"%d\"", r, m, code);
    add(p, F_HTTP, labels, 1);
    if (route >= 0 && route < p->n_routes && seconds >= 0) {
        hist_t *h = &p->hist[route];
        int b = 0;
        while (b < N_BUCKETS && seconds > BUCKETS[b]) b++;
        if (b < N_BUCKETS) h->bucket[b]++;
        h->count++;
        h->sum += seconds;
    }
}

void mts_prom_signal(mts_prom_t *p, const char *strategy, const char *asset) {
    if (!p) return;
    char s[200], a[200], labels[450];
    mts_prom_escape(strategy, s, sizeof s);
    mts_prom_escape(asset, a, sizeof a);
    snprintf(labels, sizeof labels, "strategy=\"%s\",asset=\"%s\"", s, a);
    add(p, F_SIGNALS, labels, 1);
}

void mts_prom_rate_limited(mts_prom_t *p, int route) {
    if (!p) return;
    char r[256], labels[300];
    mts_prom_escape(route_name(p, route), r, sizeof r);
    snprintf(labels, sizeof labels, "route=\"%s\"", r);
    add(p, F_RATE_LIMITED, labels, 1);
}

void mts_prom_bus_message(mts_prom_t *p, const char *topic) {
    if (!p) return;
    char t[200], labels[250];
    mts_prom_escape(topic, t, sizeof t);
    snprintf(labels, sizeof labels, "topic=\"%s\"", t);
    add(p, F_BUS, labels, 1);
}

void mts_prom_hot(mts_prom_t *p, int route, const char *source) {
    if (!p) return;
    char r[256], src[64], labels[350];
    mts_prom_escape(route_name(p, route), r, sizeof r);
    mts_prom_escape(source, src, sizeof src);
    snprintf(labels, sizeof labels, "route=\"%s\",source=\"%s\"", r, src);
    add(p, F_HOT, labels, 1);
}

void mts_prom_backtest(mts_prom_t *p) { if (p) p->backtests += 1; }
void mts_prom_ws_dropped(mts_prom_t *p, long n) { if (p) p->ws_dropped += (double)n; }
void mts_prom_conn_refused(mts_prom_t *p) { if (p) p->conn_refused += 1; }

static void num(FILE *out, double v) {
    if (isnan(v)) fputs("NaN", out);
    else if (isinf(v)) fputs(v > 0 ? "+Inf" : "-Inf", out);
    else if (v == floor(v) && fabs(v) < 1e15) fprintf(out, "%.0f", v);
    else fprintf(out, "%.17g", v);
}

static void family(FILE *out, const family_t *f, const char *name, const char *help) {
    fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int i = 0; i < f->n; i++) {
        fprintf(out, "%s{%s} ", name, f->s[i].labels);
        num(out, f->s[i].value);
        fputc('\n', out);
    }
}

void mts_prom_render(const mts_prom_t *p, FILE *out) {
    if (!p) return;
    family(out, &p->fam[F_HTTP], "mts_http_requests_total",
           "HTTP requests answered, by route template, method and status code.");
    fprintf(out, "# HELP mts_http_request_duration_seconds Time from the request's headers to "
                 "the last byte of the answer queued, by route template.\n"
                 "# TYPE mts_http_request_duration_seconds histogram\n");
    for (int r = 0; r < p->n_routes; r++) {
        const hist_t *h = &p->hist[r];
        char rn[256];
        mts_prom_escape(p->routes[r], rn, sizeof rn);
        uint64_t cum = 0;
        for (int b = 0; b < N_BUCKETS; b++) {
            cum += h->bucket[b];
            fprintf(out, "mts_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    rn, BUCKETS[b], (unsigned long long)cum);
        }
        fprintf(out, "mts_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                rn, (unsigned long long)h->count);
        fprintf(out, "mts_http_request_duration_seconds_sum{route=\"%s\"} ", rn);
        num(out, h->sum);
        fprintf(out, "\nmts_http_request_duration_seconds_count{route=\"%s\"} %llu\n", rn,
                (unsigned long long)h->count);
    }
    family(out, &p->fam[F_SIGNALS], "mts_signals_generated_total",
           "Signals generated by POST /signals/generate and seen on the bus, by strategy and asset.");
    family(out, &p->fam[F_RATE_LIMITED], "mts_rate_limited_total",
           "Requests refused with 429 by the rate limiter, by route template.");
    family(out, &p->fam[F_BUS], "mts_bus_messages_total",
           "Messages read from the event bus, by topic.");
    family(out, &p->fam[F_HOT], "mts_hot_reads_total",
           "Hot-data reads answered (order books, funding, latest bars), by route template and "
           "source: l1 (the server's cache), redis, database.");
    fprintf(out, "# HELP mts_backtests_total Backtests run by POST /backtest.\n"
                 "# TYPE mts_backtests_total counter\nmts_backtests_total ");
    num(out, p->backtests);
    fprintf(out, "\n# HELP mts_ws_dropped_messages_total Messages dropped from slow websocket "
                 "clients' queues (oldest first).\n# TYPE mts_ws_dropped_messages_total counter\n"
                 "mts_ws_dropped_messages_total ");
    num(out, p->ws_dropped);
    fprintf(out, "\n# HELP mts_http_connections_refused_total Connections closed at accept, by reason "
                 "(per_address_limit: --max-conns-per-ip).\n# TYPE mts_http_connections_refused_total counter\n"
                 "mts_http_connections_refused_total{reason=\"per_address_limit\"} ");
    num(out, p->conn_refused);
    long dropped = 0;
    for (int f = 0; f < F_COUNT; f++) dropped += p->fam[f].dropped;
    fprintf(out, "\n# HELP mts_metrics_series_dropped_total Label sets not recorded because a "
                 "family reached its series limit.\n# TYPE mts_metrics_series_dropped_total counter\n"
                 "mts_metrics_series_dropped_total %ld\n", dropped);
}
