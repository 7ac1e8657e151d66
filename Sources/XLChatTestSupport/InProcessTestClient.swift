import Foundation
import Logging
import Synchronization
import XLChatProtocol
import XLChatServer

/// The notifications an in-process client received, in order (method, params).
public final class NotificationLog: Sendable {
    private let state = Mutex<[(String, JSONValue)]>([])
    public init() {}
    public func record(_ method: String, _ params: JSONValue) { state.withLock { $0.append((method, params)) } }
    public func all(method: String) -> [JSONValue] { state.withLock { $0.filter { $0.0 == method }.map(\.1) } }
}

extension InProcessClient {
    /// A typed in-process client for tests: a real server over a fresh temporary data
    /// directory (no model server reachable unless the configuration names one), initialized.
    public static func forTests(configuration: ServerConfiguration = TestClient.temporaryConfiguration(),
                                notifications: NotificationLog? = nil) async throws -> InProcessClient {
        var logger = Logger(label: "xlchat.test")
        logger.logLevel = .critical
        return try await InProcessClient(configuration: configuration, logger: logger, clientName: "xlchat-tests") { method, params in
            notifications?.record(method, params)
        }
    }
}
