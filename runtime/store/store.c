/* store.c — the SQLite store (see store.h): one connection in WAL mode,
 * migrations keyed by PRAGMA user_version, statements prepared once per
 * handle, one transaction per batch. OHLCV bars are in store/bars.c, which
 * uses this file's transaction and its lazily prepared statements
 * (store_internal.h).
 *
 * A handle is used by one thread at a time (its prepared statements are
 * shared state), so the connection is opened with SQLITE_OPEN_NOMUTEX.
 *
 * Invariants: after mts_store_open succeeds every stmt[] is prepared (lazy[]
 * ones on first use, all finalized by mts_store_close) and
 * user_version == N_MIGRATIONS; no transaction is left open when a public
 * function returns. */
#include "store/store.h"
#include "store/store_internal.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- schema: migrations[i] takes user_version i to i+1. Append only. ----
 * Each is SQL, then (when `move` is set) C code that moves rows the SQL
 * cannot (into blobs), all in the one transaction that bumps user_version. */
static int migrate_v7(mts_store_t *s);
static const struct migration {
    const char *sql;
    int (*move)(mts_store_t *s);
} migrations[] = {
    /* 1: the four tables of the reference architecture (backtest_results extended) */
    {"CREATE TABLE IF NOT EXISTS crypto_ohlcv ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  cryptocurrency TEXT NOT NULL,"
    "  timestamp INTEGER NOT NULL,"
    "  date_str TEXT NOT NULL,"
    "  open REAL NOT NULL,"
    "  high REAL NOT NULL,"
    "  low REAL NOT NULL,"
    "  close REAL NOT NULL,"
    "  volume REAL NOT NULL,"
    "  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,"
    "  UNIQUE(cryptocurrency, timestamp));"
    "CREATE TABLE IF NOT EXISTS macro_indicators ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  indicator TEXT NOT NULL,"
    "  date TEXT NOT NULL,"
    "  value REAL NOT NULL,"
    "  is_interpolated BOOLEAN DEFAULT 0,"
    "  is_forward_filled BOOLEAN DEFAULT 0,"
    "  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,"
    "  UNIQUE(indicator, date));"
    "CREATE TABLE IF NOT EXISTS signal_history ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  asset TEXT NOT NULL,"
    "  signal_type TEXT NOT NULL,"
    "  timestamp INTEGER NOT NULL,"
    "  price REAL NOT NULL,"
    "  strategy_name TEXT NOT NULL,"
    "  confidence REAL NOT NULL,"
    "  position_size REAL,"
    "  stop_loss REAL,"
    "  take_profit REAL,"
    "  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);"
    "CREATE INDEX IF NOT EXISTS idx_signal_history_strategy_asset_ts"
    "  ON signal_history(strategy_name, asset, timestamp);"
    "CREATE TABLE IF NOT EXISTS backtest_results ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  strategy_name TEXT NOT NULL,"
    "  start_date TEXT NOT NULL,"
    "  end_date TEXT NOT NULL,"
    "  initial_capital REAL NOT NULL,"
    "  final_value REAL NOT NULL,"
    "  total_return REAL NOT NULL,"
    "  sharpe_ratio REAL,"
    "  max_drawdown REAL,"
    "  trade_count INTEGER,"
    "  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,"
    "  assets TEXT,"
    "  annualized_return REAL,"
    "  volatility REAL,"
    "  calmar_ratio REAL,"
    "  win_rate REAL,"
    "  profit_factor REAL,"
    "  commission_bps REAL,"
    "  slippage_bps REAL,"
    "  parameters TEXT);", NULL},
    /* 2: live market data recorded by `mts stream` (runtime/feeds/feed_store.c) */
    {"CREATE TABLE IF NOT EXISTS trades ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  exchange TEXT NOT NULL, symbol TEXT NOT NULL, trade_id TEXT NOT NULL,"
    "  ts_ms INTEGER NOT NULL, price REAL NOT NULL, qty REAL NOT NULL, side TEXT,"
    "  UNIQUE(exchange, symbol, trade_id));"
    "CREATE TABLE IF NOT EXISTS order_book_snapshots ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  exchange TEXT NOT NULL, symbol TEXT NOT NULL, ts_ms INTEGER NOT NULL,"
    "  side TEXT NOT NULL, level INTEGER NOT NULL, price REAL NOT NULL, qty REAL NOT NULL,"
    "  update_id INTEGER,"
    "  UNIQUE(exchange, symbol, ts_ms, side, level));"
    "CREATE TABLE IF NOT EXISTS funding_rates ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  exchange TEXT NOT NULL, symbol TEXT NOT NULL, ts_ms INTEGER NOT NULL,"
    "  rate REAL, mark_price REAL, next_funding_ms INTEGER,"
    "  UNIQUE(exchange, symbol, ts_ms));", NULL},
    /* 3: what a report needs to rebuild a stored backtest (store/results.c) */
    {"CREATE TABLE IF NOT EXISTS backtest_trades ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  backtest_id INTEGER NOT NULL REFERENCES backtest_results(id) ON DELETE CASCADE,"
    "  asset TEXT NOT NULL, side TEXT NOT NULL, qty REAL NOT NULL,"
    "  entry_ts INTEGER NOT NULL, entry_price REAL NOT NULL,"
    "  exit_ts INTEGER NOT NULL, exit_price REAL NOT NULL,"
    "  pnl REAL NOT NULL, fees REAL NOT NULL);"
    "CREATE INDEX IF NOT EXISTS idx_backtest_trades_run ON backtest_trades(backtest_id);"
    "CREATE TABLE IF NOT EXISTS backtest_equity ("
    "  backtest_id INTEGER NOT NULL REFERENCES backtest_results(id) ON DELETE CASCADE,"
    "  ts INTEGER NOT NULL, equity REAL NOT NULL,"
    "  PRIMARY KEY(backtest_id, ts)) WITHOUT ROWID;", NULL},
    /* 4: the bus without Redis (cache/bus.c) and paper trading (`mts run`) */
    {"CREATE TABLE IF NOT EXISTS bus_events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts_ms INTEGER NOT NULL, topic TEXT NOT NULL, payload TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS live_bars ("
    "  exchange TEXT NOT NULL, symbol TEXT NOT NULL, interval TEXT NOT NULL,"
    "  open_ms INTEGER NOT NULL, open REAL NOT NULL, high REAL NOT NULL,"
    "  low REAL NOT NULL, close REAL NOT NULL, volume REAL NOT NULL,"
    "  PRIMARY KEY(exchange, symbol, interval, open_ms)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS paper_sessions ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  started_at INTEGER NOT NULL, stopped_at INTEGER,"
    "  strategies TEXT NOT NULL, exchange TEXT NOT NULL, symbols TEXT NOT NULL,"
    "  interval TEXT NOT NULL, initial_capital REAL NOT NULL,"
    "  commission_bps REAL NOT NULL, slippage_bps REAL NOT NULL,"
    "  parameters TEXT, status TEXT NOT NULL,"
    "  bars INTEGER NOT NULL DEFAULT 0, final_equity REAL);"
    "CREATE TABLE IF NOT EXISTS paper_fills ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  session_id INTEGER NOT NULL REFERENCES paper_sessions(id) ON DELETE CASCADE,"
    "  ts INTEGER NOT NULL, asset TEXT NOT NULL, side TEXT NOT NULL,"
    "  qty REAL NOT NULL, price REAL NOT NULL, fee REAL NOT NULL,"
    "  realized_pnl REAL NOT NULL);"
    "CREATE INDEX IF NOT EXISTS idx_paper_fills_session ON paper_fills(session_id);"
    "CREATE TABLE IF NOT EXISTS paper_equity ("
    "  session_id INTEGER NOT NULL REFERENCES paper_sessions(id) ON DELETE CASCADE,"
    "  ts INTEGER NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL,"
    "  PRIMARY KEY(session_id, ts)) WITHOUT ROWID;", NULL},
    /* 5: liveness of paper sessions (a heartbeat and the pid that owns the
     * session, so a killed session is told from a running one: store/paper.h)
     * and a record of every import, so one that was killed half-way is known
     * (store/imports.h) */
    {"ALTER TABLE paper_sessions ADD COLUMN heartbeat_at INTEGER;"
    "ALTER TABLE paper_sessions ADD COLUMN pid INTEGER;"
    "ALTER TABLE paper_sessions ADD COLUMN host TEXT;"
    "CREATE TABLE IF NOT EXISTS import_runs ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind TEXT NOT NULL, target TEXT NOT NULL, source TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL, finished_at INTEGER,"
    "  rows INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS idx_import_runs_target ON import_runs(kind, target);", NULL},
    /* 6: the interval is part of a bar series' identity (market/interval.h).
     * SQLite cannot change a UNIQUE constraint in place: the table is rebuilt
     * and every row copied with its id and created_at; rows stored before
     * v6 were daily bars (the only series there was), so they become '1d'.
     * import_runs says which interval an OHLCV import wrote. */
    {"CREATE TABLE crypto_ohlcv_v6 ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  cryptocurrency TEXT NOT NULL,"
    "  interval TEXT NOT NULL DEFAULT '1d',"
    "  timestamp INTEGER NOT NULL,"
    "  date_str TEXT NOT NULL,"
    "  open REAL NOT NULL,"
    "  high REAL NOT NULL,"
    "  low REAL NOT NULL,"
    "  close REAL NOT NULL,"
    "  volume REAL NOT NULL,"
    "  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,"
    "  UNIQUE(cryptocurrency, interval, timestamp));"
    "INSERT INTO crypto_ohlcv_v6(id, cryptocurrency, interval, timestamp, date_str, open, high, low, close,"
    "  volume, created_at)"
    "  SELECT id, cryptocurrency, '1d', timestamp, date_str, open, high, low, close, volume, created_at"
    "  FROM crypto_ohlcv ORDER BY id;"
    "DROP TABLE crypto_ohlcv;"
    "ALTER TABLE crypto_ohlcv_v6 RENAME TO crypto_ohlcv;"
    "ALTER TABLE import_runs ADD COLUMN interval TEXT;", NULL},
    /* 7: bars stored for reading in bulk, a run's equity curve and its
     * signals as one blob each (store/colblob.h, docs/store.md): a block per
     * (asset, interval, span of MTS_OHLCV_BLOCK_BARS bar times), a curve and a
     * signal blob per run. migrate_v7 moves
     * every row of crypto_ohlcv and backtest_equity into them, then drops
     * those tables. */
    {"CREATE TABLE ohlcv_blocks ("
    "  id INTEGER PRIMARY KEY,"
    "  cryptocurrency TEXT NOT NULL,"
    "  interval TEXT NOT NULL,"
    "  block_start INTEGER NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  first_ts INTEGER NOT NULL,"
    "  last_ts INTEGER NOT NULL,"
    "  bars BLOB NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE(cryptocurrency, interval, block_start));"
    /* one row per series that has blocks: version is a random 64-bit value
     * (SQLite's random(), seeded from /dev/urandom) set anew in the same
     * transaction as every write of the series' blocks, n the series' bars;
     * the shared bar cache (store/barcache.c) trusts a cache file only for
     * the version it was built from */
    "CREATE TABLE ohlcv_series ("
    "  cryptocurrency TEXT NOT NULL,"
    "  interval TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  PRIMARY KEY(cryptocurrency, interval));"
    "CREATE TABLE backtest_curves ("
    "  backtest_id INTEGER PRIMARY KEY REFERENCES backtest_results(id) ON DELETE CASCADE,"
    "  n INTEGER NOT NULL,"
    "  data BLOB NOT NULL);"
    /* a backtest's signals, stored with the run (store.h, "stored runs");
     * signal_history keeps live sessions' signals and the rows stored before
     * v7, which name no run and so stay where they are */
    "CREATE TABLE backtest_signals ("
    "  backtest_id INTEGER PRIMARY KEY REFERENCES backtest_results(id) ON DELETE CASCADE,"
    "  n INTEGER NOT NULL,"
    "  names TEXT NOT NULL,"
    "  data BLOB NOT NULL);",
     migrate_v7},
    /* 8: several books per run and perpetuals (issue 12): each closed trade's
     * strategy, why it opened and closed, its funding and excursions, and the
     * END_OF_DATA records of positions still open at the end (open = 1); what
     * a run holds beyond the columns (mode, market, leverage, benchmark, more
     * metrics) as JSON in backtest_results.extra; one row per book of the run
     * (backtest_books: its strategy, share of the capital, results, metrics
     * JSON and, when the run had more than one book, its equity curve as an
     * MTC1 blob of one column); a live fill's book, strategy, reason and
     * funding. Rows stored before keep every value: the new columns are NULL,
     * funding 0, open 0. */
    {"ALTER TABLE backtest_trades ADD COLUMN strategy TEXT;"
    "ALTER TABLE backtest_trades ADD COLUMN entry_reason TEXT;"
    "ALTER TABLE backtest_trades ADD COLUMN exit_reason TEXT;"
    "ALTER TABLE backtest_trades ADD COLUMN funding REAL NOT NULL DEFAULT 0;"
    "ALTER TABLE backtest_trades ADD COLUMN mae REAL;"
    "ALTER TABLE backtest_trades ADD COLUMN mfe REAL;"
    "ALTER TABLE backtest_trades ADD COLUMN open INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE backtest_results ADD COLUMN extra TEXT;"
    "CREATE TABLE backtest_books ("
    "  backtest_id INTEGER NOT NULL REFERENCES backtest_results(id) ON DELETE CASCADE,"
    "  book INTEGER NOT NULL,"
    "  strategy TEXT,"
    "  allocation REAL,"
    "  initial REAL,"
    "  final REAL,"
    "  pnl REAL,"
    "  fees REAL,"
    "  funding REAL,"
    "  trades INTEGER,"
    "  metrics TEXT,"
    "  curve BLOB,"
    "  PRIMARY KEY(backtest_id, book));"
    "ALTER TABLE paper_fills ADD COLUMN book INTEGER;"
    "ALTER TABLE paper_fills ADD COLUMN strategy TEXT;"
    "ALTER TABLE paper_fills ADD COLUMN reason TEXT;"
    "ALTER TABLE paper_fills ADD COLUMN funding REAL NOT NULL DEFAULT 0;", NULL},
    /* 9: event-sourced replay (issue 14, store/events.h): a paper session's
     * inputs in order (bars as appended, warm-up, macro and funding appends,
     * the files it loaded, what each wait returned) with contents
     * content-addressed in session_blobs, and its starting options. Nothing
     * existing changes: sessions from before have no events (not replayable). */
    {"CREATE TABLE session_events ("
    "  session_id INTEGER NOT NULL REFERENCES paper_sessions(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  wait INTEGER NOT NULL,"
    "  ts_ms INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  asset INTEGER, t INTEGER,"
    "  o REAL, h REAL, l REAL, c REAL, v REAL,"
    "  ref TEXT, info TEXT,"
    "  PRIMARY KEY(session_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE session_blobs ("
    "  hash TEXT PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  content BLOB NOT NULL) WITHOUT ROWID;"
    "ALTER TABLE paper_sessions ADD COLUMN options TEXT;", NULL},
    /* 10: alerts and health (issue 14, alerts/alerts.h): the crashed sessions
     * already alerted (so mts serve and the next mts run alert each once), and
     * the external APIs' circuit breakers as the recorders (collect, run) last
     * saw them, for /health. New tables only. */
    {"CREATE TABLE alerts_fired ("
    "  kind TEXT NOT NULL, subject TEXT NOT NULL, fired_at INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, subject));"
    "CREATE TABLE api_breakers ("
    "  vendor TEXT NOT NULL, host TEXT NOT NULL, state TEXT NOT NULL,"
    "  failures INTEGER NOT NULL, opened_at INTEGER, updated_at INTEGER NOT NULL, pid INTEGER,"
    "  PRIMARY KEY (vendor, host));", NULL},
    /* 11: shadow strategies and attach (issue 14, store/paper.h): a live
     * fill's shadow flag (0 on every row from before: the account's), the
     * attach socket of a running session, and one row per book of a session
     * (upserted by each step: its strategy, shadow flag, capital and
     * results so far) with one equity point per book per step; a live
     * signal's session (signal_history.session_id: NULL on the rows from
     * before, which `mts replay` still matches by strategy and time). Rows
     * stored before keep every value; sessions from before have no book rows. */
    {"ALTER TABLE paper_fills ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE paper_sessions ADD COLUMN control_socket TEXT;"
    "CREATE TABLE paper_books ("
    "  session_id INTEGER NOT NULL REFERENCES paper_sessions(id) ON DELETE CASCADE,"
    "  book INTEGER NOT NULL, strategy TEXT NOT NULL, shadow INTEGER NOT NULL DEFAULT 0,"
    "  initial REAL NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL, fees REAL NOT NULL,"
    "  funding REAL NOT NULL, fills INTEGER NOT NULL, trades INTEGER NOT NULL,"
    "  updated_ts INTEGER NOT NULL,"
    "  PRIMARY KEY(session_id, book)) WITHOUT ROWID;"
    "CREATE TABLE paper_book_equity ("
    "  session_id INTEGER NOT NULL REFERENCES paper_sessions(id) ON DELETE CASCADE,"
    "  book INTEGER NOT NULL, ts INTEGER NOT NULL, equity REAL NOT NULL,"
    "  PRIMARY KEY(session_id, book, ts)) WITHOUT ROWID;"
    "ALTER TABLE signal_history ADD COLUMN session_id INTEGER;"
    "CREATE INDEX idx_signal_history_session ON signal_history(session_id) WHERE session_id IS NOT NULL;", NULL},
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* ---- statements, prepared once per handle ---- */
enum {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
    ST_UPSERT_MACRO, ST_LOAD_MACRO, ST_COUNT_MACRO,
    ST_INSERT_SIGNAL, ST_INSERT_BACKTEST,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* An original observation (both flags 0) is never replaced by a filled one. */
    [ST_UPSERT_MACRO] =
        "INSERT INTO macro_indicators(indicator, date, value, is_interpolated, is_forward_filled)"
        " VALUES(?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT(indicator, date) DO UPDATE SET"
        "  value = excluded.value, is_interpolated = excluded.is_interpolated,"
        "  is_forward_filled = excluded.is_forward_filled"
        " WHERE NOT (macro_indicators.is_interpolated = 0 AND macro_indicators.is_forward_filled = 0"
        "            AND (excluded.is_interpolated <> 0 OR excluded.is_forward_filled <> 0))",
    [ST_LOAD_MACRO] =
        "SELECT date, value FROM macro_indicators"
        " WHERE indicator = ?1 AND date >= ?2 AND date <= ?3 ORDER BY date",
    [ST_COUNT_MACRO] = "SELECT COUNT(*) FROM macro_indicators WHERE indicator = ?1",
    [ST_INSERT_SIGNAL] =
        "INSERT INTO signal_history(asset, signal_type, timestamp, price, strategy_name, confidence,"
        " position_size, stop_loss, take_profit) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_INSERT_BACKTEST] =
        "INSERT INTO backtest_results(strategy_name, start_date, end_date, initial_capital,"
        " final_value, total_return, sharpe_ratio, max_drawdown, trade_count, assets,"
        " annualized_return, volatility, calmar_ratio, win_rate, profit_factor, commission_bps,"
        " slippage_bps, parameters, extra)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
};

struct mts_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[ST_COUNT];
    sqlite3_stmt *lazy[MTS_STORE_LAZY_N];   /* mts_store_stmt: prepared on first use */
    int64_t write_wait_ms;   /* mts_store_begin_write gives up after this */
    const volatile sig_atomic_t *cancel;   /* ends that wait early; may be NULL */
    char err[512];
};

