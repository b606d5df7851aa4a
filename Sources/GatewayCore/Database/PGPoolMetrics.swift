import Prometheus

/// Per-pool Prometheus series (label `pool` = `primary` or `read`) and read-scaling fallbacks.
/// The older unlabeled `gateway_pool_connections_in_use` / `gateway_pool_requests_waiting` stay
/// (they describe the primary); these families add the read pool beside it.
public final class PGPoolMetrics: Sendable {
    /// Why a read went to the primary: the read pool had no open connection (`unavailable`), or
    /// its connection broke / the standby cancelled the query during the call (`retried`).
    enum FallbackReason: String, CaseIterable { case unavailable, retried }

    private let calls: [PGPoolRole: Counter]
    private let size: [PGPoolRole: Gauge]
    private let open: [PGPoolRole: Gauge]
    private let inUse: [PGPoolRole: Gauge]
    private let waiting: [PGPoolRole: Gauge]
    private let fallbacks: [FallbackReason: Counter]
    private let rejections: [PGPoolRole: Counter]

    public init(registry: PrometheusCollectorRegistry = GatewayMetrics.shared.registry, roles: [PGPoolRole]) {
        func gauges(_ name: String, _ help: String) -> [PGPoolRole: Gauge] {
            Dictionary(uniqueKeysWithValues: roles.map {
                ($0, registry.makeGauge(name: name, labels: [("pool", $0.rawValue)], help: help))
            })
        }
        calls = Dictionary(uniqueKeysWithValues: roles.map {
            ($0, registry.makeCounter(name: "gateway_db_pool_calls_total", labels: [("pool", $0.rawValue)],
                                      help: "Calls answered by each database pool"))
        })
        size = gauges("gateway_db_pool_size", "Configured connections of each database pool")
        open = gauges("gateway_db_pool_connections_open", "Open connections of each database pool")
        inUse = gauges("gateway_db_pool_connections_in_use", "Connections of each database pool executing requests now")
        waiting = gauges("gateway_db_pool_requests_waiting", "Requests waiting for a connection of each database pool")
        rejections = Dictionary(uniqueKeysWithValues: roles.map {
            ($0, registry.makeCounter(name: "gateway_requests_rejected_total", labels: [("pool", $0.rawValue)],
                                      help: "Requests answered 503 at once: every connection slot of the pool was busy and its waiting line full"))
        })
        fallbacks = Dictionary(uniqueKeysWithValues: FallbackReason.allCases.map {
            ($0, registry.makeCounter(name: "gateway_db_read_fallbacks_total", labels: [("reason", $0.rawValue)],
                                      help: "Reads of STABLE functions sent to the primary because the read pool could not serve them"))
        })
    }

    func called(_ role: PGPoolRole) { calls[role]?.increment() }

    /// A request refused by admission control (503 + Retry-After at once).
    func rejected(_ role: PGPoolRole) { rejections[role]?.increment() }

    func fellBack(_ reason: FallbackReason) { fallbacks[reason]?.increment() }

    /// Samples one pool's state, summed over the loops (on each scrape of /metrics).
    public func sample(_ stats: PGPoolStats) {
        let usage = stats.usage
        size[stats.role]?.set(Int64(stats.size))
        open[stats.role]?.set(Int64(usage.open))
        inUse[stats.role]?.set(Int64(usage.inUse))
        waiting[stats.role]?.set(Int64(usage.waiting))
    }
}
