// What `xlchat doctor` and `server/health` say about a PostgreSQL store (issue 15).
import Foundation
import Logging
import PostgresNIO
import XLChatIndex

/// One look at a store: can it be reached, which server it is, whether `xlchat store init` ran,
/// what the connecting role and the reader role may do, and whether pgvector is there.
/// Each finding is a `Check`; `problems` are those that stop xlchat from working.
public struct StoreDiagnosis: Sendable, Hashable {
    public struct Check: Sendable, Hashable {
        public enum Level: String, Sendable, Hashable { case ok, warn, fail }
        public var level: Level
        /// What was found, e.g. "PostgreSQL 15.4".
        public var text: String
        /// What to do about a `warn` or `fail` (nil for `ok`).
        public var fix: String?
    }
    /// The store without the password (`postgres://user@host:port/db`).
    public var store: String
    /// `server_version` (e.g. "15.4 (Debian 15.4-1)"), nil when unreachable.
    public var serverVersion: String?
    public var checks: [Check] = []
    public var problems: [Check] { checks.filter { $0.level == .fail } }

    /// The one-line form `server/health` shows: "ok", or the first failure and its fix.
    public var summary: String {
        guard let p = problems.first else { return "ok" }
        return p.text + (p.fix.map { " (\($0))" } ?? "")
    }
}

extension PostgresTableStore {
    /// Connects as `settings` (at most ~5 s: the connect timeout) and checks, in order: the
    /// server answers and its version (PostgreSQL 13+ is what the store is tested on); the role
    /// may connect; `xlchat store init` has run (the `xlchat` schema and the reader's password);
    /// the connecting role can build (CREATE on the database for the workbook schemas, INSERT on
    /// `xlchat.workbooks`, EXECUTE on `pg_try_advisory_lock`, SELECT on `pg_namespace`);
    /// the reader role exists, logs in and may do nothing but read (not superuser, no
    /// CREATEROLE/CREATEDB, no CREATE or TEMP on the database, no CREATE in `public`, no access
    /// to `xlchat`); and whether pgvector is available/installed (optional: search stays in
    /// the local index for now). Never throws: every failure is a `fail` check.
    public static func diagnose(settings: PostgresSettings) -> StoreDiagnosis {
        var d = StoreDiagnosis(store: settings.description)
        do {
            let (version, major, checks) = try PGSync.run {
                try await withConnection(settings) { conn in
                    let version = try await conn.query("SELECT current_setting('server_version')", logger: Logger(label: "xlchat.postgres"))
                        .collect().first?.decode(String.self) ?? "?"
                    let major = try await conn.query("SELECT current_setting('server_version_num')::int / 10000", logger: Logger(label: "xlchat.postgres"))
                        .collect().first?.decode(Int32.self) ?? 0
                    return (version, Int(major), try await diagnoseInside(conn, settings: settings))
                }
            }
            d.serverVersion = version
            if major >= 13 {
                d.checks.append(.init(level: .ok, text: "store \(d.store): PostgreSQL \(version)"))
            } else {
                d.checks.append(.init(level: .warn, text: "store \(d.store): PostgreSQL \(version) is older than 13, which xlchat is not tested on",
                                      fix: "upgrade the server to PostgreSQL 13 or newer"))
            }
            d.checks.append(contentsOf: checks)
        } catch {
            let e = mapped(error, settings: settings, doing: "connecting")
            let message = (e as? IndexError)?.message ?? "\(e)"
            let denied = (e as? IndexError)?.kind == .storeDenied
            d.checks.append(.init(level: .fail, text: message,
                                  fix: denied ? "check the role and password in the connection string (or PGPASSWORD)"
                                              : "start PostgreSQL there, or fix the connection string (XLCHAT_STORE / --store)"))
        }
        return d
    }

