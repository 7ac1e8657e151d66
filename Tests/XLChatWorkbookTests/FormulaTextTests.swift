import Foundation
import Testing
@testable import XLChatWorkbook

/// Formula tokens for tests, in either dialect: BIFF8 (xls) or BIFF12 (xlsb).
struct Rgce {
    var wide: Bool
    var bytes: [UInt8] = []
    var extra: [UInt8] = []
    init(wide: Bool) { self.wide = wide }

    static func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    static func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
    static func f64(_ d: Double) -> [UInt8] { (0..<8).map { UInt8((d.bitPattern >> (8 * UInt64($0))) & 0xFF) } }
    func row(_ r: Int) -> [UInt8] { wide ? Rgce.u32(r) : Rgce.u16(r) }
    static func col(_ c: Int, rowRel: Bool, colRel: Bool) -> [UInt8] {
        u16((c & 0x3FFF) | (colRel ? 0x4000 : 0) | (rowRel ? 0x8000 : 0))
    }

    mutating func op(_ ptg: UInt8) { bytes.append(ptg) }
    mutating func int(_ v: Int) { bytes += [0x1E] + Rgce.u16(v) }
    mutating func num(_ v: Double) { bytes += [0x1F] + Rgce.f64(v) }
    mutating func bool(_ v: Bool) { bytes += [0x1D, v ? 1 : 0] }
    mutating func err(_ code: UInt8) { bytes += [0x1C, code] }
    mutating func str(_ s: String) {
        let units = Array(s.utf16)
        if wide { bytes += [0x17] + Rgce.u16(units.count) + units.flatMap { Rgce.u16(Int($0)) } }
        else { bytes += [0x17, UInt8(units.count), 1] + units.flatMap { Rgce.u16(Int($0)) } }
    }
    mutating func ref(_ r: Int, _ c: Int, rowRel: Bool = true, colRel: Bool = true, ptg: UInt8 = 0x24) {
        bytes += [ptg] + row(r) + Rgce.col(c, rowRel: rowRel, colRel: colRel)
    }
    mutating func area(_ r1: Int, _ c1: Int, _ r2: Int, _ c2: Int, rel: Bool = true, ptg: UInt8 = 0x25) {
        bytes += [ptg] + row(r1) + row(r2) + Rgce.col(c1, rowRel: rel, colRel: rel) + Rgce.col(c2, rowRel: rel, colRel: rel)
    }
    mutating func ref3d(_ ixti: Int, _ r: Int, _ c: Int, rel: Bool = false) {
        bytes += [0x3A] + Rgce.u16(ixti) + row(r) + Rgce.col(c, rowRel: rel, colRel: rel)
    }
    mutating func area3d(_ ixti: Int, _ r1: Int, _ c1: Int, _ r2: Int, _ c2: Int) {
        bytes += [0x3B] + Rgce.u16(ixti) + row(r1) + row(r2) + Rgce.col(c1, rowRel: false, colRel: false) + Rgce.col(c2, rowRel: false, colRel: false)
    }
    mutating func func_(_ iftab: Int) { bytes += [0x41] + Rgce.u16(iftab) }
    mutating func funcVar(_ argc: Int, _ iftab: Int) { bytes += [0x42, UInt8(argc)] + Rgce.u16(iftab) }
    mutating func name(_ i: Int) { bytes += [0x43] + Rgce.u32(i) }
    mutating func nameX(_ ixti: Int, _ i: Int) { bytes += [0x39] + Rgce.u16(ixti) + Rgce.u32(i) }
    mutating func attr(_ kind: UInt8, _ data: [UInt8] = [0, 0]) { bytes += [0x19, kind] + data }
    mutating func refErr() { bytes += [0x2A] + [UInt8](repeating: 0, count: wide ? 6 : 4) }
    mutating func array(_ rows: [[FormulaConstant]]) {
        bytes += [0x60] + [UInt8](repeating: 0, count: wide ? 14 : 7)
        extra += wide ? Rgce.u32(rows.count) + Rgce.u32(rows[0].count) : [UInt8(rows[0].count - 1)] + Rgce.u16(rows.count - 1)
        for row in rows {
            for v in row {
                switch (v, wide) {
                case (.number(let d), false): extra += [0x01] + Rgce.f64(d)
                case (.number(let d), true): extra += [0x00] + Rgce.f64(d)
                case (.string(let s), false): extra += [0x02] + Rgce.u16(s.utf16.count) + [1] + s.utf16.flatMap { Rgce.u16(Int($0)) }
                case (.string(let s), true): extra += [0x01] + Rgce.u16(s.utf16.count) + s.utf16.flatMap { Rgce.u16(Int($0)) }
                case (.bool(let b), false): extra += [0x04, b ? 1 : 0] + [UInt8](repeating: 0, count: 7)
                case (.bool(let b), true): extra += [0x02, b ? 1 : 0]
                case (.error(let e), false): extra += [0x10, e == "#DIV/0!" ? 7 : 42] + [UInt8](repeating: 0, count: 7)
                case (.error(let e), true): extra += [0x04, e == "#DIV/0!" ? 7 : 42]
                case (.empty, _): extra += [0x00] + [UInt8](repeating: 0, count: 8)
                }
            }
        }
    }

