import Foundation
import Testing
import XLChatLLM
import XLChatProtocol
import XLChatServer
import XLChatTestSupport

/// chat/* over the wire, with `ollamaHost` pointed at a scripted Ollama server.
@Suite(.timeLimit(.minutes(2))) struct ChatTests {
    static let csv = """
        Region,Product,Amount
        North,Widget,1250.5
        South,Gadget,300
        East,Widget,875.25
        """

    func client(_ model: ScriptedModelServer?, dataDirectory: String? = nil, host: String? = nil) -> TestClient {
        var c = TestClient.temporaryConfiguration()
        if let dataDirectory { c.dataDirectory = dataDirectory }
        if let model { c.ollamaHost = model.hostAndPort }
        if let host { c.ollamaHost = host }
        c.model = "test-chat"
        return TestClient.inProcess(configuration: c)
    }

    func open(_ client: TestClient, text: String = csv, name: String = "sales.csv") async throws -> WorkbookOpenResult {
        try await client.send(WorkbookOpenRequest(text: text, format: "csv", name: name))
    }

    func sqlStep(_ sql: String) -> ScriptedModelServer.Step {
        .toolCalls([ScriptedToolCall(name: "sql", argumentsText: LLMJSON.object(["query": .string(sql)]).jsonText)])
    }

    @Test func askStreamsDeltasAndStepsThenAnswersWithCitations() async throws {
        let model = ScriptedModelServer(models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        let client = client(model)
        try await client.initialize()
        let wb = try await open(client)
        let table = wb.sheets[0].table!
        let amount = table.columns.first { $0.header == "Amount" }!
        model.enqueue(.stream([sqlStep("SELECT SUM(\(amount.name)) AS total FROM \"\(table.name)\"")]))
        model.enqueue(.text(["The total ", "is 2,425.75."], delay: 0.005))
        let result = try await client.send(ChatAskRequest(workbookId: wb.workbookId, question: "Total amount?", sessionId: "wire-1"))
        #expect(result.answer == "The total is 2,425.75.")
        #expect(result.citations == [Citation(workbookId: wb.workbookId, sheet: wb.sheets[0].name, range: "\(amount.column)2:\(amount.column)4")])
        #expect(result.sessionId == "wire-1" && result.model == "test-chat" && !result.cached && result.ungrounded.isEmpty)
        #expect(result.steps?.count == 1)
        // Notifications came before the reply, in order, and join to the answer.
        let deltas = client.notifications(method: ChatDeltaNotification.method)
        #expect(deltas.compactMap { $0["params"]?["text"]?.stringValue }.joined() == result.answer)
        let steps = client.notifications(method: ChatStepNotification.method)
        #expect(steps.count == 1)
        #expect(steps.first?["params"]?["tool"]?.stringValue == "sql")
        #expect(steps.first?["params"]?["summary"]?.stringValue?.contains("1 row") == true)
        #expect(deltas.allSatisfy { $0["params"]?["requestId"] != nil })

        // History, then the same question again: a cache hit.
        let history = try await client.send(ChatHistoryRequest(sessionId: "wire-1"))
        #expect(history.messages.map(\.role) == ["user", "assistant"])
        let again = try await client.send(ChatAskRequest(workbookId: wb.workbookId, question: "Total amount?"))
        #expect(again.cached && again.answer == result.answer)
        _ = try await client.send(ChatResetRequest(sessionId: "wire-1"))
        #expect(try await client.send(ChatHistoryRequest(sessionId: "wire-1")).messages.isEmpty)

        // An edited buffer is new content: no stale answer.
        let edited = try await open(client, text: Self.csv + "\nWest,Gizmo,42")
        #expect(edited.workbookId == wb.workbookId && edited.contentHash != wb.contentHash)
        model.enqueue(.text(["Now 2,467.75."]))
        let fresh = try await client.send(ChatAskRequest(workbookId: wb.workbookId, question: "Total amount?"))
        #expect(!fresh.cached && fresh.answer == "Now 2,467.75.")
        await client.close()
    }

    @Test func sessionsSurviveANewServerInstance() async throws {
        let model = ScriptedModelServer(replies: [.text(["North leads with 1250.5."])], models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-chat-\(UUID())").path
        let first = client(model, dataDirectory: dir)
        try await first.initialize()
        let wb = try await open(first)
        _ = try await first.send(ChatAskRequest(workbookId: wb.workbookId, question: "Who leads?", sessionId: "persist"))
        await first.close()
        let second = client(model, dataDirectory: dir)
        try await second.initialize()
        let history = try await second.send(ChatHistoryRequest(sessionId: "persist"))
        #expect(history.messages.map(\.content) == ["Who leads?", "North leads with 1250.5."])
        #expect(history.messages.last?.citations?.isEmpty == false)
        await second.close()
    }

    @Test func cancelAnswersWithinASecondAndTheModelServerSeesTheDisconnect() async throws {
        let model = ScriptedModelServer(replies: [.stream([.text("Thinking"), .wait(30), .text(" more")])], models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        let client = client(model)
        try await client.initialize()
        let wb = try await open(client)
        let params = try JSONValue.from(ChatAskRequest(workbookId: wb.workbookId, question: "slow one", sessionId: "cx"))
        let (id, reply) = client.startRequest(method: ChatAskRequest.method, params: params)
        _ = try await client.nextNotification(method: ChatDeltaNotification.method)
        let t0 = ContinuousClock.now
        try await client.notify(method: CancelRequestNotification.method, params: try JSONValue.from(CancelRequestNotification(id: id)))
        let v = try await reply.value
        #expect(v["error"]?["code"] == .int(Int64(ResponseError.requestCancelledCode)), "\(v)")
        #expect(ContinuousClock.now - t0 < .seconds(1))
        #expect(await model.waitForDisconnect(timeout: 1))
        #expect(try await client.send(ChatHistoryRequest(sessionId: "cx")).messages.isEmpty)
        await client.close()
    }

    @Test func noModelServerIsLLMUnavailableNamingTheAddress() async throws {
        let client = client(nil, host: "127.0.0.1:1")
        try await client.initialize()
        let wb = try await open(client)
        await #expect { try await client.send(ChatAskRequest(workbookId: wb.workbookId, question: "q")) } throws: { error in
            guard let e = error as? ResponseError else { return false }
            return e.code == ResponseError.workFailedCode && e.kind == .llmUnavailable && e.message.contains("127.0.0.1:1")
                && e.message.lowercased().contains("ollama")
        }
        let health = try await client.send(HealthRequest())
        #expect(health.llm?.reachable == false && health.llm?.endpoint.contains("127.0.0.1:1") == true)
        // The model server is one of the checks: unreachable makes the status degraded.
        #expect(health.status == .degraded)
        #expect(health.checks["llm"]?.hasPrefix("unreachable: ") == true, "\(health.checks)")
        #expect(health.checks["storage"] == "ok")
        await client.close()
    }

    @Test func modelNotPulledIsModelNotFoundNamingThePull() async throws {
        let model = ScriptedModelServer(replies: [.httpError(status: 404, body: #"{"error":"model \"ghost\" not found, try pulling it first"}"#)],
                                        models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        let client = client(model)
        try await client.initialize()
        let wb = try await open(client)
        await #expect { try await client.send(ChatAskRequest(workbookId: wb.workbookId, question: "q", model: "ghost")) } throws: { error in
            guard let e = error as? ResponseError else { return false }
            return e.kind == .modelNotFound && e.message.contains("ollama pull ghost")
        }
        let health = try await client.send(HealthRequest())
        #expect(health.llm?.reachable == true && health.llm?.version == model.version && health.llm?.modelPulled == true)
        #expect(health.checks["llm"] == "ok" && health.status == .ok, "\(health.checks)")
        await client.close()
    }

    @Test func midStreamFailureIsAClearErrorAndTheSessionStaysUsable() async throws {
        let model = ScriptedModelServer(replies: [.stream([.text("Half"), .disconnect]), .text(["Whole answer."])], models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        let client = client(model)
        try await client.initialize()
        let wb = try await open(client)
        await #expect { try await client.send(ChatAskRequest(workbookId: wb.workbookId, question: "q", sessionId: "m1")) } throws: { error in
            guard let e = error as? ResponseError else { return false }
            return e.code == ResponseError.internalErrorCode && e.message.contains("model server")
        }
        #expect(try await client.send(ChatHistoryRequest(sessionId: "m1")).messages.isEmpty)
        let ok = try await client.send(ChatAskRequest(workbookId: wb.workbookId, question: "q", sessionId: "m1"))
        #expect(ok.answer == "Whole answer.")
        #expect(try await client.send(ChatHistoryRequest(sessionId: "m1")).messages.count == 2)
        await client.close()
    }

    @Test func badParamsAndUnknownWorkbook() async throws {
        let client = client(nil)
        try await client.initialize()
        await #expect { try await client.send(ChatAskRequest(workbookId: "wb-nope", question: "q")) } throws: {
            ($0 as? ResponseError)?.kind == .unknownWorkbook
        }
        let wb = try await open(client)
        await #expect { try await client.send(ChatAskRequest(workbookId: wb.workbookId, question: "  ")) } throws: {
            ($0 as? ResponseError)?.code == ResponseError.invalidParamsCode
        }
        await client.close()
    }

    /// The server's own overhead: (client sends chat/ask → first chat/delta arrives) minus the
    /// model server's own time to first token (request received → first text sent), over runs
    /// with a known 100 ms model start. Printed; the issue's target is 30 ms.
    @Test func overheadToFirstDelta() async throws {
        let model = ScriptedModelServer(models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        let client = client(model)
        try await client.initialize()
        let wb = try await open(client)
        _ = try await client.send(IndexBuildRequest(workbookId: wb.workbookId))
        var overheads: [Double] = []
        for i in 0..<8 {
            model.enqueue(.stream([.wait(0.1), .text("Answer \(i)"), .text(".")]))
            let params = try JSONValue.from(ChatAskRequest(workbookId: wb.workbookId, question: "question number \(i)?"))
            let sent = ScriptedModelServer.now()
            let (id, reply) = client.startRequest(method: ChatAskRequest.method, params: params)
            var firstDelta = 0.0
            while firstDelta == 0 {
                let n = try await client.nextNotification(method: ChatDeltaNotification.method)
                if n["params"]?["requestId"] == id.json { firstDelta = ScriptedModelServer.now() }
            }
            _ = try await reply.value
            let timing = model.replyTimings.last!
            let modelTTFT = timing.firstTextSentAt! - timing.requestAt
            overheads.append((firstDelta - sent - modelTTFT) * 1000)
        }
        let sorted = overheads.dropFirst().sorted()
        let median = sorted[sorted.count / 2]
        print("chat/ask overhead to first delta (ms, runs 2-8): median \(String(format: "%.1f", median)), all \(overheads.map { String(format: "%.1f", $0) })")
        #expect(median < 250, "overhead far above target: \(overheads)")
    }

    /// XLCHAT_CONTEXT reaches the analyst: the prompt is fitted to it (chat/status says so).
    @Test func contextSettingFromTheEnvironment() async throws {
        #expect(ServerConfiguration.fromEnvironment(["XLCHAT_CONTEXT": "8_192"]).contextTokens == 8192)
        #expect(ServerConfiguration.fromEnvironment(["XLCHAT_CONTEXT": "lots"]).contextTokens == nil)
        #expect(ServerConfiguration.fromEnvironment([:]).contextTokens == nil)
        let model = ScriptedModelServer(models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        var config = TestClient.temporaryConfiguration()
        config.ollamaHost = model.hostAndPort
        config.model = "test-chat"
        config.contextTokens = ServerConfiguration.fromEnvironment(["XLCHAT_CONTEXT": "3000"]).contextTokens
        let c = TestClient.inProcess(configuration: config)
        try await c.initialize()
        let wb = try await self.open(c)
        model.enqueue(.text(["Three rows."]))
        _ = try await c.send(ChatAskRequest(workbookId: wb.workbookId, question: "How many rows?"))
        let status = c.notifications(method: ChatStatusNotification.method).first?["params"]
        #expect(status?["contextTokens"]?.doubleValue == 3000)
        #expect(model.requests(path: "/api/chat").first?.json?["options"]?["num_ctx"]?.intValue ?? 0 <= 3000)
    }

    /// chat/status over the wire: prompt (with its size), waiting about every second while the
    /// model holds back its reply, then generating; all before the deltas, all for this request.
    @Test func statusNotificationsShowTheWait() async throws {
        let model = ScriptedModelServer(models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        let c = self.client(model)
        try await c.initialize()
        let wb = try await self.open(c)
        model.enqueue(.stream([.text("Three rows.")], headerDelay: 2.3))
        let result = try await c.send(ChatAskRequest(workbookId: wb.workbookId, question: "How many rows?"))
        #expect(result.answer == "Three rows.")
        let statuses = c.notifications(method: ChatStatusNotification.method).compactMap { $0["params"] }
        let phases = statuses.compactMap { $0["phase"]?.stringValue }
        #expect(phases.first == "prompt" && phases.last == "generating" && phases.filter { $0 == "waiting" }.count >= 2, "\(phases)")
        #expect((statuses.first?["promptTokens"]?.doubleValue ?? 0) > 100)
        #expect(statuses.first?["contextTokens"]?.doubleValue == 4096)
        #expect(statuses.allSatisfy { $0["step"]?.doubleValue == 1 && $0["requestId"] != nil })
        let waited = statuses.filter { $0["phase"]?.stringValue == "waiting" }.compactMap { $0["elapsedMs"]?.doubleValue }
        #expect(waited == waited.sorted() && (waited.last ?? 0) >= 1900, "\(waited)")
    }
}

@Suite(.timeLimit(.minutes(1))) struct ModelEmbedderTests {
    @Test func embedModelBuildsTheIndexThroughTheModelServer() async throws {
        let model = ScriptedModelServer(models: ["test-chat:latest", "test-embed:latest"], embeddingDimensions: 8)
        try await model.start()
        defer { Task { await model.shutdown() } }
        var c = TestClient.temporaryConfiguration()
        c.ollamaHost = model.hostAndPort
        c.embedModel = "test-embed"
        let client = TestClient.inProcess(configuration: c)
        try await client.initialize()
        let wb = try await client.send(WorkbookOpenRequest(text: "Name,City\nAda,London\nLinus,Helsinki\n", format: "csv", name: "people.csv"))
        let built = try await client.send(IndexBuildRequest(workbookId: wb.workbookId))
        #expect(built.embeddingModel == "model:test-embed-8")
        #expect(!model.requests(path: "/api/embed").isEmpty)
        let hits = try await client.send(IndexSearchRequest(workbookId: wb.workbookId, query: "Helsinki"))
        #expect(hits.results.first?.text.contains("Helsinki") == true)
        let health = try await client.send(HealthRequest())
        #expect(health.llm?.embedModelPulled == true)
        await client.close()
    }

}

/// The environment is read in one place (`ServerConfiguration.fromEnvironment`), and every
/// model client is built from that one configuration: `XLCHAT_OPENAI_STREAM_TOOLS` used to be
/// honoured by `xlchat doctor` only, not by the server, `ask` or MCP.
@Suite struct ModelConfigurationTests {
    @Test func streamToolsIsHonouredByTheServersClient() throws {
        for (value, streams) in [("0", false), ("off", false), ("False", false), (" no ", false), ("1", true), ("", true)] {
            let config = ServerConfiguration.fromEnvironment(["XLCHAT_PROVIDER": "openai", "XLCHAT_OPENAI_STREAM_TOOLS": value])
            #expect(config.openAIStreamsToolCalls == streams, "XLCHAT_OPENAI_STREAM_TOOLS=\(value)")
            let client = try #require(try config.makeModelClient() as? OpenAIClient)
            #expect(client.streamsToolCalls == streams, "XLCHAT_OPENAI_STREAM_TOOLS=\(value)")
        }
    }

    @Test func providerAddressAndKeyComeFromTheEnvironment() throws {
        let ollama = try ServerConfiguration.fromEnvironment(["OLLAMA_HOST": "0.0.0.0:11439"]).modelClientConfiguration()
        #expect(ollama.provider == .ollama && ollama.baseURL.absoluteString == "http://127.0.0.1:11439")
        let openai = try ServerConfiguration.fromEnvironment([
            "XLCHAT_PROVIDER": "openai", "XLCHAT_BASE_URL": "http://127.0.0.1:8094", "XLCHAT_API_KEY": "sk-test",
        ]).modelClientConfiguration()
        #expect(openai.provider == .openai && openai.apiKey == "sk-test" && openai.baseURL.absoluteString == "http://127.0.0.1:8094")
        #expect(throws: LLMError.self) { try ServerConfiguration.fromEnvironment(["XLCHAT_PROVIDER": "claude"]).modelClientConfiguration() }
        #expect(throws: LLMError.self) { try ServerConfiguration.fromEnvironment(["XLCHAT_BASE_URL": "ftp://x/v1"]).modelClientConfiguration() }
    }
}

extension ModelConfigurationTests {
    /// The data directory is read with the rest (the index had a second reader of its own).
    @Test func dataDirectoryFollowsTheEnvironment() {
        #expect(ServerConfiguration.defaultDataDirectory(environment: ["XLCHAT_DATA_DIR": "/d", "XDG_CACHE_HOME": "/x"]) == "/d")
        #expect(ServerConfiguration.defaultDataDirectory(environment: ["XDG_CACHE_HOME": "/x", "HOME": "/h"]) == "/x/xlchat")
        #expect(ServerConfiguration.defaultDataDirectory(environment: ["HOME": "/h"]) == "/h/.cache/xlchat")
        #expect(ServerConfiguration.fromEnvironment(["XLCHAT_DATA_DIR": "/d"]).dataDirectory == "/d")
    }
}
