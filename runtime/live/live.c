/* live.c — a paper-trading session on live klines (see live.h).
 *
 * The kline stream is the exchange client of `mts stream` (feeds/ws.h, channel
 * MTS_CH_KLINE at the session's interval): it connects, subscribes, pings,
 * reconnects with backoff and parses klines into MTS_FEV_BAR events. This file
 * services it round by round inside mts_live_wait (mts_ws_service), checking
 * between rounds the stop flags, the duration and (once a second) the
 * modification times of the watched strategy files, and keeps what is
 * live-specific: closed bars only, duplicates skipped, gaps backfilled from
 * REST. REST klines (warm-up and gap backfill) are fetched with the feeds'
 * REST client (feeds/http.h: keep-alive, retries with backoff, a circuit
 * breaker) and parsed with cJSON. */
#include "live/live.h"
#include "live/control.h"
#include "market/provider.h"
#include "alerts/alerts.h"
#include "cache/bus.h"
#include "cache/cache.h"
#include "feeds/event.h"
#include "feeds/http.h"
#include "feeds/ws.h"
#include "lua/mts_ffi.h"
#include "market/bar_check.h"
#include "market/funding.h"
#include "portfolio/portfolio.h"
#include "replay/replay.h"
#include "store/csv.h"
#include "store/events.h"
#include "store/paper.h"
#include "store/store_internal.h"
#include "util/config.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The kline -> order latency histogram (docs/live.md "Kline -> order latency"), allocated
 * once at open: 100 ns buckets below 1 ms, 10 us buckets from 1 ms to 100 ms, and one
 * bucket above; the maximum is kept exactly. */
#define LH_FINE 10000
#define LH_COARSE 9900
#define LH_N (LH_FINE + LH_COARSE + 1)
#define PEND_CAP 1024           /* pending bars per asset (a gap backfill is at most 1000) */
#define BACKFILL_MAX 1000       /* bars one gap backfill asks for at most (the newest missing) */
#define CLOCK_SKEW_MS 60000     /* a closed kline may close this far ahead of our clock */
#define HEARTBEAT_MS 10000      /* paper_sessions.heartbeat_at while idle (store/paper.h) */
#define RETRY_MS 1000           /* a step commit that met a busy database is tried again after */
#define FINISH_RETRY_MS 60000   /* at the end, a busy database is waited for this long at most */

typedef struct pend_bar {
    int64_t ts, recv_ns;      /* open time (unix s); receipt (monotonic ns) */
    double o, h, l, c, v;
} pend_bar_t;

typedef struct live_asset {
    char symbol[MTS_SYMBOL_MAX];
    char *name;
    int32_t id;
    mts_bars_t bars;          /* arrays reserved once (mts_array_alloc) */
    int64_t saved;            /* first bar not yet in live_bars */
    char series[MTS_SYMBOL_MAX + 16];
    pend_bar_t *q;            /* step alignment: pending bars, a ring of PEND_CAP, oldest first */
    int q_head, q_n;
    /* a perp's funding (issue 12): the settlements handed to the engine, in the
     * session's own arrays (reserved at open, borrowed by the engine, which
     * grows them with mts_realloc if ever full) */
    int perp;
    char fsym[MTS_SYMBOL_MAX], fexch[32];
    mts_funding_events_t fev;
    int64_t first_ts;         /* the asset's first bar at open (INT64_MIN: none yet) */
} live_asset_t;

typedef struct watch {
    char *path;
    int64_t mtime_ns, size;
} watch_t;

struct mts_live {
    mts_live_config_t cfg;
    char *interval, *rest_url;
    char venue_iv[8];         /* the exchange's name of the interval (Bybit: "60", "D") */
    int64_t iv_ms;
    live_asset_t a[MTS_LIVE_MAX_ASSETS];
    int n;
    mts_engine_t *engine;
    mts_series_t vix;         /* the stored VIX, engine macro "VIX" (borrowed by it); its
                                 arrays are reserved once (MACRO_RESERVE rows beyond those
                                 loaded): a refresh appends, never moves them */
    mts_series_t vix_new;     /* rows read by a refresh (reused) */
    int64_t macro_every_ms, last_macro_ms;
    int macro_due, vix_added, vix_full_logged;
    int funding_failed_logged;
    int64_t *fr_ts, *fr_next; /* funding rows read by a refresh (reused) */
    double *fr_rate, *fr_mark;
    int64_t fr_cap;
    mts_provider_t *provider; /* ctx:bars/macro/funding/book (market/provider.h), made on first ask */
    int prov_fallback_logged; /* a replay: a series not in the record was read from the database */
    int64_t session_id;
    mts_bus_t *bus;           /* NULL when it could not be opened (logged) */
    mts_cache_t *cache;
    mts_alerts_t *alerts;     /* rules of config/mts.json "alerts" (alerts/alerts.h) */
    int bus_failed_logged;
    mts_ws_t *ws;             /* the kline stream (feeds/ws.h); started by the first wait */
    mts_http_t *http;         /* REST klines (feeds/http.h), one keep-alive client */
    /* control */
    int64_t started_ms, last_watch_poll, hb_ms;
    int stopping;
    int32_t reload_mask;
    watch_t watches[MTS_LIVE_MAX_WATCH];
    int n_watch;
    int appended;             /* bars appended in the current service round */
    int align;                /* step alignment on (several symbols, align_ms > 0) */
    int64_t align_ns;         /* the grace */
    int64_t cur_ts;           /* newest step (unix s) the engine has bars for */
    int64_t cur_wait, waits;  /* the wait in which cur_ts was first appended; waits so far */
    int64_t round_recv_ns;    /* receipt of the first bar of the last round */
    /* commit bookkeeping */
    int warm_done;
    int64_t fills_done, signals_done, equity_first, equity_done;
    int64_t bars_stored;      /* live bars whose step is stored (paper_sessions.bars) */
    int pending;              /* the last commit met a busy database: rows still to store */
    int64_t pending_since_ms, next_try_ms, tries, last_hb_ms;
    mts_paper_writer_t *writer;   /* the step's statements, prepared once (store/paper.h) */
    void *sc_fills, *sc_sigs, *sc_bars, *sc_cash;   /* commit's scratch rows (scratch()) */
    int64_t sc_fills_cap, sc_sigs_cap, sc_bars_cap, sc_cash_cap;
    /* stats */
    mts_live_summary_t st;
    uint32_t *lat_hist;       /* LH_N buckets (lh_index) */
    int64_t n_lat, lat_max_ns;
    int rehearsals;           /* rehearsal rounds given so far (REHEARSALS) */
    /* issue 14: the input log (store/events.h); in a replay, the source */
    mts_events_rec_t *rec;    /* NULL in a replay */
    mts_replay_t *rp;         /* cfg.replay */
    char *root;               /* files are recorded relative to it */
    /* attach (live/control.h, docs/live.md "Attach and control"): NULL without a socket and in a replay */
    mts_control_t *ctl;
    mts_control_req_t creq;   /* the request with the runner */
    const char *ctl_req;      /* its text while the runner has it (wait returned 3), else NULL */
    int ctl_read;             /* it is a read request: the next wait goes on with the same wait */
    int ctl_write;            /* it is a write request (logged, published at the reply) */
    char *ctl_buf;            /* a replayed request's text */
    int ctl_fresh;            /* ctl_buf holds the request of the wait being replayed */
    int64_t ctl_sig_first;    /* the engine's first signal after the warm-up */
    int ctl_burst;            /* requests served since the last websocket round (CONTROL_BURST) */
    /* issue 14: shadow strategies (live.h); books n_acct.. are the shadows' */
    int32_t n_acct;           /* the account's books */
    char *joined;             /* the live strategies "a,b": one shared book's strategy */
    int64_t beq_first[MTS_ENGINE_MAX_BOOKS], beq_done[MTS_ENGINE_MAX_BOOKS];   /* per book equity points:
                                 the first live one, the stored ones */
    mts_paper_book_t prow[MTS_ENGINE_MAX_BOOKS];   /* the step's paper_books rows */
    void *sc_beq_ts, *sc_beq_book, *sc_beq;        /* the step's paper_book_equity rows (scratch()) */
    int64_t sc_beq_ts_cap, sc_beq_book_cap, sc_beq_cap;
    char err[512];
};

/* ---- the input log (store/events.h) ---- */

static void record(mts_live_t *l, int kind, int32_t asset, int64_t t, double o, double h, double lo, double c,
                   double v, const char *ref, const char *info) {
    if (!l->rec) return;
    mts_sevent_t e;
    e.seq = 0;
    e.wait = l->waits;
    e.ts_ms = 0;
    e.kind = kind;
    e.asset = asset;
    e.t = t;
    e.o = o, e.h = h, e.l = lo, e.c = c, e.v = v;
    e.ref[0] = e.info[0] = 0;
    if (ref) snprintf(e.ref, sizeof e.ref, "%s", ref);
    if (info) snprintf(e.info, sizeof e.info, "%s", info);
    if (mts_events_add(l->rec, &e) != 0)
        mts_log(MTS_LOG_ERROR, "live.record_failed", "\"kind\":\"%s\",\"error\":\"out of memory\"",
                mts_event_kind_name(kind));
}

/* path relative to the session's root when under it */
static const char *rel_of(const mts_live_t *l, const char *path) {
    size_t n = strlen(l->root);
    if (!strncmp(path, l->root, n) && path[n] == '/') return path + n + 1;
    return path;
}

/* A file's content as the session has it now: a blob and a file event. A
 * file that cannot be read (or is not a regular file, or is over
 * MTS_RECORD_FILE_MAX) is recorded without content (a replay then has no
 * such file either). */
#define MTS_RECORD_FILE_MAX ((int64_t)64 << 20)
static void record_file(mts_live_t *l, const char *path) {
    if (!l->rec) return;
    /* a regular file only: a FIFO or a device would block the session here
     * (the loaders refuse them the same way: util/config.h mts_path_kind) */
    int64_t size = 0;
    FILE *f = mts_path_kind(path, &size) == MTS_PATH_REGULAR && size <= MTS_RECORD_FILE_MAX ? fopen(path, "rb") : NULL;
    char hash[65] = "";
    if (f) {
        size_t cap = 65536, n = 0;
        char *buf = mts_malloc(cap);
        while (buf) {
            size_t got = fread(buf + n, 1, cap - n, f);
            n += got;
            if (n < cap) break;
            char *b2 = mts_realloc(buf, cap * 2);
            if (!b2) { mts_free(buf); buf = NULL; break; }
            buf = b2;
            cap *= 2;
        }
        fclose(f);
        if (buf && mts_events_add_blob(l->rec, buf, n, hash) != 0) hash[0] = 0;
        mts_free(buf);
    }
    record(l, MTS_EVK_FILE, -1, hash[0] ? 1 : 0, 0, 0, 0, 0, 0, hash, rel_of(l, path));
}

static int write_events(mts_store_t *s, void *ud) {
    mts_live_t *l = ud;
    return mts_events_write(s, l->session_id, l->rec);
}

static int fail(mts_live_t *l, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, sizeof l->err, fmt, ap);
    va_end(ap);
    return rc;
}

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t mts_live_interval_ms(const char *iv) { return mts_ws_kline_interval(0, iv, NULL, 0); }

/* ---- the bar rule (market/bar_check.h) ---- */

/* Checks a closed bar of asset k (open time in ms) against the bar rule and,
 * when `clock`, its open time against the interval and the clock. 0: good;
 * else it is refused: logged ("live.bar_refused", with the source), counted. */
static int refuse_bad(mts_live_t *l, int k, int64_t open_ms, const double v[5], int clock, const char *source) {
    mts_bar_verdict_t w = {MTS_BAR_OK, -1, -1};
    int64_t now = mts_ws_now_ms();
    mts_bar_fault_t f = clock ? mts_bar_check_open(open_ms, l->iv_ms, now, CLOCK_SKEW_MS) : MTS_BAR_OK;
    if (f == MTS_BAR_OK && open_ms % 1000 != 0) f = MTS_BAR_MISALIGNED;
    if (f == MTS_BAR_OK) f = mts_bar_check(open_ms / 1000, v, &w);
    else w.fault = f;
    if (f == MTS_BAR_OK) return 0;
    char why[160];
    mts_bar_describe(&w, open_ms / 1000, v, why, sizeof why);
    l->st.refused++;
    mts_log(MTS_LOG_WARN, "live.bar_refused",
            "\"symbol\":\"%s\",\"open_ms\":%lld,\"reason\":\"%s\",\"detail\":\"%s\",\"source\":\"%s\","
            "\"ahead_ms\":%lld,\"refused\":%lld", l->a[k].symbol, (long long)open_ms, mts_bar_fault_name(f), why,
            source, (long long)(f == MTS_BAR_AHEAD ? open_ms + l->iv_ms - now : 0), (long long)l->st.refused);
    return 1;
}

/* ---- REST klines ---- */

static double jnum(const cJSON *x) {
    if (cJSON_IsNumber(x)) return x->valuedouble;
    if (cJSON_IsString(x) && x->valuestring) {
        char *end;
        double v = strtod(x->valuestring, &end);
        if (end != x->valuestring && !*end) return v;
    }
    return NAN;
}

static int64_t last_ts(const live_asset_t *a);
static int accept(mts_live_t *l, int k, int64_t ts, double o, double h, double lo, double c, double v,
                  int64_t recv_ns, const char *what);

/* Fetches closed klines of asset k with open time in [start_ms, end_ms]
 * (-1: open), at most limit, and appends those after the asset's last bar:
 * to the engine when `engine` (live), else straight into the arrays
 * (warm-up, before the start). Returns bars appended, or a negative MTS_E*. */
