import Foundation
import XLChatIndex
import XLChatWorkbook

/// What the analyst works against: the files it may read, the SQL tables it may query and
/// describe, and how their rows map back to cells it cites. Two implementations: one
/// workbook (`WorkbookSource`) and a workspace of many (`WorkspaceSource`). The prompt, the
/// tools, citations, grounding and the answer cache are written once, against this.
public protocol AnalysisSource: Sendable {
    /// `.workbook` or `.workspace`: the wording of the prompt's rules.
    var kind: AnalysisSourceKind { get }
    /// The SQL dialect its sql tool runs (the store behind it; SQLite unless a shared store is set).
    var dialect: SQLDialect { get }
    /// The files, in the order the outline shows them (one for a workbook).
    var files: [SourceFile] { get }
    /// Every SQL table, one per table part, with the file and table it comes from.
    var tables: [SourceTable] { get }
    /// Union views over tables with the same columns across files (workspaces only).
    var unions: [WorkspaceUnion] { get }
    /// Part of the answer cache's key: changes whenever the data behind an answer changes
    /// (a workbook's content hash; a workspace's files and their content hashes).
    var stateKey: String { get }
    /// Said with the answer when it comes from an older state than the files on disk (a
    /// workspace being re-indexed); nil when current.
    var staleNote: String? { get }
    /// One read-only SELECT over `tables` and `unions`. Rows that come straight from one sheet
    /// row carry their cells in `sourceRanges`, with their file set for a workspace. Throws
    /// `IndexError(.invalidQuery / .queryTimeout)`. Synchronous: callers run it off the
    /// cooperative pool (`Offload`).
    func query(sql: String, limit: Int, timeout: Double) throws -> QueryResult
    /// Whether the prompt carries search hits for the question (the `search` tool works either way).
    var searchesInPrompt: Bool { get }
    /// Hybrid-search hits for `query`, best first, each with its file (nil for a workbook).
    /// `waitForBuild` false: files whose search part is not built yet give no hits.
    func search(query: String, limit: Int, waitForBuild: Bool) async throws -> [(file: String?, hit: SearchHit)]
}

public enum AnalysisSourceKind: String, Sendable, Hashable {
    case workbook, workspace
}

/// A file the analyst may read: its outline, with `outline.path` the file on disk.
public struct SourceFile: Sendable, Hashable {
    /// The file's name in citations (`sales_2024.xlsx`, relative to the workspace's folder);
    /// nil for the one workbook of a workbook question.
    public var label: String?
    public var outline: WorkbookOutline
    /// The open workbook's owner, when the server holds one: `read_range` and `trace` then read
    /// through its kept reader (identity checked first) instead of opening the file again.
    public var handle: WorkbookHandle?
    public init(label: String?, outline: WorkbookOutline, handle: WorkbookHandle? = nil) {
        self.label = label; self.outline = outline; self.handle = handle
    }

    public static func == (a: SourceFile, b: SourceFile) -> Bool { a.label == b.label && a.outline == b.outline }
    public func hash(into h: inout Hasher) { h.combine(label); h.combine(outline) }

    /// Runs `body` with a reader of the file: the handle's kept one, or a newly opened one.
    /// Blocks: call it on the engine's threads. Throws what opening and `body` throw.
    func withReader<T>(evaluatingFormulas: Bool, token: CancellationToken, _ body: (any WorkbookReader) throws -> T) throws -> T {
        if let handle { return try handle.withReader(evaluatingFormulas: evaluatingFormulas, token: token, body) }
        return try body(try Workbooks.open(path: outline.path, evaluateFormulas: evaluatingFormulas))
    }
}

/// One SQL table: its name in the SQL namespace, and where its rows come from.
public struct SourceTable: Sendable, Hashable {
    /// The name SQL uses (a workbook's table or part name; a workspace name such as
    /// `sales_2024__orders`).
    public var sqlName: String
    public var file: String?
    public var table: InferredTable
    /// Indices into `table.columns` this SQL table holds (a part of a table wider than
    /// SQLite's column limit holds some).
    public var columns: Range<Int>
    public init(sqlName: String, file: String?, table: InferredTable, columns: Range<Int>) {
        self.sqlName = sqlName; self.file = file; self.table = table; self.columns = columns
    }
}

extension AnalysisSource {
    /// The SQL tables of `table` of the file `file`, in part order.
    func sqlTables(of table: InferredTable, file: String?) -> [SourceTable] {
        tables.filter { $0.file == file && $0.table.name == table.name && $0.table.sheet == table.sheet }
    }

