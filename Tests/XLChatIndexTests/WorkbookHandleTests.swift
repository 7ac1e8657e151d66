import Foundation
import Synchronization
import Testing
import XLChatIndex
import XLChatWorkbook
#if canImport(Glibc)
import Glibc
#endif

/// The workbook handle: the one owner of a workbook's lifecycle on the engine side (identity,
/// outline, kept reader, "is it indexed?"), on real files and a real index.
@Suite(.serialized, .timeLimit(.minutes(5))) struct WorkbookHandleTests {
    /// A data directory, its index and a folder of workbook files.
    struct Place {
        let dir: TempDir
        let index: WorkbookIndex
        init(maxIndexFileBytes: Int? = nil) throws {
            dir = try TempDir()
            index = try WorkbookIndex(dataDirectory: dir.url.appendingPathComponent("data"), maxIndexFileBytes: maxIndexFileBytes)
        }
        func file(_ name: String, _ text: String) throws -> String {
            let path = dir.url.appendingPathComponent(name).path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        func handle(_ path: String, keptReaders: KeptReaders = KeptReaders(capacity: 4)) throws -> WorkbookHandle {
            let index = self.index
            return try WorkbookHandle.open(path: path, id: "wb-" + (path as NSString).lastPathComponent, storage: { index },
                                           keptReaders: keptReaders)
        }
        /// Files of builds in progress left in the index folder.
        var stagingFiles: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: dir.url.appendingPathComponent("data/index").path)) ?? [])
                .filter { $0.contains(".staging-") }
        }
    }

    static func csv(rows: Int, seed: Int = 0) -> String {
        var lines = ["Region,Product,Amount,Units,Date"]
        let regions = ["North", "South", "East", "West"]
        lines.reserveCapacity(rows + 1)
        for i in 0..<rows {
            lines.append("\(regions[(i + seed) % 4]),P\(i % 97),\(Double(i % 1000) + 0.25),\(i % 13),2024-\(String(format: "%02d", i % 12 + 1))-\(String(format: "%02d", i % 28 + 1))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func count(_ handle: WorkbookHandle, _ outline: WorkbookOutline) throws -> Int64 {
        let table = try #require(outline.sheets.first?.tables.first)
        let r = try handle.query(outline, sql: "SELECT COUNT(*) FROM \"\(table.name)\"")
        guard case let .integer(n)? = r.rows.first?.first else { Issue.record("no count in \(r.rows)"); return -1 }
        return n
    }

    /// Waits (bounded, polling a real condition) until `condition` holds.
    func eventually(_ what: String, seconds: Double = 30, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() > deadline { Issue.record("timed out waiting: \(what)"); return }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }

    // MARK: - Open

    @Test func openingBuildsTheTablesInItsPassAndAReopenReadsOnlyTheIndex() async throws {
        let p = try Place(); defer { p.dir.cleanup() }
        let path = try p.file("orders.csv", Self.csv(rows: 50))
        let handle = try p.handle(path)
        let outline = try #require(handle.outline)
        #expect(outline.sheets.first?.tables.count == 1)
        #expect(handle.counts == WorkbookHandle.Counts(opens: 1, tableBuilds: 1, searchBuilds: 0, readerOpens: 0))
        #expect(p.index.readiness(hash: outline.contentHash) == (tables: true, search: false))
        // Unchanged file: no reopen; ensureIndexed is a check.
        #expect(try handle.current(token: CancellationToken()).contentHash == outline.contentHash)
        #expect(try await handle.ensureIndexed().contentHash == outline.contentHash)
        #expect(handle.counts.opens == 1 && handle.counts.tableBuilds == 1)
        #expect(try count(handle, outline) == 50)
        // A second handle on the same file (another process, a restart): the index answers.
        let again = try p.handle(path)
        #expect(again.outline == outline)
        #expect(again.counts.tableBuilds == 0)
    }

    // MARK: - ensureIndexed: once under concurrent callers

    @Test func concurrentCallersShareOneBuildOfEachPart() async throws {
        let p = try Place(); defer { p.dir.cleanup() }
        let path = try p.file("sales.csv", Self.csv(rows: 3_000))
        let handle = try p.handle(path)
        let outline = try #require(handle.outline)
        // The tables are gone (freed, or another version's clean-up): the next callers rebuild them.
        try await p.index.remove(hash: outline.contentHash)
        #expect(p.index.readiness(hash: outline.contentHash).tables == false)
        let reports = Tally()
        let hashes = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await handle.ensureIndexed { _ in reports.add() }.contentHash
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(Set(hashes) == [outline.contentHash])
        #expect(handle.counts.tableBuilds == 2, "open built once, the eight callers once more: \(handle.counts)")
        #expect(reports.value > 0)
        #expect(try count(handle, outline) == 3_000)

        let embedder = CountingEmbedder()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 { group.addTask { try await handle.ensureSearchIndex(embedder: embedder) } }
            try await group.waitForAll()
        }
        #expect(handle.counts.searchBuilds == 1, "\(handle.counts)")
        #expect(p.index.readiness(hash: outline.contentHash) == (tables: true, search: true))
        #expect(try await handle.search(outline, query: "North", embedder: embedder).isEmpty == false)
        // Asked again: checks only.
        try await handle.ensureSearchIndex(embedder: embedder)
        #expect(handle.counts.searchBuilds == 1 && handle.counts.tableBuilds == 2)
    }

    // MARK: - Cancellation

    @Test func cancellingTheOnlyCallerMidBuildLeavesNoHalfIndexAndTheNextCallBuilds() async throws {
        let p = try Place(); defer { p.dir.cleanup() }
        let path = try p.file("big.csv", Self.csv(rows: 40_000))
        let handle = try p.handle(path)
        let outline = try #require(handle.outline)
        try await p.index.remove(hash: outline.contentHash)

        let started = Tally()
        let caller = Task {
            try await handle.ensureIndexed { _ in started.add() }
        }
        // Cancel once the build reported progress past hashing, i.e. while it reads rows.
        try await eventually("the build to report progress") { started.value >= 2 }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        // The abandoned build stops (its token is set); nothing half-built stays.
        try await eventually("the cancelled build to stop") { handle.buildsInFlight == 0 }
        #expect(p.index.readiness(hash: outline.contentHash).tables == false)
        #expect(p.stagingFiles.isEmpty, "\(p.stagingFiles)")
        #expect(handle.counts.tableBuilds == 1, "a cancelled build is not a build: \(handle.counts)")

        // The next call builds.
        let rebuilt = try await handle.ensureIndexed()
        #expect(rebuilt.contentHash == outline.contentHash)
        #expect(handle.counts.tableBuilds == 2)
        #expect(try count(handle, rebuilt) == 40_000)
    }

    @Test func oneCancelledCallerDoesNotStopTheBuildOthersWaitFor() async throws {
        let p = try Place(); defer { p.dir.cleanup() }
        let path = try p.file("shared.csv", Self.csv(rows: 20_000))
        let handle = try p.handle(path)
        let outline = try #require(handle.outline)
        try await p.index.remove(hash: outline.contentHash)
        let progressed = Tally()
        let leaving = Task { try await handle.ensureIndexed { _ in progressed.add() } }
        let staying = Task { try await handle.ensureIndexed() }
        try await eventually("the build to report progress") { progressed.value >= 2 }
        leaving.cancel()
        await #expect(throws: CancellationError.self) { try await leaving.value }
        #expect(try await staying.value.contentHash == outline.contentHash)
        #expect(handle.counts.tableBuilds == 2, "\(handle.counts)")
        #expect(try count(handle, outline) == 20_000)
    }

    // MARK: - The file changes

    @Test func aFileChangedAfterOpenIsOpenedAgainBeforeUse() async throws {
        let p = try Place(); defer { p.dir.cleanup() }
        let path = try p.file("live.csv", Self.csv(rows: 20))
        let handle = try p.handle(path)
        let first = try #require(handle.outline)
        // Saved again with other content: the next ensure opens and indexes the new version.
        try Data(Self.csv(rows: 35, seed: 1).utf8).write(to: URL(fileURLWithPath: path))
        #expect(handle.isCurrent == false)
        let second = try await handle.ensureIndexed()
        #expect(second.contentHash != first.contentHash)
        #expect(handle.outline == second && handle.identity == FileIdentity(path: path))
        #expect(handle.counts.opens == 2 && handle.counts.tableBuilds == 2)
        #expect(try count(handle, second) == 35)

        // Touched (new mtime), same bytes: the content hash decides; the outline and tables stay.
        var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        #expect(handle.isCurrent == false)
        #expect(try handle.current(token: CancellationToken()) == second)
        #expect(handle.counts.tableBuilds == 2 && handle.counts.opens == 3)
        #expect(handle.isCurrent)

        // Gone: the error keeps its kind.
        unlink(path)
        await #expect { try await handle.ensureIndexed() } throws: { ($0 as? WorkbookError)?.kind == .fileNotFound }
    }

    @Test func aFileRewrittenWithTheSameMtimeButAnotherSizeIsSeenAsChanged() async throws {
        let p = try Place(); defer { p.dir.cleanup() }
        let path = try p.file("sneaky.csv", Self.csv(rows: 10))
        let handle = try p.handle(path)
        let before = try #require(handle.identity)
        try Data(Self.csv(rows: 11).utf8).write(to: URL(fileURLWithPath: path))
        // Put the old mtime back (a copy tool preserving times, a coarse-mtime file system).
        var times = [timespec(tv_sec: Int(before.mtimeNanos / 1_000_000_000), tv_nsec: Int(before.mtimeNanos % 1_000_000_000)),
                     timespec(tv_sec: Int(before.mtimeNanos / 1_000_000_000), tv_nsec: Int(before.mtimeNanos % 1_000_000_000))]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let now = try FileIdentity(workbookAt: path)
        #expect(now.mtimeNanos == before.mtimeNanos && now.size != before.size && now != before)
        let outline = try await handle.ensureIndexed()
        #expect(try count(handle, outline) == 11)
    }

    // MARK: - The kept reader

    @Test func theReaderIsKeptBetweenReadsAndReplacedWhenTheFileChanges() async throws {
        let p = try Place(); defer { p.dir.cleanup() }
        let path = try p.file("reads.csv", Self.csv(rows: 30))
        let handle = try p.handle(path)
        let token = CancellationToken()
        func firstCell(row: Int) throws -> CellValue? {
            try handle.withReader(token: token) { reader in
                var found: CellValue?
                try reader.readSheet(at: 0) { r in
                    if r.index == row { found = r.cells.first?.value; return false }
                    return true
                }
                return found
            }
        }
        #expect(try firstCell(row: 1) == .string("North"))
        #expect(try firstCell(row: 2) == .string("South"))
        #expect(handle.counts.readerOpens == 1, "the second read reused the reader: \(handle.counts)")
        // Two users at once: the second gets a reader of its own (readers are not thread-safe).
        try handle.withReader(token: token) { _ in _ = try firstCell(row: 3) }
        #expect(handle.counts.readerOpens == 2)
        // A formula trace wants a reader that does not evaluate: its own slot.
        try handle.withReader(evaluatingFormulas: false, token: token) { _ in }
        try handle.withReader(evaluatingFormulas: false, token: token) { _ in }
        #expect(handle.counts.readerOpens == 3)
        // The file changes: its identity is checked before the kept reader is used.
        try Data(Self.csv(rows: 30, seed: 2).utf8).write(to: URL(fileURLWithPath: path))
        #expect(try firstCell(row: 1) == .string("East"))
        #expect(handle.counts.readerOpens == 4 && handle.counts.opens == 2)
        // A read that throws does not keep its reader.
        #expect(throws: CancellationError.self) { try handle.withReader(token: token) { _ in throw CancellationError() } }
        _ = try firstCell(row: 1)
        #expect(handle.counts.readerOpens == 5)
    }

    @Test func keptReadersAreBoundedLeastRecentlyUsedFirstOut() throws {
        let p = try Place(); defer { p.dir.cleanup() }
        let kept = KeptReaders(capacity: 2)
        let token = CancellationToken()
        let handles = try (0..<3).map { i in try p.handle(try p.file("f\(i).csv", Self.csv(rows: 5, seed: i)), keptReaders: kept) }
        for h in handles { try h.withReader(token: token) { _ in } }
        #expect(kept.count == 2)
        // The first was closed (least recently used); the other two are reused.
        try handles[2].withReader(token: token) { _ in }
        try handles[1].withReader(token: token) { _ in }
        #expect(handles.map(\.counts.readerOpens) == [1, 1, 1])
        try handles[0].withReader(token: token) { _ in }
        #expect(handles[0].counts.readerOpens == 2 && kept.count == 2)
        // A handle that goes away closes its readers.
        var gone: WorkbookHandle? = try p.handle(try p.file("gone.csv", Self.csv(rows: 5)), keptReaders: kept)
        try gone?.withReader(token: token) { _ in }
        #expect(kept.count == 2)
        gone = nil
        #expect(kept.count == 1)
        // Nothing kept with no room.
        let none = KeptReaders(capacity: 0)
        let h = try p.handle(try p.file("none.csv", Self.csv(rows: 5)), keptReaders: none)
        try h.withReader(token: token) { _ in }
        try h.withReader(token: token) { _ in }
        #expect(h.counts.readerOpens == 2 && none.count == 0)
    }

    // MARK: - Identity

    @Test func identityEqualityCases() throws {
        let p = try Place(); defer { p.dir.cleanup() }
        let path = try p.file("id.csv", "a,b\n1,2\n")
        let a = try FileIdentity(workbookAt: path)
        #expect(try FileIdentity(workbookAt: path) == a)
        #expect(FileIdentity(path: path) == a)
        // Same size and inode, another mtime.
        var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 5), timespec(tv_sec: 1_600_000_000, tv_nsec: 5)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let b = try FileIdentity(workbookAt: path)
        #expect(b != a && b.size == a.size && b.inode == a.inode && b.mtimeNanos == 1_600_000_000_000_000_005)
        // Same mtime, another size.
        try Data("a,b\n1,2\n3,4\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let c = try FileIdentity(workbookAt: path)
        #expect(c != b && c.mtimeNanos == b.mtimeNanos && c.size != b.size)
        // A copy with the same bytes and times: another inode.
        let copy = try p.file("copy.csv", "a,b\n1,2\n3,4\n")
        #expect(utimensat(AT_FDCWD, copy, &times, 0) == 0)
        let d = try FileIdentity(workbookAt: copy)
        #expect(d != c && d.size == c.size && d.mtimeNanos == c.mtimeNanos && d.inode != c.inode)
        // What is not a workbook file.
        #expect { try FileIdentity(workbookAt: p.dir.url.path) } throws: { ($0 as? WorkbookError)?.kind == .unsupportedFormat }
        #expect { try FileIdentity(workbookAt: path + ".missing") } throws: { ($0 as? WorkbookError)?.kind == .fileNotFound }
        #expect(FileIdentity(path: path + ".missing") == nil)
        let fifo = p.dir.url.appendingPathComponent("pipe.csv").path
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect { try FileIdentity(workbookAt: fifo) } throws: { ($0 as? WorkbookError)?.kind == .unsupportedFormat }
    }

    // MARK: - Errors keep their kinds

    @Test func aFullIndexStillOpensTheOutlineAndEnsureReportsStorageFull() async throws {
        let p = try Place(maxIndexFileBytes: 64 * 1024); defer { p.dir.cleanup() }
        let path = try p.file("wide.csv", Self.csv(rows: 4_000))
        let handle = try p.handle(path)
        let outline = try #require(handle.outline)
        #expect(outline.sheets.first?.tables.count == 1)
        #expect(handle.counts.tableBuilds == 0)
        await #expect { try await handle.ensureIndexed() } throws: { ($0 as? IndexError)?.kind == .storageFull }
        #expect(p.stagingFiles.isEmpty)
        // A store that cannot be opened at all: the outline still comes from the file.
        struct Unusable: Error {}
        let bare = try WorkbookHandle.open(path: path, id: "bare", storage: { throw Unusable() })
        #expect(bare.outline?.contentHash == outline.contentHash)
        await #expect(throws: Unusable.self) { try await bare.ensureIndexed() }
    }
}

/// A count shared between tasks.
final class Tally: Sendable {
    private let n = Mutex(0)
    func add() { n.withLock { $0 += 1 } }
    var value: Int { n.withLock { $0 } }
}
