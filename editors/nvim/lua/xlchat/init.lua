-- xlchat for Neovim: ask questions about spreadsheets through `xlchat serve` (JSON-RPC over
-- stdio, spoken with vim.lsp.rpc). Tested with Neovim 0.7.2 and 0.12-dev.
local M = {}

M.config = {
  cmd = nil,          -- path to the xlchat binary (default: $XLCHAT_BIN, else `xlchat` on PATH, else /usr/bin/xlchat)
  env = {},           -- extra environment for `xlchat serve` (e.g. { OLLAMA_HOST = '127.0.0.1:11434' })
  model = nil,        -- chat model (default: the server's)
  timeout_ms = 30000, -- how long synchronous calls (range buffers) wait
}

local state = {
  rpc = nil,          -- the vim.lsp.rpc client
  init = nil,         -- initialize result
  starting = false,
  waiters = {},       -- callbacks waiting for initialize
  workbook = nil,     -- the last workbook/open result
  workbooks = {},     -- workbookId -> outline
  workspace = nil,    -- the last workspace/open result (tables and unions follow didChange)
  workspace_changes = {}, -- workspace/didChange notifications of that workspace
  last = nil,         -- 'workbook' or 'workspace': what :XlchatQuery runs over
  statuses = {},      -- chat/status notifications of the running (or last) question
  session = nil,      -- chat session id
  ask = nil,          -- { id, buf, ... } the running chat/ask
  progress = {},      -- token -> callback
  last_error = nil,   -- the last error reply { code, message, data }
}
M._state = state

local function notify(msg, level)
  vim.schedule(function() vim.notify('xlchat: ' .. msg, level or vim.log.levels.INFO) end)
end

local function fail(err)
  state.last_error = err
  local kind = err and err.data and err.data.kind
  notify((err and err.message or tostring(err)) .. (kind and (' (' .. kind .. ')') or ''), vim.log.levels.ERROR)
end

-- Where the .deb installs the binary, and where the README says to put a downloaded one: looked
-- at after PATH (Neovim started from a desktop may have a short PATH).
M.installed_paths = { '/usr/bin/xlchat', '/usr/local/bin/xlchat' }
M.install_hint = 'Install xlchat: on Debian/Ubuntu `sudo apt install ./xlchat_<version>_<arch>.deb` '
  .. '(from `bash scripts/release.sh` or a release), or put the `xlchat` binary on PATH; see "Install" in the xlchat README.'

-- The binary and nil, or nil and what is wrong with how to fix it: setup({ cmd }), else
-- $XLCHAT_BIN, else `xlchat` on PATH, else M.installed_paths.
function M.locate_binary()
  local cmd = M.config.cmd or vim.env.XLCHAT_BIN
  if cmd and cmd ~= '' then
    local from = M.config.cmd and 'setup({ cmd })' or '$XLCHAT_BIN'
    if vim.fn.executable(cmd) == 1 then return cmd, nil end
    if vim.fn.isdirectory(cmd) == 1 then
      return nil, ('%s (%s) is a directory; point it at the xlchat binary itself'):format(from, cmd)
    end
    if vim.fn.filereadable(cmd) == 1 or vim.loop.fs_stat(cmd) then
      return nil, ("%s (%s) is not executable; fix it with: chmod +x '%s'"):format(from, cmd, cmd)
    end
    return nil, ('%s (%s) does not exist; fix it, or unset it to use xlchat from PATH. %s'):format(from, cmd, M.install_hint)
  end
  local p = vim.fn.exepath('xlchat')
  if p ~= '' then return p, nil end
  for _, q in ipairs(M.installed_paths) do
    if vim.fn.executable(q) == 1 then return q, nil end
  end
  return nil, ('xlchat binary not found (not on PATH, not in %s). %s Or set require("xlchat").setup({ cmd = "/path/to/xlchat" }).')
    :format(table.concat(M.installed_paths, ' or '), M.install_hint)
end

function M.binary()
  return (M.locate_binary())
end

local function on_notification(method, params)
  vim.schedule(function()
    if method == '$/progress' and params then
      local cb = state.progress[params.token]
      if cb then cb(params.value or {}) end
      local v = params.value or {}
      if v.kind ~= 'end' then
        vim.api.nvim_echo({ { 'xlchat: ' .. (v.title or v.message or 'working')
          .. (v.percentage and (' ' .. v.percentage .. '%') or '') } }, false, {})
      end
    elseif method == 'workspace/didChange' and params and state.workspace and params.workspaceId == state.workspace.workspaceId then
      state.workspace.tables, state.workspace.unions, state.workspace.workbooks = params.tables, params.unions, params.workbooks
      table.insert(state.workspace_changes, params)
      local n = #(params.added or {}) + #(params.changed or {}) + #(params.removed or {})
      notify(('workspace: %d file%s changed, re-indexed'):format(n, n == 1 and '' or 's'))
    elseif (method == 'chat/delta' or method == 'chat/step' or method == 'chat/status') and state.ask and params
        and tostring(params.requestId) == tostring(state.ask.id) then
      if method == 'chat/delta' then M._append(state.ask.buf, params.text or '')
      elseif method == 'chat/status' then M._status(state.ask.buf, params)
      else M._step(state.ask.buf, params) end
    end
  end)
end

local function start_rpc(bin)
  local dispatchers = {
    notification = on_notification,
    server_request = function(method) return nil, { code = -32601, message = 'unsupported: ' .. method } end,
    on_exit = function(code, signal)
      vim.schedule(function()
        state.rpc, state.init, state.workbook, state.workbooks = nil, nil, nil, {}
        if code ~= 0 then notify(('server exited (code %s, signal %s)'):format(code, signal), vim.log.levels.WARN) end
      end)
    end,
    on_error = function(code, err) notify('rpc error ' .. tostring(code) .. ': ' .. vim.inspect(err), vim.log.levels.WARN) end,
  }
  local extra = { env = next(M.config.env or {}) and M.config.env or nil }
  if vim.fn.has('nvim-0.10') == 1 then
    return vim.lsp.rpc.start({ bin, 'serve' }, dispatchers, extra)
  end
  return vim.lsp.rpc.start(bin, { 'serve' }, dispatchers, extra)
end

--- Calls cb(err) once the server runs and is initialized.
function M.ensure(cb)
  if state.init and state.rpc then return cb(nil) end
  table.insert(state.waiters, cb)
  if state.starting then return end
  local bin, problem = M.locate_binary()
  if not bin then
    local w = state.waiters; state.waiters = {}
    for _, f in ipairs(w) do f({ message = problem }) end
    return
  end
  state.starting = true
  local ok, rpc = pcall(start_rpc, bin)
  if not ok or not rpc then
    state.starting = false
    local w = state.waiters; state.waiters = {}
    for _, f in ipairs(w) do f({ message = 'cannot start xlchat: ' .. tostring(rpc) }) end
    return
  end
  state.rpc = rpc
  rpc.request('initialize', { processId = vim.fn.getpid(), clientInfo = { name = 'xlchat.nvim', version = '0.1.0' } },
    function(err, result)
      vim.schedule(function()
        state.starting = false
        if not err then state.init = result; rpc.notify('initialized', {}) end
        local w = state.waiters; state.waiters = {}
        for _, f in ipairs(w) do f(err) end
      end)
    end)
end

--- request(method, params, cb(err, result)) after ensure; returns nothing (id via on_id).
function M.request(method, params, cb, on_id)
  M.ensure(function(err)
    if err then return cb(err) end
    local ok, id = state.rpc.request(method, params, function(e, r)
      vim.schedule(function()
        if e then state.last_error = e end
        cb(e, r)
      end)
    end)
    if not ok then return cb({ message = 'xlchat is not running' }) end
    if on_id then on_id(id) end
  end)
end

--- Synchronous request (waits with vim.wait): returns err, result.
function M.request_sync(method, params, timeout)
  local done, e, r = false, nil, nil
  M.request(method, params, function(err, res) e, r, done = err, res, true end)
  if not vim.wait(timeout or M.config.timeout_ms, function() return done end, 10) then
    return { message = method .. ' timed out' }, nil
  end
  return e, r
end

function M.has_method(name)
  return state.init ~= nil and vim.tbl_contains((state.init.capabilities or {}).methods or {}, name)
end

local DELIMITED = { csv = 'csv', tsv = 'tsv' }

--- workbook/open params for a file name or a buffer. A csv/tsv buffer with unsaved changes
--- (or no file) is sent as its text.
function M.open_params(file, buf)
  buf = buf or vim.api.nvim_get_current_buf()
  if file and file ~= '' then
    local fbuf = vim.fn.bufnr(vim.fn.fnamemodify(file, ':p'))
    if fbuf > 0 then buf = fbuf else return { path = vim.fn.fnamemodify(file, ':p') } end
  end
  if vim.bo[buf].buftype ~= '' then return nil end -- xlchat://, quickfix, help, ...: not a workbook
  local name = vim.api.nvim_buf_get_name(buf)
  local ext = name:match('%.(%a+)$')
  local format = DELIMITED[(ext or ''):lower()] or DELIMITED[vim.bo[buf].filetype]
  if format and (vim.bo[buf].modified or name == '') then
    local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
    return { text = table.concat(lines, '\n') .. '\n', format = format,
             name = name ~= '' and vim.fn.fnamemodify(name, ':t') or ('untitled.' .. format) }
  end
  if name == '' then return nil end
  return { path = name }
end

--- :XlchatOpen [file]: opens the file (default: the current buffer's) and echoes its outline.
function M.open(file, cb)
  local params = M.open_params(file)
  if not params then
    local err = { message = 'no file: give :XlchatOpen a file or run it from a workbook buffer' }
    fail(err); if cb then cb(err) end; return
  end
  M.request('workbook/open', params, function(err, wb)
    if err then fail(err); if cb then cb(err) end; return end
    state.workbook = wb
    state.last = 'workbook'
    state.workbooks[wb.workbookId] = wb
    local parts = {}
    for _, s in ipairs(wb.sheets) do
      table.insert(parts, s.name .. ' ' .. (s.range or 'empty') .. (s.table and (' [' .. s.table.name .. ']') or ''))
    end
    notify(('opened %s (%s): %s'):format(vim.fn.fnamemodify(wb.path, ':t'), wb.format, table.concat(parts, ', ')))
    if cb then cb(nil, wb) end
  end)
end

local function cell_text(v)
  if v == nil or v == vim.NIL then return '' end
  if type(v) == 'table' then return v.error or vim.fn.json_encode(v) end
  if type(v) == 'number' and v == math.floor(v) and math.abs(v) < 1e15 then return string.format('%d', v) end
  return tostring(v)
end

--- Lines of an aligned text table.
function M.format_table(rows, header)
  local all = {}
  if header then table.insert(all, header) end
  for _, r in ipairs(rows) do table.insert(all, r) end
  local widths = {}
  for _, r in ipairs(all) do
    for i, v in ipairs(r) do widths[i] = math.max(widths[i] or 0, vim.fn.strdisplaywidth(cell_text(v))) end
  end
  local lines = {}
  for n, r in ipairs(all) do
    local cells = {}
    for i = 1, #widths do
      local t = cell_text(r[i])
      cells[i] = t .. string.rep(' ', widths[i] - vim.fn.strdisplaywidth(t))
    end
    table.insert(lines, (table.concat(cells, ' | '):gsub('%s+$', '')))
    if header and n == 1 then
      local sep = {}
      for i = 1, #widths do sep[i] = string.rep('-', widths[i]) end
      table.insert(lines, table.concat(sep, '-+-'))
    end
  end
  return lines
end

local function scratch(name)
  local buf = vim.fn.bufnr(name)
  if buf <= 0 then
    buf = vim.api.nvim_create_buf(true, true)
    vim.api.nvim_buf_set_name(buf, name)
    vim.bo[buf].buftype = 'nofile'
    vim.bo[buf].swapfile = false
    vim.bo[buf].filetype = 'markdown'
  end
  if vim.fn.bufwinid(buf) == -1 then
    -- Show it in a split but keep the cursor where it was (the workbook buffer stays current).
    local prev = vim.api.nvim_get_current_win()
    vim.cmd('botright split')
    vim.api.nvim_win_set_buf(0, buf)
    vim.api.nvim_set_current_win(prev)
  end
  return buf
end

--- :XlchatWorkspace [dir]: opens every workbook under the folder (default: the current
--- directory) into one SQL namespace; :XlchatQuery then runs over it until :XlchatOpen.
function M.workspace(dir, cb)
  local root = vim.fn.fnamemodify(dir and dir ~= '' and dir or vim.fn.getcwd(), ':p'):gsub('/$', '')
  M.request('workspace/open', { path = root }, function(err, ws)
    if err then fail(err); if cb then cb(err) end; return end
    state.workspace, state.last, state.workspace_changes = ws, 'workspace', {}
    local bad = 0
    for _, w in ipairs(ws.workbooks) do if w.status == 'error' then bad = bad + 1 end end
    notify(('workspace %s: %d tables, %d union views%s'):format(vim.fn.fnamemodify(root, ':t'), #ws.tables, #ws.unions,
      bad > 0 and (', %d files not read (see :XlchatQuery or the workbooks list)'):format(bad) or ''))
    if cb then cb(nil, ws) end
  end)
end

--- :XlchatQuery {sql}: read-only SQL over the current workbook (or the workspace, when it was
--- opened last); rows into a scratch buffer.
function M.query(sql, cb)
  local wb = state.workbook
  local method, params
  if state.last == 'workspace' and state.workspace then
    method, params = 'workspace/query', { workspaceId = state.workspace.workspaceId, sql = sql }
  elseif wb then
    method, params = 'workbook/query', { workbookId = wb.workbookId, sql = sql }
  else
    local e = { message = 'no workbook open: :XlchatOpen (or :XlchatWorkspace) first' }; fail(e); if cb then cb(e) end; return
  end
  M.request(method, params, function(err, res)
    if err then fail(err); if cb then cb(err) end; return end
    local buf = scratch('xlchat://query')
    local lines = M.format_table(res.rows, res.columns)
    if res.truncated then table.insert(lines, '(truncated)') end
    for _, w in ipairs(res.warnings or {}) do table.insert(lines, 'warning: ' .. w) end
    if res.stale then table.insert(lines, '(' .. res.stale .. ')') end
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    if cb then cb(nil, res) end
  end)
end

-- Streaming into the answer buffer ---------------------------------------------------------

function M._append(buf, text)
  if not vim.api.nvim_buf_is_valid(buf) then return end
  local last = vim.api.nvim_buf_line_count(buf)
  local cur = vim.api.nvim_buf_get_lines(buf, last - 1, last, false)[1] or ''
  local pieces = vim.split(cur .. text, '\n', { plain = true })
  vim.api.nvim_buf_set_lines(buf, last - 1, last, false, pieces)
end

function M._step(buf, step)
  if not vim.api.nvim_buf_is_valid(buf) then return end
  local last = vim.api.nvim_buf_line_count(buf)
  local line = '> ' .. (step.tool or 'step') .. ': ' .. ((step.summary or ''):gsub('\n', ' '))
  vim.api.nvim_buf_set_lines(buf, last - 1, last - 1, false, { line })
end

M.status_ns = vim.api.nvim_create_namespace('xlchat_status')

--- One line for a chat/status notification: "reading the prompt (1,566 tokens)…",
--- "waiting for the model… 12 s"; '' once the reply streams.
function M.status_text(s)
  local function n(x) local t = tostring(x):reverse():gsub('(%d%d%d)', '%1,'):reverse(); return (t:gsub('^,', '')) end
  local tokens = ''
  if s.promptTokens then
    tokens = ' (' .. n(s.promptTokens) .. ' tokens' .. (s.contextTokens and (' of ' .. n(s.contextTokens)) or '') .. ')'
  end
  local step = (s.step or 1) > 1 and ('step ' .. s.step .. ': ') or ''
  if s.phase == 'prompt' then return step .. 'reading the prompt' .. tokens .. '…' end
  if s.phase == 'waiting' then
    return step .. 'waiting for the model' .. tokens .. '… ' .. math.floor((s.elapsedMs or 0) / 1000) .. ' s'
  end
  return ''
end

--- Shows the wait as virtual text at the end of the answer buffer (cleared when the reply
--- streams); every status is kept in state.statuses for :XlchatAsk's caller and the tests.
function M._status(buf, s)
  table.insert(state.statuses, s)
  if not vim.api.nvim_buf_is_valid(buf) then return end
  vim.api.nvim_buf_clear_namespace(buf, M.status_ns, 0, -1)
  local text = M.status_text(s)
  if text ~= '' then
    local last = vim.api.nvim_buf_line_count(buf) - 1
    vim.api.nvim_buf_set_extmark(buf, M.status_ns, last, 0, { virt_text = { { text, 'Comment' } }, virt_text_pos = 'eol' })
  end
end

--- A citation as text: `Sheet!A1:B2`, or `file › Sheet!A1:B2` for a workspace answer.
function M.citation_text(c)
  local ref = c.sheet .. '!' .. c.range
  return c.file and (c.file .. ' › ' .. ref) or ref
end

--- The quickfix items for citations: each opens an xlchat://range buffer showing the cells.
--- A workspace citation names its file: `ids[file]` is that file's workbookId (opened by
--- M.workspace_file_ids).
function M.citation_items(citations, ids)
  local items = {}
  for _, c in ipairs(citations or {}) do
    local id = c.workbookId or (ids and c.file and ids[c.file]) or 'unknown'
    table.insert(items, {
      filename = ('xlchat://range/%s/%s/%s'):format(id, c.sheet, c.range),
      lnum = 1, text = M.citation_text(c),
    })
  end
  return items
end

--- The workbookIds of the files a workspace answer cites (workbook/open of each; their
--- indexes exist already, so nothing is read again), file → id. At most 20 files.
function M.workspace_file_ids(citations)
  local ids, root = {}, state.workspace and state.workspace.root
  if not root then return ids end
  local n = 0
  for _, c in ipairs(citations or {}) do
    if c.file and not ids[c.file] and n < 20 then
      n = n + 1
      local err, wb = M.request_sync('workbook/open', { path = root .. '/' .. c.file })
      if not err and wb then ids[c.file] = wb.workbookId end
    end
  end
  return ids
end

--- :XlchatAsk {question}: asks about the workspace after :XlchatWorkspace (until :XlchatOpen),
--- else the current buffer's workbook (else the last opened), streaming the answer into the
--- xlchat://answer buffer; citations (with their file, for a workspace) go to the quickfix list.
function M.ask(question, cb)
  local function go(wb)
    if not M.has_method('chat/ask') then
      local e = { message = 'this xlchat server has no chat/ask' }; fail(e); if cb then cb(e) end; return
    end
    if state.ask then M.cancel() end
    local buf = scratch('xlchat://answer')
    local n = vim.api.nvim_buf_line_count(buf)
    local first = (n == 1 and vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1] == '') and 0 or n
    vim.api.nvim_buf_set_lines(buf, first, -1, false, { '## ' .. question, '' })
    local token = 'xlchat-nvim-ask-' .. tostring(vim.loop.hrtime())
    local params = { workbookId = wb and wb.workbookId, workspaceId = not wb and state.workspace.workspaceId or nil,
                     question = question, workDoneToken = token, sessionId = state.session, model = M.config.model }
    local ask = { buf = buf }
    state.ask = ask
    state.statuses = {}
    local finished = false
    ask.finish = function(err, res)
      if finished then return end
      finished = true
      if state.ask == ask then state.ask = nil end
      if vim.api.nvim_buf_is_valid(buf) then vim.api.nvim_buf_clear_namespace(buf, M.status_ns, 0, -1) end
      if err then
        M._append(buf, (err.code == -32800 and '\n[cancelled]' or ('\n[error] ' .. (err.message or ''))) .. '\n')
        if err.code ~= -32800 then fail(err) end
        if cb then cb(err) end
        return
      end
      state.session = res.sessionId
      -- The final answer is authoritative: replace the streamed text with it.
      local last = vim.api.nvim_buf_line_count(buf)
      local lines = vim.api.nvim_buf_get_lines(buf, 0, last, false)
      local start = #lines
      for i = #lines, 1, -1 do if lines[i] == '## ' .. question then start = i; break end end
      local out = {}
      for i = start + 1, #lines do if lines[i]:sub(1, 2) == '> ' then table.insert(out, lines[i]) end end
      for _, l in ipairs(vim.split(res.answer or '', '\n', { plain = true })) do table.insert(out, l) end
      if type(res.ungrounded) == 'table' and #res.ungrounded > 0 then
        table.insert(out, '_(not found in the cells the model saw: ' .. table.concat(res.ungrounded, ', ') .. ')_')
      end
      if #(res.citations or {}) > 0 then
        local refs = {}
        for _, c in ipairs(res.citations) do table.insert(refs, M.citation_text(c)) end
        table.insert(out, 'Cited: ' .. table.concat(refs, ', '))
      end
      if res.stale then table.insert(out, '_(' .. res.stale .. ')_') end
      table.insert(out, '')
      vim.api.nvim_buf_set_lines(buf, start, -1, false, out)
      local ids = (not wb) and M.workspace_file_ids(res.citations) or nil
      vim.fn.setqflist({}, ' ', { title = 'xlchat: ' .. question, items = M.citation_items(res.citations, ids) })
      if cb then cb(nil, res) end
    end
    M.request('chat/ask', params, function(err, res) ask.finish(err, res) end, function(id) ask.id = id end)
  end
  if state.last == 'workspace' and state.workspace then go(nil); return end
  local params = M.open_params(nil)
  local cur = params and state.workbook and params.path and state.workbook.path == params.path
  if params and not cur then
    M.open(nil, function(err, wb) if err then if cb then cb(err) end else go(wb) end end)
  elseif state.workbook then
    go(state.workbook)
  else
    local e = { message = 'no workbook: open one with :XlchatOpen FILE' }; fail(e); if cb then cb(e) end
  end
