/// Read scaling on one loop: the loop's share of the primary pool (`db-uri`) and of an optional read
/// pool on a standby (`db-uri-read`). Calls `PGPoolRole.forCall` sends to the read pool run there
/// while this loop has an open connection to it; otherwise, or when its connection breaks during the
/// call or the standby cancels the query (recovery conflict), they run on the primary instead of
/// failing: such calls are READ ONLY, so running them again there is safe. Runs on the loop's thread.
public final class PGPoolRouter {
    let primary: PGPool
    let read: PGPool?
    let metrics: PGPoolMetrics
    /// True while reads are being sent to the primary (for one log line per change).
    private var degraded = false

    init(primary: PGPool, read: PGPool?, metrics: PGPoolMetrics) {
        self.primary = primary
        self.read = read
        self.metrics = metrics
    }

    var pools: [PGPool] { read.map { [primary, $0] } ?? [primary] }

    /// Samples this router's pools into the per-pool metrics (their figures are summed over all loops).
    func sampleMetrics() {
        for pool in pools { metrics.sample(pool.stats) }
    }

    /// The pool a planned call is meant for (`plan.routine` is nil only for direct responses).
    public func role(for plan: CallPlan, method: String) -> PGPoolRole {
        PGPoolRole.forCall(method: method, volatility: plan.routine?.volatility, hasReadPool: read != nil)
    }

    /// Sends the call to the pool for `role`; `completion` gets the rows of statement `resultIndex`
    /// (nil: the last) or the first error, and the pool that actually answered. Throws what the
    /// pools' `submit` throw; refusals are counted. With `rowStream` the rows go there as they come
    /// (`PGPool.submit`); a read that fails after some were delivered is not run again.
    func submit(_ statements: [Statement], resultIndex: Int? = nil, rowStream: PGRowStream? = nil, role: PGPoolRole,
                now: UInt64, completion: @escaping (Result<[[String?]], any Error>, PGPoolRole) -> Void) throws {
        do {
            try route(statements, resultIndex: resultIndex, rowStream: rowStream, role: role, now: now, completion: completion)
        } catch APIError.overloaded(let waiting) {
            metrics.rejected(role == .read && read?.isConnected == true ? .read : .primary)
            throw APIError.overloaded(waiting: waiting)
        }
    }

    private func route(_ statements: [Statement], resultIndex: Int?, rowStream: PGRowStream?, role: PGPoolRole, now: UInt64,
                       completion: @escaping (Result<[[String?]], any Error>, PGPoolRole) -> Void) throws {
        if role == .read, let read {
            if read.isConnected {
                do {
                    try read.submit(statements, resultIndex: resultIndex, rowStream: rowStream, now: now) { [self] result in
                        guard case .failure(let error) = result, Self.primaryMayAnswer(error), (rowStream?.rows ?? 0) == 0 else {
                            metrics.called(.read)
                            return completion(result, .read)
                        }
                        metrics.fellBack(.retried)
                        Observation.log(.warn, "read pool: \(Self.summary(error)); running the read on the primary")
                        onPrimary(statements, resultIndex: resultIndex, rowStream: rowStream, now: monotonicNanoseconds(), completion)
                    }
                    noteReadPool(available: true)
                    return
                } catch APIError.shuttingDown {
                    throw APIError.shuttingDown
                } catch APIError.overloaded(let waiting) {
                    throw APIError.overloaded(waiting: waiting)
                } catch {
                    // no open connection after all: the primary answers
                }
            }
            noteReadPool(available: false)
            metrics.fellBack(.unavailable)
        }
        try submitToPrimary(statements, resultIndex: resultIndex, rowStream: rowStream, now: now, completion)
    }

    private func submitToPrimary(_ statements: [Statement], resultIndex: Int?, rowStream: PGRowStream?, now: UInt64,
                                 _ completion: @escaping (Result<[[String?]], any Error>, PGPoolRole) -> Void) throws {
        try primary.submit(statements, resultIndex: resultIndex, rowStream: rowStream, now: now) { [metrics] result in
            metrics.called(.primary)
            completion(result, .primary)
        }
    }

    private func onPrimary(_ statements: [Statement], resultIndex: Int?, rowStream: PGRowStream?, now: UInt64,
                           _ completion: @escaping (Result<[[String?]], any Error>, PGPoolRole) -> Void) {
        do {
            try submitToPrimary(statements, resultIndex: resultIndex, rowStream: rowStream, now: now, completion)
        } catch {
            completion(.failure(error), .primary)
        }
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

    /// Logs the changes between "reads on the standby" and "reads on the primary", once each per loop.
    private func noteReadPool(available: Bool) {
        guard degraded == available else { return }
        degraded = !available
        if available {
            Observation.log(.info, "read pool connected: GET calls of STABLE functions are served by the standby again")
        } else {
            Observation.log(.error, "read pool unavailable (\(read?.stats.lastErrorMessage ?? "")): "
                + "GET calls of STABLE functions are served by the primary until it reconnects")
        }
    }
}
