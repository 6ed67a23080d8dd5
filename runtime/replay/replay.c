/* replay.c — a recorded paper session run again (replay.h). */
#include "replay/replay.h"
#include "backtest/backtest.h"
#include "feeds/event.h"
#include "live/live.h"
#include "lua/bridge.h"
#include "store/store_internal.h"
#include "util/config.h"
#include "util/log.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct cblob {
    char hash[65];
    void *data;
    size_t n;
} cblob_t;

struct mts_replay {
    mts_store_t *s;
    mts_sevent_t *ev;
    int64_t n, pos;
    cblob_t *b;
    int64_t nb, bcap;
    char root[256];
    int trust_record;             /* opts.trust_record */
    char why[512];                /* a refused trusted file: the message */
    int64_t *prov, nprov;         /* the provider events (positions in ev), built on first ask */
    int prov_built;
};

const mts_sevent_t *mts_replay_peek(mts_replay_t *r) { return r && r->pos < r->n ? &r->ev[r->pos] : NULL; }
void mts_replay_advance(mts_replay_t *r) { if (r && r->pos < r->n) r->pos++; }
const char *mts_replay_root(const mts_replay_t *r) { return r ? r->root : NULL; }

const mts_sevent_t *mts_replay_provider(mts_replay_t *r, const char *what, int64_t wait) {
    if (!r || !what) return NULL;
    if (!r->prov_built) {   /* once: the few provider events of the record */
        r->prov_built = 1;
        int64_t k = 0;
        for (int64_t i = 0; i < r->n; i++) k += r->ev[i].kind == MTS_EVK_PROVIDER;
        if (k && (r->prov = mts_malloc((size_t)k * sizeof *r->prov)) != NULL)
            for (int64_t i = 0; i < r->n; i++)
                if (r->ev[i].kind == MTS_EVK_PROVIDER) r->prov[r->nprov++] = i;
    }
    const mts_sevent_t *best = NULL, *first = NULL;
    for (int64_t j = 0; j < r->nprov; j++) {
        const mts_sevent_t *e = &r->ev[r->prov[j]];
        if (strcmp(e->info, what) != 0) continue;
        if (!first) first = e;
        if (e->wait <= wait) best = e;
    }
    return best ? best : first;
}

int mts_replay_blob(mts_replay_t *r, const char *hash, const void **data, size_t *n) {
    for (int64_t i = 0; i < r->nb; i++)
        if (!strcmp(r->b[i].hash, hash)) {
            *data = r->b[i].data;
            *n = r->b[i].n;
            return 0;
        }
    if (r->nb == r->bcap) {
        int64_t c = r->bcap ? r->bcap * 2 : 16;
        cblob_t *p = mts_realloc(r->b, (size_t)c * sizeof *p);
        if (!p) return MTS_ENOMEM;
        r->b = p;
        r->bcap = c;
    }
    cblob_t *b = &r->b[r->nb];
    int rc = mts_events_blob(r->s, hash, &b->data, &b->n);
    if (rc) return rc;
    snprintf(b->hash, sizeof b->hash, "%s", hash);
    r->nb++;
    *data = b->data;
    *n = b->n;
    return 0;
}

/* mkdir -p of the directories of path */
static void mkdirs(char *path) {
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0700);
            *p = '/';
        }
}

static int write_file(const char *path, const void *d, size_t n) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    mkdirs(tmp);
    FILE *f = fopen(path, "wb");
    if (!f) return MTS_EIO;
    int ok = fwrite(d, 1, n, f) == n;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : MTS_EIO;
}

int mts_replay_put_file(mts_replay_t *r, const mts_sevent_t *ev) {
    if (!r || !ev || !ev->info[0] || ev->info[0] == '/' || strstr(ev->info, "..")) return MTS_EINVAL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->root, ev->info);
    if (!ev->ref[0]) {   /* the session could not read it: none here either */
        unlink(path);
        return 0;
    }
    const void *d;
    size_t n;
    int rc = mts_replay_blob(r, ev->ref, &d, &n);
    if (rc) return rc;
    /* scripts/lib/ runs outside the sandbox (aggregator.lua, risk.lua): a recorded
     * version other than the installed one runs only when the user trusts the
     * database it came from — a replay is not a way around the sandbox */
    if (!r->trust_record && !strncmp(ev->info, "scripts/lib/", 12)) {
        char inst[4096];
        snprintf(inst, sizeof inst, "%s/%s", mts_root(), ev->info);
        FILE *f = fopen(inst, "rb");
        int same = 0;
        if (f) {
            char *buf = mts_malloc(n + 1);
            size_t got = buf ? fread(buf, 1, n + 1, f) : 0;
            same = buf && got == n && memcmp(buf, d, n) == 0;
            mts_free(buf);
            fclose(f);
        }
        if (!same) {
            snprintf(r->why, sizeof r->why, "the record holds a version of %s that differs from the installed one; "
                     "it runs outside the sandbox: replay with --trust-record only a database you trust", ev->info);
            return MTS_EVALID;
        }
    }
    return write_file(path, d, n);
}

const char *mts_replay_why(const mts_replay_t *r) { return r && r->why[0] ? r->why : NULL; }

