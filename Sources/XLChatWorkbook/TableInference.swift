// Per-sheet table finding, streamed: the first `lookahead` non-empty rows are buffered to find
// the first header; after that each row is routed to the open table(s) as it arrives. Memory is
// bounded by the buffered rows (30 at the start, at most `seekLimit` later) and, per table, one
// type counter per column plus the list of its flagged rows; never by the sheet's length.
//
// ListObjects. When a sheet declares Excel tables (ListObjects), they are the sheet's tables:
// each one's header row(s), data rows and totals row(s) are taken from its `ref`,
// `headerRowCount` and `totalsRowCount` (OOXML §18.5.1.2); totals rows are never data;
// autofiltered or hidden rows are data like any other. Cells outside them form no table (they
// stay searchable as loose cells). A table part that lies outside the sheet's cells, overlaps
// an earlier one, or states more header/totals rows than it has, is reported in the sheet's
// warnings (and skipped, or its counts clamped); the rest loads.
//
// Inferred tables. Layout rules for the first table (over the buffered rows; "width" is the
// largest number of non-empty cells in one buffered row):
// - Title rows: leading rows with one cell over a sheet at least 3 wide, or two cells over a
//   sheet at least 5 wide. They are skipped, except that at the end (when merged ranges are
//   known) a title-like row right above the header joins the header if it holds a merged cell
//   spanning some but not all of the table's columns (a group label such as "Sales" over Q1..Q4).
// - Header: the first row after the titles, if it is header-like: all its cells are text, or at
//   least half are labels and some label has a number/date/boolean below it in the next row
//   (a label is a text cell, or a year 1900-2100 over a number that is not a year, as in
//   "Region | 2023 | 2024" over "North | 10 | 12").
//   Otherwise the sheet has no header and its columns are named by letter.
// - Multi-row header: the header extends down over up to two more adjacent all-text rows, each
//   holding a cell in a column the row above leaves empty (sub-labels under a group label that
//   spans several columns), provided a row with a non-text cell follows (so an all-text table
//   never loses data rows to its header).
// - Side by side: the header row and the rows under it (down to the first empty row) are split
//   at columns empty in all of them; each run with at least two header cells is its own table
//   (a run with fewer joins its left neighbour, so a blank header cell never splits a table).
// - Data: every row below the header (or from the first non-title row when there is none).
// Several tables down the sheet (`BlockRules` holds the label lexicon):
// - After one or more empty rows, a row whose cells are all labels, with a number, date or
//   boolean under one of them in the next row, starts new table(s) (up to two single-cell title
//   rows may precede it; the nearest names the table). Otherwise the rows after the gap
//   continue the table (a blank row inside a table does not split it).
// - A repeat of the table's header row (page-break exports), with or without empty rows before
//   it, is not data and does not start a new table: the table continues below it.
// - Total and subtotal rows (a label such as Total, Grand total, Subtotal, Sum, Σ, Gesamt,
//   Summe, Total général, Totale, Totaal, Итого, 合計 in the row's first two cells, with a number
//   in the row; or a SUBTOTAL/AGGREGATE formula, or a SUM over the same column's rows above)
//   are flagged in `excludedRows`: not data, but still cells.
// - Column types: decided over all data cells by `ColumnStats` (ColumnTyping.swift); a column
//   with no data cells is text.
// Names: a ListObject keeps its name; the first inferred table of a sheet is named after the
// sheet (as when a sheet had one table); later ones after their title row, else the sheet.
// A table with more than `InferredTable.maxSQLColumns` columns is split into SQL parts
// (`T`, `T_part2`, ...) sharing `_row`; the sheet's warnings say so.

struct TableInferrer {
    static let lookahead = 30
    /// Rows held after an empty row while deciding whether they start a new table: up to two
    /// title rows, the candidate header and the row below it.
    static let seekLimit = 4

    /// One table being collected.
    struct Block {
        /// The sheet columns it takes; nil: every column (the only table on its rows).
        var span: ClosedRange<Int>?
        var declared: DeclaredTable?
        var totalsRows = 0
        var detectTotals = true
        var preRows: [SheetRow] = []
        var headerRows: [SheetRow] = [] {
            didSet { headerLeftColumn = headerRows.flatMap(\.cells).map(\.column).min() }
        }
        /// The leftmost column of the header rows, kept as they change: `labelColumn` is asked
        /// for every data row, and computing it there allocated per row (perf, release,
        /// csv_1m_x8.csv: 2.5% of a cold open).
        private(set) var headerLeftColumn: Int? = nil
        var title: String? = nil
        /// The last header row's cell texts by column, to recognise a repeated header.
        var headerKey: [Int: String] = [:]
        var dataStart: Int
        var stats: [Int: ColumnStats] = [:]
        var dataMinRow = Int.max, dataMaxRow = -1
        var excluded: [ExcludedRow] = []
        /// Texts of data cells whose column is empty in the next data row (row -> column ->
        /// text), at most `maxMergeCandidates`: the top-left values of merged cells, named in
        /// the fill-down note once the merges are known (xlsx stores them after the rows).
        var mergeCandidates: [Int: [Int: String]] = [:]
        var mergeCandidateCount = 0
        static let maxMergeCandidates = 512
        var previous: (row: Int, cells: [RowCell]) = (-1, [])
        /// Where it starts (top row, left column), for ordering and naming.
        var origin: CellRef

        init(span: ClosedRange<Int>?, dataStart: Int, origin: CellRef) {
            self.span = span; self.dataStart = dataStart; self.origin = origin
        }

        mutating func flag(_ row: Int, _ kind: ExcludedRow.Kind, _ evidence: String) {
            if let last = excluded.last, last.row == row { return }
            excluded.append(ExcludedRow(row: row, kind: kind, evidence: evidence))
        }

        /// Per column (offset from `runBase`), the running figures of the data rows: over the
        /// whole table, and since its last total row (`RowEvidence`). Columns at 16,384 or
        /// more past the base are not tracked.
        var blockRuns: [ColumnRun] = [], segmentRuns: [ColumnRun] = []
        var runBase = -1
        /// A row with no label whose numbers are the sum of the rows above: a total if it ends
        /// its run of rows (a blank row or the end follows), else data.
        var held: (row: Int, cells: [RowCell], evidence: String)? = nil
        /// The last row this block took (data or not), to see blank rows between.
        var lastSeen = -1
        /// Set after a footnote: the one-cell text rows right after it are notes too.
        var inNotes = false
        /// Whether a data row had text in the table's first column (its label column).
        var labelSeen = false
        /// The row right under the header, when it holds units ("(kg)", "USD"): part of the header.
        var unitsRow: SheetRow? = nil
        /// A form sheet (`label: | value` pairs): columns `key`, `value`, no totals.
        var form = false

