import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A model's context window (prompt + reply, in the model's tokens) and where the figure came
/// from, so the user can be told.
public struct ContextWindow: Sendable, Hashable, CustomStringConvertible {
    public enum Source: String, Sendable, Hashable {
        /// `--context` / `XLCHAT_CONTEXT`.
        case setting
        /// The server said (Ollama `/api/show`, llama.cpp `/props`, `/v1/models`).
        case server
        /// Parsed from a context-length error the server gave earlier in this process.
        case learned
        /// Nothing said: `ContextWindow.defaultTokens`.
        case fallback
    }

    public var tokens: Int
    public var source: Source
    /// What was read, e.g. "Ollama /api/show llama.context_length = 8192".
    public var detail: String

    public init(tokens: Int, source: Source, detail: String) {
        self.tokens = tokens; self.source = source; self.detail = detail
    }

    /// The window assumed when nothing says otherwise: 4,096 tokens, the default of llama.cpp's
    /// server, LM Studio and Ollama before 0.6 (the smallest common one, so a prompt fitted
    /// to it fits everywhere).
    public static let defaultTokens = 4096

    /// Figures outside this range (0, 1e9: broken metadata) are ignored.
    public static let plausibleTokens = 256...16_777_216

    public static func fallback(_ why: String) -> ContextWindow {
        ContextWindow(tokens: defaultTokens, source: .fallback, detail: "\(why); assuming \(defaultTokens) tokens")
    }

    public var description: String { "\(tokens) tokens (\(source.rawValue): \(detail))" }

    /// The first plausible whole number among `values`.
    static func plausible(_ values: [LLMJSON?]) -> Int? {
        for v in values {
            guard let d = v?.doubleValue ?? v?.stringValue.flatMap(Double.init), d.isFinite, d == d.rounded() else { continue }
            if d >= Double(plausibleTokens.lowerBound) && d <= Double(plausibleTokens.upperBound) { return Int(d) }
        }
        return nil
    }
}

/// Context windows learned from servers' context-length errors, per server and model, for the
/// life of the process (a server's window does not change while it runs).
public enum LearnedContext {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var learned: [String: Int] = [:]

    static func key(_ endpoint: String, _ model: String) -> String { endpoint + "\u{1}" + model }

    public static func get(endpoint: String, model: String) -> Int? {
        lock.withLock { learned[key(endpoint, model)] }
    }

    public static func set(_ tokens: Int, endpoint: String, model: String) {
        lock.withLock { learned[key(endpoint, model)] = tokens }
    }

    /// Tests: forget everything learned.
    public static func reset() { lock.withLock { learned = [:] } }
}

/// Recognises a server's "the prompt does not fit the context" error and the window size it
/// names. Wordings (measured or documented):
/// - OpenAI, vLLM: "This model's maximum context length is 4096 tokens. However, you requested
///   4608 tokens ..." (`code: context_length_exceeded`);
/// - llama.cpp server: `{"type": "exceed_context_size_error", "n_ctx": 4096, "n_prompt_tokens": ...,
///   "message": "the request exceeds the available context size, try increasing it"}`;
/// - llama-cpp-python: "Requested tokens (4608) exceed context window of 4096";
/// - LM Studio: "... the model is loaded with context length of only 4096 tokens ...";
/// - Ollama (when it refuses instead of truncating): "... exceeds context length (4096) ...".
public enum ContextErrorParser {
    static let markers = ["context_length_exceeded", "exceed_context_size", "maximum context length", "context window",
                          "context length", "context size", "n_ctx", "too many tokens", "prompt is too long",
                          "exceeds the available context", "input is too large"]

    /// Whether `text` (an error message or body) is a context-length error.
    public static func isContextError(_ text: String) -> Bool {
        let lower = text.lowercased()
        return markers.contains { lower.contains($0) }
            && (lower.contains("exceed") || lower.contains("maximum") || lower.contains("too long") || lower.contains("too large")
                || lower.contains("too many") || lower.contains("only"))
    }

    /// The window size the error names, when it names a plausible one.
    public static func windowTokens(in body: String) -> Int? {
        if let json = LLMJSON.parse(body) {
            let err = json["error"] ?? json
            if let n = ContextWindow.plausible([err["n_ctx"], err["context_length"], err["max_context_length"]]) { return n }
        }
        let lower = body.lowercased()
        let patterns = [
            "maximum context length is ", "context window of ", "context length of only ", "context length of ",
            "context size of ", "context length (", "context size (", "context window (", "n_ctx = ", "n_ctx: ", "n_ctx=",
            "\"n_ctx\":", "context length is ",
        ]
        for p in patterns {
            var search = lower.startIndex..<lower.endIndex
            while let r = lower.range(of: p, range: search) {
                let digits = lower[r.upperBound...].prefix { $0.isNumber || $0 == "," }
                let n = Int(digits.replacingOccurrences(of: ",", with: ""))
                if let n, ContextWindow.plausibleTokens.contains(n) { return n }
                search = r.upperBound..<lower.endIndex
            }
        }
        return nil
    }

    /// The `LLMError` for a context-length error body, or nil when it is not one.
    static func error(status: Int?, body: String, endpoint: Endpoint, model: String?) -> LLMError? {
        guard isContextError(body) else { return nil }
        var e = LLMError(.contextExceeded,
                         "The prompt did not fit the context window of \(model.map { "'\($0)'" } ?? "the model") on \(endpoint.description)"
                         + (windowTokens(in: body).map { " (\($0) tokens)" } ?? "") + ".",
                         httpStatus: status)
        e.contextTokens = windowTokens(in: body)
        return e
    }
}

extension Endpoint {
    /// The same endpoint with short timeouts and no retries, for metadata calls that must never
    /// hold up a question (`/api/show`, `/props`, `/tokenize`).
    var quick: Endpoint {
        var e = self
        e.policy = HTTPPolicy(firstByteTimeout: 5, stallTimeout: 5, maxAttempts: 1, initialBackoff: 0.1,
                              embedBatchSize: policy.embedBatchSize)
        return e
    }
}

/// Which tokenizer endpoint an OpenAI-compatible server has (learned once per server).
enum TokenizerRoute: Sendable { case llamaCpp, llamaCppPython, none }

final class TokenizerRoutes: @unchecked Sendable {
    static let shared = TokenizerRoutes()
    private let lock = NSLock()
    private var routes: [String: TokenizerRoute] = [:]
    func get(_ base: String) -> TokenizerRoute? { lock.withLock { routes[base] } }
    func set(_ base: String, _ r: TokenizerRoute) { lock.withLock { routes[base] = r } }
}
