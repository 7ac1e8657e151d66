#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads OpenDocument spreadsheets (ods). `content.xml` is streamed from the inflater through
/// `XMLScanner` (never held whole, never a tree): opening makes one pass for the table names,
/// the automatic table styles (hidden tables) and the named expressions; `readSheet` makes
/// another pass that skips to its table and stops after it.
///
/// Repeats: `number-rows-repeated` / `number-columns-repeated` on empty rows and cells only move
/// the position (the usual `1048576`-row / `16384`-column tails cost nothing). A repeated cell
/// or row with content is delivered once per repeat, within Excel's limits (past them: `tooLarge`).
public final class ODSReader: WorkbookReader {
    public let format: WorkbookFormat = .ods
    public let sheets: [SheetInfo]
    public let definedNames: [DefinedName]
    public let declaredTables: [DeclaredTable] = []
    public let archive: ZipArchive
    public let limits: ReadLimits
    private let content: ZipEntry

    public convenience init(path: String, limits: ReadLimits = .default) throws {
        try self.init(archive: ZipArchive(path: path, limits: limits))
    }

    public init(archive: ZipArchive) throws {
        self.archive = archive
        self.limits = archive.limits
        if let manifest = try archive.read(named: "META-INF/manifest.xml") {
            var encrypted = false
            do {
                try PartHandler.scan(manifest) { h in
                    h.onStart = { tag, _ in if tag.isNamed("encryption-data") { encrypted = true } }
                }
            } catch let e as WorkbookError where e.kind == .corruptWorkbook {
                // The manifest is metadata: a damaged one does not stop the read (content.xml,
                // which is checked strictly, decides), unless it showed encryption before breaking.
            }
            if encrypted {
                throw WorkbookError(.encryptedWorkbook, "the OpenDocument spreadsheet is password protected")
            }
        }
        guard let content = archive.entry(named: "content.xml") else {
            throw WorkbookError.corrupt("an OpenDocument package without content.xml")
        }
        if let mime = try archive.read(named: "mimetype") {
            let m = String(decoding: mime, as: UTF8.self).trimmingSpaces()
            if !m.isEmpty && !m.hasPrefix("application/vnd.oasis.opendocument.spreadsheet") {
                throw WorkbookError(.unsupportedFormat, "an OpenDocument package of type \(m), not a spreadsheet")
            }
        }
        self.content = content
        var skimmer = ODSOutlineSkimmer()
        defer { skimmer.release() }
        // No CRC here: every readSheet streams the member again with the check (measured: the CRC
        // of a 293 MB content.xml is ~5% of a whole read).
        try archive.stream(content, verifyCRC: false) { try skimmer.feed($0) }
        try skimmer.finish()
        let outline = skimmer.handler
        guard outline.sawSpreadsheet else {
            throw WorkbookError.corrupt("content.xml holds no office:spreadsheet (empty or not a spreadsheet)")
        }
        var infos: [SheetInfo] = []
        for (i, t) in outline.tables.enumerated() {
            let hidden = t.style.map { outline.hiddenTableStyles.contains($0) } ?? false
            infos.append(SheetInfo(name: t.name, index: i, visibility: hidden ? .hidden : .visible))
        }
        sheets = infos
        definedNames = outline.names
    }

    @discardableResult
    public func readSheet(at index: Int, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        guard sheets.indices.contains(index) else {
            throw WorkbookError(.unknownSheet, "no sheet at index \(index) (the workbook has \(sheets.count))")
        }
        return try withoutActuallyEscaping(visitor) { visit in
            // The tables before this one are skimmed (not tokenized); from its start tag on, the
            // scanner reads. The handler then sees this table as its first.
            var handler = ODSSheetHandler(target: 0, limits: limits, visitor: visit)
            var skimmer = ODSOutlineSkimmer()
            skimmer.stopAtTable = index
            defer { skimmer.release() }
            var scanning = false
            var scanner = XMLScanner()
            defer { scanner.release() }
            do {
                try archive.stream(content) { chunk in
                    if scanning {
                        try scanner.feed(chunk, &handler)
                    } else if try skimmer.feed(chunk) {
                        scanning = true
                        try scanner.feed(skimmer.pending, &handler)
                    }
                }
                if !scanning { throw WorkbookError.corrupt("content.xml has no table \(index + 1) (\"\(sheets[index].name)\")") }
                try scanner.finish(&handler)
                throw WorkbookError.corrupt("content.xml ends inside table \"\(sheets[index].name)\"")
            } catch is XMLStop {
                // The table ended, or the visitor asked to stop.
            }
            return handler.summary
        }
    }
}

