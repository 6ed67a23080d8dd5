/* parse_binance.c — Binance messages to normalized events (see parse_binance.h).
 * One pass over the payload object collects spans of the keys we know, then
 * the event type ("e", or the key set for bookTicker / partial depth) decides
 * what they mean: "a" is an aggregate id in aggTrade, the ask price in
 * bookTicker and the ask levels in depthUpdate. */
#include "feeds/parse_binance.h"
#include "feeds/ws_json.h"

#include <stdio.h>
#include <string.h>

enum { F_e, F_E, F_s, F_t, F_p, F_q, F_T, F_m, F_a, F_b, F_A, F_B, F_U, F_u, F_pu, F_r, F_k,
       F_LAST, F_BIDS, F_ASKS, F_o, F_c, F_h, F_l, F_v, F_x, F_i, F_COUNT };
static const char *const FIELD_NAMES[F_COUNT] = {
    "e", "E", "s", "t", "p", "q", "T", "m", "a", "b", "A", "B", "U", "u", "pu", "r", "k",
    "lastUpdateId", "bids", "asks", "o", "c", "h", "l", "v", "x", "i"};

typedef struct { js_span_t f[F_COUNT]; } fields_t;

static int field_index(const char *k, size_t kn) {
    if (kn == 1) {
        switch (k[0]) {
        case 'e': return F_e; case 'E': return F_E; case 's': return F_s; case 't': return F_t;
        case 'p': return F_p; case 'q': return F_q; case 'T': return F_T; case 'm': return F_m;
        case 'a': return F_a; case 'b': return F_b; case 'A': return F_A; case 'B': return F_B;
        case 'U': return F_U; case 'u': return F_u; case 'r': return F_r; case 'k': return F_k;
        case 'o': return F_o; case 'c': return F_c; case 'h': return F_h; case 'l': return F_l;
        case 'v': return F_v; case 'x': return F_x; case 'i': return F_i;
        default: return -1;
        }
    }
    for (int i = F_pu; i < F_COUNT; i++)
        if (js_key_is(k, kn, FIELD_NAMES[i])) return i;
    return -1;
}

/* Collects the known keys of the object at j (depth for nesting). */
static int collect(js_t *j, fields_t *fl, int depth) {
    memset(fl, 0, sizeof *fl);
    if (js_obj_begin(j)) return -1;
    int first = 1, rc;
    const char *k;
    size_t kn;
    while ((rc = js_obj_next(j, &first, &k, &kn)) == 1) {
        js_span_t v;
        if (js_value(j, &v, depth + 1)) return -1;
        int idx = field_index(k, kn);
        if (idx >= 0) fl->f[idx] = v;
    }
    return rc;
}

/* collect, and a kline's "k" object collected in the same pass into kf
 * (when kf is given; *has_k says whether it was): no second scan of it. */
static int collect_k(js_t *j, fields_t *fl, fields_t *kf, int *has_k, int depth) {
    memset(fl, 0, sizeof *fl);
    *has_k = 0;
    if (js_obj_begin(j)) return -1;
    int first = 1, rc;
    const char *k;
    size_t kn;
    while ((rc = js_obj_next(j, &first, &k, &kn)) == 1) {
        int idx = field_index(k, kn);
        if (idx == F_k && kf && js_peek(j) == '{') {
            const char *st = j->p;
            if (depth + 1 > JS_MAX_DEPTH || collect(j, kf, depth + 1)) return -1;
            fl->f[F_k] = (js_span_t){st, (size_t)(j->p - st), '{'};
            *has_k = 1;
            continue;
        }
        js_span_t v;
        if (js_value(j, &v, depth + 1)) return -1;
        if (idx >= 0) fl->f[idx] = v;
    }
    return rc;
}

#define HAS(fl, i) ((fl)->f[i].s != NULL)

