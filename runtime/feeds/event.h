/* event.h — the one normalized market event every exchange message becomes:
 * a trade, a book update (snapshot, diff or top-of-book) or a funding update
 * (klines become MTS_FEV_BAR). A flat struct, no allocation per message: book
 * levels live in a caller-owned buffer and the event holds a pointer + count
 * into it (valid until the caller reuses the buffer). Needs only mts.h.
 *
 * Units: prices and quantities are doubles parsed from the exchange's decimal
 * strings (exact for the usual 8-decimal strings up to 2^53 ulp; see ws_json.h);
 * times are unix milliseconds UTC. Missing numeric fields are NaN (doubles) or
 * -1 (ids, times). */
#ifndef MTS_FEEDS_EVENT_H
#define MTS_FEEDS_EVENT_H

#include <stdint.h>
#include "mts.h"

typedef enum { MTS_FEV_TRADE = 1, MTS_FEV_BOOK = 2, MTS_FEV_FUNDING = 3, MTS_FEV_BAR = 4 } mts_ev_kind_t;
typedef enum { MTS_EXCH_BINANCE = 1, MTS_EXCH_BYBIT = 2 } mts_exchange_t;
/* book.type: a full snapshot (REST or Bybit "snapshot"), an incremental diff, or
 * the best bid/ask only (Binance bookTicker; not applied to the L2 book). */
typedef enum { MTS_BOOK_SNAPSHOT = 1, MTS_BOOK_DIFF = 2, MTS_BOOK_TOP = 3 } mts_book_kind_t;
/* trade side = the taker's side */
enum { MTS_SIDE_UNKNOWN = 0, MTS_SIDE_BUY = 1, MTS_SIDE_SELL = -1 };

#define MTS_SYMBOL_MAX 24
#define MTS_TRADE_ID_MAX 48

typedef struct mts_level { double price, qty; } mts_level_t;

typedef struct mts_feed_event {
    uint8_t kind;                 /* mts_ev_kind_t */
    uint8_t exchange;             /* mts_exchange_t */
    int8_t  side;                 /* trades: MTS_SIDE_* */
    uint8_t book_kind;            /* books: mts_book_kind_t */
    uint8_t futures;              /* 1 if from a derivatives stream */
    char    symbol[MTS_SYMBOL_MAX];   /* upper case, NUL terminated, e.g. "BTCUSDT" */
    int64_t ts_ms;                /* trade time / event time */
    double  price, qty;           /* trade; bar close/volume; TOP: best bid price/qty */
    char    trade_id[MTS_TRADE_ID_MAX];  /* trades: exchange id as text ("12345", a UUID,
                                            or "a12345" for Binance aggregate trades) */
    /* funding */
    double  rate, mark_price;
    int64_t next_funding_ms;
    /* book: Binance U (first), u (last), pu (futures previous final); Bybit u and seq */
    int64_t first_update_id, update_id, prev_update_id, seq;
    const mts_level_t *bids, *asks;   /* borrowed: the parse buffer's levels */
    int32_t n_bids, n_asks;
    double  ask_price, ask_qty;       /* TOP only */
    /* bar */
    double  open, high, low;
    int64_t bar_open_ms, bar_close_ms;
    uint8_t bar_closed;
} mts_feed_event_t;

/* Where a parser writes: events and their book levels. Reset n_ev/n_lv before
 * each message (the parsers do this themselves). */
typedef struct mts_parse_buf {
    mts_feed_event_t *ev;
    int ev_cap, n_ev;
    mts_level_t *lv;
    int lv_cap, n_lv;
    /* set by the parser for control messages (not events) */
    int pong;          /* a pong / heartbeat reply */
    int ack;           /* a subscription acknowledgement (success) */
    int nack;          /* a failed request ({"success":false} or {"error":...}) */
    int shutdown;      /* the server announced it will close (Binance serverShutdown) */
} mts_parse_buf_t;

static inline const char *mts_exchange_name(int ex) {
    return ex == MTS_EXCH_BINANCE ? "binance" : ex == MTS_EXCH_BYBIT ? "bybit" : "?";
}

#endif
