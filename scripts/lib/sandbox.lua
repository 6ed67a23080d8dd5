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
-- What this sandbox is not (yet). It guards against mistakes, not against a
-- hostile script: strategies receive cdata arrays (bars, indicator series)
-- whose indexing is unchecked, so out-of-bounds reads and writes are
-- possible; there is no time budget (a `while true do end` hangs the run —
-- LuaJIT's compiled traces ignore count hooks) and no memory cap; all
-- strategies share one lua_State. The plan for untrusted strategies (one
-- state per strategy, a tracking allocator, jit.off + count hook or a child
-- process killed on timeout) belongs in runtime/lua/ and at the marked
-- places in scripts/lib/runner.lua (search for "SANDBOX-LATER").
-- SANDBOX-LATER: per-strategy states would build this env in their own
-- lua_State, with only data (not functions) crossing between states.
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
local function safe_getmetatable(o)
    if type(o) == "string" then return nil end
    return real_getmetatable(o)
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
