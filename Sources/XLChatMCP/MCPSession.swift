// The Model Context Protocol front end: xlchat's engines as MCP tools over stdio.
//
// Why not modelcontextprotocol/swift-sdk: 0.12.1 builds here (measured: a throwaway package
// depending on it, clean debug `swift build` 45 s wall on the shared 2-core machine; on Linux it
// pulls swift-system and swift-log, not NIO). It would fit, but it brings a second JSON-RPC
// stack and stdio transport beside ours, with its own `Value` type to convert at every call.
// A tools-only server needs four methods and two notifications of MCP, and our `JSONRPC`
// module already does the NDJSON framing, ordering, concurrency, cancellation and
// backpressure `xlchat serve` relies on. So this module is that subset on `JSONRPC`, and each
// tool runs the xlchat `Session`'s own handlers in-process: same limits, same error mapping.
import Foundation
import JSONRPC
import Logging
import Synchronization
import XLChatProtocol
import XLChatServer

/// One MCP client's session: the MCP lifecycle and tools, over an xlchat `Session` that does
/// the work.
public final class MCPSession: MessageHandler, Sendable {
    /// Protocol revisions this server speaks; a client asking for another gets the newest.
    public static let supportedProtocolVersions = ["2025-03-26", "2024-11-05"]

    private struct State: Sendable {
        var initialized = false
        var clientName: String?
        var protocolVersion: String?
    }

    private let engine: Session
    private let connection: Connection
    private let state = Mutex(State())

    public init(server: XLChatServer, connection: Connection) {
        self.connection = connection
        self.engine = server.makeSession(for: connection)
    }

    /// The protocol revision agreed in `initialize` (nil before it).
    public var protocolVersion: String? { state.withLock { $0.protocolVersion } }

    public func scheduling(of method: String) -> RequestScheduling {
        method == "initialize" || !state.withLock({ $0.initialized }) ? .exclusive : .concurrent
    }

    public func handle(request: IncomingRequest, context: RequestContext) async throws -> any Encodable & Sendable {
        switch request.method {
        case "initialize":
            return try await initialize(request.params)
        case "ping":
            return JSONValue.object([:])
        default:
            break
        }
        guard state.withLock({ $0.initialized }) else {
            throw ResponseError(code: ResponseError.serverNotInitializedCode,
                                message: "server not initialized: send 'initialize' first")
        }
        switch request.method {
        case "tools/list":
            return JSONValue.object(["tools": .array(MCPTools.all.map(\.descriptor))])
        case "tools/call":
            return try await callTool(request.params)
        default:
            throw ResponseError.methodNotFound(request.method)
        }
    }

    public func handle(notification: IncomingNotification, connection: Connection) async {
        switch notification.method {
        case "notifications/cancelled":
            // MCP's cancellation: `{requestId, reason?}`.
            switch notification.params?["requestId"] {
            // No reply for the cancelled request, as MCP says (unlike LSP's -32800).
            case let .int(i)?: connection.cancel(.number(i), reply: false)
            case let .string(s)?: connection.cancel(.string(s), reply: false)
            default: break
            }
        default:
            // notifications/initialized and anything unknown need no action.
            connection.logger.trace("mcp notification \(notification.method)")
        }
    }

    public func responseError(for error: any Error, method: String) -> ResponseError {
        engine.responseError(for: error, method: method)
    }

    public func connectionClosed(_ connection: Connection) async {
        await engine.connectionClosed(connection)
    }

    // MARK: lifecycle

    private func initialize(_ params: JSONValue?) async throws -> JSONValue {
        guard case let .object(p)? = params else {
            throw ResponseError.invalidParams("invalid params: 'initialize' needs an object with 'protocolVersion'")
        }
        guard let requested = p["protocolVersion"]?.stringValue else {
            throw ResponseError.invalidParams("invalid params: missing 'protocolVersion'")
        }
        let clientName = p["clientInfo"]?["name"]?.stringValue
        let clientVersion = p["clientInfo"]?["version"]?.stringValue
        let version = Self.supportedProtocolVersions.contains(requested) ? requested : Self.supportedProtocolVersions[0]
        try state.withLock { s in
            guard !s.initialized else {
                throw ResponseError.invalidRequest("invalid request: 'initialize' was already sent on this connection")
            }
            s.initialized = true
            s.clientName = clientName
            s.protocolVersion = version
        }
        // The engine session has its own lifecycle: start it, naming the MCP client.
        _ = try await engine.handle(InitializeRequest(clientInfo: ClientInfo(name: "mcp:" + (clientName ?? "unnamed"),
                                                                             version: clientVersion)))
        connection.logger.info("mcp: initialized by \(clientName ?? "an unnamed client"), protocol \(version)")
        return [
            "protocolVersion": .string(version),
            "capabilities": ["tools": ["listChanged": false]],
            "serverInfo": ["name": "xlchat", "version": .string(XLChatVersion.current)],
            "instructions": .string(MCPTools.instructions),
        ]
    }

