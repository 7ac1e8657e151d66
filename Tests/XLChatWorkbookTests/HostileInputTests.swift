import Foundation
import Testing
@testable import XLChatWorkbook
#if canImport(Glibc)
import Glibc
#endif

/// Issue 14, items 2-6 at the reader level: each hostile input the issue names is fed to a
/// real child process (`xlchat-testchild read`), which reports the error kind, its time and its
/// own peak RSS (`VmHWM`). Memory bounds are 256 MB above the child's baseline (an empty csv's read),
/// generous on purpose; the failures measured gigabytes.
@Suite(.serialized, .timeLimit(.minutes(5))) struct HostileInputTests {
    struct Outcome: CustomStringConvertible {
        var kind: String, ms: Int, maxRSSKB: Int, message: String
        var description: String { "kind=\(kind) ms=\(ms) maxrss=\(maxRSSKB / 1024) MB message=\(message)" }
    }

    static func child() -> String {
        var dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("xlchat-testchild").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return "xlchat-testchild"
    }

    static func read(_ path: String) throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: child())
        p.arguments = ["read", path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let line = String(decoding: data, as: UTF8.self)
        func field(_ name: String) -> String {
            guard let r = line.range(of: name + "=") else { return "" }
            let rest = line[r.upperBound...]
            if name == "message" { return String(rest).trimmingCharacters(in: .newlines) }
            return String(rest.prefix { $0 != " " && $0 != "\n" })
        }
        return Outcome(kind: field("kind"), ms: Int(field("ms")) ?? -1, maxRSSKB: Int(field("maxrss_kb")) ?? -1, message: field("message"))
    }

    static let baselineKB: Int = {
        let path = NSTemporaryDirectory() + "xlchat-empty-\(UUID()).csv"
        FileManager.default.createFile(atPath: path, contents: Data("a\n1\n".utf8))
        return (try? read(path).maxRSSKB) ?? 0
    }()

    static func check(_ o: Outcome, kind: String, within ms: Int, _ what: String) {
        print("issue14 \(what): \(o)")  // the figures for the closing report
        #expect(o.kind == kind, "\(what): \(o)")
        #expect(o.ms >= 0 && o.ms < ms, "\(what): \(o)")
        #expect(o.maxRSSKB > 0 && o.maxRSSKB - baselineKB < 256 * 1024, "\(what): \(o) (baseline \(baselineKB / 1024) MB)")
    }

    static func repeated(_ unit: String, bytes: Int) -> String { String(repeating: unit, count: bytes / unit.utf8.count) }

    // MARK: item 2: cheap inputs that cost gigabytes

    /// Stored (no compression, so no ratio check helps): 50 MB of `<si/>` = 10 M empty strings.
    @Test func sharedStringsOfEmptyItemsStopAtTheirBudget() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#), nil, "worksheet")]
        wb.sharedStrings = ""
        var z = wb.zip()
        z.members.removeAll { $0.name == "xl/sharedStrings.xml" }
        z.members.append(.init(name: "xl/sharedStrings.xml", data: Array(("<sst>" + Self.repeated("<si/>", bytes: 50 << 20) + "</sst>").utf8), deflate: false))
        let o = try Self.read(try z.write())
        // 8 million strings are made before the refusal: seconds in a debug build on a busy machine.
        Self.check(o, kind: "tooLarge", within: 90_000, "sharedStrings of <si/>, stored")
        #expect(o.message.contains("shared strings"))
    }

    /// The issue's case: deflated `<si/>` (630 MB in 920 KB): refused by the running ratio.
    @Test func deflatedSharedStringsBombIsRefusedByRatio() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(#"<row r="1"><c r="A1" t="s"><v>0</v></c></row>"#), nil, "worksheet")]
        wb.sharedStrings = Self.repeated("<si/>", bytes: 32 << 20)
        let o = try Self.read(try wb.write())
        Self.check(o, kind: "tooLarge", within: 5_000, "sharedStrings of <si/>, deflated")
        #expect(o.message.contains("zip bomb"))
    }

    /// A workbook.xml over the 64 MiB cap for parts read whole (stored, so only the cap applies).
    @Test func hugeWorkbookPartIsRefusedAtItsCap() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(#"<row r="1"><c r="A1"><v>1</v></c></row>"#), nil, "worksheet")]
        var z = wb.zip()
        let i = z.members.firstIndex { $0.name == "xl/workbook.xml" }!
        var text = String(decoding: z.members[i].data, as: UTF8.self)
        text = text.replacingOccurrences(of: "</workbook>", with: "<!--" + Self.repeated("x", bytes: 70 << 20) + "--></workbook>")
        z.members[i] = .init(name: "xl/workbook.xml", data: Array(text.utf8), deflate: false)
        let o = try Self.read(try z.write())
        Self.check(o, kind: "tooLarge", within: 20_000, "70 MB workbook.xml, stored")
        #expect(o.message.contains("xl/workbook.xml"))
    }

    /// A one-field csv (the issue's 200 MB): refused at the 16 MiB field limit.
    @Test func oneHugeCSVFieldIsRefused() throws {
        let path = NSTemporaryDirectory() + "xlchat-onefield-\(UUID()).csv"
        FileManager.default.createFile(atPath: path, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let chunk = Data(repeating: UInt8(ascii: "x"), count: 1 << 20)
        try h.write(contentsOf: Data("\"".utf8))
        for _ in 0..<200 { try h.write(contentsOf: chunk) }
        try h.write(contentsOf: Data("\"\n".utf8))
        try h.close()
        defer { unlink(path) }
        let o = try Self.read(path)
        Self.check(o, kind: "tooLarge", within: 20_000, "200 MB one-field csv")
    }

    // MARK: item 3: zip bombs, refused early

    @Test func sheetBombIsRefusedAfterAFewMegabytes() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", XLSXTestWorkbook.sheetXML(Self.repeated(#"<row><c t="n"><v>0</v></c></row>"#, bytes: 64 << 20)), nil, "worksheet")]
        let o = try Self.read(try wb.write())
        Self.check(o, kind: "tooLarge", within: 5_000, "64 MB sheet at ~1000:1")
        // "refused after N bytes": N is what was inflated before the refusal.
        let inflated = o.message.split(separator: " ").last { Int($0) != nil }.flatMap { Int($0) } ?? -1
        #expect(inflated > 0 && inflated < 8 << 20, "inflated \(inflated) bytes before refusing: \(o.message)")
    }

    /// 64 MiB of one byte deflates to about 64 KB: measured against the whole member, the
    /// ratio would let 12.5 MiB out before refusing (2.2 GB for the issue's 2.2 MB bomb); the
    /// running ratio refuses just past the 1 MiB floor.
    @Test func runningRatioIsCheckedNotTheWholeMember() throws {
        var z = ZipTestArchive()
        z.members.append(.init(name: "s.xml", data: [UInt8](repeating: UInt8(ascii: "b"), count: 64 << 20)))
        let archive = try ZipArchive(path: try z.write(ext: "zip"))
        #expect(archive.entries[0].compressedSize < 200 << 10)
        var produced = 0
        #expect(throws: WorkbookError.self) {
            try archive.stream(archive.entries[0]) { produced += $0.count }
        }
        #expect(produced < 2 << 20, "inflated \(produced) bytes before refusing")
    }

    // MARK: item 4: parts that are not XML, parts cut short

    @Test func nonXMLSheetIsCorruptNamingThePart() throws {
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", "hello world", nil, "worksheet")]
        let o = try Self.read(try wb.write())
        Self.check(o, kind: "corruptWorkbook", within: 5_000, "hello world as sheet1.xml")
        #expect(o.message.contains("xl/worksheets/sheet1.xml"))
    }

    @Test func truncatedSheetIsCorruptNotShort() throws {
        let full = XLSXTestWorkbook.sheetXML(#"<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r="A2"><v>2</v></c></row>"#)
        for cut in ["</row>", "<row r=\"2\">", "</sheetData>"] {
            let r = full.range(of: cut)!
            var wb = XLSXTestWorkbook()
            wb.sheets = [("S", String(full[..<r.upperBound]), nil, "worksheet")]
            let o = try Self.read(try wb.write())
            Self.check(o, kind: "corruptWorkbook", within: 5_000, "sheet cut after \(cut)")
            #expect(o.message.contains("xl/worksheets/sheet1.xml") && o.message.contains("truncated"), "\(o)")
        }
        // Other parts too: a workbook.xml that is not XML.
        var wb = XLSXTestWorkbook()
        wb.sheets = [("S", full, nil, "worksheet")]
        var z = wb.zip()
        let i = z.members.firstIndex { $0.name == "xl/workbook.xml" }!
        z.members[i].data = Array("hello world".utf8)
        #expect(try Self.read(try z.write()).kind == "corruptWorkbook")
    }

    // MARK: item 5: repeats

    /// The issue's 805-byte ods: one value cell repeated over 16,384 columns x 1,048,576 rows.
    @Test func odsRepeatBombHitsTheExpandedCellBudget() throws {
        let content = ODSTestFile.content(#"<table:table table:name="S"><table:table-row table:number-rows-repeated="1048576"><table:table-cell table:number-columns-repeated="16384" office:value-type="float" office:value="1"/></table:table-row></table:table>"#)
        let path = try ODSTestFile.package(content: content).write(ext: "ods")
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        #expect(size < 2048)
        let o = try Self.read(path)
        Self.check(o, kind: "tooLarge", within: 10_000, "\(size)-byte ods repeat bomb")
    }

    @Test func cancellationStopsAReaderWithinARow() throws {
        let content = ODSTestFile.content(#"<table:table table:name="S"><table:table-row table:number-rows-repeated="1000000"><table:table-cell office:value-type="float" office:value="1"/></table:table-row></table:table>"#)
        let reader = try Workbooks.open(path: try ODSTestFile.package(content: content).write(ext: "ods"))
        var rows = 0
        let cancelled = ManagedAtomicFlag()
        #expect(throws: CancellationError.self) {
            try ReadCancellation.withThreadBinding({ cancelled.value }) {
                try reader.readSheet(at: 0) { _ in
                    rows += 1
                    if rows == 10 { cancelled.set() }
                    return true
                }
            }
        }
        #expect(rows == 10)
    }

    // MARK: item 6: special files

    @Test func specialFilesAreRefusedWithoutBlocking() throws {
        let fifo = NSTemporaryDirectory() + "xlchat-fifo-\(UUID()).xlsx"
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        for path in [fifo, "/dev/zero", "/dev/urandom"] {
            let o = try Self.read(path)
            Self.check(o, kind: "unsupportedFormat", within: 2_000, path)
            #expect(o.message.contains("not a regular file"))
        }
    }
}

final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var value: Bool { lock.lock(); defer { lock.unlock() }; return flag }
    func set() { lock.lock(); flag = true; lock.unlock() }
}
