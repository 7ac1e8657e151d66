import Foundation
import Testing
@testable import XLChatWorkbook

/// Excel's 15-digit precision, LOOKUP, base conversions and depreciation (issue 11's gaps from
/// the newcomer's report), each against Excel's documented results.
@Suite("Formula precision, LOOKUP and added functions")
struct FormulaPrecisionLookupTests {
    static func eval(_ f: String, _ cells: [String: Any] = [:]) throws -> FormulaValue {
        let e = formulaEngine([("S", cells)])
        return try e.evaluate(formula: f, sheet: 0, cell: CellRef(row: 99, column: 9)).value
    }

    @Test("comparisons at 15 significant digits: 0.1+0.2=0.3 is TRUE; numbers that differ in the 15th digit still differ")
    func fifteenDigits() throws {
        var rng = SystemRandomNumberGenerator()
        #expect(try Self.eval("0.1+0.2=0.3") == .bool(true))
        #expect(try Self.eval("0.1+0.2<>0.3") == .bool(false))
        #expect(try Self.eval("0.1+0.2>0.3") == .bool(false))
        #expect(try Self.eval("1-0.9=0.1") == .bool(true))
        #expect(try Self.eval("0.3*3=0.9") == .bool(true))
        #expect(try Self.eval("123456.1+0.2=123456.3") == .bool(true))
        #expect(try Self.eval("1E+20+1E+5=1E+20") == .bool(true))   // past 15 digits Excel cannot tell them apart
        #expect(try Self.eval("1.00000000000001=1") == .bool(false))  // differs in the 15th digit
        #expect(try Self.eval("0.30000000000001>0.3") == .bool(true))
        #expect(try Self.eval("-0.1-0.2=-0.3") == .bool(true))
        #expect(try Self.eval("A1=0.3", ["A1": 0.1 + 0.2]) == .bool(true))
        // Criteria compare the same way (COUNTIF counts a computed 0.30000000000000004 as 0.3).
        #expect(try Self.eval("COUNTIF(A1:A3,0.3)", ["A1": 0.1 + 0.2, "A2": 0.3, "A3": 0.31]) == .number(2))
        #expect(ExcelPrecision.round15(0.1 + 0.2) == 0.3)
        #expect(ExcelPrecision.round15(1234567890123456789) == 1234567890123460000)
        #expect(ExcelPrecision.round15(-2.0000000000000004) == -2)
        #expect(ExcelPrecision.round15(42) == 42 && ExcelPrecision.round15(0) == 0)
        // The fast path agrees with decimal rounding (%.14e) across magnitudes.
        for _ in 0..<5000 {
            let d = Double.random(in: 1...10, using: &rng) * pow(10, Double(Int.random(in: -5...14, using: &rng)))
            let text = Double(String(format: "%.14e", d))!
            let fast = ExcelPrecision.round15(d)
            #expect(fast == text && ExcelPrecision.round15(-d) == -text, "\(d): \(fast) vs \(text)")
        }
        #expect(try Self.eval("MATCH(0.3,A1:A2,0)", ["A1": 0.5, "A2": 0.1 + 0.2]) == .number(2))
        #expect(try Self.eval("VLOOKUP(0.3,A1:B2,2,FALSE)", ["A1": 0.1 + 0.2, "B1": "x", "A2": 1, "B2": "y"]) == .string("x"))
        // Order is never changed by the rounding.
        for _ in 0..<2000 {
            let x = Double.random(in: -1e6...1e6, using: &rng), y = x + Double.random(in: -1e-8...1e-8, using: &rng)
            let c = ExcelPrecision.compare(x, y)
            #expect(c == 0 ? ExcelPrecision.round15(x) == ExcelPrecision.round15(y) : (c < 0) == (x < y))
        }
    }

