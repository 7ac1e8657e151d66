-- Headless tests against the real xlchat binary:
--   XLCHAT_BIN=... nvim --headless -u NONE -i NONE --cmd 'set rtp^=editors/nvim' \
--     -c 'runtime plugin/xlchat.lua' -c 'luafile editors/nvim/tests/test_xlchat.lua'
-- Prints one "ok"/"not ok"/"skip" line per test and exits with the number of failures.
local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local repo = vim.fn.fnamemodify(here, ':h:h:h')
local passed, failed, skipped = 0, 0, 0
local x = require('xlchat')

local function log(s) io.stdout:write(s .. '\n') end

local function run(name, fn)
  local ok, err = xpcall(fn, function(e)
    if type(e) == 'string' and e:match('^SKIP: ') then return e end
    return debug.traceback(e)
  end)
  if ok then passed = passed + 1; log('ok - ' .. name)
  elseif type(err) == 'string' and err:match('^SKIP: ') then skipped = skipped + 1; log('skip - ' .. name .. ': ' .. err:sub(7))
  else failed = failed + 1; log('not ok - ' .. name .. '\n    ' .. tostring(err):gsub('\n', '\n    ')) end
end

local function eq(a, b, msg)
  if not vim.deep_equal(a, b) then error((msg or 'not equal') .. ': ' .. vim.inspect(a) .. ' ~= ' .. vim.inspect(b), 2) end
end
local function truthy(v, msg) if not v then error(msg or 'expected true', 2) end end

local function await(start, timeout)
  local done, e, r = false, nil, nil
  start(function(err, res) e, r, done = err, res, true end)
  truthy(vim.wait(timeout or 20000, function() return done end, 10), 'timed out')
  return e, r
end

local function buf_lines(name) return vim.api.nvim_buf_get_lines(vim.fn.bufnr(name), 0, -1, false) end

-- fixtures
local tmp = vim.fn.tempname()
vim.fn.mkdir(tmp, 'p')
local csv = tmp .. '/sales.csv'
vim.fn.writefile({ 'region,product,units,price', 'North,Apples,10,1.5', 'South,Pears,20,2.25',
  'North,Plums,5,3', 'East,Apples,7,1.5' }, csv)

-- fake Ollama
local ollama_host
local job = vim.fn.jobstart({ 'python3', repo .. '/editors/testing/fake_ollama.py' }, {
  on_stdout = function(_, data)
    for _, l in ipairs(data) do local m = l:match('^OLLAMA_HOST=(%S+)'); if m then ollama_host = m end end
  end,
})
vim.wait(10000, function() return ollama_host ~= nil end, 10)

x.setup({ cmd = vim.env.XLCHAT_BIN or (repo .. '/.build/debug/xlchat'),
          env = { XLCHAT_DATA_DIR = tmp .. '/data', OLLAMA_HOST = ollama_host or '127.0.0.1:9', XLCHAT_MODEL = 'fake:latest' } })

run('binary found and server initializes', function()
  truthy(x.binary(), 'binary')
  local err = await(function(cb) x.ensure(cb) end)
  eq(err, nil)
  eq(x._state.init.serverInfo.name, 'xlchat')
  truthy(x.has_method('workbook/open'))
end)

run(':XlchatOpen on the current buffer', function()
  vim.cmd('edit ' .. csv)
  local err, wb = await(function(cb) x.open(nil, cb) end)
  eq(err, nil)
  eq(wb.format, 'csv')
  eq(wb.sheets[1].range, 'A1:D5')
  eq(x._state.workbook.workbookId, wb.workbookId)
end)

run(':XlchatQuery writes rows into a scratch buffer', function()
  local err = await(function(cb) x.query('SELECT region, SUM(units) AS units FROM "' .. x._state.workbook.sheets[1].table.name .. '" GROUP BY region ORDER BY region', cb) end)
  eq(err, nil)
  eq(buf_lines('xlchat://query'), { 'region | units', '-------+------', 'East   | 7', 'North  | 15', 'South  | 20' })
end)

