/* results.c — stored backtest runs (see store.h, "stored runs"): the run row,
 * its signals, closed trades and equity curve written in one transaction, and
 * read back for reports. Statements here are prepared per call (a run is
 * stored or loaded once, not in a hot loop) and reused for every row.
 *
 * Storing holds the database's write lock for the whole transaction, so it is
 * kept short: everything is computed before BEGIN IMMEDIATE, and the equity
 * curve (the bulk: one point per bar) goes in EQUITY_CHUNK points per
 * statement. Measured, 1,000,000 points: 1.0 s with one INSERT per point,
 * see docs/store.md for the chunked figure. */
#include "store/store.h"
#include "store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int exec(mts_store_t *s, const char *sql, const char *what) {
    if (sqlite3_exec(mts_store_db(s), sql, NULL, NULL, NULL) != SQLITE_OK) return mts_store_db_error(s, what);
    return 0;
}

static int prepare(mts_store_t *s, const char *sql, sqlite3_stmt **st, const char *what) {
    if (sqlite3_prepare_v2(mts_store_db(s), sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return mts_store_db_error(s, what);
    }
    return 0;
}

static void bind_opt(sqlite3_stmt *st, int i, double v) {
    if (isfinite(v)) sqlite3_bind_double(st, i, v);
    else sqlite3_bind_null(st, i);
}

static int insert_signals(mts_store_t *s, const mts_signal_row_t *rows, int64_t n) {
    if (n <= 0) return 0;
    sqlite3_stmt *st;
    if (prepare(s, "INSERT INTO signal_history(asset, signal_type, timestamp, price, strategy_name,"
                   " confidence, position_size, stop_loss, take_profit)"
                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &st, "insert_run signals"))
        return MTS_EDB;
    int ret = 0;
    for (int64_t i = 0; i < n && !ret; i++) {
        const mts_signal_row_t *r = &rows[i];
        if (!r->asset || !r->strategy_name || !r->signal_type || !isfinite(r->price) ||
            !isfinite(r->confidence)) {
            mts_store_set_error(s, "insert_run: signal %lld: a required field is missing or not finite",
                                (long long)i);
            ret = MTS_EINVAL;
            break;
        }
        sqlite3_bind_text(st, 1, r->asset, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->signal_type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, r->ts);
        sqlite3_bind_double(st, 4, r->price);
        sqlite3_bind_text(st, 5, r->strategy_name, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 6, r->confidence);
        bind_opt(st, 7, r->position_size);
        bind_opt(st, 8, r->stop_loss);
        bind_opt(st, 9, r->take_profit);
        if (sqlite3_step(st) != SQLITE_DONE) ret = mts_store_db_error(s, "insert_run signals");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return ret;
}

static int insert_trades(mts_store_t *s, int64_t id, const mts_trade_row_t *t, int64_t n) {
    if (n <= 0) return 0;
    sqlite3_stmt *st;
    if (prepare(s, "INSERT INTO backtest_trades(backtest_id, asset, side, qty, entry_ts, entry_price,"
                   " exit_ts, exit_price, pnl, fees) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                &st, "insert_run trades"))
        return MTS_EDB;
    int ret = 0;
    for (int64_t i = 0; i < n && !ret; i++) {
        if (!t[i].asset) {
            mts_store_set_error(s, "insert_run: trade %lld has no asset", (long long)i);
            ret = MTS_EINVAL;
            break;
        }
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, t[i].asset, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, t[i].side < 0 ? "short" : "long", -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 4, t[i].qty);
        sqlite3_bind_int64(st, 5, t[i].entry_ts);
        sqlite3_bind_double(st, 6, t[i].entry_price);
        sqlite3_bind_int64(st, 7, t[i].exit_ts);
        sqlite3_bind_double(st, 8, t[i].exit_price);
        sqlite3_bind_double(st, 9, t[i].pnl);
        sqlite3_bind_double(st, 10, t[i].fees);
        if (sqlite3_step(st) != SQLITE_DONE) ret = mts_store_db_error(s, "insert_run trades");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return ret;
}

/* Points per multi-row INSERT of the equity curve: ?1 is the run's id, point
 * k of a chunk binds ?(2k+2) ts and ?(2k+3) equity. */
#define EQUITY_CHUNK 128

static int insert_equity(mts_store_t *s, int64_t id, const int64_t *ts, const double *v, int64_t n) {
    if (n <= 0) return 0;
    char sql[64 + EQUITY_CHUNK * 24];
    size_t len = (size_t)snprintf(sql, sizeof sql, "INSERT INTO backtest_equity(backtest_id, ts, equity) VALUES");
    for (int k = 0; k < EQUITY_CHUNK; k++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s(?1,?%d,?%d)", k ? "," : "", 2 * k + 2, 2 * k + 3);
    sqlite3_stmt *chunk = NULL, *one = NULL;
    if (n >= EQUITY_CHUNK && prepare(s, sql, &chunk, "insert_run equity")) return MTS_EDB;
    if (n % EQUITY_CHUNK &&
        prepare(s, "INSERT INTO backtest_equity(backtest_id, ts, equity) VALUES(?1, ?2, ?3)", &one,
                "insert_run equity")) {
        sqlite3_finalize(chunk);
        return MTS_EDB;
    }
    int ret = 0;
    int64_t i = 0;
    if (chunk) sqlite3_bind_int64(chunk, 1, id);
    for (; i + EQUITY_CHUNK <= n && !ret; i += EQUITY_CHUNK) {
        for (int k = 0; k < EQUITY_CHUNK; k++) {
            sqlite3_bind_int64(chunk, 2 * k + 2, ts[i + k]);
            sqlite3_bind_double(chunk, 2 * k + 3, v[i + k]);
        }
        if (sqlite3_step(chunk) != SQLITE_DONE) ret = mts_store_db_error(s, "insert_run equity");
        sqlite3_reset(chunk);
    }
    if (one) sqlite3_bind_int64(one, 1, id);
    for (; i < n && !ret; i++) {
        sqlite3_bind_int64(one, 2, ts[i]);
        sqlite3_bind_double(one, 3, v[i]);
        if (sqlite3_step(one) != SQLITE_DONE) ret = mts_store_db_error(s, "insert_run equity");
        sqlite3_reset(one);
    }
    sqlite3_finalize(chunk);
    sqlite3_finalize(one);
    return ret;
}

/* The run's interval goes into its parameters JSON as "interval" (no schema
 * change): {"sma_cross":{"fast":10},"interval":"1h"}; reading a run back takes
 * it out again (mts_stored_run_t.interval), so parameters_json reads back as
 * the strategies' parameters only. */
static int set_interval(mts_store_t *s, int64_t id, const char *interval) {
    sqlite3_stmt *st;
    if (prepare(s, "UPDATE backtest_results SET parameters = json_set(CASE WHEN json_valid(parameters)"
                   " AND json_type(parameters) = 'object' THEN parameters ELSE '{}' END, '$.interval', ?2)"
                   " WHERE id = ?1", &st, "insert_run interval"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, interval, -1, SQLITE_STATIC);
    int ret = sqlite3_step(st) == SQLITE_DONE ? 0 : mts_store_db_error(s, "insert_run interval");
    sqlite3_finalize(st);
    return ret;
}

int mts_store_insert_run(mts_store_t *s, const mts_backtest_row_t *row,
                         const mts_signal_row_t *signals, int64_t n_signals,
                         const mts_trade_row_t *trades, int64_t n_trades,
                         const int64_t *equity_ts, const double *equity, int64_t n_equity,
                         int64_t *id_out) {
    if (!s || !row || (n_signals > 0 && !signals) || (n_trades > 0 && !trades) ||
        (n_equity > 0 && (!equity_ts || !equity))) {
        if (s) mts_store_set_error(s, "insert_run: missing argument");
        return MTS_EINVAL;
    }
    /* BEGIN IMMEDIATE waits for the write lock (mts_store_begin_write); once
     * held, nothing in the transaction can meet SQLITE_BUSY in WAL mode, but
     * should it, the whole transaction is redone while the wait lasts. */
    int64_t started = 0;
    for (;;) {
        int rc = mts_store_begin_write(s, "insert_run", &started);
        if (rc) return rc;
        int64_t id = 0;
        rc = mts_store_insert_backtest(s, row, &id);
        if (!rc && row->interval) rc = set_interval(s, id, row->interval);
        if (!rc) rc = insert_signals(s, signals, n_signals);
        if (!rc) rc = insert_trades(s, id, trades, n_trades);
        if (!rc) rc = insert_equity(s, id, equity_ts, equity, n_equity);
        if (!rc) rc = exec(s, "COMMIT", "insert_run");
        if (!rc) {
            if (id_out) *id_out = id;
            return 0;
        }
        if (!sqlite3_get_autocommit(mts_store_db(s)))
            sqlite3_exec(mts_store_db(s), "ROLLBACK", NULL, NULL, NULL);
        if (rc != MTS_EDBLOCKED || mts_store_now_ms() - started >= mts_store_write_wait(s)) return rc;
    }
}

/* ---- reading back ---- */

static double col_opt(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static char *col_str(sqlite3_stmt *st, int i) {
    const char *t = (const char *)sqlite3_column_text(st, i);
    return mts_strdup(t ? t : "");
}

#define RUN_COLUMNS \
    "id, strategy_name, assets, start_date, end_date," \
    " CASE WHEN json_valid(parameters) AND json_type(parameters, '$.interval') IS NOT NULL" \
    "  THEN json_remove(parameters, '$.interval') ELSE parameters END, created_at, initial_capital," \
    " final_value, total_return, annualized_return, sharpe_ratio, max_drawdown, volatility," \
    " calmar_ratio, win_rate, profit_factor, commission_bps, slippage_bps, trade_count," \
    " CASE WHEN json_valid(parameters) THEN json_extract(parameters, '$.interval') END"

static int read_run_row(mts_store_t *s, sqlite3_stmt *st, mts_stored_run_t *r) {
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->strategy_name = col_str(st, 1);
    r->assets = col_str(st, 2);
    r->start_date = col_str(st, 3);
    r->end_date = col_str(st, 4);
    r->parameters_json = col_str(st, 5);
    r->created_at = col_str(st, 6);
    double *d[] = {&r->initial_capital, &r->final_value, &r->total_return, &r->annualized_return,
                   &r->sharpe_ratio, &r->max_drawdown, &r->volatility, &r->calmar_ratio,
                   &r->win_rate, &r->profit_factor, &r->commission_bps, &r->slippage_bps};
    for (int k = 0; k < 12; k++) *d[k] = col_opt(st, 7 + k);
    r->trade_count = sqlite3_column_int64(st, 19);
    const char *iv = sqlite3_column_type(st, 20) == SQLITE_TEXT ? (const char *)sqlite3_column_text(st, 20) : NULL;
    snprintf(r->interval, sizeof r->interval, "%s", iv && strlen(iv) < sizeof r->interval ? iv : "1d");
    if (!r->strategy_name || !r->assets || !r->start_date || !r->end_date || !r->parameters_json ||
        !r->created_at) {
        mts_stored_run_free(r);
        mts_store_set_error(s, "load_run: out of memory");
        return MTS_ENOMEM;
    }
    return 0;
}

static int load_trades(mts_store_t *s, mts_stored_run_t *r) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT asset, side, qty, entry_ts, entry_price, exit_ts, exit_price, pnl, fees"
                   " FROM backtest_trades WHERE backtest_id = ?1 ORDER BY id", &st, "load_run trades"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, r->id);
    int64_t cap = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n_trades == cap) {
            int64_t nc = cap ? cap * 2 : 64;
            void *p = mts_realloc(r->trades, (size_t)nc * sizeof *r->trades);
            if (!p) {
                mts_store_set_error(s, "load_run: out of memory");
                ret = MTS_ENOMEM;
                break;
            }
            r->trades = p;
            cap = nc;
        }
        mts_stored_trade_t *t = &r->trades[r->n_trades++];
        const char *a = (const char *)sqlite3_column_text(st, 0);
        const char *side = (const char *)sqlite3_column_text(st, 1);
        snprintf(t->asset, sizeof t->asset, "%s", a ? a : "");
        t->side = side && strcmp(side, "short") == 0 ? -1 : 1;
        t->qty = sqlite3_column_double(st, 2);
        t->entry_ts = sqlite3_column_int64(st, 3);
        t->entry_price = sqlite3_column_double(st, 4);
        t->exit_ts = sqlite3_column_int64(st, 5);
        t->exit_price = sqlite3_column_double(st, 6);
        t->pnl = sqlite3_column_double(st, 7);
        t->fees = sqlite3_column_double(st, 8);
    }
    if (!ret && rc != SQLITE_DONE) ret = mts_store_db_error(s, "load_run trades");
    sqlite3_finalize(st);
    return ret;
}

static int load_equity(mts_store_t *s, mts_stored_run_t *r) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT ts, equity FROM backtest_equity WHERE backtest_id = ?1 ORDER BY ts", &st,
                "load_run equity"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, r->id);
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->equity.n == r->equity.cap &&
            mts_series_reserve(&r->equity, r->equity.cap ? r->equity.cap * 2 : 256)) {
            mts_store_set_error(s, "load_run: out of memory");
            ret = MTS_ENOMEM;
            break;
        }
        r->equity.ts[r->equity.n] = sqlite3_column_int64(st, 0);
        r->equity.v[r->equity.n] = sqlite3_column_double(st, 1);
        r->equity.n++;
    }
    if (!ret && rc != SQLITE_DONE) ret = mts_store_db_error(s, "load_run equity");
    sqlite3_finalize(st);
    return ret;
}

