#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads xlsx / xlsm (transitional and Strict OOXML). Opening reads only the small parts
/// (content types, workbook, relationships, styles, tables); shared strings are read on the first
/// `readSheet`, and a sheet's XML is streamed from the inflater through the scanner to the
/// visitor, so a sheet never sits in memory whole.
public final class XLSXReader: WorkbookReader {
    public let format: WorkbookFormat
    public let sheets: [SheetInfo]
    public let definedNames: [DefinedName]
    public let declaredTables: [DeclaredTable]
    public let tableProblems: [TableProblem]
    /// Whether the workbook uses the 1904 date system (its serials are shifted to 1900's).
    public let date1904: Bool
    public let archive: ZipArchive
    public let limits: ReadLimits

    private let workbookPart: String
    private let sheetParts: [String?]
    private let styleKinds: [TemporalKind?]
    /// Per style, the currency its number format shows (`OOXMLParts.styleCurrencies`); empty
    /// when no format shows one.
    private let styleCurrencies: [UInt8]
    private let sharedStringsEntry: ZipEntry?
    private var sharedStringsCache: [String]?

    public convenience init(path: String, limits: ReadLimits = .default) throws {
        try self.init(archive: ZipArchive(path: path, limits: limits))
    }

    /// From an archive already opened (e.g. by the format sniffer).
    public init(archive: ZipArchive) throws {
        self.archive = archive
        self.limits = archive.limits

        // The main part: the package relationship of type officeDocument, else the usual path.
        let rootRels = try OOXMLParts.relationships(archive, of: "")
        var main = rootRels.first { !$0.external && $0.kind == "officeDocument" }?.target ?? "xl/workbook.xml"
        if archive.entry(named: main) == nil, archive.entry(named: "xl/workbook.xml") != nil { main = "xl/workbook.xml" }
        let types = try OOXMLParts.contentTypes(archive)
        guard let mainEntry = archive.entry(named: main) else {
            if archive.contains("xl/workbook.bin") {
                throw WorkbookError(.unsupportedFormat, "an xlsb (binary) workbook, not xlsx")
            }
            if archive.contains("EncryptedPackage") {
                throw WorkbookError(.encryptedWorkbook, "the workbook is encrypted")
            }
            if archive.contains("content.xml") || archive.contains("word/document.xml") || archive.contains("ppt/presentation.xml") {
                throw WorkbookError(.unsupportedFormat, "a zip package, but not an Excel workbook")
            }
            throw WorkbookError.corrupt("no workbook part in the package (\(main))")
        }
        workbookPart = mainEntry.name.replacingOccurrences(of: "\\", with: "/")
        let mainType = types.overrides[ZipArchive.key(main)] ?? ""
        if mainType.contains("sheet.binary") || main.lowercased().hasSuffix(".bin") {
            throw WorkbookError(.unsupportedFormat, "an xlsb (binary) workbook, not xlsx")
        }
        format = mainType.lowercased().contains("macroenabled") ? .xlsm : .xlsx

        // Workbook: sheets, date system, defined names.
        struct SheetEntry { var name: String; var relId: String; var state: String }
        var sheetEntries: [SheetEntry] = []
        var names: [DefinedName] = []
        var is1904 = false
        var pendingName: (String, Int?, Bool)? = nil
        var nameText: [UInt8] = []
        try PartHandler.scan(try archive.read(mainEntry)) { h in
            h.onStart = { tag, path in
                // Only the elements where the schema puts them: extLst holds look-alikes
                // (`x14:workbookPr` without date1904 must not reset the date system).
                if tag.isNamed("sheet"), path.last == "sheets" {
                    sheetEntries.append(SheetEntry(name: try tag.string("name") ?? "", relId: try tag.string("id") ?? "",
                                                   state: try tag.string("state") ?? "visible"))
                } else if tag.isNamed("workbookPr"), path.count == 1 {
                    is1904 = OOXMLParts.bool(try tag.string("date1904"))
                } else if tag.isNamed("definedName"), path.last == "definedNames" {
                    pendingName = (try tag.string("name") ?? "", try tag.string("localSheetId").flatMap { Int($0) },
                                   OOXMLParts.bool(try tag.string("hidden")))
                    nameText.removeAll()
                }
            }
            h.onText = { raw, cdata, path in
                guard pendingName != nil, path.last == "definedName" else { return }
                if cdata { nameText.append(contentsOf: raw) } else { try XMLText.decode(raw, into: &nameText) }
            }
            h.onEnd = { name, _ in
                if name == "definedName", let p = pendingName {
                    names.append(DefinedName(name: p.0, refersTo: String(decoding: nameText, as: UTF8.self),
                                             localSheet: p.1, hidden: p.2))
                    pendingName = nil
                }
            }
        }
        date1904 = is1904
        definedNames = names

        let wbRels = try OOXMLParts.relationships(archive, of: workbookPart)
        var relById: [String: Relationship] = [:]
        for r in wbRels { relById[r.id] = r }
        var infos: [SheetInfo] = []
        var parts: [String?] = []
        for (i, s) in sheetEntries.enumerated() {
            let rel = relById[s.relId]
            let kind: SheetKind
            switch rel?.kind.lowercased() ?? "worksheet" {
            case "chartsheet": kind = .chartsheet
            case "dialogsheet": kind = .dialogsheet
            case "xlmacrosheet", "macrosheet", "xlintlmacrosheet": kind = .macrosheet
            default: kind = .worksheet
            }
            let vis: SheetVisibility
            switch s.state.lowercased() {
            case "hidden": vis = .hidden
            case "veryhidden": vis = .veryHidden
            default: vis = .visible
            }
            infos.append(SheetInfo(name: s.name, index: i, visibility: vis, kind: kind))
            parts.append(rel.flatMap { $0.external ? nil : $0.target })
        }
        sheets = infos
        sheetParts = parts

        // Styles: cellXfs -> number format -> temporal kind.
        if let styles = wbRels.first(where: { $0.kind == "styles" }), let bytes = try archive.read(named: styles.target) {
            (styleKinds, styleCurrencies) = try OOXMLParts.styleKindsAndCurrencies(bytes)
        } else if let bytes = try archive.read(named: "xl/styles.xml") {
            (styleKinds, styleCurrencies) = try OOXMLParts.styleKindsAndCurrencies(bytes)
        } else {
            styleKinds = []
            styleCurrencies = []
        }
        if let sst = wbRels.first(where: { $0.kind == "sharedStrings" }), let e = archive.entry(named: sst.target) {
            sharedStringsEntry = e
        } else {
            sharedStringsEntry = archive.entry(named: "xl/sharedStrings.xml")
        }

        // Tables, through each worksheet's relationships.
        // A table part that cannot be read is reported (outline warnings) and left out; the
        // workbook still opens.
        var tables: [DeclaredTable] = []
        var problems: [TableProblem] = []
        for (i, info) in infos.enumerated() where info.kind == .worksheet {
            guard let part = parts[i], archive.contains(part) else { continue }
            for rel in try OOXMLParts.relationships(archive, of: part) where !rel.external && rel.kind == "table" {
                do {
                    guard let bytes = try archive.read(named: rel.target) else {
                        problems.append(TableProblem(sheet: info.name, message: "the table part \(rel.target) is missing from the package; it is not loaded"))
                        continue
                    }
                    if let t = try OOXMLParts.table(bytes, sheet: info.name) { tables.append(t) }
                } catch {
                    problems.append(TableProblem(sheet: info.name, message: "the table part \(rel.target) cannot be read (\(error)); it is not loaded"))
                }
            }
        }
        declaredTables = tables
        tableProblems = problems
    }

