import Foundation
import Synchronization
import XLChatWorkbook

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
    /// Runs `work` on the engine pool on behalf of `owner` (a connection's id), so that one
    /// client's stuck or slow work cannot take every engine thread (see `EnginePool`).
    static func run<T: Sendable>(owner: Int = 0, _ work: @escaping @Sendable (CancellationToken) throws -> T) async throws -> T {
        let token = CancellationToken()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
                EnginePool.shared.submit(owner: owner) {
                    if token.isCancelled { c.resume(throwing: CancellationError()); return }
                    do {
                        let value = try ReadCancellation.withThreadBinding({ token.isCancelled }) { try work(token) }
                        c.resume(returning: value)
                    } catch { c.resume(throwing: error) }
                }
            }
        } onCancel: {
            token.cancel()
        }
    }
}

/// A fixed set of engine threads shared fairly between owners (connections). The pool has
/// `threads` threads (4 or twice the cores, whichever is more); one owner runs at most
/// `perOwner` jobs at a time (half the threads), and a free thread takes the next job of the
/// owner after the one it served last (round robin), so a client with 60 queued opens delays
/// another client's open by at most one job, not 60. Before: a concurrent `DispatchQueue`,
/// whose threads grew with every blocked job (issue 14, item 6: 60 stuck FIFO opens delayed
/// other clients' opens by 56 s).
final class EnginePool: @unchecked Sendable {
    static let shared = EnginePool(threads: max(4, ProcessInfo.processInfo.activeProcessorCount * 2))

    let threads: Int
    let perOwner: Int
    private let condition = NSCondition()
    private var queues: [Int: [@Sendable () -> Void]] = [:]
    private var running: [Int: Int] = [:]
    /// Owners with queued jobs, in round-robin order.
    private var order: [Int] = []

    init(threads: Int) {
        self.threads = threads
        self.perOwner = max(1, threads / 2)
        for i in 0..<threads {
            let t = Thread { [unowned self] in self.loop() }
            t.name = "xlchat.engine.\(i)"
            t.stackSize = 8 << 20
            t.start()
        }
    }

    /// Jobs running now, over all owners (for tests and metrics).
    var runningJobs: Int {
        condition.lock()
        defer { condition.unlock() }
        return running.values.reduce(0, +)
    }

    func submit(owner: Int, _ job: @escaping @Sendable () -> Void) {
        condition.lock()
        if queues[owner] == nil { queues[owner] = []; order.append(owner) }
        queues[owner]!.append(job)
        condition.broadcast()
        condition.unlock()
    }

    /// The next job of the first owner in round-robin order that is under its share.
    private func take() -> (Int, @Sendable () -> Void)? {
        for (i, owner) in order.enumerated() where running[owner, default: 0] < perOwner {
            var q = queues[owner]!
            let job = q.removeFirst()
            order.remove(at: i)
            if q.isEmpty { queues[owner] = nil } else { queues[owner] = q; order.append(owner) }
            running[owner, default: 0] += 1
            return (owner, job)
        }
        return nil
    }

    private func loop() {
        while true {
            condition.lock()
            var next = take()
            while next == nil {
                condition.wait()
                next = take()
            }
            condition.unlock()
            let (owner, job) = next!
            job()
            condition.lock()
            running[owner, default: 1] -= 1
            if running[owner] == 0 { running[owner] = nil }
            condition.broadcast()
            condition.unlock()
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
        try await withTaskExecutorPreference(EngineExecutor.shared) {
            try await work()
        }
    }
}
