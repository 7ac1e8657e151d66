import Testing

@Test func placeholder_agent() {}
