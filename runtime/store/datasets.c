/* datasets.c — bundled data imported on first use: when the store has no
 * rows for an asset's series at an interval, or a macro indicator, that
 * config/mts.json maps to a file under the root (datasets.assets.NAME: "file"
 * holds its 1d bars, or those of its "interval"; "intervals": {"1h": FILE}
 * others; datasets.macro), that file is imported under that interval.
 * It is imported again when its last import did not finish (killed or failed
 * half-way: store/imports.h), so a prefix is never kept for good; if that
 * fails, the rows there are used (and the unfinished import is warned about).
 * An import of that file still running (in another thread or process: its
 * lock is held) is waited for instead. */
#include "store/csv.h"
#include "store/imports.h"
#include "market/interval.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "util/config.h"
#include "util/log.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* The bundled file of (kind, name[, interval]) under root; MTS_ENOTFOUND when there is none. */
static int bundled_file(const char *root, const char *kind, const char *name, const char *interval,
                        char *path, size_t n, const char **file, const char **column) {
    char rel[PATH_MAX];
    *column = NULL;
    if (interval ? mts_config_dataset_file(kind, name, interval, file) != 0
                 : mts_config_dataset(kind, name, file, column) != 0)
        return MTS_ENOTFOUND;
    if (mts_path_join(rel, sizeof rel, "/", *file) != 0 ||
        mts_path_join(path, n, root, rel) != 0) return MTS_ERANGE;
    return 0;
}

static int import_bundled(mts_store_t *s, const char *root, const char *kind, const char *name,
                          const char *interval, int again) {
    const char *file = NULL, *column = NULL;
    char path[PATH_MAX];
    int rc = bundled_file(root, kind, name, interval, path, sizeof path, &file, &column);
    if (rc) return rc;
    char series[160];
    snprintf(series, sizeof series, "%.120s%s%s", name, interval ? " " : "", interval ? interval : "");
    if (again)
        fprintf(stderr, "mts: the last import of %s from %s did not finish; importing it again\n", series, file);
    mts_import_report_t rep = {0};
    mts_csv_opts_t o = {0};
    if (interval) {
        o.interval = interval;
        rc = mts_csv_import_ohlcv_ex(s, path, name, &o, stderr, &rep, NULL);
    } else {
        o.column = column;
        rc = mts_csv_import_macro_ex(s, path, name, &o, stderr, &rep, NULL);
    }
    if (rc != 0 && rc != MTS_EPARTIAL) {
        fprintf(stderr, "error: importing bundled %s: %s\n", path, mts_store_errmsg(s));
        return rc;
    }
    fprintf(stderr, "mts: %s of %s: imported %lld rows from %s\n", again ? "re-import" : "first use", series,
            (long long)rep.rows_ok, file);
    mts_log(MTS_LOG_INFO, "import.bundled",
            "\"name\":\"%s\",\"interval\":\"%s\",\"file\":\"%s\",\"rows\":%lld,\"rejected\":%lld",
            name, interval ? interval : "", file, (long long)rep.rows_ok, (long long)rep.rows_rejected);
    return 0;
}

/* The source name (store/imports.h) of the bundled file of (kind, name[, interval]). */
static int bundled_source(const char *root, const char *kind, const char *name, const char *interval,
                          char *src, size_t n) {
    const char *file = NULL, *column = NULL;
    char path[PATH_MAX];
    int rc = bundled_file(root, kind, name, interval, path, sizeof path, &file, &column);
    return rc ? rc : mts_imports_source(path, src, n);
}

static int count(mts_store_t *s, const char *name, const char *interval, int64_t *n) {
    return interval ? mts_store_count_ohlcv(s, name, interval, n) : mts_store_count_macro(s, name, n);
}

/* interval NULL: the macro indicator `name`; else the bars of asset `name`. */
static int ensure(mts_store_t *s, const char *root, const char *kind, const char *name, const char *interval) {
    const char *k = interval ? "ohlcv" : "macro";
    int64_t n = 0;
    int rc = count(s, name, interval, &n);
    if (rc != 0) return rc;
    char src[PATH_MAX];
    int bundled = bundled_source(root, kind, name, interval, src, sizeof src) == 0;
    if (bundled && mts_imports_live(src)) {
        /* another thread or process is importing it (a first use at the same
         * time): let it finish, then look again */
        mts_imports_wait(src);
        if ((rc = count(s, name, interval, &n)) != 0) return rc;
    }
    if (n > 0 && !(bundled && mts_imports_outstanding(s, k, name, interval, src) > 0)) return 0;
    rc = import_bundled(s, root, kind, name, interval, n > 0);
    return rc != 0 && n > 0 ? 0 : rc;   /* re-import failed: keep the rows (the warning stays) */
}

