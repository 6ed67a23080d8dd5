-- aggregator_spec.lua — confidence-weighted vote per asset.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
require "setup"
local aggregator = require "aggregator"

local function sig(t)
    t.price = t.price or 100
    return t
end

describe("aggregator", function()
    it("passes a single signal through", function()
        local out = aggregator.aggregate({
            sig { asset = "bitcoin", signal_type = "LONG", confidence = 0.7, position_size = 0.03,
                  stop_loss = 90, take_profit = 120, strategy = 2 },
        })
        assert.are.equal(1, #out)
        local s = out[1]
        assert.are.equal("bitcoin", s.asset)
        assert.are.equal("LONG", s.signal_type)
        assert.are.equal(0.7, s.confidence)
        assert.are.equal(0.03, s.position_size)
        assert.are.equal(90, s.stop_loss)
        assert.are.equal(120, s.take_profit)
        assert.are.equal(2, s.strategy)
    end)

    it("a lone signal with confidence 0 still wins", function()
        local out = aggregator.aggregate({ sig { asset = "a", signal_type = "SHORT", confidence = 0 } })
        assert.are.equal("SHORT", out[1].signal_type)
    end)

    it("resolves a conflict by weighted confidence", function()
        -- LONG: 0.9*1 = 0.9; SHORT: 0.6*1 + 0.5*1 = 1.1 -> SHORT wins
        local out = aggregator.aggregate({
            sig { asset = "eth", signal_type = "LONG", confidence = 0.9, strategy = 0 },
            sig { asset = "eth", signal_type = "SHORT", confidence = 0.6, strategy = 1, position_size = 0.02,
                  stop_loss = 110, take_profit = 80 },
            sig { asset = "eth", signal_type = "SHORT", confidence = 0.5, strategy = 2, position_size = 0.04,
                  stop_loss = 105, take_profit = 85 },
        })
        assert.are.equal(1, #out)
        local s = out[1]
        assert.are.equal("SHORT", s.signal_type)
        -- weighted average of the winners: (0.6 + 0.5) / 2 = 0.55
        assert.is_true(math.abs(s.confidence - 0.55) < 1e-12)
        assert.are.equal(0.04, s.position_size)          -- the max
        assert.are.equal(105, s.stop_loss)               -- SHORT: tightest stop is the lowest
        assert.are.equal(85, s.take_profit)              -- SHORT: tightest target is the highest
        assert.are.equal(1, s.strategy)                  -- highest score among winners (0.6 > 0.5)
        assert.are.same({ 1, 2 }, s.strategies)
    end)

    it("weights change the outcome", function()
        -- LONG 0.9*1 = 0.9 vs SHORT 0.6*2 = 1.2 -> SHORT
        local out = aggregator.aggregate({
            sig { asset = "x", signal_type = "LONG", confidence = 0.9, weight = 1 },
            sig { asset = "x", signal_type = "SHORT", confidence = 0.6, weight = 2 },
        })
        assert.are.equal("SHORT", out[1].signal_type)
        assert.are.equal(0.6, out[1].confidence)
        -- weighted average among winners: (0.8*3 + 0.4*1) / 4 = 0.7
        out = aggregator.aggregate({
            sig { asset = "x", signal_type = "LONG", confidence = 0.8, weight = 3, stop_loss = 95, take_profit = 130 },
            sig { asset = "x", signal_type = "LONG", confidence = 0.4, weight = 1, stop_loss = 97, take_profit = 125 },
        })
        assert.is_true(math.abs(out[1].confidence - 0.7) < 1e-12)
        assert.are.equal(97, out[1].stop_loss)           -- LONG: highest stop
        assert.are.equal(125, out[1].take_profit)        -- LONG: lowest target
    end)

    it("an exact tie means no trade for that asset, others unaffected", function()
        local out = aggregator.aggregate({
            sig { asset = "a", signal_type = "LONG", confidence = 0.5 },
            sig { asset = "b", signal_type = "LONG", confidence = 0.3 },
            sig { asset = "a", signal_type = "SHORT", confidence = 0.25, weight = 2 },
        })
        assert.are.equal(1, #out)
        assert.are.equal("b", out[1].asset)
    end)

    it("CLOSE is a direction of its own and carries no stops", function()
        -- CLOSE 0.8 vs LONG 0.5 + SHORT 0.6: CLOSE is the single highest
        local out = aggregator.aggregate({
            sig { asset = "a", signal_type = "LONG", confidence = 0.5, stop_loss = 90 },
            sig { asset = "a", signal_type = "SHORT", confidence = 0.6 },
            sig { asset = "a", signal_type = "CLOSE", confidence = 0.8, stop_loss_pct = 0.05 },
        })
        assert.are.equal("CLOSE", out[1].signal_type)
        assert.is_nil(out[1].stop_loss)
        assert.is_nil(out[1].stop_loss_pct)
        -- tie between the two highest (LONG 0.6 vs CLOSE 0.6), a lower SHORT does not matter
        out = aggregator.aggregate({
            sig { asset = "a", signal_type = "LONG", confidence = 0.6 },
            sig { asset = "a", signal_type = "CLOSE", confidence = 0.6 },
            sig { asset = "a", signal_type = "SHORT", confidence = 0.1 },
        })
        assert.are.equal(0, #out)
    end)

    it("keeps the order of first appearance and takes max units, min pct", function()
        local out = aggregator.aggregate({
            sig { asset = "z", signal_type = "LONG", units = 2, stop_loss_pct = 0.05, max_position_size = 0.1 },
            sig { asset = "y", signal_type = "LONG" },
            sig { asset = "z", signal_type = "LONG", units = 3, stop_loss_pct = 0.03, max_position_size = 0.2 },
        })
        assert.are.equal("z", out[1].asset)
        assert.are.equal("y", out[2].asset)
        assert.are.equal(3, out[1].units)
        assert.are.equal(0.03, out[1].stop_loss_pct)
        assert.are.equal(0.1, out[1].max_position_size)
        assert.are.equal(1, out[2].confidence)           -- default confidence 1
    end)

    it("takes the smallest max_portfolio_risk of the winners (a strategy's own book limit)", function()
        local out = aggregator.aggregate({
            sig { asset = "z", signal_type = "LONG", max_portfolio_risk = 0.3 },
            sig { asset = "z", signal_type = "LONG", max_portfolio_risk = 0.15 },
            sig { asset = "z", signal_type = "LONG" },
            sig { asset = "w", signal_type = "LONG" },
        })
        assert.are.equal(0.15, out[1].max_portfolio_risk)
        assert.is_nil(out[2].max_portfolio_risk)
    end)

    it("rejects an unknown signal_type", function()
        assert.has_error(function()
            aggregator.aggregate({ sig { asset = "a", signal_type = "BUY" } })
        end)
    end)
end)
