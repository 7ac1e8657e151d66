import Foundation
import Testing
import XLChatLLM
import XLChatProtocol
import XLChatServer
import XLChatTestSupport
import XLChatWorkbook

func fidelityCase(_ name: String) -> String {
    let path = BuiltBinary.packageRoot().deletingLastPathComponent().appendingPathComponent("shared/cases/fidelity/\(name)").path
    precondition(FileManager.default.fileExists(atPath: path), "the fidelity case is missing: \(path)")
    return path
}

func requiredCorpusFile(_ name: String) -> String {
    let path = BuiltBinary.packageRoot().deletingLastPathComponent().appendingPathComponent("shared/corpus/files/\(name)").path
    precondition(FileManager.default.fileExists(atPath: path), "the corpus is missing: \(path)")
    return path
}

/// Formulas saved without cached values, and workbook/trace, through the server.
@Suite(.timeLimit(.minutes(3))) struct FormulaServerTests {
    @Test func formulasWithoutCachedValuesAreComputedForQueriesReadsAndTheOutline() async throws {
        let c = TestClient.inProcess()
        try await c.initialize()
        let wb = try await c.send(WorkbookOpenRequest(path: fidelityCase("formulas-without-cached-values.xlsx")))
        #expect(wb.formulas == FormulaSummary(computed: 3, notComputed: 0, volatile: 0, problems: []))
        let table = try #require(wb.sheets[0].table)
        let total = try #require(table.columns.first { $0.header == "Line total" })
        #expect(total.type == "real" || total.type == "integer")
        let q = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "SELECT SUM(\"\(total.name)\") AS s FROM \"\(table.name)\""))
        #expect(q.rows == [[148]])
        let read = try await c.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: "Order", range: "D2:D4"))
        #expect(read.rows == [[19], [120], [9]])
        await c.close()
    }

    @Test func traceFollowsNamesAndSheetsAndListsDependents() async throws {
        let c = TestClient.inProcess()
        try await c.initialize()
        let wb = try await c.send(WorkbookOpenRequest(path: requiredCorpusFile("xlcalculator__use_case_01.xlsm")))
        // Tenth!C3 = SUM(A3,Hundred), Hundred = Eighth!$B$1.
        let t = try await c.send(WorkbookTraceRequest(workbookId: wb.workbookId, sheet: "Tenth", cell: "C3"))
        #expect(t.cell.formula == "SUM(A3,Hundred)" && t.cell.value == 102 && !t.cell.computed)
        let refs = t.cell.precedents.map(\.ref)
        #expect(refs.contains("Tenth!A3"))
        let name = try #require(t.cell.precedents.first { $0.kind == "name" })
        #expect(name.name == "Hundred" && name.ref == "Eighth!$B$1".replacingOccurrences(of: "$", with: ""))
        #expect(name.precedents.first?.ref == "Eighth!B1" && name.precedents.first?.value == 100)
        // Eighth!B1's dependents: through the name, on two sheets.
        let d = try await c.send(WorkbookTraceRequest(workbookId: wb.workbookId, sheet: "Eighth", cell: "B1", depth: 1))
        let dependents = Set(d.dependents.map(\.ref))
        #expect(dependents.isSuperset(of: ["Ninth!B1", "Tenth!B2", "Tenth!C3"]), "\(dependents)")
        // Across sheets: Fourth!A2 = SUM(First!A2+1).
        let x = try await c.send(WorkbookTraceRequest(workbookId: wb.workbookId, sheet: "Fourth", cell: "A2"))
        #expect(x.cell.precedents.map(\.ref) == ["First!A2"])
        // Bad input: not one cell, unknown sheet, bad depth.
        for (sheet, cell, depth, kind) in [("Tenth", "C3:C4", 3, "invalidRange"), ("Nope", "A1", 3, "unknownSheet"), ("Tenth", "ZZZZ1", 3, "invalidRange")] {
            let r = try await c.request(method: WorkbookTraceRequest.method, params: ["workbookId": .string(wb.workbookId), "sheet": .string(sheet), "cell": .string(cell), "depth": .int(Int64(depth))])
            #expect(errorKind(r) == kind, "\(sheet)!\(cell): \(r)")
        }
        let badDepth = try await c.request(method: WorkbookTraceRequest.method, params: ["workbookId": .string(wb.workbookId), "sheet": "Tenth", "cell": "C3", "depth": 0])
        #expect(badDepth["error"]?["code"] == .int(-32602))
        await c.close()
    }

    @Test func theAnalystsTraceToolCitesEveryCellInTheChain() async throws {
        let model = ScriptedModelServer(models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        var config = TestClient.temporaryConfiguration()
        config.ollamaHost = model.hostAndPort
        config.model = "test-chat"
        let client = TestClient.inProcess(configuration: config)
        try await client.initialize()
        let wb = try await client.send(WorkbookOpenRequest(path: fidelityCase("formulas-without-cached-values.xlsx")))
        model.enqueue(.stream([.toolCalls([ScriptedToolCall(name: "trace", argumentsText: LLMJSON.object(["sheet": "Order", "cell": "D3"]).jsonText)])]))
        model.enqueue(.text(["D3 is B3*C3: 1 x 120 = 120."]))
        let result = try await client.send(ChatAskRequest(workbookId: wb.workbookId, question: "How is D3 computed?"))
        let step = try #require(result.steps?.first)
        #expect(step.tool == "trace")
        // The tool's step names every cell of the chain; the answer cites the cells its numbers
        // come from (the analyst's grounding: 120 is in C3 and D3).
        #expect(Set(step.ranges).isSuperset(of: ["Order!D3", "Order!B3", "Order!C3"]), "\(step.ranges)")
        let cited = result.citations.map { "\($0.sheet)!\($0.range)" }
        #expect(cited.contains { $0.contains("D3") }, "\(cited)")
        // The tool's text reached the model: the formula chain with values.
        let sent = model.requests.last.map { String(decoding: $0.body, as: UTF8.self) } ?? ""
        #expect(sent.contains("Order!D3 = B3*C3 -> 120"))
        await client.close()
    }
}

