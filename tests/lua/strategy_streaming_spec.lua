-- strategy_streaming_spec.lua — the streaming indicators (mts.*_stream,
-- mts.rolling_mean) and the bar-by-bar strategies built on them
-- (mean_reversion, vix_correlation), on real data: the bundled daily BTC
-- closes (data/crypto) and the CBOE VIX history (data/macro).
--   * every streaming wrapper gives bit for bit the batch wrapper's values;
--   * each strategy's per-bar values equal the whole-series indicators its
--     earlier version computed in init (so backtests do not change);
--   * a strategy initialised before the bars exist (a live session: init sees
--     0 or a few bars, the rest arrive one by one) emits exactly the signals
--     of a run over all bars;
--   * misuse raises; the per-bar path allocates nothing.
-- Needs the C indicators (MTS_LIB).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
local H = require "setup"
local SH = require "strategy_harness"
local mts = require "mts"

-- ---- real data ----------------------------------------------------------------

local function days_from_civil(y, m, d)          -- Howard Hinnant's algorithm
    y = m <= 2 and y - 1 or y
    local era = math.floor(y / 400)
    local yoe = y - era * 400
    local mp = (m + 9) % 12
    local doy = math.floor((153 * mp + 2) / 5) + d - 1
    local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
    return era * 146097 + doe - 719468
end

