-- sandbox.lua — environments for strategy scripts, built from an allow list
-- (model: Redis src/script_lua.c). Trusted code; strategies never see it.
--
-- A strategy chunk runs with its own global table holding only:
--   math, string, table (copies, so a strategy cannot patch the runner's),
--   pairs ipairs select type tostring tonumber error assert pcall next unpack
--   setmetatable getmetatable rawget rawequal, print (routed to the run's
--   logger), mts (the read-only indicator API of scripts/lib/mts.lua) and a
--   require() that hands out only vetted modules (today: "mts").
-- Not available: os, io, debug, package, load/loadstring/loadfile/dofile,
-- the real require, ffi, jit, string.dump, collectgarbage, rawset, setfenv,
-- getfenv. Reading or writing any other global raises an error, so a typo
-- fails loudly instead of yielding nil.
--
-- Limits. In a guarded state (runtime/lua/guard.h, the default for backtests)
-- the runner compiles strategy chunks with the JIT off and calls them through
-- MTS_GUARD.call: a time budget per call and a memory cap per strategy (see
-- runner.lua and docs/strategies.md, "Limits"). string.rep here refuses a
-- result larger than the cap before allocating.
--
-- Not isolated: all strategies share one lua_State, and the cdata arrays
-- they receive (bars, indicator series) are unchecked, so out-of-bounds
-- indexing is possible.
local S = {}

local function copy(t, drop)
    local c = {}
    for k, v in pairs(t) do
        if not (drop and drop[k]) then c[k] = v end
    end
    return c
end

local real_getmetatable = getmetatable

-- getmetatable("") would hand out the shared string metatable, whose __index
-- is the real string library; strategies get nil for strings instead.
-- Likewise for cdata and userdata: their metatables belong to the FFI and the host.
local function safe_getmetatable(o)
    local t = type(o)
    if t == "string" or t == "cdata" or t == "userdata" then return nil end
    return real_getmetatable(o)
end

-- string.rep that refuses, before allocating, a result larger than the
-- guard's memory cap (or 1 GB without a guard). ("x"):rep(n) reaches the real
-- string.rep through the string metatable; the guard's allocator caps it.
local real_rep = string.rep
function S.checked_rep(s, n, sep)
    if type(s) == "number" then s = tostring(s) end
    if type(s) ~= "string" then error("bad argument #1 to 'rep' (string expected, got " .. type(s) .. ")", 2) end
    if type(n) ~= "number" then error("bad argument #2 to 'rep' (number expected, got " .. type(n) .. ")", 2) end
    local g = rawget(_G, "MTS_GUARD")
    local cap = (g and g.mem_cap and g.mem_cap > 0) and g.mem_cap or 2 ^ 30
    local size = n > 0 and (#s * n + (sep and #tostring(sep) * (n - 1) or 0)) or 0
    if size > cap then
        error(("string.rep: a result of %.0f bytes exceeds the memory cap of %.0f MB"):format(size, cap / 2 ^ 20), 2)
    end
    return real_rep(s, n, sep)
end

S.ALLOWED_FUNCTIONS = {
    "pairs", "ipairs", "select", "type", "tostring", "tonumber", "error", "assert",
    "pcall", "next", "unpack", "setmetatable", "rawget", "rawequal",
}

-- opts.print: function(...) used as print; opts.modules: name -> value for
-- the strategy's require(); opts.mts: the value of the global `mts`.
function S.new_env(opts)
    opts = opts or {}
    local env = {}
    for _, name in ipairs(S.ALLOWED_FUNCTIONS) do env[name] = _G[name] end
    env.getmetatable = safe_getmetatable
    env.math = copy(math)
    env.string = copy(string, { dump = true })
    env.string.rep = S.checked_rep
    env.table = copy(table)
    env.print = opts.print or function() end
    env.mts = opts.mts
    local modules = opts.modules or {}
    local names = {}
    for k in pairs(modules) do names[#names + 1] = k end
    table.sort(names)
    env.require = function(name)
        local m = modules[name]
        if m == nil then
            error("require: module '" .. tostring(name) .. "' is not available to strategies (available: " ..
                  table.concat(names, ", ") .. ")", 2)
        end
        return m
    end
    return setmetatable(env, {
        __index = function(_, k)
            error("unknown global '" .. tostring(k) .. "'", 2)
        end,
        __newindex = function(_, k)
            error("assignment to undeclared global '" .. tostring(k) ..
                  "' (strategies keep state in locals or ctx.state)", 2)
        end,
        __metatable = false,
    })
end

-- Compiles the file at `path` as text (bytecode is refused) with `chunkname`
-- as its name in messages ("scripts/strategies/x.lua:12: ...") and `env` as
-- its globals. Returns the function, or nil and a message.
function S.compile(path, chunkname, env)
    local f, err = io.open(path, "rb")
    if not f then return nil, err end
    local src = f:read("*a")
    f:close()
    if src:sub(1, 1) == "#" then src = "--" .. src end   -- shebang line
    local fn, cerr = load(src, "@" .. chunkname, "t", env)
    if not fn then return nil, cerr end
    return fn
end

return S
