// XLChatProtocol: module under construction (see Modules.md).
