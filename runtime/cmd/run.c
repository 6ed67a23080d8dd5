/* run.c — `mts run`: paper trading on live klines through the backtest engine
 * (runtime/live/live.h drives the feed and the persistence, the Lua runner
 * the strategies; docs/live.md). The feed URLs and timings come from the same
 * environment settings as `mts stream` (cmd.h mts_cli_feed_env), overridden by
 * --ws-url / --rest-url. SIGINT/SIGTERM stop cleanly (session "stopped",
 * exit 0); SIGHUP reloads every strategy. --shadow NAME[:K=V,...] adds shadow
 * strategies (issue 14, docs/live.md "Shadow strategies"): checked here
 * (check_shadow), their capital by mts_live_shadow_capital (live.h, the rule
 * replay uses too), their books outside the account, summarised apart. */
#include "cmd/cmd.h"
#include "backtest/backtest.h"
#include "feeds/event.h"
#include "feeds/ws.h"
#include "cache/cache.h"
#include "live/live.h"
#include "lua/bridge.h"
#include "store/paper.h"
#include "util/log.h"
#include "util/strategies.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LIST 16
#define MAX_PARAMS 64
#define MAX_SHADOWS 8

static volatile sig_atomic_t g_stop, g_hup;
static void on_stop(int sig) { (void)sig; g_stop = 1; }
static void on_hup(int sig) { (void)sig; g_hup = 1; }

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts run --strategy NAME[,NAME] --exchange binance|bybit --symbol SYM[,SYM] --interval I [options]\n\n"
        "Paper trading: the strategies run on the exchange's live klines through the same engine\n"
        "as `mts backtest` (market orders fill at the next bar's open + slippage, limit/stop,\n"
        "stop-loss/take-profit, commission). Before trading they see --warmup bars of history\n"
        "(REST klines, else bars stored by earlier sessions); those bars place no orders.\n"
        "Each closed bar is one step: its signals, fills and equity are stored (paper_sessions,\n"
        "paper_fills, paper_equity, signal_history, live_bars) and printed, one line each.\n"
        "Editing a strategy file (or SIGHUP) reloads it in the running process; a version that\n"
        "fails to load is reported and the old one keeps running.\n"
        "A kline that breaks the import's bar rule, is off the interval's grid or ahead of the\n"
        "clock is refused (logged live.bar_refused, counted); a database locked by another\n"
        "process delays storing (steps retried in order), it does not stop the session. A\n"
        "session whose process was killed is marked crashed by the next mts run or GET /health.\n\n"
        "options:\n"
        "  --strategy LIST        strategies: names in $MTS_STRATEGY_PATH or scripts/strategies, or\n"
        "                         paths to .lua files; only those in $ENABLED_STRATEGIES when set\n"
        "  --exchange NAME        binance (spot klines) or bybit (v5 linear klines)\n"
        "  --symbol LIST          e.g. BTCUSDT,ETHUSDT; the asset is the datasets name in\n"
        "                         config/mts.json (BTCUSDT -> bitcoin), else the lower-case symbol\n"
        "  --interval I           kline interval: " MTS_WS_KLINE_INTERVALS " (Binance also 8h 3d)\n"
        "  --capital X            starting cash (default: config backtest.initial_capital, 100000)\n"
        "  --commission-bps X     per fill (default 10)\n"
        "  --slippage-bps X       against market/stop fills (default 0)\n"
        "  --param [S.]K=V        override a strategy parameter (as in mts backtest)\n"
        "  --warmup N             bars of history before trading (default: config live.warmup, 100)\n"
        "  --duration T           stop after e.g. 30s, 5m, 2h (default: until Ctrl-C / SIGTERM)\n"
        "  --max-bars N           stop after N live bars\n"
        "  --align-ms N           several symbols: hold each closed bar until every symbol has its\n"
        "                         bar of that time, at most N ms after the step's first bar, then\n"
        "                         run the step once with all of them, as a backtest does (default:\n"
        "                         config live.align_ms, else 3000 or a tenth of the interval if\n"
        "                         smaller; 0 = each bar is run as it arrives)\n"
        "  --db PATH              database (default $DATABASE_PATH or data/mts.db)\n"
        "  --redis URL            Redis for the bus and cache (default $REDIS_URL; none: SQLite)\n"
        "  --ws-url URL           websocket base (default $BINANCE_WS_URL or $BYBIT_WS_URL, below)\n"
        "  --rest-url URL         REST base for warm-up and gap backfill (default $BINANCE_REST_URL\n"
        "                         or $BYBIT_REST_URL, below)\n"
        "  --trusted              strategies without the sandbox's time/memory limits\n"
        "  --shadow NAME[:K=V,..] a shadow strategy (repeatable, at most %d): NAME as in --strategy, K=V\n"
        "                         its own parameter overrides. It runs on the same bars in a book of\n"
        "                         its own, outside the account (the live strategies' orders, equity\n"
        "                         and summary never change); its signals and fills are stored, printed\n"
        "                         and published under its label (the text as given) marked shadow,\n"
        "                         and the summary sets it beside the live book (docs/live.md \"Shadow\n"
        "                         strategies\")\n"
        "  --shadow-capital X     each shadow's starting cash (default: the capital of the live book\n"
        "                         of the strategy of the same NAME, else --capital)\n"
        "  --json                 JSON lines on stdout (signals, fills, then a summary)\n\n"
        "%s"
        "The session trades books, instruments, perps' margin and funding as mts backtest does\n"
        "(docs/live.md \"Books, perps and funding\"): a perp pays funding at each settlement from\n"
        "the rates stored in funding_rates (mts stream --channels funding, mts import funding),\n"
        "read at the start and every MTS_MACRO_REFRESH_S seconds (default 60).\n\n"
        "%s"
        "examples:\n"
        "  mts run --strategy sma_cross --exchange binance --symbol BTCUSDT --interval 1m\n"
        "  mts run --strategy sma_cross,mean_reversion --exchange bybit --symbol BTCUSDT,ETHUSDT \\\n"
        "          --interval 5m --warmup 200 --duration 2h --json\n"
        "  mts run --strategy sma_cross --exchange binance --symbol BTCUSDT --interval 1h \\\n"
        "          --param fast=5 --param slow=20 --capital 10000 --db data/paper.db\n"
        "  mts run --strategy sma_cross --exchange binance --symbol BTCUSDT,ETHUSDT --interval 1m \\\n"
        "          --align-ms 1500\n"
        "  mts run --strategy sma_cross,mean_reversion --exchange binance --symbol BTCUSDT --interval 1h \\\n"
        "          --allocate sma_cross=0.7,mean_reversion=0.3 --max-position 0.5\n"
        "  mts run --strategy sma_cross --exchange binance --symbol BTCUSDT --interval 1h --market perp \\\n"
        "          --leverage 3\n"
        "  mts run --strategy sma_cross --exchange binance --symbol BTCUSDT --interval 1m \\\n"
        "          --shadow sma_cross_v2 --shadow sma_cross:fast=5,slow=30    # candidates beside the live one\n"
        "  mts run --strategy sma_cross,mean_reversion --exchange binance --symbol BTCUSDT --interval 1h \\\n"
        "          --shadow mean_reversion:rsi_oversold=25 --shadow-capital 10000\n"
        "  kill -HUP $(pidof mts)    # reload every strategy now\n",
        MAX_SHADOWS, mts_cli_book_help, mts_cli_feed_env_help);
}

