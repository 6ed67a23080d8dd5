/* serve.c — `mts serve`: the REST + WebSocket API (runtime/api/server.h) with
 * JWT auth, rate limits, health, Prometheus metrics and a pool of backtest
 * workers. Options override config/mts.json "api", which overrides the
 * built-in defaults. SIGINT/SIGTERM: stop taking requests, finish the ones in
 * flight (bounded by --grace), exit 0. */
#include "cmd/cmd.h"
#include "api/jwt.h"
#include "api/secret.h"
#include "api/server.h"
#include "util/log.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts serve [options]\n\n"
        "Serves the REST + WebSocket API on one port: GET /health and /metrics (no auth;\n"
        "/health details with a read token),\n"
        "POST /signals/generate, /backtest and /optimize (scope write), GET /backtests[/ID],\n"
        "/optimize/ID, /signals, /paper/sessions[/ID] (scope read) and the websocket /ws, which\n"
        "pushes the event bus (signals, fills, equity, bars, sessions from `mts run`, optimize\n"
        "progress) to clients. The hot data —\n"
        "GET /orderbook/EXCHANGE/SYMBOL, /funding/EXCHANGE/SYMBOL, /market/SYMBOL/INTERVAL —\n"
        "is read from the cache (`mts stream --redis`, `mts run --redis`), else the database.\n"
        "Requests carry 'Authorization: Bearer <JWT>' (HS256; mint one with mts token).\n"
        "See docs/api.md.\n\n"
        "options:\n"
        "  --host ADDR              listen address (default 127.0.0.1; config api.host)\n"
        "  --port N                 port (default 8080; 0 = any free port; config api.port)\n"
        "  --db PATH                database (default $DATABASE_PATH or data/mts.db)\n"
        "  --redis URL              Redis for the bus and the hot reads (default $REDIS_URL,\n"
        "                           config redis_url; 'none' = the SQLite bus, hot data from the\n"
        "                           database only)\n"
        "  --cache-ttl SECONDS      serve a value read from Redis from the server's own L1 this\n"
        "                           long (default 1: a newer value is seen within 1 s; 0 = ask\n"
        "                           Redis every time; config api.cache_ttl_s)\n"
        "  --jwt-secret-file FILE   HS256 secret (default $MTS_JWT_SECRET); at least 32 bytes\n"
        "  --workers N              backtest threads (default 2; config api.workers)\n"
        "  --queue N                jobs waiting for a worker before 503 (default 8)\n"
        "  --rate-limit-write N     POSTs per client per minute (default 10; 0 = unlimited)\n"
        "  --rate-limit-read N      GETs per client per minute (default 300; 0 = unlimited)\n"
        "  --grace SECONDS          on SIGTERM, wait this long for requests in flight (default 30)\n"
        "  --idle-timeout SECONDS   close a connection whose request body does not arrive in full,\n"
        "                           or that sits idle between requests, after this long (default 30;\n"
        "                           config api.idle_timeout_s)\n"
        "  --header-timeout SECONDS close a connection whose request head (request line and\n"
        "                           headers) is not complete this long after it began, however\n"
        "                           steadily it drips (default 10; config api.header_timeout_s)\n"
        "  --max-conns-per-ip N     open connections one client address (IPv6: one /64) may hold;\n"
        "                           more get 503 and are closed (default 64; 0 = no limit; config\n"
        "                           api.max_conns_per_ip). Behind a reverse proxy every client has\n"
        "                           the proxy's address: raise it, or 0\n"
        "  --no-auth                no tokens: every request may write. Local use only: refused\n"
        "                           unless --host is a loopback address\n\n"
        "examples:\n"
        "  export MTS_JWT_SECRET=$(head -c 48 /dev/urandom | base64)\n"
        "  mts serve --port 8080 --workers 4\n"
        "  TOKEN=$(mts token --subject alice --scope write --ttl 1h)\n"
        "  curl -s localhost:8080/health\n"
        "  curl -s -H \"Authorization: Bearer $TOKEN\" localhost:8080/orderbook/binance/BTCUSDT?depth=5\n"
        "  curl -s -H \"Authorization: Bearer $TOKEN\" -d '{\"strategy_name\":\"sma_cross\",\"assets\":[\"bitcoin\"]}' \\\n"
        "       localhost:8080/backtest\n"
        "  mts serve --no-auth --port 9000 --db /tmp/scratch.db\n\n"
        "environment: MTS_JWT_SECRET, DATABASE_PATH, REDIS_URL, MTS_LOG_LEVEL (serve logs one JSON\n"
        "  line per request at info, the default here), MTS_LOG_FORMAT=text,\n"
        "  MTS_STRATEGY_PATH (directories searched before scripts/strategies for strategy_name;\n"
        "  requests name strategies, never paths), ENABLED_STRATEGIES (when set: the only\n"
        "  strategies requests may run; any other is a 400 naming the variable)\n");
}

