/* parse_bybit.c — Bybit v5 public messages to normalized events (see
 * parse_bybit.h). The top object is scanned once for topic/type/ts/data and
 * the op-reply keys; the key order differs between topics (tickers put "ts"
 * after "data", klines "ts" and "type", options put "id" first), so the result
 * never depends on it: only the speed does (one pass when "topic" comes before
 * "data", see mts_parse_bybit). */
#include "feeds/parse_bybit.h"
#include "feeds/ws_json.h"

#include <string.h>

#define BAD MTS_EPARSE

static mts_feed_event_t *new_event(mts_parse_buf_t *buf, int kind) {
    if (buf->n_ev >= buf->ev_cap) return NULL;
    mts_feed_event_t *e = &buf->ev[buf->n_ev];
    js_event_init(e, kind, MTS_EXCH_BYBIT);
    e->futures = 1;   /* the linear (USDT perpetual) category */
    return e;
}

/* Symbol = the topic's last dot-separated part: "orderbook.50.BTCUSDT" -> BTCUSDT */
static int topic_symbol(const js_span_t *topic, char out[MTS_SYMBOL_MAX]) {
    const char *dot = NULL;
    for (size_t i = 0; i < topic->n; i++)
        if (topic->s[i] == '.') dot = topic->s + i;
    if (!dot) return -1;
    return js_symbol(out, dot + 1, (size_t)(topic->s + topic->n - dot - 1));
}

static int prefix(const js_span_t *sp, const char *lit) {
    size_t l = strlen(lit);
    return sp->type == '"' && sp->n > l && memcmp(sp->s, lit, l) == 0;
}

/* Optional number in a string that may be "" (Bybit leaves fields empty). */
static double opt_dbl(const js_span_t *sp) {
    double v;
    if (!sp->s || js_span_double(sp, &v)) return NAN;
    return v;
}

/* The kind functions read a topic's "data" value at j (nesting depth 1), either
 * where it stands in the message (the one pass, fast = 1) or from the span the
 * top scan kept (fast = 0). With fast = 0 they check in the order they always
 * did; with fast = 0 or 1 a success means the same events. With fast = 1 a
 * failure only says "read it again the other way": the caller rewinds and
 * takes the span path, so errors and their codes never depend on the path. */

static int trades(js_t *j, mts_parse_buf_t *buf) {
    int first = 1, rc;
    if (js_arr_begin(j)) return BAD;
    while ((rc = js_arr_next(j, &first)) == 1) {
        mts_feed_event_t *e = new_event(buf, MTS_FEV_TRADE);
        if (!e) return MTS_ERANGE;
        js_span_t T = {0}, s = {0}, S = {0}, v = {0}, p = {0}, id = {0};
        int f2 = 1, r2;
        const char *k;
        size_t kn;
        if (js_obj_begin(j)) return BAD;
        while ((r2 = js_obj_next(j, &f2, &k, &kn)) == 1) {
            js_span_t val;
            if (js_value(j, &val, 3)) return BAD;
            if (kn == 1) {
                switch (k[0]) {
                case 'T': T = val; break;
                case 's': s = val; break;
                case 'S': S = val; break;
                case 'v': v = val; break;
                case 'p': p = val; break;
                case 'i': id = val; break;
                default: break;
                }
            }
        }
        if (r2) return BAD;
        if (!T.s || !s.s || !S.s || !v.s || !p.s || !id.s || js_span_int64(&T, &e->ts_ms) ||
            js_span_double(&p, &e->price) || js_span_double(&v, &e->qty) ||
            s.type != '"' || js_symbol(e->symbol, s.s, s.n) || id.type != '"' ||
            id.n == 0 || id.n >= MTS_TRADE_ID_MAX || S.type != '"')
            return BAD;
        if (!(e->price > 0) || !(e->qty >= 0)) return BAD;
        if (js_key_is(S.s, S.n, "Buy")) e->side = MTS_SIDE_BUY;
        else if (js_key_is(S.s, S.n, "Sell")) e->side = MTS_SIDE_SELL;
        else return BAD;
        memcpy(e->trade_id, id.s, id.n);
        e->trade_id[id.n] = 0;
        buf->n_ev++;
    }
    return rc ? BAD : 0;
}

/* fast = 1: the first "b" is read into buf->lv where it stands, and "a" too
 * when it follows the bids, so the levels are scanned once and lie bids first
 * as with fast = 0; a side given twice after that is left to the span path. */
