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
        guard let n = NumberText.scan(s) else {
            // ISO dates written as text (`2024-03-01`, `2024-03-01 12:30`).
            if let d = Self.isoTemporal(s) {
                if case let .temporal(kind, serial) = d {
                    if kind == .date { textDates += 1 } else { textDateTimes += 1 }
                    temporalMin = Swift.min(temporalMin, serial); temporalMax = Swift.max(temporalMax, serial)
                }
                return
            }
            words += 1
            Self.note(s, in: &wordExamples)
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
        func misfitNote(_ n: Int) -> String? { n > 0 ? "\(n) value\(n == 1 ? "" : "s") that did not fit → NULL" : nil }
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
        let numeric = numbers + tally.valid
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
        if fits(numeric) {
            let misfits = values - numeric
            var parts: [String] = []
            if tally.valid > 0 {
                var number: [String] = []
                if let k = currencyKeys.first {
                    let spelling = currencySpelling[UInt8(k)] ?? Currency.keys[k - 1]
                    let key = Currency.keys[k - 1]
                    number.append("currency \(key)\(spelling != key ? " (\(spelling))" : "")")
                }
                if percents > 0 { number.append("percent → fraction") }
                if let r = markReason { number.append(r) } else if mark == .comma { number.append("decimal comma") }
                let groups = (1...4).filter { tally.groups & (1 << UInt8($0)) != 0 }.compactMap { NumberText.Separator(rawValue: UInt8($0))?.display }
                if !groups.isEmpty { number.append("thousands " + groups.joined(separator: " and ")) }
                if parenNegatives > 0 { number.append("(…) negatives") }
                if trailingMinus > 0 { number.append("trailing minus") }
                if unicodeMinus > 0 { number.append("Unicode minus") }
                if number.isEmpty && tally.valid > typedNumberTexts { number.append("numbers written as text") }
                parts.append(number.isEmpty ? "number" : number.joined(separator: ", "))
            } else {
                parts.append("number")
            }
            if outOfRangeDates > 0 { parts.append("\(outOfRangeDates) date-formatted serial\(outOfRangeDates == 1 ? "" : "s") outside Excel's dates kept as numbers") }
            if let p = placeholderNote() { parts.append(p) }
            if let m = misfitNote(misfits) { parts.append(m) }
            let integral = numbersIntegral && tally.integral && percents == 0
            let lo = Swift.min(numberMin, tally.min), hi = Swift.max(numberMax, tally.max)
            let type: ColumnType = integral ? .integer : .real
            func typed(_ x: Double) -> TypedValue { integral ? .integer(Int64(x)) : .real(x) }
            let (nulled, ex) = nulls(misfits, Self.misfitExamples(words: wordExamples, tally: tally.misfitExamples, extra: []))
            return (type, ColumnTyping(rule: parts.joined(separator: "; "), nulled: nulled, nulledExamples: ex,
                                       profile: ColumnProfile(values: numeric, min: lo.isFinite ? typed(lo) : nil, max: hi.isFinite ? typed(hi) : nil),
                                       decimalMark: mark))
        }

        // 3. Dates, times, durations, booleans.
        let dateish = dates + dateTimes + textDates + textDateTimes
        if fits(dateish) {
            let misfits = values - dateish
            let withTime = dateTimes + textDateTimes > 0
            var parts = [withTime ? "date-time" : "date"]
            if textDates + textDateTimes > 0 { parts[0] += ", ISO dates written as text" }
            if !withTime && datesWithTime > 0 { parts.append("date-only format: \(datesWithTime) time part\(datesWithTime == 1 ? "" : "s") dropped") }
            if outOfRangeDates > 0 { parts.append("\(outOfRangeDates) serial\(outOfRangeDates == 1 ? "" : "s") outside Excel's dates → NULL") }
            if let p = placeholderNote() { parts.append(p) }
            if let m = misfitNote(misfits) { parts.append(m) }
            let kind: TemporalKind = withTime ? .dateTime : .date
            func iso(_ s: Double) -> TypedValue { .text(ExcelDate.iso(kind, serial: withTime ? s : s.rounded(.down))) }
            let (nulled, ex) = nulls(misfits, Self.misfitExamples(words: wordExamples, tally: [], extra: []))
            return (withTime ? .datetime : .date,
                    ColumnTyping(rule: parts.joined(separator: "; "), nulled: nulled, nulledExamples: ex,
                                 profile: ColumnProfile(values: dateish, min: temporalMin.isFinite ? iso(temporalMin) : nil,
                                                        max: temporalMax.isFinite ? iso(temporalMax) : nil)))
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
            return textTyping("text: no rule fits cleanly (\(numeric) of \(values) values are numbers)")
        }
        return textTyping("text")
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
                guard let n = NumberText.scan(s), !n.has(NumberText.longDigits), let v = n.value(typing.decimalMark) else { return .null }
                x = v
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
                guard case let .temporal(_, serial)? = ColumnStats.isoTemporal(s) else { return .null }
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
