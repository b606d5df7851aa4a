/// How each loop's share of a pool is sized and how long a request may wait for it.
public struct PGPoolSettings: Sendable {
    /// The authenticator's libpq URI, with the gateway's connection defaults added.
    public var conninfo: String
    /// Connections this loop opens.
    public var connections: Int
    /// Requests in flight on one connection at most (pipelined; each its own transaction).
    public var depth: Int
    /// Requests waiting for a free slot at most; past it the gateway answers 503 at once.
    public var maxWaiting: Int
    /// Seconds a request may wait for a slot (`db-pool-acquisition-timeout`), then 504 PGRST003.
    public var acquisitionTimeout: Int
    /// Admission by time (`db-pool-max-wait-ms`): while the oldest waiting request has waited
    /// longer than this, new ones get 503 at once (the line is not draining). 0: off.
    public var maxWaitNanoseconds: UInt64

    public init(conninfo: String, connections: Int, depth: Int, maxWaiting: Int, acquisitionTimeout: Int,
                maxWaitMilliseconds: Int = 0, applicationName: String = "gateway") {
        self.maxWaitNanoseconds = UInt64(max(0, maxWaitMilliseconds)) * 1_000_000
        self.conninfo = gatewayConnInfo(conninfo, applicationName: applicationName)
        self.connections = max(1, connections)
        self.depth = max(1, depth)
        self.maxWaiting = max(0, maxWaiting)
        self.acquisitionTimeout = max(1, acquisitionTimeout)
    }
}
