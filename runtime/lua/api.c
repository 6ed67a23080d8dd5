/* api.c — the classic-API bindings behind the REPL's mts API (see api.h):
 * market data from the store and whole backtests (mts_backtest_run), each
 * owned by a userdata whose __gc frees it; paper sessions as the API's JSON
 * (api/queries.h). scripts/lib/api.lua turns them
 * into series, tables and result objects; the arrays reach Lua as
 * lightuserdata pointers that api.lua casts with the FFI and keeps alive by
 * holding the userdata. */
#include "lua/api.h"
#include "api/queries.h"
#include "market/interval.h"
#include "market/series.h"
#include "backtest/backtest.h"
#include "research/research.h"
#include "store/store.h"
#include "util/timeutil.h"
#include "util/config.h"
#include "util/strategies.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#define BARS_MT "mts.bars"
#define SERIES_MT "mts.series"
#define BACKTEST_MT "mts.backtest"

typedef struct api {
    mts_store_t *store;
    const volatile sig_atomic_t *cancel;   /* borrowed: stops mts.backtest (Ctrl-C) */
    char root[1024];
    char db_label[1024];
} api_t;

static api_t *api_of(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

/* nil | number (unix seconds) | "YYYY-MM-DD" / ISO text -> int64; dflt when nil. */
static int64_t opt_time(lua_State *L, int idx, int64_t dflt, int end_of_day) {
    if (lua_isnoneornil(L, idx)) return dflt;
    if (lua_type(L, idx) == LUA_TNUMBER) return (int64_t)lua_tonumber(L, idx);
    size_t len;
    const char *s = luaL_checklstring(L, idx, &len);
    int64_t t;
    if (mts_time_parse(s, len, &t) != 0)
        luaL_error(L, "cannot read '%s' as a date (use YYYY-MM-DD, ISO-8601 or unix seconds)", s);
    if (end_of_day && len == 10) t += 86399;   /* a bare date means the whole day */
    return t;
}

static int bars_gc(lua_State *L) {
    mts_bars_free(luaL_checkudata(L, 1, BARS_MT));
    return 0;
}

static int series_gc(lua_State *L) {
    mts_series_free(luaL_checkudata(L, 1, SERIES_MT));
    return 0;
}

static int backtest_gc(lua_State *L) {
    mts_backtest_t **b = luaL_checkudata(L, 1, BACKTEST_MT);
    mts_backtest_free(*b);
    *b = NULL;
    return 0;
}

/* bars(asset, from, to, interval) -> ud, n, ts, open, high, low, close, volume
 * (pointers); interval nil = "1d", else one of MTS_INTERVALS. */
static int l_bars(lua_State *L) {
    api_t *a = api_of(L);
    const char *asset = luaL_checkstring(L, 1);
    int64_t from = opt_time(L, 2, INT64_MIN, 0), to = opt_time(L, 3, INT64_MAX, 1);
    const char *iv = luaL_optstring(L, 4, MTS_INTERVAL_DEFAULT);
    if (mts_interval_seconds(iv) < 0)
        return luaL_error(L, "mts.bars: unknown interval '%s' (one of %s)", iv, MTS_INTERVALS);
    if (!a->store) return luaL_error(L, "mts.bars: no database is open");
    int rc = mts_series_ensure(a->store, a->root, asset, iv);
    if (rc != 0 && rc != MTS_ENOTFOUND)
        return luaL_error(L, "mts.bars: %s: %s", asset, mts_store_errmsg(a->store));
    mts_bars_t *b = lua_newuserdata(L, sizeof *b);
    memset(b, 0, sizeof *b);
    luaL_getmetatable(L, BARS_MT);
    lua_setmetatable(L, -2);
    mts_series_info_t info;                  /* stored, or resampled from a finer stored interval */
    rc = mts_series_load_bars(a->store, asset, iv, from, to, b, &info);
    if (rc == MTS_ENOTFOUND) return luaL_error(L, "mts.bars: %s", info.error);
    if (rc != 0) return luaL_error(L, "mts.bars: %s: %s", asset, info.error[0] ? info.error : mts_store_errmsg(a->store));
    lua_pushnumber(L, (lua_Number)b->n);
    lua_pushlightuserdata(L, b->ts);
    lua_pushlightuserdata(L, b->open);
    lua_pushlightuserdata(L, b->high);
    lua_pushlightuserdata(L, b->low);
    lua_pushlightuserdata(L, b->close);
    lua_pushlightuserdata(L, b->volume);
    return 8;
}

/* macro(name, from, to) -> ud, n, ts, v */
static int l_macro(lua_State *L) {
    api_t *a = api_of(L);
    const char *name = luaL_checkstring(L, 1);
    int64_t from = opt_time(L, 2, INT64_MIN, 0), to = opt_time(L, 3, INT64_MAX, 1);
    if (!a->store) return luaL_error(L, "mts.macro: no database is open");
    int rc = mts_store_ensure_macro(a->store, a->root, name);
    if (rc != 0 && rc != MTS_ENOTFOUND)
        return luaL_error(L, "mts.macro: %s: %s", name, mts_store_errmsg(a->store));
    mts_series_t *s = lua_newuserdata(L, sizeof *s);
    memset(s, 0, sizeof *s);
    luaL_getmetatable(L, SERIES_MT);
    lua_setmetatable(L, -2);
    rc = mts_store_load_macro(a->store, name, from, to, s);
    if (rc != 0) return luaL_error(L, "mts.macro: %s: %s", name, mts_store_errmsg(a->store));
    lua_pushnumber(L, (lua_Number)s->n);
    lua_pushlightuserdata(L, s->ts);
    lua_pushlightuserdata(L, s->v);
    return 4;
}

/* Strings of the array field `k` of the table at idx, at most max. */
static int str_list(lua_State *L, int idx, const char *k, const char **out, int max) {
    lua_getfield(L, idx, k);
    int n = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
        out[n++] = lua_tostring(L, -1);
        lua_pop(L, 1);
        /* keep the string alive: it is also in the options table */
        return n;
    }
    if (lua_istable(L, -1)) {
        int len = (int)lua_objlen(L, -1);
        for (int i = 1; i <= len && n < max; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "mts.backtest: %s[%d] must be a string", k, i);
            out[n++] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "mts.backtest: %s must be a string or a list of strings", k);
    }
    lua_pop(L, 1);
    return n;
}

