import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file descriptor with blocking `read(2)` on a thread of its own, one chunk per call,
/// so the connection's read loop is the only demand (natural backpressure). Works for pipes,
/// terminals, sockets and regular files alike (NIOPipeBootstrap refuses regular files).
public final class FileDescriptorSource: ByteSource, @unchecked Sendable {
    private let fd: Int32
    private let queue: DispatchQueue
    private let chunkSize: Int

    public init(fd: Int32, chunkSize: Int = 64 << 10) {
        self.fd = fd
        self.chunkSize = chunkSize
        self.queue = DispatchQueue(label: "xlchat.read.fd\(fd)")
    }

    public func read() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<[UInt8]?, any Error>) in
            queue.async { [fd, chunkSize] in
                var buffer = [UInt8](repeating: 0, count: chunkSize)
                while true {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, chunkSize) }
                    if n > 0 {
                        buffer.removeSubrange(n...)
                        c.resume(returning: buffer)
                        return
                    }
                    if n == 0 { c.resume(returning: nil); return }
                    if errno == EINTR { continue }
                    c.resume(throwing: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
                    return
                }
            }
        }
    }
}

/// Writes whole frames to a file descriptor in order, on a serial queue, so a slow reader
/// blocks that queue (and, through the suspended writers, the requests) rather than a
/// cooperative thread.
public final class FileDescriptorSink: ByteSink, @unchecked Sendable {
    private let fd: Int32
    private let queue: DispatchQueue
    private let closeOnFinish: Bool

    public init(fd: Int32, closeOnFinish: Bool = false) {
        self.fd = fd
        self.closeOnFinish = closeOnFinish
        self.queue = DispatchQueue(label: "xlchat.write.fd\(fd)")
    }

    public func write(_ bytes: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            queue.async { [fd] in
                var offset = 0
                while offset < bytes.count {
                    let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
                    if n >= 0 { offset += n; continue }
                    if errno == EINTR { continue }
                    c.resume(throwing: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
                    return
                }
                c.resume()
            }
        }
    }

    public func close() async {
        guard closeOnFinish else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            queue.async { [fd] in _ = Glibc.close(fd); c.resume() }
        }
    }
}

public enum StandardIO {
    /// Keeps stdout for protocol frames only: duplicates fd 1 for the protocol and points fd 1 at
    /// stderr, so a stray `print` cannot corrupt the stream. Returns the protocol's fd.
    public static func reserveStdoutForProtocol() -> Int32 {
        let protocolFD = dup(STDOUT_FILENO)
        dup2(STDERR_FILENO, STDOUT_FILENO)
        signal(SIGPIPE, SIG_IGN)
        return protocolFD
    }
}
