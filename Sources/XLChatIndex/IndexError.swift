// Errors and result types of the index engine. The server maps `IndexError.Kind` to wire
// error kinds in one place; nothing here knows JSON-RPC.
import Foundation
import XLChatWorkbook

/// Why an index operation failed. `message` is meant for people (and for the model): for
/// `invalidQuery` it is SQLite's own message.
public struct IndexError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// The SQL does not compile, is not a single read-only SELECT, or touches something
        /// the authorizer forbids (writes, ATTACH, PRAGMA, load_extension, VACUUM ...).
        case invalidQuery
        /// The query ran past its time budget and was interrupted.
        case queryTimeout
        /// The workbook is known but its index has not been built (search and query never
        /// build implicitly; call `build` first).
        case indexNotBuilt
        /// No workbook with this content hash was ever registered or built.
        case unknownWorkbook
        /// The embedder failed or returned vectors of the wrong shape.
        case embedderFailed
        /// The data directory or an index file could not be read or written.
        case storage
        /// The disk (or `WorkbookIndex.maxIndexFileBytes`) filled during a build; the previous
        /// index, if any, is still there and served.
        case storageFull
        /// The workbook file changed while it was being read (its identity before and after
        /// the pass differ), twice in a row.
        case fileChanged
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
    public var description: String { "\(kind.rawValue): \(message)" }
}

/// A value in a query result, as SQLite returns it (integers stay integers).
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public var description: String {
        switch self {
        case .null: return "NULL"
        case let .integer(v): return String(v)
        case let .real(v): return String(v)
        case let .text(s): return s
        case let .blob(b): return "<\(b.count) bytes>"
        }
    }
}

/// A sheet range a result row or a search hit comes from, for citations.
public struct SourceRange: Sendable, Hashable, CustomStringConvertible {
    /// The file, relative to its workspace's folder, when the range comes from a workspace of
    /// several files (`sales_2024.xlsx`); nil for the one workbook of a workbook question.
    public var file: String?
    public var sheet: String
    public var range: CellRange
    public init(file: String? = nil, sheet: String, range: CellRange) { self.file = file; self.sheet = sheet; self.range = range }
    /// `Sales!B7:D7`, quoted as Excel would (without the file).
    public var a1: String { A1.qualified(sheet: sheet, range: range) }
    /// `sales_2024.xlsx › 'Orders'!A2:H2` when the range names its file, else `a1`.
    public var label: String { file.map { "\($0) › \(a1)" } ?? a1 }
    public var description: String { label }
}

public struct QueryResult: Sendable, Hashable {
    public var columns: [String]
    public var rows: [[SQLValue]]
    /// More rows existed than `limit`.
    public var truncated: Bool
    /// One entry per row: the sheet cells the row comes from, when it comes straight from one
    /// sheet row (a plain SELECT from one table, no aggregation); nil otherwise.
    public var sourceRanges: [SourceRange?]
    public var durationMs: Double
    /// What the caller should know before trusting the numbers: join fan-out (a join whose
    /// key repeats on the joined side, `JoinFanoutWarning.message`). Empty for most queries.
    public var warnings: [String] = []
    /// The table `sourceRanges` come from, when they come from one (a plain SELECT of one table).
    public var citedTable: String? = nil
}

public struct ProgressUpdate: Sendable, Hashable {
    /// 0...1
    public var fraction: Double
    public var message: String
    public init(fraction: Double, message: String) { self.fraction = fraction; self.message = message }
}

public struct BuildResult: Sendable, Hashable {
    public var chunks: Int
    public var embeddingModel: String
    /// Nothing changed: the existing index was kept and no cell was read.
    public var reused: Bool
    public var durationMs: Double
}

public struct IndexedTableInfo: Sendable, Hashable {
    public var name: String
    public var sheet: String
    public var rows: Int
    public var columns: [String]
    /// Columns left out of the table (always 0: a table wider than SQLite allows is split into
    /// parts, see `InferredTable.parts`).
    public var omittedColumns: Int
}

public struct IndexStatus: Sendable, Hashable {
    public var contentHash: String
    public var built: Bool
    public var builtAt: Date?
    public var chunks: Int
    public var embeddingModel: String?
    public var dimensions: Int
    public var tables: [IndexedTableInfo]
    public var durationMs: Double?
    /// The typed tables are built: SQL can be answered.
    public var tablesReady: Bool
    /// The search file (chunks, FTS5, vectors) is built.
    public var searchReady: Bool
    public var searchDurationMs: Double?
    /// Both index files together, in bytes.
    public var bytesOnDisk: Int64
}

public struct SearchHit: Sendable, Hashable {
    public var sheet: String
    public var range: CellRange
    public var text: String
    /// Reciprocal-rank-fusion score (higher is better).
    public var score: Double
    /// "row", "window", "table", "column" or "sheet".
    public var kind: String
}
