import Foundation
import Testing
@testable import XLChatWorkbook

/// Column typing (ColumnTyping.swift, NumberText.swift): generated columns of every kind the
/// issue names, in several spellings and locales, plus adversarial columns that must not change
/// kind. The SQL side (sums, COUNT/AVG/MAX through `workbook/query`) is in the server's
/// TypingTests.
@Suite struct ColumnTypingTests {
    let dir = CSVTempDir()

    /// The single table of a one-sheet grid (row 0 is the header).
    func table(_ rows: [[Any]], format: WorkbookFormat = .xlsx) throws -> InferredTable {
        let r = TableTestReader(rows)
        r.format = format
        return try #require(try WorkbookOutline.build(reader: r, path: "mem", contentHash: "x").sheets[0].table)
    }

    /// A one-column table of texts under `header` (as xlsx text cells).
    func column(_ texts: [String], header: String = "v") throws -> TableColumn {
        try table([[header]] + texts.map { [$0.isEmpty ? CellValue.string("") : CellValue.string($0)] }).columns[0]
    }

    func csvTable(_ text: String, name: String = "t.csv") throws -> InferredTable {
        try #require(try WorkbookOutline.build(reader: CSVReader(path: dir.write(name, text)), path: "p", contentHash: "h").sheets[0].table)
    }

    /// The typed values of a column, read back through the column's conversion.
    func values(_ t: InferredTable, _ name: String, rows: [[Any]]) -> [TypedValue] {
        let c = t.columns.first { $0.name == name }!
        return rows.dropFirst().map { r in c.sqlValue(RowCell(column: c.sourceColumn, value: cell(r[c.sourceColumn]))) }
    }

    func typed(_ c: TableColumn, _ texts: [String]) -> [TypedValue] {
        texts.map { c.sqlValue(RowCell(column: 0, value: .string($0))) }
    }

    // MARK: - One text, both conventions

    @Test func numberTextReadsBothConventions() {
        func check(_ s: String, _ point: Double?, _ comma: Double?, sourceLocation: SourceLocation = #_sourceLocation) {
            let n = NumberText.scan(s)
            #expect(n?.point == point, "point reading of \(s.debugDescription)", sourceLocation: sourceLocation)
            #expect(n?.comma == comma, "comma reading of \(s.debugDescription)", sourceLocation: sourceLocation)
        }
        check("1234", 1234, 1234)
        check("1,234", 1234, 1.234)                 // ambiguous: the column decides
        check("1.234", 1.234, 1234)
        check("1,234.56", 1234.56, nil)
        check("1.234,56", nil, 1234.56)
        check("12,5", nil, 12.5)
        check("1.5", 1.5, nil)
        check("1 234,56", nil, 1234.56)
        check("1\u{00A0}234,56", nil, 1234.56)     // no-break space (fr)
        check("1\u{202F}234,56", nil, 1234.56)     // narrow no-break space (fr, since 2018)
        check("1'234.50", 1234.5, nil)              // ch
        check("1’234.50", 1234.5, nil)              // ch, typographic apostrophe
        check("12,34,567.50", 1234567.5, nil)       // in (lakh grouping)
        check("1 200", 1200, 1200)
        check("$1,234.56", 1234.56, nil)
        check("-$1,234.56", -1234.56, nil)
        check("$-12", -12, -12)
        check("1 234,56 €", nil, 1234.56)
        check("€1.234,56", nil, 1234.56)
        check("CHF 12", 12, 12)
        check("12 CHF", 12, 12)
        check("¥500", 500, 500)
        check("£1,200", 1200, 1.2)
        check("R$ 1.234,56", nil, 1234.56)
        check("₹12,34,567", 1234567, nil)
        check("kr 1 200,50", nil, 1200.5)
        check("1.200 kr.", 1.2, 1200)
        check("USD 1,000,000", 1_000_000, nil)
        check("12.5%", 0.125, nil)
        check("12,5 %", nil, 0.125)
        check("7%", 0.07, 0.07)
        check("(200.00)", -200, nil)
        check("($1,200)", -1200, -1.2)
        check("200-", -200, -200)
        check("−200", -200, -200)                   // U+2212
        check("  42 ", 42, 42)
        check(".5", 0.5, nil)
        check(",5", nil, 0.5)
        check("0.500", 0.5, nil)                    // a thousands group never starts the number with 0
        // Not numbers in either reading.
        for s in ["1.2.3", "192.168.1.1", "2024-01-05", "05.01.2024", "1/5/2024", "+1 555 123 4567", "(555) 123-4567",
                  "555-1234", "ORD-11730", "North", "abc123", "12abc", "1e5x", "$", "%", "()", "1..2", "1,,2",
                  "EURO 5", "12 apples", "v1.2"] {
            let n = NumberText.scan(s)
            #expect(n == nil || (n!.point == nil && n!.comma == nil), "\(s) should be no number")
        }
        // Codes keep their flags.
        #expect(NumberText.scan("00501")?.has(NumberText.leadingZero) == true)
        #expect(NumberText.scan("1234567890123456")?.has(NumberText.longDigits) == true)
        #expect(NumberText.scan("0.5")?.has(NumberText.leadingZero) == false)
    }

