// Writing index files into staging paths; WorkbookIndex renames them into place.
//
// Two files per workbook version (content hash), each built aside and renamed:
//   <hash>.sqlite         the typed tables (what SQL needs) and the outline: written first, in
//                         the same pass over the file that infers the outline (`buildTables`);
//   <hash>.search.sqlite  chunks, FTS5 and vectors (what search needs): written after, from a
//                         second read, when search is first wanted (`buildSearch`).
// So `workbook/query` waits only for the typed tables, and a reopen reads only the outline.
import Foundation
import GRDB
import GRDBSQLite
import XLChatWorkbook

/// `SQLITE_TRANSIENT` is not importable from Swift (stack.md).
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// The meta rows of an index file (`_xl_meta` key/value), read as a dictionary.
enum MetaRows {
    static func read(_ db: Database) throws -> [String: String] {
        var m: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT key, value FROM _xl_meta") { m[row["key"]] = row["value"] }
        return m
    }

    static func read(path: String) throws -> [String: String] {
        guard FileManager.default.fileExists(atPath: path) else { throw IndexError(.indexNotBuilt, "no index") }
        var config = Configuration()
        config.readonly = true
        let q = try DatabaseQueue(path: path, configuration: config)
        defer { try? q.close() }
        return try q.read { try read($0) }
    }

    static func write(_ db: Database, _ values: [String: String]) throws {
        for (k, v) in values {
            try db.execute(sql: "INSERT OR REPLACE INTO _xl_meta(key, value) VALUES (?, ?)", arguments: [k, v])
        }
    }
}

/// The meta of a complete tables file.
struct IndexMeta: Sendable, Hashable {
    var schema: String
    var layout: String
    var builtAt: Double
    var durationMs: Double

    func isCurrent(layout: String) -> Bool { schema == WorkbookIndex.schemaVersion && self.layout == layout }

    static func parse(_ m: [String: String]) throws -> IndexMeta {
        guard m["complete"] == "1", let schema = m["schema"], let layout = m["layout"] else {
            throw IndexError(.indexNotBuilt, "the index file is incomplete")
        }
        return IndexMeta(schema: schema, layout: layout, builtAt: m["built_at"].flatMap(Double.init) ?? 0,
                         durationMs: m["duration_ms"].flatMap(Double.init) ?? 0)
    }

    static func read(_ db: Database) throws -> IndexMeta { try parse(try MetaRows.read(db)) }
    static func read(path: String) throws -> IndexMeta { try parse(try MetaRows.read(path: path)) }
}

/// The meta of a complete search file.
struct SearchMeta: Sendable, Hashable {
    var schema: String
    /// The layout of the tables the chunks describe (`IndexMeta.layout`).
    var layout: String
    var embedder: String
    var dimensions: Int
    var chunks: Int
    var builtAt: Double
    var durationMs: Double

    static func parse(_ m: [String: String]) throws -> SearchMeta {
        guard m["complete"] == "1", let schema = m["schema"], let emb = m["embedder"], let layout = m["layout"],
              let dims = m["dimensions"].flatMap(Int.init), let chunks = m["chunks"].flatMap(Int.init) else {
            throw IndexError(.indexNotBuilt, "the search index file is incomplete")
        }
        return SearchMeta(schema: schema, layout: layout, embedder: emb, dimensions: dims, chunks: chunks,
                          builtAt: m["built_at"].flatMap(Double.init) ?? 0, durationMs: m["duration_ms"].flatMap(Double.init) ?? 0)
    }

    static func read(path: String) throws -> SearchMeta { try parse(try MetaRows.read(path: path)) }
}


