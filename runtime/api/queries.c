/* queries.c — read-only SQL of the API server (see queries.h). Statements are
 * prepared per call: these are request-rate, not bar-rate, paths. */
#include "api/queries.h"
#include "store/store_internal.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <math.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int prepare(mts_store_t *s, const char *sql, sqlite3_stmt **st, const char *what) {
    if (sqlite3_prepare_v2(mts_store_db(s), sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return mts_store_db_error(s, what);
    }
    return 0;
}

int mts_apiq_ping(mts_store_t *s, double *ms) {
    double t0 = now_ms();
    sqlite3_stmt *st;
    if (prepare(s, "SELECT COUNT(*) FROM sqlite_master", &st, "ping")) return MTS_EDB;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return mts_store_db_error(s, "ping");
    if (ms) *ms = now_ms() - t0;
    return 0;
}

static void jstr(FILE *out, const char *k, const char *v) {
    fprintf(out, "\"%s\":", k);
    if (!v) { fputs("null", out); return; }
    fputc('"', out);
    mts_json_escape(out, v);
    fputc('"', out);
}

static void jnum(FILE *out, const char *k, double v) {
    fprintf(out, "\"%s\":", k);
    mts_json_number(out, v);
}

/* column as double, NULL -> NaN (written as null) */
static double col(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static void jtime(FILE *out, int64_t ts) {
    char iso[32];
    mts_time_format_iso(ts, iso);
    fprintf(out, "\"ts\":%lld,\"time\":\"%s\"", (long long)ts, iso);
}

/* One result row as a JSON object, column i by cols[i]: 'i' integer, 's' text
 * (NULL -> null), 'n' number (NULL -> null), 'b' boolean (0 -> false, else
 * true), 't' unix seconds as "ts" and "time" (the name is not used). */
typedef struct qcol { const char *name; char kind; } qcol_t;

static void row_json(FILE *out, sqlite3_stmt *st, const qcol_t *cols, int n) {
    fputc('{', out);
    for (int i = 0; i < n; i++) {
        if (i) fputc(',', out);
        switch (cols[i].kind) {
        case 'i': fprintf(out, "\"%s\":%lld", cols[i].name, (long long)sqlite3_column_int64(st, i)); break;
        case 's': jstr(out, cols[i].name, (const char *)sqlite3_column_text(st, i)); break;
        case 'b': fprintf(out, "\"%s\":%s", cols[i].name, sqlite3_column_int64(st, i) ? "true" : "false"); break;
        case 't': jtime(out, sqlite3_column_int64(st, i)); break;
        default: jnum(out, cols[i].name, col(st, i)); break;
        }
    }
    fputc('}', out);
}

int mts_apiq_signals(mts_store_t *s, const mts_apiq_signal_filter_t *f, FILE *out) {
    sqlite3_stmt *st;
    if (prepare(s,
                "SELECT id, strategy_name, asset, signal_type, timestamp, price, confidence,"
                " position_size, stop_loss, take_profit FROM signal_history"
                " WHERE (?1 IS NULL OR strategy_name = ?1) AND (?2 IS NULL OR asset = ?2)"
                " AND timestamp >= ?3 ORDER BY timestamp DESC, id DESC LIMIT ?4",
                &st, "signals"))
        return MTS_EDB;
    if (f->strategy) sqlite3_bind_text(st, 1, f->strategy, -1, SQLITE_TRANSIENT);
    if (f->asset) sqlite3_bind_text(st, 2, f->asset, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, f->since);
    sqlite3_bind_int(st, 4, f->limit);
    fputc('[', out);
    int rc, n = 0;
    static const qcol_t cols[] = {{"id", 'i'}, {"strategy", 's'}, {"asset", 's'}, {"type", 's'}, {"ts", 't'},
                                  {"price", 'n'}, {"confidence", 'n'}, {"position_size", 'n'},
                                  {"stop_loss", 'n'}, {"take_profit", 'n'}};
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++) fputc(',', out);
        row_json(out, st, cols, (int)(sizeof cols / sizeof cols[0]));
    }
    fputc(']', out);
    int ret = rc == SQLITE_DONE ? 0 : mts_store_db_error(s, "signals");
    sqlite3_finalize(st);
    return ret;
}

