// The index of workbooks under a data directory.
//
// Layout (per workbook version, plus a small catalog):
//   <data>/catalog.sqlite               WAL, DatabaseMigrator: which workbooks were registered (so
//                                       `unknownWorkbook` and `indexNotBuilt` can be told apart),
//                                       and each opened file's identity -> content hash.
//   <data>/index/<hash>.sqlite          the typed tables and the outline. Written once, then only read.
//   <data>/index/<hash>.search.sqlite   chunks, FTS5, vectors: built after the tables, on demand.
//   <data>/index/<hash>.lock            flock(2): one builder per hash across processes
//                                       (<hash>.search.lock for the search file).
//   <data>/index/<hash>.staging-*       a build in progress; renamed over its final name when done
//                                       (<hash>.search.staging-* for the search file).
// Why per-hash files: an index is immutable once renamed into place, so a crash (kill -9) can
// only ever leave a stale staging file (removed by the next builder) next to the previous
// complete index; readers never see a half-built one. A file whose identity (device, inode,
// size, mtime) is recorded in the catalog is answered from the index without reading it.
import Foundation
import GRDB
import GRDBSQLite
import XLChatWorkbook
#if canImport(Glibc)
import Glibc
#endif

/// One query `WorkbookIndex.query` ran: in which store, how long (ns), and how it ended
/// (`ok`, an `IndexError.Kind` raw value such as `queryTimeout`, `cancelled`, or `error`).
public struct StoreQueryRecord: Sendable, Hashable {
    public var dialect: SQLDialect
    public var nanoseconds: Int64
    public var outcome: String
}

public final class WorkbookIndex: @unchecked Sendable {
    public let dataDirectory: URL
    let indexDirectory: URL
    let catalog: DatabasePool
    private let lock = NSLock()
    private var loaded: [String: LoadedIndex] = [:]
    private var shared: (any SharedTableStore)?
    private var queryObserver: (@Sendable (StoreQueryRecord) -> Void)?
    /// Versions opened with `shareable: false` (unsaved buffers) while a shared store is
    /// installed: their tables are in this index's SQLite, and their queries run there.
    private var unshared: Set<String> = []

    /// Called after every `query` (SQLite or the shared store) with its store and duration:
    /// the server's `server/metrics` counts them. Called on the querying thread; must be cheap.
    public func setQueryObserver(_ f: (@Sendable (StoreQueryRecord) -> Void)?) { lock.withLock { queryObserver = f } }

    /// Installs (or with nil removes) a shared store for the typed tables (issue 15): opens,
    /// status and queries go to it; search stays in this index's local files.
    public func setSharedStore(_ store: (any SharedTableStore)?) { lock.withLock { shared = store } }
    public var sharedStore: (any SharedTableStore)? { lock.withLock { shared } }
    /// The dialect `query` runs: the shared store's, else SQLite.
    public var sqlDialect: SQLDialect { sharedStore?.dialect ?? .sqlite }
    /// The dialect queries on version `hash` run: SQLite for an unshared version (a buffer).
    public func sqlDialect(hash: String) -> SQLDialect { sharedStore(for: hash)?.dialect ?? .sqlite }
    /// Whether version `hash` stays in this index's SQLite although a shared store is installed.
    func isUnshared(_ hash: String) -> Bool { lock.withLock { unshared.contains(hash.lowercased()) } }
    /// Keeps version `hash` in this index's SQLite (an unsaved buffer, or more than the store holds).
    func keepUnshared(_ hash: String) { lock.withLock { _ = unshared.insert(hash.lowercased()) } }
    /// The shared store that holds version `hash`, nil when it is in this index's SQLite.
    func sharedStore(for hash: String) -> (any SharedTableStore)? {
        lock.withLock { unshared.contains(hash.lowercased()) ? nil : shared }
    }

    /// Bumped when the index file layout changes; older files are rebuilt. 4: SQL names at
    /// most 63 bytes (`SQLIdentifier`).
    static let schemaVersion = "4"
    /// Above this many data rows a table gets one chunk per window of rows instead of per row.
    public static let maxRowChunks = 200_000

    /// The largest index file a build may write (bytes), or nil for no limit beyond the disk's.
    /// Past it a build fails with `storageFull` and the previous index stays.
    public let maxIndexFileBytes: Int?

