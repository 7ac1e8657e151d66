// The small parts of an OOXML spreadsheet package: content types, relationships, the workbook,
// styles, shared strings and tables. Each is scanned with `XMLScanner`; none is kept as a tree.

/// A handler for small parts: tracks the open elements' local names and forwards events.
struct PartHandler: XMLScanHandler {
    /// Local names of the open elements, outermost first.
    var path: [String] = []
    var onStart: (XMLTag, [String]) throws -> Void = { _, _ in }
    var onEnd: (String, [String]) throws -> Void = { _, _ in }
    var onText: (UnsafeRawBufferPointer, Bool, [String]) throws -> Void = { _, _, _ in }

    mutating func start(_ tag: XMLTag) throws {
        try onStart(tag, path)
        path.append(String(decoding: tag.localName, as: UTF8.self))
    }
    mutating func end(_ localName: UnsafeRawBufferPointer) throws {
        let name = String(decoding: localName, as: UTF8.self)
        guard let last = path.popLast(), last == name else {
            throw WorkbookError.corrupt("malformed XML: unexpected </\(name)>")
        }
        try onEnd(name, path)
    }
    mutating func text(_ raw: UnsafeRawBufferPointer, cdata: Bool) throws {
        try onText(raw, cdata, path)
    }

    static func scan(_ bytes: [UInt8], _ configure: (inout PartHandler) -> Void) throws {
        var h = PartHandler()
        configure(&h)
        try XMLScanner.scan(bytes, &h)
    }
}

struct Relationship {
    var id: String
    var type: String
    /// The resolved part name (no leading `/`), or the raw target when external.
    var target: String
    var external: Bool
    /// The last path component of the type, e.g. `worksheet`, `officeDocument`.
    var kind: Substring { type.split(separator: "/").last ?? "" }
}

enum OOXMLParts {
    /// `xl/_rels/workbook.xml.rels` for `xl/workbook.xml`.
    static func relsPath(for part: String) -> String {
        if let slash = part.lastIndex(of: "/") {
            return String(part[..<slash]) + "/_rels/" + String(part[part.index(after: slash)...]) + ".rels"
        }
        return "_rels/" + part + ".rels"
    }

    /// Resolves a relationship target against the source part's folder.
    static func resolve(_ target: String, from source: String) -> String {
        let t = target.replacingOccurrences(of: "\\", with: "/")
        var parts: [Substring]
        if t.hasPrefix("/") {
            parts = []
        } else {
            parts = source.split(separator: "/", omittingEmptySubsequences: true)
            if !parts.isEmpty { parts.removeLast() }
        }
        for p in t.split(separator: "/", omittingEmptySubsequences: true) {
            if p == "." { continue }
            if p == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(p)
        }
        return parts.joined(separator: "/")
    }

    static func relationships(_ archive: ZipArchive, of part: String) throws -> [Relationship] {
        guard let bytes = try archive.read(named: relsPath(for: part)) else { return [] }
        var rels: [Relationship] = []
        try PartHandler.scan(bytes) { h in
            h.onStart = { tag, _ in
                guard tag.isNamed("Relationship") else { return }
                let id = try tag.string("Id") ?? ""
                let type = try tag.string("Type") ?? ""
                let target = try tag.string("Target") ?? ""
                let external = (try tag.string("TargetMode"))?.lowercased() == "external"
                rels.append(Relationship(id: id, type: type, target: external ? target : resolve(target, from: part),
                                         external: external))
            }
        }
        return rels
    }

    /// Content types: part name (lower-cased, no leading `/`) -> type, and extension defaults.
    static func contentTypes(_ archive: ZipArchive) throws -> (overrides: [String: String], defaults: [String: String]) {
        guard let bytes = try archive.read(named: "[Content_Types].xml") else { return ([:], [:]) }
        var overrides: [String: String] = [:], defaults: [String: String] = [:]
        try PartHandler.scan(bytes) { h in
            h.onStart = { tag, _ in
                if tag.isNamed("Override"), let name = try tag.string("PartName"), let type = try tag.string("ContentType") {
                    overrides[ZipArchive.key(name)] = type
                } else if tag.isNamed("Default"), let ext = try tag.string("Extension"), let type = try tag.string("ContentType") {
                    defaults[ext.lowercased()] = type
                }
            }
        }
        return (overrides, defaults)
    }

