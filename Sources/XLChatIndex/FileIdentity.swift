import Foundation
import XLChatWorkbook
#if canImport(Glibc)
import Glibc
#endif

/// What identifies one version of a file without reading it: device, inode, size (bytes) and
/// modification time (ns), from stat(2). Two identities are equal only when all four are; equal
/// identities are taken to mean equal content (the index answers a reopen from the catalog
/// without reading the file). When the identity differs the content may still be the same (a
/// touched or copied file): `WorkbookHandle` then compares the content hash (SHA-256 of the
/// bytes, `ContentHash`) before reading the file again.
///
/// The one identity type of the engine: the server's workbooks (`WorkbookHandle`), the index's
/// catalog (`file_identity` rows) and its loaded index files use it.
public struct FileIdentity: Sendable, Hashable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    /// Bytes.
    public var size: Int64
    /// Nanoseconds since 1970 (`st_mtim`).
    public var mtimeNanos: Int64

    public init(device: UInt64, inode: UInt64, size: Int64, mtimeNanos: Int64) {
        self.device = device; self.inode = inode; self.size = size; self.mtimeNanos = mtimeNanos
    }

    /// The identity of whatever is at `path` (any kind of file), nil when nothing is there.
    public init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.init(st)
    }

    /// The identity of the workbook file at `path`.
    /// - Throws: `WorkbookError.fileNotFound` when nothing is there or it cannot be read
    ///   (EACCES), `unsupportedFormat` for a directory, FIFO, device or socket (a read of
    ///   those would block or never end; the readers check the opened descriptor again).
    public init(workbookAt path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == EACCES { throw WorkbookError(.fileNotFound, "cannot read \(path): permission denied") }
            throw WorkbookError(.fileNotFound, "no such file: \(path)")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw WorkbookError(.unsupportedFormat, "\(path) is a directory, not a workbook") }
        if (st.st_mode & S_IFMT) != S_IFREG {
            throw WorkbookError(.unsupportedFormat, "\(path) is not a regular file: only regular workbook files can be opened")
        }
        self.init(st)
    }

    private init(_ st: stat) {
        device = UInt64(st.st_dev); inode = UInt64(st.st_ino); size = Int64(st.st_size)
        mtimeNanos = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }

    public var description: String { "dev \(device) ino \(inode) \(size) B mtime \(mtimeNanos) ns" }
}
