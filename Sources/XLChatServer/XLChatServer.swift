import Foundation
import JSONRPC
import Logging
import XLChatProtocol

/// The server: state shared by every connection (configuration, metrics, open workbooks,
/// indexes), and a `Session` per connection. Transports live in `JSONRPC`; `xlchat serve`
/// wires them to `makeSession(for:)`.
public final class XLChatServer: Sendable {
    public let configuration: ServerConfiguration
    public let metrics: ServerMetrics
    public let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "xlchat")) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = ServerMetrics()
    }

    /// A new session (the handler of one connection).
    public func makeSession(for connection: Connection) -> Session {
        metrics.connectionOpened()
        return Session(server: self, connection: connection)
    }

    /// Every request method the server answers, in the order the spec lists them.
    public static let requestMethods: [String] = [
        InitializeRequest.method, ShutdownRequest.method,
        HealthRequest.method, MetricsRequest.method, PingRequest.method,
    ]

    /// Notifications the server accepts from clients.
    public static let clientNotifications: [String] = [
        InitializedNotification.method, ExitNotification.method, CancelRequestNotification.method,
    ]

    /// Notifications the server sends.
    public static let serverNotifications: [String] = [ProgressNotification.method]
}
