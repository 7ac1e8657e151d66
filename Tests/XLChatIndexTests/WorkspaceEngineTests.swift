import Foundation
import GRDB
import Testing
@testable import XLChatIndex
#if canImport(Glibc)
import Glibc
#endif

/// The workspace engine pieces (issue 12): which files of a folder are workbooks, the names
/// tables get in the workspace's one SQL namespace, and join fan-out warnings.
@Suite struct WorkspaceScannerTests {
    static let formats: Set<String> = ["xlsx", "xlsm", "xls", "xlsb", "ods", "csv", "tsv"]

    /// A folder tree from `relative path: contents` (nil makes a folder).
    static func tree(_ entries: [String: String?]) throws -> TempDir {
        let dir = try TempDir()
        for (rel, content) in entries.sorted(by: { $0.key < $1.key }) {
            let url = dir.url.appendingPathComponent(rel)
            if let content {
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(content.utf8).write(to: url)
            } else {
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            }
        }
        return dir
    }

    @Test func skipsHiddenLockAndOwnerFilesAndOtherFormats() throws {
        let dir = try Self.tree([
            "orders.csv": "a,b\n1,2\n",
            "Sales 2024.XLSX": "x",
            "~$Sales 2024.xlsx": "owner file",
            ".~lock.report.ods#": "lock",
            ".git/config.csv": "a\n",
            ".hidden.csv": "a\n",
            "notes.txt": "not a workbook",
            "sub/deeper/customers.tsv": "a\tb\n",
            "sub/archive.zip": "zip",
        ])
        defer { dir.cleanup() }
        let listing = try WorkspaceScanner(extensions: Self.formats).scan(dir.url.path)
        #expect(listing.files.map(\.relativePath) == ["Sales 2024.XLSX", "orders.csv", "sub/deeper/customers.tsv"])
        #expect(listing.problems.isEmpty)
        #expect(listing.truncation == nil)
        #expect(listing.files[1].size == 8)
    }

    @Test func includeAndExcludeGlobs() throws {
        let dir = try Self.tree([
            "2024/jan.csv": "a\n", "2024/feb.csv": "a\n", "2024/summary.xlsx": "x",
            "old/2019.csv": "a\n", "top.csv": "a\n",
        ])
        defer { dir.cleanup() }
        let csvOnly = try WorkspaceScanner(extensions: Self.formats, include: ["*.csv"]).scan(dir.url.path)
        #expect(csvOnly.files.map(\.relativePath) == ["2024/feb.csv", "2024/jan.csv", "old/2019.csv", "top.csv"])
        let noOld = try WorkspaceScanner(extensions: Self.formats, exclude: ["old/*", "summary.*"]).scan(dir.url.path)
        #expect(noOld.files.map(\.relativePath) == ["2024/feb.csv", "2024/jan.csv", "top.csv"])
        let folder = try WorkspaceScanner(extensions: Self.formats, include: ["2024/*"]).scan(dir.url.path)
        #expect(folder.files.count == 3)
    }

    @Test func theDataDirectoryIsSkippedByIdentityNotName() throws {
        let dir = try Self.tree(["a.csv": "x\n", "store/index/t.csv": "x\n"])
        defer { dir.cleanup() }
        // Reached through another spelling of the path: still skipped.
        let dataDir = dir.url.path + "/./store"
        let listing = try WorkspaceScanner(extensions: Self.formats, skipDirectories: [dataDir]).scan(dir.url.path)
        #expect(listing.files.map(\.relativePath) == ["a.csv"])
    }

