#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// A streaming XML byte scanner, hand-written because it was measured (stack.md, release, 50 MB
// sheet XML): ~480 MB/s against 59-94 MB/s for libxml2's SAX2 push parser and 17-24 MB/s for
// Foundation's XMLParser. It tokenizes; it does not validate. It is fed chunks (straight from the
// inflater), keeps only an unfinished token between chunks, and hands tags and text to a
// handler. A DOCTYPE or an entity declaration is refused, so nothing is ever expanded or fetched.

/// A start tag as the scanner found it. Its buffers are only valid during the handler call.
public struct XMLTag {
    /// The qualified name, e.g. `x:row` or `row`.
    public let name: UnsafeRawBufferPointer
    /// The raw bytes between the name and `>` (or `/>`).
    let attributes: UnsafeRawBufferPointer
    public let selfClosing: Bool

    /// The name without its namespace prefix.
    public var localName: UnsafeRawBufferPointer { XMLTag.local(name) }

    static func local(_ q: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var i = q.count - 1
        while i >= 0 { if q[i] == 0x3A { return UnsafeRawBufferPointer(rebasing: q[(i + 1)...]) }; i -= 1 }
        return q
    }

    /// Whether the local name is `s` (ASCII).
    @inline(__always)
    public func isNamed(_ s: StaticString) -> Bool { XMLTag.equal(localName, s) }

    @inline(__always)
    static func equal(_ a: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        guard a.count == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        for i in 0..<a.count where a[i] != p[i] { return false }
        return true
    }

    /// Calls `body(qualifiedName, rawValue)` for each attribute; values are not entity-decoded.
    public func forEachAttribute(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) rethrows {
        let a = attributes
        let n = a.count
        var i = 0
        while i < n {
            while i < n && XMLScanner.isSpace(a[i]) { i += 1 }
            let nameStart = i
            while i < n && a[i] != 0x3D /* = */ && !XMLScanner.isSpace(a[i]) { i += 1 }
            let nameEnd = i
            while i < n && XMLScanner.isSpace(a[i]) { i += 1 }
            guard i < n, a[i] == 0x3D else { return }
            i += 1
            while i < n && XMLScanner.isSpace(a[i]) { i += 1 }
            guard i < n, a[i] == 0x22 || a[i] == 0x27 else { return }
            let quote = a[i]
            i += 1
            let vStart = i
            while i < n && a[i] != quote { i += 1 }
            guard i < n else { return }
            try body(UnsafeRawBufferPointer(rebasing: a[nameStart..<nameEnd]), UnsafeRawBufferPointer(rebasing: a[vStart..<i]))
            i += 1
        }
    }

    /// The raw value of the attribute whose local name is `local` (any prefix), if present.
    public func attribute(_ local: StaticString) -> UnsafeRawBufferPointer? {
        var found: UnsafeRawBufferPointer? = nil
        forEachAttribute { name, value in
            if found == nil && XMLTag.equal(XMLTag.local(name), local) { found = value }
        }
        return found
    }

    /// The attribute's value, entity-decoded, as a String.
    public func string(_ local: StaticString) throws -> String? {
        guard let raw = attribute(local) else { return nil }
        return try XMLText.string(raw)
    }
}

/// What a scan hands over. Text is raw (entity references undecoded) unless `cdata`.
public protocol XMLScanHandler {
    mutating func start(_ tag: XMLTag) throws
    mutating func end(_ localName: UnsafeRawBufferPointer) throws
    mutating func text(_ raw: UnsafeRawBufferPointer, cdata: Bool) throws
}

/// Internal signal: the handler wants no more input.
struct XMLStop: Error {}

public struct XMLScanner {
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    private var count = 0
    /// Longest unfinished token tolerated between chunks (a 100 KB cell is fine; a
    /// never-closing tag in a huge file is not).
    public var maxTokenBytes = 64 << 20
    /// Elements open now, and whether a root element was seen: at `finish`, a part with no
    /// element ("hello world" as a sheet) is not XML, and one whose root is still open was cut
    /// short. Both are `.corruptWorkbook`, so a truncated part never reads as a complete one.
    private var depth = 0
    private var sawRoot = false

