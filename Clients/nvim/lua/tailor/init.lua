-- Tailor for Neovim: personalized ghost-text completions from tailord, through `tailor bridge`
-- (JSON lines, docs/bridge.md). Typing debounces a request and cancels the previous one;
-- accepting inserts the completion; what the user then keeps (accepted as is, edited, or
-- dismissed) goes back to tailord's Preferences service as training data. :TailorTrain starts
-- a CoPe job for the current filetype's task and shows its progress.
local M = {}

local uv = vim.uv or vim.loop
local ns = vim.api.nvim_create_namespace("tailor")

M.config = {
  cmd = { "tailor", "bridge" }, -- the bridge command (add "--socket", path to reach a non-default daemon)
  debounce_ms = 150,            -- quiet time after a keystroke before asking
  max_tokens = 32,
  prefix_lines = 64,            -- lines above the cursor sent as the prompt
  auto = true,                  -- ask while typing in insert mode
  mode = nil,                   -- decoding mode; nil: the bridge's default (cope)
  keymap_accept = "<C-l>",
  keymap_dismiss = "<C-]>",
  retry_ms = 10000,             -- after the bridge fails, wait this long before starting another
}

-- State: one bridge job, one request in flight, one completion shown, one accepted awaiting
-- its verdict.
local job, partial = nil, ""
local next_id = 0
local pending = nil    -- { id, bufnr, tick, row, col, prompt, task, text }
local shown = nil      -- { bufnr, row, col, text, prompt, task, mode }
local accepted = nil   -- { bufnr, row, col, text, prompt, task, mode, end_row, end_col }
local timer = nil
local handlers = {}    -- id -> function(message)
M.events = {}          -- the last answers, for :TailorStatus and tests
M.notified = {}        -- problem key -> message: each problem is shown once per session
local retry_at = 0     -- after the bridge failed, no new start before this time (ms)

--- Shows a problem with vim.notify, once per session per `key` (a keystroke must not raise
--- the same error again and again).
local function notify_once(key, message, level)
  if M.notified[key] then return end
  M.notified[key] = message
  vim.schedule(function() vim.notify("tailor: " .. message, level or vim.log.levels.ERROR) end)
end

-- What a bridge error means for the person at the keyboard, by the daemon's status code.
local hints = {
  UNAVAILABLE = "start it with `systemctl --user start tailord.socket` or `tailor daemon run`",
  PERMISSION_DENIED = "the daemon refused this user; check its mode and the socket's owner",
}

local function report(msg)
  local code = msg.code or "ERROR"
  -- Per-request failures the editor can live with (a cancelled or invalid request) stay quiet.
  if msg.id ~= nil and hints[code] == nil then return end
  notify_once(code, (msg.message or code) .. (hints[code] and ("; " .. hints[code]) or ""))
end

local function task_of(bufnr)
  local ft = vim.bo[bufnr].filetype
  if ft == nil or ft == "" then ft = "text" end
  return "code." .. ft:gsub("[^%w%._-]", "_")
end

local function send(msg)
  if not job then return false end
  vim.fn.chansend(job, vim.fn.json_encode(msg) .. "\n")
  return true
end

local function on_line(line)
  if line == "" then return end
  local ok, msg = pcall(vim.fn.json_decode, line)
  if not ok or type(msg) ~= "table" then return end
  table.insert(M.events, msg)
  if #M.events > 200 then table.remove(M.events, 1) end
  if msg.event == "error" then report(msg) end
  local h = msg.id ~= nil and handlers[tostring(msg.id)]
  if h then h(msg) end
end

local function now_ms() return uv.now() end

