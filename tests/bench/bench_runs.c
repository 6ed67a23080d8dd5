/* bench_runs.c — storing and loading a backtest run (store/results.c), with
 * the layout before schema v7 measured in the same process as the baseline.
 *
 * Equity: a 1,000,000-point curve, one a minute with a few gaps (so the times
 * are LEB128 deltas, not REGULAR), stored 5 times:
 *   new       mts_store_insert_run: the run row and ONE backtest_curves blob
 *   baseline  BEGIN IMMEDIATE, the run row, the points into the v6 table
 *             backtest_equity (made here by raw SQL, as migration 3 made it)
 *             128 points per INSERT, as results.c did before v7, COMMIT
 * each in a database of its own. Figures: the median CPU time of the 5 stores
 * (CLOCK_PROCESS_CPUTIME_ID: the machine is shared and noisy), the bytes a run
 * adds to the database file (file + WAL after a TRUNCATE checkpoint, averaged
 * over the 5 runs), and the median time to read a run's curve back
 * (mts_store_load_run vs SELECT ts, equity ... ORDER BY ts).
 *
 * Signals and trades: 40,000 signals and 20,000 trades (a 1 M-bar sma_cross
 * run on a random walk has ~38 k and ~19 k), no curve: mts_store_insert_run
 * (signals as one backtest_signals blob, trades 64 rows per INSERT) vs one
 * prepared single-row INSERT stepped per row into signal_history and
 * backtest_trades inside one transaction (the code before v7).
 *
 * The 5th run (what a user iterating on one database does): a database of
 * its own already holds 4 runs of the same 40,000 signals (same strategy,
 * asset and times), is closed and opened again (a new process: SQLite's page
 * cache cold, the OS's warm), then the 5th run's signals are stored, timed:
 *   new       mts_store_insert_run with the signals only (one backtest_signals row)
 *   baseline  the signals into signal_history, 64 rows per INSERT, the run
 *             row first, in one BEGIN IMMEDIATE transaction: results.c before
 *             the signals moved to backtest_signals; each run's rows land in
 *             the middle of the index (strategy_name, asset, timestamp)
 *             among the earlier runs' rows
 * median of 5 (a fresh database each), and the bytes a run's signals add to
 * the file (averaged over the 5 runs of one database). */
#include "mts.h"
#include "store/store.h"
#include "store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define N_EQ 1000000
#define REPS 5
#define N_SIG 40000
#define N_TR 20000

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

static void die(const char *what, mts_store_t *s) {
    fprintf(stderr, "bench_runs: %s: %s\n", what, s ? mts_store_errmsg(s) : mts_store_errmsg(NULL));
    exit(1);
}

static void db_exec(mts_store_t *s, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(mts_store_db(s), sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "bench_runs: %s: %s\n", sql, err);
        exit(1);
    }
}

static long long file_bytes(const char *path) {
    struct stat st;
    char wal[200];
    long long n = stat(path, &st) == 0 ? (long long)st.st_size : 0;
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (stat(wal, &st) == 0) n += (long long)st.st_size;
    return n;
}

/* Bytes in the file once the WAL is checkpointed into it. */
static long long settled_bytes(mts_store_t *s, const char *path) {
    db_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)");
    return file_bytes(path);
}

static mts_store_t *open_tmp(char *path, size_t len, const char *tag) {
    snprintf(path, len, "/tmp/mts-bench-runs-%s-XXXXXX", tag);
    int fd = mkstemp(path);
    if (fd < 0) { perror("mkstemp"); exit(1); }
    close(fd);
    mts_store_t *s = NULL;
    if (mts_store_open(path, &s)) die("open", NULL);
    return s;
}

static void remove_db(mts_store_t *s, const char *path) {
    mts_store_close(s);
    char aux[220];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path); unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path); unlink(aux);
}

