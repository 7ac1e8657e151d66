import ArgumentParser
import Foundation
import Logging
import XLChatProtocol
import XLChatServer
import XLChatWorkbook

/// Opens FILE through an in-process session (the same handlers as `xlchat serve`).
func openLocally(_ file: String, engine: EngineOptions, progress: ProgressLine? = nil) async throws -> (LocalClient, WorkbookOpenResult) {
    Logs.bootstrap(level: .error)
    let client = try await LocalClient(configuration: engine.configuration()) { notification in
        progress?.handle(notification)
    }
    let wb = try await client.send(WorkbookOpenRequest(path: file))
    return (client, wb)
}

struct OpenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open", abstract: "Print a workbook's outline: sheets, used ranges, tables and their columns.")

    @Argument(help: "The workbook (\(WorkbookFormat.list)), or a folder (its workspace: every workbook under it).") var file: String
    @Flag(help: "Print the outline as JSON (the workbook/open result, or workspace/open's for a folder).") var json = false
    @OptionGroup var engine: EngineOptions

    func run() async throws {
        do {
            if isFolder(file) {
                let (_, ws) = try await openWorkspaceLocally(file, engine: engine)
                if json { try Output.json(ws); return }
                print("\(ws.root)  (workspace: \(ws.workbooks.count) files, \(ws.tables.count) tables, \(ws.filesRead) read now)")
                for t in ws.tables { print("  \(t.name): \(t.file) › \(t.sheet), \(t.rows) rows: \(t.columns.joined(separator: ", "))") }
                for u in ws.unions { print("  \(u.name): union of \(u.members.count) tables (\(u.members.prefix(3).joined(separator: ", "))\(u.members.count > 3 ? ", …" : "")), with _file") }
                return
            }
            let (_, wb) = try await openLocally(file, engine: engine)
            if json { try Output.json(wb); return }
            print("\(wb.path)  (\(wb.format), \(wb.sheets.count) sheet\(wb.sheets.count == 1 ? "" : "s"))")
            for s in wb.sheets {
                var flags: [String] = []
                if s.kind != "worksheet" { flags.append(s.kind) }
                if s.hidden { flags.append(s.visibility) }
                let size = s.range.map { "\($0), \(s.rows) rows x \(s.columns) columns" } ?? "empty"
                print("\nSheet \(s.index + 1): \(s.name)  [\(size)]\(flags.isEmpty ? "" : "  (" + flags.joined(separator: ", ") + ")")")
                if !s.mergedRanges.isEmpty { print("  merged: \(s.mergedRanges.prefix(8).joined(separator: ", "))\(s.mergedRanges.count > 8 ? ", …" : "")") }
                for w in s.warnings { print("  warning: \(w)") }
                for t in s.tables {
                    let source = t.source == "listObject" ? " (Excel table)" : ""
                    print("  table \(t.name)\(source): header \(t.headerRange ?? "none"), data \(t.dataRange ?? "none")")
                    if !t.excludedRows.isEmpty {
                        print("  not data: " + t.excludedRows.prefix(8).map { "row \($0.row) (\($0.kind): \($0.evidence))" }.joined(separator: ", ")
                              + (t.excludedRows.count > 8 ? ", …" : ""))
                    }
                    if t.parts.count > 1 {
                        print("  SQL tables: " + t.parts.map { "\($0.name) (\($0.columns))" }.joined(separator: ", ") + ", joined on _row")
                    }
                    Output.table(header: ["column", "from", "type", "NULL", "header"],
                                 rows: t.columns.map { c in
                                     let nulled = c.nulled == 0 ? "" : "\(c.nulled)" + (c.nulledExamples.isEmpty ? ""
                                         : " (" + c.nulledExamples.map { "\"\($0)\"" }.joined(separator: ", ") + ")")
                                     return [c.name, c.column, c.type, nulled, c.header]
                                 })
                    // The typing rules in full (the plain ones, "number" and "text", go without saying).
                    for c in t.columns where c.rule != "number" && c.rule != "text" { print("  \(c.name): \(c.rule)") }
                }
            }
            if !wb.definedNames.isEmpty {
                print("\nDefined names:")
                for n in wb.definedNames { print("  \(n.name) = \(n.refersTo)\(n.sheet.map { " (local to \($0))" } ?? "")") }
            }
            if let f = wb.formulas {
                print("\nFormulas saved without a value: \(f.computed) computed by xlchat, \(f.notComputed) could not be"
                      + (f.volatile > 0 ? "; \(f.volatile) use TODAY/NOW (value as of now)" : ""))
                for p in f.problems.prefix(10) { print("  \(p.cell)  =\(p.formula)  (\(p.reason))") }
            }
        } catch { throw Output.fail(error) }
    }
}

