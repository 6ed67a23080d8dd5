/* paper.c — SQL of paper-trading sessions (see paper.h). A session's step
 * statements are prepared once (mts_paper_writer_t) and reused step after
 * step; the other calls are rare and prepare theirs per call. */
#include "store/paper.h"
#include "store/store_internal.h"
#include "market/bar_check.h"

#include "util/log.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A failed statement: MTS_EDBLOCKED when the database was locked by another
 * connection (SQLITE_BUSY / SQLITE_LOCKED: retry later), else MTS_EDB; the
 * message (mts_store_errmsg) has SQLite's text, e.g. "database is locked"
 * (mts_store_db_error decides both). */
static int db_fail(mts_store_t *s, const char *what) { return mts_store_db_error(s, what); }

static void this_host(char *buf, size_t n) {
    if (gethostname(buf, n) != 0) snprintf(buf, n, "?");
    buf[n - 1] = 0;
}

static int prep(mts_store_t *s, sqlite3_stmt **st, const char *sql) {
    if (sqlite3_prepare_v2(mts_store_db(s), sql, -1, st, NULL) != SQLITE_OK)
        return db_fail(s, "paper: prepare");
    return MTS_OK;
}


static void bind_num(sqlite3_stmt *st, int i, double v) {
    if (isfinite(v)) sqlite3_bind_double(st, i, v);
    else sqlite3_bind_null(st, i);
}

int mts_paper_begin(mts_store_t *s, const mts_paper_session_t *in, int64_t *id_out) {
    if (!s || !in || !id_out) return MTS_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, &st,
        "INSERT INTO paper_sessions(started_at, strategies, exchange, symbols, interval,"
        " initial_capital, commission_bps, slippage_bps, status, bars, heartbeat_at, pid, host)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', 0, ?1, ?9, ?10)");
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, in->started_at);
    sqlite3_bind_text(st, 2, in->strategies, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, in->exchange, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, in->symbols, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, in->interval, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 6, in->initial_capital);
    sqlite3_bind_double(st, 7, in->commission_bps);
    sqlite3_bind_double(st, 8, in->slippage_bps);
    char host[256];
    this_host(host, sizeof host);
    sqlite3_bind_int64(st, 9, (int64_t)getpid());
    sqlite3_bind_text(st, 10, host, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(s, "paper: insert session");
    else *id_out = sqlite3_last_insert_rowid(mts_store_db(s));
    sqlite3_finalize(st);
    return rc;
}

enum { W_BEGIN, W_COMMIT, W_ROLLBACK, W_FILL, W_SIGNAL, W_EQUITY, W_BAR, W_SESSION, W_BOOK, W_BOOK_EQ, W_N };

static const char *const W_SQL[W_N] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "INSERT INTO paper_fills(session_id, ts, asset, side, qty, price, fee, realized_pnl, book, strategy, reason,"
    " funding, shadow) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    "INSERT INTO signal_history(asset, signal_type, timestamp, price, strategy_name,"
    " confidence, position_size, stop_loss, take_profit, session_id)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    "INSERT OR REPLACE INTO paper_equity(session_id, ts, equity, cash) VALUES(?1, ?2, ?3, ?4)",
    "INSERT OR REPLACE INTO live_bars(exchange, symbol, interval, open_ms, open, high, low,"
    " close, volume) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    "UPDATE paper_sessions SET bars = ?2, heartbeat_at = ?3,"
    " status = CASE status WHEN 'crashed' THEN 'running' ELSE status END WHERE id = ?1",
    "INSERT OR REPLACE INTO paper_books(session_id, book, strategy, shadow, initial, equity, cash, fees, funding,"
    " fills, trades, updated_ts) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    "INSERT OR REPLACE INTO paper_book_equity(session_id, book, ts, equity) VALUES(?1, ?2, ?3, ?4)",
};

struct mts_paper_writer {
    mts_store_t *s;
    sqlite3_stmt *st[W_N];
};

int mts_paper_writer_new(mts_store_t *s, mts_paper_writer_t **out) {
    if (!s || !out) return MTS_EINVAL;
    *out = NULL;
    mts_paper_writer_t *w = mts_calloc(1, sizeof *w);
    if (!w) return MTS_ENOMEM;
    w->s = s;
    for (int i = 0; i < W_N; i++) {
        int rc = prep(s, &w->st[i], W_SQL[i]);
        if (rc) {
            mts_paper_writer_free(w);
            return rc;
        }
    }
    *out = w;
    return MTS_OK;
}

