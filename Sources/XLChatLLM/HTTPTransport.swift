import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where a client talks to, and what to tell a user who cannot reach it.
struct Endpoint: Sendable {
    var serviceName: String      // "Ollama", "the OpenAI-compatible server"
    var baseURL: URL
    var startHint: String        // "Start it with `ollama serve` ..."
    var apiKey: String?
    var policy: HTTPPolicy

    var description: String { "\(serviceName) at \(baseURL.absoluteString)" }

    func url(_ path: String) -> URL {
        var base = baseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        return URL(string: base + path)!
    }

    func request(_ path: String, method: String = "GET", body: LLMJSON? = nil) -> URLRequest {
        var r = URLRequest(url: url(path))
        r.httpMethod = method
        // Our own watchdog enforces the first-byte and stall timeouts; libcurl's must not fire first.
        r.timeoutInterval = max(policy.firstByteTimeout, policy.stallTimeout, policy.replyDeadline) + 30
        if let body {
            r.httpBody = body.jsonData
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if let apiKey { r.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        return r
    }

    func unavailable(_ why: String) -> LLMError {
        LLMError(.unavailable, "Could not reach \(description) (\(why)). \(startHint)")
    }
}

/// What a streaming HTTP request yields: the response head, then body bytes as they arrive.
enum HTTPEvent: Sendable {
    case response(status: Int, firstByteAfter: Double)
    /// Body bytes and when the delegate got them (`monotonicNow()`).
    case data(Data, at: Double)
}

/// Monotonic seconds (for latency figures; comparable across threads of one process).
@inline(__always) func monotonicNow() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

/// One HTTP request streamed through URLSession with a data delegate. `URLSession.bytes(for:)`
/// does not exist on Linux (stack.md); a delegate feeding an AsyncThrowingStream streams with
/// a few ms of latency. Terminating the stream (the consumer stops or is cancelled) cancels the
/// URLSessionTask, which closes the connection so the server sees the disconnect. A watchdog
/// enforces the first-byte and stall timeouts.
final class StreamingRequest: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private let endpoint: Endpoint
    private let continuation: AsyncThrowingStream<HTTPEvent, Error>.Continuation
    private var session: URLSession?
    private var task: URLSessionDataTask?
    private var watchdog: Task<Void, Never>?
    private var startedAt = 0.0
    private var lastActivity = 0.0
    private var gotResponse = false
    private var finished = false
    private var timedOut: LLMError?
    private var lines = LineProgress()

    private init(endpoint: Endpoint, continuation: AsyncThrowingStream<HTTPEvent, Error>.Continuation) {
        self.endpoint = endpoint
        self.continuation = continuation
    }

    static func start(_ request: URLRequest, endpoint: Endpoint) -> AsyncThrowingStream<HTTPEvent, Error> {
        let (stream, continuation) = AsyncThrowingStream<HTTPEvent, Error>.makeStream(bufferingPolicy: .unbounded)
        let me = StreamingRequest(endpoint: endpoint, continuation: continuation)
        continuation.onTermination = { [me] termination in
            if case .cancelled = termination { me.cancel() }
        }
        me.begin(request)
        return stream
    }

    private func begin(_ request: URLRequest) {
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = request.timeoutInterval
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: config, delegate: self, delegateQueue: queue)
        let task = session.dataTask(with: request)
        lock.withLock {
            self.session = session
            self.task = task
            startedAt = monotonicNow()
            lastActivity = startedAt
        }
        watchdog = Task { [weak self] in await self?.watch() }
        task.resume()
    }

    private func watch() async {
        let state = { [self] in lock.withLock { (lastActivity, gotResponse, finished) } }
        let started = lock.withLock { startedAt }
        guard let error = await waitForReplyTimeout(endpoint: endpoint, startedAt: started, state: state) else { return }
        let t: URLSessionDataTask? = lock.withLock { timedOut = error; return task }
        t?.cancel()
        finish(throwing: error)
    }