// MARK: - Shared helpers

enum ODS {
    /// Whether a qualified attribute name has the prefix `calcext:` (LibreOffice's extension
    /// attributes repeat `value-type` with values like `error`; the `office:` one decides).
    @inline(__always)
    static func isCalcext(_ q: UnsafeRawBufferPointer) -> Bool {
        q.count > 8 && q[0] == 0x63 && q[1] == 0x61 && q[2] == 0x6C && q[3] == 0x63 && q[4] == 0x65 && q[7] == 0x3A
    }

    @inline(__always)
    static func parseCount(_ raw: UnsafeRawBufferPointer) -> Int? {
        guard raw.count > 0 else { return nil }
        var v = 0
        for c in raw {
            guard c >= 48 && c <= 57 else { return nil }
            v = v &* 10 &+ Int(c - 48)
            if v > 1 << 40 { return 1 << 40 }  // absurd repeats saturate; they are checked against limits
        }
        return v
    }

    static func number(_ raw: UnsafeRawBufferPointer) -> Double? {
        let n = raw.count
        guard n > 0 else { return nil }
        if n >= 63 { return Double(String(decoding: raw, as: UTF8.self).trimmingSpaces()) }
        var buf: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &buf) { p -> Double? in
            let cp = p.baseAddress!.assumingMemoryBound(to: CChar.self)
            for k in 0..<n { cp[k] = CChar(bitPattern: raw[k]) }
            cp[n] = 0
            var end: UnsafeMutablePointer<CChar>? = nil
            let d = strtod(cp, &end)
            guard let end, end != cp else { return nil }
            var consumed = end - cp
            while consumed < n && XMLScanner.isSpace(raw[consumed]) { consumed += 1 }
            return consumed == n ? d : nil
        }
    }

    /// `PT11H12M12S`, `-PT1H`, `P1DT2H`, `PT36610.1S` -> days.
    static func duration(_ s: String) -> Double? {
        var b = Substring(s.trimmingSpaces())
        var sign = 1.0
        if b.first == "-" { sign = -1; b = b.dropFirst() }
        guard b.first == "P" else { return nil }
        b = b.dropFirst()
        var seconds = 0.0
        var inTime = false
        var num = ""
        var any = false
        for ch in b {
            if ch == "T" { inTime = true; continue }
            if ch.isNumber || ch == "." || ch == "," { num.append(ch == "," ? "." : ch); continue }
            guard let v = Double(num) else { return nil }
            num = ""
            any = true
            switch (ch, inTime) {
            case ("Y", false): seconds += v * 365 * 86400
            case ("M", false): seconds += v * 30 * 86400
            case ("W", false): seconds += v * 7 * 86400
            case ("D", false): seconds += v * 86400
            case ("H", true): seconds += v * 3600
            case ("M", true): seconds += v * 60
            case ("S", true): seconds += v
            default: return nil
            }
        }
        guard any, num.isEmpty else { return nil }
        return sign * seconds / 86400
    }

    /// `$Sheet1.$A$1:.$B$2` / `'My sheet'.A1` -> `Sheet1!$A$1:$B$2` (best effort; other text is kept).
    static func rangeAddress(_ s: String) -> String {
        func split(_ part: Substring) -> (sheet: String?, cell: String) {
            var p = part
            if p.hasPrefix("$") { p = p.dropFirst() }
            // The sheet name may be quoted and contain dots; the cell is after the last dot.
            guard let dot = p.lastIndex(of: ".") else { return (nil, String(p)) }
            var sheet = String(p[..<dot])
            if sheet.hasPrefix("$") { sheet.removeFirst() }
            if sheet.hasPrefix("'") && sheet.hasSuffix("'") && sheet.count >= 2 {
                sheet = String(sheet.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
            }
            return (sheet.isEmpty ? nil : sheet, String(p[p.index(after: dot)...]))
        }
        // A list of ranges is separated by spaces, but a quoted sheet name may hold spaces: take
        // the first range, up to a space outside quotes; then split it at a ':' outside quotes.
        var first = Substring(s)
        var quoted = false
        var colon: Substring.Index? = nil
        for i in s.indices {
            let ch = s[i]
            if ch == "'" { quoted.toggle() }
            else if ch == " " && !quoted { first = s[..<i]; break }
            else if ch == ":" && !quoted && colon == nil { colon = i }
        }
        let pieces: [Substring]
        if let colon, colon < first.endIndex {
            pieces = [first[..<colon], first[first.index(after: colon)...]]
        } else {
            pieces = [first]
        }
        guard pieces.count == 1 || pieces.count == 2 else { return s }
        let a = split(pieces[0])
        let cells = pieces.count == 2 ? a.cell + ":" + split(pieces[1]).cell : a.cell
        guard let sheet = a.sheet else { return cells }
        return A1.quoteSheet(sheet) + "!" + cells
    }
}

