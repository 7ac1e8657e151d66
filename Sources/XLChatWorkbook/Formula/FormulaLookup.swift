import Foundation

// Lookup, reference and conditional-aggregate functions. Exact matches and equality criteria
// go through a hash index built once per range (`FormulaEngine.exactIndex` / `multiIndex`), so
// 30,000 VLOOKUPs into a 10,000-row table cost 10,000 + 30,000 hash operations, not 3e8
// comparisons (measured by `xlchat-bench formulas`).

extension EvalContext {
    static func at(_ m: FormulaArray, _ r: Int, _ c: Int) -> FormulaValue {
        r < m.rows && c < m.columns ? m[r, c] : .empty
    }

    /// SUMIF(S), COUNTIF(S), AVERAGEIF(S), MINIFS, MAXIFS over same-shaped areas. Equality
    /// criteria use the range's hash index; otherwise only the cells that exist are visited (a
    /// criterion that matches blanks counts the missing cells arithmetically), so `A:XFD` costs
    /// the sheet's cells, not 17 billion.
    mutating func conditional(_ kind: String, target: SheetArea, criteria: [(SheetArea, Criterion)]) throws -> FormulaValue {
        let key = ConditionalKey(kind: kind, target: target, criteria: criteria.map(\.0), tests: criteria.map(\.1))
        if let known = engine.conditionalResults[key] { return known }
        let result = try computeConditional(kind, target: target, criteria: criteria)
        if engine.conditionalResults.count < 1_000_000 { engine.conditionalResults[key] = result }
        return result
    }

    private mutating func computeConditional(_ kind: String, target: SheetArea, criteria: [(SheetArea, Criterion)]) throws -> FormulaValue {
        let rows = criteria[0].0.range.rowCount, cols = criteria[0].0.range.columnCount
        func valueAt(_ a: SheetArea, _ r: Int, _ c: Int) throws -> FormulaValue {
            let row = a.range.start.row + r, col = a.range.start.column + c
            guard row < CellRef.maxRows, col < CellRef.maxColumns else { return .empty }
            return try engine.value(a.sheet, row, col)
        }
        var candidates: [(Int, Int)]? = nil
        // The criterion whose hash index gave the candidates: they all pass it (the index
        // groups values as its test does: numbers by value, text case-insensitively, plus text
        // reading as the number), so it is not tested again.
        var indexed: Int? = nil
        for (n, (a, c)) in criteria.enumerated() {
            guard let key = c.equalityKey else { continue }
            let idx = try engine.multiIndex(a)
            var list = idx[key] ?? []
            // A numeric criterion also matches text that reads as the number.
            if case .number(let d) = key {
                for (tk, positions) in idx { if case .text(let t) = tk, Coerce.number(fromText: t) == d { list += positions } }
                list.sort()
            }
            if candidates == nil || list.count < candidates!.count { candidates = list.map { ($0 / cols, $0 % cols) }; indexed = n }
        }
        var blanksToAdd = 0
        if candidates == nil {
            let first = criteria[0]
            if !first.1.test(.empty) {
                var list: [(Int, Int)] = []
                try engine.forEachStoredCell(first.0) { r, c in list.append((r - first.0.range.start.row, c - first.0.range.start.column)); return true }
                candidates = list
            } else {
                // Blanks match: the stored cells are tested, the rest counted as matching blanks
                // when every criterion accepts a blank.
                var list: [(Int, Int)] = []
                var seen = Set<Int>()
                for a in criteria.map(\.0) + (kind == "COUNT" ? [] : [target]) {
                    try engine.forEachStoredCell(a) { r, c in
                        let p = (r - a.range.start.row) * cols + (c - a.range.start.column)
                        if seen.insert(p).inserted { list.append((p / cols, p % cols)) }
                        return true
                    }
                }
                candidates = list
                if criteria.allSatisfy({ $0.1.test(.empty) }) {
                    let blankTargets = rows * cols - list.count
                    if kind == "COUNT" { blanksToAdd = blankTargets }
                }
            }
        }
        var count = blanksToAdd, sum = 0.0, lo = Double.infinity, hi = -Double.infinity, numeric = 0
        var firstError: String? = nil
        for (r, c) in candidates! {
            try engine.tick()
            var ok = true
            for (n, (a, crit)) in criteria.enumerated() where n != indexed {
                if try !crit.test(valueAt(a, r, c)) { ok = false; break }
            }
            guard ok else { continue }
            count += 1
            guard kind != "COUNT" else { continue }
            switch try valueAt(target, r, c) {
            case .number(let d): sum += d; numeric += 1; lo = min(lo, d); hi = max(hi, d)
            case .error(let e): if firstError == nil { firstError = e }
            default: break
            }
        }
        if let e = firstError { return .error(e) }
        switch kind {
        case "COUNT": return .number(Double(count))
        case "SUM": return Self.checked(sum)
        case "AVERAGE": return numeric == 0 ? .error(FormulaErrors.div0) : .number(sum / Double(numeric))
        case "MIN": return .number(numeric == 0 ? 0 : lo)
        case "MAX": return .number(numeric == 0 ? 0 : hi)
        default: return .error(FormulaErrors.value)
        }
    }

