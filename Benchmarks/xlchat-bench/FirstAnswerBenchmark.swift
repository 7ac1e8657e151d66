// `xlchat-bench first-answer FILE`: the time to the first exact answer. Each figure is one fresh
// process, measured by /usr/bin/time (CPU = user + sys, peak RSS) in the same run:
// - xlchat cold: `xlchat query FILE "SELECT count(*), sum(col) FROM t"` with an empty data
//   directory (open: hash + one pass that infers the outline and loads the typed tables; query);
// - xlchat warm: the same command again in a new process (the file's identity matches the
//   catalog: the outline comes from the index, the file is not read);
// - peers: pandas.read_excel(engine="calamine") + sum for workbooks; pandas.read_csv + sum and
//   DuckDB read_csv_auto + sum for csv/tsv (`pip install pandas python-calamine duckdb`).
// Also prints the index's size on disk against the file's. Build in release first.
import ArgumentParser
import Foundation

struct FirstAnswerBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "first-answer",
        abstract: "Open + SELECT count(*), sum(col) in a fresh process, cold and warm, beside pandas (and DuckDB for csv).")

    @Argument(help: "The workbook or csv file.") var file: String
    @Option(help: "The SQL table (default: the first table `xlchat open` names).") var table: String?
    @Option(help: "The column to sum (default: the table's first integer or real column).") var column: String?
    @Option(help: "The xlchat binary (default: next to this one).") var xlchat: String?
    @Option(help: "Runs of each (the median is printed).") var runs = 1

    struct Measure { var cpu: Double; var wall: Double; var rssMB: Double; var output: String }

    func timed(_ args: [String], env: [String: String] = [:]) throws -> Measure {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/time")
        p.arguments = ["-f", "XLBENCH %U %S %e %M"] + args
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        p.environment = e
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let eData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let errText = String(decoding: eData, as: UTF8.self)
        guard p.terminationStatus == 0, let line = errText.split(separator: "\n").last(where: { $0.hasPrefix("XLBENCH ") }) else {
            throw ValidationError("\(args.joined(separator: " ")) failed: \(errText.suffix(600))")
        }
        let f = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        return Measure(cpu: f[0] + f[1], wall: f[2], rssMB: f[3] / 1024, output: String(decoding: o, as: UTF8.self))
    }

    func median(_ xs: [Measure]) -> Measure {
        let s = xs.sorted { $0.cpu < $1.cpu }
        return s[s.count / 2]
    }

    func directorySize(_ path: String) -> Int64 {
        var total: Int64 = 0
        let e = FileManager.default.enumerator(atPath: path)
        while let n = e?.nextObject() as? String {
            if let a = try? FileManager.default.attributesOfItem(atPath: path + "/" + n), let s = a[.size] as? NSNumber { total += s.int64Value }
        }
        return total
    }

    func run() throws {
        let bin = xlchat ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("xlchat").path
        guard FileManager.default.isExecutableFile(atPath: bin) else { throw ValidationError("no xlchat binary at \(bin); build it (swift build -c release)") }
        let path = URL(fileURLWithPath: file).standardizedFileURL.path
        let ext = (path as NSString).pathExtension.lowercased()
        let isCSV = ext == "csv" || ext == "tsv"
        let fileBytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0

        // Which table and column (in a throw-away data directory, untimed).
        var tableName = table, columnName = column
        if tableName == nil || columnName == nil {
            let scratch = NSTemporaryDirectory() + "xlbench-probe-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let m = try timed([bin, "open", "--json", path], env: ["XLCHAT_DATA_DIR": scratch])
            let json = try JSONSerialization.jsonObject(with: Data(m.output.utf8)) as? [String: Any]
            let sheets = (json?["sheets"] as? [[String: Any]]) ?? []
            guard let t = sheets.compactMap({ ($0["tables"] as? [[String: Any]])?.first ?? ($0["table"] as? [String: Any]) }).first else { throw ValidationError("no table in \(path)") }
            tableName = tableName ?? (t["name"] as? String)
            let cols = (t["columns"] as? [[String: Any]]) ?? []
            columnName = columnName ?? cols.first(where: { ["integer", "real"].contains($0["type"] as? String ?? "") })?["name"] as? String
        }
        guard let tableName, let columnName else { throw ValidationError("no numeric column; give --column") }
        let q = { (s: String) in "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        let sql = "SELECT count(*), sum(\(q(columnName))) FROM \(q(tableName))"
        print("file: \(path) (\(String(format: "%.1f", Double(fileBytes) / 1e6)) MB); query: \(sql)")

        var cold: [Measure] = [], warm: [Measure] = []
        var indexBytes: Int64 = 0
        var answer = ""
        for _ in 0..<runs {
            let dir = NSTemporaryDirectory() + "xlbench-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let c = try timed([bin, "query", path, sql], env: ["XLCHAT_DATA_DIR": dir])
            cold.append(c)
            warm.append(try timed([bin, "query", path, sql], env: ["XLCHAT_DATA_DIR": dir]))
            indexBytes = directorySize(dir + "/index")
            answer = c.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        print("xlchat answer: \(answer.replacingOccurrences(of: "\n", with: " | "))")

        let py = "/usr/bin/env"
        var peers: [(String, [Measure])] = []
        let colLiteral = "'" + columnName.replacingOccurrences(of: "'", with: "\\'") + "'"
        if isCSV {
            let sep = ext == "tsv" ? "\\t" : ","
            let pandas = "import pandas as pd,sys; d=pd.read_csv(sys.argv[1], sep='\(sep)'); c=[x for x in d.columns if x.lower()==\(colLiteral).lower()] or [d.select_dtypes('number').columns[0]]; print(len(d), d[c[0]].sum())"
            let duck = "import duckdb,sys; print(duckdb.sql(\"SELECT count(*), sum(\(q(columnName).replacingOccurrences(of: "\"", with: "\\\""))) FROM read_csv_auto('\" + sys.argv[1] + \"')\").fetchall())"
            peers.append(("pandas read_csv + sum", try (0..<runs).map { _ in try timed([py, "python3", "-c", pandas, path]) }))
            peers.append(("duckdb read_csv_auto + sum", try (0..<runs).map { _ in try timed([py, "python3", "-c", duck, path]) }))
        } else {
            let pandas = "import pandas as pd,sys; d=pd.read_excel(sys.argv[1], engine='calamine'); c=[x for x in d.columns if str(x).lower()==\(colLiteral).lower()] or [d.select_dtypes('number').columns[0]]; print(len(d), d[c[0]].sum())"
            peers.append(("pandas read_excel(calamine) + sum", try (0..<runs).map { _ in try timed([py, "python3", "-c", pandas, path]) }))
        }
        let base = median(peers[0].1)
        func line(_ name: String, _ m: Measure) {
            print(String(format: "%-36@ CPU %7.3f s (%6.3fx)  wall %7.3f s  peak RSS %7.1f MB (%5.2fx)",
                         name as NSString, m.cpu, m.cpu / max(base.cpu, 1e-9), m.wall, m.rssMB, m.rssMB / max(base.rssMB, 1e-9)))
        }
        print("ratios against \(peers[0].0):")
        line("xlchat cold (empty data dir)", median(cold))
        line("xlchat warm (new process, index)", median(warm))
        for (name, ms) in peers { line(name, median(ms)); print("  \(name) answer: \(median(ms).output.trimmingCharacters(in: .whitespacesAndNewlines))") }
        print(String(format: "index on disk: %.1f MB = %.2fx the file (%.1f MB)", Double(indexBytes) / 1e6,
                     Double(indexBytes) / Double(max(fileBytes, 1)), Double(fileBytes) / 1e6))
    }
}