// MARK: - Opening: tables, hidden styles, named expressions

struct ODSOutlineHandler: XMLScanHandler {
    struct Table { var name: String; var style: String? }
    var tables: [Table] = []
    var hiddenTableStyles = Set<String>()
    var names: [DefinedName] = []
    /// Open `table:table` elements (sub-tables nest inside cells).
    var tableDepth = 0
    var rootClosed = false
    var inAutomaticStyles = false
    var tableStyle: String? = nil
    var sawSpreadsheet = false

    /// The skimmer reports an end for every start it hands over, self-closing ones included.
    mutating func start(_ tag: XMLTag) throws {
        if rootClosed { throw WorkbookError.corrupt("malformed content.xml: an element after the root element") }
        let n = tag.localName
        if XMLTag.equal(n, "table") {
            if tableDepth == 0 {
                tables.append(Table(name: try tag.string("name") ?? "Sheet\(tables.count + 1)",
                                    style: try tag.string("style-name")))
            }
            tableDepth += 1
        } else if tableDepth <= 1 && (XMLTag.equal(n, "named-range") || XMLTag.equal(n, "named-expression")) {
            guard let name = try tag.string("name") else { return }
            let local = tableDepth == 1 ? tables.count - 1 : nil
            if let addr = try tag.string("cell-range-address") {
                names.append(DefinedName(name: name, refersTo: ODS.rangeAddress(addr), localSheet: local))
            } else if var expr = try tag.string("expression") {
                if expr.hasPrefix("of:") { expr.removeFirst(3) }
                if expr.hasPrefix("=") { expr.removeFirst() }
                names.append(DefinedName(name: name, refersTo: expr, localSheet: local))
            }
        } else if XMLTag.equal(n, "spreadsheet") {
            sawSpreadsheet = true
        } else if XMLTag.equal(n, "automatic-styles") {
            inAutomaticStyles = true
        } else if inAutomaticStyles && XMLTag.equal(n, "style") {
            tableStyle = (try tag.string("family")) == "table" ? try tag.string("name") : nil
        } else if inAutomaticStyles && XMLTag.equal(n, "table-properties") {
            if let s = tableStyle, (try tag.string("display")) == "false" { hiddenTableStyles.insert(s) }
        }
    }