    @Test func placeholderSpellings() {
        for s in ["n/a", "N/A", "NA", "na", "-", "--", "–", "—", "?", "TBD", "tbd", "none", "None", "NULL", "null", "#N/A", "",
                  "   ", "\u{00A0}", " n/a ", "N.A.", "nil", "NaN", "unknown", "k.A.", "n.v.", "…", "#DIV/0!"] {
            #expect(NumberText.isPlaceholder(s), "\(s.debugDescription)")
        }
        for s in ["0", "12", "North", "nan bread", "nothing", "Total", "-5", "x", "x1", "n/a/b"] {
            #expect(!NumberText.isPlaceholder(s), "\(s.debugDescription)")
        }
    }

    // MARK: - Kind 1: numbers written as text

    @Test func currenciesAndLocalesTypeAColumnAsNumbers() throws {
        // (column texts, expected values, a fragment of the rule)
        let cases: [([String], [Double], String)] = [
            (["$1,234.56", "$12.00", "$-3.50", "$1,000,000"], [1234.56, 12, -3.5, 1_000_000], "currency USD ($)"),
            (["1 234,56 €", "12,00 €", "0,99 €", "-5,50 €"], [1234.56, 12, 0.99, -5.5], "currency EUR (€)"),
            (["€1.234,56", "€12,00", "€1.000.000,00"], [1234.56, 12, 1_000_000], "decimal comma"),
            (["£1,200.00", "£15.50", "£0.99"], [1200, 15.5, 0.99], "currency GBP (£)"),
            (["¥500", "¥12,000", "¥1,500,000"], [500, 12000, 1_500_000], "currency JPY (¥)"),
            (["CHF 12", "CHF 1'234.50", "CHF 0.05"], [12, 1234.5, 0.05], "currency CHF"),
            (["1'234.50 CHF", "99.90 CHF", "12'000.00 CHF"], [1234.5, 99.9, 12000], "thousands '"),
            (["kr 1 200,50", "kr 99,00", "kr 12 000,00"], [1200.5, 99, 12000], "currency kr"),
            (["R$ 1.234,56", "R$ 10,00", "R$ 0,50"], [1234.56, 10, 0.5], "currency BRL (R$)"),
            (["₹12,34,567.50", "₹1,00,000.00", "₹500.00"], [1234567.5, 100000, 500], "currency INR (₹)"),
            (["1\u{202F}234,56", "12\u{202F}345,00", "7,25"], [1234.56, 12345, 7.25], "thousands space"),
            (["1\u{00A0}234,56", "99,5", "3\u{00A0}000,00"], [1234.56, 99.5, 3000], "decimal comma"),
            (["12.5%", "7%", "100%", "0.5%"], [0.125, 0.07, 1, 0.005], "percent"),
            (["12,5 %", "7 %", "33,3 %"], [0.125, 0.07, 0.333], "percent"),
            (["(200.00)", "1,500.00", "(1,234.56)", "50.00"], [-200, 1500, -1234.56, 50], "(…) negatives"),
            (["200-", "150", "75.5-"], [-200, 150, -75.5], "trailing minus"),
            (["−200", "300", "−12.5"], [-200, 300, -12.5], "Unicode minus"),
            (["  42 ", " 7", "13  "], [42, 7, 13], "numbers written as text"),
        ]
        for (texts, expected, rule) in cases {
            let c = try column(texts)
            #expect(c.type == .real || c.type == .integer, "\(texts): \(c.type) \(c.typing.rule)")
            #expect(typed(c, texts).map(Self.double) == expected.map { Optional($0) }, "\(texts): \(c.typing.rule)")
            #expect(c.typing.rule.contains(rule), "\(texts): rule \(c.typing.rule)")
            #expect(c.typing.nulled == 0)
        }
    }