    @Test("a computed value is read at 15 significant digits (0.3, not 0.30000000000000004); a cached one as the file has it")
    func computedValuesRounded() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(
            #"<row r="1"><c r="A1"><f>0.1+0.2</f></c><c r="B1"><f>0.1+0.2</f><v>0.30000000000000004</v></c><c r="C1"><f>0.1+0.2=0.3</f></c><c r="D1"><f>1/3</f></c></row>"#), nil, "worksheet")]
        let path = try wb.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var cells: [String: CellValue] = [:]
        try Workbooks.open(path: path).readSheet(at: 0) { row in
            for c in row.cells { cells[CellRef(row: row.index, column: c.column).description] = c.value }
            return true
        }
        #expect(cells["A1"] == .number(0.3))
        #expect(cells["B1"] == .number(0.30000000000000004))
        #expect(cells["C1"] == .bool(true))
        #expect(cells["D1"] == .number(0.333333333333333))
    }

    @Test("LOOKUP, vector form: the last value <= the lookup value on sorted data; #N/A below the first")
    func lookupVector() throws {
        // Excel's documentation example: frequencies and colours.
        let cells: [String: Any] = ["A2": 4.14, "A3": 4.19, "A4": 5.17, "A5": 5.77, "A6": 6.39,
                                    "B2": "red", "B3": "orange", "B4": "yellow", "B5": "green", "B6": "blue"]
        #expect(try Self.eval("LOOKUP(4.19,A2:A6,B2:B6)", cells) == .string("orange"))
        #expect(try Self.eval("LOOKUP(5.75,A2:A6,B2:B6)", cells) == .string("yellow"))
        #expect(try Self.eval("LOOKUP(7.66,A2:A6,B2:B6)", cells) == .string("blue"))
        #expect(try Self.eval("LOOKUP(0,A2:A6,B2:B6)", cells) == .error("#N/A"))
        #expect(try Self.eval("LOOKUP(5.2,A2:A6)", cells) == .number(5.17))
        // A horizontal result vector, a result vector shorter than the match (read past its end).
        let wide: [String: Any] = ["A1": 1, "B1": 2, "C1": 3, "A2": "x", "B2": "y", "C2": "z", "A5": "p", "A6": "q", "A7": "r"]
        #expect(try Self.eval("LOOKUP(2.5,A1:C1,A2:C2)", wide) == .string("y"))
        #expect(try Self.eval("LOOKUP(3,A1:C1,A5:A6)", wide) == .string("r"))
        // Text keys compare case-insensitively; other types are stepped over.
        let names: [String: Any] = ["A1": "apple", "A2": "Banana", "A3": 5, "A4": "cherry", "B1": 1, "B2": 2, "B3": 3, "B4": 4]
        #expect(try Self.eval("LOOKUP(\"BANANA\",A1:A4,B1:B4)", names) == .number(2))
        #expect(try Self.eval("LOOKUP(\"zzz\",A1:A4,B1:B4)", names) == .number(4))
        // The last non-blank value, a common idiom: LOOKUP(2,1/(range<>""),range).
        let gaps: [String: Any] = ["A1": 10, "A2": 20, "A4": 40, "A5": "last"]
        #expect(try Self.eval("LOOKUP(2,1/(A1:A9<>\"\"),A1:A9)", gaps) == .string("last"))
        #expect(try Self.eval("LOOKUP(2,1/((A1:A9>15)*(A1:A9<100)),A1:A9)", gaps) == .number(40))
    }

    @Test("LOOKUP, array form: first row of a wide array, first column of a tall or square one; the last row / column's value")
    func lookupArray() throws {
        #expect(try Self.eval("LOOKUP(\"C\",{\"a\",\"b\",\"c\",\"d\";1,2,3,4})") == .number(3))
        #expect(try Self.eval("LOOKUP(\"bump\",{\"a\",1;\"b\",2;\"c\",3})") == .number(2))
        #expect(try Self.eval("LOOKUP(2.5,{1,2,3})") == .number(2))
        let grid: [String: Any] = ["A1": 1, "B1": "one", "C1": "I", "A2": 2, "B2": "two", "C2": "II", "A3": 3, "B3": "three", "C3": "III"]
        #expect(try Self.eval("LOOKUP(2,A1:C3)", grid) == .string("II"))
        #expect(try Self.eval("LOOKUP(2,A1:B3)", grid) == .string("two"))
        #expect(try Self.eval("LOOKUP(NA(),A1:A3)", grid) == .error("#N/A"))
    }