end

--- :XlchatCancel: cancels the running question. vim.lsp.rpc drops -32800 replies without
--- calling back, so the question is finished here: "[cancelled]" in the buffer, and its
--- callback gets { code = -32800 }.
function M.cancel()
  local ask = state.ask
  if not ask then return end
  state.ask = nil
  if ask.id and state.rpc then state.rpc.notify('$/cancelRequest', { id = ask.id }) end
  if ask.finish then ask.finish({ code = -32800, message = 'cancelled' }, nil) end
end

--- :XlchatIndex: builds the current workbook's index, with progress in the message area.
function M.index(cb)
  local wb = state.workbook
  if not wb then local e = { message = 'no workbook open' }; fail(e); if cb then cb(e) end; return end
  local token = 'xlchat-nvim-index-' .. tostring(vim.loop.hrtime())
  local seen = {}
  state.progress[token] = function(v) table.insert(seen, v) end
  M.request('index/build', { workbookId = wb.workbookId, workDoneToken = token }, function(err, res)
    state.progress[token] = nil
    if err then fail(err) else notify(('indexed: %d chunks%s'):format(res.chunks, res.reused and ' (reused)' or '')) end
    if cb then cb(err, res, seen) end
  end)
end

-- Trace: how a cell is computed ------------------------------------------------------------

