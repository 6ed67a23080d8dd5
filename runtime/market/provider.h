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
 * - Recording and replay (docs/live.md "Replay"): a paper session records
 *   what its strategies loaded, a replay answers from that record.
 *   mts_provider_on_load hands each series loaded from the store — bars,
 *   macro, funding, book; once per series, when it is loaded — to a
 *   recorder as one blob in the native layout below, and the first failed
 *   request of a series (after the store was asked) with its message. The
 *   provider asks a lookup (mts_provider_set_lookup) before the store for
 *   each of those series it has not loaded: a recorded series is kept as if
 *   loaded (never read from the store), a recorded failure fails again with
 *   the recorded message (not kept: a later request asks again), anything
 *   else is read from the store. mts_provider_put seeds a series the same
 *   way. funding events (mts_provider_funding_events: backtests) are
 *   neither recorded nor looked up.
 * - Native layout of a series blob: its columns one after the other, n
 *   8-byte values each in the machine's byte order (int64 times, doubles),
 *   n = size / (8 * columns):
 *     bars     ts open high low close volume        (6)
 *     macro    ts v                                 (2)
 *     funding  ts rate mark_price next_funding      (4)
 *     book     ts bid ask mid spread imbalance      (6)
 *   "what" names a series as text: "<kind> <name> <arg>" (mts_provider_what:
 *   bars ASSET INTERVAL, macro NAME, funding SYMBOL [EXCHANGE], book SYMBOL
 *   [EXCHANGE]; no exchange asked: none written).
 *
 * TODO(series.h): bars of an interval that is not stored should be resampled
 * from a finer stored one with mts_series_load_bars (runtime/market/series.h)
 * once that is merged; today only stored intervals are served. */
#ifndef MTS_MARKET_PROVIDER_H
#define MTS_MARKET_PROVIDER_H

#include <stddef.h>
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

/* Kinds of the series that are recorded / looked up (MTS_PROVIDER_*). */
enum { MTS_PROVIDER_BARS = 1, MTS_PROVIDER_MACRO, MTS_PROVIDER_FUNDING, MTS_PROVIDER_BOOK };
#define MTS_PROVIDER_WHAT_MAX 256
/* The "what" of a series (kind, name, arg = interval / exchange / NULL) into
 * buf; bars without an interval: the default one (as requested). -1 when it
 * does not fit or kind is unknown. */
int mts_provider_what(int kind, const char *name, const char *arg, char *buf, size_t len);
/* Columns of a kind's blob (0: unknown kind). */
int mts_provider_columns(int kind);

/* Called, under the provider's lock, once per series loaded from the store
 * (n rows, data/size: the blob in the native layout, borrowed for the call)
 * and once per series whose first request failed after the store was asked
 * (n = -1, data/size: the message text). NULL fn: none. */
typedef void (*mts_provider_record_fn)(void *ud, int kind, const char *what, int64_t n, const void *data,
                                       size_t size);
void mts_provider_on_load(mts_provider_t *p, mts_provider_record_fn fn, void *ud);

/* Asked, under the provider's lock, before the store for a series not loaded
 * yet: 1 = recorded (*data, *size: the blob, which must stay valid for the
 * call), 2 = recorded as failed (*data, *size: the message text), 0 = not
 * recorded (the store is read). NULL fn: none. */
typedef int (*mts_provider_lookup_fn)(void *ud, int kind, const char *what, const void **data, size_t *size);
void mts_provider_set_lookup(mts_provider_t *p, mts_provider_lookup_fn fn, void *ud);

/* Seeds the series (kind, name, arg) — arg as for mts_provider_what — from
 * a blob in the native layout (copied), as if loaded: requests return it.
 * 0; MTS_EVALID when the series is loaded already (it is kept); MTS_EPARSE
 * when size is not a whole number of rows; MTS_EINVAL for an unknown kind or
 * no name; MTS_ENOMEM. */
int mts_provider_put(mts_provider_t *p, int kind, const char *name, const char *arg, const void *data, size_t size);

/* store borrowed (must outlive the provider); root: where bundled files are
 * (for first-use imports of VIX and the bundled assets; NULL = none);
 * to: the last time to load (a backtest's --to; INT64_MAX for live). */
int  mts_provider_new(mts_store_t *store, const char *root, int64_t to, mts_provider_t **out);
void mts_provider_free(mts_provider_t *p);   /* accepts NULL */

#endif
