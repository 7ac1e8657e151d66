// Column typing: the type of a table column is decided once, from all its data cells, never
// cell by cell. `ColumnStats` is the streaming accumulator (one per column; fixed-size counters
// plus at most 3 examples per kind and 20 distinct values, so memory is bounded by columns, not
// rows); `decide(hint:)` turns it into a `ColumnType` and a `ColumnTyping`: the rule applied,
// the values that became NULL, and a short profile. `TableColumn.sqlValue` then converts each
// cell the same way when the index loads it (IndexBuilder's `TableLoader`).
//
// Rules, in order (a "value" is a non-empty cell that is neither a placeholder nor an error):
// 1. Codes stay text as a whole: any value with a leading zero (`00501`), a digit string longer
//    than 15 digits (a double would lose digits), or a column of texts that are all digit
//    strings of one width (4 digits or more, e.g. account numbers stored as text in xlsx).
// 2. Numbers: number cells plus texts that read as numbers (NumberText.swift) under one decimal
//    convention. The convention is the one more of the column's texts read under; on a tie with
//    texts that read differently (`1,234`, `1.200`), the hint decides: a `;`-delimited csv, or
//    another column of the same table whose texts only read with a decimal comma, means the
//    comma; otherwise the point. The rule names what decided.
// 3. Dates (date/date-time cells, ISO dates written as text), times of day, durations, booleans.
// A kind fits when at most 10% of the values are something else ("misfits"); misfits,
// placeholders (`n/a`, `-`, `TBD`, …) and error cells become NULL, so SQL's COUNT, AVG and MAX
// skip them as Excel's do with text. Numbers in two currencies never add up: such a column
// stays text. A column no kind fits stays text and its rule says so.
//
// Cost (measured on the mixed 100k x 20 workbook, see xlchat-bench `load`): the accumulator adds
// a counter update per number cell and, per text cell, a first-byte test that rejects words
// before anything is allocated.

/// The file-level signal for ambiguous numbers (`1,234`, `1.200`) when a column's own values do
/// not decide.
public struct NumberHint: Sendable, Hashable {
    public var mark: DecimalMark
    /// Why, for the rule text (`the file's ';' delimiter`); nil when nothing signals.
    public var reason: String?
    public init(mark: DecimalMark = .point, reason: String? = nil) { self.mark = mark; self.reason = reason }
    public static let none = NumberHint()

    /// A `;`-delimited csv signals the decimal comma (the delimiter of locales that write `1,5`).
    public static func of(_ reader: any WorkbookReader) -> NumberHint {
        if let e = reader as? EvaluatingReader { return of(e.base) }
        if let csv = reader as? CSVReader, csv.delimiter == ";" {
            return NumberHint(mark: .comma, reason: "the file's ';' delimiter")
        }
        return .none
    }
}

/// A value as the typed SQL table stores it.
public enum TypedValue: Sendable, Hashable, Codable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// A short profile of a column for the model: the distinct values of a low-cardinality text
/// column, the range of a number, date, time or duration column.
public struct ColumnProfile: Sendable, Hashable, Codable {
    /// Values that are not NULL in the typed column.
    public var values: Int
    /// At most `ColumnStats.maxDistinct` distinct values, most frequent first; nil when the
    /// column has more (or is not text).
    public var distinct: [String]?
    /// Smallest and largest typed value (numbers; ISO text for dates and times; seconds for
    /// durations); nil for text columns.
    public var min: TypedValue?
    public var max: TypedValue?
    public init(values: Int = 0, distinct: [String]? = nil, min: TypedValue? = nil, max: TypedValue? = nil) {
        self.values = values; self.distinct = distinct; self.min = min; self.max = max
    }
}

/// How a column's cells become its typed values, and what that cost.
public struct ColumnTyping: Sendable, Hashable, Codable {
    /// The rule applied, for people and the model: `number; currency USD ($), thousands ','`,
    /// `percent → fraction`, `decimal comma`, `placeholders → NULL (n/a, -)`,
    /// `code: leading zeros kept as text`, `duration, seconds`, `text: no rule fits (…)`.
    public var rule: String
    /// Non-empty cells that became NULL (placeholders, error cells, values that did not fit).
    public var nulled: Int
    /// Up to 3 of them, as the file has them (values that did not fit first).
    public var nulledExamples: [String]
    public var profile: ColumnProfile
    /// The decimal mark number texts are read with.
    public var decimalMark: DecimalMark
    /// Number texts with a scale suffix (`1.5k`, `2M`) are read (the whole column uses them).
    var scaleSuffixes = false
    /// The day/month order numeric text dates (`05/01/2024`) are read with; nil: none are.
    var textDateOrder: TextDate.Order? = nil
    /// The column's numbers show several currencies (number formats): sums mix them.
    public internal(set) var mixedCurrencies = false

    public init(rule: String, nulled: Int = 0, nulledExamples: [String] = [], profile: ColumnProfile = ColumnProfile(),
                decimalMark: DecimalMark = .point) {
        self.rule = rule; self.nulled = nulled; self.nulledExamples = nulledExamples
        self.profile = profile; self.decimalMark = decimalMark
    }