    var dialect: BIFFFormula.Dialect { wide ? .biff12 : .biff8 }
    func text(row: Int = 0, column: Int = 0, relative: Bool = false, workbook: BIFFFormula.Workbook = .init()) throws -> String {
        let all = bytes + extra
        let src = BIFFFormula.Source(tokens: 0..<bytes.count, extra: bytes.count..<all.count)
        return try BIFFFormula.text(all, src, dialect: dialect, row: row, column: column, relative: relative, workbook: workbook)
    }
}

@Suite("Formula text: BIFF8 and BIFF12 tokens, one renderer")
struct FormulaTextTests {
    static let workbook: BIFFFormula.Workbook = {
        var w = BIFFFormula.Workbook()
        typealias X = BIFFFormula.Workbook.Extern
        w.externs = [
            X(sheet: "Sheet2", internalNames: true, externNames: [], workbookPrefix: ""),
            X(sheet: "'My Sheet'", internalNames: true, externNames: [], workbookPrefix: ""),
            X(sheet: "Jan:Mar", internalNames: true, externNames: [], workbookPrefix: ""),
            X(sheet: "[1]Data", internalNames: false, externNames: ["Rate"], workbookPrefix: "[1]"),
            X(sheet: nil, internalNames: true, externNames: [], workbookPrefix: ""),
            X(sheet: nil, internalNames: false, externNames: ["_xlfn.XLOOKUP", "MYADDIN"], workbookPrefix: ""),
        ]
        w.names = ["Total", "_xlfn.IFERROR", "_xlfn.CONCAT"]
        return w
    }()

    /// Every case is built in both dialects and must give the same text.
    static func both(_ build: (inout Rgce) -> Void) -> [Rgce] {
        [false, true].map { wide in var r = Rgce(wide: wide); build(&r); return r }
    }

