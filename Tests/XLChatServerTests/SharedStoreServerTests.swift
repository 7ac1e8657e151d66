import Foundation
import Testing
import XLChatIndex
import XLChatPostgres
import XLChatProtocol
import XLChatServer
import XLChatTestSupport

/// The store chosen by configuration (`XLCHAT_STORE`, read by `ServerConfiguration.fromEnvironment`)
/// through the real server (in-process client): the same requests and answers for SQLite and
/// the PostgreSQL store (issue 15), and its errors as wire error kinds.
@Suite(.serialized) struct SharedStoreServerTests {
    enum Store: String, CaseIterable, Sendable { case sqlite, postgres }

    /// `XLCHAT_TEST_PG` (scripts/pg-test-cluster.sh); FAILS under CI when missing, skips locally.
    static func postgresURL() throws -> String? {
        let env = ProcessInfo.processInfo.environment
        guard let url = env["XLCHAT_TEST_PG"], !url.isEmpty else {
            if ["true", "1", "yes"].contains((env["CI"] ?? "").lowercased()) {
                Issue.record("XLCHAT_TEST_PG is not set under CI: .ci/run must start the PostgreSQL test cluster")
                throw CancellationError()
            }
            FileHandle.standardError.write(Data("skipped: XLCHAT_TEST_PG is not set (scripts/pg-test-cluster.sh start DIR prints it)\n".utf8))
            return nil
        }
        _ = try PostgresTableStore.initialize(settings: try PostgresSettings(url: url))
        return url
    }

