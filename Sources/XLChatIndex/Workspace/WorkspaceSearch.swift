// Search across the files of a workspace (issue 12, `workspace/search`).
//
// Each file keeps its own search part (`<hash>.search.sqlite`: chunks, FTS5, int8 vectors),
// built on first search exactly as for one workbook. A workspace search builds the parts that
// are missing, then asks every file for its best candidates on each side (BM25 from FTS5, cosine
// from the vectors) and merges them by reciprocal rank fusion over *global* ranks:
//
// - The vector side: cosines of one embedder are on one scale in every file (unit vectors), so
//   ranking all files' candidates by cosine is meaningful.
// - The BM25 side: FTS5's bm25() uses each file's own term statistics, so values are only
//   roughly comparable across files; still, a strong match in one file outranks a weak one in
//   another, which per-file ranks cannot say.
// - Then RRF (k = 60, descriptions ×0.7), exactly as `LoadedSearch.search` fuses one file: a
//   workspace of one file ranks as `index/search` does.
// Why not fuse each file's own RRF scores, or min-max-normalised scores: both give every file's
// best chunk the same top score however weak it is, so 500 files would interleave 500
// "best" hits. RRF needs only an order per side, and these orders are comparable across files.
//
// Bounded for 500 files: candidates are kept in two lists of `depth` (not files × depth); each
// file's search part is opened, queried and let go unless it fits the cache's byte budget (so
// memory is the budget plus the largest file's vectors); the query phase stops at its time
// budget and says how many files it searched.
import Foundation
import GRDB
import Synchronization
import XLChatWorkbook

/// One hit of a workspace search.
public struct WorkspaceSearchHit: Sendable, Hashable {
    /// The file, relative to the workspace folder.
    public var relativePath: String
    public var sheet: String
    public var range: CellRange
    /// The workspace name of the table whose rows or columns hold the range (nil for a sheet
    /// description or a range outside every table).
    public var table: String?
    public var text: String
    /// Reciprocal-rank-fusion score over the workspace's global ranks (higher is better).
    public var score: Double
    /// "row", "window", "table", "column" or "sheet".
    public var kind: String
}

/// A file that was not searched, and why (its search part could not be built or read, or it
/// changed since the workspace was last indexed).
public struct WorkspaceSearchSkip: Sendable, Hashable {
    public var relativePath: String
    public var kind: String
    public var message: String
}

public struct WorkspaceSearchResult: Sendable {
    public var hits: [WorkspaceSearchHit]
    /// Files whose search part was queried.
    public var filesSearched: Int
    /// Files whose search part this search built (first search of that version).
    public var filesBuilt: Int
    public var skipped: [WorkspaceSearchSkip]
    /// Set when the time budget ran out before every file was queried.
    public var truncated: String?
    public var durationMs: Double
}

extension WorkspaceIndex {
    /// The engine's way to build one file's search part: reads the workbook at `path` and
    /// builds the search file of `hash` with `embedder` (`WorkbookIndex.buildSearch`).
    public func defaultSearchBuilder(embedder: any Embedder) -> @Sendable (_ path: String, _ hash: String) async throws -> Void {
        let index = self.index
        return { path, hash in
            let reader = try Workbooks.open(path: path)
            _ = try await index.buildSearch(hash: hash, reader: reader, embedder: embedder)
        }
    }

