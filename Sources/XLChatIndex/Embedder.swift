// Embedders turn chunk texts into vectors. The index stores them as int8 BLOBs and scans
// them in memory (VectorMatrix). An Ollama embedder plugs in through the same protocol.
import Foundation

public protocol Embedder: Sendable {
    /// Names the model and its parameters; an index built with another identifier gets its
    /// vectors rebuilt.
    var identifier: String { get }
    var dimensions: Int { get }
    func embed(_ texts: [String]) async throws -> [[Float]]
}

/// The built-in embedder: no network, no model. Hashes words, word pairs and character
/// trigrams into a signed bag of features (the "hashing trick"), then L2-normalises. It finds
/// rows sharing words, parts of codes (`ORD-1173` vs `ORD-11730`) and misspellings; it knows
/// no synonyms.
public struct HashingEmbedder: Embedder {
    public let dimensions: Int
    public var identifier: String { "xlchat-hashing-v1-\(dimensions)" }

    public init(dimensions: Int = 128) {
        precondition(dimensions > 0, "dimensions must be positive")
        self.dimensions = dimensions
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        texts.map { vector(for: $0) }
    }

    /// Synchronous form, for callers that are not async.
    public func vector(for text: String) -> [Float] {
        var v = [Float](repeating: 0, count: dimensions)
        let d = UInt64(dimensions)
        v.withUnsafeMutableBufferPointer { out in
            @inline(__always) func add(_ h: UInt64, _ w: Float) {
                let idx = Int((h >> 1) % d)
                out[idx] += (h & 1) == 0 ? w : -w
            }
            var bytes = Array(text.utf8)
            for i in bytes.indices where bytes[i] >= 65 && bytes[i] <= 90 { bytes[i] |= 0x20 }
            let n = bytes.count
            var i = 0
            var previousWord: UInt64 = 0
            while i < n {
                // skip separators
                while i < n && !Self.isWordByte(bytes[i]) { i += 1 }
                if i >= n { break }
                let start = i
                while i < n && Self.isWordByte(bytes[i]) { i += 1 }
                // the word
                var h: UInt64 = 0xcbf2_9ce4_8422_2325
                for j in start..<i { h = (h ^ UInt64(bytes[j])) &* 0x100_0000_01b3 }
                add(Self.mix(h), 1.0)
                if previousWord != 0 { add(Self.mix(previousWord &* 31 &+ h), 0.5) }
                previousWord = h
                // character trigrams of the word padded with spaces at both ends
                let len = i - start
                if len >= 2 {
                    for k in -1..<(len - 1) {
                        var t: UInt64 = 0x84222325
                        for m in k..<(k + 3) {
                            let b: UInt8 = (m < 0 || m >= len) ? 32 : bytes[start + m]
                            t = (t ^ UInt64(b)) &* 0x100_0000_01b3
                        }
                        add(Self.mix(t ^ 0x9e37_79b9_7f4a_7c15), 0.4)
                    }
                }
            }
            var norm: Float = 0
            for x in out { norm += x * x }
            if norm > 0 {
                let s = 1 / norm.squareRoot()
                for k in out.indices { out[k] *= s }
            }
        }
        return v
    }

    @inline(__always) static func isWordByte(_ b: UInt8) -> Bool {
        (b >= 97 && b <= 122) || (b >= 48 && b <= 57) || b >= 0x80
    }

