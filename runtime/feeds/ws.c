/* ws.c — the exchange websocket client (see ws.h). libwebsockets runs the
 * sockets; a 100 ms sul timer drives pings, idle checks, reconnects and the
 * caller's tick. The context lives from mts_ws_start to mts_ws_stop, so a
 * caller may service it round by round (mts run) or in one mts_ws_run
 * (mts stream). Buffers (receive, parse events, levels) are allocated once
 * and grown only when a message is larger than any before. */
#include "feeds/ws.h"
#include "feeds/parse_binance.h"
#include "feeds/http.h"
#include "feeds/parse_bybit.h"
#include "util/log.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { C_BINANCE_SPOT, C_BINANCE_FUTURES, C_BYBIT };
#define TXQ 32
#define EV_CAP 1024
#define LV_CAP 20000
#define PEND_MAX ((size_t)8 << 20)   /* diffs kept per book while its snapshot is fetched */

enum { SNAP_IDLE, SNAP_WANTED, SNAP_FETCHING, SNAP_DONE };

typedef struct conn {
    struct mts_ws *w;
    int kind;
    int ssl;
    char host[256], path[4096];
    int port;
    struct lws *wsi;
    int connecting, established, ever_established, got_message;
    int64_t reconnect_at, last_rx, last_ping;
    int64_t connect_at;          /* when connect_conn started the handshake */
    const char *close_why;       /* our reason for the next CLOSED (static text) */
    int backoff_ms;
    char *rx;
    size_t rx_len, rx_cap;
    char *txq[TXQ];
    int tx_head, tx_n;
} conn_t;

struct mts_ws {
    mts_ws_config_t cfg;
    char **symbols;
    int n_symbols;
    mts_book_t **books;          /* one per symbol when the book channel is on */
    int64_t *next_fetch_ms;      /* Binance: earliest next snapshot fetch per book */
    conn_t conns[3];
    int n_conns;
    struct lws_context *ctx;
    lws_sorted_usec_list_t sul;
    mts_parse_buf_t pb, snap_pb;
    mts_ws_stats_t st;
    int64_t deadline;
    volatile sig_atomic_t *stop;
    int64_t malformed_logged;
    int closing;
    char *rest_url;
    mts_http_t *http;            /* Binance depth snapshots (feeds/http.h), only with books;
                                    used by the snapshot thread only */
    /* the snapshot thread: snap_state/res/rc under mu; the rest is the loop's */
    pthread_t snap_th;
    int snap_running, snap_quit;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    volatile sig_atomic_t snap_cancel;
    int *snap_state;             /* per book: SNAP_* */
    mts_http_response_t *snap_res;
    int *snap_rc;
    int *snap_busy;              /* loop side: a request is out for this book */
    char **pend;                 /* per book: diffs received while busy: [size_t n][n bytes]... */
    size_t *pend_len, *pend_cap;
    int *pend_over;              /* more than PEND_MAX arrived: dropped (a gap follows) */
    char kline_name[8];          /* the exchange's name of cfg.kline_interval */
    int64_t msg_ns;              /* CLOCK_MONOTONIC ns when the message being delivered was
                                    complete (mts_ws_message_ns) */
    char err[256];
};

static _Thread_local char create_err[256];   /* why the last mts_ws_create failed */

int64_t mts_ws_message_ns(const mts_ws_t *w) { return w ? w->msg_ns : 0; }

int64_t mts_ws_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *or_default(const char *v, const char *def) { return v && *v ? v : def; }

static int g_handshake_timeout_ms = 10000;
static size_t g_max_message_bytes = MTS_WS_MAX_MESSAGE;

void mts_ws_set_default_limits(int handshake_timeout_ms, size_t max_message_bytes) {
    g_handshake_timeout_ms = handshake_timeout_ms > 0 ? handshake_timeout_ms : 10000;
    g_max_message_bytes = max_message_bytes > 0 ? max_message_bytes : MTS_WS_MAX_MESSAGE;
}

/* Kline intervals: the text both exchanges' docs use, Bybit's name (NULL:
 * Bybit has none), the length. */
static const struct { const char *iv, *bybit; int64_t ms; } KLINE_IV[] = {
    {"1m", "1", 60000}, {"3m", "3", 180000}, {"5m", "5", 300000}, {"15m", "15", 900000},
    {"30m", "30", 1800000}, {"1h", "60", 3600000}, {"2h", "120", 7200000}, {"4h", "240", 14400000},
    {"6h", "360", 21600000}, {"8h", NULL, 28800000}, {"12h", "720", 43200000}, {"1d", "D", 86400000},
    {"3d", NULL, 259200000}, {"1w", "W", 604800000}};

int64_t mts_ws_kline_interval(int exchange, const char *interval, char *name, size_t n) {
    if (!interval) return -1;
    for (size_t i = 0; i < sizeof KLINE_IV / sizeof *KLINE_IV; i++) {
        if (strcmp(interval, KLINE_IV[i].iv)) continue;
        const char *nm = exchange == MTS_EXCH_BYBIT ? KLINE_IV[i].bybit : KLINE_IV[i].iv;
        if (!nm) return -1;
        if (name && n) snprintf(name, n, "%s", nm);
        return KLINE_IV[i].ms;
    }
    return -1;
}

