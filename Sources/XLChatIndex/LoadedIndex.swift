// A built index opened for reading: meta, table mappings, and (on first search) its vectors
// as one contiguous matrix plus the chunks' positions. Cached by WorkbookIndex per file.
import Foundation
import GRDB
import XLChatWorkbook

/// The tables file of a built index, opened for reading: meta, outline and table mappings.
final class LoadedIndex: @unchecked Sendable {
    let path: String
    let identity: FileIdentity
    let meta: IndexMeta
    let tables: [TableMapping]
    /// The outline stored at build time (nil in files built without one).
    let outline: WorkbookOutline?

    init(path: String, identity: FileIdentity) throws {
        self.path = path
        self.identity = identity
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        (meta, tables, outline) = try queue.read { db in
            let rows = try MetaRows.read(db)
            let meta = try IndexMeta.parse(rows)
            guard meta.schema == WorkbookIndex.schemaVersion else { throw IndexError(.indexNotBuilt, "old index schema \(meta.schema)") }
            let tables = try String.fetchAll(db, sql: "SELECT mapping FROM _xl_tables ORDER BY rowid").map {
                try JSONDecoder().decode(TableMapping.self, from: Data($0.utf8))
            }
            let outline = try rows["outline"].map { try JSONDecoder().decode(WorkbookOutline.self, from: Data($0.utf8)) }
            return (meta, tables, outline)
        }
    }
}

/// The search file of a built index, opened for reading: chunks, FTS5, and (on first search)
/// its vectors as one contiguous matrix plus the chunks' positions.
final class LoadedSearch: @unchecked Sendable {
    let path: String
    let identity: FileIdentity
    let meta: SearchMeta
    let queue: DatabaseQueue
    /// Document counts of the terms in more than `commonTermThreshold` chunks.
    let commonTerms: [String: Int]
    private let lock = NSLock()
    private var searchData: SearchData?

    struct SearchData {
        var matrix: VectorMatrix
        var sheets: [String]
        var sheetOfChunk: [Int32]
        var ranges: [CellRange]
        var kinds: [String]
    }

    init(path: String, identity: FileIdentity) throws {
        self.path = path
        self.identity = identity
        var config = Configuration()
        config.readonly = true
        queue = try DatabaseQueue(path: path, configuration: config)
        (meta, commonTerms) = try queue.read { db in
            let meta = try SearchMeta.parse(try MetaRows.read(db))
            guard meta.schema == WorkbookIndex.schemaVersion else { throw IndexError(.indexNotBuilt, "old index schema \(meta.schema)") }
            var m: [String: Int] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT term, df FROM _xl_common_terms") { m[r[0]] = r[1] }
            return (meta, m)
        }
    }

    func loadSearchData() throws -> SearchData {
        if let d = lock.withLock({ searchData }) { return d }
        let d: SearchData = try queue.read { db in
            let n = meta.chunks, dims = meta.dimensions
            // int8 on disk (IndexBuilder.quantize) and in memory: the scan widens them
            // (VectorMatrix), a quarter of Float32's bytes to stream per query.
            var storage = [Int8](repeating: 0, count: n * dims)
            let cursor = try Row.fetchCursor(db, sql: "SELECT chunk_id, v FROM _xl_vectors ORDER BY chunk_id")
            try storage.withUnsafeMutableBytes { out in
                while let row = try cursor.next() {
                    let id: Int = row[0]
                    let blob: Data = row[1]
                    guard id >= 1, id <= n, blob.count == dims else { continue }
                    blob.withUnsafeBytes { b in
                        out.baseAddress!.advanced(by: (id - 1) * dims).copyMemory(from: b.baseAddress!, byteCount: dims)
                    }
                }
            }
            var sheets: [String] = [], sheetIndex: [String: Int32] = [:]
            var sheetOf = [Int32](repeating: 0, count: n)
            var ranges = [CellRange](repeating: CellRange(rows: 0...0, columns: 0...0), count: n)
            var kinds = [String](repeating: "row", count: n)
            let chunks = try Row.fetchCursor(db, sql: "SELECT id, kind, sheet, r0, c0, r1, c1 FROM _xl_chunks ORDER BY id")
            while let r = try chunks.next() {
                let id: Int = r[0]
                guard id >= 1, id <= n else { continue }
                let sheet: String = r[2]
                let si: Int32
                if let s = sheetIndex[sheet] { si = s } else { si = Int32(sheets.count); sheetIndex[sheet] = si; sheets.append(sheet) }
                sheetOf[id - 1] = si
                ranges[id - 1] = CellRange(start: CellRef(row: r[3], column: r[4]), end: CellRef(row: r[5], column: r[6]))
                let kind: String = r[1]
                if kind != "row" { kinds[id - 1] = kind }
            }
            return SearchData(matrix: VectorMatrix(count: n, dimensions: dims, quantized: storage),
                              sheets: sheets, sheetOfChunk: sheetOf, ranges: ranges, kinds: kinds)
        }
        lock.withLock { if searchData == nil { searchData = d } }
        return d
    }

