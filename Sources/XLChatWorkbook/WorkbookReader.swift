/// A format reader: what every format (xlsx, xls, csv, ...) provides. Reading is streamed:
/// `readSheet` hands rows to a visitor, in row order, so memory does not grow with the sheet.
public protocol WorkbookReader: AnyObject {
    var format: WorkbookFormat { get }
    var sheets: [SheetInfo] { get }
    var definedNames: [DefinedName] { get }
    /// Tables (ListObjects) declared in the file, if the format has them.
    var declaredTables: [DeclaredTable] { get }
    /// Table parts that could not be read (malformed XML, a `ref` that is no range on a sheet):
    /// they are left out of `declaredTables` and reported in the sheet's outline warnings.
    var tableProblems: [TableProblem] { get }
    /// Streams the sheet's non-empty cells row by row (rows ascending, cells by column).
    /// Returning `false` from the visitor stops early. Chart sheets deliver no rows.
    @discardableResult
    func readSheet(at index: Int, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary
    /// Like `readSheet(at:visitor:)`; with `formulas`, formula cells carry their text
    /// (`RowCell.formula`) or why it could not be decoded (`RowCell.formulaError`). Formats
    /// that store formulas as text (xlsx, ods) always give it; the binary ones (xls, xlsb)
    /// decode their parsed tokens only when asked, so a plain read costs nothing more.
    @discardableResult
    func readSheet(at index: Int, formulas: Bool, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary
    /// What evaluating formulas saved without a cached value did so far (see
    /// `EvaluatingReader`); nil for a reader that does not evaluate.
    var formulaStats: FormulaEvaluationStats? { get }
}

extension WorkbookReader {
    public var formulaStats: FormulaEvaluationStats? { nil }
}

extension WorkbookReader {
    @discardableResult
    public func readSheet(at index: Int, formulas: Bool, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        try readSheet(at: index, visitor: visitor)
    }
    public var tableProblems: [TableProblem] { [] }
}
