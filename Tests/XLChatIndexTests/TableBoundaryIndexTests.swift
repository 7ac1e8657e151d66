import Foundation
import Testing
import XLChatIndex
import XLChatWorkbook

/// The typed tables under several tables per sheet, totals rows, wide sheets, and strict SQL:
/// built into a real index and queried with real SQLite.
@Suite struct TableBoundaryIndexTests {
    static func fidelity(_ name: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.deletingLastPathComponent().appendingPathComponent("shared/cases/fidelity/\(name)").path
        try #require(FileManager.default.fileExists(atPath: path), "the fidelity cases are missing: \(path)")
        return path
    }

    /// Opens, outlines and indexes `reader`; returns the index and the outline.
    func built(_ reader: any WorkbookReader, hash: String) async throws -> (WorkbookIndex, WorkbookOutline, TempDir) {
        let dir = try TempDir()
        let outline = try WorkbookOutline.build(reader: reader, path: "mem", contentHash: hash)
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder())
        return (index, outline, dir)
    }

    func value(_ index: WorkbookIndex, _ hash: String, _ sql: String) throws -> SQLValue? {
        try index.query(hash: hash, sql: sql).rows.first?.first
    }

    @Test func handedTableWithTotalsRowSumsOnlyItsData() async throws {
        let hash = "f1d0000000000001"
        let (index, _, dir) = try await built(try Workbooks.open(path: try Self.fidelity("table-with-totals-row.xlsx")), hash: hash)
        defer { dir.cleanup() }
        #expect(try value(index, hash, "SELECT count(*) FROM Expenses") == .integer(4))
        #expect(try value(index, hash, "SELECT sum(Amount) FROM Expenses") == .real(1725.5))
        // The totals row's cells stay searchable as cells.
        let hits = try await index.search(hash: hash, query: "Total 1725.5", limit: 5, embedder: HashingEmbedder())
        #expect(hits.contains { $0.range.start.row == 5 })
    }

    @Test func handedSeveralTablesPerSheetGiveFourTables() async throws {
        let hash = "f1d0000000000002"
        let (index, outline, dir) = try await built(try Workbooks.open(path: try Self.fidelity("several-tables-per-sheet.xlsx")), hash: hash)
        defer { dir.cleanup() }
        #expect(outline.sheets.flatMap(\.tables).map(\.name) == ["Stacked", "Stacked_2", "SideBySide", "SideBySide_2"])
        #expect(try index.query(hash: hash, sql: "SELECT count(*), sum(Units) FROM Stacked").rows == [[.integer(3), .integer(20)]])
        #expect(try index.query(hash: hash, sql: #"SELECT count(*), sum("Units returned") FROM Stacked_2"#).rows == [[.integer(2), .integer(3)]])
        #expect(try index.query(hash: hash, sql: "SELECT count(*), sum(Sales) FROM SideBySide").rows == [[.integer(3), .integer(310)]])
        #expect(try index.query(hash: hash, sql: "SELECT count(*), sum(Target) FROM SideBySide_2").rows == [[.integer(2), .integer(350)]])
        // Each table keeps the sheet's row numbers and cites its own cells.
        let q = try index.query(hash: hash, sql: #"SELECT "Returned product", _row FROM Stacked_2 ORDER BY _row"#)
        #expect(q.rows == [[.text("pen"), .integer(7)], [.text("pad"), .integer(8)]])
        #expect(q.sourceRanges.map { $0?.a1 } == ["Stacked!A7", "Stacked!A8"])
        let side = try index.query(hash: hash, sql: "SELECT Region, Target FROM SideBySide_2 ORDER BY _row")
        #expect(side.sourceRanges.map { $0?.a1 } == ["SideBySide!E2:F2", "SideBySide!E3:F3"])
    }

    @Test func subtotalsAndGrandTotalStayOutOfTheSums() async throws {
        let hash = "f1d0000000000003"
        let reader = MemoryWorkbookReader(sheets: [MemoryWorkbookReader.sheet("Sales", index: 0, grid: [
            [.string("Region"), .string("Rep"), .string("Sales")],
            [.string("East"), .string("Ann"), .number(10)], [.string("East"), .string("Bo"), .number(20)],
            [.empty, .string("Zwischensumme"), .number(30)],
            [.string("West"), .string("Cy"), .number(5)], [.string("West"), .string("Di"), .number(7)],
            [.empty, .string("Zwischensumme"), .number(12)],
            [.string("Gesamt"), .empty, .number(42)],
        ])])
        let (index, _, dir) = try await built(reader, hash: hash)
        defer { dir.cleanup() }
        #expect(try index.query(hash: hash, sql: "SELECT count(*), sum(Sales) FROM Sales").rows == [[.integer(4), .integer(42)]])
        #expect(try index.query(hash: hash, sql: "SELECT group_concat(_row) FROM Sales").rows == [[.text("2,3,5,6")]])
    }

    @Test func wideSheetsAreQueryableInEveryColumn() async throws {
        for (width, hash) in [(2500, "f1d0000000000004"), (5000, "f1d0000000000005")] {
            let header: [CellValue] = (0..<width).map { .string("c\($0)") }
            let grid: [[CellValue]] = [header] + (1...3).map { r in (0..<width).map { .number(Double($0 * 10 + r)) } }
            let reader = MemoryWorkbookReader(sheets: [MemoryWorkbookReader.sheet("Wide", index: 0, grid: grid)])
            let (index, outline, dir) = try await built(reader, hash: hash)
            defer { dir.cleanup() }
            let parts = outline.sheets[0].tables[0].parts.map(\.name)
            #expect(parts.count == (width + 1998) / 1999)
            let status = try index.status(hash: hash)
            #expect(status.tables.map(\.name) == parts)
            #expect(status.tables.map(\.columns.count).reduce(0, +) == width)
            #expect(status.tables.allSatisfy { $0.omittedColumns == 0 })
            let last = "c\(width - 1)"
            let lastPart = parts.last!
            let q = try index.query(hash: hash, sql: "SELECT a.c0, z.\(last) FROM Wide a JOIN \(lastPart) z USING (_row) ORDER BY a._row")
            #expect(q.rows == (1...3).map { [.integer(Int64($0)), .integer(Int64((width - 1) * 10 + $0))] })
            let cite = try index.query(hash: hash, sql: "SELECT \(last) FROM \(lastPart) WHERE _row = 3")
            #expect(cite.sourceRanges.map { $0?.a1 } == ["Wide!\(A1.columnName(width - 1))3"])
        }
    }

    @Test func doubleQuotedTyposAreErrorsThatNameTheNearestColumns() async throws {
        let hash = "f1d0000000000006"
        let reader = MemoryWorkbookReader(sheets: [MemoryWorkbookReader.sheet("Sales", index: 0, grid: [
            [.string("Region"), .string("Revenue"), .string("Units sold")],
            [.string("West"), .number(10), .number(1)], [.string("East"), .number(20), .number(2)],
        ])])
        let (index, _, dir) = try await built(reader, hash: hash)
        defer { dir.cleanup() }
        #expect(try value(index, hash, #"SELECT sum("Revenue") FROM Sales"#) == .integer(30))
        func message(_ sql: String) -> String? {
            do { _ = try index.query(hash: hash, sql: sql); return nil } catch let e as IndexError {
                #expect(e.kind == .invalidQuery)
                return e.message
            } catch { return "\(error)" }
        }
        let typo = message(#"SELECT sum("Revenu") FROM Sales"#)
        #expect(typo?.contains("no such column: Revenu") == true)
        #expect(typo?.contains(#"did you mean "Revenue" in "Sales"?"#) == true, "\(typo ?? "")")
        #expect(message(#"SELECT "Units sould" FROM Sales"#)?.contains(#""Units sold""#) == true)
        #expect(message("SELECT Region FROM Salse")?.contains(#"did you mean "Sales"?"#) == true)
        #expect(message("SELECT s.Regoin FROM Sales s")?.contains(#""Region""#) == true)
        // String literals in single quotes still work; nothing close: no guess.
        #expect(try value(index, hash, "SELECT count(*) FROM Sales WHERE Region = 'West'") == .integer(1))
        #expect(message(#"SELECT "zzzzqqq" FROM Sales"#)?.contains("did you mean") == false)
    }
}
