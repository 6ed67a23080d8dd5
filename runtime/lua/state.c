/* state.c — the LuaJIT state and mts_lua_pcall (see state.h). */
#include "lua/state.h"
#include "mts.h"
#include "util/config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>
#include <luajit.h>

/* Copies the first line of msg into err. */
static void first_line(const char *msg, char *err, size_t errlen) {
    if (!err || errlen == 0) return;
    if (!msg) msg = "unknown Lua error";
    size_t n = strcspn(msg, "\n");
    if (n >= errlen) n = errlen - 1;
    memcpy(err, msg, n);
    err[n] = '\0';
}

/* Message handler: the message (or a description of a non-string error)
 * followed by a traceback. */
static int traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int mts_lua_pcall(lua_State *L, int nargs, int nresults, char *err, size_t errlen) {
    int base = lua_gettop(L) - nargs;          /* index of the function */
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    if (rc == 0) return MTS_OK;
    const char *msg = lua_tostring(L, -1);
    if (rc == LUA_ERRMEM) msg = "out of memory in Lua";
    first_line(msg, err, errlen);
    if (msg && strchr(msg, '\n')) fprintf(stderr, "lua error: %s\n", msg);
    lua_pop(L, 1);
    return rc == LUA_ERRMEM ? MTS_ENOMEM : MTS_ELUA;
}

/* MTS_LISTDIR(dir) -> {names} | nil */
static int list_dir(lua_State *L) {
    const char *dir = luaL_checkstring(L, 1);
    DIR *d = opendir(dir);
    if (!d) {
        lua_pushnil(L);
        return 1;
    }
    lua_newtable(L);
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.') continue;
        lua_pushstring(L, ent->d_name);
        lua_rawseti(L, -2, ++n);
    }
    closedir(d);
    return 1;
}

/* The JIT compiler's own reports, for profiling (docs/strategies.md, "Speed"):
 *   MTS_JIT_V=FILE     LuaJIT's -jv lines (traces started, ended, aborted and
 *                      why) to FILE;
 *   MTS_JIT_DUMP=FILE  its -jdump output, with the features of
 *                      MTS_JIT_DUMP_MODE (default "tbT": trace events and
 *                      bytecode; "i" adds the IR, "m" machine code, "x" exits);
 *   MTS_JIT_P=FILE     its sampling profiler (-jp), mode MTS_JIT_P_MODE
 *                      (default "vl": VM state, i.e. compiled / interpreted /
 *                      C / GC, split by source line), written when the state
 *                      closes.
 * MTS_JIT_V and MTS_JIT_DUMP share LuaJIT's one trace-event hook: set one of
 * them (with both, the dump is written; its "t" lines are the -jv lines).
 * Loaded here, while package.path is still LuaJIT's own (jit/v.lua ...), by
 * the host only: sandboxed strategies have no require, jit or package, and
 * the modules stay out of their reach. A module that cannot be loaded is
 * reported on stderr; the run goes on. */
static void jit_trace_output(lua_State *L) {
    static const struct { const char *var, *mode_var, *def_mode, *module, *fn; } out[] = {
        {"MTS_JIT_V", NULL, NULL, "jit.v", "on"},
        {"MTS_JIT_DUMP", "MTS_JIT_DUMP_MODE", "tbT", "jit.dump", "on"},
        {"MTS_JIT_P", "MTS_JIT_P_MODE", "vl", "jit.p", "start"},
    };
    for (size_t k = 0; k < sizeof out / sizeof out[0]; k++) {
        const char *file = getenv(out[k].var);
        if (!file || !*file) continue;
        int top = lua_gettop(L);
        /* what jit.dump loads lazily, after package.path is ours: now */
        static const char *const lazy[] = {"jit.bc", "jit.vmdef", "jit.dis_x64", "jit.zone"};
        for (size_t j = 0; j < sizeof lazy / sizeof lazy[0]; j++) {
            lua_getglobal(L, "require");
            lua_pushstring(L, lazy[j]);
            if (lua_pcall(L, 1, 0, 0) != 0) lua_pop(L, 1);
        }
        lua_getglobal(L, "require");
        lua_pushstring(L, out[k].module);
        int rc = lua_pcall(L, 1, 1, 0);
        if (rc == 0) {
            lua_getfield(L, -1, out[k].fn);
            int nargs = 1;
            if (out[k].mode_var) {
                const char *mode = getenv(out[k].mode_var);
                lua_pushstring(L, mode && *mode ? mode : out[k].def_mode);
                nargs = 2;
            }
            lua_pushstring(L, file);
            rc = lua_pcall(L, nargs, 0, 0);
        }
        if (rc != 0) fprintf(stderr, "mts: %s (%s): %s\n", out[k].var, out[k].module, lua_tostring(L, -1));
        lua_settop(L, top);
    }
}

/* Runs in protected mode (lua_cpcall): libraries, JIT, paths, globals. */
static int setup(lua_State *L) {
    const char *root = lua_touserdata(L, 1);
    luaL_openlibs(L);
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_ON);
    jit_trace_output(L);

    /* the Lua libraries and the FFI header: root's, else the install's (a
     * MTS_ROOT holding only strategies and configs) */
    const char *inst = mts_install_root();
    lua_getglobal(L, "package");
    if (strcmp(inst, root) != 0) lua_pushfstring(L, "%s/scripts/lib/?.lua;%s/scripts/lib/?.lua", root, inst);
    else lua_pushfstring(L, "%s/scripts/lib/?.lua", root);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);

    lua_pushboolean(L, 1);
    lua_setglobal(L, "MTS_HOST");
    lua_pushstring(L, root);
    lua_setglobal(L, "MTS_ROOT");
    const char *cands[4] = {root, root, inst, inst};
    const char *tails[4] = {"scripts/lib", "runtime/lua", "scripts/lib", "runtime/lua"};
    int found = 0;
    for (int k = 0; k < 4 && !found; k++) {
        lua_pushfstring(L, "%s/%s/mts_ffi.h", cands[k], tails[k]);
        if (access(lua_tostring(L, -1), R_OK) == 0) found = 1;
        else lua_pop(L, 1);
    }
    if (!found) lua_pushfstring(L, "%s/runtime/lua/mts_ffi.h", root);
    lua_setglobal(L, "MTS_FFI_H");
    lua_pushcfunction(L, list_dir);
    lua_setglobal(L, "MTS_LISTDIR");
    return 0;
}

int mts_lua_state_setup(lua_State *L, const char *root, char *err, size_t errlen) {
    int rc = lua_cpcall(L, setup, (void *)root);
    if (rc != 0) {
        first_line(lua_tostring(L, -1), err, errlen);
        lua_pop(L, 1);
        return rc == LUA_ERRMEM ? MTS_ENOMEM : MTS_ELUA;
    }
    return MTS_OK;
}

int mts_lua_state_new(const char *root, lua_State **out, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    if (!root || !out) {
        first_line("mts_lua_state_new: no root", err, errlen);
        return MTS_EINVAL;
    }
    *out = NULL;
    lua_State *L = luaL_newstate();
    if (!L) {
        first_line("cannot create a Lua state (out of memory)", err, errlen);
        return MTS_ENOMEM;
    }
    int rc = mts_lua_state_setup(L, root, err, errlen);
    if (rc != 0) {
        lua_close(L);
        return rc;
    }
    *out = L;
    return MTS_OK;
}

void mts_lua_state_free(lua_State *L) {
    if (!L) return;
    void *guard = mts_lua_guard_of(L);
    lua_close(L);
    mts_free(guard);
}