    @Test("operators, references, functions and constants", arguments: [false, true])
    func basics(wide: Bool) throws {
        func t(_ build: (inout Rgce) -> Void) throws -> String {
            var r = Rgce(wide: wide); build(&r); return try r.text(row: 9, column: 9, workbook: Self.workbook)
        }
        // SUM(A1:B3)*2+$C$4
        #expect(try t { $0.area(0, 0, 2, 1); $0.funcVar(1, 4); $0.int(2); $0.op(0x05); $0.ref(3, 2, rowRel: false, colRel: false); $0.op(0x03) } == "SUM(A1:B3)*2+$C$4")
        // Mixed flags: $A1 and A$1.
        #expect(try t { $0.ref(0, 0, rowRel: true, colRel: false); $0.ref(0, 0, rowRel: false, colRel: true); $0.op(0x08) } == "$A1&A$1")
        // Precedence: parentheses the writer left out come back, no more than needed.
        #expect(try t { $0.int(1); $0.int(2); $0.op(0x03); $0.int(3); $0.op(0x05) } == "(1+2)*3")
        #expect(try t { $0.int(1); $0.int(2); $0.int(3); $0.op(0x04); $0.op(0x04) } == "1-(2-3)")
        #expect(try t { $0.int(1); $0.int(2); $0.op(0x04); $0.int(3); $0.op(0x04) } == "1-2-3")
        #expect(try t { $0.int(1); $0.int(2); $0.int(3); $0.op(0x05); $0.op(0x03) } == "1+2*3")
        #expect(try t { $0.int(2); $0.op(0x13); $0.int(2); $0.op(0x07) } == "-2^2", "negation binds tighter than ^")
        #expect(try t { $0.int(2); $0.int(2); $0.op(0x07); $0.op(0x13) } == "-(2^2)")
        #expect(try t { $0.ref(0, 0); $0.ref(0, 1); $0.op(0x03); $0.op(0x14) } == "(A1+B1)%")
        #expect(try t { $0.ref(0, 0); $0.op(0x14); $0.int(1); $0.op(0x0C) } == "A1%>=1")
        // Parentheses as written (PtgParen) are kept even where not needed.
        #expect(try t { $0.int(1); $0.op(0x15); $0.op(0x12) } == "+(1)")
        // Comparisons and concatenation.
        #expect(try t { $0.str("a"); $0.ref(0, 0); $0.op(0x08); $0.str("ab"); $0.op(0x0E) } == "\"a\"&A1<>\"ab\"")
        // Strings with quotes; booleans, errors, numbers.
        #expect(try t { $0.str("say \"hi\" é"); } == "\"say \"\"hi\"\" é\"")
        #expect(try t { $0.bool(true); $0.err(42); $0.num(0.5); $0.num(1.5e20); $0.funcVar(4, 4) } == "SUM(TRUE,#N/A,0.5,1.5E+20)")
        // Fixed-argument functions (PtgFunc: the count comes from the function table).
        #expect(try t { $0.ref(0, 0); $0.int(2); $0.func_(27) } == "ROUND(A1,2)")
        #expect(try t { $0.func_(221) } == "TODAY()")
        #expect(try t { $0.ref(0, 0); $0.int(0); $0.func_(480) } == "IFERROR(A1,0)")
        // IF with its jump attributes, a missing argument, CHOOSE with its jump table.
        #expect(try t {
            $0.ref(0, 0); $0.int(0); $0.op(0x0D); $0.attr(0x02); $0.str("y"); $0.attr(0x08); $0.op(0x16); $0.attr(0x08); $0.funcVar(3, 1)
        } == "IF(A1>0,\"y\",)")
        #expect(try t {
            $0.int(2); $0.attr(0x04, Rgce.u16(2) + Rgce.u16(0) + Rgce.u16(0) + Rgce.u16(0)); $0.str("a"); $0.attr(0x08); $0.str("b"); $0.attr(0x08); $0.funcVar(3, 100)
        } == "CHOOSE(2,\"a\",\"b\")")
        // The SUM shortcut (AttrSum), volatile marks, spaces as typed.
        #expect(try t { $0.attr(0x01); $0.area(0, 0, 2, 0); $0.attr(0x10) } == "SUM(A1:A3)")
        #expect(try t { $0.int(1); $0.attr(0x40, [0, 1]); $0.int(2); $0.attr(0x40, [0, 2]); $0.op(0x03) } == "1  + 2")
        // A union among a function's arguments is parenthesised.
        #expect(try t { $0.ref(0, 0); $0.ref(0, 1); $0.op(0x10); $0.funcVar(1, 4) } == "SUM((A1,B1))")
        #expect(try t { $0.area(0, 0, 1, 1); $0.area(1, 1, 2, 2); $0.op(0x0F); $0.funcVar(1, 4) } == "SUM(A1:B2 B2:C3)")
        // #REF! references.
        #expect(try t { $0.refErr(); $0.int(1); $0.op(0x03) } == "#REF!+1")
        // Array constants (values in the extra data after the tokens).
        #expect(try t { $0.array([[.number(1), .string("a")], [.bool(true), .error("#DIV/0!")]]); $0.funcVar(1, 4) } == "SUM({1,\"a\";TRUE,#DIV/0!})")
        // Whole columns and rows.
        let lastRow = wide ? CellRef.maxRows - 1 : 65_535, lastCol = wide ? CellRef.maxColumns - 1 : 255
        #expect(try t { $0.area(0, 0, lastRow, 0); $0.funcVar(1, 4) } == "SUM(A:A)")
        #expect(try t { $0.area(0, 1, lastRow, 3, rel: false); $0.funcVar(1, 4) } == "SUM($B:$D)")
        #expect(try t { $0.area(2, 0, 4, lastCol); $0.funcVar(1, 4) } == "SUM(3:5)")
    }

    @Test("3-D references, names, external and future functions", arguments: [false, true])
    func workbookReferences(wide: Bool) throws {
        func t(_ build: (inout Rgce) -> Void) throws -> String {
            var r = Rgce(wide: wide); build(&r); return try r.text(workbook: Self.workbook)
        }
        #expect(try t { $0.ref3d(0, 0, 0) } == "Sheet2!$A$1")
        #expect(try t { $0.ref3d(1, 4, 2, rel: true) } == "'My Sheet'!C5")
        #expect(try t { $0.area3d(2, 0, 0, 9, 1); $0.funcVar(1, 4) } == "SUM(Jan:Mar!$A$1:$B$10)")
        #expect(try t { $0.area3d(3, 0, 0, 1, 1) } == "[1]Data!$A$1:$B$2")
        #expect(try t { $0.ref3d(4, 0, 0) } == "#REF!$A$1", "a deleted sheet")
        #expect(try t { $0.name(1); $0.int(2); $0.op(0x05) } == "Total*2")
        #expect(try t { $0.nameX(3, 1) } == "[1]!Rate")
        // Future functions: PtgFuncVar 255 over the function's name.
        #expect(try t { $0.name(2); $0.ref(0, 0); $0.int(0); $0.funcVar(3, 255) } == "IFERROR(A1,0)", "Excel 2007 functions drop _xlfn.")
        #expect(try t { $0.name(3); $0.str("a"); $0.str("b"); $0.funcVar(3, 255) } == "_xlfn.CONCAT(\"a\",\"b\")")
        #expect(try t { $0.nameX(5, 1); $0.ref(0, 0); $0.area(0, 1, 2, 1); $0.area(0, 2, 2, 2); $0.funcVar(4, 255) } == "_xlfn.XLOOKUP(A1,B1:B3,C1:C3)")
        #expect(try t { $0.nameX(5, 2); $0.funcVar(1, 255) } == "MYADDIN()")
    }

    @Test("shared formulas: relative references move with the cell, wrapping at the sheet's edge", arguments: [false, true])
    func sharedFormulaOffsets(wide: Bool) throws {
        var r = Rgce(wide: wide)
        // PtgRefN: one row up, one column right; PtgAreaN: rows 0..2 below, same column, absolute column.
        r.bytes += [0x2C] + r.row(wide ? 0xFFFF_FFFF : 0xFFFF) + Rgce.col(1, rowRel: true, colRel: true)
        r.bytes += [0x2D] + r.row(0) + r.row(2) + Rgce.col(0, rowRel: true, colRel: false) + Rgce.col(0, rowRel: true, colRel: false)
        r.funcVar(1, 4)
        r.op(0x03)
        #expect(try r.text(row: 5, column: 2, relative: true) == "D5+SUM($A6:$A8)")
        #expect(try r.text(row: 6, column: 3, relative: true) == "E6+SUM($A7:$A9)")
        // At row 1 "one row up" is row 1; at row 1 (index 0) it wraps to the last row, as Excel does.
        let lastRow = wide ? CellRef.maxRows : 65_536
        #expect(try r.text(row: 0, column: 0, relative: true) == "B\(lastRow)+SUM($A1:$A3)")
        // A column offset of -1 (BIFF8 keeps 8 bits; BIFF12 14) from column A wraps to the last column.
        var l = Rgce(wide: wide)
        l.bytes += [0x2C] + l.row(0) + Rgce.col(wide ? 0x3FFF : 0xFF, rowRel: true, colRel: true)
        #expect(try l.text(row: 3, column: 0, relative: true) == (wide ? "XFD4" : "IV4"))
        #expect(try l.text(row: 3, column: 2, relative: true) == "B4")
    }

    @Test("bad tokens: past the end, unknown ptg or function, unbalanced stacks give a clear error", arguments: [false, true])
    func badTokens(wide: Bool) throws {
        func message(_ build: (inout Rgce) -> Void) -> String? {
            var r = Rgce(wide: wide); build(&r)
            do { _ = try r.text(workbook: Self.workbook); return nil } catch let e as FormulaDecodeError { return e.message } catch { return "\(error)" }
        }
        #expect(message { $0.bytes = [0x24, 0x01] }?.contains("runs past the end of its record") == true)
        #expect(message { $0.bytes = [0x1F, 0, 0, 0] }?.contains("runs past the end") == true)
        #expect(message { $0.bytes = [0x17, 200, 0, 65] }?.contains("runs past the end") == true)
        #expect(message { $0.int(1); $0.bytes += [0x2F] }?.contains("unknown formula token (ptg 0x2f)") == true)
        #expect(message { $0.bytes = [0xFF] }?.contains("unknown formula token") == true)
        #expect(message { $0.func_(202) }?.contains("unknown function number 202") == true)
        #expect(message { $0.int(1); $0.op(0x03) }?.contains("fewer operands") == true)
        #expect(message { $0.int(1); $0.int(2) }?.contains("leaves 2 operands") == true)
        #expect(message { $0.funcVar(3, 4) }?.contains("takes 3 arguments") == true)
        #expect(message { $0.name(9) }?.contains("defined name 9") == true)
        #expect(message { $0.ref3d(40, 0, 0) }?.contains("sheet entry 40") == true)
        #expect(message { $0.bytes = [] }?.contains("no tokens") == true)
        #expect(message { $0.bytes += [0x60] + [UInt8](repeating: 0, count: wide ? 14 : 7); $0.extra = wide ? Rgce.u32(100_000) + Rgce.u32(100_000) : [255, 255, 255] }?.contains("does not fit") == true)
    }

    @Test("deep nesting stays bounded: 1,000 levels render, a runaway stream stops at the length limit", arguments: [false, true])
    func deepNesting(wide: Bool) throws {
        var r = Rgce(wide: wide)
        r.ref(0, 0)
        for _ in 0..<1_000 { r.int(1); r.op(0x03); r.op(0x15) }
        let start = Date()
        let text = try r.text()
        #expect(text.hasPrefix(String(repeating: "(", count: 1_000) + "A1+1)"))
        #expect(Date().timeIntervalSince(start) < 2)
        // 200,000 nested parentheses: stopped by the length limit, quickly.
        var h = Rgce(wide: wide)
        h.int(1)
        h.bytes += [UInt8](repeating: 0x15, count: 200_000)
        let t0 = Date()
        #expect(throws: FormulaDecodeError.self) { try h.text() }
        #expect(Date().timeIntervalSince(t0) < 2)
    }

    @Test("numbers render as Excel writes them")
    func numbers() {
        #expect(FormulaRenderer.number(3) == "3")
        #expect(FormulaRenderer.number(-0.25) == "-0.25")
        #expect(FormulaRenderer.number(1e20) == "1E+20")
        #expect(FormulaRenderer.number(1.5e-7) == "1.5E-07")
        #expect(FormulaRenderer.number(123456.789) == "123456.789")
    }

    @Test("OpenFormula (ods) becomes Excel syntax")
    func openFormula() {
        let cases: [(String, String)] = [
            ("of:=[.A1]*2", "A1*2"),
            ("of:=SUM([.A1:.B3];[$Sheet2.C1])", "SUM(A1:B3,Sheet2!C1)"),
            ("of:=['My Sheet'.$A$1]+[$'Q''s'.B2]", "'My Sheet'!$A$1+'Q''s'!B2"),
            ("of:=SUM([$S1.A1:$S3.B2])", "SUM(S1:S3!A1:B2)"),
            ("of:=IF([.A1]>0;\"a;b\";\"[.x]\")", "IF(A1>0,\"a;b\",\"[.x]\")"),
            ("of:=SUM({1;2|3;4})", "SUM({1,2;3,4})"),
            ("of:=SUM([.A1:.A3]~[.C1])", "SUM(A1:A3,C1)"),
            ("of:=SUM([.A1:.C3]![.B2:.D4])", "SUM(A1:C3 B2:D4)"),
            ("of:=IF([.#REF!];#DIV/0!;#N/A)", "IF(#REF!,#DIV/0!,#N/A)"),
            ("of:=COM.MICROSOFT.CONCAT([.A1];\"x\")", "_xlfn.CONCAT(A1,\"x\")"),
            ("of:=LEGACY.NORMSDIST(1)", "NORMSDIST(1)"),
            ("of:=SUM([.A:.A])", "SUM(A:A)"),
            ("msoxl:=SUM(A1:A3)", "SUM(A1:A3)"),
            ("oooc:=[.A1]", "A1"),
            ("=1+2", "1+2"),
        ]
        for (raw, want) in cases { #expect(OpenFormula.excelText(raw) == want, "\(raw)") }
    }
}

