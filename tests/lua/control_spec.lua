-- control_spec.lua — scripts/lib/control.lua: the plain-data reader of strategy
-- state against hostile tables (metamethods that must never run, cycles, deep
-- nesting, huge tables, non-data values, bad UTF-8), and the op handler
-- (status/ctx/pause/resume/set/unknown) over a stand-in runner.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
require "setup"
local control = require "control"
local json = require "json"

-- a metatable whose every metamethod records that it ran
local function trap(ran)
    local mt = {}
    for _, m in ipairs({ "__index", "__newindex", "__pairs", "__ipairs", "__len", "__tostring", "__eq", "__lt",
                         "__le", "__concat", "__call", "__unm", "__add" }) do
        mt[m] = function() ran[#ran + 1] = m; error("metamethod " .. m .. " ran", 0) end
    end
    return mt
end

local function count_entries(v)
    if type(v) ~= "table" then return 0 end
    local n = 0
    for _, x in pairs(v) do n = n + 1 + count_entries(x) end
    return n
end

describe("control.plain", function()
    it("copies plain data exactly", function()
        local v = { a = 1, b = "x", c = true, d = { 1, 2, 3 }, e = { f = { g = 2.5 } }, h = {} }
        local p = control.plain(v)
        assert.are.same({ a = 1, b = "x", c = true, d = { 1, 2, 3 }, e = { f = { g = 2.5 } }, h = {} }, p)
        assert.is_true(json.is_array(p.d))
        assert.are.equal('{"a":1,"b":"x","c":true,"d":[1,2,3],"e":{"f":{"g":2.5}},"h":{}}', json.encode(p))
    end)

    it("never runs a metamethod: the raw fields only", function()
        local ran = {}
        local inner = setmetatable({ y = 2 }, trap(ran))
        local v = setmetatable({ x = 1, inner = inner, list = setmetatable({ 10, 20 }, trap(ran)) }, trap(ran))
        local p = control.plain(v)
        assert.are.same({}, ran)
        assert.are.same({ x = 1, inner = { y = 2 }, list = { 10, 20 } }, p)
        -- a field only reachable through __index is absent
        local proxy = setmetatable({}, { __index = function() ran[#ran + 1] = "index" return 42 end,
                                         __pairs = function() ran[#ran + 1] = "pairs" return next, { z = 1 } end })
        assert.are.same({}, control.plain(proxy))
        assert.are.same({}, ran)
        -- and encoding the copy runs none either
        local txt = json.encode(control.plain({ v = v, p = proxy }))
        assert.are.same({}, ran)
        assert.are.same({ v = { x = 1, inner = { y = 2 }, list = { 10, 20 } }, p = {} }, json.decode(txt))
    end)

    it("marks cycles, keeps shared (acyclic) tables", function()
        local a, b = {}, {}
        a.b, b.a, a.self = b, a, a
        local shared = { 1 }
        local p = control.plain({ a = a, s1 = shared, s2 = shared })
        assert.are.equal("<cycle>", p.a.self)
        assert.are.equal("<cycle>", p.a.b.a)
        assert.are.same({ 1 }, p.s1)
        assert.are.same({ 1 }, p.s2)
    end)

    it("stops at depth 8", function()
        local root = {}
        local t = root
        for _ = 1, 100 do t.next = {}; t = t.next end
        local p = control.plain(root)
        -- depths 0..7 are tables (8 levels), the 9th is the marker
        local q, levels = p, 0
        while type(q) == "table" do levels = levels + 1; q = q.next end
        assert.are.equal(8, levels)
        assert.are.equal("<table: deeper than 8>", q)
    end)

    it("reads at most 10000 entries of a huge table", function()
        local big = {}
        for i = 1, 50000 do big["k" .. i] = { i } end
        local budget = { n = 0 }
        local p = control.plain(big, budget)
        assert.is_true(budget.cut)
        assert.are.equal("more than 10000 entries", p["<truncated>"])
        -- entries in the copy (the marker included): at most 10000 + 1
        assert.is_true(count_entries(p) <= 10001)
        local list = {}
        for i = 1, 30000 do list[i] = i end
        local pl = control.plain(list)
        assert.is_true(#pl <= 10000)
        -- and at most MAX_BYTES (1 MiB) of strings: 1000 strings of 4000 bytes are 4 MB
        local fat = {}
        for i = 1, 1000 do fat[i] = string.rep("x", 4000) end
        local b2 = { n = 0 }
        local pf = control.plain({ fat = fat }, b2)
        assert.is_true(b2.cut)
        local kept = 0
        for _, x in ipairs(pf.fat) do if x ~= "<truncated>" then kept = kept + 1 end end
        assert.are.equal(262, kept)   -- floor(1048576 / 4000); the key "fat" is 3 bytes: 3 + 262 * 4000 <= 1048576
        assert.is_true(#json.encode(pf) < 1.2e6)
    end)

    it("writes non-data values as markers and odd keys as text", function()
        local co = coroutine.create(function() end)
        local ud = newproxy(true)
        getmetatable(ud).__tostring = function() error("ran") end
        local ffi = require "ffi"
        local tk = setmetatable({}, { __tostring = function() error("ran") end })
        local v = { f = print, co = co, ud = ud, cd = ffi.new("int[1]"), [tk] = 1, [1.5] = "x", [true] = 2,
                    nan = 0 / 0, inf = math.huge, ninf = -math.huge }
        local p = control.plain(v)
        assert.are.equal("<function>", p.f)
        assert.are.equal("<thread>", p.co)
        assert.are.equal("<userdata>", p.ud)
        assert.are.equal("<cdata>", p.cd)
        assert.are.equal(1, p["<table>"])
        assert.are.equal("x", p["1.5"])
        assert.are.equal(2, p["true"])
        assert.are.equal("nan", p.nan)
        assert.are.equal("inf", p.inf)
        assert.are.equal("-inf", p.ninf)
        assert.is_string(json.encode(p))
    end)

    it("cuts long strings and replaces bytes that are not UTF-8", function()
        local p = control.plain({ long = string.rep("a", 5000), bad = "a\255b", ok = "é€" })
        assert.are.equal(4096 + #"...<truncated>", #p.long)
        assert.are.equal("a?b", p.bad)
        assert.are.equal("é€", p.ok)
    end)
end)

describe("control handler", function()
    local ffi = require "ffi"
    -- a stand-in runner: one strategy on one asset, a reload that re-applies control_params
    local function runner()
        local ran = {}
        local s = { name = "s1", enabled = true, book = 0, params = { fast = 10, slow = 30 } }
        local state = setmetatable({ n = 3 }, trap(ran))
        s.slots = { { asset = "bitcoin", ctx = setmetatable({ state = state, params = s.params }, trap(ran)) } }
        local reloads = 0
        local function reload(st)
            reloads = reloads + 1
            local params = { fast = 10, slow = 30 }
            for _, o in ipairs(st.control_params or {}) do
                local k = o.key:match("^s1%.(.+)$")
                if params[k] == nil then return false, "declares no parameter '" .. k .. "'" end
                params[k] = tonumber(o.value)
            end
            st.params = params
            st.slots[1].ctx = setmetatable({ state = state, params = params }, trap(ran))
            return true
        end
        local C = {
            mts_engine_equity = function() return 1234.5 end,
            mts_live_control_counts = function(_, out) out[0], out[1], out[2] = 7, 42, 41 end,
        }
        local h = control.new({ C = C, LV = ffi.cast("void *", 1), e = nil, strategies = { s }, reload = reload,
                                interval = "1h" })
        return h, s, ran, function() return reloads end
    end

    local function call(h, req)
        local txt, ok = h:handle(json.encode(req))
        return ok and json.decode(txt) or txt, ok
    end

    it("status", function()
        local h = runner()
        local r, ok = call(h, { op = "status" })
        assert.is_true(ok)
        assert.are.equal(7, r.session)
        assert.are.equal(42, r.bars)
        assert.are.equal(41, r.steps)
        assert.are.equal(1234.5, r.equity)
        assert.are.equal("1h", r.interval)
        assert.are.same({}, r.paused)
        assert.are.same({ fast = 10, slow = 30 }, r.strategies[1].params)
    end)

    it("ctx reads hostile state without running it", function()
        local h, _, ran = runner()
        local r, ok = call(h, { op = "ctx", strategy = "s1" })
        assert.is_true(ok)
        assert.are.same({}, ran)
        assert.are.same({ n = 3 }, r.assets.bitcoin.state)
        assert.are.same({ fast = 10, slow = 30 }, r.assets.bitcoin.params)
        local e, ok2 = call(h, { op = "ctx", strategy = "s1", asset = "ether" })
        assert.is_false(ok2)
        assert.matches("does not trade ether", e)
        e = call(h, { op = "ctx", strategy = "zz" })
        assert.matches("no strategy 'zz' in this session %(running: s1%)", e)
    end)

    it("pause, resume", function()
        local h, s = runner()
        local r, ok = call(h, { op = "pause", strategy = "s1" })
        assert.is_true(ok)
        assert.is_true(s.paused)
        assert.is_true(r.paused)
        assert.are.same({ "s1" }, call(h, { op = "status" }).paused)
        call(h, { op = "resume", strategy = "s1" })
        assert.is_false(s.paused)
    end)

    it("set reloads with the value; a refused one changes nothing", function()
        local h, s, _, reloads = runner()
        local r, ok = call(h, { op = "set", strategy = "s1", key = "fast", value = 7 })
        assert.is_true(ok)
        assert.are.equal(7, r.value)
        assert.are.equal(7, s.params.fast)
        assert.are.equal(1, reloads())
        assert.are.same({ { key = "s1.fast", value = "7" } }, s.control_params)
        local e, ok2 = call(h, { op = "set", strategy = "s1", key = "nope", value = 1 })
        assert.is_false(ok2)
        assert.matches("refused, nothing changed", e)
        assert.are.equal(1, #s.control_params)
        assert.are.equal(7, s.params.fast)
        e = call(h, { op = "set", strategy = "s1", key = "fast", value = { a = 1 } })
        assert.matches("value is a number", e)
    end)

    it("unknown op and unreadable requests", function()
        local h = runner()
        local e, ok = call(h, { op = "launch" })
        assert.is_false(ok)
        assert.matches("unknown op 'launch'", e)
        local t, ok2 = h:handle("{not json")
        assert.is_false(ok2)
        assert.matches("unreadable request", t)
    end)
end)