static int parse_count(const char *opt, const char *val, int64_t max, int64_t *out) {
    char *end;
    long long v = strtoll(val, &end, 10);
    if (end == val || *end || v < 0 || v > max) {
        fprintf(stderr, "error: %s expects a whole number 0..%lld, got '%s'\n", opt, (long long)max, val);
        return -1;
    }
    *out = v;
    return 0;
}

/* datasets.assets.<name>.symbol == symbol -> name (copied into out) */
static void asset_for_symbol(const char *symbol, char *out, size_t n) {
    char path[4096];
    snprintf(out, n, "%s", symbol);
    for (char *p = out; *p; p++) if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
    if (mts_path_join(path, sizeof path, mts_root(), "/config/mts.json")) return;
    int64_t size = 0;                 /* a FIFO would block fopen; util/config.c reports it */
    if (mts_path_kind(path, &size) != MTS_PATH_REGULAR || size > MTS_CONFIG_MAX_BYTES) return;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = (len + 4096 + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return; }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, 4096, f);
        len += r;
        if (r == 0) break;
    }
    fclose(f);
    buf[len] = 0;
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    const cJSON *assets = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "datasets"), "assets");
    const cJSON *it;
    cJSON_ArrayForEach(it, assets) {
        const cJSON *sym = cJSON_GetObjectItemCaseSensitive(it, "symbol");
        if (cJSON_IsString(sym) && sym->valuestring && !strcasecmp(sym->valuestring, symbol) && it->string) {
            snprintf(out, n, "%s", it->string);
            break;
        }
    }
    cJSON_Delete(root);
}

/* ---- the session's books (issue 12): what the summary and --json show ---- */

typedef struct {
    const char *strategy;     /* the book's strategy (vote: all of them, "a,b") */
    double allocation;
    mts_book_stats_t st;      /* the engine's (initial, equity, fees, funding, ...) */
    int64_t trimmed, refused, short_refused;   /* risk.lua's counts */
} session_book_t;

typedef struct {
    int n;
    session_book_t b[MTS_ENGINE_MAX_BOOKS];
    mts_book_stats_t account; /* book -1 */
    int64_t trimmed, refused, short_refused;
    char joined[1024];
} session_books_t;

static void session_books(mts_engine_t *e, const char *mode, const char *const *strategies, int n_strategies,
                          int32_t n_books, const double *alloc, const mts_run_result_t *res, session_books_t *out) {
    memset(out, 0, sizeof *out);
    size_t jl = 0;
    for (int k = 0; k < n_strategies && jl < sizeof out->joined; k++) {
        int w = snprintf(out->joined + jl, sizeof out->joined - jl, "%s%s", k ? "," : "", strategies[k]);
        if (w > 0) jl += (size_t)w;
    }
    if (mts_engine_book_stats(e, -1, &out->account) != 0) memset(&out->account, 0, sizeof out->account);
    for (int i = 0; res && i < res->n_risk && i < n_strategies; i++) {   /* the live ones (shadows after) */
        out->trimmed += res->risk_trimmed[i];
        out->refused += res->risk_refused[i];
        out->short_refused += res->risk_short_refused[i];
    }
    out->n = mts_engine_account_books(e);   /* the shadows' books: shadow_books() */
    if (out->n < 0) out->n = 0;
    if (out->n > MTS_ENGINE_MAX_BOOKS) out->n = MTS_ENGINE_MAX_BOOKS;
    int own = mode[0] == 'i' && out->n == n_strategies;
    for (int k = 0; k < out->n; k++) {
        session_book_t *b = &out->b[k];
        mts_engine_book_stats(e, k, &b->st);
        b->strategy = own ? strategies[k] : out->joined;
        b->allocation = own && n_books > 0 ? alloc[k] : 1;
        if (own && res && k < res->n_risk) {
            b->trimmed = res->risk_trimmed[k];
            b->refused = res->risk_refused[k];
            b->short_refused = res->risk_short_refused[k];
        } else if (!own) {
            b->trimmed = out->trimmed;
            b->refused = out->refused;
            b->short_refused = out->short_refused;
        }
    }
}

