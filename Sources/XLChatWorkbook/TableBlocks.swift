import Foundation

// Row rules for several tables on one sheet: which rows are totals or subtotals, and which
// repeat a table's header. Used by `TableInferrer` on every data row, so each check rejects an
// ordinary row after looking at a few bytes (measured on the mixed 100k × 20 benchmark sheet:
// see the report in Benchmarks/xlchat-bench).

enum BlockRules {
    /// A header or cell text as compared for a repeated header: whitespace runs collapsed,
    /// trimmed, lower-cased.
    static func key(_ s: String) -> String {
        TableInferrer.cleanName(s).lowercased()
    }

    /// Whether `cells` are exactly the header row `header` (column -> `key` of its text) again.
    static func repeats(_ cells: [RowCell], header: [Int: String]) -> Bool {
        guard !cells.isEmpty, cells.count == header.count else { return false }
        for c in cells {
            guard let h = header[c.column] else { return false }
            if case .string(let s) = c.value {
                guard key(s) == h else { return false }
            } else if case .number = c.value {
                guard key(TableInferrer.displayText(c.value)) == h else { return false }
            } else {
                return false
            }
        }
        return true
    }

    /// SUBTOTAL(...), AGGREGATE(...), or SUM over a range of the same column ending above `row`
    /// (0-based) on the same sheet, e.g. `SUM(B2:B9)` in B10. A running balance (`SUM(B$2:B5)` in
    /// C5) sums another column, and `SUM(Apr!B2:B4)` another sheet, so they are not one.
    static func isTotalFormula(_ formula: String, column: Int, row: Int) -> Bool {
        RowEvidence.formulaKind(formula, column: column, row: row)?.kind == .total
    }

    /// Labels that mark a total when they are the whole label, or its first or last word
    /// ("Total", "Grand total", "East Total", "Total 2024", "Summe:", "Σ"). English, German,
    /// French, Spanish, Portuguese, Italian, Dutch, Nordic, Polish, Czech, Turkish, Russian.
    static let totalWords: Set<String> = [
        "total", "totals", "subtotal", "subtotals", "sub-total", "grandtotal",
        "gesamt", "gesamtsumme", "insgesamt", "zwischensumme", "endsumme", "gesamtbetrag", "summe",
        "sous-total", "totaux", "totale", "totali", "subtotale", "totaal", "subtotaal", "eindtotaal",
        "totalt", "summa", "yhteensä", "samtals", "razem", "ogółem", "celkem", "toplam",
        "итого", "всего", "σ", "∑",
    ]
    /// Words that mark a total only as the label's first word ("Sum of sales", "Suma", "Somme"),
    /// because as a last word they name things ("Lump sum").
    static let leadingTotalWords: Set<String> = ["sum", "sums", "suma", "soma", "somme", "somma", "som", "sumă"]
    /// Whole labels of several words.
    static let totalPhrases: Set<String> = ["grand total", "sub total", "total général", "total general", "total geral",
                                            "totale generale", "i alt", "genel toplam", "ara toplam", "overall total"]
    /// CJK total words, matched at the start or end without a space ("東京合計").
    static let cjkTotals = ["合計", "合计", "总计", "總計", "総計", "小計", "小计", "합계", "소계", "총계"]
    /// Lower-case ASCII trigrams, one of which every ASCII total label contains: a row is only
    /// looked at closely when it has one (or a non-ASCII byte).
    private static let trigrams: Set<UInt32> = {
        var out = Set<UInt32>()
        for t in ["tot", "sum", "som", "ges", "raz", "cel", "top", "alt", "yht"] {
            let b = Array(t.utf8)
            out.insert(UInt32(b[0]) << 16 | UInt32(b[1]) << 8 | UInt32(b[2]))
        }
        return out
    }()

    static func isTotalLabel(_ s: String) -> Bool { totalLabelStrength(s) != nil }

    /// `.whole` when the label is only a totals word or phrase ("Total", "Grand total:",
    /// "Summe", "合計"); `.partial` when it starts or ends with one ("Total North", "East Total",
    /// "Total Gym XLS", "東京小計"), which is a total only with more evidence; nil otherwise.
    static func totalLabelStrength(_ s: String) -> RowEvidence.LabelStrength? {
        let utf8 = s.utf8
        guard !utf8.isEmpty, utf8.count <= 60 else { return nil }
        var candidate = false
        var a: UInt32 = 0, b: UInt32 = 0
        for byte in utf8 {
            if byte >= 0x80 { candidate = true; break }
            let c = UInt32(byte | (byte >= 65 && byte <= 90 ? 0x20 : 0))
            if trigrams.contains(a << 16 | b << 8 | c) { candidate = true; break }
            a = b; b = c
        }
        guard candidate else { return nil }
        let norm = RowEvidence.normalized(s)
        if norm.isEmpty { return nil }
        if totalWords.contains(norm) || leadingTotalWords.contains(norm) || totalPhrases.contains(norm)
            || cjkTotals.contains(norm) { return .whole }
        let words = norm.split(separator: " ")
        if words.count >= 2 {
            let first = String(words[0]).trimmingCharacters(in: .punctuationCharacters)
            let last = String(words[words.count - 1]).trimmingCharacters(in: .punctuationCharacters)
            if totalWords.contains(first) || leadingTotalWords.contains(first) || totalWords.contains(last) { return .partial }
            if words.count >= 3 {
                let lastTwo = words[words.count - 2] + " " + words[words.count - 1]
                if totalPhrases.contains(String(lastTwo)) { return .partial }
            }
        }
        return cjkTotals.contains { norm.hasPrefix($0) || norm.hasSuffix($0) } ? .partial : nil
    }
}
