import Testing

@Test func placeholder_XLChatLLMTests() {}
