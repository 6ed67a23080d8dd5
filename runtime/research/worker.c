/* worker.c — mts_worker_run (worker.h): take jobs from the research stream
 * (a consumer of the group; jobs another worker left pending longer than
 * claim_after_ms are taken over with XAUTOCLAIM first), run the point with
 * mts_opt_run_point over the grid's dataset (imported into the worker's
 * database once) and the grid's strategy sources (written into a private
 * root once), write the result with HSETNX, then XACK and XDEL the job. */
/* error messages are cut to their buffers on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include "research/worker.h"
#include "cache/rconn.h"
#include "mts.h"
#include "util/config.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What the worker keeps of the grid it ran last (jobs of one grid come in a
 * row; a job of another grid loads that one instead). */
typedef struct grid_state {
    char                 id[65];
    mts_remote_spec_t    rs;
    char                 root[4096];
    mts_backtest_data_t *data;
    mts_opt_point_t     *points;
    int64_t              n_points;
} grid_state_t;

static void grid_state_free(grid_state_t *g) {
    mts_backtest_data_free(g->data);
    mts_free(g->points);
    mts_remote_spec_free(&g->rs);
    memset(g, 0, sizeof *g);
}

/* The heartbeat: while a job runs, a thread of its own (its own connection)
 * re-claims it for this worker every claim_after/3 (XCLAIM ... 0 ID JUSTID
 * resets the entry's idle time), so a job that runs longer than
 * claim_after on a live worker is not taken over; a dead worker's stops. */
typedef struct heartbeat {
    pthread_t       th;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    char            id[64];     /* the job running; "" none (under mu) */
    int             stop;       /* under mu */
    int             started;
    int64_t         every_ms;
    const char     *name;
    mts_rconn_t     r;
} heartbeat_t;

static void *heartbeat_main(void *arg) {
    heartbeat_t *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += h->every_ms / 1000;
        until.tv_nsec += (h->every_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->cv, &h->mu, &until);
        if (h->stop || !h->id[0]) continue;
        char id[64];
        memcpy(id, h->id, sizeof id);
        pthread_mutex_unlock(&h->mu);
        redisReply *rep = mts_rconn_command(&h->r, "heartbeat", "XCLAIM %s %s %s 0 %s JUSTID", MTS_RQ_STREAM,
                                            MTS_RQ_GROUP, h->name, id);
        if (rep) freeReplyObject(rep);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void heartbeat_set(heartbeat_t *h, const char *id) {
    if (!h->started) return;
    pthread_mutex_lock(&h->mu);
    snprintf(h->id, sizeof h->id, "%s", id ? id : "");
    pthread_mutex_unlock(&h->mu);
}

/* Datasets already checked or imported into this worker's database. */
#define SEEN_MAX 64
typedef struct worker {
    const mts_worker_opts_t *o;
    mts_rconn_t   r;
    mts_store_t  *store;
    char          name[256];
    char          work_dir[2048];
    char          seen[SEEN_MAX][65];
    int           n_seen;
    grid_state_t  g;
    heartbeat_t   hb;
    char          claim_cursor[64];
    char          ffi_hash[65];       /* of this binary's FFI header: part of the private roots' names */   /* XAUTOCLAIM's: goes round the whole PEL */
} worker_t;

static int mkdir_p(const char *path) {
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
            *s = '/';
        }
    return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* Removes dir and everything under it (missing: nothing to do). */
static void remove_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* The path of this binary's FFI declarations (as lua/state.c finds them). */
static void ffi_path(char *buf, size_t n) {
    const char *root = mts_root();
    snprintf(buf, n, "%s/scripts/lib/mts_ffi.h", root);
    if (access(buf, R_OK) != 0) snprintf(buf, n, "%s/runtime/lua/mts_ffi.h", root);
}

/* The FFI declarations of this binary (its install's, as lua/state.c finds
 * them) into the private root: they are the ABI of the C side that runs. */
static int copy_ffi_header(const char *dir, char *err, size_t errlen) {
    char from[4096], to[4200];
    ffi_path(from, sizeof from);
    snprintf(to, sizeof to, "%s/scripts/lib/mts_ffi.h", dir);
    FILE *in = fopen(from, "rb");
    if (!in) return mts_errf(err, errlen, MTS_ENOTFOUND, "cannot read %s (this install's FFI declarations)", from);
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return mts_errf(err, errlen, MTS_EIO, "cannot write %s: %s", to, strerror(errno));
    }
    char buf[8192];
    size_t k;
    int bad = 0;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, k, out) != k) bad = 1;
    bad |= ferror(in);
    fclose(in);
    if (fclose(out) != 0 || bad) return mts_errf(err, errlen, MTS_EIO, "cannot write %s", to);
    return 0;
}

