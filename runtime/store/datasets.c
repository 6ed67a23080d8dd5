/* datasets.c — bundled data imported on first use: when the store has no
 * rows for an asset or macro indicator that config/mts.json maps to a file
 * under the root (datasets.assets / datasets.macro), that file is imported.
 * It is imported again when its last import did not finish (killed or failed
 * half-way: store/imports.h), so a prefix is never kept for good; if that
 * fails, the rows there are used (and the unfinished import is warned about).
 * An import of that file still running (in another thread or process: its
 * lock is held) is waited for instead. */
#include "store/imports.h"
#include "market/interval.h"
#include "store/store.h"
#include "util/config.h"
#include "util/log.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* The bundled file of (kind, name) under root; MTS_ENOTFOUND when there is none. */
static int bundled_file(const char *root, const char *kind, const char *name, char *path, size_t n,
                        const char **file, const char **column) {
    char rel[PATH_MAX];
    if (mts_config_dataset(kind, name, file, column) != 0) return MTS_ENOTFOUND;
    if (mts_path_join(rel, sizeof rel, "/", *file) != 0 ||
        mts_path_join(path, n, root, rel) != 0) return MTS_ERANGE;
    return 0;
}

static int import_bundled(mts_store_t *s, const char *root, const char *kind, const char *name, int again) {
    const char *file = NULL, *column = NULL;
    char path[PATH_MAX];
    int rc = bundled_file(root, kind, name, path, sizeof path, &file, &column);
    if (rc) return rc;
    if (again)
        fprintf(stderr, "mts: the last import of %s from %s did not finish; importing it again\n", name, file);
    mts_import_report_t rep = {0};
    if (strcmp(kind, "assets") == 0) {
        rc = mts_csv_import_ohlcv(s, path, name, stderr, &rep);
    } else {
        rc = mts_csv_import_macro(s, path, name, column, stderr, &rep);
    }
    if (rc != 0 && rc != MTS_EPARTIAL) {
        fprintf(stderr, "error: importing bundled %s: %s\n", path, mts_store_errmsg(s));
        return rc;
    }
    fprintf(stderr, "mts: %s of %s: imported %lld rows from %s\n", again ? "re-import" : "first use", name,
            (long long)rep.rows_ok, file);
    mts_log(MTS_LOG_INFO, "import.bundled", "\"name\":\"%s\",\"file\":\"%s\",\"rows\":%lld,\"rejected\":%lld",
            name, file, (long long)rep.rows_ok, (long long)rep.rows_rejected);
    return 0;
}

/* The source name (store/imports.h) of the bundled file of (kind, name). */
static int bundled_source(const char *root, const char *kind, const char *name, char *src, size_t n) {
    const char *file = NULL, *column = NULL;
    char path[PATH_MAX];
    int rc = bundled_file(root, kind, name, path, sizeof path, &file, &column);
    return rc ? rc : mts_imports_source(path, src, n);
}

static int count(mts_store_t *s, int assets, const char *name, int64_t *n) {
    return assets ? mts_store_count_ohlcv(s, name, MTS_INTERVAL_DEFAULT, n) : mts_store_count_macro(s, name, n);
}

static int ensure(mts_store_t *s, const char *root, const char *kind, const char *name) {
    int assets = strcmp(kind, "assets") == 0;
    const char *k = assets ? "ohlcv" : "macro";
    int64_t n = 0;
    int rc = count(s, assets, name, &n);
    if (rc != 0) return rc;
    char src[PATH_MAX];
    int bundled = bundled_source(root, kind, name, src, sizeof src) == 0;
    if (bundled && mts_imports_live(src)) {
        /* another thread or process is importing it (a first use at the same
         * time): let it finish, then look again */
        mts_imports_wait(src);
        if ((rc = count(s, assets, name, &n)) != 0) return rc;
    }
    if (n > 0 && !(bundled && mts_imports_outstanding(s, k, name, src) > 0)) return 0;
    rc = import_bundled(s, root, kind, name, n > 0);
    return rc != 0 && n > 0 ? 0 : rc;   /* re-import failed: keep the rows (the warning stays) */
}

int mts_store_ensure_asset(mts_store_t *s, const char *root, const char *asset) {
    return ensure(s, root, "assets", asset);
}

int mts_store_ensure_macro(mts_store_t *s, const char *root, const char *indicator) {
    return ensure(s, root, "macro", indicator);
}
