import Foundation
import JSONRPC
import XLChatIndex
import XLChatLLM
import XLChatProtocol
import XLChatWorkbook

/// workbook/* and index/* handlers: wire params in, engine calls (off the cooperative pool), wire results out.
extension Session {
    func openWorkbook(_ params: WorkbookOpenRequest, context: RequestContext) async throws -> WorkbookOpenResult {
        let store = server.workbooks
        let handle: WorkbookHandle = try await withProgress(
            token: params.workDoneToken, connection: context.connection, title: "Opening workbook"
        ) { progress in
            if let path = params.path {
                guard params.text == nil else { throw ResponseError.invalidParams("invalid params: give 'path' or 'text', not both") }
                return try await Blocking.run(owner: connection.id) { token in
                    try store.open(path: path, token: token) { u in progress.report(fraction: u.fraction, message: u.message) }
                }
            }
            guard let text = params.text else { throw ResponseError.invalidParams("invalid params: missing 'path' (or 'text' with 'format')") }
            let format = params.format ?? "csv"
            let name = params.name ?? "untitled.\(format)"
            return try await Blocking.run(owner: connection.id) { token in try store.open(text: text, format: format, name: name, token: token) }
        }
        guard let outline = handle.outline else { throw CancellationError() }
        state.withLock { $0.openWorkbooks[handle.id] = handle.path }
        return WireFormat.openResult(outline: outline, workbookId: handle.id, path: handle.path)
    }

    func readWorkbook(_ params: WorkbookReadRequest) async throws -> WorkbookReadResult {
        let (handle, outline) = try await sessionWorkbook(params.workbookId)
        guard let sheet = outline.sheets.first(where: { $0.info.name == params.sheet })
            ?? outline.sheets.first(where: { $0.info.name.lowercased() == params.sheet.lowercased() }) else {
            throw WorkbookError(.unknownSheet,
                "no sheet named '\(params.sheet)'; the sheets are: \(outline.sheets.map { "'\($0.info.name)'" }.joined(separator: ", "))")
        }
        var range: CellRange? = nil
        if let text = params.range {
            guard let parsed = A1.parseRange(text) else {
                throw WorkbookError(.invalidRange, "'\(text)' is not an A1 range (like B2:D9), or lies outside A1:XFD1048576")
            }
            if let named = parsed.sheet, named != sheet.info.name {
                throw WorkbookError(.invalidRange, "range '\(text)' names sheet '\(named)' but the request reads '\(sheet.info.name)'")
            }
            range = parsed.range
        }
        let limit = min(max(params.limit ?? 1000, 1), 100_000)
        let requested = range
        let sheetIndex = sheet.info.index
        let used = sheet.summary.usedRange
        let withFormulas = params.formulas ?? false
        let read = try await Blocking.run(owner: connection.id) { token in
            try handle.withReader(token: token) { reader in
                try RangeReader.read(reader, sheetIndex: sheetIndex, range: requested, usedRange: used, limit: limit,
                                     formulas: withFormulas, isCancelled: { token.isCancelled })
            }
        }
        var rows = read.rows.map { $0.map(WireFormat.cell) }
        if withFormulas, let start = read.range?.start {
            for (ref, f) in read.formulas {
                let r = ref.row - start.row, c = ref.column - start.column
                guard r >= 0, r < rows.count, c >= 0, c < rows[r].count else { continue }
                rows[r][c] = WireFormat.formulaCell(value: rows[r][c], formula: f)
            }
        }
        return WorkbookReadResult(sheet: sheet.info.name, range: read.range?.description, rows: rows, truncated: read.truncated)
    }

