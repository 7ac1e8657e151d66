import Foundation

// Parsed formulas (BIFF8 in xls, BIFF12 in xlsb) as Excel shows them: one token model that both
// decoders produce (`BIFFFormula`), and one renderer that turns the tokens (reverse Polish, as the
// file stores them) back into A1 text without the leading `=`.

/// One cell address of a reference, resolved to absolute coordinates (relative offsets of shared
/// formulas already applied), with the `$` flags as written.
struct FormulaAddress: Sendable, Hashable {
    var row: Int
    var column: Int
    var rowRelative: Bool
    var columnRelative: Bool
}

/// A value inside an array constant (`{1,"a";TRUE,#N/A}`).
enum FormulaConstant: Sendable, Hashable {
    case empty, number(Double), string(String), bool(Bool), error(String)
}

/// The operators of Excel formulas, by the ptg that stores them ([MS-XLS] 2.5.198.25).
enum TokenOperator: Sendable, Hashable {
    case add, subtract, multiply, divide, power, concat
    case less, lessEqual, equal, greaterEqual, greater, notEqual
    case intersect, union, range

    var symbol: String {
        switch self {
        case .add: return "+"
        case .subtract: return "-"
        case .multiply: return "*"
        case .divide: return "/"
        case .power: return "^"
        case .concat: return "&"
        case .less: return "<"
        case .lessEqual: return "<="
        case .equal: return "="
        case .greaterEqual: return ">="
        case .greater: return ">"
        case .notEqual: return "<>"
        case .intersect: return " "
        case .union: return ","
        case .range: return ":"
        }
    }

    /// Excel's precedence, highest first: `:`, space, `,`, negation, `%`, `^`, `* /`, `+ -`,
    /// `&`, comparisons (Excel help, "The order in which Excel performs operations in formulas").
    /// All binary operators are left-associative (`2^3^2` is 64).
    var precedence: Int {
        switch self {
        case .range: return FormulaRenderer.Prec.range
        case .intersect: return FormulaRenderer.Prec.intersect
        case .union: return FormulaRenderer.Prec.union
        case .power: return FormulaRenderer.Prec.power
        case .multiply, .divide: return FormulaRenderer.Prec.multiply
        case .add, .subtract: return FormulaRenderer.Prec.add
        case .concat: return FormulaRenderer.Prec.concat
        case .less, .lessEqual, .equal, .greaterEqual, .greater, .notEqual: return FormulaRenderer.Prec.compare
        }
    }
}

/// One token of a parsed formula, in the file's (reverse Polish) order.
enum FormulaToken: Sendable, Hashable {
    case number(Double)
    case string(String)
    case bool(Bool)
    case error(String)
    case missingArgument
    case array([[FormulaConstant]])
    /// A single cell; `sheet` is the rendered sheet prefix (`Sheet2`, `'My Sheet'`, `[1]Data`,
    /// `Sheet1:Sheet3`, `#REF` for a deleted sheet) or nil for the formula's own sheet.
    case cell(FormulaAddress, sheet: String?)
    case area(FormulaAddress, FormulaAddress, sheet: String?)
    /// A reference made invalid (`#REF!`), with its sheet prefix when it had one.
    case referenceError(sheet: String?)
    /// A defined name, an external name, or a table reference, already as text.
    case name(String)
    case binary(TokenOperator)
    case unaryPlus, unaryMinus, percent
    /// Parentheses the author wrote.
    case parentheses
    /// A function call over the top `arguments` operands.
    case function(String, arguments: Int)
    /// A user-defined / add-in / future function: its name is the bottom operand of the
    /// `arguments` operands (PtgFuncVar 255 over a PtgName / PtgNameX).
    case namedFunction(arguments: Int)
    /// Whitespace the author typed (PtgAttrSpace): it goes before the next token's text,
    /// or before `)` when `beforeClose`.
    case space(String, beforeClose: Bool)
}

