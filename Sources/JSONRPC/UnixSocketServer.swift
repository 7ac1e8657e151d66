import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct SocketError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Listens on a unix domain socket (mode 0600) and runs one `Connection` per client, each
/// with its own handler (session). A stale socket file is replaced; a live one is left alone.
public final class UnixSocketServer: Sendable {
    public let path: String
    private let logger: Logger
    private let options: Connection.Options
    private let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    /// Open client channels, closed on shutdown so their sessions end.
    private let clients = Mutex<[ObjectIdentifier: any Channel]>([:])

    private init(path: String, logger: Logger, options: Connection.Options,
                 channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>) {
        self.path = path; self.logger = logger; self.options = options; self.channel = channel
    }

    /// Binds the socket. Throws when another server is listening on `path`.
    public static func bind(path: String, options: Connection.Options = .init(), logger: Logger) async throws -> UnixSocketServer {
        try removeStaleSocket(at: path)
        let oldMask = umask(0o177)  // the socket file is created 0600
        defer { umask(oldMask) }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false) { child in
                child.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
                }
            }
        chmod(path, 0o600)
        return UnixSocketServer(path: path, logger: logger, options: options, channel: channel)
    }

    /// A socket file nobody listens on is removed; a live one makes this throw.
    static func removeStaleSocket(at path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw SocketError(description: "\(path) exists and is not a socket; not replacing it")
        }
        if isListening(path) {
            throw SocketError(description: "another server is already listening on \(path)")
        }
        unlink(path)
    }

    static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return rc == 0
    }

    /// Serves clients until the task is cancelled or `shutdown()`. `makeHandler` makes each
    /// connection's handler (its session).
    public func run(makeHandler: @escaping @Sendable (Connection) -> any MessageHandler) async throws {
        defer { unlink(path) }
        try await withThrowingDiscardingTaskGroup { group in
            try await channel.executeThenClose { clients in
                for try await client in clients {
                    let key = ObjectIdentifier(client.channel)
                    self.clients.withLock { $0[key] = client.channel }
                    group.addTask { [options, logger] in
                        defer { self.clients.withLock { _ = $0.removeValue(forKey: key) } }
                        do {
                            try await client.executeThenClose { inbound, outbound in
                                let connection = Connection(
                                    source: ChannelSource(inbound.makeAsyncIterator()),
                                    sink: ChannelSink(outbound), options: options, logger: logger)
                                logger.debug("client connected", metadata: ["connection": "\(connection.id)"])
                                await connection.run(handler: makeHandler(connection))
                                logger.debug("client disconnected", metadata: ["connection": "\(connection.id)"])
                            }
                        } catch {
                            logger.debug("client connection ended with error: \(error)")
                        }
                    }
                }
            }
        }
    }

    /// Stops accepting and closes every client connection.
    public func shutdown() async {
        try? await channel.channel.close()
        let open = clients.withLock { Array($0.values) }
        for c in open { try? await c.close() }
    }
}

/// The inbound side of a NIO channel as a `ByteSource`. Only the connection's read loop calls it.
final class ChannelSource: ByteSource, @unchecked Sendable {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    init(_ iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) { self.iterator = iterator }
    func read() async throws -> [UInt8]? {
        guard let buffer = try await iterator.next() else { return nil }
        return Array(buffer.readableBytesView)
    }
}

final class ChannelSink: ByteSink, Sendable {
    private let writer: NIOAsyncChannelOutboundWriter<ByteBuffer>
    init(_ writer: NIOAsyncChannelOutboundWriter<ByteBuffer>) { self.writer = writer }
    func write(_ bytes: [UInt8]) async throws {
        try await writer.write(ByteBuffer(bytes: bytes))
    }
    func close() async { writer.finish() }
}
