import Foundation
import Testing
import XLChatIndex
import XLChatWorkbook

/// Shapes real files have: more columns than SQLite allows, names that need quoting, a
/// column already called `_row`, case-insensitive duplicate names.
@Suite struct ShapeTests {
    @Test func wideTableIsSplitIntoPartsNotCut() async throws {
        let width = 2100
        let header: [CellValue] = (0..<width).map { .string("c\($0)") }
        let data: [CellValue] = (0..<width).map { .number(Double($0)) }
        let reader = MemoryWorkbookReader(sheets: [MemoryWorkbookReader.sheet("Wide", index: 0, grid: [header, data, data])])
        let outline = try reader.outline(contentHash: "abcdef01", types: ["Wide": Array(repeating: .integer, count: width)])
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder())
        let status = try index.status(hash: "abcdef01")
        #expect(status.tables.map(\.name) == ["Wide", "Wide_part2"])
        #expect(status.tables.map(\.columns.count) == [1999, 101])
        #expect(status.tables.allSatisfy { $0.omittedColumns == 0 })
        let q = try index.query(hash: "abcdef01", sql: "SELECT c1998, _row FROM Wide")
        #expect(q.rows == [[.integer(1998), .integer(2)], [.integer(1998), .integer(3)]])
        #expect(q.sourceRanges.map { $0?.a1 } == ["Wide!BXW2", "Wide!BXW3"])
        let rest = try index.query(hash: "abcdef01", sql: "SELECT c2099, _row FROM Wide_part2")
        #expect(rest.rows == [[.integer(2099), .integer(2)], [.integer(2099), .integer(3)]])
    }

    @Test func oddNamesAreQuoted() async throws {
        let grid: [[CellValue]] = [
            [.string("_row"), .string("Amount"), .string("amount"), .string("Say \"hi\"")],
            [.string("r1"), .number(1), .number(10), .string("x")],
            [.string("r2"), .number(2), .number(20), .string("y")],
        ]
        let reader = MemoryWorkbookReader(sheets: [MemoryWorkbookReader.sheet("It's \"odd\"", index: 0, grid: grid)])
        var outline = try reader.outline(contentHash: "abcdef02", types: ["It's \"odd\"": [.text, .integer, .integer, .text]])
        outline.sheets[0].table!.name = "Tab\"le; DROP TABLE x"
        let dir = try TempDir(); defer { dir.cleanup() }
        let index = try WorkbookIndex(dataDirectory: dir.url)
        _ = try await index.build(outline: outline, reader: reader, embedder: HashingEmbedder())
        let status = try index.status(hash: "abcdef02")
        #expect(status.tables.first?.columns == ["_row", "Amount", "amount_2", "Say \"hi\""])
        let q = try index.query(hash: "abcdef02", sql: #"SELECT __row, "_row", amount_2, "Say ""hi""" FROM "Tab""le; DROP TABLE x" ORDER BY 1"#)
        #expect(q.rows == [[.integer(2), .text("r1"), .integer(10), .text("x")], [.integer(3), .text("r2"), .integer(20), .text("y")]])
        #expect(q.sourceRanges.map { $0?.a1 } == [#"'It''s "odd"'!A2:D2"#, #"'It''s "odd"'!A3:D3"#])
    }
}