    /// The shared string table, read once on first use.
    public func sharedStrings() throws -> [String] {
        if let s = sharedStringsCache { return s }
        let s = try sharedStringsEntry.map { try OOXMLParts.sharedStrings(archive, entry: $0) } ?? []
        sharedStringsCache = s
        return s
    }

    /// Streams the sheet's cells. Cells whose value is empty (no `<v>`, an empty string) are not
    /// delivered, except formula cells: one without a cached value comes with an `.empty` value
    /// and its formula text (array and dynamic-array formulas, `t="array"`, keep their text on
    /// the anchor cell). Merged ranges
    /// follow the cells in the XML, so when the visitor stops early the summary has only the
    /// cells seen so far and no merged ranges.
    @discardableResult
    public func readSheet(at index: Int, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        guard sheets.indices.contains(index) else {
            throw WorkbookError(.unknownSheet, "no sheet at index \(index) (the workbook has \(sheets.count))")
        }
        if sheets[index].kind == .chartsheet { return SheetSummary() }
        guard let part = sheetParts[index], let entry = archive.entry(named: part) else {
            throw WorkbookError.corrupt("sheet \"\(sheets[index].name)\" has no part in the package")
        }
        let sst = try sharedStrings()
        return try withoutActuallyEscaping(visitor) { visit in
            var handler = SheetHandler(sst: sst, styleKinds: styleKinds, styleCurrencies: styleCurrencies, date1904: date1904, limits: limits, visitor: visit)
            var scanner = XMLScanner()
            defer { scanner.release() }
            do {
                try archive.stream(entry) { try scanner.feed($0, &handler) }
                try scanner.finish(&handler)
                try handler.flushRow()
            } catch is XMLStop {
                // The visitor asked to stop.
            } catch let e as WorkbookError where e.kind == .corruptWorkbook {
                throw WorkbookError.corrupt("sheet \"\(sheets[index].name)\" (\(part)): \(e.message)")
            }
            return handler.summary
        }
    }
}