    @Test func symlinkLoopsAndDanglingLinksAreReportedNotFollowedForever() throws {
        let dir = try Self.tree(["data/a.csv": "x\n", "data/inner/b.csv": "y\n"])
        defer { dir.cleanup() }
        let root = dir.url.path
        try FileManager.default.createSymbolicLink(atPath: root + "/data/inner/up", withDestinationPath: root + "/data")
        try FileManager.default.createSymbolicLink(atPath: root + "/data/self.csv", withDestinationPath: root + "/data/self.csv")
        try FileManager.default.createSymbolicLink(atPath: root + "/data/gone.xlsx", withDestinationPath: root + "/nowhere.xlsx")
        try FileManager.default.createSymbolicLink(atPath: root + "/alias.csv", withDestinationPath: root + "/data/a.csv")
        let clock = ContinuousClock()
        let start = clock.now
        let listing = try WorkspaceScanner(extensions: Self.formats).scan(root)
        #expect(clock.now - start < .seconds(2))
        #expect(listing.files.map(\.relativePath) == ["alias.csv", "data/a.csv", "data/inner/b.csv"])
        let problems = Dictionary(uniqueKeysWithValues: listing.problems.map { ($0.relativePath, $0.message) })
        #expect(problems["data/inner/up"]?.contains("loop") == true)
        #expect(problems["data/self.csv"]?.contains("loop") == true)
        #expect(problems["data/gone.xlsx"]?.contains("symlink to nothing") == true)
    }

    @Test func aFileOrAMissingPathIsAnErrorNotAnEmptyWorkspace() throws {
        let dir = try Self.tree(["a.csv": "x\n"])
        defer { dir.cleanup() }
        let scanner = WorkspaceScanner(extensions: Self.formats)
        #expect(throws: WorkspaceScanError.notAFolder(dir.url.path + "/a.csv")) { try scanner.scan(dir.url.path + "/a.csv") }
        #expect(throws: WorkspaceScanError.notFound(dir.url.path + "/missing")) { try scanner.scan(dir.url.path + "/missing") }
        let message = WorkspaceScanError.notAFolder("/x/a.csv").description
        #expect(message.contains("is a file, not a folder"))
    }

    @Test(.enabled(if: geteuid() != 0, "root reads every folder; permission denied cannot be made as root"))
    func anUnreadableSubfolderIsReportedAndTheRestWorks() throws {
        let dir = try Self.tree(["ok.csv": "x\n", "locked/secret.csv": "x\n"])
        defer { chmod(dir.url.path + "/locked", 0o755); dir.cleanup() }
        chmod(dir.url.path + "/locked", 0)
        let listing = try WorkspaceScanner(extensions: Self.formats).scan(dir.url.path)
        #expect(listing.files.map(\.relativePath) == ["ok.csv"])
        #expect(listing.problems.first?.relativePath == "locked")
        #expect(listing.problems.first?.message.contains("Permission denied") == true)
    }