enum { O_HOST, O_PORT, O_DB, O_REDIS, O_SECRET, O_WORKERS, O_QUEUE, O_RW, O_RR, O_GRACE, O_NOAUTH,
       O_HELP, O_IDLE, O_CACHE_TTL, O_HDR_TIMEOUT, O_PER_IP };
static const mts_cli_opt_t OPTS[] = {
    {"--host", 1}, {"--port", 1}, {"--db", 1}, {"--redis", 1}, {"--jwt-secret-file", 1},
    {"--workers", 1}, {"--queue", 1}, {"--rate-limit-write", 1}, {"--rate-limit-read", 1},
    {"--grace", 1}, {"--no-auth", 0}, {"--help", 0}, {"--idle-timeout", 1}, {"--cache-ttl", 1},
    {"--header-timeout", 1}, {"--max-conns-per-ip", 1}, {NULL, 0}};

/* An integer option in [lo, hi]; prints the error. */
static int int_opt(const char *opt, const char *val, long lo, long hi, int *out) {
    double d;
    if (mts_cli_parse_double(opt, val, &d)) return -1;
    if (d != floor(d) || d < (double)lo || d > (double)hi) {
        fprintf(stderr, "error: %s must be an integer from %ld to %ld, got '%s'\n", opt, lo, hi, val);
        return -1;
    }
    *out = (int)d;
    return 0;
}

static int is_loopback(const char *h) {
    return !strncmp(h, "127.", 4) || !strcmp(h, "::1") || !strcmp(h, "localhost");
}

static void on_listening(int port, void *ud) {
    const mts_api_config_t *c = ud;
    printf("mts serve: listening on http://%s:%d (%d workers, %s)\n", c->host, port, c->workers,
           c->no_auth ? "NO AUTH" : "JWT auth");
    fflush(stdout);
}

static double cfg_num(const char *key, double def) {
    double v;
    return mts_config_number("api", key, &v) == 0 ? v : def;
}

/* An integer setting; -1 (out of range, reported by the caller) when it is not one. */
static int cfg_int(const char *key, int def) {
    double v = cfg_num(key, def);
    return v == floor(v) && v >= 0 && v <= 1e8 ? (int)v : -1;
}

