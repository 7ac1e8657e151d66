import Foundation

/// One entry of a cell's lineage: a cell, a range or a defined name, with what it holds.
public struct TraceNode: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case cell, range, name }
    public var kind: Kind
    public var sheet: String
    /// `F20`, `B2:B19`, `A:A`; for a name, the range it refers to (when it is one).
    public var range: String
    /// The defined name, for `kind == .name`.
    public var name: String?
    /// The formula text (without `=`), for a formula cell.
    public var formula: String?
    /// The cell's value (cached, or computed when the file has none); nil for ranges and names.
    public var value: FormulaValue?
    /// True when the file had no cached value and xlchat computed it.
    public var computed: Bool
    /// The precedents, to the requested depth (ranges list the formula cells inside them).
    public var precedents: [TraceNode]
    /// Precedents exist past the depth or node budget and were left out.
    public var truncated: Bool
    /// Reference functions (OFFSET, INDIRECT) whose target is only known by evaluating.
    public var dynamic: [String]

    /// `Sheet1!F20`.
    public var qualified: String { A1.quoteSheet(sheet) + "!" + range }
}

/// `workbook/trace`'s answer: the cell, its precedents (a tree), its direct dependents.
public struct CellTrace: Sendable, Hashable {
    public var root: TraceNode
    /// Formula cells that reference the cell (directly, or through a range or a name).
    public var dependents: [TraceNode]
    /// The dependents scan stopped at `FormulaEngine.maxDependentScan` formula cells.
    public var dependentsTruncated: Bool
}

extension FormulaEngine {
    /// At most this many nodes in one trace, so a reply stays readable.
    public static let maxTraceNodes = 400
    /// At most this many formula cells are parsed when looking for dependents.
    public static let maxDependentScan = 500_000
    /// At most this many formula cells are listed under one range precedent.
    public static let maxCellsPerRange = 25

    /// The lineage of `cell` on sheet `sheet` (by index): its formula and value, its precedents
    /// to `depth` levels (1...10), across sheets and through defined names, and the cells that
    /// use it. Throws `CancellationError` when cancelled.
    public func trace(sheet: Int, cell: CellRef, depth: Int = 3) throws -> CellTrace {
        var budget = FormulaEngine.maxTraceNodes
        var seen = Set<CellKey>()
        let root = try cellNode(sheet: sheet, cell: cell, depth: max(1, min(depth, 10)), budget: &budget, seen: &seen)
        var dependents: [TraceNode] = []
        var scanned = 0
        var truncated = false
        outer: for s in sheetNames.indices {
            let loaded = try self.sheet(s)
            for (p, rowIndex) in loaded.rowIndex.enumerated() {
                for c in loaded.rows[p] {
                    guard let f = c.formula else { continue }
                    scanned += 1
                    if scanned > FormulaEngine.maxDependentScan { truncated = true; break outer }
                    if scanned & 0x3FF == 0, isCancelled() { throw CancellationError() }
                    guard case .success(let expr) = parse(f) else { continue }
                    var refs: [(Int, CellRange)] = []
                    var dyn: [String] = []
                    var unused: [(String, Int, FormulaExpr)] = []
                    collectAreas(expr, sheet: s, into: &refs, names: &unused, expandNames: true, dynamic: &dyn)
                    if refs.contains(where: { $0.0 == sheet && $0.1.contains(cell) }) {
                        let ref = CellRef(row: Int(rowIndex), column: c.column)
                        let v = try value(sheet: s, cell: ref)
                        dependents.append(TraceNode(kind: .cell, sheet: sheetNames[s], range: ref.description, name: nil, formula: f,
                                                    value: v.value, computed: c.value.isEmpty, precedents: [], truncated: false, dynamic: []))
                        if dependents.count >= FormulaEngine.maxTraceNodes { truncated = true; break outer }
                    }
                }
            }
        }
        return CellTrace(root: root, dependents: dependents, dependentsTruncated: truncated)
    }

