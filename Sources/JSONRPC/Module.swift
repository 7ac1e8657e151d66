// JSONRPC: module under construction (see Modules.md).