@Suite("Formula text through the xls and xlsb readers")
struct FormulaReaderTests {
    typealias B = BIFFBytes

    /// A BIFF8 FORMULA record: cached number, then CellParsedFormula (cce, tokens, extra).
    static func formula(_ row: Int, _ col: Int, _ value: Double, _ r: Rgce, cce: Int? = nil, shared: Bool = false) -> [UInt8] {
        B.record(0x0006, B.le16(UInt16(row)) + B.le16(UInt16(col)) + B.le16(15) + B.f64(value)
                 + B.le16(shared ? 0x0008 : 0) + B.le32(0) + B.le16(UInt16(cce ?? r.bytes.count)) + r.bytes + r.extra)
    }
    static func exp(_ row: Int, _ col: Int) -> Rgce { var r = Rgce(wide: false); r.bytes = [0x01] + B.le16(UInt16(row)) + B.le16(UInt16(col)); return r }

    /// All formula texts and errors of a sheet, by A1 cell.
    static func formulas(_ reader: any WorkbookReader, sheet: Int = 0, on: Bool = true) throws -> (texts: [String: String], errors: [String: String], values: [String: CellValue]) {
        var texts: [String: String] = [:], errors: [String: String] = [:], values: [String: CellValue] = [:]
        try reader.readSheet(at: sheet, formulas: on) { row in
            for c in row.cells {
                let a1 = CellRef(row: row.index, column: c.column).description
                values[a1] = c.value
                if let f = c.formula { texts[a1] = f }
                if let e = c.formulaError { errors[a1] = e }
            }
            return true
        }
        return (texts, errors, values)
    }

