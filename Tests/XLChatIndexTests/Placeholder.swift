import Testing

@Test func placeholder_XLChatIndexTests() {}
