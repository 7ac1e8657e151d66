// Test helper (not shipped).
//   xlchat-testchild build DATA_DIR ROWS HASH [--force]
//     builds the index of a synthetic workbook in a data directory, so XLChatIndexTests can
//     kill -9 a real process in the middle of a build, or run two at once.
//   xlchat-testchild read PATH
//     opens a workbook and streams every sheet (as `workbook/open` does), then prints one line
//     `kind=<ok|error kind> ms=<elapsed> maxrss_kb=<peak RSS> message=<...>`: the hostile-input
//     tests (issue 14) check the error, the time and the memory of the process doing the work.
//   xlchat-testchild query DATA_DIR ROWS SQL
//     builds a synthetic workbook's index and runs SQL on it, printing the same line plus
//     `rows=<n> truncated=<bool> bytes=<total value bytes>`.
import Foundation
import XLChatIndex
import XLChatWorkbook

/// This process's peak resident set, from /proc/self/status `VmHWM` (KB). Not getrusage's
/// `ru_maxrss`: Linux carries the parent's high-water mark into a child across fork and exec,
/// so a child of a big test runner would report the runner's peak.
func peakRSSKB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? -1
    }
    return -1
}

func report(_ started: UInt64, kind: String, message: String, extra: String = "") {
    let ms = (DispatchTime.now().uptimeNanoseconds - started) / 1_000_000
    let oneLine = message.replacingOccurrences(of: "\n", with: " ")
    print("kind=\(kind) ms=\(ms) maxrss_kb=\(peakRSSKB())\(extra) message=\(oneLine)")
}

let args = CommandLine.arguments
let started = DispatchTime.now().uptimeNanoseconds
switch args.count >= 2 ? args[1] : "" {
case "build" where args.count >= 5:
    guard let rows = Int(args[3]) else { exit(2) }
    do {
        let index = try WorkbookIndex(dataDirectory: URL(fileURLWithPath: args[2]))
        let (reader, outline) = try SyntheticWorkbook.mixed(rows: rows, contentHash: args[4])
        let result = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder(),
                                           force: args.contains("--force"))
        print("built chunks=\(result.chunks) reused=\(result.reused)")
    } catch {
        FileHandle.standardError.write(Data("xlchat-testchild: \(error)\n".utf8))
        exit(1)
    }
case "read" where args.count >= 3:
    do {
        let reader = try Workbooks.open(path: args[2])
        var cells = 0
        for i in reader.sheets.indices {
            try reader.readSheet(at: i) { row in cells += row.cells.count; return true }
        }
        report(started, kind: "ok", message: "\(cells) cells")
    } catch let e as WorkbookError {
        report(started, kind: e.kind.rawValue, message: e.message)
    } catch {
        report(started, kind: "other", message: "\(error)")
    }
case "query" where args.count >= 5:
    guard let rows = Int(args[3]) else { exit(2) }
    do {
        let index = try WorkbookIndex(dataDirectory: URL(fileURLWithPath: args[2]))
        let (reader, outline) = try SyntheticWorkbook.mixed(rows: rows, contentHash: String(repeating: "ab", count: 32))
        _ = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder())
        let r = try index.query(outline: outline, sql: args[4], limit: 1000, timeout: 3)
        var bytes = 0
        for row in r.rows {
            for v in row {
                switch v {
                case let .text(s): bytes += s.utf8.count
                case let .blob(b): bytes += b.count
                default: bytes += 8
                }
            }
        }
        report(started, kind: "ok", message: "", extra: " rows=\(r.rows.count) truncated=\(r.truncated) bytes=\(bytes)")
    } catch let e as IndexError {
        report(started, kind: e.kind.rawValue, message: e.message)
    } catch {
        report(started, kind: "other", message: "\(error)")
    }
default:
    FileHandle.standardError.write(Data("usage: xlchat-testchild build DATA_DIR ROWS HASH [--force] | read PATH | query DATA_DIR ROWS SQL\n".utf8))
    exit(2)
}