static double opt_num(lua_State *L, int idx, const char *k, double dflt) {
    lua_getfield(L, idx, k);
    double v = dflt;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "mts.backtest: %s must be a number", k);
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* The issue-12 options of a run (mts.backtest, mts.optimize), with the rules
 * of the CLI's --mode ... --taker-bps (cmd/common.c mts_cli_run_option): each
 * value is checked here and a bad one is an error naming its key. allocate is
 * the "NAME=F,..." text api.lua builds from the user's table; its names and
 * fractions are checked by mts_backtest_allocations when the run starts. */
typedef struct book_opts {
    const char *mode, *allocate, *market;
    double      max_position, max_portfolio_risk, leverage, maker_bps, taker_bps;
    int         has_maker, has_taker;
} book_opts_t;

static const char *opt_choice(lua_State *L, int idx, const char *fn, const char *k, const char *a, const char *b) {
    lua_getfield(L, idx, k);   /* the string stays referenced by the options table */
    const char *v = NULL;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: %s is \"%s\" or \"%s\", got a %s", fn, k, a, b, luaL_typename(L, -1));
        v = lua_tostring(L, -1);
        if (strcmp(v, a) && strcmp(v, b)) luaL_error(L, "%s: %s is \"%s\" or \"%s\", got '%s'", fn, k, a, b, v);
    }
    lua_pop(L, 1);
    return v;
}

/* A number at least lo (strictly above when strict); *given: whether the key is set. */
static double opt_bound(lua_State *L, int idx, const char *fn, const char *k, double lo, int strict, int *given) {
    lua_getfield(L, idx, k);
    double v = 0;
    *given = !lua_isnil(L, -1);
    if (*given) {
        v = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || !isfinite(v) || (strict ? !(v > lo) : !(v >= lo))) {
            if (lua_type(L, -1) == LUA_TNUMBER)
                luaL_error(L, "%s: %s must be a number %s %g, got %g", fn, k, strict ? ">" : ">=", lo, v);
            luaL_error(L, "%s: %s must be a number %s %g, got a %s", fn, k, strict ? ">" : ">=", lo,
                       luaL_typename(L, -1));
        }
    }
    lua_pop(L, 1);
    return v;
}

static void book_opts(lua_State *L, int idx, const char *fn, book_opts_t *b) {
    int given;
    memset(b, 0, sizeof *b);
    b->mode = opt_choice(L, idx, fn, "mode", "independent", "vote");
    b->market = opt_choice(L, idx, fn, "market", "spot", "perp");
    lua_getfield(L, idx, "allocate");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: allocate must be a table {strategy = fraction, ...}", fn);
    b->allocate = lua_tostring(L, -1);
    lua_pop(L, 1);
    b->max_position = opt_bound(L, idx, fn, "max_position", 0, 1, &given);
    b->max_portfolio_risk = opt_bound(L, idx, fn, "max_portfolio_risk", 0, 1, &given);
    b->leverage = opt_bound(L, idx, fn, "leverage", 1, 0, &given);
    b->maker_bps = opt_bound(L, idx, fn, "maker_bps", 0, 0, &b->has_maker);
    b->taker_bps = opt_bound(L, idx, fn, "taker_bps", 0, 0, &b->has_taker);
}

