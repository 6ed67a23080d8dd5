-- fake_engine.lua — a stand-in for runtime/engine/engine.c in Lua, with the
-- mts_engine_* functions the runner calls, so runner.lua can be tested under
-- busted without the C engine. It follows engine.h's event contract in the
-- simplest form: steps of equal timestamps, MTS_EV_BAR per asset in asset
-- order, then MTS_EV_STEP_END; a MARKET order submitted during a step fills
-- at the asset's next bar open, before that bar is returned. No commission,
-- no slippage, no stop-loss/take-profit execution (orders are recorded with
-- their stop fields so tests can inspect them).
--
-- Bars are real cdata (mts_bars_t with double/int64 arrays), as the runner
-- and strategies read them through the FFI.
local ffi = require "ffi"
require "mts"   -- ffi.cdef of mts_ffi.h

local F = {}

local function to_bars(spec)
    local n = #spec.close
    local b = ffi.new("mts_bars_t")
    local keep = {}
    local function arr(ct, src, default)
        local a = ffi.new(ct, math.max(n, 1))
        for i = 1, n do a[i - 1] = src and src[i] or default(i) end
        keep[#keep + 1] = a
        return a
    end
    b.ts = arr("int64_t[?]", spec.ts, function(i) return (i - 1) * 86400 end)
    b.close = arr("double[?]", spec.close)
    b.open = arr("double[?]", spec.open or spec.close)
    b.high = arr("double[?]", spec.high or spec.close)
    b.low = arr("double[?]", spec.low or spec.close)
    b.volume = arr("double[?]", spec.volume, function() return 0 end)
    b.n, b.cap = n, n
    return b, keep
end

-- assets: array of {name=, close={...}, open=?, ts=? (unix seconds; default
-- day i-1)}; macros: {NAME = {ts={...}, v={...}}}; capital (default 100000).
function F.new(assets, macros, capital)
    local E = { assets = {}, macros = {}, keep = {}, orders = {}, fills = {}, signals = {},
                cash = capital or 100000, submit_rc = 0 }
    for id, a in ipairs(assets) do
        local b, keep = to_bars(a)
        E.keep[#E.keep + 1] = keep
        E.assets[id - 1] = { name = a.name, bars = b, pos = 0, mark = 0, next = 0, pending = {} }
    end
    E.n_assets = #assets
    for name, m in pairs(macros or {}) do
        local n = #m.v
        local s = ffi.new("mts_series_t")
        local ts, v = ffi.new("int64_t[?]", math.max(n, 1)), ffi.new("double[?]", math.max(n, 1))
        for i = 1, n do ts[i - 1] = m.ts[i]; v[i - 1] = m.v[i] end
        s.ts, s.v, s.n, s.cap = ts, v, n, n
        E.keep[#E.keep + 1] = { ts, v }
        E.macros[name] = s
    end
    -- all distinct timestamps, ascending
    local seen, times = {}, {}
    for id = 0, E.n_assets - 1 do
        local b = E.assets[id].bars
        for i = 0, tonumber(b.n) - 1 do
            local t = tonumber(b.ts[i])
            if not seen[t] then seen[t] = true; times[#times + 1] = t end
        end
    end
    table.sort(times)
    E.times, E.step, E.queue, E.now = times, 0, {}, 0

    local C = {}
    E.C = C

    local function equity()
        local eq = E.cash
        for id = 0, E.n_assets - 1 do
            local a = E.assets[id]
            eq = eq + a.pos * a.mark
        end
        return eq
    end

    local function fill(id, i)
        local a = E.assets[id]
        local px = a.bars.open[i]
        for _, o in ipairs(a.pending) do
            a.pos = a.pos + o.qty
            E.cash = E.cash - o.qty * px
            E.fills[#E.fills + 1] = { asset = a.name, qty = o.qty, price = px, bar = i,
                                      strategy = o.strategy }
        end
        a.pending = {}
    end

    function C.mts_engine_next(_, ev)
        while true do
            if #E.queue > 0 then
                local item = table.remove(E.queue, 1)
                if item == "end" then
                    E.equity_curve = E.equity_curve or {}
                    E.equity_curve[#E.equity_curve + 1] = equity()
                    -- like the engine: STEP_END only when asked for (mts_engine_step_events)
                    if E.step_events == 0 then return C.mts_engine_next(nil, ev) end
                    ev.kind, ev.asset, ev.index, ev.ts = 2, -1, -1, E.now
                    return 1
                end
                local a = E.assets[item.id]
                fill(item.id, item.i)
                a.mark = a.bars.close[item.i]
                a.next = item.i + 1
                ev.kind, ev.asset, ev.index, ev.ts = 1, item.id, item.i, E.now
                return 1
            end
            E.step = E.step + 1
            local t = E.times[E.step]
            if t == nil then
                ev.kind = 0
                return 0
            end
            E.now = t
            for id = 0, E.n_assets - 1 do
                local a = E.assets[id]
                local b = a.bars
                if a.next < tonumber(b.n) and tonumber(b.ts[a.next]) == t then
                    E.queue[#E.queue + 1] = { id = id, i = a.next }
                end
            end
            E.queue[#E.queue + 1] = "end"
        end
    end

    function C.mts_engine_submit(_, o)
        if E.submit_rc ~= 0 then return E.submit_rc end
        local rec = { asset = o.asset, type = o.type, price = o.price, strategy = o.strategy, qty = o.qty,
                      stop_loss = o.stop_loss, take_profit = o.take_profit,
                      stop_loss_pct = o.stop_loss_pct, take_profit_pct = o.take_profit_pct,
                      ts = E.now }
        E.orders[#E.orders + 1] = rec
        local a = E.assets[o.asset]
        a.pending[#a.pending + 1] = rec
        return 0
    end

    E.step_events = 1
    function C.mts_engine_step_events(_, on) E.step_events = on end

    function C.mts_engine_cancel(_, id)
        E.cancels = (E.cancels or 0) + 1
        E.assets[id].pending = {}
        return 0
    end

    function C.mts_engine_log_signal(_, asset, strategy, st, price, conf, size, sl, tp)
        E.signals[#E.signals + 1] = { asset = asset, strategy = strategy, signal_type = st, price = price,
                                      confidence = conf, position_size = size, stop_loss = sl,
                                      take_profit = tp, ts = E.now }
        return 0
    end

    function C.mts_engine_asset_count() return E.n_assets end
    function C.mts_engine_asset_name(_, id) return E.assets[id] and E.assets[id].name end
    function C.mts_engine_asset_id(_, name)
        for id = 0, E.n_assets - 1 do if E.assets[id].name == name then return id end end
        return -6
    end
    function C.mts_engine_bars(_, id) return E.assets[id].bars end
    function C.mts_engine_macro(_, name) return E.macros[name] end
    function C.mts_engine_position(_, id) return E.assets[id].pos end
    function C.mts_engine_mark(_, id) return E.assets[id].mark end
    function C.mts_engine_equity() return equity() end
    function C.mts_engine_cash() return E.cash end
    function C.mts_engine_now() return E.now end
    function C.mts_engine_errmsg() return "fake engine error" end
    return E
end

return F
