import Foundation

// Parsed formula tokens (Rgce + RgbExtra) of xls (BIFF8, [MS-XLS] 2.5.198) and xlsb (BIFF12,
// [MS-XLSB] 2.5.98) into the common token model. The two dialects share their ptg numbers and
// meanings; they differ in field widths, which `Dialect` gives:
//   - rows: 16 bits (BIFF8) or 32 bits (BIFF12); columns: 16-bit fields whose low 14 bits are
//     the column (at most 255 in BIFF8) and whose bits 14/15 say column/row relative;
//   - relative (shared-formula) references: BIFF8 keeps a signed 8-bit column offset and a
//     16-bit row offset, wrapping at 256 columns / 65,536 rows; BIFF12 a signed 14-bit column
//     and a 32-bit row offset, wrapping at 16,384 / 1,048,576 ([MS-XLSB] 2.5.98.92 RgceLocRel);
//   - strings: ShortXLUnicodeString (BIFF8) or a 16-bit count of UTF-16 units (BIFF12);
//   - PtgExp: row and column in the token (BIFF8) or row in the token, column in RgbExtra (BIFF12);
//   - array constants (PtgExtraArray): 1-byte/2-byte count-1 headers and 8-byte cells (BIFF8), or
//     4-byte counts and typed values (BIFF12).
// Reading is bounded by the token stream's own length: a token that runs past it is an error
// for that formula, never a read past the record.

enum BIFFFormula {
    enum Dialect: Sendable {
        case biff8, biff12
        var rowBytes: Int { self == .biff8 ? 2 : 4 }
        var rowCount: Int { self == .biff8 ? 65_536 : CellRef.maxRows }
        var columnCount: Int { self == .biff8 ? 256 : CellRef.maxColumns }
        var renderer: FormulaRenderer { FormulaRenderer(lastRow: rowCount - 1, lastColumn: columnCount - 1) }
    }

    /// What references to other sheets, workbooks and names resolve against.
    struct Workbook: Sendable {
        /// One entry per XTI (EXTERNSHEET / BrtExternSheet), by ixti.
        struct Extern: Sendable {
            /// The rendered sheet prefix (`Sheet2`, `'My Sheet'`, `Jan:Mar`, `[1]Data`, `#REF`),
            /// nil when the XTI names the workbook rather than a sheet.
            var sheet: String?
            /// PtgNameX through this XTI: true when it names this workbook's defined names.
            var internalNames: Bool
            /// The external names of its SUPBOOK (add-in functions, names in other workbooks).
            var externNames: [String]
            /// `[1]` for the first external workbook; empty for this workbook and add-ins.
            var workbookPrefix: String
        }
        var externs: [Extern] = []
        /// Defined names in file order (PtgName's index is 1-based into this).
        var names: [String] = []
    }

    /// A formula's tokens and the bytes around them.
    struct Source: Sendable {
        /// The Rgce's bytes.
        var tokens: Range<Int>
        /// The RgbExtra that follows (array constants, PtgExp's BIFF12 column, ...).
        var extra: Range<Int>
    }

    /// The master cell a formula's single PtgExp (shared or array formula) or PtgTbl (data
    /// table) points at, or nil when the formula is its own.
    static func masterCell(_ b: [UInt8], _ src: Source, dialect: Dialect) -> (row: Int, column: Int, table: Bool)? {
        let p = src.tokens.lowerBound
        guard src.tokens.count >= 1 + dialect.rowBytes else { return nil }
        let ptg = b[p]
        guard ptg == 0x01 || ptg == 0x02 else { return nil }
        switch dialect {
        case .biff8:
            guard src.tokens.count >= 5 else { return nil }
            return (Int(u16(b, p + 1)), Int(u16(b, p + 3)), ptg == 0x02)
        case .biff12:
            // PtgExp / PtgTbl: row (4 bytes); the column is PtgExtraCol (4 bytes) in RgbExtra.
            guard src.extra.count >= 4 else { return nil }
            return (Int(u32(b, p + 1)), Int(u32(b, src.extra.lowerBound)), ptg == 0x02)
        }
    }

