/* paper.h — what a paper-trading session (`mts run`, runtime/live/) stores:
 * the session row (paper_sessions: running -> stopped | failed | crashed,
 * bars, final equity, heartbeat_at / pid / host), its fills (paper_fills), one equity point per step (paper_equity),
 * its signals (signal_history; a backtest's are stored with its run, in
 * backtest_signals) and the closed bars it
 * traded on (live_bars). Tables from schema v4 (store.c). Schema v11: each
 * book's latest state (paper_books: live books and shadow books) and equity
 * per book per step (paper_book_equity), a fill's shadow flag, the session's
 * attach socket (paper_sessions.control_socket).
 * Needs store.h (and store_internal.h for the connection).
 *
 * One call per bar step: mts_paper_write_step stores everything the step
 * produced in ONE transaction. Equity points are upserted on (session, ts):
 * a step whose bars arrive in two parts (two symbols) rewrites its point.
 * Bars are upserted on (exchange, symbol, interval, open_ms): a bar received
 * again after a reconnect is stored once.
 * The step's rows and paper_sessions.bars (= total_bars) are in the same
 * transaction (BEGIN IMMEDIATE): bars never runs ahead of the stored equity.
 *
 * Liveness. A session row carries heartbeat_at (unix s: written at begin, by
 * every step and by mts_paper_heartbeat, which `mts run` calls on a timer
 * while idle), the pid of its process and its host (gethostname). Recovery
 * (mts_paper_recover_stale, at `mts run` start and in GET /health): a
 * `running` session becomes `crashed` (stopped_at = its last heartbeat) when
 *   - its host is this host and its pid no longer exists (kill(pid, 0):
 *     ESRCH), or is the caller's own (the caller runs no session), or belongs
 *     to a process that started after the session did (/proc: the pid was
 *     reused — a restarted container's pid 1, a reboot). While the session's
 *     own process exists it is never marked, however old its heartbeat (a
 *     session blocked on a busy database is alive); or
 *   - it is from another host (or has no pid / host: rows from before schema
 *     v5) and its heartbeat (else started_at) is older than
 *     mts_paper_stale_after(interval) = max(3 x interval, 60 s).
 * A session marked crashed that is in fact alive (a clock jump, another host
 * stalled) is set back to running by its next step or heartbeat.
 *
 * Errors: 0 / negative MTS_E*; mts_store_errmsg(s) has the message (SQLite's
 * text, e.g. "database is locked"). MTS_EDBLOCKED: the database was locked by
 * another connection past the busy timeout; nothing was written (the
 * transaction was rolled back): try again later with the same rows. */
#ifndef MTS_STORE_PAPER_H
#define MTS_STORE_PAPER_H

#include "store/store.h"

typedef struct mts_paper_session {
    const char *strategies, *exchange, *symbols, *interval;   /* "a,b" lists */
    double initial_capital, commission_bps, slippage_bps;
    int64_t started_at;                                       /* unix s */
} mts_paper_session_t;

typedef struct mts_paper_fill {
    int64_t ts;
    const char *asset;
    double qty, price, fee, realized_pnl;   /* qty signed; stored as side + |qty| */
    /* schema v8 (a fill initialised without them stores book 0, NULL, NULL, funding 0) */
    int32_t book;                 /* the book the order traded (one book: 0) */
    const char *strategy;         /* the strategy whose order it was; NULL = not known */
    const char *reason;           /* "signal", "stop_loss", "take_profit", "liquidation", ...; NULL = not known */
    double funding;               /* funding settled on the position at this fill (+ received) */
    /* schema v11 (a fill initialised without it stores 0) */
    int shadow;                   /* 1: a shadow book's fill (not the account's); 0: the account's */
} mts_paper_fill_t;

/* One book of a session as the step leaves it (schema v11, paper_books: one
 * row per (session, book), upserted by every step that carries it). strategy:
 * the book's strategy (a shadow's label); required (NULL: MTS_EINVAL, nothing
 * written). Numbers as the engine has them: equity and cash marked at the
 * step, fees and funding (+ received) so far, fills and closed trades so far. */
typedef struct mts_paper_book {
    int32_t book; const char *strategy; int shadow;
    double initial, equity, cash, fees, funding; int64_t fills, trades;
} mts_paper_book_t;

typedef struct mts_live_bar {
    const char *exchange, *symbol, *interval;
    int64_t open_ms;
    double open, high, low, close, volume;
} mts_live_bar_t;

