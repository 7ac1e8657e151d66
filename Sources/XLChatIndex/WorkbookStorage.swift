import Foundation
import XLChatWorkbook

/// The calls a `WorkbookHandle` makes on the store behind it: open a file (outline + typed
/// tables in one pass; also how missing tables are rebuilt), say what is built, build the
/// search part, query, search. `WorkbookIndex` (SQLite under the data directory) is the store today; a
/// second store (another database) can sit behind a handle by answering these calls.
public protocol WorkbookStorage: AnyObject, Sendable {
    /// The outline of the file at `path`, with the typed tables of its current content built
    /// (or found already built). See `WorkbookIndex.open`.
    func open(path: String, progress: ((ProgressUpdate) -> Void)?, isCancelled: @escaping @Sendable () -> Bool) throws -> OpenedWorkbook
    /// `open`, except that with `shareable == false` (an editor's unsaved buffer) the typed
    /// tables stay in this machine's store even when a shared one is installed, and that
    /// version's queries run here (docs/team.md: buffers are not shared).
    func open(path: String, progress: ((ProgressUpdate) -> Void)?, isCancelled: @escaping @Sendable () -> Bool,
              shareable: Bool) throws -> OpenedWorkbook
    /// Which parts of the index of content hash `hash` are built: the typed tables (what SQL
    /// needs) and the search part (chunks, FTS5, vectors).
    func readiness(hash: String) -> (tables: Bool, search: Bool)
    /// Builds (or keeps) both parts: the tables when missing, then the search part with
    /// `embedder` (its vectors recomputed when only the embedder differs).
    func build(outline: WorkbookOutline, reader: any WorkbookReader, embedder: any Embedder, force: Bool,
               progress: (@Sendable (ProgressUpdate) -> Void)?) async throws -> BuildResult
    /// One read-only SELECT over the typed tables of `hash`.
    func query(hash: String, sql: String, limit: Int, timeout: Double, limits: QueryLimits,
               isCancelled: (@Sendable () -> Bool)?) throws -> QueryResult
    /// Hybrid search over the search part of `hash`.
    func search(hash: String, query: String, limit: Int, embedder: any Embedder, waitForBuild: Bool) async throws -> [SearchHit]
}

extension WorkbookStorage {
    public func open(path: String, progress: ((ProgressUpdate) -> Void)?, isCancelled: @escaping @Sendable () -> Bool,
                     shareable: Bool) throws -> OpenedWorkbook {
        try open(path: path, progress: progress, isCancelled: isCancelled)
    }
}

extension WorkbookIndex: WorkbookStorage {
    public func readiness(hash: String) -> (tables: Bool, search: Bool) {
        guard let s = try? status(hash: hash) else { return (false, false) }
        return (s.tablesReady, s.searchReady)
    }
}