static const mts_backtest_row_t ROW = {
    .strategy_name = "sma_cross", .assets = "benchcoin", .start_date = "2020-01-01T00:00:00Z",
    .end_date = "2021-11-26T00:00:00Z", .initial_capital = 10000, .final_value = 10500, .total_return = 0.05,
    .sharpe_ratio = 1.1, .max_drawdown = 0.2, .volatility = 0.3, .calmar_ratio = NAN, .win_rate = 0.5,
    .profit_factor = 1.2, .trade_count = 0};

/* ---- the layout before v7 (results.c at schema v6), for the baseline ---- */

static int64_t old_insert_row(mts_store_t *s) {
    int64_t id = 0;
    if (mts_store_insert_backtest(s, &ROW, &id)) die("insert_backtest", s);
    return id;
}

static void old_store_equity(mts_store_t *s, const int64_t *ts, const double *v, int64_t n) {
    enum { CHUNK = 128 };
    char sql[64 + CHUNK * 24];
    size_t len = (size_t)snprintf(sql, sizeof sql, "INSERT INTO backtest_equity(backtest_id, ts, equity) VALUES");
    for (int k = 0; k < CHUNK; k++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s(?1,?%d,?%d)", k ? "," : "", 2 * k + 2, 2 * k + 3);
    sqlite3 *db = mts_store_db(s);
    sqlite3_stmt *chunk, *one;
    db_exec(s, "BEGIN IMMEDIATE");
    int64_t id = old_insert_row(s);
    if (sqlite3_prepare_v2(db, sql, -1, &chunk, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO backtest_equity(backtest_id, ts, equity) VALUES(?1, ?2, ?3)", -1,
                           &one, NULL))
        die("prepare", s);
    int64_t i = 0;
    sqlite3_bind_int64(chunk, 1, id);
    for (; i + CHUNK <= n; i += CHUNK) {
        for (int k = 0; k < CHUNK; k++) {
            sqlite3_bind_int64(chunk, 2 * k + 2, ts[i + k]);
            sqlite3_bind_double(chunk, 2 * k + 3, v[i + k]);
        }
        if (sqlite3_step(chunk) != SQLITE_DONE) die("old equity", s);
        sqlite3_reset(chunk);
    }
    sqlite3_bind_int64(one, 1, id);
    for (; i < n; i++) {
        sqlite3_bind_int64(one, 2, ts[i]);
        sqlite3_bind_double(one, 3, v[i]);
        if (sqlite3_step(one) != SQLITE_DONE) die("old equity", s);
        sqlite3_reset(one);
    }
    sqlite3_finalize(chunk);
    sqlite3_finalize(one);
    db_exec(s, "COMMIT");
}

static int64_t old_load_equity(mts_store_t *s, int64_t id, int64_t *ts, double *v) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(mts_store_db(s), "SELECT ts, equity FROM backtest_equity WHERE backtest_id = ?1 ORDER BY ts",
                           -1, &st, NULL))
        die("prepare", s);
    sqlite3_bind_int64(st, 1, id);
    int64_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        ts[n] = sqlite3_column_int64(st, 0);
        v[n] = sqlite3_column_double(st, 1);
        n++;
    }
    sqlite3_finalize(st);
    return n;
}

