import Foundation

// Row classification inside a table: which rows are totals, aggregates (Average, Max, ...),
// footnotes, a units row under the header, and whether a sheet is a form of `label: value`
// pairs. The rule everywhere: decide from evidence, never from a word alone.
//
// Evidence for a total or aggregate row, strongest first:
// - a formula in the row that aggregates the rows ABOVE it IN THE SAME COLUMN ON THE SAME SHEET
//   (`=SUM(B2:B9)` in B10; SUBTOTAL / AGGREGATE; AVERAGE / MAX / MIN / COUNT / MEDIAN / STDEV).
//   `=SUM(Apr!B2:B4)` is a reference to another sheet: a data row of a summary sheet.
// - a label that is exactly a totals word or phrase ("Total", "Grand total", "Summe:", "合計")
//   or an aggregate word ("Average", "Max", "Mittelwert"), in one of the row's first two cells,
//   with a number in the row.
// - a label that only starts or ends with such a word ("Total North", "East Total",
//   "Total Gym XLS", "Average Joe's") counts only when the row's numbers are the sum (the
//   average, max, ...) of the rows above: a product called "Total Gym XLS" is data.
// - no label at all, every number the sum of the rows above (at least two of them), and the row
//   is the last of its run (a blank row or the end of the sheet follows). With one number only,
//   the table must have a label column the row leaves empty (a purely numeric series may sum
//   by coincidence: then several columns must agree).
// Cell style (bold, double border) is not delivered by the readers, so it is not used.

/// Running figures of one column over data rows (the whole table, and the rows since its last
/// total), to test whether a candidate row's number is their sum, average, max, min or count.
struct ColumnRun {
    var sum = 0.0, count = 0, min = Double.infinity, max = -Double.infinity
    mutating func add(_ d: Double) {
        sum += d; count += 1
        if d < min { min = d }
        if d > max { max = d }
    }
}

enum RowEvidence {
    /// How a label names a total or an aggregate.
    enum LabelStrength { case whole, partial }

    /// Whether `a` and `b` agree within rounding (a total of rounded amounts may be off in the
    /// last cent): 0.011 absolute, or 1e-9 relative for large sums.
    static func close(_ a: Double, _ b: Double) -> Bool {
        abs(a - b) <= Swift.max(0.011, 1e-9 * Swift.max(abs(a), abs(b)))
    }

    // MARK: Formulas

    static let aggregateFunctions: [String: String] = [
        "AVERAGE": "average", "AVERAGEA": "average", "MAX": "max", "MAXA": "max", "MIN": "min", "MINA": "min",
        "COUNT": "count", "COUNTA": "count", "MEDIAN": "median", "STDEV": "stdev", "STDEV.S": "stdev",
        "STDEV.P": "stdev", "STDEVA": "stdev", "VAR": "var", "VAR.S": "var", "MODE": "mode", "PRODUCT": "product",
    ]

    /// The kind of row `formula` (in `column`, `row`, 0-based) makes: `.total` for SUBTOTAL /
    /// AGGREGATE, or SUM over a range of the same column ending above `row` on the same sheet;
    /// `.aggregate` (with the function's name) for AVERAGE / MAX / MIN / COUNT / MEDIAN / ...
    /// over such a range. Nil otherwise: a row sum (`SUM(B5:E5)`), a running balance in another
    /// column, or a reference to another sheet (`SUM(Apr!B2:B4)`, a summary sheet's data row).
    ///
    /// `firstDataRow`: the row is its table's first data row, where a total at the TOP of a
    /// table aggregates the rows below it (`=SUM(B3:B9)` in B2); there a range below counts too.
    static func formulaKind(_ formula: String, column: Int, row: Int, firstDataRow: Bool = false) -> (kind: ExcludedRow.Kind, function: String)? {
        var f = Substring(formula)
        while let c = f.first, c == "=" || c == "+" || c == " " || c == "@" { f = f.dropFirst() }
        guard let open = f.prefix(24).firstIndex(of: "(") else { return nil }
        var name = f[..<open].uppercased()
        if name.hasPrefix("_XLFN.") { name.removeFirst(6) }
        if name == "SUBTOTAL" || name == "AGGREGATE" { return (.total, name) }
        let kind: ExcludedRow.Kind
        if name == "SUM" { kind = .total } else if aggregateFunctions[name] != nil { kind = .aggregate } else { return nil }
        guard let close = f.lastIndex(of: ")"), close > open else { return nil }
        let inner = f[f.index(after: open)..<close]
        for arg in inner.split(separator: ",") {
            let text = arg.trimmingCharacters(in: .whitespaces)
            guard text.contains(":"), !text.contains("!"), let (sheet, r) = A1.parseRange(text), sheet == nil else { continue }
            guard r.start.column == column && r.end.column == column else { continue }
            if r.end.row < row || (firstDataRow && r.start.row > row) { return (kind, name) }
        }
        return nil
    }

