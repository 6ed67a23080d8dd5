-- risk_spec.lua — sizing, caps, no pyramiding, flips.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
require "setup"
local risk = require "risk"

local LIMITS = { max_position_size = 0.10, max_portfolio_risk = 0.25 }

local function near(a, b) return math.abs(a - b) < 1e-9 end

describe("risk.limits", function()
    it("defaults to 0.10 and 0.25", function()
        local l = risk.limits(function() return nil end)
        assert.are.equal(0.10, l.max_position_size)
        assert.are.equal(0.25, l.max_portfolio_risk)
    end)
    it("reads the environment and rejects garbage", function()
        local env = { MAX_POSITION_SIZE = "0.2", MAX_PORTFOLIO_RISK = "0.5" }
        local l = risk.limits(function(k) return env[k] end)
        assert.are.equal(0.2, l.max_position_size)
        assert.are.equal(0.5, l.max_portfolio_risk)
        local bad, msg = risk.limits(function(k) return k == "MAX_POSITION_SIZE" and "lots" or nil end)
        assert.is_nil(bad)
        assert.matches("MAX_POSITION_SIZE must be a positive number, got 'lots'", msg, 1, true)
    end)
end)

describe("risk.plan", function()
    it("sizes from position_size, capped at max_position_size", function()
        -- 0.05 * 100000 / 50 = 100 units
        local o = risk.plan({ signal_type = "LONG", price = 50, position_size = 0.05 },
                            { equity = 100000, position = 0, gross = 0 }, LIMITS)
        assert.is_true(near(o.qty, 100))
        -- asks 0.5, capped to 0.10: 0.10 * 100000 / 50 = 200
        o = risk.plan({ signal_type = "LONG", price = 50, position_size = 0.5 },
                      { equity = 100000, position = 0, gross = 0 }, LIMITS)
        assert.is_true(near(o.qty, 200))
        -- no position_size: the cap, lowered by the strategy's own max 0.04: 0.04*100000/50 = 80
        o = risk.plan({ signal_type = "LONG", price = 50, max_position_size = 0.04 },
                      { equity = 100000, position = 0, gross = 0 }, LIMITS)
        assert.is_true(near(o.qty, 80))
    end)

    it("scales a trade down to the portfolio cap, or drops it", function()
        -- other exposure 20000 of 100000; cap 0.25 -> 5000 left; asks 0.10 = 10000
        -- -> 5000 / 100 = 50 units
        local o = risk.plan({ signal_type = "LONG", price = 100, position_size = 0.10 },
                            { equity = 100000, position = 0, gross = 20000 }, LIMITS)
        assert.is_true(near(o.qty, 50))
        assert.is_true(near(o.gross_after, 25000))
        -- already at the cap: nothing fits
        local none, why = risk.plan({ signal_type = "LONG", price = 100, position_size = 0.10 },
                                    { equity = 100000, position = 0, gross = 25000 }, LIMITS)
        assert.is_nil(none)
        assert.matches("portfolio risk", why)
    end)

    it("takes units exactly, without caps", function()
        -- 1000 units * 100 = 100000 = 100% of equity: neither cap applies
        local o = risk.plan({ signal_type = "LONG", price = 100, units = 1000 },
                            { equity = 100000, position = 0, gross = 20000 }, LIMITS)
        assert.are.equal(1000, o.qty)
    end)

    it("never pyramids", function()
        local o, why = risk.plan({ signal_type = "LONG", price = 100, units = 1 },
                                 { equity = 100000, position = 5, gross = 500 }, LIMITS)
        assert.is_nil(o)
        assert.matches("already positioned", why)
        o = risk.plan({ signal_type = "SHORT", price = 100, units = 1 },
                      { equity = 100000, position = -5, gross = 500 }, LIMITS)
        assert.is_nil(o)
    end)

    it("CLOSE sells the whole position and does nothing when flat", function()
        local o = risk.plan({ signal_type = "CLOSE", price = 100 },
                            { equity = 100000, position = 7.5, gross = 750 }, LIMITS)
        assert.are.equal(-7.5, o.qty)
        assert.are.equal(0, o.target)
        assert.are.equal(0, o.stop_loss_pct)
        assert.is_nil((risk.plan({ signal_type = "CLOSE", price = 100 },
                                 { equity = 100000, position = 0, gross = 0 }, LIMITS)))
    end)

    it("flips: a SHORT while long sells the long and opens the short", function()
        -- long 30 @ 100 (gross 3000); target -0.10*100000/100 = -100 -> qty = -130
        local o = risk.plan({ signal_type = "SHORT", price = 100, position_size = 0.10 },
                            { equity = 100000, position = 30, gross = 3000 }, LIMITS)
        assert.is_true(near(o.qty, -130))
        assert.is_true(near(o.target, -100))
        -- a flip with no room left still closes: other exposure 25000 fills the cap
        o = risk.plan({ signal_type = "SHORT", price = 100, position_size = 0.10 },
                      { equity = 100000, position = 30, gross = 28000 }, LIMITS)
        assert.are.equal(-30, o.qty)
        assert.are.equal(0, o.target)
    end)

    it("turns config percentages into order *_pct and prefers absolute stops", function()
        local o = risk.plan({ signal_type = "LONG", price = 100, units = 1, stop_loss_pct = 0.05,
                              take_profit_pct = 0.10 }, { equity = 1e5, position = 0, gross = 0 }, LIMITS)
        assert.are.equal(0.05, o.stop_loss_pct)
        assert.are.equal(0.10, o.take_profit_pct)
        assert.are.equal(0, o.stop_loss)
        o = risk.plan({ signal_type = "LONG", price = 100, units = 1, stop_loss = 95, stop_loss_pct = 0.05 },
                      { equity = 1e5, position = 0, gross = 0 }, LIMITS)
        assert.are.equal(95, o.stop_loss)
        assert.are.equal(0, o.stop_loss_pct)
    end)

    it("refuses bad prices and equity", function()
        assert.is_nil((risk.plan({ signal_type = "LONG", price = 0 }, { equity = 1e5 }, LIMITS)))
        assert.is_nil((risk.plan({ signal_type = "LONG", price = 10 }, { equity = 0 }, LIMITS)))
        assert.has_error(function() risk.plan({ signal_type = "HOLD", price = 1 }, {}, LIMITS) end)
    end)
end)