static int get_i64(const fields_t *fl, int i, int64_t *out) {
    return HAS(fl, i) ? js_span_int64(&fl->f[i], out) : -1;
}
static int get_dbl(const fields_t *fl, int i, double *out) {
    return HAS(fl, i) ? js_span_double(&fl->f[i], out) : -1;
}

static mts_feed_event_t *new_event(mts_parse_buf_t *buf, int kind) {
    if (buf->n_ev >= buf->ev_cap) return NULL;
    mts_feed_event_t *e = &buf->ev[buf->n_ev];
    js_event_init(e, kind, MTS_EXCH_BINANCE);
    return e;
}

static int set_symbol(mts_feed_event_t *e, const fields_t *fl, const char *stream, size_t sn) {
    if (HAS(fl, F_s) && fl->f[F_s].type == '"') return js_symbol(e->symbol, fl->f[F_s].s, fl->f[F_s].n);
    if (stream) {   /* "btcusdt@depth5" */
        const char *at = memchr(stream, '@', sn);
        return js_symbol(e->symbol, stream, at ? (size_t)(at - stream) : sn);
    }
    return -1;
}

static int levels_into(mts_parse_buf_t *buf, const js_span_t *bids, const js_span_t *asks,
                       mts_feed_event_t *e) {
    int fb, nb, fa, na, rc;
    if ((rc = js_levels(bids, buf, &fb, &nb)) != 0) return rc;
    if ((rc = js_levels(asks, buf, &fa, &na)) != 0) return rc;
    e->bids = buf->lv + fb;
    e->n_bids = nb;
    e->asks = buf->lv + fa;
    e->n_asks = na;
    return 0;
}

#define BAD MTS_EPARSE
#define LV_RC(rc) ((rc) == -2 ? MTS_ERANGE : MTS_EPARSE)

