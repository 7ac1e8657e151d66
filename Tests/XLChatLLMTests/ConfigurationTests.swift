import Foundation
import Testing
@testable import XLChatLLM

@Suite struct OllamaHostTests {
    /// OLLAMA_HOST forms and what Ollama's own client (envconfig.Host) makes of them, with a
    /// wildcard bind address turned into loopback for a client.
    @Test(arguments: [
        (nil, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("   ", "http://127.0.0.1:11434"),
        ("1.2.3.4", "http://1.2.3.4:11434"),
        ("example.com", "http://example.com:11434"),
        ("example.com:56789", "http://example.com:56789"),
        (":56789", "http://127.0.0.1:56789"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("0.0.0.0:8080", "http://127.0.0.1:8080"),
        ("http://1.2.3.4", "http://1.2.3.4:80"),
        ("https://1.2.3.4", "https://1.2.3.4:443"),
        ("http://1.2.3.4:56789", "http://1.2.3.4:56789"),
        ("https://example.com:56789/path", "https://example.com:56789/path"),
        ("http://example.com/ollama", "http://example.com:80/ollama"),
        ("[0:0:0:0:0:0:0:1]", "http://[0:0:0:0:0:0:0:1]:11434"),
        ("[::1]:56789", "http://[::1]:56789"),
        ("::1", "http://[::1]:11434"),
        ("[::]:11434", "http://[::1]:11434"),
        ("\"127.0.0.1:1234\"", "http://127.0.0.1:1234"),
        ("'localhost:1234'", "http://localhost:1234"),
        ("  localhost:1234  ", "http://localhost:1234"),
        ("example.com:notaport", "http://example.com:11434"),
        ("example.com:99999", "http://example.com:11434"),
        ("localhost:", "http://localhost:11434"),
    ] as [(String?, String)])
    func parses(_ raw: String?, _ expected: String) {
        #expect(OllamaHost.parse(raw).absoluteString == expected, "OLLAMA_HOST=\(raw ?? "<unset>")")
    }
}

/// Settings → model client (the environment itself is read by `ServerConfiguration.fromEnvironment`;
/// see XLChatServerTests' `ModelConfigurationTests`).
@Suite struct ConfigurationTests {
    func settings(provider: String = "ollama", ollamaHost: String? = nil, baseURL: String? = nil, apiKey: String? = nil,
                  streamTools: Bool = true) throws -> ModelClientConfiguration {
        try ModelClientConfiguration(provider: provider, ollamaHost: ollamaHost, baseURL: baseURL, apiKey: apiKey,
                                     openAIStreamsToolCalls: streamTools)
    }

    @Test func defaultsToOllamaOnLoopback() throws {
        let c = try settings()
        #expect(c.provider == .ollama)
        #expect(c.baseURL.absoluteString == "http://127.0.0.1:11434")
        #expect(c.apiKey == nil)
        #expect(c.makeClient().endpointDescription == "Ollama at http://127.0.0.1:11434")
    }

    @Test func readsOllamaHost() throws {
        let c = try settings(ollamaHost: "0.0.0.0:11439")
        #expect(c.baseURL.absoluteString == "http://127.0.0.1:11439")
    }

    @Test func openAIProviderWithBaseURLAndKey() throws {
        let c = try settings(provider: " OpenAI", ollamaHost: "ignored:1", baseURL: "http://127.0.0.1:8094", apiKey: "sk-test")
        #expect(c.provider == .openai)
        #expect(c.apiKey == "sk-test")
        let client = try #require(c.makeClient() as? OpenAIClient)
        // `/v1` is added to a bare server root, and kept when given.
        #expect(client.baseURL.absoluteString == "http://127.0.0.1:8094/v1")
        #expect(OpenAIClient(baseURL: URL(string: "http://h:1/v1/")!).baseURL.absoluteString == "http://h:1/v1")
    }

    @Test func toolStreamingCanBeTurnedOff() throws {
        let on = try settings(provider: "openai")
        #expect((on.makeClient() as? OpenAIClient)?.streamsToolCalls == true)
        let off = try settings(provider: "openai", streamTools: false)
        #expect((off.makeClient() as? OpenAIClient)?.streamsToolCalls == false)
        #expect(off.baseURL == ModelClientConfiguration.defaultOpenAIBaseURL)
    }

    @Test func baseURLOverridesOllamaHost() throws {
        let c = try settings(ollamaHost: ":1", baseURL: "http://10.0.0.2:9999")
        #expect(c.provider == .ollama)
        #expect(c.baseURL.absoluteString == "http://10.0.0.2:9999")
        // An empty base URL (an empty variable) counts as absent.
        #expect(try settings(ollamaHost: ":1", baseURL: " ").baseURL.absoluteString == "http://127.0.0.1:1")
    }

    @Test func rejectsUnknownProvider() {
        #expect { try settings(provider: "claude") } throws: { e in
            (e as? LLMError)?.kind == .invalidConfiguration && "\(e)".contains("ollama")
        }
    }

    @Test func rejectsBadBaseURL() {
        for bad in ["not a url", "ftp://host/v1", "127.0.0.1:8080"] {
            #expect(throws: LLMError.self, "\(bad)") { try settings(baseURL: bad) }
        }
    }
}

@Suite struct UnitTests {
    @Test func contextSizeGrowsWithThePrompt() {
        let small = ChatOptions().contextSize(messages: [.user("hi")], tools: [])
        #expect(small == 2048)
        let big = String(repeating: "revenue 2024 Q3 ", count: 2000)  // 32,000 bytes
        let size = ChatOptions(maxTokens: 512).contextSize(messages: [.system(big), .user("total?")], tools: [])
        #expect(size >= 32_000 / 3 + 512)
        #expect(size % 1024 == 0)
        #expect(ChatOptions(maxContext: 8192).contextSize(messages: [.system(big + big)], tools: []) == 8192)
        #expect(ChatOptions(numCtx: 3000).contextSize(messages: [.system(big)], tools: []) == 3000)
    }

