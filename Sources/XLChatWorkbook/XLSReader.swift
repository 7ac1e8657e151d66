import Foundation

// Legacy Excel (.xls): BIFF8 (Excel 97-2003) in a compound file's `Workbook` stream, BIFF5/7
// in `Book`, and bare BIFF2-4 worksheet streams (no compound file). Hand-written: no library
// reads BIFF in Swift. The stream is read into one buffer and records are walked by offset
// (type u16, length u16, data), so reading is linear in the stream and allocates per cell only.
// Formulas give their cached values; their text (FORMULA / SHRFMLA / ARRAY / TABLE tokens, see
// BIFFFormula) is decoded only when asked for (`readSheet(at:formulas:visitor:)`), so a plain
// read pays nothing for it.

public final class XLSReader: WorkbookReader, Sendable {
    public let format: WorkbookFormat = .xls
    public let sheets: [SheetInfo]
    public let definedNames: [DefinedName]
    public var declaredTables: [DeclaredTable] { [] }
    /// 2, 3, 4, 5 (BIFF5/7) or 8.
    public let biffVersion: Int
    /// True when the workbook uses the 1904 date system.
    public let uses1904: Bool
    /// The CODEPAGE record's value (1200 = UTF-16 for BIFF8).
    public let codepage: Int

    let stream: [UInt8]
    let limits: ReadLimits
    /// Offset in `stream` of each sheet's BOF record, parallel to `sheets`.
    let sheetOffsets: [Int]
    let sst: [String]
    /// The temporal kind of each XF (cell style) index; nil for plain numbers.
    let xfKinds: [TemporalKind?]
    /// BIFF2: temporal kind by FORMAT index (cells name a format directly).
    let formatKinds: [TemporalKind?]
    /// Sheets, external workbooks and names that formula tokens refer to (BIFF8).
    let formulaWorkbook: BIFFFormula.Workbook

    /// Opens an .xls file: a compound file, or a bare BIFF2-4 stream.
    public convenience init(path: String, limits: ReadLimits = .default) throws {
        let bytes = try CompoundFile.readFile(path: path, limits: limits)
        do {
            try self.init(bytes: bytes, limits: limits)
        } catch let e as WorkbookError where e.kind == .encryptedWorkbook && CompoundFile.hasSignature(bytes) {
            // The container does not say which OOXML format it encrypts; the file's name does.
            throw CompoundFile.encryptedOOXMLError(path: path)
        }
    }

    /// Reads an .xls file held in memory (a compound file or a bare BIFF stream).
    public convenience init(bytes: [UInt8], limits: ReadLimits = .default) throws {
        if bytes.isEmpty { throw WorkbookError.corrupt("The file is empty (0 bytes).") }
        if CompoundFile.hasSignature(bytes) {
            try self.init(compoundFile: CompoundFile(bytes: bytes, limits: limits), limits: limits)
        } else if XLSReader.bareBIFFVersion(bytes) != nil {
            try self.init(biffStream: bytes, limits: limits)
        } else {
            throw WorkbookError(.unsupportedFormat, "Not an xls file: neither a compound (OLE2) file nor a BIFF stream.")
        }
    }

    /// Reads the workbook in an already opened compound file.
    public convenience init(compoundFile cf: CompoundFile, limits: ReadLimits = .default) throws {
        try cf.checkNotEncryptedOOXML()
        if let e = cf.entry(named: "Workbook") ?? cf.entry(named: "Book") {
            try self.init(biffStream: cf.streamBytes(e), limits: limits)
        } else {
            throw WorkbookError(.unsupportedFormat,
                "The compound file holds no Workbook or Book stream: it is not an Excel workbook (a Word or other OLE document?).")
        }
    }

    /// True when a file's first bytes look like an xls file: a compound file, or a bare BIFF2-5
    /// stream starting with a BOF record. (A compound file may still turn out to be another
    /// OLE document, or an encrypted xlsx: opening it says which.)
    public static func looksLikeXLS(prefix: [UInt8]) -> Bool {
        CompoundFile.hasSignature(prefix) || bareBIFFVersion(prefix) != nil
    }

    /// The BIFF version of a bare stream starting with a BOF record, or nil.
    static func bareBIFFVersion(_ b: [UInt8]) -> Int? {
        guard b.count >= 8 else { return nil }
        let len = Int(b[2]) | Int(b[3]) << 8
        guard len >= 4 && len <= 20 else { return nil }
        switch (b[0], b[1]) {
        case (0x09, 0x00): return 2
        case (0x09, 0x02): return 3
        case (0x09, 0x04): return 4
        case (0x09, 0x08): return 5  // refined by the BOF's version field
        default: return nil
        }
    }

