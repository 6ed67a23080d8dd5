/* replay.c — `mts replay ID`: parses and prints; the work is replay/replay.h. */
#include "cmd/cmd.h"
#include "replay/replay.h"
#include "util/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXL 32

static void usage(FILE *f) {
    fprintf(f,
            "usage: mts replay ID [--strategy NAME[,NAME..]] [--param KEY=VALUE ...] [--trust-record] [--json] [--report FILE]\n"
            "                     [--db PATH]\n"
            "\n"
            "Re-runs paper session ID (mts run) from what it recorded: the bars in the order the engine\n"
            "got them, the warm-up, VIX and funding appends, every reload with the files it loaded, its\n"
            "shadow strategies (--shadow: same labels and capitals; their fills are compared too). Without\n"
            "--strategy/--param it reproduces the session's signals, fills and equity and prints\n"
            "\"identical\", or the first divergence (step, what, recorded vs replayed; exit 1).\n"
            "With --strategy or --param it runs that code or those parameters over the same inputs and prints\n"
            "a side-by-side table (trades, PnL, fees, return, drawdown, Sharpe: recorded vs replayed).\n"
            "\n"
            "  --strategy NAME[,..]  strategies to replay instead (files of strategies the session did not\n"
            "                        run are read from the install tree as they are now)\n"
            "  --param KEY=VALUE     parameter override on top of the session's (repeatable)\n"
            "  --report FILE         an HTML report: the table and both equity curves\n"
            "  --trust-record        run recorded versions of scripts/lib/ (aggregator.lua, risk.lua: trusted\n"
            "                        code, outside the sandbox) that differ from the installed ones; without it\n"
            "                        such a record is refused. Only for a database you trust\n"
            "  --json                one JSON object\n"
            "  --db PATH             the database (default: $MTS_DB, else data/mts.db)\n"
            "\n"
            "examples:\n"
            "  mts replay 17\n"
            "  mts replay 17 --strategy mean_reversion_v2 --report replay17.html\n"
            "  mts replay 17 --param fast=5 --json\n");
}

static void side_json(const char *k, const mts_replay_side_t *s) {
    printf("\"%s\":{\"trades\":%lld,\"signals\":%lld,\"pnl\":", k, (long long)s->trades, (long long)s->signals);
    mts_json_number(stdout, s->pnl);
    printf(",\"fees\":");
    mts_json_number(stdout, s->fees);
    printf(",\"return\":");
    mts_json_number(stdout, s->ret);
    printf(",\"max_drawdown\":");
    mts_json_number(stdout, s->max_dd);
    printf(",\"sharpe\":");
    mts_json_number(stdout, s->sharpe);
    printf(",\"final_equity\":");
    mts_json_number(stdout, s->final_equity);
    printf(",\"equity_points\":%lld}", (long long)s->points);
}

static void book_json(const char *k, const mts_replay_book_t *b) {
    printf("\"%s\":{\"fills\":%lld,\"trades\":%lld,\"initial\":", k, (long long)b->fills, (long long)b->trades);
    mts_json_number(stdout, b->initial);
    printf(",\"final_equity\":");
    mts_json_number(stdout, b->final_equity);
    printf(",\"pnl\":");
    mts_json_number(stdout, b->pnl);
    printf(",\"return\":");
    mts_json_number(stdout, b->ret);
    printf(",\"fees\":");
    mts_json_number(stdout, b->fees);
    putchar('}');
}

/* "shadows":[{label, book, recorded:{..}, replayed:{..}}] (issue 14) */
static void shadows_json(const mts_replay_result_t *r) {
    printf(",\"shadows\":[");
    for (int j = 0; j < r->n_shadows; j++) {
        const mts_replay_shadow_t *x = &r->shadows[j];
        printf("%s{\"label\":\"", j ? "," : "");
        mts_json_escape(stdout, x->label);
        printf("\",\"book\":%d,", (int)x->book);
        book_json("recorded", &x->recorded);
        putchar(',');
        book_json("replayed", &x->replayed);
        putchar('}');
    }
    putchar(']');
}