        /// The table's first (label) column.
        var labelColumn: Int? {
            if let span { return span.lowerBound }
            return headerLeftColumn
        }

        /// A data-area row's cells (already limited to this block's columns).
        mutating func take(_ row: Int, _ cells: [RowCell]) {
            guard row >= dataStart else { return }
            let afterGap = lastSeen >= 0 && row > lastSeen + 1
            lastSeen = row
            if let d = declared {
                guard row <= d.range.end.row else { return }
                if row > d.range.end.row - totalsRows { return }  // totals rows: flagged at the end
            } else {
                if !headerKey.isEmpty, BlockRules.repeats(cells, header: headerKey) {
                    resolveHeld(ended: afterGap)
                    flag(row, .repeatedHeader, "header repeated")
                    return
                }
                if row == dataStart, unitsRow == nil, !headerRows.isEmpty,
                   RowEvidence.isUnitsRow(cells, headerColumns: Set(headerRows.flatMap(\.cells).map(\.column))) {
                    unitsRow = SheetRow(index: row, cells: cells)
                    return
                }
            }
            guard detectTotals else { commit(row, cells); return }
            if isNote(cells, afterGap: afterGap) {
                resolveHeld(ended: true)
                inNotes = true
                flag(row, .note, TableInferrer.displayText(cells[0].value))
                return
            }
            inNotes = false
            if let (kind, evidence) = classify(row, cells) {
                resolveHeld(ended: true)
                flag(row, kind, evidence)
                if kind == .total { resetSegment() }
                return
            }
            resolveHeld(ended: afterGap)
            if let evidence = unlabeledSum(cells) {
                held = (row, cells, evidence)
                return
            }
            commit(row, cells)
        }

        /// A footnote: one text cell, in a table of two or more columns, after a blank row (or
        /// right after another note), that reads as a note (`RowEvidence.isNoteText`).
        private func isNote(_ cells: [RowCell], afterGap: Bool) -> Bool {
            guard afterGap || inNotes, cells.count == 1, case .string(let s) = cells[0].value else { return false }
            let width = span.map { $0.count } ?? max(headerKey.count, stats.count)
            guard width >= 2 else { return false }
            return inNotes || RowEvidence.isNoteText(s)
        }

        /// The held unlabeled-sum row, now that the next row (or the end) is known: a total if
        /// its run `ended`, else data.
        mutating func resolveHeld(ended: Bool) {
            guard let h = held else { return }
            held = nil
            if ended {
                flag(h.row, .total, h.evidence)
                resetSegment()
            } else {
                commit(h.row, h.cells)
            }
        }

        /// Counts a data row: its cells into the column types, its numbers into the running figures.
        private mutating func commit(_ row: Int, _ cells: [RowCell]) {
            if mergeCandidateCount < Self.maxMergeCandidates, !previous.cells.isEmpty,
               cells.count < previous.cells.count || cells.first?.column != previous.cells.first?.column {
                // Each pass records at least one cell, so at most `maxMergeCandidates` passes.
                let present = Set(cells.map(\.column))
                for c in previous.cells where mergeCandidateCount < Self.maxMergeCandidates && !present.contains(c.column) {
                    mergeCandidates[previous.row, default: [:]][c.column] = TableInferrer.displayText(c.value)
                    mergeCandidateCount += 1
                }
            }
            previous = (row, cells)
            var any = false
            for cell in cells {
                if stats[cell.column, default: ColumnStats()].add(cell) { any = true }
                if detectTotals, case .number(let d) = cell.value, d.isFinite, let k = runIndex(cell.column) {
                    blockRuns[k].add(d); segmentRuns[k].add(d)
                }
            }
            if detectTotals, !labelSeen, let lc = labelColumn,
               cells.contains(where: { $0.column == lc && TableInferrer.isText($0.value) }) { labelSeen = true }
            if any { dataMinRow = min(dataMinRow, row); dataMaxRow = max(dataMaxRow, row) }
        }

        private mutating func runIndex(_ column: Int) -> Int? {
            if runBase < 0 { runBase = span?.lowerBound ?? 0 }
            let k = column - runBase
            guard k >= 0, k < 16_384 else { return nil }
            if k >= blockRuns.count {
                blockRuns += Array(repeating: ColumnRun(), count: k + 1 - blockRuns.count)
                segmentRuns += Array(repeating: ColumnRun(), count: k + 1 - segmentRuns.count)
            }
            return k
        }

        private func run(_ column: Int, segment: Bool) -> ColumnRun? {
            let k = column - runBase
            guard runBase >= 0, k >= 0, k < blockRuns.count else { return nil }
            return segment ? segmentRuns[k] : blockRuns[k]
        }

        private mutating func resetSegment() {
            for k in segmentRuns.indices { segmentRuns[k] = ColumnRun() }
        }

        /// The row's numbers (column, value).
        private static func numbers(_ cells: [RowCell]) -> [(Int, Double)] {
            cells.compactMap { c in if case .number(let d) = c.value { return (c.column, d) } else { return nil } }
        }

        /// How many of `numbers` equal `figure` of the rows above (since the last total, or the
        /// whole table), each over at least `rows` rows (a labelled subtotal of a one-row group
        /// is that row's number; with no label, a sum needs two rows to mean anything).
        private func matches(_ numbers: [(Int, Double)], rows: Int = 1, _ figure: (ColumnRun) -> Double?) -> Int {
            numbers.filter { (c, v) in
                [true, false].contains { seg in
                    guard let r = run(c, segment: seg), r.count >= rows, let f = figure(r) else { return false }
                    return RowEvidence.close(f, v)
                }
            }.count
        }

        /// The figure an aggregate names, over a run (nil for those not kept: median, stdev, ...).
        private static func figure(_ function: String, _ r: ColumnRun) -> Double? {
            switch function {
            case "average": return r.sum / Double(r.count)
            case "max": return r.max
            case "min": return r.min
            case "count": return Double(r.count)
            default: return nil
            }
        }

