-- engine_quiet_spec.lua — the engine's quiet bars (engine.h: mts_engine_quiet,
-- mts_engine_skip), the runner's fast path: skipping k quiet bars must leave
-- the engine exactly as k calls of mts_engine_next would (equity curve point
-- by point, marks, bar count, the step), and a run through the runner must
-- give the same fills, signals and equity curve with and without it. The
-- reference is always the one-event-per-call path (next()), not the code
-- under test. Needs the real engine (MTS_LIB).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
local H = require "setup"
local ffi = require "ffi"
local mts = require "mts"
local runner = require "runner"

if not pcall(ffi.typeof, "mts_engine_config_t") then
    ffi.cdef [[
typedef struct mts_engine_config { double initial_capital, commission_bps, slippage_bps, leverage; } mts_engine_config_t;
int  mts_engine_create(const mts_engine_config_t *cfg, mts_engine_t **out);
void mts_engine_free(mts_engine_t *e);
int  mts_engine_add_asset(mts_engine_t *e, const char *name, const mts_bars_t *bars, int32_t *id_out);
int64_t mts_engine_fill_count(const mts_engine_t *e);
]]
end
-- the portfolio's head (runtime/portfolio/portfolio.h), for the equity curve
if not pcall(ffi.typeof, "mts_quiet_spec_pf_t") then
    ffi.cdef [[
typedef struct mts_quiet_spec_pf {
    double initial_capital, cash, total_fees;
    int32_t n_assets;
    void *pos, *trades;
    int64_t n_trades, cap_trades;
    mts_series_t equity;
} mts_quiet_spec_pf_t;
const mts_quiet_spec_pf_t *mts_engine_portfolio(const mts_engine_t *e);
int64_t mts_engine_bars_done(const mts_engine_t *e);
]]
end
-- closed trades (portfolio.h mts_trade_t; engine.h mts_engine_trades), under a
-- spec-local name so no other cdef of the same symbol can clash
if not pcall(ffi.typeof, "mts_quiet_spec_trade_t") then
    ffi.cdef [[
typedef struct mts_quiet_spec_trade {
    int32_t asset, side; double qty; int64_t entry_ts; double entry_price; int64_t exit_ts;
    double exit_price, pnl, fees, funding, mae, mfe;
    int32_t book, strategy, entry_reason, exit_reason;
} mts_quiet_spec_trade_t;
const mts_quiet_spec_trade_t *mts_quiet_spec_trades(mts_engine_t *e, int64_t *n) __asm__("mts_engine_trades");
]]
end
local C = mts.C
local have = pcall(function() return C.mts_engine_create and C.mts_engine_quiet and C.mts_engine_skip end)

local NaN = 0 / 0

