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

    public init(conninfo: String, connections: Int, depth: Int, maxWaiting: Int, acquisitionTimeout: Int,
                applicationName: String = "gateway") {
        self.conninfo = gatewayConnInfo(conninfo, applicationName: applicationName)
        self.connections = max(1, connections)
        self.depth = max(1, depth)
        self.maxWaiting = max(0, maxWaiting)
        self.acquisitionTimeout = max(1, acquisitionTimeout)
    }
}
