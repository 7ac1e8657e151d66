// RFC 4180 record splitting over ASCII-compatible bytes (UTF-8 or cp1252), resumable across
// chunks so a file is streamed, never held whole. Hand-written because the only alternatives are
// Foundation string splitting (whole file in memory) or a package we would not otherwise carry.
//
// Rules (those of Python's csv module, which the corpus expectations come from):
// - a field starting with `"` is quoted: `""` inside is one quote, delimiters and CR/LF are data;
//   text after the closing quote is appended as is (`"a"b` -> `ab`);
// - a `"` inside an unquoted field is literal;
// - records end at LF, CR or CRLF; a blank line is a record with no fields;
// - NUL bytes are dropped wherever they appear (the corpus has none; Python keeps them, but they
//   are never meaningful in a cell and break C-string consumers such as SQLite's text functions);
// - end of input inside a quoted field is an error (`corruptWorkbook`), as in Python.

struct CSVRecord {
    /// All field bytes of the record, concatenated.
    var bytes: [UInt8] = []
    /// `ends[i]` is the end offset of field i in `bytes`.
    var ends: [Int] = []
    /// Whether field i was quoted.
    var quoted: [Bool] = []

    var count: Int { ends.count }
    func range(_ i: Int) -> Range<Int> { (i == 0 ? 0 : ends[i - 1])..<ends[i] }

    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        quoted.removeAll(keepingCapacity: true)
    }
}

struct CSVParser {
    private enum State { case fieldStart, unquoted, quoted, quoteInQuoted }
    private static let quote = UInt8(ascii: "\""), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")

    let delimiter: UInt8
    let maxFieldBytes: Int
    private var state = State.fieldStart
    private var fieldQuoted = false
    private var recordOpen = false
    private var skipLF = false
    /// Records emitted so far (blank lines included).
    private(set) var recordsEmitted = 0
    private var quotedFieldRecord = 0
    private var pendingReset = false
    /// The last completed record (valid right after `next` returned true).
    private(set) var record = CSVRecord()

    init(delimiter: UInt8, maxFieldBytes: Int = 256 << 20) {
        self.delimiter = delimiter
        self.maxFieldBytes = maxFieldBytes
    }

    private mutating func endField() {
        record.ends.append(record.bytes.count)
        record.quoted.append(fieldQuoted)
        fieldQuoted = false
    }

    private mutating func checkFieldSize() throws {
        let start = record.ends.last ?? 0
        if record.bytes.count - start > maxFieldBytes {
            throw WorkbookError.tooLarge("a csv field in record \(recordsEmitted + 1) is over \(maxFieldBytes) bytes")
        }
    }

    /// Ends the current record at a line break; it stays readable in `record` until the next call.
    private mutating func closeRecord() {
        if recordOpen || state != .fieldStart { endField() }
        state = .fieldStart
        recordOpen = false
        recordsEmitted += 1
        pendingReset = true
    }

    /// Feeds a chunk. `emit` gets each complete record; returning false stops (feed returns false).
    mutating func feed(_ buf: UnsafeBufferPointer<UInt8>, _ emit: (CSVRecord) throws -> Bool) throws -> Bool {
        var i = 0
        while try next(buf, &i) {
            if try !emit(record) { return false }
        }
        return true
    }

    /// Parses `buf` from `i` on. Returns true when a record is complete (read it from `record`;
    /// call again with the same `i` to go on), false when `buf` is used up mid-record.
    /// A pull API, so the caller's loop needs no closure (closures capturing the caller's
    /// state cost ~12% of a read in dynamic exclusivity checks, measured with perf).
    mutating func next(_ buf: UnsafeBufferPointer<UInt8>, _ i: inout Int) throws -> Bool {
        if pendingReset { record.reset(); pendingReset = false }
        let n = buf.count
        let delim = delimiter, quote = Self.quote, cr = Self.cr, lf = Self.lf
        while i < n {
            let b = buf[i]
            if skipLF {
                skipLF = false
                if b == lf { i += 1; continue }
            }
            if b == 0 { i += 1; continue }
            switch state {
            case .fieldStart:
                i += 1
                if b == quote {
                    state = .quoted; fieldQuoted = true; recordOpen = true
                    quotedFieldRecord = recordsEmitted + 1
                } else if b == delim {
                    endField(); recordOpen = true
                } else if b == lf || b == cr {
                    skipLF = b == cr
                    closeRecord(); return true
                } else {
                    record.bytes.append(b); state = .unquoted; recordOpen = true
                }
            case .unquoted:
                var j = i
                while j < n {
                    let c = buf[j]
                    if c == delim || c == lf || c == cr || c == 0 { break }
                    j += 1
                }
                record.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[i..<j]))
                try checkFieldSize()
                i = j
                if j == n { break }
                let c = buf[j]
                i += 1
                if c == delim {
                    endField(); state = .fieldStart
                } else if c == lf || c == cr {
                    skipLF = c == cr
                    closeRecord(); return true
                }  // NUL: dropped
            case .quoted:
                var j = i
                while j < n {
                    let c = buf[j]
                    if c == quote || c == 0 { break }
                    j += 1
                }
                record.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[i..<j]))
                try checkFieldSize()
                i = j
                if j == n { break }
                i += 1
                if buf[j] == quote { state = .quoteInQuoted }
            case .quoteInQuoted:
                i += 1
                if b == quote {
                    record.bytes.append(quote); state = .quoted
                } else if b == delim {
                    endField(); state = .fieldStart
                } else if b == lf || b == cr {
                    skipLF = b == cr
                    closeRecord(); return true
                } else {
                    record.bytes.append(b); state = .unquoted
                }
            }
        }
        return false
    }

    /// End of input: true when a last record, not ended by a line break, is now in `record`.
    mutating func finishRecord() throws -> Bool {
        if pendingReset { record.reset(); pendingReset = false }
        if state == .quoted {
            throw WorkbookError.corrupt("unterminated quoted field: a `\"` opened in record \(quotedFieldRecord) is never closed")
        }
        if recordOpen || state != .fieldStart {
            closeRecord()
            return true
        }
        return false
    }

    mutating func finish(_ emit: (CSVRecord) throws -> Bool) throws {
        if try finishRecord() { _ = try emit(record) }
    }
}
