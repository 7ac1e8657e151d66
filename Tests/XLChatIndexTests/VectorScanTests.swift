// The vector scan's integer pre-scan (VectorMatrix.top on int8 rows): its SIMD dot product
// against the scalar one, and its hits against the exact Float32 scan's on generated matrices
// (sizes, lengths that are not multiples of 16, extremes, ties, duplicates, skewed queries).
import Foundation
import Testing
@testable import XLChatIndex
import XLChatWorkbook

/// The synthetic workbook's seeded generator, so a failure names a reproducible case.
extension SplitMix: RandomNumberGenerator {}

@Suite struct VectorScanTests {
    @Test(arguments: [1, 2, 7, 15, 16, 17, 31, 32, 33, 40, 96, 127, 128, 129, 384, 511])
    func simdDotProductMatchesTheScalarOne(length: Int) {
        var g = SplitMix(seed: UInt64(length))
        // Random rows, the extremes, and alternating extremes, against random, extreme and
        // alternating-sign Int16 queries (the largest magnitudes int16Query can produce).
        let limit = Int16(min(32767, Int(Int32.max) / (128 * length)))
        var rows: [[Int8]] = (0..<20).map { _ in (0..<length).map { _ in Int8.random(in: .min ... .max, using: &g) } }
        rows.append([Int8](repeating: -128, count: length))
        rows.append([Int8](repeating: 127, count: length))
        rows.append((0..<length).map { $0 % 2 == 0 ? -128 : 127 })
        rows.append([Int8](repeating: 0, count: length))
        var queries: [[Int16]] = (0..<10).map { _ in (0..<length).map { _ in Int16.random(in: -limit ... limit, using: &g) } }
        queries.append([Int16](repeating: limit, count: length))
        queries.append([Int16](repeating: -limit, count: length))
        queries.append((0..<length).map { $0 % 2 == 0 ? -limit : limit })
        for row in rows {
            for query in queries {
                let simd = row.withUnsafeBytes { r in
                    query.withUnsafeBytes { q in VectorMatrix.int8DotInt16(r.baseAddress!, q.baseAddress!, dimensions: length) }
                }
                let exact = zip(row, query).reduce(Int64(0)) { $0 + Int64($1.0) * Int64($1.1) }
                #expect(Int64(simd) == exact, "length \(length)")
                #expect(simd == VectorMatrix.int8DotInt16Scalar(row, query))
            }
        }
    }

    /// The Int16 query never lets a row's sum leave Int32, whatever the dimensions.
    @Test(arguments: [1, 128, 1024, 4096, 16_000])
    func int16QueryStaysWithinTheOverflowLimit(dimensions: Int) throws {
        var g = SplitMix(seed: 7)
        let q = (0..<dimensions).map { _ in Float.random(in: -1...1, using: &g) }
        let (values, _, limit) = try #require(VectorMatrix.int16Query(q))
        let largest = values.map { abs(Int64($0)) }.max()!
        #expect(Double(largest) <= limit)
        #expect(Int64(dimensions) * 128 * largest <= Int64(Int32.max))
        #expect(VectorMatrix.int16Query([Float](repeating: 0, count: dimensions)) == nil)
        var bad = q; bad[0] = .nan
        #expect(VectorMatrix.int16Query(bad) == nil)
    }

    /// Stored-form rows (IndexBuilder.quantize) of generated vectors.
    static func matrix(_ vectors: [[Float]]) -> VectorMatrix {
        VectorMatrix(count: vectors.count, dimensions: vectors.first?.count ?? 0,
                     quantized: vectors.flatMap { IndexBuilder.quantize($0) })
    }

    /// `top` (pre-scan and rescoring) against ranking the exact Float32 scores: the same rows
    /// in the same order with the same score bits.
    func expectSameAsExact(_ m: VectorMatrix, _ q: [Float], k: Int, _ note: String) {
        let fast = m.top(q, k: k)
        let exact = VectorMatrix.topK(m.scores(q), k: k)
        #expect(fast.map(\.index) == exact.map(\.index), "\(note)")
        #expect(fast.map(\.score.bitPattern) == exact.map(\.score.bitPattern), "\(note)")
    }

    @Test(arguments: [3, 16, 40, 128, 129])
    func topMatchesTheExactScanOnRandomVectors(dimensions: Int) {
        var g = SplitMix(seed: UInt64(dimensions) &* 31)
        let vectors = (0..<1500).map { _ in (0..<dimensions).map { _ in Float.random(in: -1...1, using: &g) } }
        let m = Self.matrix(vectors)
        for t in 0..<12 {
            // Queries: random, a stored row (its own best match), a row plus noise, one-hot.
            var q: [Float]
            switch t % 4 {
            case 0: q = (0..<dimensions).map { _ in Float.random(in: -1...1, using: &g) }
            case 1: q = vectors[Int.random(in: 0..<vectors.count, using: &g)]
            case 2: q = vectors[Int.random(in: 0..<vectors.count, using: &g)].map { $0 + Float.random(in: -0.05...0.05, using: &g) }
            default: q = [Float](repeating: 0, count: dimensions); q[t % dimensions] = 1
            }
            for k in [1, 10, 50, 1499, 1500, 5000] { expectSameAsExact(m, q, k: k, "d \(dimensions) query \(t) k \(k)") }
        }
    }

