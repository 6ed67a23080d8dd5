-- mts.lua — trusted glue between Lua and the C core: the FFI declarations, the
-- library handle, and thin checked wrappers over the indicator primitives.
--
-- Where the C functions come from
--   Inside the host (bin/mts, or a C test that embeds the bridge) the bridge
--   sets the global MTS_HOST = true before anything is required; the functions
--   are linked into the executable (-rdynamic) and reached through ffi.C.
--   Outside the host (busted, a plain luajit) the library is ffi.load()ed from
--   $MTS_LIB, else <repo>/lib/libmts.so.
--
-- Where the declarations come from
--   runtime/lua/mts_ffi.h is the single source of truth. It is fed to
--   ffi.cdef() as text after dropping the lines that start with '#'. The host
--   passes its path in the global MTS_FFI_H (the bridge prefers
--   <root>/scripts/lib/mts_ffi.h, the copy an install will carry next to this
--   file, and falls back to <root>/runtime/lua/mts_ffi.h in a source tree);
--   outside the host the path is $MTS_FFI_H or <repo>/runtime/lua/mts_ffi.h,
--   where <repo> is $MTS_ROOT or derived from this file's own path. The cdef
--   is skipped when the types already exist (busted reloads modules per file).
--
-- What it exports
--   M.C            the namespace holding the C functions (ffi.C or the library)
--   M.root         the repository/install root
--   M.sma ... M.align_asof, M.series, M.len, ...  the indicator API
--   M.api          the read-only table strategies see as `mts` (no ffi inside)
--
-- Series (trusted callers: runner, REPL API): a cdata `double[n]` or
-- `double (&)[n]` (what the M.* wrappers return; length known), a checked view
-- (below), a Lua array of numbers (copied once), or a raw `double *` with an
-- explicit length. Strategies get M.api instead, where every array in and out
-- is a bounds-checked view. Indices are 0-based like the engine's arrays.
-- Missing values are NaN. Wrappers allocate their result once per call: call
-- them in init(), not per bar.
-- Misuse (wrong types, bad windows) raises error(); a failing C call raises
-- with the decoded MTS_E* message.
local ffi = require "ffi"

local M = {}

-- ---- locating things -------------------------------------------------------

local function this_dir_root()
    local src = debug.getinfo(1, "S").source or ""
    local path = src:match("^@(.*)$")
    if not path then return nil end
    local root = path:match("^(.*)/scripts/lib/[^/]*$")
    if root then return root end
    if path:match("^scripts/lib/[^/]*$") then return "." end
    return nil
end

local in_host = rawget(_G, "MTS_HOST") == true
M.in_host = in_host
M.root = rawget(_G, "MTS_ROOT") or os.getenv("MTS_ROOT") or this_dir_root() or "."

local function read_file(path)
    local f, err = io.open(path, "rb")
    if not f then return nil, err end
    local s = f:read("*a")
    f:close()
    return s
end

-- ---- FFI declarations ---------------------------------------------------------