/* Closed bars for the bar store (mts_store_upsert_ohlcv), written in the
 * step's transaction: the series <exchange>:<SYMBOL> a session records. */
typedef struct mts_paper_series {
    const char *asset, *interval;
    mts_bars_t bars;                  /* borrowed views */
} mts_paper_series_t;

typedef struct mts_paper_step {
    const mts_paper_fill_t *fills;    int64_t n_fills;
    const mts_signal_row_t *signals;  int64_t n_signals;
    const int64_t *equity_ts; const double *equity, *cash; int64_t n_equity;
    const mts_live_bar_t *bars;       int64_t n_bars;
    const mts_paper_series_t *series; int n_series;
    int64_t total_bars;               /* live bars so far: paper_sessions.bars */
    /* schema v11 (n 0 = none; a step initialised without them writes none):
     * the books (upserted into paper_books with updated_ts = books_ts, the
     * step's bar time in unix s) and one equity point per book per step
     * (paper_book_equity, upserted on (session, book, ts): book_eq_ts[i],
     * book_eq_book[i], book_eq[i]) */
    const mts_paper_book_t *books;    int n_books;  int64_t books_ts;
    const int64_t *book_eq_ts; const int32_t *book_eq_book; const double *book_eq; int64_t n_book_eq;
    /* more rows written inside the step's transaction, after the others (the
     * session's input log, store/events.h); NULL: none. Its error rolls back all. */
    int (*extra)(mts_store_t *s, void *ud);
    void *extra_ud;
} mts_paper_step_t;

#define MTS_PAPER_STALE_MIN_S 60

int mts_paper_begin(mts_store_t *s, const mts_paper_session_t *info, int64_t *id_out);
int mts_paper_write_step(mts_store_t *s, int64_t session, const mts_paper_step_t *step);
/* The same with the step's statements (BEGIN IMMEDIATE, the inserts and upserts, the
 * session update, COMMIT, ROLLBACK) prepared once and reused: a session keeps
 * one writer from its first step to its end (mts_paper_write_step makes one
 * per call). The writer borrows the store: free it before closing the store. */
typedef struct mts_paper_writer mts_paper_writer_t;
int  mts_paper_writer_new(mts_store_t *s, mts_paper_writer_t **out);
int  mts_paper_writer_step(mts_paper_writer_t *w, int64_t session, const mts_paper_step_t *step);
void mts_paper_writer_free(mts_paper_writer_t *w);   /* accepts NULL */
/* status "stopped" or "failed"; parameters_json may be NULL. */
int mts_paper_end(mts_store_t *s, int64_t session, const char *status, int64_t stopped_at,
                  int64_t bars, double final_equity, const char *parameters_json);
/* The attach socket of a running session (schema v11,
 * paper_sessions.control_socket): set at open, NULL clears it (at finish).
 * MTS_ENOTFOUND: no such session. */
int mts_paper_set_control(mts_store_t *s, int64_t session, const char *socket_path);
/* The session's status ("running", "stopped", ...) into status and its
 * control socket's path into path ("" = none), each truncated to its size
 * (slen / plen >= 1; status or path may be NULL with size 0 to skip it).
 * MTS_ENOTFOUND: no such session (mts_store_errmsg says which). */
int mts_paper_get_control(mts_store_t *s, int64_t session, char *status, size_t slen,
                          char *path, size_t plen);
/* heartbeat_at = now (unix s). */
int mts_paper_heartbeat(mts_store_t *s, int64_t session, int64_t now);
/* The rule above, applied to every running session; *n (may be NULL): how many
 * were marked crashed now (each logged "paper.session_crashed"). */
int mts_paper_recover_stale(mts_store_t *s, int64_t now, int64_t *n);
/* Seconds without a heartbeat after which a session of this interval ("1m",
 * "1h", ...) is stale: max(3 x interval, MTS_PAPER_STALE_MIN_S). */
int64_t mts_paper_stale_after(const char *interval);

/* The newest `limit` stored bars of (exchange, symbol, interval) with open_ms
 * < before_ms, ascending, appended to out (arrays must have room: out->cap);
 * rows that break the bar rule (market/bar_check.h) are skipped.
 * Warm-up when the exchange's REST API cannot be reached. */
int mts_paper_load_live_bars(mts_store_t *s, const char *exchange, const char *symbol,
                             const char *interval, int64_t before_ms, int limit, mts_bars_t *out);

#endif