    /// Parses the workbook globals of a BIFF stream.
    init(biffStream s: [UInt8], limits: ReadLimits) throws {
        self.stream = s
        self.limits = limits
        var r = BIFFRecordWalker(s)
        guard let bof = try r.next(), [0x0009, 0x0209, 0x0409, 0x0809].contains(bof.type) else {
            throw WorkbookError.corrupt("The workbook stream does not start with a BOF record.")
        }
        let version: Int
        var bofType = 0
        switch bof.type {
        case 0x0009: version = 2; bofType = Int(s.u16(bof.start + 2))
        case 0x0209: version = 3; bofType = Int(s.u16(bof.start + 2))
        case 0x0409: version = 4; bofType = Int(s.u16(bof.start + 2))
        default:
            let v = s.u16(bof.start)
            version = v == 0x0500 ? 5 : (v == 0x0600 || bof.length >= 16 ? 8 : 5)
            bofType = Int(s.u16(bof.start + 2))
        }
        biffVersion = version
        if version <= 4 && bofType != 0x0010 {
            let what = bofType == 0x0100 ? "a BIFF4 workbook (BIFF4W)" : bofType == 0x0020 ? "a chart" : bofType == 0x0040 ? "a macro sheet" : "not a worksheet"
            throw WorkbookError(.unsupportedFormat,
                "This is an Excel \(version == 4 ? "4.0" : version == 3 ? "3.0" : "2.x") (BIFF\(version)) file holding \(what); only BIFF2-4 worksheets are read. Open it in Excel and save as .xlsx.")
        }

        var codepage = version == 8 ? 1200 : 1252
        var date1904 = false
        var sst: [String] = []
        var xfFormat: [Int] = []
        var formatCodes: [Int: String] = [:]
        var implicitFormatIndex = 0
        var bounds: [(name: String, offset: Int, state: UInt8, type: UInt8)] = []
        var rawNames: [(name: String, rgce: Range<Int>, itab: Int, hidden: Bool)] = []
        var externSheets: [(supbook: Int, first: Int)] = []
        var internalSupbook: Int? = nil
        var supbookCount = 0
        // For formula text: every NAME in order (PtgName counts from 1), the SUPBOOKs with their
        // sheets and EXTERNNAMEs, and each XTI's last sheet too.
        var allNames: [String] = []
        var supbooks: [(kind: UInt16, sheets: [String], names: [String])] = []
        var xtiLast: [Int] = []

        // Globals run to the first EOF (BIFF5/8); a bare BIFF2-4 stream is one worksheet whose
        // formats and styles come before its cells, so it is scanned to its end.
        while let rec = try r.next() {
            let d = rec.start
            switch rec.type {
            case 0x000A:  // EOF
                if version >= 5 { r.stop() }
            case 0x002F:  // FILEPASS
                throw WorkbookError(.encryptedWorkbook,
                    "The xls workbook is protected with a password (it is encrypted). Open it in Excel, remove the password (File > Info > Protect Workbook > Encrypt with Password, clear it), save, and try again.")
            case 0x0042:  // CODEPAGE
                if version < 8 { codepage = Int(s.u16(d)) }
            case 0x0022:  // DATEMODE (1904)
                date1904 = s.u16(d) == 1
            case 0x0085 where version >= 5:  // BOUNDSHEET
                guard rec.length >= 8 else { throw WorkbookError.corrupt("BOUNDSHEET record too short.") }
                let offset = Int(s.u32(d))
                let state = s[d + 4], type = s[d + 5]
                var p = d + 6
                let name: String
                if version == 8 {
                    name = try XLSReader.shortUnicodeString(s, &p, end: rec.end)
                } else {
                    let n = Int(s[p]); p += 1
                    name = XLSCodePages.decode(s[p..<min(p + n, rec.end)], codepage: codepage)
                }
                bounds.append((name, offset, state, type))
            case 0x041E, 0x001E:  // FORMAT
                var p = d
                var id = implicitFormatIndex
                let code: String
                if version == 8 {
                    guard rec.length >= 5 else { throw WorkbookError.corrupt("FORMAT record too short.") }
                    id = Int(s.u16(p)); p += 2
                    code = try XLSReader.unicodeString(s, &p, end: rec.end, lengthBytes: 2)
                } else {
                    // BIFF5 has an explicit index; BIFF2-4 number formats by order.
                    if version == 5 { id = Int(s.u16(p)) }
                    if rec.type == 0x041E { p += 2 }
                    guard p < rec.end else { break }
                    let n = Int(s[p]); p += 1
                    code = XLSCodePages.decode(s[min(p, rec.end)..<min(p + n, rec.end)], codepage: codepage)
                }
                implicitFormatIndex += 1
                formatCodes[id] = code
            case 0x00E0 where version >= 5 && rec.length >= 4:  // XF
                xfFormat.append(Int(s.u16(d + 2)))
            case 0x0443 where rec.length >= 2, 0x0243 where rec.length >= 2:  // XF (BIFF4, BIFF3): font u8, format u8
                xfFormat.append(Int(s[d + 1]))
            case 0x0043 where version == 2 && rec.length >= 3:  // XF (BIFF2): format in byte 2's low 6 bits
                xfFormat.append(Int(s[d + 2] & 0x3F))
            case 0x00FC:  // SST, with CONTINUE records
                var seg = BIFFSegments(s, first: d..<rec.end, continues: r.continues())
                sst = try XLSReader.readSST(&seg)
            case 0x0018 where version == 8:  // NAME
                if let n = try? XLSReader.nameRecord(s, d..<rec.end) { rawNames.append(n); allNames.append(n.name) } else { allNames.append("#NAME?") }
            case 0x01AE:  // SUPBOOK: ctab, then 0x0401 (this workbook), 0x3A01 (add-ins) or a path and sheet names
                let tag = rec.length >= 4 ? s.u16(d + 2) : 0
                if tag == 0x0401 { internalSupbook = supbookCount }
                var sheetNames: [String] = []
                if tag != 0x0401 && tag != 0x3A01 && rec.length >= 4 {
                    var p = d + 2
                    if (try? XLSReader.unicodeString(s, &p, end: rec.end, lengthBytes: 2)) != nil {
                        for _ in 0..<Int(s.u16(d)) {
                            guard let n = try? XLSReader.unicodeString(s, &p, end: rec.end, lengthBytes: 2) else { break }
                            sheetNames.append(n)
                        }
                    }
                }
                supbooks.append((tag, sheetNames, []))
                supbookCount += 1
            case 0x0023 where version == 8 && !supbooks.isEmpty:  // EXTERNNAME: flags u16, 4 bytes, name
                var p = d + 6
                let name = (try? XLSReader.shortUnicodeString(s, &p, end: rec.end)) ?? "#NAME?"
                supbooks[supbooks.count - 1].names.append(name)
            case 0x0017 where version == 8:  // EXTERNSHEET
                let count = Int(s.u16(d))
                for i in 0..<count where d + 2 + 6 * i + 6 <= rec.end {
                    let o = d + 2 + 6 * i
                    externSheets.append((Int(s.u16(o)), Int(Int16(bitPattern: s.u16(o + 2)))))
                    xtiLast.append(Int(Int16(bitPattern: s.u16(o + 4))))
                }
            default:
                break
            }
        }

        self.codepage = codepage
        self.uses1904 = date1904
        self.sst = sst
        func kind(_ formatID: Int) -> TemporalKind? {
            if let code = formatCodes[formatID] { return NumberFormats.kind(id: formatID, code: code) }
            return version >= 5 ? NumberFormats.builtinKind(formatID) : nil
        }
        self.xfKinds = xfFormat.map(kind)
        self.formatKinds = version == 2 ? (0..<max(implicitFormatIndex, 64)).map(kind) : []

        var infos: [SheetInfo] = []
        var offsets: [Int] = []
        if version <= 4 {
            infos = [SheetInfo(name: "Sheet1", index: 0)]
            offsets = [0]
        } else {
            for b in bounds {
                let kind: SheetKind
                switch b.type {
                case 0: kind = .worksheet
                case 1: kind = .macrosheet
                case 2: kind = .chartsheet
                default: continue  // 6: a VB module, not a sheet
                }
                let vis: SheetVisibility = (b.state & 3) == 1 ? .hidden : (b.state & 3) == 2 ? .veryHidden : .visible
                infos.append(SheetInfo(name: b.name, index: infos.count, visibility: vis, kind: kind))
                offsets.append(b.offset)
            }
        }
        self.sheets = infos
        self.sheetOffsets = offsets

        // Defined names: those whose formula is a plain reference (or a union of them) are
        // decoded; others (constants aside) are left out rather than shown wrongly.
        let allSheetNames = bounds.map(\.name)
        var names: [DefinedName] = []
        for n in rawNames {
            let sheetOf: (Int) -> String? = { ixti in
                guard ixti >= 0, ixti < externSheets.count else { return nil }
                let x = externSheets[ixti]
                guard x.supbook == internalSupbook, x.first >= 0, x.first < allSheetNames.count else { return nil }
                return allSheetNames[x.first]
            }
            guard let refersTo = XLSReader.decodeNameFormula(s, n.rgce, sheetOf: sheetOf) else { continue }
            var local: Int? = nil
            if n.itab > 0 && n.itab <= bounds.count {
                local = infos.firstIndex { $0.name == bounds[n.itab - 1].name }
            }
            names.append(DefinedName(name: n.name, refersTo: refersTo, localSheet: local, hidden: n.hidden))
        }
        self.definedNames = names

        // XTIs as formula text: this workbook's sheets (`Sheet2`, `Jan:Mar`), external ones (`[1]Data`).
        var externalNumber: [Int: Int] = [:]
        for (i, b) in supbooks.enumerated() where b.kind != 0x0401 && b.kind != 0x3A01 { externalNumber[i] = externalNumber.count + 1 }
        var fw = BIFFFormula.Workbook()
        fw.names = allNames
        for (i, x) in externSheets.enumerated() {
            let last = i < xtiLast.count ? xtiLast[i] : x.first
            let book = x.supbook >= 0 && x.supbook < supbooks.count ? supbooks[x.supbook] : nil
            var ext = BIFFFormula.Workbook.Extern(sheet: nil, internalNames: book?.kind == 0x0401, externNames: book?.names ?? [], workbookPrefix: "")
            if let n = externalNumber[x.supbook] { ext.workbookPrefix = "[\(n)]" }
            let sheetNames = book?.kind == 0x0401 ? allSheetNames : (book?.sheets ?? [])
            if x.first >= 0 && x.first < sheetNames.count {
                let lastName = last != x.first && last >= 0 && last < sheetNames.count ? sheetNames[last] : nil
                ext.sheet = BIFFFormula.sheetPrefix(book: ext.workbookPrefix, first: sheetNames[x.first], last: lastName)
            } else if x.first == -2 || book?.kind == 0x3A01 {
                ext.sheet = ext.workbookPrefix.isEmpty ? nil : ext.workbookPrefix
            }
            fw.externs.append(ext)
        }
        self.formulaWorkbook = fw
    }

