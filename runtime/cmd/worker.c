/* worker.c — `mts worker`: serve the grid points that `mts optimize --redis`
 * enqueues (research/worker.h; docs/research.md "Workers"). */
#include "cmd/cmd.h"
#include "research/worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts worker --redis URL [--db PATH] [--name NAME] [options]\n\n"
        "Runs the grid points that `mts optimize --redis URL` enqueues on a Redis stream\n"
        "(consumer group mts:workers), as many workers on as many machines as wanted. Each\n"
        "point's result is written to Redis before the job is acknowledged; a job another\n"
        "worker left pending longer than --claim-after (it died) is taken over. The bars\n"
        "and VIX of a grid are fetched from Redis once and imported into the worker's\n"
        "database (an empty one is fine; one that holds other bars of the same series is\n"
        "refused); the strategy sources come from Redis too and run from a private root,\n"
        "so every worker runs the coordinator's code. Stops on SIGINT/SIGTERM after the\n"
        "job at hand.\n\n"
        "options:\n"
        "  --redis URL          redis://[[user]:password@]host[:port][/db], required\n"
        "  --db PATH            the worker's database (default as for every command)\n"
        "  --name NAME          consumer name in the group (default HOST-PID)\n"
        "  --claim-after TIME   take over jobs pending this long on another worker\n"
        "                       (default 30s; longer than the slowest point)\n"
        "  --max-jobs N         stop after N jobs (default: serve until stopped)\n"
        "  --work-dir DIR       where the private roots of the strategy sources go\n"
        "                       (default $TMPDIR/mts-worker-UID)\n"
        "  --quiet              no line per job on stderr\n\n"
        "examples:\n"
        "  mts worker --redis redis://10.0.0.5:6379\n"
        "  mts optimize --strategy sma_cross --asset bitcoin --param fast=5:50:5 --redis redis://10.0.0.5:6379\n");
}

static volatile sig_atomic_t stop_flag;
static void on_stop(int sig) {
    (void)sig;
    stop_flag = 1;
}

enum { O_REDIS, O_DB, O_NAME, O_CLAIM, O_MAX, O_WORKDIR, O_QUIET, O_HELP };
static const mts_cli_opt_t OPTS[] = {{"--redis", 1},   {"--db", 1},       {"--name", 1},  {"--claim-after", 1},
                                     {"--max-jobs", 1}, {"--work-dir", 1}, {"--quiet", 0}, {"--help", 0},
                                     {NULL, 0}};

int mts_cmd_worker(int argc, char **argv) {
    mts_worker_opts_t o;
    memset(&o, 0, sizeof o);
    o.claim_after_ms = MTS_RQ_CLAIM_AFTER_MS;
    const char *db = NULL, *val;
    int i = 1;
    for (;;) {
        int k = mts_cli_next("worker", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return MTS_EXIT_USAGE;
        if (k == MTS_CLI_POSITIONAL) {
            fprintf(stderr, "mts worker: unexpected argument '%s' (see mts worker --help)\n", val);
            return MTS_EXIT_USAGE;
        }
        switch (k) {
        case O_HELP: usage(stdout); return MTS_EXIT_OK;
        case O_REDIS: o.redis_url = val; break;
        case O_DB: db = val; break;
        case O_NAME: o.name = val; break;
        case O_CLAIM:
            if ((o.claim_after_ms = mts_cli_parse_duration(val)) < 0) {
                fprintf(stderr, "mts worker: --claim-after expects a time like 30s, 2m or 500ms, got '%s'\n", val);
                return MTS_EXIT_USAGE;
            }
            break;
        case O_MAX: {
            char *end;
            long long v = strtoll(val, &end, 10);
            if (*end || end == val || v < 1) {
                fprintf(stderr, "mts worker: --max-jobs expects a whole number >= 1, got '%s'\n", val);
                return MTS_EXIT_USAGE;
            }
            o.max_jobs = v;
            break;
        }
        case O_WORKDIR: o.work_dir = val; break;
        case O_QUIET: o.quiet = 1; break;
        }
    }
    if (!o.redis_url || !*o.redis_url) {
        fprintf(stderr, "mts worker: --redis URL is required, e.g. --redis redis://127.0.0.1:6379\n");
        return MTS_EXIT_USAGE;
    }
    if (o.name && (!*o.name || strlen(o.name) > 200)) {
        fprintf(stderr, "mts worker: --name expects 1 to 200 characters\n");
        return MTS_EXIT_USAGE;
    }
    o.db_path = mts_cli_db_path(db);
    o.cancel = &stop_flag;
    mts_cli_on_stop_signals(on_stop);
    char err[1024] = "";
    int rc = mts_worker_run(&o, err, sizeof err);
    if (rc) {
        fprintf(stderr, "error: %s\n", err);
        return rc == MTS_ECONFIG ? MTS_EXIT_USAGE : MTS_EXIT_ERROR;
    }
    return MTS_EXIT_OK;
}
