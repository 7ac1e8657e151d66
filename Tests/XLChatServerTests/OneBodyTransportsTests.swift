import Foundation
import Testing
import XLChatProtocol
import XLChatServer
import XLChatTestSupport

/// Anything that sends typed requests to a server: the JSON-RPC client (bytes over a
/// connection) and the in-process client (typed values into the request core, no JSON).
protocol RequestSender: Sendable {
    func send<R: RequestType>(_ request: R) async throws -> R.Response
}

extension TestClient: RequestSender {}
extension InProcessClient: RequestSender {}

/// One test body, two ways in (as Hummingbird runs a suite `.router` and `.live`): what a user
/// does to a workbook gives the same results, and the same errors, over JSON-RPC and through
/// the in-process client the command line uses.
@Suite(.timeLimit(.minutes(2))) struct OneBodyTransportsTests {
    enum Transport: String, CaseIterable, Sendable { case jsonRPC, inProcess }

    static func sender(_ t: Transport) async throws -> any RequestSender {
        switch t {
        case .jsonRPC:
            let c = TestClient.inProcess()
            try await c.initialize()
            return c
        case .inProcess:
            return try await InProcessClient.forTests()
        }
    }

    static func orders() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-onebody-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("orders.csv").path
        var text = "Order,Region,Units,Price\n"
        for i in 1...40 { text += "ORD-\(i),\(["West", "East", "North"][i % 3]),\(i % 7 + 1),\(Double(i) * 2.5)\n" }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// What one session sees, with the timing fields left out.
    struct Seen: Hashable {
        var open: WorkbookOpenResult
        var cells: WorkbookReadResult
        var columns: [String]
        var rows: [[JSONValue]]
        var ranges: [String?]
        var chunks: Int
        var hits: [SearchResultItem]
        var status: Bool
        var badSQL: String
        var afterClose: String
    }

    static func scenario(_ c: any RequestSender, path: String) async throws -> Seen {
        let wb = try await c.send(WorkbookOpenRequest(path: path))
        let cells = try await c.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: wb.sheets[0].name, range: "A1:D5"))
        let built = try await c.send(IndexBuildRequest(workbookId: wb.workbookId))
        let q = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId,
            sql: "SELECT Region, SUM(Units) AS units, SUM(Units * Price) AS revenue FROM \(wb.sheets[0].table!.name) GROUP BY Region ORDER BY Region"))
        let hits = try await c.send(IndexSearchRequest(workbookId: wb.workbookId, query: "ORD-17", limit: 3))
        let status = try await c.send(IndexStatusRequest(workbookId: wb.workbookId))
        func failure(_ body: () async throws -> Void) async -> String {
            do { try await body(); return "no error" } catch let e as ResponseError {
                return "\(e.code) \(e.kind?.rawValue ?? "-") \(e.message)"
            } catch { return "\(error)" }
        }
        let badSQL = await failure { _ = try await c.send(WorkbookQueryRequest(workbookId: wb.workbookId, sql: "DELETE FROM x")) }
        _ = try await c.send(WorkbookCloseRequest(workbookId: wb.workbookId))
        let afterClose = await failure { _ = try await c.send(WorkbookReadRequest(workbookId: wb.workbookId, sheet: "orders")) }
        return Seen(open: wb, cells: cells, columns: q.columns, rows: q.rows, ranges: q.ranges, chunks: built.chunks,
                    hits: hits.results, status: status.built, badSQL: badSQL, afterClose: afterClose)
    }

    @Test func aUsersSessionIsTheSameOverJSONRPCAndInProcess() async throws {
        let path = try Self.orders()
        var seen: [Transport: Seen] = [:]
        for t in Transport.allCases { seen[t] = try await Self.scenario(try await Self.sender(t), path: path) }
        let wire = try #require(seen[.jsonRPC]), typed = try #require(seen[.inProcess])
        #expect(wire == typed)
        // And the results are right (not merely equal): West has i % 3 == 0.
        #expect(wire.columns == ["Region", "units", "revenue"])
        #expect(wire.rows.map { $0[0] } == ["East", "North", "West"])
        let west = (1...40).filter { $0 % 3 == 0 }
        #expect(wire.rows[2][1].doubleValue == Double(west.map { $0 % 7 + 1 }.reduce(0, +)))
        #expect(wire.rows[2][2].doubleValue == west.map { Double($0 % 7 + 1) * Double($0) * 2.5 }.reduce(0, +))
        #expect(wire.hits.contains { $0.text.contains("ORD-17") })
        #expect(wire.status && wire.chunks > 0)
        #expect(wire.badSQL.hasPrefix("-32001 invalidQuery "), "\(wire.badSQL)")
        #expect(wire.afterClose.hasPrefix("-32001 unknownWorkbook "), "\(wire.afterClose)")
    }
}

extension OneBodyTransportsTests {
    /// The in-process client gets the server's notifications as the typed values it sends
    /// (no frames, no JSON), in order: `$/progress` begin … end for an index build.
    @Test func inProcessNotificationsAreTyped() async throws {
        let log = NotificationLog()
        let c = try await InProcessClient.forTests(notifications: log)
        let wb = try await c.send(WorkbookOpenRequest(path: try Self.orders()))
        _ = try await c.send(IndexBuildRequest(workbookId: wb.workbookId, workDoneToken: .string("build-1")))
        let progress = log.all(ProgressNotification.self).filter { $0.token == .string("build-1") }
        #expect(progress.first?.value.kind == .begin, "\(progress)")
        #expect(progress.last?.value.kind == .end, "\(progress)")
        #expect(progress.dropFirst().dropLast().allSatisfy { $0.value.kind == .report })
    }
}
