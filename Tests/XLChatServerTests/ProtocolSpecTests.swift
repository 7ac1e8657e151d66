import Foundation
import Testing
import XLChatLLM
import XLChatProtocol
import XLChatServer
import XLChatTestSupport
@testable import JSONRPC

/// protocol/ is the authoritative spec: these tests fail when it and the server differ.
@Suite(.timeLimit(.minutes(2))) struct ProtocolSpecTests {
    static let protocolDir = BuiltBinary.packageRoot().appendingPathComponent("protocol")

    func spec() throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: Self.protocolDir.appendingPathComponent("openrpc.json")))
    }

    func names(_ list: JSONValue?) -> [String] {
        guard case let .array(items)? = list else { return [] }
        return items.compactMap { $0["name"]?.stringValue }
    }

    @Test func specMethodsAreExactlyTheServersMethods() throws {
        let spec = try spec()
        #expect(spec["openrpc"]?.stringValue?.hasPrefix("1.3") == true)
        let specMethods = names(spec["methods"])
        #expect(Set(specMethods) == Set(XLChatServer.requestMethods),
                "in spec only: \(Set(specMethods).subtracting(XLChatServer.requestMethods)); in server only: \(Set(XLChatServer.requestMethods).subtracting(specMethods))")
        #expect(specMethods.count == Set(specMethods).count, "a method is listed twice")
        #expect(Set(names(spec["x-notifications"]?["clientToServer"])) == Set(XLChatServer.clientNotifications))
        #expect(Set(names(spec["x-notifications"]?["serverToClient"])) == Set(XLChatServer.serverNotifications))
    }

    /// Every method the server lists is dispatched (not -32601), and only those.
    @Test func everyListedMethodIsAnswered() async throws {
        let client = TestClient.inProcess()
        try await client.initialize()
        for method in XLChatServer.requestMethods where method != "initialize" && method != "shutdown" {
            let r = try await client.request(method: method, params: [:])
            #expect(r["error"]?["code"] != .int(-32601), "\(method) is listed but not dispatched")
        }
        let unknown = try await client.request(method: "workbook/unlisted")
        #expect(unknown["error"]?["code"] == .int(-32601))
    }

    @Test func everyErrorKindIsInTheSpec() throws {
        let spec = try spec()
        guard case let .array(kinds)? = spec["components"]?["schemas"]?["ErrorData"]?["properties"]?["kind"]?["enum"] else {
            Issue.record("ErrorData.kind enum missing"); return
        }
        #expect(Set(kinds.compactMap(\.stringValue)) == Set(ErrorKind.allCases.map(\.rawValue)))
    }

    static func transcripts() -> [String] {
        let dir = protocolDir.appendingPathComponent("transcripts")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
    }

    @Test(arguments: transcripts())
    func transcriptReplays(name: String) async throws {
        let url = Self.protocolDir.appendingPathComponent("transcripts").appendingPathComponent(name)
        let text = try String(contentsOf: url, encoding: .utf8)
        // A transcript may start with {"model": [reply, ...]}: a scripted model server (Ollama
        // API, model "test-chat") plays them, each {"text": [chunks]} or {"sql": "SELECT ..."}.
        var configuration = TestClient.temporaryConfiguration()
        var modelServer: ScriptedModelServer? = nil
        if let firstLine = text.split(separator: "\n").first,
           case let .array(replies)? = try JSONDecoder().decode(JSONValue.self, from: Data(firstLine.utf8))["model"] {
            let server = ScriptedModelServer(models: ["test-chat:latest"])
            for r in replies {
                if case let .array(chunks)? = r["text"] {
                    server.enqueue(.text(chunks.compactMap(\.stringValue)))
                } else if let sql = r["sql"]?.stringValue {
                    server.enqueue(.stream([.toolCalls([ScriptedToolCall(name: "sql", argumentsText: LLMJSON.object(["query": .string(sql)]).jsonText)])]))
                }
            }
            try await server.start()
            configuration.ollamaHost = server.hostAndPort
            configuration.model = "test-chat"
            modelServer = server
        }
        defer { if let modelServer { Task { await modelServer.shutdown() } } }
        let client = TestClient.inProcess(configuration: configuration)
        // `"$set:NAME"` in a reply pattern matches anything and remembers it; `"$get:NAME"` in a
        // later request stands for it (ids derived from a file's absolute path, for example).
        var captured: [String: JSONValue] = [:]
        for (n, line) in text.split(separator: "\n").enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let step = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
            if step["model"] != nil { continue }
            // {"files": {"relative/path": "text", ...}}: written into a new folder, whose path
            // later requests name as "$get:folder" (workspace transcripts).
            if case let .object(files)? = step["files"] {
                let folder = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-transcript-\(UUID().uuidString)")
                for (rel, text) in files {
                    let url = folder.appendingPathComponent(rel)
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try Data((text.stringValue ?? "").utf8).write(to: url)
                }
                captured["folder"] = .string(folder.path)
                continue
            }
            if let message = step["->"] {
                let resolved = Self.substitute(message, captured)
                try await client.sendRaw(client.framing.frame(Array(try JSONEncoder().encode(resolved))))
            } else if let raw = step["->raw"]?.stringValue {
                try await client.sendRaw(client.framing.frame(Array(raw.utf8)))
            } else if let raw = step["<-"] {
                let pattern = Self.substitute(raw, captured)
                let got = try await client.nextRawMessage()
                var problems: [String] = []
                Self.capture(pattern, got, into: &captured)
                Self.match(pattern, got, path: "$", problems: &problems)
                #expect(problems.isEmpty, "\(name):\(n + 1): \(problems.joined(separator: "; "))\n got: \(got)")
            } else {
                Issue.record("\(name):\(n + 1): a step is ->, ->raw or <-")
            }
        }
        await client.close()
    }

    static func capture(_ pattern: JSONValue, _ value: JSONValue, into captured: inout [String: JSONValue]) {
        switch (pattern, value) {
        case let (.string(s), v) where s.hasPrefix("$set:"): captured[String(s.dropFirst(5))] = v
        case let (.object(p), .object(v)): for (k, pv) in p { if let vv = v[k] { capture(pv, vv, into: &captured) } }
        case let (.array(p), .array(v)): for (pv, vv) in zip(p, v) { capture(pv, vv, into: &captured) }
        default: break
        }
    }

    static func substitute(_ message: JSONValue, _ captured: [String: JSONValue]) -> JSONValue {
        switch message {
        case let .string(s) where s.hasPrefix("$get:"): return captured[String(s.dropFirst(5))] ?? message
        // `"$package/REL"`: a path inside this package (the workspace transcript's folder).
        case let .string(s) where s.hasPrefix("$package/"): return .string(BuiltBinary.packageRoot().appendingPathComponent(String(s.dropFirst(9))).path)
        case let .object(o): return .object(o.mapValues { substitute($0, captured) })
        case let .array(a): return .array(a.map { substitute($0, captured) })
        default: return message
        }
    }

    static func match(_ pattern: JSONValue, _ value: JSONValue, path: String, problems: inout [String]) {
        if pattern == "$any" { return }
        if case .string(let s) = pattern, s.hasPrefix("$set:") { return }
        switch (pattern, value) {
        case let (.object(p), .object(v)):
            let open = p["..."] == "$more"
            for (k, pv) in p where k != "..." {
                guard let vv = v[k] else { problems.append("\(path).\(k) missing"); continue }
                match(pv, vv, path: "\(path).\(k)", problems: &problems)
            }
            if !open {
                for k in v.keys where p[k] == nil { problems.append("\(path).\(k) not expected") }
            }
        case let (.array(p), .array(v)):
            guard p.count == v.count else { problems.append("\(path): \(v.count) items, expected \(p.count)"); return }
            for (i, (pv, vv)) in zip(p, v).enumerated() { match(pv, vv, path: "\(path)[\(i)]", problems: &problems) }
        case let (.int(a), .double(b)) where Double(a) == b: return
        case let (.double(a), .int(b)) where a == Double(b): return
        default:
            if pattern != value { problems.append("\(path): \(value), expected \(pattern)") }
        }
    }
}