        /// A total or aggregate row, and why (see RowClassification.swift): a formula over the
        /// column above; a whole totals/aggregate label with a number; a partial one ("Total
        /// North") whose numbers are the sum (average, ...) of the rows above.
        private func classify(_ row: Int, _ cells: [RowCell]) -> (ExcludedRow.Kind, String)? {
            var hasNumber = false
            for c in cells {
                if case .number = c.value { hasNumber = true }
                if let f = c.formula, let (kind, _) = RowEvidence.formulaKind(f, column: c.column, row: row, firstDataRow: row == dataStart) {
                    return (kind, "=" + f)
                }
            }
            guard hasNumber else { return nil }
            for c in cells.prefix(2) {
                guard case .string(let s) = c.value else { continue }
                if let strength = BlockRules.totalLabelStrength(s) {
                    let nums = Self.numbers(cells)
                    if strength == .whole {
                        // Kept out (the label says so, and so is visible and reversible), but
                        // a number that is not the sum of the rows above is said.
                        let above = nums.contains { run($0.0, segment: false).map { $0.count > 0 } ?? false }
                        if above && matches(nums) { $0.sum } == 0 {
                            return (.total, "\(s); its numbers are not the sum of the rows above")
                        }
                        return (.total, s)
                    }
                    // A one-row group's subtotal is that row's number: believed only once the
                    // table has shown subtotals (a product "Total Gym FIT" may repeat the row above).
                    let hadTotal = excluded.contains { $0.kind == .total }
                    let m = matches(nums, rows: hadTotal ? 1 : 2) { $0.sum }
                    if m >= 1 && m * 2 >= nums.count { return (.total, "\(s); equals the sum of the rows above") }
                    return nil
                }
                if let (fn, strength) = RowEvidence.aggregateLabel(s) {
                    if strength == .whole { return (.aggregate, s) }
                    let nums = Self.numbers(cells)
                    let m = matches(nums, rows: 2) { Self.figure(fn, $0) }
                    if m >= 1 && m * 2 >= nums.count { return (.aggregate, "\(s); equals the \(fn) of the rows above") }
                    return nil
                }
            }
            return nil
        }

        /// A row with no text and nothing in the label column whose every number is the sum of
        /// the rows above (at least two): evidence for a total if it ends its run. With a single
        /// number the table must have a label column (several columns must agree otherwise).
        private func unlabeledSum(_ cells: [RowCell]) -> String? {
            // One pass, no allocation: this runs on every data row, and nearly every row fails
            // at its first text cell or its first number.
            var n = 0
            for c in cells {
                switch c.value {
                case .string(let t):
                    if t.contains(where: { !$0.isWhitespace }) { return nil }
                case .number(let v):
                    if labelSeen, c.column == labelColumn { return nil }
                    func isSum(_ r: ColumnRun?) -> Bool { r.map { $0.count >= 2 && RowEvidence.close($0.sum, v) } ?? false }
                    guard isSum(run(c.column, segment: true)) || isSum(run(c.column, segment: false)) else { return nil }
                    n += 1
                case .empty: continue
                default: return nil
                }
            }
            guard n >= 2 || (n == 1 && labelSeen) else { return nil }
            return n == 1 ? "no label; the number equals the sum of the rows above"
                : "no label; each of its \(n) numbers equals the sum of the rows above"
        }
    }

    private var listObjects: Bool
    private var warnings: [String] = []
    private var buffer: [SheetRow] = []
    private var decided = false
    private var active: [Block] = []
    private var finished: [Block] = []
    /// Rows after an empty row, held until they are known to continue the table or start another.
    private var seek: [SheetRow] = []
    private var lastRow = -1

    /// The file's signal for ambiguous numbers (a `;`-delimited csv).
    private let hint: NumberHint

    init(declared: [DeclaredTable], hint: NumberHint = .none) {
        self.hint = hint
        listObjects = !declared.isEmpty
        guard listObjects else { return }
        decided = true
        for d in declared.sorted(by: { $0.range.start < $1.range.start }) {
            let label = "table \(d.name.isEmpty ? "(unnamed)" : d.name) (\(d.range))"
            if let other = active.first(where: { $0.declared.map { Self.overlaps($0.range, d.range) } ?? false }) {
                warnings.append("\(label) overlaps table \(other.declared!.name) (\(other.declared!.range)); it is not loaded")
                continue
            }
            var header = d.headerRowCount
            if header < 0 || header > d.range.rowCount {
                warnings.append("\(label) states \(d.headerRowCount) header rows but has \(d.range.rowCount) rows; \(min(max(header, 0), d.range.rowCount)) used")
                header = min(max(header, 0), d.range.rowCount)
            }
            var block = Block(span: d.range.start.column...d.range.end.column, dataStart: d.range.start.row + header,
                              origin: d.range.start)
            block.declared = d
            block.detectTotals = false
            let below = d.range.rowCount - header
            if d.totalsRowCount < 0 || d.totalsRowCount > below {
                warnings.append("\(label) states \(d.totalsRowCount) totals rows but has \(below) rows below its header; no totals row is taken from the file, rows labelled as totals are flagged instead")
                block.detectTotals = true
            } else {
                block.totalsRows = d.totalsRowCount
            }
            active.append(block)
        }
    }

    static func overlaps(_ a: CellRange, _ b: CellRange) -> Bool {
        a.start.row <= b.end.row && b.start.row <= a.end.row && a.start.column <= b.end.column && b.start.column <= a.end.column
    }

    mutating func add(_ row: SheetRow) {
        if row.cells.isEmpty { return }
        if decided { route(row); return }
        buffer.append(row)
        if buffer.count >= Self.lookahead { decide() }
    }

    // MARK: Routing rows to the open tables

    private mutating func route(_ row: SheetRow) {
        if listObjects { routeDeclared(row); return }
        if let last = seek.last {
            let gap = row.index > last.index + 1
            // Title rows may stand apart from their table; anything else ends the wait at a gap.
            if gap && (seek.count >= 2 || seek[0].cells.count > 1) {
                resolveSeek(final: true)
                route(row)
                return
            }
            seek.append(row)
            resolveSeek(final: seek.count >= Self.seekLimit)
            return
        }
        if !active.isEmpty && row.index > lastRow + 1 {
            seek = [row]
            resolveSeek(final: false)
            return
        }
        if active.count == 1, row.index == lastRow + 1, looksLikeStackedHeader(row, of: active[0]) {
            // Held until the next row shows whether typed values follow (`resolveSeek`).
            seek = [row]
            return
        }
        data(row)
    }