    /// Decodes the tokens of `src`, evaluated in cell (`row`, `column`). `relative` is true for
    /// shared formulas (and names), whose PtgRefN / PtgAreaN and 3-D references hold offsets.
    /// Throws `FormulaDecodeError` for a token past the stream's end, an unknown ptg, a bad index.
    static func decode(_ b: [UInt8], _ src: Source, dialect: Dialect, row: Int, column: Int, relative: Bool,
                       workbook: Workbook) throws -> [FormulaToken] {
        guard src.tokens.lowerBound >= 0, src.tokens.upperBound <= b.count, src.extra.upperBound <= b.count else {
            throw FormulaDecodeError("the formula's tokens lie outside its record")
        }
        var c = Cursor(b: b, pos: src.tokens.lowerBound, end: src.tokens.upperBound, what: "the formula's token stream")
        var extra = Cursor(b: b, pos: src.extra.lowerBound, end: src.extra.upperBound, what: "the formula's extra data")
        var out: [FormulaToken] = []
        out.reserveCapacity(src.tokens.count / 3 + 1)
        let wide = dialect == .biff12
        let rowCount = dialect.rowCount, colCount = dialect.columnCount

        func readRow() throws -> Int { try wide ? Int(c.u32()) : Int(c.u16()) }
        /// One address: `row` as read, `colField` with the relative flags in bits 14 and 15.
        func address(_ rowField: Int, _ colField: UInt16, offsets: Bool) -> FormulaAddress {
            let colRel = colField & 0x4000 != 0, rowRel = colField & 0x8000 != 0
            var r = rowField, col = Int(colField & 0x3FFF)
            if offsets && rowRel {
                let delta = wide ? Int(Int32(truncatingIfNeeded: rowField)) : Int(Int16(truncatingIfNeeded: rowField))
                r = ((row + delta) % rowCount + rowCount) % rowCount
            }
            if offsets && colRel {
                // BIFF8 keeps the offset in the low 8 bits; BIFF12 as a 14-bit signed number.
                let delta = wide ? (col >= 0x2000 ? col - 0x4000 : col) : Int(Int8(truncatingIfNeeded: col))
                col = ((column + delta) % colCount + colCount) % colCount
            } else if !wide {
                col &= 0xFF
            }
            return FormulaAddress(row: r, column: col, rowRelative: rowRel, columnRelative: colRel)
        }
        func readCell(offsets: Bool) throws -> FormulaAddress {
            let r = try readRow()
            return address(r, try c.u16(), offsets: offsets)
        }
        func readArea(offsets: Bool) throws -> (FormulaAddress, FormulaAddress) {
            let r1 = try readRow(), r2 = try readRow()
            let c1 = try c.u16(), c2 = try c.u16()
            return (address(r1, c1, offsets: offsets), address(r2, c2, offsets: offsets))
        }
        func sheet(_ ixti: Int) throws -> String? {
            guard ixti < workbook.externs.count else {
                throw FormulaDecodeError("a 3-D reference names sheet entry \(ixti), but the workbook lists \(workbook.externs.count)")
            }
            return workbook.externs[ixti].sheet ?? "#REF"
        }
        func definedName(_ index: Int) throws -> String {
            guard index >= 1, index <= workbook.names.count else {
                throw FormulaDecodeError("the formula uses defined name \(index), but the workbook has \(workbook.names.count)")
            }
            return workbook.names[index - 1]
        }

        while c.pos < c.end {
            let ptgAt = c.pos
            let ptg = try c.u8()
            // Operand tokens carry their class (reference / value / array) in bits 5-6; the
            // base token is the low 5 bits plus 0x20 when any class bit is set.
            let base = ptg < 0x20 ? ptg : (ptg & 0x1F) | 0x20
            switch base {
            case 0x01, 0x02:
                throw FormulaDecodeError("a shared-formula or data-table token (ptg 0x0\(ptg)) stands inside a formula rather than alone")
            case 0x03: out.append(.binary(.add))
            case 0x04: out.append(.binary(.subtract))
            case 0x05: out.append(.binary(.multiply))
            case 0x06: out.append(.binary(.divide))
            case 0x07: out.append(.binary(.power))
            case 0x08: out.append(.binary(.concat))
            case 0x09: out.append(.binary(.less))
            case 0x0A: out.append(.binary(.lessEqual))
            case 0x0B: out.append(.binary(.equal))
            case 0x0C: out.append(.binary(.greaterEqual))
            case 0x0D: out.append(.binary(.greater))
            case 0x0E: out.append(.binary(.notEqual))
            case 0x0F: out.append(.binary(.intersect))
            case 0x10: out.append(.binary(.union))
            case 0x11: out.append(.binary(.range))
            case 0x12: out.append(.unaryPlus)
            case 0x13: out.append(.unaryMinus)
            case 0x14: out.append(.percent)
            case 0x15: out.append(.parentheses)
            case 0x16: out.append(.missingArgument)
            case 0x17:  // PtgStr
                out.append(.string(try wide ? c.wideString16() : c.shortUnicodeString()))
            case 0x18:
                let eptg = try c.u8()
                guard wide else {
                    // BIFF8 0x18: natural-language label references (PtgElf*, Excel 97's "accept labels
                    // in formulas", which Excel 2007 dropped) and PtgSxName (pivot-table formulas).
                    throw FormulaDecodeError(eptg == 0x1D
                        ? "a pivot-table field name (PtgSxName) is not decoded"
                        : "a natural-language label reference (PtgElf, eptg 0x\(String(eptg, radix: 16))) is not decoded")
                }
                // BIFF12 PtgList (structured reference) and friends.
                if eptg == 0x19 {
                    throw FormulaDecodeError("table (structured) references in xlsb formulas are not decoded")
                }
                throw FormulaDecodeError("unsupported extended token 0x18/0x\(String(eptg, radix: 16))")
            case 0x19:  // PtgAttr
                let kind = try c.u8()
                switch kind {
                case 0x04:  // AttrChoose: count, then count + 1 jump offsets
                    let n = Int(try c.u16())
                    try c.skip(2 * (n + 1))
                case 0x10:  // AttrSum: SUM of the one operand
                    try c.skip(2)
                    out.append(.function("SUM", arguments: 1))
                case 0x40, 0x41:  // AttrSpace (0x41: also volatile)
                    let type = try c.u8(), count = Int(try c.u8())
                    switch type {
                    case 0, 2, 6: out.append(.space(String(repeating: " ", count: count), beforeClose: false))
                    case 1, 3: out.append(.space(String(repeating: "\n", count: count), beforeClose: false))
                    case 4: out.append(.space(String(repeating: " ", count: count), beforeClose: true))
                    case 5: out.append(.space(String(repeating: "\n", count: count), beforeClose: true))
                    default: break
                    }
                default:  // AttrVolatile, AttrIf, AttrGoto, AttrBaxcel: 2 bytes, no text
                    try c.skip(2)
                }
            case 0x1C:  // PtgErr
                out.append(.error(BIFF12.errorText(try c.u8())))
            case 0x1D:  // PtgBool
                out.append(.bool(try c.u8() != 0))
            case 0x1E:  // PtgInt
                out.append(.number(Double(try c.u16())))
            case 0x1F:  // PtgNum
                out.append(.number(try c.f64()))
            case 0x20:  // PtgArray: the values are in RgbExtra
                try c.skip(wide ? 14 : 7)
                out.append(.array(try readArray(&extra, wide: wide)))
            case 0x21:  // PtgFunc: fixed argument count
                let iftab = Int(try c.u16())
                guard let f = FunctionTable.entry(iftab), let n = f.fixedArgs else {
                    throw FormulaDecodeError("unknown function number \(iftab) in a fixed-argument call")
                }
                out.append(.function(f.name, arguments: n))
            case 0x22:  // PtgFuncVar: argument count, function number (bit 15: macro command)
                let n = Int(try c.u8() & 0x7F)
                let iftab = Int(try c.u16() & 0x7FFF)
                if iftab == FunctionTable.userDefined {
                    out.append(.namedFunction(arguments: n))
                } else {
                    guard let f = FunctionTable.entry(iftab) else {
                        throw FormulaDecodeError("unknown function number \(iftab)")
                    }
                    out.append(.function(f.name, arguments: n))
                }
            case 0x23:  // PtgName
                let index = Int(try c.u32())
                out.append(.name(try definedName(index)))
            case 0x24:  // PtgRef
                out.append(.cell(try readCell(offsets: false), sheet: nil))
            case 0x25:  // PtgArea
                let (a, z) = try readArea(offsets: false)
                out.append(.area(a, z, sheet: nil))
            case 0x26:  // PtgMemArea: its subexpression follows; the rectangles are in RgbExtra
                try c.skip(4 + 2)
                if wide {
                    let n = Int(try extra.u32()); try extra.skip(16 * n)
                } else {
                    let n = Int(try extra.u16()); try extra.skip(8 * n)
                }
            case 0x27, 0x28:  // PtgMemErr, PtgMemNoMem: a subexpression follows
                try c.skip(4 + 2)
            case 0x29:  // PtgMemFunc
                try c.skip(2)
            case 0x2A:  // PtgRefErr
                try c.skip(wide ? 6 : 4)
                out.append(.referenceError(sheet: nil))
            case 0x2B:  // PtgAreaErr
                try c.skip(wide ? 12 : 8)
                out.append(.referenceError(sheet: nil))
            case 0x2C:  // PtgRefN
                out.append(.cell(try readCell(offsets: true), sheet: nil))
            case 0x2D:  // PtgAreaN
                let (a, z) = try readArea(offsets: true)
                out.append(.area(a, z, sheet: nil))
            case 0x39:  // PtgNameX: ixti, name index (1-based)
                let ixti = Int(try c.u16()), index = Int(try c.u32())
                guard ixti < workbook.externs.count else {
                    throw FormulaDecodeError("an external name uses sheet entry \(ixti), but the workbook lists \(workbook.externs.count)")
                }
                let x = workbook.externs[ixti]
                if x.internalNames {
                    out.append(.name(try definedName(index)))
                } else {
                    guard index >= 1, index <= x.externNames.count else {
                        throw FormulaDecodeError("external name \(index) does not exist (the workbook lists \(x.externNames.count))")
                    }
                    let n = x.externNames[index - 1]
                    out.append(.name(x.workbookPrefix.isEmpty ? n : x.workbookPrefix + "!" + n))
                }
            case 0x3A:  // PtgRef3d
                let ixti = Int(try c.u16())
                let a = try readCell(offsets: relative)
                out.append(.cell(a, sheet: try sheet(ixti)))
            case 0x3B:  // PtgArea3d
                let ixti = Int(try c.u16())
                let (a, z) = try readArea(offsets: relative)
                out.append(.area(a, z, sheet: try sheet(ixti)))
            case 0x3C:  // PtgRefErr3d
                let ixti = Int(try c.u16())
                try c.skip(wide ? 6 : 4)
                out.append(.referenceError(sheet: try sheet(ixti)))
            case 0x3D:  // PtgAreaErr3d
                let ixti = Int(try c.u16())
                try c.skip(wide ? 12 : 8)
                out.append(.referenceError(sheet: try sheet(ixti)))
            default:
                throw FormulaDecodeError("unknown formula token (ptg 0x\(String(ptg, radix: 16))) at byte \(ptgAt - src.tokens.lowerBound) of \(src.tokens.count)")
            }
        }
        return out
    }

