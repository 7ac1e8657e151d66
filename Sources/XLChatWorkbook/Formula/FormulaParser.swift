// Excel A1 formula text -> syntax tree. The grammar and operator precedence follow Excel's
// documented "Calculation operators and precedence" (support.microsoft.com, "The order in which
// Excel performs operations in formulas"): `:` (range), ` ` (intersection), `,` (union), `-`
// (negation), `%`, `^`, `*` `/`, `+` `-`, `&`, comparisons. Negation binds tighter than `^`
// (`=-2^2` is 4 in Excel). Formula text is as OOXML stores it (ECMA-376 Part 1, §18.17): no
// leading `=`, `_xlfn.` prefixes on newer functions, `[n]` workbook indexes on external references.

/// One area a reference names: a cell, a range, whole columns (`A:C`) or whole rows (`2:5`).
/// Whole columns and rows are stored as full-height / full-width ranges.
public struct FormulaArea: Sendable, Hashable {
    /// The sheet named in the reference (`Sheet2!A1`); nil for the formula's own sheet.
    public var sheet: String?
    /// The external workbook (`[1]` in `[1]Sheet1!A1`); nil for this workbook.
    public var externalBook: String?
    public var range: CellRange
    /// The last sheet of a 3-D reference (`Jan:Dec!B2`: `sheet` Jan, `lastSheet` Dec), which
    /// spans the sheets from `sheet` to `lastSheet` in workbook order; nil otherwise.
    public var lastSheet: String?
    public init(sheet: String?, externalBook: String? = nil, range: CellRange, lastSheet: String? = nil) {
        self.sheet = sheet; self.externalBook = externalBook; self.range = range; self.lastSheet = lastSheet
    }
    public var isWholeColumns: Bool { range.start.row == 0 && range.end.row == CellRef.maxRows - 1 }
    public var isWholeRows: Bool { range.start.column == 0 && range.end.column == CellRef.maxColumns - 1 }
    /// `A1`, `B2:D9`, `A:C`, `2:5`, without the sheet.
    public var rangeText: String {
        if isWholeColumns && !isWholeRows { return A1.columnName(range.start.column) + ":" + A1.columnName(range.end.column) }
        if isWholeRows && !isWholeColumns { return "\(range.start.row + 1):\(range.end.row + 1)" }
        return range.description
    }
}

/// Binary operators, in Excel's meaning.
public enum FormulaOperator: String, Sendable, Hashable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", power = "^", concat = "&"
    case equal = "=", notEqual = "<>", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case range = ":"
}

/// The parsed formula.
public indirect enum FormulaExpr: Sendable, Hashable {
    case number(Double)
    case string(String)
    case bool(Bool)
    case error(String)
    /// An omitted argument (`IF(A1,,2)`).
    case missing
    case reference(FormulaArea)
    /// A defined name (`Totals`, `Sheet1!LocalName`).
    case name(String, sheet: String?)
    /// A function call; the name upper-cased with `_xlfn.`/`_xlws.` prefixes removed.
    case call(String, [FormulaExpr])
    case negate(FormulaExpr)
    case plus(FormulaExpr)
    case percent(FormulaExpr)
    case binary(FormulaOperator, FormulaExpr, FormulaExpr)
    /// An array constant `{1,2;3,4}`: rows of columns.
    case array([[FormulaExpr]])
    /// A structured reference to a table (ListObject): `Table1[Amount]`, `Table1[[#Totals],[Amount]]`,
    /// `[@Qty]` (no table: the one holding the formula). `spec` is the bracketed part as written.
    case structured(table: String?, spec: String)
    /// A construct the evaluator does not take (unions, intersections), kept with its text.
    case unsupported(String)
}

/// Why formula text could not be parsed; `position` is a character offset in the text.
public struct FormulaParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var position: Int
    public var description: String { "\(message) at character \(position + 1)" }
}