    @Test func tenThousandFilesAreCappedWithAClearMessageInBoundedTime() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        for folder in 0..<10 {
            let sub = dir.url.appendingPathComponent("m\(folder)")
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            for i in 0..<1_001 { FileManager.default.createFile(atPath: sub.path + "/f\(i).csv", contents: nil) }
        }
        let clock = ContinuousClock()
        let start = clock.now
        let listing = try WorkspaceScanner(extensions: Self.formats).scan(dir.url.path)
        let elapsed = clock.now - start
        print("issue12 scan of 10,010 files: \(elapsed)")
        #expect(elapsed < .seconds(10))
        #expect(listing.files.count == 10_000)
        #expect(listing.truncation?.contains("more than 10000 workbooks") == true)
        // The cap is stable: the same first 10,000 in path order every time.
        #expect(listing.files.last?.relativePath == "m9/f99.csv")
        let small = try WorkspaceScanner(extensions: Self.formats, maxFiles: 5).scan(dir.url.path)
        #expect(small.files.map(\.relativePath) == ["m0/f0.csv", "m0/f1.csv", "m0/f10.csv", "m0/f100.csv", "m0/f1000.csv"])
    }

    @Test func specialFilesAreNeverWorkbooks() throws {
        let dir = try Self.tree(["a.csv": "x\n"])
        defer { dir.cleanup() }
        #expect(mkfifo(dir.url.path + "/pipe.csv", 0o644) == 0)
        let listing = try WorkspaceScanner(extensions: Self.formats).scan(dir.url.path)
        #expect(listing.files.map(\.relativePath) == ["a.csv"])
        // Named like a workbook, it is listed with the reason, as unreadable files are.
        #expect(listing.problems.map(\.relativePath) == ["pipe.csv"])
        #expect(listing.problems.first?.message.contains("not a regular file") == true)
        // A pipe not named like a workbook is nobody's business.
        #expect(mkfifo(dir.url.path + "/other.pipe", 0o644) == 0)
        #expect(try WorkspaceScanner(extensions: Self.formats).scan(dir.url.path).problems.count == 1)
    }

    /// Opening a subfolder whose symlink points back up (`sub/up -> ..`, or to the filesystem
    /// root) does not pull in the folders that contain it; the link is listed as a problem and
    /// a link to a sibling folder is still followed.
    @Test func aLinkToAFolderThatContainsTheWorkspaceIsNotEntered() throws {
        let dir = try Self.tree(["big.csv": "x\n1\n", "sub/a.csv": "x\n2\n", "sibling/b.csv": "x\n3\n"])
        defer { dir.cleanup() }
        let sub = dir.url.appendingPathComponent("sub").path
        #expect(symlink("..", sub + "/up") == 0)
        #expect(symlink(dir.url.path, sub + "/top") == 0)
        #expect(symlink("/", sub + "/root") == 0)
        #expect(symlink("../sibling", sub + "/side") == 0)
        let clock = ContinuousClock(), start = clock.now
        let listing = try WorkspaceScanner(extensions: Self.formats).scan(sub)
        #expect(clock.now - start < .seconds(5))
        #expect(listing.files.map(\.relativePath) == ["a.csv", "side/b.csv"])
        #expect(Set(listing.problems.map(\.relativePath)) == ["root", "top", "up"])
        #expect(listing.problems.allSatisfy { $0.message.contains("contains this workspace") })
    }

    /// A file whose name is not UTF-8 (Latin-1 `caf\xE9.csv`) is listed as a problem, not
    /// silently left out; the rest of the folder works.
    @Test func aNameThatIsNotUTF8IsReportedNotDropped() throws {
        let dir = try Self.tree(["a.csv": "x\n"])
        defer { dir.cleanup() }
        var raw = Array((dir.url.path + "/caf").utf8CString.dropLast())
        raw.append(CChar(bitPattern: 0xE9)); raw.append(contentsOf: Array(".csv".utf8CString))
        let fd = open(raw, O_CREAT | O_WRONLY, 0o644)
        #expect(fd >= 0)
        close(fd)
        let listing = try WorkspaceScanner(extensions: Self.formats).scan(dir.url.path)
        #expect(listing.files.map(\.relativePath) == ["a.csv"])
        #expect(listing.problems.count == 1)
        #expect(listing.problems.first?.message.contains("not valid UTF-8") == true)
        #expect(listing.problems.first?.relativePath.hasPrefix("caf") == true)
    }
}

@Suite struct WorkspaceNamesTests {
    static func src(_ path: String, _ table: String, _ columns: [String] = ["a", "b"]) -> WorkspaceTableSource {
        WorkspaceTableSource(relativePath: path, table: table, columns: columns)
    }

    @Test func readableNamesFromFileAndTable() {
        let ns = WorkspaceNames.assign([
            Self.src("Sales 2024.xlsx", "Orders", ["Region", "Revenue"]),
            Self.src("Sales 2024.xlsx", "Targets", ["Region", "Target"]),
            Self.src("customers.csv", "customers", ["id", "segment"]),
            Self.src("2023 report.xlsx", "Summary", ["k", "v"]),
            Self.src("Umsätze.xlsx", "Übersicht", ["k", "v2"]),
        ])
        #expect(ns.names == ["sales_2024__orders", "sales_2024__targets", "customers", "t_2023_report__summary", "umsätze__übersicht"])
        #expect(ns.unions.isEmpty)
    }

