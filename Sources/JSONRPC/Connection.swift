import Foundation
import Logging
import Synchronization
import XLChatProtocol

/// Where a connection's bytes come from. `read` returns nil at end of input.
public protocol ByteSource: Sendable {
    func read() async throws -> [UInt8]?
}

/// Where a connection's bytes go. Writes of whole frames; `write` suspends while the peer is
/// not reading (backpressure).
public protocol ByteSink: Sendable {
    func write(_ bytes: [UInt8]) async throws
    func close() async
}

/// How a request is scheduled relative to the messages after it.
public enum RequestScheduling: Sendable {
    /// Runs alongside other requests (the default).
    case concurrent
    /// Finishes before the next message is read (`initialize`, `shutdown`).
    case exclusive
}

/// What a request handler gets besides its params.
public struct RequestContext: Sendable {
    public let id: RequestID
    public let method: String
    public let connection: Connection

    /// For handlers that run a request in-process on behalf of another protocol (`xlchat mcp`).
    public init(id: RequestID, method: String, connection: Connection) {
        self.id = id; self.method = method; self.connection = connection
    }
}

/// The server side of a connection: decides scheduling, answers requests, takes notifications.
public protocol MessageHandler: Sendable {
    func scheduling(of method: String) -> RequestScheduling
    /// The result of a request; thrown errors go through `responseError(for:)`.
    func handle(request: IncomingRequest, context: RequestContext) async throws -> any Encodable & Sendable
    /// Unknown notifications must be ignored.
    func handle(notification: IncomingNotification, connection: Connection) async
    /// The one place where any error becomes a wire error.
    func responseError(for error: any Error, method: String) -> ResponseError
    /// Called once when the connection has ended (input closed and requests finished, or closed).
    func connectionClosed(_ connection: Connection) async
}

/// A JSON-RPC 2.0 connection: reads frames in order, runs requests (concurrently unless
/// exclusive), gives each request exactly one reply, honours `$/cancelRequest`, and bounds the
/// requests in flight so a client that never reads its replies cannot make memory grow.
public final class Connection: Sendable {
    public struct Options: Sendable {
        /// Requests running or waiting to write their reply, per connection. When reached, the
        /// connection stops reading until one finishes.
        public var maxInFlight = 64
        public var maxFrameBytes = FrameDecoder.defaultMaxFrameBytes
        /// The framing to use; nil detects it from the first byte.
        public var framing: Framing? = nil
        /// At end of input, requests still running get this long to finish and write their
        /// replies; then they are cancelled, so a client that went away leaves no work behind.
        public var endOfInputGrace: Duration = .seconds(5)
        /// After `close()` (`exit`), running requests are cancelled and the connection waits at
        /// most this long for them to end before it reports itself closed.
        public var closeGrace: Duration = .milliseconds(500)
        public init() {}
    }

    private struct Pending {
        let method: String
        var task: Task<Void, Never>?
        let deliver: @Sendable ([UInt8]) async -> Void
    }

    private struct State {
        var framing: Framing?
        var pending: [RequestID: Pending] = [:]
        var closed = false
        var writeFailed = false
        var running = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private static let nextID = Atomic<Int>(1)

    /// A number for logs.
    public let id: Int
    public let logger: Logger
    private let source: any ByteSource
    private let sink: any ByteSink
    private let options: Options
    private let notificationObserver: (@Sendable (any NotificationType) async -> Void)?
    private let state: Mutex<State>
    private let slots: AsyncSemaphore

    /// - Parameter notificationObserver: when set, typed notifications (`send(_:)`) go to it
    ///   as they are, instead of being encoded onto the sink: the in-process client's way to
    ///   receive `$/progress` and `chat/delta` with no JSON.
    public init(source: any ByteSource, sink: any ByteSink, options: Options = .init(), logger: Logger,
                notificationObserver: (@Sendable (any NotificationType) async -> Void)? = nil) {
        self.id = Self.nextID.add(1, ordering: .relaxed).oldValue
        self.source = source
        self.sink = sink
        self.options = options
        self.notificationObserver = notificationObserver
        var logger = logger
        logger[metadataKey: "connection"] = "\(id)"
        self.logger = logger
        self.state = Mutex(State(framing: options.framing))
        self.slots = AsyncSemaphore(options.maxInFlight)
    }

