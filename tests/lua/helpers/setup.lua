-- setup.lua — shared by the specs: puts scripts/lib and tests/lua/helpers on
-- package.path (from the repository root, found from this file's path or the
-- current directory), and offers small helpers.
--   local H = require "setup"   -- after the path line every spec starts with
local H = {}

local src = debug.getinfo(1, "S").source
local root = src:match("^@(.-)/?tests/lua/helpers/setup%.lua$")
if root == nil or root == "" then root = "." end
H.root = root

local function add(p)
    if not package.path:find(p, 1, true) then package.path = p .. ";" .. package.path end
end
add(root .. "/scripts/lib/?.lua")
add(root .. "/tests/lua/helpers/?.lua")

-- Writes `text` to a fresh file under a temporary directory tree and returns
-- the tree's root; files = {["scripts/strategies/x.lua"] = "...", ...}.
function H.tree(files)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "/scripts/strategies' '" .. dir .. "/config/strategies'"))
    for rel, text in pairs(files) do
        local f = assert(io.open(dir .. "/" .. rel, "wb"))
        f:write(text)
        f:close()
    end
    return dir
end

function H.rmtree(dir)
    if dir and dir:match("^/tmp/") then os.execute("rm -rf '" .. dir .. "'") end
end

-- Copies a file of the repository into a tree made by H.tree.
function H.copy_into(dir, rel)
    local f = assert(io.open(root .. "/" .. rel, "rb"))
    local text = f:read("*a")
    f:close()
    local out = assert(io.open(dir .. "/" .. rel, "wb"))
    out:write(text)
    out:close()
end

function H.near(a, b, tol)
    return math.abs(a - b) <= (tol or 1e-12)
end

return H