/// The sheet XML state machine: `row` / `c` / `v` / `f` / `is` / `t`, plus `mergeCell`.
struct SheetHandler: XMLScanHandler {
    enum CellType { case number, shared, string, inline, bool, error, date }

    let sst: [String]
    let styleKinds: [TemporalKind?]
    let styleCurrencies: [UInt8]
    let date1904: Bool
    let limits: ReadLimits
    let visitor: (SheetRow) throws -> Bool

    var rowIndex = -1
    var cells: [RowCell] = []
    var inRow = false
    /// A row without `r`: its first cell's reference, if any, says which row it is.
    var rowFromCells = false
    var lastColumn = -1
    // The cell being read.
    var inCell = false
    var column = 0
    var type = CellType.number
    var style = 0
    var value: [UInt8] = []
    var formula: [UInt8] = []
    var hasFormula = false
    var capture: UInt8 = 0  // 0 none, 1 <v>, 2 <f>, 3 <t> in <is>
    var inInline = false
    var rphDepth = 0
    var sharedMasters: [Int: (text: String, row: Int, column: Int)] = [:]
    var sharedIndex: Int? = nil
    var sharedRef = false
    // Summary.
    var minRow = Int.max, maxRow = -1, minCol = Int.max, maxCol = -1, count = 0
    var merged: [CellRange] = []

    init(sst: [String], styleKinds: [TemporalKind?], styleCurrencies: [UInt8] = [], date1904: Bool, limits: ReadLimits, visitor: @escaping (SheetRow) throws -> Bool) {
        self.sst = sst; self.styleKinds = styleKinds; self.styleCurrencies = styleCurrencies; self.date1904 = date1904; self.limits = limits; self.visitor = visitor
        value.reserveCapacity(64)
        cells.reserveCapacity(32)
    }

    var summary: SheetSummary {
        SheetSummary(usedRange: count == 0 ? nil : CellRange(rows: minRow...maxRow, columns: minCol...maxCol),
                     mergedRanges: merged, cellCount: count)
    }

    @inline(__always)
    static func parseInt(_ raw: UnsafeRawBufferPointer) -> Int? {
        guard raw.count > 0, raw.count < 19 else { return nil }
        var v = 0
        for c in raw {
            guard c >= 48 && c <= 57 else { return nil }
            v = v * 10 + Int(c - 48)
        }
        return v
    }

    /// `B7`, `$B$7` -> (row, column), 0-based, straight from the bytes; nil past XFD1048576.
    @inline(__always)
    static func parseRef(_ b: UnsafeRawBufferPointer) -> (row: Int, column: Int)? {
        var col = 0, row = 0, letters = 0, digits = 0
        for c in b {
            if c == 0x24 { continue }
            let l = c | 0x20
            if l >= 97 && l <= 122 {
                guard digits == 0, letters < 3 else { return nil }
                col = col * 26 + Int(l - 96); letters += 1
            } else if c >= 48 && c <= 57 {
                guard letters > 0, digits < 7 else { return nil }
                row = row * 10 + Int(c - 48); digits += 1
            } else {
                return nil
            }
        }
        guard letters > 0, digits > 0, row >= 1, row <= CellRef.maxRows, col >= 1, col <= CellRef.maxColumns else { return nil }
        return (row - 1, col - 1)
    }