static void old_store_signals_trades(mts_store_t *s, const mts_signal_row_t *sig, int64_t ns,
                                     const mts_trade_row_t *tr, int64_t nt) {
    sqlite3 *db = mts_store_db(s);
    sqlite3_stmt *a, *b;
    db_exec(s, "BEGIN IMMEDIATE");
    int64_t id = old_insert_row(s);
    if (sqlite3_prepare_v2(db, "INSERT INTO signal_history(asset, signal_type, timestamp, price, strategy_name,"
                               " confidence, position_size, stop_loss, take_profit)"
                               " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", -1, &a, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO backtest_trades(backtest_id, asset, side, qty, entry_ts, entry_price,"
                               " exit_ts, exit_price, pnl, fees) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                           -1, &b, NULL))
        die("prepare", s);
    for (int64_t i = 0; i < ns; i++) {
        const mts_signal_row_t *r = &sig[i];
        sqlite3_bind_text(a, 1, r->asset, -1, SQLITE_STATIC);
        sqlite3_bind_text(a, 2, r->signal_type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(a, 3, r->ts);
        sqlite3_bind_double(a, 4, r->price);
        sqlite3_bind_text(a, 5, r->strategy_name, -1, SQLITE_STATIC);
        sqlite3_bind_double(a, 6, r->confidence);
        if (isfinite(r->position_size)) sqlite3_bind_double(a, 7, r->position_size);
        else sqlite3_bind_null(a, 7);
        sqlite3_bind_null(a, 8);
        sqlite3_bind_null(a, 9);
        if (sqlite3_step(a) != SQLITE_DONE) die("old signals", s);
        sqlite3_reset(a);
    }
    for (int64_t i = 0; i < nt; i++) {
        sqlite3_bind_int64(b, 1, id);
        sqlite3_bind_text(b, 2, tr[i].asset, -1, SQLITE_STATIC);
        sqlite3_bind_text(b, 3, tr[i].side < 0 ? "short" : "long", -1, SQLITE_STATIC);
        sqlite3_bind_double(b, 4, tr[i].qty);
        sqlite3_bind_int64(b, 5, tr[i].entry_ts);
        sqlite3_bind_double(b, 6, tr[i].entry_price);
        sqlite3_bind_int64(b, 7, tr[i].exit_ts);
        sqlite3_bind_double(b, 8, tr[i].exit_price);
        sqlite3_bind_double(b, 9, tr[i].pnl);
        sqlite3_bind_double(b, 10, tr[i].fees);
        if (sqlite3_step(b) != SQLITE_DONE) die("old trades", s);
        sqlite3_reset(b);
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    db_exec(s, "COMMIT");
}

/* signal_history, 64 rows per multi-row INSERT, as results.c stored a run's
 * signals before they moved to backtest_signals. */
static void old_store_signals_multirow(mts_store_t *s, const mts_signal_row_t *sig, int64_t ns) {
    enum { CHUNK = 64 };
    static char sql[256 + CHUNK * 64];
    size_t len = (size_t)snprintf(sql, sizeof sql, "INSERT INTO signal_history(asset, signal_type, timestamp, price,"
                                                   " strategy_name, confidence, position_size, stop_loss, take_profit) VALUES");
    for (int r = 0; r < CHUNK; r++) {
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s(", r ? "," : "");
        for (int c = 0; c < 9; c++) len += (size_t)snprintf(sql + len, sizeof sql - len, "%s?%d", c ? "," : "", r * 9 + c + 1);
        len += (size_t)snprintf(sql + len, sizeof sql - len, ")");
    }
    sqlite3 *db = mts_store_db(s);
    sqlite3_stmt *chunk, *one;
    db_exec(s, "BEGIN IMMEDIATE");
    old_insert_row(s);
    if (sqlite3_prepare_v2(db, sql, -1, &chunk, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO signal_history(asset, signal_type, timestamp, price, strategy_name,"
                               " confidence, position_size, stop_loss, take_profit) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                           -1, &one, NULL))
        die("prepare", s);
    int64_t i = 0;
    for (; i < ns; ) {
        int m = ns - i >= CHUNK ? CHUNK : 1;
        sqlite3_stmt *st = m == CHUNK ? chunk : one;
        for (int r = 0; r < m; r++, i++) {
            const mts_signal_row_t *x = &sig[i];
            int p = r * 9 + 1;
            sqlite3_bind_text(st, p, x->asset, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, p + 1, x->signal_type, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, p + 2, x->ts);
            sqlite3_bind_double(st, p + 3, x->price);
            sqlite3_bind_text(st, p + 4, x->strategy_name, -1, SQLITE_STATIC);
            sqlite3_bind_double(st, p + 5, x->confidence);
            if (isfinite(x->position_size)) sqlite3_bind_double(st, p + 6, x->position_size);
            else sqlite3_bind_null(st, p + 6);
            sqlite3_bind_null(st, p + 7);
            sqlite3_bind_null(st, p + 8);
        }
        if (sqlite3_step(st) != SQLITE_DONE) die("old signals", s);
        sqlite3_reset(st);
    }
    sqlite3_finalize(chunk);
    sqlite3_finalize(one);
    db_exec(s, "COMMIT");
}

/* 4 runs of sig into a fresh database, closed and opened again, then the 5th
 * timed; *mb = the bytes a run adds, averaged over the 5. */
static double fifth_run(int old, const mts_signal_row_t *sig, int64_t ns, double *mb) {
    char path[128];
    mts_store_t *s = open_tmp(path, sizeof path, old ? "5old" : "5new");
    long long b0 = settled_bytes(s, path);
    for (int r = 0; r < 4; r++) {
        if (old) old_store_signals_multirow(s, sig, ns);
        else if (mts_store_insert_run(s, &ROW, sig, ns, NULL, 0, NULL, NULL, 0, NULL, 0, NULL)) die("insert_run", s);
    }
    mts_store_close(s);
    s = NULL;
    if (mts_store_open(path, &s)) die("open", NULL);
    double t0 = cpu_ms();
    if (old) old_store_signals_multirow(s, sig, ns);
    else if (mts_store_insert_run(s, &ROW, sig, ns, NULL, 0, NULL, NULL, 0, NULL, 0, NULL)) die("insert_run", s);
    double t = cpu_ms() - t0;
    *mb = (double)(settled_bytes(s, path) - b0) / 5 / 1e6;
    remove_db(s, path);
    return t;
}

int main(void) {
    /* the curve: a minute apart, a gap of 1 h 59 min every 100,000 points */
    int64_t *ts = malloc(N_EQ * sizeof *ts), *ts2 = malloc(N_EQ * sizeof *ts2);
    double *v = malloc(N_EQ * sizeof *v), *v2 = malloc(N_EQ * sizeof *v2);
    if (!ts || !ts2 || !v || !v2) return 1;
    uint64_t rng = 88172645463325252ULL;
    double eq = 10000;
    for (int64_t i = 0; i < N_EQ; i++) {
        ts[i] = 1577836800 + i * 60 + (i / 100000) * 7140;
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        eq *= 1.0 + ((double)(rng >> 11) / 9007199254740992.0 - 0.5) * 1e-3;
        v[i] = eq;
    }
    double t_new[REPS], t_old[REPS], l_new[REPS], l_old[REPS];
    char p_new[128], p_old[128];

    /* new layout */
    mts_store_t *s = open_tmp(p_new, sizeof p_new, "new");
    long long b0 = settled_bytes(s, p_new);
    int64_t ids[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = cpu_ms();
        if (mts_store_insert_run(s, &ROW, NULL, 0, NULL, 0, ts, v, N_EQ, NULL, 0, &ids[r])) die("insert_run", s);
        t_new[r] = cpu_ms() - t0;
    }
    double mb_new = (double)(settled_bytes(s, p_new) - b0) / REPS / 1e6;
    for (int r = 0; r < REPS; r++) {
        mts_stored_run_t got;
        double t0 = cpu_ms();
        if (mts_store_load_run(s, ids[r], &got)) die("load_run", s);
        l_new[r] = cpu_ms() - t0;
        if (got.equity.n != N_EQ || memcmp(got.equity.ts, ts, N_EQ * sizeof *ts) ||
            memcmp(got.equity.v, v, N_EQ * sizeof *v)) {
            fprintf(stderr, "bench_runs: the curve read back differs\n");
            return 1;
        }
        mts_stored_run_free(&got);
    }

    /* baseline: the v6 row table, in a database of its own */
    mts_store_t *o = open_tmp(p_old, sizeof p_old, "old");
    db_exec(o, "CREATE TABLE backtest_equity ("
               "  backtest_id INTEGER NOT NULL REFERENCES backtest_results(id) ON DELETE CASCADE,"
               "  ts INTEGER NOT NULL, equity REAL NOT NULL,"
               "  PRIMARY KEY(backtest_id, ts)) WITHOUT ROWID");
    long long o0 = settled_bytes(o, p_old);
    for (int r = 0; r < REPS; r++) {
        double t0 = cpu_ms();
        old_store_equity(o, ts, v, N_EQ);
        t_old[r] = cpu_ms() - t0;
    }
    double mb_old = (double)(settled_bytes(o, p_old) - o0) / REPS / 1e6;
    for (int r = 0; r < REPS; r++) {
        double t0 = cpu_ms();
        int64_t n = old_load_equity(o, r + 1, ts2, v2);
        l_old[r] = cpu_ms() - t0;
        if (n != N_EQ) { fprintf(stderr, "bench_runs: baseline read %lld points\n", (long long)n); return 1; }
    }

    printf("bench run_store_equity_1m_ms %.1f ms\n", median(t_new, REPS));
    printf("bench run_store_equity_1m_ms_rowtable_baseline %.1f ms\n", median(t_old, REPS));
    printf("bench run_store_equity_1m_mb %.2f MB\n", mb_new);
    printf("bench run_store_equity_1m_mb_rowtable_baseline %.2f MB\n", mb_old);
    printf("bench run_load_equity_1m_ms %.1f ms\n", median(l_new, REPS));
    printf("bench run_load_equity_1m_ms_rowtable_baseline %.1f ms\n", median(l_old, REPS));
    fflush(stdout);

    /* signals and trades */
    mts_signal_row_t *sig = calloc(N_SIG, sizeof *sig);
    mts_trade_row_t *tr = calloc(N_TR, sizeof *tr);
    if (!sig || !tr) return 1;
    for (int64_t i = 0; i < N_SIG; i++)
        sig[i] = (mts_signal_row_t){"benchcoin", "sma_cross", i % 2 ? "CLOSE" : "LONG", ts[i * 25], v[i * 25], 1.0,
                                    i % 2 ? NAN : 1.0, NAN, NAN};
    for (int64_t i = 0; i < N_TR; i++)
        tr[i] = (mts_trade_row_t){"benchcoin", 1, 0.5 + (double)(i % 10), ts[i * 50], v[i * 50], ts[i * 50 + 25],
                                  v[i * 50 + 25], v[i * 50 + 25] - v[i * 50], 0.1, NULL, NULL, NULL, 0, 0, 0, 0};
    double st_new[REPS], st_old[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = cpu_ms();
        if (mts_store_insert_run(s, &ROW, sig, N_SIG, tr, N_TR, NULL, NULL, 0, NULL, 0, NULL)) die("insert_run", s);
        st_new[r] = cpu_ms() - t0;
        t0 = cpu_ms();
        old_store_signals_trades(o, sig, N_SIG, tr, N_TR);
        st_old[r] = cpu_ms() - t0;
    }
    printf("bench run_store_signals_trades_40k_20k_ms %.1f ms\n", median(st_new, REPS));
    printf("bench run_store_signals_trades_40k_20k_ms_rowinsert_baseline %.1f ms\n", median(st_old, REPS));
    fflush(stdout);

    double f_new[REPS], f_old[REPS], mb5_new = 0, mb5_old = 0;
    for (int r = 0; r < REPS; r++) {
        f_old[r] = fifth_run(1, sig, N_SIG, &mb5_old);
        f_new[r] = fifth_run(0, sig, N_SIG, &mb5_new);
    }
    printf("bench run_store_5th_signals_40k_ms %.1f ms\n", median(f_new, REPS));
    printf("bench run_store_5th_signals_40k_ms_signal_history_baseline %.1f ms\n", median(f_old, REPS));
    printf("bench run_signals_40k_mb %.2f MB\n", mb5_new);
    printf("bench run_signals_40k_mb_signal_history_baseline %.2f MB\n", mb5_old);

    remove_db(s, p_new);
    remove_db(o, p_old);
    free(ts); free(ts2); free(v); free(v2); free(sig); free(tr);
    return 0;
}
