/// A request the client sends; `Response` is what its result decodes to.
public protocol RequestType: Codable, Sendable {
    associatedtype Response: Codable & Sendable
    static var method: String { get }
}

/// A notification, in either direction.
public protocol NotificationType: Codable, Sendable {
    static var method: String { get }
}

/// The result of requests that answer `null` (`shutdown`, `workbook/close`).
public struct VoidResponse: Codable, Sendable, Hashable {
    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encodeNil()
    }
}

/// The token a client passes as `workDoneToken` to receive `$/progress`.
public typealias ProgressToken = RequestID
