-- Neovim's built-in LSP client against `trainlint server`, headless:
--   TRAINLINT_PYTHON=python nvim --headless --clean -n -i NONE -c "luafile lsp_diagnostics.lua" train.py
-- Prints one line per diagnostic (`line:col code severity message`), 0-based as LSP,
-- then exits 0; exits 1 if none arrive in time. Works with Neovim 0.7+.
local python = os.getenv('TRAINLINT_PYTHON') or 'python3'
local bufnr = vim.api.nvim_get_current_buf()
local root = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ':p:h')

local client_id = vim.lsp.start_client({
  name = 'trainlint',
  cmd = { python, '-m', 'trainlint', 'server' },
  root_dir = root,
})
vim.lsp.buf_attach_client(bufnr, client_id)

local function found()
  return #vim.diagnostic.get(bufnr) > 0
end

local ok = vim.wait(tonumber(os.getenv('TRAINLINT_WAIT_MS') or '30000'), found, 50)
for _, d in ipairs(vim.diagnostic.get(bufnr)) do
  io.stdout:write(string.format('%d:%d %s %d %s\n', d.lnum, d.col, tostring(d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)), d.severity, d.message))
end
io.stdout:flush()
vim.lsp.stop_client(client_id)
vim.wait(2000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 50)
vim.cmd(ok and 'qa!' or 'cquit 1')