    @Test("base conversions as Excel documents them, with two's complement for negatives and places")
    func baseConversions() throws {
        let cases: [(String, FormulaValue)] = [
            ("DEC2BIN(9,4)", .string("1001")), ("DEC2BIN(-100)", .string("1110011100")), ("DEC2BIN(9.9)", .string("1001")),
            ("DEC2BIN(512)", .error("#NUM!")), ("DEC2BIN(-512)", .string("1000000000")), ("DEC2BIN(9,3)", .error("#NUM!")),
            ("DEC2BIN(9,-1)", .error("#NUM!")), ("DEC2BIN(TRUE)", .error("#VALUE!")), ("DEC2BIN(\"x\")", .error("#VALUE!")),
            ("DEC2OCT(58,3)", .string("072")), ("DEC2OCT(-100)", .string("7777777634")),
            ("DEC2HEX(100,4)", .string("0064")), ("DEC2HEX(-54)", .string("FFFFFFFFCA")), ("DEC2HEX(28)", .string("1C")),
            ("DEC2HEX(549755813888)", .error("#NUM!")),
            ("BIN2DEC(1100100)", .number(100)), ("BIN2DEC(1111111111)", .number(-1)), ("BIN2DEC(\"12\")", .error("#NUM!")),
            ("BIN2DEC(\"11111111111\")", .error("#NUM!")),
            ("BIN2HEX(11111011,4)", .string("00FB")), ("BIN2HEX(1110)", .string("E")), ("BIN2HEX(1111111111)", .string("FFFFFFFFFF")),
            ("BIN2OCT(1001,3)", .string("011")), ("BIN2OCT(1100100)", .string("144")), ("BIN2OCT(1111111111)", .string("7777777777")),
            ("OCT2DEC(54)", .number(44)), ("OCT2DEC(7777777533)", .number(-165)),
            ("OCT2BIN(3,3)", .string("011")), ("OCT2BIN(7777777000)", .string("1000000000")), ("OCT2BIN(1000)", .error("#NUM!")),
            ("OCT2HEX(100,4)", .string("0040")), ("OCT2HEX(7777777533)", .string("FFFFFFFF5B")),
            ("HEX2DEC(\"A5\")", .number(165)), ("HEX2DEC(\"FFFFFFFF5B\")", .number(-165)), ("HEX2DEC(\"3DA408B9\")", .number(1034160313)),
            ("HEX2BIN(\"F\",8)", .string("00001111")), ("HEX2BIN(\"B7\")", .string("10110111")), ("HEX2BIN(\"FFFFFFFE00\")", .string("1000000000")),
            ("HEX2BIN(\"200\")", .error("#NUM!")), ("HEX2OCT(\"F\",3)", .string("017")), ("HEX2OCT(\"3B4E\")", .string("35516")),
            ("HEX2OCT(\"FFFFFFFF00\")", .string("7777777400")), ("HEX2DEC(\"G1\")", .error("#NUM!")), ("HEX2DEC(\"\")", .number(0)),
        ]
        for (f, want) in cases { #expect(try Self.eval(f) == want, "\(f)") }
    }

    @Test("SLN and DB: Excel's documentation examples")
    func depreciation() throws {
        #expect(try Self.eval("SLN(30000,7500,10)") == .number(2250))
        #expect(try Self.eval("SLN(1,0,0)") == .error("#DIV/0!"))
        // DB(1000000, 100000, 6, period, 7): 186083.33, 259639.42, 176814.44, 120410.64, 81999.64, 55841.76, 15845.10.
        let want = [186083.33, 259639.42, 176814.44, 120410.64, 81999.64, 55841.76, 15845.10]
        for (k, w) in want.enumerated() {
            guard case .number(let d) = try Self.eval("DB(1000000,100000,6,\(k + 1),7)") else { Issue.record("DB \(k + 1)"); continue }
            #expect(abs(d - w) < 0.01, "period \(k + 1): \(d)")
        }
        #expect(try Self.eval("DB(1000000,100000,6,8,7)") == .error("#NUM!"))
        #expect(try Self.eval("DB(1000000,100000,6,7)") == .error("#NUM!"))   // month 12: no period 7
        #expect(try Self.eval("DB(-1,0,6,1)") == .error("#NUM!"))
    }
}

@Suite("3-D references")
struct ThreeDReferenceTests {
    static var months: [(String, [String: Any])] { [
        ("Summary", ["A1": "x"]),
        ("Jan", ["B2": 10, "B3": 1]), ("Feb", ["B2": 20, "B3": "text"]), ("Mar", ["B2": 30, "C9": 5]),
        ("Mar Extra", ["B2": 1000]), ("Notes", ["B2": 7]),
    ] }

