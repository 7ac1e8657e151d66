import Foundation
import Testing
@testable import XLChatWorkbook

@Suite("XLSXReader")
struct XLSXReaderTests {
    static let styles = #"<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\-mm\-dd"/><numFmt numFmtId="165" formatCode="[h]:mm:ss"/></numFmts>"#
        + #"<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>"#
        + #"<cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="22"/><xf numFmtId="21"/><xf numFmtId="165"/></cellXfs>"#

    @Test("cell types: numbers, shared/inline/formula strings, booleans, errors, ISO dates, styles to temporal kinds")
    func cellTypes() throws {
        var wb = XLSXTestWorkbook()
        wb.styles = Self.styles
        wb.sharedStrings = #"<si><t>plain</t></si><si><r><t xml:space="preserve">rich </t></r><r><rPr><b/></rPr><t>text</t></r><rPh sb="0" eb="1"><t>フリガナ</t></rPh></si><si><t>a_x000D_b_x005F_x0041_ &amp; &#233;&#x1F600;</t></si><si><t/></si>"#
        wb.sheets = [("Data", XLSXTestWorkbook.sheetXML(
            #"<row r="1"><c r="A1"><v>42.5</v></c><c r="B1" t="s"><v>0</v></c><c r="C1" t="s"><v>1</v></c><c r="D1" t="s"><v>2</v></c><c r="E1" t="s"><v>3</v></c></row>"#
            + #"<row r="2"><c r="A2" t="b"><v>1</v></c><c r="B2" t="e"><v>#DIV/0!</v></c><c r="C2" t="inlineStr"><is><t>inline</t></is></c><c r="D2" t="str"><f>"x"&amp;"y"</f><v>xy</v></c></row>"#
            + #"<row r="3"><c r="A3" s="1"><v>45000</v></c><c r="B3" s="2"><v>45000.5</v></c><c r="C3" s="3"><v>0.25</v></c><c r="D3" s="4"><v>1.5</v></c><c r="E3" t="d"><v>2024-03-01T10:30:00</v></c><c r="F3" t="d"><v>2024-03-01</v></c></row>"#
            + #"<row r="4"><c r="A4" s="1"/><c r="B4"><v></v></c><c r="C4" t="n"><v>-1.5E3</v></c></row>"#), nil, "worksheet")]
        let reader = try XLSXReader(path: try wb.write())
        let (cells, formulas, summary) = try xlsxReadCells(reader, sheet: 0)
        #expect(cells["A1"] == .number(42.5))
        #expect(cells["B1"] == .string("plain"))
        #expect(cells["C1"] == .string("rich text"))          // runs joined, phonetic run left out
        #expect(cells["D1"] == .string("a\rb_x0041_ & é😀"))   // _xHHHH_ escapes, _x005F_ escapes the escape
        #expect(cells["E1"] == nil)                           // the empty string is an empty cell
        #expect(cells["A2"] == .bool(true))
        #expect(cells["B2"] == .error("#DIV/0!"))
        #expect(cells["C2"] == .string("inline"))
        #expect(cells["D2"] == .string("xy"))
        #expect(formulas["D2"] == #""x"&"y""#)
        #expect(cells["A3"] == .temporal(.date, serial: 45000))
        #expect(cells["B3"] == .temporal(.dateTime, serial: 45000.5))
        #expect(cells["C3"] == .temporal(.time, serial: 0.25))
        #expect(cells["D3"] == .temporal(.duration, serial: 1.5))
        #expect(cells["E3"].flatMap { $0.isoText } == "2024-03-01T10:30:00")
        #expect(cells["F3"].flatMap { $0.isoText } == "2024-03-01")
        #expect(cells["A4"] == nil && cells["B4"] == nil)
        #expect(cells["C4"] == .number(-1500))
        #expect(summary.usedRange == A1.parseRange("A1:F4")?.range)
        #expect(summary.cellCount == cells.count)
    }

    @Test("the 1904 date system shifts date serials by 1462 days")
    func date1904() throws {
        var wb = XLSXTestWorkbook()
        wb.styles = Self.styles
        wb.workbookPr = #"<workbookPr date1904="true"/>"#
        wb.workbookExtra = #"<extLst><ext><x14:workbookPr xmlns:x14="urn:x14"/></ext></extLst>"#
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(#"<row r="1"><c r="A1" s="1"><v>0</v></c><c r="B1" s="4"><v>2</v></c></row>"#), nil, "worksheet")]
        let reader = try XLSXReader(path: try wb.write())
        #expect(reader.date1904)
        let cells = try xlsxReadCells(reader, sheet: 0).cells
        #expect(cells["A1"]?.isoText == "1904-01-01")
        #expect(cells["B1"] == .temporal(.duration, serial: 2))  // durations are not dates: no shift
    }

    @Test("sheets: order, names, hidden and very hidden, chart sheets listed without cells; defined names")
    func workbookStructure() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [
            ("First &amp; Co", XLSXTestWorkbook.sheetXML(#"<row r="1"><c r="A1"><v>1</v></c></row>"#), nil, "worksheet"),
            ("Hidden", XLSXTestWorkbook.sheetXML(""), "hidden", "worksheet"),
            ("Secret", XLSXTestWorkbook.sheetXML(""), "veryHidden", "worksheet"),
            ("Chart1", #"<chartsheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>"#, nil, "chartsheet"),
        ]
        wb.workbookExtra = #"<definedNames><definedName name="Totals">'First &amp; Co'!$A$1:$A$9</definedName><definedName name="_xlnm._FilterDatabase" localSheetId="1" hidden="1">Hidden!$A$1</definedName></definedNames>"#
        let reader = try XLSXReader(path: try wb.write())
        #expect(reader.format == .xlsx)
        #expect(reader.sheets.map(\.name) == ["First & Co", "Hidden", "Secret", "Chart1"])
        #expect(reader.sheets.map(\.visibility) == [.visible, .hidden, .veryHidden, .visible])
        #expect(reader.sheets.map(\.kind) == [.worksheet, .worksheet, .worksheet, .chartsheet])
        var rows = 0
        let chart = try reader.readSheet(at: 3) { _ in rows += 1; return true }
        #expect(rows == 0 && chart.usedRange == nil)
        #expect(reader.definedNames == [
            DefinedName(name: "Totals", refersTo: "'First & Co'!$A$1:$A$9"),
            DefinedName(name: "_xlnm._FilterDatabase", refersTo: "Hidden!$A$1", localSheet: 1, hidden: true),
        ])
        #expect(xlsxErrorKind { try reader.readSheet(at: 9) { _ in true } } == .unknownSheet)
    }

    @Test("cells and rows without r, columns to XFD, a lying dimension, merged ranges, unsorted cells")
    func positions() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(
            #"<row><c><v>1</v></c><c><v>2</v></c><c r="E1"><v>5</v></c><c><v>6</v></c></row>"#
            + #"<row><c r="B3"><v>3</v></c></row>"#
            + #"<row r="7"><c r="XFD7"><v>7</v></c><c r="C7"><v>8</v></c></row>"#,
            before: #"<dimension ref="A1:XFD1000000000"/>"#,
            after: #"<mergeCells count="2"><mergeCell ref="A1:B1"/><mergeCell ref="C7:D8"/></mergeCells>"#), nil, "worksheet")]
        let reader = try XLSXReader(path: try wb.write())
        var indexes: [Int] = []
        let (cells, _, summary) = try xlsxReadCells(reader, sheet: 0)
        _ = try reader.readSheet(at: 0) { row in
            indexes.append(row.index)
            #expect(row.cells.map(\.column) == row.cells.map(\.column).sorted())
            return true
        }
        #expect(cells["A1"] == .number(1) && cells["B1"] == .number(2) && cells["E1"] == .number(5) && cells["F1"] == .number(6))
        #expect(cells["B3"] == .number(3))
        #expect(cells["XFD7"] == .number(7) && cells["C7"] == .number(8))
        #expect(indexes == [0, 2, 6])
        #expect(summary.usedRange == CellRange(rows: 0...6, columns: 0...16383))
        #expect(summary.mergedRanges == [A1.parseRange("A1:B1")!.range, A1.parseRange("C7:D8")!.range])
    }

    @Test("a dimension claiming 10^9 rows is ignored; a row number past Excel's limit is corrupt")
    func hugeClaims() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(#"<row r="2"><c r="A2"><v>1</v></c></row>"#,
                                                 before: #"<dimension ref="A1:B1000000000"/>"#), nil, "worksheet")]
        let (_, _, summary) = try xlsxReadCells(try XLSXReader(path: try wb.write()), sheet: 0)
        #expect(summary.usedRange == A1.parseRange("A2")!.range)
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(#"<row r="1000000000"><c><v>1</v></c></row>"#), nil, "worksheet")]
        #expect(xlsxErrorKind { _ = try xlsxReadCells(try XLSXReader(path: try wb.write()), sheet: 0) } == .corruptWorkbook)
    }

    @Test("shared formulas: the anchor keeps its text, dependents get it moved by their offset")
    func sharedFormulas() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(
            #"<row r="1"><c r="C1"><f t="shared" ref="C1:C3" si="0">A1*$B$1+SUM(A1:B1)+Sheet2!A1</f><v>1</v></c></row>"#
            + #"<row r="2"><c r="C2"><f t="shared" si="0"/><v>2</v></c></row>"#
            + #"<row r="3"><c r="D3"><f t="shared" si="0"/><v>3</v></c></row>"#), nil, "worksheet")]
        let (_, formulas, _) = try xlsxReadCells(try XLSXReader(path: try wb.write()), sheet: 0)
        #expect(formulas["C1"] == "A1*$B$1+SUM(A1:B1)+Sheet2!A1")
        #expect(formulas["C2"] == "A2*$B$1+SUM(A2:B2)+Sheet2!A2")
        #expect(formulas["D3"] == "B3*$B$1+SUM(B3:C3)+Sheet2!B3")
    }

    @Test("declared tables through the sheet's relationships")
    func tables() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [("Sales", XLSXTestWorkbook.sheetXML(#"<row r="2"><c r="B2" t="inlineStr"><is><t>Region</t></is></c></row>"#), nil, "worksheet")]
        wb.sheetRels = [0: #"<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/table" Target="../tables/table1.xml"/>"#]
        wb.extraParts = [("xl/tables/table1.xml", #"<table xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" id="1" name="Table1" displayName="SalesTable" ref="B2:C10" headerRowCount="1"><tableColumns count="2"><tableColumn id="1" name="Region"/><tableColumn id="2" name="Amount_x000A_EUR"/></tableColumns></table>"#)]
        let reader = try XLSXReader(path: try wb.write())
        #expect(reader.declaredTables == [DeclaredTable(name: "SalesTable", sheet: "Sales", range: A1.parseRange("B2:C10")!.range,
                                                        headerRowCount: 1, columnNames: ["Region", "Amount\nEUR"])])
    }

    @Test("Strict OOXML namespaces, prefixed elements, odd zip names, xlsm, unknown extension")
    func packageVariants() throws {
        var wb = XLSXTestWorkbook()
        wb.strict = true
        wb.sheets = [("S", #"<x:worksheet xmlns:x="http://purl.oclc.org/ooxml/spreadsheetml/main"><x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>strict</x:t></x:is></x:c><x:c r="B1"><x:v>2</x:v></x:c></x:row></x:sheetData></x:worksheet>"#, nil, "worksheet")]
        wb.nameTransform = { $0.uppercased().replacingOccurrences(of: "/", with: "\\") }
        wb.macroEnabled = true
        let reader = try XLSXReader(path: try wb.write(ext: "bin"))
        #expect(reader.format == .xlsm)
        let cells = try xlsxReadCells(reader, sheet: 0).cells
        #expect(cells == ["A1": .string("strict"), "B1": .number(2)])
    }

    @Test("XML with a DOCTYPE or an entity declaration is refused, never expanded")
    func doctypeRefused() throws {
        let lol = #"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>"#
        var wb = XLSXTestWorkbook()
        let body = #"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>"#
        wb.sheets = [("S", lol + body, nil, "worksheet")]
        let reader = try XLSXReader(path: try wb.write())
        #expect(xlsxErrorKind { _ = try xlsxReadCells(reader, sheet: 0) } == .corruptWorkbook)
        // In the shared strings, and in the workbook part itself.
        var wb2 = XLSXTestWorkbook()
        wb2.sheets = [("S", XLSXTestWorkbook.sheetXML(#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#), nil, "worksheet")]
        wb2.sharedStrings = #"<!ENTITY x SYSTEM "file:///etc/passwd"><si><t>&x;</t></si>"#
        #expect(xlsxErrorKind { _ = try xlsxReadCells(try XLSXReader(path: try wb2.write()), sheet: 0) } == .corruptWorkbook)
        var wb3 = XLSXTestWorkbook()
        wb3.sheets = [("S", XLSXTestWorkbook.sheetXML(""), nil, "worksheet")]
        wb3.workbookPr = #"<!DOCTYPE workbook SYSTEM "http://example.com/x.dtd">"#
        #expect(xlsxErrorKind { _ = try XLSXReader(path: try wb3.write()) } == .corruptWorkbook)
        // An undeclared entity reference (nothing declared it) is corrupt too.
        var wb4 = XLSXTestWorkbook()
        wb4.sheets = [("S", XLSXTestWorkbook.sheetXML(#"<row r="1"><c r="A1" t="inlineStr"><is><t>&nbsp;</t></is></c></row>"#), nil, "worksheet")]
        #expect(xlsxErrorKind { _ = try xlsxReadCells(try XLSXReader(path: try wb4.write()), sheet: 0) } == .corruptWorkbook)
    }

    @Test("bad packages: not a zip, zero bytes, truncated, a zip without a workbook, an xlsb")
    func badPackages() throws {
        #expect(xlsxErrorKind { _ = try XLSXReader(path: try ZipTestFiles.write(Array("<html></html>".utf8), ext: "xlsx")) } == .corruptWorkbook)
        #expect(xlsxErrorKind { _ = try XLSXReader(path: try ZipTestFiles.write([], ext: "xlsx")) } == .corruptWorkbook)
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(String(repeating: #"<row><c><v>1</v></c></row>"#, count: 2000)), nil, "worksheet")]
        let whole = wb.zip().bytes()
        #expect(xlsxErrorKind { _ = try XLSXReader(path: try ZipTestFiles.write(Array(whole.prefix(whole.count - 30)), ext: "xlsx")) } == .corruptWorkbook)
        var notWorkbook = ZipTestArchive()
        notWorkbook.add("hello.txt", "hi")
        #expect(xlsxErrorKind { _ = try XLSXReader(path: try notWorkbook.write()) } == .corruptWorkbook)
        var xlsb = ZipTestArchive()
        xlsb.add("xl/workbook.bin", "binary")
        #expect(xlsxErrorKind { _ = try XLSXReader(path: try xlsb.write()) } == .unsupportedFormat)
        #expect(xlsxErrorKind { _ = try XLSXReader(path: "/nonexistent.xlsx") } == .fileNotFound)
    }

    @Test("the visitor can stop early")
    func stopEarly() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(String(repeating: #"<row><c><v>1</v></c></row>"#, count: 100)), nil, "worksheet")]
        let reader = try XLSXReader(path: try wb.write())
        var seen = 0
        try reader.readSheet(at: 0) { _ in seen += 1; return seen < 3 }
        #expect(seen == 3)
    }

    @Test("a corpus workbook under an unknown extension reads the same")
    func unknownExtension() throws {
        guard let dir = xlsxCorpusDirectory() else { Issue.record("corpus absent: this test needs the corpus"); return }
        let src = dir.appendingPathComponent("files/frictionless__table.xlsx").path
        let copy = NSTemporaryDirectory() + "xlchat-\(UUID().uuidString).dat"
        try FileManager.default.copyItem(atPath: src, toPath: copy)
        let a = try xlsxReadCells(try XLSXReader(path: src), sheet: 0).cells
        let b = try xlsxReadCells(try XLSXReader(path: copy), sheet: 0).cells
        #expect(a == b && !a.isEmpty)
    }
}

@Suite("XMLScanner")
struct XMLScannerTests {
    struct Recorder: XMLScanHandler {
        var events: [String] = []
        mutating func start(_ tag: XMLTag) throws {
            var attrs: [String] = []
            tag.forEachAttribute { n, v in attrs.append(String(decoding: n, as: UTF8.self) + "=" + String(decoding: v, as: UTF8.self)) }
            events.append("<" + String(decoding: tag.name, as: UTF8.self) + " " + attrs.joined(separator: ","))
        }
        mutating func end(_ localName: UnsafeRawBufferPointer) throws { events.append("/" + String(decoding: localName, as: UTF8.self)) }
        mutating func text(_ raw: UnsafeRawBufferPointer, cdata: Bool) throws {
            if cdata { events.append("#" + String(decoding: raw, as: UTF8.self)) } else { events.append("#" + (try XMLText.string(raw))) }
        }
    }

    @Test("tokens are the same whether fed whole or byte by byte")
    func chunkingInvariant() throws {
        let xml = #"<?xml version="1.0"?><!-- c > d --><x:a p:q="1>2" r='s'>t &amp; &lt;u&gt; &#65;&#x42;<![CDATA[<raw>&amp;]]><b/><c d="e"/>tail</x:a>"#
        var whole = Recorder()
        try XMLScanner.scan(Array(xml.utf8), &whole)
        var drip = Recorder()
        var s = XMLScanner()
        defer { s.release() }
        for b in Array(xml.utf8) { try [b].withUnsafeBytes { try s.feed($0, &drip) } }
        try s.finish(&drip)
        // Text may arrive split across events when fed byte by byte; join adjacent text.
        func joined(_ e: [String]) -> [String] {
            var out: [String] = []
            for x in e { if x.hasPrefix("#"), let l = out.last, l.hasPrefix("#") { out[out.count - 1] = l + x.dropFirst() } else { out.append(x) } }
            return out
        }
        #expect(joined(drip.events) == joined(whole.events))
        #expect(joined(whole.events) == ["<x:a p:q=1>2,r=s", "#t & <u> AB<raw>&amp;", "<b ", "/b", "<c d=e", "/c", "#tail", "/a"])
    }

    @Test("line ends are normalised to LF in text")
    func lineEnds() throws {
        var out: [UInt8] = []
        try Array("a\r\nb\rc\n".utf8).withUnsafeBytes { try XMLText.decode($0, into: &out) }
        #expect(String(decoding: out, as: UTF8.self) == "a\nb\nc\n")
    }

    @Test("an unfinished tag at the end is corrupt")
    func unfinished() {
        var r = Recorder()
        #expect(xlsxErrorKind { try XMLScanner.scan(Array("<a><b attr=\"x".utf8), &r) } == .corruptWorkbook)
    }
}