    mutating func end(_ n: UnsafeRawBufferPointer) throws {
        if rootClosed { throw WorkbookError.corrupt("malformed content.xml: an end tag after the root element") }
        if XMLTag.equal(n, "document-content") { rootClosed = true; return }
        if XMLTag.equal(n, "table") {
            tableDepth -= 1
            if tableDepth < 0 { throw WorkbookError.corrupt("malformed content.xml: unbalanced </table>") }
        }
        else if XMLTag.equal(n, "automatic-styles") { inAutomaticStyles = false }
        else if XMLTag.equal(n, "style") { tableStyle = nil }
    }

    mutating func text(_ raw: UnsafeRawBufferPointer, cdata: Bool) throws {}

    func checkClosed() throws {
        if !rootClosed || tableDepth != 0 {
            throw WorkbookError.corrupt("content.xml is truncated: the document is not closed")
        }
    }
}

/// The opening pass over content.xml, measured to matter: a 100k x 20 LibreOffice sheet is a
/// 293 MB content.xml, and tokenizing all of it twice (open, then read) cost more than calamine's
/// whole read. Opening needs only a few elements (the root, automatic table styles, tables,
/// named expressions), so this skims: at each `<` it reads the name; only those elements are
/// tokenized in full (quote-aware, handed to `ODSOutlineHandler` as `XMLTag`s), every other tag
/// and all text are skipped with `memchr` to the next `<` (a raw `<` cannot occur inside an
/// attribute value or text). Comments and CDATA are skipped whole; a DOCTYPE is refused.
struct ODSOutlineSkimmer {
    var handler = ODSOutlineHandler()
    /// When set, skimming stops at the start tag of this top-level table (0-based): `readSheet`
    /// skims past the tables before its own and hands the rest to the full scanner.
    var stopAtTable: Int? = nil
    private(set) var reachedTable = false
    /// The unconsumed bytes (after a stop: from the table's start tag on). Valid until the next feed.
    var pending: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer, count: count) }
    private var buffer: UnsafeMutableRawPointer
    private var capacity = 64 << 10
    private var count = 0
    let maxTokenBytes = 64 << 20

    init() { buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16) }

    mutating func release() { buffer.deallocate(); capacity = 0; count = 0 }

    /// Returns true once `stopAtTable` is reached (then `pending` holds the rest).
    @discardableResult
    mutating func feed(_ chunk: UnsafeRawBufferPointer) throws -> Bool {
        if count + chunk.count > capacity {
            var newCap = capacity
            while newCap < count + chunk.count { newCap *= 2 }
            let nb = UnsafeMutableRawPointer.allocate(byteCount: newCap, alignment: 16)
            nb.copyMemory(from: buffer, byteCount: count)
            buffer.deallocate()
            buffer = nb
            capacity = newCap
        }
        if let base = chunk.baseAddress, chunk.count > 0 { (buffer + count).copyMemory(from: base, byteCount: chunk.count) }
        count += chunk.count
        let used = try skim(UnsafeRawBufferPointer(start: buffer, count: count), final: false)
        if used > 0 {
            let rest = count - used
            if rest > 0 { buffer.copyMemory(from: buffer + used, byteCount: rest) }
            count = rest
        }
        if reachedTable { return true }
        if count > maxTokenBytes { throw WorkbookError.tooLarge("an XML token longer than \(maxTokenBytes) bytes") }
        return false
    }

    mutating func finish() throws {
        let used = try skim(UnsafeRawBufferPointer(start: buffer, count: count), final: true)
        if used < count { throw WorkbookError.corrupt("content.xml is truncated: it ends inside a tag") }
        count = 0
        try handler.checkClosed()
    }

    /// The local names the opening pass needs.
    @inline(__always)
    private static func isInteresting(_ n: UnsafeRawBufferPointer) -> Bool {
        switch n.count {
        case 5: return XMLTag.equal(n, "table") || XMLTag.equal(n, "style")
        case 11: return XMLTag.equal(n, "named-range") || XMLTag.equal(n, "spreadsheet")
        case 16:
            return XMLTag.equal(n, "named-expression") || XMLTag.equal(n, "automatic-styles")
                || XMLTag.equal(n, "document-content") || XMLTag.equal(n, "table-properties")
        default: return false
        }
    }

    /// Returns how many bytes were consumed; an unfinished token waits for more input.
    private mutating func skim(_ b: UnsafeRawBufferPointer, final: Bool) throws -> Int {
        let n = b.count
        guard n > 0, let base = b.baseAddress else { return 0 }
        var i = 0
        while i < n {
            if b[i] != 0x3C {
                guard let lt = memchr(base + i, 0x3C, n - i) else { return n }
                i = UnsafeRawPointer(lt) - base
            }
            // b[i] == '<'
            guard i + 1 < n else { return i }
            let c = b[i + 1]
            if c == 0x21 /* ! */ {
                if i + 4 <= n && b[i + 2] == 0x2D && b[i + 3] == 0x2D {
                    guard let j = ODSOutlineSkimmer.find(b, from: i + 4, "-->") else { return i }
                    i = j + 3
                } else if i + 9 <= n && b[i + 2] == 0x5B /* [ */ {
                    guard let j = ODSOutlineSkimmer.find(b, from: i + 9, "]]>") else { return i }
                    i = j + 3
                } else if i + 9 > n && !final {
                    return i
                } else {
                    throw WorkbookError.corrupt("XML with a DOCTYPE or entity declaration is refused")
                }
                continue
            }
            if c == 0x3F /* ? */ {
                guard let j = ODSOutlineSkimmer.find(b, from: i + 2, "?>") else { return i }
                i = j + 2
                continue
            }
            let isEnd = c == 0x2F
            let nameStart = isEnd ? i + 2 : i + 1
            var k = nameStart
            while k < n && !XMLScanner.isSpace(b[k]) && b[k] != 0x2F && b[k] != 0x3E && b[k] != 0x3C { k += 1 }
            guard k < n else { return i }
            let name = UnsafeRawBufferPointer(rebasing: b[nameStart..<k])
            let local = XMLTag.local(name)
            guard ODSOutlineSkimmer.isInteresting(local) else {
                if handler.rootClosed { throw WorkbookError.corrupt("malformed content.xml: a tag after the root element") }
                i = k
                continue
            }
            if isEnd {
                guard let gt = memchr(base + k, 0x3E, n - k) else { return i }
                try handler.end(local)
                i = UnsafeRawPointer(gt) - base + 1
                continue
            }
            // A start tag we need: find its '>' outside quoted values.
            var quote: UInt8 = 0
            var closed = -1
            var p = k
            while p < n {
                let d = b[p]
                if quote != 0 { if d == quote { quote = 0 } }
                else if d == 0x22 || d == 0x27 { quote = d }
                else if d == 0x3E { closed = p; break }
                p += 1
            }
            guard closed >= 0 else { return i }
            let selfClosing = b[closed - 1] == 0x2F && closed - 1 >= k
            let attrEnd = selfClosing ? closed - 1 : closed
            let tag = XMLTag(name: name, attributes: UnsafeRawBufferPointer(rebasing: b[k..<attrEnd]), selfClosing: selfClosing)
            if let stop = stopAtTable, handler.tableDepth == 0, handler.tables.count == stop, XMLTag.equal(local, "table") {
                reachedTable = true
                return i
            }
            try handler.start(tag)
            if selfClosing { try handler.end(local) }
            i = closed + 1
        }
        return i
    }

    private static func find(_ b: UnsafeRawBufferPointer, from: Int, _ s: StaticString) -> Int? {
        let m = s.utf8CodeUnitCount
        let p = s.utf8Start
        var i = from
        let base = b.baseAddress!
        while i + m <= b.count {
            guard let hit = memchr(base + i, Int32(p[0]), b.count - i) else { return nil }
            let j = UnsafeRawPointer(hit) - base
            guard j + m <= b.count else { return nil }
            var ok = true
            for t in 1..<m where b[j + t] != p[t] { ok = false; break }
            if ok { return j }
            i = j + 1
        }
        return nil
    }
}