    static func eval(_ f: String) throws -> FormulaResult {
        try formulaEngine(months).evaluate(formula: f, sheet: 0, cell: CellRef(row: 5, column: 5))
    }

    @Test("SUM, AVERAGE, COUNT, COUNTA, MIN, MAX over Jan:Mar!B2 read the sheets from the first to the last in workbook order")
    func aggregates() throws {
        #expect(try Self.eval("SUM(Jan:Mar!B2)").value == .number(60))
        #expect(try Self.eval("SUM(Mar:Jan!B2)").value == .number(60))              // either order
        #expect(try Self.eval("SUM(Jan:Feb!B2:B3)").value == .number(31))           // text in a reference is skipped
        #expect(try Self.eval("AVERAGE(Jan:Mar!B2)").value == .number(20))
        #expect(try Self.eval("COUNT(Jan:Mar!B2:B3)").value == .number(4))
        #expect(try Self.eval("COUNTA(Jan:Mar!B2:B3)").value == .number(5))
        #expect(try Self.eval("MIN(Jan:Mar!B2)").value == .number(10) && Self.eval("MAX(Jan:Mar!B2)").value == .number(30))
        #expect(try Self.eval("SUM(Jan:Mar!B2,1)").value == .number(61))
        #expect(try Self.eval("SUM('Feb:Mar Extra'!B2)").value == .number(1050)) // quoted, names with spaces
        #expect(try Self.eval("SUM(Jan:Mar!A:C)").value == .number(66))              // whole columns
        #expect(try Self.eval("SUM(Summary:Notes!B2)").value == .number(1067))
    }

    @Test("a missing sheet is #REF!; a 3-D reference outside an aggregate is #VALUE! and reported as not computed")
    func errors() throws {
        #expect(try Self.eval("SUM(Jan:Dec!B2)").value == .error("#REF!"))
        let r = try Self.eval("Jan:Mar!B2*2")
        #expect(r.value == .error("#VALUE!") && r.problem?.contains("3-D reference") == true)
        #expect(try FormulaParser.parse("SUM(Jan:Mar!B2)") == .call("SUM", [.reference(FormulaArea(sheet: "Jan", range: CellRange(start: CellRef(row: 1, column: 1), end: CellRef(row: 1, column: 1)), lastSheet: "Mar"))]))
    }

    @Test("an xlsx whose summary sums the month sheets with a 3-D reference, saved without cached values")
    func workbook() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [
            ("Summary", XLSXTestWorkbook.sheetXML(#"<row r="1"><c r="A1" t="inlineStr"><is><t>Total</t></is></c><c r="B1"><f>SUM(Jan:Mar!B2:B4)</f></c></row>"#), nil, "worksheet"),
            ("Jan", XLSXTestWorkbook.sheetXML(#"<row r="2"><c r="B2"><v>1.5</v></c></row><row r="3"><c r="B3"><v>2</v></c></row>"#), nil, "worksheet"),
            ("Feb", XLSXTestWorkbook.sheetXML(#"<row r="2"><c r="B2"><v>3</v></c></row>"#), nil, "worksheet"),
            ("Mar", XLSXTestWorkbook.sheetXML(#"<row r="4"><c r="B4"><f>2*2</f></c></row>"#), nil, "worksheet"),
        ]
        let path = try wb.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try Workbooks.open(path: path)
        var total: CellValue? = nil
        try reader.readSheet(at: 0) { row in
            if let c = row.cells.first(where: { $0.column == 1 }) { total = c.value }
            return true
        }
        #expect(total == .number(10.5))
        #expect(reader.formulaStats?.notComputed == 0)
    }
}
