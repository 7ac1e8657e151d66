import Foundation

/// An Excel error raised inside a function's evaluation; `call` turns it into the function's
/// value (Excel: most functions return the first error among their arguments).
struct ErrorValue: Error { var code: String }

/// Evaluation of one formula in one cell: operators, references, names and function calls.
struct EvalContext {
    let engine: FormulaEngine
    let sheet: Int
    let cell: CellRef
    var volatile = false
    var problem: String? = nil
    var unknownFunction: String? = nil
    /// > 0 inside function arguments: multi-cell references in operators are taken as arrays
    /// (Excel 365's array evaluation); at the top level they are implicitly intersected with the
    /// formula's row or column (Excel's legacy single-cell formulas, as files store them).
    var callDepth = 0

    init(engine: FormulaEngine, sheet: Int, cell: CellRef) {
        self.engine = engine; self.sheet = sheet; self.cell = cell
    }

    mutating func note(_ p: String) { if problem == nil { problem = p } }

    mutating func eval(_ e: FormulaExpr) throws -> Operand {
        try engine.tick()
        switch e {
        case .number(let d): return .value(.number(d))
        case .string(let s): return .value(.string(s))
        case .bool(let b): return .value(.bool(b))
        case .error(let c): return .value(.error(c))
        case .missing: return .value(.empty)
        case .reference(let area):
            if area.lastSheet != nil {
                // Outside the aggregates that read one (see `operands3D`), Excel gives #VALUE!.
                note("3-D reference outside SUM, AVERAGE, COUNT, MIN, MAX and the like")
                return .value(.error(FormulaErrors.value))
            }
            return try reference(area)
        case .structured(let table, let spec):
            switch engine.structuredArea(table: table, spec: spec, sheet: sheet, cell: cell) {
            case .success(let a): return .area(a)
            case .failure(let e):
                if let why = e.why { note(why) }
                return .value(.error(e.code))
            }
        case .name(let n, let sheetName):
            let scope = sheetName.flatMap { engine.sheetIndex($0) } ?? sheet
            if sheetName == nil, engine.nameExpr(n, sheet: scope) == nil, engine.table(named: n) != nil {
                // A table's name alone is its data (`SUM(Table1)`).
                return try eval(.structured(table: n, spec: "[#Data]"))
            }
            guard let expr = engine.nameExpr(n, sheet: scope) else {
                note("unknown name \(n)")
                return .value(.error(FormulaErrors.name))
            }
            return try eval(expr)
        case .call(let name, let args):
            callDepth += 1
            defer { callDepth -= 1 }
            do { return try call(name, args) } catch let e as ErrorValue { return .value(.error(e.code)) }
        case .negate(let x):
            return try unary(x) { d in -d }
        case .plus(let x):
            return try eval(x)
        case .percent(let x):
            return try unary(x) { d in d / 100 }
        case .binary(.range, let l, let r):
            guard case .area(let a) = try eval(l), case .area(let b) = try eval(r) else { return .value(.error(FormulaErrors.value)) }
            guard a.sheet == b.sheet else { return .value(.error(FormulaErrors.value)) }
            let start = CellRef(row: min(a.range.start.row, b.range.start.row), column: min(a.range.start.column, b.range.start.column))
            let end = CellRef(row: max(a.range.end.row, b.range.end.row), column: max(a.range.end.column, b.range.end.column))
            return .area(SheetArea(sheet: a.sheet, range: CellRange(start: start, end: end)))
        case .binary(let op, let l, let r):
            let a = try operand(l), b = try operand(r)
            return Self.elementwise(a, b) { x, y in Self.binary(op, x, y) }
        case .array(let rows):
            var values: [FormulaValue] = []
            for row in rows { for x in row { values.append(try scalar(x)) } }
            return .array(FormulaArray(rows: rows.count, columns: rows.first?.count ?? 0, values: values))
        case .unsupported(let what):
            note("not evaluated: \(what)")
            return .value(.error(FormulaErrors.unsupported))
        }
    }

