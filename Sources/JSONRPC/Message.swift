import Foundation
import XLChatProtocol

/// A request as received: its params are decoded only when the handler asks for its type.
public struct IncomingRequest: Sendable {
    public var id: RequestID
    public var method: String
    public var params: JSONValue?

    public init(id: RequestID, method: String, params: JSONValue?) {
        self.id = id; self.method = method; self.params = params
    }

    /// Decodes the params as `T`; a mismatch is -32602 with a message naming the field.
    public func decodeParams<T: Decodable>(_ type: T.Type = T.self) throws(ResponseError) -> T {
        try JSONRPCCoding.decode(T.self, from: params ?? .object([:]))
    }
}

public struct IncomingNotification: Sendable {
    public var method: String
    public var params: JSONValue?
    public init(method: String, params: JSONValue?) { self.method = method; self.params = params }

    public func decodeParams<T: Decodable>(_ type: T.Type = T.self) throws(ResponseError) -> T {
        try JSONRPCCoding.decode(T.self, from: params ?? .object([:]))
    }
}

/// One parsed element of the incoming stream.
enum ParsedMessage: Sendable {
    case request(IncomingRequest)
    case notification(IncomingNotification)
    /// A response to a request of ours; the server sends none today, so it is ignored.
    case response
    /// Not a valid request object: answer this error (with the id when it could be read).
    case invalid(RequestID?, ResponseError)
}

public enum JSONRPCCoding {
    /// Parses one message body: a single message or a batch (`JSONParser`: linear time,
    /// nesting at most `JSONParser.maxDepth` deep).
    static func parse(_ body: [UInt8]) -> Result<JSONValue, ResponseError> {
        do {
            return .success(try JSONParser.parse(body))
        } catch {
            return .failure(.parseError("parse error: the message is not valid JSON (\(error))"))
        }
    }

    static func classify(_ value: JSONValue) -> ParsedMessage {
        guard case let .object(o) = value else {
            return .invalid(nil, .invalidRequest("invalid request: a message must be a JSON object, got \(value.typeName)"))
        }
        var id: RequestID? = nil
        var hasID = false
        if let rawID = o["id"] {
            hasID = true
            switch rawID {
            case let .int(i): id = .number(i)
            case let .string(s): id = .string(s)
            case let .double(d) where d == d.rounded() && abs(d) < 9e15: id = .number(Int64(d))
            default:
                return .invalid(nil, .invalidRequest("invalid request: 'id' must be a string or an integer, got \(rawID.typeName)"))
            }
        }
        guard o["jsonrpc"] == .string("2.0") else {
            return .invalid(id, .invalidRequest("invalid request: 'jsonrpc' must be \"2.0\""))
        }
        guard let methodValue = o["method"] else {
            if o["result"] != nil || o["error"] != nil { return .response }
            return .invalid(id, .invalidRequest("invalid request: missing 'method'"))
        }
        guard case let .string(method) = methodValue, !method.isEmpty else {
            return .invalid(id, .invalidRequest("invalid request: 'method' must be a non-empty string"))
        }
        let params = o["params"]
        if let params {
            switch params {
            case .object, .array, .null: break
            default:
                return .invalid(id, .invalidRequest("invalid request: 'params' must be an object or an array"))
            }
        }
        if hasID, let id {
            return .request(IncomingRequest(id: id, method: method, params: params == .null ? nil : params))
        }
        return .notification(IncomingNotification(method: method, params: params == .null ? nil : params))
    }

    /// Decodes `T` from a JSON value (walking the parsed tree: the text is not parsed again),
    /// naming the offending field on failure (-32602).
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws(ResponseError) -> T {
        do {
            return try JSONValueDecoder().decode(T.self, from: value)
        } catch let error as DecodingError {
            throw .invalidParams(describe(error))
        } catch {
            throw .invalidParams("invalid params: \(error)")
        }
    }

    static func path(_ codingPath: [any CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let i = key.intValue { out += "[\(i)]" } else { out += out.isEmpty ? key.stringValue : "." + key.stringValue }
        }
        return out.isEmpty ? "params" : out
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case let .typeMismatch(type, ctx):
            return "invalid params: '\(path(ctx.codingPath))' must be \(typeName(type))"
        case let .valueNotFound(type, ctx):
            return "invalid params: '\(path(ctx.codingPath))' must be \(typeName(type)), not null"
        case let .keyNotFound(key, ctx):
            return "invalid params: missing '\(path(ctx.codingPath + [key]))'"
        case let .dataCorrupted(ctx):
            return "invalid params: '\(path(ctx.codingPath))': \(ctx.debugDescription)"
        @unknown default:
            return "invalid params"
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "a boolean"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "of type \(name)"
        }
    }

    // MARK: encoding outgoing messages

    /// Compact output, `/` unescaped (paths and method names read as written).
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }

    static func encodeResponse(id: RequestID?, result: any Encodable) throws -> [UInt8] {
        let resultBytes = try JSONRPCCoding.encoder().encode(AnyEncodable(result))
        var out = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
        out += idBytes(id)
        out += Array(#","result":"#.utf8)
        out += resultBytes
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func encodeError(id: RequestID?, error: ResponseError) -> [UInt8] {
        let errorBytes = (try? JSONRPCCoding.encoder().encode(error)).map { Array($0) } ?? Array(#"{"code":-32603,"message":"internal error"}"#.utf8)
        var out = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
        out += idBytes(id)
        out += Array(#","error":"#.utf8)
        out += errorBytes
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func encodeNotification(method: String, params: any Encodable) throws -> [UInt8] {
        let paramsBytes = try JSONRPCCoding.encoder().encode(AnyEncodable(params))
        var out = Array(#"{"jsonrpc":"2.0","method":"#.utf8)
        out += try JSONRPCCoding.encoder().encode(method)
        out += Array(#","params":"#.utf8)
        out += paramsBytes
        out.append(UInt8(ascii: "}"))
        return out
    }

    private static func idBytes(_ id: RequestID?) -> [UInt8] {
        switch id {
        case nil: return Array("null".utf8)
        case let .number(i)?: return Array(String(i).utf8)
        case let .string(s)?: return Array((try? JSONRPCCoding.encoder().encode(s)) ?? Data("null".utf8))
        }
    }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