    static func bool(_ s: String?) -> Bool {
        guard let s else { return false }
        return s == "1" || s.lowercased() == "true"
    }

    /// cellXfs index -> temporal kind of its number format.
    /// The styles part's custom number formats (id -> code) and each cellXfs style's format id.
    private static func styleFormats(_ bytes: [UInt8]) throws -> (custom: [Int: String], xfFormats: [Int]) {
        var custom: [Int: String] = [:]
        var xfFormats: [Int] = []
        try PartHandler.scan(bytes) { h in
            h.onStart = { tag, path in
                if tag.isNamed("numFmt"), path.last == "numFmts" {
                    if let id = try tag.string("numFmtId").flatMap({ Int($0) }) {
                        custom[id] = try tag.string("formatCode") ?? ""
                    }
                } else if tag.isNamed("xf"), path.last == "cellXfs" {
                    xfFormats.append(try tag.string("numFmtId").flatMap { Int($0) } ?? 0)
                }
            }
        }
        return (custom, xfFormats)
    }

    /// Per cellXfs style, its temporal kind and the currency its number format shows, from one
    /// scan of the styles part.
    static func styleKindsAndCurrencies(_ bytes: [UInt8]) throws -> (kinds: [TemporalKind?], currencies: [UInt8]) {
        let formats = try styleFormats(bytes)
        return (kinds(formats), currencies(formats))
    }

    /// Per cellXfs style, the currency its number format shows (`Currency` key + 1; 0 for none);
    /// empty when no style shows one.
    private static func currencies(_ formats: (custom: [Int: String], xfFormats: [Int])) -> [UInt8] {
        let (custom, xfFormats) = formats
        guard !custom.isEmpty else { return [] }
        var cache: [Int: UInt8] = [:]
        let out = xfFormats.map { id -> UInt8 in
            if let k = cache[id] { return k }
            let k = custom[id].map(NumberFormats.currencyKey) ?? 0
            cache[id] = k
            return k
        }
        return out.contains { $0 != 0 } ? out : []
    }

    static func styleKinds(_ bytes: [UInt8]) throws -> [TemporalKind?] { kinds(try styleFormats(bytes)) }

    private static func kinds(_ formats: (custom: [Int: String], xfFormats: [Int])) -> [TemporalKind?] {
        let (custom, xfFormats) = formats
        var cache: [Int: TemporalKind?] = [:]
        return xfFormats.map { id in
            if let k = cache[id] { return k }
            let k = NumberFormats.kind(id: id, code: custom[id])
            cache[id] = k
            return k
        }
    }

    /// Shared strings, streamed: each `si`'s `t` texts joined, phonetic `rPh` runs left out.
    static func sharedStrings(_ archive: ZipArchive, entry: ZipEntry) throws -> [String] {
        struct SSTHandler: XMLScanHandler {
            let budget: Int
            let part: String
            var bytes = 0
            var strings: [String] = []
            var current: [UInt8] = []
            var inSI = false, inT = false
            var rphDepth = 0
            mutating func start(_ tag: XMLTag) throws {
                let n = tag.localName
                if XMLTag.equal(n, "t") { inT = inSI && rphDepth == 0 && !tag.selfClosing }
                else if XMLTag.equal(n, "si") { inSI = true; current.removeAll(keepingCapacity: true) }
                else if XMLTag.equal(n, "rPh") { rphDepth += 1 }
                else if XMLTag.equal(n, "sst"), let c = tag.attribute("uniqueCount"),
                        let count = Int(String(decoding: c, as: UTF8.self)) {
                    strings.reserveCapacity(min(count, 1 << 20))
                }
            }
            mutating func end(_ n: UnsafeRawBufferPointer) throws {
                if XMLTag.equal(n, "t") { inT = false }
                else if XMLTag.equal(n, "rPh") { rphDepth -= 1 }
                else if XMLTag.equal(n, "si") {
                    XMLText.unescapeOOXML(&current)
                    // A String is 16 bytes inline, plus its text past 15 bytes on the heap.
                    bytes += 16 + (current.count > 15 ? current.count : 0)
                    if bytes > budget {
                        throw WorkbookError.tooLarge("the shared strings (\(part)) need over \(budget >> 20) MiB of memory (\(strings.count) strings so far)")
                    }
                    strings.append(String(decoding: current, as: UTF8.self))
                    inSI = false
                }
            }
            mutating func text(_ raw: UnsafeRawBufferPointer, cdata: Bool) throws {
                guard inT else { return }
                if cdata { current.append(contentsOf: raw) } else { try XMLText.decode(raw, into: &current) }
            }
        }
        var h = SSTHandler(budget: archive.limits.maxSharedStringBytes, part: entry.name)
        var scanner = XMLScanner()
        defer { scanner.release() }
        try archive.stream(entry) { try scanner.feed($0, &h) }
        try scanner.finish(&h)
        return h.strings
    }