/// A formula that could not be turned into text: what is wrong, for that cell only.
struct FormulaDecodeError: Error, Sendable, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Turns tokens into A1 text. Parentheses are those the file stores (PtgParen) plus the fewest
/// Excel's precedence needs when a writer left them out; a union inside a function's arguments
/// is always parenthesised (`SUM((A1,B1))`), since `,` there separates arguments.
struct FormulaRenderer {
    enum Prec {
        static let compare = 10, concat = 15, add = 20, multiply = 30, power = 40, percent = 50, unary = 60
        static let union = 70, intersect = 80, range = 90, atom = 100
    }

    /// The sheet's last row and column (0-based): a reference spanning all rows renders as a
    /// whole-column reference (`A:A`), one spanning all columns as a whole-row one (`1:1`).
    var lastRow: Int
    var lastColumn: Int

    /// Excel refuses formulas longer than 8,192 characters; twice that bounds the text (and the
    /// work of deeply nested input) while leaving room for the `$` and sheet prefixes we add.
    static let maxLength = 16_384

    private struct Node { var text: String; var prec: Int }

    func render(_ tokens: [FormulaToken]) throws -> String {
        var stack: [Node] = []
        var pending = ""
        func pop() throws -> Node {
            guard let n = stack.popLast() else { throw FormulaDecodeError("an operator has fewer operands than it needs") }
            return n
        }
        func push(_ text: String, _ prec: Int) throws {
            guard text.utf8.count <= FormulaRenderer.maxLength else {
                throw FormulaDecodeError("the formula is longer than \(FormulaRenderer.maxLength) characters (Excel's limit is 8,192)")
            }
            stack.append(Node(text: text, prec: prec))
        }
        func takePending() -> String { defer { pending = "" }; return pending }
        func wrap(_ n: Node, below prec: Int) -> String { n.prec < prec ? "(" + n.text + ")" : n.text }
        func arguments(_ count: Int) throws -> [String] {
            guard count <= stack.count else {
                throw FormulaDecodeError("a function takes \(count) arguments but only \(stack.count) are on the stack")
            }
            let args = stack.suffix(count).map { $0.prec == Prec.union ? "(" + $0.text + ")" : $0.text }
            stack.removeLast(count)
            return args
        }

        for token in tokens {
            switch token {
            case .space(let s, let beforeClose):
                if beforeClose, let top = stack.popLast() {
                    // Spaces before a closing parenthesis: the next token is the PtgParen.
                    stack.append(Node(text: top.text + s, prec: top.prec))
                } else {
                    pending += s
                }
                continue
            case .number(let v): try push(takePending() + FormulaRenderer.number(v), Prec.atom)
            case .string(let s): try push(takePending() + FormulaRenderer.quote(s), Prec.atom)
            case .bool(let b): try push(takePending() + (b ? "TRUE" : "FALSE"), Prec.atom)
            case .error(let e): try push(takePending() + e, Prec.atom)
            case .missingArgument: try push(takePending(), Prec.atom)
            case .array(let rows): try push(takePending() + FormulaRenderer.array(rows), Prec.atom)
            case .cell(let a, let sheet): try push(takePending() + prefix(sheet) + address(a), Prec.atom)
            case .area(let a, let b, let sheet): try push(takePending() + prefix(sheet) + area(a, b), Prec.atom)
            case .referenceError(let sheet): try push(takePending() + prefix(sheet) + "#REF!", Prec.atom)
            case .name(let n): try push(takePending() + n, Prec.atom)
            case .binary(let op):
                let right = try pop(), left = try pop()
                let p = op.precedence
                let l = wrap(left, below: p)
                let r = right.prec <= p ? "(" + right.text + ")" : right.text
                try push(l + takePending() + op.symbol + r, p)
            case .unaryPlus, .unaryMinus:
                let operand = try pop()
                try push(takePending() + (token == .unaryPlus ? "+" : "-") + wrap(operand, below: Prec.unary), Prec.unary)
            case .percent:
                let operand = try pop()
                try push(wrap(operand, below: Prec.percent) + takePending() + "%", Prec.percent)
            case .parentheses:
                let operand = try pop()
                try push(takePending() + "(" + operand.text + ")", Prec.atom)
            case .function(let name, let count):
                let args = try arguments(count)
                try push(takePending() + name + "(" + args.joined(separator: ",") + ")", Prec.atom)
            case .namedFunction(let count):
                guard count >= 1 else { throw FormulaDecodeError("a user-defined function call has no function name") }
                var args = try arguments(count)
                let name = args.removeFirst()
                try push(takePending() + FormulaRenderer.functionName(name) + "(" + args.joined(separator: ",") + ")", Prec.atom)
            }
        }
        guard stack.count == 1 else {
            throw FormulaDecodeError(stack.isEmpty ? "the formula has no tokens" : "the formula leaves \(stack.count) operands where one result belongs")
        }
        return stack[0].text
    }