    @Test func sameFileNameInTwoFoldersGetsTheFolder() {
        let ns = WorkspaceNames.assign([
            Self.src("2023/sales.xlsx", "Orders"), Self.src("2024/sales.xlsx", "Orders", ["x", "y"]),
            Self.src("a/b/data.csv", "data"), Self.src("c/b/data.csv", "data", ["p", "q"]),
            Self.src("x/report.csv", "report"), Self.src("x/report.xlsx", "Sheet1", ["z", "w"]),
        ])
        #expect(ns.names == ["t_2023_sales__orders", "t_2024_sales__orders", "a_b_data", "c_b_data", "x_report_csv", "x_report_xlsx__sheet1"])
        #expect(Set(ns.names).count == ns.names.count)
    }

    @Test func namesCollidingAfterCleaningStayDistinct() {
        let ns = WorkspaceNames.assign([
            Self.src("book.xlsx", "Q1 Sales", ["a"]), Self.src("book.xlsx", "Q1-Sales", ["b"]), Self.src("book.xlsx", "q1_sales", ["c"]),
        ])
        #expect(ns.names == ["book__q1_sales", "book__q1_sales_2", "book__q1_sales_3"])
    }

    @Test func monthlyExportsGetOneUnionView() {
        var sources: [WorkspaceTableSource] = []
        for m in 1...12 {
            // Column order and case differ between months: still one shape.
            let cols = m % 2 == 0 ? ["Date", "Region", "Amount"] : ["region", "date", "amount"]
            sources.append(Self.src(String(format: "exports/orders_2024_%02d.csv", m), String(format: "orders_2024_%02d", m), cols))
        }
        sources.append(Self.src("exports/customers.csv", "customers", ["id", "name"]))
        let ns = WorkspaceNames.assign(sources)
        #expect(ns.unions.count == 1)
        #expect(ns.unions[0].name == "orders")
        #expect(ns.unions[0].members.count == 12)
        #expect(ns.unions[0].members.first == "orders_2024_01")
        #expect(ns.unions[0].columns == ["region", "date", "amount"])
    }

    @Test func sameSheetInMonthlyWorkbooksIsNamedAfterTheSheet() {
        let sources = ["jan", "feb", "mar"].map { Self.src("sales_\($0).xlsx", "Orders", ["Region", "Revenue"]) }
            + ["jan", "feb", "mar"].map { Self.src("sales_\($0).xlsx", "Notes", ["Text", "Author"]) }
        let ns = WorkspaceNames.assign(sources)
        #expect(ns.unions.map(\.name) == ["orders", "notes"])
        #expect(ns.unions[0].members == ["sales_feb__orders", "sales_jan__orders", "sales_mar__orders"])
    }

    @Test func aUnionNameNeverShadowsATable() {
        let ns = WorkspaceNames.assign([
            Self.src("orders.csv", "orders", ["id", "amount"]),
            Self.src("orders_2024.csv", "orders_2024", ["id", "amount"]),
        ])
        #expect(ns.names == ["orders", "orders_2024"])
        #expect(ns.unions.map(\.name) == ["orders_all"])
    }

    /// The same columns under unrelated names are not one export (break12: `Sheet 1` A,B,C was
    /// unioned with `zero rows.csv` a,b,c, and two unrelated k,v files made `union_1`).
    @Test func sameColumnsUnderUnrelatedNamesAreNotUnioned() {
        let ns = WorkspaceNames.assign([
            Self.src("multiple-sheets.xls", "Sheet 1", ["A", "B", "C"]), Self.src("zero rows.csv", "zero rows", ["a", "b", "c"]),
            Self.src("name.with.dots v2.csv", "name.with.dots v2", ["k", "v"]), Self.src("données €.csv", "données €", ["k", "v"]),
        ])
        #expect(ns.unions.isEmpty, "\(ns.unions)")
    }