    public init() {
        capacity = 64 << 10
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    /// Frees the buffer; call once when done (a struct cannot deinit).
    public mutating func release() {
        buffer.deallocate()
        capacity = 0
        count = 0
    }

    @inline(__always)
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    /// Scans a whole document held in memory.
    public static func scan<H: XMLScanHandler>(_ bytes: [UInt8], _ handler: inout H) throws {
        var s = XMLScanner()
        defer { s.release() }
        try bytes.withUnsafeBytes { try s.feed($0, &handler) }
        try s.finish(&handler)
    }

    /// Feeds the next chunk; complete tokens go to the handler, an unfinished one waits.
    public mutating func feed<H: XMLScanHandler>(_ chunk: UnsafeRawBufferPointer, _ handler: inout H) throws {
        if count + chunk.count > capacity {
            var newCap = capacity
            while newCap < count + chunk.count { newCap *= 2 }
            guard newCap - chunk.count <= maxTokenBytes + (64 << 20) else {
                throw WorkbookError.tooLarge("an XML token longer than \(maxTokenBytes) bytes")
            }
            let nb = UnsafeMutableRawPointer.allocate(byteCount: newCap, alignment: 16)
            nb.copyMemory(from: buffer, byteCount: count)
            buffer.deallocate()
            buffer = nb
            capacity = newCap
        }
        if let base = chunk.baseAddress, chunk.count > 0 {
            (buffer + count).copyMemory(from: base, byteCount: chunk.count)
        }
        count += chunk.count
        let used = try scan(UnsafeRawBufferPointer(start: buffer, count: count), final: false, &handler)
        if used > 0 {
            let rest = count - used
            if rest > 0 { buffer.copyMemory(from: buffer + used, byteCount: rest) }
            count = rest
        }
        if count > maxTokenBytes { throw WorkbookError.tooLarge("an XML token longer than \(maxTokenBytes) bytes") }
    }

    /// Ends the input: trailing text is handed over; an unfinished tag is a corrupt part.
    public mutating func finish<H: XMLScanHandler>(_ handler: inout H) throws {
        _ = try scan(UnsafeRawBufferPointer(start: buffer, count: count), final: true, &handler)
        count = 0
        if !sawRoot { throw WorkbookError.corrupt("not XML: the part has no element") }
        if depth > 0 { throw WorkbookError.corrupt("the part is truncated: it ends with \(depth) element(s) still open") }
    }

    /// Text outside the root element must be whitespace (or a byte order mark).
    private func checkOutsideText(_ t: UnsafeRawBufferPointer) throws {
        for c in t where !(XMLScanner.isSpace(c) || c == 0xEF || c == 0xBB || c == 0xBF) {
            throw WorkbookError.corrupt(sawRoot ? "malformed XML: text after the root element" : "not XML: the part starts with text, not an element")
        }
    }

    /// Returns how many bytes were consumed.
    private mutating func scan<H: XMLScanHandler>(_ b: UnsafeRawBufferPointer, final: Bool, _ h: inout H) throws -> Int {
        let n = b.count
        guard n > 0, let base = b.baseAddress else { return 0 }
        var i = 0
        while i < n {
            if b[i] != 0x3C /* < */ {
                guard let lt = memchr(base + i, 0x3C, n - i) else {
                    if final {
                        if depth == 0 { try checkOutsideText(UnsafeRawBufferPointer(rebasing: b[i..<n])) }
                        try h.text(UnsafeRawBufferPointer(rebasing: b[i..<n]), cdata: false)
                        return n
                    }
                    // Outside the root, text is checked as it comes (it cannot grow unseen).
                    if depth == 0 { try checkOutsideText(UnsafeRawBufferPointer(rebasing: b[i..<n])); return n }
                    return i
                }
                let j = UnsafeRawPointer(lt) - base
                if depth == 0 { try checkOutsideText(UnsafeRawBufferPointer(rebasing: b[i..<j])) }
                try h.text(UnsafeRawBufferPointer(rebasing: b[i..<j]), cdata: false)
                i = j
                continue
            }
            guard i + 1 < n else { break }
            let c = b[i + 1]
            if c == 0x2F /* / */ {
                guard let gt = memchr(base + i, 0x3E, n - i) else { break }
                let j = UnsafeRawPointer(gt) - base
                var e = j
                while e > i + 2 && XMLScanner.isSpace(b[e - 1]) { e -= 1 }
                depth -= 1
                if depth < 0 { throw WorkbookError.corrupt("malformed XML: an end tag with no start tag") }
                try h.end(XMLTag.local(UnsafeRawBufferPointer(rebasing: b[(i + 2)..<e])))
                i = j + 1
            } else if c == 0x3F /* ? */ {
                guard let j = XMLScanner.find(b, from: i + 2, "?>") else { break }
                i = j + 2
            } else if c == 0x21 /* ! */ {
                if XMLScanner.hasPrefix(b, at: i, "<!--") {
                    guard let j = XMLScanner.find(b, from: i + 4, "-->") else { break }
                    i = j + 3
                } else if XMLScanner.hasPrefix(b, at: i, "<![CDATA[") {
                    guard let j = XMLScanner.find(b, from: i + 9, "]]>") else { break }
                    try h.text(UnsafeRawBufferPointer(rebasing: b[(i + 9)..<j]), cdata: true)
                    i = j + 3
                } else if n - i < 9 && !final {
                    break  // not enough bytes yet to tell what this is
                } else {
                    // <!DOCTYPE, <!ENTITY, <!ELEMENT...: never in OOXML, and the door to entity
                    // expansion attacks. Refuse rather than skip.
                    throw WorkbookError.corrupt("XML with a DOCTYPE or entity declaration is refused")
                }
            } else {
                // Start tag: find the closing '>' outside quoted attribute values.
                var k = i + 1
                var quote: UInt8 = 0
                var closed = -1
                while k < n {
                    let d = b[k]
                    if quote != 0 {
                        if d == quote { quote = 0 }
                    } else if d == 0x22 || d == 0x27 {
                        quote = d
                    } else if d == 0x3E {
                        closed = k
                        break
                    }
                    k += 1
                }
                guard closed >= 0 else { break }
                var nameEnd = i + 1
                while nameEnd < closed && !XMLScanner.isSpace(b[nameEnd]) && b[nameEnd] != 0x2F && b[nameEnd] != 0x3E {
                    nameEnd += 1
                }
                let selfClosing = b[closed - 1] == 0x2F && closed - 1 >= nameEnd
                let attrEnd = selfClosing ? closed - 1 : closed
                let name = UnsafeRawBufferPointer(rebasing: b[(i + 1)..<nameEnd])
                guard name.count > 0 else { throw WorkbookError.corrupt("malformed XML: empty tag name") }
                let tag = XMLTag(name: name, attributes: UnsafeRawBufferPointer(rebasing: b[nameEnd..<attrEnd]),
                                 selfClosing: selfClosing)
                if depth == 0 && sawRoot { throw WorkbookError.corrupt("malformed XML: a second root element") }
                sawRoot = true
                if !selfClosing { depth += 1 }
                try h.start(tag)
                if selfClosing { try h.end(tag.localName) }
                i = closed + 1
            }
        }
        if final && i < n { throw WorkbookError.corrupt("malformed XML: the part ends inside a tag") }
        return i
    }

    private static func hasPrefix(_ b: UnsafeRawBufferPointer, at i: Int, _ s: StaticString) -> Bool {
        let m = s.utf8CodeUnitCount
        guard i + m <= b.count else { return false }
        let p = s.utf8Start
        for k in 0..<m where b[i + k] != p[k] { return false }
        return true
    }

    private static func find(_ b: UnsafeRawBufferPointer, from: Int, _ s: StaticString) -> Int? {
        let first = s.utf8Start[0]
        var i = from
        let base = b.baseAddress!
        while i < b.count {
            guard let hit = memchr(base + i, Int32(first), b.count - i) else { return nil }
            let j = UnsafeRawPointer(hit) - base
            if hasPrefix(b, at: j, s) { return j }
            if j + s.utf8CodeUnitCount > b.count { return nil }
            i = j + 1
        }
        return nil
    }
}

/// Text and attribute value decoding: the five predefined entities and numeric character
/// references. Any other named entity is an error (nothing declares entities in OOXML).
public enum XMLText {
    public static func decode(_ raw: UnsafeRawBufferPointer, into out: inout [UInt8]) throws {
        guard let base = raw.baseAddress, raw.count > 0 else { return }
        // Fast path: nothing to decode. XML end-of-line handling turns CR LF and a lone CR
        // into LF, so a CR also takes the slow path.
        guard memchr(base, 0x26, raw.count) != nil || memchr(base, 0x0D, raw.count) != nil else {
            out.append(contentsOf: raw)
            return
        }
        let n = raw.count
        var i = 0
        while i < n {
            let c = raw[i]
            if c == 0x0D {
                out.append(0x0A)
                i += (i + 1 < n && raw[i + 1] == 0x0A) ? 2 : 1
                continue
            }
            if c != 0x26 { out.append(c); i += 1; continue }
            var j = i + 1
            while j < n && raw[j] != 0x3B && j - i < 12 { j += 1 }
            guard j < n, raw[j] == 0x3B else { throw WorkbookError.corrupt("malformed XML: bad entity reference") }
            let name = UnsafeRawBufferPointer(rebasing: raw[(i + 1)..<j])
            if XMLTag.equal(name, "amp") { out.append(0x26) }
            else if XMLTag.equal(name, "lt") { out.append(0x3C) }
            else if XMLTag.equal(name, "gt") { out.append(0x3E) }
            else if XMLTag.equal(name, "quot") { out.append(0x22) }
            else if XMLTag.equal(name, "apos") { out.append(0x27) }
            else if name.count >= 2 && name[0] == 0x23 /* # */ {
                var v: UInt32 = 0
                var ok = true
                if name[1] | 0x20 == 0x78 /* x */ {
                    ok = name.count > 2
                    for d in name[2...] {
                        guard let h = hexValue(d) else { ok = false; break }
                        v = v &* 16 &+ UInt32(h)
                    }
                } else {
                    for d in name[1...] {
                        guard d >= 0x30 && d <= 0x39 else { ok = false; break }
                        v = v &* 10 &+ UInt32(d - 0x30)
                    }
                }
                guard ok, v <= 0x10FFFF, let scalar = Unicode.Scalar(v) else {
                    throw WorkbookError.corrupt("malformed XML: bad character reference")
                }
                appendUTF8(scalar, &out)
            } else {
                throw WorkbookError.corrupt("XML refers to an undeclared entity (&\(String(decoding: name, as: UTF8.self));)")
            }
            i = j + 1
        }
    }

