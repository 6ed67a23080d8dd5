/* datasets.c — bundled data imported on first use: when the store has no
 * rows for an asset or macro indicator that config/mts.json maps to a file
 * under the root (datasets.assets / datasets.macro), that file is imported. */
#include "store/store.h"
#include "util/config.h"
#include "util/log.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static int import_bundled(mts_store_t *s, const char *root, const char *kind, const char *name) {
    const char *file = NULL, *column = NULL;
    if (mts_config_dataset(kind, name, &file, &column) != 0) return MTS_ENOTFOUND;
    char path[PATH_MAX], rel[PATH_MAX];
    if (mts_path_join(rel, sizeof rel, "/", file) != 0 ||
        mts_path_join(path, sizeof path, root, rel) != 0) return MTS_ERANGE;
    mts_import_report_t rep = {0};
    int rc;
    if (strcmp(kind, "assets") == 0) {
        rc = mts_csv_import_ohlcv(s, path, name, stderr, &rep);
    } else {
        rc = mts_csv_import_macro(s, path, name, column, stderr, &rep);
    }
    if (rc != 0 && rc != MTS_EPARTIAL) {
        fprintf(stderr, "error: importing bundled %s: %s\n", path, mts_store_errmsg(s));
        return rc;
    }
    fprintf(stderr, "mts: first use of %s: imported %lld rows from %s\n", name,
            (long long)rep.rows_ok, file);
    mts_log(MTS_LOG_INFO, "import.bundled", "\"name\":\"%s\",\"file\":\"%s\",\"rows\":%lld,\"rejected\":%lld",
            name, file, (long long)rep.rows_ok, (long long)rep.rows_rejected);
    return 0;
}

int mts_store_ensure_asset(mts_store_t *s, const char *root, const char *asset) {
    int64_t n = 0;
    int rc = mts_store_count_ohlcv(s, asset, &n);
    if (rc != 0) return rc;
    if (n > 0) return 0;
    return import_bundled(s, root, "assets", asset);
}

int mts_store_ensure_macro(mts_store_t *s, const char *root, const char *indicator) {
    int64_t n = 0;
    int rc = mts_store_count_macro(s, indicator, &n);
    if (rc != 0) return rc;
    if (n > 0) return 0;
    return import_bundled(s, root, "macro", indicator);
}

