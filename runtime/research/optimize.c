/* optimize.c — grid points, one point's run, local parallel execution and
 * ranking (research.h).
 *
 * jobs > 1 runs on one of two executors (research.h mts_opt_exec_t):
 * worker processes (run_processes, below: forked after the data is loaded,
 * one store handle per child, point indices over a socketpair per child) in
 * a single-threaded caller, else threads.
 *
 * Threads: the points are handed out in
 * index order from one counter; each thread has its own store handle on the
 * database (store.h: a handle belongs to one thread) and every run its own
 * Lua state (mts_backtest_run makes one per run). The bars, VIX and provider
 * are shared read-only (the provider serializes its lazy loads with its own
 * lock, market/provider.h). Results land in results[index], so the order and
 * the numbers do not depend on the threads; stored run ids follow completion
 * order. The coordinating (calling) thread only waits and reports progress. */
#include "research/research.h"
#include "market/interval.h"
#include "util/config.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- metrics ---- */

const char *const mts_opt_metrics[] = {"sharpe_ratio", "total_return", "annualized_return", "max_drawdown",
                                       "volatility", "calmar_ratio", "win_rate", "profit_factor",
                                       "final_value", "sortino_ratio", "exposure_time", "avg_trade",
                                       "expectancy", "alpha", "beta", NULL};

int mts_opt_metric_known(const char *name) {
    for (int m = 0; name && mts_opt_metrics[m]; m++)
        if (strcmp(mts_opt_metrics[m], name) == 0) return 1;
    return 0;
}

int mts_opt_higher_is_better(const char *metric) {
    return strcmp(metric, "max_drawdown") != 0 && strcmp(metric, "volatility") != 0;
}

double mts_opt_metric_of(const mts_metrics_t *m, const char *name) {
    if (!strcmp(name, "sharpe_ratio")) return m->sharpe_ratio;
    if (!strcmp(name, "total_return")) return m->total_return;
    if (!strcmp(name, "annualized_return")) return m->annualized_return;
    if (!strcmp(name, "max_drawdown")) return m->max_drawdown;
    if (!strcmp(name, "volatility")) return m->volatility;
    if (!strcmp(name, "calmar_ratio")) return m->calmar_ratio;
    if (!strcmp(name, "win_rate")) return m->win_rate;
    if (!strcmp(name, "profit_factor")) return m->profit_factor;
    /* issue 12: every point is a backtest (run_point), whose metrics have these;
     * alpha and beta against its buy-and-hold benchmark (backtest.c) */
    if (!strcmp(name, "sortino_ratio")) return m->sortino_ratio;
    if (!strcmp(name, "exposure_time")) return m->exposure_time;
    if (!strcmp(name, "avg_trade")) return m->avg_trade;
    if (!strcmp(name, "expectancy")) return m->expectancy;
    if (!strcmp(name, "alpha")) return m->alpha;
    if (!strcmp(name, "beta")) return m->beta;
    return m->final_value;
}

/* ---- points ---- */

int mts_opt_points(const mts_opt_spec_t *spec, mts_opt_point_t **points, int64_t *n, char *err, size_t errlen) {
    if (!spec || !points || !n || !spec->grid) return mts_errf(err, errlen, MTS_EINVAL, "optimize: missing argument");
    *points = NULL;
    *n = 0;
    const mts_grid_t *g = spec->grid;
    int64_t total = 0;
    for (int s = 0; s < spec->n_strategies; s++) {
        int64_t c = 1;
        for (int k = 0; k < g->n_axes; k++)
            if (mts_grid_axis_applies(g->axes[k].key, spec->strategies[s])) c *= g->axes[k].n;
        total += c;
        if (total > MTS_GRID_MAX_POINTS)
            return mts_errf(err, errlen, MTS_ERANGE, "more than %d combinations; use fewer values or a coarser step",
                        MTS_GRID_MAX_POINTS);
    }
    mts_opt_point_t *p = mts_calloc((size_t)total + 1, sizeof *p);
    if (!p) return mts_errf(err, errlen, MTS_ENOMEM, "out of memory for %lld combinations", (long long)total);
    int64_t r = 0;
    for (int s = 0; s < spec->n_strategies; s++) {
        int cur[MTS_GRID_MAX_AXES];
        for (int k = 0; k < g->n_axes; k++)
            cur[k] = mts_grid_axis_applies(g->axes[k].key, spec->strategies[s]) ? 0 : -1;
        for (;;) {
            p[r].index = r;
            p[r].strategy = s;
            for (int k = 0; k < MTS_GRID_MAX_AXES; k++) p[r].value[k] = k < g->n_axes ? cur[k] : -1;
            r++;
            int k = g->n_axes - 1;   /* odometer over the axes that apply, last fastest */
            for (; k >= 0; k--) {
                if (cur[k] < 0) continue;
                if (++cur[k] < g->axes[k].n) break;
                cur[k] = 0;
            }
            if (k < 0) break;
        }
    }
    *points = p;
    *n = total;
    return 0;
}