-- n bars of a walk from a fixed seed; close NaN at the indices in `holes`
local function bars(n, holes, t0, step)
    local keep = {}
    local function arr(ct)
        local a = ffi.new(ct, n)
        keep[#keep + 1] = a
        return a
    end
    local b = ffi.new("mts_bars_t")
    b.ts, b.open, b.high, b.low, b.close, b.volume =
        arr("int64_t[?]"), arr("double[?]"), arr("double[?]"), arr("double[?]"), arr("double[?]"), arr("double[?]")
    local x, px = 12345, 100
    for i = 0, n - 1 do
        x = (x * 1103515245 + 12345) % 2147483648
        local c = px * (1 + (x / 2147483648 - 0.5) * 0.04)
        b.ts[i] = (t0 or 0) + i * (step or 60)
        b.open[i], b.close[i] = px, c
        b.high[i], b.low[i] = math.max(px, c) * 1.001, math.min(px, c) * 0.999
        b.volume[i] = 1
        px = c
    end
    for _, h in ipairs(holes or {}) do b.close[h] = NaN end
    b.n, b.cap = n, n
    keep[#keep + 1] = b
    return b, keep
end

local function engine(assets)
    local pe = ffi.new("mts_engine_t *[1]")
    assert(C.mts_engine_create(ffi.new("mts_engine_config_t", { 100000, 10, 0 }), pe) == 0)
    local e = ffi.gc(pe[0], C.mts_engine_free)
    for k, b in ipairs(assets) do
        assert(C.mts_engine_add_asset(e, "a" .. k, b, ffi.new("int32_t[1]")) == 0)
    end
    return e
end

local function curve(e)
    local s = C.mts_engine_portfolio(e).equity
    local out = {}
    for k = 0, tonumber(s.n) - 1 do out[#out + 1] = { tonumber(s.ts[k]), s.v[k] } end
    return out
end

-- The closed trades' story, every field (MAE/MFE included: skipped bars widen them).
local function trades(e)
    local n = ffi.new("int64_t[1]")
    local t = C.mts_quiet_spec_trades(e, n)
    local out = {}
    for k = 0, tonumber(n[0]) - 1 do
        local r = t[k]
        out[#out + 1] = { r.asset, r.side, r.qty, tonumber(r.entry_ts), r.entry_price, tonumber(r.exit_ts),
                          r.exit_price, r.pnl, r.fees, r.funding, r.mae, r.mfe, r.book, r.strategy,
                          r.entry_reason, r.exit_reason }
    end
    return out
end

-- Drives e to the end; at bar events, `hook(e, ev)` may act (submit, skip).
local function drive(e, hook)
    local ev = ffi.new("mts_event_t")
    C.mts_engine_step_events(e, 0)
    local seen = {}
    while true do
        local rc = C.mts_engine_next(e, ev)
        assert(rc >= 0, ffi.string(C.mts_engine_errmsg(e)))
        if rc == 0 then break end
        if ev.kind == 1 then
            seen[#seen + 1] = tonumber(ev.index)
            if hook then
                local more = hook(e, ev)
                if type(more) == "table" then
                    for _, i in ipairs(more) do seen[#seen + 1] = i end
                end
            end
        end
    end
    return seen
end

describe("engine quiet bars", function()
    if not have then
        pending("MTS_LIB has no engine with quiet bars (build lib/libmts.so)")
        return
    end

    it("skipping gives next()'s equity curve, marks and bar count, NaN closes included", function()
        local b, keep = bars(5000, { 17, 2047, 2048, 4999 })
        -- a position from bar 1 on, so that the equity follows the marks
        local function buy_once(en, ev)
            if ev.index == 0 then
                assert.are.equal(0, C.mts_engine_submit(en, ffi.new("mts_order_t", { asset = 0, type = 0, qty = 3 })))
                return true
            end
        end
        local ref = engine({ b })
        local seen_ref = drive(ref, buy_once)
        local e = engine({ b })
        local skips = 0
        local seen = drive(e, function(en, ev)
            if buy_once(en, ev) then return end
            local q = tonumber(C.mts_engine_quiet(en, ev.asset, 1023))
            if q == 0 then return end
            local k = math.max(1, math.floor(q * 0.7))   -- not always all of them
            assert.are.equal(0, C.mts_engine_skip(en, ev.asset, k))
            skips = skips + 1
            local out = {}
            for j = 1, k do out[j] = tonumber(ev.index) + j end
            return out
        end)
        assert.is_true(skips > 4)
        assert.are.same(seen_ref, seen)                  -- every bar once, in order
        assert.are.same(curve(ref), curve(e))            -- point by point, bit for bit
        assert.are.equal(5000, #curve(e))
        assert.are.equal(3, C.mts_engine_position(e, 0))
        assert.are.equal(C.mts_engine_mark(ref, 0), C.mts_engine_mark(e, 0))
        assert.are.equal(tonumber(C.mts_engine_bars_done(ref)), tonumber(C.mts_engine_bars_done(e)))
        keep = nil
    end)

    it("a trade held across skipped bars has next()'s MAE/MFE", function()
        local b, keep = bars(5000, { 17 })
        -- long 3 from bar 1, sold at bar 3001: the skipped bars' lows/highs are its range
        local function trade(en, ev)
            local q = ev.index == 0 and 3 or ev.index == 3000 and -3 or nil
            if q then
                assert.are.equal(0, C.mts_engine_submit(en, ffi.new("mts_order_t", { asset = 0, type = 0, qty = q })))
                return true
            end
        end
        local ref = engine({ b })
        drive(ref, trade)
        local e = engine({ b })
        local skips = 0
        drive(e, function(en, ev)
            if trade(en, ev) then return end
            local q = tonumber(C.mts_engine_quiet(en, ev.asset, 1023))
            local i = tonumber(ev.index)
            if i < 3000 and i + q >= 3000 then q = 2999 - i end   -- stop to sell at 3000
            if q <= 0 then return end
            assert.are.equal(0, C.mts_engine_skip(en, ev.asset, q))
            skips = skips + 1
            local out = {}
            for j = 1, q do out[j] = tonumber(ev.index) + j end
            return out
        end)
        assert.is_true(skips > 2)
        local tr, tt = trades(ref), trades(e)
        assert.are.equal(1, #tr)
        assert.is_true(tr[1][11] < 0 and tr[1][12] > 0)   -- the walk went both ways
        assert.are.same(tr, tt)
        assert.are.same(curve(ref), curve(e))
        keep = nil
    end)

    it("never runs across a multiple of 1024 bars (the cancel check)", function()
        local b, keep = bars(3000)
        local e = engine({ b })
        drive(e, function(en, ev)
            local done = tonumber(C.mts_engine_bars_done(en))
            local q = tonumber(C.mts_engine_quiet(en, ev.asset, 100000))
            assert.is_true(math.floor((done + q) / 1024) == math.floor(done / 1024))
            if q > 0 then assert.are.equal(0, C.mts_engine_skip(en, ev.asset, q)) end
        end)
        keep = nil
    end)

    it("is 0 with step events on, for another asset, with an order, or stops to watch", function()
        local b, keep = bars(50)
        local e = engine({ b })
        local ev = ffi.new("mts_event_t")
        assert.are.equal(0, tonumber(C.mts_engine_quiet(e, 0, 10)))          -- not started
        assert.are.equal(1, C.mts_engine_next(e, ev))
        assert.are.equal(0, tonumber(C.mts_engine_quiet(e, 0, 10)))          -- STEP_END on (default)
        C.mts_engine_step_events(e, 0)
        assert.are.equal(10, tonumber(C.mts_engine_quiet(e, 0, 10)))
        assert.are.equal(0, tonumber(C.mts_engine_quiet(e, 1, 10)))          -- not that asset
        local o = ffi.new("mts_order_t", { asset = 0, type = 0, qty = 1, stop_loss_pct = 0.5 })
        assert.are.equal(0, C.mts_engine_submit(e, o))
        assert.are.equal(0, tonumber(C.mts_engine_quiet(e, 0, 10)))          -- an order pending
        assert.are.equal(-2, C.mts_engine_skip(e, 0, 1))                     -- MTS_EINVAL
        assert.are.equal(1, C.mts_engine_next(e, ev))                        -- fills, sets a stop
        assert.are.equal(1, C.mts_engine_position(e, 0))
        assert.are.equal(0, tonumber(C.mts_engine_quiet(e, 0, 10)))          -- a stop to watch
        keep = nil
    end)

    it("is 0 while another asset still has bars", function()
        local b1, k1 = bars(20)
        local b2, k2 = bars(10)
        local e = engine({ b1, b2 })
        local ev = ffi.new("mts_event_t")
        C.mts_engine_step_events(e, 0)
        local quiet_at = {}
        while C.mts_engine_next(e, ev) == 1 do
            if ev.kind == 1 and C.mts_engine_quiet(e, ev.asset, 100) > 0 then
                quiet_at[#quiet_at + 1] = tonumber(ev.index)
            end
        end
        -- a1's bars 0..9 share steps with a2's; from a1's bar 9 (a2 done) on, quiet
        assert.is_true(#quiet_at > 0)
        for _, i in ipairs(quiet_at) do assert.is_true(i >= 9) end
        k1, k2 = nil, nil
    end)
end)

describe("runner with quiet bars", function()
    if not have then
        pending("MTS_LIB has no engine with quiet bars (build lib/libmts.so)")
        return
    end
    local LIMITS = { max_position_size = 0.10, max_portfolio_risk = 0.25 }

    -- the engine's functions without the quiet ones: the runner steps bar by bar
    local no_quiet = setmetatable({}, { __index = function(_, k)
        if k == "mts_engine_quiet" or k == "mts_engine_skip" then return nil end
        return C[k]
    end })

    local function run(root, cns, name, params, b)
        local e = engine({ b })
        local res, msg = runner.run({ root = root, strategies = { name }, engine = e, interval = "1m",
                                      params = params }, { C = cns, limits = LIMITS, log = function() end })
        assert.is_table(res, msg)
        return e, res
    end

    it("sma_cross: the same fills, equity curve and disabled list as bar by bar", function()
        local dir = H.tree({})
        H.copy_into(dir, "scripts/strategies/sma_cross.lua")
        local b, keep = bars(20000, { 500 })
        local params = { { key = "fast", value = "5" }, { key = "slow", value = "20" }, { key = "units", value = "2" } }
        local ref, rres = run(dir, no_quiet, "sma_cross", params, b)
        local e, res = run(dir, C, "sma_cross", params, b)
        H.rmtree(dir)
        assert.is_true(tonumber(C.mts_engine_fill_count(ref)) > 100)
        assert.are.equal(tonumber(C.mts_engine_fill_count(ref)), tonumber(C.mts_engine_fill_count(e)))
        assert.are.same(curve(ref), curve(e))
        assert.are.same(trades(ref), trades(e))
        assert.are.same(rres.disabled, res.disabled)
        keep = nil
    end)

    it("a strategy that fails mid-run is disabled at the same bar, with the same message", function()
        local src = [[
local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    if i == 3000 then error("boom at " .. i) end
    if i % 97 == 0 then return { signal_type = (i % 194 == 0) and "LONG" or "CLOSE", units = 1 } end
end
return M]]
        local dir = H.tree({ ["scripts/strategies/failing.lua"] = src })
        local b, keep = bars(6000)
        local ref, rres = run(dir, no_quiet, "failing", {}, b)
        local e, res = run(dir, C, "failing", {}, b)
        H.rmtree(dir)
        assert.are.equal(1, #res.disabled)
        assert.truthy(res.disabled[1]:find("failing.lua:4: boom at 3000", 1, true))
        assert.are.same(rres.disabled, res.disabled)
        assert.are.same(curve(ref), curve(e))
        assert.are.equal(tonumber(C.mts_engine_fill_count(ref)), tonumber(C.mts_engine_fill_count(e)))
        keep = nil
    end)
end)
