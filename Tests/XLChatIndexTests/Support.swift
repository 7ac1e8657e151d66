import Foundation
import Testing
import XLChatIndex
import XLChatWorkbook

/// A fresh data directory under the system temp dir, removed by `cleanup()`.
struct TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-index-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func cleanup() { try? FileManager.default.removeItem(at: url) }
    var indexDir: URL { url.appendingPathComponent("index") }
}

/// A small two-sheet workbook: a title row, then a table whose header is on row 3 (B3:H3) and
/// whose data is B4:H9; and a free-form "Notes" sheet without a table.
enum Fixture {
    static let hash = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12"

    static func reader() -> MemoryWorkbookReader {
        func row(_ r: Int, _ values: [CellValue]) -> SheetRow {
            SheetRow(index: r, cells: values.enumerated().compactMap { c, v in v.isEmpty ? nil : RowCell(column: c + 1, value: v) })
        }
        let d = { (y: Int, m: Int, day: Int) in CellValue.temporal(.date, serial: ExcelDate.serial(year: y, month: m, day: day)) }
        let orders = MemoryWorkbookReader.Sheet(info: SheetInfo(name: "Orders 2024", index: 0), rows: [
            SheetRow(index: 0, cells: [RowCell(column: 0, value: .string("Quarterly sales report"))]),
            row(2, ["Region", "Product", "Revenue", "Date", "Paid", "Code", "Note"].map { .string($0) }),
            row(3, [.string("West"), .string("Gizmo"), .number(1250), d(2024, 1, 15), .bool(true), .string("ORD-11730"), .number(7)]),
            row(4, [.string("East"), .string("Widget"), .number(300.5), d(2024, 2, 1), .bool(false), .string("ORD-11731"), .string("late")]),
            row(5, [.string("West"), .string("Sprocket"), .number(99), d(2024, 3, 9), .bool(true), .string("ORD-11732"), .empty]),
            row(6, [.string("North"), .string("Gizmo"), .number(4100), d(2024, 3, 30), .bool(false), .string("ORD-22001"), .bool(true)]),
            row(7, [.string("South"), .string("Doohickey"), .number(15.25), d(2024, 4, 2), .bool(true), .string("ORD-22002"), .error("#N/A")]),
            row(8, [.string("East"), .string("Gizmo"), .number(780), d(2024, 5, 20), .bool(true), .string("ORD-22003"), .number(2.5)]),
        ])
        let notes = MemoryWorkbookReader.sheet("Notes", index: 1, grid: [
            [.string("Budget owner: Priya Raman")],
            [.empty],
            [.string("Forecast assumes the zeppelin campaign launches in Q3")],
        ])
        return MemoryWorkbookReader(sheets: [orders, notes])
    }

    static func outline(hash: String = Fixture.hash) throws -> WorkbookOutline {
        let r = reader()
        let s0 = try r.readSheet(at: 0) { _ in true }
        let s1 = try r.readSheet(at: 1) { _ in true }
        let names = ["Region", "Product", "Revenue", "Date", "Paid", "Code", "Note"]
        let types: [ColumnType] = [.text, .text, .real, .date, .boolean, .text, .text]
        let table = InferredTable(name: "Orders_2024", sheet: "Orders 2024",
                                  headerRange: CellRange(rows: 2...2, columns: 1...7),
                                  dataRange: CellRange(rows: 3...8, columns: 1...7),
                                  columns: names.enumerated().map { i, n in TableColumn(name: n, header: n, type: types[i], sourceColumn: i + 1) })
        return WorkbookOutline(path: "/tmp/orders.xlsx", format: .xlsx, contentHash: hash, sheets: [
            SheetOutline(info: r.sheets[0], summary: s0, table: table),
            SheetOutline(info: r.sheets[1], summary: s1, table: nil),
        ], definedNames: [])
    }
}

/// An embedder that records how often it was called (and can be told to be slow).
final class CountingEmbedder: Embedder, @unchecked Sendable {
    let base: HashingEmbedder
    let identifier: String
    var dimensions: Int { base.dimensions }
    private let lock = NSLock()
    private var _texts = 0
    var texts: Int { lock.withLock { _texts } }
    let delayNanos: UInt64
    init(identifier: String = "counting-64", dimensions: Int = 64, delayNanos: UInt64 = 0) {
        self.base = HashingEmbedder(dimensions: dimensions); self.identifier = identifier; self.delayNanos = delayNanos
    }
    func embed(_ texts: [String]) async throws -> [[Float]] {
        lock.withLock { _texts += texts.count }
        if delayNanos > 0 { try await Task.sleep(nanoseconds: delayNanos) }
        return try await base.embed(texts)
    }
}

/// Where `swift build` put the executables (beside the test bundle).
func productsDirectory() -> URL {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    if dir.lastPathComponent == "MacOS" { dir = dir.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }
    return dir
}

/// Runs `body`, expecting an IndexError of `kind`; returns it for more checks.
@discardableResult
func expectIndexError(_ kind: IndexError.Kind, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> IndexError? {
    let e = #expect(throws: IndexError.self, sourceLocation: sourceLocation) { try body() }
    #expect(e?.kind == kind, "got \(String(describing: e))", sourceLocation: sourceLocation)
    return e
}
