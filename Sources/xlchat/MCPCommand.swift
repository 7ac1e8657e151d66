import ArgumentParser
import Foundation
import JSONRPC
import Logging
import XLChatMCP
import XLChatServer

struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve xlchat's engine as Model Context Protocol tools on stdin/stdout.",
        discussion: """
            For agent hosts (Claude Desktop, Zed, Cursor, ...): one JSON-RPC message per line, MCP revisions \
            2024-11-05 and 2025-03-26. Tools: open_workbook, outline, read_range, query, search; failures come \
            back as tool results with isError and the error's kind. stdout carries frames only; logs go to stderr.
            """)

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .warning

    @OptionGroup var engine: EngineOptions

    func run() async throws {
        Logs.bootstrap(level: logLevel)
        signal(SIGPIPE, SIG_IGN)
        let logger = Logger(label: "xlchat.mcp")
        let server = XLChatServer(configuration: engine.configuration(), logger: logger)
        let protocolFD = StandardIO.reserveStdoutForProtocol()
        var options = Connection.Options()
        options.framing = .newlineDelimited  // MCP's stdio transport: always one message per line
        let connection = Connection(source: FileDescriptorSource(fd: 0), sink: FileDescriptorSink(fd: protocolFD),
                                    options: options, logger: logger)
        let session = MCPSession(server: server, connection: connection)
        await connection.run(handler: session)
        // The client ends an MCP stdio session by closing our stdin: a normal end.
        Foundation.exit(0)
    }
}
