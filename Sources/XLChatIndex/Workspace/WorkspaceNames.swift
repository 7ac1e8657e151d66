// One SQL namespace over many workbooks (issue 12): every table gets a readable name built from
// its file and table (`sales_2024__orders`), unique in the workspace, and tables with the same
// columns in several files (monthly exports) get a union view with a `_file` column.

/// A table of one workspace file, as the namer sees it.
public struct WorkspaceTableSource: Sendable, Hashable {
    /// The file's path relative to the workspace folder (`2024/sales_jan.xlsx`).
    public var relativePath: String
    /// The table's name inside its workbook's index (`Orders`, `Orders_2`, `sales_jan`).
    public var table: String
    /// Its column names, in order (without internal columns such as `_row`).
    public var columns: [String]
    public init(relativePath: String, table: String, columns: [String]) {
        self.relativePath = relativePath; self.table = table; self.columns = columns
    }
}

/// Tables with the same columns across files, exposed together as `name` with a `_file` column.
public struct WorkspaceUnion: Sendable, Hashable {
    public var name: String
    /// The member tables' workspace names, in path order.
    public var members: [String]
    /// The shared columns, in the first member's order.
    public var columns: [String]
}

public struct WorkspaceNamespace: Sendable {
    /// Workspace name of each source, in the order given.
    public var names: [String]
    public var unions: [WorkspaceUnion]
}

/// Names tables in a workspace's SQL namespace.
///
/// A name is `<file>__<table>`, both parts as SQL-safe words (lower case; runs of anything but
/// letters and digits become `_`; a leading digit gets `t_`). `<file>` is the file's name
/// without its extension; when two files share it, parent folders are prefixed until they
/// differ (`2023_sales__orders`, `2024_sales__orders`), then the extension is added
/// (`sales_csv`, `sales_xlsx`). A file whose only table is named after the file itself
/// (every csv) is just `<file>`. The names depend only on the set of paths, so they are the
/// same at every open of an unchanged folder.
///
/// Union views group tables that look like the same export: their column names are equal as
/// sets (case-insensitive, as SQL names are; at least two columns), they come from at least two
/// files, and they share a name once dates are taken out. A table's union name is its sheet's or
/// table's name without digits and month names (`Orders`, `Orders 2024-01` → `orders`); for a
/// table named after its file (every csv) it is the file's name without them (`orders_2024_01`
/// … `orders_2024_12` → `orders`), else its folder's (`orders/2024-01.csv` → `orders`). Tables
/// with the same columns but unrelated names (`Sheet 1` A,B,C and `zero rows.csv` a,b,c) are
/// not unioned, and renaming one member leaves the others' union and its name as they were.
/// Only files named by dates alone in a folder named so too fall back to `union_<n>`. `_all` is
/// added when the name clashes with a table.
public enum WorkspaceNames {
    public static func assign(_ sources: [WorkspaceTableSource]) -> WorkspaceNamespace {
        let paths = Array(Set(sources.map(\.relativePath))).sorted()
        let fileParts = fileNames(paths)
        var tablesPerFile: [String: Int] = [:]
        for s in sources { tablesPerFile[s.relativePath, default: 0] += 1 }

        var names: [String] = []
        var taken: Set<String> = []
        for s in sources {
            let file = fileParts[s.relativePath]!
            let table = sqlWord(s.table)
            var name = (tablesPerFile[s.relativePath] == 1 && (table == file || table == sqlWord(stem(s.relativePath))))
                ? file : file + "__" + table
            if taken.contains(name) {
                var n = 2
                while taken.contains("\(name)_\(n)") { n += 1 }
                name = "\(name)_\(n)"
            }
            taken.insert(name)
            names.append(name)
        }

        // Union views: one per (column set, name without dates).
        struct GroupKey: Hashable { var columns: [String]; var name: String }
        var groups: [GroupKey: [Int]] = [:]
        var groupOrder: [GroupKey] = []
        for (i, s) in sources.enumerated() where s.columns.count >= 2 {
            let columns = s.columns.map { $0.lowercased() }.sorted()
            guard Set(columns).count == columns.count else { continue }
            let key = GroupKey(columns: columns, name: unionName(s))
            if groups[key] == nil { groupOrder.append(key) }
            groups[key, default: []].append(i)
        }
        var unions: [WorkspaceUnion] = []
        for key in groupOrder {
            let members = groups[key]!.sorted { sources[$0].relativePath < sources[$1].relativePath }
            guard Set(members.map { sources[$0].relativePath }).count >= 2 else { continue }
            var name = key.name.isEmpty ? "union_\(unions.count + 1)" : key.name
            if taken.contains(name) { name += "_all" }
            var n = 2
            let base = name
            while taken.contains(name) { name = "\(base)_\(n)"; n += 1 }
            taken.insert(name)
            unions.append(WorkspaceUnion(name: name, members: members.map { names[$0] }, columns: sources[members[0]].columns))
        }
        return WorkspaceNamespace(names: names, unions: unions)
    }