static void json_num(const char *k, double v, int comma) {
    printf("\"%s\":", k);
    mts_json_number(stdout, v);
    if (comma) putchar(',');
}

/* "fees":..,"funding":..,"risk":{..},"books":[..] (the keys of mts backtest --json) */
static void json_books(const session_books_t *sb) {
    const mts_book_stats_t *a = &sb->account;
    json_num("fees", a->fees, 1);
    json_num("funding", a->funding, 1);
    printf("\"risk\":{\"trimmed\":%lld,\"refused\":%lld,\"bp_cut\":%lld,\"bp_refused\":%lld,"
           "\"short_refused\":%lld,\"lot_refused\":%lld,\"liquidations\":%lld},\"books\":[",
           (long long)sb->trimmed, (long long)sb->refused, (long long)a->bp_cut, (long long)a->bp_refused,
           (long long)(a->short_refused + sb->short_refused), (long long)a->lot_refused, (long long)a->liquidations);
    for (int k = 0; k < sb->n; k++) {
        const session_book_t *b = &sb->b[k];
        printf("%s{\"book\":%d,\"strategy\":\"", k ? "," : "", k);
        mts_json_escape(stdout, b->strategy);
        printf("\",");
        json_num("allocation", b->allocation, 1);
        json_num("initial", b->st.initial, 1);
        json_num("final", b->st.equity, 1);
        json_num("pnl", b->st.equity - b->st.initial, 1);
        json_num("return", b->st.initial > 0 ? b->st.equity / b->st.initial - 1 : NAN, 1);
        json_num("fees", b->st.fees, 1);
        json_num("funding", b->st.funding, 1);
        printf("\"fills\":%lld,\"trades\":%lld,\"risk_trimmed\":%lld,\"risk_refused\":%lld,\"bp_cut\":%lld,"
               "\"bp_refused\":%lld,\"short_refused\":%lld,\"liquidations\":%lld}",
               (long long)b->st.fills, (long long)b->st.trades, (long long)b->trimmed, (long long)b->refused,
               (long long)b->st.bp_cut, (long long)b->st.bp_refused, (long long)(b->st.short_refused + b->short_refused),
               (long long)b->st.liquidations);
    }
    printf("]");
}

/* The table: fees and funding, a line per book when there are several, and
 * what limited the orders (only when something did), as mts backtest prints them. */
static void print_books(const session_books_t *sb, const char *market) {
    const mts_book_stats_t *a = &sb->account;
    printf("fees %.2f", a->fees);
    if (strcmp(market, "spot")) printf(", funding %.2f", a->funding);
    if (a->liquidations) printf(", %lld liquidations", (long long)a->liquidations);
    putchar('\n');
    if (sb->n > 1)
        for (int k = 0; k < sb->n; k++) {
            const session_book_t *b = &sb->b[k];
            printf("  book %-18s %5.1f %%  equity %14.2f  pnl %12.2f  fees %10.2f  funding %10.2f  trades %lld\n",
                   b->strategy, b->allocation * 100, b->st.equity, b->st.equity - b->st.initial, b->st.fees,
                   b->st.funding, (long long)b->st.trades);
        }
    for (int k = -1; k < sb->n; k++) {
        int64_t tr, rf, bp, sr;
        const char *who = NULL;
        if (k < 0) {
            tr = sb->trimmed, rf = sb->refused, bp = a->bp_cut + a->bp_refused, sr = a->short_refused + sb->short_refused;
        } else {
            if (sb->n < 2) break;
            const session_book_t *b = &sb->b[k];
            tr = b->trimmed, rf = b->refused, bp = b->st.bp_cut + b->st.bp_refused;
            sr = b->st.short_refused + b->short_refused;
            who = b->strategy;
        }
        mts_cli_print_risk(who, tr, rf, bp, sr);
    }
}

/* ---- shadow strategies (issue 14; docs/live.md "Shadow strategies") ---- */

/* A --shadow label: NAME[:K=V[,K=V...]], printable, no quotes or backslashes
 * (it is written as is into JSON and lines); NAME a strategy that exists and
 * is enabled. 0, or -1 with the message printed. */
