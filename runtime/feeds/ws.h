/* ws.h — the exchange websocket client: one libwebsockets context, one
 * connection per endpoint (Binance spot combined streams, Binance USD-M
 * futures for markPrice/funding, or Bybit v5 public linear), messages parsed
 * into normalized events (event.h), L2 books kept per symbol (book.h).
 * Needs libwebsockets (ws:// and wss://), libcurl (the Binance REST depth
 * snapshot), parse_binance.h, parse_bybit.h, book.h.
 *
 * Who uses it: `mts stream` (cmd/stream.c: trades, books, funding, through
 * mts_ws_run) and `mts run` (live/live.c: closed klines of any interval,
 * serviced step by step with mts_ws_start / mts_ws_service). Both get their
 * URLs and timings from the same environment settings (cmd.h
 * mts_cli_feed_env); this file reads no environment itself: a NULL URL is the
 * exchange's public endpoint (MTS_WS_*_URL below).
 *
 * Behaviour:
 * - Subscriptions: Binance by URL (/stream?streams=a/b/c); Bybit by
 *   {"op":"subscribe","args":[...]} after the handshake (10 topics a request).
 *   Klines: Binance <sym>@kline_<interval>, Bybit kline.<minutes|D|W>.<SYM>
 *   (cfg.kline_interval, default "1m"; mts_ws_kline_interval lists them).
 * - Heartbeats: Binance pings are answered by lws (pong); Bybit gets
 *   {"op":"ping"} every ping_interval_ms (default 20 s). A connection silent
 *   for idle_timeout_ms is closed and reopened.
 * - Reconnect: exponential backoff from backoff_min_ms to backoff_max_ms
 *   (doubling, ±20 % jitter), reset once a message arrives; on reconnect the
 *   streams are resubscribed and every book of that connection is dropped.
 * - Books: Binance diff depth starts from GET {rest}/api/v3/depth?symbol=S&limit=N
 *   (requested when the first diff arrives on an unsynced book; diffs older than
 *   the snapshot are dropped). The REST call runs on a helper thread (one,
 *   started by mts_ws_start, one request at a time, 10 s timeout) so the
 *   websocket loop never waits for it; the diffs that arrive meanwhile are
 *   kept (up to 8 MiB a book) and replayed onto the snapshot when it lands (in
 *   the 100 ms tick). mts_ws_stop aborts a request in flight. On any sequence gap the book is dropped and
 *   resynced: Binance refetches the snapshot, Bybit unsubscribes and
 *   resubscribes the orderbook topic (a new snapshot follows). Each is counted
 *   in stats.resyncs.
 * - Malformed messages are counted, logged (first bytes, rate-limited) and skipped.
 * Callbacks run inside mts_ws_run / mts_ws_service on the caller's thread
 * (the snapshot thread only does HTTP). */
#ifndef MTS_FEEDS_WS_H
#define MTS_FEEDS_WS_H

#include <signal.h>
#include "feeds/book.h"
#include "feeds/event.h"

enum {
    MTS_CH_TRADES = 1, MTS_CH_AGGTRADES = 2, MTS_CH_BOOK = 4, MTS_CH_BOOKTICKER = 8,
    MTS_CH_KLINE = 16, MTS_CH_FUNDING = 32
};

/* The exchanges' public endpoints: what a NULL URL in the config means. */
#define MTS_WS_BINANCE_URL          "wss://stream.binance.com:9443"
#define MTS_WS_BINANCE_FUTURES_URL  "wss://fstream.binance.com"
#define MTS_WS_BYBIT_URL            "wss://stream.bybit.com/v5/public/linear"
#define MTS_REST_BINANCE_URL        "https://api.binance.com"
#define MTS_REST_BYBIT_URL          "https://api.bybit.com"
/* Default cap of one websocket message (Binance and Bybit send < 1 MiB). */
#define MTS_WS_MAX_MESSAGE          ((size_t)16 << 20)
/* The kline intervals both exchanges stream (Binance also 8h and 3d). */
#define MTS_WS_KLINE_INTERVALS      "1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d 1w"

/* ev is borrowed for the call. book: the symbol's book after a snapshot/diff was
 * applied (NULL for other events). */
typedef void (*mts_ws_event_fn)(void *ud, const mts_feed_event_t *ev, const mts_book_t *book);
/* Called about every 100 ms with the wall clock in ms (for flushing, snapshots). */
typedef void (*mts_ws_tick_fn)(void *ud, int64_t now_ms);

