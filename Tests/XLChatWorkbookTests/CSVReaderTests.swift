import Foundation
import Testing
@testable import XLChatWorkbook

@Suite struct CSVReaderTests {
    let dir = CSVTempDir()

    func raw(_ name: String, _ bytes: [UInt8], inferTypes: Bool = false) throws -> (CSVReader, [[String]]) {
        let path = dir.write(name, bytes)
        let reader = try CSVReader(path: path, inferTypes: inferTypes)
        return (reader, stringGrid(try readRows(reader).rows))
    }

    func utf16(_ s: String, bigEndian: Bool, bom: Bool) -> [UInt8] {
        var out: [UInt8] = bom ? (bigEndian ? [0xFE, 0xFF] : [0xFF, 0xFE]) : []
        for u in s.utf16 {
            let hi = UInt8(u >> 8), lo = UInt8(u & 0xFF)
            out += bigEndian ? [hi, lo] : [lo, hi]
        }
        return out
    }

    @Test func plainUTF8CommaFileIsOneSheetNamedAfterTheStem() throws {
        let (r, grid) = try raw("sales 2024.csv", Array("a,b,c\n1,2,3\n".utf8))
        #expect(r.sheets == [SheetInfo(name: "sales 2024", index: 0)])
        #expect(r.format == .csv && r.encoding == .utf8 && r.delimiter == ",")
        #expect(grid == [["a", "b", "c"], ["1", "2", "3"]])
        #expect(r.definedNames.isEmpty && r.declaredTables.isEmpty)
    }

    @Test func utf8BOMIsSkipped() throws {
        let (r, grid) = try raw("bom.csv", [0xEF, 0xBB, 0xBF] + Array("id,name\n2,中国人\n".utf8))
        #expect(r.encoding == .utf8BOM)
        #expect(grid == [["id", "name"], ["2", "中国人"]])
    }

    @Test(arguments: [(false, true), (true, true), (false, false), (true, false)])
    func utf16WithAndWithoutBOM(bigEndian: Bool, bom: Bool) throws {
        let text = "name\tcity\nZoë\tKöln 😀\n"
        let (r, grid) = try raw("u16.txt", utf16(text, bigEndian: bigEndian, bom: bom))
        #expect(r.encoding == (bigEndian ? .utf16BE : .utf16LE))
        #expect(r.delimiter == "\t")
        #expect(r.format == .tsv)
        #expect(grid == [["name", "city"], ["Zoë", "Köln 😀"]])
    }

    @Test func cp1252FallbackDecodesByTable() throws {
        // 0x80 euro, 0x93/0x94 curly quotes, 0xE9 e-acute, 0xA9 copyright: not valid UTF-8.
        let (r, grid) = try raw("latin.csv", Array("a,b\n".utf8) + [0x80, 0x2C, 0x93, 0x68, 0xE9, 0x94, 0x0A, 0xA9, 0x0A])
        #expect(r.encoding == .cp1252)
        #expect(grid == [["a", "b"], ["€", "“hé”"], ["©"]])
    }

    @Test func laterInvalidUTF8FieldFallsBackToCP1252() throws {
        // The first 64 KiB are valid UTF-8; one field past it is cp1252.
        var bytes = Array("x,y\n".utf8)
        for i in 0..<10_000 { bytes += Array("\(i),é\n".utf8) }
        bytes += [0x63, 0x61, 0x66, 0xE9, 0x2C, 0x31, 0x0A]  // "caf\xE9,1"
        let (r, grid) = try raw("late.csv", bytes)
        #expect(r.encoding == .utf8)
        #expect(grid.last == ["café", "1"])
        #expect(grid[1] == ["0", "é"])
    }

    @Test(arguments: [("comma.csv", ","), ("semi.csv", ";"), ("tab.csv", "\t"), ("pipe.txt", "|")])
    func delimiterIsSniffedFromContent(name: String, delim: String) throws {
        let text = ["id", "name, with comma; and semi", "score"].map { "\"\($0)\"" }.joined(separator: delim) + "\n"
            + ["1", "Ann", "2,5"].map { "\"\($0)\"" }.joined(separator: delim) + "\n"
            + ["2", "Bob", "3,5"].map { "\"\($0)\"" }.joined(separator: delim) + "\n"
        let (r, grid) = try raw(name, Array(text.utf8))
        #expect(String(r.delimiter) == delim)
        #expect(grid[0] == ["id", "name, with comma; and semi", "score"])
        #expect(grid[2] == ["2", "Bob", "3,5"])
    }

