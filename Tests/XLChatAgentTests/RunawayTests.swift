import Foundation
import Testing
@testable import XLChatAgent
import XLChatIndex
import XLChatLLM
import XLChatTestSupport
import XLChatWorkbook

/// A reply the model runs away in (llama-cpp-python applies no max_tokens inside a tool call):
/// xlchat stops it at its bound, cancels the request, and answers within the step limit.
@Suite(.timeLimit(.minutes(2))) struct RunawayTests {
    func analyst(_ f: Fixture, _ server: ScriptedModelServer, seconds: Double? = 1, maxTokens: Int = 512, maxSteps: Int = 4) throws -> Analyst {
        Analyst(client: OllamaClient(baseURL: server.baseURL, policy: HTTPPolicy(firstByteTimeout: 30, stallTimeout: 30, maxAttempts: 1)),
                index: f.index, embedder: HashingEmbedder(), sessions: try f.sessions(),
                options: AgentOptions(maxSteps: maxSteps, chat: ChatOptionsValue(temperature: 0, maxTokens: maxTokens), replySeconds: seconds))
    }

    /// The first reply (a tool call) never ends within its bound: it is stopped after ~1 s,
    /// the server sees the disconnect, and the question is asked again without tools (SQL in
    /// a fenced block), which answers it.
    @Test func toolCallThatRunsAwayFallsBackToFencedSQL() async throws {
        let f = try await Fixture()
        let amount = f.column("Amount").name
        let sql = "SELECT SUM(\"\(amount)\") AS total FROM \"\(f.table.name)\""
        let server = try await startServer([.stream([.wait(20), sqlCall(sql)]),
                                            .text(["```sql\n\(sql)\n```"]),
                                            .text(["The total is 2467.75."])])
        defer { Task { await server.shutdown() } }
        let started = Date()
        let answer = try await analyst(f, server).ask(outline: f.outline, question: "What is the total amount?", model: "test-chat")
        let seconds = Date().timeIntervalSince(started)
        #expect(seconds < 8, "took \(seconds) s")
        #expect(answer.usage.first?.outcome == "runaway")
        #expect(answer.usedFallback && answer.answer.contains("2467.75"), "\(answer.answer)")
        #expect(answer.steps.map(\.tool) == ["sql"] && answer.steps[0].ok && !answer.citations.isEmpty)
        #expect(answer.usage.count <= 4)
        // The stopped request was cancelled (the server saw the client go), not left running.
        for _ in 0..<50 where server.disconnectCount == 0 { try await Task.sleep(nanoseconds: 20_000_000) }
        #expect(server.disconnectCount >= 1)
    }

    /// After a tool found something, a reply that runs away ends with the tools' summary.
    @Test func runawayAfterAToolEndsWithTheToolsSummary() async throws {
        let f = try await Fixture()
        let amount = f.column("Amount").name
        let server = try await startServer([.stream([sqlCall("SELECT SUM(\"\(amount)\") AS total FROM \"\(f.table.name)\"")]),
                                            .stream([.wait(20), sqlCall("SELECT 1")]),
                                            .stream([.wait(20), .text("late")])])
        defer { Task { await server.shutdown() } }
        let started = Date()
        let answer = try await analyst(f, server).ask(outline: f.outline, question: "total?", model: "test-chat")
        #expect(Date().timeIntervalSince(started) < 8)
        #expect(answer.answer.contains("The model stopped before answering") && answer.answer.contains("xlchat stopped the reply"), "\(answer.answer)")
        #expect(answer.answer.contains("2467.75") && !answer.citations.isEmpty)
        #expect(answer.usage.map(\.outcome) == ["ok", "runaway"])
    }

    /// A text reply that streams far past its token limit (a server that ignores max_tokens)
    /// is cut at twice the limit: what streamed is the answer; nothing hangs.
    @Test func textThatRunsPastItsLimitIsCut() async throws {
        let f = try await Fixture()
        let server = try await startServer([.stream(Array(repeating: .text("The total is 2467.75 and so on and on. "), count: 400))])
        defer { Task { await server.shutdown() } }
        let log = EventLog()
        let answer = try await analyst(f, server, seconds: nil, maxTokens: 20)
            .ask(outline: f.outline, question: "total?", model: "test-chat") { log.add($0) }
        let limit = Int(Double(20 * 2 + 64) * TokenCounter.estimateBytesPerToken)
        #expect(answer.usage.first?.outcome == "runaway")
        #expect(answer.answer.utf8.count <= limit + 64 && answer.answer.hasPrefix("The total is 2467.75"))
        #expect(log.deltas.joined() == answer.answer)
    }

    /// Both the tool call and the fenced-SQL retry run away: the user gets a sentence saying
    /// so, not an error.
    @Test func runawayEverywhereStillAnswers() async throws {
        let f = try await Fixture()
        let server = try await startServer([.stream([.wait(20), sqlCall("SELECT 1")]), .stream([.wait(20), .text("x")])])
        defer { Task { await server.shutdown() } }
        let answer = try await analyst(f, server).ask(outline: f.outline, question: "total?", model: "test-chat")
        #expect(answer.answer.contains("The model stopped before answering") && answer.answer.contains("nothing was found"), "\(answer.answer)")
        #expect(answer.usage.map(\.outcome) == ["runaway", "runaway"])
    }

    /// Without a set bound, the time bound is learned from replies that streamed (30 s plus
    /// three times the time at the slowest speeds seen), and none before one has.
    @Test func boundIsLearnedFromStreamedReplies() async throws {
        let f = try await Fixture()
        let server = try await startServer([])
        defer { Task { await server.shutdown() } }
        let a = try analyst(f, server, seconds: nil, maxTokens: 100)
        let key = a.client.endpointDescription + "\u{1}" + "learn-model"
        #expect(a.replyBound(model: "learn-model", promptTokens: 1000, counter: .estimate).seconds == nil)
        Analyst.learnSpeed(key: key, usage: StepUsage(promptTokens: 1000, serverPromptTokens: 1000, replyTokens: 50, timeToFirstTokenMs: 10_000,
                                                     durationMs: 15_000, outline: .full, budgetActions: [], outcome: "ok", budgetMs: 0), streamedText: "")
        // 100 tokens/s reading, 10 tokens/s writing: 10 s + 10 s expected.
        let s = try #require(a.replyBound(model: "learn-model", promptTokens: 1000, counter: .estimate).seconds)
        #expect(abs(s - (30 + 3 * 20)) < 0.01)
        // A reply with no measurable pace teaches nothing.
        Analyst.learnSpeed(key: key, usage: StepUsage(promptTokens: 10, serverPromptTokens: 0, replyTokens: 0, timeToFirstTokenMs: 1,
                                                     durationMs: 1, outline: .full, budgetActions: [], outcome: "ok", budgetMs: 0), streamedText: "")
        #expect(a.replyBound(model: "learn-model", promptTokens: 1000, counter: .estimate).seconds == s)
    }
}
