// XLChatLLM: model clients. `ModelClient` is the API (chat streaming `ChatEvent`s, embed,
// models, version); `OllamaClient` and `OpenAIClient` implement it over SwiftNIO for plain
// HTTP (NIOHTTPTransport.swift: URLSession busy-waits on Linux) and URLSession for https
// (HTTPTransport.swift); `ModelClientConfiguration(provider:ollamaHost:baseURL:…)` picks one
// from the settings, which the server's `ServerConfiguration.fromEnvironment` reads (the one
// reader of the environment). Errors are `LLMError`.
