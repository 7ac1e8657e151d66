// The seam between the index and where its typed tables live (issue 15).
//
// `WorkbookIndex` (SQLite files under the data directory) is the default and needs no setup.
// A shared store (PostgreSQL, in the XLChatPostgres module, so the engines stay free of its
// client) is installed with `WorkbookIndex.setSharedStore`: opening a workbook then asks the
// shared store first, builds there (once for the whole team) when it lacks the content hash,
// and runs SQL there. The one-pass load itself stays the SQLite builder's: a shared store
// copies the finished local tables file (`BuiltTablesFile`) into its own tables.
import Foundation
import GRDB
import GRDBSQLite
import XLChatWorkbook

/// The SQL dialect a store runs; what the analyst's sql tool tells the model it writes.
public enum SQLDialect: String, Sendable, Hashable {
    case sqlite = "SQLite"
    case postgresql = "PostgreSQL"
}

/// Where the typed tables of workbook versions (by content hash) are kept and queried.
/// Implementations: `WorkbookIndex` (SQLite, embedded) and `PostgresTableStore` (shared).
public protocol TypedTableStore: AnyObject, Sendable {
    var dialect: SQLDialect { get }
    /// The outline stored with the complete typed tables of `hash` (its `path` as given), or
    /// nil when this store has not built them (or built them under another schema version).
    func builtOutline(hash: String, path: String) throws -> WorkbookOutline?
    /// Builds the typed tables of `hash` unless they are built: one builder per hash across
    /// processes and machines (the others wait, then reuse). `load` runs the one-pass load
    /// (outline + typed tables in a local SQLite file) and is called only by the builder.
    /// A half-built result is never visible. Returns the outline and whether it was reused.
    func buildTables(hash: String, path: String, isCancelled: @escaping @Sendable () -> Bool,
                     load: () throws -> BuiltTablesFile) throws -> (outline: WorkbookOutline, reused: Bool)
    /// One read-only query on the typed tables of `hash` (`limit` rows, `timeout` seconds,
    /// `limits` on values and the reply): the same `QueryResult` for every store.
    func runQuery(hash: String, sql: String, limit: Int, timeout: Double, limits: QueryLimits,
                  isCancelled: (@Sendable () -> Bool)?) throws -> QueryResult
    /// Removes the typed tables of `hash` (nothing when absent).
    func drop(hash: String) throws
}

/// A complete local tables file written by the one-pass load (`<hash>.sqlite`), read by a
/// shared store to copy its typed tables. Opened read-only.
public struct BuiltTablesFile: Sendable {
    public let path: String
    public let outline: WorkbookOutline
    /// The SQL tables (one per table part) with their columns, in load order.
    public let tables: [BuiltTable]
    /// The same, as `TableMapping`s (citations, warnings): stored beside the tables.
    let mappings: [TableMapping]
    public let layout: String

    public struct BuiltTable: Sendable, Hashable {
        public var name: String
        public var sheet: String
        public var rowColumn: String
        public var rows: Int
        public var columns: [BuiltColumn]
        /// `TableMapping` as JSON (kept opaque: stored and handed back to `WorkbookIndex`).
        public var mappingJSON: String
    }

    /// A column with the type the typing gave it and what its stored values really are.
    public struct BuiltColumn: Sendable, Hashable {
        public var name: String
        public var type: ColumnType
        /// SQLite storage classes of its non-null values (`integer`, `real`, `text`): a date
        /// column may also hold numbers (Excel serials outside the date range), an integer
        /// column reals, so a store picks the type that holds every value.
        public var storageClasses: Set<String>
        /// A date/datetime column whose values are all ISO dates a date type can hold.
        public var isoTemporal: Bool
    }

    init(path: String) throws {
        let l = try LoadedIndex(path: path, identity: FileIdentity(path: path) ?? FileIdentity.zero)
        guard let outline = l.outline else { throw IndexError(.indexNotBuilt, "the index file \(path) has no outline") }
        self.path = path
        self.outline = outline
        self.mappings = l.tables
        self.layout = l.meta.layout
        var types: [String: [String: ColumnType]] = [:]
        for s in outline.sheets {
            for t in s.tables {
                var m: [String: ColumnType] = [:]
                for c in t.columns { m[c.name.isEmpty ? A1.columnName(c.sourceColumn) : c.name] = c.type }
                for p in t.parts { types[p.name] = m }
                types[t.name] = types[t.name] ?? m
            }
        }
        var config = Configuration()
        config.readonly = true
        let q = try DatabaseQueue(path: path, configuration: config)
        defer { try? q.close() }
        tables = try q.read { db in
            try l.tables.map { m in
                let json = String(decoding: try JSONEncoder().encode(m), as: UTF8.self)
                let declared = types[m.name] ?? [:]
                var cols: [BuiltColumn] = []
                for name in m.columnOrder {
                    // Renamed duplicates (`x_2`) fall back to text: their classes decide.
                    let type = declared[name] ?? .text
                    let q = quoteIdentifier(name)
                    let classes = Set(try String.fetchAll(db, sql: "SELECT DISTINCT typeof(\(q)) FROM \(quoteIdentifier(m.name))"))
                        .subtracting(["null"])
                    var iso = false
                    if (type == .date || type == .datetime), classes == ["text"] {
                        // ISO dates a server's date type takes: year 0001 on, month 01-12, day 01-31
                        // (Excel's serial 0 shows as 1900-01-00, which no date type holds).
                        let shape = type == .date ? "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"
                            : "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]*'"
                        let odd = try Bool.fetchOne(db, sql: """
                            SELECT EXISTS (SELECT 1 FROM \(quoteIdentifier(m.name)) WHERE \(q) IS NOT NULL AND NOT (\(q) GLOB \(shape)
                                AND substr(\(q), 1, 4) >= '0001' AND substr(\(q), 6, 2) BETWEEN '01' AND '12'
                                AND substr(\(q), 9, 2) BETWEEN '01' AND '31'))
                            """) ?? true
                        iso = !odd
                    }
                    cols.append(BuiltColumn(name: name, type: type, storageClasses: classes, isoTemporal: iso))
                }
                return BuiltTable(name: m.name, sheet: m.sheet, rowColumn: m.rowColumn, rows: m.rows, columns: cols, mappingJSON: json)
            }
        }
    }

