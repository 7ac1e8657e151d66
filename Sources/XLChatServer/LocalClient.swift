import Foundation
import JSONRPC
import Logging
import XLChatProtocol

/// The in-process client: typed requests straight into a real session's request core
/// (`Session.handle(_:context:)`), with no framing and no JSON on the way in or out, and typed
/// notifications back (`$/progress`, `chat/delta`, `chat/step`, `chat/status` reach
/// `onNotification` as the values the server sends). The command line
/// (`xlchat open/read/query/index/ask`) and the tests (`XLChatTestSupport`) use it, so they run
/// the same handlers, limits, threading and `ErrorMapping` as a client of `xlchat serve`.
public final class InProcessClient: Sendable {
    public let server: XLChatServer
    public let session: Session
    private let connection: Connection

    /// Starts a server and one session, and sends `initialize` (unless `initialize` is false).
    /// - Throws: `ResponseError` from `initialize`.
    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "xlchat"),
                clientName: String = "xlchat-cli", initialize: Bool = true,
                onNotification: @escaping @Sendable (any NotificationType) -> Void = { _ in }) async throws {
        server = XLChatServer(configuration: configuration, logger: logger)
        connection = Connection(source: NoBytes(), sink: NoBytes(), logger: logger,
                                notificationObserver: { onNotification($0) })
        session = server.makeSession(for: connection)
        if initialize {
            _ = try await send(InitializeRequest(clientInfo: ClientInfo(name: clientName, version: XLChatVersion.current)))
        }
    }

    /// Sends a typed request and returns its typed response.
    /// - Throws: `ResponseError`, exactly as a wire client would receive it.
    public func send<R: RequestType>(_ request: R) async throws(ResponseError) -> R.Response {
        try await session.handle(request)
    }
}

/// The command line's name for the in-process client.
public typealias LocalClient = InProcessClient

/// No bytes either way: requests go to the core directly and notifications to the observer.
private struct NoBytes: ByteSource, ByteSink {
    func read() async throws -> [UInt8]? { nil }
    func write(_ bytes: [UInt8]) async throws {}
    func close() async {}
}