    public init(dataDirectory: URL, maxIndexFileBytes: Int? = nil) throws {
        self.dataDirectory = dataDirectory
        self.maxIndexFileBytes = maxIndexFileBytes
        self.indexDirectory = dataDirectory.appendingPathComponent("index")
        do {
            try FileManager.default.createDirectory(at: indexDirectory, withIntermediateDirectories: true)
        } catch {
            throw IndexError(.storage, "cannot create \(indexDirectory.path): \(error.localizedDescription)")
        }
        try Self.checkFTS5()
        var config = Configuration()
        config.busyMode = .timeout(30)
        // Two processes opening a new data directory at once would both run the migration
        // (each sees no schema yet); the second fails with "table already exists". One at a time.
        let migrationLock = try FileLock.acquireBlocking(path: dataDirectory.appendingPathComponent("catalog.lock").path)
        defer { migrationLock.release() }
        do {
            catalog = try DatabasePool(path: dataDirectory.appendingPathComponent("catalog.sqlite").path, configuration: config)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.execute(sql: """
                    CREATE TABLE workbook (
                        hash TEXT PRIMARY KEY NOT NULL,
                        path TEXT NOT NULL,
                        format TEXT NOT NULL,
                        registered_at REAL NOT NULL,
                        built_at REAL,
                        chunks INTEGER,
                        embedder TEXT)
                    """)
            }
            migrator.registerMigration("v2-file-identity") { db in
                // What a file looked like when it was last opened: same identity -> same content.
                try db.execute(sql: """
                    CREATE TABLE file_identity (
                        path TEXT PRIMARY KEY NOT NULL,
                        dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                        hash TEXT NOT NULL)
                    """)
            }
            try migrator.migrate(catalog)
        } catch let e as IndexError {
            throw e
        } catch {
            throw IndexError(.storage, "cannot open the catalog in \(dataDirectory.path): \(error)")
        }
    }

    static func checkFTS5() throws {
        var db: OpaquePointer?
        defer { sqlite3_close_v2(db) }
        guard sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK,
              sqlite3_exec(db, "CREATE VIRTUAL TABLE t USING fts5(x)", nil, nil, nil) == SQLITE_OK else {
            throw IndexError(.storage, "the system SQLite (\(String(cString: sqlite3_libversion()))) was built without FTS5, which the index needs")
        }
    }

    // MARK: - Paths

    static func validHash(_ hash: String) -> Bool {
        !hash.isEmpty && hash.utf8.count <= 128 && hash.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70) }
    }

    func indexPath(_ hash: String) -> String { indexDirectory.appendingPathComponent(hash + ".sqlite").path }
    func searchPath(_ hash: String) -> String { indexDirectory.appendingPathComponent(hash + ".search.sqlite").path }
    var maxPageCount: Int? { maxIndexFileBytes.map { max(16, $0 / 8192) } }

    func checkedHash(_ hash: String) throws -> String {
        guard Self.validHash(hash) else { throw IndexError(.unknownWorkbook, "no workbook has content hash \(hash.debugDescription)") }
        return hash.lowercased()
    }

    // MARK: - Registration

    /// Records that a workbook version was opened (what `workbook/open` calls), so that a query
    /// before its build answers `indexNotBuilt` rather than `unknownWorkbook`. `build` registers too.
    public func register(_ outline: WorkbookOutline) throws {
        let hash = try checkedHash(outline.contentHash)
        do {
            try catalog.write { db in
                try db.execute(sql: """
                    INSERT INTO workbook(hash, path, format, registered_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT(hash) DO UPDATE SET path = excluded.path
                    """, arguments: [hash, outline.path, outline.format.rawValue, Date().timeIntervalSince1970])
            }
        } catch {
            throw IndexError(.storage, "cannot write the catalog: \(error)")
        }
    }

    private func recordBuild(hash: String, chunks: Int, embedder: String) {
        try? catalog.write { db in
            try db.execute(sql: "UPDATE workbook SET built_at = ?, chunks = ?, embedder = ? WHERE hash = ?",
                           arguments: [Date().timeIntervalSince1970, chunks, embedder, hash])
        }
    }

    func isRegistered(_ hash: String) -> Bool {
        (try? catalog.read { db in try Bool.fetchOne(db, sql: "SELECT 1 FROM workbook WHERE hash = ?", arguments: [hash]) }) != nil
    }

    // MARK: - Opening built indexes

    private var loadedSearches: [String: LoadedSearch] = [:]

    /// Builds (or waits for the build of) the search file of a content hash whose tables are
    /// built: installed by the server, which knows the workbook's path and the embedder, so
    /// that a search (`search(waitForBuild: true)`, the analyst's search tool) builds the
    /// search part on first use.
    public typealias SearchBuilder = @Sendable (_ hash: String) async throws -> Void
    private var searchBuilderHook: SearchBuilder?
    public func setSearchBuilder(_ builder: SearchBuilder?) { lock.withLock { searchBuilderHook = builder } }

    /// The built tables of `hash`, or the right error.
    func loadedIndex(_ rawHash: String) throws -> LoadedIndex {
        let hash = try checkedHash(rawHash)
        let path = indexPath(hash)
        guard let identity = FileIdentity(path: path) else {
            lock.withLock { _ = loaded.removeValue(forKey: hash) }
            if isRegistered(hash) { throw IndexError(.indexNotBuilt, "the workbook's index has not been built yet; build it first") }
            throw IndexError(.unknownWorkbook, "no workbook with content hash \(hash) was opened")
        }
        if let l = lock.withLock({ loaded[hash] }), l.identity == identity { return l }
        let l: LoadedIndex
        do {
            l = try LoadedIndex(path: path, identity: identity)
        } catch {
            throw IndexError(.indexNotBuilt, "the index file for \(hash) is unreadable or from an older version; rebuild it (\(error))")
        }
        lock.withLock { loaded[hash] = l }
        return l
    }

    /// The built search file of `hash`, or `indexNotBuilt`.
    func loadedSearch(_ rawHash: String) throws -> LoadedSearch {
        let hash = try checkedHash(rawHash)
        let tables = try loadedIndex(hash)
        let path = searchPath(hash)
        guard let identity = FileIdentity(path: path) else {
            lock.withLock { _ = loadedSearches.removeValue(forKey: hash) }
            throw IndexError(.indexNotBuilt, "the workbook's search index has not been built yet")
        }
        if let l = lock.withLock({ loadedSearches[hash] }), l.identity == identity, l.meta.layout == tables.meta.layout { return l }
        let l: LoadedSearch
        do {
            l = try LoadedSearch(path: path, identity: identity)
        } catch {
            throw IndexError(.indexNotBuilt, "the search index for \(hash) is unreadable or from an older version; rebuild it (\(error))")
        }
        // Chunks describe the tables of one layout; after a re-inference they are stale.
        guard l.meta.layout == tables.meta.layout else {
            throw IndexError(.indexNotBuilt, "the search index of \(hash) describes other tables; rebuild it")
        }
        lock.withLock { loadedSearches[hash] = l }
        return l
    }

    // MARK: - Status

    /// `built` is true when both parts are: the typed tables (`tablesReady`, what SQL needs)
    /// and the search file (`searchReady`).
    public func status(hash rawHash: String) throws -> IndexStatus {
        let hash = try checkedHash(rawHash)
        if let shared = sharedStore(for: hash) { return try sharedStatus(shared, hash: hash) }
        let l: LoadedIndex
        do { l = try loadedIndex(hash) } catch let e as IndexError where e.kind == .indexNotBuilt {
            return IndexStatus(contentHash: hash, built: false, builtAt: nil, chunks: 0, embeddingModel: nil, dimensions: 0, tables: [],
                               durationMs: nil, tablesReady: false, searchReady: false, searchDurationMs: nil, bytesOnDisk: 0)
        }
        let search = try? loadedSearch(hash)
        let bytes = [indexPath(hash), searchPath(hash)].reduce(Int64(0)) { $0 + (FileIdentity(path: $1)?.size ?? 0) }
        return IndexStatus(contentHash: hash, built: search != nil, builtAt: Date(timeIntervalSince1970: l.meta.builtAt),
                           chunks: search?.meta.chunks ?? 0, embeddingModel: search?.meta.embedder, dimensions: search?.meta.dimensions ?? 0,
                           tables: l.tables.map { IndexedTableInfo(name: $0.name, sheet: $0.sheet, rows: $0.rows, columns: $0.columnOrder, omittedColumns: $0.omittedColumns) },
                           durationMs: l.meta.durationMs, tablesReady: true, searchReady: search != nil,
                           searchDurationMs: search?.meta.durationMs, bytesOnDisk: bytes)
    }

    // MARK: - Query

    /// Runs one read-only SELECT against the workbook's typed tables. `limit` caps the rows
    /// returned (`truncated` says more existed); `timeout` is the time budget in seconds.
    /// Needs only the typed tables, not the search file.
    /// `isCancelled` is polled while SQLite runs (a cancelled query throws `CancellationError`);
    /// `limits` bounds each value and the whole reply (`truncated` says when one applied).
    /// With a shared store (`setSharedStore`) the query runs there, in its dialect.
    public func query(hash: String, sql: String, limit: Int = 500, timeout: Double = 3,
                      limits: QueryLimits = .default, isCancelled: (@Sendable () -> Bool)? = nil) throws -> QueryResult {
        let (shared, observer) = lock.withLock { (unshared.contains(hash.lowercased()) ? nil : self.shared, queryObserver) }
        guard let observer else { return try query(shared, hash: hash, sql: sql, limit: limit, timeout: timeout, limits: limits, isCancelled: isCancelled) }
        let started = DispatchTime.now().uptimeNanoseconds
        var outcome = "error"
        defer {
            observer(StoreQueryRecord(dialect: shared?.dialect ?? .sqlite,
                                      nanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - started), outcome: outcome))
        }
        do {
            let r = try query(shared, hash: hash, sql: sql, limit: limit, timeout: timeout, limits: limits, isCancelled: isCancelled)
            outcome = "ok"
            return r
        } catch let e as IndexError {
            outcome = e.kind.rawValue
            throw e
        } catch is CancellationError {
            outcome = "cancelled"
            throw CancellationError()
        }
    }

    private func query(_ shared: (any SharedTableStore)?, hash: String, sql: String, limit: Int, timeout: Double,
                       limits: QueryLimits, isCancelled: (@Sendable () -> Bool)?) throws -> QueryResult {
        if let shared {
            return try shared.runQuery(hash: hash, sql: sql, limit: max(0, limit), timeout: timeout, limits: limits, isCancelled: isCancelled)
        }
        return try runQuery(hash: hash, sql: sql, limit: max(0, limit), timeout: timeout, limits: limits, isCancelled: isCancelled)
    }

    public func query(outline: WorkbookOutline, sql: String, limit: Int = 500, timeout: Double = 3,
                      limits: QueryLimits = .default, isCancelled: (@Sendable () -> Bool)? = nil) throws -> QueryResult {
        try query(hash: outline.contentHash, sql: sql, limit: limit, timeout: timeout, limits: limits, isCancelled: isCancelled)
    }

    // MARK: - Open: the outline and the typed tables in one pass, or from the index

    /// Opens the workbook file at `path` for SQL: returns its outline with the typed tables of
    /// its current content built.
    /// - Same identity (device, inode, size, mtime to the nanosecond) as recorded when it was
    ///   last opened, and that index is complete: the outline comes from the index; the file
    ///   is not read (`reused`, `read == false`).
    /// - Otherwise its content is hashed (one read of the bytes); an index for that hash
    ///   (a touched, copied or renamed file) is reused likewise.
    /// - Otherwise one pass over the file infers the outline and loads the typed tables
    ///   (`IndexBuilder.buildTables`); the search file is left for `buildSearch`.
    /// The identity is taken before the hash and again after the pass: when they differ the
    /// file changed while it was read, and the open starts over once, then fails with
    /// `fileChanged`. Never stores a mix of two versions.
    /// Throws `WorkbookError` for unreadable files, `storageFull`/`storage` when the index
    /// cannot be written (a previous index stays), `CancellationError` when `isCancelled`.
    /// With a shared store (`setSharedStore`): the store is asked for the content hash first;
    /// when it lacks it, this process builds it there (under the store's lock on the hash;
    /// the local one-pass load is the source) and other processes wait, then reuse.
    public func open(path: String, progress: ((ProgressUpdate) -> Void)? = nil,
                     isCancelled: @escaping @Sendable () -> Bool = { false }) throws -> OpenedWorkbook {
        if let shared = sharedStore { return try openShared(shared, path: path, progress: progress, isCancelled: isCancelled) }
        return try openLocal(path: path, progress: progress, isCancelled: isCancelled)
    }

    /// `open`; with `shareable == false` the tables are built (or found) in this index's SQLite
    /// even when a shared store is installed, and the version's queries and status stay here.
    public func open(path: String, progress: ((ProgressUpdate) -> Void)?, isCancelled: @escaping @Sendable () -> Bool,
                     shareable: Bool) throws -> OpenedWorkbook {
        if shareable || sharedStore == nil { return try open(path: path, progress: progress, isCancelled: isCancelled) }
        let opened = try openLocal(path: path, progress: progress, isCancelled: isCancelled)
        keepUnshared(opened.outline.contentHash)
        return opened
    }

    func openLocal(path: String, progress: ((ProgressUpdate) -> Void)?,
                   isCancelled: @escaping @Sendable () -> Bool) throws -> OpenedWorkbook {
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6 }
        for attempt in 0..<2 {
            guard let before = FileIdentity(path: path) else { throw WorkbookError(.fileNotFound, "no such file: \(path)") }
            if let hash = knownHash(path: path, identity: before), let outline = storedOutline(hash: hash, path: path) {
                return OpenedWorkbook(outline: outline, reused: true, readFile: false, durationMs: elapsed())
            }
            if isCancelled() { throw CancellationError() }
            progress?(ProgressUpdate(fraction: 0, message: "hashing the file"))
            let hash = try ContentHash.workbookVersion(path: path)
            if let outline = storedOutline(hash: hash, path: path) {
                if FileIdentity(path: path) == before { recordIdentity(path: path, identity: before, hash: hash) }
                return OpenedWorkbook(outline: outline, reused: true, readFile: true, durationMs: elapsed())
            }
            let fileLock = try FileLock.acquireBlocking(path: indexDirectory.appendingPathComponent(hash + ".lock").path, isCancelled: isCancelled)
            defer { fileLock.release() }
            if let outline = storedOutline(hash: hash, path: path) {
                return OpenedWorkbook(outline: outline, reused: true, readFile: true, durationMs: elapsed())
            }
            removeStaleStaging(hash + ".staging-")
            let staging = indexDirectory.appendingPathComponent("\(hash).staging-\(getpid())-\(UUID().uuidString).sqlite").path
            defer { for suffix in ["", "-journal", "-wal", "-shm", ".spool"] { unlink(staging + suffix) } }
            let reader = try Workbooks.open(path: path)
            (reader as? EvaluatingReader)?.isCancelled = isCancelled
            let outline = try IndexBuilder.buildTables(path: staging, reader: reader, filePath: path, contentHash: hash,
                                                       maxPageCount: maxPageCount, started: started, progress: progress,
                                                       isCancelled: isCancelled)
            guard FileIdentity(path: path) == before else {
                if attempt == 0 { continue }
                throw IndexError(.fileChanged, "\(path) changed while it was being read (twice); open it again once it is saved")
            }
            if isCancelled() { throw CancellationError() }
            try Self.durableRename(from: staging, to: indexPath(hash), directory: indexDirectory.path)
            lock.withLock { _ = loaded.removeValue(forKey: hash) }
            try? register(outline)
            recordIdentity(path: path, identity: before, hash: hash)
            progress?(ProgressUpdate(fraction: 1, message: "tables ready"))
            return OpenedWorkbook(outline: outline, reused: false, readFile: true, durationMs: elapsed())
        }
        throw IndexError(.fileChanged, "\(path) changed while it was being read; open it again once it is saved")
    }

    /// The content hash recorded for `path` when its identity was `identity`.
    func knownHash(path: String, identity: FileIdentity) -> String? {
        try? catalog.read { db in
            try String.fetchOne(db, sql: "SELECT hash FROM file_identity WHERE path = ? AND dev = ? AND ino = ? AND size = ? AND mtime_ns = ?",
                                arguments: [path, Int64(bitPattern: identity.device), Int64(bitPattern: identity.inode), identity.size, identity.mtimeNanos])
        }
    }

    func recordIdentity(path: String, identity: FileIdentity, hash: String) {
        try? catalog.write { db in
            try db.execute(sql: """
                INSERT INTO file_identity(path, dev, ino, size, mtime_ns, hash) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(path) DO UPDATE SET dev = excluded.dev, ino = excluded.ino, size = excluded.size,
                    mtime_ns = excluded.mtime_ns, hash = excluded.hash
                """, arguments: [path, Int64(bitPattern: identity.device), Int64(bitPattern: identity.inode), identity.size, identity.mtimeNanos, hash])
        }
    }

    /// The outline stored in the complete, current index of `hash`, with `path` as given.
    func storedOutline(hash: String, path: String) -> WorkbookOutline? {
        guard let l = try? loadedIndex(hash), var outline = l.outline else { return nil }
        outline.path = path
        return outline
    }

    // MARK: - Build

    /// Builds (or reuses) both parts of the index of `outline`'s workbook: the typed tables
    /// (one read through `reader`, kept when built for the same content hash and layout) and
    /// the search file (a second read; kept when built with the same embedder).
    /// Cancelling the task stops between batches with `CancellationError`, leaving the
    /// previous complete files (if any) in place.
    public func build(outline: WorkbookOutline, reader: any WorkbookReader, embedder: any Embedder,
                      force: Bool = false, progress: (@Sendable (ProgressUpdate) -> Void)? = nil) async throws -> BuildResult {
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6 }
        let hash = try checkedHash(outline.contentHash)
        let layout = IndexBuilder.layoutFingerprint(outline)
        let existingSearch = try? SearchMeta.read(path: searchPath(hash))
        let searchUsable = existingSearch.map { $0.schema == Self.schemaVersion && $0.layout == layout } ?? false
        let searchCurrent = !force && searchUsable && existingSearch?.embedder == embedder.identifier
        // Only the embedder differs: its vectors are recomputed from the stored chunk texts.
        let reembed = !force && searchUsable && !searchCurrent
        let tables = try await buildTables(outline: outline, reader: reader, force: force, started: started,
                                           collectChunks: !searchCurrent && !reembed, progress: progress)
        let search: BuildResult
        if reembed {
            search = try await reembedSearch(hash: hash, embedder: embedder, progress: progress)
        } else {
            search = try await buildSearch(hash: hash, reader: reader, embedder: embedder, force: force, chunks: tables.chunks, progress: progress)
        }
        return BuildResult(chunks: search.chunks, embeddingModel: search.embeddingModel, reused: tables.reused && search.reused, durationMs: elapsed())
    }

    /// A copy of the search file with its vectors recomputed by `embedder`, renamed over it.
    private func reembedSearch(hash: String, embedder: any Embedder, progress: (@Sendable (ProgressUpdate) -> Void)?) async throws -> BuildResult {
        let started = DispatchTime.now().uptimeNanoseconds
        let fileLock = try await FileLock.acquire(path: indexDirectory.appendingPathComponent(hash + ".search.lock").path)
        defer { fileLock.release() }
        let finalPath = searchPath(hash)
        removeStaleStaging(hash + ".search.staging-")
        let staging = indexDirectory.appendingPathComponent("\(hash).search.staging-\(getpid())-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-journal", "-wal", "-shm", ".spool"] { unlink(staging + suffix) } }
        do { try FileManager.default.copyItem(atPath: finalPath, toPath: staging) } catch {
            throw IndexError(.storage, "cannot copy the search index for re-embedding: \(error.localizedDescription)")
        }
        let chunks = try await IndexBuilder.reembed(path: staging, embedder: embedder, progress: progress)
        try Task.checkCancellation()
        try Self.durableRename(from: staging, to: finalPath, directory: indexDirectory.path)
        lock.withLock { _ = loadedSearches.removeValue(forKey: hash) }
        recordBuild(hash: hash, chunks: chunks, embedder: embedder.identifier)
        return BuildResult(chunks: chunks, embeddingModel: embedder.identifier, reused: false,
                           durationMs: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
    }

    /// Builds (or keeps) only the typed tables of `outline`'s workbook, reading it once
    /// through `reader`: what SQL needs. True when an existing file was kept.
    @discardableResult
    public func buildTables(outline: WorkbookOutline, reader: any WorkbookReader, force: Bool = false,
                            progress: (@Sendable (ProgressUpdate) -> Void)? = nil) async throws -> Bool {
        try await buildTables(outline: outline, reader: reader, force: force, started: DispatchTime.now().uptimeNanoseconds,
                              collectChunks: false, progress: progress).reused
    }

    private func buildTables(outline: WorkbookOutline, reader: any WorkbookReader, force: Bool, started: UInt64,
                             collectChunks: Bool, progress: (@Sendable (ProgressUpdate) -> Void)?) async throws -> (reused: Bool, chunks: [Chunk]?) {
        let hash = try checkedHash(outline.contentHash)
        let layout = IndexBuilder.layoutFingerprint(outline)
        let finalPath = indexPath(hash)
        if !force, let meta = try? IndexMeta.read(path: finalPath), meta.isCurrent(layout: layout) {
            try? register(outline)
            return (true, nil)
        }
        try register(outline)
        let fileLock = try await FileLock.acquire(path: indexDirectory.appendingPathComponent(hash + ".lock").path)
        defer { fileLock.release() }
        // Another process may have finished the same build while we waited.
        if !force, let meta = try? IndexMeta.read(path: finalPath), meta.isCurrent(layout: layout) { return (true, nil) }
        removeStaleStaging(hash + ".staging-")
        let staging = indexDirectory.appendingPathComponent("\(hash).staging-\(getpid())-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-journal", "-wal", "-shm", ".spool"] { unlink(staging + suffix) } }
        let chunks = try IndexBuilder.buildTables(path: staging, outline: outline, layout: layout, reader: reader,
                                                  maxPageCount: maxPageCount, started: started, collectChunks: collectChunks,
                                                  progress: progress)
        try Task.checkCancellation()
        try Self.durableRename(from: staging, to: finalPath, directory: indexDirectory.path)
        lock.withLock { _ = loaded.removeValue(forKey: hash) }
        return (false, chunks)
    }

    /// Builds (or keeps) the search file of `hash` (chunks, FTS5, vectors) from the outline
    /// stored with its tables, reading the workbook once through `reader`. Needs the tables
    /// (`indexNotBuilt` otherwise). Kept when built with the same embedder, unless `force`.
    public func buildSearch(hash rawHash: String, reader: any WorkbookReader, embedder: any Embedder, force: Bool = false,
                            progress: (@Sendable (ProgressUpdate) -> Void)? = nil) async throws -> BuildResult {
        try await buildSearch(hash: rawHash, reader: reader, embedder: embedder, force: force, chunks: nil, progress: progress)
    }

    /// `chunks`: collected by the tables' pass already (then `reader` is not read).
    func buildSearch(hash rawHash: String, reader: any WorkbookReader, embedder: any Embedder, force: Bool,
                     chunks collected: [Chunk]?, progress: (@Sendable (ProgressUpdate) -> Void)?) async throws -> BuildResult {
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6 }
        let hash = try checkedHash(rawHash)
        let finalPath = searchPath(hash)
        let tablesLayout = try loadedIndex(hash).meta.layout
        func current(_ meta: SearchMeta) -> Bool {
            meta.schema == Self.schemaVersion && meta.embedder == embedder.identifier && meta.layout == tablesLayout
        }
        if !force, let meta = try? SearchMeta.read(path: finalPath), current(meta) {
            return BuildResult(chunks: meta.chunks, embeddingModel: meta.embedder, reused: true, durationMs: elapsed())
        }
        let fileLock = try await FileLock.acquire(path: indexDirectory.appendingPathComponent(hash + ".search.lock").path)
        defer { fileLock.release() }
        if !force, let meta = try? SearchMeta.read(path: finalPath), current(meta) {
            return BuildResult(chunks: meta.chunks, embeddingModel: meta.embedder, reused: true, durationMs: elapsed())
        }
        guard let outline = try loadedIndex(hash).outline else {
            throw IndexError(.indexNotBuilt, "the index of \(hash) has no outline; rebuild it")
        }
        removeStaleStaging(hash + ".search.staging-")
        let staging = indexDirectory.appendingPathComponent("\(hash).search.staging-\(getpid())-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-journal", "-wal", "-shm", ".spool"] { unlink(staging + suffix) } }
        let chunks = try await IndexBuilder.buildSearch(path: staging, outline: outline, reader: reader, embedder: embedder,
                                                        chunks: collected, maxPageCount: maxPageCount, started: started, progress: progress)
        try Task.checkCancellation()
        try Self.durableRename(from: staging, to: finalPath, directory: indexDirectory.path)
        lock.withLock { _ = loadedSearches.removeValue(forKey: hash) }
        recordBuild(hash: hash, chunks: chunks, embedder: embedder.identifier)
        progress?(ProgressUpdate(fraction: 1, message: "index ready: \(chunks) chunks"))
        return BuildResult(chunks: chunks, embeddingModel: embedder.identifier, reused: false, durationMs: elapsed())
    }

    /// Deletes the index of `hash` and forgets the workbook (for an older version of a changed
    /// file, or to free space). Waits for a build of the same hash to finish first.
    public func remove(hash rawHash: String) async throws {
        let hash = try checkedHash(rawHash)
        let fileLock = try await FileLock.acquire(path: indexDirectory.appendingPathComponent(hash + ".lock").path)
        defer { fileLock.release() }
        let searchLock = try await FileLock.acquire(path: indexDirectory.appendingPathComponent(hash + ".search.lock").path)
        defer { searchLock.release() }
        unlink(indexPath(hash))
        unlink(searchPath(hash))
        lock.withLock { _ = loaded.removeValue(forKey: hash); _ = loadedSearches.removeValue(forKey: hash) }
        forget(hash)
    }

    private func forget(_ hash: String) {
        try? catalog.write { db in
            try db.execute(sql: "DELETE FROM workbook WHERE hash = ?", arguments: [hash])
            try db.execute(sql: "DELETE FROM file_identity WHERE hash = ?", arguments: [hash])
        }
    }

    /// Staging files of builds that died (the caller holds the lock, so none is live).
    private func removeStaleStaging(_ prefix: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: indexDirectory.path)) ?? []
        for n in names where n.hasPrefix(prefix) {
            unlink(indexDirectory.appendingPathComponent(n).path)
        }
    }

    /// Flushes the finished file, renames it over the previous index and flushes the directory,
    /// so after a crash either the old or the new file is there, complete.
    static func durableRename(from: String, to: String, directory: String) throws {
        let fd = Glibc.open(from, O_RDONLY)
        guard fd >= 0 else { throw IndexError(.storage, "the finished index vanished: \(from)") }
        let synced = fsync(fd); let err = errno; close(fd)
        if synced != 0 && (err == ENOSPC || err == EDQUOT) { throw IndexError(.storageFull, "the disk is full: cannot flush the index") }
        guard rename(from, to) == 0 else {
            throw IndexError(.storage, "cannot move the finished index into place: \(String(cString: strerror(errno)))")
        }
        let dfd = Glibc.open(directory, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    // MARK: - Search

    /// Hybrid search: FTS5 BM25 and cosine similarity ranks fused by reciprocal rank fusion.
    /// Never builds implicitly: before `buildSearch` (or `build`) it throws `indexNotBuilt`.
    /// When `embedder` is not the one the index was built with, only BM25 ranks (the vectors
    /// would not be comparable).
    /// `waitForBuild`: when the tables are built but the search file is not, and a
    /// `searchBuilder` is installed, wait for it to build the file (the first search of a
    /// workbook version builds its search part); false: `indexNotBuilt` at once.
    public func search(hash: String, query: String, limit: Int = 10, embedder: any Embedder,
                       waitForBuild: Bool = true) async throws -> [SearchHit] {
        let l: LoadedSearch
        do {
            l = try loadedSearch(hash)
        } catch let e as IndexError where e.kind == .indexNotBuilt && waitForBuild {
            guard let builder = lock.withLock({ searchBuilderHook }), (try? loadedIndex(hash)) != nil else { throw e }
            try await builder(try checkedHash(hash))
            l = try loadedSearch(hash)
        }
        var queryVector: [Float]? = nil
        if embedder.identifier == l.meta.embedder, !query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let v: [[Float]]
            do { v = try await embedder.embed([query]) } catch {
                throw IndexError(.embedderFailed, "the embedder failed on the query: \(error)")
            }
            guard v.count == 1, v[0].count == l.meta.dimensions else {
                throw IndexError(.embedderFailed, "the embedder returned a vector of the wrong size")
            }
            queryVector = v[0]
        }
        return try l.search(query: query, vector: queryVector, limit: max(0, limit))
    }
}

