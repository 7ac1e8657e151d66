import Foundation
import Testing
import XLChatIndex
import XLChatWorkbook
@testable import XLChatPostgres

/// The typed tables through `WorkbookIndex` with the store as a parameter: the embedded SQLite
/// index and the PostgreSQL store shared by a team (issue 15), the same tests for both.
@Suite(.serialized) struct StoreTests {
    static func firstTable(_ outline: WorkbookOutline) throws -> String {
        try #require(outline.sheets.flatMap(\.tables).first?.name)
    }

    @Test(arguments: StoreKind.allCases)
    func openAndQueryGiveExactSums(_ kind: StoreKind) throws {
        guard let index = try PGTest.index(kind) else { return }
        let file = try SalesFile(rows: 3_000)
        let opened = try index.open(path: file.path)
        #expect(!opened.reused)
        #expect(index.sqlDialect == (kind == .postgres ? .postgresql : .sqlite))
        let t = try Self.firstTable(opened.outline)
        let r = try index.query(outline: opened.outline, sql: """
            SELECT "Region", SUM("Units"), COUNT(*) FROM "\(t)" GROUP BY "Region" ORDER BY "Region"
            """, limit: 100)
        #expect(r.columns.count == 3)
        #expect(r.rows.count == file.countByRegion.count)
        for row in r.rows {
            guard case let .text(region) = row[0] else { Issue.record("region is \(row[0])"); continue }
            #expect(row[1] == .integer(file.unitsByRegion[region] ?? -1), "units of \(region)")
            #expect(row[2] == .integer(Int64(file.countByRegion[region] ?? -1)), "count of \(region)")
        }
        let total = try index.query(outline: opened.outline, sql: "SELECT SUM(\"Price\") FROM \"\(t)\"", limit: 1)
        guard case let .real(p) = total.rows.first?.first else { Issue.record("price total is \(String(describing: total.rows.first))"); return }
        #expect(abs(p - file.priceTotal) <= 1e-9 * abs(file.priceTotal))
        // Text with quotes and backslashes arrives as written.
        let note = try index.query(outline: opened.outline, sql: "SELECT \"Note\" FROM \"\(t)\" WHERE \"Order\" = 'ORD-7'", limit: 5)
        #expect(note.rows == [[.text("a \\ b, \"quoted\"")]])
        // Dates are ISO text in both.
        let day = try index.query(outline: opened.outline, sql: "SELECT \"Day\" FROM \"\(t)\" WHERE \"Order\" = 'ORD-13'", limit: 5)
        #expect(day.rows == [[.text("2024-02-14")]])
    }

    /// Headers longer than PostgreSQL's 63-byte identifiers, alike up to their last words
    /// (ASCII and multi-byte), and a long sheet name: every SQL name the outline shows is at
    /// most 63 bytes and unique, and each column's sum through that name is that column's own
    /// (break15: PostgreSQL cut two such names to the same 63 bytes and summed EUR for GBP).
    @Test(arguments: StoreKind.allCases)
    func longHeadersKeepTheirOwnColumnsInEveryStore(_ kind: StoreKind) throws {
        guard let index = try PGTest.index(kind) else { return }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-longnames-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let stems = ["Total revenue recognised for the fiscal year ending in December, in",
                     "Umsatzerlöse für das Geschäftsjahr, das im Dezember endet, äöü in der Währung",
                     String(repeating: "収益", count: 12) + "通貨"]
        var headers: [String] = [], multipliers: [Int] = []
        for (i, stem) in stems.enumerated() {
            for (j, currency) in ["EUR", "GBP", "USD"].enumerated() {
                headers.append("\(stem) \(currency)")
                multipliers.append(1 + i * 100 + j * 10_000)
            }
        }
        let rows = Int.random(in: 5...40)
        var text = headers.map { "\"\($0)\"" }.joined(separator: ",") + "\n"
        for r in 1...rows { text += multipliers.map { String($0 * r) }.joined(separator: ",") + "\n" }
        let path = dir.appendingPathComponent(String(repeating: "quarterly-report-", count: 5) + "final.csv").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let opened = try index.open(path: path)
        let table = try #require(opened.outline.sheets.flatMap(\.tables).first)
        #expect(table.name.utf8.count <= 63, "\(table.name)")
        let names = table.columns.map(\.name)
        #expect(names.count == headers.count)
        #expect(names.allSatisfy { $0.utf8.count <= 63 }, "\(names.map { $0.utf8.count })")
        #expect(Set(names.map { $0.lowercased() }).count == names.count, "\(names)")
        let triangle = rows * (rows + 1) / 2
        for (k, name) in names.enumerated() {
            let r = try index.query(outline: opened.outline, sql: "SELECT SUM(\"\(name)\") FROM \"\(table.name)\"", limit: 1)
            #expect(r.rows.first?.first == .integer(Int64(multipliers[k] * triangle)), "\(kind) \(name)")
        }
    }