    mutating func flushRow() throws {
        guard !cells.isEmpty else { return }
        // Cells should come in column order; a writer that breaks that is put right here.
        var sorted = true
        for k in 1..<max(cells.count, 1) where cells[k - 1].column >= cells[k].column { sorted = false; break }
        if !sorted {
            cells.sort { $0.column < $1.column }
            var dedup: [RowCell] = []
            for c in cells { if let l = dedup.last, l.column == c.column { dedup[dedup.count - 1] = c } else { dedup.append(c) } }
            cells = dedup
        }
        count += cells.count
        if rowIndex < minRow { minRow = rowIndex }
        if rowIndex > maxRow { maxRow = rowIndex }
        if cells[0].column < minCol { minCol = cells[0].column }
        if cells[cells.count - 1].column > maxCol { maxCol = cells[cells.count - 1].column }
        let row = SheetRow(index: rowIndex, cells: cells)
        cells.removeAll(keepingCapacity: true)
        try ReadCancellation.check()
        if try !visitor(row) { throw XMLStop() }
    }

    mutating func start(_ tag: XMLTag) throws {
        let n = tag.localName
        switch n.count {
        case 1:
            switch n[0] {
            case 0x63 /* c */:
                inCell = true
                type = .number
                style = 0
                hasFormula = false
                sharedIndex = nil
                sharedRef = false
                value.removeAll(keepingCapacity: true)
                var col = -1
                var err: WorkbookError? = nil
                tag.forEachAttribute { name, v in
                    guard name.count == 1 else { return }
                    switch name[0] {
                    case 0x72 /* r */:
                        guard let ref = SheetHandler.parseRef(v) else {
                            err = .corrupt("bad cell reference \"\(String(decoding: v, as: UTF8.self))\""); return
                        }
                        col = ref.column
                        if rowFromCells { rowIndex = ref.row; rowFromCells = false }
                    case 0x74 /* t */:
                        if v.count == 1 {
                            switch v[0] {
                            case 0x73: type = .shared
                            case 0x6E: type = .number
                            case 0x62: type = .bool
                            case 0x65: type = .error
                            case 0x64: type = .date
                            default: break
                            }
                        } else if XMLTag.equal(v, "str") { type = .string }
                        else if XMLTag.equal(v, "inlineStr") { type = .inline }
                    case 0x73 /* s */:
                        style = SheetHandler.parseInt(v) ?? 0
                    default: break
                    }
                }
                if let err { throw err }
                column = col >= 0 ? col : lastColumn + 1
                if column >= limits.maxColumns { throw WorkbookError.corrupt("a cell beyond column \(limits.maxColumns)") }
                lastColumn = column
            case 0x76 /* v */:
                if inCell { capture = 1 }
            case 0x66 /* f */:
                guard inCell else { return }
                capture = 2
                hasFormula = true
                formula.removeAll(keepingCapacity: true)
                if let t = tag.attribute("t"), XMLTag.equal(t, "shared"), let si = tag.attribute("si").flatMap(SheetHandler.parseInt) {
                    sharedIndex = si
                    sharedRef = tag.attribute("ref") != nil
                }
            case 0x74 /* t */:
                if inInline && rphDepth == 0 { capture = 3 }
            default: break
            }
        case 2:
            if XMLTag.equal(n, "is") { inInline = true }
        case 3:
            if XMLTag.equal(n, "row") {
                if inRow { try flushRow() }
                inRow = true
                lastColumn = -1
                if let r = tag.attribute("r") {
                    guard let v = SheetHandler.parseInt(r), v >= 1 else {
                        throw WorkbookError.corrupt("bad row number \"\(String(decoding: r, as: UTF8.self))\"")
                    }
                    guard v <= limits.maxRows else { throw WorkbookError.corrupt("row \(v) is beyond the sheet's \(limits.maxRows) rows") }
                    rowIndex = v - 1
                    rowFromCells = false
                } else {
                    rowIndex += 1
                    rowFromCells = true
                }
                if tag.selfClosing { inRow = false }
            } else if XMLTag.equal(n, "rPh") {
                rphDepth += 1
            }
        case 9:
            if XMLTag.equal(n, "mergeCell"), let ref = tag.attribute("ref"),
               let r = A1.parseRange(String(decoding: ref, as: UTF8.self)) {
                merged.append(r.range)
            }
        default: break
        }
    }

