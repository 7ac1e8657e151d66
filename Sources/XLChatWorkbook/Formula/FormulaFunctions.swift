import Foundation

// The function library. Each function follows Excel's documentation page of the same name
// (support.microsoft.com, "<NAME> function"): argument coercions, which values in references
// are ignored, and the error each failure gives. Notes below cite the rule where it is not
// the obvious one.

extension EvalContext {
    /// The functions the engine evaluates (names as Excel shows them).
    static let supported: Set<String> = [
        "SUM", "SUMIF", "SUMIFS", "SUMPRODUCT", "AVERAGE", "AVERAGEIF", "AVERAGEIFS", "COUNT", "COUNTA", "COUNTBLANK",
        "COUNTIF", "COUNTIFS", "MIN", "MAX", "MINIFS", "MAXIFS", "PRODUCT", "ROUND", "ROUNDUP", "ROUNDDOWN", "INT", "MOD",
        "ABS", "SQRT", "POWER", "IF", "IFS", "IFERROR", "IFNA", "AND", "OR", "NOT", "XOR", "SWITCH", "CHOOSE", "VLOOKUP",
        "HLOOKUP", "XLOOKUP", "INDEX", "MATCH", "XMATCH", "OFFSET", "INDIRECT", "ROW", "COLUMN", "ROWS", "COLUMNS",
        "ISBLANK", "ISNUMBER", "ISTEXT", "ISERROR", "ISNA", "LEFT", "RIGHT", "MID", "LEN", "FIND", "SEARCH", "SUBSTITUTE",
        "REPLACE", "UPPER", "LOWER", "PROPER", "TRIM", "TEXT", "VALUE", "CONCAT", "CONCATENATE", "TEXTJOIN", "DATE", "YEAR",
        "MONTH", "DAY", "EDATE", "EOMONTH", "DATEDIF", "WEEKDAY", "NETWORKDAYS", "TODAY", "NOW", "SUBTOTAL", "AGGREGATE",
        "RANK", "RANK.EQ", "LARGE", "SMALL", "MEDIAN", "STDEV", "STDEV.S", "VAR", "VAR.S", "PMT", "NPV", "IRR",
        // Beyond the list, cheap and common.
        "TRUE", "FALSE", "NA", "PI", "SIGN", "EXP", "LN", "LOG", "LOG10", "CHAR", "CODE", "REPT", "EXACT", "N", "T",
        "ISERR", "ISLOGICAL", "ISNONTEXT", "ISEVEN", "ISODD", "CEILING", "FLOOR", "STDEVP", "STDEV.P", "VARP", "VAR.P",
        "HOUR", "MINUTE", "SECOND", "TIME", "TRUNC", "COUNTIFS", "AVERAGEA", "MAXA", "MINA", "FV", "PV", "NPER",
        // FormulaMoreFunctions.swift (by use in the corpus: scripts/corpus-functions.py).
        "LOOKUP", "SLN", "DB", "DEC2BIN", "DEC2OCT", "DEC2HEX", "BIN2DEC", "BIN2OCT", "BIN2HEX",
        "OCT2BIN", "OCT2DEC", "OCT2HEX", "HEX2BIN", "HEX2DEC", "HEX2OCT",
    ]

    // MARK: Argument helpers

    mutating func scalarArg(_ e: FormulaExpr) throws -> FormulaValue {
        let v = try scalar(e)
        return v
    }

    mutating func num(_ e: FormulaExpr) throws -> Double {
        switch Self.toNumber(try scalarArg(e)) {
        case .success(let d): return d
        case .failure(let err): throw err
        }
    }

    mutating func optNum(_ args: [FormulaExpr], _ i: Int, _ def: Double) throws -> Double {
        guard i < args.count, args[i] != .missing else { return def }
        return try num(args[i])
    }

    mutating func str(_ e: FormulaExpr) throws -> String {
        let v = try scalarArg(e)
        if case .error(let c) = v { throw ErrorValue(code: c) }
        return Coerce.text(v)
    }

    mutating func bool(_ e: FormulaExpr) throws -> Bool {
        try Self.truth(try scalarArg(e))
    }

    static func truth(_ v: FormulaValue) throws -> Bool {
        switch v {
        case .bool(let b): return b
        case .number(let d): return d != 0
        case .empty: return false
        case .string(let s):
            if s.uppercased() == "TRUE" { return true }
            if s.uppercased() == "FALSE" { return false }
            throw ErrorValue(code: FormulaErrors.value)
        case .error(let c): throw ErrorValue(code: c)
        }
    }

    mutating func area(_ e: FormulaExpr) throws -> SheetArea? {
        if case .area(let a) = try eval(e) { return a }
        return nil
    }

    /// An argument as an array (areas materialised).
    mutating func arrayArg(_ e: FormulaExpr) throws -> FormulaArray {
        switch try eval(e) {
        case .value(let v):
            if case .error(let c) = v { throw ErrorValue(code: c) }
            return FormulaArray(rows: 1, columns: 1, values: [v])
        case .array(let a): return a
        case .area(let a): return try engine.matrix(a)
        }
    }

    func need(_ args: [FormulaExpr], _ lo: Int, _ hi: Int = 255) throws {
        if args.count < lo || args.count > hi { throw ErrorValue(code: FormulaErrors.value) }
    }

