import Foundation
import JSONRPC
import Logging
import Synchronization
import XLChatAgent
import XLChatIndex
import XLChatPostgres
import XLChatLLM
import XLChatProtocol
import XLChatWorkbook

/// The server: state shared by every connection (configuration, metrics, open workbooks,
/// indexes), and a `Session` per connection. Transports live in `JSONRPC`; `xlchat serve`
/// wires them to `makeSession(for:)`.
public final class XLChatServer: Sendable {
    public let configuration: ServerConfiguration
    public let metrics: ServerMetrics
    public let logger: Logger
    let workbooks: WorkbookRegistry
    let workspaces = WorkspaceStore()
    private let indexState: LazyIndex
    private let sessionState = Mutex<SessionStore?>(nil)
    private let embedderState = Mutex<(any Embedder)?>(nil)

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "xlchat")) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = ServerMetrics()
        let lazy = LazyIndex(dataDirectory: configuration.dataDirectory, sharedStore: {
            try configuration.postgresSettings().map { try PostgresTableStore(settings: $0) }
        })
        self.indexState = lazy
        self.workbooks = WorkbookRegistry(dataDirectory: configuration.dataDirectory, storage: { try lazy.get() })
        DataDirectoryPermissions.secure(configuration.dataDirectory, logger: logger)
        let metrics = self.metrics
        lazy.setOnCreate { [weak self] index in
            index.setQueryObserver { metrics.storeQueryFinished($0) }
            self?.installSearchBuilder(on: index)
        }
    }

    /// The engine's handle of an open workbook (its outline, identity, kept reader and
    /// builds), for front ends and tests that look behind the requests; nil for an unknown id.
    public func workbookHandle(id: String) -> WorkbookHandle? { try? workbooks.handle(id) }
    /// The handle of the file at `path` when this server opened it (directly or for a
    /// workspace), else nil; opens nothing.
    public func workbookHandle(path: String) -> WorkbookHandle? { workbooks.existing(path: path) }

    /// The index under the data directory, opened on first use (so a bad data directory shows
    /// in `server/health` and in the requests that need it, not as a failed start).
    func index() throws -> WorkbookIndex { try indexState.get() }

    /// The embedder that builds and searches vectors: the model server's `embedModel` when one
    /// is configured (its vector size probed once), else the built-in one, which needs no network.
    func embedder() async throws -> any Embedder {
        if configuration.embedModel.isEmpty { return HashingEmbedder() }
        if let e = embedderState.withLock({ $0 }) { return e }
        let probed = try await configuration.makeEmbedder()
        embedderState.withLock { $0 = probed }
        return probed
    }

    /// Conversations and the answer cache (`sessions.sqlite` under the data directory).
    func sessionStore() throws -> SessionStore {
        try sessionState.withLock { state in
            if let state { return state }
            let store = try SessionStore(dataDirectory: URL(fileURLWithPath: configuration.dataDirectory))
            state = store
            return store
        }
    }

    /// The model server's client, as the configuration says (provider, address, key).
    func modelClient(policy: HTTPPolicy = .default) throws -> any ModelClient {
        try configuration.makeModelClient(policy: policy)
    }

    /// A new session (the handler of one connection).
    public func makeSession(for connection: Connection) -> Session {
        metrics.connectionOpened()
        return Session(server: self, connection: connection)
    }

    /// Every request method the server answers, in the order the spec lists them (the
    /// request registry's, `RequestRegistry.routes`).
    public static let requestMethods: [String] = RequestRegistry.routes.map(\.method)

    /// The workbook formats `workbook/open` reads, as `initialize` lists them: the engine's one
    /// list (`WorkbookFormat`).
    public static let formats: [String] = WorkbookFormat.allCases.map(\.rawValue)

    /// Notifications the server accepts from clients.
    public static let clientNotifications: [String] = [
        InitializedNotification.method, ExitNotification.method, CancelRequestNotification.method,
    ]

    /// Notifications the server sends.
    public static let serverNotifications: [String] = [
        ProgressNotification.method, ChatDeltaNotification.method, ChatStepNotification.method, ChatStatusNotification.method,
        WorkspaceDidChangeNotification.method,
    ]
}

extension ServerConfiguration {
    /// The model client's configuration these settings describe (the one place settings become
    /// a `ModelClientConfiguration`: `serve`, `ask`, `eval`, `doctor` and MCP all use it).
    /// - Throws: `LLMError(.invalidConfiguration)` for an unknown provider or a bad base URL.
    public func modelClientConfiguration(policy: HTTPPolicy = .default) throws -> ModelClientConfiguration {
        try ModelClientConfiguration(provider: provider, ollamaHost: ollamaHost, baseURL: baseURL, apiKey: apiKey,
                                     openAIStreamsToolCalls: openAIStreamsToolCalls, policy: policy)
    }

    /// The model server's client this configuration describes (provider, address, key).
    public func makeModelClient(policy: HTTPPolicy = .default) throws -> any ModelClient {
        try modelClientConfiguration(policy: policy).makeClient()
    }

    /// The embedder the configuration asks for: the model server's `embedModel` (its vector
    /// size probed with one request), or the built-in hashing embedder when none is set.
    public func makeEmbedder() async throws -> any Embedder {
        if embedModel.isEmpty { return HashingEmbedder() }
        return try await ModelServerEmbedder.probe(client: makeModelClient(), model: embedModel)
    }
}

/// Everything under the data directory is private to its user: directories 0700, files 0600
/// (indexes with their -wal/-shm, locks, staging files, sessions, stored editor buffers).
/// Before (issue 14, item 1): 0755 directories and 0644 files, so another local user could
/// read index rows and unsaved buffers.
public enum DataDirectoryPermissions {
    /// Sets the process umask to 077, so every file and directory the process creates from now
    /// on (SQLite's included) is private, then tightens what exists already under `directory`.
    public static func secure(_ directory: String, logger: Logger? = nil) {
        umask(0o077)
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (path, isDirectory, mode) in loose(directory) {
            let wanted: mode_t = isDirectory ? 0o700 : 0o600
            if chmod(path, wanted) != 0 {
                logger?.warning("cannot make \(path) private (mode \(String(mode, radix: 8))): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Entries under `directory` (itself included) readable or writable by group or others:
    /// (path, is a directory, mode). Symbolic links are not followed.
    public static func loose(_ directory: String) -> [(String, Bool, mode_t)] {
        var out: [(String, Bool, mode_t)] = []
        func visit(_ path: String, depth: Int) {
            var st = stat()
            guard lstat(path, &st) == 0 else { return }
            let type = st.st_mode & S_IFMT
            guard type == S_IFDIR || type == S_IFREG else { return }
            let mode = st.st_mode & 0o777
            if mode & 0o077 != 0 { out.append((path, type == S_IFDIR, mode)) }
            if type == S_IFDIR, depth < 8, let names = try? FileManager.default.contentsOfDirectory(atPath: path) {
                for n in names { visit(path + "/" + n, depth: depth + 1) }
            }
        }
        visit(directory, depth: 0)
        return out
    }
}
