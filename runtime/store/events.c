/* events.c — the session input log (events.h). */
#include "store/events.h"
#include "research/worker.h"
#include "store/store_internal.h"
#include "util/log.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const KIND[] = {"", "warmup", "bar", "macro", "funding", "file", "wait", "control", "provider"};

const char *mts_event_kind_name(int kind) {
    return kind >= MTS_EVK_WARMUP && kind <= MTS_EVK_PROVIDER ? KIND[kind] : "?";
}

int mts_event_kind_of(const char *name) {
    for (int k = MTS_EVK_WARMUP; k <= MTS_EVK_PROVIDER; k++)
        if (name && !strcmp(name, KIND[k])) return k;
    return 0;
}

typedef struct blob {
    char hash[65];
    void *data;
    size_t n;
} blob_t;

struct mts_events_rec {
    mts_sevent_t *ev;
    int64_t n, cap, next_seq;
    blob_t *b;
    int64_t nb, bcap;
};

int mts_events_rec_new(mts_events_rec_t **out) {
    if (!out) return MTS_EINVAL;
    *out = mts_calloc(1, sizeof **out);
    return *out ? MTS_OK : MTS_ENOMEM;
}

static void clear_blobs(mts_events_rec_t *r) {
    for (int64_t i = 0; i < r->nb; i++) mts_free(r->b[i].data);
    r->nb = 0;
}

void mts_events_rec_free(mts_events_rec_t *r) {
    if (!r) return;
    clear_blobs(r);
    mts_free(r->b);
    mts_free(r->ev);
    mts_free(r);
}

