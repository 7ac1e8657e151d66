/// `workbook/open`: read a workbook's outline. Give `path`, or (for an unsaved buffer) `text`
/// with `format` (`csv` or `tsv`) and a display `name`.
public struct WorkbookOpenRequest: RequestType, Hashable {
    public static let method = "workbook/open"
    public typealias Response = WorkbookOpenResult
    public var path: String?
    public var text: String?
    public var format: String?
    public var name: String?
    public var workDoneToken: ProgressToken?
    public init(path: String? = nil, text: String? = nil, format: String? = nil, name: String? = nil, workDoneToken: ProgressToken? = nil) {
        self.path = path; self.text = text; self.format = format; self.name = name; self.workDoneToken = workDoneToken
    }
}

public struct ColumnDescription: Codable, Sendable, Hashable {
    /// The SQL column name (unique in its table).
    public var name: String
    /// The header text as the sheet shows it.
    public var header: String
    /// integer, real, text, date, datetime, time, duration (seconds) or boolean (1/0).
    public var type: String
    /// The sheet column letter it comes from (`B`).
    public var column: String
    /// The typing rule applied, e.g. `currency USD ($), thousands ','; placeholders → NULL (2: n/a, -)`,
    /// `code: leading zeros kept as text`, `duration, seconds`, `text: no rule fits cleanly (…)`.
    public var rule: String
    /// Non-empty cells that are NULL in the typed column (placeholders, error cells, values
    /// that did not fit the type); `workbook/read` still shows them as the file has them.
    public var nulled: Int
    /// Up to 3 of those cells' texts.
    public var nulledExamples: [String]
    public var profile: ColumnProfileDescription
    public init(name: String, header: String, type: String, column: String, rule: String = "", nulled: Int = 0,
                nulledExamples: [String] = [], profile: ColumnProfileDescription = ColumnProfileDescription()) {
        self.name = name; self.header = header; self.type = type; self.column = column
        self.rule = rule; self.nulled = nulled; self.nulledExamples = nulledExamples; self.profile = profile
    }
}

/// A short profile of a typed column.
public struct ColumnProfileDescription: Codable, Sendable, Hashable {
    /// Values that are not NULL in the typed column.
    public var values: Int
    /// The distinct values of a text column with at most 20 of them, most frequent first.
    public var distinct: [String]?
    /// Smallest and largest value of a number (number), date/time (ISO text) or duration
    /// (seconds) column.
    public var min: JSONValue?
    public var max: JSONValue?
    public init(values: Int = 0, distinct: [String]? = nil, min: JSONValue? = nil, max: JSONValue? = nil) {
        self.values = values; self.distinct = distinct; self.min = min; self.max = max
    }
}

/// A row inside a table's data range that is not data (and stays readable as cells).
public struct ExcludedRowDescription: Codable, Sendable, Hashable {
    /// The sheet row, 1-based (as `_row` and A1 references count).
    public var row: Int
    /// `totalsRow` (a ListObject's totals row), `total` (a total or subtotal row),
    /// `aggregate` (an Average/Max/Min/Count/... row), `repeatedHeader`, or `note` (a footnote
    /// under the table).
    public var kind: String
    /// The label or formula that decided it, e.g. `Grand total` or `=SUBTOTAL(109,[Amount])`.
    public var evidence: String
    public init(row: Int, kind: String, evidence: String) { self.row = row; self.kind = kind; self.evidence = evidence }
}

/// One SQL table of a table wider than SQLite allows (1,999 columns besides `_row`).
public struct TablePartDescription: Codable, Sendable, Hashable {
    /// The SQL table name of the part (the first part has the table's name).
    public var name: String
    /// The sheet columns it holds, e.g. `A:BXW`.
    public var columns: String
    public init(name: String, columns: String) { self.name = name; self.columns = columns }
}

