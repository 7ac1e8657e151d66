import Foundation

// The engine's view of a workbook: values, references and what a reader reports.
// Everything here is independent of any wire format; the server turns it into JSON.

/// What an Excel date/time number means, decided by the cell's number format.
public enum TemporalKind: String, Sendable, Hashable, Codable {
    case date, dateTime, time, duration
}

/// One cell's value, as read (a formula cell carries its cached value).
public enum CellValue: Sendable, Hashable {
    case empty
    case number(Double)
    case string(String)
    case bool(Bool)
    /// An error cell, e.g. `#DIV/0!`, `#N/A`.
    case error(String)
    /// A date, date-time, time of day or duration. `serial` is days since 1899-12-30
    /// (the 1900 date system; readers convert 1904-system serials by adding 1462), or for a
    /// duration simply a number of days.
    case temporal(TemporalKind, serial: Double)

    public var isEmpty: Bool { if case .empty = self { return true } else { return false } }
}

/// A cell's position, 0-based (row 0, column 0 is A1).
public struct CellRef: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var row: Int
    public var column: Int
    public init(row: Int, column: Int) { self.row = row; self.column = column }

    /// Excel's limits: 1,048,576 rows, 16,384 columns (A..XFD).
    public static let maxRows = 1_048_576
    public static let maxColumns = 16_384

    public static func < (a: CellRef, b: CellRef) -> Bool {
        a.row != b.row ? a.row < b.row : a.column < b.column
    }

    /// `A1`, `XFD1048576`.
    public var description: String { A1.columnName(column) + String(row + 1) }
}

/// A rectangular range, inclusive at both ends, 0-based.
public struct CellRange: Sendable, Hashable, Codable, CustomStringConvertible {
    public var start: CellRef
    public var end: CellRef
    public init(start: CellRef, end: CellRef) {
        self.start = CellRef(row: min(start.row, end.row), column: min(start.column, end.column))
        self.end = CellRef(row: max(start.row, end.row), column: max(start.column, end.column))
    }
    public init(rows: ClosedRange<Int>, columns: ClosedRange<Int>) {
        self.init(start: CellRef(row: rows.lowerBound, column: columns.lowerBound),
                  end: CellRef(row: rows.upperBound, column: columns.upperBound))
    }
    public var rowCount: Int { end.row - start.row + 1 }
    public var columnCount: Int { end.column - start.column + 1 }
    public func contains(_ ref: CellRef) -> Bool {
        ref.row >= start.row && ref.row <= end.row && ref.column >= start.column && ref.column <= end.column
    }
    /// `B2:D9`, or `B2` for a single cell.
    public var description: String { start == end ? start.description : "\(start):\(end)" }
}

/// A1 notation: parsing and formatting of column letters and references.
public enum A1 {
    /// 0 -> "A", 25 -> "Z", 26 -> "AA", 16383 -> "XFD".
    public static func columnName(_ index: Int) -> String {
        var n = index + 1
        var chars: [UInt8] = []
        while n > 0 {
            let r = (n - 1) % 26
            chars.append(UInt8(65 + r))
            n = (n - 1) / 26
        }
        return String(decoding: chars.reversed(), as: UTF8.self)
    }

    /// "A" -> 0, "xfd" -> 16383; nil when not letters or beyond XFD.
    public static func columnIndex<S: StringProtocol>(_ letters: S) -> Int? {
        var n = 0
        var count = 0
        for u in letters.utf8 {
            let c = u | 0x20  // lower-case
            guard c >= 97 && c <= 122 else { return nil }
            n = n * 26 + Int(c - 96)
            count += 1
            if count > 3 { return nil }
        }
        guard count > 0, n <= CellRef.maxColumns else { return nil }
        return n - 1
    }

    /// "B7", "$B$7" -> CellRef; nil when malformed or outside the sheet's limits.
    public static func parseRef<S: StringProtocol>(_ text: S) -> CellRef? {
        var letters = 0, col = 0, row = 0, digits = 0
        var sawLetters = false
        for u in text.utf8 {
            if u == 36 /* $ */ { continue }
            let l = u | 0x20
            if l >= 97 && l <= 122 {
                guard digits == 0 else { return nil }
                col = col * 26 + Int(l - 96)
                letters += 1
                sawLetters = true
                if letters > 3 { return nil }
            } else if u >= 48 && u <= 57 {
                guard sawLetters else { return nil }
                row = row * 10 + Int(u - 48)
                digits += 1
                if digits > 7 { return nil }
            } else {
                return nil
            }
        }
        guard letters > 0, digits > 0, row >= 1, row <= CellRef.maxRows, col >= 1, col <= CellRef.maxColumns else {
            return nil
        }
        return CellRef(row: row - 1, column: col - 1)
    }

