// Text encodings of delimited files: detection from the first bytes, cp1252 by table, and a
// streaming UTF-16 -> UTF-8 transcoder. The csv parser works on ASCII-compatible bytes (UTF-8 or
// cp1252); UTF-16 input is transcoded to UTF-8 chunk by chunk before parsing.

public enum TextEncoding: String, Sendable, Hashable, Codable {
    case utf8 = "utf-8"
    /// UTF-8 with a byte-order mark (skipped).
    case utf8BOM = "utf-8-sig"
    case utf16LE = "utf-16le"
    case utf16BE = "utf-16be"
    /// Windows-1252, the fallback when the start of the file is not valid UTF-8.
    case cp1252

    var isUTF16: Bool { self == .utf16LE || self == .utf16BE }
}

enum TextEncodingDetector {
    /// The encoding of a file whose first bytes are `head`, and how many BOM bytes to skip.
    /// `complete` says `head` is the whole file (so a truncated UTF-8 sequence at its end is an error).
    static func detect(_ head: [UInt8], complete: Bool) -> (TextEncoding, bomLength: Int) {
        if head.count >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF { return (.utf8BOM, 3) }
        if head.count >= 2 && head[0] == 0xFF && head[1] == 0xFE { return (.utf16LE, 2) }
        if head.count >= 2 && head[0] == 0xFE && head[1] == 0xFF { return (.utf16BE, 2) }
        if let utf16 = bomlessUTF16(head) { return (utf16, 0) }
        return (isValidUTF8(head, allowTruncatedEnd: !complete) ? .utf8 : .cp1252, 0)
    }

    /// UTF-16 without a BOM, recognised by its NUL pattern: text that is mostly ASCII has a NUL
    /// in every other byte (odd offsets for little-endian, even for big-endian).
    static func bomlessUTF16(_ head: [UInt8]) -> TextEncoding? {
        let pairs = min(head.count, 4096) / 2
        guard pairs >= 2 else { return nil }
        var le = 0, be = 0
        for p in 0..<pairs {
            let a = head[2 * p], b = head[2 * p + 1]
            if a != 0 && b == 0 { le += 1 } else if a == 0 && b != 0 { be += 1 }
        }
        if le * 10 >= pairs * 6 && be * 20 <= pairs { return .utf16LE }
        if be * 10 >= pairs * 6 && le * 20 <= pairs { return .utf16BE }
        return nil
    }

    /// Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). With `allowTruncatedEnd`, an
    /// incomplete sequence in the last three bytes is accepted (the chunk was cut there).
    static func isValidUTF8(_ bytes: [UInt8], allowTruncatedEnd: Bool) -> Bool {
        bytes.withUnsafeBufferPointer { isValidUTF8($0, allowTruncatedEnd: allowTruncatedEnd) }
    }

    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>, allowTruncatedEnd: Bool = false) -> Bool {
        let n = bytes.count
        var i = 0
        while i < n {
            let b = bytes[i]
            if b < 0x80 { i += 1; continue }
            let len: Int
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: len = 2
            case 0xE0: len = 3; lo = 0xA0
            case 0xE1...0xEC, 0xEE, 0xEF: len = 3
            case 0xED: len = 3; hi = 0x9F
            case 0xF0: len = 4; lo = 0x90
            case 0xF1...0xF3: len = 4
            case 0xF4: len = 4; hi = 0x8F
            default: return false
            }
            for k in 1..<len {
                if i + k >= n { return allowTruncatedEnd }
                let c = bytes[i + k]
                if k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF) { return false }
            }
            i += len
        }
        return true
    }
}

enum CP1252 {
    /// Code points of bytes 0x80-0x9F. The five bytes Windows leaves undefined (81 8D 8F 90 9D)
    /// map to the C1 control of the same value, as Windows' own conversion does.
    static let high: [UInt16] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
        0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ]

    static func decode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var scalars = String.UnicodeScalarView()
        scalars.reserveCapacity(bytes.count)
        for b in bytes {
            let v: UInt32 = (b >= 0x80 && b <= 0x9F) ? UInt32(high[Int(b - 0x80)]) : UInt32(b)
            scalars.append(Unicode.Scalar(v)!)
        }
        return String(scalars)
    }
}

/// Streaming UTF-16 -> UTF-8. Keeps an odd trailing byte and an unpaired high surrogate across
/// chunks; unpaired surrogates become U+FFFD.
struct UTF16Transcoder {
    let bigEndian: Bool
    private var pendingByte: UInt8? = nil
    private var pendingHigh: UInt16? = nil

    init(bigEndian: Bool) { self.bigEndian = bigEndian }

    mutating func transcode(_ input: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        var i = 0
        let n = input.count
        func emit(_ v: UInt32, _ out: inout [UInt8]) {
            switch v {
            case 0..<0x80: out.append(UInt8(v))
            case 0x80..<0x800:
                out.append(UInt8(0xC0 | (v >> 6))); out.append(UInt8(0x80 | (v & 0x3F)))
            case 0x800..<0x10000:
                out.append(UInt8(0xE0 | (v >> 12))); out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
                out.append(UInt8(0x80 | (v & 0x3F)))
            default:
                out.append(UInt8(0xF0 | (v >> 18))); out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
                out.append(UInt8(0x80 | ((v >> 6) & 0x3F))); out.append(UInt8(0x80 | (v & 0x3F)))
            }
        }
        while true {
            let a: UInt8, b: UInt8
            if let p = pendingByte {
                guard i < n else { break }
                a = p; b = input[i]; i += 1; pendingByte = nil
            } else {
                guard i + 1 < n else { if i < n { pendingByte = input[i] }; break }
                a = input[i]; b = input[i + 1]; i += 2
            }
            let unit = bigEndian ? (UInt16(a) << 8 | UInt16(b)) : (UInt16(b) << 8 | UInt16(a))
            if let high = pendingHigh {
                pendingHigh = nil
                if unit >= 0xDC00 && unit <= 0xDFFF {
                    emit(0x10000 + ((UInt32(high) - 0xD800) << 10) + (UInt32(unit) - 0xDC00), &out)
                    continue
                }
                emit(0xFFFD, &out)
            }
            if unit >= 0xD800 && unit <= 0xDBFF { pendingHigh = unit; continue }
            if unit >= 0xDC00 && unit <= 0xDFFF { emit(0xFFFD, &out); continue }
            emit(UInt32(unit), &out)
        }
    }

    /// End of input: anything left over was malformed.
    mutating func finish(into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        if pendingHigh != nil || pendingByte != nil { out.append(contentsOf: [0xEF, 0xBF, 0xBD]) }
        pendingHigh = nil; pendingByte = nil
    }
}
