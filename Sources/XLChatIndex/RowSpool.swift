// A sheet's rows, kept aside while the same pass infers its tables and types.
//
// Why. Issue 10 decides each column's type from ALL its values (`ColumnStats.decide`), and
// several tables (totals rows, repeated headers, side-by-side blocks) are known only when the
// sheet ends. So a row cannot be converted (`TableColumn.sqlValue`) when it streams by. The two
// ways to load typed tables from one read of the file:
//   (a) insert raw values into an untyped table and convert in SQL at the sheet's end (the
//       `speed` branch did this; it needs a second read of the file whenever the final layout
//       differs from the provisional one, and cannot express issue 10's conversions, such as
//       number texts under a decimal comma or placeholders -> NULL, in SQL);
//   (b) keep the rows as they came, and replay them through the loader (main's `SheetLoader`,
//       unchanged) once the sheet's outline is known.
// This is (b): rows are appended in a compact binary form to memory, spilled to a file beside
// the staging index past `memoryLimit`, and decoded once at the sheet's end. The loader then
// sees exactly the rows a second read would give, so every typing rule of issue 10 holds as is.
// Measured with `xlchat-bench load --runs 1 FILE` (release build, this shared 2-core machine,
// CPU seconds), mixed_100k_x20.xlsx (../shared/bench/gen_workbooks.py a, 16.9 MB):
//   read + outline 1.16 s; typed tables from a second read with the outline known 1.84 s;
//   hash 0.02 s; so two passes = 3.02 s, against one-pass open (hash + outline + spool +
//   replay into the tables) 2.69 s: the spool saves 11% of the open, and the file is read once.
// csv_1m_x8.csv (48 MB): read + outline 4.71 s, second read 6.01 s, hash 0.05 s: two passes
// 10.77 s against one pass 10.27 s (5%; a csv re-reads cheaply, xlsx inflate + XML does not).
// (b) also keeps main's loader the only code that turns cells into typed SQL values.
import Foundation
import XLChatWorkbook

final class RowSpool {
    /// Bytes kept in memory before the spool spills to its file.
    let memoryLimit: Int
    private let spillPath: String
    private var buffer: [UInt8] = []
    private var file: UnsafeMutablePointer<FILE>? = nil
    private(set) var rows = 0

    init(spillPath: String, memoryLimit: Int = 8 << 20) {
        self.spillPath = spillPath
        self.memoryLimit = memoryLimit
        buffer.reserveCapacity(min(memoryLimit, 1 << 20))
    }

    deinit { reset() }

    /// Forgets every row (and removes the spill file).
    func reset() {
        if let f = file { fclose(f); file = nil; unlink(spillPath) }
        buffer.removeAll(keepingCapacity: true)
        rows = 0
    }

    @inline(__always) private func put<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) }
    }

    private func putString(_ s: String) {
        var s = s
        s.withUTF8 { u in
            put(UInt32(u.count))
            buffer.append(contentsOf: u)
        }
    }

    /// Appends one row. Throws `storageFull` when the spill file cannot be written.
    func append(_ row: SheetRow) throws {
        put(Int64(row.index))
        put(UInt32(row.cells.count))
        for c in row.cells {
            put(UInt32(truncatingIfNeeded: c.column))
            let textFlag: UInt8 = c.text == nil ? 0 : 0x80
            switch c.value {
            case .empty: put(UInt8(0) | textFlag)
            case let .number(d): put(UInt8(1) | textFlag); put(d.bitPattern)
            case let .string(s): put(UInt8(2) | textFlag); putString(s)
            case let .bool(b): put(UInt8(3) | textFlag); put(UInt8(b ? 1 : 0))
            case let .error(e): put(UInt8(4) | textFlag); putString(e)
            case let .temporal(kind, serial):
                put(UInt8(5) | textFlag)
                put(UInt8(Self.kindCode(kind)))
                put(serial.bitPattern)
            }
            if let t = c.text { putString(t) }
        }
        rows += 1
        if buffer.count >= memoryLimit { try spill() }
    }

    private func spill() throws {
        if file == nil {
            guard let f = fopen(spillPath, "w+b") else {
                throw IndexError(errno == ENOSPC ? .storageFull : .storage, "cannot create \(spillPath): \(String(cString: strerror(errno)))")
            }
            file = f
        }
        let n = buffer.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard n == buffer.count, fflush(file) == 0 else {
            let full = errno == ENOSPC || errno == EDQUOT
            throw IndexError(full ? .storageFull : .storage, "cannot write \(spillPath): \(String(cString: strerror(errno)))")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    static func kindCode(_ k: TemporalKind) -> UInt8 {
        switch k {
        case .date: return 0
        case .dateTime: return 1
        case .time: return 2
        case .duration: return 3
        }
    }

    static func kind(_ code: UInt8) -> TemporalKind {
        switch code {
        case 0: return .date
        case 1: return .dateTime
        case 2: return .time
        default: return .duration
        }
    }

    /// Calls `visit` with every row in the order appended. The spill file (if any) is read
    /// back mapped, so memory stays at the page cache's discretion.
    func replay(_ visit: (SheetRow) throws -> Void) throws {
        if file != nil {
            try spill()
            fflush(file)
            let data = try Data(contentsOf: URL(fileURLWithPath: spillPath), options: .alwaysMapped)
            try data.withUnsafeBytes { try Self.decode($0, visit) }
        } else {
            try buffer.withUnsafeBytes { try Self.decode($0, visit) }
        }
    }

    private static func decode(_ b: UnsafeRawBufferPointer, _ visit: (SheetRow) throws -> Void) throws {
        var o = 0
        @inline(__always) func get<T: FixedWidthInteger>(_: T.Type) -> T {
            let v = b.loadUnaligned(fromByteOffset: o, as: T.self)
            o += MemoryLayout<T>.size
            return T(littleEndian: v)
        }
        func getString() -> String {
            let n = Int(get(UInt32.self))
            let s = String(decoding: UnsafeRawBufferPointer(rebasing: b[o..<(o + n)]), as: UTF8.self)
            o += n
            return s
        }
        var cells: [RowCell] = []
        while o < b.count {
            let index = Int(get(Int64.self))
            let count = Int(get(UInt32.self))
            cells.removeAll(keepingCapacity: true)
            for _ in 0..<count {
                let column = Int(get(UInt32.self))
                let tag = get(UInt8.self)
                let value: CellValue
                switch tag & 0x7f {
                case 1: value = .number(Double(bitPattern: get(UInt64.self)))
                case 2: value = .string(getString())
                case 3: value = .bool(get(UInt8.self) != 0)
                case 4: value = .error(getString())
                case 5:
                    let k = kind(get(UInt8.self))
                    value = .temporal(k, serial: Double(bitPattern: get(UInt64.self)))
                default: value = .empty
                }
                var cell = RowCell(column: column, value: value)
                if tag & 0x80 != 0 { cell.text = getString() }
                cells.append(cell)
            }
            try visit(SheetRow(index: index, cells: cells))
        }
    }
}
