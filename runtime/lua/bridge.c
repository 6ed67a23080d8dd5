/* bridge.c — mts_lua_backtest (see bridge.h): a fresh state, then
 * scripts/lib/runner.lua's run_for_host(spec) through mts_lua_pcall, then the
 * results converted to C.
 *
 * The spec reaches Lua as a table {engine = <lightuserdata>, root = "...",
 * strategies = {...}, params = {{key=, value=}, ...}}; the runner casts the
 * engine with ffi.cast("mts_engine_t *", p) and drives it through the FFI.
 * run_for_host returns true, parameters_json, {disabled lines}, {risk counts
 * per strategy: {trimmed =, refused =, short_refused =}}, decisions, the
 * shadows' JSON (spec.shadows = {labels}) on success,
 * or false, message, kind ("config" -> MTS_ECONFIG, otherwise MTS_ELUA) for
 * an error that stops the run. A Lua error escaping the runner (a bug in
 * trusted code, or out of memory) comes back from mts_lua_pcall.
 *
 * The state is guarded (guard.h: memory cap per strategy; scripts/lib/sandbox.lua:
 * time budget per call, ticked from the strategy's own loops) unless the run
 * is trusted (spec->trusted, or MTS_TRUSTED_STRATEGIES set to something other
 * than "0"): then it is a plain state, with no budget and no cap. */
#include "lua/bridge.h"
#include "lua/guard.h"
#include "lua/state.h"
#include "live/live.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

static void set_err(char *err, size_t errlen, const char *msg) {
    if (err && errlen) snprintf(err, errlen, "%s", msg ? msg : "");
}

typedef struct call_args {
    const mts_run_spec_t *spec;
    struct mts_live *live;
} call_args_t;

/* Protected: require "runner", build the spec table, call run_for_host.
 * Leaves its 4 results on the stack. */
static int call_runner(lua_State *L) {
    const call_args_t *args = lua_touserdata(L, 1);
    const mts_run_spec_t *spec = args->spec;
    lua_settop(L, 0);
    lua_getglobal(L, "require");
    lua_pushstring(L, "runner");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "run_for_host");
    if (!lua_isfunction(L, -1)) return luaL_error(L, "scripts/lib/runner.lua has no run_for_host");

    lua_createtable(L, 0, 4);
    lua_pushlightuserdata(L, spec->engine);
    lua_setfield(L, -2, "engine");
    lua_pushstring(L, spec->root);
    lua_setfield(L, -2, "root");
    lua_createtable(L, spec->n_strategies > 0 ? spec->n_strategies : 0, 0);
    for (int i = 0; i < spec->n_strategies; i++) {
        lua_pushstring(L, spec->strategies[i] ? spec->strategies[i] : "");
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "strategies");
    lua_createtable(L, spec->n_params > 0 ? spec->n_params : 0, 0);
    for (int i = 0; i < spec->n_params; i++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, spec->param_keys[i] ? spec->param_keys[i] : "");
        lua_setfield(L, -2, "key");
        lua_pushstring(L, spec->param_values[i] ? spec->param_values[i] : "");
        lua_setfield(L, -2, "value");
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "params");
    if (args->live) {
        lua_pushlightuserdata(L, args->live);
        lua_setfield(L, -2, "live");
    }
    const char *interval = spec->interval;
    mts_provider_t *provider = spec->provider;
    if (args->live) {
        if (!interval) interval = mts_live_interval(args->live);
        if (!provider) provider = mts_live_provider(args->live);
    }
    if (interval) {
        lua_pushstring(L, interval);
        lua_setfield(L, -2, "interval");
    }
    if (provider) {
        lua_pushlightuserdata(L, provider);
        lua_setfield(L, -2, "provider");
    }
    if (spec->mode) {
        lua_pushstring(L, spec->mode);
        lua_setfield(L, -2, "mode");
    }
    if (spec->max_position != 0) {
        lua_pushnumber(L, spec->max_position);
        lua_setfield(L, -2, "max_position");
    }
    if (spec->max_portfolio_risk != 0) {
        lua_pushnumber(L, spec->max_portfolio_risk);
        lua_setfield(L, -2, "max_portfolio_risk");
    }
    if (spec->decisions) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "decisions");
    }
    if (spec->n_shadows > 0) {
        lua_createtable(L, spec->n_shadows, 0);
        for (int i = 0; i < spec->n_shadows; i++) {
            lua_pushstring(L, spec->shadows[i] ? spec->shadows[i] : "");
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "shadows");
    }

    lua_call(L, 1, 6);
    return 6;
}

