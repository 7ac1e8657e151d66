import Foundation
import Testing
@testable import XLChatWorkbook

/// Row classification inside tables (issue 10): totals decided from evidence, not a "Total"
/// prefix; aggregate rows; unlabeled totals; footnotes; units rows; two-line headers without
/// merges; form sheets. Each kind is fed in several generated variants (csv, xlsx with
/// formulas, in-memory rows; other languages; positions), including look-alikes that must stay data.
@Suite struct RowClassificationTests {
    let dir = CSVTempDir()

    func outline(_ reader: any WorkbookReader) throws -> WorkbookOutline {
        try WorkbookOutline.build(reader: reader, path: "mem", contentHash: "x")
    }
    func tables(_ rows: [[Any]], merges: [CellRange] = []) throws -> [InferredTable] {
        try outline(TableTestReader(name: "Data", rows, merges: merges)).sheets[0].tables
    }
    func csvTables(_ text: String) throws -> [InferredTable] {
        try outline(try CSVReader(path: dir.write("t\(UUID().uuidString.prefix(6)).csv", text))).sheets[0].tables
    }
    /// 1-based excluded rows.
    func excluded(_ t: InferredTable) -> [Int] { t.excludedRows.map { $0.row + 1 } }
    func kinds(_ t: InferredTable) -> [ExcludedRow.Kind] { t.excludedRows.map(\.kind) }

    /// The data rows' numbers of `column` (as SQL would sum them), read back from the reader.
    func sum(_ reader: any WorkbookReader, _ t: InferredTable, column name: String, sheet: Int = 0) throws -> (count: Int, sum: Double) {
        let col = try #require(t.columns.first { $0.name == name }).sourceColumn
        var n = 0, s = 0.0
        _ = try reader.readSheet(at: sheet) { row in
            guard t.isDataRow(row.index) else { return true }
            n += 1
            if let c = row.cells.first(where: { $0.column == col }), case .number(let d) = c.value { s += d }
            return true
        }
        return (n, s)
    }

    /// An xlsx sheet from rows of cells: String (text), Int/Double (number), or `F(formula, cached)`.
    struct F { var formula: String; var value: Double }
    func xlsx(_ sheets: [(String, [[Any]])]) throws -> String {
        var wb = XLSXTestWorkbook()
        wb.sheets = sheets.map { name, rows in
            var xml = ""
            for (r, row) in rows.enumerated() {
                xml += "<row r=\"\(r + 1)\">"
                for (c, v) in row.enumerated() {
                    let ref = A1.columnName(c) + String(r + 1)
                    switch v {
                    case let s as String where !s.isEmpty: xml += "<c r=\"\(ref)\" t=\"inlineStr\"><is><t>\(s.replacingOccurrences(of: "&", with: "&amp;"))</t></is></c>"
                    case let i as Int: xml += "<c r=\"\(ref)\"><v>\(i)</v></c>"
                    case let d as Double: xml += "<c r=\"\(ref)\"><v>\(d)</v></c>"
                    case let f as F: xml += "<c r=\"\(ref)\"><f>\(f.formula)</f><v>\(f.value)</v></c>"
                    default: break
                    }
                }
                xml += "</row>"
            }
            return (name, XLSXTestWorkbook.sheetXML(xml), nil, "worksheet")
        }
        return try wb.write()
    }

    // MARK: 1. Cross-sheet SUM rows are data

    @Test func summaryRowsSummingOtherSheetsAreData() throws {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
        var sheets: [(String, [[Any]])] = months.enumerated().map { k, m in
            (m, [["Item", "Revenue"], ["a", 10 + k], ["b", 20 + k], ["c", 30 + k]])
        }
        var summary: [[Any]] = [["Month", "Revenue"]]
        for (k, m) in months.enumerated() { summary.append([m, F(formula: "SUM(\(m)!B2:B4)", value: Double(60 + 3 * k))]) }
        // Also quoted sheet names and a same-sheet total at the end, which is a total.
        summary.append(["Total", F(formula: "SUM(B2:B7)", value: 405)])
        sheets.append(("Summary", summary))
        let path = try xlsx(sheets)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try XLSXReader(path: path)
        let t = try outline(reader).sheets[6].tables[0]
        #expect(excluded(t) == [8])
        let s = try sum(reader, t, column: "Revenue", sheet: 6)
        #expect(s.count == 6 && s.sum == 405)
        #expect(!BlockRules.isTotalFormula("SUM(Apr!B2:B4)", column: 1, row: 4))
        #expect(!BlockRules.isTotalFormula("SUM('Q1 2024'!B2:B4)", column: 1, row: 9))
        #expect(!BlockRules.isTotalFormula("SUM([1]Sheet1!B2:B4)", column: 1, row: 9))
        #expect(BlockRules.isTotalFormula("SUM(B2:B4)", column: 1, row: 4))
    }

