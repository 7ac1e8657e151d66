// `xlchat-bench csv FILE`: reads a delimited file with CSVReader (typed), then infers its table,
// printing CPU seconds, throughput and peak memory. Peer: Python's csv module over the same file
// (`python3 -c "import csv,sys; n=sum(len(r) for r in csv.reader(open(sys.argv[1], newline='')))" FILE`).
import ArgumentParser
import Foundation
import XLChatWorkbook

struct CSVBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "csv", abstract: "Read a csv/tsv file: time and peak memory.")

    @Argument(help: "The csv or tsv file.") var file: String
    @Flag(help: "Also build the outline (table inference) in a second pass.") var outline = false

    func run() throws {
        func cpu() -> Double {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
                + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        }
        func peakRSSMB() -> Double {
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
            return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
        }
        let size = Double((try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue ?? 0)
        let t0 = cpu()
        let reader = try Workbooks.open(path: file)
        var cells = 0, rows = 0
        _ = try reader.readSheet(at: 0) { row in cells += row.cells.count; rows += 1; return true }
        let t1 = cpu()
        print(String(format: "read:    %.2f s CPU, %.0f MB/s, %d rows, %d cells, peak RSS %.0f MB",
                     t1 - t0, size / 1e6 / max(t1 - t0, 1e-9), rows, cells, peakRSSMB()))
        if outline {
            let o = try WorkbookOutline.build(reader: reader, path: file, contentHash: try ContentHash.sha256(path: file))
            let t2 = cpu()
            let types = o.sheets[0].table?.columns.map { "\($0.name):\($0.type.rawValue)" }.joined(separator: " ") ?? "-"
            print(String(format: "outline: %.2f s CPU (hash + read + infer), peak RSS %.0f MB", t2 - t1, peakRSSMB()))
            print("table:   \(types.prefix(300))")
        }
    }
}