    public static func string(_ raw: UnsafeRawBufferPointer) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        try decode(raw, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    static func hexValue(_ d: UInt8) -> UInt8? {
        switch d {
        case 0x30...0x39: return d - 0x30
        case 0x41...0x46: return d - 0x41 + 10
        case 0x61...0x66: return d - 0x61 + 10
        default: return nil
        }
    }

    static func appendUTF8(_ s: Unicode.Scalar, _ out: inout [UInt8]) {
        let v = s.value
        if v < 0x80 { out.append(UInt8(v)) }
        else if v < 0x800 { out.append(UInt8(0xC0 | (v >> 6))); out.append(UInt8(0x80 | (v & 0x3F))) }
        else if v < 0x10000 {
            out.append(UInt8(0xE0 | (v >> 12))); out.append(UInt8(0x80 | ((v >> 6) & 0x3F))); out.append(UInt8(0x80 | (v & 0x3F)))
        } else {
            out.append(UInt8(0xF0 | (v >> 18))); out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F))); out.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// Undoes OOXML's `_xHHHH_` escapes (ECMA-376 22.9.2.19): `_x000D_` is a carriage return,
    /// `_x005F_` a literal underscore; surrogate pairs arrive as two escapes.
    public static func unescapeOOXML(_ bytes: inout [UInt8]) {
        guard bytes.count >= 7, bytes.contains(0x5F) else { return }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        let n = bytes.count
        var i = 0
        func code(at k: Int) -> UInt32? {
            guard k + 7 <= n, bytes[k] == 0x5F, bytes[k + 1] == 0x78, bytes[k + 6] == 0x5F else { return nil }
            var v: UInt32 = 0
            for d in bytes[(k + 2)..<(k + 6)] {
                guard let h = hexValue(d) else { return nil }
                v = v << 4 | UInt32(h)
            }
            return v
        }
        var changed = false
        while i < n {
            if bytes[i] == 0x5F, let v = code(at: i) {
                if v >= 0xD800 && v < 0xDC00, let lo = code(at: i + 7), lo >= 0xDC00 && lo < 0xE000,
                   let s = Unicode.Scalar(0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)) {
                    appendUTF8(s, &out); i += 14; changed = true; continue
                }
                if let s = Unicode.Scalar(v) {
                    appendUTF8(s, &out); i += 7; changed = true; continue
                }
            }
            out.append(bytes[i])
            i += 1
        }
        if changed { bytes = out }
    }
}
