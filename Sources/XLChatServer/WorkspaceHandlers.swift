import Foundation
import JSONRPC
import Synchronization
import XLChatIndex
import XLChatProtocol
import XLChatWorkbook

/// The workspaces the server has open, shared by every session: one `WorkspaceIndex` and one
/// folder watcher per folder, and the connections to tell when it changes.
final class WorkspaceStore: Sendable {
    final class Workspace: @unchecked Sendable {
        let id: String
        let root: String
        let index: WorkspaceIndex
        let subscribers = Mutex<[Int: Connection]>([:])
        let watcher = Mutex<FolderWatcher?>(nil)
        /// Refreshes run one after another (the last one's task; the next awaits it first).
        private let chain = Mutex<Task<WorkspaceRefresh, any Error>?>(nil)

        /// Settled changes handed to a refresh that has not finished yet.
        let pendingRefreshes = Mutex<Int>(0)

        init(id: String, root: String, index: WorkspaceIndex) { self.id = id; self.root = root; self.index = index }

        /// Whether an answer now may miss a change: one is settling in the watcher, waits for
        /// its refresh, or is being re-indexed (answers then come from the last complete state).
        var isChanging: Bool {
            index.refreshing || pendingRefreshes.withLock { $0 > 0 } || watcher.withLock { $0?.isSettling ?? false }
        }

        func refresh(_ body: @escaping @Sendable () async throws -> WorkspaceRefresh) async throws -> WorkspaceRefresh {
            let task = chain.withLock { last -> Task<WorkspaceRefresh, any Error> in
                let previous = last
                let next = Task { () async throws -> WorkspaceRefresh in
                    _ = try? await previous?.value
                    return try await body()
                }
                last = next
                return next
            }
            return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
        }
    }

    private let open = Mutex<[String: Workspace]>([:])

    static func workspaceID(forRoot root: String) -> String { "ws-" + ContentHash.sha256(string: root).prefix(16) }

    func workspace(_ id: String) -> Workspace? { open.withLock { $0[id] } }

    func workspace(root: String, make: () throws -> WorkspaceIndex) throws -> Workspace {
        let id = Self.workspaceID(forRoot: root)
        return try open.withLock { all in
            if let w = all[id] { return w }
            let w = Workspace(id: id, root: root, index: try make())
            all[id] = w
            return w
        }
    }

    /// Forgets `connection` everywhere; a workspace nobody follows stops being watched.
    func unsubscribe(_ connection: Connection, from id: String? = nil) {
        let all = open.withLock { Array($0.values) }
        for w in all where id == nil || w.id == id {
            let empty = w.subscribers.withLock { s -> Bool in s[connection.id] = nil; return s.isEmpty }
            if empty { w.watcher.withLock { $0?.stop(); $0 = nil } }
        }
    }
}

/// workspace/* handlers.
extension Session {
    /// Builds one workspace file's search part: through its workbook's handle when this
    /// process has one open (one build per content hash, shared with index/search and the
    /// analyst), else read from the file by the engine (the index's file lock keeps it to one
    /// build per hash). Used by workspace/search and the analyst's `search` tool.
    func searchPartBuilder(_ workspace: WorkspaceIndex, embedder: any Embedder) -> @Sendable (String, String) async throws -> Void {
        let registry = server.workbooks
        let owner = connection.id
        let direct = workspace.defaultSearchBuilder(embedder: embedder)
        return { path, hash in
            if let handle = registry.handle(forHash: hash) {
                _ = try await handle.ensureSearchIndex(embedder: embedder, owner: owner)
            } else {
                try await direct(path, hash)
            }
        }
    }

    /// The most workbooks a workspace opens (`XLCHAT_WORKSPACE_MAX_FILES`, default 10,000).
    static func workspaceMaxFiles(_ env: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        env["XLCHAT_WORKSPACE_MAX_FILES"].flatMap(Int.init).map { max(1, $0) } ?? 10_000
    }

