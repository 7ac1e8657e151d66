import Foundation
import Testing
@testable import XLChatAgent
import XLChatIndex
@testable import XLChatLLM
import XLChatTestSupport
import XLChatWorkbook

/// A wide order list: 200 rows, a long description each, so any SELECT * overflows a small context.
func wideCSV(rows: Int = 200) -> String {
    var lines = ["Order,Region,Product,Units,Revenue,Description"]
    let regions = ["North", "South", "East", "West"], products = ["Widget", "Gadget", "Sprocket", "Flange"]
    for i in 0..<rows {
        lines.append("ORD-\(1000 + i),\(regions[i % 4]),\(products[(i / 4) % 4]),\(i % 17 + 1),\(Double(i * 37 % 1000) + 0.25),"
                     + "\"Shipped by road freight to the \(regions[i % 4].lowercased()) depot; customer note number \(i) about packaging\"")
    }
    return lines.joined(separator: "\n")
}

func openAIAnalyst(_ f: Fixture, _ server: ScriptedModelServer, maxSteps: Int = 6, context: Int? = nil,
                   maxTokens: Int = 512) -> Analyst {
    Analyst(client: OpenAIClient(baseURL: server.baseURL, policy: HTTPPolicy(firstByteTimeout: 10, stallTimeout: 5, maxAttempts: 1)),
            index: f.index, embedder: HashingEmbedder(), sessions: nil,
            options: AgentOptions(maxSteps: maxSteps, chat: ChatOptionsValue(temperature: 0, maxTokens: maxTokens), contextTokens: context,
                                  statusInterval: 0.1))
}