static int check_shadow(const char *label, const char *const *live, int n_live, const char *const *prev, int n_prev) {
    size_t nl = strcspn(label, ":");
    for (const char *p = label; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) {
            fprintf(stderr, "mts run: --shadow '%s': quotes, backslashes and control characters are not allowed\n", label);
            return -1;
        }
    if (nl == 0 || nl >= 4096) {
        fprintf(stderr, "mts run: --shadow '%s': expected NAME[:K=V,...], e.g. sma_cross:fast=5,slow=30\n", label);
        return -1;
    }
    if (label[nl] == ':') {
        const char *p = label + nl + 1;
        for (;;) {
            size_t n = strcspn(p, ","), k = strcspn(p, "=");
            if (k == 0 || k >= n || k + 1 == n) {
                fprintf(stderr, "mts run: --shadow '%s': '%.*s' is not KEY=VALUE (NAME:K=V,K=V)\n", label, (int)n, p);
                return -1;
            }
            if (!p[n]) break;
            p += n + 1;
        }
    }
    for (int k = 0; k < n_live; k++)
        if (!strcmp(live[k], label)) {
            fprintf(stderr, "mts run: --shadow %s: a live strategy has that name (a shadow runs other code or "
                            "parameters: give it K=V, e.g. --shadow %s:fast=5)\n", label, label);
            return -1;
        }
    for (int k = 0; k < n_prev; k++)
        if (!strcmp(prev[k], label)) {
            fprintf(stderr, "mts run: --shadow %s is given twice\n", label);
            return -1;
        }
    char name[4096], path[4096], err[1024];
    snprintf(name, sizeof name, "%.*s", (int)nl, label);
    const char *base = name;
    if (mts_strategy_is_path(name)) {
        int64_t size = 0;
        if (mts_path_kind(name, &size) != MTS_PATH_REGULAR) {
            fprintf(stderr, "mts run: --shadow %s: strategy file %s does not exist (or is not a regular file)\n",
                    label, name);
            return -1;
        }
        const char *b = strrchr(name, '/');
        base = b ? b + 1 : name;
        char *dot = strstr(name, ".lua");
        if (dot && !dot[4]) *dot = 0;
    } else if (mts_strategy_find(mts_root(), name, path, sizeof path, err, sizeof err) != MTS_OK) {
        fprintf(stderr, "mts run: --shadow %s: %s\n", label, err);
        return -1;
    }
    if (mts_strategy_enabled(base, err, sizeof err) != MTS_OK) {
        fprintf(stderr, "mts run: --shadow %s: %s\n", label, err);
        return -1;
    }
    return 0;
}

/* The shadows at the end: each one's book beside the live books (the rows of
 * the summary's table and of --json "shadows"). */
typedef struct {
    mts_book_stats_t st;
    int32_t book;
    int64_t trimmed, refused, short_refused;   /* risk.lua's counts (the runner's, after the live ones) */
} shadow_book_t;

static void shadow_books(mts_engine_t *e, int n_strategies, int n_shadows, const mts_run_result_t *res,
                         shadow_book_t *out) {
    int32_t acct = mts_engine_account_books(e);
    for (int j = 0; j < n_shadows; j++) {
        memset(&out[j], 0, sizeof out[j]);
        out[j].book = acct + j;
        if (mts_engine_book_stats(e, acct + j, &out[j].st) != 0) memset(&out[j].st, 0, sizeof out[j].st);
        int k = n_strategies + j;
        if (res && k < res->n_risk) {
            out[j].trimmed = res->risk_trimmed[k];
            out[j].refused = res->risk_refused[k];
            out[j].short_refused = res->risk_short_refused[k];
        }
    }
}

/* The params of shadow `label` from the runner's shadows_json ([{label, strategy, book, params}]). */
static const cJSON *shadow_entry(const cJSON *list, const char *label) {
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(it, "label");
        if (cJSON_IsString(l) && !strcmp(l->valuestring, label)) return it;
    }
    return NULL;
}

static void json_shadows(const char *const *shadows, int n, const shadow_book_t *sh, const char *shadows_json) {
    cJSON *list = shadows_json ? cJSON_Parse(shadows_json) : NULL;
    printf(",\"shadows\":[");
    for (int j = 0; j < n; j++) {
        const mts_book_stats_t *b = &sh[j].st;
        const cJSON *ent = shadow_entry(list, shadows[j]);
        const cJSON *strat = cJSON_GetObjectItemCaseSensitive(ent, "strategy");
        char *params = ent ? cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ent, "params")) : NULL;
        printf("%s{\"label\":\"", j ? "," : "");
        mts_json_escape(stdout, shadows[j]);
        printf("\",\"strategy\":");
        if (cJSON_IsString(strat)) {
            putchar('"');
            mts_json_escape(stdout, strat->valuestring);
            putchar('"');
        } else {
            printf("null");
        }
        printf(",\"params\":%s,\"book\":%d,", params ? params : "null", (int)sh[j].book);
        cJSON_free(params);
        json_num("initial", b->initial, 1);
        json_num("final", b->equity, 1);
        json_num("pnl", b->equity - b->initial, 1);
        json_num("return", b->initial > 0 ? b->equity / b->initial - 1 : NAN, 1);
        json_num("fees", b->fees, 1);
        printf("\"fills\":%lld,\"trades\":%lld,\"risk_trimmed\":%lld,\"risk_refused\":%lld,\"bp_cut\":%lld,"
               "\"bp_refused\":%lld,\"short_refused\":%lld,\"liquidations\":%lld}",
               (long long)b->fills, (long long)b->trades, (long long)sh[j].trimmed, (long long)sh[j].refused,
               (long long)b->bp_cut, (long long)b->bp_refused, (long long)(b->short_refused + sh[j].short_refused),
               (long long)b->liquidations);
    }
    printf("]");
    cJSON_Delete(list);
}

