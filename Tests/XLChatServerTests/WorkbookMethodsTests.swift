import Foundation
import Testing
import XLChatProtocol
import XLChatServer
import XLChatTestSupport

func corpusFile(_ name: String) -> String? {
    let path = BuiltBinary.packageRoot().deletingLastPathComponent().appendingPathComponent("shared/corpus/files/\(name)").path
    if FileManager.default.fileExists(atPath: path) { return path }
    precondition(ProcessInfo.processInfo.environment["CI"] == nil, "CI: the corpus is missing (\(path))")
    Issue.record("the corpus file \(path) is missing; this test needs it")
    return nil
}

func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-wb-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func errorKind(_ reply: JSONValue) -> String? { reply["error"]?["data"]?["kind"]?.stringValue }

@Suite(.timeLimit(.minutes(3))) struct WorkbookMethodsTests {
    func client() async throws -> TestClient {
        let c = TestClient.inProcess()
        try await c.initialize()
        return c
    }

    @Test func openReportsSheetsTablesAndTypesAndIsStable() async throws {
        guard let file = corpusFile("agate-excel__test.xlsx") else { return }
        let c = try await client()
        let wb = try await c.send(WorkbookOpenRequest(path: file))
        #expect(wb.format == "xlsx")
        #expect(wb.sheets.count == 1)
        let sheet = wb.sheets[0]
        #expect(sheet.name == "test.csv" && sheet.range == "A1:E4" && !sheet.hidden)
        let columns = sheet.table?.columns.map { "\($0.name):\($0.type)" }
        #expect(columns == ["number:integer", "text:text", "boolean:boolean", "date:date", "datetime:datetime"])
        // The same unchanged file: the same id, from another session too.
        let again = try await c.send(WorkbookOpenRequest(path: file))
        #expect(again.workbookId == wb.workbookId && again.contentHash == wb.contentHash)
        let other = TestClient.inProcess()
        try await other.initialize()
        #expect(try await other.send(WorkbookOpenRequest(path: file)).workbookId == wb.workbookId)
    }

    @Test func readReturnsTypedCellsAsTheContractSays() async throws {
        guard let file = corpusFile("agate-excel__test.xlsx") else { return }
        let c = try await client()
        let wb = try await c.send(WorkbookOpenRequest(path: file))
        let all = try await c.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: "test.csv"))
        #expect(all.range == "A1:E4" && !all.truncated)
        #expect(all.rows[0] == ["number", "text", "boolean", "date", "datetime"])
        #expect(all.rows[1] == [1, "a", true, "2015-11-04", "2015-11-04T12:22:00"])
        #expect(all.rows[3] == [.null, "b", .null, .null, .null])
        let part = try await c.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: "test.csv", range: "B2:C3"))
        #expect(part.rows == [["a", true], ["👍", false]])
        let limited = try await c.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: "test.csv", limit: 2))
        #expect(limited.truncated && limited.rows.count == 2 && limited.range == "A1:E2")
    }

    @Test func readErrors() async throws {
        guard let file = corpusFile("agate-excel__test.xlsx") else { return }
        let c = try await client()
        let wb = try await c.send(WorkbookOpenRequest(path: file))
        func read(_ params: JSONValue) async throws -> JSONValue { try await c.request(method: "workbook/read", params: params) }
        let id = JSONValue.string(wb.workbookId)
        #expect(errorKind(try await read(["workbookId": id, "sheet": "Nope"])) == "unknownSheet")
        let unknownSheet = try await read(["workbookId": id, "sheet": "Nope"])
        #expect(unknownSheet["error"]?["message"]?.stringValue?.contains("'test.csv'") == true)
        for bad in ["B2:", "A0", "ZZZZ1", "A1:B", "hello", "A1048577"] {
            #expect(errorKind(try await read(["workbookId": id, "sheet": "test.csv", "range": .string(bad)])) == "invalidRange", "\(bad)")
        }
        let huge = try await read(["workbookId": id, "sheet": "test.csv", "range": "A1:XFD100000", "limit": 100000])
        #expect(errorKind(huge) == "invalidRange")
        #expect(errorKind(try await read(["workbookId": "wb-nope", "sheet": "x"])) == "unknownWorkbook")
        let wrongType = try await read(["workbookId": id, "sheet": 5])
        #expect(wrongType["error"]?["code"] == .int(-32602))
        #expect(wrongType["error"]?["message"]?.stringValue?.contains("sheet") == true)
        _ = try await c.send(WorkbookCloseRequest(workbookId: wb.workbookId))
        #expect(errorKind(try await read(["workbookId": id, "sheet": "test.csv"])) == "unknownWorkbook")
        #expect(errorKind(try await c.request(method: "workbook/close", params: ["workbookId": id])) == "unknownWorkbook")
    }

    @Test func openErrors() async throws {
        let c = try await client()
        let dir = temporaryDirectory()
        func open(_ path: String) async throws -> String? {
            errorKind(try await c.request(method: "workbook/open", params: ["path": .string(path)]))
        }
        #expect(try await open(dir.path + "/missing.xlsx") == "fileNotFound")
        #expect(try await open(dir.path) == "unsupportedFormat")
        let empty = dir.appendingPathComponent("empty.xlsx").path
        FileManager.default.createFile(atPath: empty, contents: Data())
        #expect(try await open(empty) == "corruptWorkbook")
        let notZip = dir.appendingPathComponent("fake.xlsx").path
        FileManager.default.createFile(atPath: notZip, contents: Data([0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 7, count: 100)))
        #expect(try await open(notZip) == "corruptWorkbook")
        if let encrypted = corpusFile("calamine__password.xls") { #expect(try await open(encrypted) == "encryptedWorkbook") }
        let neither = try await c.request(method: "workbook/open", params: [:])
        #expect(neither["error"]?["code"] == .int(-32602))
    }

    @Test func changedFileIsReadAgainUnderTheSameId() async throws {
        let c = try await client()
        let file = temporaryDirectory().appendingPathComponent("sales.csv")
        try "region,amount\nWest,10\nEast,20\n".write(to: file, atomically: true, encoding: .utf8)
        let first = try await c.send(WorkbookOpenRequest(path: file.path))
        #expect(first.sheets[0].rows == 3)
        try "region,amount\nWest,10\nEast,20\nNorth,30\n".write(to: file, atomically: true, encoding: .utf8)
        let second = try await c.send(WorkbookOpenRequest(path: file.path))
        #expect(second.workbookId == first.workbookId)
        #expect(second.contentHash != first.contentHash)
        #expect(second.sheets[0].rows == 4)
        // A read after a change sees the new content even without reopening.
        try "region,amount\nSouth,5\n".write(to: file, atomically: true, encoding: .utf8)
        let read = try await c.send(WorkbookReadRequest(workbookId: first.workbookId, sheet: second.sheets[0].name))
        #expect(read.rows == [["region", "amount"], ["South", 5]])
    }

    @Test func unsavedBufferOpensAsText() async throws {
        let c = try await client()
        let wb = try await c.send(WorkbookOpenRequest(text: "name\tqty\nbolt\t4\nnut\t9\n", format: "tsv", name: "scratch.tsv"))
        #expect(wb.format == "tsv")
        #expect(wb.sheets[0].table?.columns.map(\.type) == ["text", "integer"])
        let q = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT sum(qty) AS total FROM \"\(wb.sheets[0].table!.name)\""))
        #expect(q.rows == [[13]])
        let again = try await c.send(WorkbookOpenRequest(text: "name\tqty\nbolt\t5\n", format: "tsv", name: "scratch.tsv"))
        #expect(again.workbookId == wb.workbookId && again.contentHash != wb.contentHash)
        let bad = try await c.request(method: "workbook/open", params: ["text": "x", "format": "xlsx", "name": "n"])
        #expect(errorKind(bad) == "unsupportedFormat")
    }

    @Test func queryIsReadOnlyAndCitesRows() async throws {
        let c = try await client()
        let wb = try await c.send(WorkbookOpenRequest(text: "region,product,revenue\nWest,Gizmo,1250\nEast,Widget,300\nWest,Widget,700\n", format: "csv", name: "orders.csv"))
        let table = wb.sheets[0].table!.name
        let rows = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT region, revenue FROM \"\(table)\" WHERE revenue > 500 ORDER BY revenue DESC"))
        #expect(rows.columns == ["region", "revenue"])
        #expect(rows.rows == [["West", 1250], ["West", 700]])
        #expect(rows.ranges.allSatisfy { $0 != nil })
        let total = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT region, sum(revenue) FROM \"\(table)\" GROUP BY region ORDER BY 1"))
        #expect(total.rows == [["East", 300], ["West", 1950]])
        for sql in ["DELETE FROM \"\(table)\"", "DROP TABLE \"\(table)\"", "ATTACH DATABASE '/tmp/x.db' AS x", "PRAGMA writable_schema=1",
                    "SELECT load_extension('x')", "VACUUM INTO '/tmp/stolen.db'", "SELECT * FROM nosuchtable"] {
            let r = try await c.request(method: "workbook/query", params: ["workbookId": .string(wb.workbookId), "sql": .string(sql)])
            #expect(errorKind(r) == "invalidQuery", "\(sql)")
        }
        let runaway = try await c.request(method: "workbook/query", params: [
            "workbookId": .string(wb.workbookId), "timeoutMs": 300,
            "sql": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT count(*) FROM n"])
        #expect(errorKind(runaway) == "invalidQuery")
    }

    @Test func indexBuildReportsProgressThenSearchFindsRows() async throws {
        let c = try await client()
        var csv = "order,region,product,amount\n"
        for i in 0..<500 { csv += "ORD-\(10000 + i),\(["West", "East", "North"][i % 3]),\(["Gizmo", "Widget", "Sprocket", "Flange"][i % 4]),\(i * 3)\n" }
        let wb = try await c.send(WorkbookOpenRequest(text: csv, format: "csv", name: "orders.csv"))
        // Open built the typed tables (SQL is ready); the search part waits for the first search.
        let opened = try await c.send(IndexStatusRequest(workbookId: wb.workbookId))
        #expect(opened.tablesReady == true && opened.search == "notBuilt" && !opened.built && opened.tables.first?.rows == 500)
        let first = try await c.send(IndexSearchRequest(workbookId: wb.workbookId, query: "Sprocket"))
        #expect(first.results.contains { $0.text.contains("Sprocket") })
        let searched = try await c.send(IndexStatusRequest(workbookId: wb.workbookId))
        #expect(searched.search == "ready" && searched.built && (searched.bytesOnDisk ?? 0) > 0)
        let built = try await c.send(IndexBuildRequest(workbookId: wb.workbookId, workDoneToken: .string("tok-1"), force: true))
        #expect(!built.reused && built.chunks >= 500)
        var kinds: [String] = []
        while let n = try? await c.nextNotification(method: "$/progress", timeout: .milliseconds(500)) {
            #expect(n["params"]?["token"] == "tok-1")
            kinds.append(n["params"]?["value"]?["kind"]?.stringValue ?? "?")
        }
        #expect(kinds.first == "begin" && kinds.last == "end" && kinds.filter { $0 == "begin" }.count == 1 && kinds.filter { $0 == "end" }.count == 1)
        let again = try await c.send(IndexBuildRequest(workbookId: wb.workbookId))
        #expect(again.reused)
        let hits = try await c.send(IndexSearchRequest(workbookId: wb.workbookId, query: "ORD-10042", limit: 3))
        #expect(hits.results.first?.text.contains("ORD-10042") == true)
        #expect(hits.results.first?.ref.hasPrefix("orders!") == true || hits.results.first?.ref.contains("!") == true)
        let status = try await c.send(IndexStatusRequest(workbookId: wb.workbookId))
        #expect(status.built && status.chunks == built.chunks)
    }

    /// A long index build neither holds up other requests on the connection nor survives a cancel.
    @Test func longBuildRunsConcurrentlyAndCancelsPromptly() async throws {
        let c = try await client()
        let file = temporaryDirectory().appendingPathComponent("big.csv")
        var csv = "id,name,city,score,when\n"
        csv.reserveCapacity(8_000_000)
        for i in 0..<150_000 { csv += "\(i),name \(i % 977),city \(i % 31),\(Double(i) / 7),2024-01-\(10 + i % 19)\n" }
        try csv.write(to: file, atomically: true, encoding: .utf8)
        let wb = try await c.send(WorkbookOpenRequest(path: file.path))
        let (id, reply) = c.startRequest(method: "index/build", params: ["workbookId": .string(wb.workbookId), "workDoneToken": "big"])
        // begin: the build is running (generous: the whole suite runs in parallel on 2 cores)
        _ = try await c.nextNotification(method: "$/progress", timeout: .seconds(60))
        let t0 = ContinuousClock.now
        #expect(try await c.send(HealthRequest()).checks["storage"] == "ok")
        #expect(try await c.send(PingRequest()) == PingResult())
        #expect(ContinuousClock.now - t0 < .seconds(5))
        let t1 = ContinuousClock.now
        try await c.notify(method: "$/cancelRequest", params: ["id": id.json])
        let r = try await reply.value
        #expect(r["error"]?["code"] == .int(-32800))
        #expect(ContinuousClock.now - t1 < .seconds(1))
        // The server is still usable, and a new build completes.
        let status = try await c.send(IndexStatusRequest(workbookId: wb.workbookId))
        #expect(!status.built)
    }
}