#define SESSION_COLUMNS \
    "s.id, s.started_at, s.stopped_at, s.strategies, s.exchange, s.symbols, s.interval," \
    " s.initial_capital, s.commission_bps, s.slippage_bps, s.parameters, s.status, s.bars," \
    " s.final_equity," \
    " (SELECT COUNT(*) FROM paper_fills f WHERE f.session_id = s.id AND f.shadow = 0)," \
    " (SELECT e.ts FROM paper_equity e WHERE e.session_id = s.id ORDER BY e.ts DESC LIMIT 1)," \
    " (SELECT e.equity FROM paper_equity e WHERE e.session_id = s.id ORDER BY e.ts DESC LIMIT 1)"

static void session_row(sqlite3_stmt *st, FILE *out) {
    fprintf(out, "\"id\":%lld,", (long long)sqlite3_column_int64(st, 0));
    /* times: *_at ISO-8601 UTC, *_ts unix seconds (docs/api.md "Names");
     * "started" is the deprecated alias of started_at */
    char iso[32];
    mts_time_format_iso(sqlite3_column_int64(st, 1), iso);
    fprintf(out, "\"started_at\":\"%s\",\"started_ts\":%lld,\"started\":\"%s\",", iso,
            (long long)sqlite3_column_int64(st, 1), iso);
    if (sqlite3_column_type(st, 2) == SQLITE_NULL) fputs("\"stopped_at\":null,\"stopped_ts\":null,", out);
    else {
        mts_time_format_iso(sqlite3_column_int64(st, 2), iso);
        fprintf(out, "\"stopped_at\":\"%s\",\"stopped_ts\":%lld,", iso, (long long)sqlite3_column_int64(st, 2));
    }
    static const char *const names[] = {"strategies", "exchange", "symbols", "interval"};
    for (int i = 0; i < 4; i++) {
        jstr(out, names[i], (const char *)sqlite3_column_text(st, 3 + i));
        fputc(',', out);
    }
    jnum(out, "initial_capital", col(st, 7));
    fputc(',', out);
    jnum(out, "commission_bps", col(st, 8));
    fputc(',', out);
    jnum(out, "slippage_bps", col(st, 9));
    fputc(',', out);
    const char *params = (const char *)sqlite3_column_text(st, 10);
    /* parameters is stored JSON (an object) or NULL */
    fprintf(out, "\"parameters\":%s,", params && params[0] == '{' ? params : "null");
    jstr(out, "status", (const char *)sqlite3_column_text(st, 11));
    fprintf(out, ",\"bars\":%lld,", (long long)sqlite3_column_int64(st, 12));
    jnum(out, "final_equity", col(st, 13));
    fprintf(out, ",\"fills\":%lld,", (long long)sqlite3_column_int64(st, 14));
    if (sqlite3_column_type(st, 15) == SQLITE_NULL) fputs("\"last_equity\":null", out);
    else {
        fprintf(out, "\"last_equity\":{\"ts\":%lld,", (long long)sqlite3_column_int64(st, 15));
        jnum(out, "equity", col(st, 16));
        fputc('}', out);
    }
}

int mts_apiq_sessions(mts_store_t *s, int limit, FILE *out) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT " SESSION_COLUMNS " FROM paper_sessions s ORDER BY s.id DESC LIMIT ?1",
                &st, "paper sessions"))
        return MTS_EDB;
    sqlite3_bind_int(st, 1, limit);
    fputc('[', out);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fputs(n++ ? ",{" : "{", out);
        session_row(st, out);
        fputc('}', out);
    }
    fputc(']', out);
    int ret = rc == SQLITE_DONE ? 0 : mts_store_db_error(s, "paper sessions");
    sqlite3_finalize(st);
    return ret;
}

