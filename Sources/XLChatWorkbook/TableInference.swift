// Per-sheet table inference, streamed: the first `lookahead` non-empty rows are buffered to find
// the header; every later row only updates per-column type counters, so memory does not grow
// with the sheet's length.
//
// Layout rules (over the buffered rows; "width" is the largest number of non-empty cells in one
// buffered row):
// - Title rows: leading rows with one cell over a sheet at least 3 wide, or two cells over a
//   sheet at least 5 wide. They are skipped, except that at the end (when merged ranges are
//   known) a title-like row right above the header joins the header if it holds a merged cell
//   spanning some but not all of the table's columns (a group label such as "Sales" over Q1..Q4).
// - Header: the first row after the titles, if it is header-like: all its cells are text, or at
//   least half are labels and some label has a number/date/boolean below it in the next row
//   (a label is a text cell, or a year 1900-2100 over a number that is not a year, as in
//   "Region | 2023 | 2024" over "North | 10 | 12").
//   Otherwise the sheet has no header and its columns are named by letter.
// - Multi-row header: the header extends down over up to two more adjacent all-text rows, each
//   holding a cell in a column the row above leaves empty (sub-labels under a group label that
//   spans several columns), provided a row with a non-text cell follows (so an all-text table
//   never loses data rows to its header).
// - Data: every row below the header (or from the first non-title row when there is none).
// - Column types: decided over all data cells by `ColumnStats` (ColumnTyping.swift); a column
//   with no data cells is text.

struct TableInferrer {
    static let lookahead = 30

    private let declared: DeclaredTable?
    private var buffer: [SheetRow] = []
    private var decided = false

    /// Rows above the header that looked like titles (adjacent to it), decided at the end.
    private var preRows: [SheetRow] = []
    private var headerRows: [SheetRow] = []
    /// Rows with index >= dataStart are data.
    private var dataStart = 0
    private var stats: [Int: ColumnStats] = [:]
    private var dataMinRow = Int.max, dataMaxRow = -1

    /// The file's signal for ambiguous numbers (a `;`-delimited csv).
    private let hint: NumberHint

    init(declared: DeclaredTable?, hint: NumberHint = .none) {
        self.declared = declared
        self.hint = hint
        if let d = declared {
            decided = true
            dataStart = d.range.start.row + d.headerRowCount
        }
    }

    mutating func add(_ row: SheetRow) {
        if decided {
            consume(row)
            return
        }
        if row.cells.isEmpty { return }
        buffer.append(row)
        if buffer.count >= Self.lookahead { decide() }
    }

    private mutating func consume(_ row: SheetRow) {
        if let d = declared {
            if row.index >= d.range.start.row && row.index < dataStart {
                headerRows.append(row)
                return
            }
            guard row.index >= dataStart, row.index <= d.range.end.row else { return }
            var any = false
            for cell in row.cells where cell.column >= d.range.start.column && cell.column <= d.range.end.column {
                if stats[cell.column, default: ColumnStats()].add(cell) { any = true }
            }
            if any { dataMinRow = min(dataMinRow, row.index); dataMaxRow = max(dataMaxRow, row.index) }
            return
        }
        guard row.index >= dataStart else { return }
        var any = false
        for cell in row.cells {
            if stats[cell.column, default: ColumnStats()].add(cell) { any = true }
        }
        if any { dataMinRow = min(dataMinRow, row.index); dataMaxRow = max(dataMaxRow, row.index) }
    }

    private static func isText(_ v: CellValue) -> Bool { if case .string = v { return true } else { return false } }
    private static func isTyped(_ v: CellValue) -> Bool {
        switch v {
        case .number, .bool, .temporal: return true
        default: return false
        }
    }

    /// Whether `row` has a cell in a column where `above` has none.
    private static func fillsAGap(_ row: SheetRow, below above: SheetRow) -> Bool {
        let taken = Set(above.cells.map(\.column))
        return row.cells.contains { !taken.contains($0.column) }
    }

    private static func isYear(_ v: CellValue) -> Bool {
        if case .number(let d) = v, d == d.rounded(), d >= 1900, d <= 2100 { return true }
        return false
    }