    /// Searches every ready file of the workspace (the last committed state) for `query`.
    ///
    /// - Parameters:
    ///   - limit: most hits (0...100 is sensible; at most 1,000 are kept).
    ///   - embedder: embeds the query once; files whose search part was built with another
    ///     embedder rank by BM25 only (their vectors are not comparable).
    ///   - timeBudget: seconds for the query phase (opening and querying the files' search
    ///     parts); past it the remaining files are left out and `truncated` says so. Builds of
    ///     missing search parts are not cut by it (they report progress and are cancellable).
    ///   - buildSearch: builds the search part of one file version (`path`, content `hash`);
    ///     the server passes its shared `SearchBuilds`, others `defaultSearchBuilder`.
    ///   - progress: `(done, total, message)` over the files whose search part is built.
    /// - Returns: the hits, best first, each naming its file, sheet, range and table.
    /// - Throws: `IndexError(.embedderFailed)` when the embedder fails on the query,
    ///   `IndexError(.storage)` when the workspace database cannot be read,
    ///   `CancellationError`. A file whose search part cannot be built or read is listed in
    ///   `skipped` (the rest are searched).
    public func search(query: String, limit: Int = 10, embedder: any Embedder, timeBudget: Double = 10,
                       buildSearch: @escaping @Sendable (_ path: String, _ hash: String) async throws -> Void,
                       progress: ((Int, Int, String) -> Void)? = nil) async throws -> WorkspaceSearchResult {
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        let limit = min(max(0, limit), 1000)
        let entries = try entries().filter { $0.error == nil && $0.contentHash != nil }
        var skipped: [WorkspaceSearchSkip] = []

        // 1. Build the search parts that are missing (first search of these versions).
        var missing: [WorkspaceEntry] = []
        for e in entries where !searchPartCurrent(hash: e.contentHash!) { missing.append(e) }
        var built = 0
        for (i, e) in missing.enumerated() {
            try Task.checkCancellation()
            progress?(i, missing.count, "building search for \(e.relativePath)")
            let path = root + "/" + e.relativePath
            // The manifest's hash describes the file as last indexed; reading a file that has
            // changed since would store its new content under the old hash.
            guard let id = FileIdentity(path: path), id.size == e.size, id.mtimeNanos == e.mtimeNs else {
                skipped.append(WorkspaceSearchSkip(relativePath: e.relativePath, kind: "fileChanged",
                                                   message: "\(e.relativePath) changed since the workspace was indexed; it is searched once re-indexed"))
                continue
            }
            do {
                try await buildSearch(path, e.contentHash!)
                built += 1
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                skipped.append(Self.skip(e.relativePath, error))
            }
        }
        if !missing.isEmpty { progress?(missing.count, missing.count, "searching \(entries.count) files") }
        let skippedPaths = Set(skipped.map(\.relativePath))

        // 2. The query's vector, once.
        var vector: [Float]? = nil
        if limit > 0, !query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let v: [[Float]]
            do { v = try await embedder.embed([query]) } catch {
                throw IndexError(.embedderFailed, "the embedder failed on the query: \(error)")
            }
            guard v.count == 1, v[0].count == embedder.dimensions else {
                throw IndexError(.embedderFailed, "the embedder returned a vector of the wrong size")
            }
            vector = v[0]
        }

        // 3. Every file's candidates, into two global lists of `depth`.
        let depth = max(50, limit * 3)
        var bm25 = BoundedBest(capacity: depth)     // key: bm25 (lower is better) → negated
        var cosine = BoundedBest(capacity: depth)
        var candidates: [CandidateKey: Candidate] = [:]
        var searched = 0
        var truncated: String? = nil
        let searchable = entries.filter { !skippedPaths.contains($0.relativePath) }
        // The budget is the query phase's alone: builds above are not cut by it (a first search
        // whose builds took longer than the budget used to search 0 files and return nothing).
        let queryStarted = DispatchTime.now().uptimeNanoseconds
        for (fileIndex, e) in searchable.enumerated() where limit > 0 {
            try Task.checkCancellation()
            if Double(DispatchTime.now().uptimeNanoseconds - queryStarted) / 1e9 > timeBudget {
                truncated = "searched \(searched) of \(searchable.count) files within the \(Int(timeBudget)) s budget; narrow the query or search again (parts are cached)"
                break
            }
            let found: FileCandidates
            do {
                found = try fileCandidates(hash: e.contentHash!, query: query, vector: vector, embedder: embedder, depth: depth)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                skipped.append(Self.skip(e.relativePath, error))
                continue
            }
            searched += 1
            // Offered in each side's own order, so ties keep the file's order (as one file's search).
            for (chunk, value) in found.bm25 {
                let key = CandidateKey(file: fileIndex, chunk: chunk)
                if bm25.offer(key, -value), let c = found.info[chunk] { candidates[key] = c }
            }
            for (chunk, value) in found.cosine where value > 0 {
                let key = CandidateKey(file: fileIndex, chunk: chunk)
                if cosine.offer(key, Double(value)), let c = found.info[chunk] { candidates[key] = c }
            }
            // Drop candidates that fell out of both lists (memory stays O(depth)).
            if candidates.count > 4 * depth {
                let live = Set(bm25.keys).union(cosine.keys)
                candidates = candidates.filter { live.contains($0.key) }
            }
        }

        // 4. Reciprocal rank fusion over the global ranks.
        let k = 60.0
        var fused: [CandidateKey: Double] = [:]
        for (rank, key) in bm25.keys.enumerated() { fused[key, default: 0] += 1 / (k + Double(rank + 1)) }
        for (rank, key) in cosine.keys.enumerated() { fused[key, default: 0] += 1 / (k + Double(rank + 1)) }
        for (key, score) in fused {
            let kind = candidates[key]?.kind ?? "row"
            if kind == "sheet" || kind == "table" || kind == "column" { fused[key] = score * 0.7 }
        }
        let best = fused.sorted {
            $0.value != $1.value ? $0.value > $1.value : ($0.key.file, $0.key.chunk) < ($1.key.file, $1.key.chunk)
        }.prefix(limit)