/* The message of the last mts_store_open that failed in this thread, for
 * mts_store_errmsg(NULL). */
static _Thread_local char open_err[512];

/* ---- errors ---- */

void mts_store_set_error(mts_store_t *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s ? s->err : open_err, sizeof open_err, fmt, ap);
    va_end(ap);
}

/* The name of a primary result code, for messages and searches. */
static const char *code_name(int primary) {
    switch (primary) {
    case SQLITE_ERROR: return "SQLITE_ERROR";
    case SQLITE_PERM: return "SQLITE_PERM";
    case SQLITE_BUSY: return "SQLITE_BUSY";
    case SQLITE_LOCKED: return "SQLITE_LOCKED";
    case SQLITE_NOMEM: return "SQLITE_NOMEM";
    case SQLITE_READONLY: return "SQLITE_READONLY";
    case SQLITE_IOERR: return "SQLITE_IOERR";
    case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
    case SQLITE_PROTOCOL: return "SQLITE_PROTOCOL";
    case SQLITE_SCHEMA: return "SQLITE_SCHEMA";
    case SQLITE_TOOBIG: return "SQLITE_TOOBIG";
    case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
    case SQLITE_MISMATCH: return "SQLITE_MISMATCH";
    case SQLITE_NOTADB: return "SQLITE_NOTADB";
    default: return "SQLITE_?";
    }
}

