/* config.c — the install root and config/mts.json (see config.h). */
#include "util/config.h"
#include "mts.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root_buf[PATH_MAX];

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int mts_path_join(char *dst, size_t n, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 1 > n) { dst[0] = 0; return -1; }
    memcpy(dst, a, la);
    memcpy(dst + la, b, lb + 1);
    return 0;
}

static int has_scripts(const char *root) {
    char p[PATH_MAX];
    return mts_path_join(p, sizeof p, root, "/scripts/lib") == 0 && is_dir(p);
}

/* The install of the running binary: the nearest ancestor (up to three
 * levels) with scripts/lib, or <prefix>/share/mts; "" when none. */
static int exe_root(char *out, size_t n) {
    char exe[PATH_MAX];
    out[0] = 0;
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return -1;
    exe[len] = 0;
    /* <root>/bin/mts, or <root>/build-asan/bin/mts: walk up looking for scripts/lib */
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash) break;
        *slash = 0;
        if (has_scripts(exe)) {
            snprintf(out, n, "%s", exe);
            return 0;
        }
        /* FHS install: <prefix>/bin/mts with <prefix>/share/mts */
        if (mts_path_join(out, n, exe, "/share/mts") == 0 && has_scripts(out)) return 0;
        out[0] = 0;
    }
    return -1;
}

static const char *find_root(void) {
    if (root_buf[0]) return root_buf;
    const char *env = getenv("MTS_ROOT");
    if (env && *env) {
        snprintf(root_buf, sizeof root_buf, "%s", env);
        return root_buf;
    }
    if (exe_root(root_buf, sizeof root_buf) == 0) return root_buf;
    snprintf(root_buf, sizeof root_buf, ".");
    return root_buf;
}

static char install_buf[PATH_MAX];
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static void install_init(void) {
    if (exe_root(install_buf, sizeof install_buf) != 0) snprintf(install_buf, sizeof install_buf, "%s", mts_root());
}
const char *mts_install_root(void) {
    pthread_once(&install_once, install_init);
    return install_buf;
}

/* Found once (pthread_once): worker threads of `mts serve` may ask first. */
static pthread_once_t root_once = PTHREAD_ONCE_INIT;
static void root_init(void) { (void)find_root(); }
const char *mts_root(void) {
    pthread_once(&root_once, root_init);
    return root_buf;
}

/* config/mts.json, parsed once (pthread_once, so threads may ask first).
 * NULL when missing or invalid (reported once). */
static cJSON *cfg;
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;
static void cfg_init(void);
static cJSON *load_config(void) {
    pthread_once(&cfg_once, cfg_init);
    return cfg;
}

int32_t mts_path_kind(const char *path, int64_t *size) {
    struct stat st;
    if (size) *size = 0;
    if (!path || stat(path, &st) != 0) return MTS_PATH_NONE;
    if (S_ISREG(st.st_mode)) {
        if (size) *size = (int64_t)st.st_size;
        return MTS_PATH_REGULAR;
    }
    if (S_ISDIR(st.st_mode)) return MTS_PATH_DIR;
    if (S_ISFIFO(st.st_mode)) return MTS_PATH_FIFO;
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return MTS_PATH_DEVICE;
    if (S_ISSOCK(st.st_mode)) return MTS_PATH_SOCKET;
    return MTS_PATH_OTHER;
}

const char *mts_path_kind_name(int32_t kind) {
    switch (kind) {
    case MTS_PATH_NONE: return "nothing";
    case MTS_PATH_REGULAR: return "a regular file";
    case MTS_PATH_DIR: return "a directory";
    case MTS_PATH_FIFO: return "a FIFO";
    case MTS_PATH_DEVICE: return "a device";
    case MTS_PATH_SOCKET: return "a socket";
    default: return "not a file";
    }
}