static int copy_file(const char *from, const char *to) {
    FILE *f = fopen(from, "rb");
    if (!f) return MTS_ENOTFOUND;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            char *b = mts_realloc(buf, cap);
            if (!b) { mts_free(buf); fclose(f); return MTS_ENOMEM; }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    int rc = write_file(to, buf, n);
    mts_free(buf);
    return rc;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}
static double jnum(const cJSON *o, const char *k, double dflt) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : dflt;
}

#define RMAX 32

/* ---- what the session stored ---- */
typedef struct fillrow { int64_t ts; char asset[64]; double qty, price, fee, pnl; int shadow; char strategy[256]; } fillrow_t;
typedef struct sigrow { int64_t ts; char asset[64], strategy[256], type[16]; double price; } sigrow_t;

static int load_recorded(mts_store_t *s, int64_t id, const char *strategies, fillrow_t **fr, int64_t *nf,
                         int64_t **ets, double **eqv, int64_t *ne, sigrow_t **sr, int64_t *nsig) {
    sqlite3 *db = mts_store_db(s);
    sqlite3_stmt *st = NULL;
    int64_t cap = 0, n = 0;
    *fr = NULL;
    if (sqlite3_prepare_v2(db, "SELECT ts, asset, side, qty, price, fee, realized_pnl, shadow, strategy FROM paper_fills"
                               " WHERE session_id = ?1 ORDER BY id", -1, &st, NULL) != SQLITE_OK) return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) { cap = cap ? cap * 2 : 256; *fr = mts_realloc(*fr, (size_t)cap * sizeof **fr); if (!*fr) break; }
        fillrow_t *x = &(*fr)[n++];
        x->ts = sqlite3_column_int64(st, 0);
        snprintf(x->asset, sizeof x->asset, "%s", (const char *)sqlite3_column_text(st, 1));
        const char *side = (const char *)sqlite3_column_text(st, 2);
        x->qty = sqlite3_column_double(st, 3) * (side && side[0] == 's' ? -1 : 1);
        x->price = sqlite3_column_double(st, 4);
        x->fee = sqlite3_column_double(st, 5);
        x->pnl = sqlite3_column_double(st, 6);
        x->shadow = sqlite3_column_int(st, 7);
        const char *sn = (const char *)sqlite3_column_text(st, 8);
        snprintf(x->strategy, sizeof x->strategy, "%s", sn ? sn : "");
    }
    sqlite3_finalize(st);
    *nf = n;
    n = cap = 0;
    *ets = NULL;
    *eqv = NULL;
    if (sqlite3_prepare_v2(db, "SELECT ts, equity FROM paper_equity WHERE session_id = ?1 ORDER BY ts", -1, &st,
                           NULL) != SQLITE_OK) return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            *ets = mts_realloc(*ets, (size_t)cap * sizeof **ets);
            *eqv = mts_realloc(*eqv, (size_t)cap * sizeof **eqv);
            if (!*ets || !*eqv) break;
        }
        (*ets)[n] = sqlite3_column_int64(st, 0);
        (*eqv)[n++] = sqlite3_column_double(st, 1);
    }
    sqlite3_finalize(st);
    *ne = n;
    /* the session's signals: signal_history.session_id (schema v11); a session
     * stored before has none — then its strategies' rows stored while it ran
     * (created_at between its start and its stop) */
    n = cap = 0;
    *sr = NULL;
    int64_t own = 0;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM signal_history WHERE session_id = ?1", -1, &st, NULL) != SQLITE_OK)
        return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) own = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, own > 0
                               ? "SELECT h.timestamp, h.asset, h.strategy_name, h.signal_type, h.price FROM signal_history h"
                                 " WHERE h.session_id = ?1 ORDER BY h.id"
                               : "SELECT h.timestamp, h.asset, h.strategy_name, h.signal_type, h.price FROM signal_history h,"
                                 " paper_sessions p WHERE p.id = ?1 AND (',' || ?2 || ',') LIKE ('%,' || h.strategy_name || ',%')"
                                 " AND strftime('%s', h.created_at) + 0 >= p.started_at"
                                 " AND strftime('%s', h.created_at) + 0 <= COALESCE(p.stopped_at, p.heartbeat_at, 1e18)"
                                 " ORDER BY h.id", -1, &st, NULL) != SQLITE_OK) return MTS_EDB;
    sqlite3_bind_int64(st, 1, id);
    if (own == 0) sqlite3_bind_text(st, 2, strategies, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) { cap = cap ? cap * 2 : 256; *sr = mts_realloc(*sr, (size_t)cap * sizeof **sr); if (!*sr) break; }
        sigrow_t *x = &(*sr)[n++];
        x->ts = sqlite3_column_int64(st, 0);
        snprintf(x->asset, sizeof x->asset, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(x->strategy, sizeof x->strategy, "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(x->type, sizeof x->type, "%s", (const char *)sqlite3_column_text(st, 3));
        x->price = sqlite3_column_double(st, 4);
    }
    sqlite3_finalize(st);
    *nsig = n;
    return 0;
}

/* return, max drawdown (peak including the capital), Sharpe of the step returns
 * (annualised by the steps per year of the interval) */
