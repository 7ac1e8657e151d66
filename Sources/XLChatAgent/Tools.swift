import Foundation
import XLChatIndex
import XLChatLLM
import XLChatWorkbook

/// A piece of data the model saw, with the cells it comes from: a result row, a search hit.
struct Evidence: Sendable {
    var text: String
    var ranges: [SourceRange]
    /// From a tool call (true) or from the prompt's search hits (false).
    var fromTool: Bool
    /// A search hit over many rows (a window, a column, a sheet): cited only when no
    /// single-row item matches the answer.
    var coarse = false
    /// A cell or range of a formula chain the `trace` tool showed (the traced cell and its
    /// precedents): an answer that used the trace cites all of them, whatever its numbers
    /// (issue 11: "answered with the formula chain, and cites every cell in it").
    var formulaChain = false

    init(text: String, ranges: [SourceRange], fromTool: Bool, coarse: Bool = false, formulaChain: Bool = false) {
        self.text = text; self.ranges = ranges; self.fromTool = fromTool; self.coarse = coarse; self.formulaChain = formulaChain
    }

    init(hit: SearchHit, fromTool: Bool) {
        self.init(hit: hit, file: nil, fromTool: fromTool)
    }

    init(hit: SearchHit, file: String?, fromTool: Bool) {
        self.init(text: DataBlock.escape(hit.text), ranges: [SourceRange(file: file, sheet: hit.sheet, range: hit.range)], fromTool: fromTool,
                  coarse: hit.kind != "row" || hit.range.rowCount > 1)
    }
}

/// What a tool call produced: the text the model gets back, the step shown to the user, and
/// the evidence it adds.
struct ToolOutcome: Sendable {
    var resultText: String
    var step: AgentStep
    var evidence: [Evidence]
    /// The result's rows, when it has any, so the budget can show fewer of them.
    var block: ResultBlock? = nil

    init(resultText: String, step: AgentStep, evidence: [Evidence]) {
        self.resultText = resultText; self.step = step; self.evidence = evidence
    }

    init(block: ResultBlock, step: AgentStep, evidence: [Evidence]) {
        self.init(resultText: block.render(rowLimit: nil), step: step, evidence: evidence)
        self.block = block
    }

    /// The result as the model sees it with at most `rowLimit` rows (all when nil).
    func text(rowLimit: Int?) -> String {
        guard let block, let rowLimit, rowLimit < block.rows.count else { return resultText }
        return block.render(rowLimit: rowLimit)
    }

    /// An earlier result, compacted: the call, its one-line summary and the cells it cites.
    var compactText: String {
        let args = step.arguments.count > 300 ? String(step.arguments.prefix(300)) + "..." : step.arguments
        var out = "[Earlier result, shortened to save room] \(step.tool) \(args): \(step.summary)"
        if !step.ranges.isEmpty { out += ". Cells: " + step.ranges.prefix(8).joined(separator: ", ") }
        if step.ok && block != nil { out += ". Run the call again to see its rows." }
        return out
    }
}

/// A tool result's rows in a data block: `intro`, the block (header lines, then rows), and a
/// note saying how many rows were left out when the budget shows fewer.
struct ResultBlock: Sendable {
    var intro: String
    var label: String
    var header: [String]
    var rows: [String]
    /// Said after the block when rows are left out, after their count.
    var moreNote = "more rows not shown; narrow the query."

    func render(rowLimit: Int?) -> String {
        let shown = rowLimit.map { min(max(0, $0), rows.count) } ?? rows.count
        var text = intro + "\n" + DataBlock.wrap(label, (header + rows.prefix(shown)).joined(separator: "\n"))
        if shown < rows.count { text += "\n\(rows.count - shown) \(moreNote)" }
        return text
    }
}

/// Runs the read-only tools against what the analyst works on (`AnalysisSource`: one
/// workbook, or a workspace of many).
struct ToolRunner: Sendable {
    let source: any AnalysisSource
    let options: AgentOptions

