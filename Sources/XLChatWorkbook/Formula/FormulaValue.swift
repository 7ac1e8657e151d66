import Foundation

/// A value as Excel's calculation engine sees it: dates are serial numbers, and an empty cell
/// is distinct from the empty string (Excel's blank).
public enum FormulaValue: Sendable, Hashable {
    case number(Double)
    case string(String)
    case bool(Bool)
    /// `#DIV/0!`, `#N/A`, ... and xlchat's own markers for cells it could not compute
    /// (`FormulaErrors.circular`, `.external`, `.unparsed`, `.limit`).
    case error(String)
    case empty

    public init(_ cell: CellValue) {
        switch cell {
        case .empty: self = .empty
        case .number(let d): self = .number(d)
        case .string(let s): self = .string(s)
        case .bool(let b): self = .bool(b)
        case .error(let e): self = .error(e)
        case .temporal(_, let serial): self = .number(serial)
        }
    }

    var isError: Bool { if case .error = self { return true } else { return false } }
}

/// Error values. The first block are Excel's (as its documentation of each function names them);
/// the second are xlchat's markers for a cell it did not compute, never produced by Excel.
public enum FormulaErrors {
    public static let null = "#NULL!", div0 = "#DIV/0!", value = "#VALUE!", ref = "#REF!"
    public static let name = "#NAME?", num = "#NUM!", na = "#N/A", calc = "#CALC!"
    /// A cell whose formula depends on itself (Excel shows 0 and warns; we refuse to guess).
    public static let circular = "#CIRCULAR!"
    /// A reference into another workbook (`[1]Sheet1!A1`), left unevaluated.
    public static let external = "#EXTERNAL!"
    /// Formula text that does not parse; the text is kept as the cell's formula.
    public static let unparsed = "#UNPARSED!"
    /// The workbook's evaluation budget (time, cells, steps) ran out, or a construct xlchat does
    /// not evaluate (structured references, 3-D references, unions).
    public static let limit = "#LIMIT!"
    public static let unsupported = "#UNSUPPORTED!"

    /// xlchat's markers: a cell with one of these was not computed.
    public static let notComputed: Set<String> = [circular, external, unparsed, limit, unsupported]
}

/// Excel's coercions (documented per operator and function: "How Excel converts values in
/// formulas", support.microsoft.com): text to number as VALUE does, TRUE/FALSE to 1/0, blank to 0
/// or "".
enum Coerce {
    /// Text -> number as Excel's VALUE / arithmetic do: plain numbers, thousands separators,
    /// a leading currency sign, a trailing %, parentheses for negatives, ISO and common dates
    /// and times. nil when the text is not a number.
    static func number(fromText raw: String) -> Double? {
        var t = raw.trimmingCharacters(in: .whitespaces)
        guard let first = t.utf8.first else { return nil }
        // Text starting with a letter is never a number here (`inf`, `nan`, `e5` are not; the
        // date forms all start with a digit): SUMIF criteria such as "North" stop at once.
        if (first | 0x20) >= 97 && (first | 0x20) <= 122 { return nil }
        if let d = Double(t), !Self.hasLetter(t, "n"), !Self.hasLetter(t, "x") { return d }
        var negative = false
        if t.hasPrefix("(") && t.hasSuffix(")") { negative = true; t = String(t.dropFirst().dropLast()) }
        if t.hasPrefix("-") { negative.toggle(); t.removeFirst() }
        for c in ["$", "€", "£", "¥"] where t.hasPrefix(c) { t.removeFirst(); break }
        var scale = 1.0
        if t.hasSuffix("%") { scale = 0.01; t.removeLast() }
        t = t.trimmingCharacters(in: .whitespaces)
        // Thousands separators only between digit groups of three.
        if t.utf8.contains(UInt8(ascii: ",")) {
            let parts = t.split(separator: ".", maxSplits: 1)
            let groups = parts[0].split(separator: ",", omittingEmptySubsequences: false)
            guard groups.count > 1, groups.dropFirst().allSatisfy({ $0.count == 3 }), !groups[0].isEmpty else { return date(t).map { negative ? -$0 : $0 } }
            t = groups.joined() + (parts.count > 1 ? "." + parts[1] : "")
        }
        if let d = Double(t), !Self.hasLetter(t, "n"), !Self.hasLetter(t, "x") { return (negative ? -d : d) * scale }
        if scale == 1, let d = date(t) { return negative ? -d : d }
        return nil
    }

