// User and model SQL against one built index: read-only by construction.
//
// Layers, each enough on its own for most attacks:
// 1. the file is opened SQLITE_OPEN_READONLY, extension loading stays off;
// 2. an authorizer allows SELECT, READ, FUNCTION (except load_extension), recursive CTEs and a
//    few schema-reading pragmas, and denies everything else (INSERT/UPDATE/DELETE, CREATE/DROP,
//    ATTACH/DETACH, PRAGMA writes, transactions, ...);
// 3. the compiled statement must be `sqlite3_stmt_readonly`, must contain a SELECT, and must be
//    the only statement in the text (VACUUM INTO writes a new file even on a read-only
//    connection and reports no authorizer action of its own: rules 3 stop it);
// 4. a progress handler interrupts the statement past its time budget, and SQLITE_LIMIT_LENGTH
//    caps any single value (zeroblob/printf bombs).
//
// Raw SQLite C API rather than GRDB here: GRDB installs its own authorizer on every statement
// it compiles, which would replace ours.
import Foundation
import GRDBSQLite
import XLChatWorkbook

/// Per-table facts needed to turn a result row back into sheet cells.
struct TableMapping: Sendable, Hashable, Codable {
    var name: String
    var sheet: String
    var rowColumn: String
    /// SQL column name -> 0-based sheet column.
    var sourceColumns: [String: Int]
    var rows: Int
    var omittedColumns: Int
    var columnOrder: [String]
    /// Columns typed as text, SQL name -> typing rule (for the text-aggregate warning); nil in
    /// index files written before it.
    var textColumns: [String: String]? = nil
    /// Number columns whose number formats show several currencies, SQL name -> typing rule.
    var mixedCurrencyColumns: [String: String]? = nil
}

private final class AuthorizerState {
    var denied: [String] = []
    /// An index bookkeeping table the statement tried to read.
    var internalRead: String?
    var tablesRead: Set<String> = []
    var selects = 0
    var schemaPragmas = 0
    var functions: Set<String> = []
    /// Lower-cased table -> lower-cased columns read.
    var columnsRead: [String: Set<String>] = [:]
}

private final class Budget {
    let deadline: UInt64
    let isCancelled: (() -> Bool)?
    var expired = false
    var cancelled = false
    init(seconds: Double, isCancelled: (() -> Bool)?) {
        deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, seconds) * 1_000_000_000)
        self.isCancelled = isCancelled
    }
}

/// The index's own bookkeeping tables (`IndexBuilder`, `WorkspaceIndex`): not the user's data,
/// so a query may not read them (their JSON would pass for cells and could not be cited).
let internalTables: Set<String> = ["_xl_meta", "_xl_tables", "_xl_chunks", "_xl_chunks_fts", "_xl_vocab",
                                   "_xl_common_terms", "_xl_vectors", "_ws_files", "_ws_tables", "_ws_meta"]
func isInternalTable(_ name: String) -> Bool {
    let n = name.lowercased()
    return internalTables.contains(n) || n.hasPrefix("_xl_chunks_fts_") || n.hasPrefix("_ws_staging_") || n.hasPrefix("_ws_rename_")
}

private let allowedPragmas: Set<String> = ["table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo"]

private let authorizer: @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Int32 = { ctx, action, a1, a2, _, _ in
    let state = Unmanaged<AuthorizerState>.fromOpaque(ctx!).takeUnretainedValue()
    let arg1 = a1.map { String(cString: $0) }
    switch action {
    case SQLITE_SELECT:
        state.selects += 1
        return SQLITE_OK
    case SQLITE_READ:
        if let t = arg1 {
            if isInternalTable(t) {
                state.internalRead = t
                return SQLITE_DENY
            }
            state.tablesRead.insert(t)
            if let c = a2 { state.columnsRead[t.lowercased(), default: []].insert(String(cString: c).lowercased()) }
        }
        return SQLITE_OK
    case SQLITE_RECURSIVE:
        return SQLITE_OK
    case SQLITE_FUNCTION:
        // arg2 is the function name (arg1 is unused for this action).
        let name = (a2.map { String(cString: $0) } ?? "").lowercased()
        if name == "load_extension" || name == "fts3_tokenizer" || name == "readfile" || name == "writefile" || name == "edit" {
            state.denied.append("function \(name)()")
            return SQLITE_DENY
        }
        state.functions.insert(name)
        return SQLITE_OK
    case SQLITE_PRAGMA:
        let name = (arg1 ?? "").lowercased()
        if allowedPragmas.contains(name) { state.schemaPragmas += 1; return SQLITE_OK }
        state.denied.append("PRAGMA \(name)")
        return SQLITE_DENY
    default:
        state.denied.append(authorizerActionName(action))
        return SQLITE_DENY
    }
}

