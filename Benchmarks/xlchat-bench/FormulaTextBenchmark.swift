// `xlchat-bench formula-text [FILE...] [--rows N] [--runs R]`: what reading formula text costs.
// Every cell of every sheet is read twice per run, in this process: plainly (the default read,
// which must not decode xls / xlsb formula tokens) and with `formulas: true`. CPU seconds
// (user+sys, getrusage) are the median over the runs. Without FILE, a formula-heavy BIFF8
// workbook is built in memory: N rows of two numbers, two plain formulas
// (`A2*B2+SUM($A$1:A2)`, `IF(A2>B2,"up","down")`) and two shared ones (`A2/B2`, `ROUND(C2,2)`).
// The peer figure is the plain read: asked-for text should cost only its decoding, unasked nothing.
import ArgumentParser
import Foundation
import XLChatWorkbook
#if canImport(Glibc)
import Glibc
#endif

struct FormulaTextBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "formula-text", abstract: "CPU of reading xls / xlsb with and without formula text.")

    @Argument(help: "xls / xlsb files (default: a generated BIFF8 workbook).") var files: [String] = []
    @Option(help: "Rows of the generated workbook (at most 65,535).") var rows = 60_000
    @Option(help: "Runs; the median is printed.") var runs = 5

    func run() throws {
        var inputs: [(String, () throws -> any WorkbookReader)] = files.map { f in (f, { try Workbooks.open(path: f) }) }
        if inputs.isEmpty {
            let stream = Self.generatedBIFF8(rows: min(max(rows, 1), 65_535))
            inputs = [("generated BIFF8, \(rows) rows x 4 formulas (\(stream.count / 1024) KB)", { try XLSReader(bytes: stream) })]
        }
        for (label, open) in inputs {
            let reader = try open()
            var plain: [Double] = [], with: [Double] = []
            var cells = 0, formulas = 0, errors = 0
            for _ in 0..<max(runs, 1) {
                plain.append(try Self.cpu { cells = try Self.readAll(reader, formulas: false).cells })
                with.append(try Self.cpu { (cells, formulas, errors) = try Self.readAll(reader, formulas: true) })
            }
            let p = median(plain), w = median(with)
            print("\(label): \(cells) cells, \(formulas) formula texts, \(errors) undecodable")
            print(String(format: "  plain read      %8.1f ms CPU (median of %d)", p * 1000, runs))
            print(String(format: "  with formulas   %8.1f ms CPU  (+%.1f ms, %.2f µs a formula)", w * 1000, (w - p) * 1000,
                         formulas > 0 ? (w - p) * 1e6 / Double(formulas) : 0))
        }
    }

    static func readAll(_ reader: any WorkbookReader, formulas: Bool) throws -> (cells: Int, formulas: Int, errors: Int) {
        var cells = 0, texts = 0, errors = 0
        for i in reader.sheets.indices {
            try reader.readSheet(at: i, formulas: formulas) { row in
                cells += row.cells.count
                for c in row.cells {
                    if c.formula != nil { texts += 1 }
                    if c.formulaError != nil { errors += 1 }
                }
                return true
            }
        }
        return (cells, texts, errors)
    }

    static func cpu(_ body: () throws -> Void) rethrows -> Double {
        func now() -> Double {
            var u = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
            return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
        }
        let t0 = now()
        try body()
        return now() - t0
    }

    // MARK: - A generated BIFF8 stream (bare: no compound file, which XLSReader(bytes:) accepts)

    static func generatedBIFF8(rows: Int) -> [UInt8] {
        func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: Int) -> [UInt8] { u16(v & 0xFFFF) + u16(v >> 16) }
        func f64(_ d: Double) -> [UInt8] { (0..<8).map { UInt8((d.bitPattern >> (8 * UInt64($0))) & 0xFF) } }
        func record(_ type: Int, _ data: [UInt8]) -> [UInt8] { u16(type) + u16(data.count) + data }
        func bof(_ dt: Int) -> [UInt8] { record(0x0809, u16(0x0600) + u16(dt) + [UInt8](repeating: 0, count: 12)) }
        func ref(_ r: Int, _ c: Int, rel: Bool = true) -> [UInt8] { [0x24] + u16(r) + u16(c | (rel ? 0xC000 : 0)) }
        func refN(_ dr: Int, _ dc: Int) -> [UInt8] { [0x2C] + u16(dr & 0xFFFF) + u16((dc & 0xFF) | 0xC000) }
        func formula(_ r: Int, _ c: Int, _ v: Double, _ rgce: [UInt8], shared: Bool = false) -> [UInt8] {
            record(0x0006, u16(r) + u16(c) + u16(15) + f64(v) + u16(shared ? 8 : 0) + u32(0) + u16(rgce.count) + rgce)
        }
        func exp(_ r: Int, _ c: Int) -> [UInt8] { [0x01] + u16(r) + u16(c) }
        let name = "Data"
        let head = bof(5)
        let boundsheetLength = 4 + 8 + name.utf8.count
        let eof = record(0x000A, [])
        var body = bof(0x10)
        let top = 1
        for r in top..<(top + rows) {
            let a = Double(r % 97), b = Double(r % 13 + 1)
            body += record(0x0203, u16(r) + u16(0) + u16(15) + f64(a))
            body += record(0x0203, u16(r) + u16(1) + u16(15) + f64(b))
            // A2*B2+SUM($A$1:A2)
            let sum = [0x25] + u16(0) + u16(r) + u16(0) + u16(0xC000)
            body += formula(r, 2, a * b, ref(r, 0) + ref(r, 1) + [0x05] + sum + [0x22, 1] + u16(4) + [0x03])
            // IF(A2>B2,"up","down") with its jump attributes
            body += formula(r, 3, 0, ref(r, 0) + ref(r, 1) + [0x0D, 0x19, 0x02, 0, 0, 0x17, 2, 0] + Array("up".utf8)
                            + [0x19, 0x08, 0, 0, 0x17, 4, 0] + Array("down".utf8) + [0x19, 0x08, 0, 0, 0x42, 3] + u16(1))
            // Shared over the whole column: A2/B2 and ROUND(C2,2).
            body += formula(r, 4, a / b, exp(top, 4), shared: true)
            if r == top { body += record(0x04BC, u16(top) + u16(top + rows - 1) + [4, 4, 0, UInt8(min(rows, 255))]
                                          + u16(11) + refN(0, -4) + refN(0, -3) + [0x06]) }
            body += formula(r, 5, (a * b * 100).rounded() / 100, exp(top, 5), shared: true)
            if r == top { body += record(0x04BC, u16(top) + u16(top + rows - 1) + [5, 5, 0, UInt8(min(rows, 255))]
                                          + u16(11) + refN(0, -3) + [0x1E] + u16(2) + [0x21] + u16(27)) }
        }
        body += eof
        let offset = head.count + boundsheetLength + eof.count
        let boundsheet = record(0x0085, u32(offset) + [0, 0, UInt8(name.utf8.count), 0] + Array(name.utf8))
        return head + boundsheet + eof + body
    }
}
