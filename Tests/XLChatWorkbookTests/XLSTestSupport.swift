import Foundation
@testable import XLChatWorkbook

/// The shared corpus (`../shared/corpus` beside the package root), or nil when absent.
enum XLSCorpus {
    static var root: URL? { corpusDirectory() }
    static func file(_ name: String) -> String? { root?.appendingPathComponent("files/\(name)").path }
    static var xlsFiles: [String] {
        guard let root else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("files").path)) ?? []
        return names.filter { $0.lowercased().hasSuffix(".xls") }.sorted()
    }
}

/// A JSON value decoded strictly: `true` stays a boolean, `1.0` a number.
enum XLSJSON: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([XLSJSON]), object([String: XLSJSON])
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([XLSJSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: XLSJSON].self)) }
    }
    subscript(_ key: String) -> XLSJSON? { if case let .object(o) = self { return o[key] } else { return nil } }
    var array: [XLSJSON]? { if case let .array(a) = self { return a } else { return nil } }
    var string: String? { if case let .string(s) = self { return s } else { return nil } }
    var int: Int? { if case let .number(d) = self { return Int(d) } else { return nil } }
    var objectValue: [String: XLSJSON]? { if case let .object(o) = self { return o } else { return nil } }
}

/// Builds a compound file in memory: version 3 (512-byte sectors) or 4 (4096-byte sectors).
/// Every stream is stored in regular sectors (the header's mini stream cutoff is written as 1,
/// so no mini stream is needed). Layout: directory sectors, stream sectors, FAT sectors, then
/// DIFAT sectors when more than 109 FAT sectors are needed.
struct CFBBuilder {
    var streams: [(name: String, data: [UInt8])] = []
    var version = 3
    /// Overrides applied to the FAT after layout (sector -> next), to build broken chains.
    var fatOverrides: [Int: UInt32] = [:]

    var sectorSize: Int { version == 4 ? 4096 : 512 }
    var directorySectors: Int { ((streams.count + 1) * 128 + sectorSize - 1) / sectorSize }
    func sectorsFor(_ n: Int) -> Int { max(1, (n + sectorSize - 1) / sectorSize) }
    /// The first sector of stream `i`.
    func firstSector(ofStream i: Int) -> Int {
        directorySectors + streams.prefix(i).map { sectorsFor($0.data.count) }.reduce(0, +)
    }
    /// The FAT and DIFAT sector counts the layout needs.
    var fatAndDifat: (fat: Int, difat: Int) {
        let per = sectorSize / 4
        let base = firstSector(ofStream: streams.count)
        var f = 1, d = 0
        while true {
            let nf = (base + f + d + per - 1) / per
            let nd = nf > 109 ? (nf - 109 + per - 2) / (per - 1) : 0
            if nf == f && nd == d { return (f, d) }
            f = nf; d = nd
        }
    }

    func build() -> [UInt8] {
        let ss = sectorSize, per = ss / 4
        let base = firstSector(ofStream: streams.count)
        let (nFat, nDifat) = fatAndDifat
        let total = base + nFat + nDifat
        var fat = [UInt32](repeating: 0xFFFF_FFFF, count: nFat * per)
        for k in 0..<directorySectors { fat[k] = k == directorySectors - 1 ? 0xFFFF_FFFE : UInt32(k + 1) }
        for (i, s) in streams.enumerated() {
            let st = firstSector(ofStream: i), n = sectorsFor(s.data.count)
            for k in 0..<n { fat[st + k] = k == n - 1 ? 0xFFFF_FFFE : UInt32(st + k + 1) }
        }
        for k in 0..<nFat { fat[base + k] = 0xFFFF_FFFD }           // FATSECT
        for k in 0..<nDifat { fat[base + nFat + k] = 0xFFFF_FFFC }  // DIFSECT
        for (k, v) in fatOverrides { fat[k] = v }

        var out = [UInt8](repeating: 0, count: ss * (total + 1))
        func put16(_ o: Int, _ v: UInt16) { out[o] = UInt8(v & 0xFF); out[o + 1] = UInt8(v >> 8) }
        func put32(_ o: Int, _ v: UInt32) { for i in 0..<4 { out[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) } }
        func sectorOffset(_ id: Int) -> Int { (id + 1) * ss }
        out.replaceSubrange(0..<8, with: CompoundFile.signature)
        put16(0x18, 0x3E); put16(0x1A, UInt16(version)); put16(0x1C, 0xFFFE)
        put16(0x1E, version == 4 ? 12 : 9); put16(0x20, 6)
        if version == 4 { put32(0x28, UInt32(directorySectors)) }
        put32(0x2C, UInt32(nFat))
        put32(0x30, 0)          // first directory sector
        put32(0x38, 1)          // mini stream cutoff: every stream is a regular one
        put32(0x3C, 0xFFFF_FFFE)
        put32(0x44, nDifat > 0 ? UInt32(base + nFat) : 0xFFFF_FFFE)
        put32(0x48, UInt32(nDifat))
        for i in 0..<109 { put32(0x4C + 4 * i, i < nFat ? UInt32(base + i) : 0xFFFF_FFFF) }
        // DIFAT sectors: (per - 1) FAT sector ids each, then the next DIFAT sector.
        for d in 0..<nDifat {
            let off = sectorOffset(base + nFat + d)
            for j in 0..<(per - 1) {
                let fatIndex = 109 + d * (per - 1) + j
                put32(off + 4 * j, fatIndex < nFat ? UInt32(base + fatIndex) : 0xFFFF_FFFF)
            }
            put32(off + 4 * (per - 1), d == nDifat - 1 ? 0xFFFF_FFFE : UInt32(base + nFat + d + 1))
        }
        for (i, v) in fat.enumerated() { put32(sectorOffset(base + i / per) + 4 * (i % per), v) }
        // Directory: root + streams as a right-linked list (a valid, if unbalanced, tree).
        func dirEntry(_ slot: Int, name: String, type: UInt8, child: UInt32, right: UInt32, start: UInt32, size: UInt32) {
            let o = sectorOffset(slot * 128 / ss) + (slot * 128) % ss
            let units = Array(name.utf16)
            for (k, u) in units.enumerated() { put16(o + 2 * k, u) }
            put16(o + 0x40, UInt16(2 * (units.count + 1)))
            out[o + 0x42] = type
            out[o + 0x43] = 1
            put32(o + 0x44, 0xFFFF_FFFF); put32(o + 0x48, right); put32(o + 0x4C, child)
            put32(o + 0x74, start); put32(o + 0x78, size)
        }
        dirEntry(0, name: "Root Entry", type: 5, child: streams.isEmpty ? 0xFFFF_FFFF : 1, right: 0xFFFF_FFFF,
                 start: 0xFFFF_FFFE, size: 0)
        for (i, s) in streams.enumerated() {
            let st = firstSector(ofStream: i)
            dirEntry(i + 1, name: s.name, type: 2, child: 0xFFFF_FFFF,
                     right: i + 1 < streams.count ? UInt32(i + 2) : 0xFFFF_FFFF,
                     start: UInt32(st), size: UInt32(s.data.count))
            out.replaceSubrange(sectorOffset(st)..<(sectorOffset(st) + s.data.count), with: s.data)
        }
        return out
    }
}

