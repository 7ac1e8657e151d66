import ArgumentParser
import Foundation
import XLChatIndex
import XLChatPostgres
import XLChatServer

/// `xlchat store init|gc`: the PostgreSQL store shared by a team (issue 15).
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Set up or tidy the PostgreSQL store a team shares (--store / XLCHAT_STORE).",
        subcommands: [Init.self, GC.self])

    static func settings(_ engine: EngineOptions) throws -> PostgresSettings {
        let config = engine.configuration()
        guard let settings = try config.postgresSettings() else {
            throw ValidationError("no PostgreSQL store: give --store postgres://user:password@host:port/database (or XLCHAT_STORE)")
        }
        return settings
    }

    static func fail(_ error: any Error) -> ExitCode {
        let message = (error as? IndexError).map { "\($0.kind.rawValue): \($0.message)" } ?? "\(error)"
        FileHandle.standardError.write(Data("xlchat store: \(message)\n".utf8))
        return ExitCode(1)
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Create the xlchat schema and the read-only role in the store's database (idempotent).",
            discussion: "Run once per database, as a role that may create roles; as a superuser it also closes side-effecting functions and the system catalogs to the read-only role.")
        @OptionGroup var engine: EngineOptions

        func run() throws {
            let settings = try StoreCommand.settings(engine)
            do {
                for line in try PostgresTableStore.initialize(settings: settings) { print(line) }
                print("store ready: \(settings)")
            } catch {
                throw StoreCommand.fail(error)
            }
        }
    }

    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Drop the tables of workbooks nobody opened for N days.")
        @Option(help: "Days since a workbook was last opened.")
        var days: Int = 30
        @OptionGroup var engine: EngineOptions

        func validate() throws {
            if days < 0 { throw ValidationError("--days must be 0 or more") }
        }

        func run() throws {
            let settings = try StoreCommand.settings(engine)
            do {
                let dropped = try PostgresTableStore(settings: settings).collectGarbage(olderThanDays: days)
                print("dropped \(dropped.count) workbook\(dropped.count == 1 ? "" : "s") not opened for \(days) days")
            } catch {
                throw StoreCommand.fail(error)
            }
        }
    }
}
