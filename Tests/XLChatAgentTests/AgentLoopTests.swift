import Foundation
import Testing
@testable import XLChatAgent
import XLChatIndex
import XLChatLLM
import XLChatTestSupport
import XLChatWorkbook

@Suite(.timeLimit(.minutes(2))) struct AgentLoopTests {
    @Test func toolCallThenStreamedAnswerWithCitationsAndGrounding() async throws {
        let f = try await Fixture()
        let amount = f.column("Amount").name
        let server = try await startServer([
            .stream([sqlCall("SELECT SUM(\(amount)) AS total FROM \"\(f.table.name)\"")]),
            .text(["The total amount ", "is 2,467.75", " across 4 rows."], delay: 0.01),
        ])
        defer { Task { await server.shutdown() } }
        let log = EventLog()
        let answer = try await f.analyst(server).ask(outline: f.outline, question: "What is the total amount?", model: "test-chat") { log.add($0) }

        // Order: the step, then the deltas; the deltas joined are the answer (status events
        // about the wait come between; RecoveryAndStatusTests checks them).
        let events = log.events.filter { if case .status = $0 { return false }; return true }
        #expect(events.count == 4)
        if case .step(let s) = events.first { #expect(s.tool == "sql" && s.ok && s.summary.contains("1 row")) } else { Issue.record("first event is not the step") }
        #expect(log.deltas == ["The total amount ", "is 2,467.75", " across 4 rows."])
        #expect(log.deltas.joined() == answer.answer)
        // The aggregate cites the Amount column's data cells (C2:C5).
        let col = A1.columnName(f.column("Amount").sourceColumn)
        #expect(answer.citations.map(\.a1) == [A1.qualified(sheet: f.sheet, range: A1.parseRange("\(col)2:\(col)5")!.range)])
        #expect(answer.ungrounded.isEmpty, "\(answer.ungrounded)")
        #expect(!answer.cached && !answer.stepLimitReached)
        // The model got the tool result back, in a data block.
        let second = chatMessages(server, 1)
        let tool = second.first { $0["role"]?.stringValue == "tool" }?["content"]?.stringValue ?? ""
        #expect(tool.contains("2467.75") && tool.contains("<<<DATA"))
        // The prompt carried the outline with typed columns and sample rows.
        let system = chatMessages(server, 0).first?["content"]?.stringValue ?? ""
        #expect(system.contains(f.table.name) && system.contains("\(amount) (real") && system.contains("Widget"))
        #expect(server.requests(path: "/api/chat")[0].json?["tools"]?.arrayValue?.count == 5)  // sql, describe_table, read_range, search, trace
    }

    @Test func sqlErrorAndMalformedCallGoBackToTheModelWhichRetries() async throws {
        let f = try await Fixture()
        let amount = f.column("Amount").name
        let server = try await startServer([
            .stream([sqlCall("SELECT amont FROM \"\(f.table.name)\"")]),
            .stream([.toolCalls([ScriptedToolCall(name: "sql", argumentsText: "{\"query\": \"SELECT")])]),
            .stream([sqlCall("SELECT MAX(\(amount)) AS top FROM \"\(f.table.name)\"")]),
            .text(["The largest amount is 1250.50."]),
        ])
        defer { Task { await server.shutdown() } }
        let log = EventLog()
        let answer = try await f.analyst(server).ask(outline: f.outline, question: "largest amount?", model: "test-chat") { log.add($0) }
        #expect(log.steps.map(\.ok) == [false, false, true])
        #expect(log.steps[0].summary.contains("amont"), "\(log.steps[0].summary)")
        #expect(log.steps[1].summary.contains("not a JSON object"))
        let errors = chatMessages(server, 1).filter { $0["role"]?.stringValue == "tool" }.compactMap { $0["content"]?.stringValue }
        #expect(errors.count == 1 && errors[0].hasPrefix("ERROR:") && errors[0].contains("amont"))
        #expect(chatMessages(server, 3).filter { $0["role"]?.stringValue == "tool" }.count == 3)
        #expect(answer.answer == "The largest amount is 1250.50.")
        #expect(answer.ungrounded.isEmpty)
    }

    @Test func writesAreRefusedAndReportedAsToolErrors() async throws {
        let f = try await Fixture()
        let server = try await startServer([
            .stream([sqlCall("DROP TABLE \"\(f.table.name)\"")]),
            .stream([.toolCalls([ScriptedToolCall(name: "format_disk", argumentsText: "{}")])]),
            .text(["I cannot change the workbook."]),
        ])
        defer { Task { await server.shutdown() } }
        let answer = try await f.analyst(server).ask(outline: f.outline, question: "delete the table", model: "test-chat")
        #expect(answer.steps.map(\.ok) == [false, false])
        #expect(answer.steps[1].summary.contains("no tool named"))
        // The table is still there.
        let rows = try f.index.query(outline: f.outline, sql: "SELECT COUNT(*) FROM \"\(f.table.name)\"")
        #expect(rows.rows.first?.first == .integer(4))
    }

    @Test func stepLimitEndsWithWhatWasFound() async throws {
        let f = try await Fixture()
        let region = f.column("Region").name
        func sql(_ v: String) -> ScriptedModelServer.Step { sqlCall("SELECT \(region) FROM \"\(f.table.name)\" WHERE \(region) = '\(v)'") }
        // The model never stops calling tools; after the limit it is asked once more, without
        // tools, and here it says nothing: the agent summarises what the tools found.
        let server = try await startServer([.stream([sql("North")]), .stream([sql("South")]), .text([""]),
                                            .stream([sql("East")]), .stream([sql("West")]), .text(["East and West ", "both sold."])])
        defer { Task { await server.shutdown() } }
        let log = EventLog()
        let answer = try await f.analyst(server, maxSteps: 2).ask(outline: f.outline, question: "which regions?", model: "test-chat") { log.add($0) }
        #expect(answer.stepLimitReached)
        let requests = server.requests(path: "/api/chat")
        #expect(requests.count == 3)
        #expect(requests[2].json?["tools"]?.arrayValue?.isEmpty != false)
        #expect(answer.answer.contains("stopped after 2") && answer.answer.contains("North") && answer.answer.contains("South"), "\(answer.answer)")
        #expect(log.deltas.joined() == answer.answer)
        // The rows the tools found are cited: rows 2 and 3 (North, South).
        #expect(answer.citations.map(\.a1) == [A1.qualified(sheet: f.sheet, range: A1.parseRange("A2:A3")!.range)], "\(answer.citations)")

        // Same loop, but the model answers when asked without tools: its answer streams.
        let log2 = EventLog()
        let second = try await f.analyst(server, maxSteps: 2).ask(outline: f.outline, question: "which regions now?", model: "test-chat") { log2.add($0) }
        #expect(second.stepLimitReached && second.answer == "East and West both sold.")
        #expect(log2.deltas == ["East and West ", "both sold."])
        #expect(second.citations.map(\.a1) == [A1.qualified(sheet: f.sheet, range: A1.parseRange("A4:A5")!.range)], "\(second.citations)")
    }

    @Test func repeatedToolCallEndsTheLoopEarly() async throws {
        let f = try await Fixture()
        let amount = f.column("Amount").name
        let call = sqlCall("SELECT SUM(\(amount)) AS total FROM \"\(f.table.name)\"")
        let server = try await startServer([.stream([call]), .stream([call]), .text(["The total is 2467.75."])])
        defer { Task { await server.shutdown() } }
        let answer = try await f.analyst(server).ask(outline: f.outline, question: "total?", model: "test-chat")
        #expect(answer.steps.count == 1 && !answer.stepLimitReached)
        #expect(answer.answer == "The total is 2467.75." && answer.ungrounded.isEmpty)
        #expect(server.requests(path: "/api/chat").count == 3)
    }

    @Test func readRangeAndSearchTools() async throws {
        let f = try await Fixture()
        let server = try await startServer([
            .stream([.toolCalls([ScriptedToolCall(name: "read_range", argumentsText: #"{"sheet":"\#(f.sheet)","range":"A2:C3"}"#),
                                 ScriptedToolCall(name: "search", argumentsText: #"{"query":"Gizmo"}"#),
                                 ScriptedToolCall(name: "read_range", argumentsText: #"{"sheet":"Nope","range":"A1"}"#),
                                 ScriptedToolCall(name: "read_range", argumentsText: #"{"range":"A1:ZZ"}"#)])]),
            .text(["North sold 1250.5 and the Gizmo row is West with 42."]),
        ])
        defer { Task { await server.shutdown() } }
        let answer = try await f.analyst(server).ask(outline: f.outline, question: "tell me about Gizmo", model: "test-chat")
        #expect(answer.steps.map(\.ok) == [true, true, false, false])
        #expect(answer.steps[0].ranges == [A1.qualified(sheet: f.sheet, range: A1.parseRange("A2:C3")!.range)])
        #expect(answer.steps[2].summary.contains("no sheet named 'Nope'"))
        #expect(answer.steps[3].summary.contains("not an A1 range"))
        let refs = answer.citations.map(\.a1)
        // Row 2 (North, read_range) and row 5 (Gizmo, search) are cited; row 3 (South) is not used.
        #expect(refs.contains { $0.contains("A2:C2") || $0.contains("A2:D2") }, "\(refs)")
        #expect(refs.contains { $0.contains("5") }, "\(refs)")
        #expect(!refs.contains { $0.contains("3") && !$0.contains("A2:C3") }, "\(refs)")
        #expect(answer.ungrounded.isEmpty, "\(answer.ungrounded)")
    }

    @Test func madeUpNumberIsFlaggedFormattedRealOneIsNot() async throws {
        let f = try await Fixture()
        let server = try await startServer([.text(["North had $1,250.50 and the average was 9,999.99; about 51% of the total."])])
        defer { Task { await server.shutdown() } }
        let answer = try await f.analyst(server).ask(outline: f.outline, question: "summarise", model: "test-chat")
        // 1,250.50 is in the sample rows of the prompt; 51% is 1250.5/2467.75 but appears nowhere.
        #expect(answer.ungrounded == ["9,999.99", "51%"], "\(answer.ungrounded)")
    }
}

@Suite(.timeLimit(.minutes(2))) struct AgentCorpusTests {
    @Test func askAboutACorpusWorkbook() async throws {
        guard let path = Fixture.corpusFile("agate-excel__ne_1033_data.xlsx") else {
            Issue.record("AgentCorpusTests: this test needs the corpus: ../shared/corpus/files/agate-excel__ne_1033_data.xlsx is absent")
            return
        }
        let f = try await Fixture(existing: path)
        guard let sheet = f.outline.sheets.first(where: { $0.table?.dataRange != nil }), let table = sheet.table, let data = table.dataRange else {
            Issue.record("no table inferred in \(path)"); return
        }
        // The count the index gives, not a number written into the test.
        let count = try f.index.query(outline: f.outline, sql: "SELECT COUNT(*) FROM \"\(table.name)\"").rows[0][0].description
        let server = try await startServer([
            .stream([sqlCall("SELECT COUNT(*) AS n FROM \"\(table.name)\"")]),
            .text(["The sheet lists \(count) rows."]),
        ])
        defer { Task { await server.shutdown() } }
        let answer = try await f.analyst(server).ask(outline: f.outline, question: "How many rows are there?", model: "test-chat")
        #expect(answer.answer == "The sheet lists \(count) rows.")
        #expect(answer.ungrounded.isEmpty, "\(answer.ungrounded)")
        #expect(answer.citations == [SourceRange(sheet: table.sheet, range: data)], "\(answer.citations)")
        let system = chatMessages(server, 0).first?["content"]?.stringValue ?? ""
        #expect(system.contains(table.name) && system.contains("sample rows"))
    }
}