    /// A lookup vector: its values, and (for an area) the area for the index cache.
    mutating func vector(_ e: FormulaExpr) throws -> (values: FormulaArray, area: SheetArea?) {
        switch try eval(e) {
        case .area(let a): return (try engine.matrix(a), a)
        case .array(let m): return (m, nil)
        case .value(let v):
            if case .error(let c) = v { throw ErrorValue(code: c) }
            return (FormulaArray(rows: 1, columns: 1, values: [v]), nil)
        }
    }

    /// Position of an exact match of `x` in the 1-D `values` (first, or last when `reverse`):
    /// wildcards when `wildcards` and x is text with `*?~`; else the hash index for areas.
    mutating func exactPosition(_ x: FormulaValue, in values: [FormulaValue], area: SheetArea?, wildcards: Bool, reverse: Bool = false) throws -> Int? {
        if case .string(let s) = x, wildcards, Wildcard.has(s) {
            let order = reverse ? Array(values.indices.reversed()) : Array(values.indices)
            for k in order { if case .string(let t) = values[k], Wildcard.matches(s, t) { return k } }
            return nil
        }
        guard let key = LookupKey(x) else {
            if case .empty = x { return try exactPosition(.number(0), in: values, area: area, wildcards: false, reverse: reverse) }
            return nil
        }
        if let a = area, !reverse, values.count > 8 { return try engine.exactIndex(a)[key] }
        let order = reverse ? Array(values.indices.reversed()) : Array(values.indices)
        for k in order where LookupKey(values[k]) == key { return k }
        return nil
    }

    /// Approximate match over sorted data by binary search, as Excel does (MATCH type 1 / -1,
    /// VLOOKUP TRUE): the last position whose value is <= x (ascending), or the last >= x
    /// (descending). Values of another type than x are stepped over.
    static func approximatePosition(_ x: FormulaValue, in values: [FormulaValue], descending: Bool = false) -> Int? {
        var lo = 0, hi = values.count - 1, found: Int? = nil
        while lo <= hi {
            var mid = (lo + hi) >> 1
            // Step over blanks and other types towards lo.
            let m0 = mid
            while mid >= lo, !sameKind(values[mid], x) || values[mid] == .empty { mid -= 1 }
            if mid < lo { lo = m0 + 1; continue }
            let c = compare(values[mid], x)
            if descending ? c >= 0 : c <= 0 { found = mid; lo = m0 + 1 } else { hi = mid - 1 }
        }
        return found
    }