    mutating func reference(_ area: FormulaArea) throws -> Operand {
        if let book = area.externalBook {
            note("external reference to workbook [\(book)]\(area.sheet.map { $0 + "!" } ?? "")\(area.rangeText)")
            return .value(.error(FormulaErrors.external))
        }
        var index = sheet
        if let name = area.sheet {
            guard let i = engine.sheetIndex(name) else { return .value(.error(FormulaErrors.ref)) }
            index = i
        }
        return .area(SheetArea(sheet: index, range: area.range))
    }

    /// An operand of an operator: a value, or an array (for multi-cell references inside
    /// function arguments; implicitly intersected at the top level).
    mutating func operand(_ e: FormulaExpr) throws -> Operand {
        switch try eval(e) {
        case .value(let v): return .value(v)
        case .array(let a): return a.rows == 1 && a.columns == 1 ? .value(a.values[0]) : .array(a)
        case .area(let a):
            if a.range.rowCount == 1 && a.range.columnCount == 1 { return .value(try engine.value(a.sheet, a.range.start.row, a.range.start.column)) }
            if callDepth > 0 { return .array(try engine.matrix(a)) }
            return .value(try intersect(a))
        }
    }

    mutating func unary(_ x: FormulaExpr, _ f: @escaping (Double) -> Double) throws -> Operand {
        let a = try operand(x)
        return Self.elementwise(a, .value(.number(0))) { v, _ in
            switch Self.toNumber(v) { case .success(let d): return Self.checked(f(d)); case .failure(let e): return .error(e.code) }
        }
    }

    /// Implicit intersection (Excel: "implicit intersection operator @"): a single-column area
    /// gives the cell on the formula's row, a single-row area the cell in its column, a 2-D area
    /// the cell on both; otherwise #VALUE!.
    func intersect(_ a: SheetArea) throws -> FormulaValue {
        let r = a.range
        if r.rowCount == 1 && r.columnCount == 1 { return try engine.value(a.sheet, r.start.row, r.start.column) }
        let inRows = cell.row >= r.start.row && cell.row <= r.end.row, inColumns = cell.column >= r.start.column && cell.column <= r.end.column
        if r.columnCount == 1 && inRows { return try engine.value(a.sheet, cell.row, r.start.column) }
        if r.rowCount == 1 && inColumns { return try engine.value(a.sheet, r.start.row, cell.column) }
        // A 2-D area: the cell on both the formula's row and column, when there is one.
        if inRows && inColumns { return try engine.value(a.sheet, cell.row, cell.column) }
        return .error(FormulaErrors.value)
    }

    /// What the cell shows for the formula's result: an array's top-left element (a spill's
    /// anchor), an area implicitly intersected.
    mutating func finalValue(_ op: Operand) throws -> FormulaValue {
        switch op {
        case .value(let v): return v
        case .array(let a): return a.values.first ?? .error(FormulaErrors.calc)
        case .area(let a): return try intersect(a)
        }
    }

    /// The scalar of an expression: areas implicitly intersected, arrays' top-left element.
    mutating func scalar(_ e: FormulaExpr) throws -> FormulaValue {
        switch try eval(e) {
        case .value(let v): return v
        case .array(let a): return a.values.first ?? .error(FormulaErrors.value)
        case .area(let a): return try intersect(a)
        }
    }

    // MARK: Operators

    static func elementwise(_ a: Operand, _ b: Operand, _ f: (FormulaValue, FormulaValue) -> FormulaValue) -> Operand {
        switch (a, b) {
        case (.value(let x), .value(let y)): return .value(f(x, y))
        default:
            // Excel's array broadcasting: a single row / column stretches; past an array's
            // end the element is #N/A.
            let x = asArray(a), y = asArray(b)
            let rows = max(x.rows, y.rows), cols = max(x.columns, y.columns)
            var out: [FormulaValue] = []
            out.reserveCapacity(rows * cols)
            func at(_ m: FormulaArray, _ r: Int, _ c: Int) -> FormulaValue {
                let rr = m.rows == 1 ? 0 : r, cc = m.columns == 1 ? 0 : c
                return rr < m.rows && cc < m.columns ? m[rr, cc] : .error(FormulaErrors.na)
            }
            for r in 0..<rows { for c in 0..<cols { out.append(f(at(x, r, c), at(y, r, c))) } }
            return .array(FormulaArray(rows: rows, columns: cols, values: out))
        }
    }

