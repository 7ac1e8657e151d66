/// Reads Excel binary workbooks (xlsb): BIFF12 records ([MS-XLSB] 2.1.4: a 1-2 byte type and a
/// 1-4 byte size, both 7 bits a byte) in the package's parts. Opening reads `workbook.bin`
/// (sheets, visibility, the 1904 flag, defined names) and `styles.bin` (cellXfs -> number
/// format -> temporal kind); shared strings are read on the first `readSheet`; a sheet's records
/// are streamed from the inflater, so a sheet never sits in memory whole.
public final class XLSBReader: WorkbookReader {
    public let format: WorkbookFormat = .xlsb
    public let sheets: [SheetInfo]
    public let definedNames: [DefinedName]
    public let declaredTables: [DeclaredTable]
    public let tableProblems: [TableProblem]
    public let date1904: Bool
    public let archive: ZipArchive
    public let limits: ReadLimits

    private let sheetParts: [String?]
    private let styleKinds: [TemporalKind?]
    private let sharedStringsEntry: ZipEntry?
    private var sharedStringsCache: [String]?
    /// Sheets and names that formula tokens refer to.
    let formulaWorkbook: BIFFFormula.Workbook

    public convenience init(path: String, limits: ReadLimits = .default) throws {
        try self.init(archive: ZipArchive(path: path, limits: limits))
    }

