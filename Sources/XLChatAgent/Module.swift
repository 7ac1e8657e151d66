// XLChatAgent: module under construction (see Modules.md).