/* ws[s]://host[:port][/path] -> parts. 0 ok, -1 bad. */
static int parse_url(const char *url, int *ssl, char *host, size_t hcap, int *port, char *path, size_t pcap) {
    const char *p;
    if (!strncmp(url, "wss://", 6)) { *ssl = 1; *port = 443; p = url + 6; }
    else if (!strncmp(url, "ws://", 5)) { *ssl = 0; *port = 80; p = url + 5; }
    else return -1;
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon = memchr(p, ':', hl);
    size_t nl = colon ? (size_t)(colon - p) : hl;
    if (nl == 0 || nl >= hcap) return -1;
    memcpy(host, p, nl);
    host[nl] = 0;
    if (colon) {
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (end != p + hl || v <= 0 || v > 65535) return -1;
        *port = (int)v;
    }
    snprintf(path, pcap, "%s", slash ? slash : "/");
    return 0;
}

static void lower(char *dst, const char *s, size_t cap) {
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) dst[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    dst[i] = 0;
}

/* Binance: base path (without a trailing /stream or /ws) + /stream?streams=... */
static int binance_path(mts_ws_t *w, conn_t *c, int futures) {
    size_t n = strlen(c->path);
    while (n > 0 && c->path[n - 1] == '/') n--;
    if (n >= 7 && !strncmp(c->path + n - 7, "/stream", 7)) n -= 7;
    else if (n >= 3 && !strncmp(c->path + n - 3, "/ws", 3)) n -= 3;
    c->path[n] = 0;
    size_t cap = sizeof c->path;
    n += (size_t)snprintf(c->path + n, cap - n, "/stream?streams=");
    int first = 1;
    for (int i = 0; i < w->n_symbols; i++) {
        char s[MTS_SYMBOL_MAX];
        lower(s, w->symbols[i], sizeof s);
        static const struct { unsigned ch; const char *fmt; int fut; } S[] = {
            {MTS_CH_TRADES, "%s@trade", 0}, {MTS_CH_AGGTRADES, "%s@aggTrade", 0},
            {MTS_CH_BOOK, "%s@depth@100ms", 0}, {MTS_CH_BOOKTICKER, "%s@bookTicker", 0},
            {MTS_CH_KLINE, "%s@kline_", 0}, {MTS_CH_FUNDING, "%s@markPrice@1s", 1}};
        for (size_t k = 0; k < sizeof S / sizeof *S; k++) {
            if (!(w->cfg.channels & S[k].ch) || S[k].fut != futures) continue;
            if (n + 64 >= cap) return -1;
            if (!first) c->path[n++] = '/';
            n += (size_t)snprintf(c->path + n, cap - n, S[k].fmt, s);
            if (S[k].ch == MTS_CH_KLINE) n += (size_t)snprintf(c->path + n, cap - n, "%s", w->kline_name);
            first = 0;
        }
    }
    return first ? 1 : 0;   /* 1: nothing to subscribe on this endpoint */
}

static int add_conn(mts_ws_t *w, int kind, const char *url) {
    conn_t *c = &w->conns[w->n_conns];
    memset(c, 0, sizeof *c);
    c->w = w;
    c->kind = kind;
    if (parse_url(url, &c->ssl, c->host, sizeof c->host, &c->port, c->path, sizeof c->path)) {
        snprintf(w->err, sizeof w->err, "bad websocket URL '%s' (expected ws://host[:port][/path] or wss://...)", url);
        return MTS_EINVAL;
    }
    if (kind != C_BYBIT) {
        int r = binance_path(w, c, kind == C_BINANCE_FUTURES);
        if (r < 0) {
            snprintf(w->err, sizeof w->err, "too many streams for one URL");
            return MTS_EINVAL;
        }
        if (r == 1) return 0;
    }
    c->backoff_ms = w->cfg.backoff_min_ms;
    w->n_conns++;
    return 0;
}

