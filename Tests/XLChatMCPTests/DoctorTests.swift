import Foundation
import Testing
import XLChatTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `xlchat doctor` run as a binary: each check's line and the exit status.
@Suite struct DoctorTests {
    static let realModelHost = "127.0.0.1:11439"

    /// Runs `xlchat doctor` with a clean model environment plus `env`.
    func doctor(_ arguments: [String] = [], env: [String: String]) async throws -> CommandResult {
        var environment = ProcessInfo.processInfo.environment
        for key in ["XLCHAT_PROVIDER", "XLCHAT_BASE_URL", "OLLAMA_HOST", "XLCHAT_MODEL", "XLCHAT_EMBED_MODEL", "XLCHAT_DATA_DIR", "XLCHAT_STORE"] {
            environment.removeValue(forKey: key)
        }
        environment.merge(env) { _, new in new }
        return try await SpawnedProcess.run(BuiltBinary.path(), ["doctor"] + arguments, environment: environment)
    }

    /// A loopback port nothing listens on (bound, then closed).
    static func closedPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
                _ = bind(fd, p, len)
                return getsockname(fd, p, &len)
            }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Whether something accepts TCP connections at 127.0.0.1:`port`.
    static func listening(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    static let realModelServerUp = listening(port: 11439)

    func line(_ output: String, _ prefix: String) -> String? {
        output.split(separator: "\n").map(String.init).first { $0.hasPrefix(prefix) }
    }

    @Test func healthyDataDirectoryAndSQLitePassAndAMissingModelServerFailsWithAdvice() async throws {
        let dir = Fixtures.temporaryDirectory() + "/data/nested"  // does not exist yet: doctor creates it
        let port = Self.closedPort()
        let result = try await doctor(env: ["XLCHAT_DATA_DIR": dir, "OLLAMA_HOST": "127.0.0.1:\(port)"])
        #expect(line(result.stdout, "ok    data directory \(dir)") != nil, "\(result.stdout)")
        #expect(FileManager.default.fileExists(atPath: dir))
        #expect(line(result.stdout, "ok    SQLite") != nil, "\(result.stdout)")
        #expect(line(result.stdout, "ok    SQLite")?.contains("FTS5 and the trigram tokenizer") == true)
        let llm = try #require(line(result.stdout, "FAIL  model server"), "\(result.stdout)")
        #expect(llm.contains("http://127.0.0.1:\(port)"))
        #expect(llm.contains("ollama serve"))
        #expect(llm.contains(" — "))
        #expect(result.status == 1)
        // No leftover probe file.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: dir))?.isEmpty == true)
    }

    /// The store's lines: SQLite by default; a PostgreSQL store that is down fails with advice;
    /// the test cluster (`XLCHAT_TEST_PG`, after `xlchat store init`) passes with its version,
    /// both roles' rights and pgvector's state; a role without rights fails saying what it lacks.
    @Test func storeChecks() async throws {
        let dir = Fixtures.temporaryDirectory()
        let model = ["XLCHAT_DATA_DIR": dir, "OLLAMA_HOST": "127.0.0.1:\(Self.closedPort())"]
        let plain = try await doctor(env: model)
        #expect(line(plain.stdout, "ok    store: SQLite") != nil, "\(plain.stdout)")
        let down = try await doctor(env: model.merging(["XLCHAT_STORE": "postgres://x@127.0.0.1:\(Self.closedPort())/xlchat"]) { $1 })
        let fail = try #require(line(down.stdout, "FAIL  the store postgres://x@127.0.0.1"), "\(down.stdout)")
        #expect(fail.contains("cannot be reached") && fail.contains("start PostgreSQL"), "\(fail)")
        #expect(down.status == 1)
        let env = ProcessInfo.processInfo.environment
        guard let url = env["XLCHAT_TEST_PG"], !url.isEmpty else {
            if ["true", "1", "yes"].contains((env["CI"] ?? "").lowercased()) { Issue.record("XLCHAT_TEST_PG is not set under CI") }
            return
        }
        let initRun = try await SpawnedProcess.run(BuiltBinary.path(), ["store", "init", "--store", url], environment: env)
        #expect(initRun.status == 0, "\(initRun.stderr)")
        let good = try await doctor(env: model.merging(["XLCHAT_STORE": url]) { $1 })
        #expect(line(good.stdout, "ok    store postgres://xlchat_admin@")?.contains("PostgreSQL ") == true, "\(good.stdout)")
        #expect(line(good.stdout, "ok    reader role xlchat_reader") != nil, "\(good.stdout)")
        #expect(line(good.stdout, "ok    role xlchat_admin can build") != nil, "\(good.stdout)")
        #expect(line(good.stdout, "ok    pgvector") != nil, "\(good.stdout)")
        #expect(!good.stdout.contains("xlchat-test"), "the password never shows")
        #expect(!good.stdout.contains("FAIL  store") && !good.stdout.contains("FAIL  role"))
        let limited = url.replacingOccurrences(of: "xlchat_admin:xlchat-test@", with: "xlchat_limited:limited@")
        let weak = try await doctor(env: model.merging(["XLCHAT_STORE": limited]) { $1 })
        #expect(line(weak.stdout, "FAIL  role xlchat_limited cannot build workbook tables")?.contains("docs/team.md") == true, "\(weak.stdout)")
        #expect(weak.status == 1)
    }

    @Test func unwritableDataDirectoryFailsWithAdvice() async throws {
        // Root ignores permission bits, so as root use a directory no one can create files in.
        let dir: String
        if geteuid() == 0 {
            dir = "/proc/1"
        } else {
            dir = Fixtures.temporaryDirectory()
            chmod(dir, 0o555)
        }
        let result = try await doctor(env: ["XLCHAT_DATA_DIR": dir, "OLLAMA_HOST": "127.0.0.1:\(Self.closedPort())"])
        let failure = try #require(line(result.stdout, "FAIL  data directory \(dir)"), "\(result.stdout)")
        #expect(failure.contains("not writable"))
        #expect(failure.contains("--data-dir"))
        #expect(result.status == 1)
    }

    @Test func dataDirectoryThatIsAFileFails() async throws {
        let file = Fixtures.temporaryDirectory() + "/plain-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let result = try await doctor(env: ["XLCHAT_DATA_DIR": file])
        #expect(line(result.stdout, "FAIL  data directory \(file) is a file") != nil, "\(result.stdout)")
        #expect(result.status == 1)
    }

    @Test(.enabled(if: DoctorTests.realModelServerUp, "the small model server is not running on 127.0.0.1:11439"))
    func realModelServerPassesWithItsModels() async throws {
        let result = try await doctor(env: [
            "XLCHAT_DATA_DIR": Fixtures.temporaryDirectory(), "OLLAMA_HOST": Self.realModelHost,
            "XLCHAT_MODEL": "smollm2:135m", "XLCHAT_EMBED_MODEL": "all-minilm:l6-v2",
        ])
        #expect(line(result.stdout, "ok    model server http://\(Self.realModelHost)") != nil, "\(result.stdout)")
        #expect(line(result.stdout, "ok    model server")?.contains("version") == true)
        #expect(line(result.stdout, "ok    chat model smollm2:135m is available") != nil, "\(result.stdout)")
        #expect(line(result.stdout, "ok    embedding model all-minilm:l6-v2 is available") != nil, "\(result.stdout)")
        #expect(result.status == 0, "\(result.stdout)")
    }

    @Test(.enabled(if: DoctorTests.realModelServerUp, "the small model server is not running on 127.0.0.1:11439"))
    func modelThatIsNotPulledFailsNamingOllamaPull() async throws {
        let result = try await doctor(env: [
            "XLCHAT_DATA_DIR": Fixtures.temporaryDirectory(), "OLLAMA_HOST": Self.realModelHost, "XLCHAT_MODEL": "no-such-model:7b",
        ])
        #expect(line(result.stdout, "ok    model server") != nil, "\(result.stdout)")
        let failure = try #require(line(result.stdout, "FAIL  chat model no-such-model:7b"), "\(result.stdout)")
        #expect(failure.contains("ollama pull no-such-model:7b"))
        #expect(result.status == 1)
    }

    @Test(.enabled(if: DoctorTests.listening(port: 8094), "the small model's OpenAI-compatible server is not running on 127.0.0.1:8094"))
    func openAICompatibleServerPasses() async throws {
        let result = try await doctor(env: [
            "XLCHAT_DATA_DIR": Fixtures.temporaryDirectory(), "XLCHAT_PROVIDER": "openai",
            "XLCHAT_BASE_URL": "http://127.0.0.1:8094/v1", "XLCHAT_MODEL": "smollm2:135m",
        ])
        #expect(line(result.stdout, "ok    model server http://127.0.0.1:8094/v1 (openai") != nil, "\(result.stdout)")
        #expect(line(result.stdout, "ok    chat model smollm2:135m is available") != nil, "\(result.stdout)")
        #expect(result.status == 0, "\(result.stdout)")
    }

    @Test func badModelSettingsFailWithAdvice() async throws {
        let result = try await doctor(env: ["XLCHAT_DATA_DIR": Fixtures.temporaryDirectory(), "XLCHAT_PROVIDER": "bogus"])
        let failure = try #require(line(result.stdout, "FAIL  model server settings"), "\(result.stdout)")
        #expect(failure.contains("XLCHAT_PROVIDER"))
        #expect(result.status == 1)
        // An OpenAI-compatible server that is not there names its address and the setting to change.
        let port = Self.closedPort()
        let down = try await doctor(["--provider", "openai", "--base-url", "http://127.0.0.1:\(port)/v1"],
                                    env: ["XLCHAT_DATA_DIR": Fixtures.temporaryDirectory()])
        let llm = try #require(line(down.stdout, "FAIL  model server"), "\(down.stdout)")
        #expect(llm.contains("http://127.0.0.1:\(port)/v1"))
        #expect(llm.contains("XLCHAT_BASE_URL"))
        #expect(down.status == 1)
    }

    @Test func socketPathChecks() async throws {
        let dir = Fixtures.temporaryDirectory()
        let env = ["XLCHAT_DATA_DIR": dir + "/data", "OLLAMA_HOST": Self.realModelServerUp ? Self.realModelHost : "127.0.0.1:1",
                   "XLCHAT_MODEL": "smollm2:135m"]

        // Free path: a server could listen there, and the probe leaves nothing behind.
        let free = dir + "/x.sock"
        var result = try await doctor(["--socket", free], env: env)
        #expect(line(result.stdout, "ok    socket \(free): a server can listen there") != nil, "\(result.stdout)")
        #expect(!FileManager.default.fileExists(atPath: free))

        // A directory that does not exist.
        let missing = dir + "/no/such/dir/x.sock"
        result = try await doctor(["--socket", missing], env: env)
        #expect(line(result.stdout, "FAIL  socket \(missing)")?.contains("create the directory") == true, "\(result.stdout)")
        #expect(result.status == 1)

        // A regular file in the way.
        let file = dir + "/file.sock"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        result = try await doctor(["--socket", file], env: env)
        #expect(line(result.stdout, "FAIL  socket \(file) exists and is not a socket") != nil, "\(result.stdout)")

        // Too long for sockaddr_un.
        let long = dir + "/" + String(repeating: "s", count: 120) + ".sock"
        result = try await doctor(["--socket", long], env: env)
        #expect(line(result.stdout, "FAIL  socket \(long)")?.contains("shorter path") == true, "\(result.stdout)")

        // A live `xlchat serve --socket`: reported as listening.
        let live = dir + "/live.sock"
        let server = try SpawnedProcess(BuiltBinary.path(), ["serve", "--socket", live, "--data-dir", dir + "/data"])
        defer { server.process.terminate() }
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: live) { try await Task.sleep(for: .milliseconds(20)) }
        result = try await doctor(["--socket", live], env: env)
        #expect(line(result.stdout, "ok    socket \(live): a server is already listening") != nil, "\(result.stdout)")
    }
}