void mts_paper_writer_free(mts_paper_writer_t *w) {
    if (!w) return;
    for (int i = 0; i < W_N; i++) sqlite3_finalize(w->st[i]);
    mts_free(w);
}

/* Runs a statement to its end and resets it (bindings kept). */
static int run(mts_paper_writer_t *w, int k, const char *what) {
    int r = sqlite3_step(w->st[k]);
    int rc = r == SQLITE_DONE ? MTS_OK : db_fail(w->s, what);
    sqlite3_reset(w->st[k]);
    return rc;
}

int mts_paper_writer_step(mts_paper_writer_t *w, int64_t session, const mts_paper_step_t *p) {
    if (!w || !p) return MTS_EINVAL;
    mts_store_t *s = w->s;
    sqlite3_stmt *f = w->st[W_FILL], *g = w->st[W_SIGNAL], *q = w->st[W_EQUITY], *b = w->st[W_BAR],
                 *u = w->st[W_SESSION], *k = w->st[W_BOOK], *ke = w->st[W_BOOK_EQ];
    if (p->n_books < 0 || p->n_book_eq < 0 || (p->n_books > 0 && !p->books) ||
        (p->n_book_eq > 0 && (!p->book_eq_ts || !p->book_eq_book || !p->book_eq)))
        return MTS_EINVAL;
    for (int i = 0; i < p->n_books; i++)
        if (!p->books[i].strategy) {
            mts_store_set_error(s, "paper: book %d of the step has no strategy name (mts_paper_book_t.strategy)",
                                (int)p->books[i].book);
            return MTS_EINVAL;
        }
    /* IMMEDIATE: the write lock is taken (or refused as busy) here, before any row */
    int rc = run(w, W_BEGIN, "BEGIN IMMEDIATE");
    if (rc) return rc;
    for (int64_t i = 0; i < p->n_fills && !rc; i++) {
        const mts_paper_fill_t *x = &p->fills[i];
        sqlite3_bind_int64(f, 1, session);
        sqlite3_bind_int64(f, 2, x->ts);
        sqlite3_bind_text(f, 3, x->asset, -1, SQLITE_STATIC);
        sqlite3_bind_text(f, 4, x->qty > 0 ? "buy" : "sell", -1, SQLITE_STATIC);
        sqlite3_bind_double(f, 5, fabs(x->qty));
        sqlite3_bind_double(f, 6, x->price);
        sqlite3_bind_double(f, 7, x->fee);
        sqlite3_bind_double(f, 8, x->realized_pnl);
        sqlite3_bind_int(f, 9, x->book);
        if (x->strategy) sqlite3_bind_text(f, 10, x->strategy, -1, SQLITE_STATIC);
        else sqlite3_bind_null(f, 10);
        if (x->reason) sqlite3_bind_text(f, 11, x->reason, -1, SQLITE_STATIC);
        else sqlite3_bind_null(f, 11);
        sqlite3_bind_double(f, 12, isnan(x->funding) ? 0 : x->funding);
        sqlite3_bind_int(f, 13, x->shadow ? 1 : 0);
        rc = run(w, W_FILL, "paper: insert fill");
    }
    for (int64_t i = 0; i < p->n_signals && !rc; i++) {
        const mts_signal_row_t *x = &p->signals[i];
        sqlite3_bind_text(g, 1, x->asset, -1, SQLITE_STATIC);
        sqlite3_bind_text(g, 2, x->signal_type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(g, 3, x->ts);
        sqlite3_bind_double(g, 4, isfinite(x->price) ? x->price : 0);
        sqlite3_bind_text(g, 5, x->strategy_name, -1, SQLITE_STATIC);
        sqlite3_bind_double(g, 6, isfinite(x->confidence) ? x->confidence : 1);
        bind_num(g, 7, x->position_size);
        bind_num(g, 8, x->stop_loss);
        bind_num(g, 9, x->take_profit);
        sqlite3_bind_int64(g, 10, session);
        rc = run(w, W_SIGNAL, "paper: insert signal");
    }
    for (int64_t i = 0; i < p->n_equity && !rc; i++) {
        sqlite3_bind_int64(q, 1, session);
        sqlite3_bind_int64(q, 2, p->equity_ts[i]);
        sqlite3_bind_double(q, 3, p->equity[i]);
        sqlite3_bind_double(q, 4, p->cash[i]);
        rc = run(w, W_EQUITY, "paper: insert equity");
    }
    for (int64_t i = 0; i < p->n_bars && !rc; i++) {
        const mts_live_bar_t *x = &p->bars[i];
        sqlite3_bind_text(b, 1, x->exchange, -1, SQLITE_STATIC);
        sqlite3_bind_text(b, 2, x->symbol, -1, SQLITE_STATIC);
        sqlite3_bind_text(b, 3, x->interval, -1, SQLITE_STATIC);
        sqlite3_bind_int64(b, 4, x->open_ms);
        sqlite3_bind_double(b, 5, x->open);
        sqlite3_bind_double(b, 6, x->high);
        sqlite3_bind_double(b, 7, x->low);
        sqlite3_bind_double(b, 8, x->close);
        sqlite3_bind_double(b, 9, x->volume);
        rc = run(w, W_BAR, "paper: insert live bar");
    }
    for (int j = 0; j < p->n_series && !rc; j++)   /* joins this transaction (store.h) */
        if (p->series[j].bars.n > 0)
            rc = mts_store_upsert_ohlcv(s, p->series[j].asset, p->series[j].interval, &p->series[j].bars);
    for (int i = 0; i < p->n_books && !rc; i++) {
        const mts_paper_book_t *x = &p->books[i];
        sqlite3_bind_int64(k, 1, session);
        sqlite3_bind_int(k, 2, x->book);
        sqlite3_bind_text(k, 3, x->strategy, -1, SQLITE_STATIC);
        sqlite3_bind_int(k, 4, x->shadow ? 1 : 0);
        /* NOT NULL columns: a non-finite number (never expected) stores 0 */
        sqlite3_bind_double(k, 5, isfinite(x->initial) ? x->initial : 0);
        sqlite3_bind_double(k, 6, isfinite(x->equity) ? x->equity : 0);
        sqlite3_bind_double(k, 7, isfinite(x->cash) ? x->cash : 0);
        sqlite3_bind_double(k, 8, isfinite(x->fees) ? x->fees : 0);
        sqlite3_bind_double(k, 9, isfinite(x->funding) ? x->funding : 0);
        sqlite3_bind_int64(k, 10, x->fills);
        sqlite3_bind_int64(k, 11, x->trades);
        sqlite3_bind_int64(k, 12, p->books_ts);
        rc = run(w, W_BOOK, "paper: upsert book");
    }
    for (int64_t i = 0; i < p->n_book_eq && !rc; i++) {
        sqlite3_bind_int64(ke, 1, session);
        sqlite3_bind_int(ke, 2, p->book_eq_book[i]);
        sqlite3_bind_int64(ke, 3, p->book_eq_ts[i]);
        sqlite3_bind_double(ke, 4, isfinite(p->book_eq[i]) ? p->book_eq[i] : 0);
        rc = run(w, W_BOOK_EQ, "paper: upsert book equity");
    }
    if (!rc && p->extra) rc = p->extra(s, p->extra_ud);
    if (!rc) {
        sqlite3_bind_int64(u, 1, session);
        sqlite3_bind_int64(u, 2, p->total_bars);
        sqlite3_bind_int64(u, 3, (int64_t)time(NULL));
        rc = run(w, W_SESSION, "paper: update session");
    }
    /* the texts were bound SQLITE_STATIC: no statement keeps the caller's pointers */
    for (int j = W_FILL; j < W_N; j++) sqlite3_clear_bindings(w->st[j]);
    if (!rc) rc = run(w, W_COMMIT, "COMMIT");
    /* a failed COMMIT (busy) leaves the transaction open: end it, nothing was stored */
    if (rc && !sqlite3_get_autocommit(mts_store_db(s))) {
        char keep[512];
        snprintf(keep, sizeof keep, "%s", mts_store_errmsg(s));
        sqlite3_step(w->st[W_ROLLBACK]);
        sqlite3_reset(w->st[W_ROLLBACK]);
        mts_store_set_error(s, "%s", keep);
    }
    return rc;
}

int mts_paper_write_step(mts_store_t *s, int64_t session, const mts_paper_step_t *p) {
    if (!s || !p) return MTS_EINVAL;
    mts_paper_writer_t *w = NULL;
    int rc = mts_paper_writer_new(s, &w);
    if (!rc) rc = mts_paper_writer_step(w, session, p);
    mts_paper_writer_free(w);
    return rc;
}

int mts_paper_set_control(mts_store_t *s, int64_t session, const char *socket_path) {
    if (!s) return MTS_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, &st, "UPDATE paper_sessions SET control_socket = ?2 WHERE id = ?1");
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, session);
    if (socket_path) sqlite3_bind_text(st, 2, socket_path, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, 2);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(s, "paper: set control socket");
    else if (sqlite3_changes(mts_store_db(s)) == 0) {
        mts_store_set_error(s, "paper: no session %lld (paper_sessions)", (long long)session);
        rc = MTS_ENOTFOUND;
    }
    sqlite3_finalize(st);
    return rc;
}

