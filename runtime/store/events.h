/* events.h — the input log of a paper session (`mts run`), for `mts replay`
 * (replay/replay.h, docs/live.md "Replay"). Table session_events (schema v9):
 * one row per input the session took, in order (seq), each tagged with the
 * wait (step) of the runner it belonged to (live.h mts_live_wait: wait 0 is
 * the session's opening, before the first wait; wait k the k-th wait after
 * the rehearsal rounds):
 *   warmup   a warm-up bar of asset `asset` placed in its arrays at open
 *   bar      a bar handed to mts_engine_append_bar (asset, t = open time in
 *            unix s, o h l c v) — in the order of the calls, so second passes
 *            and late bars of several symbols are exactly as they ran
 *   macro    VIX values appended to the engine's macro series (ref: a blob of
 *            t rows, int64 ts[t] then double v[t], native byte order)
 *   funding  a settlement appended to a perp (asset, t = ts, o = rate, h = mark)
 *   file     the content of a file the runner loads (info: path relative to the
 *            session's root; ref: its blob) — at open, and at each reload
 *   wait     what the wait returned to the runner (t: 1 bars, 2 reload, 0 stop,
 *            3 a control request; asset: the reload mask, -1 = everything)
 *   control  a write request of an attached client (live/control.h: pause,
 *            resume, set) handed to the runner in this wait (ref: a blob of
 *            the request's JSON text; info: its op); read requests are not
 *            recorded
 *   provider a series a strategy loaded through the data provider (ctx:bars of
 *            another asset or a stored history, ctx:macro other than the
 *            session's VIX, ctx:funding, ctx:book; market/provider.h) when it
 *            was loaded — once per series and session, in the wait (step) it
 *            was first asked in (info: what was asked, provider.h
 *            mts_provider_what, e.g. "bars ethereum 4h", "funding BTCUSDT
 *            binance"; t: its rows; ref: a blob of the arrays in the
 *            provider's native layout, provider.h) — or its first failed
 *            request (t = -1, ref: a blob of the message); a replay answers
 *            those requests from here, not from the database
 * Contents are content-addressed in session_blobs (hash = SHA-256 hex): a
 * file that did not change between reloads, or the same VIX history of two
 * sessions, is stored once. paper_sessions.options (JSON) holds the session's
 * starting options (mts_events_set_options).
 *
 * Recording: a recorder (mts_events_rec_t) buffers the events in memory; the
 * session writes them with mts_events_write inside the step's own transaction
 * (store/paper.h mts_paper_step_t.extra), then clears them: a crash never
 * leaves a half-recorded step, a busy database keeps them pending with the
 * step's other rows. Errors: 0 / negative MTS_E* (mts_store_errmsg). */
#ifndef MTS_STORE_EVENTS_H
#define MTS_STORE_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include "store/store.h"

enum { MTS_EVK_WARMUP = 1, MTS_EVK_BAR, MTS_EVK_MACRO, MTS_EVK_FUNDING, MTS_EVK_FILE, MTS_EVK_WAIT,
       MTS_EVK_CONTROL, MTS_EVK_PROVIDER };

#define MTS_EV_INFO_MAX 256

typedef struct mts_sevent {
    int64_t seq, wait, ts_ms;
    int kind;                      /* MTS_EVK_* */
    int32_t asset;
    int64_t t;
    double o, h, l, c, v;
    char ref[65];                  /* blob hash, "" = none */
    char info[MTS_EV_INFO_MAX];    /* file path, "" = none */
} mts_sevent_t;

const char *mts_event_kind_name(int kind);
int mts_event_kind_of(const char *name);   /* 0: unknown */

typedef struct mts_events_rec mts_events_rec_t;
int  mts_events_rec_new(mts_events_rec_t **out);
void mts_events_rec_free(mts_events_rec_t *r);           /* accepts NULL */
/* Appends one event (seq assigned: the session's next). */
int  mts_events_add(mts_events_rec_t *r, const mts_sevent_t *ev);
/* Keeps a copy of data as a blob (once per hash); hash_out = its SHA-256 hex. */
int  mts_events_add_blob(mts_events_rec_t *r, const void *data, size_t n, char hash_out[65]);
int64_t mts_events_pending(const mts_events_rec_t *r);   /* events not written yet */
/* Writes the pending events and blobs of `session` — call inside an open
 * transaction (the step's) — and, on success, nothing is cleared yet:
 * mts_events_written after the transaction committed. */
int  mts_events_write(mts_store_t *s, int64_t session, mts_events_rec_t *r);
void mts_events_written(mts_events_rec_t *r);

/* paper_sessions.options (JSON text). */
int mts_events_set_options(mts_store_t *s, int64_t session, const char *json);
/* *json: malloc'ed text (mts_free), NULL when the session has none (before v9). */
int mts_events_get_options(mts_store_t *s, int64_t session, char **json);

/* Every event of a session in order: *out malloc'ed (mts_free), *n rows. */
int mts_events_load(mts_store_t *s, int64_t session, mts_sevent_t **out, int64_t *n);
/* A blob's content: *data malloc'ed (mts_free); MTS_ENOTFOUND if absent. */
int mts_events_blob(mts_store_t *s, const char *hash, void **data, size_t *n);

#endif