static double num_field(lua_State *L, int idx, const char *k) {
    lua_getfield(L, idx, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : NAN;
    lua_pop(L, 1);
    return v;
}

/* The runner's decisions (the array at idx: {asset_id, ts, n, list = {{strategy,
 * strategies, signal_type, price, ...}}}) into out. 0 / MTS_ENOMEM. */
static int read_decisions(lua_State *L, int idx, mts_run_result_t *out) {
    if (!lua_istable(L, idx)) return 0;
    int n = 0, na = (int)lua_objlen(L, idx);
    for (int i = 1; i <= na; i++) {
        lua_rawgeti(L, idx, i);
        lua_getfield(L, -1, "list");
        int k = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
        n += k ? k : 1;
        lua_pop(L, 2);
    }
    if (n == 0) return 0;
    mts_decision_t *d = mts_calloc((size_t)n, sizeof *d);
    if (!d) return MTS_ENOMEM;
    int m = 0;
    for (int i = 1; i <= na; i++) {
        lua_rawgeti(L, idx, i);
        int top = lua_gettop(L);
        mts_decision_t base = {.asset = (int32_t)num_field(L, top, "asset_id"), .strategy = -1,
                               .n_signals = (int32_t)num_field(L, top, "n"), .ts = (int64_t)num_field(L, top, "ts"),
                               .price = NAN, .confidence = NAN, .position_size = NAN, .stop_loss = NAN,
                               .take_profit = NAN};
        lua_getfield(L, top, "list");
        int k = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
        if (k == 0) d[m++] = base;
        for (int j = 1; j <= k && m < n; j++) {
            lua_rawgeti(L, top + 1, j);
            int a = lua_gettop(L);
            mts_decision_t x = base;
            x.decided = 1;
            x.strategy = (int32_t)num_field(L, a, "strategy");
            lua_getfield(L, a, "signal_type");
            const char *t = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
            x.signal_type = !strcmp(t, "LONG") ? 1 : !strcmp(t, "SHORT") ? -1 : 0;
            lua_pop(L, 1);
            x.price = num_field(L, a, "price");
            x.confidence = num_field(L, a, "confidence");
            x.position_size = num_field(L, a, "position_size");
            x.stop_loss = num_field(L, a, "stop_loss");
            x.take_profit = num_field(L, a, "take_profit");
            lua_getfield(L, a, "strategies");
            if (lua_istable(L, -1))
                for (int q = 1; q <= (int)lua_objlen(L, -1); q++) {
                    lua_rawgeti(L, -1, q);
                    if (lua_isnumber(L, -1) && lua_tonumber(L, -1) >= 0 && lua_tonumber(L, -1) < 64)
                        x.strategies |= (uint64_t)1 << (int)lua_tonumber(L, -1);
                    lua_pop(L, 1);
                }
            lua_pop(L, 1);
            d[m++] = x;
            lua_pop(L, 1);
        }
        lua_settop(L, top - 1);
    }
    out->decisions = d;
    out->n_decisions = m;
    return 0;
}

/* The runner's risk counts (the table at idx: an array of {trimmed, refused,
 * short_refused}) into out, n entries. 0 / MTS_ENOMEM. */
static int read_risk(lua_State *L, int idx, int n, mts_run_result_t *out) {
    if (n <= 0) return 0;
    int64_t *block = mts_calloc((size_t)n * 3, sizeof *block);
    if (!block) return MTS_ENOMEM;
    out->n_risk = n;
    out->risk_trimmed = block;
    out->risk_refused = block + n;
    out->risk_short_refused = block + 2 * n;
    if (!lua_istable(L, idx)) return 0;
    static const char *const keys[3] = {"trimmed", "refused", "short_refused"};
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, idx, i + 1);
        if (lua_istable(L, -1))
            for (int k = 0; k < 3; k++) {
                lua_getfield(L, -1, keys[k]);
                if (lua_isnumber(L, -1)) block[k * n + i] = (int64_t)lua_tonumber(L, -1);
                lua_pop(L, 1);
            }
        lua_pop(L, 1);
    }
    return 0;
}

/* Joins the strings of the array at idx as "line\n" lines (mts_malloc'd). */
static char *join_lines(lua_State *L, int idx, int *count) {
    *count = 0;
    if (!lua_istable(L, idx)) return NULL;
    size_t n = lua_objlen(L, idx), total = 1;
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (int)i);
        if (lua_type(L, -1) == LUA_TSTRING) total += lua_objlen(L, -1) + 1;
        lua_pop(L, 1);
    }
    if (n == 0) return NULL;
    char *out = mts_malloc(total), *p = out;
    if (!out) return NULL;
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (int)i);
        if (lua_type(L, -1) == LUA_TSTRING) {
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            memcpy(p, s, len);
            p += len;
            *p++ = '\n';
            (*count)++;
        }
        lua_pop(L, 1);
    }
    *p = '\0';
    return out;
}