    @Test func tsvExtensionPrefersTabAndOneColumnFilesKeepTheirLines() throws {
        let (r, grid) = try raw("one.tsv", Array("value\n01\n002\n".utf8))
        #expect(r.format == .tsv && r.delimiter == "\t")
        #expect(grid == [["value"], ["01"], ["002"]])
        let (r2, _) = try raw("one.csv", Array("value\n01\n".utf8))
        #expect(r2.delimiter == ",")
    }

    @Test func quotingFollowsRFC4180() throws {
        let text = "a,b,c\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n\"\",\"a\"b,c\"d\n"
        let (_, grid) = try raw("q.csv", Array(text.utf8))
        #expect(grid == [["a", "b", "c"], ["x, y", "say \"hi\"", "two\nlines"], ["", "ab", "c\"d"]])
    }

    @Test(arguments: ["\n", "\r", "\r\n"])
    func lineEndings(_ eol: String) throws {
        let text = ["a,b", "1,2", "\"in\(eol)side\",3", "", "4,5"].joined(separator: eol) + eol
        let (_, grid) = try raw("eol.csv", Array(text.utf8))
        #expect(grid == [["a", "b"], ["1", "2"], ["in\(eol)side", "3"], [], ["4", "5"]])
    }

    @Test func lastLineWithoutLineBreakAndRaggedRows() throws {
        let (r, grid) = try raw("bad.csv", Array("column_a,column_b,column_c\n1,27,,I'm too long!\n,I'm too short!\n5".utf8))
        #expect(grid == [["column_a", "column_b", "column_c"], ["1", "27", "", "I'm too long!"], ["", "I'm too short!"], ["5"]])
        let summary = try r.readSheet(at: 0) { _ in true }
        #expect(summary.usedRange == CellRange(rows: 0...3, columns: 0...3))
        #expect(summary.cellCount == 8)
    }

    @Test func nulBytesAreDroppedEverywhere() throws {
        let bytes: [UInt8] = Array("a,b\n1".utf8) + [0] + Array(",\"x".utf8) + [0, 0] + Array("y\"\n".utf8) + [0] + Array("\n".utf8)
        let (_, grid) = try raw("nul.csv", bytes)
        #expect(grid == [["a", "b"], ["1", "xy"]])
    }

    @Test func veryLargeCellAcrossChunkBoundaries() throws {
        // A 3 MiB quoted cell with doubled quotes and line breaks straddles several 1 MiB chunks.
        let piece = "lorem \"\"ipsum\"\"\r\n"
        let big = String(repeating: piece, count: 3 * (1 << 20) / piece.utf8.count)
        let text = "id,text\n1,\"" + big + "\"\n2,short\n"
        let (_, grid) = try raw("big.csv", Array(text.utf8))
        #expect(grid.count == 3)
        #expect(grid[1][1] == big.replacingOccurrences(of: "\"\"", with: "\""))
        #expect(grid[2] == ["2", "short"])
    }

    @Test func utf16SurrogatePairSplitAcrossChunks() throws {
        // Put an emoji's surrogate pair exactly across the 1 MiB chunk boundary (LE with BOM).
        let prefixUnits = (1 << 20) / 2 - 1 - 1 - 4  // BOM unit, then "a,b\n" (4 units)
        let text = "a,b\n" + String(repeating: "x", count: prefixUnits) + "😀,2\n"
        let bytes = utf16(text, bigEndian: false, bom: true)
        #expect(bytes[(1 << 20) - 2] == 0x3D && bytes[(1 << 20) - 1] == 0xD8)  // high surrogate ends chunk 1
        let (_, grid) = try raw("split16.csv", bytes)
        #expect(grid[1][0].hasSuffix("x😀") && grid[1][1] == "2")
    }

    /// Records from feeding `input` in pieces of `size` bytes (drip-feeding at size 1).
    func records(_ input: String, chunk size: Int) throws -> [[String]] {
        var parser = CSVParser(delimiter: UInt8(ascii: ","))
        var out: [[String]] = []
        let emit: (CSVRecord) throws -> Bool = { rec in
            out.append((0..<rec.count).map { String(decoding: rec.bytes[rec.range($0)], as: UTF8.self) })
            return true
        }
        let bytes = Array(input.utf8)
        var i = 0
        while i < bytes.count {
            let piece = Array(bytes[i..<min(i + size, bytes.count)])
            _ = try piece.withUnsafeBufferPointer { try parser.feed($0, emit) }
            i += size
        }
        try parser.finish(emit)
        return out
    }

