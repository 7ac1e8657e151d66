import Foundation

/// One message of a conversation, in the provider-neutral shape both clients translate.
public struct ChatMessage: Sendable, Hashable {
    public enum Role: String, Sendable, Hashable, Codable { case system, user, assistant, tool }

    public var role: Role
    public var content: String
    /// Tool calls the assistant made in this message (assistant messages only).
    public var toolCalls: [ToolCall]
    /// For `role == .tool`: the id of the call this message answers (OpenAI needs it; Ollama
    /// uses `toolName`). When nil, the OpenAI client matches the call by `toolName`.
    public var toolCallId: String?
    /// For `role == .tool`: the name of the tool whose result this is.
    public var toolName: String?

    public init(role: Role, content: String, toolCalls: [ToolCall] = [], toolCallId: String? = nil, toolName: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallId = toolCallId
        self.toolName = toolName
    }

    public static func system(_ text: String) -> ChatMessage { .init(role: .system, content: text) }
    public static func user(_ text: String) -> ChatMessage { .init(role: .user, content: text) }
    public static func assistant(_ text: String, toolCalls: [ToolCall] = []) -> ChatMessage {
        .init(role: .assistant, content: text, toolCalls: toolCalls)
    }
    /// The result of `call`, to send back to the model.
    public static func toolResult(_ text: String, for call: ToolCall) -> ChatMessage {
        .init(role: .tool, content: text, toolCallId: call.id, toolName: call.name)
    }
}

/// A tool the model may call. `parameters` is a JSON schema (an object schema).
public struct ToolDefinition: Sendable, Hashable {
    public var name: String
    public var description: String
    public var parameters: LLMJSON

    public init(name: String, description: String, parameters: LLMJSON) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }

    /// The definition as sent (JSON text), for counting its tokens.
    public var wireText: String { wireValue.jsonText }

    /// The `{"type":"function","function":{...}}` shape both Ollama and OpenAI accept.
    var wireValue: LLMJSON {
        ["type": "function", "function": ["name": .string(name), "description": .string(description), "parameters": parameters]]
    }
}

/// A call the model asked for. Arguments are kept as the raw text the model produced and,
/// when that text is a JSON object, parsed. Malformed arguments never throw: `arguments` is
/// nil and `argumentsText` holds what came, so the caller can tell the model what was wrong.
public struct ToolCall: Sendable, Hashable {
    public var id: String?
    public var name: String
    public var argumentsText: String
    /// The parsed arguments when `argumentsText` is a JSON object; nil when malformed.
    public var arguments: [String: LLMJSON]?

    public init(id: String? = nil, name: String, argumentsText: String) {
        self.id = id
        self.name = name
        self.argumentsText = argumentsText
        self.arguments = LLMJSON.parse(argumentsText)?.objectValue
    }

    public init(id: String? = nil, name: String, arguments: [String: LLMJSON]) {
        self.id = id
        self.name = name
        self.arguments = arguments
        self.argumentsText = LLMJSON.object(arguments).jsonText
    }

    /// Whether the arguments parsed as a JSON object.
    public var hasValidArguments: Bool { arguments != nil }

    /// Builds a call from a provider's `arguments` field, which may be a JSON object (Ollama),
    /// a string holding JSON (OpenAI), or something else entirely (a broken proxy or model).
    static func fromWire(id: String?, name: String, arguments: LLMJSON?) -> ToolCall {
        switch arguments {
        case .string(let text)?:
            return ToolCall(id: id, name: name, argumentsText: text)
        case .object(let o)?:
            // An OpenAI-to-Ollama proxy that could not parse the model's arguments passes them
            // as {"_raw": "..."} (our test shim does); that is malformed input, kept raw.
            if o.count == 1, let raw = o["_raw"]?.stringValue { return ToolCall(id: id, name: name, argumentsText: raw) }
            return ToolCall(id: id, name: name, arguments: o)
        case nil, .null?:
            return ToolCall(id: id, name: name, arguments: [:])
        case let other?:
            var call = ToolCall(id: id, name: name, argumentsText: other.jsonText)
            call.arguments = nil
            return call
        }
    }
}

/// Generation options. `maxTokens` is always sent (unbounded replies can run to the end of
/// the context window); `numCtx` is computed from the prompt when nil (Ollama silently
/// truncates prompts longer than its default context of 2048/4096 tokens).
public struct ChatOptions: Sendable, Hashable {
    public var temperature: Double?
    public var maxTokens: Int
    /// Context window to request from Ollama; nil means `contextSize(messages:tools:)`.
    public var numCtx: Int?
    public var stop: [String]
    public var seed: Int?
    /// Upper bound for the computed context window.
    public var maxContext: Int

