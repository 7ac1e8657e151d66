import Foundation
import GRDBSQLite

/// What the SQLite that xlchat links can do, for `xlchat doctor`: the index needs FTS5, and
/// substring search in codes (`ORD-11730`) uses FTS5's trigram tokenizer.
public struct SQLiteCapabilities: Sendable, Hashable {
    public var version: String
    public var fts5: Bool
    public var trigram: Bool

    /// Probes an in-memory database (no file is touched).
    public static func probe() -> SQLiteCapabilities {
        var db: OpaquePointer?
        defer { sqlite3_close_v2(db) }
        let version = String(cString: sqlite3_libversion())
        guard sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK else {
            return SQLiteCapabilities(version: version, fts5: false, trigram: false)
        }
        let fts5 = sqlite3_exec(db, "CREATE VIRTUAL TABLE probe_fts5 USING fts5(x)", nil, nil, nil) == SQLITE_OK
        let trigram = fts5
            && sqlite3_exec(db, "CREATE VIRTUAL TABLE probe_trigram USING fts5(x, tokenize='trigram')", nil, nil, nil) == SQLITE_OK
        return SQLiteCapabilities(version: version, fts5: fts5, trigram: trigram)
    }
}
