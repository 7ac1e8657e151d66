// Which files of a folder belong to a workspace (issue 12). A folder an editor opens holds more
// than workbooks: version-control folders, Excel's `~$` owner files while a workbook is open,
// LibreOffice's `.~lock.*#` files, our own data directory, symlink loops, subfolders the user
// cannot read. Each of those is skipped or reported per entry; the rest of the folder works.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One workbook file found under a workspace folder.
public struct WorkspaceFile: Sendable, Hashable {
    /// Absolute path, as reached from the folder (through symlinks, not resolved).
    public var path: String
    /// Path relative to the folder, `/`-separated (`2024/sales_jan.xlsx`).
    public var relativePath: String
    /// Size in bytes and modification time (ns since 1970), from stat(2) at scan time.
    public var size: Int64
    public var mtimeNs: Int64
    public init(path: String, relativePath: String, size: Int64, mtimeNs: Int64) {
        self.path = path; self.relativePath = relativePath; self.size = size; self.mtimeNs = mtimeNs
    }
}

/// An entry of the folder that could not be taken, with the reason in words.
public struct WorkspaceProblem: Sendable, Hashable {
    public var relativePath: String
    public var message: String
}

/// What a scan found: the workbook files in path order, the entries it could not take, and
/// whether the file cap cut the listing short.
public struct WorkspaceListing: Sendable {
    public var root: String
    public var files: [WorkspaceFile]
    public var problems: [WorkspaceProblem]
    /// Set when more than `maxFiles` workbooks were found; says how to go further.
    public var truncation: String?
}

public enum WorkspaceScanError: Error, Sendable, Hashable, CustomStringConvertible {
    case notFound(String)
    case notAFolder(String)
    case unreadable(String, String)
    public var description: String {
        switch self {
        case .notFound(let p): return "\(p) does not exist"
        case .notAFolder(let p): return "\(p) is a file, not a folder: open it as a workbook (workbook/open), or give its folder"
        case .unreadable(let p, let why): return "cannot read the folder \(p): \(why)"
        }
    }
}

/// Walks a workspace folder. Rules, in order, for each entry:
/// - names starting with `.` (hidden files and folders: `.git`, LibreOffice's `.~lock.x.ods#`)
///   and Excel's owner files (`~$Book.xlsx`, written while a workbook is open) are skipped;
/// - the data directory (`skipDirectories`, compared by device and inode, so any path to it
///   matches) is skipped;
/// - symlinks are followed; a folder already on the walk (same device and inode) is a loop and
///   is reported once, not entered; so is a link to a folder that contains the workspace; a
///   dangling or looping link is reported; a pipe, socket or device named like a workbook is
///   reported, never opened;
/// - a subfolder that cannot be read (EACCES) is reported and the walk goes on;
/// - a file is a workbook when its extension (lower-cased) is in `extensions`, it matches one
///   of `include` (when given) and none of `exclude` (fnmatch(3) globs on the relative path, so
///   `*.csv` matches in every subfolder; a glob without `/` is also tried on the file name);
/// - past `maxFiles` workbooks, the scan stops and says so in `truncation`.
/// Entries are visited in byte order of their names, so a listing (and the cap) is stable.
public struct WorkspaceScanner: Sendable {
    public var extensions: Set<String>
    public var include: [String]
    public var exclude: [String]
    public var maxFiles: Int
    public var skipDirectories: [String]
    /// At most this many directory entries are looked at in all (bounds a scan of `/`).
    public var maxEntries: Int

    public init(extensions: Set<String>, include: [String] = [], exclude: [String] = [],
                maxFiles: Int = 10_000, skipDirectories: [String] = [], maxEntries: Int = 1_000_000) {
        self.extensions = Set(extensions.map { $0.lowercased() })
        self.include = include
        self.exclude = exclude
        self.maxFiles = maxFiles
        self.skipDirectories = skipDirectories
        self.maxEntries = maxEntries
    }

    private struct NodeID: Hashable { var dev: UInt64; var ino: UInt64 }

