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

/// Runs async engine work whose steps block (SQLite writes during an index build) on the
/// engine's own threads instead of the cooperative pool, through a task executor preference.
final class EngineExecutor: TaskExecutor {
    static let shared = EngineExecutor()
    private let queue = DispatchQueue(label: "xlchat.engine.async", qos: .userInitiated, attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}

extension Blocking {
    static func runAsync<T: Sendable>(_ work: @Sendable () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(EngineExecutor.shared) { try await work() }
    }
}