    mutating func end(_ n: UnsafeRawBufferPointer) throws {
        switch n.count {
        case 1:
            switch n[0] {
            case 0x63: try endCell()
            case 0x76, 0x66, 0x74: capture = 0
            default: break
            }
        case 2:
            if XMLTag.equal(n, "is") { inInline = false }
        case 3:
            if XMLTag.equal(n, "row") {
                try flushRow()
                inRow = false
            } else if XMLTag.equal(n, "rPh") {
                rphDepth -= 1
            }
        default: break
        }
    }

    mutating func text(_ raw: UnsafeRawBufferPointer, cdata: Bool) throws {
        switch capture {
        case 1, 3:
            if cdata { value.append(contentsOf: raw) } else { try XMLText.decode(raw, into: &value) }
        case 2:
            if cdata { formula.append(contentsOf: raw) } else { try XMLText.decode(raw, into: &formula) }
        default: break
        }
    }

    private func number() -> Double? {
        // strtod over the bytes (no String per cell); the whole text must be the number.
        value.withUnsafeBufferPointer { b -> Double? in
            var buf: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
            let n = b.count
            guard n > 0, n < 64 else {
                return n == 0 ? nil : Double(String(decoding: b, as: UTF8.self).trimmingSpaces())
            }
            return withUnsafeMutableBytes(of: &buf) { p -> Double? in
                let cp = p.baseAddress!.assumingMemoryBound(to: CChar.self)
                for k in 0..<n { cp[k] = CChar(bitPattern: b[k]) }
                cp[n] = 0
                var end: UnsafeMutablePointer<CChar>? = nil
                let d = strtod(cp, &end)
                guard let end else { return nil }
                var consumed = end - cp
                while consumed < n && XMLScanner.isSpace(b[consumed]) { consumed += 1 }
                return consumed == n && end != cp ? d : nil
            }
        }
    }

