import Foundation
import Testing
@testable import XLChatWorkbook

/// Issue 10's boundary, merge and typing defects, each fed in generated variants (orders,
/// separators, locales, sizes, positions; xlsx-shaped grids and csv text): stacked tables with no
/// empty row, a side table starting lower, merged data cells, unknown tokens and scale suffixes,
/// percent/plain mixes, currencies in number formats, text dates, and sheet-name collisions.
@Suite struct FidelityKindsTests {
    let dir = CSVTempDir()

    func outline(_ rows: [[Any]], name: String = "Data", merges: [CellRange] = []) throws -> SheetOutline {
        try WorkbookOutline.build(reader: TableTestReader(name: name, rows, merges: merges), path: "mem", contentHash: "x").sheets[0]
    }

    func column(_ texts: [String]) throws -> TableColumn {
        try #require(try outline([["v"]] + texts.map { [$0] }).table).columns[0]
    }

    func typed(_ c: TableColumn, _ texts: [String]) -> [TypedValue] {
        texts.map { c.sqlValue(RowCell(column: c.sourceColumn, value: .string($0))) }
    }

    func csv(_ text: String, name: String = "t.csv") throws -> SheetOutline {
        try WorkbookOutline.build(reader: CSVReader(path: dir.write(name, text)), path: "p", contentHash: "h").sheets[0]
    }

    // MARK: - Kind 14: text dates

    @Test func textDatesTakeTheOrderTheColumnProves() throws {
        // (day, month, year) triples; the first has a day over 12 unless the variant says not.
        let dates = [(13, 1, 2024), (5, 2, 2024), (28, 2, 2024), (1, 12, 2023), (9, 3, 2025)]
        func pad(_ v: Int) -> String { v < 10 ? "0\(v)" : String(v) }
        func iso(_ d: (Int, Int, Int)) -> TypedValue { .text("\(d.2)-\(pad(d.1))-\(pad(d.0))") }
        for sep in ["/", ".", "-"] {
            for padded in [true, false] {
                let p: (Int) -> String = padded ? pad : { String($0) }
                let dmy = dates.map { "\(p($0.0))\(sep)\(p($0.1))\(sep)\($0.2)" }
                let c = try column(dmy)
                #expect(c.type == .date, "\(dmy): \(c.typing.rule)")
                #expect(c.typing.rule.contains("dd\(sep)mm\(sep)yyyy") && c.typing.rule.contains("day first"), "\(c.typing.rule)")
                #expect(typed(c, dmy) == dates.map(iso))
                #expect(c.typing.profile.min == .text("2023-12-01") && c.typing.profile.max == .text("2025-03-09"))
                let mdy = dates.map { "\(p($0.1))\(sep)\(p($0.0))\(sep)\($0.2)" }
                let m = try column(mdy)
                #expect(m.type == .date && m.typing.rule.contains("mm\(sep)dd\(sep)yyyy") && m.typing.rule.contains("month first"), "\(m.typing.rule)")
                #expect(typed(m, mdy) == dates.map(iso))
            }
        }
        // Month names and year-first forms fix the order themselves.
        for (texts, format) in [(["5 Jan 2024", "17 Feb 2024", "1 Dec 2023"], "d mon yyyy"),
                                (["Jan 5, 2024", "February 17, 2024", "Dec 1, 2023"], "mon d, yyyy"),
                                (["05-Jan-2024", "17-Feb-2024", "01-Dec-2023"], "d mon yyyy"),
                                (["2024/01/05", "2024/02/17", "2023/12/01"], "yyyy/mm/dd"),
                                (["2024.01.05", "2024.02.17", "2023.12.01"], "yyyy.mm.dd")] {
            let c = try column(texts)
            #expect(c.type == .date && c.typing.rule.contains(format), "\(texts): \(c.typing.rule)")
            #expect(typed(c, texts) == [.text("2024-01-05"), .text("2024-02-17"), .text("2023-12-01")])
        }
    }

