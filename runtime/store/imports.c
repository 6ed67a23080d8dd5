/* imports.c — the import_runs record (see imports.h). */
#include "store/imports.h"
#include "store/store_internal.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

int mts_imports_source(const char *path, char *out, size_t n) {
    if (!path || !out || n == 0) return MTS_EINVAL;
    char abs[PATH_MAX];
    const char *src = path;
    if (strcmp(path, "-") != 0 && realpath(path, abs)) src = abs;
    if ((size_t)snprintf(out, n, "%s", src) >= n) return MTS_ERANGE;
    return 0;
}

static int prep(mts_store_t *s, sqlite3_stmt **st, const char *sql) {
    if (sqlite3_prepare_v2(mts_store_db(s), sql, -1, st, NULL) != SQLITE_OK)
        return mts_store_db_error(s, "import_runs: prepare");
    return 0;
}

static int step_done(mts_store_t *s, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : mts_store_db_error(s, what);
    sqlite3_finalize(st);
    return rc;
}

int mts_imports_begin(mts_store_t *s, const char *kind, const char *target, const char *source,
                      int64_t *id_out) {
    if (!s || !kind || !target || !source || !id_out) return MTS_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, &st, "INSERT INTO import_runs(kind, target, source, started_at, rows, status)"
                          " VALUES(?1, ?2, ?3, ?4, 0, 'running')");
    if (rc) return rc;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
    if (sqlite3_step(st) != SQLITE_DONE) rc = mts_store_db_error(s, "import_runs: insert");
    else *id_out = sqlite3_last_insert_rowid(mts_store_db(s));
    sqlite3_finalize(st);
    return rc;
}

int mts_imports_set_interval(mts_store_t *s, int64_t id, const char *interval) {
    if (!s || !interval) return MTS_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, &st, "UPDATE import_runs SET interval = ?2 WHERE id = ?1");
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, interval, -1, SQLITE_STATIC);
    return step_done(s, st, "import_runs: update interval");
}

int mts_imports_progress(mts_store_t *s, int64_t id, int64_t rows) {
    if (!s) return MTS_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, &st, "UPDATE import_runs SET rows = ?2 WHERE id = ?1");
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, rows);
    return step_done(s, st, "import_runs: update rows");
}

int mts_imports_end(mts_store_t *s, int64_t id, int64_t rows, const char *failure) {
    if (!s) return MTS_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = prep(s, &st, "UPDATE import_runs SET rows = ?2, finished_at = ?3,"
                          " status = CASE WHEN ?4 IS NULL THEN 'complete' ELSE 'failed: ' || ?4 END"
                          " WHERE id = ?1");
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, rows);
    sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
    if (failure) sqlite3_bind_text(st, 4, failure, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, 4);
    return step_done(s, st, "import_runs: finish");
}

/* A descriptor to lock source by, or -1. O_NONBLOCK: a FIFO must not block. */
static int lock_open(const char *source) {
    if (!source || !strcmp(source, "-")) return -1;
    return open(source, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
}

int mts_imports_start(mts_store_t *s, const char *kind, const char *target, const char *path,
                      mts_import_run_t *run) {
    if (!s || !path || !run) return MTS_EINVAL;
    run->id = 0;
    run->lock_fd = -1;
    char src[PATH_MAX];
    if (mts_imports_source(path, src, sizeof src) != 0) snprintf(src, sizeof src, "%.*s", PATH_MAX - 1, path);
    /* the lock first: a checker that sees the 'running' row finds it held */
    int fd = lock_open(src);
    if (fd >= 0) {
        int r;
        while ((r = flock(fd, LOCK_SH)) != 0 && errno == EINTR) {}
        if (r != 0) { close(fd); fd = -1; }
    }
    int rc = mts_imports_begin(s, kind, target, src, &run->id);
    if (rc) {
        if (fd >= 0) close(fd);
        return rc;
    }
    run->lock_fd = fd;
    return 0;
}

int mts_imports_finish(mts_store_t *s, mts_import_run_t *run, int64_t rows, int rc, FILE *err) {
    if (!s || !run) return MTS_EINVAL;
    char why[1024];
    snprintf(why, sizeof why, "%s", mts_store_errmsg(s));
    int ok = rc == 0 || rc == MTS_EPARTIAL;
    int erc = mts_imports_end(s, run->id, rows, ok ? NULL : (why[0] ? why : mts_strerror(rc)));
    if (erc != 0) {
        if (err) fprintf(err, "warning: could not record the end of the import in import_runs (%s); "
                              "it will be reported as unfinished until imported again\n", mts_store_errmsg(s));
        mts_store_set_error(s, "%s", why);
    }
    if (run->lock_fd >= 0) close(run->lock_fd);   /* after the record: a checker then sees 'complete' */
    run->lock_fd = -1;
    return erc;
}

int mts_imports_live(const char *source) {
    int fd = lock_open(source);
    if (fd < 0) return 0;
    int held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);                        /* drops the lock if we got it */
    return held;
}