/* The run's messages name the CLI's flags (backtest.c, engine): in the REPL,
 * the option keys. s rewritten in place (at most size bytes with its NUL). */
static void repl_names(char *s, size_t size) {
    static const char *const map[][2] = {
        {"--mode independent", "mode = \"independent\""}, {"--max-portfolio-risk", "max_portfolio_risk"},
        {"--max-position", "max_position"}, {"--allocate", "allocate"}, {"--leverage", "leverage"},
        {"--market", "market"}, {"--maker-bps", "maker_bps"}, {"--taker-bps", "taker_bps"}, {"--mode", "mode"}};
    char out[2048];
    size_t n = 0;
    for (const char *p = s; *p && n + 1 < sizeof out;) {
        size_t k = 0, m = sizeof map / sizeof map[0];
        while (k < m && strncmp(p, map[k][0], strlen(map[k][0])) != 0) k++;
        if (k < m) {
            n += (size_t)snprintf(out + n, sizeof out - n, "%s", map[k][1]);
            if (n >= sizeof out) n = sizeof out - 1;
            p += strlen(map[k][0]);
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = 0;
    if (n >= size) n = size - 1;
    memcpy(s, out, n);
    s[n] = 0;
}

/* backtest(opts) -> ud. opts: strategies = {..}, assets = {..}, params = {{k, v}, ...}
 * (values as strings, the --param syntax), from, to, interval (nil = "1d"), capital,
 * commission_bps, slippage_bps, risk_free, store (boolean). api.lua builds it from the user's table.
 * The strings stay referenced by opts for the duration of the call. */
static int l_backtest(lua_State *L) {
    api_t *a = api_of(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!a->store) return luaL_error(L, "mts.backtest: no database is open");
    const char *strategies[16], *assets[MTS_BACKTEST_MAX_ASSETS], *keys[64], *vals[64];
    int ns = str_list(L, 1, "strategies", strategies, 16);
    int na = str_list(L, 1, "assets", assets, MTS_BACKTEST_MAX_ASSETS);
    {   /* paths (./my.lua) to names, as on the command line (util/strategies.h) */
        char serr[1024];
        if (mts_strategy_args(mts_root(), strategies, ns, serr, sizeof serr) != MTS_OK)
            return luaL_error(L, "mts.backtest: %s", serr);
    }
    int np = 0;
    lua_getfield(L, 1, "params");
    if (lua_istable(L, -1)) {
        int len = (int)lua_objlen(L, -1);
        for (int i = 1; i <= len && np < 64; i++) {
            lua_rawgeti(L, -1, i);
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "mts.backtest: params[%d] must be {key, value} strings", i);
            keys[np] = lua_tostring(L, -2);
            vals[np] = lua_tostring(L, -1);
            np++;
            lua_pop(L, 3);
        }
    }
    lua_pop(L, 1);
    lua_getfield(L, 1, "from");
    int64_t from = opt_time(L, lua_gettop(L), INT64_MIN, 0);
    lua_pop(L, 1);
    lua_getfield(L, 1, "to");
    int64_t to = opt_time(L, lua_gettop(L), INT64_MAX, 1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "store");
    int store_result = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "interval");   /* stays referenced by opts during the call */
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "mts.backtest: interval must be a string, one of %s", MTS_INTERVALS);
    const char *interval = lua_tostring(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "trusted");
    int trusted = lua_toboolean(L, -1);
    lua_pop(L, 1);
    book_opts_t bk;
    book_opts(L, 1, "mts.backtest", &bk);
    mts_backtest_opts_t o = {
        .strategies = strategies, .n_strategies = ns, .assets = assets, .n_assets = na,
        .param_keys = keys, .param_values = vals, .n_params = np, .from = from, .to = to,
        .interval = interval, .capital = opt_num(L, 1, "capital", 100000), .commission_bps = opt_num(L, 1, "commission_bps", 10),
        .slippage_bps = opt_num(L, 1, "slippage_bps", 0), .risk_free = opt_num(L, 1, "risk_free", 0),
        .root = a->root, .db_label = a->db_label, .store_result = store_result, .keep_unstored = store_result,
        .trusted = trusted, .cancel = a->cancel,
        .mode = bk.mode, .allocate = bk.allocate, .max_position = bk.max_position,
        .max_portfolio_risk = bk.max_portfolio_risk, .market = bk.market, .leverage = bk.leverage,
        .maker_bps = bk.maker_bps, .taker_bps = bk.taker_bps, .has_maker = bk.has_maker, .has_taker = bk.has_taker};
    mts_backtest_t **ud = lua_newuserdata(L, sizeof *ud);
    *ud = NULL;
    luaL_getmetatable(L, BACKTEST_MT);
    lua_setmetatable(L, -2);
    char err[1024] = "";
    int rc = mts_backtest_run(a->store, &o, ud, err, sizeof err);
    /* Cancelled by the REPL's Ctrl-C, whose handler also armed a hook on L to
     * raise "interrupted": disarm it, or it fires again inside the error
     * handler of the error raised here ("error in error handling"). */
    if (rc == MTS_ECANCELED) lua_sethook(L, NULL, 0, 0);
    if (rc != 0) {
        repl_names(err, sizeof err);
        return luaL_error(L, "mts.backtest: %s", err[0] ? err : mts_strerror(rc));
    }
    return 1;
}

