import ArgumentParser
import Foundation
import Logging
import XLChatServer

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Settings shared by every subcommand that reaches the engines; each falls back to its
/// environment variable, then to the default.
struct EngineOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Where indexes and sessions live (XLCHAT_DATA_DIR; default $XDG_CACHE_HOME/xlchat).")
    var dataDir: String?

    @Option(help: "Model server kind: ollama or openai (XLCHAT_PROVIDER).")
    var provider: String?

    @Option(name: .customLong("ollama-host"), help: "Ollama's address, host:port or URL (OLLAMA_HOST; default 127.0.0.1:11434).")
    var ollamaHost: String?

    @Option(name: .customLong("base-url"), help: "Base URL of an OpenAI-compatible server (XLCHAT_BASE_URL).")
    var baseURL: String?

    @Option(help: "Chat model (XLCHAT_MODEL).")
    var model: String?

    @Option(name: .customLong("embed-model"), help: "Embedding model; empty uses the built-in embedder (XLCHAT_EMBED_MODEL).")
    var embedModel: String?

    @Option(help: "Where the typed tables live: sqlite (default) or a PostgreSQL store shared by a team, postgres://user:password@host:port/database; PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE fill what it leaves out (XLCHAT_STORE).")
    var store: String?

    @Option(help: "The chat model's context window in tokens, overriding what the server reports (XLCHAT_CONTEXT; default: ask the server, else 4096).")
    var context: Int?

    func validate() throws {
        if let provider, !["ollama", "openai"].contains(provider) {
            throw ValidationError("--provider must be 'ollama' or 'openai', not '\(provider)'")
        }
        if provider == "openai" && baseURL == nil && ProcessInfo.processInfo.environment["XLCHAT_BASE_URL"] == nil {
            throw ValidationError("--provider openai needs --base-url (or XLCHAT_BASE_URL)")
        }
    }

    func configuration() -> ServerConfiguration {
        var c = ServerConfiguration.fromEnvironment()
        if let dataDir { c.dataDirectory = dataDir }
        if let provider { c.provider = provider }
        if let ollamaHost { c.ollamaHost = ollamaHost }
        if let baseURL { c.baseURL = baseURL }
        if let model { c.model = model }
        if let embedModel { c.embedModel = embedModel }
        if let context { c.contextTokens = context }
        if let store { c.store = store }
        return c
    }
}

enum Logs {
    /// Logs go to stderr only: stdout carries protocol frames or command output.
    static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
