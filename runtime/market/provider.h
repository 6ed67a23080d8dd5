/* provider.h — the data a strategy may ask for during a run (issue 10): bars
 * of any asset at any stored interval, any stored macro series, funding
 * rates and top of book from what `mts stream` stored. The runner
 * (scripts/lib/runner.lua) reaches it through the FFI (lua/mts_ffi.h) as
 * ctx:bars / ctx:macro / ctx:funding / ctx:book, and shows each series
 * through read-only views that it grows step by step, so that a strategy
 * sees only what was known at its current bar (docs/lua-api.md, "What a
 * strategy can see"). The provider itself hands out whole series up to the
 * run's end: the as-of cut is the runner's.
 *
 * Contract:
 * - Each series is loaded from the store on first request and kept until
 *   mts_provider_free: loaded once per provider, shared by every strategy of
 *   every run given it (a backtest's provider is in its mts_backtest_data_t,
 *   backtest/backtest.h, which `mts optimize` shares across its grid). The
 *   returned pointers (and their arrays) stay valid and unchanged until then.
 * - Requests return NULL on failure (no such series, store error, out of
 *   memory), with a one-line message naming what and how to fix it in
 *   mts_provider_errmsg; a failed request is not cached (ask again after an
 *   import).
 * - Times: bars and macro values in unix seconds (bar open time; macro
 *   observation date at 00:00 UTC). Funding and book rows are stamped with
 *   ceil(ts_ms / 1000): the first whole second at which they were known.
 * - Funding/book: rows of `symbol` (the exchange symbol, e.g. BTCUSDT) from
 *   `exchange`, or, when exchange is NULL, from the one exchange that has
 *   rows for it (several: an error asking for the exchange).
 * - Book: per stored snapshot (one ts_ms), the best bid (level 0 of side
 *   "bid"), best ask, mid = (bid + ask) / 2, spread = ask - bid, and the depth
 *   imbalance (sum bid qty - sum ask qty) / (sum bid qty + sum ask qty) over
 *   every stored level; NaN where a side is missing.
 * - Thread-safe requests: several threads may share a provider (the runs of
 *   `mts optimize --jobs N` do); a lock serializes the requests, whose loads
 *   use the store handle given to mts_provider_new (its own thread must not
 *   use that handle meanwhile). mts_provider_errmsg is the calling thread's
 *   last failed request's message.
 *
 * TODO(series.h): bars of an interval that is not stored should be resampled
 * from a finer stored one with mts_series_load_bars (runtime/market/series.h)
 * once that is merged; today only stored intervals are served. */
#ifndef MTS_MARKET_PROVIDER_H
#define MTS_MARKET_PROVIDER_H

#include <stdint.h>
#include "mts.h"
#include "lua/mts_ffi.h"
#include "store/store.h"

/* Funding settlement events of symbol from exchange (NULL: the one exchange
 * that has rows, as for mts_provider_funding), built from every stored row
 * by the rule of market/funding.h (raw milliseconds: settlements at
 * floor(ts_ms / 1000)), events after the provider's `to` left out. Bundled
 * funding files (config/mts.json datasets.funding) are imported on first use
 * (store/csv.h mts_store_ensure_funding). Loaded once, owned by the provider
 * like every series here; NULL + errmsg when there is none (no rows, or rows
 * that give no event). The engine borrows it (engine.h
 * mts_engine_set_funding) and must not append to it: a live session appends
 * to its own copy. */
struct mts_funding_events;
const struct mts_funding_events *mts_provider_funding_events(mts_provider_t *p, const char *symbol,
                                                             const char *exchange);

/* store borrowed (must outlive the provider); root: where bundled files are
 * (for first-use imports of VIX and the bundled assets; NULL = none);
 * to: the last time to load (a backtest's --to; INT64_MAX for live). */
int  mts_provider_new(mts_store_t *store, const char *root, int64_t to, mts_provider_t **out);
void mts_provider_free(mts_provider_t *p);   /* accepts NULL */

#endif
