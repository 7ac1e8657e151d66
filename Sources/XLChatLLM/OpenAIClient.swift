import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An OpenAI-compatible server (llama.cpp's server, llama-cpp-python, vLLM, LM Studio):
/// `/v1/chat/completions` with SSE streaming and streamed `tool_calls` deltas assembled by
/// index, `/v1/embeddings`, `/v1/models`. Embeddings are L2-normalised so both clients give
/// unit vectors (Ollama's `/api/embed` already does).
public struct OpenAIClient: ModelClient {
    let endpoint: Endpoint
    /// Whether requests that carry `tools` stream. Some servers cannot stream tool calls
    /// (llama-cpp-python answers 200 and then drops the stream: "Automatic streaming tool choice
    /// is not supported"); with false such requests are sent with `stream: false` and the one
    /// JSON reply is turned into the same events. Env: `XLCHAT_OPENAI_STREAM_TOOLS=0`.
    public var streamsToolCalls: Bool

    /// `baseURL` is the API root; `/v1` is appended when it does not end with it.
    public init(baseURL: URL = ModelClientConfiguration.defaultOpenAIBaseURL, apiKey: String? = nil,
                policy: HTTPPolicy = .default, streamsToolCalls: Bool = true) {
        self.streamsToolCalls = streamsToolCalls
        var base = baseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        if !base.hasSuffix("/v1") { base += "/v1" }
        endpoint = Endpoint(serviceName: "the OpenAI-compatible server", baseURL: URL(string: base) ?? baseURL,
                            startHint: "Start that server, or point XLCHAT_BASE_URL at one that runs (or use XLCHAT_PROVIDER=ollama).",
                            apiKey: apiKey, policy: policy)
    }

    public var endpointDescription: String { endpoint.description }
    public var baseURL: URL { endpoint.baseURL }

    func chatBody(model: String, messages: [ChatMessage], tools: [ToolDefinition], options: ChatOptions) -> LLMJSON {
        let stream = streamsToolCalls || tools.isEmpty
        var body: [String: LLMJSON] = [
            "model": .string(model),
            "messages": .array(Self.wireMessages(messages)),
            "stream": .bool(stream),
            "max_tokens": .number(Double(options.maxTokens)),
        ]
        if stream { body["stream_options"] = ["include_usage": true] }
        if let t = options.temperature { body["temperature"] = .number(t) }
        if !options.stop.isEmpty { body["stop"] = .array(options.stop.map { .string($0) }) }
        if let s = options.seed { body["seed"] = .number(Double(s)) }
        if !tools.isEmpty {
            body["tools"] = .array(tools.map(\.wireValue))
            body["tool_choice"] = "auto"
        }
        return .object(body)
    }

    /// OpenAI needs an id on every tool call and the matching `tool_call_id` on each tool
    /// message. Calls without an id (from Ollama-style history) get `call_<message>_<n>`, and a
    /// tool message without an id answers the oldest unanswered call of its tool name.
    static func wireMessages(_ messages: [ChatMessage]) -> [LLMJSON] {
        var pending: [(id: String, name: String)] = []
        var out: [LLMJSON] = []
        for (mi, m) in messages.enumerated() {
            var o: [String: LLMJSON] = ["role": .string(m.role.rawValue), "content": .string(m.content)]
            if !m.toolCalls.isEmpty {
                o["tool_calls"] = .array(m.toolCalls.enumerated().map { i, call in
                    let id = call.id ?? "call_\(mi)_\(i)"
                    pending.append((id, call.name))
                    return ["id": .string(id), "type": "function",
                            "function": ["name": .string(call.name), "arguments": .string(call.argumentsText)]]
                })
            }
            if m.role == .tool {
                var id = m.toolCallId
                if let given = id {
                    pending.removeAll { $0.id == given }
                } else {
                    let match = pending.firstIndex { $0.name == m.toolName } ?? (pending.isEmpty ? nil : 0)
                    if let match { id = pending[match].id; pending.remove(at: match) }
                }
                o["tool_call_id"] = .string(id ?? "call_\(mi)")
                if let name = m.toolName { o["name"] = .string(name) }
            }
            out.append(.object(o))
        }
        return out
    }

    public func chat(model: String, messages: [ChatMessage], tools: [ToolDefinition], options: ChatOptions)
        -> AsyncThrowingStream<ChatEvent, Error> {
        let key = endpoint.baseURL.absoluteString
        guard !tools.isEmpty, streamsToolCalls, !Self.refusesStreamedTools.contains(key) else {
            return send(model: model, messages: messages, tools: tools, options: options,
                        streamTools: streamsToolCalls && !Self.refusesStreamedTools.contains(key))
        }
        // Some servers accept a streamed request with tools and then drop it (llama-cpp-python:
        // "Automatic streaming tool choice is not supported"). When the stream fails before any
        // event, the step is sent again unstreamed, and this server is asked unstreamed from
        // then on (for the process's lifetime), instead of failing the question.
        let first = send(model: model, messages: messages, tools: tools, options: options, streamTools: true)
        let client = self
        let retry: @Sendable () -> AsyncThrowingStream<ChatEvent, Error> = {
            client.send(model: model, messages: messages, tools: tools, options: options, streamTools: false)
        }
        return AsyncThrowingStream { continuation in
            let task = Task {
                var sawEvent = false
                do {
                    for try await e in first { sawEvent = true; continuation.yield(e) }
                    continuation.finish()
                } catch let e as LLMError where e.kind == .streamFailed && !sawEvent {
                    Self.refusesStreamedTools.insert(key)
                    do {
                        for try await e in retry() { continuation.yield(e) }
                        continuation.finish()
                    } catch { continuation.finish(throwing: error) }
                } catch { continuation.finish(throwing: error) }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Base URLs of servers that dropped a streamed request with tools, this process.
    static let refusesStreamedTools = LockedStringSet()

    private func send(model: String, messages: [ChatMessage], tools: [ToolDefinition], options: ChatOptions,
                      streamTools: Bool) -> AsyncThrowingStream<ChatEvent, Error> {
        var client = self
        client.streamsToolCalls = streamTools
        let request = endpoint.request("/chat/completions", method: "POST",
                                       body: client.chatBody(model: model, messages: messages, tools: tools, options: options))
        return ChatStreamDriver.run(request: request, endpoint: endpoint, model: model,
                                    decoder: OpenAIChatDecoder(endpoint: endpoint, model: model,
                                                               wholeReply: !(streamTools || tools.isEmpty),
                                                               offeredTools: !tools.isEmpty))
    }

    public func embed(model: String, texts: [String]) async throws -> [[Float]] {
        var out: [[Float]] = []
        out.reserveCapacity(texts.count)
        let batch = max(1, endpoint.policy.embedBatchSize)
        var start = 0
        while start < texts.count {
            let slice = Array(texts[start..<min(texts.count, start + batch)])
            let body: LLMJSON = ["model": .string(model), "input": .array(slice.map { .string($0) })]
            let (status, data) = try await HTTP.fetch(endpoint.request("/embeddings", method: "POST", body: body),
                                                      endpoint: endpoint, idempotent: true)
            if !(200..<300).contains(status) {
                throw OpenAIChatDecoder.httpError(status: status, body: data, endpoint: endpoint, model: model)
            }
            let json = try HTTP.decodeJSON(data, endpoint: endpoint, what: "/v1/embeddings")
            guard let items = json["data"]?.arrayValue, items.count == slice.count else {
                throw LLMError(.badResponse, "\(endpoint.description) answered /v1/embeddings without one embedding per input (\(slice.count) sent).")
            }
            var vectors = [[Float]?](repeating: nil, count: slice.count)
            for (pos, item) in items.enumerated() {
                let index = item["index"]?.intValue ?? pos
                guard vectors.indices.contains(index), let nums = item["embedding"]?.arrayValue else {
                    throw LLMError(.badResponse, "\(endpoint.description) sent an embedding without a usable index or vector.")
                }
                var v = try nums.map { n -> Float in
                    guard let d = n.doubleValue else {
                        throw LLMError(.badResponse, "\(endpoint.description) sent an embedding that is not an array of numbers.")
                    }
                    return Float(d)
                }
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                if norm > 0 { for i in v.indices { v[i] /= norm } }
                vectors[index] = v
            }
            for v in vectors {
                guard let v else { throw LLMError(.badResponse, "\(endpoint.description) left out an embedding.") }
                out.append(v)
            }
            start += batch
        }
        return out
    }

    public func models() async throws -> [ModelInfo] {
        let (status, data) = try await HTTP.fetch(endpoint.request("/models"), endpoint: endpoint, idempotent: true)
        if !(200..<300).contains(status) {
            throw OpenAIChatDecoder.httpError(status: status, body: data, endpoint: endpoint, model: nil)
        }
        guard let list = try HTTP.decodeJSON(data, endpoint: endpoint, what: "/v1/models")["data"]?.arrayValue else {
            throw LLMError(.badResponse, "\(endpoint.description) answered /v1/models without a data list.")
        }
        return list.compactMap { m in m["id"]?.stringValue.map { ModelInfo(name: $0, family: m["owned_by"]?.stringValue) } }
    }

    /// The server root: the base URL without its `/v1` (llama.cpp serves `/props` and
    /// `/tokenize` there).
    var rootEndpoint: Endpoint {
        var e = endpoint.quick
        var base = e.baseURL.absoluteString
        if base.hasSuffix("/v1") { base.removeLast(3) }
        e.baseURL = URL(string: base) ?? e.baseURL
        return e
    }

    /// llama.cpp's `/props` (`default_generation_settings.n_ctx`: the window the server was
    /// started with, which is what counts), else the model's entry in `/v1/models`:
    /// `meta.n_ctx_train` (llama.cpp), `context_length` (LM Studio, OpenRouter),
    /// `max_model_len` (vLLM), `context_window`, `max_context_length`. nil when none says.
    public func contextWindow(model: String) async -> ContextWindow? {
        let root = rootEndpoint
        if let (status, data) = try? await HTTP.fetch(root.request("/props"), endpoint: root, idempotent: true),
           (200..<300).contains(status), let json = LLMJSON.parse(data),
           let n = ContextWindow.plausible([json["default_generation_settings"]?["n_ctx"], json["n_ctx"]]) {
            return ContextWindow(tokens: n, source: .server, detail: "\(endpoint.description) /props n_ctx = \(n)")
        }
        let quick = endpoint.quick
        guard let (status, data) = try? await HTTP.fetch(quick.request("/models"), endpoint: quick, idempotent: true),
              (200..<300).contains(status), let list = LLMJSON.parse(data)?["data"]?.arrayValue else { return nil }
        var found: LLMJSON? = list.first { $0["id"]?.stringValue == model }
        if found == nil && list.count == 1 { found = list[0] }
        guard let entry = found else { return nil }
        let fields: [(String, LLMJSON?)] = [
            ("meta.n_ctx", entry["meta"]?["n_ctx"]), ("meta.n_ctx_train", entry["meta"]?["n_ctx_train"]),
            ("context_length", entry["context_length"]), ("max_model_len", entry["max_model_len"]),
            ("context_window", entry["context_window"]), ("max_context_length", entry["max_context_length"]),
        ]
        for (name, value) in fields {
            if let n = ContextWindow.plausible([value]) {
                return ContextWindow(tokens: n, source: .server, detail: "\(endpoint.description) /v1/models \(name) = \(n)")
            }
        }
        return nil
    }

    /// llama.cpp's `POST /tokenize {"content"}` → `{"tokens": [...]}`, or llama-cpp-python's
    /// `POST /extras/tokenize/count {"input", "model"}` → `{"count"}`; whichever answers first is
    /// remembered per server. nil when neither does. That a server has neither is remembered
    /// only when both answered (an HTTP error such as 404): a timeout or a refused connection
    /// (a one-thread server busy generating holds its tokenizer too) is tried again next time.
    public func tokenCount(model: String, text: String) async -> Int? {
        let root = rootEndpoint
        let key = root.baseURL.absoluteString
        let known = TokenizerRoutes.shared.get(key)
        var answered = 0
        if known == nil || known == .llamaCpp {
            if let (status, data) = try? await HTTP.fetch(root.request("/tokenize", method: "POST", body: ["content": .string(text)]),
                                                          endpoint: root, idempotent: true) {
                answered += 1
                if (200..<300).contains(status), let tokens = LLMJSON.parse(data)?["tokens"]?.arrayValue {
                    TokenizerRoutes.shared.set(key, .llamaCpp)
                    return tokens.count
                }
            }
            if known == .llamaCpp { return nil }
        }
        if known == nil || known == .llamaCppPython {
            if let (status, data) = try? await HTTP.fetch(root.request("/extras/tokenize/count", method: "POST",
                                                                       body: ["input": .string(text), "model": .string(model)]),
                                                          endpoint: root, idempotent: true) {
                answered += 1
                if (200..<300).contains(status), let n = LLMJSON.parse(data)?["count"]?.intValue, n >= 0 {
                    TokenizerRoutes.shared.set(key, .llamaCppPython)
                    return n
                }
            }
            if known == .llamaCppPython { return nil }
        }
        if answered == 2 { TokenizerRoutes.shared.set(key, .none) }
        return nil
    }

    /// OpenAI's API has no version endpoint: this checks the server answers `/v1/models` and
    /// says what it is.
    public func version() async throws -> String {
        let count = try await models().count
        return "openai-compatible (\(count) model\(count == 1 ? "" : "s"))"
    }
}

struct OpenAIChatDecoder: ChatLineDecoder {
    let endpoint: Endpoint
    let model: String
    var stats = ChatStats()
    private var sawFinish = false
    /// Tool calls being assembled from deltas, by their `index`.
    private var calls: [Int: (id: String?, name: String, args: String)] = [:]

    /// Non-streaming mode: the body is one JSON reply, decoded whole in `finish()`.
    private var wholeReply: Bool
    /// The reply was one JSON body (`stream: false`), decoded as if it were one streamed event.
    private var unstreamed = false
    private var body = ""
    private let offeredTools: Bool
    private var sawEvent = false

    init(endpoint: Endpoint, model: String, wholeReply: Bool = false, offeredTools: Bool = false) {
        self.endpoint = endpoint
        self.model = model
        self.wholeReply = wholeReply
        self.offeredTools = offeredTools
    }

    mutating func decode(line: String) throws -> (events: [ChatEvent], done: Bool) {
        if wholeReply { body += line + "\n"; return ([], false) }
        sawEvent = true
        // SSE: only `data:` fields matter here; comments (":"), `event:`, `id:` and blank
        // separators are skipped.
        guard line.hasPrefix("data:") else { return ([], false) }
        let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
        if payload == "[DONE]" { return ([], true) }
        guard let json = LLMJSON.parse(payload) else {
            throw LLMError(.streamFailed, "\(endpoint.description) sent an event that is not JSON in the middle of a reply: \(payload.prefix(200))")
        }
        if let err = json["error"], !err.isNull {
            let text = err["message"]?.stringValue ?? err.stringValue ?? err.jsonText
            if let e = ContextErrorParser.error(status: nil, body: payload, endpoint: endpoint, model: model) { throw e }
            throw LLMError(.streamFailed, "\(endpoint.description) reported an error in the middle of the reply: \(text)")
        }
        if let usage = json["usage"], !usage.isNull {
            stats.promptTokens = usage["prompt_tokens"]?.intValue ?? stats.promptTokens
            stats.evalTokens = usage["completion_tokens"]?.intValue ?? stats.evalTokens
        }
        var events: [ChatEvent] = []
        for choice in json["choices"]?.arrayValue ?? [] {
            let delta = choice["delta"] ?? choice["message"]
            if let text = delta?["content"]?.stringValue, !text.isEmpty { events.append(.delta(text)) }
            for (pos, tc) in (delta?["tool_calls"]?.arrayValue ?? []).enumerated() {
                let index = tc["index"]?.intValue ?? pos
                var acc = calls[index] ?? (nil, "", "")
                if let id = tc["id"]?.stringValue, !id.isEmpty { acc.id = id }
                if let name = tc["function"]?["name"]?.stringValue { acc.name += name }
                switch tc["function"]?["arguments"] {
                case .string(let s)?: acc.args += s
                case .object(let o)?: acc.args += LLMJSON.object(o).jsonText
                default: break
                }
                calls[index] = acc
            }
            if let reason = choice["finish_reason"]?.stringValue {
                sawFinish = true
                stats.doneReason = reason
            }
        }
        return (events, false)
    }

    /// A stream that ended without `[DONE]` still counts as complete when a choice finished
    /// (some servers omit `[DONE]`); the assembled tool calls come out here.
    mutating func finish() throws -> [ChatEvent] {
        if wholeReply {
            guard let json = LLMJSON.parse(body) else {
                throw LLMError(.badResponse, "\(endpoint.description) answered /v1/chat/completions with something that is not JSON: \(body.prefix(200))")
            }
            if let err = json["error"], !err.isNull {
                if let e = ContextErrorParser.error(status: nil, body: body, endpoint: endpoint, model: model) { throw e }
                throw LLMError(.streamFailed, "\(endpoint.description) reported an error: \(err["message"]?.stringValue ?? err.jsonText)")
            }
            wholeReply = false  // decode the reply as if it were one streamed event
            unstreamed = true
            var (events, _) = try decode(line: "data: " + json.jsonText)
            events += try finish()
            sawFinish = true
            return events
        }
        guard !calls.isEmpty else {
            if offeredTools && !sawEvent && !sawFinish && unstreamed {
                throw LLMError(.badResponse, "\(endpoint.description) answered a request with tools with neither text nor a tool call.")
            }
            if offeredTools && !sawEvent && !sawFinish {
                throw LLMError(.streamFailed, "\(endpoint.description) accepted a streaming request with tools and then sent nothing; some servers (llama-cpp-python) cannot stream tool calls: set XLCHAT_OPENAI_STREAM_TOOLS=0.")
            }
            return []
        }
        let list = calls.keys.sorted().map { k -> ToolCall in
            let c = calls[k]!
            return ToolCall(id: c.id, name: c.name, argumentsText: c.args.isEmpty ? "{}" : c.args)
        }
        calls = [:]
        return [.toolCalls(list)]
    }

    var finishedWithoutDone: Bool { sawFinish }

    func httpError(status: Int, body: Data) -> LLMError {
        Self.httpError(status: status, body: body, endpoint: endpoint, model: model)
    }

    static func httpError(status: Int, body: Data, endpoint: Endpoint, model: String?) -> LLMError {
        let text = HTTP.errorText(body)
        let lower = text.lowercased()
        if (400..<500).contains(status) || status == 500,
           let e = ContextErrorParser.error(status: status, body: String(decoding: body, as: UTF8.self), endpoint: endpoint, model: model) {
            return e
        }
        if let model, lower.contains("model_not_found")
            || (lower.contains("model") && (lower.contains("not found") || lower.contains("does not exist"))) {
            return LLMError(.modelNotFound,
                            "The model '\(model)' is not available on \(endpoint.description) (HTTP \(status): \(text)). Load or download it on that server, or pick one it lists.",
                            httpStatus: status)
        }
        if (400..<500).contains(status), let model, lower.contains("tool"),
           lower.contains("not support") || lower.contains("unsupported") {
            return LLMError(.toolsUnsupported, "The model '\(model)' on \(endpoint.description) does not support tool calls (\(text)).",
                            httpStatus: status)
        }
        if status == 401 || status == 403 {
            return LLMError(.badResponse, "\(endpoint.description) refused the request (HTTP \(status): \(text)); check XLCHAT_API_KEY.",
                            httpStatus: status)
        }
        if status == 404 {
            return LLMError(.badResponse, "\(endpoint.description) answered HTTP 404 (\(text)): check that the base URL is the API root (it should end in /v1).",
                            httpStatus: status)
        }
        return LLMError(.badResponse, "\(endpoint.description) answered HTTP \(status): \(text)", httpStatus: status)
    }
}

/// A set of strings shared across tasks (a lock around a `Set`).
final class LockedStringSet: @unchecked Sendable {
    private let lock = NSLock()
    private var items: Set<String> = []
    func contains(_ s: String) -> Bool { lock.lock(); defer { lock.unlock() }; return items.contains(s) }
    func insert(_ s: String) { lock.lock(); items.insert(s); lock.unlock() }
}
