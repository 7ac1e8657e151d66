// The thin command line: parses flags and hands over to the server or the engines.
import ArgumentParser
import XLChatServer

@main
struct XLChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xlchat",
        abstract: "Ask questions about your spreadsheets, locally.",
        discussion: """
            xlchat reads xlsx, xlsm, xlsb, xls, ods, csv and tsv files, indexes them in SQLite, and answers \
            questions with a local model (Ollama or an OpenAI-compatible server), citing the cells \
            every answer rests on. Editors and scripts talk to it with `xlchat serve` (JSON-RPC 2.0).
            """,
        version: XLChatVersion.long,
        subcommands: [
            ServeCommand.self, OpenCommand.self, ReadCommand.self, QueryCommand.self, IndexCommand.self, AskCommand.self, EvalCommand.self,
            MCPCommand.self, DoctorCommand.self, StoreCommand.self, TraceCommand.self, CompletionsCommand.self,
        ]
    )
}