    // MARK: - Cells

    /// Streams the sheet's cells, rows ascending and cells by column. BIFF writes cells mostly
    /// in order but does not promise it, so a sheet's cells are gathered and sorted when out of
    /// order before they are delivered (an xls sheet is at most 65,536 x 256 and its stream
    /// is already in memory, so this stays within a small multiple of the file).
    @discardableResult
    public func readSheet(at index: Int, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        try readSheet(at: index, formulas: false, visitor: visitor)
    }

    /// Streams the sheet's cells; with `formulas`, formula cells carry their text (BIFF8 only):
    /// shared formulas in each cell's own relative form, array formulas at their first cell, data
    /// tables as `TABLE(row input,column input)`. A formula whose tokens do not decode keeps its
    /// value and says why in `formulaError`; the rest of the sheet reads on.
    @discardableResult
    public func readSheet(at index: Int, formulas: Bool, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        guard index >= 0 && index < sheets.count else {
            throw WorkbookError(.unknownSheet, "No sheet at index \(index); the workbook has \(sheets.count).")
        }
        if sheets[index].kind == .chartsheet { return SheetSummary() }
        let start = sheetOffsets[index]
        guard start >= 0, start + 4 <= stream.count else {
            throw WorkbookError.corrupt("Sheet \(sheets[index].name) starts at offset \(start), outside the workbook stream (\(stream.count) bytes).")
        }
        guard [0x0009, 0x0209, 0x0409, 0x0809].contains(stream.u16(start)) else {
            throw WorkbookError.corrupt("Sheet \(sheets[index].name) should start with a BOF record at offset \(start), but does not.")
        }
        var cells = BIFFCellBuffer()
        var merged: [CellRange] = []
        // Formula positions are always gathered (offsets only): a formula saved without a cached
        // result needs its text for `EvaluatingReader` even when text was not asked for.
        var sources: BIFFFormulaSources? = biffVersion == 8 ? BIFFFormulaSources() : nil
        try scanSheet(from: start, cells: &cells, merged: &merged, formulas: &sources)
        if let sources, formulas || sources.hasUncached {
            cells.formulas = sources.texts(stream, workbook: formulaWorkbook, onlyUncached: !formulas)
            cells.uncached = sources.uncachedKinds
        }
        return try cells.deliver(merged: merged, visitor: visitor)
    }