/// A minimal xlsx package (workbook, sheets, optional styles) zipped by the system `zip`
/// (the test fails when it is missing): the server tests' own generated workbooks.
func generatedXLSX(sheets: [(name: String, rows: String)], styles: String? = nil) async throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-gen-\(UUID().uuidString)")
    let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    let rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    var parts: [String: String] = [
        "[Content_Types].xml": #"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#,
        "_rels/.rels": #"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="\#(rel)/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    ]
    var list = "", rels = ""
    for (i, s) in sheets.enumerated() {
        list += #"<sheet name="\#(s.name)" sheetId="\#(i + 1)" r:id="rId\#(i + 1)"/>"#
        rels += #"<Relationship Id="rId\#(i + 1)" Type="\#(rel)/worksheet" Target="worksheets/sheet\#(i + 1).xml"/>"#
        parts["xl/worksheets/sheet\(i + 1).xml"] = #"<?xml version="1.0"?><worksheet xmlns="\#(main)"><sheetData>\#(s.rows)</sheetData></worksheet>"#
    }
    if let styles {
        rels += #"<Relationship Id="rIdT" Type="\#(rel)/styles" Target="styles.xml"/>"#
        parts["xl/styles.xml"] = #"<styleSheet xmlns="\#(main)">\#(styles)</styleSheet>"#
    }
    parts["xl/workbook.xml"] = #"<?xml version="1.0"?><workbook xmlns="\#(main)" xmlns:r="\#(rel)"><sheets>\#(list)</sheets></workbook>"#
    parts["xl/_rels/workbook.xml.rels"] = #"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\#(rels)</Relationships>"#
    for (name, text) in parts {
        let url = dir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }
    let out = dir.path + ".xlsx"
    let zip = try await SpawnedProcess.run("/usr/bin/env", ["sh", "-c", "cd '\(dir.path)' && zip -q -X -r '\(out)' '[Content_Types].xml' _rels xl"])
    precondition(zip.status == 0, "zip failed (is /usr/bin/zip installed?): \(zip.stderr)")
    return out
}

