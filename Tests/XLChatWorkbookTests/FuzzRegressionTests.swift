import Foundation
import Testing
@testable import XLChatWorkbook

/// Every input the fuzzer (scripts/fuzz/run.sh) ever found, kept in FuzzRegressions/: each must
/// read to a result or a `WorkbookError`, quickly.
@Suite struct FuzzRegressionTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FuzzRegressions")
    static let files: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        .filter { $0 != "README.md" }.sorted()

    @Test func folderIsThere() {
        #expect(FileManager.default.fileExists(atPath: Self.directory.appendingPathComponent("README.md").path))
    }

    @Test(arguments: files)
    func readsOrFailsCleanly(file: String) throws {
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            let reader = try Workbooks.open(path: Self.directory.appendingPathComponent(file).path)
            _ = try WorkbookOutline.build(reader: reader, path: file, contentHash: "fuzz")
            for i in reader.sheets.indices { try reader.readSheet(at: i) { _ in true } }
        } catch is WorkbookError {
        }
        #expect(DispatchTime.now().uptimeNanoseconds - started < 10_000_000_000)
    }
}
