import Foundation
import JSONRPC
import Synchronization
import XLChatProtocol

/// Sends `$/progress` for one request: one begin, reports, one end, in order. Engines report
/// through a plain closure from any thread; rapid updates are merged (a report is sent when the
/// percentage changes or the message does after 100 ms). `finish()` always sends the end.
final class ProgressReporter: Sendable {
    private let token: ProgressToken?
    private let continuation: AsyncStream<WorkDoneProgress>.Continuation?
    private let sender: Task<Void, Never>?
    private let last: Mutex<(percentage: Int?, message: String?, sentAt: UInt64, ended: Bool)>

    init(token: ProgressToken?, connection: Connection, title: String, cancellable: Bool = true) {
        self.token = token
        self.last = Mutex((nil, nil, 0, false))
        guard let token else {
            continuation = nil
            sender = nil
            return
        }
        let (stream, continuation) = AsyncStream<WorkDoneProgress>.makeStream()
        self.continuation = continuation
        self.sender = Task {
            for await value in stream {
                await connection.send(ProgressNotification(token: token, value: value))
            }
        }
        continuation.yield(WorkDoneProgress(kind: .begin, title: title, percentage: 0, cancellable: cancellable))
    }

    /// Reports `fraction` (0...1) done and what is happening now.
    func report(fraction: Double?, message: String?) {
        guard let continuation else { return }
        let percentage = fraction.map { max(0, min(100, Int(($0 * 100).rounded(.down)))) }
        let now = DispatchTime.now().uptimeNanoseconds
        let send = last.withLock { s -> Bool in
            guard !s.ended else { return false }
            let changed = percentage != nil && percentage != s.percentage
            let messageChanged = message != s.message && now - s.sentAt > 100_000_000
            guard changed || messageChanged else { return false }
            s.percentage = percentage ?? s.percentage
            s.message = message
            s.sentAt = now
            return true
        }
        if send { continuation.yield(WorkDoneProgress(kind: .report, message: message, percentage: percentage)) }
    }

    /// Sends the end (once) and waits until every notification before it went out.
    func finish(message: String? = nil) async {
        guard let continuation else { return }
        let first = last.withLock { s -> Bool in
            defer { s.ended = true }
            return !s.ended
        }
        guard first else { return }
        continuation.yield(WorkDoneProgress(kind: .end, message: message))
        continuation.finish()
        await sender?.value
    }
}

/// Runs `body` with a progress reporter, ending the progress whatever happens.
func withProgress<T: Sendable>(token: ProgressToken?, connection: Connection, title: String,
                               _ body: (ProgressReporter) async throws -> T) async throws -> T {
    let reporter = ProgressReporter(token: token, connection: connection, title: title)
    do {
        let value = try await body(reporter)
        await reporter.finish(message: "done")
        return value
    } catch {
        await reporter.finish(message: error is CancellationError ? "cancelled" : "failed")
        throw error
    }
}