    @Test func ambiguousOrConflictingTextDatesStayTextAndSaySo() throws {
        // No part over 12 anywhere: ambiguous with `/` and `-`, day first with dots.
        let low = ["05/01/2024", "06/01/2024", "07/02/2024", "12/11/2023"]
        let a = try column(low)
        #expect(a.type == .text && a.typing.rule.contains("ambiguous") && a.typing.rule.contains("'05/01/2024'"), "\(a.typing.rule)")
        let dots = try column(low.map { $0.replacingOccurrences(of: "/", with: ".") })
        #expect(dots.type == .date && !dots.typing.rule.contains("code"), "\(dots.typing.rule)")
        #expect(typed(dots, ["05.01.2024"]) == [.text("2024-01-05")])
        // Both orders in one column: not one format.
        let both = try column(["13/01/2024", "01/13/2024", "02/02/2024"])
        #expect(both.type == .text && both.typing.rule.contains("both day/month orders"), "\(both.typing.rule)")
        // A `;`-delimited csv is a day-first locale: its ambiguous dates read day first.
        let t = try #require(try csv("Datum;Betrag\n05/01/2024;1,5\n06/02/2024;2,5\n07/03/2024;3\n").table)
        #expect(t.columns[0].type == .date && t.columns[0].typing.rule.contains("';' delimiter"), "\(t.columns[0].typing.rule)")
        // The same through a csv with a comma: ambiguous, text.
        let u = try #require(try csv("d,v\n05/01/2024,1\n06/02/2024,2\n").table)
        #expect(u.columns[0].type == .text && u.columns[0].typing.rule.contains("ambiguous"))
        // German dates in a csv are dates, never a code with leading zeros.
        let de = try #require(try csv("Datum;Betrag\n05.01.2024;1,5\n06.02.2024;2,5\n").table)
        #expect(de.columns[0].type == .date && !de.columns[0].typing.rule.contains("code"), "\(de.columns[0].typing.rule)")
        // Not dates: versions, impossible days, two-digit years, IPs.
        for texts in [["1.2.3", "1.10.0"], ["31/02/2024", "30/02/2024"], ["5/1/24", "6/1/24"], ["10.0.0.1", "192.168.1.1"]] {
            #expect(try column(texts).type == .text, "\(texts)")
        }
    }

    // MARK: - Kind 10: unknown tokens, scale suffixes, honest reasons

    @Test func fewUnknownTokensInANumberColumnBecomeNamedNulls() throws {
        for token in ["x", "*", "pending", "tbd?", "Ausstehend", "†"] {
            for size in [3, 8, 40] {
                var texts = (1...size).map { String($0 * 10) }
                texts.insert(token, at: size / 2)
                let c = try column(texts)
                #expect(c.type == .integer, "\(token) in \(size): \(c.typing.rule)")
                #expect(c.typing.rule.contains("\(token) (1 cell) → NULL"), "\(c.typing.rule)")
                #expect(typed(c, [token, "20"]) == [.null, .integer(20)])
            }
        }
        // Two kinds among 30 numbers (under 10%): named with their counts.
        let mixed = try column((1...30).map(String.init) + ["x", "x", "pending"])
        #expect(mixed.type == .integer && mixed.typing.rule.contains("x (2 cells), pending (1 cell) → NULL"), "\(mixed.typing.rule)")
        // Too many: text, and the reason counts every cell and names what kept it text.
        let many = try column(["10", "x", "20", "y", "30", "z", "—", "N.A."])
        #expect(many.type == .text, "\(many.typing.rule)")
        #expect(many.typing.rule.contains("3 of 8 non-empty cells are numbers") && many.typing.rule.contains("x (1 cell)"), "\(many.typing.rule)")
        // One token repeated as often as a value (a quarter of a column of hex digits) is data.
        #expect(try column((1...9).map(String.init) + ["E", "E", "E"]).type == .text)
        // A word with a space is no token: only the generic 10% rule nulls it.
        #expect(try column(["10", "see note", "20", "30"]).type == .text)
    }

    @Test func theNewcomerPlaceholderColumnCountsLikeExcel() throws {
        // 3 numbers, 7 placeholders, one unknown token: COUNT 3, SUM 60 (Excel's COUNT/AVERAGE).
        let t = try #require(try csv("k,v\na,10\nb,—\nc,N.A.\nd,TBD\ne,?\nf,..\ng,20\nh,#N/A\ni,nil\nj,x\nk,30\n").table)
        let v = t.columns[1]
        #expect(v.type == .integer && v.typing.profile.values == 3 && v.typing.rule.contains("x (1 cell) → NULL"), "\(v.typing.rule)")
    }