    /// The typing of a column whose type was given rather than inferred.
    public static func plain(_ type: ColumnType) -> ColumnTyping {
        ColumnTyping(rule: type == .duration ? "duration, seconds" : type.rawValue)
    }
}

/// The streaming per-column accumulator (see the file comment).
struct ColumnStats {
    static let maxDistinct = 20
    static let maxExamples = 3

    private(set) var nonEmpty = 0
    // Number cells (and date-formatted serials outside Excel's range, which stay numbers).
    var numbers = 0
    var numbersIntegral = true
    var numberMin = Double.infinity, numberMax = -Double.infinity
    var bools = 0, errors = 0, strings = 0
    var dates = 0, dateTimes = 0, times = 0, durations = 0
    /// Date-only cells whose serial has a time part (dropped: the format shows a date).
    var datesWithTime = 0
    var outOfRangeDates = 0
    var temporalMin = Double.infinity, temporalMax = -Double.infinity
    var timeMin = Double.infinity, timeMax = -Double.infinity
    // Texts.
    var placeholders = 0
    var placeholderExamples: [String] = []
    var textDates = 0, textDateTimes = 0
    var point = Tally(), comma = Tally()
    /// Texts reading as different numbers under the two conventions (`1,234`).
    var ambiguous = 0
    /// Texts reading as a number under at least one convention.
    var numericTexts = 0
    /// Of the texts, numbers a text reader typed itself (csv `1.5`): not "written as text".
    var typedNumberTexts = 0
    var ambiguousExample: String?
    var currencies: UInt64 = 0
    /// Number cells by the currency their number format shows (xlsx): key + 1 -> count.
    var formatCurrencies: [UInt8: Int] = [:]
    var currencySpelling: [UInt8: String] = [:]
    var percents = 0, parenNegatives = 0, trailingMinus = 0, unicodeMinus = 0, padded = 0
    var leadingZeros = 0, longDigits = 0
    var codeExample: String?
    /// Texts that are digit strings only, and their common width (-1 once widths differ).
    var plainDigitTexts = 0
    var plainDigitWidth = 0
    /// Texts that read as no number under either convention (and are no placeholder).
    var wordExamples: [String] = []
    var words = 0
    /// The words by text, while there are at most `maxWordKinds` kinds (nil after): few short
    /// unknown tokens (`x`, `*`, `pending`) in a number column become NULL and are named.
    var wordCounts: [String: Int]? = [:]
    static let maxWordKinds = 5
    /// Words that are short tokens: at most 12 characters, no digit, no space.
    var tokenWords = 0
    /// Numbers with a scale suffix (`1.5k`, `2M`, `3bn`), read with the decimal point.
    var scaled = Tally()
    var scaledSuffixes: Set<String> = []
    /// Dates written as text in other shapes than ISO (TextDates.swift): numeric ones whose
    /// order the column decides, and ones whose text fixes it (year first, month names).
    var textDateNumeric = 0, textDateFixed = 0
    /// Numeric text dates whose first part is over 12 (so day first), or whose second is.
    var firstOver12 = 0, secondOver12 = 0
    var textDateSeparators: Set<UInt8> = []
    var textDateFormats: Set<String> = []
    var dayFirstMin = Double.infinity, dayFirstMax = -Double.infinity
    var monthFirstMin = Double.infinity, monthFirstMax = -Double.infinity
    var textDateExample: String?
    // Distinct values (strings and numbers), until there are more than `maxDistinct`.
    var distinctStrings: [String: Int]? = [:]
    var distinctNumbers: [Double: Int]? = [:]

    struct Tally {
        var valid = 0
        var integral = true
        var min = Double.infinity, max = -Double.infinity
        var groups: UInt8 = 0  // bit per NumberText.Separator
        /// Texts valid only under the other convention.
        var misfitExamples: [String] = []

        mutating func add(_ v: Double, group: UInt8) {
            valid += 1
            if integral && (v != v.rounded() || abs(v) >= 9.0e15) { integral = false }
            if v < min { min = v }
            if v > max { max = v }
            if group != 0 { groups |= 1 << group }
        }
    }

    /// Records a data cell; false for cells that do not count (empty).
    @discardableResult
    mutating func add(_ v: CellValue) -> Bool { add(RowCell(column: 0, value: v)) }

