// XLChatLLM: module under construction (see Modules.md).