public struct TableDescription: Codable, Sendable, Hashable {
    /// The SQL table name `workbook/query` uses.
    public var name: String
    /// `listObject` (an Excel table declared in the file, used as declared) or `inferred`.
    public var source: String
    /// The header row(s), e.g. `A3:F3`; null when the sheet has no header row.
    public var headerRange: String?
    /// The data rows, e.g. `A4:F120`; null when there are none. Rows listed in `excludedRows`
    /// lie inside it but are not data.
    public var dataRange: String?
    public var columns: [ColumnDescription]
    /// Totals rows, total/subtotal rows and repeated header rows: kept out of the SQL table.
    public var excludedRows: [ExcludedRowDescription]
    /// The SQL tables holding the columns: one (named `name`) unless the table has more than
    /// 1,999 columns, then `name`, `name_part2`, ..., each with `_row`, joined on `_row`.
    public var parts: [TablePartDescription]
    public init(name: String, source: String = "inferred", headerRange: String?, dataRange: String?, columns: [ColumnDescription],
                excludedRows: [ExcludedRowDescription] = [], parts: [TablePartDescription] = []) {
        self.name = name; self.source = source; self.headerRange = headerRange; self.dataRange = dataRange; self.columns = columns
        self.excludedRows = excludedRows; self.parts = parts
    }
}

public struct SheetDescription: Codable, Sendable, Hashable {
    public var name: String
    public var index: Int
    public var hidden: Bool
    /// visible, hidden or veryHidden.
    public var visibility: String
    /// worksheet, chartsheet, macrosheet or dialogsheet.
    public var kind: String
    /// The used range (`A1:F120`); null when the sheet is empty.
    public var range: String?
    public var rows: Int
    public var columns: Int
    public var mergedRanges: [String]
    /// The sheet's first table (the same as `tables[0]`); kept for clients that read one table per sheet.
    public var table: TableDescription?
    /// Every table on the sheet, top to bottom, left to right: its ListObjects when it declares
    /// any, else the blocks recognised on it (stacked, side by side).
    public var tables: [TableDescription]
    /// What could not be used as the file states it (a table part outside its sheet,
    /// overlapping tables, a totals row count larger than its table) and how wide tables were
    /// split; empty when nothing is to be said.
    public var warnings: [String]
    public init(name: String, index: Int, hidden: Bool, visibility: String, kind: String, range: String?, rows: Int,
                columns: Int, mergedRanges: [String], tables: [TableDescription], warnings: [String] = []) {
        self.name = name; self.index = index; self.hidden = hidden; self.visibility = visibility; self.kind = kind
        self.range = range; self.rows = rows; self.columns = columns; self.mergedRanges = mergedRanges
        self.table = tables.first; self.tables = tables; self.warnings = warnings
    }
}

public struct DefinedNameDescription: Codable, Sendable, Hashable {
    public var name: String
    public var refersTo: String
    /// The sheet it is local to; null for workbook scope.
    public var sheet: String?
    public init(name: String, refersTo: String, sheet: String?) { self.name = name; self.refersTo = refersTo; self.sheet = sheet }
}

public struct WorkbookOpenResult: Codable, Sendable, Hashable {
    public var workbookId: String
    public var path: String
    public var format: String
    /// SHA-256 of the file's bytes: the version of the file this outline describes.
    public var contentHash: String
    public var sheets: [SheetDescription]
    public var definedNames: [DefinedNameDescription]
    /// Formula cells the file saved without a cached value; absent when there are none.
    public var formulas: FormulaSummary?
    public init(workbookId: String, path: String, format: String, contentHash: String, sheets: [SheetDescription],
                definedNames: [DefinedNameDescription], formulas: FormulaSummary? = nil) {
        self.workbookId = workbookId; self.path = path; self.format = format; self.contentHash = contentHash
        self.sheets = sheets; self.definedNames = definedNames; self.formulas = formulas
    }
}

/// What xlchat did with formula cells saved without a cached value (a cached value, what Excel
/// saved, is always used as is).
public struct FormulaSummary: Codable, Sendable, Hashable {
    /// Cells whose value xlchat computed.
    public var computed: Int
    /// Cells it could not compute (unknown function, circular or external reference, text that
    /// does not parse, budget); their value is an error such as `#NAME?` or `#CIRCULAR!`.
    public var notComputed: Int
    /// Computed cells using TODAY/NOW: their value is the time of opening.
    public var volatile: Int
    /// The first cells not computed, with the reason.
    public var problems: [FormulaProblemDescription]
    public init(computed: Int, notComputed: Int, volatile: Int, problems: [FormulaProblemDescription]) {
        self.computed = computed; self.notComputed = notComputed; self.volatile = volatile; self.problems = problems
    }
}

public struct FormulaProblemDescription: Codable, Sendable, Hashable {
    /// `Sheet1!D7`.
    public var cell: String
    public var formula: String
    public var reason: String
    public init(cell: String, formula: String, reason: String) { self.cell = cell; self.formula = formula; self.reason = reason }
}

