/* queue.h — the engine's event queue: a binary min-heap of fixed-size events
 * ordered by (ts, kind priority, insertion sequence). At one timestamp ORDER
 * events come before MARKET events; events of the same ts and kind come out in
 * the order they were pushed (FIFO). Needs only mts.h.
 *
 * The heap grows by doubling; mts_queue_reserve() sizes it up front so the
 * steady state allocates nothing. mts_queue_replace_top() pops the minimum and
 * pushes a new event in one sift, the hot operation of the engine (each
 * asset's MARKET event is replaced by its next bar). */
#ifndef MTS_ENGINE_QUEUE_H
#define MTS_ENGINE_QUEUE_H

#include "mts.h"

/* Kind priorities: lower comes first at equal ts. */
typedef enum { MTS_QEV_ORDER = 0, MTS_QEV_MARKET = 1 } mts_qev_kind_t;

typedef struct mts_qev {
    int64_t  ts;
    uint64_t key;      /* (kind << 60) | seq: priority, then FIFO */
    int32_t  kind;     /* mts_qev_kind_t */
    int32_t  asset;
    int64_t  index;    /* MARKET: bar index; ORDER: order id */
} mts_qev_t;

typedef struct mts_queue {
    mts_qev_t *heap;
    int64_t    n, cap;
    uint64_t   seq;    /* next insertion sequence number */
} mts_queue_t;

/* Zero the queue and reserve room for cap events (cap may be 0). */
int  mts_queue_init(mts_queue_t *q, int64_t cap);
void mts_queue_free(mts_queue_t *q);                 /* accepts NULL */
/* Make room for at least cap events without further allocation. */
int  mts_queue_reserve(mts_queue_t *q, int64_t cap);
int  mts_queue_push(mts_queue_t *q, int64_t ts, int32_t kind, int32_t asset, int64_t index);
/* 1 and *out = the minimum (removed), or 0 when empty. out may be NULL. */
int  mts_queue_pop(mts_queue_t *q, mts_qev_t *out);
/* The minimum without removing it, NULL when empty. Borrowed until the next
 * push/pop/replace. */
static inline const mts_qev_t *mts_queue_peek(const mts_queue_t *q) {
    return q->n ? &q->heap[0] : NULL;
}
static inline int64_t mts_queue_size(const mts_queue_t *q) { return q->n; }
/* Restore the heap after heap[0] was overwritten (used by replace_top). */
void mts_queue_sift_top(mts_queue_t *q);
/* Remove the minimum and insert (ts, kind, asset, index) with a fresh sequence
 * number; never allocates. The queue must not be empty (MTS_EINVAL). Inline:
 * with one asset it is a handful of stores. */
static inline int mts_queue_replace_top(mts_queue_t *q, int64_t ts, int32_t kind, int32_t asset,
                                        int64_t index) {
    if (q->n == 0 || (kind != MTS_QEV_ORDER && kind != MTS_QEV_MARKET)) return MTS_EINVAL;
    mts_qev_t *h = &q->heap[0];
    h->ts = ts;
    h->key = ((uint64_t)kind << 60) | (q->seq++ & ((UINT64_C(1) << 60) - 1));
    h->kind = kind;
    h->asset = asset;
    h->index = index;
    if (q->n > 1) mts_queue_sift_top(q);
    return MTS_OK;
}

#endif