private func authorizerActionName(_ action: Int32) -> String {
    switch action {
    case SQLITE_INSERT: return "INSERT"
    case SQLITE_UPDATE: return "UPDATE"
    case SQLITE_DELETE: return "DELETE"
    case SQLITE_ATTACH: return "ATTACH"
    case SQLITE_DETACH: return "DETACH"
    case SQLITE_TRANSACTION: return "transaction control"
    case SQLITE_SAVEPOINT: return "SAVEPOINT"
    case SQLITE_ANALYZE: return "ANALYZE"
    case SQLITE_REINDEX: return "REINDEX"
    case SQLITE_ALTER_TABLE: return "ALTER TABLE"
    case SQLITE_CREATE_TABLE, SQLITE_CREATE_TEMP_TABLE, SQLITE_CREATE_VTABLE: return "CREATE TABLE"
    case SQLITE_CREATE_INDEX, SQLITE_CREATE_TEMP_INDEX: return "CREATE INDEX"
    case SQLITE_CREATE_VIEW, SQLITE_CREATE_TEMP_VIEW: return "CREATE VIEW"
    case SQLITE_CREATE_TRIGGER, SQLITE_CREATE_TEMP_TRIGGER: return "CREATE TRIGGER"
    case SQLITE_DROP_TABLE, SQLITE_DROP_TEMP_TABLE, SQLITE_DROP_VTABLE: return "DROP TABLE"
    case SQLITE_DROP_INDEX, SQLITE_DROP_TEMP_INDEX: return "DROP INDEX"
    case SQLITE_DROP_VIEW, SQLITE_DROP_TEMP_VIEW: return "DROP VIEW"
    case SQLITE_DROP_TRIGGER, SQLITE_DROP_TEMP_TRIGGER: return "DROP TRIGGER"
    default: return "action \(action)"
    }
}

private let progressHandler: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { ctx in
    let budget = Unmanaged<Budget>.fromOpaque(ctx!).takeUnretainedValue()
    if budget.isCancelled?() == true {
        budget.cancelled = true
        return 1
    }
    if DispatchTime.now().uptimeNanoseconds > budget.deadline {
        budget.expired = true
        return 1
    }
    return 0
}

/// `printf` / `format` with every width and precision checked first. SQLite 3.40's `%c` with a
/// precision appends one character per step in C, where neither the progress handler nor
/// `SQLITE_LIMIT_LENGTH` can stop it: `printf('%.*c', 2000000000, 'x')` ran 89 s and then
/// returned NULL (issue 14, item 5). This override refuses a width or precision over the length
/// limit at once (`SQLITE_TOOBIG`) and otherwise has SQLite's own printf do the formatting, on a
/// private in-memory connection, so results are exactly SQLite's.
private final class PrintfGuard {
    let limit: Int64
    var formatter: OpaquePointer?
    var statements: [Int32: OpaquePointer] = [:]