int mts_store_ensure_asset(mts_store_t *s, const char *root, const char *asset, const char *interval) {
    if (!interval) interval = MTS_INTERVAL_DEFAULT;
    if (mts_interval_seconds(interval) < 0) {
        if (s) mts_store_set_error(s, "unknown interval '%s' (one of %s)", interval, MTS_INTERVALS);
        return MTS_EINVAL;
    }
    return ensure(s, root, "assets", asset, interval);
}

int mts_store_ensure_macro(mts_store_t *s, const char *root, const char *indicator) {
    return ensure(s, root, "macro", indicator, NULL);
}

/* ---- funding (csv.h mts_store_ensure_funding) ---- */

static int count_funding(mts_store_t *s, const char *symbol, const char *exchange, int64_t *n) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(mts_store_db(s), "SELECT COUNT(*) FROM funding_rates WHERE exchange = ?1 AND symbol = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return mts_store_db_error(s, "count funding");
    sqlite3_bind_text(st, 1, exchange, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, symbol, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : mts_store_db_error(s, "count funding");
}

int mts_store_ensure_funding(mts_store_t *s, const char *root, const char *symbol, const char *exchange) {
    if (!s || !root || !symbol || !*symbol) return 0;
    char key[160], ex[64] = "";
    if (!exchange) {
        /* the one bundled exchange of symbol: keys "SYMBOL@exchange" */
        char *names = mts_config_dataset_names("funding");
        if (!names) return 0;
        size_t sl = strlen(symbol);
        int found = 0;
        for (char *p = names; p && *p;) {
            char *c = strstr(p, ", ");
            size_t l = c ? (size_t)(c - p) : strlen(p);
            if (l > sl + 1 && !strncmp(p, symbol, sl) && p[sl] == '@' && l - sl - 1 < sizeof ex) {
                if (found++ == 0) snprintf(ex, sizeof ex, "%.*s", (int)(l - sl - 1), p + sl + 1);
            }
            p = c ? c + 2 : NULL;
        }
        mts_free(names);
        if (found != 1) return 0;
        exchange = ex;
    }
    snprintf(key, sizeof key, "%.80s@%.60s", symbol, exchange);
    const char *file = NULL;
    char rel[PATH_MAX], path[PATH_MAX], src[PATH_MAX];
    if (mts_config_dataset("funding", key, &file, NULL) != 0) return 0;
    if (mts_path_join(rel, sizeof rel, "/", file) != 0 || mts_path_join(path, sizeof path, root, rel) != 0)
        return MTS_ERANGE;
    int64_t n = 0;
    int rc = count_funding(s, symbol, exchange, &n);
    if (rc) return rc;
    int have_src = mts_imports_source(path, src, sizeof src) == 0;
    if (have_src && mts_imports_live(src)) {
        mts_imports_wait(src);
        if ((rc = count_funding(s, symbol, exchange, &n)) != 0) return rc;
    }
    int again = n > 0 && have_src && mts_imports_outstanding(s, "funding", key, NULL, src) > 0;
    if (n > 0 && !again) return 0;
    if (again)
        fprintf(stderr, "mts: the last import of funding %s from %s did not finish; importing it again\n", key, file);
    mts_funding_import_t rep;
    rc = mts_csv_import_funding(s, path, symbol, exchange, NULL, stderr, &rep);
    if (rc != 0 && rc != MTS_EPARTIAL) {
        fprintf(stderr, "error: importing bundled %s: %s\n", path, mts_store_errmsg(s));
        return n > 0 ? 0 : rc;
    }
    fprintf(stderr, "mts: %s of funding %s: imported %lld rows from %s\n", again ? "re-import" : "first use", key,
            (long long)rep.stored, file);
    mts_log(MTS_LOG_INFO, "import.bundled", "\"name\":\"%s\",\"kind\":\"funding\",\"file\":\"%s\",\"rows\":%lld,"
            "\"rejected\":%lld", key, file, (long long)rep.stored, (long long)rep.rows_rejected);
    return 0;
}
