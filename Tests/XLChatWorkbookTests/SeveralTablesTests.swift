import Foundation
import Testing
@testable import XLChatWorkbook

/// Table boundaries: several tables on one sheet (stacked, side by side, with titles), total
/// and subtotal rows, repeated headers, ListObjects (with totals rows, several per sheet, bad
/// table parts), and sheets wider than SQLite's column limit. Inputs are generated here in
/// several variants; the handed fidelity files are checked at the end.
@Suite struct SeveralTablesTests {
    func outline(_ reader: any WorkbookReader) throws -> WorkbookOutline {
        try WorkbookOutline.build(reader: reader, path: "mem", contentHash: "x")
    }
    func tables(_ rows: [[Any]], name: String = "Data") throws -> [InferredTable] {
        try outline(TableTestReader(name: name, rows)).sheets[0].tables
    }
    func excluded(_ t: InferredTable) -> [Int] { t.excludedRows.map { $0.row + 1 } }

    // MARK: Stacked and side-by-side blocks

    @Test func threeStackedBlocksWithOneOrTwoEmptyRowsBetween() throws {
        let t = try tables([
            ["Product", "Units"], ["Widget", 10], ["Gadget", 4], ["Gizmo", 6],
            [],
            ["Returned product", "Units returned"], ["Widget", 1], ["Gizmo", 2],
            [], [],
            ["Month", "Region", "Sales", "Paid"], ["Jan", "North", 100.5, true], ["Feb", "South", 120, false],
        ])
        #expect(t.map(\.name) == ["Data", "Data_2", "Data_3"])
        #expect(t.map { $0.headerRange?.description } == ["A1:B1", "A6:B6", "A11:D11"])
        #expect(t.map { $0.dataRange?.description } == ["A2:B4", "A7:B8", "A12:D13"])
        #expect(t[1].columns.map(\.name) == ["Returned product", "Units returned"])
        #expect(t[1].columns.map(\.type) == [.text, .integer])
        #expect(t[2].columns.map(\.type) == [.text, .text, .real, .boolean])
        #expect(t.allSatisfy { $0.source == .inferred && $0.excludedRows.isEmpty })
    }

    @Test func titledBlocksAreNamedByTheirTitles() throws {
        // Titles directly above the header, and one standing apart from it by an empty row.
        let t = try tables([
            ["Sales 2024"], ["Region", "Rep", "Amount"], ["North", "Ann", 10], ["South", "Bo", 20],
            [],
            ["Returns"], [], ["Region", "Count"], ["North", 1], ["West", 3],
            [],
            ["Costs (EUR)"], ["Item", "Cost"], ["Rent", 900.5],
        ], name: "Report")
        #expect(t.map(\.name) == ["Report", "Returns", "Costs_EUR"])
        #expect(t.map { $0.dataRange?.description } == ["A3:C4", "A9:B10", "A14:B14"])
    }

    @Test func sideBySideBlocksSeparatedByOneOrTwoEmptyColumns() throws {
        for gap in [1, 2] {
            let pad = Array(repeating: "" as Any, count: gap)
            let t = try tables([
                ["Month", "Region", "Sales"] + pad + ["Region", "Target"],
                ["Jan", "North", 100] + pad + ["North", 200],
                ["Feb", "North", 120] + pad + ["South", 150],
                ["Mar", "South", 90],
            ])
            #expect(t.count == 2, "gap \(gap)")
            #expect(t.map { $0.dataRange?.description } == ["A2:C4", "\(A1.columnName(3 + gap))2:\(A1.columnName(4 + gap))3"])
            #expect(t[1].columns.map(\.name) == ["Region", "Target"])
            #expect(t[1].columns.map(\.type) == [.text, .integer])
            #expect(t[0].columns.map(\.sourceColumn) == [0, 1, 2])
        }
    }

