// Noticing added, changed and removed workbooks in a workspace folder (issue 12). No file-watcher
// package is in the machine's package list, so this is a small wrapper over Linux's inotify(7)
// with a polling fallback. Events are only a trigger: after a quiet period the folder is
// scanned again (stat only, no file is read: 10,000 files scan in ~0.4 s, WorkspaceScannerTests)
// and compared with the last listing by size and mtime. That is robust to how programs save:
// Excel writes `~$` owner files and renames a temporary file over the workbook, LibreOffice
// writes `.~lock` files, editors write and rename; each save ends as one `changed`.
import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What changed in a workspace folder between two listings.
public struct WorkspaceDelta: Sendable, Hashable {
    public var added: [WorkspaceFile] = []
    /// Files whose size or modification time differ.
    public var changed: [WorkspaceFile] = []
    /// Relative paths of files that are gone (or no longer match the include/exclude globs).
    public var removed: [String] = []
    public var isEmpty: Bool { added.isEmpty && changed.isEmpty && removed.isEmpty }
    public init(added: [WorkspaceFile] = [], changed: [WorkspaceFile] = [], removed: [String] = []) {
        self.added = added; self.changed = changed; self.removed = removed
    }

    /// The difference from `old` to `new`, each list in path order.
    public static func between(_ old: [WorkspaceFile], _ new: [WorkspaceFile]) -> WorkspaceDelta {
        let before = Dictionary(old.map { ($0.relativePath, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Set(new.map(\.relativePath))
        var d = WorkspaceDelta()
        for f in new {
            if let b = before[f.relativePath] {
                if b.size != f.size || b.mtimeNs != f.mtimeNs { d.changed.append(f) }
            } else {
                d.added.append(f)
            }
        }
        d.removed = old.map(\.relativePath).filter { !after.contains($0) }
        return d
    }
}

/// Watches a folder and reports each settled change as a `WorkspaceDelta`.
///
/// - inotify (Linux): every folder the scanner enters is watched for creation, deletion,
///   writes, renames and attribute changes; folders created later are watched at the next
///   rescan. When inotify is missing or the per-user watch limit is reached
///   (`fs.inotify.max_user_watches`, ENOSPC), the watcher polls instead and says so in `mode`.
/// - Polling: a rescan every `pollInterval`.
/// A change is reported once the folder has been quiet for `settle` (default 300 ms), so a save
/// that writes, renames and touches is one delta. `onChange` runs on the watcher's own queue,
/// one call at a time. `stop()` (or deinit) ends it; no call follows `stop()`'s return.
/// While a change waits out its settle time `isSettling` is true, so answers given in that
/// window can say they may be stale. A root that is deleted or renamed away is reported as
/// every file removed (its watch ends with the root; a folder made again at that path is not
/// watched: open the workspace again).
public final class FolderWatcher: @unchecked Sendable {
    public enum Mode: Sendable, Hashable {
        case inotify
        case polling(reason: String)
    }

    public let root: String
    public let scanner: WorkspaceScanner
    public private(set) var mode: Mode
    private let settle: DispatchTimeInterval
    private let pollInterval: DispatchTimeInterval
    private let queue = DispatchQueue(label: "xlchat.workspace.watch")
    private let onChange: @Sendable (WorkspaceDelta) -> Void

    // Touched only on `queue`.
    private var files: [WorkspaceFile]
    private var fd: Int32 = -1
    private var watches: [Int32: String] = [:]
    private var watchedPaths: Set<String> = []
    private var source: DispatchSourceRead?
    private var timer: DispatchSourceTimer?
    private var pending: DispatchWorkItem?
    private var stopped = false
    private let settlingFlag = NSLock()
    private var settlingValue = false

    /// True from an inotify event until its settled rescan has been reported (always false
    /// when polling: a poll sees a change only when it reports it).
    public var isSettling: Bool { settlingFlag.withLock { settlingValue } }
    private func setSettling(_ v: Bool) { settlingFlag.withLock { settlingValue = v } }

    /// Starts watching `root`, taking `initial` (a listing made by `scanner`) as what is known.
    /// `forcePolling` skips inotify (tests, network file systems where inotify sees nothing).
    public init(root: String, scanner: WorkspaceScanner, initial: [WorkspaceFile],
                settle: DispatchTimeInterval = .milliseconds(300), pollInterval: DispatchTimeInterval = .seconds(2),
                forcePolling: Bool = false, onChange: @escaping @Sendable (WorkspaceDelta) -> Void) {
        self.root = root
        self.scanner = scanner
        self.files = initial
        self.settle = settle
        self.pollInterval = pollInterval
        self.onChange = onChange
        self.mode = .polling(reason: "not started")
        queue.setSpecific(key: Self.onQueue, value: true)
        queue.sync {
            if forcePolling {
                startPolling(reason: "polling was asked for")
            } else {
                startInotify()
            }
        }
    }

    deinit {
        // Not `stop()`: the last reference may go on the watcher's own queue (a handler's
        // temporary strong reference), where a `queue.sync` would deadlock.
        pending?.cancel()
        timer?.cancel()
        source?.cancel()
        if source == nil, fd >= 0 { close(fd) }
    }

    private static let onQueue = DispatchSpecificKey<Bool>()

    /// Stops watching; returns once no `onChange` call is running or will run (when called
    /// from `onChange` itself: no further call will run).
    public func stop() {
        let body = {
            guard !self.stopped else { return }
            self.stopped = true
            self.pending?.cancel()
            self.timer?.cancel()
            if let source = self.source { source.cancel() } else if self.fd >= 0 { close(self.fd) }
            self.source = nil
            self.fd = -1
        }
        if DispatchQueue.getSpecific(key: Self.onQueue) == true { body() } else { queue.sync(execute: body) }
    }

    // MARK: inotify

    private static let mask: UInt32 = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM
        | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

    private func startInotify() {
        #if os(Linux)
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { startPolling(reason: "inotify is not available (\(String(cString: strerror(errno))))"); return }
        self.fd = fd
        if let failure = addWatches() {
            close(fd); self.fd = -1
            startPolling(reason: failure)
            return
        }
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [weak self] in self?.drain() }
        source.setCancelHandler { close(fd) }
        source.resume()
        self.source = source
        mode = .inotify
        #else
        startPolling(reason: "inotify is Linux only")
        #endif
    }

    /// Watches the root and every folder under it the scanner would enter. Nil, or why not.
    private func addWatches() -> String? {
        #if os(Linux)
        var folders = [root]
        // By device and inode, so a symlink loop (a/up -> a) is entered once, not forever.
        var seen: Set<[UInt64]> = []
        while let dir = folders.popLast() {
            var dst = stat()
            guard stat(dir, &dst) == 0, seen.insert([UInt64(dst.st_dev), UInt64(dst.st_ino)]).inserted else { continue }
            if !watchedPaths.contains(dir) {
                let wd = inotify_add_watch(fd, dir, Self.mask)
                if wd < 0 {
                    if errno == ENOSPC { return "the inotify watch limit (fs.inotify.max_user_watches) is reached" }
                    continue  // unreadable or gone: the scanner reports it
                }
                watches[wd] = dir
                watchedPaths.insert(dir)
            }
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for name in names where !name.hasPrefix(".") {
                let path = dir + "/" + name
                var st = stat()
                if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, scanner.enters(path) { folders.append(path) }
            }
            if watchedPaths.count > 100_000 { return "more than 100,000 folders to watch" }
        }
        #endif
        return nil
    }

    private func drain() {
        #if os(Linux)
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var any = false
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            any = true
            // Forget watches whose folder went away (IN_IGNORED follows their removal).
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= n {
                let (wd, mask, len) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, UInt32) in
                    let e = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (e.wd, e.mask, e.len)
                }
                if mask & UInt32(IN_IGNORED) != 0, let path = watches.removeValue(forKey: wd) { watchedPaths.remove(path) }
                offset += MemoryLayout<inotify_event>.size + Int(len)
            }
        }
        if any { schedule() }
        #endif
    }

    // MARK: polling

    private func startPolling(reason: String) {
        mode = .polling(reason: reason)
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + pollInterval, repeating: pollInterval)
        t.setEventHandler { [weak self] in self?.rescan() }
        t.resume()
        timer = t
    }

    // MARK: settling and rescans

    private func schedule() {
        setSettling(true)
        pending?.cancel()
        let item = DispatchWorkItem { [weak self] in self?.rescan() }
        pending = item
        queue.asyncAfter(deadline: .now() + settle, execute: item)
    }

    private func rescan() {
        defer { setSettling(false) }
        guard !stopped else { return }
        let current: [WorkspaceFile]
        do {
            current = try scanner.scan(root).files
        } catch WorkspaceScanError.notFound, WorkspaceScanError.notAFolder {
            // The root was deleted or renamed away: every file it held is gone.
            current = []
        } catch {
            return  // unreadable for now (permissions mid-change): the next event rescans
        }
        let delta = WorkspaceDelta.between(files, current)
        files = current
        if fd >= 0, addWatches() != nil {
            // Too many folders now: keep going by polling.
            source?.cancel(); source = nil
            fd = -1
            startPolling(reason: "the inotify watch limit (fs.inotify.max_user_watches) is reached")
        }
        if !delta.isEmpty { onChange(delta) }
    }
}

extension WorkspaceScanner {
    /// Whether a scan enters the folder at `path` (not hidden, not a skipped data directory).
    func enters(_ path: String) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        if name.hasPrefix(".") { return false }
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        for skip in skipDirectories {
            var s2 = stat()
            if stat(skip, &s2) == 0, s2.st_dev == st.st_dev, s2.st_ino == st.st_ino { return false }
        }
        return true
    }
}
