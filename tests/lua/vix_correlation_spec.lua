-- vix_correlation_spec.lua — LONG on strong negative, SHORT on strong positive
-- correlation of returns with VIX changes; nothing in between.
-- Needs the C indicators (MTS_LIB).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
require "setup"
local SH = require "strategy_harness"

-- The strategy with its analyze wrapped: seen[i] = analysis[field] of bar i.
local function recording(strat, seen, field)
    return {
        init = strat.init, generate_signals = strat.generate_signals,
        analyze = function(md)
            local a = strat.analyze(md)
            seen[md.i] = a[field]
            return a
        end,
    }
end

-- Closes from a repeating pattern of returns; VIX with chosen daily changes.
local function build(n, returns, dvix_of)
    local close, vix, ts = { 100 }, { 40 }, { 0 }
    for i = 2, n do
        local r = returns[(i - 2) % #returns + 1]
        close[i] = close[i - 1] * (1 + r)
        vix[i] = vix[i - 1] + dvix_of(i - 1, r)     -- i-1 = 0-based bar index
        ts[i] = (i - 1) * 86400
    end
    return { close = close, ts = ts, macros = { VIX = { ts = ts, v = vix } } }
end

local R = { 0.02, -0.01, 0.03, -0.02 }
local P = { lookback_days = 4, correlation_windows = { 4 } }

describe("vix_correlation", function()
    local strat = SH.load("vix_correlation")

    it("goes LONG when returns and VIX changes are strongly negatively correlated", function()
        -- dvix = -50 r exactly: corr = -1 as soon as the 4-bar window of
        -- (r, dvix) is complete: r and dvix exist from bar 1, so at bar 4.
        local data = build(12, R, function(_, r) return -50 * r end)
        local ctx = SH.ctx(strat, data, P)
        local sigs = SH.run(strat, ctx)
        assert.are.equal("LONG@4", SH.summary(sigs))
        local s = sigs[1].sig
        -- size = 0.02 * min(1, |-1|) * clamp(vix/20, 0.5, 1.5); vix stays near 40 -> 1.5
        assert.is_true(math.abs(s.position_size - 0.03) < 1e-9)
        assert.is_true(math.abs(s.confidence - 1) < 1e-9)
        assert.are.equal(data.close[5], s.price)
    end)

    it("goes SHORT on strong positive correlation, flipping from LONG", function()
        -- bars 1..11 dvix = -50 r (corr -1), from bar 12 on dvix = +50 r (corr +1
        -- once the window holds only bars >= 12, i.e. from bar 15)
        local data = build(24, R, function(i, r) return (i < 12 and -50 or 50) * r end)
        local sigs = SH.run(strat, SH.ctx(strat, data, P))
        assert.are.equal("LONG", sigs[1].sig.signal_type)
        assert.are.equal(4, sigs[1].i)
        local last = sigs[#sigs]
        assert.are.equal("SHORT", last.sig.signal_type)
        assert.is_true(last.i >= 12 and last.i <= 15)
        for _, s in ipairs(sigs) do assert.is_true(s.i < 4 + 1 or s.i >= 12) end
    end)

    it("stays out when the correlation is weak", function()
        -- r repeats (0.02, -0.01, 0.03, -0.02) and dvix repeats (1, 1, -1, -1):
        -- over any 4 consecutive bars both sums of deviations vanish and
        -- cov = (0.02 - 0.01 - 0.03 + 0.02)/4 - mean(r)*0 = 0, so corr = 0
        local dv = { 1, 1, -1, -1 }
        local data = build(20, R, function(i) return dv[(i - 1) % 4 + 1] end)
        local ctx = SH.ctx(strat, data, P)
        local seen = {}
        assert.are.equal("", SH.summary(SH.run(recording(strat, seen, "current_correlation"), ctx)))
        assert.is_true(math.abs(seen[10]) < 1e-9)
    end)

    it("closes on return to neutral when exit_on_neutral", function()
        -- corr -1 up to bar 11, then the uncorrelated pattern of the previous
        -- test (corr exactly 0 once the window holds only bars >= 12)
        local dv = { 1, 1, -1, -1 }
        local data = build(24, R, function(i, r) return i < 12 and -50 * r or dv[(i - 1) % 4 + 1] end)
        local sigs = SH.run(strat, SH.ctx(strat, data, P))
        assert.are.equal("LONG@4", SH.summary({ sigs[1] }))
        local last = sigs[#sigs]
        assert.are.equal("CLOSE", last.sig.signal_type)
        assert.is_true(last.i >= 12 and last.i <= 15)
        -- without exit_on_neutral the position is kept
        local P2 = { lookback_days = 4, correlation_windows = { 4 }, exit_on_neutral = false }
        sigs = SH.run(strat, SH.ctx(strat, data, P2))
        for _, s in ipairs(sigs) do assert.are_not.equal("CLOSE", s.sig.signal_type) end
    end)

    it("keeps its regime while the correlation is undefined", function()
        -- corr -1 up to bar 11, then a VIX that stops moving: zero variance ->
        -- corr NaN -> no signal at all (no CLOSE either)
        local data = build(20, R, function(i, r) return i < 12 and -50 * r or 0 end)
        local sigs = SH.run(strat, SH.ctx(strat, data, P))
        assert.are.equal("LONG@4", SH.summary(sigs))
    end)

    it("needs the VIX series", function()
        local ctx = SH.ctx(strat, { close = { 1, 2, 3 } }, P)
        assert.has_error(function() strat.init(ctx) end)
    end)
end)
