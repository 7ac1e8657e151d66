import Foundation

// LOOKUP, the engineering base conversions and straight-line / declining-balance depreciation.
// Chosen by use: `scripts/corpus-functions.py` counts the functions in the corpus's formulas;
// DEC2BIN/DEC2OCT/DEC2HEX and the other base conversions were the most used ones missing
// (over 1,000 cells), then SLN and DB; LOOKUP is a classic of real workbooks (the newcomer's
// report, issue 11). Each follows its Excel documentation page ("<NAME> function").

extension EvalContext {
    /// The functions of this file, or nil for another name.
    mutating func callMore(_ name: String, _ args: [FormulaExpr]) throws -> Operand? {
        switch name {
        case "LOOKUP": return try lookup(args)
        case "SLN":
            try need(args, 3, 3)
            let cost = try num(args[0]), salvage = try num(args[1]), life = try num(args[2])
            return .value(life == 0 ? .error(FormulaErrors.div0) : Self.checked((cost - salvage) / life))
        case "DB": return .value(try db(args))
        default:
            guard name.count == 7, name.dropFirst(3).hasPrefix("2"),
                  let from = Self.radix(name.prefix(3)), let to = Self.radix(name.suffix(3)) else { return nil }
            return .value(try convertBase(args, from: from, to: to))
        }
    }

    // MARK: LOOKUP

    /// LOOKUP(value, lookup_vector, [result_vector]) and LOOKUP(value, array). Approximate match
    /// on data sorted ascending, by binary search as Excel does: the last value <= `value` (of
    /// the same type; others are stepped over, which is why `LOOKUP(2,1/(A:A<>""),A:A)` gives the
    /// last non-blank), #N/A when `value` is below the first. The array form searches the first
    /// row when the array is wider than tall, else the first column, and returns the last row's /
    /// column's value. A result vector is read by position from its first cell, along its length
    /// (Excel reads past its end when it is shorter).
    mutating func lookup(_ args: [FormulaExpr]) throws -> Operand {
        try need(args, 2, 3)
        let x = try scalarArg(args[0])
        if case .error(let e) = x { return .value(.error(e)) }
        let lookupOp = try eval(args[1])
        let area: SheetArea?
        let m: FormulaArray
        switch lookupOp {
        case .area(let a): area = a; m = try engine.matrix(a)
        case .array(let a): area = nil; m = a
        case .value(let v):
            if case .error(let e) = v { return .value(.error(e)) }
            area = nil; m = FormulaArray(rows: 1, columns: 1, values: [v])
        }
        let rows = area?.range.rowCount ?? m.rows, columns = area?.range.columnCount ?? m.columns
        guard m.rows > 0, m.columns > 0 else { return .value(.error(FormulaErrors.na)) }
        let horizontal = columns > rows
        let keys: [FormulaValue] = horizontal ? (0..<m.columns).map { m[0, $0] } : (0..<m.rows).map { m[$0, 0] }
        guard let p = Self.approximatePosition(x, in: keys) else { return .value(.error(FormulaErrors.na)) }
        guard args.count == 3 else {
            // Array form: the last row's / column's value at the match.
            if let a = area {
                return .value(horizontal ? try engine.value(a.sheet, a.range.end.row, a.range.start.column + p)
                                         : try engine.value(a.sheet, a.range.start.row + p, a.range.end.column))
            }
            return .value(horizontal ? m[m.rows - 1, p] : m[p, m.columns - 1])
        }
        switch try eval(args[2]) {
        case .area(let r):
            let across = r.range.rowCount == 1 && r.range.columnCount > 1
            let row = r.range.start.row + (across ? 0 : p), column = r.range.start.column + (across ? p : 0)
            guard row < CellRef.maxRows, column < CellRef.maxColumns else { return .value(.error(FormulaErrors.ref)) }
            return .value(try engine.value(r.sheet, row, column))
        case .array(let r):
            guard r.rows == 1 || r.columns == 1, p < r.values.count else { return .value(.error(FormulaErrors.na)) }
            return .value(r.values[p])
        case .value(let v):
            return .value(p == 0 ? v : .error(FormulaErrors.na))
        }
    }

    // MARK: Depreciation

