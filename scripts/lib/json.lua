-- json.lua — a small JSON reader and writer for configs and reports.
--
-- Why not lua-cjson: config errors must say where ("line 3, column 12:
-- expected ',' or '}'"), and reports must be byte-for-byte reproducible
-- (object keys sorted). Config files are tiny, so speed does not matter here.
--
-- decode(text) -> value | nil, message. Objects become tables, arrays become
-- Lua arrays (1-based) marked with json.is_array(t) == true, null becomes
-- json.null (a unique sentinel), numbers become Lua numbers.
-- encode(value) -> text; raises on values JSON cannot hold (functions, NaN
-- and infinities are written as null). A table is an array if it was decoded
-- as one, or if it is non-empty with keys 1..n only.
local J = {}

J.null = setmetatable({}, { __tostring = function() return "null" end, __metatable = "json.null" })

local array_mt = { __metatable = "json.array" }
function J.is_array(t)
    return type(t) == "table" and getmetatable(t) == "json.array"
end
function J.array(t) return setmetatable(t or {}, array_mt) end

-- ---- decode -------------------------------------------------------------------

local function position(s, i)
    local line, col = 1, 1
    for k = 1, i - 1 do
        if s:byte(k) == 10 then line, col = line + 1, 1 else col = col + 1 end
    end
    return line, col
end

local function fail(s, i, msg)
    local line, col = position(s, i)
    error({ json_error = ("line %d, column %d: %s"):format(line, col, msg) }, 0)
end

local function skip(s, i)
    local _, e = s:find("^[ \t\r\n]*", i)
    return e + 1
end

local decode_value

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function utf8_char(c)
    if c < 0x80 then return string.char(c) end
    if c < 0x800 then return string.char(0xC0 + math.floor(c / 64), 0x80 + c % 64) end
    if c < 0x10000 then
        return string.char(0xE0 + math.floor(c / 4096), 0x80 + math.floor(c / 64) % 64, 0x80 + c % 64)
    end
    return string.char(0xF0 + math.floor(c / 262144), 0x80 + math.floor(c / 4096) % 64,
                       0x80 + math.floor(c / 64) % 64, 0x80 + c % 64)
end

local function decode_string(s, i)
    -- s:sub(i, i) == '"'
    local out, j = {}, i + 1
    while true do
        local c = s:sub(j, j)
        if c == "" then fail(s, i, "unterminated string") end
        if c == '"' then return table.concat(out), j + 1 end
        if c == "\\" then
            local e = s:sub(j + 1, j + 1)
            if escapes[e] then
                out[#out + 1] = escapes[e]
                j = j + 2
            elseif e == "u" then
                local hex = s:sub(j + 2, j + 5)
                if not hex:match("^%x%x%x%x$") then fail(s, j, "bad \\u escape") end
                local code = tonumber(hex, 16)
                j = j + 6
                if code >= 0xD800 and code <= 0xDBFF and s:sub(j, j + 1) == "\\u" then
                    local lo = tonumber(s:sub(j + 2, j + 5), 16)
                    if lo and lo >= 0xDC00 and lo <= 0xDFFF then
                        code = 0x10000 + (code - 0xD800) * 1024 + (lo - 0xDC00)
                        j = j + 6
                    end
                end
                out[#out + 1] = utf8_char(code)
            else
                fail(s, j, "bad escape in string")
            end
        elseif c:byte() < 32 then
            fail(s, j, "control character in string")
        else
            local k = s:find('["\\%c]', j)
            if not k then fail(s, i, "unterminated string") end
            out[#out + 1] = s:sub(j, k - 1)
            j = k
        end
    end
end

local function decode_number(s, i)
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    local strict = num and (num:match("^-?0$") or num:match("^-?[1-9]%d*$") or
        num:match("^-?0%.%d+$") or num:match("^-?[1-9]%d*%.%d+$") or
        num:match("^-?%d+%.?%d*[eE][-+]?%d+$"))
    if not strict or num:match("^-?0%d") then fail(s, i, "invalid number") end
    return tonumber(num), i + #num
end

function decode_value(s, i, depth)
    if depth > 100 then fail(s, i, "nesting too deep") end
    i = skip(s, i)
    local c = s:sub(i, i)
    if c == "{" then
        local obj = {}
        i = skip(s, i + 1)
        if s:sub(i, i) == "}" then return obj, i + 1 end
        while true do
            if s:sub(i, i) ~= '"' then fail(s, i, "expected a string key") end
            local k
            k, i = decode_string(s, i)
            i = skip(s, i)
            if s:sub(i, i) ~= ":" then fail(s, i, "expected ':'") end
            if obj[k] ~= nil then fail(s, i, "duplicate key '" .. k .. "'") end
            obj[k], i = decode_value(s, i + 1, depth + 1)
            i = skip(s, i)
            local d = s:sub(i, i)
            if d == "}" then return obj, i + 1 end
            if d ~= "," then fail(s, i, "expected ',' or '}'") end
            i = skip(s, i + 1)
        end
    elseif c == "[" then
        local arr = J.array()
        i = skip(s, i + 1)
        if s:sub(i, i) == "]" then return arr, i + 1 end
        while true do
            arr[#arr + 1], i = decode_value(s, i, depth + 1)
            i = skip(s, i)
            local d = s:sub(i, i)
            if d == "]" then return arr, i + 1 end
            if d ~= "," then fail(s, i, "expected ',' or ']'") end
            i = i + 1
        end
    elseif c == '"' then
        return decode_string(s, i)
    elseif c == "-" or c:match("%d") then
        return decode_number(s, i)
    elseif s:sub(i, i + 3) == "true" then
        return true, i + 4
    elseif s:sub(i, i + 4) == "false" then
        return false, i + 5
    elseif s:sub(i, i + 3) == "null" then
        return J.null, i + 4
    elseif c == "" then
        fail(s, i, "unexpected end of input")
    end
    fail(s, i, "unexpected character '" .. c .. "'")
end

function J.decode(s)
    if type(s) ~= "string" then error("json.decode: expected a string, got " .. type(s), 2) end
    local ok, v, i = pcall(decode_value, s, 1, 0)
    if not ok then
        if type(v) == "table" and v.json_error then return nil, v.json_error end
        error(v, 0)
    end
    i = skip(s, i)
    if i <= #s then
        local ok2, msg = pcall(fail, s, i, "trailing characters after the value")
        if not ok2 then return nil, msg.json_error end
    end
    return v
end

-- ---- encode ---------------------------------------------------------------------

-- Shortest of %.15g/%.16g/%.17g that reads back as the same double.
function J.number(v)
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return ("%d"):format(v) end
    for p = 15, 17 do
        local s = ("%." .. p .. "g"):format(v)
        if tonumber(s) == v then return s end
    end
    return ("%.17g"):format(v)
end

local function quote(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
        if c == '"' then return '\\"' end
        if c == "\\" then return "\\\\" end
        if c == "\n" then return "\\n" end
        if c == "\t" then return "\\t" end
        if c == "\r" then return "\\r" end
        return ("\\u%04x"):format(c:byte())
    end) .. '"'
end

local function is_list(t)
    if J.is_array(t) then return true end
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    if n == 0 then return false end
    for k = 1, n do if t[k] == nil then return false end end
    return true
end

local function encode(v, out, depth)
    if depth > 100 then error("json.encode: nesting too deep", 0) end
    local t = type(v)
    if v == J.null or v == nil then out[#out + 1] = "null"
    elseif t == "boolean" then out[#out + 1] = tostring(v)
    elseif t == "number" then out[#out + 1] = J.number(v)
    elseif t == "string" then out[#out + 1] = quote(v)
    elseif t == "table" then
        if is_list(v) then
            out[#out + 1] = "["
            for k = 1, #v do
                if k > 1 then out[#out + 1] = "," end
                encode(v[k], out, depth + 1)
            end
            out[#out + 1] = "]"
        else
            local keys = {}
            for k in pairs(v) do
                if type(k) ~= "string" then error("json.encode: object key is a " .. type(k), 0) end
                keys[#keys + 1] = k
            end
            table.sort(keys)
            out[#out + 1] = "{"
            for n, k in ipairs(keys) do
                if n > 1 then out[#out + 1] = "," end
                out[#out + 1] = quote(k)
                out[#out + 1] = ":"
                encode(v[k], out, depth + 1)
            end
            out[#out + 1] = "}"
        end
    else
        error("json.encode: cannot encode a " .. t, 0)
    end
end

function J.encode(v)
    local out = {}
    encode(v, out, 0)
    return table.concat(out)
end

return J
