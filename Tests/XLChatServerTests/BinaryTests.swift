import Foundation
import Testing
import XLChatProtocol
import XLChatServer
import XLChatTestSupport
@testable import JSONRPC
#if canImport(Glibc)
import Glibc
#endif

/// The built `xlchat` binary, driven as users and editors drive it.
@Suite(.timeLimit(.minutes(2))) struct BinaryTests {
    let xlchat = BuiltBinary.path()
    var env: [String: String] {
        var e = ProcessInfo.processInfo.environment
        e["XLCHAT_DATA_DIR"] = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-bin-\(UUID())").path
        e["OLLAMA_HOST"] = "127.0.0.1:1"
        return e
    }

    @Test func helpVersionAndUnknownFlags() async throws {
        let help = try await SpawnedProcess.run(xlchat, ["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("serve"))
        let version = try await SpawnedProcess.run(xlchat, ["--version"])
        #expect(version.status == 0)
        // A test build is a plain `swift build`: no commit embedded (scripts/release.sh embeds one,
        // checked by scripts/package-test.sh against `git rev-parse HEAD`).
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == XLChatVersion.long)
        #expect(XLChatVersion.long == "\(XLChatVersion.current) (development build: no commit embedded)")
        let serveHelp = try await SpawnedProcess.run(xlchat, ["serve", "--help"])
        #expect(serveHelp.status == 0)
        #expect(serveHelp.stdout.contains("--socket"))
        for args in [["--bogus"], ["serve", "--bogus"], ["serve", "--stdio", "--socket", "/tmp/x.sock"], ["nosuchcommand"]] {
            let r = try await SpawnedProcess.run(xlchat, args)
            #expect(r.status != 0, "\(args)")
            #expect(!r.stderr.isEmpty, "\(args)")
        }
    }

    @Test func stdioLifecycleOverRealPipesExitsZeroAfterShutdown() async throws {
        let p = try SpawnedProcess(xlchat, ["serve", "--log-level", "debug"], environment: env)
        let client = p.client()
        try await client.initialize()
        #expect(try await client.send(PingRequest()) == PingResult())
        _ = try await client.send(ShutdownRequest())
        try await client.notify(method: "exit")
        #expect(await p.wait() == 0)
    }

    @Test func exitWithoutShutdownIsOne() async throws {
        let p = try SpawnedProcess(xlchat, ["serve", "--stdio"], environment: env)
        let client = p.client()
        try await client.initialize()
        try await client.notify(method: "exit")
        #expect(await p.wait() == 1)
    }

    @Test func endOfInputEndsTheProcessAfterAnsweringEverything() async throws {
        let input = [
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#,
            #"{"jsonrpc":"2.0","id":2,"method":"server/ping"}"#,
            #"{"jsonrpc":"2.0","id":3,"method":"server/health"}"#,
        ].joined(separator: "\n") + "\n"
        let r = try await SpawnedProcess.run(xlchat, ["serve"], input: input, environment: env)
        #expect(r.status == 0)
        // NDJSON in, NDJSON out: stdout has exactly one JSON object per line and nothing else.
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        for line in lines {
            let v = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
            #expect(v["jsonrpc"] == "2.0")
        }
        #expect(r.stderr.contains("initialized"))  // logs went to stderr
    }

    @Test func byteByByteDeliveryOverPipes() async throws {
        let p = try SpawnedProcess(xlchat, ["serve"], environment: env)
        let client = p.client()
        let frame = Framing.contentLength.frame(Array(#"{"jsonrpc":"2.0","id":"slow","method":"initialize","params":{"clientInfo":{"name":"drip"}}}"#.utf8))
        for b in frame { try await client.sendRaw([b]) }
        let reply = try await client.nextRawMessage()
        #expect(reply["id"] == "slow")
        #expect(reply["result"]?["serverInfo"]?["name"] == "xlchat")
        try await client.shutdownAndExit()
        #expect(await p.wait() == 0)
    }

    @Test func malformedInputOverPipesKeepsServing() async throws {
        let p = try SpawnedProcess(xlchat, ["serve"], environment: env)
        let client = p.client()
        try await client.initialize()
        try await client.sendRaw("Content-Length: 12\r\n\r\n{not json!!}")
        #expect(try await client.nextRawMessage()["error"]?["code"] == .int(-32700))
        try await client.sendRaw("Content-Length: abc\r\n\r\n{}")
        #expect(try await client.nextRawMessage()["error"]?["code"] == .int(-32700))
        // A frame over 64 MiB is refused, its body skipped without being held, and the next frame is served.
        let size = (64 << 20) + 1
        try await client.sendRaw("Content-Length: \(size)\r\n\r\n")
        let piece = [UInt8](repeating: UInt8(ascii: " "), count: 1 << 20)
        for _ in 0..<64 { try await client.sendRaw(piece) }
        try await client.sendRaw([UInt8(ascii: " ")])
        #expect(try await client.nextRawMessage()["error"]?["message"]?.stringValue?.contains("exceeds the 64 MiB limit") == true)
        #expect(try await client.send(PingRequest()) == PingResult())
        try await client.shutdownAndExit()
        #expect(await p.wait() == 0)
    }

    @Test func socketServeFromTheBinary() async throws {
        let path = UnixSocket.temporaryPath()
        let p = try SpawnedProcess(xlchat, ["serve", "--socket", path], environment: env)
        defer { if p.process.isRunning { p.process.terminate() } }
        let deadline = ContinuousClock.now + .seconds(20)
        while (try? UnixSocket.connect(path: path)).map({ close($0); return true }) != true {
            guard ContinuousClock.now < deadline else { Issue.record("socket never appeared"); return }
            try await Task.sleep(for: .milliseconds(20))
        }
        var st = stat()
        #expect(lstat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let a = try UnixSocket.client(path: path), b = try UnixSocket.client(path: path, framing: .newlineDelimited)
        try await a.initialize(name: "a")
        try await b.initialize(name: "b")
        #expect(try await a.send(PingRequest()) == PingResult())
        #expect(try await b.send(PingRequest()) == PingResult())
        // A second server does not steal a live socket.
        let second = try await SpawnedProcess.run(xlchat, ["serve", "--socket", path], environment: env, timeout: .seconds(20))
        #expect(second.status != 0)
        #expect(second.stderr.contains("already listening"))
        try await a.shutdownAndExit()
        // The other client's session is unaffected by a's exit.
        #expect(try await b.send(PingRequest()) == PingResult())
        p.process.terminate()
        _ = await p.wait()
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