run('a modified csv buffer is sent as its text', function()
  vim.cmd('buffer ' .. vim.fn.bufnr(csv))
  vim.api.nvim_buf_set_lines(0, 1, 2, false, { 'North,Apples,1000,1.5' })
  truthy(vim.bo.modified)
  local p = x.open_params(nil)
  eq(p.format, 'csv'); eq(p.name, 'sales.csv'); eq(p.path, nil)
  local err = await(function(cb) x.open(nil, cb) end)
  eq(err, nil)
  local e2, res = await(function(cb) x.query('SELECT SUM(units) FROM "' .. x._state.workbook.sheets[1].table.name .. '"', cb) end)
  eq(e2, nil)
  eq(res.rows[1][1], 1032)
  vim.cmd('edit!')
  truthy(not vim.bo.modified)
  local e3, wb = await(function(cb) x.open(nil, cb) end)
  eq(e3, nil)
  eq(wb.path, csv)
end)

run('errors carry their kinds', function()
  local err = await(function(cb) x.open(tmp .. '/missing.xlsx', cb) end)
  eq(err.data.kind, 'fileNotFound')
  -- a zip signature followed by garbage (plain text would be sniffed as csv)
  local f = io.open(tmp .. '/junk.xlsx', 'wb'); f:write('PK\3\4' .. string.rep('\7', 64)); f:close()
  err = await(function(cb) x.open(tmp .. '/junk.xlsx', cb) end)
  eq(err.data.kind, 'corruptWorkbook')
  err = await(function(cb) x.open(csv, cb) end)
  eq(err, nil)
  err = await(function(cb) x.query('DELETE FROM sales', cb) end)
  eq(err.data.kind, 'invalidQuery')
end)

run('a range buffer shows the cited cells', function()
  local wb = x._state.workbook
  vim.cmd('edit ' .. vim.fn.fnameescape(('xlchat://range/%s/%s/B2:C3'):format(wb.workbookId, wb.sheets[1].name)))
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  eq(lines[1], wb.sheets[1].name .. '!B2:C3')
  eq(lines[3], '  | B      | C')
  eq(lines[5], '2 | Apples | 10')
  eq(lines[6], '3 | Pears  | 20')
  vim.cmd('edit ' .. vim.fn.fnameescape(('xlchat://range/%s/%s/B2:C3'):format('nope', 'sales')))
  truthy(vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]:match('unknownWorkbook'), 'unknownWorkbook shown')
end)

run('citations become quickfix items that open range buffers', function()
  local items = x.citation_items({ { workbookId = 'w1', sheet = 'Q1 Sales', range = 'A1:B2' } })
  eq(items[1].filename, 'xlchat://range/w1/Q1 Sales/A1:B2')
  eq(items[1].text, 'Q1 Sales!A1:B2')
  local ws = x.citation_items({ { workspaceId = 'ws-1', file = '2024/a.xlsx', sheet = 'Orders', range = 'A2:H2' } }, { ['2024/a.xlsx'] = 'wb-9' })
  eq(ws[1].filename, 'xlchat://range/wb-9/Orders/A2:H2')
  eq(ws[1].text, '2024/a.xlsx › Orders!A2:H2')
end)