    /// Renaming one monthly file out of the pattern takes it out of the union; the union keeps
    /// its name and the other months (break12: the union `orders` became `union_1`).
    @Test func renamingOneMemberKeepsTheUnionAndItsName() {
        func months(_ renamed: Bool) -> [WorkspaceTableSource] {
            (1...12).map { m in
                let path = renamed && m == 3 ? "ördérs 2024-03.csv" : String(format: "orders_2024_%02d.csv", m)
                return Self.src(path, WorkspaceNames.stem(path), ["id", "amount"])
            }
        }
        let before = WorkspaceNames.assign(months(false)), after = WorkspaceNames.assign(months(true))
        #expect(before.unions.map(\.name) == ["orders"] && before.unions[0].members.count == 12)
        #expect(after.unions.map(\.name) == ["orders"] && after.unions[0].members.count == 11)
    }

    /// Generated spellings of one monthly export (dates before, after or inside the name, month
    /// names, separators, sheets named with dates, files named by dates in a named folder) give
    /// one union named after the export; files named by dates alone at the top get `union_1`.
    @Test(arguments: 0..<8) func datedNamesInManySpellingsGiveOneNamedUnion(seed: Int) {
        var rng = SplitMix(seed: UInt64(seed) &+ 11)  // XLChatIndex's, so a failure replays by its seed
        let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let sep = [" ", "_", "-", "."][Int(rng.next() % 4)]
        let base = ["Sales", "orders", "Invoice Lines", "Umsätze"][Int(rng.next() % 4)]
        let expected = WorkspaceNames.sqlWord(base)
        let style = Int(rng.next() % 5)
        let count = 2 + Int(rng.next() % 10)
        var sources: [WorkspaceTableSource] = []
        for m in 1...count {
            let mm = String(format: "%02d", m)
            let columns = m % 2 == 0 ? ["Date", "Amount"] : ["amount", "date"]
            switch style {
            case 0: sources.append(Self.src("\(base)\(sep)2024\(sep)\(mm).csv", "\(base)\(sep)2024\(sep)\(mm)", columns))
            case 1: sources.append(Self.src("2024\(sep)\(mm)\(sep)\(base).csv", "2024\(sep)\(mm)\(sep)\(base)", columns))
            case 2: sources.append(Self.src("\(base) \(monthNames[m - 1]) 2024.csv", "\(base) \(monthNames[m - 1]) 2024", columns))
            case 3: sources.append(Self.src("book \(m).xlsx", "\(base) 2024-\(mm)", columns))
            default: sources.append(Self.src("\(base)/2024-\(mm).csv", "2024-\(mm)", columns))
            }
        }
        let ns = WorkspaceNames.assign(sources)
        #expect(ns.unions.map(\.name) == [expected], "style \(style) sep '\(sep)': \(ns.unions.map(\.name))")
        #expect(ns.unions.first?.members.count == count)

        let bare = WorkspaceNames.assign((1...3).map { Self.src("2024-0\($0).csv", "2024-0\($0)", ["a", "b"]) })
        #expect(bare.unions.map(\.name) == ["union_1"])
    }

    /// A csv named like the export and a workbook whose sheet is named like it are one export.
    @Test func aCsvAndASheetOfTheSameExportAreOneUnion() {
        let ns = WorkspaceNames.assign([
            Self.src("orders_2024_05.csv", "orders_2024_05", ["id", "amount"]),
            Self.src("may backup.xlsx", "Orders", ["ID", "Amount"]),
        ])
        #expect(ns.unions.map(\.name) == ["orders"])
    }

    @Test func oneFileIsNeverAUnionAndNeitherAreOneColumnTables() {
        let ns = WorkspaceNames.assign([
            Self.src("a.xlsx", "T1", ["x", "y"]), Self.src("a.xlsx", "T2", ["x", "y"]),
            Self.src("b.csv", "b", ["only"]), Self.src("c.csv", "c", ["only"]),
        ])
        #expect(ns.unions.isEmpty)
    }
}

@Suite struct JoinFanoutTests {
    static let tables: Set<String> = ["orders", "Customers", "segments"]