// MARK: - Reading one table

struct ODSSheetHandler: XMLScanHandler {
    enum ValueType { case none, float, percentage, currency, date, time, boolean, string, other }

    let target: Int
    let limits: ReadLimits
    let visitor: (SheetRow) throws -> Bool

    var tableIndex = -1
    var tableDepth = 0
    var inTarget = false
    var row = 0
    var column = 0
    var rowRepeat = 1
    var inRow = false
    var cells: [RowCell] = []
    // The cell being read.
    var inCell = false
    var cellRepeat = 1
    var cellType = ValueType.none
    var cellValue: CellValue = .empty
    var formula: String? = nil
    var isError = false
    var wantText = false
    var text: [UInt8] = []
    var paragraphs = 0
    var inParagraph = 0
    var annotationDepth = 0
    var spanColumns = 1, spanRows = 1
    // Summary.
    var minRow = Int.max, maxRow = -1, minCol = Int.max, maxCol = -1, count = 0
    /// Cells added by repeat counts beyond the first (budgeted by `limits.maxRepeatedCells`).
    var expanded = 0
    var merged: [CellRange] = []

    init(target: Int, limits: ReadLimits, visitor: @escaping (SheetRow) throws -> Bool) {
        self.target = target; self.limits = limits; self.visitor = visitor
        cells.reserveCapacity(32)
        text.reserveCapacity(64)
    }