    public init(archive: ZipArchive) throws {
        self.archive = archive
        self.limits = archive.limits
        let rootRels = try OOXMLParts.relationships(archive, of: "")
        var main = rootRels.first { !$0.external && $0.kind == "officeDocument" }?.target ?? "xl/workbook.bin"
        if archive.entry(named: main) == nil { main = "xl/workbook.bin" }
        guard let mainEntry = archive.entry(named: main) else {
            throw WorkbookError.corrupt("no workbook.bin in the package")
        }
        let workbookPart = mainEntry.name.replacingOccurrences(of: "\\", with: "/")

        // workbook.bin: BrtWbProp (1904), BrtBundleSh (sheets), BrtExternSheet + BrtName (names).
        struct Bundle { var state: UInt32; var relId: String; var name: String }
        var bundles: [Bundle] = []
        var is1904 = false
        var rawNames: [(name: String, itab: UInt32, hidden: Bool, formula: [UInt8])] = []
        var externSheets: [(first: Int32, last: Int32)] = []
        var allNames: [String] = []
        try BIFF12.forEachRecord(try archive.read(mainEntry)) { type, r in
            switch type {
            case 0x99:  // BrtWbProp
                if r.count >= 4 { is1904 = r.u32(0) & 1 != 0 }
            case 0x9C:  // BrtBundleSh
                guard r.count >= 8 else { throw WorkbookError.corrupt("BrtBundleSh record too short") }
                var p = 8
                let rel = try r.nullableWideString(&p) ?? ""
                let name = try r.wideString(&p)
                bundles.append(Bundle(state: r.u32(0), relId: rel, name: name))
            case 0x16A:  // BrtExternSheet: XTIs (iSupBook, itabFirst, itabLast)
                guard r.count >= 4 else { return }
                let n = Int(r.u32(0))
                var p = 4
                for _ in 0..<min(n, (r.count - 4) / 12) {
                    externSheets.append((Int32(bitPattern: r.u32(p + 4)), Int32(bitPattern: r.u32(p + 8))))
                    p += 12
                }
            case 0x27:  // BrtName
                guard r.count >= 9 else { allNames.append("#NAME?"); return }
                let flags = r.u32(0)
                let itab = r.u32(5)
                var p = 9
                guard let name = try? r.wideString(&p) else { allNames.append("#NAME?"); return }
                allNames.append(name)
                var formula: [UInt8] = []
                if p + 4 <= r.count {
                    let cce = Int(r.u32(p))
                    if p + 4 + cce <= r.count { formula = Array(r.bytes[(r.start + p + 4)..<(r.start + p + 4 + cce)]) }
                }
                rawNames.append((name, itab, flags & 1 != 0, formula))
            default: break
            }
        }
        date1904 = is1904

        let wbRels = try OOXMLParts.relationships(archive, of: workbookPart)
        var relById: [String: Relationship] = [:]
        for r in wbRels { relById[r.id] = r }
        var infos: [SheetInfo] = []
        var parts: [String?] = []
        for (i, b) in bundles.enumerated() {
            let rel = relById[b.relId]
            let kind: SheetKind
            switch rel?.kind.lowercased() ?? "worksheet" {
            case "chartsheet": kind = .chartsheet
            case "dialogsheet": kind = .dialogsheet
            case "xlmacrosheet", "macrosheet", "xlintlmacrosheet": kind = .macrosheet
            default: kind = .worksheet
            }
            let vis: SheetVisibility = b.state == 1 ? .hidden : b.state == 2 ? .veryHidden : .visible
            infos.append(SheetInfo(name: b.name, index: i, visibility: vis, kind: kind))
            parts.append(rel.flatMap { $0.external ? nil : $0.target })
        }
        sheets = infos
        sheetParts = parts
        let sheetNames = infos.map(\.name)
        // XTIs as formula text. External workbooks' sheets are not read from workbook.bin: an
        // XTI is taken as this workbook's sheets (the common case), `#REF` when it names none.
        var fw = BIFFFormula.Workbook()
        fw.names = allNames
        for x in externSheets {
            var ext = BIFFFormula.Workbook.Extern(sheet: nil, internalNames: true, externNames: [], workbookPrefix: "")
            if x.first >= 0 && Int(x.first) < sheetNames.count {
                let last = x.last != x.first && x.last >= 0 && Int(x.last) < sheetNames.count ? sheetNames[Int(x.last)] : nil
                ext.sheet = BIFFFormula.sheetPrefix(first: sheetNames[Int(x.first)], last: last)
            }
            fw.externs.append(ext)
        }
        formulaWorkbook = fw
        // A name's formula as text; one whose tokens do not decode is listed with "".
        definedNames = rawNames.map { n in
            let src = BIFFFormula.Source(tokens: 0..<n.formula.count, extra: n.formula.count..<n.formula.count)
            let text = (try? BIFFFormula.text(n.formula, src, dialect: .biff12, row: 0, column: 0, relative: false, workbook: fw)) ?? ""
            return DefinedName(name: n.name, refersTo: text, localSheet: n.itab == 0xFFFF_FFFF ? nil : Int(n.itab), hidden: n.hidden)
        }

        if let styles = wbRels.first(where: { $0.kind == "styles" }).flatMap({ archive.entry(named: $0.target) })
            ?? archive.entry(named: "xl/styles.bin") {
            styleKinds = try BIFF12.styleKinds(try archive.read(styles))
        } else {
            styleKinds = []
        }
        sharedStringsEntry = wbRels.first(where: { $0.kind == "sharedStrings" }).flatMap { archive.entry(named: $0.target) }
            ?? archive.entry(named: "xl/sharedStrings.bin")

        // Tables (ListObjects): `xl/tables/tableN.bin`, through each worksheet's relationships.
        // A part that cannot be read is reported and left out; the workbook still opens.
        var tables: [DeclaredTable] = []
        var problems: [TableProblem] = []
        for (i, info) in infos.enumerated() where info.kind == .worksheet {
            guard let part = parts[i], archive.contains(part) else { continue }
            for rel in (try? OOXMLParts.relationships(archive, of: part)) ?? [] where !rel.external && rel.kind == "table" {
                do {
                    guard let bytes = try archive.read(named: rel.target) else {
                        problems.append(TableProblem(sheet: info.name, message: "the table part \(rel.target) is missing from the package; it is not loaded"))
                        continue
                    }
                    tables.append(try BIFF12.table(bytes, sheet: info.name))
                } catch {
                    problems.append(TableProblem(sheet: info.name, message: "the table part \(rel.target) cannot be read (\(error)); it is not loaded"))
                }
            }
        }
        declaredTables = tables
        tableProblems = problems
    }