enum IndexBuilder {
    /// What the outline says about the tables: a change (new inference, other columns or
    /// types) rebuilds even when the file's bytes did not change.
    static func layoutFingerprint(_ o: WorkbookOutline) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func feed(_ s: String) { for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }; h = (h ^ 0xff) &* 0x100_0000_01b3 }
        for s in o.sheets {
            feed(s.info.name); feed(String(s.info.index))
            for t in s.tables {
                feed(t.name); feed(t.headerRange?.description ?? "-"); feed(t.dataRange?.description ?? "-")
                feed(t.source.rawValue)
                for c in t.columns {
                    feed(c.name); feed(c.header); feed(c.type.rawValue); feed(String(c.sourceColumn))
                    // The typing decision: how values convert (an index built under other rules is rebuilt).
                    feed(c.typing.rule); feed(c.typing.decimalMark.rawValue); feed(String(c.typing.nulled))
                }
                for x in t.excludedRows { feed(String(x.row)); feed(x.kind.rawValue) }
                for p in t.parts { feed(p.name); feed(String(p.columns.lowerBound)); feed(String(p.columns.upperBound)) }
            }
        }
        return String(h, radix: 16)
    }

    static let tablesSchema = """
        CREATE TABLE _xl_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
        CREATE TABLE _xl_tables (name TEXT PRIMARY KEY NOT NULL, sheet TEXT NOT NULL, mapping TEXT NOT NULL);
        """

    /// Chunk texts are stored once (`_xl_chunks`); FTS5 indexes them as external content.
    /// Vectors are int8 (one byte per dimension of a unit vector, scaled by 127): a quarter of
    /// Float32, and the ranking of a cosine scan over them matches Float32's to within ties.
    static let searchSchema = """
        CREATE TABLE _xl_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
        CREATE TABLE _xl_chunks (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, sheet TEXT NOT NULL,
            r0 INTEGER NOT NULL, c0 INTEGER NOT NULL, r1 INTEGER NOT NULL, c1 INTEGER NOT NULL, text TEXT NOT NULL);
        CREATE VIRTUAL TABLE _xl_chunks_fts USING fts5(text, content='_xl_chunks', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2');
        CREATE VIRTUAL TABLE _xl_vocab USING fts5vocab('_xl_chunks_fts', 'row');
        CREATE TABLE _xl_common_terms (term TEXT PRIMARY KEY NOT NULL, df INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE _xl_vectors (chunk_id INTEGER PRIMARY KEY, v BLOB NOT NULL);
        """

    /// A staging file: private to its builder and thrown away on any failure, so no journal,
    /// no syncs and an exclusive lock while writing (the finished file is fsynced once before
    /// the rename). 8 KiB pages: fewer B-tree pages (and page headers) for wide rows than
    /// the 4 KiB default; not yet compared against 4 KiB on the bench files. An 8 MB page cache: rows are
    /// appended at the B-tree's right edge, so dirty pages spill to the file as the load goes
    /// (memory stays flat; a kill -9 leaves a growing staging file, never a final one).
    /// `maxPageCount` caps the
    /// file (SQLITE_FULL past it, reported as `storageFull`).
    static func openStaging(_ path: String, schema: String?, maxPageCount: Int? = nil) throws -> DatabaseQueue {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA page_size = 8192; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -8192; PRAGMA locking_mode = EXCLUSIVE; PRAGMA temp_store = MEMORY")
            if let maxPageCount { try db.execute(sql: "PRAGMA max_page_count = \(maxPageCount)") }
        }
        do {
            let q = try DatabaseQueue(path: path, configuration: config)
            if let schema { try q.write { try $0.execute(sql: schema) } }
            return q
        } catch {
            throw storageError(error, doing: "cannot create the index file")
        }
    }

    /// SQLite's "disk full" (a full file system, or the file's page cap) as `storageFull`;
    /// anything else as `storage`. Other IndexErrors, workbook errors and cancellation pass.
    static func storageError(_ error: any Error, doing: String) -> any Error {
        switch error {
        case is CancellationError, is IndexError, is WorkbookError: return error
        case let e as DatabaseError where e.resultCode == .SQLITE_FULL:
            return IndexError(.storageFull, "\(doing): the disk (or the index size limit) is full: \(e.message ?? "")")
        default:
            return IndexError(.storage, "\(doing): \(error)")
        }
    }

    // MARK: - Typed tables, one pass

    /// Infers the outline of `reader`'s workbook and loads its typed tables in ONE read of the
    /// file: `WorkbookOutline.build` streams each sheet through the table inference while its
    /// rows go to a `RowSpool`; when the sheet ends (its tables and column types decided from
    /// all values, as issue 10 requires) the spooled rows are replayed through `SheetLoader`,
    /// one transaction per sheet. Then the outline (JSON) and the meta are written, `complete`
    /// last. Returns the outline (`path` and `contentHash` as given).
    /// Throws the reader's `WorkbookError`s, `storageFull` when the disk or `maxPageCount`
    /// fills, `storage` for other write failures, `CancellationError` when `isCancelled`.
    static func buildTables(path: String, reader: any WorkbookReader, filePath: String, contentHash: String,
                            maxPageCount: Int?, started: UInt64, progress: ((ProgressUpdate) -> Void)?,
                            isCancelled: @escaping () -> Bool) throws -> WorkbookOutline {
        let q = try openStaging(path, schema: tablesSchema, maxPageCount: maxPageCount)
        defer { try? q.close() }
        let spool = RowSpool(spillPath: path + ".spool")
        defer { spool.reset() }
        let loadable = Set(reader.sheets.filter { $0.kind == .worksheet || $0.kind == .macrosheet }.map(\.index))
        var rowsSeen = 0
        do {
            let outline = try q.writeWithoutTransaction { db -> WorkbookOutline in
                let conn = db.sqliteConnection!
                var sheetName = "", sheetFraction = 0.0
                return try WorkbookOutline.build(reader: reader, path: filePath, contentHash: contentHash, beforeSheet: { index, count, name in
                    if isCancelled() { throw CancellationError() }
                    spool.reset()
                    sheetName = name
                    sheetFraction = Double(index) / Double(max(count, 1))
                    progress?(ProgressUpdate(fraction: sheetFraction, message: "reading sheet '\(name)'"))
                }, row: { sheetIndex, row in
                    guard loadable.contains(sheetIndex) else { return }
                    try spool.append(row)
                    rowsSeen += 1
                    if rowsSeen % 4096 == 0 {
                        if isCancelled() { throw CancellationError() }
                        progress?(ProgressUpdate(fraction: sheetFraction, message: "reading sheet '\(sheetName)': row \(row.index + 1)"))
                    }
                }, afterSheet: { sheet in
                    guard loadable.contains(sheet.info.index), sheet.tables.contains(where: { !$0.columns.isEmpty }) else { return }
                    try db.inTransaction {
                        let loader = try SheetLoader(db: conn, sheet: sheet, collectChunks: false)
                        defer { loader.finish() }
                        var replayed = 0
                        try spool.replay { row in
                            try loader.add(row)
                            replayed += 1
                            if replayed % 4096 == 0, isCancelled() { throw CancellationError() }
                        }
                        try loader.writeMappings(db)
                        return .commit
                    }
                    spool.reset()
                })
            }
            try writeTablesMeta(q, outline: outline, started: started)
            return outline
        } catch {
            throw storageError(error, doing: "cannot write the index")
        }
    }

    /// Loads the typed tables of a known `outline` from a read of `reader` (an index whose
    /// outline came from elsewhere: `WorkbookIndex.build(outline:)`), and collects the search
    /// chunks in the same read when `collectChunks`.
    static func buildTables(path: String, outline: WorkbookOutline, layout: String, reader: any WorkbookReader,
                            maxPageCount: Int?, started: UInt64, collectChunks: Bool,
                            progress: (@Sendable (ProgressUpdate) -> Void)?) throws -> [Chunk]? {
        let q = try openStaging(path, schema: tablesSchema, maxPageCount: maxPageCount)
        defer { try? q.close() }
        do {
            let chunks = try q.writeWithoutTransaction { db in
                try readSheets(outline: outline, reader: reader, db: db, collectChunks: collectChunks, progress: progress)
            }
            try writeTablesMeta(q, outline: outline, started: started)
            return collectChunks ? chunks : nil
        } catch {
            throw storageError(error, doing: "cannot write the index")
        }
    }

    static func writeTablesMeta(_ q: DatabaseQueue, outline: WorkbookOutline, started: UInt64) throws {
        let json = String(decoding: try JSONEncoder().encode(outline), as: UTF8.self)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        try writeMeta(q, ["schema": WorkbookIndex.schemaVersion, "layout": layoutFingerprint(outline), "outline": json,
                          "built_at": String(Date().timeIntervalSince1970), "duration_ms": String(ms),
                          "source_path": outline.path, "content_hash": outline.contentHash])
    }

    /// Reads every loadable sheet of `outline` once: into typed tables when `db` is given (one
    /// transaction per sheet), and into search chunks when `collectChunks`.
    static func readSheets(outline: WorkbookOutline, reader: any WorkbookReader, db: Database?, collectChunks: Bool,
                           progress: (@Sendable (ProgressUpdate) -> Void)?) throws -> [Chunk] {
        let totalRows = max(1, outline.sheets.reduce(0) { $0 + max($1.rowCount, 0) })
        var rowsDone = 0
        var chunks: [Chunk] = []
        for sheet in outline.sheets where sheet.info.kind == .worksheet || sheet.info.kind == .macrosheet {
            let hasTable = sheet.tables.contains { !$0.columns.isEmpty }
            guard collectChunks || (db != nil && hasTable) else { continue }
            if Task.isCancelled { throw CancellationError() }
            progress?(ProgressUpdate(fraction: 0.6 * Double(rowsDone) / Double(totalRows), message: "indexing sheet \(sheet.info.name)"))
            func load(_ conn: OpaquePointer?) throws {
                let loader = try SheetLoader(db: conn, sheet: sheet, collectChunks: collectChunks)
                defer { loader.finish() }
                try reader.readSheet(at: sheet.info.index) { row in
                    try loader.add(row)
                    rowsDone += 1
                    if rowsDone % 4096 == 0 {
                        if Task.isCancelled { throw CancellationError() }
                        progress?(ProgressUpdate(fraction: 0.6 * Double(min(rowsDone, totalRows)) / Double(totalRows),
                                                 message: "indexing sheet \(sheet.info.name): row \(row.index + 1)"))
                    }
                    return true
                }
                if let db { try loader.writeMappings(db) }
                if collectChunks { chunks.append(contentsOf: loader.chunks()) }
            }
            if let db {
                try db.inTransaction { try load(db.sqliteConnection!); return .commit }
            } else {
                try load(nil)
            }
        }
        return chunks
    }

    // MARK: - Search

    /// Chunks (descriptions, text-bearing rows, windows of loose cells), FTS5 and vectors.
    static func buildSearch(path: String, outline: WorkbookOutline, reader: any WorkbookReader, embedder: any Embedder,
                            chunks collected: [Chunk]?, maxPageCount: Int?, started: UInt64,
                            progress: (@Sendable (ProgressUpdate) -> Void)?) async throws -> Int {
        let q = try openStaging(path, schema: searchSchema, maxPageCount: maxPageCount)
        defer { try? q.close() }
        do {
            let chunks = try collected ?? collectChunks(outline: outline, reader: reader, progress: progress)
            try Task.checkCancellation()
            progress?(ProgressUpdate(fraction: 0.6, message: "writing \(chunks.count) search chunks"))
            try writeChunks(q, chunks)
            try await embedAndStore(q, texts: chunks.map(\.text), embedder: embedder, from: 0.7, progress: progress)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            try writeMeta(q, ["schema": WorkbookIndex.schemaVersion, "embedder": embedder.identifier,
                              "layout": layoutFingerprint(outline),
                              "dimensions": String(embedder.dimensions), "chunks": String(chunks.count),
                              "built_at": String(Date().timeIntervalSince1970), "duration_ms": String(ms),
                              "content_hash": outline.contentHash])
            return chunks.count
        } catch {
            throw storageError(error, doing: "cannot write the search index")
        }
    }

    /// The meta rows, then `complete` last: a file without it is never served.
    static func writeMeta(_ q: DatabaseQueue, _ values: [String: String]) throws {
        try q.write { db in
            try MetaRows.write(db, values)
            try MetaRows.write(db, ["complete": "1"])
        }
    }

    /// Chunk texts, sheet by sheet (a read of the file that writes no table).
    static func collectChunks(outline: WorkbookOutline, reader: any WorkbookReader,
                              progress: (@Sendable (ProgressUpdate) -> Void)?) throws -> [Chunk] {
        try readSheets(outline: outline, reader: reader, db: nil, collectChunks: true, progress: progress)
    }

    /// Chunk rows and the full-text index.
    static func writeChunks(_ q: DatabaseQueue, _ chunks: [Chunk]) throws {
        try q.write { db in
            let conn = db.sqliteConnection!
            var stmt: OpaquePointer?
            sqlite3_prepare_v2(conn, "INSERT INTO _xl_chunks(id, kind, sheet, r0, c0, r1, c1, text) VALUES (?,?,?,?,?,?,?,?)", -1, &stmt, nil)
            defer { sqlite3_finalize(stmt) }
            for (i, c) in chunks.enumerated() {
                sqlite3_bind_int64(stmt, 1, Int64(i + 1))
                sqlite3_bind_text(stmt, 2, c.kind, -1, sqliteTransient)
                sqlite3_bind_text(stmt, 3, c.sheet, -1, sqliteTransient)
                sqlite3_bind_int64(stmt, 4, Int64(c.range.start.row))
                sqlite3_bind_int64(stmt, 5, Int64(c.range.start.column))
                sqlite3_bind_int64(stmt, 6, Int64(c.range.end.row))
                sqlite3_bind_int64(stmt, 7, Int64(c.range.end.column))
                sqlite3_bind_text(stmt, 8, c.text, -1, sqliteTransient)
                let rc = sqlite3_step(stmt)
                guard rc == SQLITE_DONE else { throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(conn))) }
                sqlite3_reset(stmt)
            }
            try db.execute(sql: "INSERT INTO _xl_chunks_fts(rowid, text) SELECT id, text FROM _xl_chunks")
            // Document counts of the frequent terms, so search can skip them without asking
            // fts5vocab (which counts by walking the term's whole posting list).
            try db.execute(sql: "INSERT INTO _xl_common_terms(term, df) SELECT term, doc FROM _xl_vocab WHERE doc > ?",
                           arguments: [LoadedSearch.commonTermThreshold])
        }
    }

    /// Recomputes the vectors of a copied search file with another embedder, from its stored
    /// chunk texts (the workbook is not read).
    static func reembed(path: String, embedder: any Embedder, progress: (@Sendable (ProgressUpdate) -> Void)?) async throws -> Int {
        let q = try openStaging(path, schema: nil)
        defer { try? q.close() }
        do {
            let texts = try chunkTextsClearingVectors(q)
            try await embedAndStore(q, texts: texts, embedder: embedder, from: 0, progress: progress)
            try writeMeta(q, ["embedder": embedder.identifier, "dimensions": String(embedder.dimensions),
                              "built_at": String(Date().timeIntervalSince1970)])
            return texts.count
        } catch {
            throw storageError(error, doing: "cannot re-embed the search index")
        }
    }

    /// The stored chunk texts, in id order; the old vectors are deleted.
    static func chunkTextsClearingVectors(_ q: DatabaseQueue) throws -> [String] {
        let texts = try q.read { db in try String.fetchAll(db, sql: "SELECT text FROM _xl_chunks ORDER BY id") }
        try q.write { db in try db.execute(sql: "DELETE FROM _xl_vectors") }
        return texts
    }

    /// A vector as int8: scaled to unit length (cosine ranking does not change), then each
    /// component x 127, rounded. A quarter of Float32 on disk.
    static func quantize(_ v: [Float]) -> [Int8] {
        let norm = v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        let scale: Float = norm > 0 ? 127 / norm : 0
        return v.map { Int8(clamping: Int(($0 * scale).rounded())) }
    }

    static func writeVectors(_ q: DatabaseQueue, firstID: Int, _ vectors: [[Float]]) throws {
        try q.write { db in
            let conn = db.sqliteConnection!
            var stmt: OpaquePointer?
            sqlite3_prepare_v2(conn, "INSERT INTO _xl_vectors(chunk_id, v) VALUES (?, ?)", -1, &stmt, nil)
            defer { sqlite3_finalize(stmt) }
            for (k, v) in vectors.enumerated() {
                sqlite3_bind_int64(stmt, 1, Int64(firstID + k))
                quantize(v).withUnsafeBytes { b in _ = sqlite3_bind_blob(stmt, 2, b.baseAddress, Int32(b.count), sqliteTransient) }
                let rc = sqlite3_step(stmt)
                guard rc == SQLITE_DONE else { throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(conn))) }
                sqlite3_reset(stmt)
            }
        }
    }

    static func embedAndStore(_ q: DatabaseQueue, texts: [String], embedder: any Embedder, from: Double,
                              progress: (@Sendable (ProgressUpdate) -> Void)?) async throws {
        let batch = 512
        var start = 0
        let dims = embedder.dimensions
        while start < texts.count {
            try Task.checkCancellation()
            let end = min(texts.count, start + batch)
            let vectors: [[Float]]
            do { vectors = try await embedder.embed(Array(texts[start..<end])) } catch let e as CancellationError { throw e } catch {
                throw IndexError(.embedderFailed, "embedding chunks failed: \(error)")
            }
            guard vectors.count == end - start, vectors.allSatisfy({ $0.count == dims }) else {
                throw IndexError(.embedderFailed, "the embedder \(embedder.identifier) returned \(vectors.count) vectors for \(end - start) texts, or vectors not of \(dims) dimensions")
            }
            try writeVectors(q, firstID: start + 1, vectors)
            start = end
            progress?(ProgressUpdate(fraction: from + (0.98 - from) * Double(start) / Double(max(1, texts.count)),
                                     message: "embedding chunks: \(start) of \(texts.count)"))
        }
    }
}