    /// "B2:D9", "B2", "$A$1:$C$3"; a sheet prefix (`Sales!B2:D9`, `'My Sheet'!A1`) is split off.
    public static func parseRange(_ text: String) -> (sheet: String?, range: CellRange)? {
        var sheet: String? = nil
        var body = Substring(text)
        if let bang = text.lastIndex(of: "!") {
            var name = text[..<bang]
            if name.hasPrefix("'") && name.hasSuffix("'") && name.count >= 2 {
                name = name.dropFirst().dropLast()
                sheet = name.replacingOccurrences(of: "''", with: "'")
            } else {
                sheet = String(name)
            }
            body = text[text.index(after: bang)...]
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let a = parseRef(parts[0]) else { return nil }
        let b = parts.count == 2 ? parseRef(parts[1]) : a
        guard let b else { return nil }
        return (sheet, CellRange(start: a, end: b))
    }

    /// `Sales!B2:D9`, quoting the sheet name where Excel would (`'My Sheet'!A1`).
    public static func qualified(sheet: String, range: CellRange) -> String {
        quoteSheet(sheet) + "!" + range.description
    }

    public static func quoteSheet(_ name: String) -> String {
        let plain = !name.isEmpty && name.utf8.allSatisfy { u in
            (u >= 48 && u <= 57) || (u | 0x20 >= 97 && u | 0x20 <= 122) || u == 95 || u == 46 || u >= 0x80
        } && !(name.utf8.first.map { $0 >= 48 && $0 <= 57 } ?? false)
        return plain ? name : "'" + name.replacingOccurrences(of: "'", with: "''") + "'"
    }
}

/// One non-empty cell of a row, as a reader delivers it.
public struct RowCell: Sendable, Hashable {
    public var column: Int
    public var value: CellValue
    /// The formula text (without the leading `=`) when the cell has one.
    public var formula: String?
    /// Why the cell's formula has no text: its tokens did not decode (xls / xlsb). The value
    /// still reads; only this cell's formula is lost.
    public var formulaError: String?
    /// The file's own text when a text-format reader (csv/tsv) typed `value` from a number
    /// written with a point, comma or exponent (`1.200`, `1,234.5`): column typing re-reads it
    /// under the column's decimal convention. Nil otherwise (and for every binary format).
    public var text: String?
    /// For a formula cell saved without a cached value: the date/time kind its number format
    /// (the cell's style) shows, so a computed number comes back as that kind (`=DATE(2024,3,1)`
    /// in a `yyyy-mm-dd` cell is a date, as Excel displays it, not the serial 45352). Nil
    /// otherwise: a cell with a value already has it applied.
    public var numberFormatKind: TemporalKind?
    /// The currency the cell's number format shows (xlsx), as an internal currency key + 1;
    /// 0 for none. Column typing notes a column whose numbers show several currencies.
    public var formatCurrency: UInt8 = 0
    public init(column: Int, value: CellValue, formula: String? = nil, text: String? = nil, formulaError: String? = nil,
                numberFormatKind: TemporalKind? = nil) {
        self.column = column; self.value = value; self.formula = formula; self.text = text; self.formulaError = formulaError
        self.numberFormatKind = numberFormatKind
    }
}

/// A row as delivered to a visitor: its 0-based index and its non-empty cells, by column.
public struct SheetRow: Sendable {
    public var index: Int
    public var cells: [RowCell]
    public init(index: Int, cells: [RowCell]) { self.index = index; self.cells = cells }
}

public enum SheetVisibility: String, Sendable, Hashable, Codable {
    case visible, hidden, veryHidden
}

public enum SheetKind: String, Sendable, Hashable, Codable {
    case worksheet, chartsheet, macrosheet, dialogsheet
}

public struct SheetInfo: Sendable, Hashable, Codable {
    public var name: String
    public var index: Int
    public var visibility: SheetVisibility
    public var kind: SheetKind
    public init(name: String, index: Int, visibility: SheetVisibility = .visible, kind: SheetKind = .worksheet) {
        self.name = name; self.index = index; self.visibility = visibility; self.kind = kind
    }
}

/// A workbook- or sheet-scoped defined name (`Totals` -> `Sheet1!$B$2:$B$9`).
public struct DefinedName: Sendable, Hashable, Codable {
    public var name: String
    public var refersTo: String
    /// The index of the sheet it is local to; nil for workbook scope.
    public var localSheet: Int?
    public var hidden: Bool
    public init(name: String, refersTo: String, localSheet: Int? = nil, hidden: Bool = false) {
        self.name = name; self.refersTo = refersTo; self.localSheet = localSheet; self.hidden = hidden
    }
}

/// An Excel table (ListObject) as the file declares it: `xl/tables/tableN.xml` (OOXML
/// §18.5.1.2 `table`) or, in xlsb, a BrtBeginList record ([MS-XLSB] 2.4.313).
public struct DeclaredTable: Sendable, Hashable {
    public var name: String
    public var sheet: String
    /// The whole table: header row(s), data rows and totals row(s) (`ref`).
    public var range: CellRange
    public var headerRowCount: Int
    /// Totals rows at the bottom of `range` (`totalsRowCount`; 0 when the table shows none).
    /// They are never data; their cells stay readable through `workbook/read`.
    public var totalsRowCount: Int
    public var columnNames: [String]
    public init(name: String, sheet: String, range: CellRange, headerRowCount: Int, totalsRowCount: Int = 0, columnNames: [String]) {
        self.name = name; self.sheet = sheet; self.range = range
        self.headerRowCount = headerRowCount; self.totalsRowCount = totalsRowCount; self.columnNames = columnNames
    }
}

/// A table part (ListObject) that could not be read as the file states it.
public struct TableProblem: Sendable, Hashable {
    public var sheet: String
    public var message: String
    public init(sheet: String, message: String) { self.sheet = sheet; self.message = message }
}

/// What reading one sheet's cells found besides the cells.
public struct SheetSummary: Sendable, Hashable, Codable {
    /// The range actually holding non-empty cells (never the file's claimed dimension).
    public var usedRange: CellRange?
    public var mergedRanges: [CellRange]
    public var cellCount: Int
    public init(usedRange: CellRange? = nil, mergedRanges: [CellRange] = [], cellCount: Int = 0) {
        self.usedRange = usedRange; self.mergedRanges = mergedRanges; self.cellCount = cellCount
    }
}

/// The formats the engine reads: the one list. The server's `initialize` result lists them
/// (`capabilities.formats`), and the clients (VS Code, Neovim, Jupyter, MCP's tool text, the
/// command line's help) take them from there or from here, not from a list of their own.
public enum WorkbookFormat: String, Sendable, Hashable, Codable, CaseIterable {
    case xlsx, xlsm, xls, csv, tsv, ods, xlsb