static int rest_klines(mts_live_t *l, int k, int64_t start_ms, int64_t end_ms, int limit, int engine) {
    live_asset_t *a = &l->a[k];
    char url[1024];
    size_t bl = strlen(l->rest_url);
    while (bl > 0 && l->rest_url[bl - 1] == '/') bl--;
    char range[96] = "";
    int bybit = l->cfg.exchange == MTS_EXCH_BYBIT;
    if (start_ms >= 0) snprintf(range, sizeof range, "&%s=%lld", bybit ? "start" : "startTime", (long long)start_ms);
    if (end_ms >= 0)
        snprintf(range + strlen(range), sizeof range - strlen(range), "&%s=%lld", bybit ? "end" : "endTime",
                 (long long)end_ms);
    if (bybit) {
        snprintf(url, sizeof url, "%.*s/v5/market/kline?category=linear&symbol=%s&interval=%s&limit=%d%s",
                 (int)bl, l->rest_url, a->symbol, l->venue_iv, limit, range);
    } else {
        snprintf(url, sizeof url, "%.*s/api/v3/klines?symbol=%s&interval=%s&limit=%d%s", (int)bl, l->rest_url,
                 a->symbol, l->interval, limit, range);
    }
    mts_http_response_t m;
    int hrc = mts_http_get(l->http, url, &m);
    if (hrc != 0 || !m.body) {
        /* the details (host, curl's error, retries) are in the client's http.* lines */
        mts_log(MTS_LOG_WARN, "live.rest_failed", "\"symbol\":\"%s\",\"status\":%ld,\"error\":\"%s\"", a->symbol,
                m.status, mts_strerror(hrc ? hrc : MTS_EAPI));
        mts_http_response_free(&m);
        return MTS_EAPI;
    }
    cJSON *root = cJSON_Parse(m.body);
    mts_http_response_free(&m);
    const cJSON *list = root;
    if (bybit) list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "result"), "list");
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(root);
        mts_log(MTS_LOG_WARN, "live.rest_malformed", "\"symbol\":\"%s\"", a->symbol);
        return MTS_EPARSE;
    }
    int cnt = cJSON_GetArraySize(list), added = 0, rc = 0;
    int64_t now = mts_ws_now_ms();
    for (int j = 0; j < cnt; j++) {
        /* Binance: oldest first; Bybit: newest first */
        const cJSON *row = cJSON_GetArrayItem(list, bybit ? cnt - 1 - j : j);
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) < 6) continue;
        double t = jnum(cJSON_GetArrayItem(row, 0));
        double o = jnum(cJSON_GetArrayItem(row, 1)), hi = jnum(cJSON_GetArrayItem(row, 2));
        double lo = jnum(cJSON_GetArrayItem(row, 3)), c = jnum(cJSON_GetArrayItem(row, 4));
        double v = jnum(cJSON_GetArrayItem(row, 5));
        if (!(t > -9e15 && t < 9e15)) continue;            /* no open time: malformed row */
        int64_t open_ms = (int64_t)t;
        if (open_ms + l->iv_ms > now) continue;            /* still open */
        if (end_ms >= 0 && open_ms > end_ms) continue;
        double bv[5] = {o, hi, lo, c, isfinite(v) ? v : 0};
        if (refuse_bad(l, k, open_ms, bv, 1, engine ? "backfill" : "warmup")) continue;
        int64_t ts = open_ms / 1000;
        if (engine ? ts <= last_ts(a) : (a->bars.n > 0 && ts <= a->bars.ts[a->bars.n - 1])) continue;
        if (engine) {
            rc = accept(l, k, ts, o, hi, lo, c, isfinite(v) ? v : 0, mono_ns(), "live.backfill_rejected");
            if (rc == MTS_ERANGE) { rc = 0; continue; }
            if (rc) break;
        } else {
            if (a->bars.n == a->bars.cap) break;
            int64_t i = a->bars.n++;
            a->bars.ts[i] = ts;
            a->bars.open[i] = o;
            a->bars.high[i] = hi;
            a->bars.low[i] = lo;
            a->bars.close[i] = c;
            a->bars.volume[i] = isfinite(v) ? v : 0;
        }
        added++;
    }
    cJSON_Delete(root);
    return rc ? rc : added;
}

/* ---- bars from the stream ---- */

static int asset_of(mts_live_t *l, const char *sym) {
    for (int k = 0; k < l->n; k++)
        if (!strcmp(l->a[k].symbol, sym)) return k;
    return -1;
}

/* The newest bar known for asset a (unix s): its last pending one, else the
 * last in its arrays; INT64_MIN when it has none. */
static int64_t last_ts(const live_asset_t *a) {
    if (a->q_n > 0) return a->q[(a->q_head + a->q_n - 1) % PEND_CAP].ts;
    return a->bars.n > 0 ? a->bars.ts[a->bars.n - 1] : INT64_MIN;
}

/* Appends one bar of asset k to the engine now; counts it (live_bars, a
 * second pass when its step already ran in an earlier wait, late when the
 * engine refuses it as older than the current step: MTS_ERANGE). */
static int append_now(mts_live_t *l, int k, int64_t ts, double o, double h, double lo, double c, double v,
                      int64_t recv_ns, const char *what) {
    live_asset_t *a = &l->a[k];
    int rc = mts_engine_append_bar(l->engine, a->id, ts, o, h, lo, c, v);
    if (rc) {
        if (rc == MTS_ERANGE) l->st.late++;
        mts_log(MTS_LOG_WARN, what, "\"symbol\":\"%s\",\"error\":\"%s\"", a->symbol, mts_engine_errmsg(l->engine));
        return rc;
    }
    record(l, MTS_EVK_BAR, k, ts, o, h, lo, c, v, NULL, NULL);
    if (ts > l->cur_ts) {
        l->cur_ts = ts;
        l->cur_wait = l->waits;
    } else if (ts == l->cur_ts && l->cur_wait != l->waits) {
        l->st.second_passes++;         /* the runner steps through cur_ts again */
        l->cur_wait = l->waits;
        mts_log(MTS_LOG_INFO, "live.second_pass", "\"symbol\":\"%s\",\"open_ms\":%lld", a->symbol,
                (long long)ts * 1000);
    }
    if (!l->appended) l->round_recv_ns = recv_ns;
    l->appended++;
    l->st.live_bars++;
    return MTS_OK;
}

/* Releases the oldest pending step (open time T = the smallest head): the
 * heads at T appended in asset order; the symbols without one are logged. */
static void release_step(mts_live_t *l, int64_t T, int64_t first_recv) {
    char missing[512];
    size_t ml = 0;
    int n_missing = 0;
    missing[0] = 0;
    for (int k = 0; k < l->n; k++) {
        live_asset_t *a = &l->a[k];
        if (a->q_n > 0 && a->q[a->q_head].ts == T) continue;
        int w = snprintf(missing + ml, sizeof missing - ml, "%s\"%s\"", n_missing ? "," : "", a->symbol);
        if (w > 0 && (size_t)w < sizeof missing - ml) ml += (size_t)w;
        n_missing++;
    }
    l->st.steps++;
    if (n_missing) {
        l->st.steps_incomplete++;
        mts_log(MTS_LOG_WARN, "live.step_incomplete", "\"open_ms\":%lld,\"missing\":[%s],\"waited_ms\":%.1f",
                (long long)T * 1000, missing, (double)(mono_ns() - first_recv) / 1e6);
    }
    for (int k = 0; k < l->n; k++) {
        live_asset_t *a = &l->a[k];
        if (a->q_n == 0 || a->q[a->q_head].ts != T) continue;
        pend_bar_t *p = &a->q[a->q_head];
        a->q_head = (a->q_head + 1) % PEND_CAP;
        a->q_n--;
        (void)append_now(l, k, p->ts, p->o, p->h, p->l, p->c, p->v, first_recv, "live.bar_rejected");
    }
}

/* The oldest pending step: its open time T (the smallest head), the first
 * receipt of its bars, and whether every symbol has a pending bar. 0: none. */
static int oldest_step(const mts_live_t *l, int64_t *T, int64_t *first, int *all) {
    *T = INT64_MAX;
    *first = INT64_MAX;
    *all = 1;
    for (int k = 0; k < l->n; k++) {
        const live_asset_t *a = &l->a[k];
        if (a->q_n == 0) *all = 0;
        else if (a->q[a->q_head].ts < *T) *T = a->q[a->q_head].ts;
    }
    if (*T == INT64_MAX) return 0;
    for (int k = 0; k < l->n; k++) {
        const live_asset_t *a = &l->a[k];
        if (a->q_n > 0 && a->q[a->q_head].ts == *T && a->q[a->q_head].recv_ns < *first) *first = a->q[a->q_head].recv_ns;
    }
    return 1;
}

/* Releases every pending step that is due, oldest first: all symbols have a
 * pending bar (at the step's time, or later: the missing one will not come),
 * or the grace has passed since the step's first bar arrived. */
static void release_due(mts_live_t *l) {
    int64_t T, first;
    int all;
    while (oldest_step(l, &T, &first, &all)) {
        if (!all && mono_ns() - first < l->align_ns) return;
        release_step(l, T, first);
    }
}

/* A closed bar of asset k, after the duplicate and gap checks: straight to
 * the engine without alignment (or for a step already released), else
 * pending until its step is due. 0, or the engine's error (MTS_ERANGE: late). */
static int accept(mts_live_t *l, int k, int64_t ts, double o, double h, double lo, double c, double v,
                  int64_t recv_ns, const char *what) {
    if (!l->align || ts <= l->cur_ts) return append_now(l, k, ts, o, h, lo, c, v, recv_ns, what);
    live_asset_t *a = &l->a[k];
    while (a->q_n == PEND_CAP) {          /* a symbol far ahead of the others: make room */
        int64_t T, first;
        int all;
        if (!oldest_step(l, &T, &first, &all)) break;
        release_step(l, T, first);
    }
    pend_bar_t *p = &a->q[(a->q_head + a->q_n) % PEND_CAP];
    *p = (pend_bar_t){.ts = ts, .recv_ns = recv_ns, .o = o, .h = h, .l = lo, .c = c, .v = v};
    a->q_n++;
    release_due(l);
    return MTS_OK;
}

static void on_kline(mts_live_t *l, const mts_feed_event_t *ev) {
    if (!ev->bar_closed) return;
    int k = asset_of(l, ev->symbol);
    if (k < 0) return;
    live_asset_t *a = &l->a[k];
    int64_t recv = mts_ws_message_ns(l->ws);   /* the frame was complete, not yet decoded */
    if (recv <= 0) recv = mono_ns();
    int64_t open_ms = ev->bar_open_ms;
    /* the bar rule and the open time (on the interval's grid, closed by our
     * clock) before anything else: a bad bar must not become the "last bar"
     * that later real ones are duplicates of, nor open a gap */
    double bv[5] = {ev->open, ev->high, ev->low, ev->price, isfinite(ev->qty) ? ev->qty : 0};
    if (refuse_bad(l, k, open_ms, bv, 1, "stream")) return;
    int64_t ts = open_ms / 1000;
    int64_t last = last_ts(a);
    if (last != INT64_MIN) {
        int64_t last_ms = last * 1000;
        if (open_ms <= last_ms) {
            l->st.duplicates++;
            mts_log(MTS_LOG_INFO, "live.duplicate", "\"symbol\":\"%s\",\"open_ms\":%lld", a->symbol,
                    (long long)open_ms);
            return;
        }
        if (open_ms > last_ms + l->iv_ms) {
            /* bounded: the newest BACKFILL_MAX missing bars at most (one REST page) */
            int64_t missing = (open_ms - last_ms) / l->iv_ms - 1;
            int64_t want = missing < BACKFILL_MAX ? missing : BACKFILL_MAX;
            int64_t from = missing > BACKFILL_MAX ? open_ms - BACKFILL_MAX * l->iv_ms : last_ms + l->iv_ms;
            l->st.gaps++;
            mts_log(MTS_LOG_WARN, "live.gap", "\"symbol\":\"%s\",\"after_ms\":%lld,\"next_ms\":%lld,\"missing\":%lld,"
                    "\"requested\":%lld", a->symbol, (long long)last_ms, (long long)open_ms, (long long)missing,
                    (long long)want);
            int got = rest_klines(l, k, from, open_ms - 1, (int)want, 1);
            if (got > 0) l->st.backfilled += got;
            mts_log(got == missing ? MTS_LOG_INFO : MTS_LOG_WARN, "live.backfill",
                    "\"symbol\":\"%s\",\"missing\":%lld,\"requested\":%lld,\"capped\":%s,\"backfilled\":%d",
                    a->symbol, (long long)missing, (long long)want, missing > want ? "true" : "false", got > 0 ? got : 0);
        }
    }
    (void)accept(l, k, ts, ev->open, ev->high, ev->low, ev->price, isfinite(ev->qty) ? ev->qty : 0, recv,
                 "live.bar_rejected");
}

/* The client's events: closed klines go to on_kline (borrowed for the call). */
static void on_ws_event(void *ud, const mts_feed_event_t *ev, const mts_book_t *book) {
    (void)book;
    if (ev->kind == MTS_FEV_BAR) on_kline(ud, ev);
}

/* ---- control ---- */

static void poll_watches(mts_live_t *l) {
    for (int k = 0; k < l->n_watch; k++) {
        struct stat sb;
        if (stat(l->watches[k].path, &sb) != 0) continue;
        int64_t m = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        if (m != l->watches[k].mtime_ns || (int64_t)sb.st_size != l->watches[k].size) {
            l->watches[k].mtime_ns = m;
            l->watches[k].size = (int64_t)sb.st_size;
            l->reload_mask |= (int32_t)1 << k;
            mts_log(MTS_LOG_INFO, "live.file_changed", "\"file\":\"%s\"", l->watches[k].path);
        }
    }
}

/* ---- macro refresh: VIX values stored after the session started ---- */

#define MACRO_RESERVE 100000     /* VIX rows a session can append (274 years of days) */
#define MACRO_REFRESH_MS 60000   /* default period; MTS_MACRO_REFRESH_S overrides, 0 = off */

/* Appends the stored VIX rows dated after the newest one held (newer
 * observations only: a stored row for a day already held is not re-read).
 * Returns the rows added, or -1 when the store could not be read (logged;
 * the next refresh tries again). */
static int64_t vix_refresh(mts_live_t *l, int quiet) {
    mts_series_t *v = &l->vix;
    int64_t from = v->n > 0 ? v->ts[v->n - 1] + 1 : INT64_MIN;
    if (mts_store_load_macro(l->cfg.store, "VIX", from, INT64_MAX, &l->vix_new) != 0) {
        mts_log(MTS_LOG_WARN, "live.macro_refresh_failed", "\"indicator\":\"VIX\",\"error\":\"%s\"",
                mts_store_errmsg(l->cfg.store));
        return -1;
    }
    int64_t k = 0;
    for (int64_t i = 0; i < l->vix_new.n; i++) {
        if (v->n == v->cap) {
            if (!l->vix_full_logged)
                mts_log(MTS_LOG_WARN, "live.macro_full", "\"indicator\":\"VIX\",\"rows\":%lld", (long long)v->n);
            l->vix_full_logged = 1;
            break;
        }
        v->ts[v->n] = l->vix_new.ts[i];
        v->v[v->n] = l->vix_new.v[i];
        v->n++;
        k++;
    }
    if (v->n > 0 && !l->vix_added && mts_engine_add_macro(l->engine, "VIX", v) == 0) l->vix_added = 1;
    if (k > 0 && l->rec) {   /* the rows appended: int64 ts[k] then double v[k] */
        size_t sz = (size_t)k * (sizeof(int64_t) + sizeof(double));
        char *b = mts_malloc(sz), hash[65];
        if (b) {
            memcpy(b, v->ts + (v->n - k), (size_t)k * sizeof(int64_t));
            memcpy(b + (size_t)k * sizeof(int64_t), v->v + (v->n - k), (size_t)k * sizeof(double));
            if (mts_events_add_blob(l->rec, b, sz, hash) == 0) record(l, MTS_EVK_MACRO, -1, k, 0, 0, 0, 0, 0, hash, "VIX");
            mts_free(b);
        }
    }
    if (k > 0 && !quiet) {
        char d[16];
        mts_time_format_date(v->ts[v->n - 1], d);
        mts_log(MTS_LOG_INFO, "live.macro_refreshed", "\"indicator\":\"VIX\",\"added\":%lld,\"last\":\"%s\"",
                (long long)k, d);
    }
    return k;
}