    private mutating func decide() {
        decided = true
        let rows = buffer
        buffer = []
        let width = rows.map(\.cells.count).max() ?? 0
        func titleLike(_ r: SheetRow) -> Bool {
            (r.cells.count == 1 && width >= 3) || (r.cells.count == 2 && width >= 5)
        }
        func allText(_ r: SheetRow) -> Bool { r.cells.allSatisfy { Self.isText($0.value) } }
        func adjacent(_ a: Int, _ b: Int) -> Bool { b < rows.count && rows[b].index == rows[a].index + 1 }

        var p = 0
        while p < rows.count && titleLike(rows[p]) { p += 1 }
        if p == rows.count {
            // Only title-like rows (a sparse sheet): no header; everything is data.
            p = 0
        }
        var headerLike = false
        if p < rows.count {
            let r = rows[p]
            if allText(r) {
                headerLike = true
            } else {
                if adjacent(p, p + 1) {
                    let below = Dictionary(rows[p + 1].cells.map { ($0.column, $0.value) }, uniquingKeysWith: { a, _ in a })
                    // A label is text, or a year (1900-2100) over a number that is not one.
                    func typedBelow(_ c: RowCell) -> Bool { below[c.column].map(Self.isTyped) ?? false }
                    func label(_ c: RowCell) -> Bool {
                        Self.isText(c.value) || (Self.isYear(c.value) && typedBelow(c) && !Self.isYear(below[c.column]!))
                    }
                    let labels = r.cells.filter(label).count
                    headerLike = labels * 2 >= r.cells.count && r.cells.contains { label($0) && typedBelow($0) }
                }
            }
        }
        if headerLike {
            // Titles directly above the header (adjacent), for the merge check at the end.
            var t = p - 1
            while t >= 0 && preRows.count < 2 && rows[t].index + 1 == (preRows.first ?? rows[p]).index {
                preRows.insert(rows[t], at: 0)
                t -= 1
            }
            var last = p
            headerRows = [rows[p]]
            while headerRows.count < 3, adjacent(last, last + 1), allText(rows[last + 1]),
                  Self.fillsAGap(rows[last + 1], below: rows[last]),
                  rows[(last + 2)...].contains(where: { !allText($0) }) {
                last += 1
                headerRows.append(rows[last])
            }
            dataStart = rows[last].index + 1
            for r in rows[(last + 1)...] { consume(r) }
        } else if p < rows.count {
            dataStart = rows[p].index
            for r in rows[p...] { consume(r) }
        }
    }

    /// The table, once the whole sheet has been seen. `usedNames` holds the lower-cased table
    /// names taken so far in the workbook.
    mutating func finish(sheet: SheetInfo, summary: SheetSummary, usedNames: inout Set<String>) -> InferredTable? {
        if !decided { decide() }
        if let d = declared { return finishDeclared(d, sheet: sheet, summary: summary, usedNames: &usedNames) }

        // Resolve title-like rows just above the header: group labels (partial merges) join it.
        var header = headerRows
        if !header.isEmpty && !preRows.isEmpty {
            var cols = Set(stats.keys)
            for r in header { for c in r.cells { cols.insert(c.column) } }
            let lo = cols.min() ?? 0, hi = cols.max() ?? 0
            for r in preRows.reversed() {
                guard header.first!.index == r.index + 1 else { break }
                let partialMerge = summary.mergedRanges.contains { m in
                    m.start.row == r.index && m.columnCount >= 2
                        && r.cells.contains { $0.column == m.start.column }
                        && !(m.start.column <= lo && m.end.column >= hi)
                }
                if partialMerge { header.insert(r, at: 0) } else { break }
            }
        }

        var columnSet = Set(stats.keys)
        for r in header { for c in r.cells { columnSet.insert(c.column) } }
        guard !columnSet.isEmpty else { return nil }
        let columns = columnSet.sorted()
        let lo = columns.first!, hi = columns.last!

        let texts = Self.headerTexts(header, columns: lo...hi, merges: summary.mergedRanges)
        let typings = decideTypes(columns)
        var names = UniqueNames()
        var out: [TableColumn] = []
        for c in columns {
            let headerText = header.isEmpty ? "" : (texts[c] ?? "")
            let base: String
            if header.isEmpty {
                base = A1.columnName(c)
            } else {
                let clean = Self.cleanName(headerText)
                base = clean.isEmpty ? "column_" + A1.columnName(c) : clean
            }
            out.append(TableColumn(name: names.claim(base), header: headerText,
                                   type: typings[c]!.type, sourceColumn: c, typing: typings[c]!.typing))
        }
        let headerRange = header.isEmpty ? nil
            : CellRange(rows: header.first!.index...header.last!.index, columns: lo...hi)
        let dataRange = dataMaxRow < 0 ? nil : CellRange(rows: dataMinRow...dataMaxRow, columns: lo...hi)
        return InferredTable(name: Self.tableName(sheet.name, usedNames: &usedNames), sheet: sheet.name,
                             headerRange: headerRange, dataRange: dataRange, columns: out)
    }