    func traceWorkbook(_ params: WorkbookTraceRequest) async throws -> WorkbookTraceResult {
        let (handle, outline) = try await sessionWorkbook(params.workbookId)
        guard let sheet = outline.sheets.first(where: { $0.info.name == params.sheet })
            ?? outline.sheets.first(where: { $0.info.name.lowercased() == params.sheet.lowercased() }) else {
            throw WorkbookError(.unknownSheet,
                "no sheet named '\(params.sheet)'; the sheets are: \(outline.sheets.map { "'\($0.info.name)'" }.joined(separator: ", "))")
        }
        guard let parsed = A1.parseRange(params.cell), parsed.range.rowCount == 1, parsed.range.columnCount == 1 else {
            throw WorkbookError(.invalidRange, "'\(params.cell)' is not a single A1 cell (like F20)")
        }
        if let named = parsed.sheet, named.lowercased() != sheet.info.name.lowercased() {
            throw WorkbookError(.invalidRange, "cell '\(params.cell)' names sheet '\(named)' but the request traces '\(sheet.info.name)'")
        }
        if let d = params.depth, d < 1 || d > 10 { throw ResponseError.invalidParams("invalid params: 'depth' must be 1...10") }
        let sheetIndex = sheet.info.index, cell = parsed.range.start, depth = params.depth ?? 3
        let trace = try await Blocking.run(owner: connection.id) { token in
            try handle.withReader(evaluatingFormulas: false, token: token) { reader in
                let engine = FormulaEngine(reader: reader)
                engine.isCancelled = { token.isCancelled }
                return try engine.trace(sheet: sheetIndex, cell: cell, depth: depth)
            }
        }
        return WorkbookTraceResult(cell: WireFormat.traceEntry(trace.root), dependents: trace.dependents.map(WireFormat.traceEntry),
                                   dependentsTruncated: trace.dependentsTruncated)
    }

    func closeWorkbook(_ params: WorkbookCloseRequest) throws -> VoidResponse {
        let known = state.withLock { $0.openWorkbooks.removeValue(forKey: params.workbookId) != nil }
        guard known else {
            throw ResponseError.work(.unknownWorkbook, "unknown workbook '\(params.workbookId)': it is not open in this session")
        }
        return VoidResponse()
    }

    func queryWorkbook(_ params: WorkbookQueryRequest) async throws -> WorkbookQueryResult {
        let (handle, _) = try await sessionWorkbook(params.workbookId)
        let outline = try await handle.ensureIndexed(owner: connection.id)
        let limit = min(max(params.limit ?? 500, 1), 100_000)
        // The client may ask for less time than the server's budget, never more (issue 14:
        // `timeoutMs: 600000` used to be accepted as is).
        let config = server.configuration
        let capMs = max(config.maxQueryTimeoutMs, config.queryTimeoutMs)
        let timeout = Double(min(max(params.timeoutMs ?? config.queryTimeoutMs, 1), capMs)) / 1000
        let result = try await Blocking.run(owner: connection.id) { token in
            try handle.query(outline, sql: params.sql, limit: limit, timeout: timeout, isCancelled: { token.isCancelled })
        }
        return WorkbookQueryResult(columns: result.columns, rows: result.rows.map { $0.map(WireFormat.sql) },
                                   truncated: result.truncated, ranges: result.sourceRanges.map { $0?.a1 },
                                   durationMs: result.durationMs, warnings: result.warnings.isEmpty ? nil : result.warnings)
    }

    func buildIndex(_ params: IndexBuildRequest, context: RequestContext) async throws -> IndexBuildResult {
        let (handle, _) = try await sessionWorkbook(params.workbookId)
        let embedder = try await server.embedder()
        let owner = connection.id
        let result = try await withProgress(token: params.workDoneToken, connection: context.connection, title: "Indexing \(handle.displayName)") { progress in
            try await handle.build(embedder: embedder, force: params.force ?? false, owner: owner) { update in
                progress.report(fraction: update.fraction, message: update.message)
            }
        }
        return IndexBuildResult(workbookId: handle.id, chunks: result.chunks, embeddingModel: result.embeddingModel,
                                reused: result.reused, durationMs: result.durationMs)
    }