run(':XlchatIndex reports progress', function()
  local err, res, seen
  local done = false
  x.index(function(e, r, s) err, res, seen, done = e, r, s, true end)
  vim.wait(20000, function() return done end, 10)
  eq(err, nil)
  truthy(res.chunks > 0)
  eq(seen[1].kind, 'begin'); eq(seen[#seen].kind, 'end')
end)

run(':XlchatAsk streams into the answer buffer, citations to quickfix', function()
  if not x.has_method('chat/ask') then error('SKIP: server has no chat/ask yet (capabilities.methods lacks it)', 0) end
  vim.cmd('edit ' .. csv)
  local seen_partial = false
  local err, res
  local done = false
  x.ask('Which region sold most?', function(e, r) err, res, done = e, r, true end)
  vim.wait(30000, function()
    local l = buf_lines('xlchat://answer')
    if not done and #l >= 2 and l[#l] ~= '' then seen_partial = true end
    return done
  end, 5)
  eq(err, nil)
  truthy(seen_partial, 'the answer streamed in before the reply')
  local text = table.concat(buf_lines('xlchat://answer'), '\n')
  truthy(text:find('## Which region sold most?', 1, true), text)
  truthy(text:find(res.answer, 1, true), text)
  -- The wait was shown (chat/status), and the status text is gone once answered.
  local phases = {}
  for _, s in ipairs(x._state.statuses) do phases[#phases + 1] = s.step .. ':' .. s.phase end
  truthy(vim.tbl_contains(phases, '1:prompt') and vim.tbl_contains(phases, '1:generating'), vim.inspect(phases))
  truthy((x._state.statuses[1].promptTokens or 0) > 100, vim.inspect(x._state.statuses[1]))
  eq(#vim.api.nvim_buf_get_extmarks(vim.fn.bufnr('xlchat://answer'), x.status_ns, 0, -1, {}), 0)
  eq(x.status_text({ phase = 'prompt', step = 1, promptTokens = 1566, contextTokens = 4096, elapsedMs = 0 }),
     'reading the prompt (1,566 tokens of 4,096)…')
  eq(x.status_text({ phase = 'waiting', step = 2, promptTokens = 900, elapsedMs = 12400 }),
     'step 2: waiting for the model (900 tokens)… 12 s')
  eq(x.status_text({ phase = 'generating', step = 1, elapsedMs = 3 }), '')
  local qf = vim.fn.getqflist()
  truthy(#qf >= 1, 'citations in quickfix')
  eq(#qf, #res.citations)
  -- Jumping to the first citation shows its cells.
  vim.cmd('cc 1')
  local shown = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  truthy(shown[1]:find(res.citations[1].range, 1, true), vim.inspect(shown))
  truthy(table.concat(shown, '\n'):find('region', 1, true), vim.inspect(shown))
end)

run(':XlchatCancel cancels a running question', function()
  if not x.has_method('chat/ask') then error('SKIP: server has no chat/ask yet (capabilities.methods lacks it)', 0) end
  local err, done = nil, false
  x.ask('answer slowly please', function(e) err, done = e, true end)
  vim.wait(10000, function() local l = buf_lines('xlchat://answer'); return l[#l] ~= '' end, 10)
  vim.cmd('XlchatCancel')
  vim.wait(5000, function() return done end, 10)
  truthy(done, 'reply after cancel')
  eq(err.code, -32800)
  local text = table.concat(buf_lines('xlchat://answer'), '\n')
  truthy(text:find('[cancelled]', 1, true), text)
  -- Nothing streams in after the cancel, and the server is free at once.
  vim.wait(800, function() return false end, 50)
  eq(table.concat(buf_lines('xlchat://answer'), '\n'), text)
  local t0 = vim.loop.hrtime()
  local e2, pong = x.request_sync('server/ping', {}, 3000)
  eq(e2, nil); eq(pong, {})
  truthy((vim.loop.hrtime() - t0) / 1e6 < 3000)
end)

run(':XlchatTrace on a citation shows the formula chain in a scratch buffer', function()
  eq(vim.tbl_map(x.first_cell, { 'C3:C4', '$F$20', 'a:a', '3:5', 'B2' }), { 'C3', 'F20', 'A1', 'A3', 'B2' })
  local file = vim.fn.fnamemodify(repo .. '/../shared/corpus/files/xlcalculator__use_case_01.xlsm', ':p')
  truthy(vim.fn.filereadable(file) == 1, 'the corpus is missing: ' .. file)
  local err, wb = await(function(cb) x.open(file, cb) end)
  eq(err, nil)
  -- A citation in the quickfix list, the cursor on it in the quickfix window.
  vim.fn.setqflist({}, ' ', { title = 'trace', items = x.citation_items({ { workbookId = wb.workbookId, sheet = 'Tenth', range = 'C3:C4' } }) })
  vim.cmd('copen')
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  local terr, res = await(function(cb) x.trace(nil, cb) end)
  vim.cmd('cclose')
  eq(terr, nil)
  eq(res.cell.formula, 'SUM(A3,Hundred)')
  local lines = buf_lines('xlchat://trace')
  eq(lines[1], 'Tenth!C3  =SUM(A3,Hundred)  → 102')
  local text = table.concat(lines, '\n')
  truthy(text:find('Hundred (name) = Eighth!B1', 1, true), text)
  truthy(text:find('└─ Eighth!B1  → 100', 1, true), text)
  -- By argument, on the open workbook: the dependents follow the tree.
  local e2 = await(function(cb) vim.cmd('XlchatTrace Eighth!B1'); x.trace('Eighth!B1', cb) end)
  eq(e2, nil)
  local l2 = buf_lines('xlchat://trace')
  eq(l2[1], 'Eighth!B1  → 100'); eq(l2[2], 'Used by:')
  truthy(table.concat(l2, '\n'):find('Tenth!C3', 1, true), vim.inspect(l2))
  -- Errors are reported, not thrown: an unknown sheet; no citation under the cursor.
  local e3 = await(function(cb) x.trace('Nope!A1', cb) end)
  truthy(e3 and e3.message:find("no sheet named 'Nope'", 1, true), vim.inspect(e3))
  vim.cmd('enew')
  local e4 = await(function(cb) x.trace(nil, cb) end)
  truthy(e4 and e4.message:find('no citation here', 1, true), vim.inspect(e4))
  -- Let the (scheduled) error notifications show here, not inside the next test.
  vim.wait(200, function() return false end, 10)
end)

run(':XlchatWorkspace opens a folder; :XlchatQuery joins its files; a changed file is noticed', function()
  local dir = tmp .. '/ws'
  vim.fn.mkdir(dir .. '/2024', 'p')
  vim.fn.writefile({ 'customer_id,segment', 'c1,Retail', 'c2,Trade' }, dir .. '/customers.csv')
  vim.fn.writefile({ 'order_id,customer_id,amount', '1,c1,10', '2,c2,20' }, dir .. '/2024/orders_01.csv')
  vim.fn.writefile({ 'order_id,customer_id,amount', '3,c1,5' }, dir .. '/2024/orders_02.csv')
  local err, ws = await(function(cb) x.workspace(dir, cb) end)
  eq(err, nil)
  eq(#ws.tables, 3)
  eq(ws.unions[1].name, 'orders')
  local e2, res = await(function(cb) x.query('SELECT c.segment, SUM(o.amount) AS total FROM orders o JOIN customers c USING (customer_id) GROUP BY 1 ORDER BY 1', cb) end)
  eq(e2, nil)
  eq(res.rows, { { 'Retail', 15 }, { 'Trade', 20 } })
  truthy(vim.tbl_contains(buf_lines('xlchat://query'), 'Retail  | 15   ') or #buf_lines('xlchat://query') >= 3, vim.inspect(buf_lines('xlchat://query')))
  vim.fn.writefile({ 'order_id,customer_id,amount', '3,c1,5', '4,c2,100' }, dir .. '/2024/orders_02.csv')
  truthy(vim.wait(20000, function() return #x._state.workspace_changes > 0 end, 20), 'no workspace/didChange')
  eq(x._state.workspace_changes[1].changed, { '2024/orders_02.csv' })
  local e3, total = await(function(cb) x.query('SELECT SUM(amount) FROM orders', cb) end)
  eq(e3, nil)
  eq(total.rows, { { 135 } })
  -- :XlchatAsk asks about the workspace; citations name their files and open their cells.
  if x.has_method('chat/ask') then
    local e5, ans = await(function(cb) x.ask('Which segment bought most?', cb) end)
    eq(e5, nil)
    truthy(#ans.citations >= 1 and ans.citations[1].file ~= nil and ans.citations[1].workspaceId == ws.workspaceId, vim.inspect(ans.citations))
    local text = table.concat(buf_lines('xlchat://answer'), '\n')
    truthy(text:find('Cited: ' .. ans.citations[1].file .. ' › ', 1, true), text)
    local qf = vim.fn.getqflist()
    eq(#qf, #ans.citations)
    eq(qf[1].text, x.citation_text(ans.citations[1]))
    vim.cmd('cc 1')
    local shown = vim.api.nvim_buf_get_lines(0, 0, -1, false)
    truthy(shown[1]:find(ans.citations[1].range, 1, true) and not shown[1]:find('error', 1, true), vim.inspect(shown))
    vim.cmd('enew')
  end
  -- :XlchatOpen makes the workbook current again.
  eq(await(function(cb) x.open(csv, cb) end), nil)
  local e4, one = await(function(cb) x.query('SELECT COUNT(*) FROM sales', cb) end)
  eq(e4, nil)
  eq(one.rows, { { 4 } })
end)

run(':checkhealth xlchat', function()
  vim.cmd('checkhealth xlchat')
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  truthy(text:find('binary: ', 1, true), text)
  truthy(text:find('version: 0', 1, true), text)
  truthy(text:find('server check storage: ok', 1, true), text)
  truthy(text:find('model server (Ollama) reachable', 1, true), text)
end)

-- The spec blocks of the top README, as a user copies them.
local function readme_block(marker)
  local text = table.concat(vim.fn.readfile(repo .. '/README.md'), '\n')
  local block = text:match('<!%-%- ' .. marker .. ' %-%->(.-)<!%-%- /' .. marker .. ' %-%->')
  truthy(block, 'README has the ' .. marker .. ' block')
  return (block:gsub('```lua', ''):gsub('```', ''):gsub('`', ''))
end

run('README lazy.nvim spec loads the plugin from the repo subfolder', function()
  -- What lazy.nvim does with the spec: clone the repo to plugin.dir, then call config(plugin).
  -- Here in a fresh Neovim whose runtimepath lacks editors/nvim.
  local spec_file = tmp .. '/lazy_spec.lua'
  vim.fn.writefile(vim.split('return ' .. readme_block('nvim%-lazy%-spec'), '\n'), spec_file)
  local probe = tmp .. '/lazy_probe.lua'
  vim.fn.writefile({
    'local spec = dofile(' .. vim.inspect(spec_file) .. ')',
    'assert(type(spec[1]) == "string" and type(spec.config) == "function", "a lazy.nvim spec")',
    'assert(vim.fn.exists(":XlchatOpen") == 0, "not loaded before config")',
    'spec.config({ name = "xlchat", dir = ' .. vim.inspect(repo) .. ' })',
    'local h = vim.api.nvim_get_runtime_file("lua/xlchat/health.lua", false)[1]',
    'io.stdout:write(("commands=%d health=%s\\n"):format(vim.fn.exists(":XlchatAsk"), tostring(h ~= nil)))',
  }, probe)
  local out = vim.fn.system({ vim.v.progpath, '--headless', '-u', 'NONE', '-i', 'NONE', '-n',
    '-c', 'luafile ' .. probe, '-c', 'qall!' })
  eq(vim.v.shell_error, 0, out)
  truthy(out:find('commands=2 health=true', 1, true), out)
end)

run('README packer spec names the plugin subfolder', function()
  local spec = assert(loadstring('local s; local function use(x) s = x end; ' .. readme_block('nvim%-packer%-spec') .. '; return s'))()
  eq(spec.rtp, 'editors/nvim')
  truthy(vim.loop.fs_stat(repo .. '/' .. spec.rtp .. '/plugin/xlchat.lua'), 'plugin/xlchat.lua under rtp')
  truthy(vim.loop.fs_stat(repo .. '/' .. spec.rtp .. '/lua/xlchat/health.lua'), 'lua/xlchat/health.lua under rtp')
end)

local function checkhealth_text()
  vim.cmd('checkhealth xlchat')
  return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
end

run(':checkhealth xlchat without the binary says how to install it', function()
  x.stop()
  local saved = x.config.cmd
  local ok, err = pcall(function()
    x.setup({ cmd = tmp .. '/no-such-dir/xlchat' })
    local text = checkhealth_text()
    truthy(text:find('does not exist', 1, true), text)
    truthy(text:find('apt install ./xlchat_', 1, true), text)
    truthy(not text:find('server check', 1, true), 'no server started: ' .. text)
    -- A file without its x bit.
    local plain = tmp .. '/xlchat-noexec'
    vim.fn.writefile({ '#!/bin/sh' }, plain)
    x.setup({ cmd = plain })
    text = checkhealth_text()
    truthy(text:find('is not executable', 1, true), text)
    truthy(text:find("chmod +x '" .. plain .. "'", 1, true), text)
    -- Not set, not on PATH, not installed.
    local path, installed = vim.env.PATH, x.installed_paths
    x.config.cmd = nil
    local xb = vim.env.XLCHAT_BIN
    vim.env.XLCHAT_BIN = nil
    vim.env.PATH = tmp .. '/empty-path'
    x.installed_paths = { tmp .. '/nowhere/xlchat' }
    local ok2, text2 = pcall(checkhealth_text)
    vim.env.PATH, x.installed_paths, vim.env.XLCHAT_BIN = path, installed, xb
    truthy(ok2, text2)
    truthy(text2:find('xlchat binary not found (not on PATH', 1, true), text2)
    truthy(text2:find('apt install ./xlchat_', 1, true), text2)
    -- And a request says the same, without starting anything.
    x.setup({ cmd = tmp .. '/no-such-dir/xlchat' })
    local e = await(function(cb) x.ensure(cb) end, 3000)
    truthy(e and e.message:find('does not exist', 1, true), vim.inspect(e))
  end)
  x.setup({ cmd = saved })
  if not ok then error(err, 0) end
end)

x.stop()
vim.fn.jobstop(job)
log(('nvim: %d passed, %d failed, %d skipped (%s)'):format(passed, failed, skipped, tostring(vim.version().major) .. '.' .. vim.version().minor .. '.' .. vim.version().patch))
vim.cmd((failed > 0 and 'cquit ' .. failed) or 'qall!')