/// Loads one sheet: each of its tables into typed SQLite table(s), the other cells into
/// windows of loose cells, and the sheet's chunks. A row goes to every table whose data rows
/// hold it (side-by-side tables share rows), limited to that table's columns; header rows are
/// skipped; flagged totals, subtotals and repeated headers are no table's data: their cells
/// join the loose-cell windows (searchable, and readable through `workbook/read`).
/// With a connection it writes the typed tables; with `collectChunks` it builds the search
/// chunks. The index does the two in separate passes (SQL is served before search is built),
/// or both in one when a full build reads the file anyway.
final class SheetLoader {
    let sheet: SheetOutline
    let sheetName: String
    let tables: [TableLoader]
    var windows: WindowChunker
    let collectChunks: Bool

    init(db: OpaquePointer?, sheet: SheetOutline, collectChunks: Bool) throws {
        self.sheet = sheet
        self.sheetName = sheet.info.name
        self.collectChunks = collectChunks
        self.windows = WindowChunker(sheet: sheet.info.name)
        tables = try sheet.tables.filter { !$0.columns.isEmpty }.map {
            try TableLoader(db: db, sheet: sheet.info.name, table: $0, collectChunks: collectChunks)
        }
    }

    func add(_ row: SheetRow) throws {
        if tables.count == 1 {
            // One table (most sheets): every cell of its data rows is its own.
            let t = tables[0]
            if t.table.isDataRow(row.index) { try t.add(row.index, row.cells); return }
            if t.inHeader(row.index) { return }
            if collectChunks { windows.add(row) }
            return
        }
        var rest: [RowCell] = []
        var taken = false
        for cell in row.cells {
            var owner: TableLoader? = nil
            for t in tables where t.columnSpan.contains(cell.column)
                && (t.table.isDataRow(row.index) || t.inHeader(row.index)) { owner = t; break }
            if owner == nil { rest.append(cell) } else { taken = true }
        }
        if taken {
            for t in tables where t.table.isDataRow(row.index) {
                let cells = row.cells.filter { t.columnSpan.contains($0.column) }
                if !cells.isEmpty { try t.add(row.index, cells) }
            }
        }
        if collectChunks, !rest.isEmpty { windows.add(SheetRow(index: row.index, cells: rest)) }
    }