    /// Whether `t` holds the ASCII letter (either case); bytes, not Foundation's substring search.
    static func hasLetter(_ t: String, _ letter: Unicode.Scalar) -> Bool {
        let l = UInt8(letter.value) | 0x20
        return t.utf8.contains { $0 | 0x20 == l }
    }

    /// `2024-03-01`, `2024-03-01 10:30`, `3/1/2024` (month first, as Excel in en-US), `10:30`,
    /// `10:30:15`, `1-Mar-2024`, `Mar 1, 2024` -> serial.
    static func date(_ t: String) -> Double? {
        let parts = t.split(separator: " ", omittingEmptySubsequences: true)
        var dayPart: Double? = nil
        var timePart: Double = 0
        for p in parts {
            if p.contains(":" as Character) {
                let f = p.split(separator: ":").map { Double($0) }
                guard f.count >= 2, f.count <= 3, f.allSatisfy({ $0 != nil }) else { return nil }
                let h = f[0]!, m = f[1]!, s = f.count == 3 ? f[2]! : 0
                guard h >= 0, h < 10000, m >= 0, m < 60, s >= 0, s < 60 else { return nil }
                timePart = (h * 3600 + m * 60 + s) / 86400
            } else if p.contains("-" as Character) || p.contains("/" as Character) {
                let f = p.split(whereSeparator: { $0 == "-" || $0 == "/" }).map(String.init)
                guard f.count == 3 else { return nil }
                if f[0].count == 4, let y = Int(f[0]), let m = Int(f[1]), let d = Int(f[2]) {
                    guard (1...12).contains(m), (1...31).contains(d) else { return nil }
                    dayPart = DateMath.serial(y, m, d)
                } else if let m = Int(f[0]), let d = Int(f[1]), let y = Int(f[2]) {
                    guard (1...12).contains(m), (1...31).contains(d) else { return nil }
                    dayPart = DateMath.serial(y < 100 ? (y < 30 ? 2000 + y : 1900 + y) : y, m, d)
                } else if let d = Int(f[0]), let m = DateMath.month(f[1]), let y = Int(f[2]) {
                    dayPart = DateMath.serial(y < 100 ? (y < 30 ? 2000 + y : 1900 + y) : y, m, d)
                } else { return nil }
            } else {
                return nil
            }
        }
        if dayPart == nil && timePart == 0 { return nil }
        return (dayPart ?? 0) + timePart
    }

    /// A number as Excel's General format shows it (up to 15 significant digits, no trailing
    /// zeros; scientific notation below 1E-9 and from 1E+15), which is also what `&` and text
    /// functions see.
    static func text(_ d: Double) -> String {
        if d == 0 { return "0" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        let a = abs(d)
        if a >= 1e15 || a < 1e-9 {
            var s = String(format: "%.14E", d)
            // 1.23450000000000E+020 -> 1.2345E+20
            if let e = s.firstIndex(of: "E") {
                var mant = String(s[..<e]); let exp = Int(s[s.index(after: e)...]) ?? 0
                if mant.contains(".") { while mant.hasSuffix("0") { mant.removeLast() }; if mant.hasSuffix(".") { mant.removeLast() } }
                s = mant + "E" + (exp < 0 ? "-" : "+") + (abs(exp) < 10 ? "0" : "") + String(abs(exp))
            }
            return s
        }
        var s = String(format: "%.15g", d)
        if s.contains("e") { s = String(format: "%.15f", d) }
        if s.contains(".") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
        return s
    }

    static func text(_ v: FormulaValue) -> String {
        switch v {
        case .number(let d): return text(d)
        case .string(let s): return s
        case .bool(let b): return b ? "TRUE" : "FALSE"
        case .error(let e): return e
        case .empty: return ""
        }
    }
}

/// Calendar arithmetic on Excel serials (1900 system), with Excel's 1900 leap-year bug: serial
/// 60 is the non-existent 1900-02-29 and serials below it are one day off the proleptic
/// calendar (Microsoft: "Excel incorrectly assumes that the year 1900 is a leap year").
enum DateMath {
    static func serial(_ y0: Int, _ m0: Int, _ d: Int) -> Double {
        // DATE: years 0...1899 are added to 1900; months and days overflow into the next units.
        var y = y0 < 1900 ? y0 + 1900 : y0
        var m = m0 - 1
        y += m >= 0 ? m / 12 : (m - 11) / 12
        m = ((m % 12) + 12) % 12
        let days = ExcelDate.days(year: y, month: m + 1, day: 1) + d - 1
        let s = Double(days) + ExcelDate.unixEpochSerial
        return s < 61 ? s - 1 : s
    }

