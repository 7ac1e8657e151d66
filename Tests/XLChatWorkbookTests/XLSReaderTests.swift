import Foundation
import Testing
@testable import XLChatWorkbook

@Suite struct XLSReaderTests {
    typealias B = BIFFBytes

    func reader(_ stream: [UInt8], name: String = "Workbook") throws -> XLSReader {
        try XLSReader(bytes: CFBBuilder(streams: [(name, stream)]).build())
    }

    /// XF records: 0-15 general, 16 a date (id 14), 17 a custom duration format (id 164).
    static let styles: [[UInt8]] = {
        var out: [[UInt8]] = [B.record(0x041E, B.le16(164) + B.le16(9) + [0] + Array("[h]:mm:ss".utf8))]
        for i in 0..<18 {
            let fmt: UInt16 = i == 16 ? 14 : i == 17 ? 164 : 0
            out.append(B.record(0x00E0, B.le16(0) + B.le16(fmt) + [UInt8](repeating: 0, count: 16)))
        }
        return out
    }()

    @Test func readsCellKindsInOrder() throws {
        let rk100: UInt32 = (UInt32(bitPattern: Int32(1234)) << 2) | 3  // integer 1234 / 100
        let rkDouble: UInt32 = UInt32(truncatingIfNeeded: (2.5).bitPattern >> 32)
        let cells: [[UInt8]] = [
            // Deliberately out of order: row 2 before row 0, columns shuffled.
            B.number(2, 1, 3.25),
            B.label(0, 1, "b1"),
            B.record(0x027E, B.le16(0) + B.le16(0) + B.le16(15) + B.le32(rk100)),                   // RK
            B.record(0x00BD, B.le16(1) + B.le16(2) + B.le16(15) + B.le32(rkDouble) + B.le16(15) + B.le32(6 << 2 | 2) + B.le16(3)),  // MULRK C2:D2
            B.record(0x0205, B.le16(3) + B.le16(0) + B.le16(15) + [1, 0]),                          // TRUE
            B.record(0x0205, B.le16(3) + B.le16(1) + B.le16(15) + [0x07, 1]),                       // #DIV/0!
            B.record(0x0205, B.le16(3) + B.le16(2) + B.le16(15) + [0x2A, 1]),                       // #N/A
            B.record(0x0201, B.le16(4) + B.le16(0) + B.le16(15)),                                   // BLANK: ignored
            B.record(0x00BE, B.le16(4) + B.le16(1) + B.le16(15) + B.le16(15) + B.le16(2)),          // MULBLANK: ignored
            B.number(5, 0, 45000, xf: 16),                                                          // a date
            B.number(5, 1, 1.5, xf: 17),                                                            // a duration
        ]
        let r = try reader(B.workbook(globals: Self.styles, sheets: [("S", cells)]))
        let (map, summary, order) = try r.cellMap(0)
        #expect(order == order.sorted())
        #expect(map[CellRef(row: 0, column: 0)] == .number(12.34))
        #expect(map[CellRef(row: 0, column: 1)] == .string("b1"))
        #expect(map[CellRef(row: 1, column: 2)] == .number(2.5))
        #expect(map[CellRef(row: 1, column: 3)] == .number(6))
        #expect(map[CellRef(row: 2, column: 1)] == .number(3.25))
        #expect(map[CellRef(row: 3, column: 0)] == .bool(true))
        #expect(map[CellRef(row: 3, column: 1)] == .error("#DIV/0!"))
        #expect(map[CellRef(row: 3, column: 2)] == .error("#N/A"))
        #expect(map[CellRef(row: 4, column: 0)] == nil && map[CellRef(row: 4, column: 1)] == nil)
        #expect(map[CellRef(row: 5, column: 0)] == .temporal(.date, serial: 45000))
        #expect(map[CellRef(row: 5, column: 1)] == .temporal(.duration, serial: 1.5))
        #expect(summary.usedRange == CellRange(rows: 0...5, columns: 0...3))
        #expect(summary.cellCount == 10)
    }

