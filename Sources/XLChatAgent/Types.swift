import Foundation
import XLChatIndex
import XLChatWorkbook

/// One tool call and what it found, as shown to the user while the agent works.
public struct AgentStep: Sendable, Hashable, Codable {
    /// `sql`, `read_range` or `search`.
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
    /// Sample rows per table in the prompt.
    public var sampleRows: Int
    public var queryTimeout: Double

    public init(maxSteps: Int = 6, chat: ChatOptionsValue = .init(), maxResultRows: Int = 50, promptHits: Int = 5,
                sampleRows: Int = 3, queryTimeout: Double = 3) {
        self.maxSteps = maxSteps; self.chat = chat; self.maxResultRows = maxResultRows
        self.promptHits = promptHits; self.sampleRows = sampleRows; self.queryTimeout = queryTimeout
    }
}

/// Generation options (temperature 0 so answers repeat; a bounded reply).
public struct ChatOptionsValue: Sendable, Hashable {
    public var temperature: Double
    public var maxTokens: Int
    public init(temperature: Double = 0, maxTokens: Int = 512) { self.temperature = temperature; self.maxTokens = maxTokens }
}
