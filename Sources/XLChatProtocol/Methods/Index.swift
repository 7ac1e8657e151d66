/// `workbook/query`: read-only SQL over the workbook's tables (named and typed as
/// `workbook/open` reports, each with `_row`, the sheet row number). Builds the index first if
/// it is not built yet.
public struct WorkbookQueryRequest: RequestType, Hashable {
    public static let method = "workbook/query"
    public typealias Response = WorkbookQueryResult
    public var workbookId: String
    public var sql: String
    /// At most this many rows (default 500, at most 100,000).
    public var limit: Int?
    /// The time budget in milliseconds (default: the server's, 3,000).
    public var timeoutMs: Int?
    public init(workbookId: String, sql: String, limit: Int? = nil, timeoutMs: Int? = nil) {
        self.workbookId = workbookId; self.sql = sql; self.limit = limit; self.timeoutMs = timeoutMs
    }
}

public struct WorkbookQueryResult: Codable, Sendable, Hashable {
    public var columns: [String]
    public var rows: [[JSONValue]]
    public var truncated: Bool
    /// For each row, the cells it comes from (`'Orders 2024'!C7:D7`) when it comes straight
    /// from one sheet row; null for computed rows (aggregates, joins, DISTINCT).
    public var ranges: [String?]
    public var durationMs: Double
    /// Reasons to doubt the numbers, in words; absent when there are none. Today: join
    /// fan-out (a join whose key is not unique on the joined side inflates totals).
    public var warnings: [String]?
    public init(columns: [String], rows: [[JSONValue]], truncated: Bool, ranges: [String?], durationMs: Double, warnings: [String]? = nil) {
        self.columns = columns; self.rows = rows; self.truncated = truncated; self.ranges = ranges; self.durationMs = durationMs
        self.warnings = warnings
    }
}

/// `index/build`: build (or reuse) the workbook's index: typed tables, FTS5 and vectors.
public struct IndexBuildRequest: RequestType, Hashable {
    public static let method = "index/build"
    public typealias Response = IndexBuildResult
    public var workbookId: String
    public var workDoneToken: ProgressToken?
    public var force: Bool?
    public init(workbookId: String, workDoneToken: ProgressToken? = nil, force: Bool? = nil) {
        self.workbookId = workbookId; self.workDoneToken = workDoneToken; self.force = force
    }
}

public struct IndexBuildResult: Codable, Sendable, Hashable {
    public var workbookId: String
    public var chunks: Int
    public var embeddingModel: String
    public var reused: Bool
    public var durationMs: Double
    public init(workbookId: String, chunks: Int, embeddingModel: String, reused: Bool, durationMs: Double) {
        self.workbookId = workbookId; self.chunks = chunks; self.embeddingModel = embeddingModel
        self.reused = reused; self.durationMs = durationMs
    }
}

/// `index/search`: hybrid (BM25 + vector) search over row texts and descriptions. The first
/// search of a workbook version builds its search part (after the typed tables) and waits for it.
public struct IndexSearchRequest: RequestType, Hashable {
    public static let method = "index/search"
    public typealias Response = IndexSearchResult
    public var workbookId: String
    public var query: String
    /// At most this many results (default 10, at most 100).
    public var limit: Int?
    public init(workbookId: String, query: String, limit: Int? = nil) {
        self.workbookId = workbookId; self.query = query; self.limit = limit
    }
}

public struct SearchResultItem: Codable, Sendable, Hashable {
    public var sheet: String
    /// The range on that sheet (`B7:F7`).
    public var range: String
    /// The qualified range (`'Orders 2024'!B7:F7`).
    public var ref: String
    public var text: String
    public var score: Double
    /// row, window, sheet, table or column.
    public var kind: String
    public init(sheet: String, range: String, ref: String, text: String, score: Double, kind: String) {
        self.sheet = sheet; self.range = range; self.ref = ref; self.text = text; self.score = score; self.kind = kind
    }
}

public struct IndexSearchResult: Codable, Sendable, Hashable {
    public var results: [SearchResultItem]
    /// Set when the search fell back to keywords only (FTS5) because the embedding server the
    /// index was built with could not be reached; says why. Absent for a normal search.
    public var fallback: String?
    public init(results: [SearchResultItem], fallback: String? = nil) { self.results = results; self.fallback = fallback }
}

/// `index/status`: whether the workbook's current version is indexed, and how.
public struct IndexStatusRequest: RequestType, Hashable {
    public static let method = "index/status"
    public typealias Response = IndexStatusResult
    public var workbookId: String
    public init(workbookId: String) { self.workbookId = workbookId }
}

public struct IndexedTable: Codable, Sendable, Hashable {
    public var name: String
    public var sheet: String
    public var rows: Int
    public var columns: [String]
    public var omittedColumns: Int
    public init(name: String, sheet: String, rows: Int, columns: [String], omittedColumns: Int) {
        self.name = name; self.sheet = sheet; self.rows = rows; self.columns = columns; self.omittedColumns = omittedColumns
    }
}

public struct IndexStatusResult: Codable, Sendable, Hashable {
    public var workbookId: String
    public var contentHash: String
    public var built: Bool
    /// ISO 8601.
    public var builtAt: String?
    public var chunks: Int
    public var embeddingModel: String?
    public var tables: [IndexedTable]
    /// The typed tables are built: `workbook/query` answers without waiting.
    public var tablesReady: Bool?
    /// The search part (chunks, FTS5, vectors), built after the tables on first search or by
    /// `index/build`: "notBuilt", "building" or "ready".
    public var search: String?
    /// 0...1 while `search` is "building".
    public var searchProgress: Double?
    /// Both index files, in bytes.
    public var bytesOnDisk: Int?
    public init(workbookId: String, contentHash: String, built: Bool, builtAt: String?, chunks: Int,
                embeddingModel: String?, tables: [IndexedTable], tablesReady: Bool? = nil, search: String? = nil,
                searchProgress: Double? = nil, bytesOnDisk: Int? = nil) {
        self.workbookId = workbookId; self.contentHash = contentHash; self.built = built; self.builtAt = builtAt
        self.chunks = chunks; self.embeddingModel = embeddingModel; self.tables = tables
        self.tablesReady = tablesReady; self.search = search; self.searchProgress = searchProgress; self.bytesOnDisk = bytesOnDisk
    }
}
