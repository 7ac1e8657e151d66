import Foundation
import Synchronization
import Testing
import XLChatIndex
@testable import XLChatPostgres

/// The stores every shared suite runs against.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    var testDescription: String { rawValue }
}

/// The PostgreSQL the tests use: `XLCHAT_TEST_PG` (`scripts/pg-test-cluster.sh start DIR` prints
/// it; `.ci/run` exports it). Missing under CI (`CI=true`): the test FAILS. Missing locally: the
/// test says so on stderr and returns.
enum PGTest {
    static let url: String? = ProcessInfo.processInfo.environment["XLCHAT_TEST_PG"].flatMap { $0.isEmpty ? nil : $0 }
    static let onCI = ["true", "1", "yes"].contains((ProcessInfo.processInfo.environment["CI"] ?? "").lowercased())

    /// The settings of the test server with `xlchat store init` run once, or nil (skip) locally.
    static func settings(_ function: String = #function) throws -> PostgresSettings? {
        guard let url else {
            if onCI {
                Issue.record("XLCHAT_TEST_PG is not set under CI: .ci/run must start the PostgreSQL test cluster (scripts/pg-test-cluster.sh)")
                throw Missing()
            }
            FileHandle.standardError.write(Data("skipped \(function): XLCHAT_TEST_PG is not set (scripts/pg-test-cluster.sh start DIR prints it)\n".utf8))
            return nil
        }
        let s = try PostgresSettings(url: url)
        try initialized.withLock { done in
            if !done { _ = try PostgresTableStore.initialize(settings: s); done = true }
        }
        return s
    }
    struct Missing: Error {}
    private static let initialized = Mutex(false)

    /// A `WorkbookIndex` in a fresh data directory, with the PostgreSQL store installed for
    /// `.postgres`; nil when PostgreSQL is wanted and not configured (local runs).
    static func index(_ kind: StoreKind, dataDirectory: URL? = nil) throws -> WorkbookIndex? {
        let dir = dataDirectory ?? tempDirectory()
        let index = try WorkbookIndex(dataDirectory: dir)
        if kind == .postgres {
            guard let s = try settings() else { return nil }
            index.setSharedStore(try PostgresTableStore(settings: s))
        }
        return index
    }

    static func tempDirectory() -> URL {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("xlchat-pg-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}


/// A generated sales sheet (unique content per call, so each test builds its own content hash)
/// and the sums the typed tables must give.
struct SalesFile {
    let path: String
    let rows: Int
    let unitsByRegion: [String: Int64]
    let countByRegion: [String: Int]
    let priceTotal: Double
    let regions = ["North", "South", "East", "West", "Zuid-Holland", "Île-de-France"]

    init(rows: Int, separator: Character = ",") throws {
        var rng = SystemRandomNumberGenerator()
        let salt = UInt64.random(in: 0...UInt64.max, using: &rng)
        var text = "Order\(separator)Region\(separator)Units\(separator)Price\(separator)Day\(separator)Note\n"
        var units: [String: Int64] = [:], counts: [String: Int] = [:]
        var price = 0.0
        for i in 0..<rows {
            let region = ["North", "South", "East", "West", "Zuid-Holland", "Île-de-France"][Int((UInt64(i) &* 2654435761 &+ salt) % 6)]
            let u = Int64((UInt64(i) &* 40503 &+ salt) % 1000) - 100
            let p = Double((UInt64(i) &* 97 &+ salt) % 100_000) / 100
            let day = String(format: "2024-%02d-%02d", i % 12 + 1, i % 28 + 1)
            // Notes with the characters COPY's text format escapes: tab-free but quotes, backslashes.
            let note = i % 7 == 0 ? "\"a \\ b, \"\"quoted\"\"\"" : "n\(salt % 1000)-\(i)"
            text += "ORD-\(i)\(separator)\(region)\(separator)\(u)\(separator)\(p)\(separator)\(day)\(separator)\(note)\n"
            units[region, default: 0] += u
            counts[region, default: 0] += 1
            price += p
        }
        let path = NSTemporaryDirectory() + "xlchat-pg-sales-\(UUID().uuidString).csv"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        self.path = path; self.rows = rows; unitsByRegion = units; countByRegion = counts; priceTotal = price
    }
}