    func searchIndex(_ params: IndexSearchRequest) async throws -> IndexSearchResult {
        let (handle, _) = try await sessionWorkbook(params.workbookId)
        let outline = try await handle.ensureSearchIndex(embedder: try await server.embedder(), owner: connection.id)
        let limit = min(max(params.limit ?? 10, 1), 100)
        var fallback: String? = nil
        let hits: [SearchHit]
        do {
            hits = try await handle.search(outline, query: params.query, limit: limit, embedder: try await server.embedder())
        } catch let error where Self.isEmbedderOutage(error) {
            // Search works offline: without the embedding server, keywords only (FTS5). The
            // built-in embedder's identifier never matches a model server's, so no vector is used.
            fallback = "keyword search only: the embedding server is unavailable (\(error))"
            hits = try await handle.search(outline, query: params.query, limit: limit, embedder: HashingEmbedder())
        }
        return IndexSearchResult(results: hits.map {
            SearchResultItem(sheet: $0.sheet, range: $0.range.description, ref: A1.qualified(sheet: $0.sheet, range: $0.range),
                             text: $0.text, score: $0.score, kind: $0.kind)
        }, fallback: fallback)
    }

    /// The model server could not embed the query (down, timed out, model missing).
    static func isEmbedderOutage(_ error: any Error) -> Bool {
        if error is LLMError { return true }
        if let e = error as? IndexError, e.kind == .embedderFailed { return true }
        return false
    }

    func indexStatus(_ params: IndexStatusRequest) async throws -> IndexStatusResult {
        let (handle, outline) = try await sessionWorkbook(params.workbookId)
        let status = try server.index().status(hash: outline.contentHash)
        let building = handle.searchProgress
        let search = status.searchReady ? "ready" : (building != nil ? "building" : "notBuilt")
        return IndexStatusResult(
            workbookId: handle.id, contentHash: status.contentHash, built: status.built,
            builtAt: status.builtAt.map { ISO8601DateFormatter().string(from: $0) }, chunks: status.chunks,
            embeddingModel: status.embeddingModel,
            tables: status.tables.map { IndexedTable(name: $0.name, sheet: $0.sheet, rows: $0.rows, columns: $0.columns, omittedColumns: $0.omittedColumns) },
            tablesReady: status.tablesReady, search: search, searchProgress: status.searchReady ? nil : building,
            bytesOnDisk: Int(status.bytesOnDisk))
    }

    /// The session's workbook and the outline of the file's current version (opened again
    /// when the file changed since: `WorkbookHandle.current`).
    /// - Throws: `unknownWorkbook` when this session did not open `id`; the reading errors of
    ///   `workbook/open` when the changed file cannot be read.
    func sessionWorkbook(_ id: String) async throws -> (WorkbookHandle, WorkbookOutline) {
        guard state.withLock({ $0.openWorkbooks[id] != nil }) else {
            throw ResponseError.work(.unknownWorkbook, "unknown workbook '\(id)': open it with workbook/open first")
        }
        let handle = try server.workbooks.handle(id)
        let outline = try await Blocking.run(owner: connection.id) { token in try handle.current(token: token) }
        return (handle, outline)
    }
}

/// Engine values as the wire writes them (also used by the command line's `--json`).
public enum WireFormat {
    public static func cell(_ value: CellValue) -> JSONValue {
        switch value {
        case .empty: return .null
        case let .number(d): return number(d)
        case let .string(s): return .string(s)
        case let .bool(b): return .bool(b)
        case let .error(e): return .object(["error": .string(e)])
        case .temporal: return .string(value.isoText ?? "")
        }
    }

    /// A formula cell with `formulas: true`: `{"value": v, "formula": "=text"}`, or with a null
    /// formula and `formulaError` when the file's tokens did not decode.
    public static func formulaCell(value: JSONValue, formula: CellFormula) -> JSONValue {
        var o: [String: JSONValue] = ["value": value, "formula": formula.text.map { .string("=" + $0) } ?? .null]
        if let e = formula.error { o["formulaError"] = .string(e) }
        return .object(o)
    }

    public static func number(_ d: Double) -> JSONValue {
        guard d.isFinite else { return .string(String(d)) }
        if d == d.rounded(), abs(d) < 9e15 { return .int(Int64(d)) }
        return .double(d)
    }