/// What `WorkbookIndex.open` found.
public struct OpenedWorkbook: Sendable {
    public var outline: WorkbookOutline
    /// The typed tables were already built for this content (nothing was loaded).
    public var reused: Bool
    /// Whether the file's bytes were read at all (false: its identity matched the catalog).
    public var readFile: Bool
    public var durationMs: Double
}

/// An exclusive flock(2) on a lock file, polled so the waiting task stays cancellable. flock
/// locks die with their process, so a killed builder never leaves the hash locked.
final class FileLock: @unchecked Sendable {
    private var fd: Int32
    private init(fd: Int32) { self.fd = fd }

    /// Opens the lock file and tries the lock once: the lock, nil while another holds it.
    private static func tryOnce(_ path: String, fd existing: Int32?) throws -> (fd: Int32, locked: Bool) {
        let fd = existing ?? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw IndexError(.storage, "cannot open the lock file \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return (fd, true) }
        if errno != EWOULDBLOCK && errno != EINTR {
            close(fd)
            throw IndexError(.storage, "cannot lock \(path): \(String(cString: strerror(errno)))")
        }
        return (fd, false)
    }

    static func acquire(path: String) async throws -> FileLock {
        var attempt = try tryOnce(path, fd: nil)
        while !attempt.locked {
            do { try await Task.sleep(nanoseconds: 20_000_000) } catch { close(attempt.fd); throw error }
            attempt = try tryOnce(path, fd: attempt.fd)
        }
        return FileLock(fd: attempt.fd)
    }

    /// Waits (blocking the thread, polling) for the lock while `isCancelled` stays false.
    static func acquireBlocking(path: String, isCancelled: () -> Bool) throws -> FileLock {
        var attempt = try tryOnce(path, fd: nil)
        while !attempt.locked {
            if isCancelled() { close(attempt.fd); throw CancellationError() }
            usleep(20_000)
            attempt = try tryOnce(path, fd: attempt.fd)
        }
        return FileLock(fd: attempt.fd)
    }

    /// Waits (blocking the thread) for the lock: for short critical sections at start-up.
    static func acquireBlocking(path: String) throws -> FileLock {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw IndexError(.storage, "cannot open the lock file \(path): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            close(fd)
            throw IndexError(.storage, "cannot lock \(path): \(String(cString: strerror(errno)))")
        }
        return FileLock(fd: fd)
    }

    func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN); close(fd); fd = -1
    }
    deinit { release() }
}
