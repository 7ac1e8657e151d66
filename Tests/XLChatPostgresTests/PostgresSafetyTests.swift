import Foundation
import Synchronization
import Logging
import PostgresNIO
import Testing
import XLChatIndex
import XLChatWorkbook
@testable import XLChatPostgres

/// What only the PostgreSQL store has: read-only SQL enforced by the database (a SELECT-only
/// role, READ ONLY transactions, statement_timeout, search_path, revoked functions and
/// catalogs), its errors, and the advisory lock / staging schema of builds.
@Suite(.serialized) struct PostgresSafetyTests {
    func opened() throws -> (WorkbookIndex, WorkbookOutline, String)? {
        guard let index = try PGTest.index(.postgres) else { return nil }
        let file = try SalesFile(rows: 200)
        let o = try index.open(path: file.path).outline
        return (index, o, try StoreTests.firstTable(o))
    }

    func refusal(_ index: WorkbookIndex, _ o: WorkbookOutline, _ sql: String, timeout: Double = 3) -> IndexError? {
        do {
            let r = try index.query(outline: o, sql: sql, limit: 5, timeout: timeout)
            Issue.record("\(sql) was answered: \(r.rows)")
            return nil
        } catch let e as IndexError {
            return e
        } catch {
            Issue.record("\(sql): \(error)")
            return nil
        }
    }

    @Test func theDatabaseRefusesWhatIsNotReading() throws {
        guard let (index, o, t) = try opened() else { return }
        let cases: [(String, String)] = [
            ("INSERT INTO \"\(t)\" (\"Order\") VALUES ('x')", ""),
            ("UPDATE \"\(t)\" SET \"Units\" = 0", ""),
            ("DELETE FROM \"\(t)\"", ""),
            ("CREATE TABLE evil (x integer)", ""),
            ("CREATE TEMP TABLE evil (x integer)", ""),
            ("COPY \"\(t)\" TO STDOUT", ""),
            ("COPY \"\(t)\" FROM STDIN", ""),
            ("SELECT pg_terminate_backend(pg_backend_pid())", "permission denied"),
            ("SELECT set_config('search_path', 'xlchat', false)", "permission denied"),
            ("SELECT lo_import('/etc/passwd')", "permission denied"),
            ("SELECT query_to_xml('SELECT * FROM xlchat.settings', true, false, '')", "permission denied"),
            ("SELECT * FROM xlchat.settings", "permission denied|system catalogs|not a table of this workbook"),
            ("SELECT * FROM xlchat.workbooks", "permission denied|system catalogs|not a table of this workbook"),
            ("SELECT relname FROM pg_catalog.pg_class", "permission denied|system catalogs|not a table of this workbook"),
            ("SELECT usename, passwd FROM pg_catalog.pg_shadow", "permission denied|system catalogs|not a table of this workbook"),
            ("SELECT table_name FROM information_schema.tables", "permission denied|system catalogs|not a table of this workbook"),
            ("SELECT query FROM pg_stat_activity", "permission denied|system catalogs|not a table of this workbook"),
            ("SELECT 1; SELECT 2", ""),
            ("SELECT pg_logical_emit_message(false, 'x', repeat('x', 1000000))", "permission denied"),
            ("SELECT txid_current()", "permission denied"),
            ("SELECT pg_current_xact_id()", "permission denied"),
            ("SELECT pg_try_advisory_xact_lock_shared(1)", "permission denied"),
            ("SELECT pg_try_advisory_lock(1, 2)", "permission denied"),
            ("SELECT table_to_xml('xlchat.settings'::regclass, true, false, '')", "permission denied"),
            ("SELECT database_to_xml(true, false, '')", "permission denied"),
            ("SELECT pg_sleep_for('10 seconds')", "permission denied"),
        ]
        for (sql, words) in cases {
            guard let e = refusal(index, o, sql) else { continue }
            #expect(e.kind == .invalidQuery, "\(sql): \(e)")
            if !words.isEmpty {
                #expect(words.split(separator: "|").contains { e.message.contains($0) }, "\(sql): \(e.message)")
            }
        }
        // Still answering after every refusal (the connection and transaction were cleaned up).
        #expect(try index.query(outline: o, sql: "SELECT COUNT(*) FROM \"\(t)\"", limit: 1).rows == [[.integer(200)]])
    }