public enum FormulaParser {
    /// Excel allows 64 levels of nested functions and 8,192 characters of formula text
    /// (Excel specifications and limits); text beyond these bounds is refused rather than
    /// recursed into, so hostile input (1,000 nested parentheses) costs a bounded stack.
    public static let maxDepth = 256
    public static let maxLength = 32_768

    /// Parses formula text (with or without a leading `=`). Throws `FormulaParseError` when the
    /// text is not a formula Excel would accept, nests deeper than `maxDepth`, or is longer
    /// than `maxLength` characters.
    public static func parse(_ text: String) throws -> FormulaExpr {
        var chars = Array(text.unicodeScalars)
        if chars.first == "=" { chars.removeFirst() }
        guard chars.count <= maxLength else {
            throw FormulaParseError(message: "formula longer than \(maxLength) characters", position: maxLength)
        }
        var p = Parser(s: chars)
        p.skipSpaces()
        if p.atEnd { throw FormulaParseError(message: "empty formula", position: 0) }
        let e = try p.comparison()
        p.skipSpaces()
        guard p.atEnd else { throw p.fail("unexpected '\(String(p.s[p.i]))'") }
        return e
    }
}

private struct Parser {
    let s: [Unicode.Scalar]
    var i = 0
    var depth = 0

    init(s: [Unicode.Scalar]) { self.s = s }

    var atEnd: Bool { i >= s.count }