int mts_events_add(mts_events_rec_t *r, const mts_sevent_t *ev) {
    if (!r || !ev) return MTS_EINVAL;
    if (r->n == r->cap) {   /* grown geometrically, kept from step to step */
        int64_t c = r->cap ? r->cap * 2 : 256;
        mts_sevent_t *p = mts_realloc(r->ev, (size_t)c * sizeof *p);
        if (!p) return MTS_ENOMEM;
        r->ev = p;
        r->cap = c;
    }
    mts_sevent_t *e = &r->ev[r->n++];
    *e = *ev;
    e->seq = r->next_seq++;
    if (!e->ts_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        e->ts_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    return MTS_OK;
}

int mts_events_add_blob(mts_events_rec_t *r, const void *data, size_t n, char hash_out[65]) {
    if (!r || (!data && n)) return MTS_EINVAL;
    mts_remote_sha256_hex(data ? data : "", n, hash_out);
    for (int64_t i = 0; i < r->nb; i++)
        if (!strcmp(r->b[i].hash, hash_out)) return MTS_OK;
    if (r->nb == r->bcap) {
        int64_t c = r->bcap ? r->bcap * 2 : 8;
        blob_t *p = mts_realloc(r->b, (size_t)c * sizeof *p);
        if (!p) return MTS_ENOMEM;
        r->b = p;
        r->bcap = c;
    }
    void *copy = mts_malloc(n ? n : 1);
    if (!copy) return MTS_ENOMEM;
    if (n) memcpy(copy, data, n);
    blob_t *b = &r->b[r->nb++];
    memcpy(b->hash, hash_out, 65);
    b->data = copy;
    b->n = n;
    return MTS_OK;
}

int64_t mts_events_pending(const mts_events_rec_t *r) { return r ? r->n + r->nb : 0; }

void mts_events_written(mts_events_rec_t *r) {
    if (!r) return;
    r->n = 0;
    clear_blobs(r);
}

static int db_fail(mts_store_t *s, const char *what) { return mts_store_db_error(s, what); }

int mts_events_write(mts_store_t *s, int64_t session, mts_events_rec_t *r) {
    if (!s || !r) return MTS_EINVAL;
    if (r->n == 0 && r->nb == 0) return MTS_OK;
    sqlite3 *db = mts_store_db(s);
    sqlite3_stmt *b = NULL, *e = NULL;
    int rc = MTS_OK;
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO session_blobs(hash, size, content) VALUES(?1, ?2, ?3)", -1,
                           &b, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO session_events(session_id, seq, wait, ts_ms, kind, asset, t, o, h, l, c, v,"
                               " ref, info) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                           -1, &e, NULL) != SQLITE_OK) {
        rc = db_fail(s, "events: prepare");
        goto out;
    }
    for (int64_t i = 0; i < r->nb && !rc; i++) {
        sqlite3_bind_text(b, 1, r->b[i].hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(b, 2, (int64_t)r->b[i].n);
        sqlite3_bind_blob64(b, 3, r->b[i].data, r->b[i].n, SQLITE_STATIC);
        if (sqlite3_step(b) != SQLITE_DONE) rc = db_fail(s, "events: insert blob");
        sqlite3_reset(b);
    }
    for (int64_t i = 0; i < r->n && !rc; i++) {
        const mts_sevent_t *x = &r->ev[i];
        sqlite3_bind_int64(e, 1, session);
        sqlite3_bind_int64(e, 2, x->seq);
        sqlite3_bind_int64(e, 3, x->wait);
        sqlite3_bind_int64(e, 4, x->ts_ms);
        sqlite3_bind_text(e, 5, mts_event_kind_name(x->kind), -1, SQLITE_STATIC);
        sqlite3_bind_int(e, 6, x->asset);
        sqlite3_bind_int64(e, 7, x->t);
        double v[5] = {x->o, x->h, x->l, x->c, x->v};
        for (int k = 0; k < 5; k++) sqlite3_bind_double(e, 8 + k, v[k]);
        if (x->ref[0]) sqlite3_bind_text(e, 13, x->ref, -1, SQLITE_STATIC);
        else sqlite3_bind_null(e, 13);
        if (x->info[0]) sqlite3_bind_text(e, 14, x->info, -1, SQLITE_STATIC);
        else sqlite3_bind_null(e, 14);
        if (sqlite3_step(e) != SQLITE_DONE) rc = db_fail(s, "events: insert event");
        sqlite3_reset(e);
    }
out:
    sqlite3_finalize(b);
    sqlite3_finalize(e);
    return rc;
}

int mts_events_set_options(mts_store_t *s, int64_t session, const char *json) {
    if (!s || !json) return MTS_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = MTS_OK;
    if (sqlite3_prepare_v2(mts_store_db(s), "UPDATE paper_sessions SET options = ?2 WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(s, "events: prepare options");
    sqlite3_bind_int64(st, 1, session);
    sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(s, "events: store options");
    sqlite3_finalize(st);
    return rc;
}

int mts_events_get_options(mts_store_t *s, int64_t session, char **json) {
    if (!s || !json) return MTS_EINVAL;
    *json = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(mts_store_db(s), "SELECT options FROM paper_sessions WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(s, "events: prepare options");
    sqlite3_bind_int64(st, 1, session);
    int r = sqlite3_step(st), rc = MTS_OK;
    if (r == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (t && !(*json = mts_strdup(t))) rc = MTS_ENOMEM;
    } else if (r == SQLITE_DONE) {
        mts_store_set_error(s, "no paper session %lld", (long long)session);
        rc = MTS_ENOTFOUND;
    } else {
        rc = db_fail(s, "events: read options");
    }
    sqlite3_finalize(st);
    return rc;
}

int mts_events_load(mts_store_t *s, int64_t session, mts_sevent_t **out, int64_t *n) {
    if (!s || !out || !n) return MTS_EINVAL;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(mts_store_db(s),
                           "SELECT seq, wait, ts_ms, kind, asset, t, o, h, l, c, v, ref, info FROM session_events"
                           " WHERE session_id = ?1 ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, "events: prepare load");
    sqlite3_bind_int64(st, 1, session);
    int64_t cap = 0, cnt = 0;
    mts_sevent_t *v = NULL;
    int r, rc = MTS_OK;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            int64_t c = cap ? cap * 2 : 1024;
            mts_sevent_t *p = mts_realloc(v, (size_t)c * sizeof *p);
            if (!p) { rc = MTS_ENOMEM; break; }
            v = p;
            cap = c;
        }
        mts_sevent_t *e = &v[cnt++];
        memset(e, 0, sizeof *e);
        e->seq = sqlite3_column_int64(st, 0);
        e->wait = sqlite3_column_int64(st, 1);
        e->ts_ms = sqlite3_column_int64(st, 2);
        e->kind = mts_event_kind_of((const char *)sqlite3_column_text(st, 3));
        e->asset = sqlite3_column_int(st, 4);
        e->t = sqlite3_column_int64(st, 5);
        e->o = sqlite3_column_double(st, 6);
        e->h = sqlite3_column_double(st, 7);
        e->l = sqlite3_column_double(st, 8);
        e->c = sqlite3_column_double(st, 9);
        e->v = sqlite3_column_double(st, 10);
        const char *ref = (const char *)sqlite3_column_text(st, 11);
        const char *info = (const char *)sqlite3_column_text(st, 12);
        if (ref) snprintf(e->ref, sizeof e->ref, "%s", ref);
        if (info) snprintf(e->info, sizeof e->info, "%s", info);
    }
    if (!rc && r != SQLITE_DONE) rc = db_fail(s, "events: load");
    sqlite3_finalize(st);
    if (rc) {
        mts_free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return MTS_OK;
}

int mts_events_blob(mts_store_t *s, const char *hash, void **data, size_t *n) {
    if (!s || !hash || !data || !n) return MTS_EINVAL;
    *data = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(mts_store_db(s), "SELECT content FROM session_blobs WHERE hash = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(s, "events: prepare blob");
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    int r = sqlite3_step(st), rc = MTS_OK;
    if (r == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        const void *p = sqlite3_column_blob(st, 0);
        void *c = mts_malloc(len ? len : 1);
        if (!c) rc = MTS_ENOMEM;
        else {
            if (len) memcpy(c, p, len);
            *data = c;
            *n = len;
        }
    } else if (r == SQLITE_DONE) {
        mts_store_set_error(s, "no recorded content %s", hash);
        rc = MTS_ENOTFOUND;
    } else {
        rc = db_fail(s, "events: read blob");
    }
    sqlite3_finalize(st);
    return rc;
}