    @Test func parserGivesTheSameRecordsWhateverTheChunking() throws {
        let inputs = [
            "a,\"b\"\"c\",d\r\n\"x\r\ny\",,\r\n\r\nlast",
            "\"\"\"\",\"\"\r\r\n,\n\"q\"tail,\"\"",
            "one\rtwo\r\"th\"\"ree\"\r",
        ]
        for input in inputs {
            let whole = try records(input, chunk: 1 << 20)
            for size in [1, 2, 3, 5] {
                #expect(try records(input, chunk: size) == whole, "\(input.debugDescription) in \(size)-byte pieces")
            }
        }
        #expect(try records(inputs[0], chunk: 1) == [["a", "b\"c", "d"], ["x\r\ny", "", ""], [], ["last"]])
        #expect(try records(inputs[1], chunk: 1) == [["\"", ""], [], ["", ""], ["qtail", ""]])
        #expect(try records(inputs[2], chunk: 1) == [["one"], ["two"], ["th\"ree"]])
    }

    @Test func utf8CharacterSplitAcrossChunks() throws {
        // "é" is two bytes; with a 3-byte prefix, one of them starts at byte 2^20 - 1.
        let field = "x" + String(repeating: "é", count: 600_000)
        let (r, grid) = try raw("split8.csv", Array(("a\n" + field + "\n").utf8))
        #expect(r.encoding == .utf8)
        #expect(grid == [["a"], [field]])
    }

    @Test func utf16TranscoderGivesTheSameTextWhateverTheChunking() {
        let text = "Zoë,😀\r\n𝄞 ok"
        for bigEndian in [false, true] {
            let bytes = utf16(text, bigEndian: bigEndian, bom: false)
            for size in [1, 2, 3, 7] {
                var t = UTF16Transcoder(bigEndian: bigEndian)
                var all: [UInt8] = [], out: [UInt8] = []
                var i = 0
                while i < bytes.count {
                    Array(bytes[i..<min(i + size, bytes.count)]).withUnsafeBytes { t.transcode($0, into: &out) }
                    all += out
                    i += size
                }
                t.finish(into: &out)
                all += out
                #expect(String(decoding: all, as: UTF8.self) == text, "\(size)-byte pieces")
            }
        }
        // A lone surrogate and a dangling odd byte become U+FFFD.
        var t = UTF16Transcoder(bigEndian: false)
        var out: [UInt8] = []
        ([0x3D, 0xD8, 0x41, 0x00, 0x42] as [UInt8]).withUnsafeBytes { t.transcode(UnsafeRawBufferPointer($0), into: &out) }
        var all = out
        t.finish(into: &out)
        all += out
        #expect(String(decoding: all, as: UTF8.self) == "\u{FFFD}A\u{FFFD}")
    }

    @Test func unterminatedQuoteIsCorrupt() throws {
        let path = dir.write("open.csv", "a,b\n1,\"never closed\n2,3\n")
        let reader = try CSVReader(path: path)
        let message = expectWorkbookError(.corruptWorkbook) { _ = try reader.readSheet(at: 0) { _ in true } }
        #expect(message?.contains("record 2") == true)
    }

    @Test func emptyMissingAndDirectoryInputs() throws {
        let empty = dir.write("empty.csv", [])
        let m = expectWorkbookError(.corruptWorkbook) { _ = try CSVReader(path: empty) }
        #expect(m?.contains("empty file") == true)
        expectWorkbookError(.fileNotFound) { _ = try CSVReader(path: dir.url.appendingPathComponent("nope.csv").path) }
        let m2 = expectWorkbookError(.unsupportedFormat) { _ = try CSVReader(path: dir.url.path) }
        #expect(m2?.contains("is a directory") == true)
    }

    @Test func unknownSheetIndex() throws {
        let reader = try CSVReader(path: dir.write("s.csv", "a\n"))
        expectWorkbookError(.unknownSheet) { _ = try reader.readSheet(at: 1) { _ in true } }
    }