/// BIFF8 record bytes for tests.
enum BIFFBytes {
    static func record(_ type: UInt16, _ data: [UInt8]) -> [UInt8] {
        le16(type) + le16(UInt16(data.count)) + data
    }
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xFF) } }
    static func f64(_ v: Double) -> [UInt8] { (0..<8).map { UInt8((v.bitPattern >> (8 * UInt64($0))) & 0xFF) } }
    static func bof(_ dt: UInt16) -> [UInt8] { record(0x0809, le16(0x0600) + le16(dt) + [UInt8](repeating: 0, count: 12)) }
    static let eof = record(0x000A, [])
    static func boundsheet(offset: Int, name: String, state: UInt8 = 0, type: UInt8 = 0) -> [UInt8] {
        record(0x0085, le32(UInt32(offset)) + [state, type, UInt8(name.utf8.count), 0] + Array(name.utf8))
    }
    static func number(_ row: UInt16, _ col: UInt16, _ v: Double, xf: UInt16 = 15) -> [UInt8] {
        record(0x0203, le16(row) + le16(col) + le16(xf) + f64(v))
    }
    static func label(_ row: UInt16, _ col: UInt16, _ s: String) -> [UInt8] {
        record(0x0204, le16(row) + le16(col) + le16(15) + le16(UInt16(s.utf8.count)) + [0] + Array(s.utf8))
    }

    /// An SST record and its CONTINUE records, split as Excel does at `maxData` bytes per
    /// record: a string's header never splits; its characters may, and the CONTINUE then
    /// starts with a flags byte. Non-Latin-1 strings are written as UTF-16.
    static func sst(_ strings: [String], maxData: Int = 8224) -> [UInt8] {
        var records: [[UInt8]] = [le32(UInt32(strings.count)) + le32(UInt32(strings.count))]
        func room() -> Int { maxData - records[records.count - 1].count }
        for str in strings {
            let units = Array(str.utf16)
            let wide = units.contains { $0 > 0xFF }
            if room() < 3 { records.append([]) }
            records[records.count - 1] += le16(UInt16(units.count)) + [wide ? 1 : 0]
            var i = 0
            while i < units.count {
                let w = wide ? 2 : 1
                var n = min(units.count - i, room() / w)
                if n == 0 { records.append([wide ? 1 : 0]); n = min(units.count - i, room() / w) }
                for u in units[i..<(i + n)] { records[records.count - 1] += wide ? le16(u) : [UInt8(u)] }
                i += n
            }
        }
        return record(0x00FC, records[0]) + records.dropFirst().flatMap { record(0x003C, $0) }
    }

    /// A workbook stream: globals (with `globals` records inserted before the sheets) and one
    /// sheet per entry of `sheets`, each made of the given cell records.
    static func workbook(globals: [[UInt8]] = [], sheets: [(name: String, cells: [[UInt8]])]) -> [UInt8] {
        let head = bof(0x0005) + globals.flatMap { $0 }
        let bsLens = sheets.map { boundsheet(offset: 0, name: $0.name).count }
        var offset = head.count + bsLens.reduce(0, +) + eof.count
        var bss: [UInt8] = []
        var bodies: [UInt8] = []
        for s in sheets {
            bss += boundsheet(offset: offset, name: s.name)
            let body = bof(0x0010) + s.cells.flatMap { $0 } + eof
            bodies += body
            offset += body.count
        }
        return head + bss + eof + bodies
    }
}

extension XLSReader {
    /// All cells of a sheet, by position.
    func cellMap(_ sheet: Int) throws -> (cells: [CellRef: CellValue], summary: SheetSummary, order: [CellRef]) {
        var cells: [CellRef: CellValue] = [:]
        var order: [CellRef] = []
        let summary = try readSheet(at: sheet) { row in
            for c in row.cells {
                cells[CellRef(row: row.index, column: c.column)] = c.value
                order.append(CellRef(row: row.index, column: c.column))
            }
            return true
        }
        return (cells, summary, order)
    }
}