    init(source: any AnalysisSource, options: AgentOptions) { self.source = source; self.options = options }

    init(outline: WorkbookOutline, index: WorkbookIndex, embedder: any Embedder, options: AgentOptions) {
        self.init(source: WorkbookSource(outline: outline, index: index, embedder: embedder), options: options)
    }

    /// The tools as the model sees them. Compact (issue 17: the first prompt for the README's
    /// example is at most 1,200 tokens by SmolLM2's tokenizer): parameter names say what they
    /// hold, so only the tool descriptions carry prose (llama-cpp-python's function-calling
    /// template shows the parameters only, Ollama's and llama.cpp's templates show both).
    ///
    /// Every string has a `maxLength`: servers that turn the schema into a grammar (llama.cpp,
    /// llama-cpp-python) then cannot generate without end inside a call. llama-cpp-python
    /// applies no `max_tokens` to tool-call arguments; SmolLM2-135M was seen writing 2,669 and
    /// 3,076 tokens in one tool-call reply (100-120 s). The limits are far above real use: the longest
    /// SQL the eval's questions need is 111 characters, Excel sheet names are at most 31.
    static let definitions: [ToolDefinition] = [
        tool("sql", "Run one read-only SQLite SELECT on the outline's tables (_row = sheet row); up to 50 rows.",
             ["query": maxQueryLength]),
        tool("describe_table", "A table's columns and first rows.", ["table": maxNameLength]),
        tool("read_range", "Cells of a sheet by A1 range, e.g. A1:D10; up to 50 rows.",
             ["sheet": maxNameLength, "range": maxRefLength], required: ["range"]),
        tool("search", "Rows whose text has these words (names, codes).", ["query": maxSearchLength]),
        tool("trace", "How a cell is computed: formula, value, the cells it uses and the cells using it.",
             ["sheet": maxNameLength, "cell": maxRefLength], required: ["cell"]),
    ]

    /// The tools in a workspace: `sql` names its views and joins, `read_range` and `trace`
    /// also take the file (relative to the folder), the rest as for a workbook.
    static let workspaceDefinitions: [ToolDefinition] = definitions.map { d in
        switch d.name {
        case "sql":
            return tool("sql", "Run one read-only SQLite SELECT on the outline's tables and views (_row = sheet row); tables of different files join; up to 50 rows.",
                        ["query": maxQueryLength])
        case "read_range":
            return tool("read_range", "Cells of a file's sheet by A1 range, e.g. A1:D10; up to 50 rows.",
                        ["file": maxFileLength, "sheet": maxNameLength, "range": maxRefLength], required: ["file", "range"])
        case "trace":
            return tool("trace", "How a cell of a file is computed: formula, value, the cells it uses and the cells using it.",
                        ["file": maxFileLength, "sheet": maxNameLength, "cell": maxRefLength], required: ["file", "cell"])
        default:
            return d
        }
    }

    /// The tools for a kind of source.
    static func definitions(for kind: AnalysisSourceKind) -> [ToolDefinition] {
        kind == .workspace ? workspaceDefinitions : definitions
    }

    /// `maxLength` of tool-call strings (characters).
    static let maxQueryLength = 1000, maxSearchLength = 200, maxNameLength = 128, maxRefLength = 40, maxFileLength = 512

    /// A tool whose parameters are strings of at most the given lengths; all required unless
    /// `required` names some.
    /// `definitions` with the sql tool naming `dialect`.
    static func definitions(for dialect: SQLDialect) -> [ToolDefinition] {
        definitions.map { d in
            var d = d
            if d.name == "sql" { d.description = PromptBuilder.inDialect(d.description, dialect) }
            return d
        }
    }