    /// Records a data cell (its `text`, when a text reader kept it, is what is read).
    @discardableResult
    mutating func add(_ cell: RowCell) -> Bool {
        switch cell.value {
        case .empty: return false
        case let .string(s):
            nonEmpty += 1
            addText(s)
        case let .number(x):
            nonEmpty += 1
            if let t = cell.text {
                typedNumberTexts += 1
                addText(t)
            } else {
                addNumber(x)
                if cell.formatCurrency != 0 { formatCurrencies[cell.formatCurrency, default: 0] += 1 }
            }
        case .bool:
            nonEmpty += 1
            bools += 1
        case .error(let e):
            nonEmpty += 1
            errors += 1
            Self.note(e, in: &placeholderExamples)
        case let .temporal(kind, serial):
            nonEmpty += 1
            switch kind {
            case .date, .dateTime:
                guard ExcelDate.inRange(serial) else { outOfRangeDates += 1; addNumber(serial); return true }
                if kind == .date {
                    dates += 1
                    if serial != serial.rounded(.down) { datesWithTime += 1 }
                } else {
                    dateTimes += 1
                }
                temporalMin = Swift.min(temporalMin, serial); temporalMax = Swift.max(temporalMax, serial)
            case .time:
                times += 1
                timeMin = Swift.min(timeMin, serial); timeMax = Swift.max(timeMax, serial)
            case .duration:
                durations += 1
                timeMin = Swift.min(timeMin, serial); timeMax = Swift.max(timeMax, serial)
            }
        }
        return true
    }

    private static func note(_ s: String, in list: inout [String]) {
        if list.count < maxExamples && !list.contains(s) { list.append(s.count > 40 ? String(s.prefix(40)) + "…" : s) }
    }

    @inline(__always)
    private mutating func addNumber(_ x: Double) {
        numbers += 1
        if numbersIntegral && (x != x.rounded() || abs(x) >= 9.0e15) { numbersIntegral = false }
        if x < numberMin { numberMin = x }
        if x > numberMax { numberMax = x }
        if distinctNumbers != nil {
            distinctNumbers![x, default: 0] += 1
            if distinctNumbers!.count > Self.maxDistinct { distinctNumbers = nil }
        }
    }

    private mutating func addText(_ s: String) {
        strings += 1
        if distinctStrings != nil {
            distinctStrings![s, default: 0] += 1
            if distinctStrings!.count > Self.maxDistinct { distinctStrings = nil }
        }
        if NumberText.isPlaceholder(s) {
            placeholders += 1
            Self.note(s, in: &placeholderExamples)
            return
        }
        // `05.01.2024`, `13/01/2024`: a date, before the number reader calls it a code.
        if Self.mayBeNumericDate(s), let shape = TextDate.shape(s) { addTextDate(shape, s); return }
        guard let n = NumberText.scan(s) else {
            // ISO dates written as text (`2024-03-01`, `2024-03-01 12:30`).
            if let d = Self.isoTemporal(s) {
                if case let .temporal(kind, serial) = d {
                    if kind == .date { textDates += 1 } else { textDateTimes += 1 }
                    temporalMin = Swift.min(temporalMin, serial); temporalMax = Swift.max(temporalMax, serial)
                }
                return
            }
            if let shape = TextDate.shape(s) { addTextDate(shape, s); return }
            if let (v, suffix) = Self.scaledNumber(s) {
                scaled.add(v, group: 0)
                scaledSuffixes.insert(suffix)
                return
            }
            words += 1
            Self.note(s, in: &wordExamples)
            let t = s.trimmingWhitespace()
            // ASCII without whitespace: no digit and at most 12 bytes says the same as the
            // Character test below without its Unicode property lookups (perf: 11% of a cold
            // open of mixed_100k_x20.xlsx was this `contains`).
            if t.isASCIIWithoutWhitespace {
                if t.utf8.count <= 12, !t.utf8.contains(where: { $0 >= 48 && $0 <= 57 }) { tokenWords += 1 }
            } else if t.count <= 12, !t.contains(where: { $0.isNumber || $0.isWhitespace }) { tokenWords += 1 }
            if wordCounts != nil {
                wordCounts![t, default: 0] += 1
                if wordCounts!.count > Self.maxWordKinds { wordCounts = nil }
            }
            return
        }
        if n.has(NumberText.leadingZero) || n.has(NumberText.longDigits) {
            if n.has(NumberText.leadingZero) { leadingZeros += 1 } else { longDigits += 1 }
            if codeExample == nil { codeExample = s }
        }
        if n.has(NumberText.plainDigits) {
            plainDigitTexts += 1
            if plainDigitTexts == 1 { plainDigitWidth = n.digits } else if plainDigitWidth != n.digits { plainDigitWidth = -1 }
        }
        if n.has(NumberText.longDigits) { return }
        if let v = n.point { point.add(v, group: n.groupPoint) } else { Self.note(s, in: &point.misfitExamples) }
        if let v = n.comma { comma.add(v, group: n.groupComma) } else { Self.note(s, in: &comma.misfitExamples) }
        if let a = n.point, let b = n.comma, a != b {
            ambiguous += 1
            if ambiguousExample == nil { ambiguousExample = s.trimmingWhitespace() }
        }
        guard n.point != nil || n.comma != nil else { return }
        numericTexts += 1
        if n.currency != 0 {
            currencies |= 1 << UInt64(n.currency)
            if currencySpelling[n.currency] == nil { currencySpelling[n.currency] = Self.currencySpelling(s, key: n.currency) }
        }
        if n.has(NumberText.percent) { percents += 1 }
        if n.has(NumberText.parenNegative) { parenNegatives += 1 }
        if n.has(NumberText.trailingMinus) { trailingMinus += 1 }
        if n.has(NumberText.unicodeMinus) { unicodeMinus += 1 }
        if n.has(NumberText.padded) { padded += 1 }
    }

