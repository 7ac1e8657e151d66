// `xlchat-bench store`: the typed tables in SQLite (each editor's own index) beside the shared
// PostgreSQL store (issue 15), in one run on the same workbook: the build (first open), the
// reuse from a second process (another editor: for SQLite the same data directory, for
// PostgreSQL a fresh one that shares nothing but the store), one aggregate query, and N
// concurrent clients x M queries. Prints each figure and the PostgreSQL/SQLite ratio.
import ArgumentParser
import Foundation
import XLChatIndex
import XLChatPostgres

struct StoreBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "SQLite vs the PostgreSQL store: build, reuse from a second process, an aggregate, concurrent clients.",
        discussion: """
            The workbook: /work/shared/bench/gen_workbooks.py OUTDIR a (mixed_100k_x20.xlsx). The store: \
            --store, else XLCHAT_STORE, else XLCHAT_TEST_PG (scripts/pg-test-cluster.sh start DIR prints it); \
            `xlchat store init` must have run on it. The workbook's tables are dropped from the store first \
            so the build is a real one.
            """)

    @Argument(help: "The workbook (mixed_100k_x20.xlsx).") var file: String
    @Option(help: "postgres:// connection string (default: XLCHAT_STORE, else XLCHAT_TEST_PG).") var store: String?
    @Option(help: "Concurrent clients.") var clients = 8
    @Option(help: "Queries per client.") var queries = 100
    @Option(help: "Repetitions of the aggregate query (median).") var repeats = 20
    /// Internal: `--child-open DATA_DIR` opens the file once in this (second) process and prints its ms.
    @Option(help: .hidden) var childOpen: String?

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        let url = store ?? env["XLCHAT_STORE"].flatMap { $0.hasPrefix("postgres") ? $0 : nil } ?? env["XLCHAT_TEST_PG"]
        if let dir = childOpen {
            // The child's store is only what the parent passes (--store): SQLite otherwise.
            let index = try Self.index(dataDirectory: dir, url: store)
            let t = DispatchTime.now().uptimeNanoseconds
            let opened = try index.open(path: file)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6
            print(String(format: "%.3f %@", ms, opened.reused ? "reused" : "built"))
            return
        }
        guard let url, !url.isEmpty else {
            throw ValidationError("no PostgreSQL store: give --store postgres://… (or XLCHAT_STORE / XLCHAT_TEST_PG)")
        }
        let settings = try PostgresSettings(url: url, environment: env)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-bench-store-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        #if DEBUG
        print("build: debug (figures are slower than a release build's)")
        #else
        print("build: release")
        #endif
        print("store: \(settings); workbook: \(file)")

        var results: [String: (sqlite: Double, postgres: Double)] = [:]
        var order: [String] = []
        func record(_ name: String, _ kind: String, _ value: Double) {
            if results[name] == nil { order.append(name); results[name] = (0, 0) }
            if kind == "sqlite" { results[name]!.sqlite = value } else { results[name]!.postgres = value }
        }

        var sqliteHash: String?
        for kind in ["sqlite", "postgresql"] {
            let pg = kind == "postgresql"
            let dir = root.appendingPathComponent(kind).path
            let index = try Self.index(dataDirectory: dir, url: pg ? url : nil)
            if pg, let shared = index.sharedStore, let sqliteHash {
                // A real build: the version's tables leave the store first.
                try shared.drop(hash: sqliteHash)
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let opened = try index.open(path: file)
            precondition(!opened.reused, "the first open must build")
            sqliteHash = opened.outline.contentHash
            record("build (first open), s", kind, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)

            // Reuse from a second process: SQLite's other editor on this machine shares the data
            // directory; PostgreSQL's shares only the store (a fresh data directory).
            let childDir = pg ? root.appendingPathComponent("postgres-second").path : dir
            var reuse: [Double] = []
            for _ in 0..<5 { reuse.append(try Self.child(file: file, dataDirectory: childDir, url: pg ? url : nil)) }
            record("reuse from a second process (median of 5), ms", kind, median(reuse))

            let table = try require(opened.outline.sheets.first?.tables.first?.name)
            let hash = opened.outline.contentHash
            let aggregate = """
                SELECT "region", COUNT(*), SUM("amount"), AVG("f1"), MAX("qty") FROM "\(table)" GROUP BY "region" ORDER BY 3 DESC
                """
            let first = try index.query(hash: hash, sql: aggregate, limit: 100, timeout: 30)
            precondition(first.rows.count == 12, "12 regions expected, got \(first.rows.count)")
            var agg: [Double] = []
            for _ in 0..<repeats {
                let t = DispatchTime.now().uptimeNanoseconds
                _ = try index.query(hash: hash, sql: aggregate, limit: 100, timeout: 30)
                agg.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
            }
            record("aggregate GROUP BY over 100k rows (median of \(repeats)), ms", kind, median(agg))

            // N clients x M selective queries at once, all through this process's index (one
            // server, many connections; PostgreSQL pools the reader connections).
            let lat = LatencyLog()
            let n = clients, m = queries
            let tc = DispatchTime.now().uptimeNanoseconds
            let failures = LatencyLog()
            DispatchQueue.concurrentPerform(iterations: n) { c in
                for q in 0..<m {
                    let k = (c * 7919 + q * 104_729) % 100_000 + 1
                    let sql = "SELECT COUNT(*), SUM(\"amount\") FROM \"\(table)\" WHERE \"qty\" > \(k % 1000) AND \"id\" BETWEEN \(k) AND \(k + 5000)"
                    let t = DispatchTime.now().uptimeNanoseconds
                    do { _ = try index.query(hash: hash, sql: sql, limit: 10, timeout: 30) } catch { failures.add(1) }
                    lat.add(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
                }
            }
            let wall = Double(DispatchTime.now().uptimeNanoseconds - tc) / 1e9
            precondition(failures.values.isEmpty, "\(failures.values.count) concurrent queries failed")
            let sorted = lat.values.sorted()
            record("\(n) clients x \(m) queries: throughput, queries/s", kind, Double(n * m) / wall)
            record("\(n) clients x \(m) queries: p50, ms", kind, percentile(sorted, 0.5))
            record("\(n) clients x \(m) queries: p99, ms", kind, percentile(sorted, 0.99))
        }
        print("")
        print("figure".padding(toLength: 62, withPad: " ", startingAt: 0) + "      SQLite   PostgreSQL   PG/SQLite")
        for name in order {
            let r = results[name]!
            print(name.padding(toLength: 62, withPad: " ", startingAt: 0)
                  + String(format: "%12.2f %12.2f %10.2fx", r.sqlite, r.postgres, r.postgres / max(r.sqlite, 1e-9)))
        }
        print("(the machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, PostgreSQL on the same host)")
    }

    static func index(dataDirectory: String, url: String?) throws -> WorkbookIndex {
        let index = try WorkbookIndex(dataDirectory: URL(fileURLWithPath: dataDirectory))
        if let url { index.setSharedStore(try PostgresTableStore(settings: PostgresSettings(url: url, environment: ProcessInfo.processInfo.environment))) }
        return index
    }

    /// The second process: this binary with `--child-open`; its own figure (the open alone).
    static func child(file: String, dataDirectory: String, url: String?) throws -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        p.arguments = ["store", file, "--child-open", dataDirectory] + (url.map { ["--store", $0] } ?? [])
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard p.terminationStatus == 0, text.hasSuffix("reused"), let ms = Double(text.split(separator: " ")[0]) else {
            throw ValidationError("the second process did not reuse the tables: \(text)")
        }
        return ms
    }

    func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }
}

/// Latencies from concurrent clients.
final class LatencyLog: @unchecked Sendable {
    private let lock = NSLock()
    private var all: [Double] = []
    func add(_ v: Double) { lock.withLock { all.append(v) } }
    var values: [Double] { lock.withLock { all } }
}

private func require<T>(_ v: T?) throws -> T {
    guard let v else { throw ValidationError("the workbook has no table") }
    return v
}