local function read_csv(rel, parse)
    local f = assert(io.open(H.root .. "/" .. rel, "r"))
    f:read("*l")
    local ts, v = {}, {}
    for line in f:lines() do
        local t, x = parse(line)
        ts[#ts + 1], v[#v + 1] = t, x
    end
    f:close()
    return ts, v
end

local BTC_TS, BTC_CLOSE = read_csv("data/crypto/BTCUSDT_1d_binance_spot.csv", function(line)
    local y, m, d, rest = line:match("^(%d+)-(%d+)-(%d+) [^,]*,(.*)$")
    local _, _, _, c = rest:match("^([^,]*),([^,]*),([^,]*),([^,]*)")
    return days_from_civil(tonumber(y), tonumber(m), tonumber(d)) * 86400, tonumber(c)
end)
local VIX_TS, VIX_V = read_csv("data/macro/VIX_History_cboe.csv", function(line)
    local m, d, y, c = line:match("^(%d+)/(%d+)/(%d+),[^,]*,[^,]*,[^,]*,([^,\r]*)")
    return days_from_civil(tonumber(y), tonumber(m), tonumber(d)) * 86400, tonumber(c)
end)

local DATA = { close = BTC_CLOSE, ts = BTC_TS, macros = { VIX = { ts = VIX_TS, v = VIX_V } } }

local function same(a, b) return a == b or (a ~= a and b ~= b) end

local function expect_same_series(what, got, want, n)
    for i = 0, n - 1 do
        if not same(got[i], want[i]) then
            error(("%s: index %d: batch %.17g, streaming %.17g"):format(what, i, want[i], got[i]), 2)
        end
    end
end

-- ---- the streaming wrappers ------------------------------------------------------

describe("streaming indicators", function()
    local n = #BTC_CLOSE
    local x = mts.series(n)
    for i = 1, n do x[i - 1] = BTC_CLOSE[i] end
    x[100] = 0 / 0                               -- a NaN gap, as in the C tests

    local function stream(obj, n_, f)
        local out = mts.series(n_)
        for i = 0, n_ - 1 do out[i] = f(obj, i) end
        return out
    end

    it("equal the batch functions bit for bit on the BTC closes", function()
        assert.is_true(n > 2000)
        for _, w in ipairs({ 2, 7, 14, 30, 252 }) do
            expect_same_series("rolling_mean " .. w, stream(mts.rolling_mean(w), n, function(r, i) return r:push(x[i]) end),
                mts.sma(x, w), n)
            expect_same_series("rolling_std " .. w, stream(mts.rolling_std_stream(w), n, function(r, i) return r:push(x[i]) end),
                mts.rolling_std(x, w), n)
            expect_same_series("rsi " .. w, stream(mts.rsi_stream(w), n, function(r, i) return r:push(x[i]) end),
                mts.rsi(x, w), n)
            expect_same_series("pct_rank " .. w, stream(mts.pct_rank_stream(w), n, function(r, i) return r:push(x[i]) end),
                mts.pct_rank(x, w), n)
        end
        expect_same_series("drawdown", stream(mts.drawdown_stream(), n, function(r, i) return r:push(x[i]) end),
            mts.drawdown(x), n)
        local ret = mts.pct_change(x)
        expect_same_series("pct_change", stream(mts.pct_change_stream(), n, function(r, i) return r:push(x[i]) end),
            ret, n)
        expect_same_series("diff", stream(mts.diff_stream(), n, function(r, i) return r:push(x[i]) end),
            mts.diff(x), n)
        local al = mts.align_asof({ ts = VIX_TS, v = VIX_V }, BTC_TS)
        local a = mts.asof_stream({ ts = VIX_TS, v = VIX_V })
        expect_same_series("asof", stream(a, n, function(r, i) return r:at(BTC_TS[i + 1]) end), al, n)
        local dv = mts.diff(al)
        for _, w in ipairs({ 7, 30 }) do
            expect_same_series("rolling_corr " .. w,
                stream(mts.rolling_corr_stream(w), n, function(r, i) return r:push(ret[i], dv[i]) end),
                mts.rolling_corr(ret, dv, w), n)
        end
    end)

    it("reject misuse with a message", function()
        local api = mts.api
        assert.has_error(function() api.rsi_stream(0) end, "mts.rsi_stream: period must be an integer >= 1, got 0")
        assert.has_error(function() api.pct_rank_stream(1.5) end)
        assert.has_error(function() api.rolling_corr_stream("7") end)
        local r = api.rolling_std_stream(3)
        assert.has_error(function() r.push(nil, 1) end, "push: call it as r:push(x)")
        assert.has_error(function() r:push("1") end, "push: x must be a number, got string")
        local c = api.rolling_corr_stream(3)
        assert.has_error(function() c:push(1) end, "push: x and y must be numbers, got number and nil")
        assert.has_error(function() api.asof_stream({ ts = { 20, 10 }, v = { 1, 2 }, n = 2 }) end,
            "mts.asof_stream: src.ts must be ascending")
        assert.has_error(function() api.asof_stream(42) end)
        local a = api.asof_stream({ ts = { 10, 20 }, v = { 1, 2 }, n = 2 })
        assert.has_error(function() a.at(nil, 10) end, "at: call it as a:at(t)")
        assert.are.equal(1, a:at(15))
        assert.are.equal(2, a:at(25))
        assert.are.equal(1, a:at(10))     -- backwards: rescan
    end)
end)

-- ---- the strategies, bar by bar ---------------------------------------------------------

-- Runs strat over DATA bar by bar the way a live session does: init sees only
-- the first k bars (the warm-up), the later ones arrive one at a time (ctx.n
-- grows; the strategies do not read ctx.series). Returns the signals and, per
-- bar, a copy of the fields of the analysis named in `fields`.
local function live_run(strat, params, k, fields)
    local first = { close = {}, ts = {}, macros = DATA.macros }
    for i = 1, k do first.close[i], first.ts[i] = DATA.close[i], DATA.ts[i] end
    local ctx = SH.ctx(strat, first, params)
    strat.init(ctx)
    local sigs, seen = {}, {}
    for i = 0, #DATA.close - 1 do
        ctx.n = math.max(ctx.n, i + 1)
        ctx.i, ctx.time, ctx.close = i, DATA.ts[i + 1], DATA.close[i + 1]
        local a = strat.analyze(ctx)
        if fields then
            local rec = {}
            for _, f in ipairs(fields) do rec[f] = a[f] end
            seen[i] = rec
        end
        local sig = strat.generate_signals(a)
        if sig ~= nil then sigs[#sigs + 1] = { i = i, sig = sig } end
    end
    return sigs, seen
end

local function sig_list(sigs)
    local out = {}
    for _, s in ipairs(sigs) do
        out[#out + 1] = ("%s@%d conf=%.17g size=%s"):format(s.sig.signal_type, s.i, s.sig.confidence,
            tostring(s.sig.position_size))
    end
    return out
end

describe("mean_reversion bar by bar", function()
    local strat = SH.load("mean_reversion")

    it("has the whole-series indicators' values at every bar", function()
        local p = strat.get_parameters()
        local _, seen = live_run(strat, {}, #DATA.close,
            { "vix", "drawdown_from_high", "rsi", "vix_percentile" })
        local n = #DATA.close
        local close, ts = mts.series(n), mts.int64_vla(n)
        for i = 1, n do close[i - 1], ts[i - 1] = DATA.close[i], DATA.ts[i] end
        local vix = mts.align_asof({ ts = VIX_TS, v = VIX_V }, ts)
        local want = { vix = vix, drawdown_from_high = mts.drawdown(close), rsi = mts.rsi(close, p.rsi_period),
                       vix_percentile = mts.pct_rank(vix, p.vix_percentile_lookback) }
        for f, w in pairs(want) do
            for i = 0, n - 1 do
                if not same(seen[i][f], w[i]) then
                    error(("%s at bar %d: want %.17g, got %.17g"):format(f, i, w[i], seen[i][f]))
                end
            end
        end
    end)

    it("gives a live session (init before the bars) the signals of a full run", function()
        local full = SH.run(strat, SH.ctx(strat, DATA, {}))
        assert.is_true(#full >= 4, "the BTC history must make mean_reversion trade")
        local want = sig_list(full)
        assert.are.same(want, sig_list((live_run(strat, {}, 0))))
        assert.are.same(want, sig_list((live_run(strat, {}, 300))))
    end)

    it("must see every bar once, in order; a repeated bar changes nothing", function()
        local ctx = SH.ctx(strat, DATA, {})
        strat.init(ctx)
        ctx.i, ctx.time, ctx.close = 0, DATA.ts[1], DATA.close[1]
        strat.analyze(ctx)
        ctx.i, ctx.time, ctx.close = 2, DATA.ts[3], DATA.close[3]
        assert.has_error(function() strat.analyze(ctx) end)
        ctx.i, ctx.time, ctx.close = 1, DATA.ts[2], DATA.close[2]
        local dd = strat.analyze(ctx).drawdown_from_high
        assert.are.equal(dd, strat.analyze(ctx).drawdown_from_high)
        -- (7824.8 is the first close; the second is 8189.99 > 7824.8: a new high, drawdown 0)
        assert.are.equal(0, dd)
    end)

    it("allocates nothing per bar", function()
        -- a first pass compiles the traces (trace objects live on the GC heap
        -- too); the second, over a fresh context, is measured
        local n = #DATA.close
        local grown
        for pass = 1, 2 do
            local ctx = SH.ctx(strat, DATA, {})
            strat.init(ctx)
            collectgarbage("collect")
            collectgarbage("stop")
            local before = collectgarbage("count")
            for i = 0, n - 1 do
                ctx.i, ctx.time, ctx.close = i, DATA.ts[i + 1], DATA.close[i + 1]
                strat.analyze(ctx)
            end
            grown = (collectgarbage("count") - before) * 1024
            collectgarbage("restart")
        end
        -- a table per bar would be >= 32 bytes x 2900 bars = 93 KB; a trace
        -- LuaJIT still compiles in the measured pass (which ones, and when,
        -- varies from run to run: it hashes addresses, and ASLR moves them)
        -- can add a few KB, seen up to 2.3 KB
        assert.is_true(grown < 8192, ("%d bytes over %d bars"):format(grown, n))
    end)
end)

describe("vix_correlation bar by bar", function()
    local strat = SH.load("vix_correlation")

    it("has the whole-series correlations at every bar", function()
        local p = strat.get_parameters()
        local n = #DATA.close
        local ctx = SH.ctx(strat, DATA, {})
        strat.init(ctx)
        local close, ts = mts.series(n), mts.int64_vla(n)
        for i = 1, n do close[i - 1], ts[i - 1] = DATA.close[i], DATA.ts[i] end
        local vix = mts.align_asof({ ts = VIX_TS, v = VIX_V }, ts)
        local ret, dv = mts.pct_change(close), mts.diff(vix)
        local want = {}
        for _, w in ipairs(p.correlation_windows) do want[w] = mts.rolling_corr(ret, dv, w) end
        local defined = 0
        for i = 0, n - 1 do
            ctx.i, ctx.time, ctx.close = i, DATA.ts[i + 1], DATA.close[i + 1]
            local a = strat.analyze(ctx)
            assert.is_true(same(a.vix, vix[i]))
            for w, c in pairs(want) do
                if not same(a.correlations_by_window[w], c[i]) then
                    error(("corr %d at bar %d: want %.17g, got %.17g"):format(w, i, c[i], a.correlations_by_window[w]))
                end
            end
            assert.is_true(same(a.current_correlation, want[p.lookback_days][i]))
            if a.current_correlation == a.current_correlation then defined = defined + 1 end
        end
        assert.is_true(defined > 1000)
    end)

    it("gives a live session (init before the bars) the signals of a full run", function()
        local full = SH.run(strat, SH.ctx(strat, DATA, {}))
        assert.is_true(#full >= 10, "the BTC history must make vix_correlation trade")
        local want = sig_list(full)
        assert.are.same(want, sig_list((live_run(strat, {}, 0))))
        assert.are.same(want, sig_list((live_run(strat, {}, 100))))
    end)

    it("must see every bar once, in order", function()
        local ctx = SH.ctx(strat, DATA, {})
        strat.init(ctx)
        ctx.i, ctx.time, ctx.close = 1, DATA.ts[2], DATA.close[2]
        assert.has_error(function() strat.analyze(ctx) end)
    end)
end)
