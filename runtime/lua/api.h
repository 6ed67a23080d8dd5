/* api.h — the native half of the REPL/research mts API (scripts/lib/api.lua
 * is the other half). Only runtime/lua/ and cmd/repl.c include it (it
 * includes lua.h). Needs store/ and backtest/.
 *
 * mts_lua_open_api sets the global MTS_NATIVE = {bars, macro, backtest,
 * backtest_info, backtest_trades, backtest_equity, parse_time, db}: bars and
 * macro load from the store (importing bundled data on first use), backtest
 * runs mts_backtest_run. Each result is a userdata owning the C memory (freed
 * by __gc); its arrays are returned as lightuserdata pointers, valid while the
 * userdata lives. sessions(limit) returns the newest paper sessions as the
 * JSON text of GET /paper/sessions (api/queries.h). store is borrowed and must outlive L (NULL: data functions
 * raise "no database is open"). */
#ifndef MTS_LUA_API_H
#define MTS_LUA_API_H

#include <lua.h>
#include <signal.h>
#include "store/store.h"

int mts_lua_open_api(lua_State *L, mts_store_t *store, const char *root, const char *db_label);
/* A flag that cancels a running mts.backtest (borrowed; the REPL's Ctrl-C):
 * the run stops within 1024 bars and mts.backtest raises "cancelled ...". */
void mts_lua_api_set_cancel(lua_State *L, const volatile sig_atomic_t *flag);

#endif