        // 5. Texts and tables of the hits kept.
        let mappings = try workspaceMappings()
        var hits: [WorkspaceSearchHit] = []
        let byFile = Dictionary(grouping: best.map(\.key), by: \.file)
        var texts: [CandidateKey: String] = [:]
        for (file, keys) in byFile {
            let hash = searchable[file].contentHash!
            let got = (try? chunkTexts(hash: hash, ids: keys.map(\.chunk))) ?? [:]
            for key in keys { texts[key] = got[key.chunk] }
        }
        for (key, score) in best {
            guard let c = candidates[key] else { continue }
            let rel = searchable[key.file].relativePath
            hits.append(WorkspaceSearchHit(relativePath: rel, sheet: c.sheet, range: c.range,
                                           table: table(of: c, in: mappings[rel] ?? []),
                                           text: texts[key] ?? "", score: score, kind: c.kind))
        }
        return WorkspaceSearchResult(hits: hits, filesSearched: searched, filesBuilt: built, skipped: skipped,
                                     truncated: truncated, durationMs: elapsed() * 1000)
    }

    // MARK: - One file

    struct FileCandidates {
        /// Chunk ids with their bm25() value (lower is better), in FTS5's rank order.
        var bm25: [(Int, Double)]
        /// Chunk ids with their cosine, best first.
        var cosine: [(Int, Float)]
        var info: [Int: Candidate]
    }
    struct CandidateKey: Hashable { var file: Int; var chunk: Int }
    struct Candidate { var sheet: String; var range: CellRange; var kind: String }

    /// True when `hash` has a complete search part for its current tables. As for one workbook
    /// (`index/search`), a part built by another embedder is used (BM25 only), not rebuilt.
    func searchPartCurrent(hash: String) -> Bool {
        guard let tables = try? index.loadedIndex(hash), let meta = try? SearchMeta.read(path: index.searchPath(hash.lowercased())) else { return false }
        return meta.schema == WorkbookIndex.schemaVersion && meta.layout == tables.meta.layout
    }

    /// One file's best `depth` chunks by BM25 and by cosine, with their positions.
    func fileCandidates(hash: String, query: String, vector: [Float]?, embedder: any Embedder, depth: Int) throws -> FileCandidates {
        let search = try searchCache.open(hash: hash, index: index)
        let data = try search.loadSearchData()
        defer { searchCache.release(hash: hash, search: search) }
        var info: [Int: Candidate] = [:]
        func note(_ id: Int) -> Bool {
            guard id >= 1, id <= data.ranges.count else { return false }
            info[id] = Candidate(sheet: data.sheets[Int(data.sheetOfChunk[id - 1])], range: data.ranges[id - 1], kind: data.kinds[id - 1])
            return true
        }
        let ranked: [(Int, Double)] = try search.queue.read { db in
            guard let expr = search.ftsExpression(query) else { return [] }
            return try Row.fetchAll(db, sql: "SELECT rowid, rank FROM _xl_chunks_fts WHERE _xl_chunks_fts MATCH ? ORDER BY rank LIMIT ?",
                                    arguments: [expr, depth]).map { ($0[0], $0[1]) }
        }
        var out = FileCandidates(bm25: ranked.filter { note($0.0) }, cosine: [], info: [:])
        if let vector, search.meta.embedder == embedder.identifier, search.meta.dimensions == vector.count, data.matrix.count > 0 {
            out.cosine = data.matrix.top(vector, k: depth).map { ($0.index + 1, $0.score) }.filter { note($0.0) }
        }
        out.info = info
        return out
    }

    func chunkTexts(hash: String, ids: [Int]) throws -> [Int: String] {
        let search = try searchCache.open(hash: hash, index: index)
        defer { searchCache.release(hash: hash, search: search) }
        return try search.queue.read { db in
            var m: [Int: String] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT id, text FROM _xl_chunks WHERE id IN (\(ids.map(String.init).joined(separator: ",")))") {
                m[r[0]] = r[1]
            }
            return m
        }
    }

    /// The workspace's table mappings by file (workspace names).
    func workspaceMappings() throws -> [String: [TableMapping]] {
        try db.read { db in
            var out: [String: [TableMapping]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT relative_path, mapping FROM _ws_tables ORDER BY rowid") {
                out[row[0], default: []].append(try JSONDecoder().decode(TableMapping.self, from: Data(String(row[1]).utf8)))
            }
            return out
        }
    }

    /// The table of its file whose columns hold the hit's range on its sheet; when several
    /// share those columns (stacked tables), the one with a data row in the range.
    func table(of c: Candidate, in tables: [TableMapping]) -> String? {
        let onSheet = tables.filter { t in
            guard t.sheet == c.sheet, let lo = t.sourceColumns.values.min(), let hi = t.sourceColumns.values.max() else { return false }
            return lo <= c.range.end.column && c.range.start.column <= hi
        }
        if onSheet.count <= 1 { return onSheet.first?.name }
        for t in onSheet {
            let hasRow = (try? db.read { db in
                try Bool.fetchOne(db, sql: "SELECT 1 FROM \(Self.quote(t.name)) WHERE \(Self.quote(t.rowColumn)) BETWEEN ? AND ? LIMIT 1",
                                  arguments: [c.range.start.row + 1, c.range.end.row + 1])
            }) ?? nil
            if hasRow == true { return t.name }
        }
        return c.kind == "sheet" ? nil : onSheet.first?.name
    }

    static func skip(_ relativePath: String, _ error: any Error) -> WorkspaceSearchSkip {
        switch error {
        case let e as IndexError: return WorkspaceSearchSkip(relativePath: relativePath, kind: e.kind.rawValue, message: e.message)
        case let e as WorkbookError: return WorkspaceSearchSkip(relativePath: relativePath, kind: e.kind.rawValue, message: e.message)
        case let e as WorkspaceFileError: return WorkspaceSearchSkip(relativePath: relativePath, kind: e.kind, message: e.message)
        default: return WorkspaceSearchSkip(relativePath: relativePath, kind: "internal", message: "\(error)")
        }
    }
}