    func openWorkspace(_ params: WorkspaceOpenRequest, context: RequestContext) async throws -> WorkspaceOpenResult {
        let root = WorkbookRegistry.canonical(params.path)
        var st = stat()
        guard stat(root, &st) == 0 else {
            throw WorkbookError(.fileNotFound, "no such folder: \(params.path)")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw ResponseError.invalidParams("invalid params: \(params.path) is a file, not a folder: open it with workbook/open, or give its folder")
        }
        guard root != "/" else {
            throw ResponseError.invalidParams("invalid params: '/' is the whole filesystem, not a workspace: open a folder of workbooks")
        }
        let index = try server.index()
        let scanner = WorkspaceScanner(extensions: Set(XLChatServer.formats), include: params.include ?? [],
                                       exclude: params.exclude ?? [], maxFiles: Self.workspaceMaxFiles(),
                                       skipDirectories: [server.configuration.dataDirectory])
        let workspace = try server.workspaces.workspace(root: root) {
            try WorkspaceIndex(index: index, root: root, scanner: scanner)
        }
        workspace.subscribers.withLock { $0[connection.id] = connection }
        state.withLock { $0.openWorkspaces.insert(workspace.id) }
        let refresh = try await withProgress(token: params.workDoneToken, connection: context.connection, title: "Opening workspace") { progress in
            try await refreshWorkspace(workspace) { done, total, message in
                progress.report(fraction: total == 0 ? 1 : Double(done) / Double(total), message: "\(done) of \(total) files: \(message)")
            }
        }
        let watching = startWatching(workspace, scanner: scanner, files: refresh.entries)
        return WorkspaceOpenResult(
            workspaceId: workspace.id, root: params.path, workbooks: refresh.entries.map(Self.wire),
            tables: refresh.tables.map(Self.wire), unions: refresh.unions.map(Self.wire),
            problems: refresh.problems.map { WorkspaceProblemDescription(path: $0.relativePath, message: $0.message) },
            truncated: refresh.truncation, filesRead: refresh.filesRead, watching: watching, durationMs: refresh.durationMs)
    }

    /// Re-indexes what changed in the folder: each added or changed file is opened and its
    /// typed tables built (reused by content hash; the search part is not needed), one file at a time, so memory follows
    /// the largest file, not the sum.
    func refreshWorkspace(_ workspace: WorkspaceStore.Workspace, progress: (@Sendable (Int, Int, String) -> Void)? = nil) async throws -> WorkspaceRefresh {
        let store = server.workbooks
        let owner = connection.id
        return try await workspace.refresh {
            try await Blocking.runAsync {
                try await workspace.index.refresh(build: { file in
                    do {
                        let handle = try await Blocking.run(owner: owner) { token in try store.open(path: file.path, token: token) }
                        // A workspace needs only the typed tables (issue 13: open built them in its pass).
                        return try await handle.ensureIndexed(owner: owner).contentHash
                    } catch let e as WorkbookError {
                        throw WorkspaceFileError(kind: e.kind.rawValue, message: e.message)
                    }
                }, progress: progress)
            }
        }
    }

    /// Starts the folder's watcher once; each settled change re-indexes the changed files and
    /// sends `workspace/didChange` to every session that has the workspace open.
    private func startWatching(_ workspace: WorkspaceStore.Workspace, scanner: WorkspaceScanner, files: [WorkspaceEntry]) -> String {
        let known = files.map { WorkspaceFile(path: workspace.root + "/" + $0.relativePath, relativePath: $0.relativePath, size: $0.size, mtimeNs: $0.mtimeNs) }
        let session = self
        let watcher = workspace.watcher.withLock { current -> FolderWatcher in
            if let current { return current }
            let w = FolderWatcher(root: workspace.root, scanner: scanner, initial: known) { _ in
                workspace.pendingRefreshes.withLock { $0 += 1 }
                Task {
                    defer { workspace.pendingRefreshes.withLock { $0 -= 1 } }
                    guard let r = try? await session.refreshWorkspace(workspace), !r.delta.isEmpty else { return }
                    let note = WorkspaceDidChangeNotification(
                        workspaceId: workspace.id, added: r.delta.added.map(\.relativePath), changed: r.delta.changed.map(\.relativePath),
                        removed: r.delta.removed, workbooks: r.entries.map(Self.wire), tables: r.tables.map(Self.wire), unions: r.unions.map(Self.wire))
                    for c in workspace.subscribers.withLock({ Array($0.values) }) { await c.send(note) }
                }
            }
            current = w
            return w
        }
        switch watcher.mode {
        case .inotify: return "inotify"
        case .polling(let reason): return "polling (\(reason))"
        }
    }

    /// What an answer or a query says while files of its workspace are being re-indexed.
    static let staleWorkspaceNote = "files of this workspace are being re-indexed; this answer is from the last complete state"

    func queryWorkspace(_ params: WorkspaceQueryRequest) async throws -> WorkspaceQueryResult {
        let workspace = try sessionWorkspace(params.workspaceId)
        let limit = min(max(params.limit ?? 500, 1), 100_000)
        let config = server.configuration
        let capMs = max(config.maxQueryTimeoutMs, config.queryTimeoutMs)
        let timeout = Double(min(max(params.timeoutMs ?? config.queryTimeoutMs, 1), capMs)) / 1000
        let stale = workspace.isChanging ? Self.staleWorkspaceNote : nil
        let (result, files) = try await Blocking.run(owner: connection.id) { token in
            try workspace.index.query(sql: params.sql, limit: limit, timeout: timeout, isCancelled: { token.isCancelled })
        }
        let citations: [WorkspaceCitation?] = result.sourceRanges.enumerated().map { i, r in
            guard let r, let file = files[i] else { return nil }
            return WorkspaceCitation(file: file, sheet: r.sheet, range: r.range.description)
        }
        return WorkspaceQueryResult(columns: result.columns, rows: result.rows.map { $0.map(WireFormat.sql) }, truncated: result.truncated,
                                    citations: citations, durationMs: result.durationMs,
                                    warnings: result.warnings.isEmpty ? nil : result.warnings, stale: stale)
    }