    static func double(_ v: TypedValue) -> Double? {
        switch v {
        case let .integer(i): return Double(i)
        case let .real(d): return (d * 1e9).rounded() / 1e9
        default: return nil
        }
    }

    @Test func theColumnDecidesTheDecimalMarkNeverOneCell() throws {
        // `1,234` alone is ambiguous; `12,345.67` in the same column decides: thousands ','.
        let a = try column(["1,234", "12,345.67", "5"])
        #expect(typed(a, ["1,234"]) == [.real(1234)])
        #expect(a.typing.rule.contains("decimal point, as the column's other values decide"))
        // `1,5` decides the comma for the same `1,234`.
        let b = try column(["1,234", "1,5", "7"])
        #expect(typed(b, ["1,234"]).map(Self.double) == [1.234])
        #expect(b.typing.rule.contains("decimal comma"))
        // Nothing decides: the point, and the rule says so.
        let c = try column(["1,234", "5,678", "9,999"])
        #expect(c.type == .integer && typed(c, ["1,234"]) == [.integer(1234)])
        #expect(c.typing.rule.contains("ambiguous '1,234' read with a decimal point (no value or signal decides; the default)"))
        // Another column of the same table with decimal commas signals the comma.
        let rows: [[Any]] = [["qty", "price"], ["1.200", "12,50"], ["3", "0,99"], ["250", "1.299,99"]]
        let t = try table(rows)
        #expect(values(t, "qty", rows: rows) == [.integer(1200), .integer(3), .integer(250)])
        #expect(t.columns[0].typing.rule.contains("decimal commas in other columns"))
    }

    @Test func decimalCommaFidelityFileAndTheSemicolonSignal() throws {
        let t = try csvTable(try String(contentsOfFile: fidelity("decimal-comma.csv"), encoding: .utf8), name: "decimal-comma.csv")
        #expect(t.columns.map(\.type) == [.text, .integer, .real])
        #expect(t.columns[1].typing.rule.contains("ambiguous '1.200' read with a decimal comma (the file's ';' delimiter)"))
        #expect(t.columns[2].typing.rule.contains("decimal comma") && t.columns[2].typing.rule.contains("thousands '.'"))
        // Without the `;` and without a decisive sibling, `1.200` is 1.2: the default, said so.
        let u = try csvTable("Produkt,Menge\nLaptop,3\nSchraube,1.200\n", name: "dot.csv")
        #expect(u.columns[1].type == .real)
        #expect(u.columns[1].typing.rule.contains("decimal point (no value or signal decides"))
        // A `;` file whose values decide the point stays with the point.
        let v = try csvTable("a;b\nx;1.5\ny;2.25\nz;1.200\n", name: "semi.csv")
        #expect(v.columns[1].type == .real && v.columns[1].sqlValue(RowCell(column: 1, value: .number(1.2), text: "1.200")) == .real(1.2))
    }

    @Test func csvNumbersWithTextKeepTheCellButTypeByColumn() throws {
        let path = dir.write("k.csv", "n;m\n1.200;a\n3;b\n")
        let r = try CSVReader(path: path)
        var cells: [RowCell] = []
        try r.readSheet(at: 0) { row in cells += row.cells; return true }
        // The cell is what the file's text says per cell (workbook/read is unchanged) ...
        #expect(cells.contains { $0.value == .number(1.2) && $0.text == "1.200" })
        #expect(cells.contains { $0.value == .number(3) && $0.text == nil })
    }

    // MARK: - Kind 2: placeholders