struct ReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read", abstract: "Print a sheet's cells (the used range, or RANGE) as a table.")

    @Argument(help: "The workbook.") var file: String
    @Argument(help: "The sheet's name.") var sheet: String
    @Argument(help: "An A1 range such as B2:D9 (default: the used range).") var range: String?
    @Option(help: "At most this many rows.") var limit = 1000
    @Flag(help: "Show formula cells as their formula (=A1*2) instead of their value.") var formulas = false
    @Flag(help: "Print the workbook/read result as JSON.") var json = false
    @OptionGroup var engine: EngineOptions

    func run() async throws {
        do {
            let (client, wb) = try await openLocally(file, engine: engine)
            var r = try await client.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: sheet, range: range, limit: limit,
                                                              formulas: formulas ? true : nil))
            if json { try Output.json(r); return }
            if formulas {
                // A formula cell shows its formula (or, when it did not decode, its value and why).
                r.rows = r.rows.map { $0.map { cell in
                    guard case .object(let o) = cell, let v = o["value"] else { return cell }
                    if case .string(let f)? = o["formula"] { return .string(f) }
                    if case .string(let e)? = o["formulaError"] { FileHandle.standardError.write(Data("\(e)\n".utf8)) }
                    return v
                } }
            }
            guard let covered = r.range, let parsed = A1.parseRange(covered)?.range else { print("(empty)"); return }
            let header = [""] + (0..<parsed.columnCount).map { A1.columnName(parsed.start.column + $0) }
            let rows = r.rows.enumerated().map { i, row in [String(parsed.start.row + 1 + i)] + row.map(Output.text) }
            Output.table(header: header, rows: rows)
            if r.truncated { FileHandle.standardError.write(Data("(first \(r.rows.count) rows; --limit for more)\n".utf8)) }
        } catch { throw Output.fail(error) }
    }
}

struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "Run read-only SQL over the workbook's tables (as `xlchat open` names them), or over every workbook of a folder.")

    @Argument(help: "The workbook, or a folder (every workbook under it, one SQL namespace).") var file: String
    @Argument(help: "A SELECT over the tables; each has _row, the sheet row.") var sql: String
    @Option(help: "At most this many rows.") var limit = 500
    @Flag(help: "Print the workbook/query result as JSON.") var json = false
    @OptionGroup var engine: EngineOptions

    func run() async throws {
        do {
            if isFolder(file) { try await runWorkspace(); return }
            let progress = ProgressLine()
            let (client, wb) = try await openLocally(file, engine: engine, progress: progress)
            _ = try await client.send(IndexBuildRequest(workbookId: wb.workbookId, workDoneToken: .string("index")))
            progress.close()
            let r = try await client.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: sql, limit: limit))
            if json { try Output.json(r); return }
            let cite = r.ranges.contains { $0 != nil }
            Output.table(header: r.columns + (cite ? ["cells"] : []),
                         rows: r.rows.enumerated().map { i, row in row.map(Output.text) + (cite ? [r.ranges[i] ?? ""] : []) })
            for w in r.warnings ?? [] { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
            FileHandle.standardError.write(Data("(\(r.rows.count) row\(r.rows.count == 1 ? "" : "s")\(r.truncated ? ", truncated" : ""), \(String(format: "%.1f", r.durationMs)) ms)\n".utf8))
        } catch { throw Output.fail(error) }
    }
}

