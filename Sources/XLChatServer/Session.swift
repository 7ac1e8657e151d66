import Foundation
import JSONRPC
import Logging
import Synchronization
import XLChatIndex
import XLChatPostgres
import XLChatProtocol

/// One connection's session: its lifecycle (initialize → initialized → shutdown → exit), its
/// open workbooks, and the dispatch of each request to its handler.
public final class Session: MessageHandler, Sendable {
    enum Lifecycle: Sendable { case uninitialized, running, shutDown }

    struct State: Sendable {
        var lifecycle = Lifecycle.uninitialized
        /// The connection presented the server's token (always true when there is none).
        var authorized = false
        var clientName: String?
        var exitCode: Int32?
        /// The workbooks this session opened (ids → paths).
        var openWorkbooks: [String: String] = [:]
        /// The workspaces this session opened (ids).
        var openWorkspaces: Set<String> = []
    }

    let server: XLChatServer
    let connection: Connection
    let state = Mutex(State())
    var logger: Logger { connection.logger }

    init(server: XLChatServer, connection: Connection) {
        self.server = server
        self.connection = connection
    }

    /// The process exit code the session asked for with `exit` (0 after `shutdown`, else 1),
    /// or nil when it ended without `exit`.
    public var exitCode: Int32? { state.withLock { $0.exitCode } }

    public func scheduling(of method: String) -> RequestScheduling {
        // Before `initialize` and after `shutdown` every request is answered at once, in order,
        // so a request sent just before `exit` still gets its error.
        if state.withLock({ $0.lifecycle != .running }) { return .exclusive }
        switch method {
        case InitializeRequest.method, ShutdownRequest.method: return .exclusive
        default: return .concurrent
        }
    }

    /// A request from the connection: decoded once into its type, then the typed core
    /// (`RequestCore.swift`).
    public func handle(request: IncomingRequest, context: RequestContext) async throws -> any Encodable & Sendable {
        try await handleWire(request, context: context)
    }

    /// Whether a request of `method` may run now: the token (a server started with
    /// `--token-file` answers only `initialize` until it is given) and the lifecycle.
    /// - Throws: `unauthorized` (-32001), `serverNotInitialized` (-32002), or invalid request
    ///   after `shutdown`.
    func admit(method: String) throws(ResponseError) {
        let (lifecycle, authorized) = state.withLock { ($0.lifecycle, $0.authorized) }
        if server.configuration.authToken != nil, !authorized {
            guard method == InitializeRequest.method, lifecycle == .uninitialized else {
                throw ResponseError.work(.unauthorized, "unauthorized: this server wants its token; send it as 'authToken' in 'initialize'")
            }
        }
        switch lifecycle {
        case .uninitialized:
            guard method == InitializeRequest.method else { throw ResponseError.serverNotInitialized }
        case .shutDown:
            throw ResponseError.invalidRequest("invalid request: the server is shutting down; only 'exit' is accepted")
        case .running:
            break
        }
    }

    /// Checks `initialize`'s `authToken` against the server's (constant time).
    func authorize(_ params: InitializeRequest) throws(ResponseError) {
        guard let token = server.configuration.authToken, !state.withLock({ $0.authorized }) else { return }
        guard let given = params.authToken, Self.constantTimeEqual(given, token) else {
            throw ResponseError.work(.unauthorized, "unauthorized: 'initialize' did not carry this server's token ('authToken')")
        }
        state.withLock { $0.authorized = true }
    }

    private static let nextInProcessID = Atomic<Int64>(1)

    /// The context of a request made in-process (no wire id): notifications it sends
    /// (`$/progress`, `chat/delta`) go to this session's connection.
    func inProcessContext(method: String) -> RequestContext {
        let id = RequestID.string("in-process-\(Self.nextInProcessID.add(1, ordering: .relaxed).oldValue)")
        return RequestContext(id: id, method: method, connection: connection)
    }

    public func handle(notification: IncomingNotification, connection: Connection) async {
        switch notification.method {
        case InitializedNotification.method:
            break
        case ExitNotification.method:
            state.withLock { $0.exitCode = $0.lifecycle == .shutDown ? 0 : 1 }
            connection.close()
        default:
            // Unknown notifications are ignored, as JSON-RPC and LSP require.
            logger.trace("ignored notification \(notification.method)")
        }
    }