void mts_opt_point_text(const mts_opt_spec_t *spec, const mts_opt_point_t *p, char *buf, size_t n) {
    if (!n) return;
    buf[0] = 0;
    size_t len = 0;
    for (int k = 0; k < spec->grid->n_axes && len < n; k++)
        if (p->value[k] >= 0)
            len += (size_t)snprintf(buf + len, n - len, "%s%s=%s", len ? " " : "", spec->grid->axes[k].key,
                                    spec->grid->axes[k].values[p->value[k]]);
}

void mts_opt_backtest_opts(const mts_opt_spec_t *spec, const mts_opt_point_t *p, int store_it,
                          const mts_backtest_data_t *data, const char **strategy, const char **keys,
                          const char **values, mts_backtest_opts_t *bo) {
    int n = 0;
    for (int k = 0; p && k < spec->grid->n_axes; k++)
        if (p->value[k] >= 0) {
            keys[n] = spec->grid->axes[k].key;
            values[n] = spec->grid->axes[k].values[p->value[k]];
            n++;
        }
    *strategy = spec->strategies[p ? p->strategy : 0];
    *bo = (mts_backtest_opts_t){
        .strategies = strategy, .n_strategies = 1, .assets = spec->assets, .n_assets = spec->n_assets,
        .param_keys = keys, .param_values = values, .n_params = n, .from = spec->from, .to = spec->to,
        .interval = spec->interval, .capital = spec->capital, .commission_bps = spec->commission_bps,
        .slippage_bps = spec->slippage_bps, .risk_free = spec->risk_free,
        .root = spec->root ? spec->root : mts_root(), .db_label = spec->db_label, .store_result = store_it,
        .keep_unstored = store_it, .trusted = spec->trusted, .data = data,
        .mode = spec->mode, .max_position = spec->max_position, .max_portfolio_risk = spec->max_portfolio_risk,
        .market = spec->market, .leverage = spec->leverage, .maker_bps = spec->maker_bps,
        .taker_bps = spec->taker_bps, .has_maker = spec->has_maker, .has_taker = spec->has_taker};
}

int mts_opt_data_load(mts_store_t *store, const mts_opt_spec_t *spec, mts_backtest_data_t **out, char *err,
                      size_t errlen) {
    if (!store || !spec || !out || !spec->grid || spec->n_strategies < 1)
        return mts_errf(err, errlen, MTS_EINVAL, "optimize: missing argument");
    const char *keys[MTS_GRID_MAX_AXES], *values[MTS_GRID_MAX_AXES], *strategy;
    mts_backtest_opts_t bo;
    mts_opt_backtest_opts(spec, NULL, 0, NULL, &strategy, keys, values, &bo);
    return mts_backtest_data_load(store, &bo, out, err, errlen);
}

static int run_point(mts_store_t *store, const mts_opt_spec_t *spec, const mts_backtest_data_t *data,
                     const mts_opt_point_t *p, int store_it, const volatile sig_atomic_t *cancel,
                     mts_opt_result_t *out, char *err, size_t errlen) {
    const char *keys[MTS_GRID_MAX_AXES], *values[MTS_GRID_MAX_AXES], *strategy;
    mts_backtest_opts_t bo;
    mts_opt_backtest_opts(spec, p, store_it, data, &strategy, keys, values, &bo);
    bo.cancel = cancel;
    memset(out, 0, sizeof *out);
    out->index = p->index;
    out->strategy = p->strategy;
    mts_backtest_t *b = NULL;
    char e[1024] = "";
    int rc = mts_backtest_run(store, &bo, &b, e, sizeof e);
    if (rc != 0) {
        char combo[512];
        mts_opt_point_text(spec, p, combo, sizeof combo);
        return mts_errf(err, errlen, rc, "%s\n  (in the run %s%s%s; fix the --param values or the strategy and run "
                                     "it again)", e[0] ? e : mts_strerror(rc), strategy, combo[0] ? " " : "", combo);
    }
    out->m = b->metrics;
    out->metric = mts_opt_metric_of(&b->metrics, spec->metric ? spec->metric : "sharpe_ratio");
    out->run_id = b->run_id;
    out->disabled = b->lua.disabled && *b->lua.disabled;
    out->store_rc = b->store_rc;
    if (b->store_rc) snprintf(out->store_err, sizeof out->store_err, "%.*s", (int)sizeof out->store_err - 1, b->store_err);
    mts_backtest_free(b);
    return 0;
}

