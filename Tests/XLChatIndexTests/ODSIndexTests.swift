import Foundation
import Testing
import XLChatIndex
import XLChatWorkbook

/// An OpenDocument spreadsheet goes through the same outline, index build and SQL as the other
/// formats (the corpus file frictionless__table-with-ints-floats-dates.ods, read by ODSReader).
@Suite("ODS through the index")
struct ODSIndexTests {
    static func corpusFile(_ name: String) -> String? {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                let file = url.deletingLastPathComponent().appendingPathComponent("shared/corpus/files/\(name)")
                if FileManager.default.fileExists(atPath: file.path) { return file.path }
                Issue.record("the corpus file \(file.path) is missing; this test needs it")
                return nil
            }
        }
        return nil
    }

    @Test("an ods workbook is indexed with typed columns and answers SQL")
    func odsIndexAndQuery() async throws {
        guard let path = Self.corpusFile("frictionless__table-with-ints-floats-dates.ods") else {
            Issue.record("ODSIndexTests: corpus not found beside the package: this test needs the corpus")
            return
        }
        let dir = try TempDir()
        defer { dir.cleanup() }
        let reader = try Workbooks.open(path: path)
        #expect(reader.format == .ods)
        let hash = try ContentHash.sha256(path: path)
        let outline = try WorkbookOutline.build(reader: reader, path: path, contentHash: hash)
        let table = try #require(outline.sheets.first?.table)
        #expect(table.columns.map(\.header) == ["Int", "Float", "Date", "Datetime"])
        #expect(table.columns.map(\.type) == [.integer, .real, .date, .datetime])
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: outline, reader: try Workbooks.open(path: path), embedder: HashingEmbedder())
        let q = try index.query(hash: hash, sql: "SELECT \"Int\", \"Date\" FROM \"\(table.name)\" WHERE \"Int\" = 2013")
        #expect(q.rows.count == 1)
        #expect(q.rows.first?.map { "\($0)" }.joined(separator: "|").contains("2009-08-16") == true, "\(q.rows)")
    }
}
