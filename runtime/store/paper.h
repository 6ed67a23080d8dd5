/* paper.h — what a paper-trading session (`mts run`, runtime/live/) stores:
 * the session row (paper_sessions: running -> stopped | failed, bars, final
 * equity), its fills (paper_fills), one equity point per step (paper_equity),
 * its signals (signal_history, like a backtest's) and the closed bars it
 * traded on (live_bars). Tables from schema v4 (store.c).
 * Needs store.h (and store_internal.h for the connection).
 *
 * One call per bar step: mts_paper_write_step stores everything the step
 * produced in ONE transaction. Equity points are upserted on (session, ts):
 * a step whose bars arrive in two parts (two symbols) rewrites its point.
 * Bars are upserted on (exchange, symbol, interval, open_ms): a bar received
 * again after a reconnect is stored once.
 * Errors: 0 / negative MTS_E*; mts_store_errmsg(s) has the message. */
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
} mts_paper_fill_t;

typedef struct mts_live_bar {
    const char *exchange, *symbol, *interval;
    int64_t open_ms;
    double open, high, low, close, volume;
} mts_live_bar_t;

typedef struct mts_paper_step {
    const mts_paper_fill_t *fills;    int64_t n_fills;
    const mts_signal_row_t *signals;  int64_t n_signals;
    const int64_t *equity_ts; const double *equity, *cash; int64_t n_equity;
    const mts_live_bar_t *bars;       int64_t n_bars;
    int64_t total_bars;               /* live bars so far: paper_sessions.bars */
} mts_paper_step_t;

int mts_paper_begin(mts_store_t *s, const mts_paper_session_t *info, int64_t *id_out);
int mts_paper_write_step(mts_store_t *s, int64_t session, const mts_paper_step_t *step);
/* status "stopped" or "failed"; parameters_json may be NULL. */
int mts_paper_end(mts_store_t *s, int64_t session, const char *status, int64_t stopped_at,
                  int64_t bars, double final_equity, const char *parameters_json);
/* The newest `limit` stored bars of (exchange, symbol, interval) with open_ms
 * < before_ms, ascending, appended to out (arrays must have room: out->cap).
 * Warm-up when the exchange's REST API cannot be reached. */
int mts_paper_load_live_bars(mts_store_t *s, const char *exchange, const char *symbol,
                             const char *interval, int64_t before_ms, int limit, mts_bars_t *out);

#endif
