extension WorkbookOutline {
    /// Streams every sheet once and infers its table (see `TableInferrer` for the rules).
    /// Memory is independent of the number of rows beyond a lookahead of 30 rows per sheet.
    /// A sheet with a declared table (ListObject) uses it (the first one, by position, when
    /// there are several); chart sheets have no table.
    /// `beforeSheet(index, count, name)` is called before each sheet is read: for progress, and
    /// to stop (by throwing, e.g. on cancellation).
    public static func build(reader: any WorkbookReader, path: String, contentHash: String,
                             beforeSheet: ((Int, Int, String) throws -> Void)? = nil) throws -> WorkbookOutline {
        var usedNames = Set<String>()
        var sheets: [SheetOutline] = []
        let declared = reader.declaredTables
        let hint = NumberHint.of(reader)
        for info in reader.sheets {
            try beforeSheet?(info.index, reader.sheets.count, info.name)
            if info.kind == .chartsheet {
                let summary = try reader.readSheet(at: info.index) { _ in true }
                sheets.append(SheetOutline(info: info, summary: summary, table: nil))
                continue
            }
            let table = declared.filter { $0.sheet == info.name }.min { $0.range.start < $1.range.start }
            var inferrer = TableInferrer(declared: table, hint: hint)
            let summary = try reader.readSheet(at: info.index) { row in
                inferrer.add(row)
                return true
            }
            let inferred = inferrer.finish(sheet: info, summary: summary, usedNames: &usedNames)
            sheets.append(SheetOutline(info: info, summary: summary, table: inferred))
        }
        return WorkbookOutline(path: path, format: reader.format, contentHash: contentHash,
                               sheets: sheets, definedNames: reader.definedNames, formulas: reader.formulaStats)
    }
}