    /// A file by the name the model gave: exact, any case, or its last path component (a
    /// workspace file `2024/sales.xlsx` is also `sales.xlsx` when that is unique). nil name:
    /// the only file, or the only file with a sheet named `sheet`. Throws
    /// `WorkbookError(.unknownSheet)` naming the files when it is ambiguous or unknown.
    func file(named name: String?, sheet: String?) throws -> SourceFile {
        if files.count == 1 && (name == nil || files[0].label == nil) { return files[0] }
        let list = files.prefix(30).compactMap(\.label).map { "'\($0)'" }.joined(separator: ", ") + (files.count > 30 ? ", ..." : "")
        if let name = name?.trimmingCharacters(in: CharacterSet(charactersIn: "\"'` ")), !name.isEmpty {
            let lower = name.lowercased()
            if let f = files.first(where: { $0.label == name }) ?? files.first(where: { $0.label?.lowercased() == lower }) { return f }
            let byBase = files.filter { ($0.label.map { ($0 as NSString).lastPathComponent.lowercased() }) == lower }
            if byBase.count == 1 { return byBase[0] }
            throw WorkbookError(.unknownSheet, "no file named '\(name)'; the files are: \(list)")
        }
        if let sheet {
            let having = files.filter { $0.outline.sheets.contains { $0.info.name.lowercased() == sheet.lowercased() } }
            if having.count == 1 { return having[0] }
        }
        throw WorkbookError(.unknownSheet, "say which file (the 'file' argument): \(list)")
    }

    /// For rows that come from no single sheet row (aggregates, joins, union views): the data
    /// ranges of the tables the SQL names (a union view names all its members), narrowed to
    /// the columns it names (all columns when it names none).
    func tableRanges(forSQL sql: String) -> [SourceRange] {
        let words = ToolRunner.identifiers(in: sql)
        var named = Set(tables.map(\.sqlName).filter { words.contains($0.lowercased()) }.map { $0.lowercased() })
        for u in unions where words.contains(u.name.lowercased()) { named.formUnion(u.members.map { $0.lowercased() }) }
        var out: [SourceRange] = []
        // Grouped per table (its parts are SQL tables of their own).
        var seen = Set<String>()
        for t in tables where named.contains(t.sqlName.lowercased()) {
            let key = (t.file ?? "") + "\u{1}" + t.table.sheet + "\u{1}" + t.table.name
            guard !seen.contains(key), let data = t.table.dataRange else { continue }
            seen.insert(key)
            let parts = tables.filter { ($0.file ?? "") + "\u{1}" + $0.table.sheet + "\u{1}" + $0.table.name == key && named.contains($0.sqlName.lowercased()) }
            let inParts = Set(parts.flatMap { Array($0.columns) })
            let cols = t.table.columns.enumerated().filter { inParts.contains($0.offset) && words.contains($0.element.name.lowercased()) }.map(\.element)
            if cols.isEmpty {
                out.append(SourceRange(file: t.file, sheet: t.table.sheet, range: data))
            } else {
                for c in cols {
                    out.append(SourceRange(file: t.file, sheet: t.table.sheet,
                                           range: CellRange(rows: data.start.row...data.end.row, columns: c.sourceColumn...c.sourceColumn)))
                }
            }
        }
        return Citations.merge(out)
    }

    /// File, sheet, table and column names: in every row's text, so they say nothing about
    /// which rows an answer used.
    var structuralWords: Set<String> {
        var out = Set<String>()
        for f in files {
            if let l = f.label { out.formUnion(Analyst.words(l)) }
            out.formUnion(Analyst.structuralWords(f.outline))
        }
        for t in tables { out.formUnion(Analyst.words(t.sqlName)) }
        for u in unions { out.formUnion(Analyst.words(u.name)) }
        return out
    }
}

/// One workbook whose typed tables are built (`WorkbookHandle.ensureIndexed`): its tables and
/// parts as the workbook index names them.
public struct WorkbookSource: AnalysisSource {
    public let outline: WorkbookOutline
    public let index: WorkbookIndex
    public let embedder: any Embedder

    /// The open workbook's owner (reads go through its kept reader); nil: files are opened by path.
    public let handle: WorkbookHandle?

