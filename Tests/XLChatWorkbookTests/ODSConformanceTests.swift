import Foundation
import Testing
@testable import XLChatWorkbook

/// calamine's reading of an ods / xlsb file (expected/FILE.json): like the xlsx one, but
/// `merged_cell_ranges` and `temporal_cells` may be null (calamine reports no merges for ods).
struct FormatsExpectedFile: Decodable {
    struct Err: Decodable { var type: String?; var message: String? }
    struct Sheet: Decodable {
        var name: String
        var visible: String
        var start: [Int]?
        var end: [Int]?
        var merged_cell_ranges: [[[Int]]]?
        var temporal_cells: [String: String]?
        /// Absent for chart sheets.
        var rows: [[XLSXExpectedValue]]?
    }
    struct Calamine: Decodable { var error: Err?; var sheets: [Sheet]? }
    var calamine: Calamine
}

/// Compares any reader's view of a corpus file with calamine's, cell by cell. Returns the
/// differences as "file: sheet!cell: what" and the number of cells compared.
enum FormatsConformance {
    static func compare(file: URL, expected: FormatsExpectedFile,
                        open: (String) throws -> any WorkbookReader) -> (differences: [String], cells: Int) {
        var diffs: [String] = []
        var cells = 0
        let name = file.lastPathComponent
        let cal = expected.calamine
        let reader: any WorkbookReader
        do {
            reader = try open(file.path)
        } catch let e as WorkbookError {
            if let err = cal.error {
                let msg = ((err.message ?? "") + " " + (err.type ?? "")).lowercased()
                let want: WorkbookError.Kind = msg.contains("encrypt") || msg.contains("password") ? .encryptedWorkbook : .corruptWorkbook
                if e.kind != want { diffs.append("\(name): error \(e.kind), expected \(want) (calamine: \(msg))") }
            } else {
                diffs.append("\(name): cannot read: \(e)")
            }
            return (diffs, 0)
        } catch {
            return (["\(name): unexpected error \(error)"], 0)
        }
        guard let sheets = cal.sheets else {
            return (["\(name): we read it, calamine did not (\(cal.error?.message ?? "?"))"], 0)
        }
        let calamineNames = Set(sheets.map(\.name))
        let ourSheets = reader.sheets.filter { info in info.kind != .chartsheet || calamineNames.contains(info.name) }
        if sheets.map(\.name) != ourSheets.map(\.name) {
            return (["\(name): sheet names \(ourSheets.map(\.name)) vs \(sheets.map(\.name))"], 0)
        }
        for (si, sheet) in sheets.enumerated() {
            let info = ourSheets[si]
            let vis: String = switch info.visibility { case .visible: "Visible"; case .hidden: "Hidden"; case .veryHidden: "VeryHidden" }
            if vis != sheet.visible { diffs.append("\(name): \(sheet.name)!visibility: \(vis) vs \(sheet.visible)") }
            var got: [CellRef: CellValue] = [:]
            let summary: SheetSummary
            do {
                summary = try reader.readSheet(at: info.index) { row in
                    for c in row.cells { got[CellRef(row: row.index, column: c.column)] = c.value }
                    return true
                }
            } catch {
                diffs.append("\(name): \(sheet.name)!read: \(error)")
                continue
            }
            if let s = sheet.start, let e = sheet.end {
                let want = CellRange(start: CellRef(row: s[0], column: s[1]), end: CellRef(row: e[0], column: e[1]))
                if summary.usedRange != want {
                    diffs.append("\(name): \(sheet.name)!range: \(summary.usedRange?.description ?? "none") vs \(want)")
                }
            } else if let r = summary.usedRange {
                diffs.append("\(name): \(sheet.name)!range: \(r) vs none")
            }
            if let m = sheet.merged_cell_ranges {
                let merges = m.map { CellRange(start: CellRef(row: $0[0][0], column: $0[0][1]), end: CellRef(row: $0[1][0], column: $0[1][1])) }
                if Set(merges) != Set(summary.mergedRanges) {
                    diffs.append("\(name): \(sheet.name)!merged: \(summary.mergedRanges) vs \(merges)")
                }
            }
            let temporal = sheet.temporal_cells ?? [:]
            var seen = Set<CellRef>()
            for (r, row) in (sheet.rows ?? []).enumerated() {
                for (c, want) in row.enumerated() {
                    let ref = CellRef(row: r, column: c)
                    seen.insert(ref)
                    cells += 1
                    if let d = XLSXConformanceTests.differ(got[ref] ?? .empty, want, temporalKind: temporal[ref.description]) {
                        diffs.append("\(name): \(sheet.name)!\(ref): \(d)")
                    }
                }
            }
            for (ref, v) in got where !seen.contains(ref) {
                diffs.append("\(name): \(sheet.name)!\(ref): we have \(v), calamine has nothing")
            }
        }
        return (diffs, cells)
    }