int mts_paper_get_control(mts_store_t *s, int64_t session, char *status, size_t slen, char *path, size_t plen) {
    if (!s || (status && slen == 0) || (path && plen == 0)) return MTS_EINVAL;
    if (status) status[0] = 0;
    if (path) path[0] = 0;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, &st, "SELECT status, control_socket FROM paper_sessions WHERE id = ?1");
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, session);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(st, 0), *b = (const char *)sqlite3_column_text(st, 1);
        if (status) snprintf(status, slen, "%s", a ? a : "");
        if (path) snprintf(path, plen, "%s", b ? b : "");
    } else if (r == SQLITE_DONE) {
        mts_store_set_error(s, "paper: no session %lld (paper_sessions); list them with GET /paper/sessions",
                            (long long)session);
        rc = MTS_ENOTFOUND;
    } else {
        rc = db_fail(s, "paper: get control socket");
    }
    sqlite3_finalize(st);
    return rc;
}

int mts_paper_heartbeat(mts_store_t *s, int64_t session, int64_t now) {
    if (!s) return MTS_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, &st, "UPDATE paper_sessions SET heartbeat_at = ?2,"
                          " status = CASE status WHEN 'crashed' THEN 'running' ELSE status END WHERE id = ?1");
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, session);
    sqlite3_bind_int64(st, 2, now);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(s, "paper: heartbeat");
    sqlite3_finalize(st);
    return rc;
}

