// `xlchat-bench formulas`: the free oracle and the evaluator's speed.
// 1. Every formula cell in the corpus that has a cached value (what Excel or the writer saved)
//    is evaluated as if the cache were missing (its precedents keep their cached values) and
//    compared: per file and in total, how many cached values the evaluator reproduces, among
//    the cells whose functions are all in issue 11's list, and which functions fall short.
// 2. 100,000 generated formula cells (a third each: arithmetic, SUMIF, exact VLOOKUP) over a
//    10,000-row sheet, all without cached values: CPU seconds and peak RSS (target <= 2 s CPU,
//    release build). Peer: none runs in this session (LibreOffice is not installed here), so the
//    figure stands against the issue's target. Measured on the shared 2-core machine, -O with
//    whole-module optimisation (what `swift build -c release` does): 5.26 s CPU before, 0.53 s
//    after (the conditional-aggregate cache, criteria parsed once, the parser's byte-wise text).
//    The wall time there was 4-77 s: the load of other builds, hence the CPU-time budget.
import ArgumentParser
import Foundation
import XLChatWorkbook
#if canImport(Glibc)
import Glibc
#endif

struct FormulaBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "formulas",
        abstract: "Corpus oracle (evaluate cached formula cells, compare) and 100k generated formula cells' evaluation time.")

    @Option(help: "The corpus folder (holding files/).") var corpus = "/work/shared/corpus"
    @Option(help: "Generated formula cells.") var cells = 100_000
    @Flag(help: "List every mismatching cell.") var verbose = false
    @Flag(help: "Skip the corpus oracle.") var skipOracle = false

    /// The functions issue 11 lists; "in the list" cells use only these.
    static let listed: Set<String> = [
        "SUM", "SUMIF", "SUMIFS", "SUMPRODUCT", "AVERAGE", "AVERAGEIF", "AVERAGEIFS", "COUNT", "COUNTA", "COUNTBLANK",
        "COUNTIF", "COUNTIFS", "MIN", "MAX", "MINIFS", "MAXIFS", "PRODUCT", "ROUND", "ROUNDUP", "ROUNDDOWN", "INT", "MOD",
        "ABS", "SQRT", "POWER", "IF", "IFS", "IFERROR", "IFNA", "AND", "OR", "NOT", "XOR", "SWITCH", "CHOOSE", "VLOOKUP",
        "HLOOKUP", "XLOOKUP", "INDEX", "MATCH", "XMATCH", "OFFSET", "INDIRECT", "ROW", "COLUMN", "ROWS", "COLUMNS",
        "ISBLANK", "ISNUMBER", "ISTEXT", "ISERROR", "ISNA", "LEFT", "RIGHT", "MID", "LEN", "FIND", "SEARCH", "SUBSTITUTE",
        "REPLACE", "UPPER", "LOWER", "PROPER", "TRIM", "TEXT", "VALUE", "CONCAT", "CONCATENATE", "TEXTJOIN", "DATE", "YEAR",
        "MONTH", "DAY", "EDATE", "EOMONTH", "DATEDIF", "WEEKDAY", "NETWORKDAYS", "TODAY", "NOW", "SUBTOTAL", "AGGREGATE",
        "RANK", "LARGE", "SMALL", "MEDIAN", "STDEV", "VAR", "PMT", "NPV", "IRR",
    ]

    func run() throws {
        if !skipOracle { try oracle() }
        try synthetic()
    }

    static func functions(_ e: FormulaExpr, into out: inout Set<String>) {
        switch e {
        case .call(let n, let args): out.insert(n); for a in args { functions(a, into: &out) }
        case .negate(let x), .plus(let x), .percent(let x): functions(x, into: &out)
        case .binary(_, let l, let r): functions(l, into: &out); functions(r, into: &out)
        case .array(let rows): for r in rows { for x in r { functions(x, into: &out) } }
        default: break
        }
    }

    static func agrees(_ got: FormulaValue, _ cached: CellValue) -> Bool {
        switch (got, cached) {
        case (.number(let a), .number(let b)), (.number(let a), .temporal(_, let b)):
            return a == b || abs(a - b) <= 1e-9 * max(1, abs(b))
        case (.string(let a), .string(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.error(let a), .error(let b)): return a == b
        case (.empty, .empty), (.string(""), .empty): return true
        case (.number(0), .empty): return true
        default: return false
        }
    }

    func oracle() throws {
        let dir = URL(fileURLWithPath: corpus).appendingPathComponent("files")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        guard !files.isEmpty else { throw ValidationError("no corpus files in \(dir.path)") }
        var total = 0, listedCells = 0, listedAgree = 0, allAgree = 0
        var shortfall: [String: Int] = [:], unlisted: [String: Int] = [:], unparsed = 0
        print("Corpus oracle: formula cells with a cached value, evaluated as if the cache were missing")
        print(String(format: "%-55@ %8@ %8@ %8@", "file" as NSString, "cells" as NSString, "listed" as NSString, "agree" as NSString))
        for name in files {
            let path = dir.appendingPathComponent(name).path
            guard let reader = try? Workbooks.open(path: path, evaluateFormulas: false) else { continue }
            let engine = FormulaEngine(reader: reader)
            var fileCells = 0, fileListed = 0, fileAgree = 0
            for info in reader.sheets where info.kind == .worksheet {
                var formulaCells: [(CellRef, String, CellValue)] = []
                _ = try? reader.readSheet(at: info.index) { row in
                    for c in row.cells where c.formula != nil && !c.value.isEmpty {
                        formulaCells.append((CellRef(row: row.index, column: c.column), c.formula!, c.value))
                    }
                    return true
                }
                for (ref, f, cached) in formulaCells {
                    fileCells += 1
                    var fns = Set<String>()
                    let parsed = engine.parse(f)
                    if case .success(let e) = parsed { Self.functions(e, into: &fns) } else { unparsed += 1 }
                    let inList = fns.isSubset(of: Self.listed) && !fns.contains("TODAY") && !fns.contains("NOW")
                    guard let r = try? engine.evaluate(formula: f, sheet: info.index, cell: ref) else { continue }
                    let ok = Self.agrees(r.value, cached)
                    if ok { allAgree += 1 }
                    if inList {
                        fileListed += 1
                        if ok { fileAgree += 1 } else {
                            for fn in fns.isEmpty ? ["(operators only)"] : fns { shortfall[fn, default: 0] += 1 }
                            if verbose { print("  MISMATCH \(name) \(info.name)!\(ref) =\(f): got \(r.value), cached \(cached)\(r.problem.map { " [\($0)]" } ?? "")") }
                        }
                    } else {
                        for fn in fns.subtracting(Self.listed) { unlisted[fn, default: 0] += 1 }
                    }
                }
            }
            guard fileCells > 0 else { continue }
            total += fileCells; listedCells += fileListed; listedAgree += fileAgree
            print(String(format: "%-55@ %8d %8d %8d", String(name.prefix(55)) as NSString, fileCells, fileListed, fileAgree))
        }
        let pct = listedCells == 0 ? 100 : 100 * Double(listedAgree) / Double(listedCells)
        print(String(format: "TOTAL: %d formula cells with a cached value; %d use only listed functions; the evaluator reproduces %d of those (%.2f%%, target >= 99%%); %d of all %d cells",
                     total, listedCells, listedAgree, pct, allAgree, total))
        print("Listed functions in cells that fall short: " + (shortfall.isEmpty ? "none" : shortfall.sorted { $0.value > $1.value }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")))
        print("Functions outside the list (cells): " + (unlisted.isEmpty ? "none" : unlisted.sorted { $0.value > $1.value }.prefix(30).map { "\($0.key) (\($0.value))" }.joined(separator: ", ")))
        if unparsed > 0 { print("Formula text that did not parse: \(unparsed) cells") }
    }

    func synthetic() throws {
        let rows = 10_000
        var data: [SheetRow] = []
        data.reserveCapacity(rows)
        for r in 0..<rows {
            data.append(SheetRow(index: r, cells: [RowCell(column: 0, value: .string("k\(r + 1)")),
                                                   RowCell(column: 1, value: .number(Double((r * 37) % 1000) + 0.5)),
                                                   RowCell(column: 2, value: .string("c\(r % 50)"))]))
        }
        var calc: [SheetRow] = []
        let perRow = 10
        let calcRows = (cells + perRow - 1) / perRow
        var made = 0
        for r in 0..<calcRows {
            var cs: [RowCell] = []
            for c in 0..<perRow where made < cells {
                let k = r * perRow + c
                let f: String
                switch k % 3 {
                case 0: f = "Data!B\(k % rows + 1)*2+Data!B\((k * 7) % rows + 1)/4-1"
                case 1: f = "SUMIF(Data!$C$1:$C$\(rows),\"c\(k % 50)\",Data!$B$1:$B$\(rows))"
                default: f = "VLOOKUP(\"k\((k * 7919) % rows + 1)\",Data!$A$1:$B$\(rows),2,FALSE)"
                }
                cs.append(RowCell(column: c, value: .empty, formula: f))
                made += 1
            }
            calc.append(SheetRow(index: r, cells: cs))
        }
        let sheets = [data, calc]
        let cpu0 = Self.cpuSeconds(), wall0 = Date()
        let engine = FormulaEngine(sheetNames: ["Data", "Calc"], definedNames: [], limits: FormulaLimits(timeBudget: 600)) { i, visit in for row in sheets[i] { try visit(row) } }
        var computed = 0, failed = 0, checksum = 0.0
        for row in calc {
            for c in row.cells {
                let r = try engine.value(sheet: 1, cell: CellRef(row: row.index, column: c.column))
                if r.problem == nil { computed += 1 } else { failed += 1 }
                if case .number(let d) = r.value { checksum += d }
            }
        }
        let cpu = Self.cpuSeconds() - cpu0, wall = Date().timeIntervalSince(wall0)
        print(String(format: "\nGenerated: %d formula cells (arithmetic, SUMIF, VLOOKUP) over a %d-row sheet: %.3f s CPU (%.3f s wall), peak RSS %.0f MB; %d computed, %d not (checksum %.1f). Target: <= 2 s CPU.",
                     made, rows, cpu, wall, Self.peakRSSMB(), computed, failed, checksum))
    }

    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }

    static func peakRSSMB() -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }
}