    /// The numbers of aggregate arguments (SUM, AVERAGE, MIN, ...): in references and arrays
    /// only numbers count (text, logicals and blanks are skipped); typed directly, text that
    /// reads as a number and logicals count, other text is #VALUE!. Errors propagate unless
    /// `skipErrors` (AGGREGATE's options).
    mutating func numbers(_ args: [FormulaExpr], skipErrors: Bool = false, skipSubtotals: Bool = false,
                          logicalsInRefs: Bool = false) throws -> [Double] {
        var out: [Double] = []
        for a in args {
          for op in try operands3D(a) {
            switch op {
            case .value(let v):
                switch v {
                case .error(let c): if !skipErrors { throw ErrorValue(code: c) }
                case .empty: if a != .missing { out.append(0) }
                default:
                    switch Self.toNumber(v) { case .success(let d): out.append(d); case .failure(let e): throw e }
                }
            case .array(let m):
                for v in m.values {
                    switch v {
                    case .number(let d): out.append(d)
                    case .error(let c): if !skipErrors { throw ErrorValue(code: c) }
                    case .bool(let b): if logicalsInRefs { out.append(b ? 1 : 0) }
                    case .string: if logicalsInRefs { out.append(0) }
                    default: break
                    }
                }
            case .area(let ar):
                var firstError: String? = nil
                try engine.forEachCell(ar) { _, _, v, raw in
                    if skipSubtotals, let f = raw.formula?.uppercased(), f.contains("SUBTOTAL(") || f.contains("AGGREGATE(") { return true }
                    switch v {
                    case .number(let d): out.append(d)
                    case .error(let c): if !skipErrors { firstError = c; return false }
                    case .bool(let b): if logicalsInRefs { out.append(b ? 1 : 0) }
                    case .string: if logicalsInRefs { out.append(0) }
                    default: break
                    }
                    return true
                }
                if let c = firstError { throw ErrorValue(code: c) }
            }
          }
        }
        return out
    }

    /// An argument's operands: one per sheet for a 3-D reference (`Jan:Dec!B2`, the sheets from
    /// the first to the last in workbook order, as Excel's SUM, AVERAGE, COUNT, COUNTA, MIN,
    /// MAX, PRODUCT, STDEV and VAR read them); else the argument evaluated. #REF! when a sheet
    /// of the span does not exist.
    mutating func operands3D(_ e: FormulaExpr) throws -> [Operand] {
        guard case .reference(let fa) = e, let last = fa.lastSheet, fa.externalBook == nil else { return [try eval(e)] }
        guard let i = fa.sheet.flatMap({ engine.sheetIndex($0) }), let j = engine.sheetIndex(last) else {
            throw ErrorValue(code: FormulaErrors.ref)
        }
        return (min(i, j)...max(i, j)).map { .area(SheetArea(sheet: $0, range: fa.range)) }
    }

    /// Every value of the arguments, flattened (areas: existing cells only, plus a count of cells).
    mutating func values(_ args: [FormulaExpr], _ body: (FormulaValue, Bool) throws -> Void) throws {
        for a in args {
            for op in try operands3D(a) {
                switch op {
                case .value(let v): if a != .missing { try body(v, true) }
                case .array(let m): for v in m.values { try body(v, false) }
                case .area(let ar): try engine.forEachCell(ar) { _, _, v, _ in try body(v, false); return true }
                }
            }
        }
    }

    // MARK: Dispatch

