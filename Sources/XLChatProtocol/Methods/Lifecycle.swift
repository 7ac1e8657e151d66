public struct ClientInfo: Codable, Sendable, Hashable {
    public var name: String
    public var version: String?
    public init(name: String, version: String? = nil) { self.name = name; self.version = version }
}

public struct InitializeRequest: RequestType, Hashable {
    public static let method = "initialize"
    public typealias Response = InitializeResult
    public var processId: Int?
    public var clientInfo: ClientInfo?
    public var rootPath: String?
    /// Free-form client capabilities; none are required today.
    public var capabilities: JSONValue?
    /// The shared secret of a server started with `--token-file` (protocol/README.md, "Threat model").
    public var authToken: String?
    public init(processId: Int? = nil, clientInfo: ClientInfo? = nil, rootPath: String? = nil, capabilities: JSONValue? = nil,
                authToken: String? = nil) {
        self.processId = processId; self.clientInfo = clientInfo; self.rootPath = rootPath; self.capabilities = capabilities
        self.authToken = authToken
    }
}

public struct ServerInfo: Codable, Sendable, Hashable {
    public var name: String
    public var version: String
    public init(name: String, version: String) { self.name = name; self.version = version }
}

/// What the server can do, so clients need not guess from the version.
public struct ServerCapabilities: Codable, Sendable, Hashable {
    /// Every request method this server answers.
    public var methods: [String]
    /// Notifications the server may send.
    public var notifications: [String]
    /// Workbook formats `workbook/open` reads.
    public var formats: [String]
    public var progress: Bool
    public var cancellation: Bool
    public init(methods: [String], notifications: [String], formats: [String], progress: Bool = true, cancellation: Bool = true) {
        self.methods = methods; self.notifications = notifications; self.formats = formats
        self.progress = progress; self.cancellation = cancellation
    }
}

public struct InitializeResult: Codable, Sendable, Hashable {
    public var serverInfo: ServerInfo
    public var protocolVersion: String
    public var capabilities: ServerCapabilities
    public init(serverInfo: ServerInfo, protocolVersion: String, capabilities: ServerCapabilities) {
        self.serverInfo = serverInfo; self.protocolVersion = protocolVersion; self.capabilities = capabilities
    }
}

public struct InitializedNotification: NotificationType, Hashable {
    public static let method = "initialized"
    public init() {}
}

public struct ShutdownRequest: RequestType, Hashable {
    public static let method = "shutdown"
    public typealias Response = VoidResponse
    public init() {}
}

public struct ExitNotification: NotificationType, Hashable {
    public static let method = "exit"
    public init() {}
}

public struct CancelRequestNotification: NotificationType, Hashable {
    public static let method = "$/cancelRequest"
    public var id: RequestID
    public init(id: RequestID) { self.id = id }
}

public struct WorkDoneProgress: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable { case begin, report, end }
    public var kind: Kind
    public var title: String?
    public var message: String?
    public var percentage: Int?
    public var cancellable: Bool?
    public init(kind: Kind, title: String? = nil, message: String? = nil, percentage: Int? = nil, cancellable: Bool? = nil) {
        self.kind = kind; self.title = title; self.message = message; self.percentage = percentage; self.cancellable = cancellable
    }
}

public struct ProgressNotification: NotificationType, Hashable {
    public static let method = "$/progress"
    public var token: ProgressToken
    public var value: WorkDoneProgress
    public init(token: ProgressToken, value: WorkDoneProgress) { self.token = token; self.value = value }
}