    public var framing: Framing? { state.withLock { $0.framing } }
    public var isClosed: Bool { state.withLock { $0.closed } }
    public var inFlightCount: Int { state.withLock { $0.pending.count } }

    /// Reads and serves messages until the input ends or `close()`; then waits for the requests
    /// still running and returns.
    public func run(handler: any MessageHandler) async {
        var decoder = FrameDecoder(maxFrameBytes: options.maxFrameBytes, framing: options.framing)
        reading: while !isClosed {
            let chunk: [UInt8]?
            do { chunk = try await source.read() } catch {
                logger.debug("read failed: \(error)")
                break
            }
            guard let chunk else { break }
            decoder.append(chunk)
            while let item = decoder.next() {
                if let f = decoder.framing { state.withLock { if $0.framing == nil { $0.framing = f } } }
                await process(item, handler: handler)
                if isClosed { break reading }
            }
        }
        if !isClosed, let item = decoder.finish() { await process(item, handler: handler) }
        if isClosed {
            await cancelAllAnswering()
            await waitUntilIdle(atMost: options.closeGrace)
        } else {
            // End of input: let running requests finish within the grace, then stop them.
            if !(await waitUntilIdle(atMost: options.endOfInputGrace)) {
                logger.debug("input ended; cancelling the requests still running")
                await cancelAllAnswering()
                await waitUntilIdle(atMost: options.closeGrace)
            }
        }
        await handler.connectionClosed(self)
        await sink.close()
    }

    /// Stops reading; requests still running are cancelled.
    public func close() {
        state.withLock { $0.closed = true }
    }

    // MARK: incoming

    private func process(_ item: FrameDecoder.Item, handler: any MessageHandler) async {
        switch item {
        case let .malformed(reason):
            logger.debug("malformed frame: \(reason)")
            await write(JSONRPCCoding.encodeError(id: nil, error: .parseError("parse error: \(reason)")))
        case let .message(body):
            switch await Self.parseOffPool(body) {
            case let .failure(error):
                await write(JSONRPCCoding.encodeError(id: nil, error: error))
            case let .success(.array(elements)):
                await processBatch(elements, handler: handler)
            case let .success(value):
                await processSingle(JSONRPCCoding.classify(value), handler: handler) { bytes in
                    await self.write(bytes)
                }
            }
        }
    }

    /// Large bodies are parsed on a thread of their own, not on the cooperative pool that every
    /// connection's reads and replies share: a 64 MiB message takes a few hundred ms to parse.
    static let parseQueue = DispatchQueue(label: "xlchat.jsonrpc.parse", qos: .userInitiated, attributes: .concurrent)
    static let offPoolParseBytes = 64 << 10

    static func parseOffPool(_ body: [UInt8]) async -> Result<JSONValue, ResponseError> {
        if body.count < offPoolParseBytes { return JSONRPCCoding.parse(body) }
        return await withCheckedContinuation { c in
            parseQueue.async { c.resume(returning: JSONRPCCoding.parse(body)) }
        }
    }

    private func processBatch(_ elements: [JSONValue], handler: any MessageHandler) async {
        guard !elements.isEmpty else {
            await write(JSONRPCCoding.encodeError(id: nil, error: .invalidRequest("invalid request: empty batch")))
            return
        }
        let collector = BatchCollector(expected: elements.count) { replies in
            guard !replies.isEmpty else { return }
            var out: [UInt8] = [UInt8(ascii: "[")]
            for (i, r) in replies.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out += r
            }
            out.append(UInt8(ascii: "]"))
            await self.write(out)
        }
        for element in elements {
            let parsed = JSONRPCCoding.classify(element)
            switch parsed {
            case .request, .invalid:
                await processSingle(parsed, handler: handler) { bytes in await collector.add(bytes) }
            case .notification, .response:
                await processSingle(parsed, handler: handler) { bytes in await collector.add(bytes) }
                await collector.add(nil)  // notifications and responses produce no reply
            }
        }
    }