    static func table(_ bytes: [UInt8], sheet: String) throws -> DeclaredTable? {
        var name: String? = nil, display: String? = nil, ref: String? = nil
        var headerRows = 1
        var totalsRows = 0
        var columns: [String] = []
        try PartHandler.scan(bytes) { h in
            h.onStart = { tag, path in
                if tag.isNamed("table"), path.isEmpty {
                    name = try tag.string("name")
                    display = try tag.string("displayName")
                    ref = try tag.string("ref")
                    if let hr = try tag.string("headerRowCount"), let v = Int(hr) { headerRows = v }
                    // totalsRowCount (default 0); totalsRowShown alone only says whether a totals
                    // row was ever shown, not that one is in `ref` (OOXML §18.5.1.2).
                    if let tr = try tag.string("totalsRowCount"), let v = Int(tr) { totalsRows = v }
                } else if tag.isNamed("tableColumn") {
                    var bytes = Array((try tag.string("name") ?? "").utf8)
                    XMLText.unescapeOOXML(&bytes)
                    columns.append(String(decoding: bytes, as: UTF8.self))
                }
            }
        }
        guard let ref else { throw WorkbookError.corrupt("the table part has no ref") }
        guard let range = A1.parseRange(ref)?.range else {
            throw WorkbookError.corrupt("table \(display ?? name ?? "") has ref \"\(ref)\", which is no range on a sheet (A1 to XFD1048576)")
        }
        return DeclaredTable(name: display ?? name ?? "", sheet: sheet, range: range, headerRowCount: headerRows,
                             totalsRowCount: totalsRows, columnNames: columns)
    }

    /// `t="d"` cells: ISO 8601 `2024-03-01`, `2024-03-01T10:30:00(.5)(Z|+hh:mm)`, or `10:30:00`.
    static func isoDate(_ s: String) -> (TemporalKind, Double)? {
        let b = Array(s.utf8)
        var i = 0
        func num(_ width: Int) -> Int? {
            guard i + width <= b.count else { return nil }
            var v = 0
            for k in i..<(i + width) {
                guard b[k] >= 48 && b[k] <= 57 else { return nil }
                v = v * 10 + Int(b[k] - 48)
            }
            i += width
            return v
        }
        func expect(_ c: UInt8) -> Bool { if i < b.count && b[i] == c { i += 1; return true }; return false }
        func clock() -> Double? {
            guard let h = num(2), expect(58), let m = num(2) else { return nil }
            var sec = 0.0
            if expect(58) {
                guard let s = num(2) else { return nil }
                sec = Double(s)
                if expect(46) {
                    var scale = 0.1
                    while i < b.count, b[i] >= 48 && b[i] <= 57 { sec += Double(b[i] - 48) * scale; scale /= 10; i += 1 }
                }
            }
            return (Double(h) * 3600 + Double(m) * 60 + sec) / 86400
        }
        if b.count >= 5 && b[2] == 58 {
            guard let t = clock() else { return nil }
            return (.time, t)
        }
        guard let y = num(4), expect(45), let mo = num(2), expect(45), let d = num(2), (1...12).contains(mo),
              (1...31).contains(d) else { return nil }
        var day = ExcelDate.serial(year: y, month: mo, day: d)
        // Before 1900-03-01, Excel's serials are one less (its phantom 1900-02-29).
        if day >= 2 && day < 61 { day -= 1 }
        if i == b.count { return (.date, day) }
        guard expect(84) || expect(32), let t = clock() else { return nil }
        // A trailing zone (Z or an offset) is ignored: Excel's serials carry no zone.
        return (.dateTime, day + t)
    }
}