--- The first cell of an A1 range (`B2:D9` -> `B2`, `A:A` -> `A1`, `3:5` -> `A3`): what "trace
--- this cell" on a citation traces.
function M.first_cell(range)
  local first = (range or ''):match('^([^:]*)'):gsub('%$', ''):upper()
  if first:match('^%a+$') then return first .. '1' end
  if first:match('^%d+$') then return 'A' .. first end
  return first
end

local function trace_value(v)
  if v == nil or v == vim.NIL then return '(empty)' end
  if type(v) == 'string' then return '"' .. v .. '"' end
  return cell_text(v)
end

--- One workbook/trace entry as a line (the shape `xlchat trace` prints).
function M.trace_line(e)
  local s
  if e.kind == 'name' then s = (e.name or '') .. ' (name)' .. ((e.ref or '') ~= '' and (' = ' .. e.ref) or '')
  elseif e.kind == 'range' then s = e.ref
  else
    s = e.ref
    if e.formula and e.formula ~= vim.NIL then s = s .. '  =' .. e.formula end
    if e.value ~= nil then s = s .. '  → ' .. trace_value(e.value) .. (e.computed and '  (computed: no value saved in the file)' or '') end
  end
  if e.dynamic and #e.dynamic > 0 then s = s .. '  [uses ' .. table.concat(e.dynamic, ', ') .. ']' end
  if e.truncated then s = s .. '  …' end
  return s
