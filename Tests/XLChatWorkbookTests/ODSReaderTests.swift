import Foundation
import Testing
@testable import XLChatWorkbook

/// Builds an .ods package around a `content.xml` body (the tables inside office:spreadsheet).
enum ODSTestFile {
    static let namespaces = #"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#
        + #"xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" "#
        + #"xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" "#
        + #"xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" "#
        + #"xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0""#

    static func content(_ tables: String, styles: String = "") -> String {
        #"<?xml version="1.0" encoding="UTF-8"?><office:document-content "# + namespaces + #" office:version="1.3">"#
            + "<office:automatic-styles>\(styles)</office:automatic-styles>"
            + "<office:body><office:spreadsheet>\(tables)</office:spreadsheet></office:body></office:document-content>"
    }

    static func package(content: String, manifest: String? = nil, mimetype: Bool = true) -> ZipTestArchive {
        var z = ZipTestArchive()
        if mimetype { z.add("mimetype", "application/vnd.oasis.opendocument.spreadsheet", deflate: false) }
        z.add("content.xml", content)
        z.add("META-INF/manifest.xml", manifest ?? #"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#)
        return z
    }

    static func write(_ tables: String, styles: String = "") throws -> String {
        try package(content: content(tables, styles: styles)).write(ext: "ods")
    }

    static func cells(_ reader: any WorkbookReader, sheet: Int = 0) throws -> (cells: [String: CellValue], formulas: [String: String], summary: SheetSummary) {
        var cells: [String: CellValue] = [:], formulas: [String: String] = [:]
        let summary = try reader.readSheet(at: sheet) { row in
            for c in row.cells {
                let ref = CellRef(row: row.index, column: c.column).description
                cells[ref] = c.value
                if let f = c.formula { formulas[ref] = f }
            }
            return true
        }
        return (cells, formulas, summary)
    }

    static func cell(_ attrs: String, _ text: String = "") -> String {
        text.isEmpty ? "<table:table-cell \(attrs)/>" : "<table:table-cell \(attrs)><text:p>\(text)</text:p></table:table-cell>"
    }
}

@Suite("ODS reader")
struct ODSReaderTests {
    static let elevenTwelve: Double = 40332.0 / 86400.0  // 11:12:12

