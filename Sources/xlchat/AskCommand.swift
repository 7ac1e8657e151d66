import ArgumentParser
import Foundation
import XLChatAgent
import XLChatIndex
import XLChatLLM
import XLChatServer
import XLChatWorkbook

/// `xlchat ask FILE "question"`: open, index (progress on stderr), stream the answer to
/// stdout, then the citations. Without a model server it prints the best-matching rows.
struct AskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask",
        abstract: "Ask a question about a spreadsheet; the answer streams, then the cells it rests on.",
        discussion: """
            Exit status: 0 answered; 3 no model server reachable (one line says where it looked and \
            how to start Ollama, then the best-matching rows are printed with their ranges); 4 the \
            model is not available on the server (pull it); 1 any other failure (unreadable file, \
            model server error).
            """)

    static let exitNoModelServer: Int32 = 3
    static let exitModelNotFound: Int32 = 4

    @Argument(help: "The workbook: xlsx, xlsm, xls, csv or tsv.")
    var file: String

    @Argument(help: "The question.")
    var question: String

    @Flag(help: "Print one JSON object (answer, citations, ungrounded, steps) instead of streaming text.")
    var json = false

    @Option(help: "Continue this conversation (printed as 'session:' on stderr after each answer).")
    var session: String?

    @Flag(name: .customLong("no-progress"), help: "No progress bar on stderr.")
    var noProgress = false

    @OptionGroup var engine: EngineOptions

    func run() async throws {
        let config = engine.configuration()
        let path = URL(fileURLWithPath: (file as NSString).expandingTildeInPath).standardizedFileURL.path
        let outline: WorkbookOutline
        let index: WorkbookIndex
        let embedder: any Embedder
        do {
            let hash = try ContentHash.sha256(path: path)
            outline = try WorkbookOutline.build(reader: try Workbooks.open(path: path), path: path, contentHash: hash)
            index = try WorkbookIndex(dataDirectory: URL(fileURLWithPath: config.dataDirectory))
            embedder = try await config.makeEmbedder()
            let bar = ProgressBar(enabled: !noProgress)
            _ = try await index.build(outline: outline, reader: try Workbooks.open(path: path), embedder: embedder) { update in
                bar.show(fraction: update.fraction, message: update.message)
            }
            bar.finish()
        } catch let e as LLMError {
            try fail(e.message, kind: e.kind == .unavailable ? "llmUnavailable" : "modelServer",
                     code: e.kind == .unavailable ? Self.exitNoModelServer : 1)
        } catch let e as WorkbookError {
            try fail(e.message, kind: e.kind.rawValue, code: 1)
        } catch let e as IndexError {
            try fail(e.message, kind: e.kind.rawValue, code: 1)
        }

        let analyst = Analyst(client: try config.makeModelClient(), index: index, embedder: embedder,
                              sessions: try SessionStore(dataDirectory: URL(fileURLWithPath: config.dataDirectory)),
                              options: AgentOptions(queryTimeout: Double(config.queryTimeoutMs) / 1000, contextTokens: config.contextTokens))
        let streaming = !json
        let status = StatusLine(enabled: !noProgress)
        do {
            let answer = try await analyst.ask(outline: outline, question: question, sessionId: session, model: config.model) { event in
                if case .status(let s) = event { status.show(s); return }
                status.clear()
                guard streaming else { return }
                switch event {
                case .delta(let text): Output.out(text)
                case .step(let step): Output.err("  [\(step.tool)] \(step.summary)\n")
                case .status: break
                }
            }
            if json {
                Output.out(Self.jsonText([
                    "answer": answer.answer, "sessionId": answer.sessionId, "model": answer.model, "cached": answer.cached,
                    "citations": answer.citations.map { ["sheet": $0.sheet, "range": $0.range.description, "ref": $0.a1] },
                    "ungrounded": answer.ungrounded, "durationMs": answer.durationMs,
                    "steps": answer.steps.map { ["tool": $0.tool, "arguments": $0.arguments, "summary": $0.summary, "ranges": $0.ranges] as [String: Any] },
                    "contextWindow": answer.contextWindow.map { ["tokens": $0.tokens, "source": $0.source.rawValue, "detail": $0.detail] as [String: Any] } ?? [:],
                    "tokenCounting": answer.tokenCounting,
                    "usage": answer.usage.map { u -> [String: Any] in
                        var o: [String: Any] = ["promptTokens": u.promptTokens, "serverPromptTokens": u.serverPromptTokens, "replyTokens": u.replyTokens,
                                                "durationMs": u.durationMs, "outline": "\(u.outline)", "budgetActions": u.budgetActions,
                                                "outcome": u.outcome, "budgetMs": u.budgetMs]
                        if let t = u.timeToFirstTokenMs { o["timeToFirstTokenMs"] = t }
                        return o
                    },
                ]) + "\n")
            } else {
                Output.out("\n")
                if !answer.citations.isEmpty { Output.out("\nSources: " + answer.citations.map(\.a1).joined(separator: ", ") + "\n") }
                if !answer.ungrounded.isEmpty {
                    Output.out("Check: these numbers are not in the data the model saw: " + answer.ungrounded.joined(separator: ", ") + "\n")
                }
                Output.err("session: \(answer.sessionId)\(answer.cached ? " (cached answer)" : "")\n")
            }
        } catch let e as LLMError where e.kind == .unavailable || e.kind == .modelNotFound {
            let rows = (try? await index.search(hash: outline.contentHash, query: question, limit: 5, embedder: embedder)) ?? []
            let kind = e.kind == .unavailable ? "llmUnavailable" : "modelNotFound"
            if json {
                Output.out(Self.jsonText([
                    "error": ["kind": kind, "message": e.message],
                    "rows": rows.map { ["sheet": $0.sheet, "range": $0.range.description, "ref": A1.qualified(sheet: $0.sheet, range: $0.range),
                                        "text": $0.text, "score": $0.score] as [String: Any] },
                ]) + "\n")
            } else {
                Output.err("xlchat: \(e.message.replacingOccurrences(of: "\n", with: " "))\n")
                Output.out(rows.isEmpty ? "No rows match the question.\n" : "Best-matching rows (no model):\n")
                for r in rows { Output.out("  \(A1.qualified(sheet: r.sheet, range: r.range))  \(r.text.replacingOccurrences(of: "\n", with: " "))\n") }
            }
            throw ExitCode(e.kind == .unavailable ? Self.exitNoModelServer : Self.exitModelNotFound)
        } catch let e as LLMError {
            try fail(e.message, kind: e.kind.rawValue, code: 1)
        }
    }

    private func fail(_ message: String, kind: String, code: Int32) throws -> Never {
        if json { Output.out(Self.jsonText(["error": ["kind": kind, "message": message]]) + "\n") }
        Output.err("xlchat: \(message)\n")
        throw ExitCode(code)
    }

    static func jsonText(_ value: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// The model's wait on stderr: "reading the prompt (1,566 tokens)", "waiting for the model,
/// 12 s". On a terminal one line redrawn in place and erased when the reply starts; elsewhere
/// one line per phase and one per 5 s of waiting.
final class StatusLine: @unchecked Sendable {
    private let enabled: Bool
    private let tty = isatty(2) != 0
    private let lock = NSLock()
    private var drawn = false
    private var lastWaitSecond = -1

    init(enabled: Bool) { self.enabled = enabled }

    static func text(_ s: AgentStatus) -> String {
        let tokens = s.promptTokens.map { " (\(Self.grouped($0)) tokens\(s.contextTokens.map { " of \(Self.grouped($0))" } ?? ""))" } ?? ""
        switch s.phase {
        case .prompt: return "step \(s.step): reading the prompt\(tokens)"
        case .waiting: return "step \(s.step): waiting for the model\(tokens), \(Int(s.elapsedMs / 1000)) s"
        case .generating: return "step \(s.step): the model is replying (first token after \(String(format: "%.1f", s.elapsedMs / 1000)) s)"
        }
    }

    static func grouped(_ n: Int) -> String {
        let f = NumberFormatter()
        f.numberStyle = .decimal
        f.groupingSeparator = ","
        return f.string(from: NSNumber(value: n)) ?? String(n)
    }

    func show(_ s: AgentStatus) {
        guard enabled else { return }
        lock.withLock {
            if tty {
                Output.err("\r\u{1B}[K" + Self.text(s))
                drawn = true
                if s.phase == .generating { Output.err("\r\u{1B}[K"); drawn = false }
                return
            }
            if s.phase == .waiting {
                let second = Int(s.elapsedMs / 1000)
                guard second / 5 != lastWaitSecond / 5 || lastWaitSecond < 0, second >= 5 else { return }
                lastWaitSecond = second
            } else {
                lastWaitSecond = -1
            }
            Output.err(Self.text(s) + "\n")
        }
    }

    /// Erases the redrawn line before other output.
    func clear() {
        lock.withLock { if drawn && tty { Output.err("\r\u{1B}[K"); drawn = false } }
    }
}

/// A one-line progress bar on stderr, redrawn in place (only on a terminal; elsewhere one
/// line per 10%).
final class ProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private let tty = isatty(2) != 0
    private let lock = NSLock()
    private var lastPercent = -1
    private var drawn = false
    private var closed = false

    init(enabled: Bool) { self.enabled = enabled }

    func show(fraction: Double, message: String) {
        guard enabled else { return }
        let percent = max(0, min(100, Int(fraction * 100)))
        lock.withLock {
            // A notification that arrives after the work it reports has ended draws nothing
            // (it used to print a stray `Indexing [ ] 0%` after `xlchat query`'s result).
            guard !closed, percent != lastPercent else { return }
            if !tty && percent / 10 == lastPercent / 10 && lastPercent >= 0 { return }
            lastPercent = percent
            let width = 30
            let filled = width * percent / 100
            let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
            let line = "Indexing [\(bar)] \(String(format: "%3d", percent))% \(message.prefix(40))"
            Output.err(tty ? "\r\u{1B}[K" + line : line + "\n")
            drawn = true
        }
    }

    func finish() {
        lock.withLock { if drawn && tty && !closed { Output.err("\n") }; drawn = false }
    }

    /// No more drawing: the work is over (late notifications are ignored).
    func close() {
        lock.withLock {
            if drawn && tty && !closed { Output.err("\n") }
            closed = true
        }
    }
}
