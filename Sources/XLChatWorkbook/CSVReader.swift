import Foundation

/// A delimited text file (csv, tsv, txt) as a one-sheet workbook named after the file's stem.
///
/// Encoding: a BOM decides (UTF-8, UTF-16 LE/BE); else a NUL in every other byte means BOM-less
/// UTF-16; else the first 64 KiB decide between UTF-8 and cp1252. In a UTF-8 file, a later field
/// that is not valid UTF-8 is decoded as cp1252 (so one stray Latin-1 byte far into a big file
/// does not turn into U+FFFD or fail the read).
///
/// Delimiter: of `,` `;` tab `|`, the one splitting the first records (quotes respected) into the
/// most consistent field count above one; ties go to more fields, then to the extension's
/// delimiter (tab for .tsv), then to that order. One-column files get the extension's delimiter.
///
/// Values (see `CSVValueTyping`): a field becomes a number, boolean or date only when its whole
/// text is exactly one of the accepted spellings; anything else stays `.string` with its text
/// unchanged (no trimming). `RowCell.formula` is always nil. With `inferTypes: false` every
/// non-empty field is delivered as `.string`, the raw text.
///
/// Memory: the file is read in 1 MiB chunks and parsed as a stream; only the current record is
/// held (a single field may grow up to `ReadLimits.maxTextFieldBytes`, 16 MiB, before `tooLarge`). Rows are not capped at Excel's
/// 1,048,576 unless `ReadLimits.maxTextRows` says so; columns are capped at `maxColumns`.
public final class CSVReader: WorkbookReader {
    public let path: String
    public let format: WorkbookFormat
    public let encoding: TextEncoding
    /// The field delimiter in use (`,` `;` `\t` or `|`, or what the caller forced).
    public let delimiter: Character
    public let inferTypes: Bool
    public let sheets: [SheetInfo]
    public var definedNames: [DefinedName] { [] }
    public var declaredTables: [DeclaredTable] { [] }

    private let limits: ReadLimits
    private let delimiterByte: UInt8
    private let bomLength: Int