    /// Two separators of one kind (`/`, `.`, `-`) among 6-10 bytes starting with a digit: the
    /// only texts worth asking `TextDate` before the number reader (no allocation).
    static func mayBeNumericDate(_ s: String) -> Bool {
        let u = s.utf8
        guard u.count >= 6, u.count <= 12, let f = u.first, f >= 48, f <= 57 else { return false }
        var sep: UInt8 = 0, count = 0
        for b in u where b == 47 || b == 46 || b == 45 {
            if sep == 0 { sep = b } else if sep != b { return false }
            count += 1
        }
        return count == 2
    }

    private mutating func addTextDate(_ shape: TextDate.Shape, _ s: String) {
        if textDateExample == nil { textDateExample = s.trimmingWhitespace() }
        switch shape {
        case let .fixed(y, m, d, format):
            textDateFixed += 1
            if textDateFormats.count < 4 { textDateFormats.insert(format) }
            let serial = ExcelDate.serial(year: y, month: m, day: d)
            temporalMin = Swift.min(temporalMin, serial); temporalMax = Swift.max(temporalMax, serial)
        case let .numeric(a, b, y, sep):
            textDateNumeric += 1
            textDateSeparators.insert(sep)
            if a > 12 { firstOver12 += 1 }
            if b > 12 { secondOver12 += 1 }
            if TextDate.valid(y, b, a) {
                let v = ExcelDate.serial(year: y, month: b, day: a)
                dayFirstMin = Swift.min(dayFirstMin, v); dayFirstMax = Swift.max(dayFirstMax, v)
            }
            if TextDate.valid(y, a, b) {
                let v = ExcelDate.serial(year: y, month: a, day: b)
                monthFirstMin = Swift.min(monthFirstMin, v); monthFirstMax = Swift.max(monthFirstMax, v)
            }
        }
    }

    /// Scale suffixes of amounts as finance and dashboards write them: thousand, million,
    /// billion. `m` and `B` are left out (metres, minutes; flat `2B`).
    static let scaleSuffixes: [(String, Int)] = [("bn", 9), ("mn", 6), ("MM", 6), ("M", 6), ("k", 3), ("K", 3)]

    /// `1.5k` -> (1500, "k"), `2M` -> (2e6, "M"), `$3.2bn` -> (3.2e9, "bn"); nil otherwise. The
    /// number before the suffix reads with the decimal point; scaling goes through the decimal
    /// exponent so `2.3k` is exactly 2300.
    static func scaledNumber(_ s: String) -> (Double, String)? {
        let t = s.trimmingWhitespace()
        guard t.utf8.count >= 2, t.utf8.count <= 24 else { return nil }
        // The body must read as a number (ASCII digits): words without a digit end here
        // (perf: 5% of a cold open of mixed_100k_x20.xlsx went to the suffix tests below).
        guard t.utf8.contains(where: { $0 >= 48 && $0 <= 57 }) else { return nil }
        for (suffix, exponent) in scaleSuffixes where t.hasSuffix(suffix) {
            let body = String(t.dropLast(suffix.count)).trimmingWhitespace()
            guard let last = body.last, last.isNumber, let n = NumberText.scan(body), let v = n.point,
                  !n.has(NumberText.percent), !n.has(NumberText.leadingZero) else { return nil }
            guard let x = Double("\(v)e\(exponent)") else { return nil }
            return (x, suffix)
        }
        return nil
    }

    /// The spelling of the currency in `s` (`€`, `EUR`), for the rule text.
    private static func currencySpelling(_ s: String, key: UInt8) -> String {
        let k = Currency.keys[Int(key) - 1]
        for (spelling, canonical) in Currency.spellings where canonical == k && spelling != k && s.contains(spelling) {
            return spelling
        }
        return k
    }

    static func isoTemporal(_ s: String) -> CellValue? {
        var t = s
        return t.withUTF8 { b -> CellValue? in
            let r = NumberText.trimmed(b)
            guard r.count >= 10, NumberText.isDigit(b[r.lowerBound]) else { return nil }
            return CSVValueTyping.temporal(UnsafeBufferPointer(rebasing: b[r]))
        }
    }

    /// The type with no hint (for callers that only need the type).
    var type: ColumnType { decide(hint: .none).type }

    /// Whether this column's texts read under one convention only (a decisive column).
    var decisiveMark: DecimalMark? {
        if comma.valid > point.valid, ambiguous < comma.valid { return .comma }
        if point.valid > comma.valid, ambiguous < point.valid { return .point }
        return nil
    }

    /// The table-level hint: the file's signal, else what decisive columns of the table say.
    static func hint(for columns: [ColumnStats], file: NumberHint) -> NumberHint {
        if file.reason != nil { return file }
        let marks = columns.compactMap(\.decisiveMark)
        if marks.contains(.comma) && !marks.contains(.point) {
            return NumberHint(mark: .comma, reason: "decimal commas in other columns")
        }
        return file
    }

