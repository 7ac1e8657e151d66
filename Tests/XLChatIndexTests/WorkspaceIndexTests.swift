import Foundation
import GRDB
import Testing
@testable import XLChatIndex
import XLChatWorkbook

/// A workspace over real files, real workbook indexes and real SQLite (issue 12): joins across
/// files, a union over monthly files, one changed file re-read alone, a reopen that reads
/// nothing, and bad files listed with their errors while the rest works.
@Suite(.timeLimit(.minutes(3))) struct WorkspaceIndexTests {
    static let formats: Set<String> = ["xlsx", "xlsm", "xls", "xlsb", "ods", "csv", "tsv"]

    /// Builds each file's workbook index as the server will, counting the files read.
    final class Builder: @unchecked Sendable {
        let index: WorkbookIndex
        private let lock = NSLock()
        private var _read: [String] = []
        var read: [String] { lock.withLock { _read } }
        init(_ index: WorkbookIndex) { self.index = index }
        func build(_ file: WorkspaceFile) async throws -> String {
            lock.withLock { _read.append(file.relativePath) }
            let reader: any WorkbookReader
            do { reader = try Workbooks.open(path: file.path) } catch let e as WorkbookError {
                throw WorkspaceFileError(kind: e.kind.rawValue, message: e.message)
            }
            let hash = try ContentHash.workbookVersion(path: file.path)
            let outline = try WorkbookOutline.build(reader: reader, path: file.path, contentHash: hash)
            _ = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder())
            return hash
        }
    }

    static func write(_ dir: URL, _ files: [String: String]) throws {
        for (rel, text) in files {
            let url = dir.appendingPathComponent(rel)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
    }

    func value(_ ws: WorkspaceIndex, _ sql: String) throws -> SQLValue? { try ws.query(sql: sql).result.rows.first?.first }

    @Test func joinsAcrossFilesUnionsOverMonthsAndReReadsOnlyWhatChanged() async throws {
        let data = try TempDir(), folder = try TempDir()
        defer { data.cleanup(); folder.cleanup() }
        // Orders in 12 monthly exports, customers in another file, segments' targets in a third.
        var expectedYear = 0.0
        var bySegment: [String: Double] = [:]
        var files: [String: String] = [:]
        for m in 1...12 {
            var text = "OrderId,CustomerId,Amount\n"
            for k in 1...20 {
                let amount = Double(m * 100 + k) + 0.25
                let customer = (m * 7 + k) % 10
                text += "\(m * 1000 + k),C\(customer),\"$\(String(format: "%.2f", amount))\"\n"
                expectedYear += amount
                bySegment[customer % 3 == 0 ? "Trade" : "Retail", default: 0] += amount
            }
            files[String(format: "exports/orders_2024_%02d.csv", m)] = text
        }
        files["customers.csv"] = "CustomerId,Segment\n" + (0..<10).map { "C\($0),\($0 % 3 == 0 ? "Trade" : "Retail")" }.joined(separator: "\n") + "\n"
        files["notes.txt"] = "not a workbook"
        try Self.write(folder.url, files)

        let index = try WorkbookIndex(dataDirectory: data.url)
        let builder = Builder(index)
        let ws = try WorkspaceIndex(index: index, root: folder.url.path, scanner: WorkspaceScanner(extensions: Self.formats, skipDirectories: [data.url.path]))
        let first = try await ws.refresh(build: builder.build)
        #expect(first.filesRead == 13)
        #expect(first.entries.allSatisfy { $0.error == nil })
        #expect(first.unions.map(\.name) == ["orders"])
        #expect(Set(first.tables.map(\.name)).isSuperset(of: ["customers", "orders_2024_01", "orders_2024_12"]))

        // A union over 12 monthly files gives the exact year total, per file too.
        let year = try value(ws, "SELECT round(sum(Amount), 2) FROM orders")
        #expect(year == .real((expectedYear * 100).rounded() / 100))
        #expect(try value(ws, "SELECT count(DISTINCT _file) FROM orders") == .integer(12))
        // A view's row says its file and sheet row: the same row as in its member table.
        #expect(try value(ws, "SELECT _row FROM orders WHERE _file = 'exports/orders_2024_03.csv' AND OrderId = 3005") == .integer(6))
        // A database whose views predate `_row` gets them remade at the next refresh, even
        // when no file changed (and nothing else is written).
        let pool = try DatabaseQueue(path: ws.path)
        try await pool.write { db in
            try db.execute(sql: "DROP VIEW orders")
            try db.execute(sql: "CREATE VIEW orders AS SELECT 'x' AS _file, OrderId FROM orders_2024_01")
            // ... and an older rule's union over unrelated tables goes.
            try db.execute(sql: "CREATE VIEW union_9 AS SELECT * FROM customers")
            try db.execute(sql: "UPDATE _ws_meta SET value = replace(value, '[{', '[{\"name\":\"union_9\",\"members\":[\"customers\"],\"columns\":[\"x\"]},{') WHERE key = 'unions'")
            try db.execute(sql: "DELETE FROM _ws_meta WHERE key = 'views'")
        }
        try pool.close()
        #expect(try await ws.refresh(build: builder.build).filesRead == 0)
        #expect(try ws.unions().map(\.name) == ["orders"])
        #expect(throws: IndexError.self) { try ws.query(sql: "SELECT * FROM union_9") }
        #expect(try value(ws, "SELECT count(DISTINCT _file) FROM orders") == .integer(12))
        #expect(try value(ws, "SELECT max(_row) FROM orders WHERE _file = 'exports/orders_2024_03.csv'") != .null)
        // A question that needs two files: a join, with no fan-out (customer ids are unique).
        let joined = try ws.query(sql: "SELECT c.Segment, round(sum(o.Amount), 2) FROM orders o JOIN customers c ON o.CustomerId = c.CustomerId GROUP BY 1 ORDER BY 1")
        #expect(joined.result.rows == [[.text("Retail"), .real((bySegment["Retail"]! * 100).rounded() / 100)],
                                       [.text("Trade"), .real((bySegment["Trade"]! * 100).rounded() / 100)]])
        #expect(joined.result.warnings.isEmpty)
        // A plain row read cites the file it comes from.
        let row = try ws.query(sql: "SELECT * FROM orders_2024_03 WHERE OrderId = 3005")
        #expect(row.files == ["exports/orders_2024_03.csv"])
        #expect(row.result.sourceRanges.first??.a1 == "orders_2024_03!A6:C6")

        // Change one file: only it is read again, and the answer follows.
        try Self.write(folder.url, ["exports/orders_2024_05.csv": "OrderId,CustomerId,Amount\n1,C1,\"$1,000,000.00\"\n"])
        let before = builder.read.count
        let second = try await ws.refresh(build: builder.build)
        #expect(second.filesRead == 1)
        #expect(Array(builder.read.dropFirst(before)) == ["exports/orders_2024_05.csv"])
        let may = (1...20).map { Double(500 + $0) + 0.25 }.reduce(0, +)
        #expect(try value(ws, "SELECT round(sum(Amount), 2) FROM orders") == .real(((expectedYear - may + 1_000_000) * 100).rounded() / 100))

        // A reopen of the unchanged folder (a new process) reads no workbook.
        let reopened = try WorkspaceIndex(index: try WorkbookIndex(dataDirectory: data.url), root: folder.url.path,
                                          scanner: WorkspaceScanner(extensions: Self.formats, skipDirectories: [data.url.path]))
        let clock = ContinuousClock()
        let start = clock.now
        let third = try await reopened.refresh(build: builder.build)
        print("issue12 reopen of a 13-file workspace: \(clock.now - start)")
        #expect(third.filesRead == 0)
        #expect(builder.read.count == before + 1)
        #expect(try value(reopened, "SELECT count(*) FROM orders") == .integer(11 * 20 + 1))

        // A removed file's tables and its place in the union go.
        try FileManager.default.removeItem(at: folder.url.appendingPathComponent("exports/orders_2024_12.csv"))
        let fourth = try await reopened.refresh(build: builder.build)
        #expect(fourth.delta.removed == ["exports/orders_2024_12.csv"])
        #expect(try value(reopened, "SELECT count(DISTINCT _file) FROM orders") == .integer(11))
        #expect(throws: IndexError.self) { try reopened.query(sql: "SELECT * FROM orders_2024_12") }
    }

    /// A csv's one sheet is named after its file: two files with the same bytes under other
    /// names (a copy, a rename) each keep their own name in tables, sheets and citations. The
    /// index used to key a csv by its bytes alone, so the copy reused the first name's outline
    /// (`b.csv › 'a'`, table `b__a`). Through the engine's own builder (WorkbookIndex.open).
    @Test func copiesAndRenamesOfACsvKeepTheirOwnNames() async throws {
        let data = try TempDir(), folder = try TempDir()
        defer { data.cleanup(); folder.cleanup() }
        let text = "k,v\n1,10\n2,20\n"
        try Self.write(folder.url, ["a.csv": text, "sub/b.csv": text])
        let index = try WorkbookIndex(dataDirectory: data.url)
        let ws = try WorkspaceIndex(index: index, root: folder.url.path,
                                    scanner: WorkspaceScanner(extensions: ["csv"], skipDirectories: [data.url.path]))
        let clock = ContinuousClock(), started = clock.now
        let first = try await ws.refresh(build: ws.defaultBuilder())
        #expect(Set(first.tables.map(\.name)) == ["a", "b"])
        #expect(first.tables.first { $0.relativePath == "sub/b.csv" }?.sheet == "b")
        #expect(first.tables.first { $0.relativePath == "sub/b.csv" }?.sourceTable == "b")
        let cited = try ws.query(sql: "SELECT * FROM b")
        #expect(cited.result.sourceRanges.first??.sheet == "b")
        #expect(cited.files.first == "sub/b.csv")
        // Renamed: the same bytes under a new name are that name's table.
        try FileManager.default.moveItem(at: folder.url.appendingPathComponent("a.csv"), to: folder.url.appendingPathComponent("renamed.csv"))
        let second = try await ws.refresh(build: ws.defaultBuilder())
        #expect(second.tables.first { $0.relativePath == "renamed.csv" }?.sheet == "renamed")
        #expect(Set(second.tables.map(\.name)) == ["renamed", "b"])
        #expect(clock.now - started < .seconds(30))
    }

    /// The workspace's bookkeeping tables (files, tables, meta) are not data: SQL that reads
    /// them, directly, through a subquery, a CTE or a join, is refused with a message that says
    /// what to query instead; the user's tables and the sqlite_schema listing stay readable.
    @Test func bookkeepingTablesAreNotQueryable() async throws {
        let data = try TempDir(), folder = try TempDir()
        defer { data.cleanup(); folder.cleanup() }
        try Self.write(folder.url, ["a.csv": "k,v\n1,10\n"])
        let index = try WorkbookIndex(dataDirectory: data.url)
        let ws = try WorkspaceIndex(index: index, root: folder.url.path,
                                    scanner: WorkspaceScanner(extensions: ["csv"], skipDirectories: [data.url.path]))
        _ = try await ws.refresh(build: ws.defaultBuilder())
        for sql in ["SELECT * FROM _ws_files", "SELECT info FROM _WS_TABLES", "SELECT (SELECT value FROM _ws_meta LIMIT 1)",
                    "WITH x AS (SELECT * FROM \"_ws_tables\") SELECT count(*) FROM x",
                    "SELECT a.v FROM a JOIN _ws_files f ON 1 = 1"] {
            do {
                _ = try ws.query(sql: sql)
                Issue.record("\(sql) was answered")
            } catch let e as IndexError {
                #expect(e.kind == .invalidQuery, "\(sql)")
                #expect(e.message.contains("xlchat's own bookkeeping"), "\(sql): \(e.message)")
            }
        }
        #expect(try value(ws, "SELECT sum(v) FROM a") == .integer(10))
        #expect(try ws.query(sql: "SELECT count(*) FROM sqlite_schema WHERE name LIKE '\\_ws\\_%' ESCAPE '\\'").result.rows.first?.first == .integer(3))
    }

    @Test func badFilesAreListedWithTheirErrorsAndTheRestWorks() async throws {
        let data = try TempDir(), folder = try TempDir()
        defer { data.cleanup(); folder.cleanup() }
        try Self.write(folder.url, [
            "good.csv": "Item,Qty\na,1\nb,2\n",
            "corrupt.xlsx": "PK\u{03}\u{04} this is not a zip",
            "empty.csv": "",
            "a/report.csv": "Item,Qty\nx,5\n",
            "b/report.csv": "Item,Qty\ny,7\n",
        ])
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/corpus/files/calamine__password.xlsb")
        try #require(FileManager.default.fileExists(atPath: corpus.path), "the corpus is missing: \(corpus.path)")
        try FileManager.default.copyItem(at: corpus, to: folder.url.appendingPathComponent("locked.xlsb"))

        let index = try WorkbookIndex(dataDirectory: data.url)
        let ws = try WorkspaceIndex(index: index, root: folder.url.path, scanner: WorkspaceScanner(extensions: Self.formats))
        let r = try await ws.refresh(build: Builder(index).build)
        let byPath = Dictionary(uniqueKeysWithValues: r.entries.map { ($0.relativePath, $0) })
        #expect(byPath["corrupt.xlsx"]?.errorKind == "corruptWorkbook")
        #expect(byPath["locked.xlsb"]?.errorKind == "encryptedWorkbook")
        #expect(byPath["good.csv"]?.error == nil)
        // An empty csv is a workbook with no table, not an error.
        #expect(byPath["empty.csv"]?.tables == [])
        // Two files with the same name and table: two names, both reachable.
        #expect(try value(ws, "SELECT sum(Qty) FROM a_report") == .integer(5))
        #expect(try value(ws, "SELECT sum(Qty) FROM b_report") == .integer(7))
        #expect(try value(ws, "SELECT sum(Qty) FROM good") == .integer(3))
        // The two reports are one export: a union named after them. good.csv has the same
        // columns under another name, so it is not part of it.
        #expect(r.unions.map(\.name) == ["report"])
        #expect(try value(ws, "SELECT sum(Qty) FROM report") == .integer(12))
    }
}
