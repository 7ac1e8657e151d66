import Foundation
import Synchronization
import XLChatWorkbook

/// One workbook file and everything the engine keeps about it: its id, the identity of the
/// version last opened (`FileIdentity`), that version's outline, a reader kept open for
/// `read_range`/`trace`, and the one answer to "is it indexed?" (`ensureIndexed`,
/// `ensureSearchIndex`). The server's registry holds one handle per workbook id; every
/// request, MCP tool and command goes through it.
///
/// Lifecycle: `current(token:)` checks the file's identity (a stat, no read) before any use;
/// when it differs the content hash decides: the same content keeps the outline (a touched or
/// copied file), other content is opened again (`WorkbookStorage.open`: the outline and the
/// typed tables in one pass over the file, issue 12). A file changing while it is read is the
/// store's to detect (`IndexError.fileChanged`).
///
/// Builds: the typed tables are what SQL waits for (issue 13); the search part (chunks, FTS5,
/// vectors) is built after them, on first search or in the background. Each is built once per
/// content hash however many callers ask at once (`SharedBuilds`). A caller whose task is
/// cancelled stops waiting; a tables build nobody waits for any more is cancelled (its
/// `CancellationToken` set; the store leaves no half-built index and the next call builds
/// again); a search build runs on.
///
/// Errors keep their kinds: `WorkbookError` (fileNotFound, unsupportedFormat, corrupt, …),
/// `IndexError` (storage, storageFull, fileChanged, …), `CancellationError`.
public final class WorkbookHandle: Sendable {
    public let id: String
    /// The canonical path of the file (for a buffer: the file its text was written to).
    public let path: String
    public let displayName: String
    /// An unsaved buffer written under the data directory by content: its file never changes.
    public let isBuffer: Bool
    /// The store behind the handle; throws when the data directory cannot be used (then the
    /// outline is still read from the file, and the calls that need the index report why).
    let storage: @Sendable () throws -> any WorkbookStorage

    struct Version: Sendable {
        var identity: FileIdentity
        var outline: WorkbookOutline
        /// Bumped at each (re)open, so a reader of an older version is not reused.
        var generation: Int
    }

    /// What the handle did, for tests and metrics: how often the file was opened, the typed
    /// tables and the search part built (an existing build that was kept does not count), and
    /// readers opened for `withReader`.
    public struct Counts: Sendable, Hashable {
        public var opens = 0
        public var tableBuilds = 0
        public var searchBuilds = 0
        public var readerOpens = 0
        public init(opens: Int = 0, tableBuilds: Int = 0, searchBuilds: Int = 0, readerOpens: Int = 0) {
            self.opens = opens; self.tableBuilds = tableBuilds; self.searchBuilds = searchBuilds; self.readerOpens = readerOpens
        }
    }

    private let version = Mutex<Version?>(nil)
    /// Held while the file is (re)opened, so two callers that see it changed open it once.
    private let reopening = NSLock()
    private let counters = Mutex(Counts())
    /// Where this handle's reader is kept between reads.
    let keptReaders: KeptReaders
    private let tableBuilds = SharedBuilds<WorkbookOutline>(cancelsWhenAbandoned: true)
    private let searchBuilds = SharedBuilds<BuildResult>(cancelsWhenAbandoned: false)

    /// A handle for the file at `path`, not opened yet (`current` opens it).
    /// `keptReaders`: where its reader is kept between reads (the process's by default).
    public init(id: String, path: String, displayName: String, isBuffer: Bool = false,
                storage: @escaping @Sendable () throws -> any WorkbookStorage, keptReaders: KeptReaders = .shared) {
        self.id = id; self.path = path; self.displayName = displayName; self.isBuffer = isBuffer; self.storage = storage
        self.keptReaders = keptReaders
    }

    /// Opens the file at `path` (see `current`) and returns its handle.
    public static func open(path: String, id: String, displayName: String? = nil, isBuffer: Bool = false,
                            storage: @escaping @Sendable () throws -> any WorkbookStorage, keptReaders: KeptReaders = .shared,
                            token: CancellationToken = CancellationToken(),
                            progress: ((ProgressUpdate) -> Void)? = nil) throws -> WorkbookHandle {
        let handle = WorkbookHandle(id: id, path: path, displayName: displayName ?? (path as NSString).lastPathComponent,
                                    isBuffer: isBuffer, storage: storage, keptReaders: keptReaders)
        _ = try handle.current(token: token, progress: progress)
        return handle
    }

    // MARK: - The current version