    public func responseError(for error: any Error, method: String) -> ResponseError {
        ErrorMapping.responseError(for: error, method: method, logger: logger)
    }

    public func connectionClosed(_ connection: Connection) async {
        server.workspaces.unsubscribe(connection)
        server.metrics.connectionClosed()
    }

    // MARK: lifecycle

    /// Compares without stopping at the first difference, so timing does not reveal the prefix.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return diff == 0
    }

    func initialize(_ params: InitializeRequest) throws -> InitializeResult {
        try state.withLock { s in
            guard s.lifecycle == .uninitialized else {
                throw ResponseError.invalidRequest("invalid request: 'initialize' was already sent on this connection")
            }
            s.lifecycle = .running
            s.clientName = params.clientInfo?.name
        }
        logger.info("initialized by \(params.clientInfo?.name ?? "an unnamed client") \(params.clientInfo?.version ?? "")")
        return InitializeResult(
            serverInfo: ServerInfo(name: "xlchat", version: XLChatVersion.current),
            protocolVersion: XLChatVersion.protocolVersion,
            capabilities: ServerCapabilities(
                methods: XLChatServer.requestMethods,
                notifications: XLChatServer.serverNotifications,
                formats: XLChatServer.formats))
    }

    func shutdown() -> VoidResponse {
        state.withLock { $0.lifecycle = .shutDown }
        return VoidResponse()
    }

    // MARK: server

    func health() async -> HealthResult {
        var checks: [String: String] = [:]
        var details: [String: String] = [:]
        checks["storage"] = StorageCheck.run(directory: server.configuration.dataDirectory)
        details["dataDirectory"] = server.configuration.dataDirectory
        details["version"] = XLChatVersion.current
        // The typed tables' store: SQLite under the data directory (the storage check covers
        // it), or the team's PostgreSQL, diagnosed afresh (reachable, initialized, the roles'
        // rights); a failure makes the status `degraded` (opening and SQL need it).
        switch Result(catching: { try server.configuration.postgresSettings() }) {
        case .success(nil):
            checks["store"] = "ok"
            details["store"] = "sqlite"
        case .success(let settings?):
            let diagnosis = await Task.detached { PostgresTableStore.diagnose(settings: settings) }.value
            checks["store"] = diagnosis.summary
            details["store"] = diagnosis.store
            if let v = diagnosis.serverVersion { details["storeVersion"] = v }
        case .failure(let error):
            checks["store"] = "\((error as? IndexError)?.message ?? "\(error)")"
        }
        // The model server is one of the checks (../shared/design/protocol-contract.md): an
        // unreachable server or a missing model makes the status `degraded` (reading and SQL
        // still work; `chat/ask` does not).
        let llm = await llmHealth()
        if !llm.reachable {
            checks["llm"] = "unreachable: \(llm.endpoint)" + (llm.problem.map { " (\($0))" } ?? "")
        } else if llm.modelPulled == false {
            checks["llm"] = "model missing: \(llm.model) (ollama pull \(llm.model))"
        } else if llm.embedModelPulled == false, let e = llm.embedModel {
            checks["llm"] = "embedding model missing: \(e) (ollama pull \(e))"
        } else {
            checks["llm"] = "ok"
        }
        if let commit = XLChatVersion.commit { details["commit"] = commit }
        let ok = checks.values.allSatisfy { $0 == "ok" }
        return HealthResult(status: ok ? .ok : .degraded, checks: checks, details: details, llm: llm)
    }
}

enum StorageCheck {
    /// "ok" when the data directory exists (or can be made) and is writable.
    static func run(directory: String) -> String {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            return "cannot create \(directory): \(error.localizedDescription)"
        }
        let probe = directory + "/.xlchat-write-probe-\(getpid())"
        guard fm.createFile(atPath: probe, contents: Data("ok".utf8)) else { return "not writable: \(directory)" }
        try? fm.removeItem(atPath: probe)
        return "ok"
    }
}
