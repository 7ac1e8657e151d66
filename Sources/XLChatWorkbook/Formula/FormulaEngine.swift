import Foundation

/// Bounds on evaluating one workbook's formulas. Defaults: 30 s of CPU time, 20 million
/// loaded cells (about 1.5 GB at worst; a typical cell costs ~60 bytes here), 500 million
/// evaluation steps. Past a bound, the cells not yet computed get `FormulaErrors.limit`.
/// The time is the evaluating thread's CPU time, not wall time: on a loaded machine (7 builds
/// sharing 2 cores) a cheap workbook's wall time stretches arbitrarily, and it must never be
/// cut short for that; a runaway evaluation is still stopped at the same CPU cost.
public struct FormulaLimits: Sendable {
    /// CPU seconds spent evaluating (summed over the threads the engine ran on).
    public var timeBudget: Double
    public var maxLoadedCells: Int
    public var maxSteps: Int
    public init(timeBudget: Double = 30, maxLoadedCells: Int = 20_000_000, maxSteps: Int = 500_000_000) {
        self.timeBudget = timeBudget; self.maxLoadedCells = maxLoadedCells; self.maxSteps = maxSteps
    }
    public static let `default` = FormulaLimits()
}

/// The outcome of evaluating one formula.
public struct FormulaResult: Sendable, Hashable {
    public var value: FormulaValue
    /// Why the value is not a computed one (unknown function, circular reference, external
    /// reference, text that does not parse, budget); nil when computed. A formula that computes
    /// to an Excel error (`#DIV/0!`) is computed, not a problem.
    public var problem: String?
    /// Uses TODAY/NOW/RAND: the value is the evaluation time's.
    public var volatile: Bool
}

/// A reference during evaluation: a rectangle on one sheet (by index).
struct SheetArea: Hashable {
    var sheet: Int
    var range: CellRange
}

/// An array value (row-major), from an array constant, a computed array, or a range's cells.
struct FormulaArray {
    var rows: Int
    var columns: Int
    var values: [FormulaValue]
    subscript(r: Int, c: Int) -> FormulaValue { values[r * columns + c] }
}

/// What an expression evaluates to before a function or operator decides how to use it.
enum Operand {
    case value(FormulaValue)
    case array(FormulaArray)
    case area(SheetArea)
}

struct EvalAbort: Error { var reason: String }

struct ConditionalKey: Hashable {
    var kind: String
    var target: SheetArea
    var criteria: [SheetArea]
    var tests: [Criterion]
}
struct DeepChain: Error { var key: CellKey }

struct CellKey: Hashable {
    var sheet: Int32, row: Int32, column: Int32
    init(_ sheet: Int, _ row: Int, _ column: Int) { self.sheet = Int32(sheet); self.row = Int32(row); self.column = Int32(column) }
}

/// One sheet's cells, loaded on demand: rows in ascending order, cells by column.
final class LoadedSheet {
    var rowIndex: [Int32] = []
    var rows: [[RowCell]] = []
    var maxRow = -1, maxColumn = -1

