/// `server/health`: is the server able to do its work, and if not, what is wrong.
public struct HealthRequest: RequestType, Hashable {
    public static let method = "server/health"
    public typealias Response = HealthResult
    public init() {}
}

public struct HealthResult: Codable, Sendable, Hashable {
    public enum Status: String, Codable, Sendable { case ok, degraded }
    public var status: Status
    /// Each check is `"ok"` or a short text saying what is wrong.
    public var checks: [String: String]
    /// Facts behind the checks (versions, addresses, models), for display.
    public var details: [String: String]?
    /// The model server (reachable, version, model pulled). Not part of `status`: the engine
    /// works without a model; `chat/ask` is what needs one.
    public var llm: LLMHealth?
    public init(status: Status, checks: [String: String], details: [String: String]? = nil, llm: LLMHealth? = nil) {
        self.status = status; self.checks = checks; self.details = details; self.llm = llm
    }
}

/// `server/metrics`: Prometheus text exposition of the server's counters and histograms.
public struct MetricsRequest: RequestType, Hashable {
    public static let method = "server/metrics"
    public typealias Response = MetricsResult
    public init() {}
}

public struct MetricsResult: Codable, Sendable, Hashable {
    /// `text/plain; version=0.0.4`
    public var contentType: String
    public var text: String
    public init(contentType: String, text: String) { self.contentType = contentType; self.text = text }
}

/// `server/ping`: answers `{}` at once; a liveness check and the benchmarks' trivial request.
public struct PingRequest: RequestType, Hashable {
    public static let method = "server/ping"
    public typealias Response = PingResult
    public init() {}
}

public struct PingResult: Codable, Sendable, Hashable {
    public init() {}
}