    @Test("xls: plain, shared (SHRFMLA), array (ARRAY) and cross-sheet formulas; a broken one keeps its value")
    func xls() throws {
        // Globals: the internal SUPBOOK, an EXTERNSHEET naming sheet 2, a NAME.
        let supbook = B.record(0x01AE, B.le16(2) + B.le16(0x0401))
        let externsheet = B.record(0x0017, B.le16(1) + B.le16(0) + B.le16(1) + B.le16(1))
        let name = B.record(0x0018, B.le16(0) + [0, 4] + B.le16(7) + B.le16(0) + B.le16(0) + [0, 0, 0, 0] + [0] + Array("Rate".utf8)
                            + [0x3A] + B.le16(0) + B.le16(0) + B.le16(0))
        var plain = Rgce(wide: false); plain.ref(0, 0); plain.name(1); plain.op(0x05); plain.ref3d(0, 1, 1); plain.op(0x03)
        var master = Rgce(wide: false)  // B1:B3 share "A1*2" relative to each row
        master.bytes += [0x2C] + B.le16(0) + Rgce.col(0xFF, rowRel: true, colRel: true); master.int(2); master.op(0x05)
        let shrfmla = B.record(0x04BC, B.le16(0) + B.le16(2) + [1, 1] + [0, 3] + B.le16(UInt16(master.bytes.count)) + master.bytes)
        var arr = Rgce(wide: false); arr.area(0, 0, 2, 0); arr.area(0, 1, 2, 1); arr.op(0x05); arr.funcVar(1, 4)
        let array = B.record(0x0221, B.le16(0) + B.le16(1) + [3, 3] + B.le16(0) + B.le32(0) + B.le16(UInt16(arr.bytes.count)) + arr.bytes)
        var broken = Rgce(wide: false); broken.ref(0, 0)
        let stream = B.workbook(globals: [supbook, externsheet, name], sheets: [
            (name: "Data", cells: [
                B.number(0, 0, 1), B.number(1, 0, 2), B.number(2, 0, 3),
                Self.formula(0, 1, 2, Self.exp(0, 1), shared: true), shrfmla,
                Self.formula(1, 1, 4, Self.exp(0, 1), shared: true),
                Self.formula(2, 1, 6, Self.exp(0, 1), shared: true),
                Self.formula(0, 2, 9, plain),
                Self.formula(0, 3, 28, Self.exp(0, 3)), array, Self.formula(1, 3, 28, Self.exp(0, 3)),
                Self.formula(0, 4, 5, broken, cce: 40),  // tokens said to run 40 bytes: past the record
                Self.formula(0, 5, 7, Self.exp(9, 9)),   // points at a master that does not exist
            ]),
            (name: "Other Sheet", cells: [B.number(1, 1, 4)]),
        ])
        let reader = try XLSReader(bytes: stream)
        let (texts, errors, values) = try Self.formulas(reader)
        #expect(texts["B1"] == "A1*2" && texts["B2"] == "A2*2" && texts["B3"] == "A3*2")
        #expect(texts["C1"] == "A1*Rate+'Other Sheet'!$B$2")
        #expect(texts["D1"] == "SUM(A1:A3*B1:B3)")
        #expect(texts["D2"] == nil, "an array formula's text goes with its first cell, as in xlsx")
        #expect(errors["E1"]?.contains("formula at E1") == true && errors["E1"]?.contains("runs past the end of its record") == true)
        #expect(errors["F1"]?.contains("J10") == true)
        #expect(values["E1"] == .number(5) && values["F1"] == .number(7), "the cached values still read")
        #expect(values["A3"] == .number(3) && values.count == 11, "the rest of the sheet reads")
        // Without the flag: no formula text and no decoding.
        let off = try Self.formulas(reader, on: false)
        #expect(off.texts.isEmpty && off.errors.isEmpty && off.values == values)
    }