/// `workbook/trace`: how a cell is computed — its formula and value, its precedents (cells,
/// ranges, names; across sheets) to `depth` levels, and the cells that use it.
public struct WorkbookTraceRequest: RequestType, Hashable {
    public static let method = "workbook/trace"
    public typealias Response = WorkbookTraceResult
    public var workbookId: String
    public var sheet: String
    /// The cell, `F20` (a `Sheet!` prefix naming the same sheet is allowed).
    public var cell: String
    /// Levels of precedents (default 3, at most 10).
    public var depth: Int?
    public init(workbookId: String, sheet: String, cell: String, depth: Int? = nil) {
        self.workbookId = workbookId; self.sheet = sheet; self.cell = cell; self.depth = depth
    }
}

public struct TraceEntry: Codable, Sendable, Hashable {
    /// cell, range or name.
    public var kind: String
    /// `Sheet1!F20`, `Sheet1!B2:B19`; for a name, what it refers to.
    public var ref: String
    /// The defined name, for kind `name`.
    public var name: String?
    /// The formula without `=`; null for a constant cell, a range or a name.
    public var formula: String?
    /// The cell's value (as `workbook/read` writes cells); null for ranges and names.
    public var value: JSONValue?
    /// True when the file had no cached value and xlchat computed it.
    public var computed: Bool
    public var precedents: [TraceEntry]
    /// More precedents exist past the depth or the reply's budget.
    public var truncated: Bool
    /// OFFSET / INDIRECT in the formula: precedents only known by evaluating.
    public var dynamic: [String]
    public init(kind: String, ref: String, name: String?, formula: String?, value: JSONValue?, computed: Bool,
                precedents: [TraceEntry], truncated: Bool, dynamic: [String]) {
        self.kind = kind; self.ref = ref; self.name = name; self.formula = formula; self.value = value
        self.computed = computed; self.precedents = precedents; self.truncated = truncated; self.dynamic = dynamic
    }
}

public struct WorkbookTraceResult: Codable, Sendable, Hashable {
    /// The traced cell, with its precedents as a tree.
    public var cell: TraceEntry
    /// Formula cells that use the cell (directly, through a range or a name).
    public var dependents: [TraceEntry]
    public var dependentsTruncated: Bool
    public init(cell: TraceEntry, dependents: [TraceEntry], dependentsTruncated: Bool) {
        self.cell = cell; self.dependents = dependents; self.dependentsTruncated = dependentsTruncated
    }
}

/// `workbook/read`: cells of a range (the used range when none is given), row by row.
public struct WorkbookReadRequest: RequestType, Hashable {
    public static let method = "workbook/read"
    public typealias Response = WorkbookReadResult
    public var workbookId: String
    public var sheet: String
    public var range: String?
    /// At most this many rows (default 1,000; at most 100,000).
    public var limit: Int?
    /// When true, each formula cell comes back as `{"value": ..., "formula": "=..."}` (see
    /// `WorkbookReadResult.rows`). Default false: the reply is the same as without the flag.
    public var formulas: Bool?
    public init(workbookId: String, sheet: String, range: String? = nil, limit: Int? = nil, formulas: Bool? = nil) {
        self.workbookId = workbookId; self.sheet = sheet; self.range = range; self.limit = limit; self.formulas = formulas
    }
}

public struct WorkbookReadResult: Codable, Sendable, Hashable {
    public var sheet: String
    /// The range the rows cover (narrowed to the rows returned when truncated); null for an empty sheet.
    public var range: String?
    /// Each cell: number, string, boolean, null (empty), ISO text for temporal cells, or {"error": "#N/A"}.
    /// With `formulas: true`, a formula cell is `{"value": <that cell>, "formula": "=A1*2"}` (the
    /// text as Excel shows it, with its leading `=`); when the file's formula could not be decoded,
    /// `{"value": ..., "formula": null, "formulaError": "why"}`.
    public var rows: [[JSONValue]]
    public var truncated: Bool
    public init(sheet: String, range: String?, rows: [[JSONValue]], truncated: Bool) {
        self.sheet = sheet; self.range = range; self.rows = rows; self.truncated = truncated
    }
}

public struct WorkbookCloseRequest: RequestType, Hashable {
    public static let method = "workbook/close"
    public typealias Response = VoidResponse
    public var workbookId: String
    public init(workbookId: String) { self.workbookId = workbookId }
}