static void curve_stats(const double *eq, int64_t n, double capital, int64_t iv_s, mts_replay_side_t *o) {
    o->points = n;
    o->final_equity = n > 0 ? eq[n - 1] : capital;
    o->pnl = o->final_equity - capital;
    o->ret = o->pnl / capital;
    double peak = capital, dd = 0, sum = 0, sq = 0, prev = capital;
    for (int64_t i = 0; i < n; i++) {
        if (eq[i] > peak) peak = eq[i];
        if ((peak - eq[i]) / peak > dd) dd = (peak - eq[i]) / peak;
        double r = eq[i] / prev - 1;
        sum += r;
        sq += r * r;
        prev = eq[i];
    }
    o->max_dd = dd;
    double m = n > 0 ? sum / (double)n : 0, var = n > 1 ? (sq - (double)n * m * m) / (double)(n - 1) : 0;
    o->sharpe = var > 0 ? m / sqrt(var) * sqrt(365.0 * 86400.0 / (double)(iv_s > 0 ? iv_s : 86400)) : NAN;
}

static int num_eq(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* Each shadow's book: as the session left it (its last paper_books row) and as replayed. */
static void shadows_compare(mts_store_t *s, int64_t session, mts_engine_t *e, int32_t n_acct, const char *const *labels,
                            int n, mts_replay_result_t *out) {
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(mts_store_db(s), "SELECT initial, equity, fees, fills, trades FROM paper_books"
                                " WHERE session_id = ?1 AND strategy = ?2 AND shadow = 1", -1, &st, NULL) == SQLITE_OK;
    for (int j = 0; j < n && j < MTS_REPLAY_MAX_SHADOWS; j++) {
        mts_replay_shadow_t *x = &out->shadows[j];
        memset(x, 0, sizeof *x);
        snprintf(x->label, sizeof x->label, "%s", labels[j]);
        x->book = n_acct + j;
        mts_book_stats_t b;
        if (mts_engine_book_stats(e, x->book, &b) == 0)
            x->replayed = (mts_replay_book_t){b.fills, b.trades, b.initial, b.equity, b.equity - b.initial, b.fees,
                                              b.initial > 0 ? b.equity / b.initial - 1 : NAN};
        x->recorded.final_equity = x->recorded.pnl = x->recorded.ret = NAN;
        if (ok) {
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, session);
            sqlite3_bind_text(st, 2, labels[j], -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) == SQLITE_ROW) {
                mts_replay_book_t *r = &x->recorded;
                r->initial = sqlite3_column_double(st, 0);
                r->final_equity = sqlite3_column_double(st, 1);
                r->fees = sqlite3_column_double(st, 2);
                r->fills = sqlite3_column_int64(st, 3);
                r->trades = sqlite3_column_int64(st, 4);
                r->pnl = r->final_equity - r->initial;
                r->ret = r->initial > 0 ? r->final_equity / r->initial - 1 : NAN;
            }
        }
    }
    sqlite3_finalize(st);
    out->n_shadows = n < MTS_REPLAY_MAX_SHADOWS ? n : MTS_REPLAY_MAX_SHADOWS;
}