typedef struct mts_ws_config {
    int exchange;                        /* MTS_EXCH_BINANCE or MTS_EXCH_BYBIT */
    const char *const *symbols;          /* "BTCUSDT"...; borrowed during create */
    int n_symbols;
    unsigned channels;                   /* MTS_CH_* */
    const char *kline_interval;          /* MTS_CH_KLINE: "1m" (default), "5m", "1h", "1d" ...;
                                            borrowed during create, like the URLs */
    const char *binance_ws_url;          /* NULL: MTS_WS_BINANCE_URL */
    const char *binance_futures_ws_url;  /* NULL: MTS_WS_BINANCE_FUTURES_URL */
    const char *binance_rest_url;        /* NULL: MTS_REST_BINANCE_URL */
    const char *bybit_ws_url;            /* NULL: MTS_WS_BYBIT_URL */
    int snapshot_limit;                  /* Binance REST depth limit, default 1000 */
    int bybit_depth;                     /* orderbook.<depth>, default 50 */
    int ping_interval_ms;                /* Bybit, default 20000 */
    int backoff_min_ms, backoff_max_ms;  /* default 500, 30000 */
    int idle_timeout_ms;                 /* default 60000 */
    int handshake_timeout_ms;            /* TCP connect + TLS + HTTP upgrade; 0: the process
                                            default (mts_ws_set_default_limits, 10000) */
    size_t max_message_bytes;            /* one websocket message; 0: the process default
                                            (MTS_WS_MAX_MESSAGE) */
    mts_ws_event_fn on_event;
    mts_ws_tick_fn on_tick;              /* may be NULL */
    void *ud;
} mts_ws_config_t;

typedef struct mts_ws_stats {
    int64_t messages, trades, book_updates, funding, bars;
    int64_t resyncs, reconnects, malformed, snapshots_fetched, pings_sent, pongs;
    int64_t handshake_timeouts;          /* connections given up before the upgrade answer */
    int64_t oversized;                   /* messages over max_message_bytes (connection dropped) */
} mts_ws_stats_t;

typedef struct mts_ws mts_ws_t;

/* Checks the config (URLs, symbols, interval) and allocates every buffer; no
 * connection yet. On an error *out is NULL and mts_ws_errmsg(NULL) says why
 * (on this thread). */
int  mts_ws_create(const mts_ws_config_t *cfg, mts_ws_t **out);
/* Runs until *stop becomes non-zero (stop may be NULL) or duration_ms passes
 * (<= 0: no limit), then closes the connections: mts_ws_start, mts_ws_service
 * in a loop, mts_ws_stop. Returns 0, or MTS_EIO if the context could not be
 * created. */
int  mts_ws_run(mts_ws_t *w, int64_t duration_ms, volatile sig_atomic_t *stop);
/* Step by step, for a caller with its own loop (live/live.c):
 * mts_ws_start creates the context and opens the connections (0, MTS_EIO;
 * 0 at once if already started). mts_ws_service runs one libwebsockets
 * service round: the callbacks fire inside it, and it returns within about
 * 100 ms (the tick) even when nothing arrives; 0, MTS_EINVAL if not started,
 * MTS_EIO if the service failed. Connections, backoff, heartbeats and
 * subscriptions live on between calls. mts_ws_stop closes the connections
 * and the context (no callback after it returns; accepts NULL or a stopped
 * client); mts_ws_start may open them again. */
int  mts_ws_start(mts_ws_t *w);
int  mts_ws_service(mts_ws_t *w);
void mts_ws_stop(mts_ws_t *w);
void mts_ws_stats(const mts_ws_t *w, mts_ws_stats_t *out);
int  mts_ws_n_books(const mts_ws_t *w);
const mts_book_t *mts_ws_book(const mts_ws_t *w, int i);
/* The client's last error; with NULL, why the last mts_ws_create failed. */
const char *mts_ws_errmsg(const mts_ws_t *w);
void mts_ws_free(mts_ws_t *w);   /* stops it first; accepts NULL */

/* A kline interval ("1m" "3m" "5m" "15m" "30m" "1h" "2h" "4h" "6h" "8h" "12h"
 * "1d" "3d" "1w") -> its length in ms, and the exchange's name for it in
 * name[n] (Binance: the same text; Bybit: minutes, "D" or "W"). exchange 0:
 * any exchange. -1 when that exchange has no such kline stream. name may be NULL. */
int64_t mts_ws_kline_interval(int exchange, const char *interval, char *name, size_t n);

/* Process-wide defaults of the two limits, used by every mts_ws_create whose
 * config leaves them 0 (<= 0 / 0 here: the built-in 10000 ms, MTS_WS_MAX_MESSAGE).
 * cmd.h mts_cli_feed_env sets them from MTS_WS_HANDSHAKE_TIMEOUT_MS and
 * MTS_WS_MAX_MESSAGE_BYTES, so `mts run` (whose session config has no such
 * fields) honours the same variables as `mts stream`. Call before creating clients. */
void mts_ws_set_default_limits(int handshake_timeout_ms, size_t max_message_bytes);

/* Inside an on_event callback: when the websocket message the event came from
 * was complete (its last fragment received), before it was decoded, in
 * CLOCK_MONOTONIC ns. The start of `mts run`'s kline -> order latency. */
int64_t mts_ws_message_ns(const mts_ws_t *w);

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t mts_ws_now_ms(void);

#endif
