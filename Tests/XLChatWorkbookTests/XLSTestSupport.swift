import Foundation
@testable import XLChatWorkbook

/// The shared corpus (`../shared/corpus` beside the package root), or nil when absent.
enum XLSCorpus {
    static var packageRoot: URL {
        // Tests/XLChatWorkbookTests/ThisFile.swift -> package root
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    static var root: URL? {
        let url = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
        return FileManager.default.fileExists(atPath: url.appendingPathComponent("files").path) ? url : nil
    }
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

/// Builds a compound file in memory (version 3, 512-byte sectors). Every stream is stored in
/// regular sectors: the header's mini stream cutoff is written as 1, so no mini stream is needed.
struct CFBBuilder {
    var streams: [(name: String, data: [UInt8])] = []
    /// Overrides applied to the FAT after layout (sector -> next), to build broken chains.
    var fatOverrides: [Int: UInt32] = [:]

    func build() -> [UInt8] {
        let ss = 512
        func sectorsFor(_ n: Int) -> Int { max(1, (n + ss - 1) / ss) }
        // Layout: sector 0 = FAT, sector 1 = directory, then the streams.
        var next = 2
        var starts: [Int] = []
        for s in streams { starts.append(next); next += sectorsFor(s.data.count) }
        let totalSectors = next
        precondition(totalSectors <= ss / 4, "builder supports one FAT sector")
        var fat = [UInt32](repeating: 0xFFFF_FFFF, count: ss / 4)
        fat[0] = 0xFFFF_FFFD  // FATSECT
        fat[1] = 0xFFFF_FFFE
        for (i, s) in streams.enumerated() {
            let n = sectorsFor(s.data.count)
            for k in 0..<n { fat[starts[i] + k] = k == n - 1 ? 0xFFFF_FFFE : UInt32(starts[i] + k + 1) }
        }
        for (k, v) in fatOverrides { fat[k] = v }

        var out = [UInt8](repeating: 0, count: ss * (totalSectors + 1))
        func put16(_ o: Int, _ v: UInt16) { out[o] = UInt8(v & 0xFF); out[o + 1] = UInt8(v >> 8) }
        func put32(_ o: Int, _ v: UInt32) { for i in 0..<4 { out[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) } }
        out.replaceSubrange(0..<8, with: CompoundFile.signature)
        put16(0x18, 0x3E); put16(0x1A, 3); put16(0x1C, 0xFFFE); put16(0x1E, 9); put16(0x20, 6)
        put32(0x2C, 1)          // FAT sectors
        put32(0x30, 1)          // first directory sector
        put32(0x38, 1)          // mini stream cutoff: every stream is a regular one
        put32(0x3C, 0xFFFF_FFFE); put32(0x44, 0xFFFF_FFFE)
        for i in 0..<109 { put32(0x4C + 4 * i, i == 0 ? 0 : 0xFFFF_FFFF) }
        for (i, v) in fat.enumerated() { put32(ss * 1 + 4 * i, v) }
        // Directory: root + streams as a right-linked list (a valid, if unbalanced, tree).
        func dirEntry(_ slot: Int, name: String, type: UInt8, child: UInt32, right: UInt32, start: UInt32, size: UInt32) {
            let base = ss * 2 + 128 * slot
            let units = Array(name.utf16)
            for (k, u) in units.enumerated() { put16(base + 2 * k, u) }
            put16(base + 0x40, UInt16(2 * (units.count + 1)))
            out[base + 0x42] = type
            out[base + 0x43] = 1
            put32(base + 0x44, 0xFFFF_FFFF); put32(base + 0x48, right); put32(base + 0x4C, child)
            put32(base + 0x74, start); put32(base + 0x78, size)
        }
        precondition(streams.count + 1 <= 4, "builder supports one directory sector")
        dirEntry(0, name: "Root Entry", type: 5, child: streams.isEmpty ? 0xFFFF_FFFF : 1, right: 0xFFFF_FFFF,
                 start: 0xFFFF_FFFE, size: 0)
        for (i, s) in streams.enumerated() {
            dirEntry(i + 1, name: s.name, type: 2, child: 0xFFFF_FFFF,
                     right: i + 1 < streams.count ? UInt32(i + 2) : 0xFFFF_FFFF,
                     start: UInt32(starts[i]), size: UInt32(s.data.count))
            out.replaceSubrange((ss * (starts[i] + 1))..<(ss * (starts[i] + 1) + s.data.count), with: s.data)
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