    public static func sql(_ value: SQLValue) -> JSONValue {
        switch value {
        case .null: return .null
        case let .integer(i): return .int(i)
        case let .real(d): return number(d)
        case let .text(s): return .string(s)
        case let .blob(b): return .string(Data(b).base64EncodedString())
        }
    }

    public static func formulaValue(_ v: FormulaValue) -> JSONValue { cell(CellValue(v)) }

    public static func traceEntry(_ n: TraceNode) -> TraceEntry {
        TraceEntry(kind: n.kind.rawValue, ref: n.range.isEmpty ? "" : A1.quoteSheet(n.sheet) + "!" + n.range, name: n.name,
                   formula: n.formula, value: n.value.map(formulaValue), computed: n.computed,
                   precedents: n.precedents.map(traceEntry), truncated: n.truncated, dynamic: n.dynamic)
    }

    static func formulaSummary(_ s: FormulaEvaluationStats?) -> FormulaSummary? {
        guard let s, s.computed + s.notComputed > 0 else { return nil }
        return FormulaSummary(computed: s.computed, notComputed: s.notComputed, volatile: s.volatile,
                              problems: s.problems.map { FormulaProblemDescription(cell: A1.quoteSheet($0.sheet) + "!" + $0.cell.description,
                                                                                   formula: $0.formula, reason: $0.reason) })
    }

    static func typed(_ v: TypedValue?) -> JSONValue? {
        switch v {
        case nil: return nil
        case .null?: return .null
        case let .integer(i)?: return .int(i)
        case let .real(d)?: return number(d)
        case let .text(s)?: return .string(s)
        }
    }

    static func columnDescription(_ c: TableColumn) -> ColumnDescription {
        let p = c.typing.profile
        return ColumnDescription(name: c.name, header: c.header, type: c.type.rawValue, column: A1.columnName(c.sourceColumn),
                                 rule: c.typing.rule, nulled: c.typing.nulled, nulledExamples: c.typing.nulledExamples,
                                 profile: ColumnProfileDescription(values: p.values, distinct: p.distinct,
                                                                   min: typed(p.min), max: typed(p.max)))
    }

    public static func openResult(outline: WorkbookOutline, workbookId: String, path: String) -> WorkbookOpenResult {
        WorkbookOpenResult(
            workbookId: workbookId, path: path, format: outline.format.rawValue, contentHash: outline.contentHash,
            sheets: outline.sheets.map { sheet in
                SheetDescription(
                    name: sheet.info.name, index: sheet.info.index, hidden: sheet.info.visibility != .visible,
                    visibility: sheet.info.visibility.rawValue, kind: sheet.info.kind.rawValue,
                    range: sheet.summary.usedRange?.description, rows: sheet.rowCount, columns: sheet.columnCount,
                    mergedRanges: sheet.summary.mergedRanges.map(\.description),
                    tables: sheet.tables.map { t in
                        TableDescription(name: t.name, source: t.source.rawValue, headerRange: t.headerRange?.description,
                                         dataRange: t.dataRange?.description,
                                         columns: t.columns.map(columnDescription),
                                         excludedRows: t.excludedRows.map {
                                             ExcludedRowDescription(row: $0.row + 1, kind: $0.kind.rawValue, evidence: $0.evidence)
                                         },
                                         parts: t.parts.map { p in
                                             let cols = t.columns[p.columns]
                                             let span = cols.isEmpty ? "" : A1.columnName(cols.first!.sourceColumn) + ":" + A1.columnName(cols.last!.sourceColumn)
                                             return TablePartDescription(name: p.name, columns: span)
                                         })
                    },
                    warnings: sheet.warnings)
            },
            definedNames: outline.definedNames.map { n in
                DefinedNameDescription(name: n.name, refersTo: n.refersTo,
                                       sheet: n.localSheet.flatMap { i in outline.sheets.indices.contains(i) ? outline.sheets[i].info.name : nil })
            },
            formulas: formulaSummary(outline.formulas))
    }
}
