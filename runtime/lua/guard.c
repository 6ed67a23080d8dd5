/* guard.c — memory cap per owner and time budget per call (see guard.h).
 *
 * Allocator. Each block carries a 16-byte header {size, owner}; the owner is
 * the strategy whose guarded call was running when the block was first
 * allocated, and a block keeps its owner when it is resized or freed later
 * (by the GC, at any time). So owner[k] is exactly the bytes of the Lua heap
 * that strategy k allocated and that are still alive (including garbage not
 * yet collected: the runner collects before a call that starts above half the
 * cap). Model: Redis's script memory limit, per owner.
 *
 * Time. The budget per call is kept in Lua (scripts/lib/sandbox.lua): strategy
 * source is compiled with a tick call in every loop body, function body and
 * before every goto, so even JIT-compiled loops check it; a count hook would
 * not fire inside compiled traces. The guard only tracks whose call is
 * running: mts_guard_enter/leave, called through the FFI by the runner, so
 * the runner's loop and the strategies stay compiled. */
#include "lua/guard.h"
#include "lua/state.h"
#include "mts.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

typedef struct guard {
    mts_lua_limits_t lim;
    int      current;        /* owner of the running guarded call, -1 none */
    int      mem_hit;        /* an allocation was refused for the cap */
    size_t   trusted;        /* live bytes of owner -1 */
    size_t   used[MTS_GUARD_MAX_OWNERS];
} guard_t;

typedef struct hdr {
    size_t  size;
    int32_t owner;
    int32_t pad;
} hdr_t;

static size_t *slot(guard_t *g, int owner) {
    return owner >= 0 && owner < MTS_GUARD_MAX_OWNERS ? &g->used[owner] : &g->trusted;
}

static void *guard_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)osize;
    guard_t *g = ud;
    hdr_t *h = ptr ? (hdr_t *)ptr - 1 : NULL;
    if (nsize == 0) {
        if (h) {
            size_t *u = slot(g, h->owner);
            *u -= h->size <= *u ? h->size : *u;
            mts_free(h);
        }
        return NULL;
    }
    /* a block grown during a guarded call moves to that call's owner (LuaJIT's
     * shared temporary buffer, e.g. for ("x"):rep(n), is older than any call) */
    int prev = h ? h->owner : g->current;
    int owner = (h && !(nsize > h->size && g->current >= 0)) ? h->owner : g->current;
    size_t old = h ? h->size : 0;
    size_t *u = slot(g, owner);
    size_t held = owner == prev ? *u - old : *u;
    if (nsize > old && owner >= 0 && g->lim.mem_cap > 0 && held + nsize > g->lim.mem_cap) {
        g->mem_hit = 1;
        return NULL;
    }
    hdr_t *n = mts_realloc(h, sizeof(hdr_t) + nsize);
    if (!n) return NULL;
    size_t *pu = slot(g, prev);
    *pu -= old <= *pu ? old : *pu;
    *u += nsize;
    n->size = nsize;
    n->owner = owner;
    return n + 1;
}

void *mts_lua_guard_of(lua_State *L) {
    void *ud = NULL;
    return lua_getallocf(L, &ud) == guard_alloc ? ud : NULL;
}

int mts_lua_state_is_guarded(lua_State *L) { return mts_lua_guard_of(L) != NULL; }

size_t mts_lua_guard_usage(lua_State *L, int owner) {
    guard_t *g = mts_lua_guard_of(L);
    return g ? *slot(g, owner) : 0;
}

int32_t mts_guard_enter(void *guard, int32_t owner) {
    guard_t *g = guard;
    int32_t prev = g->current;
    g->current = owner;
    g->mem_hit = 0;
    return prev;
}

int32_t mts_guard_leave(void *guard, int32_t prev) {
    guard_t *g = guard;
    int32_t hit = g->mem_hit;
    g->current = prev;
    g->mem_hit = 0;
    return hit;
}

double mts_guard_usage(void *guard, int32_t owner) {
    return guard ? (double)*slot((guard_t *)guard, owner) : 0;
}