    /// PtgExtraArray: the constant array's size, then its values row by row.
    private static func readArray(_ e: inout Cursor, wide: Bool) throws -> [[FormulaConstant]] {
        let rows: Int, cols: Int
        if wide {
            rows = Int(try e.u32())
            cols = Int(try e.u32())
        } else {
            cols = Int(try e.u8()) + 1
            rows = Int(try e.u16()) + 1
        }
        // Each value takes at least one byte: a count beyond what is left is corrupt.
        guard rows > 0, cols > 0, rows * cols <= e.end - e.pos else {
            throw FormulaDecodeError("an array constant of \(rows) x \(cols) values does not fit in the formula's extra data")
        }
        var out: [[FormulaConstant]] = []
        for _ in 0..<rows {
            var row: [FormulaConstant] = []
            for _ in 0..<cols {
                let type = try e.u8()
                if wide {
                    // SerAr in BIFF12: 0 number, 1 string, 2 boolean, 4 error.
                    switch type {
                    case 0x00: row.append(.number(try e.f64()))
                    case 0x01: row.append(.string(try e.wideString16()))
                    case 0x02: row.append(.bool(try e.u8() != 0))
                    case 0x04: row.append(.error(BIFF12.errorText(try e.u8())))
                    default: throw FormulaDecodeError("unknown array constant type \(type)")
                    }
                } else {
                    // SerAr in BIFF8: 0 empty, 1 number, 2 string, 4 boolean, 16 error; 8 bytes but strings.
                    switch type {
                    case 0x00: try e.skip(8); row.append(.empty)
                    case 0x01: row.append(.number(try e.f64()))
                    case 0x02: row.append(.string(try e.unicodeString()))
                    case 0x04: let v = try e.u8(); try e.skip(7); row.append(.bool(v != 0))
                    case 0x10: let v = try e.u8(); try e.skip(7); row.append(.error(BIFF12.errorText(v)))
                    default: throw FormulaDecodeError("unknown array constant type \(type)")
                    }
                }
            }
            out.append(row)
        }
        return out
    }