    /// The shared string table (BrtSSTItem records), read once on first use.
    public func sharedStrings() throws -> [String] {
        if let s = sharedStringsCache { return s }
        var out: [String] = []
        var bytes = 0
        if let e = sharedStringsEntry {
            var stream = BIFF12.Stream()
            try archive.stream(e) { chunk in
                try stream.feed(chunk) { type, r in
                    guard type == 0x13 else { return }  // BrtSSTItem: flags, XLWideString, runs...
                    var p = 1
                    let s = try r.wideString(&p)
                    bytes += 16 + (s.utf8.count > 15 ? s.utf8.count : 0)
                    if bytes > archive.limits.maxSharedStringBytes {
                        throw WorkbookError.tooLarge("the shared strings (\(e.name)) need over \(archive.limits.maxSharedStringBytes >> 20) MiB of memory")
                    }
                    out.append(s)
                }
            }
            try stream.finish()
        }
        sharedStringsCache = out
        return out
    }

    @discardableResult
    public func readSheet(at index: Int, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        try readSheet(at: index, formulas: false, visitor: visitor)
    }

    /// Streams the sheet's cells; with `formulas`, formula cells (BrtFmlaNum / String / Bool /
    /// Error) carry their text: shared formulas (BrtShrFmla) in each cell's own relative form,
    /// array formulas (BrtArrFmla) at their first cell. A formula whose tokens do not decode keeps
    /// its value and says why in `formulaError`.
    @discardableResult
    public func readSheet(at index: Int, formulas: Bool, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        guard sheets.indices.contains(index) else {
            throw WorkbookError(.unknownSheet, "no sheet at index \(index) (the workbook has \(sheets.count))")
        }
        if sheets[index].kind == .chartsheet { return SheetSummary() }
        guard let part = sheetParts[index], let entry = archive.entry(named: part) else {
            throw WorkbookError.corrupt("sheet \"\(sheets[index].name)\" has no part in the package")
        }
        let sst = try sharedStrings()
        var row = -1
        var cells: [RowCell] = []
        var minRow = Int.max, maxRow = -1, minCol = Int.max, maxCol = -1, count = 0
        var merged: [CellRange] = []
        let maxRows = limits.maxRows, maxCols = limits.maxColumns
        let kinds = styleKinds, is1904 = date1904
        var pending = XLSBFormulaSources(workbook: formulaWorkbook)
        func flush() throws {
            guard !cells.isEmpty else { return }
            if pending.hasCells {
                pending.resolve(into: &cells, row: row)
                // A formula without a cached value whose text did not decode has nothing to show.
                cells.removeAll { $0.value.isEmpty && $0.formula == nil }
                guard !cells.isEmpty else { return }
            }
            cells.sort { $0.column < $1.column }
            count += cells.count
            minRow = min(minRow, row); maxRow = max(maxRow, row)
            minCol = min(minCol, cells[0].column); maxCol = max(maxCol, cells[cells.count - 1].column)
            let r = SheetRow(index: row, cells: cells)
            cells.removeAll(keepingCapacity: true)
            try ReadCancellation.check()
            if try !visitor(r) { throw XMLStop() }
        }
        func numberValue(_ d: Double, style: Int) -> CellValue {
            // Excel never stores NaN or infinities; a file that does gets the error Excel shows for them.
            guard d.isFinite else { return .error("#NUM!") }
            if style < kinds.count, let kind = kinds[style] {
                return .temporal(kind, serial: is1904 && (kind == .date || kind == .dateTime) ? d + ExcelDate.offset1904 : d)
            }
            return .number(d)
        }
        var stream = BIFF12.Stream()
        do {
            try archive.stream(entry) { chunk in
                try stream.feed(chunk) { type, r in
                    switch type {
                    case 0x00:  // BrtRowHdr
                        guard r.count >= 4 else { throw WorkbookError.corrupt("BrtRowHdr too short") }
                        try flush()
                        let rw = Int(r.u32(0))
                        guard rw < maxRows else { throw WorkbookError.corrupt("row \(rw + 1) is beyond the sheet's \(maxRows) rows") }
                        row = rw
                    case 0x01...0x0B, 0x3E:
                        guard r.count >= 8 else { throw WorkbookError.corrupt("cell record \(type) too short") }
                        guard row >= 0 else { throw WorkbookError.corrupt("a cell before any row header") }
                        let col = Int(r.u32(0))
                        guard col < maxCols else { throw WorkbookError.corrupt("column \(col + 1) is beyond the sheet's \(maxCols) columns") }
                        let style = Int(r.u32(4) & 0xFF_FFFF)
                        let v: CellValue
                        switch type {
                        case 0x02:  // BrtCellRk
                            guard r.count >= 12 else { throw WorkbookError.corrupt("BrtCellRk too short") }
                            v = numberValue(BIFF12.rk(r.u32(8)), style: style)
                        case 0x03, 0x0B:  // BrtCellError, BrtFmlaError
                            guard r.count >= 9 else { throw WorkbookError.corrupt("error cell too short") }
                            v = .error(BIFF12.errorText(r.u8(8)))
                        case 0x04, 0x0A:  // BrtCellBool, BrtFmlaBool
                            guard r.count >= 9 else { throw WorkbookError.corrupt("bool cell too short") }
                            v = .bool(r.u8(8) != 0)
                        case 0x05, 0x09:  // BrtCellReal, BrtFmlaNum
                            guard r.count >= 16 else { throw WorkbookError.corrupt("number cell too short") }
                            v = numberValue(r.f64(8), style: style)
                        case 0x06, 0x08:  // BrtCellSt, BrtFmlaString
                            var p = 8
                            let s = try r.wideString(&p)
                            v = s.isEmpty ? .empty : .string(s)
                        case 0x3E:  // BrtCellRString: a RichStr (flags byte, XLWideString, runs)
                            var p = 9
                            guard r.count >= 13 else { throw WorkbookError.corrupt("BrtCellRString too short") }
                            let s = try r.wideString(&p)
                            v = s.isEmpty ? .empty : .string(s)
                        case 0x07:  // BrtCellIsst
                            guard r.count >= 12 else { throw WorkbookError.corrupt("BrtCellIsst too short") }
                            let i = Int(r.u32(8))
                            guard i < sst.count else { throw WorkbookError.corrupt("shared string \(i) of \(sst.count) does not exist") }
                            v = sst[i].isEmpty ? .empty : .string(sst[i])
                        default:  // BrtCellBlank
                            v = .empty
                        }
                        // A BrtFmlaString with an empty string is a formula without a cached value
                        // (as `<v></v>` in xlsx): kept, value empty, with its text, for
                        // `EvaluatingReader` to compute; its number format applies to the result.
                        let uncached = type == 0x08 && v.isEmpty
                        if !v.isEmpty || uncached {
                            if (formulas || uncached) && type >= 0x08 && type <= 0x0B {
                                pending.cell(index: cells.count, column: col, r, formulaAt: XLSBFormulaSources.formulaOffset(type, r))
                            }
                            cells.append(RowCell(column: col, value: v, numberFormatKind: uncached && style < kinds.count ? kinds[style] : nil))
                        }
                    // Shared and array formulas are kept even when text was not asked for: an
                    // uncached cell may use one (they are few; their bytes are copied).
                    case 0x1AA:  // BrtArrFmla: RfX, flags, formula
                        pending.master(r, kind: .array, formulaAt: 17)
                    case 0x1AB:  // BrtShrFmla: RfX, formula
                        pending.master(r, kind: .shared, formulaAt: 16)
                    case 0xB0:  // BrtMergeCell
                        guard r.count >= 16 else { return }
                        let r1 = Int(r.u32(0)), r2 = Int(r.u32(4)), c1 = Int(r.u32(8)), c2 = Int(r.u32(12))
                        if r1 <= r2, c1 <= c2, r2 < maxRows, c2 < maxCols {
                            merged.append(CellRange(rows: r1...r2, columns: c1...c2))
                        }
                    default: break
                    }
                }
            }
            try stream.finish()
            try flush()
        } catch is XMLStop {
            // The visitor asked to stop.
        }
        return SheetSummary(usedRange: count == 0 ? nil : CellRange(rows: minRow...maxRow, columns: minCol...maxCol),
                            mergedRanges: merged, cellCount: count)
    }
}