/* What a result code means for the user of `path`; "" when SQLite's own words
 * say it all (constraints, SQL errors). */
static void cause_of(int xrc, const char *path, int sys_errno, char *out, size_t n) {
    out[0] = '\0';
    switch (xrc & 0xff) {
    case SQLITE_BUSY:
        if (xrc == SQLITE_BUSY_RECOVERY) snprintf(out, n, "another process is recovering %s", path);
        else if (xrc == SQLITE_BUSY_SNAPSHOT)
            snprintf(out, n, "another process wrote to %s since this transaction began", path);
        else snprintf(out, n, "another process is writing to %s", path);
        break;
    case SQLITE_LOCKED:
        snprintf(out, n, "another connection of this process holds a conflicting lock on %s", path);
        break;
    case SQLITE_FULL:
        snprintf(out, n, "the disk holding %s is full, or the database reached its size limit: "
                         "free space and try again", path);
        break;
    case SQLITE_READONLY:
        snprintf(out, n, "%s or its directory is not writable by this user, or it is open read-only", path);
        break;
    case SQLITE_PERM: snprintf(out, n, "permission denied on %s", path); break;
    case SQLITE_IOERR:
        snprintf(out, n, "the system reported an i/o error on %s%s%s", path, sys_errno ? ": " : "",
                 sys_errno ? strerror(sys_errno) : "");
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: snprintf(out, n, "%s is damaged or not an mts database", path); break;
    case SQLITE_CANTOPEN:
        snprintf(out, n, "cannot open %s (check that its directory exists and is writable)", path);
        break;
    default: break;
    }
}