    // MARK: 2. Labels that merely start with "Total" are data

    @Test func dataRowsNamedTotalSomethingStayData() throws {
        // First data row, middle and last; csv and in-memory; with and without a real total after.
        let names = ["Total Gym XLS", "Total Wine & More", "Totalcare Ltd", "Summe Verlag GmbH", "Total Quality course fee", "Sum 41 tickets"]
        for name in names {
            for position in 0..<3 {
                var rows: [[Any]] = [["Product", "Units"], ["Rowing machine", 3], ["Bike", 4]]
                rows.insert([name, 2], at: 1 + position)
                let t = try tables(rows)[0]
                #expect(t.excludedRows.isEmpty, "\(name) at \(position)")
                #expect(t.dataRange?.description == "A2:B4", "\(name) at \(position)")
                // A real total below them is still one.
                rows.append(["Total", 9])
                #expect(excluded(try tables(rows)[0]) == [5], "\(name) at \(position) + Total")
            }
        }
        // The newcomer's shapes in csv: a description next to a date; a store list with a total.
        let stores = try csvTables("Store,Sales\nTotal Wine & More,500\nCostco,300\nTotally Fresh,200\nTotal,1000\n")[0]
        #expect(excluded(stores) == [5])
        let desc = try csvTables("Date,Description,Amount\n2024-01-01,Total Quality course fee,250\n2024-01-02,Coffee,5\n2024-01-03,Refund of total charge,-40\n")[0]
        #expect(desc.excludedRows.isEmpty)
        #expect(desc.dataRange?.description == "A2:C4")
    }

    @Test func grouptotalsNeedTheirSumAndWholeLabelsDoNot() throws {
        // "Total North" is a subtotal when it is the sum of its group (any language/position of the word).
        for (label, grand) in [("Total North", "Grand total"), ("North Total", "Gesamt"), ("Summe Nord", "Summe"), ("北 合計", "合計"), ("Sous-total Nord", "Total général")] {
            let t = try tables([
                ["Region", "Rep", "Sales", "Cost"],
                ["North", "Ann", 10, 1.5], ["North", "Bo", 20, 2.25], [label, "", 30, 3.75],
                ["South", "Cy", 5, 1], ["South", "Di", 7, 2], ["South total", "", 12, 3],
                [grand, "", 42, 6.75],
            ])[0]
            #expect(excluded(t) == [4, 7, 8], "\(label)")
        }
        // A partial label whose numbers are not the sum is data; a whole one is a total anyway.
        let t = try tables([["Item", "Amt"], ["a", 10], ["b", 20], ["Total Gym FIT", 31], ["c", 5]])[0]
        #expect(t.excludedRows.isEmpty)
        // Totals at the TOP of a table (a whole label), numbers below.
        let top = try csvTables("Item,Amt\nTotal,60\na,10\nb,20\nc,30\n")[0]
        #expect(excluded(top) == [2])
        #expect(top.dataRange?.description == "A3:B5")
    }

    // MARK: 4. Aggregate rows

