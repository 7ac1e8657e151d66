import Foundation

// OpenDocument formulas (`table:formula="of:=SUM([.A1:.A3];[$Sheet2.B1])"`, OpenFormula, ODF 1.2
// part 2) into the text Excel shows (`SUM(A1:A3,Sheet2!B1)`):
//   - references in brackets: `[.A1]` -> `A1`, `[.A1:.B3]` -> `A1:B3`, `[$Sheet2.A1]` -> `Sheet2!A1`,
//     `['My Sheet'.A1]` -> `'My Sheet'!A1`, `[$S1.A1:$S3.B2]` -> `S1:S3!A1:B2`, `[.#REF!]` -> `#REF!`;
//   - `;` between arguments -> `,`; in array constants `;` (columns) -> `,` and `|` (rows) -> `;`;
//   - reference operators: `~` (union) -> `,`, `!` (intersection) -> space;
//   - function names: `COM.MICROSOFT.X` -> `_xlfn.X` (as xlsx stores Excel's newer functions),
//     `LEGACY.X` -> `X`, `ORG.OPENOFFICE.X` / `ORG.LIBREOFFICE.X` -> `X`;
//   - string literals are copied as they are (both syntaxes double a quote inside).
// A `msoxl:` formula is already in Excel syntax and is passed through. The leading `=` is dropped.

public enum OpenFormula {
    /// The Excel form of an ODF `table:formula` value (with or without its namespace prefix).
    public static func excelText(_ raw: String) -> String {
        var f = Substring(raw)
        var excelSyntax = false
        if let colon = f.firstIndex(of: ":"), f[..<colon].allSatisfy({ $0.isLetter }), !f[..<colon].isEmpty {
            excelSyntax = f[..<colon].lowercased() == "msoxl"
            f = f[f.index(after: colon)...]
        }
        if f.hasPrefix("=") { f = f.dropFirst() }
        if excelSyntax { return String(f) }
        return convert(Array(f.unicodeScalars))
    }

    private static func convert(_ s: [Unicode.Scalar]) -> String {
        var out = String.UnicodeScalarView()
        var i = 0
        var arrayDepth = 0
        let n = s.count
        func isIdentStart(_ c: Unicode.Scalar) -> Bool { c.properties.isAlphabetic || c == "_" }
        func isIdent(_ c: Unicode.Scalar) -> Bool { c.properties.isAlphabetic || c == "_" || c == "." || ("0"..."9").contains(c) }
        while i < n {
            let c = s[i]
            switch c {
            case "\"":
                var j = i + 1
                while j < n { if s[j] == "\"" { if j + 1 < n && s[j + 1] == "\"" { j += 2; continue }; break }; j += 1 }
                out.append(contentsOf: s[i..<min(j + 1, n)])
                i = j + 1
            case "[":
                var j = i + 1
                var quoted = false
                while j < n && (quoted || s[j] != "]") { if s[j] == "'" { quoted.toggle() }; j += 1 }
                out.append(contentsOf: reference(String(String.UnicodeScalarView(s[(i + 1)..<min(j, n)]))).unicodeScalars)
                i = j + 1
            case "#":
                // An error literal (`#DIV/0!`, `#N/A`): copied whole, so its `!` stays.
                let rest = String(String.UnicodeScalarView(s[i..<min(i + 8, n)])).uppercased()
                let e = ["#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"].first { rest.hasPrefix($0) }
                out.append(contentsOf: (e ?? "#").unicodeScalars)
                i += e?.unicodeScalars.count ?? 1
            case "{": arrayDepth += 1; out.append(c); i += 1
            case "}": arrayDepth = max(0, arrayDepth - 1); out.append(c); i += 1
            case ";": out.append(","); i += 1
            case "|" where arrayDepth > 0: out.append(";"); i += 1
            case "~": out.append(","); i += 1
            case "!": out.append(" "); i += 1
            default:
                if isIdentStart(c) && (i == 0 || !isIdent(s[i - 1])) {
                    var j = i
                    while j < n && isIdent(s[j]) { j += 1 }
                    let word = String(String.UnicodeScalarView(s[i..<j]))
                    var k = j
                    while k < n && s[k] == " " { k += 1 }
                    out.append(contentsOf: (k < n && s[k] == "(" ? functionName(word) : word).unicodeScalars)
                    i = j
                } else {
                    out.append(c)
                    i += 1
                }
            }
        }
        return String(out)
    }

    static func functionName(_ name: String) -> String {
        let upper = name.uppercased()
        for prefix in ["COM.MICROSOFT.", "_XLFN."] where upper.hasPrefix(prefix) {
            return "_xlfn." + name.dropFirst(prefix.count)
        }
        for prefix in ["LEGACY.", "ORG.OPENOFFICE.", "ORG.LIBREOFFICE."] where upper.hasPrefix(prefix) {
            return String(name.dropFirst(prefix.count))
        }
        switch upper {
        case "ERRORTYPE": return "ERROR.TYPE"
        default: return name
        }
    }

    /// The inside of `[...]`: one or two `sheet.cell` parts joined by `:`.
    static func reference(_ text: String) -> String {
        var parts: [String] = []
        var current = ""
        var quoted = false
        for ch in text {
            if ch == "'" { quoted.toggle() }
            if ch == ":" && !quoted { parts.append(current); current = "" } else { current.append(ch) }
        }
        parts.append(current)
        var sheets: [String?] = []
        var cells: [String] = []
        for part in parts {
            // The sheet is everything before the last `.` outside quotes.
            var dot: String.Index? = nil
            var q = false
            var idx = part.startIndex
            while idx < part.endIndex {
                let ch = part[idx]
                if ch == "'" { q.toggle() } else if ch == "." && !q { dot = idx }
                idx = part.index(after: idx)
            }
            if let dot {
                let sheet = String(part[..<dot])
                sheets.append(sheet.isEmpty ? nil : sheetName(sheet))
                cells.append(String(part[part.index(after: dot)...]))
            } else {
                sheets.append(nil)
                cells.append(part)
            }
        }
        if cells.contains(where: { $0.contains("#REF!") }) || sheets.contains(where: { $0?.contains("#REF!") ?? false }) {
            return "#REF!"
        }
        var prefix = ""
        if let first = sheets.first ?? nil {
            // An external book (`[x.ods]`) stays outside the sheet-name check, inside the quotes.
            var book = "", name = first
            if first.hasPrefix("["), let close = first.firstIndex(of: "]") {
                book = String(first[...close]); name = String(first[first.index(after: close)...])
            }
            let last = sheets.count == 2 ? sheets[1] : nil
            prefix = BIFFFormula.sheetPrefix(book: book, first: name, last: last != nil && last != first ? last : nil) + "!"
        }
        return prefix + cells.joined(separator: ":")
    }

    /// `$Sheet1` -> `Sheet1`; `'My ''Q'' Sheet'` -> `My 'Q' Sheet`; `'file:///x.ods'#$Data` -> `[x.ods]Data`.
    private static func sheetName(_ raw: String) -> String {
        var s = Substring(raw)
        var book = ""
        if s.hasPrefix("'"), let hash = s.range(of: "'#") {
            let url = s[s.index(after: s.startIndex)..<hash.lowerBound]
            book = "[" + (url.split(separator: "/").last.map(String.init) ?? String(url)) + "]"
            s = s[hash.upperBound...]
        }
        if s.hasPrefix("$") { s = s.dropFirst() }
        if s.hasPrefix("'") && s.hasSuffix("'") && s.count >= 2 {
            s = s.dropFirst().dropLast()
            return book + s.replacingOccurrences(of: "''", with: "'")
        }
        return book + String(s)
    }
}
