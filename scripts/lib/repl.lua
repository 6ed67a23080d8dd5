-- repl.lua — the Lua half of `mts repl` (runtime/cmd/repl.c reads lines,
-- keeps history and handles Ctrl-C): compiling a chunk or reporting it
-- incomplete, running it, pretty-printing results, tab completion and the
-- dot-commands. The session is trusted: standard Lua plus the mts API
-- (scripts/lib/api.lua), in the globals.
local api = require "api"
local ffi = require "ffi"
local sandbox = require "sandbox"

local R = {}

-- Ctrl-C with the JIT on. Chunks typed at the prompt and scripts are compiled
-- with sandbox.instrument: every loop body and function body calls `tick`,
-- which every 1024 calls asks the host whether Ctrl-C was pressed
-- (mts_repl_poll_interrupt in runtime/cmd/repl.c; a function call, so the JIT
-- cannot hoist the read out of a loop). So even a compiled loop stops, and the
-- session keeps LuaJIT's compiler. Outside the host there is nothing to poll.
local poll
do
    pcall(ffi.cdef, "int mts_repl_poll_interrupt(void);")
    local ok, f = pcall(function() return ffi.C.mts_repl_poll_interrupt end)
    if ok and f then poll = f end
end
local ticks = 0
local function tick()
    ticks = ticks + 1
    if ticks >= 1024 then
        ticks = 0
        if poll and poll() ~= 0 then error("interrupted", 2) end
    end
end
R.tick = tick

-- loadstring of instrumented source: the chunk takes the tick as its argument.
local function load_instrumented(src, chunkname)
    local name = chunkname:gsub("^[=@]", "")
    local isrc, ierr = sandbox.instrument(src, name, true)
    if not isrc then return nil, ierr end
    return loadstring(isrc, chunkname)
end
local mts = api.api
local fmt_num = api.fmt_num

-- ---- pretty printing ------------------------------------------------------------------------

local function is_ident(k) return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil end