    @Test func toolCallArgumentsAreKeptRawWhenMalformed() {
        let good = ToolCall(name: "sql", argumentsText: #"{"query":"SELECT 1"}"#)
        #expect(good.arguments?["query"] == "SELECT 1")
        for bad in [#"{"query": "SELECT 1"#, "SELECT * FROM t", #"["a"]"#, ""] {
            let call = ToolCall(name: "sql", argumentsText: bad)
            #expect(call.arguments == nil)
            #expect(call.argumentsText == bad)
        }
        // The test shim's convention for arguments it could not parse.
        let shim = ToolCall.fromWire(id: nil, name: "sql", arguments: ["_raw": "SELECT 1; DROP"])
        #expect(shim.arguments == nil && shim.argumentsText == "SELECT 1; DROP")
        #expect(ToolCall.fromWire(id: "c1", name: "sql", arguments: nil).arguments == [:])
        #expect(ToolCall.fromWire(id: nil, name: "sql", arguments: .number(3)).arguments == nil)
    }

    @Test func lineSplitterKeepsPartialLines() {
        var s = LineSplitter()
        #expect(s.push(Data("{\"a\":1}\n{\"b\"".utf8)) == ["{\"a\":1}"])
        #expect(s.push(Data(":2}\r\n\n".utf8)) == ["{\"b\":2}", ""])
        #expect(s.push(Data("tail".utf8)) == [])
        #expect(s.flush() == "tail")
        #expect(s.flush() == nil)
        // A multi-byte character split across chunks survives.
        let bytes = Array("é\n".utf8)
        #expect(s.push(Data(bytes[0..<1])) == [])
        #expect(s.push(Data(bytes[1...])) == ["é"])
    }

    @Test func jsonRoundTrip() throws {
        let v: LLMJSON = ["a": [1, 2.5, "x", true, nil], "b": ["c": false]]
        #expect(LLMJSON.parse(v.jsonText) == v)
        #expect(LLMJSON.parse("{bad") == nil)
        #expect(LLMJSON.parse("true") == .bool(true))
        #expect(LLMJSON.parse("1") == .number(1))
    }

    @Test func ollamaMessagesCarryToolCallsAndResults() {
        let call = ToolCall(id: "c1", name: "sql", arguments: ["query": "SELECT 1"])
        let bad = ToolCall(name: "sql", argumentsText: "SELECT oops")
        let body = OllamaClient().chatBody(model: "m", messages: [
            .user("q"), .assistant("", toolCalls: [call, bad]), .toolResult("1", for: call),
        ], tools: [], options: .init(temperature: 0, maxTokens: 100, stop: ["</s>"]))
        let msgs = body["messages"]?.arrayValue ?? []
        #expect(msgs.count == 3)
        #expect(msgs[1]["tool_calls"]?.arrayValue?[0]["function"]?["arguments"]?["query"] == "SELECT 1")
        #expect(msgs[1]["tool_calls"]?.arrayValue?[1]["function"]?["arguments"] == "SELECT oops")
        #expect(msgs[2]["tool_name"] == "sql" && msgs[2]["role"] == "tool")
        #expect(body["options"]?["num_predict"] == 100 && body["options"]?["temperature"] == 0)
        #expect(body["options"]?["stop"] == ["</s>"])
        #expect(body["tools"] == nil)
    }

    @Test func openAIMessagesPairToolResultsWithCallIds() {
        let a = ToolCall(name: "sql", argumentsText: "{}")
        let b = ToolCall(name: "search", argumentsText: "{}")
        let msgs = OpenAIClient.wireMessages([
            .assistant("", toolCalls: [a, b]),
            ChatMessage(role: .tool, content: "r2", toolName: "search"),
            ChatMessage(role: .tool, content: "r1", toolName: "sql"),
        ])
        let ids = msgs[0]["tool_calls"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        #expect(ids == ["call_0_0", "call_0_1"])
        #expect(msgs[1]["tool_call_id"] == "call_0_1")
        #expect(msgs[2]["tool_call_id"] == "call_0_0")
        #expect(msgs[0]["tool_calls"]?.arrayValue?[0]["function"]?["arguments"] == "{}")
    }
}
