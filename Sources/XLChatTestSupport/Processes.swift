import Foundation
import JSONRPC
import Logging
import Synchronization
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
    private let exit = ExitSignal()

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        let exit = exit
        process.terminationHandler = { exit.fire($0.terminationStatus) }
        try process.run()
    }

    /// A JSON-RPC client over the process's stdin/stdout.
    public func client(framing: Framing = .contentLength) -> TestClient {
        TestClient(source: FileDescriptorSource(fd: stdout.fileHandleForReading.fileDescriptor),
                   sink: FileDescriptorSink(fd: stdin.fileHandleForWriting.fileDescriptor, closeOnFinish: true),
                   framing: framing)
    }

    /// Waits for the process to exit (at most `timeout`), returning its status. On timeout the
    /// process is sent SIGKILL and -1 is returned. Waits on the exit event (Foundation's
    /// termination handler), not by polling.
    public func wait(timeout: Duration = .seconds(30)) async -> Int32 {
        let pid = process.processIdentifier
        let timer = Task { () -> Bool in
            do { try await Task.sleep(for: timeout) } catch { return false }
            kill(pid, SIGKILL)
            return true
        }
        let status = await exit.status
        timer.cancel()
        return await timer.value ? -1 : status
    }

    /// Reads `handle` to its end on a thread of its own: a blocking read on a cooperative-pool
    /// thread starves the pool when several tests spawn processes at once (seen: parallel runs
    /// of binary-spawning suites hung).
    static func readToEnd(_ handle: FileHandle) async -> Data {
        await withCheckedContinuation { c in
            Thread { c.resume(returning: handle.readDataToEndOfFile()) }.start()
        }
    }

    public static func run(_ executable: String, _ arguments: [String], input: String = "",
                           environment: [String: String]? = nil, timeout: Duration = .seconds(60)) async throws -> CommandResult {
        let p = try SpawnedProcess(executable, arguments, environment: environment)
        let out = p.stdout.fileHandleForReading, err = p.stderr.fileHandleForReading
        async let outData = readToEnd(out)
        async let errData = readToEnd(err)
        p.stdin.fileHandleForWriting.write(Data(input.utf8))
        try? p.stdin.fileHandleForWriting.close()
        let status = await p.wait(timeout: timeout)
        return CommandResult(status: status, stdout: String(decoding: await outData, as: UTF8.self),
                             stderr: String(decoding: await errData, as: UTF8.self))
    }
}

/// A process's exit, as an event: `fire` once from the termination handler; `status` waits for it.
final class ExitSignal: Sendable {
    private let state = Mutex<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))

    func fire(_ status: Int32) {
        let waiters = state.withLock { s -> [CheckedContinuation<Int32, Never>] in
            s.status = status
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: status) }
    }

    var status: Int32 {
        get async {
            await withCheckedContinuation { c in
                let known = state.withLock { s -> Int32? in
                    if let status = s.status { return status }
                    s.waiters.append(c)
                    return nil
                }
                if let known { c.resume(returning: known) }
            }
        }
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
