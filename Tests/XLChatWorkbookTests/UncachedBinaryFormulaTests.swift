import Foundation
import Testing
@testable import XLChatWorkbook

/// Formulas saved without a cached value in xls (xlwt writes every formula so), xlsb and ods:
/// computed by `EvaluatingReader` exactly as in xlsx, while cached values are kept as saved.
@Suite("Formulas without cached values in xls, xlsb and ods")
struct UncachedBinaryFormulaTests {
    typealias B = BIFFBytes

    static func data(_ name: String) -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("Data/\(name)").path
        precondition(FileManager.default.fileExists(atPath: path), "the test file is missing: \(path)")
        return path
    }

    /// A BIFF8 FORMULA record with the 8-byte FormulaValue `result` ([MS-XLS] 2.5.133).
    static func formula(_ row: Int, _ col: Int, result: [UInt8], _ r: Rgce, xf: UInt16 = 15) -> [UInt8] {
        B.record(0x0006, B.le16(UInt16(row)) + B.le16(UInt16(col)) + B.le16(xf) + result
                 + B.le16(0) + B.le32(0) + B.le16(UInt16(r.bytes.count)) + r.bytes + r.extra)
    }
    /// fExprO = 0xFFFF with byte1 `type`: 0 string (STRING follows), 1 bool, 2 error, 3 empty string.
    static func special(_ type: UInt8, _ v: UInt8 = 0) -> [UInt8] { [type, 0, v, 0, 0, 0, 0xFF, 0xFF] }
    static func string(_ s: String) -> [UInt8] { B.record(0x0207, B.le16(UInt16(s.utf8.count)) + [0] + Array(s.utf8)) }

    static func cells(_ reader: any WorkbookReader, sheet: Int = 0, formulas: Bool = false) throws -> [String: RowCell] {
        var out: [String: RowCell] = [:]
        try reader.readSheet(at: sheet, formulas: formulas) { row in
            for c in row.cells { out[CellRef(row: row.index, column: c.column).description] = c }
            return true
        }
        return out
    }

    static func write(_ bytes: [UInt8], ext: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("uncached-\(UUID().uuidString).\(ext)").path
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw CocoaError(.fileWriteUnknown) }
        return path
    }

    @Test("xls: every way a FORMULA record says 'no value' is computed; numbers, strings, booleans and errors it saved are kept")
    func xlsResultKinds() throws {
        var a1x2 = Rgce(wide: false); a1x2.ref(0, 0); a1x2.int(2); a1x2.op(0x05)          // A1*2
        var sum = Rgce(wide: false); sum.area(0, 0, 1, 0); sum.funcVar(1, 4)               // SUM(A1:A2)
        var cat = Rgce(wide: false); cat.str("n="); cat.ref(1, 0); cat.op(0x08)             // "n="&A2
        var gt = Rgce(wide: false); gt.ref(0, 0); gt.int(5); gt.op(0x0D)                    // A1>5
        var empty = Rgce(wide: false); empty.str("")                                       // ""
        var chain = Rgce(wide: false); chain.ref(0, 1); chain.int(1); chain.op(0x03)        // B1+1 (B1 uncached)
        let records: [[UInt8]] = [
            B.number(0, 0, 10), B.number(1, 0, 20),
            Self.formula(0, 1, result: [3, 0, 0, 0, 0, 0, 0xFF, 0xFF], a1x2),             // xlwt's placeholder
            Self.formula(0, 2, result: B.f64(999), sum),                                   // a (stale) cached number: kept
            Self.formula(0, 3, result: Self.special(0), cat), Self.string("cached"),       // a cached string: kept
            Self.formula(0, 4, result: Self.special(0), cat),                              // string result, no STRING record
            Self.formula(0, 5, result: Self.special(0), cat), Self.string(""),             // an empty STRING record
            Self.formula(0, 6, result: Self.special(1, 0), gt),                            // a cached FALSE: kept
            Self.formula(0, 7, result: Self.special(2, 0x07), a1x2),                       // a cached #DIV/0!: kept
            Self.formula(0, 8, result: Self.special(9), sum),                              // an unknown type: no value
            Self.formula(0, 9, result: Self.special(3), empty),                            // ="" computes to ""
            Self.formula(1, 1, result: Self.special(3), chain),
        ]
        let path = try Self.write(B.workbook(sheets: [("F", records)]), ext: "xls")
        defer { try? FileManager.default.removeItem(atPath: path) }

        let raw = try Self.cells(try Workbooks.open(path: path, evaluateFormulas: false))
        #expect(raw["B1"] == RowCell(column: 1, value: .empty, formula: "A1*2"))
        #expect(raw["C1"]?.value == .number(999) && raw["C1"]?.formula == nil)  // text only when asked
        #expect(raw["E1"]?.value == .empty && raw["E1"]?.formula == "\"n=\"&A2")

        let reader = try Workbooks.open(path: path)
        let cells = try Self.cells(reader)
        #expect(cells["B1"]?.value == .number(20))
        #expect(cells["C1"]?.value == .number(999))
        #expect(cells["D1"]?.value == .string("cached"))
        #expect(cells["E1"]?.value == .string("n=20"))
        #expect(cells["F1"]?.value == .string("n=20"))
        #expect(cells["G1"]?.value == .bool(false))
        #expect(cells["H1"]?.value == .error("#DIV/0!"))
        #expect(cells["I1"]?.value == .number(30))
        #expect(cells["J1"] == nil)  // "" is no value to show
        #expect(cells["B2"]?.value == .number(21))
        let stats = try #require(reader.formulaStats)
        #expect(stats.computed == 6 && stats.notComputed == 0, "\(stats)")

        // With text asked for, every formula has it and the cached values are unchanged.
        let all = try Self.cells(try Workbooks.open(path: path, evaluateFormulas: false), formulas: true)
        #expect(all["C1"]?.formula == "SUM(A1:A2)" && all["C1"]?.value == .number(999))
        #expect(all["B1"]?.value == .empty && all["G1"]?.value == .bool(false))
    }

    @Test("xls written by xlwt (no cached results at all): values, a date format, the total row and the outline note")
    func xlwtWorkbook() throws {
        let path = Self.data("xls-uncached-formulas.xls")
        let reader = try Workbooks.open(path: path)
        let sales = try Self.cells(reader, sheet: 0)
        // SUM skips text in a range ("$2,000.00", "n/a"), as Excel does.
        #expect(sales["C6"]?.value == .number(1184.5) && sales["C6"]?.formula == "SUM(C2:C5)")
        #expect(sales["D6"]?.value == .number(3))
        let lookup = try Self.cells(reader, sheet: 1)
        #expect(lookup["B2"]?.value == .number(2469))
        #expect(lookup["B3"]?.value == .string("N-ann"))
        #expect(lookup["B4"]?.value == .temporal(.date, serial: 45296))  // 2024-01-05, yyyy-mm-dd
        #expect(lookup["B5"]?.value == .bool(true))
        #expect(lookup["B6"]?.value == .number(61.725))
        let outline = try WorkbookOutline.build(reader: try Workbooks.open(path: path), path: path, contentHash: "x")
        #expect(outline.formulas?.computed == 7 && outline.formulas?.notComputed == 0, "\(String(describing: outline.formulas))")
        // The computed SUM makes row 6 a total, not data.
        let table = try #require(outline.sheets[0].table)
        #expect(!table.isDataRow(5) && table.isDataRow(4), "\(table)")
    }

    @Test("ods: a formula cell without office:value-type is computed; one with a value keeps it")
    func ods() throws {
        func c(_ attrs: String, _ text: String = "") -> String { ODSTestFile.cell(attrs, text) }
        let path = try ODSTestFile.write(#"<table:table table:name="S"><table:table-row>"#
            + c(#"office:value-type="float" office:value="4""#, "4")
            + c(#"table:formula="of:=[.A1]*3""#)
            + c(#"table:formula="of:=[.A1]+1" office:value-type="float" office:value="100""#, "100")
            + c(#"table:formula="of:=SUM([.A1:.B1])""#)
            + #"</table:table-row></table:table>"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let raw = try Self.cells(try Workbooks.open(path: path, evaluateFormulas: false))
        #expect(raw["B1"]?.value == .empty && raw["B1"]?.formula == "A1*3")
        let reader = try Workbooks.open(path: path)
        let cells = try Self.cells(reader)
        #expect(cells["B1"]?.value == .number(12))
        #expect(cells["C1"]?.value == .number(100))
        #expect(cells["D1"]?.value == .number(16))
        #expect(reader.formulaStats?.computed == 2)
    }

    @Test("xlsb: a BrtFmlaString with an empty string is computed (also through a shared formula); cached results kept")
    func xlsb() throws {
        var r = XLSBRecords()
        var a1x2 = Rgce(wide: true); a1x2.ref(0, 0); a1x2.int(2); a1x2.op(0x05)
        var master = Rgce(wide: true)  // shared: A(row)*10, relative row
        master.bytes += [0x2C] + XLSBRecords.u32(0) + Rgce.col(0, rowRel: true, colRel: false); master.int(10); master.op(0x05)
        r.row(0)
        r.add(0x05, XLSBRecords.cell(0) + XLSBRecords.f64(7))
        r.add(0x08, FormulaReaderTests.xlsbFormula(0x08, col: 1, value: XLSBRecords.wide(""), a1x2))
        r.add(0x09, FormulaReaderTests.xlsbFormula(0x09, col: 2, value: XLSBRecords.f64(5), a1x2))      // stale: kept
        r.add(0x08, FormulaReaderTests.xlsbFormula(0x08, col: 3, value: XLSBRecords.wide(""), FormulaReaderTests.xlsbExp(0, 3)))
        r.add(0x1AB, XLSBRecords.u32(0) + XLSBRecords.u32(1) + XLSBRecords.u32(3) + XLSBRecords.u32(3)
              + XLSBRecords.u32(master.bytes.count) + master.bytes + XLSBRecords.u32(0))
        r.row(1)
        r.add(0x05, XLSBRecords.cell(0) + XLSBRecords.f64(8))
        r.add(0x08, FormulaReaderTests.xlsbFormula(0x08, col: 3, value: XLSBRecords.wide(""), FormulaReaderTests.xlsbExp(0, 3)))
        let path = try XLSBTestFile.write(XLSBTestFile.package(sheets: [.init(name: "S", records: r)]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let raw = try Self.cells(try Workbooks.open(path: path, evaluateFormulas: false))
        #expect(raw["B1"]?.value == .empty && raw["B1"]?.formula == "A1*2")
        #expect(raw["C1"]?.value == .number(5) && raw["C1"]?.formula == nil)
        let reader = try Workbooks.open(path: path)
        let cells = try Self.cells(reader)
        #expect(cells["B1"]?.value == .number(14))
        #expect(cells["C1"]?.value == .number(5))
        #expect(cells["D1"]?.value == .number(70) && cells["D2"]?.value == .number(80))
        #expect(reader.formulaStats?.computed == 3)
    }
}