/// BIFF12 record framing and the small structures of [MS-XLSB].
enum BIFF12 {
    /// One record's payload: a view into a byte array.
    struct Record {
        let bytes: [UInt8]
        let start: Int
        let count: Int
        @inline(__always) func u8(_ o: Int) -> UInt8 { bytes[start + o] }
        @inline(__always) func u32(_ o: Int) -> UInt32 {
            let p = start + o
            return UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
        }
        func f64(_ o: Int) -> Double { Double(bitPattern: UInt64(u32(o)) | UInt64(u32(o + 4)) << 32) }
        /// XLWideString: a 32-bit character count, then UTF-16LE.
        func wideString(_ p: inout Int) throws -> String {
            guard p + 4 <= count else { throw WorkbookError.corrupt("BIFF12 string past the end of its record") }
            let n = Int(u32(p))
            guard n <= (count - p - 4) / 2 else { throw WorkbookError.corrupt("BIFF12 string of \(n) characters past the end of its record") }
            var units: [UInt16] = []
            units.reserveCapacity(n)
            let base = start + p + 4
            for k in 0..<n { units.append(UInt16(bytes[base + 2 * k]) | UInt16(bytes[base + 2 * k + 1]) << 8) }
            p += 4 + 2 * n
            return String(decoding: units, as: UTF16.self)
        }
        /// XLNullableWideString: count 0xFFFFFFFF is nil.
        func nullableWideString(_ p: inout Int) throws -> String? {
            guard p + 4 <= count else { throw WorkbookError.corrupt("BIFF12 string past the end of its record") }
            if u32(p) == 0xFFFF_FFFF { p += 4; return nil }
            return try wideString(&p)
        }
    }