    func finish() { for t in tables { t.finish() } }

    /// Writes the mapping of every table part (`_xl_tables`).
    func writeMappings(_ db: Database) throws {
        for t in tables { try t.writeMappings(db) }
    }

    /// The sheet's chunks: descriptions first, then rows and windows of loose cells.
    func chunks() -> [Chunk] {
        windows.flush()
        var out: [Chunk] = []
        let used = sheet.summary.usedRange ?? CellRange(rows: 0...0, columns: 0...0)
        if tables.isEmpty {
            out.append(Chunk(kind: "sheet", sheet: sheetName, range: used,
                             text: "Sheet \(sheetName): \(sheet.rowCount) rows × \(sheet.columnCount) columns in \(used); no table was recognised, cells are searchable as text"))
        } else {
            let list = tables.map { t in
                "table \(t.table.name) with \(t.rowsLoaded) data rows; columns: " + t.columnList
            }
            out.append(Chunk(kind: "sheet", sheet: sheetName, range: used,
                             text: CellText.clip("Sheet \(sheetName): \(sheet.rowCount) rows × \(sheet.columnCount) columns in \(used); " + list.joined(separator: "; "), 4000)))
            for t in tables { out.append(contentsOf: t.descriptions(used: used)) }
        }
        for t in tables { out.append(contentsOf: t.rowChunks); t.rowChunks = [] }
        out.append(contentsOf: windows.out)
        return out
    }
}

