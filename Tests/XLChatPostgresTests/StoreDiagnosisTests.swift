import Foundation
import Testing
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
}
