/// A JSON-RPC error object. Every failure reaches the wire as one of these, built in one
/// place in the server (`ErrorMapping`).
public struct ResponseError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code; self.message = message; self.data = data
    }

    public var description: String { "error \(code): \(message)" }

    // JSON-RPC 2.0 and LSP codes.
    public static let parseErrorCode = -32700
    public static let invalidRequestCode = -32600
    public static let methodNotFoundCode = -32601
    public static let invalidParamsCode = -32602
    public static let internalErrorCode = -32603
    public static let serverNotInitializedCode = -32002
    public static let requestCancelledCode = -32800
    /// The work itself failed; `data.kind` says how (see `ErrorKind`).
    public static let workFailedCode = -32001

    public static func parseError(_ message: String) -> ResponseError { .init(code: parseErrorCode, message: message) }
    public static func invalidRequest(_ message: String) -> ResponseError { .init(code: invalidRequestCode, message: message) }
    public static func methodNotFound(_ method: String) -> ResponseError {
        .init(code: methodNotFoundCode, message: "method not found: \(method)")
    }
    public static func invalidParams(_ message: String) -> ResponseError { .init(code: invalidParamsCode, message: message) }
    public static func internalError(_ message: String) -> ResponseError { .init(code: internalErrorCode, message: message) }
    public static let serverNotInitialized = ResponseError(
        code: serverNotInitializedCode, message: "server not initialized: send 'initialize' first")
    public static let cancelled = ResponseError(code: requestCancelledCode, message: "request cancelled")

    /// A failure of the work, with its kind and any extra fields.
    public static func work(_ kind: ErrorKind, _ message: String, extra: [String: JSONValue] = [:]) -> ResponseError {
        var data = extra
        data["kind"] = .string(kind.rawValue)
        return .init(code: workFailedCode, message: message, data: .object(data))
    }

    public var kind: ErrorKind? { data?["kind"]?.stringValue.flatMap(ErrorKind.init(rawValue:)) }
}

/// `data.kind` of a -32001 error.
public enum ErrorKind: String, Sendable, Hashable, Codable, CaseIterable {
    case fileNotFound, unsupportedFormat, corruptWorkbook, encryptedWorkbook, tooLarge
    case unknownWorkbook, unknownSheet, invalidRange, invalidQuery, indexNotBuilt
    case llmUnavailable, modelNotFound
    /// The socket server wants a token (`--token-file`) and the connection did not present it.
    case unauthorized
    /// The file changed while it was read (twice); open it again once it is saved.
    case fileChanged
    /// The disk (or the index size limit) filled during an index build; the previous index stays.
    case storageFull
    /// The shared store (PostgreSQL, `--store`) refused the role: wrong password or missing rights.
    case storeDenied
    /// The shared store cannot be reached, or its database is not set up (`xlchat store init`).
    case storeUnavailable
}