    /// Whether `row`, directly under data rows of `block` (no empty row between), may be the
    /// header of a table stacked right below: two or more cells, all labels (text that reads as
    /// no number, date or placeholder, starting with a letter that is not lower-case), and every column of
    /// the block that held only numbers so far now holds a label (Fruit | Kg over 10, 2, then
    /// Vehicle | Count). `resolveSeek` then needs a typed value under it in the next row.
    private func looksLikeStackedHeader(_ row: SheetRow, of block: Block) -> Bool {
        guard row.cells.count >= 2, !block.headerKey.isEmpty, block.dataMaxRow >= 0, block.declared == nil else { return false }
        var turned = 0
        for c in row.cells {
            guard case .string(let s) = c.value else { return false }
            let t = s.trimmingWhitespace()
            guard let first = t.first, first.isLetter, !first.isLowercase, !NumberText.isPlaceholder(t), NumberText.scan(t) == nil,
                  ColumnStats.isoTemporal(t) == nil, TextDate.shape(t) == nil else { return false }
            if let st = block.stats[c.column], st.numbers + st.numericTexts >= 1, st.words == 0, st.strings == st.numericTexts + st.placeholders {
                turned += 1
            }
        }
        guard turned > 0 else { return false }
        // Every numbers-only column must turn: a label in one of several amount columns is data.
        for (col, st) in block.stats where st.numbers + st.numericTexts >= 1 && st.words == 0 && st.strings == st.numericTexts + st.placeholders
            && st.nonEmpty >= 1 && block.headerKey[col] != nil {
            if !row.cells.contains(where: { $0.column == col }) { return false }
        }
        return true
    }

    private mutating func routeDeclared(_ row: SheetRow) {
        for k in active.indices {
            let d = active[k].declared!
            guard row.index >= d.range.start.row, row.index <= d.range.end.row else { continue }
            let cells = row.cells.filter { $0.column >= d.range.start.column && $0.column <= d.range.end.column }
            if cells.isEmpty { continue }
            if row.index < active[k].dataStart {
                active[k].headerRows.append(SheetRow(index: row.index, cells: cells))
            } else {
                active[k].take(row.index, cells)
            }
        }
    }

    /// A row of the open table(s).
    private mutating func data(_ row: SheetRow) {
        lastRow = row.index
        if active.count == 1 { active[0].take(row.index, row.cells); return }
        if active.isEmpty { return }
        var parts = [[RowCell]](repeating: [], count: active.count)
        for c in row.cells { parts[blockIndex(c.column)].append(c) }
        for k in active.indices where !parts[k].isEmpty { active[k].take(row.index, parts[k]) }
    }

    /// The open block holding `column`: the one whose span contains it, else the nearest to its left.
    private func blockIndex(_ column: Int) -> Int {
        var best = 0
        for (k, b) in active.enumerated() {
            guard let span = b.span else { return k }
            if span.contains(column) { return k }
            if span.lowerBound <= column { best = k }
        }
        return best
    }

    /// Decides what the held rows after an empty row are: the table continuing, a repeat of its
    /// header, or new table(s). Waits (when not `final`) until the candidate header's next row
    /// has arrived.
    private mutating func resolveSeek(final: Bool) {
        let rows = seek
        var t = 0
        while t < rows.count - 1 && t < 2 && Self.titleOver(rows[t], rows[t + 1]) { t += 1 }
        let candidate = rows[t]
        var header: [Int: String] = [:]
        for b in active { header.merge(b.headerKey, uniquingKeysWith: { a, _ in a }) }
        if !header.isEmpty, BlockRules.repeats(candidate.cells, header: header) {
            // A page's repeated header (and its title rows): not data; the table goes on.
            seek = []
            for r in rows[..<t] { lastRow = r.index; active[0].flag(r.index, .repeatedHeader, "title above a repeated header") }
            for r in rows[t...] { data(r) }
            return
        }
        guard t + 1 < rows.count else {
            if final { continueWith(rows) }
            return
        }
        let below = rows[t + 1]
        if below.index == candidate.index + 1 && Self.startsTable(candidate, below) {
            seek = []
            finished += active
            active = []
            let titles = Array(rows[..<t])
            let adjacent = titles.last.map { $0.index + 1 == candidate.index } == true ? [titles.last!] : []
            openBlocks(header: [candidate], preRows: adjacent, titles: titles, below: Array(rows[(t + 1)...]))
            for r in rows[(t + 1)...] { data(r) }
        } else {
            continueWith(rows)
        }
    }

    private mutating func continueWith(_ rows: [SheetRow]) {
        seek = []
        for r in rows { data(r) }
    }

    /// A title row over the next: one cell over two or more, or two over five or more.
    static func titleOver(_ a: SheetRow, _ b: SheetRow) -> Bool {
        (a.cells.count == 1 && b.cells.count >= 2) || (a.cells.count == 2 && b.cells.count >= 5)
    }

    /// Whether `row` (after an empty row) is the header of a new table: all its cells are
    /// labels and the row below has a number, date or boolean under one of them.
    static func startsTable(_ row: SheetRow, _ below: SheetRow) -> Bool {
        let under = Dictionary(below.cells.map { ($0.column, $0.value) }, uniquingKeysWith: { a, _ in a })
        var typedUnder = false
        for c in row.cells {
            let v = under[c.column]
            let typed = v.map(isTyped) ?? false
            let label = isText(c.value) || (isYear(c.value) && typed && !isYear(v!))
            if !label { return false }
            if typed { typedUnder = true }
        }
        return typedUnder
    }

    /// Opens the table(s) under `header`: one, or one per side-by-side run (see the rules above).
    private mutating func openBlocks(header: [SheetRow], preRows: [SheetRow], titles: [SheetRow], below: [SheetRow]) {
        var region: [SheetRow] = []
        var prev = header.last!.index
        for r in below {
            if r.index != prev + 1 { break }
            region.append(r); prev = r.index
        }
        let spans = Self.runs(header: header, below: region)
        let dataStart = header.last!.index + 1
        func project(_ rows: [SheetRow], _ span: ClosedRange<Int>?) -> [SheetRow] {
            guard let span else { return rows }
            return rows.compactMap { r in
                let cells = r.cells.filter { span.contains($0.column) }
                return cells.isEmpty ? nil : SheetRow(index: r.index, cells: cells)
            }
        }
        for span in (spans.count > 1 ? spans.map { Optional($0) } : [nil]) {
            var h = project(header, span)
            var blockDataStart = dataStart
            if h.isEmpty, let span, let lower = Self.lowerHeader(of: span, in: region) {
                h = [lower]
                blockDataStart = lower.index + 1
            }
            let lo = h.flatMap(\.cells).map(\.column).min() ?? span?.lowerBound ?? 0
            var block = Block(span: span, dataStart: blockDataStart, origin: CellRef(row: h.first?.index ?? header.first!.index, column: lo))
            block.headerRows = h
            block.preRows = project(preRows, span)
            if let last = h.last {
                block.headerKey = Dictionary(last.cells.map { ($0.column, BlockRules.key(Self.displayText($0.value))) },
                                             uniquingKeysWith: { a, _ in a })
            }
            for r in project(titles, span).reversed() {
                if let c = r.cells.first(where: { Self.isText($0.value) }) { block.title = Self.displayText(c.value); break }
            }
            active.append(block)
        }
    }

