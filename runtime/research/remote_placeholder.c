/* remote_placeholder.c — TEMPORARY (optlib helper, issue 13): a stand-in for
 * mts_opt_run_remote so that `mts optimize --redis` links before the workers
 * helper's runtime/research/remote.c is merged. The workers helper DELETES
 * this file when adding remote.c. */
#include "research/research.h"

#include <stdio.h>

int mts_opt_run_remote(const char *redis_url, const char *db_path, const mts_opt_spec_t *spec, int resume,
                       mts_opt_progress_fn progress, void *progress_ctx, const volatile sig_atomic_t *cancel,
                       mts_opt_result_t **results, int64_t *n, char *err, size_t errlen) {
    (void)redis_url, (void)db_path, (void)spec, (void)resume, (void)progress, (void)progress_ctx, (void)cancel;
    if (results) *results = NULL;
    if (n) *n = 0;
    if (err && errlen)
        snprintf(err, errlen, "--redis: running on workers is not built into this mts yet (placeholder)");
    return MTS_EINVAL;
}
