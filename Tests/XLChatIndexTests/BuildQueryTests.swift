import Foundation
import Testing
import XLChatIndex
import XLChatWorkbook

@Suite struct BuildQueryTests {
    @Test func buildLoadsTypedTablesWithSheetRows() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        let updates = UpdateLog()
        let result = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(),
                                           embedder: HashingEmbedder(), progress: { updates.add($0) })
        #expect(!result.reused)
        #expect(result.embeddingModel == HashingEmbedder().identifier)
        // 6 rows + sheet + table + 7 columns + the title row (a window) + Notes: sheet + 1 window
        #expect(result.chunks == 6 + 2 + 7 + 1 + 2)
        #expect(updates.fractions.last == 1)
        #expect(updates.fractions == updates.fractions.sorted())

        let q = try index.query(hash: Fixture.hash, sql: "SELECT _row, Region, Revenue, Date, Paid, Note FROM Orders_2024 ORDER BY _row")
        #expect(q.columns == ["_row", "Region", "Revenue", "Date", "Paid", "Note"])
        #expect(q.rows.count == 6)
        // Note is a text column: every value as text, never text in some rows and numbers in others.
        #expect(q.rows[0] == [.integer(4), .text("West"), .real(1250), .text("2024-01-15"), .integer(1), .text("7")])
        #expect(q.rows[1][5] == .text("late"))
        #expect(q.rows[2][5] == .null)
        #expect(q.rows[3][5] == .text("TRUE"))     // a boolean in a text column
        #expect(q.rows[4][5] == .text("#N/A"))     // an error cell, as written
        #expect(q.rows[5][5] == .text("2.5"))
        #expect(q.sourceRanges[0]?.a1 == "'Orders 2024'!B4:H4")
    }

    @Test func datesCompareAndStrftimeWorks() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: HashingEmbedder())
        let q = try index.query(hash: Fixture.hash, sql: """
            SELECT strftime('%m', Date) AS m, sum(Revenue) FROM Orders_2024 WHERE Date >= '2024-03-01' GROUP BY m ORDER BY m
            """)
        #expect(q.rows == [[.text("03"), .real(4199)], [.text("04"), .real(15.25)], [.text("05"), .real(780)]])
        // An aggregate row does not come from one sheet row: no citation.
        #expect(q.sourceRanges == [nil, nil, nil])
    }

    @Test func sourceRangesForPlainSelects() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: HashingEmbedder())
        // `_row` not selected: the index adds it behind the scenes and strips it again.
        let q = try index.query(hash: Fixture.hash, sql: "SELECT Product, Revenue FROM Orders_2024 o WHERE Revenue > 1000 ORDER BY 2 DESC")
        #expect(q.columns == ["Product", "Revenue"])
        #expect(q.rows == [[.text("Gizmo"), .real(4100)], [.text("Gizmo"), .real(1250)]])
        #expect(q.sourceRanges.map { $0?.a1 } == ["'Orders 2024'!C7:D7", "'Orders 2024'!C4:D4"])
        // SELECT * cites the whole row of the table.
        let all = try index.query(hash: Fixture.hash, sql: "select * from Orders_2024 where Code = 'ORD-22002'")
        #expect(all.sourceRanges.map { $0?.a1 } == ["'Orders 2024'!B8:H8"])
        // DISTINCT rows are not sheet rows.
        let distinct = try index.query(hash: Fixture.hash, sql: "SELECT DISTINCT Region FROM Orders_2024")
        #expect(distinct.sourceRanges.allSatisfy { $0 == nil })
    }

    @Test func rowLimitTruncates() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: HashingEmbedder())
        let q = try index.query(hash: Fixture.hash, sql: "SELECT Code FROM Orders_2024 ORDER BY Code", limit: 4)
        #expect(q.rows.count == 4)
        #expect(q.truncated)
        let r = try index.query(hash: Fixture.hash, sql: "SELECT Code FROM Orders_2024", limit: 6)
        #expect(r.rows.count == 6)
        #expect(!r.truncated)
    }

    @Test func unchangedWorkbookIsReusedWithoutReading() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        let emb = CountingEmbedder()
        let first = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: emb)
        #expect(!first.reused)
        let embedded = emb.texts
        let reader = CountingReader(Fixture.reader())
        // A second index object on the same directory (a restarted server).
        let again = try await WorkbookIndex(dataDirectory: dir.url).build(outline: try Fixture.outline(), reader: reader, embedder: emb)
        #expect(again.reused)
        #expect(again.chunks == first.chunks)
        #expect(reader.sheetsRead == 0)
        #expect(emb.texts == embedded)
        // force rebuilds
        let forced = try await index.build(outline: try Fixture.outline(), reader: reader, embedder: emb, force: true)
        #expect(!forced.reused)
        #expect(reader.sheetsRead == 2)
    }

    @Test func otherEmbedderRecomputesVectorsOnly() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: HashingEmbedder())
        let other = CountingEmbedder(identifier: "other-model-64", dimensions: 64)
        let reader = CountingReader(Fixture.reader())
        let r = try await index.build(outline: try Fixture.outline(), reader: reader, embedder: other)
        #expect(!r.reused)
        #expect(r.embeddingModel == "other-model-64")
        #expect(reader.sheetsRead == 0)
        #expect(other.texts == r.chunks)
        let status = try index.status(hash: Fixture.hash)
        #expect(status.embeddingModel == "other-model-64")
        #expect(status.dimensions == 64)
        let hits = try await index.search(hash: Fixture.hash, query: "zeppelin campaign", embedder: other)
        #expect(hits.first?.sheet == "Notes")
    }

    @Test func changedLayoutRebuilds() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: HashingEmbedder())
        var outline = try Fixture.outline()
        outline.sheets[0].table!.columns[2].name = "Amount"
        let r = try await index.build(outline: outline, reader: Fixture.reader(), embedder: HashingEmbedder())
        #expect(!r.reused)
        let q = try index.query(hash: Fixture.hash, sql: "SELECT sum(Amount) FROM Orders_2024")
        #expect(q.rows == [[.real(6544.75)]])
    }

    @Test func statusBeforeAndAfterBuild() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        let outline = try Fixture.outline()
        try index.register(outline)
        let before = try index.status(hash: Fixture.hash)
        #expect(!before.built)
        _ = try await index.build(outline: outline, reader: Fixture.reader(), embedder: HashingEmbedder())
        let after = try index.status(hash: Fixture.hash)
        #expect(after.built)
        #expect(after.chunks == 18)
        #expect(after.tables.map(\.name) == ["Orders_2024"])
        #expect(after.tables.first?.rows == 6)
        #expect(after.tables.first?.columns == ["Region", "Product", "Revenue", "Date", "Paid", "Code", "Note"])
        #expect(after.builtAt != nil)
    }

    @Test func cancelledBuildKeepsThePreviousIndex() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        let (reader, outline) = try SyntheticWorkbook.mixed(rows: 3000, contentHash: "c0ffee")
        _ = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder())
        let slow = CountingEmbedder(identifier: "slow-64", dimensions: 64, delayNanos: 50_000_000)
        let task = Task { try await index.build(outline: outline, reader: reader, embedder: slow, force: true) }
        while slow.texts == 0 { try await Task.sleep(nanoseconds: 5_000_000) }
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        let status = try index.status(hash: "c0ffee")
        #expect(status.built)
        #expect(status.embeddingModel == HashingEmbedder().identifier)
        let staging = try FileManager.default.contentsOfDirectory(atPath: dir.indexDir.path).filter { $0.contains("staging") }
        #expect(staging.isEmpty)
        let q = try index.query(hash: "c0ffee", sql: "SELECT count(*) FROM Orders")
        #expect(q.rows == [[.integer(3000)]])
    }

    @Test func removeForgetsTheWorkbook() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: HashingEmbedder())
        _ = try await index.search(hash: Fixture.hash, query: "Gizmo", embedder: HashingEmbedder())  // cached
        try await index.remove(hash: Fixture.hash)
        expectIndexError(.unknownWorkbook) { _ = try index.query(hash: Fixture.hash, sql: "SELECT 1") }
        #expect(!FileManager.default.fileExists(atPath: dir.indexDir.appendingPathComponent(Fixture.hash + ".sqlite").path))
    }
}

final class UpdateLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [ProgressUpdate] = []
    func add(_ u: ProgressUpdate) { lock.withLock { items.append(u) } }
    var fractions: [Double] { lock.withLock { items.map(\.fraction) } }
}

final class CountingReader: WorkbookReader {
    let inner: MemoryWorkbookReader
    var sheetsRead = 0
    init(_ inner: MemoryWorkbookReader) { self.inner = inner }
    var format: WorkbookFormat { inner.format }
    var sheets: [SheetInfo] { inner.sheets }
    var definedNames: [DefinedName] { [] }
    var declaredTables: [DeclaredTable] { [] }
    func readSheet(at index: Int, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        sheetsRead += 1
        return try inner.readSheet(at: index, visitor: visitor)
    }
}
