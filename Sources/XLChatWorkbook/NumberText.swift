// Numbers written as text. One scan of a cell's text reads it under both decimal conventions at
// once: the decimal point (`1,234.56`, `1'234.56`, `1 234.56`, Indian `12,34,567.50`) and the
// decimal comma (`1.234,56`, `1 234,56`, `1'234,56`), with a currency symbol or ISO code before
// or after (`$1,234.56`, `1 234,56 €`, `CHF 12`, `¥500`, `R$ 1.234,56`), percent (`12.5%` is
// 0.125, as Excel stores it), accounting negatives `(200.00)`, a trailing minus `200-`, the
// Unicode minus U+2212, and surrounding spaces (incl. no-break U+00A0 and narrow no-break
// U+202F). Nothing here decides which convention a cell uses: `ColumnStats` counts both
// readings over every value of a column and decides once (see ColumnTyping.swift).
//
// Thousands groups follow Excel's own parsing of typed text: the first group has 1-3 digits
// (no leading zero), every later group exactly 3 (or the Indian lakh grouping with `,`: 2-digit
// groups then a last group of 3); one separator character throughout; the decimal mark at
// most once, after the groups.

/// Which character is a number's decimal mark.
public enum DecimalMark: String, Sendable, Hashable, Codable {
    case point, comma
}

/// What one text says as a number, under both conventions.
struct NumberText {
    /// The value reading `.` as the decimal mark; nil when the text is no number that way.
    var point: Double?
    /// The value reading `,` as the decimal mark.
    var comma: Double?
    /// 1-based index into `Currency.keys`; 0 for none.
    var currency: UInt8 = 0
    var flags: UInt16 = 0
    /// The thousands separator under each reading (a `Separator` raw value; 0 for none).
    var groupPoint: UInt8 = 0
    var groupComma: UInt8 = 0
    /// Digits in the text (for fixed-width codes).
    var digits = 0

    static let percent: UInt16 = 1, parenNegative: UInt16 = 2, trailingMinus: UInt16 = 4, unicodeMinus: UInt16 = 8, padded: UInt16 = 16
    /// `007`, `00501`: an integer part with a leading zero.
    static let leadingZero: UInt16 = 32
    /// More than 15 digits and nothing else: a double would lose digits (card, account numbers).
    static let longDigits: UInt16 = 64
    /// Only ASCII digits, nothing around them.
    static let plainDigits: UInt16 = 128

    func has(_ f: UInt16) -> Bool { flags & f != 0 }

    enum Separator: UInt8 {
        case comma = 1, point = 2, space = 3, apostrophe = 4
        var display: String {
            switch self {
            case .comma: return "','"
            case .point: return "'.'"
            case .space: return "space"
            case .apostrophe: return "'"
            }
        }
    }

    func value(_ mark: DecimalMark) -> Double? { mark == .point ? point : comma }
    func group(_ mark: DecimalMark) -> UInt8 { mark == .point ? groupPoint : groupComma }

    /// Reads `text`; nil when it cannot be a number under either convention and is no code.
    static func scan(_ text: String) -> NumberText? {
        var t = text
        return t.withUTF8 { scan($0) }
    }

    /// Length of a space (ASCII, NBSP, figure, thin, narrow NBSP, ideographic) starting at `i`.
    @inline(__always)
    static func spaceAt(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let c = b[i]
        if c == 0x20 || c == 0x09 { return 1 }
        if c == 0xC2, i + 1 < end, b[i + 1] == 0xA0 { return 2 }
        if c == 0xE2, i + 2 < end, b[i + 1] == 0x80, b[i + 2] == 0x87 || b[i + 2] == 0x89 || b[i + 2] == 0xAF { return 3 }
        if c == 0xE3, i + 2 < end, b[i + 1] == 0x80, b[i + 2] == 0x80 { return 3 }
        return 0
    }

