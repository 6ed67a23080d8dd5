-- sandbox.lua — environments for strategy scripts, built from an allow list
-- (model: Redis src/script_lua.c). Trusted code; strategies never see it.
--
-- A strategy chunk runs with its own global table holding only:
--   math, string, table (copies, so a strategy cannot patch the runner's),
--   pairs ipairs select type tostring tonumber error assert pcall next unpack
--   setmetatable getmetatable rawget rawequal, print (routed to the run's
--   logger), mts (the read-only indicator API of scripts/lib/mts.lua) and a
--   require() that hands out only vetted modules (today: "mts").
-- Not available: os, io, debug, package, load/loadstring/loadfile/dofile,
-- the real require, ffi, jit, string.dump, collectgarbage, rawset, setfenv,
-- getfenv. Reading or writing any other global raises an error, so a typo
-- fails loudly instead of yielding nil.
-- Replaced (below, "the strategies' string library..."): string.find/match/
-- gmatch/gsub (a budgeted C matcher, no callbacks from C), string.format and
-- table.sort (in Lua), tostring and print (no heap addresses), math.random
-- and math.randomseed (a generator per strategy). The string metatable's
-- __index is the same safe string table, for every s:method() call.
--
-- Limits. In a guarded state (runtime/lua/guard.h, the default for backtests)
-- strategy source is instrumented before it is compiled (S.instrument): a
-- call to the budget's tick goes into every loop body (after each `do` and
-- `repeat`), every function body and before every `goto`. Every 1024th tick
-- reads the CPU clock; a call that has used up its budget (MTS_STRATEGY_TIME_MS)
-- raises "time budget of N ms exceeded" at the strategy's own line, and every
-- later tick of that call raises too, so the strategy's own pcall cannot
-- swallow it. Unlike a count hook, this also stops JIT-compiled loops, so
-- strategies keep the JIT. The memory cap per strategy is the guard's
-- allocator (the runner marks whose call is running). string.rep here refuses
-- a result larger than the cap before allocating.
--
-- Not isolated: all strategies share one lua_State, and the cdata arrays
-- they receive (bars, indicator series) are unchecked, so out-of-bounds
-- indexing is possible.
local S = {}

local function copy(t, drop)
    local c = {}
    for k, v in pairs(t) do
        if not (drop and drop[k]) then c[k] = v end
    end
    return c
end

local real_getmetatable = getmetatable
local bit = require "bit"
local SAFE_STRING, make_random    -- below

-- getmetatable("") would hand out the shared string metatable, whose __index
-- is the real string library; strategies get nil for strings instead.
-- Likewise for cdata and userdata: their metatables belong to the FFI and the host.
local function safe_getmetatable(o)
    local t = type(o)
    if t == "string" or t == "cdata" or t == "userdata" then return nil end
    return real_getmetatable(o)
end