    // MARK: - The decision

    func decide(hint: NumberHint) -> (type: ColumnType, typing: ColumnTyping) {
        let values = nonEmpty - placeholders - errors
        func nulls(_ misfits: Int, _ examples: [String]) -> (Int, [String]) {
            var ex = examples
            for p in placeholderExamples where ex.count < Self.maxExamples && !ex.contains(p) { ex.append(p) }
            return (misfits + placeholders + errors, Array(ex.prefix(Self.maxExamples)))
        }
        func placeholderNote() -> String? {
            guard placeholders + errors > 0 else { return nil }
            let what = [placeholders > 0 ? "placeholders" : nil, errors > 0 ? "error cells" : nil].compactMap { $0 }.joined(separator: " and ")
            return "\(what) → NULL (\(placeholders + errors): \(placeholderExamples.joined(separator: ", ")))"
        }
        func misfitNote(_ n: Int) -> String? {
            guard n > 0 else { return nil }
            let list = n == words ? tokenList() : nil
            if let list, tokenWords == words { return "unknown \(words == 1 ? "token" : "tokens") \(list) → NULL" }
            return "\(n) value\(n == 1 ? "" : "s") that did not fit → NULL" + (list.map { " (\($0))" } ?? "")
        }
        func fits(_ matching: Int) -> Bool { matching > 0 && (values - matching) * 10 <= values }
        func textTyping(_ rule: String) -> (ColumnType, ColumnTyping) {
            var profile = ColumnProfile(values: nonEmpty)
            profile.distinct = distinctTexts()
            return (.text, ColumnTyping(rule: rule, profile: profile))
        }
        guard values > 0 else {
            return textTyping(nonEmpty == 0 ? "text (no values)" : "text (placeholders only)")
        }

        // 1. Codes.
        let mark: DecimalMark
        var markReason: String? = nil
        if point.valid > comma.valid {
            mark = .point
            if comma.valid > 0, ambiguous > 0 { markReason = "decimal point, as the column's other values decide" }
        } else if comma.valid > point.valid {
            mark = .comma
            markReason = "decimal comma"
        } else if ambiguous > 0 {
            mark = hint.mark
            let example = ambiguousExample.map { "'\($0)'" } ?? "values"
            markReason = "ambiguous \(example) read with a decimal \(hint.mark == .comma ? "comma" : "point")"
                + " (\(hint.reason ?? "no value or signal decides; the default"))"
        } else {
            mark = .point
        }
        let tally = mark == .point ? point : comma
        // Scale suffixes count only when no other word is in the column and they are no lone
        // exception (two or more, or half the values): `1.5k, 2M, 300`, not `5k` among codes.
        let scaledOK = scaled.valid > 0 && words == 0 && mark == .point && (scaled.valid >= 2 || scaled.valid * 2 >= values)
        let numeric = numbers + tally.valid + (scaledOK ? scaled.valid : 0)
        let codes = leadingZeros + longDigits
        if codes > 0 && codes + numeric >= values - values / 10 {
            let why = leadingZeros > 0 ? "leading zeros" : "digit strings longer than 15 digits"
            return textTyping("code: \(why) kept as text (e.g. '\(codeExample ?? "")')")
        }
        if plainDigitTexts == values, values >= 3, plainDigitWidth >= 4, numbers == 0 {
            return textTyping("code: digit strings of \(plainDigitWidth) digits stored as text, kept as text")
        }

        // 2. Numbers (never two currencies in one sum; each may use its own decimal mark).
        let currencyKeys = (1..<64).filter { currencies & (1 << UInt64($0)) != 0 }
        if currencyKeys.count > 1 && fits(numbers + numericTexts) {
            let list = currencyKeys.map { currencySpelling[UInt8($0)] ?? Currency.keys[$0 - 1] }.joined(separator: ", ")
            return textTyping("text: mixed currencies (\(list)) do not add up")
        }
        // One or two short unknown tokens (`x`, `*`, `pending`) among at least 3 numbers, in a
        // column too small for the 10% rule: placeholders the lexicon does not know; they become
        // NULL and the rule names them (at most a quarter of the values, nothing else misfits).
        // A token repeated more often is a value (`E` in a column of hex digits), not a gap.
        let tokensOnly = words > 0 && words <= 2 && tokenWords == words && wordCounts != nil && numeric >= 3
            && values - numeric == words && words * 4 <= values && textDateNumeric + textDateFixed == 0
        if fits(numeric) || tokensOnly {
            let misfits = values - numeric
            var parts: [String] = []
            if tally.valid > 0 {
                var number: [String] = []
                if let k = currencyKeys.first {
                    let spelling = currencySpelling[UInt8(k)] ?? Currency.keys[k - 1]
                    let key = Currency.keys[k - 1]
                    number.append("currency \(key)\(spelling != key ? " (\(spelling))" : "")")
                }
                if percents > 0 {
                    let plain = numbers + tally.valid - percents
                    number.append(plain > 0
                        ? "percent → fraction for \(percents) value\(percents == 1 ? "" : "s"); mixed: \(plain) value\(plain == 1 ? "" : "s") without % kept as written"
                        : "percent → fraction")
                }
                if scaledOK {
                    number.append("scale suffixes \(scaledSuffixes.sorted().joined(separator: ", ")) (\(scaled.valid) value\(scaled.valid == 1 ? "" : "s"), k = thousand, M/mn = million, bn = billion)")
                }
                if let r = markReason { number.append(r) } else if mark == .comma { number.append("decimal comma") }
                let groups = (1...4).filter { tally.groups & (1 << UInt8($0)) != 0 }.compactMap { NumberText.Separator(rawValue: UInt8($0))?.display }
                if !groups.isEmpty { number.append("thousands " + groups.joined(separator: " and ")) }
                if parenNegatives > 0 { number.append("(…) negatives") }
                if trailingMinus > 0 { number.append("trailing minus") }
                if unicodeMinus > 0 { number.append("Unicode minus") }
                if number.isEmpty && tally.valid > typedNumberTexts { number.append("numbers written as text") }
                parts.append(number.isEmpty ? "number" : number.joined(separator: ", "))
            } else if scaledOK {
                parts.append("number; scale suffixes \(scaledSuffixes.sorted().joined(separator: ", ")) (\(scaled.valid) value\(scaled.valid == 1 ? "" : "s"), k = thousand, M/mn = million, bn = billion)")
            } else {
                parts.append("number")
            }
            if formatCurrencies.count > 1 {
                let list = formatCurrencies.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                    .map { "\(Currency.keys[Int($0.key) - 1]) (\($0.value))" }.joined(separator: ", ")
                parts.append("mixed currencies in number formats: \(list); a sum adds them as one")
            } else if let (k, _) = formatCurrencies.first, tally.valid == 0 {
                parts.append("currency \(Currency.keys[Int(k) - 1]) (number format)")
            }
            if outOfRangeDates > 0 { parts.append("\(outOfRangeDates) date-formatted serial\(outOfRangeDates == 1 ? "" : "s") outside Excel's dates kept as numbers") }
            if let p = placeholderNote() { parts.append(p) }
            if let m = misfitNote(misfits) { parts.append(m) }
            let integral = numbersIntegral && tally.integral && percents == 0 && (!scaledOK || scaled.integral)
            var lo = Swift.min(numberMin, tally.min), hi = Swift.max(numberMax, tally.max)
            if scaledOK { lo = Swift.min(lo, scaled.min); hi = Swift.max(hi, scaled.max) }
            let type: ColumnType = integral ? .integer : .real
            func typed(_ x: Double) -> TypedValue { integral ? .integer(Int64(x)) : .real(x) }
            let (nulled, ex) = nulls(misfits, Self.misfitExamples(words: wordExamples, tally: tally.misfitExamples, extra: []))
            var typing = ColumnTyping(rule: parts.joined(separator: "; "), nulled: nulled, nulledExamples: ex,
                                      profile: ColumnProfile(values: numeric, min: lo.isFinite ? typed(lo) : nil, max: hi.isFinite ? typed(hi) : nil),
                                      decimalMark: mark)
            typing.scaleSuffixes = scaledOK
            typing.mixedCurrencies = formatCurrencies.count > 1
            return (type, typing)
        }

        // 3. Dates, times, durations, booleans. Numeric text dates take the column's order.
        var dateOrder: TextDate.Order? = nil
        var orderWhy = ""
        var orderProblem: String? = nil
        if textDateNumeric > 0 {
            let example = textDateExample.map { " (e.g. '\($0)')" } ?? ""
            if firstOver12 > 0 && secondOver12 == 0 {
                dateOrder = .dayFirst; orderWhy = "a first part over 12 in \(firstOver12) value\(firstOver12 == 1 ? "" : "s") means day first"
            } else if secondOver12 > 0 && firstOver12 == 0 {
                dateOrder = .monthFirst; orderWhy = "a second part over 12 in \(secondOver12) value\(secondOver12 == 1 ? "" : "s") means month first"
            } else if firstOver12 > 0 {
                orderProblem = "text: dates in both day/month orders (\(firstOver12) day first, \(secondOver12) month first)\(example); kept as text"
            } else if textDateSeparators == [UInt8(ascii: ".")] {
                dateOrder = .dayFirst; orderWhy = "dotted dates are day first; no value has a part over 12"
            } else if hint.mark == .comma, let r = hint.reason {
                dateOrder = .dayFirst; orderWhy = "no value has a part over 12; day first as \(r) signals a day-first locale"
            } else {
                orderProblem = "text: ambiguous dates, dd/mm/yyyy or mm/dd/yyyy: no value has a part over 12 and nothing in the file decides\(example); kept as text"
            }
        }
        let textDateCount = textDateFixed + (dateOrder != nil ? textDateNumeric : 0)
        let dateish = dates + dateTimes + textDates + textDateTimes + textDateCount
        if let problem = orderProblem, fits(dateish + textDateNumeric) {
            return textTyping(problem)
        }
        if fits(dateish) {
            let misfits = values - dateish
            let withTime = dateTimes + textDateTimes > 0
            var parts = [withTime ? "date-time" : "date"]
            if textDates + textDateTimes > 0 { parts[0] += ", ISO dates written as text" }
            if textDateCount > 0 {
                var formats = textDateFormats.sorted()
                if let o = dateOrder {
                    let sep = textDateSeparators.count == 1 ? Character(UnicodeScalar(textDateSeparators.first!)) : "/"
                    formats.insert(o.rawValue.replacingOccurrences(of: "/", with: String(sep)), at: 0)
                }
                parts[0] += ", text dates \(formats.joined(separator: ", ")) → ISO"
                if dateOrder != nil { parts[0] += " (\(orderWhy))" }
            }
            var tMin = temporalMin, tMax = temporalMax
            if dateOrder == .dayFirst { tMin = Swift.min(tMin, dayFirstMin); tMax = Swift.max(tMax, dayFirstMax) }
            if dateOrder == .monthFirst { tMin = Swift.min(tMin, monthFirstMin); tMax = Swift.max(tMax, monthFirstMax) }
            if !withTime && datesWithTime > 0 { parts.append("date-only format: \(datesWithTime) time part\(datesWithTime == 1 ? "" : "s") dropped") }
            if outOfRangeDates > 0 { parts.append("\(outOfRangeDates) serial\(outOfRangeDates == 1 ? "" : "s") outside Excel's dates → NULL") }
            if let p = placeholderNote() { parts.append(p) }
            if let m = misfitNote(misfits) { parts.append(m) }
            let kind: TemporalKind = withTime ? .dateTime : .date
            func iso(_ s: Double) -> TypedValue { .text(ExcelDate.iso(kind, serial: withTime ? s : s.rounded(.down))) }
            let (nulled, ex) = nulls(misfits, Self.misfitExamples(words: wordExamples, tally: [], extra: []))
            var typing = ColumnTyping(rule: parts.joined(separator: "; "), nulled: nulled, nulledExamples: ex,
                                      profile: ColumnProfile(values: dateish, min: tMin.isFinite ? iso(tMin) : nil,
                                                             max: tMax.isFinite ? iso(tMax) : nil))
            typing.textDateOrder = dateOrder
            return (withTime ? .datetime : .date, typing)
        }
        if durations > 0, fits(durations + times) {
            let misfits = values - durations - times
            var parts = ["duration, seconds (elapsed-time format)"]
            if let p = placeholderNote() { parts.append(p) }
            if let m = misfitNote(misfits) { parts.append(m) }
            let (nulled, ex) = nulls(misfits, Self.misfitExamples(words: wordExamples, tally: [], extra: []))
            return (.duration, ColumnTyping(rule: parts.joined(separator: "; "), nulled: nulled, nulledExamples: ex,
                                            profile: ColumnProfile(values: durations + times,
                                                                   min: timeMin.isFinite ? .real(Self.seconds(timeMin)) : nil,
                                                                   max: timeMax.isFinite ? .real(Self.seconds(timeMax)) : nil)))
        }
        if fits(times) {
            let misfits = values - times
            var parts = ["time of day"]
            if let p = placeholderNote() { parts.append(p) }
            if let m = misfitNote(misfits) { parts.append(m) }
            let (nulled, ex) = nulls(misfits, Self.misfitExamples(words: wordExamples, tally: [], extra: []))
            return (.time, ColumnTyping(rule: parts.joined(separator: "; "), nulled: nulled, nulledExamples: ex,
                                        profile: ColumnProfile(values: times, min: .text(ExcelDate.iso(.time, serial: timeMin)),
                                                               max: .text(ExcelDate.iso(.time, serial: timeMax)))))
        }
        if fits(bools) {
            let misfits = values - bools
            var parts = ["boolean (1 = TRUE, 0 = FALSE)"]
            if let p = placeholderNote() { parts.append(p) }
            if let m = misfitNote(misfits) { parts.append(m) }
            let (nulled, ex) = nulls(misfits, Self.misfitExamples(words: wordExamples, tally: [], extra: []))
            return (.boolean, ColumnTyping(rule: parts.joined(separator: "; "), nulled: nulled, nulledExamples: ex,
                                           profile: ColumnProfile(values: bools)))
        }

        // 4. Text.
        if numeric * 2 >= values && numeric > 0 {
            var why = "\(numeric) of \(nonEmpty) non-empty cells are numbers"
            if placeholders + errors > 0 {
                let shown = placeholderExamples.filter { !$0.trimmingWhitespace().isEmpty }
                why += ", \(placeholders + errors) placeholder\(placeholders + errors == 1 ? "" : "s")"
                    + (shown.isEmpty ? "" : " (\(shown.joined(separator: ", ")))")
            }
            let others = values - numeric
            if let list = tokenList(), others == words {
                why += "; kept as text by \(list)"
            } else if !wordExamples.isEmpty {
                why += "; kept as text by \(others) other value\(others == 1 ? "" : "s") (e.g. \(wordExamples.map { "'\($0)'" }.joined(separator: ", ")))"
            } else if others > 0 {
                why += "; \(others) other value\(others == 1 ? "" : "s")"
            }
            return textTyping("text: no rule fits cleanly (\(why))")
        }
        return textTyping("text")
    }