/// The best `capacity` keys by value (higher first), kept sorted.
struct BoundedBest {
    let capacity: Int
    private(set) var entries: [(key: WorkspaceIndex.CandidateKey, value: Double)] = []
    init(capacity: Int) { self.capacity = capacity }
    var keys: [WorkspaceIndex.CandidateKey] { entries.map(\.key) }

    /// Keeps `key` when it is among the best; true when kept.
    mutating func offer(_ key: WorkspaceIndex.CandidateKey, _ value: Double) -> Bool {
        if entries.count == capacity, let last = entries.last, value <= last.value { return false }
        var lo = 0, hi = entries.count
        while lo < hi { let mid = (lo + hi) / 2; if entries[mid].value >= value { lo = mid + 1 } else { hi = mid } }
        entries.insert((key, value), at: lo)
        if entries.count > capacity { entries.removeLast() }
        return true
    }
}

/// The search parts a workspace keeps open between searches, within a byte budget (their
/// vectors as Float32: chunks × dimensions × 4). A part past the budget is opened for one
/// search and let go, so memory is the budget plus the largest file's part.
final class WorkspaceSearchCache: Sendable {
    private struct State {
        var open: [String: LoadedSearch] = [:]
        var order: [String] = []   // least recently used first
        var bytes = 0
    }
    let budgetBytes: Int
    /// At most this many parts stay open (each holds a file descriptor).
    let maxOpen: Int
    private let state = Mutex(State())

    init(budgetBytes: Int, maxOpen: Int = 64) { self.budgetBytes = budgetBytes; self.maxOpen = maxOpen }

    static func bytes(_ s: LoadedSearch) -> Int { s.meta.chunks * (s.meta.dimensions * 4 + 64) }

    func open(hash: String, index: WorkbookIndex) throws -> LoadedSearch {
        let hash = hash.lowercased()
        let path = index.searchPath(hash)
        let identity = FileIdentity(path: path)
        if let s = state.withLock({ st -> LoadedSearch? in
            guard let s = st.open[hash], s.identity == identity else { return nil }
            st.order.removeAll { $0 == hash }; st.order.append(hash)
            return s
        }) { return s }
        guard let identity else { throw IndexError(.indexNotBuilt, "the search index of \(hash) has not been built") }
        let s: LoadedSearch
        do { s = try LoadedSearch(path: path, identity: identity) } catch let e as IndexError { throw e } catch {
            throw IndexError(.indexNotBuilt, "the search index of \(hash) is unreadable; it is rebuilt on the next search (\(error))")
        }
        guard s.meta.layout == (try index.loadedIndex(hash)).meta.layout else {
            throw IndexError(.indexNotBuilt, "the search index of \(hash) describes other tables; rebuild it")
        }
        return s
    }

    /// Keeps `search` open when it fits the budget (evicting the least recently used).
    func release(hash: String, search: LoadedSearch) {
        let hash = hash.lowercased()
        let size = Self.bytes(search)
        guard size <= budgetBytes else { return }
        state.withLock { st in
            if st.open[hash] === search { return }
            if let old = st.open[hash] { st.bytes -= Self.bytes(old); st.order.removeAll { $0 == hash } }
            st.open[hash] = search; st.order.append(hash); st.bytes += size
            while (st.bytes > budgetBytes || st.order.count > maxOpen), let first = st.order.first {
                st.order.removeFirst()
                if let gone = st.open.removeValue(forKey: first) { st.bytes -= Self.bytes(gone) }
            }
        }
    }

    var openCount: Int { state.withLock { $0.open.count } }
}