    /// The consumer went away: cancel the HTTP request (closes the connection).
    func cancel() {
        let t: URLSessionDataTask? = lock.withLock { finished ? nil : task }
        t?.cancel()
        finish(throwing: nil)
    }

    private func finish(throwing error: Error?) {
        let (wasFinished, session): (Bool, URLSession?) = lock.withLock {
            defer { finished = true }
            return (finished, self.session)
        }
        if wasFinished { return }
        watchdog?.cancel()
        if let error { continuation.finish(throwing: error) } else { continuation.finish() }
        session?.finishTasksAndInvalidate()
    }

    // MARK: URLSessionDataDelegate

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let after: Double = lock.withLock {
            gotResponse = true
            lastActivity = monotonicNow()
            return lastActivity - startedAt
        }
        continuation.yield(.response(status: status, firstByteAfter: after))
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let now = monotonicNow()
        lock.withLock { data.withUnsafeBytes { if lines.completesLine($0) { lastActivity = now } } }
        continuation.yield(.data(data, at: now))
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        guard let error else { finish(throwing: nil); return }
        let (timeout, started): (LLMError?, Bool) = lock.withLock { (timedOut, gotResponse) }
        if let timeout { finish(throwing: timeout); return }
        finish(throwing: Self.map(error, endpoint: endpoint, afterResponse: started))
    }

    static func map(_ error: Error, endpoint: Endpoint, afterResponse: Bool) -> Error {
        guard let u = error as? URLError else {
            return afterResponse
                ? LLMError(.streamFailed, "The reply from \(endpoint.description) broke off: \(error.localizedDescription).")
                : endpoint.unavailable(error.localizedDescription)
        }
        switch u.code {
        case .cancelled:
            return CancellationError()
        case .timedOut:
            return LLMError(.timeout, "\(endpoint.description) did not answer in time.")
        case _ where afterResponse:
            return LLMError(.streamFailed,
                            "\(endpoint.description) closed the connection in the middle of a reply (\(describe(u))). The server may have crashed or been stopped; try again.")
        case .cannotConnectToHost:
            var e = endpoint.unavailable("connection refused")
            e.connectionRefused = true
            return e
        case .cannotFindHost, .dnsLookupFailed:
            return endpoint.unavailable("unknown host")
        case .networkConnectionLost:
            return endpoint.unavailable("the connection was closed before any reply")
        default:
            return endpoint.unavailable(describe(u))
        }
    }

    private static func describe(_ u: URLError) -> String {
        switch u.code {
        case .networkConnectionLost: return "connection lost"
        case .cannotConnectToHost: return "connection refused"
        default: return "URLError \(u.code.rawValue)"
        }
    }
}

/// Waits until the reply's first-byte or stall deadline passes (returning the timeout error), or
/// `state()` says the reply finished or the task is cancelled (returning nil). Shared by both
/// transports. It wakes at least every min(1 s, stall timeout), so the switch from the first-byte
/// deadline to the (shorter) stall deadline is noticed.
func waitForReplyTimeout(endpoint: Endpoint, startedAt: Double,
                         state: () -> (lastActivity: Double, gotResponse: Bool, finished: Bool)) async -> LLMError? {
    let policy = endpoint.policy
    let overall = startedAt + policy.replyDeadline
    while !Task.isCancelled {
        let s = state()
        if s.finished { return nil }
        let deadline = min(overall, s.lastActivity + (s.gotResponse ? policy.stallTimeout : policy.firstByteTimeout))
        let now = monotonicNow()
        if now >= overall {
            return LLMError(.timeout, "\(endpoint.description) took longer than \(Int(policy.replyDeadline)) s for one reply and was stopped.")
        }
        if now >= deadline {
            return s.gotResponse
                ? LLMError(.timeout, "\(endpoint.description) stopped sending: no complete line for \(Int(policy.stallTimeout)) s in the middle of a reply.")
                : LLMError(.timeout, "\(endpoint.description) sent nothing for \(Int(policy.firstByteTimeout)) s (a model that is still loading can take a minute; the timeout can be raised).")
        }
        let nap = min(deadline - now, min(1.0, policy.stallTimeout))
        try? await Task.sleep(nanoseconds: UInt64(max(0.001, nap) * 1e9))
    }
    return nil
}