static void set_num(lua_State *L, const char *k, double v);
static void set_str(lua_State *L, const char *k, const char *v);

/* optimize(opts) -> ranked rows (research.h). opts as backtest's, but params =
 * {{key, "a,b,c" | "start:stop:step"}, ...} (axes, in order), plus metric
 * (default sharpe_ratio), jobs (default 1; < 1: the cores) and store
 * ("none" | "all" | "best", default "none"). Each row: rank, index, strategy,
 * params {key = value text}, id (0 when not stored), value, the metrics,
 * disabled. jobs > 1 forks worker processes (each opens its own handle on the
 * database's path). */
static int l_optimize(lua_State *L) {
    api_t *a = api_of(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!a->store) return luaL_error(L, "mts.optimize: no database is open");
    const char *strategies[16], *assets[MTS_BACKTEST_MAX_ASSETS];
    int ns = str_list(L, 1, "strategies", strategies, 16);
    int na = str_list(L, 1, "assets", assets, MTS_BACKTEST_MAX_ASSETS);
    {   /* paths (./my.lua) to names, as on the command line (util/strategies.h) */
        char serr[1024];
        if (mts_strategy_args(mts_root(), strategies, ns, serr, sizeof serr) != MTS_OK)
            return luaL_error(L, "mts.optimize: %s", serr);
    }
    /* every option that can raise is read before the grid owns memory (a Lua
     * error unwinds past this frame: nothing would free it) */
    lua_getfield(L, 1, "interval");
    const char *interval = lua_tostring(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "from");
    int64_t from = opt_time(L, lua_gettop(L), INT64_MIN, 0);
    lua_pop(L, 1);
    lua_getfield(L, 1, "to");
    int64_t to = opt_time(L, lua_gettop(L), INT64_MAX, 1);
    lua_pop(L, 1);
    int jobs = (int)opt_num(L, 1, "jobs", 1);
    lua_getfield(L, 1, "trusted");
    int trusted = lua_toboolean(L, -1);
    lua_pop(L, 1);
    book_opts_t bk;
    book_opts(L, 1, "mts.optimize", &bk);
    if (bk.allocate) {
        return luaL_error(L, "mts.optimize: allocate: every point runs one strategy with the whole capital "
                             "(use mts.backtest for shares of several)");
    }
    mts_grid_t g;
    memset(&g, 0, sizeof g);
    char err[1600] = "";
    lua_getfield(L, 1, "params");
    if (lua_istable(L, -1)) {
        int len = (int)lua_objlen(L, -1);
        for (int i = 1; i <= len; i++) {
            lua_rawgeti(L, -1, i);
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
                mts_grid_free(&g);
                return luaL_error(L, "mts.optimize: params[%d] must be {key, values} strings", i);
            }
            char arg[2048];
            snprintf(arg, sizeof arg, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
            if (mts_grid_add_axis(&g, arg, err, sizeof err) != 0) {
                mts_grid_free(&g);
                return luaL_error(L, "mts.optimize: %s", err);
            }
            lua_pop(L, 3);
        }
    }
    lua_pop(L, 1);
    if (ns < 1 || na < 1 || g.n_axes < 1) {
        mts_grid_free(&g);
        return luaL_error(L, "mts.optimize: strategy, asset and params (at least one axis) are required");
    }
    lua_getfield(L, 1, "metric");
    const char *metric = lua_isnil(L, -1) ? "sharpe_ratio" : lua_tostring(L, -1);
    lua_pop(L, 1);   /* still referenced by opts */
    if (!metric || !mts_opt_metric_known(metric)) {
        mts_grid_free(&g);
        char names[512];
        size_t o = 0;
        names[0] = 0;
        for (int k = 0; mts_opt_metrics[k] && o < sizeof names; k++)
            o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", k ? ", " : "", mts_opt_metrics[k]);
        return luaL_error(L, "mts.optimize: unknown metric '%s' (one of: %s)", metric ? metric : "?", names);
    }
    lua_getfield(L, 1, "store");
    const char *st = lua_isnil(L, -1) ? "none" : lua_tostring(L, -1);
    lua_pop(L, 1);
    int store = st && !strcmp(st, "all") ? MTS_OPT_STORE_ALL : st && !strcmp(st, "best") ? MTS_OPT_STORE_BEST
              : st && !strcmp(st, "none") ? MTS_OPT_STORE_NONE : -1;
    if (store < 0) {
        mts_grid_free(&g);
        return luaL_error(L, "mts.optimize: store is \"none\", \"all\" or \"best\"");
    }
    mts_opt_spec_t spec = {
        .strategies = strategies, .n_strategies = ns, .assets = assets, .n_assets = na, .interval = interval,
        .from = from, .to = to, .capital = opt_num(L, 1, "capital", 100000),
        .commission_bps = opt_num(L, 1, "commission_bps", 10), .slippage_bps = opt_num(L, 1, "slippage_bps", 0),
        .risk_free = opt_num(L, 1, "risk_free", 0), .trusted = trusted, .root = a->root,
        .db_label = a->db_label, .grid = &g, .metric = metric, .store = store,
        .mode = bk.mode, .max_position = bk.max_position, .max_portfolio_risk = bk.max_portfolio_risk,
        .market = bk.market, .leverage = bk.leverage, .maker_bps = bk.maker_bps, .taker_bps = bk.taker_bps,
        .has_maker = bk.has_maker, .has_taker = bk.has_taker};
    mts_backtest_data_t *data = NULL;
    mts_opt_result_t *res = NULL;
    mts_opt_point_t *points = NULL;
    int64_t n = 0, np = 0, *order = NULL;
    int rc = mts_opt_data_load(a->store, &spec, &data, err, sizeof err);
    if (rc == 0)
        rc = mts_opt_run_data(a->store, a->db_label, &spec, data, jobs, NULL, NULL, a->cancel, &res, &n, err,
                              sizeof err);
    if (rc == 0) rc = mts_opt_points(&spec, &points, &np, err, sizeof err);
    if (rc == 0 && !(order = mts_calloc((size_t)n + 1, sizeof *order))) rc = MTS_ENOMEM;
    if (rc == 0) {
        mts_opt_rank(&spec, res, n, order);
        if (store == MTS_OPT_STORE_BEST && n > 0) {
            mts_opt_result_t best;
            if ((rc = mts_opt_run_point(a->store, &spec, data, &points[order[0]], 1, &best, err, sizeof err)) == 0)
                res[order[0]].run_id = best.run_id;
        }
    }
    if (rc == 0) {
        lua_createtable(L, n < INT32_MAX ? (int)n : 0, 0);
        for (int64_t i = 0; i < n; i++) {
            const mts_opt_result_t *r = &res[order[i]];
            const mts_opt_point_t *p = &points[order[i]];
            lua_createtable(L, 0, 18);
            set_num(L, "rank", (double)(i + 1));
            set_num(L, "index", (double)r->index);
            set_str(L, "strategy", strategies[r->strategy]);
            lua_createtable(L, 0, g.n_axes);
            for (int k = 0; k < g.n_axes; k++)
                if (p->value[k] >= 0) set_str(L, g.axes[k].key, g.axes[k].values[p->value[k]]);
            lua_setfield(L, -2, "params");
            set_num(L, "id", (double)r->run_id);
            set_num(L, "value", r->metric);
            const mts_metrics_t *m = &r->m;
            set_num(L, "final_value", m->final_value);
            set_num(L, "total_return", m->total_return);
            set_num(L, "annualized_return", m->annualized_return);
            set_num(L, "sharpe_ratio", m->sharpe_ratio);
            set_num(L, "max_drawdown", m->max_drawdown);
            set_num(L, "volatility", m->volatility);
            set_num(L, "calmar_ratio", m->calmar_ratio);
            set_num(L, "win_rate", m->win_rate);
            set_num(L, "profit_factor", m->profit_factor);
            set_num(L, "trade_count", (double)m->trade_count);
            set_num(L, "sortino_ratio", m->sortino_ratio);
            set_num(L, "exposure_time", m->exposure_time);
            set_num(L, "avg_trade", m->avg_trade);
            set_num(L, "expectancy", m->expectancy);
            set_num(L, "longest_losing_streak", (double)m->longest_losing_streak);
            lua_pushboolean(L, r->disabled);
            lua_setfield(L, -2, "disabled");
            lua_rawseti(L, -2, (int)(i + 1));
        }
    }
    mts_free(order);
    mts_free(points);
    mts_free(res);
    mts_backtest_data_free(data);
    mts_grid_free(&g);
    if (rc == MTS_ECANCELED) lua_sethook(L, NULL, 0, 0);   /* as mts.backtest: Ctrl-C's hook */
    if (rc != 0) {
        repl_names(err, sizeof err);
        return luaL_error(L, "mts.optimize: %s", err[0] ? err : mts_strerror(rc));
    }
    return 1;
}

