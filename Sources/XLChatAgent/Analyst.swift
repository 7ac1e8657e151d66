import Foundation
import XLChatIndex
import XLChatLLM
import XLChatWorkbook

/// The spreadsheet analyst: one question in, a streamed, cited, grounding-checked answer out.
///
/// The prompt carries the workbook's outline (sheets, tables, typed columns, a few sample rows
/// read through SQL) and the best hybrid-search hits for the question, all in delimited data
/// blocks. The model may call `sql`, `read_range` and `search` (all read-only) for up to
/// `maxSteps` replies; a failed or malformed call goes back to it as the tool result. A model
/// that cannot take tools is asked for SQL in a fenced block instead.
public final class Analyst: Sendable {
    public let client: any ModelClient
    public let index: WorkbookIndex
    public let embedder: any Embedder
    public let sessions: SessionStore?
    public let options: AgentOptions

    public init(client: any ModelClient, index: WorkbookIndex, embedder: any Embedder, sessions: SessionStore?,
                options: AgentOptions = AgentOptions()) {
        self.client = client; self.index = index; self.embedder = embedder; self.sessions = sessions; self.options = options
    }

    /// Answers `question` about the workbook of `outline` (its index is built first if it has
    /// none). Events arrive in order through `onEvent`, which the agent awaits. Cancelling the
    /// calling task closes the model's stream and throws `CancellationError`; model failures
    /// throw `LLMError`. Nothing is written to the session unless an answer completes.
    public func ask(outline: WorkbookOutline, question: String, sessionId: String? = nil, model: String,
                    onEvent: @escaping @Sendable (AgentEvent) async -> Void = { _ in }) async throws -> AgentAnswer {
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6 }
        let question = question.trimmingCharacters(in: .whitespacesAndNewlines)
        let sessionId = sessionId ?? UUID().uuidString.lowercased()
        let history = try sessions?.history(sessionId) ?? []

        let key = Self.cacheKey(contentHash: outline.contentHash, question: question, model: model, history: history)
        if let hit = sessions?.cached(key) {
            await onEvent(.delta(hit.answer))
            let citations = hit.citations.compactMap { c in A1.parseRange(c.range).map { SourceRange(sheet: c.sheet, range: $0.range) } }
            try sessions?.appendTurn(sessionId, question: question, answer: hit.answer, citations: citations.map(\.a1),
                                     ungrounded: hit.ungrounded)
            return AgentAnswer(answer: hit.answer, citations: citations, sessionId: sessionId, model: model, cached: true,
                               ungrounded: hit.ungrounded, steps: hit.steps, stepLimitReached: false, usedFallback: false, durationMs: elapsed())
        }

        try await ensureIndexed(outline)
        let tools = ToolRunner(outline: outline, index: index, embedder: embedder, options: options)
        let context = try await PromptBuilder(outline: outline, index: index, embedder: embedder, options: options).build(question: question)

        var run = Run(onEvent: onEvent, evidence: context.hits)
        var historyMessages: [ChatMessage] = []
        for m in history { historyMessages.append(m.role == .user ? .user(m.content) : .assistant(m.content)) }
        let chatOptions = ChatOptions(temperature: options.chat.temperature, maxTokens: options.chat.maxTokens)

        do {
            try await toolLoop(model: model, system: context.system, history: historyMessages, question: question,
                               tools: tools, options: chatOptions, run: &run)
        } catch let e as LLMError where e.kind == .toolsUnsupported && run.steps.isEmpty && run.answer.isEmpty {
            run.usedFallback = true
            try await fallback(model: model, system: context.fallbackSystem, history: historyMessages, question: question,
                               tools: tools, options: chatOptions, run: &run)
        }
        try Task.checkCancellation()

