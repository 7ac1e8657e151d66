// The index of workbooks under a data directory.
//
// Layout (one file per workbook version, plus a small catalog):
//   <data>/catalog.sqlite          WAL, DatabaseMigrator: which workbooks were registered (so
//                                  `unknownWorkbook` and `indexNotBuilt` can be told apart).
//   <data>/index/<hash>.sqlite     one complete index per content hash: typed tables, chunks,
//                                  FTS5, vectors, meta. Written once, then only read.
//   <data>/index/<hash>.lock       flock(2): one builder per hash across processes.
//   <data>/index/<hash>.staging-*  a build in progress; renamed over <hash>.sqlite when done.
// Why per-hash files: an index is immutable once renamed into place, so a crash (kill -9) can
// only ever leave a stale staging file (removed by the next builder) next to the previous
// complete index; readers never see a half-built one, and an unchanged file (same hash) is
// answered from its meta row without reading a cell.
import Foundation
import GRDB
import GRDBSQLite
import XLChatWorkbook
#if canImport(Glibc)
import Glibc
#endif

public final class WorkbookIndex: @unchecked Sendable {
    public let dataDirectory: URL
    let indexDirectory: URL
    let catalog: DatabasePool
    private let lock = NSLock()
    private var loaded: [String: LoadedIndex] = [:]

    /// Bumped when the index file layout changes; older files are rebuilt.
    static let schemaVersion = "2"
    /// Above this many data rows a table gets one chunk per window of rows instead of per row.
    public static let maxRowChunks = 200_000

    public init(dataDirectory: URL) throws {
        self.dataDirectory = dataDirectory
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

    private func checkedHash(_ hash: String) throws -> String {
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

    /// The built index for `hash`, or the right error.
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

    // MARK: - Status

    public func status(hash rawHash: String) throws -> IndexStatus {
        let hash = try checkedHash(rawHash)
        do {
            let l = try loadedIndex(hash)
            return IndexStatus(contentHash: hash, built: true, builtAt: Date(timeIntervalSince1970: l.meta.builtAt),
                               chunks: l.meta.chunks, embeddingModel: l.meta.embedder, dimensions: l.meta.dimensions,
                               tables: l.tables.map { IndexedTableInfo(name: $0.name, sheet: $0.sheet, rows: $0.rows, columns: $0.columnOrder, omittedColumns: $0.omittedColumns) },
                               durationMs: l.meta.durationMs)
        } catch let e as IndexError where e.kind == .indexNotBuilt {
            return IndexStatus(contentHash: hash, built: false, builtAt: nil, chunks: 0, embeddingModel: nil, dimensions: 0, tables: [], durationMs: nil)
        }
    }

    // MARK: - Query

    /// Runs one read-only SELECT against the workbook's typed tables. `limit` caps the rows
    /// returned (`truncated` says more existed); `timeout` is the time budget in seconds.
    /// `isCancelled` is polled while SQLite runs (a cancelled query throws `CancellationError`);
    /// `limits` bounds each value and the whole reply (`truncated` says when one applied).
    public func query(hash: String, sql: String, limit: Int = 500, timeout: Double = 3,
                      limits: QueryLimits = .default, isCancelled: (@Sendable () -> Bool)? = nil) throws -> QueryResult {
        let l = try loadedIndex(hash)
        return try ReadOnlyQuery.run(path: l.path, sql: sql, limit: max(0, limit), timeout: timeout, tables: l.tables,
                                     limits: limits, isCancelled: isCancelled)
    }

    public func query(outline: WorkbookOutline, sql: String, limit: Int = 500, timeout: Double = 3,
                      limits: QueryLimits = .default, isCancelled: (@Sendable () -> Bool)? = nil) throws -> QueryResult {
        try query(hash: outline.contentHash, sql: sql, limit: limit, timeout: timeout, limits: limits, isCancelled: isCancelled)
    }

    // MARK: - Build

    /// Builds (or reuses) the index of `outline`'s workbook. Reads every sheet once through
    /// `reader`; an index already built for the same content hash, layout and embedder is
    /// reused without reading anything. A different embedder only recomputes the vectors.
    /// Cancelling the task stops between batches with `CancellationError`, leaving the
    /// previous complete index (if any) in place.
    public func build(outline: WorkbookOutline, reader: any WorkbookReader, embedder: any Embedder,
                      force: Bool = false, progress: (@Sendable (ProgressUpdate) -> Void)? = nil) async throws -> BuildResult {
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6 }
        let hash = try checkedHash(outline.contentHash)
        let layout = IndexBuilder.layoutFingerprint(outline)
        let finalPath = indexPath(hash)

        // Fast path, no lock: an unchanged file is never read again.
        if !force, let meta = try? IndexMeta.read(path: finalPath), meta.isCurrent(layout: layout), meta.embedder == embedder.identifier {
            try? register(outline)
            return BuildResult(chunks: meta.chunks, embeddingModel: meta.embedder, reused: true, durationMs: elapsed())
        }
        try register(outline)
        let fileLock = try await FileLock.acquire(path: indexDirectory.appendingPathComponent(hash + ".lock").path)
        defer { fileLock.release() }

        // Another process may have finished the same build while we waited.
        let existing = try? IndexMeta.read(path: finalPath)
        if !force, let meta = existing, meta.isCurrent(layout: layout), meta.embedder == embedder.identifier {
            return BuildResult(chunks: meta.chunks, embeddingModel: meta.embedder, reused: true, durationMs: elapsed())
        }
        removeStaleStaging(hash)
        let staging = indexDirectory.appendingPathComponent("\(hash).staging-\(getpid())-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-journal", "-wal", "-shm"] { unlink(staging + suffix) } }

        let chunks: Int
        if !force, let meta = existing, meta.isCurrent(layout: layout) {
            // Same tables, other embedder: copy the index and recompute its vectors only.
            do {
                try FileManager.default.copyItem(atPath: finalPath, toPath: staging)
            } catch {
                throw IndexError(.storage, "cannot copy the index for re-embedding: \(error.localizedDescription)")
            }
            chunks = try await IndexBuilder.reembed(path: staging, embedder: embedder, progress: progress)
        } else {
            chunks = try await IndexBuilder.build(path: staging, outline: outline, layout: layout, reader: reader,
                                                  embedder: embedder, started: started, progress: progress)
        }
        try Task.checkCancellation()
        try Self.durableRename(from: staging, to: finalPath, directory: indexDirectory.path)
        lock.withLock { _ = loaded.removeValue(forKey: hash) }
        let ms = elapsed()
        recordBuild(hash: hash, chunks: chunks, embedder: embedder.identifier)
        progress?(ProgressUpdate(fraction: 1, message: "index ready: \(chunks) chunks"))
        return BuildResult(chunks: chunks, embeddingModel: embedder.identifier, reused: false, durationMs: ms)
    }

