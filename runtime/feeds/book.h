/* book.h — an L2 order book for one symbol: price levels sorted (bids high to
 * low, asks low to high), snapshots, diffs with each exchange's sequencing
 * rules, and top-N extraction. Needs event.h (mts_level_t, mts_feed_event_t).
 *
 * Sequencing (the book refuses anything it cannot prove continuous):
 * - Binance spot diff depth: after a snapshot with lastUpdateId L, diffs with
 *   u <= L are stale and dropped; the first applied diff must have
 *   U <= L+1 <= u; each later one must have U == previous u + 1.
 *   Futures diffs (pu present): first must have U <= L <= u, later ones
 *   pu == previous u.
 * - Bybit v5: a snapshot resets the book; a delta must have u == previous u + 1.
 * A quantity of 0 deletes the level. On a gap the book is cleared and marked
 * unsynced; the caller resyncs (REST snapshot or resubscribe) and counts it.
 * A book is used by one thread; it allocates only when a side outgrows its
 * capacity (amortized doubling). */
#ifndef MTS_FEEDS_BOOK_H
#define MTS_FEEDS_BOOK_H

#include "feeds/event.h"

typedef struct mts_book mts_book_t;
enum { MTS_BOOK_BID = 0, MTS_BOOK_ASK = 1 };
/* positive results of the apply functions (errors are negative) */
enum { MTS_BOOK_APPLIED = 0, MTS_BOOK_STALE = 1 };

int  mts_book_create(int exchange, const char *symbol, mts_book_t **out);
void mts_book_free(mts_book_t *b);            /* accepts NULL */
void mts_book_clear(mts_book_t *b);           /* drop all levels; unsynced */
int  mts_book_synced(const mts_book_t *b);
int64_t mts_book_update_id(const mts_book_t *b);   /* last applied update id, -1 if none */
const char *mts_book_symbol(const mts_book_t *b);
int  mts_book_exchange(const mts_book_t *b);

/* Replace the book with a snapshot (levels need not be sorted; qty 0 rows are
 * skipped). MTS_ENOMEM leaves the book cleared. */
int mts_book_snapshot(mts_book_t *b, const mts_level_t *bids, int nb, const mts_level_t *asks,
                      int na, int64_t update_id);
/* Apply a book event (snapshot or diff) with the book's exchange rules.
 * Returns MTS_BOOK_APPLIED, MTS_BOOK_STALE (Binance: u <= last id, dropped),
 * MTS_ERANGE (sequence gap: the book is now cleared), MTS_EINVAL (a diff
 * while unsynced, or not a book event), MTS_ENOMEM. */
int mts_book_apply(mts_book_t *b, const mts_feed_event_t *ev);

/* Levels of one side, best first (borrowed; valid until the next change). */
const mts_level_t *mts_book_side(const mts_book_t *b, int side, int *n);
/* Copies up to n best levels of `side` into out; returns how many. */
int mts_book_top(const mts_book_t *b, int side, int n, mts_level_t *out);

#endif
