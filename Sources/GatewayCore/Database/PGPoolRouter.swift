import Dispatch
import Prometheus
import Synchronization

/// Read scaling: the primary pool (`db-uri`) and an optional read pool on a standby (`db-uri-read`).
/// Calls `PGPoolRole.forCall` sends to the read pool run there while it has an open connection;
/// otherwise, or when its connection breaks during the call or the standby cancels the query
/// (recovery conflict), they run on the primary instead of failing: such calls are READ ONLY, so
/// running them again there is safe. The read pool's threads reconnect by themselves (as the
/// primary's do); the first fallback and the recovery are logged once each.
public final class PGPoolRouter: Sendable {
    public let primary: PGPool
    public let read: PGPool?
    let metrics: PGPoolMetrics
    /// True while reads are being sent to the primary (for one log line per change).
    private let degraded = Atomic<Bool>(false)

    public init(primary: PGPool, read: PGPool? = nil,
                registry: PrometheusCollectorRegistry = GatewayMetrics.shared.registry) {
        self.primary = primary
        self.read = read
        metrics = PGPoolMetrics(registry: registry, roles: read == nil ? [.primary] : [.primary, .read])
    }

    /// The pool a planned call is meant for (`plan.routine` is nil only for direct responses).
    public func role(for plan: CallPlan, method: String) -> PGPoolRole {
        PGPoolRole.forCall(method: method, volatility: plan.routine?.volatility, hasReadPool: read != nil)
    }

    public func start() {
        primary.start()
        read?.start()
    }

    public func shutdown() {
        primary.shutdown()
        read?.shutdown()
    }

    /// Samples both pools into the per-pool metrics (on each scrape).
    public func sampleMetrics() {
        metrics.sample(.primary, primary)
        if let read { metrics.sample(.read, read) }
    }

    /// Queues the call on the pool for `role`; `completion` gets the rows (or first error) and the
    /// pool that actually answered. Throws only what the primary's `submit` throws.
    public func submit(_ statements: [Statement], readOnly: Bool, role: PGPoolRole,
                       completion: @escaping @Sendable (Result<[[String?]], any Error>, PGPoolRole) -> Void) throws {
        if role == .read, let read {
            if read.isConnected {
                let primary = primary, metrics = metrics
                do {
                    try read.submit(statements, readOnly: readOnly) { result in
                        guard case .failure(let error) = result, Self.primaryMayAnswer(error) else {
                            metrics.called(.read)
                            return completion(result, .read)
                        }
                        metrics.fellBack(.retried)
                        Observation.log(.warn, "read pool: \(Self.summary(error)); running the read on the primary")
                        metrics.called(.primary)
                        do { try primary.submit(statements, readOnly: readOnly) { completion($0, .primary) } }
                        catch { completion(.failure(error), .primary) }
                    }
                    noteReadPool(available: true)
                    return
                } catch APIError.shuttingDown {
                    throw APIError.shuttingDown
                } catch {
                    // lost its last connection between the check and the push: the primary answers
                }
            }
            noteReadPool(available: false)
            metrics.fellBack(.unavailable)
        }
        let metrics = metrics
        try primary.submit(statements, readOnly: readOnly) { result in
            metrics.called(.primary)
            completion(result, .primary)
        }
    }

    /// Blocking form of `submit` for tools and tests (never called on a server thread).
    public func run(_ statements: [Statement], readOnly: Bool, role: PGPoolRole) throws -> (rows: [[String?]], servedBy: PGPoolRole) {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<(Result<[[String?]], any Error>, PGPoolRole)?>(nil)
        try submit(statements, readOnly: readOnly, role: role) { result, servedBy in
            outcome.withLock { $0 = (result, servedBy) }
            done.signal()
        }
        done.wait()
        let (result, servedBy) = outcome.withLock { $0! }
        return (try result.get(), servedBy)
    }

    /// Failures of the read pool after which the primary gives the real answer: the connection went
    /// away (08xxx, shutdown 57P01-57P03, `databaseUnavailable`), the standby cancelled the query to
    /// replay WAL (40001 recovery conflict, 57P04), or it refused something only a standby refuses
    /// (25006 "cannot execute NOTIFY during recovery"; where the READ ONLY transaction itself is the
    /// reason, the primary refuses too and answers 405, as without a read pool).
    static func primaryMayAnswer(_ error: any Error) -> Bool {
        if case APIError.databaseUnavailable = error { return true }
        guard let pg = error as? PGError else { return false }
        return pg.sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03", "57P04", "40001", "25006"].contains(pg.sqlState)
    }

    private static func summary(_ error: any Error) -> String {
        if let pg = error as? PGError { return "\(pg.sqlState) \(pg.message)" }
        if case APIError.databaseUnavailable(let message) = error { return "database unavailable: \(message)" }
        return "\(error)"
    }

    /// Logs the changes between "reads on the standby" and "reads on the primary", once each.
    private func noteReadPool(available: Bool) {
        guard degraded.exchange(!available, ordering: .relaxed) == available else { return }
        if available {
            Observation.log(.info, "read pool connected: GET calls of STABLE functions are served by the standby again")
        } else {
            Observation.log(.error, "read pool unavailable (\(read?.lastErrorMessage ?? "")): "
                + "GET calls of STABLE functions are served by the primary until it reconnects")
        }
    }
}