    /// Column runs of the header row(s) and the rows below, split at columns empty in all of
    /// them; runs with fewer than two header cells join their left (or right) neighbour.
    static func runs(header: [SheetRow], below: [SheetRow]) -> [ClosedRange<Int>] {
        var occupied = Set<Int>()
        var headerColumns = Set<Int>()
        for r in header { for c in r.cells { occupied.insert(c.column); headerColumns.insert(c.column) } }
        for r in below { for c in r.cells { occupied.insert(c.column) } }
        guard !occupied.isEmpty, below.count >= 1 else { return [] }
        let sorted = occupied.sorted()
        var raw: [ClosedRange<Int>] = []
        var lo = sorted[0], hi = sorted[0]
        for c in sorted.dropFirst() {
            if c == hi + 1 { hi = c } else { raw.append(lo...hi); lo = c; hi = c }
        }
        raw.append(lo...hi)
        var out: [ClosedRange<Int>] = []
        var pendingLeft: ClosedRange<Int>? = nil
        for r in raw {
            let labels = headerColumns.filter { r.contains($0) }.count
            if labels == 0, lowerHeader(of: r, in: below) != nil {
                // A table beside this one that starts lower down (its own header row below).
                if let p = pendingLeft {
                    if out.isEmpty { out.append(p) } else { out[out.count - 1] = out[out.count - 1].lowerBound...p.upperBound }
                    pendingLeft = nil
                }
                out.append(r)
            } else if labels >= 2 {
                let start = pendingLeft?.lowerBound ?? r.lowerBound
                out.append(start...r.upperBound)
                pendingLeft = nil
            } else if let last = out.last {
                out[out.count - 1] = last.lowerBound...r.upperBound
            } else {
                pendingLeft = (pendingLeft?.lowerBound ?? r.lowerBound)...r.upperBound
            }
        }
        if let p = pendingLeft {
            if out.isEmpty { out.append(p) } else { out[out.count - 1] = out[out.count - 1].lowerBound...p.upperBound }
        }
        // Each run takes the empty columns up to the next, so every column has one table.
        return out
    }

    /// The header row of a table in columns `run` that starts below the header row of its
    /// neighbours (D3:E5 beside A1:B6): the first of `below` with cells in `run`, when they
    /// are two or more labels and the next row has a number, date or boolean under one of them.
    static func lowerHeader(of run: ClosedRange<Int>, in below: [SheetRow]) -> SheetRow? {
        func part(_ r: SheetRow) -> SheetRow { SheetRow(index: r.index, cells: r.cells.filter { run.contains($0.column) }) }
        guard let k = below.firstIndex(where: { $0.cells.contains { run.contains($0.column) } }), k + 1 < below.count,
              below[k + 1].index == below[k].index + 1 else { return nil }
        let h = part(below[k]), next = part(below[k + 1])
        guard h.cells.count >= 2, !next.cells.isEmpty, startsTable(h, next) else { return nil }
        return h
    }

    static func isText(_ v: CellValue) -> Bool { if case .string = v { return true } else { return false } }
    static func isTyped(_ v: CellValue) -> Bool {
        switch v {
        case .number, .bool, .temporal: return true
        default: return false
        }
    }

    /// Whether `row` has a cell in a column where `above` has none.
    private static func fillsAGap(_ row: SheetRow, below above: SheetRow) -> Bool {
        let taken = Set(above.cells.map(\.column))
        return row.cells.contains { !taken.contains($0.column) }
    }

    static func isYear(_ v: CellValue) -> Bool {
        if case .number(let d) = v, d == d.rounded(), d >= 1900, d <= 2100 { return true }
        return false
    }

    /// The first table, from the first `lookahead` non-empty rows.
    private mutating func decide() {
        decided = true
        let rows = buffer
        buffer = []
        let width = rows.map(\.cells.count).max() ?? 0
        func titleLike(_ r: SheetRow) -> Bool {
            (r.cells.count == 1 && width >= 3) || (r.cells.count == 2 && width >= 5)
        }
        func allText(_ r: SheetRow) -> Bool { r.cells.allSatisfy { Self.isText($0.value) } }
        func adjacent(_ a: Int, _ b: Int) -> Bool { b < rows.count && rows[b].index == rows[a].index + 1 }

        if RowEvidence.isForm(rows) {
            // `label: | value` pairs (an invoice's or a form's fields): one key/value table, no
            // header, no totals ("Total due:" is a field).
            var block = Block(span: nil, dataStart: rows[0].index, origin: CellRef(row: rows[0].index, column: 0))
            block.form = true
            block.detectTotals = false
            active = [block]
            lastRow = rows[0].index
            warnings.append("the sheet reads as a form of label: value pairs (from row \(rows[0].index + 1)); its table has columns key and value")
            for r in rows { route(r) }
            return
        }
        var p = 0
        while p < rows.count && titleLike(rows[p]) { p += 1 }
        if p == rows.count {
            // Only title-like rows (a sparse sheet): no header; everything is data.
            p = 0
        }
        var headerLike = false
        if p < rows.count {
            let r = rows[p]
            if allText(r) {
                headerLike = true
            } else {
                if adjacent(p, p + 1) {
                    let below = Dictionary(rows[p + 1].cells.map { ($0.column, $0.value) }, uniquingKeysWith: { a, _ in a })
                    // A label is text, or a year (1900-2100) over a number that is not one.
                    func typedBelow(_ c: RowCell) -> Bool { below[c.column].map(Self.isTyped) ?? false }
                    func label(_ c: RowCell) -> Bool {
                        Self.isText(c.value) || (Self.isYear(c.value) && typedBelow(c) && !Self.isYear(below[c.column]!))
                    }
                    let labels = r.cells.filter(label).count
                    headerLike = labels * 2 >= r.cells.count && r.cells.contains { label($0) && typedBelow($0) }
                }
            }
        }
        if headerLike {
            // Titles directly above the header (adjacent), for the merge check at the end.
            var preRows: [SheetRow] = []
            var t = p - 1
            while t >= 0 && preRows.count < 2 && rows[t].index + 1 == (preRows.first ?? rows[p]).index {
                preRows.insert(rows[t], at: 0)
                t -= 1
            }
            var last = p
            var headerRows = [rows[p]]
            while headerRows.count < 3, adjacent(last, last + 1), allText(rows[last + 1]),
                  Self.fillsAGap(rows[last + 1], below: rows[last]),
                  rows[(last + 2)...].contains(where: { !allText($0) }) {
                last += 1
                headerRows.append(rows[last])
            }
            openBlocks(header: headerRows, preRows: preRows, titles: Array(rows[..<p]), below: Array(rows[(last + 1)...]))
            lastRow = rows[last].index
            for r in rows[(last + 1)...] { route(r) }
        } else if p < rows.count {
            active = [Block(span: nil, dataStart: rows[p].index, origin: CellRef(row: rows[p].index, column: 0))]
            lastRow = rows[p].index
            for r in rows[p...] { route(r) }
        }
    }

