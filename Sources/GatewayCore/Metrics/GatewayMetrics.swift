import Prometheus
import Synchronization

/// The gateway's Prometheus metrics (swift-prometheus), exposed on the admin port at `/metrics`:
/// requests by function and status, request latency, pool connections in use and requests waiting,
/// database reconnects and schema-cache reloads.
public final class GatewayMetrics: Sendable {
    /// The process's metrics, fed by the server, the pool and the schema cache.
    public static let shared = GatewayMetrics()

    public let registry = PrometheusCollectorRegistry()
    private let latency: DurationHistogram
    private let inUse: Gauge
    private let waiting: Gauge
    private let reconnects: Counter
    private let reloads: Counter
    private let eventStreams: Gauge
    private let eventStreamsDropped: Counter
    /// (function, status) -> counter; the registry also dedups, this only saves its lock and lookups.
    private let counters = Mutex<[RequestKey: Counter]>([:])

    static let maxSeries = 1_000

    struct RequestKey: Hashable { let function: String; let status: Int }

    public init() {
        latency = registry.makeDurationHistogram(
            name: "gateway_request_duration_seconds",
            buckets: [.microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                      .milliseconds(10), .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                      .milliseconds(500), .seconds(1), .seconds(5)],
            help: "Time from the request's arrival to its response being queued")
        inUse = registry.makeGauge(name: "gateway_pool_connections_in_use", help: "Database connections executing requests now")
        waiting = registry.makeGauge(name: "gateway_pool_requests_waiting", help: "Requests waiting for a database connection")
        reconnects = registry.makeCounter(name: "gateway_db_reconnects_total", help: "Database connections re-established after a failure")
        reloads = registry.makeCounter(name: "gateway_schema_reloads_total", help: "Schema cache reloads (NOTIFY pgrst or SIGUSR1)")
        eventStreams = registry.makeGauge(name: "gateway_sse_subscribers", help: "Server-sent event streams open now")
        eventStreamsDropped = registry.makeCounter(name: "gateway_sse_dropped_total",
                                                   help: "Event streams dropped: a subscriber too slow (server-sse-max-buffer-bytes) or the LISTEN connection lost")
    }

    /// One finished request. `function` is the called function's name, or the route (`/`, `other`) for others.
    public func requestFinished(function: String, status: Int, nanoseconds: Int64) {
        var key = RequestKey(function: function, status: status)
        let counter = counters.withLock { map in
            if let counter = map[key] { return counter }
            // Callers choose the path: past this many series, new names count as `other`.
            if map.count >= Self.maxSeries { key = RequestKey(function: "other", status: status) }
            if let counter = map[key] { return counter }
            let counter = registry.makeCounter(
                name: "gateway_requests_total",
                labels: [("function", key.function), ("status", String(status))],
                help: "Requests answered, by called function and HTTP status")
            map[key] = counter
            return counter
        }
        counter.increment()
        latency.recordNanoseconds(nanoseconds)
    }

    /// The `function` label of a request: the called function for `/rpc/<fn>` (at most 63 characters),
    /// `/` for the OpenAPI document, `other` elsewhere.
    public static func function<S: StringProtocol>(of path: S, status: Int) -> String {
        // On the UTF-8 bytes (a Character-wise prefix cost ~4,500 instructions a request); 63 bytes is
        // PostgreSQL's longest identifier.
        let bytes = path.utf8
        if bytes.starts(with: "/rpc/".utf8) { return String(decoding: bytes.dropFirst(5).prefix(63), as: UTF8.self) }
        return bytes.elementsEqual("/".utf8) ? "/" : "other"
    }

    public func setPool(inUse connections: Int, waiting requests: Int) {
        inUse.set(Int64(connections))
        waiting.set(Int64(requests))
    }

    public func databaseReconnected() { reconnects.increment() }
    public func schemaReloaded() { reloads.increment() }
    /// An event stream opened (+1) or closed (-1).
    public func eventStreamsChanged(by delta: Int) { eventStreams.increment(by: Double(delta)) }
    public func eventStreamDropped() { eventStreamsDropped.increment() }

    /// The text exposition format (`text/plain; version=0.0.4`).
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}
