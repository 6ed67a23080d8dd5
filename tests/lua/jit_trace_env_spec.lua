-- jit_trace_env_spec.lua — MTS_JIT_V / MTS_JIT_DUMP (runtime/lua/state.c):
-- a real backtest through the C bridge (mts_lua_backtest in MTS_LIB, its own
-- lua_State) writes LuaJIT's trace reports where the variables say, and a
-- sandboxed strategy still cannot reach jit, require or package while they
-- are loaded. Needs the library with the bridge (pending otherwise).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
local H = require "setup"
local ffi = require "ffi"
local mts = require "mts"

if not pcall(ffi.typeof, "mts_engine_config_t") then
    ffi.cdef [[
typedef struct mts_engine_config { double initial_capital, commission_bps, slippage_bps, leverage; } mts_engine_config_t;
int  mts_engine_create(const mts_engine_config_t *cfg, mts_engine_t **out);
void mts_engine_free(mts_engine_t *e);
int  mts_engine_add_asset(mts_engine_t *e, const char *name, const mts_bars_t *bars, int32_t *id_out);
]]
end
if not pcall(ffi.typeof, "mts_jit_spec_run_spec_t") then
    ffi.cdef [[
typedef struct mts_jit_spec_run_spec {
    mts_engine_t *engine; const char *root; const char *const *strategies; int n_strategies;
    const char *const *param_keys; const char *const *param_values; int n_params; int trusted;
    const char *interval; void *provider;
    const char *mode; double max_position, max_portfolio_risk;
    int decisions;
    const char *const *shadows; int n_shadows;
} mts_jit_spec_run_spec_t;
typedef struct mts_jit_spec_result {
    char *parameters_json; int n_disabled; char *disabled;
    int n_risk; int64_t *risk_trimmed, *risk_refused, *risk_short_refused;
    void *decisions; int n_decisions;
    char *shadows_json;
} mts_jit_spec_result_t;
int  mts_lua_backtest(const mts_jit_spec_run_spec_t *spec, mts_jit_spec_result_t *out, char *err, size_t errlen);
void mts_run_result_free(mts_jit_spec_result_t *r);
int  setenv(const char *name, const char *value, int overwrite);
int  unsetenv(const char *name);
]]
end
local C = mts.C
local have = pcall(function() return C.mts_lua_backtest end)
if have then
    -- the bridge's state reaches the engine through ffi.C: the library's
    -- symbols must be global in this process
    have = pcall(ffi.load, os.getenv("MTS_LIB") or (H.root .. "/lib/libmts.so"), true)
end

local PROBE = [[
local M = {}
function M.get_parameters() return {} end
local reach = {}
for _, name in ipairs({ "jit", "require", "package", "debug", "ffi" }) do
    local ok, v = pcall(function() return _G and _G[name] end)
    reach[#reach + 1] = name .. "=" .. tostring(ok and v ~= nil)
end
M.reached = table.concat(reach, ",")
function M.on_bar(ctx, asset, i)
    local s = 0
    for k = 1, 20 do s = s + k end        -- something to compile (an inner loop)
    if i == 3000 then error("probe: " .. M.reached) end
    return nil
end
return M]]

local function read(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local t = f:read("*a")
    f:close()
    return t
end

describe("MTS_JIT_V and MTS_JIT_DUMP", function()
    if not have then
        pending("MTS_LIB has no bridge, or cannot be loaded globally")
        return
    end

    -- One backtest of the probe through the bridge with the environment
    -- `env` set for it; returns rc, err, the disabled lines, the file's text.
    local function run_probe(env, file_var)
        local dir = H.tree({ ["scripts/strategies/probe.lua"] = PROBE })
        local abs = io.popen("cd '" .. H.root .. "' && pwd"):read("*l")
        assert(os.execute("ln -s '" .. abs .. "/scripts/lib' '" .. dir .. "/scripts/lib'"))
        assert(os.execute("ln -s '" .. abs .. "/runtime' '" .. dir .. "/runtime'"))
        local n = 5000
        local keep = {}
        local function arr(ct)
            local a = ffi.new(ct, n)
            keep[#keep + 1] = a
            return a
        end
        local b = ffi.new("mts_bars_t")
        b.ts, b.open, b.high, b.low, b.close, b.volume =
            arr("int64_t[?]"), arr("double[?]"), arr("double[?]"), arr("double[?]"), arr("double[?]"), arr("double[?]")
        for i = 0, n - 1 do
            b.ts[i] = 1577836800 + 60 * i
            b.open[i], b.high[i], b.low[i], b.close[i], b.volume[i] = 100, 101, 99, 100 + (i % 7), 1
        end
        b.n, b.cap = n, n
        local pe = ffi.new("mts_engine_t *[1]")
        assert(C.mts_engine_create(ffi.new("mts_engine_config_t", { 100000, 10, 0 }), pe) == 0)
        local e = ffi.gc(pe[0], C.mts_engine_free)
        assert(C.mts_engine_add_asset(e, "synthetic", b, ffi.new("int32_t[1]")) == 0)
        local file = dir .. "/out.txt"
        env[file_var] = file
        env.MTS_TRUSTED_STRATEGIES = "0"
        for k, v in pairs(env) do C.setenv(k, v, 1) end
        local names = ffi.new("const char *[1]", { "probe" })
        local spec = ffi.new("mts_jit_spec_run_spec_t")
        spec.engine, spec.root, spec.strategies, spec.n_strategies, spec.interval = e, dir, names, 1, "1m"
        local res = ffi.new("mts_jit_spec_result_t")
        local err = ffi.new("char[512]")
        local rc = C.mts_lua_backtest(spec, res, err, 512)
        for k in pairs(env) do C.unsetenv(k) end
        local disabled = res.disabled ~= nil and ffi.string(res.disabled) or ""
        C.mts_run_result_free(res)
        local text = read(file)
        H.rmtree(dir)
        keep = nil
        return rc, ffi.string(err), disabled, text
    end

    local SEEN_NOTHING = "probe: jit=false,require=false,package=false,debug=false,ffi=false"

    it("MTS_JIT_V: the -jv lines of a sandboxed run; the strategy reaches none of it", function()
        local rc, err, disabled, v = run_probe({}, "MTS_JIT_V")
        assert.are.equal(0, rc, err)
        assert.truthy(disabled:find(SEEN_NOTHING, 1, true), disabled)
        assert.truthy(v and v:find("[TRACE", 1, true), "no -jv output")
        assert.truthy(v:find("probe.lua", 1, true))           -- the strategy's code is traced
        assert.truthy(v:find("%[TRACE +%d+ runner%.lua:%d+"), v) -- and the runner's loop
    end)

    it("MTS_JIT_DUMP with MTS_JIT_DUMP_MODE: the -jdump output, the same isolation", function()
        local rc, err, disabled, d = run_probe({ MTS_JIT_DUMP_MODE = "tb" }, "MTS_JIT_DUMP")
        assert.are.equal(0, rc, err)
        assert.truthy(disabled:find(SEEN_NOTHING, 1, true), disabled)
        assert.truthy(d and d:find("---- TRACE %d+ start"), "no -jdump output")
        assert.truthy(d:find("probe.lua", 1, true))
        assert.is_nil(d:find("---- TRACE %d+ IR"))             -- mode tb: no IR
    end)
end)
