// One SQL namespace over the workbooks of a folder (issue 12). Each workbook keeps its own
// index (built, reused by content hash, exactly as for one workbook); the workspace database
// holds a copy of every file's typed tables under its workspace name, the union views, and a
// manifest of the files it was built from (size and mtime, content hash, tables, error).
//
// Why copies and not ATTACH: SQLite attaches at most 10 databases (SQLITE_MAX_ATTACHED as
// Debian builds it), and a workspace has hundreds of files whose tables must join in one
// statement. A copy (`INSERT … SELECT` from one attached file at a time) costs about what
// reading the typed table back costs, and only changed files are copied again.
//
// A refresh never shows a half-done state: changed files are copied into staging tables
// first, then one transaction drops the old tables, renames the staging ones into place,
// rebuilds the union views and writes the manifest. A query during a refresh reads the last
// complete state (WAL readers), and `refreshing` lets the caller say so.
import Foundation
import GRDB
import Synchronization
import XLChatWorkbook

/// One file of a workspace, as the manifest holds it.
public struct WorkspaceEntry: Sendable, Hashable, Codable {
    public var relativePath: String
    public var size: Int64
    public var mtimeNs: Int64
    /// The workbook's content hash, when it was read.
    public var contentHash: String?
    /// Workspace names of its tables.
    public var tables: [String]
    /// Why the file could not be taken (corrupt, encrypted, too large, vanished); nil when fine.
    public var error: String?
    /// The error's kind as the engine named it (`corruptWorkbook`, `encryptedWorkbook`, …).
    public var errorKind: String?
}

/// A workspace table: its workspace name, the file and table it comes from, and its columns.
public struct WorkspaceTable: Sendable, Hashable, Codable {
    public var name: String
    public var relativePath: String
    public var sourceTable: String
    public var sheet: String
    public var columns: [String]
    public var rows: Int
}

/// What one refresh did.
public struct WorkspaceRefresh: Sendable {
    public var entries: [WorkspaceEntry]
    public var tables: [WorkspaceTable]
    public var unions: [WorkspaceUnion]
    public var delta: WorkspaceDelta
    public var problems: [WorkspaceProblem]
    public var truncation: String?
    /// Files read this time (added or changed); 0 when nothing changed.
    public var filesRead: Int
    public var durationMs: Double
}

/// A failure to read one workspace file, as the `build` callback reports it.
public struct WorkspaceFileError: Error, Sendable {
    public var kind: String
    public var message: String
    public init(kind: String, message: String) { self.kind = kind; self.message = message }
}

public final class WorkspaceIndex: @unchecked Sendable {
    public let root: String
    public let scanner: WorkspaceScanner
    let index: WorkbookIndex
    let path: String
    let db: DatabasePool
    private let refreshLock = Mutex<Bool>(false)
    /// Search parts kept open between `search` calls (within a byte budget).
    let searchCache: WorkspaceSearchCache