static mts_backtest_t *check_bt(lua_State *L) {
    mts_backtest_t **b = luaL_checkudata(L, 1, BACKTEST_MT);
    if (!*b) luaL_error(L, "backtest result already freed");
    return *b;
}

static void set_num(lua_State *L, const char *k, double v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v) {
    lua_pushstring(L, v ? v : "");
    lua_setfield(L, -2, k);
}

/* backtest_info(ud) -> table of metrics and labels */
static int l_backtest_info(lua_State *L) {
    mts_backtest_t *b = check_bt(L);
    const mts_metrics_t *m = &b->metrics;
    lua_createtable(L, 0, 40);
    set_num(L, "initial_capital", m->initial_capital);
    set_num(L, "final_value", m->final_value);
    set_num(L, "total_return", m->total_return);
    set_num(L, "annualized_return", m->annualized_return);
    set_num(L, "sharpe_ratio", m->sharpe_ratio);
    set_num(L, "max_drawdown", m->max_drawdown);
    set_num(L, "volatility", m->volatility);
    set_num(L, "calmar_ratio", m->calmar_ratio);
    set_num(L, "win_rate", m->win_rate);
    set_num(L, "profit_factor", m->profit_factor);
    set_num(L, "trade_count", (double)m->trade_count);
    set_num(L, "fees", b->account.fees);          /* the account's, as mts backtest --json */
    set_num(L, "funding", b->account.funding);
    set_num(L, "sortino_ratio", m->sortino_ratio);
    set_num(L, "exposure_time", m->exposure_time);
    set_num(L, "avg_trade", m->avg_trade);
    set_num(L, "expectancy", m->expectancy);
    set_num(L, "longest_losing_streak", (double)m->longest_losing_streak);
    set_num(L, "alpha", m->alpha);
    set_num(L, "beta", m->beta);
    set_str(L, "mode", b->mode);
    set_str(L, "market", b->market);
    set_num(L, "leverage", b->leverage);
    if (b->has_benchmark) {   /* else nil (a line in warnings says why) */
        const mts_metrics_t *x = &b->benchmark_metrics;
        lua_createtable(L, 0, 6);
        set_num(L, "final_value", x->final_value);
        set_num(L, "total_return", x->total_return);
        set_num(L, "annualized_return", x->annualized_return);
        set_num(L, "volatility", x->volatility);
        set_num(L, "sharpe_ratio", x->sharpe_ratio);
        set_num(L, "max_drawdown", x->max_drawdown);
        lua_setfield(L, -2, "benchmark");
    }
    lua_createtable(L, 0, 7);   /* the keys of --json's "risk" */
    set_num(L, "trimmed", (double)b->risk_trimmed);
    set_num(L, "refused", (double)b->risk_refused);
    set_num(L, "bp_cut", (double)b->account.bp_cut);
    set_num(L, "bp_refused", (double)b->account.bp_refused);
    set_num(L, "short_refused", (double)(b->account.short_refused + b->risk_short_refused));
    set_num(L, "lot_refused", (double)b->account.lot_refused);
    set_num(L, "liquidations", (double)b->account.liquidations);
    lua_setfield(L, -2, "risk");
    lua_createtable(L, b->n_books, 0);   /* the keys of --json's "books", plus book (its id) */
    for (int k = 0; k < b->n_books; k++) {
        const mts_backtest_book_t *bk = &b->books[k];
        const mts_book_stats_t *st = &bk->stats;
        lua_createtable(L, 0, 20);
        set_num(L, "book", k);
        set_str(L, "strategy", bk->strategy);
        set_num(L, "allocation", bk->allocation);
        set_num(L, "initial", st->initial);
        set_num(L, "final", st->equity);
        set_num(L, "pnl", st->equity - st->initial);
        set_num(L, "fees", st->fees);
        set_num(L, "funding", st->funding);
        set_num(L, "trades", (double)bk->metrics.trade_count);
        set_num(L, "return", bk->metrics.total_return);
        set_num(L, "sharpe", bk->metrics.sharpe_ratio);
        set_num(L, "max_drawdown", bk->metrics.max_drawdown);
        set_num(L, "risk_trimmed", (double)bk->risk_trimmed);
        set_num(L, "risk_refused", (double)bk->risk_refused);
        set_num(L, "bp_cut", (double)st->bp_cut);
        set_num(L, "bp_refused", (double)st->bp_refused);
        set_num(L, "short_refused", (double)(st->short_refused + bk->risk_short_refused));
        set_num(L, "liquidations", (double)st->liquidations);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "books");
    set_num(L, "start", (double)b->start_ts);
    set_num(L, "end", (double)b->end_ts);
    set_num(L, "bars", (double)b->total_bars);
    set_num(L, "signals", (double)b->n_signals);
    set_num(L, "fills", (double)mts_engine_fill_count(b->engine));
    set_num(L, "id", (double)b->run_id);
    set_str(L, "strategy", b->strategy_name);
    set_str(L, "assets", b->assets_joined);
    set_num(L, "period_s", (double)m->period_s);   /* the interval's seconds */
    set_str(L, "parameters_json", b->lua.parameters_json ? b->lua.parameters_json : "{}");
    lua_newtable(L);
    int n = 0;
    for (const char *line = b->lua.disabled; line && *line;) {
        const char *nl = strchr(line, '\n');
        lua_pushlstring(L, line, nl ? (size_t)(nl - line) : strlen(line));
        lua_rawseti(L, -2, ++n);
        if (!nl) break;
        line = nl + 1;
    }
    lua_setfield(L, -2, "disabled");
    lua_newtable(L);   /* unfinished imports of the series used (store/imports.h) */
    n = 0;
    for (const char *line = b->warnings; line && *line;) {
        const char *nl = strchr(line, '\n');
        lua_pushlstring(L, line, nl ? (size_t)(nl - line) : strlen(line));
        lua_rawseti(L, -2, ++n);
        if (!nl) break;
        line = nl + 1;
    }
    lua_setfield(L, -2, "warnings");
    lua_pushboolean(L, b->run_id > 0);   /* false also when store = false was asked */
    lua_setfield(L, -2, "stored");
    if (b->store_rc) set_str(L, "store_error", b->store_err);
    return 1;
}

