/// Deletes expired `Idempotency-Key` answers, run by the gateway's listener on its own connection
/// (no client needed): every `interval` (the TTL, at most a minute), batches of `batch` rows until one
/// comes back short. The SQL skips rows another transaction holds, so it never waits for a write;
/// several gateways doing it at once only share the work.
struct IdempotencyExpiry: Sendable {
    /// Nanoseconds between runs.
    let interval: UInt64
    static let batch = 500
    /// Batches per run at most, so that the listener is back to its notifications soon.
    static let maxBatches = 100

    init(ttlSeconds: Int) {
        interval = UInt64(min(60, max(1, ttlSeconds))) * 1_000_000_000
    }

    /// One run; the number of answers deleted. A failure is logged (the next run tries again).
    @discardableResult
    func run(on connection: PGConnection) -> Int {
        var deleted = 0
        for _ in 0..<Self.maxBatches {
            do {
                let count = try connection.query(IdempotencySQL.expiry, [String(Self.batch)]).first?.first?.flatMap { Int($0) } ?? 0
                deleted += count
                if count < Self.batch { break }
            } catch {
                Observation.log(.warn, "Idempotency-Key expiry failed: \(error)")
                break
            }
        }
        if deleted > 0 { Observation.log(.info, "Idempotency-Key expiry deleted \(deleted) answers") }
        return deleted
    }
}