int mts_replay_run(mts_store_t *s, int64_t session, const mts_replay_opts_t *opts, mts_replay_result_t *out,
                   char *err, size_t errlen) {
    if (!s || !out) return MTS_EINVAL;
    memset(out, 0, sizeof *out);
    out->session = session;
    mts_replay_opts_t none = {0};
    if (!opts) opts = &none;
    char *opt_txt = NULL;
    cJSON *o = NULL;
    mts_replay_t *r = mts_calloc(1, sizeof *r);
    mts_live_t *live = NULL;
    fillrow_t *rf = NULL;
    sigrow_t *rs = NULL;
    int64_t *rts = NULL;
    double *req = NULL;
    int rc = MTS_ENOMEM;
    if (!r) return rc;
    r->s = s;
    r->root[0] = 0;
    r->trust_record = opts->trust_record;
    if ((rc = mts_events_get_options(s, session, &opt_txt)) != 0) {
        rc = fail(err, errlen, rc, "session %lld: %s", (long long)session, mts_store_errmsg(s));
        goto done;
    }
    if (!opt_txt) {
        rc = fail(err, errlen, MTS_ENOTFOUND, "session %lld has no record to replay (sessions are recorded since "
                  "schema v9: run it again with this mts)", (long long)session);
        goto done;
    }
    if ((rc = mts_events_load(s, session, &r->ev, &r->n)) != 0) {
        rc = fail(err, errlen, rc, "session %lld: %s", (long long)session, mts_store_errmsg(s));
        goto done;
    }
    if (!(o = cJSON_Parse(opt_txt))) { rc = fail(err, errlen, MTS_EPARSE, "session %lld: unreadable options", (long long)session); goto done; }
    out->events = r->n;
    for (int64_t i = 0; i < r->n; i++) {
        if (r->ev[i].kind == MTS_EVK_WAIT) {
            out->waits++;
            if (r->ev[i].t == 2) out->reloads++;
        } else if (r->ev[i].kind == MTS_EVK_CONTROL) {
            out->controls++;
        }
    }
    /* the options */
    const char *sym[RMAX], *ast[RMAX], *rec_strat[RMAX], *strat[RMAX], *pk[2 * RMAX], *pv[2 * RMAX];
    int n_sym = 0, n_ast = 0, n_rs = 0, n_strat = 0, n_p = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "symbols")) if (n_sym < RMAX && cJSON_IsString(x)) sym[n_sym++] = x->valuestring;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "assets")) if (n_ast < RMAX && cJSON_IsString(x)) ast[n_ast++] = x->valuestring;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "strategies")) if (n_rs < RMAX && cJSON_IsString(x)) rec_strat[n_rs++] = x->valuestring;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "params")) {
        if (n_p < 2 * RMAX && cJSON_GetArraySize(x) == 2) {
            pk[n_p] = cJSON_GetArrayItem(x, 0)->valuestring;
            pv[n_p++] = cJSON_GetArrayItem(x, 1)->valuestring;
        }
    }
    if (n_sym == 0 || n_sym != n_ast || n_rs == 0) { rc = fail(err, errlen, MTS_EPARSE, "session %lld: incomplete options", (long long)session); goto done; }
    if (opts->n_strategies > 0) {
        for (int k = 0; k < opts->n_strategies && k < RMAX; k++) strat[n_strat++] = opts->strategies[k];
    } else {
        for (int k = 0; k < n_rs; k++) strat[n_strat++] = rec_strat[k];
    }
    for (int k = 0; k < opts->n_params && n_p < 2 * RMAX; k++) { pk[n_p] = opts->param_keys[k]; pv[n_p++] = opts->param_values[k]; }
    /* the shadows (issue 14): their labels and the capitals they had */
    const char *shl[MTS_REPLAY_MAX_SHADOWS];
    double shcap[MTS_REPLAY_MAX_SHADOWS];
    int n_sh = 0;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "shadows")) {
        const char *lb = jstr(x, "label");
        if (n_sh < MTS_REPLAY_MAX_SHADOWS && lb) {
            shcap[n_sh] = jnum(x, "capital", 0);
            shl[n_sh++] = lb;
        }
    }
    out->same_code = opts->n_strategies == 0 && opts->n_params == 0;
    if (opts->n_strategies > 0 && opts->n_strategies == n_rs) {
        out->same_code = opts->n_params == 0;
        for (int k = 0; k < n_rs; k++) if (strcmp(strat[k], rec_strat[k])) out->same_code = 0;
    }
    {
        size_t w = 0;
        for (int k = 0; k < n_strat; k++) w += (size_t)snprintf(out->strategies + w, sizeof out->strategies - (w < sizeof out->strategies ? w : sizeof out->strategies), "%s%s", k ? "," : "", strat[k]);
    }
    /* the private root: the files of the session's opening */
    const char *tmpdir = getenv("TMPDIR");
    snprintf(r->root, sizeof r->root, "%s/mts-replay-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(r->root)) { r->root[0] = 0; rc = fail(err, errlen, MTS_EIO, "replay: cannot make a directory: %s", strerror(errno)); goto done; }
    for (int64_t i = 0; i < r->n && r->ev[i].wait == 0; i++)
        if (r->ev[i].kind == MTS_EVK_FILE && (rc = mts_replay_put_file(r, &r->ev[i])) != 0) {
            rc = fail(err, errlen, rc, "replay: the recorded %s: %s", r->ev[i].info,
                      mts_replay_why(r) ? mts_replay_why(r) : mts_store_errmsg(s));
            goto done;
        }
    {   /* the runner's other modules, runtime/ and data/ of the install tree (linked) */
        char from[4096], to[4096];
        snprintf(from, sizeof from, "%s/scripts/lib", mts_root());
        DIR *dd = opendir(from);
        struct dirent *de;
        while (dd && (de = readdir(dd)) != NULL) {
            if (de->d_name[0] == '.') continue;
            snprintf(to, sizeof to, "%s/scripts/lib/%s", r->root, de->d_name);
            struct stat sb;
            if (stat(to, &sb) == 0) continue;
            mkdirs(to);
            snprintf(from, sizeof from, "%s/scripts/lib/%s", mts_root(), de->d_name);
            if (strcmp(de->d_name, "aggregator.lua") && strcmp(de->d_name, "risk.lua")) (void)symlink(from, to);
        }
        if (dd) closedir(dd);
        const char *links[] = {"runtime", "data"};
        for (int k = 0; k < 2; k++) {
            snprintf(from, sizeof from, "%s/%s", mts_root(), links[k]);
            snprintf(to, sizeof to, "%s/%s", r->root, links[k]);
            (void)symlink(from, to);
        }
    }
    {   /* strategies the session did not run, and library files it did not record: as they are now */
        const char *files[RMAX * 2 + 3];
        char bufs[RMAX * 2][160];
        int nfiles = 0;
        for (int k = 0; k < n_strat; k++) {
            snprintf(bufs[2 * k], sizeof bufs[0], "scripts/strategies/%s.lua", strat[k]);
            snprintf(bufs[2 * k + 1], sizeof bufs[0], "config/strategies/%s.json", strat[k]);
            files[nfiles++] = bufs[2 * k];
            files[nfiles++] = bufs[2 * k + 1];
        }
        files[nfiles++] = "scripts/lib/aggregator.lua";
        files[nfiles++] = "scripts/lib/risk.lua";
        files[nfiles++] = "config/mts.json";
        for (int k = 0; k < nfiles; k++) {
            char to[4096], from[4096];
            snprintf(to, sizeof to, "%s/%s", r->root, files[k]);
            struct stat sb;
            int recorded = 0;
            for (int64_t i = 0; i < r->n && r->ev[i].wait == 0; i++)
                if (r->ev[i].kind == MTS_EVK_FILE && !strcmp(r->ev[i].info, files[k])) recorded = 1;
            if (recorded || stat(to, &sb) == 0) continue;
            snprintf(from, sizeof from, "%s/%s", mts_root(), files[k]);
            (void)copy_file(from, to);
        }
    }
    /* books as mts run made them */
    const char *mode = jstr(o, "mode");
    if (!mode) mode = "independent";
    double alloc[MTS_ENGINE_MAX_BOOKS];
    int32_t n_books = 0;
    {
        int na = 0;
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "alloc")) if (na < MTS_ENGINE_MAX_BOOKS) alloc[na++] = x->valuedouble;
        if (mode[0] == 'i') {
            if (na == n_strat) n_books = na;
            else if (n_strat > 1) {
                char aerr[512];
                if ((rc = mts_backtest_allocations(r->root, NULL, strat, n_strat, alloc, aerr, sizeof aerr)) != 0) {
                    rc = fail(err, errlen, rc, "replay: %s", aerr);
                    goto done;
                }
                n_books = n_strat;
            }
        }
    }
    for (int k = 0; k < n_sh; k++)   /* a record without the capital: the rule mts run applies */
        if (!(shcap[k] > 0))
            shcap[k] = mts_live_shadow_capital(shl[k], strat, n_strat, n_books, alloc, jnum(o, "capital", 10000),
                                               jnum(o, "shadow_capital", 0));
    const char *exch = jstr(o, "exchange");
    mts_live_config_t cfg = {
        .exchange = exch && !strcmp(exch, "bybit") ? MTS_EXCH_BYBIT : MTS_EXCH_BINANCE,
        .symbols = sym, .assets = ast, .n_assets = n_sym, .interval = jstr(o, "interval"),
        .strategies = strat, .n_strategies = n_strat, .warmup = (int)jnum(o, "warmup", 0),
        .capital = jnum(o, "capital", 10000), .commission_bps = jnum(o, "commission_bps", 0),
        .slippage_bps = jnum(o, "slippage_bps", 0), .align_ms = (int64_t)jnum(o, "align_ms", 0),
        .store = s, .n_books = n_books, .alloc = alloc, .leverage = jnum(o, "leverage", 0),
        .instrument = {.market = jstr(o, "market"), .commission_bps = jnum(o, "commission_bps", 0),
                       .maker_bps = jnum(o, "maker_bps", 0), .taker_bps = jnum(o, "taker_bps", 0),
                       .has_maker = cJSON_HasObjectItem(o, "maker_bps"), .has_taker = cJSON_HasObjectItem(o, "taker_bps")},
        .root = r->root, .replay = r,
        .shadows = shl, .shadow_capital = shcap, .n_shadows = n_sh, .shadow_capital_opt = jnum(o, "shadow_capital", 0),
    };
    out->capital = cfg.capital;
    char lerr[1024];
    if ((rc = mts_live_open(&cfg, &live, lerr, sizeof lerr)) != 0) {
        rc = fail(err, errlen, rc, "replay: %s", lerr);
        goto done;
    }
    mts_run_spec_t spec = {
        .engine = mts_live_engine(live), .root = r->root, .strategies = strat, .n_strategies = n_strat,
        .param_keys = pk, .param_values = pv, .n_params = n_p, .mode = mode,
        .max_position = jnum(o, "max_position", 0), .max_portfolio_risk = jnum(o, "max_portfolio_risk", 0),
        .shadows = shl, .n_shadows = n_sh,
    };
    mts_run_result_t res;
    if ((rc = mts_lua_run_live(&spec, live, &res, lerr, sizeof lerr)) != 0) {
        rc = fail(err, errlen, rc, "replay: %s", lerr);
        goto done;
    }
    mts_run_result_free(&res);
    (void)mts_live_finish(live, "stopped", NULL);

    /* the replayed results, as the session would have stored them */
    mts_engine_t *e = mts_live_engine(live);
    int64_t f0, s0, q0, nf, ns;
    mts_live_marks(live, &f0, &s0, &q0);
    const mts_fill_rec_t *fills = mts_engine_fills(e, &nf);
    const mts_signal_rec_t *sigs = mts_engine_signals(e, &ns);
    const mts_series_t *curve = mts_engine_equity_curve(e);
    out->rep_ts = mts_malloc((size_t)(curve->n + 1) * sizeof *out->rep_ts);
    out->rep_eq = mts_malloc((size_t)(curve->n + 1) * sizeof *out->rep_eq);
    if (!out->rep_ts || !out->rep_eq) { rc = MTS_ENOMEM; goto done; }
    for (int64_t i = q0; i < curve->n; i++) {   /* a step run twice: its last point (paper_equity is upserted) */
        if (out->n_rep > 0 && out->rep_ts[out->n_rep - 1] == curve->ts[i]) out->rep_eq[out->n_rep - 1] = curve->v[i];
        else { out->rep_ts[out->n_rep] = curve->ts[i]; out->rep_eq[out->n_rep++] = curve->v[i]; }
    }
    int64_t nrf, nre, nrs;
    const char *rec_list = NULL;
    char rl[4096];
    {
        size_t w = 0;
        rl[0] = 0;
        for (int k = 0; k < n_rs; k++) w += (size_t)snprintf(rl + w, sizeof rl - (w < sizeof rl ? w : sizeof rl), "%s%s", k ? "," : "", rec_strat[k]);
        for (int k = 0; k < n_sh; k++) w += (size_t)snprintf(rl + w, sizeof rl - (w < sizeof rl ? w : sizeof rl), ",%s", shl[k]);
        rec_list = rl;
    }
    if ((rc = load_recorded(s, session, rec_list, &rf, &nrf, &rts, &req, &nre, &rs, &nrs)) != 0) {
        rc = fail(err, errlen, rc, "replay: reading the session's results: %s", sqlite3_errmsg(mts_store_db(s)));
        goto done;
    }
    out->rec_ts = rts;
    out->rec_eq = req;
    out->n_rec = nre;
    rts = NULL;
    req = NULL;
    int64_t iv_s = mts_live_interval_ms(cfg.interval) / 1000;
    int32_t n_acct = mts_engine_account_books(e);
    /* the account's and the shadows' fills apart (each side in its own order) */
    int64_t nra = 0, nrs_f = 0, npa = 0, nps = 0;
    fillrow_t **ra = mts_malloc((size_t)(nrf + 1) * sizeof *ra), **rsh = mts_malloc((size_t)(nrf + 1) * sizeof *rsh);
    const mts_fill_rec_t **pa = mts_malloc((size_t)(nf - f0 + 1) * sizeof *pa), **psh = mts_malloc((size_t)(nf - f0 + 1) * sizeof *psh);
    if (!ra || !rsh || !pa || !psh) {
        mts_free(ra); mts_free(rsh); mts_free(pa); mts_free(psh);
        rc = MTS_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < nrf; i++) {
        if (rf[i].shadow) rsh[nrs_f++] = &rf[i];
        else ra[nra++] = &rf[i];
    }
    for (int64_t i = f0; i < nf; i++) {
        if (fills[i].book >= n_acct) psh[nps++] = &fills[i];
        else pa[npa++] = &fills[i];
    }
    out->recorded.trades = nra;
    out->recorded.signals = nrs;
    for (int64_t i = 0; i < nra; i++) out->recorded.fees += ra[i]->fee;
    curve_stats(out->rec_eq, out->n_rec, cfg.capital, iv_s, &out->recorded);
    out->replayed.trades = npa;
    out->replayed.signals = ns - s0;
    for (int64_t i = 0; i < npa; i++) out->replayed.fees += pa[i]->fee;
    curve_stats(out->rep_eq, out->n_rep, cfg.capital, iv_s, &out->replayed);
    {
        mts_book_stats_t st;
        if (mts_engine_book_stats(e, -1, &st) == 0)
            out->live = (mts_replay_book_t){st.fills, st.trades, st.initial, st.equity, st.equity - st.initial, st.fees,
                                            st.initial > 0 ? st.equity / st.initial - 1 : NAN};
    }
    shadows_compare(s, session, e, n_acct, shl, n_sh, out);

    /* the first divergence, in time order: fills, then equity, then signals */
    char *d = out->divergence;
    size_t dl = sizeof out->divergence;
    int64_t dts = INT64_MAX;
    for (int64_t i = 0; i < nra || i < npa; i++) {
        if (i >= nra || i >= npa) {
            const int64_t t = i < nra ? ra[i]->ts : pa[i]->ts;
            snprintf(d, dl, "fill %lld: %s has it (ts %lld), %s has not", (long long)i + 1,
                     i < nra ? "recorded" : "replayed", (long long)t, i < nra ? "replayed" : "recorded");
            dts = t;
            break;
        }
        const mts_fill_rec_t *y = pa[i];
        const fillrow_t *xr = ra[i];
        const char *an = mts_engine_asset_name(e, y->asset);
        if (xr->ts != y->ts || strcmp(xr->asset, an ? an : "") || !num_eq(xr->qty, y->qty) || !num_eq(xr->price, y->price) ||
            !num_eq(xr->fee, y->fee) || !num_eq(xr->pnl, y->realized_pnl)) {
            snprintf(d, dl, "fill %lld: recorded ts %lld %s qty %.17g price %.17g fee %.17g pnl %.17g, replayed ts %lld %s "
                     "qty %.17g price %.17g fee %.17g pnl %.17g", (long long)i + 1, (long long)xr->ts, xr->asset, xr->qty,
                     xr->price, xr->fee, xr->pnl, (long long)y->ts, an ? an : "?", y->qty, y->price, y->fee, y->realized_pnl);
            dts = xr->ts < y->ts ? xr->ts : y->ts;
            break;
        }
    }
    for (int64_t i = 0; i < nrs_f || i < nps; i++) {   /* the shadows' fills, in order */
        int64_t t;
        char buf[1024];
        if (i >= nrs_f || i >= nps) {
            t = i < nrs_f ? rsh[i]->ts : psh[i]->ts;
            snprintf(buf, sizeof buf, "shadow fill %lld: %s has it (ts %lld), %s has not", (long long)i + 1,
                     i < nrs_f ? "recorded" : "replayed", (long long)t, i < nrs_f ? "replayed" : "recorded");
        } else {
            const mts_fill_rec_t *y = psh[i];
            const fillrow_t *xr = rsh[i];
            const char *an = mts_engine_asset_name(e, y->asset);
            int32_t j = y->book - n_acct;
            const char *lb = j >= 0 && j < n_sh ? shl[j] : "?";
            if (xr->ts == y->ts && !strcmp(xr->asset, an ? an : "") && !strcmp(xr->strategy, lb) &&
                num_eq(xr->qty, y->qty) && num_eq(xr->price, y->price) && num_eq(xr->fee, y->fee) &&
                num_eq(xr->pnl, y->realized_pnl))
                continue;
            t = xr->ts < y->ts ? xr->ts : y->ts;
            snprintf(buf, sizeof buf, "shadow fill %lld: recorded ts %lld %s %s qty %.17g price %.17g fee %.17g, "
                     "replayed ts %lld %s %s qty %.17g price %.17g fee %.17g", (long long)i + 1, (long long)xr->ts,
                     xr->strategy, xr->asset, xr->qty, xr->price, xr->fee, (long long)y->ts, lb, an ? an : "?", y->qty,
                     y->price, y->fee);
        }
        if (t < dts) { dts = t; snprintf(d, dl, "%s", buf); }
        break;
    }
    mts_free(ra);
    mts_free(rsh);
    mts_free(pa);
    mts_free(psh);
    for (int64_t i = 0; i < out->n_rec || i < out->n_rep; i++) {
        int64_t t;
        char buf[512];
        if (i >= out->n_rec || i >= out->n_rep) {
            t = i < out->n_rec ? out->rec_ts[i] : out->rep_ts[i];
            snprintf(buf, sizeof buf, "equity point %lld (ts %lld): only the %s run has it", (long long)i + 1,
                     (long long)t, i < out->n_rec ? "recorded" : "replayed");
        } else if (out->rec_ts[i] != out->rep_ts[i] || !num_eq(out->rec_eq[i], out->rep_eq[i])) {
            t = out->rec_ts[i] < out->rep_ts[i] ? out->rec_ts[i] : out->rep_ts[i];
            snprintf(buf, sizeof buf, "equity at step %lld: recorded ts %lld equity %.17g, replayed ts %lld equity %.17g",
                     (long long)i + 1, (long long)out->rec_ts[i], out->rec_eq[i], (long long)out->rep_ts[i], out->rep_eq[i]);
        } else continue;
        if (t < dts) { dts = t; snprintf(d, dl, "%s", buf); }
        break;
    }
    for (int64_t i = 0; i < nrs || i < ns - s0; i++) {
        int64_t t;
        char buf[512];
        if (i >= nrs || i >= ns - s0) {
            t = i < nrs ? rs[i].ts : sigs[s0 + i].ts;
            snprintf(buf, sizeof buf, "signal %lld (ts %lld): only the %s run has it", (long long)i + 1, (long long)t,
                     i < nrs ? "recorded" : "replayed");
        } else {
            const mts_signal_rec_t *y = &sigs[s0 + i];
            const char *an = mts_engine_asset_name(e, y->asset);
            const char *sn = y->strategy >= 0 && y->strategy < n_strat ? strat[y->strategy]
                             : y->strategy >= n_strat && y->strategy - n_strat < n_sh ? shl[y->strategy - n_strat] : "?";
            if (rs[i].ts == y->ts && !strcmp(rs[i].asset, an ? an : "") && !strcmp(rs[i].strategy, sn) &&
                !strcmp(rs[i].type, mts_signal_name(y->signal_type)) && num_eq(rs[i].price, y->price))
                continue;
            t = rs[i].ts < y->ts ? rs[i].ts : y->ts;
            snprintf(buf, sizeof buf, "signal %lld: recorded ts %lld %s %s %s price %.17g, replayed ts %lld %s %s %s price %.17g",
                     (long long)i + 1, (long long)rs[i].ts, rs[i].strategy, rs[i].asset, rs[i].type, rs[i].price,
                     (long long)y->ts, sn, an ? an : "?", mts_signal_name(y->signal_type), y->price);
        }
        if (t < dts) { dts = t; snprintf(d, dl, "%s", buf); }
        break;
    }
    out->identical = dts == INT64_MAX;
    out->div_ts = out->identical ? 0 : dts;
    rc = 0;