    static let chunkSize = 1 << 20
    static let sniffBytes = 64 << 10
    static let candidates: [UInt8] = [UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "\t"), UInt8(ascii: "|")]

    /// - Parameters:
    ///   - delimiter: force a delimiter (any ASCII character) instead of sniffing.
    ///   - preferredDelimiter: wins ties while sniffing, and is used for one-column files;
    ///     defaults to tab for `.tsv`/`.tab` files and `,` otherwise.
    public init(path: String, limits: ReadLimits = .default, delimiter: Character? = nil,
                preferredDelimiter: Character? = nil, inferTypes: Bool = true) throws {
        self.path = path
        self.limits = limits
        self.inferTypes = inferTypes
        let file = try FileInput(path: path)
        let head = try file.readFully(Self.sniffBytes)
        if head.isEmpty { throw WorkbookError.corrupt("empty file: \(path) has no bytes") }
        let complete = Int64(head.count) >= file.size
        let (encoding, bom) = TextEncodingDetector.detect(head, complete: complete)
        self.encoding = encoding
        self.bomLength = bom

        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension.lowercased()
        let stem = url.deletingPathExtension().lastPathComponent
        let preferred: UInt8 = preferredDelimiter?.asciiValue
            ?? ((ext == "tsv" || ext == "tab") ? UInt8(ascii: "\t") : UInt8(ascii: ","))

        if let forced = delimiter {
            guard let a = forced.asciiValue, a != 0, a != 10, a != 13, a != 34 else {
                throw WorkbookError(.unsupportedFormat, "delimiter must be one ASCII character other than a quote or line break")
            }
            delimiterByte = a
        } else {
            var text = Array(head[bom...])
            if encoding.isUTF16 {
                var t = UTF16Transcoder(bigEndian: encoding == .utf16BE)
                var out: [UInt8] = []
                text.withUnsafeBytes { t.transcode($0, into: &out) }
                text = out
            }
            delimiterByte = Self.sniffDelimiter(text, complete: complete, preferred: preferred)
        }
        self.delimiter = Character(Unicode.Scalar(delimiterByte))
        self.format = (ext == "tsv" || ext == "tab" || (ext != "csv" && delimiterByte == UInt8(ascii: "\t"))) ? .tsv : .csv
        self.sheets = [SheetInfo(name: stem.isEmpty ? "Sheet1" : stem, index: 0)]
    }

    /// Picks the delimiter whose field counts over the first records are most consistent.
    static func sniffDelimiter(_ text: [UInt8], complete: Bool, preferred: UInt8) -> UInt8 {
        var best: (consistency: Double, mode: Int, rank: Int, delim: UInt8)? = nil
        for (order, d) in candidates.enumerated() {
            var parser = CSVParser(delimiter: d)
            var counts: [Int] = []
            let maxRecords = 100
            _ = try? text.withUnsafeBufferPointer { buf in
                try parser.feed(buf) { rec in
                    if rec.count > 0 { counts.append(rec.count) }
                    return counts.count < maxRecords
                }
            }
            // The last record of a cut-off sample may be partial: count it only at end of file.
            if complete && counts.count < maxRecords {
                try? parser.finish { rec in if rec.count > 0 { counts.append(rec.count) }; return true }
            }
            guard !counts.isEmpty else { continue }
            var freq: [Int: Int] = [:]
            for c in counts { freq[c, default: 0] += 1 }
            // The most frequent count; on equal frequency the larger count.
            let (mode, hits) = freq.max { a, b in a.value != b.value ? a.value < b.value : a.key < b.key }!
            guard mode > 1 else { continue }
            let consistency = Double(hits) / Double(counts.count)
            let rank = d == preferred ? -1 : order
            let cand = (consistency, mode, rank, d)
            if let b = best {
                if cand.0 > b.consistency + 1e-9
                    || (abs(cand.0 - b.consistency) <= 1e-9 && (cand.1 > b.mode || (cand.1 == b.mode && cand.2 < b.rank))) {
                    best = cand
                }
            } else {
                best = cand
            }
        }
        return best?.delim ?? preferred
    }

    @discardableResult
    public func readSheet(at index: Int, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        guard index == 0 else {
            throw WorkbookError(.unknownSheet, "a \(format.rawValue) file has one sheet (index 0); asked for \(index)")
        }
        let file = try FileInput(path: path)
        var parser = CSVParser(delimiter: delimiterByte, maxFieldBytes: limits.maxTextFieldBytes)
        var transcoder = encoding.isUTF16 ? UTF16Transcoder(bigEndian: encoding == .utf16BE) : nil
        var rows = RowAssembler(cp1252: encoding == .cp1252, inferTypes: inferTypes,
                                maxRows: limits.maxTextRows, maxColumns: limits.maxColumns)

        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 8)
        defer { raw.deallocate() }
        var utf8: [UInt8] = []
        var skip = bomLength
        var atEnd = false
        reading: while !atEnd {
            let n = try file.read(into: raw)
            var chunk = UnsafeRawBufferPointer(rebasing: raw[0..<n])
            if skip > 0 {
                let s = min(skip, n)
                chunk = UnsafeRawBufferPointer(rebasing: chunk[s...])
                skip -= s
            }
            atEnd = n == 0
            if transcoder != nil {
                if atEnd { transcoder!.finish(into: &utf8) } else { transcoder!.transcode(chunk, into: &utf8) }
            }
            let go = try utf8.withUnsafeBufferPointer { converted -> Bool in
                let buf = transcoder != nil ? converted : chunk.bindMemory(to: UInt8.self)
                var i = 0
                while try parser.next(buf, &i) {
                    if try !rows.take(parser.record, visitor) { return false }
                }
                return true
            }
            if !go { break reading }
            if atEnd, try parser.finishRecord() {
                _ = try rows.take(parser.record, visitor)
            }
        }
        return rows.summary
    }
}

/// Turns parsed records into `SheetRow`s: decoding, typing, bounds and limits.
private struct RowAssembler {
    let cp1252: Bool
    let inferTypes: Bool
    let maxRows: Int
    let maxColumns: Int
    var rowIndex = 0
    var minRow = Int.max, maxRow = -1, minCol = Int.max, maxCol = -1, cellCount = 0
    var cells: [RowCell] = []

    init(cp1252: Bool, inferTypes: Bool, maxRows: Int, maxColumns: Int) {
        self.cp1252 = cp1252; self.inferTypes = inferTypes; self.maxRows = maxRows; self.maxColumns = maxColumns
    }

