import Foundation
import XLChatLLM

/// Counts a prompt's tokens: UTF-8 bytes divided by `bytesPerToken`, plus a few tokens of chat
/// template per message and per tool definition.
///
/// `bytesPerToken` comes from the model's own tokenizer where the server has one (llama.cpp's
/// `/tokenize`, llama-cpp-python's `/extras/tokenize/count`): the system prompt is tokenized
/// once per model and process and the ratio kept. Elsewhere (Ollama has no tokenizer endpoint)
/// it is 3.0, which over-counts English BPE (~4 bytes a token) and matches the digits, codes
/// and JSON of tool results: an over-count wastes a little room, an under-count overflows.
public struct TokenCounter: Sendable, Hashable {
    public var bytesPerToken: Double
    /// How the ratio was found, for the user.
    public var description: String

    public static let estimateBytesPerToken = 3.0
    public static let estimate = TokenCounter(bytesPerToken: estimateBytesPerToken,
                                              description: "estimated: 1 token per 3 UTF-8 bytes + 8 per message (the server has no tokenizer endpoint)")
    public init(bytesPerToken: Double, description: String) {
        self.bytesPerToken = bytesPerToken; self.description = description
    }

    /// A counter calibrated on `text`, which the server's tokenizer made `tokens` of. The
    /// ratio is taken 5% lower (more tokens) so other text (tool results) is not under-counted.
    public static func calibrated(text: String, tokens: Int) -> TokenCounter? {
        let bytes = text.utf8.count
        guard tokens > 0, bytes >= 200 else { return nil }
        let ratio = max(1.5, min(6, Double(bytes) / Double(tokens) * 0.95))
        return TokenCounter(bytesPerToken: ratio,
                            description: "the model server's tokenizer (\(String(format: "%.2f", Double(bytes) / Double(tokens))) bytes a token on this prompt; counted at \(String(format: "%.2f", ratio)))")
    }

    public func count(_ text: String) -> Int { Int((Double(text.utf8.count) / bytesPerToken).rounded(.up)) }

    public func count(messages: [ChatMessage], tools: [ToolDefinition]) -> Int {
        var bytes = 0, overhead = 0
        for m in messages {
            bytes += m.content.utf8.count
            for c in m.toolCalls { bytes += c.name.utf8.count + c.argumentsText.utf8.count; overhead += 8 }
            overhead += 8
        }
        for t in tools { bytes += t.wireText.utf8.count; overhead += 16 }
        return Int((Double(bytes) / bytesPerToken).rounded(.up)) + overhead
    }
}

/// One question's conversation as the agent holds it; `messages(_:)` renders it under a
/// `BudgetPlan`.
struct Conversation: Sendable {
    /// One model reply with tool calls, and what the calls returned.
    struct Round: Sendable {
        var text: String
        var calls: [ToolCall]
        var outcomes: [ToolOutcome]
    }
    enum Item: Sendable {
        case round(Round)
        /// A note from the agent to the model ("your reply was empty", "answer now").
        case note(String)
    }

    var context: PromptBuilder.Context
    /// The fenced-SQL fallback prompt instead of the tool prompt.
    var fallback = false
    /// Earlier turns of the session, oldest first.
    var history: [ChatMessage]
    var question: String
    var items: [Item] = []

    var roundCount: Int { items.reduce(0) { if case .round = $1 { return $0 + 1 }; return $0 } }
    /// The most rows any result of the last round has.
    var lastRoundRows: Int {
        for item in items.reversed() {
            if case .round(let r) = item { return r.outcomes.map { $0.block?.rows.count ?? 0 }.max() ?? 0 }
        }
        return 0
    }

    func system(_ detail: OutlineDetail) -> String {
        fallback ? context.fallbackSystem(detail) : context.system(detail)
    }

    /// The messages under `plan`; `system` is the system prompt at `plan.detail` when the
    /// caller has it already (the budget renders each tier once).
    func messages(_ plan: BudgetPlan, system given: String? = nil) -> [ChatMessage] {
        var out = [ChatMessage.system(given ?? system(plan.detail))]
        out += history.dropFirst(min(plan.droppedTurns, history.count))
        out.append(.user(question))
        let rounds = roundCount
        var n = 0
        for item in items {
            switch item {
            case .note(let text): out.append(.user(text))
            case .round(let r):
                out.append(.assistant(r.text, toolCalls: r.calls))
                let isLast = n == rounds - 1
                for (call, outcome) in zip(r.calls, r.outcomes) {
                    let text = n < plan.compactRounds ? outcome.compactText : outcome.text(rowLimit: isLast ? plan.rowLimit : nil)
                    out.append(.toolResult(text, for: call))
                }
                n += 1
            }
        }
        return out
    }
}

/// What the budget did to a conversation.
struct BudgetPlan: Sendable, Hashable {
    var detail: OutlineDetail = .full
    /// Rounds before this one are shown compacted (call, summary, cited cells).
    var compactRounds = 0
    /// Rows shown of each result of the last round (all when nil).
    var rowLimit: Int? = nil
    /// Messages of earlier turns left out, from the oldest.
    var droppedTurns = 0

