import Foundation
import XLChatIndex
import XLChatLLM
import XLChatWorkbook

/// The spreadsheet analyst: one question in, a streamed, cited, grounding-checked answer out.
///
/// It works against an `AnalysisSource`: one workbook, or a workspace of many files in one SQL
/// namespace. The prompt carries the source's outline (files, sheets, tables, union views,
/// typed columns, a few sample rows read through SQL) and the best hybrid-search hits for the
/// question, all in delimited data blocks. The model may call `sql`, `describe_table`, `read_range` and `search` (all
/// read-only) for up to `maxSteps` model calls; a failed or malformed call goes back to it as
/// the tool result, an empty reply gets a note. Every call is fitted to the model's context
/// window first (`ContextBudget`); a context-length refusal is learned from and the call
/// retried. `.status` events show each call's wait. A model that cannot take tools is asked
/// for SQL in a fenced block instead.
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

    /// Answers `question` about the workbook of `outline`, whose typed tables are built: the
    /// caller ensures it (`WorkbookHandle.ensureIndexed`); the analyst builds nothing. A missing
    /// search part is built by the index's search builder when the search tool first asks.
    /// Events arrive in order through `onEvent`, which the agent awaits. Cancelling the
    /// calling task closes the model's stream and throws `CancellationError`; model failures
    /// throw `LLMError`. Nothing is written to the session unless an answer completes.
    public func ask(outline: WorkbookOutline, question: String, sessionId: String? = nil, model: String,
                    onEvent: @escaping @Sendable (AgentEvent) async -> Void = { _ in }) async throws -> AgentAnswer {
        try await ask(source: WorkbookSource(outline: outline, index: index, embedder: embedder), question: question, sessionId: sessionId,
                      model: model, onEvent: onEvent)
    }

    /// Answers `question` about `source`: one workbook (`WorkbookSource`, its typed tables
    /// built) or a workspace of many files (`WorkspaceSource`, indexed by its refreshes); the
    /// analyst builds nothing. The answer cache's key is the source's
    /// `stateKey`, so an answer is served again only for the same data. A source with a
    /// `staleNote` (a workspace being re-indexed) answers from its last complete state and
    /// the answer says so (`AgentAnswer.stale`). Events, cancellation and errors as `ask(outline:)`.
    public func ask(source: any AnalysisSource, question: String, sessionId: String? = nil, model: String,
                    onEvent: @escaping @Sendable (AgentEvent) async -> Void = { _ in }) async throws -> AgentAnswer {
        let started = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6 }
        let question = question.trimmingCharacters(in: .whitespacesAndNewlines)
        let sessionId = sessionId ?? UUID().uuidString.lowercased()
        let history = try sessions?.history(sessionId) ?? []

        let key = Self.cacheKey(contentHash: source.stateKey, question: question, model: model, history: history)
        if let hit = sessions?.cached(key) {
            await onEvent(.delta(hit.answer))
            let citations = hit.citations.compactMap { c in A1.parseRange(c.range).map { SourceRange(file: c.file, sheet: c.sheet, range: $0.range) } }
            try sessions?.appendTurn(sessionId, question: question, answer: hit.answer, citations: citations.map(\.label),
                                     ungrounded: hit.ungrounded)
            var result = AgentAnswer(answer: hit.answer, citations: citations, sessionId: sessionId, model: model, cached: true,
                                     ungrounded: hit.ungrounded, steps: hit.steps, stepLimitReached: false, usedFallback: false, durationMs: elapsed())
            result.stale = source.staleNote
            return result
        }

        let tools = ToolRunner(source: source, options: options)
        let toolDefinitions = ToolRunner.definitions(for: source.kind)
        let context = try await PromptBuilder(source: source, options: options).build(question: question)

        // The budget: the model's context window (the user's setting, else learned, else the
        // server's word, else 4,096), capped at `maxBudgetTokens`, minus the reply's tokens.
        let window = await client.resolveContextWindow(model: model, setting: options.contextTokens)
        let counter = await tokenCounter(model: model, sample: context.system(.full))
        let budget = ContextBudget(window: min(window.tokens, Self.maxBudgetTokens), replyTokens: options.chat.maxTokens, counter: counter)

        var run = Run(onEvent: onEvent, evidence: context.hits, budget: budget, statusInterval: options.statusInterval)
        var historyMessages: [ChatMessage] = []
        for m in history { historyMessages.append(m.role == .user ? .user(m.content) : .assistant(m.content)) }
        var convo = Conversation(context: context, history: historyMessages, question: question)

        do {
            try await toolLoop(model: model, convo: &convo, tools: tools, definitions: toolDefinitions, run: &run)
        } catch let e as LLMError where (e.kind == .toolsUnsupported && run.steps.isEmpty || e.stoppedByClient && !run.steps.contains(where: \.ok))
                    && run.answer.isEmpty {
            // No tools, or a tool-call reply that ran away before any call found something:
            // ask for SQL in a fenced block instead (a reply without tools streams, and servers
            // apply its token limit).
            run.usedFallback = true
            convo.fallback = true
            convo.items = []
            do {
                try await fallback(model: model, convo: convo, tools: tools, run: &run)
            } catch let e as LLMError where run.runaway && Self.endsWithSummary(e) {
                run.modelError = e.message
            }
        }
        try Task.checkCancellation()

        // Grounding checks what the model wrote; a summary the agent writes at the step limit
        // quotes tool results and cites all of them.
        let modelText = run.answer
        var citations = Self.citations(answer: modelText, evidence: run.evidence, structural: source.structuralWords)
        if modelText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || (run.stepLimitReached && !run.finalAnswerWritten)
            || (run.modelError != nil && !run.finalAnswerWritten) {
            let summary = Self.summary(run: run, maxSteps: options.maxSteps, hadText: !modelText.isEmpty)
            run.answer += summary
            await onEvent(.delta(summary))
            citations = Citations.merge(run.evidence.filter(\.fromTool).flatMap(\.ranges))
        }
        let answer = run.answer
        let ungrounded = Grounding.ungrounded(answer: modelText, evidence: [context.system(.full)] + run.toolTexts + run.steps.map(\.summary),
                                              question: ([question] + history.filter { $0.role == .user }.map(\.content)).joined(separator: "\n"))
        try sessions?.appendTurn(sessionId, question: question, answer: answer, citations: citations.map(\.label), ungrounded: ungrounded)
        sessions?.store(key, CachedAnswer(answer: answer, citations: citations.map { CitationRecord(file: $0.file, sheet: $0.sheet, range: $0.range.description) },
                                          ungrounded: ungrounded, steps: run.steps))
        var result = AgentAnswer(answer: answer, citations: citations, sessionId: sessionId, model: model, cached: false,
                                 ungrounded: ungrounded, steps: run.steps, stepLimitReached: run.stepLimitReached,
                                 usedFallback: run.usedFallback, durationMs: elapsed())
        result.contextWindow = ContextWindow(tokens: run.budget.window, source: run.learnedWindow ? .learned : window.source,
                                             detail: run.learnedWindow ? "from the server's context-length error" : window.detail)
        result.tokenCounting = run.budget.counter.description
        result.usage = run.usage
        result.stale = source.staleNote
        return result
    }

    /// The largest window the budget uses, whatever the model could take: prompts here stay
    /// far below it, and on Ollama a bigger `num_ctx` costs memory.
    public static let maxBudgetTokens = 32_768

    /// Token counters calibrated on the server's tokenizer, per server and model, for the
    /// process's life (one tokenizer call per model).
    private static let counters = CounterCache()

    private func tokenCounter(model: String, sample: String) async -> TokenCounter {
        let key = client.endpointDescription + "\u{1}" + model
        if let known = Self.counters.get(key) { return known }
        // Only a calibrated counter is kept: a tokenizer that failed (a busy one-thread server
        // times out) is asked again on the next question, the estimate serving meanwhile.
        guard let counter = await client.tokenCount(model: model, text: sample).flatMap({ TokenCounter.calibrated(text: sample, tokens: $0) }) else {
            return .estimate
        }
        Self.counters.set(key, counter)
        return counter
    }

    /// The state of one question's run.
    struct Run {
        var onEvent: @Sendable (AgentEvent) async -> Void
        var evidence: [Evidence]
        var budget: ContextBudget
        var statusInterval: Double
        var answer = ""
        var steps: [AgentStep] = []
        var toolTexts: [String] = []
        var stepLimitReached = false
        var usedFallback = false
        /// After the loop stopped, the model answered from the results (no summary needed).
        var finalAnswerWritten = false
        /// Model calls made (each counts against the step limit, retries included).
        var modelCalls = 0
        var usage: [StepUsage] = []
        /// The window was learned from a context error during this run.
        var learnedWindow = false
        /// Why the model stopped answering, when a model error ended the loop.
        var modelError: String?
        /// A reply was stopped by its `ReplyBound` (the model ran away).
        var runaway = false

        init(onEvent: @escaping @Sendable (AgentEvent) async -> Void, evidence: [Evidence], budget: ContextBudget, statusInterval: Double) {
            self.onEvent = onEvent; self.evidence = evidence; self.budget = budget; self.statusInterval = statusInterval
        }

        mutating func record(_ outcome: ToolOutcome) async {
            steps.append(outcome.step)
            toolTexts.append(outcome.resultText)
            evidence += outcome.evidence
            await onEvent(.step(outcome.step))
        }
    }

    /// One model call: fits the conversation into the budget, reports the wait (`.status`),
    /// streams the reply (text deltas go straight to the caller when `stream`).
    private func reply(model: String, convo: Conversation, tools: [ToolDefinition], stream: Bool,
                       run: inout Run) async throws -> (text: String, calls: [ToolCall]) {
        run.modelCalls += 1
        let step = run.modelCalls
        let fitStart = DispatchTime.now().uptimeNanoseconds
        let fitted = run.budget.fit(convo, tools: tools)
        let budgetMs = Double(DispatchTime.now().uptimeNanoseconds - fitStart) / 1e6
        let chatOptions = ChatOptions(temperature: options.chat.temperature, maxTokens: options.chat.maxTokens,
                                      numCtx: run.budget.numCtx(promptTokens: fitted.tokens), maxContext: run.budget.window)
        let window = run.budget.window
        let sent = DispatchTime.now().uptimeNanoseconds
        func ms() -> Double { Double(DispatchTime.now().uptimeNanoseconds - sent) / 1e6 }
        let onEvent = run.onEvent
        await onEvent(.status(AgentStatus(phase: .prompt, step: step, promptTokens: fitted.tokens, contextTokens: window, elapsedMs: 0)))
        let interval = run.statusInterval
        var ticker: Task<Void, Never>? = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(max(0.05, interval) * 1e9))
                if Task.isCancelled { return }
                await onEvent(.status(AgentStatus(phase: .waiting, step: step, promptTokens: fitted.tokens, contextTokens: window,
                                                  elapsedMs: Double(DispatchTime.now().uptimeNanoseconds - sent) / 1e6)))
            }
        }
        func stopTicker() async {
            guard let t = ticker else { return }
            t.cancel(); await t.value; ticker = nil
        }
        var usage = StepUsage(promptTokens: fitted.tokens, serverPromptTokens: 0, replyTokens: 0, timeToFirstTokenMs: nil, durationMs: 0,
                              outline: fitted.plan.detail, budgetActions: fitted.actions, outcome: "ok", budgetMs: budgetMs)
        var text = ""
        var calls: [ToolCall] = []
        do {
            let bound = replyBound(model: model, promptTokens: fitted.tokens, counter: run.budget.counter)
            let upstream = client.chat(model: model, messages: fitted.messages, tools: tools, options: chatOptions)
            for try await event in bound.apply(upstream, what: "the model's reply to step \(step)") {
                if case .done(let stats) = event {
                    usage.serverPromptTokens = stats.promptTokens
                    usage.replyTokens = stats.evalTokens
                    continue
                }
                if usage.timeToFirstTokenMs == nil {
                    usage.timeToFirstTokenMs = ms()
                    await stopTicker()
                    await onEvent(.status(AgentStatus(phase: .generating, step: step, promptTokens: fitted.tokens, contextTokens: window, elapsedMs: ms())))
                }
                switch event {
                case .delta(let d):
                    text += d
                    if stream {
                        run.answer += d
                        await onEvent(.delta(d))
                    }
                case .toolCalls(let c): calls += c
                case .done: break
                }
            }
        } catch let e as LLMError where e.stoppedByClient {
            await stopTicker()
            usage.durationMs = ms()
            usage.outcome = "runaway"
            run.usage.append(usage)
            run.runaway = true
            // A text reply cut at its bound is kept (it streamed already); a tool-call reply
            // that ran away is an error the caller recovers from.
            guard calls.isEmpty, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw e }
            return (text, [])
        } catch {
            await stopTicker()
            usage.durationMs = ms()
            usage.outcome = (error as? LLMError).map { $0.kind == .contextExceeded ? "contextExceeded" : "error: \($0.kind.rawValue)" } ?? "cancelled"
            run.usage.append(usage)
            throw error
        }
        await stopTicker()
        usage.durationMs = ms()
        Self.learnSpeed(key: client.endpointDescription + "\u{1}" + model, usage: usage, streamedText: text)
        if calls.isEmpty && text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { usage.outcome = "empty" }
        run.usage.append(usage)
        return (text, calls)
    }

    /// The bound on one reply (`ReplyBound`): text up to twice the reply's token limit (plus
    /// 64 tokens), by the budget's counter; time `options.replySeconds` when set, else, once a
    /// reply of this server and model has streamed, 30 s plus three times what reading this
    /// prompt and writing a whole reply take at the slowest speeds seen (`ReplySpeeds`), else
    /// the HTTP policy's deadline. The slack is wide on purpose: stopping a slow but sane
    /// reply costs an answer, letting a runaway go on costs minutes.
    func replyBound(model: String, promptTokens: Int, counter: TokenCounter) -> ReplyBound {
        let maxBytes = Int(Double(options.chat.maxTokens * 2 + 64) * max(counter.bytesPerToken, TokenCounter.estimateBytesPerToken))
        if let s = options.replySeconds { return ReplyBound(maxTextBytes: maxBytes, seconds: s) }
        guard let speed = Self.speeds.get(client.endpointDescription + "\u{1}" + model) else {
            return ReplyBound(maxTextBytes: maxBytes, seconds: nil)
        }
        let expected = Double(promptTokens) / speed.read + Double(options.chat.maxTokens) / speed.generate
        return ReplyBound(maxTextBytes: maxBytes, seconds: 30 + 3 * expected)
    }

    /// Reading and writing speeds (tokens/s) per server and model, the slowest seen in this
    /// process, from replies that streamed text (their first token and their pace show both).
    struct ReplySpeed: Sendable, Hashable { var read: Double; var generate: Double }
    static let speeds = SpeedCache()

    static func learnSpeed(key: String, usage: StepUsage, streamedText: String) {
        guard let ttft = usage.timeToFirstTokenMs, ttft >= 50, usage.durationMs - ttft >= 100 else { return }
        let written = usage.replyTokens > 0 ? usage.replyTokens : TokenCounter.estimate.count(streamedText)
        let read = usage.serverPromptTokens > 0 ? usage.serverPromptTokens : usage.promptTokens
        guard written >= 8, read > 0 else { return }
        speeds.merge(key, ReplySpeed(read: Double(read) / (ttft / 1000), generate: Double(written) / ((usage.durationMs - ttft) / 1000)))
    }

    /// `reply`, retried when the server says the prompt does not fit: the window it names is
    /// learned (for this process) and the conversation fitted again; when it names none, or
    /// the one already used, the count is taken as too low and the budget tightened by a fifth.
    /// Each attempt counts against the step limit.
    private func fittedReply(model: String, convo: Conversation, tools: [ToolDefinition], stream: Bool,
                             run: inout Run) async throws -> (text: String, calls: [ToolCall]) {
        var attempts = 0
        while true {
            do {
                return try await reply(model: model, convo: convo, tools: tools, stream: stream, run: &run)
            } catch let e as LLMError where e.kind == .contextExceeded && attempts < 3 && run.modelCalls < options.maxSteps + 3 {
                attempts += 1
                if let n = e.contextTokens, n < run.budget.window {
                    run.budget.window = n
                    LearnedContext.set(n, endpoint: client.endpointDescription, model: model)
                } else {
                    run.budget.counter.bytesPerToken *= 0.8
                    if e.contextTokens == nil { run.budget.window = max(512, run.budget.window * 4 / 5) }
                }
                run.learnedWindow = true
            }
        }
    }

    /// Model failures that end the loop with what the tools found instead of an error, once a
    /// tool call has found something: the server broke off, timed out, answered an HTTP error,
    /// or the prompt still did not fit. (No server, no model and bad settings stay errors.)
    static func endsWithSummary(_ e: LLMError) -> Bool {
        [.streamFailed, .timeout, .badResponse, .contextExceeded].contains(e.kind)
    }

    private func toolLoop(model: String, convo: inout Conversation, tools: ToolRunner, definitions: [ToolDefinition], run: inout Run) async throws {
        var seen = Set<String>()
        var repeated = false
        let limit = max(1, options.maxSteps)
        while run.modelCalls < limit {
            let text: String, calls: [ToolCall]
            do {
                (text, calls) = try await fittedReply(model: model, convo: convo, tools: definitions, stream: true, run: &run)
            } catch let e as LLMError where Self.endsWithSummary(e) && run.steps.contains(where: \.ok) {
                run.modelError = e.message
                return
            }
            if calls.isEmpty {
                // A reply that is neither text nor a tool call: say so and ask again.
                if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty && run.modelCalls < limit {
                    convo.items.append(.note("Your last reply was empty. Call one of the tools, or answer the question in words."))
                    continue
                }
                return
            }
            // A model that asks again for what it already has (small models loop) is told to answer.
            let keys = calls.map { $0.name + "\u{1}" + ($0.name == "sql" ? ToolRunner.cleanSQL($0.arguments?["query"]?.stringValue ?? $0.argumentsText) : $0.argumentsText) }
            if keys.allSatisfy(seen.contains) { repeated = true; break }
            seen.formUnion(keys)
            var round = Conversation.Round(text: text, calls: calls, outcomes: [])
            for call in calls {
                try Task.checkCancellation()
                let outcome = await tools.run(call)
                await run.record(outcome)
                round.outcomes.append(outcome)
            }
            convo.items.append(.round(round))
        }
        run.stepLimitReached = !repeated
        // One last reply without tools, from the results gathered. If it fails or says
        // nothing, `ask` writes a summary of the tool results instead.
        guard run.steps.contains(where: \.ok) else { return }
        convo.items.append(.note("Answer the question now, briefly, from the tool results above. Do not call tools."))
        do {
            _ = try await fittedReply(model: model, convo: convo, tools: [], stream: true, run: &run)
            run.finalAnswerWritten = !run.answer.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        } catch let e as LLMError where e.kind != .unavailable {
            return
        }
    }

    /// For models without tools: ask for SQL in a fenced block, run it (twice at most, feeding
    /// an error back), then stream an answer from the result.
    private func fallback(model: String, convo start: Conversation, tools: ToolRunner, run: inout Run) async throws {
        var convo = start
        convo.question = start.question + "\n\nReply with one SQLite SELECT that answers this, in a ```sql fenced block, and nothing else."
        var resultText: String? = nil
        for attempt in 0..<2 {
            let (text, _) = try await fittedReply(model: model, convo: convo, tools: [], stream: false, run: &run)
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
            if outcome.step.ok { resultText = outcome.resultText; break }
            convo.items.append(.note("You wrote:\n" + text + "\n\n" + outcome.resultText + "\nReply with a corrected SELECT in a ```sql fenced block."))
        }
        var final = start
        final.items = [.note("The workbook answered a query for this question:\n" + (resultText ?? "(the query failed)")
                             + "\nAnswer the question from this result, briefly, using its numbers as they are.")]
        _ = try await fittedReply(model: model, convo: final, tools: [], stream: true, run: &run)
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
        } else if let e = run.modelError {
            out += "The model stopped before answering (\(e))."
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
            for t in sheet.tables {
                out.formUnion(words(t.name))
                for p in t.parts { out.formUnion(words(p.name)) }
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

final class CounterCache: @unchecked Sendable {
    private let lock = NSLock()
    private var counters: [String: TokenCounter] = [:]
    func get(_ key: String) -> TokenCounter? { lock.withLock { counters[key] } }
    func set(_ key: String, _ c: TokenCounter) { lock.withLock { counters[key] = c } }
}

final class SpeedCache: @unchecked Sendable {
    private let lock = NSLock()
    private var speeds: [String: Analyst.ReplySpeed] = [:]
    func get(_ key: String) -> Analyst.ReplySpeed? { lock.withLock { speeds[key] } }
    /// Keeps the slowest of each speed.
    func merge(_ key: String, _ s: Analyst.ReplySpeed) {
        lock.withLock {
            let old = speeds[key]
            speeds[key] = Analyst.ReplySpeed(read: min(old?.read ?? s.read, s.read), generate: min(old?.generate ?? s.generate, s.generate))
        }
    }
    /// Tests: forget what was learned.
    func reset() { lock.withLock { speeds = [:] } }
}
