-- indicators_spec.lua — EMA, ATR, MACD, Bollinger bands, VWAP, rolling
-- min/max through the Lua wrappers (mts.lua), on the bundled daily BTCUSDT
-- bars (data/crypto/BTCUSDT_1d_binance_spot.csv: real gaps and spikes, e.g.
-- March 2020):
--   * the batch wrappers agree with naive re-implementations written here in
--     plain Lua from the textbook definitions (O(n*w) windows, two-pass
--     population variance, Wilder's recursion, TA-Lib's SMA-seeded EMA) —
--     the expected numbers never come from the C code;
--   * every streaming wrapper gives the batch values bit for bit, also with
--     NaN gaps injected;
--   * bad arguments raise errors naming the function and the argument;
--   * pushes allocate nothing on the Lua heap.
-- Needs the C indicators (MTS_LIB).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
local H = require "setup"
local mts = require "mts"

local O, HI, LO, C, V = {}, {}, {}, {}, {}
do
    local f = assert(io.open(H.root .. "/data/crypto/BTCUSDT_1d_binance_spot.csv", "r"))
    f:read("*l")
    for line in f:lines() do
        local o, h, l, c, v = line:match("^[^,]*,([^,]*),([^,]*),([^,]*),([^,]*),([^,]*)")
        O[#O + 1], HI[#HI + 1], LO[#LO + 1], C[#C + 1], V[#V + 1] =
            tonumber(o), tonumber(h), tonumber(l), tonumber(c), tonumber(v)
    end
    f:close()
end
local N = #C
local NaN = 0 / 0

-- ---- naive reference implementations (1-based Lua tables; nil = warm-up) ----

local function ref_sma(x, w)
    local out = {}
    for i = w, #x do
        local s = 0
        for j = i - w + 1, i do s = s + x[j] end
        out[i] = s / w
    end
    return out
end

local function ref_ema(x, n, first)      -- x defined from index `first` on
    first = first or 1
    local out, k = {}, 2 / (n + 1)
    local s = 0
    for j = first, first + n - 1 do s = s + x[j] end
    local e = s / n
    out[first + n - 1] = e
    for i = first + n, #x do
        e = e + k * (x[i] - e)
        out[i] = e
    end
    return out
end

local function ref_atr(h, l, c, n)
    local tr = {}
    for i = 2, #c do
        tr[i] = math.max(h[i] - l[i], math.abs(h[i] - c[i - 1]), math.abs(l[i] - c[i - 1]))
    end
    local out, s = {}, 0
    for i = 2, n + 1 do s = s + tr[i] end
    local a = s / n
    out[n + 1] = a
    for i = n + 2, #c do
        a = (a * (n - 1) + tr[i]) / n
        out[i] = a
    end
    return out
end

local function ref_bbands(x, w, k)
    local mid, up, lo = {}, {}, {}
    for i = w, #x do
        local s = 0
        for j = i - w + 1, i do s = s + x[j] end
        local m = s / w
        local ss = 0
        for j = i - w + 1, i do ss = ss + (x[j] - m) ^ 2 end
        local sd = math.sqrt(ss / w)             -- population (ddof 0)
        mid[i], up[i], lo[i] = m, m + k * sd, m - k * sd
    end
    return mid, up, lo
end

local function ref_vwap(h, l, c, v, w)
    local out = {}
    for i = 1, #c do
        local a = (w and w > 0) and i - w + 1 or 1
        if a >= 1 then
            local pv, vv = 0, 0
            for j = a, i do
                pv = pv + (h[j] + l[j] + c[j]) / 3 * v[j]
                vv = vv + v[j]
            end
            out[i] = pv / vv
        end
    end
    return out
end

local function ref_ext(x, w, f)
    local out = {}
    for i = w, #x do
        local m = x[i - w + 1]
        for j = i - w + 2, i do m = f(m, x[j]) end
        out[i] = m
    end
    return out
end

-- got: a 0-based C array; want: 1-based table, nil where NaN is expected
local function expect_close(what, got, want, rel)
    local checked = 0
    for i = 1, N do
        local g, w = got[i - 1], want[i]
        if w == nil then
            if g == g then error(("%s: index %d: want NaN (warm-up), got %.17g"):format(what, i - 1, g), 2) end
        else
            local tol = rel * math.max(math.abs(w), 1e-300)
            if not (math.abs(g - w) <= tol) then
                error(("%s: index %d: want %.17g, got %.17g"):format(what, i - 1, w, g), 2)
            end
            checked = checked + 1
        end
    end
    assert.is_true(checked > 0)
end

describe("indicators against naive re-computations (BTCUSDT daily)", function()
    it("has the bundled bars", function() assert.is_true(N > 2000) end)

    it("ema: seeded with the mean of the first n (TA-Lib)", function()
        for _, n in ipairs({ 1, 2, 9, 12, 26, 50, 200 }) do
            expect_close("ema " .. n, mts.ema(C, n), ref_ema(C, n), 1e-12)
        end
    end)

    it("atr: Wilder's smoothing seeded with the mean of the first n true ranges", function()
        for _, n in ipairs({ 1, 2, 14, 20 }) do
            expect_close("atr " .. n, mts.atr(HI, LO, C, n), ref_atr(HI, LO, C, n), 1e-12)
        end
    end)

    it("macd 12/26/9: line, signal, histogram", function()
        local line, sig, hist = mts.macd(C, 12, 26, 9)
        local f, s = ref_ema(C, 12), ref_ema(C, 26)
        local rl = {}
        for i = 26, N do rl[i] = f[i] - s[i] end
        local rs = ref_ema(rl, 9, 26)
        local rh = {}
        for i = 34, N do rh[i] = rl[i] - rs[i] end
        -- the line is a difference of two ~1e4 levels: compare absolutely
        local function abs_close(what, got, want, tol)
            for i = 1, N do
                local g, w = got[i - 1], want[i]
                if w == nil then assert.is_true(g ~= g, what .. " warm-up at " .. (i - 1))
                elseif not (math.abs(g - w) <= tol) then
                    error(("%s: index %d: want %.17g, got %.17g"):format(what, i - 1, w, g))
                end
            end
        end
        abs_close("macd line", line, rl, 1e-8)
        abs_close("macd signal", sig, rs, 1e-8)
        abs_close("macd hist", hist, rh, 1e-8)
        -- defaults are 12, 26, 9
        local l2 = mts.macd(C)
        assert.are.equal(line[N - 1], l2[N - 1])
    end)

    it("bbands: SMA middle, k population standard deviations", function()
        for _, w in ipairs({ 2, 20, 50 }) do
            local m, u, l = mts.bbands(C, w, 2)
            local rm, ru, rl = ref_bbands(C, w, 2)
            expect_close("bb mid " .. w, m, rm, 1e-12)
            expect_close("bb upper " .. w, u, ru, 1e-10)
            expect_close("bb lower " .. w, l, rl, 1e-9)
        end
        local m, u = mts.bbands(C, 20)                     -- k defaults to 2
        local _, ru = ref_bbands(C, 20, 2)
        expect_close("bb default k", u, ru, 1e-10)
        assert.is_true(m[N - 1] < u[N - 1])
    end)

    it("vwap: typical price x volume, cumulative and over a window", function()
        expect_close("vwap cumulative", mts.vwap(HI, LO, C, V), ref_vwap(HI, LO, C, V), 1e-11)
        for _, w in ipairs({ 1, 7, 30 }) do
            local r = ref_vwap(HI, LO, C, V, w)
            for i = 1, w - 1 do r[i] = nil end
            expect_close("vwap " .. w, mts.vwap(HI, LO, C, V, w), r, 1e-11)
        end
    end)

    it("rolling min / max", function()
        for _, w in ipairs({ 1, 3, 20, 365 }) do
            expect_close("rolling_min " .. w, mts.rolling_min(LO, w), ref_ext(LO, w, math.min), 0)
            expect_close("rolling_max " .. w, mts.rolling_max(HI, w), ref_ext(HI, w, math.max), 0)
        end
    end)
end)

local function same(a, b) return a == b or (a ~= a and b ~= b) end
local function expect_same(what, got, want)
    for i = 0, N - 1 do
        if not same(got[i], want[i]) then
            error(("%s: index %d: batch %.17g, streaming %.17g"):format(what, i, want[i], got[i]), 2)
        end
    end
end

describe("streaming indicators equal the batch ones bit for bit", function()
    local function arr(t, gaps)
        local a = mts.series(N)
        for i = 1, N do a[i - 1] = t[i] end
        if gaps then a[100] = NaN; for i = 700, 760 do a[i] = NaN end end
        return a
    end
    for _, gaps in ipairs({ false, true }) do
        it(gaps and "with NaN gaps" or "on the clean bars", function()
            local h, l, c, v = arr(HI), arr(LO), arr(C, gaps), arr(V)
            for _, n in ipairs({ 2, 14, 50 }) do
                local e, a, mn, mx = mts.ema_stream(n), mts.atr_stream(n), mts.rolling_min_stream(n), mts.rolling_max_stream(n)
                local b, vw = mts.bbands_stream(n, 1.5), mts.vwap_stream(n)
                local oe, oa, omn, omx, ov = mts.series(N), mts.series(N), mts.series(N), mts.series(N), mts.series(N)
                local bm, bu, bl = mts.series(N), mts.series(N), mts.series(N)
                for i = 0, N - 1 do
                    oe[i] = e:push(c[i])
                    oa[i] = a:push(h[i], l[i], c[i])
                    omn[i], omx[i] = mn:push(c[i]), mx:push(c[i])
                    bm[i], bu[i], bl[i] = b:push(c[i])
                    ov[i] = vw:push(h[i], l[i], c[i], v[i])
                end
                expect_same("ema", oe, mts.ema(c, n))
                expect_same("atr", oa, mts.atr(h, l, c, n))
                expect_same("rolling_min", omn, mts.rolling_min(c, n))
                expect_same("rolling_max", omx, mts.rolling_max(c, n))
                local m, u, lo = mts.bbands(c, n, 1.5)
                expect_same("bbands mid", bm, m)
                expect_same("bbands upper", bu, u)
                expect_same("bbands lower", bl, lo)
                expect_same("vwap", ov, mts.vwap(h, l, c, v, n))
            end
            local cv, ov = mts.vwap_stream(), mts.series(N)
            for i = 0, N - 1 do ov[i] = cv:push(h[i], l[i], c[i], v[i]) end
            expect_same("vwap cumulative", ov, mts.vwap(h, l, c, v))
            local m = mts.macd_stream(12, 26, 9)
            local ol, os_, oh = mts.series(N), mts.series(N), mts.series(N)
            for i = 0, N - 1 do ol[i], os_[i], oh[i] = m:push(c[i]) end
            local line, sig, hist = mts.macd(c, 12, 26, 9)
            expect_same("macd line", ol, line)
            expect_same("macd signal", os_, sig)
            expect_same("macd hist", oh, hist)
        end)
    end

    it("allocate nothing per push", function()
        local grown
        for pass = 1, 2 do                      -- pass 1 compiles the traces
            local e, a, m, b = mts.ema_stream(14), mts.atr_stream(14), mts.macd_stream(), mts.bbands_stream(20)
            local vw, mx = mts.vwap_stream(), mts.rolling_max_stream(20)
            collectgarbage("collect")
            collectgarbage("stop")
            local before = collectgarbage("count")
            local acc = 0
            for i = 1, N do
                local x = C[i]
                acc = acc + e:push(x) + a:push(HI[i], LO[i], x) + mx:push(x) + vw:push(HI[i], LO[i], x, V[i])
                local l1, s1, h1 = m:push(x)
                local mm, uu, ll = b:push(x)
                acc = acc + l1 + s1 + h1 + mm + uu + ll
            end
            grown = (collectgarbage("count") - before) * 1024
            collectgarbage("restart")
        end
        assert.is_true(grown < 8192, ("%d bytes over %d bars"):format(grown, N))
    end)
end)

describe("indicator arguments", function()
    local api = mts.api
    it("name the function and the argument", function()
        assert.has_error(function() api.ema({ 1, 2 }, 0) end, "mts.ema: period must be an integer >= 1, got 0")
        assert.has_error(function() api.ema({ 1, 2 }, 2.5) end, "mts.ema: period must be an integer >= 1, got 2.5")
        assert.has_error(function() api.atr({ 1 }, { 1 }, { 1 }, nil) end, "mts.atr: period must be an integer >= 1, got nil")
        assert.has_error(function() api.atr({ 1, 2 }, { 1 }, { 1, 2 }, 3) end, "mts.atr: low and high differ in length (1 vs 2)")
        assert.has_error(function() api.macd({ 1 }, 12, 0) end, "mts.macd: slow period must be an integer >= 1, got 0")
        assert.has_error(function() api.macd({ 1 }, 12, 26, -9) end, "mts.macd: signal period must be an integer >= 1, got -9")
        assert.has_error(function() api.bbands({ 1 }, 1) end, "mts.bbands: window must be an integer >= 2, got 1")
        assert.has_error(function() api.bbands({ 1 }, 20, -1) end,
            "mts.bbands: k (band width in standard deviations) must be a number >= 0, got -1")
        assert.has_error(function() api.vwap({ 1 }, { 1 }, { 1 }, { 1, 2 }) end, "mts.vwap: volume and high differ in length (2 vs 1)")
        assert.has_error(function() api.vwap({ 1 }, { 1 }, { 1 }, { 1 }, 1.5) end)
        assert.has_error(function() api.rolling_min({ 1 }, 0) end, "mts.rolling_min: window must be an integer >= 1, got 0")
        assert.has_error(function() api.rolling_max("x", 3) end)
        assert.has_error(function() api.ema_stream(0) end, "mts.ema_stream: period must be an integer >= 1, got 0")
        assert.has_error(function() api.atr_stream(-1) end, "mts.atr_stream: period must be an integer >= 1, got -1")
        assert.has_error(function() api.macd_stream(12, 26, 0) end, "mts.macd_stream: signal period must be an integer >= 1, got 0")
        assert.has_error(function() api.bbands_stream(1) end, "mts.bbands_stream: window must be an integer >= 2, got 1")
        assert.has_error(function() api.bbands_stream(20, 0 / 0) end)
        assert.has_error(function() api.rolling_max_stream(0) end, "mts.rolling_max_stream: window must be an integer >= 1, got 0")
    end)
    it("push checks its receiver and values", function()
        local a = api.atr_stream(3)
        assert.has_error(function() a.push(nil, 1, 2, 3) end, "push: call it as a:push(high, low, close)")
        assert.has_error(function() a:push(1, 2) end, "push: high, low, close must be numbers, got a nil as argument 3")
        local v = api.vwap_stream()
        assert.has_error(function() v:push(1, 2, 3, "4") end, "push: high, low, close, volume must be numbers, got a string as argument 4")
        local e = api.ema_stream(3)
        assert.has_error(function() e.push(nil, 1) end, "push: call it as r:push(x)")
        assert.has_error(function() e:push("1") end, "push: x must be a number, got string")
        local m, b = api.macd_stream(), api.bbands_stream(20)
        assert.has_error(function() m.push(b, 1) end, "push: call it as m:push(x)")
        assert.has_error(function() b:push(nil) end, "push: x must be a number, got nil")
    end)
    it("strategies get checked views from the three-series indicators", function()
        local m, u, l = api.bbands({ 2, 4, 4, 4, 5, 5, 7, 9 }, 8)
        assert.are.equal(5, m[7]); assert.are.equal(9, u[7]); assert.are.equal(1, l[7])
        assert.has_error(function() return u[8] end)
        local line, sig, hist = api.macd({ 1, 2, 3, 4, 5 }, 2, 3, 2)
        assert.are.equal(0.5, line[2])
        assert.is_true(sig[2] ~= sig[2])
        assert.has_error(function() return hist[5] end)
    end)
end)