static int guard_usage_l(lua_State *L) {
    guard_t *g = lua_touserdata(L, lua_upvalueindex(1));
    lua_pushnumber(L, (lua_Number)*slot(g, luaL_checkint(L, 1)));
    return 1;
}

static int guard_current(lua_State *L) {
    guard_t *g = lua_touserdata(L, lua_upvalueindex(1));
    lua_pushinteger(L, g->current);
    return 1;
}

/* charge(owner, bytes): memory held outside the Lua heap (C arrays). */
static int guard_charge(lua_State *L) {
    guard_t *g = lua_touserdata(L, lua_upvalueindex(1));
    int owner = luaL_checkint(L, 1);
    double bytes = luaL_checknumber(L, 2);
    size_t *u = slot(g, owner);
    if (bytes < 0) {
        size_t b = (size_t)-bytes;
        *u -= b <= *u ? b : *u;
        return 0;
    }
    if (owner >= 0 && g->lim.mem_cap > 0 && (double)*u + bytes > (double)g->lim.mem_cap)
        return luaL_error(L, "memory cap of %d MB exceeded (the strategy holds %d MB, asked for %d MB more)",
                          (int)(g->lim.mem_cap >> 20), (int)(*u >> 20), (int)(bytes / 1048576.0));
    *u += (size_t)bytes;
    return 0;
}

static int install(lua_State *L) {
    guard_t *g = lua_touserdata(L, 1);
    lua_createtable(L, 0, 6);
    static const struct { const char *name; lua_CFunction fn; } fns[] = {
        {"usage", guard_usage_l}, {"charge", guard_charge}, {"current", guard_current}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        lua_pushlightuserdata(L, g);
        lua_pushcclosure(L, fns[i].fn, 1);
        lua_setfield(L, -2, fns[i].name);
    }
    lua_pushlightuserdata(L, g);
    lua_setfield(L, -2, "handle");
    lua_pushnumber(L, g->lim.time_budget_ms);
    lua_setfield(L, -2, "time_budget_ms");
    lua_pushnumber(L, (lua_Number)g->lim.mem_cap);
    lua_setfield(L, -2, "mem_cap");
    lua_setglobal(L, "MTS_GUARD");
    return 0;
}

void mts_lua_limits_from_env(mts_lua_limits_t *out) {
    out->time_budget_ms = 1000;
    out->mem_cap = (size_t)128 << 20;
    const char *t = getenv("MTS_STRATEGY_TIME_MS"), *m = getenv("MTS_STRATEGY_MEMORY_MB");
    if (t && *t) out->time_budget_ms = atof(t);
    if (m && *m) {
        double mb = atof(m);
        out->mem_cap = mb > 0 ? (size_t)(mb * 1048576.0) : 0;
    }
}

int mts_lua_state_new_guarded(const char *root, const mts_lua_limits_t *limits, lua_State **out,
                              char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    if (!root || !out) {
        if (err && errlen) snprintf(err, errlen, "mts_lua_state_new_guarded: no root");
        return MTS_EINVAL;
    }
    *out = NULL;
    guard_t *g = mts_calloc(1, sizeof *g);
    if (!g) {
        if (err && errlen) snprintf(err, errlen, "cannot create a Lua state (out of memory)");
        return MTS_ENOMEM;
    }
    if (limits) g->lim = *limits;
    else mts_lua_limits_from_env(&g->lim);
    g->current = -1;
    lua_State *L = lua_newstate(guard_alloc, g);
    if (!L) {
        mts_free(g);
        if (err && errlen) snprintf(err, errlen, "cannot create a guarded Lua state");
        return MTS_ENOMEM;
    }
    int rc = mts_lua_state_setup(L, root, err, errlen);
    if (rc == 0 && lua_cpcall(L, install, g) != 0) {
        if (err && errlen) snprintf(err, errlen, "cannot install the guard: %s", lua_tostring(L, -1));
        rc = MTS_ELUA;
    }
    if (rc != 0) {
        mts_lua_state_free(L);
        return rc;
    }
    *out = L;
    return MTS_OK;
}