    mutating func vhlookup(_ args: [FormulaExpr], vertical: Bool) throws -> FormulaValue {
        try need(args, 3, 4)
        let x = try scalarArg(args[0])
        if case .error(let e) = x { return .error(e) }
        if case .area(let a) = try eval(args[1]) { return try areaLookup(x, a, args, vertical: vertical) }
        let (table, area) = try vector(args[1])
        let fullRows = area?.range.rowCount ?? table.rows, fullCols = area?.range.columnCount ?? table.columns
        let k = Int(try num(args[2]))
        guard k >= 1 else { return .error(FormulaErrors.value) }
        guard k <= (vertical ? fullCols : fullRows) else { return .error(FormulaErrors.ref) }
        let approximate = args.count < 4 || args[3] == .missing ? true : try bool(args[3])
        let keyCount = vertical ? table.rows : table.columns
        var keys: [FormulaValue] = []
        keys.reserveCapacity(keyCount)
        for i in 0..<keyCount { keys.append(vertical ? table[i, 0] : table[0, i]) }
        let keyArea = area.map { a in
            SheetArea(sheet: a.sheet, range: vertical
                ? CellRange(start: a.range.start, end: CellRef(row: a.range.start.row + table.rows - 1, column: a.range.start.column))
                : CellRange(start: a.range.start, end: CellRef(row: a.range.start.row, column: a.range.start.column + table.columns - 1)))
        }
        let pos = approximate ? Self.approximatePosition(x, in: keys) : try exactPosition(x, in: keys, area: keyArea, wildcards: true)
        guard let p = pos else { return .error(FormulaErrors.na) }
        return vertical ? Self.at(table, p, k - 1) : Self.at(table, k - 1, p)
    }

    /// VLOOKUP / HLOOKUP over a reference: only the key column (or row) is read, through its
    /// index; the result is the one cell at the match.
    mutating func areaLookup(_ x: FormulaValue, _ a: SheetArea, _ args: [FormulaExpr], vertical: Bool) throws -> FormulaValue {
        let k = Int(try num(args[2]))
        guard k >= 1 else { return .error(FormulaErrors.value) }
        guard k <= (vertical ? a.range.columnCount : a.range.rowCount) else { return .error(FormulaErrors.ref) }
        let approximate = args.count < 4 || args[3] == .missing ? true : try bool(args[3])
        let keyArea = SheetArea(sheet: a.sheet, range: vertical
            ? CellRange(start: a.range.start, end: CellRef(row: a.range.end.row, column: a.range.start.column))
            : CellRange(start: a.range.start, end: CellRef(row: a.range.start.row, column: a.range.end.column)))
        let keys = try engine.matrix(keyArea).values
        let pos = approximate ? Self.approximatePosition(x, in: keys) : try exactPosition(x, in: keys, area: keyArea, wildcards: true)
        guard let p = pos else { return .error(FormulaErrors.na) }
        return vertical ? try engine.value(a.sheet, a.range.start.row + p, a.range.start.column + k - 1)
                        : try engine.value(a.sheet, a.range.start.row + k - 1, a.range.start.column + p)
    }

    mutating func match(_ args: [FormulaExpr]) throws -> FormulaValue {
        try need(args, 2, 3)
        let x = try scalarArg(args[0])
        if case .error(let e) = x { return .error(e) }
        let (m, area) = try vector(args[1])
        guard m.rows == 1 || m.columns == 1 else { return .error(FormulaErrors.na) }
        let type = Int(try optNum(args, 2, 1))
        let pos: Int?
        switch type {
        case 0: pos = try exactPosition(x, in: m.values, area: area, wildcards: true)
        case let t where t > 0: pos = Self.approximatePosition(x, in: m.values)
        default: pos = Self.approximatePosition(x, in: m.values, descending: true)
        }
        return pos.map { .number(Double($0 + 1)) } ?? .error(FormulaErrors.na)
    }

    /// XMATCH / XLOOKUP's search: match_mode 0 exact, -1 exact or next smaller, 1 exact or next
    /// larger, 2 wildcard; search_mode 1 first-to-last, -1 last-to-first, 2 / -2 binary.
    mutating func xposition(_ x: FormulaValue, _ values: [FormulaValue], area: SheetArea?, matchMode: Int, searchMode: Int) throws -> Int? {
        let reverse = searchMode == -1
        switch matchMode {
        case 0, 2:
            if abs(searchMode) == 2 {
                guard let p = Self.approximatePosition(x, in: values, descending: searchMode == -2), Self.compare(values[p], x) == 0 else { return nil }
                return p
            }
            if matchMode == 0, case .string(let s) = x, Wildcard.has(s) {
                let order = reverse ? Array(values.indices.reversed()) : Array(values.indices)
                for k in order where Self.compare(values[k], x) == 0 && Self.sameKind(values[k], x) { return k }
                return nil
            }
            return try exactPosition(x, in: values, area: area, wildcards: matchMode == 2, reverse: reverse)
        case -1, 1:
            if let p = try exactPosition(x, in: values, area: area, wildcards: false, reverse: reverse) { return p }
            var best: Int? = nil
            for k in values.indices where Self.sameKind(values[k], x) && values[k] != .empty {
                let c = Self.compare(values[k], x)
                guard matchMode == -1 ? c < 0 : c > 0 else { continue }
                if let b = best {
                    let better = matchMode == -1 ? Self.compare(values[k], values[b]) > 0 : Self.compare(values[k], values[b]) < 0
                    if better || (reverse && Self.compare(values[k], values[b]) == 0) { best = k }
                } else { best = k }
            }
            return best
        default: throw ErrorValue(code: FormulaErrors.value)
        }
    }

