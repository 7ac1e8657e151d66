// `xlchat-bench handle-read FILE... [--rows N] [--runs R]`: what keeping a workbook's reader
// open saves a `workbook/read` (issue 12: `WorkbookHandle.withReader`). Each run reads the
// first N rows of the first sheet two ways, in this process, wall time: through the handle
// (the reader kept since the last read; the file's identity, one stat, checked first) and the
// way the server read before (the file opened again for every read: zip directory, shared
// strings, styles). The median of the runs is printed; the peer figure is the reopen.
import ArgumentParser
import Foundation
import XLChatIndex
import XLChatWorkbook

struct HandleReadBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handle-read", abstract: "A range read with the handle's kept reader beside reopening the file.")

    @Argument(help: "Workbook files.") var files: [String]
    @Option(help: "Rows read from the first sheet.") var rows = 100
    @Option(help: "Runs; the median is printed.") var runs = 20

    func run() throws {
        struct NoStore: Error {}
        for file in files {
            let handle = try WorkbookHandle.open(path: file, id: file, storage: { throw NoStore() })
            guard let sheet = handle.outline?.sheets.first else { print("\(file): no sheet"); continue }
            let range = sheet.summary.usedRange.map { u in
                CellRange(start: u.start, end: CellRef(row: min(u.end.row, u.start.row + max(rows, 1) - 1), column: u.end.column))
            }
            let token = CancellationToken()
            func clock(_ body: () throws -> Void) rethrows -> Double {
                let t = DispatchTime.now().uptimeNanoseconds
                try body()
                return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6
            }
            var kept: [Double] = [], reopened: [Double] = []
            var cells = 0
            for _ in 0..<max(runs, 1) {
                kept.append(try clock {
                    let r = try handle.withReader(token: token) { reader in
                        try RangeReader.read(reader, sheetIndex: sheet.info.index, range: range, usedRange: sheet.summary.usedRange, limit: 100_000)
                    }
                    cells = r.rows.reduce(0) { $0 + $1.count }
                })
                reopened.append(try clock {
                    let reader = try Workbooks.open(path: file)
                    _ = try RangeReader.read(reader, sheetIndex: sheet.info.index, range: range, usedRange: sheet.summary.usedRange, limit: 100_000)
                })
            }
            let k = median(kept), o = median(reopened)
            print("\(file): \(range?.description ?? "empty"), \(cells) cells, \(handle.counts.readerOpens) reader opened over \(runs) reads")
            print(String(format: "  kept reader (handle)   %8.2f ms a read (median of %d)", k, runs))
            print(String(format: "  reopened each read     %8.2f ms a read  (%.1fx)", o, o / max(k, 0.001)))
        }
    }
}
