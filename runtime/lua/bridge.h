/* bridge.h — what the rest of the C core asks of Lua. Everything that includes
 * lua.h lives in runtime/lua/; commands use only this header.
 *
 * mts_lua_backtest runs scripts/lib/runner.lua in a fresh lua_State (LuaJIT,
 * JIT on; strategies sandboxed in their own environments) over an engine that
 * already has its assets and macro series: the runner loads each strategy and
 * its config/strategies/<name>.json, applies --param overrides, then drives
 * mts_engine_next() to the end, passing signals through scripts/lib/aggregator.lua
 * and scripts/lib/risk.lua into mts_engine_submit().
 *
 * Errors that stop the run (unknown strategy, syntax error, bad config value,
 * --param for a key no strategy declares) return MTS_ELUA / MTS_ECONFIG with a
 * one-line message in err naming the file and line or field. A strategy that
 * raises while running is disabled (its message recorded in out->disabled) and
 * the run goes on with the others. */
#ifndef MTS_LUA_BRIDGE_H
#define MTS_LUA_BRIDGE_H

#include <stddef.h>
#include "mts.h"
#include "lua/mts_ffi.h"

typedef struct mts_run_spec {
    mts_engine_t       *engine;       /* borrowed */
    const char         *root;         /* directory holding scripts/ and config/ */
    const char *const  *strategies;   /* names; strategy id = index here */
    int                 n_strategies;
    const char *const  *param_keys;   /* --param KEY=VALUE, values as typed */
    const char *const  *param_values;
    int                 n_params;
    int                 trusted;      /* 1: strategies keep the JIT, no budget (see below) */
    const char         *interval;     /* the bars' interval ("1h"...; NULL = "1d"): how far a step
                                         reaches (the as-of views, docs/lua-api.md) */
    mts_provider_t     *provider;     /* borrowed, may be NULL: what ctx:bars / ctx:macro /
                                         ctx:funding / ctx:book load (market/provider.h); a live
                                         session passes its own when this is NULL */
    /* issue 12 (scripts/lib/runner.lua has the rules) */
    const char         *mode;         /* "independent" (NULL: the default) or "vote". independent:
                                         the engine has one book per strategy (book id = strategy
                                         id; mts_engine_set_books before the run) or one book in
                                         all; vote: one book */
    double              max_position; /* the command line's risk limits (--max-position,
                                         --max-portfolio-risk); 0: not given (then the environment's
                                         MAX_POSITION_SIZE / MAX_PORTFOLIO_RISK, else config/mts.json
                                         "risk", else 0.10 / 0.25) */
    double              max_portfolio_risk;
    int                 decisions;    /* 1: keep each asset's last aggregated decision (result) */
    /* issue 14: shadow strategies (scripts/lib/runner.lua has the rules; docs/live.md "Shadow
     * strategies"): labels NAME[:K=V,...], strategy ids n_strategies.., each trading its own
     * shadow book (the host adds them: mts_engine_add_shadow_book, in this order) */
    const char *const  *shadows;
    int                 n_shadows;
} mts_run_spec_t;

/* One aggregated signal of an asset's last step with signals (spec.decisions):
 * what aggregator.lua made of the step's signals for that asset (the mode's
 * aggregation: vote, every strategy's; independent, each strategy's own).
 * A step whose signals cancelled out (a tie) is one record with decided 0. */
typedef struct mts_decision {
    int32_t  asset;            /* the engine's asset id */
    int32_t  strategy;         /* the winner (highest confidence x weight); -1 when !decided */
    int32_t  signal_type;      /* MTS_SIGNAL_* (engine.h) */
    int32_t  n_signals;        /* raw signals of the step for the asset (enabled strategies) */
    int32_t  decided, _pad;
    int64_t  ts;               /* the step */
    double   price, confidence, position_size, stop_loss, take_profit;   /* NaN = not given */
    uint64_t strategies;       /* bit i: strategy i voted for the winning side */
} mts_decision_t;

typedef struct mts_run_result {
    char *parameters_json;   /* mts_malloc'd: {"sma_cross":{"fast":10,"slow":30}} */
    int   n_disabled;
    char *disabled;          /* mts_malloc'd lines "strategy: message\n", NULL if none */
    /* What risk.lua limited, per strategy (index = strategy id; n_risk = the spec's
     * n_strategies + n_shadows, the shadows after the live ones; 0 when the run failed): orders trimmed by a limit, orders a limit
     * planned to 0 (refused), SHORT signals on spot assets refused. One mts_malloc'd
     * block (risk_trimmed; the other two point into it). */
    int      n_risk;
    int64_t *risk_trimmed, *risk_refused, *risk_short_refused;
    /* spec.decisions: ordered by asset, then the aggregator's order (mts_malloc'd) */
    mts_decision_t *decisions;
    int      n_decisions;
    /* spec.shadows: [{"label","strategy","book","params"}] (mts_malloc'd JSON; NULL: none) */
    char    *shadows_json;
} mts_run_result_t;

int  mts_lua_backtest(const mts_run_spec_t *spec, mts_run_result_t *out, char *err, size_t errlen);
void mts_run_result_free(mts_run_result_t *r);   /* accepts NULL */

/* The same run as a paper session (live/live.h; `live` borrowed): the runner
 * waits for bars with mts_live_wait instead of ending, replays the bars
 * already in the engine as warm-up (orders off), and reloads strategy files
 * that change. Returns when the session stops. */
struct mts_live;
int  mts_lua_run_live(const mts_run_spec_t *spec, struct mts_live *live, mts_run_result_t *out,
                      char *err, size_t errlen);

/* Strategies run sandboxed with a time budget per call and a memory cap
 * (docs/strategies.md "The sandbox") unless the spec
 * says trusted or the environment has MTS_TRUSTED_STRATEGIES set to something
 * other than "0": then they run without limits. 1 when the
 * environment asks for trusted strategies. Limits:
 * MTS_STRATEGY_TIME_MS (default 1000 per call), MTS_STRATEGY_MEMORY_MB (128). */
int  mts_lua_trusted_from_env(void);

#endif
