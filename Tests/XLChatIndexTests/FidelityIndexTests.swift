import Foundation
import Testing
import XLChatIndex
import XLChatWorkbook

/// Issue 10's merge, boundary and typing kinds through a real index and real SQLite: merged
/// data cells filled down, stacked and lower side tables apart, and the warnings a query gets
/// when an aggregate reads a text column or a column of several currencies.
@Suite struct FidelityIndexTests {
    func built(_ reader: any WorkbookReader, hash: String) async throws -> (WorkbookIndex, WorkbookOutline, TempDir) {
        try await TableBoundaryIndexTests().built(reader, hash: hash)
    }

    func grid(_ rows: [[Any]]) -> [[CellValue]] {
        rows.map { $0.map { v -> CellValue in
            switch v {
            case let s as String: return s.isEmpty ? .empty : .string(s)
            case let i as Int: return .number(Double(i))
            case let d as Double: return .number(d)
            default: return .empty
            }
        } }
    }

    @Test func mergedRegionsGroupLikeTheSheetReads() async throws {
        // Region merged down over its rows, in two sizes and at two column positions.
        for (k, offset) in [0, 3].enumerated() {
            let pad = [Any](repeating: "", count: offset)
            var rows: [[Any]] = [pad + ["Region", "Rep", "Sales"]]
            var merges: [CellRange] = []
            var expected: [String: Int] = [:]
            var r = 1
            for (region, n) in [("North", 3), ("South", 2), ("East", 7), ("West", 1)] {
                if n > 1 { merges.append(CellRange(rows: r...(r + n - 1), columns: offset...offset)) }
                for i in 0..<n {
                    rows.append(pad + [i == 0 ? region : "", "rep\(r)", r * 10])
                    expected[region, default: 0] += r * 10
                    r += 1
                }
            }
            let hash = "f1de00000000000\(k)"
            let reader = MemoryWorkbookReader(sheets: [.init(info: SheetInfo(name: "M", index: 0),
                                                             rows: MemoryWorkbookReader.sheet("M", index: 0, grid: grid(rows)).rows, merges: merges)])
            let (index, outline, dir) = try await built(reader, hash: hash)
            defer { dir.cleanup() }
            #expect(outline.sheets[0].warnings.contains { $0.contains("merged: 'North' filled into 3 rows") }, "\(outline.sheets[0].warnings)")
            let res = try index.query(hash: hash, sql: "SELECT Region, sum(Sales), count(*) FROM M GROUP BY Region")
            var got: [String: Int] = [:]
            for row in res.rows {
                guard case .text(let name) = row[0], case .integer(let s) = row[1] else {
                    Issue.record("a NULL region: \(row)"); continue
                }
                got[name] = Int(s)
            }
            #expect(got == expected)
        }
    }

    @Test func stackedAndLowerSideTablesQueryApart() async throws {
        let hash = "f1de000000000010"
        let stacked: [[Any]] = [["Fruit", "Kg"], ["apple", 5], ["pear", 7], ["Vehicle", "Count"], ["car", 100], ["bus", 200]]
        var side: [[Any]] = [["Name", "Score"], ["a", 1], ["b", 2], ["c", 3], ["d", 4], ["e", 5]]
        side[2] += ["", "City", "Pop"]; side[3] += ["", "X", 100]; side[4] += ["", "Y", 200]
        let reader = MemoryWorkbookReader(sheets: [MemoryWorkbookReader.sheet("St", index: 0, grid: grid(stacked)),
                                                   MemoryWorkbookReader.sheet("L", index: 1, grid: grid(side))])
        let (index, _, dir) = try await built(reader, hash: hash)
        defer { dir.cleanup() }
        #expect(try index.query(hash: hash, sql: "SELECT count(*), sum(Kg) FROM St").rows.first == [.integer(2), .integer(12)])
        #expect(try index.query(hash: hash, sql: "SELECT sum(Count) FROM St_2").rows.first == [.integer(300)])
        #expect(try index.query(hash: hash, sql: "SELECT count(*), sum(Score) FROM L").rows.first == [.integer(5), .integer(15)])
        #expect(try index.query(hash: hash, sql: "SELECT count(*), sum(Pop) FROM L_2").rows.first == [.integer(2), .integer(300)])
    }

    @Test func aggregatesOverTextColumnsAreWarned() async throws {
        let hash = "f1de000000000020"
        let rows: [[Any]] = [["Item", "Qty", "Code", "Amount"], ["a", "1.5k", "x1", 10], ["b", "x", "y2", 20], ["c", "300", "z3", 30], ["d", "12", "w4", 40]]
        let reader = MemoryWorkbookReader(sheets: [MemoryWorkbookReader.sheet("T", index: 0, grid: grid(rows))])
        let (index, _, dir) = try await built(reader, hash: hash)
        defer { dir.cleanup() }
        for f in ["sum", "total", "avg", "min", "max", "SUM"] {
            let res = try index.query(hash: hash, sql: "SELECT \(f)(\"Qty\") FROM T")
            #expect(res.warnings.count == 1 && res.warnings[0].contains("T.Qty, a text column"), "\(f): \(res.warnings)")
        }
        // Text columns read outside an aggregate, and number columns, are not warned.
        #expect(try index.query(hash: hash, sql: "SELECT Item, sum(Amount) FROM T GROUP BY Item").warnings.isEmpty)
        #expect(try index.query(hash: hash, sql: "SELECT count(Qty), max(Amount) FROM T WHERE Code <> 'q'").warnings.isEmpty)
        // Inside an expression, and two columns at once.
        let two = try index.query(hash: hash, sql: "SELECT sum(Amount * Qty), max(Qty), sum(Code) FROM T")
        #expect(two.warnings.count == 3, "\(two.warnings)")
        // min/max of a plain text column (names, codes) is an order of texts: not warned.
        #expect(try index.query(hash: hash, sql: "SELECT max(Code), min(Item) FROM T").warnings.isEmpty)
    }
}
