-- sandbox_spec.lua — what a strategy can and cannot reach.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "helpers/?.lua;" .. package.path
local H = require "setup"
local sandbox = require "sandbox"

local function run(src, opts)
    local dir = H.tree({ ["scripts/strategies/t.lua"] = src })
    local env = sandbox.new_env(opts or { modules = { mts = { marker = true } }, mts = { marker = true } })
    local fn, err = sandbox.compile(dir .. "/scripts/strategies/t.lua", "scripts/strategies/t.lua", env)
    H.rmtree(dir)
    if not fn then return false, err end
    return pcall(fn)
end

describe("sandbox", function()
    it("has no os, io, debug, package, load*, dofile, ffi, jit", function()
        for _, name in ipairs({ "os", "io", "debug", "package", "load", "loadstring", "loadfile",
                                "dofile", "ffi", "jit", "collectgarbage", "rawset", "setfenv",
                                "getfenv", "_G" }) do
            local ok, err = run("return " .. name)
            assert.is_false(ok, name)
            assert.matches("unknown global '" .. name .. "'", err, 1, true)
        end
    end)

    it("raises on unknown global reads and writes, with the file and line", function()
        local ok, err = run("local x = 1\nreturn undefined_thing")
        assert.is_false(ok)
        assert.are.equal("scripts/strategies/t.lua:2: unknown global 'undefined_thing'", err)
        ok, err = run("counter = 1")
        assert.is_false(ok)
        assert.matches("scripts/strategies/t.lua:1: assignment to undeclared global 'counter'", err, 1, true)
    end)

    it("require hands out only vetted modules", function()
        local ok, err = run("return require('ffi')")
        assert.is_false(ok)
        assert.matches("module 'ffi' is not available to strategies (available: mts)", err, 1, true)
        assert.is_false((run("return require('os')")))
        local ok2, m = run("return require('mts')")
        assert.is_true(ok2)
        assert.is_true(m.marker)
    end)

    it("offers the allowed base functions and copies of math, string, table", function()
        local ok, v = run([[
            local t = setmetatable({}, { __index = function() return 7 end })
            local s = string.format("%d-%s", math.floor(2.5), table.concat({ "a", "b" }))
            return s .. tostring(t.x) .. select("#", 1, 2) .. type(pcall) .. tostring(rawequal(t, t))
        ]])
        assert.is_true(ok, v)
        assert.are.equal("2-ab72functiontrue", v)
    end)

    it("cannot patch the runner's libraries", function()
        assert.is_true((run("string.rep = nil; math.floor = nil; table.insert = nil")))
        assert.is_function(string.rep)
        assert.is_function(math.floor)
        -- the shared string metatable is not handed out
        local ok, mt = run("return getmetatable('')")
        assert.is_true(ok)
        assert.is_nil(mt)
        local ok2, no_dump = run("return string.dump == nil")
        assert.is_true(ok2)
        assert.is_true(no_dump)
    end)

    it("refuses bytecode", function()
        local dir = H.tree({})
        local f = assert(io.open(dir .. "/b.lua", "wb"))
        f:write(string.dump(function() return 1 end))
        f:close()
        local fn, err = sandbox.compile(dir .. "/b.lua", "b.lua", sandbox.new_env({}))
        H.rmtree(dir)
        assert.is_nil(fn)
        assert.matches("bytecode is not accepted", err)
    end)

    describe("instrument", function()
        -- runs instrumented source with a counting tick; returns the count and results
        local function run(src, ...)
            local out = assert(sandbox.instrument(src, "t.lua"))
            local chunk = assert(loadstring(out, "=t.lua"))
            local n = 0
            local res = { chunk(function() n = n + 1 end, ...) }
            return n, res[1], out
        end

        it("ticks in loops, function bodies and before goto", function()
            -- f's body on each of its 4 calls (4) + the for body (4) + while (2: j = 0, 1)
            -- + repeat (3: j = 2, 1, 0) + the goto taken twice (g = 1, 2) = 15
            local n, v = run([[
local function f(k) return k end
local s = 0
for i = 1, 4 do s = s + f(i) end
local j = 0
while j < 2 do j = j + 1 end
repeat j = j - 1 until j < 0
local g = 0
::again:: g = g + 1
if g < 3 then goto again end
return s + g]])
            assert.are.equal(13, v)
            assert.are.equal(15, n)
        end)

        it("leaves strings, long strings and comments alone", function()
            local src = 'local a = "while true do end" .. \'repeat\' .. [[function() do]] -- do\n' ..
                        '--[==[ goto x\n do ]==]\nreturn a'
            local n, v = run(src)
            assert.are.equal(0, n)
            assert.are.equal("while true do endrepeatfunction() do", v)
        end)

        it("keeps line numbers", function()
            local out = assert(sandbox.instrument("local x = 1\nfor i = 1, 2 do\n  error('here')\nend\n", "t.lua"))
            local chunk = assert(loadstring(out, "@t.lua"))
            local ok, err = pcall(chunk, function() end)
            assert.is_false(ok)
            assert.matches("^t.lua:3: here", err)
        end)

        it("keeps `goto continue` before a local valid", function()
            local n, v = run([[
local s = 0
for i = 1, 5 do
    if i % 2 == 0 then goto continue end
    local odd = i
    s = s + odd
    ::continue::
end
return s]])
            assert.are.equal(9, v)
            assert.are.equal(5 + 2, n)
        end)

        it("does not turn `do (f)()` into a call of the tick's result", function()
            local n, v = run("local r = 0 local function f() r = r + 1 end do (f)() end return r")
            assert.are.equal(1, v)
            assert.are.equal(2, n)
        end)

        it("reads escapes in strings as Lua does (\\z, escaped line breaks)", function()
            -- if the tokenizer ended a string early or late, the `while` after it
            -- would go without a tick
            local src = 'local s = "a\\z\n   b\\\r\nc" local n = 0 while n < 3 do n = n + 1 end return s'
            local n, v = run(src)
            assert.are.equal(3, n)
            assert.are.equal("ab\nc", v)
            assert.is_nil((sandbox.instrument('local s = "open\n', "t.lua")))
            assert.is_truthy(sandbox.instrument('local s = "open\n', "t.lua", true))
        end)

        it("refuses the reserved name", function()
            local out, err = sandbox.instrument("local __mts_tick = function() end\nwhile true do end", "t.lua")
            assert.is_nil(out)
            assert.matches("t.lua:1: the name __mts_tick is reserved", err)
        end)

        it("stops a JIT-compiled loop through the budget", function()
            sandbox.set_budget(20)
            local out = assert(sandbox.instrument("local x = 0\nwhile true do x = x + 1 end", "spin.lua"))
            local chunk = assert(loadstring(out, "@spin.lua"))
            sandbox.arm()
            local ok, err = pcall(chunk, sandbox.tick)
            assert.is_false(ok)
            assert.matches("^spin.lua:2: time budget of 20 ms exceeded", err)
            assert.is_true(sandbox.tripped())
            sandbox.arm()
            assert.is_false(sandbox.tripped())
            sandbox.set_budget(1000)
        end)
    end)

    it("routes print to the given function", function()
        local got
        local ok = run("print('hello', 42)", { print = function(...) got = { ... } end })
        assert.is_true(ok)
        assert.are.same({ "hello", 42 }, got)
    end)
end)