/* live vs shadow: the live books (or the account with one) and each shadow */
static void print_shadows(const session_books_t *sb, const char *const *shadows, int n, const shadow_book_t *sh) {
    printf("live vs shadow:\n  %-32s %14s %14s %12s %9s %7s %7s\n", "strategy", "capital", "equity", "pnl", "return",
           "trades", "fills");
    for (int k = 0; k < (sb->n > 1 ? sb->n : 1); k++) {
        const mts_book_stats_t *b = sb->n > 1 ? &sb->b[k].st : &sb->account;
        const char *who = sb->n > 1 ? sb->b[k].strategy : sb->joined;
        printf("  %-32s %14.2f %14.2f %12.2f %8.2f%% %7lld %7lld\n", who, b->initial, b->equity, b->equity - b->initial,
               b->initial > 0 ? (b->equity / b->initial - 1) * 100 : 0.0, (long long)b->trades, (long long)b->fills);
    }
    for (int j = 0; j < n; j++) {
        const mts_book_stats_t *b = &sh[j].st;
        char who[300];
        snprintf(who, sizeof who, "shadow %s", shadows[j]);
        printf("  %-32s %14.2f %14.2f %12.2f %8.2f%% %7lld %7lld\n", who, b->initial, b->equity, b->equity - b->initial,
               b->initial > 0 ? (b->equity / b->initial - 1) * 100 : 0.0, (long long)b->trades, (long long)b->fills);
    }
    for (int j = 0; j < n; j++) {   /* what limited a shadow's orders (only when something did) */
        const mts_book_stats_t *b = &sh[j].st;
        char who[300];
        snprintf(who, sizeof who, "shadow %s", shadows[j]);
        mts_cli_print_risk(who, sh[j].trimmed, sh[j].refused, b->bp_cut + b->bp_refused, b->short_refused + sh[j].short_refused);
    }
}

enum { O_STRATEGY, O_EXCHANGE, O_SYMBOL, O_INTERVAL, O_CAPITAL, O_COMM, O_SLIP, O_PARAM, O_WARMUP,
       O_DURATION, O_MAXBARS, O_DB, O_REDIS, O_WSURL, O_RESTURL, O_JSON, O_TRUSTED, O_HELP, O_ALIGN,
       O_SHADOW, O_SHADOW_CAP };
static const mts_cli_opt_t OPTS[] = {
    {"--strategy", 1}, {"--exchange", 1}, {"--symbol", 1}, {"--interval", 1}, {"--capital", 1},
    {"--commission-bps", 1}, {"--slippage-bps", 1}, {"--param", 1}, {"--warmup", 1},
    {"--duration", 1}, {"--max-bars", 1}, {"--db", 1}, {"--redis", 1}, {"--ws-url", 1},
    {"--rest-url", 1}, {"--json", 0}, {"--trusted", 0}, {"--help", 0}, {"--align-ms", 1}, {"--shadow", 1},
    {"--shadow-capital", 1}, MTS_CLI_BOOK_OPTS,
    {NULL, 0}};