    public init(outline: WorkbookOutline, index: WorkbookIndex, embedder: any Embedder, handle: WorkbookHandle? = nil) {
        self.outline = outline; self.index = index; self.embedder = embedder; self.handle = handle
        tables = Self.sqlTables(of: outline)
    }

    /// The SQL tables of a workbook: one per table part (the first part keeps the table's name).
    static func sqlTables(of outline: WorkbookOutline) -> [SourceTable] {
        var tables: [SourceTable] = []
        for t in outline.sheets.flatMap(\.tables) {
            let parts = t.parts.isEmpty ? [TablePart(name: t.name, columns: 0..<t.columns.count)] : t.parts
            for p in parts { tables.append(SourceTable(sqlName: p.name, file: nil, table: t, columns: p.columns)) }
        }
        return tables
    }

    public var kind: AnalysisSourceKind { .workbook }
    public var files: [SourceFile] { [SourceFile(label: nil, outline: outline, handle: handle)] }
    public let tables: [SourceTable]
    public var unions: [WorkspaceUnion] { [] }
    public var stateKey: String { outline.contentHash }
    public var staleNote: String? { nil }
    public var searchesInPrompt: Bool { true }

    public func query(sql: String, limit: Int, timeout: Double) throws -> QueryResult {
        try index.query(outline: outline, sql: sql, limit: limit, timeout: timeout)
    }

    public func search(query: String, limit: Int, waitForBuild: Bool) async throws -> [(file: String?, hit: SearchHit)] {
        try await index.search(hash: outline.contentHash, query: query, limit: limit, embedder: embedder, waitForBuild: waitForBuild).map { (nil, $0) }
    }
}

/// A workspace: the last complete state of its database (every file's typed tables under
/// their workspace names, union views with `_file`), with each file's outline read from its
/// workbook index. Rows of a copied table keep `_row`, so cited rows map back to the source
/// file's sheet and cells.
public struct WorkspaceSource: AnalysisSource {
    public let workspace: WorkspaceIndex
    public let index: WorkbookIndex
    public let embedder: any Embedder
    public let files: [SourceFile]
    public let tables: [SourceTable]
    public let unions: [WorkspaceUnion]
    public let stateKey: String
    public let staleNote: String?
    /// Content hash per file label.
    let hashes: [String: String]
    /// Builds one file version's missing search part (`path`, content hash); nil: the engine's
    /// `WorkspaceIndex.defaultSearchBuilder`.
    let searchBuilder: (@Sendable (_ path: String, _ hash: String) async throws -> Void)?

    /// Reads the workspace's committed state: manifest, tables, unions, and each readable
    /// file's outline from its index (no workbook is read). `stale`: what to say when the
    /// answer is from the last complete state while files are being re-indexed. Throws
    /// `IndexError` when the workspace database or an index cannot be read.
    /// `handleFor`: the server's handle of a file, when it holds one (`read_range` and `trace`
    /// then read through its kept reader).
    public init(workspace: WorkspaceIndex, index: WorkbookIndex, embedder: any Embedder, stale: String? = nil,
                searchBuilder: (@Sendable (_ path: String, _ hash: String) async throws -> Void)? = nil,
                handleFor: ((_ path: String) -> WorkbookHandle?)? = nil) throws {
        self.workspace = workspace; self.index = index; self.embedder = embedder; self.staleNote = stale
        self.searchBuilder = searchBuilder
        let entries = try workspace.entries()
        let wsTables = try workspace.tables()
        unions = try workspace.unions()
        stateKey = try workspace.stateKey()
        var files: [SourceFile] = []
        var hashes: [String: String] = [:]
        var outlines: [String: WorkbookOutline] = [:]
        for e in entries {
            guard var o = try workspace.outline(of: e) else { continue }
            o.path = workspace.root + "/" + e.relativePath
            files.append(SourceFile(label: e.relativePath, outline: o, handle: handleFor?(o.path)))
            outlines[e.relativePath] = o
            hashes[e.relativePath] = e.contentHash
        }
        var tables: [SourceTable] = []
        for t in wsTables {
            guard let o = outlines[t.relativePath] else { continue }
            for inferred in o.sheets.flatMap(\.tables) {
                if inferred.name == t.sourceTable && inferred.parts.count <= 1 {
                    tables.append(SourceTable(sqlName: t.name, file: t.relativePath, table: inferred, columns: 0..<inferred.columns.count))
                    break
                }
                if let p = inferred.parts.first(where: { $0.name == t.sourceTable }) {
                    tables.append(SourceTable(sqlName: t.name, file: t.relativePath, table: inferred, columns: p.columns))
                    break
                }
            }
        }
        self.files = files; self.tables = tables; self.hashes = hashes
    }

