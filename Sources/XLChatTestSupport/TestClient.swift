import Foundation
import JSONRPC
import Logging
import Synchronization
import XLChatProtocol
import XLChatServer

public struct TestClientError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// A JSON-RPC client for tests, over any byte source/sink: in-process against a real server,
/// over pipes to the built binary, or over a unix socket. Replies are matched to requests by
/// id; notifications are kept in order for `nextNotification`.
public final class TestClient: Sendable {
    private struct State {
        var nextID: Int64 = 1
        var waiting: [RequestID: CheckedContinuation<JSONValue, any Error>] = [:]
        var notifications: [JSONValue] = []
        var rawMessages: [JSONValue] = []
        var closed = false
    }

    public let framing: Framing
    private let source: any ByteSource
    private let sink: any ByteSink
    private let state = Mutex(State())
    private let readerTask = Mutex<Task<Void, Never>?>(nil)
    /// Set for in-process clients: the server's connection task.
    private let serverTask: Task<Void, Never>?
    public let server: XLChatServer?

    public init(source: any ByteSource, sink: any ByteSink, framing: Framing = .contentLength,
                server: XLChatServer? = nil, serverTask: Task<Void, Never>? = nil) {
        self.source = source
        self.sink = sink
        self.framing = framing
        self.server = server
        self.serverTask = serverTask
        let task = Task { [weak self] in
            guard let self else { return }
            await self.readLoop()
        }
        readerTask.withLock { $0 = task }
    }

    /// A client connected in-process to a real `XLChatServer` (one connection, one session).
    public static func inProcess(configuration: ServerConfiguration = TestClient.temporaryConfiguration(),
                                 framing: Framing = .contentLength,
                                 options: Connection.Options = .init()) -> TestClient {
        let toServer = ByteChannel()
        let toClient = ByteChannel()
        var logger = Logger(label: "xlchat.test")
        logger.logLevel = .critical
        let server = XLChatServer(configuration: configuration, logger: logger)
        let connection = Connection(source: toServer, sink: toClient, options: options, logger: logger)
        let session = server.makeSession(for: connection)
        let task = Task { await connection.run(handler: session) }
        return TestClient(source: toClient, sink: toServer, framing: framing, server: server, serverTask: task)
    }

    /// A configuration whose data directory is a fresh temporary folder.
    public static func temporaryConfiguration() -> ServerConfiguration {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-test-\(UUID().uuidString)").path
        var c = ServerConfiguration(dataDirectory: dir)
        c.ollamaHost = "127.0.0.1:1"  // nothing listens there: no test reaches a real model by accident
        return c
    }

    // MARK: requests

    /// Sends a typed request and decodes its result; a JSON-RPC error is thrown as `ResponseError`.
    public func send<R: RequestType>(_ request: R) async throws -> R.Response {
        let params = try JSONRPCCoding.decode(JSONValue.self, from: try JSONValue.from(request))
        let reply = try await self.request(method: R.method, params: params)
        return try Self.decodeResult(R.Response.self, from: reply)
    }

