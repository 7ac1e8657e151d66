import Foundation
import Testing
@testable import XLChatWorkbook

/// Every .xls in the shared corpus against python-calamine's reading (expected/FILE.json).
@Suite struct XLSConformanceTests {
    /// Deliberate differences from calamine: (file, sheet, cell or "*" for the whole sheet, why).
    static let allowed: [(file: String, sheet: String, cell: String, why: String)] = [
        ("calamine__any_sheets.xls", "Chart", "*",
         "A chart sheet delivers no cells (the WorkbookReader contract); calamine reports the chart's cached series values as cells."),
        // The format of these cells is a date-time ("m/d/yy h:mm" family) and the value falls at
        // midnight: we keep the format's kind and write `1920-01-01T00:00:00`; calamine drops a
        // midnight time and reports a date (`1920-01-01`).
        ("csvkit__sheets.xls", "data", "F4", "date-time format at midnight: dateTime kept, calamine says date"),
        ("csvkit__test.xls", "testfixed_converted.csv", "F4", "date-time format at midnight: dateTime kept, calamine says date"),
        ("csvkit__test_skip_lines.xls", "testfixed_converted.csv", "F7", "date-time format at midnight: dateTime kept, calamine says date"),
        // Serial 0 in a date format (Excel shows "1900-01-00"): we keep the format's kind, a date,
        // and write the day before 1900-01-01; calamine reads any serial below 1 as a time of day.
        ("pyexcel-xls__date_field.xls", "Sheet1", "A5", "serial 0 in a date format: date kept, calamine says time 00:00:00"),
    ]

    static func isAllowed(_ file: String, _ sheet: String, _ cell: String) -> Bool {
        allowed.contains { $0.file == file && $0.sheet == sheet && ($0.cell == "*" || $0.cell == cell) }
    }

    /// calamine turns error cells into "" (see the corpus README): an error where it has "" is
    /// the better reading, counted here rather than listed.
    struct Tally { var cells = 0, errorsWhereCalamineEmpty = 0; var mismatches: [String] = [] }

    @Test func everyXLSFileMatchesCalamine() throws {
        guard let root = XLSCorpus.root else {
            Issue.record("XLSConformanceTests: corpus not found beside the package: this test needs the corpus")
            return
        }
        var tally = Tally()
        var filesRead = 0, namesReported = 0
        for file in XLSCorpus.xlsFiles {
            let data = try Data(contentsOf: root.appendingPathComponent("expected/\(file).json"))
            let expected = try JSONDecoder().decode(XLSJSON.self, from: data)
            guard let cal = expected["calamine"] else { continue }
            let path = root.appendingPathComponent("files/\(file)").path
            if let err = cal["error"] {
                try checkUnreadable(file: file, path: path, error: err, tally: &tally)
                continue
            }
            let reader = try XLSReader(path: path)
            filesRead += 1
            try compare(file: file, reader: reader, calamine: cal, tally: &tally)
            // Defined names: calamine does not list them; xlrd (the second reader) does. Each
            // name we report must be one of xlrd's (we leave out formulas and relative refs).
            let xlrdNames = Set((expected["second_reader"]?["defined_names"]?.array ?? []).compactMap(\.string))
            for n in reader.definedNames {
                let bare = n.name.hasPrefix("_xlnm.") ? String(n.name.dropFirst(6)) : n.name
                if !xlrdNames.contains(bare) { tally.mismatches.append("\(file): defined name \(n.name) unknown to xlrd") }
            }
            namesReported += reader.definedNames.count
        }
        print("XLSConformanceTests: \(filesRead) files, \(tally.cells) cells compared, \(tally.errorsWhereCalamineEmpty) error cells where calamine has \"\", \(tally.mismatches.count) unexplained differences")
        for m in tally.mismatches.prefix(60) { print("  " + m) }
        #expect(filesRead >= 30)
        #expect(tally.cells > 500)
        #expect(tally.mismatches.isEmpty)
        #expect(namesReported >= 20)
    }

    /// Files calamine could not read: the right error kind, or (BIFF2-4) read correctly.
    func checkUnreadable(file: String, path: String, error: XLSJSON, tally: inout Tally) throws {
        let type = error["type"]?.string ?? ""
        if type == "PasswordError" {
            let e = #expect(throws: WorkbookError.self) { try XLSReader(path: path) }
            #expect(e?.kind == .encryptedWorkbook, "\(file)")
            return
        }
        if CompoundFile.hasSignature(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(8)) == false {
            // A bare BIFF stream: we read it (checked cell by cell in XLSReaderTests).
            let r = try XLSReader(path: path)
            #expect(r.sheets.count == 1, "\(file)")
            return
        }
        tally.mismatches.append("\(file): calamine failed with \(type), and no expectation is written for it")
    }