    static func civil(_ serial: Double) -> (year: Int, month: Int, day: Int) {
        let s = Int(serial.rounded(.down))
        if s == 60 { return (1900, 2, 29) }
        if s < 60 { return ExcelDate.civil(fromDays: s + 1 - Int(ExcelDate.unixEpochSerial)) }
        return ExcelDate.civil(fromDays: s - Int(ExcelDate.unixEpochSerial))
    }

    static func daysInMonth(_ y: Int, _ m: Int) -> Int {
        let next = m == 12 ? ExcelDate.days(year: y + 1, month: 1, day: 1) : ExcelDate.days(year: y, month: m + 1, day: 1)
        return next - ExcelDate.days(year: y, month: m, day: 1)
    }

    static let monthNames = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"]
    static let dayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    static func month(_ s: String) -> Int? {
        let l = s.lowercased()
        guard l.count >= 3 else { return nil }
        return monthNames.firstIndex { $0.hasPrefix(l) }.map { $0 + 1 }
    }

    /// 1 = Sunday ... 7 = Saturday.
    static func weekday(_ serial: Double) -> Int {
        let s = Int(serial.rounded(.down))
        // Serial 1 (1900-01-01 in Excel's reckoning) is a Sunday.
        return ((s - 1) % 7 + 7) % 7 + 1
    }
}

/// Excel's 15 significant digits. Excel keeps IEEE doubles but shows and compares numbers at 15
/// significant digits ("Floating-point arithmetic may give inaccurate results in Excel",
/// Microsoft Learn; its specifications give "Number precision: 15 digits"): `=0.1+0.2=0.3` is
/// TRUE, and 0.1+0.2 shows as 0.3.
enum ExcelPrecision {
    /// `d` rounded to 15 significant digits (exact for integers below 10^15, the common case,
    /// without formatting).
    /// The same double as decimal rounding (`%.14e`, then back), computed without text for most
    /// numbers: between 1e-5 and 1e15 the number is scaled by an exact power of ten to 15 integer
    /// digits (the product is off by at most 0.11 of a unit: 1e15 x 2^-53) and rounded when its
    /// fraction is not within 0.13 of a half; the division back is correctly rounded, as strtod
    /// is. Near a half, and outside that range, through decimal text.
    static func round15(_ d: Double) -> Double {
        guard d.isFinite, d != 0 else { return d }
        let a = abs(d)
        if a < 1e15, d == d.rounded(.towardZero) { return d }
        if a >= 1e-5 && a < 1e15 {
            var e = Int(log10(a).rounded(.down))
            if a < powers[e + 5] { e -= 1 } else if e + 6 < powers.count, a >= powers[e + 6] { e += 1 }
            let scale = powers[14 - e + 5]
            let m = a * scale
            let frac = m - m.rounded(.down)
            if abs(frac - 0.5) > 0.13 {
                let r = m.rounded() / scale
                return d < 0 ? -r : r
            }
        }
        return Double(String(format: "%.14e", d)) ?? d
    }

    /// 10^-5 ... 10^20, exact doubles up to 10^22.
    private static let powers: [Double] = (-5...20).map { pow(10, Double($0)) }

    /// Compares two numbers as Excel does: equal when they agree to 15 significant digits.
    /// Numbers further apart than 2e-14 of the larger one cannot round to the same 15 digits
    /// (one unit in the 15th digit is at most 1e-14 of the number), so only near-equal pairs
    /// are rounded; rounding keeps the order, so otherwise the doubles' order is the answer.
    static func compare(_ x: Double, _ y: Double) -> Int {
        if x == y { return 0 }
        let scale = max(abs(x), abs(y))
        if !(abs(x - y) <= scale * 2e-14) || round15(x) != round15(y) { return x < y ? -1 : 1 }
        return 0
    }
}
