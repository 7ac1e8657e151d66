import Foundation
import Testing
import XLChatIndex
import XLChatWorkbook

/// Every kind of SQL that writes or escapes the index is refused with `invalidQuery`, and the
/// index is unchanged afterwards.
@Suite struct BadInputTests {
    static let writing: [String] = [
        "INSERT INTO Orders_2024(Region) VALUES ('x')",
        "UPDATE Orders_2024 SET Revenue = 0",
        "DELETE FROM Orders_2024",
        "DROP TABLE Orders_2024",
        "CREATE TABLE t(x)",
        "CREATE TEMP TABLE t(x)",
        "CREATE VIEW v AS SELECT 1",
        "CREATE INDEX i ON Orders_2024(Region)",
        "CREATE TRIGGER tr AFTER INSERT ON Orders_2024 BEGIN SELECT 1; END",
        "ALTER TABLE Orders_2024 ADD COLUMN y",
        "ATTACH DATABASE '/tmp/xlchat-attack.sqlite' AS a",
        "ATTACH ':memory:' AS m",
        "DETACH DATABASE main",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA writable_schema = ON",
        "PRAGMA query_only = 0",
        "PRAGMA user_version = 7",
        "SELECT load_extension('/tmp/evil.so')",
        "SELECT * FROM Orders_2024 WHERE load_extension('libm.so') IS NULL",
        "VACUUM",
        "VACUUM INTO '/tmp/xlchat-vacuum-copy.sqlite'",
        "WITH x AS (SELECT 1) DELETE FROM Orders_2024",
        "WITH x AS (SELECT 1) INSERT INTO Orders_2024(Region) SELECT * FROM x",
        "REPLACE INTO Orders_2024(_row, Region) VALUES (4, 'x')",
        "BEGIN IMMEDIATE",
        "SAVEPOINT s",
        "ANALYZE",
        "REINDEX",
        "SELECT 1; DELETE FROM Orders_2024",
        "SELECT 1; SELECT 2",
        "CREATE VIRTUAL TABLE f USING fts5(x)",
        "INSERT INTO _xl_chunks_fts(_xl_chunks_fts) VALUES('delete-all')",
    ]

    @Test(arguments: writing)
    func writingOrEscapingSQLIsInvalidQuery(_ sql: String) async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: HashingEmbedder())
        expectIndexError(.invalidQuery) { _ = try index.query(hash: Fixture.hash, sql: sql) }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/xlchat-vacuum-copy.sqlite") || !sql.contains("VACUUM INTO"))
        let check = try index.query(hash: Fixture.hash, sql: "SELECT count(*), sum(Revenue) FROM Orders_2024")
        #expect(check.rows == [[.integer(6), .real(6544.75)]])
    }

    @Test func sqliteMessageIsPassedOn() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: HashingEmbedder())
        let e = expectIndexError(.invalidQuery) { _ = try index.query(hash: Fixture.hash, sql: "SELECT Nope FROM Orders_2024") }
        #expect(e?.message.contains("no such column: Nope") == true)
        let s = expectIndexError(.invalidQuery) { _ = try index.query(hash: Fixture.hash, sql: "SELEC 1") }
        #expect(s?.message.contains("syntax error") == true)
        expectIndexError(.invalidQuery) { _ = try index.query(hash: Fixture.hash, sql: "   ") }
        // reading the schema is fine
        let t = try index.query(hash: Fixture.hash, sql: "PRAGMA table_info(Orders_2024)")
        #expect(t.rows.count == 8)
        let m = try index.query(hash: Fixture.hash, sql: "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'Orders_2024'")
        #expect(m.rows == [[.text("Orders_2024")]])
    }

    /// The index's bookkeeping (`_xl_meta`, `_xl_tables`) is not the workbook's data.
    @Test func bookkeepingTablesAreNotQueryable() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: HashingEmbedder())
        for sql in ["SELECT * FROM _xl_meta", "SELECT mapping FROM _Xl_Tables", "SELECT count(*) FROM Orders_2024 WHERE Region IN (SELECT value FROM _xl_meta)"] {
            let e = expectIndexError(.invalidQuery) { _ = try index.query(hash: Fixture.hash, sql: sql) }
            #expect(e?.message.contains("xlchat's own bookkeeping") == true, "\(sql)")
        }
    }

    @Test func runawayRecursiveQueryIsStoppedWithinTheBudget() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: HashingEmbedder())
        let start = Date()
        expectIndexError(.queryTimeout) {
            _ = try index.query(hash: Fixture.hash, sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c",
                                timeout: 0.5)
        }
        let took = Date().timeIntervalSince(start)
        #expect(took >= 0.5 && took < 1.5, "stopped after \(took) s")
        // a cross join bomb too
        expectIndexError(.queryTimeout) {
            _ = try index.query(hash: Fixture.hash, sql: "SELECT count(*) FROM Orders_2024 a, Orders_2024 b, Orders_2024 c, Orders_2024 d, Orders_2024 e, Orders_2024 f, Orders_2024 g, Orders_2024 h, Orders_2024 i, Orders_2024 j", timeout: 0.3)
        }
    }

    @Test func oversizedValuesAreRefused() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: HashingEmbedder())
        expectIndexError(.invalidQuery) { _ = try index.query(hash: Fixture.hash, sql: "SELECT length(zeroblob(1000000000))") }
    }

    @Test func unknownWorkbook() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        expectIndexError(.unknownWorkbook) { _ = try index.query(hash: "deadbeef", sql: "SELECT 1") }
        expectIndexError(.unknownWorkbook) { _ = try index.status(hash: "deadbeef") }
        expectIndexError(.unknownWorkbook) { _ = try index.query(hash: "../../etc/passwd", sql: "SELECT 1") }
    }

    @Test func unknownWorkbookInSearch() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        let e = await #expect(throws: IndexError.self) { _ = try await index.search(hash: "deadbeef", query: "x", embedder: HashingEmbedder()) }
        #expect(e?.kind == .unknownWorkbook)
    }

    @Test func searchAndQueryBeforeBuildAreIndexNotBuilt() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        try index.register(try Fixture.outline())
        let e = await #expect(throws: IndexError.self) { _ = try await index.search(hash: Fixture.hash, query: "Gizmo", embedder: HashingEmbedder()) }
        #expect(e?.kind == .indexNotBuilt)
        expectIndexError(.indexNotBuilt) { _ = try index.query(hash: Fixture.hash, sql: "SELECT 1") }
    }

    @Test func embedderReturningWrongShapeFailsTheBuild() async throws {
        struct Broken: Embedder {
            var identifier: String { "broken" }
            var dimensions: Int { 8 }
            func embed(_ texts: [String]) async throws -> [[Float]] { texts.map { _ in [1, 2, 3] } }
        }
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        let e = await #expect(throws: IndexError.self) {
            _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: Broken())
        }
        #expect(e?.kind == .embedderFailed)
        #expect(try !index.status(hash: Fixture.hash).built)
    }
}