/// Loads one table into its SQL table(s): one per part (`InferredTable.parts`), each with the
/// sheet row as `_row` (INTEGER PRIMARY KEY), so the parts of a wide table join on it.
final class TableLoader {
    struct Part {
        var name: String
        var insert: OpaquePointer?
        /// Position in `kept` of this part's first column, and its column count.
        var first: Int
        var count: Int
    }
    let conn: OpaquePointer?
    let collectChunks: Bool
    let sheetName: String
    let table: InferredTable
    /// The table's columns with their SQL names.
    var kept: [(column: TableColumn, sql: String)] = []
    /// sheet column -> position in `kept`
    var slot: [Int: Int] = [:]
    /// The same as an array over `columnSpan` (-1: not a column of the table), and the
    /// columns alone: the insert loop neither hashes nor copies a (TableColumn, String) per
    /// cell (perf, release, csv_1m_x8.csv: the dictionary lookup and the tuple copies were
    /// 2.6% of a cold open).
    var slotInSpan: [Int] = []
    var keptColumns: [TableColumn] = []
    var parts: [Part] = []
    /// position in `kept` -> (part index, bind index within it)
    var bindAt: [(part: Int, index: Int32)] = []
    let rowColumn: String
    var stats: [ColumnStats] = []
    var rowChunks: [Chunk] = []
    var rowsLoaded = 0
    let rowsPerChunk: Int
    var pending: (first: Int, last: Int, parts: [String])? = nil
    let headers: [String]
    let columnSpan: ClosedRange<Int>

