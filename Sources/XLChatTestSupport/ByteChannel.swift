import JSONRPC
import Synchronization

/// An in-memory, one-direction byte pipe: one side writes, the other reads. Lets a client and a
/// real server run in one process with no file descriptors in between.
public final class ByteChannel: ByteSource, ByteSink, Sendable {
    private struct State {
        var chunks: [[UInt8]] = []
        var closed = false
        var reader: CheckedContinuation<[UInt8]?, Never>?
    }
    private let state = Mutex(State())

    public init() {}

    public func write(_ bytes: [UInt8]) async throws {
        writeNow(bytes)
    }

    public func writeNow(_ bytes: [UInt8]) {
        let reader = state.withLock { s -> CheckedContinuation<[UInt8]?, Never>? in
            guard !s.closed else { return nil }
            if let r = s.reader { s.reader = nil; return r }
            s.chunks.append(bytes)
            return nil
        }
        reader?.resume(returning: bytes)
    }

    public func read() async throws -> [UInt8]? {
        await withCheckedContinuation { (c: CheckedContinuation<[UInt8]?, Never>) in
            let now = state.withLock { s -> [UInt8]?? in
                if !s.chunks.isEmpty { return .some(s.chunks.removeFirst()) }
                if s.closed { return .some(nil) }
                s.reader = c
                return .none
            }
            if let now { c.resume(returning: now) }
        }
    }

    public func close() async { closeNow() }

    public func closeNow() {
        let reader = state.withLock { s -> CheckedContinuation<[UInt8]?, Never>? in
            s.closed = true
            defer { s.reader = nil }
            return s.reader
        }
        reader?.resume(returning: nil)
    }
}
