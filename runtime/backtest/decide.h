/* decide.h — the current decision of strategies for assets: what the runner
 * and the aggregator (scripts/lib/runner.lua, aggregator.lua: the ones a
 * backtest uses) decide at each asset's latest stored bar. POST
 * /signals/generate answers with it; the REPL or a command may too.
 *
 * For each asset, a backtest (mts_backtest_run, not stored) of the strategies
 * over that asset's stored bars of o->interval in [o->from, o->to] is run with
 * decisions kept (mts_backtest_opts_t.decisions); with several strategies in
 * mode vote (one book: every strategy's signals of a step aggregated
 * together, confidence x weight, as the reference architecture's aggregator).
 * The answer for the asset is the aggregate of the step at its latest bar:
 * a signal of that bar, never an older one. No signal at that bar, or signals
 * that cancelled out (a tie), is a result without a signal that says which.
 *
 * Errors: 0, or the first failing asset's MTS_E* with its message in err and
 * its index in *failed (what mts_backtest_run says: unknown asset, no bars of
 * that interval, a strategy that does not load). A strategy failing while it
 * runs is not an error: it is listed in the asset's disabled lines. */
#ifndef MTS_DECIDE_H
#define MTS_DECIDE_H

#include "backtest/backtest.h"

typedef struct mts_decide_result {
    int64_t        last_ts;      /* the asset's latest bar (open time, unix s) */
    int64_t        bars;         /* bars the strategies ran over */
    int            n_signals;    /* the strategies' signals at that bar (before aggregation) */
    int            decided;      /* 1: signal is the aggregate of that bar */
    mts_decision_t signal;       /* strategy / strategies: indexes into o->strategies */
    const char    *reason;       /* !decided: "no_signal" or "tie" (static) */
    char          *disabled;     /* "strategy: message\n" lines, mts_malloc'd; NULL when none */
} mts_decide_result_t;

/* o: the run (strategies, params, interval, from/to, costs, root, cancel;
 * assets: the assets to decide for, each run on its own). out: o->n_assets
 * results, in o's order (free with mts_decide_free, on error too). */
int  mts_decide(mts_store_t *store, const mts_backtest_opts_t *o, mts_decide_result_t *out, int *failed,
                char *err, size_t errlen);
void mts_decide_free(mts_decide_result_t *out, int n);

#endif
