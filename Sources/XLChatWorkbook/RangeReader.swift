/// Reading a rectangle of cells out of a sheet, streaming: rows before the range are skipped,
/// reading stops after its last row or at the row limit.
public struct RangeRead: Sendable {
    /// The range the rows cover (narrowed to the rows returned when truncated).
    public var range: CellRange?
    /// Row-major, `range.columnCount` cells a row; `.empty` where the sheet has nothing.
    public var rows: [[CellValue]]
    public var truncated: Bool
    /// With `formulas`: each formula cell in the rows, by position. Empty otherwise.
    public var formulas: [CellRef: CellFormula] = [:]
}

/// A cell's formula as read: its text (no leading `=`), or why the file's tokens did not decode.
public struct CellFormula: Sendable, Hashable {
    public var text: String?
    public var error: String?
    public init(text: String?, error: String?) { self.text = text; self.error = error }
}

public enum RangeReader {
    /// At most this many cells in one read (rows kept x columns), so a reply stays a sane size.
    public static let maxCells = 1_000_000

    /// Reads `range` (the used range when nil) of sheet `sheetIndex`, at most `limit` rows; with
    /// `formulas`, also the formula text of the cells read (decoded only then, for xls / xlsb).
    public static func read(_ reader: any WorkbookReader, sheetIndex: Int, range: CellRange?, usedRange: CellRange?,
                            limit: Int, formulas: Bool = false, isCancelled: () -> Bool = { false }) throws -> RangeRead {
        guard let target = range ?? usedRange else { return RangeRead(range: nil, rows: [], truncated: false) }
        let keptRows = min(target.rowCount, limit)
        guard keptRows * target.columnCount <= maxCells else {
            throw WorkbookError(.invalidRange,
                "range \(target) is too large to read at once: \(target.columnCount) columns x \(keptRows) rows is over \(maxCells) cells; ask for fewer columns or a lower limit")
        }
        var rows: [[CellValue]] = []
        rows.reserveCapacity(min(keptRows, 10_000))
        let width = target.columnCount
        var nextRow = target.start.row
        let lastRow = target.start.row + keptRows - 1
        func emptyRow() -> [CellValue] { [CellValue](repeating: .empty, count: width) }
        var found: [CellRef: CellFormula] = [:]
        try reader.readSheet(at: sheetIndex, formulas: formulas) { row in
            if row.index < target.start.row { return true }
            if isCancelled() { throw CancellationError() }
            if row.index > lastRow { return false }
            while nextRow < row.index { rows.append(emptyRow()); nextRow += 1 }
            var cells = emptyRow()
            for cell in row.cells where cell.column >= target.start.column && cell.column <= target.end.column {
                cells[cell.column - target.start.column] = cell.value
                if formulas && (cell.formula != nil || cell.formulaError != nil) {
                    found[CellRef(row: row.index, column: cell.column)] = CellFormula(text: cell.formula, error: cell.formulaError)
                }
            }
            rows.append(cells)
            nextRow = row.index + 1
            return row.index < lastRow
        }
        while nextRow <= lastRow { rows.append(emptyRow()); nextRow += 1 }
        let truncated = keptRows < target.rowCount
        let covered = CellRange(start: target.start, end: CellRef(row: lastRow, column: target.end.column))
        return RangeRead(range: covered, rows: rows, truncated: truncated, formulas: found)
    }
}
