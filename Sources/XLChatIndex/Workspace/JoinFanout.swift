// Join fan-out (issue 12): `orders JOIN customers ON o.customer = c.id` counts every order once
// per customers row with that id. When `customers.id` repeats (the same customer exported twice,
// one row per address), every total over the join grows, silently. This finds the joins of a
// query, measures whether the joined side's key is unique in its table, and says so in words,
// for the model and the user.

/// The key a query joins a table on: `table` is the side named after JOIN.
public struct JoinKey: Sendable, Hashable {
    public var table: String
    public var columns: [String]
}

/// A join whose key repeats on the joined side.
public struct JoinFanoutWarning: Sendable, Hashable {
    public var table: String
    public var columns: [String]
    /// Distinct key values that occur on more than one row.
    public var repeatedKeys: Int
    /// Rows of the most repeated key.
    public var maxRepeat: Int
    public var message: String {
        let key = columns.map { "\(table).\($0)" }.joined(separator: ", ")
        return "join fan-out: \(key) is not unique — \(repeatedKeys) key value\(repeatedKeys == 1 ? "" : "s") repeat (up to \(maxRepeat) rows each), so each matching row on the other side is counted once per repeat and sums over the join are inflated; join on a unique key, or aggregate \(table) by its key first"
    }
}

public enum JoinFanout {
    /// The join keys of `sql` on tables of `tables` (names compared case-insensitively).
    /// Understood: `[INNER|LEFT|RIGHT|FULL|CROSS] [OUTER] JOIN t [AS a] ON x.c = a.d [AND …]`
    /// (equalities whose one side is qualified by the joined table or its alias) and
    /// `JOIN t USING (c, …)`, at any depth (subqueries too). Not understood, so not warned:
    /// joins written as `FROM a, b WHERE a.k = b.k`, and keys that are expressions.
    public static func keys(in sql: String, tables: Set<String>) -> [JoinKey] {
        let known = Dictionary(tables.map { ($0.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
        let t = SQLTokens.tokenize(sql)
        var result: [JoinKey] = []
        var i = 0
        while i < t.count {
            defer { i += 1 }
            guard t[i].isWord("join"), i + 1 < t.count, case .identifier(let raw) = t[i + 1].kind,
                  let table = known[raw.lowercased()] else { continue }
            var j = i + 2
            var alias = raw.lowercased()
            if j < t.count, t[j].isWord("as") { j += 1 }
            if j < t.count, case .identifier(let a) = t[j].kind, !t[j].isKeyword { alias = a.lowercased(); j += 1 }
            if j < t.count, t[j].isWord("using"), j + 1 < t.count, t[j + 1].kind == .punct("(") {
                var cols: [String] = []
                var k = j + 2
                while k < t.count, t[k].kind != .punct(")") {
                    if case .identifier(let c) = t[k].kind { cols.append(c) }
                    k += 1
                }
                if !cols.isEmpty { result.append(JoinKey(table: table, columns: cols)) }
                continue
            }
            guard j < t.count, t[j].isWord("on") else { continue }
            // The ON condition: to the next clause keyword or closing parenthesis at its depth.
            var cols: [String] = []
            var depth = 0
            var k = j + 1
            while k < t.count {
                if t[k].kind == .punct("(") { depth += 1 } else if t[k].kind == .punct(")") {
                    if depth == 0 { break }
                    depth -= 1
                } else if depth == 0, t[k].isClauseEnd { break }
                // `q.c = r.d`: five tokens.
                if k + 6 < t.count, t[k + 3].kind == .punct("="),
                   let left = qualified(t, k), let right = qualified(t, k + 4) {
                    if left.qualifier == alias, right.qualifier != alias { cols.append(left.column) }
                    else if right.qualifier == alias, left.qualifier != alias { cols.append(right.column) }
                    k += 7
                    continue
                }
                k += 1
            }
            if !cols.isEmpty { result.append(JoinKey(table: table, columns: cols)) }
        }
        var seen: Set<JoinKey> = []
        return result.filter { seen.insert($0).inserted }
    }

    private static func qualified(_ t: [SQLToken], _ k: Int) -> (qualifier: String, column: String)? {
        guard k + 2 < t.count, case .identifier(let q) = t[k].kind, t[k + 1].kind == .punct("."),
              case .identifier(let c) = t[k + 2].kind else { return nil }
        return (q.lowercased(), c)
    }

    /// The SQL that measures a key: one row of (repeated keys, most rows of one key).
    /// Rows whose key is NULL match nothing in a join and are left out.
    public static func measureSQL(_ key: JoinKey) -> String {
        let cols = key.columns.map(quote).joined(separator: ", ")
        let notNull = key.columns.map { "\(quote($0)) IS NOT NULL" }.joined(separator: " AND ")
        return "SELECT count(*), coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM \(quote(key.table)) WHERE \(notNull) GROUP BY \(cols) HAVING count(*) > 1)"
    }

    /// Measures each key with `run` (which executes `measureSQL(key)` and returns its two
    /// numbers) and returns a warning for every key that repeats. A key whose measurement
    /// throws (a column the join names that the table does not have) gives no warning: the
    /// query itself already failed or succeeded on its own terms.
    public static func warnings(for keys: [JoinKey], run: (String) throws -> (Int, Int)) -> [JoinFanoutWarning] {
        keys.compactMap { key in
            guard let (repeated, most) = try? run(measureSQL(key)), repeated > 0 else { return nil }
            return JoinFanoutWarning(table: key.table, columns: key.columns, repeatedKeys: repeated, maxRepeat: most)
        }
    }

    static func quote(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}

/// A token of SQL text, enough to find joins: identifiers (bare, "double-quoted", `backticked`,
/// [bracketed]), string and number literals, punctuation; comments and white space dropped.
struct SQLToken: Hashable {
    enum Kind: Hashable {
        case identifier(String)
        case literal
        case punct(String)
    }
    var kind: Kind
    var quoted: Bool

    func isWord(_ w: String) -> Bool {
        if case .identifier(let s) = kind, !quoted { return s.lowercased() == w }
        return false
    }
    static let keywords: Set<String> = [
        "on", "using", "join", "inner", "left", "right", "full", "outer", "cross", "natural", "where",
        "group", "order", "having", "limit", "union", "except", "intersect", "window", "select", "from", "as",
    ]
    var isKeyword: Bool {
        if case .identifier(let s) = kind, !quoted { return Self.keywords.contains(s.lowercased()) }
        return false
    }
    var isClauseEnd: Bool {
        guard case .identifier(let s) = kind, !quoted else { return false }
        return ["join", "inner", "left", "right", "full", "cross", "natural", "where", "group", "order",
                "having", "limit", "union", "except", "intersect", "window"].contains(s.lowercased())
    }
}

enum SQLTokens {
    static func tokenize(_ sql: String) -> [SQLToken] {
        let s = Array(sql.unicodeScalars)
        var out: [SQLToken] = []
        var i = 0
        func isIdent(_ c: Unicode.Scalar) -> Bool { c == "_" || c == "$" || c.properties.isAlphabetic || ("0"..."9").contains(c) || c.value > 0x7f }
        while i < s.count {
            let c = s[i]
            if c == " " || c == "\n" || c == "\t" || c == "\r" { i += 1; continue }
            if c == "-", i + 1 < s.count, s[i + 1] == "-" {
                while i < s.count, s[i] != "\n" { i += 1 }
                continue
            }
            if c == "/", i + 1 < s.count, s[i + 1] == "*" {
                i += 2
                while i + 1 < s.count, !(s[i] == "*" && s[i + 1] == "/") { i += 1 }
                i += 2
                continue
            }
            if c == "'" {
                i += 1
                while i < s.count { if s[i] == "'" { if i + 1 < s.count, s[i + 1] == "'" { i += 2; continue }; break }; i += 1 }
                i += 1
                out.append(SQLToken(kind: .literal, quoted: false))
                continue
            }
            if c == "\"" || c == "`" || c == "[" {
                let close: Unicode.Scalar = c == "[" ? "]" : c
                var name = String.UnicodeScalarView()
                i += 1
                while i < s.count {
                    if s[i] == close {
                        if close != "]", i + 1 < s.count, s[i + 1] == close { name.append(close); i += 2; continue }
                        break
                    }
                    name.append(s[i]); i += 1
                }
                i += 1
                out.append(SQLToken(kind: .identifier(String(name)), quoted: true))
                continue
            }
            if ("0"..."9").contains(c) {
                while i < s.count, isIdent(s[i]) || s[i] == "." { i += 1 }
                out.append(SQLToken(kind: .literal, quoted: false))
                continue
            }
            if isIdent(c) {
                var name = String.UnicodeScalarView()
                while i < s.count, isIdent(s[i]) { name.append(s[i]); i += 1 }
                out.append(SQLToken(kind: .identifier(String(name)), quoted: false))
                continue
            }
            if c == "=", i + 1 < s.count, s[i + 1] == "=" { i += 2; out.append(SQLToken(kind: .punct("="), quoted: false)); continue }
            out.append(SQLToken(kind: .punct(String(c)), quoted: false))
            i += 1
        }
        return out
    }
}