/* When process pid started (unix s, from /proc: boot time + its start in
 * clock ticks), or -1 when unknown (no /proc, gone). */
static int64_t proc_started(int64_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');      /* the command name may hold spaces and parentheses */
    if (!p) return -1;
    /* after ") ": field 3 (state) ... field 22 (starttime) is the 20th */
    long long ticks = -1;
    int field = 2;
    char *save = NULL;                /* strtok_r: /health calls this from a server thread */
    for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        if (++field == 22) { ticks = strtoll(tok, NULL, 10); break; }
    long hz = sysconf(_SC_CLK_TCK);
    if (ticks < 0 || hz <= 0) return -1;
    f = fopen("/proc/stat", "r");
    if (!f) return -1;
    long long btime = -1;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "btime ", 6)) { btime = strtoll(line + 6, NULL, 10); break; }
    fclose(f);
    return btime < 0 ? -1 : btime + ticks / hz;
}

/* "1m" "4h" "1d" "1w" -> seconds; 0 when unknown */
static int64_t interval_s(const char *iv) {
    if (!iv) return 0;
    char *end;
    long long n = strtoll(iv, &end, 10);
    if (end == iv || n <= 0 || n > 1000 || end[0] == 0 || end[1] != 0) return 0;
    switch (end[0]) {
    case 'm': return n * 60;
    case 'h': return n * 3600;
    case 'd': return n * 86400;
    case 'w': return n * 604800;
    }
    return 0;
}

int64_t mts_paper_stale_after(const char *interval) {
    int64_t iv = interval_s(interval);
    return 3 * iv > MTS_PAPER_STALE_MIN_S ? 3 * iv : MTS_PAPER_STALE_MIN_S;
}