    @Test func aggregateRowsByLabelInSeveralLanguages() throws {
        for label in ["Average", "AVERAGE:", "Avg", "Mean", "Max", "Maximum", "Min", "Count", "Median", "Durchschnitt",
                      "Mittelwert", "Moyenne", "Promedio", "Media", "Gemiddelde", "Среднее", "平均", "Std dev"] {
            let t = try tables([["Item", "Amt"], ["a", 10], ["b", 20], ["c", 30], [label, 20]])[0]
            #expect(excluded(t) == [5], "\(label)")
            #expect(kinds(t) == [.aggregate], "\(label)")
        }
        // Several at the end, after a total.
        let t = try csvTables("Item,Amt\na,10\nb,20\nc,30\nTotal,60\nAverage,20\nMax,30\nMin,10\nCount,3\n")[0]
        #expect(excluded(t) == [5, 6, 7, 8, 9])
        #expect(kinds(t) == [.total, .aggregate, .aggregate, .aggregate, .aggregate])
        // Names that begin with an aggregate word are data unless their numbers are that figure.
        let people = try tables([["Name", "Score"], ["Max Mustermann", 12], ["Mina", 30], ["Average Joe", 5], ["Count Basie", 7]])[0]
        #expect(people.excludedRows.isEmpty)
        let matched = try tables([["Region", "Score"], ["N", 12], ["S", 30], ["Average North/South", 21]])[0]
        #expect(kinds(matched) == [.aggregate])
    }

    @Test func aggregateRowsByFormulaInXlsx() throws {
        let path = try xlsx([("A", [
            ["Item", "Amt", "Qty"], ["a", 10, 1], ["b", 20, 2], ["c", 30, 3],
            ["", F(formula: "AVERAGE(B2:B4)", value: 20), F(formula: "AVERAGE(C2:C4)", value: 2)],
            ["", F(formula: "MAX(B2:B4)", value: 30), F(formula: "MAX(C2:C4)", value: 3)],
            ["", F(formula: "_xlfn.STDEV.S(B2:B4)", value: 10), 0],
            ["Anzahl", F(formula: "COUNT(B2:B4)", value: 3), F(formula: "COUNT(C2:C4)", value: 3)],
        ])])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try XLSXReader(path: path)
        let t = try outline(reader).sheets[0].tables[0]
        #expect(excluded(t) == [5, 6, 7, 8])
        #expect(kinds(t) == [.aggregate, .aggregate, .aggregate, .aggregate])
        let s = try sum(reader, t, column: "Amt")
        #expect(s.count == 3 && s.sum == 60)
        // A row computing from another row (=B2*2) is data.
        #expect(RowEvidence.formulaKind("B2*2", column: 1, row: 5) == nil)
        #expect(RowEvidence.formulaKind("MAX(Other!B2:B4)", column: 1, row: 5) == nil)
    }

    // MARK: 5. Unlabeled totals

    @Test func unlabeledTotalRowAtTheEndIsATotal() throws {
        // csv, one column with a label column; several columns; a subtotal per section.
        let one = try csvTables("Item,Amt\na,10\nb,20\nc,30\n,60\n")[0]
        #expect(excluded(one) == [5])
        #expect(one.excludedRows.first?.evidence.contains("sum") == true)
        let two = try tables([["Item", "Q1", "Q2"], ["a", 1.25, 4], ["b", 2.5, 5], ["c", 3, 6], ["", 6.75, 15]])[0]
        #expect(excluded(two) == [5])
        // Sections with an unlabeled subtotal each, blank rows between.
        let sections = try tables([["Item", "Amt"], ["a", 1], ["b", 2], ["", 3], [], ["c", 4], ["d", 5], ["", 9]])[0]
        #expect(excluded(sections) == [4, 8])
        #expect(sections.dataRange?.description == "A2:B7")
    }

    @Test func coincidentalSumsStayData() throws {
        // The sum of the rows above, but more data follows: data.
        let middle = try tables([["Item", "Amt"], ["a", 10], ["b", 20], ["", 30], ["c", 5]])[0]
        #expect(middle.excludedRows.isEmpty)
        // A labelled row equal to the sum: data ("d" is a name, not a total).
        let labelled = try tables([["Item", "Amt"], ["a", 10], ["b", 20], ["d", 30]])[0]
        #expect(labelled.excludedRows.isEmpty)
        // A headerless numeric series (no label column): one matching column is not enough...
        let series = try tables([[1, 100], [2, 200], [3, 50]])[0]
        #expect(series.excludedRows.isEmpty)
        // ... but every column agreeing is.
        let both = try tables([["Q1", "Q2"], [1, 100], [2, 200], [3, 300]])[0]
        #expect(both.excludedRows.map(\.row) == [3])
        // Only one column agrees of two: data.
        let half = try tables([["Item", "Q1", "Q2"], ["a", 1, 100], ["b", 2, 200], ["", 3, 301]])[0]
        #expect(half.excludedRows.isEmpty)
        // A single row above: its "sum" is itself; data.
        let single = try tables([["Item", "Amt"], ["a", 10], ["", 10]])[0]
        #expect(single.excludedRows.isEmpty)
    }