    private mutating func endCell() throws {
        inCell = false
        capture = 0
        var formulaText: String? = nil
        if hasFormula {
            if !formula.isEmpty {
                formulaText = String(decoding: formula, as: UTF8.self)
                if let si = sharedIndex, sharedRef { sharedMasters[si] = (formulaText!, rowIndex, column) }
            } else if let si = sharedIndex, let master = sharedMasters[si] {
                formulaText = SharedFormula.translate(master.text, rows: rowIndex - master.row, columns: column - master.column)
            }
        }
        if formulaText != nil && value.isEmpty && type != .shared {
            // A formula saved without a cached value (openpyxl, pandas, report generators):
            // kept, value empty, for `EvaluatingReader` to compute.
            // The style's number format still applies to the value xlchat computes.
            let kind = style < styleKinds.count ? styleKinds[style] : nil
            cells.append(RowCell(column: column, value: .empty, formula: formulaText, numberFormatKind: kind))
            return
        }
        let v: CellValue
        switch type {
        case .number:
            guard !value.isEmpty else { return }
            guard let d = number() else {
                v = .string(String(decoding: value, as: UTF8.self))
                break
            }
            if style < styleKinds.count, let kind = styleKinds[style] {
                v = .temporal(kind, serial: date1904 && (kind == .date || kind == .dateTime) ? d + ExcelDate.offset1904 : d)
            } else {
                v = .number(d)
            }
        case .shared:
            while let l = value.last, XMLScanner.isSpace(l) { value.removeLast() }
            while let f = value.first, XMLScanner.isSpace(f) { value.removeFirst() }
            guard let i = value.withUnsafeBytes({ SheetHandler.parseInt($0) }) else {
                if value.isEmpty { return }
                throw WorkbookError.corrupt("bad shared string index \"\(String(decoding: value, as: UTF8.self))\"")
            }
            guard i < sst.count else { throw WorkbookError.corrupt("shared string \(i) of \(sst.count) does not exist") }
            v = .string(sst[i])
            if sst[i].isEmpty { return }
        case .string:
            guard !value.isEmpty else { return }
            XMLText.unescapeOOXML(&value)
            v = .string(String(decoding: value, as: UTF8.self))
        case .inline:
            guard !value.isEmpty else { return }
            XMLText.unescapeOOXML(&value)
            v = .string(String(decoding: value, as: UTF8.self))
        case .bool:
            guard !value.isEmpty else { return }
            v = .bool(value == [0x31] || String(decoding: value, as: UTF8.self).lowercased() == "true")
        case .error:
            guard !value.isEmpty else { return }
            v = .error(String(decoding: value, as: UTF8.self))
        case .date:
            guard !value.isEmpty else { return }
            let text = String(decoding: value, as: UTF8.self)
            if let (kind, serial) = OOXMLParts.isoDate(text.trimmingSpaces()) {
                v = .temporal(kind, serial: serial)
            } else {
                v = .string(text)
            }
        }
        var cell = RowCell(column: column, value: v, formula: formulaText)
        if style < styleCurrencies.count, case .number = v { cell.formatCurrency = styleCurrencies[style] }
        cells.append(cell)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}

/// Shared formulas (`<f t="shared" si="0"/>`): the dependents' text is the master's with each
/// relative reference moved by the cell's offset from the master, as Excel shows it.
enum SharedFormula {
    static func translate(_ text: String, rows dr: Int, columns dc: Int) -> String {
        if dr == 0 && dc == 0 { return text }
        let b = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count + 8)
        var i = 0
        let n = b.count
        func isIdent(_ c: UInt8) -> Bool {
            (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 95 || c == 46 || c >= 0x80
        }
        while i < n {
            let c = b[i]
            if c == 0x22 /* " */ {
                // String literal: copied unchanged ("" escapes a quote).
                var j = i + 1
                while j < n { if b[j] == 0x22 { if j + 1 < n && b[j + 1] == 0x22 { j += 2; continue }; break }; j += 1 }
                out.append(contentsOf: b[i..<min(j + 1, n)])
                i = j + 1
                continue
            }
            if c == 0x27 /* ' */ {
                // Quoted sheet name.
                var j = i + 1
                while j < n { if b[j] == 0x27 { if j + 1 < n && b[j + 1] == 0x27 { j += 2; continue }; break }; j += 1 }
                out.append(contentsOf: b[i..<min(j + 1, n)])
                i = j + 1
                continue
            }
            // A reference starts at a token boundary: [$]letters[$]digits, not followed by '(' or ident chars.
            if (i == 0 || !isIdent(b[i - 1])) && (c == 0x24 || (c | 0x20 >= 97 && c | 0x20 <= 122)) {
                var j = i
                let colAbs = b[j] == 0x24
                if colAbs { j += 1 }
                let ls = j
                while j < n, b[j] | 0x20 >= 97, b[j] | 0x20 <= 122, j - ls < 4 { j += 1 }
                let le = j
                let rowAbs = j < n && b[j] == 0x24
                if rowAbs { j += 1 }
                let ds = j
                while j < n, b[j] >= 48, b[j] <= 57 { j += 1 }
                let de = j
                if le > ls, le - ls <= 3, de > ds, (j >= n || (!isIdent(b[j]) && b[j] != 0x28 && b[j] != 0x21)),
                   var col = A1.columnIndex(String(decoding: b[ls..<le], as: UTF8.self)),
                   var row = Int(String(decoding: b[ds..<de], as: UTF8.self)) {
                    if !colAbs { col += dc }
                    if !rowAbs { row += dr }
                    if col >= 0 && col < CellRef.maxColumns && row >= 1 && row <= CellRef.maxRows {
                        if colAbs { out.append(0x24) }
                        out.append(contentsOf: A1.columnName(col).utf8)
                        if rowAbs { out.append(0x24) }
                        out.append(contentsOf: String(row).utf8)
                    } else {
                        out.append(contentsOf: "#REF!".utf8)
                    }
                    i = j
                    continue
                }
                // Not a reference: copy the identifier whole.
                var k = i + 1
                while k < n && isIdent(b[k]) { k += 1 }
                out.append(contentsOf: b[i..<k])
                i = k
                continue
            }
            out.append(c)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