    static func configuration(_ store: Store) throws -> ServerConfiguration? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-test-\(UUID().uuidString)").path
        var env = ["XLCHAT_DATA_DIR": dir, "OLLAMA_HOST": "127.0.0.1:1"]
        if store == .postgres {
            guard let url = try postgresURL() else { return nil }
            env["XLCHAT_STORE"] = url
        }
        return ServerConfiguration.fromEnvironment(env)
    }

    static func csv(rows: Int) throws -> (path: String, total: Int64) {
        let salt = Int64.random(in: 0...1_000_000)
        var text = "Item,Qty,Amount\n"
        var total: Int64 = 0
        for i in 0..<rows {
            let q = (Int64(i) * 37 + salt) % 500
            total += q
            text += "item-\(salt)-\(i),\(q),\(Double(i % 1000) / 8)\n"
        }
        let path = NSTemporaryDirectory() + "xlchat-store-\(UUID().uuidString).csv"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return (path, total)
    }

    @Test(arguments: Store.allCases)
    func openAndQueryThroughTheServer(_ store: Store) async throws {
        guard let config = try Self.configuration(store) else { return }
        #expect(config.usesPostgresStore == (store == .postgres))
        let (path, total) = try Self.csv(rows: 2_500)
        let client = try await InProcessClient.forTests(configuration: config)
        let wb = try await client.send(WorkbookOpenRequest(path: path))
        let table = try #require(wb.sheets.first?.tables.first?.name)
        let r = try await client.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT SUM(\"Qty\"), COUNT(*) FROM \"\(table)\""))
        #expect(r.rows.first?.first == .int(total))
        #expect(r.rows.first?.last == .int(2_500))
        // A second server (another editor of the team) opens the same file: reused, same answer.
        guard let config2 = try Self.configuration(store) else { return }
        let client2 = try await InProcessClient.forTests(configuration: config2)
        let wb2 = try await client2.send(WorkbookOpenRequest(path: path))
        let r2 = try await client2.send(WorkbookQueryRequest(workbookId: wb2.workbookId, sql: "SELECT SUM(\"Qty\") FROM \"\(table)\""))
        #expect(r2.rows == [[.int(total)]])
        let status = try await client2.send(IndexStatusRequest(workbookId: wb2.workbookId))
        #expect(status.tablesReady == true)
    }

    /// `server/health` has a `store` check (SQLite: "ok"; PostgreSQL: diagnosed, with the server
    /// version in the details), and `server/metrics` counts the store's queries and their latency
    /// by store and outcome.
    @Test(arguments: Store.allCases)
    func healthChecksTheStoreAndMetricsCountItsQueries(_ store: Store) async throws {
        guard let config = try Self.configuration(store) else { return }
        let client = try await InProcessClient.forTests(configuration: config)
        let health = try await client.send(HealthRequest())
        #expect(health.checks["store"] == "ok", "\(health.checks)")
        if store == .postgres {
            #expect(health.details?["store"]?.hasPrefix("postgres://") == true)
            #expect(health.details?["store"]?.contains("xlchat-test") == false, "the password never shows")
            #expect(health.details?["storeVersion"]?.first?.isNumber == true, "\(health.details ?? [:])")
        } else {
            #expect(health.details?["store"] == "sqlite")
        }
        let (path, total) = try Self.csv(rows: 300)
        let wb = try await client.send(WorkbookOpenRequest(path: path))
        let table = try #require(wb.sheets.first?.tables.first?.name)
        for _ in 0..<3 {
            let r = try await client.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT SUM(\"Qty\") FROM \"\(table)\""))
            #expect(r.rows == [[.int(total)]])
        }
        await #expect(throws: ResponseError.self) {
            try await client.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT nope FROM \"\(table)\""))
        }
        let text = try await client.send(MetricsRequest()).text
        let label = store == .postgres ? "postgresql" : "sqlite"
        let ok = text.split(separator: "\n").first { $0.hasPrefix("xlchat_store_queries_total{") && $0.contains("store=\"\(label)\"") && $0.contains("outcome=\"ok\"") }
        #expect(ok.map { $0.hasSuffix(" 3") || $0.hasSuffix(" 3.0") } == true, "\(text)")
        #expect(text.contains("outcome=\"invalidQuery\""), "\(text)")
        let count = text.split(separator: "\n").first { $0.hasPrefix("xlchat_store_query_duration_seconds_count{") && $0.contains("store=\"\(label)\"") }
        #expect(count.map { $0.hasSuffix(" 4") || $0.hasSuffix(" 4.0") } == true, "\(text)")
    }

    /// An editor's unsaved buffer (workbook/open with `text`) is not shared: with the PostgreSQL
    /// store configured its tables are built in the local SQLite, its queries run there (in
    /// SQLite's dialect, counted as `sqlite`), and the store never holds its hash; the saved
    /// file's version, opened by the same server, is in the store.
    @Test func anUnsavedBufferStaysOutOfTheStore() async throws {
        guard let config = try Self.configuration(.postgres), let url = try Self.postgresURL() else { return }
        let client = try await InProcessClient.forTests(configuration: config)
        let (path, total) = try Self.csv(rows: 400)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let buffer = try await client.send(WorkbookOpenRequest(text: text, format: "csv", name: "draft.csv"))
        let table = try #require(buffer.sheets.first?.tables.first?.name)
        let r = try await client.send(WorkbookQueryRequest(workbookId: buffer.workbookId, sql: "SELECT SUM(\"Qty\") FROM \"\(table)\""))
        #expect(r.rows == [[.int(total)]])
        let store = try PostgresTableStore(settings: try PostgresSettings(url: url))
        #expect(try store.sharedTables(hash: buffer.contentHash) == nil, "the buffer's tables went to the shared store")
        let status = try await client.send(IndexStatusRequest(workbookId: buffer.workbookId))
        #expect(status.tablesReady == true)
        let saved = try await client.send(WorkbookOpenRequest(path: path))
        #expect(try store.sharedTables(hash: saved.contentHash) != nil)
        let metrics = try await client.send(MetricsRequest()).text
        let sqliteQueries = metrics.split(separator: "\n").first { $0.hasPrefix("xlchat_store_queries_total{") && $0.contains("store=\"sqlite\"") }
        #expect(sqliteQueries?.contains("outcome=\"ok\"") == true, "\(metrics)")
    }

    @Test func aStoreThatIsDownDegradesHealth() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-test-\(UUID().uuidString)").path
        let config = ServerConfiguration.fromEnvironment(["XLCHAT_DATA_DIR": dir, "OLLAMA_HOST": "127.0.0.1:1",
                                                           "XLCHAT_STORE": "postgres://nobody@127.0.0.1:1/xlchat"])
        let client = try await InProcessClient.forTests(configuration: config)
        let started = Date()
        let health = try await client.send(HealthRequest())
        #expect(Date().timeIntervalSince(started) < 12)
        #expect(health.status == .degraded)
        #expect(health.checks["store"]?.contains("cannot be reached") == true, "\(health.checks)")
        #expect(health.checks["storage"] == "ok")
    }

    @Test func aStoreThatIsDownIsAWireError() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-test-\(UUID().uuidString)").path
        let config = ServerConfiguration.fromEnvironment(["XLCHAT_DATA_DIR": dir, "OLLAMA_HOST": "127.0.0.1:1",
                                                           "XLCHAT_STORE": "postgres://nobody@127.0.0.1:1/xlchat"])
        let (path, _) = try Self.csv(rows: 10)
        let client = try await InProcessClient.forTests(configuration: config)
        let error: ResponseError? = await {
            do { _ = try await client.send(WorkbookOpenRequest(path: path)); return nil } catch { return error as? ResponseError }
        }()
        let kind = error?.kind
        let message = error?.message ?? "opened without its store"
        #expect(kind == .storeUnavailable, "\(message)")
        #expect(message.contains("cannot be reached"))
    }

    @Test func pgEnvironmentFillsTheConnectionString() throws {
        let config = ServerConfiguration.fromEnvironment(["XLCHAT_STORE": "postgres:///team", "PGHOST": "db.local", "PGPORT": "6000",
                                                           "PGUSER": "ann", "PGPASSWORD": "pw"])
        let s = try #require(try config.postgresSettings())
        #expect(s.host == "db.local" && s.port == 6000 && s.user == "ann" && s.password == "pw" && s.database == "team")
        #expect(try ServerConfiguration.fromEnvironment([:]).postgresSettings() == nil)
        #expect(try ServerConfiguration.fromEnvironment(["XLCHAT_STORE": "sqlite"]).postgresSettings() == nil)
    }

    /// Two xlchat processes on one store, started at once: one builds, the other waits and
    /// reuses; both answer the same sum. Then `store gc --days 0` drops it and a third process
    /// builds again. Through the built binary.
    @Test func twoProcessesShareOneBuild() async throws {
        guard let url = try Self.postgresURL() else { return }
        let (path, total) = try Self.csv(rows: 30_000)
        let bin = BuiltBinary.path()
        func run(_ args: [String]) async throws -> CommandResult {
            var env = ProcessInfo.processInfo.environment
            env["XLCHAT_DATA_DIR"] = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-test-\(UUID().uuidString)").path
            env["XLCHAT_STORE"] = url
            env["OLLAMA_HOST"] = "127.0.0.1:1"
            return try await SpawnedProcess.run(bin, args, environment: env, timeout: .seconds(120))
        }
        // The table's name, from a local (SQLite) open that leaves the store alone.
        let local = try await InProcessClient.forTests(configuration: try #require(try Self.configuration(.sqlite)))
        let table = try #require(try await local.send(WorkbookOpenRequest(path: path)).sheets.first?.tables.first?.name)
        let sql = "SELECT SUM(\"Qty\") AS total FROM \"\(table)\""
        async let a = run(["query", path, sql, "--json"])
        async let b = run(["query", path, sql, "--json"])
        let (ra, rb) = try await (a, b)
        for r in [ra, rb] {
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("\(total)"), "\(r.stdout) \(r.stderr)")
        }
        let settings = try PostgresSettings(url: url)
        let hash = try ContentHashOf.file(path)
        #expect(try PostgresTableStore(settings: settings).sharedTables(hash: hash) != nil)
        // Last opened three days ago (only this workbook: other tests use the store meanwhile).
        try await Self.age(settings, hash: hash, days: 3)
        let gc = try await run(["store", "gc", "--days", "2"])
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(try PostgresTableStore(settings: settings).sharedTables(hash: hash) == nil)
        let again = try await run(["query", path, sql, "--json"])
        #expect(again.status == 0 && again.stdout.contains("\(total)"), "\(again.stderr)")
    }

    static func age(_ settings: PostgresSettings, hash: String, days: Int) async throws {
        let r = try await SpawnedProcess.run("/usr/bin/env", ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", settings.host, "-p", String(settings.port),
                                                              "-U", settings.user, "-d", settings.database, "-c",
                                                              "UPDATE xlchat.workbooks SET last_opened_at = now() - interval '\(days) days' WHERE hash = '\(hash)'"],
                                             environment: ["PGPASSWORD": settings.password ?? "", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func storeInitIsIdempotentFromTheCommandLine() async throws {
        guard let url = try Self.postgresURL() else { return }
        for _ in 0..<2 {
            let r = try await SpawnedProcess.run(BuiltBinary.path(), ["store", "init", "--store", url], timeout: .seconds(60))
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("store ready"))
        }
        let bad = try await SpawnedProcess.run(BuiltBinary.path(), ["store", "init", "--store", "postgres://xlchat_admin:wrong@" + url.split(separator: "@").last!],
                                              timeout: .seconds(60))
        #expect(bad.status != 0 && bad.stderr.contains("storeDenied"), "\(bad.stderr)")
    }
}

import XLChatWorkbook
enum ContentHashOf {
    static func file(_ path: String) throws -> String { try ContentHash.workbookVersion(path: path) }
}
