import Foundation
import Testing
@testable import XLChatWorkbook

@Suite struct SniffTests {
    let dir = CSVTempDir()

    @Test func magicBytesWinOverTheExtension() throws {
        #expect(try FormatSniffer.sniff(path: dir.write("book.csv", [0x50, 0x4B, 0x03, 0x04, 20, 0, 0, 0])) == .zip)
        #expect(try FormatSniffer.sniff(path: dir.write("book.dat", [0x50, 0x4B, 0x05, 0x06] + [UInt8](repeating: 0, count: 18))) == .zip)
        #expect(try FormatSniffer.sniff(path: dir.write("book.txt", [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0])) == .compoundFile)
    }

    @Test func bareBIFFStreams() throws {
        #expect(FormatSniffer.sniff(head: [0x09, 0x00, 0x04, 0x00, 0x02, 0x00, 0x10, 0x00], pathExtension: "xls") == .biff(version: 2))
        #expect(FormatSniffer.sniff(head: [0x09, 0x02, 0x06, 0x00, 0x00, 0x00, 0x10, 0x00], pathExtension: "xls") == .biff(version: 3))
        #expect(FormatSniffer.sniff(head: [0x09, 0x04, 0x06, 0x00, 0x00, 0x00, 0x10, 0x00], pathExtension: "") == .biff(version: 4))
        #expect(FormatSniffer.sniff(head: [0x09, 0x08, 0x08, 0x00, 0x00, 0x05, 0x10, 0x00], pathExtension: "xls") == .biff(version: 5))
        #expect(FormatSniffer.sniff(head: [0x09, 0x08, 0x10, 0x00, 0x00, 0x06, 0x05, 0x00], pathExtension: "xls") == .biff(version: 8))
        // A BOF type with an implausible length or version is not BIFF.
        #expect(FormatSniffer.sniff(head: [0x09, 0x08, 0x99, 0x00, 0x00, 0x06, 0x05, 0x00], pathExtension: "xls") == .unknown)
        #expect(FormatSniffer.sniff(head: [0x09, 0x08, 0x10, 0x00, 0x00, 0x07, 0x05, 0x00], pathExtension: "xls") == .unknown)
    }

    @Test func textByExtensionOrContent() throws {
        #expect(FormatSniffer.sniff(head: Array("a\tb\n".utf8), pathExtension: "tsv") == .text(delimiterHint: "\t"))
        #expect(FormatSniffer.sniff(head: Array("a,b\n".utf8), pathExtension: "csv") == .text(delimiterHint: ","))
        #expect(FormatSniffer.sniff(head: Array("a;b\n".utf8), pathExtension: "txt") == .text(delimiterHint: nil))
        #expect(FormatSniffer.sniff(head: Array("a;b\nc;d\n".utf8), pathExtension: "") == .text(delimiterHint: nil))
        #expect(FormatSniffer.sniff(head: [0xFF, 0xFE, 0x61, 0x00], pathExtension: "dat") == .text(delimiterHint: nil))
        #expect(FormatSniffer.sniff(head: [0x61, 0, 0x2C, 0, 0x62, 0, 0x0A, 0], pathExtension: "dat") == .text(delimiterHint: nil))
        #expect(FormatSniffer.sniff(head: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0, 0, 0], pathExtension: "") == .unknown)
        #expect(FormatSniffer.sniff(head: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0], pathExtension: "xlsx") == .unknown)
    }

    @Test func badPaths() throws {
        let m1 = expectWorkbookError(.fileNotFound) { _ = try FormatSniffer.sniff(path: dir.url.appendingPathComponent("missing.xlsx").path) }
        #expect(m1?.contains("no such file") == true)
        let m2 = expectWorkbookError(.unsupportedFormat) { _ = try Workbooks.open(path: dir.url.path) }
        #expect(m2?.contains("is a directory") == true)
        let m3 = expectWorkbookError(.corruptWorkbook) { _ = try Workbooks.open(path: dir.write("zero.xlsx", [])) }
        #expect(m3?.contains("empty file") == true)
        expectWorkbookError(.unsupportedFormat) { _ = try Workbooks.open(path: dir.write("elf.bin", [0x7F, 0x45, 0x4C, 0x46, 0, 0, 0, 1, 2])) }
        expectWorkbookError(.fileNotFound) { _ = try ContentHash.sha256(path: dir.url.appendingPathComponent("missing").path) }
    }

