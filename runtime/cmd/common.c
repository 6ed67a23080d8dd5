/* common.c — helpers shared by the commands (see cmd.h): where the install
 * root and the database are, opening the store with a readable error, parsing
 * dates, durations and exchange names given on the command line, and the
 * exchange feed settings from the environment (mts stream and mts run). */
#include "cmd/cmd.h"
#include "util/strategies.h"
#include "market/interval.h"
#include "feeds/event.h"
#include "feeds/ws.h"
#include "util/timeutil.h"
#include "util/log.h"
#include "util/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char db_buf[PATH_MAX];

/* mkdir -p for a directory path; 0 when it exists afterwards. */
static int make_dirs(const char *path) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) return -1;
    for (char *c = p + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
        *c = '/';
    }
    return mkdir(p, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* --db, else $DATABASE_PATH, else <root>/data/mts.db when <root>/data is
 * writable (a source tree, or an install owned by this user), else the user's
 * data directory: $XDG_DATA_HOME/mts/mts.db or ~/.local/share/mts/mts.db
 * (created on first use), so an installed binary under /usr/local works for
 * every user. */
const char *mts_cli_db_path(const char *opt) {
    if (opt && *opt) return opt;
    const char *env = getenv("DATABASE_PATH");
    if (env && *env) return env;
    char data[PATH_MAX - 16];
    snprintf(data, sizeof data, "%s/data", mts_root());
    if (access(data, W_OK) == 0) {
        snprintf(db_buf, sizeof db_buf, "%s/mts.db", data);
        return db_buf;
    }
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char dir[PATH_MAX - 16];
    if (xdg && *xdg == '/') snprintf(dir, sizeof dir, "%s/mts", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.local/share/mts", home);
    else {
        snprintf(db_buf, sizeof db_buf, "%s/mts.db", data);   /* nowhere better: say so on open */
        return db_buf;
    }
    make_dirs(dir);
    snprintf(db_buf, sizeof db_buf, "%s/mts.db", dir);
    return db_buf;
}

mts_store_t *mts_cli_open_store(const char *path) {
    mts_store_t *s = NULL;
    int rc = mts_store_open(path, &s);
    if (rc != 0) {
        const char *msg = mts_store_errmsg(s);
        fprintf(stderr, "error: cannot open the database: %s\n"
                        "  (check the path, or choose another with --db PATH or DATABASE_PATH)\n",
                msg && *msg ? msg : mts_strerror(rc));
        mts_store_close(s);
        return NULL;
    }
    return s;
}

int mts_cli_parse_time(const char *opt, const char *val, int64_t *out) {
    if (!val || mts_time_parse(val, strlen(val), out) != 0) {
        fprintf(stderr, "error: %s: cannot read '%s' as a date (use YYYY-MM-DD, an ISO-8601 "
                        "date-time or unix seconds)\n", opt, val ? val : "");
        return MTS_EPARSE;
    }
    return 0;
}

int mts_cli_backtest_defaults(double *capital, double *commission_bps, double *slippage_bps,
                              double *risk_free) {
    *capital = 100000;
    *commission_bps = 10;
    *slippage_bps = 0;
    *risk_free = 0;
    mts_config_number("backtest", "initial_capital", capital);
    mts_config_number("backtest", "commission_bps", commission_bps);
    mts_config_number("backtest", "slippage_bps", slippage_bps);
    mts_config_number("backtest", "risk_free_rate", risk_free);
    const char *rf_env = getenv("RISK_FREE_RATE");
    if (rf_env && *rf_env && mts_cli_parse_double("RISK_FREE_RATE", rf_env, risk_free) != 0) return -1;
    return 0;
}

int mts_cli_split_list(const char *cmd, const char *opt, char *buf, const char **out, int max,
                       int *n) {
    *n = 0;
    for (char *tok = buf;;) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = 0;
        while (*tok == ' ') tok++;
        if (!*tok) {
            fprintf(stderr, "mts %s: %s has an empty item (give NAME,NAME,...)\n", cmd, opt);
            return -1;
        }
        if (*n >= max) {
            fprintf(stderr, "mts %s: %s: at most %d items\n", cmd, opt, max);
            return -1;
        }
        out[(*n)++] = tok;
        if (!comma) break;
        tok = comma + 1;
    }
    return 0;
}

void mts_cli_on_stop_signals(void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Levenshtein distance, for "did you mean" suggestions. */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t x = d[i - 1][j] + 1, y = d[i][j - 1] + 1;
            d[i][j] = c < x ? (c < y ? c : y) : (x < y ? x : y);
        }
    return d[la][lb];
}

