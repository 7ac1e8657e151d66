import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import XLChatLLM

/// A model server for tests: real HTTP on 127.0.0.1 (ephemeral port), speaking Ollama's API
/// (`/api/chat` NDJSON, `/api/embed`, `/api/tags`, `/api/version`) and the OpenAI-compatible
/// one (`/v1/chat/completions` SSE, `/v1/embeddings`, `/v1/models`). Chat requests on either
/// API play the next scripted reply; every request is recorded, and so is a client that
/// disconnects before its reply is complete.
public final class ScriptedModelServer: @unchecked Sendable {
    /// One step of a streamed reply.
    public enum Step: Sendable, Hashable {
        /// A chunk of assistant text (one NDJSON line / one SSE event).
        case text(String)
        /// Tool calls, in one chunk (OpenAI mode splits each call's arguments over two deltas,
        /// as real servers stream them).
        case toolCalls([ScriptedToolCall])
        /// Pause before the next step (seconds).
        case wait(Double)
        /// An error line in the middle of the stream (Ollama: `{"error":...}`; OpenAI:
        /// `data: {"error":{...}}`), after which the reply ends without a done marker.
        case error(String)
        /// Close the connection abruptly, mid-reply.
        case disconnect
        /// Bytes written as they are (garbage, partial lines, SSE comments).
        case raw(String)
        /// End the reply cleanly but without the done marker (a server that gave up).
        case endWithoutDone
        /// These bytes one at a time, `every` seconds apart (a server that drips: each byte
        /// arrives, no line completes).
        case drip(String, every: Double)
    }

    /// What a chat request gets.
    public enum Reply: Sendable, Hashable {
        /// A 200 streamed reply. `headerDelay` holds back the response head (a slow start,
        /// like a model loading). Unless the steps end in `.error`/`.disconnect`, the server
        /// ends with the done marker and the given token counts.
        case stream([Step], headerDelay: Double = 0, promptTokens: Int = 12, evalTokens: Int = 5)
        /// An HTTP error with this JSON body.
        case httpError(status: Int, body: String)

        /// Convenience: the text split into chunks, `delay` seconds apart.
        public static func text(_ chunks: [String], delay: Double = 0) -> Reply {
            var steps: [Step] = []
            for (i, c) in chunks.enumerated() {
                if i > 0, delay > 0 { steps.append(.wait(delay)) }
                steps.append(.text(c))
            }
            return .stream(steps)
        }
    }

    /// A request the server got.
    public struct RecordedRequest: Sendable {
        public var method: String
        public var path: String
        public var headers: [String: String]
        public var body: Data
        /// The body parsed as JSON, if it is.
        public var json: LLMJSON? { LLMJSON.parse(body) }
        public var receivedAt: Double
    }

    /// Timings of one streamed chat reply (monotonic seconds, `ScriptedModelServer.now()`).
    public struct ReplyTiming: Sendable {
        public var requestAt: Double
        public var firstTextSentAt: Double?
        public var finishedAt: Double?
    }

    public let models: [String]
    public let version: String
    public let embeddingDimensions: Int

    /// How a context-length refusal is worded.
    public enum ContextErrorStyle: Sendable, Hashable {
        /// OpenAI/vLLM: "This model's maximum context length is N tokens. However, you requested M tokens ..."
        case openAI
        /// llama.cpp's server: `exceed_context_size_error` with `n_ctx`, `n_prompt_tokens`.
        case llamaCpp
        /// llama-cpp-python: "Requested tokens (M) exceed context window of N".
        case llamaCppPython
        /// A refusal that names no size.
        case noNumber
    }

    /// The model's context, as the server enforces and reports it. Set before requests arrive.
    public struct ContextSimulation: Sendable {
        /// Chat requests whose prompt tokens + reply tokens (`max_tokens` / `num_predict`)
        /// exceed this are refused (OpenAI API: HTTP 400 in `errorStyle`; Ollama API: served,
        /// but counted in `truncatedPrompts`, as Ollama silently drops the front). nil: no limit.
        public var enforcedTokens: Int?
        /// What `/api/show` (`model_info["scripted.context_length"]`), `/props`
        /// (`default_generation_settings.n_ctx`) and `/v1/models` (`meta.n_ctx_train`) report;
        /// nil: they say nothing about it.
        public var reported: LLMJSON?
        /// Whether `/api/show` and `/props` exist (an old or other server: 404).
        public var serveShow = true
        /// `/tokenize` (llama.cpp's form): nil absent (404); true answers; false fails (500).
        public var tokenizer: Bool? = nil
        public var errorStyle: ContextErrorStyle = .openAI
        /// The server's "tokenizer": UTF-8 bytes per token (4 bytes + 4 tokens a message).
        public var bytesPerToken = 4.0
        public init(enforcedTokens: Int? = nil, reported: LLMJSON? = nil, serveShow: Bool = true, tokenizer: Bool? = nil,
                    errorStyle: ContextErrorStyle = .openAI, bytesPerToken: Double = 4.0) {
            self.enforcedTokens = enforcedTokens; self.reported = reported; self.serveShow = serveShow
            self.tokenizer = tokenizer; self.errorStyle = errorStyle; self.bytesPerToken = bytesPerToken
        }
    }