    /// Decodes and renders in one go: the formula text (no leading `=`).
    static func text(_ b: [UInt8], _ src: Source, dialect: Dialect, row: Int, column: Int, relative: Bool,
                     workbook: Workbook) throws -> String {
        try dialect.renderer.render(decode(b, src, dialect: dialect, row: row, column: column, relative: relative, workbook: workbook))
    }

    // MARK: - Bytes

    struct Cursor {
        let b: [UInt8]
        var pos: Int
        let end: Int
        let what: String

        private func need(_ n: Int) throws {
            guard n >= 0, pos + n <= end else {
                throw FormulaDecodeError("\(what) runs past the end of its record (\(n) more bytes wanted at byte \(pos), it ends at \(end))")
            }
        }
        mutating func u8() throws -> UInt8 { try need(1); defer { pos += 1 }; return b[pos] }
        mutating func u16() throws -> UInt16 { try need(2); defer { pos += 2 }; return BIFFFormula.u16(b, pos) }
        mutating func u32() throws -> UInt32 { try need(4); defer { pos += 4 }; return BIFFFormula.u32(b, pos) }
        mutating func f64() throws -> Double {
            try need(8); defer { pos += 8 }
            return Double(bitPattern: UInt64(BIFFFormula.u32(b, pos)) | UInt64(BIFFFormula.u32(b, pos + 4)) << 32)
        }
        mutating func skip(_ n: Int) throws { try need(n); pos += n }
        /// BIFF12: a 16-bit count, then UTF-16LE units.
        mutating func wideString16() throws -> String {
            let n = Int(try u16())
            try need(2 * n)
            let units = (0..<n).map { BIFFFormula.u16(b, pos + 2 * $0) }
            pos += 2 * n
            return String(decoding: units, as: UTF16.self)
        }
        /// BIFF8 ShortXLUnicodeString: an 8-bit count, flags (bit 0: 16-bit characters), characters.
        mutating func shortUnicodeString() throws -> String {
            let n = Int(try u8())
            return try chars(n, high: try u8() & 1 != 0)
        }
        /// BIFF8 XLUnicodeString: a 16-bit count, flags, characters.
        mutating func unicodeString() throws -> String {
            let n = Int(try u16())
            return try chars(n, high: try u8() & 1 != 0)
        }
        private mutating func chars(_ n: Int, high: Bool) throws -> String {
            if high {
                try need(2 * n)
                let units = (0..<n).map { BIFFFormula.u16(b, pos + 2 * $0) }
                pos += 2 * n
                return String(decoding: units, as: UTF16.self)
            }
            try need(n)
            defer { pos += n }
            return XLSCodePages.latin1(b[pos..<(pos + n)])
        }
    }

    /// A 3-D reference's sheet prefix as Excel writes it: `Sheet2`, `Jan:Mar`, `[1]Data`, quoted
    /// as a whole (`'My Sheet'`, `'[1]Q1 Data'`, `'Jan 1:Mar 1'`) when a sheet name needs quotes.
    static func sheetPrefix(book: String = "", first: String, last: String? = nil) -> String {
        let names = [first] + (last.map { [$0] } ?? [])
        let plain = names.allSatisfy { A1.quoteSheet($0) == $0 }
        let body = book + first + (last.map { ":" + $0 } ?? "")
        return plain ? body : "'" + body.replacingOccurrences(of: "'", with: "''") + "'"
    }

    @inline(__always) static func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    @inline(__always) static func u32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }
}