    mutating func call(_ name: String, _ args: [FormulaExpr]) throws -> Operand {
        func v(_ x: FormulaValue) -> Operand { .value(x) }
        func n(_ d: Double) -> Operand { .value(Self.checked(d)) }
        switch name {
        // Math and statistics
        case "SUM": return n(try numbers(args).reduce(0, +))
        case "PRODUCT": return n(try numbers(args).reduce(1, *))
        case "AVERAGE", "AVERAGEA":
            let xs = try numbers(args, logicalsInRefs: name == "AVERAGEA")
            return xs.isEmpty ? v(.error(FormulaErrors.div0)) : n(xs.reduce(0, +) / Double(xs.count))
        case "MIN", "MINA": let xs = try numbers(args, logicalsInRefs: name == "MINA"); return n(xs.min() ?? 0)
        case "MAX", "MAXA": let xs = try numbers(args, logicalsInRefs: name == "MAXA"); return n(xs.max() ?? 0)
        case "MEDIAN":
            let xs = try numbers(args).sorted()
            guard !xs.isEmpty else { return v(.error(FormulaErrors.num)) }
            return n(xs.count % 2 == 1 ? xs[xs.count / 2] : (xs[xs.count / 2 - 1] + xs[xs.count / 2]) / 2)
        case "STDEV", "STDEV.S", "VAR", "VAR.S", "STDEVP", "STDEV.P", "VARP", "VAR.P":
            return v(Self.variance(try numbers(args), name: name))
        case "LARGE", "SMALL":
            try need(args, 2, 2)
            let xs = try numbers([args[0]]).sorted()
            let k = Int(try num(args[1]).rounded(.up))
            guard k >= 1, k <= xs.count else { return v(.error(FormulaErrors.num)) }
            return n(name == "LARGE" ? xs[xs.count - k] : xs[k - 1])
        case "RANK", "RANK.EQ":
            try need(args, 2, 3)
            let x = try num(args[0])
            let xs = try numbers([args[1]])
            let ascending = try optNum(args, 2, 0) != 0
            guard xs.contains(x) else { return v(.error(FormulaErrors.na)) }
            return n(Double(1 + xs.filter { ascending ? $0 < x : $0 > x }.count))
        case "COUNT":
            var c = 0
            try values(args) { x, direct in
                switch x {
                case .number: c += 1
                case .bool: if direct { c += 1 }
                case .string(let s): if direct, Coerce.number(fromText: s) != nil { c += 1 }
                default: break
                }
            }
            return n(Double(c))
        case "COUNTA":
            var c = 0
            try values(args) { x, _ in if case .empty = x {} else { c += 1 } }
            return n(Double(c))
        case "COUNTBLANK":
            try need(args, 1, 1)
            guard let a = try area(args[0]) else { return v(.error(FormulaErrors.value)) }
            var filled = 0
            try engine.forEachCell(a) { _, _, x, _ in
                if case .empty = x {} else if case .string("") = x {} else { filled += 1 }
                return true
            }
            return n(Double(a.range.rowCount * a.range.columnCount - filled))
        case "SUMPRODUCT":
            try need(args, 1)
            let arrays = try args.map { try arrayArg($0) }
            let r = arrays[0].rows, c = arrays[0].columns
            guard arrays.allSatisfy({ $0.rows == r && $0.columns == c }) else { return v(.error(FormulaErrors.value)) }
            var total = 0.0
            for k in 0..<(r * c) {
                var p = 1.0
                for m in arrays {
                    switch m.values[k] {
                    case .number(let d): p *= d
                    case .error(let e): throw ErrorValue(code: e)
                    default: p = 0  // non-numeric entries count as zero
                    }
                }
                total += p
            }
            return n(total)
        case "ROUND", "ROUNDUP", "ROUNDDOWN":
            try need(args, 2, 2)
            return n(Self.round(try num(args[0]), Int(try num(args[1])), mode: name))
        case "TRUNC":
            try need(args, 1, 2)
            return n(Self.round(try num(args[0]), Int(try optNum(args, 1, 0)), mode: "ROUNDDOWN"))
        case "INT": try need(args, 1, 1); return n(try num(args[0]).rounded(.down))
        case "MOD":
            try need(args, 2, 2)
            let a = try num(args[0]), b = try num(args[1])
            guard b != 0 else { return v(.error(FormulaErrors.div0)) }
            return n(a - b * (a / b).rounded(.down))
        case "ABS": try need(args, 1, 1); return n(abs(try num(args[0])))
        case "SIGN": try need(args, 1, 1); let x = try num(args[0]); return n(x > 0 ? 1 : (x < 0 ? -1 : 0))
        case "SQRT":
            try need(args, 1, 1)
            let x = try num(args[0])
            return x < 0 ? v(.error(FormulaErrors.num)) : n(x.squareRoot())
        case "POWER": try need(args, 2, 2); return v(Self.binary(.power, .number(try num(args[0])), .number(try num(args[1]))))
        case "EXP": try need(args, 1, 1); return n(exp(try num(args[0])))
        case "LN": try need(args, 1, 1); let x = try num(args[0]); return x <= 0 ? v(.error(FormulaErrors.num)) : n(log(x))
        case "LOG10": try need(args, 1, 1); let x = try num(args[0]); return x <= 0 ? v(.error(FormulaErrors.num)) : n(log10(x))
        case "LOG":
            try need(args, 1, 2)
            let x = try num(args[0]), b = try optNum(args, 1, 10)
            return x <= 0 || b <= 0 || b == 1 ? v(.error(FormulaErrors.num)) : n(log(x) / log(b))
        case "PI": return n(Double.pi)
        case "CEILING", "FLOOR":
            try need(args, 1, 2)
            let x = try num(args[0]), s = try optNum(args, 1, x < 0 ? -1 : 1)
            if s == 0 { return n(0) }
            if x > 0 && s < 0 { return v(.error(FormulaErrors.num)) }
            let q = x / s
            return n((name == "CEILING" ? q.rounded(.up) : q.rounded(.down)) * s)
        case "SUBTOTAL":
            try need(args, 2)
            let code = Int(try num(args[0]))
            return v(try aggregate(code: code % 100, Array(args.dropFirst()), skipErrors: false))
        case "AGGREGATE":
            try need(args, 3)
            let code = Int(try num(args[0])), options = Int(try num(args[1]))
            let skip = [2, 3, 6, 7].contains(options)
            if code == 14 || code == 15 {
                try need(args, 4, 4)
                let xs = try numbers([args[2]], skipErrors: skip, skipSubtotals: true).sorted()
                let k = Int(try num(args[3]))
                guard k >= 1, k <= xs.count else { return v(.error(FormulaErrors.num)) }
                return n(code == 14 ? xs[xs.count - k] : xs[k - 1])
            }
            return v(try aggregate(code: code, Array(args.dropFirst(2)), skipErrors: skip))
        // Conditional aggregates
        case "SUMIF", "AVERAGEIF":
            try need(args, 2, 3)
            guard let range = try area(args[0]) else { return v(.error(FormulaErrors.value)) }
            let crit = engine.criterion(try scalarArg(args[1]))
            var target = range
            if args.count == 3 { guard let t = try area(args[2]) else { return v(.error(FormulaErrors.value)) }; target = t }
            // The sum range is the criteria range's size, from the given top-left (Excel's rule).
            target = SheetArea(sheet: target.sheet, range: CellRange(start: target.range.start,
                end: CellRef(row: target.range.start.row + range.range.rowCount - 1, column: target.range.start.column + range.range.columnCount - 1)))
            return v(try conditional(name == "SUMIF" ? "SUM" : "AVERAGE", target: target, criteria: [(range, crit)]))
        case "SUMIFS", "AVERAGEIFS", "MINIFS", "MAXIFS":
            try need(args, 3)
            guard (args.count - 1) % 2 == 0, let target = try area(args[0]) else { return v(.error(FormulaErrors.value)) }
            var criteria: [(SheetArea, Criterion)] = []
            var k = 1
            while k < args.count {
                guard let a = try area(args[k]) else { return v(.error(FormulaErrors.value)) }
                guard a.range.rowCount == target.range.rowCount, a.range.columnCount == target.range.columnCount else { return v(.error(FormulaErrors.value)) }
                criteria.append((a, engine.criterion(try scalarArg(args[k + 1]))))
                k += 2
            }
            let kind = ["SUMIFS": "SUM", "AVERAGEIFS": "AVERAGE", "MINIFS": "MIN", "MAXIFS": "MAX"][name]!
            return v(try conditional(kind, target: target, criteria: criteria))
        case "COUNTIF":
            try need(args, 2, 2)
            guard let range = try area(args[0]) else { return v(.error(FormulaErrors.value)) }
            return v(try conditional("COUNT", target: range, criteria: [(range, engine.criterion(try scalarArg(args[1])))]))
        case "COUNTIFS":
            try need(args, 2)
            guard args.count % 2 == 0 else { return v(.error(FormulaErrors.value)) }
            var criteria: [(SheetArea, Criterion)] = []
            var k = 0
            while k < args.count {
                guard let a = try area(args[k]) else { return v(.error(FormulaErrors.value)) }
                if let first = criteria.first, first.0.range.rowCount != a.range.rowCount || first.0.range.columnCount != a.range.columnCount {
                    return v(.error(FormulaErrors.value))
                }
                criteria.append((a, engine.criterion(try scalarArg(args[k + 1]))))
                k += 2
            }
            return v(try conditional("COUNT", target: criteria[0].0, criteria: criteria))
        // Logical
        case "TRUE": return v(.bool(true))
        case "FALSE": return v(.bool(false))
        case "NA": return v(.error(FormulaErrors.na))
        case "IF":
            try need(args, 1, 3)
            let condition = try eval(args[0])
            if case .array(let m) = condition, m.values.count > 1 {
                // An array condition picks element-wise (array formulas, SUM(IF(...))).
                let t = args.count > 1 ? try operand(args[1]) : .value(.bool(true))
                let f = args.count > 2 ? try operand(args[2]) : .value(.bool(false))
                let picked = Self.elementwise(.array(m), t) { c, x in (try? Self.truth(c)) == true ? x : .string("\u{0}F") }
                return Self.elementwise(picked, f) { x, y in
                    if case .string("\u{0}F") = x { return y }
                    return x
                }
            }
            let c: FormulaValue
            switch condition { case .value(let x): c = x; case .array(let m): c = m.values.first ?? .empty; case .area(let a): c = try intersect(a) }
            if case .error(let e) = c { return v(.error(e)) }
            if try Self.truth(c) { return args.count > 1 ? (args[1] == .missing ? n(0) : try eval(args[1])) : v(.bool(true)) }
            return args.count > 2 ? (args[2] == .missing ? n(0) : try eval(args[2])) : v(.bool(false))
        case "IFS":
            try need(args, 2)
            guard args.count % 2 == 0 else { return v(.error(FormulaErrors.value)) }
            var k = 0
            while k < args.count { if try bool(args[k]) { return try eval(args[k + 1]) }; k += 2 }
            return v(.error(FormulaErrors.na))
        case "IFERROR", "IFNA":
            try need(args, 2, 2)
            let x = try eval(args[0])
            let scalarValue: FormulaValue?
            switch x { case .value(let s): scalarValue = s; case .area(let a) where a.range.rowCount * a.range.columnCount == 1: scalarValue = try intersect(a); default: scalarValue = nil }
            if let s = scalarValue, case .error(let e) = s, name == "IFERROR" || e == FormulaErrors.na {
                if FormulaErrors.notComputed.contains(e) { return v(s) }
                return try eval(args[1])
            }
            if case .array(let m) = x {
                let alt = try scalar(args[1])
                return .array(FormulaArray(rows: m.rows, columns: m.columns, values: m.values.map {
                    if case .error(let e) = $0, name == "IFERROR" || e == FormulaErrors.na { return alt }
                    return $0
                }))
            }
            return x
        case "AND", "OR", "XOR":
            try need(args, 1)
            var seen = 0, trues = 0
            try values(args) { x, direct in
                switch x {
                case .bool(let b): seen += 1; if b { trues += 1 }
                case .number(let d): seen += 1; if d != 0 { trues += 1 }
                case .error(let e): throw ErrorValue(code: e)
                case .string(let s):
                    if direct { let b = try Self.truth(.string(s)); seen += 1; if b { trues += 1 } }
                case .empty: break
                }
            }
            guard seen > 0 else { return v(.error(FormulaErrors.value)) }
            switch name {
            case "AND": return v(.bool(trues == seen))
            case "OR": return v(.bool(trues > 0))
            default: return v(.bool(trues % 2 == 1))
            }
        case "NOT": try need(args, 1, 1); return v(.bool(!(try bool(args[0]))))
        case "SWITCH":
            try need(args, 3)
            let x = try scalarArg(args[0])
            if case .error(let e) = x { return v(.error(e)) }
            var k = 1
            while k + 1 < args.count {
                if Self.compare(x, try scalarArg(args[k])) == 0, Self.sameKind(x, try scalarArg(args[k])) { return try eval(args[k + 1]) }
                k += 2
            }
            return k < args.count ? try eval(args[k]) : v(.error(FormulaErrors.na))
        case "CHOOSE":
            try need(args, 2)
            let i = Int(try num(args[0]))
            guard i >= 1, i < args.count else { return v(.error(FormulaErrors.value)) }
            return try eval(args[i])
        // Information
        case "ISBLANK": try need(args, 1, 1); if case .empty = try scalarArg(args[0]) { return v(.bool(true)) }; return v(.bool(false))
        case "ISNUMBER": try need(args, 1, 1); if case .number = try scalarArg(args[0]) { return v(.bool(true)) }; return v(.bool(false))
        case "ISTEXT": try need(args, 1, 1); if case .string = try scalarArg(args[0]) { return v(.bool(true)) }; return v(.bool(false))
        case "ISNONTEXT": try need(args, 1, 1); if case .string = try scalarArg(args[0]) { return v(.bool(false)) }; return v(.bool(true))
        case "ISLOGICAL": try need(args, 1, 1); if case .bool = try scalarArg(args[0]) { return v(.bool(true)) }; return v(.bool(false))
        case "ISERROR", "ISERR", "ISNA":
            try need(args, 1, 1)
            let x = try scalarArg(args[0])
            guard case .error(let e) = x else { return v(.bool(false)) }
            if FormulaErrors.notComputed.contains(e) { return v(x) }
            if name == "ISNA" { return v(.bool(e == FormulaErrors.na)) }
            if name == "ISERR" { return v(.bool(e != FormulaErrors.na)) }
            return v(.bool(true))
        case "ISEVEN", "ISODD":
            try need(args, 1, 1)
            let x = Int(try num(args[0]).rounded(.towardZero))
            return v(.bool((x % 2 == 0) == (name == "ISEVEN")))
        case "N":
            try need(args, 1, 1)
            switch try scalarArg(args[0]) { case .number(let d): return n(d); case .bool(let b): return n(b ? 1 : 0); case .error(let e): return v(.error(e)); default: return n(0) }
        case "T":
            try need(args, 1, 1)
            switch try scalarArg(args[0]) { case .string(let s): return v(.string(s)); case .error(let e): return v(.error(e)); default: return v(.string("")) }
        // Lookup and reference
        case "VLOOKUP", "HLOOKUP": return v(try vhlookup(args, vertical: name == "VLOOKUP"))
        case "MATCH": return v(try match(args))
        case "XMATCH": return v(try xmatch(args))
        case "XLOOKUP": return try xlookup(args)
        case "INDEX": return try index(args)
        case "OFFSET": return try offset(args)
        case "INDIRECT": return try indirect(args)
        case "ROW", "COLUMN":
            try need(args, 0, 1)
            if args.isEmpty || args[0] == .missing { return n(Double((name == "ROW" ? cell.row : cell.column) + 1)) }
            guard let a = try area(args[0]) else { return v(.error(FormulaErrors.value)) }
            return n(Double((name == "ROW" ? a.range.start.row : a.range.start.column) + 1))
        case "ROWS", "COLUMNS":
            try need(args, 1, 1)
            switch try eval(args[0]) {
            case .area(let a): return n(Double(name == "ROWS" ? a.range.rowCount : a.range.columnCount))
            case .array(let m): return n(Double(name == "ROWS" ? m.rows : m.columns))
            case .value(let x): if case .error(let e) = x { return v(.error(e)) }; return n(1)
            }
        // Text
        case "LEFT", "RIGHT":
            try need(args, 1, 2)
            let s = Array(try str(args[0])), k = Int(try optNum(args, 1, 1))
            guard k >= 0 else { return v(.error(FormulaErrors.value)) }
            return v(.string(String(name == "LEFT" ? s.prefix(k) : s.suffix(k))))
        case "MID":
            try need(args, 3, 3)
            let s = Array(try str(args[0])), start = Int(try num(args[1])), k = Int(try num(args[2]))
            guard start >= 1, k >= 0 else { return v(.error(FormulaErrors.value)) }
            if start > s.count { return v(.string("")) }
            return v(.string(String(s[(start - 1)..<min(s.count, start - 1 + k)])))
        case "LEN": try need(args, 1, 1); return n(Double(try str(args[0]).count))
        case "FIND", "SEARCH":
            try need(args, 2, 3)
            let needle = try str(args[0]), hay = try str(args[1])
            let start = Int(try optNum(args, 2, 1))
            let h = Array(hay)
            guard start >= 1, start <= h.count + 1 else { return v(.error(FormulaErrors.value)) }
            if name == "FIND" {
                let nd = Array(needle)
                if nd.isEmpty { return n(Double(start)) }
                var k = start - 1
                while k + nd.count <= h.count { if Array(h[k..<(k + nd.count)]) == nd { return n(Double(k + 1)) }; k += 1 }
                return v(.error(FormulaErrors.value))
            }
            if let pos = Wildcard.search(needle, in: h, from: start - 1) { return n(Double(pos + 1)) }
            return v(.error(FormulaErrors.value))
        case "SUBSTITUTE":
            try need(args, 3, 4)
            let s = try str(args[0]), old = try str(args[1]), new = try str(args[2])
            if old.isEmpty { return v(.string(s)) }
            if args.count == 4 {
                let which = Int(try num(args[3]))
                guard which >= 1 else { return v(.error(FormulaErrors.value)) }
                var count = 0
                var searchRange = s.startIndex..<s.endIndex
                while let r = s.range(of: old, range: searchRange) {
                    count += 1
                    if count == which { return v(.string(s.replacingCharacters(in: r, with: new))) }
                    searchRange = r.upperBound..<s.endIndex
                }
                return v(.string(s))
            }
            return v(.string(s.replacingOccurrences(of: old, with: new)))
        case "REPLACE":
            try need(args, 4, 4)
            let s = Array(try str(args[0])), start = Int(try num(args[1])), k = Int(try num(args[2])), new = try str(args[3])
            guard start >= 1, k >= 0 else { return v(.error(FormulaErrors.value)) }
            let a = min(start - 1, s.count), b = min(a + k, s.count)
            return v(.string(String(s[0..<a]) + new + String(s[b...])))
        case "UPPER": try need(args, 1, 1); return v(.string(try str(args[0]).uppercased()))
        case "LOWER": try need(args, 1, 1); return v(.string(try str(args[0]).lowercased()))
        case "PROPER":
            try need(args, 1, 1)
            var out = ""; var prevLetter = false
            for ch in try str(args[0]) {
                out += prevLetter ? ch.lowercased() : ch.uppercased()
                prevLetter = ch.isLetter
            }
            return v(.string(out))
        case "TRIM":
            try need(args, 1, 1)
            // Excel's TRIM removes spaces (U+0020 only) at the ends and collapses inner runs.
            return v(.string(try str(args[0]).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")))
        case "EXACT": try need(args, 2, 2); return v(.bool(try str(args[0]) == (try str(args[1]))))
        case "REPT":
            try need(args, 2, 2)
            let s = try str(args[0]), k = Int(try num(args[1]))
            guard k >= 0, s.count * k <= 32767 else { return v(.error(FormulaErrors.value)) }
            return v(.string(String(repeating: s, count: k)))
        case "CHAR":
            try need(args, 1, 1)
            let c = Int(try num(args[0]))
            guard c >= 1, c <= 255 else { return v(.error(FormulaErrors.value)) }
            // Windows-1252, Excel's character set on Windows.
            let s = String(data: Data([UInt8(c)]), encoding: .windowsCP1252) ?? String(UnicodeScalar(UInt8(c)))
            return v(.string(s))
        case "CODE":
            try need(args, 1, 1)
            guard let ch = try str(args[0]).first else { return v(.error(FormulaErrors.value)) }
            let bytes = String(ch).data(using: .windowsCP1252)
            return n(Double(bytes?.first ?? UInt8(truncatingIfNeeded: ch.unicodeScalars.first!.value)))
        case "TEXT":
            try need(args, 2, 2)
            let x = try scalarArg(args[0])
            if case .error(let e) = x { throw ErrorValue(code: e) }
            let fmt = try str(args[1])
            switch Self.toNumber(x) {
            case .success(let d): return v(.string(TextFormat.format(d, fmt)))
            case .failure: return v(.string(Coerce.text(x)))
            }
        case "VALUE":
            try need(args, 1, 1)
            let x = try scalarArg(args[0])
            switch x {
            case .number: return v(x)
            case .empty: return n(0)
            case .error(let e): return v(.error(e))
            case .bool: return v(.error(FormulaErrors.value))
            case .string(let s): return Coerce.number(fromText: s).map(n) ?? v(.error(FormulaErrors.value))
            }
        case "CONCAT", "CONCATENATE":
            var out = ""
            if name == "CONCATENATE" {
                for a in args { out += try str(a) }
            } else {
                try values(args) { x, _ in if case .error(let e) = x { throw ErrorValue(code: e) }; out += Coerce.text(x) }
            }
            return v(.string(out))
        case "TEXTJOIN":
            try need(args, 3)
            let sep = try str(args[0]), ignoreEmpty = try bool(args[1])
            var parts: [String] = []
            try values(Array(args.dropFirst(2))) { x, _ in
                if case .error(let e) = x { throw ErrorValue(code: e) }
                let t = Coerce.text(x)
                if !(ignoreEmpty && t.isEmpty) { parts.append(t) }
            }
            return v(.string(parts.joined(separator: sep)))
        // Dates
        case "DATE":
            try need(args, 3, 3)
            let y = Int(try num(args[0])), m = Int(try num(args[1])), d = Int(try num(args[2]))
            guard y >= 0, y < 10000 else { return v(.error(FormulaErrors.num)) }
            let s = DateMath.serial(y, m, d)
            return s < 0 ? v(.error(FormulaErrors.num)) : n(s)
        case "TIME":
            try need(args, 3, 3)
            let t = (try num(args[0]).rounded(.towardZero) * 3600 + (try num(args[1])).rounded(.towardZero) * 60 + (try num(args[2])).rounded(.towardZero)) / 86400
            return t < 0 ? v(.error(FormulaErrors.num)) : n(t - t.rounded(.down))
        case "YEAR", "MONTH", "DAY":
            try need(args, 1, 1)
            let s = try num(args[0])
            guard s >= 0 else { return v(.error(FormulaErrors.num)) }
            if s < 1 { return n(name == "YEAR" ? 1900 : (name == "MONTH" ? 1 : 0)) }
            let c = DateMath.civil(s)
            return n(Double(name == "YEAR" ? c.year : (name == "MONTH" ? c.month : c.day)))
        case "HOUR", "MINUTE", "SECOND":
            try need(args, 1, 1)
            let s = try num(args[0])
            guard s >= 0 else { return v(.error(FormulaErrors.num)) }
            let secs = Int(((s - s.rounded(.down)) * 86400).rounded())
            return n(Double(name == "HOUR" ? (secs / 3600) % 24 : (name == "MINUTE" ? (secs / 60) % 60 : secs % 60)))
        case "EDATE", "EOMONTH":
            try need(args, 2, 2)
            let s = try num(args[0]), months = Int(try num(args[1]))
            guard s >= 0 else { return v(.error(FormulaErrors.num)) }
            let c = DateMath.civil(s)
            var m = c.month - 1 + months
            var y = c.year + (m >= 0 ? m / 12 : (m - 11) / 12)
            m = ((m % 12) + 12) % 12 + 1
            if y < 1900 { return v(.error(FormulaErrors.num)) }
            let dim = DateMath.daysInMonth(y, m)
            let day = name == "EOMONTH" ? dim : min(c.day, dim)
            if y > 9999 { y = 9999 }
            return n(DateMath.serial(y, m, day))
        case "DATEDIF": return v(try datedif(args))
        case "WEEKDAY":
            try need(args, 1, 2)
            let s = try num(args[0]), type = Int(try optNum(args, 1, 1))
            guard s >= 0 else { return v(.error(FormulaErrors.num)) }
            let w = DateMath.weekday(s)  // 1 = Sunday
            switch type {
            case 1, 17: return n(Double(w))
            case 2, 11: return n(Double((w + 5) % 7 + 1))
            case 3: return n(Double((w + 5) % 7))
            case 12...16: let start = type - 10; return n(Double(((w - 1) - (start % 7) + 7) % 7 + 1))
            default: return v(.error(FormulaErrors.num))
            }
        case "NETWORKDAYS":
            try need(args, 2, 3)
            let a = Int(try num(args[0]).rounded(.down)), b = Int(try num(args[1]).rounded(.down))
            var holidays = Set<Int>()
            if args.count == 3 { for h in try numbers([args[2]]) { holidays.insert(Int(h)) } }
            let lo = min(a, b), hi = max(a, b)
            guard hi - lo < 4_000_000 else { return v(.error(FormulaErrors.num)) }
            var count = 0
            for d in lo...hi {
                let w = DateMath.weekday(Double(d))
                if w != 1 && w != 7 && !holidays.contains(d) { count += 1 }
            }
            return n(Double(a <= b ? count : -count))
        case "TODAY", "NOW":
            volatile = true
            let serial = (now(engine.now))
            return n(name == "TODAY" ? serial.rounded(.down) : serial)
        // Financial
        case "PMT":
            try need(args, 3, 5)
            let rate = try num(args[0]), nper = try num(args[1]), pv = try num(args[2])
            let fv = try optNum(args, 3, 0), type = try optNum(args, 4, 0) != 0 ? 1.0 : 0.0
            guard nper != 0 else { return v(.error(FormulaErrors.num)) }
            if rate == 0 { return n(-(pv + fv) / nper) }
            let f = pow(1 + rate, nper)
            return n(-(rate * (pv * f + fv)) / ((1 + rate * type) * (f - 1)))
        case "FV":
            try need(args, 3, 5)
            let rate = try num(args[0]), nper = try num(args[1]), pmt = try num(args[2])
            let pv = try optNum(args, 3, 0), type = try optNum(args, 4, 0) != 0 ? 1.0 : 0.0
            if rate == 0 { return n(-(pv + pmt * nper)) }
            let f = pow(1 + rate, nper)
            return n(-(pv * f + pmt * (1 + rate * type) * (f - 1) / rate))
        case "PV":
            try need(args, 3, 5)
            let rate = try num(args[0]), nper = try num(args[1]), pmt = try num(args[2])
            let fv = try optNum(args, 3, 0), type = try optNum(args, 4, 0) != 0 ? 1.0 : 0.0
            if rate == 0 { return n(-(fv + pmt * nper)) }
            let f = pow(1 + rate, nper)
            return n(-(fv + pmt * (1 + rate * type) * (f - 1) / rate) / f)
        case "NPER":
            try need(args, 3, 5)
            let rate = try num(args[0]), pmt = try num(args[1]), pv = try num(args[2])
            let fv = try optNum(args, 3, 0), type = try optNum(args, 4, 0) != 0 ? 1.0 : 0.0
            if rate == 0 { return pmt == 0 ? v(.error(FormulaErrors.num)) : n(-(pv + fv) / pmt) }
            let z = pmt * (1 + rate * type) / rate
            return n(log((z - fv) / (pv + z)) / log(1 + rate))
        case "NPV":
            try need(args, 2)
            let rate = try num(args[0])
            guard rate != -1 else { return v(.error(FormulaErrors.div0)) }
            var total = 0.0
            for (k, x) in try numbers(Array(args.dropFirst())).enumerated() { total += x / pow(1 + rate, Double(k + 1)) }
            return n(total)
        case "IRR":
            try need(args, 1, 2)
            let xs = try numbers([args[0]])
            return v(Self.irr(xs, guess: try optNum(args, 1, 0.1)))
        default:
            if let op = try callMore(name, args) { return op }
            unknownFunction = unknownFunction ?? name
            note("unknown function \(name)")
            return v(.error(FormulaErrors.name))
        }
    }

    func now(_ date: Date) -> Double {
        let offset = Double(TimeZone.current.secondsFromGMT(for: date))
        return (date.timeIntervalSince1970 + offset) / 86400 + ExcelDate.unixEpochSerial
    }

    static func sameKind(_ a: FormulaValue, _ b: FormulaValue) -> Bool {
        switch (a, b) {
        case (.number, .number), (.string, .string), (.bool, .bool), (.empty, _), (_, .empty): return true
        default: return false
        }
    }

    /// ROUND / ROUNDUP / ROUNDDOWN on the decimal Excel shows: the scaled value is first taken
    /// to 15 significant digits (Excel's precision), so ROUND(2.675, 2) is 2.68 as in Excel,
    /// not 2.67 as the binary double would give.
    static func round(_ x: Double, _ digits: Int, mode: String) -> Double {
        guard digits > -309, digits < 309 else { return x }
        let f = pow(10.0, Double(abs(digits)))
        let y0 = digits >= 0 ? x * f : x / f
        let y = Double(String(format: "%.15g", y0)) ?? y0
        let r: Double
        switch mode {
        case "ROUNDUP": r = y < 0 ? -(-y).rounded(.up) : y.rounded(.up)
        case "ROUNDDOWN": r = y.rounded(.towardZero)
        default: r = y.rounded(.toNearestOrAwayFromZero)
        }
        return digits >= 0 ? r / f : r * f
    }

    static func variance(_ xs: [Double], name: String) -> FormulaValue {
        let population = name.hasSuffix("P") || name.hasSuffix(".P")
        let n = Double(xs.count)
        guard xs.count >= (population ? 1 : 2) else { return .error(FormulaErrors.div0) }
        let mean = xs.reduce(0, +) / n
        let ss = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        let v = ss / (population ? n : n - 1)
        return checked(name.hasPrefix("STDEV") ? v.squareRoot() : v)
    }

    /// IRR by Newton's method from `guess`, as Excel (20 iterations there; we allow 100, to
    /// 1e-10), #NUM! when it does not converge or the values do not change sign.
    static func irr(_ xs: [Double], guess: Double) -> FormulaValue {
        guard xs.contains(where: { $0 > 0 }), xs.contains(where: { $0 < 0 }) else { return .error(FormulaErrors.num) }
        var r = guess
        for _ in 0..<100 {
            var f = 0.0, df = 0.0
            for (k, x) in xs.enumerated() {
                let d = pow(1 + r, Double(k))
                f += x / d
                df -= Double(k) * x / (d * (1 + r))
            }
            guard df != 0, df.isFinite else { return .error(FormulaErrors.num) }
            let next = r - f / df
            if abs(next - r) < 1e-10 { return .number(next) }
            r = next
            if r <= -1 { r = -0.99 }
        }
        return .error(FormulaErrors.num)
    }

    mutating func aggregate(code: Int, _ args: [FormulaExpr], skipErrors: Bool) throws -> FormulaValue {
        switch code {
        case 1, 2, 3:
            if code == 2 || code == 3 {
                var c = 0
                for a in args {
                    switch try eval(a) {
                    case .area(let ar):
                        try engine.forEachCell(ar) { _, _, x, raw in
                            if let f = raw.formula?.uppercased(), f.contains("SUBTOTAL(") || f.contains("AGGREGATE(") { return true }
                            switch x { case .number: c += 1; case .empty: break; case .error: if code == 3 && !skipErrors { c += 1 }; default: if code == 3 { c += 1 } }
                            return true
                        }
                    case .value(let x): if case .empty = x {} else if code == 3 { c += 1 } else if case .number = x { c += 1 }
                    case .array(let m): for x in m.values { if case .number = x { c += 1 } else if code == 3, !(x == .empty) { c += 1 } }
                    }
                }
                return .number(Double(c))
            }
            let xs = try numbers(args, skipErrors: skipErrors, skipSubtotals: true)
            return xs.isEmpty ? .error(FormulaErrors.div0) : .number(xs.reduce(0, +) / Double(xs.count))
        case 4: return .number(try numbers(args, skipErrors: skipErrors, skipSubtotals: true).max() ?? 0)
        case 5: return .number(try numbers(args, skipErrors: skipErrors, skipSubtotals: true).min() ?? 0)
        case 6: return Self.checked(try numbers(args, skipErrors: skipErrors, skipSubtotals: true).reduce(1, *))
        case 7: return Self.variance(try numbers(args, skipErrors: skipErrors, skipSubtotals: true), name: "STDEV")
        case 8: return Self.variance(try numbers(args, skipErrors: skipErrors, skipSubtotals: true), name: "STDEVP")
        case 9: return Self.checked(try numbers(args, skipErrors: skipErrors, skipSubtotals: true).reduce(0, +))
        case 10: return Self.variance(try numbers(args, skipErrors: skipErrors, skipSubtotals: true), name: "VAR")
        case 11: return Self.variance(try numbers(args, skipErrors: skipErrors, skipSubtotals: true), name: "VARP")
        case 12:
            let xs = try numbers(args, skipErrors: skipErrors, skipSubtotals: true).sorted()
            guard !xs.isEmpty else { return .error(FormulaErrors.num) }
            return .number(xs.count % 2 == 1 ? xs[xs.count / 2] : (xs[xs.count / 2 - 1] + xs[xs.count / 2]) / 2)
        default: return .error(FormulaErrors.value)
        }
    }

    mutating func datedif(_ args: [FormulaExpr]) throws -> FormulaValue {
        try need(args, 3, 3)
        let a = try num(args[0]).rounded(.down), b = try num(args[1]).rounded(.down)
        let unit = try str(args[2]).uppercased()
        guard a <= b else { return .error(FormulaErrors.num) }
        let s = DateMath.civil(a), e = DateMath.civil(b)
        var months = (e.year - s.year) * 12 + (e.month - s.month)
        if e.day < s.day { months -= 1 }
        switch unit {
        case "D": return .number(b - a)
        case "M": return .number(Double(months))
        case "Y": return .number(Double(months / 12))
        case "YM": return .number(Double(months % 12))
        case "MD":
            if e.day >= s.day { return .number(Double(e.day - s.day)) }
            let pm = e.month == 1 ? 12 : e.month - 1, py = e.month == 1 ? e.year - 1 : e.year
            return .number(Double(DateMath.daysInMonth(py, pm) - s.day + e.day))
        case "YD":
            var y = e.year
            if (e.month, e.day) < (s.month, s.day) { y -= 1 }
            let anniversary = DateMath.serial(y, s.month, min(s.day, DateMath.daysInMonth(y, s.month)))
            return .number(b - anniversary)
        default: return .error(FormulaErrors.num)
        }
    }
}

/// Excel wildcards in criteria, MATCH/VLOOKUP exact matches and SEARCH: `*` any run, `?` one
/// character, `~` escapes the next.
enum Wildcard {
    static func has(_ s: String) -> Bool { s.contains("*") || s.contains("?") || s.contains("~") }

    /// Whole-string match, case-insensitive.
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.lowercased()), t = Array(text.lowercased())
        return match(p, 0, t, 0, anchoredEnd: true) != nil
    }