int mts_store_db_error(mts_store_t *s, const char *what) {
    if (!s || !s->db) {
        mts_store_set_error(s, "%s: no connection", what);
        return MTS_EDB;
    }
    int xrc = sqlite3_extended_errcode(s->db);
    char cause[320], code[48];
    cause_of(xrc, s->path ? s->path : "the database", sqlite3_system_errno(s->db), cause, sizeof cause);
    if (xrc == (xrc & 0xff)) snprintf(code, sizeof code, "%s", code_name(xrc & 0xff));
    else snprintf(code, sizeof code, "%s, extended code %d", code_name(xrc & 0xff), xrc);
    mts_store_set_error(s, "%s: %s%s%s%s [%s]", what, sqlite3_errmsg(s->db), cause[0] ? " (" : "", cause,
                        cause[0] ? ")" : "", code);
    return mts_store_busy_code(xrc) ? MTS_EDBLOCKED : MTS_EDB;
}

int mts_store_busy_code(int rc) {
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* ---- waiting for the write lock ---- */

static int64_t mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int64_t mts_store_now_ms(void) { return mono_ms(); }

void mts_store_set_write_wait(mts_store_t *s, int64_t ms) {
    if (s) s->write_wait_ms = ms < 0 ? 0 : ms;
}

int64_t mts_store_write_wait(const mts_store_t *s) { return s ? s->write_wait_ms : 0; }

void mts_store_set_cancel(mts_store_t *s, const volatile sig_atomic_t *flag) {
    if (s) s->cancel = flag;
}

int mts_store_begin_write(mts_store_t *s, const char *what, int64_t *started_ms) {
    sqlite3_stmt *st = s->stmt[ST_BEGIN];
    if (!*started_ms) *started_ms = mono_ms();
    int64_t t0_ms = *started_ms;
    int64_t next_log = 0;
    for (;;) {
        int64_t waited = mono_ms() - t0_ms, left = s->write_wait_ms - waited;
        /* Each try waits at most 2 s inside SQLite's busy handler, so the
         * waiting line below comes out while another process holds the lock. */
        sqlite3_busy_timeout(s->db, (int)(left <= 0 ? 0 : left < MTS_STORE_WRITE_TRY_MS ? left : MTS_STORE_WRITE_TRY_MS));
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_busy_timeout(s->db, MTS_STORE_BUSY_MS);
        if (rc == SQLITE_DONE) return 0;
        waited = mono_ms() - t0_ms;
        if (!mts_store_busy_code(rc) || waited >= s->write_wait_ms) {
            int ret = mts_store_db_error(s, what);
            if (ret == MTS_EDBLOCKED) {
                char msg[sizeof s->err];
                snprintf(msg, sizeof msg, "%s", s->err);
                /* "...writing to PATH) [SQLITE_BUSY]" -> add how long it waited */
                char *cut = strstr(msg, ") [");
                if (cut) {
                    *cut = '\0';
                    mts_store_set_error(s, "%s; gave up after %.1f s, the limit set by MTS_DB_BUSY_TIMEOUT_MS) %s",
                                        msg, (double)waited / 1000.0, cut + 2);
                }
            }
            return ret;
        }
        if (s->cancel && *s->cancel) {
            mts_store_set_error(s, "%s: cancelled while waiting for the write lock of %s (another process "
                                   "is writing to it; waited %.1f s)", what, s->path, (double)waited / 1000.0);
            return MTS_ECANCELED;
        }
        if (waited >= next_log) {
            mts_log(MTS_LOG_WARN, "store.waiting_for_lock",
                    "\"what\":\"%s\",\"db\":\"%s\",\"waited_s\":%.1f,\"give_up_s\":%.1f,"
                    "\"cause\":\"database is locked: another process is writing\"",
                    what, s->path, (double)waited / 1000.0, (double)s->write_wait_ms / 1000.0);
            next_log = waited + MTS_STORE_WRITE_LOG_MS;
        }
    }
}

const char *mts_store_errmsg(const mts_store_t *s) {
    if (!s) return open_err[0] ? open_err : "no store";
    return s->err[0] ? s->err : "no error";
}

sqlite3 *mts_store_db(mts_store_t *s) { return s ? s->db : NULL; }

/* ---- open / migrate / close ---- */

static int exec(mts_store_t *s, const char *sql, const char *what) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        mts_store_set_error(s, "%s: %s", what, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return MTS_EDB;
    }
    return 0;
}

