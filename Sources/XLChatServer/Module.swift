// XLChatServer: module under construction (see Modules.md).
