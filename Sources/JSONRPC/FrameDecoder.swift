#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
/// How messages are delimited on a connection, decided by its first byte.
public enum Framing: Sendable, Hashable {
    /// The LSP base protocol: `Content-Length: N\r\n\r\n` then N bytes of JSON.
    case contentLength
    /// One JSON message per line (MCP clients, shell scripts). Chosen when the first byte is `{` or `[`.
    case newlineDelimited

    /// The bytes that carry `body` in this framing.
    public func frame(_ body: [UInt8]) -> [UInt8] {
        switch self {
        case .contentLength:
            var out = Array("Content-Length: \(body.count)\r\n\r\n".utf8)
            out.reserveCapacity(out.count + body.count)
            out.append(contentsOf: body)
            return out
        case .newlineDelimited:
            var out = body
            out.append(UInt8(ascii: "\n"))
            return out
        }
    }
}

/// Splits an incoming byte stream into message bodies. It never fails: a malformed stretch
/// (bad header, missing or non-numeric Content-Length, oversized frame, trailing junk) comes
/// out as one `.malformed` item and decoding resumes at the next frame, so the connection
/// stays usable. A frame over the limit is skipped without being buffered.
public struct FrameDecoder: Sendable {
    public enum Item: Sendable, Equatable {
        case message([UInt8])
        case malformed(String)
    }

    public static let defaultMaxFrameBytes = 64 << 20
    static let maxHeaderBytes = 8 << 10

    public private(set) var framing: Framing?
    public let maxFrameBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes of an oversized body still to drop.
    private var discarding = 0
    /// Dropping an oversized NDJSON line up to its newline.
    private var discardingLine = false
    /// Inside a stretch of junk already reported once.
    private var inJunk = false
    /// NDJSON: bytes from `start` up to here hold no newline (so a long line is scanned once,
    /// not again on every read: one 50 MB line took 19 s before, issue 14 item 7).
    private var lineScanned = 0
    /// Content-Length: the body being waited for has been searched for an embedded header up to here.
    private var bodyScanned = 0

    public init(maxFrameBytes: Int = FrameDecoder.defaultMaxFrameBytes, framing: Framing? = nil) {
        self.maxFrameBytes = maxFrameBytes
        self.framing = framing
    }

    private var limitText: String {
        maxFrameBytes >= 1 << 20 && maxFrameBytes % (1 << 20) == 0 ? "\(maxFrameBytes >> 20) MiB" : "\(maxFrameBytes)-byte"
    }