local function short(v, depth)
    local t = type(v)
    if t == "number" then return fmt_num(v) end
    if t == "string" then return ("%q"):format(v):gsub("\\\n", "\\n") end
    if t == "userdata" and api.kind(v) then
        local s = tostring(v)
        return depth > 0 and (s:match("^[^\n]*")) or s
    end
    if t == "cdata" then
        local n = mts.len(v)
        if n then
            local parts = {}
            for i = 0, math.min(n, 6) - 1 do parts[#parts + 1] = fmt_num(tonumber(v[i])) end
            return ("cdata[%d] {%s%s} (0-based)"):format(n, table.concat(parts, ", "), n > 6 and ", ..." or "")
        end
        return tostring(v)
    end
    if t ~= "table" then return tostring(v) end
    local mt = getmetatable(v)
    if type(mt) == "table" and mt.__tostring then
        local s = tostring(v)
        return depth > 0 and (s:match("^[^\n]*")) or s
    end
    if depth > 1 then return "{...}" end
    local n = #v
    local keys = {}
    for k in pairs(v) do
        if not (type(k) == "number" and k >= 1 and k <= n and k == math.floor(k)) then keys[#keys + 1] = k end
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for i = 1, math.min(n, 20) do parts[#parts + 1] = short(v[i], depth + 1) end
    if n > 20 then parts[#parts + 1] = ("... (%d items)"):format(n) end
    if depth == 0 and #keys > 0 and #keys + math.min(n, 20) > 4 then
        -- a record: one aligned field per line
        local w = 0
        for _, k in ipairs(keys) do w = math.max(w, #tostring(k)) end
        local lines = { "{" }
        if #parts > 0 then lines[#lines + 1] = "  " .. table.concat(parts, ", ") .. "," end
        for _, k in ipairs(keys) do
            local name = is_ident(k) and k or ("[" .. short(k, 2) .. "]")
            lines[#lines + 1] = ("  %-" .. w .. "s = %s,"):format(name, short(v[k], depth + 1))
        end
        lines[#lines + 1] = "}"
        return table.concat(lines, "\n")
    end
    for _, k in ipairs(keys) do
        local name = is_ident(k) and k or ("[" .. short(k, 2) .. "]")
        parts[#parts + 1] = name .. " = " .. short(v[k], depth + 1)
    end
    return "{" .. table.concat(parts, ", ") .. "}"
end

function R.pretty(v) return short(v, 0) end

-- Prints the values of an expression: tab-separated on one line when they are
-- all short, else one per line.
function R.show(...)
    local n = select("#", ...)
    if n == 0 then return end
    local parts, multi = {}, false
    for i = 1, n do
        parts[i] = short((select(i, ...)), 0)
        if parts[i]:find("\n") then multi = true end
    end
    io.write(table.concat(parts, multi and "\n" or "\t"), "\n")
    io.flush()
end

-- ---- evaluation ------------------------------------------------------------------------------

-- compile(src) -> fn | nil, "incomplete" | nil, message
-- "=expr" and bare expressions are compiled as `return expr`.
function R.compile(src, chunkname)
    chunkname = chunkname or "=stdin"
    local expr = src:match("^%s*=(.*)$")
    if expr then src = expr end
    -- through select: a call in the expression is then not a tail call, so an
    -- error keeps its location
    local fn = load_instrumented("return select(1, " .. src .. "\n)", chunkname)
    if fn then return fn end
    local f2, err = load_instrumented(src, chunkname)
    if f2 then return f2 end
    if err:match("<eof>[\"']?$") or err:match("near '?<eof>'?$") then return nil, "incomplete" end
    return nil, err
end

local function one_line(msg)
    msg = tostring(msg)
    return (msg:match("^[^\n]*"))
end

-- The innermost location in the user's code ("stdin:3" or "script.lua:12")
-- when the error was raised somewhere else.
local function user_location(tb)
    for line in tostring(tb):gmatch("[^\n]+") do
        local loc = line:match("^%s*(stdin:%d+):") or line:match("^%s*(%[string [^%]]*%]:%d+):")
        if loc then return loc end
    end
    return nil
end

-- run(fn [, print results]) -> true | false, message (one line, plus the
-- user's location when the error came from a library)
function R.run(fn, print_results)
    local tb
    ticks = 0
    local res = { xpcall(function() return fn(tick) end, function(e)
        tb = debug.traceback(tostring(e), 2)
        return e
    end) }
    if not res[1] then
        local msg = one_line(res[2])
        local loc = user_location(tb or "")
        if loc and not msg:find(loc, 1, true) then msg = msg .. " (at " .. loc .. ")" end
        return false, msg
    end
    if print_results then R.show(unpack(res, 2, table.maxn(res))) end
    return true
end

-- A research script, compiled like typed chunks (with ticks).
function R.load_file(path)
    local f, err = io.open(path, "rb")
    if not f then return nil, err end
    local src = f:read("*a")
    f:close()
    if src:sub(1, 1) == "#" then src = "--" .. src end   -- shebang line
    return load_instrumented(src, "@" .. path)
end

-- eval(src) -> "ok" | "incomplete" | "error", message  (prints results and errors)
function R.eval(src)
    local fn, err = R.compile(src)
    if not fn then
        if err == "incomplete" then return "incomplete" end
        io.write("error: ", one_line(err), "\n")
        return "error", err
    end
    local ok, msg = R.run(fn, true)
    if not ok then
        io.write("error: ", msg, "\n")
        io.flush()
        return "error", msg
    end
    return "ok"
end

-- ---- completion --------------------------------------------------------------------------------

local KEYWORDS = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "if", "in",
                   "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while" }

local function keys_of(v)
    local out = {}
    local t = type(v)
    if t == "table" then
        for k in pairs(v) do if type(k) == "string" then out[#out + 1] = k end end
        local mt = getmetatable(v)
        if type(mt) == "table" and type(mt.__index) == "table" then
            for k in pairs(mt.__index) do if type(k) == "string" then out[#out + 1] = k end end
        end
        -- objects whose methods come from an __index function (backtest results) list them
        if type(mt) == "table" and type(mt.__complete) == "function" then
            local ok, extra = pcall(mt.__complete, v)
            if ok and type(extra) == "table" then
                for _, k in ipairs(extra) do if type(k) == "string" then out[#out + 1] = k end end
            end
        end
    elseif t == "string" then
        for k in pairs(string) do out[#out + 1] = k end
    elseif t == "userdata" then
        local kind = api.kind(v)
        if kind == "series" then
            for m in api.series_methods():gmatch("[%w_]+") do out[#out + 1] = m end
        elseif kind == "bars" then
            for _, k in ipairs({ "open", "high", "low", "close", "volume", "ts", "asset", "n",
                                 "first", "last", "head", "tail", "rows" }) do out[#out + 1] = k end
        elseif kind == "table" then
            for _, k in ipairs({ "head", "tail", "rows", "column" }) do out[#out + 1] = k end
        end
    end
    return out
end

-- complete(word) -> sorted candidates: globals and keywords, or the fields
-- of a dotted path (mts.ba -> mts.bars, mts.backtest), or methods (btc:la -> btc:last)
function R.complete(word)
    local out, seen = {}, {}
    local function add(s) if not seen[s] then seen[s] = true; out[#out + 1] = s end end
    local path, sep, last = word:match("^(.*)([%.:])([%w_]*)$")
    if path then
        local v = _G
        for part in path:gmatch("[^%.:]+") do
            if not part:match("^[%a_][%w_]*$") then return {} end
            local ok, nv = pcall(function() return v[part] end)
            if not ok or nv == nil then return {} end
            v = nv
        end
        for _, k in ipairs(keys_of(v)) do
            -- internals (_ud, _private, __index...) are never offered
            if k:sub(1, #last) == last and k:match("^[%a][%w_]*$") then
                -- after ':' only methods (r:tr -> r:trades, not the fields)
                local ok, f = true, nil
                if sep == ":" then ok, f = pcall(function() return v[k] end) end
                if sep ~= ":" or (ok and type(f) == "function") then add(path .. sep .. k) end
            end
        end
    else
        for k in pairs(_G) do
            if type(k) == "string" and k:sub(1, #word) == word and not k:match("^MTS_") then add(k) end
        end
        for _, k in ipairs(KEYWORDS) do if k:sub(1, #word) == word then add(k) end end
    end
    table.sort(out)
    return out
end

-- ---- dot-commands ---------------------------------------------------------------------------

local HELP = [[
dot-commands:
  .help               this text
  .reload NAME        re-read strategy NAME ($MTS_STRATEGY_PATH, scripts/strategies, or a path
                      ./my.lua), or a scripts/lib module, and check it
  .strategies         the strategies on $MTS_STRATEGY_PATH and in scripts/strategies (* = used)
  .db                 the database in use
  .quit               leave (Ctrl-D works too)
the mts API (docs/lua-api.md):
  mts.bars(asset, from, to)        bars: #b, b[1].close, b:last(), b.close (a series), b:head(5)
  mts.bars(asset, {interval="1h", from=, to=})   bars of another stored interval (default 1d)
  mts.macro(name, from, to)        a series, e.g. mts.macro("VIX")
  series: s[1], s[-1], #s, s:last(), s:head(n), s:tail(n), s:slice(i, j), s:map(fn),
          s:min(), s:max(), s:mean(), s:plot(), s:spark(), s:values(), s:raw()
  indicators: mts.sma rsi rolling_std rolling_corr drawdown pct_rank pct_change diff align_asof
  r = mts.backtest{strategy=, asset=, params={...}, from=, to=, interval="1d"}: r.sharpe_ratio, r:trades():head(5),
          r.equity:plot(); books and instruments: mode="independent"|"vote", allocate={sma_cross=0.6, ...},
          max_position=, max_portfolio_risk=, market="spot"|"perp", leverage=, maker_bps=, taker_bps=:
          r.books (pnl, final, fees, funding per strategy), r.funding, r.benchmark, r.risk, r:open_trades()
  t = mts.optimize{strategy=, asset=, params={fast="5:50:5", slow={20,50}}, metric="sharpe_ratio", jobs=2}:
          the grid ranked best first (t:head(5), t[1].params, t[1].sharpe_ratio); store="all"|"best"
input: `=expr` or a bare expression prints its value; an unfinished chunk continues on the next
line; Ctrl-C stops a running computation; Tab completes names and fields.]]

local used = {}

local function reload(name)
    if not name or name == "" then return false, "usage: .reload NAME" end
    local root = mts.root
    -- a name ($MTS_STRATEGY_PATH, then scripts/strategies) or a path, as mts.backtest finds it
    local okl, sname, path, rel = pcall(require("runner").locate, root, name)
    local f = okl and io.open(path, "rb")
    if f then
        f:close()
        name = sname
        local sandbox = require "sandbox"
        local env = sandbox.new_env({ mts = require("mts").api, modules = { mts = require("mts").api } })
        local fn, err = sandbox.compile(path, rel, env)
        if not fn then return false, err end
        local ok, mod = pcall(fn)
        if not ok then return false, tostring(mod) end
        if type(mod) ~= "table" or type(mod.get_parameters) ~= "function" then
            return false, name .. ": must return a table with get_parameters()"
        end
        local okp, p = pcall(mod.get_parameters)
        if not okp then return false, tostring(p) end
        local ks = {}
        for k, v in pairs(p) do ks[#ks + 1] = k .. "=" .. tostring(v) end
        table.sort(ks)
        used[name] = true
        return true, ("reloaded strategy %s (parameters: %s); the next mts.backtest uses it"):format(
            name, table.concat(ks, ", "))
    end
    if package.loaded[name] ~= nil or io.open(root .. "/scripts/lib/" .. name .. ".lua") then
        package.loaded[name] = nil
        local ok, m = pcall(require, name)
        if not ok then return false, one_line(m) end
        return true, "reloaded module " .. name
    end
    return false, ("no strategy or module '%s' (strategies: %s)"):format(name, table.concat(api.strategies(), ", "))
end

-- dot(line) -> "quit" | nil (prints its output)
function R.dot(line)
    local cmd, arg = line:match("^%.(%S*)%s*(.-)%s*$")
    if cmd == "help" or cmd == "h" or cmd == "?" then
        print(HELP)
    elseif cmd == "quit" or cmd == "exit" or cmd == "q" then
        return "quit"
    elseif cmd == "reload" then
        local ok, msg = reload(arg)
        print(ok and msg or ("error: " .. one_line(msg)))
    elseif cmd == "strategies" then
        for _, s in ipairs(api.loaded) do for n in s:gmatch("[^,]+") do used[n] = true end end
        for _, n in ipairs(api.strategies()) do print((used[n] and "* " or "  ") .. n) end
    elseif cmd == "db" then
        print("database: " .. tostring(api.db()))
    else
        print(("error: unknown command '.%s' (.help lists them)"):format(tostring(cmd)))
    end
    io.flush()
    return nil
end

-- Sets up the session's globals: mts (the REPL API).
function R.init()
    rawset(_G, "mts", mts)
    return true
end

return R