    /// The sheet's tables, once the whole sheet has been seen, and its warnings. `usedNames`
    /// holds the lower-cased table names taken so far in the workbook.
    /// `reserved` holds the lower-cased names of sheets that are SQL identifiers as they are
    /// (`Sales_2024`): another sheet whose cleaned name would be one of them (`Sales 2024`)
    /// takes a numbered name instead, so `FROM Sales_2024` always means sheet `Sales_2024`;
    /// the warnings say which name was changed and why.
    mutating func finish(sheet: SheetInfo, summary: SheetSummary, usedNames: inout Set<String>,
                         reserved: Set<String> = []) -> (tables: [InferredTable], warnings: [String]) {
        if !decided { decide() }
        while !seek.isEmpty { resolveSeek(final: true) }
        finished += active
        active = []
        for k in finished.indices { finished[k].resolveHeld(ended: true) }
        var tables: [InferredTable] = []
        var firstInferred = true
        for block in finished.sorted(by: { ($0.origin.row, $0.origin.column) < ($1.origin.row, $1.origin.column) }) {
            if let d = block.declared {
                guard let used = summary.usedRange, Self.overlaps(used, d.range) else {
                    warnings.append("table \(d.name) (\(d.range)) lies outside the sheet's cells (\(summary.usedRange?.description ?? "the sheet is empty")); it is not loaded")
                    continue
                }
                tables.append(finishDeclared(block, d, sheet: sheet, summary: summary, usedNames: &usedNames))
            } else if var t = finishInferred(block, sheet: sheet, summary: summary) {
                let base: String
                let sheetsFirst = firstInferred
                if firstInferred { base = Self.cleanIdentifier(sheet.name) } else {
                    let fromTitle = block.title.map(Self.cleanIdentifier) ?? ""
                    base = fromTitle.isEmpty ? Self.cleanIdentifier(sheet.name) : fromTitle
                }
                firstInferred = false
                let wanted = base.isEmpty ? "table" : base
                if wanted != sheet.name, reserved.contains(wanted.lowercased()) {
                    var taken = usedNames.union(reserved)
                    t.name = Self.unique(wanted, in: &taken)
                    usedNames.insert(t.name.lowercased())
                    warnings.append("table of sheet '\(sheet.name)' is named \(t.name), not \(wanted): \(wanted) is the name of sheet '\(wanted)' as written")
                } else {
                    t.name = Self.unique(wanted, in: &usedNames)
                    if t.name != wanted && sheetsFirst {
                        warnings.append("table of sheet '\(sheet.name)' is named \(t.name): \(wanted) is taken by an earlier table")
                    }
                }
                t.filledMerges = Self.filledMerges(t, block: block, merges: summary.mergedRanges)
                if !t.filledMerges.isEmpty { warnings.append(Self.mergeNote(t, block: block)) }
                tables.append(t)
            }
        }
        for k in tables.indices {
            tables[k].parts = InferredTable.splitParts(name: tables[k].name, columnCount: tables[k].columns.count, usedNames: &usedNames)
            let t = tables[k]
            if t.parts.count > 1 {
                let list = t.parts.map { p in
                    "\(p.name) (columns \(A1.columnName(t.columns[p.columns.lowerBound].sourceColumn))-\(A1.columnName(t.columns[p.columns.upperBound - 1].sourceColumn)))"
                }
                warnings.append("table \(t.name) has \(t.columns.count) columns, more than SQLite's \(InferredTable.maxSQLColumns) per table: it is split into \(list.joined(separator: ", ")); every part has _row (the sheet row), so they join on _row")
            }
        }
        return (tables, warnings)
    }

