// `xlchat-bench load FILE... [--runs N]`: what `workbook/open` then the first `workbook/query`
// cost on a file: read + outline (table inference and column typing over every cell), then the
// index load (typed SQLite tables, search chunks and their vectors with the built-in hashing
// embedder). Each run is a fresh child process (this binary with a hidden flag); CPU seconds
// (user+sys) per phase come from the child's own getrusage, peak RSS from wait4.
// Column typing must stay within 10% of the read + load CPU it had before (issue 10): run this
// on ../shared/bench's mixed_100k_x20.xlsx with the binary before and after a change.
// Issue 13 adds the two ways to get the typed tables: a second read of the file with the
// outline known ("tables, 2nd read"), and the one pass `WorkbookIndex.open` makes (hash +
// outline + rows spooled and replayed into the tables: "one-pass open"). The spool is worth it
// when one-pass open < hash + read+outline + tables 2nd read.
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
        abstract: "Read + outline (typing) and index load of FILE(s) in fresh processes: CPU s per phase, peak RSS.")

    @Argument(help: "Workbooks to read and load.") var files: [String]
    @Option(help: "Runs per file (medians are reported).") var runs = 3
    @Flag(name: .customLong("child-load"), help: .hidden) var childLoad = false

    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }

    func run() throws {
        if childLoad { try child(); return }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        print("file | runs | read+outline CPU s | index load CPU s | tables, 2nd read CPU s | hash CPU s | one-pass open CPU s | total CPU s | peak RSS MB | wall s (medians)")
        for file in files {
            var outline: [Double] = [], load: [Double] = [], total: [Double] = [], rss: [Double] = [], wall: [Double] = []
            var reread: [Double] = [], hash: [Double] = [], onePass: [Double] = []
            for _ in 0..<runs {
                let m = try spawnMeasured([exe, "load", "--child-load", file])
                guard m.status == 0 else { throw ValidationError("load failed on \(file): \(m.output)") }
                let parts = m.output.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
                guard parts.count == 5 else { throw ValidationError("unexpected child output: \(m.output)") }
                outline.append(parts[0]); load.append(parts[1]); total.append(m.cpu); rss.append(m.rssMB); wall.append(m.wall)
                reread.append(parts[2]); hash.append(parts[3]); onePass.append(parts[4])
            }
            let name = URL(fileURLWithPath: file).lastPathComponent
            print("\(name) | \(runs) | \(fmt(median(outline))) | \(fmt(median(load))) | \(fmt(median(reread))) | \(fmt(median(hash))) | \(fmt(median(onePass))) | \(fmt(median(total))) | \(fmt(median(rss), 1)) | \(fmt(median(wall)))")
        }
    }

    /// Prints the CPU seconds of the two phases.
    func child() throws {
        final class Outcome: @unchecked Sendable { var error: Error?; var line = "" }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let file = files[0]
        Task.detached {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-bench-load-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: dir) }
            do {
                let c0 = Self.cpuSeconds()
                let reader = try Workbooks.open(path: file)
                let outline = try WorkbookOutline.build(reader: reader, path: file, contentHash: ContentHash.sha256(path: file))
                let c1 = Self.cpuSeconds()
                let index = try WorkbookIndex(dataDirectory: dir)
                _ = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder())
                let c2 = Self.cpuSeconds()
                let tablesOnly = try WorkbookIndex(dataDirectory: dir.appendingPathComponent("tables"))
                try await tablesOnly.buildTables(outline: outline, reader: try Workbooks.open(path: file))
                let c3 = Self.cpuSeconds()
                _ = try ContentHash.sha256(path: file)
                let c4 = Self.cpuSeconds()
                _ = try WorkbookIndex(dataDirectory: dir.appendingPathComponent("one-pass")).open(path: file)
                let c5 = Self.cpuSeconds()
                outcome.line = "\(c1 - c0) \(c2 - c1) \(c3 - c2) \(c4 - c3) \(c5 - c4)"
            } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        if let e = outcome.error { throw e }
        print(outcome.line)
    }
}
