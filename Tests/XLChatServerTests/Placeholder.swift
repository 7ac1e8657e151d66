import Testing

@Test func placeholder_XLChatServerTests() {}