void mts_imports_wait(const char *source) {
    int fd = lock_open(source);
    if (fd < 0) return;
    while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {}
    close(fd);
}

/* Outstanding runs of (kind, target[, interval][, source]), newest first: per
 * (source, interval) the newest run that is running or failed with rows,
 * unless a later one completed. A run whose interval is NULL (before schema
 * v6, or killed before its interval was known) belongs to every interval.
 * Column 4: an earlier run of the file completed (see refresh()); column 5:
 * the run's interval. */
#define SAME_IV(a, b) "(" a ".interval IS NULL OR " b ".interval IS NULL OR " a ".interval = " b ".interval)"
#define OUTSTANDING_SQL                                                                          \
    "SELECT r.source, r.started_at, r.rows, r.status,"                                           \
    "  EXISTS (SELECT 1 FROM import_runs c WHERE c.kind = r.kind AND c.target = r.target"         \
    "          AND c.source = r.source AND c.id < r.id AND c.status = 'complete'"                \
    "          AND " SAME_IV("c", "r") "), r.interval"                                            \
    " FROM import_runs r"                                                                        \
    " WHERE r.kind = ?1 AND r.target = ?2 AND (?3 IS NULL OR r.source = ?3)"                     \
    "   AND (?4 IS NULL OR r.interval IS NULL OR r.interval = ?4)"                               \
    "   AND (r.status = 'running' OR (r.status LIKE 'failed%' AND r.rows > 0))"                  \
    "   AND NOT EXISTS (SELECT 1 FROM import_runs c WHERE c.kind = r.kind AND c.target = r.target" \
    "                   AND c.source = r.source AND c.id > r.id"                                 \
    "                   AND (r.interval IS NULL OR c.interval = r.interval)"                     \
    "                   AND (c.status = 'complete'"                                              \
    "                   OR c.status = 'running' OR (c.status LIKE 'failed%' AND c.rows > 0)))"    \
    " ORDER BY r.id DESC"

static int query(mts_store_t *s, sqlite3_stmt **st, const char *kind, const char *target,
                 const char *interval, const char *source) {
    int rc = prep(s, st, OUTSTANDING_SQL);
    if (rc) return rc;
    sqlite3_bind_text(*st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(*st, 2, target, -1, SQLITE_STATIC);
    if (source) sqlite3_bind_text(*st, 3, source, -1, SQLITE_STATIC);
    else sqlite3_bind_null(*st, 3);
    if (interval) sqlite3_bind_text(*st, 4, interval, -1, SQLITE_STATIC);
    else sqlite3_bind_null(*st, 4);
    return 0;
}

/* A live re-import of a file that was imported completely before is not
 * outstanding: the complete rows are there and are being refreshed (two first
 * uses of bundled data at once do this, e.g. workers of `mts serve`). Killed,
 * it is: a changed file would leave a mix. */
static int refresh(sqlite3_stmt *st) {
    const char *status = (const char *)sqlite3_column_text(st, 3);
    return status && !strcmp(status, "running") && sqlite3_column_int(st, 4) &&
           mts_imports_live((const char *)sqlite3_column_text(st, 0));
}

int mts_imports_outstanding(mts_store_t *s, const char *kind, const char *target, const char *interval,
                            const char *source) {
    if (!s || !kind || !target) return MTS_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = query(s, &st, kind, target, interval, source);
    if (rc) return rc;
    int n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) n += !refresh(st);
    if (rc != SQLITE_DONE) n = mts_store_db_error(s, "import_runs: select");
    sqlite3_finalize(st);
    return n;
}

