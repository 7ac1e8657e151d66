// The typed tables of workbooks in PostgreSQL, shared by every xlchat of a team (issue 15).
//
// Layout in the store's database:
//   xlchat.workbooks          one row per built content hash: its schema, the outline and the
//                             table mappings (so a process that never read the file can serve
//                             it), when it was built and last opened.
//   xlchat.settings           the reader role's name and password (readable by the owner only).
//   xl_<hash, 56 hex>         one schema per workbook content hash: its typed tables.
//   xs_<hash, 40 hex>_<rand>  a build in progress (never registered, never readable).
// Builds: a session advisory lock on the hash (so one process builds and the others wait, then
// reuse; a builder that dies releases it with its connection), the tables COPYed into a staging
// schema, then one transaction drops any old schema, renames the staging one into place, grants
// the reader and registers it. A half-build is never visible.
// Queries run on a connection of the reader role (SELECT on the workbook schemas only), in a
// READ ONLY transaction with `statement_timeout` and `search_path` = the workbook's schema,
// through `DECLARE ... CURSOR FOR` (which takes only SELECT or VALUES) and FETCHes that stop at
// the row and byte limits.
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization
import XLChatIndex
import XLChatWorkbook

public final class PostgresTableStore: SharedTableStore, @unchecked Sendable {
    public let settings: PostgresSettings
    public var dialect: SQLDialect { .postgresql }
    /// Bumped with `WorkbookIndex`'s schema: a row built under another version is rebuilt.
    /// pg2: SQL names at most 63 bytes in the outline itself (`SQLIdentifier`), index schema 4.
    static let layoutVersion = "pg2"
    /// The SELECT-only login role of a database: roles are the cluster's, the reader's
    /// password is kept per database, so each database has its own (`xlchat_reader` for the
    /// database `xlchat`, `xlchat_reader_<database>` for others).
    static func readerRole(_ settings: PostgresSettings) -> String {
        if settings.database == "xlchat" { return "xlchat_reader" }
        let safe = String(settings.database.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
        return String(("xlchat_reader_" + safe).prefix(63))
    }
    /// The NOLOGIN group role a team's people are made members of (a role per person): it holds
    /// every right a build needs, so objects built by one member can be replaced by another
    /// (`xlchat_builder` for the database `xlchat`, `xlchat_builder_<database>` for others).
    static func builderRole(_ settings: PostgresSettings) -> String {
        readerRole(settings).replacingOccurrences(of: "xlchat_reader", with: "xlchat_builder")
    }
    let logger = Logger(label: "xlchat.postgres")
    private let idleReaders = Mutex<[PostgresConnection]>([])
    private let readerSettings = Mutex<PostgresSettings?>(nil)

    /// Checks the store is reachable, the role can log in and `xlchat store init` has run on the
    /// database. Throws `storeUnavailable` (down, or not set up: the message says to run
    /// `xlchat store init`) or `storeDenied` (wrong password, or the role lacks rights).
    public init(settings: PostgresSettings) throws {
        self.settings = settings
        try PGSync.run {
            try await Self.withConnection(settings) { conn in
                let ok = try await conn.query("SELECT to_regclass('xlchat.workbooks') IS NOT NULL", logger: self.logger)
                    .collect().first?.decode(Bool.self) ?? false
                guard ok else {
                    throw IndexError(.storeUnavailable, "the store \(settings) has no xlchat schema: run `xlchat store init --store postgres://…` once (as a role that may create roles)")
                }
            }
        }
    }

    deinit {
        // Never blocks: the last reference may go on one of PGExecutor's threads. The task keeps
        // the connections alive until they are closed (PostgresNIO asserts on an open one going).
        let idle = idleReaders.withLock { l in let all = l; l = []; return all }
        if !idle.isEmpty { Task.detached { for c in idle { try? await c.close() } } }
    }

    // MARK: - Set-up

    /// Creates the schema and roles (idempotent): the `xlchat` catalog schema owned by the
    /// connecting role, the `xlchat_reader` login role (SELECT only, password generated and
    /// kept in `xlchat.settings`), no TEMP for PUBLIC on this database, and, when the role is a
    /// superuser, EXECUTE on side-effecting functions and SELECT on the system catalogs taken
    /// from PUBLIC in this database (given back to the owner). Returns what it did, line by line.
    public static func initialize(settings: PostgresSettings) throws -> [String] {
        try PGSync.run {
            try await Self.withConnection(settings) { conn in
                let log = Logger(label: "xlchat.postgres")
                var done: [String] = []
                func run(_ sql: String) async throws { try await conn.query(PostgresQuery(unsafeSQL: sql), logger: log) }
                let superuser = try await conn.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", logger: log)
                    .collect().first?.decode(Bool.self) ?? false
                try await run("CREATE SCHEMA IF NOT EXISTS xlchat")
                try await run("""
                    CREATE TABLE IF NOT EXISTS xlchat.workbooks (
                        hash text PRIMARY KEY, schema_name text NOT NULL, version text NOT NULL, layout text NOT NULL,
                        outline text NOT NULL, mappings text[] NOT NULL, rows bigint NOT NULL,
                        build_ms double precision NOT NULL, built_at timestamptz NOT NULL DEFAULT now(),
                        last_opened_at timestamptz NOT NULL DEFAULT now())
                    """)
                try await run("CREATE TABLE IF NOT EXISTS xlchat.settings (key text PRIMARY KEY, value text NOT NULL)")
                done.append("schema xlchat: workbooks, settings")
                let exists = try await conn.query("SELECT 1 FROM pg_roles WHERE rolname = \(Self.readerRole(settings))", logger: log).collect().count > 0
                let password = try await conn.query("SELECT value FROM xlchat.settings WHERE key = 'reader_password'", logger: log)
                    .collect().first?.decode(String.self) ?? Self.randomPassword()
                do {
                    if !exists {
                        try await run("CREATE ROLE \(Self.quoted(Self.readerRole(settings))) LOGIN NOINHERIT NOCREATEDB NOCREATEROLE")
                        done.append("role \(Self.readerRole(settings)) created")
                    }
                    try await run("ALTER ROLE \(Self.quoted(Self.readerRole(settings))) PASSWORD '\(password)'")
                } catch let e as PSQLError where Self.sqlState(e) == "42501" {
                    throw IndexError(.storeDenied, "\(settings.user) may not create the role \(Self.readerRole(settings)): run `xlchat store init` once as a role with CREATEROLE (\(Self.serverMessage(e)))")
                }
                try await conn.query("""
                    INSERT INTO xlchat.settings(key, value) VALUES ('reader_password', \(password))
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """, logger: log)
                try await run("REVOKE ALL ON SCHEMA xlchat FROM PUBLIC")
                try await run("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
                let db = Self.quoted(settings.database)
                try await run("REVOKE TEMPORARY ON DATABASE \(db) FROM PUBLIC")
                try await run("GRANT CONNECT ON DATABASE \(db) TO \(Self.quoted(Self.readerRole(settings)))")
                done.append("PUBLIC: no TEMP on \(settings.database), no CREATE in public")
                // The builders' group: what a build needs, for a team's roles (docs/team.md).
                let builder = Self.quoted(Self.builderRole(settings))
                if try await conn.query("SELECT 1 FROM pg_roles WHERE rolname = \(Self.builderRole(settings))", logger: log).collect().isEmpty {
                    try await run("CREATE ROLE \(builder) NOLOGIN NOINHERIT")
                }
                try await run("GRANT CONNECT, CREATE ON DATABASE \(db) TO \(builder)")
                try await run("GRANT USAGE ON SCHEMA xlchat TO \(builder)")
                try await run("GRANT SELECT, INSERT, UPDATE, DELETE ON xlchat.workbooks TO \(builder)")
                try await run("GRANT SELECT ON xlchat.settings TO \(builder)")
                done.append("role \(Self.builderRole(settings)): may build (GRANT it to a person's role, then ALTER ROLE that role SET role = '\(Self.builderRole(settings))')")
                if superuser {
                    // Functions PUBLIC may call that change state or reach outside the schema.
                    let functions = ["set_config(text, text, boolean)", "pg_terminate_backend(integer, bigint)", "pg_cancel_backend(integer)",
                                     "pg_advisory_lock(bigint)", "pg_try_advisory_lock(bigint)", "pg_advisory_lock_shared(bigint)",
                                     "pg_try_advisory_lock_shared(bigint)", "pg_advisory_xact_lock(bigint)", "pg_advisory_xact_lock_shared(bigint)", "pg_notify(text, text)",
                                     "query_to_xml(text, boolean, boolean, text)", "query_to_xmlschema(text, boolean, boolean, text)",
                                     "query_to_xml_and_xmlschema(text, boolean, boolean, text)", "pg_sleep(double precision)",
                                     "lo_import(text)", "lo_export(oid, text)", "lo_create(oid)", "lo_unlink(oid)",
                                     // break15: WAL written by the read-only role (20 MB in 0.25 s), transaction ids
                                     // assigned, locks taken, sequences moved, SQL run by a function, long sleeps.
                                     "pg_logical_emit_message(boolean, text, text)", "pg_logical_emit_message(boolean, text, bytea)",
                                     "txid_current()", "txid_current_if_assigned()", "pg_current_xact_id()", "pg_current_xact_id_if_assigned()",
                                     "pg_try_advisory_xact_lock(bigint)", "pg_try_advisory_xact_lock_shared(bigint)",
                                     "pg_advisory_lock(integer, integer)", "pg_advisory_lock_shared(integer, integer)",
                                     "pg_try_advisory_lock(integer, integer)", "pg_try_advisory_lock_shared(integer, integer)",
                                     "pg_advisory_xact_lock(integer, integer)", "pg_advisory_xact_lock_shared(integer, integer)",
                                     "pg_try_advisory_xact_lock(integer, integer)", "pg_try_advisory_xact_lock_shared(integer, integer)",
                                     "nextval(regclass)", "setval(regclass, bigint)", "setval(regclass, bigint, boolean)",
                                     "table_to_xml(regclass, boolean, boolean, text)", "table_to_xmlschema(regclass, boolean, boolean, text)",
                                     "table_to_xml_and_xmlschema(regclass, boolean, boolean, text)",
                                     "schema_to_xml(name, boolean, boolean, text)", "schema_to_xmlschema(name, boolean, boolean, text)",
                                     "schema_to_xml_and_xmlschema(name, boolean, boolean, text)", "database_to_xml(boolean, boolean, text)",
                                     "database_to_xmlschema(boolean, boolean, text)", "database_to_xml_and_xmlschema(boolean, boolean, text)",
                                     "cursor_to_xml(refcursor, integer, boolean, boolean, text)",
                                     "pg_sleep_for(interval)", "pg_sleep_until(timestamp with time zone)", "pg_export_snapshot()",
                                     "lo_from_bytea(oid, bytea)", "lo_put(oid, bigint, bytea)", "lo_creat(integer)", "lo_import(text, oid)",
                                     "pg_stat_reset()"]
                    for f in functions {
                        try await run("REVOKE EXECUTE ON FUNCTION \(f) FROM PUBLIC")
                        try await run("GRANT EXECUTE ON FUNCTION \(f) TO \(Self.quoted(settings.user))")
                    }
                    for f in ["pg_advisory_lock(bigint)", "pg_try_advisory_lock(bigint)"] {
                        try await run("GRANT EXECUTE ON FUNCTION \(f) TO \(builder)")
                    }
                    // The system catalogs: the reader sees its workbook's tables through the
                    // analyst's outline, not through pg_catalog / information_schema.
                    try await run("REVOKE SELECT ON ALL TABLES IN SCHEMA pg_catalog FROM PUBLIC")
                    try await run("GRANT SELECT ON ALL TABLES IN SCHEMA pg_catalog TO \(Self.quoted(settings.user))")
                    try await run("GRANT SELECT ON pg_catalog.pg_namespace, pg_catalog.pg_roles TO \(builder)")
                    try await run("REVOKE USAGE ON SCHEMA information_schema FROM PUBLIC")
                    try await run("GRANT USAGE ON SCHEMA information_schema TO \(Self.quoted(settings.user))")
                    done.append("PUBLIC: no EXECUTE on \(functions.count) side-effecting functions, no SELECT on pg_catalog, no information_schema (this database)")
                } else {
                    done.append("warning: \(settings.user) is not a superuser: side-effecting functions (set_config, pg_terminate_backend, query_to_xml) and pg_catalog stay open to PUBLIC; run `xlchat store init` once as a superuser to close them")
                }
                return done
            }
        }
    }

    // MARK: - TypedTableStore

    public func builtOutline(hash: String, path: String) throws -> WorkbookOutline? {
        guard var outline = try sharedTables(hash: hash)?.outline else { return nil }
        outline.path = path
        return outline
    }

    public func sharedTables(hash: String) throws -> SharedTables? {
        let h = try Self.checked(hash)
        return try PGSync.run {
            try await Self.withConnection(self.settings) { conn in
                try await Self.registered(conn, hash: h, logger: self.logger)
            }
        }
    }

    static func registered(_ conn: PostgresConnection, hash: String, logger: Logger) async throws -> SharedTables? {
        let rows = try await conn.query("""
            UPDATE xlchat.workbooks SET last_opened_at = now() WHERE hash = \(hash) AND version = \(layoutVersion)
            RETURNING outline, mappings
            """, logger: logger).collect()
        guard let row = rows.first else { return nil }
        let (json, mappings) = try row.decode((String, [String]).self)
        let outline = try JSONDecoder().decode(WorkbookOutline.self, from: Data(json.utf8))
        return SharedTables(outline: outline, mappingsJSON: mappings)
    }

    public func buildTables(hash: String, path: String, isCancelled: @escaping @Sendable () -> Bool,
                            load: () throws -> BuiltTablesFile) throws -> (outline: WorkbookOutline, reused: Bool) {
        let h = try Self.checked(hash)
        // One connection for the whole build: its session holds the advisory lock.
        let conn = try PGSync.run { try await Self.connect(self.settings) }
        defer { try? PGSync.run { try await conn.close() } }
        let key = Self.lockKey(h)
        // Poll the lock so the waiter stays cancellable (a blocking pg_advisory_lock is not).
        while true {
            let got = try PGSync.run { try await conn.query("SELECT pg_try_advisory_lock(\(key))", logger: self.logger).collect().first?.decode(Bool.self) ?? false }
            if got { break }
            if isCancelled() { throw CancellationError() }
            usleep(50_000)
        }
        if let done = try PGSync.run({ try await Self.registered(conn, hash: h, logger: self.logger) }) {
            var o = done.outline; o.path = path
            return (o, true)
        }
        let started = DispatchTime.now().uptimeNanoseconds
        let file = try load()
        if isCancelled() { throw CancellationError() }
        try PGSync.run { try await self.copy(file, hash: h, conn: conn, started: started) }
        var o = file.outline; o.path = path
        return (o, false)
    }

    /// Stale staging schemas of `hash` dropped (the caller holds the lock, so none is live),
    /// the tables COPYed into a new staging schema, then renamed into place in one transaction.
    func copy(_ file: BuiltTablesFile, hash: String, conn: PostgresConnection, started: UInt64) async throws {
        let final = Self.schemaName(hash)
        let stagingPrefix = "xs_" + hash.prefix(40) + "_"
        let staging = stagingPrefix + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        func run(_ sql: String) async throws { try await conn.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
        do {
            for row in try await conn.query("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, \(stagingPrefix))", logger: logger).collect() {
                try await run("DROP SCHEMA IF EXISTS \(Self.quoted(try row.decode(String.self))) CASCADE")
            }
            // PostgreSQL's limit is 1,600 columns a table (SQLite's, which the parts are cut
            // for, is 2,000): not split again here yet, refused with what to do.
            if let wide = file.tables.first(where: { $0.columns.count + 1 > 1600 }) {
                throw SharedStoreLimitError("the table \(wide.name) has \(wide.columns.count) columns; PostgreSQL holds at most 1,600 a table")
            }
            try await run("CREATE SCHEMA \(Self.quoted(staging))")
            var rows = 0
            for table in file.tables {
                let columns = PGColumn.named(table.columns.map { PGColumn($0) })
                let defs = [Self.quoted(table.rowColumn) + " bigint PRIMARY KEY"] + columns.map { Self.quoted($0.name) + " " + $0.sqlType }
                let qualified = Self.quoted(staging) + "." + Self.quoted(table.name)
                try await run("CREATE TABLE \(qualified) (\(defs.joined(separator: ", ")))")
                // PostgresNIO writes `COPY "<table>"` without a schema and without escaping:
                // the staging schema goes on the search_path, and quotes in the name are doubled.
                try await run("SET search_path = \(Self.quoted(staging))")
                try await conn.copyFrom(table: table.name.replacingOccurrences(of: "\"", with: "\"\""), format: .text(.init()), logger: logger) { writer in
                    var buffer = ByteBuffer()
                    buffer.reserveCapacity(1 << 20)
                    let cursor = try file.rows(of: table)
                    while let values = try cursor.next() {
                        PGColumn.appendCopyLine(values, columns: columns, to: &buffer)
                        if buffer.readableBytes >= 1 << 20 {
                            try await writer.write(buffer)
                            buffer.clear()
                        }
                    }
                    if buffer.readableBytes > 0 { try await writer.write(buffer) }
                }
                try await run("RESET search_path")
                rows += table.rows
            }
            let outline = String(decoding: try JSONEncoder().encode(file.outline), as: UTF8.self)
            let mappings = file.tables.map(\.mappingJSON)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            try await run("BEGIN")
            try await run("DROP SCHEMA IF EXISTS \(Self.quoted(final)) CASCADE")
            try await run("ALTER SCHEMA \(Self.quoted(staging)) RENAME TO \(Self.quoted(final))")
            try await run("GRANT USAGE ON SCHEMA \(Self.quoted(final)) TO \(Self.quoted(Self.readerRole(self.settings)))")
            try await run("GRANT SELECT ON ALL TABLES IN SCHEMA \(Self.quoted(final)) TO \(Self.quoted(Self.readerRole(self.settings)))")
            // A built version is read-only for its owner too (the builders' group every member
            // acts as): an UPDATE in psql would otherwise change every teammate's answers
            // (break15 finding 3). An owner may grant it back; docs/team.md says who to trust.
            try await run("REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA \(Self.quoted(final)) FROM CURRENT_USER")
            try await conn.query("""
                INSERT INTO xlchat.workbooks(hash, schema_name, version, layout, outline, mappings, rows, build_ms)
                VALUES (\(hash), \(final), \(Self.layoutVersion), \(file.layout), \(outline), \(mappings), \(rows), \(ms))
                ON CONFLICT (hash) DO UPDATE SET schema_name = excluded.schema_name, version = excluded.version,
                    layout = excluded.layout, outline = excluded.outline, mappings = excluded.mappings, rows = excluded.rows,
                    build_ms = excluded.build_ms, built_at = now(), last_opened_at = now()
                """, logger: logger)
            try await run("COMMIT")
        } catch {
            try? await run("ROLLBACK")
            try? await run("DROP SCHEMA IF EXISTS \(Self.quoted(staging)) CASCADE")
            // 54000 program_limit_exceeded ("row is too big": a row over the ~8 kB page, which a
            // sheet of ~1,100 number columns reaches), 54011 too many columns.
            if let e = error as? PSQLError, let state = Self.sqlState(e), state == "54000" || state == "54011" {
                throw SharedStoreLimitError("\(Self.serverMessage(e)) (PostgreSQL's limits on a table's row)")
            }
            throw Self.mapped(error, settings: settings, doing: "building the tables of \(hash.prefix(12))")
        }
    }

    public func runQuery(hash: String, sql: String, limit: Int, timeout: Double, limits: QueryLimits,
                         isCancelled: (@Sendable () -> Bool)?) throws -> QueryResult {
        let h = try Self.checked(hash)
        let started = DispatchTime.now().uptimeNanoseconds
        let conn = try readerConnection()
        var healthy = false
        // A connection whose query failed is closed (it may be mid-transaction); PostgresNIO wants
        // the close finished before the object goes.
        defer { if healthy { idleReaders.withLock { $0.append(conn) } } else { try? PGSync.run { try await conn.close() } } }
        let result: QueryResult = try PGSync.run {
            func run(_ s: String) async throws { try await conn.query(PostgresQuery(unsafeSQL: s), logger: self.logger) }
            do {
                try await run("BEGIN TRANSACTION READ ONLY")
                let ms = max(1, Int((timeout * 1000).rounded()))
                try await run("SET LOCAL statement_timeout = \(ms)")
                try await run("SET LOCAL search_path = \(Self.quoted(Self.schemaName(h)))")
                try await Self.checkRelations(of: sql, schema: Self.schemaName(h), conn: conn, logger: self.logger)
                try await run("DECLARE xlchat_q NO SCROLL CURSOR FOR " + sql)
                var columns: [String] = []
                var rows: [[SQLValue]] = []
                var truncated = false
                var replyBytes = 0
                fetching: while true {
                    if isCancelled?() == true { throw CancellationError() }
                    let batch = try await conn.query("FETCH 500 FROM xlchat_q", logger: self.logger)
                    if columns.isEmpty { columns = batch.columns.map(\.name) }
                    var got = 0
                    for try await row in batch {
                        got += 1
                        if rows.count >= limit || replyBytes >= limits.maxReplyBytes { truncated = true; break fetching }
                        var out: [SQLValue] = []
                        for cell in row {
                            let (v, cut, bytes) = PGValue.decode(cell, maxBytes: limits.maxValueBytes)
                            if cut { truncated = true }
                            replyBytes += bytes
                            out.append(v)
                        }
                        rows.append(out)
                    }
                    if got < 500 { break }
                }
                try await run("ROLLBACK")
                let ms2 = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
                return QueryResult(columns: columns, rows: rows, truncated: truncated, sourceRanges: Array(repeating: nil, count: rows.count),
                                   durationMs: ms2)
            } catch {
                try? await run("ROLLBACK")
                if let e = error as? PSQLError, Self.sqlState(e) == "42P01",
                   (try? await Self.withConnection(self.settings, { try await Self.registered($0, hash: h, logger: self.logger) })) == nil {
                    throw IndexError(.indexNotBuilt, "the tables of \(h.prefix(12)) are not in the store (dropped, or never built): open the workbook again")
                }
                throw Self.mapped(error, settings: self.settings, doing: "the query", query: true, timeout: timeout)
            }
        }
        healthy = true
        return result
    }

    /// Refuses a query whose plan reads a relation outside `schema`: another workbook's schema,
    /// the `xlchat` catalog, `pg_catalog` or `information_schema`. The read-only role may read
    /// every workbook of the store (a team shares them), so without this a workbook's text could
    /// steer the model into another workbook's rows (break15 finding 2). The plan
    /// (`EXPLAIN (VERBOSE, FORMAT JSON)`, planned, not run) names every scanned relation with its
    /// schema, including those inside subqueries, CTEs and views. Functions that run SQL of their
    /// own (`query_to_xml`, `table_to_xml`, ...) are closed to PUBLIC by `store init`.
    /// - Throws: `IndexError(.invalidQuery)` naming the relation.
    static func checkRelations(of sql: String, schema: String, conn: PostgresConnection, logger: Logger) async throws {
        let rows = try await conn.query(PostgresQuery(unsafeSQL: "EXPLAIN (VERBOSE, FORMAT JSON) " + sql), logger: logger).collect()
        var outside: [String] = []
        func walk(_ node: Any) {
            if let d = node as? [String: Any] {
                if let relation = d["Relation Name"] as? String {
                    let s = d["Schema"] as? String ?? "?"
                    if s != schema { outside.append("\(s).\(relation)") }
                }
                for v in d.values { walk(v) }
            } else if let a = node as? [Any] {
                for v in a { walk(v) }
            }
        }
        for row in rows {
            for cell in row {
                guard var bytes = cell.bytes, let data = bytes.readData(length: bytes.readableBytes) else { continue }
                // jsonb arrives with a version byte; EXPLAIN's json does not.
                if let json = try? JSONSerialization.jsonObject(with: data) { walk(json) }
            }
        }
        if let first = outside.first {
            let other = first.hasPrefix("pg_catalog.") || first.hasPrefix("information_schema.")
                ? "the system catalogs (\(first))" : "\(first), which is not a table of this workbook"
            throw IndexError(.invalidQuery, "the query reads \(other): query the tables the outline lists (describe_table gives their columns)")
        }
    }

    public func drop(hash: String) throws {
        let h = try Self.checked(hash)
        try PGSync.run {
            try await Self.withConnection(self.settings) { conn in
                func run(_ s: String) async throws { try await conn.query(PostgresQuery(unsafeSQL: s), logger: self.logger) }
                try await conn.query("SELECT pg_advisory_lock(\(Self.lockKey(h)))", logger: self.logger)
                try await run("BEGIN")
                try await run("DROP SCHEMA IF EXISTS \(Self.quoted(Self.schemaName(h))) CASCADE")
                try await conn.query("DELETE FROM xlchat.workbooks WHERE hash = \(h)", logger: self.logger)
                try await run("COMMIT")
            }
        }
    }

    /// Drops the tables of workbooks nobody opened for `days` days; returns their hashes.
    public func collectGarbage(olderThanDays days: Int) throws -> [String] {
        let old: [String] = try PGSync.run {
            try await Self.withConnection(self.settings) { conn in
                try await conn.query("SELECT hash FROM xlchat.workbooks WHERE last_opened_at < now() - make_interval(days => \(Int32(clamping: days)))",
                                     logger: self.logger).collect().map { try $0.decode(String.self) }
            }
        }
        for h in old { try drop(hash: h) }
        return old
    }

    // MARK: - Connections

    private func readerConnection() throws -> PostgresConnection {
        if let c = idleReaders.withLock({ $0.popLast() }), !c.isClosed { return c }
        let reader: PostgresSettings
        if let r = readerSettings.withLock({ $0 }) {
            reader = r
        } else {
            let password: String? = try PGSync.run {
                try await Self.withConnection(self.settings) { conn in
                    do {
                        return try await conn.query("SELECT value FROM xlchat.settings WHERE key = 'reader_password'", logger: self.logger)
                            .collect().first?.decode(String.self)
                    } catch let e as PSQLError where Self.sqlState(e) == "42501" {
                        throw IndexError(.storeDenied, "\(self.settings.user) may not read xlchat.settings; connect as the role that ran `xlchat store init`, or grant it (\(Self.serverMessage(e)))")
                    }
                }
            }
            guard let password else {
                throw IndexError(.storeUnavailable, "the store has no reader role yet: run `xlchat store init`")
            }
            reader = settings.as(user: Self.readerRole(settings), password: password)
            readerSettings.withLock { $0 = reader }
        }
        return try PGSync.run { try await Self.connect(reader) }
    }

    static func connect(_ settings: PostgresSettings) async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(configuration: settings.connectionConfiguration, id: 1,
                                                        logger: Logger(label: "xlchat.postgres"))
        } catch {
            throw mapped(error, settings: settings, doing: "connecting")
        }
    }

    static func withConnection<T: Sendable>(_ settings: PostgresSettings, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let conn = try await connect(settings)
        do {
            let r = try await body(conn)
            try? await conn.close()
            return r
        } catch {
            try? await conn.close()
            throw mapped(error, settings: settings, doing: "talking to the store")
        }
    }

    // MARK: - Names and errors

    static func checked(_ hash: String) throws -> String {
        guard hash.count >= 56, hash.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70) }) else {
            throw IndexError(.unknownWorkbook, "no workbook has content hash \(hash.debugDescription)")
        }
        return hash.lowercased()
    }

    /// `xl_` + 56 hex digits of the SHA-256 (224 bits): within PostgreSQL's 63-byte names.
    static func schemaName(_ hash: String) -> String { "xl_" + hash.prefix(56) }

    /// The advisory lock key of a hash: its first 60 bits, in a key space apart from others'
    /// (the top nibble 0x7 marks xlchat's builds).
    static func lockKey(_ hash: String) -> Int64 {
        Int64(bitPattern: (0x7 << 60) | (UInt64(hash.prefix(15), radix: 16) ?? 0))
    }

    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    static func randomPassword() -> String {
        (0..<32).map { _ in String("abcdefghijklmnopqrstuvwxyz0123456789".randomElement()!) }.joined()
    }

    static func sqlState(_ e: PSQLError) -> String? { e.serverInfo?[.sqlState] }
    static func serverMessage(_ e: PSQLError) -> String { e.serverInfo?[.message] ?? "\(e.code)" }

    /// PostgreSQL's errors as the index's: auth and privilege failures `storeDenied`, an
    /// unreachable server `storeUnavailable`, query errors `invalidQuery` / `queryTimeout`.
    static func mapped(_ error: any Error, settings: PostgresSettings, doing: String, query: Bool = false, timeout: Double = 0) -> any Error {
        switch error {
        case is IndexError, is CancellationError, is WorkbookError, is SharedStoreLimitError: return error
        case let e as PSQLError:
            if let state = sqlState(e) {
                let message = serverMessage(e)
                switch state {
                case "28P01", "28000":
                    return IndexError(.storeDenied, "the store \(settings) refused \(settings.user): \(message); check the password in the connection string or PGPASSWORD")
                case "3D000":
                    return IndexError(.storeUnavailable, "the store's database does not exist: \(message); create it, then run `xlchat store init`")
                case "57014" where query:
                    return IndexError(.queryTimeout, "the query ran longer than its \(timeout) s budget and was stopped")
                case "42501":
                    if query { return IndexError(.invalidQuery, "refused by the database: \(message) (only the workbook's tables may be read)") }
                    return IndexError(.storeDenied, "\(settings.user) lacks a right the store needs while \(doing): \(message)")
                case "25006" where query:
                    return IndexError(.invalidQuery, "only reading is allowed: \(message)")
                case "57P01", "57P02", "57P03":
                    return IndexError(.storeUnavailable, "the store \(settings) is shutting down or restarting: \(message); try again")
                default:
                    if query { return IndexError(.invalidQuery, message) }
                    return IndexError(.storage, "\(doing) failed: \(message) (SQLSTATE \(state))")
                }
            }
            switch e.code {
            case .connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection:
                return IndexError(.storeUnavailable, "the store \(settings) cannot be reached while \(doing): is PostgreSQL running there? (\(e.underlying.map { "\($0)" } ?? "\(e.code)"))")
            default:
                return IndexError(.storage, "\(doing) failed: \(e.code) \(e.underlying.map { "\($0)" } ?? "")")
            }
        default:
            return IndexError(.storeUnavailable, "the store \(settings) cannot be reached while \(doing): \(error)")
        }
    }
}
