-- mts_spec.lua — the FFI wrappers over the indicator primitives.
-- Needs the C library (MTS_LIB, default lib/libmts.so).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
require "setup"
local mts = require "mts"

local function isnan(v) return v ~= v end

describe("mts wrappers", function()
    it("sma on a table returns a double[n] with NaN warm-up", function()
        -- (1+2+3)/3 = 2, (2+3+4)/3 = 3
        local s = mts.sma({ 1, 2, 3, 4 }, 3)
        assert.are.equal(4, mts.len(s))
        assert.is_true(isnan(s[0]) and isnan(s[1]))
        assert.are.equal(2, s[2])
        assert.are.equal(3, s[3])
    end)

    it("chains: a wrapper's result is a valid input", function()
        -- diff of {1, 4, 9, 16} = {NaN, 3, 5, 7}; sma(2) = {NaN, NaN, 4, 6}
        local d = mts.diff({ 1, 4, 9, 16 })
        local s = mts.sma(d, 2)
        assert.is_true(isnan(s[1]))
        assert.are.equal(4, s[2])
        assert.are.equal(6, s[3])
    end)

    it("takes a raw pointer only with an explicit length", function()
        local a = mts.series(3, 2)
        local ffi = require "ffi"
        local p = ffi.cast("double *", a)
        assert.has_error(function() mts.sma(p, 2) end,
            "mts.sma: the length of series is unknown (a pointer); pass n")
        assert.are.equal(2, mts.sma(p, 2, 3)[2])
        assert.has_error(function() mts.sma(a, 2, 4) end)   -- n beyond the array
    end)

    it("validates windows and inputs", function()
        assert.has_error(function() mts.sma({ 1, 2 }, 0) end, "mts.sma: window must be an integer >= 1, got 0")
        assert.has_error(function() mts.sma({ 1, 2 }, 1.5) end)
        assert.has_error(function() mts.rsi({ 1, 2 }, "14") end)
        assert.has_error(function() mts.sma("close", 2) end)
        assert.has_error(function() mts.sma({ 1, "x" }, 1) end)
        assert.has_error(function() mts.rolling_corr({ 1, 2, 3 }, { 1, 2 }, 2) end)
    end)

    it("pct_rank defaults to an expanding window", function()
        -- {3, 1, 2}: 1/1, 1/2 (only 1 <= 1), 2/3
        local r = mts.pct_rank({ 3, 1, 2 })
        assert.are.equal(1, r[0])
        assert.are.equal(0.5, r[1])
        assert.is_true(math.abs(r[2] - 2 / 3) < 1e-15)
    end)

    it("align_asof takes {ts, v, n} and a time array", function()
        local src = { ts = mts.int64_vla(2, { 10, 30 }), v = mts.double_vla(2, { 1, 3 }), n = 2 }
        local out = mts.align_asof(src, { 5, 10, 20, 30, 40 })
        assert.is_true(isnan(out[0]))
        assert.are.same({ 1, 1, 3, 3 }, { out[1], out[2], out[3], out[4] })
        assert.has_error(function() mts.align_asof(42, { 1 }) end)
    end)

    it("the strategy API is read-only and has no ffi", function()
        assert.has_error(function() mts.api.sma = nil end)
        assert.has_error(function() return mts.api.C end)
        assert.has_error(function() return mts.api.ffi end)
        assert.are.equal(false, getmetatable(mts.api))
        assert.are.equal(mts.rolling_mean, mts.api.rolling_mean)
    end)

    describe("checked views (what strategies get)", function()
        local ffi = require "ffi"
        local close = ffi.new("double[5]", { 1, 2, 3, 4, 5 })
        local ts = ffi.new("int64_t[5]", { 10, 20, 30, 40, 50 })

        it("index the data 0 .. n-1 and refuse anything else", function()
            local v = mts.view_ro(close, 5, "double")
            assert.are.equal(1, v[0])
            assert.are.equal(5, v[4])
            assert.are.equal(5, #v)
            assert.has_error(function() return v[5] end,
                             "look-ahead: index 5 is in the future (this series has 5 values up to the current bar, 0 .. 4)")
            assert.has_error(function() return v[-1] end, "series index -1 out of range 0 .. 4")
            assert.has_error(function() return v.p end)
            assert.has_error(function() v[0] = 9 end)
            assert.are.equal(1, close[0])
            local t = mts.view_ro(ts, 5, "int64_t")
            assert.are.equal(30, t[2])
            assert.are.equal("number", type(t[2]))
        end)

        it("do not give the raw pointer away", function()
            local v = mts.view_ro(close, 5, "double")
            assert.has_error(function() v.private_[0] = 1 end)   -- const bytes
            assert.has_error(function() return v.p end)
            assert.has_error(function() return v.n end)
        end)

        it("are accepted by the indicators, which return writable checked views", function()
            local v = mts.view_ro(close, 5, "double")
            -- sma(1..5, 2) = NaN, 1.5, 2.5, 3.5, 4.5 (by hand)
            local s = mts.api.sma(v, 2)
            assert.is_true(mts.is_view(s))
            assert.is_true(s[0] ~= s[0])
            assert.are.same({ 1.5, 2.5, 3.5, 4.5 }, { s[1], s[2], s[3], s[4] })
            s[0] = 0
            assert.are.equal(0, s[0])
            assert.has_error(function() s[5] = 1 end)
            assert.are.equal(5, mts.api.len(s))
        end)

        it("keep errors at the caller's line", function()
            local ok, err = pcall(function() local s = mts.api.sma({ 1, 2 }, 0) return s end)
            assert.is_false(ok)
            assert.matches("mts_spec.lua:%d+: mts.sma: window must be an integer >= 1", err)
        end)

        it("guard push against a NULL receiver", function()
            local r = mts.api.rolling_mean(3)
            assert.are.equal(2, (function() r:push(2) return r:push(2) end)() and 2)
            assert.has_error(function() r.push(nil, 1) end, "push: call it as r:push(x)")
        end)
    end)

    -- issue 9: nothing casts a value it did not check to a view's internals
    it("resizes only real views", function()
        local ffi = require "ffi"
        local arr = ffi.new("double[4]", 1, 2, 3, 4)
        local v = mts.view_ro(arr, 2, "double", arr)
        mts.view_resize(v, 4)
        assert.are.equal(4, #v)
        assert.are.equal(4, v[3])
        -- a plain array (its second element would become the length) or a number
        -- (an address) is refused, and the array is untouched
        assert.has_error(function() mts.view_resize(arr, 1e6) end, "mts.view_resize: not a series view (got cdata)")
        assert.are.equal(2, arr[1])
        assert.has_error(function() mts.view_resize(0xdeadbeef, 5) end, "mts.view_resize: not a series view (got number)")
        assert.has_error(function() mts.view_resize(v, -1) end, "mts.view_resize: n must be a count, got -1")
    end)

    it("makes read-only proxies that stay read-only", function()
        local t = { a = 1 }
        local ro = mts.readonly(t, "thing")
        assert.are.equal(1, ro.a)
        assert.has_error(function() ro.a = 2 end)
        assert.has_error(function() ro.b = 2 end)
        assert.has_error(function() return ro.b end)
        assert.are.equal(false, getmetatable(ro))
        assert.has_error(function() setmetatable(ro, nil) end)
        assert.is_nil(rawget(ro, "a"))           -- nothing to rawset over either
        t.a = 99                                 -- a private copy: the source changing later is not seen
        assert.are.equal(1, ro.a)
        local ok, err = pcall(function() ro.x = 1 end)
        assert.matches("mts_spec.lua:%d+: thing is read%-only %(assignment to x%)", err)
        ok, err = pcall(function() return ro.zz end)
        assert.matches("mts_spec.lua:%d+: thing.zz does not exist", err)
    end)

    it("decodes C error codes", function()
        assert.are.equal("invalid argument", mts.strerror(-2))
    end)
end)
