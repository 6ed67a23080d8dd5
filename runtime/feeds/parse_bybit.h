/* parse_bybit.h — Bybit v5 public websocket messages to normalized events
 * (event.h): publicTrade.<S> (one event per trade), orderbook.<depth>.<S>
 * snapshot/delta (u and seq kept), tickers.<S> (funding: rate, mark price,
 * next funding time; a delta carries only changed fields, so absent ones are
 * NaN / -1 and the consumer merges). Control replies ({"op":"ping"} pong,
 * subscribe acks) set buf->pong / ack / nack. Needs event.h.
 *
 * Returns 0, MTS_EPARSE (malformed JSON or a known topic missing a field) or
 * MTS_ERANGE (buffer too small). Never allocates. */
#ifndef MTS_PARSE_BYBIT_H
#define MTS_PARSE_BYBIT_H

#include <stddef.h>
#include "feeds/event.h"

int mts_parse_bybit(const char *msg, size_t len, mts_parse_buf_t *buf);

#endif