    @inline(__always) static func mix(_ x: UInt64) -> UInt64 {
        // splitmix64 finaliser: spreads FNV's low-entropy high bits.
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Vectors of one index, in one contiguous buffer, scanned exactly.
/// Hand-written SIMD: stack.md measured a Swift scan over a contiguous matrix as the fast path
/// (a Swift SQL function over BLOBs was 1.5-4x slower).
/// A search index keeps its vectors as stored, int8 (`IndexBuilder.quantize`: a unit vector's
/// components scaled by 127): a quarter of Float32's bytes to stream per query.
///
/// `top` on int8 rows ranks in two passes, as search engines rescore a cheap first pass:
/// 1. an integer pre-scan: the query scaled to Int16, each row's int8 components widened and
///    multiplied in Int32 lanes (x86's `pmaddwd`, baseline SSE2; no per-row allocation), which
///    gives every row's cosine to within a bound computed from the scale and the rows' largest
///    L1 norm (`prescreenSlack`);
/// 2. the rows whose integer score is within twice that bound of the k-th best are rescored
///    with the Float32 scan (`scores`' arithmetic, bit for bit) and ranked.
/// No row of the exact top k can fall outside the candidates, so the hits and their scores are
/// those of the exact Float32 scan (SearchTests checks this on generated matrices).
/// Measured (`xlchat-bench index`, 100,022 x 128, release, shared 2-core machine): the Float32
/// widening scan took 6.2 ms of CPU per query, the integer pre-scan plus rescoring 1.5 ms.
public final class VectorMatrix: Sendable {
    public let count: Int
    public let dimensions: Int
    let storage: [Float]
    /// Row-major int8 components (value = component * 127), when built from stored vectors.
    let quantized: [Int8]
    /// The largest Σ|component| of a row of `quantized` (0 for a Float32 matrix): bounds the
    /// integer pre-scan's error.
    let maxRowL1: Int

    public init(count: Int, dimensions: Int, storage: [Float]) {
        precondition(storage.count == count * dimensions)
        self.count = count; self.dimensions = dimensions; self.storage = storage; self.quantized = []
        self.maxRowL1 = 0
    }

    /// Rows of int8 components as the search file stores them (component = value / 127).
    public init(count: Int, dimensions: Int, quantized: [Int8]) {
        precondition(quantized.count == count * dimensions)
        self.count = count; self.dimensions = dimensions; self.storage = []; self.quantized = quantized
        self.maxRowL1 = Self.maxRowL1(quantized, count: count, dimensions: dimensions)
    }

    /// Dot products of `query` with every row (cosine, as vectors are normalised).
    public func scores(_ query: [Float]) -> [Float] {
        precondition(query.count == dimensions)
        if !quantized.isEmpty || storage.isEmpty && count > 0 { return quantizedScores(query) }
        var out = [Float](repeating: 0, count: count)
        let d = dimensions
        storage.withUnsafeBufferPointer { m in
            query.withUnsafeBufferPointer { q in
                out.withUnsafeMutableBufferPointer { o in
                    let base = UnsafeRawPointer(m.baseAddress!)
                    let qp = UnsafeRawPointer(q.baseAddress!)
                    let wide = d / 16 * 16
                    for r in 0..<count {
                        let row = base + r * d * 4
                        var acc = SIMD16<Float>()
                        var k = 0
                        while k < wide {
                            let a = row.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self)
                            let b = qp.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self)
                            acc += a * b
                            k += 16
                        }
                        var s = acc.sum()
                        while k < d {
                            s += row.load(fromByteOffset: k * 4, as: Float.self) * q[k]
                            k += 1
                        }
                        o[r] = s
                    }
                }
            }
        }
        return out
    }

    /// The int8 scan: each row widened to Float32 16 components at a time, times the query
    /// pre-scaled by 1/127 (so scores are the same cosines as the Float32 matrix's, to float
    /// rounding).
    private func quantizedScores(_ query: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        let d = dimensions
        let scaled = query.map { $0 / 127 }
        quantized.withUnsafeBufferPointer { m in
            scaled.withUnsafeBufferPointer { q in
                out.withUnsafeMutableBufferPointer { o in
                    guard let mBase = m.baseAddress else { return }
                    let base = UnsafeRawPointer(mBase)
                    for r in 0..<count {
                        o[r] = Self.quantizedRowScore(base + r * d, q, dimensions: d)
                    }
                }
            }
        }
        return out
    }

    /// One int8 row times a query already scaled by 1/127, in Float32: the arithmetic of
    /// every exact int8 score (the full scan's and the rescoring's), so both give the same bits.
    @inline(__always)
    static func quantizedRowScore(_ row: UnsafeRawPointer, _ q: UnsafeBufferPointer<Float>, dimensions d: Int) -> Float {
        let qp = UnsafeRawPointer(q.baseAddress!)
        let wide = d / 16 * 16
        var acc = SIMD16<Float>()
        var k = 0
        while k < wide {
            let a = SIMD16<Float>(row.loadUnaligned(fromByteOffset: k, as: SIMD16<Int8>.self))
            let b = qp.loadUnaligned(fromByteOffset: k * 4, as: SIMD16<Float>.self)
            acc += a * b
            k += 16
        }
        var s = acc.sum()
        while k < d {
            s += Float(row.load(fromByteOffset: k, as: Int8.self)) * q[k]
            k += 1
        }
        return s
    }

