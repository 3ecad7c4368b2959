-- :checkhealth tailor: is the `tailor` binary there, does the daemon answer, and with which
-- models. Works with Neovim 0.7's `health` module and 0.10's `vim.health`.
local M = {}

local h = vim.health or require("health")
local start = h.start or h.report_start
local ok = h.ok or h.report_ok
local warn = h.warn or h.report_warn
local err = h.error or h.report_error

function M.check()
  local config = require("tailor").config
  start("tailor")
  local exe = config.cmd[1]
  if vim.fn.executable(exe) ~= 1 then
    err("`" .. exe .. "` is not an executable on PATH",
      { "run Scripts/install.sh (it installs tailor to ~/.local/bin)",
        "or set require('tailor').setup({ cmd = { '/path/to/tailor', 'bridge' } })" })
    return
  end
  local version = vim.fn.system({ exe, "--version" }):gsub("%s+$", "")
  ok("`" .. exe .. "` " .. version)
  -- The bridge's own arguments (a --socket) reach the daemon the bridge would reach.
  local status = { exe, "status", "--json" }
  for i = 3, #config.cmd do
    if config.cmd[i] == "--socket" and config.cmd[i + 1] then
      vim.list_extend(status, { "--socket", config.cmd[i + 1] })
    end
  end
  local out = vim.fn.system(status)
  if vim.v.shell_error ~= 0 then
    err("the daemon does not answer: " .. out:gsub("^Error: ", ""):gsub("%s+$", ""),
      { "systemctl --user start tailord.socket", "or: tailor daemon run &" })
    return
  end
  local decoded, s = pcall(vim.fn.json_decode, out)
  if not decoded or type(s) ~= "table" then
    warn("unexpected `tailor status --json` output: " .. out)
    return
  end
  ok("tailord " .. tostring(s.version) .. " answers on " .. tostring(s.socket))
  if type(s.models) ~= "table" or #s.models == 0 then
    warn("no model is loaded", { "add `model = NAME` to ~/.config/tailor/tailord.conf (`tailor models available`)" })
  else
    ok("models: " .. table.concat(s.models, ", "))
  end
end

return M
