import Foundation
import Testing
import Logging
import PostgresNIO
import XLChatIndex
@testable import XLChatPostgres

/// `PostgresTableStore.diagnose` (what `xlchat doctor` and `server/health` report) against the
/// real test cluster: a healthy store, a role that may not build, a wrong password, a server
/// that is down, a database without `store init`; each within the connect timeout.
@Suite(.serialized) struct StoreDiagnosisTests {
    @Test func aHealthyStoreHasNoProblemsAndSaysItsVersionAndReader() throws {
        guard let s = try PGTest.settings() else { return }
        let d = PostgresTableStore.diagnose(settings: s)
        #expect(d.problems.isEmpty, "\(d.checks)")
        #expect(d.summary == "ok")
        let version = try #require(d.serverVersion)
        #expect(version.first?.isNumber == true)
        #expect(d.checks.first?.text.contains("PostgreSQL \(version)") == true)
        #expect(d.checks.contains { $0.level == .ok && $0.text.contains("reader role \(PostgresTableStore.readerRole(s))") }, "\(d.checks)")
        #expect(d.checks.contains { $0.level == .ok && $0.text.contains("can build workbook tables") }, "\(d.checks)")
        #expect(d.checks.contains { $0.text.contains("pgvector") }, "\(d.checks)")
        // The test cluster's init ran as a superuser: nothing stays open to PUBLIC.
        #expect(!d.checks.contains { $0.level == .warn }, "\(d.checks)")
    }

    @Test func aRoleWithoutRightsCannotBuildAndIsToldWhatItLacks() throws {
        guard let s = try PGTest.settings() else { return }
        let d = PostgresTableStore.diagnose(settings: s.as(user: "xlchat_limited", password: "limited"))
        let fail = try #require(d.problems.first, "\(d.checks)")
        #expect(fail.text.contains("xlchat_limited cannot build workbook tables"), "\(fail)")
        #expect(fail.text.contains("xlchat.workbooks") && fail.text.contains("pg_try_advisory_lock"), "\(fail)")
        #expect(fail.fix?.contains("docs/team.md") == true)
        #expect(d.summary != "ok")
    }

    @Test func aWrongPasswordIsDenied() throws {
        guard let s = try PGTest.settings() else { return }
        let d = PostgresTableStore.diagnose(settings: s.as(user: s.user, password: "not-the-password-\(UUID().uuidString.prefix(6))"))
        let fail = try #require(d.problems.first)
        #expect(fail.text.contains("refused \(s.user)"), "\(fail)")
        #expect(fail.fix?.contains("password") == true)
        #expect(d.serverVersion == nil)
    }

    @Test(arguments: ["127.0.0.1", "/nonexistent-\(UUID().uuidString.prefix(8))"])
    func aStoreThatIsDownFailsFastWithAdvice(_ host: String) throws {
        let started = Date()
        let d = PostgresTableStore.diagnose(settings: PostgresSettings(host: host, port: 1, user: "x", password: nil, database: "xlchat"))
        #expect(Date().timeIntervalSince(started) < 6)
        let fail = try #require(d.problems.first)
        #expect(fail.text.contains("cannot be reached"), "\(fail)")
        #expect(fail.fix?.contains("start PostgreSQL") == true)
    }

    @Test func aDatabaseWithoutStoreInitSaysToRunIt() throws {
        guard let s = try PGTest.settings() else { return }
        // `postgres` exists in every cluster and never had `store init` run on it.
        let d = PostgresTableStore.diagnose(settings: PostgresSettings(host: s.host, port: s.port, user: s.user, password: s.password, database: "postgres"))
        let fail = try #require(d.problems.first, "\(d.checks)")
        #expect(fail.text.contains("has no xlchat schema"))
        #expect(fail.fix?.contains("xlchat store init") == true)
        #expect(d.serverVersion != nil)
    }