    private func finishInferred(_ block: Block, sheet: SheetInfo, summary: SheetSummary) -> InferredTable? {
        var block = block
        // A units row under the header stays in the header only if some column it names holds
        // numbers (or dates); otherwise it was data all along and is counted as such.
        if let units = block.unitsRow {
            let numeric = units.cells.contains { c in
                guard let st = block.stats[c.column] else { return false }
                return st.numbers + st.dates + st.dateTimes + st.times + st.durations > 0
            }
            if !numeric {
                var any = false
                for cell in units.cells where block.stats[cell.column, default: ColumnStats()].add(cell) { any = true }
                if any { block.dataMinRow = min(block.dataMinRow, units.index); block.dataMaxRow = max(block.dataMaxRow, units.index) }
                block.unitsRow = nil
            }
        }
        // Resolve title-like rows just above the header: group labels (partial merges, or
        // unmerged labels over the first of their columns) join it.
        var header = block.headerRows
        var merges = summary.mergedRanges
        if !header.isEmpty && !block.preRows.isEmpty {
            var cols = Set(block.stats.keys)
            for r in header { for c in r.cells { cols.insert(c.column) } }
            let lo = cols.min() ?? 0, hi = cols.max() ?? 0
            for r in block.preRows.reversed() {
                guard header.first!.index == r.index + 1 else { break }
                let partialMerge = summary.mergedRanges.contains { m in
                    m.start.row == r.index && m.columnCount >= 2
                        && r.cells.contains { $0.column == m.start.column }
                        && !(m.start.column <= lo && m.end.column >= hi)
                }
                if partialMerge { header.insert(r, at: 0); continue }
                if let spans = Self.groupSpans(r, over: header[0], columns: lo...hi, merges: summary.mergedRanges) {
                    merges += spans
                    header.insert(r, at: 0)
                    continue
                }
                break
            }
        }

        var columnSet = Set(block.stats.keys)
        for r in header { for c in r.cells { columnSet.insert(c.column) } }
        guard !columnSet.isEmpty else { return nil }
        let columns = columnSet.sorted()
        let lo = columns.first!, hi = columns.last!
        // Group labels inside a multi-row header, unmerged, fill across like merges too.
        if header.count >= 2 {
            for k in 0..<(header.count - 1) {
                if let spans = Self.groupSpans(header[k], over: header[k + 1], columns: lo...hi, merges: summary.mergedRanges) {
                    merges += spans
                }
            }
        }

        let texts = Self.headerTexts(header, columns: lo...hi, merges: merges)
        let units = Dictionary((block.unitsRow?.cells ?? []).compactMap { c -> (Int, String)? in
            let t = Self.displayText(c.value).trimmingWhitespace()
            return t.isEmpty ? nil : (c.column, t)
        }, uniquingKeysWith: { a, _ in a })
        let typings = decideTypes(columns, block.stats)
        var names = UniqueNames()
        var out: [TableColumn] = []
        for (k, c) in columns.enumerated() {
            var headerText = header.isEmpty ? "" : (texts[c] ?? "")
            let base: String
            if block.form {
                base = k == 0 ? "key" : k == 1 ? "value" : A1.columnName(c)
            } else if header.isEmpty {
                base = A1.columnName(c)
            } else {
                let clean = Self.cleanName(headerText)
                base = clean.isEmpty ? "column_" + A1.columnName(c) : clean
            }
            if let unit = units[c] {
                let shown = unit.hasPrefix("(") || unit.hasPrefix("[") ? unit : "(\(unit))"
                headerText = headerText.isEmpty ? shown : headerText + " " + shown
            }
            out.append(TableColumn(name: names.claim(base), header: headerText,
                                   type: typings[c]!.type, sourceColumn: c, typing: typings[c]!.typing))
        }
        let headerEnd = block.unitsRow?.index ?? header.last?.index
        let headerRange = header.isEmpty ? nil
            : CellRange(rows: header.first!.index...headerEnd!, columns: lo...hi)
        let dataRange = block.dataMaxRow < 0 ? nil : CellRange(rows: block.dataMinRow...block.dataMaxRow, columns: lo...hi)
        return InferredTable(name: "", sheet: sheet.name, headerRange: headerRange, dataRange: dataRange, columns: out,
                             source: .inferred, excludedRows: block.excluded.sorted { $0.row < $1.row })
    }

    /// A row of group labels over a header without merged cells (`| Sales | | Cost |` over
    /// `Region | Q1 | Q2 | Q1 | Q2`): two or more text cells, none over the table's first column,
    /// each over a header cell and followed by at least one header column it leaves empty; no
    /// merged range on the row. Each label spans to the column before the next (or the table's
    /// last column), returned as ranges to fill like merges; nil when the row is not one.
    static func groupSpans(_ r: SheetRow, over header: SheetRow, columns: ClosedRange<Int>, merges: [CellRange]) -> [CellRange]? {
        var labels: [RowCell] = []
        for c in r.cells {
            switch c.value {
            case .empty: continue
            case .string(let s): if !s.trimmingWhitespace().isEmpty { labels.append(c) }
            default: return nil
            }
        }
        guard labels.count >= 2 else { return nil }
        guard !merges.contains(where: { $0.start.row <= r.index && $0.end.row >= r.index }) else { return nil }
        let headerColumns = Set(header.cells.map(\.column))
        let starts = labels.map(\.column).sorted()
        guard starts[0] > columns.lowerBound, starts.allSatisfy({ headerColumns.contains($0) }) else { return nil }
        var out: [CellRange] = []
        for (k, start) in starts.enumerated() {
            let end = k + 1 < starts.count ? starts[k + 1] - 1 : columns.upperBound
            guard end > start, headerColumns.contains(start + 1) else { return nil }
            out.append(CellRange(rows: r.index...r.index, columns: start...end))
        }
        return out
    }

    /// The merged ranges of `t`'s data area that span two rows or more, as their top-left
    /// cell's column over the merge's data rows (see `InferredTable.filledMerges`).
    static func filledMerges(_ t: InferredTable, block: Block, merges: [CellRange]) -> [CellRange] {
        guard let d = t.dataRange, !merges.isEmpty else { return [] }
        var out: [CellRange] = []
        for m in merges where m.rowCount >= 2 && m.start.row >= d.start.row && m.start.row < d.end.row
            && m.start.column >= d.start.column && m.start.column <= d.end.column && !t.isExcluded(m.start.row) {
            out.append(CellRange(rows: m.start.row...min(m.end.row, d.end.row), columns: m.start.column...m.start.column))
        }
        return out.sorted { $0.start < $1.start }
    }

    /// `table M: A2:A4 merged: 'North' filled into 3 rows; …`.
    static func mergeNote(_ t: InferredTable, block: Block) -> String {
        let shown = t.filledMerges.prefix(5).map { m -> String in
            let value = block.mergeCandidates[m.start.row]?[m.start.column].map { "'\($0.count > 40 ? String($0.prefix(40)) + "…" : $0)'" } ?? "the top cell's value"
            return "\(m) merged: \(value) filled into \(m.rowCount) rows"
        }
        let more = t.filledMerges.count > 5 ? "; and \(t.filledMerges.count - 5) more merges" : ""
        return "table \(t.name): " + shown.joined(separator: "; ") + more
            + " (a merged cell's value holds for every row it spans; the file stores it in the top cell only)"
    }

    private func finishDeclared(_ block: Block, _ d: DeclaredTable, sheet: SheetInfo, summary: SheetSummary, usedNames: inout Set<String>) -> InferredTable {
        let cols = d.range.start.column...d.range.end.column
        let texts = Self.headerTexts(block.headerRows, columns: cols, merges: summary.mergedRanges)
        let typings = decideTypes(Array(cols), block.stats)
        var names = UniqueNames()
        var out: [TableColumn] = []
        for (k, c) in cols.enumerated() {
            let declaredName = k < d.columnNames.count ? d.columnNames[k] : ""
            let headerText = declaredName.isEmpty ? (texts[c] ?? "") : declaredName
            let clean = Self.cleanName(headerText)
            out.append(TableColumn(name: names.claim(clean.isEmpty ? "column_" + A1.columnName(c) : clean),
                                   header: headerText, type: typings[c]!.type, sourceColumn: c, typing: typings[c]!.typing))
        }
        let headerRows = block.dataStart - d.range.start.row
        let headerRange = headerRows > 0
            ? CellRange(rows: d.range.start.row...(block.dataStart - 1), columns: cols) : nil
        let lastData = d.range.end.row - block.totalsRows
        let dataRange = block.dataStart <= lastData ? CellRange(rows: block.dataStart...lastData, columns: cols) : nil
        var excluded = block.excluded
        if block.totalsRows > 0 {
            for r in (lastData + 1)...d.range.end.row {
                excluded.append(ExcludedRow(row: r, kind: .totalsRow, evidence: "totals row of table \(d.name)"))
            }
        }
        var base = Self.cleanIdentifier(d.name)
        if base.isEmpty { base = Self.cleanIdentifier(sheet.name) }
        return InferredTable(name: Self.unique(base.isEmpty ? "table" : base, in: &usedNames), sheet: sheet.name,
                             headerRange: headerRange, dataRange: dataRange, columns: out,
                             source: .listObject, excludedRows: excluded.sorted { $0.row < $1.row })
    }

