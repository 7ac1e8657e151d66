// XLChatIndex: module under construction (see Modules.md).