int mts_ws_create(const mts_ws_config_t *cfg, mts_ws_t **out) {
    create_err[0] = 0;
    if (out) *out = NULL;
    if (!cfg || !out || cfg->n_symbols <= 0 || !cfg->symbols || !cfg->on_event ||
        (cfg->exchange != MTS_EXCH_BINANCE && cfg->exchange != MTS_EXCH_BYBIT)) {
        snprintf(create_err, sizeof create_err, "mts_ws_create: invalid configuration");
        return MTS_EINVAL;
    }
    *out = NULL;
    mts_ws_t *w = mts_calloc(1, sizeof *w);
    if (!w) {
        snprintf(create_err, sizeof create_err, "websocket client: out of memory");
        return MTS_ENOMEM;
    }
    w->cfg = *cfg;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    mts_ws_config_t *c = &w->cfg;
    if (c->snapshot_limit <= 0) c->snapshot_limit = 1000;
    if (c->bybit_depth <= 0) c->bybit_depth = 50;
    if (c->ping_interval_ms <= 0) c->ping_interval_ms = 20000;
    if (c->backoff_min_ms <= 0) c->backoff_min_ms = 500;
    if (c->backoff_max_ms < c->backoff_min_ms) c->backoff_max_ms = c->backoff_min_ms > 30000 ? c->backoff_min_ms : 30000;
    if (c->idle_timeout_ms <= 0) c->idle_timeout_ms = 60000;
    if (c->handshake_timeout_ms <= 0) c->handshake_timeout_ms = g_handshake_timeout_ms;
    if (c->max_message_bytes == 0) c->max_message_bytes = g_max_message_bytes;
    c->binance_ws_url = or_default(c->binance_ws_url, MTS_WS_BINANCE_URL);
    c->binance_futures_ws_url = or_default(c->binance_futures_ws_url, MTS_WS_BINANCE_FUTURES_URL);
    c->binance_rest_url = or_default(c->binance_rest_url, MTS_REST_BINANCE_URL);
    c->bybit_ws_url = or_default(c->bybit_ws_url, MTS_WS_BYBIT_URL);
    c->kline_interval = or_default(c->kline_interval, "1m");
    c->symbols = NULL;
    int rc = MTS_ENOMEM;
    if ((c->channels & MTS_CH_KLINE) &&
        mts_ws_kline_interval(c->exchange, c->kline_interval, w->kline_name, sizeof w->kline_name) < 0) {
        snprintf(w->err, sizeof w->err, "%s has no kline stream of interval '%s' (%s%s)",
                 mts_exchange_name(c->exchange), c->kline_interval, MTS_WS_KLINE_INTERVALS,
                 c->exchange == MTS_EXCH_BINANCE ? " 8h 3d" : "");
        rc = MTS_EINVAL;
        goto fail;
    }
    c->kline_interval = NULL;   /* borrowed during create only: w->kline_name is what is used */
    /* the REST depth snapshot is only fetched for Binance books */
    int snap = c->exchange == MTS_EXCH_BINANCE && (c->channels & MTS_CH_BOOK);
    w->n_symbols = cfg->n_symbols;
    w->symbols = mts_calloc((size_t)w->n_symbols, sizeof *w->symbols);
    w->books = mts_calloc((size_t)w->n_symbols, sizeof *w->books);
    w->next_fetch_ms = mts_calloc((size_t)w->n_symbols, sizeof *w->next_fetch_ms);
    size_t ns = (size_t)w->n_symbols;
    int snap_ok = 1;
    if (snap) {
        w->snap_state = mts_calloc(ns, sizeof *w->snap_state);
        w->snap_res = mts_calloc(ns, sizeof *w->snap_res);
        w->snap_rc = mts_calloc(ns, sizeof *w->snap_rc);
        w->snap_busy = mts_calloc(ns, sizeof *w->snap_busy);
        w->pend = mts_calloc(ns, sizeof *w->pend);
        w->pend_len = mts_calloc(ns, sizeof *w->pend_len);
        w->pend_cap = mts_calloc(ns, sizeof *w->pend_cap);
        w->pend_over = mts_calloc(ns, sizeof *w->pend_over);
        snap_ok = w->snap_state && w->snap_res && w->snap_rc && w->snap_busy && w->pend && w->pend_len &&
                  w->pend_cap && w->pend_over;
    }
    w->pb.ev = mts_calloc(EV_CAP, sizeof *w->pb.ev);
    w->pb.lv = mts_calloc(LV_CAP, sizeof *w->pb.lv);
    if (snap) {
        w->snap_pb.ev = mts_calloc(4, sizeof *w->snap_pb.ev);
        w->snap_pb.lv = mts_calloc(LV_CAP, sizeof *w->snap_pb.lv);
    }
    w->rest_url = mts_strdup(c->binance_rest_url);
    if (!w->symbols || !w->books || !w->next_fetch_ms || !w->pb.ev || !w->pb.lv ||
        (snap && (!w->snap_pb.ev || !w->snap_pb.lv || !snap_ok)) || !w->rest_url)
        goto fail;
    c->binance_rest_url = w->rest_url;
    if (snap) {   /* one attempt: a failed snapshot is retried by the next diff, 1 s later */
        mts_http_config_t hc;
        mts_http_config_defaults(&hc);
        hc.vendor = "binance";
        hc.timeout_s = 10;
        hc.connect_timeout_s = 5;
        hc.max_attempts = 1;
        hc.cancel_aborts = 1;   /* mts_ws_stop does not wait for a slow snapshot */
        if ((rc = mts_http_new(&hc, &w->http)) != 0) goto fail;
        mts_http_set_cancel(w->http, &w->snap_cancel);
    }
    w->pb.ev_cap = EV_CAP;
    w->pb.lv_cap = LV_CAP;
    w->snap_pb.ev_cap = snap ? 4 : 0;
    w->snap_pb.lv_cap = snap ? LV_CAP : 0;
    for (int i = 0; i < w->n_symbols; i++) {
        char up[MTS_SYMBOL_MAX];
        const char *s = cfg->symbols[i];
        size_t n = strlen(s);
        if (n == 0 || n >= MTS_SYMBOL_MAX) { rc = MTS_EINVAL; snprintf(w->err, sizeof w->err, "bad symbol '%s'", s); goto fail; }
        for (size_t k = 0; k <= n; k++) up[k] = (char)((s[k] >= 'a' && s[k] <= 'z') ? s[k] - 32 : s[k]);
        if (!(w->symbols[i] = mts_strdup(up))) goto fail;
        if ((c->channels & MTS_CH_BOOK) && (rc = mts_book_create(c->exchange, up, &w->books[i])) != 0) goto fail;
    }
    if (c->exchange == MTS_EXCH_BINANCE) {
        if ((rc = add_conn(w, C_BINANCE_SPOT, c->binance_ws_url)) != 0) goto fail;
        if ((rc = add_conn(w, C_BINANCE_FUTURES, c->binance_futures_ws_url)) != 0) goto fail;
    } else if ((rc = add_conn(w, C_BYBIT, c->bybit_ws_url)) != 0) {
        goto fail;
    }
    if (w->n_conns == 0) {
        snprintf(w->err, sizeof w->err, "no channels to subscribe");
        rc = MTS_EINVAL;
        goto fail;
    }
    *out = w;
    return 0;
fail:
    if (rc != MTS_ENOMEM && w->err[0]) mts_log(MTS_LOG_ERROR, "ws.config", "\"error\":\"%s\"", w->err);
    snprintf(create_err, sizeof create_err, "%s", w->err[0] ? w->err : mts_strerror(rc));
    mts_ws_free(w);
    return rc;
}

