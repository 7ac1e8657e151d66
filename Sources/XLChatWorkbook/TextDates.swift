// Dates written as text in the orders people type them (csv exports, text cells in xlsx):
// `13/01/2024`, `01/13/2024`, `05.01.2024`, `5-1-2024`, `2024/01/05`, `2024.01.05`,
// `5 Jan 2024`, `Jan 5, 2024`, `January 5 2024`, `5-Jan-2024`. ISO `2024-01-05` is read by
// `CSVValueTyping.temporal` and not here.
//
// Day-first or month-first is never decided per cell: `05/01/2024` alone says nothing. The
// column decides (ColumnTyping.swift): a first part over 12 in any value means day first, a
// second part over 12 means month first, both means the column is not one format and stays
// text. When no value decides, dots (`05.01.2024`, the German/Nordic/Russian form; no locale
// writes month-first with dots) mean day first; for `/` and `-` the file's hint decides (a
// `;`-delimited csv is a decimal-comma locale, which writes day first), else the column stays
// text and its rule says the dates are ambiguous. This is what Excel's text import wizard asks
// the user (the "Date: DMY/MDY/YMD" column format) instead of guessing.

enum TextDate {
    enum Order: String, Sendable, Hashable, Codable {
        case dayFirst = "dd/mm/yyyy", monthFirst = "mm/dd/yyyy"
    }

    /// One text's shape: two numeric parts whose order the column decides, or a date whose
    /// order the text itself fixes (year first, or a month name).
    enum Shape {
        case numeric(first: Int, second: Int, year: Int, separator: UInt8)
        case fixed(year: Int, month: Int, day: Int, format: String)
    }

    /// English month names and their 3-letter (and `Sept`) abbreviations, lower-case.
    static let months: [String: Int] = {
        let full = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
                    "october", "november", "december"]
        var out: [String: Int] = [:]
        for (k, m) in full.enumerated() { out[m] = k + 1; out[String(m.prefix(3))] = k + 1 }
        out["sept"] = 9
        return out
    }()

    /// The shape of `s`, or nil when it is no text date. Cheap rejection: the first byte must
    /// be a digit or an ASCII letter and the text 6-20 bytes long.
    static func shape(_ s: String) -> Shape? {
        let t = s.trimmingWhitespace()
        let count = t.utf8.count
        guard count >= 6, count <= 20 else { return nil }
        // Every shape holds a 4-digit year: a text without an ASCII digit is none (perf: 10% of
        // a cold open of mixed_100k_x20.xlsx went to `named`'s split of plain words).
        guard t.utf8.contains(where: { $0 >= 48 && $0 <= 57 }) else { return nil }
        let u = Array(t.utf8)
        if u[0] >= 48 && u[0] <= 57 { return numeric(u) ?? named(t) }
        if (u[0] | 0x20) >= 97 && (u[0] | 0x20) <= 122 { return named(t) }
        return nil
    }

    private static func numeric(_ u: [UInt8]) -> Shape? {
        var parts: [(value: Int, digits: Int)] = []
        var seps: [UInt8] = []
        var v = 0, d = 0
        for b in u {
            if b >= 48 && b <= 57 {
                v = v * 10 + Int(b - 48); d += 1
                if d > 4 { return nil }
            } else if b == UInt8(ascii: "/") || b == UInt8(ascii: ".") || b == UInt8(ascii: "-") {
                guard d > 0 else { return nil }
                parts.append((v, d)); seps.append(b); v = 0; d = 0
            } else {
                return nil
            }
        }
        guard d > 0 else { return nil }
        parts.append((v, d))
        guard parts.count == 3, seps[0] == seps[1] else { return nil }
        if parts[0].digits == 4 {
            // yyyy/mm/dd, yyyy.mm.dd (yyyy-mm-dd is ISO, read elsewhere).
            guard seps[0] != UInt8(ascii: "-"), parts[1].digits <= 2, parts[2].digits <= 2,
                  valid(parts[0].value, parts[1].value, parts[2].value) else { return nil }
            let s = seps[0] == UInt8(ascii: "/") ? "yyyy/mm/dd" : "yyyy.mm.dd"
            return .fixed(year: parts[0].value, month: parts[1].value, day: parts[2].value, format: s)
        }
        guard parts[0].digits <= 2, parts[1].digits <= 2, parts[2].digits == 4 else { return nil }
        let a = parts[0].value, b = parts[1].value, y = parts[2].value
        guard y >= 1900, y <= 9999, valid(y, b, a) || valid(y, a, b) else { return nil }
        return .numeric(first: a, second: b, year: y, separator: seps[0])
    }

    /// `5 Jan 2024`, `05-Jan-2024`, `Jan 5, 2024`, `January 5 2024`.
    private static func named(_ t: String) -> Shape? {
        let words = t.lowercased().split(whereSeparator: { $0 == " " || $0 == "-" || $0 == "," || $0 == "." })
        guard words.count == 3, let y = Int(words[2]), words[2].count == 4, y >= 1900 else { return nil }
        if let m = months[String(words[1])], let d = Int(words[0]), words[0].count <= 2, valid(y, m, d) {
            return .fixed(year: y, month: m, day: d, format: "d mon yyyy")
        }
        if let m = months[String(words[0])], let d = Int(words[1]), words[1].count <= 2, valid(y, m, d) {
            return .fixed(year: y, month: m, day: d, format: "mon d, yyyy")
        }
        return nil
    }

    static func valid(_ y: Int, _ m: Int, _ d: Int) -> Bool {
        m >= 1 && m <= 12 && d >= 1 && d <= CSVValueTyping.daysIn(month: m, year: y)
    }

    /// The date serial of `s` read with `order` for numeric shapes; nil when it does not read.
    static func serial(_ s: String, order: Order?) -> Double? {
        switch shape(s) {
        case let .fixed(y, m, d, _)?:
            return ExcelDate.serial(year: y, month: m, day: d)
        case let .numeric(a, b, y, _)?:
            guard let order else { return nil }
            let (m, d) = order == .dayFirst ? (b, a) : (a, b)
            return valid(y, m, d) ? ExcelDate.serial(year: y, month: m, day: d) : nil
        case nil:
            return nil
        }
    }
}