    /// Length of a space ending just before `end`.
    @inline(__always)
    static func spaceBefore(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Int {
        let c = b[end - 1]
        if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { return 1 }
        if c == 0xA0, end - 2 >= start, b[end - 2] == 0xC2 { return 2 }
        if end - 3 >= start, b[end - 3] == 0xE2, b[end - 2] == 0x80, c == 0x87 || c == 0x89 || c == 0xAF { return 3 }
        if end - 3 >= start, b[end - 3] == 0xE3, b[end - 2] == 0x80, c == 0x80 { return 3 }
        return 0
    }

    /// The trimmed range of `b` (spaces and line breaks at both ends).
    static func trimmed(_ b: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        var lo = 0, hi = b.count
        while lo < hi {
            let c = b[lo]
            if c == 0x0A || c == 0x0D { lo += 1; continue }
            let s = spaceAt(b, lo, hi)
            if s == 0 { break }
            lo += s
        }
        while hi > lo {
            let s = spaceBefore(b, lo, hi)
            if s == 0 { break }
            hi -= s
        }
        return lo..<hi
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    static func scan(_ b: UnsafeBufferPointer<UInt8>) -> NumberText? {
        let n = b.count
        guard n > 0, n <= 64 else { return nil }
        var r = NumberText()
        let trim = trimmed(b)
        var lo = trim.lowerBound, hi = trim.upperBound
        guard lo < hi else { return nil }
        if lo > 0 || hi < n { r.flags |= padded }
        var negative = false, signed = false, openParen = false, closeParen = false

        // Prefix: `(`, a sign, a currency, in any order, spaces between.
        var steps = 0
        while lo < hi && steps < 6 {
            steps += 1
            let c = b[lo]
            if isDigit(c) { break }
            let s = spaceAt(b, lo, hi)
            if s > 0 { lo += s; continue }
            if c == UInt8(ascii: "(") && !openParen { openParen = true; lo += 1; continue }
            if (c == UInt8(ascii: "-") || c == UInt8(ascii: "+")) && !signed {
                signed = true; negative = c == UInt8(ascii: "-"); lo += 1; continue
            }
            if c == 0xE2, lo + 2 < hi, b[lo + 1] == 0x88, b[lo + 2] == 0x92, !signed {
                signed = true; negative = true; r.flags |= unicodeMinus; lo += 3; continue
            }
            if r.currency == 0, let m = Currency.prefix(b, lo, hi) { r.currency = m.0; lo += m.1; continue }
            break
        }
        // Suffix: `)`, `%`, a trailing minus, a currency.
        steps = 0
        while hi > lo && steps < 6 {
            steps += 1
            let c = b[hi - 1]
            if isDigit(c) { break }
            let s = spaceBefore(b, lo, hi)
            if s > 0 { hi -= s; continue }
            if c == UInt8(ascii: ")") && openParen && !closeParen { closeParen = true; hi -= 1; continue }
            if c == UInt8(ascii: "%") && !r.has(percent) { r.flags |= percent; hi -= 1; continue }
            if c == UInt8(ascii: "-") && !signed { signed = true; negative = true; r.flags |= trailingMinus; hi -= 1; continue }
            if c == 0x92, hi - 3 >= lo, b[hi - 3] == 0xE2, b[hi - 2] == 0x88, !signed {
                signed = true; negative = true; r.flags |= trailingMinus | unicodeMinus; hi -= 3; continue
            }
            if r.currency == 0, let m = Currency.suffix(b, lo, hi) { r.currency = m.0; hi -= m.1; continue }
            break
        }
        guard lo < hi, openParen == closeParen else { return nil }
        if openParen {
            guard !signed else { return nil }
            negative = true
            r.flags |= parenNegative
        }

        // The core: digit runs and single separators between them (a word fails here, before
        // anything is allocated).
        guard isDigit(b[lo]) || b[lo] == UInt8(ascii: ".") || b[lo] == UInt8(ascii: ",") else { return nil }
        // The runs and separators live on the stack (at most 13 runs, 12 separators): two
        // arrays per scanned text were a malloc/free pair each for every number text the
        // column typing and the loader read (perf, release, csv_1m_x8.csv: NumberText.scan was
        // 12% of a cold open, its array traffic a third of that).
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: 16) { runsBuffer -> NumberText? in
            withUnsafeTemporaryAllocation(of: Separator.self, capacity: 16) { sepsBuffer -> NumberText? in
                var r = r
                var nRuns = 0, nSeps = 0
                var i = lo
                var run = 0
                var firstDigit: UInt8 = 0
                while i < hi {
                    let c = b[i]
                    if isDigit(c) {
                        if run == 0 && nRuns == 0 { firstDigit = c }
                        run += 1; i += 1; continue
                    }
                    let sep: Separator
                    var len = 1
                    switch c {
                    case UInt8(ascii: ","): sep = .comma
                    case UInt8(ascii: "."): sep = .point
                    case UInt8(ascii: "'"): sep = .apostrophe
                    case 0xE2 where i + 2 < hi && b[i + 1] == 0x80 && b[i + 2] == 0x99: sep = .apostrophe; len = 3
                    default:
                        let s = spaceAt(b, i, hi)
                        guard s > 0 else { return nil }
                        sep = .space; len = s
                    }
                    // A separator needs digits after it, and digits before it unless it is the mark of `.5`.
                    guard run > 0 || (nRuns == 0 && (sep == .point || sep == .comma)) else { return nil }
                    runsBuffer[nRuns] = run; nRuns += 1
                    sepsBuffer[nSeps] = sep; nSeps += 1
                    if nRuns > 12 { return nil }
                    run = 0
                    i += len
                }
                guard run > 0 else { return nil }
                runsBuffer[nRuns] = run; nRuns += 1
                let runs = UnsafeBufferPointer(rebasing: runsBuffer[0..<nRuns])
                let seps = UnsafeBufferPointer(rebasing: sepsBuffer[0..<nSeps])
                r.digits = runs.reduce(0, +)
                if runs[0] >= 2 && firstDigit == UInt8(ascii: "0") { r.flags |= leadingZero }
                if seps.isEmpty && r.flags & ~padded == 0 && r.currency == 0 && !signed {
                    r.flags |= plainDigits
                    if r.digits > 15 { r.flags |= longDigits; return r }
                }
                if seps.isEmpty, runs[0] > 15 { return nil }

                let scale = r.has(percent) ? 2 : 0
                (r.point, r.groupPoint) = read(b, lo, hi, runs, seps, mark: .point, negative: negative, scale: scale)
                (r.comma, r.groupComma) = read(b, lo, hi, runs, seps, mark: .comma, negative: negative, scale: scale)
                if r.point == nil && r.comma == nil && !r.has(leadingZero) { return nil }
                return r
            }
        }
    }

    /// The value of the core `b[lo..<hi]` (runs/seps as scanned) with `mark` as decimal mark,
    /// and the thousands separator used; nil when the groups do not fit the convention.
    static func read(_ b: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int, _ runs: UnsafeBufferPointer<Int>, _ seps: UnsafeBufferPointer<Separator>,
                     mark: DecimalMark, negative: Bool, scale: Int) -> (Double?, UInt8) {
        let markSep: Separator = mark == .point ? .point : .comma
        var intSeps = seps[...]
        var intRuns = runs[...]
        var fraction = 0
        if seps.last == markSep {
            intSeps = seps.dropLast()
            fraction = runs.last!
            intRuns = runs.dropLast()
        }
        if intSeps.contains(markSep) { return (nil, 0) }
        var group: UInt8 = 0
        if let g = intSeps.first {
            guard intSeps.allSatisfy({ $0 == g }) else { return (nil, 0) }
            // The other convention's mark cannot group here (`1.234` under the point reads 1.234).
            if (mark == .point && g == .point) || (mark == .comma && g == .comma) { return (nil, 0) }
            let first = intRuns.first!
            guard first >= 1 else { return (nil, 0) }
            // No leading zero in a grouped number (`012,345`).
            var p = lo
            while p < hi && !isDigit(b[p]) { p += 1 }
            if b[p] == UInt8(ascii: "0") { return (nil, 0) }
            let rest = intRuns.dropFirst()
            let western = first <= 3 && rest.allSatisfy { $0 == 3 }
            let indian = g == .comma && mark == .point && first <= 2 && rest.last == 3 && rest.dropLast().allSatisfy { $0 == 2 }
            guard western || indian else { return (nil, 0) }
            group = g.rawValue
        } else if intRuns.isEmpty || (intRuns.count == 1 && intRuns[intRuns.startIndex] == 0) {
            guard fraction > 0 else { return (nil, 0) }
        }
        let intDigits = intRuns.reduce(0, +)
        // Exact integers: no string round trip.
        if fraction == 0 && scale == 0 && intDigits <= 15 {
            var v: Int64 = 0
            for p in lo..<hi where isDigit(b[p]) { v = v * 10 + Int64(b[p] - 48) }
            return (negative ? -Double(v) : Double(v), group)
        }
        // At most 15 digits and a power of ten up to 1e22: both are exact doubles, and IEEE
        // division rounds correctly, so digits / 10^k IS the correctly rounded value the string
        // parser gives (Clinger's fast path). Measured (perf, release, csv_1m_x8.csv): strtod
        // through a String was 5% of a cold open, called for every decimal cell.
        if intDigits + fraction <= 15 && fraction + scale <= 22 {
            if let v = decimalFastPath(b, lo, hi, exponent: fraction + scale) { return (negative ? -v : v, group) }
        }
        // Otherwise the digits with `.` (and `e-2` for percent) through Double's correctly
        // rounded parser: `12.34%` is exactly what Excel stores for 0.1234.
        var ascii: [UInt8] = []
        ascii.reserveCapacity(hi - lo + 6)
        if negative { ascii.append(UInt8(ascii: "-")) }
        var digitsSeen = 0
        if intDigits == 0 { ascii.append(UInt8(ascii: "0")) }
        for p in lo..<hi where isDigit(b[p]) {
            if digitsSeen == intDigits { ascii.append(UInt8(ascii: ".")) }
            ascii.append(b[p]); digitsSeen += 1
        }
        if scale > 0 { ascii.append(contentsOf: [UInt8(ascii: "e"), UInt8(ascii: "-"), UInt8(ascii: "0") + UInt8(scale)]) }
        guard let v = Double(String(decoding: ascii, as: UTF8.self)), v.isFinite else { return (nil, 0) }
        return (v, group)
    }

    /// Exact powers of ten as doubles (10^0 ... 10^22 are all representable).
    static let powersOfTen: [Double] = (0...22).map { k in (0..<k).reduce(1.0) { r, _ in r * 10 } }

    /// The digits of `b[lo..<hi]` (other bytes skipped) as an integer, divided by 10^`exponent`:
    /// correctly rounded when there are at most 15 digits and `exponent` <= 22 (Clinger 1990,
    /// "How to read floating point numbers accurately": both operands are exact, and IEEE
    /// division rounds once). Nil past 15 digits.
    @inline(__always)
    static func decimalFastPath(_ b: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int, exponent: Int) -> Double? {
        guard exponent >= 0, exponent <= 22 else { return nil }
        var v: Int64 = 0, digits = 0
        for p in lo..<hi where isDigit(b[p]) {
            v = v * 10 + Int64(b[p] - 48); digits += 1
        }
        guard digits <= 15 else { return nil }
        return Double(v) / powersOfTen[exponent]
    }

    /// Placeholders that mean "no value" in a number or date column (Excel's COUNT, AVERAGE
    /// and MAX skip them as text): dashes, question marks, `n/a`, `NA`, `#N/A` written as text,
    /// `none`, `null`, `TBD`, … in any letter case, and texts of spaces only.
    static let placeholderSpellings: Set<String> = [
        "-", "--", "---", "–", "—", "−", "‒", "?", "??", "???", ".", "..", "...", "…",
        "n/a", "n.a.", "n.a", "na", "#n/a", "#na", "n/v", "n.v.", "k.a.", "k. a.", "s/o", "s.o.", "nd", "n.d.",
        "none", "null", "nil", "nan", "tbd", "tba", "tbc", "unknown", "missing", "no data", "not available",
        "#value!", "#ref!", "#div/0!", "#num!", "#name?", "#null!",
    ]

    static func isPlaceholder(_ text: String) -> Bool {
        var t = text
        return t.withUTF8 { b in
            let r = trimmed(b)
            if r.isEmpty { return true }
            guard r.count <= 13 else { return false }
            let c = b[r.lowerBound]
            if isDigit(c) { return false }
            // Only texts starting with one of the placeholders' first characters are looked up.
            switch c | 0x20 {
            case UInt8(ascii: "n"), UInt8(ascii: "k"), UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "u"),
                 UInt8(ascii: "m"):
                break
            default:
                if c >= 0x41 && c <= 0x7A && !(c >= 0x5B && c <= 0x60) { return false }
            }
            let lower = String(decoding: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self).lowercased()
            return placeholderSpellings.contains(lower)
        }
    }
}

