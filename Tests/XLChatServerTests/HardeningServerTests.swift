import Foundation
import Testing
import XLChatProtocol
import XLChatTestSupport
@testable import XLChatServer
import XLChatWorkbook
#if canImport(Glibc)
import Glibc
#endif

/// Issue 14 through the real server: special files, work that stops when told, limits on what
/// a query returns, the socket token and private data. Time bounds are generous (a loaded
/// 2-core machine); the failures they guard against took from tens of seconds to forever.
@Suite(.timeLimit(.minutes(3))) struct HardeningServerTests {
    static let runaway = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT count(*) FROM n"

    func client(_ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> TestClient {
        var config = TestClient.temporaryConfiguration()
        configure(&config)
        let c = TestClient.inProcess(configuration: config)
        try await c.initialize()
        return c
    }

    func seconds(since t: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9 }

    func smallWorkbook(_ c: TestClient) async throws -> WorkbookOpenResult {
        try await c.send(WorkbookOpenRequest(text: "region,revenue\nWest,1250\nEast,300\n", format: "csv", name: "orders.csv"))
    }

    // MARK: item 6: special files

    @Test func fifoAndDevicesAreRefusedAtOnce() async throws {
        let c = try await client()
        let fifo = temporaryDirectory().appendingPathComponent("pipe.xlsx").path
        #expect(mkfifo(fifo, 0o600) == 0)
        for path in [fifo, "/dev/zero", "/dev/urandom", "/dev/null"] {
            let t = DispatchTime.now().uptimeNanoseconds
            let r = try await c.request(method: "workbook/open", params: ["path": .string(path)])
            #expect(errorKind(r) == "unsupportedFormat", "\(path): \(r)")
            #expect(r["error"]?["message"]?.stringValue?.contains("not a regular file") == true, "\(path)")
            #expect(seconds(since: t) < 2, "\(path) took \(seconds(since: t)) s")
        }
    }

    /// 60 stuck opens used to delay another client's open by 56 s. Now FIFOs are refused, and
    /// one connection's queued engine work cannot take every engine thread.
    @Test func sixtyFifoOpensDoNotDelayAnotherClient() async throws {
        let config = TestClient.temporaryConfiguration()
        let a = TestClient.inProcess(configuration: config)
        try await a.initialize()
        let dir = temporaryDirectory()
        var pending: [Task<JSONValue, any Error>] = []
        for i in 0..<60 {
            let fifo = dir.appendingPathComponent("f\(i).csv").path
            #expect(mkfifo(fifo, 0o600) == 0)
            pending.append(a.startRequest(method: "workbook/open", params: ["path": .string(fifo)]).reply)
        }
        let b = TestClient.inProcess(configuration: config)
        try await b.initialize()
        let t = DispatchTime.now().uptimeNanoseconds
        _ = try await smallWorkbook(b)
        #expect(seconds(since: t) < 3, "another client's open took \(seconds(since: t)) s")
        for p in pending { #expect(errorKind(try await p.value) == "unsupportedFormat") }
    }

    @Test func enginePoolSharesThreadsBetweenOwners() async throws {
        let pool = EnginePool(threads: 4)
        let gate = DispatchSemaphore(value: 0)
        // Owner 1 queues 20 jobs that block; at most half the threads run them.
        for _ in 0..<20 { pool.submit(owner: 1) { gate.wait() } }
        let done = DispatchSemaphore(value: 0)
        let t = DispatchTime.now().uptimeNanoseconds
        pool.submit(owner: 2) { done.signal() }
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(seconds(since: t) < 1)
        for _ in 0..<20 { gate.signal() }
    }

    // MARK: item 5: work that stops when told

    @Test func timeoutMsIsCappedServerSide() async throws {
        let c = try await client { $0.maxQueryTimeoutMs = 1000 }
        let wb = try await smallWorkbook(c)
        let t = DispatchTime.now().uptimeNanoseconds
        let r = try await c.request(method: "workbook/query", params: [
            "workbookId": .string(wb.workbookId), "timeoutMs": 600_000, "sql": .string(Self.runaway)])
        #expect(errorKind(r) == "invalidQuery", "\(r)")
        #expect(seconds(since: t) < 5, "a 600 s timeoutMs ran \(seconds(since: t)) s with a 1 s cap")
    }

    @Test func cancelStopsTheQueryItself() async throws {
        let c = try await client { $0.maxQueryTimeoutMs = 120_000 }
        let wb = try await smallWorkbook(c)
        _ = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT 1"))  // index built
        let (id, reply) = c.startRequest(method: "workbook/query", params: [
            "workbookId": .string(wb.workbookId), "timeoutMs": 120_000, "sql": .string(Self.runaway)])
        try await Task.sleep(for: .milliseconds(300))
        try await c.notify(method: "$/cancelRequest", params: ["id": id.json])
        #expect(try await reply.value["error"]?["code"] == .int(-32800))
        // The connection ends only once its requests' work has ended (else it waits 5 s at end
        // of input): a prompt end means the query itself stopped, not only its reply.
        let t = DispatchTime.now().uptimeNanoseconds
        await c.close()
        #expect(seconds(since: t) < 1.5, "the query ran \(seconds(since: t)) s after cancel")
    }

    /// End of input with a query running: the query gets the grace, then is stopped.
    @Test func endOfInputStopsARunningQuery() async throws {
        let c = try await client { $0.maxQueryTimeoutMs = 120_000 }
        let wb = try await smallWorkbook(c)
        _ = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT 1"))
        _ = c.startRequest(method: "workbook/query", params: [
            "workbookId": .string(wb.workbookId), "timeoutMs": 120_000, "sql": .string(Self.runaway)])
        try await Task.sleep(for: .milliseconds(300))
        let t = DispatchTime.now().uptimeNanoseconds
        await c.close()
        #expect(seconds(since: t) < 8, "end of input waited \(seconds(since: t)) s for a 120 s query")
    }

    /// `exit` used to wait for a running query to finish; now the process ends at once.
    @Test func exitDoesNotWaitForARunningQuery() async throws {
        var env = ProcessInfo.processInfo.environment
        env["XLCHAT_DATA_DIR"] = temporaryDirectory().path
        env["OLLAMA_HOST"] = "127.0.0.1:1"
        env["XLCHAT_MAX_QUERY_TIMEOUT_MS"] = "120000"
        let p = try SpawnedProcess(BuiltBinary.path(), ["serve"], environment: env)
        let c = p.client()
        try await c.initialize()
        let wb = try await smallWorkbook(c)
        _ = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT 1"))
        _ = c.startRequest(method: "workbook/query", params: [
            "workbookId": .string(wb.workbookId), "timeoutMs": 120_000, "sql": .string(Self.runaway)])
        try await Task.sleep(for: .milliseconds(300))
        let t = DispatchTime.now().uptimeNanoseconds
        try await c.notify(method: "exit")
        let status = await p.wait(timeout: .seconds(20))
        #expect(status == 1)
        #expect(seconds(since: t) < 2.5, "exit took \(seconds(since: t)) s")
    }

    @Test func hugeSingleValuesStopAtTheLengthLimit() async throws {
        let c = try await client()
        let wb = try await smallWorkbook(c)
        let t = DispatchTime.now().uptimeNanoseconds
        let r = try await c.request(method: "workbook/query", params: [
            "workbookId": .string(wb.workbookId), "sql": "SELECT printf('%.*c', 2000000000, 'x')"])
        #expect(errorKind(r) == "invalidQuery", "\(r)")
        #expect(seconds(since: t) < 5, "printf bomb took \(seconds(since: t)) s")
        for sql in ["SELECT printf('%2000000000c', 'x')", "SELECT format('%.*s|%*d', 3000000000, 'x', -2100000000, 1)"] {
            let bomb = try await c.request(method: "workbook/query", params: ["workbookId": .string(wb.workbookId), "sql": .string(sql)])
            #expect(errorKind(bomb) == "invalidQuery", "\(sql): \(bomb)")
        }
        // printf itself still formats as SQLite does.
        let fine = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId,
            sql: "SELECT printf('%5.2f|%s|%d|%%|%-3s|', 3.14159, 'x', 42, 'ab') AS p, format('%q', 'it''s') AS q, printf(NULL) AS n"))
        #expect(fine.rows == [[" 3.14|x|42|%|ab |", "it''s", .null]])
    }

    /// `SELECT zeroblob(49000000)` over 10 rows replied 653 MB; now each value is cut to 1 MiB,
    /// the reply to 16 MiB, and `truncated` says so.
    @Test func queryRepliesAreBoundedAndSayTruncated() async throws {
        let c = try await client()
        var csv = "n\n"
        for i in 1...10 { csv += "\(i)\n" }
        let wb = try await c.send(WorkbookOpenRequest(text: csv, format: "csv", name: "ten.csv"))
        let table = wb.sheets[0].table!.name
        let t = DispatchTime.now().uptimeNanoseconds
        let r = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT zeroblob(49000000) AS z FROM \"\(table)\""))
        #expect(r.truncated)
        let bytes = r.rows.reduce(0) { $0 + ($1.first?.stringValue?.utf8.count ?? 0) }
        #expect(bytes <= 24 << 20, "the reply carried \(bytes) bytes")
        #expect(r.rows.allSatisfy { ($0.first?.stringValue?.utf8.count ?? 0) <= (1 << 20) * 4 / 3 + 4 })
        #expect(seconds(since: t) < 20)
        let text = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT printf('%.*c', 3000000, 'é') AS s"))
        #expect(text.truncated)
        #expect((text.rows.first?.first?.stringValue?.utf8.count ?? 0) <= 1 << 20)
    }

    // MARK: item 10

    /// The index was built with the model server's embeddings; that server is gone: search
    /// falls back to keywords (FTS5), says so, and does not fail with llmUnavailable.
    @Test func searchWorksOfflineWithKeywordFallback() async throws {
        let model = ScriptedModelServer(models: ["test-chat:latest", "test-embed:latest"], embeddingDimensions: 8)
        try await model.start()
        var config = TestClient.temporaryConfiguration()
        config.ollamaHost = model.hostAndPort
        config.embedModel = "test-embed"
        let c = TestClient.inProcess(configuration: config)
        try await c.initialize()
        let wb = try await c.send(WorkbookOpenRequest(text: "region,product\nWest,Sprocket\nEast,Widget\n", format: "csv", name: "p.csv"))
        let built = try await c.send(IndexBuildRequest(workbookId: wb.workbookId))
        #expect(built.embeddingModel == "model:test-embed-8")
        let online = try await c.send(IndexSearchRequest(workbookId: wb.workbookId, query: "Sprocket"))
        #expect(online.fallback == nil)
        await model.shutdown()
        let offline = try await c.send(IndexSearchRequest(workbookId: wb.workbookId, query: "Sprocket"))
        #expect(offline.fallback?.contains("keyword") == true)
        #expect(offline.results.contains { $0.text.contains("Sprocket") }, "\(offline)")
    }

    /// `xlchat query` printed a stray `Indexing [ ] 0%` line on stderr after its result.
    @Test func queryCommandPrintsNoProgressAfterItsResult() async throws {
        let dir = temporaryDirectory()
        let csv = dir.appendingPathComponent("q.csv").path
        try Data("a,b\n1,2\n3,4\n".utf8).write(to: URL(fileURLWithPath: csv))
        var env = ProcessInfo.processInfo.environment
        env["XLCHAT_DATA_DIR"] = dir.appendingPathComponent("data").path
        env["OLLAMA_HOST"] = "127.0.0.1:1"
        for _ in 0..<3 {  // the first builds the index, the others reuse it
            let r = try await SpawnedProcess.run(BuiltBinary.path(), ["query", csv, "SELECT 1"], environment: env)
            #expect(r.status == 0, "\(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            guard let summary = lines.lastIndex(where: { $0.hasPrefix("(") }) else { Issue.record("no summary: \(r.stderr)"); continue }
            #expect(lines[(summary + 1)...].allSatisfy { !$0.contains("Indexing") }, "\(r.stderr)")
        }
    }

    // MARK: item 1: token and private data

    @Test func tokenIsRequiredWhenConfigured() async throws {
        var config = TestClient.temporaryConfiguration()
        config.authToken = "s3cret-token-0123456789"
        let c = TestClient.inProcess(configuration: config)
        let ping = try await c.request(method: "server/ping")
        #expect(errorKind(ping) == "unauthorized")
        #expect(ping["error"]?["code"] == .int(-32001))
        let bad = try await c.request(method: "initialize", params: ["authToken": "wrong"])
        #expect(errorKind(bad) == "unauthorized")
        #expect(errorKind(try await c.request(method: "server/ping")) == "unauthorized")
        let good = try await c.request(method: "initialize", params: ["authToken": .string(config.authToken!)])
        #expect(good["result"]?["serverInfo"]?["name"] == "xlchat")
        #expect(try await c.request(method: "server/ping")["result"] != nil)
    }

    @Test func dataDirectoryIsPrivate() async throws {
        var config = TestClient.temporaryConfiguration()
        // An existing, looser directory with a loose file is tightened.
        try FileManager.default.createDirectory(atPath: config.dataDirectory + "/old", withIntermediateDirectories: true)
        chmod(config.dataDirectory, 0o755)
        chmod(config.dataDirectory + "/old", 0o755)
        FileManager.default.createFile(atPath: config.dataDirectory + "/old/x", contents: Data("x".utf8), attributes: [.posixPermissions: 0o644])
        config.ollamaHost = "127.0.0.1:1"
        let c = TestClient.inProcess(configuration: config)
        try await c.initialize()
        let wb = try await c.send(WorkbookOpenRequest(text: "a,b\n1,2\n", format: "csv", name: "secret.csv"))
        _ = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT 1"))
        #expect(DataDirectoryPermissions.loose(config.dataDirectory).map(\.0) == [])
        var count = 0
        let walker = FileManager.default.enumerator(atPath: config.dataDirectory)
        while let name = walker?.nextObject() as? String {
            var st = stat()
            lstat(config.dataDirectory + "/" + name, &st)
            #expect(st.st_mode & 0o077 == 0, "\(name) has mode \(String(st.st_mode & 0o777, radix: 8))")
            count += 1
        }
        #expect(count >= 3)  // buffers, the index, its files
    }
}