    var summary: SheetSummary {
        SheetSummary(usedRange: count == 0 ? nil : CellRange(rows: minRow...maxRow, columns: minCol...maxCol),
                     mergedRanges: merged, cellCount: count)
    }

    mutating func start(_ tag: XMLTag) throws {
        let n = tag.localName
        if XMLTag.equal(n, "table") {
            if tableDepth == 0 {
                tableIndex += 1
                if tableIndex == target { inTarget = true }
            }
            tableDepth += 1  // the scanner reports an end for self-closing tags too
            return
        }
        guard inTarget, tableDepth == 1 || inCell else { return }
        if inCell {
            // Inside a cell: paragraphs and their inline elements; annotations and the text of
            // tables nested in the cell are skipped.
            guard wantText, tableDepth == 1 else { return }
            if XMLTag.equal(n, "annotation") {
                annotationDepth += 1
                return
            }
            guard annotationDepth == 0 else { return }
            if XMLTag.equal(n, "p") || XMLTag.equal(n, "h") {
                if paragraphs > 0 { text.append(0x0A) }
                paragraphs += 1
                inParagraph += 1
            } else if inParagraph > 0 {
                if XMLTag.equal(n, "s") {
                    let c = tag.attribute("c").flatMap { ODS.parseCount($0) } ?? 1
                    text.append(contentsOf: repeatElement(0x20, count: min(c, 1 << 16)))
                } else if XMLTag.equal(n, "tab") {
                    text.append(0x09)
                } else if XMLTag.equal(n, "line-break") {
                    text.append(0x0A)
                }
            }
            return
        }
        if XMLTag.equal(n, "table-cell") || XMLTag.equal(n, "covered-table-cell") {
            try startCell(tag, covered: n.count > 10)
        } else if XMLTag.equal(n, "table-row") {
            inRow = true
            rowRepeat = 1
            if let r = tag.attribute("number-rows-repeated"), let v = ODS.parseCount(r), v >= 1 { rowRepeat = v }
            column = 0
            cells.removeAll(keepingCapacity: true)
        }
    }