    private func scanSheet(from start: Int, cells: inout BIFFCellBuffer, merged: inout [CellRange],
                           formulas: inout BIFFFormulaSources?) throws {
        let s = stream
        var r = BIFFRecordWalker(s, at: start)
        var depth = 0
        var pendingString: (row: Int, col: Int)? = nil
        let v = biffVersion
        let maxRows = limits.maxRows, maxCols = limits.maxColumns

        func number(_ row: Int, _ col: Int, _ value: Double, xf: Int) throws {
            try cells.add(row, col, temporal(value, kind: xf < xfKinds.count ? xfKinds[xf] : nil), maxRows, maxCols)
        }

        while let rec = try r.next() {
            let d = rec.start, len = rec.length
            switch rec.type {
            case 0x0809, 0x0409, 0x0209, 0x0009:  // BOF (a nested one is an embedded chart)
                depth += 1
                continue
            case 0x000A:  // EOF
                depth -= 1
                if depth <= 0 { r.stop() }
                continue
            default:
                break
            }
            guard depth == 1 else { continue }
            if let p = pendingString, rec.type != 0x0207 && rec.type != 0x0007 && rec.type != 0x04BC && rec.type != 0x0221 {
                // A string result without its STRING record: no cached value.
                try cells.add(p.row, p.col, .empty, maxRows, maxCols)
                pendingString = nil
            }
            switch rec.type {
            case 0x0203 where len >= 14:  // NUMBER
                try number(Int(s.u16(d)), Int(s.u16(d + 2)), s.f64(d + 6), xf: Int(s.u16(d + 4)))
            case 0x027E where len >= 10:  // RK
                try number(Int(s.u16(d)), Int(s.u16(d + 2)), XLSReader.rk(s.u32(d + 6)), xf: Int(s.u16(d + 4)))
            case 0x00BD where len >= 6:  // MULRK
                let row = Int(s.u16(d))
                var col = Int(s.u16(d + 2))
                var p = d + 4
                while p + 6 <= rec.end - 2 {
                    try number(row, col, XLSReader.rk(s.u32(p + 2)), xf: Int(s.u16(p)))
                    p += 6
                    col += 1
                }
            case 0x00FD where len >= 10:  // LABELSST
                let i = Int(s.u32(d + 6))
                guard i < sst.count else {
                    throw WorkbookError.corrupt("A cell refers to shared string \(i), but the table has \(sst.count).")
                }
                try cells.add(Int(s.u16(d)), Int(s.u16(d + 2)), .string(sst[i]), maxRows, maxCols)
            case 0x0204 where len >= 8, 0x00D6 where len >= 8:  // LABEL, RSTRING
                var p = d + 6
                let text: String
                if v == 8 {
                    var seg = BIFFSegments(s, first: p..<rec.end, continues: r.continues())
                    text = try seg.unicodeString(lengthBytes: 2)
                } else {
                    let n = Int(s.u16(p)); p += 2
                    text = XLSCodePages.decode(s[p..<min(p + n, rec.end)], codepage: codepage)
                }
                try cells.add(Int(s.u16(d)), Int(s.u16(d + 2)), .string(text), maxRows, maxCols)
            case 0x0205 where len >= 8:  // BOOLERR
                try cells.add(Int(s.u16(d)), Int(s.u16(d + 2)), XLSReader.boolErr(s[d + 6], isError: s[d + 7] != 0), maxRows, maxCols)
            case 0x0006 where v >= 5 && len >= 20, 0x0206 where len >= 16, 0x0406 where len >= 16:  // FORMULA
                let row = Int(s.u16(d)), col = Int(s.u16(d + 2)), xf = Int(s.u16(d + 4))
                let value = try formulaResult(at: d + 6, row: row, col: col, xf: xf, pending: &pendingString)
                if let value { try cells.add(row, col, value, maxRows, maxCols) }
                if v == 8 {
                    // Uncached until a value says otherwise (a string result's STRING record follows).
                    formulas?.cell(row: row, column: col, formulaAt: d + 20, end: rec.end,
                                   uncached: value?.isEmpty ?? true, kind: xf < xfKinds.count ? xfKinds[xf] : nil)
                }
            case 0x04BC where v == 8:  // SHRFMLA: RefU, reserved, cUse, formula
                formulas?.master(s, d, formulaAt: d + 8, end: rec.end, kind: .shared)
            case 0x0221 where v == 8:  // ARRAY: RefU, flags, chn, formula
                formulas?.master(s, d, formulaAt: d + 12, end: rec.end, kind: .array)
            case 0x0236 where v == 8:  // TABLE: RefU, flags, input cells
                formulas?.master(s, d, formulaAt: d + 6, end: rec.end, kind: .table)
            case 0x0207:  // STRING: the text result of the formula before it
                if let (row, col) = pendingString {
                    let text: String
                    if v == 8 {
                        var seg = BIFFSegments(s, first: d..<rec.end, continues: r.continues())
                        text = try seg.unicodeString(lengthBytes: 2)
                    } else {
                        let n = Int(s.u16(d))
                        text = XLSCodePages.decode(s[min(d + 2, rec.end)..<min(d + 2 + n, rec.end)], codepage: codepage)
                    }
                    // An empty string result is no cached value (as `<v></v>` in xlsx): see `formulaResult`.
                    try cells.add(row, col, text.isEmpty ? .empty : .string(text), maxRows, maxCols)
                    if !text.isEmpty { formulas?.cached(row: row, column: col) }
                    pendingString = nil
                }
            case 0x00E5:  // MERGEDCELLS
                let count = Int(s.u16(d))
                for i in 0..<count where d + 2 + 8 * i + 8 <= rec.end {
                    let o = d + 2 + 8 * i
                    let r0 = Int(s.u16(o)), r1 = Int(s.u16(o + 2)), c0 = Int(s.u16(o + 4)), c1 = Int(s.u16(o + 6))
                    if r0 <= r1 && c0 <= c1 && r1 < maxRows && c1 < maxCols {
                        merged.append(CellRange(rows: r0...r1, columns: c0...c1))
                    }
                }
            // BIFF2 cells: row u16, col u16, 3 attribute bytes (format index in byte 1's low 6 bits).
            case 0x0003 where v == 2 && len >= 15:  // NUMBER
                try cells.add(Int(s.u16(d)), Int(s.u16(d + 2)), temporal(s.f64(d + 7), kind: biff2Kind(s[d + 5])), maxRows, maxCols)
            case 0x0002 where v == 2 && len >= 9:  // INTEGER
                try cells.add(Int(s.u16(d)), Int(s.u16(d + 2)), temporal(Double(s.u16(d + 7)), kind: biff2Kind(s[d + 5])), maxRows, maxCols)
            case 0x0004 where v == 2 && len >= 8:  // LABEL
                let n = Int(s[d + 7])
                let text = XLSCodePages.decode(s[(d + 8)..<min(d + 8 + n, rec.end)], codepage: codepage)
                try cells.add(Int(s.u16(d)), Int(s.u16(d + 2)), .string(text), maxRows, maxCols)
            case 0x0005 where v == 2 && len >= 9:  // BOOLERR
                try cells.add(Int(s.u16(d)), Int(s.u16(d + 2)), XLSReader.boolErr(s[d + 7], isError: s[d + 8] != 0), maxRows, maxCols)
            case 0x0006 where v == 2 && len >= 15:  // FORMULA
                let row = Int(s.u16(d)), col = Int(s.u16(d + 2))
                let value = s.f64(d + 7)
                try cells.add(row, col, temporal(value, kind: biff2Kind(s[d + 5])), maxRows, maxCols)
            case 0x0007 where v == 2:  // STRING (BIFF2)
                if let (row, col) = pendingString {
                    let n = Int(s[d])
                    try cells.add(row, col, .string(XLSCodePages.decode(s[min(d + 1, rec.end)..<min(d + 1 + n, rec.end)], codepage: codepage)), maxRows, maxCols)
                    pendingString = nil
                }
            default:
                break
            }
        }
    }

