/// `chat/ask`: ask a question about an open workbook (`workbookId`) or an open workspace
/// (`workspaceId`, every file of a folder in one SQL namespace); exactly one of the two, else
/// `invalidParams`. The answer streams as `chat/delta` notifications (joined, they are
/// `answer`), each tool call is reported as `chat/step`, and each model call's wait as
/// `chat/status`. Indexes the workbook first when it has no index (with `$/progress` on
/// `workDoneToken`); a workspace is indexed by `workspace/open` and its watcher.
public struct ChatAskRequest: RequestType, Hashable {
    public static let method = "chat/ask"
    public typealias Response = ChatAskResult
    public var workbookId: String?
    /// A workspace opened with `workspace/open` in this session.
    public var workspaceId: String?
    public var question: String
    /// Continue this conversation (a new one is started, and its id returned, when absent).
    public var sessionId: String?
    /// The chat model (default: the server's).
    public var model: String?
    public var workDoneToken: ProgressToken?
    public init(workbookId: String? = nil, workspaceId: String? = nil, question: String, sessionId: String? = nil, model: String? = nil,
                workDoneToken: ProgressToken? = nil) {
        self.workbookId = workbookId; self.workspaceId = workspaceId; self.question = question; self.sessionId = sessionId; self.model = model
        self.workDoneToken = workDoneToken
    }
}

/// Cells an answer used: `{workbookId, sheet, range}` for a workbook question,
/// `{workspaceId, file, sheet, range}` for a workspace question (`file` relative to the
/// workspace's folder).
public struct Citation: Codable, Sendable, Hashable {
    public var workbookId: String?
    public var workspaceId: String?
    /// The file, relative to the workspace's folder (workspace answers only).
    public var file: String?
    public var sheet: String
    /// A1 range on that sheet (`B2:D9`).
    public var range: String
    public init(workbookId: String? = nil, workspaceId: String? = nil, file: String? = nil, sheet: String, range: String) {
        self.workbookId = workbookId; self.workspaceId = workspaceId; self.file = file; self.sheet = sheet; self.range = range
    }
}

/// One tool call of the agent (in `chat/step` and in the result's `steps`).
public struct ChatStepInfo: Codable, Sendable, Hashable {
    /// `sql`, `describe_table`, `read_range`, `search` or `trace`.
    public var tool: String
    /// The arguments as the model wrote them (JSON text).
    public var arguments: String
    public var summary: String
    /// Qualified ranges behind the result (`Sales!B2:D9`; in a workspace with the file:
    /// `sales_2024.xlsx › Orders!A2:H2`).
    public var ranges: [String]
    public init(tool: String, arguments: String, summary: String, ranges: [String]) {
        self.tool = tool; self.arguments = arguments; self.summary = summary; self.ranges = ranges
    }
}

public struct ChatAskResult: Codable, Sendable, Hashable {
    public var answer: String
    public var citations: [Citation]
    public var sessionId: String
    public var model: String
    /// The answer came from the cache (same workbook content, question, model and conversation).
    public var cached: Bool
    public var durationMs: Double
    /// Numbers in the answer found neither in the data the model saw nor in the question.
    public var ungrounded: [String]
    public var steps: [ChatStepInfo]?
    /// The context window the answer was budgeted for, and where its size came from.
    public var contextWindow: ChatContextWindow?
    /// How prompt tokens were counted (`server tokenizer`, `estimate: …`).
    public var tokenCounting: String?
    /// One entry per model call (absent for a cached answer).
    public var usage: [ChatCallUsage]?
    /// Workspace answers while files are being re-indexed: the answer is from the last
    /// complete state, and this says so (as `workspace/query`'s `stale`).
    public var stale: String?
    public init(answer: String, citations: [Citation], sessionId: String, model: String, cached: Bool, durationMs: Double,
                ungrounded: [String], steps: [ChatStepInfo]? = nil, contextWindow: ChatContextWindow? = nil,
                tokenCounting: String? = nil, usage: [ChatCallUsage]? = nil, stale: String? = nil) {
        self.answer = answer; self.citations = citations; self.sessionId = sessionId; self.model = model; self.cached = cached
        self.durationMs = durationMs; self.ungrounded = ungrounded; self.steps = steps
        self.contextWindow = contextWindow; self.tokenCounting = tokenCounting; self.usage = usage; self.stale = stale
    }
}

/// The chat model's context window as the answer used it.
public struct ChatContextWindow: Codable, Sendable, Hashable {
    public var tokens: Int
    /// `setting` (`XLCHAT_CONTEXT`), `server` (the model server said), `learned` (from an
    /// earlier context-length error) or `fallback` (4,096).
    public var source: String
    /// What was read, e.g. `Ollama /api/show llama.context_length = 8192`.
    public var detail: String
    public init(tokens: Int, source: String, detail: String) { self.tokens = tokens; self.source = source; self.detail = detail }
}

