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
}

extension WorkbookReader {
    public var tableProblems: [TableProblem] { [] }
}
