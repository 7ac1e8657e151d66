// Where an xls sheet's formulas are, gathered while its records are walked and decoded after
// the walk (a SHRFMLA or ARRAY record follows the first cell that uses it, so a cell's shared
// formula may be known only later). Only offsets are kept until then.

struct BIFFFormulaSources {
    enum MasterKind { case shared, array, table }

    private struct Cell { var row: Int; var column: Int; var formulaAt: Int; var end: Int; var uncached: Bool; var kind: TemporalKind? }
    private struct Master {
        var kind: MasterKind
        var range: CellRange
        var formulaAt: Int
        var end: Int
        var record: Int
    }

    private var cells: [Cell] = []
    private var masters: [Int: Master] = [:]

    private static func key(_ row: Int, _ column: Int) -> Int { row << 16 | column }

    /// A FORMULA record's CellParsedFormula (cce u16, rgce, rgcb) at `formulaAt`; `uncached`
    /// when the record has no cached result (yet: a string result comes in a STRING record),
    /// `kind` the date/time kind of the cell's number format.
    mutating func cell(row: Int, column: Int, formulaAt: Int, end: Int, uncached: Bool, kind: TemporalKind?) {
        cells.append(Cell(row: row, column: column, formulaAt: formulaAt, end: end, uncached: uncached, kind: kind))
        if uncached { uncachedCount += 1 }
    }

    /// The STRING record after a formula gave it a (non-empty) cached result.
    mutating func cached(row: Int, column: Int) {
        guard let last = cells.indices.last, cells[last].row == row, cells[last].column == column, cells[last].uncached else { return }
        cells[last].uncached = false
        uncachedCount -= 1
    }

    private var uncachedCount = 0
    /// Some formula cell has no cached result.
    var hasUncached: Bool { uncachedCount > 0 }

    /// The formula cells without a cached result, by position (`BIFFCellBuffer.key`), with the
    /// date/time kind of their number format.
    var uncachedKinds: [Int: TemporalKind?] {
        var out: [Int: TemporalKind?] = [:]
        for c in cells where c.uncached { out[BIFFCellBuffer.key(c.row, c.column)] = .some(c.kind) }
        return out
    }

    /// A SHRFMLA / ARRAY / TABLE record starting at `d` (RefU: rows u16 u16, columns u8 u8).
    mutating func master(_ s: [UInt8], _ d: Int, formulaAt: Int, end: Int, kind: MasterKind) {
        guard d + 6 <= end else { return }
        let r1 = Int(BIFFFormula.u16(s, d)), r2 = Int(BIFFFormula.u16(s, d + 2)), c1 = Int(s[d + 4]), c2 = Int(s[d + 5])
        masters[Self.key(r1, c1)] = Master(kind: kind, range: CellRange(rows: r1...max(r1, r2), columns: c1...max(c1, c2)),
                                           formulaAt: formulaAt, end: end, record: d)
    }

    /// The formula text (or why there is none) of each formula cell, by position.
    /// With `onlyUncached`, only those of cells without a cached result.
    func texts(_ s: [UInt8], workbook: BIFFFormula.Workbook, onlyUncached: Bool = false) -> [Int: BIFFFormulaText] {
        var out: [Int: BIFFFormulaText] = [:]
        out.reserveCapacity(onlyUncached ? uncachedCount : cells.count)
        for c in cells where !onlyUncached || c.uncached {
            let k = BIFFCellBuffer.key(c.row, c.column)
            do {
                let src = try Self.source(s, at: c.formulaAt, end: c.end)
                guard let exp = BIFFFormula.masterCell(s, src, dialect: .biff8) else {
                    out[k] = .text(try BIFFFormula.text(s, src, dialect: .biff8, row: c.row, column: c.column, relative: false, workbook: workbook))
                    continue
                }
                guard let m = masters[Self.key(exp.row, exp.column)] else {
                    throw FormulaDecodeError("the cell shares the formula of \(CellRef(row: exp.row, column: exp.column)), but no SHRFMLA, ARRAY or TABLE record is there")
                }
                guard m.range.contains(CellRef(row: c.row, column: c.column)) else {
                    throw FormulaDecodeError("the cell lies outside the range \(m.range) of the formula it shares")
                }
                switch m.kind {
                case .shared:
                    let msrc = try Self.source(s, at: m.formulaAt, end: m.end)
                    out[k] = .text(try BIFFFormula.text(s, msrc, dialect: .biff8, row: c.row, column: c.column, relative: true, workbook: workbook))
                case .array:
                    // Like xlsx (`<f t="array" ref=...>` on the first cell), the text goes with the first cell.
                    guard c.row == m.range.start.row && c.column == m.range.start.column else { continue }
                    let msrc = try Self.source(s, at: m.formulaAt, end: m.end)
                    out[k] = .text(try BIFFFormula.text(s, msrc, dialect: .biff8, row: c.row, column: c.column, relative: false, workbook: workbook))
                case .table:
                    guard c.row == m.range.start.row && c.column == m.range.start.column else { continue }
                    out[k] = .text(try Self.table(s, m))
                }
            } catch let e as FormulaDecodeError {
                out[k] = .error("formula at \(CellRef(row: c.row, column: c.column)): \(e.message)")
            } catch {
                out[k] = .error("formula at \(CellRef(row: c.row, column: c.column)): \(error)")
            }
        }
        return out
    }

    /// CellParsedFormula at `p`: cce (u16), cce bytes of tokens, then RgbExtra to the record's end.
    private static func source(_ s: [UInt8], at p: Int, end: Int) throws -> BIFFFormula.Source {
        guard p + 2 <= end else { throw FormulaDecodeError("the record ends before its formula's length") }
        let cce = Int(BIFFFormula.u16(s, p))
        guard p + 2 + cce <= end else {
            throw FormulaDecodeError("the token stream (\(cce) bytes) runs past the end of its record (\(end - p - 2) bytes left)")
        }
        return BIFFFormula.Source(tokens: (p + 2)..<(p + 2 + cce), extra: (p + 2 + cce)..<end)
    }

    /// TABLE ([MS-XLS] 2.4.319): flags, then the row input and column input cells.
    private static func table(_ s: [UInt8], _ m: Master) throws -> String {
        let d = m.record
        guard d + 16 <= m.end else { throw FormulaDecodeError("the TABLE record is too short") }
        let flags = BIFFFormula.u16(s, d + 6)
        func cell(_ o: Int) -> String { CellRef(row: Int(BIFFFormula.u16(s, o)), column: Int(BIFFFormula.u16(s, o + 2)) & 0xFF).description }
        if flags & 0x08 != 0 { return "TABLE(\(cell(d + 8)),\(cell(d + 12)))" }
        return flags & 0x04 != 0 ? "TABLE(\(cell(d + 8)),)" : "TABLE(,\(cell(d + 8)))"
    }
}

/// A formula cell's text, or why it could not be decoded.
enum BIFFFormulaText: Sendable {
    case text(String)
    case error(String)
}