@Suite(.timeLimit(.minutes(3))) struct WorkbookReadFormulasTests {
    @Test func readWithFormulasGivesValueAndFormulaAndWithoutIsUnchanged() async throws {
        guard let file = corpusFile("xlrd__formula_test_sjmachin.xls") else {
            Issue.record("the corpus is missing: formula reading cannot be checked"); return
        }
        let c = TestClient.inProcess()
        try await c.initialize()
        let wb = try await c.send(WorkbookOpenRequest(path: file))
        let plain = try await c.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: "Sheet1", range: "B3:B8"))
        let with = try await c.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: "Sheet1", range: "B3:B8", formulas: true))
        #expect(plain.rows.allSatisfy { row in row.allSatisfy { $0["formula"] == nil } }, "without the flag the reply is unchanged")
        #expect(with.rows[0][0]["formula"] == "=1/7" && with.rows[0][0]["value"] == plain.rows[0][0])
        #expect(with.rows[1][0]["formula"] == "=\"ABC\" & \"DEF\"" && with.rows[1][0]["value"] == "ABCDEF", "the spaces as the author typed them")
        #expect(with.rows[4][0]["formula"] == "=1/0" && with.rows[4][0]["value"] == plain.rows[4][0])
        #expect(with.rows[5][0]["formula"] == "=B2")
        let flagFalse = try await c.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: "Sheet1", range: "B3:B8", formulas: false))
        #expect(flagFalse == plain)
        await c.close()
    }

    @Test func readWithFormulasOverTheBuiltBinaryCLI() async throws {
        guard let file = corpusFile("xlrd__formula_test_sjmachin.xls") else {
            Issue.record("the corpus is missing: formula reading cannot be checked"); return
        }
        var env = ProcessInfo.processInfo.environment
        env["XLCHAT_DATA_DIR"] = temporaryDirectory().path
        env["OLLAMA_HOST"] = "127.0.0.1:1"
        let out = try await SpawnedProcess.run(BuiltBinary.path(), ["read", file, "Sheet1", "B3:B8", "--formulas"], environment: env)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("=1/7") && out.stdout.contains("=\"ABC\" & \"DEF\"") && out.stdout.contains("=B2"), "\(out.stdout)")
        let plain = try await SpawnedProcess.run(BuiltBinary.path(), ["read", file, "Sheet1", "B3:B8"], environment: env)
        #expect(!plain.stdout.contains("=1/7"))
    }
}
