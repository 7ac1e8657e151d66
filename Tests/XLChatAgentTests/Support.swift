import Foundation
import Testing
import XLChatAgent
import XLChatIndex
import XLChatLLM
import XLChatTestSupport
import XLChatWorkbook

let salesCSV = """
    Region,Product,Amount,Date
    North,Widget,1250.5,2024-01-05
    South,Gadget,300,2024-01-06
    East,Widget,875.25,2024-02-01
    West,Gizmo,42,2024-02-03
    """

/// A workbook written to a temp dir, opened and indexed, with a data directory of its own.
struct Fixture {
    let dir: URL
    let path: String
    let outline: WorkbookOutline
    let index: WorkbookIndex

    init(csv: String = salesCSV, name: String = "sales.csv", dir: URL? = nil) async throws {
        let dir = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-agent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        self.dir = dir
        path = dir.appendingPathComponent(name).path
        try Data(csv.utf8).write(to: URL(fileURLWithPath: path))
        outline = try WorkbookOutline.build(reader: try Workbooks.open(path: path), path: path, contentHash: try ContentHash.sha256(path: path))
        index = try WorkbookIndex(dataDirectory: dir.appendingPathComponent("data"))
        _ = try await index.build(outline: outline, reader: try Workbooks.open(path: path), embedder: HashingEmbedder())
    }

    /// An existing file (the corpus), read where it is; the index goes to a temp dir.
    init(existing path: String) async throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-agent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        self.path = path
        outline = try WorkbookOutline.build(reader: try Workbooks.open(path: path), path: path, contentHash: try ContentHash.sha256(path: path))
        index = try WorkbookIndex(dataDirectory: dir.appendingPathComponent("data"))
        _ = try await index.build(outline: outline, reader: try Workbooks.open(path: path), embedder: HashingEmbedder())
    }

    /// ../shared/corpus/files beside the package root, or nil when absent.
    static func corpusFile(_ name: String) -> String? {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        let path = url.deletingLastPathComponent().appendingPathComponent("shared/corpus/files/\(name)").path
        if FileManager.default.fileExists(atPath: path) { return path }
        Issue.record("the corpus file \(path) is missing; this test needs it")
        return nil
    }

    var table: InferredTable { outline.sheets[0].table! }
    var sheet: String { outline.sheets[0].info.name }
    func column(_ header: String) -> TableColumn { table.columns.first { $0.header == header }! }

    func sessions() throws -> SessionStore { try SessionStore(dataDirectory: dir.appendingPathComponent("data")) }

    func analyst(_ server: ScriptedModelServer, maxSteps: Int = 6, sessions: SessionStore? = nil) throws -> Analyst {
        Analyst(client: OllamaClient(baseURL: server.baseURL, policy: HTTPPolicy(firstByteTimeout: 10, stallTimeout: 5, maxAttempts: 1)),
                index: index, embedder: HashingEmbedder(), sessions: try sessions ?? self.sessions(),
                options: AgentOptions(maxSteps: maxSteps))
    }
}

/// Collects agent events in order.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [AgentEvent] = []
    func add(_ e: AgentEvent) { lock.withLock { items.append(e) } }
    var events: [AgentEvent] { lock.withLock { items } }
    var deltas: [String] { events.compactMap { if case .delta(let d) = $0 { return d }; return nil } }
    var steps: [AgentStep] { events.compactMap { if case .step(let s) = $0 { return s }; return nil } }
}

func sqlCall(_ sql: String) -> ScriptedModelServer.Step {
    .toolCalls([ScriptedToolCall(name: "sql", argumentsText: LLMJSON.object(["query": .string(sql)]).jsonText)])
}

func startServer(_ replies: [ScriptedModelServer.Reply]) async throws -> ScriptedModelServer {
    let s = ScriptedModelServer(replies: replies, models: ["test-chat:latest"])
    try await s.start()
    return s
}

/// The messages of the n-th /api/chat request the server got.
func chatMessages(_ server: ScriptedModelServer, _ n: Int) -> [LLMJSON] {
    server.requests(path: "/api/chat")[n].json?["messages"]?.arrayValue ?? []
}