/* Loads grid `id` (spec, sources, dataset, points). On failure *whose says
 * whose fault it is: WORKER (Redis unreachable, its database conflicts or
 * fails, its disk: the job stays pending for another worker), GRID (what the
 * coordinator published is missing or damaged, the data does not load: the
 * point's result is that error, so the coordinator stops with it instead of
 * waiting) or GONE (no spec: the grid was deleted; the job is dropped). */
enum { WORKER = 0, GRID = 1, GONE = 2 };
static int load_grid(worker_t *w, const char *id, int *whose, char *err, size_t errlen) {
    grid_state_free(&w->g);
    *whose = WORKER;
    char key[128];
    snprintf(key, sizeof key, "mts:research:%s:spec", id);
    redisReply *rep = mts_rconn_command(&w->r, "spec", "GET %s", key);
    if (!rep) return mts_errf(err, errlen, MTS_ECACHE, "Redis: %s", w->r.err);
    if (rep->type != REDIS_REPLY_STRING) {
        freeReplyObject(rep);
        *whose = GONE;
        return mts_errf(err, errlen, MTS_ENOTFOUND, "grid %.12s: no spec in Redis (%s)", id, key);
    }
    char check[65];
    mts_remote_sha256_hex(rep->str, rep->len, check);
    int rc = strcmp(check, id) != 0 ? mts_errf(err, errlen, MTS_EVALID, "grid %.12s: its spec does not match its id", id)
                                    : mts_remote_spec_parse(rep->str, &w->g.rs, err, errlen);
    freeReplyObject(rep);
    if (rc) {
        *whose = GRID;
        return rc;
    }
    mts_opt_spec_t *spec = &w->g.rs.spec;

    /* the sources into a private root named by their hash and this binary's
     * FFI header's: built in a staging directory of this process and renamed
     * into place whole, so workers sharing a work dir never see half of one */
    snprintf(w->g.root, sizeof w->g.root, "%s/src-%s-%.12s", w->work_dir, w->g.rs.sources, w->ffi_hash);
    struct stat st;
    if (stat(w->g.root, &st) != 0) {
        mts_remote_sources_t src;
        if ((rc = mts_remote_sources_fetch(&w->r, w->g.rs.sources, &src, err, errlen)) != 0) {
            *whose = rc == MTS_ECACHE || rc == MTS_ENOMEM ? WORKER : GRID;
            return rc;
        }
        char stage[4200];
        snprintf(stage, sizeof stage, "%s.tmp-%ld", w->g.root, (long)getpid());
        remove_tree(stage);
        if (mkdir_p(stage) != 0) {
            mts_remote_sources_free(&src);
            return mts_errf(err, errlen, MTS_EIO, "cannot create %s: %s", stage, strerror(errno));
        }
        rc = mts_remote_sources_write(&src, stage, err, errlen);
        mts_remote_sources_free(&src);
        if (!rc) rc = copy_ffi_header(stage, err, errlen);
        if (!rc && rename(stage, w->g.root) != 0) {
            if (errno == EEXIST || errno == ENOTEMPTY) remove_tree(stage);   /* another worker's is there */
            else rc = mts_errf(err, errlen, MTS_EIO, "cannot rename %s to %s: %s", stage, w->g.root, strerror(errno));
        }
        if (rc) {
            remove_tree(stage);
            return rc;
        }
    }
    spec->root = w->g.root;
    spec->db_label = w->o->db_path;

    /* the dataset into the worker's database, once per dataset */
    int seen = 0;
    for (int i = 0; i < w->n_seen; i++) seen |= strcmp(w->seen[i], w->g.rs.dataset) == 0;
    if (!seen) {
        mts_remote_dataset_t ds;
        if ((rc = mts_remote_dataset_fetch(&w->r, w->g.rs.dataset, &ds, err, errlen)) != 0) {
            *whose = rc == MTS_ECACHE || rc == MTS_ENOMEM ? WORKER : GRID;
            return rc;
        }
        if (strcmp(ds.interval, spec->interval) != 0 || ds.n_assets != spec->n_assets)
            rc = mts_errf(err, errlen, MTS_EVALID, "dataset %.12s is not grid %.12s's", w->g.rs.dataset, id);
        for (int a = 0; !rc && a < ds.n_assets; a++)
            if (strcmp(ds.assets[a], spec->assets[a]) != 0)
                rc = mts_errf(err, errlen, MTS_EVALID, "dataset %.12s is not grid %.12s's", w->g.rs.dataset, id);
        if (rc) *whose = GRID;
        else rc = mts_remote_dataset_import(w->store, w->o->db_path, spec, &ds, err, errlen);
        mts_remote_dataset_free(&ds);
        if (rc) return rc;
        if (w->n_seen < SEEN_MAX) memcpy(w->seen[w->n_seen++], w->g.rs.dataset, 65);
    }
    if ((rc = mts_opt_data_load(w->store, spec, &w->g.data, err, errlen)) != 0 ||
        (rc = mts_opt_points(spec, &w->g.points, &w->g.n_points, err, errlen)) != 0) {
        *whose = rc == MTS_ENOMEM || rc == MTS_EIO || rc == MTS_EDB || rc == MTS_EDBLOCKED ? WORKER : GRID;
        return rc;
    }
    memcpy(w->g.id, id, 65);
    return 0;
}

