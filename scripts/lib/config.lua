-- config.lua — strategy parameters: defaults from get_parameters(), values
-- from config/strategies/<name>.json, overrides from --param KEY=VALUE; type
-- checking of all three. Pure Lua, plus io for reading the file and the C
-- core's mts_path_kind (through mts.lua) to look at a path before opening it.
--
-- Types. Every declared parameter has the type of its default: number,
-- string, boolean, or a table (checked key by key against the default's keys;
-- an array default checks every element against its first element's type).
-- A strategy may narrow a number to "integer" in an optional table
-- `parameter_types` (e.g. {fast = "integer"}): a whole number within +-2^53.
-- A handful of keys are common to every strategy and need not be declared
-- (COMMON below).
--
-- Errors are raised as tables {config_error = "message"}; the runner turns
-- them into run-stopping errors. Messages name the source and the field:
--   "config/strategies/vix_correlation.json: lookback_days must be a number, got string"
--   "--param fast=abc: sma_cross.fast must be a number, got 'abc'"
local json = require "json"

local M = {}

-- Keys every strategy config may carry, with their types.
M.COMMON = {
    name = "string",
    description = "string",
    enabled = "boolean",
    weight = "number",
    assets = { "string" },
    risk_management = {
        max_position_size = "number",
        max_portfolio_risk = "number",    -- the strategy's book (independent mode)
        stop_loss_pct = "number",
        take_profit_pct = "number",
    },
}

local function cfg_error(msg) error({ config_error = msg }, 0) end
M.error = cfg_error

function M.is_error(e) return type(e) == "table" and e.config_error ~= nil end

local function json_type(v)
    if v == json.null then return "null" end
    if type(v) == "table" then return json.is_array(v) and "array" or "object" end
    return type(v)
end

-- The schema of a default value: a type name, {elem} for arrays, a table of
-- schemas for objects.
local function schema_of(default, types)
    local t = type(default)
    if t ~= "table" then
        if t == "number" and types == "integer" then return "integer" end
        return t
    end
    if json.is_array(default) or (#default > 0 and next(default, #default) == nil) then
        return { default[1] ~= nil and schema_of(default[1]) or "any" }
    end
    local s = {}
    for k, v in pairs(default) do
        s[k] = schema_of(v, type(types) == "table" and types[k] or nil)
    end
    return s
end
M.schema_of = schema_of

local function is_array_schema(s) return type(s) == "table" and s[1] ~= nil end

local function describe(schema)
    if schema == "integer" then return "an integer" end
    if schema == "number" then return "a number" end
    if schema == "string" then return "a string" end
    if schema == "boolean" then return "a boolean" end
    if is_array_schema(schema) then return "an array" end
    return "an object"
end

-- The keys of t, sorted (for stable messages and reports).
local function sorted_keys(t)
    local ks = {}
    for k in pairs(t) do ks[#ks + 1] = k end
    table.sort(ks)
    return ks
end
M.sorted_keys = sorted_keys

-- Integers are exact in a double up to 2^53; beyond that 1e308 "is" an integer.
local MAX_INT = 2 ^ 53

-- Checks value against schema; `where` is the source prefix, `path` the
-- dotted field name. Returns the value (arrays stay json arrays).
local function check(value, schema, where, path)
    local got = json_type(value)
    if schema == "any" then return value end
    if type(schema) == "string" then
        local want = schema == "integer" and "number" or schema
        if got ~= want then
            cfg_error(("%s: %s must be %s, got %s"):format(where, path, describe(want), got))
        end
        if want == "number" and (value ~= value or value == math.huge or value == -math.huge) then
            cfg_error(("%s: %s must be a finite number"):format(where, path))
        end
        if schema == "integer" and value ~= math.floor(value) then
            cfg_error(("%s: %s must be an integer, got %s"):format(where, path, tostring(value)))
        end
        if schema == "integer" and (value > MAX_INT or value < -MAX_INT) then
            cfg_error(("%s: %s must be an integer between -2^53 and 2^53, got %s"):format(
                where, path, tostring(value)))
        end
        return value
    end
    if is_array_schema(schema) then
        if got ~= "array" and not (type(value) == "table" and #value == 0 and next(value) == nil) then
            cfg_error(("%s: %s must be an array, got %s"):format(where, path, got))
        end
        for k = 1, #value do check(value[k], schema[1], where, path .. "[" .. k .. "]") end
        return value
    end
    if got ~= "object" then
        cfg_error(("%s: %s must be an object, got %s"):format(where, path, got))
    end
    for _, k in ipairs(sorted_keys(value)) do
        local sub = schema[k]
        if sub == nil then
            cfg_error(("%s: unknown key %s.%s (known: %s)"):format(where, path, tostring(k),
                      table.concat(sorted_keys(schema), ", ")))
        end
        check(value[k], sub, where, path .. "." .. k)
    end
    return value
end
M.check = check

-- The full schema of a strategy: declared parameters plus COMMON.
function M.strategy_schema(defaults, types)
    local s = {}
    for k, v in pairs(M.COMMON) do s[k] = v end
    for k, v in pairs(defaults) do
        s[k] = schema_of(v, type(types) == "table" and types[k] or nil)
    end
    return s
end

function M.deep_copy(v)
    if type(v) ~= "table" or v == json.null then return v end
    local c = {}
    for k, x in pairs(v) do c[k] = M.deep_copy(x) end
    if json.is_array(v) then json.array(c) end
    return c
end

-- Overlays src onto dst (objects merge key by key; arrays and scalars replace).
local function overlay(dst, src)
    for k, v in pairs(src) do
        if type(v) == "table" and not json.is_array(v) and type(dst[k]) == "table"
            and not json.is_array(dst[k]) then
            overlay(dst[k], v)
        else
            dst[k] = M.deep_copy(v)
        end
    end
end
M.overlay = overlay

-- ---- reading a config file safely -------------------------------------------------

-- The largest config file read (bytes); larger ones are refused unread.
M.MAX_BYTES = 1048576

-- What stat() says is at a path, without opening it (a FIFO would block an
-- open): kind, size. Kinds as util/config.h MTS_PATH_*: 0 nothing, 1 regular
-- file, 2 directory, 3 FIFO, 4 device, 5 socket, 6 other. Through the C core
-- (mts_path_kind); outside the host without the C library it falls back to
-- "a regular file of unknown size" (the read below is still bounded).
local KIND_NAME = { [2] = "a directory", [3] = "a FIFO", [4] = "a device", [5] = "a socket", [6] = "not a file" }
local path_kind
local function stat(path)
    if not path_kind then
        local ok, mts = pcall(require, "mts")
        if ok and type(mts) == "table" and mts.C then
            local ffi = require "ffi"
            local size = ffi.new("int64_t[1]")
            local C = mts.C
            path_kind = function(p)
                size[0] = 0
                local k = C.mts_path_kind(p, size)
                return tonumber(k), tonumber(size[0])
            end
        else
            path_kind = function(p)
                local f = io.open(p, "rb")
                if not f then return 0, 0 end
                f:close()
                return 1, 0
            end
        end
    end
    return path_kind(path)
end
M.stat = stat
M.KIND_NAME = KIND_NAME

-- The text of a config file, or nil when there is none; raises a config error
-- naming `display` for anything that is not a regular file of at most
-- M.MAX_BYTES. A leading UTF-8 byte order mark is dropped.
function M.read_file(path, display)
    local kind, size = stat(path)
    if kind == 0 then return nil end
    if kind ~= 1 then
        cfg_error(("%s: not a regular file (%s); a strategy config is a JSON file"):format(
            display, KIND_NAME[kind] or "unknown"))
    end
    if size > M.MAX_BYTES then
        cfg_error(("%s: too large (%d bytes; the limit is %d)"):format(display, size, M.MAX_BYTES))
    end
    local f, oerr = io.open(path, "rb")
    if not f then cfg_error(("%s: cannot read: %s"):format(display, tostring(oerr))) end
    local text, rerr = f:read(M.MAX_BYTES + 1)     -- bounded even if the size lied
    f:close()
    if text == nil and rerr then cfg_error(("%s: cannot read: %s"):format(display, tostring(rerr))) end
    text = text or ""
    if #text > M.MAX_BYTES then
        cfg_error(("%s: too large (more than %d bytes)"):format(display, M.MAX_BYTES))
    end
    if text:sub(1, 3) == "\239\187\191" then text = text:sub(4) end
    return text
end

-- Reads and checks a config file. Returns the table ({} when the file does not
-- exist); raises a config error naming `display` for bad JSON or bad values,
-- and for a path that is not a regular file or is larger than M.MAX_BYTES.
function M.load_file(path, display, schema)
    local text = M.read_file(path, display)
    if text == nil then return {}, false end
    local v, err = json.decode(text)
    if v == nil then cfg_error(display .. ": invalid JSON: " .. err) end
    if json_type(v) ~= "object" then
        cfg_error(display .. ": the top level must be an object, got " .. json_type(v))
    end
    for _, k in ipairs(sorted_keys(v)) do
        if schema[k] == nil then
            cfg_error(("%s: unknown key '%s' (known: %s)"):format(display, k,
                      table.concat(sorted_keys(schema), ", ")))
        end
        check(v[k], schema[k], display, k)
    end
    return v, true
end

-- The site configuration, config/mts.json under root, decoded (cached per
-- root), or {} when there is none. Only its "risk" section is checked here
-- (site_risk); the C side reads the rest. Raises a config error for a file
-- that is not a regular file, too large, or not a JSON object.
local site_cache = {}
function M.site(root)
    local got = site_cache[root]
    if got then return got end
    local display = "config/mts.json"
    local text = M.read_file(root .. "/" .. display, display)
    local v = {}
    if text ~= nil then
        local err
        v, err = json.decode(text)
        if v == nil then cfg_error(display .. ": invalid JSON: " .. err) end
        if json_type(v) ~= "object" then
            cfg_error(display .. ": the top level must be an object, got " .. json_type(v))
        end
    end
    site_cache[root] = v
    return v
end

-- Forgets root's config/mts.json: the next M.site reads the file again (a live
-- session's reload of the file).
function M.site_forget(root) site_cache[root] = nil end

-- config/mts.json "risk": {max_position = F, max_portfolio_risk = F}, or nil.
-- Unknown keys and values that are not numbers are config errors.
function M.site_risk(root)
    local r = M.site(root).risk
    if r == nil or r == json.null then return nil end
    if json_type(r) ~= "object" then cfg_error("config/mts.json: risk must be an object, got " .. json_type(r)) end
    for _, k in ipairs(sorted_keys(r)) do
        if k ~= "max_position" and k ~= "max_portfolio_risk" then
            cfg_error(("config/mts.json: unknown key risk.%s (known: max_position, max_portfolio_risk)"):format(k))
        end
        if type(r[k]) ~= "number" then
            cfg_error(("config/mts.json: risk.%s must be a number, got %s"):format(k, json_type(r[k])))
        end
    end
    return r
end

-- ---- --param ------------------------------------------------------------------

local BOOL = { ["true"] = true, ["1"] = true, yes = true, on = true,
               ["false"] = false, ["0"] = false, no = false, off = false }

-- Parses the text of a --param value for a field of the given schema.
function M.parse_value(text, schema, where, path)
    if schema == "number" or schema == "integer" then
        local v = tonumber(text)
        if v == nil or v ~= v or v == math.huge or v == -math.huge then
            cfg_error(("%s: %s must be a number, got '%s'"):format(where, path, text))
        end
        return check(v, schema, where, path)
    elseif schema == "boolean" then
        local v = BOOL[text:lower()]
        if v == nil then
            cfg_error(("%s: %s must be a boolean (true/false), got '%s'"):format(where, path, text))
        end
        return v
    elseif schema == "string" or schema == "any" then
        return text
    end
    -- arrays and objects: JSON; arrays of strings also as a comma list
    local v, err
    if is_array_schema(schema) and schema[1] == "string" and not text:match("^%s*%[") then
        v = json.array()
        for item in text:gmatch("[^,]+") do v[#v + 1] = item:match("^%s*(.-)%s*$") end
    else
        v, err = json.decode(text)
        if v == nil then cfg_error(("%s: %s: invalid JSON: %s"):format(where, path, err)) end
    end
    return check(v, schema, where, path)
end

local function split_path(key)
    local parts = {}
    for p in key:gmatch("[^%.]+") do parts[#parts + 1] = p end
    return parts
end

-- Schema at a dotted path, or nil.
local function schema_at(schema, parts, from)
    local s = schema
    for k = from, #parts do
        if type(s) ~= "table" or is_array_schema(s) then return nil end
        s = s[parts[k]]
        if s == nil then return nil end
    end
    return s
end

local function set_at(t, parts, from, value)
    for k = from, #parts - 1 do
        local p = parts[k]
        if type(t[p]) ~= "table" then t[p] = {} end
        t = t[p]
    end
    t[parts[#parts]] = value
end

-- Applies the --param overrides. strategies: array of {name=, schema=,
-- params=} (params modified in place). overrides: array of {key=, value=}.
-- A key may be prefixed with a strategy name ("sma_cross.fast") to target
-- one strategy; a plain key applies to every strategy that declares it.
-- Dotted keys reach into objects ("risk_management.stop_loss_pct").
function M.apply_overrides(strategies, overrides)
    local by_name = {}
    for _, s in ipairs(strategies) do by_name[s.name] = s end
    for _, o in ipairs(overrides) do
        local key, text = o.key, o.value
        local where = "--param " .. tostring(key) .. "=" .. tostring(text)
        if type(key) ~= "string" or key == "" or type(text) ~= "string" then
            cfg_error(where .. ": expected KEY=VALUE")
        end
        local parts = split_path(key)
        local targets = {}
        local prefixed = by_name[parts[1]]
        if prefixed and #parts > 1 and schema_at(prefixed.schema, parts, 1) == nil then
            local sch = schema_at(prefixed.schema, parts, 2)
            if sch == nil then
                cfg_error(("%s: strategy %s declares no parameter '%s' (declared: %s)"):format(
                    where, prefixed.name, table.concat(parts, ".", 2),
                    table.concat(sorted_keys(prefixed.declared), ", ")))
            end
            targets[1] = { s = prefixed, schema = sch, from = 2 }
        else
            for _, s in ipairs(strategies) do
                local sch = schema_at(s.schema, parts, 1)
                if sch ~= nil then targets[#targets + 1] = { s = s, schema = sch, from = 1 } end
            end
        end
        if #targets == 0 then
            local decl = {}
            for _, s in ipairs(strategies) do
                decl[#decl + 1] = s.name .. ": " .. table.concat(sorted_keys(s.declared), ", ")
            end
            cfg_error(("%s: no selected strategy declares '%s' (%s)"):format(
                where, key, #decl > 0 and table.concat(decl, "; ") or "no strategies selected"))
        end
        for _, t in ipairs(targets) do
            local path = t.s.name .. "." .. table.concat(parts, ".", t.from)
            local v = M.parse_value(text, t.schema, where, path)
            set_at(t.s.params, parts, t.from, v)
        end
    end
end

return M
