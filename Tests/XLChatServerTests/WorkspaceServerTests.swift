import Foundation
import Testing
import XLChatProtocol
import XLChatServer
import XLChatTestSupport

/// Workspaces through the real server (issue 12): a question that needs two files is a join
/// across them, a changed file is noticed and re-read alone, bad files and bad paths get clear
/// errors while the rest works.
@Suite(.timeLimit(.minutes(3))) struct WorkspaceServerTests {
    static func write(_ dir: URL, _ files: [String: String]) throws {
        for (rel, text) in files {
            let url = dir.appendingPathComponent(rel)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
    }

    static func orders(_ rows: [(Int, String, Double)]) -> String {
        "OrderId,CustomerId,Amount\n" + rows.map { "\($0.0),\($0.1),\($0.2)" }.joined(separator: "\n") + "\n"
    }

    @Test func aQuestionOverTwoFilesIsAJoinAndAChangedFileIsReReadAlone() async throws {
        let folder = temporaryDirectory().appendingPathComponent("ws-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let rows: [(Int, String, Double)] = (1...30).map { ($0, "C\($0 % 6)", Double($0) * 12.5) }
        try Self.write(folder, ["orders.csv": Self.orders(rows), "broken.xlsx": "PK\u{03}\u{04}not a zip", ".git/x.csv": "a\n1\n"])
        // Customers in an xlsx of their own.
        var sheet = #"<row r="1"><c r="A1" t="inlineStr"><is><t>CustomerId</t></is></c><c r="B1" t="inlineStr"><is><t>Segment</t></is></c></row>"#
        for i in 0..<6 {
            sheet += #"<row r="\#(i + 2)"><c r="A\#(i + 2)" t="inlineStr"><is><t>C\#(i)</t></is></c><c r="B\#(i + 2)" t="inlineStr"><is><t>\#(i < 2 ? "Enterprise" : "Retail")</t></is></c></row>"#
        }
        let xlsx = try await generatedXLSX(sheets: [("Customers", sheet)])
        try FileManager.default.moveItem(atPath: xlsx, toPath: folder.appendingPathComponent("customers.xlsx").path)

        let c = TestClient.inProcess()
        try await c.initialize()
        let ws = try await c.send(WorkspaceOpenRequest(path: folder.path, workDoneToken: .string("ws")))
        #expect(ws.filesRead == 3)
        let status = Dictionary(uniqueKeysWithValues: ws.workbooks.map { ($0.path, $0) })
        #expect(status["orders.csv"]?.status == "ready")
        #expect(status["customers.xlsx"]?.tables == ["customers"])
        #expect(status["broken.xlsx"]?.status == "error")
        #expect(status["broken.xlsx"]?.errorKind == "corruptWorkbook")
        #expect(status[".git/x.csv"] == nil)
        #expect(!c.notifications(method: "$/progress").isEmpty)

        let sql = "SELECT c.Segment, sum(o.Amount) AS revenue FROM orders o JOIN customers c ON o.CustomerId = c.CustomerId GROUP BY 1 ORDER BY 1"
        func revenue(_ r: [(Int, String, Double)], _ enterprise: Bool) -> Double {
            r.filter { (Int($0.1.dropFirst())! < 2) == enterprise }.map(\.2).reduce(0, +)
        }
        let first = try await c.send(WorkspaceQueryRequest(workspaceId: ws.workspaceId, sql: sql))
        #expect(first.rows == [[.string("Enterprise"), WireFormat.number(revenue(rows, true))], [.string("Retail"), WireFormat.number(revenue(rows, false))]])
        #expect(first.warnings == nil)
        #expect(first.stale == nil)
        let one = try await c.send(WorkspaceQueryRequest(workspaceId: ws.workspaceId, sql: "SELECT Segment FROM customers WHERE CustomerId = 'C3'"))
        #expect(one.citations == [WorkspaceCitation(file: "customers.xlsx", sheet: "Customers", range: "B5")])

        // Change one file on disk: noticed, only it is re-read, and the answer follows.
        let more = rows + [(31, "C0", 1000)]
        try Self.write(folder, ["orders.csv": Self.orders(more)])
        let change = try await c.nextNotification(method: "workspace/didChange", timeout: .seconds(20))
        #expect(change["params"]?["changed"] == .array([.string("orders.csv")]))
        let second = try await c.send(WorkspaceQueryRequest(workspaceId: ws.workspaceId, sql: sql))
        #expect(second.rows.first == [.string("Enterprise"), WireFormat.number(revenue(more, true))])

        // A reopen reads nothing.
        let again = try await c.send(WorkspaceOpenRequest(path: folder.path))
        #expect(again.filesRead == 0)
        #expect(again.workspaceId == ws.workspaceId)
        _ = try await c.send(WorkspaceCloseRequest(workspaceId: ws.workspaceId))
        let closed = try await c.request(method: "workspace/query", params: ["workspaceId": .string(ws.workspaceId), "sql": "SELECT 1"])
        #expect(errorKind(closed) == "unknownWorkbook")
    }

    @Test func badPathsGetClearErrors() async throws {
        let c = TestClient.inProcess()
        try await c.initialize()
        let missing = try await c.request(method: "workspace/open", params: ["path": "/nonexistent/folder"])
        #expect(errorKind(missing) == "fileNotFound")
        let file = temporaryDirectory().appendingPathComponent("plain-\(UUID().uuidString).csv")
        try Data("a\n1\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let notFolder = try await c.request(method: "workspace/open", params: ["path": .string(file.path)])
        #expect(notFolder["error"]?["code"] == .int(-32602))
        #expect(notFolder["error"]?["message"]?.stringValue?.contains("is a file, not a folder") == true)
        // The filesystem's root is refused at once, not walked (by any spelling of it).
        let clock = ContinuousClock(), start = clock.now
        for root in ["/", "//", "/tmp/.."] {
            let whole = try await c.request(method: "workspace/open", params: ["path": .string(root)])
            #expect(whole["error"]?["code"] == .int(-32602), "\(root): \(whole)")
            #expect(whole["error"]?["message"]?.stringValue?.contains("whole filesystem") == true)
        }
        #expect(clock.now - start < .seconds(2))
        let unknown = try await c.request(method: "workspace/query", params: ["workspaceId": "ws-nope", "sql": "SELECT 1"])
        #expect(errorKind(unknown) == "unknownWorkbook")
    }
}

/// `xlchat query DIR` and `xlchat open DIR`, the built binary on a folder.
@Suite(.timeLimit(.minutes(3))) struct WorkspaceCommandTests {
    @Test func queryAndOpenTakeAFolder() async throws {
        let folder = temporaryDirectory().appendingPathComponent("cli-ws-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try WorkspaceServerTests.write(folder, [
            "customers.csv": "customer_id,segment\nc1,Retail\nc2,Trade\n",
            "2024/orders_01.csv": "order_id,customer_id,amount\n1,c1,10\n2,c2,20\n",
            "2024/orders_02.csv": "order_id,customer_id,amount\n3,c1,5\n",
            "bad.xlsx": "plain text",
        ])
        let env = ["XLCHAT_DATA_DIR": temporaryDirectory().path]
        let q = try await SpawnedProcess.run(BuiltBinary.path(), ["query", folder.path, "SELECT c.segment, sum(o.amount) AS total FROM orders o JOIN customers c USING (customer_id) GROUP BY 1 ORDER BY 1", "--json"], environment: env)
        #expect(q.status == 0, "\(q.stderr)")
        let r = try JSONDecoder().decode(WorkspaceQueryResult.self, from: Data(q.stdout.utf8))
        #expect(r.rows == [[.string("Retail"), .int(15)], [.string("Trade"), .int(20)]])
        #expect(q.stderr.contains("not read: bad.xlsx: corruptWorkbook"))
        let o = try await SpawnedProcess.run(BuiltBinary.path(), ["open", folder.path], environment: env)
        #expect(o.status == 0, "\(o.stderr)")
        #expect(o.stdout.contains("orders: union of 2 tables"))
        #expect(o.stdout.contains("0 read now"), "a second open reads nothing: \(o.stdout)")
        let row = try await SpawnedProcess.run(BuiltBinary.path(), ["query", folder.path, "SELECT amount FROM orders_02"], environment: env)
        #expect(row.stdout.contains("2024/orders_02.csv › orders_02!C2"), "\(row.stdout)")
    }
}

/// `workspace/search` through the real server: hits across files with file, sheet, range and
/// table; missing search parts built with `$/progress`; a file whose part cannot be built is
/// listed in `skipped` while the rest answer; a changed file gives fresh hits once noticed.
@Suite(.timeLimit(.minutes(3))) struct WorkspaceSearchServerTests {
    @Test func searchesEveryFileSkipsTheBrokenOneAndFollowsAChange() async throws {
        let folder = temporaryDirectory().appendingPathComponent("ws-search-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try WorkspaceServerTests.write(folder, [
            "orders.csv": "OrderId,Customer,Amount\nORD-11730,Acme Corp,120.5\nORD-11731,Globex,99\n",
            "customers.csv": "Customer,Segment\nAcme Corp,Enterprise\nGlobex,Retail\n",
        ])
        let xlsx = try #require(corpusFile("calamine__table-multiple.xlsx"))
        let codes = folder.appendingPathComponent("codes.xlsx").path
        try FileManager.default.copyItem(atPath: xlsx, toPath: codes)

        let c = TestClient.inProcess()
        try await c.initialize()
        let ws = try await c.send(WorkspaceOpenRequest(path: folder.path))
        #expect(ws.workbooks.allSatisfy { $0.status == "ready" })

        // codes.xlsx goes corrupt with the same size and mtime: still "ready" for the
        // workspace, but its search part cannot be built.
        var st = stat(); stat(codes, &st)
        try Data(repeating: 0x41, count: Int(st.st_size)).write(to: URL(fileURLWithPath: codes))
        var times = [st.st_atim, st.st_mtim]
        #expect(utimensat(AT_FDCWD, codes, &times, 0) == 0)

        let r = try await c.send(WorkspaceSearchRequest(workspaceId: ws.workspaceId, query: "ORD-11731", workDoneToken: .string("s1")))
        let top = try #require(r.results.first)
        #expect(top.file == "orders.csv")
        #expect(top.sheet == "orders")
        #expect(top.range == "A3:C3")
        #expect(top.ref == "orders.csv › 'orders'!A3:C3" || top.ref == "orders.csv › orders!A3:C3")
        #expect(top.table == "orders")
        #expect(top.text.contains("ORD-11731"))
        #expect(r.filesSearched == 2)
        #expect(r.filesBuilt == 2)
        #expect(r.skipped.map(\.path) == ["codes.xlsx"])
        #expect(r.skipped.first?.errorKind == "corruptWorkbook")
        #expect(c.notifications(method: "$/progress").contains { $0["params"]?["token"] == .string("s1") })

        // Hits from two files for a name in both.
        let acme = try await c.send(WorkspaceSearchRequest(workspaceId: ws.workspaceId, query: "Acme Corp", limit: 20))
        #expect(Set(acme.results.filter { $0.kind == "row" }.map(\.file)) == ["orders.csv", "customers.csv"])

        // A change on disk is noticed; the new row is found, the old one is gone.
        try WorkspaceServerTests.write(folder, ["orders.csv": "OrderId,Customer,Amount\nORD-55501,Initech,7\n"])
        _ = try await c.nextNotification(method: "workspace/didChange", timeout: .seconds(20))
        let fresh = try await c.send(WorkspaceSearchRequest(workspaceId: ws.workspaceId, query: "ORD-55501"))
        #expect(fresh.results.first?.file == "orders.csv")
        #expect(fresh.results.first?.text.contains("ORD-55501") == true)
        let gone = try await c.send(WorkspaceSearchRequest(workspaceId: ws.workspaceId, query: "ORD-11731", limit: 50))
        #expect(!gone.results.contains { $0.text.contains("ORD-11731") })

        let unknown = try await c.request(method: "workspace/search", params: ["workspaceId": "ws-nope", "query": "x"])
        #expect(errorKind(unknown) == "unknownWorkbook")
    }
}