    init(limit: Int32) {
        self.limit = Int64(limit)
        if sqlite3_open_v2(":memory:", &formatter, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK {
            sqlite3_limit(formatter, SQLITE_LIMIT_LENGTH, limit)
        }
    }

    func close() {
        for s in statements.values { sqlite3_finalize(s) }
        statements.removeAll()
        sqlite3_close_v2(formatter)
        formatter = nil
    }

    /// The first width or precision over the limit in the format (arguments for `*` read from
    /// `argv`), or nil when all are within it.
    func oversize(_ format: UnsafePointer<UInt8>, _ count: Int, _ argv: UnsafeMutablePointer<OpaquePointer?>, _ argc: Int32) -> Int64? {
        var i = 0
        var arg: Int32 = 1
        func number() -> Int64 {
            if i < count && format[i] == UInt8(ascii: "*") {
                i += 1
                defer { arg += 1 }
                return arg < argc ? abs(sqlite3_value_int64(argv[Int(arg)])) : 0
            }
            var v: Int64 = 0
            while i < count, format[i] >= 0x30, format[i] <= 0x39 {
                v = min(v * 10 + Int64(format[i] - 0x30), Int64(Int32.max) * 4)
                i += 1
            }
            return v
        }
        while i < count {
            guard format[i] == UInt8(ascii: "%") else { i += 1; continue }
            i += 1
            if i < count && format[i] == UInt8(ascii: "%") { i += 1; continue }
            while i < count, "-+ 0#!,".utf8.contains(format[i]) { i += 1 }
            let width = number()
            var precision: Int64 = 0
            if i < count && format[i] == UInt8(ascii: ".") { i += 1; precision = number() }
            if max(width, precision) > limit { return max(width, precision) }
            while i < count && format[i] == UInt8(ascii: "l") { i += 1 }
            if i < count { i += 1; arg += 1 }  // the conversion and its argument
        }
        return nil
    }

    func call(_ ctx: OpaquePointer?, _ argc: Int32, _ argv: UnsafeMutablePointer<OpaquePointer?>?) {
        guard argc >= 1, let argv, let formatter else { sqlite3_result_null(ctx); return }
        if let text = sqlite3_value_text(argv[0]) {
            let n = Int(sqlite3_value_bytes(argv[0]))
            if let over = oversize(text, n, argv, argc) {
                sqlite3_result_error(ctx, "printf: a width or precision of \(over) is over the \(limit)-byte limit", -1)
                sqlite3_result_error_code(ctx, SQLITE_TOOBIG)
                return
            }
        }
        var stmt = statements[argc]
        if stmt == nil {
            let sql = "SELECT printf(" + (1...Int(argc)).map { "?\($0)" }.joined(separator: ",") + ")"
            guard sqlite3_prepare_v2(formatter, sql, -1, &stmt, nil) == SQLITE_OK else {
                sqlite3_result_error(ctx, String(cString: sqlite3_errmsg(formatter)), -1)
                return
            }
            statements[argc] = stmt
        }
        defer { sqlite3_reset(stmt); sqlite3_clear_bindings(stmt) }
        for k in 0..<Int(argc) { sqlite3_bind_value(stmt, Int32(k + 1), argv[k]) }
        if sqlite3_step(stmt) == SQLITE_ROW {
            sqlite3_result_value(ctx, sqlite3_column_value(stmt, 0))
        } else {
            sqlite3_result_error(ctx, String(cString: sqlite3_errmsg(formatter)), -1)
            sqlite3_result_error_code(ctx, sqlite3_errcode(formatter))
        }
    }
}

private let printfFunction: @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void = { ctx, argc, argv in
    let guardian = Unmanaged<PrintfGuard>.fromOpaque(sqlite3_user_data(ctx)!).takeUnretainedValue()
    guardian.call(ctx, argc, argv)
}

private let aggregateFunctions: Set<String> = ["count", "sum", "total", "avg", "min", "max", "group_concat", "string_agg"]

/// What one query may return. A text or blob value longer than `maxValueBytes` is cut there
/// (text at a UTF-8 character boundary); rows stop once the values returned so far pass
/// `maxReplyBytes`. Either sets `truncated`. Measured (issue 14): `SELECT zeroblob(49000000)`
/// over 10 rows replied 653 MB at 1.9 GB peak before these limits.
public struct QueryLimits: Sendable, Hashable {
    /// Bytes of one text or blob value (1 MiB).
    public var maxValueBytes = 1 << 20
    /// Bytes of all values in one reply (16 MiB).
    public var maxReplyBytes = 16 << 20
    /// `SQLITE_LIMIT_LENGTH`: no string or blob SQLite builds may exceed this (50 MB), so one
    /// call like `printf('%.*c', 2000000000, 'x')` fails at once instead of allocating gigabytes.
    public var maxSQLiteValueBytes: Int32 = 50_000_000
    public init() {}
    public static let `default` = QueryLimits()
}

enum ReadOnlyQuery {
    /// Runs one SELECT on the index file at `path`. `isCancelled` is polled by SQLite's progress
    /// handler (every 2,000 virtual-machine steps), so a cancelled query stops within
    /// milliseconds with `CancellationError`.
    static func run(path: String, sql: String, limit: Int, timeout: Double, tables: [TableMapping],
                    limits: QueryLimits = .default, isCancelled: (() -> Bool)? = nil) throws -> QueryResult {
        let started = DispatchTime.now().uptimeNanoseconds
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        defer { sqlite3_close_v2(db) }
        guard rc == SQLITE_OK, let db else {
            throw IndexError(.storage, "cannot open the index: \(String(cString: sqlite3_errstr(rc)))")
        }
        sqlite3_enable_load_extension(db, 0)
        // Strict identifiers: SQLite otherwise reads a double-quoted name that matches no
        // column as a string literal, so `sum("Revenu")` (a typo) would quietly be 0.
        // https://sqlite.org/quirks.html#dblquote
        _disableDoubleQuotedStringLiterals(db)
        sqlite3_limit(db, SQLITE_LIMIT_LENGTH, limits.maxSQLiteValueBytes)
        sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0)
        let printfGuard = PrintfGuard(limit: limits.maxSQLiteValueBytes)
        let printfRef = Unmanaged.passRetained(printfGuard)
        defer { printfGuard.close(); printfRef.release() }
        for name in ["printf", "format"] {
            sqlite3_create_function_v2(db, name, -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, printfRef.toOpaque(),
                                       printfFunction, nil, nil, nil)
        }