int mts_store_load_run(mts_store_t *s, int64_t id, mts_stored_run_t *out) {
    if (!s || !out) {
        if (s) mts_store_set_error(s, "load_run: missing argument");
        return MTS_EINVAL;
    }
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (prepare(s, "SELECT " RUN_COLUMNS " FROM backtest_results WHERE id = ?1", &st, "load_run"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), ret;
    if (rc == SQLITE_ROW) ret = read_run_row(s, st, out);
    else if (rc == SQLITE_DONE) {
        mts_store_set_error(s, "no backtest with id %lld", (long long)id);
        ret = MTS_ENOTFOUND;
    } else ret = mts_store_db_error(s, "load_run");
    sqlite3_finalize(st);
    if (ret) return ret;
    if ((ret = load_trades(s, out)) || (ret = load_equity(s, out))) {
        mts_stored_run_free(out);
        return ret;
    }
    out->has_details = out->equity.n > 0;
    return 0;
}

void mts_stored_run_free(mts_stored_run_t *r) {
    if (!r) return;
    mts_free(r->strategy_name);
    mts_free(r->assets);
    mts_free(r->start_date);
    mts_free(r->end_date);
    mts_free(r->parameters_json);
    mts_free(r->created_at);
    mts_free(r->trades);
    mts_series_free(&r->equity);
    memset(r, 0, sizeof *r);
}

int mts_store_list_runs(mts_store_t *s, int max, mts_stored_run_t **out, int *n) {
    if (!s || !out || !n || max < 0) {
        if (s) mts_store_set_error(s, "list_runs: missing argument");
        return MTS_EINVAL;
    }
    *out = NULL;
    *n = 0;
    if (max == 0) return 0;
    mts_stored_run_t *runs = mts_calloc((size_t)max, sizeof *runs);
    if (!runs) {
        mts_store_set_error(s, "list_runs: out of memory");
        return MTS_ENOMEM;
    }
    sqlite3_stmt *st;
    if (prepare(s, "SELECT " RUN_COLUMNS " FROM backtest_results ORDER BY id DESC LIMIT ?1", &st,
                "list_runs")) {
        mts_free(runs);
        return MTS_EDB;
    }
    sqlite3_bind_int(st, 1, max);
    int rc = SQLITE_DONE, ret = 0, k = 0;
    while (k < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((ret = read_run_row(s, st, &runs[k]))) break;
        k++;
    }
    if (!ret && k < max && rc != SQLITE_DONE) ret = mts_store_db_error(s, "list_runs");
    sqlite3_finalize(st);
    if (ret) {
        for (int i = 0; i < k; i++) mts_stored_run_free(&runs[i]);
        mts_free(runs);
        return ret;
    }
    *out = runs;
    *n = k;
    return 0;
}

/* PLACEHOLDER of the v7 skeleton commit: the runs helper replaces it. */
int mts_store_migrate_v7_curves(mts_store_t *s) { (void)s; return 0; }
