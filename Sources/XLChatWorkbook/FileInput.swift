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
        var st = stat()
        if stat(path, &st) != 0 {
            throw FileInput.openError(errno, path)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw WorkbookError(.unsupportedFormat, "\(path) is a directory, not a workbook file")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw FileInput.openError(errno, path) }
        self.fd = fd
        self.size = Int64(st.st_size)
    }

    deinit { close(fd) }

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