extension QueryCommand {
    /// `xlchat query DIR 'SQL'`: workspace/open of the folder, then workspace/query.
    func runWorkspace() async throws {
        let (client, ws) = try await openWorkspaceLocally(file, engine: engine)
        let r = try await client.send(WorkspaceQueryRequest(workspaceId: ws.workspaceId, sql: sql, limit: limit))
        if json { try Output.json(r); return }
        let cite = r.citations.contains { $0 != nil }
        Output.table(header: r.columns + (cite ? ["cells"] : []), rows: r.rows.enumerated().map { i, row in
            row.map(Output.text) + (cite ? [r.citations[i].map { "\($0.file) › \(A1.quoteSheet($0.sheet))!\($0.range)" } ?? ""] : [])
        })
        for w in r.warnings ?? [] { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        if let stale = r.stale { FileHandle.standardError.write(Data("(\(stale))\n".utf8)) }
        FileHandle.standardError.write(Data("(\(r.rows.count) row\(r.rows.count == 1 ? "" : "s")\(r.truncated ? ", truncated" : ""), \(String(format: "%.1f", r.durationMs)) ms)\n".utf8))
    }
}

func isFolder(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
}

/// workspace/open of `folder` in-process, with a progress line; files that could not be read
/// are named on stderr (the rest work).
func openWorkspaceLocally(_ folder: String, engine: EngineOptions) async throws -> (LocalClient, WorkspaceOpenResult) {
    let progress = ProgressLine()
    Logs.bootstrap(level: .error)
    let client = try await LocalClient(configuration: engine.configuration()) { notification in progress.handle(notification) }
    let ws = try await client.send(WorkspaceOpenRequest(path: folder, workDoneToken: .string("workspace")))
    progress.close()
    for w in ws.workbooks where w.status == "error" {
        FileHandle.standardError.write(Data("not read: \(w.path): \(w.errorKind ?? "error"): \(w.error ?? "")\n".utf8))
    }
    for p in ws.problems { FileHandle.standardError.write(Data("skipped: \(p.path): \(p.message)\n".utf8)) }
    if let t = ws.truncated { FileHandle.standardError.write(Data("\(t)\n".utf8)) }
    return (client, ws)
}

struct IndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index", abstract: "Build (or reuse) a workbook's index; with --search, search it.")

    @Argument(help: "The workbook.") var file: String
    @Option(help: "Search the index for this text.") var search: String?
    @Flag(help: "Rebuild even if nothing changed.") var force = false
    @Flag(help: "Print results as JSON.") var json = false
    @OptionGroup var engine: EngineOptions

    func run() async throws {
        do {
            let progress = ProgressLine()
            let (client, wb) = try await openLocally(file, engine: engine, progress: progress)
            let built = try await client.send(IndexBuildRequest(workbookId: wb.workbookId, workDoneToken: .string("index"), force: force))
            progress.close()
            guard let search else {
                if json { try Output.json(built); return }
                print("\(built.reused ? "reused" : "built") index of \(wb.path): \(built.chunks) chunks, embedder \(built.embeddingModel), \(String(format: "%.0f", built.durationMs)) ms")
                return
            }
            let hits = try await client.send(IndexSearchRequest(workbookId: wb.workbookId, query: search))
            if json { try Output.json(hits); return }
            Output.table(header: ["ref", "score", "text"], rows: hits.results.map { [$0.ref, String(format: "%.3f", $0.score), $0.text] }, maxWidth: 90)
        } catch { throw Output.fail(error) }
    }
}