int mts_opt_run_point(mts_store_t *store, const mts_opt_spec_t *spec, const mts_backtest_data_t *data,
                      const mts_opt_point_t *p, int store_it, mts_opt_result_t *out, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!store || !spec || !spec->grid || !data || !p || !out)
        return mts_errf(err, errlen, MTS_EINVAL, "optimize: missing argument");
    if (p->strategy < 0 || p->strategy >= spec->n_strategies)
        return mts_errf(err, errlen, MTS_EINVAL, "optimize: point %lld names strategy %d of %d", (long long)p->index,
                    p->strategy, spec->n_strategies);
    for (int k = 0; k < spec->grid->n_axes; k++)
        if (p->value[k] >= spec->grid->axes[k].n)
            return mts_errf(err, errlen, MTS_EINVAL, "optimize: point %lld is outside the grid", (long long)p->index);
    return run_point(store, spec, data, p, store_it, NULL, out, err, errlen);
}

/* ---- local execution ---- */

typedef struct {
    const char              *db_path;
    const mts_opt_spec_t    *spec;
    const mts_backtest_data_t *data;
    const mts_opt_point_t   *points;
    int64_t                  n;
    mts_opt_result_t        *results;
    const volatile sig_atomic_t *cancel;
    pthread_mutex_t          mu;
    pthread_cond_t           cv;
    int64_t                  next, done;   /* under mu */
    int                      running;      /* threads not yet finished, under mu */
    int64_t                  fail_index;   /* lowest failing point, n when none; under mu */
    int                      fail_rc;
    char                     fail_err[1024];
} pool_t;

static void record_failure(pool_t *pl, int64_t index, int rc, const char *err) {
    pthread_mutex_lock(&pl->mu);
    if (index < pl->fail_index) {
        pl->fail_index = index;
        pl->fail_rc = rc;
        snprintf(pl->fail_err, sizeof pl->fail_err, "%s", err);
    }
    pthread_mutex_unlock(&pl->mu);
}

static void *worker(void *arg) {
    pool_t *pl = arg;
    mts_store_t *store = NULL;
    int rc = mts_store_open(pl->db_path, &store);
    if (rc != 0) {
        char e[1024];
        snprintf(e, sizeof e, "cannot open the database %s: %s", pl->db_path,
                 mts_store_errmsg(store) && *mts_store_errmsg(store) ? mts_store_errmsg(store) : mts_strerror(rc));
        mts_store_close(store);
        store = NULL;
        record_failure(pl, 0, rc, e);
    }
    for (;;) {
        pthread_mutex_lock(&pl->mu);
        /* a failure stops the handing out: the points before it are all handed out
         * already, so the lowest failing index is the same as with --jobs 1 */
        int64_t i = pl->next < pl->n && pl->fail_index == pl->n && !(pl->cancel && *pl->cancel) && store
                        ? pl->next++ : -1;
        pthread_mutex_unlock(&pl->mu);
        if (i < 0) break;
        char e[1024] = "";
        rc = run_point(store, pl->spec, pl->data, &pl->points[i], pl->spec->store == MTS_OPT_STORE_ALL,
                       pl->cancel, &pl->results[i], e, sizeof e);
        if (rc != 0) record_failure(pl, i, rc, e);
        pthread_mutex_lock(&pl->mu);
        pl->done++;
        pthread_cond_signal(&pl->cv);
        pthread_mutex_unlock(&pl->mu);
    }
    mts_store_close(store);
    pthread_mutex_lock(&pl->mu);
    pl->running--;
    pthread_cond_signal(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

int mts_opt_jobs_default(void) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c < 1 ? 1 : c > 256 ? 256 : (int)c;
}

/* ---- worker processes ----
 *
 * One child per job, forked after the data is loaded: the bars, VIX, provider
 * and the bar cache's mappings are shared copy-on-write. Each child opens its
 * own store handle on db_path (the parent's SQLite connection is never used in
 * a child) and answers requests on its end of a socketpair: the parent sends a
 * point index (int64), the child runs the point and sends a reply_t, the
 * result bytes (a POD struct) and the error text. A child ends when its
 * socket reaches EOF, with _exit (no atexit handlers, no stdio flush of the
 * parent's buffers). */

typedef struct {
    int32_t  rc;
    uint32_t errlen;
} reply_t;

typedef struct {
    pid_t   pid;
    int     fd;        /* the parent's end; -1 when closed */
    int64_t point;     /* the point it is running, -1 when idle */
} child_t;

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t n) {   /* 0 ok, 1 EOF before n bytes, -1 error */
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) return 1;
        got += (size_t)r;
    }
    return 0;
}