/* The name of strategy id `id` (an index into the run's strategies, whose
 * names b->strategy_name joins with ','), "" when unknown (-1). */
static void push_strategy(lua_State *L, const mts_backtest_t *b, int32_t id) {
    const char *p = b->strategy_name ? b->strategy_name : "";
    for (int32_t k = 0; id >= 0 && *p; k++) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (k == id) {
            lua_pushlstring(L, p, len);
            return;
        }
        if (!c) break;
        p = c + 1;
    }
    lua_pushliteral(L, "");
}

static void push_trades(lua_State *L, const mts_backtest_t *b, const mts_trade_t *tr, int64_t n) {
    lua_createtable(L, n > 0 && n < INT32_MAX ? (int)n : 0, 0);
    for (int64_t i = 0; i < n; i++) {
        const mts_trade_t *t = &tr[i];
        lua_createtable(L, 0, 16);
        set_str(L, "asset", mts_engine_asset_name(b->engine, t->asset));
        set_str(L, "side", t->side > 0 ? "long" : "short");
        set_num(L, "qty", t->qty);
        set_num(L, "entry_time", (double)t->entry_ts);
        set_num(L, "entry_price", t->entry_price);
        set_num(L, "exit_time", (double)t->exit_ts);
        set_num(L, "exit_price", t->exit_price);
        set_num(L, "pnl", t->pnl);
        set_num(L, "fees", t->fees);
        push_strategy(L, b, t->strategy);
        lua_setfield(L, -2, "strategy");
        set_num(L, "book", t->book);
        set_str(L, "entry_reason", mts_reason_name(t->entry_reason));
        set_str(L, "exit_reason", mts_reason_name(t->exit_reason));
        set_num(L, "funding", t->funding);
        set_num(L, "mae", t->mae);
        set_num(L, "mfe", t->mfe);
        lua_rawseti(L, -2, (int)(i + 1));
    }
}

