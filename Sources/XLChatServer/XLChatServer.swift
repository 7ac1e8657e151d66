import Foundation
import JSONRPC
import Logging
import Synchronization
import XLChatIndex
import XLChatProtocol

/// The server: state shared by every connection (configuration, metrics, open workbooks,
/// indexes), and a `Session` per connection. Transports live in `JSONRPC`; `xlchat serve`
/// wires them to `makeSession(for:)`.
public final class XLChatServer: Sendable {
    public let configuration: ServerConfiguration
    public let metrics: ServerMetrics
    public let logger: Logger
    let workbooks: WorkbookStore
    private let indexState = Mutex<WorkbookIndex?>(nil)

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "xlchat")) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = ServerMetrics()
        self.workbooks = WorkbookStore(dataDirectory: configuration.dataDirectory)
    }

    /// The index under the data directory, opened on first use (so a bad data directory shows
    /// in `server/health` and in the requests that need it, not as a failed start).
    func index() throws -> WorkbookIndex {
        try indexState.withLock { state in
            if let state { return state }
            let index = try WorkbookIndex(dataDirectory: URL(fileURLWithPath: configuration.dataDirectory))
            state = index
            return index
        }
    }

    /// The embedder that builds and searches vectors: the built-in one, which needs no network.
    func embedder() -> any Embedder {
        HashingEmbedder()
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
        WorkbookOpenRequest.method, WorkbookReadRequest.method, WorkbookQueryRequest.method, WorkbookCloseRequest.method,
        IndexBuildRequest.method, IndexSearchRequest.method, IndexStatusRequest.method,
    ]

    /// Notifications the server accepts from clients.
    public static let clientNotifications: [String] = [
        InitializedNotification.method, ExitNotification.method, CancelRequestNotification.method,
    ]

    /// Notifications the server sends.
    public static let serverNotifications: [String] = [ProgressNotification.method]
}
