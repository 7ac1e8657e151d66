import Foundation
import JSONRPC
import Logging
import XLChatProtocol

/// The in-process client: typed requests straight into a real session's request core
/// (`Session.handle(_:context:)`), with no framing and no JSON on the way in or out. The
/// command line (`xlchat open/read/query/index/ask`), the tests (`XLChatTestSupport`) and the
/// benchmarks use it, so they run the same handlers, limits, threading and `ErrorMapping` as
/// a client of `xlchat serve`. Notifications the session sends (`$/progress`, `chat/delta`,
/// `chat/step`, `chat/status`) reach `onNotification` (method, params).
public final class InProcessClient: Sendable {
    public let server: XLChatServer
    public let session: Session
    private let connection: Connection

    /// Starts a server and one session, and sends `initialize` (unless `initialize` is false).
    /// - Throws: `ResponseError` from `initialize`.
    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "xlchat"),
                clientName: String = "xlchat-cli", initialize: Bool = true,
                onNotification: @escaping @Sendable (String, JSONValue) -> Void = { _, _ in }) async throws {
        server = XLChatServer(configuration: configuration, logger: logger)
        connection = Connection(source: SilentSource(), sink: NotificationSink(onNotification), logger: logger)
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

/// No input: the in-process client calls the session directly.
private struct SilentSource: ByteSource {
    func read() async throws -> [UInt8]? { nil }
}

/// Decodes the frames a session writes and hands notifications to a callback.
private final class NotificationSink: ByteSink, @unchecked Sendable {
    private let callback: @Sendable (String, JSONValue) -> Void
    private let lock = NSLock()
    private var decoder = FrameDecoder(framing: .contentLength)

    init(_ callback: @escaping @Sendable (String, JSONValue) -> Void) { self.callback = callback }

    func write(_ bytes: [UInt8]) async throws {
        var messages: [JSONValue] = []
        lock.withLock {
            decoder.append(bytes)
            while let item = decoder.next() {
                if case let .message(body) = item, let v = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) {
                    messages.append(v)
                }
            }
        }
        for m in messages {
            if let method = m["method"]?.stringValue { callback(method, m["params"] ?? .null) }
        }
    }

    func close() async {}
}
