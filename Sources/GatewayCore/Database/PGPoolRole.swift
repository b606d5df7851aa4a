/// Which pool serves a call: the primary (`db-uri`), or the read pool on a standby (`db-uri-read`).
public enum PGPoolRole: String, Sendable, CaseIterable {
    case primary, read

    /// Read scaling's rule, decided without I/O. A call may run on a standby when PostgREST already
    /// runs it READ ONLY and it cannot mean to write: GET/HEAD of a STABLE or IMMUTABLE function.
    /// POST (even of a STABLE function: the caller chose the write path) and every VOLATILE
    /// function stay on the primary, and so does everything when there is no read pool.
    public static func forCall(method: String, volatility: Routine.Volatility?, hasReadPool: Bool) -> PGPoolRole {
        guard hasReadPool, method == "GET" || method == "HEAD" else { return .primary }
        switch volatility {
        case .stable, .immutable: return .read
        case .volatile, nil: return .primary
        }
    }
}
