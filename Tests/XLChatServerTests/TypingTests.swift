import Foundation
import Testing
import XLChatProtocol
import XLChatServer
import XLChatTestSupport

/// Column typing as a user meets it: `workbook/open` shows each column's rule, NULLed values
/// and profile; `workbook/query` sums, counts and averages the typed values; `workbook/read`
/// still shows every cell as the file has it. The handed fidelity cases, then generated
/// variants in other currencies, locales and placeholder spellings.
@Suite(.timeLimit(.minutes(3))) struct TypingTests {
    func client(_ config: ServerConfiguration = TestClient.temporaryConfiguration()) async throws -> TestClient {
        let c = TestClient.inProcess(configuration: config)
        try await c.initialize()
        return c
    }

    /// A fidelity case file (../shared/cases/fidelity): a missing file fails the test.
    func fidelity(_ name: String) throws -> String {
        let path = BuiltBinary.packageRoot().deletingLastPathComponent().appendingPathComponent("shared/cases/fidelity/\(name)").path
        try #require(FileManager.default.fileExists(atPath: path), "the fidelity case \(path) is missing")
        return path
    }

    func query(_ c: TestClient, _ wb: WorkbookOpenResult, _ sql: String) async throws -> [[JSONValue]] {
        let table = try #require(wb.sheets[0].table?.name)
        return try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: sql.replacingOccurrences(of: "$T", with: "\"\(table)\""))).rows
    }

    func number(_ v: JSONValue) -> Double? { v.doubleValue.map { ($0 * 1e6).rounded() / 1e6 } }

    func column(_ wb: WorkbookOpenResult, _ name: String) throws -> ColumnDescription {
        try #require(wb.sheets[0].table?.columns.first { $0.name == name || $0.header == name })
    }

    // MARK: - The handed cases

    @Test func postalCodesStayTextInEveryRow() async throws {
        let c = try await client()
        let wb = try await c.send(WorkbookOpenRequest(path: try fidelity("postal-codes.csv")))
        let code = try column(wb, "Postal Code")
        #expect(code.type == "text" && code.rule.hasPrefix("code: leading zeros kept as text"))
        #expect(try await query(c, wb, "SELECT City FROM $T WHERE \"Postal Code\" = '97007'") == [["Portland"]])
        #expect(try await query(c, wb, "SELECT min(\"Postal Code\"), max(\"Postal Code\") FROM $T") == [["00501", "97007"]])
        #expect(try await query(c, wb, "SELECT DISTINCT typeof(\"Postal Code\") FROM $T") == [["text"]])
    }

    @Test func decimalCommaCSV() async throws {
        let c = try await client()
        let wb = try await c.send(WorkbookOpenRequest(path: try fidelity("decimal-comma.csv")))
        let rows = try await query(c, wb, "SELECT sum(Menge), sum(Preis) FROM $T")
        #expect(rows.count == 1 && number(rows[0][0]) == 1454 && number(rows[0][1]) == 4313.48)
        #expect(try column(wb, "Menge").rule.contains("ambiguous '1.200' read with a decimal comma (the file's ';' delimiter)"))
        #expect(try column(wb, "Preis").rule.contains("decimal comma"))
        // The cell itself is as the csv reader types it, unchanged.
        let read = try await c.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: wb.sheets[0].name, range: "B5:C5"))
        #expect(read.rows == [[1.2, "0,99"]])
    }

    @Test func placeholdersInNumbersBehaveLikeExcel() async throws {
        let c = try await client()
        let wb = try await c.send(WorkbookOpenRequest(path: try fidelity("placeholders-in-numbers.xlsx")))
        let rows = try await query(c, wb, "SELECT count(Reading), avg(Reading), max(Reading) FROM $T")
        #expect(rows.count == 1 && number(rows[0][0]) == 4 && number(rows[0][1]) == 25 && number(rows[0][2]) == 40)
        let reading = try column(wb, "Reading")
        #expect(reading.nulled == 2 && Set(reading.nulledExamples) == ["n/a", "-"])
        #expect(reading.rule.contains("placeholders → NULL"))
        #expect(reading.profile.values == 4 && reading.profile.max.flatMap(number) == 40)
    }

    // MARK: - Generated variants

    @Test func currenciesAndLocalesSumRight() async throws {
        let c = try await client()
        // (csv text, expected sums of column 2 (and 3), a rule fragment of column 2)
        let cases: [(String, [Double], String)] = [
            ("Item,Amount\nA,\"$1,234.56\"\nB,$12.00\nC,n/a\nD,(200.00)\nE,\"$1,000\"\n", [2046.56], "currency USD ($)"),
            ("Artikel;Betrag;Anteil\nA;1.234,56 €;12,5 %\nB;99,00 €;7 %\nC;-;n/a\nD;2.000 €;0,5 %\n", [3333.56, 0.2], "currency EUR (€)"),
            ("Article;Montant\nA;1\u{00A0}234,56\nB;12\u{202F}000,00\nC;—\nD;0,44\n", [13235], "decimal comma"),
            ("Artikel,Betrag\nA,CHF 1'234.50\nB,CHF 99.90\nC,CHF -34.40\n", [1300], "currency CHF"),
            ("Item,Amount\nA,\"₹12,34,567.50\"\nB,\"₹1,00,000.00\"\nC,TBD\n", [1334567.5], "currency INR (₹)"),
            ("Item,Amount\nA,£15.50\nB,£1.20\nC,null\nD,200-\n", [-183.3], "currency GBP (£)"),
            ("Item,Amount\nA,¥500\nB,\"¥12,000\"\nC,N/A\n", [12500], "currency JPY (¥)"),
            ("Item,Amount\nA,\"R$ 1.234,56\"\nB,\"R$ 10,00\"\nC,?\n", [1244.56], "currency BRL (R$)"),
            ("Item\tAmount\nA\tkr 1 200,50\nB\tkr 99,50\nC\t–\n", [1300], "currency kr"),
            ("Item,Amount\nA,−200\nB,300\nC,#N/A\n", [100], "Unicode minus"),
        ]
        for (k, (text, sums, rule)) in cases.enumerated() {
            let wb = try await c.send(WorkbookOpenRequest(text: text, format: text.contains("\t") ? "tsv" : "csv", name: "money\(k).csv"))
            let cols = try #require(wb.sheets[0].table?.columns)
            #expect(cols[1].type == "real" || cols[1].type == "integer", "\(k): \(cols[1].type) \(cols[1].rule)")
            #expect(cols[1].rule.contains(rule), "\(k): \(cols[1].rule)")
            let names = cols.dropFirst().prefix(sums.count).map { "sum(\"\($0.name)\")" }.joined(separator: ", ")
            let got = try await query(c, wb, "SELECT \(names) FROM $T")
            #expect(got.first?.map(number) == sums.map { Optional($0) }, "\(k): \(got)")
        }
    }

    @Test func countAverageAndMaxSkipEveryPlaceholderSpelling() async throws {
        let c = try await client()
        let spellings = ["n/a", "N/A", "NA", "-", "–", "—", "?", "TBD", "none", "null", "#N/A", "", "n.a.", "unknown", "--"]
        var csv = "Sensor,Reading,Taken\n"
        var expected = 0
        for (i, p) in spellings.enumerated() {
            csv += "S\(i),\((i + 1) * 10),2024-01-\(String(format: "%02d", i + 1))\n"
            csv += "P\(i),\"\(p)\",\(p.isEmpty ? "" : p)\n"
            expected += (i + 1) * 10
        }
        let wb = try await c.send(WorkbookOpenRequest(text: csv, format: "csv", name: "sensors.csv"))
        #expect(try column(wb, "Reading").type == "integer")
        #expect(try column(wb, "Taken").type == "date")
        let rows = try await query(c, wb, "SELECT count(Reading), sum(Reading), avg(Reading), max(Reading), count(Taken), max(Taken) FROM $T")
        #expect(rows.first?.prefix(4).map(number) == [15, Double(expected), Double(expected) / 15, 150])
        #expect(rows.first?[4] == 15 && rows.first?[5] == "2024-01-15")
        let reading = try column(wb, "Reading")
        #expect(reading.nulled == 14 && reading.nulledExamples.count == 3)   // the empty text is not a cell in csv
    }

    @Test func codesVersionsPhonesAndMixedColumnsStayText() async throws {
        let c = try await client()
        let csv = """
            Account,Phone,Version,Mixed,Money,Amount
            000123,+1 555 123 4567,1.2.3,12,$12.00,5
            004567,+1 555 987 6543,1.10.0,apple,"€15,00",7
            120000,+44 20 7946 0958,2.0.1,7.5,$7.50,1
            000001,(555) 123-4567,10.4.12,pear,"€3,00",2

            """
        let wb = try await c.send(WorkbookOpenRequest(text: csv, format: "csv", name: "codes.csv"))
        let types = wb.sheets[0].table?.columns.map(\.type)
        #expect(types == ["text", "text", "text", "text", "text", "integer"])
        #expect(try column(wb, "Money").rule.contains("mixed currencies"))
        #expect(try column(wb, "Mixed").rule.hasPrefix("text: no rule fits cleanly"))
        #expect(try await query(c, wb, "SELECT Amount FROM $T WHERE Account = '000123'") == [[5]])
        #expect(try await query(c, wb, "SELECT DISTINCT typeof(Account) || typeof(Mixed) FROM $T") == [["texttext"]])
    }

    @Test func openShowsRulesAndProfilesAndAReusedIndexKeepsThem() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("sales.csv").path
        try Data("Region;Amount;Share\nWest;1.234,50;12,5 %\nEast;n/a;7 %\nWest;99,00;-\nNorth;10,00;50 %\n".utf8)
            .write(to: URL(fileURLWithPath: file))
        let config = TestClient.temporaryConfiguration()
        let c = try await client(config)
        let wb = try await c.send(WorkbookOpenRequest(path: file))
        let region = try column(wb, "Region"), amount = try column(wb, "Amount"), share = try column(wb, "Share")
        #expect(region.profile.distinct == ["West", "East", "North"])
        #expect(amount.type == "real" && amount.nulled == 1 && amount.nulledExamples == ["n/a"])
        #expect(amount.profile.min == 10 && amount.profile.max == 1234.5 && amount.profile.values == 3)
        #expect(share.rule.contains("percent → fraction") && share.profile.max == 0.5)
        let first = try await c.send(IndexBuildRequest(workbookId: wb.workbookId))
        #expect(!first.reused)
        // A new server process on the same data directory reuses the index; the open result
        // (rules, profiles) is the same, and so are the answers.
        let d = try await client(config)
        let again = try await d.send(WorkbookOpenRequest(path: file))
        #expect(again.sheets == wb.sheets)
        #expect(try await d.send(IndexBuildRequest(workbookId: again.workbookId)).reused)
        let rows = try await query(d, again, "SELECT sum(Amount), sum(Share) FROM $T")
        #expect(rows.first?.map(number) == [1343.5, 0.695])
        // workbook/read shows the cells as the file has them.
        let cells = try await d.send(WorkbookReadRequest(workbookId: again.workbookId, sheet: again.sheets[0].name, range: "B3:C3"))
        #expect(cells.rows == [["n/a", "7 %"]])
    }
}