    @Test func tooManyColumnsOrRowsIsTooLarge() throws {
        var limits = ReadLimits()
        limits.maxColumns = 3
        let reader = try CSVReader(path: dir.write("wide.csv", "a,b,c\n1,2,3,4\n"), limits: limits)
        expectWorkbookError(.tooLarge) { _ = try reader.readSheet(at: 0) { _ in true } }
        limits = ReadLimits()
        limits.maxTextRows = 2
        let reader2 = try CSVReader(path: dir.write("long.csv", "a\n1\n2\n"), limits: limits)
        expectWorkbookError(.tooLarge) { _ = try reader2.readSheet(at: 0) { _ in true } }
    }

    @Test func rowsPastExcelsLimitAreReadByDefault() throws {
        let n = CellRef.maxRows + 2
        let reader = try CSVReader(path: dir.write("long.csv", String(repeating: "7\n", count: n)))
        var last = -1
        let summary = try reader.readSheet(at: 0) { row in last = row.index; return true }
        #expect(last == n - 1 && summary.cellCount == n)
    }

    @Test func visitorCanStopEarlyAndReadingTwiceGivesTheSameRows() throws {
        let reader = try CSVReader(path: dir.write("many.csv", (0..<1000).map { "\($0),x" }.joined(separator: "\n")))
        var seen = 0
        _ = try reader.readSheet(at: 0) { _ in seen += 1; return seen < 10 }
        #expect(seen == 10)
        let a = try readRows(reader).rows, b = try readRows(reader).rows
        #expect(a.count == 1000 && a == b)
    }

    @Test func forcedDelimiter() throws {
        let reader = try CSVReader(path: dir.write("f.csv", "a;b,c\n"), delimiter: ";", inferTypes: false)
        #expect(stringGrid(try readRows(reader).rows) == [["a", "b,c"]])
        expectWorkbookError(.unsupportedFormat) { _ = try CSVReader(path: dir.write("g.csv", "a\n"), delimiter: "\"") }
    }

    // MARK: typing

    @Test func typedValues() throws {
        let cases: [(String, CellValue)] = [
            ("42", .number(42)), ("-7", .number(-7)), ("+3.5", .number(3.5)), ("0", .number(0)),
            ("0.25", .number(0.25)), (".5", .number(0.5)), ("1e3", .number(1000)), ("-2.5E-2", .number(-0.025)),
            ("1.50", .number(1.5)), ("1,234,567", .number(1_234_567)), ("1,234.5", .number(1234.5)),
            ("123456789012345", .number(123_456_789_012_345)),
            ("TRUE", .bool(true)), ("false", .bool(false)), ("True", .bool(true)),
            ("2024-03-01", .temporal(.date, serial: ExcelDate.serial(year: 2024, month: 3, day: 1))),
            ("2024-03-01T12:30:00", .temporal(.dateTime, serial: ExcelDate.serial(year: 2024, month: 3, day: 1, hour: 12, minute: 30))),
            ("2024-03-01 12:30:00", .temporal(.dateTime, serial: ExcelDate.serial(year: 2024, month: 3, day: 1, hour: 12, minute: 30))),
            ("2024-02-29 23:59", .temporal(.dateTime, serial: ExcelDate.serial(year: 2024, month: 2, day: 29, hour: 23, minute: 59))),
        ]
        for (text, value) in cases {
            #expect(CSVValueTyping.value(of: text) == value, "\(text)")
        }
        let stayText = ["007", "00.5", "-012", "1,234", "12,34", "1,2345", "1.", "+", "-", "1e", "1e99999", "1.2.3",
                        "1234567890123456", "4111111111111111", "0x1F", "NaN", "inf", " 42", "42 ", "yes", "truth",
                        "2023-02-29", "2024-13-01", "2024-03-01T25:00:00", "2024-03-01T12:30:00Z", "2024-03-01T12:30:00+02:00",
                        "5/19/2006 0:00:00", "2024-3-1", "1,234,56"]
        for text in stayText {
            #expect(CSVValueTyping.value(of: text) == .string(text), "\(text)")
        }
    }

    @Test func typedReadingKeepsUntypedTextAndIsoDatesRoundTrip() throws {
        let reader = try CSVReader(path: dir.write("t.csv", "a,b,c,d\n007,2024-03-01T12:30:00,true, x \n"))
        let rows = try readRows(reader).rows
        #expect(rows[1]?[0] == .string("007"))
        #expect(rows[1]?[1]?.isoText == "2024-03-01T12:30:00")
        #expect(rows[1]?[2] == .bool(true))
        #expect(rows[1]?[3] == .string(" x "))
    }
}
