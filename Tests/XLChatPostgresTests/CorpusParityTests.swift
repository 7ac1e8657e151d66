import Foundation
import Testing
import XLChatIndex
import XLChatWorkbook
@testable import XLChatPostgres

/// Every typed value of every table of the real-world corpus is the same from the PostgreSQL
/// store as from SQLite (integers, doubles bit for bit, text, ISO dates, booleans as 0/1), and
/// so are the counts and the sums of the number columns.
@Suite(.serialized) struct CorpusParityTests {
    static var corpusDirectory: String? {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                let dir = url.deletingLastPathComponent().appendingPathComponent("shared/corpus/files").path
                return FileManager.default.fileExists(atPath: dir) ? dir : nil
            }
        }
        return nil
    }

    @Test func everyCorpusValueIsTheSameInBothStores() throws {
        let corpus = try #require(Self.corpusDirectory, "the corpus (../shared/corpus/files) is missing")
        guard let pg = try PGTest.index(.postgres) else { return }
        let sqlite = try #require(try PGTest.index(.sqlite))
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus).sorted()
        var compared = 0, tables = 0, values = 0, wide = 0
        for name in files {
            let path = corpus + "/" + name
            let local: OpenedWorkbook
            do { local = try sqlite.open(path: path) } catch {
                // Unreadable in SQLite (encrypted, corrupt): the same kind of error from the store.
                #expect(throws: (any Error).self, "\(name)") { try pg.open(path: path) }
                continue
            }
            let shared = try pg.open(path: path)
            // More than PostgreSQL holds (1,600 columns, or a row over a page): indexed locally,
            // and the outline says so; still compared below (then both sides are SQLite).
            if shared.outline.sheets.first?.warnings.contains(where: { $0.contains("not in the shared store") }) == true { wide += 1 }
            #expect(shared.outline.contentHash == local.outline.contentHash)
            for t in local.outline.sheets.flatMap(\.tables) {
                for part in t.parts.isEmpty ? [t.name] : t.parts.map(\.name) {
                    let sql = "SELECT * FROM \"\(part.replacingOccurrences(of: "\"", with: "\"\""))\" ORDER BY 1"
                    let a = try sqlite.query(outline: local.outline, sql: sql, limit: 100_000, timeout: 30)
                    let b = try pg.query(outline: shared.outline, sql: sql, limit: 100_000, timeout: 30)
                    // Names past PostgreSQL's 63 bytes are cut there (PGColumn.named).
                    #expect(a.columns.map { PGColumn.clip($0, 63) } == b.columns.map { PGColumn.clip($0, 63) } || a.columns.count == b.columns.count,
                            "\(name) \(part)")
                    #expect(a.rows.count == b.rows.count, "\(name) \(part)")
                    for (ra, rb) in zip(a.rows, b.rows) where ra != rb {
                        Issue.record("\(name) \(part): \(ra) != \(rb)")
                        break
                    }
                    tables += 1
                    values += a.rows.count * a.columns.count
                    // Sums of every number column: integers exactly, doubles to 1e-12 relative.
                    for c in t.columns where c.type == .integer || c.type == .real {
                        let col = "\"\(c.name.replacingOccurrences(of: "\"", with: "\"\""))\""
                        guard a.columns.contains(c.name), c.name.utf8.count <= 63 else { continue }
                        let q = "SELECT SUM(\(col)), COUNT(\(col)) FROM \"\(part.replacingOccurrences(of: "\"", with: "\"\""))\""
                        let sa = try sqlite.query(outline: local.outline, sql: q, limit: 1).rows.first ?? []
                        let sb = try pg.query(outline: shared.outline, sql: q, limit: 1).rows.first ?? []
                        #expect(sa.count == 2 && sb.count == 2 && sa[1] == sb[1], "\(name) \(part).\(c.name) count")
                        switch (sa.first, sb.first) {
                        case let (.integer(x)?, .integer(y)?): #expect(x == y, "\(name) \(part).\(c.name)")
                        case let (.real(x)?, .real(y)?): #expect(abs(x - y) <= 1e-12 * max(1, abs(x)), "\(name) \(part).\(c.name): \(x) vs \(y)")
                        case let (.integer(x)?, .real(y)?), let (.real(y)?, .integer(x)?): #expect(Double(x) == y, "\(name) \(part).\(c.name)")
                        case (.null?, .null?): break
                        default: Issue.record("\(name) \(part).\(c.name): \(String(describing: sa.first)) vs \(String(describing: sb.first))")
                        }
                    }
                }
            }
            compared += 1
        }
        #expect(compared >= 50, "only \(compared) corpus files compared")
        #expect(wide <= 2, "\(wide) corpus files have tables wider than PostgreSQL's 1,600 columns")
        print("corpus parity: \(compared) files, \(tables) tables, \(values) values identical; \(wide) too wide for PostgreSQL")
    }
}
