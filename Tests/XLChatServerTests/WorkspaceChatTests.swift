import Foundation
import Testing
import XLChatLLM
import XLChatProtocol
import XLChatServer
import XLChatTestSupport

/// `chat/ask` with a `workspaceId` (issue 12's done-when) through the real server and the
/// scripted model server: a question that needs two files is a join and cites both, a union of
/// twelve monthly files gives the exact year total, and a changed file changes the answer.
/// The data are generated anew on each run (sizes, segments, amounts, names).
@Suite(.timeLimit(.minutes(3))) struct WorkspaceChatTests {
    func client(_ model: ScriptedModelServer) -> TestClient {
        var c = TestClient.temporaryConfiguration()
        c.ollamaHost = model.hostAndPort
        c.model = "test-chat"
        return TestClient.inProcess(configuration: c)
    }

    func folder() -> URL { temporaryDirectory().appendingPathComponent("wschat-\(UUID().uuidString)") }

    func sqlStep(_ sql: String) -> ScriptedModelServer.Step {
        .toolCalls([ScriptedToolCall(name: "sql", argumentsText: LLMJSON.object(["query": .string(sql)]).jsonText)])
    }

    /// The tool results the model was sent in its n-th request.
    func toolResults(_ model: ScriptedModelServer, _ n: Int) -> String {
        let messages = model.requests(path: "/api/chat")[n].json?["messages"]?.arrayValue ?? []
        return messages.filter { $0["role"]?.stringValue == "tool" }.compactMap { $0["content"]?.stringValue }.joined(separator: "\n")
    }

    func systemPrompt(_ model: ScriptedModelServer, _ n: Int) -> String {
        model.requests(path: "/api/chat")[n].json?["messages"]?.arrayValue?.first?["content"]?.stringValue ?? ""
    }

    /// Numbers as the sql tool writes them (`ToolRunner.number`): integers bare, else Swift's shortest form.
    static func text(_ cents: Int) -> String {
        cents % 100 == 0 ? String(cents / 100) : String(Double(cents) / 100)
    }

    static func xlsxRow(_ r: Int, _ cells: [String]) -> String {
        var out = #"<row r="\#(r)">"#
        for (i, v) in cells.enumerated() {
            let ref = String(UnicodeScalar(UInt8(65 + i))) + "\(r)"
            out += #"<c r="\#(ref)" t="inlineStr"><is><t>\#(v)</t></is></c>"#
        }
        return out + "</row>"
    }

    @Test(arguments: [0, 1]) func revenueBySegmentIsAJoinOverTwoFilesCitingBoth(variant: Int) async throws {
        let dir = folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // Customers (xlsx) and orders (csv), in generated sizes, spellings and segments.
        let segments = Array(["Enterprise", "Retail", "Public sector", "SMB", "Education"].shuffled().prefix(Int.random(in: 2...4)))
        let customerCount = Int.random(in: 4...12)
        let prefix = ["K-", "CUST", "c"][variant % 3]
        let customers = (0..<customerCount).map { ("\(prefix)\($0 + 101)", segments[$0 % segments.count]) }
        let (idHeader, segmentHeader) = variant == 0 ? ("CustomerId", "Segment") : ("Customer ID", "Customer segment")
        var rows = Self.xlsxRow(1, [idHeader, segmentHeader])
        for (i, c) in customers.enumerated() { rows += Self.xlsxRow(i + 2, [c.0, c.1]) }
        let xlsx = try await generatedXLSX(sheets: [("Customers", rows)])
        let customersFile = variant == 0 ? "customers.xlsx" : "crm/Customer list.xlsx"
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(customersFile).deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: xlsx, toPath: dir.appendingPathComponent(customersFile).path)
        let orders = (1...Int.random(in: 15...60)).map { i in (i, customers.randomElement()!.0, Int.random(in: 100...250_000)) }
        let ordersFile = variant == 0 ? "orders.csv" : "sales_2024.csv"
        try Data(("order,customer,net amount\n" + orders.map { "\($0.0),\($0.1),\(Self.text($0.2))" }.joined(separator: "\n") + "\n").utf8)
            .write(to: dir.appendingPathComponent(ordersFile))

        let model = ScriptedModelServer(models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        let c = client(model)
        try await c.initialize()
        let ws = try await c.send(WorkspaceOpenRequest(path: dir.path))
        let ordersTable = try #require(ws.tables.first { $0.file == ordersFile })
        let customersTable = try #require(ws.tables.first { $0.file == customersFile })
        func q(_ s: String) -> String { "\"" + s + "\"" }
        let sql = "SELECT c.\(q(customersTable.columns[1])) AS segment, round(sum(o.\(q(ordersTable.columns[2]))), 2) AS revenue "
            + "FROM \(q(ordersTable.name)) o JOIN \(q(customersTable.name)) c ON o.\(q(ordersTable.columns[1])) = c.\(q(customersTable.columns[0])) "
            + "GROUP BY 1 ORDER BY 1"
        var expected: [(String, Int)] = []
        for s in Set(customers.map(\.1)).sorted() {
            let ids = Set(customers.filter { $0.1 == s }.map(\.0))
            let cents = orders.filter { ids.contains($0.1) }.map(\.2).reduce(0, +)
            if cents > 0 { expected.append((s, cents)) }
        }
        let answer = "Revenue by segment: " + expected.map { "\($0.0) \(Self.text($0.1))" }.joined(separator: ", ") + "."
        model.enqueue(.stream([sqlStep(sql)]))
        model.enqueue(.text([answer]))
        let result = try await c.send(ChatAskRequest(workspaceId: ws.workspaceId, question: "What is the revenue by customer segment?"))
        #expect(result.answer == answer)
        #expect(result.steps?.first?.summary.hasPrefix("\(expected.count) row") == true, "\(String(describing: result.steps))")
        // The model saw both files and their tables, and got the join's exact rows.
        let prompt = systemPrompt(model, 0)
        #expect(prompt.contains("File: \(customersFile)") && prompt.contains("File: \(ordersFile)"))
        #expect(prompt.contains(ordersTable.name) && prompt.contains(customersTable.name))
        let results = toolResults(model, 1)
        for (s, cents) in expected { #expect(results.contains("\(s) | \(Self.text(cents))"), "\(s): \(results)") }
        // Grounded, and cites both files.
        #expect(result.ungrounded.isEmpty, "\(result.ungrounded)")
        #expect(Set(result.citations.compactMap(\.file)) == [ordersFile, customersFile], "\(result.citations)")
        #expect(result.citations.allSatisfy { $0.workspaceId == ws.workspaceId && $0.workbookId == nil })
        #expect(result.citations.contains { $0.file == customersFile && $0.sheet == "Customers" })
        let step = c.notifications(method: ChatStepNotification.method).first
        var ranges: [String] = []
        if case .array(let a)? = step?["params"]?["ranges"] { ranges = a.compactMap(\.stringValue) }
        #expect(ranges.contains { $0.hasPrefix(ordersFile + " › ") } && ranges.contains { $0.hasPrefix(customersFile + " › ") }, "\(ranges)")

        // An answer with a number the tools never showed is flagged.
        model.enqueue(.stream([sqlStep(sql)]))
        model.enqueue(.text(["Revenue was 123456789.25 in all."]))
        let made = try await c.send(ChatAskRequest(workspaceId: ws.workspaceId, question: "And the total revenue of all segments?"))
        #expect(made.ungrounded == ["123456789.25"])
    }

    @Test func aUnionOfTwelveMonthlyFilesGivesTheExactYearTotalAndAChangedFileChangesTheAnswer() async throws {
        let dir = folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let year = Int.random(in: 2019...2026)
        var amounts: [[Int]] = (1...12).map { _ in (0..<Int.random(in: 2...25)).map { _ in Int.random(in: 1...9_999_999) } }
        func write(_ m: Int) throws {
            let url = dir.appendingPathComponent("\(year)/sales_\(year)_\(String(format: "%02d", m)).csv")
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let lines = amounts[m - 1].enumerated().map { "\(year)-\(String(format: "%02d", m))-\(String(format: "%02d", $0.offset % 28 + 1)),W\($0.offset % 4),\(Self.text($0.element))" }
            try Data(("date,store,amount\n" + lines.joined(separator: "\n") + "\n").utf8).write(to: url)
        }
        for m in 1...12 { try write(m) }

        let model = ScriptedModelServer(models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        let c = client(model)
        try await c.initialize()
        let ws = try await c.send(WorkspaceOpenRequest(path: dir.path))
        let view = try #require(ws.unions.first { $0.members.count == 12 }, "\(ws.unions)")
        let sql = "SELECT round(sum(amount), 2) AS total FROM \"\(view.name)\""
        let question = "What were total sales in \(year)?"
        func ask(expecting cents: Int) async throws -> ChatAskResult {
            let n = model.requests(path: "/api/chat").count
            let answer = "Total sales in \(year) were \(Self.text(cents))."
            model.enqueue(.stream([sqlStep(sql)]))
            model.enqueue(.text([answer]))
            let r = try await c.send(ChatAskRequest(workspaceId: ws.workspaceId, question: question))
            #expect(r.answer == answer && !r.cached)
            // The exact total is what the query returned to the model.
            #expect(toolResults(model, n + 1).contains("total\n\(Self.text(cents))\n"), "\(toolResults(model, n + 1))")
            #expect(r.ungrounded.isEmpty)
            return r
        }
        let total = amounts.joined().reduce(0, +)
        let first = try await ask(expecting: total)
        #expect(systemPrompt(model, 0).contains("SQL view \(view.name) = UNION ALL of 12 tables"))
        // Cites every month's file.
        #expect(Set(first.citations.compactMap(\.file)).count == 12, "\(first.citations)")
        // Asked again with nothing changed: the cache answers.
        let again = try await c.send(ChatAskRequest(workspaceId: ws.workspaceId, question: question))
        #expect(again.cached && again.answer == first.answer && again.citations == first.citations)

        // One month rewritten: noticed (workspace/didChange, bounded wait), and the same
        // question is answered anew from the new data, not from the cache.
        let month = Int.random(in: 1...12)
        amounts[month - 1] = amounts[month - 1].map { $0 + 1 } + [Int.random(in: 1...500_000)]
        try write(month)
        let change = try await c.nextNotification(method: "workspace/didChange", timeout: .seconds(30))
        if case .array(let changed)? = change["params"]?["changed"] { #expect(changed.count == 1) } else { Issue.record("no 'changed': \(change)") }
        _ = try await ask(expecting: amounts.joined().reduce(0, +))
    }

    @Test func exactlyOneOfWorkbookAndWorkspace() async throws {
        let model = ScriptedModelServer(models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        let c = client(model)
        try await c.initialize()
        let neither = try await c.request(method: "chat/ask", params: ["question": "How many?"])
        #expect(neither["error"]?["code"] == .int(-32602))
        #expect(neither["error"]?["message"]?.stringValue?.contains("'workspaceId'") == true)
        let both = try await c.request(method: "chat/ask", params: ["question": "How many?", "workbookId": "wb-1", "workspaceId": "ws-1"])
        #expect(both["error"]?["code"] == .int(-32602))
        #expect(both["error"]?["message"]?.stringValue?.contains("not both") == true)
        let unknown = try await c.request(method: "chat/ask", params: ["question": "How many?", "workspaceId": "ws-nope"])
        #expect(errorKind(unknown) == "unknownWorkbook")
        #expect(model.requests(path: "/api/chat").isEmpty)
    }
}

/// `xlchat ask DIR` from the built binary: workspace/open + chat/ask, citations with files.
@Suite(.timeLimit(.minutes(3))) struct WorkspaceAskCommandTests {
    @Test func askTakesAFolder() async throws {
        let dir = temporaryDirectory().appendingPathComponent("cli-wsask-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = Int.random(in: 2...5)
        var total = 0
        for i in 1...n {
            let amounts = (0..<Int.random(in: 1...6)).map { _ in Int.random(in: 1...5000) }
            total += amounts.reduce(0, +)
            try WorkspaceServerTests.write(dir, ["exports/orders_\(i).csv": "order_id,amount\n" + amounts.enumerated().map { "\(i * 100 + $0.offset),\($0.element)" }.joined(separator: "\n") + "\n"])
        }
        try WorkspaceServerTests.write(dir, ["notes.csv": "topic,owner\nq1,ann\n"])
        let model = ScriptedModelServer(models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        let answer = "Orders total \(total)."
        model.enqueue(.stream([.toolCalls([ScriptedToolCall(name: "sql", argumentsText: LLMJSON.object(["query": .string("SELECT sum(amount) AS total FROM orders")]).jsonText)])]))
        model.enqueue(.text([answer]))
        var env = ProcessInfo.processInfo.environment
        env["XLCHAT_DATA_DIR"] = dir.appendingPathComponent(".data").path
        env["OLLAMA_HOST"] = model.hostAndPort
        let r = try await AskCommandTests().run(["ask", dir.path, "What do the orders add up to?", "--model", "test-chat", "--no-progress"], env: env, dir: dir)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.hasPrefix(answer), "\(r.stdout)")
        #expect(r.stdout.contains("Sources: ") && r.stdout.contains("exports/orders_1.csv › orders_1!B2"), "\(r.stdout)")
        #expect(r.stderr.contains("[sql] 1 row"), "\(r.stderr)")
        #expect(toolResultsContain(model, "total\n\(total)\n"))
        // No model server: exit 3, the reason, and what works without one.
        env["OLLAMA_HOST"] = "127.0.0.1:1"
        let none = try await AskCommandTests().run(["ask", dir.path, "Total?", "--no-progress"], env: env, dir: dir)
        #expect(none.status == 3, "stderr: \(none.stderr)")
        #expect(none.stderr.contains("127.0.0.1:1") && none.stdout.contains("xlchat query \(dir.path) 'SELECT ...'"), "\(none.stdout)")
        // A folder that does not exist: exit 1, one line.
        let missing = try await AskCommandTests().run(["ask", dir.path + "/nope/", "Total?"], env: env, dir: dir)
        #expect(missing.status == 1 && missing.stderr.contains("xlchat:"), "\(missing.stderr)")
    }

    func toolResultsContain(_ model: ScriptedModelServer, _ text: String) -> Bool {
        model.requests(path: "/api/chat").contains { r in
            (r.json?["messages"]?.arrayValue ?? []).contains { $0["role"]?.stringValue == "tool" && $0["content"]?.stringValue?.contains(text) == true }
        }
    }
}