    /// The file part of each path's names (see `assign`).
    static func fileNames(_ paths: [String]) -> [String: String] {
        var result: [String: String] = [:]
        var byStem: [String: [String]] = [:]
        for p in paths { byStem[sqlWord(stem(p)), default: []].append(p) }
        for (word, group) in byStem {
            if group.count == 1 { result[group[0]] = word; continue }
            // Prefix parent folders, one at a time, until the group's names differ.
            let folders = group.map { Array($0.split(separator: "/").dropLast().map(String.init)) }
            let deepest = folders.map(\.count).max() ?? 0
            var chosen: [String]? = nil
            if deepest > 0 {
                for depth in 1...deepest {
                    let candidate = zip(group, folders).map { (_, f) -> String in
                        let parts = f.suffix(depth).map(sqlWord)
                        return (parts + [word]).joined(separator: "_")
                    }
                    if Set(candidate).count == candidate.count { chosen = candidate; break }
                }
            }
            let names = chosen ?? zip(group, folders).map { (p, f) -> String in
                let ext = p.split(separator: ".").count > 1 ? String(p.split(separator: ".").last!) : ""
                return (f.map(sqlWord) + [word, sqlWord(ext)]).filter { !$0.isEmpty }.joined(separator: "_")
            }
            for (p, n) in zip(group, names) { result[p] = n }
        }
        return result
    }

    /// The name a table's union view would have (see `assign`); empty when the table's names
    /// are dates alone.
    static func unionName(_ source: WorkspaceTableSource) -> String {
        let fileStem = stem(source.relativePath)
        if sqlWord(source.table) != sqlWord(fileStem), case let name = dateless(source.table), !name.isEmpty { return name }
        if case let name = dateless(fileStem), !name.isEmpty { return name }
        guard let folder = source.relativePath.split(separator: "/").dropLast().last else { return "" }
        return dateless(String(folder))
    }

    /// `text` as a SQL word without its dates (`Orders 2024-01` → `orders`, `2024-01` → ``):
    /// the digit guard `sqlWord` puts before a leading number is not kept as a name.
    static func dateless(_ text: String) -> String {
        guard let first = text.unicodeScalars.first(where: { $0.properties.isAlphabetic || $0.properties.numericType != nil }) else { return "" }
        let parts = sqlWord(text).split(separator: "_").map(String.init)
        let words = (first.properties.numericType != nil ? Array(parts.dropFirst()) : parts)
            .filter { !$0.allSatisfy(\.isNumber) && !months.contains($0) }
        let name = words.joined(separator: "_")
        return name.isEmpty ? "" : sqlWord(name)
    }

    private static let months: Set<String> = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "january", "february", "march", "april", "june", "july", "august", "september", "october", "november", "december",
        "q1", "q2", "q3", "q4", "h1", "h2",
    ]

    /// The file name without folders and extension.
    static func stem(_ relativePath: String) -> String {
        let name = relativePath.split(separator: "/").last.map(String.init) ?? relativePath
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }

    /// A SQL-safe word: letters and digits (any script: SQLite takes non-ASCII identifier
    /// characters unquoted) in lower case, `_` between runs of anything else, `t_` before a
    /// leading digit, `t` for nothing.
    public static func sqlWord(_ text: String) -> String {
        var out = ""
        var gap = false
        for ch in text.lowercased().unicodeScalars {
            if ch.properties.isAlphabetic || ch.properties.numericType != nil {
                if gap, !out.isEmpty { out.append("_") }
                gap = false
                out.unicodeScalars.append(ch)
            } else {
                gap = true
            }
        }
        if out.isEmpty { return "t" }
        if let f = out.unicodeScalars.first, f.properties.numericType != nil { out = "t_" + out }
        return out
    }
}