    /// Indexes of the `k` best rows, best first; ties go to the lower index. The same hits and
    /// scores as ranking `scores(query)`, whichever path computes them.
    public func top(_ query: [Float], k: Int) -> [(index: Int, score: Float)] {
        precondition(query.count == dimensions)
        guard k > 0, count > 0 else { return [] }
        if !quantized.isEmpty, k < count, let hits = prescreenedTop(query, k: k) { return hits }
        return Self.topK(scores(query), k: k)
    }

    // MARK: - The integer pre-scan

    /// The query as Int16 (`query[i] * scale`, rounded) and that scale, chosen so a row's
    /// Int32 sum cannot overflow: |int8| <= 128, so d x 128 x the largest |Int16| < 2^31.
    /// nil when the query has no finite non-zero component to scale by.
    static func int16Query(_ query: [Float]) -> (values: [Int16], scale: Double, limit: Double)? {
        var largest: Float = 0
        for x in query {
            guard x.isFinite else { return nil }
            largest = max(largest, abs(x))
        }
        let limit = min(32767, (Double(Int32.max) / Double(128 * max(1, query.count))).rounded(.down))
        guard largest > 0, limit >= 1 else { return nil }
        let scale = limit / Double(largest)
        return (query.map { Int16(max(-limit, min(limit, (Double($0) * scale).rounded()))) }, scale, limit)
    }

    /// Σ row[i] x query[i] in Int32: 16 components at a time, int8 and Int16 both widened to
    /// Int32 (LLVM turns the product of two sign-extended 16-bit lanes into `pmaddwd`), then
    /// the components past the last multiple of 16 one by one.
    @inline(__always)
    static func int8DotInt16(_ row: UnsafeRawPointer, _ query: UnsafeRawPointer, dimensions d: Int) -> Int32 {
        let wide = d / 16 * 16
        var acc = SIMD16<Int32>()
        var k = 0
        while k < wide {
            let a = SIMD16<Int32>(truncatingIfNeeded: row.loadUnaligned(fromByteOffset: k, as: SIMD16<Int8>.self))
            let b = SIMD16<Int32>(truncatingIfNeeded: query.loadUnaligned(fromByteOffset: k * 2, as: SIMD16<Int16>.self))
            acc &+= a &* b
            k += 16
        }
        var s = acc.wrappedSum()
        while k < d {
            s &+= Int32(row.load(fromByteOffset: k, as: Int8.self)) &* Int32(query.load(fromByteOffset: k * 2, as: Int16.self))
            k += 1
        }
        return s
    }

    /// The same dot product one component at a time (the reference the SIMD form is tested on).
    static func int8DotInt16Scalar(_ row: [Int8], _ query: [Int16]) -> Int32 {
        zip(row, query).reduce(Int32(0)) { $0 &+ Int32($1.0) &* Int32($1.1) }
    }

    /// The integer score of every row (`int8DotInt16`), into `out` (count elements).
    /// The usual embedding sizes get a loop whose length the compiler knows, which it unrolls:
    /// measured at 128 dimensions x 100k rows, 1.2 ms against 2.4 ms for the same loop with
    /// the length unknown (thread CPU time, release, shared 2-core machine).
    func integerScores(_ query: [Int16], into out: UnsafeMutableBufferPointer<Int32>) {
        let d = dimensions
        quantized.withUnsafeBytes { m in
            query.withUnsafeBytes { q in
                guard let base = m.baseAddress, let qp = q.baseAddress, let o = out.baseAddress else { return }
                switch d {
                case 128: Self.integerScan(base, qp, o, count: count, dimensions: 128)
                case 256: Self.integerScan(base, qp, o, count: count, dimensions: 256)
                case 384: Self.integerScan(base, qp, o, count: count, dimensions: 384)
                case 768: Self.integerScan(base, qp, o, count: count, dimensions: 768)
                case 1024: Self.integerScan(base, qp, o, count: count, dimensions: 1024)
                default: Self.integerScan(base, qp, o, count: count, dimensions: d)
                }
            }
        }
    }

