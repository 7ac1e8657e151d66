import Foundation
import Testing
import XLChatIndex
import XLChatWorkbook
#if canImport(Glibc)
import Glibc
#endif

/// Real child processes: kill -9 one mid-build; run two at once on one data directory.
@Suite(.serialized) struct CrashSafetyTests {
    static var child: URL? {
        let url = productsDirectory().appendingPathComponent("xlchat-testchild")
        return FileManager.default.isExecutableFile(atPath: url.path) ? url : nil
    }

    func spawn(_ child: URL, _ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = child
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Waits until a staging file of `hash` has grown past `bytes`, or the child exited.
    func waitForStaging(_ dir: TempDir, hash: String, bytes: Int, child: Process) async throws -> Bool {
        for _ in 0..<6000 {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.indexDir.path)) ?? []
            for n in names where n.hasPrefix(hash + ".staging-") {
                let size = (try? FileManager.default.attributesOfItem(atPath: dir.indexDir.appendingPathComponent(n).path)[.size] as? Int) ?? 0
                if size > bytes { return true }
            }
            if !child.isRunning { return false }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        return false
    }

    @Test(.enabled(if: child != nil, "xlchat-testchild is not built; run `swift build --build-tests`"))
    func killedFirstBuildLeavesNothingAndIsRebuilt() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let hash = "feed01"
        let p = try spawn(Self.child!, ["build", dir.url.path, "200000", hash])
        let midBuild = try await waitForStaging(dir, hash: hash, bytes: 2_000_000, child: p)
        try #require(midBuild, "the child finished before it could be killed: make the workbook bigger")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)

        let index = try WorkbookIndex(dataDirectory: dir.url)
        // Never served half-built: the final file does not exist; the workbook is known but unbuilt.
        #expect(!FileManager.default.fileExists(atPath: dir.indexDir.appendingPathComponent(hash + ".sqlite").path))
        #expect(try !index.status(hash: hash).built)
        expectIndexError(.indexNotBuilt) { _ = try index.query(hash: hash, sql: "SELECT 1") }

        // Started again, the build completes and cleans up the dead child's staging file.
        let (reader, outline) = try SyntheticWorkbook.mixed(rows: 2000, contentHash: hash)
        let r = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder())
        #expect(!r.reused)
        let q = try index.query(hash: hash, sql: "SELECT count(*) FROM Orders")
        #expect(q.rows == [[.integer(2000)]])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.indexDir.path).filter { $0.contains("staging") }
        #expect(leftovers.isEmpty)
    }

    @Test(.enabled(if: child != nil, "xlchat-testchild is not built; run `swift build --build-tests`"))
    func killedRebuildKeepsThePreviousCompleteIndex() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let hash = "feed02"
        let index = try WorkbookIndex(dataDirectory: dir.url)
        let (reader, outline) = try SyntheticWorkbook.mixed(rows: 60000, contentHash: hash)
        _ = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder())
        let before = try index.status(hash: hash)

        let p = try spawn(Self.child!, ["build", dir.url.path, "60000", hash, "--force"])
        let midBuild = try await waitForStaging(dir, hash: hash, bytes: 2_000_000, child: p)
        try #require(midBuild, "the child finished before it could be killed")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()

        let after = try WorkbookIndex(dataDirectory: dir.url).status(hash: hash)
        #expect(after.built)
        #expect(after.builtAt == before.builtAt)
        #expect(after.chunks == before.chunks)
        let q = try index.query(hash: hash, sql: "SELECT count(*), max(OrderID) FROM Orders")
        #expect(q.rows == [[.integer(60000), .integer(70000)]])
        let hits = try await index.search(hash: hash, query: "ORD-12345", limit: 1, embedder: HashingEmbedder())
        #expect(hits.first?.range.description == "A2346:T2346")
    }

    @Test(.enabled(if: child != nil, "xlchat-testchild is not built; run `swift build --build-tests`"))
    func twoProcessesBuildingOneDirectoryDoNotCorruptIt() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let a = try spawn(Self.child!, ["build", dir.url.path, "5000", "beef01"])
        let b = try spawn(Self.child!, ["build", dir.url.path, "5000", "beef01"])
        let c = try spawn(Self.child!, ["build", dir.url.path, "3000", "beef02"])
        for p in [a, b, c] { p.waitUntilExit() }
        #expect([a, b, c].map(\.terminationStatus) == [0, 0, 0])
        let index = try WorkbookIndex(dataDirectory: dir.url)
        #expect(try index.query(hash: "beef01", sql: "SELECT count(*) FROM Orders").rows == [[.integer(5000)]])
        #expect(try index.query(hash: "beef02", sql: "SELECT count(*) FROM Orders").rows == [[.integer(3000)]])
        // The search file is whole: its chunk count is recorded, and a known row is found.
        #expect(try index.status(hash: "beef01").searchReady)
        #expect(try index.status(hash: "beef01").chunks > 0)
        let hits = try await index.search(hash: "beef01", query: "ORD-12345", limit: 1, embedder: HashingEmbedder())
        #expect(hits.first?.range.description == "A2346:T2346")
        // The one that waited for the lock found the other's index and reused it.
        let (reader, outline) = try SyntheticWorkbook.mixed(rows: 5000, contentHash: "beef01")
        let again = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder())
        #expect(again.reused)
    }
}