    /// A FORMULA record's cached result ([MS-XLS] 2.5.133 FormulaValue, 8 bytes at `p`): a
    /// number (Xnum), or when fExprO (the last two bytes) is 0xFFFF, by byte1: 0 a string (in the
    /// STRING record that follows; nil here), 1 a boolean, 2 an error, 3 an empty string.
    /// An empty-string result is `.empty`, "no cached value", for `EvaluatingReader` to compute:
    /// xlwt writes 0xFFFF000000000003 (an empty string) as the result of every formula it writes,
    /// with no STRING record, so a computed value is the only one such a file has; Excel writes
    /// the same bytes for a formula that evaluates to "" (xlrd reads them as ""), and computing
    /// it gives "" again. It is the same rule as xlsx's `<v></v>`. An unknown byte1 is no value.
    private func formulaResult(at p: Int, row: Int, col: Int, xf: Int, pending: inout (row: Int, col: Int)?) throws -> CellValue? {
        let s = stream
        if s[p + 6] == 0xFF && s[p + 7] == 0xFF {
            switch s[p] {
            case 0: pending = (row, col); return nil
            case 1: return .bool(s[p + 2] != 0)
            case 2: return XLSReader.boolErr(s[p + 2], isError: true)
            default: return .empty
            }
        }
        return temporal(s.f64(p), kind: xf < xfKinds.count ? xfKinds[xf] : nil)
    }

    private func biff2Kind(_ attr1: UInt8) -> TemporalKind? {
        let f = Int(attr1 & 0x3F)
        return f < formatKinds.count ? formatKinds[f] : nil
    }

    /// A number as a cell value: temporal when its format says so (1904 serials moved to the
    /// 1900 system; durations are plain day counts and are not moved).
    @inline(__always) private func temporal(_ value: Double, kind: TemporalKind?) -> CellValue {
        // Excel shows dates only from serial 0 to 9999-12-31 (2,958,465); outside, a number
        // stays a number (Excel shows ####), which also keeps absurd serials out of date maths.
        guard let kind, value.isFinite, value < 2_958_466,
              value >= 0 || (kind == .duration && value > -2_958_466) else { return .number(value) }
        if kind == .duration || !uses1904 { return .temporal(kind, serial: value) }
        return .temporal(kind, serial: value + ExcelDate.offset1904)
    }

