import Foundation
import Testing
import XLChatIndex
import XLChatLLM
import XLChatProtocol
import XLChatServer
import XLChatTestSupport

/// "Is it indexed?" is answered in one place, the workbook's handle: whatever path a user
/// takes through the server (open, query, chat with SQL and search tools, search, status,
/// build, a second open), the file is read once, the typed tables are built
/// once and the search part once. Counted by the handle itself, not by grepping the code.
@Suite(.serialized, .timeLimit(.minutes(3))) struct WorkbookLifecycleServerTests {
    static let csv = """
        Region,Product,Amount
        North,Widget,1250.5
        South,Gadget,300
        East,Widget,875.25
        West,Gizmo,42
        """

    @Test func everyRequestPathGoesThroughOneHandleThatBuildsEachPartOnce() async throws {
        let model = ScriptedModelServer(models: ["test-chat:latest"])
        _ = try await model.start()
        defer { Task { await model.shutdown() } }
        var config = TestClient.temporaryConfiguration()
        config.ollamaHost = model.hostAndPort
        config.model = "test-chat"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-lifecycle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("sales.csv").path
        try Data(Self.csv.utf8).write(to: URL(fileURLWithPath: path))

        let client = try await InProcessClient.forTests(configuration: config)
        let wb = try await client.send(WorkbookOpenRequest(path: path))
        let handle = try #require(client.server.workbookHandle(id: wb.workbookId))
        #expect(handle.counts == WorkbookHandle.Counts(opens: 1, tableBuilds: 1, searchBuilds: 0, readerOpens: 0))

        let table = try #require(wb.sheets.first?.tables.first)
        let q = try await client.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT COUNT(*) AS n FROM \"\(table.name)\""))
        #expect(q.rows.first?.first == .int(4))

        // chat/ask: the server ensures the tables, starts the search part in the background; the
        // analyst's search tool joins that build (or starts the one build) instead of its own.
        model.enqueue(.stream([.toolCalls([ScriptedToolCall(name: "search", argumentsText: LLMJSON.object(["query": .string("Widget")]).jsonText)])]))
        model.enqueue(.stream([.toolCalls([ScriptedToolCall(name: "sql", argumentsText: LLMJSON.object(
            ["query": .string("SELECT SUM(\(table.columns[2].name)) AS total FROM \"\(table.name)\"")]).jsonText)])]))
        // The analyst's read_range reads through the handle's kept reader, as workbook/read does.
        model.enqueue(.stream([.toolCalls([ScriptedToolCall(name: "read_range", argumentsText: LLMJSON.object(
            ["range": .string("A1:C2")]).jsonText)])]))
        model.enqueue(.text(["The total is 2,467.75."]))
        let answer = try await client.send(ChatAskRequest(workbookId: wb.workbookId, question: "Total amount?"))
        #expect(answer.answer == "The total is 2,467.75.")
        #expect(answer.steps?.map(\.tool) == ["search", "sql", "read_range"])
        #expect(handle.counts.readerOpens == 1)

        let hits = try await client.send(IndexSearchRequest(workbookId: wb.workbookId, query: "Gizmo"))
        #expect(hits.results.contains { $0.text.contains("Gizmo") })
        let status = try await client.send(IndexStatusRequest(workbookId: wb.workbookId))
        #expect(status.tablesReady == true && status.search == "ready")
        let built = try await client.send(IndexBuildRequest(workbookId: wb.workbookId))
        #expect(built.reused)

        // workbook/read twice: the same reader, kept.
        _ = try await client.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: wb.sheets[0].name, range: "A1:C3"))
        _ = try await client.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: wb.sheets[0].name, range: "A3:C5"))

        // Opened again: the same handle, nothing read again.
        let again = try await client.send(WorkbookOpenRequest(path: path))
        #expect(again.workbookId == wb.workbookId && client.server.workbookHandle(id: wb.workbookId) === handle)

        #expect(handle.counts == WorkbookHandle.Counts(opens: 1, tableBuilds: 1, searchBuilds: 1, readerOpens: 1), "\(handle.counts)")
    }

    /// In a workspace chat, the analyst's read_range and trace read a file through that file's
    /// handle (opened by the workspace's refresh): two reads and a trace open one reader for
    /// values and one for formulas, kept between the calls.
    @Test func workspaceChatReadsFilesThroughTheirHandles() async throws {
        let model = ScriptedModelServer(models: ["test-chat:latest"])
        _ = try await model.start()
        defer { Task { await model.shutdown() } }
        var config = TestClient.temporaryConfiguration()
        config.ollamaHost = model.hostAndPort
        config.model = "test-chat"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-wsread-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(Self.csv.utf8).write(to: dir.appendingPathComponent("sales.csv"))
        try Data("k,v\na,1\n".utf8).write(to: dir.appendingPathComponent("other.csv"))

        let client = try await InProcessClient.forTests(configuration: config)
        let ws = try await client.send(WorkspaceOpenRequest(path: dir.path))
        let handle = try #require(client.server.workbookHandle(path: dir.appendingPathComponent("sales.csv").path))
        let before = handle.counts.readerOpens
        for range in ["A1:C2", "A3:C5"] {
            model.enqueue(.stream([.toolCalls([ScriptedToolCall(name: "read_range", argumentsText: LLMJSON.object(
                ["file": .string("sales.csv"), "range": .string(range)]).jsonText)])]))
        }
        model.enqueue(.stream([.toolCalls([ScriptedToolCall(name: "trace", argumentsText: LLMJSON.object(
            ["file": .string("sales.csv"), "cell": .string("C2")]).jsonText)])]))
        model.enqueue(.text(["North sold 1250.5 of Widget."]))
        let answer = try await client.send(ChatAskRequest(workspaceId: ws.workspaceId, question: "What did North sell?"))
        #expect(answer.steps?.map(\.tool) == ["read_range", "read_range", "trace"])
        #expect(answer.steps?.allSatisfy { !$0.ranges.isEmpty } == true, "\(String(describing: answer.steps))")
        #expect(answer.citations.contains { $0.file == "sales.csv" })
        #expect(handle.counts.readerOpens - before == 2, "\(handle.counts)")
    }

    @Test func concurrentQueriesAfterTheFileChangedReadTheNewVersionOnce() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-lifecycle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("sales.csv").path
        try Data(Self.csv.utf8).write(to: URL(fileURLWithPath: path))
        let client = try await InProcessClient.forTests()
        let wb = try await client.send(WorkbookOpenRequest(path: path))
        let handle = try #require(client.server.workbookHandle(id: wb.workbookId))
        let table = try #require(wb.sheets.first?.tables.first)

        // Saved again with two more rows, then eight queries at once.
        try Data((Self.csv + "\nNorth,Gizmo,10\nSouth,Widget,20").utf8).write(to: URL(fileURLWithPath: path))
        let counts = try await withThrowingTaskGroup(of: JSONValue?.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await client.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT COUNT(*) FROM \"\(table.name)\"")).rows.first?.first
                }
            }
            return try await group.reduce(into: [JSONValue?]()) { $0.append($1) }
        }
        #expect(counts == Array(repeating: .int(6), count: 8))
        #expect(handle.counts.opens == 2 && handle.counts.tableBuilds == 2, "\(handle.counts)")
        let status = try await client.send(IndexStatusRequest(workbookId: wb.workbookId))
        #expect(status.contentHash != wb.contentHash && status.tablesReady == true)
    }
}