    init(db: OpaquePointer?, sheet: String, table: InferredTable, collectChunks: Bool) throws {
        self.conn = db
        self.collectChunks = collectChunks
        self.sheetName = sheet
        self.table = table
        let dataRows = table.dataRange?.rowCount ?? 0
        self.rowsPerChunk = max(1, (dataRows + WorkbookIndex.maxRowChunks - 1) / WorkbookIndex.maxRowChunks)
        let sources = table.columns.map(\.sourceColumn)
        columnSpan = (sources.min() ?? 0)...(sources.max() ?? 0)
        var used = Set<String>()
        for c in table.columns {
            var name = SQLIdentifier.clipped(c.name.isEmpty ? A1.columnName(c.sourceColumn) : c.name)
            var n = 2
            while used.contains(name.lowercased()) {
                let suffix = "_\(n)"
                name = SQLIdentifier.clipped(c.name, to: SQLIdentifier.maxBytes - suffix.utf8.count) + suffix
                n += 1
            }
            used.insert(name.lowercased())
            slot[c.sourceColumn] = kept.count
            kept.append((c, name))
        }
        slotInSpan = Array(repeating: -1, count: columnSpan.count)
        for (column, k) in slot { slotInSpan[column - columnSpan.lowerBound] = k }
        keptColumns = kept.map(\.column)
        var rowColumn = "_row"
        while used.contains(rowColumn.lowercased()) { rowColumn = "_" + rowColumn }
        self.rowColumn = rowColumn
        headers = kept.map { $0.column.header.isEmpty ? $0.sql : CellText.clip($0.column.header, 60) }
        stats = Array(repeating: ColumnStats(), count: kept.count)
        bindAt = Array(repeating: (0, 0), count: kept.count)
        for (p, part) in table.parts.enumerated() {
            let range = part.columns.clamped(to: 0..<kept.count)
            for (k, i) in range.enumerated() { bindAt[i] = (p, Int32(k + 2)) }
            guard conn != nil else {
                parts.append(Part(name: part.name, insert: nil, first: range.lowerBound, count: range.count))
                continue
            }
            let defs = range.map { quoteIdentifier(kept[$0].sql) + Self.declaredType(kept[$0].column.type) }
            let create = "CREATE TABLE \(quoteIdentifier(part.name)) (\(quoteIdentifier(rowColumn)) INTEGER PRIMARY KEY\(defs.isEmpty ? "" : ", " + defs.joined(separator: ", ")))"
            try exec(create)
            let marks = Array(repeating: "?", count: range.count + 1).joined(separator: ",")
            var insert: OpaquePointer?
            guard sqlite3_prepare_v2(conn, "INSERT INTO \(quoteIdentifier(part.name)) VALUES (\(marks))", -1, &insert, nil) == SQLITE_OK else {
                throw sqliteError("preparing the insert into \(part.name)")
            }
            parts.append(Part(name: part.name, insert: insert, first: range.lowerBound, count: range.count))
        }
    }

