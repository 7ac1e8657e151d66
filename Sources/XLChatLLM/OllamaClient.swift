import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Ollama's HTTP API: `/api/chat` (streaming NDJSON, tools), `/api/embed`, `/api/tags`,
/// `/api/version`.
public struct OllamaClient: ModelClient {
    let endpoint: Endpoint

    /// `baseURL` is the server root, e.g. `OllamaHost.parse(env["OLLAMA_HOST"])`.
    public init(baseURL: URL = OllamaHost.defaultURL, apiKey: String? = nil, policy: HTTPPolicy = .default) {
        endpoint = Endpoint(serviceName: "Ollama", baseURL: baseURL,
                            startHint: "Start it with `ollama serve` (or set OLLAMA_HOST to the address where it runs).",
                            apiKey: apiKey, policy: policy)
    }

    public var endpointDescription: String { endpoint.description }
    public var baseURL: URL { endpoint.baseURL }

    // MARK: request bodies

    /// The `/api/chat` request body (internal so tests can look at it).
    func chatBody(model: String, messages: [ChatMessage], tools: [ToolDefinition], options: ChatOptions) -> LLMJSON {
        var opts: [String: LLMJSON] = [
            "num_predict": .number(Double(options.maxTokens)),
            "num_ctx": .number(Double(options.contextSize(messages: messages, tools: tools))),
        ]
        if let t = options.temperature { opts["temperature"] = .number(t) }
        if !options.stop.isEmpty { opts["stop"] = .array(options.stop.map { .string($0) }) }
        if let s = options.seed { opts["seed"] = .number(Double(s)) }
        var body: [String: LLMJSON] = [
            "model": .string(model),
            "messages": .array(messages.map(Self.wireMessage)),
            "stream": true,
            "options": .object(opts),
        ]
        if !tools.isEmpty { body["tools"] = .array(tools.map(\.wireValue)) }
        return .object(body)
    }

    static func wireMessage(_ m: ChatMessage) -> LLMJSON {
        var o: [String: LLMJSON] = ["role": .string(m.role.rawValue), "content": .string(m.content)]
        if !m.toolCalls.isEmpty {
            o["tool_calls"] = .array(m.toolCalls.map { call in
                // Ollama wants arguments as an object; malformed ones go back as the raw text so
                // the model sees what it produced.
                let args: LLMJSON = call.arguments.map { .object($0) } ?? .string(call.argumentsText)
                var tc: [String: LLMJSON] = ["function": ["name": .string(call.name), "arguments": args]]
                if let id = call.id { tc["id"] = .string(id) }
                return .object(tc)
            })
        }
        if m.role == .tool {
            if let name = m.toolName { o["tool_name"] = .string(name) }
            if let id = m.toolCallId { o["tool_call_id"] = .string(id) }
        }
        return .object(o)
    }

    // MARK: ModelClient

    public func chat(model: String, messages: [ChatMessage], tools: [ToolDefinition], options: ChatOptions)
        -> AsyncThrowingStream<ChatEvent, Error> {
        let request = endpoint.request("/api/chat", method: "POST",
                                       body: chatBody(model: model, messages: messages, tools: tools, options: options))
        let endpoint = self.endpoint
        return ChatStreamDriver.run(request: request, endpoint: endpoint, model: model,
                                    decoder: OllamaChatDecoder(endpoint: endpoint, model: model))
    }

