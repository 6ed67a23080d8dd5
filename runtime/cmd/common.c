/* common.c — helpers shared by the commands (see cmd.h): where the install
 * root and the database are, opening the store with a readable error, parsing
 * dates given on the command line, and importing bundled data on first use. */
#include "cmd/cmd.h"
#include "util/timeutil.h"
#include "util/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root_buf[PATH_MAX];
static char db_buf[PATH_MAX];

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* dst = a + b; 0, or -1 (dst empty) when it does not fit. */
static int path_join(char *dst, size_t n, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 1 > n) { dst[0] = 0; return -1; }
    memcpy(dst, a, la);
    memcpy(dst + la, b, lb + 1);
    return 0;
}

static int has_scripts(const char *root) {
    char p[PATH_MAX];
    return path_join(p, sizeof p, root, "/scripts/lib") == 0 && is_dir(p);
}

const char *mts_cli_root(void) {
    if (root_buf[0]) return root_buf;
    const char *env = getenv("MTS_ROOT");
    if (env && *env) {
        snprintf(root_buf, sizeof root_buf, "%s", env);
        return root_buf;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        /* <root>/bin/mts, or <root>/build-asan/bin/mts: walk up looking for scripts/lib */
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = 0;
            if (has_scripts(exe)) {
                snprintf(root_buf, sizeof root_buf, "%s", exe);
                return root_buf;
            }
            /* FHS install: <prefix>/bin/mts with <prefix>/share/mts */
            if (path_join(root_buf, sizeof root_buf, exe, "/share/mts") == 0 && has_scripts(root_buf))
                return root_buf;
            root_buf[0] = 0;
        }
    }
    snprintf(root_buf, sizeof root_buf, ".");
    return root_buf;
}

const char *mts_cli_db_path(const char *opt) {
    if (opt && *opt) return opt;
    const char *env = getenv("DATABASE_PATH");
    if (env && *env) return env;
    snprintf(db_buf, sizeof db_buf, "%s/data/mts.db", mts_cli_root());
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

/* config/mts.json, parsed once. NULL when missing or invalid (reported once). */
static cJSON *load_config(void) {
    static cJSON *cfg;
    static int tried;
    if (tried) return cfg;
    tried = 1;
    char path[PATH_MAX];
    if (path_join(path, sizeof path, mts_cli_root(), "/config/mts.json") != 0) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = mts_malloc((size_t)len + 1);
    if (!buf) { fclose(f); return NULL; }
    size_t got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    buf[got] = 0;
    cfg = cJSON_Parse(buf);
    if (!cfg) {
        const char *at = cJSON_GetErrorPtr();
        long line = 1;
        for (const char *p = buf; at && p < at && *p; p++) line += (*p == '\n');
        fprintf(stderr, "warning: %s:%ld: invalid JSON; bundled datasets unavailable\n", path, line);
    }
    mts_free(buf);
    return cfg;
}

const char *mts_cli_config_string(const char *section, const char *key) {
    cJSON *cfg = load_config();
    cJSON *sec = section ? cJSON_GetObjectItemCaseSensitive(cfg, section) : cfg;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(sec, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int mts_cli_config_list(const char *section, const char *key, char *buf, size_t len) {
    cJSON *cfg = load_config();
    cJSON *sec = section ? cJSON_GetObjectItemCaseSensitive(cfg, section) : cfg;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(sec, key);
    if (!cJSON_IsArray(v) || len == 0) return MTS_ENOTFOUND;
    size_t used = 0;
    buf[0] = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it)) return MTS_ECONFIG;
        size_t n = strlen(it->valuestring);
        if (used + n + 2 > len) return MTS_ERANGE;
        if (used) buf[used++] = ',';
        memcpy(buf + used, it->valuestring, n + 1);
        used += n;
    }
    return used ? 0 : MTS_ENOTFOUND;
}

int mts_cli_config_number(const char *section, const char *key, double *out) {
    cJSON *cfg = load_config();
    cJSON *sec = section ? cJSON_GetObjectItemCaseSensitive(cfg, section) : cfg;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(sec, key);
    if (!cJSON_IsNumber(v)) return MTS_ENOTFOUND;
    *out = v->valuedouble;
    return 0;
}

static cJSON *dataset(const char *kind, const char *name) {
    cJSON *ds = cJSON_GetObjectItemCaseSensitive(load_config(), "datasets");
    cJSON *k = cJSON_GetObjectItemCaseSensitive(ds, kind);
    return cJSON_GetObjectItemCaseSensitive(k, name);
}

char *mts_cli_dataset_names(const char *kind) {
    cJSON *ds = cJSON_GetObjectItemCaseSensitive(load_config(), "datasets");
    cJSON *k = cJSON_GetObjectItemCaseSensitive(ds, kind);
    size_t cap = 256, len = 0;
    char *out = mts_malloc(cap);
    if (!out) return NULL;
    out[0] = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, k) {
        size_t need = strlen(it->string) + 3;
        if (len + need >= cap) {
            char *n = mts_realloc(out, cap = (cap + need) * 2);
            if (!n) { mts_free(out); return NULL; }
            out = n;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? ", " : "", it->string);
    }
    return out;
}

static int import_bundled(mts_store_t *s, const char *kind, const char *name) {
    cJSON *d = dataset(kind, name);
    cJSON *file = cJSON_GetObjectItemCaseSensitive(d, "file");
    if (!cJSON_IsString(file)) return MTS_ENOTFOUND;
    char path[PATH_MAX], rel[PATH_MAX];
    if (path_join(rel, sizeof rel, "/", file->valuestring) != 0 ||
        path_join(path, sizeof path, mts_cli_root(), rel) != 0) return MTS_ERANGE;
    mts_import_report_t rep = {0};
    int rc;
    if (strcmp(kind, "assets") == 0) {
        rc = mts_csv_import_ohlcv(s, path, name, stderr, &rep);
    } else {
        cJSON *col = cJSON_GetObjectItemCaseSensitive(d, "column");
        rc = mts_csv_import_macro(s, path, name, cJSON_IsString(col) ? col->valuestring : NULL,
                                  stderr, &rep);
    }
    if (rc != 0 && rc != MTS_EPARTIAL) {
        fprintf(stderr, "error: importing bundled %s: %s\n", path, mts_store_errmsg(s));
        return rc;
    }
    mts_log(MTS_LOG_INFO, "import.bundled", "\"name\":\"%s\",\"file\":\"%s\",\"rows\":%lld,\"rejected\":%lld",
            name, file->valuestring, (long long)rep.rows_ok, (long long)rep.rows_rejected);
    return 0;
}

int mts_cli_ensure_asset(mts_store_t *s, const char *asset) {
    int64_t n = 0;
    int rc = mts_store_count_ohlcv(s, asset, &n);
    if (rc != 0) return rc;
    if (n > 0) return 0;
    return import_bundled(s, "assets", asset);
}

int mts_cli_ensure_macro(mts_store_t *s, const char *indicator) {
    int64_t n = 0;
    int rc = mts_store_count_macro(s, indicator, &n);
    if (rc != 0) return rc;
    if (n > 0) return 0;
    return import_bundled(s, "macro", indicator);
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