static int query_int(mts_store_t *s, const char *sql, int64_t *out) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        mts_store_db_error(s, sql);
        sqlite3_finalize(st);
        return MTS_EDB;
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static int migrate(mts_store_t *s) {
    int64_t v;
    if (query_int(s, "PRAGMA user_version", &v)) return MTS_EDB;
    if (v == N_MIGRATIONS) return 0;
    if (v > N_MIGRATIONS) {
        mts_store_set_error(s, "%s: schema version %lld is newer than this mts understands (%d); "
                               "upgrade mts or use another database",
                            s->path, (long long)v, N_MIGRATIONS);
        return MTS_EDB;
    }
    /* Re-read inside the write transaction: another process may have migrated. */
    if (exec(s, "BEGIN IMMEDIATE", "migrate")) return MTS_EDB;
    if (query_int(s, "PRAGMA user_version", &v)) goto fail;
    for (; v < N_MIGRATIONS; v++) {
        char what[64], pragma[64];
        snprintf(what, sizeof what, "migration %lld", (long long)v + 1);
        if (exec(s, migrations[v].sql, what)) goto fail;
        if (migrations[v].move && migrations[v].move(s)) goto fail;
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %lld", (long long)v + 1);
        if (exec(s, pragma, what)) goto fail;
    }
    if (exec(s, "COMMIT", "migrate")) goto fail;
    return 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return MTS_EDB;
}

