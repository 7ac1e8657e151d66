import Foundation

/// Why a model call failed. `message` is meant for the user: it names the address tried and
/// what to do about it.
public struct LLMError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// No server answered at the address (refused, unknown host, unreachable).
        case unavailable
        /// The server answered but does not have the model (Ollama: not pulled).
        case modelNotFound
        /// A reply started streaming and then broke: the server closed the connection, sent
        /// an error line, or stopped before saying it was done.
        case streamFailed
        /// No first byte within the first-byte timeout, or a stall between chunks.
        case timeout
        /// The server answered with something this client cannot use (HTTP error, bad JSON).
        case badResponse
        /// The configuration (environment, base URL) is unusable.
        case invalidConfiguration
        /// The model cannot take `tools` (Ollama: HTTP 400 "... does not support tools"). The
        /// caller can ask again without tools (e.g. ask for SQL in a fenced block).
        case toolsUnsupported
        /// The prompt did not fit the model's context window (an HTTP 400 such as OpenAI's
        /// `context_length_exceeded`); `contextTokens` holds the window when the error named it.
        case contextExceeded
    }

    public var kind: Kind
    public var message: String
    /// The HTTP status, when the failure was an HTTP error reply.
    public var httpStatus: Int?
    /// The connection was refused: nothing reached the server, so any call may be retried.
    var connectionRefused = false
    /// For `.contextExceeded`: the context window (tokens) the server's message named.
    public var contextTokens: Int?
    /// For `.timeout`: the client stopped the reply (`ReplyBound`): it ran past its token or
    /// time bound, so the model was running away rather than the server being unreachable.
    public var stoppedByClient = false

    public init(_ kind: Kind, _ message: String, httpStatus: Int? = nil) {
        self.kind = kind
        self.message = message
        self.httpStatus = httpStatus
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}

/// A chat/embedding model server. Both implementations stream over URLSession with a delegate.
public protocol ModelClient: Sendable {
    /// Streams a reply. Cancelling the consuming task (or dropping the stream) cancels the
    /// HTTP request, so the server sees the disconnect. Errors are `LLMError`s, except
    /// `CancellationError` when the consumer was cancelled.
    func chat(model: String, messages: [ChatMessage], tools: [ToolDefinition], options: ChatOptions)
        -> AsyncThrowingStream<ChatEvent, Error>
    /// One vector per text, in order. Batched; retried on refused connections.
    func embed(model: String, texts: [String]) async throws -> [[Float]]
    /// The models the server has.
    func models() async throws -> [ModelInfo]
    /// The server's version string (also a cheap reachability check).
    func version() async throws -> String
    /// For messages: "Ollama at http://127.0.0.1:11434".
    var endpointDescription: String { get }
    /// The model's context window as the server reports it, or nil when it does not say (or
    /// says something implausible: 0, 1e9). Never throws; a few seconds at most.
    func contextWindow(model: String) async -> ContextWindow?
    /// The number of tokens `text` is for `model`, by the server's own tokenizer, or nil when
    /// the server has none (Ollama) or it failed. Never throws; a few seconds at most.
    func tokenCount(model: String, text: String) async -> Int?
}

extension ModelClient {
    public func contextWindow(model: String) async -> ContextWindow? { nil }
    public func tokenCount(model: String, text: String) async -> Int? { nil }

    /// The window to budget for: `setting` (the user's) when given, else one learned from an
    /// earlier context error in this process, else what the server reports, else
    /// `ContextWindow.defaultTokens`. Never throws.
    public func resolveContextWindow(model: String, setting: Int?) async -> ContextWindow {
        if let setting {
            if ContextWindow.plausibleTokens.contains(setting) {
                return ContextWindow(tokens: setting, source: .setting, detail: "--context / XLCHAT_CONTEXT")
            }
            return .fallback("the context setting \(setting) is not a plausible window")
        }
        if let learned = LearnedContext.get(endpoint: endpointDescription, model: model) {
            return ContextWindow(tokens: learned, source: .learned, detail: "from an earlier context-length error of \(endpointDescription)")
        }
        if let reported = await contextWindow(model: model) { return reported }
        return .fallback("\(endpointDescription) does not report the context window of '\(model)'")
    }
}

extension ModelClient {
    /// Collects a whole reply: the text, the tool calls, and the stats.
    public func complete(model: String, messages: [ChatMessage], tools: [ToolDefinition] = [],
                         options: ChatOptions = .default) async throws -> (text: String, toolCalls: [ToolCall], stats: ChatStats) {
        var text = ""
        var calls: [ToolCall] = []
        var stats = ChatStats()
        for try await event in chat(model: model, messages: messages, tools: tools, options: options) {
            switch event {
            case .delta(let d): text += d
            case .toolCalls(let c): calls += c
            case .done(let s): stats = s
            }
        }
        return (text, calls, stats)
    }

