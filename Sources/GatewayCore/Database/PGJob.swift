/// One request's work for the pool: its statements (run in order in one implicit transaction that
/// ends at its own pipeline sync) and where the rows of the last statement go.
struct PGJob: Sendable {
    let statements: [Statement]
    let readOnly: Bool
    /// Monotonic nanoseconds after which a job still waiting in the queue fails with PGRST003.
    let deadline: UInt64
    /// Called exactly once, on a pool thread: rows of the last statement, or the first error.
    let completion: @Sendable (Result<[[String?]], any Error>) -> Void
}
