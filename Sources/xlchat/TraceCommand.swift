import ArgumentParser
import Foundation
import XLChatProtocol
import XLChatServer

/// `xlchat trace FILE 'Sheet!F20'`: how a cell is computed, as a tree (workbook/trace).
struct TraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace", abstract: "Print how a cell is computed: its formula, its precedents as a tree, and the cells that use it.")

    @Argument(help: "The workbook.") var file: String
    @Argument(help: "The cell, 'Sheet!F20' (or F20 when the workbook has one sheet).") var cell: String
    @Option(help: "Levels of precedents (1-10).") var depth = 3
    @Flag(help: "Print the workbook/trace result as JSON.") var json = false
    @OptionGroup var engine: EngineOptions

    func run() async throws {
        do {
            let (client, wb) = try await openLocally(file, engine: engine)
            var sheet: String
            var ref = cell
            if let bang = cell.lastIndex(of: "!") {
                sheet = String(cell[..<bang])
                if sheet.hasPrefix("'") && sheet.hasSuffix("'") && sheet.count >= 2 {
                    sheet = String(sheet.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
                }
                ref = String(cell[cell.index(after: bang)...])
            } else if wb.sheets.count == 1 {
                sheet = wb.sheets[0].name
            } else {
                throw ValidationError("say which sheet: 'Sheet!\(cell)' (the sheets are: \(wb.sheets.map(\.name).joined(separator: ", ")))")
            }
            let result = try await client.send(WorkbookTraceRequest(workbookId: wb.workbookId, sheet: sheet, cell: ref, depth: depth))
            if json { try Output.json(result); return }
            Self.printTree(result.cell, prefix: "", last: true, root: true)
            if result.dependents.isEmpty {
                print("\nUsed by: no formula in the workbook")
            } else {
                print("\nUsed by\(result.dependentsTruncated ? " (first \(result.dependents.count))" : ""):")
                for d in result.dependents { print("  " + Self.line(d)) }
            }
        } catch let e as ValidationError { throw e } catch { throw Output.fail(error) }
    }

    static func line(_ e: TraceEntry) -> String {
        var s: String
        switch e.kind {
        case "name": s = "\(e.name ?? "") (name)" + (e.ref.isEmpty ? "" : " = \(e.ref)")
        case "range": s = e.ref
        default:
            s = e.ref
            if let f = e.formula { s += "  =" + f }
            if let v = e.value { s += "  → " + text(v) + (e.computed ? "  (computed: no value saved in the file)" : "") }
        }
        if !e.dynamic.isEmpty { s += "  [uses \(e.dynamic.joined(separator: ", "))]" }
        if e.truncated { s += "  …" }
        return s
    }

    static func text(_ v: JSONValue) -> String {
        switch v {
        case .null: return "(empty)"
        case let .string(s): return "\"\(s)\""
        case let .int(i): return String(i)
        case let .double(d): return String(d)
        case let .bool(b): return b ? "TRUE" : "FALSE"
        default: return v["error"]?.stringValue ?? "\(v)"
        }
    }

    static func printTree(_ e: TraceEntry, prefix: String, last: Bool, root: Bool = false) {
        print(root ? line(e) : prefix + (last ? "└─ " : "├─ ") + line(e))
        let childPrefix = root ? "" : prefix + (last ? "   " : "│  ")
        for (i, p) in e.precedents.enumerated() { printTree(p, prefix: childPrefix, last: i == e.precedents.count - 1) }
    }
}