    @Test("xls: a truncated SHRFMLA gives the dependents an error, not a crash")
    func truncatedSharedFormula() throws {
        var master = Rgce(wide: false); master.ref(0, 0, ptg: 0x2C); master.int(2); master.op(0x05)
        // The SHRFMLA claims more token bytes than it has.
        let shrfmla = B.record(0x04BC, B.le16(0) + B.le16(1) + [1, 1] + [0, 2] + B.le16(200) + master.bytes)
        let stream = B.workbook(sheets: [(name: "S", cells: [
            Self.formula(0, 1, 2, Self.exp(0, 1), shared: true), shrfmla, Self.formula(1, 1, 4, Self.exp(0, 1), shared: true),
        ])])
        let (texts, errors, values) = try Self.formulas(XLSReader(bytes: stream))
        #expect(texts.isEmpty)
        #expect(errors["B1"]?.contains("runs past the end of its record") == true && errors["B2"] != nil)
        #expect(values["B2"] == .number(4))
    }

    static func xlsbFormula(_ type: Int, col: Int, value: [UInt8], _ r: Rgce, cce: Int? = nil) -> [UInt8] {
        XLSBRecords.cell(col) + value + XLSBRecords.u16(0) + XLSBRecords.u32(cce ?? r.bytes.count) + r.bytes + XLSBRecords.u32(r.extra.count) + r.extra
    }
    static func xlsbExp(_ row: Int, _ col: Int) -> Rgce {
        var r = Rgce(wide: true); r.bytes = [0x01] + XLSBRecords.u32(row); r.extra = XLSBRecords.u32(col); return r
    }