    /// The query's terms: each whitespace-separated term becomes a quoted phrase (so
    /// `ORD-11730` matches the adjacent tokens `ord 11730`), with its tokens as FTS5's
    /// unicode61 tokenizer would see them (lower-cased letter/digit runs).
    static func ftsTerms(_ query: String) -> [(phrase: String, tokens: [String])] {
        query.split(whereSeparator: { $0.isWhitespace }).compactMap { raw in
            let t = raw.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" || $0 == "/" }
            let tokens = t.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
            guard !tokens.isEmpty else { return nil }
            return ("\"" + t.replacingOccurrences(of: "\"", with: "") + "\"", tokens)
        }
    }

    /// Rows BM25 may score per search. FTS5 scores every row matching an OR query before
    /// `ORDER BY rank LIMIT` applies, so a term in most rows ("customer" in a column of
    /// customers) would cost ~100 ms at 100k chunks while adding almost nothing to the ranking
    /// (its IDF is near zero). Terms are taken rarest first while their document counts fit
    /// this budget; the vector side still sees the whole query.
    /// (Measured: FTS5 scores ~1 µs per matching row here; 2,000 rows keeps BM25 near 2 ms.)
    static let bm25RowBudget = 2000
    /// Terms in more chunks than this have their document count recorded at build time.
    static let commonTermThreshold = 100

    /// FTS5 match expression of the query's useful terms (nil when none is selective enough).
    func ftsExpression(_ query: String) -> String? {
        var scored: [(phrase: String, df: Int)] = []
        for term in Self.ftsTerms(query) {
            // A phrase matches at most as many chunks as its rarest token.
            let df = term.tokens.map { commonTerms[$0] ?? Self.commonTermThreshold }.min() ?? 0
            scored.append((term.phrase, df))
        }
        scored.sort { $0.df < $1.df }
        var kept: [String] = [], total = 0
        for t in scored where total + t.df <= Self.bm25RowBudget {
            kept.append(t.phrase); total += t.df
        }
        return kept.isEmpty ? nil : kept.joined(separator: " OR ")
    }

    func search(query: String, vector: [Float]?, limit: Int) throws -> [SearchHit] {
        guard limit > 0 else { return [] }
        let data = try loadSearchData()
        let depth = max(50, limit * 3)
        var fused: [Int: Double] = [:]
        let k = 60.0
        let ids: [Int] = try queue.read { db in
            guard let expr = ftsExpression(query) else { return [] }
            return try Int.fetchAll(db, sql: "SELECT rowid FROM _xl_chunks_fts WHERE _xl_chunks_fts MATCH ? ORDER BY rank LIMIT ?",
                                    arguments: [expr, depth])
        }
        for (rank, id) in ids.enumerated() { fused[id, default: 0] += 1 / (k + Double(rank + 1)) }
        if let vector, data.matrix.count > 0 {
            for (rank, hit) in data.matrix.top(vector, k: depth).enumerated() where hit.score > 0 {
                fused[hit.index + 1, default: 0] += 1 / (k + Double(rank + 1))
            }
        }
        // Descriptions (sheet, table, column) quote sample values; at equal ranks the row that
        // holds the value is the better answer.
        for (id, score) in fused where id >= 1 && id <= data.kinds.count {
            let kind = data.kinds[id - 1]
            if kind == "sheet" || kind == "table" || kind == "column" { fused[id] = score * 0.7 }
        }
        let best = fused.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(limit)
        guard !best.isEmpty else { return [] }
        let idList = best.map { String($0.key) }.joined(separator: ",")
        let texts: [Int: String] = try queue.read { db in
            var m: [Int: String] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT id, text FROM _xl_chunks WHERE id IN (\(idList))") { m[r[0]] = r[1] }
            return m
        }
        return best.compactMap { id, score in
            guard id >= 1, id <= data.ranges.count else { return nil }
            return SearchHit(sheet: data.sheets[Int(data.sheetOfChunk[id - 1])], range: data.ranges[id - 1],
                             text: texts[id] ?? "", score: score, kind: data.kinds[id - 1])
        }
    }
}
