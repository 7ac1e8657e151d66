#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file opened for sequential reading, with open failures mapped to `WorkbookError` kinds the
/// same way for every reader: missing or unreadable -> `.fileNotFound`, a directory ->
/// `.unsupportedFormat`. Plain POSIX calls: no buffering of our own beyond what callers ask for.
final class FileInput {
    let path: String
    let size: Int64
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        let opened = try FileInput.openRegularFile(path)
        fd = opened.fd
        size = opened.size
    }

    deinit { close(fd) }

    /// Opens `path` read-only and checks, on the opened descriptor (`fstat`, so a file swapped
    /// in between cannot slip through), that it is a regular file. The open uses `O_NONBLOCK`:
    /// opening a FIFO with no writer would otherwise block the engine thread forever, and
    /// `/dev/zero` or a socket would be read without end. Everything that is not a regular file
    /// (directory, FIFO, character or block device, socket) is `.unsupportedFormat` with a
    /// "not a regular file" message. Returns the descriptor (blocking mode restored) and size.
    static func openRegularFile(_ path: String) throws -> (fd: Int32, size: Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 {
            if errno == EISDIR { throw WorkbookError(.unsupportedFormat, "\(path) is a directory, not a workbook file") }
            throw FileInput.openError(errno, path)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            close(fd)
            throw FileInput.openError(code, path)
        }
        let type = st.st_mode & S_IFMT
        guard type == S_IFREG else {
            close(fd)
            let what: String
            switch type {
            case S_IFDIR: what = "a directory"
            case S_IFIFO: what = "a FIFO (named pipe)"
            case S_IFCHR: what = "a character device"
            case S_IFBLK: what = "a block device"
            case S_IFSOCK: what = "a socket"
            default: what = "a special file"
            }
            throw WorkbookError(.unsupportedFormat, "\(path) is \(what), not a regular file: only regular workbook files can be opened")
        }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        return (fd, Int64(st.st_size))
    }

    static func openError(_ code: Int32, _ path: String) -> WorkbookError {
        switch code {
        case EACCES, EPERM:
            return WorkbookError(.fileNotFound, "permission denied: cannot read \(path)")
        case ENOENT, ENOTDIR:
            return WorkbookError(.fileNotFound, "no such file: \(path)")
        default:
            return WorkbookError(.fileNotFound, "cannot open \(path): \(String(cString: strerror(code)))")
        }
    }

    /// Reads up to `buffer.count` bytes; 0 at end of file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            #if canImport(Glibc)
            let n = Glibc.read(fd, base, buffer.count)
            #elseif canImport(Musl)
            let n = Musl.read(fd, base, buffer.count)
            #else
            let n = Darwin.read(fd, base, buffer.count)
            #endif
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EISDIR {
                throw WorkbookError(.unsupportedFormat, "\(path) is a directory, not a workbook file")
            }
            throw WorkbookError(.corruptWorkbook, "read error on \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Reads until `count` bytes or end of file.
    func readFully(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        try out.withUnsafeMutableBytes { raw in
            while filled < count {
                let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
                if n == 0 { break }
                filled += n
            }
        }
        out.removeSubrange(filled...)
        return out
    }
}