    @Test func noReadPermission() throws {
        let path = dir.write("secret.csv", "a,b\n1,2\n")
        #expect(chmod(path, 0) == 0)
        if getuid() == 0 {
            // Root bypasses file permissions: the file opens. The mapping is still checked below.
            #expect(try Workbooks.open(path: path).sheets.count == 1)
        } else {
            let m = expectWorkbookError(.fileNotFound) { _ = try Workbooks.open(path: path) }
            #expect(m?.contains("permission denied") == true)
        }
        let e = FileInput.openError(EACCES, path)
        #expect(e.kind == .fileNotFound && e.message.contains("permission denied"))
    }

    @Test func textNamedLikeABinaryWorkbookIsCorrupt() throws {
        for ext in ["xlsx", "xls", "ods", "xlsb"] {
            let m = expectWorkbookError(.corruptWorkbook) { _ = try Workbooks.open(path: dir.write("junk.\(ext)", "not,a,workbook\n1,2,3\n")) }
            #expect(m?.contains("plain text") == true)
        }
        // Text under a name that says nothing (or says text) is still read as CSV.
        #expect(try Workbooks.open(path: dir.write("export.dat", "a,b\n1,2\n")).format == .csv)
    }

    @Test func openDispatchesTextToCSVReaderAndBinaryToTheOtherReaders() throws {
        let reader = try Workbooks.open(path: dir.write("data.txt", "x|y\n1|2\n3|4\n"))
        #expect(reader is CSVReader && reader.format == .csv)
        #expect((reader as? CSVReader)?.delimiter == "|")
        let tsv = try Workbooks.open(path: dir.write("data.tsv", "x\n1\n"))
        #expect(tsv.format == .tsv)
        // Zip content under a .csv name goes to the xlsx reader (which finds this one broken).
        let m = expectWorkbookError(.corruptWorkbook) { _ = try Workbooks.open(path: dir.write("x.csv", [0x50, 0x4B, 0x03, 0x04, 0, 0, 0, 0])) }
        #expect(m != nil)
    }

    @Test func contentHashStreamsAcrossChunks() throws {
        #expect(try ContentHash.sha256(path: dir.write("abc", "abc"))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // 2.5 MiB of 'a' spans three 1 MiB chunks; compared with sha256sum's answer.
        let big = dir.write("big", [UInt8](repeating: 0x61, count: 5 << 19))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [big]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let want = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64)
        #expect(try ContentHash.sha256(path: big) == String(want))
    }

    @Test func everyCorpusFileSniffsAsItsContainer() throws {
        guard let corpus = corpusDirectory() else { Issue.record("SniffTests: corpus absent: this test needs the corpus"); return }
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus.appendingPathComponent("files").path)
        var checked = 0
        for file in files.sorted() {
            let url = corpus.appendingPathComponent("expected/\(file).json")
            guard let data = try? Data(contentsOf: url),
                  let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let container = json["container"] as? String else { continue }
            let path = corpus.appendingPathComponent("files/\(file)").path
            switch container {
            case "empty":
                expectWorkbookError(.corruptWorkbook) { _ = try FormatSniffer.sniff(path: path) }
            case "zip": #expect(try FormatSniffer.sniff(path: path) == .zip, "\(file)")
            case "ole2": #expect(try FormatSniffer.sniff(path: path) == .compoundFile, "\(file)")
            case "biff2-4_stream": #expect(try FormatSniffer.sniff(path: path) == .biff(version: 4), "\(file)")
            default:
                if case .text = try FormatSniffer.sniff(path: path) {} else { Issue.record("\(file) is not text") }
            }
            checked += 1
        }
        #expect(checked == files.count)
    }
}