    mutating func xmatch(_ args: [FormulaExpr]) throws -> FormulaValue {
        try need(args, 2, 4)
        let x = try scalarArg(args[0])
        if case .error(let e) = x { return .error(e) }
        let (m, area) = try vector(args[1])
        guard m.rows == 1 || m.columns == 1 else { return .error(FormulaErrors.value) }
        let p = try xposition(x, m.values, area: area, matchMode: Int(try optNum(args, 2, 0)), searchMode: Int(try optNum(args, 3, 1)))
        return p.map { .number(Double($0 + 1)) } ?? .error(FormulaErrors.na)
    }

    mutating func xlookup(_ args: [FormulaExpr]) throws -> Operand {
        try need(args, 3, 6)
        let x = try scalarArg(args[0])
        if case .error(let e) = x { return .value(.error(e)) }
        let (m, area) = try vector(args[1])
        guard m.rows == 1 || m.columns == 1 else { return .value(.error(FormulaErrors.value)) }
        let p = try xposition(x, m.values, area: area, matchMode: Int(try optNum(args, 4, 0)), searchMode: Int(try optNum(args, 5, 1)))
        guard let pos = p else {
            if args.count > 3, args[3] != .missing { return try eval(args[3]) }
            return .value(.error(FormulaErrors.na))
        }
        let vertical = m.columns == 1 && (area?.range.columnCount ?? m.columns) == 1 && m.rows != 1 || (m.columns == 1 && m.rows == 1)
        switch try eval(args[2]) {
        case .area(let r):
            // XLOOKUP returns a reference: the matching row (vertical lookup) or column.
            if vertical {
                guard pos < r.range.rowCount else { return .value(.error(FormulaErrors.value)) }
                let row = r.range.start.row + pos
                return .area(SheetArea(sheet: r.sheet, range: CellRange(start: CellRef(row: row, column: r.range.start.column), end: CellRef(row: row, column: r.range.end.column))))
            }
            guard pos < r.range.columnCount else { return .value(.error(FormulaErrors.value)) }
            let col = r.range.start.column + pos
            return .area(SheetArea(sheet: r.sheet, range: CellRange(start: CellRef(row: r.range.start.row, column: col), end: CellRef(row: r.range.end.row, column: col))))
        case .array(let ra):
            if vertical {
                guard pos < ra.rows else { return .value(.error(FormulaErrors.value)) }
                return .array(FormulaArray(rows: 1, columns: ra.columns, values: Array(ra.values[(pos * ra.columns)..<((pos + 1) * ra.columns)])))
            }
            guard pos < ra.columns else { return .value(.error(FormulaErrors.value)) }
            return .array(FormulaArray(rows: ra.rows, columns: 1, values: (0..<ra.rows).map { ra[$0, pos] }))
        case .value(let v): return .value(v)
        }
    }

