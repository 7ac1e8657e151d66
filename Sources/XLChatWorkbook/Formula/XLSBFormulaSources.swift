// An xlsb sheet's formulas while its records stream by. A shared or array formula's record
// (BrtShrFmla / BrtArrFmla) follows the first cell that uses it, inside that cell's row, so a
// row's formulas are resolved when the row ends. Formula bytes are copied out of the record
// (the stream's buffer moves on), which is why this runs only when formula text is asked for.

struct XLSBFormulaSources {
    enum MasterKind { case shared, array }
    private struct Pending { var index: Int; var column: Int; var formula: [UInt8] }
    private struct Master { var kind: MasterKind; var range: CellRange; var formula: [UInt8] }

    let workbook: BIFFFormula.Workbook
    private var pending: [Pending] = []
    private var masters: [Int: Master] = [:]

    init(workbook: BIFFFormula.Workbook) { self.workbook = workbook }

    private static func key(_ row: Int, _ column: Int) -> Int { row &* CellRef.maxColumns &+ column }

    /// Where a formula cell's CellParsedFormula starts: after col, style, the value and grbitFlags (u16).
    static func formulaOffset(_ type: Int, _ r: BIFF12.Record) -> Int {
        switch type {
        case 0x08:  // BrtFmlaString: XLWideString value
            let n = r.count >= 12 ? Int(r.u32(8)) : 0
            return 8 + 4 + 2 * n + 2
        case 0x09: return 8 + 8 + 2  // BrtFmlaNum
        default: return 8 + 1 + 2  // BrtFmlaBool, BrtFmlaError
        }
    }

    mutating func cell(index: Int, column: Int, _ r: BIFF12.Record, formulaAt: Int) {
        let bytes = formulaAt <= r.count ? Array(r.bytes[(r.start + formulaAt)..<(r.start + r.count)]) : []
        pending.append(Pending(index: index, column: column, formula: bytes))
    }

    /// BrtShrFmla / BrtArrFmla: RfX (rwFirst, rwLast, colFirst, colLast, u32 each), then the formula.
    mutating func master(_ r: BIFF12.Record, kind: MasterKind, formulaAt: Int) {
        guard r.count >= formulaAt else { return }
        let r1 = Int(r.u32(0)), r2 = Int(r.u32(4)), c1 = Int(r.u32(8)), c2 = Int(r.u32(12))
        guard r1 < CellRef.maxRows, c1 < CellRef.maxColumns, r2 >= r1, c2 >= c1 else { return }
        let range = CellRange(rows: r1...min(r2, CellRef.maxRows - 1), columns: c1...min(c2, CellRef.maxColumns - 1))
        masters[Self.key(r1, c1)] = Master(kind: kind, range: range, formula: Array(r.bytes[(r.start + formulaAt)..<(r.start + r.count)]))
    }

    /// Some cell of the current row waits for its text.
    var hasCells: Bool { !pending.isEmpty }

    /// Gives the row's pending formula cells their text (or error).
    mutating func resolve(into cells: inout [RowCell], row: Int) {
        defer { pending.removeAll(keepingCapacity: true) }
        for p in pending where p.index < cells.count {
            do {
                if let text = try text(p, row: row) { cells[p.index].formula = text }
            } catch let e as FormulaDecodeError {
                cells[p.index].formulaError = "formula at \(CellRef(row: row, column: p.column)): \(e.message)"
            } catch {
                cells[p.index].formulaError = "formula at \(CellRef(row: row, column: p.column)): \(error)"
            }
        }
    }

    private func text(_ p: Pending, row: Int) throws -> String? {
        let src = try Self.source(p.formula)
        guard let exp = BIFFFormula.masterCell(p.formula, src, dialect: .biff12) else {
            return try BIFFFormula.text(p.formula, src, dialect: .biff12, row: row, column: p.column, relative: false, workbook: workbook)
        }
        guard !exp.table else { throw FormulaDecodeError("data tables (PtgTbl) in xlsb are not decoded") }
        guard let m = masters[Self.key(exp.row, exp.column)] else {
            throw FormulaDecodeError("the cell shares the formula of \(CellRef(row: exp.row, column: exp.column)), but no BrtShrFmla or BrtArrFmla record is there")
        }
        guard m.range.contains(CellRef(row: row, column: p.column)) else {
            throw FormulaDecodeError("the cell lies outside the range \(m.range) of the formula it shares")
        }
        let msrc = try Self.source(m.formula)
        switch m.kind {
        case .shared:
            return try BIFFFormula.text(m.formula, msrc, dialect: .biff12, row: row, column: p.column, relative: true, workbook: workbook)
        case .array:
            guard row == m.range.start.row && p.column == m.range.start.column else { return nil }
            return try BIFFFormula.text(m.formula, msrc, dialect: .biff12, row: row, column: p.column, relative: false, workbook: workbook)
        }
    }

    /// CellParsedFormula ([MS-XLSB] 2.5.98.4): cce (u32), rgce, cb (u32), rgcb.
    static func source(_ f: [UInt8]) throws -> BIFFFormula.Source {
        guard f.count >= 4 else { throw FormulaDecodeError("the record ends before its formula's length") }
        let cce = Int(BIFFFormula.u32(f, 0))
        guard cce <= f.count - 4 else {
            throw FormulaDecodeError("the token stream (\(cce) bytes) runs past the end of its record (\(f.count - 4) bytes left)")
        }
        let extraStart = 4 + cce
        var extraEnd = extraStart
        if extraStart + 4 <= f.count {
            let cb = Int(BIFFFormula.u32(f, extraStart))
            guard cb <= f.count - extraStart - 4 else {
                throw FormulaDecodeError("the formula's extra data (\(cb) bytes) runs past the end of its record")
            }
            extraEnd = extraStart + 4 + cb
        }
        return BIFFFormula.Source(tokens: 4..<(4 + cce), extra: min(extraStart + 4, extraEnd)..<extraEnd)
    }
}
