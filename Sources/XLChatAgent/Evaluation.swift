import Foundation
import XLChatLLM
import XLChatWorkbook

/// `xlchat eval`: questions with known answers, asked of a model, scored.
///
/// A question file is JSON Lines, one object a line: `{"q": "...", "answer": A, "tol": T,
/// "file": "name.xlsx"}`. `A` is a number, a string, or an array of them (all must be in the
/// answer). Numbers are right when some number in the answer is within `tol` of them (absolute;
/// default 0.5 × 10^-d for a number written with d decimals, so `1250.5` matches 1250.46..1250.54
/// and `1251` matches 1250.5..1251.5); strings when their normalized form (lower case, letters
/// and digits only) occurs in the answer's. `file` picks the workbook when a folder is
/// evaluated. Blank lines and lines starting with `#` or `//` are skipped.
public enum Evaluation {
    public enum Expected: Sendable, Hashable, CustomStringConvertible {
        case number(Double)
        case text(String)
        public var description: String {
            switch self {
            case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
            case .text(let s): return "\"\(s)\""
            }
        }
    }

    public struct Question: Sendable, Hashable {
        public var question: String
        public var expected: [Expected]
        /// Absolute tolerance for numbers; nil: half a unit of the expected number's last decimal.
        public var tolerance: Double?
        public var file: String?
        /// 1-based line in the question file.
        public var line: Int
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Parses a question file. Throws `ParseError` naming the line of the first bad entry.
    public static func parse(jsonl text: String) throws -> [Question] {
        var out: [Question] = []
        for (i, raw) in text.components(separatedBy: "\n").enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("//") { continue }
            func bad(_ why: String) -> ParseError { ParseError(description: "line \(i + 1): \(why)") }
            guard let obj = LLMJSON.parse(line)?.objectValue else { throw bad("not a JSON object") }
            guard let q = (obj["q"] ?? obj["question"])?.stringValue, !q.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw bad("\"q\" (the question) is missing or not a string")
            }
            func expected(_ v: LLMJSON) throws -> Expected {
                if let d = v.doubleValue { return .number(d) }
                if let s = v.stringValue, !s.isEmpty { return .text(s) }
                throw bad("\"answer\" must be a number, a string, or an array of them")
            }
            guard let a = obj["answer"] else { throw bad("\"answer\" is missing") }
            let answers = try (a.arrayValue ?? [a]).map(expected)
            guard !answers.isEmpty else { throw bad("\"answer\" is an empty array") }
            var tol: Double? = nil
            if let t = obj["tol"], !t.isNull {
                guard let d = t.doubleValue, d >= 0, d.isFinite else { throw bad("\"tol\" must be a number ≥ 0") }
                tol = d
            }
            out.append(Question(question: q, expected: answers, tolerance: tol, file: obj["file"]?.stringValue, line: i + 1))
        }
        return out
    }

    /// Whether `answer` holds every expected value; `detail` names what is missing.
    public static func score(answer: String, expected: [Expected], tolerance: Double?) -> (right: Bool, detail: String) {
        let numbers = Grounding.tokens(in: answer, skipListMarkers: true).filter { !$0.isLiteral }
        let normalizedAnswer = normalize(answer)
        var missing: [String] = []
        for e in expected {
            switch e {
            case .number(let want):
                let ok = numbers.contains { t in
                    let tol = tolerance ?? 0.5 * pow(10, -Double(t.decimals))
                    return abs(t.value - want) <= tol + 1e-9 * max(1, abs(want))
                        || (t.percent && abs(t.value / 100 - want) <= (tolerance ?? 0.5 * pow(10, -Double(t.decimals + 2))))
                }
                if !ok { missing.append(e.description) }
            case .text(let want):
                let n = normalize(want)
                if n.isEmpty || !normalizedAnswer.contains(n) { missing.append(e.description) }
            }
        }
        return missing.isEmpty ? (true, "all expected values found") : (false, "missing " + missing.joined(separator: ", "))
    }

    /// Lower case, letters and digits only (accents kept).
    static func normalize(_ s: String) -> String {
        String(s.lowercased().unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.map(Character.init))
    }

    /// One question asked of one model.
    public struct Result: Sendable {
        public var question: Question
        public var model: String
        public var right: Bool
        public var detail: String
        public var answer: String
        public var toolCalls: [String]
        public var sql: [String]
        /// Question asked → first piece of the answer's text, ms (nil when none streamed).
        public var timeToFirstTokenMs: Double?
        public var totalMs: Double
        /// Prompt and reply tokens over all model calls (the server's counts; the budget's
        /// count of a prompt when the server gave none).
        public var tokensIn: Int
        public var tokensOut: Int
        public var promptTokensPerStep: [Int]
        public var stepLimitReached: Bool
        public var contextWindow: String
        /// Set when the question could not be asked (the model server failed).
        public var error: String?
    }

    /// Asks `question` of `analyst` (no session, so no cache) and scores the answer.
    public static func run(_ question: Question, analyst: Analyst, outline: WorkbookOutline, model: String) async -> Result {
        let start = DispatchTime.now().uptimeNanoseconds
        final class First: @unchecked Sendable { var ms: Double?; let lock = NSLock() }
        let first = First()
        var r = Result(question: question, model: model, right: false, detail: "", answer: "", toolCalls: [], sql: [],
                       timeToFirstTokenMs: nil, totalMs: 0, tokensIn: 0, tokensOut: 0, promptTokensPerStep: [],
                       stepLimitReached: false, contextWindow: "", error: nil)
        do {
            let a = try await analyst.ask(outline: outline, question: question.question, model: model) { event in
                if case .delta(let d) = event, !d.isEmpty {
                    first.lock.withLock { if first.ms == nil { first.ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 } }
                }
            }
            (r.right, r.detail) = score(answer: a.answer, expected: question.expected, tolerance: question.tolerance)
            r.answer = a.answer
            r.toolCalls = a.steps.map { "\($0.tool)\($0.ok ? "" : " (failed)")" }
            r.sql = a.steps.filter { $0.tool == "sql" }.map { s in
                (LLMJSON.parse(s.arguments)?["query"]?.stringValue).map(ToolRunner.cleanSQL) ?? s.arguments
            }
            r.tokensIn = a.usage.reduce(0) { $0 + ($1.serverPromptTokens > 0 ? $1.serverPromptTokens : $1.promptTokens) }
            r.tokensOut = a.usage.reduce(0) { $0 + $1.replyTokens }
            r.promptTokensPerStep = a.usage.map(\.promptTokens)
            r.stepLimitReached = a.stepLimitReached
            r.contextWindow = a.contextWindow.map(\.description) ?? ""
        } catch {
            r.error = (error as? LLMError)?.message ?? "\(error)"
            r.detail = "error"
        }
        r.timeToFirstTokenMs = first.lock.withLock { first.ms }
        r.totalMs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return r
    }
}
