import Foundation
import Synchronization

/// Long synchronous engine work (reading a 1M-row sheet, building an index) runs on a thread
/// outside the cooperative pool, so it never starves the connections' tasks on a 2-core machine.
/// Cancellation of the awaiting task sets the token the work checks.
public final class CancellationToken: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
    public func cancel() { flag.store(true, ordering: .relaxed) }
    /// Throws `CancellationError` once cancelled: call it from long loops.
    public func check() throws { if isCancelled { throw CancellationError() } }
}

enum Blocking {
    private static let queue = DispatchQueue(label: "xlchat.engine", qos: .userInitiated, attributes: .concurrent)

    static func run<T: Sendable>(_ work: @escaping @Sendable (CancellationToken) throws -> T) async throws -> T {
        let token = CancellationToken()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
                queue.async {
                    do { c.resume(returning: try work(token)) } catch { c.resume(throwing: error) }
                }
            }
        } onCancel: {
            token.cancel()
        }
    }
}
