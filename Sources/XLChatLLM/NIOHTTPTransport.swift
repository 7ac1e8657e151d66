import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One plain-HTTP request streamed over SwiftNIO. Model servers are local and speak plain HTTP,
/// and URLSession on Linux (libcurl underneath) busy-waits while a reply is pending: measured
/// here, a 6 s wait for a model's first token cost 4.1 s of system CPU, and a model can take a
/// minute to load. NIO waits in epoll for free. (https URLs still go through URLSession.)
/// Closing the stream (the consumer stops or is cancelled) closes the connection, so the
/// server sees the disconnect; a watchdog enforces the first-byte and stall timeouts.
final class NIOStreamingRequest: @unchecked Sendable {
    private let lock = NSLock()
    private let endpoint: Endpoint
    private let continuation: AsyncThrowingStream<HTTPEvent, Error>.Continuation
    private var channel: (any Channel)?
    private var watchdog: Task<Void, Never>?
    private var startedAt = 0.0
    private var lastActivity = 0.0
    private var gotResponse = false
    private var finished = false
    private var lines = LineProgress()

    private init(endpoint: Endpoint, continuation: AsyncThrowingStream<HTTPEvent, Error>.Continuation) {
        self.endpoint = endpoint
        self.continuation = continuation
    }

    static func start(_ request: URLRequest, endpoint: Endpoint) -> AsyncThrowingStream<HTTPEvent, Error> {
        let (stream, continuation) = AsyncThrowingStream<HTTPEvent, Error>.makeStream(bufferingPolicy: .unbounded)
        let me = NIOStreamingRequest(endpoint: endpoint, continuation: continuation)
        continuation.onTermination = { [me] termination in
            if case .cancelled = termination { me.finish(throwing: nil) }
        }
        me.begin(request)
        return stream
    }

    private func begin(_ request: URLRequest) {
        guard let url = request.url, let host = url.host else {
            finish(throwing: LLMError(.invalidConfiguration, "\(endpoint.description): not an http URL"))
            return
        }
        let port = url.port ?? 80
        var target = url.path.isEmpty ? "/" : url.path
        if let q = url.query { target += "?" + q }
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.httpMethod ?? "GET"), uri: target)
        head.headers.add(name: "Host", value: url.port.map { "\(host):\($0)" } ?? host)
        head.headers.add(name: "User-Agent", value: "xlchat")
        head.headers.add(name: "Accept", value: "*/*")
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in request.allHTTPHeaderFields ?? [:] { head.headers.replaceOrAdd(name: name, value: value) }
        let body = request.httpBody
        if let body { head.headers.replaceOrAdd(name: "Content-Length", value: String(body.count)) }
        let requestHead = head

        lock.withLock {
            startedAt = monotonicNow()
            lastActivity = startedAt
        }
        watchdog = Task { [weak self] in await self?.watch() }

        let handler = ResponseHandler(owner: self)
        ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: host == "localhost" ? "127.0.0.1" : host, port: port)
            .whenComplete { [self] result in
                switch result {
                case let .failure(error):
                    finish(throwing: mapConnectError(error))
                case let .success(channel):
                    let alreadyDone = lock.withLock { () -> Bool in
                        self.channel = channel
                        return finished
                    }
                    if alreadyDone { channel.close(promise: nil); return }
                    channel.write(HTTPClientRequestPart.head(requestHead), promise: nil)
                    if let body {
                        var buffer = channel.allocator.buffer(capacity: body.count)
                        buffer.writeBytes(body)
                        channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
                    }
                    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                }
            }
    }

    private func mapConnectError(_ error: any Error) -> Error {
        let text = "\(error)"
        if text.contains("connection refused") || text.contains("ECONNREFUSED") || text.contains("errno: 111") {
            var e = endpoint.unavailable("connection refused")
            e.connectionRefused = true
            return e
        }
        if error is NIOConnectionError, text.lowercased().contains("dns") { return endpoint.unavailable("unknown host") }
        if case ChannelError.connectTimeout = error { return endpoint.unavailable("no answer to the connection within 10 s") }
        return endpoint.unavailable(text)
    }

    // MARK: events from the channel (on its event loop)

    fileprivate func received(head: HTTPResponseHead) {
        let after: Double = lock.withLock {
            gotResponse = true
            lastActivity = monotonicNow()
            return lastActivity - startedAt
        }
        continuation.yield(.response(status: Int(head.status.code), firstByteAfter: after))
    }

    fileprivate func received(body: ByteBuffer) {
        let now = monotonicNow()
        lock.withLock { body.withUnsafeReadableBytes { if lines.completesLine($0) { lastActivity = now } } }
        continuation.yield(.data(Data(body.readableBytesView), at: now))
    }

    fileprivate func ended() { finish(throwing: nil) }

    fileprivate func failed(_ error: any Error) {
        let started = lock.withLock { gotResponse }
        finish(throwing: started
            ? LLMError(.streamFailed, "The reply from \(endpoint.description) broke off: \(error).")
            : endpoint.unavailable("\(error)"))
    }

    fileprivate func closed() {
        let started = lock.withLock { gotResponse }
        finish(throwing: started
            ? LLMError(.streamFailed, "\(endpoint.description) closed the connection in the middle of a reply. The server may have crashed or been stopped; try again.")
            : endpoint.unavailable("the connection was closed before any reply"))
    }

    // MARK: timeouts and ending

    private func watch() async {
        let state = { [self] in lock.withLock { (lastActivity, gotResponse, finished) } }
        let started = lock.withLock { startedAt }
        if let error = await waitForReplyTimeout(endpoint: endpoint, startedAt: started, state: state) { finish(throwing: error) }
    }

    /// Ends the stream once (nil: normally, or because the consumer went away) and closes the connection.
    private func finish(throwing error: Error?) {
        let (wasFinished, channel): (Bool, (any Channel)?) = lock.withLock {
            defer { finished = true }
            return (finished, self.channel)
        }
        if wasFinished { return }
        watchdog?.cancel()
        channel?.close(promise: nil)
        if let error { continuation.finish(throwing: error) } else { continuation.finish() }
    }
}

private final class ResponseHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    private let owner: NIOStreamingRequest
    private var ended = false

    init(owner: NIOStreamingRequest) { self.owner = owner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head): owner.received(head: head)
        case let .body(buffer): owner.received(body: buffer)
        case .end:
            ended = true
            owner.ended()
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        owner.failed(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !ended { owner.closed() }
        context.fireChannelInactive()
    }
}

enum HTTPStreaming {
    /// Plain http over NIO; anything else (https) through URLSession.
    static func start(_ request: URLRequest, endpoint: Endpoint) -> AsyncThrowingStream<HTTPEvent, Error> {
        if request.url?.scheme?.lowercased() == "http" {
            return NIOStreamingRequest.start(request, endpoint: endpoint)
        }
        return StreamingRequest.start(request, endpoint: endpoint)
    }
}
