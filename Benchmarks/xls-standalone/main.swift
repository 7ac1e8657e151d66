// Times XLSReader over .xls files: opens each, streams every cell of every sheet, and prints
// the CPU-independent wall time and cell counts. Built with swiftc -O straight from the
// engine's sources (the xls reader needs neither zlib nor swift-crypto), so a release figure
// does not need a release build of the whole package. See run.sh.
import Foundation

let paths = CommandLine.arguments.dropFirst()
let clock = ContinuousClock()
var totalCells = 0, totalBytes = 0, failures = 0
let t0 = clock.now
for path in paths {
    let start = clock.now
    var cells = 0
    do {
        let r = try XLSReader(path: path)
        for i in r.sheets.indices {
            _ = try r.readSheet(at: i) { row in cells += row.cells.count; return true }
        }
    } catch {
        failures += 1
        if paths.count <= 3 { print("\(path): \(error)") }
    }
    let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    totalCells += cells; totalBytes += size
    if paths.count <= 3 { print("\(path): \(size) bytes, \(cells) cells, \(clock.now - start)") }
}
let d = clock.now - t0
let secs = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
print("files: \(paths.count) (\(failures) refused), bytes: \(totalBytes), cells: \(totalCells), time: \(String(format: "%.3f", secs)) s, \(String(format: "%.1f", Double(totalBytes) / 1e6 / secs)) MB/s")