static void child_main(int fd, const char *db_path, const mts_opt_spec_t *spec, const mts_backtest_data_t *data,
                       const mts_opt_point_t *points, int64_t np, const volatile sig_atomic_t *cancel,
                       pid_t parent) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
#ifdef __linux__
    /* a parent killed outright (SIGKILL, an unhandled signal sent to it alone)
     * ends the children at once, not after their current run */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(0);
#else
    (void)parent;
#endif
    /* test hook (tests/c/test_research.c): the child dies by SIGKILL when it is
     * handed this point; read only here, in a child */
    const char *crash = getenv("MTS_OPT_TEST_CHILD_KILL_POINT");
    int64_t crash_at = crash && *crash ? strtoll(crash, NULL, 10) : -1;
    mts_store_t *store = NULL;
    char open_err[1024] = "";
    int open_rc = mts_store_open(db_path, &store);
    if (open_rc != 0) {
        const char *m = mts_store_errmsg(store);
        snprintf(open_err, sizeof open_err, "cannot open the database %s: %s", db_path,
                 m && *m ? m : mts_strerror(open_rc));
        mts_store_close(store);
        store = NULL;
    }
    for (;;) {
        int64_t i;
        if (read_all(fd, &i, sizeof i) != 0 || i < 0 || i >= np) break;
        if (i == crash_at) raise(SIGKILL);
        mts_opt_result_t r;
        memset(&r, 0, sizeof r);
        char e[1024] = "";
        int rc = store ? run_point(store, spec, data, &points[i], spec->store == MTS_OPT_STORE_ALL, cancel, &r, e,
                                   sizeof e)
                       : (snprintf(e, sizeof e, "%s", open_err), open_rc);
        reply_t h = {rc, rc ? (uint32_t)strlen(e) : 0};
        if (write_all(fd, &h, sizeof h) || write_all(fd, &r, sizeof r) || (h.errlen && write_all(fd, e, h.errlen)))
            break;
    }
    mts_store_close(store);
    fflush(NULL);   /* the strategy's own prints; the parent's buffers were flushed before the fork */
    _exit(0);
}

static void death_text(int status, char *buf, size_t n) {
    if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(buf, n, "ended (status %d)", status);
}

static void reap(child_t *c) {   /* closes the socket and waits for the child: no zombie */
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    if (c->pid > 0)
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {}
    c->pid = -1;
}