    public var bufferedByteCount: Int { buffer.count - start }

    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        var slice = bytes[...]
        if discarding > 0 {
            let n = min(discarding, slice.count)
            discarding -= n
            slice = slice.dropFirst(n)
        }
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            lineScanned = 0; bodyScanned = 0
            start = 0
        } else if start > 65536 && start * 2 > buffer.count {
            buffer.removeSubrange(0..<start)
            lineScanned = max(0, lineScanned - start)
            bodyScanned = max(0, bodyScanned - start)
            start = 0
        }
        buffer.append(contentsOf: slice)
    }

    /// The next complete item, or nil when more bytes are needed.
    public mutating func next() -> Item? {
        if discarding > 0 { return nil }
        if framing == nil {
            guard let first = firstNonWhitespace() else { return nil }
            framing = (first == UInt8(ascii: "{") || first == UInt8(ascii: "[")) ? .newlineDelimited : .contentLength
        }
        switch framing! {
        case .newlineDelimited: return nextLine()
        case .contentLength: return nextContentLengthFrame()
        }
    }

    /// At end of input: what is left over, if anything (an incomplete frame is malformed).
    public mutating func finish() -> Item? {
        if discarding > 0 { discarding = 0; return nil }
        guard start < buffer.count else { return nil }
        let rest = Array(buffer[start...])
        start = buffer.count
        if rest.allSatisfy(Self.isWhitespace) { return nil }
        if framing == .newlineDelimited && !discardingLine { return .message(rest) }
        return .malformed("incomplete frame at end of input (\(rest.count) bytes)")
    }

    private static func isWhitespace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09
    }

    private mutating func firstNonWhitespace() -> UInt8? {
        while start < buffer.count && Self.isWhitespace(buffer[start]) { start += 1 }
        return start < buffer.count ? buffer[start] : nil
    }

    // MARK: newline-delimited

    private mutating func nextLine() -> Item? {
        while true {
            let from = max(start, lineScanned)
            let found: Int? = buffer.withUnsafeBufferPointer { b in
                guard from < b.count, let base = b.baseAddress,
                      let p = memchr(base + from, 0x0A, b.count - from) else { return nil }
                return base.distance(to: p.assumingMemoryBound(to: UInt8.self))
            }
            guard let nl = found else {
                lineScanned = buffer.count
                if bufferedByteCount > maxFrameBytes {
                    // Drop what we have and everything up to the next newline.
                    start = buffer.count
                    if !discardingLine {
                        discardingLine = true
                        return .malformed("message exceeds the \(limitText) limit")
                    }
                }
                return nil
            }
            var end = nl
            if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let line = Array(buffer[start..<end])
            start = nl + 1
            if discardingLine { discardingLine = false; continue }
            if line.allSatisfy(Self.isWhitespace) { continue }
            if line.count > maxFrameBytes { return .malformed("message exceeds the \(limitText) limit") }
            return .message(line)
        }
    }

    // MARK: Content-Length

    private static let headerName = Array("content-length".utf8)

    private mutating func nextContentLengthFrame() -> Item? {
        while true {
            // Skip blank lines between frames.
            while start < buffer.count && (buffer[start] == 0x0D || buffer[start] == 0x0A) { start += 1 }
            guard start < buffer.count else { return nil }
            if !startsWithHeader(at: start) {
                // Junk where a header should start: report it once, then resynchronise on the next header.
                let report = !inJunk
                inJunk = true
                if let next = findHeader(from: start + 1) {
                    start = next
                } else {
                    // Keep a tail that could be the start of a header split across reads.
                    start = max(start + 1, buffer.count - (Self.headerName.count - 1))
                    return report ? .malformed("expected a 'Content-Length:' header") : nil
                }
                if report { return .malformed("expected a 'Content-Length:' header") }
                continue
            }
            guard let headerEnd = findHeaderEnd(from: start) else {
                if bufferedByteCount > Self.maxHeaderBytes {
                    start += 1
                    inJunk = false
                    return .malformed("frame header longer than \(Self.maxHeaderBytes) bytes")
                }
                return nil
            }
            let headerText = String(decoding: buffer[start..<headerEnd.headerStop], as: UTF8.self)
            let bodyStart = headerEnd.bodyStart
            var length: Int? = nil
            var lengthText: String? = nil
            for line in headerText.split(whereSeparator: \.isNewline) {
                guard let colon = line.firstIndex(of: ":") else { continue }
                if line[..<colon].trimmingCharactersInASCIIWhitespace().lowercased() == "content-length" {
                    let v = line[line.index(after: colon)...].trimmingCharactersInASCIIWhitespace()
                    lengthText = String(v)
                    length = Int(v)
                }
            }
            inJunk = false
            guard let length, length >= 0 else {
                start = bodyStart
                inJunk = true  // whatever body follows is junk; don't report it again
                if let lengthText {
                    return .malformed("Content-Length is not a number: '\(lengthText)'")
                }
                return .malformed("missing Content-Length header")
            }
            if length > maxFrameBytes {
                let available = buffer.count - bodyStart
                if available >= length {
                    start = bodyStart + length
                } else {
                    discarding = length - available
                    start = buffer.count
                }
                return .malformed("frame of \(length) bytes exceeds the \(limitText) limit")
            }
            // A Content-Length larger than the body swallows the next frame's header. Valid JSON can
            // never contain a raw header line (a raw line break inside a string is invalid JSON), so
            // a complete `Content-Length: N` line inside the body ends the body there and decoding
            // resumes at that header, as soon as that line has arrived: without waiting for the
            // announced length (`Content-Length: 400` with a 58-byte body then a frame), and also
            // right at the body's start (`Content-Length: 60` with no body then a frame). Each byte
            // is searched once (`bodyScanned`), however the body arrives.
            let available = min(buffer.count, bodyStart + length)
            var searchFrom = max(bodyStart, bodyScanned)
            var embeddedAt: Int? = nil
            var resumeAt = max(bodyStart, available - Self.headerName.count + 1)
            while let embedded = findHeader(from: searchFrom, before: available) {
                if isCompleteHeaderLine(at: embedded) { embeddedAt = embedded; break }
                // Its line has not fully arrived: look again from here when more bytes come.
                if lineCouldStillComplete(at: embedded) { resumeAt = embedded; break }
                searchFrom = embedded + 1
            }
            if let embedded = embeddedAt {
                bodyScanned = 0
                start = embedded
                if embedded == bodyStart {
                    return .malformed("frame announced \(length) bytes but the next header began right after its header")
                }
                return .message(Array(buffer[bodyStart..<embedded]))
            }
            guard buffer.count - bodyStart >= length else {
                bodyScanned = resumeAt
                return nil
            }
            bodyScanned = 0
            let body = Array(buffer[bodyStart..<(bodyStart + length)])
            start = bodyStart + length
            return .message(body)
        }
    }

    private func startsWithHeader(at i: Int) -> Bool {
        // Any "Name: value" header line may come first (Content-Type is allowed before Content-Length).
        var j = i
        while j < buffer.count {
            let b = buffer[j]
            if b == UInt8(ascii: ":") { return j > i }
            let isToken = (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: "-")
            if !isToken { return false }
            j += 1
            if j - i > 64 { return false }
        }
        // Not enough bytes yet to tell: treat a token prefix as a header start.
        return true
    }

    /// The offset of the next `Content-Length` at a line start (or at `from`), case-insensitively.
    private func findHeader(from: Int, before limit: Int? = nil) -> Int? {
        let name = Self.headerName
        let end = min(limit ?? buffer.count, buffer.count) - name.count
        guard from <= end else { return nil }
        var i = from
        while i <= end {
            if buffer[i] | 0x20 == UInt8(ascii: "c") {
                var k = 0
                while k < name.count && (buffer[i + k] | 0x20) == name[k] { k += 1 }
                if k == name.count { return i }
            }
            i += 1
        }
        return nil
    }

    /// `Content-Length: 123` followed by a line break: something no valid JSON text contains.
    private func isCompleteHeaderLine(at i: Int) -> Bool {
        var j = i + Self.headerName.count
        while j < buffer.count && buffer[j] == 0x20 { j += 1 }
        guard j < buffer.count, buffer[j] == UInt8(ascii: ":") else { return false }
        j += 1
        while j < buffer.count && buffer[j] == 0x20 { j += 1 }
        let digitsStart = j
        while j < buffer.count && buffer[j] >= 0x30 && buffer[j] <= 0x39 { j += 1 }
        guard j > digitsStart, j < buffer.count else { return false }
        return buffer[j] == 0x0D || buffer[j] == 0x0A
    }

    private static func isLineBreak(_ b: UInt8) -> Bool { b == 0x0A || b == 0x0D }

    /// A `Content-Length` whose line has not fully arrived yet (so it may still prove a header).
    private func lineCouldStillComplete(at i: Int) -> Bool {
        var j = i + Self.headerName.count
        while j < buffer.count && (buffer[j] == 0x20 || buffer[j] == UInt8(ascii: ":") || (buffer[j] >= 0x30 && buffer[j] <= 0x39)) { j += 1 }
        return j == buffer.count
    }

    private func findHeaderEnd(from: Int) -> (headerStop: Int, bodyStart: Int)? {
        var i = from
        let limit = min(buffer.count, from + Self.maxHeaderBytes + 4)
        while i < limit {
            if buffer[i] == 0x0A {
                // "\n\n" or "\n\r\n" ends the header block.
                if i + 1 < buffer.count && buffer[i + 1] == 0x0A { return (i, i + 2) }
                if i + 2 < buffer.count && buffer[i + 1] == 0x0D && buffer[i + 2] == 0x0A { return (i, i + 3) }
            }
            i += 1
        }
        return nil
    }
}

extension StringProtocol {
    func trimmingCharactersInASCIIWhitespace() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
