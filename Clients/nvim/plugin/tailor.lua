-- Loaded by Neovim from the runtime path; call require("tailor").setup{} in your config.
if vim.g.loaded_tailor then return end
vim.g.loaded_tailor = true