static int book(const js_span_t *topic, const js_span_t *type, int64_t ts, js_t *j, mts_parse_buf_t *buf,
                int fast) {
    if (js_peek(j) != '{' || !type->s || type->type != '"') return BAD;
    mts_feed_event_t *e = new_event(buf, MTS_FEV_BOOK);
    if (!e) return MTS_ERANGE;
    if (js_key_is(type->s, type->n, "snapshot")) e->book_kind = MTS_BOOK_SNAPSHOT;
    else if (js_key_is(type->s, type->n, "delta")) e->book_kind = MTS_BOOK_DIFF;
    else return BAD;
    e->ts_ms = ts;
    js_span_t s = {0}, b = {0}, a = {0}, u = {0}, seq = {0};
    int fb = -1, nb = 0, fa = -1, na = 0;   /* fb, fa >= 0: that side already in buf->lv */
    int first = 1, rc;
    const char *k;
    size_t kn;
    if (js_obj_begin(j)) return BAD;
    while ((rc = js_obj_next(j, &first, &k, &kn)) == 1) {
        if (fast && kn == 1 && (k[0] == 'b' || k[0] == 'a')) {
            int bids = k[0] == 'b';
            if (fb >= 0 && (bids || fa >= 0)) return BAD;      /* repeated side */
            if (bids || fb >= 0) {
                js_span_t *sp = bids ? &b : &a;
                if (js_peek(j) != '[') return BAD;
                sp->s = j->p;
                if (js_levels_at(j, buf, bids ? &fb : &fa, bids ? &nb : &na, 2)) return BAD;
                sp->n = (size_t)(j->p - sp->s);
                sp->type = '[';
                continue;
            }
        }
        js_span_t v;
        if (js_value(j, &v, 2)) return BAD;
        if (js_key_is(k, kn, "s")) s = v;
        else if (js_key_is(k, kn, "b")) b = v;
        else if (js_key_is(k, kn, "a")) a = v;
        else if (js_key_is(k, kn, "u")) u = v;
        else if (js_key_is(k, kn, "seq")) seq = v;
    }
    if (rc || !b.s || !a.s || !u.s || js_span_int64(&u, &e->update_id)) return BAD;
    if (seq.s && js_span_int64(&seq, &e->seq)) return BAD;
    if (s.s ? (s.type != '"' || js_symbol(e->symbol, s.s, s.n)) : topic_symbol(topic, e->symbol))
        return BAD;
    if ((fb < 0 && (rc = js_levels(&b, buf, &fb, &nb))) || (fa < 0 && (rc = js_levels(&a, buf, &fa, &na))))
        return rc == -2 ? MTS_ERANGE : BAD;
    e->bids = buf->lv + fb;
    e->n_bids = nb;
    e->asks = buf->lv + fa;
    e->n_asks = na;
    buf->n_ev++;
    return 0;
}

static int tickers(const js_span_t *topic, int64_t ts, js_t *j, mts_parse_buf_t *buf) {
    js_span_t sym = {0}, rate = {0}, mark = {0}, next = {0};
    int first = 1, rc;
    const char *k;
    size_t kn;
    if (js_obj_begin(j)) return BAD;
    while ((rc = js_obj_next(j, &first, &k, &kn)) == 1) {
        js_span_t v;
        if (js_value(j, &v, 2)) return BAD;
        if (js_key_is(k, kn, "symbol")) sym = v;
        else if (js_key_is(k, kn, "fundingRate")) rate = v;
        else if (js_key_is(k, kn, "markPrice")) mark = v;
        else if (js_key_is(k, kn, "nextFundingTime")) next = v;
    }
    if (rc) return BAD;
    double r = opt_dbl(&rate), m = opt_dbl(&mark);
    int64_t nf = -1;
    if (next.s && js_span_int64(&next, &nf)) nf = -1;
    if (isnan(r) && isnan(m) && nf < 0) return 0;   /* a delta without funding fields */
    mts_feed_event_t *e = new_event(buf, MTS_FEV_FUNDING);
    if (!e) return MTS_ERANGE;
    if (sym.s ? (sym.type != '"' || js_symbol(e->symbol, sym.s, sym.n)) : topic_symbol(topic, e->symbol))
        return BAD;
    e->ts_ms = ts;
    e->rate = r;
    e->mark_price = m;
    e->next_funding_ms = nf;
    buf->n_ev++;
    return 0;
}

static int klines(const js_span_t *topic, js_t *j, mts_parse_buf_t *buf) {
    int first = 1, rc;
    if (js_arr_begin(j)) return BAD;
    while ((rc = js_arr_next(j, &first)) == 1) {
        mts_feed_event_t *e = new_event(buf, MTS_FEV_BAR);
        if (!e) return MTS_ERANGE;
        js_span_t st = {0}, en = {0}, o = {0}, c = {0}, h = {0}, l = {0}, v = {0}, cf = {0}, ts = {0};
        int f2 = 1, r2;
        const char *k;
        size_t kn;
        if (js_obj_begin(j)) return BAD;
        while ((r2 = js_obj_next(j, &f2, &k, &kn)) == 1) {
            js_span_t val;
            if (js_value(j, &val, 3)) return BAD;
            if (js_key_is(k, kn, "start")) st = val;
            else if (js_key_is(k, kn, "end")) en = val;
            else if (js_key_is(k, kn, "open")) o = val;
            else if (js_key_is(k, kn, "close")) c = val;
            else if (js_key_is(k, kn, "high")) h = val;
            else if (js_key_is(k, kn, "low")) l = val;
            else if (js_key_is(k, kn, "volume")) v = val;
            else if (js_key_is(k, kn, "confirm")) cf = val;
            else if (js_key_is(k, kn, "timestamp")) ts = val;
        }
        if (r2 || topic_symbol(topic, e->symbol) || js_span_int64(&st, &e->bar_open_ms) ||
            js_span_int64(&en, &e->bar_close_ms) || js_span_double(&o, &e->open) ||
            js_span_double(&c, &e->price) || js_span_double(&h, &e->high) ||
            js_span_double(&l, &e->low) || js_span_double(&v, &e->qty) ||
            js_span_int64(&ts, &e->ts_ms))
            return BAD;
        e->bar_closed = cf.type == 't';
        buf->n_ev++;
    }
    return rc ? BAD : 0;
}

