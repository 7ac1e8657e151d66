import Foundation
import JSONRPC
import Logging
import XLChatProtocol

/// Runs requests through a real session in-process, without framing or JSON on the way in:
/// the command line uses it, so `xlchat open/read/query/ask` behave exactly as the server
/// does (same handlers, limits and errors). Notifications the session sends (`$/progress`,
/// `chat/delta`) reach `onNotification`.
public final class LocalClient: Sendable {
    private let session: Session
    private let connection: Connection

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "xlchat"),
                onNotification: @escaping @Sendable (String, JSONValue) -> Void = { _, _ in }) async throws {
        let server = XLChatServer(configuration: configuration, logger: logger)
        connection = Connection(source: SilentSource(), sink: NotificationSink(onNotification), logger: logger)
        session = server.makeSession(for: connection)
        _ = try await send(InitializeRequest(clientInfo: ClientInfo(name: "xlchat-cli", version: XLChatVersion.current)))
    }

    /// Sends a typed request; failures are thrown as `ResponseError`.
    public func send<R: RequestType>(_ request: R) async throws -> R.Response {
        let params = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(request))
        let incoming = IncomingRequest(id: .number(1), method: R.method, params: params)
        let context = RequestContext(id: incoming.id, method: R.method, connection: connection)
        let result = try await session.handle(request: incoming, context: context)
        guard let typed = result as? R.Response else {
            throw ResponseError.internalError("internal error: \(R.method) answered \(type(of: result))")
        }
        return typed
    }
}

/// No input: the local client calls the session directly.
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
