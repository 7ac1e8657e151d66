// XLChatLLM: model clients. `ModelClient` is the API (chat streaming `ChatEvent`s, embed,
// models, version); `OllamaClient` and `OpenAIClient` implement it over SwiftNIO for plain
// HTTP (NIOHTTPTransport.swift: URLSession busy-waits on Linux) and URLSession for https
// (HTTPTransport.swift); `ModelClientConfiguration.fromEnvironment()` picks one from
// XLCHAT_PROVIDER / XLCHAT_BASE_URL / XLCHAT_API_KEY / OLLAMA_HOST. Errors are `LLMError`.
