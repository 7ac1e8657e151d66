import Foundation
import Testing
import XLChatProtocol
import XLChatServer
import XLChatTestSupport

@Suite(.timeLimit(.minutes(2))) struct LifecycleTests {
    @Test func initializeReportsServerInfoAndCapabilities() async throws {
        let client = TestClient.inProcess()
        let result = try await client.initialize()
        #expect(result.serverInfo.name == "xlchat")
        #expect(result.serverInfo.version == XLChatVersion.current)
        #expect(result.protocolVersion == XLChatVersion.protocolVersion)
        #expect(result.capabilities.methods == XLChatServer.requestMethods)
        try await client.shutdownAndExit()
    }

    @Test func requestsBeforeInitializeGetMinus32002() async throws {
        let client = TestClient.inProcess()
        for method in ["server/ping", "server/health", "no/such/method"] {
            let r = try await client.request(method: method)
            #expect(r["error"]?["code"] == .int(-32002), "\(method)")
        }
        try await client.initialize()
        let ok = try await client.request(method: "server/ping")
        #expect(ok["result"] == [:])
    }

    @Test func secondInitializeIsInvalid() async throws {
        let client = TestClient.inProcess()
        try await client.initialize()
        let r = try await client.request(method: "initialize", params: [:])
        #expect(r["error"]?["code"] == .int(-32600))
    }

    @Test func requestsAfterShutdownAreInvalid() async throws {
        let client = TestClient.inProcess()
        try await client.initialize()
        _ = try await client.send(ShutdownRequest())
        let r = try await client.request(method: "server/ping")
        #expect(r["error"]?["code"] == .int(-32600))
        #expect(r["error"]?["message"]?.stringValue?.contains("shutting down") == true)
    }

    @Test func unknownMethodIsMinus32601AndUnknownNotificationIsIgnored() async throws {
        let client = TestClient.inProcess()
        try await client.initialize()
        try await client.notify(method: "no/such/notification", params: ["a": 1])
        try await client.notify(method: "$/setTrace", params: ["value": "off"])
        let r = try await client.request(method: "workbook/explode")
        #expect(r["error"]?["code"] == .int(-32601))
        #expect(r["error"]?["message"]?.stringValue?.contains("workbook/explode") == true)
        #expect(try await client.request(method: "server/ping")["result"] == [:])
    }

    @Test func wrongParamTypesNameTheField() async throws {
        let client = TestClient.inProcess()
        let r = try await client.request(method: "initialize", params: ["processId": "not a number"])
        #expect(r["error"]?["code"] == .int(-32602))
        #expect(r["error"]?["message"]?.stringValue?.contains("processId") == true)
        let nested = try await client.request(method: "initialize", params: ["clientInfo": ["version": "1"]])
        #expect(nested["error"]?["code"] == .int(-32602))
        #expect(nested["error"]?["message"]?.stringValue?.contains("clientInfo.name") == true)
    }

    @Test func healthAndMetrics() async throws {
        let client = TestClient.inProcess()
        try await client.initialize()
        let health = try await client.send(HealthRequest())
        #expect(health.checks["storage"] == "ok")
        for _ in 0..<3 { _ = try await client.send(PingRequest()) }
        _ = try await client.request(method: "no/such")
        let metrics = try await client.send(MetricsRequest())
        #expect(metrics.text.contains(#"xlchat_requests_total{method="server/ping"} 3"#))
        #expect(metrics.text.contains(#"xlchat_errors_total{code="-32601"} 1"#))
        #expect(metrics.text.contains("xlchat_request_duration_seconds_bucket"))
        #expect(metrics.text.contains("xlchat_open_connections 1"))
    }

    @Test func healthReportsAnUnwritableDataDirectory() async throws {
        var config = TestClient.temporaryConfiguration()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("xlchat-notadir-\(UUID())").path
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        config.dataDirectory = file + "/sub"
        let client = TestClient.inProcess(configuration: config)
        try await client.initialize()
        let health = try await client.send(HealthRequest())
        #expect(health.status == .degraded)
        #expect(health.checks["storage"] != "ok")
    }
}