    // MARK: Labels

    /// Aggregate words (lower case) and the aggregate each names; matched as the whole label or
    /// its first word. English, German, French, Spanish, Portuguese, Italian, Dutch, Nordic,
    /// Polish, Russian, CJK.
    static let aggregateWords: [String: String] = [
        "average": "average", "avg": "average", "mean": "average", "ø": "average", "⌀": "average",
        "durchschnitt": "average", "mittelwert": "average", "moyenne": "average", "promedio": "average",
        "media": "average", "média": "average", "gemiddelde": "average", "gemiddeld": "average", "medel": "average",
        "gennemsnit": "average", "gjennomsnitt": "average", "keskiarvo": "average", "średnia": "average",
        "среднее": "average", "平均": "average", "平均値": "average", "평균": "average",
        "max": "max", "max.": "max", "maximum": "max", "máximo": "max", "maximo": "max", "massimo": "max", "maximal": "max",
        "最大": "max", "最大値": "max", "최대": "max", "максимум": "max",
        "min": "min", "min.": "min", "minimum": "min", "mínimo": "min", "minimo": "min", "minimal": "min",
        "最小": "min", "最小値": "min", "최소": "min", "минимум": "min",
        "count": "count", "anzahl": "count", "conteo": "count", "antal": "count", "aantal": "count", "件数": "count",
        "median": "median", "médiane": "median", "mediana": "median", "mediaan": "median", "中央値": "median",
        "stdev": "stdev", "std": "stdev", "stddev": "stdev", "std.dev": "stdev", "std. dev": "stdev", "std dev": "stdev",
        "standard deviation": "stdev", "standardabweichung": "stdev", "écart-type": "stdev",
    ]

    /// The first three bytes of every ASCII aggregate word, packed as in `aggregateLabel`.
    static let aggregateHeads: Set<UInt32> = {
        var out = Set<UInt32>()
        for word in aggregateWords.keys {
            let b = Array(word.utf8.prefix(3))
            guard b.count == 3, b.allSatisfy({ $0 < 0x80 }) else { continue }
            out.insert(UInt32(b[0]) << 16 | UInt32(b[1]) << 8 | UInt32(b[2]))
        }
        return out
    }()

    /// The aggregate `label` names, and whether the label is only that word ("Average",
    /// "Max:") or starts with it ("Average North").
    static func aggregateLabel(_ label: String) -> (function: String, strength: LabelStrength)? {
        guard label.utf8.count <= 60 else { return nil }
        // Quick reject (this runs on every data row's label): the first three bytes, lower-cased,
        // must open an aggregate word, or one of them be non-ASCII.
        var head: UInt32 = 0, n = 0
        for byte in label.utf8 {
            if n == 0 && (byte == 32 || byte == 9) { continue }
            if byte >= 0x80 { n = -1; break }
            head = head << 8 | UInt32(byte | (byte >= 65 && byte <= 90 ? 0x20 : 0))
            n += 1
            if n == 3 { break }
        }
        if n >= 0 && !aggregateHeads.contains(head) { return nil }
        let norm = normalized(label)
        if norm.isEmpty { return nil }
        if let fn = aggregateWords[norm] { return (fn, .whole) }
        let words = norm.split(separator: " ")
        if words.count >= 2 {
            let head = String(words[0]).trimmingCharacters(in: CharacterSet(charactersIn: ":.,;"))
            if let fn = aggregateWords[head] { return (fn, .partial) }
            if let fn = aggregateWords[words[0] + " " + words[1]] { return (fn, words.count == 2 ? .whole : .partial) }
        }
        return nil
    }

    /// `label` as compared with the word lists: whitespace collapsed, lower case, trailing
    /// `:`, `.`, `*`, `=` dropped.
    static func normalized(_ label: String) -> String {
        var norm = BlockRules.key(label)
        while let l = norm.last, l == ":" || l == "." || l == "*" || l == "=" { norm.removeLast() }
        return norm.trimmingWhitespace()
    }

    // MARK: Footnotes

    /// Words that open a note under a table ("Source: World Bank", "Note: ...").
    static let noteWords: Set<String> = [
        "source", "sources", "note", "notes", "nb", "n.b", "remark", "remarks", "footnote", "footnotes", "disclaimer",
        "quelle", "quellen", "anmerkung", "anmerkungen", "hinweis", "hinweise", "fußnote", "stand",
        "fuente", "fuentes", "nota", "notas", "fonte", "fonti", "remarque", "remarques", "bron", "bronnen",
        "opmerking", "opmerkingen", "källa", "kilde", "lähde", "źródło", "uwaga", "zdroj", "poznámka", "kaynak",
        "источник", "примечание", "出典", "出所", "注", "备注", "注释", "资料来源", "来源", "資料來源", "備考", "출처",
    ]

