-- engine_runner_spec.lua — runner.lua over the real C engine, reached through
-- the FFI in the library of MTS_LIB (lib/libmts.so by default). Checks the
-- timing contract end to end: a decision on bar i's close fills at bar i+1's
-- open, before the strategy sees bar i+1. Skipped (pending) when the library
-- has no engine (e.g. a library built from the indicators only).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
local H = require "setup"
local ffi = require "ffi"
local mts = require "mts"
local runner = require "runner"

-- engine.h's C-only part, needed to build an engine from Lua
if not pcall(ffi.typeof, "mts_engine_config_t") then
    ffi.cdef [[
typedef struct mts_engine_config { double initial_capital, commission_bps, slippage_bps, leverage; } mts_engine_config_t;
int  mts_engine_create(const mts_engine_config_t *cfg, mts_engine_t **out);
void mts_engine_free(mts_engine_t *e);
int  mts_engine_add_asset(mts_engine_t *e, const char *name, const mts_bars_t *bars, int32_t *id_out);
int64_t mts_engine_fill_count(const mts_engine_t *e);
]]
end
-- books (engine.h, C-only): declared once per process
pcall(ffi.cdef, "int mts_engine_set_books(mts_engine_t *e, int32_t n, const double *alloc);")
local C = mts.C
local have_engine = pcall(function() return C.mts_engine_create end)

local LIMITS = { max_position_size = 0.10, max_portfolio_risk = 0.25 }