end

--- A workbook/trace result as lines: the precedents as a tree, then the dependents.
function M.trace_lines(res)
  local out = {}
  local function walk(e, prefix, last, root)
    table.insert(out, root and M.trace_line(e) or (prefix .. (last and '└─ ' or '├─ ') .. M.trace_line(e)))
    local child = root and '' or (prefix .. (last and '   ' or '│  '))
    local ps = e.precedents or {}
    for i, p in ipairs(ps) do walk(p, child, i == #ps, false) end
  end
  walk(res.cell, '', true, true)
  if res.dependents and #res.dependents > 0 then
    table.insert(out, 'Used by:')
    for _, d in ipairs(res.dependents) do table.insert(out, '  ' .. M.trace_line(d)) end
    if res.dependentsTruncated then table.insert(out, '  …') end
  end
  return out
end

--- The citation under the cursor: the quickfix list's current entry (in the quickfix window,
--- the line under the cursor) or the xlchat://range buffer being shown. Nil when none.
function M.citation_under_cursor()
  local name
  if vim.bo.buftype == 'quickfix' then
    local item = vim.fn.getqflist()[vim.fn.line('.')]
    if item and item.bufnr > 0 then name = vim.api.nvim_buf_get_name(item.bufnr) end
  else
    name = vim.api.nvim_buf_get_name(0)
  end
  local id, sheet, range = (name or ''):match('xlchat://range/([^/]+)/(.+)/([^/]+)$')
  if not id then return nil end
  return { workbookId = id, sheet = sheet, range = range }
