import Foundation
import Testing
@testable import XLChatWorkbook

/// A full-height BIFF8 sheet (65,536 rows x 8 columns) in a compound file large enough to
/// need DIFAT sectors, with a shared-string table split across many CONTINUE records. Checks
/// every cell and prints the reading speed (a debug figure; release figures come from
/// `Benchmarks/xls-standalone/run.sh`).
@Suite struct XLSLargeWorkbookTests {
    typealias B = BIFFBytes

    static func strings(_ n: Int) -> [String] {
        (0..<n).map { i in
            switch i % 4 {
            case 0: return "Customer \(i) Ltd."
            case 1: return "Städte \(i) — Köln/Zürich"             // Latin-1 and a dash beyond it: UTF-16
            case 2: return "客户 \(i) 北京"                           // CJK: UTF-16
            default: return String(repeating: "x", count: i % 97) + "|\(i)"
            }
        }
    }

    static func workbook(rows: Int) -> (bytes: [UInt8], strings: [String]) {
        let strs = strings(5000)
        let xfs: [[UInt8]] = (0..<17).map { i in
            B.record(0x00E0, B.le16(0) + B.le16(i == 16 ? 14 : 0) + [UInt8](repeating: 0, count: 16))
        }
        var cells: [UInt8] = []
        cells.reserveCapacity(rows * 110)
        for r in 0..<rows {
            let row = UInt16(r)
            cells += B.number(row, 0, Double(r) + 0.5)
            cells += B.record(0x00FD, B.le16(row) + B.le16(1) + B.le16(15) + B.le32(UInt32(r % strs.count)))
            cells += B.record(0x027E, B.le16(row) + B.le16(2) + B.le16(15) + B.le32(UInt32(r) << 2 | 2))
            cells += B.number(row, 3, 40000 + Double(r % 3000), xf: 16)
            var mulrk = B.le16(row) + B.le16(4)
            for k in 0..<3 { mulrk += B.le16(15) + B.le32(UInt32(r &* 3 &+ k) << 2 | 3) }  // integer / 100
            cells += B.record(0x00BD, mulrk + B.le16(6))
            cells += B.record(0x0205, B.le16(row) + B.le16(7) + B.le16(15) + [UInt8(r % 2), 0])
        }
        let stream = B.workbook(globals: xfs + [B.sst(strs)], sheets: [("Big", [cells])])
        return (CFBBuilder(streams: [("Workbook", stream)]).build(), strs)
    }

    @Test func readsEveryCellOfAFullHeightSheet() throws {
        let rows = 65_536
        let (bytes, strs) = Self.workbook(rows: rows)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("xls-large-\(UUID().uuidString).xls").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        // XLS_BENCH_OUT=/path/big.xls keeps a copy for Benchmarks/xls-standalone/run.sh.
        if let out = ProcessInfo.processInfo.environment["XLS_BENCH_OUT"] {
            _ = FileManager.default.createFile(atPath: out, contents: Data(bytes))
        }

        let clock = ContinuousClock()
        var cellCount = 0
        var bad: [String] = []
        var summary = SheetSummary()
        let elapsed = try clock.measure {
            let reader = try XLSReader(path: path)
            summary = try reader.readSheet(at: 0) { row in
                let r = row.index
                cellCount += row.cells.count
                if bad.count < 5 {
                    let expected: [CellValue] = [
                        .number(Double(r) + 0.5), .string(strs[r % strs.count]), .number(Double(r)),
                        .temporal(.date, serial: 40000 + Double(r % 3000)),
                        .number(Double(r * 3) / 100), .number(Double(r * 3 + 1) / 100), .number(Double(r * 3 + 2) / 100),
                        .bool(r % 2 == 1),
                    ]
                    if row.cells.map(\.value) != expected || row.cells.map(\.column) != Array(0..<8) {
                        bad.append("row \(r): \(row.cells.map(\.value))")
                    }
                }
                return true
            }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("XLSLargeWorkbookTests: \(bytes.count) bytes, \(cellCount) cells in \(String(format: "%.3f", seconds)) s (\(String(format: "%.1f", Double(bytes.count) / 1e6 / seconds)) MB/s, \(String(format: "%.2f", Double(cellCount) / 1e6 / seconds)) M cells/s)")
        #expect(bad.isEmpty, "\(bad)")
        #expect(cellCount == rows * 8)
        #expect(summary.usedRange == CellRange(rows: 0...(rows - 1), columns: 0...7))
    }
}
