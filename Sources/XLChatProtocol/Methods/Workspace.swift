/// `workspace/open`: every supported workbook under a folder, opened and indexed into one SQL
/// namespace, and watched for changes (`workspace/didChange`). Hidden entries, Excel's `~$`
/// owner files, LibreOffice's lock files and the data directory are skipped; `include` /
/// `exclude` are globs on the path relative to the folder (`*.csv`, `2024/*`).
public struct WorkspaceOpenRequest: RequestType, Hashable {
    public static let method = "workspace/open"
    public typealias Response = WorkspaceOpenResult
    public var path: String
    public var include: [String]?
    public var exclude: [String]?
    public var workDoneToken: ProgressToken?
    public init(path: String, include: [String]? = nil, exclude: [String]? = nil, workDoneToken: ProgressToken? = nil) {
        self.path = path; self.include = include; self.exclude = exclude; self.workDoneToken = workDoneToken
    }
}

/// One file of a workspace.
public struct WorkspaceWorkbook: Codable, Sendable, Hashable {
    /// The path relative to the workspace folder.
    public var path: String
    /// `ready` (its tables are in the namespace) or `error`.
    public var status: String
    /// Its tables' workspace names.
    public var tables: [String]
    /// The error kind (`corruptWorkbook`, `encryptedWorkbook`, `tooLarge`, …) and message.
    public var errorKind: String?
    public var error: String?
    public init(path: String, status: String, tables: [String], errorKind: String? = nil, error: String? = nil) {
        self.path = path; self.status = status; self.tables = tables; self.errorKind = errorKind; self.error = error
    }
}

/// A table of the workspace's namespace.
public struct WorkspaceTableDescription: Codable, Sendable, Hashable {
    /// The SQL name (`sales_2024__orders`): from the file and the table, unique in the workspace.
    public var name: String
    public var file: String
    public var sheet: String
    /// The table's name inside its workbook (`workbook/open`'s name).
    public var table: String
    public var columns: [String]
    public var rows: Int
    public init(name: String, file: String, sheet: String, table: String, columns: [String], rows: Int) {
        self.name = name; self.file = file; self.sheet = sheet; self.table = table; self.columns = columns; self.rows = rows
    }
}

/// A view over tables with the same columns in several files, with a `_file` column first.
public struct WorkspaceUnionDescription: Codable, Sendable, Hashable {
    public var name: String
    public var members: [String]
    public var columns: [String]
    public init(name: String, members: [String], columns: [String]) { self.name = name; self.members = members; self.columns = columns }
}

/// An entry of the folder that was not taken (a symlink loop, an unreadable subfolder).
public struct WorkspaceProblemDescription: Codable, Sendable, Hashable {
    public var path: String
    public var message: String
    public init(path: String, message: String) { self.path = path; self.message = message }
}

public struct WorkspaceOpenResult: Codable, Sendable, Hashable {
    public var workspaceId: String
    /// The folder, as given.
    public var root: String
    public var workbooks: [WorkspaceWorkbook]
    public var tables: [WorkspaceTableDescription]
    public var unions: [WorkspaceUnionDescription]
    public var problems: [WorkspaceProblemDescription]
    /// Set when the folder held more workbooks than the cap (`XLCHAT_WORKSPACE_MAX_FILES`,
    /// default 10,000): says what was left out and how to go further.
    public var truncated: String?
    /// Files read by this open (0 when the workspace's state was current: a reopen).
    public var filesRead: Int
    /// `inotify`, or `polling` with the reason inotify is not used.
    public var watching: String
    public var durationMs: Double
    public init(workspaceId: String, root: String, workbooks: [WorkspaceWorkbook], tables: [WorkspaceTableDescription],
                unions: [WorkspaceUnionDescription], problems: [WorkspaceProblemDescription], truncated: String?,
                filesRead: Int, watching: String, durationMs: Double) {
        self.workspaceId = workspaceId; self.root = root; self.workbooks = workbooks; self.tables = tables
        self.unions = unions; self.problems = problems; self.truncated = truncated; self.filesRead = filesRead
        self.watching = watching; self.durationMs = durationMs
    }
}

/// `workspace/query`: read-only SQL over every table and union view of the workspace; joins
/// across files work. The same guards and limits as `workbook/query`.
public struct WorkspaceQueryRequest: RequestType, Hashable {
    public static let method = "workspace/query"
    public typealias Response = WorkspaceQueryResult
    public var workspaceId: String
    public var sql: String
    public var limit: Int?
    public var timeoutMs: Int?
    public init(workspaceId: String, sql: String, limit: Int? = nil, timeoutMs: Int? = nil) {
        self.workspaceId = workspaceId; self.sql = sql; self.limit = limit; self.timeoutMs = timeoutMs
    }
}

/// The cells a result row comes from: file, sheet and range.
public struct WorkspaceCitation: Codable, Sendable, Hashable {
    public var file: String
    public var sheet: String
    public var range: String
    public init(file: String, sheet: String, range: String) { self.file = file; self.sheet = sheet; self.range = range }
}

