import Foundation
import Testing
@testable import XLChatWorkbook

/// Writes BIFF12 records ([MS-XLSB] 2.1.4) for test packages.
struct XLSBRecords {
    var bytes: [UInt8] = []

    static func varint(_ v: Int) -> [UInt8] {
        var out: [UInt8] = []
        var v = v
        repeat {
            var b = UInt8(v & 0x7F)
            v >>= 7
            if v > 0 { b |= 0x80 }
            out.append(b)
        } while v > 0
        return out
    }
    static func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    static func u32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
    static func u32(_ v: UInt32) -> [UInt8] { u32(Int(v)) }
    static func f64(_ d: Double) -> [UInt8] { (0..<8).map { UInt8((d.bitPattern >> (8 * UInt64($0))) & 0xFF) } }
    static func wide(_ s: String) -> [UInt8] {
        let units = Array(s.utf16)
        return u32(units.count) + units.flatMap { u16(Int($0)) }
    }

    mutating func add(_ type: Int, _ payload: [UInt8]) {
        bytes += XLSBRecords.varint(type) + XLSBRecords.varint(payload.count) + payload
    }
    /// Cell header: column, style (24 bits) and flags.
    static func cell(_ col: Int, style: Int = 0) -> [UInt8] { u32(col) + u32(style & 0xFF_FFFF) }
    mutating func row(_ r: Int) { add(0x00, XLSBRecords.u32(r) + [UInt8](repeating: 0, count: 13)) }
}

enum XLSBTestFile {
    struct Sheet { var name: String; var state = 0; var records: XLSBRecords }