/* One payload object (already collected; kpre: its "k" object, when collected with it). */
static int payload(const fields_t *fl, const fields_t *kpre, const char *stream, size_t sn, mts_parse_buf_t *buf) {
    const js_span_t *ev = &fl->f[F_e];
    if (HAS(fl, F_e)) {
        if (ev->type != '"') return BAD;
        if (js_key_is(ev->s, ev->n, "trade") || js_key_is(ev->s, ev->n, "aggTrade")) {
            int agg = ev->n == 8;
            mts_feed_event_t *e = new_event(buf, MTS_FEV_TRADE);
            if (!e) return MTS_ERANGE;
            int64_t id;
            const js_span_t *m = &fl->f[F_m];
            if (set_symbol(e, fl, stream, sn) || get_i64(fl, agg ? F_a : F_t, &id) ||
                get_dbl(fl, F_p, &e->price) || get_dbl(fl, F_q, &e->qty) ||
                get_i64(fl, F_T, &e->ts_ms) || !HAS(fl, F_m) || (m->type != 't' && m->type != 'f'))
                return BAD;
            if (!(e->price > 0) || !(e->qty >= 0)) return BAD;
            /* m = buyer is the maker, so the taker sold */
            e->side = m->type == 't' ? MTS_SIDE_SELL : MTS_SIDE_BUY;
            snprintf(e->trade_id, sizeof e->trade_id, "%s%lld", agg ? "a" : "", (long long)id);
            buf->n_ev++;
            return 0;
        }
        if (js_key_is(ev->s, ev->n, "depthUpdate")) {
            mts_feed_event_t *e = new_event(buf, MTS_FEV_BOOK);
            if (!e) return MTS_ERANGE;
            e->book_kind = MTS_BOOK_DIFF;
            if (set_symbol(e, fl, stream, sn) || get_i64(fl, F_U, &e->first_update_id) ||
                get_i64(fl, F_u, &e->update_id) || get_i64(fl, F_E, &e->ts_ms))
                return BAD;
            if (HAS(fl, F_pu)) {
                if (get_i64(fl, F_pu, &e->prev_update_id)) return BAD;
                e->futures = 1;
            }
            if (e->first_update_id > e->update_id) return BAD;
            int rc = levels_into(buf, &fl->f[F_b], &fl->f[F_a], e);
            if (rc) return LV_RC(rc);
            buf->n_ev++;
            return 0;
        }
        if (js_key_is(ev->s, ev->n, "markPriceUpdate")) {
            mts_feed_event_t *e = new_event(buf, MTS_FEV_FUNDING);
            if (!e) return MTS_ERANGE;
            e->futures = 1;
            if (set_symbol(e, fl, stream, sn) || get_i64(fl, F_E, &e->ts_ms) ||
                get_dbl(fl, F_p, &e->mark_price) || get_dbl(fl, F_r, &e->rate))
                return BAD;
            /* r and T are "" for delivery contracts: tolerate a missing next time */
            if (get_i64(fl, F_T, &e->next_funding_ms)) e->next_funding_ms = -1;
            buf->n_ev++;
            return 0;
        }
        if (js_key_is(ev->s, ev->n, "kline")) {
            const js_span_t *k = &fl->f[F_k];
            if (k->type != '{') return BAD;
            fields_t kbuf;
            const fields_t *kfp = kpre;
            if (!kfp) {
                js_t kj = {k->s, k->s + k->n};
                if (collect(&kj, &kbuf, 1)) return BAD;
                kfp = &kbuf;
            }
            mts_feed_event_t *e = new_event(buf, MTS_FEV_BAR);
            if (!e) return MTS_ERANGE;
            if (set_symbol(e, fl, stream, sn) || get_i64(fl, F_E, &e->ts_ms) ||
                get_i64(kfp, F_t, &e->bar_open_ms) || get_i64(kfp, F_T, &e->bar_close_ms) ||
                get_dbl(kfp, F_o, &e->open) || get_dbl(kfp, F_h, &e->high) ||
                get_dbl(kfp, F_l, &e->low) || get_dbl(kfp, F_c, &e->price) ||
                get_dbl(kfp, F_v, &e->qty) || !HAS(kfp, F_x))
                return BAD;
            e->bar_closed = kfp->f[F_x].type == 't';
            buf->n_ev++;
            return 0;
        }
        if (js_key_is(ev->s, ev->n, "bookTicker")) goto book_ticker;   /* futures form */
        if (js_key_is(ev->s, ev->n, "serverShutdown")) buf->shutdown = 1;
        return 0;   /* other event types: not ours, not an error */
    }
    if (HAS(fl, F_LAST)) {   /* partial depth stream or REST snapshot */
        mts_feed_event_t *e = new_event(buf, MTS_FEV_BOOK);
        if (!e) return MTS_ERANGE;
        e->book_kind = MTS_BOOK_SNAPSHOT;
        if (set_symbol(e, fl, stream, sn) || get_i64(fl, F_LAST, &e->update_id)) return BAD;
        int rc = levels_into(buf, &fl->f[F_BIDS], &fl->f[F_ASKS], e);
        if (rc) return LV_RC(rc);
        buf->n_ev++;
        return 0;
    }
    if (HAS(fl, F_u) && HAS(fl, F_b) && HAS(fl, F_a)) {
book_ticker:;
        mts_feed_event_t *e = new_event(buf, MTS_FEV_BOOK);
        if (!e) return MTS_ERANGE;
        e->book_kind = MTS_BOOK_TOP;
        if (set_symbol(e, fl, stream, sn) || get_i64(fl, F_u, &e->update_id) ||
            get_dbl(fl, F_b, &e->price) || get_dbl(fl, F_B, &e->qty) ||
            get_dbl(fl, F_a, &e->ask_price) || get_dbl(fl, F_A, &e->ask_qty))
            return BAD;
        if (HAS(fl, F_E) && get_i64(fl, F_E, &e->ts_ms)) return BAD;
        buf->n_ev++;
        return 0;
    }
    return 0;
}

static void reset(mts_parse_buf_t *buf) {
    buf->n_ev = buf->n_lv = 0;
    buf->pong = buf->ack = buf->nack = buf->shutdown = 0;
}