    static func boolErr(_ v: UInt8, isError: Bool) -> CellValue {
        guard isError else { return .bool(v != 0) }
        switch v {
        case 0x00: return .error("#NULL!")
        case 0x07: return .error("#DIV/0!")
        case 0x0F: return .error("#VALUE!")
        case 0x17: return .error("#REF!")
        case 0x1D: return .error("#NAME?")
        case 0x24: return .error("#NUM!")
        case 0x2A: return .error("#N/A")
        case 0x2B: return .error("#GETTING_DATA")
        default: return .error("#ERR\(v)")
        }
    }

    /// An RK number: 30 bits of integer or of a double's high bits, optionally divided by 100.
    @inline(__always) static func rk(_ raw: UInt32) -> Double {
        var v: Double
        if raw & 2 != 0 {
            v = Double(Int32(bitPattern: raw) >> 2)
        } else {
            v = Double(bitPattern: UInt64(raw & 0xFFFF_FFFC) << 32)
        }
        if raw & 1 != 0 { v /= 100 }
        return v
    }

    // MARK: - Strings

    /// ShortXLUnicodeString: cch u8, flags u8, characters.
    static func shortUnicodeString(_ s: [UInt8], _ p: inout Int, end: Int) throws -> String {
        guard p <= end else { throw WorkbookError.corrupt("a string runs past the end of its record.") }
        var seg = BIFFSegments(s, first: p..<end, continues: [])
        let str = try seg.unicodeString(lengthBytes: 1)
        p = seg.position
        return str
    }

    /// XLUnicodeString (cch u16 or u8, flags, characters) within one record.
    static func unicodeString(_ s: [UInt8], _ p: inout Int, end: Int, lengthBytes: Int) throws -> String {
        guard p <= end else { throw WorkbookError.corrupt("a string runs past the end of its record.") }
        var seg = BIFFSegments(s, first: p..<end, continues: [])
        let str = try seg.unicodeString(lengthBytes: lengthBytes)
        p = seg.position
        return str
    }

    static func readSST(_ seg: inout BIFFSegments) throws -> [String] {
        _ = try seg.u32()  // total references
        let unique = Int(try seg.u32())
        var out: [String] = []
        out.reserveCapacity(min(unique, seg.remainingEstimate / 3 + 1))
        while out.count < unique && !seg.atEnd {
            out.append(try seg.unicodeString(lengthBytes: 2))
        }
        return out
    }

    // MARK: - Defined names

    static let builtinNames = ["Consolidate_Area", "Auto_Open", "Auto_Close", "Extract", "Database", "Criteria",
                               "Print_Area", "Print_Titles", "Recorder", "Data_Form", "Auto_Activate",
                               "Auto_Deactivate", "Sheet_Title", "_FilterDatabase"]

    /// A BIFF8 NAME record: its name, formula bytes, sheet (1-based, 0 = global), hidden flag.
    static func nameRecord(_ s: [UInt8], _ r: Range<Int>) throws -> (name: String, rgce: Range<Int>, itab: Int, hidden: Bool) {
        let d = r.lowerBound
        guard r.count >= 15 else { throw WorkbookError.corrupt("NAME record too short") }
        let flags = s.u16(d)
        let cch = Int(s[d + 3])
        let cce = Int(s.u16(d + 4))
        let itab = Int(s.u16(d + 8))
        var seg = BIFFSegments(s, first: (d + 14)..<r.upperBound, continues: [])
        let highByte = try seg.byte() & 1 != 0
        var name = try seg.chars(cch, highByte: highByte)
        if flags & 0x20 != 0, let u = name.unicodeScalars.first, Int(u.value) < builtinNames.count {
            name = "_xlnm." + builtinNames[Int(u.value)]
        }
        let start = seg.position
        return (name, start..<min(start + cce, r.upperBound), itab, flags & 1 != 0)
    }

    /// Decodes a name's formula when it is an absolute reference, an area, a union of them,
    /// or a constant; nil otherwise.
    static func decodeNameFormula(_ s: [UInt8], _ r: Range<Int>, sheetOf: (Int) -> String?) -> String? {
        var parts: [String] = []
        var p = r.lowerBound
        // A relative reference in a name is an offset from whichever cell uses the name: it
        // has no fixed meaning, so such names are left out.
        var relative = false
        func cell(_ row: UInt16, _ colField: UInt16) -> String {
            if colField & 0xC000 != 0 { relative = true }
            return "$" + A1.columnName(Int(colField & 0x3FFF)) + "$" + String(Int(row) + 1)
        }
        while p < r.upperBound {
            let ptg = s[p]
            switch ptg {
            case 0x3A, 0x5A, 0x7A:  // PtgRef3d
                guard p + 7 <= r.upperBound, let sheet = sheetOf(Int(s.u16(p + 1))) else { return nil }
                parts.append(A1.quoteSheet(sheet) + "!" + cell(s.u16(p + 3), s.u16(p + 5)))
                p += 7
            case 0x3B, 0x5B, 0x7B:  // PtgArea3d
                guard p + 11 <= r.upperBound, let sheet = sheetOf(Int(s.u16(p + 1))) else { return nil }
                let a = cell(s.u16(p + 3), s.u16(p + 7)), b = cell(s.u16(p + 5), s.u16(p + 9))
                parts.append(A1.quoteSheet(sheet) + "!" + a + (a == b ? "" : ":" + b))
                p += 11
            case 0x3C, 0x5C, 0x7C, 0x3D, 0x5D, 0x7D:  // PtgRefErr3d, PtgAreaErr3d
                parts.append("#REF!")
                p += ptg & 0x1F == 0x1C ? 7 : 11
            case 0x29, 0x49, 0x69:  // PtgMemFunc: a subexpression follows
                p += 3
            case 0x15:  // PtgParen
                p += 1
            case 0x1D:  // PtgBool
                guard p + 2 <= r.upperBound else { return nil }
                parts.append(s[p + 1] != 0 ? "TRUE" : "FALSE"); p += 2
            case 0x1C:  // PtgErr
                guard p + 2 <= r.upperBound, case let .error(e) = boolErr(s[p + 1], isError: true) else { return nil }
                parts.append(e); p += 2
            case 0x10:  // PtgUnion
                p += 1
            case 0x1E:  // PtgInt
                guard p + 3 <= r.upperBound else { return nil }
                parts.append(String(s.u16(p + 1))); p += 3
            case 0x1F:  // PtgNum
                guard p + 9 <= r.upperBound else { return nil }
                let v = s.f64(p + 1)
                parts.append(v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)); p += 9
            case 0x17:  // PtgStr
                var seg = BIFFSegments(s, first: (p + 1)..<r.upperBound, continues: [])
                guard let str = try? seg.unicodeString(lengthBytes: 1) else { return nil }
                parts.append("\"" + str.replacingOccurrences(of: "\"", with: "\"\"") + "\"")
                p = seg.position
            default:
                return nil
            }
        }
        return parts.isEmpty || relative ? nil : parts.joined(separator: ",")
    }
}