    private func processSingle(_ parsed: ParsedMessage, handler: any MessageHandler,
                               deliver: @escaping @Sendable ([UInt8]) async -> Void) async {
        switch parsed {
        case .response:
            return
        case let .invalid(id, error):
            await deliver(JSONRPCCoding.encodeError(id: id, error: error))
        case let .notification(note):
            if note.method == CancelRequestNotification.method {
                if let request = try? note.decodeParams(CancelRequestNotification.self) { cancel(request.id) }
                return
            }
            await handler.handle(notification: note, connection: self)
        case let .request(request):
            await startRequest(request, handler: handler, deliver: deliver)
        }
    }

    private func startRequest(_ request: IncomingRequest, handler: any MessageHandler,
                              deliver: @escaping @Sendable ([UInt8]) async -> Void) async {
        let scheduling = handler.scheduling(of: request.method)
        if scheduling == .exclusive, state.withLock({ $0.running > 0 }) {
            // An exclusive request (`shutdown`) runs once the requests before it are answered:
            // they get the end-of-input grace to finish, then -32800 (a newcomer saw requests
            // sent just before shutdown + exit get no reply at all).
            if !(await waitUntilIdle(atMost: options.endOfInputGrace)) {
                logger.debug("\(request.method): cancelling the requests still running")
                await cancelAllAnswering()
                await waitUntilIdle(atMost: options.closeGrace)
            }
        }
        await slots.acquire()
        let duplicate = state.withLock { s -> Bool in
            if s.pending[request.id] != nil { return true }
            s.pending[request.id] = Pending(method: request.method, task: nil, deliver: deliver)
            s.running += 1
            return false
        }
        if duplicate {
            slots.release()
            await deliver(JSONRPCCoding.encodeError(
                id: request.id, error: .invalidRequest("invalid request: id \(request.id) is already in use by a running request")))
            return
        }
        let context = RequestContext(id: request.id, method: request.method, connection: self)
        let task = Task {
            let reply: [UInt8]
            do {
                let result = try await handler.handle(request: request, context: context)
                if Task.isCancelled {
                    reply = JSONRPCCoding.encodeError(id: request.id, error: .cancelled)
                } else {
                    do {
                        reply = try JSONRPCCoding.encodeResponse(id: request.id, result: result)
                    } catch {
                        reply = JSONRPCCoding.encodeError(
                            id: request.id, error: .internalError("internal error: could not encode the result: \(error)"))
                    }
                }
            } catch {
                let wire = (error is CancellationError || Task.isCancelled)
                    ? ResponseError.cancelled : handler.responseError(for: error, method: request.method)
                reply = JSONRPCCoding.encodeError(id: request.id, error: wire)
            }
            await self.finish(request.id, reply: reply)
        }
        state.withLock { s in
            // Absent when the request already finished or was cancelled.
            if s.pending[request.id] != nil { s.pending[request.id]!.task = task }
        }
        if scheduling == .exclusive {
            await task.value
        }
    }

    /// Sends the reply if none was sent yet (a cancelled request was already answered).
    private func finish(_ id: RequestID, reply: [UInt8]) async {
        let pending = state.withLock { $0.pending.removeValue(forKey: id) }
        if let pending { await pending.deliver(reply) }
        requestEnded()
    }