    func rowPosition(_ r: Int) -> Int? {
        var lo = 0, hi = rowIndex.count - 1
        while lo <= hi {
            let mid = (lo + hi) >> 1
            let v = Int(rowIndex[mid])
            if v == r { return mid }
            if v < r { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }

    /// The first row position at or after `r`.
    func lowerBound(_ r: Int) -> Int {
        var lo = 0, hi = rowIndex.count
        while lo < hi { let mid = (lo + hi) >> 1; if Int(rowIndex[mid]) < r { lo = mid + 1 } else { hi = mid } }
        return lo
    }

    func cell(_ r: Int, _ c: Int) -> RowCell? {
        guard let p = rowPosition(r) else { return nil }
        let cells = rows[p]
        var lo = 0, hi = cells.count - 1
        while lo <= hi {
            let mid = (lo + hi) >> 1
            let v = cells[mid].column
            if v == c { return cells[mid] }
            if v < c { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }
}

/// Key used by lookup indexes: Excel matches numbers by value at 15 significant digits (as
/// `ExcelPrecision.compare`), text case-insensitively.
enum LookupKey: Hashable {
    case number(Double), text(String), bool(Bool)
    init?(_ v: FormulaValue) {
        switch v {
        case .number(let d): self = .number(ExcelPrecision.round15(d))
        case .string(let s): self = .text(s.lowercased())
        case .bool(let b): self = .bool(b)
        default: return nil
        }
    }
}

/// The formula engine of one workbook: evaluates formula text against the workbook's cells,
/// loading sheets on demand through `load`. A cell's cached value (what Excel saved) is used as
/// is; a formula cell without one (`RowCell.value == .empty`, `formula != nil`) is computed, once,
/// memoised. Circular references give `FormulaErrors.circular`; dependency chains of any length
/// are evaluated with bounded stack (a chain deeper than `maxChainDepth` is resumed from its
/// deepest cell). Ranges and lookups: a range's cells are materialised once (clipped to the
/// sheet's data) and exact-match lookups and equality criteria use a hash index built once per
/// range (see `FormulaFunctions`). Not thread-safe: one engine per thread.
public final class FormulaEngine {
    public let sheetNames: [String]
    let definedNames: [DefinedName]
    /// The workbook's tables (ListObjects), for structured references.
    let tables: [DeclaredTable]
    let load: (Int, (SheetRow) throws -> Void) throws -> Void
    let limits: FormulaLimits
    /// Polled during evaluation: return true to stop (the evaluation throws `CancellationError`).
    public var isCancelled: () -> Bool = { false }
    /// The evaluation time TODAY/NOW return (fixed for the workbook, as one recalculation).
    public let now: Date

    var sheets: [Int: LoadedSheet] = [:]
    var loadedCells = 0
    var memo: [CellKey: FormulaResult] = [:]
    var inProgress: Set<CellKey> = []
    var chainDepth = 0
    static let maxChainDepth = 200
    var steps = 0
    /// CPU seconds spent so far, sampled every 4,096 steps (see `tick`).
    var cpuSpent = 0.0
    var cpuSample: (thread: UInt, seconds: Double)? = nil
    var aborted: String? = nil
    var parsed: [String: Result<FormulaExpr, FormulaParseError>] = [:]
    var nameExprs: [String: FormulaExpr] = [:]
    // Caches of ranges: materialised values, and indexes for lookups / criteria.
    var matrices: [SheetArea: FormulaArray] = [:]
    var exactIndexes: [SheetArea: [LookupKey: Int]] = [:]
    var multiIndexes: [SheetArea: [LookupKey: [Int]]] = [:]
    /// Results of conditional aggregates (SUMIF(S), COUNTIF(S), ...) by their areas and
    /// criteria: a summary column repeating the same criterion (a category's SUMIF on every
    /// row) pays for the matching cells once. Values never change within an engine.
    var conditionalResults: [ConditionalKey: FormulaValue] = [:]
    /// Criteria by their value: a criterion's text is parsed once per workbook, not per call.
    var criteria: [FormulaValue: Criterion] = [:]

    func criterion(_ v: FormulaValue) -> Criterion {
        if let c = criteria[v] { return c }
        let c = Criterion(v)
        if criteria.count < 100_000 { criteria[v] = c }
        return c
    }

    /// - Parameters:
    ///   - sheetNames: the workbook's sheets, by index.
    ///   - load: streams sheet `index`'s rows (cached values and formula text) to the closure.
    public init(sheetNames: [String], definedNames: [DefinedName], tables: [DeclaredTable] = [], limits: FormulaLimits = .default,
                now: Date = Date(), load: @escaping (Int, (SheetRow) throws -> Void) throws -> Void) {
        self.sheetNames = sheetNames
        self.definedNames = definedNames
        self.tables = tables
        self.limits = limits
        self.load = load
        self.now = now
    }

    /// An engine over a reader's sheets (the reader must allow a `readSheet` while another is
    /// running: the xlsx, ods and csv readers do, reading their parts by offset).
    public convenience init(reader: any WorkbookReader, limits: FormulaLimits = .default, now: Date = Date()) {
        self.init(sheetNames: reader.sheets.map(\.name), definedNames: reader.definedNames, tables: reader.declaredTables,
                  limits: limits, now: now) { index, visit in
            // Formula text too: xls / xlsb decode their tokens only when asked, and the engine
            // (an uncached value, a trace) is when they are needed.
            try reader.readSheet(at: index, formulas: true) { row in try visit(row); return true }
        }
    }

    // MARK: Public entry points

    /// Evaluates `formula` as if it stood in `cell` of sheet `sheet` (by index), its own cached
    /// value ignored. Never throws for bad formulas (those are `FormulaResult.problem`); throws
    /// `CancellationError` when `isCancelled` turns true.
    public func evaluate(formula: String, sheet: Int, cell: CellRef) throws -> FormulaResult {
        try top { try self.evaluateFormula(formula, sheet: sheet, cell: cell, key: nil) }
    }

    /// The value of a cell: its cached value, or its formula's computed value when the file has
    /// none. Throws `CancellationError` when cancelled.
    public func value(sheet: Int, cell: CellRef) throws -> FormulaResult {
        let key = CellKey(sheet, cell.row, cell.column)
        return try top {
            guard let c = try self.rawCell(sheet, cell.row, cell.column) else { return FormulaResult(value: .empty, problem: nil, volatile: false) }
            if let f = c.formula, c.value.isEmpty { return try self.resolve(key, formula: f) }
            return FormulaResult(value: FormulaValue(c.value), problem: nil, volatile: false)
        }
    }

    /// The stored cell (cached value and formula text), loading its sheet if needed.
    public func storedCell(sheet: Int, cell: CellRef) throws -> RowCell? {
        try rawCell(sheet, cell.row, cell.column)
    }

    /// The sheet index of a name (case-insensitive, as Excel matches sheet names).
    public func sheetIndex(_ name: String) -> Int? {
        if let i = sheetNames.firstIndex(of: name) { return i }
        let l = name.lowercased()
        return sheetNames.firstIndex { $0.lowercased() == l }
    }

    /// Parses (and caches) formula text.
    public func parse(_ text: String) -> Result<FormulaExpr, FormulaParseError> {
        if let p = parsed[text] { return p }
        let r: Result<FormulaExpr, FormulaParseError>
        do { r = .success(try FormulaParser.parse(text)) } catch let e as FormulaParseError { r = .failure(e) } catch {
            r = .failure(FormulaParseError(message: "\(error)", position: 0))
        }
        if parsed.count < 100_000 { parsed[text] = r }
        return r
    }

    /// The loaded sheet (loading it on first use). Throws `EvalAbort` past the cell budget.
    func sheet(_ index: Int) throws -> LoadedSheet {
        if let s = sheets[index] { return s }
        let s = LoadedSheet()
        sheets[index] = s
        var budgetHit = false
        try load(index) { row in
            guard !budgetHit else { return }
            self.loadedCells += row.cells.count
            if self.loadedCells > self.limits.maxLoadedCells { budgetHit = true; return }
            s.rowIndex.append(Int32(row.index))
            s.rows.append(row.cells)
            if row.index > s.maxRow { s.maxRow = row.index }
            if let last = row.cells.last, last.column > s.maxColumn { s.maxColumn = last.column }
        }
        if budgetHit { aborted = "more than \(limits.maxLoadedCells) cells to load"; throw EvalAbort(reason: aborted!) }
        return s
    }

    func rawCell(_ sheet: Int, _ r: Int, _ c: Int) throws -> RowCell? {
        guard sheetNames.indices.contains(sheet) else { return nil }
        return try self.sheet(sheet).cell(r, c)
    }

    // MARK: Driving evaluation with bounded stack

    private func top(_ work: () throws -> FormulaResult) throws -> FormulaResult {
        while true {
            if let a = aborted { return FormulaResult(value: .error(FormulaErrors.limit), problem: a, volatile: false) }
            do {
                return try work()
            } catch let a as EvalAbort {
                aborted = a.reason
                inProgress.removeAll(); chainDepth = 0
                return FormulaResult(value: .error(FormulaErrors.limit), problem: a.reason, volatile: false)
            } catch let d as DeepChain {
                // Resume from the deepest cell, then try again: each pass memoises more of the chain.
                inProgress.removeAll(); chainDepth = 0
                do { _ = try resolveChain(from: d.key) } catch let a as EvalAbort {
                    aborted = a.reason
                    return FormulaResult(value: .error(FormulaErrors.limit), problem: a.reason, volatile: false)
                }
            }
        }
    }

    /// Computes a deep dependency chain from its far end: each pass evaluates the cell where
    /// the previous pass ran out of depth, so every pass uses at most `maxChainDepth` frames.
    private func resolveChain(from key: CellKey) throws -> FormulaResult? {
        var pending = [key]
        while let k = pending.last {
            if memo[k] != nil { pending.removeLast(); continue }
            guard let c = try rawCell(Int(k.sheet), Int(k.row), Int(k.column)), let f = c.formula else { pending.removeLast(); continue }
            do {
                _ = try resolve(k, formula: f)
                pending.removeLast()
            } catch let d as DeepChain {
                inProgress.removeAll(); chainDepth = 0
                if pending.contains(d.key) {
                    memo[d.key] = FormulaResult(value: .error(FormulaErrors.circular), problem: "circular reference", volatile: false)
                } else {
                    pending.append(d.key)
                }
            }
        }
        return memo[key]
    }

    /// The computed value of an uncached formula cell, memoised.
    func resolve(_ key: CellKey, formula: String) throws -> FormulaResult {
        if let m = memo[key] { return m }
        if inProgress.contains(key) {
            return FormulaResult(value: .error(FormulaErrors.circular), problem: "circular reference", volatile: false)
        }
        if chainDepth >= FormulaEngine.maxChainDepth { throw DeepChain(key: key) }
        inProgress.insert(key)
        chainDepth += 1
        defer { inProgress.remove(key); chainDepth -= 1 }
        var r = try evaluateFormula(formula, sheet: Int(key.sheet), cell: CellRef(row: Int(key.row), column: Int(key.column)), key: key)
        if case .empty = r.value { r.value = .number(0) }
        memo[key] = r
        return r
    }

    func tick() throws {
        steps += 1
        if steps & 0xFFF == 0 {
            if isCancelled() { throw CancellationError() }
            // CPU time between two samples on the same thread; a sample on another thread (the
            // reader may be driven from several) restarts the count, losing < 4,096 steps.
            let thread = ThreadCPU.threadID(), now = ThreadCPU.seconds()
            if let last = cpuSample, last.thread == thread { cpuSpent += max(0, now - last.seconds) }
            cpuSample = (thread, now)
            if cpuSpent > limits.timeBudget { throw EvalAbort(reason: "evaluation took longer than \(Int(limits.timeBudget)) s of CPU time") }
        }
        if steps > limits.maxSteps { throw EvalAbort(reason: "more than \(limits.maxSteps) evaluation steps") }
    }

    private func evaluateFormula(_ text: String, sheet: Int, cell: CellRef, key: CellKey?) throws -> FormulaResult {
        switch parse(text) {
        case .failure(let e):
            return FormulaResult(value: .error(FormulaErrors.unparsed), problem: "formula does not parse: \(e)", volatile: false)
        case .success(let expr):
            var ctx = EvalContext(engine: self, sheet: sheet, cell: cell)
            let op = try ctx.eval(expr)
            var v = try ctx.finalValue(op)
            if case .empty = v { v = .number(0) }
            var problem = ctx.problem
            if problem == nil, case .error(let e) = v, FormulaErrors.notComputed.contains(e) || (e == FormulaErrors.name && ctx.unknownFunction != nil) {
                problem = ctx.unknownFunction.map { "unknown function \($0)" }
                    ?? (e == FormulaErrors.circular ? "circular reference" : "depends on a cell that was not computed")
            }
            return FormulaResult(value: v, problem: problem, volatile: ctx.volatile)
        }
    }

    // MARK: Names

    /// A defined name's expression, sheet-local first (ECMA-376 §18.2.5: localSheetId scope).
    func nameExpr(_ name: String, sheet: Int) -> FormulaExpr? {
        let l = name.lowercased()
        let cacheKey = "\(sheet)|\(l)"
        if let e = nameExprs[cacheKey] { return e }
        let found = definedNames.first { $0.name.lowercased() == l && $0.localSheet == sheet }
            ?? definedNames.first { $0.name.lowercased() == l && $0.localSheet == nil }
        guard let n = found, case .success(let e) = parse(n.refersTo) else { return nil }
        nameExprs[cacheKey] = e
        return e
    }

    // MARK: Range access

    /// The area clipped to the sheet's data (never larger than the cells that exist).
    func clipped(_ a: SheetArea) throws -> CellRange? {
        let s = try sheet(a.sheet)
        guard s.maxRow >= a.range.start.row, s.maxColumn >= a.range.start.column else { return nil }
        return CellRange(start: a.range.start, end: CellRef(row: min(a.range.end.row, s.maxRow), column: min(a.range.end.column, s.maxColumn)))
    }

    /// Calls `body` with each existing cell of the area (row-major) and its value, computing
    /// uncached formulas; cells that do not exist are skipped. Returns early when `body` is false.
    func forEachCell(_ a: SheetArea, _ body: (Int, Int, FormulaValue, RowCell) throws -> Bool) throws {
        let s = try sheet(a.sheet)
        var p = s.lowerBound(a.range.start.row)
        while p < s.rowIndex.count, Int(s.rowIndex[p]) <= a.range.end.row {
            let r = Int(s.rowIndex[p])
            for c in s.rows[p] where c.column >= a.range.start.column {
                if c.column > a.range.end.column { break }
                try tick()
                let v = try cellValue(a.sheet, r, c)
                if try !body(r, c.column, v, c) { return }
            }
            p += 1
        }
    }

    func cellValue(_ sheet: Int, _ r: Int, _ c: RowCell) throws -> FormulaValue {
        if let f = c.formula, c.value.isEmpty {
            return try resolve(CellKey(sheet, r, c.column), formula: f).value
        }
        return FormulaValue(c.value)
    }

    func value(_ sheet: Int, _ r: Int, _ col: Int) throws -> FormulaValue {
        guard let c = try rawCell(sheet, r, col) else { return .empty }
        return try cellValue(sheet, r, c)
    }

    /// The area's values as an array of its full shape when small, or clipped to the sheet's
    /// data (rows and columns past the data are blank); cached per area.
    func matrix(_ a: SheetArea) throws -> FormulaArray {
        if let m = matrices[a] { return m }
        let fullCells = a.range.rowCount * a.range.columnCount
        let shape: CellRange
        if fullCells <= 4096 { shape = a.range } else if let c = try clipped(a) { shape = c } else {
            return FormulaArray(rows: 0, columns: 0, values: [])
        }
        let cells = shape.rowCount * shape.columnCount
        if loadedCells + cells > limits.maxLoadedCells * 2 { throw EvalAbort(reason: "range \(a.range) is too large to evaluate") }
        var values = [FormulaValue](repeating: .empty, count: cells)
        try forEachCell(SheetArea(sheet: a.sheet, range: shape)) { r, c, v, _ in
            values[(r - shape.start.row) * shape.columnCount + (c - shape.start.column)] = v
            return true
        }
        let m = FormulaArray(rows: shape.rowCount, columns: shape.columnCount, values: values)
        if fullCells > 1 { matrices[a] = m }
        return m
    }

    /// Exact-match index of a 1-D area: first position of each value.
    func exactIndex(_ a: SheetArea, last: Bool = false) throws -> [LookupKey: Int] {
        if !last, let i = exactIndexes[a] { return i }
        let m = try matrix(a)
        var index: [LookupKey: Int] = [:]
        index.reserveCapacity(m.values.count)
        for (k, v) in m.values.enumerated() {
            guard let key = LookupKey(v) else { continue }
            if last { index[key] = k } else if index[key] == nil { index[key] = k }
        }
        if !last { exactIndexes[a] = index }
        return index
    }

    /// All positions (row offset x the area's width + column offset) of each value in an area,
    /// built from the cells that exist (for equality criteria of SUMIF/COUNTIF(S)).
    func multiIndex(_ a: SheetArea) throws -> [LookupKey: [Int]] {
        if let i = multiIndexes[a] { return i }
        var index: [LookupKey: [Int]] = [:]
        let width = a.range.columnCount
        try forEachCell(a) { r, c, v, _ in
            if let key = LookupKey(v) { index[key, default: []].append((r - a.range.start.row) * width + (c - a.range.start.column)) }
            return true
        }
        multiIndexes[a] = index
        return index
    }

    /// The positions of the cells stored in an area, without evaluating them.
    func forEachStoredCell(_ a: SheetArea, _ body: (Int, Int) throws -> Bool) throws {
        let s = try sheet(a.sheet)
        var p = s.lowerBound(a.range.start.row)
        while p < s.rowIndex.count, Int(s.rowIndex[p]) <= a.range.end.row {
            for c in s.rows[p] where c.column >= a.range.start.column {
                if c.column > a.range.end.column { break }
                try tick()
                if try !body(Int(s.rowIndex[p]), c.column) { return }
            }
            p += 1
        }
    }
}

/// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, POSIX).
enum ThreadCPU {
    static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func threadID() -> UInt {
        #if os(Linux)
        return UInt(pthread_self())
        #else
        return UInt(bitPattern: pthread_self())
        #endif
    }
}