/// Currency symbols and ISO 4217 codes, before or after a number.
enum Currency {
    /// Canonical keys, shown in rules (`currency EUR (€)`).
    static let keys: [String] = ["USD", "EUR", "GBP", "JPY", "CNY", "INR", "CHF", "SEK", "NOK", "DKK", "kr", "BRL", "CAD", "AUD",
                                 "NZD", "HKD", "SGD", "ZAR", "MXN", "PLN", "CZK", "HUF", "RUB", "TRY", "KRW", "ILS", "THB",
                                 "RON", "PHP", "VND", "ISK"]
    static let spellings: [(String, String)] = [
        ("US$", "USD"), ("$", "USD"), ("€", "EUR"), ("£", "GBP"), ("¥", "JPY"), ("￥", "JPY"), ("CN¥", "CNY"), ("元", "CNY"),
        ("RMB", "CNY"), ("₹", "INR"), ("Rs.", "INR"), ("Rs", "INR"), ("Fr.", "CHF"), ("SFr.", "CHF"), ("kr.", "kr"),
        ("kr", "kr"), ("Kr", "kr"), ("R$", "BRL"), ("C$", "CAD"), ("CA$", "CAD"), ("A$", "AUD"), ("AU$", "AUD"),
        ("NZ$", "NZD"), ("HK$", "HKD"), ("S$", "SGD"), ("zł", "PLN"), ("Kč", "CZK"), ("Ft", "HUF"), ("₽", "RUB"),
        ("₺", "TRY"), ("₩", "KRW"), ("₪", "ILS"), ("฿", "THB"), ("lei", "RON"), ("₱", "PHP"), ("₫", "VND"),
    ] + keys.filter { $0 != "kr" }.map { ($0, $0) }