    /// A cursor over the rows of `table` (`_row` first, then the columns in order) as typed
    /// values, in `_row` order.
    public func rows(of table: BuiltTable) throws -> RowCursor { try RowCursor(path: path, table: table) }

    public final class RowCursor {
        private var db: OpaquePointer?
        private var stmt: OpaquePointer?
        private let name: String
        private let n: Int32
        private var row: [TypedValue]

        init(path: String, table: BuiltTable) throws {
            name = table.name
            n = Int32(table.columns.count + 1)
            row = [TypedValue](repeating: .null, count: Int(n))
            guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK else {
                sqlite3_close_v2(db)
                throw IndexError(.storage, "cannot open \(path)")
            }
            let cols = ([table.rowColumn] + table.columns.map(\.name)).map(quoteIdentifier).joined(separator: ", ")
            guard sqlite3_prepare_v2(db, "SELECT \(cols) FROM \(quoteIdentifier(table.name)) ORDER BY 1", -1, &stmt, nil) == SQLITE_OK else {
                let m = String(cString: sqlite3_errmsg(db))
                sqlite3_close_v2(db)
                throw IndexError(.storage, "cannot read \(table.name): \(m)")
            }
        }

        deinit { sqlite3_finalize(stmt); sqlite3_close_v2(db) }

        /// The next row, or nil after the last.
        public func next() throws -> [TypedValue]? {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { return nil }
            guard rc == SQLITE_ROW else { throw IndexError(.storage, "reading \(name): \(String(cString: sqlite3_errmsg(db)))") }
            for i in 0..<n {
                switch sqlite3_column_type(stmt, i) {
                case SQLITE_INTEGER: row[Int(i)] = .integer(sqlite3_column_int64(stmt, i))
                case SQLITE_FLOAT: row[Int(i)] = .real(sqlite3_column_double(stmt, i))
                case SQLITE_TEXT: row[Int(i)] = .text(String(cString: sqlite3_column_text(stmt, i)))
                default: row[Int(i)] = .null
                }
            }
            return row
        }
    }
}

/// What a shared store keeps beside each workbook's tables, so another process can serve it
/// without the local file: the outline and the table mappings (as `BuiltTablesFile` gave them).
public struct SharedTables: Sendable {
    public var outline: WorkbookOutline
    public var mappingsJSON: [String]
    public init(outline: WorkbookOutline, mappingsJSON: [String]) { self.outline = outline; self.mappingsJSON = mappingsJSON }
    /// The table summaries `IndexStatus` lists.
    public var tableInfos: [IndexedTableInfo] {
        mappingsJSON.compactMap { try? JSONDecoder().decode(TableMapping.self, from: Data($0.utf8)) }
            .map { IndexedTableInfo(name: $0.name, sheet: $0.sheet, rows: $0.rows, columns: $0.columnOrder, omittedColumns: $0.omittedColumns) }
    }
}

extension FileIdentity {
    static let zero = FileIdentity(device: 0, inode: 0, size: 0, mtimeNanos: 0)
}

// MARK: - SQLite: the default store

extension WorkbookIndex: TypedTableStore {
    public var dialect: SQLDialect { .sqlite }

    public func builtOutline(hash: String, path: String) throws -> WorkbookOutline? {
        storedOutline(hash: try checkedHash(hash), path: path)
    }

    /// The SQLite store builds in `open` itself (flock per hash, staging file renamed into place),
    /// so the build is the load.
    public func buildTables(hash: String, path: String, isCancelled: @escaping @Sendable () -> Bool,
                            load: () throws -> BuiltTablesFile) throws -> (outline: WorkbookOutline, reused: Bool) {
        if let o = try builtOutline(hash: hash, path: path) { return (o, true) }
        return (try load().outline, false)
    }

