import Foundation

/// A small JSON value: tool parameter schemas, tool-call arguments, and the pieces of provider
/// replies this module reads. Named apart from the wire module's `JSONValue` so the server can
/// import both without ambiguity.
public enum LLMJSON: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([LLMJSON])
    case object([String: LLMJSON])

    /// Parses JSON text. Returns nil for anything that is not valid JSON (never traps).
    public static func parse(_ text: String) -> LLMJSON? {
        parse(Data(text.utf8))
    }

    public static func parse(_ data: Data) -> LLMJSON? {
        try? JSONDecoder().decode(LLMJSON.self, from: data)
    }

    /// Compact JSON text with sorted keys (stable, so requests and tests are reproducible).
    public var jsonText: String { String(decoding: jsonData, as: UTF8.self) }

    var jsonData: Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? e.encode(self)) ?? Data("null".utf8)
    }

    public subscript(key: String) -> LLMJSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var doubleValue: Double? { if case .number(let n) = self { return n }; return nil }
    public var intValue: Int? {
        if case .number(let n) = self, n.isFinite, n.rounded() == n, abs(n) < 9.0e15 { return Int(n) }
        return nil
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [LLMJSON]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: [String: LLMJSON]? { if case .object(let o) = self { return o }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
}

extension LLMJSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: LLMJSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, LLMJSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

extension LLMJSON: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([LLMJSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: LLMJSON].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension LLMJSON: CustomStringConvertible {
    public var description: String { jsonText }
}
