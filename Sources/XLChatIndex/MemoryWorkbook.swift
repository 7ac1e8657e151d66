// An in-memory WorkbookReader: for indexing data that is not a file (and for tests and
// benchmarks that need a workbook of a given shape without a reader for its format).
import Foundation
import XLChatWorkbook

public final class MemoryWorkbookReader: WorkbookReader {
    public struct Sheet {
        public var info: SheetInfo
        public var rows: [SheetRow]
        /// Merged ranges, as a file's summary would give them.
        public var merges: [CellRange] = []
        public init(info: SheetInfo, rows: [SheetRow], merges: [CellRange] = []) { self.info = info; self.rows = rows; self.merges = merges }
    }
    public let format: WorkbookFormat
    public let memorySheets: [Sheet]
    public var sheets: [SheetInfo] { memorySheets.map(\.info) }
    public var definedNames: [DefinedName] { [] }
    public var declaredTables: [DeclaredTable] { [] }

    public init(format: WorkbookFormat = .xlsx, sheets: [Sheet]) {
        self.format = format; self.memorySheets = sheets
    }

    /// A sheet from a grid of values, row 0 first; `.empty` cells are left out.
    public static func sheet(_ name: String, index: Int, grid: [[CellValue]]) -> Sheet {
        Sheet(info: SheetInfo(name: name, index: index),
              rows: grid.enumerated().compactMap { r, values in
                  let cells = values.enumerated().compactMap { c, v in v.isEmpty ? nil : RowCell(column: c, value: v) }
                  return cells.isEmpty ? nil : SheetRow(index: r, cells: cells)
              })
    }

    @discardableResult
    public func readSheet(at index: Int, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        guard let sheet = memorySheets.first(where: { $0.info.index == index }) else {
            throw WorkbookError(.unknownSheet, "no sheet at index \(index)")
        }
        var minR = Int.max, maxR = -1, minC = Int.max, maxC = -1, count = 0
        for row in sheet.rows {
            for c in row.cells {
                minR = min(minR, row.index); maxR = max(maxR, row.index)
                minC = min(minC, c.column); maxC = max(maxC, c.column); count += 1
            }
            if try !visitor(row) { break }
        }
        return SheetSummary(usedRange: maxR < 0 ? nil : CellRange(rows: minR...maxR, columns: minC...maxC),
                            mergedRanges: sheet.merges, cellCount: count)
    }

    /// The outline of a sheet whose row 0 is a header and whose columns have the given types
    /// (what table inference would report for such a sheet).
    public func outline(contentHash: String, path: String = "memory", types: [String: [ColumnType]]) throws -> WorkbookOutline {
        var out: [SheetOutline] = []
        for s in memorySheets {
            let summary = try readSheet(at: s.info.index) { _ in true }
            var table: InferredTable? = nil
            if let t = types[s.info.name], let used = summary.usedRange, let header = s.rows.first, header.index == 0 {
                let cols = header.cells.enumerated().map { i, c in
                    let h = CellText.of(c.value) ?? A1.columnName(c.column)
                    return TableColumn(name: h, header: h, type: i < t.count ? t[i] : .text, sourceColumn: c.column)
                }
                table = InferredTable(name: s.info.name.replacingOccurrences(of: " ", with: "_"), sheet: s.info.name,
                                      headerRange: CellRange(rows: 0...0, columns: used.start.column...used.end.column),
                                      dataRange: used.end.row >= 1 ? CellRange(rows: 1...used.end.row, columns: used.start.column...used.end.column) : nil,
                                      columns: cols)
            }
            out.append(SheetOutline(info: s.info, summary: summary, tables: table.map { [$0] } ?? []))
        }
        return WorkbookOutline(path: path, format: format, contentHash: contentHash, sheets: out, definedNames: [])
    }
}

