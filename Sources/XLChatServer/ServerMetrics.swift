import CoreMetrics
import Foundation
import Prometheus
import XLChatIndex

/// The server's metrics, recorded through swift-metrics and exposed in Prometheus text format
/// by swift-prometheus. Each server has its own registry (tests run many servers in one process).
public final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let connections: Meter

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        ]
        self.factory = factory
        connections = Meter(label: "xlchat_open_connections", dimensions: [], factory: factory)
    }

    func requestFinished(method: String, nanoseconds: Int64, errorCode: Int?) {
        Counter(label: "xlchat_requests_total", dimensions: [("method", method)], factory: factory).increment()
        Timer(label: "xlchat_request_duration_seconds", dimensions: [("method", method)], factory: factory)
            .recordNanoseconds(nanoseconds)
        if let errorCode {
            Counter(label: "xlchat_errors_total", dimensions: [("code", String(errorCode))], factory: factory).increment()
        }
    }

    /// A query on the typed tables: `xlchat_store_queries_total{store, outcome}` and
    /// `xlchat_store_query_duration_seconds{store}` (`store` is `sqlite` or `postgresql`).
    func storeQueryFinished(_ record: StoreQueryRecord) {
        Counter(label: "xlchat_store_queries_total", dimensions: [("store", record.dialect.rawValue.lowercased()), ("outcome", record.outcome)],
                factory: factory).increment()
        Timer(label: "xlchat_store_query_duration_seconds", dimensions: [("store", record.dialect.rawValue.lowercased())], factory: factory)
            .recordNanoseconds(record.nanoseconds)
    }

    func connectionOpened() { connections.increment() }
    func connectionClosed() { connections.decrement() }

    /// Prometheus text exposition (format 0.0.4).
    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