    /// `xlsx, xlsm, xls, csv, tsv, ods, xlsb`, for messages and help.
    public static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

// MARK: - Inferred tables: what the index loads and `workbook/open` reports

/// The type of an inferred column, decided over all its data cells (ColumnTyping.swift).
/// In SQL: integer and boolean (1/0) are INTEGER; real and duration (seconds) are REAL; text,
/// date (`2024-03-01`), datetime (`2024-03-01T12:30:00`) and time (`12:30:00`) are TEXT.
public enum ColumnType: String, Sendable, Hashable, Codable {
    case integer, real, text, date, datetime, time, duration, boolean
}

public struct TableColumn: Sendable, Hashable, Codable {
    /// Unique within the table, usable as an SQL column name (quoted).
    public var name: String
    /// The header text as the sheet shows it (multi-row headers joined).
    public var header: String
    public var type: ColumnType
    /// The sheet column (0-based) this column comes from.
    public var sourceColumn: Int
    /// How the column's cells become typed values: the rule, the NULLed values, a profile.
    public var typing: ColumnTyping
    public init(name: String, header: String, type: ColumnType, sourceColumn: Int, typing: ColumnTyping? = nil) {
        self.name = name; self.header = header; self.type = type; self.sourceColumn = sourceColumn
        self.typing = typing ?? .plain(type)
    }
}

/// Where a table's boundaries come from.
public enum TableSource: String, Sendable, Hashable, Codable {
    /// An Excel table (ListObject) declared in the file: its range, header and totals rows are used as given.
    case listObject
    /// A block of cells recognised on the sheet (see `TableInferrer` and `BlockSegmenter`).
    case inferred
}

/// A row inside a table's data range that is not data.
public struct ExcludedRow: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// A ListObject's totals row (`totalsRowCount`).
        case totalsRow
        /// A row labelled Total, Grand total, Subtotal, Sum, Σ, Gesamt, Total général, ..., or
        /// whose numbers are SUBTOTAL/SUM formulas over the rows above, or (labelled "Total
        /// North" or not labelled) whose numbers are the sum of the rows above.
        case total
        /// A row of Average / Mean / Max / Min / Count / Median ... (by its label, or by an
        /// AVERAGE/MAX/MIN/COUNT/... formula over the rows above in its column).
        case aggregate
        /// A repeat of the table's header row (page-break exports).
        case repeatedHeader
        /// A footnote under the table ("Source: ...", "* preliminary"): one text cell after a
        /// blank row, or right after another note.
        case note
    }
    /// 0-based sheet row.
    public var row: Int
    public var kind: Kind
    /// The label or formula that decided it (`Grand total`, `=SUM(B2:B9)`, `Average`), and
    /// what backed it when the label alone would not (`no label; equals the sum of the 3 rows
    /// above`), for the outline.
    public var evidence: String
    public init(row: Int, kind: Kind, evidence: String) { self.row = row; self.kind = kind; self.evidence = evidence }
}