// MARK: - Record walking

/// Walks BIFF records by offset: type u16, length u16, then `length` bytes.
struct BIFFRecordWalker {
    struct Record { var type: UInt16; var start: Int; var length: Int; var end: Int { start + length } }
    let s: [UInt8]
    var pos: Int
    var stopped = false
    init(_ s: [UInt8], at pos: Int = 0) { self.s = s; self.pos = pos }

    mutating func next() throws -> Record? {
        guard !stopped, pos + 4 <= s.count else { return nil }
        let type = s.u16(pos), len = Int(s.u16(pos + 2))
        guard pos + 4 + len <= s.count else {
            throw WorkbookError.corrupt("A BIFF record (type 0x\(String(type, radix: 16))) at offset \(pos) runs past the end of the stream: the file is truncated.")
        }
        let rec = Record(type: type, start: pos + 4, length: len)
        pos += 4 + len
        return rec
    }

    mutating func stop() { stopped = true }

    /// The data ranges of the CONTINUE records right after the current record (consumed).
    mutating func continues() -> [Range<Int>] {
        var out: [Range<Int>] = []
        while pos + 4 <= s.count && s.u16(pos) == 0x003C {
            let len = Int(s.u16(pos + 2))
            guard pos + 4 + len <= s.count else { break }
            out.append((pos + 4)..<(pos + 4 + len))
            pos += 4 + len
        }
        return out
    }
}

/// A cursor over a record and its CONTINUE records. Characters of a string split across a
/// CONTINUE boundary resume after a repeated flags byte (which may switch between 8-bit
/// and 16-bit characters); other data simply runs on.
struct BIFFSegments {
    let s: [UInt8]
    var ranges: [Range<Int>]
    var index = 0
    var position: Int

    init(_ s: [UInt8], first: Range<Int>, continues: [Range<Int>]) {
        self.s = s
        self.ranges = [first] + continues
        self.position = first.lowerBound
    }

    var atEnd: Bool {
        var i = index, p = position
        while i < ranges.count {
            if p < ranges[i].upperBound { return false }
            i += 1
            if i < ranges.count { p = ranges[i].lowerBound }
        }
        return true
    }

    var remainingEstimate: Int { ranges[index...].reduce(0) { $0 + $1.count } }

    /// Moves to the next segment when the current one is used up; false at the very end.
    private mutating func ensure() -> Bool {
        while position >= ranges[index].upperBound {
            guard index + 1 < ranges.count else { return false }
            index += 1
            position = ranges[index].lowerBound
        }
        return true
    }

    mutating func byte() throws -> UInt8 {
        guard ensure() else { throw WorkbookError.corrupt("A string runs past the end of its record.") }
        defer { position += 1 }
        return s[position]
    }

    mutating func u16() throws -> UInt16 { UInt16(try byte()) | UInt16(try byte()) << 8 }
    mutating func u32() throws -> UInt32 { UInt32(try u16()) | UInt32(try u16()) << 16 }

    mutating func skip(_ n: Int) throws {
        var left = n
        while left > 0 {
            guard ensure() else { throw WorkbookError.corrupt("A string's extra data runs past the end of its record.") }
            let take = min(left, ranges[index].upperBound - position)
            position += take
            left -= take
        }
    }

    /// `count` characters, 8-bit (Latin-1) or 16-bit (UTF-16LE); at a segment boundary the
    /// next segment starts with a flags byte giving the width of the rest.
    mutating func chars(_ count: Int, highByte: Bool) throws -> String {
        var high = highByte
        var left = count
        var units: [UInt16] = []
        var ascii = true
        var first = true
        var start = position, takeBytes = 0
        while left > 0 {
            if position >= ranges[index].upperBound {
                guard index + 1 < ranges.count else {
                    throw WorkbookError.corrupt("A string runs past the end of its record.")
                }
                index += 1
                position = ranges[index].lowerBound
                guard position < ranges[index].upperBound else { continue }
                high = s[position] & 1 != 0
                position += 1
            }
            let avail = ranges[index].upperBound - position
            let width = high ? 2 : 1
            let n = min(left, avail / width)
            guard n > 0 else { throw WorkbookError.corrupt("A string character is split across records.") }
            if first && n == left && !high {
                // The common case: one run of 8-bit characters.
                start = position; takeBytes = n
            } else {
                if first && takeBytes == 0 { units.reserveCapacity(count) }
                for i in 0..<n {
                    let u = high ? UInt16(s[position + 2 * i]) | UInt16(s[position + 2 * i + 1]) << 8 : UInt16(s[position + i])
                    if u >= 0x80 { ascii = false }
                    units.append(u)
                }
            }
            first = false
            position += n * width
            left -= n
        }
        if takeBytes > 0 { return XLSCodePages.latin1(s[start..<(start + takeBytes)]) }
        if ascii { return String(decoding: units.lazy.map { UInt8($0) }, as: UTF8.self) }
        return String(decoding: units, as: UTF16.self)
    }