    /// The outline of the version last opened; nil before the first `current`.
    public var outline: WorkbookOutline? { version.withLock { $0?.outline } }
    /// The identity of the version last opened; nil before the first `current`.
    public var identity: FileIdentity? { version.withLock { $0?.identity } }
    public var counts: Counts { counters.withLock { $0 } }

    /// True when the file on disk is still the version last opened (one stat).
    public var isCurrent: Bool {
        guard let v = version.withLock({ $0 }) else { return false }
        return isBuffer || FileIdentity(path: path) == v.identity
    }

    /// The outline of the file's current version: the one kept when the identity is unchanged,
    /// else the file opened again (a touched file with the same content keeps its outline).
    /// Blocks (reads and hashes the file, may build its typed tables): call it on the
    /// engine's threads (`Blocking.run`).
    /// - Throws: `WorkbookError` for a file that is gone or unreadable, `IndexError.fileChanged`
    ///   when it kept changing while read, `CancellationError` when `token` is cancelled.
    public func current(token: CancellationToken, progress: ((ProgressUpdate) -> Void)? = nil) throws -> WorkbookOutline {
        if let v = version.withLock({ $0 }), isBuffer || FileIdentity(path: path) == v.identity { return v.outline }
        return try whileReopening(token: token) {
            let previous = version.withLock { $0 }
            if let v = previous, FileIdentity(path: path) == v.identity { return v.outline }
            let (identity, outline, built) = try load(previous: previous?.outline, token: token, progress: progress)
            install(identity: identity, outline: outline, builtTables: built)
            return outline
        }
    }

    /// Runs `body` holding the reopen lock; waiting for it stays cancellable (a caller that
    /// finds another reopening the file waits for that, not for a reopen of its own).
    private func whileReopening<T>(token: CancellationToken, _ body: () throws -> T) throws -> T {
        while !reopening.lock(before: Date().addingTimeInterval(0.02)) { try token.check() }
        defer { reopening.unlock() }
        return try body()
    }

    private func install(identity: FileIdentity, outline: WorkbookOutline, builtTables: Bool) {
        version.withLock { v in v = Version(identity: identity, outline: outline, generation: (v?.generation ?? 0) + 1) }
        dropReaders()
        counters.withLock { $0.opens += 1; if builtTables { $0.tableBuilds += 1 } }
    }

    /// Reads the file at `path`: through the store (outline + typed tables in one pass, or
    /// the stored outline when this content is indexed), else (no usable store) the outline
    /// alone. The identity is taken before the read: a change during it makes the next use
    /// open again rather than keep a stale outline.
    private func load(previous: WorkbookOutline?, token: CancellationToken,
                      progress: ((ProgressUpdate) -> Void)?) throws -> (FileIdentity, WorkbookOutline, Bool) {
        let identity = try FileIdentity(workbookAt: path)
        // A shared store that is configured but down or refusing is an error, not a quiet
        // fall-back to a local outline (issue 15); a bad data directory still falls back.
        let usable: (any WorkbookStorage)?
        do { usable = try storage() } catch let e as IndexError where e.kind == .storeDenied || e.kind == .storeUnavailable {
            throw e
        } catch { usable = nil }
        if let store = usable {
            do {
                let opened = try store.open(path: path, progress: progress, isCancelled: { token.isCancelled }, shareable: !isBuffer)
                return (identity, opened.outline, !opened.reused)
            } catch let e as IndexError where e.kind == .storage || e.kind == .storageFull {
                // The index cannot be written: the outline alone still serves reads; a query
                // reports the storage error when it needs the tables (`ensureIndexed`).
            }
        }
        let hash = try ContentHash.workbookVersion(path: path)
        if let previous, previous.contentHash == hash { return (identity, previous, false) }
        try token.check()
        let reader = try Workbooks.open(path: path)
        (reader as? EvaluatingReader)?.isCancelled = { token.isCancelled }
        let outline = try WorkbookOutline.build(reader: reader, path: path, contentHash: hash) { index, count, name in
            try token.check()
            progress?(ProgressUpdate(fraction: Double(index) / Double(max(count, 1)), message: "reading sheet '\(name)'"))
        }
        return (identity, outline, false)
    }

    // MARK: - The index