    @Test func formulaCachedResults() throws {
        func formula(_ row: UInt16, _ col: UInt16, _ result: [UInt8]) -> [UInt8] {
            B.record(0x0006, B.le16(row) + B.le16(col) + B.le16(15) + result + B.le16(0) + B.le32(0) + B.le16(0))
        }
        func special(_ type: UInt8, _ v: UInt8) -> [UInt8] { [type, 0, v, 0, 0, 0, 0xFF, 0xFF] }
        let cells: [[UInt8]] = [
            formula(0, 0, B.f64(42.5)),
            formula(0, 1, special(0, 0)), B.record(0x0207, B.le16(5) + [0] + Array("hello".utf8)),
            formula(0, 2, special(1, 1)),
            formula(0, 3, special(2, 0x17)),
            formula(0, 4, special(3, 0)),
            formula(0, 5, special(0, 0)), B.record(0x04BC, [0, 0]),  // SHRFMLA between FORMULA and STRING
            B.record(0x0207, B.le16(2) + [1] + [0x3B, 0x04, 0x38, 0x04]),  // UTF-16 "Ыи"
        ]
        let r = try reader(B.workbook(sheets: [("F", cells)]))
        let (map, _, _) = try r.cellMap(0)
        #expect(map[CellRef(row: 0, column: 0)] == .number(42.5))
        #expect(map[CellRef(row: 0, column: 1)] == .string("hello"))
        #expect(map[CellRef(row: 0, column: 2)] == .bool(true))
        #expect(map[CellRef(row: 0, column: 3)] == .error("#REF!"))
        // An empty-string result is no cached value (EvaluatingReader computes it); with no
        // formula tokens to compute, the cell has nothing to show.
        #expect(map[CellRef(row: 0, column: 4)] == nil)
        #expect(map[CellRef(row: 0, column: 5)] == .string("\u{43B}\u{438}"))
    }

    @Test func sharedStringsSplitAcrossContinueRecords() throws {
        // SST: "plain", then a rich string with 1 run, then a 10-char string split across a
        // CONTINUE whose flags byte switches from 8-bit to 16-bit characters, then a string
        // with phonetic data.
        var sst = B.le32(4) + B.le32(4)
        sst += B.le16(5) + [0] + Array("plain".utf8)
        sst += B.le16(4) + [0x08] + B.le16(1) + Array("rich".utf8) + B.le16(0) + B.le16(1)
        sst += B.le16(10) + [0] + Array("abcd".utf8)
        let cont = [UInt8(1)] + Array("efghij".utf16).flatMap { B.le16($0) }
            + B.le16(3) + [0x04] + B.le32(6) + Array("ext".utf8) + [1, 2, 3, 4, 5, 6]
        let globals = [B.record(0x00FC, sst), B.record(0x003C, cont)]
        let cells = (0..<4).map { B.record(0x00FD, B.le16(UInt16($0)) + B.le16(0) + B.le16(15) + B.le32(UInt32($0))) }
        let r = try reader(B.workbook(globals: globals, sheets: [("S", cells)]))
        #expect(r.sst == ["plain", "rich", "abcdefghij", "ext"])
        let (map, _, _) = try r.cellMap(0)
        #expect(map[CellRef(row: 2, column: 0)] == .string("abcdefghij"))

        // A LABELSST pointing past the table is corrupt.
        let bad = [B.record(0x00FD, B.le16(0) + B.le16(0) + B.le16(15) + B.le32(99))]
        let r2 = try reader(B.workbook(globals: globals, sheets: [("S", bad)]))
        #expect(throws: WorkbookError.self) { try r2.readSheet(at: 0) { _ in true } }
    }

