// Aggregates over text columns, and over number columns whose number formats show several
// currencies (the cells add up in Excel too, but the total mixes $, € and £). SQLite's sum/total/avg read a text value by its leading number
// (`'1.5k'` → 1.5, `'x'` → 0) and min/max compare text as text (`'9' > '10'`), so a query over a
// column the typing kept as text returns a confident wrong number with no error. The query
// still runs (the user may mean it); its result carries a warning that names the column and why
// it is text (its typing rule), as the join fan-out warning does.
import Foundation

enum TextAggregates {
    static let numericAggregates: Set<String> = ["sum", "total", "avg", "min", "max"]

    /// Warnings for each `f(…)` of `numericAggregates` in `sql` whose argument names a text
    /// column of a table the statement read. `read` maps lower-cased table names to the
    /// lower-cased columns the authorizer saw read; `tables` gives the columns' typing rules.
    static func warnings(sql: String, read: [String: Set<String>], tables: [TableMapping]) -> [String] {
        var textColumns: [String: (table: String, column: String, rule: String, currencies: Bool)] = [:]
        for t in tables {
            guard let cols = read[t.name.lowercased()] else { continue }
            for (name, rule) in t.textColumns ?? [:] where cols.contains(name.lowercased()) {
                textColumns[name.lowercased()] = (t.name, name, rule, false)
            }
            for (name, rule) in t.mixedCurrencyColumns ?? [:] where cols.contains(name.lowercased()) {
                textColumns[name.lowercased()] = (t.name, name, rule, true)
            }
        }
        guard !textColumns.isEmpty else { return [] }
        let tokens = SQLTokens.tokenize(sql)
        var out: [String] = []
        var seen = Set<String>()
        var i = 0
        while i + 1 < tokens.count {
            defer { i += 1 }
            guard case .identifier(let f) = tokens[i].kind, !tokens[i].quoted,
                  numericAggregates.contains(f.lowercased()), tokens[i + 1].kind == .punct("(") else { continue }
            var depth = 0
            var j = i + 1
            while j < tokens.count {
                if tokens[j].kind == .punct("(") { depth += 1 }
                if tokens[j].kind == .punct(")") { depth -= 1; if depth == 0 { break } }
                // min/max of words or codes is an order of texts, meant as such; only text
                // columns of numbers that did not type (`text: …`) are warned for them.
                if case .identifier(let c) = tokens[j].kind, let hit = textColumns[c.lowercased()],
                   hit.currencies || !(f.lowercased() == "min" || f.lowercased() == "max") || hit.rule.hasPrefix("text:") {
                    let key = f.lowercased() + "|" + hit.table + "|" + hit.column
                    if !seen.contains(key) {
                        seen.insert(key)
                        out.append(hit.currencies
                            ? "\(f.lowercased())(\(hit.column)) reads \(hit.table).\(hit.column), whose numbers show several currencies (\(hit.rule)): the result treats them as one currency"
                            : message(function: f.lowercased(), hit.table, hit.column, hit.rule))
                    }
                }
                j += 1
            }
        }
        return out
    }

    static func message(function f: String, _ table: String, _ column: String, _ rule: String) -> String {
        let effect = (f == "min" || f == "max")
            ? "\(f)() compares its values as text ('9' > '10'), not as numbers"
            : "SQLite reads each text by its leading number ('1.5k' → 1.5, 'x' → 0), so \(f)() is not the sum of the values as written"
        return "\(f)(\(column)) reads \(table).\(column), a text column (\(rule)): \(effect)"
    }
}