static int run(const mts_run_spec_t *spec, struct mts_live *live, mts_run_result_t *out, char *err,
               size_t errlen) {
    set_err(err, errlen, "");
    if (!out) {
        set_err(err, errlen, "mts_lua_backtest: no result");
        return MTS_EINVAL;
    }
    memset(out, 0, sizeof *out);
    if (!spec || !spec->engine || !spec->root || spec->n_strategies < 0 || spec->n_params < 0 ||
        (spec->n_strategies > 0 && !spec->strategies) ||
        (spec->n_params > 0 && (!spec->param_keys || !spec->param_values)) || spec->n_shadows < 0 ||
        (spec->n_shadows > 0 && !spec->shadows)) {
        set_err(err, errlen, "mts_lua_backtest: invalid run spec");
        return MTS_EINVAL;
    }
    lua_State *L = NULL;
    int rc = (spec->trusted || mts_lua_trusted_from_env()) ? mts_lua_state_new(spec->root, &L, err, errlen)
                                        : mts_lua_state_new_guarded(spec->root, NULL, &L, err, errlen);
    if (rc) return rc;

    call_args_t args = {spec, live};
    lua_pushcfunction(L, call_runner);
    lua_pushlightuserdata(L, &args);
    rc = mts_lua_pcall(L, 1, 6, err, errlen);
    if (rc) {
        mts_lua_state_free(L);
        return rc;
    }
    /* stack: ok, a, b, c, decisions, shadows */
    if (lua_toboolean(L, -6)) {
        const char *json = lua_type(L, -5) == LUA_TSTRING ? lua_tostring(L, -5) : "{}";
        out->parameters_json = mts_strdup(json);
        int top = lua_gettop(L) - 1;
        out->disabled = join_lines(L, top - 2, &out->n_disabled);
        int sh = lua_type(L, top + 1) == LUA_TSTRING;
        if (sh) out->shadows_json = mts_strdup(lua_tostring(L, top + 1));
        if (!out->parameters_json || (out->n_disabled == 0 && lua_istable(L, top - 2) && lua_objlen(L, top - 2) > 0) ||
            (sh && !out->shadows_json) ||
            read_risk(L, top - 1, spec->n_strategies + (spec->n_shadows > 0 ? spec->n_shadows : 0), out) != 0 ||
            read_decisions(L, top, out) != 0) {
            mts_run_result_free(out);
            set_err(err, errlen, "out of memory");
            rc = MTS_ENOMEM;
        }
    } else {
        const char *msg = lua_type(L, -5) == LUA_TSTRING ? lua_tostring(L, -5) : "script error";
        const char *kind = lua_type(L, -4) == LUA_TSTRING ? lua_tostring(L, -4) : "";
        set_err(err, errlen, msg);
        rc = strcmp(kind, "config") == 0 ? MTS_ECONFIG : MTS_ELUA;
    }
    mts_lua_state_free(L);
    return rc;
}

int mts_lua_backtest(const mts_run_spec_t *spec, mts_run_result_t *out, char *err, size_t errlen) {
    return run(spec, NULL, out, err, errlen);
}

int mts_lua_run_live(const mts_run_spec_t *spec, struct mts_live *live, mts_run_result_t *out, char *err,
                     size_t errlen) {
    if (!live) {
        if (err && errlen) snprintf(err, errlen, "mts_lua_run_live: no session");
        if (out) memset(out, 0, sizeof *out);
        return MTS_EINVAL;
    }
    return run(spec, live, out, err, errlen);
}

int mts_lua_trusted_from_env(void) {
    const char *t = getenv("MTS_TRUSTED_STRATEGIES");
    return t && *t && strcmp(t, "0") != 0;
}

void mts_run_result_free(mts_run_result_t *r) {
    if (!r) return;
    mts_free(r->parameters_json);
    mts_free(r->disabled);
    mts_free(r->risk_trimmed);
    mts_free(r->decisions);
    mts_free(r->shadows_json);
    r->shadows_json = NULL;
    r->decisions = NULL;
    r->n_decisions = 0;
    r->parameters_json = NULL;
    r->disabled = NULL;
    r->n_disabled = 0;
    r->n_risk = 0;
    r->risk_trimmed = r->risk_refused = r->risk_short_refused = NULL;
}
