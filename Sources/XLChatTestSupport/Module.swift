// XLChatTestSupport: module under construction (see Modules.md).
