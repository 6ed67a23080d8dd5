/* guard.h — limits for untrusted strategy code: a memory cap per strategy,
 * inside one LuaJIT state. Only runtime/lua/ includes it (it includes lua.h).
 * Needs mts.h (allocation, error codes) and state.h. The other limit, a time
 * budget per call, lives in scripts/lib/sandbox.lua (ticks compiled into the
 * strategy's loops, so JIT-compiled code is stopped too).
 *
 * mts_lua_state_new_guarded creates the state like mts_lua_state_new, but
 *   - with an allocator that tags every block with its owner: the strategy
 *     whose call was running when the block was allocated (-1 = trusted code).
 *     Each owner's live bytes are counted; an allocation that would take an
 *     owner past limits->mem_cap is refused (LuaJIT raises "not enough
 *     memory", which the runner reports as "memory cap of N MB exceeded").
 *     The runner marks a strategy's calls with mts_guard_enter/leave through
 *     the FFI (lua/mts_ffi.h), so its loop stays JIT-compiled.
 *   - with the global MTS_GUARD = {
 *         handle -> the guard, for mts_guard_enter/leave/usage,
 *         usage(owner) -> live bytes of owner,
 *         charge(owner, bytes) -> nothing; raises past the cap (memory the
 *             strategy holds outside the Lua heap, e.g. C arrays; negative
 *             bytes release it),
 *         current() -> the owner of the running guarded call, or -1,
 *         time_budget_ms, mem_cap }
 * mts_lua_state_free releases the guard with the state.
 *
 * Limits come from the environment when limits is NULL (mts_lua_limits_from_env):
 *   MTS_STRATEGY_TIME_MS (default 1000), MTS_STRATEGY_MEMORY_MB (default 128). */
#ifndef MTS_LUA_GUARD_H
#define MTS_LUA_GUARD_H

#include <stddef.h>
#include <lua.h>

#define MTS_GUARD_MAX_OWNERS 256

typedef struct mts_lua_limits {
    double time_budget_ms;   /* per guarded call; <= 0: no budget */
    size_t mem_cap;          /* bytes per owner; 0: no cap */
} mts_lua_limits_t;

void mts_lua_limits_from_env(mts_lua_limits_t *out);
int  mts_lua_state_new_guarded(const char *root, const mts_lua_limits_t *limits, lua_State **out,
                               char *err, size_t errlen);
/* 1 if L was made by mts_lua_state_new_guarded. */
int  mts_lua_state_is_guarded(lua_State *L);
/* Live bytes charged to owner (-1: trusted code), or 0 for an unguarded state. */
size_t mts_lua_guard_usage(lua_State *L, int owner);

#endif