/// One SQL table of a table too wide for one: every part has `_row` (the sheet row) and a run
/// of the table's columns, so parts join on `_row`.
public struct TablePart: Sendable, Hashable, Codable {
    /// The SQL table name of this part (the first part keeps the table's name).
    public var name: String
    /// Indices into `InferredTable.columns`.
    public var columns: Range<Int>
    public init(name: String, columns: Range<Int>) { self.name = name; self.columns = columns }
}

/// A table found on a sheet (declared in the file as a ListObject, or inferred).
public struct InferredTable: Sendable, Hashable, Codable {
    /// SQLite allows 2,000 columns per table (SQLITE_MAX_COLUMN's default); `_row` takes one.
    public static let maxSQLColumns = 1999

    /// Unique within the workbook; the SQL table name (of its first part, too).
    public var name: String { didSet { if !parts.isEmpty { parts[0].name = name } } }
    public var sheet: String
    /// The header row(s); nil when the sheet has no header and columns are named by letter.
    public var headerRange: CellRange?
    /// The data rows below the header; nil when there are none. Rows in `excludedRows` lie
    /// inside it but are not data.
    public var dataRange: CellRange?
    public var columns: [TableColumn]
    public var source: TableSource
    /// Totals, subtotals and repeated headers inside the data range, by row (ascending).
    public var excludedRows: [ExcludedRow]
    /// The SQL tables holding the columns: one part (named `name`) unless the table has more
    /// than `maxSQLColumns` columns, then `name`, `name_part2`, ... sharing `_row`.
    public var parts: [TablePart]
    /// Merged cells in the data area spanning two rows or more, each as the column of its
    /// top-left cell over the merge's data rows: the loader gives every row of it the top-left
    /// cell's value (a merged "North" over A2:A4 means North for rows 2-4, as a reader of the
    /// sheet and pandas' `ffill` take it; the file stores it in A2 only).
    public var filledMerges: [CellRange] = []
    public init(name: String, sheet: String, headerRange: CellRange?, dataRange: CellRange?, columns: [TableColumn],
                source: TableSource = .inferred, excludedRows: [ExcludedRow] = [], parts: [TablePart]? = nil) {
        self.name = name; self.sheet = sheet; self.headerRange = headerRange
        self.dataRange = dataRange; self.columns = columns
        self.source = source; self.excludedRows = excludedRows
        var unused = Set<String>()
        self.parts = parts ?? Self.splitParts(name: name, columnCount: columns.count, usedNames: &unused)
    }

    /// Whether sheet row `row` (0-based) is one of the table's data rows.
    public func isDataRow(_ row: Int) -> Bool {
        guard let d = dataRange, row >= d.start.row, row <= d.end.row else { return false }
        return !isExcluded(row)
    }

