import Foundation
import Testing
@testable import XLChatWorkbook

/// Structured references to ListObjects, as Excel resolves them ("Using structured references
/// with Excel tables"), in an xlsx whose formulas are saved without cached values.
@Suite("Structured references")
struct StructuredReferenceTests {
    static func tablePart(_ name: String, _ ref: String, totals: Int?, columns: [String]) -> String {
        let t = totals.map { #" totalsRowCount="\#($0)""# } ?? ""
        return #"<table xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" id="1" name="\#(name)" displayName="\#(name)" ref="\#(ref)"\#(t)><tableColumns count="\#(columns.count)">"#
            + columns.map { #"<tableColumn id="1" name="\#($0)"/>"# }.joined() + "</tableColumns></table>"
    }
    static func s(_ ref: String, _ text: String) -> String { #"<c r="\#(ref)" t="inlineStr"><is><t>\#(text)</t></is></c>"# }
    static func n(_ ref: String, _ v: Double) -> String { #"<c r="\#(ref)"><v>\#(v)</v></c>"# }
    static func f(_ ref: String, _ formula: String) -> String {
        let escaped = formula.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        return #"<c r="\#(ref)"><f>\#(escaped)</f></c>"#
    }

    /// Sheet "Orders": table Sales A1:D5 (Item, Qty, Unit Price, Line) with a totals row 5;
    /// Line = [@Qty]*[@[Unit Price]]; the totals row and cells outside use other forms.
    static func workbook(outside: [(String, String)]) throws -> String {
        var wb = XLSXTestWorkbook()
        let cells = outside.map { f($0.0, $0.1) }.joined()
        wb.sheets = [("Orders", XLSXTestWorkbook.sheetXML("""
            <row r="1">\(s("A1", "Item"))\(s("B1", "Qty"))\(s("C1", "Unit Price"))\(s("D1", "Line"))</row>
            <row r="2">\(s("A2", "Pen"))\(n("B2", 3))\(n("C2", 1.5))\(f("D2", "Sales[[#This Row],[Qty]]*Sales[[#This Row],[Unit Price]]"))</row>
            <row r="3">\(s("A3", "Ink"))\(n("B3", 2))\(n("C3", 4))\(f("D3", "[@Qty]*[@[Unit Price]]"))</row>
            <row r="4">\(s("A4", "Pad"))\(n("B4", 5))\(n("C4", 2))\(f("D4", "[@Qty]*[@[Unit Price]]"))</row>
            <row r="5">\(s("A5", "Total"))\(f("B5", "SUBTOTAL(109,[Qty])"))\(f("D5", "SUBTOTAL(109,Sales[Line])"))</row>
            <row r="7">\(cells)</row>
            """, after: #"<tableParts count="1"><tablePart r:id="rT1"/></tableParts>"#), nil, "worksheet")]
        let tableRel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/table"
        wb.sheetRels[0] = #"<Relationship Id="rT1" Type="\#(tableRel)" Target="../tables/table1.xml"/>"#
        wb.extraParts = [("xl/tables/table1.xml", tablePart("Sales", "A1:D5", totals: 1, columns: ["Item", "Qty", "Unit Price", "Line"]))]
        return try wb.write()
    }

    static func values(_ path: String) throws -> (cells: [String: CellValue], stats: FormulaEvaluationStats?) {
        let reader = try Workbooks.open(path: path)
        var cells: [String: CellValue] = [:]
        try reader.readSheet(at: 0) { row in
            for c in row.cells { cells[CellRef(row: row.index, column: c.column).description] = c.value }
            return true
        }
        return (cells, reader.formulaStats)
    }

    @Test("[@Col], [[#This Row],[Col]], [Col] in the totals row and Table[Col] outside the table")
    func inTable() throws {
        let path = try Self.workbook(outside: [
            ("A7", "SUM(Sales[Qty])"), ("B7", "SUM(Sales[[#Totals],[Qty]])"), ("C7", "COUNTA(Sales[#Headers])"),
            ("D7", "SUM(Sales[[Qty]:[Unit Price]])"), ("E7", "ROWS(Sales[#All])"), ("F7", "SUM(Sales)"),
            ("G7", "VLOOKUP(\"Ink\",Sales,4,FALSE)"), ("H7", "SUMIF(Sales[Item],\"P*\",Sales[Line])"),
            ("I7", "SUM(Sales[Nope])"), ("J7", "SUM(Other[Qty])"), ("K7", "[@Qty]"), ("L7", "ROWS(Sales[])"),
            ("M7", "SUM(sales[QTY])"), ("N7", "INDEX(Sales[Item],2)"),
        ])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (c, stats) = try Self.values(path)
        #expect(c["D2"] == .number(4.5) && c["D3"] == .number(8) && c["D4"] == .number(10))
        #expect(c["B5"] == .number(10) && c["D5"] == .number(22.5))
        #expect(c["A7"] == .number(10))                 // data rows only, not the totals row
        #expect(c["B7"] == .number(10))                 // the totals row's cell
        #expect(c["C7"] == .number(4))
        #expect(c["D7"] == .number(17.5))               // Qty and Unit Price columns
        #expect(c["E7"] == .number(5))
        #expect(c["F7"] == .number(40))                 // a table name alone is its data: 10 + 7.5 + 22.5
        #expect(c["G7"] == .number(8))
        #expect(c["H7"] == .number(14.5))               // Pen 4.5 + Pad 10
        #expect(c["I7"] == .error("#REF!") && c["J7"] == .error("#REF!"))
        #expect(c["K7"] == .error("#REF!"))              // [@Qty] outside any table
        #expect(c["L7"] == .number(3))
        #expect(c["M7"] == .number(10))                 // names are case-insensitive
        #expect(c["N7"] == .string("Ink"))
        let reasons = Set(stats?.problems.map(\.reason) ?? [])
        #expect(reasons.contains { $0.contains("no column Nope") } && reasons.contains { $0.contains("unknown table Other") })
    }

    @Test("the bracket parser: escapes, spaces, spans and specials")
    func items() throws {
        #expect(FormulaEngine.structuredItems("[Qty]")! == ([], ["Qty"]))
        #expect(FormulaEngine.structuredItems("[@Qty]")! == (["@"], ["Qty"]))
        #expect(FormulaEngine.structuredItems("[@[Unit Price]]")! == (["@"], ["Unit Price"]))
        #expect(FormulaEngine.structuredItems("[[#Headers],[#Data],[A]:[B]]")! == (["#Headers", "#Data"], ["A", "B"]))
        #expect(FormulaEngine.structuredItems("[[Price '[USD']]]")! == ([], ["Price [USD]"]))
        #expect(FormulaEngine.structuredItems("[#All]")! == (["#All"], []))
        #expect(FormulaEngine.structuredItems("[]")! == ([], []))
        #expect(FormulaEngine.structuredItems("[[A],x]") == nil)
        #expect(try FormulaParser.parse("Sales[[#This Row],[Qty]]*2") == .binary(.multiply, .structured(table: "Sales", spec: "[[#This Row],[Qty]]"), .number(2)))
        #expect(try FormulaParser.parse("[@Qty]") == .structured(table: nil, spec: "[@Qty]"))
        // An external reference still parses as one.
        if case .reference(let a) = try FormulaParser.parse("[1]Sheet1!A1") { #expect(a.externalBook == "1") } else { Issue.record("external") }
    }
}
