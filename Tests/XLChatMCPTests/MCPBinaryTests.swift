import Foundation
import Synchronization
import JSONRPC
import Testing
import XLChatMCP
import XLChatProtocol
import XLChatTestSupport

/// `xlchat mcp` driven over pipes: the handshake, each tool, and each bad input, whose error
/// must carry the same kind and message as the JSON-RPC server's for the same input.
@Suite(.serialized) struct MCPBinaryTests {
    /// A running `xlchat mcp` with its own data directory.
    final class MCPProcess: @unchecked Sendable {
        let process: SpawnedProcess
        let client: TestClient
        let dataDir: String

        init(dataDir: String = Fixtures.temporaryDirectory()) throws {
            self.dataDir = dataDir
            var env = ProcessInfo.processInfo.environment
            env["XLCHAT_DATA_DIR"] = dataDir
            process = try SpawnedProcess(BuiltBinary.path(), ["mcp"], environment: env)
            client = process.client(framing: .newlineDelimited)
        }

        @discardableResult
        func initialize(version: String = "2025-03-26") async throws -> JSONValue {
            let reply = try await client.request(method: "initialize", params: [
                "protocolVersion": .string(version), "capabilities": [:],
                "clientInfo": ["name": "swift-tests", "version": "1"],
            ])
            try await client.notify(method: "notifications/initialized")
            return try #require(reply["result"], "initialize failed: \(reply)")
        }

        /// Calls a tool; returns whether it failed and the JSON its text content carries.
        func call(_ tool: String, _ arguments: JSONValue) async throws -> (isError: Bool, payload: JSONValue) {
            let reply = try await client.request(method: "tools/call", params: ["name": .string(tool), "arguments": arguments])
            let result = try #require(reply["result"], "tools/call \(tool) got no result: \(reply)")
            guard case let .array(content)? = result["content"], content.count == 1,
                  content[0]["type"] == "text", let text = content[0]["text"]?.stringValue else {
                Issue.record("tools/call \(tool): content is not one text item: \(result)")
                return (true, .null)
            }
            let payload = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            return (result["isError"] == .bool(true), payload)
        }

        func open(_ path: String) async throws -> String {
            let (isError, outline) = try await call("open_workbook", ["path": .string(path)])
            #expect(!isError, "open_workbook \(path) failed: \(outline)")
            return try #require(outline["workbookId"]?.stringValue)
        }

        func stop() async {
            await client.close()
            let status = await process.wait(timeout: .seconds(20))
            #expect(status == 0, "xlchat mcp exited with \(status)")
        }
    }