    @Test func placeholdersInNumberAndDateColumnsBecomeNull() throws {
        let spellings = ["n/a", "N/A", "NA", "-", "–", "—", "?", "TBD", "none", "null", "#N/A", "", " ", "n.a.", "unknown"]
        for p in spellings {
            let texts = ["10", p, "20.5", "40", p, "30"]
            let c = try column(texts)
            #expect(c.type == .real, "\(p.debugDescription): \(c.typing.rule)")
            #expect(typed(c, texts) == [.real(10), .null, .real(20.5), .real(40), .null, .real(30)], "\(p.debugDescription)")
            if !p.trimmingCharacters(in: .whitespaces).isEmpty {
                #expect(c.typing.nulled == 2 && c.typing.nulledExamples == [p], "\(p): \(c.typing.nulled) \(c.typing.nulledExamples)")
                #expect(c.typing.rule.contains("placeholders → NULL"))
            }
            #expect(c.typing.profile.values == 4 && c.typing.profile.min == .real(10) && c.typing.profile.max == .real(40))
        }
        // Error cells too, and a date column with placeholders.
        let d1 = CellValue.temporal(.date, serial: 45292), d2 = CellValue.temporal(.date, serial: 45300)
        let rows: [[Any]] = [["n", "day"], [1, d1], [CellValue.error("#DIV/0!"), "n/a"], [3, "-"], [4, d2]]
        let t = try table(rows)
        #expect(t.columns.map(\.type) == [.integer, .date])
        #expect(values(t, "n", rows: rows) == [.integer(1), .null, .integer(3), .integer(4)])
        #expect(values(t, "day", rows: rows) == [.text("2024-01-01"), .null, .null, .text("2024-01-09")])
        #expect(t.columns[0].typing.nulled == 1 && t.columns[0].typing.nulledExamples == ["#DIV/0!"])
        #expect(t.columns[1].typing.nulled == 2 && t.columns[1].typing.profile.min == .text("2024-01-01"))
    }

    @Test func aFewValuesThatDoNotFitAreNulledAndShown() throws {
        var texts = (1...19).map { String($0 * 10) }
        texts.insert("see note", at: 5)
        let c = try column(texts)
        #expect(c.type == .integer)
        #expect(c.typing.nulled == 1 && c.typing.nulledExamples == ["see note"])
        #expect(c.typing.rule.contains("1 value that did not fit → NULL"))
    }

    // MARK: - Kind 3: codes

    @Test func codeColumnsStayTextAsAWhole() throws {
        let postal = try csvTable(try String(contentsOfFile: fidelity("postal-codes.csv"), encoding: .utf8), name: "postal-codes.csv")
        let code = try #require(postal.columns.first { $0.header == "Postal Code" })
        #expect(code.type == .text && code.typing.rule.hasPrefix("code: leading zeros kept as text"))
        #expect(code.sqlValue(RowCell(column: code.sourceColumn, value: .number(97007))) == .text("97007"))
        #expect(postal.columns.first { $0.header == "Trees" }?.type == .integer)
        // Leading zeros in one row of many; account numbers; SKUs; 16+ digit strings; fixed width.
        var many = (1...50).map { String(10000 + $0 * 7) }
        many[30] = "00777"
        for texts in [many, ["000123", "004567", "000001"], ["0012-A"] + ["1"], ["4111111111111111", "5500000000000004"],
                      ["100234", "100587", "204511", "993001"]] {
            let c = try column(texts)
            #expect(c.type == .text, "\(texts.prefix(3)): \(c.type) \(c.typing.rule)")
        }
        #expect(try column(["4111111111111111", "5500000000000004"]).typing.rule.contains("longer than 15 digits"))
        #expect(try column(["100234", "100587", "204511"]).typing.rule.contains("6 digits stored as text"))
        // Native numbers of one width are numbers (years, zip codes Excel stored as numbers).
        #expect(try table([["y"], [2019], [2020], [2021]]).columns[0].type == .integer)
        // Different widths stored as text are numbers stored as text.
        #expect(try column(["100", "2500", "33"]).type == .integer)
    }

    // MARK: - Must not regress: adversarial columns

