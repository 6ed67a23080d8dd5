/* live.h — a paper-trading session on live klines: the engine of the
 * backtests (engine/engine.h, live assets), fed closed bars from an
 * exchange's kline websocket (Binance <symbol>@kline_<interval>, Bybit v5
 * kline.<interval>.<symbol>), with warm-up history from the REST klines API,
 * and everything a step produces persisted (store/paper.h) and printed.
 * Needs feeds/ws.h (the websocket client `mts stream` uses: connection,
 * subscription, Bybit pings, idle timeout, reconnect with backoff, kline
 * parsing — shared, not copied), libcurl, cJSON, engine/, store/.
 *
 * Who drives whom. The Lua runner (scripts/lib/runner.lua, live mode) drives
 * mts_engine_next() as in a backtest; when the engine has no event it calls
 * mts_live_wait() through the FFI (declared in lua/mts_ffi.h): that commits
 * the finished step (store, output), then services the websocket client
 * (mts_ws_service, one round at a time; the connection lives on between waits)
 * until a closed bar was appended to the engine (1), a reload was requested
 * (2: SIGHUP or a watched strategy file changed, or an attached client's
 * "reload"; *reload = bit mask of watch indices, -1 = all), a request of an
 * attached client waits for the runner (3: mts_live_control_request), or the session must stop (0: stop flag, duration,
 * max_bars). No callback goes from C into Lua. The first 64 waits of a
 * session return 1 at once, committing, servicing and appending nothing
 * (rehearsal rounds, live.c REHEARSALS: the runner's path through a wait is
 * compiled by LuaJIT before the first frame); so 1 means "look for new bars".
 *
 * Bars: a kline with x=false / confirm=false (still open) is ignored; a closed
 * one is first checked: the bar rule of imports (market/bar_check.h: finite
 * prices in (0, 1e12], high/low around open/close, volume >= 0, time in
 * 1970..2100) and its open time (on the interval's grid; closed by our clock,
 * 60 s of skew allowed). A bad bar is refused ("live.bar_refused", counted in
 * refused) and changes nothing else: it never becomes the last bar, opens no
 * gap, ends no session. The same check applies to REST bars (warm-up and
 * backfill) and to bars loaded from live_bars. A good closed bar whose open
 * time is not after the symbol's last bar is a duplicate
 * (a replay after a reconnect) and is skipped; one that leaves a gap is
 * preceded by the missing bars fetched from the REST klines API, the newest
 * 1000 at most (logged "live.gap" / "live.backfill" with missing, requested). Warm-up bars (cfg.warmup, from REST, else
 * from the live_bars table) are in the assets' arrays before the run starts:
 * the runner replays them with orders off; they are not stored again.
 *
 * Step alignment (several symbols). A backtest runs one step per timestamp
 * with every asset's bar in it; on a live feed the symbols' bars of one open
 * time arrive one after the other. With more than one symbol and an
 * alignment grace (cfg.align_ms), a closed bar is held as pending (a small
 * per-asset queue, reserved at open) and a step is released — its bars
 * appended to the engine together, in asset order, inside one wait — when
 * every symbol has a pending bar (each at the step's open time, or a later
 * one: then the missing bar will never come), or when the grace has passed
 * since the step's first bar arrived (logged "live.step_incomplete" with the
 * missing symbols, counted in steps_incomplete). A bar for a step already
 * released is appended as before (a second pass of that step, counted in
 * second_passes; refused and counted in late if older than the current step).
 * Gap backfills go through the same queues, so a dropped connection's missed
 * steps are still aligned. One symbol, or align_ms 0: bars go straight to
 * the engine, as without alignment. Bars still pending when the session
 * stops are not traded ("live.pending_dropped").
 *
 * Each step's closed bars are also written to the bar store as the series
 * "<exchange>:<SYMBOL>" at the session's interval (mts_store_upsert_ohlcv,
 * inside the step's transaction: store/paper.h mts_paper_series_t).
 *
 * Books, instruments and funding (issue 12) as in `mts backtest`: the engine
 * gets cfg.n_books books (shares cfg.alloc), each asset its instrument
 * (market/instrument.h: cfg.instrument, config/mts.json "instruments") and
 * cfg.leverage. A perp asset pays funding from the settlement events that
 * market/funding.h builds from the rows stored in funding_rates (`mts import
 * funding`, `mts stream --channels funding`) for the perp's configured symbol
 * and exchange (instruments.<asset>.perp.symbol/exchange; else the session's
 * symbol and exchange; bundled histories imported on first use as a backtest
 * does): read at open, then every MTS_MACRO_REFRESH_S seconds (default 60) and
 * on SIGHUP, and the settlements after the last one handed over are appended
 * (mts_engine_append_funding) to the session's own event arrays (reserved at
 * open, borrowed by the engine). The engine pays a settlement at the asset's
 * first bar at or after its time, as in a backtest; one stored after that bar
 * had run is paid at the next bar (logged "live.funding_late"). The first
 * events known for a time count (a later different row is not re-read).
 * Each fill is stored with its book, strategy, reason and funding share.
 *
 * Recording (issue 14, store/events.h): every input is logged in order and
 * written in the step's transaction — the warm-up bars, each
 * mts_engine_append_bar (after alignment: the order the engine saw), VIX and
 * funding appends, the content of every watched file at the start and at each
 * reload (SIGHUP: all of them), config/mts.json, and what each wait returned
 * — so `mts replay` (replay/replay.h) rebuilds the session exactly by driving
 * this same code with cfg.replay.
 *
 * Ownership: the session owns the engine, the bar arrays (reserved once:
 * appending never moves them), its websocket client (mts_ws_t); the store is borrowed.
 * Errors: 0 / negative MTS_E* with a one-line message in err / errmsg. */
