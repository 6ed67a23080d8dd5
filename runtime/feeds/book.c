/* book.c — the L2 book (see book.h). Each side is a sorted array; a change is
 * a binary search plus one memmove. With a 1000-level Binance book that is at
 * most ~16 KB moved per level change, cheaper than a tree at these sizes and
 * top-N is a plain copy.
 *
 * Invariants: bids strictly descending, asks strictly ascending, every qty > 0;
 * !synced implies both sides empty. */
#include "feeds/book.h"

#include <string.h>

typedef struct side {
    mts_level_t *lv;
    int n, cap;
} side_t;

struct mts_book {
    int exchange;
    char symbol[MTS_SYMBOL_MAX];
    side_t s[2];
    int synced;
    int first_diff;      /* Binance: the next diff is the first after the snapshot */
    int64_t last_id;     /* lastUpdateId, then the last applied u */
};

int mts_book_create(int exchange, const char *symbol, mts_book_t **out) {
    if (!out || !symbol || strlen(symbol) >= MTS_SYMBOL_MAX) return MTS_EINVAL;
    *out = NULL;
    mts_book_t *b = mts_calloc(1, sizeof *b);
    if (!b) return MTS_ENOMEM;
    b->exchange = exchange;
    strcpy(b->symbol, symbol);
    b->last_id = -1;
    *out = b;
    return 0;
}

void mts_book_free(mts_book_t *b) {
    if (!b) return;
    mts_free(b->s[0].lv);
    mts_free(b->s[1].lv);
    mts_free(b);
}

void mts_book_clear(mts_book_t *b) {
    if (!b) return;
    b->s[0].n = b->s[1].n = 0;
    b->synced = 0;
    b->first_diff = 0;
    b->last_id = -1;
}

int mts_book_synced(const mts_book_t *b) { return b && b->synced; }
int64_t mts_book_update_id(const mts_book_t *b) { return b ? b->last_id : -1; }
const char *mts_book_symbol(const mts_book_t *b) { return b ? b->symbol : ""; }
int mts_book_exchange(const mts_book_t *b) { return b ? b->exchange : 0; }

/* better(side, x, y): x ranks before y */
static inline int better(int side, double x, double y) { return side == MTS_BOOK_BID ? x > y : x < y; }

/* First index whose price does not rank before `price`. */
static int lower_bound(const side_t *s, int side, double price) {
    int lo = 0, hi = s->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (better(side, s->lv[mid].price, price)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int set_level(side_t *s, int side, double price, double qty) {
    int i = lower_bound(s, side, price);
    int found = i < s->n && s->lv[i].price == price;
    if (qty == 0) {
        if (found) {
            memmove(&s->lv[i], &s->lv[i + 1], (size_t)(s->n - i - 1) * sizeof *s->lv);
            s->n--;
        }
        return 0;
    }
    if (found) {
        s->lv[i].qty = qty;
        return 0;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        mts_level_t *lv = mts_realloc(s->lv, (size_t)cap * sizeof *lv);
        if (!lv) return MTS_ENOMEM;
        s->lv = lv;
        s->cap = cap;
    }
    memmove(&s->lv[i + 1], &s->lv[i], (size_t)(s->n - i) * sizeof *s->lv);
    s->lv[i].price = price;
    s->lv[i].qty = qty;
    s->n++;
    return 0;
}

static int apply_levels(mts_book_t *b, const mts_level_t *bids, int nb, const mts_level_t *asks, int na) {
    for (int i = 0; i < nb; i++)
        if (set_level(&b->s[MTS_BOOK_BID], MTS_BOOK_BID, bids[i].price, bids[i].qty)) return MTS_ENOMEM;
    for (int i = 0; i < na; i++)
        if (set_level(&b->s[MTS_BOOK_ASK], MTS_BOOK_ASK, asks[i].price, asks[i].qty)) return MTS_ENOMEM;
    return 0;
}

int mts_book_snapshot(mts_book_t *b, const mts_level_t *bids, int nb, const mts_level_t *asks,
                      int na, int64_t update_id) {
    if (!b || nb < 0 || na < 0 || (nb && !bids) || (na && !asks)) return MTS_EINVAL;
    mts_book_clear(b);
    if (apply_levels(b, bids, nb, asks, na)) {
        mts_book_clear(b);
        return MTS_ENOMEM;
    }
    b->synced = 1;
    b->first_diff = 1;
    b->last_id = update_id;
    return 0;
}

static int gap(mts_book_t *b) {
    mts_book_clear(b);
    return MTS_ERANGE;
}

static int apply_binance(mts_book_t *b, const mts_feed_event_t *ev) {
    int64_t U = ev->first_update_id, u = ev->update_id, L = b->last_id;
    int futures = ev->prev_update_id >= 0;
    if (u <= L) return MTS_BOOK_STALE;
    if (b->first_diff) {
        if (futures ? !(U <= L && L <= u) : !(U <= L + 1 && L + 1 <= u)) return gap(b);
    } else if (futures ? ev->prev_update_id != L : U != L + 1) {
        return gap(b);
    }
    if (apply_levels(b, ev->bids, ev->n_bids, ev->asks, ev->n_asks)) {
        mts_book_clear(b);
        return MTS_ENOMEM;
    }
    b->first_diff = 0;
    b->last_id = u;
    return MTS_BOOK_APPLIED;
}

static int apply_bybit(mts_book_t *b, const mts_feed_event_t *ev) {
    if (ev->update_id != b->last_id + 1) return gap(b);
    if (apply_levels(b, ev->bids, ev->n_bids, ev->asks, ev->n_asks)) {
        mts_book_clear(b);
        return MTS_ENOMEM;
    }
    b->last_id = ev->update_id;
    return MTS_BOOK_APPLIED;
}

int mts_book_apply(mts_book_t *b, const mts_feed_event_t *ev) {
    if (!b || !ev || ev->kind != MTS_FEV_BOOK) return MTS_EINVAL;
    if (ev->book_kind == MTS_BOOK_SNAPSHOT)
        return mts_book_snapshot(b, ev->bids, ev->n_bids, ev->asks, ev->n_asks, ev->update_id);
    if (ev->book_kind != MTS_BOOK_DIFF || !b->synced) return MTS_EINVAL;
    return b->exchange == MTS_EXCH_BYBIT ? apply_bybit(b, ev) : apply_binance(b, ev);
}

const mts_level_t *mts_book_side(const mts_book_t *b, int side, int *n) {
    if (!b || (side != MTS_BOOK_BID && side != MTS_BOOK_ASK)) {
        if (n) *n = 0;
        return NULL;
    }
    if (n) *n = b->s[side].n;
    return b->s[side].lv;
}

int mts_book_top(const mts_book_t *b, int side, int n, mts_level_t *out) {
    int have;
    const mts_level_t *lv = mts_book_side(b, side, &have);
    if (n > have) n = have;
    if (n <= 0) return 0;
    memcpy(out, lv, (size_t)n * sizeof *out);
    return n;
}