    /// The reader may read every workbook of the store, so a query is refused when its plan
    /// reads a relation outside its own workbook's schema, however it is written (break15
    /// finding 2: a workbook's text could steer the model into another workbook's rows).
    @Test func aQueryReadsOnlyItsOwnWorkbook() throws {
        guard let (index, o, t) = try opened() else { return }
        let other = try SalesFile(rows: 37)
        let b = try index.open(path: other.path).outline
        let bt = try StoreTests.firstTable(b)
        #expect(b.contentHash != o.contentHash)
        let foreign = "\"\(PostgresTableStore.schemaName(b.contentHash))\".\"\(bt)\""
        let cases = [
            "SELECT COUNT(*) FROM \(foreign)",
            "SELECT * FROM \"\(t)\" WHERE \"Units\" IN (SELECT \"Units\" FROM \(foreign))",
            "WITH x AS (SELECT * FROM \(foreign)) SELECT COUNT(*) FROM x",
            "SELECT \"Order\" FROM \"\(t)\" UNION ALL SELECT \"Order\" FROM \(foreign)",
            "SELECT * FROM \"\(t)\" a CROSS JOIN LATERAL (SELECT COUNT(*) FROM \(foreign)) z",
            "SELECT (SELECT MAX(\"Units\") FROM \(foreign))",
        ]
        for sql in cases {
            guard let e = refusal(index, o, sql) else { continue }
            #expect(e.kind == .invalidQuery, "\(sql): \(e)")
            #expect(e.message.contains("not a table of this workbook"), "\(sql): \(e.message)")
        }
        // Each workbook still answers for its own tables.
        #expect(try index.query(outline: o, sql: "SELECT COUNT(*) FROM \"\(t)\"", limit: 1).rows == [[.integer(200)]])
        #expect(try index.query(outline: b, sql: "SELECT COUNT(*) FROM \"\(bt)\"", limit: 1).rows == [[.integer(37)]])
    }

    @Test func statementTimeoutStopsALongQuery() throws {
        guard let (index, o, _) = try opened() else { return }
        let started = Date()
        let e = refusal(index, o, "SELECT count(*) FROM generate_series(1, 2000000000)", timeout: 0.3)
        #expect(e?.kind == .queryTimeout)
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func searchPathIsTheWorkbooksSchema() throws {
        guard let (index, o, t) = try opened() else { return }
        let r = try index.query(outline: o, sql: "SELECT current_schemas(false), current_user, transaction_isolation FROM (SELECT current_setting('transaction_read_only') AS transaction_isolation) s", limit: 1)
        #expect(r.rows.first?[1] == .text(PostgresTableStore.readerRole(try #require(try PGTest.settings()))))
        #expect(r.rows.first?[2] == .text("on"))
        // Unqualified names resolve in the workbook's schema only.
        #expect(try index.query(outline: o, sql: "SELECT COUNT(*) FROM \"\(t)\"", limit: 1).rows == [[.integer(200)]])
    }

    @Test func wrongPasswordIsStoreDenied() throws {
        guard let s = try PGTest.settings() else { return }
        var bad = s
        bad.password = "not-the-password"
        #expect { try PostgresTableStore(settings: bad) } throws: { ($0 as? IndexError)?.kind == .storeDenied }
    }

    @Test func aServerThatIsDownIsStoreUnavailable() throws {
        guard let s = try PGTest.settings() else { return }
        var down = s
        down.port = 1  // nothing listens there
        let started = Date()
        #expect { try PostgresTableStore(settings: down) } throws: {
            guard let e = $0 as? IndexError else { return false }
            return e.kind == .storeUnavailable && e.message.contains("cannot be reached")
        }
        #expect(Date().timeIntervalSince(started) < 6)
    }