#ifndef MTS_LIVE_H
#define MTS_LIVE_H

#include <signal.h>
#include <stdio.h>
#include "engine/engine.h"
#include "market/instrument.h"
#include "store/store.h"

#define MTS_LIVE_MAX_ASSETS 16
#define MTS_LIVE_MAX_WATCH 30

typedef struct mts_live_config {
    int exchange;                          /* MTS_EXCH_BINANCE / MTS_EXCH_BYBIT (feeds/event.h) */
    const char *const *symbols;            /* "BTCUSDT" ... */
    const char *const *assets;             /* engine asset names, same order */
    int n_assets;
    const char *interval;                  /* "1m" "5m" "1h" "1d" ... */
    const char *ws_url, *rest_url;         /* NULL: the exchange's public endpoint (feeds/ws.h);
                                              the command passes mts_cli_feed_env's */
    const char *const *strategies;         /* names, strategy id = index (for records) */
    int n_strategies;
    int warmup;                            /* bars of history per symbol before trading */
    int64_t duration_ms;                   /* <= 0: until stopped */
    int64_t max_bars;                      /* stop after this many live bars (0: no limit) */
    double capital, commission_bps, slippage_bps;
    int64_t bar_capacity;                  /* bars reserved per symbol (default 1 << 20) */
    int backoff_ms;                        /* first reconnect delay (0: the client's 500) */
    int ping_interval_ms;                  /* Bybit ping (0: the client's 20000) */
    int idle_timeout_ms;                   /* reconnect after this silence (0: the client's 60000) */
    int64_t align_ms;                      /* step alignment grace with several symbols: < 0 the
                                              default (3000, or a tenth of the interval if smaller),
                                              0 off (each bar appended as it arrives) */
    mts_store_t *store;                    /* borrowed */
    const char *db_path;                   /* the store's file: the SQLite bus without Redis */
    const char *redis_url;                 /* NULL: bus in SQLite, cache L1 only */
    FILE *out;                             /* one line per signal/fill (NULL: none) */
    int json;                              /* JSON lines on out */
    volatile sig_atomic_t *stop;           /* set by SIGINT/SIGTERM handlers */
    volatile sig_atomic_t *hup;            /* set by the SIGHUP handler */
    int64_t heartbeat_ms;                  /* heartbeat while idle (0: every 10 s; store/paper.h) */
    /* issue 12: books, instruments, funding (docs/live.md "Books, perps and funding") */
    int32_t n_books;                       /* books (engine.h mts_engine_set_books): 0 = one book
                                              holding all the capital; independent mode: one per
                                              strategy, book id = strategy id */
    const double *alloc;                   /* n_books shares of the capital (borrowed for the open) */
    double leverage;                       /* perps (engine config; 0 = 1) */
    mts_instrument_opts_t instrument;      /* market and fee overrides for every asset
                                              (market/instrument.h with config/mts.json
                                              "instruments"); its commission_bps is ignored:
                                              commission_bps above is used */
    /* issue 14: replay (docs/live.md "Replay") */
    const char *root;                      /* holds scripts/ and config/ (NULL: mts_root()): the
                                              files recorded are named relative to it */
    const char *mode;                      /* recorded with the options (runner: NULL = independent) */
    double max_position, max_portfolio_risk;   /* the command line's limits (0: not given) */
    const char *const *param_keys, *const *param_values;   /* --param, recorded */
    int n_params;
    struct mts_replay *replay;             /* NULL: a live session (websocket, store, bus). Else a
                                              replay (replay/replay.h): no connection, nothing stored
                                              or published; the warm-up, macro and funding come from
                                              the record, and each wait applies the recorded wait's
                                              inputs (the same append path) and returns what it
                                              returned */
} mts_live_config_t;