    /// The unknown words and their counts (`x (1 cell), pending (2 cells)`), most frequent
    /// first; nil when they were too many kinds to keep.
    func tokenList() -> String? {
        guard let w = wordCounts, !w.isEmpty else { return nil }
        return w.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key.count > 40 ? String($0.key.prefix(40)) + "…" : $0.key) (\($0.value) cell\($0.value == 1 ? "" : "s"))" }
            .joined(separator: ", ")
    }

    static func misfitExamples(words: [String], tally: [String], extra: [String]) -> [String] {
        var out: [String] = []
        for s in words + tally + extra where out.count < maxExamples && !out.contains(s) { out.append(s) }
        return out
    }

    static func seconds(_ days: Double) -> Double { (days * 86_400_000).rounded() / 1000 }

    /// The distinct values when there are at most `maxDistinct`, most frequent first.
    func distinctTexts() -> [String]? {
        guard let s = distinctStrings, let n = distinctNumbers, s.count + n.count <= Self.maxDistinct,
              s.count + n.count > 0 else { return nil }
        var all: [(String, Int)] = s.map { ($0.key, $0.value) }
        for (x, c) in n { all.append((TableInferrer.displayText(.number(x)), c)) }
        return all.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.map(\.0)
    }
}

extension ExcelDate {
    /// Whether a date serial lies in Excel's range: 1900-01-00 (serial 0) to 9999-12-31
    /// (serial 2,958,465). Excel shows `####` for a date-formatted cell outside it; the
    /// number stays a number.
    public static func inRange(_ serial: Double) -> Bool { serial >= 0 && serial < 2_958_466 }
}