    func compare(file: String, reader: XLSReader, calamine cal: XLSJSON, tally: inout Tally) throws {
        let sheets = cal["sheets"]?.array ?? []
        let names = sheets.compactMap { $0["name"]?.string }
        if reader.sheets.map(\.name) != names {
            tally.mismatches.append("\(file): sheet names \(reader.sheets.map(\.name)) vs \(names)")
            return
        }
        for (i, s) in sheets.enumerated() {
            let info = reader.sheets[i]
            let sheet = info.name
            let vis: [String: SheetVisibility] = ["Visible": .visible, "Hidden": .hidden, "VeryHidden": .veryHidden]
            if vis[s["visible"]?.string ?? ""] != info.visibility {
                tally.mismatches.append("\(file) \(sheet): visibility \(info.visibility) vs \(s["visible"]?.string ?? "?")")
            }
            let kinds: [String: SheetKind] = ["WorkSheet": .worksheet, "ChartSheet": .chartsheet, "MacroSheet": .macrosheet, "DialogSheet": .dialogsheet]
            if kinds[s["type"]?.string ?? ""] != info.kind {
                tally.mismatches.append("\(file) \(sheet): kind \(info.kind) vs \(s["type"]?.string ?? "?")")
            }
            if Self.isAllowed(file, sheet, "*") { _ = try reader.readSheet(at: i) { _ in true }; continue }
            let (cells, summary, order) = try reader.cellMap(i)
            #expect(order == order.sorted(), "\(file) \(sheet): cells not delivered in row/column order")

            // Merged ranges.
            let merged = (s["merged_cell_ranges"]?.array ?? []).compactMap { m -> CellRange? in
                guard let a = m.array?.first?.array, let b = m.array?.last?.array,
                      let r0 = a.first?.int, let c0 = a.last?.int, let r1 = b.first?.int, let c1 = b.last?.int else { return nil }
                return CellRange(rows: r0...r1, columns: c0...c1)
            }
            if Set(merged) != Set(summary.mergedRanges) {
                tally.mismatches.append("\(file) \(sheet): merged \(summary.mergedRanges) vs \(merged)")
            }

            // Cells, and the used range they span. Error cells (calamine: "") are left out of
            // the range we compare with calamine's.
            var ourNonError: [CellRef] = []
            var seen = Set<CellRef>()
            let temporal = s["temporal_cells"]?.objectValue ?? [:]
            for (r, row) in (s["rows"]?.array ?? []).enumerated() {
                for (c, value) in (row.array ?? []).enumerated() {
                    let ref = CellRef(row: r, column: c)
                    let ours = cells[ref] ?? .empty
                    seen.insert(ref)
                    tally.cells += 1
                    if let why = difference(ours: ours, calamine: value, temporalKind: temporal[ref.description]?.string) {
                        if case .error = ours, value == .string("") { tally.errorsWhereCalamineEmpty += 1; continue }
                        if !Self.isAllowed(file, sheet, ref.description) {
                            tally.mismatches.append("\(file) \(sheet)!\(ref): \(why)")
                        }
                    }
                }
            }
            for (ref, v) in cells {
                if case .error = v { continue }
                ourNonError.append(ref)
                if !seen.contains(ref) && !Self.isAllowed(file, sheet, ref.description) {
                    tally.mismatches.append("\(file) \(sheet)!\(ref): we read \(v), calamine has no cell")
                }
            }
            let start = s["start"]?.array, end = s["end"]?.array
            let theirs: CellRange? = start.flatMap { st in end.map { en in
                CellRange(rows: (st[0].int ?? 0)...(en[0].int ?? 0), columns: (st[1].int ?? 0)...(en[1].int ?? 0)) } }
            let mineNonError: CellRange? = ourNonError.isEmpty ? nil : CellRange(
                rows: ourNonError.map(\.row).min()!...ourNonError.map(\.row).max()!,
                columns: ourNonError.map(\.column).min()!...ourNonError.map(\.column).max()!)
            // Where a whole row of error cells sits at the edge, calamine's range still spans it.
            if theirs != mineNonError && theirs != summary.usedRange {
                tally.mismatches.append("\(file) \(sheet): used range \(summary.usedRange.map(\.description) ?? "nil") vs \(theirs.map(\.description) ?? "nil")")
            }
        }
    }

    /// Nil when our value agrees with calamine's JSON value; else why not.
    func difference(ours: CellValue, calamine: XLSJSON, temporalKind: String?) -> String? {
        switch (ours, calamine) {
        case (.empty, .string("")), (.empty, .null): return nil
        case (.string(""), .string("")): return nil
        case let (.number(a), .number(b)):
            return abs(a - b) <= 1e-9 * max(1, abs(b)) ? nil : "number \(a) vs \(b)"
        case let (.bool(a), .bool(b)): return a == b ? nil : "bool \(a) vs \(b)"
        case let (.string(a), .string(b)):
            return a == b && temporalKind == nil ? nil : "string \(a.debugDescription) vs \(b.debugDescription) (calamine kind \(temporalKind ?? "none"))"
        case let (.temporal(kind, serial), .string(b)):
            let names: [TemporalKind: String] = [.date: "date", .dateTime: "datetime", .time: "time", .duration: "duration"]
            let iso = ExcelDate.iso(kind, serial: serial)
            if names[kind] != temporalKind { return "temporal kind \(kind) (\(iso)) vs \(temporalKind ?? "none") \(b)" }
            return iso == b ? nil : "temporal \(iso) vs \(b)"
        default:
            return "\(ours) vs \(calamine)"
        }
    }
}
