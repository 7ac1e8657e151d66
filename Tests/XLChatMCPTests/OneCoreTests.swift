import Foundation
import JSONRPC
import Testing
import XLChatMCP
import XLChatProtocol
import XLChatServer
import XLChatTestSupport

/// Every front end runs through the one request core (`Session.handle`), so the same bad input
/// gives the same error kind (and message) from each: JSON-RPC over a connection, the typed
/// in-process client, the command line (`xlchat query`, `xlchat ask`: exit status 1 and the
/// message on stderr) and MCP (`isError` with the same kind).
@Suite(.serialized, .timeLimit(.minutes(3))) struct OneCoreTests {
    /// One bad input: the request, and the same input as the command line and MCP take it.
    struct Case: Sendable, CustomStringConvertible {
        let name: String
        let kind: ErrorKind
        /// The JSON-RPC request (method, params); `open` is prepended when `needsOpen`.
        let method: String
        let params: JSONValue
        /// `xlchat` arguments that feed the same input (nil when the command line cannot say it).
        let cli: [String]?
        /// The MCP tool and arguments.
        let tool: String
        let toolArguments: JSONValue
        var description: String { name }
    }

    static func cases(dir: String) throws -> [Case] {
        let missing = dir + "/no-such-folder/orders.xlsx"
        let corrupt = dir + "/broken.xlsx"
        try Data("this is not a zip archive, whatever its name says".utf8).write(to: URL(fileURLWithPath: corrupt))
        let folder = dir + "/a-folder.xlsx"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let unknown = "wb-00000000deadbeef"
        return [
            Case(name: "missing file", kind: .fileNotFound, method: WorkbookOpenRequest.method, params: ["path": .string(missing)],
                 cli: ["query", missing, "SELECT 1"], tool: "open_workbook", toolArguments: ["path": .string(missing)]),
            Case(name: "corrupt file", kind: .corruptWorkbook, method: WorkbookOpenRequest.method, params: ["path": .string(corrupt)],
                 cli: ["ask", corrupt, "How many orders?"], tool: "open_workbook", toolArguments: ["path": .string(corrupt)]),
            Case(name: "a folder", kind: .unsupportedFormat, method: WorkbookOpenRequest.method, params: ["path": .string(folder)],
                 // `xlchat open`/`query` take a folder as its workspace (issue 12); `read` takes a workbook only.
                 cli: ["read", folder, "Sheet1"], tool: "open_workbook", toolArguments: ["path": .string(folder)]),
            Case(name: "unknown workbook id", kind: .unknownWorkbook, method: WorkbookQueryRequest.method,
                 params: ["workbookId": .string(unknown), "sql": "SELECT 1"],
                 cli: nil, tool: "query", toolArguments: ["workbookId": .string(unknown), "sql": "SELECT 1"]),
            Case(name: "unknown workbook id (read)", kind: .unknownWorkbook, method: WorkbookReadRequest.method,
                 params: ["workbookId": .string(unknown), "sheet": "Sheet1"],
                 cli: nil, tool: "read_range", toolArguments: ["workbookId": .string(unknown), "sheet": "Sheet1"]),
        ]
    }

    @Test func theSameBadInputGivesTheSameErrorFromEveryFrontEnd() async throws {
        let dir = Fixtures.temporaryDirectory()
        let cases = try Self.cases(dir: dir)

        // JSON-RPC over a real connection (bytes in, bytes out).
        let wire = TestClient.inProcess()
        try await wire.initialize()
        // The typed in-process client: no JSON on the way in or out.
        let typed = try await InProcessClient.forTests()

        var env = ProcessInfo.processInfo.environment
        env["XLCHAT_DATA_DIR"] = dir + "/data-cli"
        env["OLLAMA_HOST"] = "127.0.0.1:1"
        env["XLCHAT_EMBED_MODEL"] = nil
        var mcpEnv = env
        mcpEnv["XLCHAT_DATA_DIR"] = dir + "/data-mcp"
        let mcp = try MCPBinaryTests.MCPProcess(dataDir: dir + "/data-mcp")
        try await mcp.initialize()

        for c in cases {
            let reply = try await wire.request(method: c.method, params: c.params)
            let wireKind = reply["error"]?["data"]?["kind"]?.stringValue
            let wireMessage = try #require(reply["error"]?["message"]?.stringValue, "\(c): no error over JSON-RPC: \(reply)")
            #expect(wireKind == c.kind.rawValue, "\(c): JSON-RPC said \(reply)")

            let typedError = await Self.typedError(typed, c)
            #expect(typedError?.kind == c.kind, "\(c): in-process said \(String(describing: typedError))")
            #expect(typedError?.message == wireMessage, "\(c): in-process message differs")
            #expect(typedError?.code == reply["error"]?["code"]?.doubleValue.map { Int($0) })

            let (isError, payload) = try await mcp.call(c.tool, c.toolArguments)
            #expect(isError, "\(c): MCP did not fail: \(payload)")
            #expect(payload["error"]?["kind"]?.stringValue == c.kind.rawValue, "\(c): MCP said \(payload)")
            #expect(payload["error"]?["message"]?.stringValue == MCPTools.toolVocabulary(wireMessage), "\(c): MCP message differs")

            if let args = c.cli {
                let r = try await SpawnedProcess.run(BuiltBinary.path(), args, environment: env)
                #expect(r.status == 1, "\(c): xlchat \(args[0]) exited \(r.status): \(r.stderr)")
                // The first line on stderr is the error's message (ask prints it alone, the
                // other commands add the kind).
                // Progress lines ("Indexing [ ] 0%") may come first.
                let line = r.stderr.split(separator: "\n").first { !$0.hasPrefix("Indexing [") }.map(String.init) ?? ""
                #expect(line.hasPrefix("xlchat: " + wireMessage), "\(c): xlchat \(args[0]) printed \(r.stderr)")
            }
        }
        await mcp.stop()
        try await wire.shutdownAndExit()
    }

    /// `xlchat ask --json` carries the kind itself.
    @Test func askJSONCarriesTheKind() async throws {
        let dir = Fixtures.temporaryDirectory()
        var env = ProcessInfo.processInfo.environment
        env["XLCHAT_DATA_DIR"] = dir + "/data"
        env["OLLAMA_HOST"] = "127.0.0.1:1"
        let r = try await SpawnedProcess.run(BuiltBinary.path(), ["ask", dir + "/missing.csv", "q", "--json", "--no-progress"], environment: env)
        #expect(r.status == 1)
        let obj = try JSONDecoder().decode(JSONValue.self, from: Data(r.stdout.utf8))
        #expect(obj["error"]?["kind"]?.stringValue == ErrorKind.fileNotFound.rawValue, "\(r.stdout)")
    }

    static func typedError(_ client: InProcessClient, _ c: Case) async -> ResponseError? {
        do {
            switch c.method {
            case WorkbookOpenRequest.method:
                _ = try await client.send(WorkbookOpenRequest(path: c.params["path"]?.stringValue))
            case WorkbookQueryRequest.method:
                _ = try await client.send(WorkbookQueryRequest(workbookId: c.params["workbookId"]!.stringValue!, sql: c.params["sql"]!.stringValue!))
            case WorkbookReadRequest.method:
                _ = try await client.send(WorkbookReadRequest(workbookId: c.params["workbookId"]!.stringValue!, sheet: c.params["sheet"]!.stringValue!))
            default:
                Issue.record("no typed request for \(c.method)")
            }
            return nil
        } catch {
            return error
        }
    }
}
