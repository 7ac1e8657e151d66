// `xlchat-bench budget`: what the per-step context budget (XLChatAgent's ContextBudget) costs.
// A question runs against the scripted model server over real HTTP on a wide workbook, with a
// small context, so that every step has to compact, shorten and shrink: the budget's own time
// per step (StepUsage.budgetMs) is printed beside the whole step's time and the 5 ms target.
// The peer figure is the same step without a budget to fit: the model call alone.
import ArgumentParser
import Foundation
import XLChatAgent
import XLChatIndex
import XLChatLLM
import XLChatTestSupport
import XLChatWorkbook

struct BudgetBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budget",
        abstract: "Per-step cost of fitting prompts into the model's context (target: at most 5 ms a step).")

    @Option(help: "Data rows of the synthetic order table.") var rows = 2000
    @Option(help: "Context window in tokens.") var context = 2048
    @Option(help: "Questions to run (each: 5 tool rounds of 50-row results, then an answer).") var questions = 20

    func run() throws {
        let me = self
        try runBlocking { try await me.measure() }
    }

    func measure() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-bench-budget-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var csv = ["Order,Region,Product,Units,Revenue,Description"]
        let regions = ["North", "South", "East", "West"], products = ["Widget", "Gadget", "Sprocket", "Flange"]
        for i in 0..<rows {
            csv.append("ORD-\(1000 + i),\(regions[i % 4]),\(products[(i / 4) % 4]),\(i % 17 + 1),\(Double(i * 37 % 1000) + 0.25),"
                       + "\"Shipped by road freight to the \(regions[i % 4].lowercased()) depot; note \(i)\"")
        }
        let path = dir.appendingPathComponent("orders.csv").path
        try Data(csv.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
        let outline = try WorkbookOutline.build(reader: try Workbooks.open(path: path), path: path, contentHash: try ContentHash.sha256(path: path))
        let index = try WorkbookIndex(dataDirectory: dir.appendingPathComponent("data"))
        _ = try await index.build(outline: outline, reader: try Workbooks.open(path: path), embedder: HashingEmbedder())
        let table = outline.sheets[0].table!.name

        let server = ScriptedModelServer(models: ["bench"])
        try await server.start()
        defer { Task { await server.shutdown() } }
        func sql(_ q: String) -> ScriptedModelServer.Step {
            .toolCalls([ScriptedToolCall(name: "sql", argumentsText: LLMJSON.object(["query": .string(q)]).jsonText)])
        }
        let analyst = Analyst(client: OpenAIClient(baseURL: server.baseURL), index: index, embedder: HashingEmbedder(), sessions: nil,
                              options: AgentOptions(maxSteps: 6, contextTokens: context))
        var budget: [Double] = [], step: [Double] = [], tokens: [Int] = []
        for q in 0..<questions {
            for r in 0..<5 { server.enqueue(.stream([sql("SELECT * FROM \"\(table)\" WHERE _row > \(q * 7 + r * 50) LIMIT 50")])) }
            server.enqueue(.text(["Done."]))
            let a = try await analyst.ask(outline: outline, question: "Which orders shipped west? (\(q))", model: "bench")
            budget += a.usage.map(\.budgetMs)
            step += a.usage.map(\.durationMs)
            tokens += a.usage.map(\.promptTokens)
        }
        func pct(_ xs: [Double], _ p: Double) -> Double { let s = xs.sorted(); return s[min(s.count - 1, Int(Double(s.count) * p))] }
        print("budget: \(budget.count) steps, context \(context) tokens, prompts \(tokens.min() ?? 0)...\(tokens.max() ?? 0) tokens")
        print(String(format: "  ours (fit per step):      median %.3f ms, p95 %.3f ms, max %.3f ms   (target ≤ 5 ms)",
                     pct(budget, 0.5), pct(budget, 0.95), budget.max() ?? 0))
        print(String(format: "  peer (model call itself): median %.3f ms, p95 %.3f ms   (scripted server on loopback; a real model takes seconds)",
                     pct(step, 0.5), pct(step, 0.95)))
        print(String(format: "  ratio: the budget is %.1f%% of a step against the scripted server", 100 * pct(budget, 0.5) / max(0.001, pct(step, 0.5))))
    }
}
