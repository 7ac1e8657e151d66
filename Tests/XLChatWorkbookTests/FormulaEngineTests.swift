import Foundation
import Testing
@testable import XLChatWorkbook

/// An engine over in-memory sheets: values are Double / String / Bool, or "=formula" for a
/// formula cell saved without a cached value; `cached` gives (formula, cached value) pairs.
func formulaEngine(_ sheets: [(String, [String: Any])], names: [DefinedName] = [], limits: FormulaLimits = .default,
                   loads: LoadCounter? = nil) -> FormulaEngine {
    var rowsBySheet: [[SheetRow]] = []
    for (_, cells) in sheets {
        var byRow: [Int: [RowCell]] = [:]
        for (ref, v) in cells {
            let r = A1.parseRef(ref)!
            let cell: RowCell
            switch v {
            case let s as String where s.hasPrefix("="): cell = RowCell(column: r.column, value: .empty, formula: String(s.dropFirst()))
            case let s as String: cell = RowCell(column: r.column, value: .string(s))
            case let d as Double: cell = RowCell(column: r.column, value: .number(d))
            case let i as Int: cell = RowCell(column: r.column, value: .number(Double(i)))
            case let b as Bool: cell = RowCell(column: r.column, value: .bool(b))
            case let c as CellValue: cell = RowCell(column: r.column, value: c)
            case let (f, c) as (String, CellValue): cell = RowCell(column: r.column, value: c, formula: f)
            default: fatalError("bad test cell \(v)")
            }
            byRow[r.row, default: []].append(cell)
        }
        rowsBySheet.append(byRow.keys.sorted().map { SheetRow(index: $0, cells: byRow[$0]!.sorted { $0.column < $1.column }) })
    }
    let frozen = rowsBySheet
    return FormulaEngine(sheetNames: sheets.map(\.0), definedNames: names, limits: limits) { index, visit in
        loads?.count += 1
        for row in frozen[index] { try visit(row) }
    }
}

/// Evaluates `formula` in Sheet1!Z100 of the given cells.
func eval(_ formula: String, _ cells: [String: Any] = [:], others: [(String, [String: Any])] = [], names: [DefinedName] = []) throws -> FormulaValue {
    try formulaEngine([("Sheet1", cells)] + others, names: names).evaluate(formula: formula, sheet: 0, cell: CellRef(row: 99, column: 25)).value
}

func isNumber(_ v: FormulaValue, _ expected: Double, tolerance: Double = 1e-9) -> Bool {
    if case .number(let d) = v { return abs(d - expected) <= tolerance * max(1, abs(expected)) }
    return false
}

