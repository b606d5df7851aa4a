/// How long a connection that must always come back waits before its next attempt: 0.5 s, doubling
/// while attempts fail, capped at 1 s (a restarted or promoted database is in use again within about
/// a second), and from the start again once an attempt connects. One schedule for the pool's
/// connections (`PGPipeline`) and the gateway's own listeners (`PGListener`, `EventListener`).
struct Backoff {
    static let first: UInt64 = 500_000_000
    static let ceiling: UInt64 = 1_000_000_000

    /// Nanoseconds to wait before the next attempt.
    private(set) var delay = Backoff.first

    /// An attempt connected: the next wait is the first one again.
    mutating func succeeded() { delay = Self.first }

    /// An attempt failed (after waiting `delay`): the next wait doubles, up to the ceiling.
    mutating func failed() { delay = min(delay * 2, Self.ceiling) }
}
