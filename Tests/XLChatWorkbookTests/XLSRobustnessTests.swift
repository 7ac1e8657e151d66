import Foundation
import Testing
@testable import XLChatWorkbook

/// Damaged copies of real xls files (seeded byte flips and cuts): reading must end in a
/// result or a WorkbookError, never a trap or another error type.
@Suite struct XLSRobustnessTests {
    /// A small deterministic generator (SplitMix64), so a failure can be replayed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func damagedFilesFailCleanly() throws {
        let files = ["calamine__base.xls", "csvkit__sheets.xls", "xlrd__namesdemo.xls", "pyexcel-xls__complex-merged-cells-sheet.xls",
                     "xlrd__biff4_no_format_no_window2.xls", "xlwt__unicode1.xls"]
        var rng = SplitMix(state: 20_261_125)
        var read = 0, refused = 0
        for name in files {
            guard let path = XLSCorpus.file(name) else { Issue.record("corpus absent: this test needs the corpus"); return }
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            for trial in 0..<150 {
                var bytes = original
                if trial % 5 == 4 {
                    bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
                } else {
                    // Flip a few bytes, biased to the header and directory where damage matters most.
                    for _ in 0..<Int.random(in: 1...8, using: &rng) {
                        let limit = Bool.random(using: &rng) ? min(bytes.count, 2048) : bytes.count
                        bytes[Int.random(in: 0..<limit, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                    }
                }
                do {
                    let r = try XLSReader(bytes: bytes)
                    for i in r.sheets.indices {
                        _ = try r.readSheet(at: i) { row in
                            for c in row.cells { _ = c.value.isoText }
                            return true
                        }
                    }
                    read += 1
                } catch is WorkbookError {
                    refused += 1
                } catch {
                    Issue.record("\(name) trial \(trial): unexpected error \(error)")
                }
            }
        }
        print("XLSRobustnessTests: \(read) damaged copies read, \(refused) refused with a WorkbookError")
        #expect(read + refused == files.count * 150)
        #expect(refused > 0)
    }
}
