// libFuzzer target: a workbook reader (issue 14). Compiled once by scripts/fuzz/run.sh with all
// of Sources/XLChatWorkbook; `XLCHAT_FUZZ_FORMAT` (xlsx, xls, csv) picks the file name's
// extension. The format is sniffed from the bytes, so seeds decide the reader. The readers take paths, so the input is written to a file in /dev/shm (or
// the temporary folder), opened, outlined and read whole; errors are the expected outcome,
// crashes and hangs are the findings.
import Foundation

let fuzzExtension = ProcessInfo.processInfo.environment["XLCHAT_FUZZ_FORMAT"] ?? "xlsx"

let fuzzPath: String = {
    let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return dir + "/xlchat-fuzz-\(getpid()).\(fuzzExtension)"
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWorkbook(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let fd = open(fuzzPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return 0 }
    _ = write(fd, data, size)
    close(fd)
    var limits = ReadLimits()
    limits.maxMemberBytes = 64 << 20  // keep each run small; the limits themselves are tested
    limits.maxRepeatedCells = 1_000_000
    do {
        let reader = try Workbooks.open(path: fuzzPath, limits: limits)
        _ = try? WorkbookOutline.build(reader: reader, path: fuzzPath, contentHash: "fuzz") { _, _, _ in }
        for i in reader.sheets.indices {
            var rows = 0
            _ = try? reader.readSheet(at: i) { _ in rows += 1; return rows < 100_000 }
        }
    } catch {}
    return 0
}
