/* alerts.h — alert rules (config/mts.json "alerts") evaluated where the facts
 * are known, and their delivery. docs/alerts.md is the user's guide.
 *
 *   "alerts": {"rules": [{"kind": "drawdown", "limit": 0.1},
 *                        {"kind": "feed_silent", "intervals": 3},   (optional "interval_ms":
 *                         the unit of silence; default the feed's kline interval)
 *                        {"kind": "strategy_disabled"}, {"kind": "session_crashed"},
 *                        {"kind": "collector_failing", "failures": 3}],
 *              "webhook": {"url": "http://...", "timeout_ms": 2000, "retries": 3}}
 * MTS_ALERT_WEBHOOK overrides webhook.url ("" = no webhook).
 *
 * Who evaluates what (each caller feeds the facts it has; a kind without a
 * rule costs one comparison and fires nothing):
 *   drawdown          mts run, every committed step (live/live.c): equity vs
 *                     the session's peak equity; subject "session <id>"
 *   strategy_disabled mts run (mts_live_strategy_disabled, live/live.c)
 *   session_crashed   a session that ended "failed" (live.c, its own process),
 *                     and sessions marked "crashed" (heartbeat stopped,
 *                     store/paper.h) seen by mts serve's GET /health and by the
 *                     start of the next mts run (mts_alerts_check_sessions)
 *   feed_silent       mts stream: a symbol without a message for N intervals
 *   collector_failing mts collect: a vendor failing N runs in a row
 *
 * No storm: state per (rule kind, subject). An alert fires when its condition
 * becomes true and again only after the condition was seen false (cleared).
 * strategy_disabled and session_crashed fire once per subject; a crashed
 * session is remembered in the table alerts_fired of the mts database
 * (kind, subject), so several processes alert it once in all.
 *
 * Delivery of one alert {"kind","subject","source","ts","message",...}:
 *   1. the log: a JSON line, event "alert", level warn (synchronous);
 *   2. the bus, topic "alerts" (synchronous, on the caller's thread: the bus
 *      handle is single-threaded; NULL bus = skipped);
 *   3. the webhook: queued (bounded, MTS_ALERTS_QUEUE) and POSTed by ONE
 *      background thread of the mts_alerts_t (libcurl, Content-Type JSON), so
 *      the trading path never waits on the network. 5xx, 429, timeouts and
 *      transport errors are retried `retries` times with backoff 200 ms x 2^k
 *      (capped at 5 s); other 4xx give up at once. Logged "alert.delivered"
 *      (info) or "alert.undelivered" (error: the alert, the status, attempts).
 *      mts_alerts_close waits for the queue to drain (each alert at most
 *      (retries+1) x timeout + backoff).
 *
 * Breakers (GET /health "external_apis"): the HTTP clients (feeds/http.c)
 * report each breaker transition with mts_alerts_breaker_note; it is kept
 * in the process and, when mts_alerts_breaker_db named the mts database, upserted
 * in its table api_breakers (vendor, host, state, failures, opened_at,
 * updated_at, pid), which is how mts serve — which has no breakers of its own —
 * learns the state of the collector's and the sessions' breakers.
 *
 * Needs libcurl, cJSON, sqlite3, cache/bus.h, util/config.h, util/log.h.
 * Errors: 0 / negative MTS_E* (mts.h) with a message in err. */
#ifndef MTS_ALERTS_H
#define MTS_ALERTS_H

#include <stdint.h>
#include <stdio.h>
#include "cache/bus.h"

#define MTS_ALERTS_QUEUE 256
#define MTS_ALERTS_SUBJECTS 256

typedef enum {
    MTS_ALERT_DRAWDOWN = 0, MTS_ALERT_FEED_SILENT, MTS_ALERT_STRATEGY_DISABLED,
    MTS_ALERT_SESSION_CRASHED, MTS_ALERT_COLLECTOR_FAILING, MTS_ALERT_KINDS
} mts_alert_kind_t;

typedef struct mts_alerts mts_alerts_t;

typedef struct mts_alerts_config {
    const char *source;          /* "run", "stream", "collect", "serve" (in every alert) */
    mts_bus_t *bus;              /* borrowed, may be NULL; used on the caller's thread only */
    const struct cJSON *section; /* the "alerts" object; NULL = config/mts.json's */
    const char *webhook_url;     /* NULL = MTS_ALERT_WEBHOOK, else section's webhook.url */
} mts_alerts_config_t;

/* A bad section (unknown kind, limit not in (0,1), intervals/failures < 1,
 * a URL not http(s)://) is MTS_ECONFIG naming the rule. No section: an
 * mts_alerts_t without rules (every call is a no-op). */
int  mts_alerts_open(const mts_alerts_config_t *cfg, mts_alerts_t **out, char *err, size_t errlen);
void mts_alerts_close(mts_alerts_t *a);             /* drains the webhook queue; accepts NULL */
void mts_alerts_set_bus(mts_alerts_t *a, mts_bus_t *bus);
int  mts_alerts_has(const mts_alerts_t *a, mts_alert_kind_t kind);   /* a rule of that kind? */
const char *mts_alert_kind_name(mts_alert_kind_t k);

/* Each returns 1 when an alert fired now, else 0. a may be NULL. */
/* ts: the equity point's time (unix s, the engine's curve; "at" in the alert); peak and drawdown
 * (peak - equity) / peak are per subject, from its first point. */
int mts_alerts_drawdown(mts_alerts_t *a, const char *subject, int64_t ts, double equity);
int mts_alerts_feed_silent(mts_alerts_t *a, const char *subject, int64_t silent_ms, int64_t interval_ms);
int mts_alerts_collector(mts_alerts_t *a, const char *subject, int consecutive_failures, const char *error);
int mts_alerts_strategy_disabled(mts_alerts_t *a, const char *subject, const char *message);
int mts_alerts_session_crashed(mts_alerts_t *a, int64_t session, const char *status);
/* Sessions in status "crashed" not alerted before (table alerts_fired of the
 * database `db`, a sqlite3 *): one alert each. Returns how many fired or a
 * negative MTS_EDB. */
int mts_alerts_check_sessions(mts_alerts_t *a, void *db);

/* Delivery counters (tests, logs). */
typedef struct mts_alerts_stats {
    int64_t fired, delivered, undelivered, attempts, dropped;   /* dropped: queue full */
} mts_alerts_stats_t;
void mts_alerts_stats(mts_alerts_t *a, mts_alerts_stats_t *out);

/* ---- breakers (process-wide, thread-safe) ---- */
/* The database file breaker transitions are written to (copied; NULL = none). */
void mts_alerts_breaker_db(const char *db_path);
void mts_alerts_breaker_note(const char *vendor, const char *host, const char *state, int failures,
                             int64_t opened_at_unix);
/* Writes a JSON array of {"vendor","host","state","failures","opened_at","updated_at","pid"}:
 * the rows of api_breakers in db (a sqlite3 *, may be NULL) merged with this
 * process's own. *n_open (may be NULL): how many are open. */
void mts_alerts_breakers_json(FILE *f, void *db, int *n_open);

#endif
