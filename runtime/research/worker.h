/* worker.h — `mts worker`: runs grid points of `mts optimize --redis` taken
 * from a Redis stream (research/worker.c), and the protocol pieces it shares
 * with the coordinator (research/remote.c, mts_opt_run_remote). The protocol
 * is documented in docs/research.md ("Workers"). Needs research.h,
 * cache/rconn.h (the project's Redis connection), OpenSSL (SHA-256).
 *
 * Keys (all grids share the stream and the group):
 *   mts:research:jobs                 stream; entries {grid, index}
 *   group mts:workers                 the consumer group the workers read
 *   mts:research:<grid>:spec          string: the spec as JSON (mts_remote_spec_json)
 *   mts:research:<grid>:enqueued      string: how many points (0..k-1) were XADDed
 *   mts:research:<grid>:results       hash: index -> result JSON (HSETNX: once)
 *   mts:dataset:<sha256>              hash: "meta" JSON, "bars:<asset>" and "vix" MTC1 blobs
 *   mts:source:<sha256>               hash: relative path -> file contents
 * <grid> = SHA-256 of the spec JSON, which names the dataset's and the
 * sources' hashes: the same spec over the same bars and code is the same grid.
 *
 * Errors: 0 / negative MTS_E* with a one-line message in err. */
#ifndef MTS_RESEARCH_WORKER_H
#define MTS_RESEARCH_WORKER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "research/research.h"
#include "cache/rconn.h"

#define MTS_RQ_STREAM "mts:research:jobs"
#define MTS_RQ_GROUP  "mts:workers"
#define MTS_RQ_CLAIM_AFTER_MS 30000

typedef struct mts_worker_opts {
    const char *redis_url;
    const char *db_path;           /* the worker's database (bars are imported into it) */
    const char *name;              /* consumer name; NULL = <hostname>-<pid> */
    const char *work_dir;          /* private roots go under it; NULL = $TMPDIR (or /tmp)/mts-worker-<uid> */
    int64_t     claim_after_ms;    /* a job pending this long on another worker is taken over */
    int64_t     max_jobs;          /* stop after this many jobs (0 = never) */
    int         quiet;             /* no line per job on stderr */
    const volatile sig_atomic_t *cancel;  /* set non-zero: stop after the current job */
} mts_worker_opts_t;

/* Serves jobs until cancelled (or max_jobs). A job is acknowledged (XACK)
 * only after its result is written. 0 when stopped, else MTS_E* (a Redis URL
 * that does not parse, a database that does not open, a dataset that
 * conflicts with the worker's own bars). */
int mts_worker_run(const mts_worker_opts_t *o, char *err, size_t errlen);

/* ---- protocol pieces (remote.c) ---- */

/* SHA-256 of [p, p+n) as 64 lowercase hex digits and a NUL. */
void mts_remote_sha256_hex(const void *p, size_t n, char out[65]);

/* The spec as canonical JSON (what the grid id hashes): strategies, assets,
 * interval, from, to, costs, trusted, grid axes with their values, metric,
 * and the dataset's and sources' hashes. *json caller-owned (mts_free). */
int mts_remote_spec_json(const mts_opt_spec_t *spec, const char *dataset_hash, const char *source_hash,
                         char **json);

/* A spec read back from that JSON; owns every string it points to. */
typedef struct mts_remote_spec {
    mts_opt_spec_t spec;
    mts_grid_t     grid;
    char         **strategies, **assets;
    char          *interval, *metric;
    char           dataset[65], sources[65];
} mts_remote_spec_t;
int  mts_remote_spec_parse(const char *json, mts_remote_spec_t *out, char *err, size_t errlen);
void mts_remote_spec_free(mts_remote_spec_t *s);   /* accepts a zeroed struct */

/* A point's result as JSON: finite doubles as %.17g (read back bit-identical),
 * NaN as null, infinities as 1e999 / -1e999. err (may be NULL): the point
 * failed with rc and that message instead. */
int mts_remote_result_json(const mts_opt_result_t *r, int rc, const char *error, char **json);
/* Reads it back into r (metric not set: the caller's spec says which);
 * *rc / error: the point's failure (0 and "" when it ran). */
int mts_remote_result_parse(const char *json, mts_opt_result_t *r, int *rc, char *error, size_t errorlen);

/* The dataset a grid runs on: each asset's bars over the spec's interval and
 * range as the coordinator's database gives them (market/series.h), and VIX
 * up to the range's end (what mts_backtest_data_load loads besides the
 * provider). Published once under mts:dataset:<hash>; hash = SHA-256 over
 * the interval, the asset names and their MTC1 blobs (store/colblob.h). */
typedef struct mts_remote_dataset {
    int          n_assets;
    char        *assets[MTS_BACKTEST_MAX_ASSETS];
    mts_bars_t   bars[MTS_BACKTEST_MAX_ASSETS];
    mts_series_t vix;              /* n = 0: none */
    char        *interval;
    uint8_t     *blob[MTS_BACKTEST_MAX_ASSETS + 1];   /* assets, then VIX */
    size_t       blob_len[MTS_BACKTEST_MAX_ASSETS + 1];
    char         hash[65];
} mts_remote_dataset_t;
int  mts_remote_dataset_load(mts_store_t *store, const mts_opt_spec_t *spec, mts_remote_dataset_t *ds,
                             char *err, size_t errlen);
int  mts_remote_dataset_publish(mts_rconn_t *r, const mts_remote_dataset_t *ds, char *err, size_t errlen);
/* Fetches and checks (the hash of what came must be `hash`). */
int  mts_remote_dataset_fetch(mts_rconn_t *r, const char *hash, mts_remote_dataset_t *ds, char *err, size_t errlen);
/* Makes store give exactly ds's bars and VIX: imports what it lacks
 * (mts_store_upsert_ohlcv / _macro); MTS_EVALID, nothing written, when it
 * already has one of those series with other contents over the range. */
int  mts_remote_dataset_import(mts_store_t *store, const char *db_label, const mts_opt_spec_t *spec,
                               const mts_remote_dataset_t *ds, char *err, size_t errlen);
void mts_remote_dataset_free(mts_remote_dataset_t *ds);   /* accepts a zeroed struct */

/* The strategy sources a grid runs: the .lua files of scripts/lib, and per strategy
 * scripts/strategies/<name>.lua and config/strategies/<name>.json (when there
 * is one), plus config/mts.json; paths relative to the root, sorted. hash =
 * SHA-256 over (path, length, contents) of each. */
typedef struct mts_remote_sources {
    int     n;
    char  **path, **data;
    size_t *len;
    char    hash[65];
} mts_remote_sources_t;
int  mts_remote_sources_load(const char *root, const char *const *strategies, int n_strategies,
                             mts_remote_sources_t *src, char *err, size_t errlen);
int  mts_remote_sources_publish(mts_rconn_t *r, const mts_remote_sources_t *src, char *err, size_t errlen);
int  mts_remote_sources_fetch(mts_rconn_t *r, const char *hash, mts_remote_sources_t *src, char *err, size_t errlen);
/* Writes them under dir (a root: dir/scripts/lib/..., created). */
int  mts_remote_sources_write(const mts_remote_sources_t *src, const char *dir, char *err, size_t errlen);
void mts_remote_sources_free(mts_remote_sources_t *src);

#endif
