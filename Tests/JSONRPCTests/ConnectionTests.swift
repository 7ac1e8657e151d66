import Foundation
import Logging
import Synchronization
import Testing
import XLChatProtocol
import XLChatTestSupport
@testable import JSONRPC

/// A handler with methods that exercise the connection: `echo`, `sleep` (cancellable),
/// `block` (waits for `release`), `fail`.
final class ProbeHandler: MessageHandler {
    let started = Atomic<Int>(0)
    let maxConcurrent = Atomic<Int>(0)
    let running = Atomic<Int>(0)
    let gate = Mutex<[CheckedContinuation<Void, Never>]>([])
    let gateOpen = Atomic<Bool>(false)

    func scheduling(of method: String) -> RequestScheduling { method == "exclusive" ? .exclusive : .concurrent }

    func handle(request: IncomingRequest, context: RequestContext) async throws -> any Encodable & Sendable {
        started.add(1, ordering: .relaxed)
        let now = running.add(1, ordering: .relaxed).newValue
        defer { running.subtract(1, ordering: .relaxed) }
        var m = maxConcurrent.load(ordering: .relaxed)
        while now > m {
            let (exchanged, original) = maxConcurrent.compareExchange(expected: m, desired: now, ordering: .relaxed)
            if exchanged { break }
            m = original
        }
        switch request.method {
        case "echo", "exclusive":
            return request.params ?? .null
        case "sleep":
            struct P: Decodable { var ms: Int }
            let p = try request.decodeParams(P.self)
            try await Task.sleep(for: .milliseconds(p.ms))
            return JSONValue.string("slept")
        case "block":
            if !gateOpen.load(ordering: .relaxed) {
                await withCheckedContinuation { c in gate.withLock { $0.append(c) } }
            }
            return JSONValue.string("released")
        case "fail":
            throw ResponseError.work(.invalidQuery, "no such table: t")
        default:
            throw ResponseError.methodNotFound(request.method)
        }
    }

    func release() {
        gateOpen.store(true, ordering: .relaxed)
        let waiters = gate.withLock { g -> [CheckedContinuation<Void, Never>] in defer { g.removeAll() }; return g }
        for w in waiters { w.resume() }
    }

    func handle(notification: IncomingNotification, connection: Connection) async {
        if notification.method == "exit" { connection.close() }
    }
    func responseError(for error: any Error, method: String) -> ResponseError {
        (error as? ResponseError) ?? .internalError("\(error)")
    }
    func connectionClosed(_ connection: Connection) async {}
}

func quietLogger() -> Logger {
    var l = Logger(label: "test")
    l.logLevel = .critical
    return l
}

/// A client wired in-process to a `Connection` running `handler`.
func connected(_ handler: ProbeHandler, options: Connection.Options = .init(), framing: Framing = .contentLength)
    -> (TestClient, Connection, Task<Void, Never>)
{
    let toServer = ByteChannel(), toClient = ByteChannel()
    let connection = Connection(source: toServer, sink: toClient, options: options, logger: quietLogger())
    let task = Task { await connection.run(handler: handler) }
    return (TestClient(source: toClient, sink: toServer, framing: framing), connection, task)
}

