-- Headless end-to-end check of the plugin against a live tailord (driven by the Swift test
-- NeovimPluginTests): type, wait for the debounced completion's ghost text, accept it with the
-- key, leave insert mode, and wait until the feedback reached the daemon; then accept and edit
-- one (edited), and dismiss one (rejected). Keys go through the
-- typeahead as if typed, so Neovim's main loop runs insert mode and its autocommands; a timer
-- walks the steps. Writes "OK <buffer>" or "FAIL <why>" to $TAILOR_RESULT, then quits.
local out = os.getenv("TAILOR_RESULT")
local t = require("tailor")
local function finish(text)
  local f = io.open(out, "w")
  f:write(text)
  f:close()
  vim.cmd("qall!")
end
local function keys(k) vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(k, true, false, true), "t", false) end
local function all(event, prefix)
  local found = {}
  for _, e in ipairs(t.events) do
    if e.event == event and (prefix == nil or tostring(e.id):sub(1, #prefix) == prefix) then table.insert(found, e) end
  end
  return found
end
local function seen(event, prefix) return all(event, prefix)[1] end
local function buffer() return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n") end

t.setup({ cmd = { os.getenv("TAILOR_BIN"), "bridge", "--socket", os.getenv("TAILOR_SOCKET"), "--user", "nvim user" },
          debounce_ms = 50, max_tokens = 4 })
vim.bo.filetype = "lua"
t.start()

local shown
local steps = {
  { "the bridge says ready", function() return seen("ready") ~= nil end, function() keys("ithe theme") end },
  -- Typing in insert mode: TextChangedI debounced a request, and its ghost text appeared.
  { "a completion is shown", function() return t.shown() ~= nil and vim.fn.mode() == "i" end, function()
      shown = t.shown().text
      keys("<C-l>")
    end },
  -- Accepted with the key: the text is in the buffer.
  {
    "the completion is inserted",
    function() return buffer() == "the theme" .. shown end,
    function() keys("<Esc>") end,
  },
  -- Leaving insert mode settled the verdict (accepted), recorded as history by the daemon.
  { "the accepted feedback is acknowledged", function() return #all("ok", "f") == 1 end, function()
      local ack = all("ok", "f")[1]
      if ack.history ~= 1 then
        return finish("FAIL accepted feedback should add a history item: " .. vim.inspect(ack))
      end
      keys("A he")
    end },
  -- Accept the next one, then change it before leaving: edited, a pair (kept over shown).
  { "a second completion is shown", function() return t.shown() ~= nil end, function() keys("<C-l>") end },
  {
    "it is inserted",
    function() return t.shown() == nil and buffer():sub(-2) ~= " he" end,
    function() keys("zz<Esc>") end,
  },
  { "the edited feedback is acknowledged", function() return #all("ok", "f") == 2 end, function()
      local ack = all("ok", "f")[2]
      if ack.pairs ~= 1 then return finish("FAIL edited feedback should add a pair: " .. vim.inspect(ack)) end
      keys("othe")
    end },
  -- Dismiss the third: rejected, an event only.
  { "a third completion is shown", function() return t.shown() ~= nil end, function() keys("<C-]>") end },
  { "the rejected feedback is acknowledged", function() return #all("ok", "f") == 3 end, function()
      local ack = all("ok", "f")[3]
      if ack.history ~= 0 or ack.pairs ~= 0 or ack.feedback ~= 1 then
        return finish("FAIL rejected feedback is an event only: " .. vim.inspect(ack))
      end
      finish("OK " .. buffer())
    end },
}
local step, deadline = 1, vim.loop.now() + 30000
local timer = vim.loop.new_timer()
timer:start(50, 50, vim.schedule_wrap(function()
  local s = steps[step]
  if not s then return end
  local ok, ready = pcall(s[2])
  if ok and ready then
    step = step + 1
    local done, err = pcall(s[3])
    if not done then finish("FAIL " .. tostring(err)) end
  elseif vim.loop.now() > deadline then
    finish("FAIL timed out waiting until " .. s[1] .. "; buffer " .. vim.inspect(buffer()) .. ", mode " .. vim.fn.mode()
           .. ", events " .. vim.inspect(t.events))
  end
end))