    @Test func scaleSuffixesReadWhenTheColumnUsesThem() throws {
        let c = try column(["1.5k", "2M", "300", "2.3k", "0.75bn"])
        #expect(c.type == .integer && c.typing.rule.contains("scale suffixes"), "\(c.typing.rule)")
        #expect(typed(c, ["1.5k", "2M", "300", "2.3k", "0.75bn", "$1.2M"]) == [.integer(1500), .integer(2_000_000), .integer(300), .integer(2300),
                                                                             .integer(750_000_000), .integer(1_200_000)])
        let k = try column(["12K", "7.25K", "3K"])
        #expect(k.type == .integer && typed(k, ["7.25K"]) == [.integer(7250)])
        // A suffix among words is no scale; `m` (metres, minutes) and `B` are never one.
        #expect(try column(["5k", "north", "south", "east"]).type == .text)
        #expect(try column(["5m", "10m", "15m"]).type == .text)
        #expect(try column(["2B", "3B", "4B"]).type == .text)
    }

    @Test func percentAndPlainNumbersMixedAreFlagged() throws {
        for (texts, plain) in [(["12.5%", "7", "20%"], 1), (["5%", "3", "4", "50%", "1.5"], 3), (["12,5 %", "7", "20 %"], 1)] {
            let c = try column(texts)
            #expect(c.type == .real, "\(texts): \(c.typing.rule)")
            #expect(c.typing.rule.contains("\(plain) value\(plain == 1 ? "" : "s") without % kept as written"), "\(c.typing.rule)")
        }
        #expect(!(try column(["12.5%", "7%", "20%"])).typing.rule.contains("without %"))
    }

    // MARK: - Kind 11: currencies in number formats

    @Test func currencyKeysOfNumberFormats() {
        func key(_ code: String) -> String? {
            let k = NumberFormats.currencyKey(code)
            return k == 0 ? nil : Currency.keys[Int(k) - 1]
        }
        #expect(key(##""$"#,##0.00"##) == "USD")
        #expect(key(#"$#,##0.00_);($#,##0.00)"#) == "USD")
        #expect(key(#"[$€-407] #,##0.00"#) == "EUR")
        #expect(key(#"#,##0.00\ [$€-1]"#) == "EUR")
        #expect(key(#"[$£-809]#,##0"#) == "GBP")
        #expect(key(#"#,##0 "kr""#) == "kr")
        #expect(key(#"[$CHF] #,##0.00"#) == "CHF")
        #expect(key(#"\¥#,##0"#) == "JPY")
        #expect(key("#,##0.00") == nil && key("0%") == nil && key("[Red]#,##0") == nil && key("yyyy-mm-dd") == nil)
        #expect(key(#"[$-409]mmm d, yyyy"#) == nil)
    }

    @Test func xlsxNumbersInSeveralCurrencyFormatsAreNoted() throws {
        for (codes, expected) in [([##""$"#,##0"##, #"[$€-407] #,##0"#, #"[$£-809]#,##0"#], ["USD (2)", "EUR (1)", "GBP (1)"]),
                                  ([#"#,##0 "kr""#, #"[$CHF] #,##0.00"#, #"[$CHF] #,##0.00"#], ["kr (2)", "CHF (2)"])] {
            var wb = XLSXTestWorkbook()
            let fmts = codes.enumerated().map { i, c in #"<numFmt numFmtId="\#(164 + i)" formatCode="\#(c.replacingOccurrences(of: "\"", with: "&quot;"))"/>"# }
            wb.styles = #"<?xml version="1.0"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="3">"#
                + fmts.joined() + #"</numFmts><cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="165"/><xf numFmtId="166"/></cellXfs></styleSheet>"#
            let rows = #"<row r="1"><c r="A1" t="inlineStr"><is><t>Price</t></is></c></row>"#
                + #"<row r="2"><c r="A2" s="1"><v>100</v></c></row><row r="3"><c r="A3" s="2"><v>200</v></c></row>"#
                + #"<row r="4"><c r="A4" s="3"><v>300</v></c></row><row r="5"><c r="A5" s="1"><v>50</v></c></row>"#
            wb.sheets = [("C", XLSXTestWorkbook.sheetXML(rows), nil, "worksheet")]
            let t = try #require(try WorkbookOutline.build(reader: XLSXReader(path: try wb.write()), path: "p", contentHash: "h").sheets[0].table)
            let c = t.columns[0]
            #expect(c.type == .integer && c.typing.mixedCurrencies, "\(c.typing.rule)")
            for e in expected { #expect(c.typing.rule.contains(e), "\(c.typing.rule)") }
        }
    }

    // MARK: - Kinds 7 and 8: boundaries

    @Test func aHeaderRowRightUnderNumbersStartsAStackedTable() throws {
        // Positions (column offset), widths and sizes vary; no empty row between the tables.
        for offset in [0, 2] {
            for n in [1, 3, 25] {
                let pad = [Any](repeating: "", count: offset)
                var rows: [[Any]] = [pad + ["Fruit", "Kg"]]
                for i in 0..<n { rows.append(pad + ["fruit\(i)", i + 1]) }
                rows.append(pad + ["Vehicle", "Count", "Owner"])
                for i in 0..<3 { rows.append(pad + ["car\(i)", 100 * (i + 1), "o\(i)"]) }
                let s = try outline(rows)
                #expect(s.tables.count == 2, "offset \(offset), \(n) rows: \(s.tables.map { $0.dataRange?.description ?? "-" })")
                guard s.tables.count == 2 else { continue }
                #expect(s.tables[0].columns.map(\.type) == [.text, .integer])
                #expect(s.tables[0].dataRange?.end.row == n)
                #expect(s.tables[1].columns.map(\.name) == ["Vehicle", "Count", "Owner"])
                #expect(s.tables[1].columns[1].type == .integer)
            }
        }
        // csv too.
        let c = try csv("Fruit,Kg\napple,5\npear,7\nVehicle,Count\ncar,100\nbus,200\n")
        #expect(c.tables.count == 2 && c.tables[1].columns.map(\.name) == ["Vehicle", "Count"])
    }

    @Test func textInsideANumberColumnDoesNotSplitATable() throws {
        // A lower-case note, a placeholder, one of two amount columns, a number-like text: data.
        for odd in [["Bob", "absent"], ["Bob", "n/a"], ["Bob", "12 kg"]] {
            let s = try outline([["Name", "Score"], ["Ann", 3], odd, ["Cy", 5], ["Dee", 6]])
            #expect(s.tables.count == 1 && s.tables[0].dataRange == range("A2:B5"), "\(odd)")
        }
        let two = try outline([["Name", "Q1", "Q2"], ["Ann", 3, 4], ["Bob", "Absent", 5], ["Cy", 5, 6]])
        #expect(two.tables.count == 1)
        // An all-text table keeps its rows.
        let words = try outline([["Name", "City"], ["Ann", "Oslo"], ["Bob", "Lima"]])
        #expect(words.tables.count == 1 && words.tables[0].dataRange == range("A2:B3"))
    }

    @Test func aSideTableStartingLowerIsItsOwnTable() throws {
        // Left table A1:B8; the side table's header on row 1+k, at gap g columns to the right.
        for k in [1, 2, 4] {
            for g in [1, 3] {
                var rows: [[Any]] = [["Name", "Score"]]
                for i in 1...7 { rows.append(["n\(i)", i]) }
                let side = 2 + g
                for (j, r) in [["City", "Pop"], ["X", 100], ["Y", 200]].enumerated() {
                    var row = rows[k + j]
                    while row.count < side { row.append("") }
                    rows[k + j] = row + r
                }
                let s = try outline(rows)
                #expect(s.tables.count == 2, "k \(k) g \(g): \(s.tables.map { $0.dataRange?.description ?? "-" })")
                guard s.tables.count == 2 else { continue }
                #expect(s.tables[0].columns.map(\.name) == ["Name", "Score"] && s.tables[0].dataRange?.end.row == 7)
                #expect(s.tables[1].columns.map(\.name) == ["City", "Pop"] && s.tables[1].columns[1].type == .integer)
                #expect(s.tables[1].headerRange?.start.row == k && s.tables[1].dataRange?.rowCount == 2)
            }
        }
        // A lone column of notes beside a table stays with it (no header of two labels).
        let notes = try outline([["Name", "Score"], ["a", 1, "", "note"], ["b", 2, "", "more"]])
        #expect(notes.tables.count == 1)
    }

    // MARK: - Kind 3: merged data cells

    @Test func mergedDataCellsAreFilledDownAndNoted() throws {
        let rows: [[Any]] = [["Region", "Rep", "Sales"], ["North", "a", 10], ["", "b", 20], ["", "c", 30], ["South", "d", 5], ["", "e", 7]]
        let s = try outline(rows, merges: [range("A2:A4"), range("A5:A6"), range("B1:C1")])
        let t = try #require(s.table)
        #expect(t.filledMerges == [range("A2:A4"), range("A5:A6")])
        #expect(s.warnings.contains { $0.contains("A2:A4 merged: 'North' filled into 3 rows") && $0.contains("A5:A6 merged: 'South' filled into 2 rows") }, "\(s.warnings)")
        // A merge in the header or spanning columns of one row is no fill-down.
        let h = try outline(rows, merges: [range("B2:C2")])
        #expect(h.table?.filledMerges.isEmpty == true && !h.warnings.contains { $0.contains("filled into") })
    }

    // MARK: - Kind 15: sheet-name collisions

    @Test func aSheetNamedAsAnIdentifierKeepsItsName() throws {
        for order in [["Sales 2024", "Sales_2024"], ["Sales_2024", "Sales 2024"], ["Q1-Data", "Q1_Data", "Q1 Data"]] {
            let reader = TableTestReader(order.enumerated().map { i, n in
                TableTestReader.Sheet(info: SheetInfo(name: n, index: i), rows: [["a"].map(cell), [1].map(cell)])
            })
            let o = try WorkbookOutline.build(reader: reader, path: "p", contentHash: "h")
            for s in o.sheets where TableInferrer.cleanIdentifier(s.info.name) == s.info.name {
                #expect(s.table?.name == s.info.name, "\(order)")
            }
            for s in o.sheets where TableInferrer.cleanIdentifier(s.info.name) != s.info.name {
                #expect(s.table?.name != TableInferrer.cleanIdentifier(s.info.name), "\(order)")
                #expect(s.warnings.contains { $0.contains("is the name of sheet") }, "\(s.warnings)")
            }
        }
    }
}
