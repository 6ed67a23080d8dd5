/* prom.h — the API server's Prometheus metrics: labelled counters and one
 * request-duration histogram per route, rendered in the text exposition
 * format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
 * Needs only libc. Not thread safe: the server's service thread owns it (workers
 * hand their results back to that thread, which records them).
 *
 * Series with labels are created on first use, up to MTS_PROM_MAX_SERIES per
 * family (later new label sets are counted in mts_metrics_series_dropped_total
 * instead, so a client cannot grow memory without bound). Label values are
 * escaped as the format requires (backslash, double quote, newline). */
#ifndef MTS_API_PROM_H
#define MTS_API_PROM_H

#include <stdio.h>

#define MTS_PROM_MAX_SERIES 512

typedef struct mts_prom mts_prom_t;

/* NULL on allocation failure. routes: the route templates (borrowed, static),
 * n_routes of them; histograms exist per route index. */
mts_prom_t *mts_prom_new(const char *const *routes, int n_routes);
void mts_prom_free(mts_prom_t *p);   /* accepts NULL */

/* seconds < 0: counted, not observed in the histogram (websocket upgrades). */
void mts_prom_http(mts_prom_t *p, int route, const char *method, int code, double seconds);
void mts_prom_signal(mts_prom_t *p, const char *strategy, const char *asset);
void mts_prom_rate_limited(mts_prom_t *p, int route);
void mts_prom_backtest(mts_prom_t *p);
void mts_prom_bus_message(mts_prom_t *p, const char *topic);
/* A hot-data read answered (hotroutes.c), by route and source: "l1", "redis", "database". */
void mts_prom_hot(mts_prom_t *p, int route, const char *source);
void mts_prom_ws_dropped(mts_prom_t *p, long n);
/* A connection refused at accept: its address holds --max-conns-per-ip already. */
void mts_prom_conn_refused(mts_prom_t *p);
/* Every family owned by the registry, with HELP and TYPE lines. */
void mts_prom_render(const mts_prom_t *p, FILE *out);
/* A label value escaped for the exposition format (out NUL-terminated, cut to cap). */
void mts_prom_escape(const char *v, char *out, size_t cap);

#endif