-- string.rep that refuses, before allocating, a result larger than the
-- guard's memory cap (or 1 GB without a guard). ("x"):rep(n) reaches the real
-- string.rep through the string metatable; the guard's allocator caps it.
local real_rep = string.rep
function S.checked_rep(s, n, sep)
    if type(s) == "number" then s = tostring(s) end
    if type(s) ~= "string" then error("bad argument #1 to 'rep' (string expected, got " .. type(s) .. ")", 2) end
    if type(n) ~= "number" then error("bad argument #2 to 'rep' (number expected, got " .. type(n) .. ")", 2) end
    local g = rawget(_G, "MTS_GUARD")
    local cap = (g and g.mem_cap and g.mem_cap > 0) and g.mem_cap or 2 ^ 30
    local size = n > 0 and (#s * n + (sep and #tostring(sep) * (n - 1) or 0)) or 0
    if size > cap then
        error(("string.rep: a result of %.0f bytes exceeds the memory cap of %.0f MB"):format(size, cap / 2 ^ 20), 2)
    end
    return real_rep(s, n, sep)
end

S.ALLOWED_FUNCTIONS = {
    "pairs", "ipairs", "select", "type", "tostring", "tonumber", "error", "assert",
    "pcall", "next", "unpack", "setmetatable", "rawget", "rawequal",
}

-- ---- the time budget ------------------------------------------------------

local TICK = "__mts_tick"          -- the name the instrumented code calls
local CHECK_EVERY = 1024           -- ticks between two clock readings
local clock = os.clock             -- CPU seconds
local budget_s, budget_msg = 1.0, "time budget of 1000 ms exceeded"
local count, deadline, tripped = 0, -1, false
local active = false               -- a strategy call is armed (between arm and tripped/disarm)

-- Called by the instrumented strategy code: cheap enough to stay inside
-- compiled traces (two upvalue updates and a compare, a clock read every
-- CHECK_EVERY calls). The budget starts at the first clock reading, so a call
-- shorter than CHECK_EVERY ticks never reads the clock.
local function tick()
    if tripped then error(budget_msg, 2) end
    count = count + 1
    if count >= CHECK_EVERY then
        count = 0
        local now = clock()
        if deadline < 0 then
            deadline = now + budget_s
        elseif now > deadline then
            tripped = true
            error(budget_msg, 2)
        end
    end
end
S.tick = tick

function S.set_budget(ms)
    budget_s = ms / 1000
    budget_msg = ("time budget of %d ms exceeded"):format(ms)
end

-- Before each call into a strategy.
function S.arm()
    count, deadline, tripped, active = 0, -1, false, true
end

-- After it: true when the call ran out of time (even if it caught the error).
-- It also ends the armed call (the runner's scall asks after every call), so
-- trusted code that runs later is not budgeted by the string functions.
function S.tripped()
    active = false
    return tripped
end
function S.disarm() active = false end
function S.budget_message() return budget_msg end

-- ---- the strategies' string library, sort, tostring and random -----------------
--
-- No C function a strategy can reach calls back into Lua: a C function that
-- calls Lua (LuaJIT's gsub with a function or table, table.sort with a
-- comparator or __lt, string.format's %s with __tostring) lets a strategy
-- recurse on the C stack until the process dies of SIGSEGV. So these are
-- written here in Lua, over C primitives that only return positions
-- (runtime/lua/strlib.h, through the FFI): a callback is a Lua->Lua call, and
-- unbounded recursion is LuaJIT's "stack overflow" error. The same primitives
-- bound the work of a pattern: the matcher reads the clock (every 4096 steps)
-- against the running strategy call's deadline, and plain search is memmem.
-- Results equal LuaJIT's own (tests/lua/sandbox_spec.lua compares them).
--
-- The shared string metatable's __index is this safe table too, so s:find()
-- and ("").dump reach the same functions as string.find (no dump). Trusted
-- code shares the state and these functions; outside a strategy call (not
-- armed) nothing is budgeted.

local ffi = require "ffi"
pcall(ffi.cdef, [[
typedef struct mts_strlib_match {
    int32_t mstart, mend;
    int32_t ncap;
    int32_t cap_start[32];
    int32_t cap_len[32];
    const char *err;
} mts_strlib_match_t;
int mts_strlib_find(const char *s, size_t sl, const char *p, size_t pl, size_t init, int flags,
                    double deadline, mts_strlib_match_t *m);
int32_t mts_strlib_plain(const char *s, size_t sl, const char *n, size_t nl, size_t init);
int mts_strlib_has_specials(const char *p, size_t pl);
]])
local SC = require("mts").C
local MR = ffi.new("mts_strlib_match_t")     -- one match record, read out before any callback
local CAP_POSITION, CAP_UNFINISHED, CARET = -2, -1, 1
local E_CANCELED = -18                       -- MTS_ECANCELED: the deadline passed

local real_tostring, real_type, real_error, real_select = tostring, type, error, select
local real_tonumber, floor, ceil = tonumber, math.floor, math.ceil
local sub, byte, char = string.sub, string.byte, string.char
local real_format, real_concat, real_rawget = string.format, table.concat, rawget

-- Inside a strategy's call: armed, and (in a guarded state) the guard says a
-- strategy owns the running call (so trusted code after a call is never
-- budgeted, whoever forgets to disarm).
local GUARD = rawget(_G, "MTS_GUARD")
local function in_call()
    return active and (GUARD == nil or GUARD.current() >= 0)
end

-- The tick for loops of trusted code working for a strategy (sort): true
-- when the armed call is out of time (and from then on).
local function over_budget()
    if not active then return false end
    if tripped then return true end
    count = count + 1
    if count < CHECK_EVERY then return false end
    count = 0
    if not in_call() then return false end
    local now = clock()
    if deadline < 0 then
        deadline = now + budget_s
    elseif now > deadline then
        tripped = true
    end
    return tripped
end

-- The deadline of the armed strategy call (starting its clock if no tick has
-- yet), or -1 outside one.
local function deadline_now()
    if not in_call() then return -1 end
    if deadline < 0 then deadline = clock() + budget_s end
    return deadline
end

local function argerr(n, fname, msg, level)
    real_error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg), level + 1)
end

-- lj_lib_checkstr: a string, or a number converted.
local function checkstr(v, n, fname)
    local t = real_type(v)
    if t == "string" then return v end
    if t == "number" then return real_tostring(v) end
    argerr(n, fname, "string expected, got " .. t, 3)
end

-- lj_lib_optint: nil -> dflt; a number (or numeric string) truncated to int32
-- as a C cast does on x86-64 (out of range -> INT32_MIN).
local function optint(v, n, fname, dflt)
    if v == nil then return dflt end
    local x = real_tonumber(v)
    if x == nil or (real_type(v) ~= "number" and real_type(v) ~= "string") then
        argerr(n, fname, "number expected, got " .. real_type(v), 3)
    end
    if x ~= x or x >= 2147483648 or x < -2147483648 then return -2147483648 end
    return x >= 0 and floor(x) or ceil(x)
end

-- Capture i (0-based) of MR as Lua sees it; s is the subject.
local function capture(s, i)
    local len, st = MR.cap_len[i], MR.cap_start[i]
    if len == CAP_POSITION then return st + 1 end
    return sub(s, st + 1, st + len)
end

local function captures_from(s, i, n)
    if i >= n then return end
    return capture(s, i), captures_from(s, i + 1, n)
end

-- true if a capture of MR is unfinished ("(a" matched to the end)
local function unfinished()
    for i = 0, MR.ncap - 1 do
        if MR.cap_len[i] == CAP_UNFINISHED then return true end
    end
    return false
end

-- rc of mts_strlib_find < 0 -> the error, at `level` above the caller
local function match_error(rc, level)
    if rc == E_CANCELED then
        tripped = true
        real_error(budget_msg, level + 1)
    end
    real_error(ffi.string(MR.err), level + 1)
end

local function str_find(s, p, init, plain)
    s = checkstr(s, 1, "find")
    p = checkstr(p, 2, "find")
    local len = #s
    local st = optint(init, 3, "find", 1)
    if st < 0 then st = st + len else st = st - 1 end
    if st < 0 then st = 0 elseif st > len then st = len end
    if (plain ~= nil and plain ~= false) or SC.mts_strlib_has_specials(p, #p) == 0 then
        local at = SC.mts_strlib_plain(s, len, p, #p, st)
        if at < 0 then return nil end
        return at + 1, at + #p
    end
    local rc = SC.mts_strlib_find(s, len, p, #p, st, CARET, deadline_now(), MR)
    if rc == 1 then
        local n = MR.ncap
        if n == 0 then return MR.mstart + 1, MR.mend end
        if unfinished() then real_error("unfinished capture", 2) end
        return MR.mstart + 1, MR.mend, captures_from(s, 0, n)
    end
    if rc == 0 then return nil end
    match_error(rc, 2)
end

local function str_match(s, p, init)
    s = checkstr(s, 1, "match")
    p = checkstr(p, 2, "match")
    local len = #s
    local st = optint(init, 3, "match", 1)
    if st < 0 then st = st + len else st = st - 1 end
    if st < 0 then st = 0 elseif st > len then st = len end
    local rc = SC.mts_strlib_find(s, len, p, #p, st, CARET, deadline_now(), MR)
    if rc == 1 then
        local n = MR.ncap
        if n == 0 then return sub(s, MR.mstart + 1, MR.mend) end
        if unfinished() then real_error("unfinished capture", 2) end
        return captures_from(s, 0, n)
    end
    if rc == 0 then return nil end
    match_error(rc, 2)
end

-- gmatch: '^' is an ordinary character here, as in LuaJIT.
local function str_gmatch(s, p)
    s = checkstr(s, 1, "gmatch")
    p = checkstr(p, 2, "gmatch")
    local len, plen, pos = #s, #p, 0
    return function()
        if pos > len then return end
        local rc = SC.mts_strlib_find(s, len, p, plen, pos, 0, deadline_now(), MR)
        if rc == 1 then
            local st, e = MR.mstart, MR.mend
            pos = e == st and e + 1 or e
            local n = MR.ncap
            if n == 0 then return sub(s, st + 1, e) end
            if unfinished() then real_error("unfinished capture", 2) end
            return captures_from(s, 0, n)
        end
        if rc == 0 then
            pos = len + 1
            return
        end
        match_error(rc, 2)
    end
end

-- A replacement string -> nil (no '%': literal) or a list of pieces: strings,
-- and numbers k for "%k" (0: the whole match).
local function parse_repl(r)
    if not str_find(r, "%", 1, true) then return nil end
    local items, n, i, lit, len = {}, 0, 1, 1, #r
    while i <= len do
        if byte(r, i) == 37 then
            if i > lit then n = n + 1; items[n] = sub(r, lit, i - 1) end
            local d = byte(r, i + 1)
            n = n + 1
            if d == nil then items[n] = "\0"               -- LuaJIT reads the terminating NUL
            elseif d >= 48 and d <= 57 then items[n] = d - 48
            else items[n] = char(d) end
            i = i + 2
            lit = i
        else
            i = i + 1
        end
    end
    if lit <= len then n = n + 1; items[n] = sub(r, lit, len) end
    return items
end

local function str_gsub(s, p, repl, max_n)
    s = checkstr(s, 1, "gsub")
    p = checkstr(p, 2, "gsub")
    local tr = real_type(repl)
    local len, plen = #s, #p
    max_n = optint(max_n, 4, "gsub", len + 1)
    if not (tr == "number" or tr == "string" or tr == "function" or tr == "table") then
        argerr(3, "gsub", "string/function/table expected", 2)
    end
    local items
    if tr == "number" then repl = real_tostring(repl); tr = "string" end
    if tr == "string" then items = parse_repl(repl) end
    local anchor = byte(p, 1) == 94
    local out, no, pos, n = {}, 0, 0, 0
    while n < max_n do
        local rc = SC.mts_strlib_find(s, len, p, plen, pos, CARET, deadline_now(), MR)
        if rc < 0 then match_error(rc, 2) end
        if rc == 0 then break end
        local st, e = MR.mstart, MR.mend
        if st > pos then no = no + 1; out[no] = sub(s, pos + 1, st) end
        n = n + 1
        local ncap = MR.ncap
        if tr == "string" then
            if not items then
                no = no + 1; out[no] = repl
            else
                for k = 1, #items do
                    local it = items[k]
                    if real_type(it) == "number" then
                        if it == 0 then
                            it = sub(s, st + 1, e)
                        elseif it - 1 >= ncap then
                            if it ~= 1 then real_error("invalid capture index", 2) end
                            it = sub(s, st + 1, e)
                        else
                            if MR.cap_len[it - 1] == CAP_UNFINISHED then real_error("unfinished capture", 2) end
                            it = real_tostring(capture(s, it - 1))
                        end
                    end
                    no = no + 1; out[no] = it
                end
            end
        else
            local v
            if tr == "function" then
                if ncap == 0 then
                    v = repl(sub(s, st + 1, e))
                else
                    if unfinished() then real_error("unfinished capture", 2) end
                    v = repl(captures_from(s, 0, ncap))
                end
            else
                local key
                if ncap == 0 then key = sub(s, st + 1, e)
                else
                    if MR.cap_len[0] == CAP_UNFINISHED then real_error("unfinished capture", 2) end
                    key = capture(s, 0)
                end
                v = repl[key]
            end
            if not v then
                v = sub(s, st + 1, e)
            elseif real_type(v) ~= "string" and real_type(v) ~= "number" then
                real_error("invalid replacement value (a " .. real_type(v) .. ")", 2)
            end
            no = no + 1; out[no] = real_tostring(v)
        end
        if e > st then
            pos = e
        elseif st < len then
            no = no + 1; out[no] = sub(s, st + 1, st + 1)
            pos = st + 1
        else
            pos = st
            break
        end
        if anchor then break end
    end
    if pos < len then no = no + 1; out[no] = sub(s, pos + 1) end
    return real_concat(out, "", 1, no), n
end

-- ---- tostring without addresses ----

-- A per-environment numbering of the objects it has printed: "table: #3".
local function make_tostring()
    local ids, next_id = setmetatable({}, { __mode = "k" }), 0
    return function(...)
        if real_select("#", ...) == 0 then argerr(1, "tostring", "value expected", 2) end
        local v = ...
        local t = real_type(v)
        if t == "string" or t == "number" or t == "boolean" or t == "nil" then return real_tostring(v) end
        local r = real_tostring(v)        -- __tostring, if any, runs here (a Lua call)
        if real_type(r) ~= "string" then return r end
        local at = str_find(r, ": 0x", 1, true)
        if not at or str_find(r, "^%x+$", at + 4) == nil then return r end
        local id = ids[v]
        if not id then
            next_id = next_id + 1
            id = next_id
            ids[v] = id
        end
        return sub(r, 1, at + 1) .. "#" .. id
    end
end

-- string.format: %s of a non-string goes through the environment's tostring
-- first (a __tostring runs in Lua, no address appears), %p prints the same
-- "#id" instead of an address.
local function make_format(tostr)
    local function slow(fmt, ...)
        local n = real_select("#", ...)
        local args = { ... }
        local out, pos, argi, len, changed = {}, 1, 0, #fmt, false
        while true do
            local at = str_find(fmt, "%", pos, true)
            if not at then break end
            if byte(fmt, at + 1) == 37 then
                pos = at + 2
            else
                local _, e, conv = str_find(fmt, "^[-+ #0]*%d?%d?%.?%d?%d?(.)", at + 1)
                if not e then break end
                argi = argi + 1
                local v = args[argi]
                if conv == "s" and argi <= n and real_type(v) ~= "string" and real_type(v) ~= "number" then
                    args[argi] = tostr(v)
                elseif conv == "p" then
                    fmt = sub(fmt, 1, e - 1) .. "s" .. sub(fmt, e + 1)
                    local t = real_type(v)
                    args[argi] = (t == "table" or t == "function" or t == "userdata" or t == "thread"
                                  or t == "cdata") and ("0x#" .. (tostr(v):match("#(%d+)$") or "0")) or "NULL"
                end
                pos = e + 1
            end
        end
        return real_format(fmt, unpack(args, 1, n))
    end
    return function(fmt, ...)
        local tf = real_type(fmt)
        if tf ~= "string" and tf ~= "number" then return real_format(fmt, ...) end   -- raises on #1
        if tf == "number" then fmt = real_tostring(fmt) end
        if not str_find(fmt, "p", 1, true) then
            local plain = true
            for k = 1, real_select("#", ...) do
                local t = real_type((real_select(k, ...)))
                if t ~= "string" and t ~= "number" then plain = false break end
            end
            if plain then return real_format(fmt, ...) end
        end
        return slow(fmt, ...)
    end
end

-- ---- table.sort in Lua (LuaJIT's quicksort, step for step) ----

local SORT_ERR = "invalid order function for sorting"

local function sort(t, comp)
    if real_type(t) ~= "table" then argerr(1, "sort", "table expected, got " .. real_type(t), 2) end
    if comp ~= nil and real_type(comp) ~= "function" then
        argerr(2, "sort", "function expected, got " .. real_type(comp), 2)
    end
    local function lt(a, b)
        if comp then return comp(a, b) end
        return a < b
    end
    local stack, sp = {}, 0
    local l, u = 1, #t
    while true do
        while l < u do
            if over_budget() then real_error(budget_msg, 2) end
            local al, au = real_rawget(t, l), real_rawget(t, u)
            if lt(au, al) then t[l], t[u] = au, al end
            if u - l == 1 then break end
            local i = floor((l + u) / 2)
            local ai, bl = real_rawget(t, i), real_rawget(t, l)
            if lt(ai, bl) then
                t[i], t[l] = bl, ai
            else
                local bu = real_rawget(t, u)
                if lt(bu, ai) then t[i], t[u] = bu, ai end
            end
            if u - l == 2 then break end
            local P = real_rawget(t, i)
            local a1 = real_rawget(t, u - 1)
            t[i], t[u - 1] = a1, P
            local j
            i, j = l, u - 1
            while true do
                i = i + 1
                while lt(real_rawget(t, i), P) do
                    if i >= u then real_error(SORT_ERR, 2) end
                    if over_budget() then real_error(budget_msg, 2) end
                    i = i + 1
                end
                j = j - 1
                while lt(P, real_rawget(t, j)) do
                    if j <= l then real_error(SORT_ERR, 2) end
                    if over_budget() then real_error(budget_msg, 2) end
                    j = j - 1
                end
                if j < i then break end
                local ti, tj = real_rawget(t, i), real_rawget(t, j)
                t[i], t[j] = tj, ti
            end
            local x, y = real_rawget(t, u - 1), real_rawget(t, i)
            t[u - 1], t[i] = y, x
            local lo, hi
            if i - l < u - i then
                lo, hi = l, i - 1
                l = i + 1
            else
                lo, hi = i + 1, u
                u = i - 1
            end
            sp = sp + 1; stack[sp] = lo
            sp = sp + 1; stack[sp] = hi
        end
        if sp == 0 then break end
        u = stack[sp]; l = stack[sp - 1]
        sp = sp - 2
    end
end

-- ---- math.random per strategy ----
--
-- Each environment has its own generator (xorshift128, 53-bit doubles), so
-- one strategy's math.randomseed does not move another's numbers. Same
-- arithmetic as LuaJIT's math.random for the integer forms.
local band, bxor, lshift, rshift, tobit = bit.band, bit.bxor, bit.lshift, bit.rshift, bit.tobit

make_random = function(seed, id)
    local x, y, z, w
    local function reseed(v)
        v = real_tonumber(v) or 0
        local lo = v % 4294967296
        local hi = floor(v / 4294967296) % 4294967296
        if lo ~= lo then lo, hi = 0, 0 end      -- nan
        x = tobit(bxor(tobit(floor(lo)), 123456789))
        y = tobit(bxor(tobit(floor(hi)), 362436069))
        z = tobit(bxor(tobit(floor((real_tonumber(id) or 0) % 4294967296)), 521288629))
        w = 88675123
        for _ = 1, 20 do                        -- mix
            local t = bxor(x, lshift(x, 11))
            x, y, z = y, z, w
            w = bxor(bxor(w, rshift(w, 19)), bxor(t, rshift(t, 8)))
        end
    end
    local function next32()
        local t = bxor(x, lshift(x, 11))
        x, y, z = y, z, w
        w = bxor(bxor(w, rshift(w, 19)), bxor(t, rshift(t, 8)))
        return w
    end
    reseed(seed)
    local function random(...)
        local n = real_select("#", ...)
        local d = (rshift(next32(), 5) * 67108864 + rshift(next32(), 6)) / 9007199254740992
        if n == 0 then return d end
        local r1 = ...
        if real_type(r1) ~= "number" then
            r1 = real_tonumber(r1)
            if r1 == nil then argerr(1, "random", "number expected, got " .. real_type((...)), 2) end
        end
        if n == 1 then return floor(d * r1) + 1 end
        local r2 = real_select(2, ...)
        if real_type(r2) ~= "number" then
            r2 = real_tonumber(r2)
            if r2 == nil then argerr(2, "random", "number expected, got " .. real_type((real_select(2, ...))), 2) end
        end
        return floor(d * (r2 - r1 + 1)) + r1
    end
    local function randomseed(v)
        if real_tonumber(v) == nil then argerr(1, "randomseed", "number expected, got " .. real_type(v), 2) end
        reseed(real_tonumber(v))
    end
    return random, randomseed
end

-- The string library strategies see, and the one behind s:method().
SAFE_STRING = copy(string, { dump = true })
SAFE_STRING.rep = S.checked_rep
SAFE_STRING.find, SAFE_STRING.match = str_find, str_match
SAFE_STRING.gmatch, SAFE_STRING.gsub = str_gmatch, str_gsub
SAFE_STRING.format = make_format(make_tostring())
real_getmetatable("").__index = SAFE_STRING
S.string = SAFE_STRING
S.sort = sort
S.make_tostring = make_tostring

-- opts.print: function(...) used as print (arguments other than strings and
-- numbers already through the environment's tostring); opts.modules: name -> value for the
-- strategy's require(); opts.mts: the value of the global `mts`;
-- opts.seed, opts.id: the seed of the strategy's own math.random (the run's
-- seed and the strategy's id; the same pair gives the same numbers).
function S.new_env(opts)
    opts = opts or {}
    local env = {}
    for _, name in ipairs(S.ALLOWED_FUNCTIONS) do env[name] = _G[name] end
    env.getmetatable = safe_getmetatable
    local env_tostring = make_tostring()
    env.tostring = env_tostring
    env.math = copy(math)
    env.math.random, env.math.randomseed = make_random(opts.seed, opts.id)
    env.string = copy(SAFE_STRING)
    env.string.format = make_format(env_tostring)
    env.table = copy(table)
    env.table.sort = sort
    local out = opts.print or function() end
    env.print = function(...)
        local n = select("#", ...)
        local parts = { ... }
        for k = 1, n do
            local t = type(parts[k])
            if t ~= "string" and t ~= "number" then parts[k] = env_tostring(parts[k]) end
        end
        return out(unpack(parts, 1, n))
    end
    env.mts = opts.mts
    local modules = opts.modules or {}
    local names = {}
    for k in pairs(modules) do names[#names + 1] = k end
    table.sort(names)
    env.require = function(name)
        local m = modules[name]
        if m == nil then
            error("require: module '" .. tostring(name) .. "' is not available to strategies (available: " ..
                  table.concat(names, ", ") .. ")", 2)
        end
        return m
    end
    return setmetatable(env, {
        __index = function(_, k)
            error("unknown global '" .. tostring(k) .. "'", 2)
        end,
        __newindex = function(_, k)
            error("assignment to undeclared global '" .. tostring(k) ..
                  "' (strategies keep state in locals or ctx.state)", 2)
        end,
        __metatable = false,
    })
end

-- ---- instrumentation -------------------------------------------------------

local function lines_in(src, i, j)
    local n = 0
    for _ in src:sub(i, j):gmatch("\n") do n = n + 1 end
    return n
end

-- The tokens of a Lua chunk that matter here: names/keywords and punctuation,
-- with strings, numbers and comments skipped. Returns the token list or nil
-- and "chunkname:line: message". An unfinished string or comment is an error,
-- unless `lenient`: then the tokens so far are returned and the compiler
-- reports the rest (the REPL, to tell an unfinished chunk from a wrong one).
local function tokens(src, chunkname, lenient)
    local toks, pos, line, n = {}, 1, 1, #src
    local function fail(msg)
        if lenient then return toks end
        return nil, ("%s:%d: %s"):format(chunkname, line, msg)
    end
    while pos <= n do
        local c = src:sub(pos, pos)
        if c == "\n" then
            line, pos = line + 1, pos + 1
        elseif c:match("%s") then
            pos = pos + 1
        elseif c == "-" and src:sub(pos + 1, pos + 1) == "-" then
            local eq = src:match("^%[(=*)%[", pos + 2)
            if eq then                                  -- --[==[ long comment ]==]
                local close = "]" .. eq .. "]"
                local e = src:find(close, pos + 4 + #eq, true)
                if not e then return fail("unfinished long comment") end
                line = line + lines_in(src, pos, e)
                pos = e + #close
            else
                pos = (src:find("\n", pos, true) or n + 1)
            end
        elseif c == "[" and src:match("^%[=*%[", pos) then   -- [==[ long string ]==]
            local eq = src:match("^%[(=*)%[", pos)
            local close = "]" .. eq .. "]"
            local e = src:find(close, pos + 2 + #eq, true)
            if not e then return fail("unfinished long string") end
            line = line + lines_in(src, pos, e)
            toks[#toks + 1] = { kind = "string", s = pos, e = e + #close - 1, line = line }
            pos = e + #close
        elseif c == '"' or c == "'" then
            local i = pos + 1
            while true do
                local ch = src:sub(i, i)
                if ch == "" or ch == "\n" then return fail("unfinished string") end
                if ch == "\\" then
                    local nx = src:sub(i + 1, i + 1)
                    if nx == "\n" or nx == "\r" then          -- an escaped line break (\r\n counts once)
                        line = line + 1
                        local nn = src:sub(i + 2, i + 2)
                        i = ((nn == "\n" or nn == "\r") and nn ~= nx) and i + 3 or i + 2
                    elseif nx == "z" then                      -- \z skips the white space after it
                        i = i + 2
                        while true do
                            local w = src:sub(i, i)
                            if w == "" or not w:match("%s") then break end
                            if w == "\n" then line = line + 1 end
                            i = i + 1
                        end
                    else
                        i = i + 2
                    end
                elseif ch == c then
                    break
                else
                    i = i + 1
                end
            end
            toks[#toks + 1] = { kind = "string", s = pos, e = i, line = line }
            pos = i + 1
        elseif c:match("[%a_]") then
            local s, e = src:find("^[%w_]+", pos)
            toks[#toks + 1] = { kind = "name", text = src:sub(s, e), s = s, e = e, line = line }
            pos = e + 1
        elseif c:match("%d") or (c == "." and src:sub(pos + 1, pos + 1):match("%d")) then
            local i = pos
            while true do
                local ch = src:sub(i, i)
                if ch:match("[eEpP]") and src:sub(i + 1, i + 1):match("[%+%-]") then
                    i = i + 2
                elseif ch ~= "" and ch:match("[%w_%.]") then
                    i = i + 1
                else
                    break
                end
            end
            toks[#toks + 1] = { kind = "number", s = pos, e = i - 1, line = line }
            pos = i
        else
            toks[#toks + 1] = { kind = "punct", text = c, s = pos, e = pos, line = line }
            pos = pos + 1
        end
    end
    return toks
end

-- The source with budget ticks: after every `do` and `repeat`, after the
-- parameter list of every function, and before every `goto` (so loops built
-- from goto tick too). Nothing is inserted across a line break, so line
-- numbers in messages stay those of the file. A chunk that uses the reserved
-- name itself is refused. The result expects the tick function as the chunk's
-- first argument. `lenient`: see tokens().
function S.instrument(src, chunkname, lenient)
    local toks, err = tokens(src, chunkname, lenient)
    if not toks then return nil, err end
    local at = {}                       -- byte position -> text inserted before it
    local function after(k)
        local nxt = toks[k + 1]
        local sep = (nxt and nxt.kind == "punct" and nxt.text == ";") and "" or ";"
        at[toks[k].e + 1] = (at[toks[k].e + 1] or "") .. " " .. TICK .. "()" .. sep .. " "
    end
    local in_function = nil             -- "name": saw `function`; "params": inside its ( )
    for k, t in ipairs(toks) do
        if t.kind == "name" then
            if t.text == TICK then
                return nil, ("%s:%d: the name %s is reserved"):format(chunkname, t.line, TICK)
            elseif t.text == "do" or t.text == "repeat" then
                after(k)
            elseif t.text == "function" then
                in_function = "name"
            elseif t.text == "goto" then
                at[t.s] = (at[t.s] or "") .. TICK .. "(); "
            end
        elseif t.kind == "punct" then
            if in_function == "name" and t.text == "(" then
                in_function = "params"
            elseif in_function == "params" and t.text == ")" then
                in_function = nil
                after(k)
            end
        end
    end
    local out, last = { "local " .. TICK .. " = ...; " }, 1
    local positions = {}
    for p in pairs(at) do positions[#positions + 1] = p end
    table.sort(positions)
    for _, p in ipairs(positions) do
        out[#out + 1] = src:sub(last, p - 1)
        out[#out + 1] = at[p]
        last = p
    end
    out[#out + 1] = src:sub(last)
    return table.concat(out)
end

-- Compiles the file at `path` as text (bytecode is refused) with `chunkname`
-- as its name in messages ("scripts/strategies/x.lua:12: ...") and `env` as
-- its globals. With `instrumented`, the source gets the budget's ticks first
-- (S.instrument) and the chunk must be called with S.tick as its argument.
-- Returns the function, or nil and a message.
-- The largest strategy source read (bytes).
S.MAX_SOURCE_BYTES = 4 * 1048576

function S.compile(path, chunkname, env, instrumented)
    -- look before opening: a FIFO would block the open, a device never end
    local kind, size = require("config").stat(path)
    if kind ~= 0 and kind ~= 1 then
        return nil, ("%s: not a regular file (%s); a strategy is a Lua source file"):format(
            chunkname, require("config").KIND_NAME[kind] or "unknown")
    end
    if size > S.MAX_SOURCE_BYTES then
        return nil, ("%s: too large (%d bytes; the limit is %d)"):format(chunkname, size, S.MAX_SOURCE_BYTES)
    end
    local f, err = io.open(path, "rb")
    if not f then return nil, err end
    local src = f:read(S.MAX_SOURCE_BYTES + 1)     -- bounded even if the size lied
    f:close()
    src = src or ""
    if #src > S.MAX_SOURCE_BYTES then
        return nil, ("%s: too large (more than %d bytes)"):format(chunkname, S.MAX_SOURCE_BYTES)
    end
    if src:sub(1, 1) == "#" then src = "--" .. src end   -- shebang line
    if src:sub(1, 1) == "\27" then return nil, chunkname .. ": bytecode is not accepted, only Lua source" end
    if instrumented then
        local ierr
        src, ierr = S.instrument(src, chunkname)
        if not src then return nil, ierr end
    end
    local fn, cerr = load(src, "@" .. chunkname, "t", env)
    if not fn then return nil, cerr end
    return fn
end

return S