    /// DB(cost, salvage, life, period, [month]): fixed-declining balance. The rate is
    /// 1 - (salvage/cost)^(1/life) rounded to three decimals; the first period is prorated by
    /// `month`/12, and when `month` < 12 a period life+1 takes the remainder. #NUM! for a
    /// negative cost or salvage, life or period <= 0, month outside 1...12, or a period past the life.
    mutating func db(_ args: [FormulaExpr]) throws -> FormulaValue {
        try need(args, 4, 5)
        let cost = try num(args[0]), salvage = try num(args[1]), life = try num(args[2])
        let period = try num(args[3]).rounded(.towardZero), month = try optNum(args, 4, 12).rounded(.towardZero)
        guard cost >= 0, salvage >= 0, life > 0, period > 0, month >= 1, month <= 12,
              period <= (month < 12 ? life + 1 : life) else { return .error(FormulaErrors.num) }
        if cost == 0 { return .number(0) }
        let rate = ((1 - pow(salvage / cost, 1 / life)) * 1000).rounded() / 1000
        var total = 0.0, d = cost * rate * month / 12
        if period == 1 { return Self.checked(d) }
        total = d
        var k = 2.0
        while k <= period {
            d = k > life ? (cost - total) * rate * (12 - month) / 12 : (cost - total) * rate
            total += d
            k += 1
        }
        return Self.checked(d)
    }

    // MARK: Base conversions

    static func radix(_ s: Substring) -> Int? {
        switch s { case "BIN": return 2; case "OCT": return 8; case "DEC": return 10; case "HEX": return 16; default: return nil }
    }

    /// Bits of the two's-complement form Excel uses: 10 binary digits, 10 octal (30 bits),
    /// 10 hex (40 bits); decimal results are plain numbers.
    static func bits(_ radix: Int) -> Int { radix == 2 ? 10 : (radix == 8 ? 30 : 40) }

    /// DEC2BIN ... HEX2OCT. Input: a decimal number (truncated), or up to 10 digits of the
    /// source base, where 10 digits with the top bit set are negative (two's complement).
    /// Output: decimal, or digits of the target base: a negative number as 10 digits (places
    /// ignored), else at least `places` digits (#NUM! when fewer than needed, negative or
    /// over 10). #NUM! when the value does not fit the target (BIN -512...511, OCT -2^29...,
    /// HEX -2^39...) or the input is not valid digits; #VALUE! for a logical or non-numeric places.
    mutating func convertBase(_ args: [FormulaExpr], from: Int, to: Int) throws -> FormulaValue {
        try need(args, 1, to == 10 ? 1 : 2)
        let input = try scalarArg(args[0])
        let value: Int
        switch input {
        case .error(let e): return .error(e)
        case .bool: return .error(FormulaErrors.value)
        default:
            if from == 10 {
                guard case .success(let d) = Self.toNumber(input) else { return .error(FormulaErrors.value) }
                guard abs(d) < 1e15 else { return .error(FormulaErrors.num) }
                value = Int(d.rounded(.towardZero))
            } else {
                guard let v = Self.parseDigits(Coerce.text(input), radix: from) else { return .error(FormulaErrors.num) }
                value = v
            }
        }
        if to == 10 { return .number(Double(value)) }
        let bits = Self.bits(to)
        guard value >= -(1 << (bits - 1)), value < 1 << (bits - 1) else { return .error(FormulaErrors.num) }
        if value < 0 { return .string(String(value + (1 << bits), radix: to).uppercased()) }
        var digits = String(value, radix: to).uppercased()
        if args.count == 2, args[1] != .missing {
            let places = try num(args[1]).rounded(.towardZero)
            guard places >= Double(digits.count), places <= 10 else { return .error(FormulaErrors.num) }
            digits = String(repeating: "0", count: Int(places) - digits.count) + digits
        }
        return .string(digits)
    }

    /// Up to 10 digits of `radix` (blank is 0); 10 digits with the top bit set are negative.
    static func parseDigits(_ s: String, radix: Int) -> Int? {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard t.count <= 10 else { return nil }
        if t.isEmpty { return 0 }
        guard t.allSatisfy({ $0.isASCII && $0.isHexDigit }), let u = Int(t, radix: radix) else { return nil }
        let bits = bits(radix)
        return t.count == 10 && u >= 1 << (bits - 1) ? u - (1 << bits) : u
    }
}