@Suite("Formula engine")
struct FormulaEngineTests {
    @Test("operators: precedence, %, unary minus, &, comparisons and Excel's coercions")
    func operators() throws {
        let cases: [(String, FormulaValue)] = [
            ("1+2*3", .number(7)), ("(1+2)*3", .number(9)), ("-2^2", .number(4)), ("2^3^2", .number(64)),
            ("10%", .number(0.1)), ("50%*200", .number(100)), ("--\"3\"", .number(3)), ("\"3\"+1", .number(4)),
            ("TRUE+1", .number(2)), ("\"a\"&1&TRUE", .string("a1TRUE")), ("1/0", .error("#DIV/0!")),
            ("\"x\"+1", .error("#VALUE!")), ("\"a\"=\"A\"", .bool(true)), ("1<\"a\"", .bool(true)), ("\"z\"<TRUE", .bool(true)),
            ("2>=2", .bool(true)), ("1<>1", .bool(false)), ("0.1+0.2=0.3", .bool(true)) /* 15 digits, as Excel compares */, ("#N/A+1", .error("#N/A")),
            ("\"1,000\"*2", .number(2000)), ("\"$5\"+1", .number(6)), ("\"50%\"*2", .number(1)), ("1.5E3", .number(1500)),
            ("0^0", .error("#NUM!")), ("A1+1", .number(1)), ("A1&\"x\"", .string("x")), ("3&0.1+0.2", .string("30.3")),
            ("1/3&\"\"", .string("0.333333333333333")), ("1E+20&\"\"", .string("1E+20")),
        ]
        for (f, expected) in cases {
            let got = try eval(f)
            if case .number(let e) = expected { #expect(isNumber(got, e), "\(f) gave \(got)") } else { #expect(got == expected, "\(f) gave \(got)") }
        }
    }

    @Test("references: ranges, whole columns and rows, other sheets, defined names (workbook and sheet scope)")
    func references() throws {
        let cells: [String: Any] = ["A1": 1, "A2": 2, "A3": 3, "B1": 10, "C5": "text", "A4": true]
        let other: [String: Any] = ["B2": 100, "B3": 200]
        let names = [DefinedName(name: "Rate", refersTo: "0.5"), DefinedName(name: "Totals", refersTo: "'Other Sheet'!$B$2:$B$3"),
                     DefinedName(name: "Local", refersTo: "Sheet1!$A$1", localSheet: 0), DefinedName(name: "Local", refersTo: "7")]
        let sheets: [(String, [String: Any])] = [("Other Sheet", other)]
        #expect(try eval("SUM(A1:A3)", cells, others: sheets) == .number(6))
        #expect(try eval("SUM(A:A)", cells, others: sheets) == .number(6))      // TRUE in a range is skipped
        #expect(try eval("SUM(1:1)", cells, others: sheets) == .number(11))
        #expect(try eval("SUM($A$1:A2)", cells, others: sheets) == .number(3))
        #expect(try eval("'Other Sheet'!B2+1", cells, others: sheets) == .number(101))
        #expect(try eval("SUM(Totals)*Rate", cells, others: sheets, names: names) == .number(150))
        #expect(try eval("Local", cells, others: sheets, names: names) == .number(1))
        #expect(try eval("Missing+1", cells, others: sheets, names: names) == .error("#NAME?"))
        #expect(try eval("NoSuchSheet!A1", cells, others: sheets) == .error("#REF!"))
        #expect(try eval("SUM(A1:INDEX(A:A,2))", cells) == .number(3))
        #expect(try eval("ROWS(A:A)", cells) == .number(1_048_576))
    }

    @Test("implicit intersection at the top level, arrays inside functions")
    func intersectionAndArrays() throws {
        let cells: [String: Any] = ["A1": "x", "A2": "y", "A3": "x", "B1": 1, "B2": 2, "B3": 3, "C100": 5, "D1": 2, "D2": 3, "D3": 4]
        // The formula stands in Z100: C:C intersects row 100.
        #expect(try eval("C:C*2", cells) == .number(10))
        #expect(try eval("B1:B3*2", cells) == .error("#VALUE!"))
        #expect(try eval("SUMPRODUCT((A1:A3=\"x\")*B1:B3)", cells) == .number(4))
        #expect(try eval("SUMPRODUCT(B1:B3,D1:D3)", cells) == .number(20))
        #expect(try eval("SUM(B1:B3*D1:D3)", cells) == .number(20))
        #expect(try eval("SUM(IF(A1:A3=\"x\",B1:B3,0))", cells) == .number(4))
        #expect(try eval("SUM({1,2;3,4})", cells) == .number(10))
        #expect(try eval("INDEX({1,2;3,4},2,1)", cells) == .number(3))
        #expect(try eval("MATCH(1,(A1:A3=\"x\")*(B1:B3>1),0)", cells) == .number(3))
    }

    @Test("every listed function, against values from Excel's documentation")
    func functions() throws {
        let cells: [String: Any] = [
            "A1": "Region", "B1": "Sales", "C1": "Units",
            "A2": "East", "B2": 100, "C2": 1, "A3": "West", "B3": 200, "C3": 2, "A4": "East", "B4": 300, "C4": 3,
            "A5": "North", "B5": 400, "C5": 4, "A6": "east", "B6": 50, "C6": 5,
            "E1": 1, "E2": 2, "E3": 3, "E4": 4, "E5": 5, "F1": "  hello   world  ", "F2": "apple", "F3": "",
            "G1": -10000, "G2": 3000, "G3": 4200, "G4": 6800,
            "H1": 45292.0, "H2": 45351.0,  // 2024-01-01, 2024-02-29
        ]
        let expected: [(String, FormulaValue)] = [
            ("SUM(B2:B6)", .number(1050)), ("SUMIF(A2:A6,\"East\",B2:B6)", .number(450)), ("SUMIF(B2:B6,\">150\")", .number(900)),
            ("SUMIFS(B2:B6,A2:A6,\"East\",C2:C6,\">1\")", .number(350)), ("SUMIF(A2:A6,\"*st\",B2:B6)", .number(650)),
            ("AVERAGE(B2:B6)", .number(210)), ("AVERAGEIF(A2:A6,\"East\",B2:B6)", .number(150)),
            ("AVERAGEIFS(B2:B6,A2:A6,\"<>North\")", .number(162.5)), ("COUNT(A1:C6)", .number(10)), ("COUNTA(A1:A6)", .number(6)),
            ("COUNTBLANK(F1:F4)", .number(2)), ("COUNTIF(A2:A6,\"east\")", .number(3)), ("COUNTIF(B2:B6,\">=200\")", .number(3)),
            ("COUNTIFS(A2:A6,\"East\",B2:B6,\">100\")", .number(1)), ("MIN(B2:B6)", .number(50)), ("MAX(B2:B6)", .number(400)),
            ("MINIFS(B2:B6,A2:A6,\"East\")", .number(50)), ("MAXIFS(B2:B6,A2:A6,\"East\")", .number(300)),
            ("PRODUCT(E1:E5)", .number(120)), ("ROUND(2.675,2)", .number(2.68)), ("ROUND(-2.5,0)", .number(-3)), ("ROUND(1234,-2)", .number(1200)),
            ("ROUNDUP(3.2,0)", .number(4)), ("ROUNDUP(-3.2,0)", .number(-4)), ("ROUNDDOWN(3.9,0)", .number(3)), ("INT(-3.5)", .number(-4)),
            ("MOD(-3,2)", .number(1)), ("MOD(3,-2)", .number(-1)), ("ABS(-2)", .number(2)), ("SQRT(16)", .number(4)), ("SQRT(-1)", .error("#NUM!")),
            ("POWER(2,10)", .number(1024)), ("IF(B2>150,\"big\",\"small\")", .string("small")), ("IF(FALSE,1)", .bool(false)),
            ("IFS(B3>250,\"a\",B3>150,\"b\")", .string("b")), ("IFERROR(1/0,\"none\")", .string("none")), ("IFNA(NA(),0)", .number(0)),
            ("IFNA(1/0,0)", .error("#DIV/0!")), ("AND(TRUE,1,B2>0)", .bool(true)), ("OR(FALSE,0)", .bool(false)), ("NOT(0)", .bool(true)),
            ("XOR(TRUE,TRUE,TRUE)", .bool(true)), ("SWITCH(C3,1,\"one\",2,\"two\",\"other\")", .string("two")), ("SWITCH(9,1,\"one\")", .error("#N/A")),
            ("CHOOSE(2,\"a\",\"b\",\"c\")", .string("b")), ("VLOOKUP(\"West\",A2:C6,2,FALSE)", .number(200)), ("VLOOKUP(\"Nope\",A2:C6,2,FALSE)", .error("#N/A")),
            ("VLOOKUP(3.5,E1:E5,1)", .number(3)), ("VLOOKUP(\"West\",A2:C6,4,FALSE)", .error("#REF!")), ("HLOOKUP(\"Units\",A1:C6,3,FALSE)", .number(2)),
            ("XLOOKUP(\"North\",A2:A6,B2:B6)", .number(400)), ("XLOOKUP(\"x\",A2:A6,B2:B6,\"none\")", .string("none")),
            ("XLOOKUP(\"East\",A2:A6,B2:B6,,0,-1)", .number(50)), ("XLOOKUP(250,B2:B6,A2:A6,,1)", .string("East")),
            ("INDEX(B2:C6,3,2)", .number(3)), ("INDEX(B2:B6,2)", .number(200)), ("SUM(INDEX(B2:C6,0,2))", .number(15)),
            ("MATCH(\"North\",A2:A6,0)", .number(4)), ("MATCH(3.5,E1:E5,1)", .number(3)), ("MATCH(\"n*\",A2:A6,0)", .number(4)),
            ("XMATCH(4,E1:E5)", .number(4)), ("XMATCH(3.5,E1:E5,1)", .number(4)), ("SUM(OFFSET(B2,1,0,2,1))", .number(500)),
            ("INDIRECT(\"B\"&3)", .number(200)), ("SUM(INDIRECT(\"B2:B3\"))", .number(300)), ("ROW(B7)", .number(7)), ("COLUMN(C1)", .number(3)),
            ("ROW()", .number(100)), ("ROWS(A2:C6)", .number(5)), ("COLUMNS(A2:C6)", .number(3)), ("ISBLANK(F4)", .bool(true)),
            ("ISBLANK(F3)", .bool(false)), ("ISNUMBER(B2)", .bool(true)), ("ISTEXT(A2)", .bool(true)), ("ISERROR(1/0)", .bool(true)),
            ("ISNA(NA())", .bool(true)), ("LEFT(F2,3)", .string("app")), ("RIGHT(F2,2)", .string("le")), ("MID(F2,2,3)", .string("ppl")),
            ("LEN(F2)", .number(5)), ("FIND(\"p\",F2)", .number(2)), ("FIND(\"P\",F2)", .error("#VALUE!")), ("SEARCH(\"P?L\",F2)", .number(2)),
            ("SUBSTITUTE(\"a-b-c\",\"-\",\"+\")", .string("a+b+c")), ("SUBSTITUTE(\"a-b-c\",\"-\",\"+\",2)", .string("a-b+c")),
            ("REPLACE(\"abcdef\",2,3,\"X\")", .string("aXef")), ("UPPER(F2)", .string("APPLE")), ("LOWER(\"AbC\")", .string("abc")),
            ("PROPER(\"hello wORLD 2x\")", .string("Hello World 2X")), ("TRIM(F1)", .string("hello world")),
            ("TEXT(1234.567,\"#,##0.00\")", .string("1,234.57")), ("TEXT(0.256,\"0.0%\")", .string("25.6%")), ("TEXT(H1,\"yyyy-mm-dd\")", .string("2024-01-01")),
            ("TEXT(H2,\"dddd, mmmm d\")", .string("Thursday, February 29")), ("TEXT(0.75,\"hh:mm\")", .string("18:00")), ("TEXT(5,\"000\")", .string("005")),
            ("TEXT(-5,\"$#,##0\")", .string("-$5")), ("VALUE(\"1,234.5\")", .number(1234.5)), ("VALUE(\"abc\")", .error("#VALUE!")),
            ("CONCAT(A2:A3,\"!\")", .string("EastWest!")), ("CONCATENATE(\"a\",1,TRUE)", .string("a1TRUE")),
            ("TEXTJOIN(\", \",TRUE,A2:A4,F3)", .string("East, West, East")), ("DATE(2024,1,1)", .number(45292)), ("DATE(2024,14,1)", .number(45689)),
            ("YEAR(H2)", .number(2024)), ("MONTH(H2)", .number(2)), ("DAY(H2)", .number(29)), ("EDATE(DATE(2024,1,31),1)", .number(45351)),
            ("EOMONTH(DATE(2023,1,15),1)", .number(44985)), ("DATEDIF(DATE(2020,5,15),DATE(2024,3,1),\"Y\")", .number(3)),
            ("DATEDIF(DATE(2020,5,15),DATE(2024,3,1),\"M\")", .number(45)), ("DATEDIF(DATE(2020,5,15),DATE(2024,3,1),\"MD\")", .number(15)),
            ("WEEKDAY(DATE(2024,1,1))", .number(2)), ("WEEKDAY(DATE(2024,1,1),2)", .number(1)), ("WEEKDAY(DATE(2024,1,1),3)", .number(0)),
            ("NETWORKDAYS(DATE(2024,1,1),DATE(2024,1,31))", .number(23)), ("NETWORKDAYS(DATE(2024,1,1),DATE(2024,1,31),H1)", .number(22)),
            ("SUBTOTAL(9,B2:B6)", .number(1050)), ("SUBTOTAL(109,B2:B6)", .number(1050)), ("SUBTOTAL(1,B2:B6)", .number(210)),
            ("AGGREGATE(9,6,B2:B6,1/0)", .number(1050)), ("AGGREGATE(14,6,B2:B6,2)", .number(300)), ("AGGREGATE(4,0,E1:E5)", .number(5)),
            ("RANK(300,B2:B6)", .number(2)), ("RANK(300,B2:B6,1)", .number(4)), ("LARGE(B2:B6,2)", .number(300)), ("SMALL(B2:B6,1)", .number(50)),
            ("MEDIAN(E1:E5)", .number(3)), ("MEDIAN(1,2,3,4)", .number(2.5)), ("STDEV(E1:E5)", .number(1.5811388300841898)), ("VAR(E1:E5)", .number(2.5)),
            ("PMT(0.08/12,10,10000)", .number(-1037.0320893591)), ("NPV(0.1,G1:G4)", .number(1188.4434123352)), ("NPV(0.1,G2:G4)+G1", .number(1307.2877535687)), ("IRR(G1:G4)", .number(0.1634056007)),
            ("COUNTIF(A2:A6,\"<>East\")", .number(2)), ("SUMIF(A:A,\"East\",B:B)", .number(450)), ("COUNTIF(F1:F4,\"\")", .number(2)),
        ]
        let engine = formulaEngine([("Sheet1", cells)])
        for (f, want) in expected {
            let got = try engine.evaluate(formula: f, sheet: 0, cell: CellRef(row: 99, column: 25))
            #expect(got.problem == nil, "\(f): \(got.problem ?? "")")
            if case .number(let e) = want { #expect(isNumber(got.value, e, tolerance: 1e-8), "\(f) gave \(got.value), want \(e)") }
            else { #expect(got.value == want, "\(f) gave \(got.value), want \(want)") }
        }
    }

    @Test("errors propagate through functions; IFERROR / ISERROR catch them")
    func errorPropagation() throws {
        let cells: [String: Any] = ["A1": 1, "A2": CellValue.error("#N/A"), "A3": 3, "B1": "=1/0"]
        #expect(try eval("SUM(A1:A3)", cells) == .error("#N/A"))
        #expect(try eval("B1+1", cells) == .error("#DIV/0!"))
        #expect(try eval("IFERROR(B1,0)", cells) == .number(0))
        #expect(try eval("COUNT(A1:A3)", cells) == .number(2))
        #expect(try eval("ISERROR(A2)", cells) == .bool(true))
        #expect(try eval("AGGREGATE(9,6,A1:A3)", cells) == .number(4))
    }

    @Test("unknown function: #NAME? with the reason; the formula is kept")
    func unknownFunction() throws {
        let r = try formulaEngine([("Sheet1", [:])]).evaluate(formula: "FOOBAR(1)+1", sheet: 0, cell: CellRef(row: 0, column: 0))
        #expect(r.value == .error("#NAME?"))
        #expect(r.problem == "unknown function FOOBAR")
    }

    @Test("circular references give an error, never a hang: self, pairs, long cycles")
    func circular() throws {
        var cells: [String: Any] = ["A1": "=A1+1", "B1": "=C1+1", "C1": "=B1*2", "D1": "=SUM(D2:D5)", "D3": "=D1"]
        // A cycle of 5,000 cells, longer than the engine's per-pass depth.
        for r in 1...5000 { cells["E\(r)"] = r == 5000 ? "=E1+1" : "=E\(r + 1)+1" }
        let engine = formulaEngine([("Sheet1", cells)])
        let start = Date()
        for ref in ["A1", "B1", "C1", "D1", "E1", "E2500"] {
            let r = try engine.value(sheet: 0, cell: A1.parseRef(ref)!)
            #expect(r.value == .error(FormulaErrors.circular), "\(ref): \(r.value)")
            #expect(r.problem != nil)
        }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("a dependency chain of 50,000 cells (a running total) is computed with bounded stack")
    func deepChain() throws {
        var cells: [String: Any] = ["A1": 1]
        for r in 2...50_000 { cells["A\(r)"] = "=A\(r - 1)+1" }
        let engine = formulaEngine([("Sheet1", cells)])
        // Asking for the last cell first: the worst order.
        #expect(try engine.value(sheet: 0, cell: A1.parseRef("A50000")!).value == .number(50_000))
    }

    @Test("external references are reported and left unevaluated")
    func external() throws {
        let r = try formulaEngine([("Sheet1", [:])]).evaluate(formula: "[1]Sheet1!A1*2", sheet: 0, cell: CellRef(row: 0, column: 0))
        #expect(r.value == .error(FormulaErrors.external))
        #expect(r.problem?.contains("external reference") == true)
        let q = try formulaEngine([("Sheet1", [:])]).evaluate(formula: "SUM('[Budget.xlsx]Plan 2024'!B2:B9)", sheet: 0, cell: CellRef(row: 0, column: 0))
        #expect(q.value == .error(FormulaErrors.external))
    }

    @Test("formula text that does not parse is reported, never guessed")
    func unparsable() throws {
        for bad in ["SUM(1,", "1+*2", "\"open", "A1:", "{1,2;3}", "#WHAT?", ")"] {
            let r = try formulaEngine([("Sheet1", [:])]).evaluate(formula: bad, sheet: 0, cell: CellRef(row: 0, column: 0))
            #expect(r.value == .error(FormulaErrors.unparsed), "\(bad): \(r.value)")
            #expect(r.problem?.hasPrefix("formula does not parse") == true)
        }
    }

    @Test("deep nesting (1,000 levels) is refused quickly; 200 levels evaluate")
    func deepNesting() throws {
        let engine = formulaEngine([("Sheet1", [:])])
        let start = Date()
        for (open, close) in [("(", ")"), ("ABS(", ")"), ("IF(TRUE,", ",0)"), ("-", "")] {
            let deep = String(repeating: open, count: 1000) + "1" + String(repeating: close, count: 1000)
            let r = try engine.evaluate(formula: deep, sheet: 0, cell: CellRef(row: 0, column: 0))
            #expect(r.value == .error(FormulaErrors.unparsed))
            #expect(r.problem?.contains("nested deeper") == true)
        }
        let ok = String(repeating: "(", count: 200) + "1" + String(repeating: ")", count: 200)
        #expect(try engine.evaluate(formula: ok, sheet: 0, cell: CellRef(row: 0, column: 0)).value == .number(1))
        #expect(Date().timeIntervalSince(start) < 2)
    }

    @Test("huge ranges (A:XFD, 1:1048576) cost only the cells that exist: time and memory bounded")
    func hugeRanges() throws {
        var cells: [String: Any] = [:]
        for r in 1...1000 { cells["A\(r)"] = r; cells["XFD\(r)"] = 1 }
        let engine = formulaEngine([("Sheet1", cells)])
        let rss0 = peakRSS()
        let start = Date()
        let cases: [(String, Double)] = [("SUM(A:XFD)", 501_500), ("SUM(1:1048576)", 501_500), ("COUNT(A:XFD)", 2000),
                                          ("COUNTBLANK(A:XFD)", Double(1_048_576 * 16_384 - 2000)), ("COUNTIF(A:XFD,\">500\")", 500),
                                          ("SUMIF(A:XFD,1)", 1001), ("ROWS(1:1048576)", 1_048_576), ("MATCH(1000,A:A,0)", 1000),
                                          ("VLOOKUP(999,A:XFD,1,FALSE)", 999), ("SUMPRODUCT((A1:A1000>0)*1)", 1000)]
        for (f, want) in cases {
            let r = try engine.evaluate(formula: f, sheet: 0, cell: CellRef(row: 0, column: 1))
            #expect(isNumber(r.value, want), "\(f) gave \(r.value)")
        }
        #expect(Date().timeIntervalSince(start) < 3)
        #expect(peakRSS() - rss0 < 300 << 20, "peak RSS grew by \((peakRSS() - rss0) >> 20) MB")
    }

    @Test("evaluation stops on cancellation and within its time budget")
    func bounded() throws {
        var cells: [String: Any] = [:]
        for r in 1...20_000 { cells["A\(r)"] = r; cells["B\(r)"] = "=SUMPRODUCT(A$1:A$20000*(A$1:A$20000<A\(r)))" }
        let slow = formulaEngine([("Sheet1", cells)], limits: FormulaLimits(timeBudget: 0.5))
        let start = Date()
        let r = try slow.value(sheet: 0, cell: CellRef(row: 19_999, column: 2))
        _ = r
        var limited = 0
        for row in stride(from: 0, to: 20_000, by: 50) where try slow.value(sheet: 0, cell: CellRef(row: row, column: 1)).value == .error(FormulaErrors.limit) { limited += 1 }
        #expect(limited > 0)
        #expect(Date().timeIntervalSince(start) < 20)

        // The budget is CPU time: an engine whose thread keeps being descheduled (a loaded
        // machine; here it sleeps at each cancellation poll) computes a cheap sheet fully, in
        // far more wall time than its budget.
        var cheap: [String: Any] = [:]
        for r in 1...3_000 { cheap["A\(r)"] = r; cheap["B\(r)"] = "=A\(r)*2+SUM(A$1:A$20)" }
        let loaded = formulaEngine([("Sheet1", cheap)], limits: FormulaLimits(timeBudget: 0.3))
        var polls = 0
        loaded.isCancelled = { polls += 1; Thread.sleep(forTimeInterval: 0.1); return false }
        let wall0 = Date()
        var notComputed = 0
        for row in 0..<3_000 where try loaded.value(sheet: 0, cell: CellRef(row: row, column: 1)).problem != nil { notComputed += 1 }
        #expect(notComputed == 0)
        #expect(polls >= 4 && Date().timeIntervalSince(wall0) > 0.3, "\(polls) polls")
        #expect(try loaded.value(sheet: 0, cell: CellRef(row: 2_999, column: 1)).value == .number(6000 + 210))

        let cancelled = formulaEngine([("Sheet1", cells)])
        cancelled.isCancelled = { true }
        #expect(throws: CancellationError.self) {
            for row in 0..<20_000 { _ = try cancelled.value(sheet: 0, cell: CellRef(row: row, column: 1)) }
        }
    }

    @Test("TODAY and NOW are volatile: the evaluation time's value, flagged")
    func volatile() throws {
        let r = try formulaEngine([("Sheet1", [:])]).evaluate(formula: "TODAY()", sheet: 0, cell: CellRef(row: 0, column: 0))
        #expect(r.volatile)
        let expected = (Date().timeIntervalSince1970 + Double(TimeZone.current.secondsFromGMT())) / 86400 + 25569
        #expect(isNumber(r.value, expected.rounded(.down)))
        #expect(try formulaEngine([("Sheet1", [:])]).evaluate(formula: "1+1", sheet: 0, cell: CellRef(row: 0, column: 0)).volatile == false)
    }

    @Test("a cached value wins: cells with one are not recomputed")
    func cachedWins() throws {
        let cells: [String: Any] = ["A1": 2, "B1": ("A1*100", CellValue.number(7)), "C1": "=B1+1"]
        let engine = formulaEngine([("Sheet1", cells)])
        #expect(try engine.value(sheet: 0, cell: A1.parseRef("B1")!).value == .number(7))
        #expect(try engine.value(sheet: 0, cell: A1.parseRef("C1")!).value == .number(8))
    }

    @Test("lookups use an index: 5,000 exact VLOOKUPs and SUMIFs into 10,000 rows load the sheet once and stay fast")
    func lookupIndex() throws {
        var cells: [String: Any] = [:]
        for r in 1...10_000 { cells["A\(r)"] = "k\(r)"; cells["B\(r)"] = r }
        let loads = LoadCounter()
        let engine = formulaEngine([("Sheet1", cells)], loads: loads)
        let start = Date()
        for k in 0..<5_000 {
            let key = (k * 7919) % 10_000 + 1
            let r = try engine.evaluate(formula: "VLOOKUP(\"k\(key)\",$A$1:$B$10000,2,FALSE)+SUMIF($A$1:$A$10000,\"k\(key)\",$B$1:$B$10000)", sheet: 0, cell: CellRef(row: 0, column: 4))
            if k % 1000 == 0 { #expect(r.value == .number(Double(2 * key))) }
        }
        #expect(loads.count == 1)
        #expect(Date().timeIntervalSince(start) < 30)  // debug build; the release figure is in `xlchat-bench formulas`
    }
}

/// Peak resident set size of this process, bytes (Linux: VmHWM).
func peakRSS() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
    return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
}

final class LoadCounter { var count = 0 }