static void cfg_init(void) {
    char path[PATH_MAX];
    if (mts_path_join(path, sizeof path, mts_root(), "/config/mts.json") != 0) return;
    /* look before opening: a FIFO would block fopen, /dev/zero never ends */
    int64_t size = 0;
    int32_t kind = mts_path_kind(path, &size);
    if (kind == MTS_PATH_NONE) return;
    if (kind != MTS_PATH_REGULAR) {
        fprintf(stderr, "warning: %s: not a regular file (%s); ignored, bundled datasets unavailable\n",
                path, mts_path_kind_name(kind));
        return;
    }
    if (size > MTS_CONFIG_MAX_BYTES) {
        fprintf(stderr, "warning: %s: too large (%lld bytes; the limit is %d); ignored, bundled datasets "
                        "unavailable\n", path, (long long)size, MTS_CONFIG_MAX_BYTES);
        return;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "warning: %s: cannot read: %s; bundled datasets unavailable\n", path, strerror(errno));
        return;
    }
    char *buf = mts_malloc((size_t)MTS_CONFIG_MAX_BYTES + 2);
    if (!buf) { fclose(f); return; }
    size_t got = fread(buf, 1, (size_t)MTS_CONFIG_MAX_BYTES + 1, f);   /* bounded if the size lied */
    fclose(f);
    if (got > (size_t)MTS_CONFIG_MAX_BYTES) {
        fprintf(stderr, "warning: %s: too large (more than %d bytes); ignored, bundled datasets unavailable\n",
                path, MTS_CONFIG_MAX_BYTES);
        mts_free(buf);
        return;
    }
    buf[got] = 0;
    const char *text = buf;
    if (got >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB &&
        (unsigned char)buf[2] == 0xBF)
        text = buf + 3;                   /* a UTF-8 byte order mark */
    cfg = cJSON_Parse(text);
    if (!cfg) {
        const char *at = cJSON_GetErrorPtr();
        long line = 1;
        for (const char *p = text; at && p < at && *p; p++) line += (*p == '\n');
        fprintf(stderr, "warning: %s:%ld: invalid JSON; bundled datasets unavailable\n", path, line);
    }
    mts_free(buf);
}

const char *mts_config_string(const char *section, const char *key) {
    cJSON *cfg = load_config();
    cJSON *sec = section ? cJSON_GetObjectItemCaseSensitive(cfg, section) : cfg;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(sec, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int mts_config_list(const char *section, const char *key, char *buf, size_t len) {
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

int mts_config_number(const char *section, const char *key, double *out) {
    cJSON *cfg = load_config();
    cJSON *sec = section ? cJSON_GetObjectItemCaseSensitive(cfg, section) : cfg;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(sec, key);
    if (!cJSON_IsNumber(v)) return MTS_ENOTFOUND;
    *out = v->valuedouble;
    return 0;
}

int mts_config_dataset(const char *kind, const char *name, const char **file, const char **column) {
    cJSON *ds = cJSON_GetObjectItemCaseSensitive(load_config(), "datasets");
    cJSON *k = cJSON_GetObjectItemCaseSensitive(ds, kind);
    cJSON *d = cJSON_GetObjectItemCaseSensitive(k, name);
    cJSON *f = cJSON_GetObjectItemCaseSensitive(d, "file");
    cJSON *c = cJSON_GetObjectItemCaseSensitive(d, "column");
    if (!cJSON_IsString(f)) return MTS_ENOTFOUND;
    *file = f->valuestring;
    if (column) *column = cJSON_IsString(c) ? c->valuestring : NULL;
    return 0;
}

int mts_config_dataset_file(const char *kind, const char *name, const char *interval, const char **file) {
    cJSON *ds = cJSON_GetObjectItemCaseSensitive(load_config(), "datasets");
    cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ds, kind), name);
    cJSON *iv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "intervals"), interval);
    if (cJSON_IsString(iv)) { *file = iv->valuestring; return 0; }
    cJSON *f = cJSON_GetObjectItemCaseSensitive(d, "file"), *fi = cJSON_GetObjectItemCaseSensitive(d, "interval");
    if (!cJSON_IsString(f) || strcmp(cJSON_IsString(fi) ? fi->valuestring : "1d", interval) != 0)
        return MTS_ENOTFOUND;
    *file = f->valuestring;
    return 0;
}

char *mts_config_dataset_names(const char *kind) {
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

/* mts_config_site (config.h) */
cJSON *mts_config_site(const char *root) {
    if (!root) root = mts_root();
    char path[4096];
    if (snprintf(path, sizeof path, "%s/config/mts.json", root) >= (int)sizeof path) return NULL;
    int64_t size = 0;
    if (mts_path_kind(path, &size) != MTS_PATH_REGULAR || size > MTS_CONFIG_MAX_BYTES) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = mts_malloc((size_t)size + 1);
    size_t got = text ? fread(text, 1, (size_t)size, f) : 0;
    fclose(f);
    if (!text) return NULL;
    text[got] = 0;
    const char *t = text;
    if (got >= 3 && (unsigned char)t[0] == 0xEF && (unsigned char)t[1] == 0xBB && (unsigned char)t[2] == 0xBF) t += 3;
    cJSON *j = cJSON_Parse(t);
    mts_free(text);
    if (j && !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}