    @Test func findsTheJoinedSidesKeyInTheShapesPeopleWrite() {
        func keys(_ sql: String) -> [JoinKey] { JoinFanout.keys(in: sql, tables: Self.tables) }
        #expect(keys("SELECT sum(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id")
                == [JoinKey(table: "Customers", columns: ["id"])])
        #expect(keys("select * from orders as o left outer join Customers as c on c.id = o.customer_id and c.region = o.region where o.x > 1")
                == [JoinKey(table: "Customers", columns: ["id", "region"])])
        #expect(keys(#"SELECT 1 FROM "orders" INNER JOIN "Customers" ON "orders"."cust" = "Customers"."Customer ID""#)
                == [JoinKey(table: "Customers", columns: ["Customer ID"])])
        #expect(keys("SELECT 1 FROM orders JOIN customers USING (customer_id, region)")
                == [JoinKey(table: "Customers", columns: ["customer_id", "region"])])
        #expect(keys("SELECT * FROM (SELECT o.* FROM orders o JOIN segments s ON s.code = o.seg) t JOIN customers c ON c.id = t.customer_id")
                == [JoinKey(table: "segments", columns: ["code"]), JoinKey(table: "Customers", columns: ["id"])])
        // Not joins: a string, a comment, a CTE name, a table we do not know.
        #expect(keys("SELECT 'x JOIN customers c ON c.id = o.id' -- JOIN customers c ON c.id = o.id\nFROM orders").isEmpty)
        #expect(keys("WITH c AS (SELECT 1 AS id) SELECT * FROM orders o JOIN c ON c.id = o.id").isEmpty)
        #expect(keys("SELECT * FROM orders o JOIN elsewhere e ON e.id = o.id").isEmpty)
    }

    static func database() throws -> DatabaseQueue {
        let db = try DatabaseQueue()
        try db.write { db in
            try db.execute(sql: """
                CREATE TABLE orders(id INTEGER, customer_id INTEGER, amount REAL);
                CREATE TABLE Customers(id INTEGER, segment TEXT);
                CREATE TABLE segments(code TEXT, name TEXT);
                INSERT INTO orders VALUES (1, 10, 100), (2, 11, 50), (3, 12, 25), (4, NULL, 5);
                INSERT INTO Customers VALUES (10, 'retail'), (10, 'retail'), (11, 'trade'), (12, 'trade'), (12, 'trade'), (12, 'retail'), (NULL, 'x'), (NULL, 'y');
                INSERT INTO segments VALUES ('r', 'retail'), ('t', 'trade');
                """)
        }
        return db
    }

    @Test func aRepeatingKeyIsMeasuredAndWorded() throws {
        let db = try Self.database()
        let sql = "SELECT c.segment, sum(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY 1"
        // What the warning is about: the join's total is not the orders' total.
        let joined = try db.read { try Double.fetchOne($0, sql: "SELECT sum(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.id") }
        #expect(joined == Double(100 * 2 + 50 + 25 * 3))
        let warnings = try db.read { d in
            JoinFanout.warnings(for: JoinFanout.keys(in: sql, tables: Self.tables)) { measure in
                let row = try Row.fetchOne(d, sql: measure)!
                return (row[0], row[1])
            }
        }
        #expect(warnings == [JoinFanoutWarning(table: "Customers", columns: ["id"], repeatedKeys: 2, maxRepeat: 3)])
        #expect(warnings[0].message.contains("Customers.id is not unique"))
        #expect(warnings[0].message.contains("2 key values repeat (up to 3 rows each)"))
    }

    @Test func aUniqueKeyOrAMissingColumnGivesNoWarning() throws {
        let db = try Self.database()
        let warnings = try db.read { d in
            JoinFanout.warnings(for: [JoinKey(table: "segments", columns: ["code"]), JoinKey(table: "segments", columns: ["nope"])]) { measure in
                let row = try Row.fetchOne(d, sql: measure)!
                return (row[0], row[1])
            }
        }
        #expect(warnings.isEmpty)
    }
}