    func actions(lastRoundRows: Int) -> [String] {
        var out: [String] = []
        if compactRounds > 0 { out.append("compacted \(compactRounds) earlier round\(compactRounds == 1 ? "" : "s") of tool results") }
        if let rowLimit, rowLimit < lastRoundRows { out.append("showed \(rowLimit) of \(lastRoundRows) result rows") }
        if detail != .full { out.append("outline tier \(detail)") }
        if droppedTurns > 0 { out.append("dropped \(droppedTurns) messages of earlier turns") }
        return out
    }
}

/// Fits a conversation into the model's context window minus the reply's tokens. In order,
/// until it fits: (1) compact the results of earlier rounds (call, one-line summary, cited
/// cells); (2) show fewer rows of the current round's results ("N more rows not shown; narrow
/// the query"); (3) shrink the outline tier by tier (`OutlineDetail`), re-widening the rows
/// each time; (4) drop earlier turns of the session, oldest first. If it still does not fit,
/// the current results are compacted too and the result says it does not fit.
struct ContextBudget: Sendable {
    var window: Int
    var replyTokens: Int
    var counter: TokenCounter

    /// Room kept for the chat template's own tokens around messages and tools (which differ by
    /// model and server): 5% of the window, at least 64 tokens.
    var margin: Int { max(64, window / 20) }
    /// Tokens the prompt may use.
    var available: Int { max(256, window - replyTokens - margin) }

    struct Fitted: Sendable {
        var messages: [ChatMessage]
        var tokens: Int
        var plan: BudgetPlan
        var fits: Bool
        var actions: [String]
    }

    func fit(_ convo: Conversation, tools: [ToolDefinition]) -> Fitted {
        let toolTokens = counter.count(messages: [], tools: tools)
        // Each tier's system prompt is rendered once (it is most of the prompt's bytes).
        var systems: [OutlineDetail: String] = [:]
        func system(_ d: OutlineDetail) -> String {
            if let s = systems[d] { return s }
            let s = convo.system(d)
            systems[d] = s
            return s
        }
        func cost(_ p: BudgetPlan) -> Int { counter.count(messages: convo.messages(p, system: system(p.detail)), tools: []) + toolTokens }
        func done(_ p: BudgetPlan, _ fits: Bool) -> Fitted {
            let m = convo.messages(p, system: system(p.detail))
            return Fitted(messages: m, tokens: counter.count(messages: m, tools: []) + toolTokens, plan: p, fits: fits,
                          actions: p.actions(lastRoundRows: convo.lastRoundRows))
        }
        let limit = available
        var plan = BudgetPlan()
        if cost(plan) <= limit { return done(plan, true) }

        // 1. Compact earlier rounds.
        let rounds = convo.roundCount
        if rounds > 1 {
            plan.compactRounds = rounds - 1
            if cost(plan) <= limit { return done(plan, true) }
        }
        // 2. Fewer rows of the current results: the most that fit, down to a floor of 3.
        let rows = convo.lastRoundRows
        func widestRows(floor: Int) -> Int? {
            var lo = floor, hi = rows
            var p = plan
            p.rowLimit = lo
            guard cost(p) <= limit else { return nil }
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                p.rowLimit = mid
                if cost(p) <= limit { lo = mid } else { hi = mid - 1 }
            }
            return lo
        }
        if rows > 3 {
            if let r = widestRows(floor: 3) { plan.rowLimit = r; return done(plan, true) }
            plan.rowLimit = 3
        }
        // 3. Outline tiers; at each, as many rows as fit (down to none).
        while let next = plan.detail.next {
            plan.detail = next
            if rows > 0, let r = widestRows(floor: 0) { plan.rowLimit = r; return done(plan, true) }
            if rows == 0, cost(plan) <= limit { return done(plan, true) }
        }
        if rows > 0 { plan.rowLimit = 0 }
        // 4. Earlier turns, oldest first (a user/assistant pair at a time).
        while plan.droppedTurns < convo.history.count {
            plan.droppedTurns = min(convo.history.count, plan.droppedTurns + 2)
            if cost(plan) <= limit { return done(plan, true) }
        }
        // Last resort: the current round compacted too.
        if rounds > 0 {
            plan.compactRounds = rounds
            if cost(plan) <= limit { return done(plan, true) }
        }
        return done(plan, false)
    }

    /// The `num_ctx` to ask Ollama for: the prompt plus the reply plus the margin, rounded up to
    /// 512 tokens, at least 2,048 and at most the window (Ollama truncates the front of a longer
    /// prompt silently, and a bigger window costs memory).
    func numCtx(promptTokens: Int) -> Int {
        let need = promptTokens + replyTokens + margin
        let rounded = ((need + 511) / 512) * 512
        return min(window, max(2048, rounded))
    }
}
