import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import XLChatAgent
import XLChatIndex
import XLChatLLM
import XLChatWorkbook

/// The real small model (smollm2:135m behind the Ollama-API shim of
/// ../shared/tools/llm/serve-small-model.sh, 127.0.0.1:11439 unless OLLAMA_HOST says
/// otherwise). Asserts shape only: the model's facts are often wrong.
enum RealChatServer {
    static let model = "smollm2:135m"
    static let url: URL = {
        if let h = ProcessInfo.processInfo.environment["OLLAMA_HOST"], !h.isEmpty { return OllamaHost.parse(h) }
        return URL(string: "http://127.0.0.1:11439")!
    }()

    /// nil when the server answers /api/tags and lists the model; else why not.
    static let problem: String? = {
        let sem = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var result: String? = "no answer within 2 s" }
        let box = Box()
        var req = URLRequest(url: url.appendingPathComponent("api/tags"))
        req.timeoutInterval = 2
        URLSession.shared.dataTask(with: req) { data, response, error in
            if let error { box.result = error.localizedDescription }
            else if (response as? HTTPURLResponse)?.statusCode != 200 { box.result = "HTTP \((response as? HTTPURLResponse)?.statusCode ?? 0)" }
            else if let data, String(decoding: data, as: UTF8.self).contains(model) { box.result = nil }
            else { box.result = "the server does not list \(model)" }
            sem.signal()
        }.resume()
        _ = sem.wait(timeout: .now() + 3)
        if let p = box.result {
            print("RealModelChatTests skipped: no \(model) at \(url.absoluteString) (\(p)). Start it with /work/shared/tools/llm/serve-small-model.sh start /tmp/llm-server")
        }
        return box.result
    }()
}

/// SmolLM2-135M sometimes generates thousands of tokens inside a forced tool call
/// (llama-cpp-python applies no max_tokens there: 2,669 and 3,076 tokens, 100-120 s each, were
/// seen in its log). Each model reply is bounded by a deadline so a test cannot hang; a reply
/// stopped by it is that known, intermittent behaviour of the tiny model, not of xlchat.
enum RealModelBounds {
    static let policy = HTTPPolicy(firstByteTimeout: 70, stallTimeout: 60, maxAttempts: 2, replyDeadline: 70)

    /// The agent's own bound on a reply (`AgentOptions.replySeconds`): below the HTTP deadline,
    /// so a runaway is stopped by xlchat, which then answers (fenced SQL, or the tools' summary).
    static let replySeconds = 60.0

    /// Runs `ask`; a reply stopped by the HTTP deadline is recorded as the known issue. After a
    /// reply xlchat stopped, waits until the server is idle again.
    static func answer(_ ask: () async throws -> AgentAnswer) async throws -> AgentAnswer? {
        do {
            let a = try await ask()
            if a.usage.contains(where: { $0.outcome == "runaway" }) {
                print("real model: xlchat stopped a runaway reply and answered anyway")
                await settle()
            }
            return a
        } catch let e as LLMError where e.kind == .timeout {
            print("real model: a reply ran past the \(Int(policy.replyDeadline)) s deadline: \(e.message)")
            withKnownIssue("the 135M model ran away inside a forced tool call", isIntermittent: true) { Issue.record(e) }
            await settle()
            return nil
        }
    }

    /// The server goes on generating an abandoned unstreamed reply (one thread): wait until it
    /// is idle again, so the tests after this one get an idle server. `/v1/models` answers even
    /// while it generates; its tokenizer waits for the model, so it is the probe (5 s each).
    static func settle() async {
        let probe = OpenAIClient(baseURL: URL(string: "http://127.0.0.1:8094/v1")!,
                                 policy: HTTPPolicy(firstByteTimeout: 5, stallTimeout: 5, maxAttempts: 1, replyDeadline: 5))
        for _ in 0..<60 { if await probe.tokenCount(model: RealChatServer.model, text: "idle?") != nil { break } }
    }
}