/// Figures of one model call of an answer.
public struct ChatCallUsage: Codable, Sendable, Hashable {
    /// The prompt's tokens as the budget counted them.
    public var promptTokens: Int
    /// As the model server counted them (0 when it did not say).
    public var serverPromptTokens: Int
    /// Reply tokens as the server counted them (0 when it did not say).
    public var replyTokens: Int
    /// Sent → first piece of the reply, ms; absent when nothing came.
    public var timeToFirstTokenMs: Double?
    public var durationMs: Double
    /// The outline tier the prompt used.
    public var outline: String
    /// What the context budget had to do for this call.
    public var budgetActions: [String]
    /// `ok`, `contextExceeded`, `empty` or `error: …`.
    public var outcome: String
    /// Time the budget took to fit the prompt, ms.
    public var budgetMs: Double
    public init(promptTokens: Int, serverPromptTokens: Int, replyTokens: Int, timeToFirstTokenMs: Double?, durationMs: Double,
                outline: String, budgetActions: [String], outcome: String, budgetMs: Double) {
        self.promptTokens = promptTokens; self.serverPromptTokens = serverPromptTokens; self.replyTokens = replyTokens
        self.timeToFirstTokenMs = timeToFirstTokenMs; self.durationMs = durationMs; self.outline = outline
        self.budgetActions = budgetActions; self.outcome = outcome; self.budgetMs = budgetMs
    }
}

/// `chat/delta` (server → client): a piece of the answer of request `requestId`, in order.
public struct ChatDeltaNotification: NotificationType, Hashable {
    public static let method = "chat/delta"
    public var requestId: RequestID
    public var text: String
    public init(requestId: RequestID, text: String) { self.requestId = requestId; self.text = text }
}

/// `chat/step` (server → client): a tool call of request `requestId` finished.
public struct ChatStepNotification: NotificationType, Hashable {
    public static let method = "chat/step"
    public var requestId: RequestID
    public var tool: String
    public var arguments: String
    public var summary: String
    public var ranges: [String]
    public init(requestId: RequestID, tool: String, arguments: String, summary: String, ranges: [String]) {
        self.requestId = requestId; self.tool = tool; self.arguments = arguments; self.summary = summary; self.ranges = ranges
    }
}

/// `chat/status` (server → client): where the model call of request `requestId` is, so a
/// client can show the wait. `phase`: `prompt` (the prompt was sent; `promptTokens` says its
/// size), `waiting` (nothing back yet: the model is reading the prompt; repeated about every
/// second with the time so far), `generating` (the reply started). `step` counts the model
/// calls of the request from 1; `elapsedMs` is since this call was sent.
public struct ChatStatusNotification: NotificationType, Hashable {
    public static let method = "chat/status"
    public var requestId: RequestID
    public var phase: String
    public var step: Int
    public var promptTokens: Int?
    public var contextTokens: Int?
    public var elapsedMs: Double
    public init(requestId: RequestID, phase: String, step: Int, promptTokens: Int? = nil, contextTokens: Int? = nil, elapsedMs: Double) {
        self.requestId = requestId; self.phase = phase; self.step = step; self.promptTokens = promptTokens
        self.contextTokens = contextTokens; self.elapsedMs = elapsedMs
    }
}

/// `chat/history`: the stored turns of a conversation (empty for an unknown session).
public struct ChatHistoryRequest: RequestType, Hashable {
    public static let method = "chat/history"
    public typealias Response = ChatHistoryResult
    public var sessionId: String
    public init(sessionId: String) { self.sessionId = sessionId }
}

public struct ChatMessageInfo: Codable, Sendable, Hashable {
    /// `user` or `assistant`.
    public var role: String
    public var content: String
    /// ISO 8601.
    public var createdAt: String
    public var citations: [String]?
    public var ungrounded: [String]?
    public init(role: String, content: String, createdAt: String, citations: [String]? = nil, ungrounded: [String]? = nil) {
        self.role = role; self.content = content; self.createdAt = createdAt; self.citations = citations; self.ungrounded = ungrounded
    }
}

public struct ChatHistoryResult: Codable, Sendable, Hashable {
    public var messages: [ChatMessageInfo]
    public init(messages: [ChatMessageInfo]) { self.messages = messages }
}

/// `chat/reset`: forget a conversation. Answers null.
public struct ChatResetRequest: RequestType, Hashable {
    public static let method = "chat/reset"
    public typealias Response = VoidResponse
    public var sessionId: String
    public init(sessionId: String) { self.sessionId = sessionId }
}

/// What `server/health` says about the model server.
public struct LLMHealth: Codable, Sendable, Hashable {
    /// "Ollama at http://127.0.0.1:11434"
    public var endpoint: String
    public var reachable: Bool
    public var version: String?
    public var model: String
    /// Whether the server has the chat model (nil when unreachable).
    public var modelPulled: Bool?
    public var embedModel: String?
    public var embedModelPulled: Bool?
    /// What is wrong, when something is.
    public var problem: String?
    public init(endpoint: String, reachable: Bool, version: String?, model: String, modelPulled: Bool?,
                embedModel: String? = nil, embedModelPulled: Bool? = nil, problem: String? = nil) {
        self.endpoint = endpoint; self.reachable = reachable; self.version = version; self.model = model
        self.modelPulled = modelPulled; self.embedModel = embedModel; self.embedModelPulled = embedModelPulled; self.problem = problem
    }
}
