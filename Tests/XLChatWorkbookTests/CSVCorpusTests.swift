import Foundation
import Testing
@testable import XLChatWorkbook

/// Every csv/tsv of the corpus against `expected/FILE.json`'s `csv` object (Python's csv module:
/// encoding, delimiter, rows of strings). Read with `inferTypes: false` the rows must be equal;
/// read typed, every typed value must come from its text.
///
/// Deliberate differences:
/// - `csvkit__mac_newlines.csv` (CR-only line endings): Python's csv module refuses it
///   ("new-line character seen in unquoted field"); we read CR as a line break, so it has rows.
/// - Trailing empty fields: Python reports `''`, we deliver no cell (an empty cell); compared
///   with trailing empties dropped. Blank lines are rows without cells in both.
@Suite struct CSVCorpusTests {
    static let files: [String] = {
        guard let dir = corpusDirectory() else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("files").path)) ?? []
        return names.filter { $0.lowercased().hasSuffix(".csv") || $0.lowercased().hasSuffix(".tsv") }.sorted()
    }()

    func expected(_ file: String) throws -> [String: Any] {
        let url = corpusDirectory()!.appendingPathComponent("expected/\(file).json")
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// Fails when the corpus is missing: the parameterised tests below would have no arguments.
    @Test func corpusIsPresent() {
        #expect(corpusDirectory() != nil, "../shared/corpus not found: the csv conformance tests need it")
        #expect(Self.files.count >= 16)
    }

    @Test(arguments: files)
    func rawRowsEncodingAndDelimiterMatchPython(file: String) throws {
        let path = corpusDirectory()!.appendingPathComponent("files/\(file)").path
        let json = try expected(file)
        let csv = json["csv"] as! [String: Any]
        let reader = try CSVReader(path: path, inferTypes: false)
        #expect(reader.encoding.rawValue == csv["encoding"] as? String)
        #expect(String(reader.delimiter) == csv["delimiter"] as? String)
        #expect(reader.format == (file.hasSuffix(".tsv") ? .tsv : .csv))
        let grid = stringGrid(try readRows(reader).rows)

        if file == "csvkit__mac_newlines.csv" {
            #expect(csv["error"] != nil)  // Python could not read it; we can:
            #expect(grid == [["a", "b", "c"], ["1", "2", "3"], ["Once upon\ra time", "5", "6"]])
            return
        }
        var want = (csv["rows"] as! [[String]]).map { row -> [String] in
            var r = row
            while r.last == "" { r.removeLast() }
            return r
        }
        while want.last == [] { want.removeLast() }
        #expect(grid.count == want.count)
        for (i, (got, exp)) in zip(grid, want).enumerated() where got != exp {
            Issue.record("\(file) row \(i): got \(got.prefix(6)) expected \(exp.prefix(6))")
            break
        }
    }

    @Test(arguments: files)
    func typedValuesComeFromTheirText(file: String) throws {
        let path = corpusDirectory()!.appendingPathComponent("files/\(file)").path
        let raw = try readRows(try CSVReader(path: path, inferTypes: false)).rows
        let typed = try readRows(try CSVReader(path: path)).rows
        #expect(raw.keys.sorted() == typed.keys.sorted())
        for (r, cells) in raw {
            for (c, value) in cells {
                guard case .string(let text) = value else { Issue.record("raw read gave \(value)"); continue }
                switch typed[r]?[c] {
                case .string(let s)?: #expect(s == text)
                case .number(let d)?: #expect(Double(text.replacingOccurrences(of: ",", with: "")) == d, "\(text)")
                case .bool(let b)?: #expect(text.lowercased() == (b ? "true" : "false"))
                case let t?: #expect(t.isoText.map { text.hasPrefix($0.prefix(10)) } == true, "\(text) -> \(t)")
                case nil: Issue.record("\(file) \(r),\(c): missing")
                }
            }
        }
    }

    @Test func knownTypingOutcomes() throws {
        guard let dir = corpusDirectory() else { return }
        let rows = try readRows(try CSVReader(path: dir.appendingPathComponent("files/frictionless__leading-zeros.csv").path)).rows
        #expect(rows[1]?[0] == .string("01") && rows[3]?[0] == .string("00003"))
        let iris = try readRows(try CSVReader(path: dir.appendingPathComponent("files/csvkit__iris.csv").path)).rows
        #expect(iris[1]?[0] == .number(5.1) && iris[1]?[4] == .string("Iris-setosa"))
        let semi = try readRows(try CSVReader(path: dir.appendingPathComponent("files/frictionless__issue-1009-semicolon.csv").path)).rows
        #expect(semi[1]?[0] == .string("0123"))
    }

    @Test(arguments: files)
    func contentHashMatchesTheCorpusSHA256(file: String) throws {
        let path = corpusDirectory()!.appendingPathComponent("files/\(file)").path
        #expect(try ContentHash.sha256(path: path) == (try expected(file))["sha256"] as? String)
    }
}
