import ArgumentParser
import Foundation
import XLChatAgent
import XLChatProtocol
import XLChatServer
import XLChatWorkbook

/// `xlchat ask FILE "question"`: open, index (progress on stderr), stream the answer to
/// stdout, then the citations. Without a model server it prints the best-matching rows.
/// `xlchat ask DIR "question"`: the same over a folder (workspace/open + chat/ask with its
/// workspaceId); citations name their file.
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

    @Argument(help: "The workbook (\(WorkbookFormat.list)), or a folder of them (a workspace).")
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

    /// Open + `chat/ask` through the in-process client (the server's own handlers, threading and
    /// error mapping), then printing: deltas, steps and the model's wait come as the
    /// notifications a wire client gets.
    func run() async throws {
        let streaming = !json
        let status = StatusLine(enabled: !noProgress)
        let bar = ProgressBar(enabled: !noProgress)
        let client: InProcessClient
        var workbook: WorkbookOpenResult? = nil
        var workspace: WorkspaceOpenResult? = nil
        do {
            Logs.bootstrap(level: .error)
            client = try await InProcessClient(configuration: engine.configuration()) { notification in
                switch notification {
                case let p as ProgressNotification:
                    if p.value.kind == .end { bar.finish(); return }
                    bar.show(fraction: Double(p.value.percentage ?? 0) / 100, message: p.value.message ?? "")
                case let s as ChatStatusNotification:
                    guard let phase = AgentStatus.Phase(rawValue: s.phase) else { return }
                    status.show(AgentStatus(phase: phase, step: s.step, promptTokens: s.promptTokens,
                                            contextTokens: s.contextTokens, elapsedMs: s.elapsedMs))
                case let d as ChatDeltaNotification:
                    status.clear()
                    if streaming { Output.out(d.text) }
                case let step as ChatStepNotification:
                    status.clear()
                    if streaming { Output.err("  [\(step.tool)] \(step.summary)\n") }
                default:
                    break
                }
            }
            if isFolder(file) {
                // Every file of the folder opened and indexed (unchanged ones reused): its progress is the bar.
                let ws = try await client.send(WorkspaceOpenRequest(path: file, workDoneToken: .string("workspace")))
                bar.close()
                for w in ws.workbooks where w.status == "error" { Output.err("not read: \(w.path): \(w.errorKind ?? "error"): \(w.error ?? "")\n") }
                for p in ws.problems { Output.err("skipped: \(p.path): \(p.message)\n") }
                if let t = ws.truncated { Output.err("\(t)\n") }
                workspace = ws
            } else {
                // The one-pass open reads the file and loads its tables: its progress is the bar.
                workbook = try await client.send(WorkbookOpenRequest(path: file, workDoneToken: .string("index")))
            }
        } catch {
            try fail(error)
        }

        let answer: ChatAskResult
        do {
            answer = try await client.send(ChatAskRequest(workbookId: workbook?.workbookId, workspaceId: workspace?.workspaceId,
                                                          question: question, sessionId: session, workDoneToken: .string("index")))
            bar.close()
        } catch let e where e.kind == .llmUnavailable || e.kind == .modelNotFound {
            bar.close()
            status.clear()
            // No model: the best-matching rows, from the index the request built.
            // (A workspace has no search across files on the wire yet: no rows.)
            var rows: [SearchResultItem] = []
            if let workbook { rows = (try? await client.send(IndexSearchRequest(workbookId: workbook.workbookId, query: question, limit: 5)))?.results ?? [] }
            let kind = e.kind!.rawValue
            if json {
                Output.out(Self.jsonText([
                    "error": ["kind": kind, "message": e.message],
                    "rows": rows.map { ["sheet": $0.sheet, "range": $0.range, "ref": $0.ref, "text": $0.text, "score": $0.score] as [String: Any] },
                ]) + "\n")
            } else {
                Output.err("xlchat: \(e.message.replacingOccurrences(of: "\n", with: " "))\n")
                if let workspace {
                    // No search across a folder's files yet: say what can be done without a model.
                    Output.out("Without a model, query the folder with SQL: xlchat query \(file) 'SELECT ...' (\(workspace.tables.count) tables)\n")
                    throw ExitCode(e.kind == .llmUnavailable ? Self.exitNoModelServer : Self.exitModelNotFound)
                }
                Output.out(rows.isEmpty ? "No rows match the question.\n" : "Best-matching rows (no model):\n")
                for r in rows { Output.out("  \(r.ref)  \(r.text.replacingOccurrences(of: "\n", with: " "))\n") }
            }
            throw ExitCode(e.kind == .llmUnavailable ? Self.exitNoModelServer : Self.exitModelNotFound)
        } catch {
            bar.close()
            try fail(error)
        }
        status.clear()
        let refs = answer.citations.map { c in
            let ref = A1.parseRange(c.range).map { A1.qualified(sheet: c.sheet, range: $0.range) } ?? "\(c.sheet)!\(c.range)"
            return c.file.map { "\($0) › \(ref)" } ?? ref
        }
        if json {
            Output.out(Self.jsonText([
                "answer": answer.answer, "sessionId": answer.sessionId, "model": answer.model, "cached": answer.cached,
                "citations": zip(answer.citations, refs).map { c, ref -> [String: Any] in
                    var o: [String: Any] = ["sheet": c.sheet, "range": c.range, "ref": ref]
                    if let f = c.file { o["file"] = f }
                    return o
                },
                "stale": answer.stale ?? NSNull(),
                "ungrounded": answer.ungrounded, "durationMs": answer.durationMs,
                "steps": (answer.steps ?? []).map { ["tool": $0.tool, "arguments": $0.arguments, "summary": $0.summary, "ranges": $0.ranges] as [String: Any] },
                "contextWindow": answer.contextWindow.map { ["tokens": $0.tokens, "source": $0.source, "detail": $0.detail] as [String: Any] } ?? [:],
                "tokenCounting": answer.tokenCounting ?? "",
                "usage": (answer.usage ?? []).map { u -> [String: Any] in
                    var o: [String: Any] = ["promptTokens": u.promptTokens, "serverPromptTokens": u.serverPromptTokens, "replyTokens": u.replyTokens,
                                            "durationMs": u.durationMs, "outline": u.outline, "budgetActions": u.budgetActions,
                                            "outcome": u.outcome, "budgetMs": u.budgetMs]
                    if let t = u.timeToFirstTokenMs { o["timeToFirstTokenMs"] = t }
                    return o
                },
            ]) + "\n")
        } else {
            Output.out("\n")
            if !refs.isEmpty { Output.out("\nSources: " + refs.joined(separator: ", ") + "\n") }
            if !answer.ungrounded.isEmpty {
                Output.out("Check: these numbers are not in the data the model saw: " + answer.ungrounded.joined(separator: ", ") + "\n")
            }
            if let stale = answer.stale { Output.out("(\(stale))\n") }
            Output.err("session: \(answer.sessionId)\(answer.cached ? " (cached answer)" : "")\n")
        }
    }

    /// A failure other than a missing model: one line on stderr (and the JSON error with
    /// `--json`), exit status 1.
    private func fail(_ error: any Error) throws -> Never {
        let wire = error as? ResponseError
        let message = wire?.message ?? "\(error)"
        if json { Output.out(Self.jsonText(["error": ["kind": wire?.kind?.rawValue ?? "internal", "message": message]]) + "\n") }
        Output.err("xlchat: \(message)\n")
        throw ExitCode(1)
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
