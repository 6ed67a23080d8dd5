/* token.c — `mts token`: mint an HS256 JWT for `mts serve` with the same
 * secret (api/secret.h): sub, scope, iat, nbf and exp claims. */
#include "cmd/cmd.h"
#include "api/jwt.h"
#include "api/secret.h"
#include "util/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: mts token --subject NAME [--scope read|write] [--ttl 1h] [options]\n\n"
        "Prints a JSON Web Token (HS256) for the API of mts serve, signed with the server's\n"
        "secret. Scope read allows the GET routes and /ws; write also allows POST /backtest\n"
        "and POST /signals/generate. The subject names the client in logs and rate limits.\n\n"
        "options:\n"
        "  --subject NAME           the client (claim sub), required\n"
        "  --scope read|write       default read\n"
        "  --ttl TIME               lifetime: 90s, 30m, 1h, 7d or seconds (default 1h; at most 365d)\n"
        "  --jwt-secret-file FILE   the secret (default $MTS_JWT_SECRET), as for mts serve\n"
        "  --json                   {\"token\":..., \"exp\":..., ...} instead of the bare token\n\n"
        "examples:\n"
        "  mts token --subject alice\n"
        "  TOKEN=$(mts token --subject ci --scope write --ttl 15m)\n"
        "  curl -H \"Authorization: Bearer $TOKEN\" localhost:8080/backtests\n");
}

/* "90s" "30m" "1h" "7d" or seconds; -1 when unreadable */
static long long parse_ttl(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || !isfinite(v)) return -1;
    double mult;
    if (!*end || !strcmp(end, "s")) mult = 1;
    else if (!strcmp(end, "m")) mult = 60;
    else if (!strcmp(end, "h")) mult = 3600;
    else if (!strcmp(end, "d")) mult = 86400;
    else return -1;
    double t = v * mult;
    return t >= 1 && t <= 365.0 * 86400 ? (long long)t : -1;
}

enum { O_SUBJECT, O_SCOPE, O_TTL, O_SECRET, O_JSON, O_HELP };
static const mts_cli_opt_t OPTS[] = {{"--subject", 1}, {"--scope", 1}, {"--ttl", 1},
                                     {"--jwt-secret-file", 1}, {"--json", 0}, {"--help", 0}, {NULL, 0}};

int mts_cmd_token(int argc, char **argv) {
    const char *subject = NULL, *scope = "read", *secret_file = NULL;
    long long ttl = 3600;
    int json = 0, i = 1;
    const char *val;
    for (;;) {
        int k = mts_cli_next("token", argc, argv, &i, OPTS, &val);
        if (k == MTS_CLI_DONE) break;
        if (k == MTS_CLI_ERROR) return MTS_EXIT_USAGE;
        if (k == MTS_CLI_POSITIONAL) {
            fprintf(stderr, "mts token: unexpected argument '%s' (see mts token --help)\n", val);
            return MTS_EXIT_USAGE;
        }
        switch (k) {
        case O_HELP: usage(stdout); return MTS_EXIT_OK;
        case O_SUBJECT: subject = val; break;
        case O_SCOPE: scope = val; break;
        case O_TTL:
            if ((ttl = parse_ttl(val)) < 0) {
                fprintf(stderr, "error: --ttl expects a lifetime like 90s, 30m, 1h or 7d (at most 365d), got '%s'\n", val);
                return MTS_EXIT_USAGE;
            }
            break;
        case O_SECRET: secret_file = val; break;
        case O_JSON: json = 1; break;
        }
    }
    if (!subject || !*subject || strlen(subject) > 127) {
        fprintf(stderr, "mts token: --subject NAME is required (1 to 127 characters), e.g. --subject alice\n");
        return MTS_EXIT_USAGE;
    }
    if (strcmp(scope, "read") && strcmp(scope, "write")) {
        fprintf(stderr, "error: --scope must be read or write, got '%s'\n", scope);
        return MTS_EXIT_USAGE;
    }
    static uint8_t key[MTS_SECRET_MAX];
    size_t keylen;
    char err[512];
    if (mts_api_load_secret(secret_file, key, sizeof key, &keylen, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return MTS_EXIT_USAGE;
    }
    long long now = (long long)time(NULL);
    char *payload = NULL;
    size_t plen = 0;
    FILE *f = open_memstream(&payload, &plen);
    if (!f) return MTS_EXIT_ERROR;
    fputs("{\"sub\":\"", f);
    mts_json_escape(f, subject);
    fprintf(f, "\",\"scope\":\"%s\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld}", scope, now, now, now + ttl);
    fclose(f);
    char tok[MTS_JWT_MAX_TOKEN];
    int rc = payload ? mts_jwt_sign_hs256(key, keylen, payload, tok, sizeof tok) : MTS_ENOMEM;
    free(payload);
    if (rc != 0) {
        fprintf(stderr, "error: cannot sign the token: %s\n", mts_strerror(rc));
        return MTS_EXIT_ERROR;
    }
    if (json) {
        printf("{\"token\":\"%s\",\"subject\":\"", tok);
        mts_json_escape(stdout, subject);
        printf("\",\"scope\":\"%s\",\"iat\":%lld,\"exp\":%lld}\n", scope, now, now + ttl);
    } else printf("%s\n", tok);
    return MTS_EXIT_OK;
}