    /// INDEX(reference, row, [column]): a reference to the cell (or the whole row / column when
    /// 0), or the element of an array. Out of range is #REF!.
    mutating func index(_ args: [FormulaExpr]) throws -> Operand {
        try need(args, 2, 4)
        let source = try eval(args[0])
        var r = Int(try optNum(args, 1, 0)), c = Int(try optNum(args, 2, 0))
        let rows: Int, cols: Int
        switch source {
        case .area(let a): rows = a.range.rowCount; cols = a.range.columnCount
        case .array(let m): rows = m.rows; cols = m.columns
        case .value(let v):
            if case .error(let e) = v { return .value(.error(e)) }
            rows = 1; cols = 1
        }
        // A single row or column takes its one index as the position along it.
        if args.count == 2 || args[2] == .missing {
            if rows == 1 && cols > 1 { c = r; r = 1 }
        }
        guard r >= 0, c >= 0, r <= rows, c <= cols else { return .value(.error(FormulaErrors.ref)) }
        switch source {
        case .area(let a):
            let r0 = r == 0 ? a.range.start.row : a.range.start.row + r - 1
            let r1 = r == 0 ? a.range.end.row : r0
            let c0 = c == 0 ? a.range.start.column : a.range.start.column + c - 1
            let c1 = c == 0 ? a.range.end.column : c0
            if cols > 1 && c == 0 && rows > 1 && r != 0 && args.count == 2 { return .value(.error(FormulaErrors.ref)) }
            return .area(SheetArea(sheet: a.sheet, range: CellRange(rows: r0...r1, columns: c0...c1)))
        case .array(let m):
            if r == 0 && c == 0 { return .array(m) }
            if r == 0 { return .array(FormulaArray(rows: m.rows, columns: 1, values: (0..<m.rows).map { m[$0, c - 1] })) }
            if c == 0 {
                if m.columns == 1 { return .value(m[r - 1, 0]) }
                return .array(FormulaArray(rows: 1, columns: m.columns, values: Array(m.values[((r - 1) * m.columns)..<(r * m.columns)])))
            }
            return .value(m[r - 1, c - 1])
        case .value(let v): return .value(v)
        }
    }

    mutating func offset(_ args: [FormulaExpr]) throws -> Operand {
        try need(args, 3, 5)
        guard let a = try area(args[0]) else { return .value(.error(FormulaErrors.value)) }
        let dr = Int(try num(args[1])), dc = Int(try num(args[2]))
        let h = Int(try optNum(args, 3, Double(a.range.rowCount))), w = Int(try optNum(args, 4, Double(a.range.columnCount)))
        let r0 = a.range.start.row + dr, c0 = a.range.start.column + dc
        guard h != 0, w != 0 else { return .value(.error(FormulaErrors.ref)) }
        let r1 = r0 + (h > 0 ? h - 1 : h + 1), c1 = c0 + (w > 0 ? w - 1 : w + 1)
        for v in [r0, r1] where v < 0 || v >= CellRef.maxRows { return .value(.error(FormulaErrors.ref)) }
        for v in [c0, c1] where v < 0 || v >= CellRef.maxColumns { return .value(.error(FormulaErrors.ref)) }
        return .area(SheetArea(sheet: a.sheet, range: CellRange(start: CellRef(row: r0, column: c0), end: CellRef(row: r1, column: c1))))
    }

    /// INDIRECT(text, [a1]): an A1 reference or a defined name of this workbook; R1C1 text and
    /// other workbooks give #REF!.
    mutating func indirect(_ args: [FormulaExpr]) throws -> Operand {
        try need(args, 1, 2)
        let text = try str(args[0])
        if args.count == 2, args[1] != .missing, try !bool(args[1]) { return .value(.error(FormulaErrors.ref)) }
        guard let expr = try? FormulaParser.parse(text) else { return .value(.error(FormulaErrors.ref)) }
        switch expr {
        case .reference(let area):
            if area.externalBook != nil { return .value(.error(FormulaErrors.ref)) }
            return try reference(area)
        case .binary(.range, .reference, .reference): return try eval(expr)
        case .name:
            let r = try eval(expr)
            if case .area = r { return r }
            return .value(.error(FormulaErrors.ref))
        default: return .value(.error(FormulaErrors.ref))
        }
    }
}