local function make_engine(close, open, alloc)
    local n = #close
    local keep = {}
    local function arr(ct, f)
        local a = ffi.new(ct, n)
        for i = 1, n do a[i - 1] = f(i) end
        keep[#keep + 1] = a
        return a
    end
    local b = ffi.new("mts_bars_t")
    b.ts = arr("int64_t[?]", function(i) return (i - 1) * 86400 end)
    b.open = arr("double[?]", function(i) return open[i] end)
    b.close = arr("double[?]", function(i) return close[i] end)
    b.high = arr("double[?]", function(i) return math.max(open[i], close[i]) end)
    b.low = arr("double[?]", function(i) return math.min(open[i], close[i]) end)
    b.volume = arr("double[?]", function() return 1 end)
    b.n, b.cap = n, n
    keep[#keep + 1] = b
    local pe = ffi.new("mts_engine_t *[1]")
    assert(C.mts_engine_create(ffi.new("mts_engine_config_t", { 100000, 0, 0 }), pe) == 0)
    local e = ffi.gc(pe[0], C.mts_engine_free)
    assert(C.mts_engine_add_asset(e, "bitcoin", b, ffi.new("int32_t[1]")) == 0)
    if alloc then
        assert(C.mts_engine_set_books(e, #alloc, ffi.new("double[?]", #alloc, alloc)) == 0)
    end
    return e, keep
end

describe("runner over the C engine", function()
    if not have_engine then
        pending("MTS_LIB has no engine (build lib/libmts.so)")
        return
    end

    it("sma_cross buys `units` at the open after the up-cross bar", function()
        local dir = H.tree({})
        H.copy_into(dir, "scripts/strategies/sma_cross.lua")
        -- closes of sma_cross_spec: CLOSE@5 (flat, no order), LONG@7 -> fill at open[8] = 9
        local e, keep = make_engine({ 10, 10, 10, 13, 13, 7, 7, 10, 10, 10 }, { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 })
        local res, msg = runner.run({ root = dir, strategies = { "sma_cross" }, engine = e,
                                      params = { { key = "fast", value = "2" }, { key = "slow", value = "3" },
                                                 { key = "units", value = "3" } } },
                                    { C = C, limits = LIMITS, log = function() end })
        H.rmtree(dir)
        assert.is_table(res, msg)
        assert.are.equal(1, tonumber(C.mts_engine_fill_count(e)))
        assert.are.equal(3, C.mts_engine_position(e, 0))
        assert.are.equal(9, C.mts_engine_avg_cost(e, 0))
        keep = nil
    end)

    it("the fill is visible to the strategy on the next bar", function()
        local src = [[
local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    print(i, ctx.position())
    if i == 1 then return { signal_type = "LONG", units = 2 } end
end
return M]]
        local dir = H.tree({ ["scripts/strategies/p.lua"] = src })
        local e, keep = make_engine({ 5, 6, 7 }, { 5, 6, 7 })
        local lines = {}
        local res = runner.run({ root = dir, strategies = { "p" }, engine = e },
                               { C = C, limits = LIMITS, log = function() end,
                                 print = function(_, text) lines[#lines + 1] = text end })
        H.rmtree(dir)
        assert.is_table(res)
        assert.are.same({ "0\t0", "1\t0", "2\t2" }, lines)
        keep = nil
    end)

    -- two books (independent mode): a's LONG of bar 1 fills at bar 2's open in
    -- book 0; b's ctx.position() (book 1) never sees it, so b's "close what I
    -- hold" sells nothing, and b's own LONG of bar 3 is sized on its own book
    local A = [[
local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    print(i, ctx.position())
    if i == 1 then return { signal_type = "LONG", units = 2 } end
end
return M]]
    local B = [[
local M = {}
function M.get_parameters() return {} end
function M.on_bar(ctx, asset, i)
    print(i, ctx.position())
    if ctx.position() ~= 0 then return { signal_type = "CLOSE" } end
    if i == 3 then return { signal_type = "LONG", position_size = 0.05 } end
end
return M]]

    it("gives each strategy its own book in independent mode", function()
        local dir = H.tree({ ["scripts/strategies/a.lua"] = A, ["scripts/strategies/b.lua"] = B })
        local e, keep = make_engine({ 5, 6, 7, 8, 9, 10 }, { 5, 6, 7, 8, 9, 10 }, { 0.5, 0.5 })
        local lines = { a = {}, b = {} }
        local res, msg = runner.run({ root = dir, strategies = { "a", "b" }, engine = e },
                                    { C = C, limits = LIMITS, log = function() end,
                                      print = function(name, text) table.insert(lines[name], text) end })
        H.rmtree(dir)
        assert.is_table(res, msg)
        assert.are.same({ "0\t0", "1\t0", "2\t2", "3\t2", "4\t2", "5\t2" }, lines.a)
        -- b: LONG on bar 3 -> 0.05 * 50000 / 8 = 312.5 at bar 4's open; then CLOSE on bar 4
        assert.are.same({ "0\t0", "1\t0", "2\t0", "3\t0", "4\t312.5", "5\t0" }, lines.b)
        assert.are.equal(2, C.mts_engine_book_position(e, 0, 0))
        assert.are.equal(0, C.mts_engine_book_position(e, 1, 0))
        assert.are.equal(2, C.mts_engine_position(e, 0))      -- the account: the sum
        keep = nil
    end)

    it("shares one book in vote mode: b closes what a bought (the behaviour before books)", function()
        local dir = H.tree({ ["scripts/strategies/a.lua"] = A, ["scripts/strategies/b.lua"] = B })
        local e, keep = make_engine({ 5, 6, 7, 8, 9, 10 }, { 5, 6, 7, 8, 9, 10 })
        local lines = { a = {}, b = {} }
        local res, msg = runner.run({ root = dir, strategies = { "a", "b" }, engine = e, mode = "vote" },
                                    { C = C, limits = LIMITS, log = function() end,
                                      print = function(name, text) table.insert(lines[name], text) end })
        H.rmtree(dir)
        assert.is_table(res, msg)
        -- bar 2: both see 2; b's CLOSE of bar 2 sells at bar 3's open (2 bought at 7, sold
        -- at 8, no fees: equity 100002); b's LONG of bar 3: 0.05 * 100002 / 8 = 625.0125 at
        -- bar 4; CLOSE on bar 4 -> flat at bar 5
        assert.are.same({ "0\t0", "1\t0", "2\t2", "3\t0", "4\t625.0125", "5\t0" }, lines.b)
        assert.are.equal(0, C.mts_engine_position(e, 0))
        keep = nil
    end)
end)