        let auth = AuthorizerState()
        let authRef = Unmanaged.passRetained(auth)
        defer { authRef.release() }
        let budget = Budget(seconds: timeout, isCancelled: isCancelled)
        let budgetRef = Unmanaged.passRetained(budget)
        defer { budgetRef.release() }
        sqlite3_set_authorizer(db, authorizer, authRef.toOpaque())
        sqlite3_progress_handler(db, 2000, progressHandler, budgetRef.toOpaque())

        // Compile the statement as written.
        let original: OpaquePointer
        do {
            original = try prepare(db, sql, auth: auth, budget: budget)
        } catch let e as IndexError where e.kind == .invalidQuery {
            throw IndexError(.invalidQuery, e.message + nearestNames(e.message, tables: tables))
        }
        var stmt = original
        defer { sqlite3_finalize(stmt) }

        // Citations: does every row come straight from one sheet row?
        let userTables = Dictionary(tables.map { ($0.name.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
        var citationTable: TableMapping? = nil
        var rowColumnIndex: Int? = nil
        var strippedRowColumn = false
        let read = auth.tablesRead.map { $0.lowercased() }
        if auth.selects == 1, read.count == 1, let t = userTables[read[0]],
           auth.functions.isDisjoint(with: aggregateFunctions),
           !containsKeyword(sql, "distinct"), !containsKeyword(sql, "group") {
            citationTable = t
            for i in 0..<Int(sqlite3_column_count(original)) {
                if let origin = sqlite3_column_origin_name(original, Int32(i)),
                   String(cString: origin).lowercased() == t.rowColumn.lowercased() {
                    rowColumnIndex = i
                    break
                }
            }
            if rowColumnIndex == nil, let rewritten = appendingRowColumn(sql, rowColumn: t.rowColumn) {
                let probe = AuthorizerState()
                let probeRef = Unmanaged.passRetained(probe)
                sqlite3_set_authorizer(db, authorizer, probeRef.toOpaque())
                if let s2 = try? prepare(db, rewritten, auth: probe, budget: budget),
                   sqlite3_column_count(s2) == sqlite3_column_count(original) + 1,
                   let origin = sqlite3_column_origin_name(s2, sqlite3_column_count(original)),
                   String(cString: origin).lowercased() == t.rowColumn.lowercased() {
                    sqlite3_finalize(stmt)
                    stmt = s2
                    rowColumnIndex = Int(sqlite3_column_count(original))
                    strippedRowColumn = true
                }
                sqlite3_set_authorizer(db, authorizer, authRef.toOpaque())
                probeRef.release()
            }
            if rowColumnIndex == nil { citationTable = nil }
        }

        let total = Int(sqlite3_column_count(stmt))
        let visible = strippedRowColumn ? total - 1 : total
        var columns: [String] = []
        var citedColumns: [Int] = []
        for i in 0..<visible {
            columns.append(sqlite3_column_name(stmt, Int32(i)).map { String(cString: $0) } ?? "column\(i + 1)")
            if let t = citationTable, let o = sqlite3_column_origin_name(stmt, Int32(i)),
               let src = t.sourceColumns[String(cString: o)] {
                citedColumns.append(src)
            }
        }
        let citedSpan: ClosedRange<Int>? = {
            guard let t = citationTable else { return nil }
            if let lo = citedColumns.min(), let hi = citedColumns.max() { return lo...hi }
            let all = t.sourceColumns.values
            guard let lo = all.min(), let hi = all.max() else { return nil }
            return lo...hi
        }()

        var rows: [[SQLValue]] = []
        var sources: [SourceRange?] = []
        var truncated = false
        var replyBytes = 0
        while true {
            let step = sqlite3_step(stmt)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else {
                if budget.cancelled { throw CancellationError() }
                if step == SQLITE_TOOBIG {
                    throw IndexError(.invalidQuery, "a value would be longer than \(limits.maxSQLiteValueBytes) bytes (\(String(cString: sqlite3_errmsg(db))))")
                }
                if budget.expired || step == SQLITE_INTERRUPT {
                    throw IndexError(.queryTimeout, "the query ran longer than its \(formatSeconds(timeout)) budget and was stopped")
                }
                throw IndexError(.invalidQuery, String(cString: sqlite3_errmsg(db)))
            }
            if rows.count >= limit || replyBytes >= limits.maxReplyBytes { truncated = true; break }
            var row: [SQLValue] = []
            row.reserveCapacity(visible)
            for i in 0..<visible {
                let (v, cut, bytes) = value(stmt, Int32(i), maxBytes: limits.maxValueBytes)
                if cut { truncated = true }
                replyBytes += bytes
                row.append(v)
            }
            rows.append(row)
            if let t = citationTable, let rc = rowColumnIndex, let span = citedSpan,
               sqlite3_column_type(stmt, Int32(rc)) == SQLITE_INTEGER {
                let sheetRow = Int(sqlite3_column_int64(stmt, Int32(rc))) - 1
                sources.append(sheetRow >= 0
                    ? SourceRange(sheet: t.sheet, range: CellRange(rows: sheetRow...sheetRow, columns: span)) : nil)
            } else {
                sources.append(nil)
            }
        }
        // Join fan-out: only when the query read two tables or more; each key is measured with
        // one GROUP BY on the joined table, under the same time budget and authorizer.
        var warnings: [String] = []
        if Set(read).count >= 2 {
            let keys = JoinFanout.keys(in: sql, tables: Set(tables.map(\.name)))
            warnings = JoinFanout.warnings(for: keys) { measure in
                let s = try prepare(db, measure, auth: auth, budget: budget)
                defer { sqlite3_finalize(s) }
                guard sqlite3_step(s) == SQLITE_ROW else { throw IndexError(.invalidQuery, "no row") }
                return (Int(sqlite3_column_int64(s, 0)), Int(sqlite3_column_int64(s, 1)))
            }.map(\.message)
        }
        if !auth.functions.isDisjoint(with: TextAggregates.numericAggregates) {
            warnings += TextAggregates.warnings(sql: sql, read: auth.columnsRead, tables: tables)
        }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        return QueryResult(columns: columns, rows: rows, truncated: truncated, sourceRanges: sources, durationMs: ms, warnings: warnings,
                           citedTable: citationTable?.name)
    }

    /// For "no such column: X" / "no such table: X": the closest real names of this workbook
    /// (by edit distance, case-insensitive), as "; did you mean ...?", so a model can correct
    /// its query. Empty when the message is another error or nothing is close.
    static func nearestNames(_ message: String, tables: [TableMapping]) -> String {
        func unknown(after prefix: String) -> String? {
            guard let r = message.range(of: prefix) else { return nil }
            var name = message[r.upperBound...].trimmingCharacters(in: .whitespaces)
            if let dot = name.lastIndex(of: "."), prefix.contains("column") { name = String(name[name.index(after: dot)...]) }
            return name.isEmpty ? nil : name
        }
        var candidates: [(name: String, label: String)] = []
        let wanted: String
        if let c = unknown(after: "no such column:") {
            wanted = c
            for t in tables { for col in t.columnOrder + [t.rowColumn] { candidates.append((col, "\(quoteIdentifier(col)) in \(quoteIdentifier(t.name))")) } }
        } else if let t = unknown(after: "no such table:") {
            wanted = t
            for m in tables { candidates.append((m.name, quoteIdentifier(m.name))) }
        } else {
            return ""
        }
        let w = Array(wanted.lowercased())
        let limit = max(2, w.count / 3)
        var scored: [(d: Int, label: String)] = []
        for c in candidates {
            let d = editDistance(w, Array(c.name.lowercased()), limit: limit)
            if d <= limit { scored.append((d, c.label)) }
        }
        scored.sort { $0.d != $1.d ? $0.d < $1.d : $0.label < $1.label }
        var seen = Set<String>()
        let best = scored.filter { seen.insert($0.label).inserted }.prefix(3).map(\.label)
        if best.isEmpty {
            let all = message.contains("no such table")
                ? tables.prefix(10).map { quoteIdentifier($0.name) }
                : []
            return all.isEmpty ? "" : "; the tables are " + all.joined(separator: ", ")
        }
        return "; did you mean " + best.joined(separator: " or ") + "?"
    }

    /// Levenshtein distance, giving up (returning `limit + 1`) once every path exceeds `limit`.
    static func editDistance(_ a: [Character], _ b: [Character], limit: Int) -> Int {
        if abs(a.count - b.count) > limit { return limit + 1 }
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            var rowMin = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                rowMin = min(rowMin, cur[j])
            }
            if rowMin > limit { return limit + 1 }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }

    private static func formatSeconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : "\(s) s"
    }