    @Test func sheetsVisibilityKindsMergesAnd1904() throws {
        let globals = Self.styles + [B.record(0x0022, B.le16(1))]  // DATEMODE: 1904
        let merge = B.record(0x00E5, B.le16(2) + B.le16(0) + B.le16(1) + B.le16(0) + B.le16(2)
                                              + B.le16(3) + B.le16(3) + B.le16(0) + B.le16(1))
        // Build by hand to set visibility and a chart sheet.
        var stream = B.bof(0x0005) + globals.flatMap { $0 }
        let bodies: [[UInt8]] = [
            B.bof(0x0010) + B.number(0, 0, 0, xf: 16) + merge + B.eof,
            B.bof(0x0010) + B.label(0, 0, "x") + B.eof,
            B.bof(0x0020) + B.number(0, 0, 1) + B.eof,
        ]
        let names = ["Data", "Secret", "Chart1"]
        let states: [UInt8] = [0, 2, 1]
        let types: [UInt8] = [0, 0, 2]
        var offset = stream.count + names.map { B.boundsheet(offset: 0, name: $0).count }.reduce(0, +) + B.eof.count
        for i in 0..<3 {
            stream += B.boundsheet(offset: offset, name: names[i], state: states[i], type: types[i])
            offset += bodies[i].count
        }
        stream += B.eof + bodies.flatMap { $0 }
        let r = try reader(stream)
        #expect(r.sheets.map(\.name) == names)
        #expect(r.sheets.map(\.visibility) == [.visible, .veryHidden, .hidden])
        #expect(r.sheets.map(\.kind) == [.worksheet, .worksheet, .chartsheet])
        #expect(r.uses1904)
        let (map, summary, _) = try r.cellMap(0)
        #expect(map[CellRef(row: 0, column: 0)] == .temporal(.date, serial: 1462))
        #expect(ExcelDate.iso(.date, serial: 1462) == "1904-01-01")
        #expect(Set(summary.mergedRanges) == [CellRange(rows: 0...1, columns: 0...2), CellRange(rows: 3...3, columns: 0...1)])
        var chartRows = 0
        let chart = try r.readSheet(at: 2) { _ in chartRows += 1; return true }
        #expect(chartRows == 0 && chart.usedRange == nil)
        #expect(throws: WorkbookError.self) { try r.readSheet(at: 3) { _ in true } }
    }

    /// Excel's 1900 leap-year bug: serials 1-59 show one day later than a plain day count.
    @Test func excelDateBefore1900March() {
        #expect(ExcelDate.iso(.date, serial: 1) == "1900-01-01")
        #expect(ExcelDate.iso(.date, serial: 59) == "1900-02-28")
        #expect(ExcelDate.iso(.date, serial: 61) == "1900-03-01")
        #expect(ExcelDate.iso(.dateTime, serial: 32.5) == "1900-02-01T12:00:00")
        #expect(ExcelDate.iso(.date, serial: 45000) == "2023-03-15")
        #expect(ExcelDate.iso(.time, serial: 0.5) == "12:00:00")
    }

    @Test func visitorCanStopEarly() throws {
        let cells = (0..<10).map { B.number(UInt16($0), 0, Double($0)) }
        let r = try reader(B.workbook(sheets: [("S", cells)]))
        var seen = 0
        _ = try r.readSheet(at: 0) { _ in seen += 1; return seen < 3 }
        #expect(seen == 3)
    }