    /// Whether the server has `model` (Ollama: pulled). Throws when the server is unreachable.
    public func hasModel(_ model: String) async throws -> Bool {
        try await models().contains { $0.matches(model) }
    }
}

/// Timeouts and retries shared by both clients.
public struct HTTPPolicy: Sendable, Hashable {
    /// From sending the request to the first byte of the reply, once the server accepted the
    /// connection (a refused or unreachable server fails within the 10 s connect timeout).
    /// Minutes, not seconds: a CPU-only Ollama reading a long prompt into a 7-8B model can take
    /// several minutes before its first token (issue 14, item 9; it was 120 s).
    public var firstByteTimeout: Double = 600
    /// Longest time between two complete events of a streaming reply (a non-blank line: an
    /// NDJSON object, an SSE `data:` line). Bytes that complete no line do not count, so a
    /// server that drips one byte every 20 s no longer keeps a reply open forever.
    public var stallTimeout: Double = 60
    /// The whole reply, from sending the request to its last byte, however it trickles.
    public var replyDeadline: Double = 1800
    /// Attempts for idempotent calls when the connection is refused (1 = no retry).
    public var maxAttempts: Int = 4
    /// First backoff delay; doubles on each retry.
    public var initialBackoff: Double = 0.25
    /// Embedding inputs per request.
    public var embedBatchSize: Int = 64

    public init(firstByteTimeout: Double = 600, stallTimeout: Double = 60, maxAttempts: Int = 4,
                initialBackoff: Double = 0.25, embedBatchSize: Int = 64, replyDeadline: Double = 1800) {
        self.firstByteTimeout = firstByteTimeout
        self.stallTimeout = stallTimeout
        self.replyDeadline = replyDeadline
        self.maxAttempts = maxAttempts
        self.initialBackoff = initialBackoff
        self.embedBatchSize = embedBatchSize
    }

    public static let `default` = HTTPPolicy()
}

/// Which provider to talk to and where. Built from the settings by
/// `init(provider:ollamaHost:baseURL:apiKey:openAIStreamsToolCalls:policy:)`; the settings
/// themselves are read from the environment (`XLCHAT_PROVIDER`, `OLLAMA_HOST`,
/// `XLCHAT_BASE_URL`, `XLCHAT_API_KEY`, `XLCHAT_OPENAI_STREAM_TOOLS`) and the flags in one
/// place, the server's `ServerConfiguration.fromEnvironment`, so `serve`, `ask`, `eval`,
/// `doctor` and MCP all talk to the same server the same way.
public struct ModelClientConfiguration: Sendable, Hashable {
    public enum Provider: String, Sendable, Hashable, CaseIterable { case ollama, openai }

    public var provider: Provider
    /// Ollama: the server root (`http://127.0.0.1:11434`). OpenAI: the API root, ending in
    /// `/v1` (added when missing: `http://127.0.0.1:8080` means `http://127.0.0.1:8080/v1`).
    public var baseURL: URL
    public var apiKey: String?
    public var policy: HTTPPolicy
    /// OpenAI provider: whether requests with tools stream (`XLCHAT_OPENAI_STREAM_TOOLS=0` turns
    /// it off for servers that cannot, such as llama-cpp-python).
    public var openAIStreamsToolCalls = true

    public init(provider: Provider, baseURL: URL, apiKey: String? = nil, policy: HTTPPolicy = .default) {
        self.provider = provider
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.policy = policy
    }

    public static let defaultOpenAIBaseURL = URL(string: "http://127.0.0.1:8080/v1")!

    /// The configuration the settings describe. A base URL, when given, is used for either
    /// provider; without one Ollama is at `ollamaHost` (read as Ollama reads `OLLAMA_HOST`) and
    /// an OpenAI-compatible server at `defaultOpenAIBaseURL`.
    /// - Parameters:
    ///   - provider: `ollama` or `openai` (any case; surrounding spaces ignored).
    ///   - ollamaHost: `OLLAMA_HOST`'s forms (`host:port`, `:port`, a URL); nil is loopback:11434.
    ///   - baseURL: an http(s) URL; empty counts as absent.
    /// - Throws: `LLMError(.invalidConfiguration)` for another provider or a base URL that is
    ///   not an http(s) URL with a host.
    public init(provider providerName: String, ollamaHost: String?, baseURL: String?, apiKey: String?,
                openAIStreamsToolCalls: Bool = true, policy: HTTPPolicy = .default) throws {
        let name = providerName.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard let provider = Provider(rawValue: name.isEmpty ? "ollama" : name) else {
            throw LLMError(.invalidConfiguration, "the provider is '\(providerName)'; use 'ollama' or 'openai' (XLCHAT_PROVIDER, --provider).")
        }
        let key = apiKey.flatMap { $0.isEmpty ? nil : $0 }
        if let base = baseURL?.trimmingCharacters(in: .whitespacesAndNewlines), !base.isEmpty {
            guard let url = URL(string: base), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  url.host != nil else {
                throw LLMError(.invalidConfiguration,
                               "the base URL '\(base)' is not an http(s) URL such as http://127.0.0.1:8080/v1 (XLCHAT_BASE_URL, --base-url).")
            }
            self.init(provider: provider, baseURL: url, apiKey: key, policy: policy)
        } else {
            switch provider {
            case .ollama: self.init(provider: .ollama, baseURL: OllamaHost.parse(ollamaHost), apiKey: key, policy: policy)
            case .openai: self.init(provider: .openai, baseURL: Self.defaultOpenAIBaseURL, apiKey: key, policy: policy)
            }
        }
        self.openAIStreamsToolCalls = openAIStreamsToolCalls
    }

