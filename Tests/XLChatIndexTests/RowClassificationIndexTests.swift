import Foundation
import Testing
import XLChatIndex
import XLChatWorkbook

/// Issue 10's row classification through a real index and real SQLite: the sums a user gets
/// when a table has look-alike "Total ..." data rows, aggregate rows, an unlabeled total,
/// footnotes or a units row.
@Suite struct RowClassificationIndexTests {
    func query(_ csv: String, _ sql: String, hash: String) async throws -> [[SQLValue]] {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.url.appendingPathComponent("t.csv").path
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        let reader = try Workbooks.open(path: path)
        let outline = try WorkbookOutline.build(reader: reader, path: path, contentHash: hash)
        let index = try WorkbookIndex(dataDirectory: dir.url.appendingPathComponent("data"))
        _ = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder())
        return try index.query(hash: hash, sql: sql).rows
    }

    @Test func sumsCountOnlyTheDataRows() async throws {
        let cases: [(String, String, [[SQLValue]])] = [
            ("Store,Sales\nTotal Wine & More,500\nCostco,300\nTotally Fresh,200\nTotal,1000\n", "SELECT count(*), sum(Sales) FROM t", [[.integer(3), .integer(1000)]]),
            ("Item,Amt\na,10\nb,20\nc,30\nAverage,20\nMax,30\n", "SELECT count(*), sum(Amt) FROM t", [[.integer(3), .integer(60)]]),
            ("Item,Amt\na,10\nb,20\nc,30\n,60\n", "SELECT count(*), sum(Amt) FROM t", [[.integer(3), .integer(60)]]),
            ("Country,GDP\nA,100\nB,200\nC,300\n\n\"Source: World Bank, 2024\",\n* preliminary figures,\n", "SELECT count(*), count(GDP), sum(GDP) FROM t", [[.integer(3), .integer(3), .integer(600)]]),
            ("Item,Weight,Price\n,(kg),(USD)\na,1.5,10\nb,2.5,20\n", "SELECT avg(Weight), sum(Price) FROM t", [[.real(2), .integer(30)]]),
            ("Region,City,Sales\nEast,A,100\nEast,B,200\nEast Subtotal,,300\nWest,C,50\nWest,D,25\nSubtotal West,,75\nGrand Total,,375\n", "SELECT count(*), sum(Sales) FROM t", [[.integer(4), .integer(375)]]),
        ]
        for (k, (csv, sql, want)) in cases.enumerated() {
            #expect(try await query(csv, sql, hash: String(format: "f1d0aa000000%04x", k)) == want, "\(csv)")
        }
    }
}