extension TableColumn {
    /// The value the typed SQL column holds for `cell` (see ColumnTyping.swift for the rules):
    /// integer and real columns read number texts with the column's decimal mark; placeholders,
    /// error cells and values of another kind become NULL; dates become ISO text (`2024-03-01`,
    /// date-time `2024-03-01T12:30:00`), times `HH:MM:SS`, durations seconds, booleans 1/0;
    /// a text column holds every value as text (numbers as written).
    public func sqlValue(_ cell: RowCell) -> TypedValue {
        switch type {
        case .integer, .real:
            let x: Double
            switch cell.value {
            case let .number(v):
                if let t = cell.text {
                    guard let n = NumberText.scan(t), let v = n.value(typing.decimalMark) else { return .null }
                    x = v
                } else {
                    x = v
                }
            case let .string(s):
                if let n = NumberText.scan(s), !n.has(NumberText.longDigits), let v = n.value(typing.decimalMark) {
                    x = v
                } else if typing.scaleSuffixes, let (v, _) = ColumnStats.scaledNumber(s) {
                    x = v
                } else {
                    return .null
                }
            case let .temporal(kind, serial) where (kind == .date || kind == .dateTime) && !ExcelDate.inRange(serial):
                x = serial
            default:
                return .null
            }
            if type == .integer, x == x.rounded(), abs(x) < 9.0e15 { return .integer(Int64(x)) }
            return .real(x)
        case .date, .datetime:
            switch cell.value {
            case let .temporal(kind, serial) where (kind == .date || kind == .dateTime) && ExcelDate.inRange(serial):
                return type == .date ? .text(ExcelDate.iso(.date, serial: serial.rounded(.down)))
                    : .text(ExcelDate.iso(.dateTime, serial: serial))
            case let .string(s):
                let serial: Double
                if case let .temporal(_, v)? = ColumnStats.isoTemporal(s) {
                    serial = v
                } else if let v = TextDate.serial(s, order: typing.textDateOrder) {
                    serial = v
                } else {
                    return .null
                }
                return type == .date ? .text(ExcelDate.iso(.date, serial: serial.rounded(.down)))
                    : .text(ExcelDate.iso(.dateTime, serial: serial))
            default:
                return .null
            }
        case .time:
            if case let .temporal(.time, serial) = cell.value { return .text(ExcelDate.iso(.time, serial: serial)) }
            return .null
        case .duration:
            if case let .temporal(kind, serial) = cell.value, kind == .duration || kind == .time { return .real(ColumnStats.seconds(serial)) }
            return .null
        case .boolean:
            if case let .bool(b) = cell.value { return .integer(b ? 1 : 0) }
            return .null
        case .text:
            switch cell.value {
            case .empty: return .null
            case let .string(s): return .text(s)
            case let .number(x): return .text(cell.text ?? TableInferrer.displayText(.number(x)))
            case let .bool(b): return .text(b ? "TRUE" : "FALSE")
            case let .error(e): return .text(e)
            case let .temporal(kind, serial): return .text(ExcelDate.iso(kind, serial: serial))
            }
        }
    }
}
