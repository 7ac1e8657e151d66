import Testing

@Test func placeholder_XLChatWorkbookTests() {}
