import Foundation
import Synchronization
import XLChatIndex
import XLChatWorkbook

/// The search part of each workbook version (chunks, FTS5, vectors), built after its typed
/// tables: by `index/build`, or on first search (`index/search`, the analyst's search tool),
/// or in the background after `chat/ask` answered from the tables. One build per content hash
/// at a time in this process: later callers join it. A build runs on as a detached task,
/// so cancelling the request that started it does not waste the work done (another
/// process's build of the same hash is excluded by the index's file lock).
final class SearchBuilds: Sendable {
    private struct Running: Sendable {
        var task: Task<Void, any Error>
        var fraction: Double
    }
    private let state = Mutex<[String: Running]>([:])

    /// 0...1 while the search part of `hash` is being built here; nil otherwise.
    func progress(_ hash: String) -> Double? { state.withLock { $0[hash]?.fraction } }

    /// Starts the search build of `hash` (reading the workbook at `path`), or joins the one
    /// running; `report` sees its progress when this call started it.
    @discardableResult
    func start(hash: String, path: String, index: WorkbookIndex, embedder: any Embedder,
               report: (@Sendable (ProgressUpdate) -> Void)? = nil) -> Task<Void, any Error> {
        state.withLock { running in
            if let r = running[hash] { return r.task }
            let task = Task.detached {
                // Holds `self` while it runs (no cycle after: the entry is removed at the end).
                defer { self.state.withLock { _ = $0.removeValue(forKey: hash) } }
                _ = try await Blocking.runAsync {
                    let reader = try Workbooks.open(path: path)
                    return try await index.buildSearch(hash: hash, reader: reader, embedder: embedder) { update in
                        self.state.withLock { $0[hash]?.fraction = update.fraction }
                        report?(update)
                    }
                }
            }
            running[hash] = Running(task: task, fraction: 0)
            return task
        }
    }

    /// Starts or joins the build of `hash` and waits for it.
    func wait(hash: String, path: String, index: WorkbookIndex, embedder: any Embedder,
              report: (@Sendable (ProgressUpdate) -> Void)? = nil) async throws {
        try await start(hash: hash, path: path, index: index, embedder: embedder, report: report).value
    }
}

extension XLChatServer {
    /// Lets a search of a workbook whose search part is missing build it first (through
    /// `searchBuilds`, so concurrent searches share one build).
    func installSearchBuilder(on index: WorkbookIndex) {
        index.setSearchBuilder { [weak self, weak index] hash in
            guard let self, let index else { return }
            guard let path = self.workbooks.path(forHash: hash) else {
                throw IndexError(.indexNotBuilt, "the search index of \(hash) is not built and its workbook is not open")
            }
            try await self.searchBuilds.wait(hash: hash, path: path, index: index, embedder: try await self.embedder())
        }
    }
}