done:
    mts_live_free(live);
    if (r->root[0]) nftw(r->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    for (int64_t i = 0; i < r->nb; i++) mts_free(r->b[i].data);
    mts_free(r->b);
    mts_free(r->ev);
    mts_free(r->prov);
    mts_free(r);
    cJSON_Delete(o);
    mts_free(opt_txt);
    free(rf);
    free(rs);
    mts_free(rts);
    mts_free(req);
    if (rc) mts_replay_result_free(out);
    return rc;
}

void mts_replay_result_free(mts_replay_result_t *r) {
    if (!r) return;
    mts_free(r->rec_ts);
    mts_free(r->rep_ts);
    mts_free(r->rec_eq);
    mts_free(r->rep_eq);
    r->rec_ts = r->rep_ts = NULL;
    r->rec_eq = r->rep_eq = NULL;
    r->n_rec = r->n_rep = 0;
}

static void polyline(FILE *f, const int64_t *ts, const double *v, int64_t n, int64_t t0, int64_t t1, double lo,
                     double hi, const char *color) {
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
    for (int64_t i = 0; i < n; i++) {
        double x = t1 > t0 ? 40 + 740.0 * (double)(ts[i] - t0) / (double)(t1 - t0) : 40;
        double y = hi > lo ? 20 + 260.0 * (hi - v[i]) / (hi - lo) : 150;
        fprintf(f, "%.1f,%.1f ", x, y);
    }
    fprintf(f, "\"/>\n");
}