    /// A role per person (docs/team.md): each is made a member of the builders' group role that
    /// `store init` creates, with `ALTER ROLE … SET role` so what they build belongs to the group.
    /// Ann builds, Bob reuses and then drops Ann's build (which only works because the group,
    /// not Ann, owns it); the doctor passes for both; a role left out of the group fails it.
    @Test func aRolePerPersonBuildsThroughTheBuildersGroup() throws {
        guard let s = try PGTest.settings() else { return }
        let tag = String(UUID().uuidString.prefix(6)).lowercased()
        let builder = PostgresTableStore.builderRole(s)
        func admin(_ sql: String) throws {
            try PGSync.run { try await PostgresTableStore.withConnection(s) { try await $0.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "t")) } }
        }
        var people: [PostgresSettings] = []
        for name in ["ann_\(tag)", "bob_\(tag)"] {
            try admin("CREATE ROLE \(name) LOGIN PASSWORD 'pw-\(tag)'")
            try admin("GRANT \(builder) TO \(name)")
            try admin("ALTER ROLE \(name) SET role = '\(builder)'")
            people.append(s.as(user: name, password: "pw-\(tag)"))
        }
        try admin("CREATE ROLE carol_\(tag) LOGIN PASSWORD 'pw-\(tag)'")
        // Dave joined the group but nobody set his role: he can build, and is warned.
        try admin("CREATE ROLE dave_\(tag) LOGIN PASSWORD 'pw-\(tag)'")
        try admin("GRANT \(builder) TO dave_\(tag)")
        defer { for n in ["ann", "bob", "carol", "dave"] { try? admin("DROP ROLE IF EXISTS \(n)_\(tag)") } }
        let dave = PostgresTableStore.diagnose(settings: s.as(user: "dave_\(tag)", password: "pw-\(tag)"))
        #expect(dave.problems.isEmpty, "\(dave.checks)")
        #expect(dave.checks.contains { $0.level == .warn && $0.text.contains("builds as itself") && ($0.fix ?? "").contains("SET role") }, "\(dave.checks)")
        for p in people {
            let d = PostgresTableStore.diagnose(settings: p)
            #expect(d.problems.isEmpty, "\(p.user): \(d.checks)")
            #expect(!d.checks.contains { $0.level == .warn }, "\(p.user): \(d.checks)")
        }
        let carol = PostgresTableStore.diagnose(settings: s.as(user: "carol_\(tag)", password: "pw-\(tag)"))
        #expect(carol.problems.first?.text.contains("cannot build workbook tables") == true, "\(carol.checks)")

        let file = try SalesFile(rows: 500)
        let ann = try WorkbookIndex(dataDirectory: PGTest.tempDirectory())
        ann.setSharedStore(try PostgresTableStore(settings: people[0]))
        let built = try ann.open(path: file.path)
        #expect(!built.reused)
        let bob = try WorkbookIndex(dataDirectory: PGTest.tempDirectory())
        let bobStore = try PostgresTableStore(settings: people[1])
        bob.setSharedStore(bobStore)
        let reused = try bob.open(path: file.path)
        #expect(reused.reused)
        let t = try #require(reused.outline.sheets.first?.tables.first?.name)
        let r = try bob.query(outline: reused.outline, sql: "SELECT COUNT(*) FROM \"\(t)\"", limit: 10)
        #expect(r.rows == [[.integer(500)]])
        // Ann's build is read-only for Bob too, although the group they act as owns it: an
        // UPDATE typed in psql is refused instead of changing every teammate's answers
        // (break15 finding 3).
        let schema = PostgresTableStore.schemaName(built.outline.contentHash)
        let bobSettings = people[1]
        for sql in ["UPDATE \"\(schema)\".\"\(t)\" SET \"Units\" = 0", "DELETE FROM \"\(schema)\".\"\(t)\"",
                    "TRUNCATE \"\(schema)\".\"\(t)\"", "INSERT INTO \"\(schema)\".\"\(t)\" (_row) VALUES (999999)"] {
            let state: String? = try PGSync.run {
                try await PostgresTableStore.withConnection(bobSettings) { c in
                    do {
                        try await c.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "t"))
                        return nil
                    } catch let e as PSQLError {
                        return PostgresTableStore.sqlState(e)
                    }
                }
            }
            #expect(state == "42501", "\(sql): \(state ?? "accepted")")
        }
        #expect(try bob.query(outline: reused.outline, sql: "SELECT COUNT(*) FROM \"\(t)\"", limit: 10).rows == [[.integer(500)]])
        try bobStore.drop(hash: built.outline.contentHash)
        #expect(try bobStore.sharedTables(hash: built.outline.contentHash) == nil)
    }
}