    private func cellNode(sheet: Int, cell: CellRef, depth: Int, budget: inout Int, seen: inout Set<CellKey>) throws -> TraceNode {
        budget -= 1
        let raw = try storedCell(sheet: sheet, cell: cell)
        let v = try value(sheet: sheet, cell: cell)
        var node = TraceNode(kind: .cell, sheet: sheetNames[sheet], range: cell.description, name: nil, formula: raw?.formula,
                             value: raw == nil ? .empty : v.value, computed: raw?.formula != nil && raw?.value.isEmpty == true,
                             precedents: [], truncated: false, dynamic: [])
        guard let f = raw?.formula, case .success(let expr) = parse(f) else { return node }
        let key = CellKey(sheet, cell.row, cell.column)
        guard seen.insert(key).inserted else { node.truncated = true; return node }  // circular
        defer { seen.remove(key) }
        guard depth > 0, budget > 0 else { node.truncated = true; return node }
        node.precedents = try precedents(of: expr, sheet: sheet, depth: depth, budget: &budget, seen: &seen, dynamic: &node.dynamic)
        if budget <= 0 { node.truncated = true }
        return node
    }

    private func precedents(of expr: FormulaExpr, sheet: Int, depth: Int, budget: inout Int, seen: inout Set<CellKey>,
                            dynamic: inout [String]) throws -> [TraceNode] {
        var items: [(Int, CellRange, String?)] = []
        var names: [(String, Int, FormulaExpr)] = []
        var dyn: [String] = []
        var refs: [(Int, CellRange)] = []
        collectAreas(expr, sheet: sheet, into: &refs, names: &names, expandNames: false, dynamic: &dyn)
        dynamic += dyn
        for (s, r) in refs { items.append((s, r, nil)) }
        var out: [TraceNode] = []
        var emitted = Set<String>()
        for (s, r, _) in items {
            guard budget > 0 else { break }
            let id = "\(s)!\(r)"
            guard emitted.insert(id).inserted else { continue }
            out.append(try areaNode(sheet: s, range: r, depth: depth, budget: &budget, seen: &seen))
        }
        for (n, s, e) in names {
            guard budget > 0 else { break }
            guard emitted.insert("name:" + n.lowercased()).inserted else { continue }
            budget -= 1
            var inner: [String] = []
            var node = TraceNode(kind: .name, sheet: sheetNames[s], range: "", name: n, formula: nil, value: nil, computed: false,
                                 precedents: [], truncated: false, dynamic: [])
            if case .reference(let a) = e, a.externalBook == nil, let idx = a.sheet.map({ sheetIndex($0) }) ?? s {
                node.sheet = sheetNames[idx]
                node.range = a.rangeText
            } else if case .reference(let a) = e, a.externalBook != nil {
                node.range = "[\(a.externalBook!)]" + (a.sheet.map { $0 + "!" } ?? "") + a.rangeText
            }
            node.precedents = try precedents(of: e, sheet: s, depth: depth, budget: &budget, seen: &seen, dynamic: &inner)
            node.dynamic = inner
            out.append(node)
        }
        return out
    }

    private func areaNode(sheet: Int, range: CellRange, depth: Int, budget: inout Int, seen: inout Set<CellKey>) throws -> TraceNode {
        if range.rowCount == 1 && range.columnCount == 1 {
            return try cellNode(sheet: sheet, cell: range.start, depth: depth - 1, budget: &budget, seen: &seen)
        }
        budget -= 1
        let area = FormulaArea(sheet: sheetNames[sheet], range: range)
        var node = TraceNode(kind: .range, sheet: sheetNames[sheet], range: area.rangeText, name: nil, formula: nil, value: nil,
                             computed: false, precedents: [], truncated: false, dynamic: [])
        guard depth > 1 else { node.truncated = true; return node }
        // The formula cells inside the range are its precedents' own lineage.
        var formulaCells: [CellRef] = []
        var more = false
        try forEachStored(SheetArea(sheet: sheet, range: range)) { r, c in
            guard c.formula != nil else { return true }
            if formulaCells.count >= FormulaEngine.maxCellsPerRange { more = true; return false }
            formulaCells.append(CellRef(row: r, column: c.column))
            return true
        }
        for ref in formulaCells {
            guard budget > 0 else { more = true; break }
            node.precedents.append(try cellNode(sheet: sheet, cell: ref, depth: depth - 1, budget: &budget, seen: &seen))
        }
        node.truncated = more
        return node
    }