@Suite(.timeLimit(.minutes(2))) struct ContextBudgetTests {
    /// A fake 2,048-token context that the server enforces and reports: two rounds of SELECT *
    /// (200 wide rows each) would overflow it; the budget compacts the first, shortens the
    /// second, and the answer comes with citations. No request is ever refused.
    @Test func overflowingToolResultsAreStillAnsweredWithCitations() async throws {
        let f = try await Fixture(csv: wideCSV())
        let t = f.table.name
        let revenue = f.column("Revenue").name
        let total = try f.index.query(outline: f.outline, sql: "SELECT SUM(\(revenue)) FROM \"\(t)\"").rows[0][0]
        #expect(ToolRunner.text(total) == "99350")
        let server = ScriptedModelServer(replies: [
            .stream([sqlCall("SELECT * FROM \"\(t)\"")]),
            .stream([sqlCall("SELECT * FROM \"\(t)\" WHERE \(f.column("Region").name) = 'West'")]),
            .stream([sqlCall("SELECT SUM(\(revenue)) AS total FROM \"\(t)\"")]),
            .text(["The total revenue is 99,350 on sheet \(f.sheet)."]),
        ], models: ["test-chat"])
        server.context = .init(enforcedTokens: 2048, reported: 2048)
        try await server.start()
        defer { Task { await server.shutdown() } }

        let answer = try await openAIAnalyst(f, server).ask(outline: f.outline, question: "What is the total revenue?", model: "test-chat")
        #expect(server.contextRefusals == 0, "the budget let a prompt overflow: \(server.promptTokens)")
        #expect(server.promptTokens.allSatisfy { $0 + 512 <= 2048 }, "\(server.promptTokens)")
        #expect(answer.answer == "The total revenue is 99,350 on sheet \(f.sheet).")
        let col = A1.columnName(f.column("Revenue").sourceColumn)
        #expect(answer.citations.map(\.a1) == ["\(f.sheet)!\(col)2:\(col)201"], "\(answer.citations.map(\.a1))")
        #expect(answer.contextWindow?.tokens == 2048 && answer.contextWindow?.source == .server)
        // Round 2 showed fewer rows of the first result; round 3 compacted the first two.
        #expect(answer.usage.count == 4)
        #expect(answer.usage[1].budgetActions.contains { $0.hasPrefix("showed ") && $0.hasSuffix(" of 50 result rows") }, "\(answer.usage[1].budgetActions)")
        #expect(answer.usage[2].budgetActions.contains { $0.contains("compacted 1 earlier round") }, "\(answer.usage[2].budgetActions)")
        let third = server.requests(path: "/v1/chat/completions")[2].json?["messages"]?.arrayValue ?? []
        let tools = third.filter { $0["role"]?.stringValue == "tool" }.compactMap { $0["content"]?.stringValue }
        #expect(tools.count == 2 && tools[0].hasPrefix("[Earlier result, shortened") && tools[0].contains("Cells: \(f.sheet)!"))
        #expect(tools[1].contains("more rows not shown; narrow the query"))
    }

    /// The server does not report its window (so the agent assumes 4,096) and refuses a
    /// prompt over 2,048 in each known wording: the agent learns the window from the message,
    /// retries that step within it, and answers. The window is remembered for the process.
    @Test(arguments: [ScriptedModelServer.ContextErrorStyle.openAI, .llamaCpp, .llamaCppPython, .noNumber])
    func contextErrorIsLearnedAndTheStepRetried(style: ScriptedModelServer.ContextErrorStyle) async throws {
        let f = try await Fixture(csv: wideCSV())
        let t = f.table.name
        let server = ScriptedModelServer(replies: [
            .stream([sqlCall("SELECT * FROM \"\(t)\"")]),
            .text(["There are 200 orders."]),
            .text(["Still 200 orders."]),
        ], models: ["test-chat"])
        server.context = .init(enforcedTokens: 2048, reported: nil, serveShow: false, errorStyle: style)
        try await server.start()
        defer { Task { await server.shutdown() } }
        let started = Date()
        let answer = try await openAIAnalyst(f, server).ask(outline: f.outline, question: "How many orders?", model: "test-chat")
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(server.contextRefusals >= 1)
        #expect(answer.answer == "There are 200 orders.", "\(answer.answer)")
        #expect(answer.usage.contains { $0.outcome == "contextExceeded" })
        #expect(answer.contextWindow?.source == .learned)
        if style != .noNumber {
            #expect(answer.contextWindow?.tokens == 2048)
            #expect(LearnedContext.get(endpoint: OpenAIClient(baseURL: server.baseURL).endpointDescription, model: "test-chat") == 2048)
            // The next question starts from the learned window.
            let again = try await openAIAnalyst(f, server).ask(outline: f.outline, question: "How many orders again?", model: "test-chat")
            #expect(again.contextWindow?.source == .learned && again.contextWindow?.tokens == 2048)
            #expect(again.answer == "Still 200 orders.")
        }
    }

    /// Outline tiers: each renders smaller than the one before; the matched-columns tier keeps
    /// the columns the question names and points at describe_table for the rest.
    @Test func outlineTiersShrinkInOrder() async throws {
        var header = ["Region", "Revenue"]
        for i in 0..<38 { header.append("Metric\(i)Value") }
        var rows = [header.joined(separator: ",")]
        for r in 0..<20 { rows.append((["North", "\(r * 10).5"] + (0..<38).map { "\($0 * r)" }).joined(separator: ",")) }
        let f = try await Fixture(csv: rows.joined(separator: "\n"))
        let builder = PromptBuilder(outline: f.outline, index: f.index, embedder: HashingEmbedder(), options: AgentOptions())
        let context = try await builder.build(question: "Which regions had the most revenue?")
        let sizes = OutlineDetail.allCases.map { context.system($0).utf8.count }
        #expect(zip(sizes, sizes.dropFirst()).allSatisfy { $0 > $1 }, "\(sizes)")
        let full = context.system(.full), matched = context.system(.matchedColumns)
        #expect(full.contains("sample rows:") && full.contains("Metric37Value"))
        #expect(!context.system(.noSamples).contains("sample rows:"))
        #expect(context.system(.noSamples).contains("(integer, C)"))
        #expect(!context.system(.noProfiles).contains(", C)"))
        #expect(matched.contains("Region (text)") && matched.contains("Revenue (real)") && !matched.contains("Metric0Value"), "\(matched)")
        #expect(matched.contains("and 38 more (describe_table)"))
        #expect(context.system(.tablesOnly).contains("(20 rows, 40 columns)"))

        // Through the agent: a window between what the matched tier and the one above it need
        // forces the matched tier; the model asks describe_table and gets every column.
        func need(_ d: OutlineDetail) -> Int {
            TokenCounter.estimate.count(messages: [.system(context.system(d)), .user("Which regions had the most revenue?")], tools: ToolRunner.definitions)
        }
        let window = (need(.matchedColumns) + need(.noProfiles)) / 2 + 128 + 64
        let server = try await startServer([
            .stream([.toolCalls([ScriptedToolCall(name: "describe_table", argumentsText: "{\"table\": \"\(f.table.name)\"}")])]),
            .text(["It has 40 columns."]),
        ])
        defer { Task { await server.shutdown() } }
        let analyst = Analyst(client: OllamaClient(baseURL: server.baseURL, policy: HTTPPolicy(firstByteTimeout: 10, stallTimeout: 5, maxAttempts: 1)),
                              index: f.index, embedder: HashingEmbedder(), sessions: nil,
                              options: AgentOptions(chat: ChatOptionsValue(maxTokens: 128), contextTokens: window))
        let answer = try await analyst.ask(outline: f.outline, question: "Which regions had the most revenue?", model: "test-chat")
        #expect(answer.usage[0].outline == .matchedColumns, "\(answer.usage[0]) window \(window)")
        let system = chatMessages(server, 0).first?["content"]?.stringValue ?? ""
        #expect(system.contains("Revenue (real)") && !system.contains("Metric5Value"))
        #expect(answer.steps.first?.tool == "describe_table" && answer.steps.first?.ok == true)
        let tool = chatMessages(server, 1).first { $0["role"]?.stringValue == "tool" }?["content"]?.stringValue ?? ""
        #expect(tool.contains("Metric0Value (integer, C)"), "\(tool.prefix(400))")
        // Alone, describe_table lists every column, with a few rows.
        let runner = ToolRunner(outline: f.outline, index: f.index, embedder: HashingEmbedder(), options: AgentOptions())
        let described = await runner.run(ToolCall(name: "describe_table", arguments: ["table": .string(f.table.name.uppercased())]))
        #expect(described.step.ok && described.resultText.contains("Metric37Value (integer, AN)") && described.resultText.contains("first rows:"))
        #expect(described.step.ranges == ["\(f.sheet)!A2:AN21"], "\(described.step.ranges)")
        let unknown = await runner.run(ToolCall(name: "describe_table", arguments: ["table": "nope"]))
        #expect(!unknown.step.ok && unknown.resultText.contains("the tables are: '\(f.table.name)'"))
        // Ollama was asked for a num_ctx that covers the prompt, within the window.
        let numCtx = server.requests(path: "/api/chat")[0].json?["options"]?["num_ctx"]?.intValue ?? 0
        #expect(numCtx <= max(2048, window) && numCtx >= answer.usage[0].promptTokens)
        #expect(server.truncatedPrompts == 0)
    }

    /// Earlier turns are dropped, oldest first, when nothing else makes room.
    @Test func oldTurnsAreDroppedLast() throws {
        let outline = OutlineText(outline: try WorkbookOutline.build(reader: try Workbooks.open(path: Self.tinyCSV()), path: Self.tinyCSV(),
                                                                     contentHash: "x"), questionWords: [])
        let context = PromptBuilder.Context(outline: outline, hitLines: [], hits: [])
        var history: [ChatMessage] = []
        for i in 0..<10 { history += [.user("question \(i) " + String(repeating: "words ", count: 60)), .assistant("answer \(i) " + String(repeating: "text ", count: 60))] }
        let convo = Conversation(context: context, history: history, question: "and now?")
        let budget = ContextBudget(window: 2048, replyTokens: 128, counter: .estimate)
        let fitted = budget.fit(convo, tools: ToolRunner.definitions)
        #expect(fitted.fits && fitted.plan.droppedTurns > 0 && fitted.plan.droppedTurns < history.count)
        #expect(fitted.tokens <= budget.available)
        // The newest turn is kept; the oldest is gone.
        #expect(fitted.messages.contains { $0.content.hasPrefix("answer 9") } && !fitted.messages.contains { $0.content.hasPrefix("question 0") })
        #expect(fitted.plan.detail == .tablesOnly)
    }

    static func tinyCSV() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-tiny-\(UUID().uuidString).csv").path
        try? Data("a,b\n1,2\n".utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Bad context metadata: each falls back to the stated default and the question still runs.
    @Test func badContextMetadataFallsBackToTheDefault() async throws {
        let f = try await Fixture()
        struct Case { var name: String; var sim: ScriptedModelServer.ContextSimulation; var openAI: Bool; var expectTokens: Int; var expectSource: ContextWindow.Source }
        let cases = [
            Case(name: "no /api/show", sim: .init(reported: 8192, serveShow: false), openAI: false, expectTokens: 4096, expectSource: .fallback),
            Case(name: "context 0", sim: .init(reported: 0), openAI: false, expectTokens: 4096, expectSource: .fallback),
            Case(name: "context 1e9", sim: .init(reported: 1e9), openAI: false, expectTokens: 4096, expectSource: .fallback),
            Case(name: "context as text", sim: .init(reported: "lots"), openAI: false, expectTokens: 4096, expectSource: .fallback),
            Case(name: "reported 8192", sim: .init(reported: 8192), openAI: false, expectTokens: 8192, expectSource: .server),
            Case(name: "openai 1e9", sim: .init(reported: 1e9), openAI: true, expectTokens: 4096, expectSource: .fallback),
            Case(name: "openai /props 3000", sim: .init(reported: 3000), openAI: true, expectTokens: 3000, expectSource: .server),
            Case(name: "tokenizer fails", sim: .init(reported: 4096, tokenizer: false), openAI: true, expectTokens: 4096, expectSource: .server),
        ]
        for c in cases {
            let server = try await startServer([.text(["Four rows."])])
            server.context = c.sim
            let client: any ModelClient = c.openAI
                ? OpenAIClient(baseURL: server.baseURL, policy: HTTPPolicy(firstByteTimeout: 10, stallTimeout: 5, maxAttempts: 1))
                : OllamaClient(baseURL: server.baseURL, policy: HTTPPolicy(firstByteTimeout: 10, stallTimeout: 5, maxAttempts: 1))
            let analyst = Analyst(client: client, index: f.index, embedder: HashingEmbedder(), sessions: nil, options: AgentOptions())
            let started = Date()
            let answer = try await analyst.ask(outline: f.outline, question: "How many rows?", model: "test-chat")
            #expect(Date().timeIntervalSince(started) < 8, "\(c.name)")
            #expect(answer.answer == "Four rows.", "\(c.name)")
            #expect(answer.contextWindow?.tokens == c.expectTokens && answer.contextWindow?.source == c.expectSource,
                    "\(c.name): \(String(describing: answer.contextWindow))")
            if c.expectSource == .fallback { #expect(answer.contextWindow?.detail.contains("assuming 4096 tokens") == true) }
            if c.name == "tokenizer fails" { #expect(answer.tokenCounting.hasPrefix("estimated")) }
            await server.shutdown()
        }
        // A setting overrides the server; an absurd setting falls back too.
        let server = try await startServer([.text(["ok"]), .text(["ok"])])
        server.context = .init(reported: 8192)
        defer { Task { await server.shutdown() } }
        for (setting, tokens, source) in [(3000, 3000, ContextWindow.Source.setting), (0, 4096, .fallback)] {
            let analyst = Analyst(client: OllamaClient(baseURL: server.baseURL), index: f.index, embedder: HashingEmbedder(), sessions: nil,
                                  options: AgentOptions(contextTokens: setting))
            let a = try await analyst.ask(outline: f.outline, question: "q \(setting)", model: "test-chat")
            #expect(a.contextWindow?.tokens == tokens && a.contextWindow?.source == source)
        }
        // An unknown model: /api/show says so, the lookup falls back, and the chat gives the
        // clear modelNotFound error, quickly.
        #expect(await OllamaClient(baseURL: server.baseURL).contextWindow(model: "no-such-model") == nil)
        let started = Date()
        await #expect { try await Analyst(client: OllamaClient(baseURL: server.baseURL), index: f.index, embedder: HashingEmbedder(), sessions: nil)
                .ask(outline: f.outline, question: "q", model: "no-such-model") } throws: { ($0 as? LLMError)?.kind == .modelNotFound }
        #expect(Date().timeIntervalSince(started) < 5)
    }

    /// The server's tokenizer calibrates the count: the scripted server's tokens are 4 bytes
    /// each, so the calibrated ratio is ~3.8 (5% under), not the 3.0 estimate.
    @Test func tokenizerCalibratesTheCount() async throws {
        let f = try await Fixture()
        let server = try await startServer([.text(["ok"])])
        server.context = .init(reported: 4096, tokenizer: true)
        defer { Task { await server.shutdown() } }
        let client = OpenAIClient(baseURL: server.baseURL)
        #expect(await client.tokenCount(model: "test-chat", text: String(repeating: "abcd", count: 100)) == 100)
        let a = try await Analyst(client: client, index: f.index, embedder: HashingEmbedder(), sessions: nil).ask(outline: f.outline, question: "q", model: "test-chat")
        // The scripted server counts 4 bytes a token, rounding up per message: 3.9x-4.00.
        #expect(a.tokenCounting.hasPrefix("the model server's tokenizer (4.00 bytes a token")
                || a.tokenCounting.hasPrefix("the model server's tokenizer (3.9"), "\(a.tokenCounting)")
        // Ours over-counts a little (template allowance per message and tool), never under.
        let ours = Double(a.usage[0].promptTokens), theirs = Double(server.promptTokens[0])
        #expect(ours >= theirs && (ours - theirs) / theirs < 0.25, "ours \(ours), server \(theirs)")
    }

    /// A server whose tokenizer endpoints both answer with an error is remembered as having
    /// none (no more calls); one that cannot be reached (a busy one-thread server times out) is
    /// asked again next time, the estimate serving meanwhile.
    @Test func failedTokenizerIsAskedAgainOnlyWhenItDidNotAnswer() async throws {
        let server = try await startServer([])
        server.context = .init(reported: 4096, tokenizer: false)
        defer { Task { await server.shutdown() } }
        let client = OpenAIClient(baseURL: server.baseURL)
        #expect(await client.tokenCount(model: "test-chat", text: "abcd") == nil)
        let asked = server.requests(path: "/tokenize").count
        #expect(asked == 1)
        #expect(await client.tokenCount(model: "test-chat", text: "abcd") == nil)
        #expect(server.requests(path: "/tokenize").count == asked)
        // Nothing listens on this port: not remembered, so a later call tries again (and the
        // same server, once up, would be used).
        let listener = try await startServer([])
        let port = listener.baseURL.port!
        await listener.shutdown()
        let gone = OpenAIClient(baseURL: URL(string: "http://127.0.0.1:\(port)/v1")!, policy: HTTPPolicy(firstByteTimeout: 2, stallTimeout: 2, maxAttempts: 1))
        #expect(await gone.tokenCount(model: "test-chat", text: "abcd") == nil)
        #expect(TokenizerRoutes.shared.get("http://127.0.0.1:\(port)") == nil)
    }

    @Test func contextErrorWordingsParse() {
        let cases: [(String, Int?)] = [
            (#"{"error":{"message":"This model's maximum context length is 4096 tokens. However, you requested 4608 tokens (4096 in the messages, 512 in the completion).","code":"context_length_exceeded"}}"#, 4096),
            (#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":8192}}"#, 8192),
            ("Requested tokens (4608) exceed context window of 2048", 2048),
            ("Trying to keep the first 5000 tokens when context the overflows. However, the model is loaded with context length of only 4,096 tokens, which is not enough.", 4096),
            ("prompt is too long for this model", nil),
            ("input exceeds context length (1000000000)", nil),
        ]
        for (text, n) in cases {
            #expect(ContextErrorParser.isContextError(text), "\(text)")
            #expect(ContextErrorParser.windowTokens(in: text) == n, "\(text)")
        }
        #expect(!ContextErrorParser.isContextError("model 'x' not found"))
        #expect(!ContextErrorParser.isContextError("invalid tool call arguments"))
    }
}