    private func finishDeclared(_ d: DeclaredTable, sheet: SheetInfo, summary: SheetSummary, usedNames: inout Set<String>) -> InferredTable? {
        let cols = d.range.start.column...d.range.end.column
        let texts = Self.headerTexts(headerRows, columns: cols, merges: summary.mergedRanges)
        let typings = decideTypes(Array(cols))
        var names = UniqueNames()
        var out: [TableColumn] = []
        for (k, c) in cols.enumerated() {
            let declaredName = k < d.columnNames.count ? d.columnNames[k] : ""
            let headerText = declaredName.isEmpty ? (texts[c] ?? "") : declaredName
            let clean = Self.cleanName(headerText)
            out.append(TableColumn(name: names.claim(clean.isEmpty ? "column_" + A1.columnName(c) : clean),
                                   header: headerText, type: typings[c]!.type, sourceColumn: c, typing: typings[c]!.typing))
        }
        let headerRange = d.headerRowCount > 0
            ? CellRange(rows: d.range.start.row...(d.range.start.row + d.headerRowCount - 1), columns: cols) : nil
        let dataRange = dataStart <= d.range.end.row
            ? CellRange(rows: dataStart...d.range.end.row, columns: cols) : nil
        var base = Self.cleanIdentifier(d.name)
        if base.isEmpty { base = Self.cleanIdentifier(sheet.name) }
        return InferredTable(name: Self.unique(base.isEmpty ? "table" : base, in: &usedNames), sheet: sheet.name,
                             headerRange: headerRange, dataRange: dataRange, columns: out)
    }

    /// Each column's type and typing, with the table's hint for ambiguous numbers.
    private func decideTypes(_ columns: [Int]) -> [Int: (type: ColumnType, typing: ColumnTyping)] {
        let tableHint = ColumnStats.hint(for: columns.compactMap { stats[$0] }, file: hint)
        var out: [Int: (type: ColumnType, typing: ColumnTyping)] = [:]
        for c in columns { out[c] = (stats[c] ?? ColumnStats()).decide(hint: tableHint) }
        return out
    }

    /// Per column, the header rows' texts joined with " / " after filling merged cells across
    /// (and down) their span within the header rows. Empty parts and repeats are skipped.
    static func headerTexts(_ header: [SheetRow], columns: ClosedRange<Int>, merges: [CellRange]) -> [Int: String] {
        guard let first = header.first, let last = header.last else { return [:] }
        var grid: [[Int: String]] = header.map { r in
            Dictionary(r.cells.map { ($0.column, displayText($0.value)) }, uniquingKeysWith: { a, _ in a })
        }
        let rowPos = Dictionary(header.enumerated().map { ($1.index, $0) }, uniquingKeysWith: { a, _ in a })
        for m in merges where m.start.row >= first.index && m.start.row <= last.index {
            guard let top = rowPos[m.start.row], let text = grid[top][m.start.column], !text.isEmpty else { continue }
            let cLo = max(m.start.column, columns.lowerBound), cHi = min(m.end.column, columns.upperBound)
            guard cLo <= cHi else { continue }
            for r in m.start.row...min(m.end.row, last.index) {
                guard let pos = rowPos[r] else { continue }
                for c in cLo...cHi where grid[pos][c] == nil || grid[pos][c] == "" {
                    grid[pos][c] = text
                }
            }
        }
        var out: [Int: String] = [:]
        for c in columns {
            var parts: [String] = []
            for row in grid {
                let t = (row[c] ?? "").trimmingWhitespace()
                if !t.isEmpty && parts.last != t { parts.append(t) }
            }
            out[c] = parts.joined(separator: " / ")
        }
        return out
    }

    static func displayText(_ v: CellValue) -> String {
        switch v {
        case .empty: return ""
        case .string(let s): return s
        case .bool(let b): return b ? "TRUE" : "FALSE"
        case .error(let e): return e
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
            return String(d)
        case .temporal(let kind, let serial): return ExcelDate.iso(kind, serial: serial)
        }
    }

    /// Whitespace runs (line breaks included) collapsed to one space, trimmed.
    static func cleanName(_ s: String) -> String {
        var out = ""
        var pendingSpace = false
        for ch in s {
            if ch.isWhitespace { pendingSpace = !out.isEmpty; continue }
            if pendingSpace { out.append(" "); pendingSpace = false }
            out.append(ch)
        }
        return out
    }

    /// Letters, digits and `_` kept; runs of anything else become one `_`; no leading digit.
    static func cleanIdentifier(_ s: String) -> String {
        var out = ""
        for ch in s {
            if ch.isLetter || ch.isNumber || ch == "_" { out.append(ch) } else if !out.hasSuffix("_") { out.append("_") }
        }
        while out.hasSuffix("_") { out.removeLast() }
        while out.hasPrefix("_") { out.removeFirst() }
        if let f = out.first, f.isNumber { out = "t_" + out }
        return out
    }

    static func tableName(_ sheet: String, usedNames: inout Set<String>) -> String {
        let base = cleanIdentifier(sheet)
        return unique(base.isEmpty ? "table" : base, in: &usedNames)
    }

    static func unique(_ base: String, in used: inout Set<String>) -> String {
        var candidate = base
        var k = 2
        while used.contains(candidate.lowercased()) { candidate = "\(base)_\(k)"; k += 1 }
        used.insert(candidate.lowercased())
        return candidate
    }
}

/// Case-insensitively unique names: a repeat of `name` becomes `name_2`, `name_3`, ...
struct UniqueNames {
    private var used = Set<String>()
    mutating func claim(_ base: String) -> String { TableInferrer.unique(base, in: &used) }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