/// Tells, from the bytes of a reply as they arrive, when a non-blank line completes: the unit
/// of progress for the stall timer (an NDJSON object, an SSE `data:` line). Constant memory.
struct LineProgress {
    private var lineHasContent = false

    /// True when `bytes` end at least one line that had something besides whitespace.
    mutating func completesLine(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var completed = false
        for b in bytes {
            if b == 0x0A {
                if lineHasContent { completed = true }
                lineHasContent = false
            } else if b != 0x0D && b != 0x20 && b != 0x09 {
                lineHasContent = true
            }
        }
        return completed
    }
}

/// Splits a byte stream into lines (LF or CRLF), keeping partial lines across chunks.
struct LineSplitter {
    private var buffer = Data()

    mutating func push(_ data: Data) -> [String] {
        buffer.append(data)
        var lines: [String] = []
        var start = buffer.startIndex
        while let nl = buffer[start...].firstIndex(of: 0x0A) {
            var end = nl
            if end > start, buffer[end - 1] == 0x0D { end -= 1 }
            lines.append(String(decoding: buffer[start..<end], as: UTF8.self))
            start = nl + 1
        }
        if start > buffer.startIndex { buffer = Data(buffer[start...]) }
        return lines
    }

    /// What is left when the stream ends (a last line without a newline).
    mutating func flush() -> String? {
        defer { buffer = Data() }
        guard !buffer.isEmpty else { return nil }
        var b = buffer
        if b.last == 0x0D { b.removeLast() }
        return String(decoding: b, as: UTF8.self)
    }
}

enum HTTP {
    /// A whole request/response, for small JSON calls. Retries with exponential backoff when
    /// no server answered (`unavailable`) if `idempotent`; never once a reply has started.
    static func fetch(_ request: URLRequest, endpoint: Endpoint, idempotent: Bool) async throws -> (status: Int, body: Data) {
        var attempt = 1
        var delay = endpoint.policy.initialBackoff
        while true {
            do {
                return try await fetchOnce(request, endpoint: endpoint)
            } catch let e as LLMError where e.kind == .unavailable && idempotent && attempt < endpoint.policy.maxAttempts {
                try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                attempt += 1
                delay *= 2
            }
        }
    }

    private static func fetchOnce(_ request: URLRequest, endpoint: Endpoint) async throws -> (status: Int, body: Data) {
        var status = 0
        var body = Data()
        for try await event in HTTPStreaming.start(request, endpoint: endpoint) {
            switch event {
            case .response(let s, _): status = s
            case .data(let d, _): body.append(d)
            }
        }
        try Task.checkCancellation()
        return (status, body)
    }

    /// The `error` text of a JSON error body (`{"error":"..."}` or `{"error":{"message":"..."}}`),
    /// or the body itself, shortened.
    static func errorText(_ body: Data) -> String {
        if let json = LLMJSON.parse(body) {
            if let s = json["error"]?.stringValue { return s }
            if let s = json["error"]?["message"]?.stringValue { return s }
            if let s = json["message"]?.stringValue { return s }
            if let s = json["detail"]?.stringValue { return s }
        }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "no details" : text
    }

    static func decodeJSON(_ body: Data, endpoint: Endpoint, what: String) throws -> LLMJSON {
        guard let json = LLMJSON.parse(body) else {
            throw LLMError(.badResponse, "\(endpoint.description) answered \(what) with something that is not JSON: \(errorText(body))")
        }
        return json
    }
}
