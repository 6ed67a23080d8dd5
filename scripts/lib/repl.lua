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
local DOTS = { "help", "reload", "strategies", "db", "quit" }

function R.complete(word)
    local out, seen = {}, {}
    local function add(s) if not seen[s] then seen[s] = true; out[#out + 1] = s end end
    local dot = word:match("^%.([%w_]*)$")
    if dot then   -- a dot-command (the attached ones too while attached)
        for _, list in ipairs({ DOTS, R.attached_dots and R.attached_dots() or {} }) do
            for _, c in ipairs(list) do if c:sub(1, #dot) == dot then add("." .. c) end end
        end
        table.sort(out)
        return out
    end
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


-- ---- attached: the global `session` (mts repl --attach ID) -----------------------------------
-- runtime/cmd/repl.c connects to the session's control socket and hands the
-- client over (conn:call(request_json [, timeout_ms]) -> reply line | nil,
-- message, "timeout"|"closed"|"error"). Each method sends one request of the
-- protocol (docs/live.md "A REPL on a running session"), raises the session's
-- error text when the reply is not ok, and returns Lua tables that print
-- readably: api.table views for rows (books, positions, signals), a record for
-- status, a tree for ctx.

local json = require "json"

-- JSON values as plain Lua tables; null fields are left out.
local function plain(v)
    if v == json.null then return nil end
    if type(v) ~= "table" then return v end
    local out = {}
    for k, x in pairs(v) do out[k] = plain(x) end
    return out
end

local function scalar_text(v)
    if type(v) == "number" then return fmt_num(v) end
    if type(v) ~= "table" then return tostring(v) end
    local parts = {}
    if #v > 0 then
        for i = 1, #v do parts[i] = scalar_text(v[i]) end
        return table.concat(parts, ",")
    end
    local ks = {}
    for k in pairs(v) do ks[#ks + 1] = tostring(k) end
    table.sort(ks)
    for _, k in ipairs(ks) do parts[#parts + 1] = k .. "=" .. scalar_text(v[k]) end
    return table.concat(parts, ", ")
end

-- rows: a list of records; the columns: `first` that occur, then the others (sorted).
-- Table values (params) become text so that every cell prints.
local function rows_table(rows, first, only)
    local seen, cols = {}, {}
    for _, c in ipairs(first) do
        for _, r in ipairs(rows) do
            if r[c] ~= nil then cols[#cols + 1] = c; seen[c] = true; break end
        end
    end
    local extra = {}
    for _, r in ipairs(rows) do
        for k in pairs(r) do
            if type(k) == "string" and not seen[k] then seen[k] = true; extra[#extra + 1] = k end
        end
    end
    table.sort(extra)
    if not only then for _, k in ipairs(extra) do cols[#cols + 1] = k end end
    if #rows == 0 then for i, c in ipairs(first) do cols[i] = c end end   -- the header still says what
    local out = {}
    for i, r in ipairs(rows) do
        local row = {}
        for k, v in pairs(r) do
            if type(v) == "table" then row[k] = scalar_text(v)
            elseif type(v) == "boolean" then row[k] = v and "yes" or "no"
            else row[k] = v end
        end
        out[i] = row
    end
    return api.table(cols, out)
end

-- the list in a result: the result itself, or its one field named `key`
local function list_of(res, key)
    if type(res) ~= "table" then return {} end
    if type(res[key]) == "table" then return res[key] end
    return res
end

local function ts_text(v)
    if type(v) ~= "number" then return v end
    if v > 1e11 then v = v / 1000 end   -- milliseconds
    return os.date("!%Y-%m-%d %H:%M:%S", math.floor(v))
end

-- nested data (ctx.state, ctx.params) as an indented tree
local function tree(v, indent, out, depth)
    local ks = {}
    for k in pairs(v) do ks[#ks + 1] = k end
    table.sort(ks, function(a, b)
        if type(a) == type(b) and type(a) ~= "table" then return a < b end
        return tostring(a) < tostring(b)
    end)
    if #ks == 0 then out[#out + 1] = indent .. "(empty)" end
    for _, k in ipairs(ks) do
        local x = v[k]
        local name = is_ident(k) and k or ("[" .. short(k, 2) .. "]")
        if type(x) == "table" and next(x) ~= nil and depth < 12 then
            local n = #x
            local flat = n > 0 and n == (function() local c = 0; for _ in pairs(x) do c = c + 1 end; return c end)()
            local all_scalar = flat
            if flat then for i = 1, n do if type(x[i]) == "table" then all_scalar = false; break end end end
            if all_scalar then
                local parts = {}
                for i = 1, math.min(n, 12) do parts[i] = short(x[i], 2) end
                out[#out + 1] = ("%s%s = {%s%s}%s"):format(indent, name, table.concat(parts, ", "),
                    n > 12 and ", ..." or "", n > 12 and (" (%d items)"):format(n) or "")
            else
                out[#out + 1] = indent .. name .. ":"
                tree(x, indent .. "  ", out, depth + 1)
            end
        else
            out[#out + 1] = indent .. name .. " = " .. (type(x) == "table" and "{}" or short(x, 2))
        end
    end
end

local function record(t, render) return setmetatable(t, { __tostring = render }) end

local S = {}           -- the methods of `session`
local SM = { __index = S }

-- one request -> the reply's result (plain Lua) or an error naming the session
local function request(self, op, args)
    local conn = rawget(self, "_conn")
    if not conn then error(("session %d: detached (start mts repl --attach %d again)"):format(self.id, self.id), 0) end
    local req = { op = op }   -- the client adds the id
    for k, v in pairs(args or {}) do req[k] = v end
    local line, err, code = conn:call(json.encode(req))
    if not line then
        if code == "closed" then
            error(("session %d closed the connection: it stopped (what it did is stored: mts replay %d); "
                .. ".detach to leave"):format(self.id, self.id), 0)
        elseif code == "timeout" then
            error(("session %d did not answer %s in time (%s): it may be busy with a step; try again")
                :format(self.id, op, err), 0)
        end
        error(("session %d: %s"):format(self.id, err), 0)
    end
    local reply, jerr = json.decode(line)
    if type(reply) ~= "table" then error(("session %d: unreadable reply (%s): %s"):format(self.id, tostring(jerr), line:sub(1, 200)), 0) end
    if reply.ok ~= true then
        error(("session %d: %s"):format(self.id, tostring(plain(reply.error) or "the request failed")), 0)
    end
    return plain(reply.result)
end

local BOOK_COLS = { "book", "strategy", "kind", "initial", "equity", "pnl", "return", "cash", "fees", "funding",
                    "fills", "trades" }
local POS_COLS = { "book", "strategy", "asset", "qty", "avg_cost", "mark", "unrealised" }
local SIG_COLS = { "time", "asset", "strategy", "signal_type", "price", "confidence" }
local STRAT_COLS = { "strategy", "name", "shadow", "paused", "params" }

-- a strategy's params in one cell: the tunable values (numbers, booleans, short
-- text), not its description or nested settings (session:status().strategies[i].params has all)
local function params_text(p)
    if type(p) ~= "table" then return p end
    local ks = {}
    for k, v in pairs(p) do
        local t = type(v)
        if type(k) == "string" and (t == "number" or t == "boolean" or (t == "string" and #v <= 16)) then
            ks[#ks + 1] = k
        end
    end
    table.sort(ks)
    for i, k in ipairs(ks) do ks[i] = k .. "=" .. scalar_text(p[k]) end
    return table.concat(ks, ", ")
end

local function status_text(st)
    local lines, scal = {}, {}
    local order = { "session", "interval", "bars", "steps", "equity", "paused" }
    local used = {}
    for _, k in ipairs(order) do
        if st[k] ~= nil and type(st[k]) ~= "table" then scal[#scal + 1] = k .. " " .. scalar_text(st[k]); used[k] = true end
    end
    local rest = {}
    for k, v in pairs(st) do if not used[k] and type(v) ~= "table" then rest[#rest + 1] = k end end
    table.sort(rest)
    for _, k in ipairs(rest) do scal[#scal + 1] = k .. " " .. scalar_text(st[k]) end
    lines[1] = table.concat(scal, " · ")
    local tabs = {}
    for k, v in pairs(st) do if type(v) == "table" then tabs[#tabs + 1] = k end end
    table.sort(tabs)
    for _, k in ipairs(tabs) do
        local v = st[k]
        if #v > 0 and type(v[1]) == "table" then
            local rows = {}
            for i, r in ipairs(v) do
                rows[i] = {}
                for f, x in pairs(r) do rows[i][f] = f == "params" and params_text(x) or x end
            end
            lines[#lines + 1] = k .. ":"
            lines[#lines + 1] = tostring(rows_table(rows, STRAT_COLS))
        else
            lines[#lines + 1] = k .. ": " .. (next(v) == nil and "none" or scalar_text(v))
        end
    end
    return table.concat(lines, "\n")
end

-- session:status() -> {session, bars, steps, equity, paused, interval, strategies = {...}}
function S.status(self)
    return record(request(self, "status") or {}, status_text)
end

-- session:books() -> a table of books, the account's (live) first, then the shadows
function S.books(self)
    local rows = list_of(request(self, "books"), "books")
    local live, shadow = {}, {}
    for _, b in ipairs(rows) do
        b.kind = b.shadow and "shadow" or "live"
        if b["return"] == nil and type(b.equity) == "number" and type(b.initial) == "number" and b.initial ~= 0 then
            b["return"] = b.equity / b.initial - 1
        end
        if b.pnl == nil and type(b.equity) == "number" and type(b.initial) == "number" then b.pnl = b.equity - b.initial end
        b.shadow = nil
        if b.kind == "shadow" then shadow[#shadow + 1] = b else live[#live + 1] = b end
    end
    for _, b in ipairs(shadow) do live[#live + 1] = b end
    return rows_table(live, BOOK_COLS)
end

-- session:positions() -> a table: book, strategy, asset, qty, avg_cost, mark, unrealised
function S.positions(self)
    return rows_table(list_of(request(self, "positions"), "positions"), POS_COLS)
end

-- session:ctx(strategy [, asset]) -> that strategy's ctx.state and ctx.params (per asset)
function S.ctx(self, strategy, asset)
    if type(strategy) ~= "string" then
        error("session:ctx(strategy [, asset]): give a strategy's name, e.g. session:ctx(\"sma_cross\")", 2)
    end
    local res = request(self, "ctx", { strategy = strategy, asset = asset })
    if type(res) ~= "table" then return res end
    return record(res, function(t)
        local out = {}
        tree(t, "", out, 0)
        return table.concat(out, "\n")
    end)
end

-- session:signals([n]) -> the newest n signals (default 20, at most 1000)
function S.signals(self, n)
    if n ~= nil and (type(n) ~= "number" or n < 1 or n > 1000 or n ~= math.floor(n)) then
        error("session:signals([n]): n is a whole number from 1 to 1000", 2)
    end
    local rows = list_of(request(self, "signals", { n = n }), "signals")
    for _, r in ipairs(rows) do if r.time == nil and r.ts ~= nil then r.time = ts_text(r.ts) end end
    return rows_table(rows, SIG_COLS, true)   -- rows keep ts (unix s); time is its text
end

local function write_op(self, op, args)
    local res = request(self, op, args)
    if type(res) ~= "table" then return res end
    return record(res, function(t)
        local ks = {}
        for k, v in pairs(t) do if k ~= "params" then ks[#ks + 1] = k end end
        table.sort(ks)
        for i, k in ipairs(ks) do ks[i] = k .. "=" .. scalar_text(t[k]) end
        local text = #ks > 0 and ("ok: " .. table.concat(ks, ", ")) or "ok"
        if type(t.params) == "table" then text = text .. "\n  params now: " .. params_text(t.params) end
        return text
    end)
end

local function need_strategy(fn, s)
    if type(s) ~= "string" or s == "" then
        error(("session:%s(strategy ...): give a strategy's name, e.g. session:%s(\"sma_cross\")"):format(fn, fn), 3)
    end
end

-- session:pause(strategy): its signals are dropped (its on_bar still runs); session:resume(strategy)
function S.pause(self, s) need_strategy("pause", s); return write_op(self, "pause", { strategy = s }) end
function S.resume(self, s) need_strategy("resume", s); return write_op(self, "resume", { strategy = s }) end
-- session:set(strategy, key, value): checked like --param, then the strategy reloads with it
function S.set(self, s, key, value)
    need_strategy("set", s)
    if type(key) ~= "string" or value == nil then
        error("session:set(strategy, key, value): e.g. session:set(\"sma_cross\", \"fast\", 5)", 2)
    end
    return write_op(self, "set", { strategy = s, key = key, value = value })
end
-- session:reload([strategy]): what SIGHUP does (every edited file), or one strategy
function S.reload(self, s) return write_op(self, "reload", { strategy = s }) end

-- session:detach(): closes the connection (the session runs on)
function S.detach(self)
    local conn = rawget(self, "_conn")
    if conn then conn:close() end
    rawset(self, "_conn", nil)
    return true
end

SM.__tostring = function(self)
    return ("session %d (%s): %s"):format(self.id, self.write and "write" or "read-only",
        rawget(self, "_conn") and "attached" or "detached")
end

local attached   -- the session object while attached

-- attach(conn, hello_json, write, id) -> the banner; sets the global `session`
function R.attach(conn, hello_text, write, id)
    local hello = plain((json.decode(hello_text or ""))) or {}
    local strategies = type(hello.strategies) == "table" and hello.strategies or {}
    local shadows = type(hello.shadows) == "table" and hello.shadows or {}
    local self = setmetatable({ id = tonumber(hello.session) or id, write = write and true or false,
                                pid = hello.pid, interval = hello.interval,
                                strategies = strategies, shadows = shadows, _conn = conn }, SM)
    attached = self
    rawset(_G, "session", self)
    local lines = {
        ("attached to session %d (pid %s, %s): strategies %s%s"):format(self.id, tostring(hello.pid or "?"),
            tostring(hello.interval or "?"), #strategies > 0 and table.concat(strategies, ", ") or "?",
            #shadows > 0 and ("; shadows " .. table.concat(shadows, ", ")) or ""),
        write and "write access: .pause .resume .set .reload change the session (each logged, on the bus, recorded)"
            or "read-only (reattach with --write to pause, resume, set or reload)",
        "session:status() :books() :positions() :ctx(S) :signals(); .help lists the dot-commands;"
            .. " .detach or Ctrl-D leaves the session running" }
    return table.concat(lines, "\n")
end

local ATTACHED_HELP = [[
attached to a running session (the global `session`; methods return tables):
  .status             session:status()        bars, steps, equity, strategies and their params
  .books              session:books()         every book: live (the account) first, then shadows
  .positions          session:positions()     per book and asset: qty, avg_cost, mark, unrealised
  .ctx S [A]          session:ctx(S [, A])    strategy S's ctx.state and ctx.params (per asset)
  .signals [N]        session:signals([N])    the newest N signals (default 20)
  .pause S            session:pause(S)        drop S's signals (its on_bar still runs)   (--write)
  .resume S           session:resume(S)                                                  (--write)
  .set S K V          session:set(S, K, V)    set parameter K of S (checked), S reloads   (--write)
  .reload [S]         session:reload([S])     reload edited files, or strategy S          (--write)
  .detach             leave; the session runs on (Ctrl-D too)
while attached, .reload is the session's; the rest below works as in any REPL.
]]

local function dot_value(v)
    if v == "true" then return true elseif v == "false" then return false end
    local n = tonumber(v)
    if n then return n end
    return (v:gsub('^"(.*)"$', "%1"))
end

local ATTACHED_DOTS = { "status", "books", "positions", "ctx", "signals", "pause", "resume", "set", "reload", "detach" }
function R.attached_dots() return attached and ATTACHED_DOTS or {} end

-- an attached dot-command: true when it was one (its output printed)
local function attached_dot(cmd, arg)
    local words = {}
    for w in arg:gmatch("%S+") do words[#words + 1] = w end
    local s = attached
    local function show(fn, ...)
        local ok, res = pcall(fn, s, ...)
        if ok then R.show(res) else print("error: " .. one_line(res)) end
    end
    if cmd == "status" then show(S.status)
    elseif cmd == "books" then show(S.books)
    elseif cmd == "positions" then show(S.positions)
    elseif cmd == "ctx" then
        if not words[1] then print("usage: .ctx STRATEGY [ASSET]") else show(S.ctx, words[1], words[2]) end
    elseif cmd == "signals" then
        local n = words[1] and tonumber(words[1])
        if words[1] and not n then print("usage: .signals [N]") else show(S.signals, n) end
    elseif cmd == "pause" or cmd == "resume" then
        if not words[1] then print(("usage: .%s STRATEGY"):format(cmd)) else show(S[cmd], words[1]) end
    elseif cmd == "set" then
        if #words < 3 then print("usage: .set STRATEGY KEY VALUE, e.g. .set sma_cross fast 5")
        else show(S.set, words[1], words[2], dot_value(table.concat(words, " ", 3))) end
    elseif cmd == "reload" then show(S.reload, words[1])
    else return false end
    return true
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
    if attached and cmd == "detach" then
        attached:detach()
        return "quit"
    elseif attached and attached_dot(cmd, arg) then
        io.flush()
        return nil
    end
    if cmd == "help" or cmd == "h" or cmd == "?" then
        if attached then print(ATTACHED_HELP) end
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
    elseif cmd == "detach" or cmd == "status" or cmd == "books" or cmd == "positions" or cmd == "ctx"
        or cmd == "signals" or cmd == "pause" or cmd == "resume" or cmd == "set" then
        print(("error: .%s works in an attached REPL: mts repl --attach SESSION_ID"):format(cmd))
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
