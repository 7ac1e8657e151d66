import Foundation
import Testing
@testable import XLChatWorkbook

@Suite struct CompoundFileTests {
    func kind(_ body: () throws -> Void) -> WorkbookError.Kind? {
        do { try body(); return nil } catch let e as WorkbookError { return e.kind } catch { return nil }
    }

    @Test func readsStreamsByNameCaseInsensitively() throws {
        let payload = (0..<1500).map { UInt8($0 % 251) }  // spans three 512-byte sectors
        let cf = try CompoundFile(bytes: CFBBuilder(streams: [("Workbook", payload), ("Other", [1, 2, 3])]).build())
        #expect(cf.rootChildren.map(\.name) == ["Workbook", "Other"])
        #expect(try cf.streamBytes(named: "WORKBOOK") == payload)
        #expect(try cf.streamBytes(named: "other") == [1, 2, 3])
        #expect(try cf.streamBytes(named: "Missing") == nil)
        #expect(!cf.isEncryptedOOXML)
    }

    @Test func version4HeaderWith4096ByteSectors() throws {
        let payload = (0..<9000).map { UInt8($0 % 253) }
        let cf = try CompoundFile(bytes: CFBBuilder(streams: [("Workbook", payload)], version: 4).build())
        #expect(cf.sectorSize == 4096)
        #expect(try cf.streamBytes(named: "Workbook") == payload)
    }

    /// More than 109 FAT sectors: the FAT's own sector list continues in DIFAT sectors.
    @Test func extraDIFATSectors() throws {
        let payload = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let b = CFBBuilder(streams: [("Workbook", payload)])
        #expect(b.fatAndDifat.difat >= 1)
        let cf = try CompoundFile(bytes: b.build())
        #expect(try cf.streamBytes(named: "Workbook") == payload)
        // A DIFAT chain that ends early is corrupt.
        var bytes = b.build()
        bytes.replaceSubrange(0x44..<0x48, with: [0xFE, 0xFF, 0xFF, 0xFF])  // first DIFAT sector: end of chain
        let e = #expect(throws: WorkbookError.self) { try CompoundFile(bytes: bytes) }
        #expect(e?.kind == .corruptWorkbook)
    }

    @Test func readsMiniStreamsOfARealFile() throws {
        guard let path = XLSCorpus.file("calamine__base.xls") else { Issue.record("corpus absent: this test needs the corpus"); return }
        let cf = try CompoundFile(path: path)
        // SummaryInformation is small, so it lives in the mini stream; it starts with 0xFFFE.
        let summary = try #require(try cf.streamBytes(named: "\u{05}SummaryInformation"))
        #expect(summary.count > 0 && summary.count < 4096)
        #expect(Array(summary.prefix(2)) == [0xFE, 0xFF])
        let wb = try #require(try cf.streamBytes(named: "Workbook"))
        #expect(Array(wb.prefix(2)) == [0x09, 0x08])  // a BIFF8 BOF record
    }

    @Test func fatLoopIsCorrupt() throws {
        var b = CFBBuilder(streams: [("Workbook", [UInt8](repeating: 7, count: 1500))])
        let s0 = b.firstSector(ofStream: 0)
        b.fatOverrides = [s0 + 1: UInt32(s0)]  // the stream's second sector points back to its first
        let cf = try CompoundFile(bytes: b.build())
        #expect(kind { _ = try cf.streamBytes(named: "Workbook") } == .corruptWorkbook)
    }

    @Test func chainIntoASectorOutsideTheFileIsCorrupt() throws {
        var b = CFBBuilder(streams: [("Workbook", [UInt8](repeating: 7, count: 1500))])
        b.fatOverrides = [b.firstSector(ofStream: 0): 90]  // a sector the FAT covers but the file does not hold
        let cf = try CompoundFile(bytes: b.build())
        #expect(kind { _ = try cf.streamBytes(named: "Workbook") } == .corruptWorkbook)
        var c = CFBBuilder(streams: [("Workbook", [UInt8](repeating: 7, count: 1500))])
        c.fatOverrides = [c.firstSector(ofStream: 0): 0x7000_0000]  // outside the FAT itself
        let cf2 = try CompoundFile(bytes: c.build())
        #expect(kind { _ = try cf2.streamBytes(named: "Workbook") } == .corruptWorkbook)
    }

    @Test func directoryChainLoopIsCorrupt() throws {
        var b = CFBBuilder(streams: [("Workbook", [1])])
        b.fatOverrides = [0: 0]  // the directory sector points to itself
        #expect(kind { _ = try CompoundFile(bytes: b.build()) } == .corruptWorkbook)
    }