static int array_of_payloads(js_t *j, const char *stream, size_t sn, mts_parse_buf_t *buf) {
    if (js_arr_begin(j)) return BAD;
    int first = 1, rc;
    while ((rc = js_arr_next(j, &first)) == 1) {
        fields_t fl;
        if (collect(j, &fl, 1)) return BAD;
        int prc = payload(&fl, NULL, stream, sn, buf);
        if (prc) return prc;
    }
    return rc ? BAD : 0;
}

int mts_parse_binance(const char *msg, size_t len, mts_parse_buf_t *buf) {
    if (!msg || !buf) return MTS_EINVAL;
    reset(buf);
    js_t j = {msg, msg + len};
    int c = js_peek(&j);
    int rc;
    if (c == '[') {
        rc = array_of_payloads(&j, NULL, 0, buf);
        if (rc == 0 && js_done(&j)) rc = BAD;
        goto out;
    }
    /* The top object: an envelope {"stream","data"}, an ack {"result","id"} or a raw payload.
     * Collect the payload keys and the envelope keys in one pass. */
    if (js_obj_begin(&j)) { rc = BAD; goto out; }
    fields_t fl;
    memset(&fl, 0, sizeof fl);
    js_span_t stream = {0}, data = {0};
    fields_t df, kf;                  /* a "data" object, collected where it stands (one pass) */
    int data_done = 0, has_k = 0;
    int first = 1, has_result = 0, has_error = 0, r;
    const char *k;
    size_t kn;
    while ((r = js_obj_next(&j, &first, &k, &kn)) == 1) {
        js_span_t v;
        if (!data.s && js_key_is(k, kn, "data") && js_peek(&j) == '{') {
            const char *st = j.p;
            if (collect_k(&j, &df, &kf, &has_k, 1)) { rc = BAD; goto out; }
            data = (js_span_t){st, (size_t)(j.p - st), '{'};
            data_done = 1;
            continue;
        }
        if (js_value(&j, &v, 1)) { rc = BAD; goto out; }
        if (js_key_is(k, kn, "stream")) stream = v;
        else if (js_key_is(k, kn, "data")) data = v;
        else if (js_key_is(k, kn, "result")) has_result = 1;
        else if (js_key_is(k, kn, "error")) has_error = 1;
        else {
            int idx = field_index(k, kn);
            if (idx >= 0) fl.f[idx] = v;
        }
    }
    if (r != 0 || js_done(&j)) { rc = BAD; goto out; }
    if (data.s) {
        if (stream.s && stream.type != '"') { rc = BAD; goto out; }
        js_t dj = {data.s, data.s + data.n};
        if (data_done) {
            rc = payload(&df, has_k ? &kf : NULL, stream.s, stream.n, buf);
        } else if (data.type == '[') {
            rc = array_of_payloads(&dj, stream.s, stream.n, buf);
        } else if (data.type == '{') {
            fields_t df;
            rc = collect(&dj, &df, 1) ? BAD : payload(&df, NULL, stream.s, stream.n, buf);
        } else {
            rc = BAD;
        }
        goto out;
    }
    if (has_error) { buf->nack = 1; rc = 0; goto out; }
    if (has_result) { buf->ack = 1; rc = 0; goto out; }
    rc = payload(&fl, NULL, NULL, 0, buf);
out:
    if (rc) buf->n_ev = 0;
    return rc;
}

int mts_parse_binance_depth_snapshot(const char *body, size_t len, const char *symbol,
                                     mts_parse_buf_t *buf) {
    if (!body || !buf || !symbol) return MTS_EINVAL;
    reset(buf);
    js_t j = {body, body + len};
    fields_t fl;
    if (collect(&j, &fl, 0) || js_done(&j) || !HAS(&fl, F_LAST)) return BAD;
    int rc = payload(&fl, NULL, symbol, strlen(symbol), buf);
    if (rc == 0 && buf->n_ev != 1) rc = BAD;
    if (rc) buf->n_ev = 0;
    return rc;
}