/* live vs shadow: the account and each shadow, recorded and replayed */
static void shadows_table(const mts_replay_result_t *r) {
    printf("live vs shadow:\n  %-32s %12s %14s %14s %12s %9s %7s %7s\n", "strategy", "capital", "recorded eq",
           "replayed eq", "pnl", "return", "trades", "fills");
    printf("  %-32s %12.2f %14.2f %14.2f %12.2f %8.2f%% %7lld %7lld\n", r->strategies, r->capital,
           r->recorded.final_equity, r->replayed.final_equity, r->replayed.pnl, r->replayed.ret * 100,
           (long long)r->live.trades, (long long)r->replayed.trades);
    for (int j = 0; j < r->n_shadows; j++) {
        const mts_replay_shadow_t *x = &r->shadows[j];
        char who[300];
        snprintf(who, sizeof who, "shadow %s", x->label);
        printf("  %-32s %12.2f %14.2f %14.2f %12.2f %8.2f%% %7lld %7lld\n", who, x->replayed.initial,
               x->recorded.final_equity, x->replayed.final_equity, x->replayed.pnl, x->replayed.ret * 100,
               (long long)x->replayed.trades, (long long)x->replayed.fills);
    }
}

int mts_cmd_replay(int argc, char **argv) {
    const char *db = NULL, *report = NULL;
    int json = 0, trust = 0;
    int64_t id = -1;
    char sbuf[1024];
    const char *strategies[MAXL], *pk[MAXL], *pv[MAXL];
    char *pbuf[MAXL];
    int ns = 0, np = 0, ret = MTS_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); ret = MTS_EXIT_OK; goto out; }
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--trust-record")) trust = 1;
        else if ((!strcmp(a, "--db") || !strcmp(a, "--report") || !strcmp(a, "--strategy") || !strcmp(a, "--param"))) {
            if (i + 1 >= argc) { fprintf(stderr, "mts replay: %s needs a value (see mts replay --help)\n", a); goto out; }
            const char *v = argv[++i];
            if (!strcmp(a, "--db")) db = v;
            else if (!strcmp(a, "--report")) report = v;
            else if (!strcmp(a, "--strategy")) {
                snprintf(sbuf, sizeof sbuf, "%s", v);
                if (mts_cli_split_list("replay", "--strategy", sbuf, strategies, MAXL, &ns)) goto out;
            } else {
                const char *eq = strchr(v, '=');
                if (!eq || eq == v || !eq[1]) { fprintf(stderr, "mts replay: --param expects KEY=VALUE, got '%s'\n", v); goto out; }
                if (np >= MAXL) { fprintf(stderr, "mts replay: at most %d --param options\n", MAXL); goto out; }
                char *b = strdup(v);
                if (!b) goto out;
                b[eq - v] = 0;
                pbuf[np] = b;
                pk[np] = b;
                pv[np++] = b + (eq - v) + 1;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "mts replay: unknown option '%s' (see mts replay --help)\n", a);
            goto out;
        } else if (id < 0) {
            char *end;
            long long v = strtoll(a, &end, 10);
            if (*end || v <= 0) { fprintf(stderr, "mts replay: ID must be a paper session id (mts run prints it), got '%s'\n", a); goto out; }
            id = v;
        } else {
            fprintf(stderr, "mts replay: unexpected argument '%s'\n", a);
            goto out;
        }
    }
    if (id < 0) { fprintf(stderr, "mts replay: which session? e.g. mts replay 17 (see mts replay --help)\n"); goto out; }
    ret = MTS_EXIT_ERROR;
    mts_store_t *store = mts_cli_open_store(mts_cli_db_path(db));
    if (!store) goto out;
    mts_replay_opts_t o = {strategies, ns, pk, pv, np, trust};
    mts_replay_result_t r;
    char err[1024];
    int rc = mts_replay_run(store, id, &o, &r, err, sizeof err);
    if (rc) {
        fprintf(stderr, "mts replay: %s\n", err);
        mts_store_close(store);
        goto out;
    }
    if (report) {
        FILE *f = fopen(report, "w");
        if (!f || mts_replay_report_html(f, &r) != 0 || fclose(f) != 0) {
            fprintf(stderr, "mts replay: cannot write the report %s\n", report);
            ret = MTS_EXIT_ERROR;
            mts_replay_result_free(&r);
            mts_store_close(store);
            goto out;
        }
    }
    if (json) {
        printf("{\"session\":%lld,\"strategies\":\"%s\",\"same_code\":%s,\"identical\":%s,\"divergence\":",
               (long long)id, r.strategies, r.same_code ? "true" : "false", r.identical ? "true" : "false");
        if (r.identical) printf("null");
        else {
            putchar('"');
            for (const char *p = r.divergence; *p; p++) {
                if (*p == '"' || *p == '\\') putchar('\\');
                putchar(*p);
            }
            putchar('"');
        }
        printf(",\"divergence_ts\":%lld,\"events\":%lld,\"waits\":%lld,\"reloads\":%lld,\"controls\":%lld,",
               (long long)r.div_ts, (long long)r.events, (long long)r.waits, (long long)r.reloads, (long long)r.controls);
        side_json("recorded", &r.recorded);
        putchar(',');
        side_json("replayed", &r.replayed);
        if (r.n_shadows > 0) shadows_json(&r);
        printf("}\n");
    } else {
        printf("session %lld replayed (%lld events, %lld waits, %lld reloads, %lld control changes) with %s: ",
               (long long)id, (long long)r.events, (long long)r.waits, (long long)r.reloads, (long long)r.controls,
               r.strategies);
        if (r.identical) printf("identical\n");
        else printf("differs from the record at step ts %lld: %s\n", (long long)r.div_ts, r.divergence);
        if (!r.same_code || !r.identical) {
            const mts_replay_side_t *a = &r.recorded, *b = &r.replayed;
            printf("%-16s %16s %16s\n", "", "recorded", "replayed");
            printf("%-16s %16lld %16lld\n", "trades (fills)", (long long)a->trades, (long long)b->trades);
            printf("%-16s %16lld %16lld\n", "signals", (long long)a->signals, (long long)b->signals);
            printf("%-16s %16.2f %16.2f\n", "PnL", a->pnl, b->pnl);
            printf("%-16s %16.2f %16.2f\n", "fees", a->fees, b->fees);
            printf("%-16s %15.4f%% %15.4f%%\n", "return", a->ret * 100, b->ret * 100);
            printf("%-16s %15.4f%% %15.4f%%\n", "max drawdown", a->max_dd * 100, b->max_dd * 100);
            printf("%-16s %16.3f %16.3f\n", "Sharpe", a->sharpe, b->sharpe);
            printf("%-16s %16.2f %16.2f\n", "final equity", a->final_equity, b->final_equity);
        }
        for (int j = 0; j < r.n_shadows; j++)
            printf("shadow %s (book %d): %lld fills recorded, %lld replayed, final equity %.2f recorded, %.2f replayed\n",
                   r.shadows[j].label, (int)r.shadows[j].book, (long long)r.shadows[j].recorded.fills,
                   (long long)r.shadows[j].replayed.fills, r.shadows[j].recorded.final_equity,
                   r.shadows[j].replayed.final_equity);
        if (r.n_shadows > 0) shadows_table(&r);
        if (report) printf("report: %s\n", report);
    }
    /* exit: 0 identical (or another version: a comparison, not a check), 1 a same-code replay that diverged */
    ret = r.identical || !r.same_code ? MTS_EXIT_OK : MTS_EXIT_ERROR;
    mts_replay_result_free(&r);
    mts_store_close(store);
out:
    for (int k = 0; k < np; k++) free(pbuf[k]);
    return ret;
}
