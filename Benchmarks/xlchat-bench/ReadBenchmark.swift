// `xlchat-bench read FILE... [--runs N]`: every cell of every sheet, read in a fresh child
// process per run (this binary, re-run with a hidden flag), CPU seconds (user+sys) and peak RSS
// taken from the child's own rusage (wait4), beside python-calamine timed the same way by
// ../shared/bench/peers.py in the same session.
// `xlchat-bench corpus`: every cell of the whole corpus, in this process, wall time.
import ArgumentParser
import Foundation
import XLChatWorkbook
#if canImport(Glibc)
import Glibc
#endif

/// The reader for a file, by the formats this branch can read. (Once the sniffer lands,
/// `Workbooks.open` replaces this.)
func benchOpenReader(_ path: String) throws -> (any WorkbookReader)? {
    try Workbooks.open(path: path)
}

/// Reads every cell of every sheet; returns the number of non-empty cells.
func benchReadAll(_ reader: any WorkbookReader) throws -> Int {
    var cells = 0
    for i in reader.sheets.indices {
        try reader.readSheet(at: i) { row in
            cells += row.cells.count
            return true
        }
    }
    return cells
}

struct ChildMeasure { var cpu: Double; var rssMB: Double; var wall: Double; var output: String; var status: Int32 }

/// Runs `args` as a child (own process group when asked), capturing stdout; rusage from wait4.
func spawnMeasured(_ args: [String], newGroup: Bool = false, onLine: ((String, pid_t) -> Void)? = nil) throws -> ChildMeasure {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw ValidationError("pipe failed") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    if newGroup {
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attr, 0)
    }
    let cargs = args.map { strdup($0) } + [nil]
    defer { cargs.forEach { free($0) } }
    var pid: pid_t = 0
    let start = Date()
    let rc = posix_spawn(&pid, args[0], &actions, &attr, cargs, environ)
    close(fds[1])
    guard rc == 0 else { close(fds[0]); throw ValidationError("cannot run \(args[0]) (\(rc))") }
    var output = Data()
    var pending = Data()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fds[0], &buf, buf.count)
        if n <= 0 { break }
        output.append(contentsOf: buf[0..<n])
        pending.append(contentsOf: buf[0..<n])
        while let nl = pending.firstIndex(of: 0x0A) {
            let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
            pending = Data(pending[(nl + 1)...])
            onLine?(line, pid)
        }
    }
    close(fds[0])
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    return ChildMeasure(cpu: cpu, rssMB: Double(usage.ru_maxrss) / 1024, wall: Date().timeIntervalSince(start),
                        output: String(decoding: output, as: UTF8.self), status: status)
}

func median(_ xs: [Double]) -> Double {
    guard !xs.isEmpty else { return .nan }
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func fmt(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }

struct ReadBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Read every cell of FILE(s) in fresh processes; CPU s and peak RSS beside python-calamine's.")

    @Argument(help: "Workbooks to read.") var files: [String]
    @Option(help: "Runs per reader (medians are reported).") var runs = 3
    @Flag(help: "Skip the python-calamine runs.") var noPeers = false
    @Option(help: "The peers script.") var peers = "/work/shared/bench/peers.py"
    @Flag(name: .customLong("child-read"), help: .hidden) var childRead = false

    func run() throws {
        if childRead {
            for f in files {
                guard let reader = try benchOpenReader(f) else { throw ValidationError("unsupported: \(f)") }
                print(try benchReadAll(reader))
            }
            return
        }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        print("file | reader | runs | cells | CPU s (median) | peak RSS MB (median) | wall s")
        for file in files {
            var cpu: [Double] = [], rss: [Double] = [], wall: [Double] = []
            var cells = ""
            for _ in 0..<runs {
                let m = try spawnMeasured([exe, "read", "--child-read", file])
                guard m.status == 0 else { throw ValidationError("our reader failed on \(file): \(m.output)") }
                cpu.append(m.cpu); rss.append(m.rssMB); wall.append(m.wall)
                cells = m.output.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let name = URL(fileURLWithPath: file).lastPathComponent
            print("\(name) | xlchat | \(runs) | \(cells) | \(fmt(median(cpu))) | \(fmt(median(rss), 1)) | \(fmt(median(wall)))")
            guard !noPeers else { continue }
            // peers.py times calamine, then openpyxl; openpyxl is not the target here and takes
            // minutes on the big files, so its process group is stopped once calamine is done.
            var calCPU: [Double] = [], calRSS: [Double] = [], calWall: [Double] = []
            var calCells = ""
            var peerError: String? = nil
            _ = try spawnMeasured(["/usr/bin/env", "python3", peers, file, String(runs)], newGroup: true) { line, pid in
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let reader = obj["reader"] as? String else { return }
                if reader == "calamine" {
                    if let e = obj["error"] as? String { peerError = e; kill(-pid, SIGTERM); return }
                    calCPU.append((obj["cpu_s"] as? NSNumber)?.doubleValue ?? .nan)
                    calRSS.append((obj["peak_rss_mb"] as? NSNumber)?.doubleValue ?? .nan)
                    calWall.append((obj["wall_s"] as? NSNumber)?.doubleValue ?? .nan)
                    calCells = "\((obj["cells"] as? NSNumber)?.intValue ?? 0)"
                    if calCPU.count >= runs { kill(-pid, SIGTERM) }
                } else {
                    kill(-pid, SIGTERM)
                }
            }
            if let peerError {
                print("\(name) | calamine | error: \(peerError)")
                continue
            }
            guard !calCPU.isEmpty else { print("\(name) | calamine | no result (pip install python-calamine?)"); continue }
            print("\(name) | calamine | \(calCPU.count) | \(calCells) | \(fmt(median(calCPU))) | \(fmt(median(calRSS), 1)) | \(fmt(median(calWall)))")
            print("\(name) | ratio xlchat/calamine | | | CPU \(fmt(median(cpu) / median(calCPU))) (target <= 0.50)"
                + " | RSS \(fmt(median(rss) / median(calRSS))) (target <= 0.20) |")
        }
    }
}

struct CorpusBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus",
        abstract: "Read every cell of every readable file in the corpus, in this process; total wall time (target < 2 s).")

    @Option(help: "The corpus folder (holding files/).") var corpus = "/work/shared/corpus"

    func run() throws {
        let dir = URL(fileURLWithPath: corpus).appendingPathComponent("files")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        var cells = 0, read = 0, failed = 0, skipped = 0
        let start = Date()
        for f in files {
            let path = dir.appendingPathComponent(f).path
            do {
                guard let reader = try benchOpenReader(path) else { skipped += 1; continue }
                cells += try benchReadAll(reader)
                read += 1
            } catch {
                failed += 1  // corrupt, encrypted, empty: the conformance tests check the kind
            }
        }
        let wall = Date().timeIntervalSince(start)
        print("corpus: \(read) files read, \(failed) refused (bad input), \(skipped) in formats not readable yet; "
            + "\(cells) cells in \(fmt(wall, 3)) s wall (target < 2 s)")
    }
}
