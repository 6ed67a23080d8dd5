/* prune.c — `mts prune` (archive then delete old rows of the recorder's
 * tables, store/prune.h) and `mts import archive FILE...` (read archives
 * back). Parses and prints only. Exit: 0 ok, 1 error, 2 usage. */
#include "cmd/cmd.h"
#include "store/prune.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts prune [--table T] [--older-than AGE] [--dry-run] [--archive-dir DIR] [--json] [--db PATH]\n"
        "       mts prune --enable-incremental-vacuum [--db PATH]\n\n"
        "Archive, then delete, the rows older than an age of the tables a recorder grows without\n"
        "bound: trades, order_book_snapshots, bus_events, live_bars. Ages come from\n"
        "config/mts.json \"retention\" (e.g. \"trades\": \"30d\") unless --older-than is given.\n"
        "Each table's old rows go first to DIR/<table>/<YYYY-MM-DD>.csv.gz (UTC day of the row;\n"
        "a day already archived gets DAY.2.csv.gz, ... with only rows not archived yet), written\n"
        "to a temp file, fsync'd and renamed; only then are they deleted, 5000 rows per\n"
        "transaction, so a running session's writes wait at most one short batch. Then the free\n"
        "pages go back to the file system (PRAGMA incremental_vacuum) when the database's\n"
        "auto_vacuum is INCREMENTAL; when it is not, the file keeps its size (the pages are reused)\n"
        "and --enable-incremental-vacuum converts it once (a VACUUM: rewrites the file and blocks\n"
        "writers meanwhile, run it while nothing records).\n\n"
        "options:\n"
        "  --table T          only this table\n"
        "  --older-than AGE   rows older than AGE (30d, 12h, 90m, 2w) instead of the configured ages\n"
        "  --dry-run          count what would go; write and delete nothing\n"
        "  --archive-dir DIR  where archives go (default: retention.archive_dir, else archive/ next\n"
        "                     to the database)\n"
        "  --batch N          rows per delete transaction (default 5000)\n"
        "  --json             one JSON object on stdout\n"
        "  --db PATH          the database (default $DATABASE_PATH or data/mts.db)\n\n"
        "Read an archive back (rows still stored are not stored twice; a damaged file is refused\n"
        "with its line):\n"
        "  mts import archive FILE.csv.gz... [--table T] [--db PATH] [--json]\n\n"
        "examples:\n"
        "  mts prune --dry-run\n"
        "  mts prune --table trades --older-than 30d --archive-dir /mnt/archive\n"
        "  mts import archive data/archive/trades/2026-11-02.csv.gz\n");
}

enum { O_TABLE, O_AGE, O_DRY, O_DIR, O_BATCH, O_JSON, O_DB, O_VAC, O_HELP };
static const mts_cli_opt_t OPTS[] = {
    {"--table", 1}, {"--older-than", 1}, {"--dry-run", 0}, {"--archive-dir", 1}, {"--batch", 1},
    {"--json", 0}, {"--db", 1}, {"--enable-incremental-vacuum", 0}, {"--help", 0}, {NULL, 0}};

static void iso_ms(int64_t ms, char *out, size_t n) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *vac_name(int v) { return v == 2 ? "incremental" : v == 1 ? "full" : "none"; }

