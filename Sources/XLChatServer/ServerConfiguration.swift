import Foundation
import XLChatPostgres

public enum XLChatVersion {
    /// The release version (semantic versioning); also `serverInfo.version` on the wire.
    public static let current = "0.1.0"
    /// The git commit this binary was built from (12 hex digits, `+dirty` when the work tree had
    /// uncommitted changes), embedded by `scripts/release.sh`; nil for a plain `swift build`.
    public static let commit: String? = XLChatBuildInfo.commit
    /// What `xlchat --version` prints: `0.1.0 (commit 1a2b3c4d5e6f)` for a release build,
    /// `0.1.0 (development build: no commit embedded)` for a plain `swift build`.
    public static var long: String {
        "\(current) (\(commit.map { "commit \($0)" } ?? "development build: no commit embedded"))"
    }
    /// The wire protocol's version (protocol/README.md); bumped on incompatible changes.
    public static let protocolVersion = "1.0"
}

/// Everything the server is configured with. Each field has an environment variable and a
/// flag of `xlchat serve`; flags win.
public struct ServerConfiguration: Sendable, Hashable {
    /// Where indexes, sessions and caches live (`XLCHAT_DATA_DIR`; default `$XDG_CACHE_HOME/xlchat`).
    public var dataDirectory: String
    /// `ollama` or `openai` (`XLCHAT_PROVIDER`).
    public var provider: String
    /// Ollama's address as `OLLAMA_HOST` gives it (`host:port` or a URL; default `127.0.0.1:11434`).
    public var ollamaHost: String
    /// The OpenAI-compatible server's base URL (`XLCHAT_BASE_URL`), for `provider == "openai"`.
    public var baseURL: String?
    /// `XLCHAT_API_KEY`, for OpenAI-compatible servers that want one.
    public var apiKey: String?
    /// The chat model (`XLCHAT_MODEL`).
    public var model: String
    /// The embedding model (`XLCHAT_EMBED_MODEL`); empty uses the built-in embedder.
    public var embedModel: String
    /// The time budget of one `workbook/query` (`XLCHAT_QUERY_TIMEOUT_MS`).
    public var queryTimeoutMs: Int
    /// The most a client's `timeoutMs` may ask for (`XLCHAT_MAX_QUERY_TIMEOUT_MS`, default 30 s);
    /// a larger value is cut to this, so no request can hold an engine thread for long.
    public var maxQueryTimeoutMs = 30_000
    /// When set (`xlchat serve --token-file`), `initialize` must carry this `authToken`;
    /// until it does, every request gets -32001 `unauthorized`.
    public var authToken: String? = nil
    /// The chat model's context window in tokens (`XLCHAT_CONTEXT`), overriding what the model
    /// server reports; nil asks the server (and falls back to 4,096).
    public var contextTokens: Int?
    /// OpenAI-compatible servers: whether requests with tools stream
    /// (`XLCHAT_OPENAI_STREAM_TOOLS=0` turns it off, for llama-cpp-python).
    public var openAIStreamsToolCalls = true
    /// Where the typed tables live (`XLCHAT_STORE`, `--store`): nil or `sqlite` for the embedded
    /// SQLite index under `dataDirectory`; a libpq-style `postgres://user:password@host:port/db`
    /// for a PostgreSQL store shared by a team (issue 15).
    public var store: String? = nil
    /// The `PG*` variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`,
    /// `PGSSLMODE`) as read here, filling what the store's connection string leaves out.
    public var postgresEnvironment: [String: String] = [:]

    public init(dataDirectory: String, provider: String = "ollama", ollamaHost: String = "127.0.0.1:11434",
                baseURL: String? = nil, apiKey: String? = nil, model: String = ServerConfiguration.defaultModel,
                embedModel: String = "", queryTimeoutMs: Int = 3000, contextTokens: Int? = nil) {
        self.dataDirectory = dataDirectory; self.provider = provider; self.ollamaHost = ollamaHost
        self.baseURL = baseURL; self.apiKey = apiKey; self.model = model; self.embedModel = embedModel
        self.queryTimeoutMs = queryTimeoutMs; self.contextTokens = contextTokens
    }

    public static let defaultModel = "qwen2.5:3b"

    public static func defaultDataDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let d = environment["XLCHAT_DATA_DIR"], !d.isEmpty { return d }
        if let x = environment["XDG_CACHE_HOME"], !x.isEmpty { return x + "/xlchat" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.cache/xlchat"
    }

    /// The settings from the environment: the one place xlchat reads its `XLCHAT_*` variables
    /// and `OLLAMA_HOST` (the command line's flags are applied over the result).
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> ServerConfiguration {
        func value(_ key: String) -> String? {
            env[key].flatMap { v in v.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : v }
        }
        var config = ServerConfiguration(
            dataDirectory: defaultDataDirectory(environment: env),
            provider: value("XLCHAT_PROVIDER") ?? "ollama",
            ollamaHost: value("OLLAMA_HOST") ?? "127.0.0.1:11434",
            baseURL: value("XLCHAT_BASE_URL"),
            apiKey: value("XLCHAT_API_KEY"),
            model: value("XLCHAT_MODEL") ?? defaultModel,
            embedModel: value("XLCHAT_EMBED_MODEL") ?? "",
            queryTimeoutMs: value("XLCHAT_QUERY_TIMEOUT_MS").flatMap(Int.init) ?? 3000,
            contextTokens: value("XLCHAT_CONTEXT").flatMap { Int($0.replacingOccurrences(of: "_", with: "")) })
        if let max = value("XLCHAT_MAX_QUERY_TIMEOUT_MS").flatMap(Int.init), max > 0 { config.maxQueryTimeoutMs = max }
        config.store = value("XLCHAT_STORE")
        for key in ["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE", "USER"] {
            if let v = value(key) { config.postgresEnvironment[key] = v }
        }
        if let flag = value("XLCHAT_OPENAI_STREAM_TOOLS")?.trimmingCharacters(in: .whitespaces).lowercased() {
            config.openAIStreamsToolCalls = !["0", "false", "no", "off"].contains(flag)
        }
        return config
    }
}

extension ServerConfiguration {
    /// Whether `store` names PostgreSQL (else the embedded SQLite index).
    public var usesPostgresStore: Bool {
        guard let s = store?.lowercased() else { return false }
        return s.hasPrefix("postgres://") || s.hasPrefix("postgresql://")
    }

    /// The connection settings of the PostgreSQL store (nil for SQLite). Throws
    /// `IndexError.storeUnavailable` for a `store` that is neither `sqlite` nor a postgres URI.
    public func postgresSettings() throws -> PostgresSettings? {
        guard let store, !store.isEmpty, store.lowercased() != "sqlite" else { return nil }
        return try PostgresSettings(url: store, environment: postgresEnvironment)
    }
}
