// `xlchat-bench load FILE... [--runs N]`: what opening and indexing a workbook costs: read +
// outline (table finding and typing over every row) and read + load (the typed SQLite tables,
// chunks and vectors of the built-in embedder), each run in a fresh child process, CPU seconds
// (user+sys, the child's own getrusage around each phase) and peak RSS.
// To compare two branches, build this command on each (same file, same machine, back to back):
// `swift build -c release -j 1 --product xlchat-bench`, then
// `.build/release/xlchat-bench load /tmp/xlsxbench/mixed_100k_x20.xlsx --runs 5`.
import ArgumentParser
import Foundation
import XLChatIndex
import XLChatWorkbook
#if canImport(Glibc)
import Glibc
#endif

struct LoadBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Read + outline and read + load into the index of FILE(s) in fresh processes: CPU s and peak RSS.")

    @Argument(help: "Workbooks to open and index.") var files: [String]
    @Option(help: "Runs per file (medians are reported).") var runs = 3
    @Flag(name: .customLong("child-load"), help: .hidden) var childLoad = false

    static func cpuNow() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }

    func run() throws {
        if childLoad {
            final class Outcome: @unchecked Sendable { var error: Error?; var line = "" }
            let outcome = Outcome()
            let done = DispatchSemaphore(value: 0)
            let file = files[0]
            Task.detached {
                do {
                    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-bench-load-\(UUID().uuidString)")
                    defer { try? FileManager.default.removeItem(at: dir) }
                    let c0 = Self.cpuNow()
                    let reader = try Workbooks.open(path: file)
                    let outline = try WorkbookOutline.build(reader: reader, path: file, contentHash: "0123456789abcdef")
                    let c1 = Self.cpuNow()
                    let index = try WorkbookIndex(dataDirectory: dir)
                    _ = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder())
                    let c2 = Self.cpuNow()
                    let tables = outline.sheets.reduce(0) { $0 + $1.tables.count }
                    outcome.line = "\(c1 - c0) \(c2 - c1) \(tables)"
                } catch { outcome.error = error }
                done.signal()
            }
            done.wait()
            if let e = outcome.error { throw e }
            print(outcome.line)
            return
        }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        print("file | runs | tables | read+outline CPU s | read+load CPU s | total CPU s (median) | peak RSS MB")
        for file in files {
            var outlineCPU: [Double] = [], loadCPU: [Double] = [], total: [Double] = [], rss: [Double] = []
            var tables = ""
            for _ in 0..<runs {
                let m = try spawnMeasured([exe, "load", "--child-load", file])
                guard m.status == 0 else { throw ValidationError("loading \(file) failed: \(m.output)") }
                let parts = m.output.split(whereSeparator: { $0 == " " || $0 == "\n" })
                guard parts.count >= 3, let a = Double(parts[0]), let b = Double(parts[1]) else { throw ValidationError("bad child output: \(m.output)") }
                outlineCPU.append(a); loadCPU.append(b); total.append(m.cpu); rss.append(m.rssMB)
                tables = String(parts[2])
            }
            let name = URL(fileURLWithPath: file).lastPathComponent
            print("\(name) | \(runs) | \(tables) | \(fmt(median(outlineCPU))) | \(fmt(median(loadCPU))) | \(fmt(median(total))) | \(fmt(median(rss), 1))")
        }
    }
}