    /// The client this configuration describes.
    public func makeClient() -> any ModelClient {
        switch provider {
        case .ollama: return OllamaClient(baseURL: baseURL, apiKey: apiKey, policy: policy)
        case .openai: return OpenAIClient(baseURL: baseURL, apiKey: apiKey, policy: policy, streamsToolCalls: openAIStreamsToolCalls)
        }
    }
}

/// `OLLAMA_HOST`, read the way Ollama's own client reads it (envconfig.Host): surrounding
/// quotes and spaces trimmed; `host`, `host:port`, `:port`, `[v6]:port`,
/// `scheme://host:port/path`; default scheme http, default port 11434 (80/443 when the scheme
/// is given as http/https); an unusable port falls back to the default. A client cannot
/// connect to a wildcard address, so `0.0.0.0`, `::` and an empty host mean loopback.
public enum OllamaHost {
    public static let defaultURL = URL(string: "http://127.0.0.1:11434")!

    public static func parse(_ raw: String?) -> URL {
        let trimmed = (raw ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            .trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        var scheme = "http"
        var defaultPort = 11434
        var hostport = Substring(trimmed)
        if let r = trimmed.range(of: "://") {
            scheme = trimmed[..<r.lowerBound].lowercased()
            hostport = trimmed[r.upperBound...]
            if scheme == "http" { defaultPort = 80 } else if scheme == "https" { defaultPort = 443 }
        }
        var path = ""
        if let slash = hostport.firstIndex(of: "/") {
            path = String(hostport[slash...])
            hostport = hostport[..<slash]
        }
        var host: String
        var port = defaultPort
        if let (h, p) = splitHostPort(String(hostport)) {
            host = h
            if let n = Int(p), (0...65535).contains(n) { port = n }
        } else {
            let bare = hostport.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            host = bare.isEmpty ? "127.0.0.1" : bare
        }
        if host.isEmpty || host == "0.0.0.0" { host = "127.0.0.1" }
        if host == "::" { host = "::1" }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        if path == "/" { path = "" }
        return URL(string: "\(scheme)://\(hostPart):\(port)\(path)") ?? defaultURL
    }

    /// Go's net.SplitHostPort: "host:port", "[v6]:port", ":port"; nil when there is no port
    /// or the form is ambiguous (a bare IPv6 address).
    private static func splitHostPort(_ s: String) -> (String, String)? {
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            let after = s[s.index(after: close)...]
            guard after.hasPrefix(":") else { return nil }
            return (String(s[s.index(after: s.startIndex)..<close]), String(after.dropFirst()))
        }
        guard let colon = s.lastIndex(of: ":") else { return nil }
        let host = s[..<colon]
        if host.contains(":") { return nil }  // "::1" without brackets: too many colons
        return (String(host), String(s[s.index(after: colon)...]))
    }
}

/// What `server/health` reports about the model server.
public struct ModelServerStatus: Sendable, Hashable {
    public var endpoint: String
    public var reachable: Bool
    public var version: String?
    /// Per requested model name: whether the server has it (nil when unreachable).
    public var models: [String: Bool]
    /// Why it is not usable, when it is not (unreachable, or a model missing).
    public var problem: LLMError?
}

extension ModelClient {
    /// Reachability, version and whether each of `models` is available, in two requests.
    /// Never throws: failures land in `problem`. (Refused connections are retried per the
    /// client's `HTTPPolicy`; give a health check a client with `maxAttempts: 1`.)
    public func status(models wanted: [String]) async -> ModelServerStatus {
        var status = ModelServerStatus(endpoint: endpointDescription, reachable: false, version: nil, models: [:], problem: nil)
        do {
            status.version = try await version()
            status.reachable = true
            let have = try await models()
            for name in wanted { status.models[name] = have.contains { $0.matches(name) } }
            if let missing = wanted.first(where: { status.models[$0] == false }) {
                status.problem = LLMError(.modelNotFound, self is OllamaClient
                    ? "The model '\(missing)' is not available on \(endpointDescription). Run `ollama pull \(missing)`."
                    : "The model '\(missing)' is not available on \(endpointDescription).")
            }
        } catch let e as LLMError {
            status.problem = e
        } catch {
            status.problem = LLMError(.badResponse, "\(endpointDescription): \(error)")
        }
        return status
    }
}
