import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Turns a provider's streamed lines into chat events.
protocol ChatLineDecoder: Sendable {
    /// Events for one line; `done` is true once the reply says it is complete.
    mutating func decode(line: String) throws -> (events: [ChatEvent], done: Bool)
    /// Events owed when the stream ends (tool calls still being assembled), if it ended cleanly.
    mutating func finish() throws -> [ChatEvent]
    /// The server's figures for the reply.
    var stats: ChatStats { get }
    /// Whether the reply counts as complete even though no explicit end marker came.
    var finishedWithoutDone: Bool { get }
    /// The error for a non-2xx reply.
    func httpError(status: Int, body: Data) -> LLMError
}

/// Runs one streaming chat request: HTTP events → lines → decoder → ChatEvents, with the
/// client-side timings. Cancelling the consumer cancels the producer task, which ends the
/// HTTP stream and so the URLSessionTask.
enum ChatStreamDriver {
    static func run<D: ChatLineDecoder>(request: URLRequest, endpoint: Endpoint, model: String, decoder: D)
        -> AsyncThrowingStream<ChatEvent, Error> {
        let (stream, continuation) = AsyncThrowingStream<ChatEvent, Error>.makeStream(bufferingPolicy: .unbounded)
        let producer = Task {
            var decoder = decoder
            do {
                try await produce(request: request, endpoint: endpoint, decoder: &decoder, continuation: continuation)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination { producer.cancel() }
        }
        return stream
    }

    private static func produce<D: ChatLineDecoder>(request: URLRequest, endpoint: Endpoint, decoder: inout D,
                                                    continuation: AsyncThrowingStream<ChatEvent, Error>.Continuation) async throws {
        // A chat is not idempotent once it streams, but a refused connection never reached the
        // server, so retrying that (and only that) is safe.
        var attempt = 1
        var delay = endpoint.policy.initialBackoff
        while true {
            do {
                try await attemptOnce(request: request, endpoint: endpoint, decoder: &decoder, continuation: continuation)
                return
            } catch is NotStarted where attempt < endpoint.policy.maxAttempts {
                try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                attempt += 1
                delay *= 2
            } catch let e as NotStarted {
                throw e.error
            }
        }
    }

    /// A refused connection before anything was received: safe to retry.
    private struct NotStarted: Error { var error: LLMError }

    private static func attemptOnce<D: ChatLineDecoder>(request: URLRequest, endpoint: Endpoint, decoder: inout D,
                                                        continuation: AsyncThrowingStream<ChatEvent, Error>.Continuation) async throws {
        let start = monotonicNow()
        var status = 0
        var errorBody = Data()
        var splitter = LineSplitter()
        var firstByte: Double?
        var firstDelta: Double?
        var firstDeltaArrival: Double?
        var chunkArrival = 0.0
        var done = false

        func handle(_ line: String) throws {
            let (events, isDone) = try decoder.decode(line: line)
            for e in events {
                if case .delta = e, firstDelta == nil {
                    firstDelta = monotonicNow() - start
                    firstDeltaArrival = chunkArrival
                }
                continuation.yield(e)
            }
            if isDone { done = true }
        }

        do {
            for try await event in HTTPStreaming.start(request, endpoint: endpoint) {
                switch event {
                case .response(let s, let after):
                    status = s
                    firstByte = after
                case .data(let data, let at):
                    chunkArrival = at
                    if !(200..<300).contains(status) { errorBody.append(data); continue }
                    for line in splitter.push(data) where !done { try handle(line) }
                }
            }
        } catch let e as LLMError where e.connectionRefused && firstByte == nil {
            throw NotStarted(error: e)
        }
        try Task.checkCancellation()
        if !(200..<300).contains(status) { throw decoder.httpError(status: status, body: errorBody) }
        if !done, let last = splitter.flush() { try handle(last) }
        let pending = try decoder.finish()
        guard done || decoder.finishedWithoutDone else {
            throw LLMError(.streamFailed,
                           "The reply from \(endpoint.description) ended before the server said it was complete (the server may have stopped or crashed); try again.")
        }
        for e in pending {
            if case .delta = e, firstDelta == nil { firstDelta = monotonicNow() - start; firstDeltaArrival = chunkArrival }
            continuation.yield(e)
        }
        var stats = decoder.stats
        stats.timeToFirstByte = firstByte
        stats.timeToFirstDelta = firstDelta
        stats.firstDeltaBytesArrivedAt = firstDeltaArrival
        stats.totalTime = monotonicNow() - start
        continuation.yield(.done(stats))
    }
}
