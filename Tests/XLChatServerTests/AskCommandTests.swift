import Foundation
import Testing
import XLChatTestSupport

/// `xlchat ask` from the built binary.
@Suite(.timeLimit(.minutes(2)), .serialized) struct AskCommandTests {
    let xlchat = BuiltBinary.path()

    /// Runs the binary with its output going to files, polling for its end, so no thread of
    /// the cooperative pool blocks on a pipe while the in-process scripted server needs one.
    func run(_ args: [String], env: [String: String], dir: URL) async throws -> AskResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: xlchat)
        p.arguments = args
        p.environment = env
        let out = dir.appendingPathComponent("out-\(UUID())"), err = dir.appendingPathComponent("err-\(UUID())")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        return AskResult(status: p.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
                             stderr: try String(contentsOf: err, encoding: .utf8))
    }

    func workbook() throws -> (dir: URL, path: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-ask-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("orders.csv").path
        try Data("Order,Customer,Amount\nORD-1,Acme Corp,120\nORD-2,Globex,75.5\nORD-3,Initech,300\n".utf8).write(to: URL(fileURLWithPath: path))
        return (dir, path)
    }

    @Test func noModelServerExitsThreeWithTheBestRows() async throws {
        let (dir, path) = try workbook()
        var env = ProcessInfo.processInfo.environment
        env["XLCHAT_DATA_DIR"] = dir.appendingPathComponent("data").path
        env["OLLAMA_HOST"] = "127.0.0.1:1"
        let r = try await run(["ask", path, "How much did Globex order?", "--no-progress"], env: env, dir: dir)
        #expect(r.status == 3, "stderr: \(r.stderr)")
        let line = r.stderr.components(separatedBy: "\n").first { $0.hasPrefix("xlchat:") } ?? ""
        #expect(line.contains("127.0.0.1:1") && line.lowercased().contains("ollama"), "\(r.stderr)")
        #expect(r.stdout.contains("Best-matching rows"))
        #expect(r.stdout.contains("Globex") && r.stdout.contains("!A3:C3"), "\(r.stdout)")

        let j = try await run(["ask", path, "Globex", "--json", "--no-progress"], env: env, dir: dir)
        #expect(j.status == 3)
        let obj = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any]
        #expect((obj?["error"] as? [String: Any])?["kind"] as? String == "llmUnavailable")
        #expect(((obj?["rows"] as? [[String: Any]])?.first?["text"] as? String)?.contains("Globex") == true)
    }

    @Test func answersThroughAScriptedModel() async throws {
        let (dir, path) = try workbook()
        let model = ScriptedModelServer(replies: [.text(["Globex ordered ", "75.5."])], models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        var env = ProcessInfo.processInfo.environment
        env["XLCHAT_DATA_DIR"] = dir.appendingPathComponent("data").path
        env["OLLAMA_HOST"] = model.hostAndPort
        let r = try await run(["ask", path, "How much did Globex order?", "--model", "test-chat"], env: env, dir: dir)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.hasPrefix("Globex ordered 75.5."))
        #expect(r.stdout.contains("Sources: ") && r.stdout.contains("A3:C3"), "\(r.stdout)")
        #expect(r.stderr.contains("Indexing") && r.stderr.contains("session: "))
        let missing = try await run(["ask", "/nonexistent/x.xlsx", "q"], env: env, dir: dir)
        #expect(missing.status == 1 && missing.stderr.contains("xlchat:"))
        // The wait is shown on stderr (not a terminal: one line per phase).
        #expect(r.stderr.contains("step 1: reading the prompt (") && r.stderr.contains(" tokens of 4,096)"), "\(r.stderr)")
    }

    /// `xlchat eval` from the binary: two models of the scripted server, one answering right,
    /// one wrong; per-question lines, totals, exit status 2 when some are wrong; --json.
    @Test func evalScoresModelsAndReportsTotals() async throws {
        let (dir, path) = try workbook()
        let questions = dir.appendingPathComponent("q.jsonl")
        try Data("""
            {"q": "How much did Globex order?", "answer": 75.5, "tol": 0.01}
            {"q": "Who ordered the most?", "answer": ["Initech", 300]}
            """.utf8).write(to: questions)
        let model = ScriptedModelServer(replies: [
            .stream([.toolCalls([ScriptedToolCall(name: "sql", argumentsText: #"{"query": "SELECT Amount FROM orders WHERE Customer = 'Globex'"}"#)])]),
            .text(["Globex ordered ", "75.5."]),
            .text(["Initech, with 300."]),
            .text(["Globex ordered 80."]),
            .text(["Acme Corp, with 120."]),
        ], models: ["good:latest", "bad:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        var env = ProcessInfo.processInfo.environment
        env["XLCHAT_DATA_DIR"] = dir.appendingPathComponent("data").path
        env["OLLAMA_HOST"] = model.hostAndPort
        let r = try await run(["eval", path, questions.path, "--models", "good,bad"], env: env, dir: dir)
        #expect(r.status == 2, "stderr: \(r.stderr)\nstdout: \(r.stdout)")
        #expect(r.stdout.contains("== model good") && r.stdout.contains("== model bad"))
        #expect(r.stdout.contains("RIGHT line 1: How much did Globex order?") && r.stdout.contains("WRONG line 2: Who ordered the most?"))
        #expect(r.stdout.contains("sql: SELECT Amount FROM orders WHERE Customer = 'Globex'"))
        #expect(r.stdout.contains("prompt tokens per step: "))
        #expect(r.stdout.contains("good: 2/2 right (100%)") && r.stdout.contains("bad: 0/2 right (0%)"), "\(r.stdout)")

        let bad = try await run(["eval", path, "/nonexistent.jsonl"], env: env, dir: dir)
        #expect(bad.status == 1 && bad.stderr.contains("nonexistent.jsonl"))
        try Data("{\"q\": 1}\n".utf8).write(to: questions)
        let malformed = try await run(["eval", path, questions.path], env: env, dir: dir)
        #expect(malformed.status == 1 && malformed.stderr.contains("line 1"), "\(malformed.stderr)")
    }
}

struct AskResult {
    var status: Int32
    var stdout: String
    var stderr: String
}
