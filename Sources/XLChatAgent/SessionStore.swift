import Foundation
import GRDB
import XLChatIndex
import XLChatWorkbook

/// One turn of a stored conversation.
public struct SessionMessage: Sendable, Hashable, Codable {
    public enum Role: String, Sendable, Hashable, Codable { case user, assistant }
    public var role: Role
    public var content: String
    /// Seconds since 1970.
    public var createdAt: Double
    /// For assistant turns: the citations (`Sheet!B2:D9`) and the ungrounded numbers.
    public var citations: [String]
    public var ungrounded: [String]
    public init(role: Role, content: String, createdAt: Double, citations: [String] = [], ungrounded: [String] = []) {
        self.role = role; self.content = content; self.createdAt = createdAt
        self.citations = citations; self.ungrounded = ungrounded
    }
}

/// What the cache keeps of an answer.
struct CachedAnswer: Codable, Sendable {
    var answer: String
    var citations: [CitationRecord]
    var ungrounded: [String]
    var steps: [AgentStep]
}

struct CitationRecord: Codable, Sendable, Hashable {
    /// The workspace file (absent in records of workbook answers, and in records written
    /// before workspaces).
    var file: String? = nil
    var sheet: String
    var range: String
}

/// Conversations and the answer cache, in `sessions.sqlite` under the data directory (WAL; a
/// conversation survives restarts). A turn is written only when its answer is complete, so a
/// model that dies mid-stream leaves the session as it was.
public final class SessionStore: Sendable {
    /// Bounds on what the store keeps, enforced on every write (issue 14, item 10: both grew
    /// without end). Pruning is a few indexed DELETEs over at most these many rows.
    public struct Limits: Sendable, Hashable {
        /// Cached answers kept (the newest), and how long one stays valid (30 days).
        public var maxCachedAnswers = 5_000
        public var cachedAnswerLifetime: Double = 30 * 86_400
        /// Conversations kept (the most recently used), messages kept per conversation (the
        /// newest), and how long an unused conversation is kept (90 days).
        public var maxSessions = 1_000
        public var maxMessagesPerSession = 400
        public var sessionLifetime: Double = 90 * 86_400
        public init() {}
    }

    private let db: DatabaseQueue
    public let path: String
    public let limits: Limits

    public init(dataDirectory: URL, limits: Limits = Limits()) throws {
        self.limits = limits
        do {
            try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
            path = dataDirectory.appendingPathComponent("sessions.sqlite").path
            var config = Configuration()
            config.busyMode = .timeout(5)
            db = try DatabaseQueue(path: path, configuration: config)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.execute(sql: """
                    CREATE TABLE message (
                        session_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
                        created_at REAL NOT NULL, citations TEXT NOT NULL DEFAULT '[]', ungrounded TEXT NOT NULL DEFAULT '[]',
                        PRIMARY KEY (session_id, seq));
                    CREATE TABLE answer_cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, created_at REAL NOT NULL);
                    """)
            }
            try migrator.migrate(db)
        } catch {
            throw IndexError(.storage, "cannot open the session store under \(dataDirectory.path): \(error)")
        }
    }

    public func history(_ sessionId: String) throws -> [SessionMessage] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT role, content, created_at, citations, ungrounded FROM message WHERE session_id = ? ORDER BY seq",
                             arguments: [sessionId]).map { row in
                SessionMessage(role: SessionMessage.Role(rawValue: row["role"]) ?? .user, content: row["content"],
                               createdAt: row["created_at"],
                               citations: Self.decodeList(row["citations"]), ungrounded: Self.decodeList(row["ungrounded"]))
            }
        }
    }

    /// Appends a question and its answer as one transaction.
    public func appendTurn(_ sessionId: String, question: String, answer: String, citations: [String], ungrounded: [String]) throws {
        let now = Date().timeIntervalSince1970
        try db.write { db in
            let next = (try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM message WHERE session_id = ?", arguments: [sessionId]) ?? 0) + 1
            try db.execute(sql: "INSERT INTO message (session_id, seq, role, content, created_at) VALUES (?, ?, 'user', ?, ?)",
                           arguments: [sessionId, next, question, now])
            try db.execute(sql: "INSERT INTO message (session_id, seq, role, content, created_at, citations, ungrounded) VALUES (?, ?, 'assistant', ?, ?, ?, ?)",
                           arguments: [sessionId, next + 1, answer, now, Self.encodeList(citations), Self.encodeList(ungrounded)])
            try pruneSessions(db, keeping: sessionId, now: now)
        }
    }

    private func pruneSessions(_ db: Database, keeping sessionId: String, now: Double) throws {
        // This conversation's oldest turns beyond its cap.
        try db.execute(sql: """
            DELETE FROM message WHERE session_id = ? AND seq <= (SELECT MAX(seq) FROM message WHERE session_id = ?) - ?
            """, arguments: [sessionId, sessionId, limits.maxMessagesPerSession])
        // Conversations unused past their lifetime, then the least recently used beyond the cap.
        try db.execute(sql: """
            DELETE FROM message WHERE session_id IN (
                SELECT session_id FROM message GROUP BY session_id HAVING MAX(created_at) < ?)
            """, arguments: [now - limits.sessionLifetime])
        try db.execute(sql: """
            DELETE FROM message WHERE session_id IN (
                SELECT session_id FROM message GROUP BY session_id ORDER BY MAX(created_at) DESC LIMIT -1 OFFSET ?)
            """, arguments: [limits.maxSessions])
    }

    /// Forgets a conversation. Returns whether it existed.
    @discardableResult
    public func reset(_ sessionId: String) throws -> Bool {
        try db.write { db in
            try db.execute(sql: "DELETE FROM message WHERE session_id = ?", arguments: [sessionId])
            return db.changesCount > 0
        }
    }

    func cached(_ key: String) -> CachedAnswer? {
        let oldest = Date().timeIntervalSince1970 - limits.cachedAnswerLifetime
        guard let text = try? db.read({ db in
            try String.fetchOne(db, sql: "SELECT value FROM answer_cache WHERE key = ? AND created_at >= ?", arguments: [key, oldest])
        }) else { return nil }
        return try? JSONDecoder().decode(CachedAnswer.self, from: Data(text.utf8))
    }

    func store(_ key: String, _ value: CachedAnswer) {
        guard let data = try? JSONEncoder().encode(value) else { return }
        let text = String(decoding: data, as: UTF8.self)
        try? db.write { db in
            let now = Date().timeIntervalSince1970
            try db.execute(sql: "INSERT OR REPLACE INTO answer_cache (key, value, created_at) VALUES (?, ?, ?)",
                           arguments: [key, text, now])
            try db.execute(sql: "DELETE FROM answer_cache WHERE created_at < ?", arguments: [now - limits.cachedAnswerLifetime])
            try db.execute(sql: """
                DELETE FROM answer_cache WHERE key IN (SELECT key FROM answer_cache ORDER BY created_at DESC LIMIT -1 OFFSET ?)
                """, arguments: [limits.maxCachedAnswers])
        }
    }

    static func encodeList(_ list: [String]) -> String {
        (try? JSONEncoder().encode(list)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }

    static func decodeList(_ text: String?) -> [String] {
        guard let text, let list = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else { return [] }
        return list
    }
}
