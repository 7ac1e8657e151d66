import Foundation
import Testing
@testable import XLChatWorkbook

/// A fresh directory under the system temp dir for one test's files.
final class CSVTempDir {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-csv-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = url.appendingPathComponent(name).path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    @discardableResult
    func write(_ name: String, _ text: String) -> String { write(name, Array(text.utf8)) }
}

/// The corpus beside the package (`../shared/corpus`), or nil when absent. Every corpus test
/// finds it here. A test that needs the corpus fails when it is missing (an issue is recorded,
/// in CI or not); under CI its absence also stops the run.
func corpusDirectory() -> URL? {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            let corpus = url.deletingLastPathComponent().appendingPathComponent("shared/corpus")
            if FileManager.default.fileExists(atPath: corpus.appendingPathComponent("files").path) { return corpus }
            precondition(ProcessInfo.processInfo.environment["CI"] == nil, "CI: the corpus is missing at \(corpus.path)")
            Issue.record("the corpus is missing at \(corpus.path); this test needs it")
            return nil
        }
    }
    return nil
}

/// Every row of sheet 0 as (row index -> cells by column).
func readRows(_ reader: any WorkbookReader, sheet: Int = 0) throws -> (rows: [Int: [Int: CellValue]], summary: SheetSummary) {
    var rows: [Int: [Int: CellValue]] = [:]
    let summary = try reader.readSheet(at: sheet) { row in
        rows[row.index] = Dictionary(uniqueKeysWithValues: row.cells.map { ($0.column, $0.value) })
        #expect(row.cells.allSatisfy { $0.formula == nil })
        return true
    }
    return (rows, summary)
}

/// Dense rows of strings, "" for empty cells, trailing empties dropped; blank lines as [].
func stringGrid(_ rows: [Int: [Int: CellValue]]) -> [[String]] {
    let count = (rows.keys.max() ?? -1) + 1
    return (0..<count).map { r in
        guard let cells = rows[r], let maxCol = cells.keys.max() else { return [] }
        return (0...maxCol).map { c in
            switch cells[c] {
            case nil, .empty?: return ""
            case .string(let s)?: return s
            case let v?: return "\(v)"
            }
        }
    }
}

/// Checks that `body` throws a `WorkbookError` of `kind`; returns its message.
@discardableResult
func expectWorkbookError(_ kind: WorkbookError.Kind, sourceLocation: SourceLocation = #_sourceLocation,
                         _ body: () throws -> Void) -> String? {
    do {
        try body()
        Issue.record("expected \(kind) error, got success", sourceLocation: sourceLocation)
    } catch let e as WorkbookError {
        #expect(e.kind == kind, "\(e)", sourceLocation: sourceLocation)
        return e.message
    } catch {
        Issue.record("expected WorkbookError.\(kind), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
