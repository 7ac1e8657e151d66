import Foundation

/// One formula cell xlchat could not compute, as the outline reports it.
public struct FormulaProblem: Sendable, Hashable, Codable {
    public var sheet: String
    public var cell: CellRef
    public var formula: String
    /// Why: "unknown function FOO", "circular reference", "external reference to workbook [1]…",
    /// "formula does not parse: …", or the budget that ran out.
    public var reason: String
    public init(sheet: String, cell: CellRef, formula: String, reason: String) {
        self.sheet = sheet; self.cell = cell; self.formula = formula; self.reason = reason
    }
}

/// What evaluating a workbook's formulas without cached values did.
public struct FormulaEvaluationStats: Sendable, Hashable, Codable {
    /// Formula cells without a cached value whose value xlchat computed.
    public var computed: Int = 0
    /// Formula cells without a cached value that could not be computed (see `problems`).
    public var notComputed: Int = 0
    /// Computed cells that use TODAY / NOW: their value is the evaluation time's.
    public var volatile: Int = 0
    /// The first `maxProblems` cells not computed, with the reason.
    public var problems: [FormulaProblem] = []
    public static let maxProblems = 50
    public init() {}
}

/// A reader decorator that fills in the values of formula cells saved without a cached value
/// (`RowCell.value == .empty` with a formula, as openpyxl, pandas and many exporters write
/// them), so everything that reads rows (outline, table inference, typed SQL tables, search
/// index, `workbook/read`) sees computed values. A cached value (what Excel saved) always wins:
/// rows without such cells pass through untouched, at the cost of one check per cell.
///
/// The engine is created on the first uncached formula cell and loads the sheets it needs
/// through the wrapped reader (a nested `readSheet`; see `FormulaEngine.init(reader:)`).
/// Evaluation is bounded by `limits` and stops with `CancellationError` when `isCancelled`.
public final class EvaluatingReader: WorkbookReader {
    public let base: any WorkbookReader
    public let limits: FormulaLimits
    public var isCancelled: () -> Bool = { false }
    public private(set) var stats = FormulaEvaluationStats()
    private var counted: Set<CellKey> = []
    private var engineStorage: FormulaEngine?

    public init(_ base: any WorkbookReader, limits: FormulaLimits = .default) {
        self.base = base
        self.limits = limits
    }

    public var format: WorkbookFormat { base.format }
    public var sheets: [SheetInfo] { base.sheets }
    public var definedNames: [DefinedName] { base.definedNames }
    public var declaredTables: [DeclaredTable] { base.declaredTables }
    public var formulaStats: FormulaEvaluationStats? { stats }

    /// The workbook's formula engine (created on first use).
    public var engine: FormulaEngine {
        if let e = engineStorage { return e }
        let e = FormulaEngine(reader: base, limits: limits)
        e.isCancelled = { [weak self] in self?.isCancelled() ?? false }
        engineStorage = e
        return e
    }

    @discardableResult
    public func readSheet(at index: Int, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        try readSheet(at: index, formulas: false, visitor: visitor)
    }

    /// Passes `formulas` to the wrapped reader (xls / xlsb decode formula text only when asked).
    @discardableResult
    public func readSheet(at index: Int, formulas: Bool, visitor: (SheetRow) throws -> Bool) throws -> SheetSummary {
        try base.readSheet(at: index, formulas: formulas) { row in
            guard row.cells.contains(where: { $0.formula != nil && $0.value.isEmpty }) else { return try visitor(row) }
            var out = row
            var drop = false
            for k in out.cells.indices where out.cells[k].formula != nil && out.cells[k].value.isEmpty {
                let ref = CellRef(row: row.index, column: out.cells[k].column)
                let result = try engine.value(sheet: index, cell: ref)
                record(result, sheet: index, cell: ref, formula: out.cells[k].formula!)
                var value = CellValue(result.value)
                // A number in a cell formatted as a date (time, duration) is one, as Excel shows it.
                if case .number(let d) = value, let kind = out.cells[k].numberFormatKind { value = .temporal(kind, serial: d) }
                // A computed plain number is read at 15 significant digits, as Excel shows it
                // (0.1+0.2 is 0.3); dates and times keep their serial; a cached value is never touched.
                if case .number(let d) = value { value = .number(ExcelPrecision.round15(d)) }
                out.cells[k].value = value
                if value.isEmpty { drop = true }
            }
            // A formula computing to "" is an empty cell as data; asked for formulas, it stays
            // (with its text), as it would with a cached "" (xlrd's REPT("foo",0), a defined
            // name that is ""), so formula text is never lost.
            if drop { out.cells.removeAll { $0.value.isEmpty && !(formulas && $0.formula != nil) } }
            if out.cells.isEmpty { return true }
            return try visitor(out)
        }
    }

    private func record(_ r: FormulaResult, sheet: Int, cell: CellRef, formula: String) {
        guard counted.insert(CellKey(sheet, cell.row, cell.column)).inserted else { return }
        if let reason = r.problem {
            stats.notComputed += 1
            if stats.problems.count < FormulaEvaluationStats.maxProblems {
                stats.problems.append(FormulaProblem(sheet: sheets[sheet].name, cell: cell, formula: formula, reason: reason))
            }
        } else {
            stats.computed += 1
            if r.volatile { stats.volatile += 1 }
        }
    }
}

extension CellValue {
    /// A computed value as a cell value: the empty string is no value (as readers deliver it).
    public init(_ v: FormulaValue) {
        switch v {
        case .number(let d): self = .number(d)
        case .string(let s): self = s.isEmpty ? .empty : .string(s)
        case .bool(let b): self = .bool(b)
        case .error(let e): self = .error(e)
        case .empty: self = .empty
        }
    }
}