/// Synthetic workbooks of a known shape, for benchmarks and the crash test's child process.
public enum SyntheticWorkbook {
    /// `rows` data rows × 20 columns of the mixed kind /work/shared/bench/gen_workbooks.py writes:
    /// ids, codes, regions, products, integers, reals, dates, booleans, free text.
    public static func mixed(rows: Int, contentHash: String) throws -> (reader: MemoryWorkbookReader, outline: WorkbookOutline) {
        let names = ["OrderID", "Code", "Region", "Product", "Category", "Quantity", "UnitPrice", "Revenue", "Discount", "OrderDate",
                     "ShipDate", "Shipped", "Customer", "City", "Country", "Rep", "Score", "Margin", "Notes", "Priority"]
        let types: [ColumnType] = [.integer, .text, .text, .text, .text, .integer, .real, .real, .real, .date,
                                   .datetime, .boolean, .text, .text, .text, .text, .integer, .real, .text, .text]
        let regions = ["North", "South", "East", "West", "Central"]
        let products = ["Gizmo", "Widget", "Sprocket", "Doohickey", "Gadget", "Thingamajig", "Whatsit"]
        let categories = ["Hardware", "Software", "Services", "Parts"]
        let cities = ["Lisbon", "Oslo", "Lima", "Osaka", "Denver", "Cairo", "Perth", "Quito", "Turin", "Leeds"]
        let countries = ["Portugal", "Norway", "Peru", "Japan", "USA", "Egypt", "Australia", "Ecuador", "Italy", "UK"]
        let reps = ["Ana", "Bjorn", "Chen", "Dara", "Eli", "Femi", "Goran", "Hana"]
        let words = ["urgent", "gift", "repeat", "fragile", "bulk", "promo", "late", "priority", "sample", "return"]
        var rng = SplitMix(seed: 42)
        var rowsOut: [SheetRow] = [SheetRow(index: 0, cells: names.enumerated().map { RowCell(column: $0, value: .string($1)) })]
        rowsOut.reserveCapacity(rows + 1)
        for r in 1...max(1, rows) {
            let q = Double(rng.next() % 50 + 1)
            let price = Double(rng.next() % 100_000) / 100
            let city = Int(rng.next() % 10)
            var cells: [RowCell] = []
            cells.reserveCapacity(20)
            let values: [CellValue] = [
                .number(Double(10_000 + r)),
                .string("ORD-\(10_000 + r)"),
                .string(regions[Int(rng.next() % 5)]),
                .string(products[Int(rng.next() % 7)]),
                .string(categories[Int(rng.next() % 4)]),
                .number(q),
                .number(price),
                .number((q * price * 100).rounded() / 100),
                .number(Double(rng.next() % 30) / 100),
                .temporal(.date, serial: Double(44927 + Int(rng.next() % 730))),
                .temporal(.dateTime, serial: Double(44927 + Int(rng.next() % 730)) + Double(rng.next() % 1440) / 1440),
                .bool(rng.next() % 2 == 0),
                .string("Customer \(rng.next() % 5000)"),
                .string(cities[city]),
                .string(countries[city]),
                .string(reps[Int(rng.next() % 8)]),
                .number(Double(rng.next() % 100)),
                .number(Double(rng.next() % 10_000) / 10_000),
                rng.next() % 3 == 0 ? .empty : .string("\(words[Int(rng.next() % 10)]) \(words[Int(rng.next() % 10)]) order"),
                rng.next() % 2 == 0 ? .number(Double(rng.next() % 5)) : .string(["high", "low", "normal"][Int(rng.next() % 3)]),
            ]
            for (c, v) in values.enumerated() where !v.isEmpty { cells.append(RowCell(column: c, value: v)) }
            rowsOut.append(SheetRow(index: r, cells: cells))
        }
        let reader = MemoryWorkbookReader(sheets: [.init(info: SheetInfo(name: "Orders", index: 0), rows: rowsOut)])
        let outline = try reader.outline(contentHash: contentHash, path: "synthetic-mixed-\(rows).xlsx", types: ["Orders": types])
        return (reader, outline)
    }
}

/// Deterministic generator (splitmix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