--- Starts the bridge (once). A missing `tailor` binary or a bridge that exits with an error
--- is reported once, and no new bridge starts for `M.config.retry_ms` afterwards.
function M.start()
  if job then return true end
  if now_ms() < retry_at then return false end
  local exe = M.config.cmd[1]
  if vim.fn.executable(exe) ~= 1 then
    notify_once("executable", "`" .. exe .. "` is not an executable on PATH; run Scripts/install.sh, or set "
      .. "require('tailor').setup({ cmd = { '/path/to/tailor', 'bridge' } })")
    retry_at = now_ms() + M.config.retry_ms
    return false
  end
  local ok, id = pcall(vim.fn.jobstart, M.config.cmd, {
    on_stdout = function(_, data)
      -- Lines arrive in pieces: the last element continues on the next call.
      data[1] = partial .. data[1]
      partial = table.remove(data)
      for _, l in ipairs(data) do on_line(l) end
    end,
    on_exit = function(_, code)
      job = nil
      if code ~= 0 then
        retry_at = now_ms() + M.config.retry_ms
        notify_once("exit", "`" .. table.concat(M.config.cmd, " ") .. "` exited with status " .. code)
      end
    end,
  })
  if not ok or id <= 0 then
    notify_once("start", "cannot start " .. table.concat(M.config.cmd, " ") .. (ok and "" or (": " .. tostring(id))))
    retry_at = now_ms() + M.config.retry_ms
    return false
  end
  job = id
  return true
end

--- Removes the ghost text.
function M.clear()
  if shown then pcall(vim.api.nvim_buf_clear_namespace, shown.bufnr, ns, 0, -1) end
  shown = nil
end

local function show(p)
  M.clear()
  local lines = vim.split(p.text, "\n", { plain = true })
  if p.text == "" then return end
  local opts = { virt_text = { { lines[1], "Comment" } }, virt_text_pos = "overlay", hl_mode = "combine" }
  if #lines > 1 then
    opts.virt_lines = {}
    for i = 2, #lines do table.insert(opts.virt_lines, { { lines[i], "Comment" } }) end
  end
  -- Past the end of the line's text, overlay reads as ghost text after the cursor.
  opts.virt_text_win_col = vim.fn.virtcol({ p.row + 1, p.col })
  vim.api.nvim_buf_set_extmark(p.bufnr, ns, p.row, 0, opts)
  shown = { bufnr = p.bufnr, row = p.row, col = p.col, text = p.text, prompt = p.prompt, task = p.task, mode = p.mode }
end