    static func declaredType(_ t: ColumnType) -> String {
        switch t {
        case .integer, .boolean: return " INTEGER"
        case .real, .duration: return " REAL"
        case .text, .date, .datetime, .time: return " TEXT"
        }
    }

    func exec(_ sql: String) throws {
        guard sqlite3_exec(conn, sql, nil, nil, nil) == SQLITE_OK else { throw sqliteError(sql) }
    }

    func sqliteError(_ doing: String) -> IndexError {
        let code = conn.map { sqlite3_errcode($0) } ?? SQLITE_ERROR
        let message = conn.map { String(cString: sqlite3_errmsg($0)) } ?? "no connection"
        if code & 0xff == SQLITE_FULL {
            return IndexError(.storageFull, "\(doing): the disk (or the index size limit) is full: \(message)")
        }
        return IndexError(.storage, "\(doing): \(message)")
    }

    func inHeader(_ row: Int) -> Bool { table.headerRange.map { row >= $0.start.row && row <= $0.end.row } ?? false }

    var columnList: String { kept.map { "\($0.sql) (\($0.column.type.rawValue))" }.joined(separator: ", ") }

    /// Merged cells being filled down (`InferredTable.filledMerges`), by top row, and the ones
    /// open now with their top cell.
    lazy var mergesByTop: [Int: [CellRange]] = Dictionary(grouping: table.filledMerges, by: { $0.start.row })
    var openMerges: [(range: CellRange, cell: RowCell)] = []

    /// The cells of `row` plus, in the columns of merges over it, their top cells' values.
    func filled(_ rowIndex: Int, _ cells: [RowCell]) -> [RowCell] {
        openMerges.removeAll { $0.range.end.row < rowIndex }
        if let starting = mergesByTop[rowIndex] {
            for m in starting {
                if let top = cells.first(where: { $0.column == m.start.column }) {
                    openMerges.append((m, RowCell(column: top.column, value: top.value, text: top.text)))
                }
            }
        }
        var out = cells
        for (m, top) in openMerges where m.start.row < rowIndex && !cells.contains(where: { $0.column == top.column }) {
            out.append(top)
        }
        if out.count != cells.count { out.sort { $0.column < $1.column } }
        return out
    }

    /// One data row's cells (those of this table's columns).
    func add(_ rowIndex: Int, _ rowCells: [RowCell]) throws {
        let cells = table.filledMerges.isEmpty ? rowCells : filled(rowIndex, rowCells)
        if conn != nil { try insert(rowIndex, cells) }
        if collectChunks { addChunkText(rowIndex, cells) }
    }

    /// Binds the row's typed values (`TableColumn.sqlValue`) into each part's reused INSERT.
    private func insert(_ rowIndex: Int, _ cells: [RowCell]) throws {
        for part in parts {
            sqlite3_bind_int64(part.insert, 1, Int64(rowIndex + 1))
            for k in 0..<part.count { sqlite3_bind_null(part.insert, Int32(k + 2)) }
        }
        var any = false
        let lower = columnSpan.lowerBound
        for cell in cells {
            let offset = cell.column - lower
            guard offset >= 0, offset < slotInSpan.count else { continue }
            let k = slotInSpan[offset]
            guard k >= 0 else { continue }
            let at = bindAt[k]
            bind(parts[at.part].insert, keptColumns[k].sqlValue(cell), at: at.index)
            if Self.counts(cell.value) { any = true }
        }
        guard any else {
            for part in parts { sqlite3_reset(part.insert) }
            return
        }
        for part in parts {
            guard sqlite3_step(part.insert) == SQLITE_DONE else {
                let e = sqliteError("inserting row \(rowIndex + 1) of \(sheetName) into \(part.name)")
                sqlite3_reset(part.insert)
                throw e
            }
            sqlite3_reset(part.insert)
        }
        rowsLoaded += 1
    }

    /// Whether a value makes its row worth storing (what `CellText.of` gives text for).
    @inline(__always) static func counts(_ v: CellValue) -> Bool {
        switch v {
        case .empty: return false
        case let .string(s): return !s.isEmpty
        default: return true
        }
    }

