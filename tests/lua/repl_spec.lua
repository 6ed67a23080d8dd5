-- repl_spec.lua — the REPL's Lua half (scripts/lib/repl.lua) and the series
-- objects of scripts/lib/api.lua, outside the host (no database).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
require "setup"
local repl = require "repl"
local api = require "api"

describe("repl.compile", function()
    it("reads bare expressions and =expr as return", function()
        assert.are.equal(3, repl.compile("1 + 2")())
        assert.are.equal(6, repl.compile("=2 * 3")())
        local a, b = repl.compile("1, 2")()
        assert.are.equal(2, b)
    end)
    it("reports unfinished chunks as incomplete and syntax errors as errors", function()
        local fn, err = repl.compile("function f()")
        assert.is_nil(fn)
        assert.are.equal("incomplete", err)
        assert.are.equal("incomplete", select(2, repl.compile("for i = 1, 3 do")))
        assert.are.equal("incomplete", select(2, repl.compile("x = [[abc")))
        fn, err = repl.compile("x = = 1")
        assert.is_nil(fn)
        assert.matches("stdin:1:", err)
    end)
    it("keeps the location of an error raised by a called function", function()
        local ok, msg = repl.run(repl.compile("error('boom')"))
        assert.is_false(ok)
        assert.are.equal("stdin:1: boom", msg)
    end)
end)

describe("repl.complete", function()
    it("completes globals, fields and methods", function()
        rawset(_G, "mts", api.api)
        local c = repl.complete("mts.backt")
        assert.are.same({ "mts.backtest" }, c)
        rawset(_G, "zz_series", api.series({ 1, 2, 3 }))
        assert.are.same({ "zz_series:last" }, repl.complete("zz_series:las"))
        assert.are.same({ "while" }, repl.complete("whil"))
        rawset(_G, "zz_series", nil)
    end)
    it("offers methods after ':' (never a field) and hides internals", function()
        -- an object like a backtest result: fields of its own, methods behind an __index function
        local methods = { trades = function() end, open_trades = function() end }
        local obj = setmetatable({ trade_count = 7, total_return = 0.1, _ud = {}, _private = 1 },
            { __index = function(_, k) return methods[k] end,
              __complete = function() local o = {} for k in pairs(methods) do o[#o + 1] = k end return o end })
        rawset(_G, "zz_r", obj)
        assert.are.same({ "zz_r:trades" }, repl.complete("zz_r:trade"))
        assert.are.same({ "zz_r:open_trades", "zz_r:trades" }, repl.complete("zz_r:"))
        assert.are.same({ "zz_r.trade_count", "zz_r.trades" }, repl.complete("zz_r.trade"))
        assert.are.same({}, repl.complete("zz_r._"))
        for _, c in ipairs(repl.complete("zz_r.")) do assert.is_nil(c:match("%._")) end
        rawset(_G, "zz_r", nil)
    end)
end)

describe("series", function()
    local s = api.series({ 10, 20, 30, 40 })
    it("indexes from 1, slices without copying", function()
        assert.are.equal(4, #s)
        assert.are.equal(10, s[1])
        assert.are.equal(40, s[-1])
        assert.is_nil(s[5])
        assert.are.equal(40, s:last())
        local t = s:tail(2)
        assert.are.equal(2, #t)
        assert.are.equal(30, t[1])
        assert.are.equal(20, s:slice(2, 3)[1])
        assert.are.same({ 10, 20 }, s:head(2):values())
    end)
    it("maps and summarises", function()
        local m = s:map(function(v, i) return v + i end)
        assert.are.same({ 11, 22, 33, 44 }, m:values())
        assert.are.equal(25, s:mean())      -- (10+20+30+40)/4
        assert.are.equal(10, s:min())
        assert.are.equal(40, s:max())
    end)
    it("runs the indicators on series", function()
        local m = api.api.sma(s, 2)
        assert.is_true(m[1] ~= m[1])
        assert.are.equal(15, m[2])          -- (10+20)/2
        assert.are.equal(35, m[4])          -- (30+40)/2
    end)
    it("prints summaries and charts", function()
        assert.matches("series %[4%]: 10, 20, 30, 40", tostring(s))
        local chart = api.chart(s, { width = 4, height = 2 })
        assert.matches("40 │", chart)
        assert.are.equal(4, #s:spark(4):gsub("[\128-\191]", ""))
    end)
    it("prints tables aligned", function()
        local t = api.table({ "a", "b" }, { { a = 1, b = "x" }, { a = 22, b = "yy" } })
        assert.are.equal("  #  a   b \n  1   1  x \n  2  22  yy", tostring(t))
        assert.are.equal(1, #t:head(1))
    end)
end)

describe("mts.backtest options (issue 12), outside the host", function()
    -- the keys are checked before anything runs, so no database is needed
    it("refuses an unknown key, naming it", function()
        local ok, err = pcall(api.api.backtest, { strategy = "sma_cross", asset = "bitcoin", levrage = 3 })
        assert.is_false(ok)
        assert.matches("mts.backtest: unknown option 'levrage' %(one of: ", err)
        assert.matches("leverage", err)
        ok, err = pcall(api.api.optimize, { strategy = "sma_cross", asset = "bitcoin", params = { fast = "5" },
                                            maker = 1 })
        assert.is_false(ok)
        assert.matches("mts.optimize: unknown option 'maker'", err)
    end)
    it("refuses an allocation that is not {strategy = number}", function()
        local ok, err = pcall(api.api.backtest, { strategy = "sma_cross", asset = "bitcoin",
                                                  allocate = { sma_cross = "half" } })
        assert.is_false(ok)
        assert.matches("allocate.sma_cross must be a fraction of the capital %(a number%), got 'half'", err)
        ok, err = pcall(api.api.backtest, { strategy = "sma_cross", asset = "bitcoin", allocate = true })
        assert.matches("allocate must be a table", err)
    end)
    it("turns an allocation table into --allocate's text, every digit kept", function()
        local spec = api.allocation_spec("mts.backtest", { sma_cross = 0.6, mean_reversion = 0.4 })
        assert.are.equal("mean_reversion=0.40000000000000002,sma_cross=0.59999999999999998", spec)
        local back = {}
        for k, v in spec:gmatch("([%w_]+)=([^,]+)") do back[k] = tonumber(v) end
        assert.are.same({ sma_cross = 0.6, mean_reversion = 0.4 }, back)   -- the same doubles
        assert.is_nil(api.allocation_spec("mts.backtest", {}))             -- {}: not given
        assert.are.equal("a=0.5", api.allocation_spec("mts.backtest", "a=0.5"))
    end)
end)

describe("repl.complete on objects with methods behind __index", function()
    it("lists the fields after '.', only the methods after ':'", function()
        local methods = { trades = function() end, open_trades = function() end }
        local obj = setmetatable({ funding = 1, books = {} }, {
            __index = function(_, k) return methods[k] end,
            __complete = function() return { "trades", "open_trades" } end })
        rawset(_G, "zz_result", obj)
        assert.are.same({ "zz_result:open_trades", "zz_result:trades" }, repl.complete("zz_result:"))
        assert.are.same({ "zz_result.books", "zz_result.funding", "zz_result.open_trades", "zz_result.trades" },
                        repl.complete("zz_result."))
        assert.are.same({ "zz_result.funding" }, repl.complete("zz_result.fu"))
        assert.are.same({ "zz_result.trades" }, repl.complete("zz_result.tr"))
        rawset(_G, "zz_result", nil)
    end)
end)