/* backtest_trades(ud [, open]) -> array of trade tables: every book's closed
 * trades in exit order (mts_engine_trades), or with open = true the
 * end_of_data records of the positions still open at the end (not closed;
 * the metrics never count them). */
static int l_backtest_trades(lua_State *L) {
    mts_backtest_t *b = check_bt(L);
    int64_t n = 0;
    const mts_trade_t *tr = lua_toboolean(L, 2) ? mts_engine_open_trades(b->engine, &n)
                                                : mts_engine_trades(b->engine, &n);
    push_trades(L, b, tr, tr ? n : 0);
    return 1;
}

/* backtest_equity(ud [, book]) -> n, ts, v (borrowed from the result): the
 * account's curve, or book `book`'s (0-based) */
static int l_backtest_equity(lua_State *L) {
    mts_backtest_t *b = check_bt(L);
    const mts_series_t *c;
    if (lua_isnoneornil(L, 2)) {
        c = mts_engine_equity_curve(b->engine);
    } else {
        const mts_portfolio_t *pf = mts_engine_book(b->engine, (int32_t)luaL_checkinteger(L, 2));
        if (!pf) return luaL_error(L, "backtest_equity: no book %d", (int)lua_tointeger(L, 2));
        c = &pf->equity;
    }
    lua_pushnumber(L, (lua_Number)c->n);
    lua_pushlightuserdata(L, c->ts);
    lua_pushlightuserdata(L, c->v);
    return 3;
}