    @Test func truncatedCompoundFileIsCorrupt() throws {
        guard let path = XLSCorpus.file("calamine__base.xls") else { Issue.record("corpus absent: this test needs the corpus"); return }
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for cut in [300, 511, 513, 2048, full.count / 2, full.count - 600] {
            let k = kind {
                let cf = try CompoundFile(bytes: Array(full.prefix(cut)))
                _ = try XLSReader(compoundFile: cf).readSheet(at: 0) { _ in true }
            }
            #expect(k == .corruptWorkbook, "cut at \(cut) bytes")
        }
    }

    @Test func zeroByteFileIsCorrupt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("xls-zero-\(UUID().uuidString).xls").path
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: path) }
        let e = #expect(throws: WorkbookError.self) { try CompoundFile(path: path) }
        #expect(e?.kind == .corruptWorkbook)
        let e2 = #expect(throws: WorkbookError.self) { try XLSReader(path: path) }
        #expect(e2?.kind == .corruptWorkbook)
        #expect(e2?.message.contains("empty") == true)
    }

    @Test func missingFileAndNotACompoundFile() throws {
        #expect(kind { _ = try CompoundFile(path: "/nonexistent/dir/x.xls") } == .fileNotFound)
        #expect(kind { _ = try CompoundFile(bytes: [UInt8](repeating: 0x41, count: 1024)) } == .unsupportedFormat)
        #expect(kind { _ = try XLSReader(bytes: Array("a,b\n1,2\n".utf8)) } == .unsupportedFormat)
        #expect(kind { _ = try XLSReader(path: FileManager.default.temporaryDirectory.path) } == .unsupportedFormat)
    }

    @Test func encryptedOOXMLInOLEIsEncrypted() throws {
        let bytes = CFBBuilder(streams: [("EncryptionInfo", [4, 0, 4, 0, 0x40, 0, 0, 0]),
                                         ("EncryptedPackage", [UInt8](repeating: 0xAB, count: 700))]).build()
        let cf = try CompoundFile(bytes: bytes)
        #expect(cf.isEncryptedOOXML)
        let e = #expect(throws: WorkbookError.self) { try XLSReader(bytes: bytes) }
        #expect(e?.kind == .encryptedWorkbook)
        #expect(e?.message.contains("remove the password") == true)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("enc-\(UUID().uuidString).xlsx").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(CompoundFile.isEncryptedOOXML(path: path))
        #expect(kind { _ = try XLSReader(path: path) } == .encryptedWorkbook)
    }

    @Test("an encrypted OOXML container is named by its file's extension (xlsb, xlsm, xlsx, ...), else 'an encrypted Office workbook'")
    func encryptedOOXMLNamesTheFormat() throws {
        let bytes = CFBBuilder(streams: [("EncryptionInfo", [4, 0, 4, 0, 0x40, 0, 0, 0]),
                                         ("EncryptedPackage", [UInt8](repeating: 0xAB, count: 700))]).build()
        let cases: [(String, String)] = [("xlsb", "an encrypted xlsb workbook"), ("xlsm", "an encrypted xlsm workbook"),
                                         ("XLSX", "an encrypted xlsx workbook"), ("xltx", "an encrypted xltx workbook"),
                                         ("xls", "an encrypted Office workbook"), ("", "an encrypted Office workbook"),
                                         ("bin", "an encrypted Office workbook")]
        for (ext, want) in cases {
            let name = "enc-\(UUID().uuidString)" + (ext.isEmpty ? "" : ".\(ext)")
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let e = #expect(throws: WorkbookError.self) { try Workbooks.open(path: path) }
            #expect(e?.kind == .encryptedWorkbook, "\(ext)")
            #expect(e?.message.contains("(\(want))") == true, "\(ext): \(e?.message ?? "")")
            #expect(e?.message.contains("xlsx inside") == false)
        }
        // The corpus's password-protected xlsb (calamine's test file).
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/corpus/files/calamine__password.xlsb").path
        try #require(FileManager.default.fileExists(atPath: corpus), "the corpus is missing: \(corpus)")
        let e = #expect(throws: WorkbookError.self) { try Workbooks.open(path: corpus) }
        #expect(e?.kind == .encryptedWorkbook && e?.message.contains("(an encrypted xlsb workbook)") == true, "\(e?.message ?? "")")
    }

    @Test func compoundFileWithoutWorkbookStreamIsUnsupported() throws {
        let bytes = CFBBuilder(streams: [("WordDocument", [1, 2, 3])]).build()
        #expect(kind { _ = try XLSReader(bytes: bytes) } == .unsupportedFormat)
    }
}