    @Test func filepassIsEncrypted() throws {
        let filepass = B.record(0x002F, B.le16(1) + [UInt8](repeating: 0, count: 52))
        let e = #expect(throws: WorkbookError.self) {
            try self.reader(B.workbook(globals: [filepass], sheets: [("S", [B.number(0, 0, 1)])]))
        }
        #expect(e?.kind == .encryptedWorkbook)
        #expect(e?.message.contains("password") == true)
        if let path = XLSCorpus.file("calamine__password.xls") {
            let e2 = #expect(throws: WorkbookError.self) { try XLSReader(path: path) }
            #expect(e2?.kind == .encryptedWorkbook)
        }
    }

    @Test func truncatedRecordIsCorrupt() throws {
        var stream = B.workbook(sheets: [("S", [B.number(0, 0, 1), B.number(1, 0, 2)])])
        stream.removeLast(B.eof.count + 6)  // cut into the last NUMBER record
        let r = try reader(stream)
        let e = #expect(throws: WorkbookError.self) { try r.readSheet(at: 0) { _ in true } }
        #expect(e?.kind == .corruptWorkbook)
        // A sheet offset past the stream's end.
        var s2 = B.bof(0x0005) + B.boundsheet(offset: 999_999, name: "S") + B.eof
        s2 += B.bof(0x0010) + B.eof
        let r2 = try reader(s2)
        #expect(throws: WorkbookError.self) { try r2.readSheet(at: 0) { _ in true } }
        // A sheet offset that points inside another record, not at a BOF.
        let s3 = B.workbook(sheets: [("S", [B.number(0, 0, 1)])])
        var patched = s3
        let bsData = s3.count - (B.bof(0x0010).count + B.number(0, 0, 1).count + B.eof.count) - B.eof.count - (B.boundsheet(offset: 0, name: "S").count - 4)
        let wrong = UInt32(s3.count - B.eof.count - 6)
        patched.replaceSubrange(bsData..<(bsData + 4), with: B.le32(wrong))
        let r3 = try reader(patched)
        let e3 = #expect(throws: WorkbookError.self) { try r3.readSheet(at: 0) { _ in true } }
        #expect(e3?.kind == .corruptWorkbook)
    }

    @Test func biff5CodePageStrings() throws {
        // BIFF5 ("Book" stream): 8-bit strings in the CODEPAGE's encoding.
        func bof5(_ dt: UInt16) -> [UInt8] { B.record(0x0809, B.le16(0x0500) + B.le16(dt) + [0, 0, 0, 0]) }
        func label5(_ row: UInt16, _ bytes: [UInt8]) -> [UInt8] {
            B.record(0x0204, B.le16(row) + B.le16(0) + B.le16(15) + B.le16(UInt16(bytes.count)) + bytes)
        }
        for (cp, bytes, text) in [(1252, [0x80, 0x20, 0xE9], "€ é"), (1251, [0xC4, 0xE0], "Да")] as [(UInt16, [UInt8], String)] {
            let name: [UInt8] = [0x53, 0xE9]  // "Sé" in 1252, "Sй" in 1251
            let head = bof5(0x0005) + B.record(0x0042, B.le16(cp))
            let bsLen = 4 + 6 + 1 + name.count
            let offset = head.count + bsLen + B.eof.count
            let stream = head + B.record(0x0085, B.le32(UInt32(offset)) + [0, 0, UInt8(name.count)] + name) + B.eof
                + bof5(0x0010) + label5(0, bytes) + B.eof
            let r = try reader(stream, name: "Book")
            #expect(r.biffVersion == 5)
            #expect(r.sheets.first?.name == (cp == 1252 ? "Sé" : "Sй"))
            let (map, _, _) = try r.cellMap(0)
            #expect(map[CellRef(row: 0, column: 0)] == .string(text))
        }
    }

    @Test func readsBareBIFF4Worksheet() throws {
        guard let path = XLSCorpus.file("xlrd__biff4_no_format_no_window2.xls") else { Issue.record("corpus absent: this test needs the corpus"); return }
        let r = try XLSReader(path: path)
        #expect(r.biffVersion == 4)
        #expect(r.sheets.map(\.name) == ["Sheet1"])
        let (map, summary, _) = try r.cellMap(0)
        #expect(summary.usedRange == CellRange(rows: 0...26, columns: 0...3))
        #expect(summary.cellCount == 108)
        #expect(map[CellRef(row: 0, column: 0)] == .string("ID"))
        #expect(map[CellRef(row: 0, column: 1)] == .string("TOTAL"))
        #expect(map[CellRef(row: 1, column: 1)] == .string("DOG & CAT PRODUCTS"))
    }

    /// A bare BIFF2 worksheet: cells carry 3 attribute bytes (format index in the second),
    /// FORMAT records are numbered by order, strings are 8-bit in the code page.
    @Test func readsBareBIFF2Worksheet() throws {
        let attrGeneral: [UInt8] = [0, 0, 0], attrDate: [UInt8] = [0, 1, 0]
        func fmt(_ code: String) -> [UInt8] { B.record(0x001E, [UInt8(code.utf8.count)] + Array(code.utf8)) }
        let stream = B.record(0x0009, B.le16(2) + B.le16(0x0010))
            + fmt("General") + fmt("d-mmm-yy")
            + B.record(0x0003, B.le16(1) + B.le16(0) + attrGeneral + B.f64(2.75))          // NUMBER
            + B.record(0x0003, B.le16(1) + B.le16(1) + attrDate + B.f64(36526))            // a date
            + B.record(0x0002, B.le16(0) + B.le16(2) + attrGeneral + B.le16(513))          // INTEGER
            + B.record(0x0004, B.le16(0) + B.le16(0) + attrGeneral + [4] + [0x43, 0x61, 0x66, 0xE9])  // "Café" (cp1252)
            + B.record(0x0005, B.le16(2) + B.le16(0) + attrGeneral + [0x24, 1])            // #NUM!
            + B.record(0x0006, B.le16(2) + B.le16(1) + attrGeneral + B.f64(9) + [0, 0, 0])  // FORMULA, cached 9
            + B.eof
        let r = try XLSReader(bytes: stream)
        #expect(r.biffVersion == 2)
        let (map, summary, order) = try r.cellMap(0)
        #expect(order == order.sorted())
        #expect(map[CellRef(row: 0, column: 0)] == .string("Café"))
        #expect(map[CellRef(row: 0, column: 2)] == .number(513))
        #expect(map[CellRef(row: 1, column: 0)] == .number(2.75))
        #expect(map[CellRef(row: 1, column: 1)] == .temporal(.date, serial: 36526))
        #expect(map[CellRef(row: 2, column: 0)] == .error("#NUM!"))
        #expect(map[CellRef(row: 2, column: 1)] == .number(9))
        #expect(summary.cellCount == 6)
    }

    @Test func biff4WorkbookIsUnsupportedWithVersion() throws {
        let stream = B.record(0x0409, B.le16(0) + B.le16(0x0100) + B.le16(0)) + B.eof
        let e = #expect(throws: WorkbookError.self) { try XLSReader(bytes: stream) }
        #expect(e?.kind == .unsupportedFormat)
        #expect(e?.message.contains("BIFF4") == true)
    }

    @Test func definedNamesOfARealFile() throws {
        guard let path = XLSCorpus.file("xlrd__namesdemo.xls") else { Issue.record("corpus absent: this test needs the corpus"); return }
        let r = try XLSReader(path: path)
        let byName = Dictionary(r.definedNames.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for n in r.definedNames { print("name \(n.name) = \(n.refersTo) local=\(n.localSheet.map(String.init) ?? "-") hidden=\(n.hidden)") }
        #expect(byName["Sales"]?.refersTo == "Sheet3!$B$2:$N$2")
        #expect(byName["Sales"]?.localSheet == nil)
        #expect(byName["Apostrophe"]?.refersTo == "'Seamus O''Reilly'!$A$1:$Z$10")
        #expect(byName["Москва"]?.refersTo == "Sheet1!$A$1:$Z$10")
        #expect(byName["UnicodeString"]?.refersTo == "\"αβγδε\"")
        #expect(byName["LocalRange"]?.localSheet == 0 && byName["localRange"]?.localSheet == 1)
        #expect(byName["_xlnm.Print_Titles"]?.refersTo == "Sheet3!$A$1:$A$65536,Sheet3!$A$1:$IV$1")
        #expect(byName["_xlnm.Print_Titles"]?.localSheet == 2)
        // Relative references have no fixed meaning in a name: left out.
        #expect(byName["RelativePos"] == nil && byName["RelativeNeg"] == nil)
    }
}