    /// Makes sure the typed tables of the file's current version are built (what SQL needs)
    /// and returns that version's outline. Usually a check: opening built them in its pass.
    /// When they are missing (deleted, or the store was unusable at open) the file is opened
    /// again through the store, once however many callers ask (they join one build and all
    /// see its `progress`). `owner` is the connection the engine work runs for (`EnginePool`).
    /// - Throws: `IndexError.storage`/`storageFull` when the index cannot be written (the
    ///   previous index stays), `fileChanged`, `WorkbookError` for an unreadable file,
    ///   `CancellationError` when the calling task is cancelled (the build stops when no
    ///   caller waits for it any more, leaving no half index).
    @discardableResult
    public func ensureIndexed(owner: Int = 0, progress: (@Sendable (ProgressUpdate) -> Void)? = nil) async throws -> WorkbookOutline {
        let outline: WorkbookOutline
        if let v = version.withLock({ $0 }), isBuffer || FileIdentity(path: path) == v.identity {
            outline = v.outline
        } else {
            outline = try await Blocking.run(owner: owner) { token in try self.current(token: token, progress: progress) }
        }
        let store = try storage()
        if store.readiness(hash: outline.contentHash).tables { return outline }
        return try await tableBuilds.run(key: outline.contentHash, report: progress) { report in
            try await Blocking.run(owner: owner) { token in
                // Opened again under the builds' one-at-a-time rule: the store's one-pass open
                // checks the identity before and after its read and never stores a mix.
                try self.whileReopening(token: token) {
                    let identity = try FileIdentity(workbookAt: self.path)
                    let opened = try store.open(path: self.path, progress: report, isCancelled: { token.isCancelled }, shareable: !self.isBuffer)
                    self.install(identity: identity, outline: opened.outline, builtTables: !opened.reused)
                }
                return self.outline ?? outline
            }
        }
    }

    /// Makes sure both parts are built: the typed tables (`ensureIndexed`), then the search
    /// part with `embedder` (built once per content hash; a cancelled caller stops waiting
    /// but the build runs on, so its work is not wasted).
    /// - Throws: as `ensureIndexed`; `IndexError.embedderFailed` or the model client's error
    ///   when `embedder` fails.
    @discardableResult
    public func ensureSearchIndex(embedder: any Embedder, owner: Int = 0,
                                  progress: (@Sendable (ProgressUpdate) -> Void)? = nil) async throws -> WorkbookOutline {
        let outline = try await ensureIndexed(owner: owner, progress: progress)
        let store = try storage()
        if store.readiness(hash: outline.contentHash).search { return outline }
        _ = try await searchBuilds.run(key: outline.contentHash, report: progress, work: searchWork(outline, store, embedder, force: false))
        return outline
    }

    /// Starts building the search part in the background when it is missing (after a
    /// question answered from the tables); never waits, never throws.
    public func startSearchIndex(embedder: any Embedder) {
        guard let outline, let store = try? storage(), isCurrent,
              store.readiness(hash: outline.contentHash).tables, !store.readiness(hash: outline.contentHash).search else { return }
        searchBuilds.start(key: outline.contentHash, work: searchWork(outline, store, embedder, force: false))
    }

    /// Builds (or keeps) both parts and says what was done (`index/build`); `force` rebuilds
    /// both even when current.
    public func build(embedder: any Embedder, force: Bool = false, owner: Int = 0,
                      progress: (@Sendable (ProgressUpdate) -> Void)? = nil) async throws -> BuildResult {
        let outline = try await ensureIndexed(owner: owner, progress: progress)
        let store = try storage()
        let key = outline.contentHash + (force ? "#force" : "")
        return try await searchBuilds.run(key: key, report: progress, work: searchWork(outline, store, embedder, force: force))
    }

    /// 0...1 while the search part of the current version is being built here; nil otherwise.
    public var searchProgress: Double? { outline.flatMap { searchBuilds.progress($0.contentHash) } }

    /// Builds of either part whose work has not returned yet (cancelled ones included).
    public var buildsInFlight: Int { tableBuilds.inFlight + searchBuilds.inFlight }

    private func searchWork(_ outline: WorkbookOutline, _ store: any WorkbookStorage, _ embedder: any Embedder,
                            force: Bool) -> @Sendable (@escaping SharedBuilds<BuildResult>.Report) async throws -> BuildResult {
        { report in
            try await Blocking.runAsync {
                guard self.isBuffer || FileIdentity(path: self.path) == self.identity else {
                    throw IndexError(.fileChanged, "\(self.path) changed since it was opened; ask again to index its new version")
                }
                let reader = try Workbooks.open(path: self.path)
                let result = try await store.build(outline: outline, reader: reader, embedder: embedder, force: force, progress: report)
                if !result.reused { self.counters.withLock { $0.searchBuilds += 1 } }
                return result
            }
        }
    }