void mts_ws_free(mts_ws_t *w) {
    if (!w) return;
    mts_ws_stop(w);
    for (int i = 0; i < w->n_conns; i++) {
        conn_t *c = &w->conns[i];
        mts_free(c->rx);
        for (int k = 0; k < c->tx_n; k++) mts_free(c->txq[(c->tx_head + k) % TXQ]);
    }
    for (int i = 0; w->symbols && i < w->n_symbols; i++) mts_free(w->symbols[i]);
    for (int i = 0; w->books && i < w->n_symbols; i++) mts_book_free(w->books[i]);
    mts_free(w->symbols);
    mts_free(w->books);
    mts_free(w->next_fetch_ms);
    mts_free(w->pb.ev);
    mts_free(w->pb.lv);
    mts_free(w->snap_pb.ev);
    mts_free(w->snap_pb.lv);
    mts_free(w->rest_url);
    mts_http_free(w->http);
    for (int i = 0; w->pend && i < w->n_symbols; i++) mts_free(w->pend[i]);
    mts_free(w->pend);
    mts_free(w->pend_len);
    mts_free(w->pend_cap);
    mts_free(w->pend_over);
    mts_free(w->snap_state);
    mts_free(w->snap_res);
    mts_free(w->snap_rc);
    mts_free(w->snap_busy);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    mts_free(w);
}

void mts_ws_stats(const mts_ws_t *w, mts_ws_stats_t *out) {
    if (!out) return;
    if (w) *out = w->st;
    else memset(out, 0, sizeof *out);
}
int mts_ws_n_books(const mts_ws_t *w) { return w && (w->cfg.channels & MTS_CH_BOOK) ? w->n_symbols : 0; }
const mts_book_t *mts_ws_book(const mts_ws_t *w, int i) {
    return w && i >= 0 && i < mts_ws_n_books(w) ? w->books[i] : NULL;
}
const char *mts_ws_errmsg(const mts_ws_t *w) {
    if (!w) return create_err[0] ? create_err : "no error";
    return w->err[0] ? w->err : "no error";
}

/* ---- sending ---- */

static void tx_push(conn_t *c, char *msg) {
    if (!msg) return;
    if (c->tx_n == TXQ) {
        mts_free(msg);
        return;
    }
    c->txq[(c->tx_head + c->tx_n) % TXQ] = msg;
    c->tx_n++;
    if (c->wsi) lws_callback_on_writable(c->wsi);
}

static void tx_clear(conn_t *c) {
    for (int k = 0; k < c->tx_n; k++) mts_free(c->txq[(c->tx_head + k) % TXQ]);
    c->tx_n = c->tx_head = 0;
}

/* {"op":"<op>","args":["publicTrade.S",...]} in requests of at most 10 topics;
 * only_book: just the orderbook topic of symbol index `only` (resync). */
static void bybit_subscribe(mts_ws_t *w, conn_t *c, const char *op, int only) {
    char *topics[512];
    int nt = 0;
    for (int i = 0; i < w->n_symbols && nt < 500; i++) {
        if (only >= 0 && i != only) continue;
        char t[96];
        const char *s = w->symbols[i];
        if (only < 0 && (w->cfg.channels & (MTS_CH_TRADES | MTS_CH_AGGTRADES))) {
            snprintf(t, sizeof t, "publicTrade.%s", s);
            topics[nt++] = mts_strdup(t);
        }
        if (w->cfg.channels & MTS_CH_BOOK) {
            snprintf(t, sizeof t, "orderbook.%d.%s", w->cfg.bybit_depth, s);
            topics[nt++] = mts_strdup(t);
        }
        if (only < 0 && (w->cfg.channels & MTS_CH_FUNDING)) {
            snprintf(t, sizeof t, "tickers.%s", s);
            topics[nt++] = mts_strdup(t);
        }
        if (only < 0 && (w->cfg.channels & MTS_CH_KLINE)) {
            snprintf(t, sizeof t, "kline.%s.%s", w->kline_name, s);
            topics[nt++] = mts_strdup(t);
        }
    }
    for (int k = 0; k < nt; k += 10) {
        char buf[2048];
        size_t n = (size_t)snprintf(buf, sizeof buf, "{\"op\":\"%s\",\"args\":[", op);
        for (int j = k; j < nt && j < k + 10; j++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"%s\"", j > k ? "," : "", topics[j] ? topics[j] : "");
        snprintf(buf + n, sizeof buf - n, "]}");
        tx_push(c, mts_strdup(buf));
    }
    for (int k = 0; k < nt; k++) mts_free(topics[k]);
}

/* ---- REST snapshot (Binance), on the snapshot thread ---- */