    static func tool(_ name: String, _ description: String, _ strings: KeyValuePairs<String, Int>,
                     required: [String]? = nil) -> ToolDefinition {
        var properties: [String: LLMJSON] = [:]
        for (key, max) in strings { properties[key] = ["type": "string", "maxLength": .number(Double(max))] }
        let names = required ?? strings.map(\.key)
        return ToolDefinition(name: name, description: description,
                              parameters: ["type": "object", "properties": .object(properties), "required": .array(names.map { .string($0) })])
    }

    func run(_ call: ToolCall) async -> ToolOutcome {
        func failure(_ message: String) -> ToolOutcome {
            ToolOutcome(resultText: "ERROR: \(message)\nFix the call and try again, or answer from what you have.",
                        step: AgentStep(tool: call.name, arguments: call.argumentsText, summary: "error: \(message)", ranges: [], ok: false),
                        evidence: [])
        }
        guard let args = call.arguments else {
            return failure("the arguments of '\(call.name)' are not a JSON object: \(call.argumentsText.prefix(200))")
        }
        func string(_ keys: String...) -> String? {
            for k in keys { if let v = args[k]?.stringValue, !v.trimmingCharacters(in: .whitespaces).isEmpty { return v } }
            return nil
        }
        do {
            switch call.name {
            case "sql":
                guard let sql = string("query", "sql", "statement") else { return failure("'sql' needs a 'query' argument holding one SELECT") }
                return try await runSQL(Self.cleanSQL(sql), call: call)
            case "read_range":
                guard let range = string("range", "cells", "a1") else { return failure("'read_range' needs a 'range' argument such as A1:D10") }
                return try await readRange(file: string("file", "workbook", "path"), sheet: string("sheet", "sheet_name"), range: range, call: call)
            case "search":
                guard let query = string("query", "text", "q") else { return failure("'search' needs a 'query' argument") }
                return try await search(query, call: call)
            case "describe_table":
                guard let table = string("table", "name", "table_name", "sheet") else { return failure("'describe_table' needs a 'table' argument") }
                return try await describeTable(table, call: call)
            case "trace":
                guard let cell = string("cell", "range", "ref", "a1") else { return failure("'trace' needs a 'cell' argument such as F20") }
                return try await trace(file: string("file", "workbook", "path"), sheet: string("sheet", "sheet_name"), cell: cell, call: call)
            default:
                return failure("there is no tool named '\(call.name)'; the tools are \(Self.definitions(for: source.kind).map(\.name).joined(separator: ", "))")
            }
        } catch is CancellationError {
            return failure("cancelled")
        } catch let e as IndexError {
            return failure(e.message)
        } catch let e as WorkbookError {
            return failure(e.message)
        } catch {
            return failure("\(error)")
        }
    }

    // MARK: sql

    func runSQL(_ sql: String, call: ToolCall) async throws -> ToolOutcome {
        let source = source, limit = options.maxResultRows, timeout = options.queryTimeout
        let result = try await Offload.run { try source.query(sql: sql, limit: limit, timeout: timeout) }
        let fallbackRanges = source.tableRanges(forSQL: sql)
        let rowColumn = result.columns.firstIndex(of: "_row")
        var lines = [result.columns.joined(separator: " | ")]
        var evidence: [Evidence] = []
        var allRanges: [SourceRange] = []
        for (i, row) in result.rows.enumerated() {
            let cells = row.map { Self.text($0) }
            lines.append(cells.joined(separator: " | "))
            let values = cells.enumerated().filter { $0.offset != rowColumn }.map(\.element).joined(separator: " | ")
            let ranges = result.sourceRanges.indices.contains(i) ? result.sourceRanges[i].map { [$0] } ?? fallbackRanges : fallbackRanges
            evidence.append(Evidence(text: values, ranges: ranges, fromTool: true))
            allRanges += ranges
        }
        let merged = Citations.merge(allRanges)
        let rowsNote = "\(result.rows.count) row\(result.rows.count == 1 ? "" : "s")\(result.truncated ? " (more exist; narrow the query)" : "")"
        let warned = result.warnings.map { "WARNING: \($0)." }.joined(separator: " ")
        let block = ResultBlock(intro: (warned.isEmpty ? "" : warned + "\n") + "Result of the SQL query, \(rowsNote):", label: "sql result", header: [lines[0]], rows: Array(lines.dropFirst()))
        let summary = result.rows.isEmpty ? "no rows" : "\(rowsNote): \(result.columns.joined(separator: ", "))"
        return ToolOutcome(block: block,
                           step: AgentStep(tool: "sql", arguments: call.argumentsText, summary: summary, ranges: merged.map(\.label), ok: true),
                           evidence: evidence)
    }

