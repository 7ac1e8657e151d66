import ArgumentParser
import Foundation
import XLChatAgent
import XLChatIndex
import XLChatLLM
import XLChatServer
import XLChatWorkbook

/// `xlchat eval WORKBOOK|DIR QUESTIONS.jsonl [--models a,b,c]`: asks each question of each
/// model and scores the answers (Evaluation), printing per question and in total.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Ask questions with known answers and score each model: right/wrong, tool calls, SQL, time, tokens.",
        discussion: """
            QUESTIONS is JSON Lines: {"q": "...", "answer": 123.4 | "text" | [..], "tol": 0.01, "file": "x.xlsx"}. \
            Numbers are right within tol (default: half a unit of the answer's last decimal), text by normalized match; \
            with an array every value must appear. With a folder, each line names its workbook in "file". \
            Answers are not cached. Exit status: 0 all right, 2 some wrong, 1 failure.
            """)

    @Argument(help: "A workbook, or a folder of workbooks (each question's \"file\" picks one).")
    var workbook: String

    @Argument(help: "The questions, JSON Lines.")
    var questions: String

    @Option(help: "Comma-separated chat models to compare (default: --model / XLCHAT_MODEL).")
    var models: String?

    @Option(name: .customLong("max-steps"), help: "Model calls per question before the tools' summary.")
    var maxSteps = 6

    @Flag(help: "Print one JSON object per question and one for the totals, instead of text.")
    var json = false

    @Flag(name: .customLong("show-answers"), help: "Print each answer.")
    var showAnswers = false

    @OptionGroup var engine: EngineOptions

    func run() async throws {
        let config = engine.configuration()
        let list: [Evaluation.Question]
        do {
            list = try Evaluation.parse(jsonl: try String(contentsOfFile: (questions as NSString).expandingTildeInPath, encoding: .utf8))
        } catch {
            Output.err("xlchat: \(questions): \(error)\n")
            throw ExitCode(1)
        }
        guard !list.isEmpty else { Output.err("xlchat: \(questions) has no questions\n"); throw ExitCode(1) }
        let modelNames = (models ?? config.model).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }

        let root = URL(fileURLWithPath: (workbook as NSString).expandingTildeInPath).standardizedFileURL.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir) else {
            Output.err("xlchat: \(workbook) does not exist\n"); throw ExitCode(1)
        }
        let index: WorkbookIndex
        let embedder: any Embedder
        do {
            index = try WorkbookIndex(dataDirectory: URL(fileURLWithPath: config.dataDirectory))
            embedder = try await config.makeEmbedder()
        } catch { throw Output.fail(error) }
        var outlines: [String: WorkbookOutline] = [:]
        func outline(for q: Evaluation.Question) async throws -> WorkbookOutline {
            let path: String
            if isDir.boolValue {
                guard let f = q.file else { throw Evaluation.ParseError(description: "line \(q.line): \"file\" is needed when evaluating a folder") }
                path = (root as NSString).appendingPathComponent(f)
            } else {
                path = root
            }
            if let o = outlines[path] { return o }
            // Opened and indexed through the workbook's handle (one pass for the outline and
            // the typed tables, then the search part): the analyst gets an indexed workbook.
            let store = index
            let handle = try WorkbookHandle.open(path: path, id: path, storage: { store })
            let o = try await handle.ensureSearchIndex(embedder: embedder)
            outlines[path] = o
            return o
        }

        var all: [Evaluation.Result] = []
        for model in modelNames {
            let analyst = Analyst(client: try config.makeModelClient(), index: index, embedder: embedder, sessions: nil,
                                  options: AgentOptions(maxSteps: maxSteps, queryTimeout: Double(config.queryTimeoutMs) / 1000,
                                                        contextTokens: config.contextTokens))
            if !json { Output.out("== model \(model)\n") }
            for q in list {
                let result: Evaluation.Result
                do {
                    result = await Evaluation.run(q, analyst: analyst, outline: try await outline(for: q), model: model)
                } catch {
                    Output.err("xlchat: \(error)\n"); throw ExitCode(1)
                }
                all.append(result)
                if json { Output.out(AskCommand.jsonText(Self.json(result)) + "\n") } else { print(result) }
            }
        }
        let totals = Self.totals(all, models: modelNames)
        if json {
            Output.out(AskCommand.jsonText(["totals": totals]) + "\n")
        } else {
            Output.out("\n== totals\n")
            for t in totals {
                let secs = { (k: String) in String(format: "%.1f", ((t[k] as? Double) ?? 0) / 1000) }
                Output.out("\(t["model"] ?? ""): \(t["right"] ?? 0)/\(t["questions"] ?? 0) right (\(String(format: "%.0f", (t["percent"] as? Double) ?? 0))%), "
                           + "\(t["toolCalls"] ?? 0) tool calls, \(secs("totalMs")) s total, \(secs("medianMs")) s median a question, "
                           + "tokens in \(t["tokensIn"] ?? 0) out \(t["tokensOut"] ?? 0), median first prompt \(t["medianFirstPromptTokens"] ?? 0) tokens\n")
            }
        }
        if all.contains(where: { $0.error != nil && !$0.right }) && all.allSatisfy({ $0.error != nil }) { throw ExitCode(1) }
        if !all.allSatisfy(\.right) { throw ExitCode(2) }
    }

    private func print(_ r: Evaluation.Result) {
        Output.out(Self.text(r, showAnswers: showAnswers))
    }

    static func text(_ r: Evaluation.Result, showAnswers: Bool) -> String {
        var s = "\(r.right ? "RIGHT" : "WRONG") line \(r.question.line): \(r.question.question)\n"
        s += "  expected \(r.question.expected.map(\.description).joined(separator: ", ")): \(r.detail)\n"
        if let e = r.error { s += "  error: \(e)\n" }
        s += "  tools: \(r.toolCalls.isEmpty ? "none" : r.toolCalls.joined(separator: ", "))\n"
        for q in r.sql { s += "  sql: \(q.replacingOccurrences(of: "\n", with: " "))\n" }
        let first = r.timeToFirstTokenMs.map { String(format: "%.2f s", $0 / 1000) } ?? "-"
        s += "  time: first token \(first), total \(String(format: "%.2f", r.totalMs / 1000)) s; tokens in \(r.tokensIn), out \(r.tokensOut); "
            + "prompt tokens per step: \(r.promptTokensPerStep.map(String.init).joined(separator: ", "))\n"
        if showAnswers { s += "  answer: \(r.answer.replacingOccurrences(of: "\n", with: "\n          "))\n" }
        return s
    }

    static func json(_ r: Evaluation.Result) -> [String: Any] {
        var o: [String: Any] = [
            "line": r.question.line, "q": r.question.question, "model": r.model, "right": r.right, "detail": r.detail,
            "expected": r.question.expected.map { e -> Any in if case .number(let d) = e { return d }; if case .text(let t) = e { return t }; return "" },
            "answer": r.answer, "toolCalls": r.toolCalls, "sql": r.sql, "totalMs": r.totalMs, "tokensIn": r.tokensIn,
            "tokensOut": r.tokensOut, "promptTokensPerStep": r.promptTokensPerStep, "stepLimitReached": r.stepLimitReached,
            "contextWindow": r.contextWindow,
        ]
        if let t = r.timeToFirstTokenMs { o["timeToFirstTokenMs"] = t }
        if let e = r.error { o["error"] = e }
        return o
    }

    static func totals(_ all: [Evaluation.Result], models: [String]) -> [[String: Any]] {
        models.map { m in
            let rs = all.filter { $0.model == m }
            let right = rs.filter(\.right).count
            let times = rs.map(\.totalMs).sorted()
            let firsts = rs.compactMap(\.promptTokensPerStep.first).sorted()
            return [
                "model": m, "questions": rs.count, "right": right, "percent": rs.isEmpty ? 0 : 100 * Double(right) / Double(rs.count),
                "toolCalls": rs.reduce(0) { $0 + $1.toolCalls.count }, "totalMs": times.reduce(0, +),
                "medianMs": times.isEmpty ? 0 : times[times.count / 2],
                "tokensIn": rs.reduce(0) { $0 + $1.tokensIn }, "tokensOut": rs.reduce(0) { $0 + $1.tokensOut },
                "medianFirstPromptTokens": firsts.isEmpty ? 0 : firsts[firsts.count / 2],
            ] as [String: Any]
        }
    }
}