/* v7: the rows of the row tables into blobs (store/bars.c, store/results.c),
 * inside the migration's transaction: a failure leaves the file at v6 with
 * every row where it was. */
static int migrate_v7(mts_store_t *s) {
    if (mts_store_migrate_v7_bars(s)) return MTS_EDB;
    if (mts_store_migrate_v7_curves(s)) return MTS_EDB;
    return 0;
}

int mts_store_open(const char *path, mts_store_t **out) {
    if (out) *out = NULL;
    open_err[0] = '\0';
    if (!path || !out) {
        mts_store_set_error(NULL, "mts_store_open: no path");
        return MTS_EINVAL;
    }
    mts_store_t *s = mts_calloc(1, sizeof *s);
    if (!s || !(s->path = mts_strdup(path))) {
        mts_free(s);
        mts_store_set_error(NULL, "%s: out of memory", path);
        return MTS_ENOMEM;
    }
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        mts_store_set_error(s, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, MTS_STORE_BUSY_MS);
    s->write_wait_ms = MTS_STORE_WRITE_WAIT_MS;
    const char *env = getenv("MTS_DB_BUSY_TIMEOUT_MS");
    if (env) {
        char *end;
        errno = 0;
        long long v = strtoll(env, &end, 10);
        if (!*env || *end || errno || v < 0) {
            mts_store_set_error(s, "MTS_DB_BUSY_TIMEOUT_MS must be a whole number of milliseconds >= 0 "
                                   "(how long storing a result waits for the database), got '%.64s'", env);
            goto fail;
        }
        s->write_wait_ms = v;
    }
    /* a new database returns the space pruned rows leave (PRAGMA
     * incremental_vacuum, store/prune.h); on an existing one this does nothing
     * (only a VACUUM changes it: mts prune --enable-incremental-vacuum) */
    {   /* only on a new, empty file: on an existing one the pragma changes nothing
         * and waits for the write lock (a writer elsewhere would hold up the open) */
        sqlite3_stmt *q = NULL;
        int empty = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL) == SQLITE_OK &&
                    sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) == 0;
        sqlite3_finalize(q);
        if (empty) (void)sqlite3_exec(s->db, "PRAGMA auto_vacuum=INCREMENTAL", NULL, NULL, NULL);
    }
    /* journal_mode=WAL touches the file first: a directory that is missing or
     * a file that is not a database fails here. */
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        mts_store_set_error(s, "%s: %s", path, sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        goto fail;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    int wal_ok = mode && (!strcmp(mode, "wal") || !strcmp(mode, "memory"));
    if (!wal_ok) {
        mts_store_set_error(s, "%s: cannot switch to WAL mode (journal_mode is %s)", path, mode ? mode : "?");
        sqlite3_finalize(st);
        goto fail;
    }
    sqlite3_finalize(st);
    if (exec(s, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", path)) goto fail;
    if (migrate(s)) goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL) != SQLITE_OK) {
            mts_store_db_error(s, "prepare");
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    snprintf(open_err, sizeof open_err, "%s", s->err);
    mts_store_close(s);
    return MTS_EDB;
}

void mts_store_close(mts_store_t *s) {
    if (!s) return;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->stmt[i]);
    for (int i = 0; i < MTS_STORE_LAZY_N; i++) sqlite3_finalize(s->lazy[i]);
    sqlite3_close_v2(s->db);
    mts_free(s->path);
    mts_free(s);
}

int mts_store_schema_version(mts_store_t *s) {
    int64_t v;
    if (!s) return MTS_EINVAL;
    if (query_int(s, "PRAGMA user_version", &v)) return MTS_EDB;
    return (int)v;
}

/* ---- transactions ---- */

static int step_done(mts_store_t *s, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return mts_store_db_error(s, what);
    return 0;
}

static int tx_begin(mts_store_t *s) { return step_done(s, s->stmt[ST_BEGIN], "begin"); }
static int tx_commit(mts_store_t *s) { return step_done(s, s->stmt[ST_COMMIT], "commit"); }
static void tx_rollback(mts_store_t *s) {
    if (!sqlite3_get_autocommit(s->db)) {
        sqlite3_step(s->stmt[ST_ROLLBACK]);
        sqlite3_reset(s->stmt[ST_ROLLBACK]);
    }
}

int mts_store_tx_begin(mts_store_t *s) { return tx_begin(s); }
int mts_store_tx_commit(mts_store_t *s) { return tx_commit(s); }
void mts_store_tx_rollback(mts_store_t *s) { tx_rollback(s); }