/// TEXT(value, format) for the common number formats: `0`, `0.00`, `#,##0.00`, `0%`,
/// `0.0E+00`, currency and literal text around them, and date/time codes (`yyyy-mm-dd`,
/// `dd/mm/yyyy`, `mmm d, yyyy`, `dddd`, `hh:mm:ss`, `AM/PM`). Sections `pos;neg;zero` pick by sign.
enum TextFormat {
    static func format(_ x: Double, _ raw: String) -> String {
        if raw.isEmpty { return "" }
        if raw.lowercased() == "general" { return Coerce.text(x) }
        let sections = splitSections(raw)
        var fmt = sections[0]
        var value = x
        if sections.count > 1 && x < 0 { fmt = sections[1]; value = -x }
        else if sections.count > 2 && x == 0 { fmt = sections[2] }
        let lower = fmt.lowercased()
        let stripped = lower.replacingOccurrences(of: "\"[^\"]*\"", with: "", options: .regularExpression)
        if stripped.contains("y") || stripped.contains("d") || stripped.contains("h") || stripped.contains("s") || (stripped.contains("m") && !stripped.contains("0") && !stripped.contains("#")) {
            return date(value, fmt)
        }
        return number(value, fmt, negative: x < 0 && sections.count == 1)
    }

    static func splitSections(_ s: String) -> [String] {
        var out: [String] = [], cur = "", quoted = false
        for ch in s {
            if ch == "\"" { quoted.toggle() }
            if ch == ";" && !quoted { out.append(cur); cur = "" } else { cur.append(ch) }
        }
        out.append(cur)
        return out
    }

    static func number(_ x: Double, _ fmt: String, negative: Bool) -> String {
        // Split the format into literal prefix, the numeric pattern, and suffix.
        var prefix = "", pattern = "", suffix = "", quoted = false, inPattern = false, donePattern = false
        var chars = Array(fmt)
        var k = 0
        while k < chars.count {
            let ch = chars[k]
            if ch == "\"" { quoted.toggle(); k += 1; continue }
            if ch == "\\" && k + 1 < chars.count && !quoted { (donePattern || inPattern ? { suffix.append(chars[k + 1]) } : { prefix.append(chars[k + 1]) })(); k += 2; continue }
            if !quoted && "0#?.,".contains(ch) && !donePattern { inPattern = true; pattern.append(ch) }
            else if !quoted && (ch == "E" || ch == "e") && inPattern && k + 1 < chars.count && (chars[k + 1] == "+" || chars[k + 1] == "-") {
                pattern.append(contentsOf: String(chars[k...]).prefix { "Ee+-0".contains($0) }); k += pattern.count; donePattern = true; continue
            }
            else if inPattern { donePattern = true; if !(ch == "_" || ch == "*") { suffix.append(ch) } else { k += 1 } }
            else if ch == "_" || ch == "*" { k += 1 }
            else if ch != "[" { prefix.append(ch) } else { while k < chars.count && chars[k] != "]" { k += 1 } }
            k += 1
        }
        chars = []
        var v = x
        let percents = (prefix + suffix).filter { $0 == "%" }.count
        for _ in 0..<percents { v *= 100 }
        if let e = pattern.firstIndex(where: { $0 == "E" || $0 == "e" }) {
            let mant = String(pattern[..<e])
            let decimals = mant.split(separator: ".").dropFirst().first?.count ?? 0
            var s = String(format: "%.\(decimals)E", abs(v))
            if let ei = s.firstIndex(of: "E") {
                let expPart = Int(s[s.index(after: ei)...]) ?? 0
                s = String(s[..<ei]) + "E" + (expPart < 0 ? "-" : "+") + String(format: "%02d", abs(expPart))
            }
            return (negative ? "-" : "") + prefix + s + suffix
        }
        // Trailing commas scale by 1,000 each.
        var p = pattern
        while p.hasSuffix(",") { p.removeLast(); v /= 1000 }
        let parts = p.split(separator: ".", omittingEmptySubsequences: false)
        let intPattern = String(parts[0])
        let fracPattern = parts.count > 1 ? String(parts[1]) : ""
        let decimals = fracPattern.filter { $0 == "0" || $0 == "#" || $0 == "?" }.count
        let minDecimals = fracPattern.filter { $0 == "0" }.count
        let grouping = intPattern.contains(",")
        let minInt = intPattern.filter { $0 == "0" }.count
        let rounded = EvalContext.round(abs(v), decimals, mode: "ROUND")
        var s = String(format: "%.\(decimals)f", rounded)
        var intPart = String(s.split(separator: ".").first ?? "0")
        var frac = s.contains(".") ? String(s.split(separator: ".")[1]) : ""
        while frac.count > minDecimals && frac.hasSuffix("0") { frac.removeLast() }
        if intPart == "0" && minInt == 0 { intPart = "" }
        while intPart.count < minInt { intPart = "0" + intPart }
        if grouping && intPart.count > 3 {
            var g = ""
            for (i, ch) in intPart.reversed().enumerated() { if i > 0 && i % 3 == 0 { g.append(",") }; g.append(ch) }
            intPart = String(g.reversed())
        }
        s = intPart + (frac.isEmpty ? (fracPattern.isEmpty ? "" : (decimals > 0 && minDecimals == 0 ? "." : "")) : "." + frac)
        if pattern.isEmpty { s = "" }
        return (negative && rounded != 0 ? "-" : "") + prefix + s + suffix
    }