int mts_replay_report_html(FILE *f, const mts_replay_result_t *r) {
    if (!f || !r) return MTS_EINVAL;
    fprintf(f, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mts replay %lld</title><style>"
               "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
               "padding:4px 10px;text-align:right}th:first-child,td:first-child{text-align:left}</style></head><body>\n",
            (long long)r->session);
    fprintf(f, "<h1>Paper session %lld replayed</h1>\n<p>replayed with: %s; %s</p>\n", (long long)r->session,
            r->strategies, r->identical ? "identical to the record" : "differs from the record");
    if (!r->identical) fprintf(f, "<p>first difference: %s</p>\n", r->divergence);
    const mts_replay_side_t *a = &r->recorded, *b = &r->replayed;
    fprintf(f, "<table><tr><th></th><th>recorded</th><th>replayed</th></tr>\n");
    fprintf(f, "<tr><td>trades (fills)</td><td>%lld</td><td>%lld</td></tr>\n", (long long)a->trades, (long long)b->trades);
    fprintf(f, "<tr><td>signals</td><td>%lld</td><td>%lld</td></tr>\n", (long long)a->signals, (long long)b->signals);
    fprintf(f, "<tr><td>PnL</td><td>%.2f</td><td>%.2f</td></tr>\n", a->pnl, b->pnl);
    fprintf(f, "<tr><td>fees</td><td>%.2f</td><td>%.2f</td></tr>\n", a->fees, b->fees);
    fprintf(f, "<tr><td>return</td><td>%.4f %%</td><td>%.4f %%</td></tr>\n", a->ret * 100, b->ret * 100);
    fprintf(f, "<tr><td>max drawdown</td><td>%.4f %%</td><td>%.4f %%</td></tr>\n", a->max_dd * 100, b->max_dd * 100);
    fprintf(f, "<tr><td>Sharpe</td><td>%.3f</td><td>%.3f</td></tr>\n", a->sharpe, b->sharpe);
    fprintf(f, "<tr><td>final equity</td><td>%.2f</td><td>%.2f</td></tr></table>\n", a->final_equity, b->final_equity);
    if (r->n_shadows > 0) {   /* live vs shadow */
        fprintf(f, "<h2>Shadow strategies</h2><table><tr><th>shadow</th><th>capital</th><th>recorded equity</th>"
                   "<th>replayed equity</th><th>recorded fills</th><th>replayed fills</th></tr>\n");
        for (int j = 0; j < r->n_shadows; j++) {
            const mts_replay_shadow_t *x = &r->shadows[j];
            fprintf(f, "<tr><td>");
            for (const char *p = x->label; *p; p++) {   /* HTML-escaped */
                if (*p == '<') fputs("&lt;", f);
                else if (*p == '>') fputs("&gt;", f);
                else if (*p == '&') fputs("&amp;", f);
                else fputc(*p, f);
            }
            fprintf(f, "</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%lld</td><td>%lld</td></tr>\n",
                    x->replayed.initial, x->recorded.final_equity, x->replayed.final_equity,
                    (long long)x->recorded.fills, (long long)x->replayed.fills);
        }
        fprintf(f, "</table>\n");
    }
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < 2; k++) {
        const int64_t *ts = k ? r->rep_ts : r->rec_ts;
        const double *v = k ? r->rep_eq : r->rec_eq;
        int64_t n = k ? r->n_rep : r->n_rec;
        for (int64_t i = 0; i < n; i++) {
            if (ts[i] < t0) t0 = ts[i];
            if (ts[i] > t1) t1 = ts[i];
            if (v[i] < lo) lo = v[i];
            if (v[i] > hi) hi = v[i];
        }
    }
    fprintf(f, "<h2>Equity</h2><svg width=\"800\" height=\"300\" xmlns=\"http://www.w3.org/2000/svg\">\n");
    polyline(f, r->rec_ts, r->rec_eq, r->n_rec, t0, t1, lo, hi, "#1f77b4");
    polyline(f, r->rep_ts, r->rep_eq, r->n_rep, t0, t1, lo, hi, "#d62728");
    fprintf(f, "</svg><p><span style=\"color:#1f77b4\">recorded</span> / <span style=\"color:#d62728\">replayed</span></p>"
               "</body></html>\n");
    return ferror(f) ? MTS_EIO : 0;
}