end

--- :XlchatTrace [Sheet!F20]: how a cell is computed, as a tree in the xlchat://trace buffer.
--- Without an argument: the citation under the cursor (its first cell).
function M.trace(target, cb)
  local wbid, sheet, cell
  if target and target ~= '' then
    local wb = state.workbook
    if not wb then local e = { message = 'no workbook open: :XlchatOpen first' }; fail(e); if cb then cb(e) end; return end
    wbid = wb.workbookId
    local s, c = target:match('^(.*)!([^!]+)$')
    if s then sheet = s:gsub("^'(.*)'$", '%1'):gsub("''", "'"); cell = c else cell = target; sheet = wb.sheets[1] and wb.sheets[1].name end
  else
    local cit = M.citation_under_cursor()
    if not cit then
      local e = { message = 'no citation here: run :XlchatTrace on a citation (quickfix list or range buffer), or give Sheet!F20' }
      fail(e); if cb then cb(e) end; return
    end
    wbid, sheet, cell = cit.workbookId, cit.sheet, cit.range
  end
  cell = M.first_cell(cell)
  M.request('workbook/trace', { workbookId = wbid, sheet = sheet, cell = cell }, function(err, res)
    if err then fail(err); if cb then cb(err) end; return end
    local buf = scratch('xlchat://trace')
    vim.bo[buf].filetype = 'text'
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, M.trace_lines(res))
    if cb then cb(nil, res) end
  end)
