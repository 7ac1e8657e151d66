import Foundation
// Which number formats make a number a date, a date-time, a time of day or a duration.
// Shared by every reader whose cells are numbers plus a format (xlsx, xlsb, xls).

public enum NumberFormats {
    /// Built-in format ids that are temporal (ECMA-376 Part 1, 18.8.30; ids 14-22, 45-47),
    /// plus the CJK locale ids Excel maps to dates (27-36, 50-58).
    public static func builtinKind(_ id: Int) -> TemporalKind? {
        switch id {
        case 14, 15, 16, 17: return .date
        case 18, 19, 20, 21: return .time
        case 22: return .dateTime
        case 45, 47: return .time
        case 46: return .duration
        case 27...31, 34...36, 50...58: return .date
        case 32, 33: return .time
        default: return nil
        }
    }

    /// The currency a format code shows in its first section (`"$"#,##0.00`, `[$€-407] #,##0`,
    /// `#,##0 \\£`, `#,##0 "kr"`), as `Currency` key + 1; 0 when it shows none. Literal text
    /// comes from quotes, `\\`-escapes, `[$symbol-locale]` tags and a bare `$` (ECMA-376 Part 1,
    /// 18.8.31: `$ - + / ( ) :` and space display without quotes).
    static func currencyKey(_ code: String) -> UInt8 {
        var literal = ""
        var it = code.makeIterator()
        var quoted = false
        while let c = it.next() {
            if quoted {
                if c == "\"" { quoted = false; literal.append(" ") } else { literal.append(c) }
                continue
            }
            switch c {
            case ";": return currencyKey(literal: literal)
            case "\"": quoted = true
            case "\\": if let n = it.next() { literal.append(n) }
            case "[":
                var inner = ""
                while let n = it.next(), n != "]" { inner.append(n) }
                if inner.hasPrefix("$") {
                    literal += " " + inner.dropFirst().prefix { $0 != "-" } + " "
                }
            case "$", "€", "£", "¥", "₹", "₩", "₽", "₺", "₪", "฿", "₱", "₫": literal.append(c)
            default: break
            }
        }
        return currencyKey(literal: literal)
    }

    private static func currencyKey(literal: String) -> UInt8 {
        let t = literal.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty else { return 0 }
        for (spelling, key) in Currency.spellings.sorted(by: { $0.0.count > $1.0.count }) where t.contains(spelling) {
            return UInt8(Currency.keys.firstIndex(of: key)! + 1)
        }
        return 0
    }

    /// The format code Excel uses for a built-in id, for display and for the formula text.
    public static func builtinCode(_ id: Int) -> String? {
        switch id {
        case 0: return "General"
        case 1: return "0"
        case 2: return "0.00"
        case 3: return "#,##0"
        case 4: return "#,##0.00"
        case 9: return "0%"
        case 10: return "0.00%"
        case 11: return "0.00E+00"
        case 12: return "# ?/?"
        case 13: return "# ??/??"
        case 14: return "mm-dd-yy"
        case 15: return "d-mmm-yy"
        case 16: return "d-mmm"
        case 17: return "mmm-yy"
        case 18: return "h:mm AM/PM"
        case 19: return "h:mm:ss AM/PM"
        case 20: return "h:mm"
        case 21: return "h:mm:ss"
        case 22: return "m/d/yy h:mm"
        case 37: return "#,##0 ;(#,##0)"
        case 38: return "#,##0 ;[Red](#,##0)"
        case 39: return "#,##0.00;(#,##0.00)"
        case 40: return "#,##0.00;[Red](#,##0.00)"
        case 45: return "mm:ss"
        case 46: return "[h]:mm:ss"
        case 47: return "mmss.0"
        case 48: return "##0.0E+0"
        case 49: return "@"
        default: return nil
        }
    }

    /// The temporal kind of a custom format code, or nil when it formats plain numbers or text.
    /// Only the first section (before `;`) decides, as in Excel. Quoted text, `\`-escaped and
    /// `_`/`*` padding characters, colours and conditions in brackets are skipped; `[h]`, `[m]`
    /// and `[s]` make a duration; `[$-409]` locale tags are ignored.
    public static func customKind(_ code: String) -> TemporalKind? {
        var hasDate = false, hasTime = false, hasElapsed = false
        var bytes = Array(code.utf8)
        if bytes.isEmpty { return nil }
        // "General" alone is a number.
        if bytes.count == 7, String(decoding: bytes, as: UTF8.self).lowercased() == "general" { return nil }
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: ";"):
                i = n  // only the first section
                continue
            case UInt8(ascii: "\""):
                i += 1
                while i < n && bytes[i] != UInt8(ascii: "\"") { i += 1 }
            case UInt8(ascii: "\\"), UInt8(ascii: "_"), UInt8(ascii: "*"):
                i += 1  // skip the escaped / padding character
            case UInt8(ascii: "["):
                var j = i + 1
                while j < n && bytes[j] != UInt8(ascii: "]") { j += 1 }
                let inner = bytes[(i + 1)..<min(j, n)].map { $0 | 0x20 }
                if !inner.isEmpty && inner.allSatisfy({ $0 == UInt8(ascii: "h") || $0 == UInt8(ascii: "m") || $0 == UInt8(ascii: "s") }) {
                    hasElapsed = true
                }
                i = j
            case UInt8(ascii: "@"):
                return nil  // text format
            default:
                let l = c | 0x20
                if l == UInt8(ascii: "y") || l == UInt8(ascii: "d") {
                    hasDate = true
                } else if l == UInt8(ascii: "h") || l == UInt8(ascii: "s") {
                    hasTime = true
                } else if l == UInt8(ascii: "m") {
                    // `m` is month or minute; alone it does not decide (see below).
                    bytes[i] = UInt8(ascii: "m")
                } else if l == UInt8(ascii: "e") && (i + 1 < n) && (bytes[i + 1] == UInt8(ascii: "+") || bytes[i + 1] == UInt8(ascii: "-")) {
                    return nil  // scientific notation "0.00E+00"
                } else if l == UInt8(ascii: "g") && i + 7 <= n && String(decoding: bytes[i..<min(i + 7, n)], as: UTF8.self).lowercased() == "general" {
                    i += 6
                }
            }
            i += 1
        }
        if hasElapsed { return .duration }
        if hasDate && hasTime { return .dateTime }
        if hasDate { return .date }
        if hasTime { return .time }
        // Only `m` tokens: "mmm", "mmmm" and "mm" alone are month formats.
        if code.utf8.contains(where: { $0 | 0x20 == UInt8(ascii: "m") }) && !code.contains("0") && !code.contains("#") {
            var stripped = ""
            var inQuote = false
            for ch in code {
                if ch == "\"" { inQuote.toggle(); continue }
                if !inQuote { stripped.append(ch) }
            }
            if stripped.lowercased().contains("m") { return .date }
        }
        return nil
    }

    /// Kind for a cell whose style has format `id` and, for custom ids, `code`.
    public static func kind(id: Int, code: String?) -> TemporalKind? {
        if let code, !code.isEmpty { return customKind(code) }
        return builtinKind(id)
    }
}