enum { T_OTHER, T_TRADE, T_BOOK, T_TICKERS, T_KLINE };

static int topic_kind(const js_span_t *topic) {
    if (prefix(topic, "publicTrade.")) return T_TRADE;
    if (prefix(topic, "orderbook.")) return T_BOOK;
    if (prefix(topic, "tickers.")) return T_TICKERS;
    if (prefix(topic, "kline.")) return T_KLINE;
    return T_OTHER;
}

static int data_events(int kind, const js_span_t *topic, const js_span_t *type, int64_t ts, js_t *j,
                       mts_parse_buf_t *buf, int fast) {
    switch (kind) {
    case T_TRADE: return trades(j, buf);
    case T_BOOK: return book(topic, type, ts, j, buf, fast);
    case T_TICKERS: return tickers(topic, ts, j, buf);
    case T_KLINE: return klines(topic, j, buf);
    default: return 0;
    }
}

/* One pass: when "topic" (and for a book "type") comes before "data", as in
 * every documented frame but a tickers' "ts", the data value becomes events
 * where it stands; "ts" is filled in at the end. A key that would change them
 * coming later (topic, data again, a book's type) drops them and the kept span
 * is read as before. Otherwise (data first) the span is read after the scan. */
int mts_parse_bybit(const char *msg, size_t len, mts_parse_buf_t *buf) {
    if (!msg || !buf) return MTS_EINVAL;
    buf->n_ev = buf->n_lv = 0;
    buf->pong = buf->ack = buf->nack = buf->shutdown = 0;
    js_t j = {msg, msg + len};
    js_span_t topic = {0}, type = {0}, ts = {0}, data = {0}, op = {0}, success = {0}, ret_msg = {0};
    int done = -1;   /* the topic kind whose events are in buf already, or -1 */
    int first = 1, r, rc;
    const char *k;
    size_t kn;
    if (js_obj_begin(&j)) return BAD;
    while ((r = js_obj_next(&j, &first, &k, &kn)) == 1) {
        if (js_key_is(k, kn, "data")) {
            done = -1;
            buf->n_ev = buf->n_lv = 0;
            int kind = topic.s && topic.type == '"' ? topic_kind(&topic) : T_OTHER;
            if (kind != T_OTHER && (kind != T_BOOK || (type.s && type.type == '"'))) {
                js_ws(&j);
                const char *st = j.p;
                if (data_events(kind, &topic, &type, -1, &j, buf, 1) == 0) {
                    data = (js_span_t){st, (size_t)(j.p - st), *st == '{' ? '{' : '['};
                    done = kind;
                    continue;
                }
                j.p = st;
                buf->n_ev = buf->n_lv = 0;
            }
            if (js_value(&j, &data, 1)) return BAD;
            continue;
        }
        js_span_t v;
        if (js_value(&j, &v, 1)) goto bad;
        if (js_key_is(k, kn, "topic")) { topic = v; done = -1; }
        else if (js_key_is(k, kn, "type")) { type = v; if (done == T_BOOK) done = -1; }
        else if (js_key_is(k, kn, "ts")) ts = v;
        else if (js_key_is(k, kn, "op")) op = v;
        else if (js_key_is(k, kn, "success")) success = v;
        else if (js_key_is(k, kn, "ret_msg")) ret_msg = v;
    }
    if (r != 0 || js_done(&j)) goto bad;
    if (op.s && !topic.s) {
        if (op.type != '"') return BAD;
        if (js_key_is(op.s, op.n, "ping") || js_key_is(op.s, op.n, "pong") ||
            (ret_msg.type == '"' && js_key_is(ret_msg.s, ret_msg.n, "pong")))
            buf->pong = 1;
        else if (success.type == 't') buf->ack = 1;
        else buf->nack = 1;
        return 0;
    }
    if (!topic.s || topic.type != '"' || !data.s) goto bad;
    int64_t t = -1;
    if (ts.s && js_span_int64(&ts, &t)) goto bad;
    if (done >= 0) {
        if (done == T_BOOK || done == T_TICKERS)
            for (int i = 0; i < buf->n_ev; i++) buf->ev[i].ts_ms = t;
        return 0;
    }
    buf->n_ev = buf->n_lv = 0;
    int kind = topic_kind(&topic);
    if (kind != T_OTHER && data.type != '{' && data.type != '[') return BAD;   /* a string's span is its text */
    js_t dj = {data.s, data.s + data.n};
    rc = data_events(kind, &topic, &type, t, &dj, buf, 0);
    if (rc) buf->n_ev = 0;
    return rc;
bad:
    buf->n_ev = buf->n_lv = 0;
    return BAD;
}
