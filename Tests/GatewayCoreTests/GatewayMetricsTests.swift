import Testing
@testable import GatewayCore

/// The Prometheus exposition moves with the events recorded.
@Suite struct GatewayMetricsTests {
    @Test func countsRequestsByFunctionAndStatus() {
        let metrics = GatewayMetrics()
        metrics.requestFinished(function: "add_widget", status: 204, nanoseconds: 800_000)
        metrics.requestFinished(function: "add_widget", status: 204, nanoseconds: 3_000_000)
        metrics.requestFinished(function: "add_widget", status: 409, nanoseconds: 1_000_000)
        metrics.setPool(inUse: 3, waiting: 1)
        metrics.databaseReconnected()
        metrics.schemaReloaded()
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains(#"gateway_requests_total{function="add_widget",status="204"} 2"#))
        #expect(text.contains(#"gateway_requests_total{function="add_widget",status="409"} 1"#))
        #expect(text.contains("gateway_request_duration_seconds_count 3"))
        #expect(text.contains("gateway_pool_connections_in_use 3"))
        #expect(text.contains("gateway_pool_requests_waiting 1"))
        #expect(text.contains("gateway_db_reconnects_total 1"))
        #expect(text.contains("gateway_schema_reloads_total 1"))
    }
}