    @inline(__always)
    static func integerScan(_ m: UnsafeRawPointer, _ q: UnsafeRawPointer, _ out: UnsafeMutablePointer<Int32>,
                            count: Int, dimensions d: Int) {
        for r in 0..<count { out[r] = int8DotInt16(m + r * d, q, dimensions: d) }
    }

    /// How far apart, in integer-score units, a row's integer score and its exact Float32 score
    /// (times 127 x scale) can be, doubled (one row's error up, another's down).
    /// - Rounding the query to Int16 moves each product by at most |row[i]| x 0.5: in all at
    ///   most maxRowL1 / 2.
    /// - The Float32 score's own rounding (the query / 127, each product, d additions) is at
    ///   most (d + 20) x 2^-23 (d + 16 additions deep at most) of Σ|row[i] x query[i]| / 127 <= maxRowL1 x largest / 127, which
    ///   is maxRowL1 x (d + 20) x 2^-23 x limit in these units (largest x scale = limit).
    /// Doubled again for safety, plus 2 for the rounding of this bound itself.
    func prescreenSlack(limit: Double) -> Int64 {
        let perRow = Double(maxRowL1) * (0.5 + Double(dimensions + 20) * 0x1p-23 * limit)
        return Int64((4 * perRow).rounded(.up)) + 2
    }

    /// `top` through the integer pre-scan and a Float32 rescoring of its candidates; nil when
    /// the query cannot be scaled (the caller scans exactly).
    func prescreenedTop(_ query: [Float], k: Int) -> [(index: Int, score: Float)]? {
        guard let (q16, _, limit) = Self.int16Query(query) else { return nil }
        let ints = [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            integerScores(q16, into: buffer)
            initialized = count
        }
        let kth = Int64(Self.kthLargest(ints, k: k))
        let floor = kth - prescreenSlack(limit: limit)
        var candidates: [Int] = []
        candidates.reserveCapacity(k * 2)
        for (i, v) in ints.enumerated() where Int64(v) >= floor { candidates.append(i) }
        let scaled = query.map { $0 / 127 }
        let d = dimensions
        var scored: [(index: Int, score: Float)] = []
        scored.reserveCapacity(candidates.count)
        quantized.withUnsafeBytes { m in
            scaled.withUnsafeBufferPointer { q in
                let base = m.baseAddress!
                for i in candidates { scored.append((i, Self.quantizedRowScore(base + i * d, q, dimensions: d))) }
            }
        }
        // topK's order: best score first, the lower index first among equal scores.
        scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
        return Array(scored.prefix(k))
    }

    /// The k-th largest value of `xs` (1 <= k <= xs.count).
    static func kthLargest(_ xs: [Int32], k: Int) -> Int32 {
        var best: [Int32] = []  // descending, at most k
        best.reserveCapacity(k + 1)
        var floor = Int32.min
        for v in xs where best.count < k || v > floor {
            var lo = 0, hi = best.count
            while lo < hi { let mid = (lo + hi) / 2; if best[mid] >= v { lo = mid + 1 } else { hi = mid } }
            best.insert(v, at: lo)
            if best.count > k { best.removeLast() }
            if best.count == k { floor = best[k - 1] }
        }
        return best[best.count - 1]
    }

    /// Largest Σ|component| of a row.
    static func maxRowL1(_ m: [Int8], count: Int, dimensions d: Int) -> Int {
        var best = 0
        m.withUnsafeBufferPointer { b in
            for r in 0..<count {
                var s = 0
                for x in b[(r * d)..<(r * d + d)] { s += x < 0 ? -Int(x) : Int(x) }
                best = max(best, s)
            }
        }
        return best
    }

    static func topK(_ s: [Float], k: Int) -> [(index: Int, score: Float)] {
        guard k > 0 && !s.isEmpty else { return [] }
        // A small sorted buffer: k is tens, n is up to millions.
        var best: [(index: Int, score: Float)] = []
        best.reserveCapacity(k + 1)
        var floor = -Float.infinity
        for (i, v) in s.enumerated() where best.count < k || v > floor {
            var lo = 0, hi = best.count
            while lo < hi { let mid = (lo + hi) / 2; if best[mid].score >= v { lo = mid + 1 } else { hi = mid } }
            best.insert((i, v), at: lo)
            if best.count > k { best.removeLast() }
            if best.count == k { floor = best[k - 1].score }
        }
        return best
    }
}