int mts_store_stmt(mts_store_t *s, int slot, const char *sql, sqlite3_stmt **out) {
    *out = NULL;
    if (slot < 0 || slot >= MTS_STORE_LAZY_N) {
        mts_store_set_error(s, "store: no statement slot %d", slot);
        return MTS_EINVAL;
    }
    if (!s->lazy[slot] &&
        sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->lazy[slot], NULL) != SQLITE_OK) {
        s->lazy[slot] = NULL;
        return mts_store_db_error(s, "prepare");
    }
    *out = s->lazy[slot];
    return 0;
}

/* Binds a double, or NULL when it is NaN/inf. */
static int bind_opt(sqlite3_stmt *st, int i, double v) {
    return isfinite(v) ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
}

static int bind_opt_text(sqlite3_stmt *st, int i, const char *v) {
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

int mts_series_reserve(mts_series_t *sr, int64_t cap) {
    if (!sr || cap < 0) return MTS_EINVAL;
    if (cap <= sr->cap) return 0;
    void *np = mts_realloc(sr->ts, (size_t)cap * sizeof *sr->ts);
    if (!np) return MTS_ENOMEM;
    sr->ts = np;
    np = mts_realloc(sr->v, (size_t)cap * sizeof *sr->v);
    if (!np) return MTS_ENOMEM;
    sr->v = np;
    sr->cap = cap;
    return 0;
}

void mts_series_free(mts_series_t *sr) {
    if (!sr) return;
    mts_free(sr->ts);
    mts_free(sr->v);
    memset(sr, 0, sizeof *sr);
}

static int64_t next_cap(int64_t cap) { return cap < 256 ? 256 : cap * 2; }

static int count_rows(mts_store_t *s, int which, const char *key, int64_t *n, const char *what) {
    if (!s || !key || !n) {
        if (s) mts_store_set_error(s, "%s: missing argument", what);
        return MTS_EINVAL;
    }
    sqlite3_stmt *st = s->stmt[which];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) *n = sqlite3_column_int64(st, 0);
    else ret = mts_store_db_error(s, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

/* ---- macro ---- */

int mts_store_upsert_macro(mts_store_t *s, const char *indicator, const int64_t *ts,
                           const double *v, const uint8_t *flags, int64_t n) {
    if (!s || !indicator || (n > 0 && (!ts || !v))) {
        if (s) mts_store_set_error(s, "upsert_macro: missing argument");
        return MTS_EINVAL;
    }
    if (n <= 0) return 0;
    sqlite3_stmt *st = s->stmt[ST_UPSERT_MACRO];
    int brc = tx_begin(s);
    if (brc) return brc;
    sqlite3_bind_text(st, 1, indicator, -1, SQLITE_STATIC);
    char date[16];
    for (int64_t i = 0; i < n; i++) {
        mts_time_format_date(ts[i], date);
        uint8_t f = flags ? flags[i] : 0;
        sqlite3_bind_text(st, 2, date, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 3, v[i]);
        sqlite3_bind_int(st, 4, (f & 1) != 0);
        sqlite3_bind_int(st, 5, (f & 2) != 0);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            mts_store_set_error(s, "upsert_macro %s %s: %s", indicator, date, sqlite3_errmsg(s->db));
            sqlite3_clear_bindings(st);
            tx_rollback(s);
            return MTS_EDB;
        }
    }
    sqlite3_clear_bindings(st);
    if (tx_commit(s)) { tx_rollback(s); return MTS_EDB; }
    return 0;
}

/* Dates bounding [from, to]: first midnight >= from, last midnight <= to,
 * clamped to years 0000..9999 (dates are compared as text). */
void mts_store_macro_range(int64_t from, int64_t to, char lo[16], char hi[16]) {
    const int64_t min_t = -62167219200LL;    /* 0000-01-01 */
    const int64_t max_t = 253402214400LL;    /* 9999-12-31 */
    if (from < min_t) from = min_t;
    if (from > max_t) from = max_t + 86400;
    if (to > max_t + 86399) to = max_t + 86399;
    if (to < min_t) to = min_t - 1;
    int64_t d0 = mts_time_day(from);
    if (d0 < from) d0 += 86400;
    int64_t d1 = mts_time_day(to);
    if (d0 > max_t) { strcpy(lo, "~"); } else mts_time_format_date(d0, lo);
    if (d1 < min_t) { strcpy(hi, ""); } else mts_time_format_date(d1, hi);
}

/* Rows of a bound macro statement (date, value) into out; what names the
 * caller in messages. Resets the statement. */
static int read_macro_rows(mts_store_t *s, sqlite3_stmt *st, const char *indicator, const char *what,
                           mts_series_t *out) {
    out->n = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        int64_t t;
        if (!d || mts_time_parse(d, (size_t)sqlite3_column_bytes(st, 0), &t)) {
            mts_store_set_error(s, "%s %s: bad date '%s' in the database", what, indicator, d ? d : "");
            ret = MTS_EPARSE;
            break;
        }
        if (out->n == out->cap && mts_series_reserve(out, next_cap(out->cap))) {
            mts_store_set_error(s, "%s %s: out of memory", what, indicator);
            ret = MTS_ENOMEM;
            break;
        }
        out->ts[out->n] = t;
        out->v[out->n] = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
        out->n++;
    }
    if (!ret && rc != SQLITE_DONE) ret = mts_store_db_error(s, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

/* Binds (indicator, from, to) to a macro statement. */
static void bind_macro_range(sqlite3_stmt *st, const char *indicator, int64_t from, int64_t to, char lo[16],
                             char hi[16]) {
    mts_store_macro_range(from, to, lo, hi);
    sqlite3_bind_text(st, 1, indicator, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hi, -1, SQLITE_STATIC);
}

int mts_store_load_macro(mts_store_t *s, const char *indicator, int64_t from, int64_t to, mts_series_t *out) {
    if (!s || !indicator || !out) {
        if (s) mts_store_set_error(s, "load_macro: missing argument");
        return MTS_EINVAL;
    }
    char lo[16], hi[16];
    bind_macro_range(s->stmt[ST_LOAD_MACRO], indicator, from, to, lo, hi);
    return read_macro_rows(s, s->stmt[ST_LOAD_MACRO], indicator, "load_macro", out);
}

int mts_store_load_macro_originals(mts_store_t *s, const char *indicator, int64_t from, int64_t to,
                                   mts_series_t *out) {
    if (!s || !indicator || !out) {
        if (s) mts_store_set_error(s, "load_macro_originals: missing argument");
        return MTS_EINVAL;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT date, value FROM macro_indicators WHERE indicator = ?1 AND date >= ?2"
                           " AND date <= ?3 AND is_interpolated = 0 AND is_forward_filled = 0 ORDER BY date",
                           -1, &st, NULL) != SQLITE_OK)
        return mts_store_db_error(s, "load_macro_originals");
    char lo[16], hi[16];
    bind_macro_range(st, indicator, from, to, lo, hi);
    int ret = read_macro_rows(s, st, indicator, "load_macro_originals", out);
    sqlite3_finalize(st);
    return ret;
}

int mts_store_count_macro(mts_store_t *s, const char *indicator, int64_t *n) {
    return count_rows(s, ST_COUNT_MACRO, indicator, n, "count_macro");
}

/* ---- signals and backtests ---- */

int mts_store_insert_signals(mts_store_t *s, const mts_signal_row_t *rows, int64_t n) {
    if (!s || (n > 0 && !rows)) {
        if (s) mts_store_set_error(s, "insert_signals: missing argument");
        return MTS_EINVAL;
    }
    for (int64_t i = 0; i < n; i++) {
        const mts_signal_row_t *r = &rows[i];
        const char *bad = !r->asset ? "asset is missing" : !r->strategy_name ? "strategy_name is missing"
                        : !r->signal_type ? "signal_type is missing" : !isfinite(r->price) ? "price is not finite"
                        : !isfinite(r->confidence) ? "confidence is not finite" : NULL;
        if (bad) {
            mts_store_set_error(s, "insert_signals: row %lld: %s", (long long)i, bad);
            return MTS_EINVAL;
        }
    }
    if (n <= 0) return 0;
    sqlite3_stmt *st = s->stmt[ST_INSERT_SIGNAL];
    int brc = tx_begin(s);
    if (brc) return brc;
    for (int64_t i = 0; i < n; i++) {
        const mts_signal_row_t *r = &rows[i];
        sqlite3_bind_text(st, 1, r->asset, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->signal_type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, r->ts);
        sqlite3_bind_double(st, 4, r->price);
        sqlite3_bind_text(st, 5, r->strategy_name, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 6, r->confidence);
        bind_opt(st, 7, r->position_size);
        bind_opt(st, 8, r->stop_loss);
        bind_opt(st, 9, r->take_profit);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            mts_store_set_error(s, "insert_signals: row %lld: %s", (long long)i, sqlite3_errmsg(s->db));
            sqlite3_clear_bindings(st);
            tx_rollback(s);
            return MTS_EDB;
        }
    }
    sqlite3_clear_bindings(st);
    if (tx_commit(s)) { tx_rollback(s); return MTS_EDB; }
    return 0;
}

