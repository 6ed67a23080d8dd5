-- risk_spec.lua — sizing, caps, no pyramiding, flips.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
require "setup"
local risk = require "risk"

local LIMITS = { max_position_size = 0.10, max_portfolio_risk = 0.25 }

local function near(a, b) return math.abs(a - b) < 1e-9 end

describe("risk.limits", function()
    it("command line > environment > config/mts.json risk > defaults", function()
        local env = { MAX_POSITION_SIZE = "0.2" }
        local cfg = { max_position = 0.3, max_portfolio_risk = 0.6 }
        local l = risk.limits(function(k) return env[k] end, cfg, { max_portfolio_risk = 0.9 })
        assert.are.equal(0.2, l.max_position_size)     -- env over config
        assert.are.equal(0.9, l.max_portfolio_risk)    -- command line over config
        l = risk.limits(function() return nil end, cfg, { max_position_size = 0 })   -- 0: not given
        assert.are.equal(0.3, l.max_position_size)
        assert.are.equal(0.6, l.max_portfolio_risk)
        local bad, msg = risk.limits(function() return nil end, { max_position = -1 })
        assert.is_nil(bad)
        assert.are.equal("config/mts.json: risk.max_position must be a positive number, got -1", msg)
        bad, msg = risk.limits(function() return nil end, nil, { max_position_size = -0.5 })
        assert.is_nil(bad)
        assert.matches("--max-position must be a positive number", msg, 1, true)
    end)

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

    it("takes units as given when they fit both limits", function()
        -- 50 units * 100 = 5000 = 5% of 100000 (cap 10%); 20000 + 5000 <= 25000
        local o = risk.plan({ signal_type = "LONG", price = 100, units = 50 },
                            { equity = 100000, position = 0, exposure = 20000 }, LIMITS)
        assert.are.equal(50, o.qty)
        assert.is_nil(o.count)
    end)

    it("trims units above the position cap, and counts it", function()
        -- 1000 units * 100 = 100000 = 100% of equity; cap 10%: 10000 / 100 = 100 units
        local o = risk.plan({ signal_type = "LONG", price = 100, units = 1000 },
                            { equity = 100000, position = 0, exposure = 0, market = "spot" }, LIMITS)
        assert.is_true(near(o.qty, 100))
        assert.are.equal("trimmed", o.count)
        -- and then the portfolio cap: 20000 other exposure leaves 5000 -> 50 units
        o = risk.plan({ signal_type = "LONG", price = 100, units = 1000 },
                      { equity = 100000, position = 0, exposure = 20000 }, LIMITS)
        assert.is_true(near(o.qty, 50))
        assert.are.equal("trimmed", o.count)
        -- a strategy's own max_position_size 0.02: 2000 / 100 = 20 units
        o = risk.plan({ signal_type = "LONG", price = 100, units = 1000, max_position_size = 0.02 },
                      { equity = 100000, position = 0, exposure = 0 }, LIMITS)
        assert.is_true(near(o.qty, 20))
    end)

    it("counts position_size above the cap as trimmed, the cap itself not", function()
        local o = risk.plan({ signal_type = "LONG", price = 50, position_size = 1.0 },
                            { equity = 100000, position = 0, exposure = 0 }, LIMITS)
        assert.is_true(near(o.qty, 200))          -- 0.10 * 100000 / 50
        assert.are.equal("trimmed", o.count)
        o = risk.plan({ signal_type = "LONG", price = 50 }, { equity = 100000, position = 0, exposure = 0 }, LIMITS)
        assert.is_true(near(o.qty, 200))
        assert.is_nil(o.count)
    end)

    it("refuses (and counts) an order the portfolio limit plans to 0", function()
        local o, why, count = risk.plan({ signal_type = "LONG", price = 100, units = 5 },
                                        { equity = 100000, position = 0, exposure = 25000 }, LIMITS)
        assert.is_nil(o)
        assert.matches("portfolio risk", why)
        assert.are.equal("refused", count)
        -- a strategy's own max_portfolio_risk 0.15 lowers the book's limit: 15000 - 12000 = 3000 -> 30
        o = risk.plan({ signal_type = "LONG", price = 100, position_size = 0.10, max_portfolio_risk = 0.15 },
                      { equity = 100000, position = 0, exposure = 12000 }, LIMITS)
        assert.is_true(near(o.qty, 30))
        assert.are.equal("trimmed", o.count)
    end)

    it("refuses a SHORT on spot: closes the long if any, counted either way", function()
        local o, why, count = risk.plan({ signal_type = "SHORT", price = 100, position_size = 0.05 },
                                        { equity = 100000, position = 0, exposure = 0, market = "spot" }, LIMITS)
        assert.is_nil(o)
        assert.matches("spot", why)
        assert.are.equal("short_refused", count)
        o = risk.plan({ signal_type = "SHORT", price = 100, position_size = 0.05 },
                      { equity = 100000, position = 30, exposure = 3000, market = "spot" }, LIMITS)
        assert.are.equal(-30, o.qty)
        assert.are.equal(0, o.target)
        assert.are.equal("short_refused", o.count)
        assert.are.equal(0, o.stop_loss_pct)
        -- no market given: spot
        o, why, count = risk.plan({ signal_type = "SHORT", price = 100 }, { equity = 1e5, position = 0 }, LIMITS)
        assert.is_nil(o)
        assert.are.equal("short_refused", count)
    end)

    it("sizes a perp by margin: position_size * equity is the margin, times leverage the notional", function()
        -- equity 10000, 0.10 -> margin 1000; leverage 3 -> notional 3000;
        -- contract_size 0.01 at price 20000: 3000 / (20000 * 0.01) = 15 contracts
        local perp = { equity = 10000, position = 0, exposure = 0, market = "perp", leverage = 3,
                       contract_size = 0.01 }
        local o = risk.plan({ signal_type = "LONG", price = 20000, position_size = 0.10 }, perp, LIMITS)
        assert.is_true(near(o.qty, 15))
        assert.is_true(near(o.exposure_after, 1000))   -- 15 * 0.01 * 20000 / 3
        -- a perp SHORT is allowed: -15
        o = risk.plan({ signal_type = "SHORT", price = 20000, position_size = 0.10 }, perp, LIMITS)
        assert.is_true(near(o.qty, -15))
        -- units on a perp: 40 contracts = 8000 notional = 2666.67 margin > 1000 cap -> 15
        o = risk.plan({ signal_type = "LONG", price = 20000, units = 40 }, perp, LIMITS)
        assert.is_true(near(o.qty, 15))
        assert.are.equal("trimmed", o.count)
        -- other margin 2000 of the 2500 allowed (0.25 * 10000): 500 margin left
        -- -> 1500 notional -> 7.5 contracts
        local busy = { equity = 10000, position = 0, exposure = 2000, market = "perp", leverage = 3,
                       contract_size = 0.01 }
        o = risk.plan({ signal_type = "LONG", price = 20000, position_size = 0.10 }, busy, LIMITS)
        assert.is_true(near(o.qty, 7.5))
        assert.are.equal("trimmed", o.count)
    end)

    it("never pyramids", function()
        local o, why = risk.plan({ signal_type = "LONG", price = 100, units = 1 },
                                 { equity = 100000, position = 5, gross = 500 }, LIMITS)
        assert.is_nil(o)
        assert.matches("already positioned", why)
        o = risk.plan({ signal_type = "SHORT", price = 100, units = 1 },
                      { equity = 100000, position = -5, gross = 500, market = "perp" }, LIMITS)
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
        -- (a perp at leverage 1: spot refuses shorts)
        local o = risk.plan({ signal_type = "SHORT", price = 100, position_size = 0.10 },
                            { equity = 100000, position = 30, gross = 3000, market = "perp" }, LIMITS)
        assert.is_true(near(o.qty, -130))
        assert.is_true(near(o.target, -100))
        assert.is_nil(o.count)
        -- a flip with no room left still closes: other exposure 25000 fills the cap
        local why, count
        o, why, count = risk.plan({ signal_type = "SHORT", price = 100, position_size = 0.10 },
                      { equity = 100000, position = 30, gross = 28000, market = "perp" }, LIMITS)
        assert.are.equal(-30, o.qty)
        assert.are.equal(0, o.target)
        assert.are.equal("refused", o.count)
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