    static func package(sheets: [Sheet], strings: [String] = [], date1904: Bool = false, names: [XLSBRecords] = [],
                        customFormats: [(Int, String)] = [(164, "yyyy-mm-dd")], xfFormats: [Int] = [0, 164, 22]) -> ZipTestArchive {
        var z = ZipTestArchive()
        z.add("[Content_Types].xml", #"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="bin" ContentType="application/vnd.ms-excel.sheet.binary.macroEnabled.main"/></Types>"#)
        z.add("_rels/.rels", #"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.bin"/></Relationships>"#)
        var rels = #"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#
        var wb = XLSBRecords()
        wb.add(0x83, [])  // BrtBeginBook
        wb.add(0x99, XLSBRecords.u32(date1904 ? 1 : 0) + XLSBRecords.u32(0) + XLSBRecords.wide(""))
        wb.add(0x8F, [])  // BrtBeginBundleShs
        for (i, s) in sheets.enumerated() {
            rels += #"<Relationship Id="rId\#(i + 1)" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet\#(i + 1).bin"/>"#
            wb.add(0x9C, XLSBRecords.u32(s.state) + XLSBRecords.u32(i + 1) + XLSBRecords.wide("rId\(i + 1)") + XLSBRecords.wide(s.name))
            var body = XLSBRecords()
            body.add(0x81, [])  // BrtBeginSheet (129)
            body.bytes += s.records.bytes
            body.add(0x82, [])  // BrtEndSheet
            z.members.append(.init(name: "xl/worksheets/sheet\(i + 1).bin", data: body.bytes))
        }
        wb.add(0x90, [])
        // BrtExternSheet: one XTI per sheet, so ixti == sheet index.
        wb.add(0x16A, XLSBRecords.u32(sheets.count) + sheets.indices.flatMap { XLSBRecords.u32(0) + XLSBRecords.u32($0) + XLSBRecords.u32($0) })
        for n in names { wb.bytes += n.bytes }
        wb.add(0x84, [])
        z.members.append(.init(name: "xl/workbook.bin", data: wb.bytes))
        rels += #"<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.bin"/>"#
        rels += #"<Relationship Id="rIdT" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.bin"/>"#
        z.add("xl/_rels/workbook.bin.rels", rels + "</Relationships>")
        var st = XLSBRecords()
        st.add(0x116, [])  // BrtBeginStyleSheet (278)
        for (id, code) in customFormats { st.add(0x2C, XLSBRecords.u16(id) + XLSBRecords.wide(code)) }
        st.add(0x272, XLSBRecords.u32(1))  // cell style XFs: not cell formats
        st.add(0x2F, XLSBRecords.u16(0xFFFF) + XLSBRecords.u16(14) + [UInt8](repeating: 0, count: 12))
        st.add(0x273, [])
        st.add(0x269, XLSBRecords.u32(xfFormats.count))
        for f in xfFormats { st.add(0x2F, XLSBRecords.u16(0) + XLSBRecords.u16(f) + [UInt8](repeating: 0, count: 12)) }
        st.add(0x26A, [])
        z.members.append(.init(name: "xl/styles.bin", data: st.bytes))
        var sst = XLSBRecords()
        sst.add(0x9F, XLSBRecords.u32(strings.count) + XLSBRecords.u32(strings.count))
        for s in strings { sst.add(0x13, [0] + XLSBRecords.wide(s)) }
        sst.add(0xA0, [])
        z.members.append(.init(name: "xl/sharedStrings.bin", data: sst.bytes))
        return z
    }

    static func write(_ z: ZipTestArchive) throws -> String { try z.write(ext: "xlsb") }
}

@Suite("XLSB reader")
struct XLSBReaderTests {
    @Test("cell records: RK, real, strings, shared strings, booleans, errors, formula cached values, blanks, dates")
    func cells() throws {
        var r = XLSBRecords()
        r.row(0)
        r.add(0x02, XLSBRecords.cell(0) + XLSBRecords.u32(UInt32(bitPattern: Int32(-7) << 2) | 2))  // RK int
        r.add(0x02, XLSBRecords.cell(1) + XLSBRecords.u32(UInt32(1234 << 2) | 3))                    // RK int / 100
        r.add(0x02, XLSBRecords.cell(2) + XLSBRecords.u32(UInt32(truncatingIfNeeded: 2.5.bitPattern >> 32)))  // RK double
        r.add(0x05, XLSBRecords.cell(3) + XLSBRecords.f64(0.1))
        r.add(0x06, XLSBRecords.cell(4) + XLSBRecords.wide("inline é"))
        r.add(0x07, XLSBRecords.cell(5) + XLSBRecords.u32(1))
        r.add(0x01, XLSBRecords.cell(6))  // blank: not delivered
        r.add(0x3E, XLSBRecords.cell(7) + [1] + XLSBRecords.wide("rich") + XLSBRecords.u32(0))  // BrtCellRString
        r.row(2)
        r.add(0x04, XLSBRecords.cell(0) + [1])
        r.add(0x03, XLSBRecords.cell(1) + [0x07])
        r.add(0x09, XLSBRecords.cell(2) + XLSBRecords.f64(42) + [0, 0] + XLSBRecords.u32(0))
        r.add(0x08, XLSBRecords.cell(3) + XLSBRecords.wide("calc") + [0, 0] + XLSBRecords.u32(0))
        r.add(0x0A, XLSBRecords.cell(4) + [0] + [0, 0] + XLSBRecords.u32(0))
        r.add(0x0B, XLSBRecords.cell(5) + [0x2A] + [0, 0] + XLSBRecords.u32(0))
        r.add(0x05, XLSBRecords.cell(6, style: 1) + XLSBRecords.f64(45352))        // custom yyyy-mm-dd
        r.add(0x02, XLSBRecords.cell(7, style: 2) + XLSBRecords.u32(UInt32(45352 << 2) | 2))  // built-in 22 (m/d/yy h:mm)
        r.add(0x07, XLSBRecords.cell(8) + XLSBRecords.u32(0))  // empty shared string: not delivered
        r.add(0x94, XLSBRecords.u32(0) + XLSBRecords.u32(99) + XLSBRecords.u32(0) + XLSBRecords.u32(99))  // BrtWsDim: ignored
        let path = try XLSBTestFile.write(XLSBTestFile.package(sheets: [.init(name: "Data", records: r)], strings: ["", "shared"]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try Workbooks.open(path: path, evaluateFormulas: false)
        #expect(reader is XLSBReader)
        #expect(reader.format == .xlsb)
        let (cells, _, summary) = try ODSTestFile.cells(reader)
        #expect(cells["A1"] == .number(-7))
        #expect(cells["B1"] == .number(12.34))
        #expect(cells["C1"] == .number(2.5))
        #expect(cells["D1"] == .number(0.1))
        #expect(cells["E1"] == .string("inline é"))
        #expect(cells["F1"] == .string("shared"))
        #expect(cells["G1"] == nil)
        #expect(cells["H1"] == .string("rich"))
        #expect(cells["A3"] == .bool(true))
        #expect(cells["B3"] == .error("#DIV/0!"))
        #expect(cells["C3"] == .number(42))
        #expect(cells["D3"] == .string("calc"))
        #expect(cells["E3"] == .bool(false))
        #expect(cells["F3"] == .error("#N/A"))
        #expect(cells["G3"] == .temporal(.date, serial: 45352))
        #expect(cells["G3"]?.isoText == "2024-03-01")
        #expect(cells["H3"] == .temporal(.dateTime, serial: 45352))
        #expect(cells["I3"] == nil)
        #expect(summary.usedRange == CellRange(rows: 0...2, columns: 0...7))
        #expect(summary.cellCount == 15)
    }

    @Test("sheets: visibility, 1904 dates, merged cells, defined names")
    func workbook() throws {
        var s1 = XLSBRecords()
        s1.row(1)
        s1.add(0x05, XLSBRecords.cell(1, style: 1) + XLSBRecords.f64(0))
        s1.add(0xB1, XLSBRecords.u32(1))  // BrtBeginMergeCells
        s1.add(0xB0, XLSBRecords.u32(1) + XLSBRecords.u32(3) + XLSBRecords.u32(1) + XLSBRecords.u32(2))
        s1.add(0xB2, [])
        var name = XLSBRecords()
        let rgce: [UInt8] = [0x3B] + XLSBRecords.u16(0) + XLSBRecords.u32(1) + XLSBRecords.u32(9) + XLSBRecords.u16(1) + XLSBRecords.u16(2)
        name.add(0x27, XLSBRecords.u32(0) + [0] + XLSBRecords.u32(0xFFFF_FFFF) + XLSBRecords.wide("Totals") + XLSBRecords.u32(rgce.count) + rgce + XLSBRecords.u32(0))
        name.add(0x27, XLSBRecords.u32(1) + [0] + XLSBRecords.u32(1) + XLSBRecords.wide("_Hidden") + XLSBRecords.u32(1) + [0x1C] + XLSBRecords.u32(0))
        let z = XLSBTestFile.package(sheets: [.init(name: "My Data", records: s1), .init(name: "H", state: 1, records: XLSBRecords()),
                                              .init(name: "VH", state: 2, records: XLSBRecords())],
                                     date1904: true, names: [name])
        let path = try XLSBTestFile.write(z)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try XLSBReader(path: path)
        #expect(reader.sheets.map(\.name) == ["My Data", "H", "VH"])
        #expect(reader.sheets.map(\.visibility) == [.visible, .hidden, .veryHidden])
        #expect(reader.date1904)
        #expect(reader.definedNames == [DefinedName(name: "Totals", refersTo: "'My Data'!$B$2:$C$10"),
                                        DefinedName(name: "_Hidden", refersTo: "", localSheet: 1, hidden: true)])
        let (cells, _, summary) = try ODSTestFile.cells(reader)
        #expect(cells["B2"]?.isoText == "1904-01-01")
        #expect(summary.mergedRanges == [CellRange(rows: 1...3, columns: 1...2)])
        #expect(try ODSTestFile.cells(reader, sheet: 2).summary.usedRange == nil)
    }

    @Test("bad input: a truncated record, a missing shared string, a column past XFD, a cell before any row, a record too short")
    func badInput() throws {
        func kind(_ records: XLSBRecords, cut: Int = 0) throws -> WorkbookError.Kind? {
            var z = XLSBTestFile.package(sheets: [.init(name: "S", records: records)], strings: ["a"])
            if cut > 0, let i = z.members.firstIndex(where: { $0.name.hasSuffix("sheet1.bin") }) {
                z.members[i].data.removeLast(cut)
            }
            let path = try XLSBTestFile.write(z)
            defer { try? FileManager.default.removeItem(atPath: path) }
            return xlsxErrorKind { try XLSBReader(path: path).readSheet(at: 0) { _ in true } }
        }
        var ok = XLSBRecords()
        ok.row(0)
        ok.add(0x05, XLSBRecords.cell(0) + XLSBRecords.f64(1))
        #expect(try kind(ok) == nil)
        #expect(try kind(ok, cut: 2 + 3) == .corruptWorkbook, "cut inside the real cell record")
        var badIsst = XLSBRecords(); badIsst.row(0); badIsst.add(0x07, XLSBRecords.cell(0) + XLSBRecords.u32(5))
        #expect(try kind(badIsst) == .corruptWorkbook)
        var wide = XLSBRecords(); wide.row(0); wide.add(0x05, XLSBRecords.cell(20_000) + XLSBRecords.f64(1))
        #expect(try kind(wide) == .corruptWorkbook)
        var tall = XLSBRecords(); tall.row(2_000_000); tall.add(0x05, XLSBRecords.cell(0) + XLSBRecords.f64(1))
        #expect(try kind(tall) == .corruptWorkbook)
        var orphan = XLSBRecords(); orphan.add(0x05, XLSBRecords.cell(0) + XLSBRecords.f64(1))
        #expect(try kind(orphan) == .corruptWorkbook)
        var short = XLSBRecords(); short.row(0); short.add(0x05, XLSBRecords.cell(0) + [1, 2])
        #expect(try kind(short) == .corruptWorkbook)
        var longString = XLSBRecords(); longString.row(0); longString.add(0x06, XLSBRecords.cell(0) + XLSBRecords.u32(1_000_000) + [0x41, 0])
        #expect(try kind(longString) == .corruptWorkbook)
        var nan = XLSBRecords(); nan.row(0); nan.add(0x05, XLSBRecords.cell(0) + XLSBRecords.f64(.nan))
        let nanPath = try XLSBTestFile.write(XLSBTestFile.package(sheets: [.init(name: "S", records: nan)]))
        defer { try? FileManager.default.removeItem(atPath: nanPath) }
        #expect(try ODSTestFile.cells(try XLSBReader(path: nanPath)).cells == ["A1": .error("#NUM!")])
    }

    @Test("a package with workbook.bin but no workbook records is read as an empty workbook; no workbook part is corrupt")
    func emptyAndMissing() throws {
        var z = XLSBTestFile.package(sheets: [])
        let path = try XLSBTestFile.write(z)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try Workbooks.open(path: path).sheets.isEmpty)
        z.members.removeAll { $0.name == "xl/workbook.bin" }
        z.add("xl/workbook.bin.txt", "x")
        let p2 = try XLSBTestFile.write(z)
        defer { try? FileManager.default.removeItem(atPath: p2) }
        #expect(xlsxErrorKind { _ = try XLSBReader(path: p2) } == .corruptWorkbook)
    }

    @Test("RK numbers")
    func rk() {
        #expect(BIFF12.rk(UInt32(100 << 2) | 2) == 100)
        #expect(BIFF12.rk(UInt32(bitPattern: Int32(-1) << 2) | 3) == -0.01)
        #expect(BIFF12.rk(UInt32(truncatingIfNeeded: 1.5.bitPattern >> 32)) == 1.5)
        #expect(BIFF12.rk(UInt32(truncatingIfNeeded: 1.5.bitPattern >> 32) | 1) == 0.015)
    }
}