    private var contextSim = ContextSimulation()
    private var promptTokenLog: [Int] = []
    private var truncated = 0
    private var refusals = 0

    public var context: ContextSimulation {
        get { lock.withLock { contextSim } }
        set { lock.withLock { contextSim = newValue } }
    }
    /// The prompt tokens (as this server counts them) of every chat request, in order.
    public var promptTokens: [Int] { lock.withLock { promptTokenLog } }
    /// Ollama-API chat requests whose prompt exceeded `num_ctx` or the enforced context.
    public var truncatedPrompts: Int { lock.withLock { truncated } }
    /// Chat requests refused for their size.
    public var contextRefusals: Int { lock.withLock { refusals } }

    /// This server's token count of a chat request body: message contents, tool-call
    /// arguments and tool definitions, `bytesPerToken` bytes a token, plus 4 a message.
    public func promptTokens(of json: LLMJSON?) -> Int {
        let bpt = context.bytesPerToken
        var bytes = 0, n = 0
        for m in json?["messages"]?.arrayValue ?? [] {
            bytes += (m["content"]?.stringValue ?? "").utf8.count
            for c in m["tool_calls"]?.arrayValue ?? [] { bytes += (c["function"]?.jsonText ?? "").utf8.count }
            n += 4
        }
        for t in json?["tools"]?.arrayValue ?? [] { bytes += t.jsonText.utf8.count }
        return Int((Double(bytes) / bpt).rounded(.up)) + n
    }

    private let lock = NSLock()
    private var replies: [Reply]
    private var recorded: [RecordedRequest] = []
    private var timings: [ReplyTiming] = []
    private var disconnects = 0
    private var serverChannel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>?
    private var acceptTask: Task<Void, Never>?
    private var boundPort = 0

    public init(replies: [Reply] = [], models: [String] = ["test-chat:latest", "test-embed:latest"],
                version: String = "0.9.0-scripted", embeddingDimensions: Int = 8) {
        self.replies = replies
        self.models = models
        self.version = version
        self.embeddingDimensions = embeddingDimensions
    }