/* A replay: the VIX rows a recorded macro event appended. */
static int replay_macro(mts_live_t *l, const mts_sevent_t *e) {
    const void *d;
    size_t n;
    int rc = mts_replay_blob(l->rp, e->ref, &d, &n);
    if (rc) return fail(l, rc, "replay: the recorded VIX rows (%s) are missing", e->ref);
    int64_t k = e->t;
    if ((size_t)k * (sizeof(int64_t) + sizeof(double)) != n) return fail(l, MTS_EPARSE, "replay: bad VIX record");
    mts_series_t *v = &l->vix;
    for (int64_t i = 0; i < k && v->n < v->cap; i++) {
        memcpy(&v->ts[v->n], (const char *)d + (size_t)i * sizeof(int64_t), sizeof(int64_t));
        memcpy(&v->v[v->n], (const char *)d + (size_t)k * sizeof(int64_t) + (size_t)i * sizeof(double), sizeof(double));
        v->n++;
    }
    if (v->n > 0 && !l->vix_added && mts_engine_add_macro(l->engine, "VIX", v) == 0) l->vix_added = 1;
    return 0;
}

/* VIX for the macro-aware strategies (vix_correlation, mean_reversion), as
 * `mts backtest` gives it: the series stored when the session starts (the
 * bundled CBOE file is imported on first use), then every macro_every_ms
 * and on SIGHUP the rows stored since (mts collect --schedule). The
 * strategies align it as-of to each bar, so bars after its newest value use
 * that value. None at all: those strategies say what is missing. A refresh
 * that adds values reloads every strategy (check()). */
static int vix_open(mts_live_t *l) {
    const char *e = getenv("MTS_MACRO_REFRESH_S");
    l->macro_every_ms = MACRO_REFRESH_MS;
    if (e && *e) {
        char *end;
        double sec = strtod(e, &end);
        if (*end || !(sec >= 0 && sec <= 86400))
            return fail(l, MTS_EINVAL, "MTS_MACRO_REFRESH_S must be seconds between 0 (off) and 86400, got '%s'", e);
        l->macro_every_ms = (int64_t)(sec * 1000);
    }
    int64_t n0 = 0;
    if (l->rp) {   /* a replay: the rows the session loaded at open, from the record */
        l->macro_every_ms = 0;
        const mts_sevent_t *e = mts_replay_peek(l->rp);
        if (e && e->wait == 0 && e->kind == MTS_EVK_MACRO) n0 = e->t;
    } else {
        (void)mts_store_ensure_macro(l->cfg.store, mts_root(), "VIX");
        (void)mts_store_count_macro(l->cfg.store, "VIX", &n0);
    }
    int64_t cap = n0 + MACRO_RESERVE;
    l->vix.ts = mts_malloc((size_t)cap * sizeof *l->vix.ts);
    l->vix.v = mts_malloc((size_t)cap * sizeof *l->vix.v);
    if (!l->vix.ts || !l->vix.v) return fail(l, MTS_ENOMEM, "VIX: out of memory");
    l->vix.cap = cap;
    l->vix.n = 0;
    l->last_macro_ms = mts_ws_now_ms();
    if (l->rp) {
        const mts_sevent_t *e = mts_replay_peek(l->rp);
        if (e && e->wait == 0 && e->kind == MTS_EVK_MACRO) {
            int rc = replay_macro(l, e);
            mts_replay_advance(l->rp);
            if (rc) return rc;
        }
        return 0;
    }
    (void)vix_refresh(l, 1);
    return 0;
}

/* ---- funding of the perps (issue 12; live.h "Books, instruments and funding") ---- */

#define FUNDING_RESERVE 4096     /* settlements reserved per perp at open (the engine grows them) */
#define FUNDING_WINDOW_S 86400   /* a refresh re-reads the rows from this long before the last
                                    settlement handed over: every row that can make a later one */

static int fr_grow(mts_live_t *l, int64_t need) {
    if (need <= l->fr_cap) return 0;
    int64_t c = l->fr_cap ? l->fr_cap * 2 : 1024;
    while (c < need) c *= 2;
    int64_t *t = mts_realloc(l->fr_ts, (size_t)c * sizeof *t);
    if (t) l->fr_ts = t;
    int64_t *x = mts_realloc(l->fr_next, (size_t)c * sizeof *x);
    if (x) l->fr_next = x;
    double *r = mts_realloc(l->fr_rate, (size_t)c * sizeof *r);
    if (r) l->fr_rate = r;
    double *m = mts_realloc(l->fr_mark, (size_t)c * sizeof *m);
    if (m) l->fr_mark = m;
    if (!t || !x || !r || !m) return -1;
    l->fr_cap = c;
    return 0;
}

/* Perp asset k: reads its stored funding rows (from FUNDING_WINDOW_S before
 * the last settlement handed over; all of them the first time), builds the
 * settlement events by market/funding.h's rule and appends those after the
 * last one to the engine. Returns the events added, or -1 when the store
 * could not be read (logged; the next refresh tries again). */
static int64_t funding_refresh(mts_live_t *l, int k, int quiet) {
    live_asset_t *a = &l->a[k];
    const mts_funding_events_t *f = &a->fev;
    int64_t last = f->n > 0 ? f->ts[f->n - 1] : INT64_MIN;
    int64_t from_ms = last != INT64_MIN ? (last - FUNDING_WINDOW_S) * 1000 : INT64_MIN;
    sqlite3 *db = mts_store_db(l->cfg.store);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT ts_ms, rate, mark_price, next_funding_ms FROM funding_rates"
                                    " WHERE exchange = ?1 AND symbol = ?2 AND ts_ms >= ?3 ORDER BY ts_ms",
                                -1, &st, NULL);
    int64_t n = 0;
    int oom = 0;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, a->fexch, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, a->fsym, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, from_ms);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (fr_grow(l, n + 1)) {
                oom = 1;
                break;
            }
            l->fr_ts[n] = sqlite3_column_int64(st, 0);
            l->fr_rate[n] = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
            l->fr_mark[n] = sqlite3_column_type(st, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 2);
            l->fr_next[n] = sqlite3_column_type(st, 3) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 3);
            n++;
        }
        if (rc == SQLITE_DONE || rc == SQLITE_ROW) rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK || oom) {
        if (!l->funding_failed_logged)
            mts_log(MTS_LOG_WARN, "live.funding_refresh_failed", "\"symbol\":\"%s\",\"exchange\":\"%s\","
                    "\"error\":\"%s\"", a->fsym, a->fexch, oom ? "out of memory" : sqlite3_errmsg(db));
        l->funding_failed_logged = 1;
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    l->funding_failed_logged = 0;
    mts_funding_events_t ev = {0};
    if (n == 0) return 0;
    if (mts_funding_events_build_ms(l->fr_ts, l->fr_rate, l->fr_mark, l->fr_next, n, &ev) != 0) {
        mts_log(MTS_LOG_WARN, "live.funding_refresh_failed", "\"symbol\":\"%s\",\"error\":\"out of memory\"",
                a->fsym);
        return -1;
    }
    int64_t added = 0;
    int64_t bar_last = a->bars.n > 0 ? a->bars.ts[a->bars.n - 1] : INT64_MIN;
    for (int64_t i = 0; i < ev.n; i++) {
        if (ev.ts[i] <= last) continue;
        int arc = mts_engine_append_funding(l->engine, a->id, ev.ts[i], ev.rate[i], ev.mark[i]);
        if (arc) {
            mts_log(MTS_LOG_WARN, "live.funding_rejected", "\"symbol\":\"%s\",\"error\":\"%s\"", a->fsym,
                    mts_engine_errmsg(l->engine));
            continue;
        }
        added++;
        record(l, MTS_EVK_FUNDING, k, ev.ts[i], ev.rate[i], ev.mark[i], 0, 0, 0, NULL, NULL);
        /* stored after the bar at or after its time ran: the engine pays it at the next bar */
        if (l->warm_done && a->bars.n > 0 && ev.ts[i] >= a->bars.ts[0] && ev.ts[i] <= bar_last)
            mts_log(MTS_LOG_WARN, "live.funding_late", "\"symbol\":\"%s\",\"settlement\":%lld,\"last_bar\":%lld",
                    a->fsym, (long long)ev.ts[i], (long long)bar_last);
    }
    mts_funding_events_free(&ev);
    l->st.funding_events += added;
    if (added > 0 && !quiet)
        mts_log(MTS_LOG_INFO, "live.funding_refreshed", "\"symbol\":\"%s\",\"exchange\":\"%s\",\"added\":%lld,"
                "\"last\":%lld", a->fsym, a->fexch, (long long)added, (long long)a->fev.ts[a->fev.n - 1]);
    return added;
}

static void funding_refresh_all(mts_live_t *l, int quiet) {
    for (int k = 0; k < l->n; k++)
        if (l->a[k].perp) (void)funding_refresh(l, k, quiet);
}

/* Flags, duration, watches: may set stopping / reload_mask. */
static void check(mts_live_t *l) {
    int64_t now = mts_ws_now_ms();
    if (l->cfg.stop && *l->cfg.stop) l->stopping = 1;
    if (l->cfg.duration_ms > 0 && now - l->started_ms >= l->cfg.duration_ms) l->stopping = 1;
    if (l->cfg.hup && *l->cfg.hup) {
        *l->cfg.hup = 0;
        l->reload_mask = -1;
        l->macro_due = 1;
        mts_log(MTS_LOG_INFO, "live.sighup", "\"reload\":\"all\"");
    }
    if (l->macro_due || (l->macro_every_ms > 0 && now - l->last_macro_ms >= l->macro_every_ms)) {
        l->macro_due = 0;
        l->last_macro_ms = now;
        /* new values: every strategy is reloaded (init again, history
         * replayed), so what it copied in init (mts.asof_stream(ctx.macro
         * ("VIX")), as the bundled strategies do) holds them too */
        if (vix_refresh(l, 0) > 0) l->reload_mask = -1;
        funding_refresh_all(l, 0);   /* the engine pays them itself: no reload */
    }
    if (now - l->last_watch_poll >= 1000) {
        l->last_watch_poll = now;
        poll_watches(l);
    }
}

/* ---- commit: what the finished step produced ---- */


static void print_signal(mts_live_t *l, const mts_signal_rec_t *s, const char *strategy, const char *asset) {
    FILE *f = l->cfg.out;
    if (!f) return;
    char iso[32];
    mts_time_format_iso(s->ts, iso);
    if (l->cfg.json) {
        fprintf(f, "{\"type\":\"signal\",\"session\":%lld,\"ts\":%lld,\"time\":\"%s\",\"strategy\":\"", (long long)l->session_id,
                (long long)s->ts, iso);
        mts_json_escape(f, strategy);
        fprintf(f, "\",\"shadow\":%s,\"asset\":\"", s->strategy >= l->cfg.n_strategies ? "true" : "false");
        mts_json_escape(f, asset);
        fprintf(f, "\",\"signal_type\":\"%s\",\"price\":", mts_signal_name(s->signal_type));
        mts_json_number(f, s->price);
        fprintf(f, ",\"confidence\":");
        mts_json_number(f, s->confidence);
        fprintf(f, "}\n");
    } else if (s->strategy >= l->cfg.n_strategies) {
        fprintf(f, "%s  signal  shadow %-14s %-10s %-5s price %.2f\n", iso, strategy, asset,
                mts_signal_name(s->signal_type), s->price);
    } else {
        fprintf(f, "%s  signal  %-14s %-10s %-5s price %.2f\n", iso, strategy, asset, mts_signal_name(s->signal_type),
                s->price);
    }
}

static const char *fill_kind(int k) {
    static const char *kinds[] = {"market", "limit", "stop", "stop_loss", "take_profit", "liquidation"};
    return k >= 0 && k <= 5 ? kinds[k] : "?";
}

/* ---- shadow strategies (issue 14; live.h) ---- */

static void *scratch(void **p, int64_t *cap, int64_t n, size_t sz);

/* A strategy id's name: a live strategy's, else a shadow's label; NULL when not known. */
static const char *strategy_label(const mts_live_t *l, int32_t id) {
    if (id >= 0 && id < l->cfg.n_strategies) return l->cfg.strategies[id];
    if (id >= l->cfg.n_strategies && id - l->cfg.n_strategies < l->cfg.n_shadows)
        return l->cfg.shadows[id - l->cfg.n_strategies];
    return NULL;
}

static int shadow_book(const mts_live_t *l, int32_t book) { return book >= l->n_acct; }

/* A book's strategy: a shadow's label, the strategy of its own book, or the
 * live strategies "a,b" sharing one book. */
static const char *book_strategy(const mts_live_t *l, int32_t book) {
    if (shadow_book(l, book)) {
        int32_t j = book - l->n_acct;
        return j < l->cfg.n_shadows ? l->cfg.shadows[j] : "?";
    }
    if (l->cfg.n_books > 0 && book < l->cfg.n_strategies) return l->cfg.strategies[book];
    return l->joined ? l->joined : "?";
}

/* The strategy whose order a fill was (a stop-loss, take-profit or
 * liquidation: the position's opening one); NULL when not known. A shadow
 * book's fill: its shadow's label. */
static const char *fill_strategy(const mts_live_t *l, const mts_fill_rec_t *x) {
    if (shadow_book(l, x->book)) return book_strategy(l, x->book);
    return x->strategy >= 0 && x->strategy < l->cfg.n_strategies ? l->cfg.strategies[x->strategy] : NULL;
}

/* The step's paper_books rows (every book) and, with more than one book, its
 * paper_book_equity points (each book's curve since the last stored point,
 * that one again: a step that ran twice rewrites it), into step. Scratch
 * arrays kept from step to step. 0 / MTS_ENOMEM. */
static int step_books(mts_live_t *l, mts_paper_step_t *step) {
    mts_engine_t *e = l->engine;
    int32_t nb = mts_engine_book_count(e);
    if (nb <= 0) return 0;
    if (nb > MTS_ENGINE_MAX_BOOKS) nb = MTS_ENGINE_MAX_BOOKS;
    for (int32_t k = 0; k < nb; k++) {
        mts_book_stats_t st;
        if (mts_engine_book_stats(e, k, &st) != 0) memset(&st, 0, sizeof st);
        l->prow[k] = (mts_paper_book_t){.book = k, .strategy = book_strategy(l, k), .shadow = shadow_book(l, k),
                                        .initial = st.initial, .equity = st.equity, .cash = st.cash,
                                        .fees = st.fees, .funding = st.funding, .fills = st.fills,
                                        .trades = st.trades};
    }
    step->books = l->prow;
    step->n_books = nb;
    step->books_ts = l->cur_ts != INT64_MIN ? l->cur_ts : 0;
    if (nb < 2) return 0;
    int64_t n = 0;
    for (int32_t k = 0; k < nb; k++) {
        const mts_portfolio_t *p = mts_engine_book(e, k);
        int64_t from = l->beq_done[k] > l->beq_first[k] ? l->beq_done[k] - 1 : l->beq_first[k];
        if (p && p->equity.n > from) n += p->equity.n - from;
    }
    if (n == 0) return 0;
    int64_t *ts = scratch(&l->sc_beq_ts, &l->sc_beq_ts_cap, n, sizeof *ts);
    int32_t *bk = scratch(&l->sc_beq_book, &l->sc_beq_book_cap, n, sizeof *bk);
    double *eq = scratch(&l->sc_beq, &l->sc_beq_cap, n, sizeof *eq);
    if (!ts || !bk || !eq) return MTS_ENOMEM;
    int64_t m = 0;
    for (int32_t k = 0; k < nb; k++) {
        const mts_portfolio_t *p = mts_engine_book(e, k);
        int64_t from = l->beq_done[k] > l->beq_first[k] ? l->beq_done[k] - 1 : l->beq_first[k];
        for (int64_t i = from; p && i < p->equity.n; i++, m++) {
            ts[m] = p->equity.ts[i];
            bk[m] = k;
            eq[m] = p->equity.v[i];
        }
    }
    step->book_eq_ts = ts;
    step->book_eq_book = bk;
    step->book_eq = eq;
    step->n_book_eq = m;
    return 0;
}