    /// Small models (and proxies in front of them) often HTML-escape the SQL they write
    /// (`&#34;`, `&amp;#34;`) or leak the JSON's closing `"}` into the string: undo both before
    /// running it. Measured with smollm2:135m behind the test shim (RealModelChatTests).
    static func cleanSQL(_ raw: String) -> String {
        var sql = raw
        let entities = ["&amp;": "&", "&#34;": "\"", "&quot;": "\"", "&#39;": "'", "&apos;": "'", "&lt;": "<", "&gt;": ">"]
        for _ in 0..<3 where sql.contains("&") {
            var next = sql
            for (k, v) in entities { next = next.replacingOccurrences(of: k, with: v) }
            if next == sql { break }
            sql = next
        }
        sql = sql.trimmingCharacters(in: .whitespacesAndNewlines)
        while sql.hasSuffix("\"}") || (sql.hasSuffix("\"") && sql.filter { $0 == "\"" }.count % 2 == 1) {
            sql = String(sql.dropLast(sql.hasSuffix("\"}") ? 2 : 1)).trimmingCharacters(in: .whitespaces)
        }
        return sql
    }

    /// Lower-cased identifiers of a SQL text, bare and quoted ("x", `x`, [x]).
    static func identifiers(in sql: String) -> Set<String> {
        var out = Set<String>()
        var current = ""
        var quote: Character? = nil
        for ch in sql {
            if let q = quote {
                if ch == q || (q == "[" && ch == "]") { out.insert(current.lowercased()); current = ""; quote = nil } else { current.append(ch) }
                continue
            }
            if ch == "\"" || ch == "`" || ch == "[" {
                if !current.isEmpty { out.insert(current.lowercased()); current = "" }
                quote = ch
            } else if ch.isLetter || ch.isNumber || ch == "_" {
                current.append(ch)
            } else {
                if !current.isEmpty { out.insert(current.lowercased()); current = "" }
            }
        }
        if !current.isEmpty { out.insert(current.lowercased()) }
        return out
    }

    static func text(_ v: SQLValue) -> String {
        switch v {
        case .null: return ""
        case let .real(d): return Self.number(d)
        default: return DataBlock.escape(v.description)
        }
    }

    static func number(_ d: Double) -> String {
        if d.isFinite, d == d.rounded(), abs(d) < 9e15 { return String(Int64(d)) }
        return String(d)
    }

    // MARK: read_range