    /// The first position in `text` from `from` where `pattern` matches (SEARCH).
    static func search(_ pattern: String, in text: [Character], from: Int) -> Int? {
        let p = Array(pattern.lowercased()), t = text.map { Character($0.lowercased()) }
        if p.isEmpty { return from }
        var k = from
        while k <= t.count { if match(p, 0, t, k, anchoredEnd: false) != nil { return k }; k += 1 }
        return nil
    }

    /// Iterative wildcard matcher with backtracking on the last `*` (linear in practice).
    static func match(_ p: [Character], _ pi0: Int, _ t: [Character], _ ti0: Int, anchoredEnd: Bool) -> Int? {
        var pi = pi0, ti = ti0
        var starP = -1, starT = 0
        while true {
            if pi == p.count { if !anchoredEnd || ti == t.count { return ti } }
            if pi < p.count {
                let c = p[pi]
                if c == "*" { starP = pi; starT = ti; pi += 1; continue }
                if ti < t.count {
                    if c == "?" { pi += 1; ti += 1; continue }
                    if c == "~", pi + 1 < p.count {
                        if p[pi + 1] == t[ti] { pi += 2; ti += 1; continue }
                    } else if c == t[ti] { pi += 1; ti += 1; continue }
                }
            }
            if starP >= 0 && starT < t.count { starT += 1; ti = starT; pi = starP + 1; continue }
            return nil
        }
    }
}

