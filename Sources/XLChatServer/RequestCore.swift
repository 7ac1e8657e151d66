import Foundation
import JSONRPC
import XLChatProtocol

/// The request core: every way into the engines (the JSON-RPC connection, the in-process
/// client the command line and tests use, the MCP tools) ends in
/// `Session.handle(_:context:)` with a typed request and gets its typed `Response`. Lifecycle,
/// authorization, metrics and error mapping (`ErrorMapping`) happen there, once, for all of them.
///
/// The shape is sourcekit-lsp's (`MessageRegistry` + `InProcessSourceKitLSPClient.send<R>`) and
/// the MCP Swift SDK's typed handlers (`withMethodHandler(CallTool.self)`): a registry maps each
/// method name to its request type and handler, so a wire message's params are decoded once,
/// straight into that type (`JSONValueDecoder` over the parsed message), and in-process callers
/// pass typed values with no JSON at all.
///
/// To add a method: its types in `XLChatProtocol/Methods`, a handler on `Session`, and one
/// `route` line in `RequestRegistry.routes` (which is also `initialize`'s method list and what
/// the spec-sync test compares with `protocol/openrpc.json`).
struct RequestRoute: Sendable {
    let method: String
    /// The wire path: decodes `params` into the route's request type and runs the typed core.
    let handleWire: @Sendable (Session, JSONValue?, RequestContext) async throws -> any Encodable & Sendable
    /// The typed handler, a `TypedHandler<R>` of the route's request type.
    let handler: any Sendable
}

struct TypedHandler<R: RequestType>: Sendable {
    let run: @Sendable (Session, R, RequestContext) async throws -> R.Response
}

enum RequestRegistry {
    static func route<R: RequestType>(_ type: R.Type,
                                      _ run: @escaping @Sendable (Session, R, RequestContext) async throws -> R.Response) -> RequestRoute {
        RequestRoute(
            method: R.method,
            handleWire: { session, params, context in
                let request = try JSONRPCCoding.decode(R.self, from: params ?? .object([:]))
                return try await session.admitted(request, context: context)
            },
            handler: TypedHandler<R>(run: run))
    }

    /// Every request the server answers, in the order the spec lists them.
    static let routes: [RequestRoute] = [
        route(InitializeRequest.self) { s, r, _ in try s.initialize(r) },
        route(ShutdownRequest.self) { s, _, _ in s.shutdown() },
        route(HealthRequest.self) { s, _, _ in await s.health() },
        route(MetricsRequest.self) { s, _, _ in
            MetricsResult(contentType: "text/plain; version=0.0.4", text: s.server.metrics.exposition())
        },
        route(PingRequest.self) { _, _, _ in PingResult() },
        route(WorkbookOpenRequest.self) { s, r, c in try await s.openWorkbook(r, context: c) },
        route(WorkbookReadRequest.self) { s, r, _ in try await s.readWorkbook(r) },
        route(WorkbookQueryRequest.self) { s, r, _ in try await s.queryWorkbook(r) },
        route(WorkbookCloseRequest.self) { s, r, _ in try s.closeWorkbook(r) },
        route(WorkbookTraceRequest.self) { s, r, _ in try await s.traceWorkbook(r) },
        route(IndexBuildRequest.self) { s, r, c in try await s.buildIndex(r, context: c) },
        route(IndexSearchRequest.self) { s, r, _ in try await s.searchIndex(r) },
        route(IndexStatusRequest.self) { s, r, _ in try await s.indexStatus(r) },
        route(ChatAskRequest.self) { s, r, c in try await s.chatAsk(r, context: c) },
        route(ChatHistoryRequest.self) { s, r, _ in try s.chatHistory(r) },
        route(ChatResetRequest.self) { s, r, _ in try s.chatReset(r) },
        route(WorkspaceOpenRequest.self) { s, r, c in try await s.openWorkspace(r, context: c) },
        route(WorkspaceQueryRequest.self) { s, r, _ in try await s.queryWorkspace(r) },
        route(WorkspaceSearchRequest.self) { s, r, c in try await s.searchWorkspace(r, context: c) },
        route(WorkspaceCloseRequest.self) { s, r, _ in try s.closeWorkspace(r) },
    ]

    static let byMethod: [String: RequestRoute] = Dictionary(uniqueKeysWithValues: routes.map { ($0.method, $0) })
}

extension Session {
    /// Runs a typed request through the core: lifecycle and token checks, its handler, metrics,
    /// and error mapping. In-process callers (the command line, tests, MCP) use this directly.
    ///
    /// - Parameters:
    ///   - request: the request, typed (no JSON is made of it).
    ///   - context: its id and connection (for `$/progress` and `chat/delta`); nil makes an
    ///     in-process id on this session's connection.
    /// - Returns: the request's typed response.
    /// - Throws: `ResponseError`, the same code, `data.kind` and message a wire client gets
    ///   (`ErrorMapping`); `-32800` when cancelled.
    public func handle<R: RequestType>(_ request: R, context: RequestContext? = nil) async throws(ResponseError) -> R.Response {
        let context = context ?? inProcessContext(method: R.method)
        return try await measured(R.method) {
            try self.admit(method: R.method)
            return try await self.admitted(request, context: context)
        }
    }

    /// The wire path: checks the lifecycle before decoding (a request before `initialize` is
    /// -32002 whatever its params), then decodes the params once into the method's type.
    func handleWire(_ request: IncomingRequest, context: RequestContext) async throws(ResponseError) -> any Encodable & Sendable {
        try await measured(request.method) {
            try self.admit(method: request.method)
            guard let route = RequestRegistry.byMethod[request.method] else { throw ResponseError.methodNotFound(request.method) }
            return try await route.handleWire(self, request.params, context)
        }
    }

    /// Runs the handler of a request that passed `admit(method:)` (for `initialize`, the token
    /// is checked here, once its params are known).
    func admitted<R: RequestType>(_ request: R, context: RequestContext) async throws -> R.Response {
        if let initialize = request as? InitializeRequest { try authorize(initialize) }
        guard let route = RequestRegistry.byMethod[R.method] else { throw ResponseError.methodNotFound(R.method) }
        guard let typed = route.handler as? TypedHandler<R> else {
            throw ResponseError.internalError("internal error: \(R.method) is registered for another type than \(R.self)")
        }
        return try await typed.run(self, request, context)
    }

    /// Times the request for the metrics and maps any error to its wire error (`ErrorMapping`).
    private func measured<T>(_ method: String, _ work: () async throws -> T) async throws(ResponseError) -> T {
        let started = DispatchTime.now().uptimeNanoseconds
        let label = RequestRegistry.byMethod[method] != nil ? method : "unknown"  // no unbounded metric labels
        do {
            let result = try await work()
            server.metrics.requestFinished(method: label, nanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - started), errorCode: nil)
            return result
        } catch {
            let wire = responseError(for: error, method: method)
            server.metrics.requestFinished(method: label, nanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - started), errorCode: wire.code)
            throw wire
        }
    }
}