    static func asArray(_ o: Operand) -> FormulaArray {
        switch o {
        case .value(let v): return FormulaArray(rows: 1, columns: 1, values: [v])
        case .array(let a): return a
        case .area: return FormulaArray(rows: 1, columns: 1, values: [.error(FormulaErrors.value)])
        }
    }

    static func toNumber(_ v: FormulaValue) -> Result<Double, ErrorValue> {
        switch v {
        case .number(let d): return .success(d)
        case .bool(let b): return .success(b ? 1 : 0)
        case .empty: return .success(0)
        case .string(let s):
            if let d = Coerce.number(fromText: s) { return .success(d) }
            return .failure(ErrorValue(code: FormulaErrors.value))
        case .error(let e): return .failure(ErrorValue(code: e))
        }
    }

    static func checked(_ d: Double) -> FormulaValue { d.isFinite ? .number(d) : .error(FormulaErrors.num) }

    static func binary(_ op: FormulaOperator, _ a: FormulaValue, _ b: FormulaValue) -> FormulaValue {
        if case .error = a { return a }
        if case .error = b { return b }
        switch op {
        case .concat: return .string(Coerce.text(a) + Coerce.text(b))
        case .equal: return .bool(compare(a, b) == 0)
        case .notEqual: return .bool(compare(a, b) != 0)
        case .less: return .bool(compare(a, b) < 0)
        case .lessEqual: return .bool(compare(a, b) <= 0)
        case .greater: return .bool(compare(a, b) > 0)
        case .greaterEqual: return .bool(compare(a, b) >= 0)
        default: break
        }
        let x: Double, y: Double
        switch toNumber(a) { case .success(let d): x = d; case .failure(let e): return .error(e.code) }
        switch toNumber(b) { case .success(let d): y = d; case .failure(let e): return .error(e.code) }
        switch op {
        case .add: return checked(x + y)
        case .subtract: return checked(x - y)
        case .multiply: return checked(x * y)
        case .divide: return y == 0 ? .error(FormulaErrors.div0) : checked(x / y)
        case .power:
            if x == 0 && y == 0 { return .error(FormulaErrors.num) }
            if x == 0 && y < 0 { return .error(FormulaErrors.div0) }
            return checked(pow(x, y))
        default: return .error(FormulaErrors.value)
        }
    }

    /// Excel's comparison: numbers < text < logical values; numbers at 15 significant digits
    /// (`ExcelPrecision`); text compares case-insensitively; a blank compares as 0, "" or FALSE
    /// according to the other side.
    static func compare(_ a: FormulaValue, _ b: FormulaValue) -> Int {
        var a = a, b = b
        if case .empty = a {
            switch b { case .number: a = .number(0); case .string: a = .string(""); case .bool: a = .bool(false); default: return 0 }
        }
        if case .empty = b {
            switch a { case .number: b = .number(0); case .string: b = .string(""); case .bool: b = .bool(false); default: return 0 }
        }
        func rank(_ v: FormulaValue) -> Int {
            switch v { case .number: return 0; case .string: return 1; case .bool: return 2; default: return 3 }
        }
        let ra = rank(a), rb = rank(b)
        if ra != rb { return ra < rb ? -1 : 1 }
        switch (a, b) {
        case (.number(let x), .number(let y)): return ExcelPrecision.compare(x, y)
        case (.string(let x), .string(let y)):
            let cx = x.lowercased(), cy = y.lowercased()
            return cx < cy ? -1 : (cx > cy ? 1 : 0)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (!x ? -1 : 1)
        default: return 0
        }
    }
}