    /// Whether the one text `s` reads as a footnote: it opens with a note word followed by `:`
    /// (or is one), or with a note mark (`*`, `†`, `‡`, `§`, `¹`, `(1)`, `[1]`, `1)`), or it
    /// is a sentence (four words or more).
    static func isNoteText(_ s: String) -> Bool {
        let t = s.trimmingWhitespace()
        guard let first = t.unicodeScalars.first else { return false }
        if "*†‡§¹²³⁴⁵⁶⁷⁸⁹⁰#".unicodeScalars.contains(first) { return true }
        if t.count <= 200 {
            let lower = t.lowercased()
            var head = Substring(lower)
            if let colon = lower.firstIndex(where: { $0 == ":" || $0 == "：" }) { head = lower[..<colon] }
            else if let space = lower.firstIndex(of: " ") { head = lower[..<space] }
            if noteWords.contains(head.trimmingCharacters(in: .whitespaces)) { return true }
            // "(1) ...", "[2] ...", "1) ..."
            let scalars = Array(lower.unicodeScalars.prefix(5))
            if scalars.count >= 3 {
                if (scalars[0] == "(" || scalars[0] == "[") && scalars[1].properties.numericType != nil
                    && (scalars[2] == ")" || scalars[2] == "]") { return true }
                if scalars[0].properties.numericType != nil && scalars[1] == ")" && scalars[2] == " " { return true }
            }
        }
        return t.split(whereSeparator: { $0 == " " }).count >= 4
    }

    // MARK: Units rows

    /// Unit and currency tokens that a units row under a header holds (lower case).
    static let unitTokens: Set<String> = [
        "%", "‰", "pct", "percent", "kg", "mg", "lb", "lbs", "oz", "km", "cm", "mm", "mi", "ft",
        "m2", "m²", "m3", "m³", "km2", "km²", "ha", "ml", "hl", "gal", "hrs", "sec", "ms",
        "days", "°c", "°f", "kw", "kwh", "mwh", "gwh", "hz", "pcs", "pc", "units", "stk", "stück",
        "usd", "eur", "gbp", "chf", "jpy", "cny", "rmb", "inr", "cad", "aud", "sek", "nok", "dkk", "pln", "czk", "rub",
        "brl", "mxn", "krw", "try", "zar", "$", "€", "£", "¥", "₹", "₽", "₩", "fr", "fr.", "kr", "zł", "r$",
        "tsd", "tsd.", "mio", "mio.", "mrd", "mrd.", "bn", "k€", "t€", "m€", "k$", "m$", "'000", "000s", "000",
    ]

    /// Whether `s` reads as a unit: a short text in parentheses or brackets (`(kg)`,
    /// `[EUR/t]`), `in X` / `en X` / `à X` with a short X (`in EUR`, `in 1000 €`), or a unit
    /// or currency token (`USD`, `%`, `kg`, `m²`).
    static func isUnitText(_ s: String) -> Bool {
        let t = s.trimmingWhitespace().lowercased()
        guard !t.isEmpty, t.count <= 16 else { return false }
        if let f = t.first, let l = t.last, (f == "(" && l == ")") || (f == "[" && l == "]") {
            return t.count >= 3 && t.count <= 16
        }
        for prefix in ["in ", "en ", "à ", "em "] where t.hasPrefix(prefix) {
            return t.count - prefix.count <= 10
        }
        if unitTokens.contains(t) { return true }
        // Compound units: "eur/kg", "km/h", "usd/t".
        let parts = t.split(separator: "/")
        return parts.count == 2 && parts.allSatisfy { unitTokens.contains(String($0)) }
    }

    /// Whether `cells` (the row right under a header) is a units row: every cell a text that
    /// reads as a unit (`isUnitText`), each under a header cell.
    static func isUnitsRow(_ cells: [RowCell], headerColumns: Set<Int>) -> Bool {
        var any = false
        for c in cells {
            guard case .string(let s) = c.value else { return false }
            if s.trimmingWhitespace().isEmpty { continue }
            guard headerColumns.contains(c.column), isUnitText(s) else { return false }
            any = true
        }
        return any
    }

    // MARK: Forms (label: value pairs)

    /// Whether the first rows of a sheet read as a form: at least two rows, and at least two
    /// thirds of them are a text label ending in `:` followed by one value (two cells at most
    /// per row) — "Customer: | ACME", "Invoice no: | 12345", "Total due: | 999.50".
    static func isForm(_ rows: [SheetRow]) -> Bool {
        guard rows.count >= 2 else { return false }
        var pairs = 0
        for r in rows {
            guard r.cells.count <= 2 else { return false }
            if case .string(let s) = r.cells[0].value, r.cells.count == 2 {
                let t = s.trimmingWhitespace()
                if t.hasSuffix(":") || t.hasSuffix("：") { pairs += 1 }
            }
        }
        return pairs >= 2 && pairs * 3 >= rows.count * 2
    }
}