/* After a stored step (first: after the warm-up, the points so far are not the session's). */
static void books_done(mts_live_t *l, int first) {
    int32_t nb = mts_engine_book_count(l->engine);
    for (int32_t k = 0; k < nb && k < MTS_ENGINE_MAX_BOOKS; k++) {
        const mts_portfolio_t *p = mts_engine_book(l->engine, k);
        int64_t n = p ? p->equity.n : 0;
        if (first) l->beq_first[k] = n;
        l->beq_done[k] = n;
    }
}

double mts_live_shadow_capital(const char *label, const char *const *strategies, int n_strategies,
                               int32_t n_books, const double *alloc, double capital, double shadow_capital) {
    if (shadow_capital > 0) return shadow_capital;
    if (!label || n_books <= 0 || !alloc || !strategies) return capital;
    size_t nl = strcspn(label, ":");
    for (int k = 0; k < n_strategies && k < n_books; k++) {
        const char *s = strategies[k];
        if (!s) continue;
        if (strlen(s) == nl && !strncmp(s, label, nl)) return capital * alloc[k];
        /* a path: its file name without .lua, either side */
        const char *b = strrchr(s, '/');
        b = b ? b + 1 : s;
        size_t bl = strlen(b);
        if (bl > 4 && !strcmp(b + bl - 4, ".lua")) bl -= 4;
        const char *lb = label, *q;
        for (q = label; q < label + nl; q++) if (*q == '/') lb = q + 1;
        size_t ll = (size_t)(label + nl - lb);
        if (ll > 4 && !strncmp(label + nl - 4, ".lua", 4)) ll -= 4;
        if (bl == ll && !strncmp(b, lb, bl)) return capital * alloc[k];
    }
    return capital;
}

static void print_fill(mts_live_t *l, const mts_fill_rec_t *x, const char *asset) {
    FILE *f = l->cfg.out;
    if (!f) return;
    char iso[32];
    mts_time_format_iso(x->ts, iso);
    const char *kind = fill_kind(x->kind);
    const char *strategy = fill_strategy(l, x);
    if (l->cfg.json) {
        fprintf(f, "{\"type\":\"fill\",\"session\":%lld,\"ts\":%lld,\"time\":\"%s\",\"asset\":\"", (long long)l->session_id,
                (long long)x->ts, iso);
        mts_json_escape(f, asset);
        fprintf(f, "\",\"side\":\"%s\",\"kind\":\"%s\",\"qty\":", x->qty > 0 ? "buy" : "sell", kind);
        mts_json_number(f, fabs(x->qty));
        fprintf(f, ",\"price\":");
        mts_json_number(f, x->price);
        fprintf(f, ",\"fee\":");
        mts_json_number(f, x->fee);
        fprintf(f, ",\"realized_pnl\":");
        mts_json_number(f, x->realized_pnl);
        fprintf(f, ",\"book\":%d,\"strategy\":", (int)x->book);
        if (strategy) {
            fputc('"', f);
            mts_json_escape(f, strategy);
            fputc('"', f);
        } else {
            fputs("null", f);
        }
        fprintf(f, ",\"shadow\":%s,\"reason\":\"%s\",\"funding\":", shadow_book(l, x->book) ? "true" : "false",
                mts_reason_name(x->reason));
        mts_json_number(f, x->funding);
        fprintf(f, ",\"equity\":");
        mts_json_number(f, mts_engine_equity(l->engine));
        fprintf(f, "}\n");
    } else {
        fprintf(f, "%s  fill    %-10s %-4s %.8g @ %.2f  fee %.2f  (%s%s%s%s)", iso, asset, x->qty > 0 ? "buy" : "sell",
                fabs(x->qty), x->price, x->fee, kind, strategy ? shadow_book(l, x->book) ? ", shadow " : ", " : "",
                strategy ? strategy : "",
                x->reason != MTS_REASON_SIGNAL ? x->reason == MTS_REASON_LIQUIDATION ? ", LIQUIDATED" : "" : "");
        if (x->funding != 0) fprintf(f, "  funding %.2f", x->funding);
        fputc('\n', f);
    }
}

/* ---- bus and cache (docs/live.md lists the fields) ---- */

static void publish(mts_live_t *l, const char *topic, const char *payload, int n) {
    if (!l->bus || n <= 0) return;
    int rc = mts_bus_publish(l->bus, topic, payload, (size_t)n);
    if (rc && !l->bus_failed_logged) {
        l->bus_failed_logged = 1;
        mts_log(MTS_LOG_WARN, "live.bus_failed", "\"error\":\"%s\"", mts_bus_errmsg(l->bus));
    } else if (!rc) {
        l->bus_failed_logged = 0;
    }
}

static int fmt_num(char *b, size_t n, double v) {
    return isfinite(v) ? snprintf(b, n, "%.17g", v) : snprintf(b, n, "null");
}

static void publish_session(mts_live_t *l, const char *status) {
    char buf[512], eq[40];
    fmt_num(eq, sizeof eq, mts_engine_equity(l->engine));
    int n = snprintf(buf, sizeof buf, "{\"session\":%lld,\"status\":\"%s\",\"exchange\":\"%s\",\"interval\":\"%s\","
                     "\"bars\":%lld,\"equity\":%s}", (long long)l->session_id, status,
                     mts_exchange_name(l->cfg.exchange), l->interval, (long long)l->st.live_bars, eq);
    if (n > 0 && (size_t)n < sizeof buf) publish(l, "session", buf, n);
}

/* eq_new: index in p->equity of the first point not published before (the
 * commit rewrites the previous point in SQLite in case its step grew). */
static void publish_step(mts_live_t *l, const mts_paper_step_t *p, const mts_signal_rec_t *sigs,
                         const mts_fill_rec_t *fills, int64_t eq_new) {
    if (!l->bus && !l->cache) return;
    char buf[1024], key[256], a[40], b[40], c[40], d[40], e5[40];
    /* one batch each: one Redis round trip (or one SQLite transaction) a step */
    if (l->cache) mts_cache_begin(l->cache);
    if (l->bus) mts_bus_begin(l->bus);
    for (int64_t i = 0; i < p->n_bars; i++) {
        const mts_live_bar_t *x = &p->bars[i];
        fmt_num(a, sizeof a, x->open); fmt_num(b, sizeof b, x->high); fmt_num(c, sizeof c, x->low);
        fmt_num(d, sizeof d, x->close); fmt_num(e5, sizeof e5, x->volume);
        int n = snprintf(buf, sizeof buf, "{\"exchange\":\"%s\",\"symbol\":\"%s\",\"interval\":\"%s\",\"open_ms\":%lld,"
                         "\"open\":%s,\"high\":%s,\"low\":%s,\"close\":%s,\"volume\":%s}", x->exchange, x->symbol,
                         x->interval, (long long)x->open_ms, a, b, c, d, e5);
        if (n <= 0 || (size_t)n >= sizeof buf) continue;
        publish(l, "bar", buf, n);
        if (l->cache && mts_cache_key_market(key, sizeof key, x->symbol, x->interval, x->open_ms / 1000) > 0)
            mts_cache_set(l->cache, key, buf, (size_t)n, MTS_TTL_MARKET);
        /* ...:latest, the newest bar (what `mts serve` GET /market reads) */
        if (l->cache && snprintf(key, sizeof key, "market:%s:%s:latest", x->symbol, x->interval) < (int)sizeof key)
            mts_cache_set(l->cache, key, buf, (size_t)n, MTS_TTL_MARKET);
    }
    for (int64_t i = 0; i < p->n_signals; i++) {
        const mts_signal_row_t *r = &p->signals[i];
        fmt_num(a, sizeof a, r->price); fmt_num(b, sizeof b, r->confidence); fmt_num(c, sizeof c, r->position_size);
        fmt_num(d, sizeof d, r->stop_loss); fmt_num(e5, sizeof e5, r->take_profit);
        int n = snprintf(buf, sizeof buf, "{\"session\":%lld,\"ts\":%lld,\"strategy\":\"%s\",\"shadow\":%s,"
                         "\"asset\":\"%s\",\"signal_type\":\"%s\",\"price\":%s,\"confidence\":%s,"
                         "\"position_size\":%s,\"stop_loss\":%s,\"take_profit\":%s}", (long long)l->session_id,
                         (long long)r->ts, r->strategy_name, sigs[i].strategy >= l->cfg.n_strategies ? "true" : "false",
                         r->asset, r->signal_type, a, b, c, d, e5);
        if (n <= 0 || (size_t)n >= sizeof buf) continue;
        publish(l, "signal", buf, n);
        if (l->cache && mts_cache_key_signal(key, sizeof key, r->strategy_name, r->asset, r->ts) > 0)
            mts_cache_set(l->cache, key, buf, (size_t)n, MTS_TTL_SIGNAL);
        if (l->cache && snprintf(key, sizeof key, "signal:%s:%s:latest", r->strategy_name, r->asset) < (int)sizeof key)
            mts_cache_set(l->cache, key, buf, (size_t)n, MTS_TTL_SIGNAL);
    }
    for (int64_t i = 0; i < p->n_fills; i++) {
        const mts_paper_fill_t *x = &p->fills[i];
        fmt_num(a, sizeof a, fabs(x->qty)); fmt_num(b, sizeof b, x->price); fmt_num(c, sizeof c, x->fee);
        fmt_num(d, sizeof d, x->realized_pnl); fmt_num(e5, sizeof e5, x->funding);
        int n = snprintf(buf, sizeof buf, "{\"session\":%lld,\"ts\":%lld,\"asset\":\"%s\",\"side\":\"%s\","
                         "\"kind\":\"%s\",\"qty\":%s,\"price\":%s,\"fee\":%s,\"realized_pnl\":%s,"
                         "\"book\":%d,\"strategy\":%s%s%s,\"shadow\":%s,\"reason\":\"%s\",\"funding\":%s}",
                         (long long)l->session_id, (long long)x->ts, x->asset, x->qty > 0 ? "buy" : "sell",
                         fill_kind(fills[i].kind), a, b, c, d, (int)x->book, x->strategy ? "\"" : "",
                         x->strategy ? x->strategy : "null", x->strategy ? "\"" : "", x->shadow ? "true" : "false",
                         x->reason ? x->reason : "?", e5);
        if (n > 0 && (size_t)n < sizeof buf) publish(l, "fill", buf, n);
    }
    for (int64_t i = eq_new > 0 ? eq_new : 0; i < p->n_equity; i++) {
        fmt_num(a, sizeof a, p->equity[i]);
        fmt_num(b, sizeof b, p->cash[i]);
        int n = snprintf(buf, sizeof buf, "{\"session\":%lld,\"ts\":%lld,\"equity\":%s,\"cash\":%s}",
                         (long long)l->session_id, (long long)p->equity_ts[i], a, b);
        if (n > 0 && (size_t)n < sizeof buf) publish(l, "equity", buf, n);
    }
    for (int k = 0; k < p->n_books; k++) {   /* each book after each new step: its new equity points */
        const mts_paper_book_t *x = &p->books[k];
        const mts_portfolio_t *pf = mts_engine_book(l->engine, x->book);
        for (int64_t i = l->beq_done[k] > l->beq_first[k] ? l->beq_done[k] : l->beq_first[k]; pf && i < pf->equity.n;
             i++) {
            fmt_num(a, sizeof a, pf->equity.v[i]);
            int n = snprintf(buf, sizeof buf, "{\"session\":%lld,\"book\":%d,\"strategy\":\"%s\",\"shadow\":%s,"
                             "\"equity\":%s,\"ts\":%lld}", (long long)l->session_id, (int)x->book, x->strategy,
                             x->shadow ? "true" : "false", a, (long long)pf->equity.ts[i]);
            if (n > 0 && (size_t)n < sizeof buf) publish(l, "book", buf, n);
        }
    }
    if (l->cache) mts_cache_commit(l->cache);
    if (l->bus && mts_bus_commit(l->bus) && !l->bus_failed_logged) {
        l->bus_failed_logged = 1;
        mts_log(MTS_LOG_WARN, "live.bus_failed", "\"error\":\"%s\"", mts_bus_errmsg(l->bus));
    }
}

/* A scratch array of at least n elements of size sz, kept in *p (capacity
 * *cap) from call to call; NULL when n <= 0 or out of memory. */
static void *scratch(void **p, int64_t *cap, int64_t n, size_t sz) {
    if (n <= 0) return NULL;
    if (n > *cap) {
        int64_t c = *cap > 0 ? *cap : 16;
        while (c < n) c *= 2;
        void *q = mts_realloc(*p, (size_t)c * sz);
        if (!q) return NULL;
        *p = q;
        *cap = c;
    }
    return *p;
}

/* ---- kline -> order latency ---- */

static int lh_index(int64_t ns) {
    if (ns < 0) ns = 0;
    if (ns < 1000000) return (int)(ns / 100);
    if (ns < 100000000) return LH_FINE + (int)((ns - 1000000) / 10000);
    return LH_N - 1;
}

/* One step's latency: from the complete frame of its first kline to now (the
 * runner has run the step and asks for the next bar). No allocation. */
static void lat_record(mts_live_t *l) {
    if (!l->round_recv_ns) return;
    int64_t ns = mono_ns() - l->round_recv_ns;
    l->round_recv_ns = 0;
    l->lat_hist[lh_index(ns)]++;
    l->n_lat++;
    if (ns > l->lat_max_ns) l->lat_max_ns = ns;
}

/* The q-quantile (the sample of rank ceil(q n)) in us: its bucket's upper
 * edge, never above the maximum. */
static double lh_quantile(const mts_live_t *l, double q) {
    if (l->n_lat <= 0) return 0;
    int64_t rank = (int64_t)ceil(q * (double)l->n_lat), cum = 0;
    if (rank < 1) rank = 1;
    double max_us = (double)l->lat_max_ns / 1e3;
    for (int i = 0; i < LH_N; i++) {
        cum += l->lat_hist[i];
        if (cum < rank) continue;
        double up = i < LH_FINE ? (i + 1) * 0.1 : i < LH_FINE + LH_COARSE ? 1000.0 + (i - LH_FINE + 1) * 10.0 : max_us;
        return up < max_us ? up : max_us;
    }
    return max_us;
}

