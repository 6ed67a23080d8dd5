/* parse_binance.h — Binance websocket and REST messages to normalized events
 * (event.h). Spot: trade, aggTrade, kline, bookTicker, depthUpdate (diff) and
 * partial depth; USD-M futures: markPriceUpdate (funding), plus the futures
 * forms of the same streams. Accepts raw payloads, combined-stream envelopes
 * {"stream":..,"data":..} and arrays (!markPrice@arr). Needs event.h.
 *
 * Returns 0 (buf->n_ev events, possibly 0 for acks and unknown event types),
 * MTS_EPARSE for malformed or incomplete JSON or a known event missing a field,
 * MTS_ERANGE when buf has no room. Never allocates. */
#ifndef MTS_PARSE_BINANCE_H
#define MTS_PARSE_BINANCE_H

#include <stddef.h>
#include "feeds/event.h"

int mts_parse_binance(const char *msg, size_t len, mts_parse_buf_t *buf);

/* GET /api/v3/depth (or /fapi/v1/depth) body: one MTS_BOOK_SNAPSHOT event with
 * update_id = lastUpdateId; symbol is copied in (the body has none). */
int mts_parse_binance_depth_snapshot(const char *body, size_t len, const char *symbol,
                                     mts_parse_buf_t *buf);

#endif