/// The folder watcher: added, changed and removed workbooks are noticed, by inotify and by
/// polling, and a save that writes and renames is one change.
@Suite(.timeLimit(.minutes(2))) struct FolderWatcherTests {
    /// Deltas as they come, awaited with a bound (no sleeps).
    final class Deltas: @unchecked Sendable {
        let stream: AsyncStream<WorkspaceDelta>
        let continuation: AsyncStream<WorkspaceDelta>.Continuation
        var iterator: AsyncStream<WorkspaceDelta>.Iterator
        init() {
            (stream, continuation) = AsyncStream.makeStream()
            iterator = stream.makeAsyncIterator()
        }
        /// The next delta, or nil after `seconds`.
        func next(within seconds: Double = 10) async -> WorkspaceDelta? {
            let timeout = Task { [continuation] in
                try? await Task.sleep(for: .seconds(seconds))
                if !Task.isCancelled { continuation.yield(WorkspaceDelta()) }  // an empty delta means: timed out
            }
            defer { timeout.cancel() }
            let d = await iterator.next()
            return d?.isEmpty == true ? nil : d
        }
    }

    func run(forcePolling: Bool) async throws {
        let dir = try WorkspaceScannerTests.tree(["a.csv": "x,y\n1,2\n", "keep/b.csv": "x\n1\n"])
        defer { dir.cleanup() }
        let root = dir.url.path
        // A symlink loop must not make the watcher walk forever.
        try FileManager.default.createSymbolicLink(atPath: root + "/keep/up", withDestinationPath: root)
        let scanner = WorkspaceScanner(extensions: WorkspaceScannerTests.formats)
        let deltas = Deltas()
        let watcher = FolderWatcher(root: root, scanner: scanner, initial: try scanner.scan(root).files,
                                    settle: .milliseconds(100), pollInterval: .milliseconds(200),
                                    forcePolling: forcePolling) { deltas.continuation.yield($0) }
        defer { watcher.stop() }
        if forcePolling { #expect(watcher.mode == .polling(reason: "polling was asked for")) } else { #expect(watcher.mode == .inotify) }

        try Data("x,y\n3,4\n".utf8).write(to: dir.url.appendingPathComponent("new.csv"))
        let added = await deltas.next()
        #expect(added?.added.map(\.relativePath) == ["new.csv"])

        // A save as Excel does it: an owner file, a temporary file renamed over the workbook.
        let target = dir.url.appendingPathComponent("a.csv")
        try Data("owner".utf8).write(to: dir.url.appendingPathComponent("~$a.csv"))
        try Data("x,y\n1,2\n5,6\n".utf8).write(to: dir.url.appendingPathComponent("tmp123.tmp"))
        #expect(rename(dir.url.path + "/tmp123.tmp", target.path) == 0)
        try FileManager.default.removeItem(at: dir.url.appendingPathComponent("~$a.csv"))
        let saved = await deltas.next()
        #expect(saved == WorkspaceDelta(changed: saved?.changed ?? []))
        #expect(saved?.changed.map(\.relativePath) == ["a.csv"])

        // A folder created later is watched too; a removal is noticed.
        try FileManager.default.createDirectory(at: dir.url.appendingPathComponent("later/deep"), withIntermediateDirectories: true)
        try Data("x\n".utf8).write(to: dir.url.appendingPathComponent("later/deep/c.xlsx"))
        var seen = WorkspaceDelta()
        while !seen.added.contains(where: { $0.relativePath == "later/deep/c.xlsx" }), let d = await deltas.next() { seen.added += d.added }
        #expect(seen.added.map(\.relativePath).contains("later/deep/c.xlsx"))
        try Data("x\n2\n".utf8).write(to: dir.url.appendingPathComponent("later/deep/c.xlsx"))
        let deepChange = await deltas.next()
        #expect(deepChange?.changed.map(\.relativePath) == ["later/deep/c.xlsx"])
        try FileManager.default.removeItem(at: dir.url.appendingPathComponent("keep"))
        let removed = await deltas.next()
        #expect(removed?.removed == ["keep/b.csv"])

        // Files that are not workbooks never make a delta; after stop nothing more comes.
        try Data("n".utf8).write(to: dir.url.appendingPathComponent("notes.txt"))
        watcher.stop()
        try Data("x\n9\n".utf8).write(to: dir.url.appendingPathComponent("after-stop.csv"))
        #expect(await deltas.next(within: 1) == nil)
    }

    @Test func inotifyNoticesAddsSavesNewFoldersAndRemovals() async throws { try await run(forcePolling: false) }
    @Test func pollingNoticesTheSame() async throws { try await run(forcePolling: true) }

    /// A workspace folder deleted (or renamed away) is reported as every file removed, by
    /// inotify (the root's own watch ends) and by polling.
    @Test(arguments: [false, true]) func aDeletedRootRemovesEveryFile(forcePolling: Bool) async throws {
        let parent = try WorkspaceScannerTests.tree(["ws/a.csv": "x\n1\n", "ws/sub/b.xlsx": "x", "ws/c.tsv": "x\n2\n"])
        defer { parent.cleanup() }
        let root = parent.url.appendingPathComponent("ws").path
        let scanner = WorkspaceScanner(extensions: WorkspaceScannerTests.formats)
        let deltas = Deltas()
        let watcher = FolderWatcher(root: root, scanner: scanner, initial: try scanner.scan(root).files,
                                    settle: .milliseconds(100), pollInterval: .milliseconds(200),
                                    forcePolling: forcePolling) { deltas.continuation.yield($0) }
        defer { watcher.stop() }
        if forcePolling {
            try FileManager.default.removeItem(atPath: root)
        } else {
            #expect(rename(root, parent.url.appendingPathComponent("moved").path) == 0)
        }
        var removed: [String] = []
        while removed.count < 3, let d = await deltas.next() { removed += d.removed }
        #expect(removed.sorted() == ["a.csv", "c.tsv", "sub/b.xlsx"])
    }

    /// Between an inotify event and its settled rescan the watcher says it is settling, so an
    /// answer given in that window can say it may be stale; after the delta it no longer is.
    @Test func aChangeIsSettlingUntilItIsReported() async throws {
        let dir = try WorkspaceScannerTests.tree(["a.csv": "x\n1\n"])
        defer { dir.cleanup() }
        let scanner = WorkspaceScanner(extensions: WorkspaceScannerTests.formats)
        let deltas = Deltas()
        let watcher = FolderWatcher(root: dir.url.path, scanner: scanner, initial: try scanner.scan(dir.url.path).files,
                                    settle: .seconds(2)) { deltas.continuation.yield($0) }
        defer { watcher.stop() }
        try #require(watcher.mode == .inotify)
        #expect(!watcher.isSettling)
        try Data("x\n1\n2\n".utf8).write(to: dir.url.appendingPathComponent("a.csv"))
        // The event arrives within milliseconds; wait on it with a 5 s bound.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while !watcher.isSettling, clock.now < deadline { await Task.yield() }
        #expect(watcher.isSettling)
        let changed = await deltas.next()
        #expect(changed?.changed.map(\.relativePath) == ["a.csv"])
        // Cleared right after the delta's handler returns.
        let after = clock.now + .seconds(5)
        while watcher.isSettling, clock.now < after { await Task.yield() }
        #expect(!watcher.isSettling)
    }

    @Test func deltaBetweenListings() {
        func f(_ p: String, _ size: Int64, _ m: Int64) -> WorkspaceFile { WorkspaceFile(path: "/w/" + p, relativePath: p, size: size, mtimeNs: m) }
        let d = WorkspaceDelta.between([f("a", 1, 1), f("b", 2, 2), f("c", 3, 3)], [f("a", 1, 1), f("b", 2, 5), f("d", 4, 4)])
        #expect(d.added.map(\.relativePath) == ["d"])
        #expect(d.changed.map(\.relativePath) == ["b"])
        #expect(d.removed == ["c"])
    }
}