static int commit(mts_live_t *l) {
    mts_engine_t *e = l->engine;
    const mts_series_t *curve = mts_engine_equity_curve(e);   /* the account's (all books) */
    if (!l->warm_done) {
        /* everything so far was the warm-up: its equity points are not the session's */
        l->warm_done = 1;
        int64_t nf, ns;
        (void)mts_engine_fills(e, &nf);
        (void)mts_engine_signals(e, &ns);
        l->fills_done = nf;
        l->signals_done = ns;
        l->ctl_sig_first = ns;
        l->equity_first = l->equity_done = curve->n;
        books_done(l, 1);
    }
    if (l->rp) return MTS_OK;   /* a replay stores nothing: its results stay in the engine */
    int64_t nf, ns;
    const mts_fill_rec_t *fills = mts_engine_fills(e, &nf);
    const mts_signal_rec_t *sigs = mts_engine_signals(e, &ns);
    int64_t eq_from = l->equity_done > l->equity_first ? l->equity_done - 1 : l->equity_first;
    int64_t n_eq = curve->n - eq_from;
    int64_t n_bars = 0;
    for (int k = 0; k < l->n; k++) n_bars += l->a[k].bars.n - l->a[k].saved;
    if (nf == l->fills_done && ns == l->signals_done && n_eq <= 0 && n_bars == 0 && !mts_events_pending(l->rec))
        return MTS_OK;

    /* the step's rows in scratch arrays kept from step to step (grown, never freed per step) */
    mts_paper_fill_t *pfl = scratch(&l->sc_fills, &l->sc_fills_cap, nf - l->fills_done, sizeof *pfl);
    mts_signal_row_t *srow = scratch(&l->sc_sigs, &l->sc_sigs_cap, ns - l->signals_done, sizeof *srow);
    mts_live_bar_t *brow = scratch(&l->sc_bars, &l->sc_bars_cap, n_bars, sizeof *brow);
    double *cash = scratch(&l->sc_cash, &l->sc_cash_cap, n_eq, sizeof *cash);
    int rc = MTS_OK;
    if ((nf > l->fills_done && !pfl) || (ns > l->signals_done && !srow) || (n_bars > 0 && !brow) ||
        (n_eq > 0 && !cash)) {
        rc = fail(l, MTS_ENOMEM, "commit: out of memory");
        goto done;
    }
    const char *exch = mts_exchange_name(l->cfg.exchange);
    for (int64_t i = l->fills_done; i < nf; i++) {
        const mts_fill_rec_t *x = &fills[i];
        pfl[i - l->fills_done] = (mts_paper_fill_t){
            .ts = x->ts, .asset = mts_engine_asset_name(e, x->asset), .qty = x->qty, .price = x->price,
            .fee = x->fee, .realized_pnl = x->realized_pnl, .book = x->book,
            .strategy = fill_strategy(l, x), .reason = mts_reason_name(x->reason), .funding = x->funding,
            .shadow = shadow_book(l, x->book)};
    }
    for (int64_t i = l->signals_done; i < ns; i++) {
        const mts_signal_rec_t *s = &sigs[i];
        mts_signal_row_t *r = &srow[i - l->signals_done];
        r->asset = mts_engine_asset_name(e, s->asset);
        r->strategy_name = strategy_label(l, s->strategy);
        if (!r->strategy_name) r->strategy_name = "?";
        r->signal_type = mts_signal_name(s->signal_type);
        r->ts = s->ts;
        r->price = s->price;
        r->confidence = s->confidence;
        r->position_size = s->position_size;
        r->stop_loss = s->stop_loss;
        r->take_profit = s->take_profit;
    }
    int64_t b = 0;
    for (int k = 0; k < l->n; k++) {
        live_asset_t *a = &l->a[k];
        for (int64_t i = a->saved; i < a->bars.n; i++, b++) {
            brow[b].exchange = exch;
            brow[b].symbol = a->symbol;
            brow[b].interval = l->interval;
            brow[b].open_ms = a->bars.ts[i] * 1000;
            brow[b].open = a->bars.open[i];
            brow[b].high = a->bars.high[i];
            brow[b].low = a->bars.low[i];
            brow[b].close = a->bars.close[i];
            brow[b].volume = a->bars.volume[i];
        }
    }
    for (int64_t i = 0; i < n_eq; i++) cash[i] = mts_engine_cash(e);   /* cash of the last point: see docs/live.md */
    /* the same closed bars into the bar store, series <exchange>:<SYMBOL> at
     * the session's interval (what `mts stream --channels kline` records), in
     * the step's transaction */
    mts_paper_series_t ser[MTS_LIVE_MAX_ASSETS];
    int n_ser = 0;
    for (int k = 0; k < l->n; k++) {
        live_asset_t *a = &l->a[k];
        int64_t from = a->saved, n = a->bars.n - from;
        if (n <= 0) continue;
        ser[n_ser++] = (mts_paper_series_t){a->series, l->interval,
                                            {a->bars.ts + from, a->bars.open + from, a->bars.high + from,
                                             a->bars.low + from, a->bars.close + from, a->bars.volume + from, n, n}};
    }
    mts_paper_step_t step = {
        .fills = pfl, .n_fills = nf - l->fills_done,
        .signals = srow, .n_signals = ns - l->signals_done,
        .equity_ts = n_eq > 0 ? curve->ts + eq_from : NULL, .equity = n_eq > 0 ? curve->v + eq_from : NULL,
        .cash = cash, .n_equity = n_eq > 0 ? n_eq : 0,
        .bars = brow, .n_bars = n_bars, .series = ser, .n_series = n_ser, .total_bars = l->st.live_bars,
        .extra = write_events, .extra_ud = l,   /* the step's inputs, in its transaction */
    };
    /* the books after a step (bars since the last commit): not for a commit of the inputs alone */
    if (n_bars > 0 && step_books(l, &step) != 0) {
        rc = fail(l, MTS_ENOMEM, "commit: out of memory");
        goto done;
    }
    rc = mts_paper_writer_step(l->writer, l->session_id, &step);
    if (rc == MTS_EDBLOCKED) {
        rc = MTS_OK;
        /* another connection holds the write lock past the busy timeout: nothing
         * was written; everything since the last stored step stays pending (it
         * is all still in the engine) and goes in one transaction, in order, at
         * the next try. The session goes on. */
        int64_t now = mts_ws_now_ms();
        l->st.store_retries++;
        l->tries++;
        if (!l->pending) l->pending_since_ms = now;
        l->pending = 1;
        l->next_try_ms = now + RETRY_MS;
        mts_log(l->tries == 1 || l->tries % 10 == 0 ? MTS_LOG_WARN : MTS_LOG_DEBUG, "live.store_busy",
                "\"session\":%lld,\"error\":\"%s\",\"tries\":%lld,\"pending_bars\":%lld,\"pending_ms\":%lld",
                (long long)l->session_id, mts_store_errmsg(l->cfg.store), (long long)l->tries,
                (long long)(l->st.live_bars - l->bars_stored), (long long)(now - l->pending_since_ms));
        goto done;
    }
    if (rc) {
        rc = fail(l, rc, "storing the step: %s", mts_store_errmsg(l->cfg.store));
        goto done;
    }
    if (l->pending) {
        mts_log(MTS_LOG_INFO, "live.store_recovered", "\"session\":%lld,\"tries\":%lld,\"bars\":%lld,\"waited_ms\":%lld",
                (long long)l->session_id, (long long)l->tries, (long long)(l->st.live_bars - l->bars_stored),
                (long long)(mts_ws_now_ms() - l->pending_since_ms));
        l->pending = 0;
    }
    l->tries = 0;
    mts_events_written(l->rec);
    l->bars_stored = l->st.live_bars;
    l->last_hb_ms = mts_ws_now_ms();
    publish_step(l, &step, sigs + l->signals_done, fills + l->fills_done, l->equity_done - eq_from);
    for (int64_t i = l->signals_done; i < ns; i++)
        print_signal(l, &sigs[i], srow[i - l->signals_done].strategy_name, srow[i - l->signals_done].asset);
    for (int64_t i = l->fills_done; i < nf; i++) print_fill(l, &fills[i], pfl[i - l->fills_done].asset);
    if (l->cfg.out) fflush(l->cfg.out);
    for (int64_t i = l->fills_done; i < nf; i++) {   /* the account's counts; the shadows' apart */
        if (shadow_book(l, fills[i].book)) l->st.shadow_fills++;
        else l->st.fills++;
    }
    for (int64_t i = l->signals_done; i < ns; i++) {
        if (sigs[i].strategy >= l->cfg.n_strategies) l->st.shadow_signals++;
        else l->st.signals++;
    }
    books_done(l, 0);
    l->fills_done = nf;
    l->signals_done = ns;
    if (mts_alerts_has(l->alerts, MTS_ALERT_DRAWDOWN)) {   /* each new (or rewritten) point of the session */
        char subj[48];
        snprintf(subj, sizeof subj, "session %lld", (long long)l->session_id);
        for (int64_t i = eq_from; i < curve->n; i++) mts_alerts_drawdown(l->alerts, subj, curve->ts[i], curve->v[i]);
    }
    l->equity_done = curve->n;
    for (int k = 0; k < l->n; k++) l->a[k].saved = l->a[k].bars.n;
done:
    return rc;
}

/* ---- the FFI entry points ---- */

int32_t mts_live_watch(mts_live_t *l, const char *path) {
    if (!l || !path) return MTS_EINVAL;
    if (l->n_watch == MTS_LIVE_MAX_WATCH) return MTS_ERANGE;
    watch_t *w = &l->watches[l->n_watch];
    w->path = mts_strdup(path);
    if (!w->path) return MTS_ENOMEM;
    struct stat sb;
    if (stat(path, &sb) == 0) {
        w->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        w->size = (int64_t)sb.st_size;
    }
    record_file(l, path);   /* the version the runner just loaded */
    return l->n_watch++;
}

void mts_live_marks(const mts_live_t *l, int64_t *fills_first, int64_t *signals_first, int64_t *equity_first) {
    if (fills_first) *fills_first = l ? l->fills_done : 0;
    if (signals_first) *signals_first = l ? l->signals_done : 0;
    if (equity_first) *equity_first = l ? l->equity_first : 0;
}

/* ---- attach and control (live/control.h, docs/live.md "Attach and control") ----
 * The socket is made at open (not in a replay); its path is stored in
 * paper_sessions.control_socket. Between websocket rounds the wait polls it
 * (never blocking); a request the server does not answer itself goes to the
 * runner: the wait returns 3 and the runner reads it (mts_live_control_request)
 * and answers (mts_live_control_reply). A read request is not recorded and the
 * wait after it goes on as the same wait; a write request (pause, resume,
 * set) is recorded (a control event with the request's text, then the wait,
 * t = 3), logged ("live.control") and published (topic "control") with its
 * outcome. "reload" is done here, as SIGHUP: the reload mask (the strategy's
 * watched files, or all), so the reload is recorded like any other. "signals"
 * is answered here from the engine's signals. */

static int live_rounds(mts_live_t *l, int32_t *reload);
static char *join(const char *const *v, int n);

/* A strategy's label by id (records, signals). */
static const char *strategy_name(const mts_live_t *l, int32_t id) {
    const char *s = strategy_label(l, id);
    return s ? s : "?";
}

/* The hello line: {"hello":"mts-session","session":ID,"pid":PID,"strategies":[...],"shadows":[...],"interval":IV} */
static char *control_hello(const mts_live_t *l) {
    cJSON *h = cJSON_CreateObject();
    if (!h) return NULL;
    cJSON_AddStringToObject(h, "hello", "mts-session");
    cJSON_AddNumberToObject(h, "session", (double)l->session_id);
    cJSON_AddNumberToObject(h, "pid", (double)getpid());
    cJSON *st = cJSON_AddArrayToObject(h, "strategies");
    for (int i = 0; i < l->cfg.n_strategies; i++) cJSON_AddItemToArray(st, cJSON_CreateString(l->cfg.strategies[i]));
    cJSON *sh = cJSON_AddArrayToObject(h, "shadows");   /* the shadow strategies' labels (issue 14 A) */
    for (int i = 0; i < l->cfg.n_shadows; i++) cJSON_AddItemToArray(sh, cJSON_CreateString(l->cfg.shadows[i]));
    cJSON_AddStringToObject(h, "interval", l->interval);
    char *t = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    return t;
}

static void control_open(mts_live_t *l) {
    char *hello = control_hello(l);
    char err[512] = "out of memory";
    int rc = hello ? mts_control_open(NULL, l->session_id, hello, &l->ctl, err, sizeof err) : MTS_ENOMEM;
    cJSON_free(hello);
    if (rc) {   /* the session runs without a socket */
        cJSON *e = cJSON_CreateString(err);
        char *et = e ? cJSON_PrintUnformatted(e) : NULL;
        mts_log(MTS_LOG_WARN, "live.control_unavailable", "\"session\":%lld,\"error\":%s", (long long)l->session_id,
                et ? et : "null");
        cJSON_free(et);
        cJSON_Delete(e);
        l->ctl = NULL;
        return;
    }
    if (mts_paper_set_control(l->cfg.store, l->session_id, mts_control_path(l->ctl)) != 0)
        mts_log(MTS_LOG_WARN, "live.control_unavailable", "\"session\":%lld,\"error\":\"storing the path: %s\"",
                (long long)l->session_id, mts_store_errmsg(l->cfg.store));
    mts_log(MTS_LOG_INFO, "live.control_socket", "\"session\":%lld,\"path\":\"%s\"", (long long)l->session_id,
            mts_control_path(l->ctl));
}

static void control_close(mts_live_t *l) {
    if (!l->ctl) return;
    mts_control_free(l->ctl);   /* unlinks */
    l->ctl = NULL;
    if (mts_paper_set_control(l->cfg.store, l->session_id, NULL) != 0)
        mts_log(MTS_LOG_WARN, "live.control_clear_failed", "\"session\":%lld,\"error\":\"%s\"",
                (long long)l->session_id, mts_store_errmsg(l->cfg.store));
}

