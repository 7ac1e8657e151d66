import Foundation
import JSONRPC
import Logging
import XLChatServer
#if canImport(Glibc)
import Glibc
#endif

/// The built `xlchat` binary, next to the test bundle in the build folder.
public enum BuiltBinary {
    public static func path(_ name: String = "xlchat") -> String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // The test runner may sit inside `xlchatPackageTests.xctest/` on some layouts.
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return exe.deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// The repository root (for protocol/ and the corpus beside it).
    public static func packageRoot(file: String = #filePath) -> URL {
        var url = URL(fileURLWithPath: file)
        while url.path != "/" {
            url = url.deletingLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }
}

/// The result of running a command to completion.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// A spawned `xlchat` (or any) process with pipes on stdin/stdout/stderr.
public final class SpawnedProcess: @unchecked Sendable {
    public let process = Process()
    public let stdin = Pipe()
    public let stdout = Pipe()
    public let stderr = Pipe()

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
    }

    /// A JSON-RPC client over the process's stdin/stdout.
    public func client(framing: Framing = .contentLength) -> TestClient {
        TestClient(source: FileDescriptorSource(fd: stdout.fileHandleForReading.fileDescriptor),
                   sink: FileDescriptorSink(fd: stdin.fileHandleForWriting.fileDescriptor, closeOnFinish: true),
                   framing: framing)
    }

    /// Waits for the process to exit (at most `timeout`), returning its status; kills it on timeout.
    public func wait(timeout: Duration = .seconds(30)) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                return -1
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return process.terminationStatus
    }

    public static func run(_ executable: String, _ arguments: [String], input: String = "",
                           environment: [String: String]? = nil, timeout: Duration = .seconds(60)) async throws -> CommandResult {
        let p = try SpawnedProcess(executable, arguments, environment: environment)
        let outData = Task.detached { p.stdout.fileHandleForReading.readDataToEndOfFile() }
        let errData = Task.detached { p.stderr.fileHandleForReading.readDataToEndOfFile() }
        p.stdin.fileHandleForWriting.write(Data(input.utf8))
        try? p.stdin.fileHandleForWriting.close()
        let status = await p.wait(timeout: timeout)
        return CommandResult(status: status, stdout: String(decoding: await outData.value, as: UTF8.self),
                             stderr: String(decoding: await errData.value, as: UTF8.self))
    }
}

/// Unix-socket helpers for tests.
public enum UnixSocket {
    /// Connects to a unix socket and returns the fd (throws when nobody listens).
    public static func connect(path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError("socket() failed") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw TestClientError("connect(\(path)) failed: errno \(errno)")
        }
        return fd
    }

    /// A JSON-RPC client on a new connection to `path`.
    public static func client(path: String, framing: Framing = .contentLength) throws -> TestClient {
        let fd = try connect(path: path)
        let writeFD = dup(fd)
        return TestClient(source: FileDescriptorSource(fd: fd), sink: FileDescriptorSink(fd: writeFD, closeOnFinish: true),
                          framing: framing)
    }

    /// A short, unique socket path (sun_path holds ~107 bytes).
    public static func temporaryPath() -> String {
        "/tmp/xlchat-\(getpid())-\(UUID().uuidString.prefix(8)).sock"
    }
}

/// A real `XLChatServer` listening on a unix socket inside the test process.
public final class InProcessSocketServer: Sendable {
    public let path: String
    public let server: XLChatServer
    private let listener: UnixSocketServer
    private let task: Task<Void, any Error>

    public static func start(configuration: ServerConfiguration = TestClient.temporaryConfiguration(),
                             options: Connection.Options = .init(), path: String = UnixSocket.temporaryPath()) async throws -> InProcessSocketServer {
        var logger = Logger(label: "xlchat.test.socket")
        logger.logLevel = .critical
        let server = XLChatServer(configuration: configuration, logger: logger)
        let listener = try await UnixSocketServer.bind(path: path, options: options, logger: logger)
        let task = Task { try await listener.run { connection in server.makeSession(for: connection) } }
        return InProcessSocketServer(path: path, server: server, listener: listener, task: task)
    }

    private init(path: String, server: XLChatServer, listener: UnixSocketServer, task: Task<Void, any Error>) {
        self.path = path; self.server = server; self.listener = listener; self.task = task
    }

    public func stop() async {
        await listener.shutdown()
        _ = try? await task.value
    }
}
