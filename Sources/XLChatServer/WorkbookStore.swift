import Foundation
import Synchronization
import XLChatIndex
import XLChatProtocol
import XLChatWorkbook

/// The workbooks the server has opened, shared by every session. A workbook's id is derived
/// from its canonical path, so the same file always has the same id (across sessions and
/// restarts); its outline is cached by the file's identity on disk (device, inode, size,
/// modification time) and recomputed when the file changes.
final class WorkbookStore: Sendable {
    struct Entry: Sendable {
        let id: String
        let path: String
        let displayName: String
        let fingerprint: FileFingerprint
        let outline: WorkbookOutline
    }

    private let entries = Mutex<[String: Entry]>([:])
    let bufferDirectory: String

    /// The index, when the data directory is usable: opening through it builds the typed
    /// tables in the same pass as the outline, and reopens without reading the file.
    /// It throws only the shared store's errors (`storeDenied`, `storeUnavailable`): an open must
    /// not quietly fall back to a local outline when the team's store is configured but refused.
    let index: @Sendable () throws -> WorkbookIndex?

    init(dataDirectory: String, index: @escaping @Sendable () throws -> WorkbookIndex? = { nil }) {
        bufferDirectory = dataDirectory + "/buffers"
        self.index = index
    }

    static func workbookID(forPath path: String) -> String {
        "wb-" + ContentHash.sha256(string: path).prefix(16)
    }

    /// Opens (or returns the cached outline of) the file at `path`.
    func open(path rawPath: String, displayName: String? = nil, token: CancellationToken,
              progress: ((Double, String) -> Void)? = nil) throws -> Entry {
        let path = Self.canonical(rawPath)
        let id = Self.workbookID(forPath: path)
        let fingerprint = try FileFingerprint(path: path)
        if let cached = entries.withLock({ $0[id] }), cached.fingerprint == fingerprint {
            return cached
        }
        if let index = try index() {
            do {
                let opened = try index.open(path: path, progress: { u in progress?(u.fraction, u.message) },
                                            isCancelled: { token.isCancelled })
                let name = displayName ?? entries.withLock({ $0[id]?.displayName }) ?? (path as NSString).lastPathComponent
                let entry = Entry(id: id, path: path, displayName: name, fingerprint: fingerprint, outline: opened.outline)
                entries.withLock { $0[id] = entry }
                return entry
            } catch let e as IndexError where e.kind == .storage || e.kind == .storageFull {
                // The index cannot be written: the outline alone still serves workbook/read;
                // a query will report the storage error when it needs the tables.
            }
        }
        let hash = try ContentHash.sha256(path: path)
        if let cached = entries.withLock({ $0[id] }), cached.outline.contentHash == hash {
            // Touched but unchanged: keep the outline, note the new fingerprint.
            let refreshed = Entry(id: id, path: path, displayName: cached.displayName, fingerprint: fingerprint, outline: cached.outline)
            entries.withLock { $0[id] = refreshed }
            return refreshed
        }
        try token.check()
        let reader = try Workbooks.open(path: path)
        (reader as? EvaluatingReader)?.isCancelled = { token.isCancelled }
        let outline = try WorkbookOutline.build(reader: reader, path: path, contentHash: hash) { index, count, name in
            try token.check()
            progress?(Double(index) / Double(max(count, 1)), "reading sheet '\(name)'")
        }
        let entry = Entry(id: id, path: path, displayName: displayName ?? (path as NSString).lastPathComponent,
                          fingerprint: fingerprint, outline: outline)
        entries.withLock { $0[id] = entry }
        return entry
    }

