/// A format reader: what every format (xlsx, xls, csv, ...) provides. Reading is streamed:
/// `readSheet` hands rows to a visitor, in row order, so memory does not grow with the sheet.
public protocol WorkbookReader: AnyObject {
    var format: WorkbookFormat { get }
    var sheets: [SheetInfo] { get }
    var definedNames: [DefinedName] { get }
    /// Tables (ListObjects) declared in the file, if the format has them.
    var declaredTables: [DeclaredTable] { get }
    /// Streams the sheet's non-empty cells row by row (rows ascending, cells by column).
    /// Returning `false` from the visitor stops early. Chart sheets deliver no rows.
    @discardableResult
    func readSheet(at index: Int, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary
    /// What evaluating formulas saved without a cached value did so far (see
    /// `EvaluatingReader`); nil for a reader that does not evaluate.
    var formulaStats: FormulaEvaluationStats? { get }
}

extension WorkbookReader {
    public var formulaStats: FormulaEvaluationStats? { nil }
}