    @Test func adversarialColumnsKeepTheirKind() throws {
        // 50/50 numbers and words: text, and the rule says no rule fits.
        let half = try column(["12", "apple", "7.5", "pear", "3", "plum"])
        #expect(half.type == .text && half.typing.rule.hasPrefix("text: no rule fits cleanly (3 of 6"))
        #expect(typed(half, ["12"]) == [.text("12")])
        // Words never become numbers.
        let words = try column(["North", "South", "East", "West", "North"])
        #expect(words.type == .text && words.typing.rule == "text")
        #expect(words.typing.profile.distinct == ["North", "East", "South", "West"])
        // Plain numbers never become text, years among amounts stay numbers.
        #expect(try table([["a"], [1], [2.5], [2024], [-3]]).columns[0].type == .real)
        #expect(try column(["2019", "1,250.00", "2020", "980.50"]).type == .real)
        // Phone numbers, versions, IP addresses, dates written as text (not ISO), mixed currencies.
        for texts in [["+1 555 123 4567", "+1 555 987 6543", "+44 20 7946 0958"], ["(555) 123-4567", "(555) 987-6543"],
                      ["555-1234", "555-9876"], ["1.2.3", "1.10.0", "2.0.1"], ["192.168.1.1", "10.0.0.1"],
                      ["1.2.2", "1.10.2024.1"], ["5/1/24", "17/2/24"]] {
            let c = try column(texts)
            #expect(c.type == .text, "\(texts): \(c.type) \(c.typing.rule)")
        }
        // Dates written as text in other orders are dates (issue 10, kind 14): see TextDateTests.
        for texts in [["05.01.2024", "17.02.2024", "31.12.2023"], ["1/5/2024", "2/17/2024"], ["Jan 5, 2024", "Feb 17, 2024"]] {
            let c = try column(texts)
            #expect(c.type == .date, "\(texts): \(c.type) \(c.typing.rule)")
        }
        let money = try column(["$12.00", "€15,00", "$7.50", "€3,00"])
        #expect(money.type == .text && money.typing.rule.contains("mixed currencies"))
        // ISO dates written as text are dates.
        let iso = try column(["2024-01-05", "2024-02-17", "n/a"])
        #expect(iso.type == .date && typed(iso, ["2024-01-05", "n/a"]) == [.text("2024-01-05"), .null])
    }

