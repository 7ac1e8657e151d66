import CXLZlib
import Foundation
import Testing
@testable import XLChatWorkbook

@Suite("ZipArchive")
struct ZipArchiveTests {
    @Test("stored and deflated members read back; lookup ignores case and backslashes")
    func storedDeflatedLookup() throws {
        var z = ZipTestArchive()
        z.add("XL\\Worksheets\\Sheet1.XML", "<a>deflated</a>")
        z.add("docProps/app.xml", "stored text", deflate: false)
        let archive = try ZipArchive(path: try z.write(ext: "zip"))
        #expect(archive.entries.count == 2)
        #expect(try archive.read(named: "xl/worksheets/sheet1.xml").map { String(decoding: $0, as: UTF8.self) } == "<a>deflated</a>")
        #expect(try archive.read(named: "/DOCPROPS/APP.XML").map { String(decoding: $0, as: UTF8.self) } == "stored text")
        #expect(archive.entry(named: "missing.xml") == nil)
    }

    @Test("data descriptors and ZIP64 records")
    func descriptorsAndZip64() throws {
        for (dd, z64) in [(true, false), (false, true), (true, true)] {
            var z = ZipTestArchive()
            z.dataDescriptors = dd
            z.zip64 = z64
            z.add("a.txt", String(repeating: "hello ", count: 1000))
            z.add("b.txt", "second", deflate: false)
            let archive = try ZipArchive(path: try z.write(ext: "zip"))
            #expect(try archive.read(named: "a.txt")?.count == 6000, "dd \(dd) zip64 \(z64)")
            #expect(try archive.read(named: "b.txt") == Array("second".utf8))
        }
    }

    @Test("a member is streamed in chunks, never handed over whole")
    func streamsInChunks() throws {
        var z = ZipTestArchive()
        var data = [UInt8](repeating: 0, count: 3 << 20)
        var x: UInt32 = 7
        for k in data.indices { x = x &* 1_103_515_245 &+ 12345; data[k] = UInt8(truncatingIfNeeded: x >> 16) }
        z.members.append(.init(name: "big.bin", data: data))
        let archive = try ZipArchive(path: try z.write(ext: "zip"))
        var chunks = 0, total = 0, largest = 0
        try archive.stream(archive.entry(named: "big.bin")!, chunkSize: 64 << 10) { c in
            chunks += 1; total += c.count; largest = max(largest, c.count)
        }
        #expect(total == 3 << 20)
        #expect(largest <= 64 << 10)
        #expect(chunks >= 48)
    }

    @Test("not a zip, a zero-byte file and a truncated zip are corrupt workbooks")
    func badContainers() throws {
        #expect(xlsxErrorKind { _ = try ZipArchive(path: try ZipTestFiles.write(Array("id,name\n1,a\n".utf8), ext: "xlsx")) } == .corruptWorkbook)
        #expect(xlsxErrorKind { _ = try ZipArchive(path: try ZipTestFiles.write([], ext: "xlsx")) } == .corruptWorkbook)
        let ole: [UInt8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] + [UInt8](repeating: 0, count: 512)
        #expect(xlsxErrorKind { _ = try ZipArchive(path: try ZipTestFiles.write(ole, ext: "xlsx")) } == .corruptWorkbook)
        var z = ZipTestArchive()
        z.add("a.txt", String(repeating: "abc", count: 10_000))
        let whole = z.bytes()
        for cut in [whole.count / 2, whole.count - 10, 30] {
            #expect(xlsxErrorKind { _ = try ZipArchive(path: try ZipTestFiles.write(Array(whole[0..<cut]), ext: "xlsx")) } == .corruptWorkbook)
        }
        // Central directory intact, member data damaged: CRC / deflate errors are corrupt too.
        var damaged = whole
        for k in 40..<80 { damaged[k] ^= 0x5A }
        let archive = try ZipArchive(path: try ZipTestFiles.write(damaged, ext: "zip"))
        #expect(xlsxErrorKind { _ = try archive.read(named: "a.txt") } == .corruptWorkbook)
    }

    @Test("a missing file and a directory are fileNotFound")
    func missingAndDirectory() {
        #expect(xlsxErrorKind { _ = try ZipArchive(path: "/nonexistent/x.xlsx") } == .fileNotFound)
        #expect(xlsxErrorKind { _ = try ZipArchive(path: NSTemporaryDirectory()) } == .fileNotFound)
    }