    private func prefix(_ sheet: String?) -> String { sheet.map { $0 + "!" } ?? "" }

    private func address(_ a: FormulaAddress) -> String {
        (a.columnRelative ? "" : "$") + A1.columnName(a.column) + (a.rowRelative ? "" : "$") + String(a.row + 1)
    }

    private func area(_ a: FormulaAddress, _ b: FormulaAddress) -> String {
        if a.row == 0 && b.row == lastRow && a.rowRelative == b.rowRelative && a.row != b.row {
            // Whole columns (`A:A`, `$B:$D`).
            return (a.columnRelative ? "" : "$") + A1.columnName(a.column) + ":" + (b.columnRelative ? "" : "$") + A1.columnName(b.column)
        }
        if a.column == 0 && b.column == lastColumn && a.columnRelative == b.columnRelative && a.column != b.column {
            // Whole rows (`1:1`, `$3:$5`).
            return (a.rowRelative ? "" : "$") + String(a.row + 1) + ":" + (b.rowRelative ? "" : "$") + String(b.row + 1)
        }
        return address(a) + ":" + address(b)
    }

    /// A user-defined function's name. Functions Excel 2007 made built-in (IFERROR, SUMIFS, ...)
    /// are written without the `_xlfn.` prefix, as xlsx stores them; later ones keep it, as xlsx does.
    static func functionName(_ name: String) -> String {
        if name.hasPrefix("_xlfn.") {
            let bare = String(name.dropFirst(6))
            if FunctionTable.names.contains(bare.uppercased()) { return bare }
        }
        return name
    }

    /// A string literal: in double quotes, a quote doubled.
    static func quote(_ s: String) -> String {
        "\"" + (s.contains("\"") ? s.replacingOccurrences(of: "\"", with: "\"\"") : s) + "\""
    }

    /// A number as a formula shows it: integers plainly, others in the shortest form that reads
    /// back the same, with Excel's capital `E` exponent (`1.5E+20`).
    static func number(_ v: Double) -> String {
        if v.isFinite && v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        var s = "\(v)"
        if let e = s.firstIndex(of: "e") {
            let mantissa = s[..<e], exp = s[s.index(after: e)...]
            let sign = exp.hasPrefix("-") ? "-" : "+"
            var digits = exp.drop { $0 == "-" || $0 == "+" }
            while digits.count > 2 && digits.first == "0" { digits = digits.dropFirst() }
            s = String(mantissa) + "E" + sign + (digits.count < 2 ? "0" + digits : String(digits))
        }
        return s
    }

    static func array(_ rows: [[FormulaConstant]]) -> String {
        "{" + rows.map { row in
            row.map { c -> String in
                switch c {
                case .empty: return ""
                case .number(let v): return number(v)
                case .string(let s): return quote(s)
                case .bool(let b): return b ? "TRUE" : "FALSE"
                case .error(let e): return e
                }
            }.joined(separator: ",")
        }.joined(separator: ";") + "}"
    }
}