    // MARK: 9. Footnotes

    @Test func footnotesAfterABlankRowAreNotes() throws {
        for notes in [["Source: World Bank, 2024", "* preliminary figures"], ["Quelle: Destatis"], ["Note: in millions"],
                      ["Fuente: INE", "Nota: cifras provisionales"], ["¹ revised", "² estimated"], ["(1) Data for 2023 are provisional"]] {
            var rows: [[Any]] = [["Country", "GDP"], ["A", 100], ["B", 200], ["C", 300], []]
            rows += notes.map { [$0] }
            let t = try tables(rows)[0]
            #expect(excluded(t) == Array(6..<(6 + notes.count)), "\(notes)")
            #expect(Set(kinds(t)) == [.note], "\(notes)")
            #expect(t.dataRange?.description == "A2:B4", "\(notes)")
            #expect(t.columns[1].type == .integer)
        }
        // csv, the newcomer's shape (a trailing empty field).
        let csv = try csvTables("Country,GDP\nA,100\nB,200\nC,300\n\n\"Source: World Bank, 2024\",\n* preliminary figures,\n")[0]
        #expect(excluded(csv) == [6, 7])
        // A data row with a label only (missing value) after a blank row is data, not a note.
        let missing = try tables([["Country", "GDP"], ["A", 100], [], ["B"], ["C", 300]])[0]
        #expect(missing.excludedRows.isEmpty)
    }

    // MARK: 12. Units rows

    @Test func unitsRowUnderTheHeaderJoinsIt() throws {
        for units in [["", "(kg)", "(USD)"], ["", "kg", "EUR"], ["", "in EUR", "%"], ["", "[m²]", "€/kg"]] {
            let t = try tables([["Item", "Weight", "Price"], units, ["a", 1.5, 10], ["b", 2.5, 20]])[0]
            #expect(t.columns.map(\.name) == ["Item", "Weight", "Price"], "\(units)")
            #expect(t.columns[1].type == .real && t.columns[2].type == .integer, "\(units)")
            #expect(t.headerRange?.description == "A1:C2", "\(units)")
            #expect(t.dataRange?.description == "A3:C4", "\(units)")
            #expect(t.columns[1].header.contains(units[1].hasPrefix("(") || units[1].hasPrefix("[") ? units[1] : "(\(units[1]))"), "\(units)")
        }
        let csv = try csvTables("Item,Weight,Price\n,(kg),(USD)\na,1.5,10\nb,2.5,20\n")[0]
        #expect(csv.columns[1].type == .real)
        #expect(csv.columns[1].header == "Weight (kg)")
        // An all-text table whose first row looks like units keeps it as data.
        let text = try tables([["Quantity", "Unit"], ["mass", "kg"], ["length", "km"]])[0]
        #expect(text.dataRange?.description == "A2:B3")
        let allUnits = try tables([["From", "To"], ["kg", "lb"], ["km", "mi"]])[0]
        #expect(allUnits.dataRange?.description == "A2:B3")
    }

    // MARK: 13. Two-line header without merges

    @Test func twoLineHeaderWithoutMergesNamesGroupSlashName() throws {
        let t = try tables([["", "Sales", "", "Cost", ""], ["Region", "Q1", "Q2", "Q1", "Q2"], ["N", 1, 2, 3, 4], ["S", 5, 6, 7, 8]])[0]
        #expect(t.columns.map(\.name) == ["Region", "Sales / Q1", "Sales / Q2", "Cost / Q1", "Cost / Q2"])
        #expect(t.headerRange?.description == "A1:E2")
        // Three groups in German, under a title row.
        let de = try tables([["Bericht 2024"], ["", "Umsatz", "", "Kosten", "", "Gewinn", ""],
                             ["Region", "H1", "H2", "H1", "H2", "H1", "H2"], ["Nord", 1, 2, 3, 4, 5, 6]])[0]
        #expect(de.columns.map(\.name).dropFirst().first == "Umsatz / H1")
        #expect(de.columns.last?.name == "Gewinn / H2")
        // xlsx, as the newcomer's file.
        let path = try xlsx([("H2", [["", "Sales", "", "Cost", ""], ["Region", "Q1", "Q2", "Q1", "Q2"], ["N", 1, 2, 3, 4], ["S", 5, 6, 7, 8]])])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let x = try outline(try XLSXReader(path: path)).sheets[0].tables[0]
        #expect(x.columns.map(\.name) == ["Region", "Sales / Q1", "Sales / Q2", "Cost / Q1", "Cost / Q2"])
        // A title with a subtitle (one cell each) is no group row.
        let titled = try tables([["Report"], ["Region", "Q1", "Q2"], ["N", 1, 2]])[0]
        #expect(titled.columns.map(\.name) == ["Region", "Q1", "Q2"])
    }