    func readRange(file fileArg: String?, sheet sheetArg: String?, range text: String, call: ToolCall) async throws -> ToolOutcome {
        guard let parsed = A1.parseRange(text.trimmingCharacters(in: .whitespaces)) else {
            throw WorkbookError(.invalidRange, "'\(text)' is not an A1 range (like B2:D9)")
        }
        let wanted = parsed.sheet ?? sheetArg
        let file = try source.file(named: fileArg, sheet: wanted)
        let outline = file.outline
        let sheets = outline.sheets
        let sheet: SheetOutline
        if let wanted {
            guard let s = sheets.first(where: { $0.info.name == wanted }) ?? sheets.first(where: { $0.info.name.lowercased() == wanted.lowercased() }) else {
                throw WorkbookError(.unknownSheet, "no sheet named '\(wanted)'; the sheets are: \(sheets.map { "'\($0.info.name)'" }.joined(separator: ", "))")
            }
            sheet = s
        } else if sheets.count == 1 {
            sheet = sheets[0]
        } else {
            throw WorkbookError(.unknownSheet, "say which sheet: \(sheets.map { "'\($0.info.name)'" }.joined(separator: ", "))")
        }
        let index = sheet.info.index, used = sheet.summary.usedRange, limit = options.maxResultRows
        let range = parsed.range
        guard range.columnCount <= 200 else {
            throw WorkbookError(.invalidRange, "range \(range) is \(range.columnCount) columns wide; read at most 200 columns at once")
        }
        let read = try await Blocking.run { token in
            try file.withReader(evaluatingFormulas: true, token: token) {
                try RangeReader.read($0, sheetIndex: index, range: range, usedRange: used, limit: limit)
            }
        }
        guard let got = read.range else {
            return ToolOutcome(resultText: "The range is empty.", step: AgentStep(tool: "read_range", arguments: call.argumentsText, summary: "empty", ranges: [], ok: true), evidence: [])
        }
        var lines: [String] = []
        var evidence: [Evidence] = []
        for (i, row) in read.rows.enumerated() {
            let r = got.start.row + i
            guard row.contains(where: { !$0.isEmpty }) else { continue }
            var cells: [String] = []
            for (j, v) in row.enumerated() where !v.isEmpty {
                cells.append("\(A1.columnName(got.start.column + j))\(r + 1)=\(Self.cellText(v))")
            }
            lines.append(cells.joined(separator: " | "))
            evidence.append(Evidence(text: row.map(Self.cellText).joined(separator: " | "),
                                     ranges: [SourceRange(file: file.label, sheet: sheet.info.name, range: CellRange(rows: r...r, columns: got.start.column...got.end.column))],
                                     fromTool: true))
        }
        let ref = SourceRange(file: file.label, sheet: sheet.info.name, range: got).label
        let block = ResultBlock(intro: "Cells of \(ref)\(read.truncated ? " (truncated; read fewer rows)" : ""):", label: "cells \(ref)", header: [], rows: lines)
        return ToolOutcome(block: block,
                           step: AgentStep(tool: "read_range", arguments: call.argumentsText,
                                           summary: "\(ref): \(evidence.count) non-empty row\(evidence.count == 1 ? "" : "s")", ranges: [ref], ok: true),
                           evidence: evidence)
    }

    static func cellText(_ v: CellValue) -> String {
        switch v {
        case .empty: return ""
        case let .number(d): return number(d)
        case let .string(s): return DataBlock.escape(s)
        case let .bool(b): return b ? "TRUE" : "FALSE"
        case let .error(e): return e
        case .temporal: return v.isoText ?? ""
        }
    }

    // MARK: trace