    /// XLUnicodeRichExtendedString (or XLUnicodeString / ShortXLUnicodeString): the length
    /// (`lengthBytes` wide), flags, optional run and phonetic counts, characters, then the
    /// rich-text runs and phonetic data, which are skipped.
    mutating func unicodeString(lengthBytes: Int) throws -> String {
        let cch = lengthBytes == 2 ? Int(try u16()) : Int(try byte())
        let flags = try byte()
        var runs = 0, ext = 0
        if flags & 0x08 != 0 { runs = Int(try u16()) }
        if flags & 0x04 != 0 { ext = Int(try u32()) }
        let str = try chars(cch, highByte: flags & 1 != 0)
        if runs > 0 { try skip(4 * runs) }
        if ext > 0 { try skip(ext) }
        return str
    }
}

/// The cells of one sheet, gathered to be delivered in order.
struct BIFFCellBuffer {
    var rows: [Int32] = []
    var cols: [Int32] = []
    var values: [CellValue] = []
    var sorted = true
    /// Formula text by position (`key`), when asked for (and always for uncached formulas).
    var formulas: [Int: BIFFFormulaText] = [:]
    /// Formula cells saved without a cached value, by position, with their number format's
    /// date/time kind: delivered with an `.empty` value and their text.
    var uncached: [Int: TemporalKind?] = [:]

    static func key(_ row: Int, _ column: Int) -> Int { row << 16 | column }

    mutating func add(_ row: Int, _ col: Int, _ value: CellValue, _ maxRows: Int, _ maxCols: Int) throws {
        guard row < maxRows, col < maxCols else {
            throw WorkbookError.corrupt("A cell at row \(row + 1), column \(col + 1) lies beyond the sheet's limits.")
        }
        if let lr = rows.last, let lc = cols.last, (Int(lr), Int(lc)) >= (row, col) { sorted = false }
        rows.append(Int32(row)); cols.append(Int32(col)); values.append(value)
    }

    func deliver(merged: [CellRange], visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        var order: [Int32] = []
        if !sorted {
            // Stable by position, so of two cells at one position the later record wins below.
            order = Array(0..<Int32(rows.count))
            order.sort { (rows[Int($0)], cols[Int($0)], $0) < (rows[Int($1)], cols[Int($1)], $1) }
        }
        @inline(__always) func at(_ k: Int) -> Int { sorted ? k : Int(order[k]) }
        // Kept cells: non-empty, and not replaced by a later record at the same position.
        @inline(__always) func kept(_ k: Int) -> Bool {
            let i = at(k)
            if values[i].isEmpty {
                // A formula without a cached value stays when its text decoded.
                let key = BIFFCellBuffer.key(Int(rows[i]), Int(cols[i]))
                guard uncached[key] != nil, case .text = formulas[key] else { return false }
            }
            if k + 1 < rows.count { let j = at(k + 1); if rows[j] == rows[i] && cols[j] == cols[i] { return false } }
            return true
        }
        // First pass: the used range, so the summary is whole even if the visitor stops early.
        var minR = Int.max, maxR = -1, minC = Int.max, maxC = -1, count = 0
        for k in 0..<rows.count where kept(k) {
            let i = at(k)
            let r = Int(rows[i]), c = Int(cols[i])
            minR = min(minR, r); maxR = max(maxR, r); minC = min(minC, c); maxC = max(maxC, c)
            count += 1
        }
        // Second pass: one row at a time to the visitor.
        var current: [RowCell] = []
        var currentRow = -1
        var stopped = false
        for k in 0..<rows.count where kept(k) {
            let i = at(k)
            let r = Int(rows[i])
            if r != currentRow {
                try ReadCancellation.check()
                if !current.isEmpty, try !visitor(SheetRow(index: currentRow, cells: current)) { stopped = true; break }
                current.removeAll(keepingCapacity: true)
                currentRow = r
            }
            var cell = RowCell(column: Int(cols[i]), value: values[i])
            if !formulas.isEmpty, let f = formulas[BIFFCellBuffer.key(r, cell.column)] {
                switch f {
                case .text(let t): cell.formula = t
                case .error(let e): cell.formulaError = e
                }
                if cell.value.isEmpty, let kind = uncached[BIFFCellBuffer.key(r, cell.column)] { cell.numberFormatKind = kind }
            }
            current.append(cell)
        }
        if !stopped && !current.isEmpty { _ = try visitor(SheetRow(index: currentRow, cells: current)) }
        let used = maxR >= 0 ? CellRange(rows: minR...maxR, columns: minC...maxC) : nil
        return SheetSummary(usedRange: used, mergedRanges: merged, cellCount: count)
    }
}

private extension Array where Element == UInt8 {
    @inline(__always) func u16(_ o: Int) -> UInt16 {
        guard o >= 0, o + 1 < count else { return 0 }
        return UInt16(self[o]) | UInt16(self[o + 1]) << 8
    }
    @inline(__always) func u32(_ o: Int) -> UInt32 {
        guard o >= 0, o + 3 < count else { return 0 }
        return UInt32(self[o]) | UInt32(self[o + 1]) << 8 | UInt32(self[o + 2]) << 16 | UInt32(self[o + 3]) << 24
    }
    @inline(__always) func f64(_ o: Int) -> Double {
        guard o >= 0, o + 7 < count else { return 0 }
        var bits: UInt64 = 0
        for i in 0..<8 { bits |= UInt64(self[o + i]) << (8 * i) }
        return Double(bitPattern: bits)
    }
}