    /// Compiles exactly one read-only SELECT; anything else is `invalidQuery`.
    private static func prepare(_ db: OpaquePointer, _ sql: String, auth: AuthorizerState, budget: Budget) throws -> OpaquePointer {
        var stmt: OpaquePointer?
        var tailOffset = 0
        let rc: Int32 = sql.withCString { base in
            var tail: UnsafePointer<CChar>?
            let r = sqlite3_prepare_v2(db, base, -1, &stmt, &tail)
            if let tail { tailOffset = base.distance(to: tail) }
            return r
        }
        guard rc == SQLITE_OK else {
            sqlite3_finalize(stmt)
            let message = String(cString: sqlite3_errmsg(db))
            if let t = auth.internalRead {
                throw IndexError(.invalidQuery, "\(t) is xlchat's own bookkeeping, not a table of the workbook: query the tables the outline lists")
            }
            if !auth.denied.isEmpty {
                throw IndexError(.invalidQuery, "only reading is allowed: \(auth.denied.joined(separator: ", ")) is not permitted (\(message))")
            }
            if budget.expired { throw IndexError(.queryTimeout, "compiling the query ran past its budget") }
            throw IndexError(.invalidQuery, message)
        }
        guard let stmt else { throw IndexError(.invalidQuery, "the query is empty") }
        // Anything after the first statement must be only whitespace, comments or semicolons.
        let rest = String(decoding: Array(sql.utf8).dropFirst(tailOffset), as: UTF8.self)
        var restStmt: OpaquePointer?
        let restRC = sqlite3_prepare_v2(db, rest, -1, &restStmt, nil)
        let hasMore = restStmt != nil || (restRC != SQLITE_OK && !rest.allSatisfy { $0.isWhitespace || $0 == ";" })
        sqlite3_finalize(restStmt)
        if hasMore {
            sqlite3_finalize(stmt)
            throw IndexError(.invalidQuery, "only one statement is allowed per query")
        }
        if sqlite3_stmt_readonly(stmt) == 0 || (auth.selects == 0 && auth.schemaPragmas == 0) {
            sqlite3_finalize(stmt)
            throw IndexError(.invalidQuery, "only a read-only SELECT is allowed")
        }
        return stmt
    }

