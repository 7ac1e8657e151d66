import Foundation

/// Checks every number in an answer against the numbers the model was shown (tool results,
/// data blocks of the prompt) and the question. Formatting is tolerated: thousands separators
/// and currency signs (`$1,250.00` = `1250`), rounding to the precision the answer shows
/// (`33.3` for `33.3333`), and percentages (`12.5%` for `0.125` or `12.5`). Dates and times
/// (`2024-03-05`, `10:30`) must appear verbatim. Ordinal-like tokens (`3rd`), words with
/// digits (`Q3`, `B12`) and list markers (`1. `) are not numbers.
public enum Grounding {
    /// A number as written in a text.
    public struct Token: Sendable, Hashable {
        public var text: String
        public var value: Double
        public var decimals: Int
        public var percent: Bool
        /// A date or time, compared as text.
        public var isLiteral: Bool
    }

    /// The numbers of `answer` found neither in `evidence` nor in `question`, as written.
    public static func ungrounded(answer: String, evidence: [String], question: String) -> [String] {
        let sources = evidence + [question]
        var values: [Double] = []
        var literals = Set<String>()
        for text in sources {
            for t in tokens(in: text) {
                if t.isLiteral {
                    literals.insert(t.text)
                    // "in 2024" is grounded by a date 2024-03-05.
                    for part in t.text.split(whereSeparator: { !$0.isNumber }) { if let v = Double(part) { values.append(v) } }
                    continue
                }
                values.append(t.value)
                if t.percent { values.append(t.value / 100) }
            }
        }
        let joinedEvidence = sources.joined(separator: "\n")
        var out: [String] = []
        for t in tokens(in: answer, skipListMarkers: true) {
            if t.isLiteral {
                if !literals.contains(t.text) && !joinedEvidence.contains(t.text) { out.append(t.text) }
                continue
            }
            if !values.contains(where: { matches(t, $0) }) && !out.contains(t.text) { out.append(t.text) }
        }
        return out
    }

    /// Whether the answer's number `a` can stand for the source value `e`.
    static func matches(_ a: Token, _ e: Double) -> Bool {
        var candidates: [(Double, Double)] = [(a.value, 0.5 * pow(10, -Double(a.decimals)))]
        if a.percent { candidates.append((a.value / 100, 0.5 * pow(10, -Double(a.decimals + 2)))) }
        for (v, tol) in candidates {
            if abs(v - e) <= tol + 1e-9 * max(1, abs(e)) { return true }
            // A negative shown without its sign ("a loss of 120" for -120).
            if abs(abs(v) - abs(e)) <= tol + 1e-9 * max(1, abs(e)) && e < 0 { return true }
        }
        return false
    }

    /// The numbers, dates and times in `text`.
    public static func tokens(in text: String, skipListMarkers: Bool = false) -> [Token] {
        let c = Array(text.unicodeScalars)
        var out: [Token] = []
        var i = 0
        func isDigit(_ k: Int) -> Bool { k >= 0 && k < c.count && c[k].properties.numericType == .decimal && c[k].isASCII }
        func isWordChar(_ k: Int) -> Bool {
            k >= 0 && k < c.count && (c[k].properties.isAlphabetic || c[k] == "_" || isDigit(k))
        }
        while i < c.count {
            guard isDigit(i), !isWordChar(i - 1), !(i > 0 && c[i - 1] == "." && isDigit(i - 2)) else { i += 1; continue }
            // An HTML character reference (&#34;), which small models emit: not a number.
            if i >= 2, c[i - 1] == "#", c[i - 2] == "&" {
                while isDigit(i) { i += 1 }
                continue
            }
            let start = i
            var j = i
            while isDigit(j) { j += 1 }
            // A date or time: digits joined by - / : . (e.g. 2024-03-05, 05/03/2024, 10:30:00)
            if j < c.count, c[j] == "-" || c[j] == "/" || c[j] == ":", isDigit(j + 1), j - start <= 4 {
                var k = j
                while k < c.count && (isDigit(k) || ((c[k] == "-" || c[k] == "/" || c[k] == ":" || c[k] == "T" || c[k] == ".") && isDigit(k + 1))) { k += 1 }
                let literal = String(String.UnicodeScalarView(c[start..<k]))
                if !isWordChar(k) { out.append(Token(text: literal, value: 0, decimals: 0, percent: false, isLiteral: true)) }
                i = k
                continue
            }
            // thousands groups
            while j - start <= 3 || c[start..<j].contains(","), j < c.count, c[j] == ",", isDigit(j + 1), isDigit(j + 2), isDigit(j + 3), !isDigit(j + 4) { j += 4 }
            var decimals = 0
            if j < c.count, c[j] == ".", isDigit(j + 1) {
                j += 1
                while isDigit(j) { j += 1; decimals += 1 }
            }
            var percent = false
            if j < c.count, c[j] == "%" { percent = true }
            if isWordChar(j) { // 3rd, 10x, 2024Q1: not a plain number
                while isWordChar(j) { j += 1 }
                i = j
                continue
            }
            let digits = String(String.UnicodeScalarView(c[start..<j])).replacingOccurrences(of: ",", with: "")
            guard var value = Double(digits) else { i = j; continue }
            var textStart = start
            if start > 0, c[start - 1] == "-" || c[start - 1] == "\u{2212}", !isWordChar(start - 2) {
                value = -value
                textStart = start - 1
            }
            if skipListMarkers, decimals == 0, !percent, j < c.count, c[j] == "." || c[j] == ")",
               j + 1 >= c.count || c[j + 1] == " " {
                // a list marker when only spaces precede it on its line
                var k = start - 1
                while k >= 0 && (c[k] == " " || c[k] == "\t") { k -= 1 }
                if k < 0 || c[k] == "\n" { i = j + 1; continue }
            }
            let shown = String(String.UnicodeScalarView(c[textStart..<(percent ? j + 1 : j)]))
            out.append(Token(text: shown, value: value, decimals: decimals, percent: percent, isLiteral: false))
            i = percent ? j + 1 : j
        }
        return out
    }
}