    public func runQuery(hash: String, sql: String, limit: Int, timeout: Double, limits: QueryLimits,
                         isCancelled: (@Sendable () -> Bool)?) throws -> QueryResult {
        let l = try loadedIndex(hash)
        return try ReadOnlyQuery.run(path: l.path, sql: sql, limit: max(0, limit), timeout: timeout, tables: l.tables,
                                     limits: limits, isCancelled: isCancelled)
    }

    public func drop(hash: String) throws {
        let h = try checkedHash(hash)
        let fileLock = try FileLock.acquireBlocking(path: indexDirectory.appendingPathComponent(h + ".lock").path)
        defer { fileLock.release() }
        unlink(indexPath(h))
        unlink(searchPath(h))
    }
}

/// A store shared by many processes (PostgreSQL): it also hands back what it keeps beside the
/// tables, so a process that never read the file can describe and query it.
public protocol SharedTableStore: TypedTableStore {
    /// The outline and mappings of the complete typed tables of `hash`, or nil when not built.
    func sharedTables(hash: String) throws -> SharedTables?
}

/// Thrown by a shared store whose server cannot hold a workbook's tables (PostgreSQL: more
/// than 1,600 columns in a table, or a row over its ~8 kB page): the workbook is then indexed
/// in this machine's SQLite instead, and its outline says so.
public struct SharedStoreLimitError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension WorkbookIndex {
    /// `open` through a shared store: the content hash (from the catalog when the file's
    /// identity is known, else hashed), then the store's tables, built there when missing.
    func openShared(_ shared: any SharedTableStore, path: String, progress: ((ProgressUpdate) -> Void)?,
                    isCancelled: @escaping @Sendable () -> Bool) throws -> OpenedWorkbook {
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6 }
        guard let before = FileIdentity(path: path) else { throw WorkbookError(.fileNotFound, "no such file: \(path)") }
        let hash: String
        var readFile = false
        if let known = knownHash(path: path, identity: before) {
            hash = known
        } else {
            if isCancelled() { throw CancellationError() }
            progress?(ProgressUpdate(fraction: 0, message: "hashing the file"))
            // The version as the local index keys it (a csv's name is part of it).
            hash = try ContentHash.workbookVersion(path: path)
            readFile = true
        }
        if isUnshared(hash) {
            // Kept local earlier in this process (a buffer, or more than the store holds).
            return try openLocal(path: path, progress: progress, isCancelled: isCancelled)
        }
        if let outline = try shared.builtOutline(hash: hash, path: path) {
            if FileIdentity(path: path) == before { recordIdentity(path: path, identity: before, hash: hash) }
            return OpenedWorkbook(outline: outline, reused: true, readFile: readFile, durationMs: elapsed())
        }
        let built: (outline: WorkbookOutline, reused: Bool)
        do {
            built = try shared.buildTables(hash: hash, path: path, isCancelled: isCancelled) {
                let opened = try self.openLocal(path: path, progress: progress, isCancelled: isCancelled)
                guard opened.outline.contentHash == hash else {
                    throw IndexError(.fileChanged, "\(path) changed while it was being opened; open it again once it is saved")
                }
                progress?(ProgressUpdate(fraction: 0.9, message: "copying the tables to the shared store"))
                return try BuiltTablesFile(path: self.indexPath(hash))
            }
        } catch let limit as SharedStoreLimitError {
            // The store cannot hold one of its tables: every sheet stays usable from this
            // machine's SQLite (built by the load above), and the outline says why.
            let opened = try openLocal(path: path, progress: progress, isCancelled: isCancelled)
            keepUnshared(opened.outline.contentHash)
            var outline = opened.outline
            if !outline.sheets.isEmpty {
                outline.sheets[0].warnings.append("indexed on this machine only, not in the shared store: \(limit.message)")
            }
            return OpenedWorkbook(outline: outline, reused: opened.reused, readFile: true, durationMs: elapsed())
        }
        if FileIdentity(path: path) == before { recordIdentity(path: path, identity: before, hash: hash) }
        return OpenedWorkbook(outline: built.outline, reused: built.reused, readFile: true, durationMs: elapsed())
    }

    /// `status` with a shared store: the tables are ready when the store has them; search is local.
    func sharedStatus(_ shared: any SharedTableStore, hash: String) throws -> IndexStatus {
        guard let tables = try shared.sharedTables(hash: hash) else {
            return IndexStatus(contentHash: hash, built: false, builtAt: nil, chunks: 0, embeddingModel: nil, dimensions: 0, tables: [],
                               durationMs: nil, tablesReady: false, searchReady: false, searchDurationMs: nil, bytesOnDisk: 0)
        }
        let search = try? loadedSearch(hash)
        return IndexStatus(contentHash: hash, built: search != nil, builtAt: nil,
                           chunks: search?.meta.chunks ?? 0, embeddingModel: search?.meta.embedder, dimensions: search?.meta.dimensions ?? 0,
                           tables: tables.tableInfos, durationMs: nil, tablesReady: true, searchReady: search != nil,
                           searchDurationMs: search?.meta.durationMs, bytesOnDisk: 0)
    }
}