/* parse_time(text) -> unix seconds */
static int l_parse_time(lua_State *L) {
    lua_pushnumber(L, (lua_Number)opt_time(L, 1, 0, 0));
    return 1;
}

/* session_json(id) -> the JSON text of GET /paper/sessions/{id} (api/queries.h:
 * the session with its fills, equity and books) | nil, message when there is no
 * such session; sessions_json(n) -> the JSON array of GET /paper/sessions?limit=n.
 * The same queries as the API, so the REPL and the server agree. */
static int json_reply(lua_State *L, api_t *a, const char *fn, int64_t id, int limit) {
    if (!a->store) return luaL_error(L, "%s: no database is open", fn);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return luaL_error(L, "%s: out of memory", fn);
    int rc = limit > 0 ? mts_apiq_sessions(a->store, limit, f) : mts_apiq_session(a->store, id, f);
    fclose(f);
    if (rc == 0) lua_pushlstring(L, buf, len);
    free(buf);
    if (rc == 0) return 1;
    if (rc == MTS_ENOTFOUND) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: no paper session with id %d (list them: mts.sessions())", fn, (int)id);
        return 2;
    }
    return luaL_error(L, "%s: %s", fn, mts_store_errmsg(a->store));
}

static int l_session_json(lua_State *L) {
    return json_reply(L, api_of(L), "mts.session", (int64_t)luaL_checknumber(L, 1), 0);
}

static int l_sessions_json(lua_State *L) {
    lua_Number n = luaL_optnumber(L, 1, 20);
    if (!(n >= 1 && n <= 1000)) return luaL_error(L, "mts.sessions: n must be 1 .. 1000 (default 20)");
    return json_reply(L, api_of(L), "mts.sessions", 0, (int)n);
}

static int l_db(lua_State *L) {
    lua_pushstring(L, api_of(L)->db_label);
    return 1;
}

static int api_gc(lua_State *L) {
    (void)L;
    return 0;
}

int mts_lua_open_api(lua_State *L, mts_store_t *store, const char *root, const char *db_label) {
    luaL_newmetatable(L, BARS_MT);
    lua_pushcfunction(L, bars_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, SERIES_MT);
    lua_pushcfunction(L, series_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, BACKTEST_MT);
    lua_pushcfunction(L, backtest_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    api_t *a = lua_newuserdata(L, sizeof *a);   /* lives in the registry */
    memset(a, 0, sizeof *a);
    a->store = store;
    snprintf(a->root, sizeof a->root, "%s", root ? root : ".");
    snprintf(a->db_label, sizeof a->db_label, "%s", db_label ? db_label : "");
    lua_newtable(L);
    lua_pushcfunction(L, api_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "mts.api");

    static const struct { const char *name; lua_CFunction fn; } fns[] = {
        {"bars", l_bars}, {"macro", l_macro}, {"backtest", l_backtest}, {"optimize", l_optimize},
        {"backtest_info", l_backtest_info}, {"backtest_trades", l_backtest_trades},
        {"backtest_equity", l_backtest_equity}, {"parse_time", l_parse_time}, {"db", l_db},
        {"session_json", l_session_json}, {"sessions_json", l_sessions_json}};
    lua_createtable(L, 0, (int)(sizeof fns / sizeof fns[0]));
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        lua_pushvalue(L, -2);
        lua_pushcclosure(L, fns[i].fn, 1);
        lua_setfield(L, -2, fns[i].name);
    }
    lua_setglobal(L, "MTS_NATIVE");
    lua_pop(L, 1);
    return MTS_OK;
}

void mts_lua_api_set_cancel(lua_State *L, const volatile sig_atomic_t *flag) {
    lua_getfield(L, LUA_REGISTRYINDEX, "mts.api");
    api_t *a = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (a) a->cancel = flag;
}