/// A criterion of SUMIF / COUNTIF(S) / AVERAGEIF(S) / MINIFS / MAXIFS, as Excel documents it:
/// a value (equality), or text with an operator prefix (`">=10"`, `"<>x"`); `=` / `<>` with
/// text use wildcards; `""` matches blank cells, `"<>"` non-blank ones.
struct Criterion: Hashable {
    enum Op: Hashable { case eq, ne, lt, le, gt, ge }
    var op: Op
    var operand: FormulaValue
    var wildcard: Bool

    init(_ v: FormulaValue) {
        wildcard = false
        switch v {
        case .string(let raw):
            var s = Substring(raw)
            var op = Op.eq
            for (prefix, o) in [("<=", Op.le), (">=", .ge), ("<>", .ne), ("<", .lt), (">", .gt), ("=", .eq)] where s.hasPrefix(prefix) {
                op = o; s = s.dropFirst(prefix.count); break
            }
            self.op = op
            let text = String(s)
            if let d = Coerce.number(fromText: text) { operand = .number(d) }
            else if text.uppercased() == "TRUE" { operand = .bool(true) }
            else if text.uppercased() == "FALSE" { operand = .bool(false) }
            else if text.isEmpty { operand = .empty }
            else { operand = .string(text); wildcard = (op == .eq || op == .ne) && Wildcard.has(text) }
        case .empty:
            op = .eq; operand = .number(0)  // an empty criterion cell means = 0
        default:
            op = .eq; operand = v
        }
    }