    /// Reads a variable-length header field (7 bits a byte, high bit: more) at `p`.
    @inline(__always)
    static func varint(_ b: UnsafeRawBufferPointer, _ p: inout Int, maxBytes: Int) -> Int? {
        var v = 0
        for k in 0..<maxBytes {
            guard p < b.count else { return nil }
            let c = b[p]
            p += 1
            v |= Int(c & 0x7F) << (7 * k)
            if c & 0x80 == 0 { return v }
        }
        return v
    }

    /// Calls `body(type, record)` for each record of a whole part.
    /// A table part (`tableN.bin`): BrtBeginList ([MS-XLSB] 2.4.313: rfxList as four u32
    /// rwFirst, rwLast, colFirst, colLast; lt, idList, crwHeader, crwTotals, flags, seven u32
    /// dxf/connection ids; then stName, stDisplayName) and one BrtBeginListCol per column
    /// (2.4.306: six u32, then stName and stCaption).
    static func table(_ bytes: [UInt8], sheet: String) throws -> DeclaredTable {
        var found: DeclaredTable? = nil
        var columns: [String] = []
        try forEachRecord(bytes) { type, r in
            switch type {
            case 0x157:  // BrtBeginList
                guard r.count >= 64 else { throw WorkbookError.corrupt("BrtBeginList record too short") }
                let r0 = Int(r.u32(0)), r1 = Int(r.u32(4)), c0 = Int(r.u32(8)), c1 = Int(r.u32(12))
                guard r0 <= r1, c0 <= c1, r1 < CellRef.maxRows, c1 < CellRef.maxColumns else {
                    throw WorkbookError.corrupt("the table's range (rows \(r0 + 1)-\(r1 + 1), columns \(c0 + 1)-\(c1 + 1)) is no range on a sheet")
                }
                var p = 64
                let name = try r.nullableWideString(&p) ?? ""
                let display = (try? r.wideString(&p)) ?? ""
                found = DeclaredTable(name: display.isEmpty ? name : display, sheet: sheet,
                                      range: CellRange(rows: r0...r1, columns: c0...c1),
                                      headerRowCount: Int(r.u32(24)), totalsRowCount: Int(r.u32(28)), columnNames: [])
            case 0x15B:  // BrtBeginListCol
                guard r.count >= 24 else { return }
                var p = 24
                let name = (try? r.nullableWideString(&p)) ?? nil
                let caption = (try? r.nullableWideString(&p)) ?? nil
                columns.append(caption.flatMap { $0.isEmpty ? nil : $0 } ?? name ?? "")
            default: break
            }
        }
        guard var t = found else { throw WorkbookError.corrupt("the table part has no BrtBeginList record") }
        t.columnNames = columns
        return t
    }

