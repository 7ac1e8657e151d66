import Foundation

/// A client-side bound on one model reply, for servers that do not bound it themselves.
/// llama-cpp-python applies no `max_tokens` inside a tool call (its function-calling handler
/// passes `max_tokens=None`), and SmolLM2-135M was seen writing 2,669 and 3,076 tokens into
/// one call (100-120 s on one CPU thread). Past the bound the reply's stream is dropped, which
/// cancels the HTTP request, and the stream ends with an `LLMError` of kind `.timeout` whose
/// `stoppedByClient` is true, so the caller can recover (answer from what it has) instead of
/// waiting.
public struct ReplyBound: Sendable, Hashable {
    /// Streamed text (`ChatEvent.delta`) beyond this many UTF-8 bytes stops the reply.
    public var maxTextBytes: Int
    /// The whole reply, from the request to its last event, in seconds; nil leaves it to the
    /// HTTP policy (`HTTPPolicy.replyDeadline`).
    public var seconds: Double?

    public init(maxTextBytes: Int, seconds: Double?) {
        self.maxTextBytes = maxTextBytes; self.seconds = seconds
    }

    /// `upstream`, ended with a `stoppedByClient` error once it streams more than
    /// `maxTextBytes` of text or runs longer than `seconds`. Dropping the returned stream
    /// cancels `upstream` (and so its HTTP request).
    public func apply(_ upstream: AsyncThrowingStream<ChatEvent, Error>, what: String) -> AsyncThrowingStream<ChatEvent, Error> {
        let bound = self
        return AsyncThrowingStream { continuation in
            let reader = Task {
                var bytes = 0
                do {
                    for try await event in upstream {
                        if case .delta(let d) = event {
                            bytes += d.utf8.count
                            if bytes > bound.maxTextBytes {
                                // Leaving the loop drops `upstream`: its request is cancelled.
                                continuation.finish(throwing: Self.stopped("\(what) ran past \(bound.maxTextBytes) bytes of text (the reply's token limit, which the server did not apply)"))
                                return
                            }
                        }
                        continuation.yield(event)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            let watchdog: Task<Void, Never>? = bound.seconds.map { seconds in
                Task {
                    try? await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
                    if Task.isCancelled { return }
                    continuation.finish(throwing: Self.stopped("\(what) took longer than \(String(format: "%.0f", seconds)) s (the bound for this reply)"))
                    reader.cancel()
                }
            }
            continuation.onTermination = { _ in
                reader.cancel()
                watchdog?.cancel()
            }
        }
    }

    static func stopped(_ why: String) -> LLMError {
        var e = LLMError(.timeout, "xlchat stopped the reply: \(why).")
        e.stoppedByClient = true
        return e
    }
}
