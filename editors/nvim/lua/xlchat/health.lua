-- :checkhealth xlchat — binary found, its version, the server starts, model server reachable.
local M = {}

local h = vim.health or {}
local start = h.start or h.report_start or require('health').report_start
local ok = h.ok or h.report_ok or require('health').report_ok
local warn = h.warn or h.report_warn or require('health').report_warn
local error = h.error or h.report_error or require('health').report_error
local info = h.info or h.report_info or require('health').report_info

local function tcp_reachable(host, port, timeout)
  local done, result = false, nil
  local sock = vim.loop.new_tcp()
  sock:connect(host, port, function(err) result = err; done = true end)
  vim.wait(timeout, function() return done end, 10)
  if not sock:is_closing() then sock:close() end
  if not done then return false, 'timed out' end
  return result == nil, result
end

function M.check()
  local x = require('xlchat')
  start('xlchat')
  if vim.fn.has('nvim-0.7.2') == 1 then ok('Neovim ' .. tostring(vim.version().major) .. '.' .. vim.version().minor)
  else error('Neovim 0.7.2 or newer is needed') end
  local bin, problem = x.locate_binary()
  if not bin then
    error('xlchat binary: ' .. problem, {
      x.install_hint,
      'Or point the plugin at a binary: require("xlchat").setup({ cmd = "/path/to/xlchat" }) or $XLCHAT_BIN',
    })
    return
  end
  ok('binary: ' .. bin)
  local version = vim.fn.system({ bin, '--version' })
  if vim.v.shell_error == 0 then ok('version: ' .. vim.trim(version)) else error('`xlchat --version` failed: ' .. version) end

  local err, init = x.request_sync('server/health', {}, 10000)
  if err then
    error('server/health failed: ' .. (err.message or vim.inspect(err)))
  else
    for name, v in pairs(init.checks or {}) do
      if v == 'ok' then ok('server check ' .. name .. ': ok') else warn('server check ' .. name .. ': ' .. tostring(v)) end
    end
    if x.has_method('chat/ask') then ok('chat/ask available') else warn('this server has no chat/ask (too old?)') end
  end

  local env = x.config.env or {}
  local provider = env.XLCHAT_PROVIDER or vim.env.XLCHAT_PROVIDER or 'ollama'
  if provider == 'ollama' then
    local hostport = env.OLLAMA_HOST or vim.env.OLLAMA_HOST or '127.0.0.1:11434'
    local hp = hostport:gsub('^%a+://', ''):gsub('/.*$', '')
    local host, port = hp:match('^(.-):(%d+)$')
    host, port = host or hp, tonumber(port) or 11434
    if host == 'localhost' or host == '' or host == '0.0.0.0' then host = '127.0.0.1' end
    local reachable, why = tcp_reachable(host, port, 2000)
    if reachable then ok(('model server (Ollama) reachable at %s:%d'):format(host, port))
    else warn(('model server (Ollama) not reachable at %s:%d: %s'):format(host, port, tostring(why)),
      { 'Start Ollama (`ollama serve`) or set OLLAMA_HOST' }) end
  else
    info('provider ' .. provider .. ': base URL ' .. tostring(env.XLCHAT_BASE_URL or vim.env.XLCHAT_BASE_URL))
  end
end

return M
