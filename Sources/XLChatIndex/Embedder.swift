// Embedders turn chunk texts into vectors. The index stores them as Float32 BLOBs and scans
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
/// components scaled by 127), and widens them to Float32 inside the scan: the scan is bound by
/// memory, and a quarter of the bytes made it ~3x faster (`xlchat-bench index`, 100,022 x 128,
/// release, shared 2-core machine: Float32 matrix 7.85 ms per query, search p50 10.0 ms).
public final class VectorMatrix: Sendable {
    public let count: Int
    public let dimensions: Int
    let storage: [Float]
    /// Row-major int8 components (value = component * 127), when built from stored vectors.
    let quantized: [Int8]

    public init(count: Int, dimensions: Int, storage: [Float]) {
        precondition(storage.count == count * dimensions)
        self.count = count; self.dimensions = dimensions; self.storage = storage; self.quantized = []
    }

    /// Rows of int8 components as the search file stores them (component = value / 127).
    public init(count: Int, dimensions: Int, quantized: [Int8]) {
        precondition(quantized.count == count * dimensions)
        self.count = count; self.dimensions = dimensions; self.storage = []; self.quantized = quantized
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
                    let qp = UnsafeRawPointer(q.baseAddress!)
                    let wide = d / 16 * 16
                    for r in 0..<count {
                        let row = base + r * d
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
                        o[r] = s
                    }
                }
            }
        }
        return out
    }

    /// Indexes of the `k` best rows, best first.
    public func top(_ query: [Float], k: Int) -> [(index: Int, score: Float)] {
        let s = scores(query)
        return Self.topK(s, k: k)
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