-- ---- issue 9: no C callbacks, bounded patterns, no dump, no addresses, own random ----

-- The real library is the oracle: string.* here is LuaJIT's own (the sandbox
-- only repoints the string metatable and the strategies' copies).
local real = { find = string.find, match = string.match, gmatch = string.gmatch, gsub = string.gsub }
local safe = sandbox.string

-- Results of pcall(f, ...) as one comparable string: values with their types,
-- or the error without its position and function name.
local function outcome(ok, ...)
    if not ok then
        local e = tostring((...)):gsub("^[^:]*:%d+: ", ""):gsub("to '[^']*'", "to ?"):gsub("no value", "nil")
        return "error: " .. e
    end
    local parts = { "n=" .. select("#", ...) }
    for k = 1, select("#", ...) do
        local v = select(k, ...)
        parts[#parts + 1] = type(v) .. ":" .. tostring(v)
    end
    return table.concat(parts, " ")
end

local function both(name, ...)
    return outcome(pcall(real[name], ...)), outcome(pcall(safe[name], ...))
end

local function gmatch_all(f, s, p)
    local out = {}
    local it = f(s, p)
    for _ = 1, 50 do
        local r = { n = 0 }
        local function grab(...) r.n = select("#", ...); for k = 1, r.n do r[k] = select(k, ...) end end
        grab(it())
        if r[1] == nil then out[#out + 1] = "end n=" .. r.n break end
        local t = {}
        for k = 1, r.n do t[k] = type(r[k]) .. ":" .. tostring(r[k]) end
        out[#out + 1] = table.concat(t, ",")
    end
    return table.concat(out, " | ")
end

-- a deterministic generator (no math.random: the sandbox must not disturb it)
local seed = 12345
local function rnd(n)
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n + 1
end
local function pick(t) return t[rnd(#t)] end

local ATOMS = { "a", "b", "x", ".", "%a", "%d", "%s", "%w", "%p", "%x", "%u", "%l", "%c", "%A", "%z", "%Z",
                "%g", "[ab]", "[^a]", "[a-c]", "[a-]", "[-a]", "[%a-c]", "[a-%d]", "[^%s]", "[%d]", "[]a]", "[^]b]", "%b()", "%b", "%f[%w]", "%f[%W]", "%f",
                "(", ")", "()", "%1", "%2", "%0", "^", "$", "%", "[", "[a", "%%", "%(", "%.", "\0", "-", "1" }
local QUANT = { "", "", "", "*", "+", "-", "?" }
local function gen_pattern()
    local parts = {}
    for k = 1, rnd(6) do parts[k] = pick(ATOMS) .. pick(QUANT) end
    local p = table.concat(parts)
    if rnd(5) == 1 then p = "^" .. p end
    if rnd(6) == 1 then p = "(" .. p .. ")" end
    return p
end
local CHARS = { "a", "b", "c", "x", "1", "2", " ", "(", ")", "[", "]", "%", ".", "\0", "A", "\n", "aa", "ab" }
local function gen_subject()
    local parts = {}
    for k = 1, rnd(12) - 1 do parts[k] = pick(CHARS) end
    return table.concat(parts)
end
local INITS = { nil, 1, 0, -1, -3, 2, 5, 100, -100, 1e10, "2", 2.7, -2.7 }
local REPLS = { "x", "%0", "%1", "%2", "%%", "%", "%a", "-", "" }
local NS = { nil, 0, 1, 2, -1, 2.5, 100 }

describe("the strategies' string library equals LuaJIT's", function()
    it("find, match, gmatch and gsub on generated patterns and subjects", function()
        local tab = { a = "A", b = 1, ["("] = false, ["1"] = true, [1] = "one", x = {} }
        local function fn(a, ...)
            if a == "a" then return nil elseif a == "b" then return false elseif a == "x" then return {} end
            return "<" .. table.concat({ tostring(a), ... }, "|") .. ">"
        end
        local cases = 0
        for _ = 1, 6000 do
            local s, p = gen_subject(), gen_pattern()
            local init = INITS[rnd(#INITS + 1) - 1] -- sometimes nil
            local r, w = both("find", s, p, init)
            assert.are.equal(r, w, ("find(%q, %q, %s)"):format(s, p, tostring(init)))
            r, w = both("find", s, p, init, true)
            assert.are.equal(r, w, ("find(%q, %q, %s, true)"):format(s, p, tostring(init)))
            r, w = both("match", s, p, init)
            assert.are.equal(r, w, ("match(%q, %q, %s)"):format(s, p, tostring(init)))
            local okr, gr = pcall(gmatch_all, real.gmatch, s, p)
            local oks, gs = pcall(gmatch_all, safe.gmatch, s, p)
            assert.are.equal(outcome(okr, gr), outcome(oks, gs), ("gmatch(%q, %q)"):format(s, p))
            local repl = pick(REPLS) .. pick(REPLS) .. pick(REPLS)
            local n = NS[rnd(#NS + 1) - 1]
            r, w = both("gsub", s, p, repl, n)
            assert.are.equal(r, w, ("gsub(%q, %q, %q, %s)"):format(s, p, repl, tostring(n)))
            r, w = both("gsub", s, p, fn, n)
            assert.are.equal(r, w, ("gsub(%q, %q, fn, %s)"):format(s, p, tostring(n)))
            r, w = both("gsub", s, p, tab, n)
            assert.are.equal(r, w, ("gsub(%q, %q, table, %s)"):format(s, p, tostring(n)))
            cases = cases + 1
        end
        assert.are.equal(6000, cases)
    end)

    it("on longer, repetitive subjects (backtracking, %b, frontiers)", function()
        local WORDS = { "a", "aa", "b", "(", ")", " ", "ab", "ba", "x1", "()" }
        for _ = 1, 600 do
            local parts = {}
            for k = 1, 20 + rnd(80) do parts[k] = pick(WORDS) end
            local s, p = table.concat(parts), gen_pattern()
            for _, f in ipairs({ "find", "match" }) do
                local r, w = both(f, s, p)
                assert.are.equal(r, w, ("%s(%q, %q)"):format(f, s, p))
            end
            local r, w = both("gsub", s, p, "<%0>")
            assert.are.equal(r, w, ("gsub(%q, %q)"):format(s, p))
            local okr, gr = pcall(gmatch_all, real.gmatch, s, p)
            local oks, gs = pcall(gmatch_all, safe.gmatch, s, p)
            assert.are.equal(outcome(okr, gr), outcome(oks, gs), ("gmatch(%q, %q)"):format(s, p))
        end
    end)

    it("format and tostring of strings, numbers, booleans and nil", function()
        local env = sandbox.new_env({})
        local FMTS = { "%d", "%5.2f", "%-8s|", "%q", "%x", "%g", "%s %s", "%%", "%c", "%e", "%10.3s", "%i", "%o", "%X" }
        local VALS = { 0, -1, 3.5, 1e300, -0.0, 2 ^ 53, "abc", "a\n\0b", 65, "12" }
        for _, f in ipairs(FMTS) do
            for _, v in ipairs(VALS) do
                assert.are.equal(outcome(pcall(string.format, f, v, v)), outcome(pcall(env.string.format, f, v, v)), f)
            end
        end
        for _, v in ipairs({ 1, -0.5, 1e300, 0 / 0, math.huge, "x", true, false }) do
            assert.are.equal(tostring(v), env.tostring(v))
        end
        assert.are.equal(tostring(nil), env.tostring(nil))
        assert.are.equal(outcome(pcall(tostring)), outcome(pcall(env.tostring)))
    end)

    it("the edge cases by hand", function()
        local C = {
            { "find", "abc", "b", 1e10 }, { "find", "abc", "", 10 }, { "find", "a\0b", "\0." },
            { "find", "a\0b", "%z" }, { "find", 12345, 3 }, { "find", "abc", "[%a-z]" }, { "find", "abc", "[]" },
            { "find", "a]c", "[]]" }, { "find", "x", ("()"):rep(32) }, { "find", "x", ("()"):rep(33) },
            { "find", ("a"):rep(199), "^" .. ("a?"):rep(199) .. "$" },
            { "find", ("a"):rep(200), "^" .. ("a?"):rep(200) .. "$" },
            { "find", "THE (quick) fox", "%f[%a]%a+" }, { "find", "x(a(b)c)y", "%b()" },
            { "match", "key = value", "(%w+)%s*=%s*(%w+)" }, { "match", "hello", "()ll()" },
            { "match", "abc", "()", 10 }, { "match", "abc", "(a" },
            { "gsub", "abc", "b", "%" }, { "gsub", "abc", "b", "%2" }, { "gsub", "abc", "", "-", 2.7 },
            { "gsub", "abc", "b", "x", -1 }, { "gsub", "abc", "b" }, { "gsub", "abc", "(a)", { a = true } },
            { "gsub", "abc", "(a)", { a = 1.5 } }, { "gsub", "hello world", "%w+", "%0 %0", 1 },
            { "gsub", "hello", "", "x" }, { "gsub", "abc", "%w", 5 }, { "gsub", "abc", "(b", "x" },
            { "gsub", "abc", "(b", "%1" }, { "gsub", "hello world", "(o)", "[%1]" },
            { "gsub", "abc", "^a", "X" }, { "gsub", "aaa", "^a", "X" }, { "gsub", "abc", "^x", "X" },
            { "gsub", "abc", "()", "%1" }, { "gsub", "abc", "b", "%0%0" }, { "gsub", "", "", "x" },
            { "gsub", "abc", ".", { a = 1, b = 2 } }, { "gsub", "abc", "%f[%w]", "^" },
        }
        for _, c in ipairs(C) do
            local r, w = both(c[1], unpack(c, 2, 5))
            assert.are.equal(r, w, c[1] .. " " .. tostring(c[3]))
        end
        local okr, gr = pcall(gmatch_all, real.gmatch, "abab", "^a")
        local oks, gs = pcall(gmatch_all, safe.gmatch, "abab", "^a")
        assert.are.equal(outcome(okr, gr), outcome(oks, gs))
    end)

    it("table.sort: the same order as LuaJIT's (unstable ties included) and the same errors", function()
        for round = 1, 300 do
            local n = rnd(40) - 1
            local a, b = {}, {}
            for k = 1, n do
                local rec = { key = rnd(5), id = k }
                a[k], b[k] = rec, rec
            end
            local cmp = function(x, y) return x.key < y.key end
            table.sort(a, cmp)
            sandbox.sort(b, cmp)
            for k = 1, n do assert.are.equal(a[k].id, b[k].id, "round " .. round) end
            local nums, nums2 = {}, {}
            for k = 1, n do nums[k] = rnd(10); nums2[k] = nums[k] end
            table.sort(nums)
            sandbox.sort(nums2)
            assert.are.same(nums, nums2)
        end
        local bad = function() return true end
        local r = outcome(pcall(table.sort, { 3, 2, 1, 5, 4, 7, 8, 1, 2 }, bad))
        assert.are.equal(r, outcome(pcall(sandbox.sort, { 3, 2, 1, 5, 4, 7, 8, 1, 2 }, bad)))
        assert.are.equal(outcome(pcall(table.sort, nil)), outcome(pcall(sandbox.sort, nil)))
        assert.are.equal(outcome(pcall(table.sort, {}, 1)), outcome(pcall(sandbox.sort, {}, 1)))
        assert.are.equal(outcome(pcall(table.sort, { 1, "x", 3 })), outcome(pcall(sandbox.sort, { 1, "x", 3 })))
    end)
end)

describe("no C function calls back into a strategy", function()
    -- each of these recursed on the C stack (SIGSEGV); now each is a Lua error
    local FORMS = {
        gsub_function = 'local function f(s) return (s:gsub(".", f)) end return f("ab")',
        gsub_table = 'local t = setmetatable({}, {}) getmetatable(t).__index = function(_, k) return (k:gsub(".", t)) end return ("ab"):gsub(".", t)',
        sort_comparator = 'local function f(a, b) table.sort({3, 2, 1}, f) return a < b end table.sort({3, 2, 1}, f)',
        sort_lt = 'local mt = {} local function o() return setmetatable({}, mt) end mt.__lt = function() table.sort({o(), o(), o()}) return false end table.sort({o(), o(), o()})',
        format_tostring = 'local mt = {} mt.__tostring = function(o) return string.format("%s", o) end return string.format("%s", setmetatable({}, mt))',
        format_method = 'local mt = {} mt.__tostring = function(o) return ("%s"):format(o) end return tostring(setmetatable({}, mt))',
        tostring_print = 'local mt = {} mt.__tostring = function(o) print(o) return "x" end print(setmetatable({}, mt))',
    }
    for name, src in pairs(FORMS) do
        it(name .. " ends in a Lua error", function()
            local ok, err = run(src)
            assert.is_false(ok, name)
            assert.matches("stack overflow", tostring(err), 1, true)
        end)
    end
end)

describe("patterns keep the time budget", function()
    it("a pathological pattern stops at the budget, at the strategy's line", function()
        sandbox.set_budget(50)
        local dir = H.tree({ ["scripts/strategies/t.lua"] = 'local s = ("a"):rep(3000)\nlocal at = s:find(".-.-.-.-.-b")\nreturn at' })
        local env = sandbox.new_env({})
        local fn = assert(sandbox.compile(dir .. "/scripts/strategies/t.lua", "scripts/strategies/t.lua", env, true))
        H.rmtree(dir)
        sandbox.arm()
        local t0 = os.clock()
        local ok, err = pcall(fn, sandbox.tick)
        local used = os.clock() - t0
        assert.is_false(ok)
        assert.are.equal("scripts/strategies/t.lua:2: time budget of 50 ms exceeded", err)
        assert.is_true(sandbox.tripped())
        -- generous: the budget is 50 ms, unbounded this ran for minutes
        assert.is_true(used < 10, "ran " .. used .. " s")
        -- outside an armed call (trusted code) nothing is budgeted
        assert.are.equal(3, (("abc"):find("c")))
        sandbox.set_budget(1000)
    end)

    it("plain search is linear (memmem), with the same answers", function()
        local hay = ("a"):rep(200000) .. "b"
        local needle = ("a"):rep(100000) .. "b"
        assert.are.same({ 100001, 200001 }, { safe.find(hay, needle, 1, true) })
        assert.are.same({ 100001, 200001 }, { safe.find(hay, needle) })
    end)
end)

describe("what strategies no longer reach", function()
    it("no string.dump through the string metatable", function()
        local ok, v = run('return ("").dump == nil and ("x").dump == nil and string.dump == nil')
        assert.is_true(ok, v)
        assert.is_true(v)
        assert.is_nil(getmetatable("").__index.dump)
    end)

    it("tostring, print and format show no heap address", function()
        local got
        local ok, v = run([[
            local f, t = function() end, {}
            return tostring(f) .. " " .. tostring(t) .. " " .. tostring(t) .. " " .. string.format("%s %p", t, t)
                .. " " .. ("%s"):format(f) .. " " .. tostring(setmetatable({}, { __tostring = function() return "me" end }))
        ]], { print = function(...) got = { ... } end })
        assert.is_true(ok, v)
        assert.is_nil(v:find("0x%x"), v)
        assert.matches("^function: #1 table: #2 table: #2 table: #2 0x#2 function: #%d+ me$", v)
        assert.is_true(run("print({}, print)", { print = function(...) got = { ... } end }))
        assert.is_nil(table.concat(got, " "):find("0x"), table.concat(got, " "))
        assert.is_true(run("getmetatable('')"))
        -- cdata (what mts hands out): no address either; boxed integers stay as they are
        local ffi = require "ffi"
        local env = sandbox.new_env({})
        local c = ffi.new("int[1]")
        assert.is_nil(tostring(env.tostring(c)):find("0x"), env.tostring(c))
        assert.matches("^cdata<int %[1%]>: #1$", env.tostring(c))
        assert.are.equal("5LL", env.tostring(5LL))
    end)

    it("each strategy has its own math.random, seeded from the run's seed and its id", function()
        local function numbers(seed, id, also)
            local env = sandbox.new_env({ seed = seed, id = id })
            local out = {}
            for k = 1, 5 do
                if also then also() end
                out[k] = env.math.random(1000)
            end
            out[6] = env.math.random()
            return out, env
        end
        local a = numbers(7, 1)
        assert.are.same(a, numbers(7, 1))                 -- deterministic across runs
        assert.are_not.same(a, numbers(7, 2))             -- another strategy, other numbers
        assert.are_not.same(a, numbers(8, 1))             -- another run seed
        -- strategy A reseeding every bar does not move strategy B's numbers
        local envA = sandbox.new_env({ seed = 7, id = 0 })
        local b2 = numbers(7, 1, function() envA.math.randomseed(42); envA.math.random() end)
        assert.are.same(a, b2)
        -- nor does the global generator (what trusted code and the runner use)
        math.randomseed(1)
        local g = math.random()
        math.randomseed(1)
        envA.math.randomseed(99)
        assert.are.equal(g, math.random())
        for _ = 1, 1000 do
            local r = envA.math.random(3, 5)
            assert.is_true(r >= 3 and r <= 5 and r == math.floor(r))
            local d = envA.math.random()
            assert.is_true(d >= 0 and d < 1)
        end
    end)
end)

describe("table.sort keeps the time budget", function()
    it("a sort without a comparator over a large array stops at the budget", function()
        sandbox.set_budget(30)
        -- the array is made by trusted code: only the sort runs in the budget
        local big = {}
        for k = 1, 2e6 do big[k] = (k * 7919) % 1000003 end
        local dir = H.tree({ ["scripts/strategies/t.lua"] =
            'local ok = pcall(table.sort, mts.big)\nfor k = 1, 10 do end' })
        local env = sandbox.new_env({ mts = { big = big } })
        local fn = assert(sandbox.compile(dir .. "/scripts/strategies/t.lua", "scripts/strategies/t.lua", env, true))
        H.rmtree(dir)
        sandbox.arm()
        local ok, err = pcall(fn, sandbox.tick)
        assert.is_false(ok)
        -- the strategy's pcall caught the sort's error; its next tick raises again
        assert.matches("time budget of 30 ms exceeded", err)
        assert.is_true(sandbox.tripped())
        sandbox.set_budget(1000)
    end)
end)