    public var kind: AnalysisSourceKind { .workspace }
    /// No: every question searched up to 50 files' vectors (measured with
    /// `xlchat-bench workspace --files 100`: 3.4 s of a 3.5 s answer in a debug build, 90% of
    /// it scoring vectors), for hits the outline's union views and column profiles mostly make
    /// unneeded. The model calls `search` when it wants text matches.
    public var searchesInPrompt: Bool { false }

    /// As `WorkspaceIndex.query`, each cited row with its file. Rows of a union view that
    /// carry `_file` and `_row` cite that file's sheet row too (in the member table's columns
    /// the SQL names, else its whole row).
    public func query(sql: String, limit: Int, timeout: Double) throws -> QueryResult {
        let (result, files) = try workspace.query(sql: sql, limit: limit, timeout: timeout)
        var out = result
        let viewRows = viewRowCiter(sql: sql, columns: result.columns)
        out.sourceRanges = result.sourceRanges.enumerated().map { i, r in
            guard var r else { return viewRows?(result.rows[i]) }
            r.file = files.indices.contains(i) ? files[i] : nil
            return r
        }
        return out
    }

    /// For a result with `_file` and `_row` columns from the union views the SQL names: the
    /// cells of one result row in its member file. nil when the result has no such columns.
    func viewRowCiter(sql: String, columns: [String]) -> (([SQLValue]) -> SourceRange?)? {
        guard let fileAt = columns.firstIndex(where: { $0.lowercased() == "_file" }),
              let rowAt = columns.firstIndex(where: { $0.lowercased() == "_row" }) else { return nil }
        let words = ToolRunner.identifiers(in: sql)
        let named = unions.filter { words.contains($0.name.lowercased()) }
        guard !named.isEmpty else { return nil }
        var memberOf: [String: SourceTable] = [:]
        for u in named {
            for m in u.members {
                if let t = tables.first(where: { $0.sqlName == m }), let f = t.file, memberOf[f] == nil { memberOf[f] = t }
            }
        }
        return { row in
            guard row.indices.contains(fileAt), row.indices.contains(rowAt), case let .text(file) = row[fileAt],
                  let member = memberOf[file], let data = member.table.dataRange else { return nil }
            let sheetRow: Int
            switch row[rowAt] {
            case let .integer(n): sheetRow = Int(n) - 1
            case let .real(d) where d == d.rounded(): sheetRow = Int(d) - 1
            default: return nil
            }
            guard sheetRow >= data.start.row, sheetRow <= data.end.row else { return nil }
            let cited = member.table.columns[member.columns].filter { words.contains($0.name.lowercased()) }.map(\.sourceColumn)
            let span = cited.isEmpty ? data.start.column...data.end.column : cited.min()!...cited.max()!
            return SourceRange(file: file, sheet: member.table.sheet, range: CellRange(rows: sheetRow...sheetRow, columns: span))
        }
    }

    /// One search over every ready file of the workspace, ranked across files
    /// (`WorkspaceIndex.search`: reciprocal rank fusion over global BM25 and vector ranks).
    /// `waitForBuild`: build the search parts that are missing (through `searchBuilder`, the
    /// server's handles, else the engine's `defaultSearchBuilder`); false: files without one
    /// give no hits. Throws `IndexError(.embedderFailed / .storage)`, `CancellationError`.
    public func search(query: String, limit: Int, waitForBuild: Bool) async throws -> [(file: String?, hit: SearchHit)] {
        let build: @Sendable (String, String) async throws -> Void
        if !waitForBuild {
            build = { @Sendable _, _ in throw IndexError(.indexNotBuilt, "the search part is not built yet") }
        } else if let searchBuilder {
            build = searchBuilder
        } else {
            build = workspace.defaultSearchBuilder(embedder: embedder)
        }
        let found = try await workspace.search(query: query, limit: limit, embedder: embedder, buildSearch: build)
        return found.hits.map { h in
            (h.relativePath, SearchHit(sheet: h.sheet, range: h.range, text: h.text, score: h.score, kind: h.kind))
        }
    }
}

extension AnalysisSource {
    public var dialect: SQLDialect { .sqlite }
}

extension WorkbookSource {
    public var dialect: SQLDialect { index.sqlDialect(hash: outline.contentHash) }
}