    static func forEachRecord(_ data: [UInt8], _ body: (Int, Record) throws -> Void) throws {
        var s = Stream()
        try data.withUnsafeBytes { try s.feed($0, body) }
        try s.finish()
    }

    /// Records from chunks: complete records go to the handler, a partial one waits.
    struct Stream {
        var pending: [UInt8] = []
        /// No BIFF12 record is this large (sizes are at most 4 varint bytes: 2^28 - 1).
        static let maxRecord = 1 << 28

        mutating func feed(_ chunk: UnsafeRawBufferPointer, _ body: (Int, Record) throws -> Void) throws {
            pending.append(contentsOf: chunk)
            let data = pending
            var used = 0
            try data.withUnsafeBytes { b in
                var p = 0
                while p < b.count {
                    let recStart = p
                    guard let type = BIFF12.varint(b, &p, maxBytes: 2), let size = BIFF12.varint(b, &p, maxBytes: 4) else {
                        p = recStart; break
                    }
                    guard size < Stream.maxRecord else { throw WorkbookError.corrupt("BIFF12 record of \(size) bytes") }
                    guard p + size <= b.count else { p = recStart; break }
                    try body(type, Record(bytes: data, start: p, count: size))
                    p += size
                }
                used = p
            }
            if used > 0 { pending.removeFirst(used) }
        }

        func finish() throws {
            if !pending.isEmpty { throw WorkbookError.corrupt("BIFF12 part ends inside a record (truncated)") }
        }
    }

    /// RkNumber: 30 bits of an integer or of a double's high bits, optionally divided by 100.
    static func rk(_ v: UInt32) -> Double {
        var d: Double
        if v & 2 != 0 {
            d = Double(Int32(bitPattern: v) >> 2)
        } else {
            d = Double(bitPattern: UInt64(v & 0xFFFF_FFFC) << 32)
        }
        if v & 1 != 0 { d /= 100 }
        return d
    }

    static func errorText(_ code: UInt8) -> String {
        switch code {
        case 0x00: return "#NULL!"
        case 0x07: return "#DIV/0!"
        case 0x0F: return "#VALUE!"
        case 0x17: return "#REF!"
        case 0x1D: return "#NAME?"
        case 0x24: return "#NUM!"
        case 0x2A: return "#N/A"
        case 0x2B: return "#GETTING_DATA"
        default: return "#ERR\(code)"
        }
    }

    /// styles.bin: BrtFmt (custom number formats) and the BrtXF records between
    /// BrtBeginCellXFs and BrtEndCellXFs -> temporal kind per cell style.
    static func styleKinds(_ data: [UInt8]) throws -> [TemporalKind?] {
        var codes: [Int: String] = [:]
        var xfFormats: [Int] = []
        var inCellXfs = false
        try forEachRecord(data) { type, r in
            switch type {
            case 0x2C:  // BrtFmt
                guard r.count >= 6 else { return }
                var p = 2
                codes[Int(r.u8(0)) | Int(r.u8(1)) << 8] = try r.wideString(&p)
            case 0x269: inCellXfs = true
            case 0x26A: inCellXfs = false
            case 0x2F:  // BrtXF: ixfeParent u16, iFmt u16, ...
                if inCellXfs && r.count >= 4 { xfFormats.append(Int(r.u8(2)) | Int(r.u8(3)) << 8) }
            default: break
            }
        }
        return xfFormats.map { NumberFormats.kind(id: $0, code: codes[$0]) }
    }
}
