/* imports.h — a record of every import (table import_runs, schema v5), so a
 * series whose import was killed half-way, or failed after storing some rows,
 * is known, and whoever uses it (backtest, export) can say so instead of
 * silently using a prefix. Needs store.h (and store_internal.h inside).
 *
 * Life of a run (store/csv.c does this for every CSV import: `mts import csv`,
 * `mts import macro` and the bundled first-use import):
 *   mts_imports_start     takes a shared flock(2) on the source file, then
 *                         commits a row (status 'running', rows 0) BEFORE any
 *                         data row is stored;
 *   mts_imports_progress  after each committed batch: rows = rows stored so far;
 *   mts_imports_finish    finished_at, rows, and status 'complete' (the whole
 *                         file was read; rejected rows do not make it
 *                         incomplete) or 'failed: <reason>'; then drops the lock.
 * A process killed in between leaves 'running' (rows lag by at most one
 * batch); the kernel drops its lock.
 *
 * kind is "ohlcv" (bars, ohlcv_blocks; target = the asset) or "macro"
 * (macro_indicators; target = the indicator). source is the file's absolute
 * path (mts_imports_source) or "-" for standard input.
 *
 * Outstanding: the newest run of a (kind, target, source) that is 'running',
 * or 'failed' after storing rows (rows > 0), with no later 'complete' run of
 * the same file. Re-running the import to completion clears it. A re-import
 * still running of a file imported completely before is not outstanding (the
 * complete rows are there; e.g. two first uses of bundled data at once).
 * Live or killed: a 'running' run whose source file is locked is still being
 * imported (by any process on this host: the lock is the liveness check, no
 * pid is stored); one whose file is not locked was killed. A source that
 * cannot be opened (deleted, or "-") counts as killed.
 *
 * Errors: 0 / negative MTS_E*; mts_store_errmsg(s) has the message. Statements
 * are prepared per call (a few per 10,000 rows: far from a hot path). */
#ifndef MTS_STORE_IMPORTS_H
#define MTS_STORE_IMPORTS_H

#include "store/store.h"

/* The source name of a file: its absolute path (realpath), or path itself
 * when that fails or path is "-". 0, or MTS_ERANGE when it does not fit. */
int mts_imports_source(const char *path, char *out, size_t n);

/* The record alone (no lock): for tests and callers that are not files. */
int mts_imports_begin(mts_store_t *s, const char *kind, const char *target, const char *source,
                      int64_t *id_out);
int mts_imports_progress(mts_store_t *s, int64_t id, int64_t rows);
/* The interval an OHLCV run stores under (import_runs.interval, schema v6):
 * set as soon as it is known (given, or told from the file's first rows),
 * before any row is stored. */
int mts_imports_set_interval(mts_store_t *s, int64_t id, const char *interval);
/* failure NULL = 'complete'; else 'failed: <failure>'. */
int mts_imports_end(mts_store_t *s, int64_t id, int64_t rows, const char *failure);

/* For importers (store/csv.c). start: lock the file at path (shared; waits
 * only for a moment while a checker holds it) and begin a run; on error
 * nothing is held. finish: end the run from the import's result (rc 0 or
 * MTS_EPARTIAL is 'complete', anything else 'failed: <the store's message>')
 * and drop the lock. finish keeps the store's message as the import left it;
 * when the record cannot be written it says so on err (may be NULL) and
 * returns that error (the run then stays 'running': a false warning, never a
 * missed one). */
typedef struct mts_import_run {
    int64_t id;
    int     lock_fd;                  /* -1 when there is no file to lock */
} mts_import_run_t;
int mts_imports_start(mts_store_t *s, const char *kind, const char *target, const char *path,
                      mts_import_run_t *run);
int mts_imports_finish(mts_store_t *s, mts_import_run_t *run, int64_t rows, int rc, FILE *err);

/* 1 when an import of source is running now (its lock is held), 0 when not or
 * when that cannot be told ("-", a file that cannot be opened). */
int mts_imports_live(const char *source);
/* Blocks until no import of source holds its lock (returns at once if none). */
void mts_imports_wait(const char *source);

/* Intervals: an OHLCV series is (asset, interval), and so are its runs: an
 * unfinished 1h import does not make the 1d bars suspect. interval NULL means
 * every interval (macro series have none). A run with no interval recorded
 * (made before schema v6, or killed before its interval was known) counts for
 * every interval: a false warning rather than a missed one. */

/* Number of outstanding runs of (kind, target, interval) — of that one source
 * when source is not NULL — or a negative MTS_E*. Live ones count. */
int mts_imports_outstanding(mts_store_t *s, const char *kind, const char *target, const char *interval,
                            const char *source);

/* One warning line per outstanding run of (kind, target, interval), newest first,
 * appended to *lines ('\n' between lines; mts_malloc'd, free with mts_free;
 * *lines may start NULL). Each names the series, the file, when it started,
 * the rows stored, whether it was killed, failed (why) or is still running,
 * and the command that fixes it. Returns the number of lines added, or a
 * negative MTS_E* (*lines keeps its text). */
int mts_imports_warnings(mts_store_t *s, const char *kind, const char *target, const char *interval,
                         char **lines);

#endif