@Suite(.timeLimit(.minutes(10)), .serialized) struct RealModelChatTests {
    @Test(.enabled(if: RealChatServer.problem == nil, "no real model server (see the printed reason)"))
    func realQuestionEndToEnd() async throws {
        let f = try await Fixture()
        let analyst = Analyst(client: OllamaClient(baseURL: RealChatServer.url, policy: RealModelBounds.policy), index: f.index, embedder: HashingEmbedder(),
                              sessions: try f.sessions(), options: AgentOptions(maxSteps: 2, chat: ChatOptionsValue(temperature: 0, maxTokens: 160)))
        let log = EventLog()
        let started = Date()
        guard let answer = try await RealModelBounds.answer({
            try await analyst.ask(outline: f.outline, question: "What is the total of the Amount column? Use the sql tool.",
                                  sessionId: "real-1", model: RealChatServer.model) { log.add($0) }
        }) else { return }
        let seconds = Date().timeIntervalSince(started)
        print("real model: \(String(format: "%.1f", seconds)) s, \(answer.steps.count) tool calls, \(log.deltas.count) deltas, stepLimit=\(answer.stepLimitReached)")
        for s in answer.steps { print("  step \(s.tool) ok=\(s.ok) args=\(s.arguments.prefix(120)) -> \(s.summary.prefix(120))") }
        print("  answer: \(answer.answer.prefix(400).replacingOccurrences(of: "\n", with: " "))")
        print("  citations: \(answer.citations.map(\.a1)), ungrounded: \(answer.ungrounded)")
        // Shape: the model called a tool, the agent ran it, text streamed, deltas join to the answer.
        #expect(!answer.steps.isEmpty, "the model made no tool call")
        #expect(answer.steps.allSatisfy { ["sql", "read_range", "search", "sql"].contains($0.tool) || !$0.ok })
        #expect(!answer.answer.isEmpty && !log.deltas.isEmpty)
        #expect(log.deltas.joined() == answer.answer)
        if answer.steps.contains(where: \.ok) { #expect(!answer.citations.isEmpty) }
        #expect(answer.model == RealChatServer.model && !answer.cached)
        #expect(try f.sessions().history("real-1").count == 2)
    }

    /// The README's example against the real small model behind llama-cpp-python's
    /// OpenAI-compatible server (context 4,096): it finishes with an answer or the tools'
    /// summary, never an HTTP error. Prints the time, the first prompt's tokens by the
    /// server's tokenizer, and each step.
    @Test(.enabled(if: RealChatServer.problem == nil, "no real model server (see the printed reason)"))
    func readmeExampleOnAFourKContext() async throws {
        var root = URL(fileURLWithPath: #filePath)
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) { root.deleteLastPathComponent() }
        let f = try await Fixture(existing: root.appendingPathComponent("examples/sales.xlsx").path)
        for (name, client) in [("openai :8094", OpenAIClient(baseURL: URL(string: "http://127.0.0.1:8094/v1")!, policy: RealModelBounds.policy) as any ModelClient),
                               ("ollama shim", OllamaClient(baseURL: RealChatServer.url, policy: RealModelBounds.policy))] {
            let analyst = Analyst(client: client, index: f.index, embedder: HashingEmbedder(), sessions: nil,
                                  options: AgentOptions(maxSteps: 2, chat: ChatOptionsValue(temperature: 0, maxTokens: 256), replySeconds: RealModelBounds.replySeconds))
            let started = Date()
            guard let answer = try await RealModelBounds.answer({
                try await analyst.ask(outline: f.outline, question: "Which region had the highest revenue, and how much?",
                                      model: RealChatServer.model)
            }) else { continue }
            let seconds = Date().timeIntervalSince(started)
            print("real model (\(name)): \(String(format: "%.1f", seconds)) s, window \(answer.contextWindow?.description ?? "?"), counting: \(answer.tokenCounting)")
            for u in answer.usage {
                print("  call: prompt \(u.promptTokens) tokens (server \(u.serverPromptTokens)), reply \(u.replyTokens), \(u.outcome), first token \(u.timeToFirstTokenMs.map { String(format: "%.1f s", $0 / 1000) } ?? "-"), \(String(format: "%.1f s", u.durationMs / 1000)), budget \(u.budgetActions)")
            }
            for s in answer.steps { print("  step \(s.tool) ok=\(s.ok) \(s.arguments.prefix(100)) -> \(s.summary.prefix(100))") }
            print("  answer: \(answer.answer.prefix(300).replacingOccurrences(of: "\n", with: " "))")
            #expect(!answer.answer.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            #expect(!answer.answer.contains("HTTP 4") && !answer.answer.contains("{\"error\""))
            #expect(answer.usage.allSatisfy { $0.promptTokens + 256 <= 4096 })
            #expect(answer.usage.first.map { $0.serverPromptTokens == 0 || $0.serverPromptTokens <= $0.promptTokens + 64 } ?? false,
                    "the budget under-counted the prompt: \(answer.usage.first.map { "\($0.promptTokens) vs server \($0.serverPromptTokens)" } ?? "")")
        }
    }
}
