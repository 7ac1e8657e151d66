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
public struct CellRef: Sendable, Hashable, Comparable, CustomStringConvertible {
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
public struct CellRange: Sendable, Hashable, CustomStringConvertible {
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
    /// The file's own text when a text-format reader (csv/tsv) typed `value` from a number
    /// written with a point, comma or exponent (`1.200`, `1,234.5`): column typing re-reads it
    /// under the column's decimal convention. Nil otherwise (and for every binary format).
    public var text: String?
    /// For a formula cell saved without a cached value: the date/time kind its number format
    /// (the cell's style) shows, so a computed number comes back as that kind (`=DATE(2024,3,1)`
    /// in a `yyyy-mm-dd` cell is a date, as Excel displays it, not the serial 45352). Nil
    /// otherwise: a cell with a value already has it applied.
    public var numberFormatKind: TemporalKind?
    public init(column: Int, value: CellValue, formula: String? = nil, text: String? = nil, numberFormatKind: TemporalKind? = nil) {
        self.column = column; self.value = value; self.formula = formula; self.text = text; self.numberFormatKind = numberFormatKind
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

public struct SheetInfo: Sendable, Hashable {
    public var name: String
    public var index: Int
    public var visibility: SheetVisibility
    public var kind: SheetKind
    public init(name: String, index: Int, visibility: SheetVisibility = .visible, kind: SheetKind = .worksheet) {
        self.name = name; self.index = index; self.visibility = visibility; self.kind = kind
    }
}

/// A workbook- or sheet-scoped defined name (`Totals` -> `Sheet1!$B$2:$B$9`).
public struct DefinedName: Sendable, Hashable {
    public var name: String
    public var refersTo: String
    /// The index of the sheet it is local to; nil for workbook scope.
    public var localSheet: Int?
    public var hidden: Bool
    public init(name: String, refersTo: String, localSheet: Int? = nil, hidden: Bool = false) {
        self.name = name; self.refersTo = refersTo; self.localSheet = localSheet; self.hidden = hidden
    }
}

/// An Excel table (ListObject) as the file declares it.
public struct DeclaredTable: Sendable, Hashable {
    public var name: String
    public var sheet: String
    public var range: CellRange
    public var headerRowCount: Int
    public var columnNames: [String]
    public init(name: String, sheet: String, range: CellRange, headerRowCount: Int, columnNames: [String]) {
        self.name = name; self.sheet = sheet; self.range = range
        self.headerRowCount = headerRowCount; self.columnNames = columnNames
    }
}

/// What reading one sheet's cells found besides the cells.
public struct SheetSummary: Sendable, Hashable {
    /// The range actually holding non-empty cells (never the file's claimed dimension).
    public var usedRange: CellRange?
    public var mergedRanges: [CellRange]
    public var cellCount: Int
    public init(usedRange: CellRange? = nil, mergedRanges: [CellRange] = [], cellCount: Int = 0) {
        self.usedRange = usedRange; self.mergedRanges = mergedRanges; self.cellCount = cellCount
    }
}

public enum WorkbookFormat: String, Sendable, Hashable, Codable {
    case xlsx, xlsm, xls, csv, tsv, ods, xlsb
}

// MARK: - Inferred tables: what the index loads and `workbook/open` reports

/// The type of an inferred column, decided over all its data cells (ColumnTyping.swift).
/// In SQL: integer and boolean (1/0) are INTEGER; real and duration (seconds) are REAL; text,
/// date (`2024-03-01`), datetime (`2024-03-01T12:30:00`) and time (`12:30:00`) are TEXT.
public enum ColumnType: String, Sendable, Hashable, Codable {
    case integer, real, text, date, datetime, time, duration, boolean
}

public struct TableColumn: Sendable, Hashable {
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

/// The table inferred on a sheet (or declared in the file as a ListObject).
public struct InferredTable: Sendable, Hashable {
    /// Unique within the workbook; the SQL table name.
    public var name: String
    public var sheet: String
    /// The header row(s); nil when the sheet has no header and columns are named by letter.
    public var headerRange: CellRange?
    /// The data rows below the header; nil when there are none.
    public var dataRange: CellRange?
    public var columns: [TableColumn]
    public init(name: String, sheet: String, headerRange: CellRange?, dataRange: CellRange?, columns: [TableColumn]) {
        self.name = name; self.sheet = sheet; self.headerRange = headerRange
        self.dataRange = dataRange; self.columns = columns
    }
}

public struct SheetOutline: Sendable, Hashable {
    public var info: SheetInfo
    public var summary: SheetSummary
    public var table: InferredTable?
    public init(info: SheetInfo, summary: SheetSummary, table: InferredTable?) {
        self.info = info; self.summary = summary; self.table = table
    }
    public var rowCount: Int { summary.usedRange?.rowCount ?? 0 }
    public var columnCount: Int { summary.usedRange?.columnCount ?? 0 }
}

/// Everything `workbook/open` reports, computed by streaming every sheet once.
public struct WorkbookOutline: Sendable, Hashable {
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
