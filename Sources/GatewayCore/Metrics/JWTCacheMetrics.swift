import Prometheus

/// PostgREST 14's JWT cache metrics, under its names (`pgrst_jwt_cache_*`, observability.rst), so
/// that dashboards made for PostgREST read them: lookups, hits and evictions.
public struct JWTCacheMetrics: Sendable {
    private let requests: Counter
    private let hits: Counter
    private let evictions: Counter

    public init(registry: PrometheusCollectorRegistry = GatewayMetrics.shared.registry) {
        requests = registry.makeCounter(name: "pgrst_jwt_cache_requests_total", help: "The total number of JWT cache lookups")
        hits = registry.makeCounter(name: "pgrst_jwt_cache_hits_total", help: "The total number of JWT cache hits")
        evictions = registry.makeCounter(name: "pgrst_jwt_cache_evictions_total", help: "The total number of JWT cache evictions")
    }

    func lookedUp(hit: Bool) {
        requests.increment()
        if hit { hits.increment() }
    }

    func evicted() { evictions.increment() }
}