    private func requestEnded() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.running -= 1
            guard s.running == 0 else { return [] }
            defer { s.idleWaiters.removeAll() }
            return s.idleWaiters
        }
        slots.release()
        for w in waiters { w.resume() }
    }

    /// `$/cancelRequest`: answer -32800 now and cancel the work. Unknown or finished ids are
    /// ignored. `reply: false` cancels without any reply, as MCP's `notifications/cancelled`
    /// requires ("the receiver should not send a response for the cancelled request").
    public func cancel(_ id: RequestID, reply: Bool = true) {
        let pending = state.withLock { $0.pending.removeValue(forKey: id) }
        guard let pending else { return }
        pending.task?.cancel()
        logger.debug("cancelled request \(id) (\(pending.method))")
        if reply {
            Task { await pending.deliver(JSONRPCCoding.encodeError(id: id, error: .cancelled)) }
        } else {
            Task { await pending.deliver([]) }  // an empty reply: a batch collector still counts it; nothing is written
        }
    }

    /// Cancels every running request without a reply (the peer is gone).
    private func cancelAll() {
        let all = state.withLock { s -> [Pending] in
            defer { s.pending.removeAll() }
            return Array(s.pending.values)
        }
        for p in all { p.task?.cancel() }
    }

    /// Cancels every running request and answers each with -32800 before returning, so every
    /// request still gets exactly one reply when the connection closes (`exit`, end of input).
    private func cancelAllAnswering() async {
        let all = state.withLock { s -> [(RequestID, Pending)] in
            defer { s.pending.removeAll() }
            return Array(s.pending)
        }
        for (_, p) in all { p.task?.cancel() }
        for (id, p) in all {
            logger.debug("cancelled request \(id) (\(p.method)) as the connection ends")
            await p.deliver(JSONRPCCoding.encodeError(id: id, error: .cancelled))
        }
    }

    /// Waits until no request runs, or `limit` passed (checked every 10 ms); true when idle.
    @discardableResult
    private func waitUntilIdle(atMost limit: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while state.withLock({ $0.running > 0 }) {
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    private func waitUntilIdle() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { s -> Bool in
                if s.running == 0 { return true }
                s.idleWaiters.append(c)
                return false
            }
            if idle { c.resume() }
        }
    }

    // MARK: outgoing

    /// Sends a notification to the client.
    public func send<N: NotificationType>(_ notification: N) async {
        if let notificationObserver {
            await notificationObserver(notification)
            return
        }
        guard let body = try? JSONRPCCoding.encodeNotification(method: N.method, params: notification) else { return }
        await write(body)
    }

    /// Sends a notification with free-form params.
    public func sendNotification(method: String, params: any Encodable & Sendable) async {
        guard let body = try? JSONRPCCoding.encodeNotification(method: method, params: params) else { return }
        await write(body)
    }

    private func write(_ body: [UInt8]) async {
        guard !body.isEmpty else { return }  // a request cancelled without a reply
        let (framing, failed) = state.withLock { ($0.framing ?? .contentLength, $0.writeFailed) }
        guard !failed else { return }
        do {
            try await sink.write(framing.frame(body))
        } catch {
            // The peer is gone: stop work done for it.
            let first = state.withLock { s -> Bool in
                defer { s.writeFailed = true }
                return !s.writeFailed
            }
            if first {
                logger.debug("write failed, cancelling this connection's requests: \(error)")
                cancelAll()
            }
        }
    }
}

/// Collects the replies of a batch and sends them as one array once every element is done.
final class BatchCollector: Sendable {
    private let state: Mutex<(remaining: Int, replies: [[UInt8]])>
    private let send: @Sendable ([[UInt8]]) async -> Void

    init(expected: Int, send: @escaping @Sendable ([[UInt8]]) async -> Void) {
        self.state = Mutex((expected, []))
        self.send = send
    }

    func add(_ reply: [UInt8]?) async {
        let done = state.withLock { s -> [[UInt8]]? in
            if let reply, !reply.isEmpty { s.replies.append(reply) }
            s.remaining -= 1
            return s.remaining == 0 ? s.replies : nil
        }
        if let done { await send(done) }
    }
}

/// A counting semaphore for async code.
final class AsyncSemaphore: Sendable {
    private let state: Mutex<(available: Int, waiters: [CheckedContinuation<Void, Never>])>
    init(_ count: Int) { state = Mutex((count, [])) }

    func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.available > 0 { s.available -= 1; return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func release() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if !s.waiters.isEmpty { return s.waiters.removeFirst() }
            s.available += 1
            return nil
        }
        waiter?.resume()
    }
}
