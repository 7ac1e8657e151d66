import Foundation
import Testing
import XLChatIndex
import XLChatWorkbook

@Suite struct SearchTests {
    func built() async throws -> (TempDir, WorkbookIndex) {
        let dir = try TempDir()
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: try Fixture.outline(), reader: Fixture.reader(), embedder: HashingEmbedder())
        return (dir, index)
    }

    @Test func findsARowByAWordAndCitesIt() async throws {
        let (dir, index) = try await built(); defer { dir.cleanup() }
        let hits = try await index.search(hash: Fixture.hash, query: "Doohickey", embedder: HashingEmbedder())
        let first = try #require(hits.first)
        #expect(first.sheet == "Orders 2024")
        #expect(first.kind == "row")
        #expect(first.range.description == "B8:H8")
        #expect(first.text.hasPrefix("Orders 2024, row 8: Region=South; Product=Doohickey; Revenue=15.25; Date=2024-04-02"))
    }

    @Test func findsCodesWithPunctuation() async throws {
        let (dir, index) = try await built(); defer { dir.cleanup() }
        let hits = try await index.search(hash: Fixture.hash, query: "ORD-22001", limit: 3, embedder: HashingEmbedder())
        #expect(hits.first?.range.description == "B7:H7")
        #expect(hits.first?.text.contains("Code=ORD-22001") == true)
    }

    @Test func findsLooseTextOnSheetsWithoutTables() async throws {
        let (dir, index) = try await built(); defer { dir.cleanup() }
        let hits = try await index.search(hash: Fixture.hash, query: "who owns the budget", embedder: HashingEmbedder())
        let first = try #require(hits.first)
        #expect(first.sheet == "Notes")
        #expect(first.kind == "window")
        #expect(first.range.description == "A1:A3")
    }

    @Test func vectorsFindMisspellingsThatBM25Misses() async throws {
        let (dir, index) = try await built(); defer { dir.cleanup() }
        // "Sprockets" shares no token with "Sprocket" but shares trigrams.
        let hits = try await index.search(hash: Fixture.hash, query: "sprockets", limit: 3, embedder: HashingEmbedder())
        #expect(hits.first?.range.description == "B6:H6")
    }

    @Test func describesColumns() async throws {
        let (dir, index) = try await built(); defer { dir.cleanup() }
        let hits = try await index.search(hash: Fixture.hash, query: "Revenue column", limit: 20, embedder: HashingEmbedder())
        let column = try #require(hits.first { $0.kind == "column" && $0.text.contains("'Revenue'") })
        #expect(column.range.description == "D3:D9")
        #expect(column.text.contains("from 15.25 to 4100"))
    }

    @Test func otherEmbedderFallsBackToBM25() async throws {
        let (dir, index) = try await built(); defer { dir.cleanup() }
        let hits = try await index.search(hash: Fixture.hash, query: "Widget", embedder: CountingEmbedder(identifier: "unrelated"))
        #expect(hits.count == 2)  // the row and the Product column description
        #expect(hits.contains { $0.range.description == "B5:H5" })
    }

    @Test func hashingEmbedderIsNormalisedAndDeterministic() async throws {
        let e = HashingEmbedder(dimensions: 96)
        let v = try await e.embed(["Region=West; Product=Gizmo", "Region=West; Product=Gizmo", ""])
        #expect(v[0] == v[1])
        #expect(abs(v[0].reduce(0) { $0 + $1 * $1 } - 1) < 1e-4)
        #expect(v[2].allSatisfy { $0 == 0 })
        #expect(v[0].count == 96)
    }

    @Test func vectorScanMatchesANaiveDotProduct() {
        let e = HashingEmbedder(dimensions: 40)  // not a multiple of 16: exercises the tail loop
        let texts = (0..<50).map { "row \($0) item \($0 * 7 % 13) colour \(["red", "blue", "green"][$0 % 3])" }
        let rows = texts.map { e.vector(for: $0) }
        let m = VectorMatrix(count: rows.count, dimensions: 40, storage: rows.flatMap { $0 })
        let q = e.vector(for: "item 5 colour blue")
        let fast = m.scores(q)
        for (i, r) in rows.enumerated() {
            let naive = zip(r, q).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            #expect(abs(fast[i] - naive) < 1e-5)
        }
        let top = m.top(q, k: 5)
        #expect(top.map(\.score) == fast.sorted(by: >).prefix(5).map { $0 })
    }
}