/* The fields of a stream entry [id, [k, v, ...]]. */
static int entry_fields(const redisReply *e, const char **id, const char **grid, int64_t *index) {
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING) return -1;
    *id = e->element[0]->str;
    const redisReply *f = e->element[1];
    *grid = NULL;
    *index = -1;
    if (f->type != REDIS_REPLY_ARRAY) return -1;   /* deleted while pending */
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        if (strcmp(f->element[i]->str, "grid") == 0) *grid = f->element[i + 1]->str;
        else if (strcmp(f->element[i]->str, "index") == 0) *index = strtoll(f->element[i + 1]->str, NULL, 10);
    }
    return *grid && strlen(*grid) == 64 && *index >= 0 ? 0 : -1;
}

static int ack(worker_t *w, const char *id) {
    redisReply *rep = mts_rconn_command(&w->r, "ack", "XACK %s %s %s", MTS_RQ_STREAM, MTS_RQ_GROUP, id);
    if (!rep) return MTS_ECACHE;
    freeReplyObject(rep);
    /* the job is done: the stream keeps only what is to do */
    rep = mts_rconn_command(&w->r, "ack", "XDEL %s %s", MTS_RQ_STREAM, id);
    if (rep) freeReplyObject(rep);
    return 0;
}

/* Runs one job. A point that fails is a result too (its error); errors of
 * this worker (its database, Redis) are returned and the job stays pending
 * for another worker. */
static int run_job(worker_t *w, const char *id, const char *grid, int64_t index, char *err, size_t errlen) {
    char k_res[128], field[32];
    snprintf(k_res, sizeof k_res, "mts:research:%s:results", grid);
    snprintf(field, sizeof field, "%lld", (long long)index);
    /* ran already (by a worker that died before its XACK)? */
    redisReply *rep = mts_rconn_command(&w->r, "result exists", "HEXISTS %s %s", k_res, field);
    if (!rep) return mts_errf(err, errlen, MTS_ECACHE, "Redis: %s", w->r.err);
    int exists = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    if (exists) return ack(w, id) ? mts_errf(err, errlen, MTS_ECACHE, "Redis: %s", w->r.err) : 0;
    if (strcmp(w->g.id, grid) != 0) {
        int whose = WORKER, rc = load_grid(w, grid, &whose, err, errlen);
        if (rc) grid_state_free(&w->g);
        if (rc && whose == GONE) {
            fprintf(stderr, "worker %s: job %s: %s; dropped\n", w->name, id, err);
            return ack(w, id) ? mts_errf(err, errlen, MTS_ECACHE, "Redis: %s", w->r.err) : 0;
        }
        if (rc && whose == GRID) {
            /* the point's result is the error: the coordinator reports it */
            mts_opt_result_t res;
            memset(&res, 0, sizeof res);
            res.index = index;
            char *json = NULL;
            if (mts_remote_result_json(&res, rc, err, &json) != 0) return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
            fprintf(stderr, "worker %s: grid %.12s point %lld failed: %s\n", w->name, grid, (long long)index, err);
            rep = mts_rconn_command(&w->r, "result", "HSETNX %s %s %s", k_res, field, json);
            mts_free(json);
            if (!rep) return mts_errf(err, errlen, MTS_ECACHE, "Redis: %s", w->r.err);
            freeReplyObject(rep);
            return ack(w, id) ? mts_errf(err, errlen, MTS_ECACHE, "Redis: %s", w->r.err) : 0;
        }
        if (rc) return rc;
    }
    if (index >= w->g.n_points) {
        fprintf(stderr, "worker %s: job %s: point %lld of a grid of %lld; dropped\n", w->name, id, (long long)index,
                     (long long)w->g.n_points);
        return ack(w, id) ? mts_errf(err, errlen, MTS_ECACHE, "Redis: %s", w->r.err) : 0;
    }
    mts_opt_result_t res;
    memset(&res, 0, sizeof res);
    char perr[512] = "";
    double t0 = mts_rconn_seconds();
    heartbeat_set(&w->hb, id);
    int prc = mts_opt_run_point(w->store, &w->g.rs.spec, w->g.data, &w->g.points[index], 0, &res, perr, sizeof perr);
    heartbeat_set(&w->hb, NULL);
    res.index = index;
    res.strategy = w->g.points[index].strategy;
    char *json = NULL;
    if (mts_remote_result_json(&res, prc, perr, &json) != 0) return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
    rep = mts_rconn_command(&w->r, "result", "HSETNX %s %s %s", k_res, field, json);
    mts_free(json);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        int rc = mts_errf(err, errlen, MTS_ECACHE, "Redis: writing result %lld: %s", (long long)index,
                      rep ? rep->str : w->r.err);
        if (rep) freeReplyObject(rep);
        return rc;
    }
    freeReplyObject(rep);
    if (!w->o->quiet)
        fprintf(stderr, "worker %s: grid %.12s point %lld %s in %.2f s\n", w->name, grid, (long long)index,
                prc ? "failed" : "done", mts_rconn_seconds() - t0);
    return ack(w, id) ? mts_errf(err, errlen, MTS_ECACHE, "Redis: %s", w->r.err) : 0;
}

