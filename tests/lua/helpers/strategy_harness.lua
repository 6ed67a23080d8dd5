-- strategy_harness.lua — loads a strategy the way the runner does (sandboxed,
-- with the read-only mts API) and drives it bar by bar over crafted series,
-- without an engine. For the strategies' own specs.
local H = require "setup"
local mts = require "mts"
local sandbox = require "sandbox"
local config = require "config"

local S = {}

function S.load(name, root)
    root = root or H.root
    local rel = "scripts/strategies/" .. name .. ".lua"
    local env = sandbox.new_env({ mts = mts.api, modules = { mts = mts.api },
                                  print = function() end })
    local fn = assert(sandbox.compile(root .. "/" .. rel, rel, env))
    local mod = fn()
    mod.name = name
    return mod
end

-- data = { close = {...}, ts = {...} (default one day apart), macros = {VIX = {ts=, v=}} }
-- overrides: parameter values on top of get_parameters().
function S.ctx(mod, data, overrides)
    local n = #data.close
    local params = config.deep_copy(mod.get_parameters())
    config.overlay(params, overrides or {})
    local ts = mts.int64_vla(n)
    local close = mts.double_vla(n)
    for i = 1, n do
        ts[i - 1] = data.ts and data.ts[i] or (i - 1) * 86400
        close[i - 1] = data.close[i]
    end
    local series = { ts = ts, close = close, open = close, high = close, low = close,
                     volume = mts.series(n, 0) }
    local macros = {}
    for name, m in pairs(data.macros or {}) do
        local k = #m.v
        local mts_, mv = mts.int64_vla(k), mts.double_vla(k)
        for i = 1, k do mts_[i - 1] = m.ts[i]; mv[i - 1] = m.v[i] end
        macros[name] = { ts = mts_, v = mv, n = k }
    end
    return {
        asset = data.asset or "bitcoin", asset_id = 0, strategy = mod.name, params = params,
        n = n, series = series, state = {}, i = -1, time = 0, close = 0 / 0,
        macro = function(name) return macros[name] end,
        position = function() return 0 end,
    }
end

-- Runs init, then every bar; returns the signals as {i = bar index, sig = table}.
function S.run(mod, ctx)
    if mod.init then mod.init(ctx) end
    local out = {}
    for i = 0, ctx.n - 1 do
        ctx.i, ctx.time, ctx.close = i, tonumber(ctx.series.ts[i]), ctx.series.close[i]
        local sig
        if mod.on_bar then
            sig = mod.on_bar(ctx, ctx.asset, i)
        else
            sig = mod.generate_signals(mod.analyze(ctx))
        end
        if sig ~= nil then out[#out + 1] = { i = i, sig = sig } end
    end
    return out
end

-- "LONG@3 CLOSE@7" — a compact view for assertions.
function S.summary(signals)
    local parts = {}
    for _, s in ipairs(signals) do parts[#parts + 1] = s.sig.signal_type .. "@" .. s.i end
    return table.concat(parts, " ")
end

return S
