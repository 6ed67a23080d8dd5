/* queue.c — binary min-heap of engine events (see queue.h). */
#include "engine/queue.h"

#include <string.h>

#define KIND_SHIFT 60   /* as in mts_queue_replace_top (queue.h) */

static inline int less(const mts_qev_t *a, const mts_qev_t *b) {
    return a->ts < b->ts || (a->ts == b->ts && a->key < b->key);
}

int mts_queue_init(mts_queue_t *q, int64_t cap) {
    if (!q || cap < 0) return MTS_EINVAL;
    memset(q, 0, sizeof *q);
    return cap ? mts_queue_reserve(q, cap) : MTS_OK;
}

void mts_queue_free(mts_queue_t *q) {
    if (!q) return;
    mts_free(q->heap);
    memset(q, 0, sizeof *q);
}

int mts_queue_reserve(mts_queue_t *q, int64_t cap) {
    if (!q || cap < 0) return MTS_EINVAL;
    if (cap <= q->cap) return MTS_OK;
    if ((uint64_t)cap > SIZE_MAX / sizeof(mts_qev_t)) return MTS_ENOMEM;
    mts_qev_t *h = mts_realloc(q->heap, (size_t)cap * sizeof *h);
    if (!h) return MTS_ENOMEM;
    q->heap = h;
    q->cap = cap;
    return MTS_OK;
}

static void sift_up(mts_qev_t *h, int64_t i) {
    mts_qev_t x = h[i];
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (!less(&x, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

static void sift_down(mts_qev_t *h, int64_t n, int64_t i) {
    mts_qev_t x = h[i];
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && less(&h[c + 1], &h[c])) c++;
        if (!less(&h[c], &x)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static inline int make(mts_queue_t *q, mts_qev_t *ev, int64_t ts, int32_t kind, int32_t asset,
                       int64_t index) {
    if (kind != MTS_QEV_ORDER && kind != MTS_QEV_MARKET) return MTS_EINVAL;
    ev->ts = ts;
    ev->key = ((uint64_t)kind << KIND_SHIFT) | (q->seq++ & ((UINT64_C(1) << KIND_SHIFT) - 1));
    ev->kind = kind;
    ev->asset = asset;
    ev->index = index;
    return MTS_OK;
}

int mts_queue_push(mts_queue_t *q, int64_t ts, int32_t kind, int32_t asset, int64_t index) {
    if (!q) return MTS_EINVAL;
    if (q->n == q->cap) {
        int rc = mts_queue_reserve(q, q->cap ? q->cap * 2 : 16);
        if (rc) return rc;
    }
    int rc = make(q, &q->heap[q->n], ts, kind, asset, index);
    if (rc) return rc;
    sift_up(q->heap, q->n);
    q->n++;
    return MTS_OK;
}

int mts_queue_pop(mts_queue_t *q, mts_qev_t *out) {
    if (!q || q->n == 0) return 0;
    if (out) *out = q->heap[0];
    q->n--;
    if (q->n > 0) {
        q->heap[0] = q->heap[q->n];
        sift_down(q->heap, q->n, 0);
    }
    return 1;
}

void mts_queue_sift_top(mts_queue_t *q) {
    if (q && q->n > 1) sift_down(q->heap, q->n, 0);
}