    /// Hands the record to the visitor as a row; false when the visitor says stop.
    mutating func take(_ rec: CSVRecord, _ visitor: (SheetRow) throws -> Bool) throws -> Bool {
        defer { rowIndex += 1 }
        cells.removeAll(keepingCapacity: true)
        if rec.count > maxColumns {
            throw WorkbookError.tooLarge("record \(rowIndex + 1) has \(rec.count) fields; at most \(maxColumns) columns are supported")
        }
        let cp1252 = self.cp1252, infer = inferTypes
        rec.bytes.withUnsafeBufferPointer { all in
            for f in 0..<rec.count {
                let r = rec.range(f)
                if r.isEmpty { continue }
                let bytes = UnsafeBufferPointer(rebasing: all[r])
                let text: String
                if cp1252 {
                    text = CP1252.decode(bytes)
                } else {
                    // Validated by hand: the generic `String(validating:as:)` costs ~15% of a read
                    // in runtime generic-metadata lookups (measured with perf).
                    text = TextEncodingDetector.isValidUTF8(bytes) ? String(decoding: bytes, as: UTF8.self) : CP1252.decode(bytes)
                }
                guard infer else { cells.append(RowCell(column: f, value: .string(text))); continue }
                let value = CSVValueTyping.value(of: text)
                // A number written with a point or comma (`1.200`) keeps its text: column typing
                // may read it with a decimal comma (the cell itself stays as typed here).
                if case .number = value, bytes.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ",") }) {
                    cells.append(RowCell(column: f, value: value, text: text))
                } else {
                    cells.append(RowCell(column: f, value: value))
                }
            }
        }
        guard !cells.isEmpty else { return true }
        if rowIndex >= maxRows {
            throw WorkbookError.tooLarge("more than \(maxRows) rows (the limit set for delimited text)")
        }
        minRow = min(minRow, rowIndex); maxRow = rowIndex
        minCol = min(minCol, cells[0].column); maxCol = max(maxCol, cells[cells.count - 1].column)
        cellCount += cells.count
        try ReadCancellation.check()
        return try visitor(SheetRow(index: rowIndex, cells: cells))
    }

    var summary: SheetSummary {
        let used = maxRow < 0 ? nil : CellRange(rows: minRow...maxRow, columns: minCol...maxCol)
        return SheetSummary(usedRange: used, mergedRanges: [], cellCount: cellCount)
    }
}

/// How a csv field's text becomes a typed value. A field is typed only when its whole text, with
/// no surrounding spaces, is one of these spellings; otherwise it stays `.string`, unchanged:
/// - number: `[+-]?digits[.digits][(e|E)[+-]?digits]` or `[+-]?.digits...`, with no leading zero
///   before another digit (`007`, `00.5` stay text: codes, zip codes) and at most 15 significant
///   digits (longer digit strings such as card or account numbers would lose digits as doubles).
///   Thousands separators only when unambiguous: `1,234,567` (two groups or more) or
///   `1,234.5` (a decimal point); `1,234` alone stays text (1.234 in many locales).
/// - boolean: `true` / `false`, any letter case.
/// - date `YYYY-MM-DD` -> `.temporal(.date)`; date-time `YYYY-MM-DD[T ]HH:MM[:SS[.fff]]` ->
///   `.temporal(.dateTime)` (no time zone: `Z` or `+02:00` stays text). Invalid calendar dates
///   (`2023-02-29`) stay text.
public enum CSVValueTyping {
    public static func value(of text: String) -> CellValue {
        var text = text
        return text.withUTF8 { typed($0) } ?? .string(text)
    }

    static func typed(_ b: UnsafeBufferPointer<UInt8>) -> CellValue? {
        guard let first = b.first else { return nil }
        switch first {
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            if b.count >= 10, let t = temporal(b) { return t }
            return number(b)
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."):
            return number(b)
        case UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "f"), UInt8(ascii: "F"):
            return boolean(b)
        default:
            return nil
        }
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    static func boolean(_ b: UnsafeBufferPointer<UInt8>) -> CellValue? {
        let lower = b.map { $0 | 0x20 }
        if lower == Array("true".utf8) { return .bool(true) }
        if lower == Array("false".utf8) { return .bool(false) }
        return nil
    }