    /// The stored cells of an area, without evaluating.
    func forEachStored(_ a: SheetArea, _ body: (Int, RowCell) throws -> Bool) throws {
        let s = try sheet(a.sheet)
        var p = s.lowerBound(a.range.start.row)
        while p < s.rowIndex.count, Int(s.rowIndex[p]) <= a.range.end.row {
            for c in s.rows[p] where c.column >= a.range.start.column {
                if c.column > a.range.end.column { break }
                if try !body(Int(s.rowIndex[p]), c) { return }
            }
            p += 1
        }
    }

    /// The references an expression names, resolved to sheets; names are followed (into
    /// `names` when given, else expanded in place); OFFSET/INDIRECT noted as dynamic.
    func collectAreas(_ e: FormulaExpr, sheet: Int, into refs: inout [(Int, CellRange)], names: inout [(String, Int, FormulaExpr)],
                      expandNames: Bool, dynamic: inout [String], nameDepth: Int = 0) {
        switch e {
        case .reference(let a):
            guard a.externalBook == nil else { return }
            if let n = a.sheet { if let i = sheetIndex(n) { refs.append((i, a.range)) } } else { refs.append((sheet, a.range)) }
        case .name(let n, let sheetName):
            let scope = sheetName.flatMap { sheetIndex($0) } ?? sheet
            guard nameDepth < 16, let expr = nameExpr(n, sheet: scope) else { return }
            if !expandNames { names.append((n, scope, expr)) } else {
                collectAreas(expr, sheet: scope, into: &refs, names: &names, expandNames: true, dynamic: &dynamic, nameDepth: nameDepth + 1)
            }
        case .call(let f, let args):
            if f == "OFFSET" || f == "INDIRECT" { dynamic.append(f) }
            for a in args { collectAreas(a, sheet: sheet, into: &refs, names: &names, expandNames: expandNames, dynamic: &dynamic, nameDepth: nameDepth) }
        case .negate(let x), .plus(let x), .percent(let x):
            collectAreas(x, sheet: sheet, into: &refs, names: &names, expandNames: expandNames, dynamic: &dynamic, nameDepth: nameDepth)
        case .binary(.range, let l, let r):
            if case .reference(let a) = l, case .reference(let b) = r, a.externalBook == nil, a.sheet == b.sheet {
                let merged = CellRange(start: CellRef(row: min(a.range.start.row, b.range.start.row), column: min(a.range.start.column, b.range.start.column)),
                                       end: CellRef(row: max(a.range.end.row, b.range.end.row), column: max(a.range.end.column, b.range.end.column)))
                collectAreas(.reference(FormulaArea(sheet: a.sheet, range: merged)), sheet: sheet, into: &refs, names: &names, expandNames: expandNames, dynamic: &dynamic, nameDepth: nameDepth)
            } else {
                collectAreas(l, sheet: sheet, into: &refs, names: &names, expandNames: expandNames, dynamic: &dynamic, nameDepth: nameDepth)
                collectAreas(r, sheet: sheet, into: &refs, names: &names, expandNames: expandNames, dynamic: &dynamic, nameDepth: nameDepth)
            }
        case .binary(_, let l, let r):
            collectAreas(l, sheet: sheet, into: &refs, names: &names, expandNames: expandNames, dynamic: &dynamic, nameDepth: nameDepth)
            collectAreas(r, sheet: sheet, into: &refs, names: &names, expandNames: expandNames, dynamic: &dynamic, nameDepth: nameDepth)
        default: break
        }
    }
}

/// Entry point for callers that hold a path (the server's `workbook/trace`, the analyst's
/// `trace` tool): opens the workbook and traces one cell.
public enum Lineage {
    /// Throws `WorkbookError` when the file cannot be read, `CancellationError` when cancelled.
    public static func trace(path: String, sheet: Int, cell: CellRef, depth: Int = 3,
                             isCancelled: @escaping () -> Bool = { false }) throws -> CellTrace {
        try trace(reader: try Workbooks.open(path: path, evaluateFormulas: false), sheet: sheet, cell: cell, depth: depth,
                  isCancelled: isCancelled)
    }

    /// The same on a reader the caller holds (one opened without evaluating formulas, so
    /// cells show what the file saved).
    public static func trace(reader: any WorkbookReader, sheet: Int, cell: CellRef, depth: Int = 3,
                             isCancelled: @escaping () -> Bool = { false }) throws -> CellTrace {
        let engine = FormulaEngine(reader: reader)
        engine.isCancelled = isCancelled
        return try engine.trace(sheet: sheet, cell: cell, depth: depth)
    }
}