    @Test("a file without read permission is refused (unless running as root)")
    func noPermission() throws {
        var z = ZipTestArchive()
        z.add("a.txt", "x")
        let path = try z.write()
        chmod(path, 0)
        defer { chmod(path, 0o644) }
        if geteuid() == 0 {
            print("noPermission: running as root, permission bits do not apply; checked only that it opens")
            #expect(xlsxErrorKind { _ = try ZipArchive(path: path) } == nil)
        } else {
            #expect(xlsxErrorKind { _ = try ZipArchive(path: path) } == .fileNotFound)
        }
    }

    @Test("zip bomb: a member inflating past the ratio limit stops with tooLarge, without being held")
    func zipBombRatio() throws {
        // 64 MiB of zeros deflate to ~64 KB (about 1000:1); with the ratio limited to 100:1 the
        // stream must stop soon after the 1 MiB floor.
        var z = ZipTestArchive()
        z.members.append(.init(name: "xl/worksheets/sheet1.xml", data: [UInt8](repeating: 0x20, count: 64 << 20)))
        let path = try z.write()
        var limits = ReadLimits()
        limits.maxCompressionRatio = 100
        let archive = try ZipArchive(path: path, limits: limits)
        var received = 0
        let kind = xlsxErrorKind { try archive.stream(archive.entries[0]) { received += $0.count } }
        #expect(kind == .tooLarge)
        #expect(received < 16 << 20, "stopped while streaming, after \(received) bytes")
        // The default limit (1000:1) also stops a 2 GB-of-zeros bomb: deflate's best is ~1030:1.
        let defaultArchive = try ZipArchive(path: path)
        #expect(xlsxErrorKind { try defaultArchive.stream(defaultArchive.entries[0]) { _ in } } == .tooLarge)
    }

    @Test("zip bomb: a member inflating past maxMemberBytes stops with tooLarge")
    func zipBombSize() throws {
        var z = ZipTestArchive()
        var data = [UInt8](repeating: 0, count: 8 << 20)
        var x: UInt32 = 1
        for k in data.indices { x = x &* 1_103_515_245 &+ 12345; data[k] = UInt8(truncatingIfNeeded: x >> 16) }
        z.members.append(.init(name: "m.bin", data: data))
        var limits = ReadLimits()
        limits.maxMemberBytes = 2 << 20
        let bombPath = try z.write(ext: "zip")
        defer { unlink(bombPath) }
        let archive = try ZipArchive(path: bombPath, limits: limits)
        var received = 0
        #expect(xlsxErrorKind { try archive.stream(archive.entries[0]) { received += $0.count } } == .tooLarge)
        #expect(received <= 2 << 20)
        // Through the reader: the sheet part is the bomb.
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(String(repeating: #"<row><c><v>1</v></c></row>"#, count: 200_000)), nil, "worksheet")]
        let reader = try XLSXReader(path: try wb.write(), limits: limits)
        #expect(xlsxErrorKind { try reader.readSheet(at: 0) { _ in true } } == .tooLarge)
    }
}

@Suite("XLSX damaged input")
struct XLSXDamagedInputTests {
    @Test("flipped bytes and cuts anywhere give an error or a reading, never a crash")
    func mutations() throws {
        var wb = XLSXTestWorkbook()
        wb.sharedStrings = #"<si><t>a</t></si><si><r><t>b</t></r></si>"#
        wb.styles = XLSXReaderTests.styles
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(
            #"<row r="1"><c r="A1" t="s"><v>1</v></c><c r="B1" s="1"><v>45000</v></c><c r="C1"><f t="shared" ref="C1:C2" si="0">A1+1</f><v>2</v></c></row>"#
            + #"<row r="2"><c r="C2"><f t="shared" si="0"/><v>3</v></c></row>"#, after: #"<mergeCells><mergeCell ref="A1:B1"/></mergeCells>"#), nil, "worksheet")]
        var z = wb.zip()
        z.zip64 = true
        let good = z.bytes()
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int { seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return Int(seed >> 33) }
        var errors = 0, reads = 0
        for round in 0..<400 {
            var bytes = good
            if round % 4 == 0 {
                bytes = Array(bytes.prefix(next() % bytes.count))
            } else {
                for _ in 0..<(1 + next() % 8) { bytes[next() % bytes.count] = UInt8(next() & 0xFF) }
            }
            let path = try ZipTestFiles.write(bytes, ext: "xlsx")
            defer { unlink(path) }
            do {
                let reader = try XLSXReader(path: path)
                for i in reader.sheets.indices { try reader.readSheet(at: i) { _ in true } }
                reads += 1
            } catch let e as WorkbookError {
                #expect(e.kind != .fileNotFound)
                errors += 1
            }
        }
        #expect(errors > 0 && errors + reads == 400)
    }
}
