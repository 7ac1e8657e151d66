extension WorkbookOutline {
    /// Streams every sheet once and finds its tables (see `TableInferrer` for the rules).
    /// Memory is independent of the number of rows beyond a lookahead of 30 rows per sheet.
    /// A sheet with declared tables (ListObjects) uses them, each one a table; chart sheets have
    /// no table. Table parts the reader could not use, and ListObjects that cannot be used as
    /// declared, are reported in the sheet's `warnings`.
    /// `beforeSheet(index, count, name)` is called before each sheet is read: for progress, and
    /// to stop (by throwing, e.g. on cancellation).
    /// `row(sheetIndex, row)` sees every row of every worksheet/macrosheet as it streams by, and
    /// `afterSheet(sheet)` each sheet's finished outline (its tables and types): together they
    /// let the index load typed tables in this same pass (`IndexBuilder.buildTables`).
    public static func build(reader: any WorkbookReader, path: String, contentHash: String,
                             beforeSheet: ((Int, Int, String) throws -> Void)? = nil,
                             row onRow: ((Int, SheetRow) throws -> Void)? = nil,
                             afterSheet: ((SheetOutline) throws -> Void)? = nil) throws -> WorkbookOutline {
        var usedNames = Set<String>()
        var sheets: [SheetOutline] = []
        let declared = reader.declaredTables
        let hint = NumberHint.of(reader)
        let problems = reader.tableProblems
        // Sheets named as SQL identifiers keep their names against cleaned names of others.
        let reserved = Set(reader.sheets.filter { TableInferrer.cleanIdentifier($0.name) == $0.name }.map { $0.name.lowercased() })
        for info in reader.sheets {
            try beforeSheet?(info.index, reader.sheets.count, info.name)
            let readerWarnings = problems.filter { $0.sheet == info.name }.map(\.message)
            if info.kind == .chartsheet {
                let summary = try reader.readSheet(at: info.index) { _ in true }
                sheets.append(SheetOutline(info: info, summary: summary, tables: [], warnings: readerWarnings))
                try afterSheet?(sheets[sheets.count - 1])
                continue
            }
            var inferrer = TableInferrer(declared: declared.filter { $0.sheet == info.name }, hint: hint)
            let summary = try reader.readSheet(at: info.index) { row in
                inferrer.add(row)
                try onRow?(info.index, row)
                return true
            }
            let found = inferrer.finish(sheet: info, summary: summary, usedNames: &usedNames, reserved: reserved)
            sheets.append(SheetOutline(info: info, summary: summary, tables: found.tables, warnings: readerWarnings + found.warnings))
            try afterSheet?(sheets[sheets.count - 1])
        }
        return WorkbookOutline(path: path, format: reader.format, contentHash: contentHash,
                               sheets: sheets, definedNames: reader.definedNames, formulas: reader.formulaStats)
    }
}