/* Appends line to *buf (grown with mts_realloc), '\n' before it if not empty. */
static int append(char **buf, size_t *len, const char *line) {
    size_t l = strlen(line), need = *len + (*len ? 1 : 0) + l + 1;
    char *nb = mts_realloc(*buf, need);
    if (!nb) return MTS_ENOMEM;
    if (*len) nb[(*len)++] = '\n';
    memcpy(nb + *len, line, l + 1);
    *len += l;
    *buf = nb;
    return 0;
}

int mts_imports_warnings(mts_store_t *s, const char *kind, const char *target, const char *interval,
                         char **lines) {
    if (!s || !kind || !target || !lines) return MTS_EINVAL;
    int macro = strcmp(kind, "macro") == 0;
    sqlite3_stmt *st = NULL;
    int rc = query(s, &st, kind, target, interval, NULL);
    if (rc) return rc;
    char *buf = *lines;
    size_t len = buf ? strlen(buf) : 0, len0 = len;
    int n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (refresh(st)) continue;
        const char *src = (const char *)sqlite3_column_text(st, 0);
        int64_t started = sqlite3_column_int64(st, 1), rows = sqlite3_column_int64(st, 2);
        const char *status = (const char *)sqlite3_column_text(st, 3);
        const char *iv = (const char *)sqlite3_column_text(st, 5);
        if (!src) src = "?";
        if (!status) status = "running";
        char series[160], ivopt[32] = "";
        if (iv && !macro) {
            snprintf(series, sizeof series, "%.120s %s", target, iv);
            snprintf(ivopt, sizeof ivopt, " --interval %s", iv);
        } else {
            snprintf(series, sizeof series, "%.150s", target);
        }
        char when[32], what[600], line[PATH_MAX * 2 + 1024];
        mts_time_format_iso(started, when);
        if (!strncmp(status, "failed", 6)) {
            const char *why = status[6] == ':' ? status + 7 : "";
            while (*why == ' ') why++;
            snprintf(what, sizeof what, "failed after storing %lld rows (%.400s)", (long long)rows,
                     *why ? why : "no reason recorded");
        } else if (mts_imports_live(src)) {
            snprintf(what, sizeof what, "is still running (%lld rows stored so far)", (long long)rows);
        } else {
            snprintf(what, sizeof what, "did not finish (%s; %lld rows stored by its last commit)",
                     strcmp(src, "-") && access(src, R_OK) == 0 ? "killed" : "killed, or still running",
                     (long long)rows);
        }
        snprintf(line, sizeof line,
                 "%s: the import of %s started %s %s, so its %s may be incomplete; %s%s: "
                 "mts import %s %s --%s %s%s",
                 series, src, when, what, macro ? "values" : "bars",
                 strncmp(what, "is still", 8) ? "re-run it" : "wait for it, or re-run it",
                 strcmp(src, "-") ? "" : " with the same input", macro ? "macro" : "csv", src,
                 macro ? "indicator" : "asset", target, ivopt);
        if (append(&buf, &len, line)) { rc = MTS_ENOMEM; break; }
        n++;
    }
    int ret = n;
    if (rc == MTS_ENOMEM) {
        ret = MTS_ENOMEM;
        mts_store_set_error(s, "import_runs: out of memory");
    } else if (rc != SQLITE_DONE) {
        ret = mts_store_db_error(s, "import_runs: select");
    }
    sqlite3_finalize(st);
    if (ret < 0) {
        if (buf) buf[len0] = '\0';    /* unchanged text; the array may have grown */
    }
    *lines = buf;
    return ret;
}