    /// The column's value, a text or blob cut to `maxBytes`; whether it was cut; its size.
    private static func value(_ stmt: OpaquePointer, _ i: Int32, maxBytes: Int) -> (SQLValue, Bool, Int) {
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_INTEGER: return (.integer(sqlite3_column_int64(stmt, i)), false, 8)
        case SQLITE_FLOAT: return (.real(sqlite3_column_double(stmt, i)), false, 8)
        case SQLITE_TEXT:
            guard let p = sqlite3_column_text(stmt, i) else { return (.text(""), false, 0) }
            let n = Int(sqlite3_column_bytes(stmt, i))
            var keep = min(n, maxBytes)
            // Cut at a character boundary: back off over UTF-8 continuation bytes.
            if keep < n { while keep > 0 && p[keep] & 0xC0 == 0x80 { keep -= 1 } }
            return (.text(String(decoding: UnsafeBufferPointer(start: p, count: keep), as: UTF8.self)), keep < n, keep)
        case SQLITE_BLOB:
            let n = Int(sqlite3_column_bytes(stmt, i))
            guard n > 0, let p = sqlite3_column_blob(stmt, i) else { return (.blob([]), false, 0) }
            let keep = min(n, maxBytes)
            // base64 on the wire: 4 bytes per 3.
            return (.blob(Array(UnsafeRawBufferPointer(start: p, count: keep))), keep < n, keep * 4 / 3)
        default: return (.null, false, 4)
        }
    }