    func c(_ attrs: String, _ text: String = "") -> String { ODSTestFile.cell(attrs, text) }
    @Test("value types: float, percentage, currency, date, date-time, time, duration, boolean, string, unknown")
    func valueTypes() throws {
        let row1 = c(#"office:value-type="float" office:value="11.5""#, "11,5")
            + c(#"office:value-type="percentage" office:value="0.25""#, "25%")
            + c(#"office:value-type="currency" office:currency="EUR" office:value="-3""#, "-3 €")
            + c(#"office:value-type="date" office:date-value="2014-11-11""#, "11.11.14")
            + c(#"office:value-type="date" office:date-value="2024-03-01T12:30:00""#, "x")
            + c(#"office:value-type="time" office:time-value="PT11H12M12S""#, "11:12:12")
            + c(#"office:value-type="time" office:time-value="PT288H00M00S""#, "288:00:00")
        let row2 = c(#"office:value-type="boolean" office:boolean-value="true" calcext:value-type="boolean""#, "WAHR")
            + c(#"office:value-type="boolean" office:boolean-value="false""#, "VRAI")
            + c(#"office:value-type="string" calcext:value-type="string""#, "abc")
            + c(#"office:value-type="unknown" calcext:value-type="string""#, "abcd")
            + c("", "no type")
            + c(#"office:value-type="float" office:value="3" table:formula="of:=[.A1]*2""#, "3")
            + c(#"office:value-type="string" office:string-value="from attribute""#, "display")
            + c(#"table:formula="of:=1/0" office:value-type="float" office:value="0" calcext:value-type="error""#, "#DIV/0!")
            + c(#"office:value-type="float" office:value="NaN""#, "not a number")
        let path = try ODSTestFile.write("<table:table table:name=\"S\"><table:table-row>\(row1)</table:table-row><table:table-row>\(row2)</table:table-row></table:table>")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try Workbooks.open(path: path, evaluateFormulas: false)
        #expect(reader is ODSReader)
        #expect(reader.format == .ods)
        let (cells, formulas, summary) = try ODSTestFile.cells(reader)
        #expect(cells["A1"] == .number(11.5))
        #expect(cells["B1"] == .number(0.25))
        #expect(cells["C1"] == .number(-3))
        #expect(cells["D1"]?.isoText == "2014-11-11")
        if case .temporal(.date, _) = cells["D1"] {} else { Issue.record("D1 is not a date: \(String(describing: cells["D1"]))") }
        #expect(cells["E1"]?.isoText == "2024-03-01T12:30:00")
        #expect(cells["F1"] == .temporal(.time, serial: ODSReaderTests.elevenTwelve))
        #expect(cells["G1"] == .temporal(.duration, serial: 12))
        #expect(cells["G1"]?.isoText == "PT1036800S")
        #expect(cells["A2"] == .bool(true))
        #expect(cells["B2"] == .bool(false), "the value attribute decides, not the localised text")
        #expect(cells["C2"] == .string("abc"))
        #expect(cells["D2"] == .string("abcd"), "unknown value types are kept as text")
        #expect(cells["E2"] == .string("no type"))
        #expect(cells["F2"] == .number(3))
        #expect(formulas["F2"] == "[.A1]*2")
        #expect(cells["G2"] == .string("from attribute"))
        #expect(cells["H2"] == .error("#DIV/0!"), "calcext:value-type=\"error\" marks a formula's error result")
        #expect(cells["I2"] == .string("not a number"), "a non-finite value keeps its text")
        #expect(summary.usedRange == CellRange(rows: 0...1, columns: 0...8))
        #expect(summary.cellCount == 16)
    }

    @Test("text: paragraphs joined with newlines, text:s, text:tab, text:line-break, spans, entities; annotations left out")
    func text() throws {
        let cell1 = #"<table:table-cell office:value-type="string"><text:p>Line 1</text:p><text:p/><text:p>Line <text:span>2</text:span> &amp; more</text:p></table:table-cell>"#
        let cell2 = #"<table:table-cell office:value-type="string"><text:p>a<text:tab/>b<text:s text:c="3"/>c<text:s/>d<text:line-break/>e</text:p></table:table-cell>"#
        let cell3 = #"<table:table-cell office:value-type="string"><office:annotation><text:p>a comment</text:p></office:annotation><text:p>test</text:p></table:table-cell>"#
        let path = try ODSTestFile.write("<table:table table:name=\"S\"><table:table-row>\(cell1)\(cell2)\(cell3)</table:table-row></table:table>")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (cells, _, _) = try ODSTestFile.cells(try ODSReader(path: path))
        #expect(cells["A1"] == .string("Line 1\n\nLine 2 & more"))
        #expect(cells["B1"] == .string("a\tb   c d\ne"))
        #expect(cells["C1"] == .string("test"))
    }

    @Test("repeated rows and cells: content is delivered once per repeat, empty repeats only move the position")
    func repeats() throws {
        let tables = "<table:table table:name=\"S\">"
            + "<table:table-column table:number-columns-repeated=\"16384\"/>"
            + "<table:table-row table:number-rows-repeated=\"2\">"
            + c(#"table:number-columns-repeated="2""#)
            + c(#"office:value-type="float" office:value="7" table:number-columns-repeated="3""#, "7")
            + c(#"table:number-columns-repeated="16379""#)
            + "</table:table-row>"
            + "<table:table-row table:number-rows-repeated=\"3\">" + c(#"table:number-columns-repeated="16384""#) + "</table:table-row>"
            + "<table:table-row>" + c(#"office:value-type="string""#, "last") + "</table:table-row>"
            + "<table:table-row table:number-rows-repeated=\"1048570\">" + c(#"table:number-columns-repeated="16384""#) + "</table:table-row>"
            + "</table:table>"
        let path = try ODSTestFile.write(tables)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var rows: [Int] = []
        let reader = try ODSReader(path: path)
        let summary = try reader.readSheet(at: 0) { row in rows.append(row.index); return true }
        #expect(rows == [0, 1, 5])
        let (cells, _, _) = try ODSTestFile.cells(reader)
        #expect(cells.count == 7)
        for ref in ["C1", "D1", "E1", "C2", "D2", "E2"] { #expect(cells[ref] == .number(7), "\(ref)") }
        #expect(cells["A6"] == .string("last"))
        #expect(summary.usedRange == CellRange(rows: 0...5, columns: 0...4))
    }

    @Test("a repeat count of 10^9 empty columns or rows costs nothing; with content it is tooLarge")
    func hugeRepeats() throws {
        let empty = "<table:table table:name=\"S\">"
            + "<table:table-row>" + c(#"office:value-type="float" office:value="1""#, "1") + c(#"table:number-columns-repeated="1000000000""#) + "</table:table-row>"
            + "<table:table-row table:number-rows-repeated=\"1000000000\">" + c(#"table:number-columns-repeated="1000000000""#) + "</table:table-row>"
            + "</table:table>"
        let path = try ODSTestFile.write(empty)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clock = ContinuousClock()
        let start = clock.now
        let (cells, _, summary) = try ODSTestFile.cells(try ODSReader(path: path))
        #expect(clock.now - start < .seconds(5))
        #expect(cells == ["A1": .number(1)])
        #expect(summary.usedRange == CellRange(rows: 0...0, columns: 0...0))

        let wideContent = "<table:table table:name=\"S\"><table:table-row>"
            + c(#"office:value-type="float" office:value="1" table:number-columns-repeated="1000000000""#, "1")
            + "</table:table-row></table:table>"
        let p2 = try ODSTestFile.write(wideContent)
        defer { try? FileManager.default.removeItem(atPath: p2) }
        #expect(xlsxErrorKind { _ = try ODSTestFile.cells(try ODSReader(path: p2)) } == .tooLarge)

        let tallContent = "<table:table table:name=\"S\"><table:table-row table:number-rows-repeated=\"1000000000\">"
            + c(#"office:value-type="string""#, "x") + "</table:table-row></table:table>"
        let p3 = try ODSTestFile.write(tallContent)
        defer { try? FileManager.default.removeItem(atPath: p3) }
        var delivered = 0
        let kind = xlsxErrorKind { _ = try ODSReader(path: p3).readSheet(at: 0) { _ in delivered += 1; return true } }
        #expect(kind == .tooLarge)
        #expect(delivered == 0, "the limit is checked before any repeat is delivered")
    }

    @Test("merged cells from number-columns-spanned / number-rows-spanned; covered cells keep their own content")
    func merged() throws {
        let row1 = #"<table:table-cell office:value-type="string" table:number-columns-spanned="2" table:number-rows-spanned="3"><text:p>title</text:p></table:table-cell><table:covered-table-cell/><table:table-cell office:value-type="float" office:value="1"/>"#
        let row2 = #"<table:covered-table-cell table:number-columns-repeated="2"/><table:table-cell office:value-type="float" office:value="2" table:number-columns-spanned="1"/>"#
        let path = try ODSTestFile.write("<table:table table:name=\"S\"><table:table-row>\(row1)</table:table-row><table:table-row>\(row2)</table:table-row></table:table>")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (cells, _, summary) = try ODSTestFile.cells(try ODSReader(path: path))
        #expect(summary.mergedRanges == [CellRange(rows: 0...2, columns: 0...1)])
        #expect(cells == ["A1": .string("title"), "C1": .number(1), "C2": .number(2)])
    }

    @Test("sheets: names, hidden tables through their automatic style, empty tables, defined names")
    func sheetsAndNames() throws {
        let styles = #"<style:style style:name="ta1" style:family="table"><style:table-properties table:display="true"/></style:style><style:style style:name="ta2" style:family="table"><style:table-properties table:display="false"/></style:style>"#
        let tables = #"<table:table table:name="Shown" table:style-name="ta1"><table:table-row><table:table-cell office:value-type="float" office:value="1"/></table:table-row></table:table>"#
            + #"<table:table table:name="Secret" table:style-name="ta2"><table:named-expressions><table:named-range table:name="Local" table:base-cell-address="$Secret.$A$1" table:cell-range-address="$Secret.$A$1"/></table:named-expressions></table:table>"#
            + #"<table:table table:name="It's empty"/>"#
            + #"<table:named-expressions><table:named-range table:name="Totals" table:base-cell-address="$Shown.$A$1" table:cell-range-address="$Shown.$A$1:.$B$9"/><table:named-expression table:name="Rate" table:base-cell-address="$Shown.$A$1" table:expression="of:=0.19"/></table:named-expressions>"#
        let path = try ODSTestFile.write(tables, styles: styles)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try ODSReader(path: path)
        #expect(reader.sheets.map(\.name) == ["Shown", "Secret", "It's empty"])
        #expect(reader.sheets.map(\.visibility) == [.visible, .hidden, .visible])
        #expect(reader.definedNames.contains(DefinedName(name: "Totals", refersTo: "Shown!$A$1:$B$9")))
        #expect(reader.definedNames.contains(DefinedName(name: "Rate", refersTo: "0.19")))
        #expect(reader.definedNames.contains(DefinedName(name: "Local", refersTo: "Secret!$A$1", localSheet: 1)))
        #expect(try ODSTestFile.cells(reader, sheet: 0).cells == ["A1": .number(1)])
        #expect(try ODSTestFile.cells(reader, sheet: 1).summary.usedRange == nil)
        #expect(try ODSTestFile.cells(reader, sheet: 2).summary.usedRange == nil)
        #expect(xlsxErrorKind { try reader.readSheet(at: 3) { _ in true } } == .unknownSheet)
    }

    @Test("a table nested in a cell is not a sheet; a later sheet is read after skimming the earlier ones")
    func nestedAndLaterTables() throws {
        let first = #"<table:table table:name="One"><table:table-row><table:table-cell office:value-type="string"><text:p>outer</text:p>"#
            + #"<table:table table:name="Inner"><table:table-row><table:table-cell office:value-type="float" office:value="99"/><table:table-cell office:value-type="string"><text:p>inner text</text:p></table:table-cell></table:table-row></table:table>"#
            + #"</table:table-cell><table:table-cell office:value-type="float" office:value="1"/></table:table-row></table:table>"#
        let second = #"<table:table table:name="Two"><table:table-row table:number-rows-repeated="2"><table:table-cell/></table:table-row><table:table-row><table:table-cell office:value-type="float" office:value="2"/></table:table-row></table:table>"#
        let path = try ODSTestFile.write(first + second)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try ODSReader(path: path)
        #expect(reader.sheets.map(\.name) == ["One", "Two"])
        let one = try ODSTestFile.cells(reader, sheet: 0).cells
        #expect(one["A1"] == .string("outer"))
        #expect(one["B1"] == .number(1))
        #expect(try ODSTestFile.cells(reader, sheet: 1).cells == ["A3": .number(2)])
    }

    @Test("the visitor can stop early")
    func stopEarly() throws {
        var rows = ""
        for i in 0..<50 { rows += #"<table:table-row><table:table-cell office:value-type="float" office:value="\#(i)"/></table:table-row>"# }
        let path = try ODSTestFile.write("<table:table table:name=\"S\">\(rows)</table:table>")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var seen = 0
        try ODSReader(path: path).readSheet(at: 0) { _ in seen += 1; return seen < 3 }
        #expect(seen == 3)
    }

    @Test("an encrypted ods (manifest with encryption-data) is encryptedWorkbook")
    func encrypted() throws {
        let manifest = #"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml" manifest:size="1234"><manifest:encryption-data manifest:checksum-type="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0#sha256-1k" manifest:checksum="AAAA"><manifest:algorithm manifest:algorithm-name="http://www.w3.org/2001/04/xmlenc#aes256-cbc" manifest:initialisation-vector="AAAA"/></manifest:encryption-data></manifest:file-entry></manifest:manifest>"#
        var z = ODSTestFile.package(content: "not xml at all: encrypted bytes \u{1}\u{2}", manifest: manifest)
        z.members[1].data = (0..<500).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let path = try z.write(ext: "ods")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(xlsxErrorKind { _ = try Workbooks.open(path: path) } == .encryptedWorkbook)
    }

    @Test("a truncated or malformed content.xml is corruptWorkbook")
    func badContent() throws {
        let good = ODSTestFile.content(#"<table:table table:name="S"><table:table-row><table:table-cell office:value-type="float" office:value="1"/></table:table-row></table:table>"#)
        var cases: [(String, String)] = []
        // Cut inside a tag, and cut between tags (elements left open).
        if let r = good.range(of: "office:value=") { cases.append(("cut inside a tag", String(good[..<r.upperBound]))) }
        if let r = good.range(of: "</table:table-row>") { cases.append(("cut after a row", String(good[..<r.upperBound]))) }
        cases.append(("unbalanced end tags", good + "</office:body></office:body>"))
        cases.append(("an undeclared entity", good.replacingOccurrences(of: "table:name=\"S\"", with: "table:name=\"&bogus;\"")))
        cases.append(("a DOCTYPE", "<!DOCTYPE x [<!ENTITY a \"b\">]>" + good))
        cases.append(("empty content.xml", ""))
        for (what, xml) in cases {
            let path = try ODSTestFile.package(content: xml).write(ext: "ods")
            defer { try? FileManager.default.removeItem(atPath: path) }
            let kind = xlsxErrorKind {
                let r = try Workbooks.open(path: path)
                for i in r.sheets.indices { try r.readSheet(at: i) { _ in true } }
            }
            #expect(kind == .corruptWorkbook, "\(what)")
        }
        // A package without content.xml, and a truncated zip.
        var z = ODSTestFile.package(content: good)
        z.members.remove(at: 1)
        let noContent = try z.write(ext: "ods")
        defer { try? FileManager.default.removeItem(atPath: noContent) }
        #expect(xlsxErrorKind { _ = try Workbooks.open(path: noContent) } == .corruptWorkbook)
        let whole = ODSTestFile.package(content: good).bytes()
        let cut = try ZipTestFiles.write(Array(whole[0..<(whole.count - 40)]), ext: "ods")
        defer { try? FileManager.default.removeItem(atPath: cut) }
        #expect(xlsxErrorKind { _ = try Workbooks.open(path: cut) } == .corruptWorkbook)
    }

    @Test("other OpenDocument packages are unsupportedFormat")
    func textDocument() throws {
        var z = ZipTestArchive()
        z.add("mimetype", "application/vnd.oasis.opendocument.text", deflate: false)
        z.add("content.xml", ODSTestFile.content(""))
        let path = try z.write(ext: "odt")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(xlsxErrorKind { _ = try Workbooks.open(path: path) } == .unsupportedFormat)
    }

    @Test("duration and range address parsing")
    func helpers() {
        #expect(ODS.duration("PT11H12M12S") == ODSReaderTests.elevenTwelve)
        #expect(ODS.duration("-PT1H") == -1 / 24.0)
        #expect(ODS.duration("P1DT12H") == 1.5)
        #expect(ODS.duration("PT36610.1S") == 36610.1 / 86400)
        #expect(ODS.duration("11:00") == nil)
        #expect(ODS.duration("PT") == nil)
        #expect(ODS.rangeAddress("$'My sheet'.$A$1:.$C$3") == "'My sheet'!$A$1:$C$3")
        #expect(ODS.rangeAddress("$Sheet1.B2") == "Sheet1!B2")
    }
}

@Suite("ODS and XLSB through the workbook outline")
struct ODSOutlineTests {
    @Test("an ods sheet with a header row infers a typed table, as the other formats do")
    func odsTable() throws {
        func c(_ a: String, _ t: String = "") -> String { ODSTestFile.cell(a, t) }
        var rows = "<table:table-row>" + c(#"office:value-type="string""#, "id") + c(#"office:value-type="string""#, "when")
            + c(#"office:value-type="string""#, "name") + c(#"office:value-type="string""#, "ok") + "</table:table-row>"
        for i in 1...40 {
            rows += "<table:table-row>" + c(#"office:value-type="float" office:value="\#(i)""#, "\(i)")
                + c(#"office:value-type="date" office:date-value="2024-01-\#(String(format: "%02d", i % 28 + 1))""#, "d")
                + c(#"office:value-type="string""#, "n\(i)")
                + c(#"office:value-type="boolean" office:boolean-value="\#(i % 2 == 0)""#, "VRAI")
                + c(#"table:number-columns-repeated="16380""#) + "</table:table-row>"
        }
        rows += "<table:table-row table:number-rows-repeated=\"1048535\">" + c(#"table:number-columns-repeated="16384""#) + "</table:table-row>"
        let path = try ODSTestFile.write("<table:table table:name=\"Orders\">\(rows)</table:table>")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let outline = try WorkbookOutline.build(reader: try Workbooks.open(path: path), path: path, contentHash: "x")
        #expect(outline.format == .ods)
        let sheet = try #require(outline.sheets.first)
        #expect(sheet.rowCount == 41 && sheet.columnCount == 4)
        let table = try #require(sheet.table)
        #expect(table.columns.map(\.header) == ["id", "when", "name", "ok"])
        #expect(table.columns.map(\.type) == [.integer, .date, .text, .boolean])
        #expect(table.dataRange == CellRange(rows: 1...40, columns: 0...3))
    }

    @Test("an xlsb sheet with a header row infers a typed table")
    func xlsbTable() throws {
        var r = XLSBRecords()
        r.row(0)
        r.add(0x07, XLSBRecords.cell(0) + XLSBRecords.u32(0))
        r.add(0x07, XLSBRecords.cell(1) + XLSBRecords.u32(1))
        for i in 1...30 {
            r.row(i)
            r.add(0x02, XLSBRecords.cell(0) + XLSBRecords.u32(UInt32(i << 2) | 2))
            r.add(0x05, XLSBRecords.cell(1, style: 1) + XLSBRecords.f64(45000 + Double(i)))
        }
        let path = try XLSBTestFile.write(XLSBTestFile.package(sheets: [.init(name: "S", records: r)], strings: ["n", "day"]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let outline = try WorkbookOutline.build(reader: try Workbooks.open(path: path), path: path, contentHash: "x")
        #expect(outline.format == .xlsb)
        let table = try #require(outline.sheets.first?.table)
        #expect(table.columns.map(\.header) == ["n", "day"])
        #expect(table.columns.map(\.type) == [.integer, .date])
    }
}
