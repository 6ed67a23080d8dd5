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

describe("repl.attach (mts repl --attach: a stand-in connection)", function()
    local json = require "json"
    -- conn:call(request_json) as runtime/cmd/repl.c's userdata: the reply line, or nil, message, code
    local sent, replies, closed = {}, {}, false
    local conn = {
        call = function(_, text)
            local q = json.decode(text)
            sent[#sent + 1] = q
            local r = replies[q.op]
            if type(r) == "function" then return r(q) end
            if r == nil then return nil, "the session closed the connection", "closed" end
            return json.encode({ id = 1, ok = true, result = r })
        end,
        close = function() closed = true end,
    }
    local banner
    setup(function()
        banner = repl.attach(conn, '{"hello":"mts-session","session":17,"pid":4242,"strategies":["sma_cross"],'
            .. '"shadows":["sma_cross:fast=5"],"interval":"1h"}', false, 17)
    end)
    teardown(function() rawset(_G, "session", nil) end)

    it("greets with the session, its strategies and the access", function()
        assert.matches("attached to session 17 %(pid 4242, 1h%): strategies sma_cross; shadows sma_cross:fast=5", banner)
        assert.matches("read%-only", banner)
        assert.are.equal(17, session.id)
        assert.is_false(session.write)
    end)
    it("lists the books live first, then the shadows, with pnl and return when missing", function()
        replies.books = { { book = 1, strategy = "sma_cross:fast=5", shadow = true, initial = 1000, equity = 1100 },
                          { book = 0, strategy = "sma_cross", shadow = false, initial = 2000, equity = 1900 } }
        local b = session:books()
        assert.are.equal("books", sent[#sent].op)
        assert.are.equal(2, #b)
        assert.are.equal("sma_cross", b[1].strategy)
        assert.are.equal("live", b[1].kind)
        assert.are.equal("shadow", b[2].kind)
        assert.are.equal(-100, b[1].pnl)        -- 1900 - 2000
        assert.are.equal(100, b[2].pnl)         -- 1100 - 1000
        assert.is_true(math.abs(b[2]["return"] - 0.1) < 1e-12)   -- 1100 / 1000 - 1
        local text = tostring(b)
        assert.matches("strategy%s+kind%s+initial%s+equity%s+pnl", text)
        assert.is_truthy(text:find("live", 1, true) < text:find("shadow", 1, true))
    end)
    it("sends the arguments of ctx, signals and set; reads nested ctx as a tree", function()
        replies.ctx = { ["binance:BTCUSDT"] = { state = { n = 3, hist = { 1, 2 } }, params = { fast = 10 } } }
        local c = session:ctx("sma_cross", "binance:BTCUSDT")
        assert.are.same({ op = "ctx", strategy = "sma_cross", asset = "binance:BTCUSDT" }, sent[#sent])
        assert.are.equal(10, c["binance:BTCUSDT"].params.fast)
        assert.matches("params:\n%s+fast = 10", tostring(c))
        replies.signals = { { ts = 1609459200, asset = "binance:BTCUSDT", strategy = "sma_cross", signal_type = "buy" } }
        local s = session:signals(3)
        assert.are.equal(3, sent[#sent].n)
        assert.are.equal("2021-01-01 00:00:00", s[1].time)   -- 1609459200 = 2021-01-01T00:00:00Z
        assert.has_error(function() session:signals(0) end)
    end)
    it("raises the session's error text and says what a closed connection means", function()
        replies.set = function(q)
            return json.encode({ id = q.id, ok = false, error = "read-only attach: reattach with --write" })
        end
        local ok, err = pcall(session.set, session, "sma_cross", "fast", 5)
        assert.is_false(ok)
        assert.are.equal("session 17: read-only attach: reattach with --write", err)
        assert.are.same({ op = "set", strategy = "sma_cross", key = "fast", value = 5 }, sent[#sent])
        replies.positions = nil
        ok, err = pcall(session.positions, session)
        assert.is_false(ok)
        assert.matches("session 17 closed the connection", err)
        assert.matches("mts replay 17", err)
    end)
    it("runs the dot-commands on the session, reading .set's value as a number", function()
        replies.set = { strategy = "sma_cross", key = "fast", value = 7 }
        assert.is_nil(repl.dot(".set sma_cross fast 7"))
        assert.are.same({ op = "set", strategy = "sma_cross", key = "fast", value = 7 }, sent[#sent])
        replies.pause = { strategy = "sma_cross", paused = true }
        repl.dot(".pause sma_cross")
        assert.are.same({ op = "pause", strategy = "sma_cross" }, sent[#sent])
        replies.reload = {}
        repl.dot(".reload")
        assert.are.same({ op = "reload" }, sent[#sent])
    end)
    it("completes the session's methods and the dot-commands", function()
        assert.are.same({ "session:set", "session:signals", "session:status" }, repl.complete("session:s"))
        assert.are.same({ ".books" }, repl.complete(".bo"))
        assert.are.same({ ".db", ".detach" }, repl.complete(".d"))
        for _, c in ipairs(repl.complete("session.")) do assert.is_nil(c:match("%._")) end
    end)
    it(".detach closes the connection and leaves", function()
        assert.are.equal("quit", repl.dot(".detach"))
        assert.is_true(closed)
        local ok, err = pcall(session.status, session)
        assert.is_false(ok)
        assert.matches("detached", err)
    end)
end)
