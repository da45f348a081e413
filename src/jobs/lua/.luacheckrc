-- luacheck's configuration for the Redis broker's scripts. Run it in this directory
-- (CTest's lua.lint does): cd src/jobs/lua && luacheck .
--
-- Redis runs each script as one chunk, prelude.lua followed by the script, in its
-- Lua 5.1 with these libraries as globals.
std = "lua51"
read_globals = {"redis", "cjson", "cmsgpack", "bit", "struct", "KEYS", "ARGV"}

-- The prelude's top-level locals that scripts use are, to each script on its own,
-- read-only globals, and in the prelude they are not "unused". They are read from
-- prelude.lua, so this list cannot drift from it: a prelude local no script names is
-- still reported unused. (A name counts as used when it appears in a script outside
-- a comment, so one that only appears in a string literal is missed.)
local function slurp(path)
  local f = io.open(path)
  if not f then error("cannot open " .. path .. ": run luacheck in src/jobs/lua", 0) end
  local text = f:read("*a")
  f:close()
  return text
end

local scripts = {}
for file in require("lfs").dir(".") do
  if file:match("%.lua$") and file ~= "prelude.lua" then
    scripts[#scripts + 1] = slurp(file):gsub("%-%-[^\n]*", "")
  end
end
scripts = table.concat(scripts, "\n")

local prelude = "\n" .. slurp("prelude.lua")
local used_by_scripts = {}
for _, top_level in ipairs({"\nlocal function ([%w_]+)", "\nlocal ([%w_]+) ="}) do
  for name in prelude:gmatch(top_level) do
    if scripts:find("%f[%w_]" .. name .. "%f[^%w_]") then
      read_globals[#read_globals + 1] = name
      used_by_scripts[#used_by_scripts + 1] = "211/" .. name
    end
  end
end
files["prelude.lua"] = {ignore = used_by_scripts}
