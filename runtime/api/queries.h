/* queries.h — the API server's read-only SQL over the mts database:
 * signal_history rows, paper-trading sessions (schema v4 paper_sessions,
 * paper_fills, paper_equity, written by `mts run`; v11 paper_books), the running sessions'
 * latest equity for the portfolio gauge, a ping for /health, and the
 * database level of the hot-data reads (hotroutes.c): the newest order book
 * snapshot (order_book_snapshots), funding update (funding_rates) and closed
 * paper-session bar (live_bars).
 * Output is JSON (or Prometheus lines) written to a FILE* the caller owns
 * (the server uses open_memstream). Times are given twice: "ts" unix seconds
 * and "time" ISO-8601 UTC. Needs store/store_internal.h (the connection) and
 * util/log.h (JSON numbers and escaping).
 * Errors: 0, MTS_ENOTFOUND, MTS_EDB (mts_store_errmsg has the message). */
#ifndef MTS_API_QUERIES_H
#define MTS_API_QUERIES_H

#include <stdint.h>
#include <stdio.h>
#include "store/store.h"

/* SELECT 1 round trip; *ms its latency. */
int mts_apiq_ping(mts_store_t *s, double *ms);

typedef struct mts_apiq_signal_filter {
    const char *strategy, *asset;   /* NULL = any */
    int64_t since;                  /* INT64_MIN = any; else ts >= since */
    int limit;
} mts_apiq_signal_filter_t;
/* A JSON array of signal_history rows, newest first (ts desc, id desc). */
int mts_apiq_signals(mts_store_t *s, const mts_apiq_signal_filter_t *f, FILE *out);

/* A JSON array of the newest `limit` paper sessions (id desc), each with its
 * fill count and latest equity point. */
int mts_apiq_sessions(mts_store_t *s, int limit, FILE *out);
/* One session as a JSON object with "fill_list" (ascending; each with its
 * book, strategy, reason, funding and "shadow"), "equity" points ([ts, equity,
 * cash], ascending) and "books" (mts_apiq_session_books); MTS_ENOTFOUND when
 * there is no such id. Its "fills" (like the list's) counts the account's
 * fills only: shadow books' fills are counted per book in "books". */
int mts_apiq_session(mts_store_t *s, int64_t id, FILE *out);
/* The books of session id (schema v11 paper_books: each book's state as the
 * session's last step left it) as a JSON array, live books first, then the
 * shadows, each by book id: {"book","strategy","shadow" (bool),"initial",
 * "equity","pnl" (equity - initial),"return" (pnl / initial; null when initial
 * is 0),"fees","funding","fills","trades","updated_at" (ISO),"updated_ts"
 * (unix s)}; [] for a session without book rows (one from before v11). Does
 * not check that the session exists. */
int mts_apiq_session_books(mts_store_t *s, int64_t id, FILE *out);
/* Sessions with status 'running'. */
int mts_apiq_running_sessions(mts_store_t *s, int64_t *n);
/* mts_portfolio_value_usd{session="ID"} lines (with HELP/TYPE): the latest
 * equity of each running session. */
int mts_apiq_portfolio_gauge(mts_store_t *s, FILE *out);

/* The hot records, filled from the database here or from a cache value by
 * handlers (hotroutes.c). Numbers that are NULL/missing are NaN. */
#define MTS_APIQ_MAX_DEPTH 1000
typedef struct mts_apiq_book {
    int64_t ts_ms;
    double update_id;                     /* NaN: none */
    int nb, na;                           /* levels filled, best first */
    double bids[MTS_APIQ_MAX_DEPTH][2], asks[MTS_APIQ_MAX_DEPTH][2];   /* [price, qty] */
} mts_apiq_book_t;
typedef struct mts_apiq_funding {
    int64_t ts_ms;
    double rate, mark_price, next_funding_ms;
} mts_apiq_funding_t;
typedef struct mts_apiq_bar {
    char exchange[32];
    int64_t open_ms;
    double open, high, low, close, volume;
} mts_apiq_bar_t;

/* The newest snapshot of exchange/symbol, at most depth (1..MTS_APIQ_MAX_DEPTH)
 * levels a side. 0, MTS_ENOTFOUND (no rows), MTS_EDB. */
int mts_apiq_orderbook(mts_store_t *s, const char *exchange, const char *symbol, int depth, mts_apiq_book_t *out);
/* The newest funding_rates row of exchange/symbol. */
int mts_apiq_funding(mts_store_t *s, const char *exchange, const char *symbol, mts_apiq_funding_t *out);
/* The newest live_bars row of symbol/interval; exchange NULL = any (the
 * newest open time wins; ties: the exchange first in name order). */
int mts_apiq_latest_bar(mts_store_t *s, const char *exchange, const char *symbol, const char *interval,
                        mts_apiq_bar_t *out);

#endif