@Suite(.timeLimit(.minutes(2))) struct ConnectionTests {
    @Test func repliesMatchRequestsAndErrorsCarryData() async throws {
        let (client, _, _) = connected(ProbeHandler())
        let r = try await client.request(method: "echo", params: ["x": 1])
        #expect(r["result"] == ["x": 1])
        let f = try await client.request(method: "fail")
        #expect(f["error"]?["code"] == .int(-32001))
        #expect(f["error"]?["data"]?["kind"] == "invalidQuery")
    }

    @Test func slowRequestDoesNotHoldUpOthers() async throws {
        let handler = ProbeHandler()
        let (client, _, _) = connected(handler)
        let slow = client.startRequest(method: "block")
        // While `block` waits, other requests on the same connection are answered.
        for i in 0..<20 {
            let r = try await client.request(method: "echo", params: ["i": .int(Int64(i))])
            #expect(r["result"] == ["i": .int(Int64(i))])
        }
        handler.release()
        #expect(try await slow.reply.value["result"] == "released")
    }

    @Test func cancelAnswersMinus32800Promptly() async throws {
        let (client, connection, _) = connected(ProbeHandler())
        let (id, reply) = client.startRequest(method: "sleep", params: ["ms": 60_000])
        while connection.inFlightCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let start = ContinuousClock.now
        try await client.notify(method: "$/cancelRequest", params: ["id": id.json])
        let r = try await reply.value
        #expect(r["error"]?["code"] == .int(-32800))
        #expect(ContinuousClock.now - start < .seconds(1))
        // Exactly one reply: nothing else arrives for that id.
        try await Task.sleep(for: .milliseconds(100))
        let echo = try await client.request(method: "echo", params: ["after"])
        #expect(echo["result"] == ["after"])
        #expect(connection.inFlightCount == 0)
    }

    @Test func cancelOfUnknownOrFinishedIdIsIgnored() async throws {
        let (client, _, _) = connected(ProbeHandler())
        _ = try await client.request(method: "echo", params: [1], id: .string("done"))
        try await client.notify(method: "$/cancelRequest", params: ["id": "done"])
        try await client.notify(method: "$/cancelRequest", params: ["id": 12345])
        let r = try await client.request(method: "echo", params: [2])
        #expect(r["result"] == [2])
    }

    @Test func batchesAreAnsweredAsOneArray() async throws {
        let (client, _, _) = connected(ProbeHandler())
        try await client.sendRaw(client.framing.frame(Array(#"[{"jsonrpc":"2.0","id":"a","method":"echo","params":[1]},{"jsonrpc":"2.0","method":"note"},{"jsonrpc":"2.0","id":"b","method":"fail"},{"foo":1}]"#.utf8)))
        let reply = try await client.nextRawMessage()
        guard case let .array(items) = reply else { Issue.record("expected an array, got \(reply)"); return }
        #expect(items.count == 3)  // the notification gets none
        let byID = Dictionary(items.compactMap { i in i["id"].map { ($0, i) } }, uniquingKeysWith: { a, _ in a })
        #expect(byID["a"]?["result"] == [1])
        #expect(byID["b"]?["error"]?["code"] == .int(-32001))
        #expect(byID[.null]?["error"]?["code"] == .int(-32600))
        // A batch of notifications only: no reply at all; an empty batch: one error.
        try await client.sendRaw(client.framing.frame(Array(#"[{"jsonrpc":"2.0","method":"n1"}]"#.utf8)))
        try await client.sendRaw(client.framing.frame(Array("[]".utf8)))
        let empty = try await client.nextRawMessage()
        #expect(empty["error"]?["code"] == .int(-32600))
    }

    @Test func invalidRequestObjects() async throws {
        let (client, _, _) = connected(ProbeHandler())
        let cases: [(String, JSONValue)] = [
            (#"{"jsonrpc":"1.0","id":1,"method":"echo"}"#, .int(1)),
            (#"{"jsonrpc":"2.0","id":2}"#, .int(2)),
            (#"{"jsonrpc":"2.0","id":3,"method":7}"#, .int(3)),
            (#"{"jsonrpc":"2.0","id":4,"method":"echo","params":"str"}"#, .int(4)),
            (#"{"jsonrpc":"2.0","id":{"x":1},"method":"echo"}"#, .null),
            (#""just a string""#, .null),
        ]
        for (text, id) in cases {
            try await client.sendRaw(client.framing.frame(Array(text.utf8)))
            let r = try await client.nextRawMessage()
            #expect(r["error"]?["code"] == .int(-32600), "\(text)")
            #expect(r["id"] == id, "\(text)")
        }
    }

    @Test func malformedJSONKeepsTheConnectionUsable() async throws {
        let (client, _, _) = connected(ProbeHandler())
        try await client.sendRaw(client.framing.frame(Array(#"{"jsonrpc":"2.0","id":1,"method":"#.utf8)))
        let r = try await client.nextRawMessage()
        #expect(r["error"]?["code"] == .int(-32700))
        #expect(r["id"] == .null)
        #expect(try await client.request(method: "echo", params: ["ok"])["result"] == ["ok"])
    }

    @Test func newlineDelimitedClientsAreAnsweredInKind() async throws {
        let (client, connection, _) = connected(ProbeHandler(), framing: .newlineDelimited)
        #expect(try await client.request(method: "echo", params: ["nd"])["result"] == ["nd"])
        #expect(connection.framing == .newlineDelimited)
    }

    @Test func duplicateInFlightIdIsRefused() async throws {
        let handler = ProbeHandler()
        let (client, connection, _) = connected(handler)
        try await client.sendRaw(client.framing.frame(Array(#"{"jsonrpc":"2.0","id":"same","method":"block"}"#.utf8)))
        while connection.inFlightCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
        try await client.sendRaw(client.framing.frame(Array(#"{"jsonrpc":"2.0","id":"same","method":"echo"}"#.utf8)))
        let dup = try await client.nextRawMessage()
        #expect(dup["error"]?["code"] == .int(-32600))
        handler.release()
        let first = try await client.nextRawMessage()
        #expect(first["result"] == "released")
    }

    @Test func inFlightRequestsAreCapped() async throws {
        let handler = ProbeHandler()
        var options = Connection.Options()
        options.maxInFlight = 4
        let (client, _, _) = connected(handler, options: options)
        let tasks = (0..<20).map { _ in client.startRequest(method: "block").reply }
        let deadline = ContinuousClock.now + .seconds(10)
        while handler.started.load(ordering: .relaxed) < 4 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        try await Task.sleep(for: .milliseconds(200))
        // Only the cap's worth started; the rest wait unread in the input.
        #expect(handler.started.load(ordering: .relaxed) == 4)
        handler.release()
        for t in tasks { #expect(try await t.value["result"] == "released") }
        #expect(handler.maxConcurrent.load(ordering: .relaxed) <= 4)
    }

    @Test func endOfInputStillDeliversPendingReplies() async throws {
        let toServer = ByteChannel(), toClient = ByteChannel()
        let connection = Connection(source: toServer, sink: toClient, logger: quietLogger())
        let handler = ProbeHandler()
        let task = Task { await connection.run(handler: handler) }
        let frame = Framing.contentLength.frame(Array(#"{"jsonrpc":"2.0","id":1,"method":"sleep","params":{"ms":50}}"#.utf8))
        toServer.writeNow(frame)
        toServer.closeNow()  // half-close: the reply must still go out
        await task.value
        var received: [UInt8] = []
        while let chunk = try await toClient.read() { received += chunk }
        #expect(String(decoding: received, as: UTF8.self).contains(#""result":"slept""#))
    }

    /// Reads every reply until the server closes its side; the replies by id.
    static func repliesUntilClosed(_ toClient: ByteChannel) async throws -> [String: String] {
        var received: [UInt8] = []
        while let chunk = try await toClient.read() { received += chunk }
        var out: [String: String] = [:]
        var decoder = FrameDecoder(maxFrameBytes: 1 << 20, framing: .contentLength)
        decoder.append(received)
        while let item = decoder.next() {
            guard case let .message(body) = item, case let .success(v) = JSONRPCCoding.parse(body),
                  case let .object(o) = v, let id = o["id"] else { continue }
            let key: String
            switch id { case .int(let n): key = "\(n)"; case .string(let t): key = t; default: key = "null" }
            var code = ""
            if case .int(let c)? = o["error"]?["code"] { code = "\(c)" }
            out[key] = o["result"] != nil ? "result" : "error \(code)"
        }
        return out
    }

    static func send(_ channel: ByteChannel, _ json: String) {
        channel.writeNow(Framing.contentLength.frame(Array(json.utf8)))
    }

    @Test func anExclusiveRequestIsAnsweredAfterTheRequestsBeforeIt() async throws {
        let toServer = ByteChannel(), toClient = ByteChannel()
        let connection = Connection(source: toServer, sink: toClient, logger: quietLogger())
        let task = Task { await connection.run(handler: ProbeHandler()) }
        Self.send(toServer, #"{"jsonrpc":"2.0","id":1,"method":"sleep","params":{"ms":150}}"#)
        Self.send(toServer, #"{"jsonrpc":"2.0","id":2,"method":"sleep","params":{"ms":100}}"#)
        Self.send(toServer, #"{"jsonrpc":"2.0","id":3,"method":"exclusive"}"#)
        Self.send(toServer, #"{"jsonrpc":"2.0","method":"exit"}"#)
        toServer.closeNow()
        await task.value
        let replies = try await Self.repliesUntilClosed(toClient)
        #expect(replies == ["1": "result", "2": "result", "3": "result"])
    }

    @Test func requestsStillRunningAtExitAreAnsweredCancelled() async throws {
        // The newcomer's race: requests, then shutdown + exit at once. Every request still gets
        // exactly one reply: its result, or -32800 when the grace ran out.
        var options = Connection.Options()
        options.endOfInputGrace = .seconds(1)
        let toServer = ByteChannel(), toClient = ByteChannel()
        let connection = Connection(source: toServer, sink: toClient, options: options, logger: quietLogger())
        let task = Task { await connection.run(handler: ProbeHandler()) }
        Self.send(toServer, #"{"jsonrpc":"2.0","id":1,"method":"block"}"#)
        Self.send(toServer, #"{"jsonrpc":"2.0","id":2,"method":"echo"}"#)
        Self.send(toServer, #"{"jsonrpc":"2.0","id":3,"method":"exclusive"}"#)
        Self.send(toServer, #"{"jsonrpc":"2.0","id":4,"method":"block"}"#)
        Self.send(toServer, #"{"jsonrpc":"2.0","method":"exit"}"#)
        let clock = ContinuousClock()
        let start = clock.now
        await task.value
        // `block` ignores cancellation: the grace (1 s) and the close grace twice, not forever.
        #expect(clock.now - start < .seconds(10))
        let replies = try await Self.repliesUntilClosed(toClient)
        #expect(replies == ["1": "error -32800", "2": "result", "3": "result", "4": "error -32800"])
    }
}