    public func embed(model: String, texts: [String]) async throws -> [[Float]] {
        var out: [[Float]] = []
        out.reserveCapacity(texts.count)
        let batch = max(1, endpoint.policy.embedBatchSize)
        var start = 0
        while start < texts.count {
            let slice = Array(texts[start..<min(texts.count, start + batch)])
            let body: LLMJSON = ["model": .string(model), "input": .array(slice.map { .string($0) })]
            let (status, data) = try await HTTP.fetch(endpoint.request("/api/embed", method: "POST", body: body),
                                                      endpoint: endpoint, idempotent: true)
            try checkStatus(status, data, model: model)
            let json = try HTTP.decodeJSON(data, endpoint: endpoint, what: "/api/embed")
            guard let vectors = json["embeddings"]?.arrayValue, vectors.count == slice.count else {
                throw LLMError(.badResponse, "\(endpoint.description) answered /api/embed without one embedding per input (\(slice.count) sent).")
            }
            for v in vectors {
                guard let nums = v.arrayValue else {
                    throw LLMError(.badResponse, "\(endpoint.description) sent an embedding that is not an array of numbers.")
                }
                out.append(try nums.map { n in
                    guard let d = n.doubleValue else {
                        throw LLMError(.badResponse, "\(endpoint.description) sent an embedding that is not an array of numbers.")
                    }
                    return Float(d)
                })
            }
            start += batch
        }
        return out
    }

    public func models() async throws -> [ModelInfo] {
        let (status, data) = try await HTTP.fetch(endpoint.request("/api/tags"), endpoint: endpoint, idempotent: true)
        try checkStatus(status, data, model: nil)
        let json = try HTTP.decodeJSON(data, endpoint: endpoint, what: "/api/tags")
        guard let list = json["models"]?.arrayValue else {
            throw LLMError(.badResponse, "\(endpoint.description) answered /api/tags without a models list.")
        }
        return list.compactMap { m in
            guard let name = m["name"]?.stringValue ?? m["model"]?.stringValue else { return nil }
            let details = m["details"]
            return ModelInfo(name: name, sizeBytes: m["size"]?.doubleValue.map { Int64($0) },
                             family: details?["family"]?.stringValue,
                             parameterSize: details?["parameter_size"]?.stringValue,
                             quantization: details?["quantization_level"]?.stringValue,
                             modifiedAt: m["modified_at"]?.stringValue)
        }
    }

    public func version() async throws -> String {
        let (status, data) = try await HTTP.fetch(endpoint.request("/api/version"), endpoint: endpoint, idempotent: true)
        try checkStatus(status, data, model: nil)
        guard let v = try HTTP.decodeJSON(data, endpoint: endpoint, what: "/api/version")["version"]?.stringValue else {
            throw LLMError(.badResponse, "\(endpoint.description) answered /api/version without a version.")
        }
        return v
    }

    /// `/api/show`: `model_info["<arch>.context_length"]` (the model's trained window), else
    /// `num_ctx` in `parameters` (the Modelfile's). nil when the server has no `/api/show`, does
    /// not know the model, or reports nothing plausible.
    public func contextWindow(model: String) async -> ContextWindow? {
        let quick = endpoint.quick
        let body: LLMJSON = ["model": .string(model), "name": .string(model)]
        guard let (status, data) = try? await HTTP.fetch(quick.request("/api/show", method: "POST", body: body), endpoint: quick, idempotent: true),
              (200..<300).contains(status), let json = LLMJSON.parse(data) else { return nil }
        if let info = json["model_info"]?.objectValue {
            for (key, value) in info.sorted(by: { $0.key < $1.key }) where key.hasSuffix(".context_length") {
                if let n = ContextWindow.plausible([value]) {
                    return ContextWindow(tokens: n, source: .server, detail: "\(endpoint.description) /api/show \(key) = \(n)")
                }
            }
        }
        if let params = json["parameters"]?.stringValue {
            for line in params.split(separator: "\n") {
                let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if parts.count >= 2, parts[0] == "num_ctx", let n = ContextWindow.plausible([.string(String(parts[1]))]) {
                    return ContextWindow(tokens: n, source: .server, detail: "\(endpoint.description) /api/show parameters num_ctx = \(n)")
                }
            }
        }
        return nil
    }

    func checkStatus(_ status: Int, _ body: Data, model: String?) throws {
        if (200..<300).contains(status) { return }
        throw OllamaChatDecoder.httpError(status: status, body: body, endpoint: endpoint, model: model)
    }
}

struct OllamaChatDecoder: ChatLineDecoder {
    let endpoint: Endpoint
    let model: String
    var stats = ChatStats()

