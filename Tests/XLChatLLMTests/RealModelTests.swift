import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import XLChatLLM

/// Where the real small model is served (see ../shared/design/llm-for-tests.md):
/// `serve-small-model.sh start` puts an Ollama-API shim on OLLAMA_HOST (default
/// 127.0.0.1:11439 here) and llama-cpp-python's OpenAI-compatible server on :8094
/// (`XLCHAT_TEST_OPENAI_URL` overrides).
enum RealServer {
    static let chatModel = "smollm2:135m"
    static let embedModel = "all-minilm:l6-v2"
    static let env = ProcessInfo.processInfo.environment

    static let ollamaURL: URL = {
        if let h = env["OLLAMA_HOST"], !h.isEmpty { return OllamaHost.parse(h) }
        return URL(string: "http://127.0.0.1:11439")!
    }()
    static let openAIURL = URL(string: env["XLCHAT_TEST_OPENAI_URL"] ?? "http://127.0.0.1:8094/v1")!

    /// Swift Testing's `.enabled(if:)` takes a synchronous condition, so the probe is a
    /// blocking GET (2 s timeout) made once when the suite is planned. It checks the server
    /// answers and lists the chat model.
    static func probe(_ url: URL, listing model: String) -> String? {
        let sem = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var result: String? = "no answer within 2 s" }
        let box = Box()
        var req = URLRequest(url: url)
        req.timeoutInterval = 2
        URLSession.shared.dataTask(with: req) { data, response, error in
            if let error { box.result = "\(error.localizedDescription)" }
            else if (response as? HTTPURLResponse)?.statusCode != 200 { box.result = "HTTP \((response as? HTTPURLResponse)?.statusCode ?? 0)" }
            else if let data, String(decoding: data, as: UTF8.self).contains(model) { box.result = nil }
            else { box.result = "the server does not list \(model)" }
            sem.signal()
        }.resume()
        _ = sem.wait(timeout: .now() + 3)
        return box.result
    }

    static let ollamaProblem = probe(ollamaURL.appendingPathComponent("api/tags"), listing: chatModel)
    static let openAIProblem = probe(openAIURL.appendingPathComponent("models"), listing: chatModel)

    static let anyAvailable = ollamaProblem == nil || openAIProblem == nil
    static var neitherNote: Comment {
        Comment(rawValue: "skipped: no model server with \(chatModel) at \(ollamaURL.absoluteString) (\(ollamaProblem ?? "?")) nor at \(openAIURL.absoluteString) (\(openAIProblem ?? "?")). Start one with /work/shared/tools/llm/serve-small-model.sh start /tmp/llm-server")
    }

    static func skipNote(_ problem: String?, _ url: URL) -> Comment {
        Comment(rawValue: "skipped: no model server with \(chatModel) at \(url.absoluteString) (\(problem ?? "?")). Start one with /work/shared/tools/llm/serve-small-model.sh start /tmp/llm-server")
    }
}

func seconds(_ x: Double?) -> String { x.map { String(format: "%.3f s", $0) } ?? "-" }

/// Real HTTP against a real (tiny) model. Assertions are on shape, never on the model's facts.
@Suite(.serialized) struct RealModelTests {
    static let clients: [(String, any ModelClient, String?)] = [
        ("ollama", OllamaClient(baseURL: RealServer.ollamaURL), RealServer.ollamaProblem),
        // llama-cpp-python cannot stream replies to requests with tools.
        ("openai", OpenAIClient(baseURL: RealServer.openAIURL, streamsToolCalls: false), RealServer.openAIProblem),
    ]

    func run(_ name: String, _ body: (any ModelClient) async throws -> Void) async throws {
        guard let (_, client, problem) = Self.clients.first(where: { $0.0 == name }) else { return }
        if let problem {
            // A recorded skip: visible in the output, not a pass that pretends to have run.
            print("RealModelTests[\(name)]: \(RealServer.skipNote(problem, name == "ollama" ? RealServer.ollamaURL : RealServer.openAIURL).rawValue)")
            return
        }
        try await body(client)
    }