    /// Opens an unsaved buffer's text (csv/tsv): written to the data directory under a name
    /// derived from its content, then opened like a file. The id follows the buffer's name.
    func open(text: String, format: String, name: String, token: CancellationToken) throws -> Entry {
        guard format == "csv" || format == "tsv" else {
            throw WorkbookError(.unsupportedFormat, "text can be opened as csv or tsv, not '\(format)'")
        }
        // Stored as <buffers>/<content hash>/<name>.<format>, so the sheet is named after the buffer.
        var stem = ((name as NSString).lastPathComponent as NSString).deletingPathExtension
        stem = String(stem.map { $0 == "/" || $0 == "\0" ? "_" : $0 })
        if stem.isEmpty || stem.hasPrefix(".") { stem = "buffer" + stem }
        let folder = bufferDirectory + "/" + ContentHash.sha256(string: text).prefix(24)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let file = folder + "/" + stem + "." + format
        if !FileManager.default.fileExists(atPath: file) {
            try Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
        }
        let opened = try open(path: file, displayName: name, token: token)
        // The buffer's id is its name's, so edits to the same buffer keep one id.
        let id = Self.workbookID(forPath: "buffer:" + name)
        let entry = Entry(id: id, path: opened.path, displayName: name, fingerprint: opened.fingerprint, outline: opened.outline)
        entries.withLock { $0[id] = entry }
        return entry
    }

    /// The entry for `id`, re-read when its file changed on disk since it was opened.
    func entry(_ id: String, token: CancellationToken) throws -> Entry {
        guard let cached = entries.withLock({ $0[id] }) else {
            throw ResponseError.work(.unknownWorkbook, "unknown workbook '\(id)': open it with workbook/open first")
        }
        if let now = try? FileFingerprint(path: cached.path), now == cached.fingerprint { return cached }
        if cached.id != Self.workbookID(forPath: cached.path) {
            return cached  // a buffer: its file is content-addressed and never changes
        }
        return try open(path: cached.path, displayName: cached.displayName, token: token)
    }

    /// The path of an open workbook whose current version has `hash`.
    func path(forHash hash: String) -> String? {
        entries.withLock { $0.values.first { $0.outline.contentHash == hash }?.path }
    }

    func forget(_ id: String) {
        entries.withLock { _ = $0.removeValue(forKey: id) }
    }

    static func canonical(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let absolute = expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
        return URL(fileURLWithPath: absolute).standardizedFileURL.resolvingSymlinksInPath().path
    }
}

/// What identifies a version of a file without reading it.
struct FileFingerprint: Sendable, Hashable {
    let device: UInt64, inode: UInt64, size: Int64, mtimeNanos: Int64

    init(path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let err = errno
            if err == EACCES { throw WorkbookError(.fileNotFound, "cannot read \(path): permission denied") }
            throw WorkbookError(.fileNotFound, "no such file: \(path)")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw WorkbookError(.unsupportedFormat, "\(path) is a directory, not a workbook") }
        // A FIFO, device or socket would block (or never end) the read that follows; the
        // readers check again on the opened descriptor.
        if (st.st_mode & S_IFMT) != S_IFREG {
            throw WorkbookError(.unsupportedFormat, "\(path) is not a regular file: only regular workbook files can be opened")
        }
        device = UInt64(st.st_dev); inode = UInt64(st.st_ino); size = Int64(st.st_size)
        mtimeNanos = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }
}

/// The index under a data directory, opened on first use (shared by the server and its
/// `WorkbookStore`, which opens files through it).
final class LazyIndex: Sendable {
    let dataDirectory: String
    private let state = Mutex<WorkbookIndex?>(nil)
    private let onCreate = Mutex<(@Sendable (WorkbookIndex) -> Void)?>(nil)
    /// The shared store to install on the index (nil: SQLite only). When it throws (the server
    /// is down, the role refused) the index is not kept, so the next request tries again.
    let sharedStore: @Sendable () throws -> (any SharedTableStore)?
    init(dataDirectory: String, sharedStore: @escaping @Sendable () throws -> (any SharedTableStore)? = { nil }) {
        self.dataDirectory = dataDirectory
        self.sharedStore = sharedStore
    }
    /// Called once with the index when it is first opened.
    func setOnCreate(_ f: @escaping @Sendable (WorkbookIndex) -> Void) { onCreate.withLock { $0 = f } }
    func get() throws -> WorkbookIndex {
        let (index, created) = try state.withLock { state -> (WorkbookIndex, Bool) in
            if let state { return (state, false) }
            let index = try WorkbookIndex(dataDirectory: URL(fileURLWithPath: dataDirectory))
            if let shared = try sharedStore() { index.setSharedStore(shared) }
            state = index
            return (index, true)
        }
        if created, let f = onCreate.withLock({ $0 }) { f(index) }
        return index
    }
}
