// Structured references to tables (ListObjects): `Table1[Amount]`, `Table1[#All]`,
// `Table1[[#Headers],[Amount]]`, `Table1[[Qty]:[Price]]`, `[@Qty]`, `Table1[@[Unit Price]]`.
// Resolved against the table's `ref`, header row count and totals row count (ECMA-376
// §18.5.1.2 table; the syntax is Excel's "Using structured references with Excel tables").

struct StructuredRefError: Error { var code: String; var why: String? }

extension FormulaEngine {
    /// The table of that name (case-insensitive, as Excel matches table names).
    func table(named name: String) -> DeclaredTable? {
        let l = name.lowercased()
        return tables.first { $0.name.lowercased() == l }
    }

    /// The area a structured reference names, in the context of the formula's cell (for `@`
    /// and a reference without a table name). #REF! for an unknown table or column, #VALUE!
    /// for `@` / #This Row outside the table's data rows.
    func structuredArea(table name: String?, spec: String, sheet: Int, cell: CellRef) -> Result<SheetArea, StructuredRefError> {
        let t: DeclaredTable?
        if let name { t = table(named: name) } else {
            t = tables.first { sheetIndex($0.sheet) == sheet && $0.range.contains(cell) }
        }
        guard let t, let ts = sheetIndex(t.sheet) else {
            return .failure(StructuredRefError(code: FormulaErrors.ref, why: "structured reference to an unknown table \(name ?? "(the formula is in none)")\(spec)"))
        }
        guard let items = Self.structuredItems(spec) else {
            return .failure(StructuredRefError(code: FormulaErrors.ref, why: "structured reference \(spec) does not parse"))
        }
        let r = t.range
        let headerEnd = r.start.row + t.headerRowCount - 1
        let dataStart = r.start.row + t.headerRowCount, dataEnd = r.end.row - t.totalsRowCount
        var rows: ClosedRange<Int>? = nil
        func add(_ lo: Int, _ hi: Int) {
            guard lo <= hi else { return }
            rows = rows.map { min($0.lowerBound, lo)...max($0.upperBound, hi) } ?? lo...hi
        }
        var columns: [Int] = []
        var thisRow = false
        for item in items.specials {
            switch item.lowercased() {
            case "#all": add(r.start.row, r.end.row)
            case "#data": add(dataStart, dataEnd)
            case "#headers":
                guard t.headerRowCount > 0 else { return .failure(StructuredRefError(code: FormulaErrors.ref, why: nil)) }
                add(r.start.row, headerEnd)
            case "#totals":
                guard t.totalsRowCount > 0 else { return .failure(StructuredRefError(code: FormulaErrors.ref, why: nil)) }
                add(dataEnd + 1, r.end.row)
            case "#this row", "@": thisRow = true
            default: return .failure(StructuredRefError(code: FormulaErrors.ref, why: "structured reference item \(item) is unknown"))
            }
        }
        if thisRow {
            guard sheet == ts, cell.row >= dataStart, cell.row <= dataEnd else { return .failure(StructuredRefError(code: FormulaErrors.value, why: nil)) }
            rows = cell.row...cell.row
        }
        for c in items.columns {
            guard let k = t.columnNames.firstIndex(where: { $0.lowercased() == c.lowercased() }) else {
                return .failure(StructuredRefError(code: FormulaErrors.ref, why: "table \(t.name) has no column \(c)"))
            }
            columns.append(r.start.column + k)
        }
        let rowRange = rows ?? (dataStart...max(dataStart, dataEnd))
        let colRange = columns.isEmpty ? r.start.column...r.end.column : columns.min()!...columns.max()!
        return .success(SheetArea(sheet: ts, range: CellRange(rows: rowRange, columns: colRange)))
    }

    /// The specials (`#All`, `#Data`, `#Headers`, `#Totals`, `#This Row`, `@`) and the column
    /// names (one, or the two ends of a `[A]:[B]` span) of a bracketed spec; nil when malformed.
    static func structuredItems(_ spec: String) -> (specials: [String], columns: [String])? {
        var inner = Substring(spec)
        guard inner.hasPrefix("["), inner.hasSuffix("]") else { return nil }
        inner = inner.dropFirst().dropLast()
        var specials: [String] = [], columns: [String] = []
        if inner.hasPrefix("@") { specials.append("@"); inner = inner.dropFirst() }
        func unescape(_ s: Substring) -> String {
            var out = "", escaped = false
            for ch in s { if !escaped && ch == "'" { escaped = true; continue }; out.append(ch); escaped = false }
            return out.trimmingCharacters(in: .whitespaces)
        }
        func classify(_ item: String) {
            if item.hasPrefix("#") { specials.append(item) } else if !item.isEmpty { columns.append(item) }
        }
        if !inner.contains("[") {
            classify(unescape(inner))
            return (specials, columns)
        }
        // A list of bracketed items separated by ',' (and ':' inside a column span).
        var k = inner.startIndex
        while k < inner.endIndex {
            let ch = inner[k]
            if ch == "[" {
                var j = inner.index(after: k), item = Substring()
                var escaped = false
                while j < inner.endIndex {
                    let d = inner[j]
                    if !escaped && d == "'" { escaped = true; j = inner.index(after: j); continue }
                    if !escaped && d == "]" { break }
                    item.append(d); escaped = false
                    j = inner.index(after: j)
                }
                guard j < inner.endIndex else { return nil }
                classify(item.trimmingCharacters(in: .whitespaces))
                k = inner.index(after: j)
            } else if ch == "," || ch == ":" || ch == " " {
                k = inner.index(after: k)
            } else {
                return nil
            }
        }
        return (specials, columns)
    }
}
