-- Headless check (driven by NeovimPluginTests) that problems reach the user once, with what to
-- do: a `tailor` that is not on PATH, a daemon that is down; and that :checkhealth tailor says
-- what works. Writes "OK" or "FAIL <why>" to $TAILOR_RESULT, then quits.
local out = os.getenv("TAILOR_RESULT")
local bin, socket = os.getenv("TAILOR_BIN"), os.getenv("TAILOR_SOCKET")
local t = require("tailor")
local notes = {}
vim.notify = function(message) table.insert(notes, message) end

local function finish(text)
  local f = io.open(out, "w")
  f:write(text)
  f:close()
  vim.cmd("qall!")
end
local function check(cond, why)
  if not cond then finish("FAIL " .. why .. "; notes: " .. vim.inspect(notes)) end
  return cond
end
local function health()
  vim.cmd("checkhealth tailor")
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  vim.cmd("bwipeout!")
  return text
end

-- 1. No binary: one notification naming the fix, however often the user types; no Lua error.
t.setup({ cmd = { "/nonexistent/tailor", "bridge" }, retry_ms = 0 })
t.request()
t.request()
vim.wait(200, function() return #notes > 0 end)
if not check(#notes == 1 and notes[1]:find("is not an executable on PATH", 1, true)
  and notes[1]:find("Scripts/install.sh", 1, true), "a missing binary is reported once") then return end
if not check(health():find("is not an executable on PATH", 1, true), "checkhealth names the missing binary") then
  return
end

-- 2. The daemon down: the bridge's error is shown once, with how to start the daemon.
notes = {}
t.setup({ cmd = { bin, "bridge", "--socket", socket .. ".down" }, retry_ms = 0 })
t.start()
vim.wait(5000, function() return #notes > 0 end)
t.start()
vim.wait(3000, function() return t.notified.exit ~= nil end)
vim.wait(300)
local down = notes[1] or ""
if not check(down:find("cannot reach tailord", 1, true) and down:find("systemctl --user start tailord.socket", 1, true),
  "the down daemon is reported with what to do") then return end
if not check(#vim.tbl_filter(function(n) return n:find("cannot reach", 1, true) end, notes) == 1,
  "the down daemon is reported once") then return end
if not check(health():find("the daemon does not answer", 1, true), "checkhealth says the daemon does not answer") then
  return
end

-- 3. Everything up: checkhealth says so, with the models.
t.setup({ cmd = { bin, "bridge", "--socket", socket } })
local up = health()
if not check(up:find("answers on " .. socket, 1, true) and up:find("models: llama", 1, true),
  "checkhealth reports the daemon and its models: " .. up) then return end
finish("OK")