int mts_store_json_object(mts_store_t *s, const char *text) {
    sqlite3_stmt *st = NULL;
    int ok = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT json_valid(?1) AND json_type(?1) = 'object'", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    }
    sqlite3_finalize(st);
    return ok;
}

int mts_store_insert_backtest(mts_store_t *s, const mts_backtest_row_t *r, int64_t *id_out) {
    if (!s || !r) return MTS_EINVAL;
    const char *bad = !r->strategy_name ? "strategy_name is missing" : !r->start_date ? "start_date is missing"
                    : !r->end_date ? "end_date is missing" : !isfinite(r->initial_capital) ? "initial_capital is not finite"
                    : !isfinite(r->final_value) ? "final_value is not finite"
                    : !isfinite(r->total_return) ? "total_return is not finite"
                    : r->extra_json && !mts_store_json_object(s, r->extra_json) ? "extra_json is not a JSON object"
                    : NULL;
    if (bad) {
        mts_store_set_error(s, "insert_backtest: %s", bad);
        return MTS_EINVAL;
    }
    sqlite3_stmt *st = s->stmt[ST_INSERT_BACKTEST];
    sqlite3_bind_text(st, 1, r->strategy_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->start_date, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->end_date, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, r->initial_capital);
    sqlite3_bind_double(st, 5, r->final_value);
    sqlite3_bind_double(st, 6, r->total_return);
    bind_opt(st, 7, r->sharpe_ratio);
    bind_opt(st, 8, r->max_drawdown);
    sqlite3_bind_int64(st, 9, r->trade_count);
    bind_opt_text(st, 10, r->assets);
    bind_opt(st, 11, r->annualized_return);
    bind_opt(st, 12, r->volatility);
    bind_opt(st, 13, r->calmar_ratio);
    bind_opt(st, 14, r->win_rate);
    bind_opt(st, 15, r->profit_factor);
    bind_opt(st, 16, r->commission_bps);
    bind_opt(st, 17, r->slippage_bps);
    bind_opt_text(st, 18, r->parameters_json);
    bind_opt_text(st, 19, r->extra_json);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) return mts_store_db_error(s, "insert_backtest");
    if (id_out) *id_out = sqlite3_last_insert_rowid(s->db);
    return 0;
}