const char *mts_cli_suggest(const char *word, const char *const *candidates) {
    const char *best = NULL;
    size_t bd = 4;
    for (size_t i = 0; candidates[i]; i++) {
        size_t dd = edit_distance(word, candidates[i]);
        if (dd < bd) { bd = dd; best = candidates[i]; }
    }
    return best;
}

int mts_cli_parse_double(const char *opt, const char *val, double *out) {
    char *end = NULL;
    errno = 0;
    double v = val ? strtod(val, &end) : 0;
    if (!val || !*val || *end || errno == ERANGE || v != v) {
        fprintf(stderr, "error: %s expects a number, got '%s'\n", opt, val ? val : "");
        return MTS_EPARSE;
    }
    *out = v;
    return 0;
}

int mts_cli_next(const char *cmd, int argc, char **argv, int *i, const mts_cli_opt_t *opts,
                 const char **val) {
    if (*i >= argc) return MTS_CLI_DONE;
    const char *a = argv[(*i)++];
    *val = NULL;
    if (a[0] != '-' || a[1] == 0) { *val = a; return MTS_CLI_POSITIONAL; }
    if (strcmp(a, "-h") == 0) a = "--help";
    const char *eq = strchr(a, '=');
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    for (int k = 0; opts[k].name; k++) {
        if (strlen(opts[k].name) != nlen || strncmp(opts[k].name, a, nlen) != 0) continue;
        if (!opts[k].has_arg) {
            if (eq) {
                fprintf(stderr, "mts %s: option %s takes no value\n", cmd, opts[k].name);
                return MTS_CLI_ERROR;
            }
            return k;
        }
        if (eq) { *val = eq + 1; return k; }
        if (*i >= argc) {
            fprintf(stderr, "mts %s: option %s needs a value (see mts %s --help)\n", cmd,
                    opts[k].name, cmd);
            return MTS_CLI_ERROR;
        }
        *val = argv[(*i)++];
        return k;
    }
    const char *names[64];
    int n = 0;
    for (int k = 0; opts[k].name && n < 63; k++) names[n++] = opts[k].name;
    names[n] = NULL;
    char word[64];
    snprintf(word, sizeof word, "%.*s", (int)(nlen < 63 ? nlen : 63), a);
    const char *near = mts_cli_suggest(word, names);
    fprintf(stderr, "mts %s: unknown option '%s'", cmd, word);
    if (near) fprintf(stderr, "; did you mean '%s'?", near);
    fprintf(stderr, " (see mts %s --help)\n", cmd);
    return MTS_CLI_ERROR;
}

int64_t mts_cli_parse_duration(const char *s) {
    if (!s) return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || !isfinite(v)) return -1;
    double mult;
    if (!*end || !strcmp(end, "s")) mult = 1000;
    else if (!strcmp(end, "ms")) mult = 1;
    else if (!strcmp(end, "m")) mult = 60000;
    else if (!strcmp(end, "h")) mult = 3600000;
    else return -1;
    double ms = v * mult;
    if (ms < 1 || ms > 9e15) return -1;
    return (int64_t)ms;
}

