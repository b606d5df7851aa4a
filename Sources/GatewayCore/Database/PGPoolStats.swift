import Synchronization

/// One pool role's figures summed over every loop (relaxed atomics, written on transitions only):
/// what `/metrics` and `/ready` read, and what the first/last-connection log lines are decided on.
public final class PGPoolStats: Sendable {
    public let role: PGPoolRole
    /// Connections configured, over all loops.
    public let size: Int
    /// Connections open and usable.
    let open = Atomic<Int>(0)
    /// Connections with at least one request in flight.
    let busy = Atomic<Int>(0)
    /// Requests waiting for a slot.
    let waiting = Atomic<Int>(0)
    private let lastError = Mutex<String>("no connection to the database yet")

    public init(role: PGPoolRole, size: Int) {
        self.role = role
        self.size = size
    }

    public var isConnected: Bool { open.load(ordering: .relaxed) > 0 }
    public var usage: (open: Int, inUse: Int, waiting: Int) {
        (open.load(ordering: .relaxed), busy.load(ordering: .relaxed), waiting.load(ordering: .relaxed))
    }

    var lastErrorMessage: String { lastError.withLock { $0 } }
    func noteError(_ message: String) { lastError.withLock { $0 = message } }

    /// Prefix of log lines: empty for the primary, `read pool: ` otherwise.
    var logPrefix: String { role == .primary ? "" : "\(role.rawValue) pool: " }
}
