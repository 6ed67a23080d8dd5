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
-- strategy source is instrumented before it is compiled (S.instrument): a
-- call to the budget's tick goes into every loop body (after each `do` and
-- `repeat`), every function body and before every `goto`. Every 1024th tick
-- reads the CPU clock; a call that has used up its budget (MTS_STRATEGY_TIME_MS)
-- raises "time budget of N ms exceeded" at the strategy's own line, and every
-- later tick of that call raises too, so the strategy's own pcall cannot
-- swallow it. Unlike a count hook, this also stops JIT-compiled loops, so
-- strategies keep the JIT. The memory cap per strategy is the guard's
-- allocator (the runner marks whose call is running). string.rep here refuses
-- a result larger than the cap before allocating.
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

-- ---- the time budget ------------------------------------------------------

local TICK = "__mts_tick"          -- the name the instrumented code calls
local CHECK_EVERY = 1024           -- ticks between two clock readings
local clock = os.clock             -- CPU seconds
local budget_s, budget_msg = 1.0, "time budget of 1000 ms exceeded"
local count, deadline, tripped = 0, -1, false

-- Called by the instrumented strategy code: cheap enough to stay inside
-- compiled traces (two upvalue updates and a compare, a clock read every
-- CHECK_EVERY calls). The budget starts at the first clock reading, so a call
-- shorter than CHECK_EVERY ticks never reads the clock.
local function tick()
    if tripped then error(budget_msg, 2) end
    count = count + 1
    if count >= CHECK_EVERY then
        count = 0
        local now = clock()
        if deadline < 0 then
            deadline = now + budget_s
        elseif now > deadline then
            tripped = true
            error(budget_msg, 2)
        end
    end
end
S.tick = tick

function S.set_budget(ms)
    budget_s = ms / 1000
    budget_msg = ("time budget of %d ms exceeded"):format(ms)
end

-- Before each call into a strategy.
function S.arm()
    count, deadline, tripped = 0, -1, false
end

-- After it: true when the call ran out of time (even if it caught the error).
function S.tripped() return tripped end
function S.budget_message() return budget_msg end

-- ---- instrumentation -------------------------------------------------------

local function lines_in(src, i, j)
    local n = 0
    for _ in src:sub(i, j):gmatch("\n") do n = n + 1 end
    return n
end

