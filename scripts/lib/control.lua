-- control.lua — the runner's side of an attached client's requests (docs/live.md
-- "Attach and control"; the socket is runtime/live/control.c, the session's
-- wait hands a request over by returning 3).
--
-- M.new(env) -> a handler; handler:handle(request_text) -> result_json, ok
-- (ok false: result_json is the error text). env: C, LV, e (the engine),
-- strategies (the runner's list), reload (function(s) -> ok, message: the
-- runner's hot reload), interval. Ops answered here: status, books, ctx,
-- pause, resume, set ("signals", "positions" and "reload" are answered by
-- live.c; "hello" and refusals by control.c).
--
-- Pause: s.paused; the runner's collect() drops a paused strategy's signals
-- and counts them (s.paused_dropped); its on_bar still runs. Set: the
-- parameter goes on s.control_params (the runner's params_of adds them after
-- --param, so a later file reload keeps it) and the strategy is reloaded —
-- the schema check of --param, then on_reload(ctx, old_state); a refused
-- value or a failed reload leaves everything as it was.
--
-- M.plain(v[, budget]) -> plain data for JSON. Strategy state is untrusted:
-- tables are read with next() only (raw: no __index, __pairs, __len or
-- __tostring ever runs), depth <= MAX_DEPTH, at most MAX_ENTRIES entries in
-- all and MAX_BYTES of strings (then "<truncated>": a key in the top object,
-- budget.cut), cycles as "<cycle>", strings cut at
-- MAX_STRING bytes and non-UTF-8 bytes replaced, non-data values as
-- "<function>", "<userdata>", "<cdata>", "<thread>".
local ffi = require "ffi"
local json = require "json"

local M = {}

M.MAX_DEPTH = 8
M.MAX_ENTRIES = 10000
M.MAX_STRING = 4096
M.MAX_BYTES = 1024 * 1024      -- string bytes (keys and values) of one copy; then "<truncated>"

local rawnext, type, tostring = next, type, tostring

local function clean_string(s)
    if #s > M.MAX_STRING then s = s:sub(1, M.MAX_STRING) .. "...<truncated>" end
    -- valid UTF-8 as is; otherwise every byte >= 0x80 becomes '?'
    local i, n = 1, #s
    while i <= n do
        local c = s:byte(i)
        local len = c < 0x80 and 1 or (c >= 0xC2 and c <= 0xDF) and 2 or (c >= 0xE0 and c <= 0xEF) and 3
                    or (c >= 0xF0 and c <= 0xF4) and 4 or 0
        if len == 0 or i + len - 1 > n then return (s:gsub("[\128-\255]", "?")) end
        for k = i + 1, i + len - 1 do
            local d = s:byte(k)
            if d < 0x80 or d > 0xBF then return (s:gsub("[\128-\255]", "?")) end
        end
        i = i + len
    end
    return s
end

local function budget_string(s, budget)
    budget.bytes = (budget.bytes or 0) + #s
    if budget.bytes > M.MAX_BYTES then budget.cut = true return "<truncated>" end
    return clean_string(s)
end

local function key_text(k, budget)
    local t = type(k)
    if t == "string" then return budget_string(k, budget) end
    if t == "number" then return json.number(k) end
    if t == "boolean" then return k and "true" or "false" end
    return "<" .. t .. ">"
end

local plain
plain = function(v, depth, budget, path)
    local t = type(v)
    if t == "nil" then return json.null end
    if t == "boolean" then return v end
    if t == "number" then
        if v ~= v then return "nan" end
        if v == math.huge then return "inf" end
        if v == -math.huge then return "-inf" end
        return v
    end
    if t == "string" then return budget_string(v, budget) end
    if t ~= "table" then return "<" .. t .. ">" end
    if path[v] then return "<cycle>" end
    if depth >= M.MAX_DEPTH then return "<table: deeper than " .. M.MAX_DEPTH .. ">" end
    path[v] = true
    -- one raw pass: the keys, and whether they are 1..n
    local keys, nk, maxi, list = {}, 0, 0, true
    local k = rawnext(v)
    while k ~= nil do
        if budget.n >= M.MAX_ENTRIES then budget.cut = true break end
        budget.n = budget.n + 1
        nk = nk + 1
        keys[nk] = k
        if list then
            if type(k) == "number" and k >= 1 and k == math.floor(k) and k <= 1e9 then
                if k > maxi then maxi = k end
            else
                list = false
            end
        end
        k = rawnext(v, k)
    end
    local out
    if nk > 0 and list and maxi == nk then
        out = json.array({})
        for i = 1, nk do out[i] = plain(rawget(v, i), depth + 1, budget, path) end
    else
        out = {}
        local dup = 0
        for i = 1, nk do
            local kt = key_text(keys[i], budget)
            if out[kt] ~= nil then dup = dup + 1; kt = kt .. "#" .. dup end
            out[kt] = plain(rawget(v, keys[i]), depth + 1, budget, path)
        end
    end
    path[v] = nil
    return out
end

function M.plain(v, budget)
    budget = budget or { n = 0 }
    local out = plain(v, 0, budget, {})
    if budget.cut and type(out) == "table" and not json.is_array(out) and out["<truncated>"] == nil then
        out["<truncated>"] = ("more than %d entries"):format(M.MAX_ENTRIES)
    end
    return out
end

-- ---- ops ----------------------------------------------------------------------------------

local OPS = "status, positions, books, ctx, signals, pause, resume, set, reload"

local H = {}
H.__index = H

function M.new(env) return setmetatable({ env = env }, H) end

-- A strategy's name as the session shows it: a shadow's label (runner: s.label), else its name.
local function label(s) return s.label or s.name end

function H:find(name)
    if type(name) ~= "string" then return nil, "give the strategy's name: {\"strategy\":NAME}" end
    local names = {}
    for _, s in ipairs(self.env.strategies) do
        if label(s) == name then return s end
        names[#names + 1] = label(s)
    end
    return nil, ("no strategy '%s' in this session (running: %s)"):format(name, table.concat(names, ", "))
end

function H:status()
    local C, e = self.env.C, self.env.e
    local counts = ffi.new("int64_t[3]")
    if self.env.LV ~= nil then C.mts_live_control_counts(self.env.LV, counts) end
    local list, paused = json.array({}), json.array({})
    local budget = { n = 0 }
    for _, s in ipairs(self.env.strategies) do
        list[#list + 1] = { name = label(s), params = M.plain(s.params, budget), enabled = s.enabled and true or false,
                            paused = s.paused and true or false, dropped = s.paused_dropped or 0,
                            shadow = s.shadow and true or false, message = s.message }
        if s.paused then paused[#paused + 1] = label(s) end
    end
    return { session = tonumber(counts[0]), bars = tonumber(counts[1]), steps = tonumber(counts[2]),
             equity = tonumber(C.mts_engine_equity(e)), interval = self.env.interval, paused = paused,
             strategies = list }
end

function H:books()
    local C, e = self.env.C, self.env.e
    local n = tonumber(C.mts_engine_book_count(e))
    local st = ffi.new("mts_book_stats_t")
    local ok_shadow, is_shadow = pcall(function() return C.mts_engine_book_is_shadow end)
    local out = json.array({})
    for b = 0, n - 1 do
        local names = {}
        for _, s in ipairs(self.env.strategies) do
            if (s.book or 0) == b then names[#names + 1] = label(s) end
        end
        if C.mts_engine_book_stats(e, b, st) == 0 then
            local shadow = ok_shadow and is_shadow ~= nil and is_shadow(e, b) == 1 or false
            out[#out + 1] = { book = b, strategy = table.concat(names, ","), shadow = shadow,
                              initial = st.initial, equity = st.equity, cash = st.cash,
                              pnl = st.equity - st.initial, fees = st.fees, funding = st.funding,
                              fills = tonumber(st.fills), trades = tonumber(st.trades) }
        end
    end
    return out
end

function H:ctx(q)
    local s, err = self:find(q.strategy)
    if not s then return nil, "ctx: " .. err end
    local asset = q.asset
    if asset ~= nil and type(asset) ~= "string" then return nil, "ctx: asset is a name, e.g. \"BTC\"" end
    local budget = { n = 0 }
    local assets, found = {}, false
    for _, slot in ipairs(s.slots or {}) do
        if asset == nil or slot.asset == asset then
            found = true
            local ctx = slot.ctx
            assets[slot.asset] = { state = M.plain(rawget(ctx, "state"), budget),
                                   params = M.plain(rawget(ctx, "params"), budget) }
        end
    end
    if not found then
        local have = {}
        for _, slot in ipairs(s.slots or {}) do have[#have + 1] = slot.asset end
        return nil, ("ctx: strategy %s does not trade %s (its assets: %s)"):format(label(s), tostring(asset),
                    table.concat(have, ", "))
    end
    return { strategy = label(s), assets = assets, truncated = budget.cut and true or false }
end

function H:pause(q, on)
    local s, err = self:find(q.strategy)
    if not s then return nil, (on and "pause: " or "resume: ") .. err end
    s.paused = on
    s.paused_dropped = s.paused_dropped or 0
    return { strategy = label(s), paused = on, dropped = s.paused_dropped }
end

local function value_text(v)
    local t = type(v)
    if t == "string" then return v end
    if t == "number" then return json.number(v) end
    if t == "boolean" then return v and "true" or "false" end
    if t == "table" and json.is_array(v) then
        local parts = {}
        for i = 1, #v do
            local p = value_text(v[i])
            if not p then return nil end
            parts[i] = p
        end
        return table.concat(parts, ",")
    end
    return nil
end

function H:set(q)
    local s, err = self:find(q.strategy)
    if not s then return nil, "set: " .. err end
    if type(q.key) ~= "string" or q.key == "" then return nil, "set: give the parameter: {\"key\":\"fast\",\"value\":5}" end
    local text = value_text(q.value)
    if not text then return nil, "set: value is a number, a string, true/false or a list of them" end
    s.control_params = s.control_params or {}
    -- NAME.KEY (a shadow's NAME is its strategy's, s.base: the runner applies these after its K=V)
    local o = { key = (s.base or s.name) .. "." .. q.key, value = text }
    s.control_params[#s.control_params + 1] = o
    local ok, msg = self.env.reload(s)
    if not ok then
        table.remove(s.control_params)
        return nil, ("set %s.%s=%s refused, nothing changed: %s"):format(label(s), q.key, text, tostring(msg))
    end
    local v = s.params
    for part in q.key:gmatch("[^.]+") do v = type(v) == "table" and rawget(v, part) or nil end
    return { strategy = label(s), key = q.key, value = M.plain(v), params = M.plain(s.params) }
end

-- request text -> result JSON text, ok
function H:handle(text)
    local q, perr = json.decode(text or "")
    if type(q) ~= "table" then return "unreadable request: " .. tostring(perr), false end
    local op = q.op
    local res, err
    if op == "status" then res = self:status()
    elseif op == "books" then res = self:books()
    elseif op == "ctx" then res, err = self:ctx(q)
    elseif op == "pause" then res, err = self:pause(q, true)
    elseif op == "resume" then res, err = self:pause(q, false)
    elseif op == "set" then res, err = self:set(q)
    else err = ("unknown op '%s' (ops: %s)"):format(tostring(op), OPS) end
    if err then return err, false end
    local okj, txt = pcall(json.encode, res)
    if not okj then return "encoding the result: " .. tostring(txt), false end
    return txt, true
end

return M