    @Test func generatedColumnsAtEveryMixRatio() throws {
        // Numbers among words: number only when words are at most 10%; never a column typed in
        // some rows and not in others.
        for words in [0, 1, 2, 5, 10, 11, 25, 50, 75, 100] {
            var texts = (0..<100).map { i in i < words ? "word\(i)" : String(format: "%d.%02d", i * 13, i % 100) }
            texts.shuffle()
            let c = try column(texts)
            let numeric = c.type == .real || c.type == .integer
            #expect(numeric == (words <= 10), "\(words) words: \(c.type) \(c.typing.rule)")
            if numeric { #expect(c.typing.nulled == words) } else { #expect(c.typing.nulled == 0) }
            // Every typed value is of the column's kind.
            for v in typed(c, texts) {
                switch (c.type, v) {
                case (.text, .text), (.real, .real), (.real, .null), (.integer, .integer), (.integer, .null): break
                default: Issue.record("\(c.type) holds \(v)")
                }
            }
        }
    }

    // MARK: - Kind 4: durations, times, dates

    @Test func durationsTimesAndDates() throws {
        let dur = { (h: Double) in CellValue.temporal(.duration, serial: h / 24) }
        let time = { (h: Double) in CellValue.temporal(.time, serial: h / 24) }
        let rows: [[Any]] = [
            ["worked", "start", "day", "stamp", "big"],
            [dur(36.5), time(9), CellValue.temporal(.date, serial: 45292.75), CellValue.temporal(.dateTime, serial: 45292.5),
             CellValue.temporal(.date, serial: 3_000_000)],
            [dur(0.25), time(13.5), CellValue.temporal(.date, serial: 45293), CellValue.temporal(.date, serial: 45293),
             CellValue.temporal(.date, serial: -5)],
            ["-", "n/a", "", "", 12],
        ]
        let t = try table(rows)
        #expect(t.columns.map(\.type) == [.duration, .time, .date, .datetime, .integer])
        #expect(values(t, "worked", rows: rows) == [.real(131_400), .real(900), .null])
        #expect(t.columns[0].typing.rule.hasPrefix("duration, seconds"))
        #expect(t.columns[0].typing.profile.max == .real(131_400))
        #expect(values(t, "start", rows: rows) == [.text("09:00:00"), .text("13:30:00"), .null])
        // A date-only format gives a date: the time part of the serial is dropped, and said so.
        #expect(values(t, "day", rows: rows) == [.text("2024-01-01"), .text("2024-01-02"), .null])
        #expect(t.columns[2].typing.rule.contains("1 time part dropped"))
        #expect(values(t, "stamp", rows: rows) == [.text("2024-01-01T12:00:00"), .text("2024-01-02T00:00:00"), .null])
        // Date-formatted serials outside Excel's range stay numbers.
        #expect(values(t, "big", rows: rows) == [.integer(3_000_000), .integer(-5), .integer(12)])
        #expect(t.columns[4].typing.rule.contains("outside Excel's dates kept as numbers"))
        #expect(ExcelDate.inRange(2_958_465) && !ExcelDate.inRange(2_958_466) && !ExcelDate.inRange(-1))
    }

    // MARK: - Kind 1 in a real xlsx file: numbers stored as text

    @Test func xlsxCellsHoldingNumbersAsText() throws {
        var wb = XLSXTestWorkbook()
        wb.sharedStrings = #"<si><t>Amount</t></si><si><t>$1,234.56</t></si><si><t>Share</t></si><si><t>12.5%</t></si><si><t>n/a</t></si><si><t>Zip</t></si><si><t>02138</t></si>"#
        let rows = #"<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>2</v></c><c r="C1" t="s"><v>5</v></c></row>"#
            + #"<row r="2"><c r="A2" t="s"><v>1</v></c><c r="B2" t="s"><v>3</v></c><c r="C2" t="s"><v>6</v></c></row>"#
            + #"<row r="3"><c r="A3" t="inlineStr"><is><t> 99.50 </t></is></c><c r="B3" t="inlineStr"><is><t>7%</t></is></c><c r="C3"><v>97007</v></c></row>"#
            + #"<row r="4"><c r="A4"><v>10</v></c><c r="B4" t="s"><v>4</v></c><c r="C4" t="inlineStr"><is><t>00501</t></is></c></row>"#
        wb.sheets = [("Data", XLSXTestWorkbook.sheetXML(rows), nil, "worksheet")]
        let reader = try XLSXReader(path: try wb.write())
        let t = try #require(try WorkbookOutline.build(reader: reader, path: "p", contentHash: "h").sheets[0].table)
        #expect(t.columns.map(\.type) == [.real, .real, .text])
        var got: [[TypedValue]] = []
        try reader.readSheet(at: 0) { row in
            if row.index > 0 { got.append(row.cells.map { c in t.columns[c.column].sqlValue(c) }) }
            return true
        }
        #expect(got == [[.real(1234.56), .real(0.125), .text("02138")], [.real(99.5), .real(0.07), .text("97007")],
                        [.real(10), .null, .text("00501")]])
        #expect(t.columns[1].typing.rule.contains("percent") && t.columns[1].typing.nulledExamples == ["n/a"])
    }

    // MARK: - Kind 9: profiles, bounded memory

    @Test func profilesAreBoundedAndStreamed() throws {
        let n = 100_000
        let reader = TableTestReader([TableTestReader.Sheet(info: SheetInfo(name: "Big", index: 0), generated: (n, { r in
            if r == 0 { return [.string("region"), .string("id"), .string("amount")] }
            return [.string(["West", "East", "North"][r % 3]), .string("C\(r)"), .string(r % 1000 == 0 ? "n/a" : "$\(r).50")]
        }))])
        let t = try #require(try WorkbookOutline.build(reader: reader, path: "p", contentHash: "h").sheets[0].table)
        #expect(t.columns[0].typing.profile.distinct == ["East", "North", "West"] || t.columns[0].typing.profile.distinct?.count == 3)
        #expect(t.columns[1].typing.profile.distinct == nil)   // more than 20 distinct: not listed
        #expect(t.columns[2].type == .real && t.columns[2].typing.nulled == 99)
        #expect(t.columns[2].typing.profile.min == .real(1.5) && t.columns[2].typing.profile.max == .real(99_999.5))
        // The accumulator stops holding distinct values past the bound.
        var s = ColumnStats()
        for i in 0..<10_000 { s.add(.string("v\(i)")) }
        #expect(s.distinctStrings == nil && s.wordExamples.count == 3)
    }
}

/// A fidelity case file (../shared/cases/fidelity); a missing file fails the test.
func fidelity(_ name: String) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let path = root.deletingLastPathComponent().appendingPathComponent("shared/cases/fidelity/\(name)").path
    guard FileManager.default.fileExists(atPath: path) else {
        throw WorkbookError(.fileNotFound, "the fidelity case \(path) is missing")
    }
    return path
}