    /// A row's search text. Rows without a text cell (numbers, dates, booleans only) get no
    /// chunk: their values are in the typed table, and words are what search is for (issue 13:
    /// no FTS text or vector for purely numeric rows). Column profiles still see every value.
    private func addChunkText(_ rowIndex: Int, _ cells: [RowCell]) {
        var texts: [String] = []
        var any = false, words = false
        for cell in cells {
            guard let k = slot[cell.column], let t = CellText.of(cell.value) else { continue }
            any = true
            if case .string = cell.value { words = true }
            stats[k].add(cell.value, text: t)
            texts.append(headers[k] + "=" + CellText.clip(t, 300))
        }
        guard any else { return }
        if conn == nil { rowsLoaded += 1 }
        guard words else { return }
        let text = texts.joined(separator: "; ")
        if rowsPerChunk == 1 {
            rowChunks.append(Chunk(kind: "row", sheet: sheetName, range: rowRange(rowIndex, rowIndex),
                                   text: CellText.clip("\(sheetName), row \(rowIndex + 1): " + text, 4000)))
        } else {
            if var p = pending {
                p.last = rowIndex; p.parts.append("row \(rowIndex + 1): " + text); pending = p
            } else {
                pending = (rowIndex, rowIndex, ["row \(rowIndex + 1): " + text])
            }
            if pending!.parts.count >= rowsPerChunk { flushPending() }
        }
    }

    func flushPending() {
        guard let p = pending else { return }
        rowChunks.append(Chunk(kind: "window", sheet: sheetName, range: rowRange(p.first, p.last),
                               text: CellText.clip("\(sheetName), rows \(p.first + 1)-\(p.last + 1): " + p.parts.joined(separator: " | "), 6000)))
        pending = nil
    }

    func rowRange(_ a: Int, _ b: Int) -> CellRange {
        CellRange(rows: a...b, columns: columnSpan)
    }

    /// Binds one typed value (the column's conversion: `TableColumn.sqlValue`). The search
    /// chunks keep the cell's own text.
    func bind(_ insert: OpaquePointer?, _ v: TypedValue, at i: Int32) {
        switch v {
        case .null: sqlite3_bind_null(insert, i)
        case let .integer(x): sqlite3_bind_int64(insert, i, x)
        case let .real(x): sqlite3_bind_double(insert, i, x)
        case let .text(s): sqlite3_bind_text(insert, i, s, -1, sqliteTransient)
        }
    }

    func finish() {
        for k in parts.indices { sqlite3_finalize(parts[k].insert); parts[k].insert = nil }
    }

    /// Writes the mapping of each part (`_xl_tables`).
    func writeMappings(_ db: Database) throws {
        for part in parts {
            let cols = kept[part.first..<(part.first + part.count)]
            let mapping = TableMapping(name: part.name, sheet: sheetName, rowColumn: rowColumn,
                                       sourceColumns: Dictionary(cols.map { ($0.sql, $0.column.sourceColumn) }, uniquingKeysWith: { a, _ in a }),
                                       rows: rowsLoaded, omittedColumns: 0, columnOrder: cols.map(\.sql),
                                       textColumns: Dictionary(cols.filter { $0.column.type == .text }.map { ($0.sql, $0.column.typing.rule) },
                                                               uniquingKeysWith: { a, _ in a }),
                                       mixedCurrencyColumns: Dictionary(cols.filter { $0.column.typing.mixedCurrencies }.map { ($0.sql, $0.column.typing.rule) },
                                                                        uniquingKeysWith: { a, _ in a }))
            let json = String(decoding: try JSONEncoder().encode(mapping), as: UTF8.self)
            try db.execute(sql: "INSERT INTO _xl_tables(name, sheet, mapping) VALUES (?, ?, ?)", arguments: [part.name, sheetName, json])
        }
    }

    /// The table's description chunks (the table, then each column with its profile).
    func descriptions(used: CellRange) -> [Chunk] {
        flushPending()
        var out: [Chunk] = []
        let span = (table.headerRange.map { [$0.start.row, $0.end.row] } ?? []) + (table.dataRange.map { [$0.start.row, $0.end.row] } ?? [])
        let tableRange = rowRange(span.min() ?? used.start.row, span.max() ?? used.end.row)
        let partNote = parts.count > 1 ? "; split into SQL tables " + parts.map(\.name).joined(separator: ", ") + " joined on \(rowColumn)" : ""
        let excluded = table.excludedRows.isEmpty ? "" : "; \(table.excludedRows.count) rows (totals, aggregates, notes, repeated headers) are not data"
        out.append(Chunk(kind: "table", sheet: sheetName, range: tableRange,
                         text: CellText.clip("Table \(table.name) on sheet \(sheetName) (\(tableRange)): \(rowsLoaded) rows\(partNote)\(excluded); SQL columns \(rowColumn) (sheet row), " + columnList, 4000)))
        for (k, c) in kept.enumerated() {
            let colRange = CellRange(rows: tableRange.start.row...tableRange.end.row, columns: c.column.sourceColumn...c.column.sourceColumn)
            let header = c.column.header.isEmpty ? "" : " '\(CellText.clip(c.column.header, 80))'"
            let sqlTable = parts.count > 1 ? parts[bindAt[k].part].name : table.name
            out.append(Chunk(kind: "column", sheet: sheetName, range: colRange,
                             text: "\(sheetName), column \(A1.columnName(c.column.sourceColumn))\(header) = \(sqlTable).\(c.sql) (\(c.column.type.rawValue); \(CellText.clip(c.column.typing.rule, 200))): \(stats[k].describe())"))
        }
        return out
    }
}