    /// Each column's type and typing, with the table's hint for ambiguous numbers.
    private func decideTypes(_ columns: [Int], _ stats: [Int: ColumnStats]) -> [Int: (type: ColumnType, typing: ColumnTyping)] {
        let tableHint = ColumnStats.hint(for: columns.compactMap { stats[$0] }, file: hint)
        var out: [Int: (type: ColumnType, typing: ColumnTyping)] = [:]
        for c in columns { out[c] = (stats[c] ?? ColumnStats()).decide(hint: tableHint) }
        return out
    }

    /// Per column, the header rows' texts joined with " / " after filling merged cells across
    /// (and down) their span within the header rows. Empty parts and repeats are skipped.
    static func headerTexts(_ header: [SheetRow], columns: ClosedRange<Int>, merges: [CellRange]) -> [Int: String] {
        guard let first = header.first, let last = header.last else { return [:] }
        var grid: [[Int: String]] = header.map { r in
            Dictionary(r.cells.map { ($0.column, displayText($0.value)) }, uniquingKeysWith: { a, _ in a })
        }
        let rowPos = Dictionary(header.enumerated().map { ($1.index, $0) }, uniquingKeysWith: { a, _ in a })
        for m in merges where m.start.row >= first.index && m.start.row <= last.index {
            guard let top = rowPos[m.start.row], let text = grid[top][m.start.column], !text.isEmpty else { continue }
            let cLo = max(m.start.column, columns.lowerBound), cHi = min(m.end.column, columns.upperBound)
            guard cLo <= cHi else { continue }
            for r in m.start.row...min(m.end.row, last.index) {
                guard let pos = rowPos[r] else { continue }
                for c in cLo...cHi where grid[pos][c] == nil || grid[pos][c] == "" {
                    grid[pos][c] = text
                }
            }
        }
        var out: [Int: String] = [:]
        for c in columns {
            var parts: [String] = []
            for row in grid {
                let t = (row[c] ?? "").trimmingWhitespace()
                if !t.isEmpty && parts.last != t { parts.append(t) }
            }
            out[c] = parts.joined(separator: " / ")
        }
        return out
    }

    static func displayText(_ v: CellValue) -> String {
        switch v {
        case .empty: return ""
        case .string(let s): return s
        case .bool(let b): return b ? "TRUE" : "FALSE"
        case .error(let e): return e
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
            return String(d)
        case .temporal(let kind, let serial): return ExcelDate.iso(kind, serial: serial)
        }
    }

    /// Whitespace runs (line breaks included) collapsed to one space, trimmed.
    static func cleanName(_ s: String) -> String {
        // Nothing to collapse (perf: 2.4% of a csv open, for every row's repeated-header check).
        if s.isASCIIWithoutWhitespace { return s }
        var out = ""
        var pendingSpace = false
        for ch in s {
            if ch.isWhitespace { pendingSpace = !out.isEmpty; continue }
            if pendingSpace { out.append(" "); pendingSpace = false }
            out.append(ch)
        }
        return out
    }

    /// Letters, digits and `_` kept; runs of anything else become one `_`; no leading digit.
    static func cleanIdentifier(_ s: String) -> String {
        var out = ""
        for ch in s {
            if ch.isLetter || ch.isNumber || ch == "_" { out.append(ch) } else if !out.hasSuffix("_") { out.append("_") }
        }
        while out.hasSuffix("_") { out.removeLast() }
        while out.hasPrefix("_") { out.removeFirst() }
        if let f = out.first, f.isNumber { out = "t_" + out }
        return out
    }

    static func tableName(_ sheet: String, usedNames: inout Set<String>) -> String {
        let base = cleanIdentifier(sheet)
        return unique(base.isEmpty ? "table" : base, in: &usedNames)
    }

    /// `base`, or `base_2`, `base_3`, ... when taken (case-insensitively), each at most
    /// `SQLIdentifier.maxBytes` UTF-8 bytes (the base is clipped on a character boundary
    /// before the suffix), so every store holds the name exactly as the outline shows it.
    static func unique(_ base: String, in used: inout Set<String>) -> String {
        var candidate = SQLIdentifier.clipped(base)
        var k = 2
        while used.contains(candidate.lowercased()) {
            let suffix = "_\(k)"
            candidate = SQLIdentifier.clipped(base, to: SQLIdentifier.maxBytes - suffix.utf8.count) + suffix
            k += 1
        }
        used.insert(candidate.lowercased())
        return candidate
    }
}

/// Case-insensitively unique names: a repeat of `name` becomes `name_2`, `name_3`, ...
struct UniqueNames {
    private var used = Set<String>()
    mutating func claim(_ base: String) -> String { TableInferrer.unique(base, in: &used) }
}

extension String {
    func trimmingWhitespace() -> String {
        // Fast path: ASCII at both ends that is not whitespace means nothing to trim (an ASCII
        // scalar never joins a grapheme with a whitespace scalar). Measured (perf, release):
        // Character.isWhitespace's Unicode property lookups were 8-13% of a cold open of the
        // bench files, mostly here, called for every text cell by column typing.
        let u = utf8
        if let f = u.first, let l = u.last, f < 0x80, l < 0x80, !Self.isASCIIWhitespace(f), !Self.isASCIIWhitespace(l) {
            return self
        }
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    /// The ASCII bytes with Unicode's White_Space property (tab, LF, VT, FF, CR, space).
    @inline(__always) static func isASCIIWhitespace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    /// All ASCII with no whitespace: such a text's Characters are its bytes.
    @inline(__always) var isASCIIWithoutWhitespace: Bool {
        utf8.allSatisfy { $0 < 0x80 && !String.isASCIIWhitespace($0) }
    }
}