    @Test func aDatabaseWithoutTheSchemaSaysToRunStoreInit() throws {
        guard let s = try PGTest.settings() else { return }
        let name = "xlchat_noinit_\(UInt32.random(in: 0...UInt32.max))"
        try PGSync.run { try await PostgresTableStore.withConnection(s) { c in try await c.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: Logger(label: "t")) } }
        var other = s
        other.database = name
        let role = PostgresTableStore.readerRole(other)
        defer {
            try? PGSync.run {
                try await PostgresTableStore.withConnection(s) { c in
                    try await c.query(PostgresQuery(unsafeSQL: "DROP DATABASE \(name)"), logger: Logger(label: "t"))
                    try await c.query(PostgresQuery(unsafeSQL: "DROP ROLE IF EXISTS \(role)"), logger: Logger(label: "t"))
                }
            }
        }
        #expect { try PostgresTableStore(settings: other) } throws: {
            guard let e = $0 as? IndexError else { return false }
            return e.kind == .storeUnavailable && e.message.contains("xlchat store init")
        }
        // `store init` is idempotent: twice on the new database, then the store opens.
        _ = try PostgresTableStore.initialize(settings: other)
        _ = try PostgresTableStore.initialize(settings: other)
        _ = try PostgresTableStore(settings: other)
    }

    @Test func aRoleWithoutRightsIsStoreDenied() throws {
        guard let s = try PGTest.settings() else { return }
        // `xlchat_limited` (scripts/pg-test-cluster.sh): may log in, nothing else.
        let limited = s.as(user: "xlchat_limited", password: "limited")
        #expect { try PostgresTableStore(settings: limited) } throws: { ($0 as? IndexError)?.kind == .storeDenied }
        #expect { try PostgresTableStore.initialize(settings: limited) } throws: { ($0 as? IndexError)?.kind == .storeDenied }
    }

    @Test func aBuilderWaitsForTheLockAndBuildsWhenItsHolderDies() throws {
        guard let s = try PGTest.settings() else { return }
        let file = try SalesFile(rows: 300)
        let hash = try ContentHash.workbookVersion(path: file.path)
        // Another "machine" holds the build lock of this hash.
        let holder = try PGSync.run { try await PostgresTableStore.connect(s) }
        let key = PostgresTableStore.lockKey(hash)
        try PGSync.run { _ = try await holder.query("SELECT pg_advisory_lock(\(key))", logger: Logger(label: "t")) }
        let index = try #require(try PGTest.index(.postgres))
        let done = Mutex<OpenedWorkbook?>(nil)
        let thread = Thread { let r = try? index.open(path: file.path); done.withLock { $0 = r } }
        thread.start()
        Thread.sleep(forTimeInterval: 0.6)
        #expect(done.withLock { $0 } == nil, "the builder waits while the lock is held")
        // Its connection closes (the builder died): the lock goes with it.
        try PGSync.run { try await holder.close() }
        let deadline = Date().addingTimeInterval(20)
        while done.withLock({ $0 }) == nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let opened = try #require(done.withLock { $0 })
        #expect(!opened.reused)
    }

    @Test func aHalfBuildIsNeverVisibleAndIsCleanedUp() throws {
        guard let s = try PGTest.settings() else { return }
        let file = try SalesFile(rows: 100)
        let hash = try ContentHash.workbookVersion(path: file.path)
        let store = try PostgresTableStore(settings: s)
        // A builder died after creating its staging schema and loading part of a table.
        let staging = "xs_" + hash.prefix(40) + "_dead"
        try PGSync.run {
            try await PostgresTableStore.withConnection(s) { c in
                try await c.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(staging)"), logger: Logger(label: "t"))
                try await c.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(staging).t (x int)"), logger: Logger(label: "t"))
            }
        }
        #expect(try store.sharedTables(hash: hash) == nil, "a staging schema is not a build")
        let index = try #require(try PGTest.index(.postgres))
        #expect(try index.status(hash: hash).tablesReady == false)
        let opened = try index.open(path: file.path)
        #expect(!opened.reused)
        let left = try PGSync.run {
            try await PostgresTableStore.withConnection(s) { c in
                try await c.query("SELECT count(*) FROM pg_namespace WHERE starts_with(nspname, \("xs_" + hash.prefix(40)))", logger: Logger(label: "t"))
                    .collect().first?.decode(Int64.self) ?? -1
            }
        }
        #expect(left == 0, "the next builder dropped the dead one's staging schema")
        // And the dropped workbook is gone for everyone.
        try store.drop(hash: hash)
        #expect(try store.sharedTables(hash: hash) == nil)
    }

    @Test func theSQLToolNamesTheDialect() throws {
        guard let index = try PGTest.index(.postgres) else { return }
        #expect(index.sqlDialect == .postgresql)
    }

    @Test func connectionStringsFollowLibpq() throws {
        let env = ["PGHOST": "db.example", "PGPORT": "6543", "PGUSER": "ann", "PGPASSWORD": "pw", "PGDATABASE": "team"]
        let a = try PostgresSettings(url: "postgres://", environment: env)
        #expect(a.host == "db.example" && a.port == 6543 && a.user == "ann" && a.password == "pw" && a.database == "team")
        let b = try PostgresSettings(url: "postgresql://bob:s%40cret@10.0.0.5:5433/sheets", environment: env)
        #expect(b.host == "10.0.0.5" && b.port == 5433 && b.user == "bob" && b.password == "s@cret" && b.database == "sheets")
        let c = try PostgresSettings(url: "postgres:///sheets?host=/var/run/postgresql", environment: [:])
        #expect(c.host == "/var/run/postgresql" && c.database == "sheets")
        #expect(!b.description.contains("s@cret"))
        #expect { try PostgresSettings(url: "mysql://x", environment: [:]) } throws: { ($0 as? IndexError)?.kind == .storeUnavailable }
        #expect { try PostgresSettings(url: "postgres://h/db?sslmode=require", environment: [:]) } throws: { ($0 as? IndexError)?.kind == .storeUnavailable }
    }
}