    /// The same clock the timings use (DispatchTime uptime, seconds).
    public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Binds 127.0.0.1 (port 0: an ephemeral one) and starts serving.
    @discardableResult
    public func start(port: Int = 0) async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // No pipelining assistance: it holds back reads while a reply is in
                    // flight, and then a client's disconnect would go unseen.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        let bound = channel.channel.localAddress?.port ?? port
        lock.withLock {
            serverChannel = channel
            boundPort = bound
        }
        acceptTask = Task { [self] in
            try? await channel.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                }
            }
        }
        return bound
    }

    public var port: Int { lock.withLock { boundPort } }
    /// `127.0.0.1:PORT`, the form `OLLAMA_HOST` takes.
    public var hostAndPort: String { "127.0.0.1:\(port)" }
    public var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// Stops accepting and closes open connections.
    public func shutdown() async {
        let (channel, task) = lock.withLock { (serverChannel, acceptTask) }
        try? await channel?.channel.close()
        task?.cancel()
        await task?.value
    }

    public func enqueue(_ reply: Reply) { lock.withLock { replies.append(reply) } }
    public var requests: [RecordedRequest] { lock.withLock { recorded } }
    public func requests(path: String) -> [RecordedRequest] { requests.filter { $0.path == path } }
    public var replyTimings: [ReplyTiming] { lock.withLock { timings } }
    /// Replies whose client went away before the reply was complete.
    public var disconnectCount: Int { lock.withLock { disconnects } }

    /// Waits (polling every 10 ms) until a client has disconnected mid-reply; false on timeout.
    public func waitForDisconnect(timeout: Double) async -> Bool {
        let deadline = Self.now() + timeout
        while Self.now() < deadline {
            if disconnectCount > 0 { return true }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return disconnectCount > 0
    }

    /// The deterministic embedding the server gives `text` (before any normalisation).
    public func rawEmbedding(_ text: String) -> [Float] {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return (0..<embeddingDimensions).map { i in
            let x = (h >> UInt64((i * 7) % 57)) & 0xff
            return Float(x) / 32 - 4 + Float(i % 3)
        }
    }

    // MARK: connection handling

    private final class ConnectionState: @unchecked Sendable {
        let lock = NSLock()
        var replying = false
        var closed = false
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let state = ConnectionState()
        try? await connection.executeThenClose { inbound, outbound in
            let (parts, partsContinuation) = AsyncStream.makeStream(of: HTTPServerRequestPart.self)
            await withTaskGroup(of: Void.self) { group in
                // Reads run apart from replies, so a client that goes away mid-reply is seen
                // at once.
                group.addTask {
                    do { for try await part in inbound { partsContinuation.yield(part) } } catch {}
                    let wasReplying = state.lock.withLock { () -> Bool in state.closed = true; return state.replying }
                    if wasReplying { self.lock.withLock { self.disconnects += 1 } }
                    partsContinuation.finish()
                }
                var head: HTTPRequestHead?
                var body = Data()
                for await part in parts {
                    switch part {
                    case .head(let h): head = h; body = Data()
                    case .body(var b): body.append(contentsOf: b.readBytes(length: b.readableBytes) ?? [])
                    case .end:
                        guard let h = head else { continue }
                        state.lock.withLock { state.replying = true }
                        let keepOpen = (try? await self.respond(h, body, outbound, connection.channel)) ?? false
                        state.lock.withLock { state.replying = false }
                        if !keepOpen { partsContinuation.finish() }
                    }
                }
                try? await connection.channel.close()
                group.cancelAll()
            }
        }
    }

    /// Writes the reply; returns false when the connection was closed on purpose.
    private func respond(_ head: HTTPRequestHead, _ body: Data,
                         _ out: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, _ channel: Channel) async throws -> Bool {
        var headers: [String: String] = [:]
        for (k, v) in head.headers { headers[k.lowercased()] = v }
        let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
        let request = RecordedRequest(method: head.method.rawValue, path: path, headers: headers, body: body,
                                      receivedAt: Self.now())
        lock.withLock { recorded.append(request) }
        let json = request.json
        switch (head.method, path) {
        case (.GET, "/api/version"):
            try await sendJSON(out, 200, ["version": .string(version)])
        case (.GET, "/api/tags"):
            try await sendJSON(out, 200, ["models": .array(models.map { name in
                ["name": .string(name), "model": .string(name), "size": 1000, "modified_at": "2026-01-01T00:00:00Z",
                 "details": ["family": "scripted", "parameter_size": "1M", "quantization_level": "Q4_0"]]
            })])
        case (.GET, "/v1/models"):
            let reported = context.reported
            try await sendJSON(out, 200, ["object": "list", "data": .array(models.map {
                var m: [String: LLMJSON] = ["id": .string($0), "object": "model", "owned_by": "scripted"]
                if let reported { m["meta"] = ["n_ctx_train": reported] }
                return .object(m)
            })])
        case (.POST, "/api/show"):
            let sim = context
            let model = json?["model"]?.stringValue ?? json?["name"]?.stringValue ?? ""
            guard sim.serveShow else { try await sendJSON(out, 404, ["error": "404 page not found"]); return true }
            guard hasModel(model) else { return try await sendModelNotFound(out, model, openAI: false) }
            var info: [String: LLMJSON] = ["general.architecture": "scripted"]
            if let r = sim.reported { info["scripted.context_length"] = r }
            try await sendJSON(out, 200, ["modelfile": "", "parameters": "stop \"<|end|>\"", "template": "{{ .Prompt }}",
                                          "details": ["family": "scripted"], "model_info": .object(info)])
        case (.GET, "/props"):
            let sim = context
            guard sim.serveShow, let r = sim.reported else { try await sendJSON(out, 404, ["error": "not found"]); return true }
            try await sendJSON(out, 200, ["default_generation_settings": ["n_ctx": r], "total_slots": 1])
        case (.POST, "/tokenize"):
            let sim = context
            switch sim.tokenizer {
            case nil: try await sendJSON(out, 404, ["error": "not found"])
            case false?: try await sendJSON(out, 500, ["error": ["message": "tokenizer crashed"]])
            case true?:
                let text = json?["content"]?.stringValue ?? ""
                let n = Int((Double(text.utf8.count) / sim.bytesPerToken).rounded(.up))
                try await sendJSON(out, 200, ["tokens": .array((0..<n).map { .number(Double($0 % 50_000)) })])
            }
        case (.POST, "/api/embed"), (.POST, "/v1/embeddings"):
            let openAI = path.hasPrefix("/v1")
            let model = json?["model"]?.stringValue ?? ""
            guard hasModel(model) else { return try await sendModelNotFound(out, model, openAI: openAI) }
            let inputs: [String] = json?["input"]?.arrayValue?.compactMap(\.stringValue)
                ?? json?["input"]?.stringValue.map { [$0] } ?? []
            if openAI {
                // Raw (unnormalised) vectors, like llama-cpp-python's server.
                try await sendJSON(out, 200, ["object": "list", "model": .string(model), "data": .array(inputs.enumerated().map { i, t in
                    ["object": "embedding", "index": .number(Double(i)), "embedding": .array(rawEmbedding(t).map { .number(Double($0)) })]
                })])
            } else {
                try await sendJSON(out, 200, ["model": .string(model), "embeddings": .array(inputs.map { t in
                    let v = rawEmbedding(t)
                    let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    return .array(v.map { .number(Double(n > 0 ? $0 / n : $0)) })
                })])
            }
        case (.POST, "/api/chat"), (.POST, "/v1/chat/completions"):
            let openAI = path.hasPrefix("/v1")
            let model = json?["model"]?.stringValue ?? ""
            guard hasModel(model) else { return try await sendModelNotFound(out, model, openAI: openAI) }
            let sim = context
            let prompt = promptTokens(of: json)
            lock.withLock { promptTokenLog.append(prompt) }
            let replyTokens = (json?["max_tokens"] ?? json?["options"]?["num_predict"])?.intValue ?? 0
            if let limit = sim.enforcedTokens, prompt + replyTokens > limit {
                if !openAI {
                    lock.withLock { truncated += 1 }
                } else {
                    lock.withLock { refusals += 1 }
                    let requested = prompt + replyTokens
                    let body: LLMJSON
                    switch sim.errorStyle {
                    case .openAI:
                        body = ["error": ["message": .string("This model's maximum context length is \(limit) tokens. However, you requested \(requested) tokens (\(prompt) in the messages, \(replyTokens) in the completion). Please reduce the length of the messages or completion."),
                                          "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"]]
                    case .llamaCpp:
                        body = ["error": ["code": 400, "message": "the request exceeds the available context size, try increasing it",
                                          "type": "exceed_context_size_error", "n_prompt_tokens": .number(Double(prompt)), "n_ctx": .number(Double(limit))]]
                    case .llamaCppPython:
                        body = ["error": ["message": .string("Requested tokens (\(requested)) exceed context window of \(limit)"), "type": "invalid_request_error"]]
                    case .noNumber:
                        body = ["error": ["message": "prompt is too long for this model", "type": "invalid_request_error"]]
                    }
                    try await sendJSON(out, 400, body)
                    return true
                }
            } else if !openAI, let numCtx = json?["options"]?["num_ctx"]?.intValue, prompt > numCtx {
                lock.withLock { truncated += 1 }
            }
            let next: Reply? = lock.withLock { replies.isEmpty ? nil : replies.removeFirst() }
            guard let reply = next else {
                try await sendJSON(out, 500, openAI ? ["error": ["message": "scripted server: no reply left in the script"]]
                                                  : ["error": "scripted server: no reply left in the script"])
                return true
            }
            if openAI, json?["stream"]?.boolValue == false, case .stream(let steps, let delay, let pt, let et) = reply {
                return try await playWhole(steps, headerDelay: delay, promptTokens: pt, evalTokens: et, model: model, out, channel)
            }
            return try await play(reply, model: model, openAI: openAI, out, channel)
        default:
            try await sendJSON(out, 404, ["error": "not found"])
        }
        return true
    }

    private func hasModel(_ name: String) -> Bool {
        models.contains { ModelInfo(name: $0).matches(name) }
    }

    private func sendModelNotFound(_ out: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, _ model: String,
                                   openAI: Bool) async throws -> Bool {
        if openAI {
            try await sendJSON(out, 404, ["error": ["message": .string("The model `\(model)` does not exist."),
                                                    "type": "invalid_request_error", "code": "model_not_found"]])
        } else {
            // Ollama's own answer.
            try await sendJSON(out, 404, ["error": .string("model '\(model)' not found")])
        }
        return true
    }

    private func sendJSON(_ out: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, _ status: Int, _ value: LLMJSON) async throws {
        let data = Data(value.jsonText.utf8)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        headers.add(name: "Content-Length", value: String(data.count))
        try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers)))
        try await out.write(.body(.byteBuffer(ByteBuffer(bytes: data))))
        try await out.write(.end(nil))
    }

    /// OpenAI `stream: false`: the script's text and tool calls in one chat.completion.
    private func playWhole(_ steps: [Step], headerDelay: Double, promptTokens: Int, evalTokens: Int, model: String,
                           _ out: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, _ channel: Channel) async throws -> Bool {
        let requestAt = Self.now()
        lock.withLock { timings.append(ReplyTiming(requestAt: requestAt)) }
        if headerDelay > 0 { try await Task.sleep(nanoseconds: UInt64(headerDelay * 1e9)) }
        var text = ""
        var calls: [LLMJSON] = []
        for step in steps {
            switch step {
            case .wait(let s): try await Task.sleep(nanoseconds: UInt64(s * 1e9))
            case .text(let t), .raw(let t): text += t
            case let .drip(t, every):
                try await Task.sleep(nanoseconds: UInt64(every * Double(t.utf8.count) * 1e9))
                text += t
            case .toolCalls(let cs):
                calls += cs.enumerated().map { i, c in
                    ["id": .string(c.id ?? "call_\(i)"), "type": "function",
                     "function": ["name": .string(c.name), "arguments": .string(c.argumentsText)]]
                }
            case .error(let message):
                try await sendJSON(out, 500, ["error": ["message": .string(message), "type": "server_error"]])
                return true
            case .disconnect, .endWithoutDone:
                try? await channel.close()
                return false
            }
        }
        var message: [String: LLMJSON] = ["role": "assistant", "content": text.isEmpty ? .null : .string(text)]
        if !calls.isEmpty { message["tool_calls"] = .array(calls) }
        try await sendJSON(out, 200, ["id": "chatcmpl-scripted", "object": "chat.completion", "model": .string(model),
                                      "choices": [["index": 0, "message": .object(message),
                                                   "finish_reason": calls.isEmpty ? "stop" : "tool_calls"]],
                                      "usage": ["prompt_tokens": .number(Double(promptTokens)),
                                                "completion_tokens": .number(Double(evalTokens))]])
        return true
    }

    private func play(_ reply: Reply, model: String, openAI: Bool,
                      _ out: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, _ channel: Channel) async throws -> Bool {
        let requestAt = Self.now()
        let index: Int = lock.withLock { timings.append(ReplyTiming(requestAt: requestAt)); return timings.count - 1 }
        switch reply {
        case .httpError(let status, let body):
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers)))
            try await out.write(.body(.byteBuffer(ByteBuffer(string: body))))
            try await out.write(.end(nil))
            return true
        case .stream(let steps, let headerDelay, let promptTokens, let evalTokens):
            if headerDelay > 0 { try await Task.sleep(nanoseconds: UInt64(headerDelay * 1e9)) }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: openAI ? "text/event-stream" : "application/x-ndjson")
            headers.add(name: "Transfer-Encoding", value: "chunked")
            try await out.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
            let created = "2026-01-01T00:00:00Z"
            func line(_ v: LLMJSON) async throws {
                let text = openAI ? "data: \(v.jsonText)\n\n" : v.jsonText + "\n"
                try await out.write(.body(.byteBuffer(ByteBuffer(string: text))))
            }
            func chunk(_ delta: LLMJSON, finish: LLMJSON = .null) -> LLMJSON {
                ["id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": .string(model),
                 "choices": [["index": 0, "delta": delta, "finish_reason": finish]]]
            }
            var sawTools = false
            for step in steps {
                switch step {
                case .wait(let s):
                    try await Task.sleep(nanoseconds: UInt64(s * 1e9))
                case .text(let t):
                    lock.withLock { if timings[index].firstTextSentAt == nil { timings[index].firstTextSentAt = Self.now() } }
                    if openAI {
                        try await line(chunk(["role": "assistant", "content": .string(t)]))
                    } else {
                        try await line(["model": .string(model), "created_at": .string(created),
                                        "message": ["role": "assistant", "content": .string(t)], "done": false])
                    }
                case .toolCalls(let calls):
                    sawTools = true
                    if openAI {
                        for (i, c) in calls.enumerated() {
                            let cut = c.argumentsText.index(c.argumentsText.startIndex, offsetBy: c.argumentsText.count / 2)
                            try await line(chunk(["tool_calls": [["index": .number(Double(i)), "id": .string(c.id ?? "call_\(i)"),
                                                                  "type": "function",
                                                                  "function": ["name": .string(c.name),
                                                                               "arguments": .string(String(c.argumentsText[..<cut]))]]]]))
                            try await line(chunk(["tool_calls": [["index": .number(Double(i)),
                                                                  "function": ["arguments": .string(String(c.argumentsText[cut...]))]]]]))
                        }
                    } else {
                        let wire: [LLMJSON] = calls.map { c in
                            // Ollama sends arguments as an object; text that is not an object is
                            // sent as a string, as a broken server or proxy would.
                            let args: LLMJSON = LLMJSON.parse(c.argumentsText).flatMap { $0.objectValue.map(LLMJSON.object) }
                                ?? .string(c.argumentsText)
                            var fn: [String: LLMJSON] = ["name": .string(c.name), "arguments": args]
                            fn["index"] = 0
                            var o: [String: LLMJSON] = ["function": .object(fn)]
                            if let id = c.id { o["id"] = .string(id) }
                            return .object(o)
                        }
                        try await line(["model": .string(model), "created_at": .string(created),
                                        "message": ["role": "assistant", "content": "", "tool_calls": .array(wire)], "done": false])
                    }
                case .error(let message):
                    if openAI {
                        try await line(["error": ["message": .string(message), "type": "server_error"]])
                    } else {
                        try await line(["error": .string(message)])
                    }
                    try await out.write(.end(nil))
                    lock.withLock { timings[index].finishedAt = Self.now() }
                    return true
                case .raw(let bytes):
                    try await out.write(.body(.byteBuffer(ByteBuffer(string: bytes))))
                case let .drip(bytes, every):
                    for b in bytes.utf8 {
                        try await out.write(.body(.byteBuffer(ByteBuffer(bytes: [b]))))
                        try await Task.sleep(nanoseconds: UInt64(every * 1e9))
                    }
                case .endWithoutDone:
                    try await out.write(.end(nil))
                    lock.withLock { timings[index].finishedAt = Self.now() }
                    return true
                case .disconnect:
                    lock.withLock { timings[index].finishedAt = Self.now() }
                    try? await channel.close()
                    return false
                }
            }
            let firstText = lock.withLock { timings[index].firstTextSentAt }
            let ttft = ((firstText ?? Self.now()) - requestAt) * 1e9
            if openAI {
                try await line(chunk([:], finish: sawTools ? "tool_calls" : "stop"))
                try await line(["id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": .string(model), "choices": [],
                                "usage": ["prompt_tokens": .number(Double(promptTokens)), "completion_tokens": .number(Double(evalTokens)),
                                          "total_tokens": .number(Double(promptTokens + evalTokens))]])
                try await out.write(.body(.byteBuffer(ByteBuffer(string: "data: [DONE]\n\n"))))
            } else {
                let total = (Self.now() - requestAt) * 1e9
                try await line(["model": .string(model), "created_at": .string(created),
                                "message": ["role": "assistant", "content": ""], "done": true, "done_reason": "stop",
                                "total_duration": .number(total.rounded()), "load_duration": 0,
                                "prompt_eval_count": .number(Double(promptTokens)), "prompt_eval_duration": .number(ttft.rounded()),
                                "eval_count": .number(Double(evalTokens)), "eval_duration": .number(max(0, total - ttft).rounded())])
            }
            try await out.write(.end(nil))
            lock.withLock { timings[index].finishedAt = Self.now() }
            return true
        }
    }
}

/// A tool call in a script. `argumentsText` is sent as the model "wrote" it, so malformed
/// arguments can be scripted.
public struct ScriptedToolCall: Sendable, Hashable {
    public var id: String?
    public var name: String
    public var argumentsText: String
    public init(id: String? = nil, name: String, argumentsText: String) {
        self.id = id
        self.name = name
        self.argumentsText = argumentsText
    }
}
