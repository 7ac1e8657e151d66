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

public struct TableDescription: Codable, Sendable, Hashable {
    /// The SQL table name `workbook/query` uses.
    public var name: String
    /// The header row(s), e.g. `A3:F3`; null when the sheet has no header row.
    public var headerRange: String?
    /// The data rows, e.g. `A4:F120`; null when there are none.
    public var dataRange: String?
    public var columns: [ColumnDescription]
    public init(name: String, headerRange: String?, dataRange: String?, columns: [ColumnDescription]) {
        self.name = name; self.headerRange = headerRange; self.dataRange = dataRange; self.columns = columns
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
    public var table: TableDescription?
    public init(name: String, index: Int, hidden: Bool, visibility: String, kind: String, range: String?, rows: Int,
                columns: Int, mergedRanges: [String], table: TableDescription?) {
        self.name = name; self.index = index; self.hidden = hidden; self.visibility = visibility; self.kind = kind
        self.range = range; self.rows = rows; self.columns = columns; self.mergedRanges = mergedRanges; self.table = table
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
    public init(workbookId: String, path: String, format: String, contentHash: String, sheets: [SheetDescription],
                definedNames: [DefinedNameDescription]) {
        self.workbookId = workbookId; self.path = path; self.format = format; self.contentHash = contentHash
        self.sheets = sheets; self.definedNames = definedNames
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
    public init(workbookId: String, sheet: String, range: String? = nil, limit: Int? = nil) {
        self.workbookId = workbookId; self.sheet = sheet; self.range = range; self.limit = limit
    }
}

public struct WorkbookReadResult: Codable, Sendable, Hashable {
    public var sheet: String
    /// The range the rows cover (narrowed to the rows returned when truncated); null for an empty sheet.
    public var range: String?
    /// Each cell: number, string, boolean, null (empty), ISO text for temporal cells, or {"error": "#N/A"}.
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