local function cdef_text()
    local path = rawget(_G, "MTS_FFI_H") or os.getenv("MTS_FFI_H")
        or (M.root .. "/runtime/lua/mts_ffi.h")
    local text, err = read_file(path)
    if not text then
        error("mts.lua: cannot read the FFI declarations: " .. tostring(err) ..
              " (set MTS_FFI_H to runtime/lua/mts_ffi.h of the install)", 0)
    end
    local out = {}
    for line in (text .. "\n"):gmatch("([^\n]*)\n") do
        if not line:match("^%s*#") then out[#out + 1] = line end
    end
    return table.concat(out, "\n")
end

if not pcall(ffi.typeof, "mts_engine_t") then
    ffi.cdef(cdef_text())
end

if in_host then
    M.C = ffi.C
else
    local libpath = os.getenv("MTS_LIB") or (M.root .. "/lib/libmts.so")
    local ok, lib = pcall(ffi.load, libpath)
    if not ok then
        error("mts.lua: cannot load the C library " .. libpath .. " (" .. tostring(lib) ..
              "); build it with `make lib/libmts.so` or set MTS_LIB", 0)
    end
    M.C = lib
end
local C = M.C

-- ---- helpers ---------------------------------------------------------------------

local double_vla = ffi.typeof("double[?]")
local int64_vla  = ffi.typeof("int64_t[?]")
local NaN = 0 / 0
M.nan = NaN
M.double_vla = double_vla
M.int64_vla = int64_vla

local ERRORS = { [0] = "success", [-1] = "out of memory", [-2] = "invalid argument" }
function M.strerror(rc)
    local ok, s = pcall(function() return ffi.string(C.mts_strerror(rc)) end)
    if ok then return s end
    return ERRORS[rc] or ("error " .. tostring(rc))
end

local is_view      -- defined with the checked views below

-- Length of a series, or nil when it cannot be known (a raw pointer). Fixed-size
-- arrays and references to them (the views below) carry their count in the type.
local function array_len(x)
    if is_view and is_view(x) then return ffi.cast("mts_view_impl_t *", x).n end
    if ffi.istype(double_vla, x) then return ffi.sizeof(x) / 8 end
    if ffi.istype(int64_vla, x) then return ffi.sizeof(x) / 8 end
    local count = tostring(ffi.typeof(x)):match("%[(%d+)%]>$")
    if count then return tonumber(count) end
    return nil
end

-- ---- views and large arrays ------------------------------------------------------
--
-- For trusted code, a view is a reference to a fixed-size C array,
-- `double (&)[n]`: indexing it costs what indexing a pointer costs and its
-- length is known, but nothing is copied. (Strategies get the checked views
-- further down instead.)
--
-- Indicator outputs of 128k elements or more are allocated in C
-- (mts_array_alloc: not zero-filled, huge-page advised) instead of as a
-- zero-filled LuaJIT VLA, and returned as views; the allocation is freed by
-- ffi.gc when the view is collected (anchors: view -> owning pointer, weak keys).

local anchors = setmetatable({}, { __mode = "k" })
local view_types = { double = {}, int64_t = {} }

function M.view(ptr, n, elem)
    elem = elem or "double"
    local cache = view_types[elem]
    local T = cache[n]
    if not T then
        T = ffi.typeof(elem .. " (&)[$]", n)
        cache[n] = T
    end
    return ffi.cast(T, ptr)
end

local BIG = 131072

-- In a guarded state (runtime/lua/guard.h) the C allocation is charged to
-- the strategy whose call is running, and released by the finalizer.
local function new_double(n)
    if n < BIG then return double_vla(n) end
    local g = rawget(_G, "MTS_GUARD")
    local owner = g and g.current() or -1
    if owner >= 0 then g.charge(owner, n * 8) end
    local p = C.mts_array_alloc(n * 8)
    if p == nil then
        if owner >= 0 then g.charge(owner, -n * 8) end
        error("out of memory allocating " .. n .. " doubles", 3)
    end
    if owner >= 0 then
        p = ffi.gc(ffi.cast("double *", p), function(q)
            C.mts_array_free(q)
            g.charge(owner, -n * 8)
        end)
    else
        p = ffi.gc(ffi.cast("double *", p), C.mts_array_free)
    end
    local v = M.view(p, n)
    anchors[v] = p
    return v
end
M.new_double = new_double

-- ---- checked views: the arrays strategies see -----------------------------
--
-- Untrusted strategy code must not index raw cdata: LuaJIT does no bounds
-- checks, so a bad index reads or writes outside the array. Strategies get
-- views instead: a pointer and a length behind a metatype whose __index and
-- __newindex check the index (the JIT compiles the check into the trace).
-- The engine's bars and shared macro series are read-only views; what the
-- indicator functions return to a strategy is writable (its own array).
-- Trusted code (runner, REPL API) keeps the raw arrays.
-- A view's fields are private: its public type is 16 read-only bytes, and only
-- trusted code (these metamethods) casts it to {pointer, length}. Otherwise
-- `view.p` would hand the raw pointer back to the strategy.
pcall(ffi.cdef, [[
typedef struct mts_view_impl { const void *p; double n; } mts_view_impl_t;
typedef struct mts_view_ro { const uint8_t private_[16]; } mts_view_ro_t;
typedef struct mts_view_rw { const uint8_t private_[16]; } mts_view_rw_t;
typedef struct mts_view_ts { const uint8_t private_[16]; } mts_view_ts_t;
]])
local view_ro_t = ffi.typeof("mts_view_ro_t")
local view_rw_t = ffi.typeof("mts_view_rw_t")
local view_ts_t = ffi.typeof("mts_view_ts_t")
local impl_ptr = ffi.typeof("mts_view_impl_t *")
local dptr, cdptr, iptr = ffi.typeof("double *"), ffi.typeof("const double *"), ffi.typeof("const int64_t *")

local function is_count(v)
    return type(v) == "number" and v >= 0 and v == math.floor(v) and v < 2 ^ 53
end

local function bad_index(n, i)
    if type(i) ~= "number" then
        error("a series is indexed by number (0 .. n-1), not by " .. type(i), 3)
    end
    error(("series index %s out of range 0 .. %d"):format(tostring(i), n - 1), 3)
end
-- Read-only views (the engine's bars, other assets, other intervals, macro,
-- funding, book) end at the current bar (issue 10: the runner grows them step
-- by step, in backtests as in live sessions): an index at or past the end is
-- in the future, and the message says so.
local function future_index(n, i)
    if type(i) == "number" and i >= n and i == math.floor(i) then
        if n == 0 then
            error(("look-ahead: index %d is in the future (this series has no values up to the current bar)"):format(i), 2)
        end
        error(("look-ahead: index %d is in the future (this series has %d value%s up to the current bar, " ..
               "0 .. %d)"):format(i, n, n == 1 and "" or "s", n - 1), 2)
    end
    bad_index(n, i)
end
local function view_len(v) return ffi.cast(impl_ptr, v).n end
local function double_at(v, i)
    local r = ffi.cast(impl_ptr, v)
    if type(i) == "number" and i >= 0 and i < r.n then return ffi.cast(cdptr, r.p)[i] end
    return bad_index(r.n, i)
end
local function double_at_ro(v, i)
    local r = ffi.cast(impl_ptr, v)
    if type(i) == "number" and i >= 0 and i < r.n then return ffi.cast(cdptr, r.p)[i] end
    return future_index(r.n, i)
end
pcall(ffi.metatype, view_ro_t, {
    __index = double_at_ro,
    __newindex = function() error("this series is read-only (the engine's bars or a shared series)", 2) end,
    __len = view_len,
})
pcall(ffi.metatype, view_rw_t, {
    __index = double_at,
    __newindex = function(v, i, x)
        local r = ffi.cast(impl_ptr, v)
        if type(i) == "number" and i >= 0 and i < r.n then ffi.cast(dptr, r.p)[i] = x return end
        bad_index(r.n, i)
    end,
    __len = view_len,
})
pcall(ffi.metatype, view_ts_t, {
    __index = function(v, i)
        local r = ffi.cast(impl_ptr, v)
        if type(i) == "number" and i >= 0 and i < r.n then return tonumber(ffi.cast(iptr, r.p)[i]) end
        return future_index(r.n, i)
    end,
    __newindex = function() error("bar times are read-only", 2) end,
    __len = view_len,
})

local function new_view(T, ptr, n, owner)
    local v = T()
    local r = ffi.cast(impl_ptr, v)
    r.p, r.n = ptr, n
    if owner ~= nil then anchors[v] = owner end
    return v
end

-- Only values of the three view types are ever cast to mts_view_impl_t: a
-- value a strategy could have placed somewhere (a number, another cdata) is
-- refused, never reinterpreted (issue 9: the runner used to write the length
-- of whatever sat in ctx.series). The metamethods above need no check: the
-- FFI calls them only with a cdata of their own type.
local function checked_impl(v, fname)
    if not (ffi.istype(view_ro_t, v) or ffi.istype(view_rw_t, v) or ffi.istype(view_ts_t, v)) then
        error(fname .. ": not a series view (got " .. type(v) .. ")", 3)
    end
    return ffi.cast(impl_ptr, v)
end

-- Live sessions: a view over bars that grew (the arrays never move; only the
-- length changes). Trusted code only (the runner, on views it made itself).
function M.view_resize(v, n)
    if not is_count(n) then error("mts.view_resize: n must be a count, got " .. tostring(n), 2) end
    checked_impl(v, "mts.view_resize").n = n
end

-- The {pointer, length} record of a view, for the runner's per-step growth
-- (issue 10): writing .n through it is view_resize without the checks.
-- Trusted code only, on views it made itself; keep the view alive.
function M.view_impl(v)
    return checked_impl(v, "mts.view_impl")
end

-- The pointer and length behind a view (trusted code only).
local function view_parts(v)
    local r = checked_impl(v, "view_parts")
    local T = ffi.istype(view_ts_t, v) and iptr or (ffi.istype(view_rw_t, v) and dptr or cdptr)
    return ffi.cast(T, r.p), r.n
end

function is_view(x)
    return ffi.istype(view_ro_t, x) or ffi.istype(view_rw_t, x) or ffi.istype(view_ts_t, x)
end
M.is_view = is_view

-- A read-only view of n elements at ptr (elem "double" or "int64_t"); `owner`
-- (optional) is kept alive as long as the view.
function M.view_ro(ptr, n, elem, owner)
    return new_view(elem == "int64_t" and view_ts_t or view_ro_t, ptr, n, owner)
end

-- A writable view over a cdata array the strategy owns (kept alive by the view).
local function view_rw(arr, n)
    return new_view(view_rw_t, arr, n, arr)
end


function M.len(x)
    local t = type(x)
    if t == "table" then return #x end
    if t == "cdata" then return array_len(x) end
    return nil
end

-- Returns a C-compatible series and its length; raises with `fname` on misuse.
-- level: the error level of the wrapper's caller.
local function input(fname, what, x, n)
    local t = type(x)
    if t == "table" then
        local len = n or #x
        if not is_count(len) then error(fname .. ": " .. what .. " length must be a count", 3) end
        local a = double_vla(len)
        for i = 1, len do
            local v = x[i]
            if v == nil then v = NaN end
            if type(v) ~= "number" then
                error(fname .. ": " .. what .. "[" .. i .. "] is a " .. type(v) .. ", not a number", 3)
            end
            a[i - 1] = v
        end
        return a, len
    elseif t == "cdata" then
        local len = array_len(x)
        if n ~= nil then
            if not is_count(n) then error(fname .. ": n must be a count, got " .. tostring(n), 3) end
            if len and n > len then
                error(fname .. ": n = " .. n .. " exceeds the length of " .. what .. " (" .. len .. ")", 3)
            end
            len = n
        end
        if not len then
            error(fname .. ": the length of " .. what .. " is unknown (a pointer); pass n", 3)
        end
        if is_view(x) then return (view_parts(x)), len end
        return x, len
    end
    error(fname .. ": " .. what .. " must be a series (cdata array or table of numbers), got " .. t, 3)
end

local function window(fname, w, what, allow_nonpositive)
    if type(w) ~= "number" or w ~= math.floor(w) or (not allow_nonpositive and w < 1)
        or w > 2147483647 or w < -2147483648 then
        error(fname .. ": " .. (what or "window") .. " must be an integer" ..
              (allow_nonpositive and "" or " >= 1") .. ", got " .. tostring(w), 3)
    end
    return w
end

local function check(fname, rc)
    if rc ~= 0 then error(fname .. ": " .. M.strerror(rc), 3) end
end

-- ---- series helpers ------------------------------------------------------------

-- A new double[n], every element `fill` (default NaN).
function M.series(n, fill)
    if not is_count(n) then error("mts.series: n must be a count, got " .. tostring(n), 2) end
    if fill ~= nil and type(fill) ~= "number" then
        error("mts.series: fill must be a number, got " .. type(fill), 2)
    end
    local a = double_vla(n)
    local v = fill or NaN
    if v ~= 0 then for i = 0, n - 1 do a[i] = v end end
    return a
end

function M.isnan(v) return v ~= v end

function M.clamp(v, lo, hi)
    if v < lo then return lo end
    if v > hi then return hi end
    return v
end

-- A copy of a series as a Lua array (1-based), for printing and tests.
function M.to_table(x, n)
    local a, len = input("mts.to_table", "series", x, n)
    local t = {}
    for i = 0, len - 1 do t[i + 1] = a[i] end
    return t
end

-- "2024-01-02T00:00:00Z"
function M.iso_time(ts)
    return os.date("!%Y-%m-%dT%H:%M:%SZ", tonumber(ts))
end

-- ---- indicator wrappers -----------------------------------------------------------

-- The indicators of one series and one window: mts.NAME(x, w [, n]) -> a
-- new array of the same length (NaN during warm-up). `what` names the window
-- argument in messages ("period" or nil for "window").
local function series_indicator(fname, cname, what)
    local cf = C[cname]
    return function(x, w, n)
        local a, len = input(fname, "series", x, n)
        window(fname, w, what)
        local out = new_double(len)
        check(fname, cf(a, len, w, out))
        return out
    end
end

M.sma = series_indicator("mts.sma", "mts_ta_sma", nil)

M.rolling_std = series_indicator("mts.rolling_std", "mts_ta_rolling_std", nil)

function M.rolling_corr(x, y, w, n)
    local a, la = input("mts.rolling_corr", "x", x, n)
    local b, lb = input("mts.rolling_corr", "y", y, n)
    if la ~= lb then
        error("mts.rolling_corr: x and y differ in length (" .. la .. " vs " .. lb .. ")", 2)
    end
    window("mts.rolling_corr", w)
    local out = new_double(la)
    check("mts.rolling_corr", C.mts_ta_rolling_corr(a, b, la, w, out))
    return out
end

M.rsi = series_indicator("mts.rsi", "mts_ta_rsi", "period")

function M.drawdown(x, n)
    local a, len = input("mts.drawdown", "series", x, n)
    local out = new_double(len)
    check("mts.drawdown", C.mts_ta_drawdown(a, len, out))
    return out
end

-- w <= 0 or nil: expanding window (all values so far).
function M.pct_rank(x, w, n)
    local a, len = input("mts.pct_rank", "series", x, n)
    if w == nil then w = 0 end
    window("mts.pct_rank", w, "window", true)
    local out = new_double(len)
    check("mts.pct_rank", C.mts_ta_pct_rank(a, len, w, out))
    return out
end

function M.pct_change(x, n)
    local a, len = input("mts.pct_change", "series", x, n)
    local out = new_double(len)
    check("mts.pct_change", C.mts_ta_pct_change(a, len, out))
    return out
end

function M.diff(x, n)
    local a, len = input("mts.diff", "series", x, n)
    local out = new_double(len)
    check("mts.diff", C.mts_ta_diff(a, len, out))
    return out
end

-- ---- streaming indicators: one value per bar ------------------------------------
--
-- For bar-by-bar code (on_bar / analyze, in backtests and live sessions
-- alike): create the object once in init, then push one value per bar; push
-- returns bit for bit what the batch function above gives at that index
-- (runtime/indicators/ta.c; tests/c/test_ta_stream.c compares them on the
-- bundled data), so a strategy written this way gives the same signals in a
-- backtest and in a paper session. No allocation per push; the C object is
-- freed by the GC. The window's memory is charged to the strategy in a
-- guarded state (a huge window hits the memory cap instead of the machine).
--   r = mts.rolling_mean(w)        r:push(x)     -> mts.sma(x, w)[i]
--   r = mts.rolling_std_stream(w)  r:push(x)     -> mts.rolling_std(x, w)[i]
--   r = mts.rolling_corr_stream(w) r:push(x, y)  -> mts.rolling_corr(x, y, w)[i]
--   r = mts.rsi_stream(period)     r:push(x)     -> mts.rsi(x, period)[i]
--   r = mts.drawdown_stream()      r:push(x)     -> mts.drawdown(x)[i]
--   r = mts.pct_rank_stream(w)     r:push(x)     -> mts.pct_rank(x, w)[i], w >= 1
--   r = mts.pct_change_stream()    r:push(x)     -> mts.pct_change(x)[i]
--   r = mts.diff_stream()          r:push(x)     -> mts.diff(x)[i]
--   a = mts.asof_stream(src)       a:at(t)       -> mts.align_asof(src, ts)[i] for t = ts[i]
-- asof_stream copies src ({ts=, v=, n=} as ctx.macro returns, or an
-- mts_series_t pointer); at(t) with t not decreasing walks forward, a t
-- before the previous one rescans from the start.
-- The methods check their receiver and arguments: r.push(nil, x) from a
-- strategy must not hand C a NULL. (When busted reloads this module the
-- metatypes are already set; they still point at the same C functions.)

local function owned(p, free, bytes)
    local g = rawget(_G, "MTS_GUARD")
    local owner = g and g.current() or -1
    if owner >= 0 and bytes > 0 then
        local ok, err = pcall(g.charge, owner, bytes)
        if not ok then free(p); error(err, 0) end
        return ffi.gc(p, function(q) free(q); g.charge(owner, -bytes) end)
    end
    return ffi.gc(p, free)
end

-- One method function per type, each its own prototype: a prototype
-- instantiated more than once is not specialised by the JIT (its upvalues,
-- the C function and the ctype, would be loaded per call instead of folded).
-- So the one-argument push is compiled from one source once per type (load
-- gives every type a fresh prototype) instead of being written out six times.
local function bad_receiver() error("push: call it as r:push(x)", 3) end
local function bad_x(x) error("push: x must be a number, got " .. type(x), 3) end
local PUSH1 = [[
local T, f, istype, bad_receiver, bad_x = ...
local type = type
return function(r, x)
    if not istype(T, r) or r == nil then bad_receiver() end
    if type(x) ~= "number" then bad_x(x) end
    return f(r, x)
end]]
local function install_push1(list)
    for _, t in ipairs(list) do
        local make = assert(load(PUSH1, "=mts.lua push (" .. t[1] .. ")"))
        local push = make(ffi.typeof("mts_" .. t[1] .. "_t *"), C[t[2]], ffi.istype, bad_receiver, bad_x)
        pcall(ffi.metatype, "struct mts_" .. t[1], { __index = { push = push } })
    end
end
install_push1({ { "rolling", "mts_rolling_mean_push" }, { "rollstd", "mts_rollstd_push" },
                { "rsi", "mts_rsi_push" }, { "drawdown", "mts_drawdown_push" },
                { "pctrank", "mts_pctrank_push" }, { "change", "mts_change_push" } })
do
    local T = ffi.typeof("mts_rollcorr_t *")
    local push = C.mts_rollcorr_push
    pcall(ffi.metatype, "struct mts_rollcorr", { __index = { push = function(r, x, y)
        if not ffi.istype(T, r) or r == nil then error("push: call it as r:push(x, y)", 2) end
        if type(x) ~= "number" or type(y) ~= "number" then
            error("push: x and y must be numbers, got " .. type(x) .. " and " .. type(y), 2)
        end
        return push(r, x, y)
    end } })
    local A = ffi.typeof("mts_asof_t *")
    local at = C.mts_asof_at
    pcall(ffi.metatype, "struct mts_asof", { __index = { at = function(a, t)
        if not ffi.istype(A, a) or a == nil then error("at: call it as a:at(t)", 2) end
        if type(t) ~= "number" or t ~= t then error("at: t must be a time (unix seconds), got " .. type(t), 2) end
        return at(a, t)
    end } })
end

local function windowed(fname, cnew, cfree, per_elem, what)
    return function(w)
        window(fname, w, what)
        local r = C[cnew](w)
        if r == nil then error(fname .. ": out of memory", 2) end
        return owned(r, C[cfree], w * per_elem)
    end
end

M.rolling_mean = windowed("mts.rolling_mean", "mts_rolling_new", "mts_rolling_free", 8)
M.rolling_std_stream = windowed("mts.rolling_std_stream", "mts_rollstd_new", "mts_rollstd_free", 8)
M.rolling_corr_stream = windowed("mts.rolling_corr_stream", "mts_rollcorr_new", "mts_rollcorr_free", 16)
M.rsi_stream = windowed("mts.rsi_stream", "mts_rsi_new", "mts_rsi_free", 0, "period")
M.pct_rank_stream = windowed("mts.pct_rank_stream", "mts_pctrank_new", "mts_pctrank_free", 8)

function M.drawdown_stream()
    local r = C.mts_drawdown_new()
    if r == nil then error("mts.drawdown_stream: out of memory", 2) end
    return ffi.gc(r, C.mts_drawdown_free)
end

local function change_stream(fname, pct)
    return function()
        local r = C.mts_change_new(pct)
        if r == nil then error(fname .. ": out of memory", 2) end
        return ffi.gc(r, C.mts_change_free)
    end
end
M.pct_change_stream = change_stream("mts.pct_change_stream", 1)
M.diff_stream = change_stream("mts.diff_stream", 0)

-- int64 times from a cdata array, a pointer (+n) or a table of numbers.
local function input_ts(fname, what, x, n)
    local t = type(x)
    if t == "table" then
        local len = n or #x
        local a = int64_vla(len)
        for i = 1, len do
            if type(x[i]) ~= "number" then
                error(fname .. ": " .. what .. "[" .. i .. "] must be a number", 3)
            end
            a[i - 1] = x[i]
        end
        return a, len
    elseif t == "cdata" then
        local len = n or array_len(x)
        if not len then error(fname .. ": the length of " .. what .. " is unknown (a pointer); pass n", 3) end
        if is_view(x) then
            local p, vn = view_parts(x)
            if len > vn then error(fname .. ": n = " .. len .. " exceeds the length of " .. what, 3) end
            return p, len
        end
        return x, len
    end
    error(fname .. ": " .. what .. " must be a time series (int64 cdata array or table), got " .. t, 3)
end

-- align_asof(src, dst_ts [, n_dst]): for each time in dst_ts, the last value of
-- src at or before it (NaN before the first). src is a table {ts=, v=, n=}
-- (what ctx.macro() returns) or an mts_series_t pointer.
function M.align_asof(src, dst_ts, n_dst)
    local sts, sv, sn
    if type(src) == "table" then
        sts, sv, sn = src.ts, src.v, src.n
        if sn == nil then sn = M.len(src.v) end
    elseif type(src) == "cdata" and ffi.istype("const mts_series_t *", src) then
        sts, sv, sn = src.ts, src.v, tonumber(src.n)
    else
        error("mts.align_asof: src must be {ts=, v=, n=} or an mts_series_t, got " .. type(src), 2)
    end
    if sts == nil or sv == nil or not is_count(sn) then
        error("mts.align_asof: src needs ts, v and n", 2)
    end
    sts = input_ts("mts.align_asof", "src.ts", sts, sn)
    sv = input("mts.align_asof", "src.v", sv, sn)
    local dts, dn = input_ts("mts.align_asof", "dst_ts", dst_ts, n_dst)
    local out = new_double(dn)
    check("mts.align_asof", C.mts_ta_align_asof(sts, sv, sn, dts, dn, out))
    return out
end

-- asof_stream(src): see "streaming indicators" above.
local asof_out = ffi.typeof("mts_asof_t *[1]")

-- asof_stream over views that grow with the run (ctx.macro(...) in init,
-- issue 10): at(t) reads the values visible now, so the object made in init
-- sees each value as it becomes visible. Same answers as mts_asof_at (the
-- last non-NaN value with ts <= t, NaN before the first; t going backwards
-- rescans). The state lives in a closure: nothing of it is reachable.
local function asof_view_stream(tsv, vv)
    local j, last, last_t = 0, NaN, -math.huge
    local obj = {}
    local function at(self, t)
        if self ~= obj then error("at: call it as a:at(t)", 2) end
        if type(t) ~= "number" then error("at: t must be a number, got " .. type(t), 2) end
        if t < last_t then j, last = 0, NaN end
        last_t = t
        local pts, n = view_parts(tsv)
        local pv, nv = view_parts(vv)
        if nv < n then n = nv end
        while j < n and pts[j] <= t do
            local x = pv[j]
            if x == x then last = x end
            j = j + 1
        end
        return last
    end
    return setmetatable(obj, { __index = { at = at }, __newindex = function()
        error("an asof_stream is read-only", 2) end, __metatable = false })
end

function M.asof_stream(src)
    if type(src) == "table" and is_view(src.ts) and is_view(src.v) then
        return asof_view_stream(src.ts, src.v)
    end
    local sts, sv, sn
    if type(src) == "table" then
        sts, sv, sn = src.ts, src.v, src.n
        if sn == nil then sn = M.len(src.v) end
    elseif type(src) == "cdata" and ffi.istype("const mts_series_t *", src) then
        sts, sv, sn = src.ts, src.v, tonumber(src.n)
    else
        error("mts.asof_stream: src must be {ts=, v=, n=} or an mts_series_t, got " .. type(src), 2)
    end
    if sts == nil or sv == nil or not is_count(sn) then
        error("mts.asof_stream: src needs ts, v and n", 2)
    end
    sts = input_ts("mts.asof_stream", "src.ts", sts, sn)
    sv = input("mts.asof_stream", "src.v", sv, sn)
    local out = asof_out()
    local rc = C.mts_asof_new(sts, sv, sn, out)
    if rc == -2 then error("mts.asof_stream: src.ts must be ascending", 2) end
    check("mts.asof_stream", rc)
    return owned(out[0], C.mts_asof_free, sn * 16)
end

-- ---- EMA, ATR, MACD, Bollinger bands, VWAP, rolling min/max ---------------------
--
-- Conventions (runtime/indicators/ta.c; docs/lua-api.md "Indicators"):
--   ema(x, n)                    TA-Lib: k = 2/(n+1), first value = mean of the first n
--   atr(high, low, close, n)     Wilder; first value = mean of the first n true ranges (index n)
--   macd(x, fast, slow, signal)  -> line, signal, hist (defaults 12, 26, 9)
--   bbands(x, w, k)              -> middle, upper, lower; population sd (ddof 0), k default 2
--   vwap(high, low, close, volume [, w])  typical price (h+l+c)/3; w nil/0: cumulative
--   rolling_min(x, w), rolling_max(x, w)
-- NaN during warm-up; streaming forms (one bar per push, no allocation per
-- push) give bit for bit the batch values:
--   e = mts.ema_stream(n)               e:push(x)
--   a = mts.atr_stream(n)               a:push(high, low, close)
--   m = mts.macd_stream(f, s, g)        m:push(x)  -> line, signal, hist
--   b = mts.bbands_stream(w, k)         b:push(x)  -> middle, upper, lower
--   v = mts.vwap_stream([w])            v:push(high, low, close, volume)
--   r = mts.rolling_min_stream(w) / mts.rolling_max_stream(w)   r:push(x)

local function same_len(fname, names, lens)
    for i = 2, #lens do
        if lens[i] ~= lens[1] then
            error(fname .. ": " .. names[i] .. " and " .. names[1] .. " differ in length (" ..
                  lens[i] .. " vs " .. lens[1] .. ")", 3)
        end
    end
end

local function band_k(fname, k)
    if k == nil then return 2.0 end
    if type(k) ~= "number" or k ~= k or k < 0 or k == math.huge then
        error(fname .. ": k (band width in standard deviations) must be a number >= 0, got " .. tostring(k), 3)
    end
    return k
end

local function bb_window(fname, w)
    window(fname, w, "window", false)
    if w < 2 then error(fname .. ": window must be an integer >= 2, got " .. tostring(w), 3) end
    return w
end

local function vwap_window(fname, w)
    if w == nil then return 0 end
    window(fname, w, "window (0 = cumulative)", true)
    return w < 0 and 0 or w
end

M.ema = series_indicator("mts.ema", "mts_ta_ema", "period")

function M.atr(high, low, close, period, n)
    local h, lh = input("mts.atr", "high", high, n)
    local l, ll = input("mts.atr", "low", low, n)
    local c, lc = input("mts.atr", "close", close, n)
    same_len("mts.atr", { "high", "low", "close" }, { lh, ll, lc })
    window("mts.atr", period, "period")
    local out = new_double(lh)
    check("mts.atr", C.mts_ta_atr(h, l, c, lh, period, out))
    return out
end

function M.macd(x, fast, slow, signal, n)
    local a, len = input("mts.macd", "series", x, n)
    fast, slow, signal = fast or 12, slow or 26, signal or 9
    window("mts.macd", fast, "fast period")
    window("mts.macd", slow, "slow period")
    window("mts.macd", signal, "signal period")
    local line, sig, hist = new_double(len), new_double(len), new_double(len)
    check("mts.macd", C.mts_ta_macd(a, len, fast, slow, signal, line, sig, hist))
    return line, sig, hist
end

function M.bbands(x, w, k, n)
    local a, len = input("mts.bbands", "series", x, n)
    bb_window("mts.bbands", w)
    k = band_k("mts.bbands", k)
    local mid, up, lo = new_double(len), new_double(len), new_double(len)
    check("mts.bbands", C.mts_ta_bbands(a, len, w, k, mid, up, lo))
    return mid, up, lo
end

function M.vwap(high, low, close, volume, w, n)
    local h, lh = input("mts.vwap", "high", high, n)
    local l, ll = input("mts.vwap", "low", low, n)
    local c, lc = input("mts.vwap", "close", close, n)
    local v, lv = input("mts.vwap", "volume", volume, n)
    same_len("mts.vwap", { "high", "low", "close", "volume" }, { lh, ll, lc, lv })
    w = vwap_window("mts.vwap", w)
    local out = new_double(lh)
    check("mts.vwap", C.mts_ta_vwap(h, l, c, v, lh, w, out))
    return out
end

M.rolling_min = series_indicator("mts.rolling_min", "mts_ta_rolling_min", nil)

M.rolling_max = series_indicator("mts.rolling_max", "mts_ta_rolling_max", nil)

-- streaming: methods (each its own prototype, see PUSH1 above)
install_push1({ { "ema", "mts_ema_push" }, { "rollext", "mts_rollext_push" } })
do
    local function nums(what, ...)
        for i = 1, select("#", ...) do
            local v = select(i, ...)
            if type(v) ~= "number" then
                error("push: " .. what .. " must be numbers, got a " .. type(v) .. " as argument " .. i, 3)
            end
        end
    end
    local T = ffi.typeof("mts_atr_t *")
    local atr_push = C.mts_atr_push
    pcall(ffi.metatype, "struct mts_atr", { __index = { push = function(r, h, l, c)
        if not ffi.istype(T, r) or r == nil then error("push: call it as a:push(high, low, close)", 2) end
        if type(h) ~= "number" or type(l) ~= "number" or type(c) ~= "number" then nums("high, low, close", h, l, c) end
        return atr_push(r, h, l, c)
    end } })
    local V = ffi.typeof("mts_vwap_t *")
    local vwap_push = C.mts_vwap_push
    pcall(ffi.metatype, "struct mts_vwap", { __index = { push = function(r, h, l, c, v)
        if not ffi.istype(V, r) or r == nil then error("push: call it as v:push(high, low, close, volume)", 2) end
        if type(h) ~= "number" or type(l) ~= "number" or type(c) ~= "number" or type(v) ~= "number" then
            nums("high, low, close, volume", h, l, c, v)
        end
        return vwap_push(r, h, l, c, v)
    end } })
    local MT = ffi.typeof("mts_macd_t *")
    local macd_push, macd_sig, macd_hist = C.mts_macd_push, C.mts_macd_signal, C.mts_macd_hist
    pcall(ffi.metatype, "struct mts_macd", { __index = { push = function(r, x)
        if not ffi.istype(MT, r) or r == nil then error("push: call it as m:push(x)", 2) end
        if type(x) ~= "number" then error("push: x must be a number, got " .. type(x), 2) end
        local line = macd_push(r, x)
        return line, macd_sig(r), macd_hist(r)
    end } })
    local B = ffi.typeof("mts_bbands_t *")
    local bb_push, bb_up, bb_lo = C.mts_bbands_push, C.mts_bbands_upper, C.mts_bbands_lower
    pcall(ffi.metatype, "struct mts_bbands", { __index = { push = function(r, x)
        if not ffi.istype(B, r) or r == nil then error("push: call it as b:push(x)", 2) end
        if type(x) ~= "number" then error("push: x must be a number, got " .. type(x), 2) end
        local mid = bb_push(r, x)
        return mid, bb_up(r), bb_lo(r)
    end } })
end

M.ema_stream = windowed("mts.ema_stream", "mts_ema_new", "mts_ema_free", 0, "period")
M.atr_stream = windowed("mts.atr_stream", "mts_atr_new", "mts_atr_free", 0, "period")

function M.macd_stream(fast, slow, signal)
    fast, slow, signal = fast or 12, slow or 26, signal or 9
    window("mts.macd_stream", fast, "fast period")
    window("mts.macd_stream", slow, "slow period")
    window("mts.macd_stream", signal, "signal period")
    local r = C.mts_macd_new(fast, slow, signal)
    if r == nil then error("mts.macd_stream: out of memory", 2) end
    return ffi.gc(r, C.mts_macd_free)
end

function M.bbands_stream(w, k)
    bb_window("mts.bbands_stream", w)
    k = band_k("mts.bbands_stream", k)
    local r = C.mts_bbands_new(w, k)
    if r == nil then error("mts.bbands_stream: out of memory", 2) end
    return owned(r, C.mts_bbands_free, w * 8)
end

function M.vwap_stream(w)
    w = vwap_window("mts.vwap_stream", w)
    local r = C.mts_vwap_new(w)
    if r == nil then error("mts.vwap_stream: out of memory", 2) end
    return owned(r, C.mts_vwap_free, w * 16)
end

local function rollext_stream(fname, want_max)
    return function(w)
        window(fname, w)
        local r = C.mts_rollext_new(w, want_max)
        if r == nil then error(fname .. ": out of memory", 2) end
        return owned(r, C.mts_rollext_free, w * 16)
    end
end
M.rolling_min_stream = rollext_stream("mts.rolling_min_stream", 0)
M.rolling_max_stream = rollext_stream("mts.rolling_max_stream", 1)

-- ---- the API strategies see -------------------------------------------------------

-- What strategies get: the same functions, but every array comes back as a
-- checked, writable view of the strategy's own result (see "checked views").
-- Errors keep pointing at the strategy's line, not at this wrapper.
local function for_strategies(f, out_len)
    return function(...)
        local ok, out = pcall(f, ...)
        if not ok then error((tostring(out):gsub("^[^:]*:%d+: ", "")), 2) end
        return view_rw(out, out_len and out_len(out, ...) or array_len(out))
    end
end

-- The same for the indicators that return three series (macd, bbands).
local function for_strategies3(f)
    return function(...)
        local ok, a, b, c = pcall(f, ...)
        if not ok then error((tostring(a):gsub("^[^:]*:%d+: ", "")), 2) end
        return view_rw(a, array_len(a)), view_rw(b, array_len(b)), view_rw(c, array_len(c))
    end
end

local api = {
    sma = for_strategies(M.sma), rolling_std = for_strategies(M.rolling_std),
    rolling_corr = for_strategies(M.rolling_corr), rsi = for_strategies(M.rsi),
    drawdown = for_strategies(M.drawdown), pct_rank = for_strategies(M.pct_rank),
    pct_change = for_strategies(M.pct_change), diff = for_strategies(M.diff),
    align_asof = for_strategies(M.align_asof),
    ema = for_strategies(M.ema), atr = for_strategies(M.atr),
    macd = for_strategies3(M.macd), bbands = for_strategies3(M.bbands),
    vwap = for_strategies(M.vwap),
    rolling_min = for_strategies(M.rolling_min), rolling_max = for_strategies(M.rolling_max),
    ema_stream = M.ema_stream, atr_stream = M.atr_stream, macd_stream = M.macd_stream,
    bbands_stream = M.bbands_stream, vwap_stream = M.vwap_stream,
    rolling_min_stream = M.rolling_min_stream, rolling_max_stream = M.rolling_max_stream,
    series = for_strategies(M.series),
    rolling_mean = M.rolling_mean,
    rolling_std_stream = M.rolling_std_stream, rolling_corr_stream = M.rolling_corr_stream,
    rsi_stream = M.rsi_stream, drawdown_stream = M.drawdown_stream,
    pct_rank_stream = M.pct_rank_stream, pct_change_stream = M.pct_change_stream,
    diff_stream = M.diff_stream, asof_stream = M.asof_stream,
    len = M.len, isnan = M.isnan, clamp = M.clamp,
    to_table = M.to_table, iso_time = M.iso_time, nan = NaN,
    LONG = "LONG", SHORT = "SHORT", CLOSE = "CLOSE",
}

-- A read-only proxy of a table's fields (the `mts` API, ctx.series,
-- ctx.macro(...) results: shared by every strategy). The fields are copied
-- into a private table when the proxy is made; the proxy itself stays empty,
-- so every write reaches __newindex and raises (strategies have no rawset);
-- its metatable is protected (getmetatable gives false, setmetatable
-- raises), and reading a missing field raises. Reads go through a table
-- __index, which the JIT compiles like a field load. The values are shared
-- as they are: put only immutable ones (functions, strings, numbers,
-- read-only views) or other read-only proxies in `t`.
-- len_of (optional): a view whose current length the proxy reports as its
-- field `n` (a series that grows with the run, issue 10).
function M.readonly(t, name, len_of)
    name = name or "table"
    local fields = {}
    for k, v in pairs(t) do fields[k] = v end
    if len_of ~= nil then fields.n = nil end
    setmetatable(fields, { __index = function(_, k)
        if k == "n" and len_of ~= nil then return view_len(len_of) end
        error(name .. "." .. tostring(k) .. " does not exist", 2)
    end })
    return setmetatable({}, {
        __index = fields,
        __newindex = function(_, k)
            error(name .. " is read-only (assignment to " .. tostring(k) .. ")", 2)
        end,
        __metatable = false,
    })
end

M.api = M.readonly(api, "mts")

return M