    /// The session's open workspace `id`, or `unknownWorkbook`.
    func sessionWorkspace(_ id: String) throws -> WorkspaceStore.Workspace {
        guard state.withLock({ $0.openWorkspaces.contains(id) }), let workspace = server.workspaces.workspace(id) else {
            throw ResponseError.work(.unknownWorkbook, "unknown workspace '\(id)': open it with workspace/open first")
        }
        return workspace
    }

    /// `workspace/search`: the engine's `WorkspaceIndex.search`, building missing search parts
    /// through the workbooks' handles (one build per content hash at a time).
    func searchWorkspace(_ params: WorkspaceSearchRequest, context: RequestContext) async throws -> WorkspaceSearchResponse {
        let workspace = try sessionWorkspace(params.workspaceId)
        let limit = min(max(params.limit ?? 10, 1), 100)
        var fallback: String? = nil
        let embedder: any Embedder
        do { embedder = try await server.embedder() } catch {
            // As index/search: offline, keywords only (the built-in embedder's vectors are not
            // compared with a model server's).
            fallback = "keyword search only: the embedding server is unavailable (\(error))"
            embedder = HashingEmbedder()
        }
        func builder(_ embedder: any Embedder) -> @Sendable (String, String) async throws -> Void {
            searchPartBuilder(workspace.index, embedder: embedder)
        }
        let stale = workspace.isChanging
            ? "files of this workspace are being re-indexed; these hits are from the last complete state" : nil
        let outcome = try await withProgress(token: params.workDoneToken, connection: context.connection, title: "Searching workspace") { progress in
            let report: @Sendable (Int, Int, String) -> Void = { done, total, message in
                progress.report(fraction: total == 0 ? 1 : Double(done) / Double(total), message: "\(done) of \(total) files: \(message)")
            }
            do {
                return try await workspace.index.search(query: params.query, limit: limit, embedder: embedder,
                                                        buildSearch: builder(embedder), progress: report)
            } catch let error where Self.isEmbedderOutage(error) {
                // The model server failed on the query: keywords only, as index/search does.
                fallback = "keyword search only: the embedding server is unavailable (\(error))"
                let keywords = HashingEmbedder()
                return try await workspace.index.search(query: params.query, limit: limit, embedder: keywords,
                                                        buildSearch: builder(keywords), progress: report)
            }
        }
        return WorkspaceSearchResponse(
            results: outcome.hits.map { h in
                WorkspaceSearchItem(file: h.relativePath, sheet: h.sheet, range: h.range.description,
                                    ref: "\(h.relativePath) › " + A1.qualified(sheet: h.sheet, range: h.range),
                                    table: h.table, text: h.text, score: h.score, kind: h.kind)
            },
            filesSearched: outcome.filesSearched, filesBuilt: outcome.filesBuilt,
            skipped: outcome.skipped.map { WorkspaceWorkbook(path: $0.relativePath, status: "error", tables: [], errorKind: $0.kind, error: $0.message) },
            truncated: outcome.truncated, fallback: fallback, stale: stale, durationMs: outcome.durationMs)
    }

    func closeWorkspace(_ params: WorkspaceCloseRequest) throws -> VoidResponse {
        guard state.withLock({ $0.openWorkspaces.remove(params.workspaceId) != nil }) else {
            throw ResponseError.work(.unknownWorkbook, "unknown workspace '\(params.workspaceId)': it is not open in this session")
        }
        server.workspaces.unsubscribe(connection, from: params.workspaceId)
        return VoidResponse()
    }

    static func wire(_ e: WorkspaceEntry) -> WorkspaceWorkbook {
        WorkspaceWorkbook(path: e.relativePath, status: e.error == nil ? "ready" : "error", tables: e.tables, errorKind: e.errorKind, error: e.error)
    }
    static func wire(_ t: WorkspaceTable) -> WorkspaceTableDescription {
        WorkspaceTableDescription(name: t.name, file: t.relativePath, sheet: t.sheet, table: t.sourceTable, columns: t.columns, rows: t.rows)
    }
    static func wire(_ u: WorkspaceUnion) -> WorkspaceUnionDescription {
        WorkspaceUnionDescription(name: u.name, members: u.members, columns: u.columns)
    }
}