    static func date(_ serial: Double, _ fmt: String) -> String {
        let c = DateMath.civil(serial)
        let secsTotal = Int(((serial - serial.rounded(.down)) * 86400).rounded())
        var hour = secsTotal / 3600, minute = (secsTotal / 60) % 60, second = secsTotal % 60
        if hour >= 24 { hour -= 24 }
        let ampm = fmt.lowercased().contains("am/pm") || fmt.lowercased().contains("a/p")
        var out = ""
        let chars = Array(fmt)
        var k = 0
        var lastWasHour = false
        func run(_ ch: Character) -> Int { var n = 0; while k + n < chars.count && chars[k + n].lowercased() == ch.lowercased() { n += 1 }; return n }
        while k < chars.count {
            let ch = chars[k]
            let l = Character(ch.lowercased())
            switch l {
            case "\"":
                k += 1
                while k < chars.count && chars[k] != "\"" { out.append(chars[k]); k += 1 }
                k += 1
            case "\\": if k + 1 < chars.count { out.append(chars[k + 1]) }; k += 2
            case "y":
                let n = run("y"); k += n
                out += n <= 2 ? String(format: "%02d", c.year % 100) : String(c.year)
            case "d":
                let n = run("d"); k += n
                let wd = DateMath.weekday(serial) - 1
                switch n {
                case 1: out += String(c.day)
                case 2: out += String(format: "%02d", c.day)
                case 3: out += String(DateMath.dayNames[wd].prefix(3))
                default: out += DateMath.dayNames[wd]
                }
            case "m":
                let n = run("m")
                // m after h (or before s) is minutes.
                var isMinute = lastWasHour
                var j = k + n
                while j < chars.count && !"ymdhs".contains(chars[j].lowercased()) { j += 1 }
                if j < chars.count && chars[j].lowercased() == "s" { isMinute = true }
                k += n
                if isMinute && n <= 2 { out += n == 2 ? String(format: "%02d", minute) : String(minute) }
                else {
                    let name = DateMath.monthNames[c.month - 1].capitalized
                    switch n {
                    case 1: out += String(c.month)
                    case 2: out += String(format: "%02d", c.month)
                    case 3: out += String(name.prefix(3))
                    case 5: out += String(name.prefix(1))
                    default: out += name
                    }
                }
            case "h":
                let n = run("h"); k += n
                var h = hour
                if ampm { h = hour % 12; if h == 0 { h = 12 } }
                out += n >= 2 ? String(format: "%02d", h) : String(h)
                lastWasHour = true
                continue
            case "s":
                let n = run("s"); k += n
                out += n >= 2 ? String(format: "%02d", second) : String(second)
            case "a":
                if fmt.count >= k + 5, String(chars[k..<(k + 5)]).lowercased() == "am/pm" { out += hour < 12 ? "AM" : "PM"; k += 5 }
                else if fmt.count >= k + 3, String(chars[k..<(k + 3)]).lowercased() == "a/p" { out += hour < 12 ? "A" : "P"; k += 3 }
                else { out.append(ch); k += 1 }
            case "[": while k < chars.count && chars[k] != "]" { k += 1 }; k += 1
            default: out.append(ch); k += 1
            }
            if l != " " && l != ":" { lastWasHour = false }
        }
        return out
    }
}
