-- api.lua — the mts API of the REPL and of research scripts (trusted code;
-- docs/lua-api.md is the reference). It extends the strategy API of mts.lua
-- (the same indicator functions) with market data, series objects, backtests
-- and a terminal chart. The native half is runtime/lua/api.c (MTS_NATIVE).
--
-- Conventions. REPL series and bar sets index from 1 (s[1] is the first
-- value, s[#s] the last, s[-1] also the last); strategies keep the engine's
-- 0-based cdata arrays (s:raw() gives that view). A series is a view over C
-- memory: slicing (head, tail, slice) copies nothing; map() and the
-- indicators make new series. Missing values are NaN.
local ffi = require "ffi"
local mts = require "mts"
local json = require "json"

local A = {}
local N = rawget(_G, "MTS_NATIVE")
local floor, huge = math.floor, math.huge
local NaN = 0 / 0

local function native(name)
    if not N then error("mts." .. name .. ": only inside `mts repl` (no database here)", 3) end
    return N
end

-- ---- formatting ---------------------------------------------------------------------

local function fmt_num(v)
    if type(v) ~= "number" then return tostring(v) end
    if v ~= v then return "nan" end
    if v == huge then return "inf" elseif v == -huge then return "-inf" end
    if v == floor(v) and math.abs(v) < 1e15 then return ("%d"):format(v) end
    local a = math.abs(v)
    if a >= 1e6 or a < 1e-4 then return ("%.6g"):format(v) end
    if a >= 100 then return ("%.2f"):format(v) end
    return (("%.6f"):format(v):gsub("0+$", ""):gsub("%.$", ".0"))
end
A.fmt_num = fmt_num

local function iso(ts)
    ts = tonumber(ts)
    if ts % 86400 == 0 then return os.date("!%Y-%m-%d", ts) end
    return os.date("!%Y-%m-%dT%H:%M:%SZ", ts)
end
A.iso = iso

local function pct(v) return v == v and ("%.2f %%"):format(v * 100) or "n/a" end

-- ---- proxies (userdata, so that # works in LuaJIT) ----------------------------------------

local fields = setmetatable({}, { __mode = "k" })
local function new_kind(name)
    local proto = newproxy(true)
    local mt = getmetatable(proto)
    mt.__kind = name
    return proto, mt
end
function A.kind(o)
    if type(o) ~= "userdata" then return nil end
    local mt = getmetatable(o)
    return type(mt) == "table" and mt.__kind or nil
end

-- ---- series ---------------------------------------------------------------------------

local series_proto, SM = new_kind("series")
local S = {}   -- methods
local dptr, tptr = ffi.typeof("double *"), ffi.typeof("int64_t *")

-- v: double * (or anything castable); ts: int64_t * or nil; anchor: keeps the memory alive
function A.series(v, n, ts, anchor, name)
    if type(v) == "table" then       -- a Lua array of numbers: copied
        local arr = ffi.new("double[?]", #v)
        for i = 1, #v do arr[i - 1] = v[i] end
        return A.series(arr, #v, nil, arr, n)
    end
    local o = newproxy(series_proto)
    fields[o] = { v = ffi.cast(dptr, v), n = n, ts = ts ~= nil and ffi.cast(tptr, ts) or nil,
                  anchor = anchor, name = name }
    return o
end

local function sf(o, what)
    local f = fields[o]
    if not f or A.kind(o) ~= "series" then error((what or "series method") .. ": not a series", 3) end
    return f
end

SM.__len = function(o) return fields[o].n end
SM.__index = function(o, k)
    local f = fields[o]
    if type(k) == "number" then
        if k < 0 then k = f.n + 1 + k end
        if k >= 1 and k <= f.n and k == floor(k) then return f.v[k - 1] end
        return nil
    end
    local m = S[k]
    if m then return m end
    error("series has no field '" .. tostring(k) .. "' (methods: " .. A.series_methods() .. ")", 2)
end
SM.__newindex = function() error("series are read-only (use map to make a new one)", 2) end

function A.series_methods()
    local ks = {}
    for k in pairs(S) do ks[#ks + 1] = k end
    table.sort(ks)
    return table.concat(ks, ", ")
end

local function sub(o, i, j)      -- 1-based inclusive, clamped; no copy
    local f = fields[o]
    if i < 1 then i = 1 end
    if j > f.n then j = f.n end
    local n = j >= i and j - i + 1 or 0
    return A.series(f.v + (i - 1), n, f.ts and f.ts + (i - 1) or nil, f.anchor, f.name)
end

function S.first(o) return o[1] end
-- last() -> the last value; last(n) -> a series of the last n values
function S.last(o, n)
    local f = sf(o, "last")
    if n == nil then return f.n > 0 and f.v[f.n - 1] or nil end
    return sub(o, f.n - n + 1, f.n)
end
function S.head(o, n) return sub(o, 1, n or 10) end
function S.tail(o, n) local f = sf(o, "tail"); n = n or 10; return sub(o, f.n - n + 1, f.n) end
function S.slice(o, i, j) local f = sf(o, "slice"); return sub(o, i or 1, j or f.n) end
function S.len(o) return fields[o].n end
-- the time (unix seconds) of element i, or nil
function S.time(o, i)
    local f = sf(o, "time")
    if i < 0 then i = f.n + 1 + i end
    if not f.ts or i < 1 or i > f.n then return nil end
    return tonumber(f.ts[i - 1])
end
function S.date(o, i) local t = S.time(o, i); return t and iso(t) end
-- the 0-based C view strategies use: double (&)[n]
function S.raw(o) local f = sf(o, "raw"); return mts.view(f.v, f.n) end
function S.values(o)
    local f = sf(o, "values")
    local t = {}
    for i = 0, f.n - 1 do t[i + 1] = f.v[i] end
    return t
end
-- map(fn): a new series of fn(value, i) (i 1-based), same times
function S.map(o, fn)
    local f = sf(o, "map")
    local out = ffi.new("double[?]", f.n)
    for i = 0, f.n - 1 do out[i] = fn(f.v[i], i + 1) end
    return A.series(out, f.n, f.ts, { out, f.anchor }, f.name)
end

local function stats(f)
    local lo, hi, sum, cnt = huge, -huge, 0, 0
    for i = 0, f.n - 1 do
        local v = f.v[i]
        if v == v then
            if v < lo then lo = v end
            if v > hi then hi = v end
            sum, cnt = sum + v, cnt + 1
        end
    end
    if cnt == 0 then return NaN, NaN, NaN, 0 end
    return lo, hi, sum / cnt, cnt
end
function S.min(o) return (stats(sf(o, "min"))) end
function S.max(o) local _, hi = stats(sf(o, "max")); return hi end
function S.mean(o) local _, _, m = stats(sf(o, "mean")); return m end
function S.count(o) local _, _, _, c = stats(sf(o, "count")); return c end

SM.__tostring = function(o)
    local f = fields[o]
    local parts = {}
    local show = f.n <= 8 and f.n or 3
    for i = 0, show - 1 do parts[#parts + 1] = fmt_num(f.v[i]) end
    if f.n > 8 then
        parts[#parts + 1] = "..."
        for i = f.n - 3, f.n - 1 do parts[#parts + 1] = fmt_num(f.v[i]) end
    end
    local lo, hi, mean, cnt = stats(f)
    local head = ("series%s [%d]"):format(f.name and (" " .. f.name) or "", f.n)
    if f.ts and f.n > 0 then head = head .. " " .. iso(f.ts[0]) .. " .. " .. iso(f.ts[f.n - 1]) end
    local s = head .. ": " .. table.concat(parts, ", ")
    if f.n > 8 then
        s = s .. ("\n  min %s  max %s  mean %s  (%d NaN)"):format(fmt_num(lo), fmt_num(hi), fmt_num(mean), f.n - cnt)
    end
    return s
end

-- ---- the terminal chart ---------------------------------------------------------------------

local BLOCKS = { " ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" }

-- The chart as a string: `height` rows of `width` columns, each column the
-- last value of its bucket, scaled between the min and the max.
function A.chart(o, opts)
    local f = sf(o, "plot")
    opts = opts or {}
    local width, height = opts.width or 64, opts.height or 10
    if f.n == 0 then return "(empty series)" end
    if width > f.n then width = f.n end
    local cols = {}
    for c = 1, width do
        local j = floor(c * f.n / width) - 1
        local v = f.v[j]
        local k = j
        while v ~= v and k > 0 do k = k - 1; v = f.v[k] end
        cols[c] = v
    end
    local lo, hi = stats(f)
    local span = hi - lo
    local lines = {}
    for r = height, 1, -1 do
        local row = {}
        for c = 1, width do
            local v = cols[c]
            local level = (v ~= v) and 0 or (span > 0 and (v - lo) / span * height or height / 2)
            local fill = level - (r - 1)
            local ch
            if fill >= 1 then ch = BLOCKS[9]
            elseif fill <= 0 then ch = (r == 1 and v == v) and BLOCKS[2] or " "
            else ch = BLOCKS[1 + math.max(1, floor(fill * 8 + 0.5))] end
            row[c] = ch
        end
        local label = r == height and fmt_num(hi) or (r == 1 and fmt_num(lo) or "")
        lines[#lines + 1] = ("%12s │%s"):format(label, table.concat(row))
    end
    local foot = ""
    if f.ts then foot = iso(f.ts[0]) .. string.rep(" ", math.max(1, width - 20)) .. iso(f.ts[f.n - 1]) end
    lines[#lines + 1] = ("%12s └%s"):format("", string.rep("─", width))
    lines[#lines + 1] = ("%12s  %s"):format("", foot)
    return table.concat(lines, "\n")
end
function S.plot(o, opts) print(A.chart(o, opts)) end
-- one line of block characters
function S.spark(o, width)
    local f = sf(o, "spark")
    width = math.min(width or 60, f.n)
    local lo, hi = stats(f)
    local out = {}
    for c = 1, width do
        local v = f.v[floor(c * f.n / width) - 1]
        out[c] = v ~= v and " " or BLOCKS[2 + floor((hi > lo and (v - lo) / (hi - lo) or 0.5) * 7 + 0.5)]
    end
    return table.concat(out)
end

-- ---- tables (trades, rows of bars) ------------------------------------------------------------

local table_proto, TM = new_kind("table")
local T = {}

function A.table(columns, rows)
    local o = newproxy(table_proto)
    fields[o] = { columns = columns, rows = rows }
    return o
end
TM.__len = function(o) return #fields[o].rows end
TM.__index = function(o, k)
    if type(k) == "number" then return fields[o].rows[k < 0 and #fields[o].rows + 1 + k or k] end
    local m = T[k]
    if m then return m end
    error("table view has no field '" .. tostring(k) .. "' (methods: head, tail, rows, column)", 2)
end
function T.head(o, n)
    local f = fields[o]
    local r = {}
    for i = 1, math.min(n or 10, #f.rows) do r[i] = f.rows[i] end
    return A.table(f.columns, r)
end
function T.tail(o, n)
    local f = fields[o]
    local r = {}
    for i = math.max(1, #f.rows - (n or 10) + 1), #f.rows do r[#r + 1] = f.rows[i] end
    return A.table(f.columns, r)
end
function T.rows(o) return fields[o].rows end
function T.column(o, name)
    local out = {}
    for i, row in ipairs(fields[o].rows) do out[i] = row[name] end
    return out
end

local function cell(v, col)
    if type(v) == "number" and col:match("time$") then return iso(v) end
    if type(v) == "number" then return fmt_num(v) end
    return tostring(v)
end

TM.__tostring = function(o)
    local f = fields[o]
    local limit = 20
    local cols, w = f.columns, {}
    local shown = math.min(#f.rows, limit)
    local cells = {}
    for c, name in ipairs(cols) do w[c] = #name end
    for i = 1, shown do
        cells[i] = {}
        for c, name in ipairs(cols) do
            local s = cell(f.rows[i][name], name)
            cells[i][c] = s
            if #s > w[c] then w[c] = #s end
        end
    end
    local out, hdr = {}, {}
    -- padding by hand: string.format refuses widths over 99 (a long text cell)
    local function left(s, n) return s .. (" "):rep(n - #s) end
    local function right(s, n) return (" "):rep(n - #s) .. s end
    for c, name in ipairs(cols) do hdr[c] = left(name, w[c]) end
    out[1] = "  #  " .. table.concat(hdr, "  ")
    for i = 1, shown do
        local line = {}
        for c = 1, #cols do
            local s = cells[i][c]
            line[c] = s:match("^%-?[%d.]") and right(s, w[c]) or left(s, w[c])
        end
        out[#out + 1] = ("%3d  "):format(i) .. table.concat(line, "  ")
    end
    if #f.rows > shown then out[#out + 1] = ("  ... %d more rows (:head(n), :tail(n))"):format(#f.rows - shown) end
    if #f.rows == 0 then out[#out + 1] = "  (no rows)" end
    return table.concat(out, "\n")
end

-- ---- bars -------------------------------------------------------------------------------------

local bars_proto, BM = new_kind("bars")
local B = {}
local BAR_COLS = { "open", "high", "low", "close", "volume" }

local function bar_row(f, i)
    return { time = tonumber(f.ts[i - 1]), date = iso(f.ts[i - 1]), open = f.cols.open[i],
             high = f.cols.high[i], low = f.cols.low[i], close = f.cols.close[i], volume = f.cols.volume[i] }
end

BM.__len = function(o) return fields[o].n end
BM.__index = function(o, k)
    local f = fields[o]
    if type(k) == "number" then
        if k < 0 then k = f.n + 1 + k end
        if k >= 1 and k <= f.n and k == floor(k) then return bar_row(f, k) end
        return nil
    end
    if f.cols[k] then return f.cols[k] end
    if k == "ts" then return f.ts_series end
    if k == "asset" then return f.asset end
    if k == "interval" then return f.interval end
    if k == "n" then return f.n end
    local m = B[k]
    if m then return m end
    error("bars have no field '" .. tostring(k) .. "' (open high low close volume ts asset interval n; " ..
          "methods first last head tail rows)", 2)
end
function B.first(o) return o[1] end
function B.last(o) return o[fields[o].n] end
local function rows_of(o, i, j)
    local f = fields[o]
    local r = {}
    for k = math.max(1, i), math.min(f.n, j) do r[#r + 1] = bar_row(f, k) end
    return A.table({ "date", "open", "high", "low", "close", "volume" }, r)
end
function B.head(o, n) return rows_of(o, 1, n or 10) end
function B.tail(o, n) local f = fields[o]; return rows_of(o, f.n - (n or 10) + 1, f.n) end
function B.rows(o) return rows_of(o, 1, fields[o].n) end
BM.__tostring = function(o)
    local f = fields[o]
    if f.n == 0 then return ("bars %s: none in this range"):format(f.asset) end
    local c = f.cols.close
    return ("bars %s %s [%d] %s .. %s  close %s .. %s (min %s, max %s)"):format(f.asset, f.interval, f.n, iso(f.ts[0]),
        iso(f.ts[f.n - 1]), fmt_num(c[1]), fmt_num(c[f.n]), fmt_num(c:min()), fmt_num(c:max()))
end

-- mts.bars(asset [, from [, to]]): from/to are "YYYY-MM-DD", ISO-8601 or unix seconds
function A.bars(asset, from, to)
    if type(asset) ~= "string" then error("mts.bars: asset must be a string, e.g. \"bitcoin\"", 2) end
    local interval
    if type(from) == "table" then          -- mts.bars(asset, {interval =, from =, to =})
        local o = from
        for k in pairs(o) do
            if k ~= "interval" and k ~= "from" and k ~= "to" then
                error(("mts.bars: unknown option '%s' (interval, from, to)"):format(tostring(k)), 2)
            end
        end
        interval, from, to = o.interval, o.from, o.to
        if interval ~= nil and type(interval) ~= "string" then
            error("mts.bars: interval must be a string such as \"1h\"", 2)
        end
    end
    local ok, ud, n, ts, o, h, l, c, v = pcall(native("bars").bars, asset, from, to, interval)
    if not ok then error(ud, 2) end
    if n == 0 then
        error(("mts.bars: no %s bars for '%s' in this range (bundled assets are imported on first use)")
              :format(interval or "1d", asset), 2)
    end
    local o2 = newproxy(bars_proto)
    local cols = {}
    for name, p in pairs({ open = o, high = h, low = l, close = c, volume = v }) do
        cols[name] = A.series(p, n, ts, ud, asset .. "." .. name)
    end
    fields[o2] = { asset = asset, interval = interval or "1d", n = n, ts = ffi.cast(tptr, ts), cols = cols, anchor = ud,
                   ts_series = A.series(ffi.new("double[?]", 0), 0) }
    -- ts as a series of numbers (copied once: int64 -> double)
    local tsd = ffi.new("double[?]", n)
    local tsp = ffi.cast(tptr, ts)
    for i = 0, n - 1 do tsd[i] = tonumber(tsp[i]) end
    fields[o2].ts_series = A.series(tsd, n, ts, { tsd, ud }, asset .. ".ts")
    return o2
end

-- mts.macro(name [, from [, to]]): a macro series such as "VIX", with its times
function A.macro(name, from, to)
    if type(name) ~= "string" then error("mts.macro: name must be a string, e.g. \"VIX\"", 2) end
    local ud, n, ts, v = native("macro").macro(name, from, to)
    if n == 0 then error(("mts.macro: no values for '%s' in this range"):format(name), 2) end
    return A.series(v, n, ts, ud, name)
end

-- ---- indicators over series ------------------------------------------------------------------

local function unwrap(x)
    if A.kind(x) == "series" then
        local f = fields[x]
        return mts.view(f.v, f.n), f
    end
    return x, nil
end

local function wrap_indicator(name)
    local fn = mts[name]
    return function(x, ...)
        local a, f = unwrap(x)
        local args = { ... }
        for i = 1, select("#", ...) do args[i] = (unwrap(args[i])) end
        local out = fn(a, unpack(args, 1, select("#", ...)))
        local n = mts.len(out)
        return A.series(out, n, f and f.ts or nil, out, f and f.name and (name .. "(" .. f.name .. ")") or name)
    end
end

for _, name in ipairs({ "sma", "rolling_std", "rolling_corr", "rsi", "drawdown", "pct_rank",
                         "pct_change", "diff" }) do
    A[name] = wrap_indicator(name)
end

-- ema, atr, vwap, rolling min/max: one series out; macd, bbands: three
for _, name in ipairs({ "ema", "atr", "vwap", "rolling_min", "rolling_max" }) do
    A[name] = wrap_indicator(name)
end
for _, t in ipairs({ { "macd", "macd_line", "macd_signal", "macd_hist" },
                     { "bbands", "bb_middle", "bb_upper", "bb_lower" } }) do
    local fn = mts[t[1]]
    A[t[1]] = function(x, ...)
        local a, f = unwrap(x)
        local o1, o2, o3 = fn(a, ...)
        local ts, n = f and f.ts or nil, mts.len(o1)
        local anc = f and f.anchor or nil
        return A.series(o1, n, ts, { o1, anc }, t[2]), A.series(o2, n, ts, { o2, anc }, t[3]),
               A.series(o3, n, ts, { o3, anc }, t[4])
    end
end

-- align_asof(src, dst): src a series with times (e.g. mts.macro("VIX")), dst a
-- series or bars whose times are the target; the values of src as of dst's times
function A.align_asof(src, dst)
    local sfd = fields[src]
    if A.kind(src) ~= "series" or not sfd.ts then error("mts.align_asof: src must be a series with times", 2) end
    local df = fields[dst]
    if not df or not df.ts then error("mts.align_asof: dst must be a series or bars with times", 2) end
    local out = mts.align_asof({ ts = sfd.ts, v = sfd.v, n = sfd.n }, df.ts, df.n)
    return A.series(out, df.n, df.ts, { out, df.anchor }, sfd.name)
end

-- ---- backtests -------------------------------------------------------------------------------

local result_mt = {}
local R = {}                                                -- methods of a result
local result_ud = setmetatable({}, { __mode = "k" })       -- result -> its native result (kept alive)
local OPTIONAL = { store_error = true, benchmark = true }   -- fields that may be nil
local TRADE_COLUMNS = { "asset", "side", "qty", "entry_time", "entry_price", "exit_time", "exit_price", "pnl",
                        "fees", "strategy", "entry_reason", "exit_reason", "funding", "mae", "mfe" }
result_mt.__index = function(r, k)
    local m = R[k]
    if m then return m end
    if OPTIONAL[k] then return nil end
    error("backtest result has no field '" .. tostring(k) .. "'", 2)
end
-- tab completion (repl.lua): the methods too, not only the fields
result_mt.__complete = function()
    local out = {}
    for k in pairs(R) do out[#out + 1] = k end
    return out
end

-- every book's closed trades, in exit order, with their story (strategy, reasons, funding, MAE/MFE)
function R.trades(r)
    return A.table(TRADE_COLUMNS, N.backtest_trades(result_ud[r]))
end
-- the positions still open at the end of the data: one end_of_data record each, at the last
-- mark (not closed; the metrics never count them)
function R.open_trades(r)
    return A.table(TRADE_COLUMNS, N.backtest_trades(result_ud[r], true))
end

local function money(v)
    if v ~= v then return "n/a" end
    local s = ("%.2f"):format(math.abs(v))
    local int, frac = s:match("^(%d+)(%.%d+)$")
    int = int:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
    return (v < 0 and "-" or "") .. int .. frac
end

local BOOK_COLUMNS = { "strategy", "allocation", "initial", "final", "pnl", "return", "sharpe", "max_drawdown",
                       "trades", "fees", "funding" }
local books_mt = { __tostring = function(b) return tostring(A.table(BOOK_COLUMNS, b)) end }

-- "what limited the orders" (as mts backtest's table): nil when nothing did
local function risk_line(who, trimmed, refused, bp, shorts)
    if trimmed == 0 and refused == 0 and bp == 0 and shorts == 0 then return nil end
    local parts = {}
    if trimmed > 0 or refused > 0 then
        parts[#parts + 1] = ("%d orders trimmed, %d refused by limits"):format(trimmed, refused)
    end
    if bp > 0 then parts[#parts + 1] = ("%d cut by buying power"):format(bp) end
    if shorts > 0 then parts[#parts + 1] = ("%d spot shorts refused"):format(shorts) end
    return ("  risk%s: %s"):format(who and (" (" .. who .. ")") or "", table.concat(parts, "; "))
end

result_mt.__tostring = function(r)
    local lines = {
        ("backtest %s on %s  %s bars  %s .. %s  (%d bars)"):format(r.strategy, r.assets, r.interval,
            iso(r.start), iso(r["end"]), r.bars),
        ("  %-18s %14s"):format("initial capital", money(r.initial_capital)),
        ("  %-18s %14s"):format("final value", money(r.final_value)),
        ("  %-18s %14s"):format("total return", pct(r.total_return)),
        ("  %-18s %14s"):format("annualized return", pct(r.annualized_return)),
        ("  %-18s %14s"):format("sharpe ratio", fmt_num(r.sharpe_ratio)),
        ("  %-18s %14s"):format("sortino ratio", fmt_num(r.sortino_ratio)),
        ("  %-18s %14s"):format("max drawdown", pct(r.max_drawdown)),
        ("  %-18s %14s"):format("volatility", pct(r.volatility)),
        ("  %-18s %14s"):format("win rate", pct(r.win_rate)),
        ("  %-18s %14s"):format("profit factor", fmt_num(r.profit_factor)),
        ("  %-18s %14d"):format("trades", r.trade_count),
        ("  %-18s %14s"):format("fees", money(r.fees)),
    }
    if r.market ~= "spot" then
        lines[#lines + 1] = ("  %-18s %14s"):format("funding", money(r.funding))
        lines[#lines + 1] = ("  %-18s %14s"):format("market", r.market)
        lines[#lines + 1] = ("  %-18s %14s"):format("leverage", fmt_num(r.leverage))
    end
    if r.benchmark then
        lines[#lines + 1] = ("  %-18s %14s"):format("buy & hold return", pct(r.benchmark.total_return))
        lines[#lines + 1] = ("  %-18s %14s"):format("alpha", fmt_num(r.alpha))
        lines[#lines + 1] = ("  %-18s %14s"):format("beta", fmt_num(r.beta))
    end
    lines[#lines + 1] = ("  equity %s"):format(r.equity:spark(48))
    if #r.books > 1 then
        lines[#lines + 1] = ("  books (%s):"):format(r.mode)
        for _, b in ipairs(r.books) do
            lines[#lines + 1] = ("    %-18s %5.1f %%  pnl %14s  return %8s  trades %d"):format(b.strategy,
                b.allocation * 100, money(b.pnl), pct(b["return"]), b.trades)
        end
    end
    local k = r.risk
    lines[#lines + 1] = risk_line(nil, k.trimmed, k.refused, k.bp_cut + k.bp_refused, k.short_refused)
    if #r.books > 1 then
        for _, b in ipairs(r.books) do
            lines[#lines + 1] = risk_line(b.strategy, b.risk_trimmed, b.risk_refused, b.bp_cut + b.bp_refused,
                                          b.short_refused)
        end
    end
    for _, d in ipairs(r.disabled) do lines[#lines + 1] = "  disabled: " .. d end
    for _, w in ipairs(r.warnings) do lines[#lines + 1] = "  warning: " .. w end
    if r.store_error then lines[#lines + 1] = "  NOT stored: " .. r.store_error end
    return table.concat(lines, "\n")
end

local function param_value(v)
    local t = type(v)
    if t == "string" then return v end
    if t == "number" or t == "boolean" then return tostring(v) end
    if t == "table" then return json.encode(v) end
    error("mts.backtest: parameter values must be numbers, strings, booleans or tables, got " .. t, 3)
end

local function list(v)
    if v == nil then return nil end
    if type(v) == "string" then
        local out = {}
        for s in v:gmatch("[^,%s]+") do out[#out + 1] = s end
        return out
    end
    return v
end

-- The options each call knows; any other key is an error naming it (a misspelt
-- `levrage = 3` would otherwise run a different backtest without a word).
local RUN_KEYS = { "strategy", "strategies", "asset", "assets", "params", "from", "to", "interval", "capital",
                   "commission_bps", "slippage_bps", "risk_free", "trusted", "mode", "max_position",
                   "max_portfolio_risk", "market", "leverage", "maker_bps", "taker_bps" }
local BACKTEST_KEYS = { "store", "allocate" }
local OPTIMIZE_KEYS = { "metric", "jobs", "store", "allocate" }   -- allocate: refused with the reason (api.c)

local function check_keys(fn, opts, extra)
    local known = {}
    for _, k in ipairs(RUN_KEYS) do known[k] = true end
    for _, k in ipairs(extra) do known[k] = true end
    for k in pairs(opts) do
        if not known[k] then
            local names = {}
            for n in pairs(known) do names[#names + 1] = n end
            table.sort(names)
            error(("%s: unknown option '%s' (one of: %s)"):format(fn, tostring(k), table.concat(names, ", ")), 3)
        end
    end
end

-- allocate = {sma_cross = 0.6, mean_reversion = 0.4} (or the CLI's text "sma_cross=0.6,...")
-- -> the text of --allocate, every digit kept; backtest.c checks the names and the sum.
local function allocation_spec(fn, v)
    if v == nil or type(v) == "string" then return v end
    if type(v) ~= "table" then
        error(fn .. ": allocate must be a table {strategy = fraction, ...}, got a " .. type(v), 3)
    end
    local names = {}
    for k, f in pairs(v) do
        if type(k) ~= "string" then error(fn .. ": allocate keys are strategy names, got " .. tostring(k), 3) end
        if type(f) ~= "number" then
            error(("%s: allocate.%s must be a fraction of the capital (a number), got %s"):format(fn, k,
                  type(f) == "string" and ("'" .. f .. "'") or type(f)), 3)
        end
        names[#names + 1] = k
    end
    if #names == 0 then return nil end   -- {} = not given: the config's, else equal shares
    table.sort(names)
    for i, k in ipairs(names) do names[i] = ("%s=%.17g"):format(k, v[k]) end
    return table.concat(names, ",")
end
A.allocation_spec = allocation_spec

-- mts.backtest{strategy = "sma_cross" | strategies = {...}, asset = "bitcoin" | assets = {...},
--              params = {fast = 10, ["sma_cross.slow"] = 30}, from =, to =, interval = "1d",
--              capital =, commission_bps =, slippage_bps =, risk_free =, store = false, trusted = false,
--              mode = "independent" | "vote", allocate = {sma_cross = 0.6, ...}, max_position =,
--              max_portfolio_risk =, market = "spot" | "perp", leverage =, maker_bps =, taker_bps =}
-- The options of `mts backtest` (its --mode ... --taker-bps with `_` for `-`).
function A.backtest(opts)
    if type(opts) ~= "table" then error("mts.backtest: expects a table, e.g. mts.backtest{strategy=\"sma_cross\", asset=\"bitcoin\"}", 2) end
    check_keys("mts.backtest", opts, BACKTEST_KEYS)
    local strategies = list(opts.strategies or opts.strategy)
    local assets = list(opts.assets or opts.asset)
    if not strategies or #strategies == 0 then error("mts.backtest: strategy is required", 2) end
    if not assets or #assets == 0 then error("mts.backtest: asset is required, e.g. asset = \"bitcoin\"", 2) end
    local params = {}
    if opts.params ~= nil then
        if type(opts.params) ~= "table" then error("mts.backtest: params must be a table", 2) end
        local keys = {}
        for k in pairs(opts.params) do keys[#keys + 1] = tostring(k) end
        table.sort(keys)
        for _, k in ipairs(keys) do params[#params + 1] = { k, param_value(opts.params[k]) } end
    end
    local allocate = allocation_spec("mts.backtest", opts.allocate)
    local ok, ud = pcall(native("backtest").backtest, {
        strategies = strategies, assets = assets, params = params, from = opts.from, to = opts.to,
        interval = opts.interval,
        capital = opts.capital, commission_bps = opts.commission_bps, slippage_bps = opts.slippage_bps,
        risk_free = opts.risk_free, store = opts.store and true or false, trusted = opts.trusted and true or false,
        mode = opts.mode, allocate = allocate,
        max_position = opts.max_position, max_portfolio_risk = opts.max_portfolio_risk, market = opts.market,
        leverage = opts.leverage, maker_bps = opts.maker_bps, taker_bps = opts.taker_bps,
    })
    if not ok then error(ud, 2) end   -- at the caller's line, as mts.bars
    local r = N.backtest_info(ud)
    result_ud[r] = ud
    for _, w in ipairs(r.warnings) do io.stderr:write("warning: ", w, "\n") end
    if r.store_error then   -- computed, but the database stayed busy: the result is kept, unstored
        io.stderr:write("warning: the result was computed but NOT stored in ", tostring(N.db()), ": ",
                        r.store_error, "\n")
    end
    r.interval = opts.interval or "1d"
    local ok, p = pcall(json.decode, r.parameters_json)
    r.params = ok and p or {}
    local n, ts, v = N.backtest_equity(ud)
    r.equity = A.series(v, n, ts, ud, "equity")
    for _, b in ipairs(r.books) do   -- each book's own equity curve (one book: the account's)
        local bn, bts, bv = N.backtest_equity(ud, b.book)
        b.equity = A.series(bv, bn, bts, ud, "equity " .. b.strategy)
    end
    setmetatable(r.books, books_mt)
    A.loaded[#A.loaded + 1] = table.concat(strategies, ",")
    return setmetatable(r, result_mt)
end
A.loaded = {}

-- mts.optimize{strategy = "sma_cross" | strategies = {...}, asset = | assets = {...},
--              params = {fast = "5:50:5", slow = {20, 30, 50}}, metric = "sharpe_ratio", jobs = 2,
--              store = "none" | "all" | "best", from =, to =, interval =, capital =, ...,
--              mode =, max_position =, max_portfolio_risk =, market =, leverage =, maker_bps =, taker_bps =}
-- The grid search of `mts optimize` (runtime/research/research.h): one backtest per
-- combination, on `jobs` threads (default 1; 0 = the cores), ranked best first.
-- Returns a table view (rank, strategy, each parameter, metrics, id); row i is the
-- i-th best, with row.params = {key = value text} and every metric.
function A.optimize(opts)
    if type(opts) ~= "table" then
        error("mts.optimize: expects a table, e.g. mts.optimize{strategy=\"sma_cross\", asset=\"bitcoin\", " ..
              "params={fast=\"5:50:5\"}}", 2)
    end
    check_keys("mts.optimize", opts, OPTIMIZE_KEYS)
    local strategies = list(opts.strategies or opts.strategy)
    local assets = list(opts.assets or opts.asset)
    if not strategies or #strategies == 0 then error("mts.optimize: strategy is required", 2) end
    if not assets or #assets == 0 then error("mts.optimize: asset is required, e.g. asset = \"bitcoin\"", 2) end
    if type(opts.params) ~= "table" or next(opts.params) == nil then
        error("mts.optimize: params is required, e.g. params = {fast = \"5:50:5\", slow = {20, 50}}", 2)
    end
    local keys, axes = {}, {}
    for k in pairs(opts.params) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)   -- a fixed axis order: the points' order does not depend on pairs()
    for _, k in ipairs(keys) do
        local v = opts.params[k]
        if type(v) == "table" then
            local parts = {}
            for i, x in ipairs(v) do parts[i] = tostring(x) end
            v = table.concat(parts, ",")
        elseif type(v) == "number" or type(v) == "boolean" then
            v = tostring(v)
        elseif type(v) ~= "string" then
            error("mts.optimize: params." .. k .. " must be a range \"start:stop:step\", a list or a value", 2)
        end
        axes[#axes + 1] = { k, v }
    end
    local ok, rows = pcall(native("optimize").optimize, {
        strategies = strategies, assets = assets, params = axes, from = opts.from, to = opts.to,
        interval = opts.interval, metric = opts.metric, jobs = opts.jobs, store = opts.store,
        capital = opts.capital, commission_bps = opts.commission_bps, slippage_bps = opts.slippage_bps,
        risk_free = opts.risk_free, trusted = opts.trusted and true or false,
        mode = opts.mode, allocate = opts.allocate ~= nil and "given" or nil,
        max_position = opts.max_position, max_portfolio_risk = opts.max_portfolio_risk, market = opts.market,
        leverage = opts.leverage, maker_bps = opts.maker_bps, taker_bps = opts.taker_bps,
    })
    if not ok then error(rows, 2) end
    for _, r in ipairs(rows) do
        for k, v in pairs(r.params) do r[k] = tonumber(v) or v end
        if r.id == 0 then r.id = nil end
    end
    local columns = { "rank", "strategy" }
    for _, k in ipairs(keys) do columns[#columns + 1] = k end
    for _, c in ipairs({ "sharpe_ratio", "total_return", "max_drawdown", "win_rate", "trade_count", "id" }) do
        columns[#columns + 1] = c
    end
    return A.table(columns, rows)
end

-- ---- paper sessions (`mts run`): the API's GET /paper/sessions[/{id}] ----------------------

-- JSON null -> nil in objects, NaN in arrays (numbers there: equity points)
local function unnull(v)
    if v == json.null then return nil end
    if type(v) ~= "table" then return v end
    local arr = json.is_array(v)
    local out = {}
    for k, x in pairs(v) do
        if x == json.null then out[k] = arr and NaN or nil else out[k] = unnull(x) end
    end
    return out
end

local FILL_COLUMNS = { "time", "asset", "side", "qty", "price", "fee", "realized_pnl", "book", "strategy", "reason",
                       "funding", "shadow" }
local SESSION_BOOK_COLUMNS = { "book", "strategy", "shadow", "initial", "equity", "pnl", "return", "trades" }
local SESSION_COLUMNS = { "id", "status", "strategies", "exchange", "symbols", "interval", "started_at", "bars",
                          "fills", "equity" }

local session_mt = {}
session_mt.__tostring = function(s)
    local out = {}
    out[1] = ("paper session %d: %s on %s %s %s, %s"):format(s.id, s.strategies or "?", s.exchange or "?",
        s.symbols or "?", s.interval or "?", s.status or "?")
    out[2] = ("  %s .. %s, %d bars, %d fills (the account's), capital %s, final equity %s"):format(
        s.started_at or "?", s.stopped_at or "now", s.bars or 0, s.fills or 0, money(s.initial_capital or NaN),
        s.final_equity and money(s.final_equity) or (s.last_equity and money(s.last_equity.equity or NaN) .. " (last)")
        or "n/a")
    if #s.books == 0 then
        out[#out + 1] = "  books: none stored (a session from before schema v11)"
    else
        local rows = {}
        for i, b in ipairs(s.books) do
            rows[i] = { book = b.book, strategy = b.strategy, shadow = b.shadow and "shadow" or "live",
                        initial = money(b.initial or NaN), equity = money(b.equity or NaN), pnl = money(b.pnl or NaN),
                        ["return"] = pct(b["return"] or NaN), trades = b.trades }
        end
        out[#out + 1] = ("  books (%d live, %d shadow):"):format(#s.live, #s.shadows)
        out[#out + 1] = tostring(A.table(SESSION_BOOK_COLUMNS, rows))
    end
    return table.concat(out, "\n")
end

-- mts.session(id): one paper session (the row of GET /paper/sessions/{id}) with
--   books (every book as the last step left it: live first, then shadows; each with
--   book, strategy, shadow, initial, equity, pnl, return, fees, funding, fills, trades,
--   updated_at, updated_ts), live and shadows (the same books, split), fill_list (a table
--   of every fill, shadow ones marked), equity and cash (series of the account's points)
function A.session(id)
    if type(id) ~= "number" or id ~= floor(id) or id < 0 then
        error("mts.session: id must be a session number (list them: mts.sessions())", 2)
    end
    local text, msg = native("session").session_json(id)
    if not text then error(msg, 2) end
    local s = unnull(assert(json.decode(text)))
    s.books = s.books or {}
    s.live, s.shadows = {}, {}
    for _, b in ipairs(s.books) do
        if b.shadow then s.shadows[#s.shadows + 1] = b else s.live[#s.live + 1] = b end
    end
    local rows = s.fill_list or {}
    for _, f in ipairs(rows) do f.time = f.ts end
    s.fill_list = A.table(FILL_COLUMNS, rows)
    local pts = s.equity or {}
    local n = #pts
    local ts, eq, cash = ffi.new("int64_t[?]", n), ffi.new("double[?]", n), ffi.new("double[?]", n)
    for i = 1, n do
        ts[i - 1], eq[i - 1], cash[i - 1] = pts[i][1], pts[i][2], pts[i][3]
    end
    s.equity = A.series(eq, n, ts, { eq, ts }, ("session %d equity"):format(s.id))
    s.cash = A.series(cash, n, ts, { cash, ts }, ("session %d cash"):format(s.id))
    return setmetatable(s, session_mt)
end

-- mts.sessions([n]): the newest n (default 20) paper sessions, newest first, as a table
-- (id, status, strategies, exchange, symbols, interval, started_at, bars, fills, equity:
-- the final equity, else the last stored)
function A.sessions(n)
    if n ~= nil and (type(n) ~= "number" or n ~= floor(n) or n < 1 or n > 1000) then
        error("mts.sessions: n must be a whole number 1 .. 1000 (default 20)", 2)
    end
    local text = native("sessions").sessions_json(n or 20)
    local rows = unnull(assert(json.decode(text)))
    for _, r in ipairs(rows) do
        r.equity = r.final_equity or (r.last_equity and r.last_equity.equity) or NaN
    end
    return A.table(SESSION_COLUMNS, rows)
end

-- names of the strategies in scripts/strategies
function A.strategies()
    return require("runner").available_strategies(mts.root)
end

function A.db() return N and N.db() or nil end

-- ---- the table the REPL and scripts see as `mts` ------------------------------------------------

local M = {}
for k, v in pairs(mts) do
    if type(v) == "function" and not k:match("^_") then M[k] = v end
end
M.nan, M.LONG, M.SHORT, M.CLOSE = NaN, "LONG", "SHORT", "CLOSE"
M.C, M.root, M.in_host = nil, mts.root, mts.in_host
for _, k in ipairs({ "bars", "macro", "backtest", "optimize", "series", "table", "chart", "strategies", "db",
                     "session", "sessions",
                     "sma", "rolling_std", "rolling_corr", "rsi", "drawdown", "pct_rank",
                     "pct_change", "diff", "align_asof", "kind", "iso", "fmt_num",
                     "ema", "atr", "vwap", "rolling_min", "rolling_max", "macd", "bbands" }) do
    M[k] = A[k]
end
M.sessions = A.sessions
M.raw = mts            -- the strategy-level API (0-based cdata arrays) and the FFI namespace
A.api = M

return A
