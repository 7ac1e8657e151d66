import Foundation
import Testing
@testable import XLChatAgent
import XLChatIndex
import XLChatLLM
import XLChatTestSupport
import XLChatWorkbook

@Suite(.timeLimit(.minutes(2))) struct RecoveryAndStatusTests {
    /// A reply that is neither text nor a tool call is answered with a note, and the model
    /// asked again within the step limit.
    @Test func emptyReplyIsFedBackAndRetried() async throws {
        let f = try await Fixture()
        let server = try await startServer([.stream([]), .text(["There are 4 orders."])])
        defer { Task { await server.shutdown() } }
        let answer = try await f.analyst(server).ask(outline: f.outline, question: "How many orders?", model: "test-chat")
        #expect(answer.answer == "There are 4 orders.")
        #expect(answer.usage.map(\.outcome) == ["empty", "ok"])
        let second = chatMessages(server, 1)
        #expect(second.last?["content"]?.stringValue?.contains("reply was empty") == true)
    }

    /// After a tool found something, a model failure (HTTP 500 with a JSON body, a broken
    /// stream) ends with what the tools found: never the raw body.
    @Test(arguments: [
        ScriptedModelServer.Reply.httpError(status: 500, body: #"{"error":{"message":"CUDA out of memory","type":"server_error"}}"#),
        .httpError(status: 400, body: #"{"error":"the model runner stopped"}"#),
        .stream([.text("The"), .error("model runner crashed")]),
    ])
    func modelFailureAfterAToolEndsWithTheToolsSummary(failure: ScriptedModelServer.Reply) async throws {
        let f = try await Fixture()
        let amount = f.column("Amount").name
        let server = try await startServer([.stream([sqlCall("SELECT SUM(\(amount)) AS total FROM \"\(f.table.name)\"")]), failure])
        defer { Task { await server.shutdown() } }
        let answer = try await f.analyst(server).ask(outline: f.outline, question: "total?", model: "test-chat")
        #expect(answer.answer.contains("The model stopped before answering"), "\(answer.answer)")
        #expect(answer.answer.contains("2467.75"))
        #expect(!answer.answer.contains("{\"error\""))
        #expect(!answer.citations.isEmpty)
    }

    /// Status events: for each model call, `prompt` (with the token count), `waiting` while
    /// the server holds back its reply, then `generating`; all before the call's deltas.
    @Test func statusEventsShowTheWait() async throws {
        let f = try await Fixture()
        let amount = f.column("Amount").name
        let server = try await startServer([
            .stream([sqlCall("SELECT SUM(\(amount)) AS total FROM \"\(f.table.name)\"")], headerDelay: 0.45),
            .stream([.text("Total 2467.75.")], headerDelay: 0.3),
        ])
        defer { Task { await server.shutdown() } }
        let log = EventLog()
        let analyst = Analyst(client: OllamaClient(baseURL: server.baseURL, policy: HTTPPolicy(firstByteTimeout: 10, stallTimeout: 5, maxAttempts: 1)),
                              index: f.index, embedder: HashingEmbedder(), sessions: nil, options: AgentOptions(statusInterval: 0.1))
        let answer = try await analyst.ask(outline: f.outline, question: "total?", model: "test-chat") { log.add($0) }
        #expect(answer.answer == "Total 2467.75.")
        let statuses = log.events.compactMap { e -> AgentStatus? in if case .status(let s) = e { return s }; return nil }
        for step in [1, 2] {
            let mine = statuses.filter { $0.step == step }
            #expect(mine.first?.phase == .prompt && mine.last?.phase == .generating, "\(mine.map(\.phase))")
            #expect(mine.filter { $0.phase == .waiting }.count >= 2, "\(mine.map(\.phase))")
            #expect(mine.first?.promptTokens == answer.usage[step - 1].promptTokens && (mine.first?.promptTokens ?? 0) > 100)
            #expect(mine.map(\.elapsedMs) == mine.map(\.elapsedMs).sorted())
            #expect((mine.last?.elapsedMs ?? 0) >= 250)
        }
        // The first delta comes after step 2's `generating`; the step event after step 1's.
        let kinds = log.events.map { e -> String in
            switch e { case .delta: return "delta"; case .step: return "step"; case .status(let s): return "\(s.step):\(s.phase.rawValue)" }
        }
        let gen2 = kinds.firstIndex(of: "2:generating")!, firstDelta = kinds.firstIndex(of: "delta")!
        #expect(gen2 < firstDelta && kinds.firstIndex(of: "1:generating")! < kinds.firstIndex(of: "step")!)
        #expect(answer.usage.allSatisfy { ($0.timeToFirstTokenMs ?? 0) >= 250 })
    }
}
