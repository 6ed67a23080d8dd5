/* state.h — creating the LuaJIT state the scripts run in, and the one way
 * into Lua: mts_lua_pcall. Only the .c files in runtime/lua/ include this header (it
 * includes lua.h); the rest of the core uses bridge.h.
 *
 * mts_lua_state_new opens the standard libraries, turns the JIT on, sets
 * package.path to <root>/scripts/lib/?.lua (package.cpath keeps its default,
 * so Debian's lua-cjson etc. stay reachable for trusted modules), and sets the
 * globals that tell scripts/lib/mts.lua it runs inside the host:
 *   MTS_HOST = true      use ffi.C (the executable exports the C functions)
 *   MTS_ROOT = root
 *   MTS_FFI_H = path of the FFI declarations: <root>/scripts/lib/mts_ffi.h
 *               when it exists (installs), else <root>/runtime/lua/mts_ffi.h
 *   MTS_LISTDIR(dir) -> array of entry names (no "." files), or nil
 * Strategies never see these: they run in sandboxed environments
 * (scripts/lib/sandbox.lua).
 *
 * mts_lua_pcall calls the function below nargs arguments with a message
 * handler that appends a traceback. On error it returns MTS_ELUA (MTS_ENOMEM
 * for a memory error), writes the first line of the message to err and the
 * whole message with its traceback to stderr; the stack is then as before
 * the function was pushed. */
#ifndef MTS_LUA_STATE_H
#define MTS_LUA_STATE_H

#include <stddef.h>
#include <lua.h>

int  mts_lua_state_new(const char *root, lua_State **out, char *err, size_t errlen);
void mts_lua_state_free(lua_State *L);     /* accepts NULL; frees a guard too */
/* The library/path/globals setup of mts_lua_state_new, for a state made
 * another way (guard.c). */
int  mts_lua_state_setup(lua_State *L, const char *root, char *err, size_t errlen);
/* The guard of a state made by mts_lua_state_new_guarded (guard.h), else NULL. */
void *mts_lua_guard_of(lua_State *L);
int  mts_lua_pcall(lua_State *L, int nargs, int nresults, char *err, size_t errlen);

#endif