static int run_processes(const char *db_path, const mts_opt_spec_t *spec, const mts_backtest_data_t *data,
                         const mts_opt_point_t *points, int64_t np, int jobs, mts_opt_progress_fn progress,
                         void *progress_ctx, const volatile sig_atomic_t *cancel, mts_opt_result_t *res, char *err,
                         size_t errlen) {
    child_t *ch = mts_calloc((size_t)jobs, sizeof *ch);
    struct pollfd *pfd = mts_calloc((size_t)jobs, sizeof *pfd);
    if (!ch || !pfd) {
        mts_free(ch);
        mts_free(pfd);
        return mts_errf(err, errlen, MTS_ENOMEM, "out of memory for --jobs %d", jobs);
    }
    fflush(NULL);   /* nothing buffered is written twice */
    int started = 0, rc = 0;
    char start_err[256] = "";
    pid_t self = getpid();
    for (int t = 0; t < jobs; t++) {
        ch[t] = (child_t){.pid = -1, .fd = -1, .point = -1};
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            snprintf(start_err, sizeof start_err, "socketpair: %s", strerror(errno));
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            snprintf(start_err, sizeof start_err, "fork: %s", strerror(errno));
            close(sv[0]);
            close(sv[1]);
            break;
        }
        if (pid == 0) {
            close(sv[0]);
            for (int u = 0; u < t; u++) close(ch[u].fd);   /* else earlier children never see EOF */
            child_main(sv[1], db_path, spec, data, points, np, cancel, self);
        }
        close(sv[1]);
        ch[t].pid = pid;
        ch[t].fd = sv[0];
        started++;
    }
    if (started == 0) rc = mts_errf(err, errlen, MTS_ENOMEM, "cannot start the processes of --jobs %d: %s", jobs, start_err);
    int64_t next = 0, done = 0, reported = 0, fail_index = np;
    int fail_rc = 0, cancelled = 0;
    char fail_err[1200] = "";
    for (;;) {
        if (cancel && *cancel && !cancelled) {
            cancelled = 1;
            for (int t = 0; t < started; t++)
                if (ch[t].pid > 0) kill(ch[t].pid, SIGTERM);
            for (int t = 0; t < started; t++) reap(&ch[t]);
            break;
        }
        /* hand out: in index order, to idle children, until a failure or the end */
        int busy = 0;
        for (int t = 0; t < started; t++) {
            if (ch[t].fd < 0) continue;
            if (ch[t].point < 0 && next < np && fail_index == np) {
                ch[t].point = next;
                if (write_all(ch[t].fd, &next, sizeof next) != 0) {
                    /* the child is gone: reported below when its socket reads EOF */
                }
                next++;
            }
            busy += ch[t].point >= 0;
        }
        if (!busy) break;
        int nf = 0;
        for (int t = 0; t < started; t++)
            if (ch[t].fd >= 0 && ch[t].point >= 0) pfd[nf++] = (struct pollfd){.fd = ch[t].fd, .events = POLLIN};
        int pr = poll(pfd, (nfds_t)nf, 100);
        if (pr < 0 && errno != EINTR) {
            rc = mts_errf(err, errlen, MTS_EIO, "optimize: poll: %s", strerror(errno));
            break;
        }
        for (int k = 0; pr > 0 && k < nf; k++) {
            if (!pfd[k].revents) continue;
            child_t *c = NULL;
            for (int t = 0; t < started; t++)
                if (ch[t].fd == pfd[k].fd) c = &ch[t];
            int64_t i = c->point;
            reply_t h;
            int got = read_all(c->fd, &h, sizeof h);
            if (got == 0) got = read_all(c->fd, &res[i], sizeof res[i]);
            char e[1024] = "";
            if (got == 0 && h.errlen) {
                uint32_t m = h.errlen < sizeof e ? h.errlen : (uint32_t)sizeof e - 1;
                got = read_all(c->fd, e, m);
                char skip[256];
                for (uint32_t left = h.errlen - m; got == 0 && left > 0;) {
                    uint32_t s2 = left < sizeof skip ? left : (uint32_t)sizeof skip;
                    got = read_all(c->fd, skip, s2);
                    left -= s2;
                }
            }
            if (got != 0) {   /* the child died while running point i */
                pid_t pid = c->pid;
                if (c->fd >= 0) close(c->fd);
                c->fd = -1;
                int status = 0;
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
                c->pid = -1;
                c->point = -1;
                char how[160], combo[512];
                death_text(status, how, sizeof how);
                mts_opt_point_text(spec, &points[i], combo, sizeof combo);
                if (i < fail_index) {
                    fail_index = i;
                    fail_rc = MTS_EBACKTEST;
                    snprintf(fail_err, sizeof fail_err,
                             "the worker process (pid %d) running point %lld was %s\n  (in the run %s%s%s)", (int)pid,
                             (long long)i, how, spec->strategies[points[i].strategy], combo[0] ? " " : "", combo);
                }
                done++;
                continue;
            }
            c->point = -1;
            done++;
            if (h.rc != 0 && i < fail_index) {
                fail_index = i;
                fail_rc = h.rc;
                snprintf(fail_err, sizeof fail_err, "%s", e);
            }
        }
        if (progress && done != reported) {
            progress(progress_ctx, done, np);
            reported = done;
        }
    }
    for (int t = 0; t < started; t++) reap(&ch[t]);   /* EOF ends each child */
    mts_free(ch);
    mts_free(pfd);
    if (rc == 0 && fail_index < np) rc = mts_errf(err, errlen, fail_rc, "%s", fail_err);
    else if (rc == 0 && cancelled)
        rc = mts_errf(err, errlen, MTS_ECANCELED, "cancelled after %lld of %lld runs", (long long)done, (long long)np);
    return rc;
}