end

--- Fills an xlchat://range/{workbookId}/{sheet}/{range} buffer (BufReadCmd).
function M.read_range_buffer(buf, name)
  local id, sheet, range = name:match('^xlchat://range/([^/]+)/(.+)/([^/]+)$')
  if not id then return end
  local err, res = M.request_sync('workbook/read', { workbookId = id, sheet = sheet, range = range, limit = 500 })
  local lines
  if err then
    lines = { 'error: ' .. (err.message or '?') .. (err.data and err.data.kind and (' (' .. err.data.kind .. ')') or '') }
  else
    lines = { ('%s!%s%s'):format(res.sheet, res.range or range, res.truncated and ' (truncated)' or ''), '' }
    local first = (res.range or range):match('^%$?(%a+)') or 'A'
    local function colnum(s) local n = 0; for ch in s:upper():gmatch('%a') do n = n * 26 + ch:byte() - 64 end; return n end
    local function colname(n) local s = ''; while n > 0 do local r = (n - 1) % 26; s = string.char(65 + r) .. s; n = (n - 1 - r) / 26 end; return s end
    local header, c0 = { '' }, colnum(first)
    local width = 0
    for _, r in ipairs(res.rows) do width = math.max(width, #r) end
    for i = 1, width do header[i + 1] = colname(c0 + i - 1) end
    local row0 = tonumber((res.range or range):match('^%$?%a+%$?(%d+)')) or 1
    local rows = {}
    for i, r in ipairs(res.rows) do
      local t = { row0 + i - 1 }
      for j = 1, width do t[j + 1] = r[j] end
      rows[i] = t
    end
    for _, l in ipairs(M.format_table(rows, header)) do table.insert(lines, l) end
  end
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].swapfile = false
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
end

local function closing(rpc)
  if rpc.is_closing then return rpc.is_closing() end   -- 0.8+
  return rpc.handle == nil or rpc.handle:is_closing()  -- 0.7: the uv process handle
end

local function terminate(rpc)
  if rpc.terminate then rpc.terminate() elseif rpc.handle and not rpc.handle:is_closing() then rpc.handle:kill(15) end
end

--- Shuts the server down (shutdown, exit; killed if it does not go within 2 s).
function M.stop()
  local rpc = state.rpc
  if rpc then
    local answered = false
    rpc.request('shutdown', nil, function() answered = true end)
    vim.wait(2000, function() return answered end, 10)
    pcall(rpc.notify, 'exit', nil)
    vim.wait(2000, function() return closing(rpc) end, 10)
    if not closing(rpc) then terminate(rpc) end
  end
  state.rpc, state.init, state.workbook, state.ask = nil, nil, nil, nil
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', M.config, opts or {})
end

return M