/// The analyst's answer to "how is the total computed?" cites every cell of the chain.
@Suite(.timeLimit(.minutes(3))) struct TraceCitationTests {
    @Test func anAnswerThatUsedTheTraceCitesEveryCellOfTheFormulaChain() async throws {
        // Invoice: A item, B quantity, C price, F = B*C (no cached values), F20 = SUM(F2:F19).
        var rows = #"<row r="1"><c r="A1" t="inlineStr"><is><t>Item</t></is></c><c r="B1" t="inlineStr"><is><t>Qty</t></is></c><c r="C1" t="inlineStr"><is><t>Price</t></is></c><c r="F1" t="inlineStr"><is><t>Line total</t></is></c></row>"#
        var total = 0.0
        for r in 2...19 {
            let qty = r % 5 + 1, price = Double(r) * 2.5
            total += Double(qty) * price
            rows += #"<row r="\#(r)"><c r="A\#(r)" t="inlineStr"><is><t>Part \#(r)</t></is></c><c r="B\#(r)"><v>\#(qty)</v></c><c r="C\#(r)"><v>\#(price)</v></c><c r="F\#(r)"><f>B\#(r)*C\#(r)</f></c></row>"#
        }
        rows += #"<row r="20"><c r="E20" t="inlineStr"><is><t>Total</t></is></c><c r="F20"><f>SUM(F2:F19)</f></c></row>"#
        let path = try await generatedXLSX(sheets: [("Invoice", rows)])
        let model = ScriptedModelServer(models: ["test-chat:latest"])
        try await model.start()
        defer { Task { await model.shutdown() } }
        var config = TestClient.temporaryConfiguration()
        config.ollamaHost = model.hostAndPort
        config.model = "test-chat"
        let client = TestClient.inProcess(configuration: config)
        try await client.initialize()
        let wb = try await client.send(WorkbookOpenRequest(path: path))
        model.enqueue(.stream([.toolCalls([ScriptedToolCall(name: "trace", argumentsText: LLMJSON.object(["sheet": "Invoice", "cell": "F20"]).jsonText)])]))
        // The answer names only the total: grounding alone would cite F20 and nothing else.
        model.enqueue(.text(["F20 adds up the line totals above it, each quantity times price: \(Int(total)) in all."]))
        let result = try await client.send(ChatAskRequest(workbookId: wb.workbookId, question: "How is the total in F20 computed?"))
        let step = try #require(result.steps?.first)
        #expect(step.tool == "trace" && !step.summary.hasPrefix("error"), "\(step.summary)")
        var cited: [(String, CellRange)] = []
        for c in result.citations { if let r = A1.parseRange(c.range) { cited.append((c.sheet, r.range)) } }
        func isCited(_ cell: String) -> Bool {
            let ref: CellRef = A1.parseRange(cell)!.range.start
            for (sheet, range) in cited where sheet == "Invoice" {
                let rows = range.start.row...range.end.row, columns = range.start.column...range.end.column
                if rows.contains(ref.row) && columns.contains(ref.column) { return true }
            }
            return false
        }
        // Every cell of the chain: the total, the line totals, the quantities and prices.
        var chain = ["F20"]
        for r in 2...19 { chain += ["F\(r)", "B\(r)", "C\(r)"] }
        let missing = chain.filter { !isCited($0) }
        #expect(missing.isEmpty, "not cited: \(missing); citations: \(result.citations)")
        // Nothing outside the chain (the item names, the "Total" label) is cited.
        #expect(!isCited("A2") && !isCited("E20"), "\(result.citations)")
        // The chain's ranges are the step's, too.
        #expect(step.ranges.contains("Invoice!F20"), "\(step.ranges)")
        await client.close()
    }
}

/// `xlchat trace` from the built binary.
@Suite(.timeLimit(.minutes(2))) struct TraceBinaryTests {
    @Test func traceCommandPrintsTheTree() async throws {
        var env = ProcessInfo.processInfo.environment
        env["XLCHAT_DATA_DIR"] = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-trace-\(UUID())").path
        let file = requiredCorpusFile("xlcalculator__use_case_01.xlsm")
        let r = try await SpawnedProcess.run(BuiltBinary.path(), ["trace", file, "Tenth!C3"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("Tenth!C3  =SUM(A3,Hundred)  → 102"), "\(r.stdout)")
        #expect(r.stdout.contains("Hundred (name) = Eighth!B1"))
        #expect(r.stdout.contains("└─ Eighth!B1  → 100"))
        let fidelity = try await SpawnedProcess.run(BuiltBinary.path(), ["trace", fidelityCase("formulas-without-cached-values.xlsx"), "D2", "--json"], environment: env)
        #expect(fidelity.status == 0, "\(fidelity.stderr)")
        #expect(fidelity.stdout.contains("\"computed\" : true") || fidelity.stdout.contains("\"computed\":true"))
        let bad = try await SpawnedProcess.run(BuiltBinary.path(), ["trace", file, "Nope!A1"], environment: env)
        #expect(bad.status != 0 && bad.stderr.contains("no sheet named 'Nope'"))
    }
}