    mutating func decode(line: String) throws -> (events: [ChatEvent], done: Bool) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return ([], false) }
        guard let json = LLMJSON.parse(trimmed) else {
            throw LLMError(.streamFailed, "\(endpoint.description) sent a line that is not JSON in the middle of a reply: \(trimmed.prefix(200))")
        }
        if let err = json["error"] {
            let text = err.stringValue ?? err["message"]?.stringValue ?? err.jsonText
            if let e = ContextErrorParser.error(status: nil, body: trimmed, endpoint: endpoint, model: model) { throw e }
            throw LLMError(.streamFailed, "\(endpoint.description) reported an error in the middle of the reply: \(text)")
        }
        var events: [ChatEvent] = []
        if let message = json["message"] {
            if let text = message["content"]?.stringValue, !text.isEmpty { events.append(.delta(text)) }
            if let calls = message["tool_calls"]?.arrayValue, !calls.isEmpty {
                let parsed = calls.compactMap { c -> ToolCall? in
                    let fn = c["function"]
                    guard let name = fn?["name"]?.stringValue else { return nil }
                    return ToolCall.fromWire(id: c["id"]?.stringValue, name: name, arguments: fn?["arguments"])
                }
                if !parsed.isEmpty { events.append(.toolCalls(parsed)) }
            }
        } else if let text = json["response"]?.stringValue, !text.isEmpty {
            events.append(.delta(text))
        }
        let done = json["done"]?.boolValue ?? false
        if done {
            stats.promptTokens = json["prompt_eval_count"]?.intValue ?? 0
            stats.evalTokens = json["eval_count"]?.intValue ?? 0
            stats.doneReason = json["done_reason"]?.stringValue
            func seconds(_ key: String) -> Double? { json[key]?.doubleValue.map { $0 / 1e9 } }
            stats.serverTotalDuration = seconds("total_duration")
            stats.serverLoadDuration = seconds("load_duration")
            stats.serverPromptEvalDuration = seconds("prompt_eval_duration")
            stats.serverEvalDuration = seconds("eval_duration")
        }
        return (events, done)
    }

    mutating func finish() -> [ChatEvent] { [] }
    var finishedWithoutDone: Bool { false }

    func httpError(status: Int, body: Data) -> LLMError {
        Self.httpError(status: status, body: body, endpoint: endpoint, model: model)
    }

    static func httpError(status: Int, body: Data, endpoint: Endpoint, model: String?) -> LLMError {
        let text = HTTP.errorText(body)
        let lower = text.lowercased()
        if (400..<500).contains(status),
           let e = ContextErrorParser.error(status: status, body: String(decoding: body, as: UTF8.self), endpoint: endpoint, model: model) {
            return e
        }
        // Ollama: 404 {"error":"model 'x' not found"} (older: "..., try pulling it first"). A
        // bare "404 page not found" is a wrong path (an old server or a proxy), not a model.
        if status == 404, let model, lower.contains("model"), lower.contains("not found") || lower.contains("pull") {
            return LLMError(.modelNotFound,
                            "The model '\(model)' is not available on \(endpoint.description). Run `ollama pull \(model)` and try again.",
                            httpStatus: status)
        }
        if status == 400, let model, lower.contains("does not support tools") {
            return LLMError(.toolsUnsupported, "The model '\(model)' on \(endpoint.description) does not support tool calls (\(text)).",
                            httpStatus: status)
        }
        if status == 401 || status == 403 {
            return LLMError(.badResponse, "\(endpoint.description) refused the request (HTTP \(status): \(text)); check the API key.",
                            httpStatus: status)
        }
        if status == 404 {
            return LLMError(.badResponse, "\(endpoint.description) answered HTTP 404 (\(text)): is that address an Ollama server, and recent enough?",
                            httpStatus: status)
        }
        return LLMError(.badResponse, "\(endpoint.description) answered HTTP \(status): \(text)", httpStatus: status)
    }
}