/* One job: a pending one left too long by another worker, else a new one.
 * *got = 0 when there was none within the block time. */
static int next_job(worker_t *w, int *got, char *err, size_t errlen) {
    *got = 0;
    char idle[32];
    snprintf(idle, sizeof idle, "%lld", (long long)w->o->claim_after_ms);
    if (!w->claim_cursor[0]) snprintf(w->claim_cursor, sizeof w->claim_cursor, "0-0");
    redisReply *rep = mts_rconn_command(&w->r, "claim", "XAUTOCLAIM %s %s %s %s %s COUNT 1", MTS_RQ_STREAM,
                                        MTS_RQ_GROUP, w->name, idle, w->claim_cursor);
    if (!rep) return mts_errf(err, errlen, MTS_ECACHE, "Redis: %s", w->r.err);
    const redisReply *entries = NULL;
    redisReply *keep = rep;
    if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOGROUP", 7) == 0) {
        /* no coordinator yet: make the group and wait for jobs */
        freeReplyObject(rep);
        rep = mts_rconn_command(&w->r, "group", "XGROUP CREATE %s %s 0 MKSTREAM", MTS_RQ_STREAM, MTS_RQ_GROUP);
        if (rep) freeReplyObject(rep);
        return 0;
    }
    /* [next cursor, [entries], [deleted ids]]: the next call goes on from the
     * cursor (a scan covers COUNT*10 entries of the PEL), 0-0 = round again */
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2 && rep->element[0]->type == REDIS_REPLY_STRING)
        snprintf(w->claim_cursor, sizeof w->claim_cursor, "%s", rep->element[0]->str);
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2 && rep->element[1]->type == REDIS_REPLY_ARRAY &&
        rep->element[1]->elements > 0)
        entries = rep->element[1];
    else {
        if (rep->type == REDIS_REPLY_ERROR) {
            int rc = mts_errf(err, errlen, MTS_ECACHE, "Redis XAUTOCLAIM: %s", rep->str);
            freeReplyObject(rep);
            return rc;
        }
        freeReplyObject(rep);
        rep = mts_rconn_command(&w->r, "read", "XREADGROUP GROUP %s %s COUNT 1 BLOCK 1000 STREAMS %s >", MTS_RQ_GROUP,
                                w->name, MTS_RQ_STREAM);
        keep = rep;
        if (!rep) return mts_errf(err, errlen, MTS_ECACHE, "Redis: %s", w->r.err);
        if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOGROUP", 7) == 0) {
            freeReplyObject(rep);
            return 0;
        }
        /* [[stream, [entry...]]] or nil */
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 && rep->element[0]->type == REDIS_REPLY_ARRAY &&
            rep->element[0]->elements == 2 && rep->element[0]->element[1]->type == REDIS_REPLY_ARRAY &&
            rep->element[0]->element[1]->elements > 0)
            entries = rep->element[0]->element[1];
        else if (rep->type == REDIS_REPLY_ERROR) {
            int rc = mts_errf(err, errlen, MTS_ECACHE, "Redis XREADGROUP: %s", rep->str);
            freeReplyObject(rep);
            return rc;
        }
    }
    int rc = 0;
    if (entries) {
        const char *id, *grid;
        int64_t index;
        const redisReply *e = entries->element[0];
        if (entry_fields(e, &id, &grid, &index) != 0) {
            if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 && e->element[0]->type == REDIS_REPLY_STRING)
                ack(w, e->element[0]->str);   /* not a job: drop it */
        } else {
            *got = 1;
            rc = run_job(w, id, grid, index, err, errlen);
        }
    }
    freeReplyObject(keep);
    return rc;
}