/* Whether this process runs only one thread (Linux: /proc/self/task has one
 * entry). fork without exec is safe only then: a child of a threaded process
 * may find malloc, SQLite or libwebsockets locks held by threads it lacks. */
static int single_threaded(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n == 1;
}

static mts_opt_exec_t pick_executor(mts_opt_exec_t exec) {
    if (exec == MTS_OPT_EXEC_THREADS) return exec;
    const char *env = getenv("MTS_OPT_EXECUTOR");
    if (exec == MTS_OPT_EXEC_AUTO && env && strcmp(env, "threads") == 0) return MTS_OPT_EXEC_THREADS;
    return single_threaded() ? MTS_OPT_EXEC_PROCESSES : MTS_OPT_EXEC_THREADS;
}

int mts_opt_run_data(mts_store_t *store, const char *db_path, const mts_opt_spec_t *spec,
                     const mts_backtest_data_t *data, int jobs, mts_opt_progress_fn progress, void *progress_ctx,
                     const volatile sig_atomic_t *cancel, mts_opt_result_t **results, int64_t *n, char *err,
                     size_t errlen) {
    return mts_opt_run_data_exec(store, db_path, spec, data, jobs, MTS_OPT_EXEC_AUTO, progress, progress_ctx, cancel,
                                 results, n, err, errlen);
}

int mts_opt_run_data_exec(mts_store_t *store, const char *db_path, const mts_opt_spec_t *spec,
                          const mts_backtest_data_t *data, int jobs, mts_opt_exec_t exec,
                          mts_opt_progress_fn progress, void *progress_ctx, const volatile sig_atomic_t *cancel,
                          mts_opt_result_t **results, int64_t *n, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!spec || !data || !results || !n || !spec->grid || (jobs == 1 && !store) || (jobs != 1 && !db_path))
        return mts_errf(err, errlen, MTS_EINVAL, "optimize: missing argument");
    *results = NULL;
    *n = 0;
    if (jobs < 1) jobs = mts_opt_jobs_default();
    mts_opt_point_t *points = NULL;
    int64_t np = 0;
    int rc = mts_opt_points(spec, &points, &np, err, errlen);
    if (rc) return rc;
    mts_opt_result_t *res = mts_calloc((size_t)np + 1, sizeof *res);
    if (!res) {
        mts_free(points);
        return mts_errf(err, errlen, MTS_ENOMEM, "out of memory for %lld results", (long long)np);
    }
    if (jobs > np) jobs = np > 0 ? (int)np : 1;
    if (progress) progress(progress_ctx, 0, np);
    if (jobs == 1) {   /* the sequential path, in the calling thread with its store */
        for (int64_t i = 0; i < np; i++) {
            if (cancel && *cancel) {
                rc = mts_errf(err, errlen, MTS_ECANCELED, "cancelled after %lld of %lld runs", (long long)i,
                          (long long)np);
                break;
            }
            if ((rc = run_point(store, spec, data, &points[i], spec->store == MTS_OPT_STORE_ALL, cancel, &res[i],
                                err, errlen)) != 0)
                break;
            if (progress) progress(progress_ctx, i + 1, np);
        }
    } else if (pick_executor(exec) == MTS_OPT_EXEC_PROCESSES) {
        rc = run_processes(db_path, spec, data, points, np, jobs, progress, progress_ctx, cancel, res, err, errlen);
    } else {
        pool_t pl = {.db_path = db_path, .spec = spec, .data = data, .points = points, .n = np, .results = res,
                     .cancel = cancel, .fail_index = np};
        pthread_mutex_init(&pl.mu, NULL);
        pthread_cond_init(&pl.cv, NULL);
        pthread_t *tids = mts_calloc((size_t)jobs, sizeof *tids);
        int started = 0;
        for (int t = 0; tids && t < jobs; t++) {
            pthread_mutex_lock(&pl.mu);
            pl.running++;
            pthread_mutex_unlock(&pl.mu);
            if (pthread_create(&tids[t], NULL, worker, &pl) != 0) {
                pthread_mutex_lock(&pl.mu);
                pl.running--;
                pthread_mutex_unlock(&pl.mu);
                break;
            }
            started++;
        }
        if (started == 0) rc = mts_errf(err, errlen, MTS_ENOMEM, "cannot start the threads of --jobs %d", jobs);
        int64_t reported = 0;
        pthread_mutex_lock(&pl.mu);
        while (pl.running > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&pl.cv, &pl.mu, &ts);
            int64_t d = pl.done;
            if (progress && d != reported) {
                pthread_mutex_unlock(&pl.mu);   /* the callback runs without the lock */
                progress(progress_ctx, d, np);
                reported = d;
                pthread_mutex_lock(&pl.mu);
            }
        }
        pthread_mutex_unlock(&pl.mu);
        for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
        mts_free(tids);
        if (rc == 0 && pl.fail_index < np) rc = mts_errf(err, errlen, pl.fail_rc, "%s", pl.fail_err);
        else if (rc == 0 && cancel && *cancel && pl.next < np)
            rc = mts_errf(err, errlen, MTS_ECANCELED, "cancelled after %lld of %lld runs", (long long)pl.done,
                      (long long)np);
        pthread_cond_destroy(&pl.cv);
        pthread_mutex_destroy(&pl.mu);
    }
    mts_free(points);
    if (rc != 0) {
        mts_free(res);
        return rc;
    }
    *results = res;
    *n = np;
    return 0;
}