    @Test func handshakeNegotiatesTheProtocolVersionAndListsTheTools() async throws {
        for (asked, agreed) in [("2024-11-05", "2024-11-05"), ("2025-03-26", "2025-03-26"), ("2099-01-01", "2025-03-26")] {
            let mcp = try MCPProcess()
            let result = try await mcp.initialize(version: asked)
            #expect(result["protocolVersion"]?.stringValue == agreed)
            #expect(result["serverInfo"]?["name"] == "xlchat")
            #expect(result["capabilities"]?["tools"] != nil)
            let ping = try await mcp.client.request(method: "ping")
            #expect(ping["result"] == .object([:]))
            let list = try await mcp.client.request(method: "tools/list")
            guard case let .array(tools)? = list["result"]?["tools"] else {
                Issue.record("tools/list: \(list)")
                return
            }
            #expect(tools.compactMap { $0["name"]?.stringValue } == ["open_workbook", "outline", "read_range", "query", "search",
                                                                      "open_workspace", "query_workspace", "search_workspace"])
            for tool in tools {
                #expect(tool["inputSchema"]?["type"] == "object")
                #expect(tool["description"]?.stringValue?.isEmpty == false)
            }
            await mcp.stop()
        }
    }

    @Test func requestsBeforeInitializeAndUnknownToolsAreProtocolErrors() async throws {
        let mcp = try MCPProcess()
        let early = try await mcp.client.request(method: "tools/list")
        #expect(early["error"]?["code"] == .int(Int64(ResponseError.serverNotInitializedCode)))
        try await mcp.initialize()
        let again = try await mcp.client.request(method: "initialize", params: ["protocolVersion": "2025-03-26"])
        #expect(again["error"]?["code"] == .int(Int64(ResponseError.invalidRequestCode)))
        let unknown = try await mcp.client.request(method: "tools/call", params: ["name": "drop_tables", "arguments": [:]])
        #expect(unknown["error"]?["code"] == .int(Int64(ResponseError.invalidParamsCode)))
        #expect(unknown["error"]?["message"]?.stringValue?.contains("drop_tables") == true)
        let noMethod = try await mcp.client.request(method: "resources/list")
        #expect(noMethod["error"]?["code"] == .int(Int64(ResponseError.methodNotFoundCode)))
        await mcp.stop()
    }

    @Test func toolsOpenReadQueryAndSearchAWorkbook() async throws {
        let csv = try Fixtures.ordersCSV()
        let mcp = try MCPProcess()
        try await mcp.initialize()
        let (openFailed, opened) = try await mcp.call("open_workbook", ["path": .string(csv)])
        #expect(!openFailed)
        let id = try #require(opened["workbookId"]?.stringValue)
        let sheet = try #require(opened["sheets"]?[0]?["name"]?.stringValue)
        #expect(opened["sheets"]?[0]?["range"] == "A1:D6")
        let table = try #require(opened["sheets"]?[0]?["table"]?["name"]?.stringValue)

        let (outlineFailed, outline) = try await mcp.call("outline", ["workbookId": .string(id)])
        #expect(!outlineFailed)
        #expect(outline == opened)

        let (readFailed, read) = try await mcp.call("read_range", ["workbookId": .string(id), "sheet": .string(sheet), "range": "A2:C3"])
        #expect(!readFailed)
        #expect(read["rows"] == [[1, "ORD-11730", "Widget"], [2, "ORD-11731", "Gadget"]])
        #expect(read["truncated"] == false)
        // The server's limit applies: 2 of the 6 rows, marked truncated.
        let (_, limited) = try await mcp.call("read_range", ["workbookId": .string(id), "sheet": .string(sheet), "limit": 2])
        guard case let .array(rows)? = limited["rows"] else { Issue.record("rows: \(limited)"); return }
        #expect(rows.count == 2)
        #expect(limited["truncated"] == true)

        let (queryFailed, query) = try await mcp.call("query", [
            "workbookId": .string(id), "sql": .string("SELECT SUM(amount) AS total, COUNT(*) AS n FROM \"\(table)\""),
        ])
        #expect(!queryFailed, "\(query)")
        #expect(query["columns"] == ["total", "n"])
        #expect(query["rows"]?[0]?[1] == 5)
        #expect(query["rows"]?[0]?[0]?.doubleValue == 3.5 + 5 + 10 + 2.25 + 4)
        let (_, cut) = try await mcp.call("query", ["workbookId": .string(id), "sql": .string("SELECT * FROM \"\(table)\""), "limit": 1])
        #expect(cut["truncated"] == true)

        let (searchFailed, search) = try await mcp.call("search", ["workbookId": .string(id), "query": "ORD-11733"])
        #expect(!searchFailed, "\(search)")
        guard case let .array(hits)? = search["results"], let first = hits.first else {
            Issue.record("search found nothing: \(search)")
            return
        }
        #expect(first["text"]?.stringValue?.contains("ORD-11733") == true)
        #expect(first["sheet"]?.stringValue == sheet)
        await mcp.stop()
    }

    /// A folder through MCP: open_workspace, a join across two files with query_workspace,
    /// search_workspace across them, and the server's errors (a file, not a folder; an
    /// unknown workspace) as tool errors with the same kind and message as the JSON-RPC server's.
    @Test func workspaceToolsOpenQueryAndSearchAFolder() async throws {
        let dir = Fixtures.temporaryDirectory() + "/folder"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let orders = try Fixtures.ordersCSV(in: dir)
        try Data("product,category\nWidget,Tools\nGadget,Toys\nSprocket,Tools\n".utf8).write(to: URL(fileURLWithPath: dir + "/products.csv"))
        try Data("PK\u{03}\u{04}not a zip".utf8).write(to: URL(fileURLWithPath: dir + "/broken.xlsx"))
        let mcp = try MCPProcess()
        try await mcp.initialize()
        let (openFailed, ws) = try await mcp.call("open_workspace", ["path": .string(dir)])
        #expect(!openFailed, "\(ws)")
        let id = try #require(ws["workspaceId"]?.stringValue)
        guard case let .array(books)? = ws["workbooks"] else { Issue.record("workbooks: \(ws)"); return }
        let status = Dictionary(uniqueKeysWithValues: books.compactMap { b in b["path"]?.stringValue.map { ($0, b) } })
        #expect(status["orders.csv"]?["status"] == "ready")
        #expect(status["broken.xlsx"]?["errorKind"] == "corruptWorkbook")

        let (queryFailed, q) = try await mcp.call("query_workspace", [
            "workspaceId": .string(id),
            "sql": "SELECT p.category, sum(o.amount) FROM orders o JOIN products p ON o.product = p.product GROUP BY 1 ORDER BY 1",
        ])
        #expect(!queryFailed, "\(q)")
        #expect(q["rows"]?[0]?[0] == "Tools")
        #expect(q["rows"]?[0]?[1]?.doubleValue == 3.5 + 10 + 2.25)
        #expect(q["rows"]?[1]?[1] == .int(9) || q["rows"]?[1]?[1]?.doubleValue == 9.0)

        let (searchFailed, found) = try await mcp.call("search_workspace", ["workspaceId": .string(id), "query": "ORD-11733", "limit": 3])
        #expect(!searchFailed, "\(found)")
        #expect(found["results"]?[0]?["file"] == "orders.csv")
        #expect(found["results"]?[0]?["table"] == "orders")
        #expect(found["results"]?[0]?["text"]?.stringValue?.contains("ORD-11733") == true)

        // Errors: the server's kind and message, with tool names for method names.
        let (notFolderFailed, notFolder) = try await mcp.call("open_workspace", ["path": .string(orders)])
        #expect(notFolderFailed)
        #expect(notFolder["error"]?["kind"] == "invalidParams")
        #expect(notFolder["error"]?["message"]?.stringValue?.contains("is a file, not a folder") == true)
        let (unknownFailed, unknown) = try await mcp.call("search_workspace", ["workspaceId": "ws-nope", "query": "x"])
        #expect(unknownFailed)
        #expect(unknown["error"]?["kind"] == "unknownWorkbook")
        #expect(unknown["error"]?["message"]?.stringValue?.contains("open it with open_workspace first") == true)
        let (missingFailed, missing) = try await mcp.call("query_workspace", ["workspaceId": .string(id)])
        #expect(missingFailed)
        #expect(missing["error"]?["kind"] == "invalidParams")
        await mcp.stop()
    }

    /// Each bad input through MCP and through the JSON-RPC server: same kind, same message.
    @Test func badInputsAreToolErrorsWithTheServersKindAndMessage() async throws {
        let dir = Fixtures.temporaryDirectory()
        let csv = try Fixtures.ordersCSV(in: dir)
        let corrupt = dir + "/broken.xlsx"
        try Data([0x50, 0x4B, 0x03, 0x04] + Array(repeating: 0x41, count: 300)).write(to: URL(fileURLWithPath: corrupt))
        let mcp = try MCPProcess(dataDir: dir + "/data")
        try await mcp.initialize()
        let rpc = TestClient.inProcess()
        try await rpc.initialize()
        let id = try await mcp.open(csv)
        let rpcOpen = try await rpc.request(method: "workbook/open", params: ["path": .string(csv)])
        #expect(rpcOpen["result"]?["workbookId"]?.stringValue == id)

        var cases: [(tool: String, method: String, args: JSONValue, kind: String)] = [
            ("open_workbook", "workbook/open", ["path": .string(dir + "/missing.xlsx")], "fileNotFound"),
            ("open_workbook", "workbook/open", ["path": .string(dir)], "unsupportedFormat"),
            ("open_workbook", "workbook/open", ["path": .string(corrupt)], "corruptWorkbook"),
            ("open_workbook", "workbook/open", [:], "invalidParams"),
            ("read_range", "workbook/read", ["workbookId": "wb-0000000000000000", "sheet": "x"], "unknownWorkbook"),
            ("read_range", "workbook/read", ["workbookId": .string(id), "sheet": "No Such Sheet"], "unknownSheet"),
            ("read_range", "workbook/read", ["workbookId": .string(id), "sheet": "orders", "range": "A0:B"], "invalidRange"),
            ("read_range", "workbook/read", ["workbookId": .string(id), "sheet": "orders", "range": "A1:XFE2"], "invalidRange"),
            ("read_range", "workbook/read", ["workbookId": .string(id), "sheet": 7], "invalidParams"),
            ("query", "workbook/query", ["workbookId": .string(id), "sql": "DELETE FROM orders"], "invalidQuery"),
            ("query", "workbook/query", ["workbookId": .string(id), "sql": "SELECT 1; DROP TABLE orders"], "invalidQuery"),
            ("query", "workbook/query", ["workbookId": .string(id), "sql": "SELECT nope FROM nowhere"], "invalidQuery"),
            ("query", "workbook/query", ["workbookId": "wb-0000000000000000", "sql": "SELECT 1"], "unknownWorkbook"),
            ("search", "index/search", ["workbookId": .string(id)], "invalidParams"),
        ]
        let corpus = BuiltBinary.packageRoot().appendingPathComponent("../shared/corpus/files/calamine__password.xls").standardized.path
        if FileManager.default.fileExists(atPath: corpus) {
            cases.append(("open_workbook", "workbook/open", ["path": .string(corpus)], "encryptedWorkbook"))
        } else {
            Issue.record("the corpus file \(corpus) is missing: this test needs it")
        }
        for c in cases {
            let (isError, payload) = try await mcp.call(c.tool, c.args)
            #expect(isError, "\(c.tool) \(c.args) should fail")
            let error = payload["error"]
            #expect(error?["kind"]?.stringValue == c.kind, "\(c.tool) \(c.args): \(payload)")
            let wire = try await rpc.request(method: c.method, params: c.args)
            #expect(error?["message"]?.stringValue == wire["error"]?["message"]?.stringValue.map(MCPTools.toolVocabulary), "\(c.tool) \(c.args): MCP \(payload) vs JSON-RPC \(wire)")
            #expect(error?["code"] == wire["error"]?["code"])
        }
        // `arguments` that is not an object is the tool's error, not the protocol's.
        let reply = try await mcp.client.request(method: "tools/call", params: ["name": "outline", "arguments": "wb-1"])
        #expect(reply["result"]?["isError"] == true)
        // Messages name the tools, not the JSON-RPC methods.
        let (_, unknown) = try await mcp.call("outline", ["workbookId": "wb-0000000000000000"])
        #expect(unknown["error"]?["message"]?.stringValue?.contains("open it with open_workbook first") == true, "\(unknown)")
        await rpc.close()
        await mcp.stop()
    }

    /// `search` on a workbook whose index was never built builds it first.
    @Test func searchBuildsTheIndexWhenNeeded() async throws {
        let mcp = try MCPProcess()
        try await mcp.initialize()
        let id = try await mcp.open(try Fixtures.ordersCSV())
        let (failed, search) = try await mcp.call("search", ["workbookId": .string(id), "query": "Sprocket", "limit": 3])
        #expect(!failed, "\(search)")
        guard case let .array(hits)? = search["results"] else { Issue.record("\(search)"); return }
        #expect(hits.count <= 3)
        #expect(hits.contains { $0["text"]?.stringValue?.contains("Sprocket") == true }, "\(search)")
        await mcp.stop()
    }

    /// MCP's `notifications/cancelled` stops a running call and, as MCP says, gets no reply
    /// (issue 14, item 10: it used to be answered -32800); the session keeps working.
    @Test func cancelledNotificationCancelsARunningCallWithoutAReply() async throws {
        let dir = Fixtures.temporaryDirectory()
        let big = dir + "/big.csv"
        var text = "id,code,amount\n"
        for i in 0..<150_000 { text += "\(i),ORD-\(i),\(i % 1000).5\n" }
        try Data(text.utf8).write(to: URL(fileURLWithPath: big))
        let mcp = try MCPProcess(dataDir: dir + "/data")
        try await mcp.initialize()
        let (id, reply) = mcp.client.startRequest(method: "tools/call",
                                                  params: ["name": "open_workbook", "arguments": ["path": .string(big)]])
        let answered = Mutex<JSONValue?>(nil)
        let watcher = Task { if let r = try? await reply.value { answered.withLock { $0 = r } } }
        try await Task.sleep(for: .milliseconds(150))
        try await mcp.client.notify(method: "notifications/cancelled", params: ["requestId": id.json, "reason": "test"])
        try await Task.sleep(for: .milliseconds(1500))
        let ping = try await mcp.client.request(method: "ping")
        #expect(ping["result"] == .object([:]))
        #expect(answered.withLock { $0 } == nil, "the cancelled call was answered: \(String(describing: answered.withLock { $0 }))")
        await mcp.stop()
        watcher.cancel()
    }

    @Test func endOfInputEndsTheServerCleanly() async throws {
        let mcp = try MCPProcess()
        try await mcp.initialize()
        await mcp.stop()
    }
}

extension JSONValue {
    subscript(_ index: Int) -> JSONValue? {
        if case let .array(a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }
}

enum Fixtures {
    static func temporaryDirectory() -> String {
        let dir = NSTemporaryDirectory() + "xlchat-mcp-tests-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A small orders table: id, code, product, amount (5 rows).
    static func ordersCSV(in dir: String = temporaryDirectory()) throws -> String {
        let path = dir + "/orders.csv"
        let text = """
            id,code,product,amount
            1,ORD-11730,Widget,3.5
            2,ORD-11731,Gadget,5
            3,ORD-11732,Widget,10
            4,ORD-11733,Sprocket,2.25
            5,ORD-11734,Gadget,4

            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}