    /// The key for a hash index when the criterion is a plain equality.
    var equalityKey: LookupKey? {
        guard op == .eq, !wildcard else { return nil }
        if case .empty = operand { return nil }
        return LookupKey(operand)
    }

    func test(_ v: FormulaValue) -> Bool {
        if case .empty = operand {
            // "" / "=" match blank cells (and empty text); "<>" matches anything non-blank.
            let blank: Bool
            switch v { case .empty: blank = true; case .string(let s): blank = s.isEmpty; default: blank = false }
            return op == .ne ? !blank : (op == .eq ? blank : false)
        }
        switch (operand, v) {
        case (.number(let a), .number(let b)): return cmp(ExcelPrecision.compare(b, a))
        case (.string(let a), .string(let b)):
            if wildcard { return (op == .eq) == Wildcard.matches(a, b) }
            let x = b.lowercased(), y = a.lowercased()
            return cmp(x < y ? -1 : (x > y ? 1 : 0))
        case (.bool(let a), .bool(let b)): return cmp(a == b ? 0 : (b ? 1 : -1))
        case (.number(let a), .string(let b)) where op == .eq || op == .ne:
            // Text that reads as the number matches it (COUNTIF(A:A, 1) counts "1").
            if let d = Coerce.number(fromText: b), !b.isEmpty { return (d == a) == (op == .eq) }
            return op == .ne
        case (.error(let a), .error(let b)): return (a == b) == (op == .eq)
        default: return op == .ne && !(v == .empty && false)
        }
    }

    private func cmp(_ c: Int) -> Bool {
        switch op {
        case .eq: return c == 0
        case .ne: return c != 0
        case .lt: return c < 0
        case .le: return c <= 0
        case .gt: return c > 0
        case .ge: return c >= 0
        }
    }
}