    /// Deletes the index of `hash` and forgets the workbook (for an older version of a changed
    /// file, or to free space). Waits for a build of the same hash to finish first.
    public func remove(hash rawHash: String) async throws {
        let hash = try checkedHash(rawHash)
        let fileLock = try await FileLock.acquire(path: indexDirectory.appendingPathComponent(hash + ".lock").path)
        defer { fileLock.release() }
        unlink(indexPath(hash))
        lock.withLock { _ = loaded.removeValue(forKey: hash) }
        forget(hash)
    }

    private func forget(_ hash: String) {
        try? catalog.write { db in try db.execute(sql: "DELETE FROM workbook WHERE hash = ?", arguments: [hash]) }
    }

    /// Staging files of builds that died (the caller holds the hash's lock, so none is live).
    private func removeStaleStaging(_ hash: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: indexDirectory.path)) ?? []
        for n in names where n.hasPrefix(hash + ".staging-") {
            unlink(indexDirectory.appendingPathComponent(n).path)
        }
    }

    /// Flushes the finished file, renames it over the previous index and flushes the directory,
    /// so after a crash either the old or the new file is there, complete.
    static func durableRename(from: String, to: String, directory: String) throws {
        let fd = open(from, O_RDONLY)
        guard fd >= 0 else { throw IndexError(.storage, "the finished index vanished: \(from)") }
        fsync(fd); close(fd)
        guard rename(from, to) == 0 else {
            throw IndexError(.storage, "cannot move the finished index into place: \(String(cString: strerror(errno)))")
        }
        let dfd = open(directory, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    // MARK: - Search

    /// Hybrid search: FTS5 BM25 and cosine similarity ranks fused by reciprocal rank fusion.
    /// Never builds implicitly: before a build it throws `indexNotBuilt`. When `embedder` is not
    /// the one the index was built with, only BM25 ranks (the vectors would not be comparable).
    public func search(hash: String, query: String, limit: Int = 10, embedder: any Embedder) async throws -> [SearchHit] {
        let l = try loadedIndex(hash)
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

/// dev + inode + mtime: a rebuilt index is a new file (renamed into place).
struct FileIdentity: Equatable, Sendable {
    var dev: UInt64, ino: UInt64, mtimeNs: Int64, size: Int64
    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        dev = UInt64(st.st_dev); ino = UInt64(st.st_ino)
        mtimeNs = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        size = Int64(st.st_size)
    }
}

/// An exclusive flock(2) on a lock file, polled so the waiting task stays cancellable. flock
/// locks die with their process, so a killed builder never leaves the hash locked.
final class FileLock: @unchecked Sendable {
    private var fd: Int32
    private init(fd: Int32) { self.fd = fd }

    static func acquire(path: String) async throws -> FileLock {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw IndexError(.storage, "cannot open the lock file \(path): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno != EWOULDBLOCK && errno != EINTR {
                close(fd)
                throw IndexError(.storage, "cannot lock \(path): \(String(cString: strerror(errno)))")
            }
            do { try await Task.sleep(nanoseconds: 20_000_000) } catch { close(fd); throw error }
        }
        return FileLock(fd: fd)
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
