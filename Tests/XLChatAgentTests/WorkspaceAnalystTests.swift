import Foundation
import Testing
@testable import XLChatAgent
import XLChatIndex
import XLChatLLM
import XLChatTestSupport
import XLChatWorkbook

/// The analyst over a workspace (issue 12), engine side: the outline of many files in tiers,
/// the tools by workspace name and file, citations that name the file, the stale note.
@Suite(.timeLimit(.minutes(2))) struct WorkspaceAnalystTests {
    /// A folder of csv files indexed as a workspace (each file through `WorkbookIndex.open`,
    /// as the server does).
    struct Folder {
        let dir: URL
        let index: WorkbookIndex
        let workspace: WorkspaceIndex

        init(_ files: [String: String]) async throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-wsagent-\(UUID().uuidString)")
            let root = dir.appendingPathComponent("folder")
            for (rel, text) in files {
                let url = root.appendingPathComponent(rel)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(text.utf8).write(to: url)
            }
            index = try WorkbookIndex(dataDirectory: dir.appendingPathComponent("data"))
            workspace = try WorkspaceIndex(index: index, root: root.path,
                                           scanner: WorkspaceScanner(extensions: ["csv", "xlsx"], skipDirectories: [dir.appendingPathComponent("data").path]))
            try await refresh()
        }

        @discardableResult
        func refresh() async throws -> WorkspaceRefresh {
            let index = index
            return try await workspace.refresh(build: { file in try index.open(path: file.path).outline.contentHash })
        }

        func source(stale: String? = nil) throws -> WorkspaceSource {
            try WorkspaceSource(workspace: workspace, index: index, embedder: HashingEmbedder(), stale: stale)
        }

        func analyst(_ server: ScriptedModelServer) throws -> Analyst {
            Analyst(client: OllamaClient(baseURL: server.baseURL, policy: HTTPPolicy(firstByteTimeout: 10, stallTimeout: 5, maxAttempts: 1)),
                    index: index, embedder: HashingEmbedder(), sessions: try SessionStore(dataDirectory: dir.appendingPathComponent("data")))
        }
    }

    static func monthly(_ month: Int, amounts: [Int]) -> String {
        "day,region,amount\n" + amounts.enumerated().map { "\($0.offset + 1),R\($0.offset % 3),\(Double($0.element) / 100)" }.joined(separator: "\n") + "\n"
    }

    @Test func outlineNamesFilesTablesAndViewsAndShrinksByTier() async throws {
        var files: [String: String] = ["customers.csv": "customer_id,segment\nk1,Retail\nk2,Trade\n"]
        for m in 1...12 { files[String(format: "2024/sales_%02d.csv", m)] = Self.monthly(m, amounts: [100 * m, 250, 999]) }
        let f = try await Folder(files)
        let source = try f.source()
        #expect(source.files.count == 13 && source.unions.count == 1)
        let view = source.unions[0]
        let text = OutlineText(source: source, questionWords: ["segment"])
        let full = text.render(.full), tablesOnly = text.render(.tablesOnly)
        #expect(full.hasPrefix("Workspace: 13 files"))
        #expect(full.contains("SQL view \(view.name) = UNION ALL of 12 tables"), "\(full)")
        #expect(full.contains("File: customers.csv") && full.contains("File: 2024/sales_07.csv"))
        #expect(full.contains("segment (text, B): values Retail, Trade"), "the profiles of typed columns: \(full)")
        #expect(full.contains(", in view \(view.name)"))
        // The view's profile is that of all twelve files (amounts 1.00 ... 12.00, 2.50, 9.99).
        #expect(full.contains("amount (real, C): from 1 to 12"), "\(full)")
        #expect(tablesOnly.count < full.count / 2)
        #expect(tablesOnly.contains("File: customers.csv: SQL tables customers (2 rows, 2 columns)"), "\(tablesOnly)")
        for d in OutlineDetail.allCases.dropLast() { #expect(text.render(d).count >= text.render(d.next!).count, "\(d)") }
        // A large workspace is cut by file count; describe_table still serves any table.
        var many: [String: String] = [:]
        for i in 0..<(OutlineText.maxFiles + 7) { many["f\(i)/t\(i).csv"] = "k\(i),v\(i)\n1,\(i)\n" }
        let big = try await Folder(many)
        let bigSource = try big.source()
        #expect(OutlineText(source: bigSource, questionWords: []).render(.tablesOnly).contains("... 7 more files"))
        let last = bigSource.tables.last!
        let runner = ToolRunner(source: bigSource, options: AgentOptions())
        let described = await runner.run(ToolCall(name: "describe_table", arguments: ["table": .string(last.sqlName)]))
        #expect(described.step.ok && described.resultText.contains("of file \"\(last.file!)\""), "\(described.resultText)")
        #expect(described.step.ranges.first?.hasPrefix(last.file! + " › ") == true)
    }

    @Test func toolsTakeFilesAndCiteThem() async throws {
        let f = try await Folder(["a/orders.csv": "order_id,customer_id,amount\n1,k1,10.5\n2,k2,20\n3,k1,7\n",
                                  "customers.csv": "customer_id,segment\nk1,Retail\nk2,Trade\n"])
        let source = try f.source()
        let orders = source.tables.first { $0.file == "a/orders.csv" }!.sqlName
        let runner = ToolRunner(source: source, options: AgentOptions())
        // A plain SELECT cites its rows in their file.
        let rows = await runner.run(ToolCall(name: "sql", arguments: ["query": .string("SELECT amount FROM \"\(orders)\" WHERE customer_id = 'k1'")]))
        #expect(rows.step.ok)
        #expect(rows.evidence.map { $0.ranges.map(\.label) } == [["a/orders.csv › orders!C2"], ["a/orders.csv › orders!C4"]])
        // A join cites both files' columns it names.
        let join = await runner.run(ToolCall(name: "sql", arguments: ["query": .string(
            "SELECT c.segment, sum(o.amount) AS revenue FROM \"\(orders)\" o JOIN customers c ON o.customer_id = c.customer_id GROUP BY 1")]))
        #expect(join.step.ok, "\(join.resultText)")
        let files = Set(join.evidence.flatMap(\.ranges).compactMap(\.file))
        #expect(files == ["a/orders.csv", "customers.csv"])
        // read_range by file (the last path component will do when unique); the cells name it.
        let cells = await runner.run(ToolCall(name: "read_range", arguments: ["file": .string("orders.csv"), "range": .string("A2:C3")]))
        #expect(cells.step.ok && cells.step.ranges == ["a/orders.csv › orders!A2:C3"], "\(cells.resultText)")
        let ambiguous = await runner.run(ToolCall(name: "read_range", arguments: ["range": .string("A1:B2")]))
        #expect(!ambiguous.step.ok && ambiguous.step.summary.contains("say which file") && ambiguous.step.summary.contains("customers.csv"))
        let unknown = await runner.run(ToolCall(name: "read_range", arguments: ["file": .string("nope.xlsx"), "range": .string("A1")]))
        #expect(!unknown.step.ok && unknown.step.summary.contains("no file named 'nope.xlsx'"))
        // Ranges of different files never merge, even on same-named sheets and cells.
        let merged = Citations.merge([SourceRange(file: "x.csv", sheet: "s", range: A1.parseRange("A1:B1")!.range),
                                      SourceRange(file: "y.csv", sheet: "s", range: A1.parseRange("A2:B2")!.range),
                                      SourceRange(file: "x.csv", sheet: "s", range: A1.parseRange("A2:B2")!.range)])
        #expect(merged.map(\.label) == ["x.csv › s!A1:B2", "y.csv › s!A2:B2"])
        #expect(ToolRunner.definitions(for: .workspace).first { $0.name == "read_range" }?.parameters["properties"]?["file"] != nil)
    }

    @Test func aJoinThatFansOutIsWarnedAboutToTheModel() async throws {
        // Customers listed twice in a second file: joining on them doubles those orders.
        let repeated = Int.random(in: 1...3)
        var customers = "customer_id,segment\n"
        for i in 0..<5 { customers += "k\(i),S\(i % 2)\n" }
        for i in 0..<repeated { customers += "k\(i),S9\n" }
        let f = try await Folder(["orders.csv": "order_id,customer_id,amount\n1,k0,10\n2,k1,20\n3,k4,5\n", "crm/customers.csv": customers])
        let runner = ToolRunner(source: try f.source(), options: AgentOptions())
        let out = await runner.run(ToolCall(name: "sql", arguments: ["query": .string(
            "SELECT sum(o.amount) AS total FROM orders o JOIN customers c ON o.customer_id = c.customer_id")]))
        #expect(out.step.ok)
        #expect(out.resultText.hasPrefix("WARNING: "), "\(out.resultText)")
        #expect(out.resultText.contains("customers") && out.resultText.contains("\(repeated)"), "\(out.resultText)")
    }

    @Test func rowsOfAUnionViewCiteTheirFileAndSheetRow() async throws {
        var files: [String: String] = [:]
        var amounts: [[Int]] = []
        for m in 1...Int.random(in: 3...8) {
            let a = (0..<Int.random(in: 2...9)).map { _ in Int.random(in: 1...99_999) }
            amounts.append(a)
            files["\(2020 + m % 3)/sales_\(String(format: "%02d", m)).csv"] = Self.monthly(m, amounts: a)
        }
        let f = try await Folder(files)
        let source = try f.source()
        let view = try #require(source.unions.first).name
        // The largest single amount: where is it?
        let (month, position) = amounts.enumerated().flatMap { m, a in a.enumerated().map { (m + 1, $0.offset, $0.element) } }
            .max { $0.2 < $1.2 }.map { ($0.0, $0.1) }!
        let file = files.keys.first { $0.hasSuffix(String(format: "sales_%02d.csv", month)) }!
        let runner = ToolRunner(source: source, options: AgentOptions())
        let out = await runner.run(ToolCall(name: "sql", arguments: ["query": .string(
            "SELECT _file, _row, amount FROM \"\(view)\" ORDER BY amount DESC LIMIT 1")]))
        #expect(out.step.ok, "\(out.resultText)")
        let sheet = (file as NSString).lastPathComponent.replacingOccurrences(of: ".csv", with: "")
        #expect(out.evidence.first?.ranges.map(\.label) == ["\(file) › \(sheet)!C\(position + 2)"], "\(out.evidence.map(\.ranges))")
        // Without _file and _row the view's rows cite the named column in every file.
        let all = await runner.run(ToolCall(name: "sql", arguments: ["query": .string("SELECT amount FROM \"\(view)\" LIMIT 1")]))
        #expect(Set(all.evidence.flatMap(\.ranges).compactMap(\.file)).count == files.count)
    }

    @Test func describeTableServesViewsAndTablesByWorkspaceName() async throws {
        var files: [String: String] = ["notes/readme.csv": "topic,owner\nq1,ann\n"]
        let months = Int.random(in: 2...6)
        for m in 1...months { files["exports/orders_2025_\(String(format: "%02d", m)).csv"] = Self.monthly(m, amounts: [m * 100, 7]) }
        let f = try await Folder(files)
        let source = try f.source()
        let view = try #require(source.unions.first)
        let runner = ToolRunner(source: source, options: AgentOptions())
        let described = await runner.run(ToolCall(name: "describe_table", arguments: ["table": .string(view.name.uppercased())]))
        #expect(described.step.ok && described.resultText.contains("UNION ALL of \(months) tables"), "\(described.resultText)")
        #expect(described.resultText.contains("_file (text)") && described.resultText.contains("exports/orders_2025_01.csv"))
        #expect(Set(described.step.ranges.map { $0.components(separatedBy: " › ")[0] }).count == months)
        let unknown = await runner.run(ToolCall(name: "describe_table", arguments: ["table": .string("nope")]))
        #expect(!unknown.step.ok && unknown.step.summary.contains("'\(view.name)'") && unknown.step.summary.contains("'readme'"))
    }

    @Test func staleStateIsSaidAndTheCacheKeyFollowsTheFiles() async throws {
        let amounts = (0..<Int.random(in: 4...9)).map { _ in Int.random(in: 1...99_999) }
        let f = try await Folder(["jan.csv": Self.monthly(1, amounts: amounts), "feb.csv": Self.monthly(2, amounts: [500])])
        let before = try f.source()
        let server = try await startServer([.text(["Noted."]), .text(["Noted again."])])
        defer { Task { await server.shutdown() } }
        let stale = try await f.analyst(server).ask(source: try f.source(stale: "being re-indexed"), question: "What changed?", model: "test-chat")
        #expect(stale.stale == "being re-indexed" && !stale.cached)
        let cached = try await f.analyst(server).ask(source: try f.source(stale: "being re-indexed"), question: "What changed?", model: "test-chat")
        #expect(cached.cached && cached.stale == "being re-indexed")
        // A rewritten file changes the key; the same files again give the same key.
        let url = URL(fileURLWithPath: f.workspace.root).appendingPathComponent("jan.csv")
        try Data(Self.monthly(1, amounts: amounts + [7]).utf8).write(to: url)
        try await f.refresh()
        let after = try f.source()
        #expect(after.stateKey != before.stateKey)
        #expect(try f.source().stateKey == after.stateKey)
        let fresh = try await f.analyst(server).ask(source: after, question: "What changed?", model: "test-chat")
        #expect(!fresh.cached && fresh.answer == "Noted again." && fresh.stale == nil)
    }
}