int mts_worker_run(const mts_worker_opts_t *o, char *err, size_t errlen) {
    worker_t *w = mts_calloc(1, sizeof *w);
    if (!w) return mts_errf(err, errlen, MTS_ENOMEM, "out of memory");
    w->o = o;
    int rc = 0;
    if (o->name && *o->name) snprintf(w->name, sizeof w->name, "%s", o->name);
    else {
        char host[128] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(w->name, sizeof w->name, "%s-%ld", host, (long)getpid());
    }
    if (o->work_dir) snprintf(w->work_dir, sizeof w->work_dir, "%s", o->work_dir);
    else {
        const char *t = getenv("TMPDIR");
        snprintf(w->work_dir, sizeof w->work_dir, "%s/mts-worker-%ld", t && *t ? t : "/tmp", (long)getuid());
    }
    {
        char p[4096];
        ffi_path(p, sizeof p);
        FILE *f = fopen(p, "rb");
        if (!f) {
            rc = mts_errf(err, errlen, MTS_ENOTFOUND, "cannot read %s (this install's FFI declarations)", p);
            goto out;
        }
        static char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        mts_remote_sha256_hex(buf, n, w->ffi_hash);
    }
    if ((rc = mts_rconn_init(&w->r, o->redis_url, 10000, "worker")) != 0) {
        mts_errf(err, errlen, rc, "%s", w->r.err);
        goto out;
    }
    if (mkdir_p(w->work_dir) != 0) {
        rc = mts_errf(err, errlen, MTS_EIO, "cannot create %s: %s", w->work_dir, strerror(errno));
        goto out;
    }
    if ((rc = mts_store_open(o->db_path, &w->store)) != 0) {
        mts_errf(err, errlen, rc, "%s: %s", o->db_path, mts_store_errmsg(NULL));
        goto out;
    }
    if ((rc = mts_rconn_ensure(&w->r, 1)) != 0) {
        mts_errf(err, errlen, rc, "Redis: %s", w->r.err);
        goto out;
    }
    /* the heartbeat's own connection: the main one is busy while a job runs */
    w->hb.every_ms = o->claim_after_ms / 3 > 0 ? o->claim_after_ms / 3 : 1;
    w->hb.name = w->name;
    pthread_mutex_init(&w->hb.mu, NULL);
    pthread_cond_init(&w->hb.cv, NULL);
    if (mts_rconn_init(&w->hb.r, o->redis_url, 10000, "worker") == 0 &&
        pthread_create(&w->hb.th, NULL, heartbeat_main, &w->hb) == 0)
        w->hb.started = 1;
    if (!o->quiet) fprintf(stderr, "worker %s: waiting for jobs on %s\n", w->name, w->r.shown);
    int64_t jobs = 0;
    while (!(o->cancel && *o->cancel) && (o->max_jobs <= 0 || jobs < o->max_jobs)) {
        int got = 0;
        rc = next_job(w, &got, err, errlen);
        if (rc == MTS_ECACHE) {
            /* Redis away: rconn reconnects with backoff; keep serving */
            fprintf(stderr, "worker %s: %s (retrying)\n", w->name, err);
            rc = 0;
            struct timespec ts = {0, 500 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        if (rc) break;
        jobs += got;
    }
out:
    if (w->hb.started) {
        pthread_mutex_lock(&w->hb.mu);
        w->hb.stop = 1;
        pthread_cond_signal(&w->hb.cv);
        pthread_mutex_unlock(&w->hb.mu);
        pthread_join(w->hb.th, NULL);
        mts_rconn_close(&w->hb.r);
        pthread_mutex_destroy(&w->hb.mu);
        pthread_cond_destroy(&w->hb.cv);
    }
    grid_state_free(&w->g);
    mts_store_close(w->store);
    if (w->r.host[0]) mts_rconn_close(&w->r);
    mts_free(w);
    return rc;
}