    // MARK: - A small SQL scanner (strings, quoted identifiers, comments, parentheses)

    /// Top-level tokens of the statement: words outside quotes and comments, with their depth.
    private static func scan(_ sql: String, _ visit: (_ word: Substring, _ start: String.Index, _ depth: Int) -> Bool) {
        let s = sql
        var i = s.startIndex
        var depth = 0
        while i < s.endIndex {
            let c = s[i]
            if c == "'" || c == "\"" || c == "`" || c == "[" {
                let close: Character = c == "[" ? "]" : c
                i = s.index(after: i)
                while i < s.endIndex {
                    if s[i] == close {
                        let n = s.index(after: i)
                        if close != "]", n < s.endIndex, s[n] == close { i = s.index(after: n); continue }
                        break
                    }
                    i = s.index(after: i)
                }
                if i < s.endIndex { i = s.index(after: i) }
            } else if c == "-", s.index(after: i) < s.endIndex, s[s.index(after: i)] == "-" {
                while i < s.endIndex && s[i] != "\n" { i = s.index(after: i) }
            } else if c == "/", s.index(after: i) < s.endIndex, s[s.index(after: i)] == "*" {
                i = s.index(i, offsetBy: 2)
                while i < s.endIndex {
                    if s[i] == "*", s.index(after: i) < s.endIndex, s[s.index(after: i)] == "/" { i = s.index(i, offsetBy: 2); break }
                    i = s.index(after: i)
                }
            } else if c == "(" { depth += 1; i = s.index(after: i)
            } else if c == ")" { depth -= 1; i = s.index(after: i)
            } else if c.isLetter || c == "_" {
                let start = i
                while i < s.endIndex && (s[i].isLetter || s[i].isNumber || s[i] == "_" || s[i] == "$") { i = s.index(after: i) }
                if !visit(s[start..<i], start, depth) { return }
            } else {
                i = s.index(after: i)
            }
        }
    }

    static func containsKeyword(_ sql: String, _ keyword: String) -> Bool {
        var found = false
        scan(sql) { w, _, _ in
            if w.lowercased() == keyword { found = true; return false }
            return true
        }
        return found
    }

    /// `SELECT a, b FROM t ...` -> `SELECT a, b , "_row" FROM t ...` (appended last so
    /// `ORDER BY 1` keeps its meaning); nil when there is no top-level FROM.
    static func appendingRowColumn(_ sql: String, rowColumn: String) -> String? {
        var fromIndex: String.Index? = nil
        scan(sql) { w, start, depth in
            if depth == 0 && w.lowercased() == "from" { fromIndex = start; return false }
            return true
        }
        guard let at = fromIndex else { return nil }
        var out = sql
        out.insert(contentsOf: ", " + quoteIdentifier(rowColumn) + " ", at: at)
        return out
    }
}

func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