--- Asks for a completion at the cursor now (what the debounced keystroke does).
function M.request()
  if not M.start() then return end
  local bufnr = vim.api.nvim_get_current_buf()
  local cur = vim.api.nvim_win_get_cursor(0)
  local row, col = cur[1] - 1, cur[2]
  local first = math.max(0, row - M.config.prefix_lines)
  local lines = vim.api.nvim_buf_get_lines(bufnr, first, row + 1, false)
  lines[#lines] = string.sub(lines[#lines] or "", 1, col)
  local prompt = table.concat(lines, "\n")
  if prompt:match("^%s*$") then return end
  if pending then send({ id = "c" .. pending.id, op = "cancel", target = pending.id }) end
  next_id = next_id + 1
  local id = next_id
  local p = { id = id, bufnr = bufnr, tick = vim.api.nvim_buf_get_changedtick(bufnr), row = row, col = col,
              prompt = prompt, task = task_of(bufnr), text = "" }
  pending = p
  handlers[tostring(id)] = function(msg)
    if msg.event == "token" then
      p.text = p.text .. (msg.text or "")
    elseif msg.event == "done" then
      handlers[tostring(id)] = nil
      if pending == p then pending = nil end
      p.mode = msg.mode
      p.text = (msg.text or p.text):gsub("\n+$", "")
      -- Still where it was asked for: show it.
      if vim.api.nvim_buf_is_valid(bufnr) and vim.api.nvim_buf_get_changedtick(bufnr) == p.tick then
        vim.schedule(function() show(p) end)
      end
    elseif msg.event == "cancelled" or msg.event == "error" then
      handlers[tostring(id)] = nil
      if pending == p then pending = nil end
    end
  end
  local msg = { id = id, op = "complete", prompt = prompt, task = p.task, max_tokens = M.config.max_tokens }
  if M.config.mode then msg.mode = M.config.mode end
  send(msg)
end

--- The shown completion, if any (for statuslines and tests).
function M.shown() return shown end

local function feedback(outcome, s, kept)
  send({ id = "f" .. tostring(uv.hrtime()), op = "feedback", task = s.task, prompt = s.prompt, shown = s.text,
         kept = kept or "", outcome = outcome, mode = s.mode })
end

--- Inserts the shown completion; its verdict (accepted or edited) is recorded when the user
--- leaves insert mode.
function M.accept()
  local s = shown
  if not s then return false end
  M.clear()
  local lines = vim.split(s.text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(s.bufnr, s.row, s.col, s.row, s.col, lines)
  local end_row = s.row + #lines - 1
  local end_col = (#lines == 1 and s.col or 0) + #lines[#lines]
  pcall(vim.api.nvim_win_set_cursor, 0, { end_row + 1, end_col })
  local after = vim.api.nvim_buf_get_lines(s.bufnr, s.row, end_row + 1, false)
  accepted = vim.tbl_extend("force", s, { end_row = end_row, after = after })
  return true
end

--- Records the verdict on the last accepted completion: "accepted" if the lines it produced are
--- still as inserted, else "edited" with what the user kept (from the insertion point to the end
--- of the completion's last line).
function M.settle()
  local a = accepted
  if not a then return end
  accepted = nil
  if not vim.api.nvim_buf_is_valid(a.bufnr) then return end
  local now = vim.api.nvim_buf_get_lines(a.bufnr, a.row, a.end_row + 1, false)
  if vim.deep_equal(now, a.after) then
    feedback("accepted", a)
  else
    if #now > 0 then now[1] = string.sub(now[1], a.col + 1) end
    feedback("edited", a, table.concat(now, "\n"))
  end
end

--- Dismisses the shown completion and records it as rejected.
function M.dismiss()
  local s = shown
  if not s then return end
  M.clear()
  feedback("rejected", s)
end

local function debounce()
  if not M.config.auto then return end
  M.clear()
  if timer then timer:stop() end
  timer = timer or uv.new_timer()
  timer:start(M.config.debounce_ms, 0, vim.schedule_wrap(function()
    if vim.fn.mode():sub(1, 1) == "i" then M.request() end
  end))
end

--- Starts a CoPe training job for the current buffer's task and reports its progress.
function M.train(kind)
  if not M.start() then return end
  next_id = next_id + 1
  local id = "t" .. next_id
  local task = task_of(vim.api.nvim_get_current_buf())
  handlers[id] = function(msg)
    vim.schedule(function()
      if msg.event == "progress" then
        local line = string.format("tailor: %s %s %d/%d loss %.3f", task, msg.stage or msg.state,
          msg.step or 0, msg.total_steps or 0, msg.loss or 0)
        vim.api.nvim_echo({ { line } }, false, {})
      elseif msg.event == "done" then
        handlers[id] = nil
        local reason = msg.error ~= "" and (": " .. msg.error) or ""
        vim.notify("tailor: training " .. task .. " " .. tostring(msg.state) .. reason)
      elseif msg.event == "error" then
        handlers[id] = nil
        vim.notify("tailor: " .. tostring(msg.message), vim.log.levels.ERROR)
      end
    end)
  end
  send({ id = id, op = "train", kind = kind or "cope", task = task })
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", M.config, opts or {})
  local group = vim.api.nvim_create_augroup("tailor", { clear = true })
  vim.api.nvim_create_autocmd({ "TextChangedI", "TextChangedP" }, { group = group, callback = debounce })
  vim.api.nvim_create_autocmd("InsertLeave", { group = group, callback = function()
    if shown then M.dismiss() end
    M.settle()
  end })
  vim.api.nvim_create_user_command("TailorTrain", function(c)
    M.train(c.args ~= "" and c.args or nil)
  end, { nargs = "?" })
  vim.api.nvim_create_user_command("TailorComplete", function() M.request() end, {})
  -- Not an <expr> mapping: those run under textlock and cannot insert. Without a completion
  -- shown, the key does what it did before.
  vim.keymap.set("i", M.config.keymap_accept, function()
    if not M.accept() then
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(M.config.keymap_accept, true, false, true), "n", false)
    end
  end, { desc = "tailor: accept the completion" })
  vim.keymap.set("i", M.config.keymap_dismiss, function() M.dismiss() end, { desc = "tailor: dismiss the completion" })
end

return M