    @Test("streams a chat", .enabled(if: RealServer.anyAvailable, RealServer.neitherNote),
          arguments: ["ollama", "openai"])
    func streamsAChat(_ name: String) async throws {
        try await run(name) { client in
            #expect(try await client.hasModel(RealServer.chatModel))
            let version = try await client.version()
            var deltas = 0
            var text = ""
            var stats: ChatStats?
            var overheads: [Double] = []
            var firstSeen: Double?
            for try await e in client.chat(model: RealServer.chatModel,
                                           messages: [.system("You are brief."), .user("Name three colours.")],
                                           tools: [], options: ChatOptions(temperature: 0, maxTokens: 48)) {
                switch e {
                case .delta(let d):
                    if firstSeen == nil { firstSeen = Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
                    deltas += 1; text += d
                case .toolCalls: Issue.record("no tools were offered")
                case .done(let s): stats = s
                }
            }
            let s = try #require(stats)
            #expect(deltas > 1, "the reply streams in pieces")
            #expect(!text.isEmpty)
            // The servers here report no token counts when streaming; each delta is one token, so
            // the count shows max_tokens reached the server.
            #expect(deltas <= 48 + 1)
            #expect(s.doneReason != nil)
            if let seen = firstSeen, let arrived = s.firstDeltaBytesArrivedAt { overheads.append((seen - arrived) * 1000) }
            print("RealModelTests[\(name)] \(client.endpointDescription) version=\(version): \(deltas) deltas, \(s.evalTokens) tokens, prompt \(s.promptTokens) tokens; first byte \(seconds(s.timeToFirstByte)), first delta \(seconds(s.timeToFirstDelta)), server TTFT \(seconds(s.serverTimeToFirstToken)), total \(seconds(s.totalTime)); client overhead (bytes arrived -> consumer saw delta) \(overheads.map { String(format: "%.3f ms", $0) }.joined()); text: \(text.prefix(80).debugDescription)")
        }
    }

    @Test("tool-call round trip", .enabled(if: RealServer.anyAvailable, RealServer.neitherNote),
          .timeLimit(.minutes(3)), arguments: ["ollama", "openai"])
    func toolCallRoundTrip(_ name: String) async throws {
        try await run(name) { client in
            let tool = ToolDefinition(name: "sql", description: "Run one read-only SQL query over the workbook's tables and return the rows.",
                                      parameters: ["type": "object", "properties": ["query": ["type": "string", "description": "SQLite SELECT"]],
                                                   "required": ["query"]])
            var messages: [ChatMessage] = [
                .system("You answer questions about a spreadsheet. Table sales(region TEXT, revenue REAL). Use the sql tool."),
                .user("What is the total revenue? Use the sql tool."),
            ]
            let started = Date()
            let first = try await client.complete(model: RealServer.chatModel, messages: messages, tools: [tool],
                                                  options: ChatOptions(temperature: 0, maxTokens: 96))
            try #require(!first.toolCalls.isEmpty, "the model was expected to call the tool; it said: \(first.text.prefix(120))")
            for call in first.toolCalls {
                #expect(!call.name.isEmpty)
                // Shape only: valid arguments parse to an object, malformed ones are kept raw.
                #expect(call.arguments != nil || !call.argumentsText.isEmpty)
            }
            messages.append(.assistant(first.text, toolCalls: first.toolCalls))
            for call in first.toolCalls {
                messages.append(.toolResult(call.hasValidArguments ? #"[{"total": 18.0}]"#
                                                                   : "error: the arguments were not valid JSON", for: call))
            }
            let second = try await client.complete(model: RealServer.chatModel, messages: messages, tools: [tool],
                                                   options: ChatOptions(temperature: 0, maxTokens: 96))
            #expect(!second.text.isEmpty || !second.toolCalls.isEmpty, "the model answered or called again")
            print("RealModelTests[\(name)] tool round trip in \(String(format: "%.1f", Date().timeIntervalSince(started))) s: first call \(first.toolCalls.map { "\($0.name)(\($0.argumentsText.prefix(80)))\($0.hasValidArguments ? "" : " [malformed]")" }); second reply: text \(second.text.prefix(80).debugDescription), \(second.toolCalls.count) call(s)")
        }
    }

    @Test("cancelling a real stream ends it promptly", .enabled(if: RealServer.anyAvailable, RealServer.neitherNote),
          arguments: ["ollama", "openai"])
    func cancelsPromptly(_ name: String) async throws {
        try await run(name) { client in
            let first = AsyncStream<Void>.makeStream()
            let consumer = Task { () -> Int in
                var n = 0
                do {
                    for try await e in client.chat(model: RealServer.chatModel, messages: [.user("Write a long story about a spreadsheet.")],
                                                   tools: [], options: ChatOptions(temperature: 0, maxTokens: 400)) {
                        if case .delta = e { n += 1; first.continuation.yield() }
                    }
                } catch {}
                return n
            }
            for await _ in first.stream { break }
            let t0 = Date()
            consumer.cancel()
            let n = await consumer.value
            let took = Date().timeIntervalSince(t0)
            #expect(took < 1.0)
            #expect(n < 400, "the stream stopped early")
            print("RealModelTests[\(name)] cancel: stream ended \(String(format: "%.1f", took * 1000)) ms after cancel, \(n) deltas seen")
        }
    }

    @Test("embeds", .enabled(if: RealServer.anyAvailable, RealServer.neitherNote),
          arguments: ["ollama", "openai"])
    func embeds(_ name: String) async throws {
        try await run(name) { client in
            let texts = ["Revenue by region for 2024", "North region sales in Q3", "The cat sat on the mat"]
            let vectors = try await client.embed(model: RealServer.embedModel, texts: texts)
            #expect(vectors.count == 3)
            for v in vectors {
                #expect(v.count == 384)
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                #expect(abs(norm - 1) < 1e-3, "unit length, norm \(norm)")
            }
            let cos01 = zip(vectors[0], vectors[1]).reduce(0) { $0 + $1.0 * $1.1 }
            let cos02 = zip(vectors[0], vectors[2]).reduce(0) { $0 + $1.0 * $1.1 }
            print("RealModelTests[\(name)] embeddings: 3 × \(vectors[0].count), cos(sales, sales) \(String(format: "%.3f", cos01)), cos(sales, cat) \(String(format: "%.3f", cos02))")
        }
    }

    /// llama-cpp-python has no llama.cpp `/tokenize`: the client finds its
    /// `/extras/tokenize/count` and counts with the model's own tokenizer (the figure equals the
    /// token list `/extras/tokenize` gives); a server without any tokenizer gives nil.
    @Test("counts tokens with the server's tokenizer", .enabled(if: RealServer.openAIProblem == nil, RealServer.skipNote(RealServer.openAIProblem, RealServer.openAIURL)))
    func countsTokensWithTheServersTokenizer() async throws {
        let client = OpenAIClient(baseURL: RealServer.openAIURL, policy: HTTPPolicy(firstByteTimeout: 10, stallTimeout: 10, maxAttempts: 1))
        let text = "Which region had the highest revenue, and how much? SELECT \"Region\", SUM(Revenue) FROM Orders_2024"
        let n = try #require(await client.tokenCount(model: RealServer.chatModel, text: text))
        var root = RealServer.openAIURL.absoluteString
        if root.hasSuffix("/v1") { root.removeLast(3) }
        var req = URLRequest(url: URL(string: root + "/extras/tokenize")!)
        req.httpMethod = "POST"
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        req.httpBody = Data(LLMJSON.object(["input": .string(text), "model": .string(RealServer.chatModel)]).jsonText.utf8)
        let (data, _) = try await URLSession.shared.data(for: req)
        let tokens = try #require(LLMJSON.parse(data)?["tokens"]?.arrayValue)
        print("RealModelTests tokenizer: \(n) tokens for \(text.utf8.count) bytes")
        #expect(n == tokens.count && n > 10 && n < text.utf8.count)
        // The Ollama-API shim has no tokenizer endpoint: nil, and the caller estimates.
        let none = OpenAIClient(baseURL: RealServer.ollamaURL, policy: HTTPPolicy(firstByteTimeout: 5, stallTimeout: 5, maxAttempts: 1))
        #expect(await none.tokenCount(model: RealServer.chatModel, text: text) == nil)
    }
}