    /// Opens (or creates) the workspace database of `root` under the data directory
    /// (`workspaces/<sha256 of the folder's real path>.sqlite`). Throws `IndexError(.storage)`
    /// when it cannot be created. `searchCacheBytes`: the most memory (bytes) the search parts
    /// kept open between searches may hold (default 256 MB); parts past it are opened per search.
    public init(index: WorkbookIndex, root: String, scanner: WorkspaceScanner, searchCacheBytes: Int = 256 << 20) throws {
        self.index = index
        self.searchCache = WorkspaceSearchCache(budgetBytes: max(0, searchCacheBytes))
        self.root = root
        self.scanner = scanner
        let real = URL(fileURLWithPath: root).resolvingSymlinksInPath().standardizedFileURL.path
        let dir = index.dataDirectory.appendingPathComponent("workspaces")
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            path = dir.appendingPathComponent(ContentHash.sha256(string: real).prefix(32) + ".sqlite").path
            var config = Configuration()
            config.busyMode = .timeout(30)
            // WAL with synchronous=NORMAL: a commit does not wait for fsync (checkpoints do). A
            // power cut may lose the last refresh, never corrupt the file; the manifest rolls
            // back with the tables, so the next refresh redoes it. (The workspace database is
            // derived from the files and their indexes.)
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            db = try DatabasePool(path: path, configuration: config)
            try db.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS _ws_files(relative_path TEXT PRIMARY KEY, entry TEXT NOT NULL);
                    CREATE TABLE IF NOT EXISTS _ws_tables(name TEXT PRIMARY KEY, relative_path TEXT NOT NULL, info TEXT NOT NULL, mapping TEXT NOT NULL);
                    CREATE TABLE IF NOT EXISTS _ws_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    """)
            }
        } catch let e as IndexError {
            throw e
        } catch {
            throw IndexError(.storage, "cannot create the workspace database under \(dir.path): \(error)")
        }
    }

    /// True while a refresh runs (queries then answer from the last complete state).
    public var refreshing: Bool { refreshLock.withLock { $0 } }

    /// The manifest as last committed.
    public func entries() throws -> [WorkspaceEntry] {
        try db.read { db in
            try String.fetchAll(db, sql: "SELECT entry FROM _ws_files ORDER BY relative_path").map {
                try JSONDecoder().decode(WorkspaceEntry.self, from: Data($0.utf8))
            }
        }
    }

    public func tables() throws -> [WorkspaceTable] {
        try db.read { db in
            try String.fetchAll(db, sql: "SELECT info FROM _ws_tables ORDER BY relative_path, rowid").map {
                try JSONDecoder().decode(WorkspaceTable.self, from: Data($0.utf8))
            }
        }
    }

    public func unions() throws -> [WorkspaceUnion] {
        try db.read { db in
            guard let text = try String.fetchOne(db, sql: "SELECT value FROM _ws_meta WHERE key = 'unions'") else { return [] }
            return try JSONDecoder().decode([WorkspaceUnionRecord].self, from: Data(text.utf8)).map(\.union)
        }
    }

    /// A key of the last complete state: the files and the content hash (or error) of each.
    /// Changes whenever a refresh commits a different set of files or contents; the same
    /// files with the same contents give the same key (the analyst's answer cache uses it).
    public func stateKey() throws -> String {
        let parts = try entries().map { "\($0.relativePath)\u{1}\($0.contentHash ?? "")\u{1}\($0.error ?? "")" }
        return "ws:" + ContentHash.sha256(string: parts.joined(separator: "\u{1F}"))
    }

    /// The outline of a file of the workspace, as its workbook index stored it at build time
    /// (nil for a file that could not be read, or an index without one). Reads only the
    /// index, never the workbook. Throws `IndexError` when the index cannot be opened.
    public func outline(of entry: WorkspaceEntry) throws -> WorkbookOutline? {
        guard let hash = entry.contentHash, entry.error == nil else { return nil }
        return try index.loadedIndex(hash).outline
    }

    /// The engine's way to index one workspace file: `WorkbookIndex.open` (one pass for the
    /// outline and the typed tables; the search part is left for the first search), with a
    /// file that cannot be read reported as `WorkspaceFileError`. Returns its content hash.
    public func defaultBuilder(isCancelled: @escaping @Sendable () -> Bool = { false }) -> @Sendable (WorkspaceFile) async throws -> String {
        let index = self.index
        return { file in
            do {
                return try index.open(path: file.path, isCancelled: isCancelled).outline.contentHash
            } catch let e as WorkbookError {
                throw WorkspaceFileError(kind: e.kind.rawValue, message: e.message)
            }
        }
    }

    /// Brings the workspace up to date with the folder. Scans it (stat only); for each file
    /// added or changed since the last refresh, calls `build`, which must open the file and
    /// build its workbook index and return its content hash (throwing `WorkspaceFileError`
    /// for a file that cannot be read; the others go on). Unchanged files are not read.
    /// `progress(done, total, message)` follows the files. Throws `WorkspaceScanError` when
    /// the folder itself cannot be scanned, `IndexError(.storage)` when the workspace database
    /// cannot be written, `CancellationError` when cancelled (the last complete state stays).
    public func refresh(build: (WorkspaceFile) async throws -> String,
                        progress: ((Int, Int, String) -> Void)? = nil) async throws -> WorkspaceRefresh {
        let started = DispatchTime.now().uptimeNanoseconds
        refreshLock.withLock { $0 = true }
        defer { refreshLock.withLock { $0 = false } }
        let listing = try scanner.scan(root)
        var manifest = Dictionary(try entries().map { ($0.relativePath, $0) }, uniquingKeysWith: { a, _ in a })
        let known = manifest.values.map { WorkspaceFile(path: root + "/" + $0.relativePath, relativePath: $0.relativePath, size: $0.size, mtimeNs: $0.mtimeNs) }
        let delta = WorkspaceDelta.between(known, listing.files)
        let toRead = delta.added + delta.changed
        if toRead.isEmpty && delta.removed.isEmpty {
            // Nothing changed: the committed state is current; write nothing. (Measured: a reopen
            // of 501 files took 13.6 s CPU when it rewrote the namespace anyway, 1,002 ALTER
            // TABLE RENAMEs each rewriting the schema.) Only views of an older shape are remade.
            try upgradeViews()
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            return WorkspaceRefresh(entries: manifest.keys.sorted().map { manifest[$0]! }, tables: try tables(), unions: try unions(),
                                    delta: delta, problems: listing.problems, truncation: listing.truncation, filesRead: 0, durationMs: ms)
        }
        var createdTables: [String] = []
        defer {
            // Copies left by a failure or a cancel (not in the committed state).
            if !createdTables.isEmpty {
                try? db.write { db in for t in createdTables { try db.execute(sql: "DROP TABLE IF EXISTS \(Self.quote(t))") } }
            }
        }
        // 1. Index each added or changed file, one at a time (memory follows the largest file).
        //    Its typed tables stay in its own index file for now: the workspace's names are
        //    known only once every file's tables are.
        var staged: [String: (tables: [TableMapping], indexPath: String)] = [:]
        for (i, file) in toRead.enumerated() {
            try Task.checkCancellation()
            progress?(i, toRead.count, "reading \(file.relativePath)")
            var entry = WorkspaceEntry(relativePath: file.relativePath, size: file.size, mtimeNs: file.mtimeNs, contentHash: nil, tables: [], error: nil, errorKind: nil)
            do {
                let hash = try await build(file)
                let loaded = try index.loadedIndex(hash)
                entry.contentHash = hash
                staged[file.relativePath] = (loaded.tables, loaded.path)
            } catch is CancellationError {
                throw CancellationError()
            } catch let e as WorkspaceFileError {
                entry.error = e.message; entry.errorKind = e.kind
            } catch let e as IndexError {
                entry.error = e.message; entry.errorKind = e.kind.rawValue
            } catch {
                entry.error = "\(error)"; entry.errorKind = "internal"
            }
            manifest[file.relativePath] = entry
        }
        for gone in delta.removed { manifest[gone] = nil }
        progress?(toRead.count, toRead.count, "updating the workspace's tables")

        // 2. Names over every file's tables (stable for the same set of paths).
        struct Origin { var relativePath: String; var mapping: TableMapping; var sourceTable: String; var indexPath: String?; var oldName: String? }
        let current = try tables()
        let currentByFile = Dictionary(grouping: current, by: \.relativePath)
        let currentMappings = try await db.read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT name, mapping FROM _ws_tables").map {
                (String($0[0]) as String, try JSONDecoder().decode(TableMapping.self, from: Data((String($0[1]) as String).utf8)))
            }, uniquingKeysWith: { a, _ in a })
        }
        var origins: [Origin] = []
        for rel in manifest.keys.sorted() {
            if let s = staged[rel] {
                for t in s.tables { origins.append(Origin(relativePath: rel, mapping: t, sourceTable: t.name, indexPath: s.indexPath, oldName: nil)) }
            } else if manifest[rel]?.error == nil {
                for t in currentByFile[rel] ?? [] {
                    guard let m = currentMappings[t.name] else { continue }
                    origins.append(Origin(relativePath: rel, mapping: m, sourceTable: t.sourceTable, indexPath: nil, oldName: t.name))
                }
            }
        }
        let namespace = WorkspaceNames.assign(origins.map {
            WorkspaceTableSource(relativePath: $0.relativePath, table: $0.sourceTable, columns: $0.mapping.columnOrder)
        })

        // 3. Copy the new tables in. A table whose workspace name is free goes straight under
        //    it (no rename later: each ALTER TABLE RENAME re-parses the whole schema, so on a
        //    first open of 500 files the two-step renames of every table were quadratic); one
        //    whose name is still taken by the committed state goes to a staging name.
        let committedNames = Set(current.map { $0.name.lowercased() })
        let existing = try await db.read { db in
            Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'").map { $0.lowercased() })
        }
        // Tables a crashed or cancelled refresh left behind (not in the committed state).
        let leftovers = existing.filter { !committedNames.contains($0) && !$0.hasPrefix("_ws_") && !$0.hasPrefix("sqlite_") }
            .union(existing.filter { $0.hasPrefix("_ws_staging_") || $0.hasPrefix("_ws_rename_") })
        if !leftovers.isEmpty {
            try await db.write { db in for t in leftovers { try db.execute(sql: "DROP TABLE IF EXISTS \(Self.quote(t))") } }
        }
        var copies: [(source: String, table: String, target: String)] = []
        var placed: [Int: String] = [:]   // origin -> the table holding its copy
        for (i, o) in origins.enumerated() where o.indexPath != nil {
            let target = committedNames.contains(namespace.names[i].lowercased()) ? "_ws_staging_\(i)" : namespace.names[i]
            copies.append((o.indexPath!, o.sourceTable, target))
            placed[i] = target
        }
        createdTables = copies.map(\.target)
        try copyTables(copies)

        let tableOf = Dictionary(origins.indices.map { (namespace.names[$0], origins[$0]) }, uniquingKeysWith: { a, _ in a })
        var newTables: [WorkspaceTable] = []
        var newMappings: [TableMapping] = []
        for (i, o) in origins.enumerated() {
            var m = o.mapping
            m.name = namespace.names[i]
            newMappings.append(m)
            newTables.append(WorkspaceTable(name: m.name, relativePath: o.relativePath, sourceTable: o.sourceTable,
                                            sheet: m.sheet, columns: m.columnOrder, rows: m.rows))
        }
        for rel in manifest.keys { manifest[rel]!.tables = newTables.filter { $0.relativePath == rel }.map(\.name) }
        let finalManifest = manifest, finalOrigins = origins, finalTables = newTables, finalMappings = newMappings, finalPlaced = placed

        // 4. One transaction: old tables out, staged and renamed ones in, views, manifest.
        do {
            try await db.write { db in
                let origins = finalOrigins, newTables = finalTables, newMappings = finalMappings
                for v in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'view'") {
                    try db.execute(sql: "DROP VIEW \(Self.quote(v))")
                }
                let keep = Set(origins.compactMap(\.oldName))
                for t in current where !keep.contains(t.name) { try db.execute(sql: "DROP TABLE IF EXISTS \(Self.quote(t.name))") }
                // Renames in two steps, so a name moving from one table to another never clashes;
                // a table already under its name is not touched.
                var moving: [Int] = []
                for (i, o) in origins.enumerated() {
                    let at = finalPlaced[i] ?? o.oldName!
                    guard at != namespace.names[i] else { continue }
                    try db.execute(sql: "ALTER TABLE \(Self.quote(at)) RENAME TO \(Self.quote("_ws_rename_\(i)"))")
                    moving.append(i)
                }
                for i in moving {
                    try db.execute(sql: "ALTER TABLE \(Self.quote("_ws_rename_\(i)")) RENAME TO \(Self.quote(namespace.names[i]))")
                }
                try db.execute(sql: "DELETE FROM _ws_tables")
                for (t, m) in zip(newTables, newMappings) {
                    try db.execute(sql: "INSERT INTO _ws_tables(name, relative_path, info, mapping) VALUES (?, ?, ?, ?)",
                                   arguments: [t.name, t.relativePath, Self.json(t), Self.json(m)])
                }
                try Self.createViews(db, unions: namespace.unions,
                                     tables: Dictionary(newTables.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }),
                                     rowColumns: Dictionary(newMappings.map { ($0.name, $0.rowColumn) }, uniquingKeysWith: { a, _ in a }))
                try db.execute(sql: "INSERT OR REPLACE INTO _ws_meta(key, value) VALUES ('unions', ?)",
                               arguments: [Self.json(namespace.unions.map(WorkspaceUnionRecord.init))])
                try db.execute(sql: "DELETE FROM _ws_files")
                for (rel, e) in finalManifest {
                    try db.execute(sql: "INSERT INTO _ws_files(relative_path, entry) VALUES (?, ?)", arguments: [rel, Self.json(e)])
                }
            }
            createdTables = []
        } catch let e as DatabaseError {
            throw IndexError(.storage, "cannot update the workspace database: \(e.message ?? "\(e)")")
        }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        return WorkspaceRefresh(entries: manifest.keys.sorted().map { manifest[$0]! }, tables: newTables, unions: namespace.unions,
                                delta: delta, problems: listing.problems, truncation: listing.truncation,
                                filesRead: toRead.count, durationMs: ms)
    }

    /// The shape of the union views: 2 = `_file`, `_row`, then the shared columns (1 had no
    /// `_row`, so a view's rows could not be cited); 3 = unions only over one export (the same
    /// columns and the same name once dates are out: `WorkspaceNames.assign`).
    static let viewsVersion = "3"

    /// Creates the union views: `_file` (the member's file, relative to the folder), `_row`
    /// (the member's sheet row, so a view's row cites its cells), then the shared columns.
    static func createViews(_ db: Database, unions: [WorkspaceUnion], tables: [String: WorkspaceTable], rowColumns: [String: String]) throws {
        for u in unions {
            let selects = u.members.map { member -> String in
                let t = tables[member]
                let cols = u.columns.map { quote(column(named: $0, in: t?.columns ?? [])) }
                return "SELECT \(literal(t?.relativePath ?? member)) AS _file, \(quote(rowColumns[member] ?? "_row")) AS _row, "
                    + cols.joined(separator: ", ") + " FROM \(quote(member))"
            }
            try db.execute(sql: "CREATE VIEW \(quote(u.name))(_file, _row, \(u.columns.map(quote).joined(separator: ", "))) AS "
                           + selects.joined(separator: " UNION ALL "))
        }
        try db.execute(sql: "INSERT OR REPLACE INTO _ws_meta(key, value) VALUES ('views', ?)", arguments: [viewsVersion])
    }

    /// Remakes the union views of a database written with an older view shape (one write).
    private func upgradeViews() throws {
        do {
            try db.write { db in
                guard try String.fetchOne(db, sql: "SELECT value FROM _ws_meta WHERE key = 'views'") != Self.viewsVersion else { return }
                for v in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'view'") {
                    try db.execute(sql: "DROP VIEW \(Self.quote(v))")
                }
                var tables: [String: WorkspaceTable] = [:], rowColumns: [String: String] = [:]
                var sources: [WorkspaceTableSource] = [], stored: [String] = []
                for row in try Row.fetchAll(db, sql: "SELECT name, info, mapping FROM _ws_tables ORDER BY relative_path, rowid") {
                    let name: String = row[0]
                    let table = try JSONDecoder().decode(WorkspaceTable.self, from: Data((row[1] as String).utf8))
                    let mapping = try JSONDecoder().decode(TableMapping.self, from: Data((row[2] as String).utf8))
                    tables[name] = table
                    rowColumns[name] = mapping.rowColumn
                    sources.append(WorkspaceTableSource(relativePath: table.relativePath, table: table.sourceTable, columns: mapping.columnOrder))
                    stored.append(name)
                }
                // The unions as today's rule makes them, over the tables under their stored names.
                let namespace = WorkspaceNames.assign(sources)
                let storedName = Dictionary(zip(namespace.names, stored), uniquingKeysWith: { a, _ in a })
                let unions = namespace.unions.map { u in
                    WorkspaceUnion(name: u.name, members: u.members.map { storedName[$0] ?? $0 }, columns: u.columns)
                }
                try Self.createViews(db, unions: unions, tables: tables, rowColumns: rowColumns)
                try db.execute(sql: "INSERT OR REPLACE INTO _ws_meta(key, value) VALUES ('unions', ?)",
                               arguments: [Self.json(unions.map(WorkspaceUnionRecord.init))])
            }
        } catch let e as DatabaseError {
            throw IndexError(.storage, "cannot update the workspace's views: \(e.message ?? "\(e)")")
        }
    }

    /// Runs one read-only SELECT over the workspace's tables and union views, with the same
    /// guards as a workbook query (`ReadOnlyQuery`: read-only, time budget, bounded reply,
    /// join fan-out warnings). `files[i]` is the file of `sourceRanges[i]` when it is set.
    /// Throws `IndexError(.invalidQuery / .queryTimeout)`, `CancellationError`.
    public func query(sql: String, limit: Int = 500, timeout: Double = 3, limits: QueryLimits = .default,
                      isCancelled: (@Sendable () -> Bool)? = nil) throws -> (result: QueryResult, files: [String?]) {
        let (mappings, fileOf) = try db.read { db -> ([TableMapping], [String: String]) in
            var out: [TableMapping] = []
            var files: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, relative_path, mapping FROM _ws_tables ORDER BY rowid") {
                out.append(try JSONDecoder().decode(TableMapping.self, from: Data(String(row[2]).utf8)))
                files[String(row[0]).lowercased()] = row[1]
            }
            return (out, files)
        }
        let result = try ReadOnlyQuery.run(path: path, sql: sql, limit: max(0, limit), timeout: timeout, tables: mappings,
                                           limits: limits, isCancelled: isCancelled)
        let file = result.citedTable.flatMap { fileOf[$0.lowercased()] }
        return (result, result.sourceRanges.map { $0 == nil ? nil : file })
    }

    /// Source index files attached per copy transaction (SQLite attaches at most 10).
    static let filesPerCopy = 8

    /// Copies each `table` of the index file `source` into a new table `target` of the
    /// workspace database: up to `filesPerCopy` files attached at once and copied in one
    /// transaction. The target keeps the source's declaration (`_row INTEGER PRIMARY KEY`,
    /// the declared types), so the copy is a straight b-tree append.
    private func copyTables(_ copies: [(source: String, table: String, target: String)]) throws {
        let bySource = Dictionary(grouping: copies, by: \.source)
        let sources = bySource.keys.sorted()
        var start = 0
        while start < sources.count {
            let batch = Array(sources[start..<min(start + Self.filesPerCopy, sources.count)])
            start += batch.count
            do {
                try db.writeWithoutTransaction { db in
                    for (k, source) in batch.enumerated() {
                        try db.execute(sql: "ATTACH DATABASE ? AS \(Self.quote("src\(k)"))", arguments: [source])
                    }
                    defer { for k in batch.indices { try? db.execute(sql: "DETACH DATABASE \(Self.quote("src\(k)"))") } }
                    try db.inTransaction {
                        for (k, source) in batch.enumerated() {
                            let schema = Self.quote("src\(k)")
                            for c in bySource[source] ?? [] {
                                let ddl = try String.fetchOne(db, sql: "SELECT sql FROM \(schema).sqlite_master WHERE type = 'table' AND name = ?",
                                                              arguments: [c.table])
                                let prefix = "CREATE TABLE \(Self.quote(c.table)) "
                                try db.execute(sql: "DROP TABLE IF EXISTS main.\(Self.quote(c.target))")
                                if let ddl, ddl.hasPrefix(prefix) {
                                    try db.execute(sql: "CREATE TABLE main.\(Self.quote(c.target)) " + ddl.dropFirst(prefix.count))
                                    try db.execute(sql: "INSERT INTO main.\(Self.quote(c.target)) SELECT * FROM \(schema).\(Self.quote(c.table))")
                                } else {
                                    try db.execute(sql: "CREATE TABLE main.\(Self.quote(c.target)) AS SELECT * FROM \(schema).\(Self.quote(c.table))")
                                }
                            }
                        }
                        return .commit
                    }
                }
            } catch let e as DatabaseError {
                throw IndexError(.storage, "cannot copy tables into the workspace: \(e.message ?? "\(e)")")
            }
        }
    }

    static func column(named lowered: String, in columns: [String]) -> String {
        columns.first { $0.lowercased() == lowered.lowercased() } ?? lowered
    }
    static func quote(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
    static func json<T: Encodable>(_ value: T) -> String { String(decoding: try! JSONEncoder().encode(value), as: UTF8.self) }
}

/// `WorkspaceUnion` as stored.
struct WorkspaceUnionRecord: Codable {
    var name: String
    var members: [String]
    var columns: [String]
    init(_ u: WorkspaceUnion) { name = u.name; members = u.members; columns = u.columns }
    var union: WorkspaceUnion { WorkspaceUnion(name: name, members: members, columns: columns) }
}
