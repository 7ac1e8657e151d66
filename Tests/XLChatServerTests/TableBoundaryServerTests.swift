import Foundation
import Testing
import XLChatProtocol
import XLChatServer
import XLChatTestSupport

/// Several tables per sheet, totals rows and strict SQL through the real server
/// (`workbook/open`, `workbook/query`, `workbook/read`).
@Suite(.timeLimit(.minutes(3))) struct TableBoundaryServerTests {
    func client() async throws -> TestClient {
        let c = TestClient.inProcess()
        try await c.initialize()
        return c
    }

    func fidelity(_ name: String) throws -> String {
        let path = BuiltBinary.packageRoot().deletingLastPathComponent().appendingPathComponent("shared/cases/fidelity/\(name)").path
        try #require(FileManager.default.fileExists(atPath: path), "the fidelity cases are missing: \(path)")
        return path
    }

    @Test func handedFilesGiveTheRightSumsThroughQuery() async throws {
        let c = try await client()
        let totals = try await c.send(WorkbookOpenRequest(path: try fidelity("table-with-totals-row.xlsx")))
        let t = try #require(totals.sheets[0].tables.first)
        #expect(t.name == "Expenses" && t.source == "listObject")
        #expect(t.excludedRows == [ExcludedRowDescription(row: 6, kind: "totalsRow", evidence: "totals row of table Expenses")])
        #expect(totals.sheets[0].table == t)
        let sum = try await c.send(WorkbookQueryRequest(workbookId: totals.workbookId, sql: "SELECT count(*), sum(Amount) FROM Expenses"))
        #expect(sum.rows == [[4, 1725.5]])
        // The totals row stays readable as cells.
        let read = try await c.send(WorkbookReadRequest(workbookId: totals.workbookId, sheet: totals.sheets[0].name, range: "A6:B6"))
        #expect(read.rows == [["Total", 1725.5]])

        let several = try await c.send(WorkbookOpenRequest(path: try fidelity("several-tables-per-sheet.xlsx")))
        #expect(several.sheets.map { $0.tables.map(\.name) } == [["Stacked", "Stacked_2"], ["SideBySide", "SideBySide_2"]])
        for (sql, expected) in [("SELECT count(*), sum(Units) FROM Stacked", [3, 20]),
                                (#"SELECT count(*), sum("Units returned") FROM Stacked_2"#, [2, 3]),
                                ("SELECT count(*), sum(Sales) FROM SideBySide", [3, 310]),
                                ("SELECT count(*), sum(Target) FROM SideBySide_2", [2, 350])] as [(String, [JSONValue])] {
            let r = try await c.send(WorkbookQueryRequest(workbookId: several.workbookId, sql: sql))
            #expect(r.rows == [expected], "\(sql)")
        }
    }

    @Test func aCSVWithStackedBlocksAndTotalsOpensAsSeveralTables() async throws {
        let c = try await client()
        let csv = """
            Quarterly report;;
            Region;Rep;Sales
            East;Ann;10
            East;Bo;20
            Total East;;30
            West;Cy;5
            Total West;;5
            Grand total;;35
            ;;
            Returns;;
            Region;Count;
            East;2;
            West;1;
            """
        let wb = try await c.send(WorkbookOpenRequest(text: csv, format: "csv", name: "report.csv"))
        let sheet = wb.sheets[0]
        #expect(sheet.tables.map(\.name) == ["report", "Returns"])
        #expect(sheet.tables[0].excludedRows.map(\.row) == [5, 7, 8])
        #expect(sheet.tables[0].excludedRows.allSatisfy { $0.kind == "total" })
        #expect(sheet.tables.map(\.dataRange) == ["A3:C6", "A12:B13"])
        let r = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT sum(Sales) FROM report"))
        #expect(r.rows == [[35]])
        let r2 = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT sum(Count) FROM Returns"))
        #expect(r2.rows == [[3]])
    }

    @Test func queryErrorsNameTheNearestColumnOverTheWire() async throws {
        let c = try await client()
        let wb = try await c.send(WorkbookOpenRequest(text: "Region,Revenue\nWest,10\nEast,20\n", format: "csv", name: "sales.csv"))
        let table = wb.sheets[0].tables[0].name
        let reply = try await c.request(method: "workbook/query", params: [
            "workbookId": .string(wb.workbookId), "sql": .string(#"SELECT sum("Revenu") FROM "\#(table)""#)])
        #expect(reply["error"]?["data"]?["kind"]?.stringValue == "invalidQuery")
        let message = reply["error"]?["message"]?.stringValue ?? ""
        #expect(message.contains(#"did you mean "Revenue""#), "\(message)")
    }
}

/// Join fan-out through the real server: a join whose key repeats on the joined side carries a
/// warning in `workbook/query`'s result (issue 12), one on a unique key does not.
@Suite(.timeLimit(.minutes(3))) struct JoinFanoutServerTests {
    static func cell(_ ref: String, _ v: String) -> String {
        Double(v) != nil ? #"<c r="\#(ref)"><v>\#(v)</v></c>"# : #"<c r="\#(ref)" t="inlineStr"><is><t>\#(v)</t></is></c>"#
    }
    static func sheet(_ rows: [[String]]) -> String {
        rows.enumerated().map { r, values in
            #"<row r="\#(r + 1)">"# + values.enumerated().map { c, v in cell("\(Character(UnicodeScalar(65 + c)!))\(r + 1)", v) }.joined() + "</row>"
        }.joined()
    }

    @Test func aRepeatingJoinKeyIsWarnedAndAUniqueOneIsNot() async throws {
        let orders = [["OrderId", "CustomerId", "Amount"]] + (1...40).map { ["\($0)", "\(100 + $0 % 8)", "\($0 * 10)"] }
        // Customer 101 and 102 were exported twice (two addresses); the rest once.
        var customers = [["CustomerId", "Segment", "City"]] + (100..<108).map { ["\($0)", $0 % 2 == 0 ? "Retail" : "Trade", "City \($0)"] }
        customers += [["101", "Trade", "Second address"], ["102", "Retail", "Second address"]]
        let segments = [["Segment", "Manager"], ["Retail", "Ann"], ["Trade", "Bo"]]
        let path = try await generatedXLSX(sheets: [("Orders", Self.sheet(orders)), ("Customers", Self.sheet(customers)), ("Segments", Self.sheet(segments))])
        let c = TestClient.inProcess()
        try await c.initialize()
        let wb = try await c.send(WorkbookOpenRequest(path: path))
        let names = wb.sheets.flatMap { $0.tables.map(\.name) }
        #expect(Set(names) == ["Orders", "Customers", "Segments"])

        let inflated = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: """
            SELECT c.Segment, sum(o.Amount) AS total FROM Orders o JOIN Customers c ON o.CustomerId = c.CustomerId GROUP BY c.Segment ORDER BY 1
            """))
        let warnings = try #require(inflated.warnings)
        #expect(warnings.count == 1)
        #expect(warnings[0].contains("Customers.CustomerId is not unique"))
        #expect(warnings[0].contains("2 key values repeat (up to 2 rows each)"))

        let fine = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: """
            SELECT s.Manager, count(*) FROM Customers c JOIN Segments s USING (Segment) GROUP BY 1
            """))
        #expect(fine.warnings == nil)
        let single = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT sum(Amount) FROM Orders"))
        #expect(single.warnings == nil)
        #expect(single.rows == [[.int(8200)]] || single.rows == [[.double(8200)]])
    }
}
