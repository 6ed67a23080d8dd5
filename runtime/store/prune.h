/* prune.h — retention for the tables a recorder grows without bound
 * (docs/store.md "Retention"): rows older than a cutoff are first ARCHIVED
 * to gzip-compressed CSV files, one per table and UTC day, then DELETED in
 * small transactions, then the space is returned (PRAGMA incremental_vacuum
 * when the database's auto_vacuum is INCREMENTAL). `mts import archive`
 * reads an archive back. Needs store.h.
 *
 * Tables (mts_prune_tables): trades, order_book_snapshots, bus_events,
 * live_bars — what `mts stream`, the bus without Redis and `mts run` append
 * to forever. Not pruned: bars (ohlcv_blocks), macro series, funding_rates
 * (a perp backtest settles funding from them), stored runs, paper sessions,
 * signal_history (it also holds the signals of runs stored before v7).
 *
 * Archive files: DIR/<table>/<YYYY-MM-DD>.csv.gz (the UTC day of the row's
 * time), a header row with every column of the table, then one row per line:
 * NULL is an empty field, numbers unquoted (integers as %lld, reals in the
 * shortest text that reads back to the same double: "inf"/"-inf" for
 * infinities), text always in double quotes ("" for a quote inside). A day
 * that already has an archive gets a further part DAY.2.csv.gz, DAY.3...,
 * holding only rows whose primary key no earlier part of the day holds (so a
 * prune killed after writing its archives and re-run writes no row twice).
 * Each file is written to a temp file in the same directory, fsync'd, renamed
 * into place and the directory fsync'd, BEFORE any of its rows is deleted.
 *
 * Errors: 0 / negative MTS_E*; mts_store_errmsg(s) says what and where. */
#ifndef MTS_PRUNE_H
#define MTS_PRUNE_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include "store/store.h"

/* NULL-terminated. */
extern const char *const mts_prune_tables[];

/* "30d", "12h", "90m", "45s", "2w" (a whole number and a unit) -> seconds.
 * 0, or MTS_EINVAL for anything else (also 0 or a negative number). */
int mts_prune_parse_age(const char *text, int64_t *seconds);

#define MTS_PRUNE_BATCH_ROWS 5000
#define MTS_PRUNE_MAX_TABLES 8
#define MTS_PRUNE_MAX_ROWS_HELD 500000

typedef struct mts_prune_opts {
    const char *table;        /* NULL: every table that has an age (older_than_s or config) */
    int64_t older_than_s;     /* > 0: this age for the table(s); 0: config/mts.json "retention" */
    int64_t now_ms;           /* 0: the clock */
    const char *archive_dir;  /* NULL: config retention.archive_dir, else "archive" next to the db */
    int dry_run;              /* count only: no file, no delete, no vacuum */
    int batch_rows;           /* rows per delete transaction; 0: MTS_PRUNE_BATCH_ROWS */
    int64_t max_rows_held;    /* keys held in memory for deleting (0: MTS_PRUNE_MAX_ROWS_HELD): when
                                 reached, the open day files are made durable, those rows deleted,
                                 and the read resumes after the last key (the rest of a day goes to
                                 a further part) */
    const volatile sig_atomic_t *cancel;   /* may be NULL; once non-zero the run stops between two
                                              batches with MTS_ECANCELED (what was archived and not
                                              yet deleted is skipped by the next run, see top) */
} mts_prune_opts_t;

typedef struct mts_prune_table_report {
    char table[32];
    int64_t cutoff_ms;        /* rows with time < cutoff_ms went */
    int64_t rows;             /* rows older than the cutoff found */
    int64_t archived;         /* rows written to new archive files */
    int64_t already;          /* rows an earlier archive of their day already held */
    int64_t deleted;
    int files;                /* archive files written */
    int64_t batches;          /* delete transactions */
    int64_t max_batch_ms;     /* the longest a delete transaction held the write lock */
} mts_prune_table_report_t;

typedef struct mts_prune_report {
    int n;
    mts_prune_table_report_t t[MTS_PRUNE_MAX_TABLES];
    char archive_dir[1024];
    int auto_vacuum;          /* PRAGMA auto_vacuum: 0 none, 1 full, 2 incremental */
    int64_t freed_pages;      /* pages given back by incremental_vacuum */
    int64_t bytes_before, bytes_after;   /* the database file's size */
} mts_prune_report_t;

/* Prunes the table(s) of o (see top). Each table: one read of the rows older
 * than its cutoff in primary key order (in spans of up to 32 days, one archive
 * writer per day; at most max_rows_held rows at a time),
 * the archives made durable, then deletes of those rows by primary key, at
 * most batch_rows per BEGIN IMMEDIATE transaction with a pause as long as
 * the transaction between two (a concurrent writer waits at most one batch).
 * A row written with an old time after the read stays for the next prune.
 * Then PRAGMA incremental_vacuum and a passive checkpoint. Every table is
 * logged (prune.table). MTS_EINVAL for an unknown table or no age, MTS_EIO
 * when an archive cannot be written (nothing of its span is deleted),
 * MTS_EPARSE when an earlier archive of a day is damaged (FILE:LINE). */
int mts_prune_run(mts_store_t *s, const mts_prune_opts_t *o, mts_prune_report_t *rep);

/* One-time: PRAGMA auto_vacuum = INCREMENTAL and VACUUM (rewrites the whole
 * file and holds the write lock meanwhile: run it while nothing writes).
 * Keeps every row. 0 or MTS_EDB. */
int mts_prune_enable_incremental(mts_store_t *s);

/* Reads an archive back into `table` (NULL: the name of the file's directory,
 * as prune writes them). The whole file is checked first (gzip stream, the
 * header names exactly the table's columns, every row the same number of
 * fields, unquoted fields numbers or empty): a damaged file is refused with
 * MTS_EPARSE "FILE:LINE: reason" and nothing is stored. Then INSERT OR IGNORE
 * in transactions of MTS_PRUNE_BATCH_ROWS rows: a row whose primary or
 * UNIQUE key is still stored is not stored twice. *rows = rows in the file,
 * *inserted = rows stored (either may be NULL). */
int mts_prune_import_archive(mts_store_t *s, const char *path, const char *table, int64_t *rows,
                             int64_t *inserted);

/* The schedule of `mts collect --schedule` and `mts stream`: when
 * config/mts.json has a "retention" age for any table, a thread with its own
 * connection to db_path runs mts_prune_run every retention.every (default
 * "1h"; MTS_PRUNE_INTERVAL_S overrides, in seconds), the first run after one
 * interval (a short run is left alone),
 * logging prune.scheduled / prune.table / prune.failed. NULL when nothing is
 * configured (or the thread cannot start: logged). Stop joins the thread
 * (a prune in progress stops after its current batch); accepts NULL. */
typedef struct mts_prune_sched mts_prune_sched_t;
mts_prune_sched_t *mts_prune_schedule_start(const char *db_path);
void mts_prune_schedule_stop(mts_prune_sched_t *p);

#endif