    /// The `trace` tool: the cell's formula chain as indented lines, each cell cited.
    func trace(file fileArg: String?, sheet sheetArg: String?, cell text: String, call: ToolCall) async throws -> ToolOutcome {
        guard let parsed = A1.parseRange(text.trimmingCharacters(in: .whitespaces)), parsed.range.rowCount == 1, parsed.range.columnCount == 1 else {
            throw WorkbookError(.invalidRange, "'\(text)' is not one A1 cell (like F20)")
        }
        let wanted = parsed.sheet ?? sheetArg
        let file = try source.file(named: fileArg, sheet: wanted)
        let outline = file.outline
        let sheets = outline.sheets.filter { $0.info.kind == .worksheet }
        let sheet: SheetOutline
        if let wanted {
            guard let s = sheets.first(where: { $0.info.name == wanted }) ?? sheets.first(where: { $0.info.name.lowercased() == wanted.lowercased() }) else {
                throw WorkbookError(.unknownSheet, "no sheet named '\(wanted)'; the sheets are: \(sheets.map { "'\($0.info.name)'" }.joined(separator: ", "))")
            }
            sheet = s
        } else if sheets.count == 1 {
            sheet = sheets[0]
        } else {
            throw WorkbookError(.unknownSheet, "say which sheet: \(sheets.map { "'\($0.info.name)'" }.joined(separator: ", "))")
        }
        let index = sheet.info.index, cell = parsed.range.start
        let result = try await Blocking.run { token in
            try file.withReader(evaluatingFormulas: false, token: token) {
                try Lineage.trace(reader: $0, sheet: index, cell: cell, depth: 3, isCancelled: { token.isCancelled })
            }
        }
        var lines: [String] = []
        var evidence: [Evidence] = []
        var refs: [String] = []
        // Ranges are cited as far as the sheet has data (`A:A` is the column's used rows).
        let usedRanges = Dictionary(outline.sheets.compactMap { s in s.summary.usedRange.map { (s.info.name, $0) } }, uniquingKeysWith: { a, _ in a })
        func clip(_ r: CellRange, sheet: String) -> CellRange {
            guard let u = usedRanges[sheet] else { return r }
            let start = CellRef(row: max(r.start.row, u.start.row), column: max(r.start.column, u.start.column))
            let end = CellRef(row: min(r.end.row, u.end.row), column: min(r.end.column, u.end.column))
            return start.row <= end.row && start.column <= end.column ? CellRange(start: start, end: end) : r
        }
        func add(_ n: TraceNode, _ level: Int, chain: Bool) {
            let indent = String(repeating: "  ", count: level)
            var line = indent
            switch n.kind {
            case .name: line += "name \(n.name ?? "") = \(n.range.isEmpty ? "(formula)" : n.qualified)"
            case .range: line += "range \(n.qualified)"
            case .cell:
                line += n.qualified
                if let f = n.formula { line += " = " + DataBlock.escape(f) }
                if let v = n.value { line += " -> " + Self.cellText(CellValue(v)) + (n.computed ? " (computed by xlchat; the file saved no value)" : "") }
            }
            if n.truncated { line += " (more precedents not shown)" }
            if !n.dynamic.isEmpty { line += " (uses \(n.dynamic.joined(separator: ", ")): precedents known only by evaluating)" }
            lines.append(line)
            if n.kind != .name, !n.range.isEmpty, let r = A1.parseRange(n.range) ?? wholeRange(n.range) {
                evidence.append(Evidence(text: line.trimmingCharacters(in: .whitespaces), ranges: [SourceRange(file: file.label, sheet: n.sheet, range: clip(r.range, sheet: n.sheet))],
                                         fromTool: true, formulaChain: chain))
                refs.append(file.label.map { "\($0) › \(n.qualified)" } ?? n.qualified)
            }
            for p in n.precedents { add(p, level + 1, chain: chain) }
        }
        add(result.root, 0, chain: true)
        if !result.dependents.isEmpty {
            lines.append("Used by:")
            for d in result.dependents.prefix(20) { add(d, 1, chain: false) }
            if result.dependents.count > 20 { lines.append("  ... and \(result.dependents.count - 20) more") }
        }
        let ref = SourceRange(file: file.label, sheet: sheet.info.name, range: CellRange(start: cell, end: cell)).label
        let textOut = "Lineage of \(ref) (cite the cells):\n" + DataBlock.wrap("trace \(ref)", lines.joined(separator: "\n"))
        return ToolOutcome(resultText: textOut,
                           step: AgentStep(tool: "trace", arguments: call.argumentsText,
                                           summary: "\(ref): \(refs.count) cell\(refs.count == 1 ? "" : "s") and ranges in the chain", ranges: refs, ok: true),
                           evidence: evidence)
    }