int mts_cmd_serve(int argc, char **argv) {
    double capital, comm, slip, rf;
    if (mts_cli_backtest_defaults(&capital, &comm, &slip, &rf) != 0) return MTS_EXIT_USAGE;
    const char *cfg_host = mts_config_string("api", "host");
    mts_api_config_t c = {
        .host = cfg_host ? cfg_host : "127.0.0.1",
        .port = cfg_int("port", 8080),
        .workers = cfg_int("workers", 2),
        .queue = cfg_int("queue", 8),
        .rate_write = cfg_num("rate_limit_write_per_minute", 10),
        .rate_read = cfg_num("rate_limit_read_per_minute", 300),
        .max_body = (size_t)(cfg_int("max_body_bytes", 65536) < 0 ? 0 : cfg_int("max_body_bytes", 65536)),
        .grace_s = cfg_num("shutdown_grace_s", 30),
        .idle_timeout_s = cfg_int("idle_timeout_s", 30),
        .cache_ttl_s = cfg_int("cache_ttl_s", 1),
        .header_timeout_s = cfg_int("header_timeout_s", 10),
        .max_conns_per_ip = cfg_int("max_conns_per_ip", 64),
        .capital = capital, .commission_bps = comm, .slippage_bps = slip, .risk_free = rf};
    const char *db = NULL, *redis = NULL, *secret_file = NULL;
    int i = 1;
    const char *val;
    for (;;) {
        int k = mts_cli_next("serve", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return MTS_EXIT_USAGE;
        if (k == MTS_CLI_POSITIONAL) {
            fprintf(stderr, "mts serve: unexpected argument '%s' (see mts serve --help)\n", val);
            return MTS_EXIT_USAGE;
        }
        double d;
        switch (k) {
        case O_HELP: usage(stdout); return MTS_EXIT_OK;
        case O_HOST: c.host = val; break;
        case O_PORT: if (int_opt("--port", val, 0, 65535, &c.port)) return MTS_EXIT_USAGE; break;
        case O_DB: db = val; break;
        case O_REDIS: redis = val; break;
        case O_SECRET: secret_file = val; break;
        case O_WORKERS: if (int_opt("--workers", val, 1, 64, &c.workers)) return MTS_EXIT_USAGE; break;
        case O_QUEUE: if (int_opt("--queue", val, 1, 10000, &c.queue)) return MTS_EXIT_USAGE; break;
        case O_RW:
        case O_RR:
            if (mts_cli_parse_double(k == O_RW ? "--rate-limit-write" : "--rate-limit-read", val, &d)) return MTS_EXIT_USAGE;
            if (d < 0) {
                fprintf(stderr, "error: %s must be >= 0 (0 = unlimited), got '%s'\n",
                        k == O_RW ? "--rate-limit-write" : "--rate-limit-read", val);
                return MTS_EXIT_USAGE;
            }
            *(k == O_RW ? &c.rate_write : &c.rate_read) = d;
            break;
        case O_GRACE:
            if (mts_cli_parse_double("--grace", val, &c.grace_s)) return MTS_EXIT_USAGE;
            if (!(c.grace_s > 0)) {
                fprintf(stderr, "error: --grace must be > 0 seconds, got '%s'\n", val);
                return MTS_EXIT_USAGE;
            }
            break;
        case O_NOAUTH: c.no_auth = 1; break;
        case O_IDLE: if (int_opt("--idle-timeout", val, 1, 3600, &c.idle_timeout_s)) return MTS_EXIT_USAGE; break;
        case O_CACHE_TTL: if (int_opt("--cache-ttl", val, 0, 3600, &c.cache_ttl_s)) return MTS_EXIT_USAGE; break;
        case O_HDR_TIMEOUT:
            if (int_opt("--header-timeout", val, 1, 3600, &c.header_timeout_s)) return MTS_EXIT_USAGE;
            break;
        case O_PER_IP: if (int_opt("--max-conns-per-ip", val, 0, 1000000, &c.max_conns_per_ip)) return MTS_EXIT_USAGE; break;
        }
    }
    /* options were checked as they were read: what is out of range here came from the config */
    const char *bad = c.port < 0 || c.port > 65535 ? "port (0..65535)"
                    : c.workers < 1 || c.workers > 64 ? "workers (1..64)"
                    : c.queue < 1 || c.queue > 10000 ? "queue (1..10000)"
                    : !(c.rate_write >= 0) ? "rate_limit_write_per_minute (>= 0)"
                    : !(c.rate_read >= 0) ? "rate_limit_read_per_minute (>= 0)"
                    : c.max_body < 1024 || c.max_body > 16u * 1024 * 1024 ? "max_body_bytes (1024..16777216)"
                    : !(c.grace_s > 0) ? "shutdown_grace_s (> 0)"
                    : c.idle_timeout_s < 1 || c.idle_timeout_s > 3600 ? "idle_timeout_s (1..3600)"
                    : c.cache_ttl_s < 0 || c.cache_ttl_s > 3600 ? "cache_ttl_s (0..3600)"
                    : c.header_timeout_s < 1 || c.header_timeout_s > 3600 ? "header_timeout_s (1..3600)"
                    : c.max_conns_per_ip < 0 || c.max_conns_per_ip > 1000000 ? "max_conns_per_ip (0..1000000)" : NULL;
    if (bad) {
        fprintf(stderr, "error: %s/config/mts.json: api.%s is out of range; fix it or pass the option\n",
                mts_root(), bad);
        return MTS_EXIT_USAGE;
    }
    if (!mts_log_enabled(MTS_LOG_INFO) && !getenv("MTS_LOG_LEVEL")) mts_log_set_level(MTS_LOG_INFO);

    static uint8_t key[MTS_SECRET_MAX];
    size_t keylen = 0;
    if (c.no_auth) {
        if (!is_loopback(c.host)) {
            fprintf(stderr, "error: --no-auth is for local use only and needs a loopback --host "
                            "(127.0.0.1 or ::1), not '%s'; without it, set MTS_JWT_SECRET\n", c.host);
            return MTS_EXIT_USAGE;
        }
        mts_log(MTS_LOG_WARN, "serve.no_auth", "\"detail\":\"authentication is off: every local client may run backtests\"");
    } else {
        char err[512];
        if (mts_api_load_secret(secret_file, key, sizeof key, &keylen, err, sizeof err) != 0) {
            fprintf(stderr, "error: %s\n", err);
            return MTS_EXIT_USAGE;
        }
        c.jwt_key = key;
        c.jwt_key_len = keylen;
    }
    if (!redis) redis = getenv("REDIS_URL");
    if (!redis || !*redis) redis = mts_config_string(NULL, "redis_url");
    if (redis && (!*redis || !strcmp(redis, "none"))) redis = NULL;
    c.redis_url = redis;
    c.db_path = mts_cli_db_path(db);
    c.root = mts_root();     /* resolved here, before any worker thread exists */
    c.on_listening = on_listening;
    c.ud = &c;

    mts_cli_on_stop_signals(on_signal);
    signal(SIGPIPE, SIG_IGN);
    char err[1024] = "";
    int rc = mts_api_serve(&c, &g_stop, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "error: %s\n", err[0] ? err : mts_strerror(rc));
        return rc == MTS_ECONFIG ? MTS_EXIT_USAGE : MTS_EXIT_ERROR;   /* e.g. a malformed --redis URL */
    }
    mts_log(MTS_LOG_INFO, "serve.stopped", "\"ok\":true");
    return MTS_EXIT_OK;
}