    static func number(_ b: UnsafeBufferPointer<UInt8>) -> CellValue? {
        let n = b.count
        var i = 0
        if i < n && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
        let intStart = i
        var grouped = false, groups = 0
        while i < n && isDigit(b[i]) { i += 1 }
        var intDigits = i - intStart
        // Thousands groups: 1-3 leading digits, then `,ddd` groups.
        if i < n && b[i] == UInt8(ascii: ","), intDigits >= 1, intDigits <= 3, b[intStart] != UInt8(ascii: "0") {
            while i + 3 < n && b[i] == UInt8(ascii: ",") && isDigit(b[i + 1]) && isDigit(b[i + 2]) && isDigit(b[i + 3])
                    && (i + 4 == n || !isDigit(b[i + 4])) {
                i += 4; groups += 1; intDigits += 3
            }
            grouped = groups > 0
            if i < n && b[i] == UInt8(ascii: ",") { return nil }
        }
        if intDigits > 1 && b[intStart] == UInt8(ascii: "0") { return nil }
        var fracDigits = 0
        var hasPoint = false
        if i < n && b[i] == UInt8(ascii: ".") {
            hasPoint = true
            i += 1
            let s = i
            while i < n && isDigit(b[i]) { i += 1 }
            fracDigits = i - s
            if fracDigits == 0 { return nil }
        }
        guard intDigits + fracDigits > 0 else { return nil }
        if grouped && groups < 2 && !hasPoint { return nil }  // `1,234`: ambiguous
        var hasExp = false
        if i < n && (b[i] | 0x20) == UInt8(ascii: "e") {
            if grouped { return nil }
            hasExp = true
            i += 1
            if i < n && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
            let s = i
            while i < n && isDigit(b[i]) { i += 1 }
            if i == s || i - s > 4 { return nil }
        }
        guard i == n else { return nil }
        // Significant digits: drop leading zeros of the integer part and, when there is no
        // integer part, leading zeros of the fraction.
        var significant = 0, leading = true
        for k in intStart..<n {
            let c = b[k]
            if (c | 0x20) == UInt8(ascii: "e") { break }
            guard isDigit(c) else { continue }
            if leading && c == UInt8(ascii: "0") { continue }
            leading = false
            significant += 1
        }
        // Trailing zeros of a fraction add no precision (`1.50`).
        if hasPoint && !hasExp {
            var k = n - 1
            while k > intStart && b[k] == UInt8(ascii: "0") && significant > 0 { significant -= 1; k -= 1 }
        }
        guard significant <= 15 else { return nil }
        if !hasPoint && !hasExp && !grouped {
            // Plain integer of at most 15 digits: exact, no string round trip.
            var v: Int64 = 0
            for k in intStart..<n { v = v * 10 + Int64(b[k] - 48) }
            return .number(b[0] == UInt8(ascii: "-") ? -Double(v) : Double(v))
        }
        // Plain decimals of at most 15 digits: digits / 10^fraction is correctly rounded
        // (`NumberText.decimalFastPath`), no String and no strtod (perf: 2% of a csv open).
        if hasPoint && !hasExp && !grouped && intDigits + fracDigits <= 15 {
            if let v = NumberText.decimalFastPath(b, intStart, n, exponent: fracDigits) {
                return .number(b[0] == UInt8(ascii: "-") ? -v : v)
            }
        }
        var ascii = String(decoding: b, as: UTF8.self)
        if grouped { ascii.removeAll { $0 == "," } }
        guard let v = Double(ascii), v.isFinite else { return nil }
        return .number(v)
    }

    static func temporal(_ b: UnsafeBufferPointer<UInt8>) -> CellValue? {
        let n = b.count
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= n else { return nil }
            var v = 0
            for k in from..<(from + len) { guard isDigit(b[k]) else { return nil }; v = v * 10 + Int(b[k] - 48) }
            return v
        }
        guard n >= 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              let y = num(0, 4), let m = num(5, 2), let d = num(8, 2),
              m >= 1, m <= 12, d >= 1, d <= daysIn(month: m, year: y) else { return nil }
        if n == 10 { return .temporal(.date, serial: ExcelDate.serial(year: y, month: m, day: d)) }
        guard n >= 16, b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " "), b[13] == UInt8(ascii: ":"),
              let hh = num(11, 2), let mm = num(14, 2), hh < 24, mm < 60 else { return nil }
        var seconds = 0.0
        if n > 16 {
            guard b[16] == UInt8(ascii: ":"), let ss = num(17, 2), ss < 60 else { return nil }
            seconds = Double(ss)
            if n > 19 {
                guard b[19] == UInt8(ascii: "."), n > 20, n <= 29 else { return nil }
                var frac = 0.0, scale = 0.1
                for k in 20..<n { guard isDigit(b[k]) else { return nil }; frac += Double(b[k] - 48) * scale; scale /= 10 }
                seconds += frac
            }
        }
        return .temporal(.dateTime, serial: ExcelDate.serial(year: y, month: m, day: d, hour: hh, minute: mm, second: seconds))
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
