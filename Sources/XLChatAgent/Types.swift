import Foundation
import XLChatIndex
import XLChatLLM
import XLChatWorkbook

/// One tool call and what it found, as shown to the user while the agent works.
public struct AgentStep: Sendable, Hashable, Codable {
    /// `sql`, `describe_table`, `read_range` or `search`.
    public var tool: String
    /// The call's arguments as the model wrote them (JSON text, or whatever came when malformed).
    public var arguments: String
    /// One line: "3 rows: region, total", "error: no such column: amont", ...
    public var summary: String
    /// The ranges behind the result (`Sales!B2:D9`), merged.
    public var ranges: [String]
    /// Whether the tool ran without error.
    public var ok: Bool
    public init(tool: String, arguments: String, summary: String, ranges: [String], ok: Bool) {
        self.tool = tool; self.arguments = arguments; self.summary = summary; self.ranges = ranges; self.ok = ok
    }
}

/// What the agent reports while it works, in order.
public enum AgentEvent: Sendable, Hashable {
    /// A piece of the answer; the pieces joined are the answer.
    case delta(String)
    /// A tool call finished.
    case step(AgentStep)
    /// Where a model call is: the prompt was sent, the model is still reading it, it started
    /// replying. Sent once per phase and then about every second while waiting.
    case status(AgentStatus)
}

/// The state of one model call, for showing the wait ("reading the prompt (1,566 tokens)",
/// "waiting for the model, 12 s").
public struct AgentStatus: Sendable, Hashable {
    public enum Phase: String, Sendable, Hashable, Codable {
        /// The prompt is being sent (`promptTokens` says how big it is).
        case prompt
        /// Sent; nothing back yet (the model reads the prompt). Repeated about every second.
        case waiting
        /// The first piece of the reply arrived.
        case generating
    }
    public var phase: Phase
    /// The model call of this question, from 1.
    public var step: Int
    /// The prompt's size in tokens (counted as `AgentAnswer.tokenCounting` says).
    public var promptTokens: Int?
    /// The context window budgeted for.
    public var contextTokens: Int?
    /// Since this model call was sent, milliseconds.
    public var elapsedMs: Double
    public init(phase: Phase, step: Int, promptTokens: Int? = nil, contextTokens: Int? = nil, elapsedMs: Double) {
        self.phase = phase; self.step = step; self.promptTokens = promptTokens; self.contextTokens = contextTokens; self.elapsedMs = elapsedMs
    }
}

/// Figures of one model call.
public struct StepUsage: Sendable, Hashable, Codable {
    /// The prompt's tokens as the budget counted them.
    public var promptTokens: Int
    /// As the server counted them (0 when it did not say).
    public var serverPromptTokens: Int
    /// Reply tokens as the server counted them (0 when it did not say).
    public var replyTokens: Int
    /// Sent → first piece of the reply (text or tool call), ms; nil when nothing came.
    public var timeToFirstTokenMs: Double?
    public var durationMs: Double
    /// The outline tier the budget used.
    public var outline: OutlineDetail
    /// What the budget had to do for this call ("compacted 2 results", "10 of 50 rows", ...).
    public var budgetActions: [String]
    /// How the call ended: "ok", "contextExceeded", "empty", "runaway" (stopped by its
    /// `ReplyBound`), "error: ...".
    public var outcome: String
    /// Time the budget took to fit this call's prompt, ms.
    public var budgetMs: Double
}

/// The outcome of one question.
public struct AgentAnswer: Sendable, Hashable {
    public var answer: String
    /// Merged ranges behind the tool results and search hits the answer used.
    public var citations: [SourceRange]
    public var sessionId: String
    public var model: String
    public var cached: Bool
    /// Numbers in the answer found neither in the data the model was shown nor in the question.
    public var ungrounded: [String]
    public var steps: [AgentStep]
    /// The model did not answer within the step limit; the answer summarises the tool results.
    public var stepLimitReached: Bool
    /// The model could not take tools; the SQL-in-a-fenced-block fallback ran.
    public var usedFallback: Bool
    public var durationMs: Double
    /// The context window the prompts were fitted to, and where that figure came from.
    public var contextWindow: ContextWindow? = nil
    /// How tokens were counted: the server's tokenizer, or an estimate (says which).
    public var tokenCounting: String = ""
    /// One entry per model call, in order.
    public var usage: [StepUsage] = []
    /// Set when the answer is from an older state than the files on disk (a workspace being
    /// re-indexed answers from its last complete state): says so.
    public var stale: String? = nil
}

/// Limits and generation options of the analyst.
public struct AgentOptions: Sendable, Hashable {
    /// Model replies with tool calls before the loop stops and summarises what it found.
    public var maxSteps: Int
    public var chat: ChatOptionsValue
    /// Rows of a tool result shown to the model.
    public var maxResultRows: Int
    /// Search hits put in the prompt.
    public var promptHits: Int
    /// Sample rows per table in the prompt (one: the column profiles carry the distinct values
    /// and ranges that more sample rows used to show).
    public var sampleRows: Int
    public var queryTimeout: Double
    /// The model's context window in tokens, overriding what the server says (`--context`,
    /// `XLCHAT_CONTEXT`); nil asks the server.
    public var contextTokens: Int?
    /// Interval of `waiting` status events, seconds.
    public var statusInterval: Double
    /// The longest one model reply may take, seconds, before xlchat stops it and answers from
    /// what the tools found (a reply the model runs away in). nil: learned per server and model
    /// once a reply has streamed (`Analyst.replyBound`), else the HTTP policy's deadline.
    public var replySeconds: Double?

    public init(maxSteps: Int = 6, chat: ChatOptionsValue = .init(), maxResultRows: Int = 50, promptHits: Int = 2,
                sampleRows: Int = 1, queryTimeout: Double = 3, contextTokens: Int? = nil, statusInterval: Double = 1,
                replySeconds: Double? = nil) {
        self.maxSteps = maxSteps; self.chat = chat; self.maxResultRows = maxResultRows
        self.promptHits = promptHits; self.sampleRows = sampleRows; self.queryTimeout = queryTimeout
        self.contextTokens = contextTokens; self.statusInterval = statusInterval; self.replySeconds = replySeconds
    }
}

/// Generation options (temperature 0 so answers repeat; a bounded reply).
public struct ChatOptionsValue: Sendable, Hashable {
    public var temperature: Double
    public var maxTokens: Int
    public init(temperature: Double = 0, maxTokens: Int = 512) { self.temperature = temperature; self.maxTokens = maxTokens }
}