/* "live.control" and the bus's "control" topic: op, strategy, key, value, pid, ok (error). */
static void control_log(mts_live_t *l, const char *request, int pid, int ok, const char *error) {
    cJSON *q = cJSON_Parse(request);
    cJSON *o = cJSON_CreateObject();
    if (!o) { cJSON_Delete(q); return; }
    cJSON_AddNumberToObject(o, "session", (double)l->session_id);
    const char *keys[] = {"op", "strategy", "key", "value"};
    for (int i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(q, keys[i]);
        cJSON_AddItemToObject(o, keys[i], v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
    }
    cJSON_AddNumberToObject(o, "pid", pid);
    cJSON_AddBoolToObject(o, "ok", ok);
    if (!ok) cJSON_AddStringToObject(o, "error", error ? error : "failed");
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    cJSON_Delete(q);
    if (!t) return;
    size_t n = strlen(t);
    publish(l, "control", t, (int)n);
    t[n - 1] = 0;   /* the fields without the braces */
    mts_log(ok ? MTS_LOG_INFO : MTS_LOG_WARN, "live.control", "%s", t + 1);
    cJSON_free(t);
}

/* The watch bits of a strategy: its file and config/strategies/<name>.json
 * (the watched paths whose base name without extension is the strategy's). */
static int32_t control_mask(const mts_live_t *l, const char *name) {
    const char *b = strrchr(name, '/');
    b = b ? b + 1 : name;
    size_t bn = strcspn(b, ".:");
    int32_t m = 0;
    for (int k = 0; k < l->n_watch; k++) {
        const char *p = strrchr(l->watches[k].path, '/');
        p = p ? p + 1 : l->watches[k].path;
        if (!strncmp(p, b, bn) && p[bn] == '.') m |= (int32_t)1 << k;
    }
    return m;
}

static int known_strategy(const mts_live_t *l, const char *name) {
    for (int i = 0; i < l->cfg.n_strategies; i++)
        if (!strcmp(l->cfg.strategies[i], name)) return 1;
    for (int i = 0; i < l->cfg.n_shadows; i++)
        if (!strcmp(l->cfg.shadows[i], name)) return 1;
    return 0;
}

static char *strategies_list(const mts_live_t *l) {
    char *j = join(l->cfg.strategies, l->cfg.n_strategies);
    return j;
}

/* reload {strategy?}: the reload mask; 2 when set, 0 when refused (answered). */
static int control_reload(mts_live_t *l, const char *request) {
    cJSON *q = cJSON_Parse(request);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(q, "strategy");
    char msg[512] = "";
    int32_t m = -1;
    if (s && !cJSON_IsNull(s)) {
        char *list = strategies_list(l);
        if (!cJSON_IsString(s) || !known_strategy(l, s->valuestring))
            snprintf(msg, sizeof msg, "reload: no strategy %s%s%s in this session (running: %s)",
                     cJSON_IsString(s) ? "'" : "", cJSON_IsString(s) ? s->valuestring : "(not a string)",
                     cJSON_IsString(s) ? "'" : "", list ? list : "?");
        else if (!(m = control_mask(l, s->valuestring)))
            snprintf(msg, sizeof msg, "reload: no watched file of strategy '%s'", s->valuestring);
        mts_free(list);
    }
    cJSON_Delete(q);
    int ok = !msg[0];
    if (ok) {
        char r[64];
        snprintf(r, sizeof r, "{\"reload\":%s}", m == -1 ? "\"all\"" : "\"strategy\"");
        mts_control_reply(l->ctl, r, 1);
        l->reload_mask |= m;
    } else
        mts_control_reply(l->ctl, msg, 0);
    control_log(l, request, (int)l->creq.pid, ok, msg);
    return ok ? 2 : 0;
}

/* Answers the request with a's JSON (consumed), or "out of memory". */
static void control_reply_json(mts_live_t *l, cJSON *a) {
    char *t = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    if (t) mts_control_reply(l->ctl, t, 1);
    else mts_control_reply(l->ctl, "out of memory", 0);
    cJSON_free(t);
}

/* signals {n <= 1000, default 20}: the session's newest signals, oldest first. */
static void control_signals(mts_live_t *l, const char *request) {
    cJSON *q = cJSON_Parse(request);
    const cJSON *jn = cJSON_GetObjectItemCaseSensitive(q, "n");
    int64_t want = 20;
    if (jn && !cJSON_IsNull(jn)) {
        if (!cJSON_IsNumber(jn) || jn->valuedouble < 1 || jn->valuedouble > 1000 || jn->valuedouble != (double)(int64_t)jn->valuedouble) {
            cJSON_Delete(q);
            mts_control_reply(l->ctl, "signals: n is a whole number from 1 to 1000 (default 20)", 0);
            return;
        }
        want = (int64_t)jn->valuedouble;
    }
    cJSON_Delete(q);
    int64_t ns = 0;
    const mts_signal_rec_t *sg = mts_engine_signals(l->engine, &ns);
    int64_t first = ns - want > l->ctl_sig_first ? ns - want : l->ctl_sig_first;
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = first; a && i < ns; i++) {
        const mts_signal_rec_t *s = &sg[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "ts", (double)s->ts);
        cJSON_AddStringToObject(o, "asset", mts_engine_asset_name(l->engine, s->asset));
        cJSON_AddStringToObject(o, "strategy", strategy_name(l, s->strategy));
        cJSON_AddStringToObject(o, "signal_type", mts_signal_name(s->signal_type));
        if (isfinite(s->price)) cJSON_AddNumberToObject(o, "price", s->price); else cJSON_AddNullToObject(o, "price");
        if (isfinite(s->confidence)) cJSON_AddNumberToObject(o, "confidence", s->confidence);
        else cJSON_AddNullToObject(o, "confidence");
        cJSON_AddItemToArray(a, o);
    }
    control_reply_json(l, a);
}

/* positions: per book and asset (every asset of every book): qty, avg_cost, mark, unrealised. */
static void control_positions(mts_live_t *l) {
    cJSON *a = cJSON_CreateArray();
    int32_t nb = mts_engine_book_count(l->engine);
    for (int32_t b = 0; a && b < nb; b++) {
        const mts_portfolio_t *p = mts_engine_book(l->engine, b);
        for (int32_t k = 0; p && k < p->n_assets; k++) {
            const mts_position_t *x = &p->pos[k];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "book", b);
            cJSON_AddStringToObject(o, "asset", mts_engine_asset_name(l->engine, k));
            cJSON_AddNumberToObject(o, "qty", x->qty);
            cJSON_AddNumberToObject(o, "avg_cost", x->avg_cost);
            cJSON_AddNumberToObject(o, "mark", x->mark);
            double u = x->qty != 0 && x->mark > 0 ? x->qty * x->cs * (x->mark - x->avg_cost) : 0;
            cJSON_AddNumberToObject(o, "unrealised", isfinite(u) ? u : 0);
            cJSON_AddItemToArray(a, o);
        }
    }
    control_reply_json(l, a);
}

/* Requests served between two websocket rounds at most: a client sending
 * requests without pause never keeps the session from its bars. */
#define CONTROL_BURST 16

/* One poll of the socket: 0 nothing for the wait, 2 a reload was requested
 * (the mask is set), 3 a request for the runner (a write one recorded here). */
static int control_service(mts_live_t *l) {
    int r = mts_control_poll(l->ctl, &l->creq);
    if (r == 1) l->ctl_burst++;
    if (r <= 0) {
        if (r < 0) {   /* the listener failed: the session goes on without it */
            mts_log(MTS_LOG_WARN, "live.control_unavailable", "\"session\":%lld,\"error\":\"%s\"",
                    (long long)l->session_id, mts_strerror(r));
            control_close(l);
        }
        return 0;
    }
    const char *op = l->creq.op;
    if (!strcmp(op, "reload")) return control_reload(l, l->creq.json);
    if (!strcmp(op, "signals")) { control_signals(l, l->creq.json); return 0; }
    if (!strcmp(op, "positions")) { control_positions(l); return 0; }
    l->ctl_req = l->creq.json;
    l->ctl_write = l->creq.write;
    l->ctl_read = !l->creq.write;
    if (l->ctl_write && l->rec) {   /* recorded: the request's text, then (wait_ret) the wait */
        char hash[65] = "";
        const char *j = l->creq.json;
        if (!strcmp(op, "set")) {   /* set reloads the strategy: the files it reads, as at a reload */
            cJSON *q = cJSON_Parse(j);
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(q, "strategy");
            int32_t m = cJSON_IsString(st) ? control_mask(l, st->valuestring) : 0;
            cJSON_Delete(q);
            for (int k = 0; k < l->n_watch; k++)
                if (m & ((int32_t)1 << k)) record_file(l, l->watches[k].path);
        }
        if (mts_events_add_blob(l->rec, j, strlen(j), hash) == 0)
            record(l, MTS_EVK_CONTROL, -1, 0, 0, 0, 0, 0, 0, hash, op);
        else
            mts_log(MTS_LOG_ERROR, "live.record_failed", "\"kind\":\"control\",\"error\":\"out of memory\"");
    }
    return 3;
}

/* The runner's wait after a request: one it left unanswered is answered now. */
static void control_done(mts_live_t *l) {
    if (l->ctl_req) mts_live_control_reply(l, "the session did not answer this request", 0);
}

/* A replay's control event: the recorded request's text (until the next). */
static int replay_control(mts_live_t *l, const mts_sevent_t *e) {
    const void *d = NULL;
    size_t n = 0;
    int rc = mts_replay_blob(l->rp, e->ref, &d, &n);
    if (rc) return fail(l, rc, "replay: the control request of wait %lld is missing", (long long)e->wait);
    char *b = mts_realloc(l->ctl_buf, n + 1);
    if (!b) return fail(l, MTS_ENOMEM, "replay: out of memory");
    memcpy(b, d, n);
    b[n] = 0;
    l->ctl_buf = b;
    l->ctl_fresh = 1;
    return MTS_OK;
}

const char *mts_live_control_request(mts_live_t *l) { return l ? l->ctl_req : NULL; }

int mts_live_control_reply(mts_live_t *l, const char *json_result, int ok) {
    if (!l || !l->ctl_req) return MTS_EINVAL;
    const char *req = l->ctl_req;
    l->ctl_req = NULL;
    if (l->rp || !l->ctl) return MTS_OK;   /* a replay: the reply goes nowhere */
    if (l->ctl_write) control_log(l, req, (int)l->creq.pid, ok, ok ? NULL : json_result);
    l->ctl_write = 0;
    return mts_control_reply(l->ctl, json_result, ok);
}

void mts_live_control_counts(const mts_live_t *l, int64_t out[3]) {
    out[0] = out[1] = out[2] = 0;
    if (!l) return;
    out[0] = l->session_id;
    out[1] = l->st.live_bars;
    const mts_series_t *curve = mts_engine_equity_curve(l->engine);   /* one point per live step run */
    out[2] = curve && l->warm_done && curve->n > l->equity_first ? curve->n - l->equity_first : 0;
}

/* What a wait returns, recorded (with the files a reload will load: the
 * changed watches, or all of them for -1). */
static int wait_ret(mts_live_t *l, int code, int32_t mask) {
    if (l->rec) {
        if (code == 2)
            for (int k = 0; k < l->n_watch; k++)
                if (mask == -1 || (mask & ((int32_t)1 << k))) record_file(l, l->watches[k].path);
        record(l, MTS_EVK_WAIT, mask, code, 0, 0, 0, 0, 0, NULL, NULL);
    }
    return code;
}

/* A replay's wait: the recorded wait's inputs applied through the same
 * paths (append_now, the VIX and funding appends), the files of a reload
 * written into the replay's root, and what the session's wait returned
 * (a reload mask rebuilt from this run's watches: another strategy's files
 * are not watched). The end of the record stops the run. */
static int replay_wait(mts_live_t *l, int32_t *reload) {
    int32_t mask = 0;
    const mts_sevent_t *e;
    l->appended = 0;
    while ((e = mts_replay_peek(l->rp)) != NULL) {
        if (e->wait < l->waits && e->kind != MTS_EVK_BAR) { mts_replay_advance(l->rp); continue; }
        int rc = 0;
        switch (e->kind) {
        case MTS_EVK_BAR:
            if (e->asset >= 0 && e->asset < l->n)
                (void)append_now(l, e->asset, e->t, e->o, e->h, e->l, e->c, e->v, mono_ns(), "replay.bar_rejected");
            break;
        case MTS_EVK_MACRO: rc = replay_macro(l, e); break;
        case MTS_EVK_FUNDING:
            if (e->asset >= 0 && e->asset < l->n && l->a[e->asset].perp &&
                mts_engine_append_funding(l->engine, l->a[e->asset].id, e->t, e->o, e->h) == 0)
                l->st.funding_events++;
            break;
        case MTS_EVK_FILE:
            if ((rc = mts_replay_put_file(l->rp, e)) != 0) {
                if (mts_replay_why(l->rp)) fail(l, rc, "replay: %s", mts_replay_why(l->rp));
                else fail(l, rc, "replay: writing the recorded %s", e->info);
                break;
            }
            for (int k = 0; k < l->n_watch; k++)
                if (!strcmp(rel_of(l, l->watches[k].path), e->info)) mask |= (int32_t)1 << k;
            break;
        case MTS_EVK_WAIT: {
            int code = (int)e->t;
            if (e->asset == -1) mask = -1;
            mts_replay_advance(l->rp);
            if (code == 2 && reload) *reload = mask;
            if (code == 3) {              /* a control request: the recorded one */
                if (!l->ctl_buf || !l->ctl_fresh) return fail(l, MTS_EPARSE, "replay: a control wait without its request");
                l->ctl_fresh = 0;
                l->ctl_req = l->ctl_buf;
                l->ctl_write = 0;
                return 3;
            }
            return code == 1 || code == 2 ? code : 0;
        }
        case MTS_EVK_CONTROL:
            rc = replay_control(l, e);
            break;
        default: break;
        }
        mts_replay_advance(l->rp);
        if (rc) return rc;
    }
    return 0;
}

/* Rehearsal rounds: the first REHEARSALS waits of a session (right after the
 * warm-up steps) return 1 at once, with no bar appended, before anything is
 * committed or serviced. The runner goes through the path of a live step —
 * out of the bar loop, this wait, the views grown (by nothing), the engine
 * asked for its next event (none) — and LuaJIT compiles it now, before the
 * first frame is read, instead of in the first live steps (75-115 us each
 * there; docs/live.md "Kline -> order latency"). Changes nothing: a frame
 * that arrives meanwhile waits in the socket, and its latency starts when the
 * client has read it. 64: the loops and side exits involved are hot after 8
 * and 2 passes at the session's JIT thresholds (runner.lua LIVE_JIT), after
 * 56 and 10 at LuaJIT's defaults. */
#define REHEARSALS 64

int mts_live_wait(mts_live_t *l, int32_t *reload) {
    if (!l) return MTS_EINVAL;
    if (reload) *reload = 0;
    control_done(l);
    if (l->ctl_read) {        /* after a read request: the same wait goes on (nothing to commit) */
        l->ctl_read = 0;
        return live_rounds(l, reload);
    }
    if (l->rehearsals < REHEARSALS) {
        l->rehearsals++;
        return 1;
    }
    lat_record(l);            /* the step is run, its orders submitted: nothing stored yet */
    int rc = commit(l);
    if (rc) return rc;
    l->waits++;
    if (l->rp) return replay_wait(l, reload);
    if ((rc = mts_ws_start(l->ws)) != 0) return fail(l, rc, "%s", mts_ws_errmsg(l->ws));
    return live_rounds(l, reload);
}