    /// `A:C` / `2:5` as ranges (the trace writes whole columns and rows that way).
    private func wholeRange(_ text: String) -> (sheet: String?, range: CellRange)? {
        let parts = text.split(separator: ":")
        guard parts.count == 2 else { return nil }
        if let a = A1.columnIndex(parts[0]), let b = A1.columnIndex(parts[1]) {
            return (nil, CellRange(rows: 0...(CellRef.maxRows - 1), columns: min(a, b)...max(a, b)))
        }
        if let a = Int(parts[0]), let b = Int(parts[1]), a >= 1, b >= 1 {
            return (nil, CellRange(rows: (min(a, b) - 1)...(max(a, b) - 1), columns: 0...(CellRef.maxColumns - 1)))
        }
        return nil
    }

    // MARK: search

    func search(_ query: String, call: ToolCall) async throws -> ToolOutcome {
        let hits = try await source.search(query: query, limit: 8, waitForBuild: true)
        let evidence = hits.map { Evidence(hit: $0.hit, file: $0.file, fromTool: true) }
        func ref(_ h: (file: String?, hit: SearchHit)) -> String { SourceRange(file: h.file, sheet: h.hit.sheet, range: h.hit.range).label }
        let lines = hits.map { "[\(ref($0))] \(DataBlock.escape($0.hit.text))" }
        let merged = Citations.merge(evidence.flatMap(\.ranges)).map(\.label)
        let summary = hits.isEmpty ? "no matches" : "\(hits.count) hit\(hits.count == 1 ? "" : "s"), best \(ref(hits[0]))"
        let step = AgentStep(tool: "search", arguments: call.argumentsText, summary: summary, ranges: merged, ok: true)
        if hits.isEmpty { return ToolOutcome(resultText: "No rows match.", step: step, evidence: evidence) }
        return ToolOutcome(block: ResultBlock(intro: "Best matches:", label: "search results", header: [], rows: lines), step: step, evidence: evidence)
    }

    // MARK: describe_table

    /// Every column of a table (by its SQL name, table name or sheet name, any case) with its
    /// type and sheet column, and its first rows: what the outline leaves out when the budget
    /// shrinks it. In a workspace the SQL name is the workspace name (`sales_2024__orders`),
    /// and a union view lists its member tables.
    func describeTable(_ name: String, call: ToolCall) async throws -> ToolOutcome {
        let wanted = name.trimmingCharacters(in: CharacterSet(charactersIn: "\"'`[] ")).lowercased()
        let tables = source.tables
        if let u = source.unions.first(where: { $0.name.lowercased() == wanted }) {
            return try await describeUnion(u, call: call)
        }
        let found = tables.first(where: { $0.sqlName.lowercased() == wanted })
            ?? tables.first(where: { $0.table.name.lowercased() == wanted })
            ?? (source.files.count == 1 ? source.files[0].outline.sheets.first(where: { $0.info.name.lowercased() == wanted })?.table
                .flatMap { t in tables.first { $0.table.name == t.name && $0.table.sheet == t.sheet } } : nil)
        guard let st = found else {
            let names = tables.prefix(40).map { "'\($0.sqlName)'" } + source.unions.prefix(10).map { "'\($0.name)'" }
            throw WorkbookError(.unknownSheet, "no table named '\(name)'; the tables are: \(names.joined(separator: ", "))\(tables.count > 40 ? ", ..." : "")")
        }
        let table = st.table
        var lines = ["_row (integer): the sheet row number"]
        for c in table.columns[st.columns] {
            let header = c.header == c.name ? "" : ", header \"\(DataBlock.escape(c.header))\""
            lines.append(PromptBuilder.describe(c) + header)
        }
        var evidence: [Evidence] = []
        let quoted = "\"" + st.sqlName.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        let source = source
        if let sample = try? await Offload.run({ try source.query(sql: "SELECT * FROM \(quoted) LIMIT 3", limit: 3, timeout: 2) }),
           !sample.rows.isEmpty {
            lines.append("first rows:")
            lines.append(sample.columns.joined(separator: " | "))
            for (i, row) in sample.rows.enumerated() {
                lines.append(row.map(Self.text).joined(separator: " | "))
                if sample.sourceRanges.indices.contains(i), let r = sample.sourceRanges[i] {
                    evidence.append(Evidence(text: row.map(Self.text).joined(separator: " | "), ranges: [r], fromTool: true))
                }
            }
        }
        let ranges = table.dataRange.map { [SourceRange(file: st.file, sheet: table.sheet, range: $0).label] } ?? []
        let rows = table.dataRange.map { "\($0.rowCount) rows" } ?? "no rows"
        let origin = st.file.map { " of file \"\(DataBlock.escape($0))\"" } ?? ""
        let block = ResultBlock(intro: "Table \"\(DataBlock.escape(st.sqlName))\"\(origin) on sheet \"\(DataBlock.escape(table.sheet))\", \(rows), \(st.columns.count) columns:",
                                label: "table \(st.sqlName)", header: [], rows: lines,
                                moreNote: "more lines not shown (the model's context is full); name the columns you need in sql.")
        return ToolOutcome(block: block,
                           step: AgentStep(tool: "describe_table", arguments: call.argumentsText,
                                           summary: "\(st.sqlName): \(st.columns.count) columns, \(rows)", ranges: ranges, ok: true),
                           evidence: evidence)
    }

