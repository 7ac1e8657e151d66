// Search chunks: header-aware row text, windows of loose cells, descriptions of sheets, tables
// and columns. Pure functions of the rows; the builder feeds them.
import Foundation
import XLChatWorkbook

struct Chunk {
    var kind: String
    var sheet: String
    var range: CellRange
    var text: String
}

enum CellText {
    /// The cell as row text and FTS see it: numbers without a trailing `.0`, dates as ISO text,
    /// booleans as TRUE/FALSE, errors as written.
    static func of(_ v: CellValue) -> String? {
        switch v {
        case .empty: return nil
        case let .number(x): return number(x)
        case let .string(s): return s.isEmpty ? nil : s
        case let .bool(b): return b ? "TRUE" : "FALSE"
        case let .error(e): return e
        case let .temporal(kind, serial): return ExcelDate.iso(kind, serial: serial)
        }
    }

    static func number(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return String(x)
    }

    /// Keeps chunk texts bounded (a cell can hold 32,767 characters).
    static func clip(_ s: String, _ max: Int) -> String {
        guard s.utf8.count > max else { return s }
        var out = String(decoding: s.utf8.prefix(max), as: UTF8.self)
        if out.last == "\u{FFFD}" { out.removeLast() }
        return out + "…"
    }
}

/// Summary of one column's values, for its description chunk.
struct ColumnStats {
    var nonEmpty = 0
    var numericCount = 0
    var minValue = Double.infinity
    var maxValue = -Double.infinity
    var minText: String? = nil
    var maxText: String? = nil
    var samples: [String] = []

    mutating func add(_ v: CellValue, text: String) {
        nonEmpty += 1
        switch v {
        case let .number(x):
            numericCount += 1
            minValue = Swift.min(minValue, x); maxValue = Swift.max(maxValue, x)
        case .temporal:
            if minText == nil || text < minText! { minText = text }
            if maxText == nil || text > maxText! { maxText = text }
        default:
            if samples.count < 6 && !samples.contains(text) { samples.append(CellText.clip(text, 40)) }
        }
    }

    func describe() -> String {
        var parts: [String] = ["\(nonEmpty) values"]
        if numericCount > 0 { parts.append("from \(CellText.number(minValue)) to \(CellText.number(maxValue))") }
        if let a = minText, let b = maxText { parts.append("from \(a) to \(b)") }
        if !samples.isEmpty { parts.append("e.g. " + samples.joined(separator: ", ")) }
        return parts.joined(separator: "; ")
    }
}

/// Groups loose rows (outside any table) into windows of a few rows each.
struct WindowChunker {
    let sheet: String
    let rowsPerWindow: Int
    var first: Int? = nil
    var last = 0
    var minColumn = Int.max
    var maxColumn = 0
    var parts: [String] = []
    var out: [Chunk] = []

    init(sheet: String, rowsPerWindow: Int = 20) { self.sheet = sheet; self.rowsPerWindow = rowsPerWindow }

    mutating func add(_ row: SheetRow) {
        guard !row.cells.isEmpty else { return }
        if let f = first, row.index - f >= rowsPerWindow { flush() }
        if first == nil { first = row.index }
        last = row.index
        for c in row.cells {
            guard let t = CellText.of(c.value) else { continue }
            minColumn = min(minColumn, c.column); maxColumn = max(maxColumn, c.column)
            parts.append(CellRef(row: row.index, column: c.column).description + "=" + CellText.clip(t, 200))
        }
    }

    mutating func flush() {
        defer { first = nil; parts = []; minColumn = .max; maxColumn = 0 }
        guard let f = first, !parts.isEmpty else { return }
        let text = CellText.clip("\(sheet), rows \(f + 1)-\(last + 1): " + parts.joined(separator: "; "), 4000)
        out.append(Chunk(kind: "window", sheet: sheet,
                         range: CellRange(rows: f...last, columns: minColumn...max(minColumn, maxColumn)), text: text))
    }
}