    private static func diagnoseInside(_ conn: PostgresConnection, settings: PostgresSettings) async throws -> [StoreDiagnosis.Check] {
        var checks: [StoreDiagnosis.Check] = []
        let log = Logger(label: "xlchat.postgres")
        /// nil when the query fails (e.g. the role may not read pg_catalog).
        func bool(_ q: PostgresQuery) async -> Bool? {
            guard let row = try? await conn.query(q, logger: log).collect().first else { return nil }
            return try? row.decode(Bool?.self)
        }
        // pgvector: optional (search stays in the local index for now), reported either way.
        if let row = try? await conn.query("SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'vector'", logger: log).collect().first,
           let (available, installed) = try? row.decode((String?, String?).self) {
            checks.append(.init(level: .ok, text: installed.map { "pgvector \($0) is installed in \(settings.database)" }
                                    ?? "pgvector \(available ?? "?") is available (not installed; xlchat does not need it yet)"))
        } else {
            checks.append(.init(level: .ok, text: "pgvector is not available on this server (xlchat does not need it yet: search stays in each editor's local index)"))
        }
        let user = settings.user
        let reader = readerRole(settings)
        // The connecting role: it builds the tables.
        let superuser = await bool("SELECT current_setting('is_superuser') = 'on'") ?? false
        // to_regnamespace needs no SELECT on pg_catalog (a superuser's init takes it from PUBLIC)
        // nor USAGE on the schema, so a role without rights still learns init has run.
        let initialized = await bool("SELECT to_regnamespace('xlchat') IS NOT NULL") ?? false
        guard initialized else {
            checks.append(.init(level: .fail, text: "the database \(settings.database) has no xlchat schema",
                                fix: "run `xlchat store init --store \(settings)` once as a superuser (or a role with CREATEROLE)"))
            return checks
        }
        var missing: [String] = []
        if await bool("SELECT has_database_privilege(current_database(), 'CREATE')") != true { missing.append("CREATE on the database (for the workbook schemas)") }
        if await bool("SELECT has_table_privilege('xlchat.workbooks', 'SELECT, INSERT, UPDATE, DELETE')") != true { missing.append("SELECT/INSERT/UPDATE/DELETE on xlchat.workbooks") }
        if await bool("SELECT has_table_privilege('xlchat.settings', 'SELECT')") != true { missing.append("SELECT on xlchat.settings") }
        if await bool("SELECT has_function_privilege('pg_try_advisory_lock(bigint)', 'EXECUTE')") != true { missing.append("EXECUTE on pg_try_advisory_lock(bigint)") }
        if await bool("SELECT has_table_privilege('pg_catalog.pg_namespace', 'SELECT')") != true { missing.append("SELECT on pg_catalog.pg_namespace") }
        if missing.isEmpty {
            checks.append(.init(level: .ok, text: "role \(user) can build workbook tables\(superuser ? " (a superuser: editors should use a role of their own)" : "")"))
            // A member of the builders' group acting as itself: what it builds belongs to it
            // alone, so another member's xlchat cannot replace or drop it.
            let builder = builderRole(settings)
            let current = (try? await conn.query("SELECT current_user::text", logger: log).collect().first?.decode(String.self)) ?? user
            if !superuser, current != builder, await bool("SELECT pg_has_role(current_user, \(builder), 'MEMBER')") == true {
                checks.append(.init(level: .warn, text: "role \(current) builds as itself, not as \(builder): others in the team cannot replace or drop what it builds",
                                    fix: "as an admin: ALTER ROLE \(current) SET role = '\(builder)' (docs/team.md)"))
            }
        } else {
            checks.append(.init(level: .fail, text: "role \(user) cannot build workbook tables: it lacks \(missing.joined(separator: ", "))",
                                fix: "connect as the role that ran `xlchat store init`, or make \(user) a member of it (docs/team.md)"))
        }
        // The reader: the role queries run as.
        let readerRow: PostgresRow?
        do {
            readerRow = try await conn.query("""
                SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = \(reader)
                """, logger: log).collect().first
        } catch {
            checks.append(.init(level: .warn, text: "\(user) may not read pg_roles, so the reader role \(reader) was not checked",
                                fix: "run `xlchat doctor` as the role that ran `xlchat store init` to check it"))
            return checks
        }
        guard let readerRow, let (login, rsuper, rcreaterole, rcreatedb) = try? readerRow.decode((Bool, Bool, Bool, Bool).self) else {
            checks.append(.init(level: .fail, text: "the reader role \(reader) does not exist",
                                fix: "run `xlchat store init --store \(settings)` again as a superuser"))
            return checks
        }
        var loose: [String] = []
        if !login { loose.append("it cannot log in") }
        if rsuper { loose.append("it is a superuser") }
        if rcreaterole { loose.append("it has CREATEROLE") }
        if rcreatedb { loose.append("it has CREATEDB") }
        if await bool("SELECT has_database_privilege(\(reader), current_database(), 'CREATE')") == true { loose.append("it may CREATE schemas") }
        if await bool("SELECT has_database_privilege(\(reader), current_database(), 'TEMP')") == true { loose.append("it may create TEMP tables") }
        if await bool("SELECT has_schema_privilege(\(reader), 'public', 'CREATE')") == true { loose.append("it may CREATE in public") }
        if await bool("SELECT has_schema_privilege(\(reader), 'xlchat', 'USAGE')") == true { loose.append("it may read the xlchat catalog") }
        if loose.isEmpty {
            checks.append(.init(level: .ok, text: "reader role \(reader): logs in, may only read workbook tables"))
        } else {
            checks.append(.init(level: .fail, text: "reader role \(reader) may do more than read: \(loose.joined(separator: "; "))",
                                fix: "run `xlchat store init --store \(settings)` again as a superuser; check nobody granted \(reader) more"))
        }
        // What only a superuser's init closes.
        if await bool("SELECT has_function_privilege(\(reader), 'set_config(text, text, boolean)', 'EXECUTE')") == true {
            checks.append(.init(level: .warn, text: "PUBLIC may still call side-effecting functions (set_config, pg_terminate_backend, query_to_xml) and read pg_catalog",
                                fix: "run `xlchat store init` once as a superuser to close them"))
        }
        return checks
    }
}