-- The tokens of a Lua chunk that matter here: names/keywords and punctuation,
-- with strings, numbers and comments skipped. Returns the token list or nil
-- and "chunkname:line: message". An unfinished string or comment is an error,
-- unless `lenient`: then the tokens so far are returned and the compiler
-- reports the rest (the REPL, to tell an unfinished chunk from a wrong one).
local function tokens(src, chunkname, lenient)
    local toks, pos, line, n = {}, 1, 1, #src
    local function fail(msg)
        if lenient then return toks end
        return nil, ("%s:%d: %s"):format(chunkname, line, msg)
    end
    while pos <= n do
        local c = src:sub(pos, pos)
        if c == "\n" then
            line, pos = line + 1, pos + 1
        elseif c:match("%s") then
            pos = pos + 1
        elseif c == "-" and src:sub(pos + 1, pos + 1) == "-" then
            local eq = src:match("^%[(=*)%[", pos + 2)
            if eq then                                  -- --[==[ long comment ]==]
                local close = "]" .. eq .. "]"
                local e = src:find(close, pos + 4 + #eq, true)
                if not e then return fail("unfinished long comment") end
                line = line + lines_in(src, pos, e)
                pos = e + #close
            else
                pos = (src:find("\n", pos, true) or n + 1)
            end
        elseif c == "[" and src:match("^%[=*%[", pos) then   -- [==[ long string ]==]
            local eq = src:match("^%[(=*)%[", pos)
            local close = "]" .. eq .. "]"
            local e = src:find(close, pos + 2 + #eq, true)
            if not e then return fail("unfinished long string") end
            line = line + lines_in(src, pos, e)
            toks[#toks + 1] = { kind = "string", s = pos, e = e + #close - 1, line = line }
            pos = e + #close
        elseif c == '"' or c == "'" then
            local i = pos + 1
            while true do
                local ch = src:sub(i, i)
                if ch == "" or ch == "\n" then return fail("unfinished string") end
                if ch == "\\" then
                    local nx = src:sub(i + 1, i + 1)
                    if nx == "\n" or nx == "\r" then          -- an escaped line break (\r\n counts once)
                        line = line + 1
                        local nn = src:sub(i + 2, i + 2)
                        i = ((nn == "\n" or nn == "\r") and nn ~= nx) and i + 3 or i + 2
                    elseif nx == "z" then                      -- \z skips the white space after it
                        i = i + 2
                        while true do
                            local w = src:sub(i, i)
                            if w == "" or not w:match("%s") then break end
                            if w == "\n" then line = line + 1 end
                            i = i + 1
                        end
                    else
                        i = i + 2
                    end
                elseif ch == c then
                    break
                else
                    i = i + 1
                end
            end
            toks[#toks + 1] = { kind = "string", s = pos, e = i, line = line }
            pos = i + 1
        elseif c:match("[%a_]") then
            local s, e = src:find("^[%w_]+", pos)
            toks[#toks + 1] = { kind = "name", text = src:sub(s, e), s = s, e = e, line = line }
            pos = e + 1
        elseif c:match("%d") or (c == "." and src:sub(pos + 1, pos + 1):match("%d")) then
            local i = pos
            while true do
                local ch = src:sub(i, i)
                if ch:match("[eEpP]") and src:sub(i + 1, i + 1):match("[%+%-]") then
                    i = i + 2
                elseif ch ~= "" and ch:match("[%w_%.]") then
                    i = i + 1
                else
                    break
                end
            end
            toks[#toks + 1] = { kind = "number", s = pos, e = i - 1, line = line }
            pos = i
        else
            toks[#toks + 1] = { kind = "punct", text = c, s = pos, e = pos, line = line }
            pos = pos + 1
        end
    end
    return toks
end

-- The source with budget ticks: after every `do` and `repeat`, after the
-- parameter list of every function, and before every `goto` (so loops built
-- from goto tick too). Nothing is inserted across a line break, so line
-- numbers in messages stay those of the file. A chunk that uses the reserved
-- name itself is refused. The result expects the tick function as the chunk's
-- first argument. `lenient`: see tokens().
function S.instrument(src, chunkname, lenient)
    local toks, err = tokens(src, chunkname, lenient)
    if not toks then return nil, err end
    local at = {}                       -- byte position -> text inserted before it
    local function after(k)
        local nxt = toks[k + 1]
        local sep = (nxt and nxt.kind == "punct" and nxt.text == ";") and "" or ";"
        at[toks[k].e + 1] = (at[toks[k].e + 1] or "") .. " " .. TICK .. "()" .. sep .. " "
    end
    local in_function = nil             -- "name": saw `function`; "params": inside its ( )
    for k, t in ipairs(toks) do
        if t.kind == "name" then
            if t.text == TICK then
                return nil, ("%s:%d: the name %s is reserved"):format(chunkname, t.line, TICK)
            elseif t.text == "do" or t.text == "repeat" then
                after(k)
            elseif t.text == "function" then
                in_function = "name"
            elseif t.text == "goto" then
                at[t.s] = (at[t.s] or "") .. TICK .. "(); "
            end
        elseif t.kind == "punct" then
            if in_function == "name" and t.text == "(" then
                in_function = "params"
            elseif in_function == "params" and t.text == ")" then
                in_function = nil
                after(k)
            end
        end
    end
    local out, last = { "local " .. TICK .. " = ...; " }, 1
    local positions = {}
    for p in pairs(at) do positions[#positions + 1] = p end
    table.sort(positions)
    for _, p in ipairs(positions) do
        out[#out + 1] = src:sub(last, p - 1)
        out[#out + 1] = at[p]
        last = p
    end
    out[#out + 1] = src:sub(last)
    return table.concat(out)
end

-- Compiles the file at `path` as text (bytecode is refused) with `chunkname`
-- as its name in messages ("scripts/strategies/x.lua:12: ...") and `env` as
-- its globals. With `instrumented`, the source gets the budget's ticks first
-- (S.instrument) and the chunk must be called with S.tick as its argument.
-- Returns the function, or nil and a message.
function S.compile(path, chunkname, env, instrumented)
    local f, err = io.open(path, "rb")
    if not f then return nil, err end
    local src = f:read("*a")
    f:close()
    if src:sub(1, 1) == "#" then src = "--" .. src end   -- shebang line
    if src:sub(1, 1) == "\27" then return nil, chunkname .. ": bytecode is not accepted, only Lua source" end
    if instrumented then
        local ierr
        src, ierr = S.instrument(src, chunkname)
        if not src then return nil, ierr end
    end
    local fn, cerr = load(src, "@" .. chunkname, "t", env)
    if not fn then return nil, cerr end
    return fn
end

return S
