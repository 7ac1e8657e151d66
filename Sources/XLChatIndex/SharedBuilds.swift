import Foundation
import Synchronization

/// Builds keyed by content hash, each run once however many callers ask at the same time: the
/// first caller starts the build as a detached task, later callers join it and all see its
/// progress and its outcome. When the build ends (done, failed or cancelled) its key is free
/// again, so the next call starts afresh.
///
/// Cancellation: a caller whose task is cancelled stops waiting at once (`CancellationError`).
/// With `cancelsWhenAbandoned`, the build itself is cancelled when its last waiter leaves (an
/// index build that nobody waits for any more stops, its staging file removed by the index);
/// without it, the build runs on (the search part: work done is not wasted, and a build
/// started with no waiter, in the background, must not stop at once).
final class SharedBuilds<Value: Sendable>: Sendable {
    typealias Report = @Sendable (ProgressUpdate) -> Void

    private struct Waiter {
        var continuation: CheckedContinuation<Value, any Error>
        var report: Report?
    }
    private struct Running {
        var serial: UInt64
        var task: Task<Void, Never>?
        var waiters: [UInt64: Waiter] = [:]
        var fraction: Double = 0
    }
    private struct State {
        var running: [String: Running] = [:]
        var nextSerial: UInt64 = 0
        /// Builds whose task has not returned yet (abandoned ones included).
        var inFlight = 0
    }

    private enum Joined { case cancelled, joined, started(UInt64) }
    private let state = Mutex(State())
    let cancelsWhenAbandoned: Bool

    init(cancelsWhenAbandoned: Bool) { self.cancelsWhenAbandoned = cancelsWhenAbandoned }

    /// 0...1 while the build of `key` runs; nil otherwise.
    func progress(_ key: String) -> Double? { state.withLock { $0.running[key]?.fraction } }

    /// Builds whose work has not returned yet, abandoned (cancelled) ones included.
    var inFlight: Int { state.withLock { $0.inFlight } }

    /// Starts the build of `key` with `work`, or joins the one running, and waits for it.
    /// `report` sees the progress from now on.
    /// - Throws: what `work` throws; `CancellationError` when the calling task is cancelled.
    func run(key: String, report: Report? = nil, work: @escaping @Sendable (@escaping Report) async throws -> Value) async throws -> Value {
        let waiterID = state.withLock { s -> UInt64 in s.nextSerial += 1; return s.nextSerial }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Value, any Error>) in
                // Joined or started and registered in one step, so no outcome is missed.
                let joined = state.withLock { s -> Joined in
                    if Task.isCancelled { return .cancelled }
                    let waiter = Waiter(continuation: c, report: report)
                    if s.running[key] != nil {
                        s.running[key]!.waiters[waiterID] = waiter
                        return .joined
                    }
                    s.nextSerial += 1
                    var running = Running(serial: s.nextSerial)
                    running.waiters[waiterID] = waiter
                    s.running[key] = running
                    return .started(s.nextSerial)
                }
                switch joined {
                case .cancelled: c.resume(throwing: CancellationError())
                case .joined: break
                case .started(let serial): startIfNeeded(key: key, serial: serial, work: work)
                }
            }
        } onCancel: {
            leave(key: key, waiterID: waiterID)
        }
    }

    /// Starts the build of `key` when none runs, with nobody waiting (a background build).
    func start(key: String, work: @escaping @Sendable (@escaping Report) async throws -> Value) {
        let serial = state.withLock { s -> UInt64? in
            if s.running[key] != nil { return nil }
            s.nextSerial += 1
            s.running[key] = Running(serial: s.nextSerial)
            return s.nextSerial
        }
        if let serial { startIfNeeded(key: key, serial: serial, work: work) }
    }

    private func startIfNeeded(key: String, serial: UInt64, work: @escaping @Sendable (@escaping Report) async throws -> Value) {
        let shouldStart = state.withLock { s -> Bool in
            guard s.running[key]?.serial == serial, s.running[key]?.task == nil else { return false }
            s.inFlight += 1
            return true
        }
        guard shouldStart else { return }
        let report: Report = { [weak self] update in
            guard let self else { return }
            let reporters = self.state.withLock { s -> [Report] in
                guard s.running[key]?.serial == serial else { return [] }
                s.running[key]!.fraction = update.fraction
                return s.running[key]!.waiters.values.compactMap(\.report)
            }
            for r in reporters { r(update) }
        }
        let task = Task.detached { [self] in
            let outcome: Result<Value, any Error>
            do { outcome = .success(try await work(report)) } catch { outcome = .failure(error) }
            let waiters = state.withLock { s -> [Waiter] in
                s.inFlight -= 1
                guard let r = s.running[key], r.serial == serial else { return [] }
                s.running[key] = nil
                return Array(r.waiters.values)
            }
            for w in waiters { w.continuation.resume(with: outcome) }
        }
        state.withLock { s in
            if s.running[key]?.serial == serial { s.running[key]!.task = task }
            else if cancelsWhenAbandoned { task.cancel() }  // abandoned before the task was recorded
        }
    }

    /// A cancelled caller stops waiting; the last one out cancels the build (when it should)
    /// and frees its key, so the next caller starts a new build.
    private func leave(key: String, waiterID: UInt64) {
        let (waiter, abandoned) = state.withLock { s -> (Waiter?, Task<Void, Never>??) in
            guard var r = s.running[key], let w = r.waiters.removeValue(forKey: waiterID) else { return (nil, nil) }
            if r.waiters.isEmpty && cancelsWhenAbandoned {
                s.running[key] = nil
                return (w, .some(r.task))
            }
            s.running[key] = r
            return (w, nil)
        }
        waiter?.continuation.resume(throwing: CancellationError())
        if let abandoned { abandoned?.cancel() }
    }
}
