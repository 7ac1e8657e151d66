import Foundation
import Synchronization

// The engine's threads: one bounded pool (`EnginePool`) for every piece of blocking engine work
// (reading workbooks, SQL, index builds, the analyst's tools), and one cancellation token type
// (`CancellationToken`). They live in the lowest engine module so the server and the agent share
// them. Before: three mechanisms, two of them unbounded (the server's pool, a concurrent
// `DispatchQueue` behind its task executor, and the agent's own concurrent `DispatchQueue`).

/// The cancellation of one piece of engine work. Long synchronous work runs on a thread
/// outside the cooperative pool, so it never starves the connections' tasks on a 2-core machine;
/// cancelling the awaiting task sets the token, which the work checks (`check()`, or
/// `ReadCancellation.check()` inside the readers, which `Blocking.run` binds to the token).
public final class CancellationToken: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
    public func cancel() { flag.store(true, ordering: .relaxed) }
    /// Throws `CancellationError` once cancelled: call it from long loops.
    public func check() throws { if isCancelled { throw CancellationError() } }
}

/// Runs engine work on the engine's threads and awaits it.
public enum Blocking {
    /// Runs `work` on the engine pool on behalf of `owner` (a connection's id), so that one
    /// client's stuck or slow work cannot take every engine thread (see `EnginePool`).
    /// - Throws: what `work` throws; `CancellationError` when the awaiting task was cancelled
    ///   before the work started (the token is set when it is cancelled later).
    public static func run<T: Sendable>(owner: Int = 0, _ work: @escaping @Sendable (CancellationToken) throws -> T) async throws -> T {
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
public final class EnginePool: @unchecked Sendable {
    public static let shared = EnginePool(threads: max(4, ProcessInfo.processInfo.activeProcessorCount * 2))

    public let threads: Int
    public let perOwner: Int
    private let condition = NSCondition()
    private var queues: [Int: [@Sendable () -> Void]] = [:]
    private var running: [Int: Int] = [:]
    /// Owners with queued jobs, in round-robin order.
    private var order: [Int] = []

    public init(threads: Int) {
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
    public var runningJobs: Int {
        condition.lock()
        defer { condition.unlock() }
        return running.values.reduce(0, +)
    }

    public func submit(owner: Int, _ job: @escaping @Sendable () -> Void) {
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

/// Runs async engine work whose steps block (SQLite writes during an index build, the
/// analyst's loop) on the engine pool instead of the cooperative pool, through a task executor
/// preference: each job of the task goes to `EnginePool.shared` under its owner, so async work
/// is bounded and shared fairly like the synchronous work. Before: an unbounded concurrent
/// `DispatchQueue`.
final class EngineExecutor: TaskExecutor {
    let owner: Int
    init(owner: Int) { self.owner = owner }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        EnginePool.shared.submit(owner: owner) { job.runSynchronously(on: executor) }
    }
}

extension Blocking {
    /// Runs async `work` with its jobs on the engine pool, on behalf of `owner`.
    public static func runAsync<T: Sendable>(owner: Int = 0, _ work: @Sendable () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(EngineExecutor(owner: owner)) {
            try await work()
        }
    }
}