/* The rounds of a live wait: flags, heartbeat, the control socket, the websocket. */
static int live_rounds(mts_live_t *l, int32_t *reload) {
    int rc;
    for (;;) {
        check(l);
        if (l->stopping) return wait_ret(l, 0, 0);
        if (l->reload_mask) {
            int32_t m = l->reload_mask;
            if (reload) *reload = m;
            l->reload_mask = 0;
            return wait_ret(l, 2, m);
        }
        if (l->cfg.max_bars > 0 && l->st.live_bars >= l->cfg.max_bars) return wait_ret(l, 0, 0);
        int64_t now = mts_ws_now_ms();
        if (l->pending && now >= l->next_try_ms) {
            if ((rc = commit(l)) != 0) return rc;
        } else if (!l->pending && now - l->last_hb_ms >= l->hb_ms) {
            l->last_hb_ms = now;   /* idle: say we are alive (a busy database: next time) */
            int hrc = mts_paper_heartbeat(l->cfg.store, l->session_id, now / 1000);
            if (hrc) mts_log(MTS_LOG_DEBUG, "live.heartbeat_failed", "\"error\":\"%s\"", mts_store_errmsg(l->cfg.store));
        }
        if (l->ctl && l->ctl_burst < CONTROL_BURST) {   /* attached clients: never blocks (control.h) */
            int c = control_service(l);
            if (c == 3) return l->ctl_read ? 3 : wait_ret(l, 3, 0);
            if (c < 0) return c;
            if (c == 2) continue;         /* a reload request: the mask is set */
        }
        l->appended = 0;
        if (l->align) {                   /* steps whose grace has passed */
            release_due(l);
            if (l->appended) return wait_ret(l, 1, 0);
        }
        if ((rc = mts_ws_service(l->ws)) != 0) return fail(l, rc, "%s", mts_ws_errmsg(l->ws));
        l->ctl_burst = 0;
        if (l->appended) return wait_ret(l, 1, 0);
    }
}

/* ---- lifecycle ---- */

static int reserve(live_asset_t *a, int64_t cap) {
    a->bars.ts = mts_array_alloc(cap * (int64_t)sizeof(int64_t));
    a->bars.open = mts_array_alloc(cap * (int64_t)sizeof(double));
    a->bars.high = mts_array_alloc(cap * (int64_t)sizeof(double));
    a->bars.low = mts_array_alloc(cap * (int64_t)sizeof(double));
    a->bars.close = mts_array_alloc(cap * (int64_t)sizeof(double));
    a->bars.volume = mts_array_alloc(cap * (int64_t)sizeof(double));
    if (!a->bars.ts || !a->bars.open || !a->bars.high || !a->bars.low || !a->bars.close || !a->bars.volume)
        return MTS_ENOMEM;
    a->bars.cap = cap;
    a->bars.n = 0;
    return MTS_OK;
}

static char *join(const char *const *v, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(v[i]) + 1;
    char *s = mts_malloc(len), *p = s;
    if (!s) return NULL;
    for (int i = 0; i < n; i++) p += sprintf(p, "%s%s", i ? "," : "", v[i]);
    *p = 0;
    return s;
}

/* The session's starting options, JSON (mts_free): what `mts replay` needs to
 * build the same engine and runner (replay/replay.c options()). */
static char *options_json(const mts_live_t *l) {
    const mts_live_config_t *c = &l->cfg;
    cJSON *o = cJSON_CreateObject(), *a;
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "exchange", mts_exchange_name(c->exchange));
    cJSON_AddStringToObject(o, "interval", l->interval);
    a = cJSON_AddArrayToObject(o, "symbols");
    for (int k = 0; k < c->n_assets; k++) cJSON_AddItemToArray(a, cJSON_CreateString(c->symbols[k]));
    a = cJSON_AddArrayToObject(o, "assets");
    for (int k = 0; k < c->n_assets; k++) cJSON_AddItemToArray(a, cJSON_CreateString(c->assets[k]));
    a = cJSON_AddArrayToObject(o, "strategies");
    for (int k = 0; k < c->n_strategies; k++) cJSON_AddItemToArray(a, cJSON_CreateString(c->strategies[k]));
    cJSON_AddNumberToObject(o, "warmup", c->warmup);
    cJSON_AddNumberToObject(o, "capital", c->capital);
    cJSON_AddNumberToObject(o, "commission_bps", c->commission_bps);
    cJSON_AddNumberToObject(o, "slippage_bps", c->slippage_bps);
    cJSON_AddNumberToObject(o, "align_ms", (double)l->st.align_ms);
    cJSON_AddStringToObject(o, "mode", c->mode ? c->mode : "independent");
    cJSON_AddNumberToObject(o, "max_position", c->max_position);
    cJSON_AddNumberToObject(o, "max_portfolio_risk", c->max_portfolio_risk);
    a = cJSON_AddArrayToObject(o, "alloc");
    for (int k = 0; k < c->n_books; k++) cJSON_AddItemToArray(a, cJSON_CreateNumber(c->alloc[k]));
    cJSON_AddNumberToObject(o, "leverage", c->leverage);
    if (c->instrument.market) cJSON_AddStringToObject(o, "market", c->instrument.market);
    if (c->instrument.has_maker) cJSON_AddNumberToObject(o, "maker_bps", c->instrument.maker_bps);
    if (c->instrument.has_taker) cJSON_AddNumberToObject(o, "taker_bps", c->instrument.taker_bps);
    a = cJSON_AddArrayToObject(o, "shadows");   /* issue 14: labels and the capitals they got */
    for (int k = 0; k < c->n_shadows; k++) {
        cJSON *sh = cJSON_CreateObject();
        cJSON_AddStringToObject(sh, "label", c->shadows[k]);
        cJSON_AddNumberToObject(sh, "capital", c->shadow_capital[k]);
        cJSON_AddItemToArray(a, sh);
    }
    cJSON_AddNumberToObject(o, "shadow_capital", c->shadow_capital_opt);
    a = cJSON_AddArrayToObject(o, "params");
    for (int k = 0; k < c->n_params; k++) {
        cJSON *p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateString(c->param_keys[k]));
        cJSON_AddItemToArray(p, cJSON_CreateString(c->param_values[k]));
        cJSON_AddItemToArray(a, p);
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt) return NULL;
    char *r = mts_strdup(txt);
    cJSON_free(txt);
    return r;
}

/* Books, instruments and the perps' funding (live.h), before the start: as
 * mts_backtest_run sets them up (backtest/backtest.c). */
static int setup_books(mts_live_t *l) {
    const mts_live_config_t *cfg = &l->cfg;
    int rc;
    if (cfg->n_books > 0 && (rc = mts_engine_set_books(l->engine, cfg->n_books, cfg->alloc)) != 0)
        return fail(l, rc, "%s", mts_engine_errmsg(l->engine));
    l->n_acct = mts_engine_account_books(l->engine);
    if (!(l->joined = join(cfg->strategies, cfg->n_strategies))) return fail(l, MTS_ENOMEM, "out of memory");
    for (int j = 0; j < cfg->n_shadows; j++) {   /* the shadows' books, after the account's */
        int32_t b;
        if (!cfg->shadows || !cfg->shadow_capital || !cfg->shadows[j])
            return fail(l, MTS_EINVAL, "shadow %d: no label or capital", j + 1);
        if ((rc = mts_engine_add_shadow_book(l->engine, cfg->shadow_capital[j], &b)) != 0)
            return fail(l, rc, "shadow %s: %s", cfg->shadows[j], mts_engine_errmsg(l->engine));
    }
    mts_instrument_opts_t io = cfg->instrument;
    io.commission_bps = cfg->commission_bps;
    const char *root = l->root;
    for (int k = 0; k < l->n; k++) {
        live_asset_t *a = &l->a[k];
        mts_instrument_t ins;
        char err[512];
        a->first_ts = a->bars.n > 0 ? a->bars.ts[0] : INT64_MIN;
        if ((rc = mts_instrument_resolve(root, a->name, &io, &ins, a->fsym, sizeof a->fsym, a->fexch,
                                         sizeof a->fexch, err, sizeof err)) != 0)
            return fail(l, rc, "%s", err);
        if ((rc = mts_engine_set_instrument(l->engine, a->id, &ins)) != 0)
            return fail(l, rc, "%s", mts_engine_errmsg(l->engine));
        if (ins.type != MTS_INST_PERP) continue;
        a->perp = 1;
        l->st.perps++;
        /* the configured perp's rates, else the session's own symbol on its exchange */
        if (!a->fsym[0]) {   /* memcpy: snprintf between members of one object is refused (-Werror=restrict) */
            size_t k = strnlen(a->symbol, sizeof a->fsym - 1);
            memcpy(a->fsym, a->symbol, k);
            a->fsym[k] = 0;
        }
        if (!a->fexch[0]) snprintf(a->fexch, sizeof a->fexch, "%s", mts_exchange_name(cfg->exchange));
        if (!l->rp) (void)mts_store_ensure_funding(cfg->store, root, a->fsym, a->fexch);   /* bundled: first use */
        a->fev.ts = mts_malloc(FUNDING_RESERVE * sizeof *a->fev.ts);
        a->fev.rate = mts_malloc(FUNDING_RESERVE * sizeof *a->fev.rate);
        a->fev.mark = mts_malloc(FUNDING_RESERVE * sizeof *a->fev.mark);
        if (!a->fev.ts || !a->fev.rate || !a->fev.mark) return fail(l, MTS_ENOMEM, "funding: out of memory");
        a->fev.cap = FUNDING_RESERVE;
        a->fev.n = 0;
        if ((rc = mts_engine_set_funding(l->engine, a->id, &a->fev)) != 0)
            return fail(l, rc, "%s", mts_engine_errmsg(l->engine));
        int64_t got = 0;
        if (l->rp) {   /* a replay: the settlements the session appended at open */
            const mts_sevent_t *e;
            while ((e = mts_replay_peek(l->rp)) && e->wait == 0 && e->kind == MTS_EVK_FUNDING && e->asset == k) {
                if (mts_engine_append_funding(l->engine, a->id, e->t, e->o, e->h) == 0) got++;
                mts_replay_advance(l->rp);
            }
            l->st.funding_events += got;
        } else {
            got = funding_refresh(l, k, 1);
        }
        mts_log(got > 0 ? MTS_LOG_INFO : MTS_LOG_WARN, "live.funding",
                "\"asset\":\"%s\",\"symbol\":\"%s\",\"exchange\":\"%s\",\"settlements\":%lld%s", a->name,
                a->fsym, a->fexch, (long long)a->fev.n,
                got > 0 ? "" : ",\"note\":\"none stored yet: record them with mts stream --channels funding or "
                               "mts import funding FILE\"");
    }
    return 0;
}