    @Test("xlsb: plain, shared (BrtShrFmla), array (BrtArrFmla) formulas of every result type; a broken one keeps its value")
    func xlsb() throws {
        var r = XLSBRecords()
        var plain = Rgce(wide: true); plain.ref(0, 0); plain.ref3d(1, 1, 1); plain.op(0x03); plain.str("x"); plain.op(0x08)
        var master = Rgce(wide: true)
        master.bytes += [0x2C] + XLSBRecords.u32(0) + Rgce.col(0x3FFF, rowRel: true, colRel: true); master.int(2); master.op(0x05)
        var arr = Rgce(wide: true); arr.area(0, 0, 1, 0); arr.funcVar(1, 4)
        var bool = Rgce(wide: true); bool.ref(0, 0); bool.int(0); bool.op(0x0D)
        var broken = Rgce(wide: true); broken.ref(0, 0)
        r.row(0)
        r.add(0x05, XLSBRecords.cell(0) + XLSBRecords.f64(1))
        r.add(0x09, Self.xlsbFormula(0x09, col: 1, value: XLSBRecords.f64(2), Self.xlsbExp(0, 1)))
        r.add(0x1AB, XLSBRecords.u32(0) + XLSBRecords.u32(1) + XLSBRecords.u32(1) + XLSBRecords.u32(1)
              + XLSBRecords.u32(master.bytes.count) + master.bytes + XLSBRecords.u32(0))
        r.add(0x08, Self.xlsbFormula(0x08, col: 2, value: XLSBRecords.wide("1 x"), plain))
        r.add(0x09, Self.xlsbFormula(0x09, col: 3, value: XLSBRecords.f64(3), Self.xlsbExp(0, 3)))
        r.add(0x1AA, XLSBRecords.u32(0) + XLSBRecords.u32(1) + XLSBRecords.u32(3) + XLSBRecords.u32(3) + [0]
              + XLSBRecords.u32(arr.bytes.count) + arr.bytes + XLSBRecords.u32(0))
        r.add(0x0A, Self.xlsbFormula(0x0A, col: 4, value: [1], bool))
        r.add(0x0B, Self.xlsbFormula(0x0B, col: 5, value: [0x2A], broken, cce: 99))
        r.row(1)
        r.add(0x05, XLSBRecords.cell(0) + XLSBRecords.f64(2))
        r.add(0x09, Self.xlsbFormula(0x09, col: 1, value: XLSBRecords.f64(4), Self.xlsbExp(0, 1)))
        r.add(0x09, Self.xlsbFormula(0x09, col: 3, value: XLSBRecords.f64(3), Self.xlsbExp(0, 3)))
        let path = try XLSBTestFile.write(XLSBTestFile.package(sheets: [
            .init(name: "Data", records: r), .init(name: "Two Words", records: XLSBRecords()),
        ]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try XLSBReader(path: path)
        let (texts, errors, values) = try Self.formulas(reader)
        #expect(texts["B1"] == "A1*2" && texts["B2"] == "A2*2")
        #expect(texts["C1"] == "A1+'Two Words'!$B$2&\"x\"")
        #expect(texts["D1"] == "SUM(A1:A2)" && texts["D2"] == nil)
        #expect(texts["E1"] == "A1>0" && values["E1"] == .bool(true))
        #expect(errors["F1"]?.contains("runs past the end of its record") == true && values["F1"] == .error("#N/A"))
        let off = try Self.formulas(reader, on: false)
        #expect(off.texts.isEmpty && off.errors.isEmpty && off.values == values)
    }
}
