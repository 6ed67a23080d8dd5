/* decide.c — mts_decide (see decide.h): one unstored backtest per asset with
 * the runner's decisions kept, then the aggregate of the asset's last bar. */
#include "backtest/decide.h"

#include <string.h>

int mts_decide(mts_store_t *store, const mts_backtest_opts_t *o, mts_decide_result_t *out, int *failed,
               char *err, size_t errlen) {
    if (failed) *failed = -1;
    if (!o || !out || o->n_assets <= 0 || o->n_strategies <= 0)
        return mts_errf(err, errlen, MTS_EINVAL, "decide: no assets or no strategies");
    memset(out, 0, (size_t)o->n_assets * sizeof *out);
    for (int a = 0; a < o->n_assets; a++) {
        mts_backtest_opts_t one = *o;
        one.assets = &o->assets[a];
        one.n_assets = 1;
        one.store_result = 0;
        one.keep_unstored = 0;
        one.allocate = NULL;
        one.decisions = 1;
        if (o->n_strategies > 1) one.mode = "vote";   /* one decision per asset across the strategies */
        mts_backtest_t *b = NULL;
        int rc = mts_backtest_run(store, &one, &b, err, errlen);
        if (rc != 0) {
            if (failed) *failed = a;
            return rc;
        }
        mts_decide_result_t *r = &out[a];
        const mts_bars_t *bars = &b->bars[0];
        r->bars = bars->n;
        r->last_ts = bars->n ? bars->ts[bars->n - 1] : 0;
        r->reason = "no_signal";
        for (int i = 0; i < b->lua.n_decisions; i++) {
            const mts_decision_t *d = &b->lua.decisions[i];
            if (d->asset != 0 || d->ts != r->last_ts) continue;   /* an older step: not the current decision */
            r->n_signals = d->n_signals;
            if (d->decided) {
                r->decided = 1;
                r->signal = *d;
                r->reason = NULL;
                break;
            }
            r->reason = "tie";
        }
        if (b->lua.disabled) {
            r->disabled = mts_strdup(b->lua.disabled);
            if (!r->disabled) {
                mts_backtest_free(b);
                if (failed) *failed = a;
                return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
            }
        }
        mts_backtest_free(b);
    }
    return 0;
}

void mts_decide_free(mts_decide_result_t *out, int n) {
    if (!out) return;
    for (int i = 0; i < n; i++) {
        mts_free(out[i].disabled);
        out[i].disabled = NULL;
    }
}