        // Grounding checks what the model wrote; a summary the agent writes at the step limit
        // quotes tool results and cites all of them.
        let modelText = run.answer
        var citations = Self.citations(answer: modelText, evidence: run.evidence, structural: Self.structuralWords(outline))
        if modelText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || (run.stepLimitReached && !run.finalAnswerWritten) {
            let summary = Self.summary(run: run, maxSteps: options.maxSteps, hadText: !modelText.isEmpty)
            run.answer += summary
            await onEvent(.delta(summary))
            citations = Citations.merge(run.evidence.filter(\.fromTool).flatMap(\.ranges))
        }
        let answer = run.answer
        let ungrounded = Grounding.ungrounded(answer: modelText, evidence: [context.system] + run.toolTexts + run.steps.map(\.summary),
                                              question: ([question] + history.filter { $0.role == .user }.map(\.content)).joined(separator: "\n"))
        try sessions?.appendTurn(sessionId, question: question, answer: answer, citations: citations.map(\.a1), ungrounded: ungrounded)
        sessions?.store(key, CachedAnswer(answer: answer, citations: citations.map { CitationRecord(sheet: $0.sheet, range: $0.range.description) },
                                          ungrounded: ungrounded, steps: run.steps))
        return AgentAnswer(answer: answer, citations: citations, sessionId: sessionId, model: model, cached: false,
                           ungrounded: ungrounded, steps: run.steps, stepLimitReached: run.stepLimitReached,
                           usedFallback: run.usedFallback, durationMs: elapsed())
    }

    /// The state of one question's run.
    struct Run {
        var onEvent: @Sendable (AgentEvent) async -> Void
        var evidence: [Evidence]
        var answer = ""
        var steps: [AgentStep] = []
        var toolTexts: [String] = []
        var stepLimitReached = false
        var usedFallback = false
        /// After the loop stopped, the model answered from the results (no summary needed).
        var finalAnswerWritten = false

        mutating func record(_ outcome: ToolOutcome) async {
            steps.append(outcome.step)
            toolTexts.append(outcome.resultText)
            evidence += outcome.evidence
            await onEvent(.step(outcome.step))
        }
    }

    private func ensureIndexed(_ outline: WorkbookOutline) async throws {
        if (try? index.status(hash: outline.contentHash).built) == true { return }
        let reader = try Workbooks.open(path: outline.path)
        _ = try await index.build(outline: outline, reader: reader, embedder: embedder)
    }

    /// Streams one model reply: text deltas go straight to the caller.
    private func reply(model: String, messages: [ChatMessage], tools: [ToolDefinition], options: ChatOptions,
                       stream: Bool, run: inout Run) async throws -> (text: String, calls: [ToolCall]) {
        var text = ""
        var calls: [ToolCall] = []
        for try await event in client.chat(model: model, messages: messages, tools: tools, options: options) {
            switch event {
            case .delta(let d):
                text += d
                if stream {
                    run.answer += d
                    await run.onEvent(.delta(d))
                }
            case .toolCalls(let c): calls += c
            case .done: break
            }
        }
        return (text, calls)
    }

    private func toolLoop(model: String, system: String, history: [ChatMessage], question: String, tools: ToolRunner,
                          options: ChatOptions, run: inout Run) async throws {
        var messages = [ChatMessage.system(system)] + history + [.user(question)]
        var seen = Set<String>()
        var repeated = false
        for _ in 0..<max(1, self.options.maxSteps) {
            let (text, calls) = try await reply(model: model, messages: messages, tools: ToolRunner.definitions,
                                                options: options, stream: true, run: &run)
            if calls.isEmpty { return }
            // A model that asks again for what it already has (small models loop) is told to answer.
            let keys = calls.map { $0.name + "\u{1}" + ($0.name == "sql" ? ToolRunner.cleanSQL($0.arguments?["query"]?.stringValue ?? $0.argumentsText) : $0.argumentsText) }
            if keys.allSatisfy(seen.contains) { repeated = true; break }
            seen.formUnion(keys)
            messages.append(.assistant(text, toolCalls: calls))
            for call in calls {
                try Task.checkCancellation()
                let outcome = await tools.run(call)
                await run.record(outcome)
                messages.append(.toolResult(outcome.resultText, for: call))
            }
        }
        run.stepLimitReached = !repeated
        // One last reply without tools, from the results gathered. If it fails or says
        // nothing, `ask` writes a summary of the tool results instead.
        guard run.steps.contains(where: \.ok) else { return }
        messages.append(.user("Answer the question now, briefly, from the tool results above. Do not call tools."))
        do {
            _ = try await reply(model: model, messages: messages, tools: [], options: options, stream: true, run: &run)
            run.finalAnswerWritten = !run.answer.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        } catch let e as LLMError where e.kind != .unavailable {
            return
        }
    }

    /// For models without tools: ask for SQL in a fenced block, run it (twice at most, feeding
    /// an error back), then stream an answer from the result.
    private func fallback(model: String, system: String, history: [ChatMessage], question: String, tools: ToolRunner,
                          options: ChatOptions, run: inout Run) async throws {
        var messages = [ChatMessage.system(system)] + history
            + [.user(question + "\n\nReply with one SQLite SELECT that answers this, in a ```sql fenced block, and nothing else.")]
        var resultText: String? = nil
        for attempt in 0..<2 {
            let (text, _) = try await reply(model: model, messages: messages, tools: [], options: options, stream: false, run: &run)
            guard let sql = Self.fencedSQL(text) else {
                if attempt == 0 && resultText == nil {
                    // No SQL at all: the reply is the answer.
                    run.answer += text
                    await run.onEvent(.delta(text))
                    return
                }
                break
            }
            let call = ToolCall(name: "sql", arguments: ["query": .string(sql)])
            let outcome = await tools.run(call)
            await run.record(outcome)
            messages.append(.assistant(text))
            if outcome.step.ok { resultText = outcome.resultText; break }
            messages.append(.user(outcome.resultText + "\nReply with a corrected SELECT in a ```sql fenced block."))
        }
        let final = [ChatMessage.system(system)] + history + [
            .user(question),
            .user("The workbook answered a query for this question:\n" + (resultText ?? "(the query failed)")
                  + "\nAnswer the question from this result, briefly, using its numbers as they are."),
        ]
        _ = try await reply(model: model, messages: final, tools: [], options: options, stream: true, run: &run)
    }

    /// The SQL in the first ```sql (or bare ```) fenced block, or a reply that is itself a SELECT.
    static func fencedSQL(_ text: String) -> String? {
        if let open = text.range(of: "```") {
            var rest = text[open.upperBound...]
            if let nl = rest.firstIndex(of: "\n") { rest = rest[rest.index(after: nl)...] }
            let body = rest.range(of: "```").map { rest[..<$0.lowerBound] } ?? rest
            let sql = body.trimmingCharacters(in: .whitespacesAndNewlines)
            return sql.isEmpty ? nil : sql
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let lower = trimmed.lowercased()
        if lower.hasPrefix("select") || lower.hasPrefix("with") { return trimmed }
        return nil
    }

    /// The answer at the step limit (or when the model said nothing): what the tools found.
    static func summary(run: Run, maxSteps: Int, hadText: Bool) -> String {
        var out = hadText ? "\n\n" : ""
        if run.stepLimitReached {
            out += "I stopped after \(maxSteps) rounds of tool calls without a final answer from the model."
        } else {
            out += "The model gave no answer."
        }
        let found = run.steps.filter(\.ok)
        if found.isEmpty {
            out += " No tool call succeeded, so nothing was found."
            return out
        }
        out += " Here is what the tools found:"
        for (step, text) in zip(run.steps, run.toolTexts) where step.ok {
            let body = text.components(separatedBy: "\n").filter { !$0.hasPrefix(DataBlock.open) && $0 != DataBlock.close }
            out += "\n- \(step.tool) \(step.arguments): \(step.summary)"
            for line in body.dropFirst().prefix(6) { out += "\n    \(line)" }
        }
        return out
    }

    /// The ranges of the evidence the answer used: items sharing a number (not a small
    /// integer) or a distinctive word (not a sheet, table or column name) with the answer.
    /// When nothing matches, every tool result counts as used. The cells of a formula chain
    /// the `trace` tool showed are always cited, ahead of the rest.
    static func citations(answer: String, evidence: [Evidence], structural: Set<String> = []) -> [SourceRange] {
        let chain = evidence.filter(\.formulaChain).flatMap(\.ranges)
        let grounded = groundedCitations(answer: answer, evidence: evidence, structural: structural)
        return chain.isEmpty ? grounded : Citations.merge(chain + grounded)
    }

    static func groundedCitations(answer: String, evidence: [Evidence], structural: Set<String>) -> [SourceRange] {
        let answerTokens = Grounding.tokens(in: answer)
        let answerWords = words(answer).subtracting(structural)
        func used(_ e: Evidence) -> Bool {
            for t in Grounding.tokens(in: e.text) {
                if t.isLiteral {
                    if answerTokens.contains(where: { $0.isLiteral && $0.text == t.text }) { return true }
                } else if t.decimals > 0 || abs(t.value) >= 10,
                          answerTokens.contains(where: { !$0.isLiteral && Grounding.matches($0, t.value) }) {
                    return true
                }
            }
            return !words(e.text).isDisjoint(with: answerWords)
        }
        // Tool results the answer used come first: they are what the model chose to look at.
        // Prompt rows (sample rows, search hits) count when no tool result was used.
        // Single rows beat many-row hits (windows, columns).
        let usedItems = evidence.filter(used)
        for tier in [(true, false), (true, true), (false, false), (false, true)] {
            let ranges = usedItems.filter { $0.fromTool == tier.0 && $0.coarse == tier.1 }.flatMap(\.ranges)
            if !ranges.isEmpty { return Citations.merge(ranges) }
        }
        return Citations.merge(evidence.filter(\.fromTool).flatMap(\.ranges))
    }

    /// Sheet, table and column names: in every row's text, so they say nothing about which
    /// rows an answer used.
    static func structuralWords(_ outline: WorkbookOutline) -> Set<String> {
        var out = Set<String>()
        for sheet in outline.sheets {
            out.formUnion(words(sheet.info.name))
            if let t = sheet.table {
                out.formUnion(words(t.name))
                for c in t.columns { out.formUnion(words(c.name)); out.formUnion(words(c.header)) }
            }
        }
        return out
    }

    static let stopWords: Set<String> = ["the", "and", "that", "this", "with", "from", "total", "there", "which", "have", "were",
                                         "what", "true", "false", "null", "none", "rows", "sheet", "table", "value", "values"]

    /// Distinctive lower-cased words (4+ letters) of a text.
    static func words(_ text: String) -> Set<String> {
        var out = Set<String>()
        for w in text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }) where w.contains(where: \.isLetter) && w.count >= 4 && !stopWords.contains(String(w)) {
            out.insert(String(w))
        }
        return out
    }

    static func cacheKey(contentHash: String, question: String, model: String, history: [SessionMessage]) -> String {
        var parts = ["xlchat-answer-v1", contentHash, question, model]
        for m in history { parts.append(m.role.rawValue + ":" + m.content) }
        return ContentHash.sha256(string: parts.joined(separator: "\u{1F}"))
    }
}