    private static func nodeID(_ path: String) -> NodeID? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return NodeID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
    }

    /// Scans `folder`. Throws `WorkspaceScanError` when the folder itself does not exist, is a
    /// file, or cannot be read; problems below it are listed in the result instead.
    public func scan(_ folder: String) throws -> WorkspaceListing {
        let root = folder.count > 1 && folder.hasSuffix("/") ? String(folder.dropLast()) : folder
        var st = stat()
        guard stat(root, &st) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw WorkspaceScanError.notFound(root) }
            throw WorkspaceScanError.unreadable(root, String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw WorkspaceScanError.notAFolder(root) }
        guard let dir = opendir(root) else { throw WorkspaceScanError.unreadable(root, String(cString: strerror(errno))) }
        closedir(dir)

        var walk = Walk(scanner: self, skip: Set(skipDirectories.compactMap(Self.nodeID)), ancestors: Self.ancestors(of: root))
        walk.onPath.insert(NodeID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino)))
        walk.visit(directory: root, relative: "")
        return WorkspaceListing(root: root, files: walk.files, problems: walk.problems, truncation: walk.truncation)
    }

    /// The folders that contain `root` (its real path's parents up to `/`): a symlink inside
    /// the workspace to one of them would pull the whole parent in (`sub/loop -> ..` opened
    /// as `sub` indexed its parent, a 1M-row csv included).
    private static func ancestors(of root: String) -> Set<NodeID> {
        guard let real = realpath(root, nil) else { return [] }
        var path = String(cString: real)
        free(real)
        var out = Set<NodeID>()
        while path != "/" && !path.isEmpty {
            path = (path as NSString).deletingLastPathComponent
            if let id = nodeID(path) { out.insert(id) }
        }
        return out
    }

    private struct Walk {
        let scanner: WorkspaceScanner
        let skip: Set<NodeID>
        let ancestors: Set<NodeID>
        var onPath: Set<NodeID> = []
        var files: [WorkspaceFile] = []
        var problems: [WorkspaceProblem] = []
        var truncation: String?
        var entries = 0

        var stopped: Bool { truncation != nil }

        mutating func visit(directory: String, relative: String) {
            guard let dir = opendir(directory) else {
                problems.append(WorkspaceProblem(relativePath: relative.isEmpty ? "." : relative,
                                                 message: "cannot read this folder: \(String(cString: strerror(errno)))"))
                return
            }
            var names: [String] = []
            while let e = readdir(dir) {
                // A name that is not UTF-8 (Latin-1 names from old zips and shares) cannot be
                // reached through a String path: String(cString:) repairs it and lstat then
                // fails, so the file used to vanish from the workspace without a word.
                let (name, valid) = withUnsafePointer(to: e.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { (String(cString: $0), String(validatingCString: $0) != nil) }
                }
                if name == "." || name == ".." { continue }
                if !valid {
                    if !name.hasPrefix(".") {
                        let rel = relative.isEmpty ? name : relative + "/" + name
                        problems.append(WorkspaceProblem(relativePath: rel, message: "the name is not valid UTF-8 (shown with \u{FFFD}); rename it to include it"))
                    }
                    continue
                }
                names.append(name)
            }
            closedir(dir)
            names.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for name in names {
                if stopped { return }
                entries += 1
                if entries > scanner.maxEntries {
                    truncation = "the folder has more than \(scanner.maxEntries) entries; the scan stopped there: open a smaller folder or narrow it with include/exclude"
                    return
                }
                if name.hasPrefix(".") || name.hasPrefix("~$") { continue }
                let path = directory == "/" ? "/" + name : directory + "/" + name
                let rel = relative.isEmpty ? name : relative + "/" + name
                var lst = stat()
                guard lstat(path, &lst) == 0 else { continue }  // removed since readdir
                var st = lst
                let isLink = (lst.st_mode & S_IFMT) == S_IFLNK
                if isLink, stat(path, &st) != 0 {
                    let why = errno == ELOOP ? "a symlink loop" : "a symlink to nothing (\(String(cString: strerror(errno))))"
                    if scanner.wants(rel) { problems.append(WorkspaceProblem(relativePath: rel, message: why)) }
                    continue
                }
                let kind = st.st_mode & S_IFMT
                if kind == S_IFDIR {
                    let id = NodeID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
                    if skip.contains(id) { continue }
                    if onPath.contains(id) {
                        problems.append(WorkspaceProblem(relativePath: rel, message: "a symlink loop (this folder contains itself); not entered"))
                        continue
                    }
                    if ancestors.contains(id) {
                        problems.append(WorkspaceProblem(relativePath: rel, message: "a symlink to a folder that contains this workspace; not entered"))
                        continue
                    }
                    onPath.insert(id)
                    visit(directory: path, relative: rel)
                    onPath.remove(id)
                } else if kind == S_IFREG {
                    guard scanner.wants(rel) else { continue }
                    if files.count >= scanner.maxFiles {
                        truncation = "the folder has more than \(scanner.maxFiles) workbooks; only the first \(scanner.maxFiles) (in path order) are opened: narrow it with include/exclude or raise the cap"
                        return
                    }
                    files.append(WorkspaceFile(path: path, relativePath: rel, size: Int64(st.st_size),
                                               mtimeNs: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)))
                }
                else if scanner.wants(rel) {
                    // FIFOs, sockets and devices are never workbooks (reading a FIFO blocks):
                    // named like one, it is listed, not opened.
                    problems.append(WorkspaceProblem(relativePath: rel, message: "not a regular file (a pipe, socket or device); not opened"))
                }
            }
        }
    }

    /// Whether a file at `relativePath` is a workbook of this workspace (extension and globs).
    public func wants(_ relativePath: String) -> Bool {
        let name = relativePath.split(separator: "/").last.map(String.init) ?? relativePath
        guard let dot = name.lastIndex(of: "."), extensions.contains(name[name.index(after: dot)...].lowercased()) else { return false }
        if !include.isEmpty, !include.contains(where: { Self.glob($0, relativePath, name) }) { return false }
        return !exclude.contains(where: { Self.glob($0, relativePath, name) })
    }

    static func glob(_ pattern: String, _ relativePath: String, _ name: String) -> Bool {
        if fnmatch(pattern, relativePath, 0) == 0 { return true }
        return !pattern.contains("/") && fnmatch(pattern, name, 0) == 0
    }
}