    private mutating func startCell(_ tag: XMLTag, covered: Bool) throws {
        cellRepeat = 1
        cellType = .none
        cellValue = .empty
        formula = nil
        spanColumns = 1; spanRows = 1
        var valueRaw: UnsafeRawBufferPointer? = nil
        var stringValue: String? = nil
        var err: WorkbookError? = nil
        var calcError = false
        tag.forEachAttribute { q, v in
            if ODS.isCalcext(q) {
                // LibreOffice marks a formula's error result with calcext:value-type="error"
                // (the office: type says float or string); the text is the error, e.g. #DIV/0!.
                if XMLTag.equal(XMLTag.local(q), "value-type") && XMLTag.equal(v, "error") { calcError = true }
                return
            }
            let name = XMLTag.local(q)
            switch name.count {
            case 5:
                if XMLTag.equal(name, "value") { valueRaw = v }
            case 10:
                if XMLTag.equal(name, "value-type") {
                    switch v.count {
                    case 4: cellType = XMLTag.equal(v, "date") ? .date : XMLTag.equal(v, "time") ? .time : .other
                    case 5: cellType = XMLTag.equal(v, "float") ? .float : .other
                    case 6: cellType = XMLTag.equal(v, "string") ? .string : .other
                    case 7: cellType = XMLTag.equal(v, "boolean") ? .boolean : .other
                    case 8: cellType = XMLTag.equal(v, "currency") ? .currency : .other
                    case 10: cellType = XMLTag.equal(v, "percentage") ? .percentage : .other
                    default: cellType = .other
                    }
                } else if XMLTag.equal(name, "date-value") { valueRaw = v }
                else if XMLTag.equal(name, "time-value") { valueRaw = v }
            case 12:
                if XMLTag.equal(name, "string-value") {
                    do { stringValue = try XMLText.string(v) } catch let e as WorkbookError { err = e } catch {}
                }
            case 13:
                if XMLTag.equal(name, "boolean-value") { valueRaw = v }
            case 7:
                if XMLTag.equal(name, "formula") {
                    do {
                        formula = OpenFormula.excelText(try XMLText.string(v))
                    } catch let e as WorkbookError { err = e } catch {}
                }
            case 23:
                if XMLTag.equal(name, "number-columns-repeated"), let c = ODS.parseCount(v), c >= 1 { cellRepeat = c }
            default:
                if name.count == 22 && XMLTag.equal(name, "number-columns-spanned") { spanColumns = ODS.parseCount(v) ?? 1 }
                else if name.count == 19 && XMLTag.equal(name, "number-rows-spanned") { spanRows = ODS.parseCount(v) ?? 1 }
            }
        }
        if let err { throw err }
        if !covered && (spanColumns > 1 || spanRows > 1) {
            let lastRow = row + spanRows - 1, lastCol = column + spanColumns - 1
            if lastRow < limits.maxRows && lastCol < limits.maxColumns {
                merged.append(CellRange(rows: row...lastRow, columns: column...lastCol))
            }
        }
        switch cellType {
        case .float, .percentage, .currency:
            // A non-finite value ("INF", "NaN") is no number a sheet can hold: the text stands.
            if let raw = valueRaw, let d = ODS.number(raw), d.isFinite { cellValue = .number(d) }
        case .date:
            if let raw = valueRaw {
                let s = try XMLText.string(raw)
                if let (kind, serial) = OOXMLParts.isoDate(s.trimmingSpaces()) {
                    cellValue = .temporal(kind, serial: serial)
                } else if let d = Double(s) {
                    cellValue = .temporal(.date, serial: d)
                } else {
                    cellValue = .string(s)
                }
            }
        case .time:
            if let raw = valueRaw {
                let s = try XMLText.string(raw)
                if let days = ODS.duration(s) {
                    // ODF's time type is a duration; within one day it is shown as a time of day.
                    cellValue = .temporal(days >= 0 && days < 1 ? .time : .duration, serial: days)
                } else {
                    cellValue = .string(s)
                }
            }
        case .boolean:
            // The value attribute decides, never the (localised) text: WAHR, VRAI, ИСТИНА...
            if let raw = valueRaw {
                cellValue = .bool(XMLTag.equal(raw, "true") || XMLTag.equal(raw, "1"))
            }
        case .string:
            if let s = stringValue { cellValue = s.isEmpty ? .empty : .string(s) }
        case .none, .other:
            if let s = stringValue, !s.isEmpty { cellValue = .string(s) }
        }
        if calcError { cellValue = .empty }
        isError = calcError
        // Text is needed for strings (and any type we could not read as a value); numbers,
        // dates and booleans carry their value in attributes, the text is only their display.
        wantText = cellValue.isEmpty
        text.removeAll(keepingCapacity: true)
        paragraphs = 0
        inParagraph = 0
        annotationDepth = 0
        inCell = true
    }

