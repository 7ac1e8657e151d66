import Foundation
import Logging
import Synchronization
import XLChatProtocol
import XLChatServer

/// The notifications an in-process client received, in order, as the typed values sent.
public final class NotificationLog: Sendable {
    private let state = Mutex<[any NotificationType]>([])
    public init() {}
    public func record(_ notification: any NotificationType) { state.withLock { $0.append(notification) } }
    /// Those of one type, in order.
    public func all<N: NotificationType>(_ type: N.Type) -> [N] { state.withLock { $0.compactMap { $0 as? N } } }
}

extension InProcessClient {
    /// A typed in-process client for tests: a real server over a fresh temporary data
    /// directory (no model server reachable unless the configuration names one), initialized.
    public static func forTests(configuration: ServerConfiguration = TestClient.temporaryConfiguration(),
                                notifications: NotificationLog? = nil) async throws -> InProcessClient {
        var logger = Logger(label: "xlchat.test")
        logger.logLevel = .critical
        return try await InProcessClient(configuration: configuration, logger: logger, clientName: "xlchat-tests") { notification in
            notifications?.record(notification)
        }
    }
}
