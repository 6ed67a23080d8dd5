-- runner.lua — one backtest run: load the strategies (sandboxed) and their
-- configs, apply --param overrides, then drive the engine's event loop,
-- passing each step's signals through aggregator.lua and risk.lua into orders.
-- Called by the bridge (runtime/lua/bridge.c) through mts_lua_pcall as
-- runner.run(spec); usable from busted with a fake engine (opts.C).
--
-- spec = { engine = <lightuserdata mts_engine_t*>, root = "/path",
--          strategies = {"sma_cross", ...},          -- strategy id = index - 1
--          params = { {key = "fast", value = "5"}, ... },
--          seed = 0 (optional: math.randomseed at the start),
--          mode = "independent" (default) | "vote",
--          max_position = F, max_portfolio_risk = F (the command line's
--          limits; absent or 0: the environment's, else config/mts.json
--          "risk", else risk.DEFAULTS),
--          decisions = true (optional: keep, per asset, the aggregated
--          signals of its last step with signals: result.decisions),
--          shadows = {"sma_cross_v2", "sma_cross:fast=5,slow=30", ...}
--          (optional: shadow strategies, see below) }
-- opts (tests and benchmarks only) = { C = namespace with the mts_engine_*
--          functions (default mts.C, the real ones), log = function(level,
--          event, fields), print = function(strategy, text) }
--
-- Returns { parameters = {name = {...}}, parameters_json = "...",
--           disabled = {"name: message", ...},
--           risk = { {trimmed = N, refused = N, short_refused = N}, ... } (per
--                  strategy, in the spec's order: what risk.lua limited) }
-- or nil, message, kind ("config" | "script") for errors that stop the run:
-- unknown strategy, syntax or load error, bad config file or value, --param
-- for an undeclared key or with a value of the wrong type, bad risk limits.
-- Anything else raised is a bug in trusted code and propagates.
--
-- Books (issue 12). Mode `independent` (the default): the engine has one
-- book per strategy (book id = strategy id; the host sets them up with
-- mts_engine_set_books before the run, engine.h), each strategy's signals of
-- a step are aggregated among its own only, sized by risk.lua against its own
-- book (equity, position, exposure) and its orders carry its book; ctx.position()
-- is its own book's position. Mode `vote`: one book, every strategy's signals
-- of a step aggregated together (confidence-weighted, aggregator.lua), the
-- order attributed to the winner; ctx.position() is the shared book's. An
-- engine with one book runs either mode on that book (a single strategy's
-- independent run is the vote run bit for bit); with several strategies, one
-- book and no spec.mode (a host that set up no books: mts run for now) the
-- run is vote, as it was before books.
--
-- Shadow strategies (issue 14, docs/live.md "Shadow strategies"). Each label
-- of spec.shadows, NAME[:K=V,...], is loaded after the live strategies (ids
-- after theirs: #strategies + j - 1) from NAME as --strategy would; its
-- parameters are the defaults, the config file, the --param options that
-- apply to NAME (NAME.K=V, or K=V that NAME declares), then its own K=V. It
-- trades its own book, the engine's account_books + j - 1 (the host adds the
-- shadow books: mts_engine_add_shadow_book), which is not part of the
-- account; its signals of a step are aggregated alone (in vote mode too),
-- sized by risk.lua against its own book with the same limits, and
-- ctx.position() is its book's. Its label is its name everywhere (ctx.strategy,
-- messages, the risk counts, which list the shadows after the live ones).
-- With no shadows nothing here runs.
--
-- Error isolation. Every call into a strategy (init, on_bar, analyze,
-- generate_signals) goes through pcall. On error the strategy is disabled for
-- the rest of the run (all its assets), its signals of the current step are
-- dropped, and the message is recorded as
--   "scripts/strategies/x.lua:12: boom (in analyze, bitcoin bar 2020-01-05T00:00:00Z)".
-- LuaJIT 2.1 compiles pcall into traces, so the bar loop stays compiled. The
-- alternative — one pcall around the whole loop that resumes after disabling
-- the culprit — was built and measured (docs/strategies.md, "What isolation
-- costs"): it lets a trace that starts in a strategy's own inner loop return
-- into the runner (vix_correlation 4.6 -> 5.7 M bars/s, sandboxed 3.0 -> 5.3)
-- but its bookkeeping slowed sma_cross by 12-25 %, so the per-call pcall stays.
--
-- Limits. When the host made a guarded state (runtime/lua/guard.h: the
-- global MTS_GUARD exists; the default, unless the run is trusted), strategy
-- source is compiled with the time budget's ticks in its loops
-- (sandbox.instrument), and every call into a strategy (loading,
-- get_parameters, init, on_bar, analyze, generate_signals) goes through
-- scall: the guard charges its allocations to it (mts_guard_enter/leave
-- through the FFI: memory cap) and the budget is re-armed. A strategy over
-- either limit is disabled like one that raised. Everything stays
-- JIT-compiled: the strategies, this loop, aggregator and risk.
--
-- Shared data (issue 9). What all strategies see alike is read-only:
-- ctx.series (a mts.readonly proxy; the runner resizes only the views in its
-- own list, asset.views), ctx.macro(...) results, the `mts` table. Each ctx
-- has a protected metatable and its own copy of params. Nothing a strategy
-- returns or raises runs code in the runner: signals must be plain tables
-- (read without metamethods), error values become text inside scall. Signal
-- bounds (R.MAX_SIGNALS, R.PRICE_BAND, R.MAX_LEVERAGE; docs/strategies.md,
-- "Signal bounds") and an order the engine refuses (MTS_EINVAL/MTS_ERANGE)
-- disable the strategy, never the run.
--
-- Hot path. One mts_event_t and one mts_order_t are allocated per run. A bar
-- looks up the strategies for the asset (an array), writes ctx.i, ctx.n,
-- ctx.time and ctx.close, and calls the strategy; no table is created unless
-- a strategy returns a signal. Between signals the engine is not called per
-- bar: after a bar without signals it says how many of the asset's next bars
-- are quiet (mts_engine_quiet: nothing to fill or watch), the loop runs the
-- strategies over them, and one mts_engine_skip catches the engine up, before
-- a signal is checked or at the run's end (engine.h). Aggregation and risk run
-- only at the end of a step that has signals; a step with one signal skips
-- the aggregator (a lone signal is its own aggregate). docs/strategies.md,
-- "Speed", has the traces and figures; MTS_JIT_V / MTS_JIT_DUMP / MTS_JIT_P
-- (runtime/lua/state.c) show what LuaJIT makes of this loop.
local ffi = require "ffi"
local mts = require "mts"
local sandbox = require "sandbox"
local config = require "config"
local json = require "json"
local aggregator = require "aggregator"
local risk = require "risk"
local logmod = require "log"
local control = require "control"
local bit = require "bit"
-- (locals: a global read in the bar loop is a table lookup and a guard in
-- every trace that goes through it)
local pcall, tonumber, type = pcall, tonumber, type

local R = {}

local NaN = 0 / 0
local SIG_CODE = { LONG = 1, SHORT = -1, CLOSE = 0 }
local ORDER_CODE = { MARKET = 0, LIMIT = 1, STOP = 2 }   -- mts_order_type_t
local EV_BAR, EV_STEP_END = 1, 2
local EINVAL, ERANGE = -2, -9                           -- MTS_EINVAL, MTS_ERANGE (runtime/mts.h)

-- ---- run-stopping errors -------------------------------------------------------

local function stop(kind, msg) error({ run_error = msg, kind = kind }, 0) end

local function iso(ts) return os.date("!%Y-%m-%dT%H:%M:%SZ", tonumber(ts)) end

local function cstr(s)
    if s == nil then return nil end
    if type(s) == "string" then return s end
    if s == ffi.NULL then return nil end
    return ffi.string(s)
end

-- ---- locating strategies -----------------------------------------------------------

local function list_dir(dir)
    local host = rawget(_G, "MTS_LISTDIR")            -- set by the bridge (C opendir)
    if host then return host(dir) or {} end
    local ok, lfs = pcall(require, "lfs")
    if ok and type(lfs) == "table" and lfs.dir then
        local out = {}
        local okd = pcall(function() for f in lfs.dir(dir) do out[#out + 1] = f end end)
        if okd then return out end
    end
    local out = {}
    local p = io.popen('ls -1 "' .. dir:gsub('"', '\\"') .. '" 2>/dev/null')
    if p then
        for line in p:lines() do out[#out + 1] = line end
        p:close()
    end
    return out
end

-- The directories of $MTS_STRATEGY_PATH (colon-separated), in order.
local function path_dirs()
    local dirs = {}
    for d in (os.getenv("MTS_STRATEGY_PATH") or ""):gmatch("[^:]+") do dirs[#dirs + 1] = d end
    return dirs
end

function R.available_strategies(root)
    local names, seen = {}, {}
    local dirs = path_dirs()
    dirs[#dirs + 1] = root .. "/scripts/strategies"
    for _, dir in ipairs(dirs) do
        for _, f in ipairs(list_dir(dir)) do
            local n = f:match("^([%w_%-]+)%.lua$")
            if n and not seen[n] then seen[n] = true; names[#names + 1] = n end
        end
    end
    table.sort(names)
    return names
end

-- A strategy argument is a path when it has a '/' or ends in ".lua".
local function is_path(arg) return arg:find("/", 1, true) ~= nil or arg:sub(-4) == ".lua" end

-- The file registered by the command line for a name (runtime/util/strategies.h), or nil.
local function registered(name)
    local ok, p = pcall(function() return mts.C.mts_strategy_registered(name) end)
    if ok and p ~= nil and p ~= ffi.NULL then return ffi.string(p) end
    return nil
end

-- Where strategy `arg` (a name or a path) lives: its name, its file, the file
-- as messages name it, and its config file. A path, or a name the command line
-- registered, or the first $MTS_STRATEGY_PATH directory holding NAME.lua, or
-- scripts/strategies. Outside scripts/strategies the config is NAME.json beside
-- the file; inside, config/strategies/NAME.json (docs/strategies.md).
local function locate(root, arg)
    local name, path
    if type(arg) == "string" and is_path(arg) then
        path = arg
        name = arg:match("([^/]*)$"):match("^(.*)%.lua$")
        if not name or not name:match("^[%w_%-]+$") then
            stop("script", ("strategy file %s: the name must be NAME.lua, NAME of letters, digits, '_' and '-'"):format(arg))
        end
        if config.stat(path) == 0 then stop("script", ("strategy file %s does not exist"):format(path)) end
    else
        if type(arg) ~= "string" or not arg:match("^[%w_%-]+$") then
            stop("script", ("invalid strategy name '%s' (letters, digits, '_' and '-' only)"):format(tostring(arg)))
        end
        name = arg
        path = registered(name)
        if not path then
            for _, d in ipairs(path_dirs()) do
                local p = d .. "/" .. name .. ".lua"
                if config.stat(p) ~= 0 then path = p break end
            end
        end
    end
    if not path then
        local rel = "scripts/strategies/" .. name .. ".lua"
        if config.stat(root .. "/" .. rel) == 0 then                -- stat, not open: a FIFO would block
            local avail = R.available_strategies(root)
            stop("script", ("unknown strategy '%s': %s does not exist%s (available: %s)"):format(
                name, rel, os.getenv("MTS_STRATEGY_PATH") and " nor is it on $MTS_STRATEGY_PATH" or "",
                #avail > 0 and table.concat(avail, ", ") or "none"))
        end
        local crel = "config/strategies/" .. name .. ".json"
        return name, root .. "/" .. rel, rel, root .. "/" .. crel, crel
    end
    local cpath = path:gsub("%.lua$", "") .. ".json"
    return name, path, path, cpath, cpath
end
R.locate = locate

-- ---- loading one strategy ---------------------------------------------------------------

local sorted_keys = config.sorted_keys

local function guard_of() return rawget(_G, "MTS_GUARD") end

-- A call into strategy `id`: pcall, plus, in a guarded state, the memory
-- owner set for the call and the time budget armed. Fixed arity (up to three
-- arguments) so that it compiles well. Returns ok, result | false, message.
local G = guard_of()
local GH = G and ffi.cast("void *", G.handle)   -- cdata: a lightuserdata argument would stop the JIT
local HALF_CAP = G and G.mem_cap > 0 and G.mem_cap / 2 or math.huge
if G then sandbox.set_budget(G.time_budget_ms > 0 and G.time_budget_ms or 1e12) end
local C_guard = G and mts.C

-- Longest error message kept (a strategy can raise a string of any size).
local MAX_MESSAGE = 2000

local function clip(msg)
    if #msg <= MAX_MESSAGE then return msg end
    return msg:sub(1, MAX_MESSAGE) .. ("... (%d bytes)"):format(#msg)
end

-- An error value as text. Strings and numbers as they are; a table with a
-- __tostring through that metamethod — strategy code, so this runs inside
-- scall's guarded region, under its memory cap and time budget, and a
-- failing __tostring is reported instead of raising in the runner; anything
-- else by its type (no addresses).
local function error_text(err)
    local t = type(err)
    if t == "string" then return clip(err) end
    if t == "number" then return tostring(err) end
    local mt = t == "table" and debug.getmetatable(err)
    if mt and rawget(mt, "__tostring") ~= nil then
        local ok, s = pcall(tostring, err)
        if ok and type(s) == "string" then return clip(s) end
        return clip("an error object (table) whose __tostring failed: " ..
                    (type(s) == "string" and s or "an error object (" .. type(s) .. ")"))
    end
    return "an error object (" .. t .. ")"
end

local function scall(id, fn, a, b, c)
    if not GH then
        local ok, r = pcall(fn, a, b, c)
        if not ok then r = error_text(r) end
        return ok, r
    end
    -- garbage counts against the cap until collected: collect before a call
    -- that starts above half of it
    if C_guard.mts_guard_usage(GH, id) > HALF_CAP then collectgarbage() end
    local prev = C_guard.mts_guard_enter(GH, id)
    sandbox.arm()
    local ok, r = pcall(fn, a, b, c)
    -- still charged to the strategy, still on its time budget
    if not ok then r = error_text(r) end
    local mem_hit = C_guard.mts_guard_leave(GH, prev)
    if sandbox.tripped() then
        if ok then ok, r = false, sandbox.budget_message() end
    elseif not ok and mem_hit ~= 0 then
        r = ("memory cap of %d MB exceeded (the strategy holds %d MB)"):format(
            G.mem_cap / 2 ^ 20, C_guard.mts_guard_usage(GH, id) / 2 ^ 20)
    end
    return ok, r
end
R.scall = scall

-- nil when v is plain data (numbers, strings, booleans, tables without
-- metatables, at most 32 levels deep and 100000 entries), else why not.
-- Reads nothing through a metamethod.
local function not_plain(v, where, depth, count)
    local t = type(v)
    if t == "number" or t == "string" or t == "boolean" then return nil end
    if t ~= "table" then return ("%s is a %s (plain data only)"):format(where, t) end
    if debug.getmetatable(v) ~= nil then return where .. " has a metatable (plain tables only)" end
    if depth > 32 then return where .. " is nested more than 32 levels deep" end
    count = count or { 0 }
    for k, x in next, v do
        count[1] = count[1] + 1
        if count[1] > 100000 then return where .. " has more than 100000 entries" end
        local tk = type(k)
        if tk ~= "string" and tk ~= "number" then return ("%s has a %s key"):format(where, tk) end
        local e = not_plain(x, where .. "." .. tostring(k), depth + 1, count)
        if e then return e end
    end
    return nil
end

local function load_strategy(root, arg, id, printer)
    local name, path, rel, cpath, crel = locate(root, arg)
    local env = sandbox.new_env({ seed = math.random(0, 2 ^ 31 - 1), id = id,
        print = function(...)
            local parts = {}
            for k = 1, select("#", ...) do parts[k] = tostring((select(k, ...))) end
            printer(name, table.concat(parts, "\t"))
        end,
        mts = mts.api,
        modules = { mts = mts.api },
    })
    local fn, err = sandbox.compile(path, rel, env, GH ~= nil)
    if not fn then stop("script", err) end
    local ok, mod = scall(id, fn, sandbox.tick)
    if not ok then stop("script", tostring(mod) .. " (while loading " .. rel .. ")") end
    if type(mod) ~= "table" then
        stop("script", rel .. ": must return a table of functions, got " .. type(mod))
    end
    local function opt_fn(k)
        local v = rawget(mod, k)
        if v ~= nil and type(v) ~= "function" then
            stop("script", ("%s: %s must be a function, got %s"):format(rel, k, type(v)))
        end
        return v
    end
    local get_parameters = opt_fn("get_parameters")
    local init, on_bar = opt_fn("init"), opt_fn("on_bar")
    local analyze, generate = opt_fn("analyze"), opt_fn("generate_signals")
    if not get_parameters then stop("script", rel .. ": get_parameters() is missing") end
    if not on_bar and not (analyze and generate) then
        stop("script", rel .. ": needs on_bar(ctx, asset, i), or analyze(market_data) and " ..
             "generate_signals(analysis)")
    end
    local okp, defaults = scall(id, get_parameters)
    if not okp then stop("script", tostring(defaults) .. " (in get_parameters)") end
    if type(defaults) ~= "table" then
        stop("script", rel .. ": get_parameters() must return a table, got " .. type(defaults))
    end
    local types = rawget(mod, "parameter_types")
    if types ~= nil and type(types) ~= "table" then
        stop("script", rel .. ": parameter_types must be a table")
    end
    -- the config code reads these outside any guard: no metamethods in them
    local perr = not_plain(defaults, "get_parameters()", 0) or (types and not_plain(types, "parameter_types", 0))
    if perr then stop("script", rel .. ": " .. perr) end
    for _, k in ipairs(sorted_keys(defaults)) do
        if type(k) ~= "string" then stop("script", rel .. ": get_parameters() keys must be strings") end
        local t = type(defaults[k])
        if t ~= "number" and t ~= "string" and t ~= "boolean" and t ~= "table" then
            stop("script", ("%s: parameter %s has a default of type %s (number, string, boolean or table only)"):format(rel, k, t))
        end
    end
    local okc, schema = pcall(config.strategy_schema, defaults, types)
    if not okc then stop("script", rel .. ": bad parameter defaults: " .. tostring(schema)) end
    return {
        id = id, name = name, rel = rel, path = path, config_path = cpath, config_rel = crel, mod = mod,
        init = init, on_bar = on_bar, analyze = analyze, generate = generate,
        defaults = defaults, declared = defaults, schema = schema,
        enabled = true, message = nil,
    }
end

-- ---- per-asset data shared by the strategies ----------------------------------------------

local SERIES_ELEM = { ts = "int64_t", open = "double", high = "double", low = "double",
                      close = "double", volume = "double" }

-- ctx.series of an asset, shared by every strategy on it: a read-only proxy
-- (mts.readonly: writes raise, the metatable is protected) of read-only,
-- bounds-checked views of the engine's bar arrays (mts.view_ro: no copy, the
-- length known to the mts functions). The views are also kept in
-- asset.views, the runner's own list: in a live session the bars grow and
-- resize_series updates those views — and only those, never a value a
-- strategy could have placed (issue 9).
local SERIES_KEYS = { "ts", "open", "high", "low", "close", "volume" }
local function shared_series(bars, asset, name)
    local views = {}
    for _, k in ipairs(SERIES_KEYS) do views[k] = mts.view_ro(bars[k], 0, SERIES_ELEM[k]) end
    asset.views = views
    return mts.readonly(views, name or "ctx.series", views.ts)
end

-- ---- as-of views (issue 10: no look-ahead) ------------------------------------------------
--
-- Every array a strategy can read is a read-only view that ends at the
-- current bar: a "source" is the views over one series with times ts
-- (ascending) of which the first k are visible, element j being visible
-- once ts[j] + lag <= the current bar's end (now_end = step time + the run's
-- interval). lag: the run's interval for bars at it (ts <= the step time),
-- a higher interval's length for its bars (closed: open + length <= now_end),
-- MACRO_LAG for daily macro values (known at the end of their day), 0 for
-- funding and book rows (stamped when seen). At each new step the runner
-- advances every source; views never shrink. Backtests and live sessions do
-- exactly the same, so a backtest can do only what live trading could.
local IV_SECONDS = { ["1m"] = 60, ["3m"] = 180, ["5m"] = 300, ["15m"] = 900, ["30m"] = 1800,
                     ["1h"] = 3600, ["2h"] = 7200, ["4h"] = 14400, ["6h"] = 21600, ["8h"] = 28800,
                     ["12h"] = 43200, ["1d"] = 86400, ["3d"] = 259200, ["1w"] = 604800 }
R.IV_SECONDS = IV_SECONDS
local MACRO_LAG = 86400

local impl_array = ffi.typeof("mts_view_impl_t *[?]")
local function new_source(ts, total, lag, views)
    -- one cdata array of the views' records: stores through it need no type
    -- check per element (the views stay alive in src.views)
    local impls = impl_array(#views)
    for k, v in ipairs(views) do
        local r = mts.view_impl(v)
        r.n = 0
        impls[k - 1] = r
    end
    return { ts = ts, total = total, lag = lag, k = 0, impls = impls, nimpl = #views, views = views }
end

-- The engine's own bars, at bar i of their asset: n = i + 1, unrolled (a
-- loop here would leave the bar loop's trace on every bar).
local function grow_bars(src, n)
    src.k = n
    local r = src.impls
    r[0].n = n; r[1].n = n; r[2].n = n; r[3].n = n; r[4].n = n; r[5].n = n
end

-- A coarse view of a traded asset (ctx:bars(own, "4h") in a run at 1h) is
-- built from the run's own bars with the C streaming resampler
-- (market/resample.h): at each step the asset's bars closed by now are pushed
-- (src.fed counts them) and the coarse bars they close are appended to the
-- view's arrays (reserved once). The bucket still forming is never there, and
-- backtests and live sessions (bars appended, then stepped) push the same bars.
-- Pushing starts at the first of the run's bars that opens a coarse bar (the
-- boundary); the bars before it (history, and the coarse bar the run starts
-- inside) are the provider's (src.prefix: stored, or resampled from stored),
-- copied once when the boundary is known.
local function start_coarse(src, b)
    src.started = true
    local p, out = src.prefix, src.out
    if p == nil then return end
    local m, pn = 0, tonumber(p.n)
    while m < pn and p.ts[m] < b do m = m + 1 end
    if m > 0 then
        ffi.copy(out.ts, p.ts, m * 8); ffi.copy(out.open, p.open, m * 8); ffi.copy(out.high, p.high, m * 8)
        ffi.copy(out.low, p.low, m * 8); ffi.copy(out.close, p.close, m * 8); ffi.copy(out.volume, p.volume, m * 8)
    end
    out.n = m
    src.total = m
end

-- the boundary: the first coarse open at or after the run's first bar
local function begin_coarse(src)
    local fine = src.fine
    local t = fine.ts[src.fed]
    local b = mts.C.mts_interval_floor(t, src.coarse_s)
    if b ~= t then b = b + src.coarse_s end
    start_coarse(src, b)
    local n, j = tonumber(fine.n), src.fed
    while j < n and fine.ts[j] < b do j = j + 1 end
    src.fed = j
end

local function feed(src, now_end)
    local fine = src.fine
    local n, lim = tonumber(fine.n), now_end - src.fine_s
    if not src.started then
        if n == 0 then return end
        begin_coarse(src)
    end
    local from = src.fed
    local to = from
    while to < n and fine.ts[to] <= lim do to = to + 1 end
    if to == from then return end
    local rc = mts.C.mts_resampler_feed(src.r, fine, from, to, src.out, src.bad)
    src.total = tonumber(src.out.n)
    if rc ~= 0 then
        local b = tonumber(src.bad[0])
        src.fed, src.fine = n, nil        -- (no more pushes: the error names the first bad bar)
        error(("%s: the run's bar %d (%s) %s"):format(src.label, b, iso(fine.ts[b]),
            rc == -9 and "is past the view's reserved bars" or
            ("is out of order or not on the %s grid: resampling needs the run's bars on their interval's grid"):format(
                src.fine_iv)), 0)
    end
    src.fed = to
end

local function advance(sources, nsrc, now_end)
    for q = 1, nsrc do
        local src = sources[q]
        if src.fine then feed(src, now_end) end
        local k, total, ts = src.k, src.total, src.ts
        local lim = now_end - src.lag
        while k < total and ts[k] <= lim do k = k + 1 end
        if k ~= src.k then
            src.k = k
            local impls = src.impls
            for j = 0, src.nimpl - 1 do impls[j].n = k end
        end
    end
end

-- A strategy's ctx: its fields are the strategy's to read and write, but its
-- metatable is protected, so the runner's own writes (ctx.i, ctx.time,
-- ctx.close, ctx.n) can never run a __newindex of the strategy's outside its
-- guarded call.
local CTX_MT = { __metatable = false }

-- ---- signals ---------------------------------------------------------------------------------
--
-- Bounds (docs/strategies.md, "Signal bounds"). A signal breaking one is
-- refused like a malformed one: the strategy is disabled with a message
-- naming the field and the value.
R.MAX_SIGNALS = 100      -- signals one call may return (a list longer than this is refused)
R.PRICE_BAND = 100       -- price, limit_price, stop_loss, take_profit within [close / 100, close * 100]
R.MAX_LEVERAGE = 100     -- units * price at most 100 x the equity (the larger of the
                         -- starting and the current: a fixed-units strategy that lost
                         -- most of its account is not stopped by its losses)
local MAX_SIGNALS, PRICE_BAND, MAX_LEVERAGE = R.MAX_SIGNALS, R.PRICE_BAND, R.MAX_LEVERAGE
local INF = math.huge

local function num(v) return v ~= v and "nan" or tostring(v) end

-- A value for a message, without running any metamethod of it.
local function describe(v)
    local t = type(v)
    if t == "string" then return #v > 40 and v:sub(1, 40) .. "..." or v end
    if t == "number" then return num(v) end
    if t == "nil" or t == "boolean" then return tostring(v) end
    return "a " .. t
end

-- nil when sig[k] is absent or a finite number in range, else the complaint.
local function bad_number(sig, k, lo, lo_open, hi)
    local v = sig[k]
    if v == nil then return nil end
    if type(v) ~= "number" or v ~= v or v == INF or v == -INF then
        return ("%s must be a finite number, got %s"):format(k, type(v) == "number" and num(v) or describe(v))
    end
    if (lo_open and v <= lo) or (not lo_open and v < lo) or (hi and v > hi) then
        return ("%s = %s is out of range"):format(k, num(v))
    end
    return nil
end

-- A price field: finite, > 0, and within PRICE_BAND of the bar's close
-- (when the close is a usable price).
local function bad_price(sig, k, close)
    local err = bad_number(sig, k, 0, true)
    if err then return err end
    local v = sig[k]
    if v ~= nil and close > 0 and close < INF and (v > close * PRICE_BAND or v < close / PRICE_BAND) then
        return ("%s = %s is more than %d x away from the bar's close (%s)"):format(k, num(v), PRICE_BAND, num(close))
    end
    return nil
end

-- Checks one signal returned by a strategy: nil if it is well formed, else a
-- message (without position). It returns instead of raising so that the hot
-- path needs no pcall (a pcall boundary here kept LuaJIT from compiling it).
-- A signal is a plain table (a metatable is refused, so reading its fields
-- runs no code of the strategy's: a __index could answer one thing when
-- checked and another when used). close: the bar's close; equity(): the
-- reference equity (see MAX_LEVERAGE), asked only for a signal with units.
local function check_signal(slot, sig, close, equity)
    if type(sig) ~= "table" then return "a signal must be a table, got " .. type(sig) end
    if getmetatable(sig) ~= nil then return "a signal must be a plain table (it has a metatable)" end
    local st = sig.signal_type
    if SIG_CODE[st] == nil then
        return "signal_type must be \"LONG\", \"SHORT\" or \"CLOSE\", got " .. describe(st)
    end
    local as = sig.asset
    if as ~= nil and as ~= slot.asset then
        return ("signal for asset %s while handling %s (a strategy signals for the asset of its bar)"):format(
            describe(as), slot.asset)
    end
    local ot = sig.order_type
    if ot ~= nil then
        if ORDER_CODE[ot] == nil then
            return "order_type must be \"MARKET\", \"LIMIT\" or \"STOP\", got " .. describe(ot)
        end
        if ot ~= "MARKET" and sig.limit_price == nil then
            return ot .. " orders need limit_price > 0 (the limit, or the stop trigger)"
        end
    end
    local err = bad_number(sig, "confidence", 0, false, 1) or bad_number(sig, "position_size", 0, true)
        or bad_number(sig, "units", 0, true) or bad_price(sig, "price", close)
        or bad_price(sig, "limit_price", close) or bad_price(sig, "stop_loss", close)
        or bad_price(sig, "take_profit", close)
    if err then return err end
    local units = sig.units
    if units ~= nil then
        local ref = (ot ~= nil and ot ~= "MARKET") and sig.limit_price or sig.price or close
        local eq = equity()
        local notional = units * ref
        if ref == ref and not (notional <= MAX_LEVERAGE * eq) then
            return ("units = %s at %s is a notional of %s, more than %d x the equity (%s)"):format(
                num(units), num(ref), num(notional), MAX_LEVERAGE, num(eq))
        end
    end
    return nil
end

-- The runner's record of a checked signal, written into `rec` (a record
-- table reused from step to step: records live only until the step's flush,
-- and nothing keeps them) or into a new table. `close`: the bar's close from
-- the engine's array (not ctx.close, which the strategy can overwrite).
local function new_record(strat, slot, sig, close, rec)
    local rm = strat.rm
    local conf = sig.confidence
    rec = rec or {}
    rec.strat, rec.strategy, rec.asset, rec.asset_id = strat, strat.id, slot.asset, slot.asset_id
    rec.signal_type = sig.signal_type
    rec.confidence = conf == nil and 1 or conf
    rec.position_size, rec.units = sig.position_size, sig.units
    rec.stop_loss, rec.take_profit = sig.stop_loss, sig.take_profit
    rec.price = sig.price or close
    rec.weight = strat.weight
    rec.stop_loss_pct, rec.take_profit_pct = rm.stop_loss_pct, rm.take_profit_pct
    rec.max_position_size = rm.max_position_size
    rec.max_portfolio_risk = rm.max_portfolio_risk
    rec.order_type, rec.order_price = sig.order_type, sig.limit_price
    return rec
end

-- A list of signals -> array of records, or nil and the complaint about the
-- first bad one (a list with one bad signal adds none). At most MAX_SIGNALS.
-- A named function, not a closure per call: closure creation aborts traces.
local function make_records(strat, slot, list, close, equity)
    if getmetatable(list) ~= nil then return nil, "a list of signals must be a plain table (it has a metatable)" end
    local n = #list
    if n > MAX_SIGNALS then
        return nil, ("%d signals in one call (at most %d)"):format(n, MAX_SIGNALS)
    end
    for k = 1, n do
        local err = check_signal(slot, list[k], close, equity)
        if err then return nil, ("signal %d of the list: %s"):format(k, err) end
    end
    local out = {}
    for k = 1, n do out[k] = new_record(strat, slot, list[k], close) end
    return out
end

-- ---- the run -------------------------------------------------------------------------------------

local function validate_params(s)
    local p = s.params
    local where = s.name
    if p.weight ~= nil and p.weight < 0 then
        stop("config", ("%s: weight must be >= 0, got %s"):format(where, tostring(p.weight)))
    end
    local rm = p.risk_management or {}
    local function frac(k, hi)
        local v = rm[k]
        if v ~= nil and (v < 0 or (hi and v > hi)) then
            stop("config", ("%s: risk_management.%s must be between 0 and %s, got %s"):format(
                where, k, tostring(hi or "inf"), tostring(v)))
        end
    end
    frac("stop_loss_pct", 1)
    frac("take_profit_pct", nil)
    frac("max_position_size", nil)
    frac("max_portfolio_risk", nil)
    s.weight = p.weight or 1
    s.rm = {
        stop_loss_pct = rm.stop_loss_pct ~= 0 and rm.stop_loss_pct or nil,
        take_profit_pct = rm.take_profit_pct ~= 0 and rm.take_profit_pct or nil,
        max_position_size = rm.max_position_size,
        max_portfolio_risk = rm.max_portfolio_risk,
    }
    s.risk_trimmed, s.risk_refused, s.short_refused = 0, 0, 0
end

-- Parameters for the report: declared keys plus the common ones that were set
-- (weight, assets, risk_management), not name/description.
local function report_params(s)
    local out = {}
    for k in pairs(s.declared) do out[k] = s.params[k] end
    for _, k in ipairs({ "weight", "assets", "risk_management" }) do
        if s.params[k] ~= nil then out[k] = s.params[k] end
    end
    return out
end

-- ---- shadow strategies (see the header) ----------------------------------------------------

-- "NAME[:K=V,...]" -> NAME, { {key = K, value = V}, ... }
local function parse_label(label)
    if type(label) ~= "string" or label == "" then stop("config", "--shadow: an empty label") end
    local name, rest = label:match("^([^:]*):(.*)$")
    if not name then name, rest = label, nil end
    if name == "" then stop("config", ("--shadow %s: the strategy's name is missing (NAME[:K=V,...])"):format(label)) end
    local kv = {}
    if rest ~= nil then
        for part in (rest .. ","):gmatch("([^,]*),") do
            local k, v = part:match("^([^=]+)=(.+)$")
            if not k then
                stop("config", ("--shadow %s: '%s' is not KEY=VALUE (NAME:K=V,K=V)"):format(label, part))
            end
            kv[#kv + 1] = { key = k, value = v }
        end
    end
    return name, kv
end

-- The parameters of ns (a loaded version of a strategy): its defaults, its
-- config file, the --param options meant for it (NAME.K=V with its name, or a
-- K=V it declares when NAME names no live strategy: live_names), then each list
-- of K=V in `more`, in order (a shadow's own, an attached client's set). nil and
-- the message when they do not validate. label: the name validation reports (a
-- shadow's label; default its name); prefix: put before an override's error.
local function version_params(ns, overrides, live_names, more, label, prefix)
    local okc, cfg = pcall(config.load_file, ns.config_path, ns.config_rel, ns.schema)
    if not okc then return nil, config.is_error(cfg) and cfg.config_error or tostring(cfg) end
    local t = { name = ns.name, schema = ns.schema, declared = ns.declared, defaults = ns.defaults }
    t.params = config.deep_copy(ns.defaults)
    config.overlay(t.params, cfg)
    local mine = {}
    for _, o in ipairs(overrides or {}) do
        local key = tostring(o.key)
        local first = key:match("^([^.]+)%.")
        local top = key:match("^[^.]+")
        if first == ns.name or (not live_names[first] and ns.defaults[top] ~= nil) then mine[#mine + 1] = o end
    end
    local oko, oerr = pcall(config.apply_overrides, { t }, mine)
    for k = 1, #more do
        if not oko then break end
        oko, oerr = pcall(config.apply_overrides, { t }, more[k])
    end
    if not oko then
        local msg = config.is_error(oerr) and oerr.config_error or tostring(oerr)
        return nil, (prefix or "") .. msg
    end
    t.name = label or ns.name
    local okv, verr = pcall(validate_params, t)
    if not okv then return nil, type(verr) == "table" and verr.run_error or tostring(verr) end
    return t.params
end

-- The parameters of shadow s (ns: a loaded version of its strategy): the
-- strategy's (version_params), then its own K=V, then an attached client's set.
local function shadow_params(s, ns, overrides, live_names)
    return version_params(ns, overrides, live_names, { s.kv, s.control_params or {} }, s.label,
                          ("--shadow %s: "):format(s.label))
end

-- Loads spec.shadows after the live strategies (appended to `strategies`).
local function load_shadows(spec, root, printer, strategies)
    local labels = spec.shadows or {}
    if #labels == 0 then return 0 end
    local live_names, taken = {}, {}
    for _, s in ipairs(strategies) do live_names[s.name] = true end
    local n_live = #strategies
    for j, label in ipairs(labels) do
        if live_names[label] then
            stop("config", ("--shadow %s: a live strategy has that name (a shadow runs other code or " ..
                 "parameters: give it K=V, e.g. --shadow %s:fast=5)"):format(label, label))
        end
        if taken[label] then stop("config", ("--shadow %s is given twice"):format(label)) end
        taken[label] = true
        local name, kv = parse_label(label)
        local s = load_strategy(root, name, n_live + j - 1, printer)
        s.base, s.arg, s.label, s.kv, s.shadow, s.shadow_j = s.name, name, label, kv, true, j
        local params, err = shadow_params(s, s, spec.params, live_names)
        if not params then stop("config", err) end
        s.name = label
        s.params = params
        validate_params(s)
        strategies[#strategies + 1] = s
    end
    return #labels
end

-- LuaJIT's trace thresholds in a live session (docs/live.md "Kline -> order
-- latency"). A step with a signal leaves the compiled bar loop by side exits
-- (the signal's checks, flush, risk, the order) that a backtest takes often
-- enough to compile at once, but a live session only a few dozen times a day:
-- with LuaJIT's defaults (a side trace after hotexit=10 exits, a loop compiled
-- after hotloop=56 iterations) the first ~30 signal steps ran in the
-- interpreter (35-70 us each, caches cold after the wait) or compiled
-- (200-350 us), and they made the p99. Here a side trace is compiled at the
-- second exit, the loops of the first live steps sooner. Process-wide (one
-- session per process); a backtest keeps LuaJIT's defaults. MTS_JIT_LIVE
-- replaces them: jit.opt.start arguments separated by spaces, or "default"
-- (none: LuaJIT's own, the bench's baseline).
local LIVE_JIT = "hotexit=2 hotloop=8"

local function live_jit()
    local opt = os.getenv("MTS_JIT_LIVE") or LIVE_JIT
    if opt == "default" then return end
    local args = {}
    for w in opt:gmatch("%S+") do args[#args + 1] = w end
    local ok, err = pcall(jit.opt.start, unpack(args))
    if not ok then stop("config", ("MTS_JIT_LIVE='%s': %s"):format(opt, tostring(err))) end
end

local function run(spec, opts)
    opts = opts or {}
    if spec.live then live_jit() end
    local root = spec.root or mts.root
    local log = opts.log or logmod.new()
    local printer = opts.print or function(name, text) io.stderr:write(name, ": ", text, "\n") end
    -- replayable runs: math.random (shared by the strategies) starts from a
    -- fixed seed, spec.seed or 0
    math.randomseed(tonumber(spec.seed) or 0)

    -- limits first: a bad command line, environment or config/mts.json
    -- "risk" stops the run before any work
    local limits, lerr
    if opts.limits then
        limits = opts.limits
    else
        local okr, site_risk = pcall(config.site_risk, root)
        if not okr then
            if config.is_error(site_risk) then stop("config", site_risk.config_error) end
            error(site_risk, 0)
        end
        limits, lerr = risk.limits(nil, site_risk, { max_position_size = tonumber(spec.max_position),
                                                     max_portfolio_risk = tonumber(spec.max_portfolio_risk) })
        if not limits then stop("config", lerr) end
    end
    local mode = spec.mode or "independent"
    if mode ~= "independent" and mode ~= "vote" then
        stop("config", ("unknown mode '%s' (independent or vote)"):format(tostring(mode)))
    end

    -- strategies and their configs
    local names = spec.strategies or {}
    if #names == 0 then stop("config", "no strategies selected") end
    local strategies, seen = {}, {}
    for idx, name in ipairs(names) do
        local s = load_strategy(root, name, idx - 1, printer)
        if seen[s.name] then
            stop("config", seen[s.name] ~= s.path and ("two strategies named '%s': %s and %s (a strategy is known by its file's name without .lua: rename one)"):format(s.name, seen[s.name], s.path)
                 or ("strategy '%s' is selected twice"):format(s.name))
        end
        seen[s.name] = s.path
        local okc, cfg = pcall(config.load_file, s.config_path, s.config_rel, s.schema)
        if not okc then
            if config.is_error(cfg) then stop("config", cfg.config_error) end
            error(cfg, 0)
        end
        s.params = config.deep_copy(s.defaults)
        config.overlay(s.params, cfg)
        strategies[#strategies + 1] = s
    end
    local oko, oerr = pcall(config.apply_overrides, strategies, spec.params or {})
    if not oko then
        if config.is_error(oerr) then stop("config", oerr.config_error) end
        error(oerr, 0)
    end
    for _, s in ipairs(strategies) do validate_params(s) end
    local n_live = #strategies
    local n_shadow = load_shadows(spec, root, printer, strategies)

    -- the engine
    local C = opts.C or mts.C
    local e = spec.engine
    if type(e) == "userdata" then            -- the host passes a lightuserdata
        e = ffi.cast("mts_engine_t *", e)
    elseif e == nil and not opts.C then
        stop("config", "no engine")
    end
    -- the bars' interval: the spec's, else told from the first asset's
    -- spacing (the smallest over its first 200 bars, when it is an interval's
    -- length), else 1d
    local interval = spec.interval
    if interval == nil and C.mts_engine_asset_count(e) > 0 then
        local b = C.mts_engine_bars(e, 0)
        local nb, best = math.min(tonumber(b.n), 200), nil
        for k = 1, nb - 1 do
            local d = tonumber(b.ts[k] - b.ts[k - 1])
            if d > 0 and (not best or d < best) then best = d end
        end
        for name, sec in pairs(IV_SECONDS) do if sec == best then interval = name end end
    end
    interval = interval or "1d"
    local run_iv = IV_SECONDS[interval]
    if not run_iv then stop("config", ("unknown interval '%s'"):format(tostring(interval))) end
    local P = spec.provider
    if type(P) == "userdata" then P = ffi.cast("mts_provider_t *", P) end
    -- sources: what strategies asked for (macro, other intervals, funding,
    -- book); asset_srcs: the engine's assets (grown at their own bars, and at
    -- each step's start when there are several, so that one asset's strategy
    -- sees another's bar of the same step)
    local sources, nsrc = {}, 0
    local asset_srcs = {}
    local ev = ffi.new("mts_event_t")
    local stepping = false         -- true once the engine returned a bar
    local now_t = 0                -- the current step's time (the bar's ts), once stepping
    local function add_source(ts, total, lag, views)
        local src = new_source(ts, total, lag, views)
        nsrc = nsrc + 1
        sources[nsrc] = src
        -- made during a step (a view asked for in on_bar): as-of now at once
        if stepping then advance({ src }, 1, now_t + run_iv) end
        return src
    end

    local n_assets = C.mts_engine_asset_count(e)
    local assets, by_name = {}, {}
    for id = 0, n_assets - 1 do
        local name = cstr(C.mts_engine_asset_name(e, id))
        local bars = C.mts_engine_bars(e, id)
        local n = tonumber(bars.n)
        local a = { id = id, name = name, bars = bars, n = n }
        a.series = shared_series(bars, a)
        local v = a.views
        a.src = new_source(bars.ts, n, run_iv, { v.ts, v.open, v.high, v.low, v.close, v.volume })
        asset_srcs[id + 1] = a.src
        -- live: the bars there before the start are the warm-up (orders off)
        a.warm = spec.live and n or 0
        assets[id] = a
        by_name[name] = a
    end
    local loaded = {}
    for id = 0, n_assets - 1 do loaded[#loaded + 1] = assets[id].name end

    -- books (see the header) and instruments: what risk.lua needs of each
    -- asset (market, contract size, leverage), from the engine when it has
    -- them (a stand-in engine in tests may not: one book, spot)
    local function has(f)
        local okf, fn = pcall(function() return C[f] end)
        return okf and fn ~= nil
    end
    local n_books = has("mts_engine_book_count") and tonumber(C.mts_engine_book_count(e)) or 1
    local n_acct = n_books     -- the account's books (the shadows' come after them)
    if n_shadow > 0 then
        n_acct = has("mts_engine_account_books") and tonumber(C.mts_engine_account_books(e)) or n_books
        if n_books - n_acct ~= n_shadow then
            stop("config", ("the engine has %d shadow books for %d shadow strategies (one each: " ..
                 "mts_engine_add_shadow_book)"):format(n_books - n_acct, n_shadow))
        end
    end
    if n_acct ~= 1 and (mode ~= "independent" or n_acct ~= n_live) then
        stop("config", ("the engine has %d books for %d strategies in %s mode (independent: one per " ..
             "strategy; vote: one)"):format(n_acct, n_live, mode))
    end
    -- a host that asked for no mode and set up no books (an engine built by
    -- hand, as the benches and specs do) gets the one shared book it has: vote
    if spec.mode == nil and n_acct == 1 and n_live > 1 then mode = "vote" end
    local multi = n_books > 1
    local amulti = n_acct > 1  -- several account books (without shadows: multi)
    local cancel_book = multi and has("mts_engine_cancel_book")
    local have_field = pcall(ffi.offsetof, "mts_order_t", "book") and ffi.offsetof("mts_order_t", "book") ~= nil
    for _, s in ipairs(strategies) do
        if s.shadow then s.book = n_acct + s.shadow_j - 1 else s.book = amulti and s.id or 0 end
    end
    local inst = {}           -- [id] = {market, cs, lev}
    do
        local have_inst = has("mts_engine_instrument") and pcall(ffi.typeof, "mts_instrument_t")
        local ins = have_inst and ffi.new("mts_instrument_t")
        local lev = has("mts_engine_leverage") and tonumber(C.mts_engine_leverage(e)) or 1
        if not (lev > 0) then lev = 1 end
        for id = 0, n_assets - 1 do
            local rec = { market = "spot", cs = 1, lev = 1 }
            if have_inst and C.mts_engine_instrument(e, id, ins) == 0 then
                if ins.type == 1 then rec.market, rec.lev = "perp", lev end
                if ins.contract_size > 0 then rec.cs = tonumber(ins.contract_size) end
            end
            inst[id] = rec
        end
    end
    -- a book's position of asset id (one book: the account's)
    -- (one account book and shadows: the account's functions for book 0, as without shadows)
    local function book_position(b, id)
        if multi and (amulti or b >= n_acct) then return C.mts_engine_book_position(e, b, id) end
        return C.mts_engine_position(e, id)
    end
    local function book_equity(b)
        if multi and (amulti or b >= n_acct) then return C.mts_engine_book_equity(e, b) end
        return C.mts_engine_equity(e)
    end

    -- the provider (runtime/market/provider.h): data loaded on first use,
    -- once per run, shared by every strategy
    local function provider_fail(what)
        local msg = P and cstr(C.mts_provider_errmsg(P)) or ""
        error(what .. ": " .. (msg ~= "" and msg or "no data provider in this run"), 3)
    end

    local macro_cache = {}
    -- ctx.macro(name) or ctx:macro(name): the stored macro series `name`
    -- (VIX from the engine; any other from the provider), as {ts, v, n}
    -- ending at the current bar; nil when the database has no such series.
    local macro_copied = {}          -- name -> length of the engine's series when copied
    local function macro(a1, a2)
        local name = a1
        if type(a1) == "table" then name = a2 end
        if type(name) ~= "string" then error("ctx.macro: name must be a string", 2) end
        local m = macro_cache[name]
        -- live: the session appends values stored after it started (live.c
        -- vix_refresh), so a call looks again and copies a grown series anew
        if m ~= nil and not spec.live then return m or nil end
        local s = C.mts_engine_macro(e, name)
        if (s == nil or s == ffi.NULL) and P then s = C.mts_provider_macro(P, name) end
        if s == nil or s == ffi.NULL then
            macro_cache[name] = false
            return nil
        end
        local n = tonumber(s.n)
        if m and macro_copied[name] == n then return m end   -- (m.n is the visible length, not the copy's)
        local ts, v = mts.int64_vla(n), mts.double_vla(n)
        if n > 0 then
            ffi.copy(ts, s.ts, n * 8)
            ffi.copy(v, s.v, n * 8)
        end
        -- shared by every strategy: a read-only table of read-only views
        local tv, vv = mts.view_ro(ts, n, "int64_t", ts), mts.view_ro(v, n, "double", v)
        add_source(ts, n, MACRO_LAG, { tv, vv })
        m = mts.readonly({ ts = tv, v = vv }, "ctx.macro(\"" .. name .. "\")", tv)
        macro_cache[name] = m
        macro_copied[name] = n
        return m
    end

    -- ctx:bars(asset [, interval]): closed bars of any asset at the run's
    -- interval or a higher one, as-of the current bar.
    local bars_cache = {}
    -- a traded asset at a coarser interval: from the run's own bars (feed
    -- above), arrays reserved once for every coarse bar the engine's bars can
    -- give (their capacity: a live session's bars grow into it)
    local MC = mts.C
    local function own_coarse(a, iv, ivs)
        local label = ("ctx:bars(\"%s\", \"%s\")"):format(a.name, iv)
        local r = ffi.new("mts_resampler_t")
        if MC.mts_resampler_init(r, run_iv, ivs) ~= 0 then
            error(("%s: %s bars are not made of whole %s bars (the run's interval); ask for one that is"):format(
                label, iv, interval), 3)
        end
        local fine = a.bars
        local n = tonumber(fine.n)
        -- the history before the run's first coarse boundary: the provider's
        -- (none when it has nothing: the view starts at the boundary)
        local prefix = P and C.mts_provider_bars(P, a.name, iv)
        if prefix == ffi.NULL then prefix = nil end
        local cap = tonumber(MC.mts_resample_bound(fine, run_iv, ivs)) + math.max(tonumber(fine.cap) - n, 0) + 2 +
                    (prefix and tonumber(prefix.n) or 0)
        local out = ffi.new("mts_bars_t")
        local keep = { out = out, r = r }
        local function arr(ct)
            local p = MC.mts_array_alloc(cap * 8)
            if p == nil then error(("%s: out of memory reserving %d bars"):format(label, cap), 4) end
            p = ffi.gc(ffi.cast(ct, p), MC.mts_array_free)
            keep[#keep + 1] = p
            return p
        end
        out.ts, out.open, out.high, out.low = arr("int64_t *"), arr("double *"), arr("double *"), arr("double *")
        out.close, out.volume = arr("double *"), arr("double *")
        out.n, out.cap = 0, cap
        local views = {}
        for _, k in ipairs(SERIES_KEYS) do views[k] = mts.view_ro(out[k], 0, SERIES_ELEM[k], keep) end
        local src = new_source(out.ts, 0, ivs, { views.ts, views.open, views.high, views.low, views.close, views.volume })
        src.fine, src.fed, src.fine_s, src.fine_iv, src.coarse_s = fine, 0, run_iv, interval, ivs
        src.prefix, src.started = prefix or nil, false
        src.r, src.out, src.bad, src.label, src.keep = r, out, ffi.new("int64_t[1]"), label, keep
        if n > 0 then begin_coarse(src) end   -- the boundary known, the prefix copied (shown as of each step)
        nsrc = nsrc + 1
        sources[nsrc] = src
        if stepping then advance({ src }, 1, now_t + run_iv) end
        return mts.readonly(views, label, views.ts)
    end
    local function bars_view(_, name, iv)
        if type(name) ~= "string" then error("ctx:bars: asset must be a string", 2) end
        iv = iv or interval
        local ivs = IV_SECONDS[iv]
        if not ivs then error(("ctx:bars: unknown interval %s"):format(type(iv) == "string" and ("'" .. describe(iv) .. "'") or "(a " .. type(iv) .. ", not a name)"), 2) end
        if ivs < run_iv then
            error(("ctx:bars: interval %s is finer than the run's (%s): only the run's or a higher one"):format(
                iv, interval), 2)
        end
        local key = name .. "\0" .. iv
        local got = bars_cache[key]
        if got then return got end
        local a = by_name[name]
        if a and iv == interval then
            got = a.series
        elseif a then
            got = own_coarse(a, iv, ivs)
        else
            local b = P and C.mts_provider_bars(P, name, iv)
            if not b or b == ffi.NULL then provider_fail(("ctx:bars(%q, %q)"):format(name, iv)) end
            local holder = {}
            got = shared_series(b, holder, ("ctx:bars(\"%s\", \"%s\")"):format(name, iv))
            local v = holder.views
            add_source(b.ts, tonumber(b.n), ivs, { v.ts, v.open, v.high, v.low, v.close, v.volume })
        end
        bars_cache[key] = got
        return got
    end

    -- the exchange symbol of an asset: datasets.assets.<asset>.symbol in
    -- config/mts.json (bitcoin -> BTCUSDT), else the name upper-cased (the
    -- inverse of mts run's symbol -> asset rule); a symbol stays as it is.
    local symbols
    local function symbol_of(name)
        if not symbols then
            symbols = {}
            local f = io.open(root .. "/config/mts.json", "rb")
            if f then
                local text = f:read("*a")
                f:close()
                local ok, cfg = pcall(json.decode, text)
                local as = ok and type(cfg) == "table" and type(cfg.datasets) == "table" and cfg.datasets.assets
                if type(as) == "table" then
                    for k, d in pairs(as) do
                        if type(d) == "table" and type(d.symbol) == "string" then symbols[k] = d.symbol end
                    end
                end
            end
        end
        return symbols[name] or name:upper()
    end
    R.symbol_of = symbol_of

    local timed_cache = {}
    local function timed(kind, fields, cfun, label)
        return function(_, name, exchange)
            if type(name) ~= "string" then error(label .. ": asset must be a string", 2) end
            if exchange ~= nil and type(exchange) ~= "string" then error(label .. ": exchange must be a string", 2) end
            local sym = symbol_of(name)
            local key = kind .. "\0" .. sym .. "\0" .. (exchange or "")
            local got = timed_cache[key]
            if got then return got end
            local d = P and C[cfun](P, sym, exchange)
            if not d or d == ffi.NULL then provider_fail(("%s(%q)"):format(label, name)) end
            local n = tonumber(d.n)
            local views, list = {}, {}
            for _, f in ipairs(fields) do
                views[f[1]] = mts.view_ro(d[f[1]], n, f[2])
                list[#list + 1] = views[f[1]]
            end
            add_source(d.ts, n, 0, list)
            got = mts.readonly(views, ("%s(\"%s\")"):format(label, name), views.ts)
            timed_cache[key] = got
            return got
        end
    end
    local funding = timed("funding", { { "ts", "int64_t" }, { "rate", "double" }, { "mark_price", "double" },
                                       { "next_funding", "int64_t" } }, "mts_provider_funding", "ctx:funding")
    local book = timed("book", { { "ts", "int64_t" }, { "bid", "double" }, { "ask", "double" }, { "mid", "double" },
                                 { "spread", "double" }, { "imbalance", "double" } }, "mts_provider_book", "ctx:book")

    -- slots: one per (strategy, asset); by_asset[id + 1] = array of slots (1-based:
    -- index 0 would live in the hash part)
    local by_asset = {}
    for id = 0, n_assets - 1 do by_asset[id + 1] = {} end
    local disabled = {}

    local function disable(s, msg)
        if not s.enabled then return end
        s.enabled = false
        s.message = msg
        disabled[#disabled + 1] = s.name .. ": " .. msg
        log("warn", "strategy.disabled", { strategy = s.name, message = msg })
        -- a live session raises the strategy_disabled alert (alerts/alerts.h); never
        -- a reason for the run to fail
        if spec.live ~= nil then
            pcall(function()
                C.mts_live_strategy_disabled(ffi.cast("mts_live_t *", spec.live), s.name, tostring(msg))
            end)
        end
    end

    for _, s in ipairs(strategies) do
        local list = {}
        local want = s.params.assets
        if want ~= nil then
            for _, an in ipairs(want) do
                if by_name[an] then list[#list + 1] = by_name[an] end
            end
            if #list == 0 then
                stop("config", ("%s: none of its assets (%s) is loaded (loaded: %s); add one with --asset " ..
                     "or override with --param %s.assets=NAME,..."):format(s.name, table.concat(want, ", "),
                     table.concat(loaded, ", "), s.name))
            end
        else
            for id = 0, n_assets - 1 do list[#list + 1] = assets[id] end
        end
        s.slots = {}
        for _, a in ipairs(list) do
            -- params: the strategy's own copy (the report uses s.params)
            local ctx = setmetatable({
                asset = a.name, asset_id = a.id, strategy = s.name, params = config.deep_copy(s.params),
                n = 0, series = a.series, macro = macro, state = {},
                bars = bars_view, funding = funding, book = book,
                i = -1, time = 0, close = NaN,
            }, CTX_MT)
            local aid = a.id
            if multi and (amulti or s.shadow) then
                local b = s.book
                ctx.position = function() return C.mts_engine_book_position(e, b, aid) end
            else
                ctx.position = function() return C.mts_engine_position(e, aid) end
            end
            local slot = { strat = s, asset = a.name, asset_id = a.id, ctx = ctx, bars = a.bars,
                           on_bar = s.on_bar, analyze = s.analyze, generate = s.generate,
                           warm = a.warm, a = a }
            s.slots[#s.slots + 1] = slot
        end
    end

    -- init, per (strategy, asset), before the first event
    for _, s in ipairs(strategies) do
        if s.init then
            for _, slot in ipairs(s.slots) do
                if not s.enabled then break end
                local ok, err = scall(s.id, s.init, slot.ctx)
                if not ok then disable(s, tostring(err) .. " (in init, " .. slot.asset .. ")") end
            end
        end
        if s.enabled then
            for _, slot in ipairs(s.slots) do
                local list = by_asset[slot.asset_id + 1]
                list[#list + 1] = slot
            end
        end
    end

    -- ---- the loop -----------------------------------------------------------------------------
    local order = ffi.new("mts_order_t")
    local pending, npending = {}, 0
    local pool = {}        -- record tables, reused: pool[k] serves the k-th signal of a step
    -- the view of each book risk.plan reads (views[book + 1]), refreshed at
    -- each signal step
    local views = {}
    for b = 1, n_books do views[b] = { equity = 0, exposure = 0, position = 0, market = "spot",
                                       leverage = 1, contract_size = 1 } end

    local function engine_fail(what, rc)
        local msg = cstr(C.mts_engine_errmsg(e)) or ""
        if msg == "" then msg = mts.strerror(rc) end
        error(("engine: %s failed: %s"):format(what, msg), 0)
    end

    local function strategy_error(slot, phase, i, err)
        local t = slot.bars.ts[i]
        disable(slot.strat, ("%s (in %s, %s bar %s)"):format(tostring(err), phase, slot.asset, iso(t)))
    end

    -- the reference equity of the signal bounds: the strategy's book's
    for _, s in ipairs(strategies) do
        local b = s.book
        local start = book_equity(b)
        s.ref_equity = function() return math.max(start, book_equity(b)) end
    end

    -- The signal(s) a strategy call returned. Reads only the plain tables it
    -- got (check_signal, make_records): no code of the strategy's runs here.
    local function collect(slot, i, phase, sig)
        local s = slot.strat
        if s.paused then           -- paused by an attached client (control.lua): dropped, counted
            s.paused_dropped = (s.paused_dropped or 0) + 1
            return
        end
        local close = slot.bars.close[i]
        local err
        if type(sig) == "table" and getmetatable(sig) == nil and sig.signal_type == nil and sig[1] ~= nil then
            local recs
            recs, err = make_records(s, slot, sig, close, s.ref_equity)
            if recs then
                for k = 1, #recs do
                    npending = npending + 1
                    if npending == 1 then C.mts_engine_step_events(e, 1) end
                    pending[npending] = recs[k]
                end
                return
            end
        else                                                   -- one signal: the usual case
            err = check_signal(slot, sig, close, s.ref_equity)
            if not err then
                npending = npending + 1
                -- the first signal of a step asks the engine for this step's STEP_END
                if npending == 1 then C.mts_engine_step_events(e, 1) end
                local rec = new_record(s, slot, sig, close, pool[npending])
                pool[npending] = rec
                pending[npending] = rec
                return
            end
        end
        strategy_error(slot, phase, i, s.rel .. ": bad signal: " .. err)
    end

    -- The step's orders. A step with one signal (the usual case) goes
    -- through no loop: a loop run once per call is one LuaJIT cannot compile
    -- (its root trace "leaves the loop" and is aborted, again at every try),
    -- and in a live session, where a signal step is rare, every try and
    -- every interpreted pass lands in the kline -> order latency.
    local function log_signal(p)
        local rc = C.mts_engine_log_signal(e, p.asset_id, p.strategy, SIG_CODE[p.signal_type],
            p.price, p.confidence, p.position_size or NaN, p.stop_loss or NaN, p.take_profit or NaN)
        if rc ~= 0 then engine_fail("log_signal", rc) end
    end

    local function cancel(a, b)
        local rc
        if cancel_book then rc = C.mts_engine_cancel_book(e, a.asset_id, b)
        else rc = C.mts_engine_cancel(e, a.asset_id) end
        if rc < 0 then engine_fail("cancel", rc) end
    end

    -- What risk.lua limited, counted for the strategy the order is attributed to.
    local function count(st, what)
        if what == "trimmed" then st.risk_trimmed = st.risk_trimmed + 1
        elseif what == "refused" then st.risk_refused = st.risk_refused + 1
        elseif what == "short_refused" then st.short_refused = st.short_refused + 1 end
    end

    -- One aggregated signal -> its order in its book (the book's view, kept
    -- current). cancelled: the asset's pending orders of the book were
    -- withdrawn already this step (a step of several books cancels first,
    -- then submits: see flush).
    local function place(a, cancelled)
        local st = strategies[a.strategy + 1]
        local b = st.book
        local view = views[b + 1]
        if a.signal_type == "CLOSE" and not cancelled then
            -- closing also withdraws resting entries (limit/stop) on the asset
            cancel(a, b)
        end
        local ins = inst[a.asset_id]
        view.market, view.leverage, view.contract_size = ins.market, ins.lev, ins.cs
        view.position = book_position(b, a.asset_id)
        local o, _, limited = risk.plan(a, view, limits)
        if o then limited = o.count end
        if limited then count(st, limited) end
        if o then
            local otype = ORDER_CODE[a.order_type or "MARKET"]
            if otype ~= 0 and not cancelled then
                -- a new resting order replaces the asset's pending ones
                cancel(a, b)
            end
            order.asset = a.asset_id
            order.type = otype
            order.strategy = a.strategy
            if have_field then order.book = b end
            order.qty = o.qty
            order.price = otype ~= 0 and a.order_price or 0
            order.stop_loss = o.stop_loss
            order.take_profit = o.take_profit
            order.stop_loss_pct = o.stop_loss_pct
            order.take_profit_pct = o.take_profit_pct
            local rc = C.mts_engine_submit(e, order)
            if rc == 0 then
                view.exposure = o.exposure_after
            elseif rc == EINVAL or rc == ERANGE then
                -- the engine's own bounds (engine.h): a refused order stops
                -- the strategy it is attributed to, not the run
                local msg = cstr(C.mts_engine_errmsg(e)) or ""
                if msg == "" then msg = mts.strerror(rc) end
                disable(st, ("order refused by the engine: %s (%s, step %s)"):format(
                    msg, a.asset, iso(C.mts_engine_now(e))))
            else
                engine_fail("submit", rc)
            end
        end
    end

    -- The view of book b risk.plan reads: its equity and exposure (|qty| *
    -- contract size * mark / leverage over its positions). With every asset
    -- spot this is the sum of |qty * mark| in asset order, as before books.
    local function book_view(b)
        local view = views[b + 1]
        local gross = 0
        if n_assets == 1 then
            local q = book_position(b, 0)
            if q ~= 0 then
                local ins = inst[0]
                if ins.market == "spot" and ins.cs == 1 then gross = gross + math.abs(q * C.mts_engine_mark(e, 0))
                else gross = gross + math.abs(q) * ins.cs * C.mts_engine_mark(e, 0) / ins.lev end
            end
        else
            for id = 0, n_assets - 1 do
                local q = book_position(b, id)
                if q ~= 0 then
                    local ins = inst[id]
                    if ins.market == "spot" and ins.cs == 1 then gross = gross + math.abs(q * C.mts_engine_mark(e, id))
                    else gross = gross + math.abs(q) * ins.cs * C.mts_engine_mark(e, id) / ins.lev end
                end
            end
        end
        view.equity = book_equity(b)
        view.exposure = gross
    end

    -- spec.decisions (POST /signals/generate, runtime/backtest/decide.h): per
    -- asset id, the last step with signals: {ts, n = raw signals, list = the
    -- aggregates (empty: they cancelled out)}. Only signal steps pay for it.
    local decisions = spec.decisions and {} or nil
    local function dec_raw(p)
        local now = tonumber(C.mts_engine_now(e))
        local d = decisions[p.asset_id]
        if not d or d.ts ~= now then
            d = { ts = now, n = 0, list = {} }
            decisions[p.asset_id] = d
        end
        d.n = d.n + 1
    end
    local function dec_agg(a)
        local d = decisions[a.asset_id]
        local ids = {}
        if type(a.strategies) == "table" then
            for k, id in ipairs(a.strategies) do ids[k] = id end
        else
            ids[1] = a.strategy
        end
        d.list[#d.list + 1] = { strategy = a.strategy, strategies = ids, signal_type = a.signal_type,
            price = a.price, confidence = a.confidence or 1, position_size = a.position_size,
            stop_loss = a.stop_loss, take_profit = a.take_profit }
    end

    local sigs = {}        -- reused by every flush
    local lone = {}        -- the aggregate of a step with one enabled signal of several
    local by_strat = {}    -- independent, several books: the step's signals per strategy

    -- A step's signals of shadow strategies (sigs[1..nsigs]): taken out of
    -- sigs (the live ones stay, in order: returns how many), each shadow's
    -- aggregated alone and placed in its own book (its cancels first, as
    -- several books do below). Only steps with several signals and shadows.
    local function place_shadows(nsigs)
        local m, order_s = 0, nil
        for j = 1, nsigs do
            local p = sigs[j]
            sigs[j] = nil
            local st = p.strat
            if st.shadow then
                local g = by_strat[st]
                if not g then
                    g = {}
                    by_strat[st] = g
                    order_s = order_s or {}
                    order_s[#order_s + 1] = st
                end
                g[#g + 1] = p
            else
                m = m + 1
                sigs[m] = p
            end
        end
        if not order_s then return m end
        for _, st in ipairs(order_s) do
            local g = by_strat[st]
            by_strat[st] = nil
            local agg = #g == 1 and g or aggregator.aggregate(g)
            if decisions then for _, a in ipairs(agg) do dec_agg(a) end end
            for _, a in ipairs(agg) do
                if a.signal_type == "CLOSE" or ORDER_CODE[a.order_type or "MARKET"] ~= 0 then cancel(a, st.book) end
            end
            book_view(st.book)
            for _, a in ipairs(agg) do place(a, true) end
        end
        return m
    end
    local function flush()
        if npending == 1 then
            -- a lone signal is its own aggregate (aggregator.lua: it wins on
            -- its own, and every field risk.plan and the order read is the
            -- signal's): no result tables to build
            local p = pending[1]
            pending[1] = nil
            npending = 0
            C.mts_engine_step_events(e, 0)
            if not p.strat.enabled then return end
            log_signal(p)
            if decisions then dec_raw(p); dec_agg(p) end
            book_view(p.strat.book)
            place(p)
            return
        end
        local nsigs = 0
        for j = 1, npending do
            local p = pending[j]
            pending[j] = nil
            if p.strat.enabled then
                nsigs = nsigs + 1
                sigs[nsigs] = p
                log_signal(p)
                if decisions then dec_raw(p) end
            end
        end
        npending = 0
        C.mts_engine_step_events(e, 0)
        if nsigs == 0 then return end
        if n_shadow > 0 then
            nsigs = place_shadows(nsigs)
            if nsigs == 0 then return end
        end
        if mode == "independent" and n_live > 1 then
            -- each strategy's signals aggregated among its own only, in the
            -- order of their first signal of the step
            local order_s = {}
            for j = 1, nsigs do
                local st = sigs[j].strat
                local g = by_strat[st]
                if not g then
                    g = {}
                    by_strat[st] = g
                    order_s[#order_s + 1] = st
                end
                g[#g + 1] = sigs[j]
                sigs[j] = nil
            end
            local todo = {}
            for _, st in ipairs(order_s) do
                local g = by_strat[st]
                by_strat[st] = nil
                local agg = #g == 1 and g or aggregator.aggregate(g)
                for _, a in ipairs(agg) do
                    todo[#todo + 1] = a
                    if decisions then dec_agg(a) end
                end
            end
            if #todo == 0 then return end
            -- several books: every cancel of the step first, then the orders,
            -- so that one book's CLOSE never withdraws an order another book
            -- placed in the same step (an engine without a per-book cancel
            -- still withdraws the other books' orders resting from earlier
            -- steps on that asset)
            local cancelled = false
            if multi then
                for _, a in ipairs(todo) do
                    if a.signal_type == "CLOSE" or ORDER_CODE[a.order_type or "MARKET"] ~= 0 then
                        cancel(a, strategies[a.strategy + 1].book)
                    end
                end
                cancelled = true
            end
            local fresh = {}
            for _, a in ipairs(todo) do
                local b = strategies[a.strategy + 1].book
                if not fresh[b] then
                    fresh[b] = true
                    book_view(b)
                end
                place(a, cancelled)
            end
            return
        end
        local agg
        if nsigs == 1 then
            lone[1] = sigs[1]
            agg = lone
        else
            agg = aggregator.aggregate(sigs)
        end
        for j = 1, nsigs do sigs[j] = nil end
        if decisions then for _, a in ipairs(agg) do dec_agg(a) end end
        if #agg == 0 then return end
        book_view(0)
        for _, a in ipairs(agg) do place(a) end
    end

    -- ---- live sessions: waiting for bars, reloading strategies ------------------------------
    local LV = spec.live
    if type(LV) == "userdata" then LV = ffi.cast("mts_live_t *", LV) end
    local reload_out = LV and ffi.new("int32_t[1]")
    -- aggregator.lua and risk.lua, hot-reloaded (issue 14): the versions in
    -- the root (a replay's root holds the recorded ones). A broken version
    -- is refused and the running one kept.
    local lib_watch = {}
    local function load_lib(name)
        local rel = "scripts/lib/" .. name .. ".lua"
        local fn, err = loadfile(root .. "/" .. rel)
        if not fn then return nil, tostring(err) end
        local ok, mod = pcall(fn, name)
        if not ok then return nil, ("%s (while loading %s)"):format(tostring(mod), rel) end
        if type(mod) ~= "table" then return nil, rel .. ": must return a table, got " .. type(mod) end
        local need = name == "aggregator" and { "aggregate" } or { "plan", "limits" }
        for _, f in ipairs(need) do
            if type(rawget(mod, f)) ~= "function" then return nil, rel .. ": " .. f .. "() is missing" end
        end
        return mod
    end
    local function reload_lib(name, quiet)
        local mod, err = load_lib(name)
        if not mod then
            log("error", "lib.reload_failed", { file = "scripts/lib/" .. name .. ".lua", message = err })
            printer(name, "reload failed, keeping the running version: " .. err)
            return false
        end
        if name == "aggregator" then aggregator = mod else risk = mod end
        if not quiet then log("info", "lib.reloaded", { file = "scripts/lib/" .. name .. ".lua" }) end
        return true
    end
    -- config/mts.json's "risk" limits, reloaded with the file (a live session;
    -- not when the host gave the limits): recomputed by the same rule as at
    -- the start (command line > environment > the file), a file or value that
    -- does not validate keeps the limits in force and says why.
    local site_watch
    local function limits_text(l)
        return ("max_position %s, max_portfolio_risk %s"):format(tostring(l.max_position_size),
                                                                  tostring(l.max_portfolio_risk))
    end
    local function reload_limits()
        config.site_forget(root)
        local okr, site_risk = pcall(config.site_risk, root)
        local new, nerr
        if okr then
            new, nerr = risk.limits(nil, site_risk, { max_position_size = tonumber(spec.max_position),
                                                      max_portfolio_risk = tonumber(spec.max_portfolio_risk) })
        else
            nerr = config.is_error(site_risk) and site_risk.config_error or tostring(site_risk)
        end
        if not new then
            log("error", "risk.limits_reload_failed", { file = "config/mts.json", message = nerr })
            printer("risk", "config/mts.json reload failed, keeping the limits in force (" .. limits_text(limits) ..
                    "): " .. tostring(nerr))
            return
        end
        if new.max_position_size == limits.max_position_size and new.max_portfolio_risk == limits.max_portfolio_risk then
            return
        end
        log("info", "risk.limits_changed", { file = "config/mts.json", max_position = new.max_position_size,
                                             max_portfolio_risk = new.max_portfolio_risk })
        printer("risk", "limits now " .. limits_text(new) .. " (were " .. limits_text(limits) .. ")")
        limits = new
    end
    if LV then
        -- live.c watches at most MTS_LIVE_MAX_WATCH (30) files (a reload mask is
        -- 32 bits): the shared ones first; a file beyond the limit is said once
        local function watch(path)
            local w = C.mts_live_watch(LV, path)
            if w < 0 then
                log("warn", "live.watch_failed", { file = path, message = mts.strerror(w) })
                printer("live", ("%s is not watched (%s: at most 30 files are): edits reload it only with SIGHUP"):format(
                    path, mts.strerror(w)))
                return nil
            end
            return w
        end
        for _, name in ipairs({ "aggregator", "risk" }) do
            if config.stat(root .. "/scripts/lib/" .. name .. ".lua") ~= 0 then reload_lib(name, true) end
            lib_watch[name] = watch(root .. "/scripts/lib/" .. name .. ".lua")
        end
        if not opts.limits then site_watch = watch(root .. "/config/mts.json") end
        for _, s in ipairs(strategies) do
            s.watch = watch(s.path)   -- the file load_strategy read (a path outside the tree too)
            s.cwatch = watch(s.config_path)
        end
        -- the C functions of a signal step, looked up now: LuaJIT aborts a
        -- trace that meets an FFI symbol not looked up before ("symbol not in
        -- cache"), and the first signal steps of a session would pay for that
        for _, f in ipairs({ "mts_engine_step_events", "mts_engine_log_signal", "mts_engine_position",
                             "mts_engine_mark", "mts_engine_equity", "mts_engine_cancel",
                             "mts_engine_submit" }) do
            local _ = C[f]
        end
        if multi then
            for _, f in ipairs({ "mts_engine_book_position", "mts_engine_book_equity" }) do
                local _ = C[f]
            end
            if cancel_book then local _ = C.mts_engine_cancel_book end
        end
    end

    -- After a wait that appended bars: the new lengths, in the views too.
    local function grow()
        for id = 0, n_assets - 1 do
            local a = assets[id]
            local n = tonumber(a.bars.n)
            -- also when nothing was appended (the same values): no branch that
            -- live.c's rehearsal rounds, which append nothing, would not take
            a.n = n
            a.src.total = n      -- the views grow when the engine steps to the new bars
        end
    end

    -- Hot reload of strategy s: the new source in a new sandboxed
    -- environment; per slot a fresh ctx, init, the bars so far replayed with
    -- signals dropped (the state the new version would have had), then
    -- on_reload(ctx, old_state) if defined. Anything failing keeps the old
    -- version running; the error is logged with its file:line. The
    -- parameters are the new version's (params_of): an edit of
    -- config/strategies/<name>.json reloads its strategy the same way.

    -- The parameters of a (new) version: its defaults, config/strategies/<name>.json,
    -- the command line's --param (a config edit is a parameter change); nil and
    -- the message when the config does not validate.
    local function params_of(s, ns)
        local live_names = {}
        for k = 1, n_live do live_names[strategies[k].name] = true end
        if s.shadow then return shadow_params(s, ns, spec.params, live_names) end
        return version_params(ns, spec.params, live_names, { s.control_params or {} })   -- an attached client's set
    end

    local function reload(s)
        local okl, ns = pcall(load_strategy, root, s.arg or s.name, s.id, printer)
        if not okl then
            local msg = type(ns) == "table" and ns.run_error or tostring(ns)
            log("error", "strategy.reload_failed", { strategy = s.name, file = s.rel, message = msg })
            printer(s.name, "reload failed, keeping the running version: " .. msg)
            return false, msg
        end
        local new_params, perr = params_of(s, ns)
        if not new_params then
            log("error", "strategy.reload_failed", { strategy = s.name, file = ns.config_rel, message = perr })
            printer(s.name, "reload failed, keeping the running version: " .. perr)
            return false, perr
        end
        local newctx = {}
        for k, slot in ipairs(s.slots) do
            local old = slot.ctx
            local a = slot.a
            local ctx = setmetatable({
                asset = old.asset, asset_id = old.asset_id, strategy = s.name,
                params = config.deep_copy(new_params),
                n = a.n, series = a.series, macro = old.macro, state = {},
                bars = old.bars, funding = old.funding, book = old.book,
                i = -1, time = 0, close = NaN, position = old.position,
            }, CTX_MT)
            local now_k = a.src.k
            local function fail(phase, err)
                grow_bars(a.src, now_k)          -- the views as of now again
                local msg = ("%s (in %s, %s)"):format(tostring(err), phase, slot.asset)
                log("error", "strategy.reload_failed", { strategy = s.name, file = s.rel, message = msg })
                return false, msg
            end
            grow_bars(a.src, 0)                  -- init sees no bars, as at the start
            if ns.init then
                local ok, err = scall(s.id, ns.init, ctx)
                if not ok then return fail("init", err) end
            end
            local bars = slot.bars
            for i = 0, now_k - 1 do
                -- the replay shows bar i as the step did: views ending at i
                -- (the other sources stay as of now)
                grow_bars(a.src, i + 1)
                ctx.i = i
                ctx.n = i + 1
                ctx.time = tonumber(bars.ts[i])
                ctx.close = bars.close[i]
                if ns.on_bar then
                    local ok, err = scall(s.id, ns.on_bar, ctx, slot.asset, i)
                    if not ok then return fail("on_bar replay", err) end
                else
                    local ok, an = scall(s.id, ns.analyze, ctx)
                    if not ok then return fail("analyze replay", an) end
                    local ok2, err = scall(s.id, ns.generate, an)
                    if not ok2 then return fail("generate_signals replay", err) end
                end
            end
            grow_bars(a.src, now_k)
            local on_reload = rawget(ns.mod, "on_reload")
            if type(on_reload) == "function" then
                local ok, err = scall(s.id, on_reload, ctx, old.state)
                if not ok then return fail("on_reload", err) end
            end
            newctx[k] = ctx
        end
        -- all good: the new version takes over from the next bar
        s.mod, s.init, s.on_bar, s.analyze, s.generate = ns.mod, ns.init, ns.on_bar, ns.analyze, ns.generate
        if json.encode(new_params) ~= json.encode(s.params) then
            log("info", "strategy.params_changed", { strategy = s.name, params = json.encode(new_params) })
        end
        s.params, s.schema, s.defaults, s.declared = new_params, ns.schema, ns.defaults, ns.declared
        for k, slot in ipairs(s.slots) do
            slot.ctx = newctx[k]
            slot.on_bar, slot.analyze, slot.generate = ns.on_bar, ns.analyze, ns.generate
        end
        if not s.enabled and s.in_loop then
            s.enabled = true
            s.message = nil
        end
        log("info", "strategy.reloaded", { strategy = s.name, file = s.rel })
        return true
    end

    for _, s in ipairs(strategies) do
        if s.enabled then s.in_loop = true end
    end

    -- An attached client's request (the wait returned 3; control.lua answers it,
    -- live.c logs, records and replays the write ones). Never stops the session.
    local ctl
    local function control_request()
        ctl = ctl or control.new({ C = C, LV = LV, e = e, strategies = strategies, reload = reload,
                                   interval = interval })
        local req = C.mts_live_control_request(LV)
        local ok, res, good = pcall(ctl.handle, ctl, req ~= nil and ffi.string(req) or "")
        if not ok then res, good = "internal error: " .. tostring(res), false end
        C.mts_live_control_reply(LV, res, good and 1 or 0)
    end

    -- STEP_END only for steps with signals (collect turns it on, flush off)
    C.mts_engine_step_events(e, 0)

    -- Quiet bars (engine.h): after a bar with no signal, the engine says how
    -- many of the asset's next bars need nothing from it but marks and equity
    -- points; the strategies run over them here, bar by bar as usual, and one
    -- mts_engine_skip catches the engine up — before anything that reads it
    -- (a signal's checks, the step's end), so every strategy call sees what
    -- it would have seen with one next() per bar. Backtests only (a live
    -- session's bars grow; the engine refuses them anyway).
    local QUIET_MAX = 1023
    local quiet = false
    if not LV then      -- (a stand-in engine in tests may not have them)
        local okq, fq = pcall(function() return C.mts_engine_quiet end)
        quiet = okq and fq ~= nil
    end
    local rc, step_t
    local quiet_aid, quiet_i = -1, -1      -- in a quiet run: its asset and the engine's bar
    local nslots = {}
    for id = 0, n_assets - 1 do nslots[id + 1] = #by_asset[id + 1] end

    -- The engine is behind by the bars of the quiet run up to bar i: catch up.
    local function catch_up(i)
        local rs = C.mts_engine_skip(e, quiet_aid, i - quiet_i)
        quiet_aid, quiet_i = -1, -1
        if rs ~= 0 then engine_fail("skip", rs) end
    end

    -- Bar i of asset aid, at step time t: the views grow to the bars closed
    -- by now (look-ahead guard), then every enabled strategy on the asset.
    local function step_bar(aid, i, t)
        if nsrc > 0 or n_assets > 1 then
            if t ~= step_t then
                step_t = t
                if nsrc > 0 then advance(sources, nsrc, t + run_iv) end
                if n_assets > 1 then advance(asset_srcs, n_assets, t + run_iv) end
            end
        end
        local asrc = asset_srcs[aid + 1]
        if asrc.k ~= i + 1 then grow_bars(asrc, i + 1) end
        local list = by_asset[aid + 1]
        for k = 1, nslots[aid + 1] do
            local slot = list[k]
            local s = slot.strat
            if s.enabled then
                local ctx = slot.ctx
                local bars = slot.bars
                ctx.i = i
                ctx.n = i + 1
                ctx.time = tonumber(bars.ts[i])
                ctx.close = bars.close[i]
                local on_bar = slot.on_bar
                if on_bar then
                    local ok, sig = scall(s.id, on_bar, ctx, slot.asset, i)
                    if not ok then
                        strategy_error(slot, "on_bar", i, sig)
                    elseif sig ~= nil and i >= slot.warm then
                        if quiet_i >= 0 then catch_up(i) end
                        collect(slot, i, "on_bar", sig)
                    end
                else
                    local ok, analysis = scall(s.id, slot.analyze, ctx)
                    if not ok then
                        strategy_error(slot, "analyze", i, analysis)
                    else
                        local ok2, sig = scall(s.id, slot.generate, analysis)
                        if not ok2 then
                            strategy_error(slot, "generate_signals", i, sig)
                        elseif sig ~= nil and i >= slot.warm then
                            if quiet_i >= 0 then catch_up(i) end
                            collect(slot, i, "generate_signals", sig)
                        end
                    end
                end
            end
        end
    end

    -- One loop, two branches (a loop inside it would keep LuaJIT from
    -- compiling it): the next bar of a quiet run, or the engine's next event.
    local qj, qlast, qts = -1, -1, nil      -- quiet run: last bar run, its last bar, its asset's ts
    while true do
    while true do
        if quiet_i >= 0 then
            local j = qj + 1
            qj = j
            local tj = tonumber(qts[j])
            now_t = tj
            step_bar(quiet_aid, j, tj)
            -- (a signal caught the engine up already: then next() ends the step)
            if j == qlast and quiet_i >= 0 then catch_up(j) end
        else
            rc = C.mts_engine_next(e, ev)   -- through the namespace: faster than a cached pointer
            if rc ~= 1 then break end
            local kind = ev.kind
            if kind == EV_BAR then
                stepping = true
                local aid = ev.asset
                local i = tonumber(ev.index)
                local t = tonumber(ev.ts)
                now_t = t
                step_bar(aid, i, t)
                if quiet and npending == 0 then
                    local q = tonumber(C.mts_engine_quiet(e, aid, QUIET_MAX))
                    if q > 0 then
                        quiet_aid, quiet_i = aid, i
                        qj, qlast, qts = i, i + q, assets[aid].bars.ts
                    end
                end
            elseif kind == EV_STEP_END then
                if npending > 0 then flush() end
            end
        end
    end
    if rc < 0 or not LV then break end
    -- live: the engine has no event; commit the step and wait for bars
    local w = C.mts_live_wait(LV, reload_out)
    if w == 1 then
        grow()
    elseif w == 2 then
        local mask = reload_out[0]
        local function hit(w) return mask == -1 or (w and w >= 0 and bit.band(mask, bit.lshift(1, w)) ~= 0) end
        for _, name in ipairs({ "aggregator", "risk" }) do
            if hit(lib_watch[name]) then reload_lib(name) end
        end
        if hit(site_watch) then reload_limits() end
        for _, s in ipairs(strategies) do
            if hit(s.watch) or hit(s.cwatch) then reload(s) end
        end
    elseif w == 3 then
        control_request()
    elseif w == 0 then
        break
    else
        error(("live session: %s"):format(mts.strerror(w)), 0)
    end
    end
    if rc < 0 then engine_fail("next", rc) end

    local params, shadows = {}, {}
    for _, s in ipairs(strategies) do
        if s.shadow then
            shadows[#shadows + 1] = { label = s.label, strategy = s.base, book = s.book, params = report_params(s) }
        else
            params[s.name] = report_params(s)
        end
    end
    local counts = {}
    for k, s in ipairs(strategies) do
        counts[k] = { trimmed = s.risk_trimmed, refused = s.risk_refused, short_refused = s.short_refused }
    end
    return {
        parameters = params,
        parameters_json = json.encode(params),
        disabled = disabled,
        strategies = strategies,
        risk = counts,
        mode = mode,
        limits = limits,
        decisions = decisions,
        shadows = shadows,
        shadows_json = #shadows > 0 and json.encode(shadows) or nil,
    }
end

local function keep_traceback(err)
    if type(err) == "table" and err.run_error then return err end
    return debug.traceback(tostring(err), 2)
end

function R.run(spec, opts)
    local ok, res = xpcall(function() return run(spec, opts) end, keep_traceback)
    if ok then return res end
    if type(res) == "table" and res.run_error then return nil, res.run_error, res.kind end
    error(res, 0)
end

-- The same, raising nothing for run-stopping errors but returning the pieces
-- the C bridge converts: ok(bool), parameters_json | message, disabled lines | kind,
-- and on success the risk counts per strategy (an array of
-- {trimmed, refused, short_refused}), then (spec.decisions) an array of
-- {asset_id, ts, n, list} (run's decisions, by asset id), then (spec.shadows)
-- the shadows as JSON: [{label, strategy, book, params}].
function R.run_for_host(spec)
    local res, msg, kind = R.run(spec)
    if not res then return false, msg, kind end
    local dec
    if res.decisions then
        dec = {}
        for id, d in pairs(res.decisions) do
            dec[#dec + 1] = { asset_id = id, ts = d.ts, n = d.n, list = d.list }
        end
        table.sort(dec, function(x, y) return x.asset_id < y.asset_id end)
    end
    return true, res.parameters_json, res.disabled, res.risk, dec, res.shadows_json
end

return R