    private mutating func endCell() throws {
        inCell = false
        var v = cellValue
        if v.isEmpty && !text.isEmpty {
            let s = String(decoding: text, as: UTF8.self)
            v = isError && s.hasPrefix("#") ? .error(s) : .string(s)
        }
        // A formula cell without a value (no office:value-type, as odfpy and report generators
        // write them) stays, value empty, for `EvaluatingReader` to compute, as in xlsx.
        if v.isEmpty && formula == nil {
            column += cellRepeat
            return
        }
        let last = column + cellRepeat - 1
        guard last < limits.maxColumns else {
            throw WorkbookError.tooLarge("a cell repeated to column \(last + 1), beyond the sheet's \(limits.maxColumns) columns")
        }
        expanded += cellRepeat - 1
        if expanded > limits.maxRepeatedCells {
            throw WorkbookError.tooLarge("repeated rows and cells expand to over \(limits.maxRepeatedCells) cells (a cell repeats \(cellRepeat) times)")
        }
        for c in column...last { cells.append(RowCell(column: c, value: v, formula: formula)) }
        column += cellRepeat
    }

    private mutating func endRow() throws {
        inRow = false
        defer { row += rowRepeat; cells.removeAll(keepingCapacity: true) }
        guard !cells.isEmpty else { return }
        let last = row + rowRepeat - 1
        guard last < limits.maxRows else {
            throw WorkbookError.tooLarge("a row repeated to row \(last + 1), beyond the sheet's \(limits.maxRows) rows")
        }
        count += cells.count * rowRepeat
        expanded += cells.count * (rowRepeat - 1)
        if expanded > limits.maxRepeatedCells {
            throw WorkbookError.tooLarge("repeated rows and cells expand to over \(limits.maxRepeatedCells) cells (row \(row + 1) repeats \(rowRepeat) times)")
        }
        if row < minRow { minRow = row }
        if last > maxRow { maxRow = last }
        if cells[0].column < minCol { minCol = cells[0].column }
        if cells[cells.count - 1].column > maxCol { maxCol = cells[cells.count - 1].column }
        for r in row...last {
            try ReadCancellation.check()
            if try !visitor(SheetRow(index: r, cells: cells)) { throw XMLStop() }
        }
    }

    mutating func end(_ n: UnsafeRawBufferPointer) throws {
        if XMLTag.equal(n, "table") {
            tableDepth -= 1
            if tableDepth == 0 && inTarget { throw XMLStop() }
            return
        }
        guard inTarget else { return }
        if inCell {
            if XMLTag.equal(n, "table-cell") || XMLTag.equal(n, "covered-table-cell") {
                if tableDepth == 1 { try endCell() }
            } else if XMLTag.equal(n, "annotation") {
                if annotationDepth > 0 { annotationDepth -= 1 }
            } else if annotationDepth == 0 && tableDepth == 1 && (XMLTag.equal(n, "p") || XMLTag.equal(n, "h")) {
                if inParagraph > 0 { inParagraph -= 1 }
            }
            return
        }
        if tableDepth == 1 && XMLTag.equal(n, "table-row") && inRow { try endRow() }
    }

    mutating func text(_ raw: UnsafeRawBufferPointer, cdata: Bool) throws {
        guard inCell, wantText, inParagraph > 0, annotationDepth == 0, tableDepth == 1 else { return }
        if cdata { text.append(contentsOf: raw) } else { try XMLText.decode(raw, into: &text) }
    }
}