    /// Sends a request with raw params; returns the whole reply message.
    public func request(method: String, params: JSONValue? = nil, id: RequestID? = nil) async throws -> JSONValue {
        let id = id ?? state.withLock { s -> RequestID in
            defer { s.nextID += 1 }
            return .number(s.nextID)
        }
        var message: [String: JSONValue] = ["jsonrpc": "2.0", "id": id.json, "method": .string(method)]
        if let params { message["params"] = params }
        let body = try JSONEncoder().encode(JSONValue.object(message))
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<JSONValue, any Error>) in
            let closed = state.withLock { s -> Bool in
                if s.closed { return true }
                s.waiting[id] = c
                return false
            }
            if closed { c.resume(throwing: TestClientError("connection closed")); return }
            Task { try? await self.sink.write(self.framing.frame(Array(body))) }
        }
    }

    /// Starts a request and returns its id without waiting (for cancellation tests); the reply
    /// is awaited with `reply(to:)`.
    public func startRequest(method: String, params: JSONValue? = nil) -> (id: RequestID, reply: Task<JSONValue, any Error>) {
        let id = state.withLock { s -> RequestID in
            defer { s.nextID += 1 }
            return .number(s.nextID)
        }
        let task = Task { try await self.request(method: method, params: params, id: id) }
        return (id, task)
    }

    public func notify(method: String, params: JSONValue? = nil) async throws {
        var message: [String: JSONValue] = ["jsonrpc": "2.0", "method": .string(method)]
        if let params { message["params"] = params }
        try await sink.write(framing.frame(Array(try JSONEncoder().encode(JSONValue.object(message)))))
    }

    /// Writes bytes exactly as given (malformed frames, partial frames, batches).
    public func sendRaw(_ bytes: [UInt8]) async throws { try await sink.write(bytes) }
    public func sendRaw(_ text: String) async throws { try await sink.write(Array(text.utf8)) }

    /// The next message the server sends that is not a reply to a request made through
    /// `request` (replies to raw writes, notifications), in arrival order.
    public func nextRawMessage(timeout: Duration = .seconds(10)) async throws -> JSONValue {
        try await waitFor(timeout: timeout, what: "a message") { s in
            s.rawMessages.isEmpty ? nil : s.rawMessages.removeFirst()
        }
    }

    /// The next notification with this method (earlier ones of other methods are kept).
    public func nextNotification(method: String, timeout: Duration = .seconds(10)) async throws -> JSONValue {
        try await waitFor(timeout: timeout, what: "notification \(method)") { s in
            guard let i = s.notifications.firstIndex(where: { $0["method"]?.stringValue == method }) else { return nil }
            return s.notifications.remove(at: i)
        }
    }

    public func notifications(method: String) -> [JSONValue] {
        state.withLock { $0.notifications.filter { $0["method"]?.stringValue == method } }
    }

    private func waitFor(timeout: Duration, what: String,
                         take: @escaping @Sendable (inout State) -> JSONValue?) async throws -> JSONValue {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let v = state.withLock({ take(&$0) }) { return v }
            if state.withLock({ $0.closed }) { throw TestClientError("connection closed while waiting for \(what)") }
            if ContinuousClock.now >= deadline { throw TestClientError("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    // MARK: lifecycle helpers

    @discardableResult
    public func initialize(name: String = "xlchat-tests") async throws -> InitializeResult {
        let result = try await send(InitializeRequest(processId: Int(getpid()), clientInfo: ClientInfo(name: name, version: "1")))
        try await notify(method: InitializedNotification.method)
        return result
    }

    public func shutdownAndExit() async throws {
        _ = try await send(ShutdownRequest())
        try await notify(method: ExitNotification.method)
        await serverTask?.value
    }

    /// Closes the client's side (end of input for the server) and waits for an in-process server to finish.
    public func close() async {
        await sink.close()
        await serverTask?.value
    }

    // MARK: reading

    private func readLoop() async {
        var decoder = FrameDecoder(framing: framing)
        while true {
            guard let chunk = try? await source.read() else { break }
            decoder.append(chunk)
            while let item = decoder.next() {
                guard case let .message(body) = item,
                      let value = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) else { continue }
                route(value)
            }
        }
        let waiting = state.withLock { s -> [CheckedContinuation<JSONValue, any Error>] in
            s.closed = true
            defer { s.waiting.removeAll() }
            return Array(s.waiting.values)
        }
        for w in waiting { w.resume(throwing: TestClientError("connection closed before the reply")) }
    }

    private func route(_ value: JSONValue) {
        if case .object = value, value["method"] == nil, let rawID = value["id"] {
            let id: RequestID? = {
                switch rawID {
                case let .int(i): return .number(i)
                case let .string(s): return .string(s)
                default: return nil
                }
            }()
            if let id, let waiter = state.withLock({ $0.waiting.removeValue(forKey: id) }) {
                waiter.resume(returning: value)
                return
            }
        }
        state.withLock { s in
            s.rawMessages.append(value)
            if value["method"] != nil { s.notifications.append(value) }
        }
    }

    public static func decodeResult<T: Decodable>(_ type: T.Type, from reply: JSONValue) throws -> T {
        if let error = reply["error"] {
            throw try JSONRPCCoding.decode(ResponseError.self, from: error)
        }
        return try JSONRPCCoding.decode(T.self, from: reply["result"] ?? .null)
    }
}

extension JSONValue {
    /// Any Encodable as a JSONValue.
    public static func from(_ value: some Encodable) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
    }
}