static void *snap_thread(void *arg) {
    mts_ws_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        int i = -1;
        while (!w->snap_quit) {
            for (int k = 0; k < w->n_symbols && i < 0; k++)
                if (w->snap_state[k] == SNAP_WANTED) i = k;
            if (i >= 0) break;
            pthread_cond_wait(&w->cv, &w->mu);
        }
        if (w->snap_quit) break;
        w->snap_state[i] = SNAP_FETCHING;
        pthread_mutex_unlock(&w->mu);
        char url[1024];
        const char *base = w->cfg.binance_rest_url;
        size_t bl = strlen(base);
        while (bl > 0 && base[bl - 1] == '/') bl--;
        snprintf(url, sizeof url, "%.*s/api/v3/depth?symbol=%s&limit=%d", (int)bl, base, w->symbols[i],
                 w->cfg.snapshot_limit);
        mts_http_response_t m;
        int rc = mts_http_get(w->http, url, &m);
        pthread_mutex_lock(&w->mu);
        w->snap_res[i] = m;
        w->snap_rc[i] = rc;
        w->snap_state[i] = SNAP_DONE;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Loop side: ask for book i's snapshot (once until its answer is taken). */
static void request_snapshot(mts_ws_t *w, int i) {
    if (w->snap_busy[i] || !w->snap_running) return;
    w->snap_busy[i] = 1;
    w->pend_len[i] = 0;
    w->pend_over[i] = 0;
    pthread_mutex_lock(&w->mu);
    if (w->snap_state[i] == SNAP_IDLE) w->snap_state[i] = SNAP_WANTED;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Keeps a raw diff message of book i until its snapshot lands. */
static void pend_push(mts_ws_t *w, int i, const char *msg, size_t n) {
    if (w->pend_over[i]) return;
    size_t need = w->pend_len[i] + sizeof(size_t) + n;
    if (need > PEND_MAX) {
        w->pend_over[i] = 1;
        w->pend_len[i] = 0;
        mts_log(MTS_LOG_WARN, "ws.snapshot_backlog", "\"symbol\":\"%s\",\"max_bytes\":%zu,\"note\":\"diffs dropped; "
                "the book resyncs after the snapshot\"", w->symbols[i], PEND_MAX);
        return;
    }
    if (need > w->pend_cap[i]) {
        size_t cap = w->pend_cap[i] ? w->pend_cap[i] : 65536;
        while (cap < need) cap *= 2;
        char *p = mts_realloc(w->pend[i], cap);
        if (!p) { w->pend_over[i] = 1; w->pend_len[i] = 0; return; }
        w->pend[i] = p;
        w->pend_cap[i] = cap;
    }
    memcpy(w->pend[i] + w->pend_len[i], &n, sizeof n);
    memcpy(w->pend[i] + w->pend_len[i] + sizeof n, msg, n);
    w->pend_len[i] = need;
}

static void gap(mts_ws_t *w, conn_t *c, int i, const mts_feed_event_t *ev);

/* Replays the kept diffs of book i onto its fresh snapshot (w->pb is free:
 * this runs in the tick, never inside on_message). A gap among them asks for
 * another snapshot and keeps the rest. */
static void pend_replay(mts_ws_t *w, int i) {
    mts_book_t *b = w->books[i];
    size_t off = 0;
    while (off < w->pend_len[i]) {
        size_t n;
        memcpy(&n, w->pend[i] + off, sizeof n);
        const char *msg = w->pend[i] + off + sizeof n;
        if (mts_parse_binance(msg, n, &w->pb) == 0) {
            for (int k = 0; k < w->pb.n_ev; k++) {
                const mts_feed_event_t *ev = &w->pb.ev[k];
                if (ev->kind != MTS_FEV_BOOK || ev->book_kind != MTS_BOOK_DIFF || strcmp(ev->symbol, w->symbols[i]))
                    continue;
                int rc = mts_book_apply(b, ev);
                if (rc == MTS_BOOK_APPLIED) {
                    w->st.book_updates++;
                    w->cfg.on_event(w->cfg.ud, ev, b);
                } else if (rc == MTS_ERANGE) {
                    gap(w, NULL, i, ev);
                    size_t rest = w->pend_len[i] - off;
                    memmove(w->pend[i], w->pend[i] + off, rest);
                    request_snapshot(w, i);   /* resets pend_len: keep the rest after it */
                    w->pend_len[i] = rest;
                    return;
                }
            }
        }
        off += sizeof n + n;
    }
    w->pend_len[i] = 0;
}

/* Loop side, in the tick: applies the snapshots the thread fetched. */
static void snapshots_poll(mts_ws_t *w) {
    if (!w->snap_running) return;
    for (int i = 0; i < w->n_symbols; i++) {
        if (!w->snap_busy[i]) continue;
        pthread_mutex_lock(&w->mu);
        int done = w->snap_state[i] == SNAP_DONE;
        mts_http_response_t m = w->snap_res[i];
        int rc = w->snap_rc[i];
        if (done) {
            w->snap_state[i] = SNAP_IDLE;
            memset(&w->snap_res[i], 0, sizeof w->snap_res[i]);
        }
        pthread_mutex_unlock(&w->mu);
        if (!done) continue;
        w->snap_busy[i] = 0;
        mts_book_t *b = w->books[i];
        if (rc != 0 || !m.body) {
            /* the details (host, curl's error) are in the client's http.error line */
            mts_log(MTS_LOG_WARN, "ws.snapshot_failed", "\"symbol\":\"%s\",\"status\":%ld,\"error\":\"%s\"",
                    w->symbols[i], m.status, mts_strerror(rc ? rc : MTS_EAPI));
            rc = MTS_EIO;
        } else if (mts_parse_binance_depth_snapshot(m.body, m.len, w->symbols[i], &w->snap_pb) != 0) {
            mts_log(MTS_LOG_WARN, "ws.snapshot_malformed", "\"symbol\":\"%s\",\"bytes\":%zu", w->symbols[i], m.len);
            w->st.malformed++;
            rc = MTS_EPARSE;
        } else {
            const mts_feed_event_t *ev = &w->snap_pb.ev[0];
            rc = mts_book_apply(b, ev);
            if (rc == 0) {
                w->st.snapshots_fetched++;
                mts_log(MTS_LOG_INFO, "ws.snapshot", "\"symbol\":\"%s\",\"last_update_id\":%lld,\"bids\":%d,\"asks\":%d,"
                        "\"diffs_kept_bytes\":%zu", w->symbols[i], (long long)ev->update_id, ev->n_bids, ev->n_asks,
                        w->pend_len[i]);
                mts_feed_event_t e = *ev;
                e.ts_ms = mts_ws_now_ms();
                w->cfg.on_event(w->cfg.ud, &e, b);
            }
        }
        mts_http_response_free(&m);
        if (rc) {
            w->next_fetch_ms[i] = mts_ws_now_ms() + 1000;
            w->pend_len[i] = 0;
        } else {
            pend_replay(w, i);
        }
    }
}

static void snapshots_start(mts_ws_t *w) {
    if (!w->http || w->snap_running) return;
    w->snap_quit = 0;
    w->snap_cancel = 0;
    if (pthread_create(&w->snap_th, NULL, snap_thread, w) == 0) w->snap_running = 1;
    else mts_log(MTS_LOG_ERROR, "ws.snapshot_thread", "\"error\":\"cannot start the snapshot thread\"");
}

/* Ends the thread (aborting a request in flight) and forgets every request. */
static void snapshots_stop(mts_ws_t *w) {
    if (!w->snap_running) return;
    pthread_mutex_lock(&w->mu);
    w->snap_quit = 1;
    w->snap_cancel = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->snap_th, NULL);
    w->snap_running = 0;
    for (int i = 0; i < w->n_symbols; i++) {
        mts_http_response_free(&w->snap_res[i]);
        w->snap_state[i] = SNAP_IDLE;
        w->snap_busy[i] = 0;
        w->pend_len[i] = 0;
        w->pend_over[i] = 0;
    }
}

/* ---- messages ---- */

static int book_index(mts_ws_t *w, const char *sym) {
    if (!(w->cfg.channels & MTS_CH_BOOK)) return -1;
    for (int i = 0; i < w->n_symbols; i++)
        if (!strcmp(w->symbols[i], sym)) return i;
    return -1;
}

static void gap(mts_ws_t *w, conn_t *c, int i, const mts_feed_event_t *ev) {
    w->st.resyncs++;
    mts_log(MTS_LOG_WARN, "ws.book_gap", "\"exchange\":\"%s\",\"symbol\":\"%s\",\"first_update_id\":%lld,"
            "\"update_id\":%lld,\"resyncs\":%lld", mts_exchange_name(w->cfg.exchange), w->symbols[i],
            (long long)ev->first_update_id, (long long)ev->update_id, (long long)w->st.resyncs);
    if (c && c->kind == C_BYBIT) {
        bybit_subscribe(w, c, "unsubscribe", i);
        bybit_subscribe(w, c, "subscribe", i);
    }
}

static void on_book(mts_ws_t *w, conn_t *c, const mts_feed_event_t *ev, const char *msg, size_t n) {
    if (ev->book_kind == MTS_BOOK_TOP) {
        w->st.book_updates++;
        w->cfg.on_event(w->cfg.ud, ev, NULL);
        return;
    }
    int i = book_index(w, ev->symbol);
    if (i < 0) return;
    mts_book_t *b = w->books[i];
    if (c->kind != C_BYBIT && ev->book_kind == MTS_BOOK_DIFF && !mts_book_synced(b)) {
        /* the snapshot is fetched on the snapshot thread; this diff waits for it */
        if (!w->snap_busy[i]) {
            if (mts_ws_now_ms() < w->next_fetch_ms[i]) return;
            request_snapshot(w, i);
        }
        if (w->snap_busy[i]) pend_push(w, i, msg, n);
        return;
    }
    int rc = mts_book_apply(b, ev);
    if (rc == MTS_ERANGE && c->kind != C_BYBIT) {
        gap(w, c, i, ev);
        /* refetch; this diff may straddle the new snapshot, so it is kept */
        request_snapshot(w, i);
        if (w->snap_busy[i]) pend_push(w, i, msg, n);
        return;
    } else if (rc == MTS_ERANGE) {
        gap(w, c, i, ev);
        return;
    }
    if (rc == MTS_BOOK_APPLIED) {
        w->st.book_updates++;
        w->cfg.on_event(w->cfg.ud, ev, b);
    }
}

static void malformed(mts_ws_t *w, conn_t *c, const char *msg, size_t n, int rc) {
    w->st.malformed++;
    if (w->malformed_logged < 20 || w->st.malformed % 1000 == 0) {
        w->malformed_logged++;
        char head[81];
        size_t k = n < 80 ? n : 80;
        for (size_t j = 0; j < k; j++) head[j] = (msg[j] >= 0x20 && msg[j] < 0x7f) ? msg[j] : '?';
        head[k] = 0;
        char esc[200];
        size_t e = 0;
        for (size_t j = 0; j < k && e + 3 < sizeof esc; j++) {
            if (head[j] == '"' || head[j] == '\\') esc[e++] = '\\';
            esc[e++] = head[j];
        }
        esc[e] = 0;
        mts_log(MTS_LOG_WARN, "ws.malformed", "\"host\":\"%s\",\"error\":\"%s\",\"bytes\":%zu,\"count\":%lld,\"head\":\"%s\"",
                c->host, mts_strerror(rc), n, (long long)w->st.malformed, esc);
    }
}

static void on_message(mts_ws_t *w, conn_t *c, const char *msg, size_t n) {
    w->st.messages++;
    c->got_message = 1;
    c->backoff_ms = w->cfg.backoff_min_ms;
    mts_parse_buf_t *pb = &w->pb;
    int rc = c->kind == C_BYBIT ? mts_parse_bybit(msg, n, pb) : mts_parse_binance(msg, n, pb);
    if (rc) {
        malformed(w, c, msg, n, rc);
        return;
    }
    if (pb->pong) w->st.pongs++;
    if (pb->nack) mts_log(MTS_LOG_WARN, "ws.request_failed", "\"host\":\"%s\",\"bytes\":%zu", c->host, n);
    if (pb->shutdown && c->wsi) lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    for (int k = 0; k < pb->n_ev; k++) {
        const mts_feed_event_t *ev = &pb->ev[k];
        switch (ev->kind) {
        case MTS_FEV_TRADE: w->st.trades++; w->cfg.on_event(w->cfg.ud, ev, NULL); break;
        case MTS_FEV_FUNDING: w->st.funding++; w->cfg.on_event(w->cfg.ud, ev, NULL); break;
        case MTS_FEV_BAR: w->st.bars++; w->cfg.on_event(w->cfg.ud, ev, NULL); break;
        case MTS_FEV_BOOK: on_book(w, c, ev, msg, n); break;
        default: break;
        }
    }
}

/* ---- connection lifecycle ---- */

static void drop_books(mts_ws_t *w, conn_t *c) {
    if (c->kind == C_BINANCE_FUTURES) return;   /* funding only */
    for (int i = 0; i < mts_ws_n_books(w); i++) {
        mts_book_clear(w->books[i]);
        w->next_fetch_ms[i] = 0;
        if (w->pend_len) w->pend_len[i] = 0;   /* a snapshot in flight is still applied */
    }
}

static void schedule_reconnect(mts_ws_t *w, conn_t *c, const char *why) {
    c->close_why = NULL;
    c->wsi = NULL;
    c->connecting = 0;
    c->established = 0;
    c->rx_len = 0;
    tx_clear(c);
    drop_books(w, c);
    if (!c->got_message) {
        c->backoff_ms *= 2;
        if (c->backoff_ms > w->cfg.backoff_max_ms) c->backoff_ms = w->cfg.backoff_max_ms;
    }
    int base = c->got_message ? w->cfg.backoff_min_ms : c->backoff_ms;
    int jitter = base / 5 > 0 ? (rand() % (2 * (base / 5) + 1)) - base / 5 : 0;
    c->reconnect_at = mts_ws_now_ms() + base + jitter;
    c->got_message = 0;
    mts_log(MTS_LOG_WARN, "ws.disconnected", "\"host\":\"%s\",\"port\":%d,\"reason\":\"%s\",\"retry_ms\":%d",
            c->host, c->port, why, base + jitter);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
    (void)user;
    conn_t *c = lws_get_opaque_user_data(wsi);
    if (!c) return 0;
    mts_ws_t *w = c->w;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->established = 1;
        c->connecting = 0;
        c->last_rx = c->last_ping = mts_ws_now_ms();
        if (c->ever_established) w->st.reconnects++;
        c->ever_established = 1;
        mts_log(MTS_LOG_INFO, "ws.connected", "\"host\":\"%s\",\"port\":%d,\"reconnects\":%lld", c->host,
                c->port, (long long)w->st.reconnects);
        if (c->kind == C_BYBIT) bybit_subscribe(w, c, "subscribe", -1);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
        c->last_rx = mts_ws_now_ms();
        if (c->rx_len + len > w->cfg.max_message_bytes) {
            w->st.oversized++;
            mts_log(MTS_LOG_WARN, "ws.message_too_large", "\"host\":\"%s\",\"port\":%d,\"bytes_so_far\":%zu,"
                    "\"max_bytes\":%zu,\"count\":%lld,\"action\":\"reconnect\"", c->host, c->port,
                    c->rx_len + len, w->cfg.max_message_bytes, (long long)w->st.oversized);
            c->rx_len = 0;
            c->close_why = "message too large";
            return -1;   /* lws closes the connection; CLOSED schedules the reconnect */
        }
        if (c->rx_len + len + 1 > c->rx_cap) {
            size_t cap = (c->rx_len + len + 1) * 2;
            if (cap > w->cfg.max_message_bytes + 1) cap = w->cfg.max_message_bytes + 1;
            if (cap < 65536) cap = 65536;
            char *p = mts_realloc(c->rx, cap);
            if (!p) return -1;
            c->rx = p;
            c->rx_cap = cap;
        }
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
        if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
            struct timespec mt;
            clock_gettime(CLOCK_MONOTONIC, &mt);
            w->msg_ns = (int64_t)mt.tv_sec * 1000000000 + mt.tv_nsec;   /* before any decoding */
            c->rx[c->rx_len] = 0;
            on_message(w, c, c->rx, c->rx_len);
            c->rx_len = 0;
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c->tx_n > 0) {
            char *m = c->txq[c->tx_head];
            c->tx_head = (c->tx_head + 1) % TXQ;
            c->tx_n--;
            size_t n = strlen(m);
            unsigned char *buf = mts_malloc(LWS_PRE + n);
            int wr = -1;
            if (buf) {
                memcpy(buf + LWS_PRE, m, n);
                wr = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
                mts_free(buf);
            }
            mts_free(m);
            if (wr < (int)n) return -1;
            if (c->tx_n > 0) lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (w->closing) { c->wsi = NULL; break; }
        schedule_reconnect(w, c, c->close_why ? c->close_why : in && len ? (const char *)in : "connection error");
        lws_set_opaque_user_data(wsi, NULL);
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (w->closing) { c->wsi = NULL; break; }
        schedule_reconnect(w, c, c->close_why ? c->close_why : "closed");
        lws_set_opaque_user_data(wsi, NULL);
        break;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
    case LWS_CALLBACK_WSI_DESTROY:
        /* a connection closed before the upgrade (e.g. killed by the handshake
         * timeout) reports neither CONNECTION_ERROR nor CLIENT_CLOSED */
        if (w->closing) { c->wsi = NULL; break; }
        schedule_reconnect(w, c, c->close_why ? c->close_why : "closed before the upgrade");
        lws_set_opaque_user_data(wsi, NULL);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"mts-feed", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static void connect_conn(mts_ws_t *w, conn_t *c) {
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = w->ctx;
    ci.address = c->host;
    ci.port = c->port;
    ci.path = c->path;
    ci.host = c->host;
    ci.origin = c->host;
    ci.ssl_connection = c->ssl ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = "mts-feed";
    ci.opaque_user_data = c;
    ci.pwsi = &c->wsi;
    c->connecting = 1;
    c->connect_at = mts_ws_now_ms();
    c->close_why = NULL;
    c->rx_len = 0;
    mts_log(MTS_LOG_INFO, "ws.connect", "\"url\":\"%s://%s:%d%.200s\"", c->ssl ? "wss" : "ws", c->host, c->port, c->path);
    if (!lws_client_connect_via_info(&ci)) {
        /* CONNECTION_ERROR may or may not have fired; make sure a retry is scheduled */
        if (c->connecting) schedule_reconnect(w, c, "connect failed");
    }
}

static void tick(lws_sorted_usec_list_t *sul) {
    mts_ws_t *w = lws_container_of(sul, mts_ws_t, sul);
    int64_t now = mts_ws_now_ms();
    for (int i = 0; i < w->n_conns; i++) {
        conn_t *c = &w->conns[i];
        if (!c->wsi && !c->connecting && now >= c->reconnect_at) {
            connect_conn(w, c);
            continue;
        }
        if (c->connecting && !c->established && c->connect_at > 0 &&
            now - c->connect_at > w->cfg.handshake_timeout_ms) {
            if (c->close_why && c->wsi) {
                /* killed a timeout ago and lws reported nothing: abandon that wsi */
                lws_set_opaque_user_data(c->wsi, NULL);
                schedule_reconnect(w, c, "handshake timeout");
                continue;
            }
            w->st.handshake_timeouts++;
            mts_log(MTS_LOG_WARN, "ws.handshake_timeout", "\"host\":\"%s\",\"port\":%d,\"waited_ms\":%lld,"
                    "\"timeout_ms\":%d,\"count\":%lld", c->host, c->port, (long long)(now - c->connect_at),
                    w->cfg.handshake_timeout_ms, (long long)w->st.handshake_timeouts);
            c->connect_at = now;   /* a second timeout abandons the wsi (above) */
            if (c->wsi) {
                c->close_why = "handshake timeout";
                lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            } else {
                schedule_reconnect(w, c, "handshake timeout");
            }
            continue;
        }
        if (!c->established || !c->wsi) continue;
        if (c->kind == C_BYBIT && now - c->last_ping >= w->cfg.ping_interval_ms) {
            c->last_ping = now;
            w->st.pings_sent++;
            tx_push(c, mts_strdup("{\"op\":\"ping\"}"));
        }
        if (now - c->last_rx > w->cfg.idle_timeout_ms) {
            mts_log(MTS_LOG_WARN, "ws.idle", "\"host\":\"%s\",\"silent_ms\":%lld", c->host, (long long)(now - c->last_rx));
            c->last_rx = now;
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
    }
    snapshots_poll(w);
    if (w->cfg.on_tick) w->cfg.on_tick(w->cfg.ud, now);
    lws_sul_schedule(w->ctx, 0, &w->sul, tick, 100 * LWS_US_PER_MS);
}

int mts_ws_start(mts_ws_t *w) {
    if (!w) return MTS_EINVAL;
    if (w->ctx) return 0;
    int lvl = mts_log_enabled(MTS_LOG_DEBUG) ? (LLL_ERR | LLL_WARN | LLL_NOTICE) : 0;
    lws_set_log_level(lvl, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.gid = -1;
    info.uid = -1;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    w->ctx = lws_create_context(&info);
    if (!w->ctx) {
        snprintf(w->err, sizeof w->err, "cannot create the websocket context");
        return MTS_EIO;
    }
    w->closing = 0;
    snapshots_start(w);
    srand((unsigned)mts_ws_now_ms());
    for (int i = 0; i < w->n_conns; i++) connect_conn(w, &w->conns[i]);
    lws_sul_schedule(w->ctx, 0, &w->sul, tick, 100 * LWS_US_PER_MS);
    return 0;
}

int mts_ws_service(mts_ws_t *w) {
    if (!w || !w->ctx) return MTS_EINVAL;
    if (lws_service(w->ctx, 0) < 0) {
        snprintf(w->err, sizeof w->err, "websocket service failed");
        return MTS_EIO;
    }
    return 0;
}

void mts_ws_stop(mts_ws_t *w) {
    if (!w || !w->ctx) return;
    snapshots_stop(w);
    lws_sul_cancel(&w->sul);
    w->closing = 1;
    lws_context_destroy(w->ctx);   /* closes the connections; CLOSED callbacks may run */
    w->ctx = NULL;
    for (int i = 0; i < w->n_conns; i++) {   /* as before the first start */
        conn_t *c = &w->conns[i];
        c->wsi = NULL;
        c->connecting = c->established = 0;
        c->rx_len = 0;
        c->reconnect_at = 0;
        tx_clear(c);
    }
}

int mts_ws_run(mts_ws_t *w, int64_t duration_ms, volatile sig_atomic_t *stop) {
    if (!w) return MTS_EINVAL;
    int rc = mts_ws_start(w);
    if (rc) return rc;
    int64_t start = mts_ws_now_ms();
    w->deadline = duration_ms > 0 ? start + duration_ms : INT64_MAX;
    while (!(stop && *stop) && mts_ws_now_ms() < w->deadline) {
        if (mts_ws_service(w) != 0) break;
    }
    mts_ws_stop(w);
    return 0;
}