    // MARK: tools

    private func callTool(_ params: JSONValue?) async throws -> JSONValue {
        guard case let .object(p)? = params, let name = p["name"]?.stringValue else {
            throw ResponseError.invalidParams("invalid params: 'tools/call' needs 'name' (a string)")
        }
        guard let tool = MCPTools.named(name) else {
            throw ResponseError.invalidParams(
                "unknown tool '\(name)'; the tools are: \(MCPTools.all.map(\.name).joined(separator: ", "))")
        }
        let arguments: [String: JSONValue]
        switch p["arguments"] {
        case nil, .null?: arguments = [:]
        case let .object(o)?: arguments = o
        case let other?:
            return Self.toolError(ResponseError.invalidParams("invalid params: 'arguments' must be an object, got \(other.typeName)"))
        }
        do {
            let result = try await run(tool, arguments: arguments)
            return Self.toolResult(result)
        } catch {
            return Self.toolError(error)
        }
    }

    /// Runs one tool on the engine session's request core: the arguments are decoded once into
    /// the request's type, the typed response is encoded once into the tool's text. Arguments
    /// outside the tool's schema are dropped, so a client reaches only what `tools/list` describes.
    private func run(_ tool: MCPTool, arguments: [String: JSONValue]) async throws(ResponseError) -> String {
        let args = JSONValue.object(arguments.filter { tool.parameters.contains($0.key) })
        switch tool.name {
        case MCPTools.openWorkbook.name:
            return try await call(WorkbookOpenRequest.self, args)
        case MCPTools.outline.name:
            guard let id = arguments["workbookId"] else { throw .invalidParams("invalid params: missing 'workbookId'") }
            guard let id = id.stringValue else { throw .invalidParams("invalid params: 'workbookId' must be a string") }
            return Self.text(try await engine.outline(workbookId: id))
        case MCPTools.readRange.name:
            return try await call(WorkbookReadRequest.self, args)
        case MCPTools.query.name:
            return try await call(WorkbookQueryRequest.self, args)
        case MCPTools.search.name:
            // index/search builds the search part first when this version has none (the
            // workbook's handle decides, once).
            return try await call(IndexSearchRequest.self, args)
        case MCPTools.openWorkspace.name:
            return try await call(WorkspaceOpenRequest.self, args)
        case MCPTools.queryWorkspace.name:
            return try await call(WorkspaceQueryRequest.self, args)
        case MCPTools.searchWorkspace.name:
            return try await call(WorkspaceSearchRequest.self, args)
        default:
            throw .invalidParams("unknown tool '\(tool.name)'")
        }
    }

    private func call<R: RequestType>(_ type: R.Type, _ args: JSONValue) async throws(ResponseError) -> String {
        Self.text(try await engine.handle(try JSONRPCCoding.decode(R.self, from: args)))
    }

    /// A successful call: the engine's result as JSON text (what `xlchat serve` would answer).
    static func toolResult(_ text: String) -> JSONValue {
        ["content": [["type": "text", "text": .string(text)]], "isError": false]
    }

    /// A failed call, as MCP wants tool failures: a result with `isError: true`, whose text is
    /// `{"error": {"kind", "message", "code", ...}}` with the same kind and message as the
    /// JSON-RPC server's error.
    static func toolError(_ error: any Error) -> JSONValue {
        let wire = (error as? ResponseError) ?? .internalError("internal error: \(error)")
        var body: [String: JSONValue] = ["code": .int(Int64(wire.code)), "message": .string(MCPTools.toolVocabulary(wire.message))]
        if case let .object(data)? = wire.data {
            for (k, v) in data { body[k] = v }
        }
        if body["kind"] == nil { body["kind"] = .string(kindName(code: wire.code)) }
        return ["content": [["type": "text", "text": .string(text(JSONValue.object(["error": .object(body)])))]], "isError": true]
    }

    /// The kind of an error that has none in `data.kind` (protocol-level codes).
    static func kindName(code: Int) -> String {
        switch code {
        case ResponseError.invalidParamsCode: return "invalidParams"
        case ResponseError.requestCancelledCode: return "cancelled"
        case ResponseError.methodNotFoundCode, ResponseError.invalidRequestCode: return "invalidRequest"
        default: return "internal"
        }
    }

    static func text(_ value: some Encodable) -> String {
        let encoder = JSONRPCCoding.encoder()
        encoder.outputFormatting.insert(.sortedKeys)
        return (try? encoder.encode(value)).flatMap { String(data: $0, encoding: .utf8) } ?? "null"
    }
}
