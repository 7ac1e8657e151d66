import Foundation
import Synchronization
import XLChatIndex
import XLChatProtocol
import XLChatWorkbook

/// The workbooks the server has opened, shared by every session: a registry of
/// `WorkbookHandle`s (the engine's one owner of a workbook's lifecycle: identity, outline,
/// kept reader, index builds). A workbook's id is derived from its canonical path, so the
/// same file always has the same id (across sessions and restarts).
final class WorkbookRegistry: Sendable {
    private let handles = Mutex<[String: WorkbookHandle]>([:])
    let bufferDirectory: String
    /// The store behind every handle (the index under the data directory, opened on first use).
    let storage: @Sendable () throws -> any WorkbookStorage

    init(dataDirectory: String, storage: @escaping @Sendable () throws -> any WorkbookStorage) {
        bufferDirectory = dataDirectory + "/buffers"
        self.storage = storage
    }

    static func workbookID(forPath path: String) -> String {
        "wb-" + ContentHash.sha256(string: path).prefix(16)
    }

    /// Opens the file at `path` (its handle's current version: see `WorkbookHandle.current`).
    /// Two opens of the same file share one handle, so they read it once.
    func open(path rawPath: String, token: CancellationToken, progress: ((ProgressUpdate) -> Void)? = nil) throws -> WorkbookHandle {
        let path = Self.canonical(rawPath)
        let id = Self.workbookID(forPath: path)
        let handle = handles.withLock { h in
            if let known = h[id] { return known }
            let new = WorkbookHandle(id: id, path: path, displayName: (path as NSString).lastPathComponent, storage: storage)
            h[id] = new
            return new
        }
        do {
            _ = try handle.current(token: token, progress: progress)
        } catch {
            // A handle that never opened is not kept (the next open tries afresh).
            if handle.outline == nil { handles.withLock { if $0[id] === handle { $0[id] = nil } } }
            throw error
        }
        return handle
    }

    /// Opens an unsaved buffer's text (csv/tsv): written to the data directory under a name
    /// derived from its content, then opened like a file. The id follows the buffer's name.
    func open(text: String, format: String, name: String, token: CancellationToken) throws -> WorkbookHandle {
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
        // The buffer's id is its name's, so edits to the same buffer keep one id.
        let id = Self.workbookID(forPath: "buffer:" + name)
        if let known = handles.withLock({ $0[id] }), known.path == file { return known }
        let handle = try WorkbookHandle.open(path: file, id: id, displayName: name, isBuffer: true, storage: storage, token: token)
        handles.withLock { $0[id] = handle }
        return handle
    }

    /// The handle of `id`.
    /// - Throws: `unknownWorkbook` when no workbook with that id was opened.
    func handle(_ id: String) throws -> WorkbookHandle {
        guard let handle = handles.withLock({ $0[id] }) else {
            throw ResponseError.work(.unknownWorkbook, "unknown workbook '\(id)': open it with workbook/open first")
        }
        return handle
    }

    /// The handle of the file at `path` when one was opened (a workspace's refresh opens each
    /// of its files), else nil. Opens nothing.
    func existing(path: String) -> WorkbookHandle? {
        let id = Self.workbookID(forPath: Self.canonical(path))
        return handles.withLock { $0[id] }
    }

    /// The handle of an open workbook whose current version has content hash `hash`.
    func handle(forHash hash: String) -> WorkbookHandle? {
        handles.withLock { $0.values.first { $0.outline?.contentHash == hash } }
    }

    func forget(_ id: String) {
        handles.withLock { _ = $0.removeValue(forKey: id) }
    }

    static func canonical(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let absolute = expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
        return URL(fileURLWithPath: absolute).standardizedFileURL.resolvingSymlinksInPath().path
    }
}

/// The index under a data directory, opened on first use (shared by the server and its
/// `WorkbookRegistry`, whose handles open files through it).
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