int mts_cli_parse_exchange(const char *cmd, const char *name) {
    if (name && !strcmp(name, "binance")) return MTS_EXCH_BINANCE;
    if (name && !strcmp(name, "bybit")) return MTS_EXCH_BYBIT;
    static const char *const names[] = {"binance", "bybit", NULL};
    const char *near = name ? mts_cli_suggest(name, names) : NULL;
    fprintf(stderr, "mts %s: unknown exchange '%s'%s%s%s (binance or bybit)\n", cmd, name ? name : "",
            near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    return -1;
}

const char mts_cli_feed_env_help[] =
    "environment (the same for mts stream and mts run; the systemd units read /etc/mts/env):\n"
    "  BINANCE_WS_URL           " MTS_WS_BINANCE_URL "\n"
    "  BINANCE_FUTURES_WS_URL   " MTS_WS_BINANCE_FUTURES_URL " (funding, mts stream)\n"
    "  BINANCE_REST_URL         " MTS_REST_BINANCE_URL " (depth snapshots, klines)\n"
    "  BYBIT_WS_URL             " MTS_WS_BYBIT_URL "\n"
    "  BYBIT_REST_URL           " MTS_REST_BYBIT_URL " (klines, mts run)\n"
    "  MTS_WS_PING_INTERVAL_MS  Bybit {\"op\":\"ping\"} interval (20000)\n"
    "  MTS_WS_BACKOFF_MS        first reconnect delay, doubling up to 30 s (500)\n"
    "  MTS_WS_IDLE_TIMEOUT_MS   reconnect after this long without a message (60000)\n"
    "  MTS_WS_HANDSHAKE_TIMEOUT_MS  give up a connection not upgraded by then, then retry (10000)\n"
    "  MTS_WS_MAX_MESSAGE_BYTES one message larger than this drops the connection (16777216)\n"
    "  ws:// and http:// URLs work for local stand-ins.\n\n";

static int env_url(const char *cmd, const char *name, const char *def, int ws, const char **out) {
    const char *v = getenv(name);
    *out = def;
    if (!v || !*v) return 0;
    int ok = ws ? (!strncmp(v, "ws://", 5) || !strncmp(v, "wss://", 6))
                : (!strncmp(v, "http://", 7) || !strncmp(v, "https://", 8));
    if (!ok) {
        fprintf(stderr, "mts %s: %s must be a %s URL, got '%s' (e.g. %s; unset it for the default)\n", cmd,
                name, ws ? "ws:// or wss://" : "http:// or https://", v, def);
        return -1;
    }
    *out = v;
    return 0;
}

static int env_ms(const char *cmd, const char *name, int def, int *out) {
    const char *v = getenv(name);
    *out = def;
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (*end || errno || n <= 0 || n > 100000000) {
        fprintf(stderr, "mts %s: %s expects milliseconds 1..100000000, got '%s' (unset it for %d)\n", cmd,
                name, v, def);
        return -1;
    }
    *out = (int)n;
    return 0;
}

int mts_cli_feed_env(const char *cmd, mts_cli_feed_env_t *o) {
    memset(o, 0, sizeof *o);
    if (env_url(cmd, "BINANCE_WS_URL", MTS_WS_BINANCE_URL, 1, &o->binance_ws_url) ||
        env_url(cmd, "BINANCE_FUTURES_WS_URL", MTS_WS_BINANCE_FUTURES_URL, 1, &o->binance_futures_ws_url) ||
        env_url(cmd, "BINANCE_REST_URL", MTS_REST_BINANCE_URL, 0, &o->binance_rest_url) ||
        env_url(cmd, "BYBIT_WS_URL", MTS_WS_BYBIT_URL, 1, &o->bybit_ws_url) ||
        env_url(cmd, "BYBIT_REST_URL", MTS_REST_BYBIT_URL, 0, &o->bybit_rest_url) ||
        env_ms(cmd, "MTS_WS_PING_INTERVAL_MS", 20000, &o->ping_interval_ms) ||
        env_ms(cmd, "MTS_WS_BACKOFF_MS", 500, &o->backoff_ms) ||
        env_ms(cmd, "MTS_WS_IDLE_TIMEOUT_MS", 60000, &o->idle_timeout_ms) ||
        env_ms(cmd, "MTS_WS_HANDSHAKE_TIMEOUT_MS", 10000, &o->handshake_timeout_ms))
        return -1;
    o->max_message_bytes = (long)MTS_WS_MAX_MESSAGE;
    const char *mm = getenv("MTS_WS_MAX_MESSAGE_BYTES");
    if (mm && *mm) {
        char *end;
        errno = 0;
        long n = strtol(mm, &end, 10);
        if (*end || errno || n < 1024 || n > (1L << 30)) {
            fprintf(stderr, "mts %s: MTS_WS_MAX_MESSAGE_BYTES expects bytes 1024..1073741824, got '%s' "
                    "(unset it for %zu)\n", cmd, mm, MTS_WS_MAX_MESSAGE);
            return -1;
        }
        o->max_message_bytes = n;
    }
    /* the defaults of every websocket client of this process: mts run's too */
    mts_ws_set_default_limits(o->handshake_timeout_ms, (size_t)o->max_message_bytes);
    return 0;
}

static int run_usage_error(const char *cmd, const char *msg, const char *arg) {
    fprintf(stderr, "mts %s: %s%s%s%s (see mts %s --help)\n", cmd, msg, arg ? " '" : "", arg ? arg : "",
            arg ? "'" : "", cmd);
    return -1;
}

const char mts_cli_book_help[] =
    "books, risk and instruments (docs/strategies.md, \"Books, risk and instruments\"):\n"
    "  --mode M              independent (default; config/mts.json books.mode): each strategy\n"
    "                        trades its own book with its share of the capital, its signals\n"
    "                        aggregated and sized among its own; vote: one book, signals of all\n"
    "                        strategies aggregated (confidence x weight)\n"
    "                          e.g. --mode vote\n"
    "  --allocate LIST       shares of the capital per strategy (independent), NAME=FRACTION,...;\n"
    "                        strategies not named share the rest equally (default: equal shares,\n"
    "                        or config books.allocate)\n"
    "                          e.g. --allocate sma_cross=0.6,mean_reversion=0.4\n"
    "  --max-position F      margin of one position at most F x the book's equity; applies to\n"
    "                        every order, units too (default $MAX_POSITION_SIZE, else config\n"
    "                        risk.max_position, else 0.10)\n"
    "                          e.g. --max-position 0.5\n"
    "  --max-portfolio-risk F  the book's exposure (notional / leverage) at most F x its equity\n"
    "                        (default $MAX_PORTFOLIO_RISK, else config risk.max_portfolio_risk,\n"
    "                        else 0.25)\n"
    "                          e.g. --max-portfolio-risk 1\n"
    "  --market M            spot or perp for every asset (default: config instruments.<asset>.market,\n"
    "                        else spot). Spot refuses shorts; a perp (linear, USDT-margined) has\n"
    "                        isolated margin, funding from the stored rates, liquidation\n"
    "                          e.g. --market perp --leverage 3\n"
    "  --leverage X          perps: notional = margin x X (default 1; at most the instrument's\n"
    "                        max_leverage)\n"
    "  --maker-bps X         fee of LIMIT fills, basis points (default: the instrument's\n"
    "                        maker_fee_bps in config, else --commission-bps)\n"
    "                          e.g. --maker-bps 2 --taker-bps 5\n"
    "  --taker-bps X         fee of MARKET/STOP/stop-loss/take-profit/liquidation fills (default:\n"
    "                        the instrument's taker_fee_bps, else --commission-bps)\n\n";

int mts_cli_run_option(const char *cmd, const char *name, const char *val, mts_cli_run_opts_t *r) {
    if (!strcmp(name, "--mode")) {
        if (strcmp(val, "independent") && strcmp(val, "vote"))
            return run_usage_error(cmd, "--mode is independent or vote, got", val);
        r->mode = val;
    } else if (!strcmp(name, "--allocate")) {
        if (!*val || !strchr(val, '='))
            return run_usage_error(cmd, "--allocate expects NAME=FRACTION,..., got", val);
        r->allocate = val;
    } else if (!strcmp(name, "--max-position") || !strcmp(name, "--max-portfolio-risk")) {
        double v;
        if (mts_cli_parse_double(name, val, &v)) return -1;
        if (!(v > 0) || !isfinite(v)) {
            char msg[64];
            snprintf(msg, sizeof msg, "%s must be > 0, got", name);
            return run_usage_error(cmd, msg, val);
        }
        if (!strcmp(name, "--max-position")) r->max_position = v;
        else r->max_portfolio_risk = v;
    } else if (!strcmp(name, "--market")) {
        if (strcmp(val, "spot") && strcmp(val, "perp"))
            return run_usage_error(cmd, "--market is spot or perp, got", val);
        r->market = val;
    } else if (!strcmp(name, "--leverage")) {
        if (mts_cli_parse_double("--leverage", val, &r->leverage)) return -1;
        if (!(r->leverage >= 1) || !isfinite(r->leverage))
            return run_usage_error(cmd, "--leverage must be >= 1, got", val);
    } else if (!strcmp(name, "--maker-bps") || !strcmp(name, "--taker-bps")) {
        double v;
        if (mts_cli_parse_double(name, val, &v)) return -1;
        if (v < 0 || !isfinite(v)) {
            char msg[64];
            snprintf(msg, sizeof msg, "%s must be >= 0, got", name);
            return run_usage_error(cmd, msg, val);
        }
        if (name[2] == 'm') { r->maker_bps = v; r->has_maker = 1; }
        else { r->taker_bps = v; r->has_taker = 1; }
    } else if (!strcmp(name, "--from")) {
        if (mts_cli_parse_time("--from", val, &r->from)) return -1;
        r->has_from = 1;
    } else if (!strcmp(name, "--to")) {
        if (mts_cli_parse_time("--to", val, &r->to)) return -1;
        if (strlen(val) == 10 && val[4] == '-') r->to += 86399;   /* a bare date means the whole day */
        r->has_to = 1;
    } else if (!strcmp(name, "--capital")) {
        if (mts_cli_parse_double("--capital", val, &r->capital)) return -1;
        if (!(r->capital > 0)) return run_usage_error(cmd, "--capital must be > 0, got", val);
    } else if (!strcmp(name, "--commission-bps")) {
        if (mts_cli_parse_double("--commission-bps", val, &r->commission_bps)) return -1;
        if (r->commission_bps < 0) return run_usage_error(cmd, "--commission-bps must be >= 0, got", val);
    } else if (!strcmp(name, "--slippage-bps")) {
        if (mts_cli_parse_double("--slippage-bps", val, &r->slippage_bps)) return -1;
        if (r->slippage_bps < 0) return run_usage_error(cmd, "--slippage-bps must be >= 0, got", val);
    } else if (!strcmp(name, "--risk-free")) {
        if (mts_cli_parse_double("--risk-free", val, &r->rf)) return -1;
    } else if (!strcmp(name, "--interval")) {
        if (mts_interval_seconds(val) < 0) {
            fprintf(stderr, "mts %s: --interval: unknown interval '%s' (one of %s)\n", cmd, val, MTS_INTERVALS);
            return -1;
        }
        r->interval = val;
    } else if (!strcmp(name, "--jobs")) {
        char *end;
        long v = strtol(val, &end, 10);
        if (!*val || *end || v < 1 || v > 1024)
            return run_usage_error(cmd, "--jobs expects a whole number 1..1024, got", val);
        r->jobs = (int)v;
    } else {
        return 0;
    }
    return 1;
}

void mts_cli_print_risk(const char *who, int64_t trimmed, int64_t refused, int64_t buying_power,
                        int64_t spot_shorts) {
    if (!trimmed && !refused && !buying_power && !spot_shorts) return;
    printf("  risk%s%s%s:", who ? " (" : "", who ? who : "", who ? ")" : "");
    const char *sep = " ";
    if (trimmed || refused) {
        printf("%s%lld orders trimmed, %lld refused by limits", sep, (long long)trimmed, (long long)refused);
        sep = "; ";
    }
    if (buying_power) {
        printf("%s%lld cut by buying power", sep, (long long)buying_power);
        sep = "; ";
    }
    if (spot_shorts) printf("%s%lld spot shorts refused", sep, (long long)spot_shorts);
    putchar('\n');
}

int mts_cli_strategies(const char *cmd, const char **list, int n, int enabled) {
    char err[1024];
    if (mts_strategy_args(mts_root(), list, n, err, sizeof err) != MTS_OK) {
        fprintf(stderr, "mts %s: %s\n", cmd, err);
        return -1;
    }
    for (int k = 0; enabled && k < n; k++)
        if (mts_strategy_enabled(list[k], err, sizeof err) != MTS_OK) {
            fprintf(stderr, "mts %s: %s\n", cmd, err);
            return -1;
        }
    return 0;
}