/// `workbook/query` warns when an aggregate reads a column the typing kept as text (SQLite
/// would add `'1.5k'` as 1.5), or a number column showing several currencies (issue 10).
@Suite(.timeLimit(.minutes(3))) struct TextAggregateWarningTests {
    @Test func sumOverATextColumnCarriesAWarningOnTheWire() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-agg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("amounts.csv").path
        try Data("item,v,w\na,1.5k,1\nb,x,2\nc,300,3\nd,7,y\ne,12,5\nf,n/a,6\n".utf8).write(to: URL(fileURLWithPath: path))
        let c = TestClient.inProcess(configuration: TestClient.temporaryConfiguration())
        try await c.initialize()
        let wb = try await c.send(WorkbookOpenRequest(path: path))
        let table = try #require(wb.sheets[0].table)
        let v = try #require(table.columns.first { $0.name == "v" })
        #expect(v.type == "text" && v.rule.contains("kept as text by"), "\(v.rule)")
        let sum = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT sum(v), avg(v) FROM amounts"))
        let warnings = try #require(sum.warnings)
        #expect(warnings.count == 2 && warnings.allSatisfy { $0.contains("amounts.v, a text column") }, "\(warnings)")
        // w: one unknown token among numbers is a NULL, the column a number: no warning.
        let w = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT sum(w), count(w) FROM amounts"))
        #expect(w.warnings == nil && w.rows == [[17, 5]])
    }
}