    @Test func aBlankHeaderCellOrAOneColumnRunDoesNotSplitATable() throws {
        // Column C has no header and no values; D is a lone labelled column beyond it.
        let t = try tables([
            ["Name", "Qty", "", "Note"], ["a", 1, "", "x"], ["b", 2, "", "y"], ["c", 3, "", "z"],
        ])
        #expect(t.count == 1)
        #expect(t[0].columns.map(\.name) == ["Name", "Qty", "Note"])
        #expect(TableInferrer.runs(header: [SheetRow(index: 0, cells: [RowCell(column: 0, value: .string("a")),
                                                                       RowCell(column: 1, value: .string("b")),
                                                                       RowCell(column: 3, value: .string("c"))])],
                                   below: [SheetRow(index: 1, cells: [RowCell(column: 0, value: .number(1))])]) == [0...3])
    }

    @Test func anEmptyRowInsideATableDoesNotSplitIt() throws {
        // After the gap come data rows (text over text, numbers): the table goes on.
        let t = try tables([
            ["Name", "City", "Score"], ["Ann", "Oslo", 3], [], ["Bob", "Lima", 4], [], [], ["Cy", "Rome", 5],
            [], ["Note: scores are provisional"],
        ])
        #expect(t.count == 1)
        // The sentence under the table after a blank row is a footnote (issue 10), not data.
        #expect(t[0].dataRange?.description == "A2:C7")
        #expect(t[0].excludedRows == [ExcludedRow(row: 8, kind: .note, evidence: "Note: scores are provisional")])
        #expect(t[0].columns.map(\.type) == [.text, .text, .integer])
    }

    @Test func aHeaderRepeatedDownTheSheetIsNotDataAndDoesNotStartATable() throws {
        // Page-break exports: the header again, with or without an empty row (and a page title) before it.
        let header: [Any] = ["Date", "Item", "Amount"]
        let t = try tables([
            header, ["Mon", "Tea", 3], ["Tue", "Cake", 4],
            header, ["Wed", "Tea", 3],
            [], ["Page 2"], header, ["Thu", "Pie", 5],
            [], header, ["Fri", "Tea", 2],
        ])
        #expect(t.count == 1)
        #expect(excluded(t[0]) == [4, 7, 8, 11])
        #expect(t[0].excludedRows.map(\.kind) == [.repeatedHeader, .repeatedHeader, .repeatedHeader, .repeatedHeader])
        #expect(t[0].columns.map(\.type) == [.text, .text, .integer])
        #expect(t[0].isDataRow(4) && !t[0].isDataRow(3) && !t[0].isDataRow(10))
    }

    // MARK: Totals and subtotals

    @Test func subtotalPerGroupAndAGrandTotalAreFlagged() throws {
        let t = try tables([
            ["Region", "Rep", "Sales"],
            ["East", "Ann", 10], ["East", "Bo", 20], ["East Total", "", 30],
            ["West", "Cy", 5], ["West", "Di", 7], ["West Total", "", 12],
            ["Grand Total", "", 42],
        ])
        #expect(t.count == 1)
        #expect(excluded(t[0]) == [4, 7, 8])
        // "East Total" only ends with a totals word: it counts because it is the sum of its group.
        #expect(t[0].excludedRows.map(\.evidence) == ["East Total; equals the sum of the rows above",
                                                      "West Total; equals the sum of the rows above", "Grand Total"])
        #expect(t[0].dataRange?.description == "A2:C6")
        #expect(t[0].columns.map(\.type) == [.text, .text, .integer])
    }

    @Test func totalLabelsInManyLanguagesInTheFirstOrSecondColumn() throws {
        let labels = ["Total", "TOTAL:", "Totals", "Grand total", "Subtotal", "Sub-total", "Sum", "Σ", "∑ Sales",
                      "Gesamt", "Summe", "Gesamtsumme", "Zwischensumme", "Total général", "Sous-total", "Totale",
                      "Totaal", "Summa", "Suma", "Razem", "Итого", "合計", "東京 小計", "Toplam", "Total 2024", "Sum of sales"]
        for label in labels {
            for labelColumn in [0, 1] {
                func row(_ a: Any, _ b: Any, _ n: Any) -> [Any] { labelColumn == 0 ? [a, b, n] : [b, a, n] }
                let t = try tables([
                    row("Item", "Code", "Amount"), row("Tea", "T1", 3.5), row("Cake", "C1", 4), row(label, "", 7.5),
                ])
                #expect(excluded(t[0]) == [4], "\(label) in column \(labelColumn)")
                #expect(t[0].dataRange?.description.hasSuffix("3") == true, "\(label)")
            }
        }
    }

    @Test func wordsThatOnlyLookLikeTotalsStayData() throws {
        // Adversarial: names containing the words, a total label with no number, "sum" as a last word.
        let t = try tables([
            ["Item", "Kind", "Amount"],
            ["Totally Tubular", "toy", 3], ["Lump sum", "payment", 100], ["Summer hat", "hat", 4],
            ["Totem", "art", 5], ["Total", "n/a", ""], ["Gesamtschule", "school", 2],
        ])
        #expect(t.count == 1)
        #expect(t[0].excludedRows.isEmpty)
        #expect(t[0].dataRange?.description == "A2:C7")
    }

    @Test func totalFormulasWithoutALabel() throws {
        #expect(BlockRules.isTotalFormula("SUM(B2:B9)", column: 1, row: 9))
        #expect(BlockRules.isTotalFormula("SUM($B$2:$B$9)", column: 1, row: 12))
        #expect(BlockRules.isTotalFormula("SUBTOTAL(9,C2:C9)", column: 2, row: 9))
        #expect(BlockRules.isTotalFormula("subtotal(109,[Amount])", column: 4, row: 6))
        #expect(BlockRules.isTotalFormula("AGGREGATE(9,5,B2:B9)", column: 1, row: 9))
        // A running balance sums another column; a sum of a row is no column total.
        #expect(!BlockRules.isTotalFormula("SUM(B$2:B5)", column: 2, row: 4))
        #expect(!BlockRules.isTotalFormula("SUM(B5:E5)", column: 5, row: 4))
        #expect(!BlockRules.isTotalFormula("B2*C2", column: 3, row: 1))
        #expect(!BlockRules.isTotalFormula("SUM(B2:B20)", column: 1, row: 9))
    }

    @Test func xlsxTotalRowComputedBySUMFormulasIsFlagged() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [("Costs", XLSXTestWorkbook.sheetXML("""
            <row r="1"><c r="A1" t="inlineStr"><is><t>Item</t></is></c><c r="B1" t="inlineStr"><is><t>Q1</t></is></c><c r="C1" t="inlineStr"><is><t>Q2</t></is></c></row>
            <row r="2"><c r="A2" t="inlineStr"><is><t>Rent</t></is></c><c r="B2"><v>100</v></c><c r="C2"><v>110</v></c></row>
            <row r="3"><c r="A3" t="inlineStr"><is><t>Power</t></is></c><c r="B3"><v>20</v></c><c r="C3"><v>25</v></c></row>
            <row r="4"><c r="B4"><f>SUM(B2:B3)</f><v>120</v></c><c r="C4"><f>SUM(C2:C3)</f><v>135</v></c></row>
            """), nil, "worksheet")]
        let path = try wb.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let t = try outline(try XLSXReader(path: path)).sheets[0].tables
        #expect(t.count == 1)
        #expect(excluded(t[0]) == [4])
        #expect(t[0].excludedRows.first?.evidence == "=SUM(B2:B3)")
        #expect(t[0].dataRange?.description == "A2:C3")
    }

    // MARK: ListObjects

    func declared(_ name: String, _ ref: String, header: Int = 1, totals: Int = 0, sheet: String = "Data") -> DeclaredTable {
        DeclaredTable(name: name, sheet: sheet, range: range(ref), headerRowCount: header, totalsRowCount: totals, columnNames: [])
    }

    @Test func listObjectTotalsRowIsNeverDataAndHiddenStyleRowsAre() throws {
        let reader = TableTestReader([
            ["Item", "Amount"], ["Rent", 1500], ["Food", 120], ["Fuel", 60], ["Misc", 45.5], ["Total", 1725.5],
        ])
        reader.declaredTables = [declared("Expenses", "A1:B6", totals: 1)]
        let t = try outline(reader).sheets[0].tables
        #expect(t.count == 1)
        #expect(t[0].name == "Expenses" && t[0].source == .listObject)
        #expect(t[0].dataRange?.description == "A2:B5")
        #expect(t[0].excludedRows == [ExcludedRow(row: 5, kind: .totalsRow, evidence: "totals row of table Expenses")])
        #expect(t[0].columns.map(\.type) == [.text, .real])
        // Without a totals row, a row labelled Total inside a ListObject is data: the file says so.
        let plain = TableTestReader([["Item", "Amount"], ["Rent", 1500], ["Total", 3]])
        plain.declaredTables = [declared("Plain", "A1:B3")]
        let p = try outline(plain).sheets[0].tables
        #expect(p[0].dataRange?.description == "A2:B3" && p[0].excludedRows.isEmpty)
    }

    @Test func twoListObjectsOnOneSheetAreTwoTablesAndOtherCellsNone() throws {
        let reader = TableTestReader([
            ["Title of the report"],
            ["Product", "Units", "", "Region", "Target"],
            ["Widget", 10, "", "North", 200],
            ["Gadget", 4, "", "South", 150],
            ["Total", 14],
        ])
        reader.declaredTables = [declared("Targets", "D2:E4"), declared("Units", "A2:B5", totals: 1)]
        let o = try outline(reader)
        let t = o.sheets[0].tables
        #expect(t.map(\.name) == ["Units", "Targets"])
        #expect(t.map { $0.dataRange?.description } == ["A3:B4", "D3:E4"])
        #expect(t.map { $0.columns.map(\.name) } == [["Product", "Units"], ["Region", "Target"]])
        #expect(o.sheets[0].warnings.isEmpty)
    }

    @Test func badListObjectsAreWarnedAboutAndTheRestLoads() throws {
        let reader = TableTestReader([
            ["Item", "Amount", "", "Code", "Rate"], ["Rent", 1500, "", "X", 1], ["Food", 120, "", "Total", 2],
        ])
        reader.declaredTables = [
            declared("Good", "A1:B3"),
            declared("Overlapping", "B2:C9"),
            declared("Elsewhere", "K100:L120"),
            declared("TooManyTotals", "D1:E3", totals: 5),
        ]
        let o = try outline(reader)
        let s = o.sheets[0]
        #expect(s.tables.map(\.name) == ["Good", "TooManyTotals"])
        // Its stated totals count is not believed; a row labelled as a total is flagged instead.
        #expect(s.tables[1].excludedRows.map(\.row) == [2])
        #expect(s.warnings.count == 3)
        #expect(s.warnings.contains { $0.contains("Overlapping") && $0.contains("overlaps table Good") })
        #expect(s.warnings.contains { $0.contains("Elsewhere") && $0.contains("outside the sheet's cells") })
        #expect(s.warnings.contains { $0.contains("TooManyTotals") && $0.contains("5 totals rows") })
        #expect(s.tables[0].dataRange?.description == "A2:B3")
    }

    @Test func xlsxTablePartsWithTotalsTwoPerSheetAndBrokenOnes() throws {
        func tablePart(_ name: String, _ ref: String, totals: Int?, columns: [String]) -> String {
            let t = totals.map { #" totalsRowCount="\#($0)""# } ?? ""
            return #"<table xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" id="1" name="\#(name)" displayName="\#(name)" ref="\#(ref)"\#(t)><tableColumns count="\#(columns.count)">"#
                + columns.map { #"<tableColumn id="1" name="\#($0)"/>"# }.joined() + "</tableColumns></table>"
        }
        func s(_ ref: String, _ text: String) -> String { #"<c r="\#(ref)" t="inlineStr"><is><t>\#(text)</t></is></c>"# }
        func n(_ ref: String, _ v: Double) -> String { #"<c r="\#(ref)"><v>\#(v)</v></c>"# }
        var wb = XLSXTestWorkbook()
        wb.sheets = [("Budget", XLSXTestWorkbook.sheetXML("""
            <row r="1">\(s("A1", "Item"))\(s("B1", "Amount"))\(s("D1", "Code"))\(s("E1", "Rate"))</row>
            <row r="2">\(s("A2", "Rent"))\(n("B2", 1500))\(s("D2", "X"))\(n("E2", 0.5))</row>
            <row r="3" hidden="1">\(s("A3", "Food"))\(n("B3", 120))\(s("D3", "Y"))\(n("E3", 0.25))</row>
            <row r="4">\(s("A4", "Total"))<c r="B4"><f>SUBTOTAL(109,[Amount])</f><v>1620</v></c></row>
            """, after: #"<tableParts count="4"><tablePart r:id="rT1"/><tablePart r:id="rT2"/><tablePart r:id="rT3"/><tablePart r:id="rT4"/></tableParts>"#),
            nil, "worksheet")]
        let tableRel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/table"
        wb.sheetRels[0] = (1...4).map { #"<Relationship Id="rT\#($0)" Type="\#(tableRel)" Target="../tables/table\#($0).xml"/>"# }.joined()
        wb.extraParts = [
            ("xl/tables/table1.xml", tablePart("Spend", "A1:B4", totals: 1, columns: ["Item", "Amount"])),
            ("xl/tables/table2.xml", tablePart("Rates", "D1:E3", totals: nil, columns: ["Code", "Rate"])),
            ("xl/tables/table3.xml", tablePart("Broken", "A1:B1048577", totals: nil, columns: ["a", "b"])),
            ("xl/tables/table4.xml", "<table this is not xml"),
        ]
        let path = try wb.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let o = try outline(try XLSXReader(path: path))
        let t = o.sheets[0].tables
        // Row 3 is hidden (as an autofilter leaves it): still data.
        #expect(t.map(\.name) == ["Spend", "Rates"])
        #expect(t.map { $0.dataRange?.description } == ["A2:B3", "D2:E3"])
        #expect(t[0].excludedRows.map(\.row) == [3])
        #expect(t[1].columns.map(\.type) == [.text, .real])
        #expect(o.sheets[0].warnings.count == 2)
        #expect(o.sheets[0].warnings.contains { $0.contains("table3.xml") && $0.contains("A1:B1048577") })
        #expect(o.sheets[0].warnings.contains { $0.contains("table4.xml") })
    }

    @Test func xlsbListObjectWithTotalsRowAndABrokenTablePart() throws {
        // Item | Amount over three rows and a totals row (A1:B5); a second part with no BrtBeginList.
        var r = XLSBRecords()
        let rows: [(String, Double?)] = [("Item", nil), ("Rent", 1500), ("Food", 120.5), ("Fuel", 60), ("Total", 1680.5)]
        for (i, row) in rows.enumerated() {
            r.row(i)
            r.add(0x06, XLSBRecords.cell(0) + XLSBRecords.wide(row.0))
            if let v = row.1 { r.add(0x05, XLSBRecords.cell(1) + XLSBRecords.f64(v)) } else { r.add(0x06, XLSBRecords.cell(1) + XLSBRecords.wide("Amount")) }
        }
        var z = XLSBTestFile.package(sheets: [.init(name: "Costs", records: r)])
        var part = XLSBRecords()
        // BrtBeginList: rfxList (rows 0-4, columns 0-1), lt, idList, crwHeader 1, crwTotals 1, flags, 7 ids, names.
        part.add(0x157, [0, 4, 0, 1].flatMap { XLSBRecords.u32($0) } + XLSBRecords.u32(0) + XLSBRecords.u32(1)
                 + XLSBRecords.u32(1) + XLSBRecords.u32(1) + XLSBRecords.u32(0) + (0..<7).flatMap { _ in XLSBRecords.u32(0xFFFF_FFFF) }
                 + XLSBRecords.wide("Spend") + XLSBRecords.wide("Spend") + XLSBRecords.u32(0xFFFF_FFFF))
        for name in ["Item", "Amount"] {
            part.add(0x15B, (0..<6).flatMap { _ in XLSBRecords.u32(0) } + XLSBRecords.wide(name) + XLSBRecords.u32(0xFFFF_FFFF))
        }
        z.members.append(.init(name: "xl/tables/table1.bin", data: part.bytes))
        z.members.append(.init(name: "xl/tables/table2.bin", data: XLSBRecords().bytes))
        let rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/table"
        z.add("xl/worksheets/_rels/sheet1.bin.rels", #"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rT1" Type="\#(rel)" Target="../tables/table1.bin"/><Relationship Id="rT2" Type="\#(rel)" Target="../tables/table2.bin"/></Relationships>"#)
        let path = try z.write(ext: "xlsb")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let o = try outline(try XLSBReader(path: path))
        let t = try #require(o.sheets[0].tables.first)
        #expect(o.sheets[0].tables.count == 1)
        #expect(t.name == "Spend" && t.source == .listObject)
        #expect(t.columns.map(\.name) == ["Item", "Amount"])
        #expect(t.dataRange?.description == "A2:B4")
        #expect(t.excludedRows.map(\.kind) == [.totalsRow])
        #expect(o.sheets[0].warnings.count == 1 && o.sheets[0].warnings[0].contains("table2.bin"))
    }

    // MARK: Wide sheets

    @Test func wideSheetsAreSplitIntoPartsThatShareRow() throws {
        for width in [2500, 5000] {
            let reader = TableTestReader([TableTestReader.Sheet(info: SheetInfo(name: "Wide", index: 0),
                generated: (3, { r in (0..<width).map { c in r == 0 ? .string("c\(c)") : .number(Double(c * r)) } }))])
            let o = try outline(reader)
            let t = try #require(o.sheets[0].tables.first)
            #expect(t.columns.count == width)
            let expected = (width + InferredTable.maxSQLColumns - 1) / InferredTable.maxSQLColumns
            #expect(t.parts.count == expected)
            #expect(t.parts.map(\.name) == ["Wide"] + (2...expected).map { "Wide_part\($0)" })
            #expect(t.parts.map(\.columns.count).reduce(0, +) == width)
            #expect(t.parts.allSatisfy { $0.columns.count <= InferredTable.maxSQLColumns })
            #expect(o.sheets[0].warnings.count == 1)
            #expect(o.sheets[0].warnings[0].contains("split into Wide (columns A-BXW), Wide_part2 (columns BXX-"))
        }
    }

    // MARK: Unchanged single tables and bounded memory

    @Test func oneOrdinaryTableIsStillOneTableNamedAfterItsSheet() throws {
        let t = try tables([["Region", "Revenue"], ["West", 1], ["East", 2]], name: "Sales 2024")
        #expect(t.map(\.name) == ["Sales_2024"])
        #expect(t[0].parts == [TablePart(name: "Sales_2024", columns: 0..<2)])
    }

    @Test func longSheetWithSubtotalsEveryTenRowsStreams() throws {
        // 200,000 rows: every 10th a subtotal, then a gap and a second table at the end.
        let n = 200_000
        let reader = TableTestReader([TableTestReader.Sheet(info: SheetInfo(name: "Long", index: 0), generated: (n + 4, { r in
            if r == 0 { return [.string("Group"), .string("Value")] }
            if r < n { return r % 10 == 0 ? [.string("Subtotal"), .number(1)] : [.string("g\(r / 10)"), .number(Double(r))] }
            if r == n { return [] }
            if r == n + 1 { return [.string("Key"), .string("Count")] }
            return [.string("k\(r)"), .number(2)]
        }))])
        let t = try outline(reader).sheets[0].tables
        #expect(t.count == 2)
        #expect(t[0].excludedRows.count == (n - 1) / 10)
        #expect(t[0].dataRange?.description == "A2:B\(n)")
        #expect(t[1].dataRange?.description == "A\(n + 3):B\(n + 4)")
    }

    // MARK: The handed fidelity files

    func fidelityFile(_ name: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.deletingLastPathComponent().appendingPathComponent("shared/cases/fidelity/\(name)").path
        try #require(FileManager.default.fileExists(atPath: path), "the fidelity cases are missing: \(path)")
        return path
    }

    @Test func handedTableWithTotalsRow() throws {
        let o = try outline(try XLSXReader(path: try fidelityFile("table-with-totals-row.xlsx")))
        let t = try #require(o.sheets[0].tables.first)
        #expect(o.sheets[0].tables.count == 1)
        #expect(t.name == "Expenses" && t.source == .listObject)
        #expect(t.dataRange?.rowCount == 4)
        #expect(t.excludedRows.map(\.kind) == [.totalsRow])
    }

    @Test func handedSeveralTablesPerSheet() throws {
        let o = try outline(try XLSXReader(path: try fidelityFile("several-tables-per-sheet.xlsx")))
        let all = o.sheets.flatMap(\.tables)
        #expect(all.map { $0.columns.map(\.name) } == [["Product", "Units"], ["Returned product", "Units returned"],
                                                       ["Month", "Region", "Sales"], ["Region", "Target"]])
        #expect(all.map { $0.dataRange?.rowCount } == [3, 2, 3, 2])
    }
}
