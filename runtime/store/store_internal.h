/* store_internal.h — what store.c shares with the other files of runtime/store
 * (csv.c, bars.c, results.c): the raw connection, the sticky error message,
 * the batch transaction and statements prepared once per handle. Not for use
 * outside runtime/store. Needs sqlite3 and store.h. */
#ifndef MTS_STORE_INTERNAL_H
#define MTS_STORE_INTERNAL_H

#include <sqlite3.h>
#include "store/store.h"

/* The connection (borrowed; owned by the store). */
sqlite3 *mts_store_db(mts_store_t *s);
/* Sets the message mts_store_errmsg() returns. */
void mts_store_set_error(mts_store_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets it from the connection's last error, naming the cause and the code:
 * "<what>: <sqlite3_errmsg> (<cause for this database>) [SQLITE_X]", e.g.
 * "insert_run: database is locked (another process is writing to data/mts.db)
 * [SQLITE_BUSY]". Returns MTS_EDBLOCKED for SQLITE_BUSY / SQLITE_LOCKED (worth
 * retrying: another writer holds the lock), else MTS_EDB. */
int mts_store_db_error(mts_store_t *s, const char *what);
/* 1 when a (primary or extended) SQLite result code is SQLITE_BUSY or SQLITE_LOCKED. */
int mts_store_busy_code(int rc);

/* The batch transaction of the store's own writes: BEGIN IMMEDIATE (one try,
 * waiting up to MTS_STORE_BUSY_MS for the lock), COMMIT (0 or MTS_EDB /
 * MTS_EDBLOCKED with the message set) and ROLLBACK (only when a transaction
 * is open; never fails). */
int  mts_store_tx_begin(mts_store_t *s);
int  mts_store_tx_commit(mts_store_t *s);
void mts_store_tx_rollback(mts_store_t *s);

/* Statements prepared on first use and kept until mts_store_close (the other
 * files' share of store.c's prepared statements): *out = the statement of
 * `slot`, prepared from `sql` the first time (a slot always gets the same
 * sql). The caller resets it after use. 0, or MTS_EDB with the message set. */
enum {
    MTS_STORE_LAZY_BARS_GET, MTS_STORE_LAZY_BARS_PUT, MTS_STORE_LAZY_BARS_SUM, MTS_STORE_LAZY_BARS_LOAD,
    MTS_STORE_LAZY_BARS_COUNT, MTS_STORE_LAZY_BARS_INTERVALS,
    MTS_STORE_LAZY_BARS_BUMP, MTS_STORE_LAZY_BARS_SERIES_NEW, MTS_STORE_LAZY_BARS_VERSION,
    MTS_STORE_LAZY_BARS_ALL,
    MTS_STORE_LAZY_N
};
int mts_store_stmt(mts_store_t *s, int slot, const char *sql, sqlite3_stmt **out);

/* Each try of mts_store_begin_write waits at most this long in SQLite's busy
 * handler; while it keeps failing a store.waiting_for_lock line is logged
 * every MTS_STORE_WRITE_LOG_MS. */
#define MTS_STORE_WRITE_TRY_MS 2000
#define MTS_STORE_WRITE_LOG_MS 10000
/* BEGIN IMMEDIATE, retried while the database is busy until the write wait
 * (mts_store_write_wait) has passed since *started_ms (0: now; it is set, so
 * a caller that redoes a whole transaction keeps one deadline). 0, or
 * MTS_EDBLOCKED with "...; gave up after N s, the limit set by
 * MTS_DB_BUSY_TIMEOUT_MS) [SQLITE_BUSY]", MTS_ECANCELED when the cancel flag
 * (mts_store_set_cancel) was raised while waiting, or MTS_EDB. */
int mts_store_begin_write(mts_store_t *s, const char *what, int64_t *started_ms);
/* A monotonic clock in ms (the time base of started_ms). */
int64_t mts_store_now_ms(void);

/* 1 when text is a JSON object (SQLite's json_valid and json_type), else 0. */
int mts_store_json_object(mts_store_t *s, const char *text);

/* The 'YYYY-MM-DD' bounds of macro_indicators.date for the time range
 * [from, to]: lo is the first midnight >= from, hi the last midnight <= to
 * (years clamped to 0000..9999; an empty range gives lo > hi). */
void mts_store_macro_range(int64_t from, int64_t to, char lo[16], char hi[16]);

/* Schema v7 (store.c's migration 7 runs them, in its transaction, after
 * creating ohlcv_blocks and backtest_curves): every row of crypto_ohlcv into
 * bar blocks (store/bars.c), every row of backtest_equity into one curve per
 * run (store/results.c); each drops the row table it emptied. 0, or MTS_EDB
 * with the message set (the migration is then rolled back whole). */
int mts_store_migrate_v7_bars(mts_store_t *s);
int mts_store_migrate_v7_curves(mts_store_t *s);

/* The bar cache's side of bars.c (store/barcache.c): the SQL that loads every
 * block of a series in order, and the block decoding into column arrays. */
#define MTS_BARS_SQL_ALL \
    "SELECT n, bars FROM ohlcv_blocks WHERE cryptocurrency = ?1 AND interval = ?2 ORDER BY block_start"
#define MTS_BARS_SQL_VERSION "SELECT version, n FROM ohlcv_series WHERE cryptocurrency = ?1 AND interval = ?2"

#endif