    // MARK: 16. Forms

    @Test func formSheetsAreKeyValueTables() throws {
        for rows in [
            [["Customer:", "ACME"], ["Invoice no:", "12345"], ["Total due:", 999.5]],
            [["Kunde:", "ACME GmbH"], ["Rechnungsnr.:", 12345], ["Datum:", "2024-01-05"], ["Gesamtbetrag:", 120]],
        ] as [[[Any]]] {
            let o = try outline(TableTestReader(name: "KV", rows))
            let t = o.sheets[0].tables[0]
            #expect(t.columns.map(\.name) == ["key", "value"])
            #expect(t.headerRange == nil)
            #expect(t.excludedRows.isEmpty)
            #expect(t.dataRange?.rowCount == rows.count)
            #expect(o.sheets[0].warnings.contains { $0.contains("form") })
        }
        // An ordinary two-column table with a colon in one label is not a form.
        let t = try tables([["Key", "Value"], ["a:", 1], ["b", 2], ["c", 3]])[0]
        #expect(t.columns.map(\.name) == ["Key", "Value"])
    }
}

extension RowClassificationTests {
    @Test func aWholeTotalLabelWithAnotherNumberIsKeptOutAndSaysSo() throws {
        // "Total" as a whole label is a total even mid-table (reversible: the outline lists it),
        // and the evidence says its number is not the sum of the rows above.
        let t = try csvTables("Category,Amount\nSubscriptions,12\nTotal,999\nFood,30\n")[0]
        #expect(excluded(t) == [3])
        #expect(t.excludedRows[0].evidence == "Total; its numbers are not the sum of the rows above")
        let ok = try csvTables("Category,Amount\nA,12\nB,30\nTotal,42\n")[0]
        #expect(ok.excludedRows[0].evidence == "Total")
    }
}

extension RowClassificationTests {
    @Test func xlsxSubtotalsPerGroupGrandTotalAndATotalOnTop() throws {
        let path = try xlsx([
            ("Groups", [
                ["Region", "Sales"], ["a", 10], ["b", 20], ["", F(formula: "SUM(B2:B3)", value: 30)],
                ["c", 5], ["d", 7], ["", F(formula: "SUM(B5:B6)", value: 12)], ["", F(formula: "B4+B7", value: 42)],
            ]),
            ("Top", [["Item", "Amt"], ["", F(formula: "SUM(B3:B5)", value: 60)], ["a", 10], ["b", 20], ["c", 30]]),
            // A running balance (sum of the column above, in another column) is data.
            ("Running", [["Item", "Amt", "Balance"], ["a", 10, F(formula: "SUM(B$2:B2)", value: 10)],
                         ["b", 20, F(formula: "SUM(B$2:B3)", value: 30)], ["c", 30, F(formula: "SUM(B$2:B4)", value: 60)]]),
        ])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try XLSXReader(path: path)
        let o = try outline(reader)
        let groups = o.sheets[0].tables[0]
        #expect(excluded(groups) == [4, 7, 8])
        #expect(try sum(reader, groups, column: "Sales").sum == 42)
        let top = o.sheets[1].tables[0]
        #expect(excluded(top) == [2])
        #expect(try sum(reader, top, column: "Amt", sheet: 1) == (count: 3, sum: 60))
        let running = o.sheets[2].tables[0]
        #expect(running.excludedRows.isEmpty)
        // A sum of the rows below anywhere but the first data row is no total.
        #expect(RowEvidence.formulaKind("SUM(B5:B9)", column: 1, row: 2) == nil)
    }
}