int mts_apiq_session(mts_store_t *s, int64_t id, FILE *out) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT " SESSION_COLUMNS " FROM paper_sessions s WHERE s.id = ?1", &st,
                "paper session"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE) {
            mts_store_set_error(s, "no paper session with id %lld", (long long)id);
            return MTS_ENOTFOUND;
        }
        return mts_store_db_error(s, "paper session");
    }
    fputc('{', out);
    session_row(st, out);
    sqlite3_finalize(st);

    /* book, strategy, reason, funding: schema v8; fills stored before read as book 0, "", "", 0;
     * shadow: schema v11 (fills stored before: false) */
    if (prepare(s, "SELECT id, ts, asset, side, qty, price, fee, realized_pnl, COALESCE(book, 0),"
                   " COALESCE(strategy, ''), COALESCE(reason, ''), funding, shadow FROM paper_fills"
                   " WHERE session_id = ?1 ORDER BY ts, id", &st, "paper fills"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    fputs(",\"fill_list\":[", out);
    int n = 0;
    static const qcol_t fill_cols[] = {{"id", 'i'}, {"ts", 't'}, {"asset", 's'}, {"side", 's'}, {"qty", 'n'},
                                       {"price", 'n'}, {"fee", 'n'}, {"realized_pnl", 'n'}, {"book", 'i'},
                                       {"strategy", 's'}, {"reason", 's'}, {"funding", 'n'}, {"shadow", 'b'}};
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++) fputc(',', out);
        row_json(out, st, fill_cols, (int)(sizeof fill_cols / sizeof fill_cols[0]));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return mts_store_db_error(s, "paper fills");

    if (prepare(s, "SELECT ts, equity, cash FROM paper_equity WHERE session_id = ?1 ORDER BY ts",
                &st, "paper equity"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    fputs("],\"equity\":[", out);
    n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        fprintf(out, "%s[%lld,", n++ ? "," : "", (long long)sqlite3_column_int64(st, 0));
        mts_json_number(out, col(st, 1));
        fputc(',', out);
        mts_json_number(out, col(st, 2));
        fputc(']', out);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return mts_store_db_error(s, "paper equity");
    fputs("],\"books\":", out);
    int r2 = mts_apiq_session_books(s, id, out);
    if (r2) return r2;
    fputc('}', out);
    return 0;
}

int mts_apiq_session_books(mts_store_t *s, int64_t id, FILE *out) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT book, strategy, shadow, initial, equity, fees, funding, fills, trades, updated_ts"
                   " FROM paper_books WHERE session_id = ?1 ORDER BY shadow, book", &st, "paper books"))
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    fputc('[', out);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        double initial = col(st, 3), equity = col(st, 4), pnl = equity - initial;
        fprintf(out, "%s{\"book\":%lld,", n++ ? "," : "", (long long)sqlite3_column_int64(st, 0));
        jstr(out, "strategy", (const char *)sqlite3_column_text(st, 1));
        fprintf(out, ",\"shadow\":%s,", sqlite3_column_int64(st, 2) ? "true" : "false");
        jnum(out, "initial", initial);
        fputc(',', out);
        jnum(out, "equity", equity);
        fputc(',', out);
        jnum(out, "pnl", pnl);
        fputc(',', out);
        jnum(out, "return", initial > 0 ? pnl / initial : NAN);   /* no capital: null */
        fputc(',', out);
        jnum(out, "fees", col(st, 5));
        fputc(',', out);
        jnum(out, "funding", col(st, 6));
        fprintf(out, ",\"fills\":%lld,\"trades\":%lld,", (long long)sqlite3_column_int64(st, 7),
                (long long)sqlite3_column_int64(st, 8));
        char iso[32];
        int64_t ts = sqlite3_column_int64(st, 9);
        mts_time_format_iso(ts, iso);
        fprintf(out, "\"updated_at\":\"%s\",\"updated_ts\":%lld}", iso, (long long)ts);
    }
    fputc(']', out);
    int ret = rc == SQLITE_DONE ? 0 : mts_store_db_error(s, "paper books");
    sqlite3_finalize(st);
    return ret;
}

int mts_apiq_running_sessions(mts_store_t *s, int64_t *n) {
    sqlite3_stmt *st;
    *n = 0;
    if (prepare(s, "SELECT COUNT(*) FROM paper_sessions WHERE status = 'running'", &st, "sessions"))
        return MTS_EDB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : mts_store_db_error(s, "sessions");
}

int mts_apiq_portfolio_gauge(mts_store_t *s, FILE *out) {
    sqlite3_stmt *st;
    if (prepare(s,
                "SELECT s.id, (SELECT e.equity FROM paper_equity e WHERE e.session_id = s.id"
                " ORDER BY e.ts DESC LIMIT 1) FROM paper_sessions s WHERE s.status = 'running'"
                " ORDER BY s.id",
                &st, "portfolio gauge"))
        return MTS_EDB;
    fputs("# HELP mts_portfolio_value_usd Latest equity of each running paper session.\n"
          "# TYPE mts_portfolio_value_usd gauge\n", out);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 1) == SQLITE_NULL) continue;
        fprintf(out, "mts_portfolio_value_usd{session=\"%lld\"} %.17g\n",
                (long long)sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1));
    }
    int ret = rc == SQLITE_DONE ? 0 : mts_store_db_error(s, "portfolio gauge");
    sqlite3_finalize(st);
    return ret;
}

