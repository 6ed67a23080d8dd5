-- sma_cross_spec.lua — crossings on crafted closes, including the nzd rule.
-- Needs the C indicators: MTS_LIB=/path/to/libmts.so (default lib/libmts.so).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
require "setup"
local SH = require "strategy_harness"

describe("sma_cross", function()
    local strat = SH.load("sma_cross")

    it("declares fast=10, slow=30, units=0", function()
        assert.are.same({ fast = 10, slow = 30, units = 0 }, strat.get_parameters())
    end)

    it("up-cross and down-cross, fast=2 slow=3", function()
        -- i  close  sma2   sma3    d      nzd
        -- 0  10     -      -       -      NaN
        -- 1  10     10     -       -      NaN
        -- 2  10     10     10      0      NaN  (0 does not define nzd)
        -- 3  13     11.5   11      0.5    0.5  nzd[2] NaN -> no cross
        -- 4  13     13     12      1      1
        -- 5  7      10     11     -1     -1    nzd[4] > 0, fast < slow -> down-cross
        -- 6  7      7      9      -2     -2
        -- 7  10     8.5    8       0.5    0.5  nzd[6] < 0, fast > slow -> up-cross
        -- 8  10     10     9       1      1
        -- 9  10     10     10      0      1
        local ctx = SH.ctx(strat, { close = { 10, 10, 10, 13, 13, 7, 7, 10, 10, 10 } },
                           { fast = 2, slow = 3 })
        local sigs = SH.run(strat, ctx)
        assert.are.equal("CLOSE@5 LONG@7", SH.summary(sigs))
        assert.is_nil(sigs[2].sig.units)      -- units 0: sized by risk
    end)

    it("uses the last non-zero d when d touches exactly 0", function()
        -- i  close  sma2   sma3     d        nzd
        -- 2  9      9      10      -1       -1
        -- 3  9      9      9        0       -1    (touch)
        -- 4  12     10.5   10       0.5      0.5  nzd[3] = -1 < 0 -> up-cross (d[3] = 0!)
        -- 5  12     12     11       1        1
        -- 6  12     12     12       0        1    (touch from above)
        -- 7  13     12.5   12.333   0.167    0.17 nzd[6] = 1 > 0 -> not an up-cross
        -- 8  9      11     11.333  -0.333   -0.33 nzd[7] > 0, fast < slow -> down-cross
        -- 9  9      9      10.333  -1.333   -1.33
        -- 10 9      9      9        0       -1.33 (touch from below)
        -- 11 8      8.5    8.667   -0.167   -0.17 fast < slow but nzd[10] < 0 -> nothing
        local ctx = SH.ctx(strat, { close = { 12, 9, 9, 9, 12, 12, 12, 13, 9, 9, 9, 8 } },
                           { fast = 2, slow = 3, units = 2 })
        local sigs = SH.run(strat, ctx)
        assert.are.equal("LONG@4 CLOSE@8", SH.summary(sigs))
        assert.are.equal(2, sigs[1].sig.units)
        assert.are.equal("bitcoin", sigs[1].sig.asset)
    end)

    it("sees no cross before the slow SMA exists", function()
        -- fast exists from i=1, slow only from i=4: d is NaN before, so the
        -- rising series never produces an up-cross (nzd[i-1] is never < 0)
        local ctx = SH.ctx(strat, { close = { 5, 4, 3, 4, 5, 6, 7, 8 } }, { fast = 2, slow = 5 })
        assert.are.equal("", SH.summary(SH.run(strat, ctx)))
    end)

    it("rejects fast >= slow in init", function()
        local ctx = SH.ctx(strat, { close = { 1, 2, 3 } }, { fast = 5, slow = 5 })
        assert.has_error(function() strat.init(ctx) end)
    end)
end)
