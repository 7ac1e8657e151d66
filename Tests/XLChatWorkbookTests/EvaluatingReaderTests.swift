import Foundation
import Testing
@testable import XLChatWorkbook

@Suite("Formulas without cached values (xlsx + EvaluatingReader)")
struct EvaluatingReaderTests {
    static func fidelity(_ name: String) -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.deletingLastPathComponent().appendingPathComponent("shared/cases/fidelity/\(name)").path
        precondition(FileManager.default.fileExists(atPath: path), "the fidelity case is missing: \(path)")
        return path
    }

    static func cells(_ reader: any WorkbookReader, sheet: Int = 0) throws -> [String: RowCell] {
        var out: [String: RowCell] = [:]
        try reader.readSheet(at: sheet) { row in
            for c in row.cells { out[CellRef(row: row.index, column: c.column).description] = c }
            return true
        }
        return out
    }

    @Test("the fidelity case: line totals 19, 120, 9 (sum 148), typed as numbers, counted in the outline")
    func fidelityCase() throws {
        let path = Self.fidelity("formulas-without-cached-values.xlsx")
        let raw = try Self.cells(try Workbooks.open(path: path, evaluateFormulas: false))
        #expect(raw["D2"] == RowCell(column: 3, value: .empty, formula: "B2*C2"))
        let reader = try Workbooks.open(path: path)
        let cells = try Self.cells(reader)
        #expect(cells["D2"]?.value == .number(19) && cells["D3"]?.value == .number(120) && cells["D4"]?.value == .number(9))
        #expect(cells["D3"]?.formula == "B3*C3")
        let outline = try WorkbookOutline.build(reader: try Workbooks.open(path: path), path: path, contentHash: "x")
        #expect(outline.formulas?.computed == 3 && outline.formulas?.notComputed == 0)
        let column = outline.sheets[0].table?.columns.first { $0.header == "Line total" }
        #expect(column?.type == .real || column?.type == .integer)
    }

    @Test("array, dynamic-array, shared and uncached formulas keep their text; bad ones are reported with their cell")
    func xlsxVariants() throws {
        var wb = XLSXTestWorkbook()
        wb.workbookExtra = #"<definedNames><definedName name="Rate">Data!$B$1</definedName></definedNames>"#
        wb.sheets = [("Data", XLSXTestWorkbook.sheetXML(
            #"<row r="1"><c r="A1"><v>1</v></c><c r="B1"><v>0.5</v></c><c r="C1"><f t="array" ref="C1:C2">A1:A2*2</f><v>2</v></c><c r="D1" cm="1"><f t="array" ref="D1:D2">_xlfn.SORT(A1:A2)</f></c></row>"#
            + #"<row r="2"><c r="A2"><v>3</v></c><c r="C2"><v>6</v></c><c r="E2"><f t="shared" ref="E2:E4" si="0">A2*Rate</f></c></row>"#
            + #"<row r="3"><c r="E3"><f t="shared" si="0"/></c><c r="F3"><f>NOSUCHFN(1)</f></c><c r="G3"><f>SUM(1,</f></c><c r="H3"><f>H3+1</f></c></row>"#
            + #"<row r="4"><c r="E4"><f t="shared" si="0"/><v></v></c><c r="F4"><f>[1]Other!A1</f></c><c r="G4" t="str"><f>TODAY()&amp;""</f></c></row>"#), nil, "worksheet")]
        let path = try wb.write()
        let raw = try Self.cells(try Workbooks.open(path: path, evaluateFormulas: false))
        #expect(raw["C1"]?.formula == "A1:A2*2" && raw["C1"]?.value == .number(2))
        #expect(raw["D1"]?.formula == "_xlfn.SORT(A1:A2)" && raw["D1"]?.value == .empty)
        #expect(raw["E3"]?.formula == "A3*Rate")
        let reader = try Workbooks.open(path: path)
        let cells = try Self.cells(reader)
        #expect(cells["C1"]?.value == .number(2))                     // cached: kept
        #expect(cells["E2"]?.value == .number(1.5))                   // via the defined name
        #expect(cells["E3"]?.value == .number(0))                     // A3 is blank
        #expect(cells["F3"]?.value == .error("#NAME?") && cells["F3"]?.formula == "NOSUCHFN(1)")
        #expect(cells["G3"]?.value == .error(FormulaErrors.unparsed) && cells["G3"]?.formula == "SUM(1,")
        #expect(cells["H3"]?.value == .error(FormulaErrors.circular))
        #expect(cells["F4"]?.value == .error(FormulaErrors.external))
        let stats = try #require(reader.formulaStats)
        #expect(stats.volatile == 1)
        let reasons = Dictionary(uniqueKeysWithValues: stats.problems.map { ($0.cell.description, $0.reason) })
        #expect(reasons["F3"] == "unknown function NOSUCHFN")
        #expect(reasons["G3"]?.hasPrefix("formula does not parse") == true)
        #expect(reasons["H3"] == "circular reference")
        #expect(reasons["F4"]?.contains("external reference") == true)
        #expect(reasons["D1"]?.contains("SORT") == true)
        #expect(stats.notComputed == 5 && stats.computed == 4, "\(stats)")
    }

    @Test("a computed number in a date/time-formatted cell comes back as that date/time kind; text and plain cells do not")
    func computedCellsKeepTheirNumberFormat() throws {
        var wb = XLSXTestWorkbook()
        // Styles (XLSXReaderTests.styles): 1 yyyy-mm-dd, 2 m/d/yy h:mm, 3 h:mm:ss, 4 [h]:mm:ss.
        wb.styles = XLSXReaderTests.styles
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(
            #"<row r="1"><c r="A1" s="1"><f>DATE(2024,3,1)</f></c><c r="B1" s="1"><f>A1+30</f></c><c r="C1"><f>EDATE(A1,1)</f></c>"#
            + #"<c r="D1" s="2"><f>A1+0.5</f></c><c r="E1" s="3"><f>1/24</f></c><c r="F1" s="4"><f>E1*30</f></c>"#
            + #"<c r="G1" s="1" t="str"><f>"x"&amp;1</f></c><c r="H1"><f>YEAR(B1)</f></c><c r="I1" s="1"><f>A1</f><v>45000</v></c>"#
            + #"<c r="J1" s="1"><f>1/0</f></c></row>"#), nil, "worksheet")]
        let path = try wb.write()
        let cells = try Self.cells(try Workbooks.open(path: path))
        #expect(cells["A1"]?.value == .temporal(.date, serial: 45352))              // 2024-03-01
        #expect(cells["A1"]?.value.isoText == "2024-03-01")
        #expect(cells["B1"]?.value == .temporal(.date, serial: 45382))
        #expect(cells["C1"]?.value == .number(45383))                               // General: the serial, as Excel shows it
        #expect(cells["D1"]?.value == .temporal(.dateTime, serial: 45352.5))
        #expect(cells["E1"]?.value == .temporal(.time, serial: 1.0 / 24))
        #expect(cells["F1"]?.value == .temporal(.duration, serial: 30.0 / 24))
        #expect(cells["G1"]?.value == .string("x1"))                                // text is not formatted
        #expect(cells["H1"]?.value == .number(2024))
        #expect(cells["I1"]?.value == .temporal(.date, serial: 45000))              // cached: as before
        #expect(cells["J1"]?.value == .error("#DIV/0!"))
        // The raw reader keeps the style's kind on the uncached cells for the evaluator.
        let raw = try Self.cells(try Workbooks.open(path: path, evaluateFormulas: false))
        #expect(raw["A1"]?.numberFormatKind == .date && raw["C1"]?.numberFormatKind == nil && raw["E1"]?.numberFormatKind == .time)
    }
}