int mts_cmd_run(int argc, char **argv) {
    char strategies_buf[1024] = "", symbols_buf[1024] = "";
    const char *strategies[MAX_LIST], *symbols[MAX_LIST];
    int n_strategies = 0, n_symbols = 0;
    char *param_buf[MAX_PARAMS];
    const char *pkeys[MAX_PARAMS], *pvals[MAX_PARAMS];
    int n_params = 0;
    const char *exchange_s = NULL, *interval = NULL, *db = NULL, *redis = NULL, *ws_url = NULL, *rest_url = NULL;
    double capital, comm, slip, rf;
    int64_t warmup = 100, duration_ms = 0, max_bars = 0, align_ms = -1;
    int json = 0, trusted = 0, ret = MTS_EXIT_USAGE;
    const char *shadows[MAX_SHADOWS];
    int n_shadows = 0;
    double shadow_capital_opt = 0, shadow_cap[MAX_SHADOWS];
    mts_cli_run_opts_t book;   /* --mode --allocate --max-position ... (cmd/common.c) */
    memset(&book, 0, sizeof book);
    double w;
    if (mts_config_number("live", "warmup", &w) == 0 && w >= 0 && w <= 1000) warmup = (int64_t)w;
    if (mts_config_number("live", "align_ms", &w) == 0) {
        if (!(w >= 0 && w <= 3600000) || w != floor(w)) {
            fprintf(stderr, "mts run: config/mts.json live.align_ms must be a whole number of ms 0..3600000, got %g\n", w);
            return MTS_EXIT_USAGE;
        }
        align_ms = (int64_t)w;
    }
    if (mts_cli_backtest_defaults(&capital, &comm, &slip, &rf) != 0) return MTS_EXIT_USAGE;

    int i = 1;
    const char *val;
    for (;;) {
        int k = mts_cli_next("run", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) goto out;
        if (k == MTS_CLI_POSITIONAL) {
            fprintf(stderr, "mts run: unexpected argument '%s' (see mts run --help)\n", val);
            goto out;
        }
        switch (k) {
        case O_HELP: usage(stdout); ret = MTS_EXIT_OK; goto out;
        case O_STRATEGY:
            snprintf(strategies_buf, sizeof strategies_buf, "%s", val);
            if (mts_cli_split_list("run", "--strategy", strategies_buf, strategies, MAX_LIST, &n_strategies)) goto out;
            break;
        case O_SYMBOL:
            snprintf(symbols_buf, sizeof symbols_buf, "%s", val);
            if (mts_cli_split_list("run", "--symbol", symbols_buf, symbols, MAX_LIST, &n_symbols)) goto out;
            break;
        case O_EXCHANGE: exchange_s = val; break;
        case O_INTERVAL: interval = val; break;
        case O_CAPITAL:
            if (mts_cli_parse_double("--capital", val, &capital)) goto out;
            if (!(capital > 0)) { fprintf(stderr, "error: --capital must be > 0, got %s\n", val); goto out; }
            break;
        case O_COMM:
            if (mts_cli_parse_double("--commission-bps", val, &comm)) goto out;
            if (comm < 0) { fprintf(stderr, "error: --commission-bps must be >= 0, got %s\n", val); goto out; }
            break;
        case O_SLIP:
            if (mts_cli_parse_double("--slippage-bps", val, &slip)) goto out;
            if (slip < 0) { fprintf(stderr, "error: --slippage-bps must be >= 0, got %s\n", val); goto out; }
            break;
        case O_PARAM: {
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || !eq[1]) { fprintf(stderr, "error: --param expects KEY=VALUE, got '%s'\n", val); goto out; }
            if (n_params >= MAX_PARAMS) { fprintf(stderr, "error: at most %d --param options\n", MAX_PARAMS); goto out; }
            char *b = strdup(val);
            if (!b) goto out;
            b[eq - val] = 0;
            param_buf[n_params] = b;
            pkeys[n_params] = b;
            pvals[n_params] = b + (eq - val) + 1;
            n_params++;
            break;
        }
        case O_WARMUP: if (parse_count("--warmup", val, 1000, &warmup)) goto out; break;
        case O_MAXBARS: if (parse_count("--max-bars", val, INT64_MAX / 2, &max_bars)) goto out; break;
        case O_ALIGN: if (parse_count("--align-ms", val, 3600000, &align_ms)) goto out; break;
        case O_DURATION:
            if ((duration_ms = mts_cli_parse_duration(val)) < 0) {
                fprintf(stderr, "error: --duration expects e.g. 30s, 5m, 2h or 500ms, got '%s'\n", val);
                goto out;
            }
            break;
        case O_DB: db = val; break;
        case O_REDIS: redis = val; break;
        case O_WSURL: ws_url = val; break;
        case O_RESTURL: rest_url = val; break;
        case O_JSON: json = 1; break;
        case O_TRUSTED: trusted = 1; break;
        case O_SHADOW:
            if (n_shadows >= MAX_SHADOWS) {
                fprintf(stderr, "mts run: at most %d --shadow options\n", MAX_SHADOWS);
                goto out;
            }
            shadows[n_shadows++] = val;
            break;
        case O_SHADOW_CAP:
            if (mts_cli_parse_double("--shadow-capital", val, &shadow_capital_opt)) goto out;
            if (!(shadow_capital_opt > 0) || !isfinite(shadow_capital_opt)) {
                fprintf(stderr, "error: --shadow-capital must be > 0, got %s\n", val);
                goto out;
            }
            break;
        default:   /* --mode --allocate --max-position --max-portfolio-risk --market --leverage --maker/taker-bps */
            if (mts_cli_run_option("run", OPTS[k].name, val, &book) < 0) goto out;
            break;
        }
    }
    if (!exchange_s) { fprintf(stderr, "mts run: --exchange is required (binance or bybit)\n"); goto out; }
    int exchange = mts_cli_parse_exchange("run", exchange_s);
    if (exchange < 0) goto out;
    mts_cli_feed_env_t fe;
    if (mts_cli_feed_env("run", &fe) != 0) goto out;
    if (n_strategies == 0) { fprintf(stderr, "mts run: --strategy is required, e.g. --strategy sma_cross\n"); goto out; }
    if (mts_cli_strategies("run", strategies, n_strategies, 1)) goto out;
    for (int k = 0; k < n_shadows; k++)
        if (check_shadow(shadows[k], strategies, n_strategies, shadows, k)) goto out;
    if (shadow_capital_opt > 0 && n_shadows == 0) {
        fprintf(stderr, "mts run: --shadow-capital without --shadow (e.g. --shadow sma_cross:fast=5)\n");
        goto out;
    }
    if (n_symbols == 0) { fprintf(stderr, "mts run: --symbol is required, e.g. --symbol BTCUSDT\n"); goto out; }
    if (!interval) { fprintf(stderr, "mts run: --interval is required, e.g. --interval 1m\n"); goto out; }
    if (mts_ws_kline_interval(exchange, interval, NULL, 0) <= 0) {
        fprintf(stderr, "mts run: unknown --interval '%s' for %s (%s%s)\n", interval, exchange_s,
                MTS_WS_KLINE_INTERVALS, exchange == MTS_EXCH_BINANCE ? " 8h 3d" : "");
        goto out;
    }
    for (int k = 0; k < n_symbols; k++) {
        size_t n = strlen(symbols[k]);
        int ok = n > 0 && n < MTS_SYMBOL_MAX;
        for (size_t j = 0; ok && j < n; j++) {
            char c = symbols[k][j];
            ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        }
        if (!ok) {
            fprintf(stderr, "mts run: bad --symbol '%s' (upper-case exchange symbol, e.g. BTCUSDT)\n", symbols[k]);
            goto out;
        }
    }

    char assets_buf[MAX_LIST][64];
    const char *assets[MAX_LIST];
    for (int k = 0; k < n_symbols; k++) {
        asset_for_symbol(symbols[k], assets_buf[k], sizeof assets_buf[k]);
        assets[k] = assets_buf[k];
    }

    /* books as mts backtest makes them (backtest/backtest.h): independent = one per
     * strategy with its share, vote = one */
    const char *mode = book.mode ? book.mode : mts_config_string("books", "mode");
    if (!mode) mode = "independent";
    if (strcmp(mode, "independent") && strcmp(mode, "vote")) {
        fprintf(stderr, "mts run: config/mts.json books.mode is independent or vote, got '%s'\n", mode);
        goto out;
    }
    double alloc[MTS_ENGINE_MAX_BOOKS];
    int32_t n_books = 0;   /* 0: one book with all the capital */
    if (mode[0] == 'i') {
        char aerr[512];
        if (mts_backtest_allocations(mts_root(), book.allocate, strategies, n_strategies, alloc, aerr, sizeof aerr)) {
            fprintf(stderr, "mts run: %s\n", aerr);
            goto out;
        }
        if (n_strategies > 1 || alloc[0] != 1) n_books = n_strategies;
    } else if (book.allocate) {
        fprintf(stderr, "mts run: --allocate splits the capital between the strategies' own books: it needs "
                        "--mode independent (vote trades one book)\n");
        goto out;
    }

    for (int k = 0; k < n_shadows; k++)   /* the one rule (live.h), recorded with the options */
        shadow_cap[k] = mts_live_shadow_capital(shadows[k], strategies, n_strategies, n_books, alloc, capital,
                                                shadow_capital_opt);

    ret = MTS_EXIT_ERROR;
    mts_store_t *store = mts_cli_open_store(mts_cli_db_path(db));
    if (!store) goto out;
    {   /* sessions of killed processes: running -> crashed (store/paper.h states the rule) */
        int64_t crashed = 0;
        if (mts_paper_recover_stale(store, (int64_t)time(NULL), &crashed) != 0)
            mts_log(MTS_LOG_WARN, "run.recover_failed", "\"error\":\"%s\"", mts_store_errmsg(store));
        else if (crashed > 0)
            mts_log(MTS_LOG_INFO, "run.recovered", "\"crashed\":%lld", (long long)crashed);
    }
    g_stop = g_hup = 0;
    mts_cli_on_stop_signals(on_stop);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_hup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);

    mts_live_config_t cfg = {
        .exchange = exchange, .symbols = symbols, .assets = assets, .n_assets = n_symbols,
        .interval = interval,
        .ws_url = ws_url ? ws_url : exchange == MTS_EXCH_BYBIT ? fe.bybit_ws_url : fe.binance_ws_url,
        .rest_url = rest_url ? rest_url : exchange == MTS_EXCH_BYBIT ? fe.bybit_rest_url : fe.binance_rest_url,
        .backoff_ms = fe.backoff_ms, .ping_interval_ms = fe.ping_interval_ms, .idle_timeout_ms = fe.idle_timeout_ms,
        .align_ms = align_ms,
        .strategies = strategies, .n_strategies = n_strategies, .warmup = (int)warmup,
        .duration_ms = duration_ms, .max_bars = max_bars, .capital = capital, .commission_bps = comm,
        .slippage_bps = slip, .store = store, .db_path = mts_cli_db_path(db),
        .redis_url = mts_cache_url_from(redis), .out = stdout, .json = json, .stop = &g_stop, .hup = &g_hup,
        .heartbeat_ms = getenv("MTS_LIVE_HEARTBEAT_MS") ? strtoll(getenv("MTS_LIVE_HEARTBEAT_MS"), NULL, 10) : 0,
        .n_books = n_books, .alloc = alloc, .leverage = book.leverage,
        .instrument = {.market = book.market, .commission_bps = comm, .maker_bps = book.maker_bps,
                       .taker_bps = book.taker_bps, .has_maker = book.has_maker, .has_taker = book.has_taker},
        /* recorded for `mts replay` (docs/live.md "Replay") */
        .mode = mode, .max_position = book.max_position, .max_portfolio_risk = book.max_portfolio_risk,
        .param_keys = pkeys, .param_values = pvals, .n_params = n_params,
        .shadows = shadows, .shadow_capital = shadow_cap, .n_shadows = n_shadows,
        .shadow_capital_opt = shadow_capital_opt,
    };
    char err[1024];
    mts_live_t *live = NULL;
    int rc = mts_live_open(&cfg, &live, err, sizeof err);
    if (rc) {
        fprintf(stderr, "error: %s\n", err);
        mts_store_close(store);
        goto out;
    }
    mts_engine_t *engine = mts_live_engine(live);
    mts_live_summary_t s0;
    mts_live_get_summary(live, &s0);
    const char *market = s0.perps == 0 ? "spot" : s0.perps == n_symbols ? "perp" : "mixed";
    double leverage = s0.perps ? mts_engine_leverage(engine) : 1;
    if (!json) {
        printf("paper session %lld: ", (long long)s0.session_id);
        for (int k = 0; k < n_strategies; k++) printf("%s%s", k ? "," : "", strategies[k]);
        printf(" on %s ", exchange_s);
        for (int k = 0; k < n_symbols; k++) printf("%s%s", k ? "," : "", symbols[k]);
        printf(" %s (warm-up %lld bars); %s mode, %s", interval, (long long)s0.warmup_bars, mode, market);
        if (s0.perps) printf(" x%g", leverage);
        putchar('\n');
        if (n_books > 1) {
            printf("books:");
            for (int k = 0; k < n_books; k++) printf(" %s %.4g %%", strategies[k], alloc[k] * 100);
            putchar('\n');
        }
        if (n_shadows > 0) {
            printf("shadows:");
            for (int k = 0; k < n_shadows; k++) printf("%s %s (capital %.2f)", k ? "," : "", shadows[k], shadow_cap[k]);
            putchar('\n');
        }
        fflush(stdout);
    }
    mts_run_spec_t spec = {
        .engine = engine, .root = mts_root(), .strategies = strategies,
        .n_strategies = n_strategies, .param_keys = pkeys, .param_values = pvals, .n_params = n_params,
        .trusted = trusted, .mode = mode, .max_position = book.max_position,
        .max_portfolio_risk = book.max_portfolio_risk, .shadows = shadows, .n_shadows = n_shadows,
    };
    mts_run_result_t res;
    rc = mts_lua_run_live(&spec, live, &res, err, sizeof err);
    const char *status = "stopped";
    if (rc) {
        const char *why = mts_live_errmsg(live);   /* the session's own cause (e.g. the store's message) */
        fprintf(stderr, "error: %s%s%s\n", err, why && *why ? ": " : "", why && *why ? why : "");
        status = "failed";
    }
    int frc = mts_live_finish(live, status, rc ? NULL : res.parameters_json);
    if (frc) fprintf(stderr, "error: %s\n", mts_live_errmsg(live));
    mts_live_summary_t s;
    mts_live_get_summary(live, &s);
    session_books_t sb;
    session_books(engine, mode, strategies, n_strategies, n_books, alloc, rc ? NULL : &res, &sb);
    shadow_book_t sh[MAX_SHADOWS];
    shadow_books(engine, n_strategies, n_shadows, rc ? NULL : &res, sh);
    if (json) {
        printf("{\"type\":\"session\",\"session\":%lld,\"status\":\"%s\",\"live_bars\":%lld,\"warmup_bars\":%lld,"
               "\"signals\":%lld,\"fills\":%lld,\"final_equity\":",
               (long long)s.session_id, rc || frc ? "failed" : "stopped", (long long)s.live_bars,
               (long long)s.warmup_bars, (long long)s.signals, (long long)s.fills);
        mts_json_number(stdout, s.final_equity);
        printf(",\"duplicates\":%lld,\"gaps\":%lld,\"backfilled\":%lld,\"late\":%lld,\"reconnects\":%lld,"
               "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f,\"samples\":%lld},\"align_ms\":%lld,"
               "\"steps\":%lld,\"steps_incomplete\":%lld,\"second_passes\":%lld,\"refused\":%lld,"
               "\"store_retries\":%lld,\"disabled\":",
               (long long)s.duplicates, (long long)s.gaps, (long long)s.backfilled, (long long)s.late,
               (long long)s.reconnects, s.latency_p50_us, s.latency_p99_us, s.latency_max_us,
               (long long)s.latency_samples, (long long)s.align_ms, (long long)s.steps, (long long)s.steps_incomplete,
               (long long)s.second_passes, (long long)s.refused, (long long)s.store_retries);
        mts_json_string_array(stdout, rc ? NULL : res.disabled, '\n');
        printf(",\"mode\":\"%s\",\"market\":\"%s\",\"leverage\":", mode, market);
        mts_json_number(stdout, leverage);
        printf(",\"funding_events\":%lld,", (long long)s.funding_events);
        json_books(&sb);
        if (n_shadows > 0) json_shadows(shadows, n_shadows, sh, rc ? NULL : res.shadows_json);
        printf("}\n");
    } else {
        printf("session %lld %s: %lld bars (+%lld warm-up), %lld signals, %lld fills, final equity %.2f\n",
               (long long)s.session_id, rc || frc ? "failed" : "stopped", (long long)s.live_bars,
               (long long)s.warmup_bars, (long long)s.signals, (long long)s.fills, s.final_equity);
        if (s.latency_samples > 0)
            printf("kline -> order latency: p50 %.1f us, p99 %.1f us, max %.1f us (%lld steps)\n", s.latency_p50_us,
                   s.latency_p99_us, s.latency_max_us, (long long)s.latency_samples);
        if (s.steps_incomplete || s.second_passes || s.late)
            printf("steps: %lld released incomplete after %lld ms, %lld second passes (late bars), %lld bars refused "
                   "as too late\n", (long long)s.steps_incomplete, (long long)s.align_ms, (long long)s.second_passes,
                   (long long)s.late);
        if (s.duplicates || s.gaps || s.reconnects)
            printf("feed: %lld reconnects, %lld duplicate bars skipped, %lld gaps (%lld bars backfilled)\n",
                   (long long)s.reconnects, (long long)s.duplicates, (long long)s.gaps, (long long)s.backfilled);
        if (s.refused)
            printf("bars refused: %lld (bad values, off the interval's grid or ahead of the clock; see live.bar_refused)\n",
                   (long long)s.refused);
        if (s.store_retries)
            printf("database busy: %lld step commits retried (see live.store_busy)\n", (long long)s.store_retries);
        print_books(&sb, market);
        if (n_shadows > 0) {
            printf("shadows: %lld signals, %lld fills\n", (long long)s.shadow_signals, (long long)s.shadow_fills);
            print_shadows(&sb, shadows, n_shadows, sh);
        }
        if (!rc && res.disabled) printf("disabled strategies:\n%s", res.disabled);
    }
    fflush(stdout);
    ret = rc || frc ? MTS_EXIT_ERROR : (!rc && res.n_disabled > 0 ? MTS_EXIT_PARTIAL : MTS_EXIT_OK);
    if (!rc) mts_run_result_free(&res);
    mts_live_free(live);
    mts_store_close(store);
out:
    for (int k = 0; k < n_params; k++) free(param_buf[k]);
    return ret;
}