    /// A union view: its columns (`_file` first), its member tables with their files and sizes.
    func describeUnion(_ u: WorkspaceUnion, call: ToolCall) async throws -> ToolOutcome {
        let members = u.members.compactMap { m in source.tables.first { $0.sqlName == m } }
        var lines = ["_file (text): the file each row comes from", "_row (integer): its sheet row in that file"]
        if let first = members.first {
            let byName = Dictionary(first.table.columns.map { ($0.name.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
            for c in u.columns { lines.append(byName[c.lowercased()].map(PromptBuilder.describe) ?? DataBlock.escape(c)) }
        } else {
            lines += u.columns.map(DataBlock.escape)
        }
        lines.append("member tables:")
        for m in members { lines.append("\(DataBlock.escape(m.sqlName)) (file \(DataBlock.escape(m.file ?? "")), \(m.table.dataRange?.rowCount ?? 0) rows)") }
        let ranges = Citations.merge(members.compactMap { m in m.table.dataRange.map { SourceRange(file: m.file, sheet: m.table.sheet, range: $0) } })
        let block = ResultBlock(intro: "View \"\(DataBlock.escape(u.name))\": UNION ALL of \(u.members.count) tables with the same columns, one per file:",
                                label: "view \(u.name)", header: [], rows: lines,
                                moreNote: "more lines not shown (the model's context is full); name the columns you need in sql.")
        return ToolOutcome(block: block,
                           step: AgentStep(tool: "describe_table", arguments: call.argumentsText,
                                           summary: "\(u.name): view over \(u.members.count) tables", ranges: ranges.map(\.label), ok: true),
                           evidence: [])
    }
}

/// Workbook content goes to the model only inside these blocks; the system prompt says that
/// what is inside is data, never instructions. Content cannot close a block early: the
/// markers' brackets are replaced inside it.
enum DataBlock {
    static let open = "<<<DATA"
    static let close = "DATA>>>"

    static func wrap(_ label: String, _ body: String) -> String {
        "\(open) \(escape(label))\n\(body)\n\(close)"
    }

    static func escape(_ s: String) -> String {
        guard s.contains("<<<") || s.contains(">>>") || s.contains("DATA") else { return s }
        return s.replacingOccurrences(of: "<<<", with: "‹‹‹").replacingOccurrences(of: ">>>", with: "›››")
    }
}

/// Synchronous engine work (SQL, reading cells) off the cooperative pool, on the engine's one
/// bounded pool (`Blocking`, `EnginePool`), cancellable like the server's own work.
enum Offload {
    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await Blocking.run { _ in try work() }
    }
}