/* ---- hot data, database level ---- */

int mts_apiq_orderbook(mts_store_t *s, const char *exchange, const char *symbol, int depth, mts_apiq_book_t *out) {
    if (depth < 1) depth = 1;
    if (depth > MTS_APIQ_MAX_DEPTH) depth = MTS_APIQ_MAX_DEPTH;
    out->nb = out->na = 0;
    out->update_id = NAN;
    sqlite3_stmt *st;
    /* MAX(ts_ms) over the UNIQUE(exchange, symbol, ts_ms, side, level) index */
    if (prepare(s, "SELECT MAX(ts_ms) FROM order_book_snapshots WHERE exchange = ?1 AND symbol = ?2", &st,
                "order book"))
        return MTS_EDB;
    sqlite3_bind_text(st, 1, exchange, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, symbol, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) { sqlite3_finalize(st); return mts_store_db_error(s, "order book"); }
    if (sqlite3_column_type(st, 0) == SQLITE_NULL) { sqlite3_finalize(st); return MTS_ENOTFOUND; }
    out->ts_ms = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (prepare(s, "SELECT side, price, qty, update_id FROM order_book_snapshots"
                   " WHERE exchange = ?1 AND symbol = ?2 AND ts_ms = ?3 AND level < ?4 ORDER BY side, level",
                &st, "order book"))
        return MTS_EDB;
    sqlite3_bind_text(st, 1, exchange, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, symbol, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, out->ts_ms);
    sqlite3_bind_int(st, 4, depth);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *side = (const char *)sqlite3_column_text(st, 0);
        int bid = side && !strcmp(side, "bid");
        int *n = bid ? &out->nb : &out->na;
        if (*n >= depth) continue;
        double (*lv)[2] = bid ? out->bids : out->asks;
        lv[*n][0] = col(st, 1);
        lv[*n][1] = col(st, 2);
        (*n)++;
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) out->update_id = (double)sqlite3_column_int64(st, 3);
    }
    int ret = rc == SQLITE_DONE ? 0 : mts_store_db_error(s, "order book");
    sqlite3_finalize(st);
    return ret;
}

int mts_apiq_funding(mts_store_t *s, const char *exchange, const char *symbol, mts_apiq_funding_t *out) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT ts_ms, rate, mark_price, next_funding_ms FROM funding_rates"
                   " WHERE exchange = ?1 AND symbol = ?2 ORDER BY ts_ms DESC LIMIT 1", &st, "funding"))
        return MTS_EDB;
    sqlite3_bind_text(st, 1, exchange, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, symbol, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        out->ts_ms = sqlite3_column_int64(st, 0);
        out->rate = col(st, 1);
        out->mark_price = col(st, 2);
        out->next_funding_ms = col(st, 3);
    } else ret = rc == SQLITE_DONE ? MTS_ENOTFOUND : mts_store_db_error(s, "funding");
    sqlite3_finalize(st);
    return ret;
}

int mts_apiq_latest_bar(mts_store_t *s, const char *exchange, const char *symbol, const char *interval,
                        mts_apiq_bar_t *out) {
    sqlite3_stmt *st;
    if (prepare(s, "SELECT exchange, open_ms, open, high, low, close, volume FROM live_bars"
                   " WHERE (?1 IS NULL OR exchange = ?1) AND symbol = ?2 AND interval = ?3"
                   " ORDER BY open_ms DESC, exchange LIMIT 1", &st, "live bars"))
        return MTS_EDB;
    if (exchange) sqlite3_bind_text(st, 1, exchange, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 1);
    sqlite3_bind_text(st, 2, symbol, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, interval, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        const char *ex = (const char *)sqlite3_column_text(st, 0);
        snprintf(out->exchange, sizeof out->exchange, "%s", ex ? ex : "");
        out->open_ms = sqlite3_column_int64(st, 1);
        out->open = col(st, 2);
        out->high = col(st, 3);
        out->low = col(st, 4);
        out->close = col(st, 5);
        out->volume = col(st, 6);
    } else ret = rc == SQLITE_DONE ? MTS_ENOTFOUND : mts_store_db_error(s, "live bars");
    sqlite3_finalize(st);
    return ret;
}