int mts_cmd_prune(int argc, char **argv) {
    mts_prune_opts_t o = {0};
    const char *db = NULL, *val;
    int json = 0, vac = 0, i = 1;
    for (;;) {
        int k = mts_cli_next("prune", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return MTS_EXIT_USAGE;
        if (k == MTS_CLI_POSITIONAL) {
            fprintf(stderr, "mts prune: unexpected argument '%s' (see mts prune --help)\n", val);
            return MTS_EXIT_USAGE;
        }
        switch (k) {
        case O_HELP: usage(stdout); return MTS_EXIT_OK;
        case O_TABLE: o.table = val; break;
        case O_AGE:
            if (mts_prune_parse_age(val, &o.older_than_s)) {
                fprintf(stderr, "mts prune: --older-than expects an age like 30d, 12h, 90m, 45s or 2w, got '%s'\n", val);
                return MTS_EXIT_USAGE;
            }
            break;
        case O_DRY: o.dry_run = 1; break;
        case O_DIR: o.archive_dir = val; break;
        case O_BATCH: {
            char *end;
            long v = strtol(val, &end, 10);
            if (*end || v < 1 || v > 1000000) {
                fprintf(stderr, "mts prune: --batch expects a whole number in 1..1000000, got '%s'\n", val);
                return MTS_EXIT_USAGE;
            }
            o.batch_rows = (int)v;
            break;
        }
        case O_JSON: json = 1; break;
        case O_DB: db = val; break;
        case O_VAC: vac = 1; break;
        }
    }
    if (o.table) {
        int ok = 0;
        for (int t = 0; mts_prune_tables[t]; t++) ok |= !strcmp(mts_prune_tables[t], o.table);
        if (!ok) {
            const char *near = mts_cli_suggest(o.table, mts_prune_tables);
            fprintf(stderr, "mts prune: --table %s: not a table prune handles (trades, order_book_snapshots, "
                            "bus_events, live_bars)%s%s%s\n", o.table, near ? "; did you mean '" : "",
                    near ? near : "", near ? "'?" : "");
            return MTS_EXIT_USAGE;
        }
    }
    mts_store_t *s = mts_cli_open_store(db);
    if (!s) return MTS_EXIT_ERROR;
    int rc;
    if (vac) {
        rc = mts_prune_enable_incremental(s);
        if (rc) fprintf(stderr, "mts prune: %s\n", mts_store_errmsg(s));
        else if (json) printf("{\"auto_vacuum\":\"incremental\"}\n");
        else printf("auto_vacuum is now INCREMENTAL: mts prune gives freed space back to the file system\n");
        mts_store_close(s);
        return rc ? MTS_EXIT_ERROR : MTS_EXIT_OK;
    }
    mts_prune_report_t rep;
    rc = mts_prune_run(s, &o, &rep);
    if (rc) fprintf(stderr, "mts prune: %s\n", mts_store_errmsg(s));
    if (json) {
        printf("{\"ok\":%s,\"dry_run\":%s,\"archive_dir\":\"", rc ? "false" : "true", o.dry_run ? "true" : "false");
        mts_json_escape(stdout, rep.archive_dir);
        printf("\",\"auto_vacuum\":\"%s\",\"freed_pages\":%lld,"
               "\"bytes_before\":%lld,\"bytes_after\":%lld,\"tables\":[", vac_name(rep.auto_vacuum),
               (long long)rep.freed_pages, (long long)rep.bytes_before, (long long)rep.bytes_after);
        for (int t = 0; t < rep.n; t++) {
            const mts_prune_table_report_t *r = &rep.t[t];
            char cut[32];
            iso_ms(r->cutoff_ms, cut, sizeof cut);
            printf("%s{\"table\":\"%s\",\"cutoff\":\"%s\",\"cutoff_ms\":%lld,\"rows\":%lld,\"archived\":%lld,"
                   "\"already_archived\":%lld,\"deleted\":%lld,\"files\":%d,\"batches\":%lld,\"max_batch_ms\":%lld}",
                   t ? "," : "", r->table, cut, (long long)r->cutoff_ms, (long long)r->rows, (long long)r->archived,
                   (long long)r->already, (long long)r->deleted, r->files, (long long)r->batches,
                   (long long)r->max_batch_ms);
        }
        printf("]}\n");
    } else {
        if (!rep.n && !rc)
            printf("nothing to prune: no table has an age (set \"retention\" in config/mts.json or give "
                   "--older-than)\n");
        for (int t = 0; t < rep.n; t++) {
            const mts_prune_table_report_t *r = &rep.t[t];
            char cut[32];
            iso_ms(r->cutoff_ms, cut, sizeof cut);
            if (o.dry_run)
                printf("%-22s %lld rows before %s would be archived and deleted\n", r->table, (long long)r->rows, cut);
            else
                printf("%-22s %lld rows before %s: %lld archived in %d files (%lld already archived), %lld deleted\n",
                       r->table, (long long)r->rows, cut, (long long)r->archived, r->files, (long long)r->already,
                       (long long)r->deleted);
        }
        if (rep.n && !o.dry_run) {
            printf("archives in %s\n", rep.archive_dir);
            if (rep.auto_vacuum == 2)
                printf("file %lld -> %lld bytes (%lld pages given back)\n", (long long)rep.bytes_before,
                       (long long)rep.bytes_after, (long long)rep.freed_pages);
            else
                printf("auto_vacuum is %s: the freed pages stay in the file for new rows; run "
                       "mts prune --enable-incremental-vacuum once (while nothing writes) to give space back\n",
                       vac_name(rep.auto_vacuum));
        }
    }
    mts_store_close(s);
    return rc ? MTS_EXIT_ERROR : MTS_EXIT_OK;
}

/* `mts import archive FILE... [--table T] [--db PATH] [--json]` (argv[0] = "archive") */
enum { I_TABLE, I_DB, I_JSON, I_HELP };
static const mts_cli_opt_t IOPTS[] = {{"--table", 1}, {"--db", 1}, {"--json", 0}, {"--help", 0}, {NULL, 0}};

int mts_cmd_import_archive(int argc, char **argv) {
    const char *table = NULL, *db = NULL, *val, *files[256];
    int nf = 0, json = 0, i = 1;
    for (;;) {
        int k = mts_cli_next("import archive", argc, argv, &i, IOPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return MTS_EXIT_USAGE;
        if (k == MTS_CLI_POSITIONAL) {
            if (nf == 256) { fprintf(stderr, "mts import archive: at most 256 files a run\n"); return MTS_EXIT_USAGE; }
            files[nf++] = val;
            continue;
        }
        switch (k) {
        case I_HELP: usage(stdout); return MTS_EXIT_OK;
        case I_TABLE: table = val; break;
        case I_DB: db = val; break;
        case I_JSON: json = 1; break;
        }
    }
    if (!nf) {
        fprintf(stderr, "mts import archive: name the archive file(s), e.g. mts import archive "
                        "data/archive/trades/2026-11-02.csv.gz\n");
        return MTS_EXIT_USAGE;
    }
    mts_store_t *s = mts_cli_open_store(db);
    if (!s) return MTS_EXIT_ERROR;
    int exit_code = MTS_EXIT_OK;
    if (json) printf("[");
    for (int f = 0; f < nf; f++) {
        int64_t rows = 0, ins = 0;
        int rc = mts_prune_import_archive(s, files[f], table, &rows, &ins);
        if (rc) {
            fprintf(stderr, "mts import archive: %s\n", mts_store_errmsg(s));
            exit_code = MTS_EXIT_ERROR;
        }
        if (json) {
            printf("%s{\"file\":\"", f ? "," : "");
            mts_json_escape(stdout, files[f]);
            printf("\",\"ok\":%s,\"rows\":%lld,\"inserted\":%lld}", rc ? "false" : "true", (long long)rows,
                   (long long)ins);
        }
        else if (!rc)
            printf("%s: %lld rows, %lld stored (%lld were still there)\n", files[f], (long long)rows, (long long)ins,
                   (long long)(rows - ins));
    }
    if (json) printf("]\n");
    mts_store_close(s);
    return exit_code;
}