public struct WorkspaceQueryResult: Codable, Sendable, Hashable {
    public var columns: [String]
    public var rows: [[JSONValue]]
    public var truncated: Bool
    /// Per row, its cells when it comes straight from one sheet row of one file; else null.
    public var citations: [WorkspaceCitation?]
    public var durationMs: Double
    /// As `workbook/query`'s: join fan-out and other reasons to doubt the numbers.
    public var warnings: [String]?
    /// Set while files are being re-indexed: the answer is from the last complete state.
    public var stale: String?
    public init(columns: [String], rows: [[JSONValue]], truncated: Bool, citations: [WorkspaceCitation?], durationMs: Double,
                warnings: [String]? = nil, stale: String? = nil) {
        self.columns = columns; self.rows = rows; self.truncated = truncated; self.citations = citations
        self.durationMs = durationMs; self.warnings = warnings; self.stale = stale
    }
}

/// `workspace/search`: text search (FTS5 + vectors) across every ready file of the workspace.
/// Files whose search part is missing get it built first (`$/progress` with `workDoneToken`);
/// hits from all files are merged by reciprocal rank fusion over global ranks.
public struct WorkspaceSearchRequest: RequestType, Hashable {
    public static let method = "workspace/search"
    public typealias Response = WorkspaceSearchResponse
    public var workspaceId: String
    public var query: String
    /// At most this many results (default 10, at most 100).
    public var limit: Int?
    public var workDoneToken: ProgressToken?
    public init(workspaceId: String, query: String, limit: Int? = nil, workDoneToken: ProgressToken? = nil) {
        self.workspaceId = workspaceId; self.query = query; self.limit = limit; self.workDoneToken = workDoneToken
    }
}

/// One hit of `workspace/search`.
public struct WorkspaceSearchItem: Codable, Sendable, Hashable {
    /// The file, relative to the workspace folder.
    public var file: String
    public var sheet: String
    /// The range on that sheet (`B7:F7`).
    public var range: String
    /// The file and qualified range (`sales_2024.xlsx › 'Orders'!B7:F7`).
    public var ref: String
    /// The workspace name of the table holding the range (what `workspace/query` calls it).
    public var table: String?
    public var text: String
    public var score: Double
    /// row, window, sheet, table or column.
    public var kind: String
    public init(file: String, sheet: String, range: String, ref: String, table: String?, text: String, score: Double, kind: String) {
        self.file = file; self.sheet = sheet; self.range = range; self.ref = ref; self.table = table
        self.text = text; self.score = score; self.kind = kind
    }
}

public struct WorkspaceSearchResponse: Codable, Sendable, Hashable {
    public var results: [WorkspaceSearchItem]
    /// Files whose search part was queried.
    public var filesSearched: Int
    /// Files whose search part this request built.
    public var filesBuilt: Int
    /// Files not searched, with why (`corruptWorkbook`, `fileChanged`, …); the rest answered.
    public var skipped: [WorkspaceWorkbook]
    /// Set when the time budget ran out before every file was searched.
    public var truncated: String?
    /// Set when the embedding server was unreachable and the search used keywords only.
    public var fallback: String?
    /// Set while files are being re-indexed: hits are from the last complete state.
    public var stale: String?
    public var durationMs: Double
    public init(results: [WorkspaceSearchItem], filesSearched: Int, filesBuilt: Int, skipped: [WorkspaceWorkbook],
                truncated: String? = nil, fallback: String? = nil, stale: String? = nil, durationMs: Double) {
        self.results = results; self.filesSearched = filesSearched; self.filesBuilt = filesBuilt; self.skipped = skipped
        self.truncated = truncated; self.fallback = fallback; self.stale = stale; self.durationMs = durationMs
    }
}

/// `workspace/close`: stop watching the folder for this session.
public struct WorkspaceCloseRequest: RequestType, Hashable {
    public static let method = "workspace/close"
    public typealias Response = VoidResponse
    public var workspaceId: String
    public init(workspaceId: String) { self.workspaceId = workspaceId }
}

/// `workspace/didChange` (server → client): files were added, changed or removed and the
/// workspace was re-indexed; only those files were read.
public struct WorkspaceDidChangeNotification: NotificationType, Hashable {
    public static let method = "workspace/didChange"
    public var workspaceId: String
    public var added: [String]
    public var changed: [String]
    public var removed: [String]
    /// The files' statuses after the re-index (errors included).
    public var workbooks: [WorkspaceWorkbook]
    public var tables: [WorkspaceTableDescription]
    public var unions: [WorkspaceUnionDescription]
    public init(workspaceId: String, added: [String], changed: [String], removed: [String], workbooks: [WorkspaceWorkbook],
                tables: [WorkspaceTableDescription], unions: [WorkspaceUnionDescription]) {
        self.workspaceId = workspaceId; self.added = added; self.changed = changed; self.removed = removed
        self.workbooks = workbooks; self.tables = tables; self.unions = unions
    }
}
