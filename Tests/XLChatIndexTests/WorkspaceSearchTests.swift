import Foundation
import Testing
@testable import XLChatIndex
import XLChatWorkbook

/// `WorkspaceIndex.search` over real files, real indexes and real SQLite (issue 12): hits from
/// every file merged by global rank, each naming its file, sheet, range and table; a file whose
/// search part cannot be built is skipped while the rest answer; a changed file gives fresh
/// hits after the refresh; the memory cache and the time budget hold.
@Suite(.timeLimit(.minutes(3))) struct WorkspaceSearchTests {
    static let formats: Set<String> = ["xlsx", "xlsm", "xls", "xlsb", "ods", "csv", "tsv"]

    struct Fixture {
        let data: TempDir, folder: TempDir
        let index: WorkbookIndex
        let ws: WorkspaceIndex
        func cleanup() { data.cleanup(); folder.cleanup() }
    }

    static func fixture(_ files: [String: String], cacheBytes: Int = 256 << 20) async throws -> Fixture {
        let data = try TempDir(), folder = try TempDir()
        try WorkspaceIndexTests.write(folder.url, files)
        let index = try WorkbookIndex(dataDirectory: data.url)
        let ws = try WorkspaceIndex(index: index, root: folder.url.path,
                                    scanner: WorkspaceScanner(extensions: formats, skipDirectories: [data.url.path]),
                                    searchCacheBytes: cacheBytes)
        _ = try await ws.refresh(build: ws.defaultBuilder())
        return Fixture(data: data, folder: folder, index: index, ws: ws)
    }

    static func search(_ f: Fixture, _ q: String, limit: Int = 10, budget: Double = 10) async throws -> WorkspaceSearchResult {
        let e = HashingEmbedder()
        return try await f.ws.search(query: q, limit: limit, embedder: e, timeBudget: budget, buildSearch: f.ws.defaultSearchBuilder(embedder: e))
    }

    static let files: [String: String] = [
        "sales/orders_2024.csv": "OrderId,Customer,Product,Amount\nORD-11730,Acme Corp,Widget,120.5\nORD-11731,Globex,Gadget,99\nORD-11732,Initech,Sprocket,45\n",
        "sales/orders_2025.csv": "OrderId,Customer,Product,Amount\nORD-22001,Acme Corp,Gizmo,300\nORD-22002,Umbrella,Widget,12\n",
        "customers.csv": "Customer,Segment,Region\nAcme Corp,Enterprise,North\nGlobex,Retail,South\nInitech,Retail,East\nUmbrella,Enterprise,West\n",
    ]

    @Test func hitsFromEveryFileNameTheirFileSheetRangeAndTable() async throws {
        let f = try await Self.fixture(Self.files)
        defer { f.cleanup() }
        let r = try await Self.search(f, "ORD-22001")
        #expect(r.filesSearched == 3)
        #expect(r.filesBuilt == 3)          // first search builds every file's search part
        #expect(r.skipped.isEmpty)
        let top = try #require(r.hits.first)
        #expect(top.relativePath == "sales/orders_2025.csv")
        #expect(top.sheet == "orders_2025")
        #expect(top.range == CellRange(rows: 1...1, columns: 0...3))
        #expect(top.table == "orders_2025")
        #expect(top.text.contains("ORD-22001"))

        // A name in three files: hits from each of them, each with its own table.
        let acme = try await Self.search(f, "Acme Corp", limit: 20)
        let files = Set(acme.hits.filter { $0.kind == "row" }.map(\.relativePath))
        #expect(files == ["sales/orders_2024.csv", "sales/orders_2025.csv", "customers.csv"])
        for h in acme.hits where h.kind == "row" {
            let expected = f.ws.tablesByFile[h.relativePath]
            #expect(expected?.contains(h.table ?? "-") == true, "\(h)")
        }
        #expect(acme.hits.map(\.score) == acme.hits.map(\.score).sorted(by: >))
        // The second search builds nothing.
        #expect(try await Self.search(f, "Widget").filesBuilt == 0)
    }

    /// With one file, the global ranks are that file's ranks: the same hits in the same order
    /// as `index/search` (`WorkbookIndex.search`).
    @Test func oneFileRanksAsTheWorkbookSearchDoes() async throws {
        let f = try await Self.fixture(["customers.csv": Self.files["customers.csv"]!])
        defer { f.cleanup() }
        for q in ["Enterprise North", "Retail", "Initech East", "nothing-like-this"] {
            let ws = try await Self.search(f, q, limit: 8)
            let hash = try #require(try f.ws.entries().first?.contentHash)
            let one = try await f.index.search(hash: hash, query: q, limit: 8, embedder: HashingEmbedder())
            #expect(ws.hits.map(\.range) == one.map(\.range), "\(q)")
            #expect(ws.hits.map(\.text) == one.map(\.text), "\(q)")
            #expect(zip(ws.hits.map(\.score), one.map(\.score)).allSatisfy { abs($0 - $1) < 1e-12 }, "\(q)")
        }
    }

    /// A workbook that went corrupt after it was indexed (same size and mtime, so the
    /// workspace still lists it as ready): its search part cannot be built; it is skipped with
    /// its error and the other files answer. A corrupt search file is rebuilt.
    @Test func aFileWhoseSearchPartCannotBeBuiltIsSkippedAndTheRestAnswer() async throws {
        // A real xlsx (from the corpus) whose bytes we spoil while keeping its identity.
        let xlsx = try #require(ODSIndexTests.corpusFile("calamine__table-multiple.xlsx"))
        let f = try await Self.fixture(Self.files)
        defer { f.cleanup() }
        let target = f.folder.url.appendingPathComponent("codes.xlsx").path
        try FileManager.default.copyItem(atPath: xlsx, toPath: target)
        _ = try await f.ws.refresh(build: f.ws.defaultBuilder())
        #expect(try f.ws.entries().first { $0.relativePath == "codes.xlsx" }?.error == nil)

        // Spoil it: same length, same mtime.
        let attrs = try FileManager.default.attributesOfItem(atPath: target)
        let size = (attrs[.size] as! NSNumber).intValue
        var st = stat(); stat(target, &st)
        try Data(repeating: 0x41, count: size).write(to: URL(fileURLWithPath: target))
        var times = [st.st_atim, st.st_mtim]
        #expect(utimensat(AT_FDCWD, target, &times, 0) == 0)

        // And a corrupt search file for another (it is rebuilt).
        let customersHash = try #require(try f.ws.entries().first { $0.relativePath == "customers.csv" }?.contentHash)
        try Data("not sqlite at all".utf8).write(to: URL(fileURLWithPath: f.index.searchPath(customersHash)))

        let started = Date()
        let r = try await Self.search(f, "Umbrella Enterprise")
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(r.skipped.map(\.relativePath) == ["codes.xlsx"])
        #expect(r.skipped.first?.kind == "corruptWorkbook")
        #expect(r.filesSearched == 3)
        #expect(Set(r.hits.map(\.relativePath)).isSuperset(of: ["customers.csv", "sales/orders_2025.csv"]))
    }

    /// A file changed on disk: until the refresh, its hits are the indexed version's (and a
    /// missing part of a changed file is not built from the new bytes); after it, fresh hits.
    @Test func aChangedFileGivesFreshHitsAfterTheRefresh() async throws {
        let f = try await Self.fixture(Self.files)
        defer { f.cleanup() }
        #expect(try await Self.search(f, "ORD-22002").hits.first?.relativePath == "sales/orders_2025.csv")

        try WorkspaceIndexTests.write(f.folder.url, ["sales/orders_2025.csv": "OrderId,Customer,Product,Amount\nORD-99117,Hooli,Doohickey,77\n"])
        let before = try await Self.search(f, "ORD-99117")
        #expect(!before.hits.contains { $0.text.contains("ORD-99117") })

        let refreshed = try await f.ws.refresh(build: f.ws.defaultBuilder())
        #expect(refreshed.filesRead == 1)
        let after = try await Self.search(f, "ORD-99117")
        #expect(after.filesBuilt == 1)       // only the changed file's new version
        let top = try #require(after.hits.first)
        #expect(top.relativePath == "sales/orders_2025.csv")
        #expect(top.text.contains("ORD-99117"))
        #expect(top.table == "orders_2025")
        let old = try await Self.search(f, "ORD-22002", limit: 50)
        #expect(!old.hits.contains { $0.text.contains("ORD-22002") })
    }

    /// Bounded: with no cache budget nothing stays open and the hits are the same; a time
    /// budget of zero stops before the files and says so; the candidate lists stay at depth.
    @Test func memoryCacheAndTimeBudgetBoundTheSearch() async throws {
        var files: [String: String] = [:]
        for i in 0..<40 {
            files[String(format: "part_%02d.csv", i)] = "Code,Note\n" + (0..<30).map { "K\(i)-\($0),shared term row \($0)" }.joined(separator: "\n") + "\n"
        }
        let cached = try await Self.fixture(files)
        defer { cached.cleanup() }
        let a = try await Self.search(cached, "shared term", limit: 25)
        #expect(a.hits.count == 25)
        #expect(cached.ws.searchCache.openCount == 40)

        let uncached = try await Self.fixture(files, cacheBytes: 0)
        defer { uncached.cleanup() }
        let b = try await Self.search(uncached, "shared term", limit: 25)
        #expect(uncached.ws.searchCache.openCount == 0)
        #expect(a.hits.map(\.text) == b.hits.map(\.text))

        let cut = try await Self.search(cached, "shared term", budget: 0)
        #expect(cut.truncated?.contains("searched 0 of 40 files") == true)
        #expect(cut.hits.isEmpty)
    }

    /// The time budget is the query phase's: a first search whose search-part builds take
    /// longer than the budget (a big file, a slow embedder) still searches every file. It used
    /// to count the builds too and answer "searched 0 of N files" with no hits.
    @Test func slowBuildsDoNotEatTheQueryBudget() async throws {
        let f = try await Self.fixture(Self.files)
        defer { f.cleanup() }
        let e = HashingEmbedder()
        let direct = f.ws.defaultSearchBuilder(embedder: e)
        let clock = ContinuousClock()
        let started = clock.now
        let r = try await f.ws.search(query: "ORD-22001", limit: 10, embedder: e, timeBudget: 0.5, buildSearch: { path, hash in
            try await direct(path, hash)
            try await Task.sleep(for: .milliseconds(400))   // three builds: 1.2 s > the 0.5 s budget
        })
        #expect(r.filesBuilt == 3)
        #expect(r.truncated == nil, "\(r.truncated ?? "")")
        #expect(r.filesSearched == 3)
        #expect(r.hits.first?.relativePath == "sales/orders_2025.csv")
        #expect(clock.now - started < .seconds(20))
    }
}

extension WorkspaceIndex {
    /// Workspace table names by file (for the tests).
    var tablesByFile: [String: [String]] {
        Dictionary(grouping: (try? tables()) ?? [], by: \.relativePath).mapValues { $0.map(\.name) }
    }
}