int mts_opt_run_local(const char *db_path, const mts_opt_spec_t *spec, int jobs, mts_opt_progress_fn progress,
                      void *progress_ctx, const volatile sig_atomic_t *cancel, mts_opt_result_t **results,
                      int64_t *n, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!db_path || !spec || !results || !n) return mts_errf(err, errlen, MTS_EINVAL, "optimize: missing argument");
    *results = NULL;
    *n = 0;
    mts_store_t *store = NULL;
    int rc = mts_store_open(db_path, &store);
    if (rc != 0) {
        const char *m = mts_store_errmsg(store);
        mts_errf(err, errlen, rc, "cannot open the database %s: %s", db_path, m && *m ? m : mts_strerror(rc));
        mts_store_close(store);
        return rc;
    }
    mts_backtest_data_t *data = NULL;
    if ((rc = mts_opt_data_load(store, spec, &data, err, errlen)) == 0)
        rc = mts_opt_run_data(store, db_path, spec, data, jobs, progress, progress_ctx, cancel, results, n, err,
                              errlen);
    mts_backtest_data_free(data);
    mts_store_close(store);
    return rc;
}

/* ---- ranking ---- */

typedef struct {
    const mts_opt_result_t *r;
    int64_t                 i;
    int                     higher;
} rank_t;

static int cmp_rank(const void *a, const void *b) {
    const rank_t *x = a, *y = b;
    double mx = x->r[x->i].metric, my = y->r[y->i].metric;
    int nx = isnan(mx), ny = isnan(my);
    if (nx != ny) return nx - ny;   /* undefined values last */
    if (!nx && mx != my) return (mx > my) == x->higher ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;   /* ties (and NaNs) by index: stable */
}

void mts_opt_rank(const mts_opt_spec_t *spec, const mts_opt_result_t *results, int64_t n, int64_t *order) {
    if (n <= 0) return;
    int higher = mts_opt_higher_is_better(spec && spec->metric ? spec->metric : "sharpe_ratio");
    rank_t *t = mts_malloc((size_t)n * sizeof *t);
    if (!t) {   /* no room to sort: index order (still a valid permutation) */
        for (int64_t i = 0; i < n; i++) order[i] = i;
        return;
    }
    for (int64_t i = 0; i < n; i++) t[i] = (rank_t){results, i, higher};
    qsort(t, (size_t)n, sizeof *t, cmp_rank);
    for (int64_t i = 0; i < n; i++) order[i] = t[i].i;
    mts_free(t);
}
