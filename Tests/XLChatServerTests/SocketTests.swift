import Foundation
import Testing
import XLChatProtocol
import XLChatServer
import XLChatTestSupport
@testable import JSONRPC
#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(2))) struct SocketTests {
    @Test func manyClientsEachTheirOwnSessionNothingLostOrMismatched() async throws {
        let server = try await InProcessSocketServer.start()
        defer { Task { await server.stop() } }
        let clients = 8, perClient = 200
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for c in 0..<clients {
                group.addTask {
                    let client = try UnixSocket.client(path: server.path, framing: c % 2 == 0 ? .contentLength : .newlineDelimited)
                    // Each connection is its own session: it must initialize itself.
                    let early = try await client.request(method: "server/ping")
                    #expect(early["error"]?["code"] == .int(-32002))
                    try await client.initialize(name: "client-\(c)")
                    var ok = 0, mismatched = 0
                    try await withThrowingTaskGroup(of: Bool.self) { inner in
                        for i in 0..<perClient {
                            inner.addTask {
                                let id = RequestID.string("c\(c)-\(i)")
                                let r = try await client.request(method: "server/ping", id: id)
                                return r["id"] == id.json && r["result"] == [:]
                            }
                        }
                        for try await good in inner { if good { ok += 1 } else { mismatched += 1 } }
                    }
                    try await client.shutdownAndExit()
                    return (ok, mismatched)
                }
            }
            var total = 0
            for try await (ok, mismatched) in group {
                #expect(mismatched == 0)
                total += ok
            }
            #expect(total == clients * perClient)
        }
    }

    @Test func socketFileIsPrivate() async throws {
        let server = try await InProcessSocketServer.start()
        defer { Task { await server.stop() } }
        var st = stat()
        #expect(lstat(server.path, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
    }

    @Test func liveSocketIsNotStolenStaleOneIsReplaced() async throws {
        let server = try await InProcessSocketServer.start()
        await #expect(throws: SocketError.self) {
            _ = try await InProcessSocketServer.start(path: server.path)
        }
        // The first server still answers.
        let client = try UnixSocket.client(path: server.path)
        try await client.initialize()
        await server.stop()

        // A socket file left behind by a dead process is replaced.
        let stale = UnixSocket.temporaryPath()
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in stale.utf8.enumerated() { raw[i] = b }
        }
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        #expect(FileManager.default.fileExists(atPath: stale))
        let second = try await InProcessSocketServer.start(path: stale)
        let c2 = try UnixSocket.client(path: stale)
        try await c2.initialize()
        await second.stop()
    }

    @Test func clientDisconnectingMidRequestDoesNotDisturbOthers() async throws {
        let server = try await InProcessSocketServer.start()
        defer { Task { await server.stop() } }
        let steady = try UnixSocket.client(path: server.path)
        try await steady.initialize()
        for round in 0..<20 {
            let fd = try UnixSocket.connect(path: server.path)
            let initialize = Framing.contentLength.frame(Array(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#.utf8))
            let health = Framing.contentLength.frame(Array(#"{"jsonrpc":"2.0","id":2,"method":"server/health"}"#.utf8))
            var bytes = initialize + health
            if round % 2 == 0 { bytes += Array("Content-Length: 100\r\n\r\n{\"jsonrpc\"".utf8) }  // and half a frame
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, bytes.count) }
            close(fd)  // gone before the replies
            let r = try await steady.request(method: "server/ping")
            #expect(r["result"] == [:])
        }
        try await steady.shutdownAndExit()
    }

    /// A client that floods requests and never reads: the server stops reading from it once its
    /// in-flight cap and the socket buffers are full, so its memory stays bounded, and another
    /// client is served all the while.
    @Test func floodingClientIsHeldBackAndOthersAreServed() async throws {
        var options = Connection.Options()
        options.maxInFlight = 32
        let server = try await InProcessSocketServer.start(options: options)
        defer { Task { await server.stop() } }
        let other = try UnixSocket.client(path: server.path)
        try await other.initialize()

        let fd = try UnixSocket.connect(path: server.path)
        defer { close(fd) }
        var initialize = Framing.contentLength.frame(Array(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#.utf8))
        _ = initialize.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var one = Framing.contentLength.frame(Array(#"{"jsonrpc":"2.0","id":1,"method":"server/metrics"}"#.utf8))
        var chunk: [UInt8] = []
        for _ in 0..<1000 { chunk += one }
        _ = one.count
        var accepted = 0
        let offered = 200 * chunk.count  // ~ 12 MB of requests whose replies are ~1 KB each
        var blocked = false
        let deadline = ContinuousClock.now + .seconds(20)
        var lastProgress = ContinuousClock.now
        while accepted < offered && ContinuousClock.now < deadline {
            let n = chunk.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                accepted += n
                lastProgress = ContinuousClock.now
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                // The server stopped reading. Wait a little to be sure it stays stopped.
                if ContinuousClock.now - lastProgress > .seconds(1) { blocked = true; break }
                try await Task.sleep(for: .milliseconds(20))
            } else {
                Issue.record("write failed: errno \(errno)")
                break
            }
            // The other client is served throughout.
            let r = try await other.request(method: "server/ping")
            #expect(r["result"] == [:])
        }
        #expect(blocked, "the server kept reading \(accepted) bytes from a client that never reads its replies")
        #expect(accepted < offered / 2)
        let start = ContinuousClock.now
        let r = try await other.request(method: "server/ping")
        #expect(r["result"] == [:])
        #expect(ContinuousClock.now - start < .seconds(1))
    }
}