int mts_live_open(const mts_live_config_t *cfg, mts_live_t **out, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!cfg || !out || cfg->n_assets <= 0 || cfg->n_assets > MTS_LIVE_MAX_ASSETS || !cfg->symbols ||
        !cfg->assets || !cfg->store || !cfg->interval) {
        if (err) snprintf(err, errlen, "live: invalid configuration");
        return MTS_EINVAL;
    }
    *out = NULL;
    mts_live_t *l = mts_calloc(1, sizeof *l);
    if (!l) return MTS_ENOMEM;
    l->cfg = *cfg;
    l->rp = cfg->replay;
    int rc = MTS_ENOMEM;
    if (!(l->root = mts_strdup(cfg->root ? cfg->root : mts_root()))) goto out;
    if (!l->rp && mts_events_rec_new(&l->rec) != 0) goto out;
    l->iv_ms = mts_live_interval_ms(cfg->interval);
    if (l->iv_ms <= 0) { rc = fail(l, MTS_EINVAL, "unknown interval '%s' (e.g. 1m, 5m, 1h, 1d)", cfg->interval); goto out; }
    if (l->cfg.bar_capacity <= 0) l->cfg.bar_capacity = (int64_t)1 << 20;
    int bybit = cfg->exchange == MTS_EXCH_BYBIT;
    if (mts_ws_kline_interval(cfg->exchange, cfg->interval, l->venue_iv, sizeof l->venue_iv) < 0) {
        rc = fail(l, MTS_EINVAL, "%s has no kline stream of interval '%s' (%s%s)", mts_exchange_name(cfg->exchange),
                  cfg->interval, MTS_WS_KLINE_INTERVALS, bybit ? "" : " 8h 3d");
        goto out;
    }
    l->interval = mts_strdup(cfg->interval);
    l->rest_url = mts_strdup(cfg->rest_url && *cfg->rest_url ? cfg->rest_url
                             : bybit ? MTS_REST_BYBIT_URL : MTS_REST_BINANCE_URL);
    l->lat_hist = mts_calloc(LH_N, sizeof *l->lat_hist);
    if (!l->interval || !l->rest_url || !l->lat_hist) goto out;
    if (!l->rp) {   /* the kline stream: created now (a bad URL fails here), connected by the first wait */
        mts_ws_config_t wc = {
            .exchange = cfg->exchange, .symbols = cfg->symbols, .n_symbols = cfg->n_assets,
            .channels = MTS_CH_KLINE, .kline_interval = cfg->interval,
            .binance_ws_url = bybit ? NULL : cfg->ws_url, .bybit_ws_url = bybit ? cfg->ws_url : NULL,
            .ping_interval_ms = cfg->ping_interval_ms, .backoff_min_ms = cfg->backoff_ms,
            .idle_timeout_ms = cfg->idle_timeout_ms, .on_event = on_ws_event, .ud = l};
        if ((rc = mts_ws_create(&wc, &l->ws)) != 0) {
            rc = fail(l, rc, "%s", mts_ws_errmsg(NULL));
            goto out;
        }
    }
    if (!(cfg->leverage == 0 || (isfinite(cfg->leverage) && cfg->leverage >= 1))) {
        rc = fail(l, MTS_EINVAL, "--leverage must be >= 1, got %g", cfg->leverage);
        goto out;
    }
    mts_engine_config_t ec = {cfg->capital, cfg->commission_bps, cfg->slippage_bps, cfg->leverage};
    if ((rc = mts_engine_create(&ec, &l->engine)) != 0) { rc = fail(l, rc, "engine: invalid capital or costs"); goto out; }
    mts_engine_keep_fills(l->engine, 1);
    if ((rc = vix_open(l)) != 0) goto out;   /* VIX, refreshed later (vix_refresh) */
    if (!l->rp) {
        mts_http_config_t hc;
        mts_http_config_defaults(&hc);
        hc.vendor = mts_exchange_name(cfg->exchange);
        hc.timeout_s = 10;
        hc.connect_timeout_s = 5;
        if ((rc = mts_http_new(&hc, &l->http)) != 0) { rc = fail(l, rc, "REST client: %s", mts_strerror(rc)); goto out; }
        mts_http_set_cancel(l->http, cfg->stop);   /* SIGTERM ends a retry wait */
    }
    {   /* step alignment: several symbols and a grace */
        int64_t g = cfg->align_ms;
        if (g < 0) g = l->iv_ms / 10 < 3000 ? l->iv_ms / 10 : 3000;
        l->align = cfg->n_assets > 1 && g > 0;
        l->st.align_ms = l->align ? g : 0;
        l->align_ns = g * 1000000;
        l->cur_ts = INT64_MIN;
        l->cur_wait = -1;
    }
    int64_t now = mts_ws_now_ms();
    for (int k = 0; k < cfg->n_assets; k++) {
        live_asset_t *a = &l->a[k];
        if (strlen(cfg->symbols[k]) >= MTS_SYMBOL_MAX) { rc = fail(l, MTS_EINVAL, "symbol too long: %s", cfg->symbols[k]); goto out; }
        snprintf(a->symbol, sizeof a->symbol, "%s", cfg->symbols[k]);
        if (!(a->name = mts_strdup(cfg->assets[k]))) { rc = MTS_ENOMEM; goto out; }
        if ((rc = reserve(a, l->cfg.bar_capacity + (cfg->warmup > 0 ? cfg->warmup : 0))) != 0) goto out;
        l->n++;
        if (l->align && !(a->q = mts_malloc(PEND_CAP * sizeof *a->q))) { rc = MTS_ENOMEM; goto out; }
        if (l->rp) {   /* a replay: the warm-up bars the session had */
            const mts_sevent_t *e;
            while ((e = mts_replay_peek(l->rp)) && e->wait == 0 && e->kind == MTS_EVK_WARMUP && e->asset == k) {
                if (a->bars.n < a->bars.cap) {
                    int64_t i = a->bars.n++;
                    a->bars.ts[i] = e->t;
                    a->bars.open[i] = e->o;
                    a->bars.high[i] = e->h;
                    a->bars.low[i] = e->l;
                    a->bars.close[i] = e->c;
                    a->bars.volume[i] = e->v;
                }
                mts_replay_advance(l->rp);
            }
            l->st.warmup_bars += a->bars.n;
        } else if (cfg->warmup > 0) {
            int got = rest_klines(l, k, -1, -1, cfg->warmup + 1 > 1000 ? 1000 : cfg->warmup + 1, 0);
            const char *src = "rest";
            if (got <= 0) {
                a->bars.n = 0;
                src = "live_bars";
                (void)mts_paper_load_live_bars(cfg->store, mts_exchange_name(cfg->exchange), a->symbol, l->interval,
                                               now - l->iv_ms + 1, cfg->warmup, &a->bars);
            }
            if (a->bars.n > cfg->warmup) {   /* keep the newest `warmup` */
                int64_t drop = a->bars.n - cfg->warmup;
                memmove(a->bars.ts, a->bars.ts + drop, (size_t)cfg->warmup * sizeof(int64_t));
                double *arr[5] = {a->bars.open, a->bars.high, a->bars.low, a->bars.close, a->bars.volume};
                for (int q = 0; q < 5; q++) memmove(arr[q], arr[q] + drop, (size_t)cfg->warmup * sizeof(double));
                a->bars.n = cfg->warmup;
            }
            mts_log(a->bars.n < cfg->warmup ? MTS_LOG_WARN : MTS_LOG_INFO, "live.warmup",
                    "\"symbol\":\"%s\",\"bars\":%lld,\"wanted\":%d,\"source\":\"%s\"", a->symbol,
                    (long long)a->bars.n, cfg->warmup, src);
            l->st.warmup_bars += a->bars.n;
        }
        a->saved = a->bars.n;
        for (int64_t i = 0; i < a->bars.n; i++)
            record(l, MTS_EVK_WARMUP, k, a->bars.ts[i], a->bars.open[i], a->bars.high[i], a->bars.low[i],
                   a->bars.close[i], a->bars.volume[i], NULL, NULL);
        {   /* "<exchange>:<SYMBOL>" (a->symbol is copied first: snprintf's source and
             * destination are members of one object, which -Werror=restrict refuses) */
            char sym[MTS_SYMBOL_MAX];
            memcpy(sym, a->symbol, sizeof sym);
            snprintf(a->series, sizeof a->series, "%s:%s", mts_exchange_name(cfg->exchange), sym);
        }
        if ((rc = mts_engine_add_live_asset(l->engine, a->name, &a->bars, &a->id)) != 0) {
            rc = fail(l, rc, "%s", mts_engine_errmsg(l->engine));
            goto out;
        }
    }
    if ((rc = setup_books(l)) != 0) goto out;
    if (l->rp) {   /* a replay stores, connects and publishes nothing */
        l->started_ms = now;
        l->last_watch_poll = now;
        l->last_hb_ms = now;
        l->hb_ms = HEARTBEAT_MS;
        *out = l;
        return MTS_OK;
    }
    char *strategies = join(cfg->strategies, cfg->n_strategies);
    char *symbols = join(cfg->symbols, cfg->n_assets);
    if (!strategies || !symbols) {
        mts_free(strategies);
        mts_free(symbols);
        rc = MTS_ENOMEM;
        goto out;
    }
    mts_paper_session_t ps = {strategies, mts_exchange_name(cfg->exchange), symbols, l->interval,
                              cfg->capital, cfg->commission_bps, cfg->slippage_bps, now / 1000};
    int64_t t0 = mts_ws_now_ms();
    while ((rc = mts_paper_begin(cfg->store, &ps, &l->session_id)) == MTS_EDBLOCKED &&
           mts_ws_now_ms() - t0 < FINISH_RETRY_MS && !(cfg->stop && *cfg->stop)) {
        mts_log(MTS_LOG_WARN, "live.store_busy", "\"session\":null,\"error\":\"%s\"", mts_store_errmsg(cfg->store));
        struct timespec ts = {0, RETRY_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    mts_free(strategies);
    mts_free(symbols);
    if (rc) { rc = fail(l, rc, "storing the session: %s", mts_store_errmsg(cfg->store)); goto out; }
    l->st.session_id = l->session_id;
    l->started_ms = now;
    {   /* the starting options (replay/replay.c reads them back) */
        char *opt = options_json(l);
        if (!opt || mts_events_set_options(cfg->store, l->session_id, opt) != 0)
            mts_log(MTS_LOG_WARN, "live.record_failed", "\"what\":\"options\",\"error\":\"%s\"",
                    opt ? mts_store_errmsg(cfg->store) : "out of memory");
        mts_free(opt);
        char path[4096];
        snprintf(path, sizeof path, "%s/config/mts.json", l->root);
        record_file(l, path);
    }
    if ((rc = mts_paper_writer_new(cfg->store, &l->writer)) != 0) {
        rc = fail(l, rc, "preparing the step statements: %s", mts_store_errmsg(cfg->store));
        goto out;
    }
    {
        mts_bus_config_t bc = {0};
        bc.redis_url = cfg->redis_url;
        bc.db_path = cfg->db_path;
        if (mts_bus_open(&bc, &l->bus) != 0) {
            mts_log(MTS_LOG_WARN, "live.bus_unavailable", "\"error\":\"%s\"", mts_bus_errmsg(NULL));
            l->bus = NULL;
        }
        mts_cache_config_t cc = {0};
        cc.redis_url = cfg->redis_url;
        if (mts_cache_open(&cc, &l->cache) != 0) l->cache = NULL;
        publish_session(l, "running");
        mts_alerts_config_t ac = {.source = "run", .bus = l->bus};
        char aerr[256];
        if ((rc = mts_alerts_open(&ac, &l->alerts, aerr, sizeof aerr)) != 0) {
            rc = fail(l, rc, "%s", aerr);
            goto out;
        }
        mts_alerts_breaker_db(cfg->db_path);   /* the REST client's breaker in GET /health */
        /* sessions whose heartbeat stopped (marked crashed by mts run's recovery before this) */
        (void)mts_alerts_check_sessions(l->alerts, mts_store_db(cfg->store));
    }
    l->last_watch_poll = now;
    l->last_hb_ms = now;
    l->hb_ms = cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : HEARTBEAT_MS;
    if (!l->rp) control_open(l);
    *out = l;
    return MTS_OK;
out:
    if (err) snprintf(err, errlen, "%s", l->err[0] ? l->err : mts_strerror(rc));
    mts_live_free(l);
    return rc;
}

mts_engine_t *mts_live_engine(mts_live_t *l) { return l ? l->engine : NULL; }

const char *mts_live_interval(const mts_live_t *l) { return l ? l->interval : NULL; }

/* A series the runner loaded through the provider: a blob and a provider
 * event in the current wait (store/events.h; written with the step). */
static void provider_record(void *ud, int kind, const char *what, int64_t n, const void *data, size_t size) {
    mts_live_t *l = ud;
    char hash[65];
    (void)kind;
    if (!data && n < 0) {
        mts_log(MTS_LOG_ERROR, "live.record_failed", "\"kind\":\"provider\",\"error\":\"out of memory\"");
        return;
    }
    if (mts_events_add_blob(l->rec, data ? data : "", size, hash) != 0) {
        mts_log(MTS_LOG_ERROR, "live.record_failed", "\"kind\":\"provider\",\"error\":\"out of memory\"");
        return;
    }
    record(l, MTS_EVK_PROVIDER, -1, n, 0, 0, 0, 0, 0, hash, what);
}

/* A replay: the provider's series from the record, as the session loaded
 * them; one the session never asked for is read from the database (said
 * once). */
static int provider_lookup(void *ud, int kind, const char *what, const void **data, size_t *size) {
    mts_live_t *l = ud;
    (void)kind;
    const mts_sevent_t *e = mts_replay_provider(l->rp, what, l->waits);
    if (e && e->ref[0] && mts_replay_blob(l->rp, e->ref, data, size) == 0) return e->t >= 0 ? 1 : 2;
    if (!l->prov_fallback_logged) {
        l->prov_fallback_logged = 1;
        char w[MTS_PROVIDER_WHAT_MAX];
        snprintf(w, sizeof w, "%s", what);
        for (char *c = w; *c; c++)
            if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '?';
        mts_log(MTS_LOG_WARN, "replay.provider_not_recorded",
                "\"series\":\"%s\",\"note\":\"%s; it and any other series the session did not load are "
                "read from the database as it is now\"", w,
                e ? "its recorded content is missing" : "the session never loaded it");
    }
    return 0;
}

mts_provider_t *mts_live_provider(mts_live_t *l) {
    if (!l || !l->cfg.store) return NULL;
    if (!l->provider && mts_provider_new(l->cfg.store, mts_root(), INT64_MAX, &l->provider) == 0) {
        if (l->rec) mts_provider_on_load(l->provider, provider_record, l);
        if (l->rp) mts_provider_set_lookup(l->provider, provider_lookup, l);
    }
    return l->provider;
}
const char *mts_live_errmsg(const mts_live_t *l) { return l ? l->err : "no session"; }

int mts_live_finish(mts_live_t *l, const char *status, const char *parameters_json) {
    if (!l) return MTS_EINVAL;
    int64_t pending = 0;
    for (int k = 0; k < l->n; k++) pending += l->a[k].q_n;
    if (pending > 0)   /* a step still inside its grace when the session stopped: not traded */
        mts_log(MTS_LOG_INFO, "live.pending_dropped", "\"bars\":%lld", (long long)pending);
    if (l->rp) {
        l->st.final_equity = mts_engine_equity(l->engine);
        return MTS_OK;
    }
    control_close(l);   /* clients see the end; paper_sessions.control_socket cleared */
    int rc = commit(l);
    int64_t t0 = mts_ws_now_ms();
    while (!rc && l->pending && mts_ws_now_ms() - t0 < FINISH_RETRY_MS) {   /* busy: wait for it, bounded */
        struct timespec ts = {0, RETRY_MS * 1000000L};
        nanosleep(&ts, NULL);
        rc = commit(l);
    }
    if (!rc && l->pending)
        rc = fail(l, MTS_EDBLOCKED, "storing the last steps: %s (%lld bars not stored after %d s of retries)",
                  mts_store_errmsg(l->cfg.store), (long long)(l->st.live_bars - l->bars_stored),
                  FINISH_RETRY_MS / 1000);
    double eq = mts_engine_equity(l->engine);
    l->st.final_equity = eq;
    publish_session(l, rc ? "failed" : status);
    /* bars: the live bars whose steps are stored, as the equity rows */
    int rc2;
    while ((rc2 = mts_paper_end(l->cfg.store, l->session_id, rc ? "failed" : status, mts_ws_now_ms() / 1000,
                                l->bars_stored, eq, parameters_json)) == MTS_EDBLOCKED &&
           mts_ws_now_ms() - t0 < FINISH_RETRY_MS) {
        struct timespec ts = {0, RETRY_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (rc2 && !rc) rc = fail(l, rc2, "closing the session: %s", mts_store_errmsg(l->cfg.store));
    if (rc || strcmp(status, "failed") == 0) mts_alerts_session_crashed(l->alerts, l->session_id, "failed");
    return rc;
}

void mts_live_strategy_disabled(mts_live_t *l, const char *strategy, const char *message) {
    if (l) mts_alerts_strategy_disabled(l->alerts, strategy, message);
}

void mts_live_get_summary(const mts_live_t *l, mts_live_summary_t *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!l) return;
    *out = l->st;
    mts_ws_stats_t ws;
    mts_ws_stats(l->ws, &ws);
    out->reconnects = ws.reconnects;
    out->messages = ws.messages;
    out->final_equity = mts_engine_equity(l->engine);
    out->latency_samples = l->n_lat;
    out->latency_max_us = (double)l->lat_max_ns / 1e3;
    out->latency_p50_us = lh_quantile(l, 0.50);
    out->latency_p99_us = lh_quantile(l, 0.99);
}

void mts_live_free(mts_live_t *l) {
    if (!l) return;
    mts_ws_free(l->ws);   /* first: no callback into the session after this */
    mts_control_free(l->ctl);   /* a session that did not finish: the socket file goes too */
    mts_free(l->ctl_buf);
    mts_http_free(l->http);
    mts_engine_free(l->engine);   /* before the funding arrays it borrows */
    mts_series_free(&l->vix);
    mts_free(l->fr_ts);
    mts_free(l->fr_next);
    mts_free(l->fr_rate);
    mts_free(l->fr_mark);
    mts_series_free(&l->vix_new);
    mts_provider_free(l->provider);
    mts_alerts_close(l->alerts);   /* drains the webhook queue (bounded by its retries) */
    mts_bus_close(l->bus);
    mts_cache_close(l->cache);
    for (int k = 0; k < MTS_LIVE_MAX_ASSETS; k++) {
        live_asset_t *a = &l->a[k];
        mts_free(a->name);
        mts_free(a->q);
        mts_funding_events_free(&a->fev);
        mts_array_free(a->bars.ts);
        mts_array_free(a->bars.open);
        mts_array_free(a->bars.high);
        mts_array_free(a->bars.low);
        mts_array_free(a->bars.close);
        mts_array_free(a->bars.volume);
    }
    for (int k = 0; k < l->n_watch; k++) mts_free(l->watches[k].path);
    mts_free(l->interval);
    mts_free(l->rest_url);
    mts_free(l->root);
    mts_free(l->joined);
    mts_free(l->sc_beq_ts);
    mts_free(l->sc_beq_book);
    mts_free(l->sc_beq);
    mts_events_rec_free(l->rec);
    mts_free(l->lat_hist);
    mts_paper_writer_free(l->writer);
    mts_free(l->sc_fills);
    mts_free(l->sc_sigs);
    mts_free(l->sc_bars);
    mts_free(l->sc_cash);
    mts_free(l);
}
