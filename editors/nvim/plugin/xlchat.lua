-- xlchat commands. Needs Neovim 0.7.2 or newer.
if vim.g.loaded_xlchat then return end
vim.g.loaded_xlchat = true

local function x() return require('xlchat') end

vim.api.nvim_create_user_command('XlchatOpen', function(o) x().open(o.args ~= '' and o.args or nil) end,
  { nargs = '?', complete = 'file', desc = 'xlchat: open a workbook (default: the current buffer)' })
vim.api.nvim_create_user_command('XlchatAsk', function(o) x().ask(o.args) end,
  { nargs = '+', desc = 'xlchat: ask about the current workbook' })
vim.api.nvim_create_user_command('XlchatWorkspace', function(o) x().workspace(o.args) end,
  { nargs = '?', complete = 'dir', desc = 'xlchat: open every workbook under a folder (default: the current directory)' })
vim.api.nvim_create_user_command('XlchatQuery', function(o) x().query(o.args) end,
  { nargs = '+', desc = 'xlchat: read-only SQL over the current workbook or workspace' })
vim.api.nvim_create_user_command('XlchatTrace', function(o) x().trace(o.args) end,
  { nargs = '?', desc = 'xlchat: how a cell is computed (default: the citation under the cursor)' })
vim.api.nvim_create_user_command('XlchatIndex', function() x().index() end,
  { nargs = 0, desc = 'xlchat: build the current workbook\'s index' })
vim.api.nvim_create_user_command('XlchatCancel', function() x().cancel() end,
  { nargs = 0, desc = 'xlchat: cancel the running question' })
vim.api.nvim_create_user_command('XlchatStop', function() x().stop() end,
  { nargs = 0, desc = 'xlchat: stop the server' })

local group = vim.api.nvim_create_augroup('xlchat', { clear = true })
vim.api.nvim_create_autocmd('BufReadCmd', {
  group = group, pattern = 'xlchat://range/*',
  callback = function(ev) x().read_range_buffer(ev.buf, ev.match) end,
})
vim.api.nvim_create_autocmd('VimLeavePre', {
  group = group, callback = function() if x()._state.rpc then x().stop() end end,
})