    /// Whether `row` is a flagged total, subtotal, totals row or repeated header.
    public func isExcluded(_ row: Int) -> Bool {
        var lo = 0, hi = excludedRows.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if excludedRows[mid].row < row { lo = mid + 1 } else { hi = mid }
        }
        return lo < excludedRows.count && excludedRows[lo].row == row
    }

    /// The table's columns split into SQL parts of at most `maxSQLColumns`; names after the
    /// first are `name_part2`, `name_part3`, ..., made unique in `usedNames` (lower-cased).
    static func splitParts(name: String, columnCount: Int, usedNames: inout Set<String>) -> [TablePart] {
        guard columnCount > maxSQLColumns else { return [TablePart(name: name, columns: 0..<columnCount)] }
        var out: [TablePart] = []
        var start = 0
        while start < columnCount {
            let end = min(columnCount, start + maxSQLColumns)
            let suffix = "_part\(out.count + 1)"
            let partName = out.isEmpty ? name
                : TableInferrer.unique(SQLIdentifier.clipped(name, to: SQLIdentifier.maxBytes - suffix.utf8.count) + suffix, in: &usedNames)
            out.append(TablePart(name: partName, columns: start..<end))
            start = end
        }
        return out
    }
}

public struct SheetOutline: Sendable, Hashable, Codable {
    public var info: SheetInfo
    public var summary: SheetSummary
    /// The sheet's tables, top to bottom and left to right (ListObjects when the sheet declares
    /// any; otherwise the blocks recognised on it). Empty when none was recognised.
    public var tables: [InferredTable]
    /// What could not be used as the file states it (a table part outside its sheet, overlapping
    /// tables, a totals row count larger than its table), in words.
    public var warnings: [String]
    public init(info: SheetInfo, summary: SheetSummary, tables: [InferredTable], warnings: [String] = []) {
        self.info = info; self.summary = summary; self.tables = tables; self.warnings = warnings
    }
    /// A sheet with at most one table.
    public init(info: SheetInfo, summary: SheetSummary, table: InferredTable?) {
        self.init(info: info, summary: summary, tables: table.map { [$0] } ?? [])
    }
    /// The sheet's first table; for callers that look at one table per sheet.
    public var table: InferredTable? {
        get { tables.first }
        set {
            if let t = newValue { if tables.isEmpty { tables = [t] } else { tables[0] = t } } else { tables = [] }
        }
    }
    public var rowCount: Int { summary.usedRange?.rowCount ?? 0 }
    public var columnCount: Int { summary.usedRange?.columnCount ?? 0 }
}

/// Everything `workbook/open` reports, computed by streaming every sheet once.
public struct WorkbookOutline: Sendable, Hashable, Codable {
    public var path: String
    public var format: WorkbookFormat
    /// SHA-256 of the file's bytes, hex; the identity of this version of the file.
    public var contentHash: String
    public var sheets: [SheetOutline]
    public var definedNames: [DefinedName]
    /// Formula cells saved without a cached value: how many xlchat computed, how many it could
    /// not (and why), how many are volatile (TODAY/NOW). nil when the reader does not evaluate.
    public var formulas: FormulaEvaluationStats?
    public init(path: String, format: WorkbookFormat, contentHash: String, sheets: [SheetOutline], definedNames: [DefinedName],
                formulas: FormulaEvaluationStats? = nil) {
        self.path = path; self.format = format; self.contentHash = contentHash
        self.sheets = sheets; self.definedNames = definedNames; self.formulas = formulas
    }
}

/// The longest SQL name (table or column) xlchat gives: PostgreSQL keeps identifiers to
/// NAMEDATALEN - 1 = 63 bytes and silently truncates longer ones (PostgreSQL documentation,
/// "Identifiers and Key Words"), so a longer name would read another column there
/// (`Revenue in GBP for the fiscal year … (EUR)` and `… (GBP)` cut to the same 63 bytes).
/// SQLite has no limit; names are the same in every store.
public enum SQLIdentifier {
    public static let maxBytes = 63

    /// `name` cut on a character boundary to at most `bytes` UTF-8 bytes.
    public static func clipped(_ name: String, to bytes: Int = maxBytes) -> String {
        guard name.utf8.count > bytes else { return name }
        var out = Substring(name)
        while out.utf8.count > bytes { out = out.dropLast() }
        return String(out)
    }
}
