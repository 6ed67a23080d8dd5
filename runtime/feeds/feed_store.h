/* feed_store.h — batched SQLite writes of live market data: trades, top-N
 * order book snapshots and funding rates (tables from migration 2 in
 * store/store.c), and closed klines (the bar store, mts_store_upsert_ohlcv). Rows are buffered in a fixed array allocated once at open
 * and written in one transaction per batch (when the buffer fills, or on
 * mts_feed_store_flush). Needs store.h and event.h; uses the store's
 * connection (store_internal.h), so the same thread must own both.
 *
 * Write failures (a full disk, an I/O error, a busy database): a failed
 * flush rolls back and keeps every row pending; later flushes retry them.
 * While the last flush failed (mts_feed_store_failing), reaching the batch
 * size no longer flushes on its own (the caller retries on its clock, e.g.
 * every second); rows are kept up to the buffer's capacity
 * (mts_feed_store_reserve) and a row arriving when it is full is dropped and
 * counted in stats.not_stored_*. mts_feed_store_discard counts and drops what
 * is still pending (at exit, when the last flush failed). Nothing is lost
 * without being counted.
 *
 * Duplicates: a trade already stored (same exchange, symbol, trade_id — e.g.
 * replayed after a reconnect) is ignored and counted; a book level or funding
 * row with the same key is replaced.
 *
 * Mirror (optional, mts_feed_store_mirror): every book snapshot and funding
 * update is also written to Redis as JSON under
 *   orderbook:{exchange}:{symbol}:{ts_ms}  (TTL MTS_TTL_ORDERBOOK, 1 h)
 *   funding:{exchange}:{symbol}:{ts_ms}    (TTL MTS_TTL_FUNDING, 24 h)
 * and under orderbook:{exchange}:{symbol}:latest / funding:...:latest (a copy
 * of the newest value, same TTL). The Redis writes of one flush batch go in
 * one pipeline: the first write opens a cache batch (mts_cache_begin) and
 * mts_feed_store_flush commits it. The bus gets the same JSON on topics
 * "orderbook" and "funding". Book JSON: {"exchange","symbol","ts","update_id",
 * "bids":[[price,qty],...],"asks":[...]} best level first; funding JSON:
 * {"exchange","symbol","ts","rate","mark_price","next_funding_ms"} (null
 * when unknown). Numbers read back as the same doubles. Redis and bus errors
 * are counted in the stats and never fail the SQLite path. */
#ifndef MTS_FEED_STORE_H
#define MTS_FEED_STORE_H

#include "cache/bus.h"
#include "cache/cache.h"
#include "feeds/event.h"
#include "store/store.h"

typedef struct mts_feed_store mts_feed_store_t;

typedef struct mts_feed_store_stats {
    int64_t trades, trade_duplicates, book_rows, funding_rows, batches;
    /* the mirror: keys written, pipelines sent, cache errors; bus messages */
    int64_t redis_keys, redis_batches, redis_errors, bus_published, bus_errors;
    /* rows never written (dropped with the buffer full, or discarded), failed flushes */
    int64_t not_stored_trades, not_stored_book_rows, not_stored_funding_rows, flush_errors;
    /* closed klines: bars written to the bar store, received twice in one flush (the later
       kept), refused by the bar rule (market/bar_check.h), never written */
    int64_t bars, bar_duplicates, bars_refused, not_stored_bars;
} mts_feed_store_stats_t;

/* s is borrowed and must outlive the feed store. batch_rows <= 0 means 1000. */
int  mts_feed_store_open(mts_store_t *s, int batch_rows, mts_feed_store_t **out);
/* Flushes what is pending (errors are kept in errmsg) and frees. Accepts NULL. */
void mts_feed_store_close(mts_feed_store_t *fs);
int  mts_feed_store_trade(mts_feed_store_t *fs, const mts_feed_event_t *ev);
int  mts_feed_store_funding(mts_feed_store_t *fs, const mts_feed_event_t *ev);
/* A closed kline (ev->bar_closed; an open one is ignored, 0) of `interval`
 * ("1m" ...): buffered like the other rows; at the flush each series gets ONE
 * mts_store_upsert_ohlcv (store.h: its own transaction, after the trades/book/
 * funding transaction) under the asset name "<exchange>:<SYMBOL>" (e.g.
 * "binance:BTCUSDT") and that interval, so recorded bars never mix with an
 * imported series. Upsert on the open time: a kline received again replaces
 * the stored bar. A kline that breaks the bar rule of imports
 * (market/bar_check.h) or whose open time is not whole seconds is not stored
 * (stats.bars_refused). A series whose write fails stays pending. */
int  mts_feed_store_bar(mts_feed_store_t *fs, const mts_feed_event_t *ev, const char *interval);
/* One row per level: side "bid"/"ask", level 0 = best. */
int  mts_feed_store_book(mts_feed_store_t *fs, int exchange, const char *symbol, int64_t ts_ms,
                         int64_t update_id, const mts_level_t *bids, int nb,
                         const mts_level_t *asks, int na);
/* cache and bus are borrowed (each may be NULL) and must outlive fs. */
int  mts_feed_store_mirror(mts_feed_store_t *fs, mts_cache_t *cache, mts_bus_t *bus);
int  mts_feed_store_flush(mts_feed_store_t *fs);
/* Grows the buffer to hold max_rows pending rows (>= the batch size; call at
 * setup: the hot path never allocates). 0, MTS_EINVAL, MTS_ENOMEM. */
int  mts_feed_store_reserve(mts_feed_store_t *fs, int max_rows);
/* 1 while the last flush failed (until one succeeds). */
int  mts_feed_store_failing(const mts_feed_store_t *fs);
/* Drops the pending rows, counting them in stats.not_stored_*; returns how many. */
int  mts_feed_store_discard(mts_feed_store_t *fs);
int  mts_feed_store_pending(const mts_feed_store_t *fs);
void mts_feed_store_stats(const mts_feed_store_t *fs, mts_feed_store_stats_t *out);
const char *mts_feed_store_errmsg(const mts_feed_store_t *fs);

#endif