    /// Runs the comparison over every corpus file with one of `extensions`; returns the unexplained
    /// differences.
    static func run(extensions: Set<String>, allowed: [String: [String: String]],
                    rules: [(why: String, matches: @Sendable (String) -> Bool)],
                    open: (String) throws -> any WorkbookReader) -> (files: Int, cells: Int, explained: Int, unexplained: [String])? {
        let files = xlsxCorpusFiles(extensions: extensions)
        guard let dir = xlsxCorpusDirectory(), !files.isEmpty else { return nil }
        var unexplained: [String] = []
        var explained = 0, cells = 0
        for file in files {
            let jsonURL = dir.appendingPathComponent("expected/\(file.lastPathComponent).json")
            guard let data = try? Data(contentsOf: jsonURL) else { unexplained.append("\(file.lastPathComponent): no expected JSON"); continue }
            let expected: FormatsExpectedFile
            do { expected = try JSONDecoder().decode(FormatsExpectedFile.self, from: data) } catch {
                unexplained.append("\(file.lastPathComponent): bad expected JSON: \(error)"); continue
            }
            let outcome = compare(file: file, expected: expected, open: open)
            cells += outcome.cells
            let allowedHere = allowed[file.lastPathComponent] ?? [:]
            for d in outcome.differences {
                let key = d.split(separator: ":", maxSplits: 2).dropFirst().first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                if allowedHere[key] != nil || rules.contains(where: { $0.matches(d) }) { explained += 1 } else { unexplained.append(d) }
            }
        }
        return (files.count, cells, explained, unexplained)
    }
}

/// Deliberate differences from calamine on the ods files, each explained.
let odsAllowedDifferences: [String: [String: String]] = [
    "tablib__unknown_value_type.ods": [
        "Feuille1!A1": "office:value-type=\"unknown\" with the text \"abcd\": calamine drops the cell (a known fault, corpus "
            + "README); we keep unknown types as their text",
        "Feuille1!range": "the same cell: calamine's sheet is empty because it dropped it",
    ],
    "pyexcel-ods__white_space.ods": [
        "Sheet1!A1": "the paragraph holds <text:tab/> and <text:line-break/>: calamine drops both; ODF defines them as a "
            + "tab and a line break, which we keep (text:s c=\"2\" gives two spaces in both readers)",
    ],
]

/// Deliberate differences that follow one rule wherever they occur.
let odsExplainedRules: [(why: String, matches: @Sendable (String) -> Bool)] = [
    ("office:time-value of 24 hours or more (PT288H00M00S, PT27H17M54S): calamine leaves the ISO text as a plain "
        + "string; ODF's time type is a duration, so we report .temporal(.duration) (PT1036800S)",
     { @Sendable d in d.contains("temporal duration PT") && d.contains(" vs \"PT") && d.hasSuffix("(not temporal)") }),
] + xlsxExplainedRules  // the same printing of fractions of a second as for xlsx

@Suite("ODS conformance with the corpus")
struct ODSConformanceTests {
    @Test("every ods in the corpus reads as calamine reads it, or differs as explained")
    func corpus() throws {
        guard let r = FormatsConformance.run(extensions: ["ods"], allowed: odsAllowedDifferences, rules: odsExplainedRules,
                                             open: { try Workbooks.open(path: $0) }) else {
            Issue.record("ODSConformanceTests: corpus not found beside the package: this test needs the corpus")
            return
        }
        print("ODSConformanceTests: \(r.files) files, \(r.cells) cells compared, \(r.explained) explained differences, \(r.unexplained.count) unexplained")
        for d in r.unexplained { print("  " + String(d.prefix(240))) }
        #expect(r.unexplained.isEmpty, "\(r.unexplained.count) unexplained differences from calamine")
        #expect(r.files >= 19)
        #expect(r.cells > 100)
    }

    @Test("the corpus files open as ods through Workbooks.open, and the encrypted one is encryptedWorkbook")
    func dispatch() throws {
        guard let dir = xlsxCorpusDirectory() else { Issue.record("ODSConformanceTests: corpus absent: this test needs the corpus"); return }
        let base = try Workbooks.open(path: dir.appendingPathComponent("files/calamine__base.ods").path, evaluateFormulas: false)
        #expect(base is ODSReader && base.format == .ods)
        let kind = xlsxErrorKind { _ = try Workbooks.open(path: dir.appendingPathComponent("files/calamine__password.ods").path) }
        #expect(kind == .encryptedWorkbook)
    }
}