    /// Near-ties and exact ties, where a wrong pre-scan bound would drop or reorder a hit:
    /// duplicated rows, rows that differ in one component by one step, and a query with a tiny
    /// largest component next to many near-zero ones.
    @Test func topMatchesTheExactScanOnTiesAndNearTies() {
        var g = SplitMix(seed: 99)
        let d = 128
        let base = (0..<d).map { _ in Float.random(in: -1...1, using: &g) }
        var rows: [[Int8]] = []
        for i in 0..<2000 {
            var r = IndexBuilder.quantize(base)
            if i % 3 != 0 { let c = i % d; r[c] = r[c] == 127 ? 126 : r[c] + 1 }  // one step off
            rows.append(r)
        }
        for _ in 0..<2000 { rows.append((0..<d).map { _ in Int8.random(in: -128...127, using: &g) }) }
        rows.append([Int8](repeating: -128, count: d))
        rows.append([Int8](repeating: 127, count: d))
        let m = VectorMatrix(count: rows.count, dimensions: d, quantized: rows.flatMap { $0 })
        var skewed = (0..<d).map { _ in Float.random(in: -1e-6...1e-6, using: &g) }
        skewed[5] = 3e-5
        for (t, q) in [base, base.map { -$0 }, skewed, HashingEmbedder(dimensions: d).vector(for: "Gizmo West")].enumerated() {
            for k in [1, 10, 50, 700, 1400] { expectSameAsExact(m, q, k: k, "query \(t) k \(k)") }
        }
    }

    /// The built-in embedder's vectors of generated rows, as search sees them: same hits.
    @Test func topMatchesTheExactScanOnHashingEmbedderRows() {
        let e = HashingEmbedder(dimensions: 128)
        let regions = ["North", "South", "East", "West"], products = ["Gizmo", "Widget", "Sprocket", "Doohickey"]
        let texts = (0..<5000).map { i in
            "OrderID=\(i + 1); Code=ORD-\(10_000 + i * 7 % 9000); Region=\(regions[i % 4]); Product=\(products[i / 4 % 4]); Quantity=\(i % 17)"
        }
        let m = Self.matrix(texts.map { e.vector(for: $0) })
        for q in ["Gizmo West", "ORD-12345", "North Sprocket 5", "order 4711", "Doohickey", "zzz unrelated", "Quantity=3"] {
            for k in [10, 50] { expectSameAsExact(m, e.vector(for: q), k: k, q) }
        }
    }

    /// The vectors a real build stores (the synthetic mixed table, 3,000 rows), loaded as search
    /// loads them: the same hits as the exact scan for the benchmark's kind of queries, and
    /// search returns hits for each.
    @Test func topMatchesTheExactScanOnABuiltIndex() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let embedder = HashingEmbedder(dimensions: 128)
        let (reader, outline) = try SyntheticWorkbook.mixed(rows: 3000, contentHash: "0123456789abcdef")
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: outline, reader: reader, embedder: embedder)
        let matrix = try index.loadedSearch(outline.contentHash).loadSearchData().matrix
        #expect(matrix.count > 3000)
        for q in ["Gizmo West", "ORD-12345", "late fragile order", "customer 42 Lisbon", "Turin Services 7", "Thingamajig"] {
            expectSameAsExact(matrix, embedder.vector(for: q), k: 50, q)
            let hits = try await index.search(hash: outline.contentHash, query: q, limit: 10, embedder: embedder)
            #expect(!hits.isEmpty, "\(q)")
        }
    }

    @Test func aZeroOrNonFiniteQueryFallsBackToTheExactScan() {
        var g = SplitMix(seed: 5)
        let m = Self.matrix((0..<100).map { _ in (0..<20).map { _ in Float.random(in: -1...1, using: &g) } })
        let zero = [Float](repeating: 0, count: 20)
        #expect(m.top(zero, k: 5).map(\.index) == [0, 1, 2, 3, 4])
        expectSameAsExact(m, zero, k: 5, "zero")
        var inf = zero; inf[3] = .infinity
        #expect(m.top(inf, k: 3).count == 3)
        #expect(m.top(zero, k: 0).isEmpty)
        #expect(VectorMatrix(count: 0, dimensions: 20, quantized: []).top(zero, k: 5).isEmpty)
    }
}