    public init(temperature: Double? = nil, maxTokens: Int = 512, numCtx: Int? = nil, stop: [String] = [],
                seed: Int? = nil, maxContext: Int = 32_768) {
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.numCtx = numCtx
        self.stop = stop
        self.seed = seed
        self.maxContext = maxContext
    }

    public static let `default` = ChatOptions()

    /// A conservative estimate of the prompt's size in tokens: one token per 3 UTF-8 bytes
    /// (English BPE averages ~4 bytes a token; digits, codes and JSON run shorter), plus a few
    /// tokens of template per message.
    public static func estimatedPromptTokens(messages: [ChatMessage], tools: [ToolDefinition]) -> Int {
        var bytes = 0
        var overhead = 0
        for m in messages {
            bytes += m.content.utf8.count
            for c in m.toolCalls { bytes += c.name.utf8.count + c.argumentsText.utf8.count; overhead += 8 }
            overhead += 8
        }
        for t in tools { bytes += t.wireValue.jsonText.utf8.count; overhead += 16 }
        return (bytes + 2) / 3 + overhead
    }

    /// The context window to ask for: prompt estimate + reply budget + margin, rounded up to
    /// a multiple of 1024, at least 2048 and at most `maxContext` (or `numCtx` when set).
    public func contextSize(messages: [ChatMessage], tools: [ToolDefinition]) -> Int {
        if let numCtx { return numCtx }
        let need = Self.estimatedPromptTokens(messages: messages, tools: tools) + maxTokens + 256
        let rounded = ((need + 1023) / 1024) * 1024
        return min(max(2048, rounded), max(2048, maxContext))
    }
}

/// Figures the client and the server give about one reply.
public struct ChatStats: Sendable, Hashable {
    /// Tokens in the prompt and in the reply, as the server counted them (0 when not said).
    public var promptTokens: Int = 0
    public var evalTokens: Int = 0
    /// Why generation ended ("stop", "length", "tool_calls", ...), when the server says.
    public var doneReason: String?
    /// The server's own figures (Ollama's `*_duration` fields), in seconds, when it says.
    public var serverTotalDuration: Double?
    public var serverLoadDuration: Double?
    public var serverPromptEvalDuration: Double?
    public var serverEvalDuration: Double?
    /// The server's time to first token: load + prompt evaluation, when it reports both.
    public var serverTimeToFirstToken: Double? {
        guard serverLoadDuration != nil || serverPromptEvalDuration != nil else { return nil }
        return (serverLoadDuration ?? 0) + (serverPromptEvalDuration ?? 0)
    }
    /// Measured by the client: request sent → first response byte, and → first text delta
    /// handed to the consumer (nil when the reply had no text). Seconds.
    public var timeToFirstByte: Double?
    public var timeToFirstDelta: Double?
    /// When the bytes holding the first text delta reached the client (monotonic seconds,
    /// `DispatchTime.now().uptimeNanoseconds / 1e9`): a consumer that notes the same clock on
    /// seeing the first `.delta` measures the client's own overhead.
    public var firstDeltaBytesArrivedAt: Double?
    /// Request sent → last byte, seconds.
    public var totalTime: Double?

    public init() {}
}

/// What a streaming chat yields, in order: any number of `.delta` and `.toolCalls`, then
/// exactly one `.done` (unless the stream throws).
public enum ChatEvent: Sendable, Hashable {
    case delta(String)
    case toolCalls([ToolCall])
    case done(ChatStats)
}

/// A model the server has.
public struct ModelInfo: Sendable, Hashable {
    public var name: String
    public var sizeBytes: Int64?
    public var family: String?
    public var parameterSize: String?
    public var quantization: String?
    public var modifiedAt: String?

    public init(name: String, sizeBytes: Int64? = nil, family: String? = nil, parameterSize: String? = nil,
                quantization: String? = nil, modifiedAt: String? = nil) {
        self.name = name
        self.sizeBytes = sizeBytes
        self.family = family
        self.parameterSize = parameterSize
        self.quantization = quantization
        self.modifiedAt = modifiedAt
    }

    /// Whether `requested` names this model, the way Ollama resolves names: a name without a
    /// tag means `:latest`.
    public func matches(_ requested: String) -> Bool {
        func norm(_ s: String) -> String { s.contains(":") ? s : s + ":latest" }
        return norm(name) == norm(requested)
    }
}