    /// Sheets wider than PostgreSQL holds (1,700 columns: over its 1,600; 1,200 number
    /// columns: a row over its 8 kB page) stay usable: the workbook is indexed on this machine
    /// and says so, every column sums right, and the next open does not try the store again.
    @Test(arguments: [1_200, 1_700])
    func tablesWiderThanTheStoreHoldsStayUsableLocally(_ columns: Int) throws {
        guard let index = try PGTest.index(.postgres) else { return }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-wide-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = 3
        var text = (1...columns).map { "m\($0)" }.joined(separator: ",") + "\n"
        for r in 1...rows { text += (1...columns).map { String(Double($0 * r) + 0.5) }.joined(separator: ",") + "\n" }
        let path = dir.appendingPathComponent("wide_\(columns)_\(UUID().uuidString.prefix(6)).csv").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let started = Date()
        let opened = try index.open(path: path)
        let warning = opened.outline.sheets.first?.warnings.first { $0.contains("not in the shared store") }
        #expect(warning != nil, "\(opened.outline.sheets.first?.warnings ?? [])")
        #expect(index.sqlDialect(hash: opened.outline.contentHash) == .sqlite)
        let t = try Self.firstTable(opened.outline)
        for k in [1, columns / 2, columns] {
            let r = try index.query(outline: opened.outline, sql: "SELECT SUM(\"m\(k)\") FROM \"\(t)\"", limit: 1)
            #expect(r.rows.first?.first == .real(Double(k * rows * (rows + 1) / 2) + 0.5 * Double(rows)), "m\(k)")
        }
        #expect(Date().timeIntervalSince(started) < 60)
        let again = try index.open(path: path)
        #expect(again.outline.contentHash == opened.outline.contentHash && again.reused)
    }

    @Test(arguments: StoreKind.allCases)
    func limitsCutRowsAndValues(_ kind: StoreKind) throws {
        guard let index = try PGTest.index(kind) else { return }
        let file = try SalesFile(rows: 1_200)
        let opened = try index.open(path: file.path)
        let t = try Self.firstTable(opened.outline)
        let r = try index.query(outline: opened.outline, sql: "SELECT \"Order\" FROM \"\(t)\"", limit: 100)
        #expect(r.rows.count == 100 && r.truncated)
        let all = try index.query(outline: opened.outline, sql: "SELECT \"Order\" FROM \"\(t)\"", limit: 5000)
        #expect(all.rows.count == 1_200 && !all.truncated)
        var limits = QueryLimits()
        limits.maxValueBytes = 1000
        let big = try index.query(outline: opened.outline, sql: "SELECT group_concat(\"Order\") FROM \"\(t)\"".replacingOccurrences(
            of: "group_concat(\"Order\")", with: kind == .postgres ? "string_agg(\"Order\", ',')" : "group_concat(\"Order\")"),
            limit: 10, limits: limits)
        guard case let .text(s) = big.rows.first?.first else { Issue.record("no text"); return }
        #expect(s.utf8.count == 1000 && big.truncated)
    }

    @Test(arguments: StoreKind.allCases)
    func secondHandleReusesTheBuild(_ kind: StoreKind) throws {
        let shared = PGTest.tempDirectory()
        guard let first = try PGTest.index(kind, dataDirectory: shared) else { return }
        let file = try SalesFile(rows: 500)
        #expect(try !first.open(path: file.path).reused)
        // PostgreSQL: another machine (its own, empty data directory) reuses the team's build.
        // SQLite: another process on the same data directory reuses the file.
        let second = try #require(try PGTest.index(kind, dataDirectory: kind == .postgres ? PGTest.tempDirectory() : shared))
        let again = try second.open(path: file.path)
        #expect(again.reused)
        let t = try Self.firstTable(again.outline)
        let r = try second.query(outline: again.outline, sql: "SELECT COUNT(*) FROM \"\(t)\"", limit: 1)
        #expect(r.rows == [[.integer(500)]])
        #expect(try second.status(hash: again.outline.contentHash).tablesReady)
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentBuildersBuildOnce(_ kind: StoreKind) async throws {
        let shared = PGTest.tempDirectory()
        guard try PGTest.index(kind, dataDirectory: shared) != nil else { return }
        let file = try SalesFile(rows: 20_000)
        let builders = 3
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<builders {
                group.addTask {
                    let index = try #require(try PGTest.index(kind, dataDirectory: kind == .postgres ? PGTest.tempDirectory() : shared))
                    return try await Task.detached { try index.open(path: file.path).reused }.value
                }
            }
            var all: [Bool] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(results.filter { !$0 }.count == 1, "exactly one builder builds: \(results)")
    }

    @Test(arguments: StoreKind.allCases)
    func writesAndMultipleStatementsAreRefused(_ kind: StoreKind) throws {
        guard let index = try PGTest.index(kind) else { return }
        let file = try SalesFile(rows: 50)
        let opened = try index.open(path: file.path)
        let t = try Self.firstTable(opened.outline)
        for sql in ["INSERT INTO \"\(t)\" (\"Order\") VALUES ('x')", "UPDATE \"\(t)\" SET \"Units\" = 0",
                    "DELETE FROM \"\(t)\"", "CREATE TABLE evil (x integer)", "DROP TABLE \"\(t)\"",
                    "SELECT 1; DELETE FROM \"\(t)\""] {
            #expect(throws: IndexError.self, "\(sql)") { try index.query(outline: opened.outline, sql: sql, limit: 5) }
            do { _ = try index.query(outline: opened.outline, sql: sql, limit: 5) } catch let e as IndexError {
                #expect(e.kind == .invalidQuery, "\(sql): \(e)")
            }
        }
        let r = try index.query(outline: opened.outline, sql: "SELECT COUNT(*) FROM \"\(t)\"", limit: 1)
        #expect(r.rows == [[.integer(50)]])
    }
}