int mts_paper_recover_stale(mts_store_t *s, int64_t now, int64_t *n_out) {
    if (n_out) *n_out = 0;
    if (!s) return MTS_EINVAL;
    char host[256];
    this_host(host, sizeof host);
    /* read first (never blocks in WAL mode); write only when something is stale */
    sqlite3_stmt *st = NULL;
    int rc = prep(s, &st, "SELECT id, interval, COALESCE(heartbeat_at, started_at), pid, host, started_at"
                          " FROM paper_sessions WHERE status = 'running' ORDER BY id");
    if (rc) return rc;
    int64_t ids[256], last[256];
    int n = 0, r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW && n < 256) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *iv = (const char *)sqlite3_column_text(st, 1);
        int64_t hb = sqlite3_column_int64(st, 2);
        int64_t pid = sqlite3_column_type(st, 3) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 3);
        const char *h = (const char *)sqlite3_column_text(st, 4);
        int64_t started = sqlite3_column_int64(st, 5);
        int dead;
        const char *why = "heartbeat stale";
        if (h && !strcmp(h, host) && pid > 0 && pid <= INT32_MAX) {
            /* this host: the process decides, whatever the heartbeat says (a live
             * session blocked on a busy database is never marked). The pid is
             * another process's when it is ours (the caller owns no running
             * session) or started after the session did (reused: a restarted
             * container's pid 1, a reboot). */
            int64_t ps = -1;
            if (pid == (int64_t)getpid()) dead = 1;
            else if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) dead = 1;
            else dead = (ps = proc_started(pid)) >= 0 && ps > started + 2;
            why = pid == (int64_t)getpid() || ps >= 0 ? "pid reused" : "process gone";
        } else {
            dead = now - hb > mts_paper_stale_after(iv);
        }
        if (dead) {
            mts_log(MTS_LOG_WARN, "paper.session_crashed",
                    "\"session\":%lld,\"pid\":%lld,\"host\":\"%s\",\"heartbeat_at\":%lld,\"reason\":\"%s\"",
                    (long long)id, (long long)pid, h ? h : "", (long long)hb, why);
            ids[n] = id;
            last[n] = hb;
            n++;
        }
    }
    if (r != SQLITE_DONE && r != SQLITE_ROW) rc = db_fail(s, "paper: running sessions");
    sqlite3_finalize(st);
    if (rc || n == 0) return rc;
    if ((rc = prep(s, &st, "UPDATE paper_sessions SET status = 'crashed', stopped_at = ?2"
                           " WHERE id = ?1 AND status = 'running'")))
        return rc;
    int64_t done = 0;
    for (int i = 0; i < n && !rc; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, ids[i]);
        sqlite3_bind_int64(st, 2, last[i]);
        if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(s, "paper: mark crashed");
        else done += sqlite3_changes(mts_store_db(s));
    }
    sqlite3_finalize(st);
    if (n_out) *n_out = done;
    return rc;
}

int mts_paper_end(mts_store_t *s, int64_t session, const char *status, int64_t stopped_at, int64_t bars,
                  double final_equity, const char *parameters_json) {
    if (!s || !status) return MTS_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, &st, "UPDATE paper_sessions SET status = ?2, stopped_at = ?3, bars = ?4,"
                          " final_equity = ?5, parameters = COALESCE(?6, parameters) WHERE id = ?1");
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, session);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, stopped_at);
    sqlite3_bind_int64(st, 4, bars);
    bind_num(st, 5, final_equity);
    if (parameters_json) sqlite3_bind_text(st, 6, parameters_json, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, 6);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(s, "paper: end session");
    sqlite3_finalize(st);
    return rc;
}

int mts_paper_load_live_bars(mts_store_t *s, const char *exchange, const char *symbol, const char *interval,
                             int64_t before_ms, int limit, mts_bars_t *out) {
    if (!s || !exchange || !symbol || !interval || !out || limit < 0) return MTS_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, &st, "SELECT open_ms, open, high, low, close, volume FROM ("
                          " SELECT * FROM live_bars WHERE exchange = ?1 AND symbol = ?2 AND interval = ?3"
                          " AND open_ms < ?4 ORDER BY open_ms DESC LIMIT ?5) ORDER BY open_ms");
    if (rc) return rc;
    sqlite3_bind_text(st, 1, exchange, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, symbol, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, interval, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, before_ms);
    sqlite3_bind_int(st, 5, limit);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t ts = sqlite3_column_int64(st, 0) / 1000;
        if (out->n > 0 && ts <= out->ts[out->n - 1]) continue;
        double v[5];
        for (int k = 0; k < 5; k++) v[k] = sqlite3_column_double(st, 1 + k);
        if (mts_bar_check(ts, v, NULL) != MTS_BAR_OK) continue;   /* a bad row stored by an older version */
        if (out->n == out->cap) { rc = MTS_ERANGE; break; }
        int64_t i = out->n++;
        out->ts[i] = ts;
        out->open[i] = sqlite3_column_double(st, 1);
        out->high[i] = sqlite3_column_double(st, 2);
        out->low[i] = sqlite3_column_double(st, 3);
        out->close[i] = sqlite3_column_double(st, 4);
        out->volume[i] = sqlite3_column_double(st, 5);
    }
    if (!rc && r != SQLITE_DONE) rc = mts_store_db_error(s, "paper: load live bars");
    sqlite3_finalize(st);
    return rc;
}
