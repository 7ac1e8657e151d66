import ArgumentParser
import Foundation
import JSONRPC
import Logging
import XLChatServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve JSON-RPC 2.0 on stdin/stdout (default) or on a unix socket.",
        discussion: """
            Frames are LSP-style (Content-Length) or, when the first byte is '{' or '[', one JSON \
            message per line. stdout carries frames only; logs go to stderr. See protocol/README.md.
            """)

    @Flag(help: "Serve on stdin/stdout (the default).")
    var stdio = false

    @Option(help: "Listen on a unix domain socket at this path (mode 0600), many clients at once.")
    var socket: String?

    @Option(name: .customLong("token-file"), help: "With --socket: a file holding a shared secret that clients must send as 'authToken' in 'initialize'.")
    var tokenFile: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @OptionGroup var engine: EngineOptions

    func validate() throws {
        if stdio && socket != nil { throw ValidationError("--stdio and --socket exclude each other") }
        if tokenFile != nil && socket == nil { throw ValidationError("--token-file needs --socket") }
    }

    func run() async throws {
        Logs.bootstrap(level: logLevel)
        let logger = Logger(label: "xlchat")
        var configuration = engine.configuration()
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                FileHandle.standardError.write(Data("xlchat: cannot read the token file \(tokenFile)\n".utf8))
                throw ExitCode.failure
            }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard token.count >= 16 else {
                FileHandle.standardError.write(Data("xlchat: the token in \(tokenFile) is shorter than 16 characters\n".utf8))
                throw ExitCode.failure
            }
            configuration.authToken = token
        }
        let server = XLChatServer(configuration: configuration, logger: logger)
        if let socket {
            try await serveSocket(server: server, path: socket, logger: logger)
        } else {
            let code = await serveStdio(server: server, logger: logger)
            Foundation.exit(code)
        }
    }

    private func serveStdio(server: XLChatServer, logger: Logger) async -> Int32 {
        let protocolFD = StandardIO.reserveStdoutForProtocol()
        let connection = Connection(source: FileDescriptorSource(fd: 0), sink: FileDescriptorSink(fd: protocolFD),
                                    logger: logger)
        let session = server.makeSession(for: connection)
        logger.debug("serving on stdio")
        await connection.run(handler: session)
        // `exit` after `shutdown` is 0, `exit` without it 1; end of input is a normal end (0).
        return session.exitCode ?? 0
    }

    private func serveSocket(server: XLChatServer, path: String, logger: Logger) async throws {
        signal(SIGPIPE, SIG_IGN)
        let listener: UnixSocketServer
        do {
            listener = try await UnixSocketServer.bind(path: path, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("xlchat: cannot listen on \(path): \(error)\n".utf8))
            throw ExitCode.failure
        }
        logger.info("listening on \(path)")
        let signals = [SIGINT, SIGTERM].map { sig -> any DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig)
            source.setEventHandler { Task { await listener.shutdown() } }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        try await listener.run { connection in server.makeSession(for: connection) }
        logger.info("stopped listening on \(path)")
    }
}