    /// The text of `s[range]`. ASCII (nearly all formula text) is copied as bytes: building a
    /// String scalar by scalar cost a third of parsing time (callgrind, 100k generated cells).
    func text(_ range: Range<Int>) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(range.count)
        for k in range {
            let v = s[k].value
            guard v < 0x80 else {
                var out = String.UnicodeScalarView()
                out.append(contentsOf: s[range])
                return String(out)
            }
            bytes.append(UInt8(v))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The number the ASCII digits of `s[range]` spell (at most 7 of them, as row numbers).
    func digitsValue(_ range: Range<Int>) -> Int {
        var n = 0
        for k in range { n = n * 10 + Int(s[k].value - 48) }
        return n
    }

    /// The column index the letters of `s[range]` spell (`A` = 0, at most `XFD`), or nil.
    func columnValue(_ range: Range<Int>) -> Int? {
        guard range.count >= 1, range.count <= 3 else { return nil }
        var n = 0
        for k in range { n = n * 26 + Int((s[k].value | 0x20) - 96) }
        return n <= CellRef.maxColumns ? n - 1 : nil
    }
    func peek(_ k: Int = 0) -> Unicode.Scalar? { i + k < s.count ? s[i + k] : nil }
    func fail(_ m: String) -> FormulaParseError { FormulaParseError(message: m, position: i) }

    mutating func skipSpaces() {
        while let c = peek(), c == " " || c == "\n" || c == "\r" || c == "\t" || c == "\u{A0}" { i += 1 }
    }

    mutating func enter() throws {
        depth += 1
        if depth > FormulaParser.maxDepth { throw fail("formula nested deeper than \(FormulaParser.maxDepth) levels") }
    }

    // comparison := concat (cmp concat)*
    mutating func comparison() throws -> FormulaExpr {
        try enter(); defer { depth -= 1 }
        var l = try concat()
        while true {
            skipSpaces()
            guard let c = peek() else { return l }
            let op: FormulaOperator
            if c == "=" { op = .equal; i += 1 }
            else if c == "<" && peek(1) == ">" { op = .notEqual; i += 2 }
            else if c == "<" && peek(1) == "=" { op = .lessEqual; i += 2 }
            else if c == ">" && peek(1) == "=" { op = .greaterEqual; i += 2 }
            else if c == "<" { op = .less; i += 1 }
            else if c == ">" { op = .greater; i += 1 }
            else { return l }
            let r = try concat()
            l = .binary(op, l, r)
        }
    }

    mutating func concat() throws -> FormulaExpr {
        var l = try additive()
        while true {
            skipSpaces()
            guard peek() == "&" else { return l }
            i += 1
            l = .binary(.concat, l, try additive())
        }
    }

    mutating func additive() throws -> FormulaExpr {
        var l = try multiplicative()
        while true {
            skipSpaces()
            guard let c = peek(), c == "+" || c == "-" else { return l }
            i += 1
            l = .binary(c == "+" ? .add : .subtract, l, try multiplicative())
        }
    }

    mutating func multiplicative() throws -> FormulaExpr {
        var l = try power()
        while true {
            skipSpaces()
            guard let c = peek(), c == "*" || c == "/" else { return l }
            i += 1
            l = .binary(c == "*" ? .multiply : .divide, l, try power())
        }
    }

    // `^` is left-associative in Excel (=2^3^2 is 64).
    mutating func power() throws -> FormulaExpr {
        var l = try postfix()
        while true {
            skipSpaces()
            guard peek() == "^" else { return l }
            i += 1
            l = .binary(.power, l, try postfix())
        }
    }

    mutating func postfix() throws -> FormulaExpr {
        var e = try unary()
        while true {
            skipSpaces()
            guard peek() == "%" else { return e }
            i += 1
            e = .percent(e)
        }
    }

    mutating func unary() throws -> FormulaExpr {
        skipSpaces()
        if let c = peek(), c == "-" || c == "+" {
            i += 1
            try enter(); defer { depth -= 1 }
            let e = try unary()
            return c == "-" ? .negate(e) : .plus(e)
        }
        return try rangeExpr()
    }

    // range := primary (':' primary)*
    mutating func rangeExpr() throws -> FormulaExpr {
        var l = try primary()
        while peek() == ":" {
            i += 1
            l = .binary(.range, l, try primary())
        }
        return l
    }

    mutating func primary() throws -> FormulaExpr {
        skipSpaces()
        guard let c = peek() else { throw fail("formula ends where a value was expected") }
        switch c {
        case "(":
            i += 1
            let e = try comparison()
            skipSpaces()
            if peek() == "," {
                // A union `(A1,B2)`: kept unevaluated.
                var level = 1
                let start = i
                while let d = peek(), level > 0 { if d == "(" { level += 1 } else if d == ")" { level -= 1 }; i += 1 }
                guard level == 0 else { throw fail("missing ')'") }
                return .unsupported("union (" + text(start..<(i - 1)) + ")")
            }
            guard peek() == ")" else { throw fail("missing ')'") }
            i += 1
            return e
        case "\"":
            return .string(try stringLiteral())
        case "{":
            return try arrayConstant()
        case "#":
            return try errorLiteral()
        case "0"..."9", ".":
            if let r = try rowRange(sheet: nil, book: nil) { return r }
            return .number(try number())
        default:
            return try referenceOrName()
        }
    }

    mutating func stringLiteral() throws -> String {
        i += 1
        var out = String.UnicodeScalarView()
        while true {
            guard let c = peek() else { throw fail("unterminated string") }
            i += 1
            if c == "\"" {
                if peek() == "\"" { out.append("\""); i += 1; continue }
                return String(out)
            }
            out.append(c)
        }
    }

    static let errors = ["#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#UNKNOWN!", "#BUSY!"]

    mutating func errorLiteral() throws -> FormulaExpr {
        let rest = text(i..<min(s.count, i + 14)).uppercased()
        for e in Parser.errors where rest.hasPrefix(e) {
            i += e.unicodeScalars.count
            return .error(e)
        }
        throw fail("unknown error literal")
    }

    mutating func number() throws -> Double {
        let start = i
        while let c = peek(), ("0"..."9").contains(c) || c == "." { i += 1 }
        if let c = peek(), c == "e" || c == "E" {
            var j = i + 1
            if let d = (j < s.count ? s[j] : nil), d == "+" || d == "-" { j += 1 }
            if j < s.count, ("0"..."9").contains(s[j]) {
                i = j
                while let c = peek(), ("0"..."9").contains(c) { i += 1 }
            }
        }
        let literal = text(start..<i)
        guard let d = Double(literal) else { throw FormulaParseError(message: "bad number '\(literal)'", position: start) }
        return d
    }

    mutating func arrayConstant() throws -> FormulaExpr {
        i += 1
        var rows: [[FormulaExpr]] = [[]]
        while true {
            skipSpaces()
            var sign = 1.0
            if peek() == "-" { sign = -1; i += 1 } else if peek() == "+" { i += 1 }
            guard let c = peek() else { throw fail("unterminated array constant") }
            let v: FormulaExpr
            switch c {
            case "\"": v = .string(try stringLiteral())
            case "#": v = try errorLiteral()
            case "0"..."9", ".": v = .number(sign * (try number()))
            default:
                let w = identifier().uppercased()
                if w == "TRUE" { v = .bool(true) } else if w == "FALSE" { v = .bool(false) } else { throw fail("bad array constant element") }
            }
            rows[rows.count - 1].append(v)
            skipSpaces()
            guard let d = peek() else { throw fail("unterminated array constant") }
            i += 1
            if d == "," { continue }
            if d == ";" { rows.append([]); continue }
            if d == "}" { break }
            throw FormulaParseError(message: "bad array constant separator", position: i - 1)
        }
        let width = rows[0].count
        guard rows.allSatisfy({ $0.count == width }) else { throw fail("array constant rows differ in length") }
        return .array(rows)
    }

    static func isIdentStart(_ c: Unicode.Scalar) -> Bool {
        ("A"..."Z").contains(c) || ("a"..."z").contains(c) || c == "_" || c == "\\" || c.value >= 0x80
    }
    static func isIdent(_ c: Unicode.Scalar) -> Bool {
        isIdentStart(c) || ("0"..."9").contains(c) || c == "." || c == "?"
    }

    mutating func identifier() -> String {
        let start = i
        while let c = peek(), Parser.isIdent(c) { i += 1 }
        return text(start..<i)
    }

    /// `$A$1`, `A1` at the cursor: (row, column) and the cursor after it; nil if none.
    func cellRef(at k: Int) -> (CellRef, Int)? {
        var j = k
        if j < s.count, s[j] == "$" { j += 1 }
        let ls = j
        while j < s.count, ("A"..."Z").contains(s[j]) || ("a"..."z").contains(s[j]) { j += 1 }
        guard j > ls, j - ls <= 3 else { return nil }
        let letters = ls..<j
        if j < s.count, s[j] == "$" { j += 1 }
        let ds = j
        while j < s.count, ("0"..."9").contains(s[j]) { j += 1 }
        guard j > ds, j - ds <= 7 else { return nil }
        if j < s.count, Parser.isIdent(s[j]) || s[j] == "(" || s[j] == "!" { return nil }
        let row = digitsValue(ds..<j)
        guard let col = columnValue(letters), row >= 1, row <= CellRef.maxRows else { return nil }
        return (CellRef(row: row - 1, column: col), j)
    }

    func columnOnly(at k: Int) -> (Int, Int)? {
        var j = k
        if j < s.count, s[j] == "$" { j += 1 }
        let ls = j
        while j < s.count, ("A"..."Z").contains(s[j]) || ("a"..."z").contains(s[j]) { j += 1 }
        guard j > ls, j - ls <= 3, let col = columnValue(ls..<j) else { return nil }
        if j < s.count, Parser.isIdent(s[j]) || s[j] == "(" { return nil }
        return (col, j)
    }

    func rowOnly(at k: Int) -> (Int, Int)? {
        var j = k
        if j < s.count, s[j] == "$" { j += 1 }
        let ds = j
        while j < s.count, ("0"..."9").contains(s[j]) { j += 1 }
        guard j > ds, j - ds <= 7 else { return nil }
        let row = digitsValue(ds..<j)
        guard row >= 1, row <= CellRef.maxRows else { return nil }
        if j < s.count, Parser.isIdent(s[j]) || s[j] == "(" || s[j] == "." { return nil }
        return (row - 1, j)
    }

    /// `2:5`, `$2:$5` at the cursor.
    mutating func rowRange(sheet: String?, book: String?) throws -> FormulaExpr? {
        guard let (r1, j) = rowOnly(at: i), j < s.count, s[j] == ":", let (r2, k) = rowOnly(at: j + 1) else { return nil }
        i = k
        return .reference(FormulaArea(sheet: sheet, externalBook: book,
                                      range: CellRange(rows: min(r1, r2)...max(r1, r2), columns: 0...(CellRef.maxColumns - 1))))
    }

    /// After an optional sheet prefix: a cell, a range, whole columns or rows.
    mutating func area(sheet: String?, book: String?) throws -> FormulaExpr? {
        if let (a, j) = cellRef(at: i) {
            if j < s.count, s[j] == ":", let (b, k) = cellRef(at: j + 1) {
                i = k
                return .reference(FormulaArea(sheet: sheet, externalBook: book, range: CellRange(start: a, end: b)))
            }
            i = j
            return .reference(FormulaArea(sheet: sheet, externalBook: book, range: CellRange(start: a, end: a)))
        }
        if let (c1, j) = columnOnly(at: i), j < s.count, s[j] == ":", let (c2, k) = columnOnly(at: j + 1) {
            i = k
            return .reference(FormulaArea(sheet: sheet, externalBook: book,
                                          range: CellRange(rows: 0...(CellRef.maxRows - 1), columns: min(c1, c2)...max(c1, c2))))
        }
        if let r = try rowRange(sheet: sheet, book: book) { return r }
        return nil
    }

    /// The position after the bracket opening at `p` and its nested brackets (`'` escapes the
    /// next character in a structured reference's column name); the text's end when unclosed.
    func bracketEnd(from p: Int) -> Int {
        var level = 0, k = p
        while k < s.count {
            let d = s[k]
            if d == "'" { k += 2; continue }
            if d == "[" { level += 1 } else if d == "]" { level -= 1 }
            k += 1
            if level == 0 { break }
        }
        return min(k, s.count)
    }

    mutating func referenceOrName() throws -> FormulaExpr {
        let start = i
        var sheet: String? = nil
        var book: String? = nil
        // Sheet prefix: 'quoted name'!, [n]Name!, Name!
        if peek() == "'" {
            var j = i + 1
            var name = String.UnicodeScalarView()
            while j < s.count {
                if s[j] == "'" { if j + 1 < s.count, s[j + 1] == "'" { name.append("'"); j += 2; continue }; break }
                name.append(s[j]); j += 1
            }
            guard j + 1 < s.count, s[j + 1] == "!" else { throw fail("a quoted name must be followed by '!'") }
            i = j + 2
            sheet = String(name)
        } else if peek() == "[", case let end = bracketEnd(from: i), !(end < s.count && (s[end] == "!" || Parser.isIdent(s[end]))) {
            // `[@Qty]`, `[Amount]`, `[[#This Row],[Qty]]`: a structured reference inside a table
            // (an external reference `[1]Sheet1!A1` has a sheet name and `!` after the bracket).
            let specStart = i
            i = end
            return .structured(table: nil, spec: text(specStart..<end))
        } else if peek() == "[" {
            var j = i + 1
            while j < s.count, s[j] != "]" { j += 1 }
            guard j < s.count else { throw fail("missing ']'") }
            book = text((i + 1)..<j)
            i = j + 1
            let nameStart = i
            while let c = peek(), c != "!" , Parser.isIdent(c) || c == " " { i += 1 }
            if peek() == "!" {
                sheet = text(nameStart..<i); i += 1
            } else {
                // `[1]!Name` or a workbook-level external name.
                return .reference(FormulaArea(sheet: nil, externalBook: book, range: CellRange(start: CellRef(row: 0, column: 0), end: CellRef(row: 0, column: 0))))
            }
        } else {
            // An unquoted sheet name followed by `!` (may start with a digit only when quoted).
            var j = i
            while j < s.count, Parser.isIdent(s[j]) { j += 1 }
            if j < s.count, s[j] == "!", j > i {
                sheet = text(i..<j)
                i = j + 1
            } else if j < s.count, s[j] == ":", j > i {
                // `Sheet1:Sheet3!A1`, `Jan:Mar!B2`: a 3-D reference (names that read as columns
                // too: the `!` after the second decides).
                var k = j + 1
                while k < s.count, Parser.isIdent(s[k]) { k += 1 }
                if k < s.count, s[k] == "!" {
                    let first = text(i..<j), last = text((j + 1)..<k)
                    i = k + 1
                    guard case .reference(var a)? = try area(sheet: first, book: nil) else {
                        return .unsupported("3-D reference " + text(start..<i))
                    }
                    a.lastSheet = last
                    return .reference(a)
                }
            }
        }
        if let sheetName = sheet, sheetName.contains("["), book == nil,
           let open = sheetName.firstIndex(of: "["), let close = sheetName.firstIndex(of: "]") {
            // '[1]Sheet 1'!A1 or 'C:\path\[Book.xlsx]Sheet'!A1
            book = String(sheetName[sheetName.index(after: open)..<close])
            sheet = String(sheetName[sheetName.index(after: close)...])
        }
        // 'Jan 2024:Dec 2024'!B2: a 3-D reference (Excel allows no ':' in a sheet's name).
        if book == nil, let name = sheet, let colon = name.firstIndex(of: ":"), case .reference(var a)? = try area(sheet: String(name[..<colon]), book: nil) {
            a.lastSheet = String(name[name.index(after: colon)...])
            return .reference(a)
        }
        if let r = try area(sheet: sheet, book: book) { return r }
        if sheet != nil && peek() == "#" {
            if case .error(let e) = try errorLiteral() { return .error(e) }
        }
        guard let c = peek(), Parser.isIdentStart(c) else {
            throw FormulaParseError(message: "unexpected '\(peek().map { String($0) } ?? "end")'", position: i)
        }
        let word = identifier()
        skipSpaces()
        if peek() == "(" && sheet == nil && book == nil {
            i += 1
            var args: [FormulaExpr] = []
            skipSpaces()
            if peek() == ")" { i += 1; return .call(Parser.functionName(word), args) }
            while true {
                skipSpaces()
                if let d = peek(), d == "," || d == ")" { args.append(.missing) } else { args.append(try comparison()) }
                skipSpaces()
                guard let d = peek() else { throw fail("missing ')' after the arguments of \(word)") }
                i += 1
                if d == "," { continue }
                if d == ")" { break }
                throw FormulaParseError(message: "unexpected '\(String(d))' in the arguments of \(word)", position: i - 1)
            }
            return .call(Parser.functionName(word), args)
        }
        if peek() == "[" {
            // A structured reference `Table1[Column]` / `Table1[[#This Row],[Col]]`.
            let specStart = i
            i = bracketEnd(from: i)
            return .structured(table: word, spec: text(specStart..<i))
        }
        if book != nil { return .reference(FormulaArea(sheet: sheet, externalBook: book, range: CellRange(start: CellRef(row: 0, column: 0), end: CellRef(row: 0, column: 0)))) }
        let upper = word.uppercased()
        if sheet == nil && upper == "TRUE" { return .bool(true) }
        if sheet == nil && upper == "FALSE" { return .bool(false) }
        return .name(word, sheet: sheet)
    }

    static func functionName(_ word: String) -> String {
        var u = word.uppercased()
        for prefix in ["_XLFN._XLWS.", "_XLFN.", "_XLWS.", "_XLUDF."] where u.hasPrefix(prefix) { u.removeFirst(prefix.count) }
        return u
    }
}