    /// Spellings by first byte (prefix match) and by last byte (suffix match), longest first.
    static let byFirst: [[([UInt8], UInt8)]] = index(first: true)
    static let byLast: [[([UInt8], UInt8)]] = index(first: false)

    private static func index(first: Bool) -> [[([UInt8], UInt8)]] {
        var out = [[([UInt8], UInt8)]](repeating: [], count: 256)
        for (s, k) in spellings {
            let bytes = Array(s.utf8)
            let key = UInt8(keys.firstIndex(of: k)! + 1)
            out[Int(first ? bytes.first! : bytes.last!)].append((bytes, key))
        }
        for i in out.indices { out[i].sort { $0.0.count > $1.0.count } }
        return out
    }

    static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= 97 && (c | 0x20) <= 122 }

    static func prefix(_ b: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int) -> (UInt8, Int)? {
        for (s, key) in byFirst[Int(b[lo])] where lo + s.count <= hi {
            var ok = true
            for k in 0..<s.count where b[lo + k] != s[k] { ok = false; break }
            guard ok else { continue }
            // A code is a word of its own (`EURO5` is no currency).
            if isLetter(s.last!), lo + s.count < hi, isLetter(b[lo + s.count]) { continue }
            return (key, s.count)
        }
        return nil
    }

    static func suffix(_ b: UnsafeBufferPointer<UInt8>, _ lo: Int, _ hi: Int) -> (UInt8, Int)? {
        for (s, key) in byLast[Int(b[hi - 1])] where hi - s.count >= lo {
            var ok = true
            for k in 0..<s.count where b[hi - s.count + k] != s[k] { ok = false; break }
            guard ok else { continue }
            if isLetter(s.first!), hi - s.count > lo, isLetter(b[hi - s.count - 1]) { continue }
            return (key, s.count)
        }
        return nil
    }
}
