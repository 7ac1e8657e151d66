import Foundation
import GRDB
import Testing
@testable import XLChatIndex
import XLChatWorkbook

/// How a refresh puts the files' tables into the workspace database (issue 12, the first open's
/// per-file cost): copies keep the source's declaration (`_row INTEGER PRIMARY KEY`, declared
/// types), tables go straight under their names when free, a name still held by the committed
/// state goes through staging, names that move between tables never clash, and tables a
/// crashed refresh left behind are cleared.
@Suite(.timeLimit(.minutes(3))) struct WorkspaceRefreshTests {
    static let formats: Set<String> = ["xlsx", "xlsm", "xls", "xlsb", "ods", "csv", "tsv"]

    func open(_ data: TempDir, _ folder: TempDir) throws -> WorkspaceIndex {
        try WorkspaceIndex(index: try WorkbookIndex(dataDirectory: data.url), root: folder.url.path,
                           scanner: WorkspaceScanner(extensions: Self.formats, skipDirectories: [data.url.path]))
    }

    func value(_ ws: WorkspaceIndex, _ sql: String) throws -> SQLValue? { try ws.query(sql: sql).result.rows.first?.first }

    func tablesInDatabase(_ ws: WorkspaceIndex) throws -> Set<String> {
        try ws.db.read { (db: Database) -> Set<String> in
            Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_ws\\_%' ESCAPE '\\'"))
        }
    }

    @Test func copiesKeepTheRowKeyAndTypesAndNamesMoveWithoutClashing() async throws {
        let data = try TempDir(), folder = try TempDir()
        defer { data.cleanup(); folder.cleanup() }
        try WorkspaceIndexTests.write(folder.url, [
            "orders.csv": "OrderId,Amount,Day\n1,10.5,2024-01-02\n2,4,2024-01-03\n",
            "customers.csv": "CustomerId,Name\nC1,Acme\n",
        ])
        let ws = try open(data, folder)
        _ = try await ws.refresh(build: ws.defaultBuilder())
        // The copy is the source's table: _row is the rowid (INTEGER PRIMARY KEY), types declared.
        let info: [Row] = try await ws.db.read { db in try Row.fetchAll(db, sql: "PRAGMA table_info(orders)") }
        let row = try #require(info.first { ($0["name"] as String) == "_row" })
        #expect((row["pk"] as Int) == 1)
        #expect((row["type"] as String).uppercased() == "INTEGER")
        #expect(try value(ws, "SELECT sum(Amount) FROM orders") == .real(14.5))
        #expect(try tablesInDatabase(ws) == ["orders", "customers"])

        // A second orders.csv in a subfolder: both get their folders; the old table moves.
        try WorkspaceIndexTests.write(folder.url, ["east/orders.csv": "OrderId,Amount,Day\n9,100,2024-02-01\n"])
        let second = try await ws.refresh(build: ws.defaultBuilder())
        #expect(second.filesRead == 1)
        let names = Set(second.tables.map(\.name))
        #expect(names.count == 3)
        #expect(try tablesInDatabase(ws) == names)
        let east = try #require(second.tables.first { $0.relativePath == "east/orders.csv" }?.name)
        let root = try #require(second.tables.first { $0.relativePath == "orders.csv" }?.name)
        #expect(try value(ws, "SELECT sum(Amount) FROM \(east)") == .integer(100))
        #expect(try value(ws, "SELECT sum(Amount) FROM \(root)") == .real(14.5))

        // The changed file's name is taken by its committed version: staged, then renamed.
        try WorkspaceIndexTests.write(folder.url, ["customers.csv": "CustomerId,Name\nC1,Acme\nC2,Globex\n"])
        let third = try await ws.refresh(build: ws.defaultBuilder())
        #expect(third.filesRead == 1)
        #expect(try value(ws, "SELECT count(*) FROM customers") == .integer(2))
        #expect(try tablesInDatabase(ws) == Set(third.tables.map(\.name)))
    }

    @Test func tablesACrashedRefreshLeftBehindAreCleared() async throws {
        let data = try TempDir(), folder = try TempDir()
        defer { data.cleanup(); folder.cleanup() }
        try WorkspaceIndexTests.write(folder.url, ["a.csv": "x\n1\n"])
        let ws = try open(data, folder)
        _ = try await ws.refresh(build: ws.defaultBuilder())
        // What a refresh killed between its copies and its commit leaves: a copy under the
        // name a new file will get, and a staging table.
        try await ws.db.write { db in
            try db.execute(sql: "CREATE TABLE b (junk)")
            try db.execute(sql: "CREATE TABLE _ws_staging_7 (junk)")
        }
        try WorkspaceIndexTests.write(folder.url, ["b.csv": "y\n2\n3\n"])
        let r = try await open(data, folder).refresh(build: ws.defaultBuilder())
        #expect(r.filesRead == 1)
        #expect(try value(ws, "SELECT sum(y) FROM b") == .integer(5))
        #expect(try tablesInDatabase(ws) == ["a", "b"])
        let staging: Bool? = try await ws.db.read { db in try Bool.fetchOne(db, sql: "SELECT 1 FROM sqlite_master WHERE name = '_ws_staging_7'") }
        #expect(staging == nil)
    }

    /// A refresh that fails while copying (the source index vanished) leaves the committed
    /// state and no half-copied tables.
    @Test func aFailedCopyLeavesTheCommittedState() async throws {
        let data = try TempDir(), folder = try TempDir()
        defer { data.cleanup(); folder.cleanup() }
        try WorkspaceIndexTests.write(folder.url, ["a.csv": "x\n1\n"])
        let ws = try open(data, folder)
        _ = try await ws.refresh(build: ws.defaultBuilder())
        try WorkspaceIndexTests.write(folder.url, ["b.csv": "y\n2\n"])
        final class Box: @unchecked Sendable { var hash: String? }
        let box = Box()
        let builder = ws.defaultBuilder()
        await #expect(throws: IndexError.self) {
            _ = try await ws.refresh(build: { file in
                let hash = try await builder(file)
                box.hash = hash
                return hash
            }, progress: { _, _, message in
                // After the files were indexed, before the copies: b's index file goes bad.
                if message.hasPrefix("updating"), let hash = box.hash {
                    try? Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: ws.index.indexPath(hash)))
                }
            })
        }
        #expect(try tablesInDatabase(ws) == ["a"])
        #expect(try ws.entries().map(\.relativePath) == ["a.csv"])
    }
}