    /// One read-only SELECT over the typed tables of `outline`'s version (from `ensureIndexed`).
    public func query(_ outline: WorkbookOutline, sql: String, limit: Int = 500, timeout: Double = 3,
                      limits: QueryLimits = .default, isCancelled: (@Sendable () -> Bool)? = nil) throws -> QueryResult {
        try storage().query(hash: outline.contentHash, sql: sql, limit: limit, timeout: timeout, limits: limits, isCancelled: isCancelled)
    }

    /// Hybrid search over the search part of `outline`'s version (from `ensureSearchIndex`).
    public func search(_ outline: WorkbookOutline, query: String, limit: Int = 10, embedder: any Embedder) async throws -> [SearchHit] {
        try await storage().search(hash: outline.contentHash, query: query, limit: limit, embedder: embedder, waitForBuild: true)
    }

    // MARK: - The kept reader

    /// Runs `body` with a reader of the file's current version: the one kept open since the
    /// last read when the file is unchanged (its identity is checked first, `current`), else
    /// a new one. A second concurrent caller gets a reader of its own (readers are not
    /// thread-safe: one user at a time takes the kept one out and puts it back after).
    /// `evaluatingFormulas`: formula cells saved without a value come back computed
    /// (`EvaluatingReader`); off for tracing formulas. Blocks: call it on the engine's threads.
    /// - Throws: what `current` and `body` throw; a reader whose `body` threw is not kept.
    public func withReader<T>(evaluatingFormulas: Bool = true, token: CancellationToken,
                              _ body: (any WorkbookReader) throws -> T) throws -> T {
        _ = try current(token: token)
        guard let generation = version.withLock({ $0?.generation }) else { throw CancellationError() }
        let key = KeptReaders.Key(owner: ObjectIdentifier(self), evaluating: evaluatingFormulas)
        let reader: any WorkbookReader
        if let kept = keptReaders.take(key, generation: generation) { reader = kept } else {
            reader = try Workbooks.open(path: path, evaluateFormulas: evaluatingFormulas)
            counters.withLock { $0.readerOpens += 1 }
        }
        (reader as? EvaluatingReader)?.isCancelled = { token.isCancelled }
        let result = try body(reader)
        (reader as? EvaluatingReader)?.isCancelled = { false }
        if version.withLock({ $0?.generation }) == generation {
            keptReaders.put(key, generation: generation, reader: reader)
        }
        return result
    }

    private func dropReaders() { keptReaders.drop(owner: ObjectIdentifier(self)) }

    deinit { dropReaders() }
}

/// Readers kept open between reads by `WorkbookHandle`s, least recently used closed first.
/// A kept xlsx reader holds its zip directory, shared strings and styles; the bound keeps a
/// server with many open workbooks from holding all of them. `shared` serves every handle of
/// the process unless one is given its own.
public final class KeptReaders: @unchecked Sendable {
    /// 8 readers for the whole process.
    public static let shared = KeptReaders(capacity: 8)

    struct Key: Hashable {
        var owner: ObjectIdentifier
        var evaluating: Bool
    }
    private struct Entry {
        var key: Key
        var generation: Int
        var reader: any WorkbookReader
    }

    /// Readers kept at most.
    public let capacity: Int
    private let lock = NSLock()
    /// Least recently put first.
    private var entries: [Entry] = []

    public init(capacity: Int) { self.capacity = max(0, capacity) }

    /// Readers kept now.
    public var count: Int { lock.withLock { entries.count } }

    /// The reader kept for `key` at `generation`, taken out (nil when none; one of an older
    /// generation is closed).
    func take(_ key: Key, generation: Int) -> (any WorkbookReader)? {
        lock.withLock {
            guard let i = entries.firstIndex(where: { $0.key == key }) else { return nil }
            let e = entries.remove(at: i)
            return e.generation == generation ? e.reader : nil
        }
    }

    /// Keeps `reader` for `key` unless one is kept already (a concurrent user's); closes the
    /// least recently used past `capacity`.
    func put(_ key: Key, generation: Int, reader: any WorkbookReader) {
        lock.withLock {
            if let i = entries.firstIndex(where: { $0.key == key }) {
                if entries[i].generation >= generation { return }
                entries.remove(at: i)
            }
            guard capacity > 0 else { return }
            entries.append(Entry(key: key, generation: generation, reader: reader))
            if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        }
    }

    func drop(owner: ObjectIdentifier) {
        lock.withLock { entries.removeAll { $0.key.owner == owner } }
    }
}