typedef struct mts_live_summary {
    int64_t session_id, live_bars, warmup_bars, fills, signals;
    int64_t duplicates, gaps, backfilled, late, reconnects, messages;
    int64_t refused;                       /* bars refused by the bar rule (market/bar_check.h) or
                                              their open time (off the interval's grid, ahead of
                                              the clock): stream, backfill, warm-up */
    int64_t store_retries;                 /* step commits that met a busy database (retried) */
    double  final_equity;
    double  latency_p50_us, latency_p99_us, latency_max_us;   /* kline -> order: the complete websocket
                                              frame (before decoding) -> the step's strategies run and
                                              orders submitted (before storing); docs/live.md */
    int64_t latency_samples;               /* steps timed (a fixed histogram, allocated at open) */
    int64_t align_ms;                      /* the grace in force (0: no alignment) */
    int64_t steps, steps_incomplete;       /* aligned steps released; of those, released by the
                                              grace (or a full queue) without every symbol */
    int64_t second_passes;                 /* a bar appended after its step had run (the engine
                                              ran that step again) */
    int64_t perps;                         /* assets traded as perpetuals */
    int64_t funding_events;                /* settlements handed to the engine (session start and
                                              refreshes; those before the first bar are never paid) */
} mts_live_summary_t;

typedef struct mts_live mts_live_t;

int  mts_live_open(const mts_live_config_t *cfg, mts_live_t **out, char *err, size_t errlen);
mts_engine_t *mts_live_engine(mts_live_t *l);
/* The session's interval name, and its data provider for the runner's
 * ctx:bars/macro/funding/book (market/provider.h; made on first call, freed
 * with the session; NULL without a store or memory). */
const char *mts_live_interval(const mts_live_t *l);
mts_provider_t *mts_live_provider(mts_live_t *l);
/* Commits what is left, closes the session row (status "stopped" or
 * "failed", final equity, parameters). */
int  mts_live_finish(mts_live_t *l, const char *status, const char *parameters_json);
/* The runner disabled a strategy (an error, a limit): the strategy_disabled
 * alert (alerts/alerts.h), once per strategy. */
void mts_live_strategy_disabled(mts_live_t *l, const char *strategy, const char *message);
void mts_live_get_summary(const mts_live_t *l, mts_live_summary_t *out);
const char *mts_live_errmsg(const mts_live_t *l);
void mts_live_free(mts_live_t *l);   /* accepts NULL */

/* Attach (live/control.h, docs/live.md "Attach and control"): after
 * mts_live_wait returned 3, the request's JSON text (valid until the reply;
 * NULL when none); the runner answers it with mts_live_control_reply (ok 1:
 * json_result is the JSON value of "result", NULL null; ok 0: json_result is
 * the error text) before waiting again. In a replay the request is the
 * recorded one and the reply goes nowhere. counts: session id, live bars,
 * live steps run (equity points; for "status"). */
const char *mts_live_control_request(mts_live_t *l);
int  mts_live_control_reply(mts_live_t *l, const char *json_result, int ok);
void mts_live_control_counts(const mts_live_t *l, int64_t out[3]);

/* Replay bookkeeping: the engine's fills, signals and equity points that
 * belong to the warm-up (before the first live step), and the session's
 * events recorded so far (0 in a replay). */
void mts_live_marks(const mts_live_t *l, int64_t *fills_first, int64_t *signals_first, int64_t *equity_first);

/* Interval text -> milliseconds ("1m" 60000, "1h", "1d", "1w"); -1 unless it is
 * a kline interval of an exchange (mts_ws_kline_interval). */
int64_t mts_live_interval_ms(const char *interval);

#endif
